/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_spdy - the streaming server's SPDY/3.1 frame parser: the input is
 * the byte stream of one connection, parsed frame after frame with one zlib
 * context (header blocks compressed against the SPDY dictionary), as
 * streaming/session.c reads it. Each parsed header block is re-encoded and
 * parsed back through a second connection's contexts. */
#include <stdlib.h>

#include "common/err.h"
#include "streaming/streaming-internal.h"
#include "tests/fuzz/fuzz.h"

static void roundtrip(const struct spdy_frame *f)
{
	struct spdy_zlib a, b;
	spdy_zlib_init(&a);
	spdy_zlib_init(&b);
	struct spdy_buf out = {0};
	spdy_put_syn_stream(&a, &out, f->stream_id | 1, f->flags & SPDY_FLAG_FIN, &f->headers);
	struct spdy_frame g = {0};
	size_t used = 0;
	struct berr *e = NULL;
	int r = spdy_frame_parse(&b, out.p, out.len, &g, &used, &e);
	/* what berth encodes, berth parses: the same headers back */
	if (r < 0 || used != out.len || g.type != SPDY_SYN_STREAM || g.headers.n != f->headers.n)
		abort();
	spdy_frame_done(&g);
	berr_free(e);
	spdy_buf_done(&out);
	spdy_zlib_done(&a);
	spdy_zlib_done(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_quiet();
	struct spdy_zlib z;
	spdy_zlib_init(&z);
	size_t off = 0;
	while (off < size) {
		struct spdy_frame f = {0};
		size_t used = 0;
		struct berr *e = NULL;
		int r = spdy_frame_parse(&z, data + off, size - off, &f, &used, &e);
		berr_free(e);
		if (r < 0 || used == 0)
			break;
		if (used > size - off)
			abort();
		if (f.type == SPDY_SYN_STREAM || f.type == SPDY_SYN_REPLY || f.type == SPDY_HEADERS)
			roundtrip(&f);
		spdy_frame_done(&f);
		off += used;
	}
	spdy_zlib_done(&z);
	return 0;
}
