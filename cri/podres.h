/* SPDX-License-Identifier: Apache-2.0 */
/* podres.h - pod-level resources: LinuxPodSandboxConfig.resources and overhead
 * given at RunPodSandbox and changed by UpdatePodSandboxResources (in-place pod
 * resize). They are validated as UpdateContainerResources validates, merged as it
 * merges (a zero field keeps the recorded value), recorded in the sandbox status
 * (extra "resources" and "overhead": hex of the packed message), shown in the
 * PodSandboxStatus verbose info, and applied to the cgroup berth owns for the pod
 * (<cgroup_parent>/berth-<id12>, holding the pod init and its containers) as the
 * pod's whole envelope, resources + overhead. kubelet's cgroup_parent itself is
 * never written (docs/pods.md, "Pod-level resources").
 * Ownership: struct cri_podres owns its messages and strings (cri_podres_done()).
 * Threads: the pure functions are thread-safe; the RPC serialises updates with the
 *   runtime's podres_mu, held across the pod cgroup writes (no callout).
 * Errors: -EINVAL bad values (the message names the field), -ENOENT unknown pod,
 *   -EBUSY pod not ready, the kernel's errno of a refused cgroup write (-EINVAL,
 *   -EBUSY for a memory limit below the usage). */
#ifndef BERTH_CRI_PODRES_H
#define BERTH_CRI_PODRES_H

#include <stddef.h>
#include <stdint.h>

#include "netns/netns.h"
#include "oci/oci.h"
#include "store/store.h"

struct berth;
struct json_object;

#define CRI_SB_S_RESOURCES "resources" /* sandbox status extra keys */
#define CRI_SB_S_OVERHEAD  "overhead"

struct cri_podres {
	Runtime__V1__LinuxContainerResources *resources, *overhead; /* merged; NULL: none */
	struct netns_cg_limits limits;				    /* what the pod cgroup gets */
	struct store_kv kv[2]; /* the status extra entries (values owned) */
	size_t n_kv;
};
void cri_podres_done(struct cri_podres *p);

/* Pure: cur's recorded resources and overhead (NULL: none) with res and ovh
 * (NULL: unchanged) merged over them and validated; opts as the spec builder's. */
int cri_podres_merge(const struct store_sb_status *cur,
		     const Runtime__V1__LinuxContainerResources *res,
		     const Runtime__V1__LinuxContainerResources *ovh,
		     const struct oci_runtime_opts *opts, struct cri_podres *ret,
		     struct berr **err);
/* Pure: what RunPodSandbox records for cfg (validated). */
int cri_podres_from_config(const struct berth *b, const Runtime__V1__PodSandboxConfig *cfg,
			   struct cri_podres *ret, struct berr **err);
/* Pure: the recorded resources or overhead of st (key one of CRI_SB_S_*);
 * NULL when none (or unreadable). Free with protobuf_c_message_free_unpacked. */
Runtime__V1__LinuxContainerResources *cri_podres_recorded(const struct store_sb_status *st,
							  const char *key);
/* Pure: adds "resources", "overhead" and "podCgroupLimits" to a verbose info object. */
void cri_podres_info(const struct store_sb_meta *m, const struct store_sb_status *st,
		     struct json_object *o);
/* Pure: the pod's recorded memory envelope (resources + overhead); 0: none. */
int64_t cri_podres_memory_limit(const struct store_sb_status *st);

#endif
