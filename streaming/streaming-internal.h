/* SPDX-License-Identifier: Apache-2.0 */
/* streaming-internal.h - pieces of streaming/ shared with its unit tests: the
 * SPDY/3.1 and WebSocket frame codecs, the token cache and the HTTP request
 * head parser.
 * Threads: the codec keeps its state in the caller's struct spdy_zlib (one per
 *   connection, used by one thread); the token cache has its own mutex.
 * Errors: -EPROTO malformed peer data, -E2BIG over a limit, -ENOENT unknown
 *   token, -ENOSPC cache full. */
#ifndef BERTH_STREAMING_INTERNAL_H
#define BERTH_STREAMING_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "streaming/streaming.h"

struct berr;

#define SPDY_DICT_LEN 1423
extern const unsigned char spdy_dictionary[SPDY_DICT_LEN];

#define SPDY_VERSION	      3
#define SPDY_FLAG_FIN	      0x01
#define SPDY_HEADER_BLOCK_MAX (256 * 1024) /* decompressed header block */
#define SPDY_FRAME_MAX	      0xffffff	   /* 24-bit length */
#define SPDY_RST_PROTOCOL_ERR 1
#define SPDY_RST_INVALID      2
#define SPDY_RST_REFUSED      3
#define SPDY_RST_CANCEL	      5

enum spdy_type {
	SPDY_DATA = 0,
	SPDY_SYN_STREAM = 1,
	SPDY_SYN_REPLY = 2,
	SPDY_RST_STREAM = 3,
	SPDY_SETTINGS = 4,
	SPDY_PING = 6,
	SPDY_GOAWAY = 7,
	SPDY_HEADERS = 8,
	SPDY_WINDOW_UPDATE = 9,
	SPDY_TYPE_MAX
};

struct spdy_header {
	char *name; /* lowercase */
	char *value;
};

struct spdy_headers {
	struct spdy_header *v;
	size_t n;
};
void spdy_headers_done(struct spdy_headers *h);
/* First value of name (case-insensitive), NULL when absent. */
const char *spdy_headers_get(const struct spdy_headers *h, const char *name);
void spdy_headers_add(struct spdy_headers *h, const char *name, const char *value);

/* One zlib context each way per connection, both primed with the dictionary. */
struct spdy_zlib {
	z_stream in, out;
	bool in_ok, out_ok;
};
void spdy_zlib_init(struct spdy_zlib *z);
void spdy_zlib_done(struct spdy_zlib *z);

struct spdy_frame {
	enum spdy_type type; /* SPDY_DATA for data frames */
	uint8_t flags;
	uint32_t stream_id;  /* data, SYN_*, RST, HEADERS, WINDOW_UPDATE; GOAWAY's last good */
	uint32_t value;	     /* RST/GOAWAY status, PING id, WINDOW_UPDATE delta */
	const uint8_t *data; /* data frames: the payload (points into the input) */
	size_t len;
	struct spdy_headers headers; /* SYN_STREAM, SYN_REPLY, HEADERS; owned */
};

/* Parses one frame from buf. Returns 0 with *ret_used 0 when more bytes are
 * needed, else the frame (release with spdy_frame_done) and the bytes used.
 * Unknown control frame types come back with type SPDY_TYPE_MAX. */
int spdy_frame_parse(struct spdy_zlib *z, const uint8_t *buf, size_t len, struct spdy_frame *ret,
		     size_t *ret_used, struct berr **err);
void spdy_frame_done(struct spdy_frame *f);

struct spdy_buf {
	uint8_t *p;
	size_t len, cap;
};
void spdy_buf_put(struct spdy_buf *b, const void *p, size_t n);
void spdy_buf_done(struct spdy_buf *b);

/* Frame encoders append to out. */
void spdy_put_data(struct spdy_buf *out, uint32_t stream_id, uint8_t flags, const void *p,
		   size_t n);
void spdy_put_syn_stream(struct spdy_zlib *z, struct spdy_buf *out, uint32_t stream_id,
			 uint8_t flags, const struct spdy_headers *h);
void spdy_put_syn_reply(struct spdy_zlib *z, struct spdy_buf *out, uint32_t stream_id,
			uint8_t flags, const struct spdy_headers *h);
void spdy_put_rst(struct spdy_buf *out, uint32_t stream_id, uint32_t status);
void spdy_put_ping(struct spdy_buf *out, uint32_t id);
void spdy_put_goaway(struct spdy_buf *out, uint32_t last_id, uint32_t status);

/* ---- token cache (kubelet's streaming requestCache) ---- */
#define STREAM_TOKEN_TTL_MS 60000
#define STREAM_TOKENS_MAX   1000
#define STREAM_TOKEN_LEN    11 /* 8 random bytes, base64url without padding */
struct stream_tokens;
/* ttl_ms 0: STREAM_TOKEN_TTL_MS. */
struct stream_tokens *stream_tokens_new(int64_t ttl_ms);
struct stream_tokens *stream_tokens_free(struct stream_tokens *t);
/* now_ms: CLOCK_MONOTONIC milliseconds (a parameter so tests move time). Takes
 * req (freed on failure too). Expired entries are dropped first. */
int stream_tokens_insert(struct stream_tokens *t, struct stream_req *req, int64_t now_ms,
			 char ret_token[STREAM_TOKEN_LEN + 1], struct berr **err);
/* Removes the token and returns its request; NULL (-ENOENT) when unknown or
 * expired. */
struct stream_req *stream_tokens_consume(struct stream_tokens *t, const char *token,
					 int64_t now_ms);
size_t stream_tokens_count(struct stream_tokens *t);

/* ---- HTTP ---- */
#define STREAM_HTTP_HEAD_MAX 16384
struct stream_http_req {
	char *method, *path;	     /* path without the query */
	char *query;		     /* after '?', NULL when none */
	struct spdy_headers headers; /* names lowercased, one entry per line */
};
/* Parses a complete request head (through the empty line). -EPROTO when bad. */
int stream_http_parse(const char *head, size_t len, struct stream_http_req *ret, struct berr **err);
void stream_http_req_done(struct stream_http_req *r);

/* Picks the first of the client's protocols (comma-separated values of every
 * X-Stream-Protocol-Version header) that the server supports; NULL when none
 * matches; "" when the client offered none. */
const char *stream_negotiate(const struct spdy_headers *h, const char *const *supported);

/* Picks the first of the client's WebSocket subprotocols (comma-separated
 * values of every Sec-WebSocket-Protocol header) that the server supports;
 * NULL when none matches or none was offered. */
const char *stream_negotiate_ws(const struct spdy_headers *h, const char *const *supported);

/* The port-forward ports of a WebSocket request: every "port" query parameter,
 * each a comma-separated list of 1..65535 (kubelet's V4Options). Caller frees
 * *ret. -EINVAL with the reason when missing or bad. */
#define STREAM_WS_PORTS_MAX 64
int stream_ports_parse(const char *query, uint16_t **ret, size_t *ret_n, struct berr **err);

/* The v4 error stream payload (metav1.Status JSON): exit code 0 is Success,
 * another NonZeroExitCode with the code as cause; msg non-NULL: an internal
 * error. Caller frees. */
char *stream_status_json(int exit_code, const char *msg);

/* ---- WebSocket (RFC 6455) ---- */
#define WS_OP_CONT	 0x0
#define WS_OP_TEXT	 0x1
#define WS_OP_BINARY	 0x2
#define WS_OP_CLOSE	 0x8
#define WS_OP_PING	 0x9
#define WS_OP_PONG	 0xa
#define WS_MSG_MAX	 (16 * 1024 * 1024) /* one frame, and one reassembled message */
#define WS_CHANNEL_CLOSE 255		    /* v5.channel.k8s.io: close the channel that follows */
#define WS_CLOSE_NORMAL	 1000
#define WS_CLOSE_GOING	 1001
#define WS_CLOSE_PROTO	 1002
#define WS_CLOSE_DATA	 1007
#define WS_CLOSE_BIG	 1009

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key; caller frees. */
char *ws_accept_key(const char *key);
/* A key is 16 bytes in base64. */
bool ws_key_is_valid(const char *key);

struct ws_frame {
	uint8_t opcode;
	bool fin;
	const uint8_t *data; /* unmasked, points into the input */
	size_t len;
};
/* Parses one client frame from buf, unmasking its payload in place. Returns 0
 * with *ret_used 0 when more bytes are needed. -EPROTO: unmasked, reserved
 * bits, unknown opcode, bad control frame; -E2BIG: over WS_MSG_MAX. */
int ws_frame_parse(uint8_t *buf, size_t len, struct ws_frame *ret, size_t *ret_used,
		   struct berr **err);
/* Server frames (FIN set, not masked) appended to out. */
void ws_put_frame(struct spdy_buf *out, unsigned opcode, const void *p, size_t n);
void ws_put_close(struct spdy_buf *out, unsigned code, const char *reason);
/* One channel message: binary [channel][data], or text ['0'+channel][base64]. */
void ws_put_channel(struct spdy_buf *out, bool b64, unsigned channel, const void *p, size_t n);

struct ws_chan_msg {
	unsigned channel;
	bool close; /* v5 close signal for channel */
	const uint8_t *data;
	size_t len;
	uint8_t *buf; /* owned: the decoded base64 data; free() it */
};
/* Splits a complete message into channel and data. -EPROTO when malformed. */
int ws_channel_decode(bool b64, const uint8_t *msg, size_t len, struct ws_chan_msg *ret,
		      struct berr **err);

#endif
