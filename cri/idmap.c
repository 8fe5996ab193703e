/* SPDX-License-Identifier: Apache-2.0 */
/* idmap.c - kernel feature probes for recursive read-only mounts and pod user
 * namespaces (cri/idmap.h). */
#include "cri/idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
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
#include "netns/netns.h"

#define PROBE_HOST_ID 1000000 /* any range: nothing runs with it */
#define PROBE_MAP     "0:1000000:65536"

/* mount_setattr(2) exists when a call with a too small attr size fails with EINVAL,
 * not ENOSYS (an empty attr would succeed as a no-op). */
static bool has_mount_setattr(void)
{
	return mount_setattr(-1, "", AT_EMPTY_PATH, NULL, 0) < 0 && errno != ENOSYS;
}

__attribute__((format(printf, 2, 3))) static bool missing(struct cri_kernel_features *f,
							  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->idmap_missing, sizeof(f->idmap_missing), fmt, ap);
	va_end(ap);
	return false;
}

/* An idmapped mount of dir (a fresh subdir of it, with a file of host root in it)
 * shows that file owned by the mapped id. */
static bool probe_dir(struct cri_kernel_features *f, const char *dir, const char *scratch,
		      const char *name, int userns_fd)
{
	_cleanup_free_ char *src = xasprintf("%s/.idmap-probe-XXXXXX", dir);
	if (!mkdtemp(src))
		return missing(f, "create a probe dir in '%s': %s", dir, strerror(errno));
	_cleanup_free_ char *file = xasprintf("%s/f", src);
	_cleanup_free_ char *target = xasprintf("%s/%s", scratch, name);
	_cleanup_berr_ struct berr *e = NULL;
	bool ok = fileio_write_atomic(file, "", 0, 0644, &e) == 0 &&
		  idmap_bind(src, target, userns_fd, false, &e) == 0;
	if (ok) {
		_cleanup_free_ char *seen = xasprintf("%s/f", target);
		struct stat st;
		ok = stat(seen, &st) == 0 && st.st_uid == PROBE_HOST_ID;
		if (!ok)
			missing(f, "an idmapped mount of '%s' does not map its owners", dir);
	} else {
		missing(f, "idmapped mounts on the filesystem of '%s': %s", dir, berr_msg(e));
	}
	(void)idmap_unbind(target, NULL);
	(void)fileio_remove_tree(src, NULL);
	return ok;
}

/* An overlay over an idmapped lower dir, with its upper and work dirs on a plain
 * mount, as a container's rootfs is built (img_rootfs_mount_idmapped). */
static bool probe_overlay(struct cri_kernel_features *f, const char *state_dir, const char *scratch,
			  int userns_fd)
{
	_cleanup_free_ char *base = xasprintf("%s/.idmap-probe-XXXXXX", state_dir);
	if (!mkdtemp(base))
		return missing(f, "create a probe dir in '%s': %s", state_dir, strerror(errno));
	_cleanup_free_ char *lower = xasprintf("%s/lower", base);
	_cleanup_free_ char *upper = xasprintf("%s/upper", base);
	_cleanup_free_ char *work = xasprintf("%s/work", base);
	_cleanup_free_ char *ml = xasprintf("%s/lower", scratch);
	_cleanup_free_ char *ovl = xasprintf("%s/overlay", scratch);
	_cleanup_berr_ struct berr *e = NULL;
	bool ok = mkdir(lower, 0755) == 0 && mkdir(upper, 0755) == 0 && mkdir(work, 0700) == 0 &&
		  mkdir(ovl, 0700) == 0;
	if (!ok)
		missing(f, "probe dirs in '%s': %s", base, strerror(errno));
	if (ok && idmap_bind(lower, ml, userns_fd, false, &e) < 0)
		ok = missing(f, "idmapped layer: %s", berr_msg(e));
	if (ok) {
		_cleanup_free_ char *opts =
		    xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", ml, upper, work);
		if (mount("overlay", ovl, "overlay", 0, opts) < 0)
			ok = missing(f, "an overlay over an idmapped lower dir: %s",
				     strerror(errno));
		else
			(void)umount2(ovl, MNT_DETACH);
	}
	(void)idmap_unbind(ml, NULL);
	(void)rmdir(ovl);
	(void)fileio_remove_tree(base, NULL);
	return ok;
}

/* tmpfs, which the pod's /dev/shm is. */
static bool probe_tmpfs(struct cri_kernel_features *f, const char *scratch, int userns_fd)
{
	_cleanup_free_ char *t = xasprintf("%s/tmpfs", scratch);
	if (mkdir(t, 0700) < 0 || mount("berth-idmap-probe", t, "tmpfs", 0, "size=64k") < 0)
		return missing(f, "mount a probe tmpfs at '%s': %s", t, strerror(errno));
	bool ok = probe_dir(f, t, scratch, "tmpfs-mapped", userns_fd);
	(void)umount2(t, MNT_DETACH);
	(void)rmdir(t);
	return ok;
}

static bool probe_idmap(const struct cri_probe_opts *o, struct cri_kernel_features *f)
{
	if (!f->mount_setattr)
		return missing(f, "no mount_setattr(2) (Linux 5.12) for idmapped mounts");
	_cleanup_berr_ struct berr *e = NULL;
	_cleanup_free_ char *pin = xasprintf("%s/.idmap-probe-%d", o->pin_root, (int)getpid());
	struct netns_pins pins = {0};
	struct netns_pin_opts po = {
	    .dir = pin, .pinns = o->pinns, .uidmap = PROBE_MAP, .gidmap = PROBE_MAP};
	if (netns_pin_pod(&po, &pins, &e) < 0)
		return missing(f, "create a user namespace: %s", berr_msg(e));
	bool ok = true;
	int fd = open(pins.user, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		ok = missing(f, "open '%s': %s", pins.user, strerror(errno));
	bool made = ok && mkdir(o->scratch_dir, 0700) == 0;
	if (ok && !made)
		ok = missing(f, "mkdir '%s': %s", o->scratch_dir, strerror(errno));
	if (ok)
		ok = probe_dir(f, o->state_dir, o->scratch_dir, "state", fd);
	if (ok)
		ok = probe_dir(f, o->run_dir, o->scratch_dir, "run", fd);
	if (ok)
		ok = probe_overlay(f, o->state_dir, o->scratch_dir, fd);
	if (ok)
		ok = probe_tmpfs(f, o->scratch_dir, fd);
	if (fd >= 0)
		close(fd);
	if (made)
		(void)rmdir(o->scratch_dir);
	(void)netns_unpin(pin, NULL);
	netns_pins_done(&pins);
	return ok;
}

void cri_kernel_probe(const struct cri_probe_opts *o, struct cri_kernel_features *ret)
{
	*ret = (struct cri_kernel_features){.probed = true};
	ret->mount_setattr = has_mount_setattr();
	ret->idmap = probe_idmap(o, ret);
	if (ret->idmap)
		ret->idmap_missing[0] = '\0';
}
