/* SPDX-License-Identifier: Apache-2.0 */
/* sandbox.c - the pod sandbox RPCs: RunPodSandbox, StopPodSandbox,
 * RemovePodSandbox, PodSandboxStatus, ListPodSandbox (issue 5).
 *
 * A sandbox is a store record plus, on the host:
 *   <run_dir>/ns/<id>/{net,ipc,uts,pid,init-pid}  pinned namespaces (netns/)
 *   <run_dir>/sandboxes/<id>/{hostname,hosts,resolv.conf,shm/}
 *   <state_dir>/cni/<id>-eth0.json                   CNI cache (netns/cni-exec.c)
 *   <cgroup root>/<cgroup_parent>/berth-<id>        pod cgroup holding the init
 * Run decides every path first and writes the record (NOTREADY, claimed), then
 * builds the rest in that order and marks the record READY; any failure undoes
 * the steps in reverse and deletes the record, which releases the name. After
 * a crash in the middle of Run the record lists what may exist, and Stop and
 * Remove undo it (each of their steps accepts a missing piece). Stop kills the
 * pod init, runs CNI DEL (retried) and unmounts /dev/shm; Remove also unpins
 * and deletes dirs, cgroup and record. Both are idempotent; a missing ID is
 * success for them. No lock is held across these callouts: Run, Stop and
 * Remove claim the sandbox through the stopping/removing flags (style §5).
 *
 * The sandbox's choices are fixed at Run and kept in meta->extra (SB_X_*). */
#define LOG_COMPONENT "cri" /* before any header: cri.h includes log.h */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fault.h"
#include "common/fileio.h"
#include "common/ids.h"
#include "common/sysctl.h"
#include "cri/pod.h"
#include "cri/podres.h"
#include "netns/netns.h"
#include "store/store.h"
#include "cri/validate-internal.h"
#include "cri/obs.h"

#define SB_X_NS_DIR	 "ns_dir"
#define SB_X_SANDBOX_DIR "sandbox_dir"
#define SB_X_CGROUP	 "cgroup"
#define SB_X_HOSTNAME	 "hostname"
#define SB_X_NET_MODE	 "ns_network"
#define SB_X_PID_MODE	 "ns_pid"
#define SB_X_IPC_MODE	 "ns_ipc"
#define SB_X_SHM	 "shm"
#define SB_X_USERNS_UIDS "userns_uids"
#define SB_X_USERNS_GIDS "userns_gids"
#define SB_X_N		 10

#define CNI_DEL_ATTEMPTS 3
#define MAX_SYSCTLS	 256

/* The layout shared by every protobuf-c map entry of string to string. */
struct kv_entry {
	ProtobufCMessage base;
	char *key;
	char *value;
};

struct sb_plan {
	char id[ID_LEN + 1];
	char *name;
	bool name_reserved;
	Runtime__V1__NamespaceMode net, pid, ipc;
	char *ns_dir, *sandbox_dir, *shm, *cgroup, *hostname;
	char *uidmap, *gidmap; /* "0:HOST:LENGTH": a user namespace of the pod; NULL: the node's */
	struct netns_pins pins;
	bool recorded, pinned, cgroup_made, files_dir, shm_mounted, cni_added;
	struct store_sb *sb; /* our reference once recorded */
	struct cni_result cni;
	struct cri_podres res; /* pod-level resources (podres.c) */
};

static const char *extra_get(const struct store_kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(kv[i].key, key))
			return kv[i].value;
	}
	return NULL;
}

static const char *meta_extra(const struct store_sb_meta *m, const char *key)
{
	const char *v = extra_get(m->extra, m->n_extra, key);
	return v && *v ? v : NULL;
}

/* Finds berth-pinns next to berthd (build tree: cri/berthd and
 * libexec/berth-pinns), else in the installed libexec dir. */
static char *pinns_path(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			char *p = xasprintf("%s/../libexec/berth-pinns", self);
			if (access(p, X_OK) == 0)
				return p;
			free(p);
		}
	}
	return xstrdup(BERTH_LIBEXECDIR "/berth-pinns");
}

static char *cni_bin_path(const struct berth *b)
{
	size_t len = 1;
	for (char **d = b->cfg.cni_bin_dirs; *d; d++)
		len += strlen(*d) + 1;
	char *s = xcalloc(1, len);
	for (char **d = b->cfg.cni_bin_dirs; *d; d++) {
		if (*s)
			strcat(s, ":");
		strcat(s, *d);
	}
	return s;
}

static void cni_config_of(const struct berth *b, char *bin_path, char *cache_dir,
			  struct cni_config *ret)
{
	*ret = (struct cni_config){
	    .conf_dir = b->cfg.cni_conf_dir, .bin_path = bin_path, .cache_dir = cache_dir};
}

static const char *protocol_name(Runtime__V1__Protocol p)
{
	return p == RUNTIME__V1__PROTOCOL__UDP	  ? "udp"
	       : p == RUNTIME__V1__PROTOCOL__SCTP ? "sctp"
						  : "tcp";
}

/* CNI ADD (or DEL) of the sandbox described by the config. */
static int sb_cni(const struct berth *b, const char *id, const char *netns,
		  const Runtime__V1__PodSandboxConfig *cfg, struct cni_result *ret_add,
		  struct berr **err)
{
	_cleanup_free_ char *bin = cni_bin_path(b);
	_cleanup_free_ char *cache = xasprintf("%s/cni", b->cfg.state_dir);
	struct cni_config c;
	cni_config_of(b, bin, cache, &c);
	size_t n = cfg ? cfg->n_port_mappings : 0;
	_cleanup_free_ struct cni_portmap *ports = xcalloc(n ? n : 1, sizeof(*ports));
	for (size_t i = 0; i < n; i++) {
		const Runtime__V1__PortMapping *pm = cfg->port_mappings[i];
		ports[i] = (struct cni_portmap){pm->host_port, pm->container_port,
						protocol_name(pm->protocol), pm->host_ip};
	}
	/* kubelet sends mappings without a host port for documentation only */
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (ports[i].host_port > 0)
			ports[k++] = ports[i];
	}
	const Runtime__V1__PodSandboxMetadata *md = cfg ? cfg->metadata : NULL;
	struct cni_pod pod = {.id = id,
			      .netns = netns,
			      .name = md ? md->name : NULL,
			      .namespace = md ? md->namespace_ : NULL,
			      .uid = md ? md->uid : NULL,
			      .ports = ports,
			      .n_ports = k};
	int64_t t0 = time_mono_ns();
	if (ret_add) {
		int r = cri_ops_of(b)->cni->add(&c, &pod, ret_add, err);
		cri_obs_cni(b, "ADD", t0, r);
		return r;
	}
	for (int attempt = 1;; attempt++) {
		_cleanup_berr_ struct berr *e = NULL;
		t0 = time_mono_ns();
		int r = cri_ops_of(b)->cni->del(&c, &pod, &e);
		cri_obs_cni(b, "DEL", t0, r);
		if (r == 0)
			return 0;
		if (attempt == CNI_DEL_ATTEMPTS)
			return berr_move(err, &e);
		log_warn("sandbox=%.12s msg=\"CNI DEL: %s, retrying\"", id, berr_msg(e));
		/* a back-off for transient trouble (the xtables lock, a busy IPAM store) */
		struct timespec ts = {0, 100 * 1000000L * attempt};
		nanosleep(&ts, NULL);
	}
}

static void plan_free(struct sb_plan *p)
{
	free(p->name);
	free(p->ns_dir);
	free(p->sandbox_dir);
	free(p->shm);
	free(p->cgroup);
	free(p->hostname);
	free(p->uidmap);
	free(p->gidmap);
	netns_pins_done(&p->pins);
	cni_result_done(&p->cni);
	store_sb_unref(p->sb);
	cri_podres_done(&p->res);
}

/* Undoes what Run made, last first (best effort: each step is idempotent,
 * and a record left behind by a failed delete is removed by RemovePodSandbox).
 * Deleting the record releases the name. */
static void plan_rollback(struct berth *b, struct sb_plan *p,
			  const Runtime__V1__PodSandboxConfig *cfg)
{
	if (p->shm_mounted)
		(void)netns_shm_unmount(p->shm, NULL);
	if (p->files_dir)
		(void)fileio_remove_tree(p->sandbox_dir, NULL);
	if (p->cni_added)
		(void)sb_cni(b, p->id, p->pins.net, cfg, NULL, NULL);
	if (p->pinned)
		(void)netns_unpin(p->ns_dir, NULL);
	if (p->cgroup_made)
		(void)netns_cgroup_remove(NULL, p->cgroup, NULL);
	if (p->recorded)
		(void)store_sb_delete(b->store, p->id, NULL);
	else if (p->name_reserved)
		store_sb_release_name(b->store, p->name, p->id);
}

static Runtime__V1__NamespaceOption *ns_options(const Runtime__V1__PodSandboxConfig *cfg)
{
	if (cfg->linux && cfg->linux->security_context)
		return cfg->linux->security_context->namespace_options;
	return NULL;
}

static bool plan_host_net(const struct sb_plan *p)
{
	return p->net == RUNTIME__V1__NAMESPACE_MODE__NODE;
}

/* Everything Run will make, decided before anything is made, so that the
 * record written first names it all. */
static int plan_decide(struct berth *b, struct sb_plan *p, const Runtime__V1__PodSandboxConfig *cfg,
		       struct berr **err)
{
	const Runtime__V1__NamespaceOption *o = ns_options(cfg);
	p->net = o ? o->network : RUNTIME__V1__NAMESPACE_MODE__POD;
	p->pid = o ? o->pid : RUNTIME__V1__NAMESPACE_MODE__POD;
	p->ipc = o ? o->ipc : RUNTIME__V1__NAMESPACE_MODE__POD;
	/* A pod has one UTS namespace: its own, unless it uses the host's network. */
	if (plan_host_net(p)) {
		char h[HOST_NAME_MAX + 1] = {0};
		if (gethostname(h, sizeof(h) - 1) < 0)
			return berr_set_errno(err, errno, "gethostname");
		p->hostname = xstrdup(h);
	} else {
		/* Without one, the pod name cut to a DNS label, as kubelet does. */
		bool given = cfg->hostname && *cfg->hostname;
		const char *h = given ? cfg->hostname : cfg->metadata->name;
		p->hostname = xstrndup(h, given ? strlen(h) : 63);
		for (size_t n = strlen(p->hostname); n > 1 && strchr("-.", p->hostname[n - 1]); n--)
			p->hostname[n - 1] = '\0';
	}
	const Runtime__V1__UserNamespace *u = o ? o->userns_options : NULL;
	if (u && u->mode == RUNTIME__V1__NAMESPACE_MODE__POD && u->n_uids == 1 && u->n_gids == 1) {
		/* validated: one mapping each, from container ID 0 (validate_pod.c) */
		p->uidmap = xasprintf("%u:%u:%u", u->uids[0]->container_id, u->uids[0]->host_id,
				      u->uids[0]->length);
		p->gidmap = xasprintf("%u:%u:%u", u->gids[0]->container_id, u->gids[0]->host_id,
				      u->gids[0]->length);
	}
	p->ns_dir = xasprintf("%s/ns/%s", b->cfg.run_dir, p->id);
	p->sandbox_dir = xasprintf("%s/sandboxes/%s", b->cfg.run_dir, p->id);
	/* With the host's IPC namespace containers use the host's /dev/shm. */
	if (p->ipc != RUNTIME__V1__NAMESPACE_MODE__NODE)
		p->shm = xasprintf("%s/shm", p->sandbox_dir);
	const char *parent = cfg->linux ? cfg->linux->cgroup_parent : NULL;
	/* cgroupfs only for now; with the systemd driver the parent is a slice. */
	if (parent && *parent && b->cfg.cgroup_driver == BERTH_CGROUP_CGROUPFS)
		p->cgroup = xasprintf("%s/berth-%.12s", parent, p->id);
	return 0;
}

static int plan_namespaces(struct berth *b, struct sb_plan *p,
			   const Runtime__V1__PodSandboxConfig *cfg, struct berr **err)
{
	size_t n_sysctls = cfg->linux ? cfg->linux->n_sysctls : 0;
	if (n_sysctls > MAX_SYSCTLS)
		return berr_set(err, E2BIG, "too many sysctls (%zu > %d)", n_sysctls, MAX_SYSCTLS);
	_cleanup_strv_ char **sysctls = xcalloc(n_sysctls + 1, sizeof(char *));
	for (size_t i = 0; i < n_sysctls; i++)
		sysctls[i] =
		    xasprintf("%s=%s", cfg->linux->sysctls[i]->key, cfg->linux->sysctls[i]->value);
	_cleanup_free_ char *pinns = b->rt ? xstrdup(b->rt->pinns_path) : pinns_path();
	bool host_net = plan_host_net(p);
	struct netns_pin_opts po = {
	    .dir = p->ns_dir,
	    .net = !host_net,
	    .ipc = p->ipc != RUNTIME__V1__NAMESPACE_MODE__NODE,
	    .uts = !host_net,
	    .pid = p->pid == RUNTIME__V1__NAMESPACE_MODE__POD,
	    .hostname = host_net ? NULL : p->hostname,
	    .sysctls = (const char *const *)sysctls,
	    .n_sysctls = n_sysctls,
	    .pinns = pinns,
	    .uidmap = p->uidmap,
	    .gidmap = p->gidmap,
	};
	if (!po.net && !po.ipc && !po.uts && !po.pid)
		return 0;
	int r = netns_pin_pod(&po, &p->pins, err);
	if (r == 0)
		p->pinned = true;
	return r;
}

static int plan_cgroup(struct sb_plan *p, struct berr **err)
{
	if (!p->cgroup)
		return 0;
	int r = netns_cgroup_create(NULL, p->cgroup, err);
	if (r < 0)
		return r;
	p->cgroup_made = true;
	/* the pod's envelope, resources + overhead; kubelet's parent is not touched */
	r = netns_cgroup_set_limits(NULL, p->cgroup, &p->res.limits, NULL, err);
	if (r == 0 && p->pins.init_pid > 0)
		r = netns_cgroup_add_pid(NULL, p->cgroup, p->pins.init_pid, err);
	return r;
}

static int plan_files(struct sb_plan *p, const Runtime__V1__PodSandboxConfig *cfg,
		      struct berr **err)
{
	const Runtime__V1__DNSConfig *d = cfg->dns_config;
	struct netns_dns dns = {0};
	if (d)
		dns = (struct netns_dns){(const char *const *)d->servers,  d->n_servers,
					 (const char *const *)d->searches, d->n_searches,
					 (const char *const *)d->options,  d->n_options};
	struct netns_pod_files f = {.dir = p->sandbox_dir,
				    .hostname = p->hostname,
				    .ips = (const char *const *)p->cni.ips,
				    .n_ips = p->cni.n_ips,
				    .dns = &dns};
	p->files_dir = true;
	int r = netns_pod_files_write(&f, err);
	if (r < 0 || !p->shm)
		return r;
	r = netns_shm_mount(p->shm, 0, err);
	if (r == 0)
		p->shm_mounted = true;
	return r;
}

static void kv_from_entries(struct kv_entry **e, size_t n, struct store_kv **ret, size_t *ret_n)
{
	struct store_kv *kv = xcalloc(n ? n : 1, sizeof(*kv));
	for (size_t i = 0; i < n; i++)
		kv[i] = (struct store_kv){e[i]->key, e[i]->value};
	*ret = kv;
	*ret_n = n;
}

/* The record, written before any work: NOTREADY, claimed (stopping, which is
 * never checkpointed, so a Stop or Remove after a crash can proceed) and with
 * the namespace paths the pins will have, so that Stop and Remove can undo a
 * Run that a crash interrupted. */
static int plan_record(struct berth *b, struct sb_plan *p,
		       const Runtime__V1__RunPodSandboxRequest *in, struct berr **err)
{
	const Runtime__V1__PodSandboxConfig *cfg = in->config;
	struct store_sb_meta m = {0};
	m.id = p->id;
	m.name = p->name;
	m.metadata.name = cfg->metadata->name;
	m.metadata.uid = cfg->metadata->uid;
	m.metadata.namespace = cfg->metadata->namespace_;
	m.metadata.attempt = cfg->metadata->attempt;
	m.runtime_handler = in->runtime_handler;
	size_t len = protobuf_c_message_get_packed_size(&cfg->base);
	_cleanup_free_ void *packed = xmalloc(len ? len : 1);
	protobuf_c_message_pack(&cfg->base, packed);
	m.config = (struct store_bytes){packed, len};
	_cleanup_free_ struct store_kv *labels = NULL, *annotations = NULL;
	kv_from_entries((struct kv_entry **)cfg->labels, cfg->n_labels, &labels, &m.n_labels);
	kv_from_entries((struct kv_entry **)cfg->annotations, cfg->n_annotations, &annotations,
			&m.n_annotations);
	m.labels = labels;
	m.annotations = annotations;
	m.created_at = time_now_ns();
	m.log_directory = cfg->log_directory;
	m.run_dir = p->sandbox_dir;
	m.state_dir = b->cfg.state_dir;
	char net[4], pid[4], ipc[4];
	snprintf(net, sizeof(net), "%d", (int)p->net);
	snprintf(pid, sizeof(pid), "%d", (int)p->pid);
	snprintf(ipc, sizeof(ipc), "%d", (int)p->ipc);
	struct store_kv extra[SB_X_N] = {
	    {SB_X_NS_DIR, p->ns_dir},
	    {SB_X_SANDBOX_DIR, p->sandbox_dir},
	    {SB_X_CGROUP, p->cgroup ? p->cgroup : ""},
	    {SB_X_HOSTNAME, p->hostname},
	    {SB_X_NET_MODE, net},
	    {SB_X_PID_MODE, pid},
	    {SB_X_IPC_MODE, ipc},
	    {SB_X_SHM, p->shm ? p->shm : ""},
	    {SB_X_USERNS_UIDS, p->uidmap ? p->uidmap : ""},
	    {SB_X_USERNS_GIDS, p->gidmap ? p->gidmap : ""},
	};
	m.extra = extra;
	m.n_extra = SB_X_N;

	bool host_net = plan_host_net(p);
	_cleanup_free_ char *net_path = host_net ? NULL : xasprintf("%s/net", p->ns_dir);
	_cleanup_free_ char *uts_path = host_net ? NULL : xasprintf("%s/uts", p->ns_dir);
	_cleanup_free_ char *ipc_path =
	    p->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE ? NULL : xasprintf("%s/ipc", p->ns_dir);
	_cleanup_free_ char *pid_path =
	    p->pid == RUNTIME__V1__NAMESPACE_MODE__POD ? xasprintf("%s/pid", p->ns_dir) : NULL;
	struct store_sb_status st = {0};
	st.state = STORE_SB_NOTREADY;
	st.netns_path = net_path;
	st.ipc_ns_path = ipc_path;
	st.uts_ns_path = uts_path;
	st.pid_ns_path = pid_path;
	st.extra = p->res.kv;
	st.n_extra = p->res.n_kv;
	st.stopping = true;
	int r = store_sb_add(b->store, &m, &st, &p->sb, err);
	if (r == 0)
		p->recorded = true;
	return r;
}

static int ready_fn(struct store_sb_status *st, void *arg, struct berr **err)
{
	const struct sb_plan *p = arg;
	free(st->ip);
	strv_free(st->additional_ips);
	st->ip = p->cni.n_ips > 0 ? xstrdup(p->cni.ips[0]) : NULL;
	st->additional_ips = NULL;
	if (p->cni.n_ips > 1) {
		st->additional_ips = xcalloc(p->cni.n_ips, sizeof(char *));
		for (size_t i = 1; i < p->cni.n_ips; i++)
			st->additional_ips[i - 1] = xstrdup(p->cni.ips[i]);
	}
	st->init_pid = p->pins.init_pid;
	st->network_ready = p->cni_added;
	st->state = STORE_SB_READY;
	st->stopping = false;
	return 0;
}

/* What a pod that shares a namespace of the node can't ask for, refused before anything
 * is made (containerd refuses the hostname; runc would refuse the sysctls later): with
 * the node's network the pod has the node's UTS namespace and so its hostname, and a
 * sysctl of a namespace the pod shares with the node would change the node. */
static int check_host_namespaces(const Runtime__V1__PodSandboxConfig *cfg,
				 const Runtime__V1__NamespaceOption *o, struct berr **err)
{
	bool host_net = o && o->network == RUNTIME__V1__NAMESPACE_MODE__NODE;
	bool host_ipc = o && o->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE;
	if (host_net && cfg->hostname && *cfg->hostname)
		return berr_set(
		    err, EINVAL,
		    "hostname '%s' given for a pod with namespace_options.network NODE: "
		    "it shares the node's UTS namespace and hostname",
		    cfg->hostname);
	size_t n = cfg->linux ? cfg->linux->n_sysctls : 0;
	for (size_t i = 0; i < n; i++) {
		const char *key = cfg->linux->sysctls[i]->key ? cfg->linux->sysctls[i]->key : "";
		enum sysctl_ns ns = sysctl_ns_of(key);
		if ((ns == SYSCTL_NS_NET && host_net) || (ns == SYSCTL_NS_IPC && host_ipc))
			return berr_set(err, EINVAL,
					"linux.sysctls '%s' needs the pod's own %s namespace, but "
					"namespace_options.%s is NODE",
					key, ns == SYSCTL_NS_NET ? "network" : "IPC",
					ns == SYSCTL_NS_NET ? "network" : "ipc");
	}
	return 0;
}

static int check_run_request(const Runtime__V1__RunPodSandboxRequest *in, struct berth *b,
			     struct berr **err)
{
	const Runtime__V1__PodSandboxConfig *cfg = in->config;
	if (!cfg || !cfg->metadata || !cfg->metadata->name || !*cfg->metadata->name)
		return berr_set(err, EINVAL, "sandbox config needs metadata with a name");
	if (!cfg->metadata->namespace_ || !*cfg->metadata->namespace_ || !cfg->metadata->uid ||
	    !*cfg->metadata->uid)
		return berr_set(err, EINVAL, "sandbox metadata needs a namespace and a uid");
	if (in->runtime_handler && *in->runtime_handler &&
	    !cri_config_runtime(&b->cfg, in->runtime_handler))
		return berr_set(err, EINVAL, "runtime handler '%s' is not configured",
				in->runtime_handler);
	const Runtime__V1__NamespaceOption *o = ns_options(cfg);
	if (o && (o->network == RUNTIME__V1__NAMESPACE_MODE__TARGET ||
		  o->pid == RUNTIME__V1__NAMESPACE_MODE__TARGET ||
		  o->ipc == RUNTIME__V1__NAMESPACE_MODE__TARGET))
		return berr_set(err, EINVAL, "namespace mode TARGET is not valid for a sandbox");
	return check_host_namespaces(cfg, o, err);
}

int cri_run_pod_sandbox(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__RunPodSandboxRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	int r = check_run_request(in, b, err);
	if (r < 0)
		return r;
	const Runtime__V1__PodSandboxConfig *cfg = in->config;
	struct sb_plan p = {0};
	r = id_generate(p.id, err);
	if (r < 0)
		return r;
	p.name = store_sb_name_build(cfg->metadata->name, cfg->metadata->namespace_,
				     cfg->metadata->uid, cfg->metadata->attempt);
	r = store_sb_reserve_name(b->store, p.name, p.id, err);
	if (r == 0) {
		p.name_reserved = true;
		r = cri_podres_from_config(b, cfg, &p.res, err);
	}
	if (r == 0)
		r = plan_decide(b, &p, cfg, err);
	if (r == 0)
		r = plan_record(b, &p, in, err);
	if (r == 0)
		r = BERTH_FAULT_POINT("run_pod.recorded", err);
	if (r == 0)
		r = plan_namespaces(b, &p, cfg, err);
	if (r == 0)
		r = plan_cgroup(&p, err);
	if (r == 0)
		r = BERTH_FAULT_POINT("run_pod.pinned", err);
	if (r == 0 && p.pins.net) {
		r = sb_cni(b, p.id, p.pins.net, cfg, &p.cni, err);
		if (r == 0)
			p.cni_added = true;
		if (r == 0)
			r = BERTH_FAULT_POINT("run_pod.network", err);
	}
	if (r == 0)
		r = plan_files(&p, cfg, err);
	if (r == 0)
		r = cri_call_check(call, err);
	if (r == 0)
		r = store_sb_update(b->store, p.sb, ready_fn, &p, err);
	if (r == 0)
		(void)BERTH_FAULT_POINT("run_pod.ready", NULL);
	if (r < 0) {
		plan_rollback(b, &p, cfg);
		berr_wrap(err, "run pod sandbox '%s'", cfg->metadata->name);
		plan_free(&p);
		return r;
	}
	/* As containerd does for its pause container, with the sandbox ID as the
	 * container ID; announced only once the pod is READY, so a failed Run
	 * (rolled back) is never seen. */
	cri_event_emit(b, p.id, p.id, CRI_EV_CREATED);
	cri_event_emit(b, p.id, p.id, CRI_EV_STARTED);
	Runtime__V1__RunPodSandboxResponse *resp =
	    (void *)cri_msg_new(&runtime__v1__run_pod_sandbox_response__descriptor);
	resp->pod_sandbox_id = xstrdup(p.id);
	*ret_resp = &resp->base;
	plan_free(&p);
	return 0;
}

/* ---- stop and remove ---- */

struct claim {
	bool stopping, removing; /* flags to set (true) or clear (false) */
	bool set;
};

static int claim_fn(struct store_sb_status *st, void *arg, struct berr **err)
{
	struct claim *c = arg;
	if (c->set && (st->stopping || st->removing))
		return berr_set(err, EBUSY,
				"sandbox is busy with another run, stop or remove call");
	if (c->stopping)
		st->stopping = c->set;
	if (c->removing)
		st->removing = c->set;
	return 0;
}

static int stopped_fn(struct store_sb_status *st, void *arg, struct berr **err)
{
	bool *was_ready = arg;
	*was_ready = st->state == STORE_SB_READY;
	st->state = STORE_SB_NOTREADY;
	st->network_ready = false;
	st->init_pid = 0;
	st->stopping = false;
	return 0;
}

/* The sandbox's original config, unpacked from the record; NULL if absent. */
static Runtime__V1__PodSandboxConfig *sb_config(const struct store_sb_meta *m)
{
	if (!m->config.data || m->config.len == 0)
		return NULL;
	return runtime__v1__pod_sandbox_config__unpack(NULL, m->config.len, m->config.data);
}

/* Stop work, with the sandbox claimed: init, network, /dev/shm. */
static int sb_teardown(struct berth *b, struct store_sb *sb, struct berr **err)
{
	const struct store_sb_meta *m = store_sb_meta(sb);
	struct store_sb_status st;
	store_sb_status(sb, &st);
	int r = 0;
	const char *ns_dir = meta_extra(m, SB_X_NS_DIR);
	/* Containers first: they live in the namespaces and on the network
	 * torn down below. */
	r = cri_ctr_stop_all(b, NULL, m->id, false, err);
	if (r == 0 && ns_dir)
		r = netns_stop_init(ns_dir, err);
	if (r == 0)
		r = BERTH_FAULT_POINT("pod.init_stopped", err);
	if (r == 0 && st.netns_path) {
		Runtime__V1__PodSandboxConfig *cfg = sb_config(m);
		r = sb_cni(b, m->id, st.netns_path, cfg, NULL, err);
		if (cfg)
			runtime__v1__pod_sandbox_config__free_unpacked(cfg, NULL);
	}
	const char *shm = meta_extra(m, SB_X_SHM);
	if (r == 0 && shm)
		r = netns_shm_unmount(shm, err);
	store_sb_status_done(&st);
	return r;
}

/* Claims the sandbox (stopping, or removing for Remove), tears down and marks
 * it NOTREADY; the claim is released on every path (stopped_fn clears
 * stopping), so a failed Stop or Remove can be retried. The claim comes
 * before the containers are listed: CreateContainer looks at it after adding
 * its record, so a container created meanwhile is either in the list or
 * removed by its Create (cri/container.c). */
static int sb_stop(struct berth *b, struct cri_call *call, struct store_sb *sb, bool removing,
		   struct berr **err)
{
	struct claim c = {.stopping = !removing, .removing = removing, .set = true};
	int r = store_sb_update(b->store, sb, claim_fn, &c, err);
	if (r < 0)
		return r;
	if (removing)
		r = cri_ctr_stop_all(b, call, store_sb_id(sb), true, err);
	if (r == 0)
		r = BERTH_FAULT_POINT(removing ? "remove_pod.containers" : "stop_pod.claimed", err);
	if (r == 0)
		r = sb_teardown(b, sb, err);
	if (r == 0)
		r = BERTH_FAULT_POINT(removing ? "remove_pod.stopped" : "stop_pod.torn_down", err);
	bool was_ready = false;
	if (r == 0)
		r = store_sb_update(b->store, sb, stopped_fn, &was_ready, err);
	/* The pod's own "container" stopped (docs/events.md): once, on READY -> NOTREADY. */
	if (r == 0 && was_ready)
		cri_event_emit(b, store_sb_id(sb), store_sb_id(sb), CRI_EV_STOPPED);
	if (r < 0 || removing) {
		_cleanup_berr_ struct berr *e = NULL;
		c.set = false;
		(void)store_sb_update(b->store, sb, claim_fn, &c, &e);
	}
	return r;
}

/* rmdir of the pod cgroup, waiting up to 2 s for the killed init to leave it. */
static int sb_cgroup_remove(const char *cgroup, struct berr **err)
{
	int64_t deadline = time_mono_ns() + 2000000000LL;
	for (;;) {
		_cleanup_berr_ struct berr *e = NULL;
		int r = netns_cgroup_remove(NULL, cgroup, &e);
		if (r != -EBUSY || time_mono_ns() > deadline)
			return r < 0 ? berr_move(err, &e) : 0;
		struct timespec ts = {0, 5 * 1000000};
		nanosleep(&ts, NULL);
	}
}

int cri_stop_pod_sandbox(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			 ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__StopPodSandboxRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	struct store_sb *sb = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	int r = store_sb_get(b->store, in->pod_sandbox_id, &sb, &e);
	if (r == -ENOENT)
		r = 0; /* already gone: nothing to stop */
	else if (r < 0)
		return berr_move(err, &e);
	else
		r = sb_stop(b, call, sb, false, err);
	if (r < 0)
		berr_wrap(err, "stop pod sandbox '%s'", in->pod_sandbox_id);
	store_sb_unref(sb);
	if (r == 0)
		*ret_resp = cri_msg_new(&runtime__v1__stop_pod_sandbox_response__descriptor);
	return r;
}

int cri_remove_pod_sandbox(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			   ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__RemovePodSandboxRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	struct store_sb *sb = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	int r = store_sb_get(b->store, in->pod_sandbox_id, &sb, &e);
	if (r == -ENOENT) {
		*ret_resp = cri_msg_new(&runtime__v1__remove_pod_sandbox_response__descriptor);
		return 0;
	}
	if (r < 0)
		return berr_move(err, &e);
	r = sb_stop(b, call, sb, true, err);
	const struct store_sb_meta *m = store_sb_meta(sb);
	const char *ns_dir = meta_extra(m, SB_X_NS_DIR);
	const char *sandbox_dir = meta_extra(m, SB_X_SANDBOX_DIR);
	const char *cgroup = meta_extra(m, SB_X_CGROUP);
	if (r == 0 && ns_dir)
		r = netns_unpin(ns_dir, err);
	if (r == 0 && sandbox_dir)
		r = fileio_remove_tree(sandbox_dir, err);
	if (r == 0 && cgroup)
		r = sb_cgroup_remove(cgroup, err);
	if (r == 0)
		r = BERTH_FAULT_POINT("remove_pod.torn_down", err);
	/* The event needs the pod's status, which goes with the record: the
	 * snapshot is taken before the delete, published after it. */
	ProtobufCMessage *ev = NULL;
	if (r == 0)
		ev = cri_event_prepare(b, m->id, m->id, CRI_EV_DELETED);
	if (r == 0) {
		r = store_sb_delete(b->store, m->id, err);
		if (r == 0)
			cri_event_post(b, TAKE_PTR(ev));
		if (r == -ENOENT) /* a concurrent Remove won (and announced it) */
			r = 0;
	}
	cri_msg_free(ev);
	if (r < 0)
		berr_wrap(err, "remove pod sandbox '%s'", in->pod_sandbox_id);
	store_sb_unref(sb);
	if (r == 0)
		*ret_resp = cri_msg_new(&runtime__v1__remove_pod_sandbox_response__descriptor);
	return r;
}

/* ---- status and list ---- */

static struct kv_entry **entries_from_kv(const ProtobufCMessageDescriptor *d,
					 const struct store_kv *kv, size_t n)
{
	struct kv_entry **v = xcalloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		v[i] = (void *)cri_msg_new(d);
		v[i]->key = xstrdup(kv[i].key);
		v[i]->value = xstrdup(kv[i].value);
	}
	return v;
}

static Runtime__V1__PodSandboxMetadata *metadata_msg(const struct store_sb_meta *m)
{
	Runtime__V1__PodSandboxMetadata *md =
	    (void *)cri_msg_new(&runtime__v1__pod_sandbox_metadata__descriptor);
	md->name = xstrdup(m->metadata.name);
	md->uid = xstrdup(m->metadata.uid);
	md->namespace_ = xstrdup(m->metadata.namespace);
	md->attempt = m->metadata.attempt;
	return md;
}

static int mode_of(const struct store_sb_meta *m, const char *key)
{
	const char *v = meta_extra(m, key);
	return v ? atoi(v) : RUNTIME__V1__NAMESPACE_MODE__POD;
}

static char *verbose_info(const struct store_sb_meta *m, const struct store_sb_status *st)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "pid", json_object_new_int(st->init_pid));
	const char *keys[] = {SB_X_NS_DIR, SB_X_SANDBOX_DIR, SB_X_CGROUP, SB_X_HOSTNAME, SB_X_SHM};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = meta_extra(m, keys[i]);
		json_object_object_add(o, keys[i], json_object_new_string(v ? v : ""));
	}
	const char *ns_dir = meta_extra(m, SB_X_NS_DIR);
	_cleanup_free_ char *user =
	    meta_extra(m, SB_X_USERNS_UIDS) && ns_dir ? xasprintf("%s/user", ns_dir) : NULL;
	const char *ns[] = {st->netns_path, st->ipc_ns_path, st->uts_ns_path, st->pid_ns_path,
			    user};
	const char *ns_keys[] = {"netns", "ipcns", "utsns", "pidns", "userns"};
	for (size_t i = 0; i < 5; i++)
		json_object_object_add(o, ns_keys[i], json_object_new_string(ns[i] ? ns[i] : ""));
	json_object_object_add(
	    o, "runtimeHandler",
	    json_object_new_string(m->runtime_handler ? m->runtime_handler : ""));
	cri_podres_info(m, st, o);
	char *s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

static Runtime__V1__IDMapping **mapping_msg(const char *s)
{
	Runtime__V1__IDMapping **v = xcalloc(1, sizeof(*v));
	v[0] = (void *)cri_msg_new(&runtime__v1__idmapping__descriptor);
	if (sscanf(s, "%u:%u:%u", &v[0]->container_id, &v[0]->host_id, &v[0]->length) != 3)
		*v[0] = (Runtime__V1__IDMapping)RUNTIME__V1__IDMAPPING__INIT;
	return v;
}

/* The pod's user namespace as it was asked for: POD with its mappings, else NODE. */
static Runtime__V1__UserNamespace *userns_msg(const struct store_sb_meta *m)
{
	Runtime__V1__UserNamespace *u =
	    (void *)cri_msg_new(&runtime__v1__user_namespace__descriptor);
	const char *uids = meta_extra(m, SB_X_USERNS_UIDS), *gids = meta_extra(m, SB_X_USERNS_GIDS);
	if (!uids || !gids) {
		u->mode = RUNTIME__V1__NAMESPACE_MODE__NODE;
		return u;
	}
	u->mode = RUNTIME__V1__NAMESPACE_MODE__POD;
	u->uids = mapping_msg(uids);
	u->n_uids = 1;
	u->gids = mapping_msg(gids);
	u->n_gids = 1;
	return u;
}

Runtime__V1__PodSandboxStatus *cri_sb_status_msg(const struct store_sb_meta *m,
						 const struct store_sb_status *st)
{
	Runtime__V1__PodSandboxStatus *s =
	    (void *)cri_msg_new(&runtime__v1__pod_sandbox_status__descriptor);
	s->id = xstrdup(m->id);
	s->metadata = metadata_msg(m);
	s->state = st->state == STORE_SB_READY ? RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY
					       : RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
	s->created_at = m->created_at;
	s->network = (void *)cri_msg_new(&runtime__v1__pod_sandbox_network_status__descriptor);
	if (st->ip)
		s->network->ip = xstrdup(st->ip);
	size_t n_add = 0;
	while (st->additional_ips && st->additional_ips[n_add])
		n_add++;
	s->network->additional_ips = xcalloc(n_add ? n_add : 1, sizeof(Runtime__V1__PodIP *));
	for (size_t i = 0; i < n_add; i++) {
		Runtime__V1__PodIP *ip = (void *)cri_msg_new(&runtime__v1__pod_ip__descriptor);
		ip->ip = xstrdup(st->additional_ips[i]);
		s->network->additional_ips[s->network->n_additional_ips++] = ip;
	}
	s->linux = (void *)cri_msg_new(&runtime__v1__linux_pod_sandbox_status__descriptor);
	s->linux->namespaces = (void *)cri_msg_new(&runtime__v1__namespace__descriptor);
	Runtime__V1__NamespaceOption *o =
	    (void *)cri_msg_new(&runtime__v1__namespace_option__descriptor);
	o->network = mode_of(m, SB_X_NET_MODE);
	o->pid = mode_of(m, SB_X_PID_MODE);
	o->ipc = mode_of(m, SB_X_IPC_MODE);
	o->userns_options = userns_msg(m);
	s->linux->namespaces->options = o;
	s->labels = (void *)entries_from_kv(
	    &runtime__v1__pod_sandbox_status__labels_entry__descriptor, m->labels, m->n_labels);
	s->n_labels = m->n_labels;
	s->annotations =
	    (void *)entries_from_kv(&runtime__v1__pod_sandbox_status__annotations_entry__descriptor,
				    m->annotations, m->n_annotations);
	s->n_annotations = m->n_annotations;
	s->runtime_handler = xstrdup(m->runtime_handler ? m->runtime_handler : "");
	return s;
}

int cri_pod_sandbox_status(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			   ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__PodSandboxStatusRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	struct store_sb *sb = NULL;
	int r = store_sb_get(b->store, in->pod_sandbox_id, &sb, err);
	if (r < 0)
		return r;
	const struct store_sb_meta *m = store_sb_meta(sb);
	struct store_sb_status st;
	store_sb_status(sb, &st);
	Runtime__V1__PodSandboxStatusResponse *resp =
	    (void *)cri_msg_new(&runtime__v1__pod_sandbox_status_response__descriptor);
	resp->status = cri_sb_status_msg(m, &st);
	resp->timestamp = time_now_ns();
	if (in->verbose) {
		struct store_kv info = {"info", NULL};
		_cleanup_free_ char *text = verbose_info(m, &st);
		info.value = text;
		resp->info = (void *)entries_from_kv(
		    &runtime__v1__pod_sandbox_status_response__info_entry__descriptor, &info, 1);
		resp->n_info = 1;
	}
	store_sb_status_done(&st);
	store_sb_unref(sb);
	*ret_resp = &resp->base;
	return 0;
}

int cri_list_pod_sandbox(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			 ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__ListPodSandboxRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	const Runtime__V1__PodSandboxFilter *f = in->filter;
	struct store_sb_filter sf = {0};
	_cleanup_free_ struct store_kv *sel = NULL;
	if (f) {
		sf.id = f->id && *f->id ? f->id : NULL;
		if (f->state) {
			sf.has_state = true;
			sf.state = f->state->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY
				       ? STORE_SB_READY
				       : STORE_SB_NOTREADY;
		}
		kv_from_entries((struct kv_entry **)f->label_selector, f->n_label_selector, &sel,
				&sf.n_labels);
		sf.labels = sel;
	}
	struct store_sb **v = NULL;
	size_t n = 0;
	int r = store_sb_list(b->store, &sf, &v, &n, err);
	if (r < 0)
		return r;
	Runtime__V1__ListPodSandboxResponse *resp =
	    (void *)cri_msg_new(&runtime__v1__list_pod_sandbox_response__descriptor);
	resp->items = xcalloc(n ? n : 1, sizeof(*resp->items));
	for (size_t i = 0; i < n; i++) {
		const struct store_sb_meta *m = store_sb_meta(v[i]);
		struct store_sb_status st;
		store_sb_status(v[i], &st);
		Runtime__V1__PodSandbox *item =
		    (void *)cri_msg_new(&runtime__v1__pod_sandbox__descriptor);
		item->id = xstrdup(m->id);
		item->metadata = metadata_msg(m);
		item->state = st.state == STORE_SB_READY
				  ? RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY
				  : RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
		item->created_at = m->created_at;
		item->labels = (void *)entries_from_kv(
		    &runtime__v1__pod_sandbox__labels_entry__descriptor, m->labels, m->n_labels);
		item->n_labels = m->n_labels;
		item->annotations = (void *)entries_from_kv(
		    &runtime__v1__pod_sandbox__annotations_entry__descriptor, m->annotations,
		    m->n_annotations);
		item->n_annotations = m->n_annotations;
		item->runtime_handler = xstrdup(m->runtime_handler ? m->runtime_handler : "");
		resp->items[resp->n_items++] = item;
		store_sb_status_done(&st);
	}
	store_sb_list_free(v, n);
	*ret_resp = &resp->base;
	return 0;
}
