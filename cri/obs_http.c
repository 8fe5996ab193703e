/* SPDX-License-Identifier: Apache-2.0 */
/* obs_http.c - the Prometheus endpoint: GET /metrics on metrics_address,
 * served by libwebsockets' HTTP server on a thread of its own. Each request
 * gets a fresh scrape (cri_obs_scrape()); anything but /metrics is 404, and
 * only GET is served (libwebsockets answers the rest). */
#define LOG_COMPONENT "cri" /* before any header: cri.h includes log.h */
#include "cri/obs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "cri/cri.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct cri_obs_http {
	struct berth *b;
	struct lws_context *ctx;
	pthread_t thread;
	atomic_bool stop;
};

struct session {
	unsigned char *body; /* LWS_PRE bytes of headroom, then the text */
	size_t len;
};

static int serve(struct lws *wsi, struct session *s, const char *uri)
{
	struct cri_obs_http *h = lws_context_user(lws_get_context(wsi));
	if (!lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
		return lws_return_http_status(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, NULL) ||
		       lws_http_transaction_completed(wsi);
	if (strcmp(uri, "/metrics") != 0)
		return lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL) ||
		       lws_http_transaction_completed(wsi);
	size_t len = 0;
	_cleanup_free_ char *text = cri_obs_scrape(h->b, &len);
	free(s->body);
	s->body = xmalloc(LWS_PRE + len + 1);
	memcpy(s->body + LWS_PRE, text, len);
	s->len = len;
	unsigned char hdr[LWS_PRE + 512];
	unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
	if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, CONTENT_TYPE, len, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return 1;
	lws_callback_on_writable(wsi);
	return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	struct session *s = user;
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return serve(wsi, s, in);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!s || !s->body)
			break;
		if (lws_write(wsi, s->body + LWS_PRE, s->len, LWS_WRITE_HTTP_FINAL) != (int)s->len)
			return 1;
		free(s->body);
		s->body = NULL;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (s) {
			free(s->body);
			s->body = NULL;
		}
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"http", callback, sizeof(struct session), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void *serve_main(void *arg)
{
	struct cri_obs_http *h = arg;
	while (!atomic_load(&h->stop))
		if (lws_service(h->ctx, 0) < 0)
			break;
	return NULL;
}

static void lws_log(int level, const char *line)
{
	/* its lines end in a newline; ours add one */
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	log_emit(level & LLL_ERR ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG, "metrics", "msg=\"%.*s\"",
		 (int)n, line);
}

/* "host:port" or "[v6]:port"; port 1..65535 (libwebsockets has no "any port"). */
static int parse_address(const char *a, char **ret_host, int *ret_port, struct berr **err)
{
	const char *colon = strrchr(a, ':');
	if (!colon || colon == a || !colon[1])
		return berr_set(err, EINVAL, "metrics.address '%s' is not host:port", a);
	char *end = NULL;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535)
		return berr_set(err, EINVAL, "metrics.address '%s': port must be 1-65535", a);
	const char *h = a;
	size_t n = (size_t)(colon - a);
	if (h[0] == '[' && n >= 2 && h[n - 1] == ']') {
		h++;
		n -= 2;
	}
	*ret_host = xstrndup(h, n);
	*ret_port = (int)port;
	return 0;
}

/* Binds the address once before libwebsockets does: a taken port or a host that
 * is not an address of this machine is a clear error here (libwebsockets would
 * log it, and leak, on its way to failing). */
static int probe(const char *addr, const char *host, int port, struct berr **err)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		len = sizeof(*in4);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		len = sizeof(*in6);
	} else {
		return berr_set(err, EINVAL, "metrics.address '%s': '%s' is not an IP address",
				addr, host);
	}
	_cleanup_close_ int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set_errno(err, errno, "metrics.address '%s': socket", addr);
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		return berr_set_errno(err, errno, "metrics.address '%s': bind", addr);
	return 0;
}

int cri_obs_http_start(struct berth *b, struct berr **err)
{
	const char *addr = b->cfg.metrics_address;
	if (!addr)
		return 0;
	_cleanup_free_ char *host = NULL;
	int port = 0;
	int r = parse_address(addr, &host, &port, err);
	if (r == 0)
		r = probe(addr, host, port, err);
	if (r < 0)
		return r;
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
	struct cri_obs_http *h = xcalloc(1, sizeof(*h));
	h->b = b;
	struct lws_context_creation_info info = {0};
	info.port = port;
	info.iface = host;
	info.protocols = protocols;
	info.user = h;
	info.gid = -1;
	info.uid = -1;
	/* no signal handling or IPv6 of its own unless the address asks for v6 */
	info.options = strchr(host, ':') ? 0 : LWS_SERVER_OPTION_DISABLE_IPV6;
	h->ctx = lws_create_context(&info);
	if (!h->ctx) {
		free(h);
		return berr_set(err, EADDRINUSE, "metrics endpoint: cannot listen on '%s'", addr);
	}
	r = pthread_create(&h->thread, NULL, serve_main, h);
	if (r != 0) {
		lws_context_destroy(h->ctx);
		free(h);
		return berr_set(err, r, "metrics endpoint: thread: %s", strerror(r));
	}
	b->obs_http = h;
	log_info("address=%s msg=\"metrics endpoint listening\"", addr);
	return 0;
}

void cri_obs_http_stop(struct berth *b)
{
	struct cri_obs_http *h = b->obs_http;
	if (!h)
		return;
	atomic_store(&h->stop, true);
	lws_cancel_service(h->ctx);
	pthread_join(h->thread, NULL);
	lws_context_destroy(h->ctx);
	free(h);
	b->obs_http = NULL;
}
