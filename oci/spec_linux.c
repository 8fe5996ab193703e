/* SPDX-License-Identifier: Apache-2.0 */
/* spec_linux.c - mounts, capabilities and the "linux" object of config.json. */
#include "oci/oci.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/sysctl.h"
#include "oci/oci-internal.h"

/* containerd's default capability set (oci/spec.go defaultUnixCaps). */
const char *const oci_caps_default[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
    NULL,
};

/* Every capability up to CAP_CHECKPOINT_RESTORE (40, Linux 5.9), in number order. */
const char *const oci_caps_known[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
    NULL,
};

/* containerd's defaults (oci/spec.go populateDefaultUnixSpec). */
const char *const oci_masked_paths_default[] = {
    "/proc/acpi",	   "/proc/asound",
    "/proc/kcore",	   "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats",   "/proc/sched_debug",
    "/sys/firmware",	   "/sys/devices/virtual/powercap",
    "/proc/scsi",	   NULL,
};
const char *const oci_readonly_paths_default[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

/* ---- capabilities ---- */

/* "net_admin", "NET_ADMIN" or "CAP_NET_ADMIN" -> "CAP_NET_ADMIN"; NULL if unknown. */
static const char *cap_canon(const char *name)
{
	char buf[64];
	size_t n = strlen(name);
	if (strncasecmp(name, "CAP_", 4) == 0) {
		name += 4;
		n -= 4;
	}
	if (n == 0 || n + 5 > sizeof(buf))
		return NULL;
	memcpy(buf, "CAP_", 4);
	for (size_t i = 0; i < n; i++)
		buf[4 + i] = (char)toupper((unsigned char)name[i]);
	buf[4 + n] = '\0';
	for (const char *const *k = oci_caps_known; *k; k++)
		if (strcmp(*k, buf) == 0)
			return *k;
	return NULL;
}

bool oci_cap_is_known(const char *name)
{
	return name && cap_canon(name) != NULL;
}

static bool is_all(const char *s)
{
	return strcasecmp(s, "ALL") == 0 || strcasecmp(s, "CAP_ALL") == 0;
}

/* The set lives as a bitmap over oci_caps_known indexes. */
static int cap_index(const char *canon)
{
	for (int i = 0; oci_caps_known[i]; i++)
		if (oci_caps_known[i] == canon)
			return i;
	return -1;
}

static int caps_add_list(bool *set, char *const *names, const char *what, struct berr **err)
{
	for (; names && *names; names++) {
		const char *c = cap_canon(*names);
		if (!c)
			return berr_set(err, EINVAL, "unknown capability '%s' in %s", *names, what);
		set[cap_index(c)] = true;
	}
	return 0;
}

int oci_spec_caps(const Runtime__V1__LinuxContainerSecurityContext *sc,
		  const struct oci_runtime_opts *opts, struct json_object **ret, struct berr **err)
{
	bool set[64] = {0}, all[64] = {0};
	int r = caps_add_list(all, opts->all_caps ? opts->all_caps : (char *const *)oci_caps_known,
			      "the privileged set", err);
	if (r < 0)
		return r;
	if (sc && sc->privileged) {
		memcpy(set, all, sizeof(set));
	} else {
		r = caps_add_list(
		    set, opts->default_caps ? opts->default_caps : (char *const *)oci_caps_default,
		    "the default set", err);
		if (r < 0)
			return r;
		const Runtime__V1__Capability *cp = sc ? sc->capabilities : NULL;
		/* containerd's order: add ALL, drop ALL, add each, drop each. */
		for (size_t i = 0; cp && i < cp->n_add_capabilities; i++)
			if (is_all(cp->add_capabilities[i]))
				memcpy(set, all, sizeof(set));
		for (size_t i = 0; cp && i < cp->n_drop_capabilities; i++)
			if (is_all(cp->drop_capabilities[i]))
				memset(set, 0, sizeof(set));
		for (size_t i = 0; cp && i < cp->n_add_capabilities; i++) {
			if (is_all(cp->add_capabilities[i]))
				continue;
			const char *c = cap_canon(cp->add_capabilities[i]);
			if (!c)
				return berr_set(err, EINVAL, "unknown capability '%s' to add",
						cp->add_capabilities[i]);
			set[cap_index(c)] = true;
		}
		for (size_t i = 0; cp && i < cp->n_drop_capabilities; i++) {
			if (is_all(cp->drop_capabilities[i]))
				continue;
			const char *c = cap_canon(cp->drop_capabilities[i]);
			if (!c)
				return berr_set(err, EINVAL, "unknown capability '%s' to drop",
						cp->drop_capabilities[i]);
			set[cap_index(c)] = false;
		}
	}
	struct json_object *caps = json_object_new_object();
	static const char *const kinds[] = {"bounding", "effective", "permitted"};
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		struct json_object *a = json_object_new_array();
		for (int i = 0; oci_caps_known[i]; i++)
			if (set[i])
				json_object_array_add(a, json_object_new_string(oci_caps_known[i]));
		json_object_object_add(caps, kinds[k], a);
	}
	*ret = caps;
	return 0;
}

/* ---- mounts ---- */

static void mount_add(struct json_object *arr, const char *dst, const char *type, const char *src,
		      char *const *options)
{
	struct json_object *m = json_object_new_object();
	oci_json_str(m, "destination", dst);
	oci_json_str(m, "type", type);
	oci_json_str(m, "source", src);
	json_object_object_add(m, "options", oci_json_strv(options));
	json_object_array_add(arr, m);
}

static const Runtime__V1__Mount *cri_mount_at(const Runtime__V1__ContainerConfig *c,
					      const char *dst)
{
	for (size_t i = 0; i < c->n_mounts; i++)
		if (c->mounts[i]->container_path && strcmp(c->mounts[i]->container_path, dst) == 0)
			return c->mounts[i];
	return NULL;
}

/* Whether a default mount at dst is replaced by a CRI mount: one at the same
 * place, or (as containerd does) any CRI /dev mount replaces all of /dev. */
static bool default_overridden(const Runtime__V1__ContainerConfig *c, const char *dst)
{
	if (cri_mount_at(c, dst))
		return true;
	return strncmp(dst, "/dev/", 5) == 0 && cri_mount_at(c, "/dev");
}

static const char *propagation_opt(Runtime__V1__MountPropagation p)
{
	switch (p) {
	case RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER:
		return "rslave";
	case RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL:
		return "rshared";
	default:
		return "rprivate";
	}
}

static int path_depth(const char *p)
{
	int n = 0;
	for (const char *s = p; *s; s++)
		if (*s == '/' && s[1] && s[1] != '/')
			n++;
	return n;
}

struct bind {
	const char *dst, *src;
	const char *opts[7];
	int depth;
	size_t order;
};

static int bind_cmp(const void *a, const void *b)
{
	const struct bind *x = a, *y = b;
	if (x->depth != y->depth)
		return x->depth - y->depth;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int cri_bind(const Runtime__V1__Mount *m, const struct oci_runtime_opts *opts,
		    struct bind *b, const char **rootfs_prop, struct berr **err)
{
	if (!m->container_path || m->container_path[0] != '/')
		return berr_set(err, EINVAL, "mount destination '%s' is not absolute",
				m->container_path ? m->container_path : "");
	if (!m->host_path || m->host_path[0] != '/')
		return berr_set(err, EINVAL, "mount source '%s' is not absolute",
				m->host_path ? m->host_path : "");
	b->dst = m->container_path;
	b->src = m->host_path;
	b->opts[0] = "rbind";
	b->opts[1] = propagation_opt(m->propagation);
	b->opts[2] = m->readonly ? "ro" : "rw";
	if (m->image) {
		/* An image volume: the caller put the image's prepared tree in host_path.
		 * Read-only and noexec, as KEP-4639 has it; private only. */
		if (m->propagation != RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE ||
		    m->selinux_relabel)
			return berr_set(err, EINVAL,
					"image volume '%s' takes no propagation or SELinux relabel",
					m->container_path);
		b->opts[2] = "ro";
		b->opts[4] = "noexec";
		b->opts[5] = "nosuid";
		b->opts[6] = "nodev";
	}
	if (m->recursive_read_only) {
		if (!m->readonly)
			return berr_set(err, EINVAL,
					"recursive read-only mount '%s' must be read-only",
					m->container_path);
		if (m->propagation != RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE)
			return berr_set(err, EINVAL,
					"recursive read-only mount '%s' needs private propagation",
					m->container_path);
		if (!opts->rro_supported)
			return berr_set(err, EOPNOTSUPP,
					"recursive read-only mount '%s' is not supported here",
					m->container_path);
		b->opts[3] = "rro";
	}
	/* A shared or slave bind only propagates if the container's root mount is
	 * not private (containerd's WithMountPropagation). */
	if (m->propagation == RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL)
		*rootfs_prop = "rshared";
	else if (m->propagation == RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER &&
		 strcmp(*rootfs_prop, "rshared") != 0)
		*rootfs_prop = "rslave";
	return 0;
}

/* The kernel filesystems every container gets (containerd's defaults, plus
 * the cgroup mount), except where a CRI mount takes their place. */
static void default_mounts(const Runtime__V1__ContainerConfig *c, bool priv, bool pod_shm,
			   struct json_object *arr)
{
	struct {
		const char *dst, *type, *src;
		const char *opts[7];
	} defaults[] = {
	    {"/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}},
	    {"/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}},
	    {"/dev/pts",
	     "devpts",
	     "devpts",
	     {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
	    {"/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}},
	    /* Only without a pod /dev/shm (a container alone, e.g. in tests). */
	    {"/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
	    {"/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", priv ? "rw" : "ro"}},
	    {"/sys/fs/cgroup",
	     "cgroup",
	     "cgroup",
	     {"nosuid", "noexec", "nodev", "relatime", priv ? "rw" : "ro"}},
	};
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		if (default_overridden(c, defaults[i].dst))
			continue;
		if (pod_shm && strcmp(defaults[i].dst, "/dev/shm") == 0)
			continue;
		mount_add(arr, defaults[i].dst, defaults[i].type, defaults[i].src,
			  (char *const *)defaults[i].opts);
	}
}

int oci_spec_mounts(const struct oci_spec_input *in, struct json_object *spec, struct berr **err)
{
	const Runtime__V1__ContainerConfig *c = in->config;
	const struct oci_sandbox_info *sb = in->sandbox;
	const Runtime__V1__LinuxContainerSecurityContext *sc =
	    c->linux ? c->linux->security_context : NULL;
	bool ro_root = sc && sc->readonly_rootfs;
	Runtime__V1__NamespaceMode net, pid, ipc;
	oci_ns_modes(c, in->sandbox_config, &net, &pid, &ipc);
	const char *shm = sb ? sb->shm_dir : NULL;
	if (!shm && ipc == RUNTIME__V1__NAMESPACE_MODE__NODE)
		shm = "/dev/shm";
	struct json_object *arr = json_object_new_array();
	json_object_object_add(spec, "mounts", arr);
	default_mounts(c, sc && sc->privileged, shm != NULL, arr);

	/* The pod's files and /dev/shm, then the CRI mounts, all binds, sorted
	 * by depth so a parent is mounted before what lies under it. */
	size_t nb = 0;
	_cleanup_free_ struct bind *b = xcalloc(c->n_mounts + 4, sizeof(*b));
	struct {
		const char *dst, *src;
		bool ro;
	} pod[] = {
	    {"/etc/hostname", sb ? sb->hostname_file : NULL, ro_root},
	    {"/etc/hosts", sb ? sb->hosts_file : NULL, ro_root},
	    {"/etc/resolv.conf", sb ? sb->resolv_file : NULL, ro_root},
	    {"/dev/shm", shm, false},
	};
	for (size_t i = 0; i < sizeof(pod) / sizeof(pod[0]); i++) {
		if (!pod[i].src || default_overridden(c, pod[i].dst))
			continue;
		b[nb] = (struct bind){.dst = pod[i].dst,
				      .src = pod[i].src,
				      .opts = {"rbind", "rprivate", pod[i].ro ? "ro" : "rw"},
				      .depth = path_depth(pod[i].dst),
				      .order = nb};
		nb++;
	}
	const char *rootfs_prop = "rprivate";
	for (size_t i = 0; i < c->n_mounts; i++) {
		int r = cri_bind(c->mounts[i], in->opts, &b[nb], &rootfs_prop, err);
		if (r < 0)
			return r;
		b[nb].depth = path_depth(b[nb].dst);
		b[nb].order = nb;
		nb++;
	}
	qsort(b, nb, sizeof(*b), bind_cmp);
	for (size_t i = 0; i < nb; i++) {
		/* opts with its unset slots left out, NULL-terminated */
		const char *o[8] = {0};
		for (size_t k = 0, n = 0; k < 7; k++)
			if (b[i].opts[k])
				o[n++] = b[i].opts[k];
		mount_add(arr, b[i].dst, "bind", b[i].src, (char *const *)o);
	}
	if (strcmp(rootfs_prop, "rprivate") != 0)
		oci_json_str(oci_json_obj(spec, "linux"), "rootfsPropagation", rootfs_prop);
	return 0;
}

/* ---- linux ---- */

static int ns_add(struct json_object *arr, const char *type, const char *path)
{
	struct json_object *n = json_object_new_object();
	oci_json_str(n, "type", type);
	if (path)
		oci_json_str(n, "path", path);
	json_object_array_add(arr, n);
	return 0;
}

/* One namespace per its CRI mode: POD joins the pod's path, CONTAINER gets a
 * new one, NODE stays on the host (no entry). */
static int ns_mode(struct json_object *arr, const char *type, Runtime__V1__NamespaceMode m,
		   const char *pod_path, struct berr **err)
{
	switch (m) {
	case RUNTIME__V1__NAMESPACE_MODE__NODE:
		return 0;
	case RUNTIME__V1__NAMESPACE_MODE__CONTAINER:
		return ns_add(arr, type, NULL);
	case RUNTIME__V1__NAMESPACE_MODE__POD:
		if (!pod_path || !pod_path[0])
			return berr_set(err, EINVAL, "sandbox has no %s namespace path", type);
		return ns_add(arr, type, pod_path);
	default:
		return berr_set(err, EINVAL, "namespace mode %d not valid for %s", (int)m, type);
	}
}

static int spec_namespaces(const struct oci_spec_input *in, struct json_object *lx,
			   bool *ret_new_uts, struct berr **err)
{
	const struct oci_sandbox_info *sb = in->sandbox;
	static const struct oci_sandbox_info none;
	if (!sb)
		sb = &none;
	Runtime__V1__NamespaceMode net, pid, ipc;
	oci_ns_modes(in->config, in->sandbox_config, &net, &pid, &ipc);
	struct json_object *arr = json_object_new_array();
	json_object_object_add(lx, "namespaces", arr);
	int r = 0;
	if (pid == RUNTIME__V1__NAMESPACE_MODE__TARGET) {
		if (!sb->target_pidns_path || !sb->target_pidns_path[0])
			return berr_set(err, EINVAL,
					"no pid namespace path for the target container");
		ns_add(arr, "pid", sb->target_pidns_path);
	} else {
		r = ns_mode(arr, "pid", pid, sb->pidns_path, err);
	}
	if (r == 0)
		r = ns_mode(arr, "network", net, sb->netns_path, err);
	if (r == 0)
		r = ns_mode(arr, "ipc", ipc, sb->ipcns_path, err);
	/* The pod's UTS follows its network: a host-network pod keeps the host's
	 * hostname, as kubelet expects. */
	if (r == 0)
		r = ns_mode(arr, "uts", net, sb->utsns_path, err);
	if (r < 0)
		return r;
	if (sb->userns_path && sb->userns_path[0])
		ns_add(arr, "user", sb->userns_path);
	ns_add(arr, "mount", NULL);
	const Runtime__V1__LinuxContainerSecurityContext *sc =
	    in->config->linux ? in->config->linux->security_context : NULL;
	/* cgroup v2 gets a private cgroup ns as containerd gives it; on v1 the
	 * runtime bind-mounts the container's cgroups instead. */
	if (in->opts->cgroup_mode == OCI_CGROUP_MODE_V2 && !(sc && sc->privileged))
		ns_add(arr, "cgroup", NULL);
	*ret_new_uts = net == RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	return 0;
}

static void spec_devices(const struct oci_spec_input *in, bool priv, struct json_object *lx,
			 struct json_object *res)
{
	struct json_object *devs = json_object_new_array();
	struct json_object *rules = json_object_new_array();
	struct json_object *deny = json_object_new_object();
	/* Deny all, then allow what is listed; the runtime adds its own safe
	 * defaults (/dev/null, zero, full, random, urandom, tty, ptmx, pts). */
	json_object_object_add(deny, "allow", json_object_new_boolean(priv));
	oci_json_str(deny, "access", "rwm");
	json_object_array_add(rules, deny);
	for (size_t i = 0; i < in->n_devices; i++) {
		const struct oci_device *d = &in->devices[i];
		char type[2] = {d->type, '\0'};
		struct json_object *o = json_object_new_object();
		oci_json_str(o, "path", d->container_path);
		oci_json_str(o, "type", type);
		json_object_object_add(o, "major", json_object_new_int64(d->major));
		json_object_object_add(o, "minor", json_object_new_int64(d->minor));
		json_object_object_add(o, "fileMode", json_object_new_int64(d->file_mode));
		json_object_object_add(o, "uid", json_object_new_int64(d->uid));
		json_object_object_add(o, "gid", json_object_new_int64(d->gid));
		json_object_array_add(devs, o);
		if (priv)
			continue;
		struct json_object *rule = json_object_new_object();
		json_object_object_add(rule, "allow", json_object_new_boolean(true));
		oci_json_str(rule, "type", type);
		json_object_object_add(rule, "major", json_object_new_int64(d->major));
		json_object_object_add(rule, "minor", json_object_new_int64(d->minor));
		oci_json_str(rule, "access", d->permissions);
		json_object_array_add(rules, rule);
	}
	json_object_object_add(lx, "devices", devs);
	json_object_object_add(res, "devices", rules);
}

/* Only sysctls of namespaces the container does not share with the host
 * (runc refuses the others); the pod already applied them. */
static void spec_sysctls(const struct oci_spec_input *in, struct json_object *lx)
{
	const Runtime__V1__PodSandboxConfig *p = in->sandbox_config;
	if (!p || !p->linux || p->linux->n_sysctls == 0)
		return;
	Runtime__V1__NamespaceMode net, pid, ipc;
	oci_ns_modes(in->config, p, &net, &pid, &ipc);
	struct json_object *o = json_object_new_object();
	for (size_t i = 0; i < p->linux->n_sysctls; i++) {
		const char *k = p->linux->sysctls[i]->key, *v = p->linux->sysctls[i]->value;
		enum sysctl_ns ns = sysctl_ns_of(k);
		if ((ns == SYSCTL_NS_IPC && ipc != RUNTIME__V1__NAMESPACE_MODE__NODE) ||
		    (ns == SYSCTL_NS_NET && net != RUNTIME__V1__NAMESPACE_MODE__NODE))
			oci_json_str(o, k, v);
	}
	if (json_object_object_length(o) > 0)
		json_object_object_add(lx, "sysctl", o);
	else
		json_object_put(o);
}

static void paths_add(struct json_object *lx, const char *key, char *const *cri, size_t n,
		      const char *const *def)
{
	struct json_object *a = json_object_new_array();
	if (n > 0) {
		for (size_t i = 0; i < n; i++)
			json_object_array_add(a, json_object_new_string(cri[i]));
	} else {
		for (; def && *def; def++)
			json_object_array_add(a, json_object_new_string(*def));
	}
	json_object_object_add(lx, key, a);
}

int oci_spec_linux(const struct oci_spec_input *in, struct json_object *spec, struct berr **err)
{
	const Runtime__V1__ContainerConfig *c = in->config;
	const Runtime__V1__LinuxContainerSecurityContext *sc =
	    c->linux ? c->linux->security_context : NULL;
	bool priv = sc && sc->privileged;
	struct json_object *lx = oci_json_obj(spec, "linux");
	bool new_uts = false;
	int r = spec_namespaces(in, lx, &new_uts, err);
	if (r < 0)
		return r;
	if (new_uts && in->sandbox && in->sandbox->hostname && in->sandbox->hostname[0])
		oci_json_str(spec, "hostname", in->sandbox->hostname);
	struct json_object *res = oci_json_obj(lx, "resources");
	spec_devices(in, priv, lx, res);
	r = oci_resources_object(c->linux ? c->linux->resources : NULL, in->opts, res, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *cg = NULL;
	r = oci_cgroups_path(in->opts->cgroup_driver,
			     in->sandbox ? in->sandbox->cgroup_parent : NULL, in->id, &cg, err);
	if (r < 0)
		return r;
	oci_json_str(lx, "cgroupsPath", cg);
	spec_sysctls(in, lx);
	if (in->sandbox && in->sandbox->userns_path && in->sandbox->userns_path[0]) {
		const struct oci_sandbox_info *sb = in->sandbox;
		const struct {
			const char *key;
			uint32_t host, len;
		} maps[] = {{"uidMappings", sb->uid_host, sb->uid_len},
			    {"gidMappings", sb->gid_host, sb->gid_len}};
		for (size_t i = 0; i < 2; i++) {
			struct json_object *a = json_object_new_array();
			struct json_object *m = json_object_new_object();
			json_object_object_add(m, "containerID", json_object_new_int64(0));
			json_object_object_add(m, "hostID", json_object_new_int64(maps[i].host));
			json_object_object_add(m, "size", json_object_new_int64(maps[i].len));
			json_object_array_add(a, m);
			json_object_object_add(lx, maps[i].key, a);
		}
	}
	if (!priv) {
		paths_add(lx, "maskedPaths", sc ? sc->masked_paths : NULL,
			  sc ? sc->n_masked_paths : 0, oci_masked_paths_default);
		paths_add(lx, "readonlyPaths", sc ? sc->readonly_paths : NULL,
			  sc ? sc->n_readonly_paths : 0, oci_readonly_paths_default);
	}
	return 0;
}
