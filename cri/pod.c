/* SPDX-License-Identifier: Apache-2.0 */
/* pod.c - shared pieces of the sandbox and container handlers: the default
 * ops table, the sandbox as containers see it, runtime handlers, the runtime
 * facts detected at start and the exit monitor's lifetime. */
#define LOG_COMPONENT "cri" /* before any header: cri.h includes log.h */

#include "cri/pod.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "cri/events-internal.h"
#include "cri/imgvol.h"
#include "cri/validate-internal.h"
#include "shim/shim.h"

const struct cri_ops *cri_ops_of(const struct berth *b)
{
	return b->ops ? b->ops : &cri_default_ops;
}

static const char *extra_get(const struct store_kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i].key, key) == 0)
			return kv[i].value && kv[i].value[0] ? kv[i].value : NULL;
	return NULL;
}

const char *cri_sb_extra(const struct store_sb_meta *m, const char *key)
{
	return extra_get(m->extra, m->n_extra, key);
}

const char *cri_ctr_extra(const struct store_ctr_meta *m, const char *key)
{
	return extra_get(m->extra, m->n_extra, key);
}

static char *file_if_present(const char *dir, const char *name)
{
	if (!dir)
		return NULL;
	char *p = xasprintf("%s/%s", dir, name);
	if (access(p, F_OK) == 0)
		return p;
	free(p);
	return NULL;
}

int cri_pod_info_load(struct berth *b, const char *sandbox_id, struct cri_pod_info *ret,
		      struct berr **err)
{
	struct cri_pod_info p = {0};
	_cleanup_berr_ struct berr *e = NULL;
	int r = store_sb_get(b->store, sandbox_id, &p.sb, &e);
	if (r == -ENOENT)
		return berr_set(err, ENOENT, "pod sandbox '%s' not found", sandbox_id);
	if (r < 0)
		return berr_move(err, &e);
	p.meta = store_sb_meta(p.sb);
	store_sb_status(p.sb, &p.st);
	if (p.meta->config.data && p.meta->config.len > 0)
		p.config = runtime__v1__pod_sandbox_config__unpack(NULL, p.meta->config.len,
								   p.meta->config.data);
	const char *dir = cri_sb_extra(p.meta, CRI_SB_X_SANDBOX_DIR);
	p.hostname_file = file_if_present(dir, "hostname");
	p.hosts_file = file_if_present(dir, "hosts");
	p.resolv_file = file_if_present(dir, "resolv.conf");
	p.oci = (struct oci_sandbox_info){
	    .id = p.meta->id,
	    .hostname = cri_sb_extra(p.meta, CRI_SB_X_HOSTNAME),
	    .netns_path = p.st.netns_path,
	    .ipcns_path = p.st.ipc_ns_path,
	    .utsns_path = p.st.uts_ns_path,
	    .pidns_path = p.st.pid_ns_path,
	    .hostname_file = p.hostname_file,
	    .hosts_file = p.hosts_file,
	    .resolv_file = p.resolv_file,
	    .shm_dir = cri_sb_extra(p.meta, CRI_SB_X_SHM),
	    .cgroup_parent = cri_sb_extra(p.meta, CRI_SB_X_CGROUP),
	};
	const char *uids = cri_sb_extra(p.meta, CRI_SB_X_USERNS_UIDS);
	const char *gids = cri_sb_extra(p.meta, CRI_SB_X_USERNS_GIDS);
	const char *ns_dir = cri_sb_extra(p.meta, CRI_SB_X_NS_DIR);
	unsigned c;
	if (uids && gids && ns_dir &&
	    sscanf(uids, "%u:%u:%u", &c, &p.oci.uid_host, &p.oci.uid_len) == 3 &&
	    sscanf(gids, "%u:%u:%u", &c, &p.oci.gid_host, &p.oci.gid_len) == 3) {
		p.userns_path = xasprintf("%s/user", ns_dir);
		p.oci.userns_path = p.userns_path;
	}
	*ret = p;
	return 0;
}

void cri_pod_info_done(struct cri_pod_info *p)
{
	if (p->config)
		runtime__v1__pod_sandbox_config__free_unpacked(p->config, NULL);
	store_sb_status_done(&p->st);
	store_sb_unref(p->sb);
	free(p->hostname_file);
	free(p->hosts_file);
	free(p->resolv_file);
	free(p->userns_path);
	*p = (struct cri_pod_info){0};
}

int cri_handler_of(struct berth *b, const char *name, struct oci_runtime_handler *ret,
		   struct berr **err)
{
	if (!name || !name[0])
		name = b->cfg.default_runtime;
	const struct berth_runtime *rt = cri_config_runtime(&b->cfg, name);
	if (!rt)
		return berr_set(err, EINVAL, "runtime handler '%s' is not configured", name);
	*ret = (struct oci_runtime_handler){
	    .name = rt->name,
	    .path = rt->path,
	    .root = rt->root,
	    .systemd_cgroup = b->cfg.cgroup_driver == BERTH_CGROUP_SYSTEMD,
	    .extra_args = rt->options,
	    .timeout_ms = rt->timeout_ms,
	    .exec_helper = b->rt ? b->rt->exec_path : NULL,
	};
	return 0;
}

void cri_kv_from_entries(void *entries, size_t n, struct store_kv **ret, size_t *ret_n)
{
	struct cri_kv_entry **e = entries;
	struct store_kv *kv = xcalloc(n ? n : 1, sizeof(*kv));
	for (size_t i = 0; i < n; i++)
		kv[i] = (struct store_kv){e[i]->key, e[i]->value};
	*ret = kv;
	*ret_n = n;
}

void *cri_entries_from_kv(const ProtobufCMessageDescriptor *d, const struct store_kv *kv, size_t n)
{
	struct cri_kv_entry **v = xcalloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		v[i] = (void *)cri_msg_new(d);
		v[i]->key = xstrdup(kv[i].key);
		v[i]->value = xstrdup(kv[i].value);
	}
	return v;
}

/* ---- runtime facts ---- */

static char *helper_path(const struct berth *b, const char *name)
{
	const char *dir = b->cfg.libexec_dir ? b->cfg.libexec_dir : BERTH_LIBEXECDIR;
	return xasprintf("%s/%s", dir, name);
}

static int detect_opts(struct berth *b, struct cri_runtime *rt, struct berr **err)
{
	struct oci_runtime_opts *o = &rt->opts;
	o->cgroup_driver = b->cfg.cgroup_driver == BERTH_CGROUP_SYSTEMD
			       ? OCI_CGROUP_DRIVER_SYSTEMD
			       : OCI_CGROUP_DRIVER_CGROUPFS;
	int r = oci_cgroup_mode_detect(NULL, &o->cgroup_mode, err);
	if (r < 0)
		return r;
	r = oci_oom_score_adj_self(&o->oom_score_adj_min, err);
	if (r < 0)
		return r;
	r = oci_caps_bounding_self(&rt->caps_all, err);
	if (r < 0)
		return r;
	o->all_caps = rt->caps_all;
	r = oci_seccomp_host_detect(&o->seccomp_host, err);
	if (r < 0)
		return r;
	if (o->cgroup_mode == OCI_CGROUP_MODE_V2) {
		o->swap_supported = access("/sys/fs/cgroup/memory.swap.max", F_OK) == 0 ||
				    access("/sys/fs/cgroup/init.scope/memory.swap.max", F_OK) == 0;
		o->hugetlb_supported =
		    access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0; /* checked by runc */
	} else {
		o->swap_supported =
		    access("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", F_OK) == 0;
		/* On the hybrid layout hugetlb may live only in the v2 part, where runc
		 * (v1 mode) can't use it. */
		o->hugetlb_supported = access("/sys/fs/cgroup/hugetlb/tasks", F_OK) == 0;
	}
	return 0;
}

/* What the kernel and the filesystems of the state and run dirs offer for
 * recursive read-only mounts and pod user namespaces: checked once, logged, and
 * advertised per handler in Status (runtime.c). */
static int kernel_probe(struct berth *b, struct cri_runtime *rt, struct berr **err)
{
	_cleanup_free_ char *scratch = xasprintf("%s/idmap-probe", b->cfg.run_dir);
	_cleanup_free_ char *pin_root = xasprintf("%s/ns", b->cfg.run_dir);
	struct cri_probe_opts po = {.pinns = rt->pinns_path,
				    .pin_root = pin_root,
				    .scratch_dir = scratch,
				    .state_dir = b->cfg.state_dir,
				    .run_dir = b->cfg.run_dir};
	cri_kernel_probe(&po, &rt->kfeat);
	rt->opts.rro_supported = rt->kfeat.mount_setattr;
	rt->facts->kernel_known = true;
	rt->facts->rro_mounts = rt->kfeat.mount_setattr;
	rt->facts->user_namespaces = rt->kfeat.idmap;
	if (!rt->kfeat.mount_setattr)
		log_warn("msg=\"recursive read-only mounts: no mount_setattr(2) in this kernel; "
			 "they are refused, ignoring\"");
	if (rt->kfeat.idmap)
		log_info("msg=\"user namespaces for pods: idmapped mounts work on the state and "
			 "run dirs\"");
	else
		log_warn("msg=\"user namespaces for pods are off: %s, ignoring\"",
			 rt->kfeat.idmap_missing);
	(void)err;
	return 0;
}

int cri_runtime_init(struct berth *b, bool start_monitor, struct berr **err)
{
	struct cri_runtime *rt = xcalloc(1, sizeof(*rt));
	pthread_mutex_init(&rt->exit_mu, NULL);
	pthread_mutex_init(&rt->cidr_mu, NULL);
	pthread_mutex_init(&rt->podres_mu, NULL);
	/* Waiters compute deadlines on CLOCK_MONOTONIC (cri_ctr_wait_exit). */
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rt->exit_cond, &ca);
	pthread_condattr_destroy(&ca);
	rt->exit_dir = xasprintf("%s/exits", b->cfg.run_dir);
	rt->shim_path = helper_path(b, "berth-shim");
	rt->exec_path = helper_path(b, "berth-exec");
	rt->pinns_path = helper_path(b, "berth-pinns");
	rt->stop_wait_ms = 10000;
	rt->cpu_cache = cri_cpu_cache_new();
	rt->events = cri_events_new(CRI_EVENTS_QUEUE_LEN, CRI_EVENTS_MAX_SUBS);
	rt->imgvols = cri_imgvols_new();
	b->rt = rt;
	int r = detect_opts(b, rt, err);
	rt->facts = xcalloc(1, sizeof(*rt->facts));
	cri_host_facts_detect(NULL, b->cfg.cgroup_driver == BERTH_CGROUP_SYSTEMD,
			      rt->opts.cgroup_mode == OCI_CGROUP_MODE_V2, rt->facts);
	if (r >= 0)
		r = kernel_probe(b, rt, err);
	if (r >= 0)
		r = fileio_mkdir_p(rt->exit_dir, 0700, err);
	/* The watch exists before the scan, so an exit in between is seen by one. */
	if (r >= 0 && start_monitor)
		r = cri_monitor_start(b, &rt->monitor, err);
	if (r >= 0)
		r = cri_recover(b, err);
	if (r < 0) {
		cri_runtime_done(b);
		return r;
	}
	return 0;
}

void cri_runtime_done(struct berth *b)
{
	struct cri_runtime *rt = b->rt;
	if (!rt)
		return;
	rt->monitor = cri_monitor_stop(rt->monitor);
	rt->cpu_cache = cri_cpu_cache_free(rt->cpu_cache);
	/* The server has stopped: no stream is left (cri_server_stop joined them). */
	rt->events = cri_events_free(rt->events);
	rt->imgvols = cri_imgvols_free(rt->imgvols);
	strv_free(rt->caps_all);
	free(rt->facts);
	free(rt->exit_dir);
	free(rt->shim_path);
	free(rt->exec_path);
	free(rt->pinns_path);
	pthread_cond_destroy(&rt->exit_cond);
	pthread_mutex_destroy(&rt->exit_mu);
	free(rt->pod_cidrs);
	pthread_mutex_destroy(&rt->cidr_mu);
	pthread_mutex_destroy(&rt->podres_mu);
	free(rt);
	b->rt = NULL;
}
