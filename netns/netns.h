/* SPDX-License-Identifier: Apache-2.0 */
/* netns.h - a pod's namespaces, files, cgroup and CNI networking.
 * Ownership: ret_* structs are filled only on success and released with their
 *   _done()/_free(); returned strings belong to the caller.
 * Threads: all calls are thread-safe and keep no shared state. Nothing here
 *   changes the namespaces of the calling thread: netns_run() uses a thread of
 *   its own that exits afterwards; unsharing is done by berth-pinns.
 * Blocking: netns_pin_pod() spawns berth-pinns, cni_add()/cni_del() spawn CNI
 *   plugins (common/spawn.h, with timeouts); the rest blocks on the kernel only.
 *   Hold no lock while calling them (style §5).
 * Errors: -EINVAL bad input, -ENOENT missing config, plugin or file, -EPROTO bad
 *   plugin or helper output, -EIO plugin failure (the message carries the
 *   plugin's own text), -ETIMEDOUT plugin or helper timeout, -EBUSY cgroup in
 *   use, else the errno of the failing syscall (berth-pinns' exit status).
 * Layout of a pin dir: DIR/{net,ipc,uts,pid,user} bind mounts of nsfs files and
 *   DIR/init-pid (decimal pid of the pod init); see docs/pods.md. */
#ifndef BERTH_NETNS_NETNS_H
#define BERTH_NETNS_NETNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct berr;
struct json_object;
struct nl_sock;

/* ---- namespaces ---- */

struct netns_pin_opts {
	const char *dir;      /* per-pod pin dir (created); its parent is the pin root */
	bool net, ipc, uts;   /* namespaces to create */
	bool pid;	      /* new PID namespace with berth's init as its PID 1 */
	const char *hostname; /* set in the new UTS namespace; needs uts */
	const char *const
	    *sysctls; /* "key=value", namespaced ones only (net.*, kernel.shm*, ...) */
	size_t n_sysctls;
	const char *pinns; /* helper; NULL: BERTH_LIBEXECDIR "/berth-pinns" */
	int timeout_ms;	   /* <= 0: 30 s */
	/* "0:HOST:LENGTH" each, or NULL: a user namespace of the pod with these maps,
	 * owning the other namespaces */
	const char *uidmap, *gidmap;
};

struct netns_pins {
	char *net, *ipc, *uts, *pid, *user; /* pinned paths; NULL: not created */
	pid_t init_pid;			    /* the pod init (our PID namespace); 0 without pid */
};

/* Creates and pins the namespaces through berth-pinns, brings lo up in a new
 * netns and records the init pid in DIR/init-pid. On failure nothing is left. */
int netns_pin_pod(const struct netns_pin_opts *o, struct netns_pins *ret, struct berr **err);
void netns_pins_done(struct netns_pins *p);
/* Kills the pod init recorded in dir (SIGKILL, only if it is still the PID 1 of
 * the pinned PID namespace), unmounts and removes the pins and dir. Idempotent:
 * a missing dir is success. */
int netns_unpin(const char *dir, struct berr **err);
/* berth-pinns makes the pin root (the parent of every pod's pin dir) a mount point
 * of its own, bound onto itself, as iproute2 does for /run/netns. When no pod is
 * pinned under root (nothing but berth-pinns' .lock), this unmounts that bind, so a
 * stopped berthd leaves no mount behind; with pods it stays, as their pins live in
 * it. Returns 1 when it unmounted, 0 when it kept it (pods, not a mount, missing).
 * Serialised with berth-pinns through root/.lock. */
int netns_pin_root_release(const char *root, struct berr **err);
/* Kills the pod init recorded in dir, as netns_unpin() does, keeping the pins
 * (a stopped pod); no init or a dead one is success. */
int netns_stop_init(const char *dir, struct berr **err);
/* The pod init's pid read from dir, or -ENOENT. */
int netns_init_pid(const char *dir, pid_t *ret_pid, struct berr **err);

/* Runs fn(arg, err) on a new thread that first setns()es into the namespace at
 * path (any type: net, uts, ipc); the thread exits afterwards. Returns fn's
 * result. */
typedef int (*netns_fn)(void *arg, struct berr **err);
int netns_run(const char *path, netns_fn fn, void *arg, struct berr **err);

/* A connected NETLINK_ROUTE socket living in the netns at path (NULL: the
 * caller's); usable from any thread. Free with netns_nl_close(). */
int netns_nl_open(const char *path, struct nl_sock **ret, struct berr **err);
void netns_nl_close(struct nl_sock *s);
int netns_lo_up(const char *path, struct berr **err);

struct netns_addr {
	int family; /* AF_INET or AF_INET6 */
	int prefixlen;
	char addr[46]; /* INET6_ADDRSTRLEN */
};
/* Addresses of ifname (NULL: all interfaces) in the netns at path, IPv4 first,
 * then in kernel order. *ret is the caller's to free(). */
int netns_addrs(const char *path, const char *ifname, struct netns_addr **ret, size_t *ret_n,
		struct berr **err);

/* Counters of every interface but lo in the netns at path (kernel order), as
 * containerd's pod network stats. *ret is the caller's to free(). */
struct netns_link_stats {
	char name[16]; /* IFNAMSIZ */
	uint64_t rx_bytes, rx_errors, tx_bytes, tx_errors;
};
int netns_link_stats(const char *path, struct netns_link_stats **ret, size_t *ret_n,
		     struct berr **err);

/* ---- pod files: /etc/hostname, /etc/hosts, /etc/resolv.conf, /dev/shm ---- */

struct netns_dns {
	const char *const *servers;
	size_t n_servers;
	const char *const *searches;
	size_t n_searches;
	const char *const *options;
	size_t n_options;
};

/* Pure. "<hostname>\n". */
char *netns_hostname_content(const char *hostname);
/* Pure. Localhost entries, then "<ip>\t<hostname>" per IP (127.0.1.1 if none). */
char *netns_hosts_content(const char *hostname, const char *const *ips, size_t n_ips);
/* Pure. "search", "nameserver" and "options" lines; -EINVAL for blanks or
 * whitespace in a value or more than 32 entries of a kind. */
int netns_resolv_content(const struct netns_dns *dns, char **ret, struct berr **err);
/* True when dns is NULL or has no entries (the host's file is copied then). */
bool netns_dns_is_empty(const struct netns_dns *dns);

struct netns_pod_files {
	const char *dir; /* writes dir/hostname, dir/hosts, dir/resolv.conf */
	const char *hostname;
	const char *const *ips; /* the pod's IPs for /etc/hosts */
	size_t n_ips;
	const struct netns_dns *dns; /* empty: copy host_resolv */
	const char *host_resolv;     /* NULL: /etc/resolv.conf */
};
int netns_pod_files_write(const struct netns_pod_files *f, struct berr **err);

#define NETNS_SHM_DEFAULT_SIZE (64u << 20)
/* Mounts a tmpfs (nosuid,nodev,noexec,mode=1777) of size bytes (0: 64 MiB) on
 * path, creating it. */
int netns_shm_mount(const char *path, uint64_t size, struct berr **err);
/* Unmounts and removes path; a missing path or one not mounted is success. */
int netns_shm_unmount(const char *path, struct berr **err);

/* ---- pod cgroup (cgroupfs driver; netns/cgroup.c) ---- */

enum netns_cg_mode {
	NETNS_CG_V1,	 /* v1 controllers only */
	NETNS_CG_HYBRID, /* v1 controllers plus a v2 hierarchy at root/unified */
	NETNS_CG_V2,	 /* unified hierarchy at root */
	NETNS_CG_MAX
};
/* root NULL: /sys/fs/cgroup. path is relative to each hierarchy, e.g.
 * "/kubepods/pod<uid>/berth-<id>"; ".." is refused. */
int netns_cgroup_mode(const char *root, enum netns_cg_mode *ret, struct berr **err);
/* mkdir -p of path in every hierarchy (v1: each mounted controller and named
 * hierarchy; v2: the unified one), cpuset.cpus/mems copied down on v1. */
int netns_cgroup_create(const char *root, const char *path, struct berr **err);
int netns_cgroup_add_pid(const char *root, const char *path, pid_t pid, struct berr **err);
/* rmdir of the leaf path in every hierarchy; missing is success, -EBUSY while
 * processes remain. */
int netns_cgroup_remove(const char *root, const char *path, struct berr **err);

/* Limits of a pod cgroup (netns/cgroup.c); 0 leaves a value as it is. */
struct netns_cg_limits {
	uint64_t cpu_shares;  /* v1 cpu.shares; v2 cpu.weight as runc converts it */
	int64_t cpu_quota;    /* us per period; -1: none. v1 cpu.cfs_quota_us; v2 cpu.max */
	uint64_t cpu_period;  /* us; v1 cpu.cfs_period_us; v2 cpu.max (100000 if unset) */
	int64_t memory_limit; /* bytes; v1 memory.limit_in_bytes; v2 memory.max */
};
/* One file to write: name ("cpu.shares") and its text. */
struct netns_cg_file {
	const char *name;
	char value[64];
};
#define NETNS_CG_FILES_MAX 4
/* Pure: the files that set l in a cgroup of mode (v1 and hybrid: the v1 files),
 * in the order they are written; returns how many. */
size_t netns_cgroup_limit_files(enum netns_cg_mode mode, const struct netns_cg_limits *l,
				struct netns_cg_file ret[NETNS_CG_FILES_MAX]);
/* What netns_cgroup_set_limits() replaced, to put back. */
struct netns_cg_saved {
	char *path[NETNS_CG_FILES_MAX]; /* full file paths */
	char *old[NETNS_CG_FILES_MAX];	/* their text before */
	size_t n;
};
void netns_cg_saved_done(struct netns_cg_saved *s);
/* Writes the limits into path's files in the hierarchy that has each (a missing
 * controller is skipped); on a failed write the earlier ones are put back and the
 * error returned (-EINVAL value refused by the kernel, -EBUSY memory below usage).
 * ret_saved (may be NULL) receives the old values on success. */
int netns_cgroup_set_limits(const char *root, const char *path, const struct netns_cg_limits *l,
			    struct netns_cg_saved *ret_saved, struct berr **err);
/* Puts saved values back, last first; best effort. */
void netns_cgroup_restore(const struct netns_cg_saved *s);

/* ---- CNI (netns/cni.c: configs and requests, netns/cni-exec.c: ADD/DEL) ---- */

#define CNI_DEFAULT_CONF_DIR "/etc/cni/net.d"
#define CNI_DEFAULT_BIN_PATH "/opt/cni/bin:/usr/lib/cni"
#define CNI_DEFAULT_IFNAME   "eth0"

struct cni_config {
	const char *conf_dir;  /* NULL: CNI_DEFAULT_CONF_DIR */
	const char *bin_path;  /* colon-separated plugin dirs; NULL: CNI_DEFAULT_BIN_PATH */
	const char *cache_dir; /* ADD results and configs for DEL; required for add/del */
	int timeout_ms;	       /* per plugin run; <= 0: 60 s */
};

struct cni_portmap {
	int32_t host_port;
	int32_t container_port;
	const char *protocol; /* "tcp", "udp", "sctp"; NULL: tcp */
	const char *host_ip;  /* NULL or "": all */
};

struct cni_pod {
	const char *id;	    /* CNI_CONTAINERID: the sandbox ID */
	const char *netns;  /* pinned netns path */
	const char *ifname; /* NULL: eth0 */
	const char *name, *namespace, *uid;
	const struct cni_portmap *ports;
	size_t n_ports;
};

/* A network configuration list loaded from the conf dir (opaque). */
struct cni_net;
/* Loads the lexically first *.conflist, *.conf or *.json of conf_dir (single
 * plugin configs become a one-plugin list) and checks that every plugin type
 * exists in bin_path. -ENOENT when the dir holds no config. */
int cni_net_load(const char *conf_dir, const char *bin_path, struct cni_net **ret,
		 struct berr **err);
struct cni_net *cni_net_free(struct cni_net *n);
const char *cni_net_name(const struct cni_net *n);
const char *cni_net_version(const struct cni_net *n);
const char *cni_net_file(const struct cni_net *n);
size_t cni_net_n_plugins(const struct cni_net *n);
const char *cni_net_plugin_type(const struct cni_net *n, size_t idx);

enum cni_cmd { CNI_CMD_ADD, CNI_CMD_DEL, CNI_CMD_MAX };

struct cni_request {
	char *type;  /* plugin type (binary name) */
	char **env;  /* NULL-terminated; CNI_* plus PATH */
	char *input; /* stdin: the plugin's config JSON */
};
/* Pure: the environment and stdin for plugin idx of net. prev_result (may be
 * NULL) is chained in as "prevResult"; runtimeConfig.portMappings is injected
 * only when the plugin declares the portMappings capability. */
int cni_request_build(enum cni_cmd cmd, const struct cni_net *net, size_t idx,
		      const struct cni_pod *pod, const char *bin_path,
		      const struct json_object *prev_result, struct cni_request *ret,
		      struct berr **err);
void cni_request_done(struct cni_request *r);

struct cni_result {
	char **ips; /* NULL-terminated, IPv4 first, without prefix length */
	size_t n_ips;
	char *json; /* the raw final result */
};
int cni_result_parse(const char *json, struct cni_result *ret, struct berr **err);
void cni_result_done(struct cni_result *r);
/* The message for a failed plugin run: the CNI error JSON {code,msg,details} on
 * stdout, else stderr, else the exit status. */
char *cni_error_message(const char *type, const char *out, const char *errout, int status);
/* The errno of that failure: by the CNI error code (1, 2, 6, 7 the node's
 * network config: EBUSY; 3 ENOENT; 4 EINVAL; 11 EAGAIN), else by the message
 * (an exhausted IPAM range: ENOSPC; a config the plugin can't parse: EBUSY),
 * else EIO. */
int cni_error_errno(const char *out, const char *errout);

/* ADD each plugin in order, chaining prevResult; the config and result are
 * cached under cache_dir first. A failure runs DEL for the whole list. */
int cni_add(const struct cni_config *c, const struct cni_pod *pod, struct cni_result *ret,
	    struct berr **err);
/* DEL in reverse order with the cached config and result (the current config
 * without a cache); a missing netns is fine; idempotent. */
int cni_del(const struct cni_config *c, const struct cni_pod *pod, struct berr **err);
/* True when a valid config with all its plugins is present; else *ret_reason. */
bool cni_network_ready(const struct cni_config *c, char **ret_reason);
/* Writes conf_dir/10-berth.conflist (bridge berth0, 10.88.0.0/16, host-local,
 * portmap, firewall) unless the dir already holds a config; 1 when written. */
int cni_write_default_conf(const char *conf_dir, struct berr **err);

/* The seam for cri/ (fakes in tests). */
struct cni_ops {
	int (*add)(const struct cni_config *c, const struct cni_pod *pod, struct cni_result *ret,
		   struct berr **err);
	int (*del)(const struct cni_config *c, const struct cni_pod *pod, struct berr **err);
	bool (*ready)(const struct cni_config *c, char **ret_reason);
};
extern const struct cni_ops cni_default_ops;

#endif
