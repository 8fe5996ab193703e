/* SPDX-License-Identifier: Apache-2.0 */
/* tokens.c - one-time tokens for streaming requests, as kubelet's
 * pkg/kubelet/cri/streaming/request_cache.go: 8 random bytes, base64url, valid
 * for one use within a minute, at most 1000 outstanding. */
#include "streaming/streaming-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/cleanup.h"

struct token_entry {
	char token[STREAM_TOKEN_LEN + 1];
	int64_t expires_ms;
	struct stream_req *req;
};

struct stream_tokens {
	pthread_mutex_t lock;
	struct token_entry *v; /* under lock */
	size_t n;
	int64_t ttl_ms;
};

struct stream_req *stream_req_free(struct stream_req *r)
{
	if (!r)
		return NULL;
	free(r->id);
	strv_free(r->cmd);
	free(r);
	return NULL;
}

struct stream_tokens *stream_tokens_new(int64_t ttl_ms)
{
	struct stream_tokens *t = xcalloc(1, sizeof(*t));
	t->ttl_ms = ttl_ms > 0 ? ttl_ms : STREAM_TOKEN_TTL_MS;
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

struct stream_tokens *stream_tokens_free(struct stream_tokens *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->n; i++)
		stream_req_free(t->v[i].req);
	free(t->v);
	pthread_mutex_destroy(&t->lock);
	free(t);
	return NULL;
}

static void gc_locked(struct stream_tokens *t, int64_t now_ms)
{
	size_t k = 0;
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i].expires_ms <= now_ms)
			stream_req_free(t->v[i].req);
		else
			t->v[k++] = t->v[i];
	}
	t->n = k;
}

static void make_token(char out[STREAM_TOKEN_LEN + 1])
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t raw[9] = {0};
	size_t got = 0;
	while (got < 8) {
		ssize_t n = getrandom(raw + got, 8 - got, 0);
		if (n > 0)
			got += (size_t)n;
	}
	/* 8 bytes = 64 bits = 11 base64 digits (the last one carries 4 bits). */
	for (int i = 0, bit = 0; i < STREAM_TOKEN_LEN; i++, bit += 6) {
		int byte = bit / 8, sh = bit % 8;
		unsigned v = (unsigned)raw[byte] << 8 | raw[byte + 1];
		out[i] = b64[(v >> (10 - sh)) & 0x3f];
	}
	out[STREAM_TOKEN_LEN] = '\0';
}

int stream_tokens_insert(struct stream_tokens *t, struct stream_req *req, int64_t now_ms,
			 char ret_token[STREAM_TOKEN_LEN + 1], struct berr **err)
{
	pthread_mutex_lock(&t->lock);
	gc_locked(t, now_ms);
	if (t->n >= STREAM_TOKENS_MAX) {
		pthread_mutex_unlock(&t->lock);
		stream_req_free(req);
		return berr_set(err, ENOSPC, "too many streaming requests in flight (limit %d)",
				STREAM_TOKENS_MAX);
	}
	struct token_entry e = {.expires_ms = now_ms + t->ttl_ms, .req = req};
	bool dup;
	do {
		make_token(e.token);
		dup = false;
		for (size_t i = 0; i < t->n; i++)
			dup = dup || strcmp(t->v[i].token, e.token) == 0;
	} while (dup);
	t->v = xreallocarray(t->v, t->n + 1, sizeof(*t->v));
	t->v[t->n++] = e;
	memcpy(ret_token, e.token, sizeof(e.token));
	pthread_mutex_unlock(&t->lock);
	return 0;
}

struct stream_req *stream_tokens_consume(struct stream_tokens *t, const char *token, int64_t now_ms)
{
	struct stream_req *req = NULL;
	pthread_mutex_lock(&t->lock);
	gc_locked(t, now_ms);
	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->v[i].token, token) == 0) {
			req = t->v[i].req;
			t->v[i] = t->v[--t->n];
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return req;
}

size_t stream_tokens_count(struct stream_tokens *t)
{
	pthread_mutex_lock(&t->lock);
	size_t n = t->n;
	pthread_mutex_unlock(&t->lock);
	return n;
}
