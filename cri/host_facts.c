/* SPDX-License-Identifier: Apache-2.0 */
/* host_facts.c - what validation needs to know of the node, read once from
 * sysfs: online CPUs and memory nodes, hugepage sizes. */
#include "cri/validate-internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"

static bool read_set(const char *root, const char *rel, uint64_t *set, size_t nbits)
{
	_cleanup_free_ char *path = xasprintf("%s%s", root, rel);
	_cleanup_free_ char *text = NULL;
	if (fileio_read_all(path, 65536, &text, NULL, NULL) < 0)
		return false;
	text[strcspn(text, "\n")] = '\0';
	return cri_cpuset_parse(text, set, nbits, path, NULL) == 0;
}

void cri_host_facts_detect(const char *sysfs_root, bool systemd_cgroup, bool cgroup_v2,
			   struct cri_host_facts *ret)
{
	const char *root = sysfs_root ? sysfs_root : "/sys";
	struct cri_host_facts h = {.systemd_cgroup = systemd_cgroup, .cgroup_v2 = cgroup_v2};
	h.cpus_known = read_set(root, "/devices/system/cpu/online", h.cpus, CRI_V_CPUS);
	h.mems_known = read_set(root, "/devices/system/node/online", h.mems, CRI_V_MEMS);
	if (!h.mems_known) {
		/* a kernel without NUMA has memory node 0 only */
		_cleanup_free_ char *node = xasprintf("%s/devices/system/node", root);
		DIR *d = opendir(node);
		if (d)
			closedir(d);
		else
			h.mems[0] = 1, h.mems_known = true;
	}
	_cleanup_free_ char *hp = xasprintf("%s/kernel/mm/hugepages", root);
	DIR *d = opendir(hp);
	if (d) {
		h.hugepages_known = true;
		struct dirent *e;
		while ((e = readdir(d)) && h.n_hugepage_sizes < CRI_V_HUGEPAGES) {
			unsigned long long kb;
			char unit[4];
			if (sscanf(e->d_name, "hugepages-%llu%3s", &kb, unit) == 2 &&
			    !strcmp(unit, "kB"))
				h.hugepage_sizes[h.n_hugepage_sizes++] = (uint64_t)kb << 10;
		}
		closedir(d);
	}
	*ret = h;
}
