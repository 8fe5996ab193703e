/* SPDX-License-Identifier: Apache-2.0 */
/* stats.c - ContainerStats, ListContainerStats, PodSandboxStats and
 * ListPodSandboxStats, after containerd's CRI plugin (container_stats*.go,
 * sandbox_stats*.go): cgroup counters (oci/cgroup_stats.c), the writable
 * layer's disk usage, the pod's interface counters (netns/), and a CPU rate
 * from the previous sample of the same container or pod kept in memory.
 * Nothing here changes state or calls out to the runtime; the reads are of
 * cgroupfs, the overlay upper dir and netlink, with no lock held. */
#define LOG_COMPONENT "cri" /* before any header: cri.h includes log.h */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/ids.h"
#include "cri/pod.h"
#include "cri/podres.h"
#include "netns/netns.h"
#include "cri/validate-internal.h"

/* ---- CPU samples ---- */

/* A sample older than this is dropped: its container is long gone, or the
 * rate over such a span says little. */
#define SAMPLE_TTL_NS (10 * 60 * 1000000000LL)

/* A list looks at its call (client gone, deadline, daemon stopping) once per this many
 * items: the look is a completion-queue poll, dearer than an item without a cgroup. */
#define CHECK_EVERY 32

struct cpu_sample {
	char *id;
	uint64_t usage_ns;
	int64_t ts_ns;
};

struct cri_cpu_cache {
	pthread_mutex_t mu;
	struct cpu_sample *v; /* guarded by mu: sorted by id */
	size_t n;
	int64_t swept_ns; /* guarded by mu: when samples past their TTL were last dropped */
};

struct cri_cpu_cache *cri_cpu_cache_new(void)
{
	struct cri_cpu_cache *c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

struct cri_cpu_cache *cri_cpu_cache_free(struct cri_cpu_cache *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].id);
	free(c->v);
	pthread_mutex_destroy(&c->mu);
	free(c);
	return NULL;
}

/* Drops samples past their TTL but keep's; at most once a TTL, so a list of N containers
 * costs N lookups, not N sweeps of N. mu held. */
static void cache_sweep(struct cri_cpu_cache *c, const char *keep, int64_t ts_ns)
{
	if (ts_ns - c->swept_ns < SAMPLE_TTL_NS && ts_ns >= c->swept_ns)
		return;
	size_t k = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i].ts_ns < ts_ns - SAMPLE_TTL_NS && strcmp(c->v[i].id, keep) != 0)
			free(c->v[i].id);
		else
			c->v[k++] = c->v[i];
	}
	c->n = k;
	c->swept_ns = ts_ns;
}

/* Index of id in the sorted samples, or where it goes. mu held. */
static size_t cache_lower(const struct cri_cpu_cache *c, const char *id)
{
	size_t lo = 0, hi = c->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(c->v[mid].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool cri_cpu_cache_rate(struct cri_cpu_cache *c, const char *id, uint64_t usage_ns, int64_t ts_ns,
			uint64_t *ret)
{
	bool have = false;
	pthread_mutex_lock(&c->mu);
	cache_sweep(c, id, ts_ns);
	size_t i = cache_lower(c, id);
	struct cpu_sample *s = i < c->n && strcmp(c->v[i].id, id) == 0 ? &c->v[i] : NULL;
	if (s) {
		have = oci_cpu_nano_cores(s->usage_ns, s->ts_ns, usage_ns, ts_ns, ret);
		/* containerd keeps the old sample when there is no rate */
		if (have || usage_ns < s->usage_ns) {
			s->usage_ns = usage_ns;
			s->ts_ns = ts_ns;
		}
	} else {
		c->v = xreallocarray(c->v, c->n + 1, sizeof(*c->v));
		memmove(&c->v[i + 1], &c->v[i], (c->n - i) * sizeof(*c->v));
		c->v[i] = (struct cpu_sample){xstrdup(id), usage_ns, ts_ns};
		c->n++;
	}
	pthread_mutex_unlock(&c->mu);
	return have;
}

/* ---- messages ---- */

struct stats_ctx {
	struct berth *b;
	char *fs_mount; /* mount point of the writable layers */
	int64_t now;	/* one timestamp for every figure of the call */
};

static void ctx_init(struct stats_ctx *x, struct berth *b)
{
	_cleanup_free_ char *dir = xasprintf("%s/containers", b->cfg.state_dir);
	*x = (struct stats_ctx){b, fileio_mountpoint(dir, NULL), time_now_ns()};
}

static void ctx_done(struct stats_ctx *x)
{
	free(x->fs_mount);
}

static Runtime__V1__UInt64Value *u64(uint64_t v)
{
	Runtime__V1__UInt64Value *m = (void *)cri_msg_new(&runtime__v1__uint64_value__descriptor);
	m->value = v;
	return m;
}

static Runtime__V1__CpuUsage *cpu_msg(struct stats_ctx *x, const char *id, uint64_t usage_ns)
{
	Runtime__V1__CpuUsage *m = (void *)cri_msg_new(&runtime__v1__cpu_usage__descriptor);
	m->timestamp = x->now;
	m->usage_core_nano_seconds = u64(usage_ns);
	uint64_t rate = 0;
	/* No rate on the first sample (containerd, cAdvisor's CpuInst). */
	if (x->b->rt && x->b->rt->cpu_cache &&
	    cri_cpu_cache_rate(x->b->rt->cpu_cache, id, usage_ns, x->now, &rate))
		m->usage_nano_cores = u64(rate);
	return m;
}

static Runtime__V1__MemoryUsage *memory_msg(struct stats_ctx *x, const struct oci_cgroup_stats *s)
{
	Runtime__V1__MemoryUsage *m = (void *)cri_msg_new(&runtime__v1__memory_usage__descriptor);
	m->timestamp = x->now;
	m->working_set_bytes = u64(s->mem_working_set);
	if (s->mem_limit)
		m->available_bytes =
		    u64(s->mem_limit > s->mem_working_set ? s->mem_limit - s->mem_working_set : 0);
	m->usage_bytes = u64(s->mem_usage);
	m->rss_bytes = u64(s->mem_rss);
	m->page_faults = u64(s->mem_pgfault);
	m->major_page_faults = u64(s->mem_pgmajfault);
	return m;
}

static Runtime__V1__SwapUsage *swap_msg(struct stats_ctx *x, const struct oci_cgroup_stats *s)
{
	Runtime__V1__SwapUsage *m = (void *)cri_msg_new(&runtime__v1__swap_usage__descriptor);
	m->timestamp = x->now;
	m->swap_usage_bytes = u64(s->swap_usage);
	if (s->swap_limit)
		m->swap_available_bytes =
		    u64(s->swap_limit > s->swap_usage ? s->swap_limit - s->swap_usage : 0);
	return m;
}

static Runtime__V1__FilesystemUsage *layer_msg(struct stats_ctx *x, const struct store_ctr_meta *m)
{
	Runtime__V1__FilesystemUsage *u =
	    (void *)cri_msg_new(&runtime__v1__filesystem_usage__descriptor);
	u->timestamp = x->now;
	u->fs_id = (void *)cri_msg_new(&runtime__v1__filesystem_identifier__descriptor);
	u->fs_id->mountpoint = xstrdup(x->fs_mount);
	uint64_t bytes = 0, inodes = 0;
	const char *dir = cri_ctr_extra(m, CRI_CTR_X_UPPER);
	if (dir) {
		/* the overlay upper dir (image/rootfs.c); a missing one is 0 as in
		 * containerd, where an unknown snapshot reports zero usage */
		_cleanup_free_ char *upper = xasprintf("%s/upper", dir);
		_cleanup_berr_ struct berr *e = NULL;
		if (fileio_disk_usage(upper, &bytes, &inodes, &e) < 0)
			log_debug("id=%.12s msg=\"writable layer: %s, ignoring\"", m->id,
				  berr_msg(e));
	}
	u->used_bytes = u64(bytes);
	u->inodes_used = u64(inodes);
	return u;
}

/* The cgroup counters of a created or running container; false for one that
 * has exited (containerd has no task to ask then) or whose cgroup is gone. */
static bool ctr_cgroup(struct stats_ctx *x, struct store_ctr *c, struct oci_cgroup_stats *ret)
{
	const struct store_ctr_meta *m = store_ctr_meta(c);
	const char *cg = cri_ctr_extra(m, CRI_CTR_X_CGROUP);
	if (!x->b->rt || !cg)
		return false;
	struct store_ctr_status st;
	store_ctr_status(c, &st);
	enum store_ctr_state state = store_ctr_state(&st);
	store_ctr_status_done(&st);
	if (state != STORE_CTR_CREATED && state != STORE_CTR_RUNNING)
		return false;
	const struct oci_runtime_opts *o = &x->b->rt->opts;
	_cleanup_berr_ struct berr *e = NULL;
	if (oci_cgroup_stats_read(NULL, o->cgroup_mode, o->cgroup_driver, cg, ret, &e) < 0) {
		/* an exit racing with the read; the next call reports it exited */
		log_debug("id=%.12s msg=\"%s, ignoring\"", m->id, berr_msg(e));
		return false;
	}
	return true;
}

/* One container's stats; never fails: what can't be read is left out, so a
 * container that exits meanwhile doesn't fail a list (containerd's
 * linuxContainerMetrics with no task metrics). ret_cg gets the counters when
 * the cgroup was read (returns true then). */
static bool ctr_stats(struct stats_ctx *x, struct store_ctr *c,
		      Runtime__V1__ContainerStats **ret_msg, struct oci_cgroup_stats *ret_cg)
{
	const struct store_ctr_meta *m = store_ctr_meta(c);
	Runtime__V1__ContainerStats *s =
	    (void *)cri_msg_new(&runtime__v1__container_stats__descriptor);
	Runtime__V1__ContainerAttributes *a =
	    (void *)cri_msg_new(&runtime__v1__container_attributes__descriptor);
	a->id = xstrdup(m->id);
	a->metadata = (void *)cri_msg_new(&runtime__v1__container_metadata__descriptor);
	a->metadata->name = xstrdup(m->metadata.name);
	a->metadata->attempt = m->metadata.attempt;
	a->labels = cri_entries_from_kv(
	    &runtime__v1__container_attributes__labels_entry__descriptor, m->labels, m->n_labels);
	a->n_labels = m->n_labels;
	a->annotations =
	    cri_entries_from_kv(&runtime__v1__container_attributes__annotations_entry__descriptor,
				m->annotations, m->n_annotations);
	a->n_annotations = m->n_annotations;
	s->attributes = a;
	s->writable_layer = layer_msg(x, m);
	struct oci_cgroup_stats cg;
	bool have = ctr_cgroup(x, c, &cg);
	if (have && cg.has_cpu)
		s->cpu = cpu_msg(x, m->id, cg.cpu_usage_ns);
	if (have && cg.has_memory)
		s->memory = memory_msg(x, &cg);
	if (have && cg.has_swap)
		s->swap = swap_msg(x, &cg);
	*ret_msg = s;
	if (have)
		*ret_cg = cg;
	return have;
}

/* ---- containers ---- */

int cri_container_stats(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__ContainerStatsRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	const char *id = in->container_id ? in->container_id : "";
	if (!id[0])
		return berr_set(err, EINVAL, "container id is empty");
	struct store_ctr *c = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	int r = store_ctr_get(b->store, id, &c, &e);
	if (r == -ENOENT)
		return berr_set(err, ENOENT, "container '%s' not found", id);
	if (r < 0)
		return berr_move(err, &e);
	struct stats_ctx x;
	ctx_init(&x, b);
	Runtime__V1__ContainerStatsResponse *resp =
	    (void *)cri_msg_new(&runtime__v1__container_stats_response__descriptor);
	struct oci_cgroup_stats cg;
	(void)ctr_stats(&x, c, &resp->stats, &cg);
	ctx_done(&x);
	store_ctr_unref(c);
	*ret_resp = &resp->base;
	return 0;
}

int cri_list_container_stats(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			     ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__ListContainerStatsRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	const Runtime__V1__ContainerStatsFilter *f = in->filter;
	struct store_ctr_filter sf = {0};
	_cleanup_free_ struct store_kv *sel = NULL;
	if (f) {
		sf.id = f->id && f->id[0] ? f->id : NULL;
		sf.sandbox_id =
		    f->pod_sandbox_id && f->pod_sandbox_id[0] ? f->pod_sandbox_id : NULL;
		cri_kv_from_entries(f->label_selector, f->n_label_selector, &sel, &sf.n_labels);
		sf.labels = sel;
	}
	struct store_ctr **v = NULL;
	size_t n = 0;
	int r = store_ctr_list(b->store, &sf, &v, &n, err);
	if (r < 0)
		return r;
	struct stats_ctx x;
	ctx_init(&x, b);
	Runtime__V1__ListContainerStatsResponse *resp =
	    (void *)cri_msg_new(&runtime__v1__list_container_stats_response__descriptor);
	resp->stats = xcalloc(n ? n : 1, sizeof(*resp->stats));
	for (size_t i = 0; i < n && r == 0; i++) {
		struct oci_cgroup_stats cg;
		(void)ctr_stats(&x, v[i], &resp->stats[resp->n_stats++], &cg);
		if (i % CHECK_EVERY == CHECK_EVERY - 1)
			r = cri_call_check(call, err);
	}
	ctx_done(&x);
	store_ctr_list_free(v, n);
	if (r < 0) {
		cri_msg_free(&resp->base);
		return r;
	}
	*ret_resp = &resp->base;
	return 0;
}

/* ---- pod sandboxes ---- */

static void sum_add(struct oci_cgroup_stats *sum, const struct oci_cgroup_stats *s)
{
	sum->has_cpu |= s->has_cpu;
	sum->cpu_usage_ns += s->cpu_usage_ns;
	sum->has_memory |= s->has_memory;
	sum->mem_usage += s->mem_usage;
	sum->mem_working_set += s->mem_working_set;
	sum->mem_rss += s->mem_rss;
	sum->mem_pgfault += s->mem_pgfault;
	sum->mem_pgmajfault += s->mem_pgmajfault;
}

static Runtime__V1__NetworkUsage *network_msg(struct stats_ctx *x, const char *netns,
					      struct berr **err)
{
	_cleanup_free_ struct netns_link_stats *links = NULL;
	size_t n = 0;
	if (netns_link_stats(netns, &links, &n, err) < 0)
		return NULL;
	Runtime__V1__NetworkUsage *m = (void *)cri_msg_new(&runtime__v1__network_usage__descriptor);
	m->timestamp = x->now;
	m->interfaces = xcalloc(n ? n : 1, sizeof(*m->interfaces));
	for (size_t i = 0; i < n; i++) {
		Runtime__V1__NetworkInterfaceUsage *u =
		    (void *)cri_msg_new(&runtime__v1__network_interface_usage__descriptor);
		u->name = xstrdup(links[i].name);
		u->rx_bytes = u64(links[i].rx_bytes);
		u->rx_errors = u64(links[i].rx_errors);
		u->tx_bytes = u64(links[i].tx_bytes);
		u->tx_errors = u64(links[i].tx_errors);
		m->interfaces[m->n_interfaces++] = u;
	}
	/* eth0 (the CNI interface), else the first one; the default interface
	 * is a copy, since every sub-message has exactly one owner */
	const Runtime__V1__NetworkInterfaceUsage *def = n ? m->interfaces[0] : NULL;
	for (size_t i = 0; i < n; i++)
		if (strcmp(links[i].name, CNI_DEFAULT_IFNAME) == 0)
			def = m->interfaces[i];
	if (def) {
		Runtime__V1__NetworkInterfaceUsage *d =
		    (void *)cri_msg_new(&runtime__v1__network_interface_usage__descriptor);
		d->name = xstrdup(def->name);
		d->rx_bytes = u64(def->rx_bytes->value);
		d->rx_errors = u64(def->rx_errors->value);
		d->tx_bytes = u64(def->tx_bytes->value);
		d->tx_errors = u64(def->tx_errors->value);
		m->default_interface = d;
	}
	return m;
}

/* The pod's CPU and memory: its cgroup (cgroupfs driver with a cgroup
 * parent: <parent>/berth-<id12>, holding the pod init and every container),
 * else the sum of its containers'. */
static bool pod_cgroup(struct stats_ctx *x, const struct store_sb_meta *m,
		       struct oci_cgroup_stats *ret)
{
	const char *cg = cri_sb_extra(m, CRI_SB_X_CGROUP);
	if (!x->b->rt || !cg)
		return false;
	_cleanup_berr_ struct berr *e = NULL;
	if (oci_cgroup_stats_read(NULL, x->b->rt->opts.cgroup_mode, OCI_CGROUP_DRIVER_CGROUPFS, cg,
				  ret, &e) < 0) {
		log_debug("sandbox=%.12s msg=\"%s, ignoring\"", m->id, berr_msg(e));
		return false;
	}
	return true;
}

static int pod_stats(struct stats_ctx *x, struct store_sb *sb, Runtime__V1__PodSandboxStats **ret,
		     struct berr **err)
{
	const struct store_sb_meta *m = store_sb_meta(sb);
	struct store_sb_status st;
	store_sb_status(sb, &st);
	if (st.state != STORE_SB_READY) {
		store_sb_status_done(&st);
		return berr_set(err, EBUSY, "pod sandbox '%s' is not ready", m->id);
	}
	Runtime__V1__NetworkUsage *net = NULL;
	if (st.netns_path) /* none for a host network pod */
		net = network_msg(x, st.netns_path, err);
	bool net_failed = st.netns_path && !net;
	store_sb_status_done(&st);
	if (net_failed)
		return berr_wrap(err, "network stats of pod sandbox '%s'", m->id);

	struct store_ctr_filter f = {.sandbox_id = m->id};
	struct store_ctr **v = NULL;
	size_t n = 0;
	int r = store_ctr_list(x->b->store, &f, &v, &n, err);
	if (r < 0) {
		if (net)
			cri_msg_free(&net->base);
		return r;
	}
	Runtime__V1__PodSandboxStats *s =
	    (void *)cri_msg_new(&runtime__v1__pod_sandbox_stats__descriptor);
	Runtime__V1__PodSandboxAttributes *a =
	    (void *)cri_msg_new(&runtime__v1__pod_sandbox_attributes__descriptor);
	a->id = xstrdup(m->id);
	a->metadata = (void *)cri_msg_new(&runtime__v1__pod_sandbox_metadata__descriptor);
	a->metadata->name = xstrdup(m->metadata.name);
	a->metadata->uid = xstrdup(m->metadata.uid);
	a->metadata->namespace_ = xstrdup(m->metadata.namespace);
	a->metadata->attempt = m->metadata.attempt;
	a->labels = cri_entries_from_kv(
	    &runtime__v1__pod_sandbox_attributes__labels_entry__descriptor, m->labels, m->n_labels);
	a->n_labels = m->n_labels;
	a->annotations =
	    cri_entries_from_kv(&runtime__v1__pod_sandbox_attributes__annotations_entry__descriptor,
				m->annotations, m->n_annotations);
	a->n_annotations = m->n_annotations;
	s->attributes = a;
	Runtime__V1__LinuxPodSandboxStats *l =
	    (void *)cri_msg_new(&runtime__v1__linux_pod_sandbox_stats__descriptor);
	s->linux = l;
	l->network = net;

	struct oci_cgroup_stats sum = {0};
	uint64_t pids = 0;
	l->containers = xcalloc(n ? n : 1, sizeof(*l->containers));
	for (size_t i = 0; i < n; i++) {
		struct oci_cgroup_stats cg;
		if (ctr_stats(x, v[i], &l->containers[l->n_containers++], &cg)) {
			sum_add(&sum, &cg);
			pids += cg.pids_current;
		}
	}
	store_ctr_list_free(v, n);
	struct oci_cgroup_stats pod;
	if (!pod_cgroup(x, m, &pod)) {
		pod = sum;
		/* no cgroup of berth's: the limit is the pod's recorded envelope */
		store_sb_status(sb, &st);
		pod.mem_limit = (uint64_t)cri_podres_memory_limit(&st);
		store_sb_status_done(&st);
	}
	if (pod.has_cpu)
		l->cpu = cpu_msg(x, m->id, pod.cpu_usage_ns);
	if (pod.has_memory)
		l->memory = memory_msg(x, &pod);
	/* containerd: the sum of the containers' pids.current */
	l->process = (void *)cri_msg_new(&runtime__v1__process_usage__descriptor);
	l->process->timestamp = x->now;
	l->process->process_count = u64(pids);
	*ret = s;
	return 0;
}

int cri_pod_sandbox_stats(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			  ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__PodSandboxStatsRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	const char *id = in->pod_sandbox_id ? in->pod_sandbox_id : "";
	if (!id[0])
		return berr_set(err, EINVAL, "pod sandbox id is empty");
	struct store_sb *sb = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	int r = store_sb_get(b->store, id, &sb, &e);
	if (r == -ENOENT)
		return berr_set(err, ENOENT, "pod sandbox '%s' not found", id);
	if (r < 0)
		return berr_move(err, &e);
	struct stats_ctx x;
	ctx_init(&x, b);
	Runtime__V1__PodSandboxStatsResponse *resp =
	    (void *)cri_msg_new(&runtime__v1__pod_sandbox_stats_response__descriptor);
	r = pod_stats(&x, sb, &resp->stats, err);
	ctx_done(&x);
	store_sb_unref(sb);
	if (r < 0) {
		cri_msg_free(&resp->base);
		return r;
	}
	*ret_resp = &resp->base;
	return 0;
}

int cri_list_pod_sandbox_stats(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			       ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__ListPodSandboxStatsRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	const Runtime__V1__PodSandboxStatsFilter *f = in->filter;
	/* containerd lists ready sandboxes only: the others have nothing to read */
	struct store_sb_filter sf = {.has_state = true, .state = STORE_SB_READY};
	_cleanup_free_ struct store_kv *sel = NULL;
	if (f) {
		sf.id = f->id && f->id[0] ? f->id : NULL;
		cri_kv_from_entries(f->label_selector, f->n_label_selector, &sel, &sf.n_labels);
		sf.labels = sel;
	}
	struct store_sb **v = NULL;
	size_t n = 0;
	int r = store_sb_list(b->store, &sf, &v, &n, err);
	if (r < 0)
		return r;
	struct stats_ctx x;
	ctx_init(&x, b);
	Runtime__V1__ListPodSandboxStatsResponse *resp =
	    (void *)cri_msg_new(&runtime__v1__list_pod_sandbox_stats_response__descriptor);
	resp->stats = xcalloc(n ? n : 1, sizeof(*resp->stats));
	for (size_t i = 0; i < n && r == 0; i++) {
		_cleanup_berr_ struct berr *e = NULL;
		Runtime__V1__PodSandboxStats *s = NULL;
		/* A pod stopped or removed meanwhile is left out, as containerd
		 * leaves out unavailable and not found ones. */
		int pr = pod_stats(&x, v[i], &s, &e);
		if (pr == 0)
			resp->stats[resp->n_stats++] = s;
		else if (pr == -EBUSY || pr == -ENOENT)
			log_debug("sandbox=%.12s msg=\"pod stats: %s, ignoring\"",
				  store_sb_id(v[i]), berr_msg(e));
		else
			log_warn("sandbox=%.12s msg=\"pod stats: %s, ignoring\"", store_sb_id(v[i]),
				 berr_msg(e));
		if (i % CHECK_EVERY == CHECK_EVERY - 1)
			r = cri_call_check(call, err);
	}
	ctx_done(&x);
	store_sb_list_free(v, n);
	if (r < 0) {
		cri_msg_free(&resp->base);
		return r;
	}
	*ret_resp = &resp->base;
	return 0;
}

/* ---- streaming ---- */

int cri_stream_container_stats(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			       ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__StreamContainerStatsRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	Runtime__V1__ListContainerStatsRequest lreq =
	    RUNTIME__V1__LIST_CONTAINER_STATS_REQUEST__INIT;
	lreq.filter = in->filter;
	ProtobufCMessage *lresp = NULL;
	int r = cri_list_container_stats(b, call, &lreq.base, &lresp, err);
	if (r < 0)
		return r;
	Runtime__V1__ListContainerStatsResponse *l = (void *)lresp;
	Runtime__V1__StreamContainerStatsResponse out =
	    RUNTIME__V1__STREAM_CONTAINER_STATS_RESPONSE__INIT;
	r = cri_send_in_batches(call, &out.base, (void ***)&out.container_stats,
				&out.n_container_stats, (void **)l->stats, l->n_stats, err);
	cri_msg_free(lresp);
	return r;
}

int cri_stream_pod_sandbox_stats(struct berth *b, struct cri_call *call,
				 const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
				 struct berr **err)
{
	const Runtime__V1__StreamPodSandboxStatsRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	Runtime__V1__ListPodSandboxStatsRequest lreq =
	    RUNTIME__V1__LIST_POD_SANDBOX_STATS_REQUEST__INIT;
	lreq.filter = in->filter;
	ProtobufCMessage *lresp = NULL;
	int r = cri_list_pod_sandbox_stats(b, call, &lreq.base, &lresp, err);
	if (r < 0)
		return r;
	Runtime__V1__ListPodSandboxStatsResponse *l = (void *)lresp;
	Runtime__V1__StreamPodSandboxStatsResponse out =
	    RUNTIME__V1__STREAM_POD_SANDBOX_STATS_RESPONSE__INIT;
	r = cri_send_in_batches(call, &out.base, (void ***)&out.pod_sandbox_stats,
				&out.n_pod_sandbox_stats, (void **)l->stats, l->n_stats, err);
	cri_msg_free(lresp);
	return r;
}
