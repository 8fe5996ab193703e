/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of image/helper.c: the berth-pull request and answer JSON, the checks of an
 * answer against the store, and img_pull_spawn() driving stand-in helpers (shell scripts)
 * through success, large requests, bad answers, helper errors, a missing helper,
 * cancellation (SIGTERM, then SIGKILL) and the gc hold while a result is unrecorded. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/ids.h"
#include "common/strv.h"
#include "image/image-internal.h"
#include "image/image.h"

static char *tmpdir;
static struct img_ctx *ctx;
/* a stored image: config and layer blobs, the manifest blob, the unpacked layer */
static char cfg_digest[IMG_DIGEST_LEN + 1], layer_digest[IMG_DIGEST_LEN + 1],
    manifest_digest[IMG_DIGEST_LEN + 1], diff_id[IMG_DIGEST_LEN + 1];
static char *cfg_json;

static int group_setup(void **state)
{
	char tpl[] = "/tmp/berth-test-image-helper-XXXXXX";
	if (!mkdtemp(tpl))
		return -1;
	tmpdir = xstrdup(tpl);
	_cleanup_free_ char *root = xasprintf("%s/root", tmpdir);
	const char *mirrors[] = {"http://127.0.0.1:5001", "https://m.example"};
	struct img_registry regs[] = {
	    {.host = "docker.io", .mirrors = mirrors, .n_mirrors = 2},
	    {.host = "reg.example:5000", .insecure = true},
	};
	struct img_opts o = {.root = root,
			     .registries = regs,
			     .n_registries = 2,
			     .parallel = 5,
			     .platform_arch = "arm64",
			     .platform_variant = "v8"};
	if (img_ctx_new(&o, &ctx, NULL) < 0)
		return -1;
	img_sha256_digest("layer tar", 9, diff_id);
	img_sha256_digest("layer tar.gz", 12, layer_digest);
	img_sha256_digest("manifest", 8, manifest_digest);
	cfg_json = xasprintf("{\"architecture\":\"arm64\",\"os\":\"linux\","
			     "\"config\":{\"User\":\"1000\",\"Env\":[\"A=1\"],\"Cmd\":[\"sh\"]},"
			     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
			     diff_id);
	img_sha256_digest(cfg_json, strlen(cfg_json), cfg_digest);
	_cleanup_free_ char *fs = xasprintf("%s/%s/fs", ctx->layers_dir, diff_id + 7);
	if (img_blob_put(ctx, cfg_digest, cfg_json, strlen(cfg_json), NULL) < 0 ||
	    img_blob_put(ctx, layer_digest, "layer tar.gz", 12, NULL) < 0 ||
	    img_blob_put(ctx, manifest_digest, "manifest", 8, NULL) < 0 ||
	    fileio_mkdir_p(fs, 0755, NULL) < 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	ctx = img_ctx_free(ctx);
	int r = fileio_remove_tree(tmpdir, NULL);
	free(tmpdir);
	free(cfg_json);
	return r;
}

/* The stored image as a pull would return it (chain id of one layer = its diff id). */
static struct img_pulled *stored_image(void)
{
	struct img_pulled *p = xcalloc(1, sizeof(*p));
	p->id = xstrdup(cfg_digest);
	p->repo_tag = xstrdup("docker.io/library/x:1");
	p->repo_digest = xasprintf("docker.io/library/x@%s", manifest_digest);
	p->manifest_digest = xstrdup(manifest_digest);
	p->size = 1234567890123ull;
	p->config_json = xstrdup(cfg_json);
	p->n_layers = 1;
	char *layers[] = {layer_digest, NULL}, *diffs[] = {diff_id, NULL};
	char *blobs[] = {manifest_digest, cfg_digest, layer_digest, NULL};
	p->layer_digests = strv_copy(layers);
	p->diff_ids = strv_copy(diffs);
	p->chain_ids = strv_copy(diffs);
	p->blobs = strv_copy(blobs);
	return p;
}

/* ---- request ---- */

static void test_request_round_trip(void **state)
{
	struct img_auth auth = {.username = "u",
				.password = "p \"quoted\"",
				.auth = "dTpw",
				.identity_token = "it",
				.registry_token = "rt"};
	_cleanup_free_ char *json = img_pull_request_to_json(ctx, "x:1", &auth, "debug", "json");
	struct img_pull_request q;
	assert_int_equal(img_pull_request_parse(json, strlen(json), &q, NULL), 0);
	assert_string_equal(q.ref, "x:1");
	assert_string_equal(q.log_level, "debug");
	assert_string_equal(q.log_format, "json");
	assert_string_equal(q.opts.root, ctx->root);
	assert_string_equal(q.opts.platform_os, "linux");
	assert_string_equal(q.opts.platform_arch, "arm64");
	assert_string_equal(q.opts.platform_variant, "v8");
	assert_int_equal(q.opts.parallel, 5);
	assert_int_equal(q.opts.n_registries, 2);
	assert_string_equal(q.opts.registries[0].host, "docker.io");
	assert_int_equal(q.opts.registries[0].n_mirrors, 2);
	assert_string_equal(q.opts.registries[0].mirrors[1], "https://m.example");
	assert_false(q.opts.registries[0].insecure);
	assert_string_equal(q.opts.registries[1].host, "reg.example:5000");
	assert_int_equal(q.opts.registries[1].n_mirrors, 0);
	assert_non_null(q.opts.registries[1].mirrors);
	assert_true(q.opts.registries[1].insecure);
	assert_true(q.has_auth);
	assert_string_equal(q.auth.username, "u");
	assert_string_equal(q.auth.password, "p \"quoted\"");
	assert_string_equal(q.auth.auth, "dTpw");
	assert_string_equal(q.auth.identity_token, "it");
	assert_string_equal(q.auth.registry_token, "rt");
	img_pull_request_done(&q);

	/* no auth: none read back */
	_cleanup_free_ char *anon = img_pull_request_to_json(ctx, "x:1", NULL, NULL, NULL);
	assert_int_equal(img_pull_request_parse(anon, strlen(anon), &q, NULL), 0);
	assert_false(q.has_auth);
	assert_null(q.auth.password);
	assert_null(q.log_level);
	img_pull_request_done(&q);
}

static void test_request_errors(void **state)
{
	struct img_pull_request q;
	struct {
		const char *json;
		int code;
		const char *msg;
	} cases[] = {
	    {"not json", EPROTO, "bad pull request"},
	    {"[1]", EPROTO, "not an object"},
	    {"{\"root\":\"/r\"}", EINVAL, "without ref or root"},
	    {"{\"ref\":\"x\"}", EINVAL, "without ref or root"},
	    {"{\"ref\":\"x\",\"root\":\"/r\",\"registries\":[{\"mirrors\":[]}]}", EINVAL,
	     "registry 0 without host"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_berr_ struct berr *e = NULL;
		assert_int_equal(
		    img_pull_request_parse(cases[i].json, strlen(cases[i].json), &q, &e),
		    -cases[i].code);
		assert_non_null(strstr(e->msg, cases[i].msg));
	}
	size_t big = (2u << 20);
	_cleanup_free_ char *huge = xmalloc(big);
	memset(huge, ' ', big);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(img_pull_request_parse(huge, big, &q, &e), -E2BIG);
}

/* ---- answer ---- */

static void test_answer_round_trip(void **state)
{
	struct img_pulled *p = stored_image();
	_cleanup_free_ char *json = img_pulled_to_json(p);
	struct img_pulled *q = NULL;
	assert_int_equal(img_pull_answer_parse(ctx, json, strlen(json), &q, NULL), 0);
	assert_string_equal(q->id, p->id);
	assert_string_equal(q->repo_tag, p->repo_tag);
	assert_string_equal(q->repo_digest, p->repo_digest);
	assert_string_equal(q->manifest_digest, p->manifest_digest);
	assert_int_equal(q->size, 1234567890123ull);
	assert_string_equal(q->config_json, cfg_json);
	assert_int_equal(q->n_layers, 1);
	assert_true(strv_equal(q->layer_digests, p->layer_digests));
	assert_true(strv_equal(q->diff_ids, p->diff_ids));
	assert_true(strv_equal(q->chain_ids, p->chain_ids));
	assert_true(strv_equal(q->blobs, p->blobs));
	/* the config is parsed for the caller */
	assert_string_equal(q->config.user, "1000");
	assert_string_equal(q->config.env[0], "A=1");
	assert_string_equal(q->config.cmd[0], "sh");
	assert_string_equal(q->config.arch, "arm64");
	img_pulled_free(q);
	/* pulled by digest: no tag */
	free(p->repo_tag);
	p->repo_tag = NULL;
	_cleanup_free_ char *json2 = img_pulled_to_json(p);
	assert_int_equal(img_pull_answer_parse(ctx, json2, strlen(json2), &q, NULL), 0);
	assert_null(q->repo_tag);
	img_pulled_free(q);
	img_pulled_free(p);
}

typedef void (*spoil_fn)(struct img_pulled *p);

static void spoil_blob(struct img_pulled *p)
{
	char d[IMG_DIGEST_LEN + 1];
	img_sha256_digest("never stored", 12, d);
	free(p->blobs[1]);
	p->blobs[1] = xstrdup(d);
}

static void spoil_layer(struct img_pulled *p)
{
	char d[IMG_DIGEST_LEN + 1];
	img_sha256_digest("other tar", 9, d);
	/* a consistent image whose layer was never unpacked */
	free(p->diff_ids[0]);
	p->diff_ids[0] = xstrdup(d);
	free(p->chain_ids[0]);
	p->chain_ids[0] = xstrdup(d);
	free(p->config_json);
	p->config_json = xasprintf("{\"rootfs\":{\"diff_ids\":[\"%s\"]}}", d);
}

static void spoil_chain(struct img_pulled *p)
{
	free(p->chain_ids[0]);
	p->chain_ids[0] = xstrdup(layer_digest);
}

static void spoil_diff(struct img_pulled *p)
{
	free(p->diff_ids[0]);
	p->diff_ids[0] = xstrdup(layer_digest);
}

static void spoil_digest(struct img_pulled *p)
{
	free(p->id);
	p->id = xstrdup("sha256:nothex");
}

static void spoil_config(struct img_pulled *p)
{
	free(p->config_json);
	p->config_json = xstrdup("{\"rootfs\":");
}

static void spoil_count(struct img_pulled *p)
{
	strv_free(p->layer_digests);
	p->layer_digests = xcalloc(1, sizeof(char *));
}

static void test_answer_checked_against_store(void **state)
{
	struct {
		spoil_fn spoil;
		const char *msg;
	} cases[] = {
	    {spoil_blob, "is not in the store"},     {spoil_layer, "is not unpacked"},
	    {spoil_chain, "chain ids don't follow"}, {spoil_diff, "diff ids differ"},
	    {spoil_digest, "malformed image"},	     {spoil_config, "bad image config"},
	    {spoil_count, "malformed image"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct img_pulled *p = stored_image();
		cases[i].spoil(p);
		_cleanup_free_ char *json = img_pulled_to_json(p);
		img_pulled_free(p);
		struct img_pulled *q = NULL;
		_cleanup_berr_ struct berr *e = NULL;
		assert_int_equal(img_pull_answer_parse(ctx, json, strlen(json), &q, &e), -EPROTO);
		assert_null(q);
		if (!strstr(e->msg, cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, e->msg, cases[i].msg);
	}
}

static void test_answer_errors(void **state)
{
	struct berr *in = NULL;
	berr_set(&in, EACCES, "pull 'x': unauthorized: authentication required");
	_cleanup_free_ char *json = img_pull_error_to_json(-EACCES, in);
	berr_free(in);
	struct img_pulled *q = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(img_pull_answer_parse(ctx, json, strlen(json), &q, &e), -EACCES);
	assert_string_equal(e->msg, "pull 'x': unauthorized: authentication required");
	assert_null(q);
	/* an errno out of range becomes EIO; garbage is EPROTO */
	const char *odd = "{\"error\":{\"errno\":99999,\"message\":\"odd\"}}";
	e = berr_free(e);
	assert_int_equal(img_pull_answer_parse(ctx, odd, strlen(odd), &q, &e), -EIO);
	assert_string_equal(e->msg, "odd");
	e = berr_free(e);
	assert_int_equal(img_pull_answer_parse(ctx, "}{", 2, &q, &e), -EPROTO);
	assert_non_null(strstr(e->msg, "bad answer"));
}

/* ---- img_pull_spawn with stand-in helpers ---- */

/* Writes an executable script (body after "#!/bin/sh\n") and returns its path. */
static char *script(const char *name, const char *fmt, ...)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *body = NULL;
	assert_true(vasprintf(&body, fmt, ap) >= 0);
	va_end(ap);
	_cleanup_free_ char *text = xasprintf("#!/bin/sh\n%s\n", body);
	assert_int_equal(fileio_write_atomic(path, text, strlen(text), 0755, NULL), 0);
	return path;
}

static char *answer_file(const char *name, const char *json)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	assert_int_equal(fileio_write_atomic(path, json, strlen(json), 0644, NULL), 0);
	return path;
}

struct gc_waiter {
	atomic_bool done;
	int r;
};

static int keep_everything(void *arg, char ***ret_blobs, char ***ret_chains, struct berr **err)
{
	char *blobs[] = {manifest_digest, cfg_digest, layer_digest, NULL}, *ch[] = {diff_id, NULL};
	*ret_blobs = strv_copy(blobs);
	*ret_chains = strv_copy(ch);
	return 0;
}

static void *gc_thread(void *arg)
{
	struct gc_waiter *w = arg;
	w->r = img_gc(ctx, keep_everything, NULL, NULL, NULL, NULL);
	atomic_store(&w->done, true);
	return NULL;
}

static void test_spawn_success(void **state)
{
	struct img_pulled *p = stored_image();
	_cleanup_free_ char *json = img_pulled_to_json(p);
	img_pulled_free(p);
	_cleanup_free_ char *ans = answer_file("ok.json", json);
	_cleanup_free_ char *req = xasprintf("%s/ok.req", tmpdir);
	_cleanup_free_ char *helper = script("ok.sh", "cat > '%s'; cat '%s'", req, ans);
	/* a request larger than a pipe holds: written as the helper reads */
	size_t n = 300000;
	_cleanup_free_ char *token = xmalloc(n + 1);
	memset(token, 'k', n);
	token[n] = '\0';
	struct img_auth auth = {.username = "user", .password = "secret", .registry_token = token};
	struct img_spawn_opts o = {.helper = helper};
	struct img_pulled *q = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	if (img_pull_spawn(ctx, &o, "docker.io/library/x:1", &auth, &q, &e) < 0)
		fail_msg("spawn: %s", berr_msg(e));
	assert_string_equal(q->id, cfg_digest);
	assert_string_equal(q->config.user, "1000");
	/* the helper got the whole request, credentials included, on stdin */
	_cleanup_free_ char *got = NULL;
	size_t len = 0;
	assert_int_equal(fileio_read_all(req, 1u << 20, &got, &len, NULL), 0);
	assert_true(len > n);
	struct img_pull_request rq;
	assert_int_equal(img_pull_request_parse(got, len, &rq, NULL), 0);
	assert_string_equal(rq.ref, "docker.io/library/x:1");
	assert_string_equal(rq.auth.password, "secret");
	assert_int_equal(strlen(rq.auth.registry_token), n);
	assert_string_equal(rq.opts.root, ctx->root);
	img_pull_request_done(&rq);

	/* gc waits while the result is not freed (recorded, in berthd) */
	struct gc_waiter w = {0};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, gc_thread, &w), 0);
	struct timespec ts = {0, 300 * 1000 * 1000};
	nanosleep(&ts, NULL);
	assert_false(atomic_load(&w.done));
	img_pulled_free(q);
	pthread_join(th, NULL);
	assert_true(atomic_load(&w.done));
	assert_int_equal(w.r, 0);
	assert_true(img_blob_exists(ctx, layer_digest));
}

static void test_spawn_failures(void **state)
{
	_cleanup_free_ char *denied = answer_file(
	    "denied.json", "{\"error\":{\"errno\":13,\"message\":\"pull 'x': denied\"}}");
	struct {
		const char *name, *body;
		int code;
		const char *msg;
	} cases[] = {
	    {"exit3.sh", "cat >/dev/null; exit 3", EIO, "ended without an answer: exit status 3"},
	    {"killed.sh", "kill -9 $$", EIO, "killed by signal 9"},
	    {"garbage.sh", "cat >/dev/null; echo 'not json'", EPROTO,
	     "berth-pull's answer: bad answer"},
	    {"denied.sh", NULL, EACCES, "pull 'x': denied"},
	    /* the answer is an image the store does not have */
	    {"liar.sh", NULL, EPROTO, "is not in the store"},
	};
	struct img_pulled *p = stored_image();
	spoil_blob(p);
	_cleanup_free_ char *lie = img_pulled_to_json(p);
	img_pulled_free(p);
	_cleanup_free_ char *liar = answer_file("liar.json", lie);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *helper =
		    cases[i].body ? script(cases[i].name, "%s", cases[i].body)
		    : strcmp(cases[i].name, "denied.sh") == 0
			? script(cases[i].name, "cat >/dev/null; cat '%s'; exit 1", denied)
			: script(cases[i].name, "cat >/dev/null; cat '%s'", liar);
		struct img_spawn_opts o = {.helper = helper};
		struct img_pulled *q = NULL;
		_cleanup_berr_ struct berr *e = NULL;
		assert_int_equal(img_pull_spawn(ctx, &o, "x:1", NULL, &q, &e), -cases[i].code);
		assert_null(q);
		if (!strstr(e->msg, cases[i].msg))
			fail_msg("%s: '%s' lacks '%s'", cases[i].name, e->msg, cases[i].msg);
	}
	/* no helper: EIO naming it (not ENOENT, which would read as "no such image") */
	_cleanup_free_ char *missing = xasprintf("%s/no-such-helper", tmpdir);
	struct img_spawn_opts o = {.helper = missing};
	struct img_pulled *q = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(img_pull_spawn(ctx, &o, "x:1", NULL, &q, &e), -EIO);
	assert_non_null(strstr(e->msg, "no-such-helper"));
	/* a bad reference is refused before any process starts */
	e = berr_free(e);
	assert_int_equal(img_pull_spawn(ctx, &o, "UPPER/x", NULL, &q, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "lowercase"));
	/* and none of that left gc held off */
	assert_int_equal(img_gc(ctx, keep_everything, NULL, NULL, NULL, NULL), 0);
}

struct canceller {
	int calls, after;
};

static bool cancel_after(void *arg)
{
	struct canceller *c = arg;
	return ++c->calls > c->after;
}

static void test_spawn_cancel(void **state)
{
	/* SIGTERM ends a well-behaved helper */
	_cleanup_free_ char *pidfile = xasprintf("%s/sleeper.pid", tmpdir);
	_cleanup_free_ char *sleeper =
	    script("sleeper.sh", "echo $$ > '%s'; cat >/dev/null; exec sleep 30", pidfile);
	struct canceller c = {.after = 2};
	struct img_spawn_opts o = {.helper = sleeper, .cancelled = cancel_after, .cancel_arg = &c};
	struct img_pulled *q = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	int64_t t0 = time_mono_ns();
	assert_int_equal(img_pull_spawn(ctx, &o, "x:1", NULL, &q, &e), -ECANCELED);
	int64_t ms = (time_mono_ns() - t0) / 1000000;
	assert_true(ms < 5000);
	assert_string_equal(e->msg, "pull cancelled");
	/* and it was reaped */
	_cleanup_free_ char *pid = NULL;
	size_t len;
	assert_int_equal(fileio_read_all(pidfile, 64, &pid, &len, NULL), 0);
	_cleanup_free_ char *proc = xasprintf("/proc/%d", atoi(pid));
	assert_int_equal(access(proc, F_OK), -1);

	/* one that ignores SIGTERM gets SIGKILL after term_wait_ms */
	_cleanup_free_ char *stubborn =
	    script("stubborn.sh", "trap '' TERM; cat >/dev/null; while :; do sleep 0.05; done");
	struct canceller c2 = {.after = 0};
	struct img_spawn_opts o2 = {
	    .helper = stubborn, .cancelled = cancel_after, .cancel_arg = &c2, .term_wait_ms = 300};
	e = berr_free(e);
	t0 = time_mono_ns();
	assert_int_equal(img_pull_spawn(ctx, &o2, "x:1", NULL, &q, &e), -ECANCELED);
	ms = (time_mono_ns() - t0) / 1000000;
	assert_true(ms >= 300);
	assert_true(ms < 5000);
	assert_int_equal(img_gc(ctx, keep_everything, NULL, NULL, NULL, NULL), 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* as berthd: a helper may go before reading its request */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_round_trip),
	    cmocka_unit_test(test_request_errors),
	    cmocka_unit_test(test_answer_round_trip),
	    cmocka_unit_test(test_answer_checked_against_store),
	    cmocka_unit_test(test_answer_errors),
	    cmocka_unit_test(test_spawn_success),
	    cmocka_unit_test(test_spawn_failures),
	    cmocka_unit_test(test_spawn_cancel),
	};
	return cmocka_run_group_tests_name("image helper", tests, group_setup, group_teardown);
}
