/* SPDX-License-Identifier: Apache-2.0 */
/* store-internal.h - shared parts of the store component: the generic object head, the
 * per-kind table (index + names + persistence), the sorted string map and the JSON codec.
 * Only the store sources and its unit tests include this. Lock rules are those of store.h. */
#ifndef BERTH_STORE_INTERNAL_H
#define BERTH_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "common/strv.h"

struct json_object;

/* On-disk record format version. Compatibility: a reader accepts every version up to its own
 * and skips (with a warning) records of a newer version, so a downgrade never misreads state.
 * Fields are only ever added; a missing field reads as zero/NULL. */
#define STORE_RECORD_VERSION 1
/* Largest record read back at load (the opaque configs dominate). */
#define STORE_RECORD_MAX (16u << 20)

/* Sorted array map from string keys (owned copies) to borrowed values. Binary search gives
 * exact and prefix lookups in O(log n); insert/remove are a memmove. Not thread-safe: the
 * owner's lock guards it. */
struct smap_ent {
	char *key;
	void *val;
};
struct smap {
	struct smap_ent *v;
	size_t n, cap;
};
/* Index of the first entry whose key is >= key. */
size_t smap_lower(const struct smap *m, const char *key);
struct smap_ent *smap_find(const struct smap *m, const char *key);
/* Inserts or replaces; returns the previous value (NULL if new). */
void *smap_set(struct smap *m, const char *key, void *val);
/* Removes key; returns its value (NULL if absent). */
void *smap_remove(struct smap *m, const char *key);
void smap_done(struct smap *m);

struct store;
struct tbl;
struct sobj;

/* What distinguishes sandboxes, containers and images for the generic code. */
struct store_kind {
	const char *noun;   /* "container", for messages */
	const char *plural; /* "containers": directory name and messages */
	size_t status_off;  /* offset of the status in the typed object */
	size_t status_size;
	void (*status_copy)(void *dst, const void *src);
	void (*status_done)(void *st);
	struct json_object *(*status_to_json)(const void *st);
	int (*status_from_json)(struct json_object *j, void *st, struct berr **err);
	struct json_object *(*meta_to_json)(const struct sobj *o);
	/* A new unpublished object (refs 1, zero status) from a record's meta. */
	struct sobj *(*obj_from_json)(struct json_object *meta, struct berr **err);
	/* Frees meta, status and the object (refs reached 0). */
	void (*obj_free)(struct sobj *o);
};

/* Head of every typed object (first member). */
struct sobj {
	const struct store_kind *kind;
	const char *id;	  /* borrowed from meta; immutable */
	const char *name; /* borrowed from meta (NULL for images); immutable */
	/* lock: serialized meta, built at the first checkpoint (before publish for a new
	 * object; a reloaded one gets it at its first update, so a restart parses records
	 * without writing them back out) */
	char *meta_json;
	atomic_int refs;
	pthread_mutex_t lock; /* guards the typed status, meta_json, disk_status and deleted */
	char *disk_status;    /* lock: status JSON of the last checkpoint */
	bool status_on_disk;  /* lock: disk_status not built yet, the status is what's on disk */
	bool deleted;	      /* lock: record removed; updates fail with -ENOENT */
};

/* One kind's index. lock guards ids, names (and, for images, store->tags). */
struct tbl {
	pthread_rwlock_t lock;
	const struct store_kind *kind;
	char *dir;	   /* immutable after open */
	struct smap ids;   /* lock: id -> struct sobj * holding one store reference; NULL value =
			    * an add in progress (reserved ID, invisible to readers) */
	struct smap names; /* lock: reserved name -> owned copy of the holder's ID */
};

struct store {
	struct tbl sb, ctr, img;
	/* Serializes image tag/digest changes (add, untag, delete) so that moves are atomic
	 * with respect to each other. Taken before img.lock. */
	pthread_mutex_t tag_mu;
	struct smap tags; /* img.lock: repo tag or digest -> struct sobj * (no reference) */
	/* Test seam: replaces fileio_write_atomic() for checkpoints. Set before use. */
	int (*write_hook)(const char *path, const void *data, size_t len, struct berr **err);
};

extern const struct store_kind store_kind_sb, store_kind_ctr, store_kind_img;

static inline void *sobj_status_ptr(struct sobj *o)
{
	return (char *)o + o->kind->status_off;
}

/* Generic object and table operations (core.c). */
void sobj_init(struct sobj *o, const struct store_kind *kind, const char *id, const char *name);
struct sobj *sobj_ref(struct sobj *o);
struct sobj *sobj_unref(struct sobj *o);
void sobj_status_get(struct sobj *o, void *ret);
int sobj_update(struct store *s, struct tbl *t, struct sobj *o,
		int (*fn)(void *st, void *arg, struct berr **err), void *arg, struct berr **err);
/* The same; durable false: the record is replaced atomically but not fsync'ed. */
int sobj_update_opt(struct store *s, struct tbl *t, struct sobj *o,
		    int (*fn)(void *st, void *arg, struct berr **err), void *arg, bool durable,
		    struct berr **err);
int tbl_reserve_name(struct tbl *t, const char *name, const char *id, struct berr **err);
void tbl_release_name(struct tbl *t, const char *name, const char *id);
/* Publishes o (refs 1 = the store's) with initial status already set; on failure the caller
 * still owns o. Takes an extra reference for ret if non-NULL. */
int tbl_add(struct store *s, struct tbl *t, struct sobj *o, struct sobj **ret, struct berr **err);
/* Exact key, or unique prefix when prefix is true. */
int tbl_get(struct tbl *t, const char *key, bool prefix, struct sobj **ret, struct berr **err);
int tbl_get_by_name(struct tbl *t, const char *name, struct sobj **ret, struct berr **err);
/* References to every published object, sorted by ID. */
void tbl_snapshot(struct tbl *t, struct sobj ***ret, size_t *ret_n);
/* The object an ID filter names (full or unique prefix; none if unknown or ambiguous), or
 * every object when id is NULL or empty. */
void tbl_select(struct tbl *t, const char *id, struct sobj ***ret, size_t *ret_n);
void sobj_list_free(struct sobj **v, size_t n);
/* unindex, if set, runs under t->lock (write) after o left the ID index. */
int tbl_delete(struct store *s, struct tbl *t, const char *id,
	       void (*unindex)(struct store *s, struct sobj *o), struct berr **err);
/* Resolves an ID prefix to the full ID (copied to a new string) or NULL. */
char *tbl_resolve(struct tbl *t, const char *key);
/* Writes o's record with status st (o->lock held or o unpublished); fsync'ed if durable. */
int sobj_checkpoint(struct store *s, struct tbl *t, struct sobj *o, const void *st, bool durable,
		    struct berr **err);
char *tbl_record_path(const struct tbl *t, const char *id);
int tbl_load(struct store *s, struct tbl *t, const struct store_opts *opts);
int tbl_init(struct tbl *t, const struct store_kind *kind, const char *root, struct berr **err);
void tbl_done(struct tbl *t);
/* Post-load fix-ups for images: rebuild the tag index (image.c). */
void store_img_load_tags(struct store *s, const struct store_opts *opts);

/* Shared helpers (codec.c); string vectors come from common/strv.h. */
void kv_copy(struct store_kv **dst, size_t *dst_n, const struct store_kv *src, size_t n);
void kv_free(struct store_kv *kv, size_t n);
void bytes_copy(struct store_bytes *dst, const struct store_bytes *src);
void bytes_done(struct store_bytes *b);
/* True if every pair of sel is in kv (CRI label selector). */
bool kv_match(const struct store_kv *kv, size_t n, const struct store_kv *sel, size_t n_sel);

void js_add_str(struct json_object *o, const char *k, const char *v);
void js_add_i64(struct json_object *o, const char *k, int64_t v);
void js_add_bool(struct json_object *o, const char *k, bool v);
void js_add_strv(struct json_object *o, const char *k, char *const *v);
void js_add_kv(struct json_object *o, const char *k, const struct store_kv *kv, size_t n);
void js_add_bytes(struct json_object *o, const char *k, const struct store_bytes *b);
/* Getters: a missing key leaves the zero value; a wrong type is -EIO naming the key. */
int js_get_str(struct json_object *o, const char *k, char **ret, struct berr **err);
int js_get_i64(struct json_object *o, const char *k, int64_t *ret, struct berr **err);
int js_get_int(struct json_object *o, const char *k, int *ret, struct berr **err);
int js_get_u32(struct json_object *o, const char *k, uint32_t *ret, struct berr **err);
int js_get_bool(struct json_object *o, const char *k, bool *ret, struct berr **err);
int js_get_strv(struct json_object *o, const char *k, char ***ret, struct berr **err);
int js_get_kv(struct json_object *o, const char *k, struct store_kv **ret, size_t *ret_n,
	      struct berr **err);
int js_get_bytes(struct json_object *o, const char *k, struct store_bytes *ret, struct berr **err);
/* Object member k (required); -EIO if missing or not an object. */
int js_get_obj(struct json_object *o, const char *k, struct json_object **ret, struct berr **err);
/* Plain JSON text of j (caller frees). */
char *js_to_string(struct json_object *j);

#endif
