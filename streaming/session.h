/* SPDX-License-Identifier: Apache-2.0 */
/* session.h - what server.c and session.c share: the server struct and the
 * two session loops (remotecommand: exec/attach; portforward), each over SPDY
 * streams or WebSocket channels. A session runs on its connection's thread and
 * returns when the connection is over. */
#ifndef BERTH_STREAMING_SESSION_H
#define BERTH_STREAMING_SESSION_H

#include <pthread.h>
#include <stdbool.h>

#include "streaming/streaming-internal.h"

#define STREAM_CONNS_MAX 256

struct stream_server {
	char *address;
	int port; /* the bound one */
	int lfd;
	int stop_fd; /* eventfd, readable once stopping: every loop polls it */
	struct stream_backend be;
	struct stream_tokens *tokens;
	pthread_t listener;
	bool started;
	pthread_mutex_t lock; /* guards nconns */
	pthread_cond_t cond;
	size_t nconns;
};

struct session_opts {
	struct stream_server *s;
	int fd;
	const struct stream_req *req;
	int version;	       /* remotecommand protocol 1..4 (WebSocket v5 and v4: 4) */
	bool ws;	       /* WebSocket channels instead of SPDY streams */
	bool ws_b64;	       /* base64 channel framing (text messages) */
	bool ws_v5;	       /* v5.channel.k8s.io: the CLOSE channel */
	const uint16_t *ports; /* WebSocket port-forward: one pair per port */
	size_t nports;
};

void session_remotecommand(const struct session_opts *o, struct spdy_buf *pending);
void session_portforward(const struct session_opts *o, struct spdy_buf *pending);

int64_t stream_now_ms(void);
/* send() everything (MSG_NOSIGNAL); -EIO when the peer is gone. */
int stream_write_all(int fd, const void *p, size_t n);

#endif
