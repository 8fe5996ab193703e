/* SPDX-License-Identifier: Apache-2.0 */
/* validate-internal.h - the checks every CRI request passes before a handler
 * makes anything (docs/limits.md lists each rule and its limit).
 * One validator per message type (cri/validate_*.c), reached through
 * cri_validate(), which picks it by the request's descriptor and first checks
 * every enum field of the whole tree against the values the proto defines.
 * Pure: no I/O, no locks, no allocation that outlives the call; what the host
 * has (online CPUs and memory nodes, hugepage sizes, the cgroup driver) comes
 * in a struct cri_host_facts detected once (cri_host_facts_detect(), which
 * reads sysfs) or filled by hand in tests and fuzzers. facts NULL: the host
 * checks are skipped, everything else is checked.
 * Errors: -EINVAL a bad value (the message names the field and the rule),
 *   -E2BIG over a size cap (field, size and cap), -ERANGE a value this node
 *   cannot take (CPUs, memory nodes, hugepage sizes it lacks: OUT_OF_RANGE),
 *   -EOPNOTSUPP a field berth does not implement.
 * Threads: every call is thread-safe; facts are read-only once detected. */
#ifndef BERTH_CRI_VALIDATE_INTERNAL_H
#define BERTH_CRI_VALIDATE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "proto/api.pb-c.h"

struct berr;
struct berth;

/* ---- caps (docs/limits.md) ---- */
#define CRI_V_NAME_MAX	     253	/* metadata name, namespace, uid: a DNS subdomain */
#define CRI_V_HOSTNAME_MAX   64		/* the kernel's __NEW_UTS_LEN */
#define CRI_V_PATH_MAX	     4096	/* PATH_MAX */
#define CRI_V_ID_MAX	     256	/* IDs and ID prefixes in requests and filters */
#define CRI_V_MAP_ENTRIES    4096	/* labels, annotations, label selectors */
#define CRI_V_MAP_KEY_MAX    317	/* a qualified name: 253-byte prefix, '/', 63-byte name */
#define CRI_V_MAP_BYTES	     524288	/* keys and values of one map together */
#define CRI_V_ARG_MAX	     131071	/* one argv or env string: MAX_ARG_STRLEN less its NUL */
#define CRI_V_ARGS_ENTRIES   16384	/* command + args, envs, each */
#define CRI_V_EXEC_BYTES     1572864	/* command, args and envs together (ARG_MAX is 2 MiB) */
#define CRI_V_EXEC_CMD	     4096	/* ExecSync/Exec cmd entries */
#define CRI_V_EXEC_CMD_BYTES 524288	/* ExecSync/Exec cmd, all entries together */
#define CRI_V_EXEC_TIMEOUT   2147483	/* ExecSync timeout (s): berth-exec's int ms */
#define CRI_V_STOP_TIMEOUT   2147483647 /* StopContainer timeout (s) */
#define CRI_V_MOUNTS	     1024
#define CRI_V_DEVICES	     1024
#define CRI_V_PATHS	     1024  /* masked and read-only paths, each */
#define CRI_V_CAPS	     64	   /* capability names in add, drop, ambient, each */
#define CRI_V_GROUPS	     65536 /* supplemental groups: NGROUPS_MAX */
#define CRI_V_ID_MAPPINGS    340   /* uid/gid mappings: the kernel's uid_map limit */
#define CRI_V_SYSCTLS	     256
#define CRI_V_SYSCTL_VALUE   4096
#define CRI_V_DNS_ENTRIES    32 /* servers, searches, options, each */
#define CRI_V_DNS_LEN	     253
#define CRI_V_PORTS	     1024 /* port mappings; PortForward ports */
#define CRI_V_HUGEPAGES	     16
#define CRI_V_UNIFIED	     64
#define CRI_V_UNIFIED_VALUE  4096
#define CRI_V_CPUSET_LEN     4096
#define CRI_V_CPUS	     8192 /* NR_CPUS of Debian's kernels */
#define CRI_V_MEMS	     1024 /* MAX_NUMNODES */
#define CRI_V_IMAGE_LEN	     4096
#define CRI_V_AUTH_LEN	     65536 /* each AuthConfig string */
#define CRI_V_SHORT_LEN	     256   /* usernames, SELinux fields, target IDs, version */
#define CRI_V_CIDRS_LEN	     1024

/* ---- numeric ranges the kernel accepts ---- */
#define CRI_V_SHARES_MIN 2 /* cpu.shares (v1 MIN_SHARES; v2 weight 1..10000 from it) */
#define CRI_V_SHARES_MAX 262144
#define CRI_V_PERIOD_MIN 1000 /* cfs period, µs: 1 ms .. 1 s */
#define CRI_V_PERIOD_MAX 1000000
#define CRI_V_QUOTA_MIN	 1000		  /* cfs quota, µs (-1: unlimited) */
#define CRI_V_QUOTA_MAX	 17592186044415LL /* the kernel's max_cfs_runtime, 2^44-1 µs */
#define CRI_V_WEIGHT_MIN 1		  /* cpu.weight */
#define CRI_V_WEIGHT_MAX 10000
#define CRI_V_MEMORY_MIN (6LL << 20) /* below this runc's own init is OOM-killed */
#define CRI_V_OOM_MIN	 -1000
#define CRI_V_OOM_MAX	 1000
#define CRI_V_PIDS_MAX	 4194304      /* PID_MAX_LIMIT */
#define CRI_V_UID_MAX	 4294967294LL /* (uid_t)-1 is "no id" */

/* What this node has, as the kernel reports it. */
struct cri_host_facts {
	uint64_t cpus[CRI_V_CPUS / 64];		  /* online CPUs */
	uint64_t mems[CRI_V_MEMS / 64];		  /* online memory nodes */
	bool cpus_known, mems_known;		  /* false: not checked */
	uint64_t hugepage_sizes[CRI_V_HUGEPAGES]; /* bytes */
	size_t n_hugepage_sizes;
	bool hugepages_known;
	bool systemd_cgroup;  /* cgroup_parent is a systemd slice */
	bool cgroup_v2;	      /* unified resources need it */
	bool kernel_known;    /* the two below were probed (cri/idmap.h); false: not checked */
	bool rro_mounts;      /* recursive read-only mounts (mount_setattr) */
	bool user_namespaces; /* pod user namespaces with idmapped mounts */
};

/* Reads /sys/devices/system/cpu/online, /sys/devices/system/node/online (a
 * node without NUMA has node 0 only) and /sys/kernel/mm/hugepages under
 * sysfs_root (NULL: "/sys"). A file it can't read leaves that fact unknown. */
void cri_host_facts_detect(const char *sysfs_root, bool systemd_cgroup, bool cgroup_v2,
			   struct cri_host_facts *ret);

/* Checks req (any request message of the CRI services). 0 when valid. */
int cri_validate(const struct cri_host_facts *facts, const ProtobufCMessage *req,
		 struct berr **err);
/* The same with the facts of b (b->rt's; none in a bare test berth). The call
 * at the top of every handler. */
int cri_validate_req(const struct berth *b, const ProtobufCMessage *req, struct berr **err);

/* Parts, for the handlers that check a derived message (the merged resources
 * of UpdateContainerResources) and for tests. where names the field
 * ("config.linux.resources"). cri_validate_resources() checks a whole set of a
 * container's limits (CRI_V_RES_LIMITS | CRI_V_RES_PAIRS). */
int cri_validate_resources(const struct cri_host_facts *facts,
			   const Runtime__V1__LinuxContainerResources *r, const char *where,
			   struct berr **err);
int cri_validate_pod_config(const struct cri_host_facts *facts,
			    const Runtime__V1__PodSandboxConfig *c, const char *where,
			    struct berr **err);
int cri_validate_ctr_config(const struct cri_host_facts *facts,
			    const Runtime__V1__ContainerConfig *c, const char *where,
			    struct berr **err);
/* Every enum field of m's tree holds a value its enum defines. */
int cri_validate_enums(const ProtobufCMessage *m, const char *where, struct berr **err);
/* The wire form of a message of type d: no string field anywhere in it holds a
 * NUL byte (decoding would cut it there silently). Malformed data is left to
 * the decoder. */
int cri_validate_wire(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
		      struct berr **err);

/* "0-3,8,10-11" -> bits set in set (nbits wide); -EINVAL bad syntax or a
 * number >= nbits. */
int cri_cpuset_parse(const char *s, uint64_t *set, size_t nbits, const char *where,
		     struct berr **err);

/* ---- helpers shared by the validate_*.c files ---- */
/* The validator of req's type (validate_rpc.c); 0 for a type without rules. */
int cri_validate_rpc(const struct cri_host_facts *facts, const ProtobufCMessage *req,
		     struct berr **err);
enum cri_v_str {
	CRI_V_NONEMPTY = 1 << 0,
	CRI_V_NO_CTRL = 1 << 1,	 /* no control character (newline, tab, ...) */
	CRI_V_NO_SPACE = 1 << 2, /* no space either */
	CRI_V_ABSOLUTE = 1 << 3, /* starts with '/' (when not empty) */
	CRI_V_RELATIVE = 1 << 4, /* doesn't, and has no '..' component */
	CRI_V_NO_DOTDOT = 1 << 5,
};
int cri_v_str(const char *where, const char *field, const char *s, size_t max, unsigned flags,
	      struct berr **err);
int cri_v_count(const char *where, const char *field, size_t n, size_t max, struct berr **err);
/* protobuf-c map entries (struct cri_kv_entry layout). */
int cri_v_map(const char *where, const char *field, void *const *entries, size_t n,
	      struct berr **err);
int cri_v_strv(const char *where, const char *field, char *const *v, size_t n, size_t max_n,
	       size_t max_each, size_t max_total, unsigned flags, struct berr **err);
/* What cri_v_resources() checks besides the ranges of each value. */
enum cri_v_res {
	CRI_V_RES_LIMITS = 1 << 0, /* limits a process runs under: the memory minimum */
	CRI_V_RES_PAIRS = 1 << 1,  /* a whole set: swap against memory */
};
int cri_v_resources(const struct cri_host_facts *facts,
		    const Runtime__V1__LinuxContainerResources *r, const char *where, unsigned mode,
		    struct berr **err);
int cri_v_range(const char *where, const char *field, int64_t v, int64_t lo, int64_t hi,
		struct berr **err);
/* snprintf() into a field-path buffer: a path cut short only shortens a message. */
void cri_v_fmt(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "where.field" into buf. */
const char *cri_v_path(char *buf, size_t size, const char *where, const char *field);
bool cri_v_is_ip(const char *s);
/* namespace_options.userns_options (where names namespace_options): NODE without
 * mappings or POD with one uid and one gid mapping from container ID 0, and the
 * pod's network, PID and IPC namespaces (owned by it); -EOPNOTSUPP for POD where
 * the node has no idmapped mounts. */
int cri_v_userns(const char *where, const Runtime__V1__NamespaceOption *o,
		 const struct cri_host_facts *facts, struct berr **err);
int cri_v_seccomp(const char *where, const Runtime__V1__SecurityProfile *p, struct berr **err);
int cri_v_apparmor(const char *where, const Runtime__V1__SecurityProfile *p, struct berr **err);
int cri_v_ids(const char *where, const Runtime__V1__Int64Value *user,
	      const Runtime__V1__Int64Value *group, const int64_t *groups, size_t n_groups,
	      struct berr **err);
int cri_v_image_spec(const char *where, const Runtime__V1__ImageSpec *s, bool required,
		     struct berr **err);

#endif
