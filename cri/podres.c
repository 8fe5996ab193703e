/* SPDX-License-Identifier: Apache-2.0 */
/* podres.c - pod-level resources (podres.h) and UpdatePodSandboxResources.
 *
 * kubelet sends a pod's resources (the sum of its containers') and its overhead
 * separately, and sizes its own pod cgroup (cgroup_parent) to both together.
 * berth's cgroup of the pod sits inside it and holds the pod init and every
 * container, so it gets the same envelope: CPU shares, CFS quota (the overhead's
 * converted to the resources' period) and memory limit, each the sum of the two.
 * It is never tighter than kubelet's, and it is what PodSandboxStats reads. */
#include "cri/podres.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "cri/pod.h"

#define CPU_PERIOD_DEFAULT 100000 /* us, the kernel's */
#define CPU_SHARES_MAX	   262144

void cri_podres_done(struct cri_podres *p)
{
	if (p->resources)
		protobuf_c_message_free_unpacked(&p->resources->base, NULL);
	if (p->overhead)
		protobuf_c_message_free_unpacked(&p->overhead->base, NULL);
	for (size_t i = 0; i < p->n_kv; i++)
		free(p->kv[i].value);
	*p = (struct cri_podres){0};
}

/* ---- the record: hex of the packed message ---- */

static char *hex_of(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	_cleanup_free_ uint8_t *buf = xmalloc(len ? len : 1);
	protobuf_c_message_pack(m, buf);
	char *s = xmalloc(2 * len + 1);
	for (size_t i = 0; i < len; i++)
		snprintf(s + 2 * i, 3, "%02x", buf[i]);
	s[2 * len] = '\0';
	return s;
}

static int nibble(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

Runtime__V1__LinuxContainerResources *cri_podres_recorded(const struct store_sb_status *st,
							  const char *key)
{
	const char *hex = NULL;
	for (size_t i = 0; i < st->n_extra; i++)
		if (strcmp(st->extra[i].key, key) == 0)
			hex = st->extra[i].value;
	size_t n = hex ? strlen(hex) : 0;
	if (n == 0 || n % 2)
		return NULL;
	_cleanup_free_ uint8_t *buf = xmalloc(n / 2);
	for (size_t i = 0; i < n / 2; i++) {
		int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return NULL;
		buf[i] = (uint8_t)(hi << 4 | lo);
	}
	return runtime__v1__linux_container_resources__unpack(NULL, n / 2, buf);
}

/* ---- validation and the envelope (pure) ---- */

/* What UpdateContainerResources refuses (oci_resources_build), then the ranges
 * the kernel takes for what is applied to the pod cgroup. */
static int check_values(const char *what, const Runtime__V1__LinuxContainerResources *r,
			const struct oci_runtime_opts *opts, struct berr **err)
{
	_cleanup_free_ char *json = NULL;
	int rr = oci_resources_build(r, opts, &json, err);
	if (rr < 0)
		return berr_wrap(err, "%s", what);
	if (r->cpu_period && (r->cpu_period < 1000 || r->cpu_period > 1000000))
		return berr_set(err, EINVAL, "%s: cpu_period %lld out of range (1000..1000000 us)",
				what, (long long)r->cpu_period);
	if (r->cpu_quota && r->cpu_quota != -1 && r->cpu_quota < 1000)
		return berr_set(err, EINVAL, "%s: cpu_quota %lld must be -1 or at least 1000 us",
				what, (long long)r->cpu_quota);
	if (r->cpu_shares && (r->cpu_shares < 2 || r->cpu_shares > CPU_SHARES_MAX))
		return berr_set(err, EINVAL, "%s: cpu_shares %lld out of range (2..%d)", what,
				(long long)r->cpu_shares, CPU_SHARES_MAX);
	/* the two are added: keep the sum far from overflowing */
	if (r->memory_limit_in_bytes >= (INT64_C(1) << 62))
		return berr_set(err, EINVAL, "%s: memory_limit_in_bytes %lld too large (>= 2^62)",
				what, (long long)r->memory_limit_in_bytes);
	return 0;
}

static int64_t period_of(const Runtime__V1__LinuxContainerResources *r)
{
	return r->cpu_period ? r->cpu_period : CPU_PERIOD_DEFAULT;
}

/* resources + overhead; without resources the pod has no envelope to apply. */
static void envelope(const Runtime__V1__LinuxContainerResources *res,
		     const Runtime__V1__LinuxContainerResources *ovh, struct netns_cg_limits *l)
{
	*l = (struct netns_cg_limits){0};
	if (!res)
		return;
	if (res->cpu_shares > 0) {
		int64_t s = res->cpu_shares + (ovh && ovh->cpu_shares > 0 ? ovh->cpu_shares : 0);
		l->cpu_shares = (uint64_t)(s > CPU_SHARES_MAX ? CPU_SHARES_MAX : s);
	}
	if (res->memory_limit_in_bytes > 0)
		l->memory_limit =
		    res->memory_limit_in_bytes +
		    (ovh && ovh->memory_limit_in_bytes > 0 ? ovh->memory_limit_in_bytes : 0);
	l->cpu_period = (uint64_t)res->cpu_period;
	if (res->cpu_quota > 0) {
		int64_t q = res->cpu_quota;
		if (ovh && ovh->cpu_quota > 0) /* at the resources' period */
			q += ovh->cpu_quota * period_of(res) / period_of(ovh);
		l->cpu_quota = q;
	} else if (res->cpu_quota == -1) {
		l->cpu_quota = -1;
	}
}

static Runtime__V1__LinuxContainerResources *
merged_one(const Runtime__V1__LinuxContainerResources *cur,
	   const Runtime__V1__LinuxContainerResources *upd)
{
	if (!cur && !upd)
		return NULL;
	/* No process gets this oom_score_adj: no floor to clamp it at. */
	return oci_resources_merge(cur, upd, -1000);
}

int cri_podres_merge(const struct store_sb_status *cur,
		     const Runtime__V1__LinuxContainerResources *res,
		     const Runtime__V1__LinuxContainerResources *ovh,
		     const struct oci_runtime_opts *opts, struct cri_podres *ret, struct berr **err)
{
	struct cri_podres p = {0};
	Runtime__V1__LinuxContainerResources *cr =
	    cur ? cri_podres_recorded(cur, CRI_SB_S_RESOURCES) : NULL;
	Runtime__V1__LinuxContainerResources *co =
	    cur ? cri_podres_recorded(cur, CRI_SB_S_OVERHEAD) : NULL;
	p.resources = merged_one(cr, res);
	p.overhead = merged_one(co, ovh);
	if (cr)
		protobuf_c_message_free_unpacked(&cr->base, NULL);
	if (co)
		protobuf_c_message_free_unpacked(&co->base, NULL);
	int r = 0;
	if (p.resources)
		r = check_values("linux.resources", p.resources, opts, err);
	if (r == 0 && p.overhead)
		r = check_values("linux.overhead", p.overhead, opts, err);
	if (r < 0) {
		cri_podres_done(&p);
		return r;
	}
	envelope(p.resources, p.overhead, &p.limits);
	if (p.resources)
		p.kv[p.n_kv++] = (struct store_kv){CRI_SB_S_RESOURCES, hex_of(&p.resources->base)};
	if (p.overhead)
		p.kv[p.n_kv++] = (struct store_kv){CRI_SB_S_OVERHEAD, hex_of(&p.overhead->base)};
	*ret = p;
	return 0;
}

int cri_podres_from_config(const struct berth *b, const Runtime__V1__PodSandboxConfig *cfg,
			   struct cri_podres *ret, struct berr **err)
{
	static const struct oci_runtime_opts none;
	const Runtime__V1__LinuxPodSandboxConfig *lx = cfg->linux;
	return cri_podres_merge(NULL, lx ? lx->resources : NULL, lx ? lx->overhead : NULL,
				b->rt ? &b->rt->opts : &none, ret, err);
}

int64_t cri_podres_memory_limit(const struct store_sb_status *st)
{
	struct cri_podres p = {0};
	if (cri_podres_merge(st, NULL, NULL, &(struct oci_runtime_opts){0}, &p, NULL) < 0)
		return 0;
	int64_t v = p.limits.memory_limit;
	cri_podres_done(&p);
	return v;
}

/* ---- verbose info ---- */

static struct json_object *res_json(const Runtime__V1__LinuxContainerResources *r)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "cpuPeriod", json_object_new_int64(r->cpu_period));
	json_object_object_add(o, "cpuQuota", json_object_new_int64(r->cpu_quota));
	json_object_object_add(o, "cpuShares", json_object_new_int64(r->cpu_shares));
	json_object_object_add(o, "memoryLimitInBytes",
			       json_object_new_int64(r->memory_limit_in_bytes));
	json_object_object_add(o, "memorySwapLimitInBytes",
			       json_object_new_int64(r->memory_swap_limit_in_bytes));
	json_object_object_add(o, "oomScoreAdj", json_object_new_int64(r->oom_score_adj));
	json_object_object_add(o, "cpusetCpus",
			       json_object_new_string(r->cpuset_cpus ? r->cpuset_cpus : ""));
	json_object_object_add(o, "cpusetMems",
			       json_object_new_string(r->cpuset_mems ? r->cpuset_mems : ""));
	struct json_object *h = json_object_new_array();
	for (size_t i = 0; i < r->n_hugepage_limits; i++) {
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "pageSize",
				       json_object_new_string(r->hugepage_limits[i]->page_size));
		json_object_object_add(e, "limit",
				       json_object_new_uint64(r->hugepage_limits[i]->limit));
		json_object_array_add(h, e);
	}
	json_object_object_add(o, "hugepageLimits", h);
	struct json_object *u = json_object_new_object();
	for (size_t i = 0; i < r->n_unified; i++)
		json_object_object_add(u, r->unified[i]->key,
				       json_object_new_string(r->unified[i]->value));
	json_object_object_add(o, "unified", u);
	return o;
}

void cri_podres_info(const struct store_sb_meta *m, const struct store_sb_status *st,
		     struct json_object *o)
{
	struct cri_podres p = {0};
	if (cri_podres_merge(st, NULL, NULL, &(struct oci_runtime_opts){0}, &p, NULL) < 0)
		return;
	json_object_object_add(o, "resources", p.resources ? res_json(p.resources) : NULL);
	json_object_object_add(o, "overhead", p.overhead ? res_json(p.overhead) : NULL);
	/* what berth's pod cgroup holds (none without one: no cgroup_parent, systemd) */
	struct json_object *l = NULL;
	if (cri_sb_extra(m, CRI_SB_X_CGROUP) && p.resources) {
		l = json_object_new_object();
		json_object_object_add(l, "cpuShares", json_object_new_int64(p.limits.cpu_shares));
		json_object_object_add(l, "cpuQuota", json_object_new_int64(p.limits.cpu_quota));
		json_object_object_add(l, "cpuPeriod", json_object_new_int64(p.limits.cpu_period));
		json_object_object_add(l, "memoryLimitInBytes",
				       json_object_new_int64(p.limits.memory_limit));
	}
	json_object_object_add(o, "podCgroupLimits", l);
	cri_podres_done(&p);
}

/* ---- UpdatePodSandboxResources ---- */

static int kv_put(struct store_sb_status *st, const struct store_kv *kv)
{
	for (size_t i = 0; i < st->n_extra; i++) {
		if (strcmp(st->extra[i].key, kv->key) == 0) {
			free(st->extra[i].value);
			st->extra[i].value = xstrdup(kv->value);
			return 0;
		}
	}
	st->extra = xreallocarray(st->extra, st->n_extra + 1, sizeof(*st->extra));
	st->extra[st->n_extra++] = (struct store_kv){xstrdup(kv->key), xstrdup(kv->value)};
	return 0;
}

static int pod_ready(const struct store_sb_status *st, const char *id, struct berr **err)
{
	if (st->removing)
		return berr_set(err, EBUSY, "pod sandbox '%s' is being removed", id);
	if (st->state != STORE_SB_READY)
		return berr_set(err, EBUSY, "pod sandbox '%s' is not ready", id);
	if (st->stopping)
		return berr_set(err, EBUSY, "pod sandbox '%s' is being stopped", id);
	return 0;
}

struct record_arg {
	const struct cri_podres *p;
	const char *id;
};

static int record_fn(struct store_sb_status *st, void *arg, struct berr **err)
{
	const struct record_arg *a = arg;
	int r = pod_ready(st, a->id, err);
	for (size_t i = 0; i < a->p->n_kv && r == 0; i++)
		r = kv_put(st, &a->p->kv[i]);
	return r;
}

/* Under podres_mu: merge and check, apply to the pod cgroup, record; a failed
 * record puts the cgroup back as it was. */
static int update_locked(struct berth *b, struct store_sb *sb,
			 const Runtime__V1__UpdatePodSandboxResourcesRequest *in, struct berr **err)
{
	const struct store_sb_meta *m = store_sb_meta(sb);
	struct store_sb_status st;
	store_sb_status(sb, &st);
	struct cri_podres p = {0};
	int r = pod_ready(&st, m->id, err);
	if (r == 0)
		r = cri_podres_merge(&st, in->resources, in->overhead, &b->rt->opts, &p, err);
	store_sb_status_done(&st);
	const char *cg = cri_sb_extra(m, CRI_SB_X_CGROUP);
	struct netns_cg_saved saved = {0};
	if (r == 0 && cg) {
		r = netns_cgroup_set_limits(NULL, cg, &p.limits, &saved, err);
		if (r < 0)
			berr_wrap(err, "apply to pod cgroup '%s'", cg);
	}
	if (r == 0) {
		r = store_sb_update(b->store, sb, record_fn, &(struct record_arg){&p, m->id}, err);
		if (r < 0)
			netns_cgroup_restore(&saved);
	}
	netns_cg_saved_done(&saved);
	cri_podres_done(&p);
	return r;
}

int cri_update_pod_sandbox_resources(struct berth *b, struct cri_call *call,
				     const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
				     struct berr **err)
{
	const Runtime__V1__UpdatePodSandboxResourcesRequest *in = (const void *)req;
	const char *id = in->pod_sandbox_id ? in->pod_sandbox_id : "";
	if (!id[0])
		return berr_set(err, EINVAL, "pod sandbox id is empty");
	if (!in->resources && !in->overhead)
		return berr_set(err, EINVAL,
				"update resources of pod sandbox '%s': neither overhead nor "
				"resources given",
				id);
	if (!b->rt)
		return berr_set(err, ENOSYS, "container runtime not initialised");
	struct store_sb *sb = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	int r = store_sb_get(b->store, id, &sb, &e);
	if (r == -ENOENT)
		return berr_set(err, ENOENT, "pod sandbox '%s' not found", id);
	if (r < 0)
		return berr_move(err, &e);
	pthread_mutex_lock(&b->rt->podres_mu);
	r = update_locked(b, sb, in, err);
	pthread_mutex_unlock(&b->rt->podres_mu);
	store_sb_unref(sb);
	if (r < 0)
		return berr_wrap(err, "update resources of pod sandbox '%s'", id);
	*ret_resp = cri_msg_new(&runtime__v1__update_pod_sandbox_resources_response__descriptor);
	return 0;
}
