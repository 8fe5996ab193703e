/* SPDX-License-Identifier: Apache-2.0 */
/* oci-internal.h - declarations shared by the oci/ sources and their tests. */
#ifndef BERTH_OCI_INTERNAL_H
#define BERTH_OCI_INTERNAL_H

#include <json-c/json.h>

#include "common/cleanup.h"
#include "oci/oci.h"

struct berr;

#define OCI_VERSION	    "1.0.2-dev"
#define OCI_DEFAULT_PATH    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define OCI_MAX_OUT_DEFAULT (16u << 20)

/* NULL-terminated capability names ("CAP_CHOWN", ...). */
extern const char *const oci_caps_default[];
extern const char *const oci_caps_known[];
extern const char *const oci_masked_paths_default[];
extern const char *const oci_readonly_paths_default[];

DEFINE_CLEANUP_FUNC(struct json_object *, json_object_put)
#define _cleanup_json_ _cleanup_(json_object_putp)

/* json helpers: take ownership of nothing but the value they add. */
void oci_json_str(struct json_object *o, const char *key, const char *val);
struct json_object *oci_json_strv(char *const *v);
struct json_object *oci_json_obj(struct json_object *parent, const char *key);

/* The effective namespace options (container's, else pod's, else all POD). */
void oci_ns_modes(const Runtime__V1__ContainerConfig *c, const Runtime__V1__PodSandboxConfig *p,
		  Runtime__V1__NamespaceMode *net, Runtime__V1__NamespaceMode *pid,
		  Runtime__V1__NamespaceMode *ipc);

/* spec_linux.c: the "linux" object, mounts array and process capabilities. */
int oci_spec_linux(const struct oci_spec_input *in, struct json_object *spec, struct berr **err);
int oci_spec_mounts(const struct oci_spec_input *in, struct json_object *spec, struct berr **err);
int oci_spec_caps(const Runtime__V1__LinuxContainerSecurityContext *sc,
		  const struct oci_runtime_opts *opts, struct json_object **ret, struct berr **err);
/* resources.c */
int oci_resources_object(const Runtime__V1__LinuxContainerResources *res,
			 const struct oci_runtime_opts *opts, struct json_object *out,
			 struct berr **err);

/* seccomp.c: oci_seccomp_translate() on a parsed profile; *ret is a new object. */
int oci_seccomp_object(struct json_object *profile, const struct oci_seccomp_host *host,
		       char *const *caps, struct json_object **ret, struct berr **err);

/* cgroup.c: the cgroup's path below a hierarchy root ("/berth/<id>"; the
 * systemd driver's "slice:prefix:name" expanded to its scope); ".." refused. */
int oci_cgroup_rel_path(enum oci_cgroup_driver d, const char *cgroups_path, char **ret,
			struct berr **err);

/* cgroup_stats.c: one number file of dir (missing: 0, *present false; "max":
 * UINT64_MAX), and a flat keyed file ("key value" lines: keys[i] into vals[i],
 * absent keys 0). -EPROTO for a number that doesn't parse. */
int oci_cg_read_u64(const char *dir, const char *name, uint64_t *ret, bool *present,
		    struct berr **err);
int oci_cg_read_keyed(const char *dir, const char *name, const char *const *keys, uint64_t *vals,
		      size_t n, bool *present, struct berr **err);

#endif
