/* SPDX-License-Identifier: Apache-2.0 */
/* du.c - disk usage of a tree (a container's writable layer) and the mount
 * point a path lives on. The tree may be written by a container while it is
 * walked, and its shape is the container's choice: the walk holds one
 * directory fd at a time (a stack of relative paths, not of open fds), so a
 * deep tree cannot exhaust berthd's fds or stack. */
#include "common/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"

/* Inode numbers of multiply linked files seen so far (open addressing), so a
 * hard-linked file counts once, as containerd's fs.DiskUsage does. */
struct ino_set {
	uint64_t *v; /* 0: empty slot; inode 0 does not occur */
	size_t cap, n;
};

static bool ino_set_add(struct ino_set *s, uint64_t ino)
{
	if (2 * (s->n + 1) > s->cap) {
		struct ino_set g = {xcalloc(s->cap ? 2 * s->cap : 64, sizeof(uint64_t)),
				    s->cap ? 2 * s->cap : 64, 0};
		for (size_t i = 0; i < s->cap; i++)
			if (s->v[i])
				(void)ino_set_add(&g, s->v[i]);
		free(s->v);
		*s = g;
	}
	size_t i = (size_t)(ino * 0x9e3779b97f4a7c15ULL) & (s->cap - 1);
	while (s->v[i]) {
		if (s->v[i] == ino)
			return false;
		i = (i + 1) & (s->cap - 1);
	}
	s->v[i] = ino;
	s->n++;
	return true;
}

struct du {
	int root_fd;
	dev_t dev;
	uint64_t bytes, inodes;
	struct ino_set links;
	char **stack; /* directories still to read, relative to root_fd */
	size_t n, cap;
};

static void du_count(struct du *d, const struct stat *st)
{
	if (st->st_nlink > 1 && !S_ISDIR(st->st_mode) && !ino_set_add(&d->links, st->st_ino))
		return;
	d->inodes++;
	d->bytes += (uint64_t)st->st_blocks * 512;
}

static void du_push(struct du *d, char *rel)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 16;
		d->stack = xreallocarray(d->stack, d->cap, sizeof(char *));
	}
	d->stack[d->n++] = rel;
}

/* Counts the entries of one directory and queues its subdirectories. Entries
 * that vanish meanwhile, other filesystems and paths over PATH_MAX are
 * skipped: a usage figure, not an inventory. */
static void du_dir(struct du *d, const char *rel)
{
	int fd = openat(d->root_fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	DIR *dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    st.st_dev != d->dev)
			continue;
		du_count(d, &st);
		if (S_ISDIR(st.st_mode) && strlen(rel) + strlen(de->d_name) + 2 < PATH_MAX)
			du_push(d, xasprintf("%s/%s", rel, de->d_name));
	}
	closedir(dir);
}

int fileio_disk_usage(const char *path, uint64_t *ret_bytes, uint64_t *ret_inodes,
		      struct berr **err)
{
	struct du d = {.root_fd = -1};
	d.root_fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d.root_fd < 0)
		return berr_set_errno(err, errno, "open '%s'", path);
	struct stat st;
	if (fstat(d.root_fd, &st) < 0) {
		int e = errno;
		close(d.root_fd);
		return berr_set_errno(err, e, "stat '%s'", path);
	}
	d.dev = st.st_dev;
	du_count(&d, &st);
	du_push(&d, xstrdup("."));
	while (d.n > 0) {
		char *rel = d.stack[--d.n];
		du_dir(&d, rel);
		free(rel);
	}
	free(d.stack);
	free(d.links.v);
	close(d.root_fd);
	*ret_bytes = d.bytes;
	*ret_inodes = d.inodes;
	return 0;
}

/* The nearest ancestor of path (itself included) that is the root of a mount, asked of the
 * kernel with statx(2) per path component: a few calls where reading mountinfo costs a line
 * per mount of the whole node (thousands with many containers). NULL when the kernel doesn't
 * say (no STATX_ATTR_MOUNT_ROOT before Linux 5.8) or a lookup fails for another reason than
 * a missing component. */
static char *mountpoint_statx(const char *path)
{
	_cleanup_free_ char *p = xstrdup(path);
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	for (;;) {
		struct statx sx;
		if (statx(AT_FDCWD, p, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, 0, &sx) == 0) {
			if (!(sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT))
				return NULL;
			if (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT)
				return TAKE_PTR(p);
		} else if (errno != ENOENT && errno != ENOTDIR) {
			return NULL;
		}
		if (strcmp(p, "/") == 0)
			return TAKE_PTR(p);
		char *slash = strrchr(p, '/');
		if (slash == p)
			p[1] = '\0';
		else
			*slash = '\0';
	}
}

char *fileio_mountpoint(const char *path, const char *mountinfo)
{
	if (!mountinfo && path[0] == '/') {
		char *mp = mountpoint_statx(path);
		if (mp)
			return mp;
	}
	_cleanup_fclose_ FILE *f = fopen(mountinfo ? mountinfo : "/proc/self/mountinfo", "re");
	char *best = xstrdup("/");
	size_t best_len = 1;
	char line[4096];
	while (f && fgets(line, sizeof(line), f)) {
		char mp[PATH_MAX];
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		size_t l = strlen(mp);
		if (l >= best_len && strncmp(path, mp, l) == 0 &&
		    (path[l] == '/' || path[l] == '\0')) {
			free(best);
			best = xstrdup(mp);
			best_len = l;
		}
	}
	return best;
}
