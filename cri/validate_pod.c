/* SPDX-License-Identifier: Apache-2.0 */
/* validate_pod.c - PodSandboxConfig (RunPodSandbox, and the copies kubelet sends
 * with CreateContainer and PullImage), and the security profile and id rules
 * pods and containers share. */
#include "cri/validate-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/sysctl.h"

#define SECCOMP_LOCALHOST RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost

/* Names, namespaces and uids go into the store's names (k8s_<name>_<ns>_...),
 * CNI_ARGS (K8S_POD_NAME=..;..) and the hostname: printable, no separators. */
static int v_name(const char *where, const char *field, const char *s, struct berr **err)
{
	char f[512];
	int r = cri_v_str(where, field, s, CRI_V_NAME_MAX, CRI_V_NONEMPTY | CRI_V_NO_SPACE, err);
	const char *bad = s ? strpbrk(s, "/;=") : NULL;
	if (r == 0 && bad)
		r = berr_set(err, EINVAL, "%s '%.64s' holds '%c'",
			     cri_v_path(f, sizeof(f), where, field), s, *bad);
	return r;
}

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

/* It goes into sethostname(), /etc/hostname and /etc/hosts lines. */
static int v_hostname(const char *f, const char *s, size_t len, struct berr **err)
{
	if (len > CRI_V_HOSTNAME_MAX)
		return berr_set(err, E2BIG, "%s '%.64s...' too long (%zu > %d bytes)", f, s, len,
				CRI_V_HOSTNAME_MAX);
	for (size_t i = 0; i < len; i++)
		if (!host_char(s[i]))
			return berr_set(err, EINVAL,
					"%s '%.64s' holds '%c' (a hostname takes letters, digits, "
					"'-', '.' and '_')",
					f, s, s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?');
	if (len && (s[0] == '-' || s[0] == '.'))
		return berr_set(err, EINVAL, "%s '%.64s' starts with '%c'", f, s, s[0]);
	return 0;
}

static int v_dns(const char *where, const Runtime__V1__DNSConfig *d, struct berr **err)
{
	if (!d)
		return 0;
	char w[512];
	cri_v_path(w, sizeof(w), where, "dns_config");
	unsigned fl = CRI_V_NONEMPTY | CRI_V_NO_SPACE;
	int r = cri_v_strv(w, "servers", d->servers, d->n_servers, CRI_V_DNS_ENTRIES, 64, SIZE_MAX,
			   fl, err);
	for (size_t i = 0; r == 0 && i < d->n_servers; i++)
		if (!cri_v_is_ip(d->servers[i]))
			r = berr_set(err, EINVAL,
				     "%s.servers[%zu]: dns server '%.64s' is not an IP "
				     "address",
				     w, i, d->servers[i]);
	if (r == 0)
		r = cri_v_strv(w, "searches", d->searches, d->n_searches, CRI_V_DNS_ENTRIES,
			       CRI_V_DNS_LEN, SIZE_MAX, fl, err);
	if (r == 0)
		r = cri_v_strv(w, "options", d->options, d->n_options, CRI_V_DNS_ENTRIES,
			       CRI_V_DNS_LEN, SIZE_MAX, fl, err);
	return r;
}

static int v_ports(const char *where, const Runtime__V1__PodSandboxConfig *c, struct berr **err)
{
	int r = cri_v_count(where, "port_mappings", c->n_port_mappings, CRI_V_PORTS, err);
	for (size_t i = 0; r == 0 && i < c->n_port_mappings; i++) {
		const Runtime__V1__PortMapping *p = c->port_mappings[i];
		char f[560];
		cri_v_fmt(f, sizeof(f), "%s%sport_mappings[%zu]", where, *where ? "." : "", i);
		r = cri_v_range(f, "container_port", p->container_port, 1, 65535, err);
		if (r == 0)
			r = cri_v_range(f, "host_port", p->host_port, 0, 65535, err);
		if (r == 0 && p->host_ip && *p->host_ip && !cri_v_is_ip(p->host_ip))
			r = berr_set(err, EINVAL, "%s.host_ip '%.64s' is not an IP address", f,
				     p->host_ip);
	}
	return r;
}

/* kubelet's namespaced sysctls; each needs the pod's own namespace of its kind. */
static int v_sysctls(const char *where, const Runtime__V1__LinuxPodSandboxConfig *l,
		     Runtime__V1__NamespaceMode net, Runtime__V1__NamespaceMode ipc,
		     struct berr **err)
{
	int r = cri_v_count(where, "sysctls", l->n_sysctls, CRI_V_SYSCTLS, err);
	for (size_t i = 0; r == 0 && i < l->n_sysctls; i++) {
		const char *k = l->sysctls[i]->key ? l->sysctls[i]->key : "";
		const char *v = l->sysctls[i]->value ? l->sysctls[i]->value : "";
		char f[560];
		cri_v_fmt(f, sizeof(f), "%s.sysctls['%.64s']", where, k);
		size_t n = strlen(k);
		bool ok = n > 0 && n <= CRI_V_NAME_MAX && strchr("./", k[n - 1]) == NULL &&
			  strchr("./", k[0]) == NULL;
		for (size_t j = 0; ok && j < n; j++)
			ok = (k[j] >= 'a' && k[j] <= 'z') || (k[j] >= 'A' && k[j] <= 'Z') ||
			     (k[j] >= '0' && k[j] <= '9') || k[j] == '_' || k[j] == '-' ||
			     ((k[j] == '.' || k[j] == '/') && k[j + 1] != '.' && k[j + 1] != '/');
		if (!ok)
			return berr_set(err, EINVAL,
					"%s: not a sysctl name like 'net.ipv4.ip_forward'", f);
		enum sysctl_ns ns = sysctl_ns_of(k);
		if (ns == SYSCTL_NS_NONE)
			return berr_set(err, EINVAL,
					"%s.sysctls: sysctl '%s' is not namespaced (only net.*, "
					"kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*)",
					where, k);
		bool net_node = ns == SYSCTL_NS_NET && net == RUNTIME__V1__NAMESPACE_MODE__NODE;
		bool ipc_node = ns == SYSCTL_NS_IPC && ipc == RUNTIME__V1__NAMESPACE_MODE__NODE;
		if (net_node || ipc_node)
			return berr_set(err, EINVAL,
					"%s.sysctls '%s' needs the pod's own %s namespace, but "
					"namespace_options.%s is NODE: it would change the node",
					where, k, net_node ? "network" : "IPC",
					net_node ? "network" : "ipc");
		r = cri_v_str(f, NULL, v, CRI_V_SYSCTL_VALUE, CRI_V_NO_CTRL, err);
	}
	return r;
}

static int v_cgroup_parent(const struct cri_host_facts *h, const char *where, const char *p,
			   struct berr **err)
{
	char f[512];
	cri_v_path(f, sizeof(f), where, "cgroup_parent");
	if (!p || !*p)
		return 0;
	int r = cri_v_str(f, NULL, p, CRI_V_PATH_MAX, CRI_V_NO_CTRL, err);
	if (r < 0 || !h)
		return r;
	if (h->systemd_cgroup) {
		size_t n = strlen(p);
		if (strchr(p, '/') || n < 7 || strcmp(p + n - 6, ".slice"))
			return berr_set(err, EINVAL,
					"%s '%.64s' is not a systemd slice like "
					"'kubepods.slice'",
					f, p);
		return 0;
	}
	if (p[0] != '/')
		return berr_set(err, EINVAL, "%s '%.64s' is not an absolute cgroup path", f, p);
	if (strstr(p, "/../") || strstr(p, "/./") ||
	    (strlen(p) >= 3 && !strcmp(p + strlen(p) - 3, "/..")))
		return berr_set(err, EINVAL, "%s '%.64s' has a '.' or '..' component", f, p);
	return 0;
}

int cri_v_seccomp(const char *where, const Runtime__V1__SecurityProfile *p, struct berr **err)
{
	char f[512];
	cri_v_path(f, sizeof(f), where, "seccomp");
	if (!p)
		return 0;
	const char *ref = p->localhost_ref ? p->localhost_ref : "";
	if (p->profile_type != SECCOMP_LOCALHOST) {
		if (*ref)
			return berr_set(err, EINVAL,
					"%s.localhost_ref '%.64s' is set but the profile "
					"type is not Localhost",
					f, ref);
		return 0;
	}
	if (!strncmp(ref, "localhost/", 10))
		ref += 10; /* containerd trims a stray prefix */
	if (!*ref)
		return berr_set(err, EINVAL, "%s is Localhost without a localhost_ref", f);
	if (ref[0] != '/')
		return berr_set(err, EINVAL,
				"%s.localhost_ref: seccomp localhost profile '%.64s' is not an "
				"absolute path",
				f, ref);
	return cri_v_str(f, "localhost_ref", ref, CRI_V_PATH_MAX, CRI_V_NO_CTRL, err);
}

int cri_v_apparmor(const char *where, const Runtime__V1__SecurityProfile *p, struct berr **err)
{
	char f[512];
	cri_v_path(f, sizeof(f), where, "apparmor");
	if (!p)
		return 0;
	const char *ref = p->localhost_ref ? p->localhost_ref : "";
	if (p->profile_type != SECCOMP_LOCALHOST && *ref)
		return berr_set(err, EINVAL,
				"%s.localhost_ref '%.64s' is set but the profile type is "
				"not Localhost",
				f, ref);
	if (p->profile_type == SECCOMP_LOCALHOST && !*ref)
		return berr_set(err, EINVAL, "%s is Localhost without a localhost_ref", f);
	return cri_v_str(f, "localhost_ref", ref, CRI_V_SHORT_LEN, CRI_V_NO_SPACE, err);
}

int cri_v_ids(const char *where, const Runtime__V1__Int64Value *user,
	      const Runtime__V1__Int64Value *group, const int64_t *groups, size_t n_groups,
	      struct berr **err)
{
	int r = 0;
	if (user)
		r = cri_v_range(where, "run_as_user", user->value, 0, CRI_V_UID_MAX, err);
	if (r == 0 && group)
		r = cri_v_range(where, "run_as_group", group->value, 0, CRI_V_UID_MAX, err);
	if (r == 0)
		r = cri_v_count(where, "supplemental_groups", n_groups, CRI_V_GROUPS, err);
	for (size_t i = 0; r == 0 && i < n_groups; i++) {
		char f[560];
		cri_v_fmt(f, sizeof(f), "%s.supplemental_groups[%zu]", where, i);
		r = cri_v_range(f, NULL, groups[i], 0, CRI_V_UID_MAX, err);
	}
	return r;
}

static int v_selinux(const char *where, const Runtime__V1__SELinuxOption *o, struct berr **err)
{
	if (!o)
		return 0;
	char w[512];
	cri_v_path(w, sizeof(w), where, "selinux_options");
	int r = cri_v_str(w, "user", o->user, CRI_V_SHORT_LEN, CRI_V_NO_SPACE, err);
	if (r == 0)
		r = cri_v_str(w, "role", o->role, CRI_V_SHORT_LEN, CRI_V_NO_SPACE, err);
	if (r == 0)
		r = cri_v_str(w, "type", o->type, CRI_V_SHORT_LEN, CRI_V_NO_SPACE, err);
	if (r == 0)
		r = cri_v_str(w, "level", o->level, CRI_V_SHORT_LEN, CRI_V_NO_SPACE, err);
	return r;
}

static const char *ns_mode_name(Runtime__V1__NamespaceMode m)
{
	switch (m) {
	case RUNTIME__V1__NAMESPACE_MODE__POD:
		return "POD";
	case RUNTIME__V1__NAMESPACE_MODE__CONTAINER:
		return "CONTAINER";
	case RUNTIME__V1__NAMESPACE_MODE__NODE:
		return "NODE";
	default:
		return "TARGET";
	}
}

/* One mapping of a pod's user namespace: it maps container ID 0 (root in the
 * pod), is not empty, and neither side runs past 2^32 - 1 ((uid_t)-1 is no id). */
static int v_id_mapping(const char *f, const char *field, const Runtime__V1__IDMapping *m,
			struct berr **err)
{
	uint64_t end_host = (uint64_t)m->host_id + m->length;
	uint64_t end_ctr = (uint64_t)m->container_id + m->length;
	if (m->container_id != 0)
		return berr_set(err, EINVAL,
				"%s.%s[0].container_id %u: the mapping must start at container "
				"ID 0 (root of the pod)",
				f, field, m->container_id);
	if (m->length == 0)
		return berr_set(err, EINVAL, "%s.%s[0].length is 0: the mapping maps no ID", f,
				field);
	if (end_host > UINT32_MAX || end_ctr > UINT32_MAX)
		return berr_set(err, EINVAL,
				"%s.%s[0]: host_id %u + length %u overflows the ID range (> "
				"4294967295)",
				f, field, m->host_id, m->length);
	return 0;
}

int cri_v_userns(const char *where, const Runtime__V1__NamespaceOption *o,
		 const struct cri_host_facts *h, struct berr **err)
{
	const Runtime__V1__UserNamespace *u = o ? o->userns_options : NULL;
	if (!u)
		return 0;
	char f[560];
	cri_v_fmt(f, sizeof(f), "%s.userns_options", where);
	if (u->mode == RUNTIME__V1__NAMESPACE_MODE__CONTAINER ||
	    u->mode == RUNTIME__V1__NAMESPACE_MODE__TARGET)
		return berr_set(err, EINVAL,
				"%s.mode %s is not supported: a user namespace is the node's "
				"(NODE) or the pod's (POD)",
				f, ns_mode_name(u->mode));
	if (u->mode == RUNTIME__V1__NAMESPACE_MODE__NODE) {
		if (u->n_uids || u->n_gids)
			return berr_set(
			    err, EINVAL,
			    "%s: mode NODE takes no mappings (%zu uids, %zu gids given)", f,
			    u->n_uids, u->n_gids);
		return 0;
	}
	if (u->n_uids != 1 || u->n_gids != 1)
		return berr_set(err, EINVAL,
				"%s: mode POD needs exactly one uids and one gids mapping (%zu "
				"uids, %zu gids given)",
				f, u->n_uids, u->n_gids);
	int r = v_id_mapping(f, "uids", u->uids[0], err);
	if (r == 0)
		r = v_id_mapping(f, "gids", u->gids[0], err);
	if (r < 0)
		return r;
	const struct {
		const char *name;
		Runtime__V1__NamespaceMode m;
	} shared[] = {{"network", o->network}, {"pid", o->pid}, {"ipc", o->ipc}};
	for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++)
		if (shared[i].m == RUNTIME__V1__NAMESPACE_MODE__NODE)
			return berr_set(err, EINVAL,
					"%s: mode POD with %s NODE: the node's %s namespace is not "
					"owned by the pod's user namespace",
					f, shared[i].name, shared[i].name);
	if (h && h->kernel_known && !h->user_namespaces)
		return berr_set(err, EOPNOTSUPP,
				"%s: mode POD: user namespaces are not supported on this node (see "
				"Status)",
				f);
	return 0;
}

static int v_pod_security(const struct cri_host_facts *h, const char *where,
			  const Runtime__V1__LinuxSandboxSecurityContext *s, struct berr **err)
{
	if (!s)
		return 0;
	char w[512];
	cri_v_path(w, sizeof(w), where, "security_context");
	const Runtime__V1__NamespaceOption *o = s->namespace_options;
	if (o && (o->network == RUNTIME__V1__NAMESPACE_MODE__TARGET ||
		  o->pid == RUNTIME__V1__NAMESPACE_MODE__TARGET ||
		  o->ipc == RUNTIME__V1__NAMESPACE_MODE__TARGET))
		return berr_set(err, EINVAL,
				"%s.namespace_options: mode TARGET is not valid for a "
				"sandbox",
				w);
	int r = cri_v_ids(w, s->run_as_user, s->run_as_group, s->supplemental_groups,
			  s->n_supplemental_groups, err);
	if (r == 0) {
		char nw[560];
		cri_v_fmt(nw, sizeof(nw), "%s.namespace_options", w);
		r = cri_v_userns(nw, o, h, err);
	}
	if (r == 0)
		r = cri_v_seccomp(w, s->seccomp, err);
	if (r == 0)
		r = cri_v_apparmor(w, s->apparmor, err);
	if (r == 0)
		r = v_selinux(w, s->selinux_options, err);
	return r;
}

int cri_validate_pod_config(const struct cri_host_facts *h, const Runtime__V1__PodSandboxConfig *c,
			    const char *where, struct berr **err)
{
	char w[512];
	if (!c)
		return 0;
	const Runtime__V1__PodSandboxMetadata *md = c->metadata;
	if (!md)
		return berr_set(err, EINVAL, "%s.metadata is missing", where);
	cri_v_path(w, sizeof(w), where, "metadata");
	int r = v_name(w, "name", md->name, err);
	if (r == 0)
		r = v_name(w, "namespace", md->namespace_, err);
	if (r == 0)
		r = v_name(w, "uid", md->uid, err);
	if (r < 0)
		return r;
	/* The hostname Run sets: the given one, else the name cut to 63 bytes. */
	bool given = c->hostname && *c->hostname;
	const char *hn = given ? c->hostname : md->name;
	size_t hl = strlen(hn);
	r = v_hostname(given ? cri_v_path(w, sizeof(w), where, "hostname")
			     : cri_v_path(w, sizeof(w), where, "metadata.name (the hostname)"),
		       hn, given ? hl : (hl > 63 ? 63 : hl), err);
	if (r == 0)
		r = cri_v_str(where, "log_directory", c->log_directory, CRI_V_PATH_MAX,
			      CRI_V_ABSOLUTE | CRI_V_NO_CTRL, err);
	if (r == 0)
		r = v_dns(where, c->dns_config, err);
	if (r == 0)
		r = v_ports(where, c, err);
	if (r == 0)
		r = cri_v_map(where, "labels", (void *const *)c->labels, c->n_labels, err);
	if (r == 0)
		r = cri_v_map(where, "annotations", (void *const *)c->annotations, c->n_annotations,
			      err);
	const Runtime__V1__LinuxPodSandboxConfig *l = c->linux;
	if (r < 0 || !l)
		return r;
	cri_v_path(w, sizeof(w), where, "linux");
	const Runtime__V1__NamespaceOption *o =
	    l->security_context ? l->security_context->namespace_options : NULL;
	r = v_cgroup_parent(h, w, l->cgroup_parent, err);
	if (r == 0)
		r = v_pod_security(h, w, l->security_context, err);
	if (r == 0)
		r = v_sysctls(w, l, o ? o->network : RUNTIME__V1__NAMESPACE_MODE__POD,
			      o ? o->ipc : RUNTIME__V1__NAMESPACE_MODE__POD, err);
	char rw[560];
	if (r == 0)
		r = cri_v_resources(h, l->overhead,
				    (cri_v_fmt(rw, sizeof(rw), "%s.overhead", w), rw), 0, err);
	if (r == 0)
		r = cri_v_resources(h, l->resources,
				    (cri_v_fmt(rw, sizeof(rw), "%s.resources", w), rw), 0, err);
	return r;
}
