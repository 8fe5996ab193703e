/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_http - the streaming server's HTTP request head parser
 * (stream_http_parse) and the protocol negotiation that reads its headers
 * (stream_negotiate), as a kubelet or a hostile client on the stream port
 * would send them. */
#include <stdlib.h>

#include "common/err.h"
#include "streaming/streaming-internal.h"
#include "tests/fuzz/fuzz.h"

static const char *const protocols[] = {"v4.channel.k8s.io", "v3.channel.k8s.io",
					"v2.channel.k8s.io", "channel.k8s.io", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_quiet();
	if (size > STREAM_HTTP_HEAD_MAX)
		return 0;
	/* the server hands over the head as read, not NUL-terminated: an exact copy */
	char *head = xmalloc(size ? size : 1);
	memcpy(head, data, size);
	struct stream_http_req req = {0};
	struct berr *e = NULL;
	if (stream_http_parse(head, size, &req, &e) == 0) {
		if (!req.method || !req.path)
			abort();
		(void)stream_negotiate(&req.headers, protocols);
		(void)spdy_headers_get(&req.headers, "upgrade");
		stream_http_req_done(&req);
	}
	berr_free(e);
	free(head);
	return 0;
}
