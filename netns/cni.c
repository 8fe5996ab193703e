/* SPDX-License-Identifier: Apache-2.0 */
/* CNI: loading network configs, building plugin requests (pure), parsing
 * results and errors, and the default bridge config. Execution, the result
 * cache and rollback are in netns/cni-exec.c. Spec: CNI 1.0.0, with the
 * 0.4.0 and 0.3.x configs and results that Debian's plugins 1.1.1 accept. */
#include "netns/netns.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/spawn.h"
#include "netns/cni-internal.h"

#define CNI_MAX_PLUGINS 32
#define CNI_MAX_ID	128
#define CNI_MAX_FIELD	253
/* The environment plugins run with: ours only, plus a PATH for the tools
 * some of them call (iptables for portmap and firewall). */
#define CNI_PLUGIN_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *const supported_versions[] = {"1.0.0", "0.4.0", "0.3.1", "0.3.0"};

struct cni_net {
	char *file;
	const char *name;    /* borrowed from list */
	const char *version; /* borrowed from list */
	struct json_object *list;
	struct json_object *plugins; /* borrowed array */
};

DEFINE_CLEANUP_FUNC(struct json_object *, json_object_put)
#define _cleanup_json_ _cleanup_(json_object_putp)

struct cni_net *cni_net_free(struct cni_net *n)
{
	if (n) {
		free(n->file);
		json_object_put(n->list);
		free(n);
	}
	return NULL;
}

const char *cni_net_name(const struct cni_net *n)
{
	return n->name;
}

const char *cni_net_version(const struct cni_net *n)
{
	return n->version;
}

const char *cni_net_file(const struct cni_net *n)
{
	return n->file;
}

size_t cni_net_n_plugins(const struct cni_net *n)
{
	return json_object_array_length(n->plugins);
}

static struct json_object *plugin_at(const struct cni_net *n, size_t idx)
{
	return json_object_array_get_idx(n->plugins, idx);
}

const char *cni_net_plugin_type(const struct cni_net *n, size_t idx)
{
	struct json_object *t = NULL;
	json_object_object_get_ex(plugin_at(n, idx), "type", &t);
	return json_object_get_string(t);
}

struct json_object *cni_net_json(const struct cni_net *n)
{
	return n->list;
}

static const char *get_string(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool is_safe_name(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (const char *c = s; *c; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.'))
			return false;
	}
	return strcmp(s, ".") && strcmp(s, "..");
}

int cni_plugin_find(const char *bin_path, const char *type, char **ret_path, struct berr **err)
{
	if (!is_safe_name(type, 255))
		return berr_set(err, EINVAL, "plugin type '%s' is not a valid name", type);
	if (!bin_path)
		bin_path = CNI_DEFAULT_BIN_PATH;
	_cleanup_free_ char *dirs = xstrdup(bin_path);
	char *save = NULL;
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *p = xasprintf("%s/%s", d, type);
		struct stat st;
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0) {
			*ret_path = TAKE_PTR(p);
			return 0;
		}
	}
	return berr_set(err, ENOENT, "plugin '%s' not found in '%s'", type, bin_path);
}

int cni_net_from_json(struct json_object *list, const char *file, const char *check_bin_path,
		      struct cni_net **ret, struct berr **err)
{
	if (!json_object_is_type(list, json_type_object))
		return berr_set(err, EINVAL, "network config is not a JSON object");
	const char *name = get_string(list, "name");
	if (!name || !*name)
		return berr_set(err, EINVAL, "network config has no 'name'");
	const char *version = get_string(list, "cniVersion");
	if (!version)
		return berr_set(err, EINVAL, "network '%s' has no 'cniVersion'", name);
	bool ok = false;
	for (size_t i = 0; i < sizeof(supported_versions) / sizeof(*supported_versions); i++)
		ok |= !strcmp(version, supported_versions[i]);
	if (!ok)
		return berr_set(err, EINVAL,
				"network '%s': cniVersion '%s' is not supported (1.0.0, 0.4.0, "
				"0.3.1, 0.3.0)",
				name, version);
	struct json_object *plugins;
	if (!json_object_object_get_ex(list, "plugins", &plugins) ||
	    !json_object_is_type(plugins, json_type_array) ||
	    json_object_array_length(plugins) == 0)
		return berr_set(err, EINVAL, "network '%s' has no 'plugins'", name);
	size_t n = json_object_array_length(plugins);
	if (n > CNI_MAX_PLUGINS)
		return berr_set(err, E2BIG, "network '%s' has too many plugins (%zu > %d)", name, n,
				CNI_MAX_PLUGINS);
	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(plugins, i);
		const char *type =
		    json_object_is_type(p, json_type_object) ? get_string(p, "type") : NULL;
		if (!type)
			return berr_set(err, EINVAL, "network '%s': plugin %zu has no 'type'", name,
					i);
		if (check_bin_path) {
			_cleanup_free_ char *path = NULL;
			int r = cni_plugin_find(check_bin_path, type, &path, err);
			if (r < 0)
				return berr_wrap(err, "network '%s'", name);
		}
	}
	struct cni_net *net = xcalloc(1, sizeof(*net));
	net->file = xstrdup(file ? file : "");
	net->list = json_object_get(list);
	net->name = name;
	net->version = version;
	net->plugins = plugins;
	*ret = net;
	return 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a > b && !strcmp(s + a - b, suffix);
}

static int conf_filter(const struct dirent *de)
{
	if (de->d_name[0] == '.')
		return 0;
	return has_suffix(de->d_name, ".conflist") || has_suffix(de->d_name, ".conf") ||
	       has_suffix(de->d_name, ".json");
}

/* The lexically first config file name of dir, or -ENOENT. */
static int conf_first(const char *dir, char **ret_name, struct berr **err)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, conf_filter, alphasort);
	if (n < 0)
		return berr_set_errno(err, errno, "no network config found in '%s'", dir);
	int r = n == 0 ? berr_set(err, ENOENT, "no network config found in '%s'", dir) : 0;
	if (n > 0)
		*ret_name = xstrdup(names[0]->d_name);
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

/* A single-plugin .conf becomes {cniVersion, name, plugins: [conf]}. */
static struct json_object *conf_to_list(struct json_object *conf)
{
	struct json_object *list = json_object_new_object();
	struct json_object *v;
	if (json_object_object_get_ex(conf, "cniVersion", &v))
		json_object_object_add(list, "cniVersion", json_object_get(v));
	if (json_object_object_get_ex(conf, "name", &v))
		json_object_object_add(list, "name", json_object_get(v));
	struct json_object *plugins = json_object_new_array();
	json_object_array_add(plugins, json_object_get(conf));
	json_object_object_add(list, "plugins", plugins);
	return list;
}

int cni_net_load(const char *conf_dir, const char *bin_path, struct cni_net **ret,
		 struct berr **err)
{
	if (!conf_dir)
		conf_dir = CNI_DEFAULT_CONF_DIR;
	if (!bin_path)
		bin_path = CNI_DEFAULT_BIN_PATH;
	_cleanup_free_ char *name = NULL;
	int r = conf_first(conf_dir, &name, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *path = xasprintf("%s/%s", conf_dir, name);
	_cleanup_free_ char *text = NULL;
	r = fileio_read_all(path, CNI_MAX_CONF_SIZE, &text, NULL, err);
	if (r < 0)
		return r;
	enum json_tokener_error jerr = json_tokener_success;
	_cleanup_json_ struct json_object *doc = json_tokener_parse_verbose(text, &jerr);
	if (!doc)
		return berr_set(err, EINVAL, "network config '%s' is not valid JSON: %s", path,
				json_tokener_error_desc(jerr));
	if (!json_object_is_type(doc, json_type_object))
		return berr_set(err, EINVAL, "network config '%s' is not a JSON object", path);
	_cleanup_json_ struct json_object *list = NULL;
	if (has_suffix(name, ".conflist")) {
		list = json_object_get(doc);
	} else {
		if (!get_string(doc, "type"))
			return berr_set(err, EINVAL, "network config '%s' has no 'type'", path);
		list = conf_to_list(doc);
	}
	r = cni_net_from_json(list, path, bin_path, ret, err);
	if (r < 0)
		berr_wrap(err, "network config '%s'", path);
	return r;
}

/* ---- requests ---- */

static bool has_chars(const char *s, const char *set)
{
	return s && strpbrk(s, set) != NULL;
}

int cni_pod_check(const struct cni_pod *pod, bool need_netns, struct berr **err)
{
	if (!pod->id || !is_safe_name(pod->id, CNI_MAX_ID))
		return berr_set(err, EINVAL, "container id '%s' is not valid for CNI",
				pod->id ? pod->id : "");
	const char *ifname = pod->ifname ? pod->ifname : CNI_DEFAULT_IFNAME;
	if (!is_safe_name(ifname, 15))
		return berr_set(err, EINVAL, "interface name '%s' is not valid", ifname);
	if (need_netns && (!pod->netns || pod->netns[0] != '/'))
		return berr_set(err, EINVAL, "netns path '%s' must be absolute",
				pod->netns ? pod->netns : "");
	const char *fields[] = {pod->name, pod->namespace, pod->uid};
	for (size_t i = 0; i < 3; i++) {
		if (has_chars(fields[i], ";=\n") ||
		    (fields[i] && strlen(fields[i]) > CNI_MAX_FIELD))
			return berr_set(err, EINVAL, "pod field '%s' is not valid in CNI_ARGS",
					fields[i]);
	}
	for (size_t i = 0; i < pod->n_ports; i++) {
		const struct cni_portmap *p = &pod->ports[i];
		if (p->host_port <= 0 || p->host_port > 65535 || p->container_port <= 0 ||
		    p->container_port > 65535)
			return berr_set(err, EINVAL, "port mapping %d:%d is out of range",
					p->host_port, p->container_port);
	}
	return 0;
}

static bool plugin_has_capability(struct json_object *plugin, const char *cap)
{
	struct json_object *caps, *v;
	return json_object_object_get_ex(plugin, "capabilities", &caps) &&
	       json_object_is_type(caps, json_type_object) &&
	       json_object_object_get_ex(caps, cap, &v) && json_object_get_boolean(v);
}

struct json_object *cni_portmappings_json(const struct cni_pod *pod)
{
	struct json_object *arr = json_object_new_array();
	for (size_t i = 0; i < pod->n_ports; i++) {
		const struct cni_portmap *p = &pod->ports[i];
		struct json_object *m = json_object_new_object();
		json_object_object_add(m, "hostPort", json_object_new_int(p->host_port));
		json_object_object_add(m, "containerPort", json_object_new_int(p->container_port));
		json_object_object_add(m, "protocol",
				       json_object_new_string(p->protocol ? p->protocol : "tcp"));
		if (p->host_ip && *p->host_ip)
			json_object_object_add(m, "hostIP", json_object_new_string(p->host_ip));
		json_object_array_add(arr, m);
	}
	return arr;
}

int cni_request_build(enum cni_cmd cmd, const struct cni_net *net, size_t idx,
		      const struct cni_pod *pod, const char *bin_path,
		      const struct json_object *prev_result, struct cni_request *ret,
		      struct berr **err)
{
	if (cmd >= CNI_CMD_MAX || idx >= cni_net_n_plugins(net))
		return berr_set(err, EINVAL, "bad CNI request (command %d, plugin %zu)", cmd, idx);
	int r = cni_pod_check(pod, cmd == CNI_CMD_ADD, err);
	if (r < 0)
		return r;
	struct json_object *plugin = plugin_at(net, idx);
	struct json_object *conf = NULL;
	if (json_object_deep_copy(plugin, &conf, NULL) < 0)
		xalloc_die();
	_cleanup_json_ struct json_object *confp = conf;
	json_object_object_add(conf, "cniVersion", json_object_new_string(net->version));
	json_object_object_add(conf, "name", json_object_new_string(net->name));
	if (prev_result) {
		struct json_object *prev = NULL;
		if (json_object_deep_copy((struct json_object *)prev_result, &prev, NULL) < 0)
			xalloc_die();
		json_object_object_add(conf, "prevResult", prev);
	}
	if (pod->n_ports > 0 && plugin_has_capability(plugin, "portMappings")) {
		struct json_object *rc = json_object_new_object();
		json_object_object_add(rc, "portMappings", cni_portmappings_json(pod));
		json_object_object_add(conf, "runtimeConfig", rc);
	}

	char **env = xcalloc(8, sizeof(char *));
	size_t n = 0;
	env[n++] = xasprintf("CNI_COMMAND=%s", cmd == CNI_CMD_ADD ? "ADD" : "DEL");
	env[n++] = xasprintf("CNI_CONTAINERID=%s", pod->id);
	env[n++] = xasprintf("CNI_NETNS=%s", pod->netns ? pod->netns : "");
	env[n++] = xasprintf("CNI_IFNAME=%s", pod->ifname ? pod->ifname : CNI_DEFAULT_IFNAME);
	env[n++] = xasprintf("CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;"
			     "K8S_POD_INFRA_CONTAINER_ID=%s;K8S_POD_UID=%s",
			     pod->namespace ? pod->namespace : "", pod->name ? pod->name : "",
			     pod->id, pod->uid ? pod->uid : "");
	env[n++] = xasprintf("CNI_PATH=%s", bin_path ? bin_path : CNI_DEFAULT_BIN_PATH);
	env[n++] = xstrdup(CNI_PLUGIN_PATH);
	ret->type = xstrdup(cni_net_plugin_type(net, idx));
	ret->env = env;
	ret->input = xstrdup(json_object_to_json_string_ext(
	    conf, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	return 0;
}

void cni_request_done(struct cni_request *r)
{
	free(r->type);
	strv_free(r->env);
	free(r->input);
	memset(r, 0, sizeof(*r));
}

/* ---- results and errors ---- */

/* Whether ips[].interface points at an interface inside the sandbox (the
 * result also lists host-side ones such as the bridge). */
static bool ip_in_sandbox(struct json_object *result, struct json_object *ip)
{
	struct json_object *idx, *ifaces, *iface;
	if (!json_object_object_get_ex(ip, "interface", &idx))
		return true;
	if (!json_object_object_get_ex(result, "interfaces", &ifaces) ||
	    !json_object_is_type(ifaces, json_type_array))
		return true;
	int i = json_object_get_int(idx);
	if (i < 0 || (size_t)i >= json_object_array_length(ifaces))
		return true;
	iface = json_object_array_get_idx(ifaces, (size_t)i);
	const char *sandbox = get_string(iface, "sandbox");
	return sandbox && *sandbox;
}

static void add_ip(char ***v, size_t *n, const char *cidr)
{
	const char *slash = strchr(cidr, '/');
	*v = xreallocarray(*v, *n + 2, sizeof(char *));
	(*v)[(*n)++] = slash ? xstrndup(cidr, (size_t)(slash - cidr)) : xstrdup(cidr);
	(*v)[*n] = NULL;
}

int cni_result_parse(const char *json, struct cni_result *ret, struct berr **err)
{
	enum json_tokener_error jerr = json_tokener_success;
	_cleanup_json_ struct json_object *o = json_tokener_parse_verbose(json, &jerr);
	if (!o || !json_object_is_type(o, json_type_object))
		return berr_set(err, EPROTO, "CNI result is not a JSON object: %s",
				o ? "wrong type" : json_tokener_error_desc(jerr));
	char **v4 = NULL, **v6 = NULL;
	size_t n4 = 0, n6 = 0;
	struct json_object *ips;
	if (json_object_object_get_ex(o, "ips", &ips) &&
	    json_object_is_type(ips, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(ips); i++) {
			struct json_object *ip = json_object_array_get_idx(ips, i);
			const char *addr = get_string(ip, "address");
			if (!addr || !ip_in_sandbox(o, ip))
				continue;
			if (strchr(addr, ':'))
				add_ip(&v6, &n6, addr);
			else
				add_ip(&v4, &n4, addr);
		}
	}
	/* IPv4 first, then the others (additional IPs in CRI terms). */
	char **all = xcalloc(n4 + n6 + 1, sizeof(char *));
	for (size_t i = 0; i < n4; i++)
		all[i] = v4[i];
	for (size_t i = 0; i < n6; i++)
		all[n4 + i] = v6[i];
	free(v4);
	free(v6);
	ret->ips = all;
	ret->n_ips = n4 + n6;
	ret->json = xstrdup(json);
	return 0;
}

void cni_result_done(struct cni_result *r)
{
	strv_free(r->ips);
	free(r->json);
	memset(r, 0, sizeof(*r));
}

static char *trimmed(const char *s)
{
	while (*s == ' ' || *s == '\n' || *s == '\t')
		s++;
	char *t = xstrdup(s);
	size_t n = strlen(t);
	while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\n' || t[n - 1] == '\t'))
		t[--n] = '\0';
	return t;
}

char *cni_error_message(const char *type, const char *out, const char *errout, int status)
{
	_cleanup_json_ struct json_object *o = out && *out ? json_tokener_parse(out) : NULL;
	const char *msg =
	    o && json_object_is_type(o, json_type_object) ? get_string(o, "msg") : NULL;
	if (msg) {
		const char *details = get_string(o, "details");
		struct json_object *code = NULL;
		json_object_object_get_ex(o, "code", &code);
		return xasprintf("plugin '%s' failed: %s%s%s (code %d)", type, msg,
				 details && *details ? ": " : "", details ? details : "",
				 json_object_get_int(code));
	}
	_cleanup_free_ char *text = trimmed(errout && *errout ? errout : out ? out : "");
	if (*text)
		return xasprintf("plugin '%s' failed: %s", type, text);
	_cleanup_free_ char *st = spawn_status_str(status);
	return xasprintf("plugin '%s' failed: %s", type, st);
}

int cni_error_errno(const char *out, const char *errout)
{
	_cleanup_json_ struct json_object *o = out && *out ? json_tokener_parse(out) : NULL;
	struct json_object *code = NULL;
	int c = o && json_object_is_type(o, json_type_object) &&
			json_object_object_get_ex(o, "code", &code)
		    ? json_object_get_int(code)
		    : 0;
	switch (c) {
	case 1: /* incompatible CNI version */
	case 2: /* unsupported field in the network config */
	case 6: /* failed to decode content */
	case 7: /* invalid network config */
		return EBUSY;
	case 3: /* container unknown or does not exist */
		return ENOENT;
	case 4: /* invalid necessary environment variables */
		return EINVAL;
	case 11: /* try again later */
		return EAGAIN;
	}
	const char *msg =
	    o && json_object_is_type(o, json_type_object) ? get_string(o, "msg") : NULL;
	const char *texts[] = {msg, errout, out};
	/* Plugins mostly answer 999 (their own), so the message is read too. */
	static const struct {
		const char *pattern;
		int code;
	} msgs[] = {
	    {"no IP addresses available", ENOSPC},
	    {"no space left on device", ENOSPC},
	    {"invalid CIDR", EBUSY},
	    {"failed to load netconf", EBUSY},
	    {"failed to parse", EBUSY},
	    {"incompatible CNI version", EBUSY},
	    {"unsupported CNI version", EBUSY},
	};
	for (size_t i = 0; i < 3; i++)
		for (size_t k = 0; texts[i] && k < sizeof(msgs) / sizeof(msgs[0]); k++)
			if (strcasestr(texts[i], msgs[k].pattern))
				return msgs[k].code;
	return EIO;
}

/* ---- default config ---- */

static const char default_conf[] =
    "{\n"
    "  \"cniVersion\": \"1.0.0\",\n"
    "  \"name\": \"berth\",\n"
    "  \"plugins\": [\n"
    "    {\n"
    "      \"type\": \"bridge\",\n"
    "      \"bridge\": \"berth0\",\n"
    "      \"isGateway\": true,\n"
    "      \"ipMasq\": true,\n"
    "      \"hairpinMode\": true,\n"
    "      \"ipam\": {\n"
    "        \"type\": \"host-local\",\n"
    "        \"ranges\": [[{\"subnet\": \"10.88.0.0/16\"}]],\n"
    "        \"routes\": [{\"dst\": \"0.0.0.0/0\"}]\n"
    "      }\n"
    "    },\n"
    "    {\"type\": \"portmap\", \"capabilities\": {\"portMappings\": true}},\n"
    "    {\"type\": \"firewall\"}\n"
    "  ]\n"
    "}\n";

int cni_write_default_conf(const char *conf_dir, struct berr **err)
{
	if (!conf_dir)
		conf_dir = CNI_DEFAULT_CONF_DIR;
	int r = fileio_mkdir_p(conf_dir, 0755, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *first = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	r = conf_first(conf_dir, &first, &e);
	if (r == 0)
		return 0;
	if (r != -ENOENT)
		return berr_move(err, &e);
	_cleanup_free_ char *path = xasprintf("%s/%s", conf_dir, CNI_DEFAULT_CONF_NAME);
	r = fileio_write_atomic(path, default_conf, sizeof(default_conf) - 1, 0644, err);
	return r < 0 ? r : 1;
}
