/* SPDX-License-Identifier: Apache-2.0 */
/* image-internal.h - declarations shared inside image/ and with its unit tests. */
#ifndef BERTH_IMAGE_INTERNAL_H
#define BERTH_IMAGE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "image/image.h"

struct berr;

#define IMG_MANIFEST_MAX (4u << 20)
#define IMG_CONFIG_MAX	 (16u << 20)
#define IMG_LAYERS_MAX	 256
#define IMG_DIGEST_LEN	 71 /* "sha256:" + 64 hex */

#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST	   "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_OCI_MANIFEST	   "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX	   "application/vnd.oci.image.index.v1+json"

struct img_registry_cfg {
	char *host;
	char **mirrors;
	size_t n_mirrors;
	bool insecure;
};

struct img_ctx {
	char *root, *blobs_dir, *layers_dir;
	pthread_mutex_t regs_lock; /* guards regs, n_regs: img_ctx_set_registries() swaps them */
	struct img_registry_cfg *regs; /* copied out under regs_lock at a pull's start */
	size_t n_regs;
	unsigned parallel;
	char *os, *arch, *variant;
	img_progress_fn progress;
	void *progress_arg;
	pthread_mutex_t lock;	    /* guards inflight, pins, gc_active */
	pthread_cond_t cond;	    /* broadcast when any of them changes */
	struct img_claim *inflight; /* keys being fetched or unpacked */
	size_t n_inflight, cap_inflight;
	/* A running pull, or a pulled image not yet freed, pins its blobs and layers: img_gc()
	 * waits until pins is 0 and holds new pins off while it runs (gc_active). */
	unsigned pins;
	bool gc_active;
	atomic_uint blob_fetches; /* blobs downloaded (tests, bench) */
};

/* A key claimed by this process: fd holds the flock on <root>/locks/<hex> that keeps other
 * processes off it. */
struct img_claim {
	char *key;
	int fd;
};

/* digest.c */
bool img_digest_is_valid(const char *d);
/* "sha256:<hex>" of data into out[IMG_DIGEST_LEN + 1]. */
void img_sha256_digest(const void *data, size_t len, char out[IMG_DIGEST_LEN + 1]);
struct img_hasher;
struct img_hasher *img_hasher_new(void);
void img_hasher_update(struct img_hasher *h, const void *data, size_t len);
/* Finishes into out and frees h. */
void img_hasher_finish(struct img_hasher *h, char out[IMG_DIGEST_LEN + 1]);
struct img_hasher *img_hasher_free(struct img_hasher *h);
char *img_base64_encode(const void *data, size_t len);
/* Decodes into a NUL-terminated string; NULL on bad input. */
char *img_base64_decode(const char *s);
/* chain[0] = diff[0]; chain[i] = sha256(chain[i-1] + " " + diff[i]); NULL-terminated. */
char **img_chain_ids(char *const *diff_ids, size_t n);

/* manifest.c */
struct img_descriptor {
	char *media_type, *digest;
	uint64_t size;
	char *os, *arch, *variant; /* index entries only */
};

enum img_manifest_kind { IMG_MANIFEST_IMAGE, IMG_MANIFEST_INDEX, IMG_MANIFEST_KIND_MAX };

struct img_manifest {
	enum img_manifest_kind kind;
	struct img_descriptor config;
	struct img_descriptor *layers; /* IMAGE */
	size_t n_layers;
	struct img_descriptor *manifests; /* INDEX */
	size_t n_manifests;
};

/* JSON helpers: a string member (NULL when missing or not a string), a member of type t
 * (NULL otherwise), and the parse of a JSON object of at most max bytes (-E2BIG; -EPROTO
 * naming what for anything but an object). */
const char *img_jstr(struct json_object *o, const char *key);
struct json_object *img_jget(struct json_object *o, const char *key, enum json_type t);
int img_json_parse(const char *body, size_t len, size_t max, const char *what,
		   struct json_object **ret, struct berr **err);
static inline void img_json_putp(struct json_object **o)
{
	json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(img_json_putp)

/* content_type (may be NULL) wins over the body's mediaType. -EPROTO on bad data. */
int img_manifest_parse(const char *body, size_t len, const char *content_type,
		       struct img_manifest *ret, struct berr **err);
void img_manifest_done(struct img_manifest *m);
/* Picks the entry for os/arch/variant (variant NULL: any, preferring none or the arch's
 * default); -ENOENT naming the platforms offered. Borrowed result. */
int img_index_select(const struct img_manifest *m, const char *os, const char *arch,
		     const char *variant, const struct img_descriptor **ret, struct berr **err);
/* Parses config and its rootfs.diff_ids (NULL-terminated, *ret_n entries). */
int img_config_parse_full(const char *json, size_t len, struct img_config *ret_cfg,
			  char ***ret_diff_ids, size_t *ret_n, struct berr **err);

/* auth.c */
struct img_challenge {
	char *scheme; /* "bearer", "basic" (lowercased) */
	char *realm, *service, *scope;
};

int img_challenge_parse(const char *header, struct img_challenge *ret, struct berr **err);
void img_challenge_done(struct img_challenge *c);
/* "Basic <b64>" from auth (username/password or auth); NULL when there is none. -EINVAL
 * for a malformed auth field. */
int img_auth_basic_header(const struct img_auth *auth, char **ret, struct berr **err);

/* registry.c */
struct reg_session {
	struct img_ctx *ctx;
	const struct img_auth *auth;
	char *host, *repo;
	char **endpoints; /* base URLs, mirrors first, upstream last */
	size_t n_endpoints, cur;
	pthread_mutex_t lock;	   /* guards authz */
	char *authz;		   /* Authorization header value for the current endpoint */
	const atomic_bool *cancel; /* set by the caller to abort transfers; may be NULL */
};

struct reg_resp {
	long status;
	char *body;
	size_t len;
	char *content_type;
};

int reg_session_init(struct reg_session *s, struct img_ctx *ctx, const char *host, const char *repo,
		     const struct img_auth *auth, struct berr **err);
void reg_session_done(struct reg_session *s);
/* Switches to endpoint i (clears the cached authorization). */
void reg_session_use(struct reg_session *s, size_t i);
/* GET <endpoint>/v2/<repo>/<what> into memory (at most max bytes), answering one 401
 * challenge. Non-2xx statuses become errors with the registry's message. */
int reg_get(struct reg_session *s, const char *what, const char *accept, size_t max,
	    struct reg_resp *ret, struct berr **err);
void reg_resp_done(struct reg_resp *r);
struct reg_stream;
/* Starts streaming blob digest; data is then pulled with reg_stream_read(). */
int reg_stream_open(struct reg_session *s, const char *digest, struct reg_stream **ret,
		    struct berr **err);
/* >0: *buf holds that many bytes (valid until the next call); 0: end; <0: error. */
ssize_t reg_stream_read(struct reg_stream *st, const void **buf, struct berr **err);
struct reg_stream *reg_stream_free(struct reg_stream *st);
/* Maps an HTTP status and registry error body to an errno and message. */
int reg_http_error(long status, const char *body, size_t len, const char *what, struct berr **err);
bool reg_host_is_loopback(const char *host);

/* blobs.c */
char *img_blob_path(struct img_ctx *ctx, const char *digest);
bool img_blob_exists(struct img_ctx *ctx, const char *digest);
struct img_blob_writer {
	int fd;
	char *tmp_path, *path;
	char digest[IMG_DIGEST_LEN + 1];
	struct img_hasher *h;
	uint64_t n;
};
int img_blob_writer_open(struct img_ctx *ctx, const char *digest, struct img_blob_writer *w,
			 struct berr **err);
int img_blob_writer_write(struct img_blob_writer *w, const void *data, size_t len,
			  struct berr **err);
/* Verifies digest and size (size 0 = unknown), then renames into place; -EPROTO on
 * mismatch. The writer is done afterwards, in every case. */
int img_blob_writer_commit(struct img_blob_writer *w, uint64_t size, struct berr **err);
void img_blob_writer_abort(struct img_blob_writer *w);
/* Stores data under digest after verifying it. */
int img_blob_put(struct img_ctx *ctx, const char *digest, const void *data, size_t len,
		 struct berr **err);
int img_blob_read(struct img_ctx *ctx, const char *digest, size_t max, char **ret, size_t *ret_len,
		  struct berr **err);
void img_pin(struct img_ctx *ctx);
void img_unpin(struct img_ctx *ctx);
/* Waits while key (a digest) is claimed elsewhere, in this process or another, then claims
 * it. -ECANCELED when *cancel (may be NULL) is set while waiting. */
int img_inflight_claim(struct img_ctx *ctx, const char *key, const atomic_bool *cancel,
		       struct berr **err);
void img_inflight_release(struct img_ctx *ctx, const char *key);

/* ctx.c: <root>/pull.lock, flock()ed with op (LOCK_SH, LOCK_EX, | LOCK_NB); returns the fd
 * holding it (close it to unlock). Pulls hold it shared; gc and leftover cleanup exclusive. */
int img_root_lock(struct img_ctx *ctx, int op, struct berr **err);

/* unpack.c */
struct img_reader {
	/* >0 bytes in *buf, 0 at the verified end, <0 error (with *err set). */
	ssize_t (*read)(void *arg, const void **buf, struct berr **err);
	void *arg;
};
/* Extracts a (compressed) layer tar into the existing empty dir, then reads the reader
 * to its end. -EPERM for entries escaping dir, -EPROTO when the uncompressed tar doesn't
 * hash to diff_id (NULL: not checked). */
int img_unpack(const struct img_reader *rd, const char *dir, const char *diff_id,
	       struct berr **err);
/* Unpacks into layers_dir/.tmp-*, then renames to layers_dir/<chain hex>/fs. Nothing is
 * left behind on error; an existing layer dir is success. */
int img_layer_create(const char *layers_dir, const char *chain_id, const char *diff_id,
		     const struct img_reader *rd, struct berr **err);

#endif
