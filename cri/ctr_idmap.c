/* SPDX-License-Identifier: Apache-2.0 */
/* ctr_idmap.c - the bind sources of a container in a pod's user namespace: every
 * CRI mount and the pod's files (/etc/hostname, /etc/hosts, /etc/resolv.conf,
 * /dev/shm) get an idmapped mount of their own under <bundle>/idmap (common/idmap.h),
 * and the spec binds those instead, so any OCI runtime (Debian's runc 1.1 has no
 * idmap support) shows them with their on-disk owners: host root's files as the
 * pod's root. Image volumes keep their tree: an overlay can't be idmapped. */
#include "cri/pod.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/idmap.h"

static int bind_one(const char *dir, const char *name, const char *src, int userns_fd,
		    bool recursive, char **ret, struct berr **err)
{
	char *target = xasprintf("%s/%s", dir, name);
	int r = idmap_bind(src, target, userns_fd, recursive, err);
	if (r < 0) {
		free(target);
		return r;
	}
	*ret = target;
	return 0;
}

int cri_ctr_idmap_prepare(const char *dir, int userns_fd, const Runtime__V1__ContainerConfig *c,
			  const struct oci_sandbox_info *sb, struct cri_ctr_idmap *ret,
			  struct berr **err)
{
	struct cri_ctr_idmap p = {0};
	p.config = *c;
	size_t n = c->n_mounts;
	p.mounts = xcalloc(n ? n : 1, sizeof(*p.mounts));
	p.copies = xcalloc(n ? n : 1, sizeof(*p.copies));
	p.sources = xcalloc(n ? n : 1, sizeof(*p.sources));
	p.config.mounts = p.mounts;
	p.sb = *sb;
	*ret = p; /* from here on the caller's cri_ctr_idmap_done() frees what is made */
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		const Runtime__V1__Mount *m = c->mounts[i];
		ret->copies[i] = *m;
		ret->mounts[i] = &ret->copies[i];
		if (m->image)
			continue;
		char name[32];
		snprintf(name, sizeof(name), "m%zu", i);
		/* rbind: the volume's submounts come along, each idmapped */
		r = bind_one(dir, name, m->host_path, userns_fd, true, &ret->sources[i], err);
		if (r == 0)
			ret->copies[i].host_path = ret->sources[i];
		else
			berr_wrap(err, "mount '%s'", m->container_path);
	}
	struct {
		const char *name;
		const char **slot;
	} files[CRI_CTR_IDMAP_FILES] = {{"hostname", &ret->sb.hostname_file},
					{"hosts", &ret->sb.hosts_file},
					{"resolv.conf", &ret->sb.resolv_file},
					{"shm", &ret->sb.shm_dir}};
	for (size_t i = 0; i < CRI_CTR_IDMAP_FILES && r == 0; i++) {
		if (!*files[i].slot)
			continue;
		r = bind_one(dir, files[i].name, *files[i].slot, userns_fd, false, &ret->files[i],
			     err);
		if (r == 0)
			*files[i].slot = ret->files[i];
	}
	return r;
}

void cri_ctr_idmap_done(struct cri_ctr_idmap *p)
{
	for (size_t i = 0; p->sources && i < p->config.n_mounts; i++)
		free(p->sources[i]);
	for (size_t i = 0; i < CRI_CTR_IDMAP_FILES; i++)
		free(p->files[i]);
	free(p->sources);
	free(p->copies);
	free(p->mounts);
	*p = (struct cri_ctr_idmap){0};
}
