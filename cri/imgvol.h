/* SPDX-License-Identifier: Apache-2.0 */
/* imgvol.h - image volumes (CRI Mount.image, KEP-4639) for the container
 * handlers: an image's root filesystem mounted read-only (and noexec, nosuid,
 * nodev) at a container path, or one directory of it (image_sub_path).
 * Every image used as a volume gets one prepared tree on the host, a read-only
 * overlay of its layers (a read-only bind of the layer for a one-layer image) at
 * <run_dir>/imgvol/<hex>, shared by every mount of that image; each container
 * bind-mounts it (docs/containers.md, "Image volumes").
 * Ownership: a plan holds copies and strings of its own and borrows the request's
 *   config; release it with cri_imgvol_plan_done(). The holder table belongs to
 *   struct cri_runtime (cri_imgvols_new/_free).
 * Threads: everything is thread-safe. The table mutex guards the holder sets; it
 *   is held across store calls (order: table mutex, then store locks) but never
 *   across a mount or unmount: a tree being mounted or unmounted is marked busy
 *   and waited for (condition variable).
 * Errors: -EINVAL bad mount fields or sub path (missing, escaping, not a
 *   directory; the message names the mount and the image), -ENOENT image not
 *   recorded, -EBUSY image held as a volume (RemoveImage), else the errno of the
 *   failing mount or unmount. */
#ifndef BERTH_CRI_IMGVOL_H
#define BERTH_CRI_IMGVOL_H

#include <stdbool.h>
#include <stddef.h>

#include "cri/cri-internal.h"

struct store_ctr_meta;

/* Container meta->extra key: the image IDs its volumes use, comma-separated. */
#define CRI_CTR_X_IMGVOLS "image_volumes"

struct cri_imgvols;
struct cri_imgvols *cri_imgvols_new(void);
struct cri_imgvols *cri_imgvols_free(struct cri_imgvols *t); /* NULL-safe, returns NULL */

/* Pure: the image mounts of c are well-formed: no host_path, an image named, no
 * SELinux relabel, private propagation, a relative image_sub_path without "..". */
int cri_imgvol_check(const Runtime__V1__ContainerConfig *c, struct berr **err);

/* The container config as the spec builder sees it: the request's, with each
 * image mount replaced by a copy bound from its prepared tree (readonly forced). */
struct cri_imgvol_plan {
	Runtime__V1__ContainerConfig config; /* shallow copy; valid when n_images > 0 */
	Runtime__V1__Mount **mounts;	     /* config.mounts */
	Runtime__V1__Mount *copies;	     /* one per mount; only image mounts used */
	char **sources;			     /* host paths of the copies (owned) */
	char *ids;			     /* image IDs, comma-separated; NULL: none */
	size_t n_images;
};
/* Checks, resolves every image of c (-ENOENT "image 'x' of mount '/p' not found"),
 * makes ctr_id a holder of each and mounts the trees not mounted yet, and resolves
 * sub paths inside them. On failure the caller undoes it with cri_imgvol_release(). */
int cri_imgvol_prepare(struct berth *b, const char *ctr_id, const Runtime__V1__ContainerConfig *c,
		       struct cri_imgvol_plan *ret, struct berr **err);
/* The config to build the spec from: the plan's, or c when it has no image mount. */
const Runtime__V1__ContainerConfig *cri_imgvol_config(const struct cri_imgvol_plan *p,
						      const Runtime__V1__ContainerConfig *c);
void cri_imgvol_plan_done(struct cri_imgvol_plan *p);

/* Drops ctr_id from every holder set and unmounts each tree no container holds any
 * more (also ones a failed unmount left). Idempotent. */
int cri_imgvol_release(struct berth *b, const char *ctr_id, struct berr **err);
/* At start: holder sets rebuilt from the container records, trees still mounted
 * found, trees under <run_dir>/imgvol that no record holds unmounted and removed. */
int cri_imgvol_recover(struct berth *b, struct berr **err);

/* Whether the record of a container lists image_id among its volumes. */
bool cri_imgvol_ctr_uses(const struct store_ctr_meta *m, const char *image_id);
/* RemoveImage: -EBUSY naming the container when one holds image_id as a volume,
 * else runs fn (its check and delete) with no image volume acquired meanwhile. */
int cri_imgvol_guard_remove(struct berth *b, const char *image_id,
			    int (*fn)(struct berth *b, const char *image_id, struct berr **err),
			    struct berr **err);

/* Resolves sub (relative) beneath the directory tree without leaving it
 * (openat2 RESOLVE_BENEATH: a ".." or a symlink climbing out, or an absolute
 * symlink, is refused) into the absolute host path of that directory. what
 * names the mount in messages. -EINVAL missing, escaping or not a directory. */
int cri_imgvol_resolve_sub(const char *tree, const char *sub, const char *what, char **ret,
			   struct berr **err);

#endif
