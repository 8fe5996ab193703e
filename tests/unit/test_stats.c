/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the stats pieces: the cgroup readers (oci/cgroup_stats.c) on
 * fake v1 and v2 trees, the CPU rate and its sample cache (cri/stats.c), the
 * writable layer's disk usage and mount point (common/du.c), and the link
 * counters (netns/) in a network namespace of the test's own. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "cri/metrics-internal.h"
#include "cri/pod.h"
#include "netns/netns.h"
#include "oci/oci.h"

static char *tmpdir;
static bool own_netns; /* main() moved the test into a new network namespace */

static int group_setup(void **state)
{
	char tpl[] = "/tmp/berth-test-stats-XXXXXX";
	char *d = mkdtemp(tpl);
	tmpdir = d ? xstrdup(d) : NULL;
	return tmpdir ? 0 : -1;
}

static int group_teardown(void **state)
{
	int r = fileio_remove_tree(tmpdir, NULL);
	free(tmpdir);
	return r;
}

/* Writes root/dir/name with content, creating the dirs. */
static void put(const char *root, const char *dir, const char *name, const char *content)
{
	_cleanup_free_ char *d = xasprintf("%s/%s", root, dir);
	assert_int_equal(fileio_mkdir_p(d, 0755, NULL), 0);
	_cleanup_free_ char *p = xasprintf("%s/%s", d, name);
	assert_int_equal(fileio_write_atomic_nosync(p, content, strlen(content), 0644, NULL), 0);
}

static char *fresh_root(const char *name)
{
	char *root = xasprintf("%s/%s", tmpdir, name);
	assert_int_equal(fileio_remove_tree(root, NULL), 0);
	assert_int_equal(fileio_mkdir_p(root, 0755, NULL), 0);
	return root;
}

static const char v2_memory_stat[] = "anon 3145728\n"
				     "file 2097152\n"
				     "kernel 65536\n"
				     "active_file 1048576\n"
				     "inactive_file 1048576\n"
				     "pgfault 4242\n"
				     "pgmajfault 7\n";

static void test_cgroup_stats_v2(void **state)
{
	_cleanup_free_ char *root = fresh_root("v2");
	const char *d = "kubepods/pod1/ctr";
	put(root, d, "cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n");
	put(root, d, "memory.current", "5242880\n");
	put(root, d, "memory.max", "8388608\n");
	put(root, d, "memory.stat", v2_memory_stat);
	put(root, d, "memory.swap.current", "4096\n");
	put(root, d, "memory.swap.max", "1048576\n");
	put(root, d, "pids.current", "3\n");
	struct oci_cgroup_stats s;
	assert_int_equal(oci_cgroup_stats_read(root, OCI_CGROUP_MODE_V2, OCI_CGROUP_DRIVER_CGROUPFS,
					       "/kubepods/pod1/ctr", &s, NULL),
			 0);
	assert_true(s.has_cpu);
	assert_int_equal(s.cpu_usage_ns, 1500000);
	assert_true(s.has_memory);
	assert_int_equal(s.mem_usage, 5242880);
	assert_int_equal(s.mem_limit, 8388608);
	assert_int_equal(s.mem_working_set, 5242880 - 1048576);
	assert_int_equal(s.mem_rss, 3145728);
	assert_int_equal(s.mem_pgfault, 4242);
	assert_int_equal(s.mem_pgmajfault, 7);
	assert_true(s.has_swap);
	assert_int_equal(s.swap_usage, 4096);
	assert_int_equal(s.swap_limit, 1048576);
	assert_true(s.has_pids);
	assert_int_equal(s.pids_current, 3);
}

/* "max" limits are none; controllers not enabled leave their has_ false. */
static void test_cgroup_stats_v2_unlimited(void **state)
{
	_cleanup_free_ char *root = fresh_root("v2u");
	put(root, "berth/c", "cpu.stat", "usage_usec 7\n");
	put(root, "berth/c", "memory.current", "100\n");
	put(root, "berth/c", "memory.max", "max\n");
	put(root, "berth/c", "memory.stat", "inactive_file 4096\n");
	struct oci_cgroup_stats s;
	assert_int_equal(oci_cgroup_stats_read(root, OCI_CGROUP_MODE_V2, OCI_CGROUP_DRIVER_CGROUPFS,
					       "/berth/c", &s, NULL),
			 0);
	assert_int_equal(s.cpu_usage_ns, 7000);
	assert_int_equal(s.mem_limit, 0);
	/* inactive_file above usage: working set 0, never a wrap-around */
	assert_int_equal(s.mem_working_set, 0);
	assert_false(s.has_swap);
	assert_false(s.has_pids);
}

/* The systemd driver's slice:prefix:name is found at its expanded scope. */
static void test_cgroup_stats_v2_systemd(void **state)
{
	_cleanup_free_ char *root = fresh_root("v2s");
	const char *d = "kubepods.slice/kubepods-pod1.slice/berth-abc.scope";
	put(root, d, "cpu.stat", "usage_usec 2\n");
	struct oci_cgroup_stats s;
	assert_int_equal(oci_cgroup_stats_read(root, OCI_CGROUP_MODE_V2, OCI_CGROUP_DRIVER_SYSTEMD,
					       "kubepods-pod1.slice:berth:abc", &s, NULL),
			 0);
	assert_true(s.has_cpu);
	assert_int_equal(s.cpu_usage_ns, 2000);
	assert_false(s.has_memory);
}

static const char v1_memory_stat[] = "cache 2097152\n"
				     "rss 1048576\n"
				     "inactive_file 1\n"
				     "pgfault 1\n"
				     "total_cache 2097152\n"
				     "total_rss 3145728\n"
				     "total_inactive_file 524288\n"
				     "total_pgfault 900\n"
				     "total_pgmajfault 9\n";

static void test_cgroup_stats_v1(void **state)
{
	_cleanup_free_ char *root = fresh_root("v1");
	put(root, "cpuacct/berth/c1", "cpuacct.usage", "123456789\n");
	put(root, "memory/berth/c1", "memory.usage_in_bytes", "6291456\n");
	put(root, "memory/berth/c1", "memory.limit_in_bytes", "9223372036854771712\n");
	put(root, "memory/berth/c1", "memory.stat", v1_memory_stat);
	put(root, "memory/berth/c1", "memory.memsw.usage_in_bytes", "6295552\n");
	put(root, "memory/berth/c1", "memory.memsw.limit_in_bytes", "9223372036854771712\n");
	put(root, "pids/berth/c1", "pids.current", "2\n");
	struct oci_cgroup_stats s;
	for (int mode = OCI_CGROUP_MODE_V1; mode <= OCI_CGROUP_MODE_HYBRID; mode++) {
		assert_int_equal(oci_cgroup_stats_read(root, mode, OCI_CGROUP_DRIVER_CGROUPFS,
						       "/berth/c1", &s, NULL),
				 0);
		assert_true(s.has_cpu);
		assert_int_equal(s.cpu_usage_ns, 123456789);
		assert_true(s.has_memory);
		assert_int_equal(s.mem_usage, 6291456);
		assert_int_equal(s.mem_limit, 0); /* PAGE_COUNTER_MAX: unlimited */
		/* total_*: the hierarchical figures */
		assert_int_equal(s.mem_working_set, 6291456 - 524288);
		assert_int_equal(s.mem_rss, 3145728);
		assert_int_equal(s.mem_pgfault, 900);
		assert_int_equal(s.mem_pgmajfault, 9);
		assert_true(s.has_swap);
		assert_int_equal(s.swap_usage, 4096);
		assert_int_equal(s.swap_limit, 0);
		assert_true(s.has_pids);
		assert_int_equal(s.pids_current, 2);
	}
}

static void test_cgroup_stats_v1_limited(void **state)
{
	_cleanup_free_ char *root = fresh_root("v1l");
	put(root, "memory/kubepods/p/c", "memory.usage_in_bytes", "1000\n");
	put(root, "memory/kubepods/p/c", "memory.limit_in_bytes", "4096\n");
	put(root, "memory/kubepods/p/c", "memory.stat", "total_inactive_file 100\n");
	put(root, "memory/kubepods/p/c", "memory.memsw.usage_in_bytes", "1000\n");
	put(root, "memory/kubepods/p/c", "memory.memsw.limit_in_bytes", "8192\n");
	struct oci_cgroup_stats s;
	assert_int_equal(oci_cgroup_stats_read(root, OCI_CGROUP_MODE_V1, OCI_CGROUP_DRIVER_CGROUPFS,
					       "/kubepods/p/c", &s, NULL),
			 0);
	assert_false(s.has_cpu); /* no cpuacct hierarchy in this tree */
	assert_false(s.has_pids);
	assert_int_equal(s.mem_limit, 4096);
	assert_int_equal(s.mem_working_set, 900);
	assert_int_equal(s.swap_usage, 0);
	assert_int_equal(s.swap_limit, 4096);
}

static void test_cgroup_stats_gone(void **state)
{
	_cleanup_free_ char *root = fresh_root("gone");
	put(root, "memory/berth/other", "memory.usage_in_bytes", "1\n");
	struct oci_cgroup_stats s;
	for (int mode = OCI_CGROUP_MODE_V1; mode < OCI_CGROUP_MODE_MAX; mode++) {
		_cleanup_berr_ struct berr *e = NULL;
		assert_int_equal(oci_cgroup_stats_read(root, mode, OCI_CGROUP_DRIVER_CGROUPFS,
						       "/berth/c9", &s, &e),
				 -ENOENT);
		assert_non_null(strstr(berr_msg(e), "stats of cgroup '/berth/c9'"));
		assert_non_null(strstr(berr_msg(e), "not found"));
	}
}

static void test_cgroup_stats_bad_input(void **state)
{
	_cleanup_free_ char *root = fresh_root("bad");
	struct oci_cgroup_stats s;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(oci_cgroup_stats_read(root, OCI_CGROUP_MODE_V2, OCI_CGROUP_DRIVER_CGROUPFS,
					       "/berth/../../etc", &s, &e),
			 -EINVAL);
	assert_non_null(strstr(berr_msg(e), "contains '..'"));
	e = berr_free(e);
	assert_int_equal(oci_cgroup_stats_read(root, OCI_CGROUP_MODE_V2, OCI_CGROUP_DRIVER_SYSTEMD,
					       "not-a-triple", &s, &e),
			 -EINVAL);
	assert_non_null(strstr(berr_msg(e), "slice:prefix:name"));
	e = berr_free(e);
	assert_int_equal(
	    oci_cgroup_stats_read(root, OCI_CGROUP_MODE_V2, OCI_CGROUP_DRIVER_CGROUPFS, "", &s, &e),
	    -EINVAL);
	e = berr_free(e);
	put(root, "berth/c", "memory.current", "lots\n");
	assert_int_equal(oci_cgroup_stats_read(root, OCI_CGROUP_MODE_V2, OCI_CGROUP_DRIVER_CGROUPFS,
					       "/berth/c", &s, &e),
			 -EPROTO);
	assert_non_null(strstr(berr_msg(e), "memory.current' is not a number"));
}

static void test_cpu_nano_cores(void **state)
{
	const struct {
		uint64_t pu;
		int64_t pt;
		uint64_t u;
		int64_t t;
		bool ok;
		uint64_t want;
	} cases[] = {
	    {0, 0, 1000000000, 1000000000, true, 1000000000},	 /* one core busy */
	    {500, 1000, 500, 2000, true, 0},			 /* idle */
	    {0, 0, 250000000, 1000000000, true, 250000000},	 /* a quarter */
	    {0, 0, 4000000000ULL, 2000000000, true, 2000000000}, /* two cores */
	    {100, 1000, 200, 1000, false, 0},			 /* no time passed */
	    {100, 2000, 200, 1000, false, 0},			 /* time went back */
	    {300, 1000, 200, 2000, false, 0},			 /* usage went down */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t got = 12345;
		assert_int_equal(
		    oci_cpu_nano_cores(cases[i].pu, cases[i].pt, cases[i].u, cases[i].t, &got),
		    cases[i].ok);
		if (cases[i].ok)
			assert_int_equal(got, cases[i].want);
	}
}

static void test_cpu_cache(void **state)
{
	struct cri_cpu_cache *c = cri_cpu_cache_new();
	uint64_t rate = 0;
	const int64_t s = 1000000000LL;
	/* first sample: no rate */
	assert_false(cri_cpu_cache_rate(c, "a", 1 * s, 100 * s, &rate));
	assert_false(cri_cpu_cache_rate(c, "b", 5 * s, 100 * s, &rate));
	/* one second later, half a second used */
	assert_true(cri_cpu_cache_rate(c, "a", 1 * s + s / 2, 101 * s, &rate));
	assert_int_equal(rate, 500000000);
	/* measured against the newest sample */
	assert_true(cri_cpu_cache_rate(c, "a", 2 * s + s / 2, 102 * s, &rate));
	assert_int_equal(rate, 1000000000);
	/* same timestamp: none, and the sample is kept */
	assert_false(cri_cpu_cache_rate(c, "a", 3 * s, 102 * s, &rate));
	assert_true(cri_cpu_cache_rate(c, "a", 3 * s, 103 * s, &rate));
	assert_int_equal(rate, s / 2);
	/* usage went down (a new cgroup under the same ID): restart from it */
	assert_false(cri_cpu_cache_rate(c, "a", 1, 104 * s, &rate));
	assert_true(cri_cpu_cache_rate(c, "a", 1 + s, 105 * s, &rate));
	assert_int_equal(rate, 1000000000);
	/* "b", not seen for over 10 minutes, was dropped by the calls for "a" */
	assert_true(cri_cpu_cache_rate(c, "a", 2 * s, 800 * s, &rate));
	assert_false(cri_cpu_cache_rate(c, "b", 6 * s, 801 * s, &rate));
	c = cri_cpu_cache_free(c);
	assert_null(c);
	assert_null(cri_cpu_cache_free(NULL));
}

static void write_bytes(const char *path, size_t n)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	_cleanup_free_ char *buf = xmalloc(n);
	memset(buf, 'x', n);
	assert_int_equal(fileio_write_all(fd, buf, n), 0);
}

static void test_disk_usage(void **state)
{
	_cleanup_free_ char *root = fresh_root("du");
	uint64_t bytes0 = 0, inodes0 = 0, bytes = 0, inodes = 0;
	assert_int_equal(fileio_disk_usage(root, &bytes0, &inodes0, NULL), 0);
	assert_int_equal(inodes0, 1); /* the root itself */
	_cleanup_free_ char *sub = xasprintf("%s/a/b", root);
	assert_int_equal(fileio_mkdir_p(sub, 0755, NULL), 0);
	_cleanup_free_ char *f = xasprintf("%s/big", sub);
	write_bytes(f, 4 << 20);
	_cleanup_free_ char *hl = xasprintf("%s/a/hard", root);
	assert_int_equal(link(f, hl), 0);
	_cleanup_free_ char *sym = xasprintf("%s/sym", root);
	assert_int_equal(symlink("/", sym), 0);
	assert_int_equal(fileio_disk_usage(root, &bytes, &inodes, NULL), 0);
	/* root, a, a/b, big (once for both names), sym */
	assert_int_equal(inodes, 5);
	assert_true(bytes >= bytes0 + (4u << 20));
	assert_true(bytes < bytes0 + (4u << 20) + (1u << 20));
	_cleanup_free_ char *missing = xasprintf("%s/none", root);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(fileio_disk_usage(missing, &bytes, &inodes, &e), -ENOENT);
	assert_non_null(strstr(berr_msg(e), "/none'"));
}

/* A tree deeper than any fd limit: one directory is open at a time. */
static void test_disk_usage_deep(void **state)
{
	_cleanup_free_ char *root = fresh_root("deep");
	_cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	const int depth = 1500; /* 2 chars a level: within PATH_MAX */
	for (int i = 0; i < depth; i++) {
		assert_int_equal(mkdirat(fd, "d", 0755), 0);
		int next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	uint64_t bytes = 0, inodes = 0;
	assert_int_equal(fileio_disk_usage(root, &bytes, &inodes, NULL), 0);
	assert_int_equal(inodes, (uint64_t)depth + 1);
}

static void test_mountpoint(void **state)
{
	_cleanup_free_ char *mi = xasprintf("%s/mountinfo", tmpdir);
	const char text[] = "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
			    "30 22 0:5 / /var/lib rw - ext4 /dev/sdb1 rw\n"
			    "31 22 0:6 / /var/lib/berthx rw - tmpfs t rw\n"
			    "32 30 0:7 / /var/lib/berth rw - xfs /dev/sdc1 rw\n";
	assert_int_equal(fileio_write_atomic_nosync(mi, text, strlen(text), 0644, NULL), 0);
	const char *cases[][2] = {
	    {"/var/lib/berth/containers", "/var/lib/berth"},
	    {"/var/lib/berth", "/var/lib/berth"},
	    {"/var/lib/berthd/x", "/var/lib"},
	    {"/srv/x", "/"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *mp = fileio_mountpoint(cases[i][0], mi);
		assert_string_equal(mp, cases[i][1]);
	}
	/* the kernel's answer (statx) is the one this process's mountinfo gives */
	_cleanup_free_ char *missing = xasprintf("%s/not/there", tmpdir);
	const char *real[] = {"/", "/proc/self/fd", "/sys/fs/cgroup", "/dev/null", tmpdir, missing};
	for (size_t i = 0; i < sizeof(real) / sizeof(real[0]); i++) {
		_cleanup_free_ char *k = fileio_mountpoint(real[i], NULL);
		_cleanup_free_ char *m = fileio_mountpoint(real[i], "/proc/self/mountinfo");
		assert_string_equal(k, m);
	}
}

static const struct netns_link_stats *find_link(const struct netns_link_stats *v, size_t n,
						const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

/* In the test's own netns: lo is left out, a veth pair is listed. */
static void test_link_stats(void **state)
{
	if (!own_netns)
		fail_msg("no network namespace of our own (needs root)");
	_cleanup_free_ struct netns_link_stats *v = NULL;
	size_t n = 99;
	assert_int_equal(netns_link_stats(NULL, &v, &n, NULL), 0);
	assert_null(find_link(v, n, "lo"));
	size_t before = n;
	assert_int_equal(system("ip link add st0 type veth peer name st1"), 0);
	free(v);
	v = NULL;
	assert_int_equal(netns_link_stats(NULL, &v, &n, NULL), 0);
	assert_int_equal(n, before + 2);
	const struct netns_link_stats *l = find_link(v, n, "st0");
	assert_non_null(l);
	assert_int_equal(l->rx_bytes, 0);
	assert_int_equal(l->tx_errors, 0);
	assert_non_null(find_link(v, n, "st1"));
	_cleanup_berr_ struct berr *e = NULL;
	free(v);
	v = NULL;
	_cleanup_free_ char *bad = xasprintf("%s/no-netns", tmpdir);
	assert_true(netns_link_stats(bad, &v, &n, &e) < 0);
	assert_int_equal(e->code, ENOENT);
}

/* ---- metrics: the cAdvisor extras (oci/cgroup_metrics.c) ---- */

static void test_cgroup_metrics_v2(void **state)
{
	_cleanup_free_ char *root = fresh_root("m2");
	const char *d = "kubepods/pod1/ctr";
	put(root, d, "cpu.stat",
	    "usage_usec 3000000\nuser_usec 2000000\nsystem_usec 1000000\nnr_periods 40\n"
	    "nr_throttled 7\nthrottled_usec 2500000\n");
	put(root, d, "cpu.weight", "20\n");
	put(root, d, "cpu.max", "50000 100000\n");
	put(root, d, "memory.current", "5242880\n");
	put(root, d, "memory.max", "max\n");
	put(root, d, "memory.peak", "6291456\n");
	put(root, d, "memory.low", "1048576\n");
	put(root, d, "memory.events", "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n");
	put(root, d, "memory.stat", v2_memory_stat);
	put(root, d, "io.stat", "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2\n253:1 rbytes=1\n");
	put(root, d, "pids.current", "1\n");
	put(root, d, "pids.max", "max\n");
	/* the test's own process: its fds are counted from /proc */
	_cleanup_free_ char *pid = xasprintf("%d\n", getpid());
	put(root, d, "cgroup.procs", pid);
	put(root, d, "cgroup.threads", "1\n2\n3\n");
	put(root, d, "hugetlb.2MB.current", "4194304\n");
	put(root, d, "hugetlb.2MB.max", "max\n");
	put(root, d, "hugetlb.1GB.current", "0\n");
	put(root, d, "cpu.pressure",
	    "some avg10=0.00 avg60=0.00 avg300=0.00 total=2500000\n"
	    "full avg10=0.00 avg60=0.00 avg300=0.00 total=1000\n");
	put(root, d, "io.pressure", "some avg10=1.00 avg60=0.00 avg300=0.00 total=7\n");
	struct oci_cgroup_metrics m;
	assert_int_equal(oci_cgroup_metrics_read(root, NULL, OCI_CGROUP_MODE_V2,
						 OCI_CGROUP_DRIVER_CGROUPFS,
						 "/"
						 "kubepods/pod1/ctr",
						 &m, NULL),
			 0);
	assert_int_equal(m.base.cpu_usage_ns, 3000000000ULL);
	assert_true(m.has_cpu_detail);
	assert_int_equal(m.cpu_user_ns, 2000000000ULL);
	assert_int_equal(m.cpu_system_ns, 1000000000ULL);
	assert_int_equal(m.cpu_periods, 40);
	assert_int_equal(m.cpu_throttled_periods, 7);
	assert_int_equal(m.cpu_throttled_ns, 2500000000ULL);
	assert_true(m.has_cpu_spec);
	assert_int_equal(m.cpu_shares, 2 + (19 * 262142) / 9999);
	assert_int_equal(m.cpu_quota_us, 50000);
	assert_int_equal(m.cpu_period_us, 100000);
	assert_true(m.has_memory_detail);
	assert_int_equal(m.mem_cache, 2097152);
	assert_int_equal(m.mem_kernel, 65536);
	assert_int_equal(m.mem_max_usage, 6291456);
	assert_int_equal(m.mem_failcnt, 5);
	assert_int_equal(m.mem_oom_kills, 1);
	assert_int_equal(m.mem_reservation, 1048576);
	assert_int_equal(m.base.mem_limit, 0);
	assert_int_equal(m.pids_max, 0);
	assert_int_equal(m.n_io, 2);
	assert_int_equal(m.io[0].major, 8);
	assert_int_equal(m.io[0].read_bytes, 4096);
	assert_int_equal(m.io[0].write_bytes, 8192);
	assert_int_equal(m.io[1].minor, 1);
	assert_int_equal(m.io[1].write_bytes, 0);
	assert_true(m.has_tasks);
	assert_int_equal(m.n_procs, 1);
	assert_int_equal(m.n_threads, 3);
	/* the first process's soft RLIMIT_NOFILE, from its /proc/<pid>/limits */
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_true(m.has_nofile);
	assert_int_equal(m.nofile_soft, rl.rlim_cur);
	assert_int_equal(m.n_hugetlb, 2);
	for (size_t i = 0; i < m.n_hugetlb; i++) {
		bool two = strcmp(m.hugetlb[i].pagesize, "2MB") == 0;
		assert_true(two || strcmp(m.hugetlb[i].pagesize, "1GB") == 0);
		assert_int_equal(m.hugetlb[i].usage, two ? 4194304 : 0);
		assert_int_equal(m.hugetlb[i].max_usage, 0); /* v2 keeps none */
	}
	assert_true(m.has_psi);
	assert_int_equal(m.psi_some_ns[0], 2500000000ULL);
	assert_int_equal(m.psi_full_ns[0], 1000000);
	assert_int_equal(m.psi_some_ns[1], 0); /* no memory.pressure here */
	assert_int_equal(m.psi_some_ns[2], 7000);
	/* stdin/out/err at least; a socket made now is one more of each */
	uint64_t fds = m.n_fds, socks = m.n_sockets;
	assert_true(fds >= 3);
	oci_cgroup_metrics_done(&m);
	int sk = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(sk >= 0);
	assert_int_equal(oci_cgroup_metrics_read(root, NULL, OCI_CGROUP_MODE_V2,
						 OCI_CGROUP_DRIVER_CGROUPFS, "/kubepods/pod1/ctr",
						 &m, NULL),
			 0);
	assert_int_equal(m.n_fds, fds + 1);
	assert_int_equal(m.n_sockets, socks + 1);
	close(sk);
	oci_cgroup_metrics_done(&m);
}

static void test_cgroup_metrics_v1(void **state)
{
	_cleanup_free_ char *root = fresh_root("m1");
	const char *cg = "/berth/c1";
	put(root, "cpuacct/berth/c1", "cpuacct.usage", "123456789\n");
	put(root, "cpuacct/berth/c1", "cpuacct.stat", "user 150\nsystem 50\n");
	put(root, "cpu/berth/c1", "cpu.stat",
	    "nr_periods 10\nnr_throttled 3\nthrottled_time 900\n");
	put(root, "cpu/berth/c1", "cpu.shares", "512\n");
	put(root, "cpu/berth/c1", "cpu.cfs_period_us", "100000\n");
	put(root, "cpu/berth/c1", "cpu.cfs_quota_us", "-1\n");
	put(root, "memory/berth/c1", "memory.usage_in_bytes", "6291456\n");
	put(root, "memory/berth/c1", "memory.limit_in_bytes", "268435456\n");
	put(root, "memory/berth/c1", "memory.max_usage_in_bytes", "7340032\n");
	put(root, "memory/berth/c1", "memory.failcnt", "4\n");
	put(root, "memory/berth/c1", "memory.kmem.usage_in_bytes", "8192\n");
	put(root, "memory/berth/c1", "memory.soft_limit_in_bytes", "9223372036854771712\n");
	put(root, "memory/berth/c1", "memory.oom_control",
	    "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
	put(root, "memory/berth/c1", "memory.stat", v1_memory_stat);
	put(root, "memory/berth/c1", "cgroup.procs", "");
	put(root, "memory/berth/c1", "tasks", "");
	put(root, "blkio/berth/c1", "blkio.throttle.io_service_bytes_recursive",
	    "8:0 Read 100\n8:0 Write 200\n8:0 Sync 300\n8:0 Total 300\nTotal 300\n");
	put(root, "pids/berth/c1", "pids.current", "0\n");
	put(root, "pids/berth/c1", "pids.max", "64\n");
	put(root, "hugetlb/berth/c1", "hugetlb.2MB.usage_in_bytes", "2097152\n");
	put(root, "hugetlb/berth/c1", "hugetlb.2MB.max_usage_in_bytes", "6291456\n");
	put(root, "hugetlb/berth/c1", "hugetlb.2MB.limit_in_bytes", "9223372036854771712\n");
	struct oci_cgroup_metrics m;
	assert_int_equal(oci_cgroup_metrics_read(root, NULL, OCI_CGROUP_MODE_HYBRID,
						 OCI_CGROUP_DRIVER_CGROUPFS, cg, &m, NULL),
			 0);
	long hz = sysconf(_SC_CLK_TCK);
	assert_int_equal(m.cpu_user_ns, 150 * (1000000000ULL / (uint64_t)hz));
	assert_int_equal(m.cpu_system_ns, 50 * (1000000000ULL / (uint64_t)hz));
	assert_int_equal(m.cpu_throttled_periods, 3);
	assert_int_equal(m.cpu_throttled_ns, 900);
	assert_int_equal(m.cpu_shares, 512);
	assert_int_equal(m.cpu_quota_us, 0); /* -1: none */
	assert_int_equal(m.mem_max_usage, 7340032);
	assert_int_equal(m.mem_failcnt, 4);
	assert_int_equal(m.mem_kernel, 8192);
	assert_int_equal(m.mem_reservation, 0);
	assert_int_equal(m.mem_oom_kills, 2);
	assert_int_equal(m.base.mem_limit, 268435456);
	assert_int_equal(m.n_io, 1);
	assert_int_equal(m.io[0].read_bytes, 100);
	assert_int_equal(m.io[0].write_bytes, 200);
	assert_int_equal(m.pids_max, 64);
	assert_true(m.has_tasks);
	assert_int_equal(m.n_procs, 0);
	assert_false(m.has_nofile); /* no process to ask */
	assert_int_equal(m.n_hugetlb, 1);
	assert_string_equal(m.hugetlb[0].pagesize, "2MB");
	assert_int_equal(m.hugetlb[0].usage, 2097152);
	assert_int_equal(m.hugetlb[0].max_usage, 6291456);
	oci_cgroup_metrics_done(&m);
	/* gone: as the stats reader */
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(oci_cgroup_metrics_read(root, NULL, OCI_CGROUP_MODE_V1,
						 OCI_CGROUP_DRIVER_CGROUPFS, "/berth/gone", &m, &e),
			 -ENOENT);
	assert_non_null(strstr(berr_msg(e), "not found"));
}

/* The descriptor table: names unique and cAdvisor-shaped, counters named _total. */
static void test_metric_descriptors(void **state)
{
	for (size_t i = 0; i < CRI_M_MAX; i++) {
		const struct cri_metric_desc *d = &cri_metric_descs[i];
		assert_non_null(d->name);
		assert_non_null(d->help);
		assert_true(strncmp(d->name, "container_", 10) == 0);
		size_t len = strlen(d->name);
		/* cAdvisor's two exceptions: failcnt, a counter without the
		 * suffix, and inodes_total, a gauge with it */
		bool total = (len > 6 && strcmp(d->name + len - 6, "_total") == 0 &&
			      strcmp(d->name, "container_fs_inodes_total") != 0) ||
			     strcmp(d->name, "container_memory_failcnt") == 0;
		assert_int_equal(total, d->type == RUNTIME__V1__METRIC_TYPE__COUNTER);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(d->name, cri_metric_descs[j].name);
		assert_true(cri_metric_n_keys(i) >= CRI_METRIC_N_BASE);
	}
}

int main(void)
{
	/* Before any thread: a private network namespace, gone with the process. */
	own_netns = unshare(CLONE_NEWNET) == 0;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cgroup_stats_v2),
	    cmocka_unit_test(test_cgroup_stats_v2_unlimited),
	    cmocka_unit_test(test_cgroup_stats_v2_systemd),
	    cmocka_unit_test(test_cgroup_stats_v1),
	    cmocka_unit_test(test_cgroup_stats_v1_limited),
	    cmocka_unit_test(test_cgroup_stats_gone),
	    cmocka_unit_test(test_cgroup_stats_bad_input),
	    cmocka_unit_test(test_cpu_nano_cores),
	    cmocka_unit_test(test_cpu_cache),
	    cmocka_unit_test(test_disk_usage),
	    cmocka_unit_test(test_disk_usage_deep),
	    cmocka_unit_test(test_mountpoint),
	    cmocka_unit_test(test_link_stats),
	    cmocka_unit_test(test_cgroup_metrics_v2),
	    cmocka_unit_test(test_cgroup_metrics_v1),
	    cmocka_unit_test(test_metric_descriptors),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
