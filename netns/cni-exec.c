/* SPDX-License-Identifier: Apache-2.0 */
/* CNI execution: ADD and DEL over a network config list, the result cache
 * and the rollback of a failed ADD.
 *
 * Cache: cache_dir/<id>-<ifname>.json, written atomically (common/fileio.h)
 *   {"version": 1, "containerId", "ifName", "networkName", "confFile",
 *    "config": <the conflist used>, "portMappings": [...], "result": <so far>}
 * It is written with the config before the first plugin runs and again after
 * each plugin with the result so far, so a DEL after a daemon crash (even in
 * the middle of an ADD), a restart or a change of the conf dir still tears
 * down with the config and the prevResult of what was set up. No cache file means
 * nothing of ours is set up (never added, or already deleted), so DEL is then
 * a no-op. version 1 is the only format; readers refuse others. */
#include "netns/netns.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/spawn.h"
#include "netns/cni-internal.h"

#define CACHE_VERSION 1

DEFINE_CLEANUP_FUNC(struct json_object *, json_object_put)
#define _cleanup_json_ _cleanup_(json_object_putp)
DEFINE_CLEANUP_FUNC(struct cni_net *, cni_net_free)

static char *cache_path(const struct cni_config *c, const struct cni_pod *pod)
{
	return xasprintf("%s/%s-%s.json", c->cache_dir, pod->id,
			 pod->ifname ? pod->ifname : CNI_DEFAULT_IFNAME);
}

static int cache_write(const struct cni_config *c, const struct cni_pod *pod,
		       const struct cni_net *net, struct json_object *result, struct berr **err)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_int(CACHE_VERSION));
	json_object_object_add(o, "containerId", json_object_new_string(pod->id));
	json_object_object_add(
	    o, "ifName", json_object_new_string(pod->ifname ? pod->ifname : CNI_DEFAULT_IFNAME));
	json_object_object_add(o, "networkName", json_object_new_string(cni_net_name(net)));
	json_object_object_add(o, "confFile", json_object_new_string(cni_net_file(net)));
	json_object_object_add(o, "config", json_object_get(cni_net_json(net)));
	json_object_object_add(o, "portMappings", cni_portmappings_json(pod));
	if (result)
		json_object_object_add(o, "result", json_object_get(result));
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE);
	_cleanup_free_ char *path = cache_path(c, pod);
	return fileio_write_atomic(path, text, strlen(text), 0600, err);
}

/* -ENOENT when there is no cache for pod. */
static int cache_read(const struct cni_config *c, const struct cni_pod *pod,
		      struct json_object **ret, struct berr **err)
{
	_cleanup_free_ char *path = cache_path(c, pod);
	_cleanup_free_ char *text = NULL;
	int r = fileio_read_all(path, 4 * CNI_MAX_CONF_SIZE, &text, NULL, err);
	if (r < 0)
		return r;
	struct json_object *o = json_tokener_parse(text);
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, "version", &v) ||
	    json_object_get_int(v) != CACHE_VERSION) {
		json_object_put(o);
		return berr_set(err, EPROTO, "CNI cache '%s' is corrupt or of another version",
				path);
	}
	*ret = o;
	return 0;
}

static int plugin_exec(const struct cni_config *c, const struct cni_net *net, enum cni_cmd cmd,
		       size_t idx, const struct cni_pod *pod, struct json_object *prev,
		       struct json_object **ret_result, struct berr **err)
{
	struct cni_request rq;
	int r = cni_request_build(cmd, net, idx, pod, c->bin_path, prev, &rq, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *path = NULL;
	r = cni_plugin_find(c->bin_path, rq.type, &path, err);
	if (r < 0) {
		cni_request_done(&rq);
		return r;
	}
	char *argv[] = {rq.type, NULL};
	struct spawn_opts so = SPAWN_OPTS_INIT;
	so.path = path;
	so.argv = argv;
	so.envp = rq.env;
	so.setsid = true; /* a timeout kills the plugin's children (iptables) too */
	int timeout = c->timeout_ms > 0 ? c->timeout_ms : CNI_DEFAULT_TIMEOUT_MS;
	struct spawn_result res;
	r = spawn_run(&so, rq.input, strlen(rq.input), CNI_MAX_OUTPUT, timeout, &res, err);
	if (r < 0) {
		cni_request_done(&rq);
		return r;
	}
	if (res.timed_out) {
		r = berr_set(err, ETIMEDOUT, "plugin '%s' timed out after %d ms", rq.type, timeout);
	} else if (!WIFEXITED(res.status) || WEXITSTATUS(res.status) != 0) {
		_cleanup_free_ char *msg =
		    cni_error_message(rq.type, res.out, res.errout, res.status);
		r = berr_set(err, cni_error_errno(res.out, res.errout), "%s", msg);
	} else if (ret_result) {
		struct json_object *o = json_tokener_parse(res.out);
		if (!o || !json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			r = berr_set(err, EPROTO, "plugin '%s' returned no JSON result", rq.type);
		} else {
			*ret_result = o;
		}
	}
	spawn_result_done(&res);
	cni_request_done(&rq);
	return r;
}

/* DEL of every plugin, last first; stops at the first failure so a retry
 * redoes what is left. */
static int run_del(const struct cni_config *c, const struct cni_net *net, const struct cni_pod *pod,
		   struct json_object *prev, struct berr **err)
{
	for (size_t i = cni_net_n_plugins(net); i-- > 0;) {
		int r = plugin_exec(c, net, CNI_CMD_DEL, i, pod, prev, NULL, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int check_config(const struct cni_config *c, struct berr **err)
{
	if (!c->cache_dir || c->cache_dir[0] != '/')
		return berr_set(err, EINVAL, "CNI cache dir must be an absolute path");
	return fileio_mkdir_p(c->cache_dir, 0700, err);
}

static int add_plugins(const struct cni_config *c, const struct cni_net *net,
		       const struct cni_pod *pod, struct json_object **ret, struct berr **err)
{
	_cleanup_json_ struct json_object *prev = NULL;
	int r = 0;
	for (size_t i = 0; i < cni_net_n_plugins(net) && r == 0; i++) {
		struct json_object *next = NULL;
		r = plugin_exec(c, net, CNI_CMD_ADD, i, pod, prev, &next, err);
		if (r == 0) {
			json_object_put(prev);
			prev = next;
		}
		/* The result so far, for a DEL after a crash in a later plugin
		 * (firewall and portmap find what to delete in prevResult). */
		if (r == 0 && i + 1 < cni_net_n_plugins(net))
			r = cache_write(c, pod, net, prev, err);
	}
	if (r == 0)
		r = cache_write(c, pod, net, prev, err);
	if (r < 0) {
		/* Roll back what the plugins set up; the cache stays for a later DEL
		 * if that fails too. */
		_cleanup_berr_ struct berr *e = NULL;
		if (run_del(c, net, pod, prev, &e) == 0) {
			_cleanup_free_ char *path = cache_path(c, pod);
			(void)unlink(path);
		}
		return r;
	}
	*ret = TAKE_PTR(prev);
	return 0;
}

int cni_add(const struct cni_config *c, const struct cni_pod *pod, struct cni_result *ret,
	    struct berr **err)
{
	int r = cni_pod_check(pod, true, err);
	if (r == 0)
		r = check_config(c, err);
	if (r < 0)
		return r;
	_cleanup_(cni_net_freep) struct cni_net *net = NULL;
	r = cni_net_load(c->conf_dir, c->bin_path, &net, err);
	if (r < 0)
		return r;
	r = cache_write(c, pod, net, NULL, err);
	if (r < 0)
		return r;
	_cleanup_json_ struct json_object *result = NULL;
	r = add_plugins(c, net, pod, &result, err);
	if (r < 0) {
		berr_wrap(err, "network '%s' ADD for '%s'", cni_net_name(net), pod->id);
		return r;
	}
	return cni_result_parse(json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN), ret,
				err);
}

int cni_del(const struct cni_config *c, const struct cni_pod *pod, struct berr **err)
{
	int r = cni_pod_check(pod, false, err);
	if (r == 0)
		r = check_config(c, err);
	if (r < 0)
		return r;
	_cleanup_json_ struct json_object *cache = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	r = cache_read(c, pod, &cache, &e);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return berr_move(err, &e);
	struct json_object *conf = NULL, *result = NULL, *ports = NULL;
	json_object_object_get_ex(cache, "config", &conf);
	json_object_object_get_ex(cache, "result", &result);
	json_object_object_get_ex(cache, "portMappings", &ports);
	_cleanup_(cni_net_freep) struct cni_net *net = NULL;
	r = cni_net_from_json(conf,
			      json_object_get_string(json_object_object_get(cache, "confFile")),
			      NULL, &net, err);
	if (r < 0) {
		berr_wrap(err, "cached network config of '%s'", pod->id);
		return r;
	}
	/* The port mappings that were added, and an empty CNI_NETNS when the
	 * namespace is gone: plugins then clean up only the host side. */
	struct cni_pod p = *pod;
	size_t n = ports ? json_object_array_length(ports) : 0;
	_cleanup_free_ struct cni_portmap *pm = xcalloc(n ? n : 1, sizeof(*pm));
	for (size_t i = 0; i < n; i++) {
		struct json_object *m = json_object_array_get_idx(ports, i);
		pm[i].host_port = json_object_get_int(json_object_object_get(m, "hostPort"));
		pm[i].container_port =
		    json_object_get_int(json_object_object_get(m, "containerPort"));
		pm[i].protocol = json_object_get_string(json_object_object_get(m, "protocol"));
		pm[i].host_ip = json_object_get_string(json_object_object_get(m, "hostIP"));
	}
	p.ports = pm;
	p.n_ports = n;
	if (!p.netns || access(p.netns, F_OK) < 0)
		p.netns = "";
	r = run_del(c, net, &p, result, err);
	if (r < 0) {
		berr_wrap(err, "network '%s' DEL for '%s'", cni_net_name(net), pod->id);
		return r;
	}
	_cleanup_free_ char *path = cache_path(c, pod);
	if (unlink(path) < 0 && errno != ENOENT)
		return berr_set_errno(err, errno, "remove '%s'", path);
	return 0;
}

bool cni_network_ready(const struct cni_config *c, char **ret_reason)
{
	_cleanup_(cni_net_freep) struct cni_net *net = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	if (cni_net_load(c->conf_dir, c->bin_path, &net, &e) == 0)
		return true;
	if (ret_reason)
		*ret_reason = xstrdup(berr_msg(e));
	return false;
}

const struct cni_ops cni_default_ops = {
    .add = cni_add,
    .del = cni_del,
    .ready = cni_network_ready,
};
