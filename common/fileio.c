/* SPDX-License-Identifier: Apache-2.0 */
#include "common/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"

int fileio_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fileio_fsync_dir(const char *path, struct berr **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return berr_set_errno(err, errno, "open dir '%s'", path);
	if (fsync(fd) < 0)
		return berr_set_errno(err, errno, "fsync dir '%s'", path);
	return 0;
}

static int write_atomic(const char *path, const void *data, size_t len, mode_t mode, bool sync,
			struct berr **err)
{
	_cleanup_free_ char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");

	_cleanup_free_ char *tmp = xasprintf("%s.tmp.XXXXXX", path);
	_cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return berr_set_errno(err, errno, "create temp file for '%s'", path);
	int r = fileio_write_all(fd, data, len);
	if (r < 0) {
		unlink(tmp);
		return berr_set_errno(err, -r, "write '%s'", tmp);
	}
	if (fchmod(fd, mode) < 0 || (sync && fsync(fd) < 0)) {
		r = errno;
		unlink(tmp);
		return berr_set_errno(err, r, "sync '%s'", tmp);
	}
	if (rename(tmp, path) < 0) {
		r = errno;
		unlink(tmp);
		return berr_set_errno(err, r, "rename '%s' to '%s'", tmp, path);
	}
	return sync ? fileio_fsync_dir(dir, err) : 0;
}

int fileio_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
			struct berr **err)
{
	return write_atomic(path, data, len, mode, true, err);
}

int fileio_write_atomic_nosync(const char *path, const void *data, size_t len, mode_t mode,
			       struct berr **err)
{
	return write_atomic(path, data, len, mode, false, err);
}

int fileio_read_all(const char *path, size_t max, char **ret_data, size_t *ret_len,
		    struct berr **err)
{
	return fileio_read_allat(AT_FDCWD, path, max, ret_data, ret_len, err);
}

int fileio_read_allat(int dirfd, const char *path, size_t max, char **ret_data, size_t *ret_len,
		      struct berr **err)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return berr_set_errno(err, errno, "open '%s'", path);
	size_t cap = 4096, len = 0;
	_cleanup_free_ char *buf = xmalloc(cap);
	for (;;) {
		if (len + 1 >= cap) {
			if (cap > max + 1)
				return berr_set(err, EFBIG, "file '%s' larger than %zu bytes", path,
						max);
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return berr_set_errno(err, errno, "read '%s'", path);
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max)
			return berr_set(err, EFBIG, "file '%s' larger than %zu bytes", path, max);
	}
	buf[len] = '\0';
	*ret_data = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

int fileio_mkdir_p(const char *path, mode_t mode, struct berr **err)
{
	_cleanup_free_ char *p = xstrdup(path);
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char saved = *s;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return berr_set_errno(err, errno, "mkdir '%s'", p);
		*s = saved;
		if (saved == '\0')
			break;
	}
	struct stat st;
	if (stat(p, &st) < 0)
		return berr_set_errno(err, errno, "stat '%s'", p);
	if (!S_ISDIR(st.st_mode))
		return berr_set(err, ENOTDIR, "'%s' is not a directory", p);
	return 0;
}

static int remove_at(int parent, const char *name, dev_t dev, struct berr **err)
{
	struct stat st;
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : berr_set_errno(err, errno, "stat '%s'", name);
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(parent, name, 0) < 0 && errno != ENOENT)
			return berr_set_errno(err, errno, "unlink '%s'", name);
		return 0;
	}
	if (st.st_dev != dev)
		return berr_set(err, EXDEV, "'%s' is a mount point, not removing", name);
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return berr_set_errno(err, errno, "open '%s'", name);
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return berr_set_errno(err, e, "opendir '%s'", name);
	}
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		r = remove_at(dirfd(d), de->d_name, dev, err);
		if (r < 0)
			break;
	}
	closedir(d);
	if (r < 0)
		return berr_wrap(err, "in '%s'", name);
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return berr_set_errno(err, errno, "rmdir '%s'", name);
	return 0;
}

int fileio_remove_tree(const char *path, struct berr **err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : berr_set_errno(err, errno, "stat '%s'", path);
	return remove_at(AT_FDCWD, path, st.st_dev, err);
}
