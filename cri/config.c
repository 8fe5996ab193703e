/* SPDX-License-Identifier: Apache-2.0 */
/* config.c - berthd's configuration: defaults, a JSON file (comments allowed,
 * parsed by json-c's non-strict tokenizer) and the checks tying keys together.
 * Every key is validated here, also those later issues consume, so a typo fails
 * at start rather than when the key is first used. */
#include "cri/cri.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
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
#include "common/strv.h"

static void json_putp(struct json_object **o)
{
	if (*o)
		json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_putp)

static char **strv_new(const char *const *src)
{
	size_t n = 0;
	while (src && src[n])
		n++;
	char **v = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		v[i] = xstrdup(src[i]);
	return v;
}

static void runtime_done(struct berth_runtime *r)
{
	free(r->name);
	free(r->path);
	free(r->root);
	strv_free(r->options);
	*r = (struct berth_runtime){0};
}

static void registry_done(struct berth_registry *r)
{
	free(r->host);
	strv_free(r->mirrors);
	*r = (struct berth_registry){0};
}

static char *find_in_path(const char *prog)
{
	const char *path = getenv("PATH");
	if (!path)
		return NULL;
	_cleanup_free_ char *copy = xstrdup(path);
	char *save = NULL;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		if (d[0] != '/')
			continue;
		char *p = xasprintf("%s/%s", d, prog);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

static struct berth_runtime *runtime_get_or_add(struct berth_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_runtimes; i++)
		if (strcmp(c->runtimes[i].name, name) == 0)
			return &c->runtimes[i];
	c->runtimes = xreallocarray(c->runtimes, c->n_runtimes + 1, sizeof(*c->runtimes));
	struct berth_runtime *r = &c->runtimes[c->n_runtimes++];
	*r = (struct berth_runtime){.name = xstrdup(name), .options = strv_new(NULL)};
	return r;
}

static struct berth_registry *registry_get_or_add(struct berth_config *c, const char *host)
{
	for (size_t i = 0; i < c->n_registries; i++)
		if (strcmp(c->registries[i].host, host) == 0)
			return &c->registries[i];
	c->registries = xreallocarray(c->registries, c->n_registries + 1, sizeof(*c->registries));
	struct berth_registry *r = &c->registries[c->n_registries++];
	*r = (struct berth_registry){.host = xstrdup(host), .mirrors = strv_new(NULL)};
	return r;
}

void cri_config_init(struct berth_config *c)
{
	*c = (struct berth_config){
	    .dropins = strv_new(NULL),
	    .socket = xstrdup("/run/berth/berth.sock"),
	    .socket_group = xstrdup("root"),
	    .socket_mode = 0660,
	    .state_dir = xstrdup("/var/lib/berth"),
	    .run_dir = xstrdup("/run/berth"),
	    .log_level = LOG_LEVEL_INFO,
	    .workers = 8,
	    .cgroup_driver = BERTH_CGROUP_CGROUPFS,
	    .default_runtime = xstrdup("runc"),
	    .cni_conf_dir = xstrdup("/etc/cni/net.d"),
	    .cni_bin_dirs = strv_new((const char *const[]){"/opt/cni/bin", "/usr/lib/cni", NULL}),
	    .stream_address = xstrdup("127.0.0.1"),
	    .stream_port = 0,
	    .stream_token_ttl_ms = 60000,
	    .seccomp_profile = xstrdup(BERTH_SECCOMP_PROFILE),
	    .image_pull_progress_timeout_ms = 5 * 60 * 1000, /* containerd's default */
	};
	struct berth_runtime *r = runtime_get_or_add(c, "runc");
	r->path = find_in_path("runc");
	if (!r->path)
		r->path = xstrdup("/usr/sbin/runc");
}

void cri_config_done(struct berth_config *c)
{
	free(c->path);
	strv_free(c->dropins);
	free(c->socket);
	free(c->socket_group);
	free(c->state_dir);
	free(c->run_dir);
	free(c->default_runtime);
	for (size_t i = 0; i < c->n_runtimes; i++)
		runtime_done(&c->runtimes[i]);
	free(c->runtimes);
	free(c->cni_conf_dir);
	free(c->cni_conf_template);
	strv_free(c->cni_bin_dirs);
	for (size_t i = 0; i < c->n_registries; i++)
		registry_done(&c->registries[i]);
	free(c->registries);
	free(c->stream_address);
	free(c->stream_tls_cert);
	free(c->stream_tls_key);
	free(c->libexec_dir);
	free(c->seccomp_profile);
	free(c->metrics_address);
	*c = (struct berth_config){0};
}

const struct berth_runtime *cri_config_runtime(const struct berth_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_runtimes; i++)
		if (strcmp(c->runtimes[i].name, name) == 0)
			return &c->runtimes[i];
	return NULL;
}

/* Typed getters: key is the dotted path for messages ("cni.conf_dir"). */

static int get_string(struct json_object *v, const char *origin, const char *key, bool abs_path,
		      char **dst, struct berr **err)
{
	if (!json_object_is_type(v, json_type_string))
		return berr_set(err, EINVAL, "config '%s': '%s' must be a string", origin, key);
	const char *s = json_object_get_string(v);
	if (s[0] == '\0')
		return berr_set(err, EINVAL, "config '%s': '%s' must not be empty", origin, key);
	if (strlen(s) >= PATH_MAX)
		return berr_set(err, EINVAL, "config '%s': '%s' too long (%zu >= %d)", origin, key,
				strlen(s), PATH_MAX);
	if (abs_path && s[0] != '/')
		return berr_set(err, EINVAL,
				"config '%s': '%s' must be an absolute path (got '%s')", origin,
				key, s);
	free(*dst);
	*dst = xstrdup(s);
	return 0;
}

/* An optional string: null leaves it unset (its default). */
static int get_opt_string(struct json_object *v, const char *origin, const char *key, char **dst,
			  struct berr **err)
{
	if (json_object_is_type(v, json_type_null)) {
		free(*dst);
		*dst = NULL;
		return 0;
	}
	return get_string(v, origin, key, true, dst, err);
}

/* "0660": octal permission bits as a string (JSON has no octal numbers). */
static int get_mode(struct json_object *v, const char *origin, const char *key, unsigned *dst,
		    struct berr **err)
{
	const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
	if (!s)
		return berr_set(err, EINVAL, "config '%s': '%s' must be a string of octal digits",
				origin, key);
	size_t n = strlen(s);
	if (n < 3 || n > 4 || strspn(s, "01234567") != n)
		return berr_set(err, EINVAL,
				"config '%s': bad %s '%s' (3 or 4 octal digits, e.g. \"0660\")",
				origin, key, s);
	unsigned long m = strtoul(s, NULL, 8);
	if (m > 0777)
		return berr_set(err, EINVAL,
				"config '%s': bad %s '%s' (permission bits only, at most 0777)",
				origin, key, s);
	if ((m & 0600) != 0600)
		return berr_set(
		    err, EINVAL,
		    "config '%s': bad %s '%s' (the owner must keep read and write, 06xx)", origin,
		    key, s);
	*dst = (unsigned)m;
	return 0;
}

static int get_int(struct json_object *v, const char *origin, const char *key, int min, int max,
		   int *dst, struct berr **err)
{
	if (!json_object_is_type(v, json_type_int))
		return berr_set(err, EINVAL, "config '%s': '%s' must be an integer", origin, key);
	int64_t n = json_object_get_int64(v);
	if (n < min || n > max)
		return berr_set(err, EINVAL, "config '%s': '%s' out of range (%lld not in %d..%d)",
				origin, key, (long long)n, min, max);
	*dst = (int)n;
	return 0;
}

static int get_strv(struct json_object *v, const char *origin, const char *key, bool abs_path,
		    char ***dst, struct berr **err)
{
	if (!json_object_is_type(v, json_type_array))
		return berr_set(err, EINVAL, "config '%s': '%s' must be an array of strings",
				origin, key);
	size_t n = json_object_array_length(v);
	if (n > 64)
		return berr_set(err, EINVAL, "config '%s': '%s' has too many entries (%zu > 64)",
				origin, key, n);
	_cleanup_strv_ char **out = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *k = xasprintf("%s[%zu]", key, i);
		int r =
		    get_string(json_object_array_get_idx(v, i), origin, k, abs_path, &out[i], err);
		if (r < 0)
			return r;
	}
	strv_free(*dst);
	*dst = TAKE_PTR(out);
	return 0;
}

static int expect_object(struct json_object *v, const char *origin, const char *key,
			 struct berr **err)
{
	if (!json_object_is_type(v, json_type_object))
		return berr_set(err, EINVAL, "config '%s': '%s' must be an object", origin, key);
	return 0;
}

static int unknown_key(const char *origin, const char *parent, const char *key, struct berr **err)
{
	return berr_set(err, EINVAL, "config '%s': unknown key '%s%s%s'", origin,
			parent ? parent : "", parent ? "." : "", key);
}

static int parse_runtime(struct berth_config *c, const char *name, struct json_object *v,
			 const char *origin, struct berr **err)
{
	_cleanup_free_ char *base = xasprintf("runtimes.%s", name);
	int r = expect_object(v, origin, base, err);
	if (r < 0)
		return r;
	if (name[0] == '\0' || strlen(name) > 63 || strchr(name, '/'))
		return berr_set(err, EINVAL, "config '%s': bad runtime name '%s'", origin, name);
	struct berth_runtime *rt = runtime_get_or_add(c, name);
	json_object_object_foreach(v, key, val)
	{
		_cleanup_free_ char *k = xasprintf("%s.%s", base, key);
		if (strcmp(key, "path") == 0)
			r = get_string(val, origin, k, true, &rt->path, err);
		else if (strcmp(key, "root") == 0)
			r = get_string(val, origin, k, true, &rt->root, err);
		else if (strcmp(key, "options") == 0)
			r = get_strv(val, origin, k, false, &rt->options, err);
		else if (strcmp(key, "timeout_ms") == 0)
			r = get_int(val, origin, k, 100, 3600000, &rt->timeout_ms, err);
		else
			r = unknown_key(origin, base, key, err);
		if (r < 0)
			return r;
	}
	if (!rt->path)
		return berr_set(err, EINVAL, "config '%s': '%s.path' is required", origin, base);
	return 0;
}

static int parse_registry(struct berth_config *c, const char *host, struct json_object *v,
			  const char *origin, struct berr **err)
{
	_cleanup_free_ char *base = xasprintf("registries.%s", host);
	int r = expect_object(v, origin, base, err);
	if (r < 0)
		return r;
	if (host[0] == '\0' || strlen(host) > 255 || strchr(host, '/'))
		return berr_set(err, EINVAL, "config '%s': bad registry host '%s'", origin, host);
	struct berth_registry *reg = registry_get_or_add(c, host);
	json_object_object_foreach(v, key, val)
	{
		_cleanup_free_ char *k = xasprintf("%s.%s", base, key);
		if (strcmp(key, "mirrors") == 0) {
			r = get_strv(val, origin, k, false, &reg->mirrors, err);
			for (size_t i = 0; r >= 0 && reg->mirrors[i]; i++)
				if (strncmp(reg->mirrors[i], "http://", 7) != 0 &&
				    strncmp(reg->mirrors[i], "https://", 8) != 0)
					r = berr_set(
					    err, EINVAL,
					    "config '%s': '%s' entry '%s' is not an http(s) URL",
					    origin, k, reg->mirrors[i]);
		} else if (strcmp(key, "insecure") == 0) {
			if (!json_object_is_type(val, json_type_boolean))
				r = berr_set(err, EINVAL, "config '%s': '%s' must be a boolean",
					     origin, k);
			else
				reg->insecure = json_object_get_boolean(val);
		} else {
			r = unknown_key(origin, base, key, err);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_section(struct berth_config *c, const char *section, struct json_object *v,
			 const char *origin, struct berr **err)
{
	int r = expect_object(v, origin, section, err);
	if (r < 0)
		return r;
	json_object_object_foreach(v, key, val)
	{
		_cleanup_free_ char *k = xasprintf("%s.%s", section, key);
		if (strcmp(section, "runtimes") == 0)
			r = parse_runtime(c, key, val, origin, err);
		else if (strcmp(section, "registries") == 0)
			r = parse_registry(c, key, val, origin, err);
		else if (strcmp(section, "cni") == 0 && strcmp(key, "conf_dir") == 0)
			r = get_string(val, origin, k, true, &c->cni_conf_dir, err);
		else if (strcmp(section, "cni") == 0 && strcmp(key, "bin_dirs") == 0)
			r = get_strv(val, origin, k, true, &c->cni_bin_dirs, err);
		else if (strcmp(section, "cni") == 0 && strcmp(key, "conf_template") == 0)
			r = get_opt_string(val, origin, k, &c->cni_conf_template, err);
		else if (strcmp(section, "stream") == 0 && strcmp(key, "address") == 0)
			r = get_string(val, origin, k, false, &c->stream_address, err);
		else if (strcmp(section, "stream") == 0 && strcmp(key, "port") == 0)
			r = get_int(val, origin, k, 0, 65535, &c->stream_port, err);
		else if (strcmp(section, "metrics") == 0 && strcmp(key, "address") == 0 &&
			 json_object_is_type(val, json_type_null))
			c->metrics_address = (free(c->metrics_address), NULL); /* off */
		else if (strcmp(section, "metrics") == 0 && strcmp(key, "address") == 0)
			r = get_string(val, origin, k, false, &c->metrics_address, err);
		else if (strcmp(section, "stream") == 0 && strcmp(key, "token_ttl_ms") == 0)
			r = get_int(val, origin, k, 100, 600000, &c->stream_token_ttl_ms, err);
		else if (strcmp(section, "stream") == 0 && strcmp(key, "tls_cert") == 0)
			r = get_string(val, origin, k, true, &c->stream_tls_cert, err);
		else if (strcmp(section, "stream") == 0 && strcmp(key, "tls_key") == 0)
			r = get_string(val, origin, k, true, &c->stream_tls_key, err);
		else
			r = unknown_key(origin, section, key, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_log_format(struct berth_config *c, struct json_object *val, const char *origin,
			    struct berr **err)
{
	_cleanup_free_ char *s = NULL;
	int r = get_string(val, origin, "log_format", false, &s, err);
	if (r < 0)
		return r;
	if (log_format_parse(s, &c->log_format) < 0)
		return berr_set(err, EINVAL, "config '%s': bad log_format '%s' (text, json)",
				origin, s);
	return 0;
}

/* containerd's Go durations ("5m", "1m30s", "90s", "500ms", "0") or a number of
 * seconds; at most a day. */
static int parse_duration_ms(struct json_object *val, const char *origin, const char *key,
			     int64_t *ret, struct berr **err)
{
	if (json_object_is_type(val, json_type_int)) {
		int64_t s = json_object_get_int64(val);
		if (s < 0 || s > 86400)
			return berr_set(err, EINVAL, "config '%s': '%s' out of range (0-86400 s)",
					origin, key);
		*ret = s * 1000;
		return 0;
	}
	_cleanup_free_ char *s = NULL;
	int r = get_string(val, origin, key, false, &s, err);
	if (r < 0)
		return r;
	int64_t total = 0;
	const char *p = s;
	while (*p) {
		char *end = NULL;
		errno = 0;
		long long n = strtoll(p, &end, 10);
		if (end == p || errno || n < 0)
			break;
		int64_t unit = 0;
		if (strncmp(end, "ms", 2) == 0)
			unit = 1, end += 2;
		else if (*end == 's')
			unit = 1000, end++;
		else if (*end == 'm')
			unit = 60000, end++;
		else if (*end == 'h')
			unit = 3600000, end++;
		else if (!*end && n == 0 && p == s)
			unit = 1; /* a bare "0" */
		if (!unit || n > 86400000)
			break;
		total += n * unit;
		p = end;
	}
	if (*p || !s[0] || total > 86400000)
		return berr_set(err, EINVAL,
				"config '%s': bad %s '%s' (a duration like '5m', '90s', '0'; at "
				"most 24h)",
				origin, key, s);
	*ret = total;
	return 0;
}

static int parse_top(struct berth_config *c, const char *key, struct json_object *val,
		     const char *origin, struct berr **err)
{
	if (strcmp(key, "socket") == 0)
		return get_string(val, origin, key, true, &c->socket, err);
	if (strcmp(key, "state_dir") == 0)
		return get_string(val, origin, key, true, &c->state_dir, err);
	if (strcmp(key, "run_dir") == 0)
		return get_string(val, origin, key, true, &c->run_dir, err);
	if (strcmp(key, "socket_group") == 0)
		return get_string(val, origin, key, false, &c->socket_group, err);
	if (strcmp(key, "socket_mode") == 0)
		return get_mode(val, origin, key, &c->socket_mode, err);
	if (strcmp(key, "libexec_dir") == 0)
		return get_opt_string(val, origin, key, &c->libexec_dir, err);
	if (strcmp(key, "seccomp_profile") == 0)
		return get_string(val, origin, key, true, &c->seccomp_profile, err);
	if (strcmp(key, "workers") == 0)
		return get_int(val, origin, key, 1, BERTH_WORKERS_MAX, &c->workers, err);
	if (strcmp(key, "default_runtime") == 0)
		return get_string(val, origin, key, false, &c->default_runtime, err);
	if (strcmp(key, "log_level") == 0 || strcmp(key, "cgroup_driver") == 0) {
		_cleanup_free_ char *s = NULL;
		int r = get_string(val, origin, key, false, &s, err);
		if (r < 0)
			return r;
		if (key[0] == 'l') {
			if (log_level_parse(s, &c->log_level) < 0)
				return berr_set(
				    err, EINVAL,
				    "config '%s': bad log_level '%s' (debug, info, warn, error)",
				    origin, s);
		} else if (strcmp(s, "cgroupfs") == 0) {
			c->cgroup_driver = BERTH_CGROUP_CGROUPFS;
		} else if (strcmp(s, "systemd") == 0) {
			c->cgroup_driver = BERTH_CGROUP_SYSTEMD;
		} else {
			return berr_set(err, EINVAL,
					"config '%s': bad cgroup_driver '%s' (cgroupfs, systemd)",
					origin, s);
		}
		return 0;
	}
	if (strcmp(key, "log_format") == 0)
		return parse_log_format(c, val, origin, err);
	if (strcmp(key, "image_pull_progress_timeout") == 0)
		return parse_duration_ms(val, origin, key, &c->image_pull_progress_timeout_ms, err);
	if (strcmp(key, "runtimes") == 0 || strcmp(key, "registries") == 0 ||
	    strcmp(key, "cni") == 0 || strcmp(key, "stream") == 0 || strcmp(key, "metrics") == 0)
		return parse_section(c, key, val, origin, err);
	return unknown_key(origin, NULL, key, err);
}

int cri_config_parse(struct berth_config *c, const char *json, const char *origin,
		     struct berr **err)
{
	struct json_tokener *tok = json_tokener_new();
	if (!tok)
		xalloc_die();
	/* Non-strict (the default) accepts C and C++ style comments. */
	_cleanup_json_ struct json_object *root = json_tokener_parse_ex(tok, json, -1);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t off = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	/* Given -1, json-c reads the terminating NUL as input too: an unclosed
	 * comment ends past it. */
	size_t len = strlen(json);
	if (off > len)
		off = len;
	if (jerr != json_tokener_success)
		return berr_set(err, EINVAL, "config '%s': invalid JSON at offset %zu: %s", origin,
				off, json_tokener_error_desc(jerr));
	if (json[off + strspn(json + off, " \t\r\n")] != '\0')
		return berr_set(err, EINVAL, "config '%s': trailing data at offset %zu", origin,
				off);
	if (!json_object_is_type(root, json_type_object))
		return berr_set(err, EINVAL, "config '%s': top level must be an object", origin);
	json_object_object_foreach(root, key, val)
	{
		int r = parse_top(c, key, val, origin, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int load_file(struct berth_config *c, const char *path, bool missing_ok, struct berr **err)
{
	_cleanup_free_ char *data = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	size_t len;
	int r = fileio_read_all(path, BERTH_CONFIG_MAX, &data, &len, &e);
	if (r == -ENOENT && missing_ok)
		return 0;
	if (r < 0)
		return berr_move(err, &e);
	if (strlen(data) != len)
		return berr_set(err, EINVAL, "config '%s': contains a NUL byte", path);
	r = cri_config_parse(c, data, path, err);
	return r < 0 ? r : 1; /* 1: loaded, 0: missing and missing_ok */
}

int cri_config_load(struct berth_config *c, const char *path, bool missing_ok, struct berr **err)
{
	int r = load_file(c, path, missing_ok, err);
	if (r <= 0)
		return r;
	free(c->path);
	c->path = xstrdup(path);
	return 0;
}

char *cri_config_dropin_dir(const char *config_path)
{
	const char *slash = strrchr(config_path, '/');
	if (!slash)
		return xstrdup(BERTH_DROPIN_DIR_NAME);
	return xasprintf("%.*s/" BERTH_DROPIN_DIR_NAME, (int)(slash - config_path), config_path);
}

static int dropin_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return d->d_name[0] != '.' && n > 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}

static void dirents_free(struct dirent **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int cri_config_load_dropins(struct berth_config *c, const char *dir, struct berr **err)
{
	struct dirent **names = NULL;
	/* alphasort compares with strcoll(); berthd never sets a locale, so that is byte order */
	int n = scandir(dir, &names, dropin_filter, alphasort);
	if (n < 0)
		return errno == ENOENT ? 0
				       : berr_set_errno(err, errno, "config drop-ins '%s'", dir);
	size_t len = strv_len(c->dropins);
	int r = 0;
	for (int i = 0; i < n && r >= 0; i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, names[i]->d_name);
		struct stat st;
		if (stat(p, &st) < 0)
			r = berr_set_errno(err, errno, "config drop-in '%s'", p);
		else if (!S_ISREG(st.st_mode))
			r = berr_set(err, EINVAL, "config drop-in '%s' is not a regular file", p);
		else
			r = load_file(c, p, false, err);
		if (r >= 0)
			strv_push(&c->dropins, &len, p);
	}
	dirents_free(names, n);
	return r < 0 ? r : 0;
}

static int resolve_group(struct berth_config *c, struct berr **err)
{
	const char *g = c->socket_group;
	size_t n = strlen(g);
	if (strspn(g, "0123456789") == n && n <= 9) {
		c->socket_gid = (unsigned)strtoul(g, NULL, 10);
		return 0;
	}
	char buf[16384];
	struct group gr, *res = NULL;
	int e = getgrnam_r(g, &gr, buf, sizeof(buf), &res);
	if (e != 0)
		return berr_set_errno(err, e, "config: socket_group '%s'", g);
	if (!res)
		return berr_set(err, EINVAL, "config: socket_group '%s': no such group", g);
	c->socket_gid = (unsigned)res->gr_gid;
	return 0;
}

int cri_config_finish(struct berth_config *c, struct berr **err)
{
	int rg = resolve_group(c, err);
	if (rg < 0)
		return rg;
	if (!cri_config_runtime(c, c->default_runtime))
		return berr_set(err, EINVAL, "config: default_runtime '%s' is not in 'runtimes'",
				c->default_runtime);
	if (!c->stream_tls_cert != !c->stream_tls_key)
		return berr_set(err, EINVAL,
				"config: 'stream.tls_cert' and 'stream.tls_key' go together (%s "
				"given alone)",
				c->stream_tls_cert ? "stream.tls_cert" : "stream.tls_key");
	for (size_t i = 0; i < c->n_runtimes; i++) {
		struct berth_runtime *r = &c->runtimes[i];
		if (!r->root)
			r->root = xasprintf("%s/runtimes/%s", c->run_dir, r->name);
	}
	return 0;
}

static struct json_object *strv_json(char **v)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; v && v[i]; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

static struct json_object *config_json(const struct berth_config *c)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "socket", json_object_new_string(c->socket));
	json_object_object_add(o, "socket_group", json_object_new_string(c->socket_group));
	char mode[8];
	snprintf(mode, sizeof(mode), "%04o", c->socket_mode & 0777);
	json_object_object_add(o, "socket_mode", json_object_new_string(mode));
	json_object_object_add(o, "state_dir", json_object_new_string(c->state_dir));
	json_object_object_add(o, "run_dir", json_object_new_string(c->run_dir));
	json_object_object_add(o, "log_level",
			       json_object_new_string(log_level_name(c->log_level)));
	json_object_object_add(o, "log_format",
			       json_object_new_string(log_format_name(c->log_format)));
	json_object_object_add(o, "workers", json_object_new_int(c->workers));
	json_object_object_add(o, "cgroup_driver",
			       json_object_new_string(c->cgroup_driver == BERTH_CGROUP_SYSTEMD
							  ? "systemd"
							  : "cgroupfs"));
	json_object_object_add(o, "default_runtime", json_object_new_string(c->default_runtime));
	struct json_object *rts = json_object_new_object();
	for (size_t i = 0; i < c->n_runtimes; i++) {
		const struct berth_runtime *r = &c->runtimes[i];
		struct json_object *ro = json_object_new_object();
		json_object_object_add(ro, "path", json_object_new_string(r->path));
		if (r->root)
			json_object_object_add(ro, "root", json_object_new_string(r->root));
		json_object_object_add(ro, "options", strv_json(r->options));
		if (r->timeout_ms)
			json_object_object_add(ro, "timeout_ms",
					       json_object_new_int(r->timeout_ms));
		json_object_object_add(rts, r->name, ro);
	}
	json_object_object_add(o, "runtimes", rts);
	struct json_object *cni = json_object_new_object();
	json_object_object_add(cni, "conf_dir", json_object_new_string(c->cni_conf_dir));
	json_object_object_add(cni, "bin_dirs", strv_json(c->cni_bin_dirs));
	json_object_object_add(cni, "conf_template",
			       c->cni_conf_template ? json_object_new_string(c->cni_conf_template)
						    : NULL);
	json_object_object_add(o, "cni", cni);
	struct json_object *regs = json_object_new_object();
	for (size_t i = 0; i < c->n_registries; i++) {
		const struct berth_registry *r = &c->registries[i];
		struct json_object *ro = json_object_new_object();
		json_object_object_add(ro, "mirrors", strv_json(r->mirrors));
		json_object_object_add(ro, "insecure", json_object_new_boolean(r->insecure));
		json_object_object_add(regs, r->host, ro);
	}
	json_object_object_add(o, "registries", regs);
	struct json_object *st = json_object_new_object();
	json_object_object_add(st, "address", json_object_new_string(c->stream_address));
	json_object_object_add(st, "port", json_object_new_int(c->stream_port));
	json_object_object_add(st, "token_ttl_ms", json_object_new_int(c->stream_token_ttl_ms));
	if (c->stream_tls_cert)
		json_object_object_add(st, "tls_cert", json_object_new_string(c->stream_tls_cert));
	if (c->stream_tls_key)
		json_object_object_add(st, "tls_key", json_object_new_string(c->stream_tls_key));
	json_object_object_add(o, "stream", st);
	json_object_object_add(
	    o, "libexec_dir",
	    json_object_new_string(c->libexec_dir ? c->libexec_dir : BERTH_LIBEXECDIR));
	json_object_object_add(o, "seccomp_profile", json_object_new_string(c->seccomp_profile));
	/* the largest unit that shows it whole: "5m", "90s", "1500ms", "0" */
	int64_t ms = c->image_pull_progress_timeout_ms;
	_cleanup_free_ char *pt = ms == 0 ? xstrdup("0")
				  : ms % 3600000 == 0
				      ? xasprintf("%lldh", (long long)(ms / 3600000))
				  : ms % 60000 == 0 ? xasprintf("%lldm", (long long)(ms / 60000))
				  : ms % 1000 == 0  ? xasprintf("%llds", (long long)(ms / 1000))
						    : xasprintf("%lldms", (long long)ms);
	json_object_object_add(o, "image_pull_progress_timeout", json_object_new_string(pt));
	struct json_object *mo = json_object_new_object();
	json_object_object_add(
	    mo, "address", c->metrics_address ? json_object_new_string(c->metrics_address) : NULL);
	json_object_object_add(o, "metrics", mo);
	return o;
}

char *cri_config_to_json(const struct berth_config *c)
{
	_cleanup_json_ struct json_object *o = config_json(c);
	return xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
}

char *cri_config_to_json_pretty(const struct berth_config *c)
{
	_cleanup_json_ struct json_object *o = config_json(c);
	return xstrdup(json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_PRETTY_TAB |
		   JSON_C_TO_STRING_NOSLASHESCAPE));
}
