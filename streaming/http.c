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
#include "common/err.h"

void stream_http_req_done(struct stream_http_req *r)
{
	free(r->method);
	free(r->path);
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
	if (q)
		*q = '\0';
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
