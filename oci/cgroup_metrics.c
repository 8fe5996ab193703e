/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup_metrics.c - what the CRI metrics RPCs need from a cgroup beyond
 * oci_cgroup_stats_read(): the CPU user/system split and CFS throttling, the
 * memory cache, mapped files, kernel memory, peak, failures and OOM kills,
 * block I/O bytes per device, the spec limits, and the processes, threads,
 * fds and sockets of its tasks (cAdvisor's and CRI-O's sets). Only reads
 * files under the given roots, so the unit tests feed it a fake tree. */
#include "oci/oci.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "oci/oci-internal.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
#define PROC_ROOT   "/proc"
#define LIST_MAX    (8 << 20) /* cgroup.procs / tasks of a big cgroup */
#define IO_MAX	    (1 << 20)
#define NO_LIMIT    (UINT64_C(1) << 62)

static uint64_t limit_of(uint64_t v)
{
	return v > NO_LIMIT ? 0 : v;
}

static int read_file(const char *dir, const char *name, size_t max, char **ret, struct berr **err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	_cleanup_berr_ struct berr *e = NULL;
	*ret = NULL;
	int r = fileio_read_all(path, max, ret, NULL, &e);
	if (r == -ENOENT)
		return 0;
	return r < 0 ? berr_move(err, &e) : 1;
}

static struct oci_cgroup_io *io_slot(struct oci_cgroup_metrics *m, unsigned maj, unsigned min)
{
	for (size_t i = 0; i < m->n_io; i++)
		if (m->io[i].major == maj && m->io[i].minor == min)
			return &m->io[i];
	m->io = xreallocarray(m->io, m->n_io + 1, sizeof(*m->io));
	m->io[m->n_io] = (struct oci_cgroup_io){.major = maj, .minor = min};
	return &m->io[m->n_io++];
}

/* v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=..." per device. */
static int io_v2(const char *dir, struct oci_cgroup_metrics *m, struct berr **err)
{
	_cleanup_free_ char *s = NULL;
	int r = read_file(dir, "io.stat", IO_MAX, &s, err);
	if (r <= 0)
		return r;
	char *save = NULL;
	for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned maj, min;
		int off = 0;
		if (sscanf(line, "%u:%u%n", &maj, &min, &off) != 2)
			continue;
		struct oci_cgroup_io *io = io_slot(m, maj, min);
		const char *rb = strstr(line + off, " rbytes="),
			   *wb = strstr(line + off, " wbytes=");
		if (rb)
			io->read_bytes = strtoull(rb + 8, NULL, 10);
		if (wb)
			io->write_bytes = strtoull(wb + 8, NULL, 10);
	}
	return 0;
}

/* v1 blkio.throttle.io_service_bytes_recursive: "8:0 Read 4096" lines. */
static int io_v1(const char *dir, struct oci_cgroup_metrics *m, struct berr **err)
{
	_cleanup_free_ char *s = NULL;
	int r = read_file(dir, "blkio.throttle.io_service_bytes_recursive", IO_MAX, &s, err);
	if (r <= 0)
		return r;
	char *save = NULL;
	for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned maj, min;
		char op[16];
		unsigned long long v;
		if (sscanf(line, "%u:%u %15s %llu", &maj, &min, op, &v) != 4)
			continue;
		if (strcmp(op, "Read") == 0)
			io_slot(m, maj, min)->read_bytes = v;
		else if (strcmp(op, "Write") == 0)
			io_slot(m, maj, min)->write_bytes = v;
	}
	return 0;
}

/* "Max open files  1024  1048576  files" of /proc/<pid>/limits: cAdvisor's one ulimit. */
static void read_nofile(const char *proc_root, long pid, struct oci_cgroup_metrics *m)
{
	_cleanup_free_ char *path = xasprintf("%s/%ld/limits", proc_root, pid);
	_cleanup_free_ char *s = NULL;
	if (fileio_read_all(path, 1 << 14, &s, NULL, NULL) < 0)
		return;
	const char *l = strstr(s, "\nMax open files");
	if (!l)
		return;
	l += strlen("\nMax open files");
	char *end = NULL;
	unsigned long long v = strtoull(l, &end, 10);
	if (end != l) { /* "unlimited" has no number */
		m->nofile_soft = v;
		m->has_nofile = true;
	}
}

/* hugetlb.<size>.<usage> files of dir: one entry per page size. */
static int hugetlb(const char *dir, const char *usage, const char *max_usage,
		   struct oci_cgroup_metrics *m, struct berr **err)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *de;
	int r = 0;
	while (r == 0 && (de = readdir(d))) {
		char size[16], rest[32];
		if (sscanf(de->d_name, "hugetlb.%15[^.].%31s", size, rest) != 2 ||
		    strcmp(rest, usage) != 0 || m->n_hugetlb >= 8)
			continue;
		struct oci_cgroup_hugetlb h = {0};
		snprintf(h.pagesize, sizeof(h.pagesize), "%s", size);
		bool have = false;
		r = oci_cg_read_u64(dir, de->d_name, &h.usage, &have, err);
		if (r == 0 && max_usage) {
			_cleanup_free_ char *mf = xasprintf("hugetlb.%s.%s", size, max_usage);
			r = oci_cg_read_u64(dir, mf, &h.max_usage, &have, err);
		}
		if (r == 0) {
			m->hugetlb = xreallocarray(m->hugetlb, m->n_hugetlb + 1, sizeof(h));
			m->hugetlb[m->n_hugetlb++] = h;
		}
	}
	closedir(d);
	return r;
}

static void count_fds(const char *proc_root, long pid, struct oci_cgroup_metrics *m)
{
	_cleanup_free_ char *dir = xasprintf("%s/%ld/fd", proc_root, pid);
	DIR *d = opendir(dir);
	if (!d) /* gone meanwhile, or not ours to read */
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		m->n_fds++;
		char target[64];
		ssize_t n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			if (strncmp(target, "socket:", 7) == 0)
				m->n_sockets++;
		}
	}
	closedir(d);
}

/* cgroup.procs (one pid a line) and the thread list: counts, and the fds of
 * each process. */
static int tasks(const char *dir, const char *threads_file, const char *proc_root,
		 struct oci_cgroup_metrics *m, struct berr **err)
{
	_cleanup_free_ char *procs = NULL, *threads = NULL;
	int r = read_file(dir, "cgroup.procs", LIST_MAX, &procs, err);
	if (r <= 0)
		return r;
	r = read_file(dir, threads_file, LIST_MAX, &threads, err);
	if (r < 0)
		return r;
	m->has_tasks = true;
	char *save = NULL;
	for (char *l = strtok_r(procs, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		long pid = strtol(l, NULL, 10);
		if (pid <= 0)
			continue;
		if (m->n_procs++ == 0)
			read_nofile(proc_root, pid, m);
		count_fds(proc_root, pid, m);
	}
	for (char *p = threads; p && *p; p++)
		if (*p == '\n')
			m->n_threads++;
	return 0;
}

static int v2_cpu(const char *dir, struct oci_cgroup_metrics *m, struct berr **err)
{
	static const char *const keys[] = {"user_usec", "system_usec", "nr_periods", "nr_throttled",
					   "throttled_usec"};
	uint64_t v[5];
	int r = oci_cg_read_keyed(dir, "cpu.stat", keys, v, 5, &m->has_cpu_detail, err);
	if (r < 0)
		return r;
	m->cpu_user_ns = v[0] * 1000;
	m->cpu_system_ns = v[1] * 1000;
	m->cpu_periods = v[2];
	m->cpu_throttled_periods = v[3];
	m->cpu_throttled_ns = v[4] * 1000;
	uint64_t weight = 0;
	r = oci_cg_read_u64(dir, "cpu.weight", &weight, &m->has_cpu_spec, err);
	if (r < 0)
		return r;
	/* kubelet's CPUWeightToCPUShares inverse (runc's ConvertCPUSharesToCgroupV2Value) */
	if (weight)
		m->cpu_shares = 2 + ((weight - 1) * 262142) / 9999;
	_cleanup_free_ char *max = NULL;
	r = read_file(dir, "cpu.max", 256, &max, err);
	if (r < 0)
		return r;
	if (r > 0) {
		char q[32];
		unsigned long long period = 0;
		if (sscanf(max, "%31s %llu", q, &period) == 2) {
			m->cpu_period_us = period;
			m->cpu_quota_us = strcmp(q, "max") == 0 ? 0 : strtoull(q, NULL, 10);
		}
	}
	return 0;
}

static int v2_memory(const char *dir, struct oci_cgroup_metrics *m, struct berr **err)
{
	static const char *const keys[] = {"file", "file_mapped", "kernel", "kernel_stack", "slab"};
	uint64_t v[5];
	int r = oci_cg_read_keyed(dir, "memory.stat", keys, v, 5, &m->has_memory_detail, err);
	if (r < 0)
		return r;
	m->mem_cache = v[0];
	m->mem_mapped_file = v[1];
	/* "kernel" is 5.18+; before, its main parts */
	m->mem_kernel = v[2] ? v[2] : v[3] + v[4];
	bool have = false;
	r = oci_cg_read_u64(dir, "memory.peak", &m->mem_max_usage, &have, err);
	if (r < 0)
		return r;
	static const char *const ev_keys[] = {"max", "oom_kill"};
	uint64_t ev[2];
	r = oci_cg_read_keyed(dir, "memory.events", ev_keys, ev, 2, &have, err);
	if (r < 0)
		return r;
	m->mem_failcnt = ev[0];
	m->mem_oom_kills = ev[1];
	r = oci_cg_read_u64(dir, "memory.low", &m->mem_reservation, &have, err);
	if (r < 0)
		return r;
	m->mem_reservation = limit_of(m->mem_reservation);
	r = oci_cg_read_u64(dir, "pids.max", &m->pids_max, &have, err);
	m->pids_max = limit_of(m->pids_max);
	return r;
}

/* PSI: "some avg10=0.00 avg60=0.00 avg300=0.00 total=123" and a "full" line, in us. */
static int psi(const char *dir, struct oci_cgroup_metrics *m, struct berr **err)
{
	static const char *const files[3] = {"cpu.pressure", "memory.pressure", "io.pressure"};
	for (int i = 0; i < 3; i++) {
		_cleanup_free_ char *s = NULL;
		int r = read_file(dir, files[i], 1024, &s, err);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		m->has_psi = true;
		char *save = NULL;
		for (char *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			const char *t = strstr(l, " total=");
			if (!t)
				continue;
			uint64_t ns = strtoull(t + 7, NULL, 10) * 1000;
			if (strncmp(l, "some ", 5) == 0)
				m->psi_some_ns[i] = ns;
			else if (strncmp(l, "full ", 5) == 0)
				m->psi_full_ns[i] = ns;
		}
	}
	return 0;
}

static int read_v2(const char *dir, const char *proc_root, struct oci_cgroup_metrics *m,
		   struct berr **err)
{
	int r = v2_cpu(dir, m, err);
	if (r == 0)
		r = v2_memory(dir, m, err);
	if (r == 0)
		r = io_v2(dir, m, err);
	if (r == 0)
		r = hugetlb(dir, "current", NULL, m, err);
	if (r == 0)
		r = psi(dir, m, err);
	if (r == 0)
		r = tasks(dir, "cgroup.threads", proc_root, m, err);
	return r;
}

static int v1_cpu(const char *root, const char *rel, struct oci_cgroup_metrics *m,
		  struct berr **err)
{
	_cleanup_free_ char *acct = xasprintf("%s/cpuacct/%s", root, rel);
	_cleanup_free_ char *cpu = xasprintf("%s/cpu/%s", root, rel);
	static const char *const acct_keys[] = {"user", "system"};
	uint64_t t[2];
	bool has_acct = false, has_stat = false, have = false;
	int r = oci_cg_read_keyed(acct, "cpuacct.stat", acct_keys, t, 2, &has_acct, err);
	if (r < 0)
		return r;
	/* cpuacct.stat counts USER_HZ ticks */
	long hz = sysconf(_SC_CLK_TCK);
	uint64_t tick_ns = hz > 0 ? 1000000000ULL / (uint64_t)hz : 10000000ULL;
	m->cpu_user_ns = t[0] * tick_ns;
	m->cpu_system_ns = t[1] * tick_ns;
	static const char *const keys[] = {"nr_periods", "nr_throttled", "throttled_time"};
	uint64_t v[3];
	r = oci_cg_read_keyed(cpu, "cpu.stat", keys, v, 3, &has_stat, err);
	if (r < 0)
		return r;
	m->has_cpu_detail = has_acct || has_stat;
	m->cpu_periods = v[0];
	m->cpu_throttled_periods = v[1];
	m->cpu_throttled_ns = v[2];
	r = oci_cg_read_u64(cpu, "cpu.shares", &m->cpu_shares, &m->has_cpu_spec, err);
	if (r == 0)
		r = oci_cg_read_u64(cpu, "cpu.cfs_period_us", &m->cpu_period_us, &have, err);
	if (r < 0)
		return r;
	/* cfs_quota_us is -1 without a quota: not a u64 */
	_cleanup_free_ char *q = NULL;
	r = read_file(cpu, "cpu.cfs_quota_us", 256, &q, err);
	if (r > 0) {
		long long quota = strtoll(q, NULL, 10);
		m->cpu_quota_us = quota > 0 ? (uint64_t)quota : 0;
	}
	return r < 0 ? r : 0;
}

static int v1_memory(const char *root, const char *rel, struct oci_cgroup_metrics *m,
		     struct berr **err)
{
	_cleanup_free_ char *mem = xasprintf("%s/memory/%s", root, rel);
	static const char *const keys[] = {"total_cache", "total_mapped_file"};
	uint64_t v[2];
	bool have = false;
	int r = oci_cg_read_keyed(mem, "memory.stat", keys, v, 2, &m->has_memory_detail, err);
	if (r < 0)
		return r;
	m->mem_cache = v[0];
	m->mem_mapped_file = v[1];
	r = oci_cg_read_u64(mem, "memory.kmem.usage_in_bytes", &m->mem_kernel, &have, err);
	if (r == 0)
		r = oci_cg_read_u64(mem, "memory.max_usage_in_bytes", &m->mem_max_usage, &have,
				    err);
	if (r == 0)
		r = oci_cg_read_u64(mem, "memory.failcnt", &m->mem_failcnt, &have, err);
	if (r == 0)
		r = oci_cg_read_u64(mem, "memory.soft_limit_in_bytes", &m->mem_reservation, &have,
				    err);
	if (r < 0)
		return r;
	m->mem_reservation = limit_of(m->mem_reservation);
	static const char *const oom_keys[] = {"oom_kill"};
	return oci_cg_read_keyed(mem, "memory.oom_control", oom_keys, &m->mem_oom_kills, 1, &have,
				 err);
}

static int read_v1(const char *root, const char *rel, const char *proc_root,
		   struct oci_cgroup_metrics *m, struct berr **err)
{
	int r = v1_cpu(root, rel, m, err);
	if (r == 0)
		r = v1_memory(root, rel, m, err);
	_cleanup_free_ char *blkio = xasprintf("%s/blkio/%s", root, rel);
	if (r == 0)
		r = io_v1(blkio, m, err);
	_cleanup_free_ char *huge = xasprintf("%s/hugetlb/%s", root, rel);
	if (r == 0)
		r = hugetlb(huge, "usage_in_bytes", "max_usage_in_bytes", m, err);
	_cleanup_free_ char *pids = xasprintf("%s/pids/%s", root, rel);
	bool have = false;
	if (r == 0)
		r = oci_cg_read_u64(pids, "pids.max", &m->pids_max, &have, err);
	m->pids_max = limit_of(m->pids_max);
	/* the task lists are the same in every controller; memory is always there
	 * for a container runc made, else pids */
	_cleanup_free_ char *mem = xasprintf("%s/memory/%s", root, rel);
	if (r == 0)
		r = tasks(mem, "tasks", proc_root, m, err);
	if (r == 0 && !m->has_tasks)
		r = tasks(pids, "tasks", proc_root, m, err);
	return r;
}

int oci_cgroup_metrics_read(const char *cgroup_root, const char *proc_root,
			    enum oci_cgroup_mode mode, enum oci_cgroup_driver d,
			    const char *cgroups_path, struct oci_cgroup_metrics *ret,
			    struct berr **err)
{
	const char *root = cgroup_root ? cgroup_root : CGROUP_ROOT;
	struct oci_cgroup_metrics m = {0};
	int r = oci_cgroup_stats_read(cgroup_root, mode, d, cgroups_path, &m.base, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *rel = NULL;
	r = oci_cgroup_rel_path(d, cgroups_path, &rel, err);
	if (r < 0)
		return r;
	const char *p = rel;
	while (*p == '/')
		p++;
	const char *proc = proc_root ? proc_root : PROC_ROOT;
	if (mode == OCI_CGROUP_MODE_V2) {
		_cleanup_free_ char *dir = xasprintf("%s/%s", root, p);
		r = read_v2(dir, proc, &m, err);
	} else {
		r = read_v1(root, p, proc, &m, err);
	}
	if (r < 0) {
		oci_cgroup_metrics_done(&m);
		return berr_wrap(err, "metrics of cgroup '%s'", cgroups_path);
	}
	*ret = m;
	return 0;
}

void oci_cgroup_metrics_done(struct oci_cgroup_metrics *m)
{
	free(m->io);
	m->io = NULL;
	m->n_io = 0;
	free(m->hugetlb);
	m->hugetlb = NULL;
	m->n_hugetlb = 0;
}
