/* SPDX-License-Identifier: Apache-2.0 */
/* session.c - the sessions after the upgrade, mirroring kubelet's
 * pkg/kubelet/cri/streaming/{remotecommand,portforward}/{httpstream,websocket}.go.
 *
 * SPDY: every stream the client opens is answered with an empty SYN_REPLY (as
 * apimachinery's spdy connection does) or reset when its type is unknown.
 * WebSocket: the channels are fixed by the request (wsstream); a channel
 * message is handed to the same handlers as a SPDY data frame whose stream id
 * is the channel + 1 (a v5 CLOSE is a FIN), so both share one relay.
 * Flow control: spdystream neither sends nor honours WINDOW_UPDATE, so neither
 * do we; the TCP window is the only back-pressure. No write blocks: output to
 * the client, stdin to the process and bytes to each pod socket wait in their
 * own queues for POLLOUT, and a full queue stops reading whatever fills it
 * (limits below, docs/streaming.md). */
#include "streaming/session.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"
#include "shim/shim.h"

#define STREAM_WAIT_MS	30000 /* kubelet's streamCreationTimeout */
#define CHUNK		32768
#define STDIN_QUEUE_MAX (1024 * 1024)
#define IN_MAX		(SPDY_FRAME_MAX + 8)
#define PAIRS_MAX	128
#define LINGER_MS	2000
#define OUT_HIGH	(256 * 1024)	  /* unsent to the client: producers wait */
#define OUT_MAX		(4 * 1024 * 1024) /* unsent to the client: its input waits */
#define PAIR_QUEUE_MAX	(4 * 1024 * 1024) /* unsent to one pod socket: client input waits */
#define SEND_STALL_MS	60000		  /* no progress sending to a peer: it is gone */

struct conn {
	const struct session_opts *o;
	int fd;
	struct stream_io *io;
	struct spdy_zlib z;
	struct spdy_buf in, out;
	size_t out_off;	   /* sent part of out */
	int64_t out_moved; /* when out last went out (or became pending) */
	bool dead;	   /* the client is gone */
	bool goaway;	   /* the client said it is done */
	/* WebSocket */
	bool ws, b64, v5;
	bool tunnel;	      /* SPDY inside binary messages (SPDY/3.1+portforward.k8s.io) */
	struct spdy_buf tin;  /* tunnel: SPDY bytes received, not parsed yet */
	struct spdy_buf tout; /* tunnel: SPDY frames to send in the next message */
	bool close_sent;
	uint8_t msg_op;	     /* opcode of the message being reassembled, 0 when none */
	struct spdy_buf msg; /* its fragments so far */
};

/* Sends what the socket takes now; the rest waits for POLLOUT. A client that
 * takes nothing for SEND_STALL_MS is gone. */
static void conn_flush(struct conn *c)
{
	if (c->tunnel && c->tout.len) {
		ws_put_frame(&c->out, WS_OP_BINARY, c->tout.p, c->tout.len);
		c->tout.len = 0;
	}
	bool was_pending = c->out_off < c->out.len;
	while (!c->dead && c->out_off < c->out.len) {
		ssize_t w = stream_io_send(c->io, c->out.p + c->out_off, c->out.len - c->out_off);
		if (w == -EAGAIN)
			break;
		if (w < 0) {
			c->dead = true;
			break;
		}
		c->out_off += (size_t)w;
		c->out_moved = stream_now_ms();
	}
	if (c->dead || c->out_off == c->out.len) {
		c->out.len = c->out_off = 0;
		return;
	}
	if (!was_pending)
		c->out_moved = stream_now_ms();
	if (c->out_off >= c->out.len / 2) {
		memmove(c->out.p, c->out.p + c->out_off, c->out.len - c->out_off);
		c->out.len -= c->out_off;
		c->out_off = 0;
	}
}

static bool conn_pending(const struct conn *c)
{
	return c->out_off < c->out.len;
}

/* Too much unsent: stop reading what would be sent to the client. */
static bool conn_backlogged(const struct conn *c)
{
	return c->out.len - c->out_off > OUT_HIGH;
}

/* The client socket's poll events; marks a stalled client dead. */
static short conn_events(struct conn *c, bool want_input)
{
	if (conn_pending(c) && stream_now_ms() - c->out_moved > SEND_STALL_MS) {
		log_debug("component=streaming client took nothing for %d ms", SEND_STALL_MS);
		c->dead = true;
	}
	bool in = want_input && c->out.len - c->out_off <= OUT_MAX;
	return (short)((in ? POLLIN : 0) | (conn_pending(c) ? POLLOUT : 0));
}

/* Poll timeout: 0 when the TLS layer holds decrypted input already. */
static int conn_timeout(struct conn *c, short events, int ms)
{
	return (events & POLLIN) && stream_io_pending(c->io) ? 0 : ms;
}

/* Where SPDY frames go: the socket's queue, or the next tunnel message. */
static struct spdy_buf *spdy_out(struct conn *c)
{
	return c->tunnel ? &c->tout : &c->out;
}

static void conn_reply(struct conn *c, uint32_t id)
{
	spdy_put_syn_reply(&c->z, spdy_out(c), id, 0, NULL);
	conn_flush(c);
}

/* Data on SPDY stream id, or on WebSocket channel id - 1 (a FIN without data
 * sends nothing: the channel protocols cannot end one channel). */
static void conn_data(struct conn *c, uint32_t id, uint8_t flags, const void *p, size_t n)
{
	if (!id)
		return;
	if (c->ws && !c->tunnel) {
		if (n == 0 && (flags & SPDY_FLAG_FIN))
			return;
		ws_put_channel(&c->out, c->b64, id - 1, p, n);
	} else {
		spdy_put_data(spdy_out(c), id, flags, p, n);
	}
	conn_flush(c);
}

typedef void (*frame_fn)(void *arg, struct conn *c, const struct spdy_frame *f);

/* Fails a WebSocket connection: close frame with code, then nothing more. */
static void ws_fail(struct conn *c, unsigned code, const char *why)
{
	log_debug("component=streaming websocket closed (%u): %s", code, why);
	if (!c->close_sent)
		ws_put_close(&c->out, code, why);
	c->close_sent = true;
	conn_flush(c);
	c->dead = true;
}

static void ws_on_close(struct conn *c, const struct ws_frame *f)
{
	unsigned code = f->len >= 2 ? (unsigned)f->data[0] << 8 | f->data[1] : WS_CLOSE_NORMAL;
	bool ok = f->len != 1 && ((code >= 1000 && code <= 1003) ||
				  (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999));
	if (!ok) {
		ws_fail(c, WS_CLOSE_PROTO, "bad close frame");
		return;
	}
	if (!c->close_sent)
		ws_put_close(&c->out, code, NULL);
	c->close_sent = true;
	conn_flush(c);
	c->goaway = true;
}

static size_t spdy_parse(struct conn *c, const struct spdy_buf *in, frame_fn fn, void *arg);

/* Tunnel: a message is more of the SPDY byte stream, frames may span them. */
static void tunnel_on_message(struct conn *c, frame_fn fn, void *arg)
{
	spdy_buf_put(&c->tin, c->msg.p, c->msg.len);
	c->msg.len = 0;
	c->msg_op = 0;
	size_t off = spdy_parse(c, &c->tin, fn, arg);
	if (off) {
		memmove(c->tin.p, c->tin.p + off, c->tin.len - off);
		c->tin.len -= off;
	}
	if (c->tin.len >= IN_MAX)
		ws_fail(c, WS_CLOSE_BIG, "tunnelled SPDY frame over the size limit");
}

/* A complete message: its channel, then the handler as a SPDY data frame. */
static void ws_on_message(struct conn *c, frame_fn fn, void *arg)
{
	if (c->tunnel) {
		if (c->msg_op != WS_OP_BINARY) {
			ws_fail(c, WS_CLOSE_DATA, "text message in a SPDY tunnel");
			return;
		}
		tunnel_on_message(c, fn, arg);
		return;
	}
	if (c->msg_op == WS_OP_TEXT)
		for (size_t i = 0; i < c->msg.len; i++)
			if (c->msg.p[i] >= 0x80) {
				ws_fail(c, WS_CLOSE_DATA, "text message not ASCII");
				return;
			}
	c->msg_op = 0;
	if (c->msg.len == 0)
		return; /* as wsstream: empty messages are skipped */
	struct ws_chan_msg m;
	_cleanup_berr_ struct berr *e = NULL;
	if (ws_channel_decode(c->b64, c->msg.p, c->msg.len, &m, &e) < 0) {
		ws_fail(c, WS_CLOSE_DATA, berr_msg(e));
		return;
	}
	if (!m.close || c->v5) {
		struct spdy_frame f = {.type = SPDY_DATA,
				       .stream_id = m.channel + 1,
				       .flags = m.close ? SPDY_FLAG_FIN : 0,
				       .data = m.close ? NULL : m.data,
				       .len = m.close ? 0 : m.len};
		fn(arg, c, &f);
	}
	free(m.buf);
	c->msg.len = 0;
}

static size_t ws_parse(struct conn *c, frame_fn fn, void *arg)
{
	size_t off = 0;
	while (!c->dead && !c->goaway) {
		struct ws_frame f;
		size_t used = 0;
		_cleanup_berr_ struct berr *e = NULL;
		int r = ws_frame_parse(c->in.p + off, c->in.len - off, &f, &used, &e);
		if (r < 0) {
			ws_fail(c, r == -E2BIG ? WS_CLOSE_BIG : WS_CLOSE_PROTO, berr_msg(e));
			break;
		}
		if (!used)
			break;
		off += used;
		if (f.opcode == WS_OP_PING) {
			ws_put_frame(&c->out, WS_OP_PONG, f.data, f.len);
			conn_flush(c);
		} else if (f.opcode == WS_OP_CLOSE) {
			ws_on_close(c, &f);
		} else if (f.opcode != WS_OP_PONG) {
			if ((f.opcode == WS_OP_CONT) != (c->msg_op != 0)) {
				ws_fail(c, WS_CLOSE_PROTO, "fragment out of sequence");
				break;
			}
			if (f.opcode != WS_OP_CONT)
				c->msg_op = f.opcode;
			if (c->msg.len + f.len > WS_MSG_MAX) {
				ws_fail(c, WS_CLOSE_BIG, "message over the size limit");
				break;
			}
			spdy_buf_put(&c->msg, f.data, f.len);
			if (f.fin)
				ws_on_message(c, fn, arg);
		}
	}
	return off;
}

static size_t spdy_parse(struct conn *c, const struct spdy_buf *in, frame_fn fn, void *arg)
{
	size_t off = 0;
	while (!c->dead) {
		struct spdy_frame f;
		size_t used = 0;
		_cleanup_berr_ struct berr *e = NULL;
		if (spdy_frame_parse(&c->z, in->p + off, in->len - off, &f, &used, &e) < 0) {
			log_debug("component=streaming bad frame: %s", berr_msg(e));
			spdy_put_goaway(spdy_out(c), 0, SPDY_RST_PROTOCOL_ERR);
			conn_flush(c);
			c->dead = true;
			break;
		}
		if (!used)
			break;
		off += used;
		if (f.type == SPDY_PING) {
			spdy_put_ping(spdy_out(c), f.value);
			conn_flush(c);
		} else if (f.type == SPDY_GOAWAY) {
			c->goaway = true;
		} else if (f.type != SPDY_SETTINGS && f.type != SPDY_WINDOW_UPDATE &&
			   f.type != SPDY_TYPE_MAX) {
			fn(arg, c, &f);
		}
		spdy_frame_done(&f);
	}
	return off;
}

/* Hands each complete frame of c->in to fn. */
static void conn_parse(struct conn *c, frame_fn fn, void *arg)
{
	size_t off = c->ws ? ws_parse(c, fn, arg) : spdy_parse(c, &c->in, fn, arg);
	if (off) {
		memmove(c->in.p, c->in.p + off, c->in.len - off);
		c->in.len -= off;
	}
	if (c->in.len >= IN_MAX)
		c->dead = true;
}

/* Reads what the socket has (a few chunks at most) and parses it. */
static void conn_read(struct conn *c, frame_fn fn, void *arg)
{
	for (int i = 0; i < 4 && !c->dead; i++) {
		if (c->in.cap < c->in.len + CHUNK) {
			c->in.cap = c->in.len + CHUNK;
			c->in.p = xrealloc(c->in.p, c->in.cap);
		}
		ssize_t n = stream_io_recv(c->io, c->in.p + c->in.len, c->in.cap - c->in.len);
		if (n == -EAGAIN)
			break;
		if (n <= 0) {
			c->dead = true;
			break;
		}
		c->in.len += (size_t)n;
		if ((size_t)n < CHUNK)
			break;
	}
	conn_parse(c, fn, arg);
}

/* One poll round's client side (events as asked, revents as got): sends on
 * POLLOUT, reads on POLLIN. */
static void conn_serve(struct conn *c, short events, short revents, frame_fn fn, void *arg)
{
	if (revents & POLLOUT)
		conn_flush(c);
	if ((revents & (POLLHUP | POLLERR)) ||
	    ((events & POLLIN) && ((revents & POLLIN) || stream_io_pending(c->io))))
		conn_read(c, fn, arg);
}

/* After the session: GOAWAY (SPDY) or a close frame (WebSocket), then
 * half-close and let the client read everything before the socket goes away. */
static void conn_end(struct conn *c)
{
	if (!c->dead) {
		if (!c->ws || (c->tunnel && !c->close_sent))
			spdy_put_goaway(spdy_out(c), 0, 0);
		conn_flush(c);
		if (c->ws && !c->close_sent)
			ws_put_close(&c->out, WS_CLOSE_NORMAL, NULL);
		c->close_sent = true;
		conn_flush(c);
		/* The rest of out, as long as the client takes it (not on stop). */
		while (!c->dead && conn_pending(c)) {
			struct pollfd p[2] = {{.fd = c->fd, .events = conn_events(c, false)},
					      {.fd = c->o->s->stop_fd, .events = POLLIN}};
			if (c->dead || poll(p, 2, 1000) < 0 || p[1].revents)
				break;
			if (p[0].revents)
				conn_flush(c);
		}
		stream_io_shutdown(c->io);
		int64_t until = stream_now_ms() + LINGER_MS;
		char buf[4096];
		for (int64_t left; !c->dead && (left = until - stream_now_ms()) > 0;) {
			struct pollfd p = {.fd = c->fd, .events = POLLIN};
			if (poll(&p, 1, (int)left) <= 0)
				break;
			ssize_t n = stream_io_recv(c->io, buf, sizeof(buf));
			if (n != -EAGAIN && n <= 0)
				break;
		}
	}
	spdy_zlib_done(&c->z);
	spdy_buf_done(&c->in);
	spdy_buf_done(&c->out);
	spdy_buf_done(&c->msg);
	spdy_buf_done(&c->tin);
	spdy_buf_done(&c->tout);
}

static void conn_init(struct conn *c, const struct session_opts *o, struct spdy_buf *pending)
{
	memset(c, 0, sizeof(*c));
	c->o = o;
	c->fd = o->io->fd;
	c->io = o->io;
	(void)fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	c->ws = o->ws;
	c->b64 = o->ws_b64;
	c->v5 = o->ws_v5;
	c->tunnel = o->ws_tunnel;
	spdy_zlib_init(&c->z);
	spdy_buf_put(&c->in, pending->p, pending->len);
}

/* ---- remotecommand ---- */

enum rc_type { RC_ERROR, RC_STDIN, RC_STDOUT, RC_STDERR, RC_RESIZE, RC_MAX };
static const char *const rc_names[RC_MAX] = {"error", "stdin", "stdout", "stderr", "resize"};

struct rc {
	const struct session_opts *o;
	uint32_t sid[RC_MAX];
	struct stream_proc *p;
	struct spdy_buf inq;
	size_t inoff;
	bool in_eof;
	struct spdy_buf rz;
};

/* Applies the complete size objects received; they wait for the process. */
static void rc_resize(struct rc *rc)
{
	struct stream_server *s = rc->o->s;
	while (rc->p) {
		void *end = rc->rz.len ? memchr(rc->rz.p, '}', rc->rz.len) : NULL;
		if (!end)
			break;
		size_t n = (size_t)((uint8_t *)end - rc->rz.p) + 1;
		char *txt = xstrndup((const char *)rc->rz.p, n);
		json_object *j = json_tokener_parse(txt), *w, *h;
		if (j && json_object_object_get_ex(j, "Width", &w) &&
		    json_object_object_get_ex(j, "Height", &h) && s->be.resize)
			(void)s->be.resize(s->be.ctx, rc->p, (unsigned)json_object_get_int(w),
					   (unsigned)json_object_get_int(h));
		json_object_put(j);
		free(txt);
		memmove(rc->rz.p, rc->rz.p + n, rc->rz.len - n);
		rc->rz.len -= n;
	}
	if (rc->rz.len > 4096) /* no object in 4 KiB: garbage, dropped */
		rc->rz.len = 0;
}

static void rc_frame(void *arg, struct conn *c, const struct spdy_frame *f)
{
	struct rc *rc = arg;
	if (f->type == SPDY_SYN_STREAM) {
		const char *t = spdy_headers_get(&f->headers, "streamtype");
		int k = 0;
		while (k < RC_MAX && (!t || strcmp(t, rc_names[k]) != 0))
			k++;
		if (k == RC_MAX || rc->sid[k] || (k == RC_RESIZE && rc->o->version < 3)) {
			spdy_put_rst(spdy_out(c), f->stream_id, SPDY_RST_INVALID);
			conn_flush(c);
			return;
		}
		rc->sid[k] = f->stream_id;
		conn_reply(c, f->stream_id);
		return;
	}
	if (f->type == SPDY_DATA && f->stream_id == rc->sid[RC_STDIN]) {
		spdy_buf_put(&rc->inq, f->data, f->len);
		if (f->flags & SPDY_FLAG_FIN)
			rc->in_eof = true;
	} else if (f->type == SPDY_DATA && f->stream_id == rc->sid[RC_RESIZE]) {
		spdy_buf_put(&rc->rz, f->data, f->len);
		rc_resize(rc);
	} else if (f->type == SPDY_RST_STREAM && f->stream_id == rc->sid[RC_STDIN]) {
		rc->in_eof = true;
	}
}

static unsigned rc_expected(const struct session_opts *o)
{
	const struct stream_req *r = o->req;
	return 1u + r->in + r->out + r->err + (r->tty && o->version >= 3);
}

/* Moves queued stdin to the process, as much as it takes now; at the client's
 * FIN closes the pipe (or tells the shim). A tty's stdin stays open. */
static void rc_push_stdin(struct rc *rc)
{
	struct stream_proc *p = rc->p;
	while (rc->inoff < rc->inq.len) {
		size_t n = rc->inq.len - rc->inoff;
		if (p->shim_fd >= 0) {
			uint8_t pkt[CHUNK + 1];
			n = n > CHUNK ? CHUNK : n;
			pkt[0] = SHIM_TAG_STDIN;
			memcpy(pkt + 1, rc->inq.p + rc->inoff, n);
			if (send(p->shim_fd, pkt, n + 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				break;
		} else if (p->in_fd >= 0) {
			ssize_t w = write(p->in_fd, rc->inq.p + rc->inoff, n);
			if (w <= 0) {
				if (w < 0 && errno == EAGAIN)
					break;
				rc->inq.len = rc->inoff = 0;
				break;
			}
			n = (size_t)w;
		} else {
			rc->inq.len = rc->inoff = 0;
			break;
		}
		rc->inoff += n;
	}
	if (rc->inoff == rc->inq.len)
		rc->inq.len = rc->inoff = 0;
	if (rc->in_eof && rc->inq.len == 0) {
		if (p->shim_fd >= 0) {
			uint8_t tag = SHIM_TAG_CLOSE_STDIN;
			(void)send(p->shim_fd, &tag, 1, MSG_NOSIGNAL);
		} else if (p->in_fd >= 0 && p->in_fd != p->out_fd) {
			close(p->in_fd);
			p->in_fd = -1;
		}
		rc->in_eof = false;
	}
}

/* Reads fd into stream id; false at EOF (EIO from a pty master is its EOF). */
static bool rc_pump(struct conn *c, int fd, uint32_t id)
{
	char buf[CHUNK];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n <= 0)
		return false;
	conn_data(c, id, 0, buf, (size_t)n);
	return true;
}

/* Shim packets of an attach; false once the container exited. */
static bool rc_shim(struct rc *rc, struct conn *c)
{
	uint8_t buf[SHIM_CTL_MAX + 1];
	ssize_t n = recv(rc->p->shim_fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n <= 0 || buf[0] == SHIM_TAG_EXIT)
		return false;
	if (buf[0] == SHIM_TAG_STDOUT)
		conn_data(c, rc->sid[RC_STDOUT], 0, buf + 1, (size_t)n - 1);
	else if (buf[0] == SHIM_TAG_STDERR)
		conn_data(c, rc->sid[RC_STDERR], 0, buf + 1, (size_t)n - 1);
	return true;
}

static void nonblock(int fd)
{
	if (fd >= 0)
		(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Runs the process until it exits or the client goes; returns finish()'s. */
static int rc_run(struct rc *rc, struct conn *c, bool *ret_killed, struct berr **err)
{
	struct stream_server *s = rc->o->s;
	struct stream_proc *p = rc->p;
	nonblock(p->in_fd);
	nonblock(p->out_fd);
	nonblock(p->err_fd);
	bool out_open = p->out_fd >= 0, err_open = p->err_fd >= 0, exited = false;
	bool killed = false;
	while (!exited) {
		struct pollfd pf[7];
		int n = 0, i_tcp, i_out = -1, i_err = -1, i_shim = -1, i_exit = -1;
		/* Output waits while the client has too much unsent. */
		bool produce = !conn_backlogged(c);
		short ev = conn_events(c, rc->inq.len < STDIN_QUEUE_MAX);
		if (c->dead) {
			killed = true;
			break;
		}
		pf[i_tcp = n++] = (struct pollfd){.fd = ev ? c->fd : -1, .events = ev};
		pf[n++] = (struct pollfd){.fd = s->stop_fd, .events = POLLIN};
		if (out_open && produce)
			pf[i_out = n++] = (struct pollfd){.fd = p->out_fd, .events = POLLIN};
		if (err_open && produce)
			pf[i_err = n++] = (struct pollfd){.fd = p->err_fd, .events = POLLIN};
		if (p->shim_fd >= 0 && produce)
			pf[i_shim = n++] = (struct pollfd){.fd = p->shim_fd, .events = POLLIN};
		if (p->exit_fd >= 0)
			pf[i_exit = n++] = (struct pollfd){.fd = p->exit_fd, .events = POLLIN};
		if (rc->inq.len && p->in_fd >= 0 && p->shim_fd < 0)
			pf[n++] = (struct pollfd){.fd = p->in_fd, .events = POLLOUT};
		int ms = conn_timeout(c, ev, rc->inq.len && p->shim_fd >= 0 ? 50 : 1000);
		if (poll(pf, (nfds_t)n, ms) < 0 && errno != EINTR)
			break;
		if (pf[1].revents) {
			killed = true;
			break;
		}
		conn_serve(c, ev, pf[i_tcp].revents, rc_frame, rc);
		if (c->dead || c->goaway) {
			killed = true;
			break;
		}
		if (rc->inq.len || rc->in_eof)
			rc_push_stdin(rc);
		if (i_out >= 0 && pf[i_out].revents)
			out_open = rc_pump(c, p->out_fd, rc->sid[RC_STDOUT]);
		if (i_err >= 0 && pf[i_err].revents)
			err_open = rc_pump(c, p->err_fd, rc->sid[RC_STDERR]);
		if (i_shim >= 0 && pf[i_shim].revents)
			exited = !rc_shim(rc, c);
		if (i_exit >= 0 && pf[i_exit].revents)
			exited = true;
		if (p->exit_fd < 0 && p->shim_fd < 0 && !out_open && !err_open)
			exited = true;
	}
	/* What the process wrote before it ended is still in the pipes. */
	while (!killed && out_open && (out_open = rc_pump(c, p->out_fd, rc->sid[RC_STDOUT])) &&
	       !c->dead) {
		struct pollfd q = {.fd = p->out_fd, .events = POLLIN};
		if (poll(&q, 1, 0) <= 0)
			break;
	}
	while (!killed && err_open && (err_open = rc_pump(c, p->err_fd, rc->sid[RC_STDERR])) &&
	       !c->dead) {
		struct pollfd q = {.fd = p->err_fd, .events = POLLIN};
		if (poll(&q, 1, 0) <= 0)
			break;
	}
	rc->p = NULL;
	*ret_killed = killed;
	return s->be.finish(s->be.ctx, p, killed, err);
}

/* Starts the process, relays until it ends and writes its result on the error
 * stream, then FIN on every stream the server writes. */
static void rc_serve(struct rc *rc, struct conn *c)
{
	struct stream_server *s = rc->o->s;
	_cleanup_berr_ struct berr *e = NULL;
	bool killed = false;
	int code = s->be.start(s->be.ctx, rc->o->req, &rc->p, &e);
	if (code == 0) {
		rc_resize(rc); /* sizes sent before the process existed */
		code = rc_run(rc, c, &killed, &e);
	}
	if (killed)
		return;
	_cleanup_free_ char *msg = NULL;
	if (rc->o->version >= 4)
		msg = stream_status_json(code < 0 ? 0 : code, code < 0 ? berr_msg(e) : NULL);
	else if (code < 0)
		msg = xstrdup(berr_msg(e));
	else if (code > 0)
		msg = xasprintf("command terminated with non-zero exit code: exit status %d", code);
	if (msg)
		conn_data(c, rc->sid[RC_ERROR], 0, msg, strlen(msg));
	for (int k = 0; k < RC_MAX; k++)
		if (k != RC_STDIN && k != RC_RESIZE)
			conn_data(c, rc->sid[k], SPDY_FLAG_FIN, NULL, 0);
}

void session_remotecommand(const struct session_opts *o, struct spdy_buf *pending)
{
	struct conn c;
	conn_init(&c, o, pending);
	struct rc rc = {.o = o};
	struct stream_server *s = o->s;
	int64_t deadline = stream_now_ms() + STREAM_WAIT_MS;
	unsigned want = rc_expected(o);
	if (o->ws) {
		/* wsstream's channels: 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize */
		static const unsigned ch[RC_MAX] = {3, 0, 1, 2, 4};
		const bool has[RC_MAX] = {true, o->req->in, o->req->out, o->req->err, true};
		for (int k = 0; k < RC_MAX; k++)
			rc.sid[k] = has[k] ? ch[k] + 1 : 0;
		want = 0;
		/* kubelet: an empty message on the lowest writable channel says the
		 * connection is set up */
		conn_data(&c,
			  rc.sid[o->req->out   ? RC_STDOUT
				 : o->req->err ? RC_STDERR
					       : RC_ERROR],
			  0, NULL, 0);
	}
	if (c.in.len)
		conn_parse(&c, rc_frame, &rc);
	for (;;) {
		unsigned got = 0;
		for (int k = 0; k < RC_MAX; k++)
			got += rc.sid[k] != 0;
		if (got >= want || c.dead)
			break;
		int64_t left = deadline - stream_now_ms();
		short ev = conn_events(&c, true);
		struct pollfd pf[2] = {{.fd = c.fd, .events = ev},
				       {.fd = s->stop_fd, .events = POLLIN}};
		if (left <= 0 || poll(pf, 2, conn_timeout(&c, ev, (int)left)) < 0 ||
		    pf[1].revents) {
			c.dead = true;
			break;
		}
		conn_serve(&c, ev, pf[0].revents, rc_frame, &rc);
	}
	if (c.dead)
		log_debug("component=streaming client gone before its streams were set up");
	else
		rc_serve(&rc, &c);
	conn_end(&c);
	spdy_buf_done(&rc.inq);
	spdy_buf_done(&rc.rz);
}

/* ---- portforward ---- */

struct pair {
	char *req_id;
	uint32_t data_id, err_id;
	int port; /* from the data stream's header; 0 when bad */
	int sock; /* non-blocking */
	bool started;
	bool broken;	   /* sending to the pod failed */
	bool shut;	   /* the client's FIN: half-close once q is sent */
	struct spdy_buf q; /* client bytes the pod socket has not taken yet */
	size_t qoff;
};

struct pf {
	const struct session_opts *o;
	struct pair *v;
	size_t n;
	size_t queued; /* sum of the pairs' unsent bytes */
};

static void pair_drop(struct pf *pf, size_t i)
{
	struct pair *p = &pf->v[i];
	if (p->sock >= 0)
		close(p->sock);
	pf->queued -= p->q.len - p->qoff;
	spdy_buf_done(&p->q);
	free(p->req_id);
	pf->v[i] = pf->v[--pf->n];
}

/* Sends p's queue as far as the pod socket takes it, never blocking: a pod
 * that does not read holds up only its own pair (up to PAIR_QUEUE_MAX). */
static void pair_push(struct pf *pf, struct pair *p)
{
	while (p->sock >= 0 && !p->broken && p->qoff < p->q.len) {
		ssize_t w = send(p->sock, p->q.p + p->qoff, p->q.len - p->qoff,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (w <= 0) {
			p->broken = true;
			break;
		}
		p->qoff += (size_t)w;
		pf->queued -= (size_t)w;
	}
	if (p->qoff == p->q.len) {
		p->q.len = p->qoff = 0;
		if (p->shut && p->sock >= 0)
			shutdown(p->sock, SHUT_WR);
		p->shut = false;
	} else if (p->qoff >= p->q.len / 2) {
		memmove(p->q.p, p->q.p + p->qoff, p->q.len - p->qoff);
		p->q.len -= p->qoff;
		p->qoff = 0;
	}
}

/* Client input waits while a pair (or all of them) hold too much. */
static bool pf_input_ok(const struct pf *pf)
{
	if (pf->queued > 4 * PAIR_QUEUE_MAX)
		return false;
	for (size_t i = 0; i < pf->n; i++)
		if (pf->v[i].q.len - pf->v[i].qoff > PAIR_QUEUE_MAX)
			return false;
	return true;
}

static void pair_end(struct pf *pf, struct conn *c, size_t i, const char *msg)
{
	if (msg)
		conn_data(c, pf->v[i].err_id, 0, msg, strlen(msg));
	conn_data(c, pf->v[i].err_id, SPDY_FLAG_FIN, NULL, 0);
	conn_data(c, pf->v[i].data_id, SPDY_FLAG_FIN, NULL, 0);
	pair_drop(pf, i);
}

static void pair_start(struct pf *pf, struct conn *c, size_t i)
{
	struct stream_server *s = pf->o->s;
	struct pair *p = &pf->v[i];
	p->started = true;
	_cleanup_berr_ struct berr *e = NULL;
	int r = p->port > 0 ? s->be.connect(s->be.ctx, pf->o->req, (uint16_t)p->port, &p->sock, &e)
			    : berr_set(&e, EINVAL, "invalid port");
	if (r < 0) {
		_cleanup_free_ char *msg = xasprintf("error forwarding port %d to pod %s: %s",
						     p->port, pf->o->req->id, berr_msg(e));
		p->sock = -1;
		pair_end(pf, c, i, msg);
		return;
	}
	nonblock(p->sock);
	pair_push(pf, p); /* what the client sent before the connect */
}

static void pf_frame(void *arg, struct conn *c, const struct spdy_frame *f)
{
	struct pf *pf = arg;
	if (f->type == SPDY_SYN_STREAM) {
		const char *t = spdy_headers_get(&f->headers, "streamtype");
		const char *rid = spdy_headers_get(&f->headers, "requestid");
		bool data = t && strcmp(t, "data") == 0, error = t && strcmp(t, "error") == 0;
		char idbuf[16];
		if (!rid || !*rid) {
			/* Old clients: the data stream follows its error stream. */
			snprintf(idbuf, sizeof(idbuf), "%u",
				 data ? f->stream_id - 2 : f->stream_id);
			rid = idbuf;
		}
		size_t i = 0;
		while (i < pf->n && strcmp(pf->v[i].req_id, rid) != 0)
			i++;
		if ((!data && !error) || (i == pf->n && pf->n >= PAIRS_MAX) ||
		    (i < pf->n && (data ? pf->v[i].data_id : pf->v[i].err_id))) {
			spdy_put_rst(spdy_out(c), f->stream_id, SPDY_RST_INVALID);
			conn_flush(c);
			return;
		}
		if (i == pf->n) {
			pf->v = xreallocarray(pf->v, pf->n + 1, sizeof(*pf->v));
			pf->v[pf->n++] = (struct pair){.req_id = xstrdup(rid), .sock = -1};
		}
		struct pair *p = &pf->v[i];
		if (data) {
			const char *port = spdy_headers_get(&f->headers, "port");
			char *end = NULL;
			long v = port ? strtol(port, &end, 10) : 0;
			p->port = port && *port && !*end && v > 0 && v <= 65535 ? (int)v : 0;
			p->data_id = f->stream_id;
		} else {
			p->err_id = f->stream_id;
		}
		conn_reply(c, f->stream_id);
		if (p->data_id && p->err_id)
			pair_start(pf, c, i);
		return;
	}
	for (size_t i = 0; i < pf->n; i++) {
		struct pair *p = &pf->v[i];
		if (f->stream_id != p->data_id && f->stream_id != p->err_id)
			continue;
		if (f->type == SPDY_RST_STREAM) {
			pair_drop(pf, i);
		} else if (f->type == SPDY_DATA && f->stream_id == p->data_id && !p->broken) {
			spdy_buf_put(&p->q, f->data, f->len);
			pf->queued += f->len;
			if (f->flags & SPDY_FLAG_FIN)
				p->shut = true;
			if (p->sock >= 0)
				pair_push(pf, p);
		}
		return;
	}
}

/* WebSocket: a data and an error channel per port of the request, each
 * opened with the port (2 bytes, little-endian), then connected. */
static void pf_ws_pairs(struct pf *pf, struct conn *c)
{
	const struct session_opts *o = pf->o;
	pf->v = xcalloc(o->nports ? o->nports : 1, sizeof(*pf->v));
	for (size_t i = 0; i < o->nports; i++) {
		pf->v[i] = (struct pair){.req_id = xasprintf("%zu", i),
					 .data_id = (uint32_t)(2 * i + 1),
					 .err_id = (uint32_t)(2 * i + 2),
					 .port = o->ports[i],
					 .sock = -1};
		uint8_t pb[2] = {(uint8_t)o->ports[i], (uint8_t)(o->ports[i] >> 8)};
		conn_data(c, pf->v[i].data_id, 0, pb, 2);
		conn_data(c, pf->v[i].err_id, 0, pb, 2);
	}
	pf->n = o->nports;
	/* Backwards: a failed pair is replaced by the last one, already started. */
	for (size_t i = pf->n; i > 0; i--)
		pair_start(pf, c, i - 1);
}

void session_portforward(const struct session_opts *o, struct spdy_buf *pending)
{
	struct conn c;
	conn_init(&c, o, pending);
	struct pf pf = {.o = o};
	struct stream_server *s = o->s;
	bool chans = o->ws && !o->ws_tunnel;
	if (chans)
		pf_ws_pairs(&pf, &c);
	if (c.in.len)
		conn_parse(&c, pf_frame, &pf);
	while (!c.dead && !c.goaway && (!chans || pf.n > 0)) {
		struct pollfd p[2 + PAIRS_MAX];
		size_t idx[PAIRS_MAX];
		nfds_t n = 2;
		/* Pod output waits while the client has too much unsent. */
		bool produce = !conn_backlogged(&c);
		short ev = conn_events(&c, pf_input_ok(&pf));
		if (c.dead)
			break;
		p[0] = (struct pollfd){.fd = ev ? c.fd : -1, .events = ev};
		p[1] = (struct pollfd){.fd = s->stop_fd, .events = POLLIN};
		for (size_t i = 0; i < pf.n; i++) {
			struct pair *pp = &pf.v[i];
			short pev =
			    (short)((produce ? POLLIN : 0) | (pp->qoff < pp->q.len ? POLLOUT : 0));
			if (pp->broken) {
				pev = POLLOUT; /* reported at once: ended below */
			} else if (pp->sock < 0 || !pev) {
				continue;
			}
			idx[n - 2] = i;
			p[n++] = (struct pollfd){.fd = pp->sock, .events = pev};
		}
		if (poll(p, n, conn_timeout(&c, ev, 1000)) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		/* Sockets first (indexes shift when a pair is dropped: go backwards). */
		for (nfds_t k = n; k > 2; k--) {
			short re = p[k - 1].revents;
			size_t i = idx[k - 3];
			struct pair *pp = &pf.v[i];
			if (re & POLLOUT)
				pair_push(&pf, pp);
			if (pp->broken) {
				pair_end(&pf, &c, i, NULL);
				continue;
			}
			if (!(re & (POLLIN | POLLHUP | POLLERR)) || !produce)
				continue;
			char buf[CHUNK];
			ssize_t r = recv(pp->sock, buf, sizeof(buf), MSG_DONTWAIT);
			if (r > 0)
				conn_data(&c, pp->data_id, 0, buf, (size_t)r);
			else if (r == 0 || (errno != EAGAIN && errno != EINTR))
				pair_end(&pf, &c, i, NULL);
		}
		conn_serve(&c, ev, p[0].revents, pf_frame, &pf);
	}
	while (pf.n)
		pair_drop(&pf, 0);
	free(pf.v);
	conn_end(&c);
}
