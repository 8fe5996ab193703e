/* SPDX-License-Identifier: Apache-2.0 */
#include "common/ids.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/err.h"

int id_generate(char out[ID_LEN + 1], struct berr **err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[ID_LEN / 2];
	size_t got = 0;
	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return berr_set_errno(err, errno, "getrandom");
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[ID_LEN] = '\0';
	return 0;
}

static size_t hex_span(const char *s)
{
	return strspn(s, "0123456789abcdef");
}

bool id_is_valid(const char *s)
{
	return s && strlen(s) == ID_LEN && hex_span(s) == ID_LEN;
}

bool id_is_prefix(const char *s)
{
	if (!s)
		return false;
	size_t n = strlen(s);
	return n >= 1 && n <= ID_LEN && hex_span(s) == n;
}

int64_t time_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t time_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

char *time_format_rfc3339nano(int64_t ns, char *buf, int len)
{
	time_t sec = (time_t)(ns / 1000000000LL);
	long frac = (long)(ns % 1000000000LL);
	if (frac < 0) {
		frac += 1000000000L;
		sec--;
	}
	struct tm tm;
	gmtime_r(&sec, &tm);
	size_t n = strftime(buf, (size_t)len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, (size_t)len - n, ".%09ldZ", frac);
	return buf;
}
