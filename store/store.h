/* SPDX-License-Identifier: Apache-2.0 */
/* store.h - registry of pod sandboxes, containers and images, persisted under the state dir.
 * Objects: immutable meta (copied in at add, never written after) + a status changed only by
 *   store_*_update(): fn edits a copy, the copy is checkpointed atomically, then published.
 * Ownership: *_get/_add/_list return new references; drop them with *_unref() or *_list_free().
 *   *_meta() and *_id() are borrowed while the caller holds its reference; *_status() copies are
 *   the caller's (free with *_status_done()). Inputs are copied, never kept.
 * Threads: all calls are thread-safe. The store lock (one rwlock per kind) guards only the ID,
 *   prefix, name and image tag indexes; obj->lock guards obj->status. Order: image tag mutex,
 *   then store lock, then object lock; never the reverse, never two objects at once. No lock
 *   is held while calling out; the only I/O under a lock is that object's own checkpoint.
 *   Update fns run under the object lock and must be pure (no I/O, locks or callouts).
 * Errors: -ENOENT unknown ID/name/tag or deleted object; -EEXIST ID exists or name reserved
 *   (message names the holder); -EINVAL bad input or ambiguous prefix ("ambiguous prefix 'ab'
 *   matches 3 containers"); -errno of a failed checkpoint write; or the update fn's error.
 *   Calls block only on checkpoint writes (fsync); nothing here spawns or uses the network. */
#ifndef BERTH_STORE_STORE_H
#define BERTH_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct berr;
struct store;
struct store_sb;
struct store_ctr;
struct store_img;

/* Key/value pair (labels, annotations, small maps); arrays come with a count. */
struct store_kv {
	char *key;
	char *value;
};

/* Opaque bytes (packed protobuf as received); base64 on disk. */
struct store_bytes {
	void *data;
	size_t len;
};

struct store_opts {
	/* Called during store_open() for every record that was skipped (corrupt, wrong version,
	 * name clash) or leftover temp file that was removed; path is the file, e is the reason.
	 * May be NULL. The store itself never logs above debug. */
	void (*warn)(void *userdata, const char *path, const struct berr *e);
	void *userdata;
};

/* Opens (creating if needed) <state_dir>/store/{sandboxes,containers,images}/ and loads every
 * record. A bad record never fails the open: it is reported through opts->warn and skipped. */
int store_open(const char *state_dir, const struct store_opts *opts, struct store **ret_store,
	       struct berr **err);
/* Drops the store's references. Call only when no thread uses the store any more; objects
 * still referenced elsewhere stay valid until their last unref. NULL is fine; returns NULL. */
struct store *store_free(struct store *s);

/* ---- pod sandboxes ---- */

enum store_sb_state {
	STORE_SB_READY = 0,    /* = CRI SANDBOX_READY */
	STORE_SB_NOTREADY = 1, /* = CRI SANDBOX_NOTREADY */
	STORE_SB_STATE_MAX
};

struct store_sb_meta {
	char *id;   /* 64 lowercase hex */
	char *name; /* reserved name, see store_sb_name_build() */
	struct {
		char *name, *uid, *namespace;
		uint32_t attempt;
	} metadata; /* CRI PodSandboxMetadata */
	char *runtime_handler;
	struct store_bytes config; /* packed runtime.v1.PodSandboxConfig as received */
	struct store_kv *labels;
	size_t n_labels;
	struct store_kv *annotations;
	size_t n_annotations;
	int64_t created_at; /* ns since epoch */
	char *log_directory;
	char *run_dir; /* free-form paths of the sandbox code */
	char *state_dir;
	struct store_kv *extra; /* anything else fixed at create */
	size_t n_extra;
};

/* Guarded by the sandbox's lock. Checkpointed except the in-flight flags. */
struct store_sb_status {
	enum store_sb_state state;
	char *ip;	       /* pod IP, NULL if none */
	char **additional_ips; /* NULL-terminated, may be NULL */
	char *netns_path, *ipc_ns_path, *uts_ns_path, *pid_ns_path;
	int init_pid; /* pause/init process, 0 if none */
	bool network_ready;
	struct store_kv *extra; /* small generic map for later needs */
	size_t n_extra;
	/* in-flight claims (style §5): memory only, never checkpointed, false after reload */
	bool stopping, removing;
};

struct store_sb_filter {
	const char *id; /* full ID or unique prefix; unresolvable -> empty result (as containerd) */
	bool has_state;
	enum store_sb_state state;
	const struct store_kv *labels; /* selector: every pair must match */
	size_t n_labels;
};

/* "k8s_<name>_<namespace>_<uid>_<attempt>" (CRI-O style); caller frees. */
char *store_sb_name_build(const char *name, const char *ns, const char *uid, uint32_t attempt);

/* Reserves name for id before the slow create work: -EEXIST "name 'n' is reserved for sandbox
 * '<holder id>'" if another ID holds it; 0 if id already holds it. */
int store_sb_reserve_name(struct store *s, const char *name, const char *id, struct berr **err);
/* Releases name if id holds it; otherwise does nothing. */
void store_sb_release_name(struct store *s, const char *name, const char *id);
/* Copies meta and the initial status, checkpoints them and publishes the sandbox. The name must
 * be free or reserved for meta->id; a reservation made by the caller is kept on failure
 * (caller releases), one made here is undone. -EEXIST duplicate ID, -EINVAL bad meta.
 * ret may be NULL; otherwise it receives a new reference. */
int store_sb_add(struct store *s, const struct store_sb_meta *meta,
		 const struct store_sb_status *status, struct store_sb **ret, struct berr **err);
/* Full ID or unique prefix. -ENOENT, -EINVAL (ambiguous or empty). */
int store_sb_get(struct store *s, const char *id_or_prefix, struct store_sb **ret,
		 struct berr **err);
int store_sb_get_by_name(struct store *s, const char *name, struct store_sb **ret,
			 struct berr **err);
/* References of matching sandboxes (f may be NULL), sorted by ID; free with _list_free(). */
int store_sb_list(struct store *s, const struct store_sb_filter *f, struct store_sb ***ret,
		  size_t *ret_n, struct berr **err);
void store_sb_list_free(struct store_sb **v, size_t n);
/* Full ID only. Removes the record from disk and the indexes, releases the name and drops the
 * store's reference; later updates through other references fail with -ENOENT. A second
 * delete is -ENOENT. */
int store_sb_delete(struct store *s, const char *id, struct berr **err);
struct store_sb *store_sb_ref(struct store_sb *sb);
struct store_sb *store_sb_unref(struct store_sb *sb); /* NULL-safe, returns NULL */
const struct store_sb_meta *store_sb_meta(const struct store_sb *sb);
const char *store_sb_id(const struct store_sb *sb);
/* Consistent copy of the current status. */
void store_sb_status(struct store_sb *sb, struct store_sb_status *ret);
int store_sb_update(struct store *s, struct store_sb *sb,
		    int (*fn)(struct store_sb_status *st, void *arg, struct berr **err), void *arg,
		    struct berr **err);
void store_sb_status_copy(struct store_sb_status *dst, const struct store_sb_status *src);
void store_sb_status_done(struct store_sb_status *st);
void store_sb_meta_copy(struct store_sb_meta *dst, const struct store_sb_meta *src);
void store_sb_meta_done(struct store_sb_meta *m);

/* ---- containers ---- */

enum store_ctr_state {
	STORE_CTR_CREATED = 0, /* = CRI CONTAINER_CREATED */
	STORE_CTR_RUNNING = 1,
	STORE_CTR_EXITED = 2,
	STORE_CTR_UNKNOWN = 3,
	STORE_CTR_STATE_MAX
};

struct store_ctr_meta {
	char *id;
	char *name; /* reserved name, see store_ctr_name_build() */
	char *sandbox_id;
	struct {
		char *name;
		uint32_t attempt;
	} metadata;		   /* CRI ContainerMetadata */
	struct store_bytes config; /* packed runtime.v1.ContainerConfig as received */
	char *image_ref;	   /* image as asked */
	char *image_id;		   /* resolved "sha256:..." */
	char *log_path;
	char *bundle_dir;
	char *rootfs_path;
	char *stop_signal; /* e.g. "SIGTERM"; NULL for the default */
	char *runtime_handler;
	int64_t created_at; /* ns, when the record was made */
	struct store_kv *labels;
	size_t n_labels;
	struct store_kv *annotations;
	size_t n_annotations;
	struct store_kv *extra;
	size_t n_extra;
};

/* Guarded by the container's lock. The state is derived, never stored (containerd status.go):
 *
 *                     start ok                 exit seen
 *   +---------+   (started_at set)  +---------+  (finished_at set)  +--------+
 *   | CREATED | ----------------->  | RUNNING | -------------------> | EXITED |
 *   +---------+                     +---------+                      +--------+
 *        |  start failed (finished_at set, started_at 0)                  ^
 *        +----------------------------------------------------------------+
 *   any state --(unknown = true: lost track of the process)--> UNKNOWN
 *   UNKNOWN --(unknown = false + timestamps)--> the state the timestamps give
 * created_at == 0 also reads as UNKNOWN. Checkpointed except the in-flight flags. */
struct store_ctr_status {
	int pid;
	int64_t created_at, started_at, finished_at; /* ns, 0 = not yet */
	int exit_code;
	char *reason, *message;
	struct store_bytes resources; /* packed runtime.v1.LinuxContainerResources */
	int shim_pid;
	char *shim_socket;
	bool unknown;
	struct store_kv *extra;
	size_t n_extra;
	/* in-flight claims: memory only, never checkpointed, false after reload */
	bool starting, stopping, removing, updating;
};

struct store_ctr_filter {
	const char *id;		/* full or unique prefix; unresolvable -> empty result */
	const char *sandbox_id; /* full or unique prefix (of a container's sandbox_id) */
	bool has_state;
	enum store_ctr_state state;
	const struct store_kv *labels;
	size_t n_labels;
};

enum store_ctr_state store_ctr_state(const struct store_ctr_status *st);
const char *store_ctr_state_name(enum store_ctr_state st); /* "CONTAINER_RUNNING" ... */
/* "k8s_<ctr name>_<pod name>_<namespace>_<pod uid>_<ctr attempt>"; caller frees. */
char *store_ctr_name_build(const char *ctr_name, const char *pod_name, const char *ns,
			   const char *uid, uint32_t attempt);

int store_ctr_reserve_name(struct store *s, const char *name, const char *id, struct berr **err);
void store_ctr_release_name(struct store *s, const char *name, const char *id);
int store_ctr_add(struct store *s, const struct store_ctr_meta *meta,
		  const struct store_ctr_status *status, struct store_ctr **ret, struct berr **err);
int store_ctr_get(struct store *s, const char *id_or_prefix, struct store_ctr **ret,
		  struct berr **err);
int store_ctr_get_by_name(struct store *s, const char *name, struct store_ctr **ret,
			  struct berr **err);
int store_ctr_list(struct store *s, const struct store_ctr_filter *f, struct store_ctr ***ret,
		   size_t *ret_n, struct berr **err);
void store_ctr_list_free(struct store_ctr **v, size_t n);
int store_ctr_delete(struct store *s, const char *id, struct berr **err);
struct store_ctr *store_ctr_ref(struct store_ctr *c);
struct store_ctr *store_ctr_unref(struct store_ctr *c);
const struct store_ctr_meta *store_ctr_meta(const struct store_ctr *c);
const char *store_ctr_id(const struct store_ctr *c);
void store_ctr_status(struct store_ctr *c, struct store_ctr_status *ret);
/* store_ctr_update() whose record is replaced atomically but not fsync'ed: only for a status
 * that a crash can't lose because it is derived again from a durable source (recovery
 * committing an exit the shim recorded durably). */
int store_ctr_update_nosync(struct store *s, struct store_ctr *c,
			    int (*fn)(struct store_ctr_status *st, void *arg, struct berr **err),
			    void *arg, struct berr **err);
/* The state and status.created_at (0 if none) now, without copying the status (a List). */
enum store_ctr_state store_ctr_state_now(struct store_ctr *c, int64_t *ret_created_at);
int store_ctr_update(struct store *s, struct store_ctr *c,
		     int (*fn)(struct store_ctr_status *st, void *arg, struct berr **err),
		     void *arg, struct berr **err);
void store_ctr_status_copy(struct store_ctr_status *dst, const struct store_ctr_status *src);
void store_ctr_status_done(struct store_ctr_status *st);
void store_ctr_meta_copy(struct store_ctr_meta *dst, const struct store_ctr_meta *src);
void store_ctr_meta_done(struct store_ctr_meta *m);

/* ---- images ---- */

struct store_img_meta {
	char *id;     /* config digest "sha256:<64 hex>" */
	int64_t size; /* bytes of the compressed layers + config, as CRI reports */
	/* image config */
	char *user;
	char **env; /* NULL-terminated vectors, may be NULL */
	char **entrypoint;
	char **cmd;
	char *working_dir;
	char *stop_signal;
	char **exposed_ports; /* "80/tcp" */
	struct store_kv *labels;
	size_t n_labels;
	char **volumes;
	/* rootfs building and GC */
	char **chain_ids;     /* per layer, bottom first */
	char **layer_digests; /* compressed blob digests, bottom first */
	struct store_kv *extra;
	size_t n_extra;
};

/* Guarded by the image's lock. Tags and digests change only through store_img_add() and
 * store_img_untag() (the tag index follows them); an update fn that changes them (or
 * tagged_at) gets -EINVAL. */
struct store_img_status {
	char **repo_tags;    /* NULL-terminated, normalized "docker.io/library/busybox:latest" */
	char **repo_digests; /* "docker.io/library/busybox@sha256:..." */
	bool pinned;
	struct store_kv *extra;
	size_t n_extra;
	/* ns when a tag or digest was last added (set by the store). A move writes the new holder
	 * first; if a crash leaves a tag on two images, reload keeps it on the later one. */
	int64_t tagged_at;
};

/* Adds the image, or merges tags/digests into the existing image with meta->id (its meta is
 * kept). A tag or digest held by another image moves to this one; the other image keeps its
 * remaining tags (an image left with none is not deleted: the caller decides). ret may be
 * NULL. If the old holder's checkpoint fails, the error is returned but the tag already
 * resolves to the new image (a reload resolves the leftover by tagged_at). */
int store_img_add(struct store *s, const struct store_img_meta *meta, const char *const *repo_tags,
		  const char *const *repo_digests, struct store_img **ret, struct berr **err);
/* "sha256:<hex>", a unique prefix of it, or a prefix of <hex> alone. */
int store_img_get(struct store *s, const char *id_or_prefix, struct store_img **ret,
		  struct berr **err);
/* Exact repo tag or repo digest (normalized by the caller). */
int store_img_get_by_ref(struct store *s, const char *ref, struct store_img **ret,
			 struct berr **err);
/* Tag or digest first, then ID or ID prefix (containerd's local resolve). */
int store_img_lookup(struct store *s, const char *ref_or_id, struct store_img **ret,
		     struct berr **err);
/* Removes one repo tag or repo digest from its image; -ENOENT if nothing holds it. */
int store_img_untag(struct store *s, const char *ref, struct berr **err);
/* Removes the image (full ID) with all its tags and digests. */
int store_img_delete(struct store *s, const char *id, struct berr **err);
int store_img_list(struct store *s, struct store_img ***ret, size_t *ret_n, struct berr **err);
void store_img_list_free(struct store_img **v, size_t n);
struct store_img *store_img_ref(struct store_img *img);
struct store_img *store_img_unref(struct store_img *img);
const struct store_img_meta *store_img_meta(const struct store_img *img);
const char *store_img_id(const struct store_img *img);
void store_img_status(struct store_img *img, struct store_img_status *ret);
int store_img_update(struct store *s, struct store_img *img,
		     int (*fn)(struct store_img_status *st, void *arg, struct berr **err),
		     void *arg, struct berr **err);
void store_img_status_copy(struct store_img_status *dst, const struct store_img_status *src);
void store_img_status_done(struct store_img_status *st);
void store_img_meta_copy(struct store_img_meta *dst, const struct store_img_meta *src);
void store_img_meta_done(struct store_img_meta *m);

#endif
