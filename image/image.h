/* SPDX-License-Identifier: Apache-2.0 */
/* image.h - pulls OCI/Docker images from v2 registries, stores blobs, unpacks layers, mounts
 * rootfs. Layout under opts.root: blobs/sha256/<hex> (verified content), layers/<chain-hex>/fs (one
 *   unpacked layer each, an overlay lowerdir with whiteouts as 0/0 char devices).
 * Ownership: img_ctx_new() and img_pull() return objects the caller frees (img_ctx_free,
 *   img_pulled_free, before img_ctx_free); strings passed in are copied.
 * Threads: a ctx is thread-safe; concurrent pulls fetch each blob once (in-flight dedupe) and
 *   the progress callback runs on worker threads. img_gc() waits until every pull has ended
 *   and its img_pulled was freed (record the image first; never hold one while calling it).
 * Blocking: img_pull() does network and disk I/O; rootfs calls mount(2). Nothing is logged above
 *   debug and no credential is ever logged.
 * Errors: -EINVAL bad reference/argument, -ENOENT unknown image or blob, -EACCES auth denied,
 *   -EPROTO bad registry data (digest mismatch, bad manifest), -EHOSTUNREACH/-ECONNREFUSED/
 *   -ETIMEDOUT network, -ENOSPC disk full, -EPERM unsafe layer entry, -E2BIG limits hit,
 *   -ECANCELED pull cancelled. Messages carry the registry's HTTP status and error text. */
#ifndef BERTH_IMAGE_IMAGE_H
#define BERTH_IMAGE_IMAGE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct berr;
struct img_ctx;

/* A parsed reference. domain is normalized ("docker.io"), path includes "library/" for
 * official Docker Hub images; tag and digest may both be set, tag defaults to "latest" only
 * when there is no digest. */
struct img_ref {
	char *domain;
	char *path;
	char *tag;    /* or NULL */
	char *digest; /* "sha256:<64 hex>" or NULL */
};

int img_ref_parse(const char *s, struct img_ref *ret, struct berr **err);
void img_ref_done(struct img_ref *r);
/* "domain/path" */
char *img_ref_name(const struct img_ref *r);
/* "domain/path[:tag][@digest]" */
char *img_ref_string(const struct img_ref *r);
/* img_ref_parse() + img_ref_string(): "busybox" -> "docker.io/library/busybox:latest". */
int img_ref_normalize(const char *s, char **ret, struct berr **err);

/* Registry credentials (CRI AuthConfig); any field may be NULL. auth is base64("user:pass"). */
struct img_auth {
	const char *username;
	const char *password;
	const char *auth;
	const char *identity_token; /* OAuth2 refresh token for the token endpoint */
	const char *registry_token; /* bearer token sent as is */
};

/* Per-host registry settings: mirrors ("http://127.0.0.1:5000", "https://m.example") are
 * tried in order before the upstream; insecure makes the upstream plain HTTP. Hosts on
 * loopback (127.0.0.0/8, ::1, localhost) always use plain HTTP. */
struct img_registry {
	const char *host; /* "docker.io", "127.0.0.1:5000" */
	const char *const *mirrors;
	size_t n_mirrors;
	bool insecure;
};

struct img_progress {
	const char *digest; /* layer or config digest */
	uint64_t done;	    /* bytes received so far */
	uint64_t total;	    /* size from the manifest */
	bool finished;
};

typedef void (*img_progress_fn)(const struct img_progress *p, void *arg);

struct img_opts {
	const char *root; /* e.g. <state>/image; created if missing */
	const struct img_registry *registries;
	size_t n_registries;
	unsigned parallel;	      /* concurrent layer downloads; 0 = 3 */
	const char *platform_os;      /* NULL = "linux" */
	const char *platform_arch;    /* NULL = host ("amd64", "arm64", ...) */
	const char *platform_variant; /* NULL = host default */
	img_progress_fn progress;     /* may be NULL */
	void *progress_arg;
};

int img_ctx_new(const struct img_opts *opts, struct img_ctx **ret, struct berr **err);
/* Replaces the registry settings (copied) from any thread: a pull that starts afterwards
 * uses them, one already running keeps those it started with. -EINVAL for a mirror that is
 * not an http(s) URL, and nothing changes. */
int img_ctx_set_registries(struct img_ctx *ctx, const struct img_registry *registries, size_t n,
			   struct berr **err);
struct img_ctx *img_ctx_free(struct img_ctx *ctx);

struct img_kv {
	char *key;
	char *value;
};

struct img_config {
	char *user, *working_dir, *stop_signal, *os, *arch; /* each may be NULL */
	char **env, **entrypoint, **cmd, **exposed_ports,
	    **volumes; /* NULL-terminated, never NULL */
	struct img_kv *labels;
	size_t n_labels;
};

struct img_pulled {
	char *id;	       /* config digest "sha256:..." */
	char *repo_tag;	       /* "docker.io/library/busybox:latest", NULL when pulled by digest */
	char *repo_digest;     /* "docker.io/library/busybox@sha256:<manifest or index digest>" */
	char *manifest_digest; /* the platform manifest */
	uint64_t size;	       /* config + compressed layers */
	struct img_config config;
	char *config_json; /* raw image config */
	size_t n_layers;
	char **layer_digests, **diff_ids, **chain_ids; /* n_layers each, bottom first, NULL-ended */
	char **blobs; /* every stored digest the image uses (for img_gc), NULL-terminated */
	struct img_ctx *pinned_ctx; /* internal: keeps img_gc() off until freed */
};

/* Pulls ref (normalized as img_ref_parse) with auth (may be NULL). On return all blobs are
 * stored and verified and all layers unpacked; on error nothing partial is visible. */
int img_pull(struct img_ctx *ctx, const char *ref, const struct img_auth *auth,
	     struct img_pulled **ret, struct berr **err);
/* As img_pull(); setting *cancel (from any thread) aborts the transfers within about a
 * second: -ECANCELED, nothing partial left. */
int img_pull_cancellable(struct img_ctx *ctx, const char *ref, const struct img_auth *auth,
			 const atomic_bool *cancel, struct img_pulled **ret, struct berr **err);
struct img_pulled *img_pulled_free(struct img_pulled *p);
/* Parses an image config JSON (as stored in config_json). */
int img_config_parse(const char *json, size_t len, struct img_config *ret, struct berr **err);
void img_config_done(struct img_config *c);

/* ---- pulls in a helper process (image/helper.c) ----
 * The registry client and layer unpacker (libcurl, libarchive) live in libberth_image_pull,
 * which berthd does not link: berthd runs each pull in libexec/berth-pull, one process per
 * pull, on the same root. Protocol: the request is one JSON object on the helper's stdin
 * (img_pull_request_to_json, with credentials; it never reaches a command line or a log),
 * the answer one JSON object on its stdout (img_pulled_to_json, or an error with errno and
 * message) and exit status 0/1. SIGTERM cancels the pull (-ECANCELED, nothing partial left).
 * Processes share the root safely: every pull holds <root>/pull.lock shared, img_gc() and
 * the leftover cleanup of img_ctx_new() hold it exclusively, and a blob is fetched by one
 * process at a time (a lock file per blob under <root>/locks). */

/* Returns true when the pull should stop (the caller's deadline, client or shutdown). */
typedef bool (*img_cancel_fn)(void *arg);

struct img_spawn_opts {
	const char *helper;	 /* path of berth-pull */
	const char *log_level;	 /* the helper's, NULL = "info" */
	img_cancel_fn cancelled; /* asked about every 200 ms; may be NULL */
	void *cancel_arg;
	int term_wait_ms; /* after SIGTERM, SIGKILL; 0 = 10 s */
};

/* As img_pull_cancellable(), run in the helper with ctx's root, registries and platform.
 * ctx keeps img_gc() off from the start until the result is freed. A helper that can't be
 * run, dies or answers nonsense gives -EIO (or its exec errno) naming it. */
int img_pull_spawn(struct img_ctx *ctx, const struct img_spawn_opts *o, const char *ref,
		   const struct img_auth *auth, struct img_pulled **ret, struct berr **err);

/* A pull request as the helper reads it: every string owned. */
struct img_pull_request {
	char *ref, *log_level;
	struct img_auth auth; /* fields malloc'd (cast away const to free) */
	bool has_auth;
	struct img_opts opts; /* root, registries (and their mirrors), platform, parallel */
};

char *img_pull_request_to_json(const struct img_ctx *ctx, const char *ref,
			       const struct img_auth *auth, const char *log_level);
int img_pull_request_parse(const char *json, size_t len, struct img_pull_request *ret,
			   struct berr **err);
void img_pull_request_done(struct img_pull_request *r);
/* The helper's answers. */
char *img_pulled_to_json(const struct img_pulled *p);
char *img_pull_error_to_json(int r, const struct berr *e);
/* Parses either answer: 0 and *ret for a pulled image, else the helper's -errno and message.
 * Checks that every blob and layer named is in ctx's store. */
int img_pull_answer_parse(struct img_ctx *ctx, const char *json, size_t len,
			  struct img_pulled **ret, struct berr **err);

/* Returns what to keep: NULL-terminated vectors (or NULL) of blob digests and chain IDs
 * ("sha256:..."), which img_gc() frees. */
typedef int (*img_keep_fn)(void *arg, char ***ret_blobs, char ***ret_chain_ids, struct berr **err);
/* Removes blobs and layer dirs that keep() doesn't list; the caller guarantees no container
 * uses them. Waits for running pulls and unfreed img_pulled objects, holds new pulls off, then
 * calls keep() (so it sees every image recorded). ret_* (may be NULL) count removals. */
int img_gc(struct img_ctx *ctx, img_keep_fn keep, void *arg, unsigned *ret_blobs,
	   unsigned *ret_layers, struct berr **err);

/* Bytes and inodes used under the root, and the mountpoint holding it (caller frees). */
int img_usage(struct img_ctx *ctx, uint64_t *ret_bytes, uint64_t *ret_inodes, char **ret_mountpoint,
	      struct berr **err);

/* Path of the unpacked layer for chain_id (caller frees); -ENOENT when not unpacked. */
int img_layer_path(struct img_ctx *ctx, const char *chain_id, char **ret, struct berr **err);

/* Mounts an overlay at target: lowerdirs = layers of chain_ids (bottom first, as in
 * img_pulled), upper and work dirs created under upper_work_dir (may be NULL when
 * readonly). readonly mounts the overlay read-only. */
int img_rootfs_mount(struct img_ctx *ctx, const char *const *chain_ids, size_t n,
		     const char *upper_work_dir, const char *target, bool readonly,
		     struct berr **err);
/* The same for a container in a user namespace (common/idmap.h): each layer gets
 * an idmapped mount through userns_fd under idmap_dir (made; "l0", "l1", ...) and
 * the overlay is built over those (an overlay itself can't be idmapped), with its
 * upper and work dirs on the one plain mount of upper_work_dir, where the files
 * the container writes are owned by its mapped host ids; the empty upper dir, the
 * rootfs's root, is given to root_uid:root_gid (the pod's root on the host).
 * Layers are never chowned.
 * On failure nothing is left under idmap_dir. */
int img_rootfs_mount_idmapped(struct img_ctx *ctx, const char *const *chain_ids, size_t n,
			      const char *upper_work_dir, const char *target, const char *idmap_dir,
			      int userns_fd, uid_t root_uid, gid_t root_gid, struct berr **err);
/* Unmounts everything at target; a target that is not mounted (or missing) is success. */
int img_rootfs_unmount(const char *target, struct berr **err);

#endif
