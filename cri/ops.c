/* SPDX-License-Identifier: Apache-2.0 */
/* ops.c - the real callouts behind struct cri_ops (cri/pod.h). */
#include "cri/pod.h"

#include <errno.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "image/image.h"
#include "netns/netns.h"
#include "shim/shim.h"

/* A tag or digest as the image was pulled (normalized), else an ID or prefix. */
static int image_resolve(struct berth *b, const char *ref, struct store_img **ret,
			 struct berr **err)
{
	_cleanup_free_ char *norm = NULL;
	if (img_ref_normalize(ref, &norm, NULL) == 0 &&
	    store_img_get_by_ref(b->store, norm, ret, NULL) == 0)
		return 0;
	return store_img_lookup(b->store, ref, ret, err);
}

static int rootfs_mount(struct berth *b, const struct store_img_meta *img, const char *upper_dir,
			const char *target, bool readonly, struct berr **err)
{
	size_t n = 0;
	while (img->chain_ids && img->chain_ids[n])
		n++;
	if (!b->img)
		return berr_set(err, EINVAL, "no image context");
	return img_rootfs_mount(b->img, (const char *const *)img->chain_ids, n, upper_dir, target,
				readonly, err);
}

static int rootfs_mount_idmapped(struct berth *b, const struct store_img_meta *img,
				 const char *upper_dir, const char *target, const char *idmap_dir,
				 int userns_fd, uid_t root_uid, gid_t root_gid, struct berr **err)
{
	size_t n = 0;
	while (img->chain_ids && img->chain_ids[n])
		n++;
	if (!b->img)
		return berr_set(err, EINVAL, "no image context");
	return img_rootfs_mount_idmapped(b->img, (const char *const *)img->chain_ids, n, upper_dir,
					 target, idmap_dir, userns_fd, root_uid, root_gid, err);
}

const struct cri_ops cri_default_ops = {
    .oci = &oci_runc_ops,
    .shim_start = shim_start,
    .shim_reopen_log = shim_reopen_log,
    .image_resolve = image_resolve,
    .rootfs_mount = rootfs_mount,
    .rootfs_mount_idmapped = rootfs_mount_idmapped,
    .rootfs_unmount = img_rootfs_unmount,
    .cni = &cni_default_ops,
};
