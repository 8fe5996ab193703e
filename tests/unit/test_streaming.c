/* SPDX-License-Identifier: Apache-2.0 */
/* test_streaming.c - streaming/: SPDY frames and compressed header blocks
 * (round trips through two zlib contexts, as client and server hold them), the
 * one-time token cache and its expiry, HTTP request heads, protocol
 * negotiation and the v4 status JSON; WebSocket frames and channels; a TLS
 * certificate swapped while the server runs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/alloc.h"
#include "streaming/session.h"
#include "streaming/streaming-internal.h"

static void test_spdy_syn_stream_roundtrip(void **state)
{
	(void)state;
	struct spdy_zlib client, server;
	spdy_zlib_init(&client);
	spdy_zlib_init(&server);
	struct spdy_buf out = {0};
	/* Two blocks on one context: the second relies on the first's history. */
	for (uint32_t id = 1; id <= 3; id += 2) {
		struct spdy_headers h = {0};
		spdy_headers_add(&h, "StreamType", id == 1 ? "error" : "stdout");
		spdy_headers_add(&h, "port", "8080");
		spdy_put_syn_stream(&client, &out, id, 0, &h);
		spdy_headers_done(&h);
	}
	size_t off = 0;
	for (uint32_t id = 1; id <= 3; id += 2) {
		struct spdy_frame f;
		size_t used = 0;
		_cleanup_berr_ struct berr *e = NULL;
		assert_int_equal(
		    spdy_frame_parse(&server, out.p + off, out.len - off, &f, &used, &e), 0);
		assert_true(used > 0);
		off += used;
		assert_int_equal(f.type, SPDY_SYN_STREAM);
		assert_int_equal(f.stream_id, id);
		assert_string_equal(spdy_headers_get(&f.headers, "streamtype"),
				    id == 1 ? "error" : "stdout");
		assert_string_equal(f.headers.v[0].name, "streamtype");
		assert_string_equal(spdy_headers_get(&f.headers, "PORT"), "8080");
		spdy_frame_done(&f);
	}
	assert_int_equal(off, out.len);
	spdy_buf_done(&out);
	spdy_zlib_done(&client);
	spdy_zlib_done(&server);
}

static void test_spdy_data_and_control(void **state)
{
	(void)state;
	struct spdy_zlib z;
	spdy_zlib_init(&z);
	struct spdy_buf out = {0};
	spdy_put_data(&out, 5, SPDY_FLAG_FIN, "hello", 5);
	spdy_put_rst(&out, 7, SPDY_RST_CANCEL);
	spdy_put_ping(&out, 42);
	spdy_put_goaway(&out, 9, 0);
	static const uint8_t data_hdr[8] = {0, 0, 0, 5, 1, 0, 0, 5};
	assert_memory_equal(out.p, data_hdr, 8);
	struct spdy_frame f;
	size_t used, off = 0;
	struct berr *e = NULL;
	/* Partial input: nothing consumed. */
	assert_int_equal(spdy_frame_parse(&z, out.p, 10, &f, &used, &e), 0);
	assert_int_equal(used, 0);
	assert_int_equal(spdy_frame_parse(&z, out.p, out.len, &f, &used, &e), 0);
	assert_int_equal(f.type, SPDY_DATA);
	assert_int_equal(f.stream_id, 5);
	assert_int_equal(f.flags, SPDY_FLAG_FIN);
	assert_int_equal(f.len, 5);
	assert_memory_equal(f.data, "hello", 5);
	off += used;
	assert_int_equal(spdy_frame_parse(&z, out.p + off, out.len - off, &f, &used, &e), 0);
	assert_int_equal(f.type, SPDY_RST_STREAM);
	assert_int_equal(f.stream_id, 7);
	assert_int_equal(f.value, SPDY_RST_CANCEL);
	off += used;
	assert_int_equal(spdy_frame_parse(&z, out.p + off, out.len - off, &f, &used, &e), 0);
	assert_int_equal(f.type, SPDY_PING);
	assert_int_equal(f.value, 42);
	off += used;
	assert_int_equal(spdy_frame_parse(&z, out.p + off, out.len - off, &f, &used, &e), 0);
	assert_int_equal(f.type, SPDY_GOAWAY);
	assert_int_equal(f.stream_id, 9);
	off += used;
	assert_int_equal(off, out.len);
	spdy_buf_done(&out);
	spdy_zlib_done(&z);
}

static void test_spdy_bad_input(void **state)
{
	(void)state;
	struct spdy_zlib z;
	spdy_zlib_init(&z);
	struct spdy_frame f;
	size_t used;
	struct berr *e = NULL;
	/* Version 2. */
	static const uint8_t v2[12] = {0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1};
	assert_int_equal(spdy_frame_parse(&z, v2, sizeof(v2), &f, &used, &e), -EPROTO);
	assert_non_null(strstr(berr_msg(e), "version 2"));
	e = berr_free(e);
	/* A SYN_STREAM whose header block is not zlib data. */
	static const uint8_t syn[22] = {0x80, 3, 0, 1, 0, 0, 0, 14,  0,	  0,   0,
					1,    0, 0, 0, 0, 0, 0, 'x', 'y', 'z', 'w'};
	assert_true(spdy_frame_parse(&z, syn, sizeof(syn), &f, &used, &e) < 0);
	assert_non_null(strstr(berr_msg(e), "header block"));
	e = berr_free(e);
	spdy_zlib_done(&z);
}

static struct stream_req *req_new(enum stream_kind k)
{
	struct stream_req *r = calloc(1, sizeof(*r));
	r->kind = k;
	r->id = strdup("abc");
	return r;
}

static void test_tokens_consume_once(void **state)
{
	(void)state;
	struct stream_tokens *t = stream_tokens_new(0);
	char tok[STREAM_TOKEN_LEN + 1], tok2[STREAM_TOKEN_LEN + 1];
	struct berr *e = NULL;
	assert_int_equal(stream_tokens_insert(t, req_new(STREAM_EXEC), 1000, tok, &e), 0);
	assert_int_equal(stream_tokens_insert(t, req_new(STREAM_ATTACH), 1000, tok2, &e), 0);
	assert_int_equal(strlen(tok), STREAM_TOKEN_LEN);
	assert_string_not_equal(tok, tok2);
	assert_int_equal(
	    strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
	    STREAM_TOKEN_LEN);
	struct stream_req *r = stream_tokens_consume(t, tok, 2000);
	assert_non_null(r);
	assert_int_equal(r->kind, STREAM_EXEC);
	stream_req_free(r);
	assert_null(stream_tokens_consume(t, tok, 2000));
	assert_null(stream_tokens_consume(t, "nope", 2000));
	assert_int_equal(stream_tokens_count(t), 1);
	stream_tokens_free(t);
}

static void test_tokens_expire(void **state)
{
	(void)state;
	struct stream_tokens *t = stream_tokens_new(0);
	char tok[STREAM_TOKEN_LEN + 1], tok2[STREAM_TOKEN_LEN + 1];
	struct berr *e = NULL;
	assert_int_equal(stream_tokens_insert(t, req_new(STREAM_EXEC), 0, tok, &e), 0);
	assert_int_equal(stream_tokens_insert(t, req_new(STREAM_EXEC), 30000, tok2, &e), 0);
	/* One minute after its creation the first is gone, the second is not. */
	assert_null(stream_tokens_consume(t, tok, STREAM_TOKEN_TTL_MS));
	struct stream_req *r = stream_tokens_consume(t, tok2, STREAM_TOKEN_TTL_MS);
	assert_non_null(r);
	stream_req_free(r);
	assert_int_equal(stream_tokens_count(t), 0);
	stream_tokens_free(t);
}

static void test_tokens_limit(void **state)
{
	(void)state;
	struct stream_tokens *t = stream_tokens_new(0);
	char tok[STREAM_TOKEN_LEN + 1];
	struct berr *e = NULL;
	for (int i = 0; i < STREAM_TOKENS_MAX; i++)
		assert_int_equal(stream_tokens_insert(t, req_new(STREAM_EXEC), 0, tok, &e), 0);
	assert_int_equal(stream_tokens_insert(t, req_new(STREAM_EXEC), 0, tok, &e), -ENOSPC);
	assert_non_null(strstr(berr_msg(e), "limit 1000"));
	e = berr_free(e);
	/* Expired ones make room. */
	assert_int_equal(
	    stream_tokens_insert(t, req_new(STREAM_EXEC), STREAM_TOKEN_TTL_MS, tok, &e), 0);
	assert_int_equal(stream_tokens_count(t), 1);
	stream_tokens_free(t);
}

static void test_http_parse_and_negotiate(void **state)
{
	(void)state;
	static const char head[] =
	    "POST /exec/AbC-_12?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "X-Stream-Protocol-Version: v5.channel.k8s.io\r\n"
	    "X-Stream-Protocol-Version: v3.channel.k8s.io, v4.channel.k8s.io\r\n"
	    "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n";
	struct stream_http_req r;
	struct berr *e = NULL;
	assert_int_equal(stream_http_parse(head, sizeof(head) - 1, &r, &e), 0);
	assert_string_equal(r.method, "POST");
	assert_string_equal(r.path, "/exec/AbC-_12");
	assert_string_equal(spdy_headers_get(&r.headers, "upgrade"), "SPDY/3.1");
	static const char *const sup[] = {"v4.channel.k8s.io", "v3.channel.k8s.io", NULL};
	/* The client's order wins, as in httpstream.Handshake. */
	assert_string_equal(stream_negotiate(&r.headers, sup), "v3.channel.k8s.io");
	static const char *const pf[] = {"portforward.k8s.io", NULL};
	assert_null(stream_negotiate(&r.headers, pf));
	stream_http_req_done(&r);
	struct spdy_headers none = {0};
	assert_string_equal(stream_negotiate(&none, pf), "");
	assert_int_equal(stream_http_parse("garbage\r\n\r\n", 11, &r, &e), -EPROTO);
	assert_non_null(strstr(berr_msg(e), "request line"));
	e = berr_free(e);
}

static void test_status_json(void **state)
{
	(void)state;
	_cleanup_free_ char *ok = stream_status_json(0, NULL);
	assert_string_equal(ok, "{\"metadata\":{},\"status\":\"Success\"}");
	_cleanup_free_ char *bad = stream_status_json(3, NULL);
	assert_non_null(strstr(bad, "\"reason\":\"NonZeroExitCode\""));
	assert_non_null(strstr(bad, "\"causes\":[{\"reason\":\"ExitCode\",\"message\":\"3\"}]"));
	_cleanup_free_ char *ie = stream_status_json(0, "boom");
	assert_non_null(strstr(ie, "\"reason\":\"InternalError\""));
	assert_non_null(strstr(ie, "\"code\":500"));
}

/* A client frame: masked with a fixed key. */
static size_t client_frame(uint8_t *out, unsigned op, bool fin, const void *p, size_t n)
{
	static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
	size_t hl = 2;
	out[0] = (uint8_t)((fin ? 0x80 : 0) | op);
	if (n < 126) {
		out[1] = (uint8_t)(0x80 | n);
	} else {
		out[1] = 0x80 | 126;
		out[2] = (uint8_t)(n >> 8);
		out[3] = (uint8_t)n;
		hl = 4;
	}
	memcpy(out + hl, key, 4);
	for (size_t i = 0; i < n; i++)
		out[hl + 4 + i] = ((const uint8_t *)p)[i] ^ key[i & 3];
	return hl + 4 + n;
}

static void test_ws_handshake_and_frames(void **state)
{
	(void)state;
	/* RFC 6455 section 1.3's example. */
	char *acc = ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==");
	assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	free(acc);
	assert_true(ws_key_is_valid("dGhlIHNhbXBsZSBub25jZQ=="));
	assert_false(ws_key_is_valid("c2hvcnQ="));
	assert_false(ws_key_is_valid(NULL));

	uint8_t buf[70000];
	static uint8_t big[300];
	memset(big, 'x', sizeof(big));
	size_t n = client_frame(buf, WS_OP_BINARY, true, "\0hello", 6);
	n += client_frame(buf + n, WS_OP_TEXT, false, big, sizeof(big));
	struct ws_frame f;
	size_t used;
	struct berr *e = NULL;
	/* partial input: nothing */
	assert_int_equal(ws_frame_parse(buf, 5, &f, &used, &e), 0);
	assert_int_equal(used, 0);
	assert_int_equal(ws_frame_parse(buf, n, &f, &used, &e), 0);
	assert_int_equal(used, 12);
	assert_int_equal(f.opcode, WS_OP_BINARY);
	assert_true(f.fin);
	assert_int_equal(f.len, 6);
	assert_memory_equal(f.data, "\0hello", 6);
	assert_int_equal(ws_frame_parse(buf + used, n - used, &f, &used, &e), 0);
	assert_int_equal(f.opcode, WS_OP_TEXT);
	assert_false(f.fin);
	assert_int_equal(f.len, sizeof(big));
	assert_memory_equal(f.data, big, sizeof(big));

	/* server frames: not masked, 16-bit length past 125 */
	struct spdy_buf out = {0};
	ws_put_channel(&out, false, 1, big, 200);
	assert_int_equal(out.len, 4 + 201);
	assert_int_equal(out.p[0], 0x82);
	assert_int_equal(out.p[1], 126);
	assert_int_equal(out.p[3], 201);
	assert_int_equal(out.p[4], 1);
	out.len = 0;
	ws_put_channel(&out, true, 2, "hi", 2);
	assert_int_equal(out.p[0], 0x81);
	assert_memory_equal(out.p + 2, "2aGk=", 5);
	out.len = 0;
	ws_put_close(&out, WS_CLOSE_NORMAL, NULL);
	assert_memory_equal(out.p, "\x88\x02\x03\xe8", 4);
	spdy_buf_done(&out);
}

static void test_ws_bad_frames(void **state)
{
	(void)state;
	uint8_t buf[200];
	struct ws_frame f;
	size_t used;
	struct berr *e = NULL;
	/* not masked */
	uint8_t plain[] = {0x82, 0x01, 0x00};
	assert_int_equal(ws_frame_parse(plain, sizeof(plain), &f, &used, &e), -EPROTO);
	assert_non_null(strstr(berr_msg(e), "not masked"));
	e = berr_free(e);
	/* reserved bits */
	size_t n = client_frame(buf, WS_OP_BINARY, true, "a", 1);
	buf[0] |= 0x40;
	assert_int_equal(ws_frame_parse(buf, n, &f, &used, &e), -EPROTO);
	e = berr_free(e);
	/* unknown opcode */
	n = client_frame(buf, 0x3, true, "a", 1);
	assert_int_equal(ws_frame_parse(buf, n, &f, &used, &e), -EPROTO);
	e = berr_free(e);
	/* fragmented ping, ping over 125 bytes */
	n = client_frame(buf, WS_OP_PING, false, "a", 1);
	assert_int_equal(ws_frame_parse(buf, n, &f, &used, &e), -EPROTO);
	e = berr_free(e);
	static uint8_t long_ping[126];
	n = client_frame(buf, WS_OP_PING, true, long_ping, sizeof(long_ping));
	assert_int_equal(ws_frame_parse(buf, n, &f, &used, &e), -EPROTO);
	e = berr_free(e);
	/* a length over the limit is refused from the header alone */
	uint8_t huge[14] = {0x82, 0x80 | 127, 0, 0, 0, 0, 0x10, 0, 0, 0};
	assert_int_equal(ws_frame_parse(huge, sizeof(huge), &f, &used, &e), -E2BIG);
	e = berr_free(e);
}

static void test_ws_channels_and_ports(void **state)
{
	(void)state;
	struct ws_chan_msg m;
	struct berr *e = NULL;
	assert_int_equal(ws_channel_decode(false, (const uint8_t *)"\0abc", 4, &m, &e), 0);
	assert_int_equal(m.channel, 0);
	assert_false(m.close);
	assert_int_equal(m.len, 3);
	assert_memory_equal(m.data, "abc", 3);
	assert_int_equal(ws_channel_decode(true, (const uint8_t *)"4e30=", 5, &m, &e), 0);
	assert_int_equal(m.channel, 4);
	assert_int_equal(m.len, 2);
	assert_memory_equal(m.data, "{}", 2);
	free(m.buf);
	assert_int_equal(ws_channel_decode(false, (const uint8_t *)"\xff\x00", 2, &m, &e), 0);
	assert_true(m.close);
	assert_int_equal(m.channel, 0);
	assert_int_equal(ws_channel_decode(false, (const uint8_t *)"\xff", 1, &m, &e), -EPROTO);
	e = berr_free(e);
	assert_int_equal(ws_channel_decode(true, (const uint8_t *)"0abc", 4, &m, &e), -EPROTO);
	e = berr_free(e);
	assert_int_equal(ws_channel_decode(true, (const uint8_t *)"x", 1, &m, &e), -EPROTO);
	e = berr_free(e);

	uint16_t *ports = NULL;
	size_t np = 0;
	assert_int_equal(stream_ports_parse("a=1&port=80,8080&port=9", &ports, &np, &e), 0);
	assert_int_equal(np, 3);
	assert_int_equal(ports[0], 80);
	assert_int_equal(ports[1], 8080);
	assert_int_equal(ports[2], 9);
	free(ports);
	assert_int_equal(stream_ports_parse(NULL, &ports, &np, &e), -EINVAL);
	assert_string_equal(berr_msg(e), "query parameter 'port' is required");
	e = berr_free(e);
	assert_int_equal(stream_ports_parse("port=0", &ports, &np, &e), -EINVAL);
	assert_non_null(strstr(berr_msg(e), "'0' is not a port"));
	e = berr_free(e);
	assert_int_equal(stream_ports_parse("port=", &ports, &np, &e), -EINVAL);
	e = berr_free(e);
	assert_int_equal(stream_ports_parse("port=70000", &ports, &np, &e), -EINVAL);
	e = berr_free(e);

	struct spdy_headers h = {0};
	static const char *const sup[] = {"v5.channel.k8s.io", "v4.channel.k8s.io", NULL};
	assert_null(stream_negotiate_ws(&h, sup));
	spdy_headers_add(&h, "Sec-WebSocket-Protocol", "v9.channel.k8s.io, v4.channel.k8s.io");
	spdy_headers_add(&h, "Sec-WebSocket-Protocol", "v5.channel.k8s.io");
	assert_string_equal(stream_negotiate_ws(&h, sup), "v4.channel.k8s.io");
	spdy_headers_done(&h);
}

/* ---- TLS: a certificate swapped while the server runs ---- */

static X509 *make_cert(const char *dir, const char *cn, char **ret_cert, char **ret_key)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	assert_non_null(k);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	*ret_cert = xasprintf("%s/%s.crt", dir, cn);
	*ret_key = xasprintf("%s/%s.key", dir, cn);
	FILE *f = fopen(*ret_cert, "w");
	assert_non_null(f);
	PEM_write_X509(f, x);
	fclose(f);
	f = fopen(*ret_key, "w");
	assert_non_null(f);
	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	EVP_PKEY_free(k);
	return x;
}

/* A TLS client connection to 127.0.0.1:port; *ret_peer is the server's cert. */
static SSL *tls_connect(SSL_CTX *ctx, int port, X509 **ret_peer)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	assert_int_equal(SSL_connect(ssl), 1);
	*ret_peer = SSL_get1_peer_certificate(ssl);
	return ssl;
}

static void tls_close(SSL *ssl)
{
	int fd = SSL_get_fd(ssl);
	SSL_free(ssl);
	close(fd);
}

static void test_tls_certificate_swap(void **state)
{
	(void)state;
	/* as berthd: OpenSSL's socket writes toward a peer that left raise it */
	signal(SIGPIPE, SIG_IGN);
	char dir[] = "/tmp/berth-tls-XXXXXX";
	assert_non_null(mkdtemp(dir));
	_cleanup_free_ char *ca = NULL, *ka = NULL, *cb = NULL, *kb = NULL;
	X509 *xa = make_cert(dir, "a", &ca, &ka), *xb = make_cert(dir, "b", &cb, &kb);
	struct stream_backend be = {0};
	struct stream_server *s = NULL;
	struct berr *e = NULL;
	/* one without the other is refused */
	struct stream_server_opts o = {.address = "127.0.0.1", .tls_cert = ca};
	assert_int_equal(stream_server_new(&o, &be, &s, &e), -EINVAL);
	assert_non_null(strstr(berr_msg(e), "both a certificate and a key"));
	e = berr_free(e);
	o.tls_key = ka;
	assert_int_equal(stream_server_new(&o, &be, &s, &e), 0);
	assert_int_equal(stream_server_start(s, &e), 0);
	struct stream_req *req = xcalloc(1, sizeof(*req));
	req->kind = STREAM_EXEC;
	req->id = xstrdup("c");
	_cleanup_free_ char *url = NULL;
	assert_int_equal(stream_server_register(s, req, &url, &e), 0);
	_cleanup_free_ char *prefix = xasprintf("https://127.0.0.1:%d/exec/", s->port);
	assert_memory_equal(url, prefix, strlen(prefix));

	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	X509 *peer = NULL;
	SSL *old = tls_connect(cctx, s->port, &peer);
	assert_int_equal(X509_cmp(peer, xa), 0);
	X509_free(peer);

	/* a bad pair changes nothing; a good one serves new connections */
	assert_int_equal(stream_server_set_tls(s, ca, kb, &e), -EINVAL);
	_cleanup_free_ char *want = xasprintf("stream TLS key '%s'", kb);
	assert_non_null(strstr(berr_msg(e), want));
	e = berr_free(e);
	assert_int_equal(stream_server_set_tls(s, "/nonexistent.crt", kb, &e), -EINVAL);
	assert_non_null(strstr(berr_msg(e), "'/nonexistent.crt'"));
	e = berr_free(e);
	SSL *again = tls_connect(cctx, s->port, &peer);
	assert_int_equal(X509_cmp(peer, xa), 0);
	X509_free(peer);
	tls_close(again);
	assert_int_equal(stream_server_set_tls(s, cb, kb, &e), 0);
	SSL *new = tls_connect(cctx, s->port, &peer);
	assert_int_equal(X509_cmp(peer, xb), 0);
	X509_free(peer);
	tls_close(new);

	/* the connection made before the swap still works: an unknown token's 404 */
	const char *rq = "GET /exec/unknownTokn HTTP/1.1\r\nHost: x\r\n\r\n";
	assert_int_equal(SSL_write(old, rq, (int)strlen(rq)), (int)strlen(rq));
	char buf[512] = {0};
	assert_true(SSL_read(old, buf, sizeof(buf) - 1) > 0);
	assert_memory_equal(buf, "HTTP/1.1 404", 12);
	tls_close(old);

	SSL_CTX_free(cctx);
	stream_server_stop(s);
	stream_server_free(s);
	X509_free(xa);
	X509_free(xb);
	unlink(ca);
	unlink(ka);
	unlink(cb);
	unlink(kb);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spdy_syn_stream_roundtrip),
	    cmocka_unit_test(test_spdy_data_and_control),
	    cmocka_unit_test(test_spdy_bad_input),
	    cmocka_unit_test(test_tokens_consume_once),
	    cmocka_unit_test(test_tokens_expire),
	    cmocka_unit_test(test_tokens_limit),
	    cmocka_unit_test(test_http_parse_and_negotiate),
	    cmocka_unit_test(test_status_json),
	    cmocka_unit_test(test_ws_handshake_and_frames),
	    cmocka_unit_test(test_ws_bad_frames),
	    cmocka_unit_test(test_ws_channels_and_ports),
	    cmocka_unit_test(test_tls_certificate_swap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
