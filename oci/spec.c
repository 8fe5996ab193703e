/* SPDX-License-Identifier: Apache-2.0 */
/* spec.c - oci_spec_build(): the top of config.json and its "process". */
#include "oci/oci.h"

#include <errno.h>
#include <string.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/strv.h"
#include "oci/oci-internal.h"

void oci_json_str(struct json_object *o, const char *key, const char *val)
{
	json_object_object_add(o, key, json_object_new_string(val ? val : ""));
}

struct json_object *oci_json_strv(char *const *v)
{
	struct json_object *a = json_object_new_array();
	for (; v && *v; v++)
		json_object_array_add(a, json_object_new_string(*v));
	return a;
}

struct json_object *oci_json_obj(struct json_object *parent, const char *key)
{
	struct json_object *o = NULL;
	if (json_object_object_get_ex(parent, key, &o))
		return o;
	o = json_object_new_object();
	json_object_object_add(parent, key, o);
	return o;
}

void oci_ns_modes(const Runtime__V1__ContainerConfig *c, const Runtime__V1__PodSandboxConfig *p,
		  Runtime__V1__NamespaceMode *net, Runtime__V1__NamespaceMode *pid,
		  Runtime__V1__NamespaceMode *ipc)
{
	const Runtime__V1__NamespaceOption *o = NULL;
	if (c && c->linux && c->linux->security_context)
		o = c->linux->security_context->namespace_options;
	if (!o && p && p->linux && p->linux->security_context)
		o = p->linux->security_context->namespace_options;
	*net = o ? o->network : RUNTIME__V1__NAMESPACE_MODE__POD;
	*pid = o ? o->pid : RUNTIME__V1__NAMESPACE_MODE__POD;
	*ipc = o ? o->ipc : RUNTIME__V1__NAMESPACE_MODE__POD;
}

static bool strv_empty(char *const *v)
{
	return !v || !v[0];
}

/* kubelet semantics (and Docker's): command replaces the image entrypoint and
 * then also drops the image cmd; args replace the image cmd. */
static int process_args(const Runtime__V1__ContainerConfig *c, const struct oci_image_config *img,
			struct json_object *proc, struct berr **err)
{
	struct json_object *a = json_object_new_array();
	json_object_object_add(proc, "args", a);
	if (c->n_command > 0) {
		for (size_t i = 0; i < c->n_command; i++)
			json_object_array_add(a, json_object_new_string(c->command[i]));
	} else if (img) {
		for (char *const *v = img->entrypoint; v && *v; v++)
			json_object_array_add(a, json_object_new_string(*v));
	}
	if (c->n_args > 0) {
		for (size_t i = 0; i < c->n_args; i++)
			json_object_array_add(a, json_object_new_string(c->args[i]));
	} else if (c->n_command == 0 && img) {
		for (char *const *v = img->cmd; v && *v; v++)
			json_object_array_add(a, json_object_new_string(*v));
	}
	if (json_object_array_length(a) == 0)
		return berr_set(err, EINVAL, "no command specified");
	if (json_object_get_string_len(json_object_array_get_idx(a, 0)) == 0)
		return berr_set(err, EINVAL, "empty command");
	return 0;
}

/* Sets name=value in the env vector, replacing an existing entry in place (as
 * containerd's WithEnv does), else appending. */
static void env_set(char ***env, size_t *n, const char *kv)
{
	size_t klen = strcspn(kv, "=");
	for (size_t i = 0; i < *n; i++) {
		if (strncmp((*env)[i], kv, klen) == 0 &&
		    ((*env)[i][klen] == '=' || (*env)[i][klen] == '\0')) {
			free((*env)[i]);
			(*env)[i] = xstrdup(kv);
			return;
		}
	}
	*env = xreallocarray(*env, *n + 2, sizeof(char *));
	(*env)[(*n)++] = xstrdup(kv);
	(*env)[*n] = NULL;
}

static int process_env(const Runtime__V1__ContainerConfig *c, const struct oci_image_config *img,
		       const struct oci_sandbox_info *sb, struct json_object *proc,
		       struct berr **err)
{
	_cleanup_strv_ char **env = xcalloc(1, sizeof(char *));
	size_t n = 0;
	if (sb && sb->hostname && sb->hostname[0]) {
		_cleanup_free_ char *h = xasprintf("HOSTNAME=%s", sb->hostname);
		env_set(&env, &n, h);
	}
	bool has_path = false;
	for (char *const *v = img ? img->env : NULL; v && *v; v++) {
		has_path = has_path || strncmp(*v, "PATH=", 5) == 0;
		env_set(&env, &n, *v);
	}
	if (!has_path)
		env_set(&env, &n, OCI_DEFAULT_PATH);
	for (size_t i = 0; i < c->n_envs; i++) {
		const Runtime__V1__KeyValue *kv = c->envs[i];
		const char *key = kv->key ? kv->key : "";
		if (!key[0] || strchr(key, '='))
			return berr_set(err, EINVAL, "invalid env name '%s'", key);
		if (kv->value.len && memchr(kv->value.data, '\0', kv->value.len))
			return berr_set(err, EINVAL, "env '%s' holds a NUL byte", key);
		_cleanup_free_ char *s =
		    xasprintf("%s=%.*s", key, (int)kv->value.len,
			      kv->value.len ? (const char *)kv->value.data : "");
		env_set(&env, &n, s);
	}
	json_object_object_add(proc, "env", oci_json_strv(env));
	return 0;
}

static int process_user(const struct oci_user *u, struct json_object *proc)
{
	struct json_object *ju = oci_json_obj(proc, "user");
	json_object_object_add(ju, "uid", json_object_new_int64(u ? u->uid : 0));
	json_object_object_add(ju, "gid", json_object_new_int64(u ? u->gid : 0));
	if (u && u->n_additional_gids) {
		struct json_object *g = json_object_new_array();
		for (size_t i = 0; i < u->n_additional_gids; i++)
			json_object_array_add(g, json_object_new_int64(u->additional_gids[i]));
		json_object_object_add(ju, "additionalGids", g);
	}
	return 0;
}

static const Runtime__V1__LinuxContainerSecurityContext *
sec_ctx(const Runtime__V1__ContainerConfig *c)
{
	return c->linux ? c->linux->security_context : NULL;
}

/* linux.seccomp from the profile the caller loaded, filtered by the
 * container's effective capabilities (process.capabilities, built before). */
static int spec_seccomp(const struct oci_spec_input *in,
			const Runtime__V1__LinuxContainerSecurityContext *sc,
			struct json_object *spec, struct berr **err)
{
	enum oci_seccomp_kind kind;
	int r = oci_seccomp_choose(sc, &kind, NULL, err);
	if (r < 0 || kind == OCI_SECCOMP_UNCONFINED)
		return r;
	const struct oci_seccomp_profile *p = in->seccomp;
	if (!p || !p->json || p->kind != kind)
		return berr_set(err, EINVAL, "the container's seccomp profile was not loaded");
	struct json_object *caps = NULL, *eff = NULL;
	struct json_object *proc = oci_json_obj(spec, "process");
	_cleanup_strv_ char **names = NULL;
	size_t n = 0;
	if (json_object_object_get_ex(proc, "capabilities", &caps) &&
	    json_object_object_get_ex(caps, "effective", &eff))
		for (size_t i = 0; i < json_object_array_length(eff); i++)
			strv_push(&names, &n,
				  json_object_get_string(json_object_array_get_idx(eff, i)));
	_cleanup_json_ struct json_object *profile = json_tokener_parse(p->json);
	struct json_object *out = NULL;
	r = profile ? oci_seccomp_object(profile, &in->opts->seccomp_host, names, &out, err)
		    : berr_set(err, EINVAL, "invalid JSON");
	if (r < 0)
		return berr_wrap(err, "seccomp profile '%s'", p->path ? p->path : "");
	json_object_object_add(oci_json_obj(spec, "linux"), "seccomp", out);
	return 0;
}

/* Security profiles: seccomp is applied (spec_seccomp); AppArmor and SELinux
 * are not, so a Localhost AppArmor profile is refused rather than silently
 * ignored. This is where process.apparmorProfile / selinuxLabel would go. */
static int spec_security_profiles(const struct oci_spec_input *in,
				  const Runtime__V1__LinuxContainerSecurityContext *sc,
				  struct json_object *spec, struct berr **err)
{
	int r = spec_seccomp(in, sc, spec, err);
	if (r < 0)
		return r;
	if (sc && sc->apparmor &&
	    sc->apparmor->profile_type == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost)
		return berr_set(err, EOPNOTSUPP, "apparmor localhost profiles are not supported");
	return 0;
}

static int spec_process(const struct oci_spec_input *in, struct json_object *spec,
			struct berr **err)
{
	const Runtime__V1__ContainerConfig *c = in->config;
	const Runtime__V1__LinuxContainerSecurityContext *sc = sec_ctx(c);
	struct json_object *proc = oci_json_obj(spec, "process");
	json_object_object_add(proc, "terminal", json_object_new_boolean(c->tty));
	process_user(in->user, proc);
	int r = process_args(c, in->image, proc, err);
	if (r < 0)
		return r;
	r = process_env(c, in->image, in->sandbox, proc, err);
	if (r < 0)
		return r;
	const char *cwd = c->working_dir && c->working_dir[0] ? c->working_dir : NULL;
	if (!cwd && in->image && in->image->working_dir && in->image->working_dir[0])
		cwd = in->image->working_dir;
	if (!cwd)
		cwd = "/";
	if (cwd[0] != '/')
		return berr_set(err, EINVAL, "working dir '%s' is not absolute", cwd);
	oci_json_str(proc, "cwd", cwd);
	struct json_object *caps = NULL;
	r = oci_spec_caps(sc, in->opts, &caps, err);
	if (r < 0)
		return r;
	json_object_object_add(proc, "capabilities", caps);
	json_object_object_add(proc, "noNewPrivileges",
			       json_object_new_boolean(sc && sc->no_new_privs));
	const Runtime__V1__LinuxContainerResources *res = c->linux ? c->linux->resources : NULL;
	json_object_object_add(proc, "oomScoreAdj",
			       json_object_new_int(oci_oom_score_adj_clamp(
				   res ? res->oom_score_adj : 0, in->opts->oom_score_adj_min)));
	return 0;
}

static void spec_annotations(const struct oci_spec_input *in, struct json_object *spec)
{
	const Runtime__V1__ContainerConfig *c = in->config;
	struct json_object *a = oci_json_obj(spec, "annotations");
	for (size_t i = 0; i < c->n_annotations; i++)
		oci_json_str(a, c->annotations[i]->key, c->annotations[i]->value);
	/* The keys containerd sets, which OCI hooks and tools look for. */
	oci_json_str(a, "io.kubernetes.cri.container-type", "container");
	if (in->sandbox && in->sandbox->id)
		oci_json_str(a, "io.kubernetes.cri.sandbox-id", in->sandbox->id);
	if (c->metadata && c->metadata->name)
		oci_json_str(a, "io.kubernetes.cri.container-name", c->metadata->name);
	if (c->image && c->image->image && c->image->image[0])
		oci_json_str(a, "io.kubernetes.cri.image-name", c->image->image);
}

int oci_spec_build(const struct oci_spec_input *in, char **ret_json, struct berr **err)
{
	if (!in->config || !in->opts || !in->opts->rootfs || !in->id || !in->id[0])
		return berr_set(err, EINVAL, "spec input lacks config, options, rootfs or id");
	const Runtime__V1__ContainerConfig *c = in->config;
	const Runtime__V1__LinuxContainerSecurityContext *sc = sec_ctx(c);
	if (sc && sc->privileged) {
		const Runtime__V1__PodSandboxConfig *p = in->sandbox_config;
		if (!p || !p->linux || !p->linux->security_context ||
		    !p->linux->security_context->privileged)
			return berr_set(err, EINVAL,
					"privileged container in a non-privileged sandbox");
	}
	_cleanup_json_ struct json_object *spec = json_object_new_object();
	oci_json_str(spec, "ociVersion", OCI_VERSION);
	int r = spec_process(in, spec, err);
	if (r < 0)
		return r;
	struct json_object *root = oci_json_obj(spec, "root");
	oci_json_str(root, "path", in->opts->rootfs);
	json_object_object_add(
	    root, "readonly",
	    json_object_new_boolean(in->opts->rootfs_readonly || (sc && sc->readonly_rootfs)));
	r = oci_spec_mounts(in, spec, err);
	if (r < 0)
		return r;
	r = oci_spec_linux(in, spec, err);
	if (r < 0)
		return r;
	r = spec_security_profiles(in, sc, spec, err);
	if (r < 0)
		return r;
	spec_annotations(in, spec);
	*ret_json = xstrdup(json_object_to_json_string_ext(
	    spec, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	return 0;
}

int oci_exec_process_build(const char *spec_json, char *const *argv, char **ret_json,
			   struct berr **err)
{
	if (strv_empty(argv) || !argv[0][0])
		return berr_set(err, EINVAL, "no command specified");
	_cleanup_json_ struct json_object *spec = json_tokener_parse(spec_json);
	struct json_object *proc = NULL;
	if (!spec || !json_object_object_get_ex(spec, "process", &proc) ||
	    !json_object_is_type(proc, json_type_object))
		return berr_set(err, EPROTO, "container spec has no process");
	/* A deep copy, so the result does not share the spec's tree. */
	struct json_object *copy = NULL;
	if (json_object_deep_copy(proc, &copy, NULL) < 0)
		return berr_set(err, EPROTO, "copy process of container spec");
	_cleanup_json_ struct json_object *p = copy;
	json_object_object_add(p, "args", oci_json_strv(argv));
	json_object_object_add(p, "terminal", json_object_new_boolean(false));
	json_object_object_del(p, "consoleSize");
	*ret_json = xstrdup(json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
	return 0;
}
