/* SPDX-License-Identifier: Apache-2.0 */
/* http.c - the HTTP/1.1 side of the streaming server: request heads, the
 * protocol negotiation of k8s.io/apimachinery/pkg/util/httpstream (Handshake)
 * and the metav1.Status JSON kubelet writes on the v4 error stream. */
#include "streaming/streaming-internal.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"

void stream_http_req_done(struct stream_http_req *r)
{
	free(r->method);
	free(r->path);
	free(r->query);
	spdy_headers_done(&r->headers);
	memset(r, 0, sizeof(*r));
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

int stream_http_parse(const char *head, size_t len, struct stream_http_req *ret, struct berr **err)
{
	memset(ret, 0, sizeof(*ret));
	char *copy = xstrndup(head, len);
	char *save = NULL;
	char *line = strtok_r(copy, "\n", &save);
	int r = 0;
	char *sp1 = line ? strchr(line, ' ') : NULL;
	char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp2 || strncmp(trim(sp2 + 1), "HTTP/1.", 7) != 0) {
		r = berr_set(err, EPROTO, "bad HTTP request line");
		goto out;
	}
	*sp1 = *sp2 = '\0';
	ret->method = xstrdup(line);
	char *q = strchr(sp1 + 1, '?');
	if (q) {
		*q = '\0';
		ret->query = xstrdup(q + 1);
	}
	ret->path = xstrdup(sp1 + 1);
	while ((line = strtok_r(NULL, "\n", &save))) {
		char *l = trim(line);
		if (!*l)
			break;
		char *colon = strchr(l, ':');
		if (!colon || colon == l) {
			r = berr_set(err, EPROTO, "bad HTTP header line");
			goto out;
		}
		*colon = '\0';
		spdy_headers_add(&ret->headers, trim(l), trim(colon + 1));
	}
out:
	free(copy);
	if (r < 0)
		stream_http_req_done(ret);
	return r;
}

const char *stream_negotiate(const struct spdy_headers *h, const char *const *supported)
{
	bool offered = false;
	for (size_t i = 0; i < h->n; i++) {
		if (strcasecmp(h->v[i].name, "x-stream-protocol-version") != 0)
			continue;
		char *copy = xstrdup(h->v[i].value), *save = NULL;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			t = trim(t);
			if (!*t)
				continue;
			offered = true;
			for (size_t k = 0; supported[k]; k++) {
				if (strcmp(t, supported[k]) == 0) {
					free(copy);
					return supported[k];
				}
			}
		}
		free(copy);
	}
	return offered ? NULL : "";
}

const char *stream_negotiate_ws(const struct spdy_headers *h, const char *const *supported)
{
	for (size_t i = 0; i < h->n; i++) {
		if (strcasecmp(h->v[i].name, "sec-websocket-protocol") != 0)
			continue;
		_cleanup_free_ char *copy = xstrdup(h->v[i].value);
		char *save = NULL;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			t = trim(t);
			for (size_t k = 0; supported[k]; k++)
				if (strcmp(t, supported[k]) == 0)
					return supported[k];
		}
	}
	return NULL;
}

int stream_ports_parse(const char *query, uint16_t **ret, size_t *ret_n, struct berr **err)
{
	_cleanup_free_ uint16_t *v = NULL;
	size_t n = 0;
	_cleanup_free_ char *copy = xstrdup(query ? query : "");
	char *save = NULL;
	for (char *kv = strtok_r(copy, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
		if (strncmp(kv, "port=", 5) != 0 && strcmp(kv, "port") != 0)
			continue;
		char *val = kv[4] ? kv + 5 : kv + 4;
		if (!*val)
			return berr_set(err, EINVAL, "query parameter 'port' cannot be empty");
		char *save2 = NULL;
		for (char *t = strtok_r(val, ",", &save2); t; t = strtok_r(NULL, ",", &save2)) {
			char *end = NULL;
			errno = 0;
			long p = strtol(t, &end, 10);
			if (errno || *end || end == t || p < 1 || p > 65535)
				return berr_set(err, EINVAL,
						"query parameter 'port': '%.32s' is not a port in "
						"1..65535",
						t);
			if (n >= STREAM_WS_PORTS_MAX)
				return berr_set(err, E2BIG,
						"query parameter 'port': more than %d ports",
						STREAM_WS_PORTS_MAX);
			v = xreallocarray(v, n + 1, sizeof(*v));
			v[n++] = (uint16_t)p;
		}
	}
	if (n == 0)
		return berr_set(err, EINVAL, "query parameter 'port' is required");
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

char *stream_status_json(int exit_code, const char *msg)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "metadata", json_object_new_object());
	if (!msg && exit_code == 0) {
		json_object_object_add(o, "status", json_object_new_string("Success"));
	} else {
		json_object_object_add(o, "status", json_object_new_string("Failure"));
		json_object *details = json_object_new_object();
		json_object *causes = json_object_new_array();
		json_object *cause = json_object_new_object();
		if (msg) {
			char *m = xasprintf("Internal error occurred: %s", msg);
			json_object_object_add(o, "message", json_object_new_string(m));
			json_object_object_add(o, "reason",
					       json_object_new_string("InternalError"));
			json_object_object_add(cause, "message", json_object_new_string(msg));
			free(m);
		} else {
			char *m = xasprintf("command terminated with non-zero exit code: exit "
					    "status %d",
					    exit_code);
			char code[16];
			snprintf(code, sizeof(code), "%d", exit_code);
			json_object_object_add(o, "message", json_object_new_string(m));
			json_object_object_add(o, "reason",
					       json_object_new_string("NonZeroExitCode"));
			json_object_object_add(cause, "reason", json_object_new_string("ExitCode"));
			json_object_object_add(cause, "message", json_object_new_string(code));
			free(m);
		}
		json_object_array_add(causes, cause);
		json_object_object_add(details, "causes", causes);
		json_object_object_add(o, "details", details);
		if (msg)
			json_object_object_add(o, "code", json_object_new_int(500));
	}
	char *s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}
