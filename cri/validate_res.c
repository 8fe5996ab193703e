/* SPDX-License-Identifier: Apache-2.0 */
/* validate_res.c - LinuxContainerResources (CreateContainer, UpdateContainerResources,
 * a pod's overhead and resources): every value within what the kernel's cgroup
 * files take, CPUs, memory nodes and hugepage sizes this node has. */
#include "cri/validate-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

static bool parse_u64(const char *s, const char **end, uint64_t *ret)
{
	if (*s < '0' || *s > '9')
		return false;
	uint64_t v = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*end = s;
	*ret = v;
	return true;
}

int cri_cpuset_parse(const char *s, uint64_t *set, size_t nbits, const char *where,
		     struct berr **err)
{
	memset(set, 0, nbits / 8);
	const char *p = s;
	for (;;) {
		uint64_t a, b;
		const char *e;
		if (!parse_u64(p, &e, &a))
			return berr_set(err, EINVAL, "%s '%.64s' is not a list like '0-3,8'", where,
					s);
		b = a;
		if (*e == '-' && !parse_u64(e + 1, &e, &b))
			return berr_set(err, EINVAL, "%s '%.64s' is not a list like '0-3,8'", where,
					s);
		if (b < a)
			return berr_set(err, EINVAL,
					"%s '%.64s': range %" PRIu64 "-%" PRIu64 " goes down",
					where, s, a, b);
		if (b >= nbits)
			return berr_set(err, EINVAL, "%s '%.64s': %" PRIu64 " is above %zu", where,
					s, b, nbits - 1);
		for (uint64_t i = a; i <= b; i++)
			set[i / 64] |= 1ULL << (i % 64);
		if (*e == '\0')
			return 0;
		if (*e != ',')
			return berr_set(err, EINVAL, "%s '%.64s' is not a list like '0-3,8'", where,
					s);
		p = e + 1;
	}
}

/* "0-1,4" of the bits of set, for messages. */
static void set_format(const uint64_t *set, size_t nbits, char *buf, size_t size)
{
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < nbits && off + 24 < size; i++) {
		if (!(set[i / 64] & (1ULL << (i % 64))))
			continue;
		size_t j = i;
		while (j + 1 < nbits && (set[(j + 1) / 64] & (1ULL << ((j + 1) % 64))))
			j++;
		off += (size_t)snprintf(buf + off, size - off, off ? ",%zu" : "%zu", i);
		if (j > i)
			off += (size_t)snprintf(buf + off, size - off, "-%zu", j);
		i = j;
	}
}

static int cpuset_check(const char *where, const char *field, const char *s, const uint64_t *have,
			bool known, size_t nbits, const char *what, struct berr **err)
{
	char f[512];
	cri_v_path(f, sizeof(f), where, field);
	if (!s || !*s)
		return 0;
	int r = cri_v_str(where, field, s, CRI_V_CPUSET_LEN, CRI_V_NO_SPACE, err);
	uint64_t set[CRI_V_CPUS / 64];
	if (r == 0)
		r = cri_cpuset_parse(s, set, nbits, f, err);
	if (r < 0 || !known)
		return r;
	for (size_t i = 0; i < nbits; i++) {
		if ((set[i / 64] & (1ULL << (i % 64))) && !(have[i / 64] & (1ULL << (i % 64)))) {
			char online[256];
			set_format(have, nbits, online, sizeof(online));
			return berr_set(err, ERANGE,
					"%s '%.64s': %s %zu is not online on this node "
					"(online: %s)",
					f, s, what, i, online);
		}
	}
	return 0;
}

/* kubelet's and runc's page size names: "64KB", "2MB", "1GB". 0 if malformed. */
static uint64_t page_size_parse(const char *s)
{
	const char *e;
	uint64_t n;
	if (!s || !parse_u64(s, &e, &n) || n == 0 || n > (1u << 20))
		return 0;
	uint64_t mult = !strcmp(e, "KB")   ? 1ULL << 10
			: !strcmp(e, "MB") ? 1ULL << 20
			: !strcmp(e, "GB") ? 1ULL << 30
					   : 0;
	return n * mult;
}

static int hugepages_check(const struct cri_host_facts *h,
			   const Runtime__V1__LinuxContainerResources *r, const char *where,
			   struct berr **err)
{
	int rc = cri_v_count(where, "hugepage_limits", r->n_hugepage_limits, CRI_V_HUGEPAGES, err);
	uint64_t seen[CRI_V_HUGEPAGES];
	for (size_t i = 0; rc == 0 && i < r->n_hugepage_limits; i++) {
		const Runtime__V1__HugepageLimit *l = r->hugepage_limits[i];
		char f[560];
		cri_v_fmt(f, sizeof(f), "%s.hugepage_limits[%zu].page_size", where, i);
		uint64_t size = page_size_parse(l->page_size);
		if (!size)
			return berr_set(err, EINVAL, "%s '%.32s' is not a size like '2MB' or '1GB'",
					f, l->page_size ? l->page_size : "");
		for (size_t k = 0; k < i; k++)
			if (seen[k] == size)
				return berr_set(err, EINVAL, "%s '%s' is listed twice", f,
						l->page_size);
		seen[i] = size;
		if (l->limit % size)
			return berr_set(err, EINVAL,
					"%s.hugepage_limits[%zu].limit %" PRIu64
					" is not a multiple of the page size %s",
					where, i, l->limit, l->page_size);
		if (!h || !h->hugepages_known)
			continue;
		bool have = false;
		for (size_t k = 0; k < h->n_hugepage_sizes; k++)
			have = have || h->hugepage_sizes[k] == size;
		if (!have)
			return berr_set(err, ERANGE,
					"%s '%s': this node has no hugepages of that size", f,
					l->page_size);
	}
	return rc;
}

/* "max" or a number in lo..hi. */
static bool max_or_num(const char *v, uint64_t lo, uint64_t hi)
{
	const char *e;
	uint64_t n;
	if (!strcmp(v, "max"))
		return true;
	return parse_u64(v, &e, &n) && *e == '\0' && n >= lo && n <= hi;
}

static bool cpu_max_ok(const char *v)
{
	const char *e;
	uint64_t q, p = 100000;
	if (!strncmp(v, "max", 3))
		e = v + 3;
	else if (!parse_u64(v, &e, &q) || q < CRI_V_QUOTA_MIN || q > (uint64_t)CRI_V_QUOTA_MAX)
		return false;
	if (*e == ' ' &&
	    (!parse_u64(e + 1, &e, &p) || p < CRI_V_PERIOD_MIN || p > CRI_V_PERIOD_MAX))
		return false;
	return *e == '\0';
}

/* Values of the cgroup v2 files kubelet and users set through `unified`. */
static const struct {
	const char *key;
	const char *rule; /* for the message */
	bool (*ok)(const char *v);
} unified_rules[] = {
    {"cpu.max", "'max' or a quota of 1000..2^44-1 µs, optionally a period of 1000..1000000",
     cpu_max_ok},
};

static int unified_check(const struct cri_host_facts *h,
			 const Runtime__V1__LinuxContainerResources *r, const char *where,
			 struct berr **err)
{
	int rc = cri_v_count(where, "unified", r->n_unified, CRI_V_UNIFIED, err);
	if (rc == 0 && r->n_unified && h && !h->cgroup_v2)
		return berr_set(err, EOPNOTSUPP,
				"%s.unified needs cgroup v2; this node runs cgroup "
				"v1",
				where);
	for (size_t i = 0; rc == 0 && i < r->n_unified; i++) {
		const char *k = r->unified[i]->key ? r->unified[i]->key : "";
		const char *v = r->unified[i]->value ? r->unified[i]->value : "";
		char f[560];
		cri_v_fmt(f, sizeof(f), "%s.unified['%.64s']", where, k);
		const char *dot = strchr(k, '.');
		if (!dot || dot == k || !dot[1] ||
		    strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789_.") != strlen(k))
			return berr_set(err, EINVAL,
					"%s: not a cgroup file name like 'memory.high'", f);
		if (!strncmp(k, "cgroup.", 7))
			return berr_set(err, EINVAL, "%s: cgroup.* files are the runtime's", f);
		rc = cri_v_str(f, NULL, v, CRI_V_UNIFIED_VALUE, CRI_V_NO_CTRL, err);
		if (rc < 0)
			return rc;
		bool ok = true;
		const char *rule = NULL;
		if (!strcmp(k, "cpu.weight")) {
			ok = max_or_num(v, CRI_V_WEIGHT_MIN, CRI_V_WEIGHT_MAX) && strcmp(v, "max");
			rule = "1..10000";
		} else if (!strcmp(k, "pids.max")) {
			ok = max_or_num(v, 0, CRI_V_PIDS_MAX);
			rule = "'max' or 0..4194304";
		} else if (!strcmp(k, "memory.max") || !strcmp(k, "memory.high") ||
			   !strcmp(k, "memory.low") || !strcmp(k, "memory.min") ||
			   !strcmp(k, "memory.swap.max")) {
			ok = max_or_num(v, 0, INT64_MAX);
			rule = "'max' or a number of bytes";
		}
		for (size_t t = 0; t < sizeof(unified_rules) / sizeof(unified_rules[0]); t++)
			if (!strcmp(k, unified_rules[t].key)) {
				ok = unified_rules[t].ok(v);
				rule = unified_rules[t].rule;
			}
		if (!ok)
			return berr_set(err, EINVAL, "%s '%.64s' is not %s", f, v, rule);
	}
	return rc;
}

int cri_validate_resources(const struct cri_host_facts *h,
			   const Runtime__V1__LinuxContainerResources *r, const char *where,
			   struct berr **err)
{
	return cri_v_resources(h, r, where, CRI_V_RES_LIMITS | CRI_V_RES_PAIRS, err);
}

int cri_v_resources(const struct cri_host_facts *h, const Runtime__V1__LinuxContainerResources *r,
		    const char *where, unsigned mode, struct berr **err)
{
	if (!r)
		return 0;
	int rc = 0;
	if (r->cpu_shares)
		rc = cri_v_range(where, "cpu_shares", r->cpu_shares, CRI_V_SHARES_MIN,
				 CRI_V_SHARES_MAX, err);
	if (rc == 0 && r->cpu_period)
		rc = cri_v_range(where, "cpu_period", r->cpu_period, CRI_V_PERIOD_MIN,
				 CRI_V_PERIOD_MAX, err);
	if (rc == 0 && r->cpu_quota && r->cpu_quota != -1)
		rc = cri_v_range(where, "cpu_quota", r->cpu_quota, CRI_V_QUOTA_MIN, CRI_V_QUOTA_MAX,
				 err);
	/* A pod's overhead and resources are amounts, not limits a process runs under. */
	int64_t mem_min = mode & CRI_V_RES_LIMITS ? CRI_V_MEMORY_MIN : 0;
	if (rc == 0 && r->memory_limit_in_bytes)
		rc = cri_v_range(where, "memory_limit_in_bytes", r->memory_limit_in_bytes, mem_min,
				 INT64_MAX, err);
	int64_t swap = r->memory_swap_limit_in_bytes;
	if (rc == 0 && swap && swap != -1)
		rc =
		    cri_v_range(where, "memory_swap_limit_in_bytes", swap, mem_min, INT64_MAX, err);
	if (rc == 0 && swap && swap != -1 && (mode & CRI_V_RES_PAIRS)) {
		if (!r->memory_limit_in_bytes)
			rc = berr_set(err, EINVAL,
				      "%s.memory_swap_limit_in_bytes is set without "
				      "memory_limit_in_bytes",
				      where);
		if (rc == 0 && swap < r->memory_limit_in_bytes)
			rc = berr_set(err, EINVAL,
				      "%s.memory_swap_limit_in_bytes %" PRId64
				      " is below memory_limit_in_bytes %" PRId64
				      " (it counts memory and swap together)",
				      where, swap, r->memory_limit_in_bytes);
	}
	if (rc == 0)
		rc = cri_v_range(where, "oom_score_adj", r->oom_score_adj, CRI_V_OOM_MIN,
				 CRI_V_OOM_MAX, err);
	if (rc == 0)
		rc = cpuset_check(where, "cpuset_cpus", r->cpuset_cpus, h ? h->cpus : NULL,
				  h && h->cpus_known, CRI_V_CPUS, "CPU", err);
	if (rc == 0)
		rc = cpuset_check(where, "cpuset_mems", r->cpuset_mems, h ? h->mems : NULL,
				  h && h->mems_known, CRI_V_MEMS, "memory node", err);
	if (rc == 0)
		rc = hugepages_check(h, r, where, err);
	if (rc == 0)
		rc = unified_check(h, r, where, err);
	return rc;
}
