/* SPDX-License-Identifier: Apache-2.0 */
/* reload.c - SIGHUP: the config loaded again is compared key by key with the one in effect;
 * the keys of reload_table change live through their apply function, every other changed
 * key is logged as waiting for a restart. The config in effect (what Status verbose shows)
 * is the running one with the applied keys replaced.
 * Threads: cri_config_reload() runs on berthd's main thread, one at a time; apply
 * functions publish through their owner's lock or an atomic (log level: common/log.c,
 * registries: img_ctx_set_registries(), stream TLS: stream_server_set_tls()), so handlers
 * never see a half-changed value. */
#define LOG_COMPONENT "berthd" /* before any header: cri.h includes log.h */
#include "cri/cri.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/strv.h"
#include "image/image.h"
#include "streaming/streaming.h"

struct cri_live {
	pthread_mutex_t lock;
	char *json; /* the config in effect, cri_config_to_json()'s form; guarded by lock */
};

/* One key that can change without a restart. key is a dotted path of fixed names (no
 * registry host or runtime name inside): "log_level", "metrics.address". It covers
 * everything beneath it. apply() gets the whole new config, reads its key's values and
 * publishes them; a failure keeps the running value (and is logged). quiet keeps the
 * values out of the log (a mirror URL may carry credentials). */
struct reload_entry {
	const char *key;
	int (*apply)(struct berth *b, const struct berth_config *next, struct berr **err);
	bool quiet;
	/* Also applied when the key did not change but is set: files named by the key whose
	 * contents may have been replaced in place (a renewed certificate). */
	bool reread;
	/* Applied once for all the keys it names (key and also) that changed. */
	const char *also;
};

static int apply_log_level(struct berth *b, const struct berth_config *next, struct berr **err)
{
	log_set_level(next->log_level);
	return 0;
}

static int apply_registries(struct berth *b, const struct berth_config *next, struct berr **err)
{
	if (!b->img)
		return 0;
	size_t n = next->n_registries;
	struct img_registry *regs = xcalloc(n + 1, sizeof(*regs));
	for (size_t i = 0; i < n; i++) {
		const struct berth_registry *r = &next->registries[i];
		regs[i] = (struct img_registry){.host = r->host,
						.mirrors = (const char *const *)r->mirrors,
						.n_mirrors = strv_len(r->mirrors),
						.insecure = r->insecure};
	}
	int r = img_ctx_set_registries(b->img, regs, n, err);
	free(regs);
	return r;
}

/* The stream server's certificate and key, for the connections accepted from now on
 * (turning TLS on too). Turning it off needs a restart: clients hold https URLs. */
static int apply_stream_tls(struct berth *b, const struct berth_config *next, struct berr **err)
{
	if (!b->stream)
		return 0;
	if (!next->stream_tls_cert || !next->stream_tls_key)
		return berr_set(err, EINVAL,
				"stream.tls_cert and stream.tls_key must both be set; turning TLS "
				"off takes a restart");
	return stream_server_set_tls(b->stream, next->stream_tls_cert, next->stream_tls_key, err);
}

/* Every key not here needs a restart. A key that can change live is one entry with its
 * apply function (docs/config.md lists which do): log_format, metrics.address and the
 * stream TLS files join this way. apply() reads all it needs from next, so keys that
 * change together (a certificate and its key) may share one function: it then runs once
 * per entry whose key changed, and must give the same result each time. */
static const struct reload_entry reload_table[] = {
    {.key = "log_level", .apply = apply_log_level},
    {.key = "registries", .apply = apply_registries, .quiet = true},
    {.key = "stream.tls_cert", .apply = apply_stream_tls, .reread = true, .also = "stream.tls_key"},
};

#define PATH_DEPTH 6

/* A changed key: its segments, borrowed from the JSON trees being compared. */
struct change {
	const char *seg[PATH_DEPTH];
	size_t n;
	struct json_object *old, *new; /* NULL: absent on that side */
};

struct changes {
	struct change *v;
	size_t n;
};

static void add_change(struct changes *c, const char *const *seg, size_t n, struct json_object *old,
		       struct json_object *new)
{
	c->v = xreallocarray(c->v, c->n + 1, sizeof(*c->v));
	struct change *x = &c->v[c->n++];
	*x = (struct change){.n = n, .old = old, .new = new};
	memcpy(x->seg, seg, n * sizeof(*seg));
}

/* Objects are compared key by key (down to PATH_DEPTH), anything else as a whole. */
static void diff(struct json_object *a, struct json_object *b, const char **seg, size_t n,
		 struct changes *out)
{
	bool objs =
	    json_object_is_type(a, json_type_object) && json_object_is_type(b, json_type_object);
	if (!objs || n == PATH_DEPTH) {
		if (!json_object_equal(a, b))
			add_change(out, seg, n, a, b);
		return;
	}
	json_object_object_foreach(a, ka, va)
	{
		struct json_object *vb = NULL;
		seg[n] = ka;
		if (!json_object_object_get_ex(b, ka, &vb))
			add_change(out, seg, n + 1, va, NULL);
		else
			diff(va, vb, seg, n + 1, out);
	}
	json_object_object_foreach(b, kb, vb2)
	{
		if (!json_object_object_get_ex(a, kb, NULL)) {
			seg[n] = kb;
			add_change(out, seg, n + 1, NULL, vb2);
		}
	}
}

/* Does the entry's dotted key cover the change's path? */
static bool covers(const char *key, const struct change *c)
{
	const char *k = key;
	for (size_t i = 0; i < c->n; i++) {
		size_t l = strlen(c->seg[i]);
		if (strncmp(k, c->seg[i], l) != 0 || (k[l] != '.' && k[l] != '\0'))
			return false;
		if (k[l] == '\0')
			return true;
		k += l + 1;
	}
	return false; /* the change is above the key: a whole section appeared or went */
}

static bool entry_covers(const struct reload_entry *e, const struct change *c)
{
	return covers(e->key, c) || (e->also && covers(e->also, c));
}

/* Is the dotted key present in the config's JSON form? */
static bool key_is_set(struct json_object *o, const char *key)
{
	_cleanup_strv_ char **seg = strv_split(key, '.');
	for (size_t i = 0; seg[i]; i++)
		if (!json_object_object_get_ex(o, seg[i], &o))
			return false;
	return true;
}

static char *path_string(const struct change *c)
{
	_cleanup_strv_ char **v = xcalloc(c->n + 1, sizeof(char *));
	for (size_t i = 0; i < c->n; i++)
		v[i] = xstrdup(c->seg[i]);
	return strv_join(v, '.');
}

static const char *value_string(struct json_object *v)
{
	return v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE)
		 : "(absent)";
}

/* Sets the subtree at key (dotted) of dst to a copy of src's; both have every section. */
static void replace_key(struct json_object *dst, struct json_object *src, const char *key)
{
	_cleanup_strv_ char **seg = strv_split(key, '.');
	size_t n = strv_len(seg);
	for (size_t i = 0; i + 1 < n; i++) {
		struct json_object *d = NULL, *s = NULL;
		if (!json_object_object_get_ex(dst, seg[i], &d) ||
		    !json_object_object_get_ex(src, seg[i], &s))
			return;
		dst = d;
		src = s;
	}
	struct json_object *v = NULL;
	if (json_object_object_get_ex(src, seg[n - 1], &v)) {
		struct json_object *copy = NULL;
		if (json_object_deep_copy(v, &copy, NULL) < 0)
			xalloc_die();
		json_object_object_add(dst, seg[n - 1], copy);
	} else {
		json_object_object_del(dst, seg[n - 1]);
	}
}

int cri_reload_init(struct berth *b)
{
	struct cri_live *l = xcalloc(1, sizeof(*l));
	pthread_mutex_init(&l->lock, NULL);
	l->json = cri_config_to_json(&b->cfg);
	b->live = l;
	return 0;
}

void cri_reload_done(struct berth *b)
{
	if (!b->live)
		return;
	pthread_mutex_destroy(&b->live->lock);
	free(b->live->json);
	free(b->live);
	b->live = NULL;
}

char *cri_config_live_json(struct berth *b)
{
	if (!b->live)
		return cri_config_to_json(&b->cfg);
	pthread_mutex_lock(&b->live->lock);
	char *s = xstrdup(b->live->json);
	pthread_mutex_unlock(&b->live->lock);
	return s;
}

static void json_putp(struct json_object **o)
{
	if (*o)
		json_object_put(*o);
}

int cri_config_reload(struct berth *b, const struct berth_config *next,
		      struct cri_reload_result *res)
{
	*res = (struct cri_reload_result){0};
	_cleanup_free_ char *cur_s = cri_config_live_json(b);
	_cleanup_free_ char *next_s = cri_config_to_json(next);
	_cleanup_(json_putp) struct json_object *cur = json_tokener_parse(cur_s);
	_cleanup_(json_putp) struct json_object *nxt = json_tokener_parse(next_s);
	if (!cur || !nxt)
		xalloc_die(); /* our own serialisation: only memory can make it fail */
	struct changes ch = {0};
	const char *seg[PATH_DEPTH];
	diff(cur, nxt, seg, 0, &ch);
	size_t n_table = sizeof(reload_table) / sizeof(reload_table[0]);
	bool *handled = xcalloc(ch.n + 1, sizeof(bool));
	bool applied[sizeof(reload_table) / sizeof(reload_table[0])] = {0};
	for (size_t t = 0; t < n_table; t++) {
		const struct reload_entry *e = &reload_table[t];
		bool any = false;
		for (size_t i = 0; i < ch.n; i++)
			any |= entry_covers(e, &ch.v[i]);
		bool reread = !any && e->reread && key_is_set(nxt, e->key);
		if (!any && !reread)
			continue;
		struct berr *aerr = NULL;
		if (e->apply(b, next, &aerr) < 0) {
			log_error("key=%s msg=\"reload: could not apply, the running value stays: "
				  "%s\"",
				  e->key, berr_msg(aerr));
			berr_free(aerr);
			res->failed++;
			for (size_t i = 0; i < ch.n; i++)
				handled[i] |= entry_covers(e, &ch.v[i]);
			continue;
		}
		if (reread) {
			log_info("key=%s msg=\"reload: unchanged, its files read again\"", e->key);
			continue;
		}
		for (size_t i = 0; i < ch.n; i++) {
			if (!entry_covers(e, &ch.v[i]))
				continue;
			handled[i] = true;
			_cleanup_free_ char *p = path_string(&ch.v[i]);
			if (e->quiet)
				log_info("key=%s msg=\"reload: changed, applied\"", p);
			else
				log_info("key=%s old=%.200s new=%.200s msg=\"reload: changed, "
					 "applied\"",
					 p, value_string(ch.v[i].old), value_string(ch.v[i].new));
		}
		applied[t] = true;
		res->applied++;
	}
	for (size_t i = 0; i < ch.n; i++) {
		if (handled[i])
			continue;
		_cleanup_free_ char *p = path_string(&ch.v[i]);
		log_warn("key=%s old=%.200s new=%.200s msg=\"reload: changed, takes effect at the "
			 "next restart of berthd\"",
			 p, value_string(ch.v[i].old), value_string(ch.v[i].new));
		res->need_restart++;
	}
	free(handled);
	free(ch.v);
	/* after the logging: the changes point into cur */
	for (size_t t = 0; t < n_table; t++) {
		if (!applied[t])
			continue;
		replace_key(cur, nxt, reload_table[t].key);
		if (reload_table[t].also)
			replace_key(cur, nxt, reload_table[t].also);
	}
	char *eff = xstrdup(json_object_to_json_string_ext(
	    cur, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	if (b->live) {
		pthread_mutex_lock(&b->live->lock);
		free(b->live->json);
		b->live->json = eff;
		pthread_mutex_unlock(&b->live->lock);
	} else {
		free(eff);
	}
	return 0;
}
