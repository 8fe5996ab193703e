/* SPDX-License-Identifier: Apache-2.0 */
/* resources.c - linux.resources from CRI LinuxContainerResources, the
 * oom_score_adj clamp, and the daemon facts the caller passes back in. */
#include "oci/oci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "oci/oci-internal.h"

int oci_oom_score_adj_clamp(int64_t requested, int floor)
{
	/* Without CAP_SYS_RESOURCE a process may not lower oom_score_adj below
	 * its own, and the container inherits the runtime's: asking for less
	 * would fail the create, so it is raised, as containerd's
	 * restrict_oom_score_adj does. */
	if (requested < floor)
		requested = floor;
	if (requested > 1000)
		requested = 1000;
	if (requested < -1000)
		requested = -1000;
	return (int)requested;
}

/* proto3 has no presence: zero means "not set" (CRI's "Default: 0 (not specified)"). */
static int64_t pick(int64_t upd, int64_t cur)
{
	return upd ? upd : cur;
}

static char *str_or(const char *upd, const char *cur)
{
	const char *s = upd && upd[0] ? upd : cur;
	return s && s[0] ? xstrdup(s) : (char *)protobuf_c_empty_string;
}

/* Hugepage limits by page size: cur's in their order, then upd's new sizes. */
static void hugepages_merge(Runtime__V1__LinuxContainerResources *out,
			    const Runtime__V1__LinuxContainerResources *cur,
			    const Runtime__V1__LinuxContainerResources *upd)
{
	size_t nc = cur ? cur->n_hugepage_limits : 0, nu = upd->n_hugepage_limits;
	out->hugepage_limits = xcalloc(nc + nu + 1, sizeof(*out->hugepage_limits));
	for (size_t i = 0; i < nc + nu; i++) {
		const Runtime__V1__HugepageLimit *h =
		    i < nc ? cur->hugepage_limits[i] : upd->hugepage_limits[i - nc];
		const char *ps = h->page_size ? h->page_size : "";
		size_t j = 0;
		while (j < out->n_hugepage_limits && strcmp(out->hugepage_limits[j]->page_size, ps))
			j++;
		if (j == out->n_hugepage_limits) {
			Runtime__V1__HugepageLimit *n = xcalloc(1, sizeof(*n));
			runtime__v1__hugepage_limit__init(n);
			n->page_size = xstrdup(ps);
			out->hugepage_limits[out->n_hugepage_limits++] = n;
		}
		out->hugepage_limits[j]->limit = h->limit;
	}
}

/* Unified entries by key, the same way. */
static void unified_merge(Runtime__V1__LinuxContainerResources *out,
			  const Runtime__V1__LinuxContainerResources *cur,
			  const Runtime__V1__LinuxContainerResources *upd)
{
	size_t nc = cur ? cur->n_unified : 0, nu = upd->n_unified;
	out->unified = xcalloc(nc + nu + 1, sizeof(*out->unified));
	for (size_t i = 0; i < nc + nu; i++) {
		const Runtime__V1__LinuxContainerResources__UnifiedEntry *e =
		    i < nc ? cur->unified[i] : upd->unified[i - nc];
		const char *k = e->key ? e->key : "";
		size_t j = 0;
		while (j < out->n_unified && strcmp(out->unified[j]->key, k))
			j++;
		if (j == out->n_unified) {
			Runtime__V1__LinuxContainerResources__UnifiedEntry *n =
			    xcalloc(1, sizeof(*n));
			runtime__v1__linux_container_resources__unified_entry__init(n);
			n->key = xstrdup(k);
			out->unified[out->n_unified++] = n;
		} else {
			free(out->unified[j]->value);
		}
		out->unified[j]->value = xstrdup(e->value ? e->value : "");
	}
}

Runtime__V1__LinuxContainerResources *
oci_resources_merge(const Runtime__V1__LinuxContainerResources *cur,
		    const Runtime__V1__LinuxContainerResources *upd, int oom_floor)
{
	static const Runtime__V1__LinuxContainerResources none =
	    RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	if (!upd)
		upd = &none;
	Runtime__V1__LinuxContainerResources *out = xcalloc(1, sizeof(*out));
	runtime__v1__linux_container_resources__init(out);
	out->cpu_period = pick(upd->cpu_period, cur ? cur->cpu_period : 0);
	out->cpu_quota = pick(upd->cpu_quota, cur ? cur->cpu_quota : 0);
	out->cpu_shares = pick(upd->cpu_shares, cur ? cur->cpu_shares : 0);
	out->memory_limit_in_bytes =
	    pick(upd->memory_limit_in_bytes, cur ? cur->memory_limit_in_bytes : 0);
	out->memory_swap_limit_in_bytes =
	    pick(upd->memory_swap_limit_in_bytes, cur ? cur->memory_swap_limit_in_bytes : 0);
	/* As the spec has it (oci_spec_build clamps also an unset 0). runc update can't
	 * change it: this is the record's value only. */
	out->oom_score_adj = oci_oom_score_adj_clamp(
	    pick(upd->oom_score_adj, cur ? cur->oom_score_adj : 0), oom_floor);
	/* containerd: a new memory limit without a swap limit sets swap = limit
	 * (0 here: oci_resources_object derives it), whatever swap was before. */
	if (upd->memory_limit_in_bytes && !upd->memory_swap_limit_in_bytes)
		out->memory_swap_limit_in_bytes = 0;
	out->cpuset_cpus = str_or(upd->cpuset_cpus, cur ? cur->cpuset_cpus : NULL);
	out->cpuset_mems = str_or(upd->cpuset_mems, cur ? cur->cpuset_mems : NULL);
	hugepages_merge(out, cur, upd);
	unified_merge(out, cur, upd);
	return out;
}

int oci_resources_object(const Runtime__V1__LinuxContainerResources *res,
			 const struct oci_runtime_opts *opts, struct json_object *out,
			 struct berr **err)
{
	if (opts->pids_limit > 0)
		json_object_object_add(oci_json_obj(out, "pids"), "limit",
				       json_object_new_int64(opts->pids_limit));
	if (!res)
		return 0;
	if (res->cpu_shares < 0 || res->cpu_period < 0 || res->memory_limit_in_bytes < 0)
		return berr_set(
		    err, EINVAL,
		    "negative cpu shares, cpu period or memory limit (%lld, %lld, %lld)",
		    (long long)res->cpu_shares, (long long)res->cpu_period,
		    (long long)res->memory_limit_in_bytes);
	bool cpu = res->cpu_shares || res->cpu_quota || res->cpu_period ||
		   (res->cpuset_cpus && res->cpuset_cpus[0]) ||
		   (res->cpuset_mems && res->cpuset_mems[0]);
	if (cpu) {
		struct json_object *c = oci_json_obj(out, "cpu");
		if (res->cpu_shares)
			json_object_object_add(c, "shares", json_object_new_int64(res->cpu_shares));
		if (res->cpu_quota)
			json_object_object_add(c, "quota", json_object_new_int64(res->cpu_quota));
		if (res->cpu_period)
			json_object_object_add(c, "period", json_object_new_int64(res->cpu_period));
		if (res->cpuset_cpus && res->cpuset_cpus[0])
			oci_json_str(c, "cpus", res->cpuset_cpus);
		if (res->cpuset_mems && res->cpuset_mems[0])
			oci_json_str(c, "mems", res->cpuset_mems);
	}
	int64_t limit = res->memory_limit_in_bytes, swap = res->memory_swap_limit_in_bytes;
	/* With no swap limit asked for, swap = limit keeps the container from
	 * swapping (containerd's default); without swap accounting runc would
	 * fail on the missing memsw files, so swap is left out. */
	if (opts->swap_supported && swap == 0)
		swap = limit;
	if (!opts->swap_supported)
		swap = 0;
	if (limit || swap) {
		struct json_object *m = oci_json_obj(out, "memory");
		if (limit)
			json_object_object_add(m, "limit", json_object_new_int64(limit));
		if (swap)
			json_object_object_add(m, "swap", json_object_new_int64(swap));
	}
	/* kubelet lists every page size, most with limit 0; without a hugetlb
	 * controller the runtime would fail, so they are dropped (containerd's
	 * tolerate_missing_hugetlb_controller). */
	if (opts->hugetlb_supported && res->n_hugepage_limits) {
		struct json_object *a = json_object_new_array();
		for (size_t i = 0; i < res->n_hugepage_limits; i++) {
			const Runtime__V1__HugepageLimit *h = res->hugepage_limits[i];
			if (!h->page_size || !h->page_size[0]) {
				json_object_put(a);
				return berr_set(err, EINVAL, "hugepage limit without page size");
			}
			struct json_object *o = json_object_new_object();
			oci_json_str(o, "pageSize", h->page_size);
			json_object_object_add(o, "limit", json_object_new_uint64(h->limit));
			json_object_array_add(a, o);
		}
		json_object_object_add(out, "hugepageLimits", a);
	}
	if (res->n_unified) {
		struct json_object *u = oci_json_obj(out, "unified");
		for (size_t i = 0; i < res->n_unified; i++) {
			const char *k = res->unified[i]->key;
			if (!k || !k[0] || strchr(k, '/'))
				return berr_set(err, EINVAL, "invalid unified key '%s'",
						k ? k : "");
			oci_json_str(u, k, res->unified[i]->value);
		}
	}
	return 0;
}

int oci_resources_build(const Runtime__V1__LinuxContainerResources *res,
			const struct oci_runtime_opts *opts, char **ret_json, struct berr **err)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	int r = oci_resources_object(res, opts, o, err);
	if (r < 0)
		return r;
	*ret_json = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
	return 0;
}

int oci_oom_score_adj_self(int *ret, struct berr **err)
{
	_cleanup_free_ char *s = NULL;
	int r = fileio_read_all("/proc/self/oom_score_adj", 64, &s, NULL, err);
	if (r < 0)
		return r;
	char *end;
	long v = strtol(s, &end, 10);
	if (end == s || v < -1000 || v > 1000)
		return berr_set(err, EPROTO, "bad /proc/self/oom_score_adj '%s'", s);
	*ret = (int)v;
	return 0;
}

int oci_caps_bounding_self(char ***ret, struct berr **err)
{
	_cleanup_free_ char *s = NULL;
	int r = fileio_read_all("/proc/self/status", 1 << 16, &s, NULL, err);
	if (r < 0)
		return r;
	const char *p = strstr(s, "\nCapBnd:");
	if (!p)
		return berr_set(err, EPROTO, "no CapBnd in /proc/self/status");
	unsigned long long mask = strtoull(p + 8, NULL, 16);
	size_t n = 0;
	char **v = xcalloc(65, sizeof(char *));
	for (int i = 0; oci_caps_known[i] && i < 64; i++)
		if (mask & (1ULL << i))
			v[n++] = xstrdup(oci_caps_known[i]);
	*ret = v;
	return 0;
}
