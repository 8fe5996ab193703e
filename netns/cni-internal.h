/* SPDX-License-Identifier: Apache-2.0 */
/* cni-internal.h - shared between netns/cni.c, netns/cni-exec.c and the unit
 * tests; not part of the component's interface. */
#ifndef BERTH_NETNS_CNI_INTERNAL_H
#define BERTH_NETNS_CNI_INTERNAL_H

#include <stdbool.h>

struct berr;
struct cni_net;
struct cni_pod;
struct json_object;

#define CNI_MAX_CONF_SIZE      (1024 * 1024)
#define CNI_MAX_OUTPUT	       (1024 * 1024)
#define CNI_DEFAULT_TIMEOUT_MS 60000
#define CNI_DEFAULT_CONF_NAME  "10-berth.conflist"

/* The executable for plugin type in the colon-separated bin_path. */
int cni_plugin_find(const char *bin_path, const char *type, char **ret_path, struct berr **err);
/* Validates a network config list (already normalised to the conflist form)
 * and takes a reference to it; check_bin_path (may be NULL) is searched for
 * every plugin. */
int cni_net_from_json(struct json_object *list, const char *file, const char *check_bin_path,
		      struct cni_net **ret, struct berr **err);
/* Borrowed: the normalised conflist. */
struct json_object *cni_net_json(const struct cni_net *n);
/* New JSON array of pod's port mappings as CNI runtimeConfig.portMappings takes
 * them (hostIP only when set); also the form cached for DEL. */
struct json_object *cni_portmappings_json(const struct cni_pod *pod);
/* Checks the fields a request needs; netns only when need_netns. */
int cni_pod_check(const struct cni_pod *pod, bool need_netns, struct berr **err);

#endif
