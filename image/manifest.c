/* SPDX-License-Identifier: Apache-2.0 */
/* manifest.c - Docker schema2 / OCI manifests and indexes, platform selection, image config. */
#include "image/image-internal.h"

#include <errno.h>
#include <json-c/json.h>
#include <string.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"

const char *img_jstr(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static char *jdup(struct json_object *o, const char *key)
{
	return xstrdup_null(img_jstr(o, key));
}

struct json_object *img_jget(struct json_object *o, const char *key, enum json_type t)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
		return NULL;
	return v;
}

int img_json_parse(const char *body, size_t len, size_t max, const char *what,
		   struct json_object **ret, struct berr **err)
{
	if (len > max)
		return berr_set(err, E2BIG, "%s too large (%zu > %zu)", what, len, max);
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = json_tokener_parse_ex(tok, body, (int)len);
	enum json_tokener_error je = json_tokener_get_error(tok);
	json_tokener_free(tok);
	if (!o || je != json_tokener_success || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return berr_set(err, EPROTO, "bad %s: %s", what,
				je != json_tokener_success ? json_tokener_error_desc(je)
							   : "not an object");
	}
	*ret = o;
	return 0;
}

static void descriptor_done(struct img_descriptor *d)
{
	free(d->media_type);
	free(d->digest);
	free(d->os);
	free(d->arch);
	free(d->variant);
	*d = (struct img_descriptor){0};
}

static int descriptor_parse(struct json_object *o, const char *what, struct img_descriptor *d,
			    struct berr **err)
{
	struct json_object *size = img_jget(o, "size", json_type_int);
	const char *digest = img_jstr(o, "digest");
	if (!json_object_is_type(o, json_type_object) || !digest)
		return berr_set(err, EPROTO, "bad %s descriptor: missing digest", what);
	if (!img_digest_is_valid(digest))
		return berr_set(err, EPROTO, "bad %s descriptor: unsupported digest '%.80s'", what,
				digest);
	if (size && json_object_get_int64(size) < 0)
		return berr_set(err, EPROTO, "bad %s descriptor: negative size", what);
	d->digest = xstrdup(digest);
	d->media_type = jdup(o, "mediaType");
	d->size = size ? (uint64_t)json_object_get_int64(size) : 0;
	struct json_object *p = img_jget(o, "platform", json_type_object);
	if (p) {
		d->os = jdup(p, "os");
		d->arch = jdup(p, "architecture");
		d->variant = jdup(p, "variant");
	}
	return 0;
}

static int descriptors_parse(struct json_object *arr, const char *what, struct img_descriptor **ret,
			     size_t *ret_n, struct berr **err)
{
	size_t n = json_object_array_length(arr);
	if (n > IMG_LAYERS_MAX)
		return berr_set(err, E2BIG, "too many %ss (%zu > %d)", what, n, IMG_LAYERS_MAX);
	*ret = xcalloc(n ? n : 1, sizeof(**ret));
	*ret_n = n;
	for (size_t i = 0; i < n; i++) {
		int r = descriptor_parse(json_object_array_get_idx(arr, i), what, &(*ret)[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

int img_manifest_parse(const char *body, size_t len, const char *content_type,
		       struct img_manifest *ret, struct berr **err)
{
	_cleanup_json_ struct json_object *o = NULL;
	int rc = img_json_parse(body, len, IMG_CONFIG_MAX, "manifest", &o, err);
	if (rc < 0)
		return rc;
	struct json_object *sv = img_jget(o, "schemaVersion", json_type_int);
	if (!sv || json_object_get_int(sv) != 2)
		return berr_set(err, EPROTO, "unsupported manifest schema version %d (want 2)",
				sv ? json_object_get_int(sv) : 0);
	const char *mt = content_type;
	if (!mt || !*mt || strncmp(mt, "application/vnd.", 16) != 0)
		mt = img_jstr(o, "mediaType");
	struct json_object *manifests = img_jget(o, "manifests", json_type_array);
	struct json_object *layers = img_jget(o, "layers", json_type_array);
	bool index;
	if (mt && (strncmp(mt, MT_DOCKER_LIST, strlen(MT_DOCKER_LIST)) == 0 ||
		   strncmp(mt, MT_OCI_INDEX, strlen(MT_OCI_INDEX)) == 0))
		index = true;
	else if (mt && (strncmp(mt, MT_DOCKER_MANIFEST, strlen(MT_DOCKER_MANIFEST)) == 0 ||
			strncmp(mt, MT_OCI_MANIFEST, strlen(MT_OCI_MANIFEST)) == 0))
		index = false;
	else if (!mt && (manifests || layers))
		index = manifests != NULL;
	else
		return berr_set(err, EPROTO, "unsupported manifest media type '%s'",
				mt ? mt : "(none)");
	struct img_manifest m = {.kind = index ? IMG_MANIFEST_INDEX : IMG_MANIFEST_IMAGE};
	int r;
	if (index) {
		if (!manifests)
			return berr_set(err, EPROTO, "bad index: no manifests");
		r = descriptors_parse(manifests, "manifest", &m.manifests, &m.n_manifests, err);
	} else {
		struct json_object *cfg = img_jget(o, "config", json_type_object);
		if (!cfg || !layers)
			return berr_set(err, EPROTO, "bad manifest: missing config or layers");
		r = descriptor_parse(cfg, "config", &m.config, err);
		if (r >= 0)
			r = descriptors_parse(layers, "layer", &m.layers, &m.n_layers, err);
	}
	if (r < 0) {
		img_manifest_done(&m);
		return r;
	}
	*ret = m;
	return 0;
}

void img_manifest_done(struct img_manifest *m)
{
	if (!m)
		return;
	descriptor_done(&m->config);
	for (size_t i = 0; i < m->n_layers; i++)
		descriptor_done(&m->layers[i]);
	for (size_t i = 0; i < m->n_manifests; i++)
		descriptor_done(&m->manifests[i]);
	free(m->layers);
	free(m->manifests);
	*m = (struct img_manifest){0};
}

static bool str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* The variant an image without one is assumed to have (containerd's normalisation). */
static const char *default_variant(const char *arch)
{
	if (str_eq(arch, "arm64"))
		return "v8";
	if (str_eq(arch, "arm"))
		return "v7";
	return NULL;
}

int img_index_select(const struct img_manifest *m, const char *os, const char *arch,
		     const char *variant, const struct img_descriptor **ret, struct berr **err)
{
	const struct img_descriptor *best = NULL;
	int best_score = 0;
	for (size_t i = 0; i < m->n_manifests; i++) {
		const struct img_descriptor *d = &m->manifests[i];
		if (!str_eq(d->os, os) || !str_eq(d->arch, arch))
			continue;
		const char *dv = d->variant && *d->variant ? d->variant : default_variant(arch);
		const char *want = variant ? variant : default_variant(arch);
		int score;
		if (str_eq(dv, want) || (!dv && !want))
			score = 3;
		else if (!want)
			score = 1; /* any variant will do, but an exact match wins */
		else
			continue;
		if (score > best_score) {
			best = d;
			best_score = score;
		}
	}
	if (best) {
		*ret = best;
		return 0;
	}
	_cleanup_free_ char *offered = xstrdup("");
	for (size_t i = 0; i < m->n_manifests && i < 16; i++) {
		const struct img_descriptor *d = &m->manifests[i];
		char *n = xasprintf("%s%s%s/%s%s%s", offered, i ? ", " : "", d->os ? d->os : "?",
				    d->arch ? d->arch : "?", d->variant ? "/" : "",
				    d->variant ? d->variant : "");
		free(offered);
		offered = n;
	}
	return berr_set(err, ENOENT, "no manifest for platform %s/%s%s%s (offered: %s)", os, arch,
			variant ? "/" : "", variant ? variant : "", offered);
}

static char **strv_from_array(struct json_object *a)
{
	size_t n = a ? json_object_array_length(a) : 0;
	char **v = xcalloc(n + 1, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		if (json_object_is_type(e, json_type_string))
			v[k++] = xstrdup(json_object_get_string(e));
	}
	return v;
}

static char **strv_from_keys(struct json_object *o)
{
	size_t n = o ? (size_t)json_object_object_length(o) : 0;
	char **v = xcalloc(n + 1, sizeof(char *));
	size_t k = 0;
	if (o) {
		json_object_object_foreach(o, key, val)
		{
			(void)val;
			v[k++] = xstrdup(key);
		}
	}
	return v;
}

int img_config_parse_full(const char *json, size_t len, struct img_config *ret_cfg,
			  char ***ret_diff_ids, size_t *ret_n, struct berr **err)
{
	_cleanup_json_ struct json_object *o = NULL;
	int rc = img_json_parse(json, len, IMG_CONFIG_MAX, "image config", &o, err);
	if (rc < 0)
		return rc;
	struct json_object *c = img_jget(o, "config", json_type_object);
	struct img_config cfg = {
	    .user = jdup(c, "User"),
	    .working_dir = jdup(c, "WorkingDir"),
	    .stop_signal = jdup(c, "StopSignal"),
	    .os = jdup(o, "os"),
	    .arch = jdup(o, "architecture"),
	    .env = strv_from_array(img_jget(c, "Env", json_type_array)),
	    .entrypoint = strv_from_array(img_jget(c, "Entrypoint", json_type_array)),
	    .cmd = strv_from_array(img_jget(c, "Cmd", json_type_array)),
	    .exposed_ports = strv_from_keys(img_jget(c, "ExposedPorts", json_type_object)),
	    .volumes = strv_from_keys(img_jget(c, "Volumes", json_type_object)),
	};
	struct json_object *labels = img_jget(c, "Labels", json_type_object);
	if (labels) {
		cfg.labels =
		    xcalloc((size_t)json_object_object_length(labels) + 1, sizeof(*cfg.labels));
		json_object_object_foreach(labels, key, val)
		{
			if (!json_object_is_type(val, json_type_string))
				continue;
			cfg.labels[cfg.n_labels++] = (struct img_kv){
			    .key = xstrdup(key), .value = xstrdup(json_object_get_string(val))};
		}
	}
	if (ret_diff_ids) {
		struct json_object *rootfs = img_jget(o, "rootfs", json_type_object);
		struct json_object *ids = img_jget(rootfs, "diff_ids", json_type_array);
		if (!ids) {
			img_config_done(&cfg);
			return berr_set(err, EPROTO, "bad image config: no rootfs.diff_ids");
		}
		char **v = strv_from_array(ids);
		size_t n = 0;
		for (; v[n]; n++) {
			if (!img_digest_is_valid(v[n])) {
				int r = berr_set(err, EPROTO, "bad image config: diff id '%.80s'",
						 v[n]);
				strv_free(v);
				img_config_done(&cfg);
				return r;
			}
		}
		if (n != json_object_array_length(ids) || n > IMG_LAYERS_MAX) {
			strv_free(v);
			img_config_done(&cfg);
			return berr_set(err, EPROTO, "bad image config: bad rootfs.diff_ids");
		}
		*ret_diff_ids = v;
		*ret_n = n;
	}
	*ret_cfg = cfg;
	return 0;
}

int img_config_parse(const char *json, size_t len, struct img_config *ret, struct berr **err)
{
	return img_config_parse_full(json, len, ret, NULL, NULL, err);
}

void img_config_done(struct img_config *c)
{
	if (!c)
		return;
	free(c->user);
	free(c->working_dir);
	free(c->stop_signal);
	free(c->os);
	free(c->arch);
	strv_free(c->env);
	strv_free(c->entrypoint);
	strv_free(c->cmd);
	strv_free(c->exposed_ports);
	strv_free(c->volumes);
	for (size_t i = 0; i < c->n_labels; i++) {
		free(c->labels[i].key);
		free(c->labels[i].value);
	}
	free(c->labels);
	*c = (struct img_config){0};
}
