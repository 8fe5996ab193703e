/* SPDX-License-Identifier: Apache-2.0 */
/* spdy.c - SPDY/3.1 frames as github.com/moby/spdystream's framer reads and
 * writes them: 8-byte frame headers, header blocks as zlib streams primed with
 * the SPDY/3 dictionary, one compression context per direction for the whole
 * connection (each block ends with a sync flush). */
#include "streaming/streaming-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/err.h"

void spdy_headers_done(struct spdy_headers *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->v[i].name);
		free(h->v[i].value);
	}
	free(h->v);
	h->v = NULL;
	h->n = 0;
}

const char *spdy_headers_get(const struct spdy_headers *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcasecmp(h->v[i].name, name) == 0)
			return h->v[i].value;
	return NULL;
}

void spdy_headers_add(struct spdy_headers *h, const char *name, const char *value)
{
	h->v = xreallocarray(h->v, h->n + 1, sizeof(*h->v));
	char *n = xstrdup(name);
	for (char *p = n; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	h->v[h->n].name = n;
	h->v[h->n].value = xstrdup(value);
	h->n++;
}

void spdy_zlib_init(struct spdy_zlib *z)
{
	memset(z, 0, sizeof(*z));
	z->in_ok = inflateInit(&z->in) == Z_OK;
	z->out_ok = deflateInit(&z->out, Z_DEFAULT_COMPRESSION) == Z_OK &&
		    deflateSetDictionary(&z->out, spdy_dictionary, SPDY_DICT_LEN) == Z_OK;
}

void spdy_zlib_done(struct spdy_zlib *z)
{
	if (z->in_ok)
		inflateEnd(&z->in);
	if (z->out_ok)
		deflateEnd(&z->out);
	z->in_ok = z->out_ok = false;
}

void spdy_buf_put(struct spdy_buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

void spdy_buf_done(struct spdy_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(struct spdy_buf *b, uint32_t v)
{
	uint8_t p[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	spdy_buf_put(b, p, 4);
}

static void put_ctl_head(struct spdy_buf *b, enum spdy_type type, uint8_t flags, size_t len)
{
	uint8_t p[8] = {0x80,
			SPDY_VERSION,
			0,
			(uint8_t)type,
			flags,
			(uint8_t)(len >> 16),
			(uint8_t)(len >> 8),
			(uint8_t)len};
	spdy_buf_put(b, p, 8);
}

/* Inflates one header block (continuing the connection's stream). */
static int inflate_block(struct spdy_zlib *z, const uint8_t *in, size_t n, struct spdy_buf *out,
			 struct berr **err)
{
	if (!z->in_ok)
		return berr_set(err, EPROTO, "spdy: no decompressor");
	z->in.next_in = (Bytef *)in;
	z->in.avail_in = (uInt)n;
	uint8_t chunk[4096];
	while (z->in.avail_in > 0) {
		z->in.next_out = chunk;
		z->in.avail_out = sizeof(chunk);
		int zr = inflate(&z->in, Z_SYNC_FLUSH);
		if (zr == Z_NEED_DICT) {
			if (inflateSetDictionary(&z->in, spdy_dictionary, SPDY_DICT_LEN) != Z_OK)
				return berr_set(err, EPROTO, "spdy: header dictionary rejected");
			continue;
		}
		if (zr != Z_OK && zr != Z_BUF_ERROR && zr != Z_STREAM_END)
			return berr_set(err, EPROTO, "spdy: corrupt header block (zlib %d)", zr);
		size_t got = sizeof(chunk) - z->in.avail_out;
		if (out->len + got > SPDY_HEADER_BLOCK_MAX)
			return berr_set(err, E2BIG, "spdy: header block over %d bytes",
					SPDY_HEADER_BLOCK_MAX);
		spdy_buf_put(out, chunk, got);
		if (zr == Z_BUF_ERROR && got == 0)
			break;
	}
	return 0;
}

static int parse_headers(struct spdy_zlib *z, const uint8_t *in, size_t n, struct spdy_headers *h,
			 struct berr **err)
{
	struct spdy_buf b = {0};
	int r = inflate_block(z, in, n, &b, err);
	size_t off = 4;
	uint32_t count = 0;
	if (r == 0 && b.len < 4)
		r = berr_set(err, EPROTO, "spdy: short header block");
	if (r == 0)
		count = get32(b.p);
	for (uint32_t i = 0; r == 0 && i < count; i++) {
		uint32_t nl, vl;
		if (b.len - off < 4 || (nl = get32(b.p + off)) > b.len - off - 4) {
			r = berr_set(err, EPROTO, "spdy: truncated header name");
			break;
		}
		const uint8_t *name = b.p + off + 4;
		off += 4 + nl;
		if (b.len - off < 4 || (vl = get32(b.p + off)) > b.len - off - 4) {
			r = berr_set(err, EPROTO, "spdy: truncated header value");
			break;
		}
		const uint8_t *val = b.p + off + 4;
		off += 4 + vl;
		if (nl == 0) {
			r = berr_set(err, EPROTO, "spdy: empty header name");
			break;
		}
		/* read as a C string, a name with a NUL would be cut short */
		if (memchr(name, 0, nl)) {
			r = berr_set(err, EPROTO, "spdy: NUL in header name");
			break;
		}
		char *nm = xstrndup((const char *)name, nl);
		/* Several values of one name are NUL-separated. */
		size_t start = 0;
		for (size_t k = 0; k <= vl; k++) {
			if (k == vl || val[k] == 0) {
				char *v = xstrndup((const char *)val + start, k - start);
				spdy_headers_add(h, nm, v);
				free(v);
				start = k + 1;
			}
		}
		free(nm);
	}
	spdy_buf_done(&b);
	if (r < 0)
		spdy_headers_done(h);
	return r;
}

static void put_header_block(struct spdy_zlib *z, struct spdy_buf *out,
			     const struct spdy_headers *h)
{
	struct spdy_buf raw = {0};
	put32(&raw, h ? (uint32_t)h->n : 0);
	for (size_t i = 0; h && i < h->n; i++) {
		put32(&raw, (uint32_t)strlen(h->v[i].name));
		spdy_buf_put(&raw, h->v[i].name, strlen(h->v[i].name));
		put32(&raw, (uint32_t)strlen(h->v[i].value));
		spdy_buf_put(&raw, h->v[i].value, strlen(h->v[i].value));
	}
	z->out.next_in = raw.p;
	z->out.avail_in = (uInt)raw.len;
	uint8_t chunk[4096];
	do {
		z->out.next_out = chunk;
		z->out.avail_out = sizeof(chunk);
		(void)deflate(&z->out, Z_SYNC_FLUSH);
		spdy_buf_put(out, chunk, sizeof(chunk) - z->out.avail_out);
	} while (z->out.avail_out == 0);
	spdy_buf_done(&raw);
}

static void put_headers_frame(struct spdy_zlib *z, struct spdy_buf *out, enum spdy_type type,
			      uint32_t stream_id, uint8_t flags, const struct spdy_headers *h)
{
	struct spdy_buf body = {0};
	put32(&body, stream_id & 0x7fffffff);
	if (type == SPDY_SYN_STREAM) {
		put32(&body, 0);		/* associated stream */
		spdy_buf_put(&body, "\0\0", 2); /* priority, slot */
	}
	put_header_block(z, &body, h);
	put_ctl_head(out, type, flags, body.len);
	spdy_buf_put(out, body.p, body.len);
	spdy_buf_done(&body);
}

void spdy_put_syn_stream(struct spdy_zlib *z, struct spdy_buf *out, uint32_t stream_id,
			 uint8_t flags, const struct spdy_headers *h)
{
	put_headers_frame(z, out, SPDY_SYN_STREAM, stream_id, flags, h);
}

void spdy_put_syn_reply(struct spdy_zlib *z, struct spdy_buf *out, uint32_t stream_id,
			uint8_t flags, const struct spdy_headers *h)
{
	put_headers_frame(z, out, SPDY_SYN_REPLY, stream_id, flags, h);
}

void spdy_put_data(struct spdy_buf *out, uint32_t stream_id, uint8_t flags, const void *p, size_t n)
{
	put32(out, stream_id & 0x7fffffff);
	uint8_t h[4] = {flags, (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
	spdy_buf_put(out, h, 4);
	spdy_buf_put(out, p, n);
}

void spdy_put_rst(struct spdy_buf *out, uint32_t stream_id, uint32_t status)
{
	put_ctl_head(out, SPDY_RST_STREAM, 0, 8);
	put32(out, stream_id & 0x7fffffff);
	put32(out, status);
}

void spdy_put_ping(struct spdy_buf *out, uint32_t id)
{
	put_ctl_head(out, SPDY_PING, 0, 4);
	put32(out, id);
}

void spdy_put_goaway(struct spdy_buf *out, uint32_t last_id, uint32_t status)
{
	put_ctl_head(out, SPDY_GOAWAY, 0, 8);
	put32(out, last_id & 0x7fffffff);
	put32(out, status);
}

void spdy_frame_done(struct spdy_frame *f)
{
	spdy_headers_done(&f->headers);
	memset(f, 0, sizeof(*f));
}

int spdy_frame_parse(struct spdy_zlib *z, const uint8_t *buf, size_t len, struct spdy_frame *ret,
		     size_t *ret_used, struct berr **err)
{
	memset(ret, 0, sizeof(*ret));
	*ret_used = 0;
	if (len < 8)
		return 0;
	size_t flen = (size_t)buf[5] << 16 | (size_t)buf[6] << 8 | buf[7];
	if (len < 8 + flen)
		return 0;
	const uint8_t *p = buf + 8;
	ret->flags = buf[4];
	if (!(buf[0] & 0x80)) {
		ret->type = SPDY_DATA;
		ret->stream_id = get32(buf) & 0x7fffffff;
		ret->data = p;
		ret->len = flen;
		*ret_used = 8 + flen;
		return 0;
	}
	unsigned version = ((unsigned)buf[0] & 0x7f) << 8 | buf[1];
	unsigned type = (unsigned)buf[2] << 8 | buf[3];
	if (version != SPDY_VERSION)
		return berr_set(err, EPROTO, "spdy: version %u, expected %d", version,
				SPDY_VERSION);
	int r = 0;
	switch (type) {
	case SPDY_SYN_STREAM:
		if (flen < 10)
			return berr_set(err, EPROTO, "spdy: short SYN_STREAM");
		ret->stream_id = get32(p) & 0x7fffffff;
		r = parse_headers(z, p + 10, flen - 10, &ret->headers, err);
		break;
	case SPDY_SYN_REPLY:
	case SPDY_HEADERS:
		if (flen < 4)
			return berr_set(err, EPROTO, "spdy: short header frame");
		ret->stream_id = get32(p) & 0x7fffffff;
		r = parse_headers(z, p + 4, flen - 4, &ret->headers, err);
		break;
	case SPDY_RST_STREAM:
	case SPDY_GOAWAY:
	case SPDY_WINDOW_UPDATE:
		if (flen < 8)
			return berr_set(err, EPROTO, "spdy: short control frame type %u", type);
		ret->stream_id = get32(p) & 0x7fffffff;
		ret->value = get32(p + 4) & (type == SPDY_WINDOW_UPDATE ? 0x7fffffff : 0xffffffff);
		break;
	case SPDY_PING:
		if (flen < 4)
			return berr_set(err, EPROTO, "spdy: short PING");
		ret->value = get32(p);
		break;
	case SPDY_SETTINGS:
		break;
	default:
		type = SPDY_TYPE_MAX;
	}
	if (r < 0)
		return r;
	ret->type = (enum spdy_type)type;
	*ret_used = 8 + flen;
	return 0;
}
