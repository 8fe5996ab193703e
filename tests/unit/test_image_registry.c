/* SPDX-License-Identifier: Apache-2.0 */
/* Registry-backed tests of image/: pulls from a real docker-registry on 127.0.0.1.
 * Run by tests/integration/test_image_registry.py, which starts the registries, pushes the
 * test images (tests/integration/registry.py) and passes their coordinates in BERTH_TEST_*
 * variables. Each test pulls into a fresh image root. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "image/image-internal.h"
#include "image/image.h"

static char *tmpdir;
static unsigned ctx_seq;

static const char *env(const char *name)
{
	const char *v = getenv(name);
	if (!v || !*v)
		fail_msg("%s is not set (run through tests/integration/test_image_registry.py)",
			 name);
	return v;
}

static int group_setup(void **state)
{
	/* the wrapper passes a dir it cleans up (mounts included) even if we crash */
	const char *base = getenv("BERTH_TEST_TMPDIR");
	_cleanup_free_ char *tpl =
	    xasprintf("%s/berth-test-image-reg-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(tpl))
		return -1;
	tmpdir = TAKE_PTR(tpl);
	return 0;
}

static int group_teardown(void **state)
{
	int r = fileio_remove_tree(tmpdir, NULL);
	free(tmpdir);
	return r;
}

struct progress_log {
	pthread_mutex_t lock;
	unsigned calls, finished;
};

static void on_progress(const struct img_progress *p, void *arg)
{
	struct progress_log *l = arg;
	pthread_mutex_lock(&l->lock);
	l->calls++;
	if (p->finished) {
		l->finished++;
		assert_true(p->done == p->total);
	}
	pthread_mutex_unlock(&l->lock);
}

static struct progress_log plog = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct img_ctx *new_ctx(const struct img_registry *regs, size_t n, const char *arch)
{
	_cleanup_free_ char *root = xasprintf("%s/root%u", tmpdir, ++ctx_seq);
	struct img_opts o = {.root = root,
			     .registries = regs,
			     .n_registries = n,
			     .platform_arch = arch,
			     .progress = on_progress,
			     .progress_arg = &plog};
	struct img_ctx *ctx = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	if (img_ctx_new(&o, &ctx, &e) < 0)
		fail_msg("img_ctx_new: %s", e->msg);
	return ctx;
}

static struct img_pulled *pull_ok(struct img_ctx *ctx, const char *ref, const struct img_auth *auth)
{
	struct img_pulled *p = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	if (img_pull(ctx, ref, auth, &p, &e) < 0)
		fail_msg("pull '%s': %s", ref, e->msg);
	return p;
}

static int pull_err(struct img_ctx *ctx, const char *ref, const struct img_auth *auth,
		    const char *msg_part)
{
	struct img_pulled *p = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	int r = img_pull(ctx, ref, auth, &p, &e);
	assert_true(r < 0);
	assert_null(p);
	if (msg_part && !strstr(e->msg, msg_part))
		fail_msg("pull '%s': message '%s' lacks '%s'", ref, e->msg, msg_part);
	return r;
}

static char *layer_file(struct img_ctx *ctx, const char *chain, const char *rel)
{
	return xasprintf("%s/%s/fs/%s", ctx->layers_dir, chain + 7, rel);
}

/* Names in dir other than "." and ".."; counts temp entries in *ret_tmp. */
static unsigned count_entries(const char *dir, unsigned *ret_tmp)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	unsigned n = 0, tmp = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		n++;
		if (strncmp(de->d_name, ".tmp-", 5) == 0)
			tmp++;
	}
	closedir(d);
	if (ret_tmp)
		*ret_tmp = tmp;
	return n;
}

static bool is_mounted(const char *target)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], mp[4096];
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && strcmp(mp, target) == 0)
			return true;
	return false;
}

static void test_pull_by_tag(void **state)
{
	const char *reg = env("BERTH_TEST_REGISTRY");
	struct img_ctx *ctx = new_ctx(NULL, 0, NULL);
	_cleanup_free_ char *ref = xasprintf("%s/test/busybox:1", reg);
	unsigned finished0 = plog.finished;
	struct img_pulled *p = pull_ok(ctx, ref, NULL);
	assert_string_equal(p->id, env("BERTH_TEST_BUSYBOX_ID"));
	assert_string_equal(p->repo_tag, ref);
	_cleanup_free_ char *rd =
	    xasprintf("%s/test/busybox@%s", reg, env("BERTH_TEST_BUSYBOX_DIGEST"));
	assert_string_equal(p->repo_digest, rd);
	assert_string_equal(p->manifest_digest, env("BERTH_TEST_BUSYBOX_DIGEST"));
	assert_int_equal(p->size, strtoull(env("BERTH_TEST_BUSYBOX_SIZE"), NULL, 10));
	assert_int_equal(p->n_layers, 1);
	assert_string_equal(p->chain_ids[0], p->diff_ids[0]);
	assert_string_equal(p->config.user, "0:0");
	assert_string_equal(p->config.env[1], "BERTH_TEST=1");
	assert_string_equal(p->config.cmd[0], "sh");
	assert_null(p->config.entrypoint[0]);
	assert_string_equal(p->config.working_dir, "/opt");
	assert_string_equal(p->config.stop_signal, "SIGUSR1");
	assert_string_equal(p->config.exposed_ports[0], "8080/tcp");
	assert_string_equal(p->config.volumes[0], "/data");
	assert_int_equal(p->config.n_labels, 1);
	assert_string_equal(p->config.labels[0].value, "busybox");
	assert_non_null(strstr(p->config_json, "\"diff_ids\""));
	/* manifest, config, layer: all stored */
	size_t nb = 0;
	for (; p->blobs[nb]; nb++)
		assert_true(img_blob_exists(ctx, p->blobs[nb]));
	assert_int_equal(nb, 3);
	assert_true(plog.finished > finished0);
	_cleanup_free_ char *bb = layer_file(ctx, p->chain_ids[0], "bin/busybox");
	struct stat st, orig;
	assert_int_equal(stat(bb, &st), 0);
	assert_int_equal(stat("/bin/busybox", &orig), 0);
	assert_int_equal(st.st_size, orig.st_size);
	assert_int_equal(st.st_mode & 07777, 0755);
	_cleanup_free_ char *a = layer_file(ctx, p->chain_ids[0], "opt/a");
	assert_int_equal(stat(a, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* a second pull downloads nothing */
	unsigned fetched = atomic_load(&ctx->blob_fetches);
	assert_int_equal(fetched, 2);
	img_pulled_free(pull_ok(ctx, ref, NULL));
	assert_int_equal(atomic_load(&ctx->blob_fetches), fetched);
	img_pulled_free(p);
	img_ctx_free(ctx);
}

static void test_pull_by_digest(void **state)
{
	const char *reg = env("BERTH_TEST_REGISTRY");
	const char *dg = env("BERTH_TEST_BUSYBOX_DIGEST");
	struct img_ctx *ctx = new_ctx(NULL, 0, NULL);
	_cleanup_free_ char *ref = xasprintf("%s/test/busybox@%s", reg, dg);
	struct img_pulled *p = pull_ok(ctx, ref, NULL);
	assert_null(p->repo_tag);
	assert_string_equal(p->repo_digest, ref);
	assert_string_equal(p->id, env("BERTH_TEST_BUSYBOX_ID"));
	img_pulled_free(p);
	/* tag and digest: the digest decides */
	_cleanup_free_ char *both = xasprintf("%s/test/busybox:whatever@%s", reg, dg);
	p = pull_ok(ctx, both, NULL);
	assert_string_equal(p->repo_digest, ref);
	img_pulled_free(p);
	_cleanup_free_ char *unknown = xasprintf("%s/test/busybox@sha256:%064d", reg, 0);
	assert_int_equal(pull_err(ctx, unknown, NULL, "HTTP 404"), -ENOENT);
	img_ctx_free(ctx);
}

static void test_pull_multi_layer_whiteouts(void **state)
{
	const char *reg = env("BERTH_TEST_REGISTRY");
	struct img_ctx *ctx = new_ctx(NULL, 0, NULL);
	_cleanup_free_ char *ref = xasprintf("%s/test/multi:1", reg);
	struct img_pulled *p = pull_ok(ctx, ref, NULL);
	assert_int_equal(p->n_layers, 3);
	_cleanup_free_ char *motd = layer_file(ctx, p->chain_ids[1], "etc/motd");
	struct stat st;
	assert_int_equal(lstat(motd, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(0, 0));
	_cleanup_free_ char *opt = layer_file(ctx, p->chain_ids[1], "opt");
	char v[4];
	assert_int_equal(getxattr(opt, "trusted.overlay.opaque", v, sizeof(v)), 1);
	assert_int_equal(v[0], 'y');
	_cleanup_free_ char *added = layer_file(ctx, p->chain_ids[2], "added");
	_cleanup_free_ char *content = NULL;
	size_t len;
	assert_int_equal(fileio_read_all(added, 100, &content, &len, NULL), 0);
	assert_string_equal(content, "zstd layer\n");
	/* the merged view through overlayfs */
	_cleanup_free_ char *target = xasprintf("%s/rootfs-multi", tmpdir);
	_cleanup_free_ char *ctr = xasprintf("%s/ctr-multi", tmpdir);
	assert_int_equal(mkdir(target, 0755), 0);
	_cleanup_berr_ struct berr *e = NULL;
	if (img_rootfs_mount(ctx, (const char *const *)p->chain_ids, p->n_layers, ctr, target,
			     false, &e) < 0)
		fail_msg("%s", e->msg);
	_cleanup_free_ char *m_motd = xasprintf("%s/etc/motd", target);
	_cleanup_free_ char *m_passwd = xasprintf("%s/etc/passwd", target);
	_cleanup_free_ char *m_a = xasprintf("%s/opt/a", target);
	_cleanup_free_ char *m_b = xasprintf("%s/opt/b", target);
	_cleanup_free_ char *m_bb = xasprintf("%s/bin/busybox", target);
	_cleanup_free_ char *m_new = xasprintf("%s/opt/new", target);
	int r_motd = access(m_motd, F_OK), r_pw = access(m_passwd, F_OK), r_a = access(m_a, F_OK);
	int r_b = access(m_b, F_OK), r_bb = access(m_bb, X_OK);
	int r_w = fileio_write_atomic(m_new, "x", 1, 0644, NULL);
	bool mounted = is_mounted(target);
	int r_u = img_rootfs_unmount(target, NULL);
	assert_true(mounted);
	assert_int_equal(r_motd, -1);
	assert_int_equal(r_pw, 0);
	assert_int_equal(r_a, -1);
	assert_int_equal(r_b, 0);
	assert_int_equal(r_bb, 0);
	assert_int_equal(r_w, 0);
	assert_int_equal(r_u, 0);
	assert_false(is_mounted(target));
	_cleanup_free_ char *up = xasprintf("%s/upper/opt/new", ctr);
	assert_int_equal(access(up, F_OK), 0);
	img_pulled_free(p);
	img_ctx_free(ctx);
}

static void check_arch_file(struct img_ctx *ctx, struct img_pulled *p, const char *want)
{
	_cleanup_free_ char *f = layer_file(ctx, p->chain_ids[1], "arch");
	_cleanup_free_ char *content = NULL;
	size_t len;
	assert_int_equal(fileio_read_all(f, 100, &content, &len, NULL), 0);
	assert_int_equal(strncmp(content, want, strlen(want)), 0);
}

static void test_pull_manifest_list(void **state)
{
	const char *reg = env("BERTH_TEST_REGISTRY");
	_cleanup_free_ char *ref = xasprintf("%s/test/list:1", reg);
	_cleanup_free_ char *rd = xasprintf("%s/test/list@%s", reg, env("BERTH_TEST_LIST_DIGEST"));
	struct img_ctx *ctx = new_ctx(NULL, 0, NULL); /* the host: amd64 */
	struct img_pulled *p = pull_ok(ctx, ref, NULL);
	assert_string_equal(p->repo_digest, rd);
	assert_string_equal(p->manifest_digest, env("BERTH_TEST_LIST_AMD64_DIGEST"));
	assert_string_equal(p->config.arch, "amd64");
	check_arch_file(ctx, p, "amd64");
	/* index, platform manifest, config, 2 layers */
	size_t nb = 0;
	while (p->blobs[nb])
		nb++;
	assert_int_equal(nb, 5);
	img_pulled_free(p);
	img_ctx_free(ctx);
	ctx = new_ctx(NULL, 0, "arm64");
	p = pull_ok(ctx, ref, NULL);
	assert_string_equal(p->manifest_digest, env("BERTH_TEST_LIST_ARM64_DIGEST"));
	check_arch_file(ctx, p, "arm64");
	img_pulled_free(p);
	img_ctx_free(ctx);
	ctx = new_ctx(NULL, 0, "s390x");
	assert_int_equal(pull_err(ctx, ref, NULL, "no manifest for platform linux/s390x"), -ENOENT);
	img_ctx_free(ctx);
}

static void test_pull_via_mirror(void **state)
{
	const char *reg = env("BERTH_TEST_REGISTRY");
	_cleanup_free_ char *mirror = xasprintf("http://%s/", reg);
	const char *mirrors[] = {mirror};
	struct img_registry hub = {.host = "docker.io", .mirrors = mirrors, .n_mirrors = 1};
	struct img_ctx *ctx = new_ctx(&hub, 1, NULL);
	struct img_pulled *p = pull_ok(ctx, "test/busybox:1", NULL);
	assert_string_equal(p->repo_tag, "docker.io/test/busybox:1");
	assert_string_equal(p->id, env("BERTH_TEST_BUSYBOX_ID"));
	img_pulled_free(p);
	img_ctx_free(ctx);
	/* a dead mirror first: falls back to the upstream (plain HTTP: loopback) */
	const char *dead[] = {"http://127.0.0.1:1", mirror};
	struct img_registry self = {.host = reg, .mirrors = dead, .n_mirrors = 1};
	ctx = new_ctx(&self, 1, NULL);
	_cleanup_free_ char *ref = xasprintf("%s/test/busybox:1", reg);
	p = pull_ok(ctx, ref, NULL);
	assert_string_equal(p->id, env("BERTH_TEST_BUSYBOX_ID"));
	img_pulled_free(p);
	img_ctx_free(ctx);
	/* mirrors tried in order: the second one has the image, the upstream is dead */
	struct img_registry deadhost = {.host = "127.0.0.1:1", .mirrors = dead, .n_mirrors = 2};
	ctx = new_ctx(&deadhost, 1, NULL);
	p = pull_ok(ctx, "127.0.0.1:1/test/busybox:1", NULL);
	assert_string_equal(p->repo_tag, "127.0.0.1:1/test/busybox:1");
	img_pulled_free(p);
	/* every endpoint fails: the upstream's error decides the code, and what the mirrors
	 * said (a dead one, a 404) stays in the message */
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(img_pull(ctx, "127.0.0.1:1/test/nope:1", NULL, &p, &e), -ECONNREFUSED);
	assert_non_null(strstr(e->msg, "GET 'http://127.0.0.1:1/v2/test/nope/manifests/1'"));
	assert_non_null(strstr(e->msg, "(mirrors: GET 'http://127.0.0.1:1/v2/test/nope/"));
	assert_non_null(strstr(e->msg, "; GET 'http://"));
	assert_non_null(strstr(e->msg, "MANIFEST_UNKNOWN"));
	img_ctx_free(ctx);
}

static void test_pull_errors(void **state)
{
	const char *reg = env("BERTH_TEST_REGISTRY");
	struct img_ctx *ctx = new_ctx(NULL, 0, NULL);
	_cleanup_free_ char *repo = xasprintf("%s/test/nope:1", reg);
	assert_int_equal(pull_err(ctx, repo, NULL, "UNKNOWN"), -ENOENT);
	_cleanup_free_ char *tag = xasprintf("%s/test/busybox:nope", reg);
	assert_int_equal(pull_err(ctx, tag, NULL, "MANIFEST_UNKNOWN"), -ENOENT);
	assert_int_equal(pull_err(ctx, "127.0.0.1:1/test/busybox:1", NULL, "127.0.0.1:1"),
			 -ECONNREFUSED);
	assert_int_equal(pull_err(ctx, "Bad/Ref", NULL, "lowercase"), -EINVAL);
	unsigned tmp;
	assert_int_equal(count_entries(ctx->layers_dir, &tmp), 0);
	img_ctx_free(ctx);
}

static void test_pull_basic_auth(void **state)
{
	const char *reg = env("BERTH_TEST_AUTH_REGISTRY");
	_cleanup_free_ char *ref = xasprintf("%s/test/busybox:1", reg);
	struct img_ctx *ctx = new_ctx(NULL, 0, NULL);
	assert_int_equal(pull_err(ctx, ref, NULL, "requires authentication"), -EACCES);
	struct img_auth wrong = {.username = env("BERTH_TEST_AUTH_USER"), .password = "wrong"};
	assert_int_equal(pull_err(ctx, ref, &wrong, "HTTP 401"), -EACCES);
	assert_int_equal(count_entries(ctx->layers_dir, NULL), 0);
	assert_int_equal(count_entries(ctx->blobs_dir, NULL), 0);
	struct img_auth right = {.username = env("BERTH_TEST_AUTH_USER"),
				 .password = env("BERTH_TEST_AUTH_PASS")};
	struct img_pulled *p = pull_ok(ctx, ref, &right);
	assert_string_equal(p->id, env("BERTH_TEST_BUSYBOX_ID"));
	img_pulled_free(p);
	img_ctx_free(ctx);
	/* the CRI `auth` field: base64 of user:password */
	ctx = new_ctx(NULL, 0, NULL);
	_cleanup_free_ char *up = xasprintf("%s:%s", right.username, right.password);
	_cleanup_free_ char *b64 = img_base64_encode(up, strlen(up));
	struct img_auth a = {.auth = b64};
	p = pull_ok(ctx, ref, &a);
	img_pulled_free(p);
	img_ctx_free(ctx);
}

static void test_pull_bearer_token(void **state)
{
	const char *reg = env("BERTH_TEST_TOKEN_REGISTRY");
	_cleanup_free_ char *ref = xasprintf("%s/test/busybox:1", reg);
	struct img_ctx *ctx = new_ctx(NULL, 0, NULL);
	/* anonymous: the token grants nothing, the retry gets 401 again */
	assert_int_equal(pull_err(ctx, ref, NULL, "HTTP 401"), -EACCES);
	struct img_auth wrong = {.username = env("BERTH_TEST_AUTH_USER"), .password = "wrong"};
	assert_int_equal(pull_err(ctx, ref, &wrong, "fetch registry token: HTTP 401"), -EACCES);
	struct img_auth bad_id = {.identity_token = "not-the-token"};
	assert_int_equal(pull_err(ctx, ref, &bad_id, "fetch registry token: HTTP 401"), -EACCES);
	assert_int_equal(count_entries(ctx->blobs_dir, NULL), 0);
	struct img_auth right = {.username = env("BERTH_TEST_AUTH_USER"),
				 .password = env("BERTH_TEST_AUTH_PASS")};
	struct img_pulled *p = pull_ok(ctx, ref, &right);
	assert_string_equal(p->id, env("BERTH_TEST_BUSYBOX_ID"));
	img_pulled_free(p);
	img_ctx_free(ctx);
	/* identity token: OAuth2 refresh-token grant (POST) */
	ctx = new_ctx(NULL, 0, NULL);
	struct img_auth id = {.identity_token = env("BERTH_TEST_IDENTITY_TOKEN")};
	img_pulled_free(pull_ok(ctx, ref, &id));
	img_ctx_free(ctx);
	/* registry token: sent as the bearer token itself */
	ctx = new_ctx(NULL, 0, NULL);
	struct img_auth rt = {.registry_token = env("BERTH_TEST_REGISTRY_TOKEN")};
	img_pulled_free(pull_ok(ctx, ref, &rt));
	img_ctx_free(ctx);
}

static void test_pull_corrupt_blob(void **state)
{
	const char *reg = env("BERTH_TEST_REGISTRY");
	const char *layer = env("BERTH_TEST_CORRUPT_LAYER");
	struct img_ctx *ctx = new_ctx(NULL, 0, NULL);
	_cleanup_free_ char *ref = xasprintf("%s/test/corrupt:1", reg);
	assert_int_equal(pull_err(ctx, ref, NULL, "digest mismatch"), -EPROTO);
	assert_false(img_blob_exists(ctx, layer));
	unsigned tmp;
	assert_int_equal(count_entries(ctx->layers_dir, &tmp), 0);
	count_entries(ctx->blobs_dir, &tmp);
	assert_int_equal(tmp, 0);
	img_ctx_free(ctx);
}

static void test_pull_disk_full(void **state)
{
	const char *reg = env("BERTH_TEST_REGISTRY");
	_cleanup_free_ char *small = xasprintf("%s/small", tmpdir);
	assert_int_equal(mkdir(small, 0755), 0);
	/* a 1 MiB tmpfs cannot hold busybox (about 2 MiB unpacked) */
	if (mount("tmpfs", small, "tmpfs", 0, "size=1m,mode=0755") < 0)
		fail_msg("mount tmpfs: %s", strerror(errno));
	_cleanup_free_ char *root = xasprintf("%s/root", small);
	struct img_opts o = {.root = root};
	struct img_ctx *ctx = NULL;
	struct img_pulled *p = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	int r0 = img_ctx_new(&o, &ctx, &e);
	_cleanup_free_ char *ref = xasprintf("%s/test/busybox:1", reg);
	int r = r0 < 0 ? r0 : img_pull(ctx, ref, NULL, &p, &e);
	unsigned layers = 0, tmp = 0, blob_tmp = 0;
	if (ctx) {
		layers = count_entries(ctx->layers_dir, &tmp);
		count_entries(ctx->blobs_dir, &blob_tmp);
	}
	img_ctx_free(ctx);
	img_pulled_free(p);
	int u = umount2(small, MNT_DETACH);
	assert_int_equal(u, 0);
	assert_int_equal(r0, 0);
	if (r != -ENOSPC)
		fail_msg("want ENOSPC, got %d: %s", r, berr_msg(e));
	assert_int_equal(layers, 0);
	assert_int_equal(blob_tmp, 0);
}

static atomic_bool cancel_flag;

static void cancel_on_first_layer(const struct img_progress *p, void *arg)
{
	if (p->finished)
		atomic_store(&cancel_flag, true);
}

static void test_pull_cancelled(void **state)
{
	const char *reg = env("BERTH_TEST_REGISTRY");
	/* not test/concurrent: that one's registry log counts must stay its own */
	_cleanup_free_ char *ref = xasprintf("%s/test/multi:1", reg);
	/* cancelled before it starts */
	struct img_ctx *ctx = new_ctx(NULL, 0, NULL);
	atomic_bool now = true;
	struct img_pulled *p = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(img_pull_cancellable(ctx, ref, NULL, &now, &p, &e), -ECANCELED);
	assert_null(p);
	assert_int_equal(count_entries(ctx->layers_dir, NULL), 0);
	img_ctx_free(ctx);
	/* cancelled once the first of three layers is in, one layer at a time */
	_cleanup_free_ char *root = xasprintf("%s/root-cancel", tmpdir);
	struct img_opts o = {.root = root, .parallel = 1, .progress = cancel_on_first_layer};
	assert_int_equal(img_ctx_new(&o, &ctx, NULL), 0);
	atomic_store(&cancel_flag, false);
	e = berr_free(e);
	assert_int_equal(img_pull_cancellable(ctx, ref, NULL, &cancel_flag, &p, &e), -ECANCELED);
	assert_non_null(strstr(e->msg, "cancelled"));
	unsigned tmp = 0;
	assert_int_equal(count_entries(ctx->layers_dir, &tmp), 1); /* the finished one */
	assert_int_equal(tmp, 0);
	count_entries(ctx->blobs_dir, &tmp);
	assert_int_equal(tmp, 0);
	img_ctx_free(ctx);
}

struct conc {
	struct img_ctx *ctx;
	const char *ref;
	struct img_pulled *p;
	struct berr *e;
};

static void *conc_pull(void *arg)
{
	struct conc *c = arg;
	(void)img_pull(c->ctx, c->ref, NULL, &c->p, &c->e);
	return NULL;
}

static unsigned count_gets(const char *log, const char *repo, const char *digest)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	if (fileio_read_all(log, 64u << 20, &data, &len, NULL) < 0)
		return 0;
	_cleanup_free_ char *needle = xasprintf("\"GET /v2/%s/blobs/%s ", repo, digest);
	unsigned n = 0;
	for (const char *s = data; (s = strstr(s, needle)); s++)
		n++;
	return n;
}

/* Two pulls of one image at once fetch each blob once: two threads of one context (the
 * in-process claim), or two contexts on one root, as two berth-pull processes are (the
 * lock file per blob). */
static void concurrent_pulls(bool one_ctx)
{
	const char *reg = env("BERTH_TEST_REGISTRY");
	const char *log = env("BERTH_TEST_REGISTRY_LOG");
	_cleanup_free_ char *layers = xstrdup(env("BERTH_TEST_CONCURRENT_LAYERS"));
	char *digests[8];
	unsigned before[8], nd = 0;
	char *save = NULL;
	for (char *d = strtok_r(layers, ",", &save); d && nd < 8; d = strtok_r(NULL, ",", &save)) {
		digests[nd] = d;
		before[nd++] = count_gets(log, "test/concurrent", d);
	}
	struct img_ctx *ctx = new_ctx(NULL, 0, NULL), *other = ctx;
	if (!one_ctx) {
		struct img_opts o = {.root = ctx->root};
		assert_int_equal(img_ctx_new(&o, &other, NULL), 0);
	}
	_cleanup_free_ char *ref = xasprintf("%s/test/concurrent:1", reg);
	struct conc c[2] = {{.ctx = ctx, .ref = ref}, {.ctx = other, .ref = ref}};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, conc_pull, &c[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++)
		if (!c[i].p)
			fail_msg("pull %d: %s", i, berr_msg(c[i].e));
	assert_string_equal(c[0].p->id, c[1].p->id);
	assert_int_equal(c[0].p->n_layers, 3);
	/* config + 3 layers, once each */
	unsigned fetched = atomic_load(&ctx->blob_fetches);
	if (other != ctx)
		fetched += atomic_load(&other->blob_fetches);
	assert_int_equal(fetched, 4);
	/* and the registry agrees: the access log line is written after the response, so
	 * wait (with a deadline) until every layer shows up, then expect exactly one each */
	for (unsigned k = 0; k < nd; k++) {
		struct timespec start;
		clock_gettime(CLOCK_MONOTONIC, &start);
		unsigned n;
		for (;;) {
			n = count_gets(log, "test/concurrent", digests[k]) - before[k];
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (n > 0 || now.tv_sec - start.tv_sec > 10)
				break;
			struct timespec ms = {0, 20 * 1000 * 1000};
			nanosleep(&ms, NULL);
		}
		if (n != 1)
			fail_msg("layer '%s' fetched %u times", digests[k], n);
	}
	for (int i = 0; i < 2; i++)
		img_pulled_free(c[i].p);
	if (other != ctx)
		img_ctx_free(other);
	img_ctx_free(ctx);
}

static void test_concurrent_pulls_fetch_each_blob_once(void **state)
{
	concurrent_pulls(true);
}

static void test_concurrent_pulls_of_two_contexts_share_blobs(void **state)
{
	concurrent_pulls(false);
}

static char **strv_dup(char *const *v)
{
	size_t n = 0;
	while (v[n])
		n++;
	char **out = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

struct gc_run {
	struct img_ctx *ctx;
	char **blobs, **chains;
	unsigned nb, nl;
	int r;
};

static int keep_dup(void *arg, char ***ret_blobs, char ***ret_chains, struct berr **err)
{
	struct gc_run *g = arg;
	*ret_blobs = strv_dup(g->blobs);
	*ret_chains = strv_dup(g->chains);
	return 0;
}

static void *gc_thread(void *arg)
{
	struct gc_run *g = arg;
	g->r = img_gc(g->ctx, keep_dup, g, &g->nb, &g->nl, NULL);
	return NULL;
}

static bool gc_is_waiting(struct img_ctx *ctx)
{
	pthread_mutex_lock(&ctx->lock);
	bool w = ctx->gc_active && ctx->pins > 0;
	pthread_mutex_unlock(&ctx->lock);
	return w;
}

static void test_gc_after_pull(void **state)
{
	const char *reg = env("BERTH_TEST_REGISTRY");
	struct img_ctx *ctx = new_ctx(NULL, 0, NULL);
	_cleanup_free_ char *b = xasprintf("%s/test/busybox:1", reg);
	_cleanup_free_ char *m = xasprintf("%s/test/multi:1", reg);
	struct img_pulled *pb = pull_ok(ctx, b, NULL);
	struct img_pulled *pm = pull_ok(ctx, m, NULL);
	_cleanup_strv_ char **multi_chains = strv_dup(pm->chain_ids);
	uint64_t bytes0, inodes0, bytes1, inodes1;
	assert_int_equal(img_usage(ctx, &bytes0, &inodes0, NULL, NULL), 0);
	/* keep busybox only; it shares its layer with multi, which goes */
	struct gc_run g = {
	    .ctx = ctx, .blobs = strv_dup(pb->blobs), .chains = strv_dup(pb->chain_ids)};
	img_pulled_free(pb);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, gc_thread, &g), 0);
	/* pm is not freed yet (its image not recorded): gc must wait for it */
	struct timespec t0, now, ms = {0, 5 * 1000 * 1000};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!gc_is_waiting(ctx)) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > 20)
			break;
		nanosleep(&ms, NULL);
	}
	bool waited = gc_is_waiting(ctx);
	_cleanup_free_ char *top = NULL;
	int still_there = img_layer_path(ctx, multi_chains[2], &top, NULL);
	img_pulled_free(pm);
	pthread_join(th, NULL);
	assert_true(waited);
	assert_int_equal(still_there, 0);
	assert_int_equal(g.r, 0);
	assert_int_equal(g.nl, 2);
	assert_int_equal(g.nb, 4); /* multi's manifest, config and two upper layers */
	_cleanup_free_ char *lp = NULL;
	assert_int_equal(img_layer_path(ctx, g.chains[0], &lp, NULL), 0);
	assert_int_equal(img_layer_path(ctx, multi_chains[2], &lp, NULL), -ENOENT);
	assert_int_equal(img_usage(ctx, &bytes1, &inodes1, NULL, NULL), 0);
	assert_true(bytes1 < bytes0);
	assert_true(inodes1 < inodes0);
	/* pulling multi again only fetches what gc removed */
	unsigned f0 = atomic_load(&ctx->blob_fetches);
	img_pulled_free(pull_ok(ctx, m, NULL));
	assert_int_equal(atomic_load(&ctx->blob_fetches) - f0, 3);
	strv_free(g.blobs);
	strv_free(g.chains);
	img_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pull_by_tag),
	    cmocka_unit_test(test_pull_by_digest),
	    cmocka_unit_test(test_pull_multi_layer_whiteouts),
	    cmocka_unit_test(test_pull_manifest_list),
	    cmocka_unit_test(test_pull_via_mirror),
	    cmocka_unit_test(test_pull_errors),
	    cmocka_unit_test(test_pull_basic_auth),
	    cmocka_unit_test(test_pull_bearer_token),
	    cmocka_unit_test(test_pull_corrupt_blob),
	    cmocka_unit_test(test_pull_disk_full),
	    cmocka_unit_test(test_pull_cancelled),
	    cmocka_unit_test(test_concurrent_pulls_fetch_each_blob_once),
	    cmocka_unit_test(test_concurrent_pulls_of_two_contexts_share_blobs),
	    cmocka_unit_test(test_gc_after_pull),
	};
	return cmocka_run_group_tests_name("image registry", tests, group_setup, group_teardown);
}
