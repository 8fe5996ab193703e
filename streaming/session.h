/* SPDX-License-Identifier: Apache-2.0 */
/* session.h - what server.c and session.c share: the server struct and the
 * two session loops (remotecommand: exec/attach; portforward), each over SPDY
 * streams or WebSocket channels. A session runs on its connection's thread and
 * returns when the connection is over. */
#ifndef BERTH_STREAMING_SESSION_H
#define BERTH_STREAMING_SESSION_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

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
	pthread_mutex_t tls_lock; /* guards tls */
	struct ssl_ctx_st *tls;	  /* new connections' TLS context; NULL: plain HTTP */
};

struct ssl_st;
struct ssl_ctx_st;

/* A client connection: plain TCP, or TLS over it (io.c). */
struct stream_io {
	int fd;		    /* non-blocking */
	struct ssl_st *ssl; /* NULL: plain */
};
/* A server TLS context from PEM files (certificate chain, key). -EINVAL with
 * OpenSSL's reason when a file is bad or they do not match. */
int stream_tls_ctx_new(const char *cert, const char *key, struct ssl_ctx_st **ret,
		       struct berr **err);
/* Another reference (NULL stays NULL); each is dropped by stream_tls_ctx_free. */
struct ssl_ctx_st *stream_tls_ctx_ref(struct ssl_ctx_st *ctx);
void stream_tls_ctx_free(struct ssl_ctx_st *ctx);
/* The server side of the TLS handshake on io->fd (timeout_ms at most, or
 * until stop_fd is readable). io->ssl is set even on failure: stream_io_done
 * frees it. The SSL holds its own reference to ctx. */
int stream_io_tls_accept(struct stream_io *io, struct ssl_ctx_st *ctx, int stop_fd, int timeout_ms,
			 struct berr **err);
void stream_io_done(struct stream_io *io);
/* Non-blocking after the upgrade: bytes moved, 0 at EOF (recv), -EAGAIN when
 * nothing can move now, -EIO when the peer is gone. */
ssize_t stream_io_recv(struct stream_io *io, void *p, size_t n);
ssize_t stream_io_send(struct stream_io *io, const void *p, size_t n);
/* Input already read from the socket but not yet returned by recv. */
bool stream_io_pending(struct stream_io *io);
/* No more output (TCP half-close). */
void stream_io_shutdown(struct stream_io *io);

struct session_opts {
	struct stream_server *s;
	struct stream_io *io;
	const struct stream_req *req;
	int version;	       /* remotecommand protocol 1..4 (WebSocket v5 and v4: 4) */
	bool ws;	       /* WebSocket channels instead of SPDY streams */
	bool ws_b64;	       /* base64 channel framing (text messages) */
	bool ws_v5;	       /* v5.channel.k8s.io: the CLOSE channel */
	bool ws_tunnel;	       /* SPDY/3.1+portforward.k8s.io: SPDY in binary messages */
	const uint16_t *ports; /* WebSocket port-forward: one pair per port */
	size_t nports;
};

void session_remotecommand(const struct session_opts *o, struct spdy_buf *pending);
void session_portforward(const struct session_opts *o, struct spdy_buf *pending);

int64_t stream_now_ms(void);
/* Sends everything, waiting for the socket (10 s at most each time); -EIO when
 * the peer is gone. For the HTTP replies before a session. */
int stream_io_write_all(struct stream_io *io, const void *p, size_t n);

#endif
