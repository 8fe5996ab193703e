/* SPDX-License-Identifier: Apache-2.0 */
/* io.c - a client connection's bytes: plain TCP or TLS over it (OpenSSL), both
 * non-blocking. The TLS context is built from PEM files; each connection's
 * SSL holds a reference to the context it was made from, so a context can be
 * replaced (stream_server_set_tls) while connections made from the old one
 * carry on. */
#include "streaming/session.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"

/* The oldest OpenSSL error as text (the queue is cleared). */
static void ssl_reason(char *buf, size_t n)
{
	unsigned long e = ERR_get_error();
	if (e)
		ERR_error_string_n(e, buf, n);
	else
		snprintf(buf, n, "no OpenSSL error recorded");
	ERR_clear_error();
}

int stream_tls_ctx_new(const char *cert, const char *key, struct ssl_ctx_st **ret,
		       struct berr **err)
{
	char why[256];
	if (!cert || !*cert || !key || !*key)
		return berr_set(err, EINVAL, "stream TLS needs both a certificate and a key");
	ERR_clear_error();
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return berr_set(err, ENOMEM, "SSL_CTX_new");
	(void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	int r = 0;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		ssl_reason(why, sizeof(why));
		r = berr_set(err, EINVAL, "stream TLS certificate '%s': %s", cert, why);
	} else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ssl_reason(why, sizeof(why));
		r = berr_set(err, EINVAL, "stream TLS key '%s': %s", key, why);
	} else if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_reason(why, sizeof(why));
		r = berr_set(err, EINVAL, "stream TLS key '%s' does not match certificate '%s': %s",
			     key, cert, why);
	}
	if (r < 0) {
		SSL_CTX_free(ctx);
		return r;
	}
	*ret = ctx;
	return 0;
}

struct ssl_ctx_st *stream_tls_ctx_ref(struct ssl_ctx_st *ctx)
{
	if (ctx)
		SSL_CTX_up_ref(ctx);
	return ctx;
}

void stream_tls_ctx_free(struct ssl_ctx_st *ctx)
{
	SSL_CTX_free(ctx);
}

int stream_io_tls_accept(struct stream_io *io, struct ssl_ctx_st *ctx, int stop_fd, int timeout_ms,
			 struct berr **err)
{
	ERR_clear_error();
	io->ssl = SSL_new(ctx);
	if (!io->ssl || SSL_set_fd(io->ssl, io->fd) != 1)
		return berr_set(err, ENOMEM, "SSL_new");
	int64_t deadline = stream_now_ms() + timeout_ms;
	for (;;) {
		int r = SSL_accept(io->ssl);
		if (r == 1)
			return 0;
		int e = SSL_get_error(io->ssl, r);
		short ev = e == SSL_ERROR_WANT_READ    ? POLLIN
			   : e == SSL_ERROR_WANT_WRITE ? POLLOUT
						       : 0;
		if (!ev) {
			char why[256];
			ssl_reason(why, sizeof(why));
			return berr_set(err, EPROTO, "TLS handshake: %s", why);
		}
		int64_t left = deadline - stream_now_ms();
		struct pollfd p[2] = {{.fd = io->fd, .events = ev},
				      {.fd = stop_fd, .events = POLLIN}};
		if (left <= 0 || poll(p, 2, (int)left) <= 0 || p[1].revents)
			return berr_set(err, ETIMEDOUT, "TLS handshake timed out");
	}
}

void stream_io_done(struct stream_io *io)
{
	SSL_free(io->ssl);
	io->ssl = NULL;
}

/* What an SSL_read/SSL_write failure means for the caller. */
static ssize_t ssl_fail(struct stream_io *io, int r)
{
	int e = SSL_get_error(io->ssl, r);
	ERR_clear_error();
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return -EAGAIN;
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	return -EIO;
}

ssize_t stream_io_recv(struct stream_io *io, void *p, size_t n)
{
	if (io->ssl) {
		size_t got = 0;
		int r = SSL_read_ex(io->ssl, p, n, &got);
		return r == 1 ? (ssize_t)got : ssl_fail(io, r);
	}
	ssize_t r = recv(io->fd, p, n, MSG_DONTWAIT);
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -EIO;
	return r;
}

ssize_t stream_io_send(struct stream_io *io, const void *p, size_t n)
{
	if (io->ssl) {
		size_t put = 0;
		int r = SSL_write_ex(io->ssl, p, n, &put);
		if (r == 1)
			return (ssize_t)put;
		ssize_t f = ssl_fail(io, r);
		return f == 0 ? -EIO : f;
	}
	ssize_t r = send(io->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -EIO;
	return r;
}

bool stream_io_pending(struct stream_io *io)
{
	return io->ssl && SSL_pending(io->ssl) > 0;
}

void stream_io_shutdown(struct stream_io *io)
{
	if (io->ssl) {
		(void)SSL_shutdown(io->ssl); /* close_notify, if the socket takes it */
		ERR_clear_error();
	}
	shutdown(io->fd, SHUT_WR);
}

int stream_io_write_all(struct stream_io *io, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = stream_io_send(io, b, n);
		if (w == -EAGAIN) {
			struct pollfd q = {.fd = io->fd, .events = POLLOUT};
			if (poll(&q, 1, 10000) <= 0)
				return -EIO;
			continue;
		}
		if (w <= 0)
			return -EIO;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}
