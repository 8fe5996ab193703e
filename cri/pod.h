/* SPDX-License-Identifier: Apache-2.0 */
/* pod.h - what the sandbox and container RPC files of cri/ share: the on-disk
 * layout of a sandbox and a container, the ops tables handlers call out
 * through (fakes in tests/unit/test_cri_container.c), the detected runtime
 * facts and the exit monitor.
 * Ownership: cri_pod_info_load() fills a struct whose strings point into the
 *   sandbox's meta/status copies it keeps; release it with cri_pod_info_done().
 * Threads: everything here is thread-safe; struct cri_runtime is written only
 *   by cri_runtime_init()/cri_runtime_done() (before/after serving), except the
 *   monitor's exit generation, guarded by its own mutex.
 * Errors: -ENOENT unknown sandbox/container, -EBUSY wrong state or in-flight
 *   claim, -ETIMEDOUT deadline, else the errno of the failing callout. Calls
 *   block on the OCI runtime, the shim and the filesystem; no lock is held
 *   across them (style §5).
 * Layout (docs/containers.md):
 *   <run_dir>/c/<id>/{config.json,rootfs/,log.json,ctl.sock,container.pid,exit}
 *   <state_dir>/containers/<id>/{upper,work}   overlay dirs of the rootfs
 *   <run_dir>/exits/<id>                       shim exit records (inotify)
 *   sandbox: meta->extra keys below, files in <sandbox_dir>/{hostname,hosts,
 *   resolv.conf}, /dev/shm at the "shm" extra, pins at the "ns_dir" extra. */
#ifndef BERTH_CRI_POD_H
#define BERTH_CRI_POD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cri/cri-internal.h"
#include "cri/idmap.h"
#include "oci/oci.h"
#include "store/store.h"

struct cni_ops;
struct shim_opts;
struct shim_info;

/* Sandbox meta->extra keys, fixed at RunPodSandbox. */
#define CRI_SB_X_NS_DIR	     "ns_dir"
#define CRI_SB_X_SANDBOX_DIR "sandbox_dir"
#define CRI_SB_X_CGROUP	     "cgroup"
#define CRI_SB_X_HOSTNAME    "hostname"
#define CRI_SB_X_NET_MODE    "ns_network"
#define CRI_SB_X_PID_MODE    "ns_pid"
#define CRI_SB_X_IPC_MODE    "ns_ipc"
#define CRI_SB_X_SHM	     "shm"
#define CRI_SB_X_USERNS_UIDS "userns_uids" /* "0:HOST:LENGTH" of a pod user namespace */
#define CRI_SB_X_USERNS_GIDS "userns_gids"

/* Container meta->extra keys. */
#define CRI_CTR_X_UPPER	 "upper_dir" /* <state_dir>/containers/<id> */
#define CRI_CTR_X_CGROUP "cgroups_path"
#define CRI_CTR_X_TTY	 "tty"

/* Seams of the container and sandbox handlers. b->ops NULL: cri_default_ops. */
struct cri_ops {
	const struct oci_runtime_ops *oci;
	int (*shim_start)(const struct shim_opts *o, struct shim_info *ret, struct berr **err);
	int (*shim_reopen_log)(const char *ctl_path, struct berr **err);
	/* Resolves an image reference (tag, digest, ID or prefix) to its record. */
	int (*image_resolve)(struct berth *b, const char *ref, struct store_img **ret,
			     struct berr **err);
	/* Mounts the image's rootfs at target with upper/work dirs under upper_dir. */
	int (*rootfs_mount)(struct berth *b, const struct store_img_meta *img,
			    const char *upper_dir, const char *target, bool readonly,
			    struct berr **err);
	/* The same for a pod with its own user namespace: the layers idmapped through
	 * userns_fd under idmap_dir (img_rootfs_mount_idmapped); NULL: not supported. */
	int (*rootfs_mount_idmapped)(struct berth *b, const struct store_img_meta *img,
				     const char *upper_dir, const char *target,
				     const char *idmap_dir, int userns_fd, uid_t root_uid,
				     gid_t root_gid, struct berr **err);
	/* Unmounts target; not mounted or missing is success. */
	int (*rootfs_unmount)(const char *target, struct berr **err);
	const struct cni_ops *cni; /* pod networking (netns/netns.h) */
};
extern const struct cri_ops cri_default_ops;
const struct cri_ops *cri_ops_of(const struct berth *b);

struct cri_monitor;
struct cri_cpu_cache;
struct cri_events;
struct cri_imgvols;
struct cri_host_facts;

/* Runtime facts detected once, paths of the helpers, the exit monitor. */
struct cri_runtime {
	struct oci_runtime_opts opts; /* rootfs NULL: set per container */
	char **caps_all;	      /* owned backing of opts.all_caps */
	char *exit_dir;		      /* <run_dir>/exits */
	char *shim_path, *exec_path, *pinns_path;
	int stop_wait_ms; /* after SIGKILL, how long Stop/Remove wait for the exit */
	struct cri_monitor *monitor;
	struct cri_cpu_cache *cpu_cache;  /* previous CPU samples (stats.c); own mutex */
	struct cri_events *events;	  /* GetContainerEvents publisher (events.c); own mutex */
	struct cri_imgvols *imgvols;	  /* image volume trees and holders (imgvol.c); own mutex */
	struct cri_host_facts *facts;	  /* what validation checks against (validate-internal.h) */
	struct cri_kernel_features kfeat; /* probed at start (cri/idmap.h); read-only after */
	/* Exit generation: bumped (and broadcast) after every committed exit. */
	pthread_mutex_t exit_mu;
	pthread_cond_t exit_cond;
	uint64_t exit_gen;
	/* serialises UpdatePodSandboxResources: merge, pod cgroup writes, record (podres.c) */
	pthread_mutex_t podres_mu;
	/* kubelet's pod CIDRs (UpdateRuntimeConfig), comma-separated; NULL: none yet */
	pthread_mutex_t cidr_mu;
	char *pod_cidrs; /* guarded by cidr_mu */
};

/* cri_runtime_init()/cri_runtime_done() are declared in cri/cri.h. */

/* A sandbox as the container code sees it; strings borrowed from st/m. */
struct cri_pod_info {
	struct store_sb *sb;
	const struct store_sb_meta *meta;
	struct store_sb_status st;
	Runtime__V1__PodSandboxConfig *config; /* unpacked meta config, NULL if none */
	struct oci_sandbox_info oci;
	char *hostname_file, *hosts_file, *resolv_file;
	char *userns_path; /* <ns_dir>/user of a pod with its own user namespace; else NULL */
};
int cri_pod_info_load(struct berth *b, const char *sandbox_id, struct cri_pod_info *ret,
		      struct berr **err);
void cri_pod_info_done(struct cri_pod_info *p);
const char *cri_sb_extra(const struct store_sb_meta *m, const char *key);
const char *cri_ctr_extra(const struct store_ctr_meta *m, const char *key);

/* The OCI runtime handler of a container or sandbox (name NULL/"": default). */
int cri_handler_of(struct berth *b, const char *name, struct oci_runtime_handler *ret,
		   struct berr **err);

/* The bind sources of a container in a pod's user namespace (ctr_idmap.c): config
 * and sb are shallow copies of the caller's with the host paths of the CRI mounts
 * (not image volumes) and of the pod's files replaced by idmapped mounts under dir
 * ("m<i>", "hostname", "hosts", "resolv.conf", "shm"). The mounts stay until
 * idmap_unbind_dir(dir) (the container's teardown), also after a failure. */
#define CRI_CTR_IDMAP_FILES 4
struct cri_ctr_idmap {
	Runtime__V1__ContainerConfig config;
	Runtime__V1__Mount **mounts, *copies;
	char **sources;
	struct oci_sandbox_info sb;
	char *files[CRI_CTR_IDMAP_FILES];
};
int cri_ctr_idmap_prepare(const char *dir, int userns_fd, const Runtime__V1__ContainerConfig *c,
			  const struct oci_sandbox_info *sb, struct cri_ctr_idmap *ret,
			  struct berr **err);
void cri_ctr_idmap_done(struct cri_ctr_idmap *p);

/* The ids a container's process has, as the container sees them (ctr_user.c). */
struct cri_proc_user {
	int64_t uid, gid;
	int64_t *groups; /* supplemental groups, in the kernel's order */
	size_t n_groups;
};
/* Pure: from a /proc/<pid>/status text and the process's uid_map and gid_map
 * (as berthd reads them); -EPROTO for text without the ids or an unmapped one. */
int cri_proc_user_parse(const char *status, const char *uid_map, const char *gid_map,
			struct cri_proc_user *ret, struct berr **err);
/* Reads them for pid; -ENOENT once the process is gone. */
int cri_proc_user_read(pid_t pid, struct cri_proc_user *ret, struct berr **err);
void cri_proc_user_done(struct cri_proc_user *u);

/* r itself, or for -EIO with an OCI runtime's error text in *err, the errno
 * that text stands for (oci_runtime_errno) and "<cause>: <text>" (failure.c). */
int cri_runtime_failure(int r, struct berr **err);

/* Container ends (container.c, container_run.c), used by the sandbox code. */
int cri_ctr_stop(struct berth *b, struct cri_call *call, struct store_ctr *c, int64_t timeout_s,
		 struct berr **err);
int cri_ctr_remove(struct berth *b, struct cri_call *call, struct store_ctr *c, struct berr **err);
/* Stops (remove false) or removes every container of a sandbox. */
int cri_ctr_stop_all(struct berth *b, struct cri_call *call, const char *sandbox_id, bool remove,
		     struct berr **err);

/* At start, before serving: tears down every bundle and rootfs dir without a
 * record (a CreateContainer that died between starting its shim and writing
 * its record): the runtime's container, the shim (it records and exits), the
 * rootfs mount, the dirs. */
int cri_ctr_sweep_orphans(struct berth *b, struct berr **err);

/* Commits an exit record of container c if it has none yet (monitor, Stop,
 * recovery); wakes waiters. */
int cri_ctr_commit_exit(struct berth *b, struct store_ctr *c, struct berr **err);
/* The same; durable false (recovery): the store record is not fsync'ed, the shim's durable
 * exit record stays until removal and a later recovery commits it again. */
int cri_ctr_commit_exit_opt(struct berth *b, struct store_ctr *c, bool durable, struct berr **err);
/* Waits until c has exited, up to deadline_ns (monotonic; 0: none) and the
 * call's deadline; -ETIMEDOUT otherwise. */
int cri_ctr_wait_exit(struct berth *b, struct cri_call *call, struct store_ctr *c,
		      int64_t deadline_ns, struct berr **err);

/* Exit monitor (monitor.c): a thread reading shim_exit_watch events. */
int cri_monitor_start(struct berth *b, struct cri_monitor **ret, struct berr **err);
struct cri_monitor *cri_monitor_stop(struct cri_monitor *m);
/* Restart reconciliation (recover.c). */
int cri_recover(struct berth *b, struct berr **err);

/* CPU samples of the stats RPCs (stats.c): the last usage of each container
 * or pod, keyed by ID, to compute usage_nano_cores as containerd does.
 * Thread-safe (own mutex); samples older than 10 minutes are dropped. */
struct cri_cpu_cache *cri_cpu_cache_new(void);
struct cri_cpu_cache *cri_cpu_cache_free(struct cri_cpu_cache *c);
/* Records the sample and returns true with the rate since the previous one of
 * id; false on the first sample, or when no time passed or usage went down. */
bool cri_cpu_cache_rate(struct cri_cpu_cache *c, const char *id, uint64_t usage_ns, int64_t ts_ns,
			uint64_t *ret);

/* Status messages as PodSandboxStatus and ContainerStatus return them (without
 * the verbose info), built from a record's meta and a status copy. */
Runtime__V1__PodSandboxStatus *cri_sb_status_msg(const struct store_sb_meta *m,
						 const struct store_sb_status *st);
Runtime__V1__ContainerStatus *cri_ctr_status_msg(const struct store_ctr_meta *m,
						 const struct store_ctr_status *st);

/* Container events (events.c, docs/events.md). Called after the store commit
 * of a change, with no lock held: publishes the event of container_id (a
 * container of sandbox_id, or the sandbox itself) with its pod's statuses as
 * they are now. Nothing is built while nobody listens. */
#define CRI_EV_CREATED RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT
#define CRI_EV_STARTED RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT
#define CRI_EV_STOPPED RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT
#define CRI_EV_DELETED RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT
void cri_event_emit(struct berth *b, const char *sandbox_id, const char *container_id,
		    Runtime__V1__ContainerEventType type);
/* The same in two steps, for a record about to go (sandbox removal): the
 * snapshot before the delete, the publish after it (NULL: nobody listens;
 * cri_event_post() frees what it doesn't publish, NULL is fine). */
ProtobufCMessage *cri_event_prepare(struct berth *b, const char *sandbox_id,
				    const char *container_id, Runtime__V1__ContainerEventType type);
void cri_event_post(struct berth *b, ProtobufCMessage *ev);

/* Map entries of protobuf-c (string -> string) all share this layout. */
struct cri_kv_entry {
	ProtobufCMessage base;
	char *key;
	char *value;
};
void cri_kv_from_entries(void *entries, size_t n, struct store_kv **ret, size_t *ret_n);
void *cri_entries_from_kv(const ProtobufCMessageDescriptor *d, const struct store_kv *kv, size_t n);

#endif
