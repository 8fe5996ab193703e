/* SPDX-License-Identifier: Apache-2.0 */
/* registry.c - registry HTTP API v2 over libcurl: endpoints (mirrors, plain HTTP), GETs into
 * memory, pull-style blob streams, and the auth dance (basic, bearer token, one retry). */
#include "image/image-internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"

#define LOG_COMPONENT "image"
#include "common/log.h"

#define ERR_BODY_MAX   (64u << 10)
#define TOKEN_MAX      (1u << 20)
#define STREAM_BUF_MAX (4u << 20)
#define USER_AGENT     "berth/" BERTH_VERSION

bool reg_host_is_loopback(const char *host)
{
	_cleanup_free_ char *h = NULL;
	if (host[0] == '[') {
		const char *e = strchr(host, ']');
		h = xstrndup(host + 1, e ? (size_t)(e - host - 1) : strlen(host + 1));
	} else {
		const char *c = strchr(host, ':');
		h = c ? xstrndup(host, (size_t)(c - host)) : xstrdup(host);
	}
	return strcmp(h, "localhost") == 0 || strcmp(h, "::1") == 0 || strncmp(h, "127.", 4) == 0;
}

static const struct img_registry_cfg *find_cfg(struct img_ctx *ctx, const char *host)
{
	for (size_t i = 0; i < ctx->n_regs; i++)
		if (strcmp(ctx->regs[i].host, host) == 0)
			return &ctx->regs[i];
	return NULL;
}

int reg_session_init(struct reg_session *s, struct img_ctx *ctx, const char *host, const char *repo,
		     const struct img_auth *auth, struct berr **err)
{
	*s = (struct reg_session){.ctx = ctx, .auth = auth};
	/* the settings may be swapped (img_ctx_set_registries): copy them out under the lock */
	pthread_mutex_lock(&ctx->regs_lock);
	const struct img_registry_cfg *c = find_cfg(ctx, host);
	size_t n = (c ? c->n_mirrors : 0) + 1;
	s->endpoints = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; c && i < c->n_mirrors; i++) {
		const char *m = c->mirrors[i];
		size_t l = strlen(m);
		while (l > 0 && m[l - 1] == '/')
			l--;
		s->endpoints[s->n_endpoints++] = xstrndup(m, l);
	}
	bool insecure = c && c->insecure;
	pthread_mutex_unlock(&ctx->regs_lock);
	/* Docker allows plain HTTP to loopback registries without configuration; we go there
	 * directly rather than trying TLS first */
	bool plain = insecure || reg_host_is_loopback(host);
	const char *upstream = strcmp(host, "docker.io") == 0 ? "registry-1.docker.io" : host;
	s->endpoints[s->n_endpoints++] = xasprintf("%s://%s", plain ? "http" : "https", upstream);
	s->host = xstrdup(host);
	s->repo = xstrdup(repo);
	pthread_mutex_init(&s->lock, NULL);
	return 0;
}

void reg_session_done(struct reg_session *s)
{
	strv_free(s->endpoints);
	free(s->host);
	free(s->repo);
	if (s->authz)
		explicit_bzero(s->authz, strlen(s->authz));
	free(s->authz);
	pthread_mutex_destroy(&s->lock);
	*s = (struct reg_session){0};
}

void reg_session_use(struct reg_session *s, size_t i)
{
	pthread_mutex_lock(&s->lock);
	s->cur = i;
	free(s->authz);
	s->authz = NULL;
	pthread_mutex_unlock(&s->lock);
}

void reg_resp_done(struct reg_resp *r)
{
	free(r->body);
	free(r->content_type);
	*r = (struct reg_resp){0};
}

/* One HTTP exchange's captured headers and body. */
struct xfer {
	char *www_auth, *content_type;
	char *body;
	size_t len, max;
	bool overflow;
	int write_errno;
};

static void xfer_done(struct xfer *x)
{
	free(x->www_auth);
	free(x->content_type);
	free(x->body);
	*x = (struct xfer){0};
}

static char *header_value(const char *line, size_t n, const char *name)
{
	size_t l = strlen(name);
	if (n <= l || strncasecmp(line, name, l) != 0 || line[l] != ':')
		return NULL;
	const char *v = line + l + 1;
	const char *e = line + n;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
		e--;
	return xstrndup(v, (size_t)(e - v));
}

static size_t header_cb(char *line, size_t size, size_t nitems, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nitems;
	char *v;
	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* a new response (after a redirect or 100): forget the previous headers */
		free(x->www_auth);
		free(x->content_type);
		x->www_auth = x->content_type = NULL;
	} else if ((v = header_value(line, n, "www-authenticate"))) {
		free(x->www_auth);
		x->www_auth = v;
	} else if ((v = header_value(line, n, "content-type"))) {
		free(x->content_type);
		x->content_type = v;
	}
	return n;
}

static size_t body_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;
	if (x->len + n > x->max) {
		x->overflow = true;
		return 0;
	}
	x->body = xrealloc(x->body, x->len + n + 1);
	memcpy(x->body + x->len, data, n);
	x->len += n;
	x->body[x->len] = '\0';
	return n;
}

static struct curl_slist *make_headers(const char *accept, const char *authz)
{
	struct curl_slist *h = NULL;
	if (accept) {
		char *a = xasprintf("Accept: %s", accept);
		h = curl_slist_append(h, a);
		free(a);
	}
	if (authz) {
		char *a = xasprintf("Authorization: %s", authz);
		h = curl_slist_append(h, a);
		explicit_bzero(a, strlen(a));
		free(a);
	}
	return h;
}

/* curl calls it at least once a second during a transfer; non-zero aborts it */
static int cancel_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		     curl_off_t ulnow)
{
	return atomic_load((const atomic_bool *)arg) ? 1 : 0;
}

static CURL *easy_new(const char *url, struct curl_slist *headers, struct xfer *x,
		      const atomic_bool *cancel)
{
	CURL *c = curl_easy_init();
	if (!c)
		xalloc_die();
	if (cancel) {
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, cancel_cb);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)cancel);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	/* blob GETs are redirected to storage backends; the Authorization header set in
	 * CURLOPT_HTTPHEADER is not sent to another host (no CURLOPT_UNRESTRICTED_AUTH) */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	return c;
}

static int curl_error(CURL *c, CURLcode rc, int write_errno, const char *url, struct berr **err)
{
	long oserr = 0;
	curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &oserr);
	int code;
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		code = EHOSTUNREACH;
		break;
	case CURLE_COULDNT_CONNECT:
		code = oserr == ENETUNREACH || oserr == EHOSTUNREACH ? (int)oserr : ECONNREFUSED;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		code = ETIMEDOUT;
		break;
	case CURLE_ABORTED_BY_CALLBACK:
		return berr_set(err, ECANCELED, "GET '%s': cancelled", url);
	case CURLE_WRITE_ERROR:
		code = write_errno ? write_errno : EIO;
		break;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		code = ECONNRESET;
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_UNSUPPORTED_PROTOCOL:
		code = EPROTO;
		break;
	default:
		code = EIO;
	}
	return berr_set(err, code, "GET '%s': %s", url, curl_easy_strerror(rc));
}

int reg_http_error(long status, const char *body, size_t len, const char *what, struct berr **err)
{
	int code = status == 404		    ? ENOENT
		   : status == 401 || status == 403 ? EACCES
		   : status == 429		    ? EAGAIN
		   : status == 400		    ? EPROTO
						    : EIO;
	_cleanup_free_ char *reason = NULL;
	struct json_object *o = body && len ? json_tokener_parse(body) : NULL;
	struct json_object *errs, *e0, *v;
	if (o && json_object_object_get_ex(o, "errors", &errs) &&
	    json_object_is_type(errs, json_type_array) && json_object_array_length(errs) > 0) {
		e0 = json_object_array_get_idx(errs, 0);
		const char *ecode =
		    json_object_object_get_ex(e0, "code", &v) ? json_object_get_string(v) : "";
		const char *emsg =
		    json_object_object_get_ex(e0, "message", &v) ? json_object_get_string(v) : "";
		reason = xasprintf("%s: %s", ecode ? ecode : "", emsg ? emsg : "");
		if (ecode &&
		    (strcmp(ecode, "NAME_UNKNOWN") == 0 || strcmp(ecode, "MANIFEST_UNKNOWN") == 0 ||
		     strcmp(ecode, "BLOB_UNKNOWN") == 0))
			code = ENOENT;
		else if (ecode &&
			 (strcmp(ecode, "DENIED") == 0 || strcmp(ecode, "UNAUTHORIZED") == 0))
			code = EACCES;
	}
	json_object_put(o);
	if (!reason && body && len)
		reason = xstrndup(body, len > 200 ? 200 : len);
	return berr_set(err, code, "%s: HTTP %ld%s%s", what, status, reason ? ": " : "",
			reason ? reason : "");
}

static char *session_authz(struct reg_session *s, char **ret_base)
{
	pthread_mutex_lock(&s->lock);
	char *a = xstrdup_null(s->authz);
	*ret_base = xstrdup(s->endpoints[s->cur]);
	pthread_mutex_unlock(&s->lock);
	return a;
}

static char *json_token(const char *body)
{
	struct json_object *o = json_tokener_parse(body), *v;
	char *tok = NULL;
	if (o && ((json_object_object_get_ex(o, "token", &v) &&
		   json_object_is_type(v, json_type_string)) ||
		  (json_object_object_get_ex(o, "access_token", &v) &&
		   json_object_is_type(v, json_type_string))))
		tok = xstrdup(json_object_get_string(v));
	json_object_put(o);
	return tok;
}

static int fetch_token(struct reg_session *s, const struct img_challenge *ch, char **ret,
		       struct berr **err)
{
	if (!ch->realm ||
	    (strncmp(ch->realm, "https://", 8) != 0 && strncmp(ch->realm, "http://", 7) != 0))
		return berr_set(err, EPROTO, "registry '%s': bad token realm '%.200s'", s->host,
				ch->realm ? ch->realm : "");
	CURL *esc = curl_easy_init();
	if (!esc)
		xalloc_die();
	_cleanup_free_ char *scope =
	    ch->scope ? xstrdup(ch->scope) : xasprintf("repository:%s:pull", s->repo);
	char *e_service = curl_easy_escape(esc, ch->service ? ch->service : "", 0);
	char *e_scope = curl_easy_escape(esc, scope, 0);
	curl_easy_cleanup(esc);
	_cleanup_free_ char *params = xasprintf("service=%s&scope=%s", e_service, e_scope);
	curl_free(e_service);
	curl_free(e_scope);
	_cleanup_free_ char *basic = NULL;
	int r = img_auth_basic_header(s->auth, &basic, err);
	if (r < 0)
		return r;
	struct xfer x = {.max = TOKEN_MAX};
	_cleanup_free_ char *url = NULL, *post = NULL;
	if (s->auth && s->auth->identity_token && *s->auth->identity_token) {
		/* OAuth2 refresh-token grant, as Docker does with identity tokens */
		CURL *e2 = curl_easy_init();
		char *rt = curl_easy_escape(e2, s->auth->identity_token, 0);
		post = xasprintf("grant_type=refresh_token&client_id=berth&%s&refresh_token=%s",
				 params, rt);
		curl_free(rt);
		curl_easy_cleanup(e2);
		url = xstrdup(ch->realm);
	} else {
		url = xasprintf("%s%c%s", ch->realm, strchr(ch->realm, '?') ? '&' : '?', params);
	}
	struct curl_slist *h = make_headers("application/json", post ? NULL : basic);
	CURL *c = easy_new(url, h, &x, s->cancel);
	if (post)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
	CURLcode rc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK)
		r = curl_error(c, rc, x.write_errno, ch->realm, err);
	else if (status / 100 != 2)
		r = reg_http_error(status, x.body, x.len, "fetch registry token", err);
	else if (!(*ret = json_token(x.body ? x.body : "")))
		r = berr_set(err, EPROTO, "registry token response from '%.200s' has no token",
			     ch->realm);
	if (post)
		explicit_bzero(post, strlen(post));
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	xfer_done(&x);
	return r;
}

/* Answers a 401 challenge: sets s->authz for the retry. */
static int reg_authorize(struct reg_session *s, const char *www_auth, struct berr **err)
{
	struct img_challenge ch = {0};
	int r = img_challenge_parse(www_auth, &ch, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *authz = NULL;
	if (strcmp(ch.scheme, "basic") == 0) {
		r = img_auth_basic_header(s->auth, &authz, err);
		if (r >= 0 && !authz)
			r = berr_set(err, EACCES, "registry '%s' requires authentication", s->host);
	} else if (strcmp(ch.scheme, "bearer") == 0) {
		_cleanup_free_ char *tok = NULL;
		if (s->auth && s->auth->registry_token && *s->auth->registry_token)
			tok = xstrdup(s->auth->registry_token);
		else
			r = fetch_token(s, &ch, &tok, err);
		if (r >= 0 && tok)
			authz = xasprintf("Bearer %s", tok);
		if (tok)
			explicit_bzero(tok, strlen(tok));
	} else {
		r = berr_set(err, EPROTO, "registry '%s': unsupported auth scheme '%.40s'", s->host,
			     ch.scheme);
	}
	img_challenge_done(&ch);
	if (r < 0)
		return r;
	if (!authz)
		return berr_set(err, EPROTO, "registry '%s': no token", s->host);
	log_debug("host=%s msg=\"authorized with %s\"", s->host,
		  strncmp(authz, "Basic", 5) == 0 ? "basic auth" : "bearer token");
	pthread_mutex_lock(&s->lock);
	free(s->authz);
	s->authz = TAKE_PTR(authz);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int reg_get(struct reg_session *s, const char *what, const char *accept, size_t max,
	    struct reg_resp *ret, struct berr **err)
{
	for (int attempt = 0;; attempt++) {
		_cleanup_free_ char *base = NULL;
		_cleanup_free_ char *authz = session_authz(s, &base);
		_cleanup_free_ char *url = xasprintf("%s/v2/%s/%s", base, s->repo, what);
		struct xfer x = {.max = max};
		struct curl_slist *h = make_headers(accept, authz);
		CURL *c = easy_new(url, h, &x, s->cancel);
		CURLcode rc = curl_easy_perform(c);
		long status = 0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		int r = 0;
		if (rc == CURLE_WRITE_ERROR && x.overflow)
			r = berr_set(err, E2BIG, "GET '%s': response too large (> %zu)", url, max);
		else if (rc != CURLE_OK)
			r = curl_error(c, rc, x.write_errno, url, err);
		curl_easy_cleanup(c);
		curl_slist_free_all(h);
		log_debug("url=%s status=%ld msg=\"registry GET\"", url, status);
		if (r >= 0 && status == 401 && attempt == 0 && x.www_auth) {
			r = reg_authorize(s, x.www_auth, err);
			xfer_done(&x);
			if (r < 0)
				return r;
			continue;
		}
		if (r >= 0 && status / 100 != 2) {
			_cleanup_free_ char *ctx = xasprintf("GET '%s'", url);
			r = reg_http_error(status, x.body, x.len, ctx, err);
		}
		if (r < 0) {
			xfer_done(&x);
			return r;
		}
		*ret = (struct reg_resp){.status = status,
					 .body = x.body ? TAKE_PTR(x.body) : xstrdup(""),
					 .len = x.len,
					 .content_type = TAKE_PTR(x.content_type)};
		xfer_done(&x);
		return 0;
	}
}

struct reg_stream {
	struct reg_session *s;
	char digest[IMG_DIGEST_LEN + 1];
	char *url;
	CURL *easy;
	CURLM *multi;
	struct curl_slist *headers;
	struct xfer x;	  /* headers; body only for error statuses */
	char *fill, *out; /* fill receives data, out was handed to the reader */
	size_t fill_len, fill_cap, out_cap;
	long status;
	bool paused, done;
	CURLcode result;
};

static size_t stream_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct reg_stream *st = arg;
	size_t n = size * nmemb;
	if (st->status == 0)
		curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &st->status);
	if (st->status / 100 != 2) {
		/* keep the start of an error body for the message */
		size_t keep = st->x.len < ERR_BODY_MAX ? ERR_BODY_MAX - st->x.len : 0;
		if (keep > n)
			keep = n;
		st->x.body = xrealloc(st->x.body, st->x.len + keep + 1);
		memcpy(st->x.body + st->x.len, data, keep);
		st->x.len += keep;
		st->x.body[st->x.len] = '\0';
		return n;
	}
	if (st->fill_len >= STREAM_BUF_MAX) {
		st->paused = true;
		return CURL_WRITEFUNC_PAUSE;
	}
	if (st->fill_len + n > st->fill_cap) {
		st->fill_cap =
		    st->fill_len + n > 2 * st->fill_cap ? st->fill_len + n : 2 * st->fill_cap;
		st->fill = xrealloc(st->fill, st->fill_cap);
	}
	memcpy(st->fill + st->fill_len, data, n);
	st->fill_len += n;
	return n;
}

static void stream_stop(struct reg_stream *st)
{
	if (st->multi && st->easy)
		curl_multi_remove_handle(st->multi, st->easy);
	if (st->easy)
		curl_easy_cleanup(st->easy);
	curl_slist_free_all(st->headers);
	st->easy = NULL;
	st->headers = NULL;
}

static void stream_start(struct reg_stream *st)
{
	_cleanup_free_ char *base = NULL;
	_cleanup_free_ char *authz = session_authz(st->s, &base);
	free(st->url);
	st->url = xasprintf("%s/v2/%s/blobs/%s", base, st->s->repo, st->digest);
	xfer_done(&st->x);
	st->headers = make_headers(NULL, authz);
	st->easy = easy_new(st->url, st->headers, &st->x, st->s->cancel);
	curl_easy_setopt(st->easy, CURLOPT_WRITEFUNCTION, stream_cb);
	curl_easy_setopt(st->easy, CURLOPT_WRITEDATA, st);
	st->status = 0;
	st->done = st->paused = false;
	st->fill_len = 0;
	curl_multi_add_handle(st->multi, st->easy);
}

/* Runs the transfer until data is buffered or it ends. */
static void stream_pump(struct reg_stream *st)
{
	while (!st->done && st->fill_len == 0) {
		int running = 0;
		curl_multi_perform(st->multi, &running);
		int left;
		CURLMsg *m;
		while ((m = curl_multi_info_read(st->multi, &left)))
			if (m->msg == CURLMSG_DONE) {
				st->done = true;
				st->result = m->data.result;
			}
		if (!st->done && st->fill_len == 0)
			curl_multi_poll(st->multi, NULL, 0, 1000, NULL);
	}
	if (st->status == 0)
		curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &st->status);
}

static int stream_error(struct reg_stream *st, struct berr **err)
{
	if (st->result != CURLE_OK)
		return curl_error(st->easy, st->result, 0, st->url, err);
	_cleanup_free_ char *what = xasprintf("GET '%s'", st->url);
	return reg_http_error(st->status, st->x.body, st->x.len, what, err);
}

int reg_stream_open(struct reg_session *s, const char *digest, struct reg_stream **ret,
		    struct berr **err)
{
	struct reg_stream *st = xcalloc(1, sizeof(*st));
	st->s = s;
	snprintf(st->digest, sizeof(st->digest), "%s", digest);
	st->multi = curl_multi_init();
	if (!st->multi)
		xalloc_die();
	for (int attempt = 0;; attempt++) {
		stream_start(st);
		stream_pump(st);
		log_debug("url=%s status=%ld msg=\"registry GET (stream)\"", st->url, st->status);
		if (st->status / 100 == 2 ||
		    (st->done && st->result != CURLE_OK && st->status == 0))
			break;
		/* an error status: let the (small) error body arrive */
		while (!st->done)
			stream_pump(st);
		if (st->status == 401 && attempt == 0 && st->x.www_auth) {
			int r = reg_authorize(s, st->x.www_auth, err);
			stream_stop(st);
			if (r < 0) {
				reg_stream_free(st);
				return r;
			}
			continue;
		}
		break;
	}
	if ((st->done && st->result != CURLE_OK) || st->status / 100 != 2) {
		int r = stream_error(st, err);
		reg_stream_free(st);
		return r;
	}
	*ret = st;
	return 0;
}

ssize_t reg_stream_read(struct reg_stream *st, const void **buf, struct berr **err)
{
	stream_pump(st);
	if (st->fill_len > 0) {
		char *t = st->out;
		size_t tc = st->out_cap;
		st->out = st->fill;
		st->out_cap = st->fill_cap;
		st->fill = t;
		st->fill_cap = tc;
		size_t n = st->fill_len;
		st->fill_len = 0;
		if (st->paused) {
			st->paused = false;
			curl_easy_pause(st->easy, CURLPAUSE_CONT);
		}
		*buf = st->out;
		return (ssize_t)n;
	}
	if (st->result != CURLE_OK || st->status / 100 != 2)
		return stream_error(st, err);
	return 0;
}

struct reg_stream *reg_stream_free(struct reg_stream *st)
{
	if (!st)
		return NULL;
	stream_stop(st);
	if (st->multi)
		curl_multi_cleanup(st->multi);
	xfer_done(&st->x);
	free(st->fill);
	free(st->out);
	free(st->url);
	free(st);
	return NULL;
}
