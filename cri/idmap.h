/* SPDX-License-Identifier: Apache-2.0 */
/* idmap.h - what the kernel offers for user-namespaced pods and recursive
 * read-only mounts, probed once at start (cri_kernel_probe), and the idmapped
 * mounts berthd makes itself for a pod's user namespace (open_tree clone +
 * mount_setattr(MOUNT_ATTR_IDMAP), attached at a path the OCI runtime then
 * bind-mounts like any other source), so any OCI runtime works with them.
 * Ownership: strings in results are the caller's (free()).
 * Threads: every call is thread-safe; the mounts are made in berthd's own mount
 *   namespace (no setns, no fork: plain syscalls on the calling thread).
 * Errors: -errno of the syscall, with a message naming the path. */
#ifndef BERTH_CRI_IDMAP_H
#define BERTH_CRI_IDMAP_H

#include <stdbool.h>
#include <stddef.h>

struct berr;

struct cri_kernel_features {
	bool probed;		 /* false: nothing known (a bare test berth) */
	bool mount_setattr;	 /* mount_setattr(2) (Linux 5.12): recursive read-only mounts */
	bool idmap;		 /* user namespaces with idmapped rootfs and volume mounts */
	char idmap_missing[512]; /* when !idmap: what is missing, for the log and Status */
};

/* Probes mount_setattr and, under scratch_dir (made and removed again), a user
 * namespace, an idmapped mount of scratch_dir's filesystem and of each extra_dirs
 * entry's (NULL-terminated; the state dir, the run dir, ...), and an overlay
 * over an idmapped lower dir with its upper and work dirs on one idmapped mount.
 * Never fails: what does not work is written into ret->idmap_missing. */
void cri_kernel_probe(const char *scratch_dir, const char *const *extra_dirs,
		      struct cri_kernel_features *ret);

#endif
