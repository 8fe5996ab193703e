/* SPDX-License-Identifier: Apache-2.0 */
/* oom.c - did the kernel OOM-kill something in the container's memory cgroup?
 * Both cgroup versions keep a cumulative "oom_kill" counter (v1
 * memory.oom_control since Linux 4.13, v2 memory.events). The shim reads it
 * once the container runs and again when init has exited, before berthd runs
 * `runtime delete` (which removes the cgroup), so no eventfd is needed. The
 * hierarchies are assumed mounted at /sys/fs/cgroup (v1: .../memory). */
#include "shim/shim-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"

static bool has_controller(const char *list, size_t len, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list, *end = list + len; p < end;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t l = comma ? (size_t)(comma - p) : (size_t)(end - p);
		if (l == n && memcmp(p, name, n) == 0)
			return true;
		p += l + 1;
	}
	return false;
}

int shim_oom_path(pid_t pid, char **ret_path, struct berr **err)
{
	char path[64];
	_cleanup_free_ char *text = NULL;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	int r = fileio_read_all(path, 65536, &text, NULL, err);
	if (r < 0)
		return r;

	char *v2 = NULL;
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		if (has_controller(c1 + 1, (size_t)(c2 - c1 - 1), "memory")) {
			*ret_path = xasprintf("/sys/fs/cgroup/memory%s/memory.oom_control", c2 + 1);
			return 0;
		}
		if (c2 == c1 + 1 && strncmp(line, "0:", 2) == 0)
			v2 = c2 + 1;
	}
	if (v2 && access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0) {
		*ret_path = xasprintf("/sys/fs/cgroup%s/memory.events", v2);
		return 0;
	}
	return berr_set(err, ENOENT, "no memory cgroup for pid %d", (int)pid);
}

int shim_oom_count(const char *path, uint64_t *ret_count)
{
	_cleanup_free_ char *text = NULL;
	int r = fileio_read_all(path, 65536, &text, NULL, NULL);
	if (r < 0)
		return r;
	for (char *p = text; p && *p;) {
		if (strncmp(p, "oom_kill ", 9) == 0) {
			*ret_count = strtoull(p + 9, NULL, 10);
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -ENOENT;
}
