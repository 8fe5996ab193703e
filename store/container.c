/* SPDX-License-Identifier: Apache-2.0 */
/* container.c - the container store: object, derived state, copies, record codec, calls. */
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

struct store_ctr {
	struct sobj o;			/* first: the generic code casts */
	struct store_ctr_meta meta;	/* immutable once published */
	struct store_ctr_status status; /* o.lock */
};

/* The state machine is drawn next to struct store_ctr_status in store.h. */
enum store_ctr_state store_ctr_state(const struct store_ctr_status *st)
{
	if (st->unknown)
		return STORE_CTR_UNKNOWN;
	if (st->finished_at)
		return STORE_CTR_EXITED;
	if (st->started_at)
		return STORE_CTR_RUNNING;
	if (st->created_at)
		return STORE_CTR_CREATED;
	return STORE_CTR_UNKNOWN;
}

const char *store_ctr_state_name(enum store_ctr_state st)
{
	static const char *const names[STORE_CTR_STATE_MAX] = {
	    [STORE_CTR_CREATED] = "CONTAINER_CREATED",
	    [STORE_CTR_RUNNING] = "CONTAINER_RUNNING",
	    [STORE_CTR_EXITED] = "CONTAINER_EXITED",
	    [STORE_CTR_UNKNOWN] = "CONTAINER_UNKNOWN",
	};
	return (unsigned)st < STORE_CTR_STATE_MAX ? names[st] : "CONTAINER_UNKNOWN";
}

/* The one copy of a status, field for field with store.h (round-trip test covers each). */
void store_ctr_status_copy(struct store_ctr_status *dst, const struct store_ctr_status *src)
{
	*dst = (struct store_ctr_status){
	    .pid = src->pid,
	    .created_at = src->created_at,
	    .started_at = src->started_at,
	    .finished_at = src->finished_at,
	    .exit_code = src->exit_code,
	    .reason = xstrdup_null(src->reason),
	    .message = xstrdup_null(src->message),
	    .shim_pid = src->shim_pid,
	    .shim_socket = xstrdup_null(src->shim_socket),
	    .unknown = src->unknown,
	    .starting = src->starting,
	    .stopping = src->stopping,
	    .removing = src->removing,
	    .updating = src->updating,
	};
	bytes_copy(&dst->resources, &src->resources);
	kv_copy(&dst->extra, &dst->n_extra, src->extra, src->n_extra);
}

void store_ctr_status_done(struct store_ctr_status *st)
{
	if (!st)
		return;
	free(st->reason);
	free(st->message);
	bytes_done(&st->resources);
	free(st->shim_socket);
	kv_free(st->extra, st->n_extra);
	*st = (struct store_ctr_status){0};
}

void store_ctr_meta_copy(struct store_ctr_meta *dst, const struct store_ctr_meta *src)
{
	*dst = (struct store_ctr_meta){
	    .id = xstrdup_null(src->id),
	    .name = xstrdup_null(src->name),
	    .sandbox_id = xstrdup_null(src->sandbox_id),
	    .metadata.name = xstrdup_null(src->metadata.name),
	    .metadata.attempt = src->metadata.attempt,
	    .image_ref = xstrdup_null(src->image_ref),
	    .image_id = xstrdup_null(src->image_id),
	    .log_path = xstrdup_null(src->log_path),
	    .bundle_dir = xstrdup_null(src->bundle_dir),
	    .rootfs_path = xstrdup_null(src->rootfs_path),
	    .stop_signal = xstrdup_null(src->stop_signal),
	    .runtime_handler = xstrdup_null(src->runtime_handler),
	    .created_at = src->created_at,
	};
	bytes_copy(&dst->config, &src->config);
	kv_copy(&dst->labels, &dst->n_labels, src->labels, src->n_labels);
	kv_copy(&dst->annotations, &dst->n_annotations, src->annotations, src->n_annotations);
	kv_copy(&dst->extra, &dst->n_extra, src->extra, src->n_extra);
}

void store_ctr_meta_done(struct store_ctr_meta *m)
{
	if (!m)
		return;
	free(m->id);
	free(m->name);
	free(m->sandbox_id);
	free(m->metadata.name);
	bytes_done(&m->config);
	free(m->image_ref);
	free(m->image_id);
	free(m->log_path);
	free(m->bundle_dir);
	free(m->rootfs_path);
	free(m->stop_signal);
	free(m->runtime_handler);
	kv_free(m->labels, m->n_labels);
	kv_free(m->annotations, m->n_annotations);
	kv_free(m->extra, m->n_extra);
	*m = (struct store_ctr_meta){0};
}

static struct json_object *ctr_status_to_json(const void *p)
{
	const struct store_ctr_status *st = p;
	struct json_object *j = json_object_new_object();
	js_add_i64(j, "pid", st->pid);
	js_add_i64(j, "created_at", st->created_at);
	js_add_i64(j, "started_at", st->started_at);
	js_add_i64(j, "finished_at", st->finished_at);
	js_add_i64(j, "exit_code", st->exit_code);
	js_add_str(j, "reason", st->reason);
	js_add_str(j, "message", st->message);
	js_add_bytes(j, "resources", &st->resources);
	js_add_i64(j, "shim_pid", st->shim_pid);
	js_add_str(j, "shim_socket", st->shim_socket);
	js_add_bool(j, "unknown", st->unknown);
	js_add_kv(j, "extra", st->extra, st->n_extra);
	return j;
}

static int ctr_status_from_json(struct json_object *j, void *p, struct berr **err)
{
	struct store_ctr_status *st = p;
	if (js_get_int(j, "pid", &st->pid, err) < 0 ||
	    js_get_i64(j, "created_at", &st->created_at, err) < 0 ||
	    js_get_i64(j, "started_at", &st->started_at, err) < 0 ||
	    js_get_i64(j, "finished_at", &st->finished_at, err) < 0 ||
	    js_get_int(j, "exit_code", &st->exit_code, err) < 0 ||
	    js_get_str(j, "reason", &st->reason, err) < 0 ||
	    js_get_str(j, "message", &st->message, err) < 0 ||
	    js_get_bytes(j, "resources", &st->resources, err) < 0 ||
	    js_get_int(j, "shim_pid", &st->shim_pid, err) < 0 ||
	    js_get_str(j, "shim_socket", &st->shim_socket, err) < 0 ||
	    js_get_bool(j, "unknown", &st->unknown, err) < 0 ||
	    js_get_kv(j, "extra", &st->extra, &st->n_extra, err) < 0)
		return -EIO;
	return 0;
}

static struct json_object *ctr_meta_to_json(const struct sobj *o)
{
	const struct store_ctr_meta *m = &((const struct store_ctr *)o)->meta;
	struct json_object *j = json_object_new_object();
	struct json_object *md = json_object_new_object();
	js_add_str(j, "id", m->id);
	js_add_str(j, "name", m->name);
	js_add_str(j, "sandbox_id", m->sandbox_id);
	js_add_str(md, "name", m->metadata.name);
	js_add_i64(md, "attempt", m->metadata.attempt);
	json_object_object_add(j, "metadata", md);
	js_add_bytes(j, "config", &m->config);
	js_add_str(j, "image_ref", m->image_ref);
	js_add_str(j, "image_id", m->image_id);
	js_add_str(j, "log_path", m->log_path);
	js_add_str(j, "bundle_dir", m->bundle_dir);
	js_add_str(j, "rootfs_path", m->rootfs_path);
	js_add_str(j, "stop_signal", m->stop_signal);
	js_add_str(j, "runtime_handler", m->runtime_handler);
	js_add_i64(j, "created_at", m->created_at);
	js_add_kv(j, "labels", m->labels, m->n_labels);
	js_add_kv(j, "annotations", m->annotations, m->n_annotations);
	js_add_kv(j, "extra", m->extra, m->n_extra);
	return j;
}

static int ctr_meta_from_json(struct json_object *j, struct store_ctr_meta *m, struct berr **err)
{
	struct json_object *md = NULL;
	if (js_get_str(j, "id", &m->id, err) < 0 || js_get_str(j, "name", &m->name, err) < 0 ||
	    js_get_str(j, "sandbox_id", &m->sandbox_id, err) < 0 ||
	    js_get_obj(j, "metadata", &md, err) < 0 ||
	    js_get_str(md, "name", &m->metadata.name, err) < 0 ||
	    js_get_u32(md, "attempt", &m->metadata.attempt, err) < 0 ||
	    js_get_bytes(j, "config", &m->config, err) < 0 ||
	    js_get_str(j, "image_ref", &m->image_ref, err) < 0 ||
	    js_get_str(j, "image_id", &m->image_id, err) < 0 ||
	    js_get_str(j, "log_path", &m->log_path, err) < 0 ||
	    js_get_str(j, "bundle_dir", &m->bundle_dir, err) < 0 ||
	    js_get_str(j, "rootfs_path", &m->rootfs_path, err) < 0 ||
	    js_get_str(j, "stop_signal", &m->stop_signal, err) < 0 ||
	    js_get_str(j, "runtime_handler", &m->runtime_handler, err) < 0 ||
	    js_get_i64(j, "created_at", &m->created_at, err) < 0 ||
	    js_get_kv(j, "labels", &m->labels, &m->n_labels, err) < 0 ||
	    js_get_kv(j, "annotations", &m->annotations, &m->n_annotations, err) < 0 ||
	    js_get_kv(j, "extra", &m->extra, &m->n_extra, err) < 0)
		return -EIO;
	return 0;
}

static int ctr_meta_check(const struct store_ctr_meta *m, struct berr **err)
{
	if (!id_is_valid(m->id))
		return berr_set(err, EINVAL, "bad container ID '%s'", m->id ? m->id : "");
	if (!m->name || !*m->name)
		return berr_set(err, EINVAL, "container '%s' has no name", m->id);
	if (!m->sandbox_id || !*m->sandbox_id)
		return berr_set(err, EINVAL, "container '%s' has no sandbox ID", m->id);
	return 0;
}

static void ctr_free(struct store_ctr *c)
{
	store_ctr_meta_done(&c->meta);
	store_ctr_status_done(&c->status);
	free(c);
}

static void ctr_obj_free(struct sobj *o)
{
	ctr_free((struct store_ctr *)o);
}

static struct sobj *ctr_obj_from_json(struct json_object *j, struct berr **err)
{
	struct store_ctr *c = xcalloc(1, sizeof(*c));
	if (ctr_meta_from_json(j, &c->meta, err) < 0 || ctr_meta_check(&c->meta, err) < 0) {
		ctr_free(c);
		return NULL;
	}
	sobj_init(&c->o, &store_kind_ctr, c->meta.id, c->meta.name);
	return &c->o;
}

static void ctr_status_copy_v(void *dst, const void *src)
{
	store_ctr_status_copy(dst, src);
}

static void ctr_status_done_v(void *st)
{
	store_ctr_status_done(st);
}

const struct store_kind store_kind_ctr = {
    .noun = "container",
    .plural = "containers",
    .status_off = offsetof(struct store_ctr, status),
    .status_size = sizeof(struct store_ctr_status),
    .status_copy = ctr_status_copy_v,
    .status_done = ctr_status_done_v,
    .status_to_json = ctr_status_to_json,
    .status_from_json = ctr_status_from_json,
    .meta_to_json = ctr_meta_to_json,
    .obj_from_json = ctr_obj_from_json,
    .obj_free = ctr_obj_free,
};

char *store_ctr_name_build(const char *ctr_name, const char *pod_name, const char *ns,
			   const char *uid, uint32_t attempt)
{
	return xasprintf("k8s_%s_%s_%s_%s_%u", ctr_name ? ctr_name : "", pod_name ? pod_name : "",
			 ns ? ns : "", uid ? uid : "", attempt);
}

int store_ctr_reserve_name(struct store *s, const char *name, const char *id, struct berr **err)
{
	return tbl_reserve_name(&s->ctr, name, id, err);
}

void store_ctr_release_name(struct store *s, const char *name, const char *id)
{
	tbl_release_name(&s->ctr, name, id);
}

int store_ctr_add(struct store *s, const struct store_ctr_meta *meta,
		  const struct store_ctr_status *status, struct store_ctr **ret, struct berr **err)
{
	int r = ctr_meta_check(meta, err);
	if (r < 0)
		return r;
	struct store_ctr *c = xcalloc(1, sizeof(*c));
	store_ctr_meta_copy(&c->meta, meta);
	if (status)
		store_ctr_status_copy(&c->status, status);
	sobj_init(&c->o, &store_kind_ctr, c->meta.id, c->meta.name);
	struct json_object *j = ctr_meta_to_json(&c->o);
	c->o.meta_json = js_to_string(j);
	json_object_put(j);
	struct sobj *o = NULL;
	r = tbl_add(s, &s->ctr, &c->o, ret ? &o : NULL, err);
	if (r < 0) {
		sobj_unref(&c->o);
		return r;
	}
	if (ret)
		*ret = (struct store_ctr *)o;
	return 0;
}

int store_ctr_get(struct store *s, const char *id_or_prefix, struct store_ctr **ret,
		  struct berr **err)
{
	struct sobj *o;
	int r = tbl_get(&s->ctr, id_or_prefix, true, &o, err);
	if (r >= 0)
		*ret = (struct store_ctr *)o;
	return r;
}

int store_ctr_get_by_name(struct store *s, const char *name, struct store_ctr **ret,
			  struct berr **err)
{
	struct sobj *o;
	int r = tbl_get_by_name(&s->ctr, name, &o, err);
	if (r >= 0)
		*ret = (struct store_ctr *)o;
	return r;
}

static bool ctr_matches(struct store_ctr *c, const struct store_ctr_filter *f,
			const char *sandbox_id)
{
	if (sandbox_id && strcmp(c->meta.sandbox_id, sandbox_id) != 0)
		return false;
	if (!kv_match(c->meta.labels, c->meta.n_labels, f->labels, f->n_labels))
		return false;
	if (f->has_state) {
		pthread_mutex_lock(&c->o.lock);
		enum store_ctr_state state = store_ctr_state(&c->status);
		pthread_mutex_unlock(&c->o.lock);
		if (state != f->state)
			return false;
	}
	return true;
}

int store_ctr_list(struct store *s, const struct store_ctr_filter *f, struct store_ctr ***ret,
		   size_t *ret_n, struct berr **err)
{
	_cleanup_free_ char *sandbox_id = NULL;
	if (f && f->sandbox_id && *f->sandbox_id) {
		/* resolved like the ID; if it doesn't resolve (say, the sandbox is already gone)
		 * it is compared exactly, so leftover containers are still found */
		sandbox_id = tbl_resolve(&s->sb, f->sandbox_id);
		if (!sandbox_id)
			sandbox_id = xstrdup(f->sandbox_id);
	}
	struct sobj **v;
	size_t n, out = 0;
	tbl_select(&s->ctr, f ? f->id : NULL, &v, &n);
	for (size_t i = 0; i < n; i++) {
		if (!f || ctr_matches((struct store_ctr *)v[i], f, sandbox_id))
			v[out++] = v[i];
		else
			sobj_unref(v[i]);
	}
	*ret = (struct store_ctr **)v;
	*ret_n = out;
	return 0;
}

void store_ctr_list_free(struct store_ctr **v, size_t n)
{
	sobj_list_free((struct sobj **)v, n);
}

int store_ctr_delete(struct store *s, const char *id, struct berr **err)
{
	return tbl_delete(s, &s->ctr, id, NULL, err);
}

struct store_ctr *store_ctr_ref(struct store_ctr *c)
{
	return c ? (struct store_ctr *)sobj_ref(&c->o) : NULL;
}

struct store_ctr *store_ctr_unref(struct store_ctr *c)
{
	if (c)
		sobj_unref(&c->o);
	return NULL;
}

const struct store_ctr_meta *store_ctr_meta(const struct store_ctr *c)
{
	return &c->meta;
}

const char *store_ctr_id(const struct store_ctr *c)
{
	return c->meta.id;
}

void store_ctr_status(struct store_ctr *c, struct store_ctr_status *ret)
{
	sobj_status_get(&c->o, ret);
}

enum store_ctr_state store_ctr_state_now(struct store_ctr *c, int64_t *ret_created_at)
{
	pthread_mutex_lock(&c->o.lock);
	enum store_ctr_state state = store_ctr_state(&c->status);
	*ret_created_at = c->status.created_at;
	pthread_mutex_unlock(&c->o.lock);
	return state;
}

struct ctr_tramp {
	int (*fn)(struct store_ctr_status *st, void *arg, struct berr **err);
	void *arg;
};

static int ctr_tramp(void *st, void *arg, struct berr **err)
{
	const struct ctr_tramp *t = arg;
	return t->fn(st, t->arg, err);
}

int store_ctr_update(struct store *s, struct store_ctr *c,
		     int (*fn)(struct store_ctr_status *st, void *arg, struct berr **err),
		     void *arg, struct berr **err)
{
	struct ctr_tramp t = {.fn = fn, .arg = arg};
	return sobj_update(s, &s->ctr, &c->o, ctr_tramp, &t, err);
}

int store_ctr_update_nosync(struct store *s, struct store_ctr *c,
			    int (*fn)(struct store_ctr_status *st, void *arg, struct berr **err),
			    void *arg, struct berr **err)
{
	struct ctr_tramp t = {.fn = fn, .arg = arg};
	return sobj_update_opt(s, &s->ctr, &c->o, ctr_tramp, &t, false, err);
}
