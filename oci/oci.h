/* SPDX-License-Identifier: Apache-2.0 */
/* oci.h - CRI config -> OCI runtime spec, image user resolution, seccomp
 *   profiles, cgroup facts, and the runc CLI driver behind struct oci_runtime_ops.
 * Pure (no I/O, no globals): oci_spec_build, oci_exec_process_build,
 *   oci_resources_build, oci_runtime_argv, oci_state_parse, oci_cgroups_path,
 *   oci_seccomp_choose, oci_seccomp_translate. oci_mounts_validate,
 *   oci_devices_resolve, oci_user_resolve, oci_seccomp_profile_load and the cgroup
 *   readers read files; oci_runc_ops spawn the runtime (common/spawn.h) and block
 *   until it exits or times out. See docs/oci.md.
 * Ownership: returned strings/vectors/structs are the caller's: free(), strv_free()
 *   or the matching _done() or _free() function. Inputs are only borrowed.
 * Threads: no shared state; every call is thread-safe.
 * Errors: -EINVAL bad CRI input or profile (the message names it), -ENOENT missing
 *   mount source, device, user, group, container or seccomp profile, -EOPNOTSUPP
 *   unsupported feature, -ETIMEDOUT runtime or exec timeout, -EIO runtime failure
 *   (with the runtime's own error), -EPROTO unparsable runtime output. */
#ifndef BERTH_OCI_OCI_H
#define BERTH_OCI_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/api.pb-c.h"

struct berr;
struct oci_seccomp_profile;

enum oci_cgroup_driver {
	OCI_CGROUP_DRIVER_CGROUPFS,
	OCI_CGROUP_DRIVER_SYSTEMD,
	OCI_CGROUP_DRIVER_MAX
};

enum oci_cgroup_mode {
	OCI_CGROUP_MODE_V1,	/* legacy: v1 controllers only */
	OCI_CGROUP_MODE_HYBRID, /* v1 controllers + an (almost empty) v2 at /unified */
	OCI_CGROUP_MODE_V2,	/* unified */
	OCI_CGROUP_MODE_MAX
};

/* What the pod (sandbox) gives its containers. Paths are host paths. A
 * namespace whose pod mode is POD must have its path; NODE ones are ignored. */
struct oci_sandbox_info {
	const char *id;		/* sandbox ID, for annotations */
	const char *hostname;	/* HOSTNAME env; spec hostname when UTS is new */
	const char *netns_path; /* pinned network ns */
	const char *ipcns_path; /* pinned IPC ns */
	const char *utsns_path; /* pinned UTS ns */
	const char *pidns_path; /* pod PID ns (NamespaceMode POD), e.g. /proc/<init>/ns/pid */
	const char *target_pidns_path; /* NamespaceMode TARGET: the target container's PID ns */
	const char *hostname_file;     /* bound at /etc/hostname when set */
	const char *hosts_file;	       /* bound at /etc/hosts when set */
	const char *resolv_file;       /* bound at /etc/resolv.conf when set */
	const char *shm_dir;	       /* bound at /dev/shm; NULL: host /dev/shm if IPC is NODE */
	/* cgroupfs: "/kubepods/pod1" (NULL: "/berth"); systemd: a slice name
	 * "x.slice" (NULL: "system.slice") */
	const char *cgroup_parent;
	/* the pod's user namespace (UserNamespace mode POD), joined by path, with its
	 * one mapping each from container ID 0 (the runtime needs them to know the
	 * host ids of root); NULL: the node's */
	const char *userns_path;
	uint32_t uid_host, uid_len, gid_host, gid_len;
};

/* The parts of the image config a container spec uses. Vectors are
 * NULL-terminated (NULL = empty). */
struct oci_image_config {
	const char *user; /* "", "name", "uid", "uid:gid", "name:group" */
	char *const *env; /* "K=V" */
	char *const *entrypoint;
	char *const *cmd;
	const char *working_dir;
	const char *stop_signal; /* not used by the spec; the stop path reads it */
};

/* The host facts a seccomp profile's rules are filtered by
 * (oci_seccomp_host_detect()). */
struct oci_seccomp_host {
	char machine[65]; /* uname machine: "x86_64", "aarch64"; "": unknown */
	unsigned kernel_major, kernel_minor;
};

/* Daemon/runtime facts the caller detects once. */
struct oci_runtime_opts {
	enum oci_cgroup_driver cgroup_driver;
	enum oci_cgroup_mode cgroup_mode;
	int oom_score_adj_min;	   /* the daemon's own /proc/self/oom_score_adj */
	char *const *default_caps; /* NULL: containerd's default set */
	char *const *all_caps;	   /* privileged set (the daemon's bounding set); NULL: all known */
	const char *rootfs;	   /* container rootfs path (required) */
	bool rootfs_readonly;	   /* e.g. a read-only image mount */
	bool swap_supported;	   /* v1 memory.memsw.* or v2 memory.swap.max exists */
	bool hugetlb_supported;	   /* hugetlb controller usable by the runtime */
	bool rro_supported;	   /* recursive read-only mounts (kernel >= 5.12) */
	int64_t pids_limit;	   /* > 0: linux.resources.pids.limit */
	struct oci_seccomp_host seccomp_host; /* what seccomp profiles are filtered by */
};

/* A resolved process user. */
struct oci_user {
	uint32_t uid;
	uint32_t gid;
	uint32_t *additional_gids;
	size_t n_additional_gids;
};
void oci_user_done(struct oci_user *u);

/* A CRI device resolved against the host (oci_devices_resolve()). */
struct oci_device {
	char *host_path;
	char *container_path;
	char *permissions; /* "rwm" subset */
	char type;	   /* 'c', 'b' or 'p' */
	int64_t major, minor;
	uint32_t file_mode; /* permission bits */
	uint32_t uid, gid;
};
void oci_devices_free(struct oci_device *d, size_t n);

struct oci_spec_input {
	const char *id; /* container ID */
	const Runtime__V1__ContainerConfig *config;
	const Runtime__V1__PodSandboxConfig *sandbox_config;
	const struct oci_sandbox_info *sandbox;
	const struct oci_image_config *image;
	const struct oci_runtime_opts *opts;
	const struct oci_user *user;
	const struct oci_device *devices; /* from oci_devices_resolve() */
	size_t n_devices;
	/* From oci_seccomp_profile_load(); NULL or no json: none loaded, which
	 * is an error unless the container runs unconfined. */
	const struct oci_seccomp_profile *seccomp;
};

/* Pure: builds config.json (pretty-printed) into *ret_json. */
int oci_spec_build(const struct oci_spec_input *in, char **ret_json, struct berr **err);
/* Filesystem checks oci_spec_build() leaves out: every CRI mount's host path
 * exists (-ENOENT naming it); bidirectional/host-to-container propagation needs
 * a shared (or slave) source mount (-EINVAL). mountinfo NULL: /proc/self/mountinfo. */
int oci_mounts_validate(const Runtime__V1__ContainerConfig *config, const char *mountinfo,
			struct berr **err);
/* Stats every CRI device (and, when privileged, every device under /dev). */
int oci_devices_resolve(const Runtime__V1__ContainerConfig *config, bool privileged,
			struct oci_device **ret, size_t *ret_n, struct berr **err);
/* Pure: the "process" object for `runc exec --process` from a container's
 * config.json with args replaced by argv (NULL-terminated), terminal false. */
int oci_exec_process_build(const char *spec_json, char *const *argv, char **ret_json,
			   struct berr **err);
/* Pure: linux.resources JSON for `runc update --resources -` (same clamping as
 * the spec; oom_score_adj is not updatable and is ignored). */
int oci_resources_build(const Runtime__V1__LinuxContainerResources *res,
			const struct oci_runtime_opts *opts, char **ret_json, struct berr **err);
/* Pure: the resources of a container after an update (containerd's
 * updateOCIResource/WithResources): cur (NULL: none yet) with every set field
 * of upd over it. A zero or empty field of upd keeps cur's; unified entries
 * merge by key and hugepage limits by page size; a memory limit without a swap
 * limit resets swap to "same as the limit"; oom_score_adj is clamped at
 * oom_floor (oci_oom_score_adj_clamp). Returns a new message owned by the
 * caller (malloc'd fields: protobuf_c_message_free_unpacked(m, NULL)). */
Runtime__V1__LinuxContainerResources *
oci_resources_merge(const Runtime__V1__LinuxContainerResources *cur,
		    const Runtime__V1__LinuxContainerResources *upd, int oom_floor);
/* max(requested, floor), capped at 1000: containerd's restrict_oom_score_adj. */
int oci_oom_score_adj_clamp(int64_t requested, int floor);
/* Reads /proc/self/oom_score_adj; reads /proc/self/status CapBnd into names. */
int oci_oom_score_adj_self(int *ret, struct berr **err);
int oci_caps_bounding_self(char ***ret, struct berr **err);
/* "net_admin", "NET_ADMIN", "CAP_NET_ADMIN": a capability this build knows. */
bool oci_cap_is_known(const char *name);

/* User resolution (kubelet/containerd rules): run_as_username beats
 * run_as_user; run_as_group applies to either; else the image's USER. A user
 * or group name must exist in <rootfs>/etc/passwd or /etc/group (read without
 * leaving the rootfs); a numeric uid may be absent (gid 0). Additional gids:
 * the user's /etc/group memberships (not with the Strict policy, of the container or
 * of the pod) + supplemental. */
struct oci_user_request {
	const char *rootfs;
	const Runtime__V1__LinuxContainerSecurityContext *sc; /* may be NULL */
	const char *image_user;				      /* may be NULL */
	bool pod_strict; /* the pod's supplemental_groups_policy is Strict */
};
int oci_user_resolve(const struct oci_user_request *req, struct oci_user *ret, struct berr **err);

/* ---- seccomp (seccomp.c; docs/oci.md) ---- */
#define OCI_SECCOMP_PROFILE_MAX (1u << 20) /* profile file size limit */

enum oci_seccomp_kind {
	OCI_SECCOMP_UNCONFINED,
	OCI_SECCOMP_RUNTIME_DEFAULT,
	OCI_SECCOMP_LOCALHOST,
	OCI_SECCOMP_MAX
};

/* Pure: the profile a container runs with (containerd's rules). sc->seccomp,
 * when set, beats the deprecated seccomp_profile_path ("" and "unconfined":
 * unconfined; "runtime/default", "docker/default"; "localhost/<abs path>").
 * A privileged container runs unconfined, once its fields are found valid.
 * *ret_path (Localhost only) is borrowed from sc. -EINVAL bad field. */
int oci_seccomp_choose(const Runtime__V1__LinuxContainerSecurityContext *sc,
		       enum oci_seccomp_kind *ret_kind, const char **ret_path, struct berr **err);

struct oci_seccomp_profile {
	enum oci_seccomp_kind kind;
	char *path; /* the file read; NULL when unconfined */
	char *json; /* its text, a JSON object; NULL when unconfined */
};
void oci_seccomp_profile_done(struct oci_seccomp_profile *p);
/* Reads the profile oci_seccomp_choose() picks: the Localhost file, or
 * default_path for RuntimeDefault. Unconfined reads nothing. -ENOENT missing
 * file (or no default_path), -E2BIG over OCI_SECCOMP_PROFILE_MAX, -EINVAL not
 * a regular file or not a JSON object, -errno of open/read otherwise. */
int oci_seccomp_profile_load(const Runtime__V1__LinuxContainerSecurityContext *sc,
			     const char *default_path, struct oci_seccomp_profile *ret,
			     struct berr **err);
/* Pure: the OCI linux.seccomp object (JSON text) for a profile in the
 * docker/moby format or the OCI one: rules whose includes/excludes (arches,
 * caps, minKernel) don't match the host and caps (the container's effective
 * set, NULL-terminated "CAP_*") are dropped; archMap adds the host's
 * architecture and its sub-architectures. -EINVAL bad profile, -EOPNOTSUPP
 * seccomp notify (SCMP_ACT_NOTIFY, listenerPath). */
int oci_seccomp_translate(const char *profile_json, const struct oci_seccomp_host *host,
			  char *const *caps, char **ret_json, struct berr **err);
/* uname(2): machine and kernel major.minor. */
int oci_seccomp_host_detect(struct oci_seccomp_host *ret, struct berr **err);

/* ---- OCI runtime driver ---- */
struct oci_runtime_handler {
	const char *name;	 /* runtime handler name, for messages */
	const char *path;	 /* runtime binary ("/usr/bin/runc"); NULL: "runc" in PATH */
	const char *root;	 /* --root state dir; NULL: the runtime's default */
	bool systemd_cgroup;	 /* --systemd-cgroup */
	char *const *extra_args; /* more global options, NULL-terminated */
	int timeout_ms;		 /* per call (not exec); <= 0: 60 s */
	const char *exec_helper; /* berth-exec; NULL: BERTH_LIBEXECDIR/berth-exec */
};

enum oci_runtime_cmd {
	OCI_RUNTIME_CMD_CREATE,
	OCI_RUNTIME_CMD_START,
	OCI_RUNTIME_CMD_STATE,
	OCI_RUNTIME_CMD_KILL,
	OCI_RUNTIME_CMD_DELETE,
	OCI_RUNTIME_CMD_EXEC,
	OCI_RUNTIME_CMD_UPDATE,
	OCI_RUNTIME_CMD_PAUSE,
	OCI_RUNTIME_CMD_RESUME,
	OCI_RUNTIME_CMD_MAX
};

struct oci_runtime_args {
	enum oci_runtime_cmd cmd;
	const char *id;
	const char *log_path;	    /* global --log <file> --log-format json */
	const char *bundle;	    /* create */
	const char *pid_file;	    /* create, exec */
	const char *console_socket; /* create, exec (tty) */
	const char *process_path;   /* exec --process */
	bool detach;		    /* exec -d */
	int signal;		    /* kill; 0: SIGTERM */
	bool all;		    /* kill --all */
	bool force;		    /* delete --force */
	const char *resources_path; /* update --resources ("-": stdin) */
};

/* Pure: the runtime path and its global options (--root, --log FILE
 * --log-format json when log_path is set, --systemd-cgroup, extra_args). */
char **oci_runtime_global_argv(const struct oci_runtime_handler *h, const char *log_path);
/* Pure: the full argv: the global part, the command, its options, the id
 * (and the signal for kill). */
char **oci_runtime_argv(const struct oci_runtime_handler *h, const struct oci_runtime_args *a,
			struct berr **err);

enum oci_status {
	OCI_STATUS_CREATING,
	OCI_STATUS_CREATED,
	OCI_STATUS_RUNNING,
	OCI_STATUS_PAUSED,
	OCI_STATUS_STOPPED,
	OCI_STATUS_MAX
};
const char *oci_status_name(enum oci_status s);

struct oci_state {
	enum oci_status status;
	pid_t pid; /* 0 when stopped */
};
/* Pure: parses `runc state` output. */
int oci_state_parse(const char *json, struct oci_state *ret, struct berr **err);
/* Pure: the runtime's error from its output: the last "error" entry of a JSON
 * log (--log-format json), else the last non-empty line; NULL if none. */
char *oci_runtime_error_text(const char *out);
/* Pure: the errno a runtime error text stands for (oci/errclass.c): ENOENT
 * executable or file not found, EACCES not executable or permission, EINVAL a
 * value the kernel or runtime refused, ENOMEM/EAGAIN/ENOSPC/EMFILE/EDQUOT
 * exhaustion, EBUSY wrong state or busy, EEXIST; else fallback. *ret_cause
 * (static, NULL for the fallback) names the class for messages. */
int oci_runtime_errno(const char *text, int fallback, const char **ret_cause);
/* Pure: the exit code a shell gives when the process could not be started:
 * 127 its executable was not found, 126 it could not be executed; 0 when text
 * is about something else. */
int oci_exec_failure_code(const char *text);

struct oci_exec_request {
	const char *id;
	const char *process_json; /* from oci_exec_process_build() */
	const char *work_dir;	  /* private dir for process.json and the pid file */
	int timeout_ms;		  /* <= 0: no timeout */
	size_t max_out;		  /* per stream; 0: 16 MiB */
};

struct oci_exec_result {
	int exit_code;
	bool timed_out; /* then the process group was killed; exit_code is -1 */
	char *out;
	size_t out_len;
	char *errout;
	size_t err_len;
	bool truncated;
};
void oci_exec_result_done(struct oci_exec_result *r);

/* The seam cri/ is tested through. delete: a missing container is success. */
struct oci_runtime_ops {
	/* The argv the shim runs for create (see docs/oci.md); a fake can
	 * point it at a stand-in program. */
	char **(*create_argv)(const struct oci_runtime_handler *h, const struct oci_runtime_args *a,
			      struct berr **err);
	int (*start)(const struct oci_runtime_handler *h, const char *id, struct berr **err);
	int (*state)(const struct oci_runtime_handler *h, const char *id, struct oci_state *ret,
		     struct berr **err);
	int (*kill)(const struct oci_runtime_handler *h, const char *id, int sig, bool all,
		    struct berr **err);
	int (*delete)(const struct oci_runtime_handler *h, const char *id, bool force,
		      struct berr **err);
	int (*exec)(const struct oci_runtime_handler *h, const struct oci_exec_request *req,
		    struct oci_exec_result *ret, struct berr **err);
	int (*update)(const struct oci_runtime_handler *h, const char *id,
		      const char *resources_json, struct berr **err);
};
extern const struct oci_runtime_ops oci_runc_ops;

/* ---- cgroups ---- */
/* cgroup_root NULL: /sys/fs/cgroup. */
int oci_cgroup_mode_detect(const char *cgroup_root, enum oci_cgroup_mode *ret, struct berr **err);
/* Pure: linux.cgroupsPath for a container. */
int oci_cgroups_path(enum oci_cgroup_driver d, const char *parent, const char *id, char **ret,
		     struct berr **err);
/* Number of OOM kills in the container's memory cgroup (v2 memory.events
 * oom_kill, v1 memory.oom_control oom_kill); -ENOENT once the cgroup is gone. */
int oci_cgroup_oom_kills(const char *cgroup_root, enum oci_cgroup_mode mode,
			 enum oci_cgroup_driver d, const char *cgroups_path, uint64_t *ret,
			 struct berr **err);

/* ---- cgroup statistics (cgroup_stats.c; docs/stats.md) ---- */
/* What a container's or pod's cgroup reports. A has_* flag is false when its
 * controller is not there (v2: not enabled for the cgroup; v1: not mounted). */
struct oci_cgroup_stats {
	bool has_cpu;
	uint64_t cpu_usage_ns; /* v2 cpu.stat usage_usec * 1000; v1 cpuacct.usage */
	bool has_memory;
	uint64_t mem_usage;	  /* v2 memory.current; v1 memory.usage_in_bytes */
	uint64_t mem_limit;	  /* 0: no limit (over 2^62 counts as none, as kubelet's) */
	uint64_t mem_working_set; /* usage - inactive_file (v1 total_inactive_file), >= 0 */
	uint64_t mem_rss;	  /* v2 anon; v1 total_rss */
	uint64_t mem_pgfault, mem_pgmajfault; /* v2 pgfault/pgmajfault; v1 total_ */
	bool has_swap;
	uint64_t swap_usage; /* v2 memory.swap.current; v1 memsw.usage - usage */
	uint64_t swap_limit; /* 0: none; v2 memory.swap.max; v1 memsw.limit - limit */
	bool has_pids;
	uint64_t pids_current;
};
/* Reads the cgroup of cgroups_path (as stored for the container: a cgroupfs
 * path or the systemd driver's "slice:prefix:name") under cgroup_root (NULL:
 * /sys/fs/cgroup). HYBRID reads the v1 controllers, as runc uses them there.
 * -ENOENT when the cgroup is gone (no controller has it); -EINVAL bad path;
 * -EPROTO unparsable file. */
int oci_cgroup_stats_read(const char *cgroup_root, enum oci_cgroup_mode mode,
			  enum oci_cgroup_driver d, const char *cgroups_path,
			  struct oci_cgroup_stats *ret, struct berr **err);
/* Pure: the CPU rate in nanocores between two samples (containerd's
 * getUsageNanoCores); false when there is none: no time passed or the usage
 * went down (a restarted cgroup). */
bool oci_cpu_nano_cores(uint64_t prev_usage_ns, int64_t prev_ts_ns, uint64_t usage_ns,
			int64_t ts_ns, uint64_t *ret);

#endif
