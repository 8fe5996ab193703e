/* SPDX-License-Identifier: Apache-2.0 */
/* helper.c - running a pull in libexec/berth-pull: the request and answer JSON both sides
 * use, and img_pull_spawn(), which berthd calls (see image.h for the protocol). */
#include "image/image.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fault.h"
#include "common/ids.h"
#include "common/spawn.h"
#include "common/strv.h"
#include "image/image-internal.h"

#define REQUEST_MAX  (1u << 20)
#define ANSWER_MAX   (IMG_CONFIG_MAX + (4u << 20)) /* the config and the digest lists */
#define POLL_MS	     200
#define TERM_WAIT_MS 10000 /* after SIGTERM, before SIGKILL */

static void add_str(struct json_object *o, const char *key, const char *v)
{
	if (v)
		json_object_object_add(o, key, json_object_new_string(v));
}

static void add_strv(struct json_object *o, const char *key, char *const *v)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; v && v[i]; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	json_object_object_add(o, key, a);
}

static char *to_string(struct json_object *o)
{
	char *s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

/* A string array (NULL when key is missing or holds anything but strings). */
static char **jstrv(struct json_object *o, const char *key, size_t *ret_n)
{
	struct json_object *a = img_jget(o, key, json_type_array);
	if (!a)
		return NULL;
	size_t n = json_object_array_length(a);
	char **v = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		if (!json_object_is_type(e, json_type_string)) {
			strv_free(v);
			return NULL;
		}
		v[i] = xstrdup(json_object_get_string(e));
	}
	if (ret_n)
		*ret_n = n;
	return v;
}

/* ---- request ---- */

char *img_pull_request_to_json(const struct img_ctx *ctx, const char *ref,
			       const struct img_auth *auth, const char *log_level,
			       const char *log_format)
{
	struct json_object *o = json_object_new_object();
	add_str(o, "ref", ref);
	add_str(o, "root", ctx->root);
	add_str(o, "log_level", log_level);
	add_str(o, "log_format", log_format);
	add_str(o, "os", ctx->os);
	add_str(o, "arch", ctx->arch);
	add_str(o, "variant", ctx->variant);
	json_object_object_add(o, "parallel", json_object_new_int((int)ctx->parallel));
	json_object_object_add(o, "stall_timeout_ms", json_object_new_int64(ctx->stall_timeout_ms));
	struct json_object *regs = json_object_new_array();
	/* the settings in effect when the pull starts (img_ctx_set_registries swaps them) */
	pthread_mutex_t *regs_lock = (pthread_mutex_t *)&ctx->regs_lock;
	pthread_mutex_lock(regs_lock);
	for (size_t i = 0; i < ctx->n_regs; i++) {
		struct json_object *g = json_object_new_object();
		add_str(g, "host", ctx->regs[i].host);
		add_strv(g, "mirrors", ctx->regs[i].mirrors);
		json_object_object_add(g, "insecure",
				       json_object_new_boolean(ctx->regs[i].insecure));
		json_object_array_add(regs, g);
	}
	pthread_mutex_unlock(regs_lock);
	json_object_object_add(o, "registries", regs);
	if (auth) {
		struct json_object *a = json_object_new_object();
		add_str(a, "username", auth->username);
		add_str(a, "password", auth->password);
		add_str(a, "auth", auth->auth);
		add_str(a, "identity_token", auth->identity_token);
		add_str(a, "registry_token", auth->registry_token);
		json_object_object_add(o, "auth", a);
	}
	return to_string(o);
}

int img_pull_request_parse(const char *json, size_t len, struct img_pull_request *ret,
			   struct berr **err)
{
	_cleanup_json_ struct json_object *o = NULL;
	int r = img_json_parse(json, len, REQUEST_MAX, "pull request", &o, err);
	if (r < 0)
		return r;
	struct img_pull_request q = {0};
	const char *ref = img_jstr(o, "ref"), *root = img_jstr(o, "root");
	if (!ref || !root)
		return berr_set(err, EINVAL, "pull request without ref or root");
	q.ref = xstrdup(ref);
	q.log_level = xstrdup_null(img_jstr(o, "log_level"));
	q.log_format = xstrdup_null(img_jstr(o, "log_format"));
	q.opts.root = xstrdup(root);
	q.opts.platform_os = xstrdup_null(img_jstr(o, "os"));
	q.opts.platform_arch = xstrdup_null(img_jstr(o, "arch"));
	q.opts.platform_variant = xstrdup_null(img_jstr(o, "variant"));
	struct json_object *par = img_jget(o, "parallel", json_type_int);
	int parallel = par ? json_object_get_int(par) : 0;
	q.opts.parallel = parallel > 0 && parallel <= 64 ? (unsigned)parallel : 0;
	struct json_object *stall = img_jget(o, "stall_timeout_ms", json_type_int);
	q.opts.stall_timeout_ms = stall ? json_object_get_int64(stall) : 0;
	struct json_object *regs = img_jget(o, "registries", json_type_array);
	size_t n = regs ? json_object_array_length(regs) : 0;
	struct img_registry *rv = xcalloc(n + 1, sizeof(*rv));
	q.opts.registries = rv;
	for (size_t i = 0; i < n; i++) {
		struct json_object *g = json_object_array_get_idx(regs, i);
		const char *host = img_jstr(g, "host");
		if (!host) {
			img_pull_request_done(&q);
			return berr_set(err, EINVAL, "pull request: registry %zu without host", i);
		}
		size_t nm = 0;
		char **mirrors = jstrv(g, "mirrors", &nm);
		struct json_object *ins = img_jget(g, "insecure", json_type_boolean);
		rv[q.opts.n_registries++] = (struct img_registry){
		    .host = xstrdup(host),
		    .mirrors =
			(const char *const *)(mirrors ? mirrors : xcalloc(1, sizeof(char *))),
		    .n_mirrors = nm,
		    .insecure = ins && json_object_get_boolean(ins)};
	}
	struct json_object *a = img_jget(o, "auth", json_type_object);
	if (a) {
		q.has_auth = true;
		q.auth = (struct img_auth){
		    .username = xstrdup_null(img_jstr(a, "username")),
		    .password = xstrdup_null(img_jstr(a, "password")),
		    .auth = xstrdup_null(img_jstr(a, "auth")),
		    .identity_token = xstrdup_null(img_jstr(a, "identity_token")),
		    .registry_token = xstrdup_null(img_jstr(a, "registry_token"))};
	}
	*ret = q;
	return 0;
}

/* Frees a secret after overwriting it. */
static void free_secret(const char *s)
{
	if (!s)
		return;
	explicit_bzero((char *)s, strlen(s));
	free((char *)s);
}

void img_pull_request_done(struct img_pull_request *q)
{
	free(q->ref);
	free(q->log_level);
	free(q->log_format);
	free_secret(q->auth.username);
	free_secret(q->auth.password);
	free_secret(q->auth.auth);
	free_secret(q->auth.identity_token);
	free_secret(q->auth.registry_token);
	free((char *)q->opts.root);
	free((char *)q->opts.platform_os);
	free((char *)q->opts.platform_arch);
	free((char *)q->opts.platform_variant);
	for (size_t i = 0; i < q->opts.n_registries; i++) {
		free((char *)q->opts.registries[i].host);
		strv_free((char **)q->opts.registries[i].mirrors);
	}
	free((struct img_registry *)q->opts.registries);
	*q = (struct img_pull_request){0};
}

/* ---- answer ---- */

struct img_pulled *img_pulled_free(struct img_pulled *p)
{
	if (!p)
		return NULL;
	if (p->pinned_ctx)
		img_unpin(p->pinned_ctx);
	free(p->id);
	free(p->repo_tag);
	free(p->repo_digest);
	free(p->manifest_digest);
	img_config_done(&p->config);
	free(p->config_json);
	strv_free(p->layer_digests);
	strv_free(p->diff_ids);
	strv_free(p->chain_ids);
	strv_free(p->blobs);
	free(p);
	return NULL;
}

char *img_pulled_to_json(const struct img_pulled *p)
{
	struct json_object *o = json_object_new_object();
	add_str(o, "id", p->id);
	add_str(o, "repo_tag", p->repo_tag);
	add_str(o, "repo_digest", p->repo_digest);
	add_str(o, "manifest_digest", p->manifest_digest);
	json_object_object_add(o, "size", json_object_new_uint64(p->size));
	json_object_object_add(o, "fetched", json_object_new_uint64(p->fetched));
	add_str(o, "config_json", p->config_json);
	add_strv(o, "layer_digests", p->layer_digests);
	add_strv(o, "diff_ids", p->diff_ids);
	add_strv(o, "chain_ids", p->chain_ids);
	add_strv(o, "blobs", p->blobs);
	return to_string(o);
}

char *img_pull_error_to_json(int r, const struct berr *e)
{
	struct json_object *o = json_object_new_object();
	struct json_object *x = json_object_new_object();
	json_object_object_add(x, "errno", json_object_new_int(r < 0 ? -r : EIO));
	add_str(x, "message", e ? berr_msg(e) : strerror(r < 0 ? -r : EIO));
	json_object_object_add(o, "error", x);
	return to_string(o);
}

static bool all_digests(char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!img_digest_is_valid(v[i]))
			return false;
	return true;
}

/* The helper's image, checked against the store: a helper that claims what isn't there
 * would have berthd record an image no container can run from. */
static int pulled_check(struct img_ctx *ctx, struct img_pulled *p, struct berr **err)
{
	size_t n = p->n_layers;
	if (!img_digest_is_valid(p->id) || !p->repo_digest || !p->manifest_digest ||
	    !p->config_json || !p->layer_digests || !p->diff_ids || !p->chain_ids || !p->blobs ||
	    strv_len(p->layer_digests) != n || strv_len(p->chain_ids) != n ||
	    !all_digests(p->layer_digests, n) || !all_digests(p->chain_ids, n) ||
	    !all_digests(p->blobs, strv_len(p->blobs)))
		return berr_set(err, EPROTO, "incomplete or malformed image");
	char **diff = NULL;
	size_t n_diff = 0;
	int r = img_config_parse_full(p->config_json, strlen(p->config_json), &p->config, &diff,
				      &n_diff, err);
	if (r < 0)
		return r;
	bool same = n_diff == n && strv_equal(diff, p->diff_ids);
	strv_free(diff);
	if (!same)
		return berr_set(err, EPROTO, "diff ids differ from the image config's");
	char **chains = img_chain_ids(p->diff_ids, n);
	same = strv_equal(chains, p->chain_ids);
	strv_free(chains);
	if (!same)
		return berr_set(err, EPROTO, "chain ids don't follow from the diff ids");
	for (size_t i = 0; p->blobs[i]; i++)
		if (!img_blob_exists(ctx, p->blobs[i]))
			return berr_set(err, EPROTO, "blob '%s' is not in the store", p->blobs[i]);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = NULL;
		struct berr *e = NULL;
		if (img_layer_path(ctx, p->chain_ids[i], &path, &e) < 0) {
			berr_free(e);
			return berr_set(err, EPROTO, "layer '%s' is not unpacked", p->chain_ids[i]);
		}
	}
	return 0;
}

int img_pull_answer_parse(struct img_ctx *ctx, const char *json, size_t len,
			  struct img_pulled **ret, struct berr **err)
{
	_cleanup_json_ struct json_object *o = NULL;
	int r = img_json_parse(json, len, ANSWER_MAX, "answer", &o, err);
	if (r < 0)
		return r;
	struct json_object *x = img_jget(o, "error", json_type_object);
	if (x) {
		struct json_object *en = img_jget(x, "errno", json_type_int);
		int e = en ? json_object_get_int(en) : 0;
		const char *msg = img_jstr(x, "message");
		if (e <= 0 || e > 4095)
			e = EIO;
		return berr_set(err, e, "%s", msg ? msg : strerror(e));
	}
	struct img_pulled *p = xcalloc(1, sizeof(*p));
	p->id = xstrdup_null(img_jstr(o, "id"));
	p->repo_tag = xstrdup_null(img_jstr(o, "repo_tag"));
	p->repo_digest = xstrdup_null(img_jstr(o, "repo_digest"));
	p->manifest_digest = xstrdup_null(img_jstr(o, "manifest_digest"));
	struct json_object *size = img_jget(o, "size", json_type_int);
	p->size = size ? json_object_get_uint64(size) : 0;
	struct json_object *fetched = img_jget(o, "fetched", json_type_int);
	p->fetched = fetched ? json_object_get_uint64(fetched) : 0;
	p->config_json = xstrdup_null(img_jstr(o, "config_json"));
	p->layer_digests = jstrv(o, "layer_digests", NULL);
	p->diff_ids = jstrv(o, "diff_ids", &p->n_layers);
	p->chain_ids = jstrv(o, "chain_ids", NULL);
	p->blobs = jstrv(o, "blobs", NULL);
	r = pulled_check(ctx, p, err);
	if (r < 0) {
		img_pulled_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

/* ---- berthd's side ---- */

struct helper_run {
	pid_t pid;
	int in, out;	 /* our ends: request writer, answer reader */
	const char *req; /* request not yet written */
	size_t req_left;
	char *ans;
	size_t ans_len, ans_cap;
	bool ans_too_big;
	int64_t term_at; /* when SIGTERM was sent (monotonic ns), 0 = not yet */
};

/* Writes what the pipe takes of the request; closes our end once all is written. */
static void feed(struct helper_run *h)
{
	while (h->req_left > 0) {
		ssize_t n = write(h->in, h->req, h->req_left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			h->req_left = 0; /* EPIPE: the helper went away; its exit says why */
			break;
		}
		h->req += n;
		h->req_left -= (size_t)n;
	}
	h->in = safe_close(h->in);
}

/* Reads what there is of the answer; returns false at its end. */
static bool drain(struct helper_run *h)
{
	for (;;) {
		if (h->ans_cap - h->ans_len < 65536) {
			if (h->ans_cap >= ANSWER_MAX) {
				/* keep reading so the helper never blocks on a full pipe */
				char sink[65536];
				ssize_t n = read(h->out, sink, sizeof(sink));
				if (n == 0)
					return false;
				if (n > 0) {
					h->ans_too_big = true;
					continue;
				}
				return errno == EINTR || errno == EAGAIN;
			}
			h->ans_cap = h->ans_cap ? 2 * h->ans_cap : 65536 * 2;
			h->ans = xrealloc(h->ans, h->ans_cap + 1);
		}
		ssize_t n = read(h->out, h->ans + h->ans_len, h->ans_cap - h->ans_len);
		if (n == 0)
			return false;
		if (n < 0)
			return errno == EINTR || errno == EAGAIN;
		h->ans_len += (size_t)n;
	}
}

static void maybe_stop(struct helper_run *h, const struct img_spawn_opts *o, bool *cancelled,
		       int term_wait_ms)
{
	if (!*cancelled && o->cancelled && o->cancelled(o->cancel_arg)) {
		*cancelled = true;
		h->term_at = time_mono_ns();
		(void)kill(h->pid, SIGTERM);
	} else if (h->term_at &&
		   time_mono_ns() - h->term_at > (int64_t)term_wait_ms * 1000 * 1000) {
		(void)kill(h->pid, SIGKILL);
		h->term_at = INT64_MAX / 2; /* once */
	}
}

static int run_helper(struct img_ctx *ctx, const struct img_spawn_opts *o, const char *request,
		      struct img_pulled **ret, struct berr **err)
{
	int pin[2], pout[2];
	if (pipe2(pin, O_CLOEXEC) < 0)
		return berr_set_errno(err, errno, "pipe");
	if (pipe2(pout, O_CLOEXEC) < 0) {
		int e = errno;
		close(pin[0]);
		close(pin[1]);
		return berr_set_errno(err, e, "pipe");
	}
	char *argv[] = {(char *)"berth-pull", NULL};
	struct spawn_opts so = SPAWN_OPTS_INIT;
	so.path = o->helper;
	so.argv = argv;
	so.fd_in = pin[0];
	so.fd_out = pout[1];
	so.fd_err = STDERR_FILENO; /* its log lines join ours */
	struct helper_run h = {.in = pin[1], .out = pout[0], .req = request};
	h.req_left = strlen(request);
	int term_wait_ms = o->term_wait_ms > 0 ? o->term_wait_ms : TERM_WAIT_MS;
	struct berr *e = NULL;
	int r = spawn_start(&so, &h.pid, &e);
	if (r == 0) /* berthd dies with the pull under way */
		(void)BERTH_FAULT_POINT("pull.spawned", NULL);
	close(pin[0]);
	close(pout[1]);
	if (r < 0) {
		close(pin[1]);
		close(pout[0]);
		/* an installation problem, not a missing image: not ENOENT */
		r = berr_set(err, EIO, "start berth-pull: %s", berr_msg(e));
		berr_free(e);
		return r;
	}
	(void)fcntl(h.in, F_SETFL, O_NONBLOCK);
	(void)fcntl(h.out, F_SETFL, O_NONBLOCK);
	bool cancelled = false, open = true, exited = false;
	int status = 0;
	while (open && !exited) {
		feed(&h);
		struct pollfd p[2] = {{.fd = h.out, .events = POLLIN},
				      {.fd = h.in, .events = POLLOUT}};
		int n = poll(p, h.in >= 0 ? 2 : 1, POLL_MS);
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && p[0].revents)
			open = drain(&h);
		if (n == 0) {
			/* quiet: has it ended, with something of its own holding the pipe? */
			exited = waitpid(h.pid, &status, WNOHANG) == h.pid;
			if (exited)
				(void)drain(&h);
		}
		maybe_stop(&h, o, &cancelled, term_wait_ms);
	}
	safe_close(h.in);
	close(h.out);
	if (!exited && (r = spawn_wait(h.pid, &status, err)) < 0) {
		free(h.ans);
		return r;
	}
	if (cancelled) {
		/* whatever the helper managed to say, the caller asked it to stop */
		free(h.ans);
		return berr_set(err, ECANCELED, "pull cancelled");
	}
	if (h.ans_too_big) {
		free(h.ans);
		return berr_set(err, EPROTO, "berth-pull's answer is too large");
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) > 1 || h.ans_len == 0) {
		free(h.ans);
		_cleanup_free_ char *why = spawn_status_str(status);
		return berr_set(err, EIO, "berth-pull (%s) ended without an answer: %s", o->helper,
				why);
	}
	h.ans[h.ans_len] = '\0';
	r = img_pull_answer_parse(ctx, h.ans, h.ans_len, ret, &e);
	free(h.ans);
	if (r < 0 && WEXITSTATUS(status) == 0) /* it said it succeeded: that doesn't hold up */
		berr_wrap(&e, "berth-pull's answer");
	return r < 0 ? berr_move(err, &e) : 0;
}

int img_pull_spawn(struct img_ctx *ctx, const struct img_spawn_opts *o, const char *ref,
		   const struct img_auth *auth, struct img_pulled **ret, struct berr **err)
{
	if (!o->helper)
		return berr_set(err, EINVAL, "no berth-pull helper given");
	/* a malformed reference is answered here, without starting a process */
	struct img_ref parsed;
	int r = img_ref_parse(ref, &parsed, err);
	if (r < 0)
		return r;
	img_ref_done(&parsed);
	char *request = img_pull_request_to_json(ctx, ref, auth, o->log_level, o->log_format);
	/* pinned before the helper starts: what it stores stays until the image is recorded */
	img_pin(ctx);
	struct img_pulled *p = NULL;
	r = run_helper(ctx, o, request, &p, err);
	explicit_bzero(request, strlen(request));
	free(request);
	if (r < 0) {
		img_unpin(ctx);
		return r;
	}
	p->pinned_ctx = ctx; /* img_pulled_free() unpins */
	*ret = p;
	return 0;
}
