/* SPDX-License-Identifier: Apache-2.0 */
/* core.c - what all three kinds share: references, the status update door, the ID, prefix
 * and name indexes, checkpoints and the reload at start. Lock rules: see store.h. */
#include "store/store-internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fault.h"
#include "common/fileio.h"

void sobj_init(struct sobj *o, const struct store_kind *kind, const char *id, const char *name)
{
	o->kind = kind;
	o->id = id;
	o->name = name;
	atomic_init(&o->refs, 1);
	pthread_mutex_init(&o->lock, NULL);
}

struct sobj *sobj_ref(struct sobj *o)
{
	if (o)
		atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
	return o;
}

struct sobj *sobj_unref(struct sobj *o)
{
	if (!o)
		return NULL;
	if (atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) != 1)
		return NULL;
	pthread_mutex_destroy(&o->lock);
	free(o->meta_json);
	free(o->disk_status);
	o->kind->obj_free(o);
	return NULL;
}

void sobj_list_free(struct sobj **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sobj_unref(v[i]);
	free(v);
}

void sobj_status_get(struct sobj *o, void *ret)
{
	pthread_mutex_lock(&o->lock);
	o->kind->status_copy(ret, sobj_status_ptr(o));
	pthread_mutex_unlock(&o->lock);
}

char *tbl_record_path(const struct tbl *t, const char *id)
{
	return xasprintf("%s/%s.json", t->dir, id);
}

int sobj_checkpoint(struct store *s, struct tbl *t, struct sobj *o, const void *st, bool durable,
		    struct berr **err)
{
	struct json_object *j;
	if (o->status_on_disk) { /* reloaded: the published status is the one on disk */
		j = o->kind->status_to_json(sobj_status_ptr(o));
		o->disk_status = js_to_string(j);
		json_object_put(j);
		o->status_on_disk = false;
	}
	if (!o->meta_json) {
		j = o->kind->meta_to_json(o);
		o->meta_json = js_to_string(j);
		json_object_put(j);
	}
	j = o->kind->status_to_json(st);
	_cleanup_free_ char *status = js_to_string(j);
	json_object_put(j);
	/* in-flight flags are not part of the record: an update of only those costs no I/O */
	if (o->disk_status && strcmp(o->disk_status, status) == 0)
		return 0;
	_cleanup_free_ char *rec =
	    xasprintf("{\"version\":%d,\"kind\":\"%s\",\"meta\":%s,"
		      "\"status\":%s}\n",
		      STORE_RECORD_VERSION, o->kind->noun, o->meta_json, status);
	_cleanup_free_ char *path = tbl_record_path(t, o->id);
	size_t len = strlen(rec);
	int r = 0;
#ifdef BERTH_FAULTS
	char point[64]; /* "store.write.container": a full or failing state dir */
	snprintf(point, sizeof(point), "store.write.%s", o->kind->noun);
	r = fault_point(point, err);
#endif
	if (r == 0)
		r = s->write_hook ? s->write_hook(path, rec, len, err)
		    : durable	  ? fileio_write_atomic(path, rec, len, 0600, err)
				  : fileio_write_atomic_nosync(path, rec, len, 0600, err);
	if (r < 0)
		return berr_wrap(err, "checkpoint %s '%s'", o->kind->noun, o->id);
	free(o->disk_status);
	o->disk_status = TAKE_PTR(status);
	return 0;
}

/* The update door (style §5): copy under the lock, let fn edit the copy, checkpoint it,
 * publish it. Any failure leaves status and record as they were. o->lock held. */
static int update_locked(struct store *s, struct tbl *t, struct sobj *o, void *copy,
			 int (*fn)(void *st, void *arg, struct berr **err), void *arg, bool durable,
			 struct berr **err)
{
	const struct store_kind *k = o->kind;
	if (o->deleted)
		return berr_set(err, ENOENT, "%s '%s' not found", k->noun, o->id);
	k->status_copy(copy, sobj_status_ptr(o));
	int r = fn(copy, arg, err);
	if (r >= 0)
		r = sobj_checkpoint(s, t, o, copy, durable, err);
	if (r < 0) {
		k->status_done(copy);
		return r;
	}
	/* publish: the old strings go, the copy's become the status */
	k->status_done(sobj_status_ptr(o));
	memcpy(sobj_status_ptr(o), copy, k->status_size);
	return 0;
}

int sobj_update(struct store *s, struct tbl *t, struct sobj *o,
		int (*fn)(void *st, void *arg, struct berr **err), void *arg, struct berr **err)
{
	return sobj_update_opt(s, t, o, fn, arg, true, err);
}

int sobj_update_opt(struct store *s, struct tbl *t, struct sobj *o,
		    int (*fn)(void *st, void *arg, struct berr **err), void *arg, bool durable,
		    struct berr **err)
{
	_cleanup_free_ void *copy = xcalloc(1, o->kind->status_size);
	pthread_mutex_lock(&o->lock);
	int r = update_locked(s, t, o, copy, fn, arg, durable, err);
	pthread_mutex_unlock(&o->lock);
	return r;
}

/* The object for key: exact, or the only one key is a prefix of. t->lock held. */
static struct sobj *resolve_locked(struct tbl *t, const char *key, bool prefix, size_t *ret_n)
{
	size_t klen = strlen(key), n = 0;
	struct sobj *found = NULL;
	for (size_t i = smap_lower(&t->ids, key); i < t->ids.n; i++) {
		const struct smap_ent *e = &t->ids.v[i];
		if (strncmp(e->key, key, klen) != 0)
			break;
		if (!e->val)
			continue; /* an add in progress */
		if (e->key[klen] == '\0') {
			*ret_n = 1;
			return e->val;
		}
		if (!prefix)
			break;
		n++;
		if (!found)
			found = e->val;
	}
	*ret_n = n;
	return n == 1 ? found : NULL;
}

int tbl_get(struct tbl *t, const char *key, bool prefix, struct sobj **ret, struct berr **err)
{
	const struct store_kind *k = t->kind;
	if (!key || !*key)
		return berr_set(err, EINVAL, "empty %s ID", k->noun);
	size_t n;
	pthread_rwlock_rdlock(&t->lock);
	struct sobj *o = sobj_ref(resolve_locked(t, key, prefix, &n));
	pthread_rwlock_unlock(&t->lock);
	if (o) {
		*ret = o;
		return 0;
	}
	if (n > 1)
		return berr_set(err, EINVAL, "ambiguous prefix '%s' matches %zu %s", key, n,
				k->plural);
	return berr_set(err, ENOENT, "%s '%s' not found", k->noun, key);
}

char *tbl_resolve(struct tbl *t, const char *key)
{
	size_t n;
	char *id = NULL;
	pthread_rwlock_rdlock(&t->lock);
	struct sobj *o = resolve_locked(t, key, true, &n);
	if (o)
		id = xstrdup(o->id);
	pthread_rwlock_unlock(&t->lock);
	return id;
}

int tbl_get_by_name(struct tbl *t, const char *name, struct sobj **ret, struct berr **err)
{
	struct sobj *o = NULL;
	pthread_rwlock_rdlock(&t->lock);
	const struct smap_ent *e = name ? smap_find(&t->names, name) : NULL;
	const struct smap_ent *oe = e ? smap_find(&t->ids, e->val) : NULL;
	if (oe)
		o = sobj_ref(oe->val);
	pthread_rwlock_unlock(&t->lock);
	if (!o)
		return berr_set(err, ENOENT, "no %s named '%s'", t->kind->noun, name ? name : "");
	*ret = o;
	return 0;
}

void tbl_snapshot(struct tbl *t, struct sobj ***ret, size_t *ret_n)
{
	pthread_rwlock_rdlock(&t->lock);
	struct sobj **v = xcalloc(t->ids.n + 1, sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < t->ids.n; i++)
		if (t->ids.v[i].val)
			v[n++] = sobj_ref(t->ids.v[i].val);
	pthread_rwlock_unlock(&t->lock);
	*ret = v;
	*ret_n = n;
}

void tbl_select(struct tbl *t, const char *id, struct sobj ***ret, size_t *ret_n)
{
	if (!id || !*id) {
		tbl_snapshot(t, ret, ret_n);
		return;
	}
	/* as containerd's normalizeContainerFilter: a full ID or unique prefix selects that
	 * object; an unknown or ambiguous one selects nothing */
	size_t n;
	struct sobj **v = xcalloc(2, sizeof(*v));
	pthread_rwlock_rdlock(&t->lock);
	v[0] = sobj_ref(resolve_locked(t, id, true, &n));
	pthread_rwlock_unlock(&t->lock);
	*ret = v;
	*ret_n = v[0] ? 1 : 0;
}

static int name_taken(struct tbl *t, const char *name, const char *holder, struct berr **err)
{
	return berr_set(err, EEXIST, "name '%s' is reserved for %s '%s'", name, t->kind->noun,
			holder);
}

int tbl_reserve_name(struct tbl *t, const char *name, const char *id, struct berr **err)
{
	if (!name || !*name || !id || !*id)
		return berr_set(err, EINVAL, "empty %s name or ID", t->kind->noun);
	int r = 0;
	pthread_rwlock_wrlock(&t->lock);
	const struct smap_ent *e = smap_find(&t->names, name);
	if (!e)
		smap_set(&t->names, name, xstrdup(id));
	else if (strcmp(e->val, id) != 0)
		r = name_taken(t, name, e->val, err);
	pthread_rwlock_unlock(&t->lock);
	return r;
}

void tbl_release_name(struct tbl *t, const char *name, const char *id)
{
	if (!name || !id)
		return;
	pthread_rwlock_wrlock(&t->lock);
	const struct smap_ent *e = smap_find(&t->names, name);
	/* an object being added or published keeps its name until it is deleted (a second,
	 * failed add of the same ID must not free the first one's name) */
	bool in_use = smap_find(&t->ids, id) != NULL;
	if (e && strcmp(e->val, id) == 0 && !in_use)
		free(smap_remove(&t->names, name));
	pthread_rwlock_unlock(&t->lock);
}

int tbl_add(struct store *s, struct tbl *t, struct sobj *o, struct sobj **ret, struct berr **err)
{
	const struct store_kind *k = t->kind;
	bool reserved_here = false;
	int r = 0;

	pthread_rwlock_wrlock(&t->lock);
	const struct smap_ent *e = o->name ? smap_find(&t->names, o->name) : NULL;
	if (smap_find(&t->ids, o->id))
		r = berr_set(err, EEXIST, "%s '%s' already exists", k->noun, o->id);
	else if (e && strcmp(e->val, o->id) != 0)
		r = name_taken(t, o->name, e->val, err);
	if (r == 0) {
		if (o->name && !e) {
			smap_set(&t->names, o->name, xstrdup(o->id));
			reserved_here = true;
		}
		smap_set(&t->ids, o->id, NULL); /* claims the ID while the record is written */
	}
	pthread_rwlock_unlock(&t->lock);
	if (r < 0)
		return r;

	/* o is not published yet: nobody else can see it, so no object lock is needed */
	r = sobj_checkpoint(s, t, o, sobj_status_ptr(o), true, err);

	pthread_rwlock_wrlock(&t->lock);
	if (r < 0) {
		smap_remove(&t->ids, o->id);
		if (reserved_here)
			free(smap_remove(&t->names, o->name));
	} else {
		smap_set(&t->ids, o->id, o); /* the store's reference */
		if (ret)
			*ret = sobj_ref(o);
	}
	pthread_rwlock_unlock(&t->lock);
	return r;
}

int tbl_delete(struct store *s, struct tbl *t, const char *id,
	       void (*unindex)(struct store *s, struct sobj *o), struct berr **err)
{
	const struct store_kind *k = t->kind;
	struct sobj *o = NULL;
	int r;

	if (!id || !*id)
		return berr_set(err, EINVAL, "empty %s ID", k->noun);
	r = tbl_get(t, id, false, &o, err);
	if (r < 0)
		return r;

	_cleanup_free_ char *path = tbl_record_path(t, o->id);
	pthread_mutex_lock(&o->lock);
	if (o->deleted)
		r = berr_set(err, ENOENT, "%s '%s' not found", k->noun, o->id);
	else if (unlink(path) < 0 && errno != ENOENT)
		r = berr_set_errno(err, errno, "remove '%s'", path);
	else
		o->deleted = true; /* a later update must not write the record back */
	pthread_mutex_unlock(&o->lock);
	if (r < 0) {
		sobj_unref(o);
		return r;
	}

	pthread_rwlock_wrlock(&t->lock);
	smap_remove(&t->ids, o->id);
	const struct smap_ent *e = o->name ? smap_find(&t->names, o->name) : NULL;
	if (e && strcmp(e->val, o->id) == 0)
		free(smap_remove(&t->names, o->name));
	if (unindex)
		unindex(s, o);
	pthread_rwlock_unlock(&t->lock);

	/* durability of the unlink; the record is gone either way, so a failure changes nothing */
	(void)fileio_fsync_dir(t->dir, NULL);
	sobj_unref(o); /* the store's reference */
	sobj_unref(o);
	return 0;
}

int tbl_init(struct tbl *t, const struct store_kind *kind, const char *root, struct berr **err)
{
	*t = (struct tbl){.kind = kind};
	pthread_rwlock_init(&t->lock, NULL);
	t->dir = xasprintf("%s/store/%s", root, kind->plural);
	return fileio_mkdir_p(t->dir, 0700, err);
}

void tbl_done(struct tbl *t)
{
	if (!t->kind)
		return;
	for (size_t i = 0; i < t->ids.n; i++)
		sobj_unref(t->ids.v[i].val);
	smap_done(&t->ids);
	for (size_t i = 0; i < t->names.n; i++)
		free(t->names.v[i].val);
	smap_done(&t->names);
	free(t->dir);
	pthread_rwlock_destroy(&t->lock);
	t->kind = NULL;
}

static void warn(const struct store_opts *opts, const char *path, const struct berr *e)
{
	if (opts && opts->warn)
		opts->warn(opts->userdata, path, e);
}

DEFINE_CLEANUP_FUNC(struct json_object *, json_object_put)

static int load_record(struct tbl *t, int dirfd, const char *dname, const char *id,
		       struct sobj **ret, struct berr **err)
{
	const struct store_kind *k = t->kind;
	_cleanup_free_ char *data = NULL;
	int r = fileio_read_allat(dirfd, dname, STORE_RECORD_MAX, &data, NULL, err);
	if (r < 0)
		return r;
	enum json_tokener_error jerr;
	_cleanup_(json_object_putp) struct json_object *j = json_tokener_parse_verbose(data, &jerr);
	if (!j || !json_object_is_type(j, json_type_object))
		return berr_set(err, EIO, "corrupt record: %s",
				j ? "not a JSON object" : json_tokener_error_desc(jerr));
	int version = 0;
	_cleanup_free_ char *kind = NULL;
	if (js_get_int(j, "version", &version, err) < 0 || js_get_str(j, "kind", &kind, err) < 0)
		return berr_wrap(err, "corrupt record");
	if (version > STORE_RECORD_VERSION)
		return berr_set(err, EPROTONOSUPPORT, "record version %d is newer than %d", version,
				STORE_RECORD_VERSION);
	if (version < 1)
		return berr_set(err, EIO, "corrupt record: bad version %d", version);
	if (!kind || strcmp(kind, k->noun) != 0)
		return berr_set(err, EIO, "corrupt record: kind '%s' is not '%s'", kind ? kind : "",
				k->noun);
	struct json_object *jm, *js;
	if (js_get_obj(j, "meta", &jm, err) < 0 || js_get_obj(j, "status", &js, err) < 0)
		return berr_wrap(err, "corrupt record");
	struct sobj *o = k->obj_from_json(jm, err);
	if (!o)
		return berr_wrap(err, "corrupt record");
	r = k->status_from_json(js, sobj_status_ptr(o), err);
	if (r >= 0 && strcmp(o->id, id) != 0)
		r = berr_set(err, EIO, "record of '%s' in the file of '%s'", o->id, id);
	if (r < 0) {
		sobj_unref(o);
		return berr_wrap(err, "corrupt record");
	}
	/* meta_json and disk_status are built at the first checkpoint (sobj_checkpoint) */
	o->status_on_disk = true;
	*ret = o;
	return 0;
}

static int load_entry(struct tbl *t, int dirfd, const char *dname, const struct store_opts *opts)
{
	_cleanup_berr_ struct berr *e = NULL;
	_cleanup_free_ char *path = xasprintf("%s/%s", t->dir, dname);
	size_t len = strlen(dname);

	if (strstr(dname, ".tmp.")) {
		/* fileio_write_atomic() died before its rename: the record it replaced is intact */
		if (unlink(path) < 0)
			berr_set_errno(&e, errno, "remove leftover temp file");
		else
			berr_set(&e, EIO, "leftover temp file of an interrupted write, removed");
		warn(opts, path, e);
		return 0;
	}
	if (len <= 5 || strcmp(dname + len - 5, ".json") != 0) {
		berr_set(&e, EINVAL, "not a %s record, ignoring", t->kind->noun);
		warn(opts, path, e);
		return 0;
	}
	_cleanup_free_ char *id = xstrndup(dname, len - 5);
	struct sobj *o = NULL;
	if (load_record(t, dirfd, dname, id, &o, &e) < 0) {
		berr_wrap(&e, "skip %s record", t->kind->noun);
		warn(opts, path, e);
		return 0;
	}
	const struct smap_ent *ne = o->name ? smap_find(&t->names, o->name) : NULL;
	if (ne) {
		berr_set(&e, EEXIST, "skip %s record: name '%s' already held by '%s'",
			 t->kind->noun, o->name, (const char *)ne->val);
		warn(opts, path, e);
		sobj_unref(o);
		return 0;
	}
	if (o->name)
		smap_set(&t->names, o->name, xstrdup(o->id));
	smap_set(&t->ids, o->id, o);
	return 1;
}

int tbl_load(struct store *s, struct tbl *t, const struct store_opts *opts)
{
	/* single-threaded: the store is not shared before store_open() returns */
	DIR *d = opendir(t->dir);
	if (!d) {
		_cleanup_berr_ struct berr *e = NULL;
		berr_set_errno(&e, errno, "open store dir");
		warn(opts, t->dir, e);
		return 0;
	}
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		n += load_entry(t, dirfd(d), de->d_name, opts);
	}
	closedir(d);
	return n;
}

int store_open(const char *state_dir, const struct store_opts *opts, struct store **ret_store,
	       struct berr **err)
{
	if (!state_dir || !*state_dir)
		return berr_set(err, EINVAL, "empty state dir");
	struct store *s = xcalloc(1, sizeof(*s));
	pthread_mutex_init(&s->tag_mu, NULL);
	int r = tbl_init(&s->sb, &store_kind_sb, state_dir, err);
	if (r >= 0)
		r = tbl_init(&s->ctr, &store_kind_ctr, state_dir, err);
	if (r >= 0)
		r = tbl_init(&s->img, &store_kind_img, state_dir, err);
	if (r < 0) {
		store_free(s);
		return berr_wrap(err, "open store in '%s'", state_dir);
	}
	tbl_load(s, &s->sb, opts);
	tbl_load(s, &s->ctr, opts);
	tbl_load(s, &s->img, opts);
	store_img_load_tags(s, opts);
	*ret_store = s;
	return 0;
}

struct store *store_free(struct store *s)
{
	if (!s)
		return NULL;
	tbl_done(&s->sb);
	tbl_done(&s->ctr);
	tbl_done(&s->img);
	smap_done(&s->tags);
	pthread_mutex_destroy(&s->tag_mu);
	free(s);
	return NULL;
}
