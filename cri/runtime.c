/* SPDX-License-Identifier: Apache-2.0 */
/* runtime.c - the runtime-wide RPCs: Version, Status, UpdateRuntimeConfig, RuntimeConfig. */
#include "cri/cri-internal.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/strv.h"
#include "cri/pod.h"
#include "netns/netns.h"
#include "cri/validate-internal.h"

#define CRI_API_VERSION	    "v1"
#define KUBELET_API_VERSION "0.1.0"
#define CNI_CONFIG_MAX	    (1 << 20)
#define POD_CIDRS_MAX	    16
#define CNI_GENERATED	    "10-berth-net.conflist" /* from cni.conf_template */
#define CIDR_MARK	    "{{.PodCIDR}}"

int cri_version(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		ProtobufCMessage **ret_resp, struct berr **err)
{
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	Runtime__V1__VersionResponse *r =
	    (void *)cri_msg_new(&runtime__v1__version_response__descriptor);
	r->version = xstrdup(KUBELET_API_VERSION);
	r->runtime_name = xstrdup("berth");
	r->runtime_version = xstrdup(BERTH_VERSION);
	r->runtime_api_version = xstrdup(CRI_API_VERSION);
	*ret_resp = &r->base;
	return 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* What libcni loads: a JSON object with a "type" (single plugin) or a "plugins" list. */
static bool cni_json_ok(const char *data)
{
	struct json_object *o = json_tokener_parse(data);
	bool ok = json_object_is_type(o, json_type_object) &&
		  (json_object_object_get_ex(o, "plugins", NULL) ||
		   json_object_object_get_ex(o, "type", NULL));
	json_object_put(o);
	return ok;
}

/* Same files libcni loads: *.conf, *.conflist, *.json holding such an object. */
static bool cni_file_ok(const char *path)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	if (fileio_read_all(path, CNI_CONFIG_MAX, &data, &len, NULL) < 0)
		return false;
	return cni_json_ok(data);
}

bool cri_cni_config_present(const char *conf_dir, char **ret_msg)
{
	DIR *d = opendir(conf_dir);
	if (!d) {
		*ret_msg = xasprintf("cni config dir '%s': %s", conf_dir, strerror(errno));
		return false;
	}
	bool found = false, seen = false;
	struct dirent *de;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] == '.' ||
		    !(has_suffix(de->d_name, ".conf") || has_suffix(de->d_name, ".conflist") ||
		      has_suffix(de->d_name, ".json")))
			continue;
		seen = true;
		_cleanup_free_ char *p = xasprintf("%s/%s", conf_dir, de->d_name);
		found = cni_file_ok(p);
	}
	closedir(d);
	if (!found)
		*ret_msg =
		    xasprintf("%s network config in '%s'", seen ? "no valid" : "no", conf_dir);
	return found;
}

/* The check RunPodSandbox depends on: the config netns/ would load has all
 * its plugins in the bin dirs (a config naming a missing plugin is not ready). */
static bool cni_plugins_ready(struct berth *b, char **ret_msg)
{
	const struct cri_ops *ops = cri_ops_of(b);
	if (!ops->cni || !ops->cni->ready)
		return true;
	_cleanup_free_ char *bin = strv_join(b->cfg.cni_bin_dirs, ':');
	struct cni_config c = {.conf_dir = b->cfg.cni_conf_dir, .bin_path = bin};
	return ops->cni->ready(&c, ret_msg);
}

static Runtime__V1__RuntimeCondition *condition(const char *type, bool ok, const char *reason,
						const char *msg)
{
	Runtime__V1__RuntimeCondition *c =
	    (void *)cri_msg_new(&runtime__v1__runtime_condition__descriptor);
	c->type = xstrdup(type);
	c->status = ok;
	if (reason)
		c->reason = xstrdup(reason);
	if (msg)
		c->message = xstrdup(msg);
	return c;
}

/* Status verbose "features": what the start-up probe found, and why a feature is off. */
static char *features_json(const struct cri_kernel_features *kf)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "recursiveReadOnlyMounts",
			       json_object_new_boolean(kf->mount_setattr));
	json_object_object_add(o, "userNamespaces", json_object_new_boolean(kf->idmap));
	if (!kf->idmap)
		json_object_object_add(o, "userNamespacesMissing",
				       json_object_new_string(kf->idmap_missing));
	json_object_object_add(o, "supplementalGroupsPolicy", json_object_new_boolean(true));
	char *s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

int cri_status(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
	       ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__StatusRequest *in = (const void *)req;
	Runtime__V1__StatusResponse *r =
	    (void *)cri_msg_new(&runtime__v1__status_response__descriptor);
	*ret_resp = &r->base;

	Runtime__V1__RuntimeStatus *st =
	    (void *)cri_msg_new(&runtime__v1__runtime_status__descriptor);
	r->status = st;
	st->conditions = xcalloc(2, sizeof(*st->conditions));
	/* RuntimeReady: the server answers; what can still be missing is the OCI
	 * runtime binary of the default handler (checked each call, like CNI). */
	const struct berth_runtime *rt = cri_config_runtime(&b->cfg, b->cfg.default_runtime);
	if (rt && access(rt->path, X_OK) == 0) {
		st->conditions[st->n_conditions++] = condition("RuntimeReady", true, NULL, NULL);
	} else {
		_cleanup_free_ char *msg = xasprintf("default runtime '%s': '%s' is not executable",
						     b->cfg.default_runtime, rt ? rt->path : "?");
		st->conditions[st->n_conditions++] =
		    condition("RuntimeReady", false, "RuntimeNotReady", msg);
	}
	/* Re-checked on every call: kubelet polls Status, and a CNI config dropped
	 * in later must turn the node ready without a restart. */
	_cleanup_free_ char *why = NULL;
	if (cri_cni_config_present(b->cfg.cni_conf_dir, &why) && cni_plugins_ready(b, &why)) {
		st->conditions[st->n_conditions++] = condition("NetworkReady", true, NULL, NULL);
	} else {
		_cleanup_free_ char *msg = xasprintf("network plugin is not ready: %s", why);
		st->conditions[st->n_conditions++] =
		    condition("NetworkReady", false, "NetworkPluginNotReady", msg);
	}

	const struct cri_kernel_features *kf = b->rt ? &b->rt->kfeat : NULL;
	r->runtime_handlers = xcalloc(b->cfg.n_runtimes + 1, sizeof(*r->runtime_handlers));
	/* The default handler is also reported under the empty name, as kubelet
	 * looks it up so for pods without a runtime class. */
	for (size_t i = 0; i <= b->cfg.n_runtimes; i++) {
		Runtime__V1__RuntimeHandler *h =
		    (void *)cri_msg_new(&runtime__v1__runtime_handler__descriptor);
		if (i > 0)
			h->name = xstrdup(b->cfg.runtimes[i - 1].name);
		h->features =
		    (void *)cri_msg_new(&runtime__v1__runtime_handler_features__descriptor);
		/* Every handler runs an OCI runtime on the same mounts berth makes: the
		 * kernel decides (rro is the runtime's own mount option, which runc has
		 * since 1.1; the idmapped mounts are berth's). */
		h->features->recursive_read_only_mounts = kf && kf->mount_setattr;
		h->features->user_namespaces = kf && kf->idmap;
		r->runtime_handlers[r->n_runtime_handlers++] = h;
	}
	r->features = (void *)cri_msg_new(&runtime__v1__runtime_features__descriptor);
	/* ContainerStatus.user is read from the container's process (container_status.c) */
	r->features->supplemental_groups_policy = true;

	if (in->verbose) {
		r->info = xcalloc(3, sizeof(*r->info));
		Runtime__V1__StatusResponse__InfoEntry *e =
		    (void *)cri_msg_new(&runtime__v1__status_response__info_entry__descriptor);
		e->key = xstrdup("config");
		e->value = cri_config_live_json(b);
		r->info[r->n_info++] = e;
		_cleanup_free_ char *cidrs = NULL;
		if (b->rt) {
			pthread_mutex_lock(&b->rt->cidr_mu);
			cidrs = xstrdup_null(b->rt->pod_cidrs);
			pthread_mutex_unlock(&b->rt->cidr_mu);
		}
		if (cidrs) {
			e = (void *)cri_msg_new(
			    &runtime__v1__status_response__info_entry__descriptor);
			e->key = xstrdup("podCIDRs");
			e->value = TAKE_PTR(cidrs);
			r->info[r->n_info++] = e;
		}
		if (kf) {
			e = (void *)cri_msg_new(
			    &runtime__v1__status_response__info_entry__descriptor);
			e->key = xstrdup("features");
			e->value = features_json(kf);
			r->info[r->n_info++] = e;
		}
	}
	return 0;
}

/* "10.244.1.0/24", "fd00:10::/64": an address and a prefix length that fits it. */
static bool cidr_valid(const char *s)
{
	const char *slash = strchr(s, '/');
	char addr[INET6_ADDRSTRLEN];
	size_t n = slash ? (size_t)(slash - s) : 0;
	if (n == 0 || n >= sizeof(addr) || !slash[1])
		return false;
	memcpy(addr, s, n);
	addr[n] = '\0';
	unsigned char buf[16];
	long max;
	if (inet_pton(AF_INET, addr, buf) == 1)
		max = 32;
	else if (inet_pton(AF_INET6, addr, buf) == 1)
		max = 128;
	else
		return false;
	char *end;
	errno = 0;
	long len = strtol(slash + 1, &end, 10);
	return errno == 0 && *end == '\0' && slash[1] >= '0' && slash[1] <= '9' && len >= 0 &&
	       len <= max;
}

/* Writes cni.conf_template with the first pod CIDR into the conf dir, as containerd
 * does with its conf_template: only {{.PodCIDR}} is filled in (berth has no Go
 * templates); anything else between {{ }} is refused rather than written half done. */
static int cni_conf_render(struct berth *b, const char *cidr, struct berr **err)
{
	const char *tpl = b->cfg.cni_conf_template;
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	int r = fileio_read_all(tpl, CNI_CONFIG_MAX, &data, &len, err);
	if (r < 0)
		return berr_wrap(err, "cni conf_template");
	size_t mark = strlen(CIDR_MARK), count = 0;
	for (const char *p = data; (p = strstr(p, CIDR_MARK)); p += mark)
		count++;
	_cleanup_free_ char *out = xmalloc(len + count * strlen(cidr) + 1);
	char *o = out;
	for (const char *p = data, *q; *p; p = q + mark) {
		q = strstr(p, CIDR_MARK);
		size_t k = q ? (size_t)(q - p) : strlen(p);
		memcpy(o, p, k);
		o += k;
		if (!q)
			break;
		o = stpcpy(o, cidr);
	}
	*o = '\0';
	const char *left = strstr(out, "{{");
	if (left)
		return berr_set(
		    err, EINVAL,
		    "cni conf_template '%s': only " CIDR_MARK " is filled in, not '%.*s'", tpl,
		    (int)(strstr(left, "}}") ? strstr(left, "}}") - left + 2 : 2), left);
	if (!cni_json_ok(out))
		return berr_set(err, EINVAL,
				"cni conf_template '%s' does not give a network config (a JSON "
				"object with \"plugins\" or \"type\")",
				tpl);
	_cleanup_free_ char *path = xasprintf("%s/%s", b->cfg.cni_conf_dir, CNI_GENERATED);
	r = fileio_mkdir_p(b->cfg.cni_conf_dir, 0755, err);
	if (r >= 0)
		r = fileio_write_atomic(path, out, strlen(out), 0644, err);
	if (r >= 0)
		log_info("path=%s pod_cidr=%s msg=\"wrote the CNI config from the template\"", path,
			 cidr);
	return r;
}

int cri_update_runtime_config(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			      ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__UpdateRuntimeConfigRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	const char *cidrs = in->runtime_config && in->runtime_config->network_config
				? in->runtime_config->network_config->pod_cidr
				: NULL;
	if (cidrs && *cidrs) {
		/* kubelet sends the node's CIDRs comma-separated (dual stack: one per family) */
		size_t len = strlen(cidrs);
		if (cidrs[0] == ',' || cidrs[len - 1] == ',' || strstr(cidrs, ",,"))
			return berr_set(err, EINVAL, "pod CIDR list '%s' has an empty entry",
					cidrs);
		_cleanup_strv_ char **v = strv_split(cidrs, ',');
		size_t n = strv_len(v);
		if (n > POD_CIDRS_MAX)
			return berr_set(err, EINVAL, "too many pod CIDRs (%zu > %d)", n,
					POD_CIDRS_MAX);
		for (size_t i = 0; i < n; i++)
			if (!cidr_valid(v[i]))
				return berr_set(
				    err, EINVAL,
				    "pod CIDR '%s' is not an IPv4 or IPv6 address/prefix", v[i]);
		bool changed = true;
		if (b->rt) {
			pthread_mutex_lock(&b->rt->cidr_mu);
			changed = !b->rt->pod_cidrs || strcmp(b->rt->pod_cidrs, cidrs) != 0;
			free(b->rt->pod_cidrs);
			b->rt->pod_cidrs = xstrdup(cidrs);
			pthread_mutex_unlock(&b->rt->cidr_mu);
		}
		if (changed)
			log_info("pod_cidr=%s msg=\"pod CIDR from kubelet\"", cidrs);
		/* as containerd: a network config that is there already is the admin's */
		_cleanup_free_ char *why = NULL;
		if (b->cfg.cni_conf_template &&
		    !cri_cni_config_present(b->cfg.cni_conf_dir, &why)) {
			int r = cni_conf_render(b, v[0], err);
			if (r < 0)
				return r;
		}
	}
	*ret_resp = cri_msg_new(&runtime__v1__update_runtime_config_response__descriptor);
	return 0;
}

int cri_runtime_config(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		       ProtobufCMessage **ret_resp, struct berr **err)
{
	Runtime__V1__RuntimeConfigResponse *r =
	    (void *)cri_msg_new(&runtime__v1__runtime_config_response__descriptor);
	r->linux = (void *)cri_msg_new(&runtime__v1__linux_runtime_configuration__descriptor);
	r->linux->cgroup_driver = b->cfg.cgroup_driver == BERTH_CGROUP_SYSTEMD
				      ? RUNTIME__V1__CGROUP_DRIVER__SYSTEMD
				      : RUNTIME__V1__CGROUP_DRIVER__CGROUPFS;
	*ret_resp = &r->base;
	return 0;
}
