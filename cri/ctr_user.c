/* SPDX-License-Identifier: Apache-2.0 */
/* ctr_user.c - ContainerStatus.user: the uid, gid and supplemental groups a
 * container's process has, read from /proc/<pid>/status (not taken from the
 * request: an image's /etc/group and the SupplementalGroupsPolicy decide them)
 * and shown as the container sees them, through the process's own uid_map and
 * gid_map (a pod in a user namespace sees 0 where the host sees the mapped id). */
#include "cri/pod.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"

#define PROC_STATUS_MAX (64 << 10)
#define ID_MAP_MAX	(16 << 10)

/* One id through a uid_map/gid_map as the parent namespace reads it
 * ("inside outside count" lines): the inside id of host id, false if unmapped. */
static bool map_up(const char *map, uint64_t host, uint64_t *ret)
{
	for (const char *l = map; l && *l;) {
		unsigned long long in, out, n;
		if (sscanf(l, "%llu %llu %llu", &in, &out, &n) == 3 && host >= out &&
		    host - out < n) {
			*ret = in + (host - out);
			return true;
		}
		l = strchr(l, '\n');
		if (l)
			l++;
	}
	return false;
}

/* The value list after "Key:\t" in a status file; NULL if absent. */
static const char *status_field(const char *status, const char *key)
{
	size_t k = strlen(key);
	for (const char *l = status; l && *l;) {
		if (!strncmp(l, key, k) && l[k] == ':')
			return l + k + 1;
		l = strchr(l, '\n');
		if (l)
			l++;
	}
	return NULL;
}

int cri_proc_user_parse(const char *status, const char *uid_map, const char *gid_map,
			struct cri_proc_user *ret, struct berr **err)
{
	const char *u = status_field(status, "Uid"), *g = status_field(status, "Gid");
	const char *gs = status_field(status, "Groups");
	unsigned long long ru, eu, rg, eg;
	/* real, effective, saved, fs: the effective ids are the ones the process acts as */
	if (!u || !g || sscanf(u, "%llu %llu", &ru, &eu) != 2 ||
	    sscanf(g, "%llu %llu", &rg, &eg) != 2)
		return berr_set(err, EPROTO, "no Uid or Gid line in the process status");
	struct cri_proc_user p = {0};
	uint64_t id;
	if (!map_up(uid_map, eu, &id))
		return berr_set(err, EPROTO, "uid %llu is not in the process's uid_map", eu);
	p.uid = id;
	if (!map_up(gid_map, eg, &id))
		return berr_set(err, EPROTO, "gid %llu is not in the process's gid_map", eg);
	p.gid = id;
	for (const char *s = gs; s && *s && *s != '\n';) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(s, &end, 10);
		if (end == s) {
			s++;
			continue;
		}
		/* an unmapped group (the host's, kept by setgroups) shows as nothing in
		 * the container: leave it out, as `id -G` inside shows 65534 for it */
		if (errno == 0 && map_up(gid_map, v, &id)) {
			p.groups = xreallocarray(p.groups, p.n_groups + 1, sizeof(*p.groups));
			p.groups[p.n_groups++] = (int64_t)id;
		}
		s = end;
	}
	*ret = p;
	return 0;
}

int cri_proc_user_read(pid_t pid, struct cri_proc_user *ret, struct berr **err)
{
	_cleanup_free_ char *sp = xasprintf("/proc/%d/status", (int)pid);
	_cleanup_free_ char *up = xasprintf("/proc/%d/uid_map", (int)pid);
	_cleanup_free_ char *gp = xasprintf("/proc/%d/gid_map", (int)pid);
	_cleanup_free_ char *status = NULL, *um = NULL, *gm = NULL;
	int r = fileio_read_all(sp, PROC_STATUS_MAX, &status, NULL, err);
	if (r == 0)
		r = fileio_read_all(up, ID_MAP_MAX, &um, NULL, err);
	if (r == 0)
		r = fileio_read_all(gp, ID_MAP_MAX, &gm, NULL, err);
	if (r < 0)
		return r;
	return cri_proc_user_parse(status, um, gm, ret, err);
}

void cri_proc_user_done(struct cri_proc_user *u)
{
	free(u->groups);
	*u = (struct cri_proc_user){0};
}
