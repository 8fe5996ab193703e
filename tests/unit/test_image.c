/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of image/ that need no registry: references, manifests, configs, auth headers,
 * digests, layer unpacking (archives built here with libarchive), escapes, the content
 * store, gc/usage and overlay rootfs mounts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "image/image-internal.h"
#include "image/image.h"

static char *tmpdir;
static struct img_ctx *ctx;

static int group_setup(void **state)
{
	char tpl[] = "/tmp/berth-test-image-XXXXXX";
	if (!mkdtemp(tpl))
		return -1;
	tmpdir = xstrdup(tpl);
	_cleanup_free_ char *root = xasprintf("%s/root", tmpdir);
	struct img_opts o = {.root = root};
	return img_ctx_new(&o, &ctx, NULL) < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
	ctx = img_ctx_free(ctx);
	int r = fileio_remove_tree(tmpdir, NULL);
	free(tmpdir);
	return r;
}

/* ---- references ---- */

struct ref_case {
	const char *in;
	const char *domain, *path, *tag, *digest; /* NULL domain: error expected */
	const char *err;
};

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const struct ref_case ref_cases[] = {
    {"busybox", "docker.io", "library/busybox", "latest", NULL, NULL},
    {"busybox:1.36", "docker.io", "library/busybox", "1.36", NULL, NULL},
    {"user/x", "docker.io", "user/x", "latest", NULL, NULL},
    {"docker.io/library/busybox", "docker.io", "library/busybox", "latest", NULL, NULL},
    {"index.docker.io/busybox", "docker.io", "library/busybox", "latest", NULL, NULL},
    {"busybox@" D64, "docker.io", "library/busybox", NULL, D64, NULL},
    {"busybox:1.36@" D64, "docker.io", "library/busybox", "1.36", D64, NULL},
    {"127.0.0.1:5000/a/b:t", "127.0.0.1:5000", "a/b", "t", NULL, NULL},
    {"localhost/x", "localhost", "x", "latest", NULL, NULL},
    {"localhost:5000/x/y", "localhost:5000", "x/y", "latest", NULL, NULL},
    {"quay.io/coreos/etcd:v3.5.0", "quay.io", "coreos/etcd", "v3.5.0", NULL, NULL},
    {"[::1]:5000/x:1", "[::1]:5000", "x", "1", NULL, NULL},
    {"registry.k8s.io/pause:3.9", "registry.k8s.io", "pause", "3.9", NULL, NULL},
    {"a/b-c__d.e/f", "docker.io", "a/b-c__d.e/f", "latest", NULL, NULL},
    {"", NULL, NULL, NULL, NULL, "empty"},
    {"Busybox", NULL, NULL, NULL, NULL, "must be lowercase"},
    {"busybox:", NULL, NULL, NULL, NULL, "bad tag"},
    {"busybox:a b", NULL, NULL, NULL, NULL, "bad tag"},
    {"busybox@sha256:abc", NULL, NULL, NULL, NULL, "digest must be"},
    {"busybox@md5:0123", NULL, NULL, NULL, NULL, "digest must be"},
    {"a//b", NULL, NULL, NULL, NULL, "bad path component"},
    {"a/-b", NULL, NULL, NULL, NULL, "bad path component"},
    {"a/b_", NULL, NULL, NULL, NULL, "bad path component"},
    {"-host.io/x", NULL, NULL, NULL, NULL, "bad registry host"},
    {"host.io:50a/x", NULL, NULL, NULL, NULL, "bad registry host"},
    {"host.io/", NULL, NULL, NULL, NULL, "empty repository"},
};

static void test_ref_parse_table(void **state)
{
	for (size_t i = 0; i < sizeof(ref_cases) / sizeof(ref_cases[0]); i++) {
		const struct ref_case *c = &ref_cases[i];
		struct img_ref r = {0};
		_cleanup_berr_ struct berr *e = NULL;
		int rc = img_ref_parse(c->in, &r, &e);
		if (!c->domain) {
			assert_int_equal(rc, -EINVAL);
			assert_non_null(strstr(e->msg, c->err));
			continue;
		}
		if (rc < 0)
			fail_msg("'%s': %s", c->in, e->msg);
		assert_string_equal(r.domain, c->domain);
		assert_string_equal(r.path, c->path);
		if (c->tag)
			assert_string_equal(r.tag, c->tag);
		else
			assert_null(r.tag);
		if (c->digest)
			assert_string_equal(r.digest, c->digest);
		else
			assert_null(r.digest);
		img_ref_done(&r);
	}
}

static void test_ref_normalize(void **state)
{
	_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
	assert_int_equal(img_ref_normalize("busybox", &a, NULL), 0);
	assert_string_equal(a, "docker.io/library/busybox:latest");
	assert_int_equal(img_ref_normalize("busybox:1@" D64, &b, NULL), 0);
	assert_string_equal(b, "docker.io/library/busybox:1@" D64);
	assert_int_equal(img_ref_normalize("127.0.0.1:5000/a@" D64, &c, NULL), 0);
	assert_string_equal(c, "127.0.0.1:5000/a@" D64);
	_cleanup_free_ char *longname = xmalloc(300);
	memset(longname, 'a', 299);
	longname[299] = '\0';
	_cleanup_berr_ struct berr *e = NULL;
	char *d = NULL;
	assert_int_equal(img_ref_normalize(longname, &d, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "name too long"));
}

/* ---- manifests, indexes, configs ---- */

static char *read_data(const char *name, size_t *len)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", IMAGE_TEST_DATA, name);
	char *data = NULL;
	assert_int_equal(fileio_read_all(p, 1 << 20, &data, len, NULL), 0);
	return data;
}

static void test_manifest_parse_docker(void **state)
{
	size_t len;
	_cleanup_free_ char *j = read_data("docker-manifest.json", &len);
	struct img_manifest m;
	assert_int_equal(img_manifest_parse(j, len, NULL, &m, NULL), 0);
	assert_int_equal(m.kind, IMG_MANIFEST_IMAGE);
	assert_string_equal(
	    m.config.digest,
	    "sha256:9211bbaa0dbd68fed073065eb9f0a6ed00a75090a9235eca2554c62d1e75c58f");
	assert_int_equal(m.config.size, 1457);
	assert_int_equal(m.n_layers, 2);
	assert_int_equal(m.layers[0].size, 2220094);
	assert_string_equal(m.layers[1].media_type,
			    "application/vnd.docker.image.rootfs.diff.tar.gzip");
	img_manifest_done(&m);
}

static void test_manifest_parse_oci(void **state)
{
	size_t len;
	_cleanup_free_ char *j = read_data("oci-manifest.json", &len);
	struct img_manifest m;
	/* a generic content type falls back to the body's mediaType */
	assert_int_equal(img_manifest_parse(j, len, "application/json", &m, NULL), 0);
	assert_int_equal(m.kind, IMG_MANIFEST_IMAGE);
	assert_int_equal(m.n_layers, 1);
	assert_string_equal(m.layers[0].media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
	img_manifest_done(&m);
}

static void test_manifest_parse_errors(void **state)
{
	size_t len;
	_cleanup_free_ char *j = read_data("schema1.json", &len);
	struct img_manifest m;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(img_manifest_parse(j, len, NULL, &m, &e), -EPROTO);
	assert_non_null(strstr(e->msg, "schema version 1"));
	e = berr_free(e);
	assert_int_equal(img_manifest_parse("{not json", 9, NULL, &m, &e), -EPROTO);
	assert_non_null(strstr(e->msg, "bad manifest"));
	e = berr_free(e);
	const char *bad = "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
			  "\"config\":{\"digest\":\"md5:x\",\"size\":1},\"layers\":[]}";
	assert_int_equal(img_manifest_parse(bad, strlen(bad), NULL, &m, &e), -EPROTO);
	assert_non_null(strstr(e->msg, "unsupported digest"));
	e = berr_free(e);
	const char *other = "{\"schemaVersion\":2,\"mediaType\":\"application/x-foo\"}";
	assert_int_equal(img_manifest_parse(other, strlen(other), NULL, &m, &e), -EPROTO);
	assert_non_null(strstr(e->msg, "unsupported manifest media type 'application/x-foo'"));
}

struct platform_case {
	const char *file, *arch, *variant, *want; /* want NULL: ENOENT */
};

static const struct platform_case platform_cases[] = {
    {"docker-list.json", "amd64", NULL, "aaa3"}, {"docker-list.json", "arm64", NULL, "aaa4"},
    {"docker-list.json", "arm64", "v8", "aaa4"}, {"docker-list.json", "arm", "v6", "aaa1"},
    {"docker-list.json", "arm", NULL, "aaa2"}, /* arm defaults to v7 */
    {"docker-list.json", "s390x", NULL, NULL},	 {"oci-index.json", "amd64", NULL, "bbb3"},
    {"oci-index.json", "arm64", NULL, "bbb2"}, /* no variant given: v8 assumed */
    {"oci-index.json", "arm64", "v9", NULL},
};

static void test_index_select_platform(void **state)
{
	for (size_t i = 0; i < sizeof(platform_cases) / sizeof(platform_cases[0]); i++) {
		const struct platform_case *c = &platform_cases[i];
		size_t len;
		_cleanup_free_ char *j = read_data(c->file, &len);
		struct img_manifest m;
		assert_int_equal(img_manifest_parse(j, len, NULL, &m, NULL), 0);
		assert_int_equal(m.kind, IMG_MANIFEST_INDEX);
		const struct img_descriptor *d = NULL;
		_cleanup_berr_ struct berr *e = NULL;
		int r = img_index_select(&m, "linux", c->arch, c->variant, &d, &e);
		if (c->want) {
			if (r < 0)
				fail_msg("%s %s: %s", c->file, c->arch, e->msg);
			/* the fixtures' digests end in a distinct digit */
			assert_int_equal(d->digest[IMG_DIGEST_LEN - 1], c->want[3]);
			assert_int_equal(d->digest[7], c->want[0]);
		} else {
			assert_int_equal(r, -ENOENT);
			assert_non_null(strstr(e->msg, "offered: "));
			assert_non_null(strstr(e->msg, "linux/amd64"));
		}
		img_manifest_done(&m);
	}
}

static void test_config_parse(void **state)
{
	size_t len;
	_cleanup_free_ char *j = read_data("config.json", &len);
	struct img_config c;
	char **diff = NULL;
	size_t n = 0;
	assert_int_equal(img_config_parse_full(j, len, &c, &diff, &n, NULL), 0);
	assert_string_equal(c.user, "1000:1000");
	assert_string_equal(c.working_dir, "/srv");
	assert_string_equal(c.stop_signal, "SIGQUIT");
	assert_string_equal(c.arch, "amd64");
	assert_string_equal(c.env[1], "LANG=C.UTF-8");
	assert_null(c.env[2]);
	assert_string_equal(c.entrypoint[0], "/docker-entrypoint.sh");
	assert_string_equal(c.cmd[2], "daemon off;");
	assert_string_equal(c.exposed_ports[0], "80/tcp");
	assert_string_equal(c.exposed_ports[1], "443/tcp");
	assert_string_equal(c.volumes[0], "/var/cache/nginx");
	assert_int_equal(c.n_labels, 2);
	assert_string_equal(c.labels[1].key, "org.example.version");
	assert_string_equal(c.labels[1].value, "1.2");
	assert_int_equal(n, 3);
	char **chain = img_chain_ids(diff, n);
	assert_string_equal(chain[0], diff[0]);
	assert_string_equal(
	    chain[1], "sha256:9932074217c35353d2e03a3f5a86549f7c67bfeb0ba53e23d69f4d4c8f7958f5");
	assert_string_equal(
	    chain[2], "sha256:50127c0d6b338be78246434b4bce23ecf75e505158ea0bbd15effeb162fbf3ec");
	assert_null(chain[3]);
	strv_free(chain);
	strv_free(diff);
	img_config_done(&c);
	/* a config without Config section still parses, with empty lists */
	assert_int_equal(img_config_parse("{\"os\":\"linux\"}", 15, &c, NULL), 0);
	assert_null(c.user);
	assert_null(c.cmd[0]);
	img_config_done(&c);
}

/* ---- auth ---- */

struct challenge_case {
	const char *hdr, *scheme, *realm, *service, *scope;
};

static const struct challenge_case challenge_cases[] = {
    {"Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
     "scope=\"repository:library/busybox:pull\"",
     "bearer", "https://auth.docker.io/token", "registry.docker.io",
     "repository:library/busybox:pull"},
    {"Basic realm=\"basic-realm\"", "basic", "basic-realm", NULL, NULL},
    {"bearer  realm=\"http://127.0.0.1:1/t\" , service=reg,  scope=\"a:b:pull,push\"", "bearer",
     "http://127.0.0.1:1/t", "reg", "a:b:pull,push"},
    {"Bearer realm=\"x\\\"y\",error=\"insufficient_scope\"", "bearer", "x\"y", NULL, NULL},
};

static void test_challenge_parse_table(void **state)
{
	for (size_t i = 0; i < sizeof(challenge_cases) / sizeof(challenge_cases[0]); i++) {
		const struct challenge_case *c = &challenge_cases[i];
		struct img_challenge ch;
		_cleanup_berr_ struct berr *e = NULL;
		if (img_challenge_parse(c->hdr, &ch, &e) < 0)
			fail_msg("'%s': %s", c->hdr, e->msg);
		assert_string_equal(ch.scheme, c->scheme);
		assert_string_equal(ch.realm, c->realm);
		if (c->service)
			assert_string_equal(ch.service, c->service);
		else
			assert_null(ch.service);
		if (c->scope)
			assert_string_equal(ch.scope, c->scope);
		else
			assert_null(ch.scope);
		img_challenge_done(&ch);
	}
	struct img_challenge ch;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(img_challenge_parse("Bearer realm=\"unterminated", &ch, &e), -EPROTO);
	assert_non_null(strstr(e->msg, "unterminated quote"));
	e = berr_free(e);
	assert_int_equal(img_challenge_parse("Bearer realm", &ch, &e), -EPROTO);
	assert_non_null(strstr(e->msg, "expected key=value"));
	e = berr_free(e);
	assert_int_equal(img_challenge_parse("", &ch, &e), -EPROTO);
}

static void test_auth_basic_header(void **state)
{
	_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
	struct img_auth up = {.username = "user", .password = "pa:ss"};
	assert_int_equal(img_auth_basic_header(&up, &a, NULL), 0);
	assert_string_equal(a, "Basic dXNlcjpwYTpzcw==");
	struct img_auth au = {.auth = "dXNlcjpwYTpzcw=="};
	assert_int_equal(img_auth_basic_header(&au, &b, NULL), 0);
	assert_string_equal(b, "Basic dXNlcjpwYTpzcw==");
	assert_int_equal(img_auth_basic_header(NULL, &c, NULL), 0);
	assert_null(c);
	struct img_auth bad = {.auth = "bm9jb2xvbg=="}; /* "nocolon" */
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(img_auth_basic_header(&bad, &c, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "user:password"));
	e = berr_free(e);
	struct img_auth junk = {.auth = "***"};
	assert_int_equal(img_auth_basic_header(&junk, &c, &e), -EINVAL);
}

struct http_case {
	long status;
	const char *body;
	int code;
	const char *msg;
};

static const struct http_case http_cases[] = {
    {404, "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\"}]}", ENOENT,
     "HTTP 404: MANIFEST_UNKNOWN: manifest unknown"},
    {401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}",
     EACCES, "HTTP 401: UNAUTHORIZED: authentication required"},
    {403, "", EACCES, "HTTP 403"},
    {400, "{\"errors\":[{\"code\":\"NAME_UNKNOWN\",\"message\":\"repository name not known\"}]}",
     ENOENT, "NAME_UNKNOWN"},
    {500, "oops", EIO, "HTTP 500: oops"},
    {429, "{\"errors\":[{\"code\":\"TOOMANYREQUESTS\",\"message\":\"slow down\"}]}", EAGAIN,
     "slow down"},
};

static void test_http_error_table(void **state)
{
	for (size_t i = 0; i < sizeof(http_cases) / sizeof(http_cases[0]); i++) {
		const struct http_case *c = &http_cases[i];
		_cleanup_berr_ struct berr *e = NULL;
		assert_int_equal(reg_http_error(c->status, c->body, strlen(c->body), "GET 'x'", &e),
				 -c->code);
		assert_non_null(strstr(e->msg, c->msg));
		assert_non_null(strstr(e->msg, "GET 'x'"));
	}
}

static void test_loopback_hosts(void **state)
{
	assert_true(reg_host_is_loopback("127.0.0.1:5000"));
	assert_true(reg_host_is_loopback("127.1.2.3"));
	assert_true(reg_host_is_loopback("localhost:80"));
	assert_true(reg_host_is_loopback("[::1]:5000"));
	assert_false(reg_host_is_loopback("docker.io"));
	assert_false(reg_host_is_loopback("128.0.0.1:5000"));
	assert_false(reg_host_is_loopback("localhost.example.com"));
}

/* ---- layers built here ---- */

enum tkind { T_DIR, T_FILE, T_LINK, T_HARD, T_CHR, T_FIFO };

struct tentry {
	const char *path;
	enum tkind kind;
	unsigned mode, uid, gid;
	const char *data; /* file content, link or hardlink target */
	const char *xattr_name, *xattr_value;
	unsigned maj, min;
};

static int filters[] = {ARCHIVE_FILTER_GZIP, ARCHIVE_FILTER_ZSTD, ARCHIVE_FILTER_NONE};

static char *build_layer(const struct tentry *ents, size_t n, int filter, size_t *ret_len)
{
	size_t cap = 4 << 20, used = 0;
	char *buf = xmalloc(cap);
	struct archive *a = archive_write_new();
	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	if (filter == ARCHIVE_FILTER_GZIP)
		assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	else if (filter == ARCHIVE_FILTER_ZSTD)
		assert_int_equal(archive_write_add_filter_zstd(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		const struct tentry *t = &ents[i];
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, t->path);
		archive_entry_set_uid(e, t->uid);
		archive_entry_set_gid(e, t->gid);
		archive_entry_set_mtime(e, 1600000000 + (time_t)i, 0);
		static const unsigned types[] = {AE_IFDIR, AE_IFREG, AE_IFLNK,
						 AE_IFREG, AE_IFCHR, AE_IFIFO};
		archive_entry_set_filetype(e, types[t->kind]);
		archive_entry_set_perm(e, t->mode);
		if (t->kind == T_FILE)
			archive_entry_set_size(e, (la_int64_t)strlen(t->data ? t->data : ""));
		if (t->kind == T_LINK)
			archive_entry_set_symlink(e, t->data);
		if (t->kind == T_HARD)
			archive_entry_set_hardlink(e, t->data);
		if (t->kind == T_CHR)
			archive_entry_set_rdev(e, makedev(t->maj, t->min));
		if (t->xattr_name)
			archive_entry_xattr_add_entry(e, t->xattr_name, t->xattr_value,
						      strlen(t->xattr_value));
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (t->kind == T_FILE && t->data && *t->data)
			assert_int_equal(archive_write_data(a, t->data, strlen(t->data)),
					 (la_ssize_t)strlen(t->data));
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	*ret_len = used;
	return buf;
}

/* Hands out the buffer in small chunks (exercising streaming), then fails or ends. */
struct memrd {
	const char *data;
	size_t len, off;
	int fail_at_end; /* errno returned instead of the end, e.g. a digest mismatch */
};

static ssize_t mem_read(void *arg, const void **buf, struct berr **err)
{
	struct memrd *m = arg;
	if (m->off == m->len) {
		if (m->fail_at_end)
			return berr_set(err, m->fail_at_end, "blob 'x': digest mismatch");
		return 0;
	}
	size_t n = m->len - m->off < 777 ? m->len - m->off : 777;
	*buf = m->data + m->off;
	m->off += n;
	return (ssize_t)n;
}

static char *fake_chain(char c)
{
	char *s = xasprintf("sha256:%064d", 0);
	memset(s + 7, c, 64);
	return s;
}

static int create_layer(const struct tentry *ents, size_t n, int filter, const char *chain,
			int fail_at_end, struct berr **err)
{
	size_t len;
	_cleanup_free_ char *data = build_layer(ents, n, filter, &len);
	struct memrd m = {.data = data, .len = len, .fail_at_end = fail_at_end};
	struct img_reader rd = {.read = mem_read, .arg = &m};
	return img_layer_create(ctx->layers_dir, chain, NULL, &rd, err);
}

static const struct tentry layer1[] = {
    {"./", T_DIR, 0755, 0, 0, NULL, NULL, NULL, 0, 0},
    {"bin/", T_DIR, 0755, 0, 0, NULL, NULL, NULL, 0, 0},
    {"bin/busybox", T_FILE, 04755, 0, 0, "#!busybox", NULL, NULL, 0, 0},
    {"bin/sh", T_LINK, 0777, 0, 0, "busybox", NULL, NULL, 0, 0},
    {"bin/hard", T_HARD, 04755, 0, 0, "bin/busybox", NULL, NULL, 0, 0},
    {"etc/", T_DIR, 0755, 0, 0, NULL, NULL, NULL, 0, 0},
    {"etc/old", T_FILE, 0644, 0, 0, "old", NULL, NULL, 0, 0},
    {"etc/passwd", T_FILE, 0644, 0, 0, "root:x:0:0::/root:/bin/sh\n", NULL, NULL, 0, 0},
    {"home/user/", T_DIR, 0700, 1000, 1001, NULL, NULL, NULL, 0, 0},
    {"home/user/file", T_FILE, 0600, 1000, 1001, "secret", "trusted.berth", "v1", 0, 0},
    {"dev/", T_DIR, 0755, 0, 0, NULL, NULL, NULL, 0, 0},
    {"sneaky", T_FILE, 0644, 0, 0, "x", "trusted.overlay.redirect", "/etc", 0, 0},
    {"dev/null2", T_CHR, 0666, 0, 0, NULL, NULL, NULL, 1, 3},
    {"dev/fifo", T_FIFO, 0600, 0, 0, NULL, NULL, NULL, 0, 0},
    {"tmp/", T_DIR, 01777, 0, 0, NULL, NULL, NULL, 0, 0},
    {"file1", T_FILE, 0644, 0, 0, "one", NULL, NULL, 0, 0},
    {"abs-link", T_LINK, 0777, 0, 0, "/etc/passwd", NULL, NULL, 0, 0},
};

static const struct tentry layer2[] = {
    {".wh.file1", T_FILE, 0644, 0, 0, "", NULL, NULL, 0, 0},
    {"etc/", T_DIR, 0755, 0, 0, NULL, NULL, NULL, 0, 0},
    {"etc/.wh..wh..opq", T_FILE, 0644, 0, 0, "", NULL, NULL, 0, 0},
    {"etc/new", T_FILE, 0640, 0, 42, "new", NULL, NULL, 0, 0},
    {"deep/a/b/c", T_FILE, 0644, 0, 0, "c", NULL, NULL, 0, 0},
};

static const struct tentry layer3[] = {
    {"added", T_FILE, 0755, 0, 0, "3", NULL, NULL, 0, 0},
    {"bin/.wh.sh", T_FILE, 0644, 0, 0, "", NULL, NULL, 0, 0},
};

static char *lpath(const char *chain, const char *rel)
{
	return xasprintf("%s/%s/fs/%s", ctx->layers_dir, chain + 7, rel);
}

static void check_stat(const char *chain, const char *rel, mode_t type, mode_t perm, uid_t uid,
		       gid_t gid)
{
	_cleanup_free_ char *p = lpath(chain, rel);
	struct stat st;
	if (lstat(p, &st) < 0)
		fail_msg("lstat '%s': %s", p, strerror(errno));
	assert_int_equal(st.st_mode & S_IFMT, type);
	if (type != S_IFLNK)
		assert_int_equal(st.st_mode & 07777, perm);
	assert_int_equal(st.st_uid, uid);
	assert_int_equal(st.st_gid, gid);
}

static char *chain_a, *chain_b, *chain_c;

static int unpack_setup(void **state)
{
	chain_a = fake_chain('a');
	chain_b = fake_chain('b');
	chain_c = fake_chain('c');
	struct berr *e = NULL;
	if (create_layer(layer1, sizeof(layer1) / sizeof(layer1[0]), filters[0], chain_a, 0, &e) <
		0 ||
	    create_layer(layer2, sizeof(layer2) / sizeof(layer2[0]), filters[1], chain_b, 0, &e) <
		0 ||
	    create_layer(layer3, sizeof(layer3) / sizeof(layer3[0]), filters[2], chain_c, 0, &e) <
		0) {
		fprintf(stderr, "unpack setup: %s\n", berr_msg(e));
		berr_free(e);
		return -1;
	}
	return 0;
}

static int unpack_teardown(void **state)
{
	free(chain_a);
	free(chain_b);
	free(chain_c);
	return 0;
}

static void test_unpack_tree_file_by_file(void **state)
{
	check_stat(chain_a, "", S_IFDIR, 0755, 0, 0);
	check_stat(chain_a, "bin", S_IFDIR, 0755, 0, 0);
	check_stat(chain_a, "bin/busybox", S_IFREG, 04755, 0, 0);
	check_stat(chain_a, "bin/sh", S_IFLNK, 0, 0, 0);
	check_stat(chain_a, "etc/passwd", S_IFREG, 0644, 0, 0);
	check_stat(chain_a, "home/user", S_IFDIR, 0700, 1000, 1001);
	check_stat(chain_a, "home/user/file", S_IFREG, 0600, 1000, 1001);
	check_stat(chain_a, "dev/null2", S_IFCHR, 0666, 0, 0);
	check_stat(chain_a, "dev/fifo", S_IFIFO, 0600, 0, 0);
	check_stat(chain_a, "tmp", S_IFDIR, 01777, 0, 0);
	char buf[64];
	_cleanup_free_ char *sh = lpath(chain_a, "bin/sh");
	ssize_t n = readlink(sh, buf, sizeof(buf));
	assert_int_equal(n, 7);
	assert_memory_equal(buf, "busybox", 7);
	_cleanup_free_ char *al = lpath(chain_a, "abs-link");
	n = readlink(al, buf, sizeof(buf));
	assert_int_equal(n, 11);
	assert_memory_equal(buf, "/etc/passwd", 11);
	struct stat s1, s2;
	_cleanup_free_ char *bb = lpath(chain_a, "bin/busybox");
	_cleanup_free_ char *hard = lpath(chain_a, "bin/hard");
	assert_int_equal(stat(bb, &s1), 0);
	assert_int_equal(stat(hard, &s2), 0);
	assert_int_equal(s1.st_ino, s2.st_ino);
	assert_int_equal(s1.st_nlink, 2);
	assert_int_equal(s1.st_size, 9);
	assert_int_equal(s1.st_mtim.tv_sec, 1600000000 + 2);
	_cleanup_free_ char *etc = lpath(chain_a, "etc");
	assert_int_equal(stat(etc, &s1), 0);
	assert_int_equal(s1.st_mtim.tv_sec, 1600000000 + 5); /* restored after its children */
	_cleanup_free_ char *dn = lpath(chain_a, "dev/null2");
	assert_int_equal(stat(dn, &s1), 0);
	assert_int_equal(major(s1.st_rdev), 1);
	assert_int_equal(minor(s1.st_rdev), 3);
	_cleanup_free_ char *uf = lpath(chain_a, "home/user/file");
	n = getxattr(uf, "trusted.berth", buf, sizeof(buf));
	assert_int_equal(n, 2);
	assert_memory_equal(buf, "v1", 2);
	_cleanup_free_ char *content = NULL;
	size_t len;
	assert_int_equal(fileio_read_all(uf, 100, &content, &len, NULL), 0);
	assert_string_equal(content, "secret");
	/* overlay's own xattrs are never taken from an image */
	_cleanup_free_ char *sneaky = lpath(chain_a, "sneaky");
	assert_int_equal(access(sneaky, F_OK), 0);
	assert_int_equal(getxattr(sneaky, "trusted.overlay.redirect", buf, sizeof(buf)), -1);
	assert_int_equal(errno, ENODATA);
}

static void test_unpack_whiteouts(void **state)
{
	/* .wh.file1 became an overlay whiteout: a 0/0 char device */
	check_stat(chain_b, "file1", S_IFCHR, 0, 0, 0);
	_cleanup_free_ char *wo = lpath(chain_b, "file1");
	struct stat st;
	assert_int_equal(lstat(wo, &st), 0);
	assert_int_equal(st.st_rdev, makedev(0, 0));
	_cleanup_free_ char *marker = lpath(chain_b, "etc/.wh..wh..opq");
	assert_int_equal(access(marker, F_OK), -1);
	_cleanup_free_ char *wf = lpath(chain_b, ".wh.file1");
	assert_int_equal(access(wf, F_OK), -1);
	_cleanup_free_ char *etc = lpath(chain_b, "etc");
	char v[8];
	assert_int_equal(getxattr(etc, "trusted.overlay.opaque", v, sizeof(v)), 1);
	assert_int_equal(v[0], 'y');
	check_stat(chain_b, "etc/new", S_IFREG, 0640, 0, 42);
	check_stat(chain_b, "deep/a/b", S_IFDIR, 0755, 0, 0); /* parents made for the entry */
	check_stat(chain_c, "bin/sh", S_IFCHR, 0, 0, 0);
	check_stat(chain_c, "added", S_IFREG, 0755, 0, 0);
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

static void test_rootfs_overlay_mount_write_unmount(void **state)
{
	_cleanup_free_ char *target = xasprintf("%s/rootfs", tmpdir);
	_cleanup_free_ char *ctr = xasprintf("%s/ctr1", tmpdir);
	assert_int_equal(mkdir(target, 0755), 0);
	const char *chains[] = {chain_a, chain_b, chain_c};
	_cleanup_berr_ struct berr *e = NULL;
	if (img_rootfs_mount(ctx, chains, 3, ctr, target, false, &e) < 0)
		fail_msg("%s", e->msg);
	bool mounted = is_mounted(target);
	_cleanup_free_ char *f1 = xasprintf("%s/file1", target);
	_cleanup_free_ char *old = xasprintf("%s/etc/old", target);
	_cleanup_free_ char *passwd = xasprintf("%s/etc/passwd", target);
	_cleanup_free_ char *nw = xasprintf("%s/etc/new", target);
	_cleanup_free_ char *bb = xasprintf("%s/bin/busybox", target);
	_cleanup_free_ char *sh = xasprintf("%s/bin/sh", target);
	_cleanup_free_ char *added = xasprintf("%s/added", target);
	_cleanup_free_ char *written = xasprintf("%s/written", target);
	int a_f1 = access(f1, F_OK), a_old = access(old, F_OK), a_pw = access(passwd, F_OK);
	int a_new = access(nw, F_OK), a_bb = access(bb, F_OK), a_add = access(added, F_OK);
	struct stat st;
	int a_sh = lstat(sh, &st);
	int w = fileio_write_atomic(written, "w", 1, 0644, NULL);
	int u = img_rootfs_unmount(target, &e);
	/* assert after unmounting, so a failure leaves nothing mounted */
	assert_true(mounted);
	assert_int_equal(a_f1, -1);  /* whited out */
	assert_int_equal(a_old, -1); /* hidden by the opaque etc/ */
	assert_int_equal(a_pw, -1);
	assert_int_equal(a_new, 0);
	assert_int_equal(a_bb, 0);
	assert_int_equal(a_add, 0);
	assert_int_equal(a_sh, -1);
	assert_int_equal(w, 0);
	assert_int_equal(u, 0);
	assert_false(is_mounted(target));
	_cleanup_free_ char *up = xasprintf("%s/upper/written", ctr);
	assert_int_equal(access(up, F_OK), 0);
	assert_int_equal(access(written, F_OK), -1);
	/* idempotent */
	assert_int_equal(img_rootfs_unmount(target, NULL), 0);
	_cleanup_free_ char *missing = xasprintf("%s/missing", tmpdir);
	assert_int_equal(img_rootfs_unmount(missing, NULL), 0);
}

static void test_rootfs_readonly(void **state)
{
	_cleanup_free_ char *target = xasprintf("%s/rootfs-ro", tmpdir);
	assert_int_equal(mkdir(target, 0755), 0);
	const char *chains[] = {chain_a, chain_b};
	_cleanup_berr_ struct berr *e = NULL;
	if (img_rootfs_mount(ctx, chains, 2, NULL, target, true, &e) < 0)
		fail_msg("%s", e->msg);
	_cleanup_free_ char *f = xasprintf("%s/new-file", target);
	int fd = open(f, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	int write_errno = errno;
	safe_close(fd);
	_cleanup_free_ char *nw = xasprintf("%s/etc/new", target);
	int a_new = access(nw, R_OK);
	assert_int_equal(img_rootfs_unmount(target, NULL), 0);
	assert_int_equal(fd, -1);
	assert_int_equal(write_errno, EROFS);
	assert_int_equal(a_new, 0);
	assert_false(is_mounted(target));
	/* one layer: a read-only bind */
	const char *one[] = {chain_a};
	assert_int_equal(img_rootfs_mount(ctx, one, 1, NULL, target, true, NULL), 0);
	_cleanup_free_ char *bb = xasprintf("%s/bin/busybox", target);
	int a_bb = access(bb, F_OK);
	fd = open(f, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	write_errno = errno;
	safe_close(fd);
	assert_int_equal(img_rootfs_unmount(target, NULL), 0);
	assert_int_equal(a_bb, 0);
	assert_int_equal(write_errno, EROFS);
	assert_false(is_mounted(target));
}

static void test_rootfs_errors(void **state)
{
	_cleanup_free_ char *target = xasprintf("%s/rootfs-err", tmpdir);
	assert_int_equal(mkdir(target, 0755), 0);
	_cleanup_free_ char *unknown = fake_chain('f');
	const char *chains[] = {chain_a, unknown};
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(img_rootfs_mount(ctx, chains, 2, tmpdir, target, false, &e), -ENOENT);
	assert_non_null(strstr(e->msg, "ffffffff"));
	e = berr_free(e);
	assert_int_equal(img_rootfs_mount(ctx, chains, 0, tmpdir, target, false, &e), -EINVAL);
	e = berr_free(e);
	assert_int_equal(img_rootfs_mount(ctx, chains, 1, NULL, target, false, &e), -EINVAL);
	assert_false(is_mounted(target));
}

static void test_rootfs_many_layers(void **state)
{
	/* 48 layers: their lowerdir string (~5 KiB) exceeds the page size limit of mount(2)
	 * options, fsconfig("lowerdir+") takes them one by one */
	enum { N = 48 };
	char *chains[N];
	for (int i = 0; i < N; i++) {
		chains[i] = xasprintf("sha256:%064d", 1000 + i);
		_cleanup_free_ char *name = xasprintf("f%d", i);
		struct tentry ent = {name, T_FILE, 0644, 0, 0, "x", NULL, NULL, 0, 0};
		_cleanup_berr_ struct berr *e = NULL;
		if (create_layer(&ent, 1, ARCHIVE_FILTER_NONE, chains[i], 0, &e) < 0)
			fail_msg("%s", e->msg);
	}
	_cleanup_free_ char *target = xasprintf("%s/rootfs-many", tmpdir);
	_cleanup_free_ char *ctr = xasprintf("%s/ctr-many", tmpdir);
	assert_int_equal(mkdir(target, 0755), 0);
	_cleanup_berr_ struct berr *e = NULL;
	int r = img_rootfs_mount(ctx, (const char *const *)chains, N, ctr, target, false, &e);
	_cleanup_free_ char *first = xasprintf("%s/f0", target);
	_cleanup_free_ char *last = xasprintf("%s/f%d", target, N - 1);
	int a_first = access(first, F_OK), a_last = access(last, F_OK);
	assert_int_equal(img_rootfs_unmount(target, NULL), 0);
	for (int i = 0; i < N; i++)
		free(chains[i]);
	if (r < 0)
		fail_msg("%s", e->msg);
	assert_int_equal(a_first, 0);
	assert_int_equal(a_last, 0);
	assert_false(is_mounted(target));
}

/* no directory for chain, and no temp dir left, in layers/ */
static void assert_no_layer_dirs(const char *chain)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", ctx->layers_dir, chain + 7);
	assert_int_equal(access(p, F_OK), -1);
	DIR *d = opendir(ctx->layers_dir);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d)))
		if (strncmp(de->d_name, ".tmp-", 5) == 0)
			fail_msg("temp layer dir '%s' left behind", de->d_name);
	closedir(d);
}

static void test_unpack_rejects_dotdot(void **state)
{
	_cleanup_free_ char *chain = fake_chain('1');
	const struct tentry ents[] = {
	    {"ok", T_FILE, 0644, 0, 0, "x", NULL, NULL, 0, 0},
	    {"a/../../evil-dotdot", T_FILE, 0644, 0, 0, "x", NULL, NULL, 0, 0},
	};
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(create_layer(ents, 2, filters[0], chain, 0, &e), -EPERM);
	assert_non_null(strstr(e->msg, "escapes the layer root"));
	assert_non_null(strstr(e->msg, "evil-dotdot"));
	assert_no_layer_dirs(chain);
	_cleanup_free_ char *out = xasprintf("%s/root/evil-dotdot", tmpdir);
	assert_int_equal(access(out, F_OK), -1);
}

static void test_unpack_rejects_absolute(void **state)
{
	_cleanup_free_ char *chain = fake_chain('2');
	_cleanup_free_ char *abs = xasprintf("%s/evil-abs", tmpdir);
	const struct tentry ents[] = {{abs, T_FILE, 0644, 0, 0, "x", NULL, NULL, 0, 0}};
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(create_layer(ents, 1, filters[1], chain, 0, &e), -EPERM);
	assert_non_null(strstr(e->msg, "absolute path"));
	assert_no_layer_dirs(chain);
	assert_int_equal(access(abs, F_OK), -1);
}

static void test_unpack_rejects_symlink_escape(void **state)
{
	_cleanup_free_ char *chain = fake_chain('3');
	_cleanup_free_ char *outside = xasprintf("%s/outside", tmpdir);
	assert_int_equal(mkdir(outside, 0755), 0);
	const struct tentry ents[] = {
	    {"link", T_LINK, 0777, 0, 0, outside, NULL, NULL, 0, 0},
	    {"link/pwned", T_FILE, 0644, 0, 0, "x", NULL, NULL, 0, 0},
	};
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(create_layer(ents, 2, filters[2], chain, 0, &e), -EPERM);
	assert_non_null(strstr(e->msg, "under a symlink"));
	assert_no_layer_dirs(chain);
	_cleanup_free_ char *pwned = xasprintf("%s/pwned", outside);
	assert_int_equal(access(pwned, F_OK), -1);
	/* relative symlink up and out, then a whiteout through it */
	_cleanup_free_ char *chain2 = fake_chain('4');
	const struct tentry ents2[] = {
	    {"up", T_LINK, 0777, 0, 0, "../../../..", NULL, NULL, 0, 0},
	    {"up/.wh.victim", T_FILE, 0644, 0, 0, "", NULL, NULL, 0, 0},
	};
	e = berr_free(e);
	assert_int_equal(create_layer(ents2, 2, filters[0], chain2, 0, &e), -EPERM);
	assert_no_layer_dirs(chain2);
	/* a hardlink to a file outside */
	_cleanup_free_ char *chain3 = fake_chain('5');
	const struct tentry ents3[] = {
	    {"h", T_HARD, 0644, 0, 0, "../../../../etc/passwd", NULL, NULL, 0, 0},
	};
	e = berr_free(e);
	assert_int_equal(create_layer(ents3, 1, filters[0], chain3, 0, &e), -EPERM);
	assert_no_layer_dirs(chain3);
}

static void test_unpack_reader_error_leaves_nothing(void **state)
{
	/* the stream verifies its digest only at its end: an otherwise fine layer whose
	 * digest turns out wrong must not become visible */
	_cleanup_free_ char *chain = fake_chain('6');
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(create_layer(layer3, 2, filters[0], chain, EPROTO, &e), -EPROTO);
	assert_non_null(strstr(e->msg, "digest mismatch"));
	assert_no_layer_dirs(chain);
	/* garbage instead of a tar */
	struct memrd m = {.data = "this is not a tar archive, not even close to one", .len = 48};
	struct img_reader rd = {.read = mem_read, .arg = &m};
	e = berr_free(e);
	assert_int_equal(img_layer_create(ctx->layers_dir, chain, NULL, &rd, &e), -EPROTO);
	assert_no_layer_dirs(chain);
}

static void test_unpack_checks_diff_id(void **state)
{
	size_t tar_len, gz_len;
	_cleanup_free_ char *tar = build_layer(layer3, 2, ARCHIVE_FILTER_NONE, &tar_len);
	_cleanup_free_ char *gz = build_layer(layer3, 2, ARCHIVE_FILTER_GZIP, &gz_len);
	char diff[IMG_DIGEST_LEN + 1];
	img_sha256_digest(tar, tar_len, diff);
	_cleanup_free_ char *good = fake_chain('9'), *bad = fake_chain('0');
	struct memrd m = {.data = gz, .len = gz_len};
	struct img_reader rd = {.read = mem_read, .arg = &m};
	_cleanup_berr_ struct berr *e = NULL;
	if (img_layer_create(ctx->layers_dir, good, diff, &rd, &e) < 0)
		fail_msg("%s", e->msg);
	_cleanup_free_ char *added = lpath(good, "added");
	assert_int_equal(access(added, F_OK), 0);
	/* the same layer claimed to have another diff id */
	struct memrd m2 = {.data = gz, .len = gz_len};
	struct img_reader rd2 = {.read = mem_read, .arg = &m2};
	assert_int_equal(img_layer_create(ctx->layers_dir, bad, good, &rd2, &e), -EPROTO);
	assert_non_null(strstr(e->msg, "diff id mismatch"));
	assert_non_null(strstr(e->msg, diff));
	assert_no_layer_dirs(bad);
}

/* ---- content store ---- */

static void test_blob_put_verifies(void **state)
{
	const char *data = "hello blob";
	char d[IMG_DIGEST_LEN + 1];
	img_sha256_digest(data, strlen(data), d);
	assert_int_equal(img_blob_put(ctx, d, data, strlen(data), NULL), 0);
	assert_true(img_blob_exists(ctx, d));
	_cleanup_free_ char *back = NULL;
	size_t len;
	assert_int_equal(img_blob_read(ctx, d, 100, &back, &len, NULL), 0);
	assert_string_equal(back, data);
	/* corrupt content under a digest: refused, nothing stored, no temp file */
	char bad[IMG_DIGEST_LEN + 1];
	img_sha256_digest("other", 5, bad);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(img_blob_put(ctx, bad, data, strlen(data), &e), -EPROTO);
	assert_non_null(strstr(e->msg, "digest mismatch"));
	assert_false(img_blob_exists(ctx, bad));
	DIR *dir = opendir(ctx->blobs_dir);
	struct dirent *de;
	while ((de = readdir(dir)))
		assert_int_not_equal(strncmp(de->d_name, ".tmp-", 5), 0);
	closedir(dir);
	e = berr_free(e);
	assert_int_equal(img_blob_put(ctx, "sha256:abc", data, 1, &e), -EINVAL);
}

static void test_digest_and_base64(void **state)
{
	char d[IMG_DIGEST_LEN + 1];
	img_sha256_digest("", 0, d);
	assert_string_equal(
	    d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_true(img_digest_is_valid(d));
	assert_false(img_digest_is_valid(
	    "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
	_cleanup_free_ char *b = img_base64_encode("ab", 2);
	assert_string_equal(b, "YWI=");
	_cleanup_free_ char *dec = img_base64_decode(b);
	assert_string_equal(dec, "ab");
	assert_null(img_base64_decode("YW"));
}

static int keep_one_each(void *arg, char ***ret_blobs, char ***ret_chains, struct berr **err)
{
	const char **keep = arg;
	*ret_blobs = xcalloc(2, sizeof(char *));
	(*ret_blobs)[0] = xstrdup(keep[0]);
	*ret_chains = xcalloc(2, sizeof(char *));
	(*ret_chains)[0] = xstrdup(keep[1]);
	return 0;
}

static int keep_fails(void *arg, char ***ret_blobs, char ***ret_chains, struct berr **err)
{
	return berr_set(err, EIO, "store unreadable");
}

static void test_gc_and_usage(void **state)
{
	_cleanup_free_ char *root = xasprintf("%s/gcroot", tmpdir);
	struct img_opts o = {.root = root};
	struct img_ctx *g = NULL;
	assert_int_equal(img_ctx_new(&o, &g, NULL), 0);
	char d1[IMG_DIGEST_LEN + 1], d2[IMG_DIGEST_LEN + 1];
	img_sha256_digest("one", 3, d1);
	img_sha256_digest("two", 3, d2);
	assert_int_equal(img_blob_put(g, d1, "one", 3, NULL), 0);
	assert_int_equal(img_blob_put(g, d2, "two", 3, NULL), 0);
	_cleanup_free_ char *c1 = fake_chain('7'), *c2 = fake_chain('8');
	size_t len;
	_cleanup_free_ char *tar = build_layer(layer3, 1, ARCHIVE_FILTER_NONE, &len);
	struct memrd m1 = {.data = tar, .len = len}, m2 = {.data = tar, .len = len};
	struct img_reader r1 = {.read = mem_read, .arg = &m1}, r2 = {.read = mem_read, .arg = &m2};
	assert_int_equal(img_layer_create(g->layers_dir, c1, NULL, &r1, NULL), 0);
	assert_int_equal(img_layer_create(g->layers_dir, c2, NULL, &r2, NULL), 0);
	uint64_t bytes0, inodes0;
	_cleanup_free_ char *mp = NULL;
	assert_int_equal(img_usage(g, &bytes0, &inodes0, &mp, NULL), 0);
	/* the mountpoint holding the root: a prefix of it */
	assert_int_equal(strncmp(g->root, mp, strlen(mp)), 0);
	assert_true(bytes0 > 0);
	/* root, version, pull.lock, locks, blobs, blobs/sha256, 2 blobs, layers,
	 * 2 x (dir, fs, added) */
	assert_int_equal(inodes0, 15);
	const char *keep[] = {d1, c2};
	unsigned nb = 0, nl = 0;
	assert_int_equal(img_gc(g, keep_one_each, keep, &nb, &nl, NULL), 0);
	assert_int_equal(nb, 1);
	assert_int_equal(nl, 1);
	/* a failing keep() removes nothing */
	_cleanup_berr_ struct berr *ke = NULL;
	assert_int_equal(img_gc(g, keep_fails, NULL, NULL, NULL, &ke), -EIO);
	assert_non_null(strstr(ke->msg, "image gc: store unreadable"));
	assert_true(img_blob_exists(g, d1));
	assert_false(img_blob_exists(g, d2));
	_cleanup_free_ char *lp = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(img_layer_path(g, c1, &lp, &e), -ENOENT);
	assert_int_equal(img_layer_path(g, c2, &lp, NULL), 0);
	uint64_t bytes1, inodes1;
	assert_int_equal(img_usage(g, &bytes1, &inodes1, NULL, NULL), 0);
	assert_int_equal(inodes1, 11);
	assert_true(bytes1 < bytes0);
	img_ctx_free(g);
}

static void test_ctx_rejects_bad_config(void **state)
{
	struct img_ctx *g = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	struct img_opts o = {.root = "relative/dir"};
	assert_int_equal(img_ctx_new(&o, &g, &e), -EINVAL);
	e = berr_free(e);
	_cleanup_free_ char *root = xasprintf("%s/badcfg", tmpdir);
	const char *mirrors[] = {"127.0.0.1:5000"};
	struct img_registry reg = {.host = "docker.io", .mirrors = mirrors, .n_mirrors = 1};
	struct img_opts o2 = {.root = root, .registries = &reg, .n_registries = 1};
	assert_int_equal(img_ctx_new(&o2, &g, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "must start with http"));
	/* a root written by a later layout is refused, not misread */
	_cleanup_free_ char *root3 = xasprintf("%s/future", tmpdir);
	_cleanup_free_ char *ver = xasprintf("%s/version", root3);
	assert_int_equal(fileio_mkdir_p(root3, 0700, NULL), 0);
	assert_int_equal(fileio_write_atomic(ver, "2\n", 2, 0600, NULL), 0);
	struct img_opts o3 = {.root = root3};
	e = berr_free(e);
	assert_int_equal(img_ctx_new(&o3, &g, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "layout version '2', want 1"));
}

static int layers_setup(void **state)
{
	return group_setup(state) < 0 ? -1 : unpack_setup(state);
}

static int layers_teardown(void **state)
{
	unpack_teardown(state);
	return group_teardown(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ref_parse_table),
	    cmocka_unit_test(test_ref_normalize),
	    cmocka_unit_test(test_manifest_parse_docker),
	    cmocka_unit_test(test_manifest_parse_oci),
	    cmocka_unit_test(test_manifest_parse_errors),
	    cmocka_unit_test(test_index_select_platform),
	    cmocka_unit_test(test_config_parse),
	    cmocka_unit_test(test_challenge_parse_table),
	    cmocka_unit_test(test_auth_basic_header),
	    cmocka_unit_test(test_http_error_table),
	    cmocka_unit_test(test_loopback_hosts),
	    cmocka_unit_test(test_digest_and_base64),
	    cmocka_unit_test(test_blob_put_verifies),
	    cmocka_unit_test(test_unpack_rejects_dotdot),
	    cmocka_unit_test(test_unpack_rejects_absolute),
	    cmocka_unit_test(test_unpack_rejects_symlink_escape),
	    cmocka_unit_test(test_unpack_reader_error_leaves_nothing),
	    cmocka_unit_test(test_unpack_checks_diff_id),
	    cmocka_unit_test(test_gc_and_usage),
	    cmocka_unit_test(test_ctx_rejects_bad_config),
	};
	const struct CMUnitTest layer_tests[] = {
	    cmocka_unit_test(test_unpack_tree_file_by_file),
	    cmocka_unit_test(test_unpack_whiteouts),
	    cmocka_unit_test(test_rootfs_overlay_mount_write_unmount),
	    cmocka_unit_test(test_rootfs_readonly),
	    cmocka_unit_test(test_rootfs_errors),
	    cmocka_unit_test(test_rootfs_many_layers),
	};
	int r = cmocka_run_group_tests_name("image", tests, group_setup, group_teardown);
	r +=
	    cmocka_run_group_tests_name("image layers", layer_tests, layers_setup, layers_teardown);
	return r;
}
