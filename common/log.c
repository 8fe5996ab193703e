/* SPDX-License-Identifier: Apache-2.0 */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static struct {
	atomic_int min; /* changes live on SIGHUP (log_set_level) */
	int fd;
} log_cfg = {LOG_LEVEL_INFO, STDERR_FILENO};

static const char *const level_names[LOG_LEVEL_MAX] = {"debug", "info", "warn", "error"};

void log_setup(enum log_level min, int fd)
{
	atomic_store(&log_cfg.min, (int)min);
	log_cfg.fd = fd;
}

void log_set_level(enum log_level min)
{
	atomic_store_explicit(&log_cfg.min, (int)min, memory_order_relaxed);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load_explicit(&log_cfg.min, memory_order_relaxed);
}

int log_level_parse(const char *s, enum log_level *ret_level)
{
	for (int i = 0; i < LOG_LEVEL_MAX; i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*ret_level = i;
			return 0;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*ret_level = LOG_LEVEL_WARN;
		return 0;
	}
	return -EINVAL;
}

const char *log_level_name(enum log_level l)
{
	return l < LOG_LEVEL_MAX ? level_names[l] : "?";
}

bool log_enabled(enum log_level l)
{
	return (int)l >= atomic_load_explicit(&log_cfg.min, memory_order_relaxed);
}

void log_emit(enum log_level l, const char *component, const char *fmt, ...)
{
	if (!log_enabled(l))
		return;
	int saved = errno;
	char buf[4096];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	n += snprintf(buf + n, sizeof(buf) - n, ".%06ldZ %s %s ", ts.tv_nsec / 1000,
		      log_level_name(l), component);
	va_list ap;
	va_start(ap, fmt);
	int r = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	if (r < 0)
		r = 0;
	n += (size_t)r;
	if (n >= sizeof(buf) - 1)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	(void)!write(log_cfg.fd, buf, n);
	errno = saved;
}
