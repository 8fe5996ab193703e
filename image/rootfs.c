/* SPDX-License-Identifier: Apache-2.0 */
/* rootfs.c - overlayfs root filesystems for containers.
 * Layers are passed one by one with fsconfig("lowerdir+") (Linux 6.8+), so the page-size
 * limit on mount(2) option strings doesn't bound the number of layers. Older kernels fall
 * back to mount(2) with a joined lowerdir string and fail with E2BIG when it doesn't fit. */
#include "image/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/idmap.h"
#include "image/image-internal.h"

/* Appends the kernel's fs_context messages (read from the fsopen fd) to a message. */
static char *fs_messages(int fsfd)
{
	char *out = xstrdup("");
	char buf[512];
	ssize_t n;
	while ((n = read(fsfd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		char *t = xasprintf("%s%s%s", out, *out ? "; " : "", buf);
		free(out);
		out = t;
	}
	return out;
}

static int mount_new_api(char **lowers, size_t n, const char *upper, const char *work,
			 const char *target, bool readonly, struct berr **err)
{
	_cleanup_close_ int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return errno == ENOSYS ? -ENOSYS : berr_set_errno(err, errno, "fsopen overlay");
	for (size_t i = 0; i < n; i++) {
		/* lowerdir+ takes the topmost layer first */
		if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", lowers[n - 1 - i], 0) < 0) {
			if (errno == EINVAL && i == 0)
				return -ENOSYS; /* kernel without lowerdir+ */
			int e = errno;
			_cleanup_free_ char *m = fs_messages(fsfd);
			return berr_set(err, e, "overlay lowerdir '%s': %s (%s)", lowers[n - 1 - i],
					strerror(e), m);
		}
	}
	if (upper && (fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0 ||
		      fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", work, 0) < 0)) {
		int e = errno;
		_cleanup_free_ char *m = fs_messages(fsfd);
		return berr_set(err, e, "overlay upper/work dirs: %s (%s)", strerror(e), m);
	}
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		int e = errno;
		_cleanup_free_ char *m = fs_messages(fsfd);
		return berr_set(err, e, "create overlay: %s (%s)", strerror(e), m);
	}
	_cleanup_close_ int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, readonly ? MOUNT_ATTR_RDONLY : 0);
	if (mfd < 0)
		return berr_set_errno(err, errno, "fsmount overlay");
	if (move_mount(mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return berr_set_errno(err, errno, "attach overlay at '%s'", target);
	return 0;
}

static int mount_legacy(char **lowers, size_t n, const char *upper, const char *work,
			const char *target, bool readonly, struct berr **err)
{
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += strlen(lowers[i]) + 1;
	char *opts = xmalloc(len + 16);
	opts[0] = '\0';
	strcat(opts, "lowerdir=");
	for (size_t i = 0; i < n; i++) {
		if (strpbrk(lowers[n - 1 - i], ":,")) {
			free(opts);
			return berr_set(err, EINVAL, "layer path '%s' has ':' or ','", lowers[i]);
		}
		strcat(opts, lowers[n - 1 - i]);
		if (i + 1 < n)
			strcat(opts, ":");
	}
	_cleanup_free_ char *all =
	    upper ? xasprintf("%s,upperdir=%s,workdir=%s", opts, upper, work) : xstrdup(opts);
	free(opts);
	long page = sysconf(_SC_PAGESIZE);
	if ((long)strlen(all) >= page)
		return berr_set(err, E2BIG, "overlay options too long (%zu >= %ld) for %zu layers",
				strlen(all), page, n);
	if (mount("overlay", target, "overlay", readonly ? MS_RDONLY : 0, all) < 0)
		return berr_set_errno(err, errno, "mount overlay at '%s'", target);
	return 0;
}

int img_rootfs_mount(struct img_ctx *ctx, const char *const *chain_ids, size_t n,
		     const char *upper_work_dir, const char *target, bool readonly,
		     struct berr **err)
{
	if (n == 0)
		return berr_set(err, EINVAL, "rootfs for '%s': image has no layers", target);
	if (!upper_work_dir && !readonly)
		return berr_set(err, EINVAL, "rootfs for '%s': a writable rootfs needs upper dirs",
				target);
	char **lowers = xcalloc(n + 1, sizeof(char *));
	int r = 0;
	for (size_t i = 0; i < n && r >= 0; i++)
		r = img_layer_path(ctx, chain_ids[i], &lowers[i], err);
	_cleanup_free_ char *upper = NULL, *work = NULL;
	if (r >= 0 && upper_work_dir) {
		upper = xasprintf("%s/upper", upper_work_dir);
		work = xasprintf("%s/work", upper_work_dir);
		if ((r = fileio_mkdir_p(upper, 0755, err)) >= 0)
			r = fileio_mkdir_p(work, 0700, err);
	}
	if (r >= 0 && n == 1 && !upper) {
		/* overlayfs needs two lowers without an upper; one layer is a read-only bind */
		if (mount(lowers[0], target, NULL, MS_BIND, NULL) < 0 ||
		    mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
			r = berr_set_errno(err, errno, "bind layer at '%s'", target);
			(void)umount2(target, MNT_DETACH);
		}
	} else if (r >= 0) {
		r = mount_new_api(lowers, n, upper, work, target, readonly, err);
		if (r == -ENOSYS)
			r = mount_legacy(lowers, n, upper, work, target, readonly, err);
	}
	strv_free(lowers);
	if (r < 0)
		berr_wrap(err, "mount rootfs '%s'", target);
	return r;
}

static int mount_over(char **lowers, size_t n, const char *upper, const char *work,
		      const char *target, struct berr **err)
{
	int r = mount_new_api(lowers, n, upper, work, target, false, err);
	if (r == -ENOSYS)
		r = mount_legacy(lowers, n, upper, work, target, false, err);
	return r;
}

int img_rootfs_mount_idmapped(struct img_ctx *ctx, const char *const *chain_ids, size_t n,
			      const char *upper_work_dir, const char *target, const char *idmap_dir,
			      int userns_fd, uid_t root_uid, gid_t root_gid, struct berr **err)
{
	if (n == 0)
		return berr_set(err, EINVAL, "rootfs for '%s': image has no layers", target);
	_cleanup_free_ char *upper = xasprintf("%s/upper", upper_work_dir);
	_cleanup_free_ char *work = xasprintf("%s/work", upper_work_dir);
	int r = fileio_mkdir_p(upper, 0755, err);
	if (r >= 0)
		r = fileio_mkdir_p(work, 0700, err);
	if (r >= 0 && chown(upper, root_uid, root_gid) < 0)
		r = berr_set_errno(err, errno, "chown '%s'", upper);
	/* searchable by others: the runtime's init, the pod's root, mounts from it */
	if (r >= 0)
		r = fileio_mkdir_p(idmap_dir, 0711, err);
	if (r < 0)
		return berr_wrap(err, "mount rootfs '%s'", target);
	char **lowers = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n && r >= 0; i++) {
		_cleanup_free_ char *layer = NULL;
		r = img_layer_path(ctx, chain_ids[i], &layer, err);
		if (r >= 0) {
			lowers[i] = xasprintf("%s/l%zu", idmap_dir, i);
			r = idmap_bind(layer, lowers[i], userns_fd, false, err);
		}
	}
	/* The upper dir is not idmapped: overlayfs works in it with the mounter's
	 * credentials (host root), which the pod's mapping does not map. What the
	 * container writes there is owned by its mapped host ids. */
	if (r >= 0)
		r = mount_over(lowers, n, upper, work, target, err);
	strv_free(lowers);
	if (r < 0) {
		(void)idmap_unbind_dir(idmap_dir, NULL);
		berr_wrap(err, "mount idmapped rootfs '%s'", target);
	}
	return r;
}

int img_rootfs_unmount(const char *target, struct berr **err)
{
	/* stacked mounts are possible (a retried mount): unmount until nothing is left */
	for (int i = 0; i < 64; i++) {
		if (umount2(target, UMOUNT_NOFOLLOW) == 0)
			continue;
		if (errno == EINVAL || errno == ENOENT)
			return 0; /* not a mount point (any more) */
		if (errno == EBUSY && umount2(target, UMOUNT_NOFOLLOW | MNT_DETACH) == 0)
			continue;
		return berr_set_errno(err, errno, "unmount rootfs '%s'", target);
	}
	return berr_set(err, EBUSY, "unmount rootfs '%s': still mounted after 64 unmounts", target);
}
