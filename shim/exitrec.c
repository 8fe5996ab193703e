/* SPDX-License-Identifier: Apache-2.0 */
/* exitrec.c - the exit record berth-shim leaves when its container exits.
 * Format (version 1), one "key=value" per line:
 *   version=1 pid=<n> exit_code=<n> signal=<n> finished_ns=<n> oom_killed=<0|1>
 * Compatibility: readers ignore unknown keys, so version 1 may gain keys; the
 * version changes only when a key's meaning changes, and readers refuse a
 * version they don't know. */
#include "shim/shim.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"

#define EXIT_RECORD_VERSION 1
#define EXIT_RECORD_MAX	    4096

size_t shim_exit_encode(const struct shim_exit *e, char *buf, size_t size)
{
	int n = snprintf(buf, size,
			 "version=%d\npid=%d\nexit_code=%d\nsignal=%d\nfinished_ns=%" PRId64
			 "\noom_killed=%d\n",
			 EXIT_RECORD_VERSION, (int)e->pid, e->exit_code, e->signal, e->finished_ns,
			 e->oom_killed ? 1 : 0);
	if (n < 0)
		return 0;
	return (size_t)n < size ? (size_t)n : size - 1;
}

static int parse_i64(const char *s, size_t len, int64_t *ret)
{
	char tmp[32];
	if (len == 0 || len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	char *end;
	errno = 0;
	long long v = strtoll(tmp, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

int shim_exit_decode(const char *text, struct shim_exit *ret, struct berr **err)
{
	struct shim_exit e = {0};
	int64_t version = -1;
	unsigned seen = 0;
	static const char *const keys[] = {"version", "pid",	     "exit_code",
					   "signal",  "finished_ns", "oom_killed"};

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		if (len > 0 && !eq)
			return berr_set(err, EPROTO, "exit record: line without '='");
		for (unsigned i = 0; eq && i < sizeof(keys) / sizeof(keys[0]); i++) {
			if ((size_t)(eq - p) != strlen(keys[i]) ||
			    memcmp(p, keys[i], strlen(keys[i])))
				continue;
			int64_t v;
			if (parse_i64(eq + 1, len - (size_t)(eq - p) - 1, &v) < 0)
				return berr_set(err, EPROTO, "exit record: bad value of '%s'",
						keys[i]);
			switch (i) {
			case 0:
				version = v;
				break;
			case 1:
				e.pid = (pid_t)v;
				break;
			case 2:
				e.exit_code = (int)v;
				break;
			case 3:
				e.signal = (int)v;
				break;
			case 4:
				e.finished_ns = v;
				break;
			case 5:
				e.oom_killed = v != 0;
				break;
			}
			seen |= 1u << i;
		}
		p += len + (nl ? 1 : 0);
	}
	if (version != EXIT_RECORD_VERSION)
		return berr_set(err, EPROTO, "exit record: unsupported version %" PRId64, version);
	if ((seen & 0x17) != 0x17) /* version, pid, exit_code, finished_ns */
		return berr_set(err, EPROTO, "exit record: missing keys");
	*ret = e;
	return 0;
}

int shim_read_exit(const char *path, struct shim_exit *ret, struct berr **err)
{
	_cleanup_free_ char *text = NULL;
	int r = fileio_read_all(path, EXIT_RECORD_MAX, &text, NULL, err);
	if (r < 0)
		return r;
	r = shim_exit_decode(text, ret, err);
	if (r < 0)
		return berr_wrap(err, "'%s'", path);
	return 0;
}
