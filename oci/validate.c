/* SPDX-License-Identifier: Apache-2.0 */
/* validate.c - the filesystem facts oci_spec_build() needs but must not read
 * itself: CRI mount sources and their propagation, and host devices. */
#include "oci/oci.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"

#define DEVICES_MAX 4096

/* Finds the mount holding path in mountinfo text; returns its optional fields
 * (e.g. "shared:5 master:2") into *ret, or NULL if no mount matched. */
static char *mount_tags_of(const char *mountinfo, const char *path)
{
	size_t best = 0;
	char *tags = NULL;
	for (const char *line = mountinfo; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		_cleanup_free_ char *l = xstrndup(line, n);
		line = nl ? nl + 1 : NULL;
		/* id parent maj:min root mountpoint options [tags...] - fstype ... */
		char *save = NULL, *f[6], *t;
		int i = 0;
		while (i < 6 && (t = strtok_r(i ? NULL : l, " ", &save)))
			f[i++] = t;
		if (i < 6)
			continue;
		char *mp = f[4];
		size_t mlen = strlen(mp);
		bool under = strcmp(mp, "/") == 0 ||
			     (strncmp(path, mp, mlen) == 0 && (path[mlen] == '/' || !path[mlen]));
		if (!under || mlen < best)
			continue;
		/* f[5] holds the mount options; the optional fields follow up to "-". */
		_cleanup_free_ char *rest = xstrdup("");
		for (t = strtok_r(NULL, " ", &save); t && strcmp(t, "-") != 0;
		     t = strtok_r(NULL, " ", &save)) {
			char *x = xasprintf("%s %s", rest, t);
			free(rest);
			rest = x;
		}
		/* Later lines stack over earlier ones at the same mountpoint. */
		best = mlen;
		free(tags);
		tags = TAKE_PTR(rest);
	}
	return tags;
}

int oci_mounts_validate(const Runtime__V1__ContainerConfig *config, const char *mountinfo,
			struct berr **err)
{
	_cleanup_free_ char *mi = NULL;
	for (size_t i = 0; i < config->n_mounts; i++) {
		const Runtime__V1__Mount *m = config->mounts[i];
		const char *src = m->host_path ? m->host_path : "";
		struct stat st;
		if (stat(src, &st) < 0) {
			if (errno == ENOENT)
				return berr_set(err, ENOENT,
						"mount source '%s' for '%s' does not exist", src,
						m->container_path ? m->container_path : "");
			return berr_set_errno(err, errno, "stat mount source '%s'", src);
		}
		if (m->propagation == RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE)
			continue;
		if (!mi) {
			int r = fileio_read_all(mountinfo ? mountinfo : "/proc/self/mountinfo",
						16u << 20, &mi, NULL, err);
			if (r < 0)
				return r;
		}
		char real[PATH_MAX];
		if (!realpath(src, real))
			return berr_set_errno(err, errno, "resolve mount source '%s'", src);
		_cleanup_free_ char *tags = mount_tags_of(mi, real);
		bool shared = tags && strstr(tags, "shared:");
		bool slave = tags && strstr(tags, "master:");
		if (m->propagation == RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL &&
		    !shared)
			return berr_set(err, EINVAL,
					"mount source '%s' is not on a shared mount, needed for "
					"bidirectional propagation",
					src);
		if (!shared && !slave)
			return berr_set(
			    err, EINVAL,
			    "mount source '%s' is not on a shared or slave mount, needed "
			    "for host-to-container propagation",
			    src);
	}
	return 0;
}

void oci_devices_free(struct oci_device *d, size_t n)
{
	for (size_t i = 0; d && i < n; i++) {
		free(d[i].host_path);
		free(d[i].container_path);
		free(d[i].permissions);
	}
	free(d);
}

struct devlist {
	struct oci_device *v;
	size_t n;
};

static bool dev_present(const struct devlist *l, const char *container_path)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].container_path, container_path) == 0)
			return true;
	return false;
}

/* Adds the device at host path hp if it is one; returns 1 if added, 0 if not a
 * device, <0 on a stat error. */
static int dev_add(struct devlist *l, const char *hp, const char *cp, const char *perms,
		   struct berr **err)
{
	struct stat st;
	if (stat(hp, &st) < 0) {
		if (errno == ENOENT)
			return berr_set(err, ENOENT, "device '%s' does not exist", hp);
		return berr_set_errno(err, errno, "stat device '%s'", hp);
	}
	char type = S_ISCHR(st.st_mode)	   ? 'c'
		    : S_ISBLK(st.st_mode)  ? 'b'
		    : S_ISFIFO(st.st_mode) ? 'p'
					   : 0;
	if (!type || dev_present(l, cp))
		return 0;
	if (l->n >= DEVICES_MAX)
		return berr_set(err, E2BIG, "too many devices (> %d)", DEVICES_MAX);
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = (struct oci_device){
	    .host_path = xstrdup(hp),
	    .container_path = xstrdup(cp),
	    .permissions = xstrdup(perms),
	    .type = type,
	    .major = type == 'p' ? 0 : (int64_t)major(st.st_rdev),
	    .minor = type == 'p' ? 0 : (int64_t)minor(st.st_rdev),
	    .file_mode = st.st_mode & 07777,
	    .uid = st.st_uid,
	    .gid = st.st_gid,
	};
	return 1;
}

/* All devices under /dev for a privileged container, skipping what the
 * runtime mounts itself (containerd's HostDevices). */
static int host_devices(struct devlist *l, const char *dir, int depth, struct berr **err)
{
	static const char *const skip[] = {"pts",	  "shm",   "fd",      "mqueue", ".lxc",
					   ".lxd-mounts", ".udev", "console", NULL};
	if (depth > 8)
		return 0;
	DIR *d = opendir(dir);
	if (!d)
		return berr_set_errno(err, errno, "open '%s'", dir);
	int r = 0;
	for (struct dirent *e; r >= 0 && (e = readdir(d));) {
		if (e->d_name[0] == '.' &&
		    (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		bool skipped = false;
		for (const char *const *s = skip; *s && depth == 0; s++)
			skipped = skipped || strcmp(*s, e->d_name) == 0;
		if (skipped)
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, e->d_name);
		if (e->d_type == DT_DIR)
			r = host_devices(l, p, depth + 1, err);
		else if (e->d_type == DT_CHR || e->d_type == DT_BLK)
			r = dev_add(l, p, p, "rwm", err);
		if (r == -ENOENT) /* gone meanwhile */
			r = 0;
	}
	closedir(d);
	return r < 0 ? r : 0;
}

int oci_devices_resolve(const Runtime__V1__ContainerConfig *config, bool privileged,
			struct oci_device **ret, size_t *ret_n, struct berr **err)
{
	struct devlist l = {0};
	int r = 0;
	for (size_t i = 0; r >= 0 && i < config->n_devices; i++) {
		const Runtime__V1__Device *d = config->devices[i];
		const char *hp = d->host_path ? d->host_path : "";
		const char *cp = d->container_path && d->container_path[0] ? d->container_path : hp;
		const char *perms = d->permissions && d->permissions[0] ? d->permissions : "rwm";
		if (hp[0] != '/' || cp[0] != '/') {
			r = berr_set(err, EINVAL, "device paths '%s' -> '%s' must be absolute", hp,
				     cp);
			break;
		}
		if (strspn(perms, "rwm") != strlen(perms)) {
			r = berr_set(err, EINVAL, "invalid permissions '%s' for device '%s'", perms,
				     hp);
			break;
		}
		r = dev_add(&l, hp, cp, perms, err);
		if (r == 0)
			r = berr_set(err, EINVAL, "'%s' is not a device", hp);
	}
	if (r >= 0 && privileged)
		r = host_devices(&l, "/dev", 0, err);
	if (r < 0) {
		oci_devices_free(l.v, l.n);
		return r;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}
