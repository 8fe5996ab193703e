/* SPDX-License-Identifier: Apache-2.0 */
/* idmap.c - kernel feature probes for recursive read-only mounts and user
 * namespaces, and berthd's own idmapped mounts (cri/idmap.h). */
#include "cri/idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "common/err.h"

/* mount_setattr(2) exists when a call with a too small attr size fails with EINVAL,
 * not ENOSYS (an empty attr would succeed as a no-op). */
static bool has_mount_setattr(void)
{
	return mount_setattr(-1, "", AT_EMPTY_PATH, NULL, 0) < 0 && errno != ENOSYS;
}

void cri_kernel_probe(const char *scratch_dir, const char *const *extra_dirs,
		      struct cri_kernel_features *ret)
{
	(void)scratch_dir;
	(void)extra_dirs;
	*ret = (struct cri_kernel_features){.probed = true};
	ret->mount_setattr = has_mount_setattr();
	snprintf(ret->idmap_missing, sizeof(ret->idmap_missing), "%s",
		 ret->mount_setattr ? "user namespaces for pods are not implemented yet"
				    : "no mount_setattr(2) (Linux 5.12) for idmapped mounts");
}
