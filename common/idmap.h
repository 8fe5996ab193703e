/* SPDX-License-Identifier: Apache-2.0 */
/* idmap.h - idmapped bind mounts (Linux 5.12+): a clone of a mount tree
 * (open_tree(OPEN_TREE_CLONE)) given a user namespace's id mapping
 * (mount_setattr(MOUNT_ATTR_IDMAP)) and attached at a path of the caller's mount
 * namespace. Through it, a file owned by id N on disk appears owned by the id the
 * namespace maps N to (and writes go the other way), so a pod's user namespace sees
 * host files, layers and volumes as their ids on disk, with nothing chowned.
 * Ownership: nothing is returned but errors. Threads: thread-safe (no state).
 * Errors: -errno of the syscall with the path: EINVAL from mount_setattr is a
 *   filesystem (of the source or one of its submounts) without idmapped mounts. */
#ifndef BERTH_COMMON_IDMAP_H
#define BERTH_COMMON_IDMAP_H

#include <stdbool.h>

struct berr;

/* Attaches at target (created: a directory, or an empty file for a source that is
 * not one) an idmapped clone of src, with its submounts when recursive. */
int idmap_bind(const char *src, const char *target, int userns_fd, bool recursive,
	       struct berr **err);
/* Unmounts everything at target (lazily) and removes it; missing is success. */
int idmap_unbind(const char *target, struct berr **err);
/* idmap_unbind() of every entry of dir, then dir itself; missing is success. A
 * failure leaves dir (never removes what may still be a mount). */
int idmap_unbind_dir(const char *dir, struct berr **err);

#endif
