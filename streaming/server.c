/* SPDX-License-Identifier: Apache-2.0 */
/* server.c - the listener and the connection threads of the streaming server.
 *
 * A connection: HTTP/1.1 request head, token lookup (404 when unknown or
 * expired), protocol negotiation (403), the SPDY/3.1 or WebSocket upgrade
 * (101), then a poll loop on one thread over the socket, the process or the
 * forwarded sockets, and the server's stop eventfd. The loops themselves live
 * in session.c. */
#include "streaming/streaming.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"
#include "streaming/session.h"

#define HEAD_TIMEOUT_MS 10000

static const char *const rc_protocols[] = {"v4.channel.k8s.io", "v3.channel.k8s.io",
					   "v2.channel.k8s.io", "channel.k8s.io", NULL};
static const char *const pf_protocols[] = {"portforward.k8s.io", NULL};
/* WebSocket subprotocols, kubelet's wsstream configurations. */
static const char *const ws_rc_protocols[] = {"v5.channel.k8s.io",	  "v4.channel.k8s.io",
					      "v4.base64.channel.k8s.io", "base64.channel.k8s.io",
					      "channel.k8s.io",		  NULL};
/* SPDY/3.1+portforward.k8s.io: client-go's tunnelling dialer (crictl and
 * kubectl port-forward over WebSocket), the SPDY session inside. */
static const char *const ws_pf_protocols[] = {"SPDY/3.1+portforward.k8s.io", "v4.channel.k8s.io",
					      "v4.base64.channel.k8s.io", "portforward.k8s.io",
					      NULL};

int64_t stream_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int stream_server_new(const struct stream_server_opts *o, const struct stream_backend *be,
		      struct stream_server **ret, struct berr **err)
{
	const char *address = o->address;
	int port = o->port;
	struct ssl_ctx_st *tls = NULL;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (port < 0 || port > 65535 || inet_pton(AF_INET, address, &sa.sin_addr) != 1)
		return berr_set(err, EINVAL,
				"stream address '%s' port %d: not an IPv4 address "
				"and port",
				address, port);
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set_errno(err, errno, "stream socket");
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return berr_set_errno(err, errno, "bind stream server to '%s:%d'", address, port);
	if (listen(fd, 128) < 0)
		return berr_set_errno(err, errno, "listen on '%s:%d'", address, port);
	socklen_t sl = sizeof(sa);
	if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
		return berr_set_errno(err, errno, "getsockname");
	if (o->tls_cert || o->tls_key) {
		int r = stream_tls_ctx_new(o->tls_cert, o->tls_key, &tls, err);
		if (r < 0)
			return r;
	}
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0) {
		stream_tls_ctx_free(tls);
		return berr_set_errno(err, errno, "eventfd");
	}
	struct stream_server *s = xcalloc(1, sizeof(*s));
	s->address = xstrdup(address);
	s->port = ntohs(sa.sin_port);
	s->lfd = TAKE_FD(fd);
	s->stop_fd = efd;
	s->be = *be;
	s->tokens = stream_tokens_new(o->token_ttl_ms);
	pthread_mutex_init(&s->tls_lock, NULL);
	s->tls = tls;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	*ret = s;
	return 0;
}

struct conn_arg {
	struct stream_server *s;
	int fd;
	struct berr *e;
};

static void http_reply(struct stream_io *io, int code, const char *reason, const char *extra,
		       const char *body)
{
	char *r = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
			    "Content-Length: %zu\r\nConnection: close\r\n%s\r\n%s",
			    code, reason, strlen(body), extra ? extra : "", body);
	(void)stream_io_write_all(io, r, strlen(r));
	free(r);
}

/* Reads the request head; leftover bytes after it go to *ret_rest. */
static int read_head(struct stream_server *s, struct stream_io *io, char **ret_head,
		     size_t *ret_len, struct spdy_buf *ret_rest)
{
	char *buf = xmalloc(STREAM_HTTP_HEAD_MAX + 1);
	size_t len = 0;
	int64_t deadline = stream_now_ms() + HEAD_TIMEOUT_MS;
	for (;;) {
		int64_t left = deadline - stream_now_ms();
		struct pollfd p[2] = {{.fd = io->fd, .events = POLLIN},
				      {.fd = s->stop_fd, .events = POLLIN}};
		if (!stream_io_pending(io) &&
		    (left <= 0 || poll(p, 2, (int)left) <= 0 || p[1].revents)) {
			free(buf);
			return -ETIMEDOUT;
		}
		ssize_t n = stream_io_recv(io, buf + len, STREAM_HTTP_HEAD_MAX - len);
		if (n == -EAGAIN)
			continue;
		if (n <= 0) {
			free(buf);
			return -EIO;
		}
		len += (size_t)n;
		buf[len] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		if (end) {
			size_t hl = (size_t)(end - buf) + 4;
			spdy_buf_put(ret_rest, buf + hl, len - hl);
			*ret_head = buf;
			*ret_len = hl;
			return 0;
		}
		if (len >= STREAM_HTTP_HEAD_MAX) {
			free(buf);
			return -E2BIG;
		}
	}
}

static bool has_token(const char *list, const char *want)
{
	_cleanup_free_ char *copy = xstrdup(list);
	char *save = NULL;
	for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
		if (strcasecmp(t, want) == 0)
			return true;
	return false;
}

static char *join(const char *const *v)
{
	char *out = xstrdup("");
	for (size_t i = 0; v[i]; i++) {
		char *n = xasprintf("%s%s%s", out, i ? ", " : "", v[i]);
		free(out);
		out = n;
	}
	return out;
}

/* The WebSocket opening handshake (RFC 6455 4.2), its subprotocol and, for a
 * port-forward, the ports; then the session. */
static void route_ws(struct stream_server *s, struct stream_io *io,
		     const struct stream_http_req *hr, const struct stream_req *req,
		     struct spdy_buf *rest)
{
	const char *ver = spdy_headers_get(&hr->headers, "sec-websocket-version");
	const char *key = spdy_headers_get(&hr->headers, "sec-websocket-key");
	if (strcmp(hr->method, "GET") != 0) {
		http_reply(io, 400, "Bad Request", NULL, "websocket upgrade needs a GET request\n");
		return;
	}
	if (!ver || strcmp(ver, "13") != 0) {
		http_reply(io, 426, "Upgrade Required", "Sec-WebSocket-Version: 13\r\n",
			   "unsupported Sec-WebSocket-Version: want 13\n");
		return;
	}
	if (!ws_key_is_valid(key)) {
		http_reply(io, 400, "Bad Request", NULL,
			   "Sec-WebSocket-Key missing or not 16 bytes in base64\n");
		return;
	}
	bool pf = req->kind == STREAM_PORTFORWARD;
	const char *const *sup = pf ? ws_pf_protocols : ws_rc_protocols;
	const char *proto = stream_negotiate_ws(&hr->headers, sup);
	if (!proto) {
		_cleanup_free_ char *list = join(sup);
		_cleanup_free_ char *extra =
		    xasprintf("X-Accepted-Stream-Protocol-Versions: %s\r\n", list);
		const char *asked = spdy_headers_get(&hr->headers, "sec-websocket-protocol");
		_cleanup_free_ char *body =
		    asked ? xasprintf("unable to upgrade: websocket subprotocol '%.200s' not "
				      "supported; accepted: %s\n",
				      asked, list)
			  : xasprintf("unable to upgrade: no Sec-WebSocket-Protocol; accepted: "
				      "%s\n",
				      list);
		http_reply(io, 403, "Forbidden", extra, body);
		return;
	}
	_cleanup_free_ uint16_t *ports = NULL;
	size_t nports = 0;
	_cleanup_berr_ struct berr *e = NULL;
	bool tunnel = strncmp(proto, "SPDY/3.1+", 9) == 0;
	if (pf && !tunnel && stream_ports_parse(hr->query, &ports, &nports, &e) < 0) {
		_cleanup_free_ char *body = xasprintf("%s\n", berr_msg(e));
		http_reply(io, 400, "Bad Request", NULL, body);
		return;
	}
	_cleanup_free_ char *accept = ws_accept_key(key);
	_cleanup_free_ char *resp = xasprintf(
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
	    accept ? accept : "", proto);
	if (!accept || stream_io_write_all(io, resp, strlen(resp)) < 0)
		return;
	struct session_opts so = {
	    .s = s,
	    .io = io,
	    .req = req,
	    .version = strncmp(proto, "v5.", 3) == 0 || strncmp(proto, "v4.", 3) == 0 ? 4 : 1,
	    .ws = true,
	    .ws_b64 = strstr(proto, "base64") != NULL,
	    .ws_v5 = strncmp(proto, "v5.", 3) == 0,
	    .ws_tunnel = tunnel,
	    .ports = ports,
	    .nports = nports};
	if (pf)
		session_portforward(&so, rest);
	else
		session_remotecommand(&so, rest);
}

/* After the head: token, negotiation, upgrade, then the session. */
static void route(struct stream_server *s, struct stream_io *io, const struct stream_http_req *hr,
		  struct stream_req *req, enum stream_kind kind, struct spdy_buf *rest)
{
	if (!req || req->kind != kind ||
	    (strcmp(hr->method, "GET") && strcmp(hr->method, "POST"))) {
		http_reply(io, 404, "Not Found", NULL, "404 page not found\n");
		return;
	}
	const char *conn_h = spdy_headers_get(&hr->headers, "connection");
	const char *up = spdy_headers_get(&hr->headers, "upgrade");
	if (conn_h && has_token(conn_h, "upgrade") && up && has_token(up, "websocket")) {
		route_ws(s, io, hr, req, rest);
		return;
	}
	const char *const *sup = kind == STREAM_PORTFORWARD ? pf_protocols : rc_protocols;
	const char *proto = stream_negotiate(&hr->headers, sup);
	if (!proto) {
		_cleanup_free_ char *extra =
		    xasprintf("X-Accepted-Stream-Protocol-Versions: %s\r\n",
			      kind == STREAM_PORTFORWARD ? "portforward.k8s.io"
							 : "v4.channel.k8s.io, v3.channel.k8s.io, "
							   "v2.channel.k8s.io, channel.k8s.io");
		http_reply(io, 403, "Forbidden", extra,
			   "unable to upgrade: unable to negotiate protocol\n");
		return;
	}
	if (!conn_h || !has_token(conn_h, "upgrade") || !up || strcasecmp(up, "SPDY/3.1") != 0) {
		http_reply(io, 400, "Bad Request", NULL,
			   "unable to upgrade: missing upgrade headers in request\n");
		return;
	}
	_cleanup_free_ char *resp = xasprintf(
	    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
	    "%s%s%s\r\n",
	    *proto ? "X-Stream-Protocol-Version: " : "", proto, *proto ? "\r\n" : "");
	if (stream_io_write_all(io, resp, strlen(resp)) < 0)
		return;
	int version = 1;
	if (proto[0] == 'v' && proto[1] >= '2' && proto[1] <= '4')
		version = proto[1] - '0';
	struct session_opts so = {.s = s, .io = io, .req = req, .version = version};
	if (kind == STREAM_PORTFORWARD)
		session_portforward(&so, rest);
	else
		session_remotecommand(&so, rest);
}

static void serve(struct stream_server *s, struct stream_io *io)
{
	_cleanup_free_ char *head = NULL;
	size_t hlen = 0;
	struct spdy_buf rest = {0};
	struct stream_http_req hr;
	_cleanup_berr_ struct berr *e = NULL;
	if (read_head(s, io, &head, &hlen, &rest) < 0) {
		spdy_buf_done(&rest);
		return;
	}
	if (stream_http_parse(head, hlen, &hr, &e) < 0) {
		http_reply(io, 400, "Bad Request", NULL, berr_msg(e));
		spdy_buf_done(&rest);
		return;
	}
	static const char *const prefixes[STREAM_KIND_MAX] = {"/exec/", "/attach/",
							      "/portforward/"};
	struct stream_req *req = NULL;
	enum stream_kind kind = STREAM_KIND_MAX;
	for (int k = 0; k < STREAM_KIND_MAX && !req; k++) {
		size_t pl = strlen(prefixes[k]);
		if (strncmp(hr.path, prefixes[k], pl) == 0) {
			kind = (enum stream_kind)k;
			req = stream_tokens_consume(s->tokens, hr.path + pl, stream_now_ms());
		}
	}
	route(s, io, &hr, req, kind, &rest);
	stream_req_free(req);
	stream_http_req_done(&hr);
	spdy_buf_done(&rest);
}

static void *conn_main(void *arg)
{
	struct conn_arg *a = arg;
	struct stream_server *s = a->s;
	struct timeval tv = {.tv_sec = 60};
	(void)setsockopt(a->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	(void)pthread_setname_np(pthread_self(), "berth-stream");
	(void)fcntl(a->fd, F_SETFL, fcntl(a->fd, F_GETFL) | O_NONBLOCK);
	struct stream_io io = {.fd = a->fd};
	pthread_mutex_lock(&s->tls_lock);
	struct ssl_ctx_st *tls = stream_tls_ctx_ref(s->tls);
	pthread_mutex_unlock(&s->tls_lock);
	int r = tls ? stream_io_tls_accept(&io, tls, s->stop_fd, HEAD_TIMEOUT_MS, &a->e) : 0;
	stream_tls_ctx_free(tls);
	if (r < 0)
		log_debug("component=streaming %s", berr_msg(a->e));
	else
		serve(s, &io);
	stream_io_done(&io);
	berr_free(a->e);
	close(a->fd);
	free(a);
	pthread_mutex_lock(&s->lock);
	s->nconns--;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void *listener_main(void *arg)
{
	struct stream_server *s = arg;
	for (;;) {
		struct pollfd p[2] = {{.fd = s->lfd, .events = POLLIN},
				      {.fd = s->stop_fd, .events = POLLIN}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		struct conn_arg *a = xcalloc(1, sizeof(*a));
		a->s = s;
		a->fd = fd;
		pthread_mutex_lock(&s->lock);
		bool full = s->nconns >= STREAM_CONNS_MAX;
		if (!full)
			s->nconns++;
		pthread_mutex_unlock(&s->lock);
		pthread_t t;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (full || pthread_create(&t, &at, conn_main, a) != 0) {
			log_warn("component=streaming too many streaming connections, closing one");
			close(fd);
			free(a);
			if (!full) {
				pthread_mutex_lock(&s->lock);
				s->nconns--;
				pthread_mutex_unlock(&s->lock);
			}
		}
		pthread_attr_destroy(&at);
	}
	return NULL;
}

int stream_server_start(struct stream_server *s, struct berr **err)
{
	int r = pthread_create(&s->listener, NULL, listener_main, s);
	if (r != 0)
		return berr_set(err, r, "start the streaming listener thread");
	s->started = true;
	return 0;
}

void stream_server_stop(struct stream_server *s)
{
	if (!s || !s->started)
		return;
	uint64_t one = 1;
	(void)!write(s->stop_fd, &one, sizeof(one));
	pthread_join(s->listener, NULL);
	s->started = false;
	pthread_mutex_lock(&s->lock);
	while (s->nconns > 0)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

struct stream_server *stream_server_free(struct stream_server *s)
{
	if (!s)
		return NULL;
	stream_server_stop(s);
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	stream_tokens_free(s->tokens);
	stream_tls_ctx_free(s->tls);
	pthread_mutex_destroy(&s->tls_lock);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s->address);
	free(s);
	return NULL;
}

int stream_server_register(struct stream_server *s, struct stream_req *req, char **ret_url,
			   struct berr **err)
{
	static const char *const names[STREAM_KIND_MAX] = {"exec", "attach", "portforward"};
	enum stream_kind k = req->kind;
	char tok[STREAM_TOKEN_LEN + 1];
	int r = stream_tokens_insert(s->tokens, req, stream_now_ms(), tok, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->tls_lock);
	bool tls = s->tls != NULL;
	pthread_mutex_unlock(&s->tls_lock);
	*ret_url = xasprintf("%s://%s:%d/%s/%s", tls ? "https" : "http", s->address, s->port,
			     names[k], tok);
	return 0;
}

int stream_server_set_tls(struct stream_server *s, const char *cert, const char *key,
			  struct berr **err)
{
	struct ssl_ctx_st *ctx = NULL;
	int r = stream_tls_ctx_new(cert, key, &ctx, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->tls_lock);
	struct ssl_ctx_st *old = s->tls;
	s->tls = ctx;
	pthread_mutex_unlock(&s->tls_lock);
	stream_tls_ctx_free(old); /* connections made from it hold their own reference */
	return 0;
}
