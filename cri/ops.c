/* ops.c - the real callouts behind struct cri_ops (cri/pod.h). */
#include "cri/pod.h"

#include <errno.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "shim/shim.h"

static int image_resolve(struct berth *b, const char *ref, struct store_img **ret,
			 struct berr **err)
{
	/* TODO(#4): normalize through image/ once it is merged. */
	return store_img_lookup(b->store, ref, ret, err);
}

static int rootfs_mount(struct berth *b, const struct store_img_meta *img, const char *upper_dir,
			const char *target, bool readonly, struct berr **err)
{
	return berr_set(err, EOPNOTSUPP, "image rootfs mounts need image/ (issue 4)");
}

static int rootfs_unmount(const char *target, struct berr **err)
{
	return 0;
}

const struct cri_ops cri_default_ops = {
    .oci = &oci_runc_ops,
    .shim_start = shim_start,
    .shim_reopen_log = shim_reopen_log,
    .image_resolve = image_resolve,
    .rootfs_mount = rootfs_mount,
    .rootfs_unmount = rootfs_unmount,
};
