/* SPDX-License-Identifier: Apache-2.0 */
/* validate_ctr.c - ContainerConfig (CreateContainer): the process (command, args,
 * env within the kernel's exec limits), mounts, devices, log path, security
 * context and resources. */
#include "cri/validate-internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "oci/oci.h"

/* execve() takes at most ARG_MAX (2 MiB with the default 8 MiB stack) of
 * strings and pointers; the image env and runc's own come on top. */
static int v_process(const char *where, const Runtime__V1__ContainerConfig *c, struct berr **err)
{
	int r = cri_v_strv(where, "command", c->command, c->n_command, CRI_V_ARGS_ENTRIES,
			   CRI_V_ARG_MAX, SIZE_MAX, 0, err);
	if (r == 0)
		r = cri_v_strv(where, "args", c->args, c->n_args, CRI_V_ARGS_ENTRIES, CRI_V_ARG_MAX,
			       SIZE_MAX, 0, err);
	if (r == 0)
		r = cri_v_count(where, "command and args", c->n_command + c->n_args,
				CRI_V_ARGS_ENTRIES, err);
	if (r == 0)
		r = cri_v_count(where, "envs", c->n_envs, CRI_V_ARGS_ENTRIES, err);
	size_t total = 0;
	for (size_t i = 0; i < c->n_command; i++)
		total += strlen(c->command[i]) + 1 + sizeof(char *);
	for (size_t i = 0; i < c->n_args; i++)
		total += strlen(c->args[i]) + 1 + sizeof(char *);
	for (size_t i = 0; r == 0 && i < c->n_envs; i++) {
		const Runtime__V1__KeyValue *kv = c->envs[i];
		const char *k = kv->key ? kv->key : "";
		char f[560];
		cri_v_fmt(f, sizeof(f), "%s.envs[%zu]", where, i);
		size_t n = strlen(k) + 1 + kv->value.len;
		if (!*k || strchr(k, '='))
			return berr_set(err, EINVAL,
					"%s.key '%.64s' is not an environment variable "
					"name (empty or holds '=')",
					f, k);
		if (kv->value.len && memchr(kv->value.data, '\0', kv->value.len))
			return berr_set(err, EINVAL, "%s.value of '%.64s' holds a NUL byte", f, k);
		if (n > CRI_V_ARG_MAX)
			return berr_set(err, E2BIG, "%s '%.64s' too long (%zu > %d bytes)", f, k, n,
					CRI_V_ARG_MAX);
		total += n + 1 + sizeof(char *);
	}
	if (r == 0 && total > CRI_V_EXEC_BYTES)
		r = berr_set(err, E2BIG,
			     "%s: command, args and envs too large (%zu > %d bytes with their "
			     "pointers; the kernel takes 2 MiB in all)",
			     where, total, CRI_V_EXEC_BYTES);
	if (r == 0)
		r = cri_v_str(where, "working_dir", c->working_dir, CRI_V_PATH_MAX,
			      CRI_V_ABSOLUTE | CRI_V_NO_CTRL, err);
	return r;
}

static int v_mapping(const char *f, const char *field, size_t n, struct berr **err)
{
	return cri_v_count(f, field, n, CRI_V_ID_MAPPINGS, err);
}

/* Recursive read-only (KEP-3857): read-only and private, where the kernel has
 * mount_setattr(2). */
static int v_rro(const struct cri_host_facts *h, const char *f, const Runtime__V1__Mount *m,
		 struct berr **err)
{
	if (!m->recursive_read_only)
		return 0;
	if (!m->readonly)
		return berr_set(err, EINVAL,
				"%s.recursive_read_only needs readonly: mount '%.64s' is "
				"read-write",
				f, m->container_path);
	if (m->propagation != RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE)
		return berr_set(err, EINVAL,
				"%s.recursive_read_only needs propagation PROPAGATION_PRIVATE: "
				"mount '%.64s' has %s",
				f, m->container_path,
				m->propagation ==
					RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL
				    ? "PROPAGATION_BIDIRECTIONAL"
				    : "PROPAGATION_HOST_TO_CONTAINER");
	if (h && h->kernel_known && !h->rro_mounts)
		return berr_set(err, EOPNOTSUPP,
				"%s.recursive_read_only: this kernel has no mount_setattr(2) "
				"(Linux 5.12)",
				f);
	return 0;
}

static int v_mounts(const struct cri_host_facts *h, const char *where,
		    const Runtime__V1__ContainerConfig *c, struct berr **err)
{
	int r = cri_v_count(where, "mounts", c->n_mounts, CRI_V_MOUNTS, err);
	for (size_t i = 0; r == 0 && i < c->n_mounts; i++) {
		const Runtime__V1__Mount *m = c->mounts[i];
		char f[560];
		cri_v_fmt(f, sizeof(f), "%s.mounts[%zu]", where, i);
		bool image = m->image && m->image->image && *m->image->image;
		r = cri_v_str(f, "container_path", m->container_path, CRI_V_PATH_MAX,
			      CRI_V_NONEMPTY | CRI_V_ABSOLUTE | CRI_V_NO_CTRL, err);
		if (r == 0)
			r = cri_v_str(f, "host_path", m->host_path, CRI_V_PATH_MAX,
				      (image ? 0 : CRI_V_NONEMPTY) | CRI_V_ABSOLUTE | CRI_V_NO_CTRL,
				      err);
		if (r == 0)
			r = cri_v_str(f, "image_sub_path", m->image_sub_path, CRI_V_PATH_MAX,
				      CRI_V_RELATIVE | CRI_V_NO_CTRL, err);
		if (r == 0 && m->image)
			r = cri_v_image_spec(f, m->image, false, err);
		if (r == 0)
			r = cri_v_strv(f, "mount_options", m->mount_options, m->n_mount_options, 64,
				       CRI_V_SHORT_LEN, SIZE_MAX, CRI_V_NONEMPTY | CRI_V_NO_SPACE,
				       err);
		if (r == 0)
			r = v_mapping(f, "uidMappings", m->n_uidmappings, err);
		if (r == 0)
			r = v_mapping(f, "gidMappings", m->n_gidmappings, err);
		if (r == 0)
			r = v_rro(h, f, m, err);
	}
	return r;
}

static int v_devices(const char *where, const Runtime__V1__ContainerConfig *c, struct berr **err)
{
	int r = cri_v_count(where, "devices", c->n_devices, CRI_V_DEVICES, err);
	for (size_t i = 0; r == 0 && i < c->n_devices; i++) {
		const Runtime__V1__Device *d = c->devices[i];
		char f[560];
		cri_v_fmt(f, sizeof(f), "%s.devices[%zu]", where, i);
		r = cri_v_str(f, "container_path", d->container_path, CRI_V_PATH_MAX,
			      CRI_V_NONEMPTY | CRI_V_ABSOLUTE | CRI_V_NO_CTRL, err);
		if (r == 0)
			r = cri_v_str(f, "host_path", d->host_path, CRI_V_PATH_MAX,
				      CRI_V_NONEMPTY | CRI_V_ABSOLUTE | CRI_V_NO_CTRL, err);
		const char *p = d->permissions ? d->permissions : "";
		bool ok = strspn(p, "rwm") == strlen(p) && strlen(p) <= 3;
		for (size_t k = 0; ok && p[k]; k++)
			ok = strchr(p + k + 1, p[k]) == NULL;
		if (r == 0 && !ok)
			r = berr_set(err, EINVAL,
				     "%s.permissions '%.16s' is not a set of 'r', 'w' "
				     "and 'm'",
				     f, p);
	}
	if (r == 0 && c->n_cdi_devices)
		r = berr_set(err, EOPNOTSUPP,
			     "%s.CDI_devices: CDI devices are not supported "
			     "(%zu given)",
			     where, c->n_cdi_devices);
	return r;
}

static int v_caps(const char *where, const char *field, char *const *v, size_t n, bool all_ok,
		  struct berr **err)
{
	int r = cri_v_count(where, field, n, CRI_V_CAPS, err);
	for (size_t i = 0; r == 0 && i < n; i++) {
		const char *s = v[i] ? v[i] : "";
		bool all = !strcasecmp(s, "ALL") || !strcasecmp(s, "CAP_ALL");
		if ((all && !all_ok) || (!all && !oci_cap_is_known(s)))
			r = berr_set(err, EINVAL, "%s.%s[%zu] '%.64s' is not a capability%s", where,
				     field, i, s, all_ok ? " or 'ALL'" : "");
	}
	return r;
}

/* The deprecated field, which kubelet still sends: reading it is the point. */
static const char *apparmor_profile_of(const Runtime__V1__LinuxContainerSecurityContext *sc)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	return sc->apparmor_profile;
#pragma GCC diagnostic pop
}

/* The deprecated profile path fields: the values kubelet used to send. */
static int v_apparmor_path(const char *where, const char *s, struct berr **err)
{
	if (!s || !*s || !strcmp(s, "runtime/default") || !strcmp(s, "unconfined"))
		return 0;
	if (!strncmp(s, "localhost/", 10) && s[10])
		return cri_v_str(where, "apparmor_profile", s, CRI_V_SHORT_LEN, CRI_V_NO_SPACE,
				 err);
	return berr_set(err, EINVAL,
			"%s.apparmor_profile '%.64s' is not 'runtime/default', "
			"'unconfined' or 'localhost/<name>'",
			where, s);
}

static int v_ctr_security(const struct cri_host_facts *h, const char *where,
			  const Runtime__V1__LinuxContainerSecurityContext *s, struct berr **err)
{
	if (!s)
		return 0;
	char w[512];
	cri_v_path(w, sizeof(w), where, "security_context");
	int r = 0;
	const Runtime__V1__Capability *cap = s->capabilities;
	if (cap) {
		char cw[560];
		cri_v_fmt(cw, sizeof(cw), "%s.capabilities", w);
		r = v_caps(cw, "add_capabilities", cap->add_capabilities, cap->n_add_capabilities,
			   true, err);
		if (r == 0)
			r = v_caps(cw, "drop_capabilities", cap->drop_capabilities,
				   cap->n_drop_capabilities, true, err);
		if (r == 0)
			r = v_caps(cw, "add_ambient_capabilities", cap->add_ambient_capabilities,
				   cap->n_add_ambient_capabilities, false, err);
	}
	const Runtime__V1__NamespaceOption *o = s->namespace_options;
	if (r == 0 && o) {
		if (o->network == RUNTIME__V1__NAMESPACE_MODE__TARGET ||
		    o->ipc == RUNTIME__V1__NAMESPACE_MODE__TARGET)
			return berr_set(err, EINVAL,
					"%s.namespace_options: mode TARGET is only valid "
					"for pid",
					w);
		if (o->pid == RUNTIME__V1__NAMESPACE_MODE__TARGET &&
		    (!o->target_id || !*o->target_id))
			return berr_set(err, EINVAL,
					"%s.namespace_options: pid mode TARGET without "
					"a target_id",
					w);
		char nw[560];
		cri_v_fmt(nw, sizeof(nw), "%s.namespace_options", w);
		r = cri_v_str(nw, "target_id", o->target_id, CRI_V_ID_MAX, CRI_V_NO_SPACE, err);
		if (r == 0 && o->userns_options) {
			char uw[600];
			cri_v_fmt(uw, sizeof(uw), "%s.userns_options", nw);
			r = v_mapping(uw, "uids", o->userns_options->n_uids, err);
			if (r == 0)
				r = v_mapping(uw, "gids", o->userns_options->n_gids, err);
		}
		if (r == 0)
			r = cri_v_userns(nw, o, h, err);
	}
	if (r == 0)
		r = cri_v_ids(w, s->run_as_user, s->run_as_group, s->supplemental_groups,
			      s->n_supplemental_groups, err);
	if (r == 0)
		r = cri_v_str(w, "run_as_username", s->run_as_username, CRI_V_SHORT_LEN,
			      CRI_V_NO_SPACE, err);
	if (r == 0)
		r = cri_v_strv(w, "masked_paths", s->masked_paths, s->n_masked_paths, CRI_V_PATHS,
			       CRI_V_PATH_MAX, SIZE_MAX,
			       CRI_V_NONEMPTY | CRI_V_ABSOLUTE | CRI_V_NO_CTRL, err);
	if (r == 0)
		r = cri_v_strv(w, "readonly_paths", s->readonly_paths, s->n_readonly_paths,
			       CRI_V_PATHS, CRI_V_PATH_MAX, SIZE_MAX,
			       CRI_V_NONEMPTY | CRI_V_ABSOLUTE | CRI_V_NO_CTRL, err);
	if (r == 0)
		r = cri_v_seccomp(w, s->seccomp, err);
	if (r == 0)
		r = cri_v_apparmor(w, s->apparmor, err);
	if (r == 0)
		r = v_apparmor_path(w, apparmor_profile_of(s), err);
	if (r == 0 && !s->seccomp) {
		/* the deprecated path: its values are oci_seccomp_choose()'s rules */
		enum oci_seccomp_kind kind;
		const char *path = NULL;
		r = oci_seccomp_choose(s, &kind, &path, err);
		if (r < 0)
			berr_wrap(err, "%s.seccomp_profile_path", w);
	}
	return r;
}

int cri_validate_ctr_config(const struct cri_host_facts *h, const Runtime__V1__ContainerConfig *c,
			    const char *where, struct berr **err)
{
	if (!c)
		return berr_set(err, EINVAL, "%s is missing", where);
	char w[512];
	const Runtime__V1__ContainerMetadata *md = c->metadata;
	if (!md)
		return berr_set(err, EINVAL, "%s.metadata is missing", where);
	cri_v_path(w, sizeof(w), where, "metadata");
	int r =
	    cri_v_str(w, "name", md->name, CRI_V_NAME_MAX, CRI_V_NONEMPTY | CRI_V_NO_SPACE, err);
	const char *bad = md->name ? strpbrk(md->name, "/;=") : NULL;
	if (r == 0 && bad)
		r = berr_set(err, EINVAL, "%s.name '%.64s' holds '%c'", w, md->name, *bad);
	if (r == 0)
		r = cri_v_image_spec(where, c->image, true, err);
	if (r == 0)
		r = v_process(where, c, err);
	if (r == 0)
		r = v_mounts(h, where, c, err);
	if (r == 0)
		r = v_devices(where, c, err);
	if (r == 0)
		r = cri_v_map(where, "labels", (void *const *)c->labels, c->n_labels, err);
	if (r == 0)
		r = cri_v_map(where, "annotations", (void *const *)c->annotations, c->n_annotations,
			      err);
	if (r == 0)
		r = cri_v_str(where, "log_path", c->log_path, CRI_V_PATH_MAX,
			      CRI_V_RELATIVE | CRI_V_NO_CTRL, err);
	if (r < 0 || !c->linux)
		return r;
	cri_v_path(w, sizeof(w), where, "linux");
	char rw[560];
	cri_v_fmt(rw, sizeof(rw), "%s.resources", w);
	r = cri_validate_resources(h, c->linux->resources, rw, err);
	if (r == 0)
		r = v_ctr_security(h, w, c->linux->security_context, err);
	return r;
}
