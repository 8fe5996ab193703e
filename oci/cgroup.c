/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup.c - cgroup mode detection, cgroupsPath, and OOM kill counters. */
#include "oci/oci.h"

#include <errno.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "oci/oci-internal.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

int oci_cgroup_mode_detect(const char *cgroup_root, enum oci_cgroup_mode *ret, struct berr **err)
{
	const char *root = cgroup_root ? cgroup_root : CGROUP_ROOT;
	struct statfs st;
	if (statfs(root, &st) < 0)
		return berr_set_errno(err, errno, "statfs '%s'", root);
	if (st.f_type == CGROUP2_SUPER_MAGIC) {
		*ret = OCI_CGROUP_MODE_V2;
		return 0;
	}
	_cleanup_free_ char *unified = xasprintf("%s/unified", root);
	if (statfs(unified, &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC)
		*ret = OCI_CGROUP_MODE_HYBRID;
	else
		*ret = OCI_CGROUP_MODE_V1;
	return 0;
}

static bool is_slice(const char *s)
{
	size_t n = strlen(s);
	return n > 6 && strcmp(s + n - 6, ".slice") == 0 && !strchr(s, '/');
}

int oci_cgroups_path(enum oci_cgroup_driver d, const char *parent, const char *id, char **ret,
		     struct berr **err)
{
	if (!id || !id[0] || strchr(id, '/') || strchr(id, ':'))
		return berr_set(err, EINVAL, "invalid container id '%s'", id ? id : "");
	if (d == OCI_CGROUP_DRIVER_SYSTEMD) {
		const char *slice = parent && parent[0] ? parent : "system.slice";
		/* kubelet passes the slice name; a path is reduced to its leaf. */
		const char *leaf = strrchr(slice, '/');
		if (leaf)
			slice = leaf + 1;
		if (!is_slice(slice))
			return berr_set(err, EINVAL, "cgroup parent '%s' is not a systemd slice",
					parent);
		*ret = xasprintf("%s:berth:%s", slice, id);
		return 0;
	}
	const char *p = parent && parent[0] ? parent : "/berth";
	if (p[0] != '/')
		return berr_set(err, EINVAL, "cgroup parent '%s' is not absolute", p);
	if (strstr(p, ".."))
		return berr_set(err, EINVAL, "cgroup parent '%s' contains '..'", p);
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		n--;
	*ret = n == 1 ? xasprintf("/%s", id) : xasprintf("%.*s/%s", (int)n, p, id);
	return 0;
}

/* "a-b-c.slice:prefix:name" -> "/a.slice/a-b.slice/a-b-c.slice/prefix-name.scope",
 * as systemd (and runc's systemd driver) lay slices out. */
static int systemd_expand(const char *cgpath, char **ret, struct berr **err)
{
	const char *c1 = strchr(cgpath, ':');
	const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c2)
		return berr_set(err, EINVAL, "cgroups path '%s' is not slice:prefix:name", cgpath);
	_cleanup_free_ char *slice = xstrndup(cgpath, (size_t)(c1 - cgpath));
	_cleanup_free_ char *out = xstrdup("");
	if (strcmp(slice, "-.slice") != 0) {
		size_t n = strlen(slice) - 6; /* without ".slice" */
		for (size_t i = 0; i <= n; i++) {
			if (i < n && slice[i] != '-')
				continue;
			char *o = xasprintf("%s/%.*s.slice", out, (int)i, slice);
			free(out);
			out = o;
		}
	}
	*ret = xasprintf("%s/%.*s-%s.scope", out, (int)(c2 - c1 - 1), c1 + 1, c2 + 1);
	return 0;
}

static int read_counter(const char *file, const char *key, uint64_t *ret, struct berr **err)
{
	_cleanup_free_ char *s = NULL;
	int r = fileio_read_all(file, 1 << 16, &s, NULL, err);
	if (r < 0)
		return r;
	size_t klen = strlen(key);
	for (char *line = s; line && *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
			*ret = strtoull(line + klen + 1, NULL, 10);
			return 0;
		}
	}
	/* Kernels before 4.13 have no oom_kill counter: no kill is visible. */
	*ret = 0;
	return 0;
}

int oci_cgroup_rel_path(enum oci_cgroup_driver d, const char *cgroups_path, char **ret,
			struct berr **err)
{
	_cleanup_free_ char *rel = NULL;
	if (d == OCI_CGROUP_DRIVER_SYSTEMD) {
		int r = systemd_expand(cgroups_path, &rel, err);
		if (r < 0)
			return r;
	} else {
		rel = xstrdup(cgroups_path);
	}
	if (strstr(rel, ".."))
		return berr_set(err, EINVAL, "cgroups path '%s' contains '..'", cgroups_path);
	*ret = TAKE_PTR(rel);
	return 0;
}

int oci_cgroup_oom_kills(const char *cgroup_root, enum oci_cgroup_mode mode,
			 enum oci_cgroup_driver d, const char *cgroups_path, uint64_t *ret,
			 struct berr **err)
{
	const char *root = cgroup_root ? cgroup_root : CGROUP_ROOT;
	_cleanup_free_ char *rel = NULL;
	int r = oci_cgroup_rel_path(d, cgroups_path, &rel, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *file = mode == OCI_CGROUP_MODE_V2
					? xasprintf("%s/%s/memory.events", root, rel)
					: xasprintf("%s/memory/%s/memory.oom_control", root, rel);
	return read_counter(file, "oom_kill", ret, err);
}
