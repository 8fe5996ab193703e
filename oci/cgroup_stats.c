/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup_stats.c - CPU, memory, swap and pids counters of a cgroup, on v1 and
 * v2, as containerd's CRI plugin turns them into ContainerStats (cgroups/v3
 * metrics -> cpuContainerStats/memoryContainerStats). Only reads files under
 * the given root, so the unit tests feed it a fake tree. */
#include "oci/oci.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "oci/oci-internal.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
#define STAT_MAX    (1 << 16) /* memory.stat is ~1.5 KiB; cpu.stat less */
/* Limits above this are "unlimited": v1 reports PAGE_COUNTER_MAX rounded to
 * pages, not UINT64_MAX (kubelet's and containerd's isMemoryUnlimited). */
#define LIMIT_NONE (UINT64_C(1) << 62)

/* One number file. A missing file is 0 with *present false; "max" (v2) is
 * UINT64_MAX. */
int oci_cg_read_u64(const char *dir, const char *name, uint64_t *ret, bool *present,
		    struct berr **err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	_cleanup_free_ char *s = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	*ret = 0;
	*present = false;
	int r = fileio_read_all(path, 256, &s, NULL, &e);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return berr_move(err, &e);
	if (strncmp(s, "max", 3) == 0) {
		*ret = UINT64_MAX;
	} else {
		char *end = NULL;
		errno = 0;
		*ret = strtoull(s, &end, 10);
		if (errno || end == s || (*end && *end != '\n'))
			return berr_set(err, EPROTO, "'%s' is not a number", path);
	}
	*present = true;
	return 0;
}

/* Flat keyed file ("key value\n" lines, cpu.stat, memory.stat): the values of
 * keys[i] into vals[i]; absent keys stay 0. */
int oci_cg_read_keyed(const char *dir, const char *name, const char *const *keys, uint64_t *vals,
		      size_t n, bool *present, struct berr **err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	_cleanup_free_ char *s = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	memset(vals, 0, n * sizeof(*vals));
	*present = false;
	int r = fileio_read_all(path, STAT_MAX, &s, NULL, &e);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return berr_move(err, &e);
	for (char *line = s; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		char *sp = strchr(line, ' ');
		for (size_t i = 0; sp && i < n; i++) {
			if (strlen(keys[i]) == (size_t)(sp - line) &&
			    strncmp(line, keys[i], (size_t)(sp - line)) == 0) {
				vals[i] = strtoull(sp + 1, NULL, 10);
				break;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	*present = true;
	return 0;
}

static bool dir_exists(const char *dir)
{
	struct stat st;
	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

static uint64_t limit_of(uint64_t v)
{
	return v > LIMIT_NONE ? 0 : v;
}

static uint64_t working_set(uint64_t usage, uint64_t inactive_file)
{
	return inactive_file < usage ? usage - inactive_file : 0;
}

static int read_v2(const char *dir, struct oci_cgroup_stats *s, struct berr **err)
{
	if (!dir_exists(dir))
		return berr_set(err, ENOENT, "cgroup '%s' not found", dir);
	static const char *const cpu_keys[] = {"usage_usec"};
	uint64_t cpu[1];
	int r = oci_cg_read_keyed(dir, "cpu.stat", cpu_keys, cpu, 1, &s->has_cpu, err);
	if (r < 0)
		return r;
	s->cpu_usage_ns = cpu[0] * 1000;

	bool has_max = false, has_stat = false;
	r = oci_cg_read_u64(dir, "memory.current", &s->mem_usage, &s->has_memory, err);
	if (r == 0)
		r = oci_cg_read_u64(dir, "memory.max", &s->mem_limit, &has_max, err);
	static const char *const mem_keys[] = {"anon", "inactive_file", "pgfault", "pgmajfault"};
	uint64_t mem[4];
	if (r == 0)
		r = oci_cg_read_keyed(dir, "memory.stat", mem_keys, mem, 4, &has_stat, err);
	if (r < 0)
		return r;
	s->mem_limit = limit_of(s->mem_limit);
	s->mem_rss = mem[0];
	s->mem_working_set = working_set(s->mem_usage, mem[1]);
	s->mem_pgfault = mem[2];
	s->mem_pgmajfault = mem[3];

	bool has_swap_max = false;
	r = oci_cg_read_u64(dir, "memory.swap.current", &s->swap_usage, &s->has_swap, err);
	if (r == 0)
		r = oci_cg_read_u64(dir, "memory.swap.max", &s->swap_limit, &has_swap_max, err);
	if (r < 0)
		return r;
	s->swap_limit = limit_of(s->swap_limit);
	return oci_cg_read_u64(dir, "pids.current", &s->pids_current, &s->has_pids, err);
}

static int read_v1(const char *root, const char *rel, struct oci_cgroup_stats *s, struct berr **err)
{
	_cleanup_free_ char *cpu = xasprintf("%s/cpuacct/%s", root, rel);
	_cleanup_free_ char *mem = xasprintf("%s/memory/%s", root, rel);
	_cleanup_free_ char *pids = xasprintf("%s/pids/%s", root, rel);
	if (!dir_exists(cpu) && !dir_exists(mem) && !dir_exists(pids))
		return berr_set(err, ENOENT, "cgroup '%s' not found", rel);
	int r = oci_cg_read_u64(cpu, "cpuacct.usage", &s->cpu_usage_ns, &s->has_cpu, err);
	if (r < 0)
		return r;

	bool has_limit = false, has_stat = false;
	r = oci_cg_read_u64(mem, "memory.usage_in_bytes", &s->mem_usage, &s->has_memory, err);
	if (r == 0)
		r = oci_cg_read_u64(mem, "memory.limit_in_bytes", &s->mem_limit, &has_limit, err);
	/* total_*: hierarchical, so a pod cgroup counts its containers (the
	 * non-total ones cover the cgroup's own tasks only) */
	static const char *const mem_keys[] = {"total_rss", "total_inactive_file", "total_pgfault",
					       "total_pgmajfault"};
	uint64_t m[4];
	if (r == 0)
		r = oci_cg_read_keyed(mem, "memory.stat", mem_keys, m, 4, &has_stat, err);
	if (r < 0)
		return r;
	uint64_t limit = s->mem_limit;
	s->mem_limit = limit_of(limit);
	s->mem_rss = m[0];
	s->mem_working_set = working_set(s->mem_usage, m[1]);
	s->mem_pgfault = m[2];
	s->mem_pgmajfault = m[3];

	/* memsw counts memory + swap; it exists only with swap accounting on */
	uint64_t memsw = 0, memsw_limit = 0;
	bool has_memsw_limit = false;
	r = oci_cg_read_u64(mem, "memory.memsw.usage_in_bytes", &memsw, &s->has_swap, err);
	if (r == 0)
		r = oci_cg_read_u64(mem, "memory.memsw.limit_in_bytes", &memsw_limit,
				    &has_memsw_limit, err);
	if (r < 0)
		return r;
	s->swap_usage = memsw > s->mem_usage ? memsw - s->mem_usage : 0;
	s->swap_limit = limit_of(memsw_limit) && memsw_limit > limit ? memsw_limit - limit : 0;
	return oci_cg_read_u64(pids, "pids.current", &s->pids_current, &s->has_pids, err);
}

int oci_cgroup_stats_read(const char *cgroup_root, enum oci_cgroup_mode mode,
			  enum oci_cgroup_driver d, const char *cgroups_path,
			  struct oci_cgroup_stats *ret, struct berr **err)
{
	const char *root = cgroup_root ? cgroup_root : CGROUP_ROOT;
	if (!cgroups_path || !cgroups_path[0])
		return berr_set(err, EINVAL, "empty cgroups path");
	_cleanup_free_ char *rel = NULL;
	int r = oci_cgroup_rel_path(d, cgroups_path, &rel, err);
	if (r < 0)
		return r;
	const char *p = rel;
	while (*p == '/')
		p++;
	struct oci_cgroup_stats s = {0};
	if (mode == OCI_CGROUP_MODE_V2) {
		_cleanup_free_ char *dir = xasprintf("%s/%s", root, p);
		r = read_v2(dir, &s, err);
	} else {
		r = read_v1(root, p, &s, err);
	}
	if (r < 0)
		return berr_wrap(err, "stats of cgroup '%s'", cgroups_path);
	*ret = s;
	return 0;
}

bool oci_cpu_nano_cores(uint64_t prev_usage_ns, int64_t prev_ts_ns, uint64_t usage_ns,
			int64_t ts_ns, uint64_t *ret)
{
	if (ts_ns <= prev_ts_ns || usage_ns < prev_usage_ns)
		return false;
	*ret = (uint64_t)((double)(usage_ns - prev_usage_ns) / (double)(ts_ns - prev_ts_ns) * 1e9);
	return true;
}
