/* SPDX-License-Identifier: Apache-2.0 */
/* image.c - the image store: records keyed by config digest, the repo tag/digest index and
 * tag moves. Tag changes are serialized by store->tag_mu (taken before img.lock). */
#include "store/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/ids.h"
#include "store/store-internal.h"

#define DIGEST_PREFIX	  "sha256:"
#define DIGEST_PREFIX_LEN (sizeof(DIGEST_PREFIX) - 1)

struct store_img {
	struct sobj o;			/* first: the generic code casts */
	struct store_img_meta meta;	/* immutable once published */
	struct store_img_status status; /* o.lock; tags also follow store->tags */
};

void store_img_status_copy(struct store_img_status *dst, const struct store_img_status *src)
{
	*dst = (struct store_img_status){
	    .repo_tags = strv_copy(src->repo_tags),
	    .repo_digests = strv_copy(src->repo_digests),
	    .pinned = src->pinned,
	    .tagged_at = src->tagged_at,
	};
	kv_copy(&dst->extra, &dst->n_extra, src->extra, src->n_extra);
}

void store_img_status_done(struct store_img_status *st)
{
	if (!st)
		return;
	strv_free(st->repo_tags);
	strv_free(st->repo_digests);
	kv_free(st->extra, st->n_extra);
	*st = (struct store_img_status){0};
}

void store_img_meta_copy(struct store_img_meta *dst, const struct store_img_meta *src)
{
	*dst = (struct store_img_meta){
	    .id = xstrdup_null(src->id),
	    .size = src->size,
	    .user = xstrdup_null(src->user),
	    .env = strv_copy(src->env),
	    .entrypoint = strv_copy(src->entrypoint),
	    .cmd = strv_copy(src->cmd),
	    .working_dir = xstrdup_null(src->working_dir),
	    .stop_signal = xstrdup_null(src->stop_signal),
	    .exposed_ports = strv_copy(src->exposed_ports),
	    .volumes = strv_copy(src->volumes),
	    .chain_ids = strv_copy(src->chain_ids),
	    .layer_digests = strv_copy(src->layer_digests),
	};
	kv_copy(&dst->labels, &dst->n_labels, src->labels, src->n_labels);
	kv_copy(&dst->extra, &dst->n_extra, src->extra, src->n_extra);
}

void store_img_meta_done(struct store_img_meta *m)
{
	if (!m)
		return;
	free(m->id);
	free(m->user);
	strv_free(m->env);
	strv_free(m->entrypoint);
	strv_free(m->cmd);
	free(m->working_dir);
	free(m->stop_signal);
	strv_free(m->exposed_ports);
	kv_free(m->labels, m->n_labels);
	strv_free(m->volumes);
	strv_free(m->chain_ids);
	strv_free(m->layer_digests);
	kv_free(m->extra, m->n_extra);
	*m = (struct store_img_meta){0};
}

static struct json_object *img_status_to_json(const void *p)
{
	const struct store_img_status *st = p;
	struct json_object *j = json_object_new_object();
	js_add_strv(j, "repo_tags", st->repo_tags);
	js_add_strv(j, "repo_digests", st->repo_digests);
	js_add_bool(j, "pinned", st->pinned);
	js_add_kv(j, "extra", st->extra, st->n_extra);
	js_add_i64(j, "tagged_at", st->tagged_at);
	return j;
}

static int img_status_from_json(struct json_object *j, void *p, struct berr **err)
{
	struct store_img_status *st = p;
	if (js_get_strv(j, "repo_tags", &st->repo_tags, err) < 0 ||
	    js_get_strv(j, "repo_digests", &st->repo_digests, err) < 0 ||
	    js_get_bool(j, "pinned", &st->pinned, err) < 0 ||
	    js_get_kv(j, "extra", &st->extra, &st->n_extra, err) < 0 ||
	    js_get_i64(j, "tagged_at", &st->tagged_at, err) < 0)
		return -EIO;
	return 0;
}

static struct json_object *img_meta_to_json(const struct sobj *o)
{
	const struct store_img_meta *m = &((const struct store_img *)o)->meta;
	struct json_object *j = json_object_new_object();
	js_add_str(j, "id", m->id);
	js_add_i64(j, "size", m->size);
	js_add_str(j, "user", m->user);
	js_add_strv(j, "env", m->env);
	js_add_strv(j, "entrypoint", m->entrypoint);
	js_add_strv(j, "cmd", m->cmd);
	js_add_str(j, "working_dir", m->working_dir);
	js_add_str(j, "stop_signal", m->stop_signal);
	js_add_strv(j, "exposed_ports", m->exposed_ports);
	js_add_kv(j, "labels", m->labels, m->n_labels);
	js_add_strv(j, "volumes", m->volumes);
	js_add_strv(j, "chain_ids", m->chain_ids);
	js_add_strv(j, "layer_digests", m->layer_digests);
	js_add_kv(j, "extra", m->extra, m->n_extra);
	return j;
}

static int img_meta_from_json(struct json_object *j, struct store_img_meta *m, struct berr **err)
{
	if (js_get_str(j, "id", &m->id, err) < 0 || js_get_i64(j, "size", &m->size, err) < 0 ||
	    js_get_str(j, "user", &m->user, err) < 0 || js_get_strv(j, "env", &m->env, err) < 0 ||
	    js_get_strv(j, "entrypoint", &m->entrypoint, err) < 0 ||
	    js_get_strv(j, "cmd", &m->cmd, err) < 0 ||
	    js_get_str(j, "working_dir", &m->working_dir, err) < 0 ||
	    js_get_str(j, "stop_signal", &m->stop_signal, err) < 0 ||
	    js_get_strv(j, "exposed_ports", &m->exposed_ports, err) < 0 ||
	    js_get_kv(j, "labels", &m->labels, &m->n_labels, err) < 0 ||
	    js_get_strv(j, "volumes", &m->volumes, err) < 0 ||
	    js_get_strv(j, "chain_ids", &m->chain_ids, err) < 0 ||
	    js_get_strv(j, "layer_digests", &m->layer_digests, err) < 0 ||
	    js_get_kv(j, "extra", &m->extra, &m->n_extra, err) < 0)
		return -EIO;
	return 0;
}

static bool img_id_is_valid(const char *id)
{
	return id && strncmp(id, DIGEST_PREFIX, DIGEST_PREFIX_LEN) == 0 &&
	       id_is_valid(id + DIGEST_PREFIX_LEN);
}

static int img_meta_check(const struct store_img_meta *m, struct berr **err)
{
	if (!img_id_is_valid(m->id))
		return berr_set(err, EINVAL, "bad image ID '%s' (want 'sha256:<64 hex>')",
				m->id ? m->id : "");
	return 0;
}

static void img_free(struct store_img *img)
{
	store_img_meta_done(&img->meta);
	store_img_status_done(&img->status);
	free(img);
}

static void img_obj_free(struct sobj *o)
{
	img_free((struct store_img *)o);
}

static struct sobj *img_obj_from_json(struct json_object *j, struct berr **err)
{
	struct store_img *img = xcalloc(1, sizeof(*img));
	if (img_meta_from_json(j, &img->meta, err) < 0 || img_meta_check(&img->meta, err) < 0) {
		img_free(img);
		return NULL;
	}
	sobj_init(&img->o, &store_kind_img, img->meta.id, NULL);
	return &img->o;
}

static void img_status_copy_v(void *dst, const void *src)
{
	store_img_status_copy(dst, src);
}

static void img_status_done_v(void *st)
{
	store_img_status_done(st);
}

const struct store_kind store_kind_img = {
    .noun = "image",
    .plural = "images",
    .status_off = offsetof(struct store_img, status),
    .status_size = sizeof(struct store_img_status),
    .status_copy = img_status_copy_v,
    .status_done = img_status_done_v,
    .status_to_json = img_status_to_json,
    .status_from_json = img_status_from_json,
    .meta_to_json = img_meta_to_json,
    .obj_from_json = img_obj_from_json,
    .obj_free = img_obj_free,
};

/* "sha256:<hex prefix>" for "<hex prefix>" or "sha256:<hex prefix>". */
static char *img_key(const char *s)
{
	if (strncmp(s, DIGEST_PREFIX, DIGEST_PREFIX_LEN) == 0)
		return xstrdup(s);
	return xasprintf(DIGEST_PREFIX "%s", s);
}

/* Appends the strings of add missing from *v; returns how many were added. */
static size_t strv_merge(char ***v, const char *const *add)
{
	size_t n = strv_len(*v), added = 0;
	for (size_t i = 0; add && add[i]; i++) {
		if (strv_contains(*v, add[i]))
			continue;
		*v = xreallocarray(*v, n + 2, sizeof(**v));
		(*v)[n++] = xstrdup(add[i]);
		(*v)[n] = NULL;
		added++;
	}
	return added;
}

/* Removes the strings of rm from v in place; returns how many were removed. */
static size_t strv_subtract(char **v, const char *const *rm)
{
	size_t out = 0, removed = 0;
	for (size_t i = 0; v && v[i]; i++) {
		bool drop = false;
		for (size_t k = 0; rm && rm[k] && !drop; k++)
			drop = strcmp(v[i], rm[k]) == 0;
		if (drop) {
			free(v[i]);
			removed++;
		} else {
			v[out++] = v[i];
		}
	}
	if (v)
		v[out] = NULL;
	return removed;
}

struct tag_change {
	const char *const *tags;
	const char *const *digests;
	int64_t tagged_at;
	char **stale; /* refs the image lists but the index gives to another image */
};

static int img_add_tags_fn(void *p, void *arg, struct berr **err)
{
	struct store_img_status *st = p;
	const struct tag_change *c = arg;
	strv_subtract(st->repo_tags, (const char *const *)c->stale);
	strv_subtract(st->repo_digests, (const char *const *)c->stale);
	size_t added = strv_merge(&st->repo_tags, c->tags);
	added += strv_merge(&st->repo_digests, c->digests);
	if (added)
		st->tagged_at = c->tagged_at;
	return 0;
}

static int img_remove_tags_fn(void *p, void *arg, struct berr **err)
{
	struct store_img_status *st = p;
	const struct tag_change *c = arg;
	strv_subtract(st->repo_tags, c->tags);
	strv_subtract(st->repo_digests, c->tags);
	strv_subtract(st->repo_tags, c->digests);
	strv_subtract(st->repo_digests, c->digests);
	return 0;
}

static int refs_check(const char *const *v, const char *what, struct berr **err)
{
	for (size_t i = 0; v && v[i]; i++)
		if (!*v[i])
			return berr_set(err, EINVAL, "empty repo %s", what);
	return 0;
}

/* References to the images other than self holding any of refs; img.lock not held. */
static void prev_holders(struct store *s, const char *const *refs, const struct sobj *self,
			 struct sobj ***v, size_t *n)
{
	pthread_rwlock_rdlock(&s->img.lock);
	for (size_t i = 0; refs && refs[i]; i++) {
		const struct smap_ent *e = smap_find(&s->tags, refs[i]);
		if (!e || e->val == self)
			continue;
		bool seen = false;
		for (size_t k = 0; k < *n && !seen; k++)
			seen = (*v)[k] == e->val;
		if (seen)
			continue;
		*v = xreallocarray(*v, *n + 1, sizeof(**v));
		(*v)[(*n)++] = sobj_ref(e->val);
	}
	pthread_rwlock_unlock(&s->img.lock);
}

/* Refs o's status still lists although the index gives them to another image: left over
 * when an earlier move could not rewrite o. Dropped with o's next tag change, before a newer
 * tagged_at would make them win at reload. */
static char **stale_refs(struct store *s, struct sobj *o)
{
	struct store_img_status st;
	sobj_status_get(o, &st);
	char **stale = NULL;
	size_t n = 0;
	char **lists[2] = {st.repo_tags, st.repo_digests};
	pthread_rwlock_rdlock(&s->img.lock);
	for (size_t l = 0; l < 2; l++) {
		for (size_t k = 0; lists[l] && lists[l][k]; k++) {
			const struct smap_ent *e = smap_find(&s->tags, lists[l][k]);
			if (e && e->val == o)
				continue;
			stale = xreallocarray(stale, n + 2, sizeof(*stale));
			stale[n++] = xstrdup(lists[l][k]);
			stale[n] = NULL;
		}
	}
	pthread_rwlock_unlock(&s->img.lock);
	store_img_status_done(&st);
	return stale;
}

static int img_add_locked(struct store *s, const struct store_img_meta *meta,
			  const char *const *tags, const char *const *digests, struct sobj **ret,
			  struct berr **err)
{
	struct sobj *o = NULL, **prev = NULL;
	size_t n_prev = 0;
	int r;

	if (tbl_get(&s->img, meta->id, false, &o, NULL) < 0)
		o = NULL;
	prev_holders(s, tags, o, &prev, &n_prev);
	prev_holders(s, digests, o, &prev, &n_prev);

	/* later than every current holder, so a crash mid-move resolves to this image */
	struct tag_change c = {.tags = tags, .digests = digests, .tagged_at = time_now_ns()};
	for (size_t i = 0; i < n_prev; i++) {
		struct store_img_status st;
		sobj_status_get(prev[i], &st);
		if (st.tagged_at >= c.tagged_at)
			c.tagged_at = st.tagged_at + 1;
		store_img_status_done(&st);
	}

	if (o) {
		c.stale = stale_refs(s, o);
		r = sobj_update(s, &s->img, o, img_add_tags_fn, &c, err);
		strv_free(c.stale);
		c.stale = NULL;
	} else {
		struct store_img *img = xcalloc(1, sizeof(*img));
		store_img_meta_copy(&img->meta, meta);
		img_add_tags_fn(&img->status, &c, NULL);
		sobj_init(&img->o, &store_kind_img, img->meta.id, NULL);
		struct json_object *j = img_meta_to_json(&img->o);
		img->o.meta_json = js_to_string(j);
		json_object_put(j);
		r = tbl_add(s, &s->img, &img->o, &o, err);
		if (r < 0)
			sobj_unref(&img->o);
	}
	if (r >= 0) {
		pthread_rwlock_wrlock(&s->img.lock);
		for (size_t i = 0; tags && tags[i]; i++)
			smap_set(&s->tags, tags[i], o);
		for (size_t i = 0; digests && digests[i]; i++)
			smap_set(&s->tags, digests[i], o);
		pthread_rwlock_unlock(&s->img.lock);
		/* the index already points at o; now drop the moved refs from the old holders */
		for (size_t i = 0; i < n_prev && r >= 0; i++) {
			r = sobj_update(s, &s->img, prev[i], img_remove_tags_fn, &c, err);
			if (r < 0)
				berr_wrap(err, "move tags from image '%s'", prev[i]->id);
		}
	}
	sobj_list_free(prev, n_prev);
	if (r < 0) {
		sobj_unref(o);
		return r;
	}
	*ret = o;
	return 0;
}

int store_img_add(struct store *s, const struct store_img_meta *meta, const char *const *repo_tags,
		  const char *const *repo_digests, struct store_img **ret, struct berr **err)
{
	int r = img_meta_check(meta, err);
	if (r >= 0)
		r = refs_check(repo_tags, "tag", err);
	if (r >= 0)
		r = refs_check(repo_digests, "digest", err);
	if (r < 0)
		return r;
	struct sobj *o = NULL;
	pthread_mutex_lock(&s->tag_mu);
	r = img_add_locked(s, meta, repo_tags, repo_digests, &o, err);
	pthread_mutex_unlock(&s->tag_mu);
	if (r < 0)
		return r;
	if (ret)
		*ret = (struct store_img *)o;
	else
		sobj_unref(o);
	return 0;
}

int store_img_get(struct store *s, const char *id_or_prefix, struct store_img **ret,
		  struct berr **err)
{
	if (!id_or_prefix || !*id_or_prefix)
		return berr_set(err, EINVAL, "empty image ID");
	_cleanup_free_ char *key = img_key(id_or_prefix);
	struct sobj *o;
	int r = tbl_get(&s->img, key, true, &o, err);
	if (r >= 0)
		*ret = (struct store_img *)o;
	return r;
}

int store_img_get_by_ref(struct store *s, const char *ref, struct store_img **ret,
			 struct berr **err)
{
	struct sobj *o = NULL;
	pthread_rwlock_rdlock(&s->img.lock);
	const struct smap_ent *e = ref ? smap_find(&s->tags, ref) : NULL;
	if (e)
		o = sobj_ref(e->val);
	pthread_rwlock_unlock(&s->img.lock);
	if (!o)
		return berr_set(err, ENOENT, "image '%s' not found", ref ? ref : "");
	*ret = (struct store_img *)o;
	return 0;
}

int store_img_lookup(struct store *s, const char *ref_or_id, struct store_img **ret,
		     struct berr **err)
{
	if (!ref_or_id || !*ref_or_id)
		return berr_set(err, EINVAL, "empty image reference");
	if (store_img_get_by_ref(s, ref_or_id, ret, NULL) >= 0)
		return 0;
	const char *hex = ref_or_id;
	if (strncmp(hex, DIGEST_PREFIX, DIGEST_PREFIX_LEN) == 0)
		hex += DIGEST_PREFIX_LEN;
	if (!id_is_prefix(hex))
		return berr_set(err, ENOENT, "image '%s' not found", ref_or_id);
	return store_img_get(s, ref_or_id, ret, err);
}

int store_img_untag(struct store *s, const char *ref, struct berr **err)
{
	if (!ref || !*ref)
		return berr_set(err, EINVAL, "empty image reference");
	pthread_mutex_lock(&s->tag_mu);
	struct store_img *img = NULL;
	int r = store_img_get_by_ref(s, ref, &img, err);
	if (r >= 0) {
		const char *const refs[] = {ref, NULL};
		struct tag_change c = {.tags = refs};
		r = sobj_update(s, &s->img, &img->o, img_remove_tags_fn, &c, err);
	}
	if (r >= 0) {
		pthread_rwlock_wrlock(&s->img.lock);
		const struct smap_ent *e = smap_find(&s->tags, ref);
		if (e && e->val == &img->o)
			smap_remove(&s->tags, ref);
		pthread_rwlock_unlock(&s->img.lock);
	}
	pthread_mutex_unlock(&s->tag_mu);
	store_img_unref(img);
	return r;
}

/* Drops every tag index entry of o; img.lock held for writing. */
static void img_unindex(struct store *s, struct sobj *o)
{
	size_t out = 0;
	for (size_t i = 0; i < s->tags.n; i++) {
		if (s->tags.v[i].val == o)
			free(s->tags.v[i].key);
		else
			s->tags.v[out++] = s->tags.v[i];
	}
	s->tags.n = out;
}

int store_img_delete(struct store *s, const char *id, struct berr **err)
{
	if (!id || !*id)
		return berr_set(err, EINVAL, "empty image ID");
	_cleanup_free_ char *key = img_key(id);
	pthread_mutex_lock(&s->tag_mu);
	int r = tbl_delete(s, &s->img, key, img_unindex, err);
	pthread_mutex_unlock(&s->tag_mu);
	return r;
}

int store_img_list(struct store *s, struct store_img ***ret, size_t *ret_n, struct berr **err)
{
	struct sobj **v;
	tbl_snapshot(&s->img, &v, ret_n);
	*ret = (struct store_img **)v;
	return 0;
}

void store_img_list_free(struct store_img **v, size_t n)
{
	sobj_list_free((struct sobj **)v, n);
}

struct store_img *store_img_ref(struct store_img *img)
{
	return img ? (struct store_img *)sobj_ref(&img->o) : NULL;
}

struct store_img *store_img_unref(struct store_img *img)
{
	if (img)
		sobj_unref(&img->o);
	return NULL;
}

const struct store_img_meta *store_img_meta(const struct store_img *img)
{
	return &img->meta;
}

const char *store_img_id(const struct store_img *img)
{
	return img->meta.id;
}

void store_img_status(struct store_img *img, struct store_img_status *ret)
{
	sobj_status_get(&img->o, ret);
}

struct img_tramp {
	int (*fn)(struct store_img_status *st, void *arg, struct berr **err);
	void *arg;
	const struct store_img *img;
};

static int img_tramp(void *p, void *arg, struct berr **err)
{
	const struct img_tramp *t = arg;
	struct store_img_status *st = p;
	int r = t->fn(st, t->arg, err);
	if (r < 0)
		return r;
	/* runs under the image lock, so reading the published status is safe */
	const struct store_img_status *cur = &t->img->status;
	if (!strv_equal(st->repo_tags, cur->repo_tags) ||
	    !strv_equal(st->repo_digests, cur->repo_digests) || st->tagged_at != cur->tagged_at)
		return berr_set(err, EINVAL,
				"image '%s': tags change only through store_img_add/untag",
				t->img->meta.id);
	return 0;
}

int store_img_update(struct store *s, struct store_img *img,
		     int (*fn)(struct store_img_status *st, void *arg, struct berr **err),
		     void *arg, struct berr **err)
{
	struct img_tramp t = {.fn = fn, .arg = arg, .img = img};
	return sobj_update(s, &s->img, &img->o, img_tramp, &t, err);
}

/* After a crash in the middle of a move a ref may sit on two images; the later tagged_at
 * wins (ties: the greater ID, for determinism) and the loser's record is rewritten. */
void store_img_load_tags(struct store *s, const struct store_opts *opts)
{
	struct sobj **losers = NULL;
	char **lost = NULL;
	size_t n_lost = 0;
	for (size_t i = 0; i < s->img.ids.n; i++) {
		struct store_img *img = s->img.ids.v[i].val;
		char **lists[2] = {img->status.repo_tags, img->status.repo_digests};
		for (size_t l = 0; l < 2; l++) {
			for (size_t k = 0; lists[l] && lists[l][k]; k++) {
				const char *ref = lists[l][k];
				struct smap_ent *e = smap_find(&s->tags, ref);
				struct store_img *loser = img;
				if (!e) {
					smap_set(&s->tags, ref, img);
					continue;
				}
				struct store_img *other = e->val;
				if (other->status.tagged_at < img->status.tagged_at ||
				    (other->status.tagged_at == img->status.tagged_at &&
				     strcmp(other->meta.id, img->meta.id) < 0)) {
					loser = other;
					e->val = img;
				}
				losers = xreallocarray(losers, n_lost + 1, sizeof(*losers));
				lost = xreallocarray(lost, n_lost + 1, sizeof(*lost));
				losers[n_lost] = &loser->o;
				lost[n_lost++] = xstrdup(ref);
			}
		}
	}
	for (size_t i = 0; i < n_lost; i++) {
		_cleanup_berr_ struct berr *e = NULL;
		const char *const refs[] = {lost[i], NULL};
		struct tag_change c = {.tags = refs};
		_cleanup_free_ char *path = tbl_record_path(&s->img, losers[i]->id);
		if (sobj_update(s, &s->img, losers[i], img_remove_tags_fn, &c, &e) < 0)
			berr_wrap(&e, "drop stale tag '%s' of image '%s'", lost[i], losers[i]->id);
		else
			berr_set(&e, EEXIST,
				 "tag '%s' was also on a newer image, dropped from '%s'", lost[i],
				 losers[i]->id);
		if (opts && opts->warn)
			opts->warn(opts->userdata, path, e);
		free(lost[i]);
	}
	free(losers);
	free(lost);
}
