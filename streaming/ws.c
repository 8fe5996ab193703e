/* SPDX-License-Identifier: Apache-2.0 */
/* ws.c - RFC 6455 frames as the streaming server reads and writes them: the
 * opening handshake's accept key, client frames (always masked, unmasked here
 * in place), server frames (never masked), close codes, and the channel
 * framing of k8s.io/apimachinery's wsstream (a channel byte, raw or as an
 * ASCII digit with base64 data). Limits in docs/streaming.md. */
#include "streaming/streaming-internal.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

char *ws_accept_key(const char *key)
{
	_cleanup_free_ char *in = xasprintf("%s%s", key, WS_GUID);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	if (EVP_Digest(in, strlen(in), md, &mdlen, EVP_sha1(), NULL) != 1)
		return NULL;
	char *out = xmalloc(4 * ((mdlen + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
	return out;
}

bool ws_key_is_valid(const char *key)
{
	/* 16 random bytes in base64: 24 characters ending in "==". */
	unsigned char raw[24];
	size_t n = key ? strlen(key) : 0;
	if (n != 24 || key[22] != '=' || key[23] != '=')
		return false;
	return EVP_DecodeBlock(raw, (const unsigned char *)key, 24) == 18;
}

int ws_frame_parse(uint8_t *buf, size_t len, struct ws_frame *ret, size_t *ret_used,
		   struct berr **err)
{
	*ret_used = 0;
	if (len < 2)
		return 0;
	uint8_t b0 = buf[0], b1 = buf[1];
	unsigned op = b0 & 0x0f;
	bool fin = b0 & 0x80;
	if (b0 & 0x70)
		return berr_set(err, EPROTO, "websocket: reserved bits set (no extension agreed)");
	if (op != WS_OP_CONT && op != WS_OP_TEXT && op != WS_OP_BINARY && op != WS_OP_CLOSE &&
	    op != WS_OP_PING && op != WS_OP_PONG)
		return berr_set(err, EPROTO, "websocket: unknown opcode %u", op);
	if (!(b1 & 0x80))
		return berr_set(err, EPROTO, "websocket: client frame not masked");
	uint64_t n = b1 & 0x7f;
	size_t hl = 2;
	if (n == 126) {
		if (len < 4)
			return 0;
		n = (uint64_t)buf[2] << 8 | buf[3];
		hl = 4;
	} else if (n == 127) {
		if (len < 10)
			return 0;
		n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | buf[2 + i];
		hl = 10;
		if (n >> 63)
			return berr_set(err, EPROTO, "websocket: frame length has its top bit set");
	}
	if (op >= WS_OP_CLOSE && (!fin || n > 125))
		return berr_set(err, EPROTO,
				"websocket: control frame fragmented or over 125 bytes");
	if (n > WS_MSG_MAX)
		return berr_set(err, E2BIG, "websocket: frame of %llu bytes over the %d limit",
				(unsigned long long)n, WS_MSG_MAX);
	if (len < hl + 4 + n)
		return 0;
	const uint8_t *mask = buf + hl;
	uint8_t *p = buf + hl + 4;
	/* Eight bytes at a time (the mask repeats every four), then the tail. */
	uint8_t m8[8] = {mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]};
	uint64_t m64, v;
	memcpy(&m64, m8, 8);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		memcpy(&v, p + i, 8);
		v ^= m64;
		memcpy(p + i, &v, 8);
	}
	for (; i < n; i++)
		p[i] ^= mask[i & 3];
	*ret = (struct ws_frame){.opcode = (uint8_t)op, .fin = fin, .data = p, .len = (size_t)n};
	*ret_used = hl + 4 + (size_t)n;
	return 0;
}

static void put_head(struct spdy_buf *out, unsigned opcode, size_t n)
{
	uint8_t h[10];
	size_t hl;
	h[0] = (uint8_t)(0x80 | (opcode & 0x0f));
	if (n < 126) {
		h[1] = (uint8_t)n;
		hl = 2;
	} else if (n <= 0xffff) {
		h[1] = 126;
		h[2] = (uint8_t)(n >> 8);
		h[3] = (uint8_t)n;
		hl = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
		hl = 10;
	}
	spdy_buf_put(out, h, hl);
}

void ws_put_frame(struct spdy_buf *out, unsigned opcode, const void *p, size_t n)
{
	put_head(out, opcode, n);
	spdy_buf_put(out, p, n);
}

void ws_put_close(struct spdy_buf *out, unsigned code, const char *reason)
{
	uint8_t b[125];
	size_t rl = reason ? strlen(reason) : 0;
	if (rl > sizeof(b) - 2)
		rl = sizeof(b) - 2;
	b[0] = (uint8_t)(code >> 8);
	b[1] = (uint8_t)code;
	if (rl)
		memcpy(b + 2, reason, rl);
	ws_put_frame(out, WS_OP_CLOSE, b, rl + 2);
}

void ws_put_channel(struct spdy_buf *out, bool b64, unsigned channel, const void *p, size_t n)
{
	if (!b64) {
		uint8_t c = (uint8_t)channel;
		put_head(out, WS_OP_BINARY, n + 1);
		spdy_buf_put(out, &c, 1);
		spdy_buf_put(out, p, n);
		return;
	}
	size_t el = 4 * ((n + 2) / 3);
	_cleanup_free_ uint8_t *m = xmalloc(el + 2);
	m[0] = (uint8_t)('0' + channel);
	if (n)
		EVP_EncodeBlock(m + 1, p, (int)n);
	ws_put_frame(out, WS_OP_TEXT, m, el + 1);
}

int ws_channel_decode(bool b64, const uint8_t *msg, size_t len, struct ws_chan_msg *ret,
		      struct berr **err)
{
	memset(ret, 0, sizeof(*ret));
	if (len == 0)
		return berr_set(err, EPROTO, "websocket: empty channel message");
	unsigned ch = msg[0];
	const uint8_t *p = msg + 1;
	size_t n = len - 1;
	if (ch == WS_CHANNEL_CLOSE) {
		/* v5: the channel to close follows (a digit in base64 mode). */
		if (n != 1)
			return berr_set(err, EPROTO,
					"websocket: close signal with %zu bytes, want one channel",
					n);
		ret->close = true;
		ret->channel = b64 ? (unsigned)(p[0] - '0') : p[0];
		return 0;
	}
	if (b64) {
		if (ch < '0' || ch > '9')
			return berr_set(err, EPROTO, "websocket: bad base64 channel '%c'", ch);
		ch -= '0';
		if (n % 4)
			return berr_set(err, EPROTO, "websocket: base64 data of %zu bytes", n);
		ret->buf = xmalloc(n / 4 * 3 + 1);
		int d = n ? EVP_DecodeBlock(ret->buf, p, (int)n) : 0;
		if (d < 0) {
			free(ret->buf);
			ret->buf = NULL;
			return berr_set(err, EPROTO, "websocket: bad base64 data");
		}
		/* EVP_DecodeBlock counts the padding as zero bytes. */
		size_t pad = n >= 1 && p[n - 1] == '=' ? 1 + (n >= 2 && p[n - 2] == '=') : 0;
		ret->data = ret->buf;
		ret->len = (size_t)d - pad;
	} else {
		ret->data = p;
		ret->len = n;
	}
	ret->channel = ch;
	return 0;
}
