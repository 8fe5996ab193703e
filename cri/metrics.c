/* SPDX-License-Identifier: Apache-2.0 */
/* metrics.c - ListMetricDescriptors, ListPodSandboxMetrics and
 * StreamPodSandboxMetrics: cAdvisor's container_* metrics (names, help texts,
 * types and label keys as kubelet's /metrics/cadvisor serves them; CRI-O's set
 * and more), per container from its cgroup (oci/cgroup_metrics.c) and
 * writable layer, and per pod from its cgroup and the interfaces of its
 * network namespace (netns/). The descriptor table is fixed at build time and
 * every metric an answer carries is in it (tests/unit/test_stats.c checks).
 * Like stats.c: nothing collected in the background, no lock held while
 * reading, a container or pod that goes away meanwhile is left out. */
#define LOG_COMPONENT "cri" /* before any header: cri.h includes log.h */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/ids.h"
#include "cri/metrics-internal.h"
#include "cri/pod.h"
#include "cri/validate-internal.h"
#include "netns/netns.h"

#define C RUNTIME__V1__METRIC_TYPE__COUNTER
#define G RUNTIME__V1__METRIC_TYPE__GAUGE

/* kubelet's /metrics/cadvisor label keys; metric-specific keys follow them */
const char *const cri_metric_base_keys[CRI_METRIC_N_BASE] = {
    "container", "id", "image", "name", "namespace", "pod",
};

#define D(id, n, t, h, ...) [id] = {n, h, t, {__VA_ARGS__}}
const struct cri_metric_desc cri_metric_descs[CRI_M_MAX] = {
    D(CRI_M_CPU_USAGE, "container_cpu_usage_seconds_total", C,
      "Cumulative cpu time consumed in seconds.", "cpu"),
    D(CRI_M_CPU_USER, "container_cpu_user_seconds_total", C,
      "Cumulative user cpu time consumed in seconds."),
    D(CRI_M_CPU_SYSTEM, "container_cpu_system_seconds_total", C,
      "Cumulative system cpu time consumed in seconds."),
    D(CRI_M_CPU_PERIODS, "container_cpu_cfs_periods_total", C,
      "Number of elapsed enforcement period intervals."),
    D(CRI_M_CPU_THROTTLED_PERIODS, "container_cpu_cfs_throttled_periods_total", C,
      "Number of throttled period intervals."),
    D(CRI_M_CPU_THROTTLED_SECONDS, "container_cpu_cfs_throttled_seconds_total", C,
      "Total time duration the container has been throttled."),
    D(CRI_M_MEM_USAGE, "container_memory_usage_bytes", G,
      "Current memory usage in bytes, including all memory regardless of when it was "
      "accessed"),
    D(CRI_M_MEM_WORKING_SET, "container_memory_working_set_bytes", G,
      "Current working set in bytes."),
    D(CRI_M_MEM_RSS, "container_memory_rss", G, "Size of RSS in bytes."),
    D(CRI_M_MEM_CACHE, "container_memory_cache", G, "Number of bytes of page cache memory."),
    D(CRI_M_MEM_SWAP, "container_memory_swap", G, "Container swap usage in bytes."),
    D(CRI_M_MEM_MAPPED_FILE, "container_memory_mapped_file", G,
      "Size of memory mapped files in bytes."),
    D(CRI_M_MEM_KERNEL, "container_memory_kernel_usage", G,
      "Size of kernel memory allocated in bytes."),
    D(CRI_M_MEM_MAX_USAGE, "container_memory_max_usage_bytes", G,
      "Maximum memory usage recorded in bytes"),
    D(CRI_M_MEM_FAILCNT, "container_memory_failcnt", C, "Number of memory usage hits limits"),
    D(CRI_M_MEM_FAILURES, "container_memory_failures_total", C,
      "Cumulative count of memory allocation failures.", "failure_type", "scope"),
    D(CRI_M_OOM_EVENTS, "container_oom_events_total", C,
      "Count of out of memory events observed for the container"),
    D(CRI_M_FS_USAGE, "container_fs_usage_bytes", G,
      "Number of bytes that are consumed by the container on this filesystem.", "device"),
    D(CRI_M_FS_LIMIT, "container_fs_limit_bytes", G,
      "Number of bytes that can be consumed by the container on this filesystem.", "device"),
    D(CRI_M_FS_INODES_FREE, "container_fs_inodes_free", G, "Number of available Inodes", "device"),
    D(CRI_M_FS_INODES_TOTAL, "container_fs_inodes_total", G, "Number of Inodes", "device"),
    D(CRI_M_FS_READS_BYTES, "container_fs_reads_bytes_total", C, "Cumulative count of bytes read",
      "device"),
    D(CRI_M_FS_WRITES_BYTES, "container_fs_writes_bytes_total", C,
      "Cumulative count of bytes written", "device"),
    D(CRI_M_NET_RX_BYTES, "container_network_receive_bytes_total", C,
      "Cumulative count of bytes received", "interface"),
    D(CRI_M_NET_RX_PACKETS, "container_network_receive_packets_total", C,
      "Cumulative count of packets received", "interface"),
    D(CRI_M_NET_RX_DROPPED, "container_network_receive_packets_dropped_total", C,
      "Cumulative count of packets dropped while receiving", "interface"),
    D(CRI_M_NET_RX_ERRORS, "container_network_receive_errors_total", C,
      "Cumulative count of errors encountered while receiving", "interface"),
    D(CRI_M_NET_TX_BYTES, "container_network_transmit_bytes_total", C,
      "Cumulative count of bytes transmitted", "interface"),
    D(CRI_M_NET_TX_PACKETS, "container_network_transmit_packets_total", C,
      "Cumulative count of packets transmitted", "interface"),
    D(CRI_M_NET_TX_DROPPED, "container_network_transmit_packets_dropped_total", C,
      "Cumulative count of packets dropped while transmitting", "interface"),
    D(CRI_M_NET_TX_ERRORS, "container_network_transmit_errors_total", C,
      "Cumulative count of errors encountered while transmitting", "interface"),
    D(CRI_M_PROCESSES, "container_processes", G,
      "Number of processes running inside the container."),
    D(CRI_M_THREADS, "container_threads", G, "Number of threads running inside the container"),
    D(CRI_M_THREADS_MAX, "container_threads_max", G,
      "Maximum number of threads allowed inside the container, infinity if value is zero"),
    D(CRI_M_FDS, "container_file_descriptors", G,
      "Number of open file descriptors for the container."),
    D(CRI_M_SOCKETS, "container_sockets", G, "Number of open sockets for the container."),
    D(CRI_M_START_TIME, "container_start_time_seconds", G,
      "Start time of the container since unix epoch in seconds."),
    D(CRI_M_LAST_SEEN, "container_last_seen", G, "Last time a container was seen by the exporter"),
    D(CRI_M_SPEC_CPU_PERIOD, "container_spec_cpu_period", G, "CPU period of the container."),
    D(CRI_M_SPEC_CPU_QUOTA, "container_spec_cpu_quota", G, "CPU quota of the container."),
    D(CRI_M_SPEC_CPU_SHARES, "container_spec_cpu_shares", G, "CPU share of the container."),
    D(CRI_M_SPEC_MEM_LIMIT, "container_spec_memory_limit_bytes", G,
      "Memory limit for the container."),
    D(CRI_M_SPEC_MEM_RESERVATION, "container_spec_memory_reservation_limit_bytes", G,
      "Memory reservation limit for the container."),
    D(CRI_M_SPEC_MEM_SWAP_LIMIT, "container_spec_memory_swap_limit_bytes", G,
      "Memory swap limit for the container."),
    D(CRI_M_HUGETLB_USAGE, "container_hugetlb_usage_bytes", G, "Current hugepage usage",
      "pagesize"),
    D(CRI_M_HUGETLB_MAX_USAGE, "container_hugetlb_max_usage_bytes", G,
      "Maximum hugepage usages recorded", "pagesize"),
    D(CRI_M_ULIMITS_SOFT, "container_ulimits_soft", G,
      "Soft ulimit values for the container root process. Unlimited if -1, except priority "
      "and nice",
      "ulimit"),
    D(CRI_M_PSI_CPU_WAITING, "container_pressure_cpu_waiting_seconds_total", C,
      "Total time duration tasks in the container have waited due to CPU congestion."),
    D(CRI_M_PSI_CPU_STALLED, "container_pressure_cpu_stalled_seconds_total", C,
      "Total time duration no tasks in the container could make progress due to CPU "
      "congestion."),
    D(CRI_M_PSI_MEM_WAITING, "container_pressure_memory_waiting_seconds_total", C,
      "Total time duration tasks in the container have waited due to memory congestion."),
    D(CRI_M_PSI_MEM_STALLED, "container_pressure_memory_stalled_seconds_total", C,
      "Total time duration no tasks in the container could make progress due to memory "
      "congestion."),
    D(CRI_M_PSI_IO_WAITING, "container_pressure_io_waiting_seconds_total", C,
      "Total time duration tasks in the container have waited due to IO congestion."),
    D(CRI_M_PSI_IO_STALLED, "container_pressure_io_stalled_seconds_total", C,
      "Total time duration no tasks in the container could make progress due to IO "
      "congestion."),
};
#undef D

size_t cri_metric_n_keys(enum cri_metric m)
{
	size_t n = 0;
	while (n < CRI_METRIC_MAX_EXTRA && cri_metric_descs[m].extra[n])
		n++;
	return CRI_METRIC_N_BASE + n;
}

/* ---- building a list of metrics ---- */

struct mlist {
	Runtime__V1__Metric **v;
	size_t n, cap;
	const char *base[CRI_METRIC_N_BASE]; /* borrowed for the list's build */
	int64_t now;
};

/* Appends one metric; the extra label values (as many as its descriptor's
 * extra keys) follow v. */
static void add(struct mlist *l, enum cri_metric id, uint64_t v, ...)
{
	const struct cri_metric_desc *d = &cri_metric_descs[id];
	size_t nk = cri_metric_n_keys(id);
	Runtime__V1__Metric *m = (void *)cri_msg_new(&runtime__v1__metric__descriptor);
	m->name = xstrdup(d->name);
	m->timestamp = l->now;
	m->metric_type = d->type;
	m->label_values = xcalloc(nk, sizeof(char *));
	for (size_t i = 0; i < CRI_METRIC_N_BASE; i++)
		m->label_values[i] = xstrdup(l->base[i] ? l->base[i] : "");
	va_list ap;
	va_start(ap, v);
	for (size_t i = CRI_METRIC_N_BASE; i < nk; i++)
		m->label_values[i] = xstrdup(va_arg(ap, const char *));
	va_end(ap);
	m->n_label_values = nk;
	m->value = (void *)cri_msg_new(&runtime__v1__uint64_value__descriptor);
	m->value->value = v;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = m;
}

/* "/dev/sda" for 8:0 (the name sysfs gives the device), else "8:0". */
static char *dev_name(unsigned maj, unsigned min)
{
	_cleanup_free_ char *link = xasprintf("/sys/dev/block/%u:%u", maj, min);
	char buf[256];
	ssize_t n = readlink(link, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		const char *base = strrchr(buf, '/');
		return xasprintf("/dev/%s", base ? base + 1 : buf);
	}
	return xasprintf("%u:%u", maj, min);
}

#define NS_PER_S 1000000000ULL

static void add_cgroup(struct mlist *l, const struct oci_cgroup_metrics *m)
{
	const struct oci_cgroup_stats *s = &m->base;
	if (s->has_cpu)
		add(l, CRI_M_CPU_USAGE, s->cpu_usage_ns / NS_PER_S, "total");
	if (m->has_cpu_detail) {
		add(l, CRI_M_CPU_USER, m->cpu_user_ns / NS_PER_S);
		add(l, CRI_M_CPU_SYSTEM, m->cpu_system_ns / NS_PER_S);
		add(l, CRI_M_CPU_PERIODS, m->cpu_periods);
		add(l, CRI_M_CPU_THROTTLED_PERIODS, m->cpu_throttled_periods);
		add(l, CRI_M_CPU_THROTTLED_SECONDS, m->cpu_throttled_ns / NS_PER_S);
	}
	if (m->has_cpu_spec) {
		add(l, CRI_M_SPEC_CPU_PERIOD, m->cpu_period_us);
		add(l, CRI_M_SPEC_CPU_QUOTA, m->cpu_quota_us);
		add(l, CRI_M_SPEC_CPU_SHARES, m->cpu_shares);
	}
	if (s->has_memory) {
		add(l, CRI_M_MEM_USAGE, s->mem_usage);
		add(l, CRI_M_MEM_WORKING_SET, s->mem_working_set);
		add(l, CRI_M_MEM_RSS, s->mem_rss);
		add(l, CRI_M_MEM_MAX_USAGE, m->mem_max_usage);
		add(l, CRI_M_MEM_FAILCNT, m->mem_failcnt);
		add(l, CRI_M_MEM_FAILURES, s->mem_pgfault, "pgfault", "hierarchy");
		add(l, CRI_M_MEM_FAILURES, s->mem_pgmajfault, "pgmajfault", "hierarchy");
		add(l, CRI_M_OOM_EVENTS, m->mem_oom_kills);
		add(l, CRI_M_SPEC_MEM_LIMIT, s->mem_limit);
		add(l, CRI_M_SPEC_MEM_RESERVATION, m->mem_reservation);
		add(l, CRI_M_SPEC_MEM_SWAP_LIMIT, s->swap_limit);
	}
	if (m->has_memory_detail) {
		add(l, CRI_M_MEM_CACHE, m->mem_cache);
		add(l, CRI_M_MEM_MAPPED_FILE, m->mem_mapped_file);
		add(l, CRI_M_MEM_KERNEL, m->mem_kernel);
	}
	if (s->has_swap)
		add(l, CRI_M_MEM_SWAP, s->swap_usage);
	for (size_t i = 0; i < m->n_io; i++) {
		_cleanup_free_ char *dev = dev_name(m->io[i].major, m->io[i].minor);
		add(l, CRI_M_FS_READS_BYTES, m->io[i].read_bytes, dev);
		add(l, CRI_M_FS_WRITES_BYTES, m->io[i].write_bytes, dev);
	}
	if (s->has_pids)
		add(l, CRI_M_THREADS_MAX, m->pids_max);
	for (size_t i = 0; i < m->n_hugetlb; i++) {
		add(l, CRI_M_HUGETLB_USAGE, m->hugetlb[i].usage, m->hugetlb[i].pagesize);
		add(l, CRI_M_HUGETLB_MAX_USAGE, m->hugetlb[i].max_usage, m->hugetlb[i].pagesize);
	}
	if (m->has_psi) {
		for (int i = 0; i < 3; i++) {
			add(l, CRI_M_PSI_CPU_WAITING + 2 * i, m->psi_some_ns[i] / NS_PER_S);
			add(l, CRI_M_PSI_CPU_STALLED + 2 * i, m->psi_full_ns[i] / NS_PER_S);
		}
	}
	if (m->has_nofile)
		add(l, CRI_M_ULIMITS_SOFT, m->nofile_soft, "max_open_files");
	if (m->has_tasks) {
		add(l, CRI_M_PROCESSES, m->n_procs);
		add(l, CRI_M_THREADS, m->n_threads);
		add(l, CRI_M_FDS, m->n_fds);
		add(l, CRI_M_SOCKETS, m->n_sockets);
	}
}

/* The writable layer: its usage, and the size and inodes of the filesystem
 * it is on, labelled with that filesystem's device. */
static void add_layer(struct mlist *l, const struct store_ctr_meta *m)
{
	const char *dir = cri_ctr_extra(m, CRI_CTR_X_UPPER);
	if (!dir)
		return;
	_cleanup_free_ char *upper = xasprintf("%s/upper", dir);
	struct stat st;
	struct statvfs vfs;
	if (stat(upper, &st) < 0 || statvfs(upper, &vfs) < 0)
		return;
	uint64_t bytes = 0, inodes = 0;
	_cleanup_berr_ struct berr *e = NULL;
	if (fileio_disk_usage(upper, &bytes, &inodes, &e) < 0) {
		log_debug("id=%.12s msg=\"writable layer: %s, ignoring\"", m->id, berr_msg(e));
		return;
	}
	_cleanup_free_ char *dev = dev_name(major(st.st_dev), minor(st.st_dev));
	add(l, CRI_M_FS_USAGE, bytes, dev);
	add(l, CRI_M_FS_LIMIT, (uint64_t)vfs.f_blocks * vfs.f_frsize, dev);
	add(l, CRI_M_FS_INODES_FREE, (uint64_t)vfs.f_favail, dev);
	add(l, CRI_M_FS_INODES_TOTAL, (uint64_t)vfs.f_files, dev);
}

static void add_network(struct mlist *l, const struct netns_link_stats *k, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *ifn = k[i].name;
		add(l, CRI_M_NET_RX_BYTES, k[i].rx_bytes, ifn);
		add(l, CRI_M_NET_RX_PACKETS, k[i].rx_packets, ifn);
		add(l, CRI_M_NET_RX_DROPPED, k[i].rx_dropped, ifn);
		add(l, CRI_M_NET_RX_ERRORS, k[i].rx_errors, ifn);
		add(l, CRI_M_NET_TX_BYTES, k[i].tx_bytes, ifn);
		add(l, CRI_M_NET_TX_PACKETS, k[i].tx_packets, ifn);
		add(l, CRI_M_NET_TX_DROPPED, k[i].tx_dropped, ifn);
		add(l, CRI_M_NET_TX_ERRORS, k[i].tx_errors, ifn);
	}
}

/* ---- containers and pods ---- */

/* A created or running container's metrics; NULL for an exited one or one
 * whose cgroup is gone (an exit racing with the read). */
static Runtime__V1__ContainerMetrics *ctr_metrics(struct berth *b, const struct store_sb_meta *pod,
						  struct store_ctr *c, int64_t now)
{
	const struct store_ctr_meta *m = store_ctr_meta(c);
	const char *cg = cri_ctr_extra(m, CRI_CTR_X_CGROUP);
	if (!b->rt || !cg)
		return NULL;
	struct store_ctr_status st;
	store_ctr_status(c, &st);
	enum store_ctr_state state = store_ctr_state(&st);
	int64_t started = st.started_at;
	store_ctr_status_done(&st);
	if (state != STORE_CTR_CREATED && state != STORE_CTR_RUNNING)
		return NULL;
	const struct oci_runtime_opts *o = &b->rt->opts;
	struct oci_cgroup_metrics cm;
	_cleanup_berr_ struct berr *e = NULL;
	if (oci_cgroup_metrics_read(NULL, NULL, o->cgroup_mode, o->cgroup_driver, cg, &cm, &e) <
	    0) {
		log_debug("id=%.12s msg=\"%s, ignoring\"", m->id, berr_msg(e));
		return NULL;
	}
	struct mlist l = {.now = now,
			  .base = {m->metadata.name, cg, m->image_ref, m->name,
				   pod->metadata.namespace, pod->metadata.name}};
	add_cgroup(&l, &cm);
	oci_cgroup_metrics_done(&cm);
	add_layer(&l, m);
	if (started)
		add(&l, CRI_M_START_TIME, (uint64_t)started / NS_PER_S);
	add(&l, CRI_M_LAST_SEEN, (uint64_t)now / NS_PER_S);
	Runtime__V1__ContainerMetrics *out =
	    (void *)cri_msg_new(&runtime__v1__container_metrics__descriptor);
	out->container_id = xstrdup(m->id);
	out->metrics = l.v;
	out->n_metrics = l.n;
	return out;
}

/* The pod's own metrics: its cgroup (when berth made one), its start, and
 * its network namespace's interfaces (none for a host network pod). */
static int pod_own(struct berth *b, struct store_sb *sb, struct mlist *l, struct berr **err)
{
	const struct store_sb_meta *m = store_sb_meta(sb);
	struct store_sb_status st;
	store_sb_status(sb, &st);
	bool ready = st.state == STORE_SB_READY;
	_cleanup_free_ char *netns = st.netns_path ? xstrdup(st.netns_path) : NULL;
	store_sb_status_done(&st);
	if (!ready)
		return berr_set(err, EBUSY, "pod sandbox '%s' is not ready", m->id);
	const char *cg = cri_sb_extra(m, CRI_SB_X_CGROUP);
	struct oci_cgroup_metrics cm;
	_cleanup_berr_ struct berr *e = NULL;
	if (b->rt && cg &&
	    oci_cgroup_metrics_read(NULL, NULL, b->rt->opts.cgroup_mode, OCI_CGROUP_DRIVER_CGROUPFS,
				    cg, &cm, &e) == 0) {
		add_cgroup(l, &cm);
		oci_cgroup_metrics_done(&cm);
	} else if (e) {
		log_debug("sandbox=%.12s msg=\"%s, ignoring\"", m->id, berr_msg(e));
	}
	add(l, CRI_M_START_TIME, (uint64_t)m->created_at / NS_PER_S);
	add(l, CRI_M_LAST_SEEN, (uint64_t)l->now / NS_PER_S);
	if (!netns)
		return 0;
	_cleanup_free_ struct netns_link_stats *links = NULL;
	size_t n = 0;
	if (netns_link_stats(netns, &links, &n, err) < 0)
		return berr_wrap(err, "network metrics of pod sandbox '%s'", m->id);
	add_network(l, links, n);
	return 0;
}

static void mlist_free(struct mlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		cri_msg_free(&l->v[i]->base);
	free(l->v);
}

static int pod_metrics(struct berth *b, struct store_sb *sb, int64_t now,
		       Runtime__V1__PodSandboxMetrics **ret, struct berr **err)
{
	const struct store_sb_meta *m = store_sb_meta(sb);
	/* pod-level label values: cAdvisor's pod cgroup has no container or image */
	const char *cg = cri_sb_extra(m, CRI_SB_X_CGROUP);
	struct mlist l = {
	    .now = now,
	    .base = {"", cg ? cg : m->id, "", m->id, m->metadata.namespace, m->metadata.name}};
	int r = pod_own(b, sb, &l, err);
	if (r < 0) {
		mlist_free(&l);
		return r;
	}
	struct store_ctr_filter f = {.sandbox_id = m->id};
	struct store_ctr **v = NULL;
	size_t n = 0;
	r = store_ctr_list(b->store, &f, &v, &n, err);
	if (r < 0) {
		mlist_free(&l);
		return r;
	}
	Runtime__V1__PodSandboxMetrics *p =
	    (void *)cri_msg_new(&runtime__v1__pod_sandbox_metrics__descriptor);
	p->pod_sandbox_id = xstrdup(m->id);
	p->metrics = l.v;
	p->n_metrics = l.n;
	p->container_metrics = xcalloc(n ? n : 1, sizeof(*p->container_metrics));
	for (size_t i = 0; i < n; i++) {
		Runtime__V1__ContainerMetrics *c = ctr_metrics(b, m, v[i], now);
		if (c)
			p->container_metrics[p->n_container_metrics++] = c;
	}
	store_ctr_list_free(v, n);
	*ret = p;
	return 0;
}

/* ---- handlers ---- */

int cri_list_metric_descriptors(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
				ProtobufCMessage **ret_resp, struct berr **err)
{
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	Runtime__V1__ListMetricDescriptorsResponse *resp =
	    (void *)cri_msg_new(&runtime__v1__list_metric_descriptors_response__descriptor);
	resp->descriptors = xcalloc(CRI_M_MAX, sizeof(*resp->descriptors));
	for (size_t i = 0; i < CRI_M_MAX; i++) {
		const struct cri_metric_desc *d = &cri_metric_descs[i];
		Runtime__V1__MetricDescriptor *o =
		    (void *)cri_msg_new(&runtime__v1__metric_descriptor__descriptor);
		o->name = xstrdup(d->name);
		o->help = xstrdup(d->help);
		size_t nk = cri_metric_n_keys(i);
		o->label_keys = xcalloc(nk, sizeof(char *));
		for (size_t k = 0; k < nk; k++)
			o->label_keys[k] =
			    xstrdup(k < CRI_METRIC_N_BASE ? cri_metric_base_keys[k]
							  : d->extra[k - CRI_METRIC_N_BASE]);
		o->n_label_keys = nk;
		resp->descriptors[resp->n_descriptors++] = o;
	}
	*ret_resp = &resp->base;
	return 0;
}

int cri_list_pod_sandbox_metrics(struct berth *b, struct cri_call *call,
				 const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
				 struct berr **err)
{
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	/* ready sandboxes only, as the stats lists: the others have nothing to read */
	struct store_sb_filter sf = {.has_state = true, .state = STORE_SB_READY};
	struct store_sb **v = NULL;
	size_t n = 0;
	int r = store_sb_list(b->store, &sf, &v, &n, err);
	if (r < 0)
		return r;
	int64_t now = time_now_ns();
	Runtime__V1__ListPodSandboxMetricsResponse *resp =
	    (void *)cri_msg_new(&runtime__v1__list_pod_sandbox_metrics_response__descriptor);
	resp->pod_metrics = xcalloc(n ? n : 1, sizeof(*resp->pod_metrics));
	for (size_t i = 0; i < n && r == 0; i++) {
		_cleanup_berr_ struct berr *e = NULL;
		Runtime__V1__PodSandboxMetrics *p = NULL;
		int pr = pod_metrics(b, v[i], now, &p, &e);
		if (pr == 0)
			resp->pod_metrics[resp->n_pod_metrics++] = p;
		else if (pr == -EBUSY || pr == -ENOENT)
			log_debug("sandbox=%.12s msg=\"pod metrics: %s, ignoring\"",
				  store_sb_id(v[i]), berr_msg(e));
		else
			log_warn("sandbox=%.12s msg=\"pod metrics: %s, ignoring\"",
				 store_sb_id(v[i]), berr_msg(e));
		r = cri_call_check(call, err);
	}
	store_sb_list_free(v, n);
	if (r < 0) {
		cri_msg_free(&resp->base);
		return r;
	}
	*ret_resp = &resp->base;
	return 0;
}

int cri_stream_pod_sandbox_metrics(struct berth *b, struct cri_call *call,
				   const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
				   struct berr **err)
{
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	Runtime__V1__ListPodSandboxMetricsRequest lreq =
	    RUNTIME__V1__LIST_POD_SANDBOX_METRICS_REQUEST__INIT;
	ProtobufCMessage *lresp = NULL;
	int r = cri_list_pod_sandbox_metrics(b, call, &lreq.base, &lresp, err);
	if (r < 0)
		return r;
	Runtime__V1__ListPodSandboxMetricsResponse *l = (void *)lresp;
	Runtime__V1__StreamPodSandboxMetricsResponse out =
	    RUNTIME__V1__STREAM_POD_SANDBOX_METRICS_RESPONSE__INIT;
	r = cri_send_in_batches(call, &out.base, (void ***)&out.pod_sandbox_metrics,
				&out.n_pod_sandbox_metrics, (void **)l->pod_metrics,
				l->n_pod_metrics, err);
	cri_msg_free(lresp);
	return r;
}
