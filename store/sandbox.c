/* SPDX-License-Identifier: Apache-2.0 */
/* sandbox.c - the pod sandbox store: object, copies, record codec, public calls. */
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

struct store_sb {
	struct sobj o;		       /* first: the generic code casts */
	struct store_sb_meta meta;     /* immutable once published */
	struct store_sb_status status; /* o.lock */
};

/* The one copy of a status; keep it next to the struct in store.h, field for field (the
 * round-trip test in test_store.c checks every field). */
void store_sb_status_copy(struct store_sb_status *dst, const struct store_sb_status *src)
{
	*dst = (struct store_sb_status){
	    .state = src->state,
	    .ip = xstrdup_null(src->ip),
	    .additional_ips = strv_copy(src->additional_ips),
	    .netns_path = xstrdup_null(src->netns_path),
	    .ipc_ns_path = xstrdup_null(src->ipc_ns_path),
	    .uts_ns_path = xstrdup_null(src->uts_ns_path),
	    .pid_ns_path = xstrdup_null(src->pid_ns_path),
	    .init_pid = src->init_pid,
	    .network_ready = src->network_ready,
	    .stopping = src->stopping,
	    .removing = src->removing,
	};
	kv_copy(&dst->extra, &dst->n_extra, src->extra, src->n_extra);
}

void store_sb_status_done(struct store_sb_status *st)
{
	if (!st)
		return;
	free(st->ip);
	strv_free(st->additional_ips);
	free(st->netns_path);
	free(st->ipc_ns_path);
	free(st->uts_ns_path);
	free(st->pid_ns_path);
	kv_free(st->extra, st->n_extra);
	*st = (struct store_sb_status){0};
}

void store_sb_meta_copy(struct store_sb_meta *dst, const struct store_sb_meta *src)
{
	*dst = (struct store_sb_meta){
	    .id = xstrdup_null(src->id),
	    .name = xstrdup_null(src->name),
	    .metadata.name = xstrdup_null(src->metadata.name),
	    .metadata.uid = xstrdup_null(src->metadata.uid),
	    .metadata.namespace = xstrdup_null(src->metadata.namespace),
	    .metadata.attempt = src->metadata.attempt,
	    .runtime_handler = xstrdup_null(src->runtime_handler),
	    .created_at = src->created_at,
	    .log_directory = xstrdup_null(src->log_directory),
	    .run_dir = xstrdup_null(src->run_dir),
	    .state_dir = xstrdup_null(src->state_dir),
	};
	bytes_copy(&dst->config, &src->config);
	kv_copy(&dst->labels, &dst->n_labels, src->labels, src->n_labels);
	kv_copy(&dst->annotations, &dst->n_annotations, src->annotations, src->n_annotations);
	kv_copy(&dst->extra, &dst->n_extra, src->extra, src->n_extra);
}

void store_sb_meta_done(struct store_sb_meta *m)
{
	if (!m)
		return;
	free(m->id);
	free(m->name);
	free(m->metadata.name);
	free(m->metadata.uid);
	free(m->metadata.namespace);
	free(m->runtime_handler);
	bytes_done(&m->config);
	kv_free(m->labels, m->n_labels);
	kv_free(m->annotations, m->n_annotations);
	free(m->log_directory);
	free(m->run_dir);
	free(m->state_dir);
	kv_free(m->extra, m->n_extra);
	*m = (struct store_sb_meta){0};
}

static const char *const sb_state_names[STORE_SB_STATE_MAX] = {
    [STORE_SB_READY] = "SANDBOX_READY",
    [STORE_SB_NOTREADY] = "SANDBOX_NOTREADY",
};

static struct json_object *sb_status_to_json(const void *p)
{
	const struct store_sb_status *st = p;
	struct json_object *j = json_object_new_object();
	unsigned state = st->state < STORE_SB_STATE_MAX ? st->state : STORE_SB_NOTREADY;
	js_add_str(j, "state", sb_state_names[state]);
	js_add_str(j, "ip", st->ip);
	js_add_strv(j, "additional_ips", st->additional_ips);
	js_add_str(j, "netns_path", st->netns_path);
	js_add_str(j, "ipc_ns_path", st->ipc_ns_path);
	js_add_str(j, "uts_ns_path", st->uts_ns_path);
	js_add_str(j, "pid_ns_path", st->pid_ns_path);
	js_add_i64(j, "init_pid", st->init_pid);
	js_add_bool(j, "network_ready", st->network_ready);
	js_add_kv(j, "extra", st->extra, st->n_extra);
	return j;
}

static int sb_status_from_json(struct json_object *j, void *p, struct berr **err)
{
	struct store_sb_status *st = p;
	_cleanup_free_ char *state = NULL;
	if (js_get_str(j, "state", &state, err) < 0 || js_get_str(j, "ip", &st->ip, err) < 0 ||
	    js_get_strv(j, "additional_ips", &st->additional_ips, err) < 0 ||
	    js_get_str(j, "netns_path", &st->netns_path, err) < 0 ||
	    js_get_str(j, "ipc_ns_path", &st->ipc_ns_path, err) < 0 ||
	    js_get_str(j, "uts_ns_path", &st->uts_ns_path, err) < 0 ||
	    js_get_str(j, "pid_ns_path", &st->pid_ns_path, err) < 0 ||
	    js_get_int(j, "init_pid", &st->init_pid, err) < 0 ||
	    js_get_bool(j, "network_ready", &st->network_ready, err) < 0 ||
	    js_get_kv(j, "extra", &st->extra, &st->n_extra, err) < 0)
		return -EIO;
	for (unsigned i = 0; i < STORE_SB_STATE_MAX; i++)
		if (state && strcmp(state, sb_state_names[i]) == 0) {
			st->state = i;
			return 0;
		}
	return berr_set(err, EIO, "bad sandbox state '%s'", state ? state : "");
}

static struct json_object *sb_meta_to_json(const struct sobj *o)
{
	const struct store_sb_meta *m = &((const struct store_sb *)o)->meta;
	struct json_object *j = json_object_new_object();
	struct json_object *md = json_object_new_object();
	js_add_str(j, "id", m->id);
	js_add_str(j, "name", m->name);
	js_add_str(md, "name", m->metadata.name);
	js_add_str(md, "uid", m->metadata.uid);
	js_add_str(md, "namespace", m->metadata.namespace);
	js_add_i64(md, "attempt", m->metadata.attempt);
	json_object_object_add(j, "metadata", md);
	js_add_str(j, "runtime_handler", m->runtime_handler);
	js_add_bytes(j, "config", &m->config);
	js_add_kv(j, "labels", m->labels, m->n_labels);
	js_add_kv(j, "annotations", m->annotations, m->n_annotations);
	js_add_i64(j, "created_at", m->created_at);
	js_add_str(j, "log_directory", m->log_directory);
	js_add_str(j, "run_dir", m->run_dir);
	js_add_str(j, "state_dir", m->state_dir);
	js_add_kv(j, "extra", m->extra, m->n_extra);
	return j;
}

static void sb_free(struct store_sb *sb)
{
	store_sb_meta_done(&sb->meta);
	store_sb_status_done(&sb->status);
	free(sb);
}

static void sb_obj_free(struct sobj *o)
{
	sb_free((struct store_sb *)o);
}

static int sb_meta_from_json(struct json_object *j, struct store_sb_meta *m, struct berr **err)
{
	struct json_object *md = NULL;
	if (js_get_str(j, "id", &m->id, err) < 0 || js_get_str(j, "name", &m->name, err) < 0 ||
	    js_get_obj(j, "metadata", &md, err) < 0 ||
	    js_get_str(md, "name", &m->metadata.name, err) < 0 ||
	    js_get_str(md, "uid", &m->metadata.uid, err) < 0 ||
	    js_get_str(md, "namespace", &m->metadata.namespace, err) < 0 ||
	    js_get_u32(md, "attempt", &m->metadata.attempt, err) < 0 ||
	    js_get_str(j, "runtime_handler", &m->runtime_handler, err) < 0 ||
	    js_get_bytes(j, "config", &m->config, err) < 0 ||
	    js_get_kv(j, "labels", &m->labels, &m->n_labels, err) < 0 ||
	    js_get_kv(j, "annotations", &m->annotations, &m->n_annotations, err) < 0 ||
	    js_get_i64(j, "created_at", &m->created_at, err) < 0 ||
	    js_get_str(j, "log_directory", &m->log_directory, err) < 0 ||
	    js_get_str(j, "run_dir", &m->run_dir, err) < 0 ||
	    js_get_str(j, "state_dir", &m->state_dir, err) < 0 ||
	    js_get_kv(j, "extra", &m->extra, &m->n_extra, err) < 0)
		return -EIO;
	return 0;
}

static int sb_meta_check(const struct store_sb_meta *m, struct berr **err)
{
	if (!id_is_valid(m->id))
		return berr_set(err, EINVAL, "bad sandbox ID '%s'", m->id ? m->id : "");
	if (!m->name || !*m->name)
		return berr_set(err, EINVAL, "sandbox '%s' has no name", m->id);
	return 0;
}

static struct store_sb *sb_new(void)
{
	return xcalloc(1, sizeof(struct store_sb));
}

static void sb_publishable(struct store_sb *sb)
{
	sobj_init(&sb->o, &store_kind_sb, sb->meta.id, sb->meta.name);
	struct json_object *j = sb_meta_to_json(&sb->o);
	sb->o.meta_json = js_to_string(j);
	json_object_put(j);
}

static struct sobj *sb_obj_from_json(struct json_object *j, struct berr **err)
{
	struct store_sb *sb = sb_new();
	if (sb_meta_from_json(j, &sb->meta, err) < 0 || sb_meta_check(&sb->meta, err) < 0) {
		sb_free(sb);
		return NULL;
	}
	sobj_init(&sb->o, &store_kind_sb, sb->meta.id, sb->meta.name);
	return &sb->o;
}

static void sb_status_copy_v(void *dst, const void *src)
{
	store_sb_status_copy(dst, src);
}

static void sb_status_done_v(void *st)
{
	store_sb_status_done(st);
}

const struct store_kind store_kind_sb = {
    .noun = "sandbox",
    .plural = "sandboxes",
    .status_off = offsetof(struct store_sb, status),
    .status_size = sizeof(struct store_sb_status),
    .status_copy = sb_status_copy_v,
    .status_done = sb_status_done_v,
    .status_to_json = sb_status_to_json,
    .status_from_json = sb_status_from_json,
    .meta_to_json = sb_meta_to_json,
    .obj_from_json = sb_obj_from_json,
    .obj_free = sb_obj_free,
};

char *store_sb_name_build(const char *name, const char *ns, const char *uid, uint32_t attempt)
{
	return xasprintf("k8s_%s_%s_%s_%u", name ? name : "", ns ? ns : "", uid ? uid : "",
			 attempt);
}

int store_sb_reserve_name(struct store *s, const char *name, const char *id, struct berr **err)
{
	return tbl_reserve_name(&s->sb, name, id, err);
}

void store_sb_release_name(struct store *s, const char *name, const char *id)
{
	tbl_release_name(&s->sb, name, id);
}

int store_sb_add(struct store *s, const struct store_sb_meta *meta,
		 const struct store_sb_status *status, struct store_sb **ret, struct berr **err)
{
	int r = sb_meta_check(meta, err);
	if (r < 0)
		return r;
	if (status && status->state >= STORE_SB_STATE_MAX)
		return berr_set(err, EINVAL, "bad sandbox state %d", (int)status->state);
	struct store_sb *sb = sb_new();
	store_sb_meta_copy(&sb->meta, meta);
	if (status)
		store_sb_status_copy(&sb->status, status);
	sb_publishable(sb);
	struct sobj *o = NULL;
	r = tbl_add(s, &s->sb, &sb->o, ret ? &o : NULL, err);
	if (r < 0) {
		sobj_unref(&sb->o);
		return r;
	}
	if (ret)
		*ret = (struct store_sb *)o;
	return 0;
}

int store_sb_get(struct store *s, const char *id_or_prefix, struct store_sb **ret,
		 struct berr **err)
{
	struct sobj *o;
	int r = tbl_get(&s->sb, id_or_prefix, true, &o, err);
	if (r >= 0)
		*ret = (struct store_sb *)o;
	return r;
}

int store_sb_get_by_name(struct store *s, const char *name, struct store_sb **ret,
			 struct berr **err)
{
	struct sobj *o;
	int r = tbl_get_by_name(&s->sb, name, &o, err);
	if (r >= 0)
		*ret = (struct store_sb *)o;
	return r;
}

static bool sb_matches(struct store_sb *sb, const struct store_sb_filter *f)
{
	if (!kv_match(sb->meta.labels, sb->meta.n_labels, f->labels, f->n_labels))
		return false;
	if (f->has_state) {
		pthread_mutex_lock(&sb->o.lock);
		enum store_sb_state state = sb->status.state;
		pthread_mutex_unlock(&sb->o.lock);
		if (state != f->state)
			return false;
	}
	return true;
}

int store_sb_list(struct store *s, const struct store_sb_filter *f, struct store_sb ***ret,
		  size_t *ret_n, struct berr **err)
{
	struct sobj **v;
	size_t n, out = 0;
	tbl_select(&s->sb, f ? f->id : NULL, &v, &n);
	for (size_t i = 0; i < n; i++) {
		if (!f || sb_matches((struct store_sb *)v[i], f))
			v[out++] = v[i];
		else
			sobj_unref(v[i]);
	}
	*ret = (struct store_sb **)v;
	*ret_n = out;
	return 0;
}

void store_sb_list_free(struct store_sb **v, size_t n)
{
	sobj_list_free((struct sobj **)v, n);
}

int store_sb_delete(struct store *s, const char *id, struct berr **err)
{
	return tbl_delete(s, &s->sb, id, NULL, err);
}

struct store_sb *store_sb_ref(struct store_sb *sb)
{
	return sb ? (struct store_sb *)sobj_ref(&sb->o) : NULL;
}

struct store_sb *store_sb_unref(struct store_sb *sb)
{
	if (sb)
		sobj_unref(&sb->o);
	return NULL;
}

const struct store_sb_meta *store_sb_meta(const struct store_sb *sb)
{
	return &sb->meta;
}

const char *store_sb_id(const struct store_sb *sb)
{
	return sb->meta.id;
}

void store_sb_status(struct store_sb *sb, struct store_sb_status *ret)
{
	sobj_status_get(&sb->o, ret);
}

struct sb_tramp {
	int (*fn)(struct store_sb_status *st, void *arg, struct berr **err);
	void *arg;
};

static int sb_tramp(void *st, void *arg, struct berr **err)
{
	const struct sb_tramp *t = arg;
	int r = t->fn(st, t->arg, err);
	if (r >= 0 && ((struct store_sb_status *)st)->state >= STORE_SB_STATE_MAX)
		return berr_set(err, EINVAL, "bad sandbox state %d",
				(int)((struct store_sb_status *)st)->state);
	return r;
}

int store_sb_update(struct store *s, struct store_sb *sb,
		    int (*fn)(struct store_sb_status *st, void *arg, struct berr **err), void *arg,
		    struct berr **err)
{
	struct sb_tramp t = {.fn = fn, .arg = arg};
	return sobj_update(s, &s->sb, &sb->o, sb_tramp, &t, err);
}
