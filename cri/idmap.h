/* SPDX-License-Identifier: Apache-2.0 */
/* idmap.h - what the kernel offers for user-namespaced pods and recursive
 * read-only mounts, probed once at start (cri_kernel_probe), and the idmapped
 * mounts berthd makes itself for a pod's user namespace (open_tree clone +
 * mount_setattr(MOUNT_ATTR_IDMAP), attached at a path the OCI runtime then
 * bind-mounts like any other source), so any OCI runtime works with them.
 * The mounts themselves are common/idmap.h's; the container's are made in
 * ctr_idmap.c and image/rootfs.c.
 * Threads: call once at start, before serving; blocks on berth-pinns. */
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

struct cri_probe_opts {
	const char *pinns;	 /* berth-pinns, which makes the probe's user namespace */
	const char *pin_root;	 /* <run_dir>/ns: its pin goes there, and is removed */
	const char *scratch_dir; /* made and removed again */
	const char *state_dir;	 /* image layers: idmapped, and overlays over them */
	const char *run_dir;	 /* the pod files bound into containers */
};

/* Probes mount_setattr and, through a user namespace of berth-pinns, idmapped
 * mounts on the filesystems of the state and run dirs and on tmpfs (the pod's
 * /dev/shm), and an overlay over an idmapped lower dir. Never fails: what does
 * not work is written into ret->idmap_missing. Leaves nothing behind. */
void cri_kernel_probe(const struct cri_probe_opts *o, struct cri_kernel_features *ret);

#endif
