/* SPDX-License-Identifier: Apache-2.0 */
/* idmap.c - idmapped bind mounts (common/idmap.h). */
#include "common/idmap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"

static int make_target(const char *target, bool dir, struct berr **err)
{
	if (dir) {
		if (mkdir(target, 0700) < 0 && errno != EEXIST)
			return berr_set_errno(err, errno, "mkdir '%s'", target);
		return 0;
	}
	int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return berr_set_errno(err, errno, "create '%s'", target);
	close(fd);
	return 0;
}

int idmap_bind(const char *src, const char *target, int userns_fd, bool recursive,
	       struct berr **err)
{
	struct stat st;
	if (stat(src, &st) < 0)
		return berr_set_errno(err, errno, "stat '%s'", src);
	_cleanup_close_ int fd = open_tree(
	    AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
	if (fd < 0)
		return berr_set_errno(err, errno, "clone the mount of '%s'", src);
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns_fd};
	if (mount_setattr(fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr,
			  sizeof(attr)) < 0) {
		int e = errno;
		if (e == EINVAL)
			return berr_set(err, EINVAL,
					"idmap the mount of '%s': its filesystem (or one under "
					"it) does not support idmapped mounts",
					src);
		return berr_set_errno(err, e, "idmap the mount of '%s'", src);
	}
	int r = make_target(target, S_ISDIR(st.st_mode), err);
	if (r < 0)
		return r;
	if (move_mount(fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		int e = errno;
		S_ISDIR(st.st_mode) ? rmdir(target) : unlink(target);
		return berr_set_errno(err, e, "attach the idmapped mount of '%s' at '%s'", src,
				      target);
	}
	return 0;
}

int idmap_unbind(const char *target, struct berr **err)
{
	/* a retried bind may have stacked mounts: unmount until none is left */
	for (int i = 0; i < 64; i++) {
		if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
			continue;
		if (errno == ENOENT)
			return 0;
		if (errno == EINVAL)
			break; /* not a mount point (any more) */
		return berr_set_errno(err, errno, "unmount '%s'", target);
	}
	struct stat st;
	if (lstat(target, &st) < 0)
		return errno == ENOENT ? 0 : berr_set_errno(err, errno, "stat '%s'", target);
	if ((S_ISDIR(st.st_mode) ? rmdir(target) : unlink(target)) < 0 && errno != ENOENT)
		return berr_set_errno(err, errno, "remove '%s'", target);
	return 0;
}

int idmap_unbind_dir(const char *dir, struct berr **err)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : berr_set_errno(err, errno, "open '%s'", dir);
	int r = 0;
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, de->d_name);
		r = idmap_unbind(p, err);
	}
	closedir(d);
	if (r == 0 && rmdir(dir) < 0 && errno != ENOENT)
		r = berr_set_errno(err, errno, "remove '%s'", dir);
	return r;
}
