/* SPDX-License-Identifier: Apache-2.0 */
/* The pod cgroup with the cgroupfs driver, on cgroup v1, hybrid and v2.
 * The mode is detected at run time from the filesystem types under the root:
 * a cgroup2 root is v2; otherwise every cgroup (v1) mount below it is a
 * hierarchy, and a cgroup2 mount among them (root/unified) makes it hybrid.
 * Each operation is applied to every hierarchy, as runc's cgroupfs manager
 * does, so the pod's processes are accounted in all of them. */
#include "netns/netns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"

#define CG_DEFAULT_ROOT	   "/sys/fs/cgroup"
#define CG_MAX_HIERARCHIES 32

struct hierarchies {
	char *dir[CG_MAX_HIERARCHIES];
	bool v1[CG_MAX_HIERARCHIES];
	size_t n;
	enum netns_cg_mode mode;
};

static void hierarchies_done(struct hierarchies *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->dir[i]);
	h->n = 0;
}

static int hierarchies_find(const char *root, struct hierarchies *h, struct berr **err)
{
	if (!root)
		root = CG_DEFAULT_ROOT;
	memset(h, 0, sizeof(*h));
	struct statfs fs;
	if (statfs(root, &fs) < 0)
		return berr_set_errno(err, errno, "statfs '%s'", root);
	if (fs.f_type == CGROUP2_SUPER_MAGIC) {
		h->dir[h->n++] = xstrdup(root);
		h->mode = NETNS_CG_V2;
		return 0;
	}
	DIR *d = opendir(root);
	if (!d)
		return berr_set_errno(err, errno, "open '%s'", root);
	bool has_v2 = false;
	struct dirent *de;
	/* Symlinks (cpu,cpuacct -> cpu) are skipped: the mount itself is listed. */
	while ((de = readdir(d)) && h->n < CG_MAX_HIERARCHIES) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		char *dir = xasprintf("%s/%s", root, de->d_name);
		if (statfs(dir, &fs) == 0 &&
		    (fs.f_type == CGROUP_SUPER_MAGIC || fs.f_type == CGROUP2_SUPER_MAGIC)) {
			h->v1[h->n] = fs.f_type == CGROUP_SUPER_MAGIC;
			has_v2 |= !h->v1[h->n];
			h->dir[h->n++] = dir;
		} else {
			free(dir);
		}
	}
	closedir(d);
	if (h->n == 0)
		return berr_set(err, ENOENT, "no cgroup hierarchy under '%s'", root);
	h->mode = has_v2 ? NETNS_CG_HYBRID : NETNS_CG_V1;
	return 0;
}

static int check_path(const char *path, struct berr **err)
{
	if (!path || !*path || strlen(path) > 1024)
		return berr_set(err, EINVAL, "cgroup path '%s' must have 1..1024 chars",
				path ? path : "");
	for (const char *p = path; (p = strstr(p, "..")); p += 2) {
		bool start = p == path || p[-1] == '/';
		bool end = p[2] == '\0' || p[2] == '/';
		if (start && end)
			return berr_set(err, EINVAL, "cgroup path '%s' contains '..'", path);
	}
	const char *rel = path;
	while (*rel == '/')
		rel++;
	if (!*rel)
		return berr_set(err, EINVAL, "cgroup path '%s' is the root", path);
	return 0;
}

int netns_cgroup_mode(const char *root, enum netns_cg_mode *ret, struct berr **err)
{
	struct hierarchies h;
	int r = hierarchies_find(root, &h, err);
	if (r < 0)
		return r;
	*ret = h.mode;
	hierarchies_done(&h);
	return 0;
}

static int copy_file(const char *from_dir, const char *to_dir, const char *name, struct berr **err)
{
	_cleanup_free_ char *from = xasprintf("%s/%s", from_dir, name);
	_cleanup_free_ char *to = xasprintf("%s/%s", to_dir, name);
	_cleanup_free_ char *cur = NULL;
	int r = fileio_read_all(to, 4096, &cur, NULL, err);
	if (r < 0)
		return r;
	if (strcmp(cur, "\n") != 0 && cur[0] != '\0')
		return 0;
	_cleanup_free_ char *val = NULL;
	r = fileio_read_all(from, 4096, &val, NULL, err);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = open(to, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return berr_set_errno(err, errno, "open '%s'", to);
	r = fileio_write_all(fd, val, strlen(val));
	if (r < 0)
		return berr_set_errno(err, -r, "write '%s'", to);
	return 0;
}

/* mkdir -p inside one hierarchy. A new v1 cpuset cgroup starts with empty
 * cpus and mems, and no task can join it, so each new level inherits them. */
static int create_in(const char *hier, bool cpuset, const char *path, struct berr **err)
{
	while (*path == '/')
		path++;
	_cleanup_free_ char *p = xasprintf("%s/%s", hier, path);
	size_t base = strlen(hier);
	for (char *s = p + base + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char saved = *s;
		*s = '\0';
		if (s > p + base + 1 && s[-1] != '/') {
			bool made = mkdir(p, 0755) == 0;
			if (!made && errno != EEXIST)
				return berr_set_errno(err, errno, "mkdir '%s'", p);
			if (made && cpuset) {
				_cleanup_free_ char *parent = xstrdup(p);
				*strrchr(parent, '/') = '\0';
				int r = copy_file(parent, p, "cpuset.cpus", err);
				if (r == 0)
					r = copy_file(parent, p, "cpuset.mems", err);
				if (r < 0)
					return r;
			}
		}
		*s = saved;
		if (saved == '\0')
			break;
	}
	return 0;
}

/* The hierarchies under root, once path is known to be a safe relative path. */
static int hierarchies_for(const char *root, const char *path, struct hierarchies *h,
			   struct berr **err)
{
	int r = check_path(path, err);
	return r < 0 ? r : hierarchies_find(root, h, err);
}

int netns_cgroup_create(const char *root, const char *path, struct berr **err)
{
	struct hierarchies h;
	int r = hierarchies_for(root, path, &h, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < h.n && r == 0; i++) {
		const char *name = strrchr(h.dir[i], '/') + 1;
		r = create_in(h.dir[i], h.v1[i] && strstr(name, "cpuset") != NULL, path, err);
	}
	if (r < 0)
		(void)netns_cgroup_remove(root, path, NULL);
	hierarchies_done(&h);
	return r;
}

int netns_cgroup_add_pid(const char *root, const char *path, pid_t pid, struct berr **err)
{
	struct hierarchies h;
	int r = hierarchies_for(root, path, &h, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *text = xasprintf("%d", (int)pid);
	for (size_t i = 0; i < h.n && r == 0; i++) {
		_cleanup_free_ char *procs = xasprintf("%s/%s/cgroup.procs", h.dir[i], path);
		_cleanup_close_ int fd = open(procs, O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			r = berr_set_errno(err, errno, "open '%s'", procs);
			break;
		}
		r = fileio_write_all(fd, text, strlen(text));
		if (r < 0)
			r = berr_set_errno(err, -r, "add pid %d to '%s'", (int)pid, procs);
	}
	hierarchies_done(&h);
	return r;
}

int netns_cgroup_remove(const char *root, const char *path, struct berr **err)
{
	struct hierarchies h;
	int r = hierarchies_for(root, path, &h, err);
	if (r < 0)
		return r;
	/* Every hierarchy is tried; the first failure is reported. */
	for (size_t i = 0; i < h.n; i++) {
		_cleanup_free_ char *dir = xasprintf("%s/%s", h.dir[i], path);
		if (rmdir(dir) < 0 && errno != ENOENT && r == 0)
			r = berr_set_errno(err, errno, "remove cgroup '%s'", dir);
	}
	hierarchies_done(&h);
	return r;
}
