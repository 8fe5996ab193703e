/* SPDX-License-Identifier: Apache-2.0 */
/* streaming.h - the CRI streaming server: exec, attach and port-forward over
 * HTTP/1.1 (optionally TLS) upgraded to SPDY/3.1 or WebSocket, as kubelet's
 * pkg/kubelet/cri/streaming serves them (docs/streaming.md).
 * Ownership: stream_server_new() returns a server freed by stream_server_free()
 *   after stream_server_stop(); a request given to stream_server_register() is
 *   owned by the server from then on (also on failure); URLs are the caller's.
 * Threads: one listener thread plus one thread per connection, none of them a
 *   gRPC worker; every call here is thread-safe. Backend callbacks run on a
 *   connection thread, several at once; they may block (not forever).
 * Errors: -EINVAL bad address or TLS files, -ENOSPC too many outstanding
 *   tokens, -errno of the failing socket call; backends return their own.
 * Signals: the process must ignore SIGPIPE (berthd does): TLS writes go through
 *   OpenSSL's socket BIO, which does not pass MSG_NOSIGNAL. */
#ifndef BERTH_STREAMING_STREAMING_H
#define BERTH_STREAMING_STREAMING_H

#include <stdbool.h>
#include <stdint.h>

struct berr;

enum stream_kind { STREAM_EXEC, STREAM_ATTACH, STREAM_PORTFORWARD, STREAM_KIND_MAX };

/* What a token stands for: the validated CRI request. */
struct stream_req {
	enum stream_kind kind;
	char *id;   /* container ID (exec, attach) or sandbox ID (port-forward) */
	char **cmd; /* exec: NULL-terminated; else NULL */
	bool in, out, err, tty;
};
struct stream_req *stream_req_free(struct stream_req *r);

/* A started exec or attach, as the relay sees it. Fds are owned by the proc and
 * closed by the backend's finish(); -1 when absent. */
struct stream_proc {
	int in_fd;   /* stdin of the process (pipe, or the pty master for a tty) */
	int out_fd;  /* stdout (pipe or pty master) */
	int err_fd;  /* stderr pipe */
	int shim_fd; /* attach: the shim's SEQPACKET socket (shim/shim.h tags) */
	int exit_fd; /* readable once the process exited (pidfd); -1 for attach */
	void *priv;  /* the backend's */
};

struct stream_backend {
	void *ctx;
	/* Starts an exec or attaches; *ret is finished with finish(). */
	int (*start)(void *ctx, const struct stream_req *req, struct stream_proc **ret,
		     struct berr **err);
	/* Terminal size change (exec with tty); errors are ignored by the relay. */
	int (*resize)(void *ctx, struct stream_proc *p, unsigned width, unsigned height);
	/* Ends p: kills the process first when kill (client gone), waits for it, and
	 * frees p. Returns the exit code (>= 0), or -errno with err when the process
	 * could not be run. */
	int (*finish)(void *ctx, struct stream_proc *p, bool kill, struct berr **err);
	/* Port-forward: a connected CLOEXEC socket to 127.0.0.1:port in the pod. */
	int (*connect)(void *ctx, const struct stream_req *req, uint16_t port, int *ret_fd,
		       struct berr **err);
};

struct stream_server_opts {
	const char *address;
	int port;	  /* 0: a free one */
	int token_ttl_ms; /* 0: one minute */
	/* TLS (both or neither): PEM certificate chain and key; URLs are https. */
	const char *tls_cert, *tls_key;
};

struct stream_server;
/* Binds address:port. */
int stream_server_new(const struct stream_server_opts *o, const struct stream_backend *be,
		      struct stream_server **ret, struct berr **err);
int stream_server_start(struct stream_server *s, struct berr **err);
/* Stops accepting, ends every connection (killing their processes) and joins. */
void stream_server_stop(struct stream_server *s);
struct stream_server *stream_server_free(struct stream_server *s);
/* Registers req under a new one-time token; *ret_url is
 * "http://<address>:<port>/<exec|attach|portforward>/<token>". */
int stream_server_register(struct stream_server *s, struct stream_req *req, char **ret_url,
			   struct berr **err);
/* Loads a new certificate and key (PEM) for the connections accepted from now
 * on (a configuration reload); open connections keep the old one. Also turns
 * TLS on for a server started without it. On failure (-EINVAL naming the file
 * and OpenSSL's reason) nothing changes. */
int stream_server_set_tls(struct stream_server *s, const char *cert, const char *key,
			  struct berr **err);

#endif
