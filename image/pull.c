/* SPDX-License-Identifier: Apache-2.0 */
/* pull.c - img_pull(): resolve the manifest (mirrors first), fetch the config, then download
 * and unpack the layers in parallel, each streamed from the registry straight into libarchive
 * while being hashed and stored. */
#include "image/image.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/ids.h"
#include "common/fault.h"
#include "common/strv.h"
#include "image/image-internal.h"

#define LOG_COMPONENT "image"
#include "common/log.h"

#define ACCEPT_MANIFESTS                                                                           \
	MT_OCI_INDEX ", " MT_DOCKER_LIST ", " MT_DOCKER_MANIFEST ", " MT_OCI_MANIFEST
#define FILE_BUF (256u << 10)
/* progress is reported every few seconds of a download, and at its end */
#define PROGRESS_INTERVAL_NS (3 * 1000000000LL)

struct pull {
	struct img_ctx *ctx;
	struct reg_session s;
	struct img_manifest m;
	char **chain_ids, **diff_ids;
	pthread_mutex_t lock; /* guards next, err */
	size_t next;
	struct berr *err;
	_Atomic uint64_t fetched; /* blob bytes downloaded, by every worker */
};

struct layer_reader {
	struct img_ctx *ctx;
	const struct img_descriptor *d;
	struct reg_stream *st; /* downloading, or */
	int fd;		       /* reading the stored blob */
	char *buf;
	struct img_blob_writer w;
	bool w_open;
	uint64_t done;
	int64_t t_start, t_reported; /* monotonic ns */
	_Atomic uint64_t *fetched;   /* the pull's */
};

static void report(struct img_ctx *ctx, const char *digest, uint64_t done, uint64_t total,
		   uint64_t rate, bool finished)
{
	log_debug("digest=%.19s done=%llu total=%llu rate=%llu msg=\"%s\"", digest,
		  (unsigned long long)done, (unsigned long long)total, (unsigned long long)rate,
		  finished ? "layer done" : "layer progress");
	if (ctx->progress) {
		struct img_progress p = {.digest = digest,
					 .done = done,
					 .total = total,
					 .rate = rate,
					 .finished = finished};
		ctx->progress(&p, ctx->progress_arg);
	}
}

static uint64_t rate_of(const struct layer_reader *lr, int64_t now)
{
	int64_t dt = now - lr->t_start;
	return dt > 0 ? (uint64_t)((double)lr->done * 1e9 / (double)dt) : 0;
}

static ssize_t layer_read(void *arg, const void **buf, struct berr **err)
{
	struct layer_reader *lr = arg;
	if (lr->fd >= 0) {
		ssize_t n = read(lr->fd, lr->buf, FILE_BUF);
		if (n < 0)
			return berr_set_errno(err, errno, "read blob '%s'", lr->d->digest);
		*buf = lr->buf;
		return n;
	}
	ssize_t n = reg_stream_read(lr->st, buf, err);
	if (n < 0)
		return n;
	if (n > 0) {
		int r = img_blob_writer_write(&lr->w, *buf, (size_t)n, err);
		if (r == 0) /* berth-pull dies or fails with part of a blob written */
			r = BERTH_FAULT_POINT("pull.blob", err);
		if (r < 0)
			return r;
		lr->done += (uint64_t)n;
		atomic_fetch_add(lr->fetched, (uint64_t)n);
		if (lr->d->size && lr->done > lr->d->size)
			return berr_set(err, EPROTO,
					"blob '%s' is larger than its manifest size %llu",
					lr->d->digest, (unsigned long long)lr->d->size);
		int64_t now = time_mono_ns();
		if (now - lr->t_reported >= PROGRESS_INTERVAL_NS) {
			lr->t_reported = now;
			report(lr->ctx, lr->d->digest, lr->done, lr->d->size, rate_of(lr, now),
			       false);
		}
		return n;
	}
	if (!lr->w_open)
		return 0;
	lr->w_open = false;
	int r = img_blob_writer_commit(&lr->w, lr->d->size, err);
	if (r < 0)
		return r;
	report(lr->ctx, lr->d->digest, lr->done, lr->d->size, rate_of(lr, time_mono_ns()), true);
	return 0;
}

static int layer_fetch(struct pull *p, size_t i, struct berr **err)
{
	struct img_ctx *ctx = p->ctx;
	const struct img_descriptor *d = &p->m.layers[i];
	const char *chain = p->chain_ids[i];
	_cleanup_free_ char *ldir = xasprintf("%s/%s", ctx->layers_dir, chain + 7);
	bool have_layer = access(ldir, F_OK) == 0;
	bool have_blob = img_blob_exists(ctx, d->digest);
	if (have_layer && have_blob) {
		report(ctx, d->digest, d->size, d->size, 0, true);
		return 0;
	}
	int64_t t0 = time_mono_ns();
	struct layer_reader lr = {
	    .ctx = ctx, .d = d, .fd = -1, .t_start = t0, .t_reported = t0, .fetched = &p->fetched};
	struct img_reader rd = {.read = layer_read, .arg = &lr};
	int r;
	if (have_blob) {
		_cleanup_free_ char *bp = img_blob_path(ctx, d->digest);
		lr.fd = open(bp, O_RDONLY | O_CLOEXEC);
		if (lr.fd < 0)
			return berr_set_errno(err, errno, "open blob '%s'", bp);
		lr.buf = xmalloc(FILE_BUF);
	} else {
		r = reg_stream_open(&p->s, d->digest, &lr.st, err);
		if (r < 0)
			return r;
		atomic_fetch_add(&ctx->blob_fetches, 1);
		r = img_blob_writer_open(ctx, d->digest, &lr.w, err);
		if (r < 0) {
			reg_stream_free(lr.st);
			return r;
		}
		lr.w_open = true;
	}
	if (!have_layer) {
		r = img_layer_create(ctx->layers_dir, chain, p->diff_ids[i], &rd, err);
	} else {
		const void *b;
		ssize_t n;
		while ((n = layer_read(&lr, &b, err)) > 0)
			;
		r = (int)n;
	}
	if (lr.w_open)
		img_blob_writer_abort(&lr.w);
	reg_stream_free(lr.st);
	safe_close(lr.fd);
	free(lr.buf);
	return r;
}

static void *layer_worker(void *arg)
{
	struct pull *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		size_t i = p->next++;
		bool stop = p->err || i >= p->m.n_layers;
		pthread_mutex_unlock(&p->lock);
		if (stop)
			return NULL;
		struct berr *e = NULL;
		if (p->s.cancel && atomic_load(p->s.cancel)) {
			pthread_mutex_lock(&p->lock);
			if (!p->err)
				berr_set(&p->err, ECANCELED, "pull cancelled");
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		const char *key = p->m.layers[i].digest;
		int r = img_inflight_claim(p->ctx, key, p->s.cancel, &e);
		if (r >= 0) {
			r = layer_fetch(p, i, &e);
			img_inflight_release(p->ctx, key);
		}
		if (r < 0) {
			berr_wrap(&e, "layer '%s'", key);
			pthread_mutex_lock(&p->lock);
			if (!p->err)
				p->err = TAKE_PTR(e);
			pthread_mutex_unlock(&p->lock);
			berr_free(e);
		}
	}
}

static int fetch_layers(struct pull *p, struct berr **err)
{
	size_t n = p->m.n_layers;
	size_t nt = p->ctx->parallel < n ? p->ctx->parallel : n;
	pthread_t *th = xcalloc(nt ? nt : 1, sizeof(pthread_t));
	size_t started = 0;
	int r = 0;
	for (; started < nt; started++) {
		int e = pthread_create(&th[started], NULL, layer_worker, p);
		if (e) {
			r = berr_set_errno(err, e, "start layer download thread");
			pthread_mutex_lock(&p->lock);
			p->next = n; /* the started workers stop after their current layer */
			pthread_mutex_unlock(&p->lock);
			break;
		}
	}
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
	if (r >= 0 && p->err)
		r = berr_move(err, &p->err);
	return r;
}

/* Fetches manifests/<ref> trying each endpoint in order; verifies want_digest if set. */
static int fetch_manifest(struct pull *p, const char *ref, const char *want_digest, bool try_all,
			  struct reg_resp *ret, char digest[IMG_DIGEST_LEN + 1], struct berr **err)
{
	_cleanup_free_ char *what = xasprintf("manifests/%s", ref);
	_cleanup_free_ char *earlier = NULL; /* what the endpoints before the last one said */
	int r = -EIO;
	size_t first = try_all ? 0 : p->s.cur, last = try_all ? p->s.n_endpoints : p->s.cur + 1;
	for (size_t i = first; i < last; i++) {
		if (try_all)
			reg_session_use(&p->s, i);
		struct berr *e = NULL;
		r = reg_get(&p->s, what, ACCEPT_MANIFESTS, IMG_MANIFEST_MAX, ret, &e);
		if (r >= 0) {
			berr_free(e);
			break;
		}
		log_debug("endpoint=%s msg=\"manifest fetch failed: %s\"", p->s.endpoints[i],
			  berr_msg(e));
		if (i + 1 == last) {
			/* the upstream's error decides the code; a mirror's answer (a 404, say)
			 * is kept in the message rather than hidden behind it */
			if (earlier)
				berr_set(err, -r, "%s (mirrors: %s)", berr_msg(e), earlier);
			else
				berr_move(err, &e);
		} else {
			char *more = earlier ? xasprintf("%s; %s", earlier, berr_msg(e))
					     : xstrdup(berr_msg(e));
			free(earlier);
			earlier = more;
		}
		berr_free(e);
	}
	if (r < 0)
		return r;
	img_sha256_digest(ret->body, ret->len, digest);
	if (want_digest && strcmp(digest, want_digest) != 0) {
		reg_resp_done(ret);
		return berr_set(err, EPROTO, "manifest digest mismatch: want '%s', got '%s'",
				want_digest, digest);
	}
	return 0;
}

static int store_blob(struct img_ctx *ctx, const char *digest, const char *data, size_t len,
		      struct berr **err)
{
	if (img_blob_exists(ctx, digest))
		return 0;
	return img_blob_put(ctx, digest, data, len, err);
}

static int fetch_config(struct pull *p, char **ret, size_t *ret_len, struct berr **err)
{
	struct img_ctx *ctx = p->ctx;
	const struct img_descriptor *d = &p->m.config;
	if (d->size > IMG_CONFIG_MAX)
		return berr_set(err, E2BIG, "image config too large (%llu > %u)",
				(unsigned long long)d->size, IMG_CONFIG_MAX);
	int r = img_inflight_claim(ctx, d->digest, p->s.cancel, err);
	if (r < 0)
		return r;
	if (img_blob_exists(ctx, d->digest)) {
		r = img_blob_read(ctx, d->digest, IMG_CONFIG_MAX, ret, ret_len, err);
	} else {
		_cleanup_free_ char *what = xasprintf("blobs/%s", d->digest);
		struct reg_resp resp = {0};
		r = reg_get(&p->s, what, NULL, IMG_CONFIG_MAX, &resp, err);
		if (r >= 0) {
			atomic_fetch_add(&ctx->blob_fetches, 1);
			atomic_fetch_add(&p->fetched, (uint64_t)resp.len);
			r = img_blob_put(ctx, d->digest, resp.body, resp.len, err);
		}
		if (r >= 0) {
			*ret = TAKE_PTR(resp.body);
			*ret_len = resp.len;
		}
		reg_resp_done(&resp);
	}
	img_inflight_release(ctx, d->digest);
	if (r < 0)
		berr_wrap(err, "image config '%s'", d->digest);
	return r;
}

/* Manifest resolution: tag or digest, index to platform manifest; fills p->m. */
static int resolve(struct pull *p, const struct img_ref *ref, struct img_pulled *out,
		   struct berr **err)
{
	struct img_ctx *ctx = p->ctx;
	struct reg_resp resp = {0};
	char top[IMG_DIGEST_LEN + 1], digest[IMG_DIGEST_LEN + 1];
	int r = fetch_manifest(p, ref->digest ? ref->digest : ref->tag, ref->digest, true, &resp,
			       top, err);
	if (r < 0)
		return r;
	size_t nb = 0;
	r = img_manifest_parse(resp.body, resp.len, resp.content_type, &p->m, err);
	if (r >= 0)
		r = store_blob(ctx, top, resp.body, resp.len, err);
	strv_push(&out->blobs, &nb, top);
	memcpy(digest, top, sizeof(top));
	if (r >= 0 && p->m.kind == IMG_MANIFEST_INDEX) {
		const struct img_descriptor *sel;
		r = img_index_select(&p->m, ctx->os, ctx->arch, ctx->variant, &sel, err);
		_cleanup_free_ char *sel_digest = r >= 0 ? xstrdup(sel->digest) : NULL;
		reg_resp_done(&resp);
		img_manifest_done(&p->m);
		if (r >= 0)
			r = fetch_manifest(p, sel_digest, sel_digest, false, &resp, digest, err);
		if (r >= 0)
			r = img_manifest_parse(resp.body, resp.len, resp.content_type, &p->m, err);
		if (r >= 0 && p->m.kind != IMG_MANIFEST_IMAGE)
			r = berr_set(err, EPROTO, "index entry '%s' is not an image manifest",
				     sel_digest);
		if (r >= 0)
			r = store_blob(ctx, digest, resp.body, resp.len, err);
		if (r >= 0)
			strv_push(&out->blobs, &nb, digest);
	}
	reg_resp_done(&resp);
	if (r < 0)
		return r;
	_cleanup_free_ char *name = img_ref_name(ref);
	out->repo_digest = xasprintf("%s@%s", name, top);
	out->manifest_digest = xstrdup(digest);
	if (ref->tag && !ref->digest)
		out->repo_tag = img_ref_string(ref);
	return 0;
}

static int pull_locked(struct pull *p, const struct img_ref *ref, struct img_pulled *out,
		       struct berr **err)
{
	int r = resolve(p, ref, out, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *cfg = NULL;
	size_t cfg_len = 0;
	r = fetch_config(p, &cfg, &cfg_len, err);
	if (r < 0)
		return r;
	size_t n_diff = 0;
	r = img_config_parse_full(cfg, cfg_len, &out->config, &out->diff_ids, &n_diff, err);
	if (r < 0)
		return r;
	if (n_diff != p->m.n_layers)
		return berr_set(err, EPROTO, "manifest has %zu layers but config %zu diff ids",
				p->m.n_layers, n_diff);
	out->n_layers = n_diff;
	out->chain_ids = img_chain_ids(out->diff_ids, n_diff);
	p->chain_ids = out->chain_ids;
	p->diff_ids = out->diff_ids;
	r = fetch_layers(p, err);
	if (r < 0)
		return r;
	size_t nb = 0;
	while (out->blobs[nb])
		nb++;
	out->id = xstrdup(p->m.config.digest);
	out->size = p->m.config.size;
	strv_push(&out->blobs, &nb, p->m.config.digest);
	out->layer_digests = xcalloc(n_diff + 1, sizeof(char *));
	for (size_t i = 0; i < n_diff; i++) {
		out->layer_digests[i] = xstrdup(p->m.layers[i].digest);
		strv_push(&out->blobs, &nb, p->m.layers[i].digest);
		out->size += p->m.layers[i].size;
	}
	out->config_json = TAKE_PTR(cfg);
	return 0;
}

int img_pull(struct img_ctx *ctx, const char *ref_s, const struct img_auth *auth,
	     struct img_pulled **ret, struct berr **err)
{
	return img_pull_cancellable(ctx, ref_s, auth, NULL, ret, err);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
	/* once per process, never cleaned up: curl_global_cleanup() would race with any other
	 * user of the process's libcurl */
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int img_pull_cancellable(struct img_ctx *ctx, const char *ref_s, const struct img_auth *auth,
			 const atomic_bool *cancel, struct img_pulled **ret, struct berr **err)
{
	struct img_ref ref;
	int r = img_ref_parse(ref_s, &ref, err);
	if (r < 0)
		return r;
	pthread_once(&curl_once, curl_init);
	struct pull p = {.ctx = ctx};
	pthread_mutex_init(&p.lock, NULL);
	struct img_pulled *out = xcalloc(1, sizeof(*out));
	r = reg_session_init(&p.s, ctx, ref.domain, ref.path, auth, err);
	p.s.cancel = cancel;
	if (r >= 0) {
		img_pin(ctx);
		out->pinned_ctx = ctx; /* released by img_pulled_free() */
		/* shared with other pulls, in any process; gc takes it exclusively */
		int lock = img_root_lock(ctx, LOCK_SH, err);
		r = lock < 0 ? lock : pull_locked(&p, &ref, out, err);
		safe_close(lock);
		reg_session_done(&p.s);
	}
	img_manifest_done(&p.m);
	berr_free(p.err);
	pthread_mutex_destroy(&p.lock);
	if (r < 0) {
		berr_wrap(err, "pull '%s'", ref_s);
		img_pulled_free(out);
	} else {
		out->fetched = atomic_load(&p.fetched);
		*ret = out;
	}
	img_ref_done(&ref);
	return r;
}
