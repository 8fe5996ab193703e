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

/* ---- limits ---- */

/* runc's ConvertCPUSharesToCgroupV2Value: [2, 262144] onto [1, 10000]. */
static uint64_t shares_to_weight(uint64_t shares)
{
	if (shares < 2)
		shares = 2;
	if (shares > 262144)
		shares = 262144;
	return 1 + ((shares - 2) * 9999) / 262142;
}

size_t netns_cgroup_limit_files(enum netns_cg_mode mode, const struct netns_cg_limits *l,
				struct netns_cg_file ret[NETNS_CG_FILES_MAX])
{
	size_t n = 0;
#define PUT(file, ...)                                                                             \
	do {                                                                                       \
		ret[n].name = file;                                                                \
		snprintf(ret[n].value, sizeof(ret[n].value), __VA_ARGS__);                         \
		n++;                                                                               \
	} while (0)
	if (mode == NETNS_CG_V2) {
		if (l->memory_limit > 0)
			PUT("memory.max", "%lld", (long long)l->memory_limit);
		if (l->cpu_shares > 0)
			PUT("cpu.weight", "%llu",
			    (unsigned long long)shares_to_weight(l->cpu_shares));
		/* cpu.max takes the quota and the period together */
		if (l->cpu_quota > 0)
			PUT("cpu.max", "%lld %llu", (long long)l->cpu_quota,
			    (unsigned long long)(l->cpu_period ? l->cpu_period : 100000));
		else if (l->cpu_quota < 0)
			PUT("cpu.max", "max %llu",
			    (unsigned long long)(l->cpu_period ? l->cpu_period : 100000));
		return n;
	}
	if (l->memory_limit > 0)
		PUT("memory.limit_in_bytes", "%lld", (long long)l->memory_limit);
	if (l->cpu_shares > 0)
		PUT("cpu.shares", "%llu", (unsigned long long)l->cpu_shares);
	if (l->cpu_period > 0)
		PUT("cpu.cfs_period_us", "%llu", (unsigned long long)l->cpu_period);
	if (l->cpu_quota != 0)
		PUT("cpu.cfs_quota_us", "%lld", (long long)(l->cpu_quota < 0 ? -1 : l->cpu_quota));
#undef PUT
	return n;
}

void netns_cg_saved_done(struct netns_cg_saved *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->path[i]);
		free(s->old[i]);
	}
	*s = (struct netns_cg_saved){0};
}

static int write_text(const char *path, const char *text)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return fileio_write_all(fd, text, strlen(text));
}

void netns_cgroup_restore(const struct netns_cg_saved *s)
{
	for (size_t i = s->n; i-- > 0;)
		(void)write_text(s->path[i], s->old[i]);
}

/* The file name under path in the first hierarchy that has it; NULL if none. */
static char *file_in(const struct hierarchies *h, const char *path, const char *name)
{
	for (size_t i = 0; i < h->n; i++) {
		char *p = xasprintf("%s/%s/%s", h->dir[i], path, name);
		if (access(p, F_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

int netns_cgroup_set_limits(const char *root, const char *path, const struct netns_cg_limits *l,
			    struct netns_cg_saved *ret_saved, struct berr **err)
{
	if (!l->cpu_shares && !l->cpu_quota && !l->cpu_period && !l->memory_limit) {
		if (ret_saved)
			*ret_saved = (struct netns_cg_saved){0};
		return 0; /* nothing to write: no need to look at the hierarchies */
	}
	struct hierarchies h;
	int r = hierarchies_for(root, path, &h, err);
	if (r < 0)
		return r;
	while (*path == '/')
		path++;
	struct netns_cg_file files[NETNS_CG_FILES_MAX];
	size_t n = netns_cgroup_limit_files(h.mode, l, files);
	struct netns_cg_saved s = {0};
	for (size_t i = 0; i < n && r == 0; i++) {
		char *file = file_in(&h, path, files[i].name);
		if (!file) /* that controller is not mounted (v1) or not enabled here (v2) */
			continue;
		char *old = NULL;
		r = fileio_read_all(file, 4096, &old, NULL, err);
		if (r == 0) {
			old[strcspn(old, "\n")] = '\0';
			int w = write_text(file, files[i].value);
			if (w < 0)
				r = berr_set_errno(err, -w, "write '%s' to '%s'", files[i].value,
						   file);
		}
		if (r < 0) {
			free(file);
			free(old);
			break;
		}
		s.path[s.n] = file;
		s.old[s.n++] = old;
	}
	hierarchies_done(&h);
	if (r < 0)
		netns_cgroup_restore(&s);
	if (r < 0 || !ret_saved)
		netns_cg_saved_done(&s);
	else
		*ret_saved = s;
	return r;
}
