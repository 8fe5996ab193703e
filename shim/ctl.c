/* SPDX-License-Identifier: Apache-2.0 */
/* ctl.c - berth-shim's control socket: commands, attach streams, stdin.
 * Protocol in shim/shim.h and docs/shim.md. One request per SOCK_SEQPACKET
 * packet; after "attach" the connection carries tagged packets both ways.
 * Container stdin is never written blocking: what a full pipe doesn't take
 * waits in stdin_pending for EPOLLOUT, and meanwhile the clients that may
 * write stdin are not read (back-pressure instead of unbounded buffering). */
#define LOG_COMPONENT "shim"
#include "shim/monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"
#include "shim/shim.h"

/* Attached clients get a deep socket buffer: output is sent non-blocking,
 * and a client that can't keep up is dropped rather than stall the log. */
#define ATTACH_SNDBUF (4 * 1024 * 1024)

static void reply(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(int fd, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(buf))
		n = sizeof(buf) - 1;
	(void)send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* ---- container stdin ---- */

static void client_events(struct shim *s, int i, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.u32 = TAG_CLIENT + (uint32_t)i};
	(void)epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->clients[i].fd, &ev);
}

static void process_queued(struct shim *s, int i);

static void set_stdin_blocked(struct shim *s, bool blocked)
{
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct ctl_client *c = &s->clients[i];
		if (c->fd < 0 || !c->attached || !c->in || c->blocked == blocked)
			continue;
		c->blocked = blocked;
		if (!c->hup)
			client_events(s, i, blocked ? 0 : EPOLLIN);
		else if (!blocked) /* gone from epoll: read what it queued, then EOF */
			process_queued(s, i);
		if (blocked == false && s->stdin_pending)
			return; /* blocked again by that client's input */
	}
}

static void stdin_poll(struct shim *s, bool on)
{
	if (s->stdin_polled == on || s->stdin_w < 0)
		return;
	if (s->stdin_w == s->tty_fd && s->out_fd[LOG_STREAM_STDOUT] == s->tty_fd) {
		/* the master is registered already, as the output stream */
		struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0),
					 .data.u32 = TAG_STDOUT};
		(void)epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->tty_fd, &ev);
	} else if (on) {
		struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = TAG_STDIN};
		(void)epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->stdin_w, &ev);
	} else {
		(void)epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->stdin_w, NULL);
	}
	s->stdin_polled = on;
}

static void stdin_pending_drop(struct shim *s)
{
	stdin_poll(s, false);
	free(s->stdin_pending);
	s->stdin_pending = NULL;
	s->stdin_pending_len = 0;
	set_stdin_blocked(s, false);
}

static void stdin_write(struct shim *s, const char *data, size_t len)
{
	if (s->stdin_w < 0 || len == 0)
		return;
	ssize_t n = write(s->stdin_w, data, len);
	if (n < 0 && errno != EAGAIN)
		return; /* EPIPE: nobody reads the container's stdin anymore */
	size_t done = n < 0 ? 0 : (size_t)n;
	if (done == len)
		return;
	s->stdin_pending = xmemdup(data + done, len - done);
	s->stdin_pending_len = len - done;
	stdin_poll(s, true);
	set_stdin_blocked(s, true);
}

void ctl_stdin_writable(struct shim *s)
{
	if (!s->stdin_pending) {
		stdin_poll(s, false);
		return;
	}
	ssize_t n = write(s->stdin_w, s->stdin_pending, s->stdin_pending_len);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n >= 0 && (size_t)n < s->stdin_pending_len) {
		memmove(s->stdin_pending, s->stdin_pending + n, s->stdin_pending_len - (size_t)n);
		s->stdin_pending_len -= (size_t)n;
		return;
	}
	stdin_pending_drop(s);
}

void ctl_stdin_close(struct shim *s, bool send_eof)
{
	if (s->stdin_w < 0)
		return;
	stdin_poll(s, false);
	free(s->stdin_pending);
	s->stdin_pending = NULL;
	s->stdin_pending_len = 0;
	if (s->stdin_w == s->tty_fd) {
		if (send_eof) /* EOF for a canonical-mode reader; the pty stays */
			(void)!write(s->tty_fd, "\x04", 1);
	} else {
		s->stdin_w = safe_close(s->stdin_w);
	}
	/* Blocked writers resume; for a closed pipe their input is dropped. */
	set_stdin_blocked(s, false);
}

/* ---- clients ---- */

static void client_drop(struct shim *s, int i)
{
	struct ctl_client *c = &s->clients[i];
	if (c->fd < 0)
		return;
	bool had_stdin = c->attached && c->in;
	if (!c->hup)
		(void)epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	*c = (struct ctl_client){.fd = -1};
	/* CRI stdin_once: stdin ends with the first attach session that had it. */
	if (had_stdin && s->cfg.stdin_once)
		ctl_stdin_close(s, true);
}

void ctl_accept(struct shim *s)
{
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (s->clients[i].fd >= 0)
			continue;
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TAG_CLIENT + (uint32_t)i};
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			break;
		s->clients[i] = (struct ctl_client){.fd = fd};
		return;
	}
	reply(fd, "err %d too many clients", EBUSY);
	close(fd);
}

static int tty_resize(struct shim *s, const char *arg, size_t alen)
{
	unsigned c, r;
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "%.*s", (int)(alen < 63 ? alen : 63), arg);
	if (sscanf(tmp, "%u %u", &c, &r) != 2 || c > 65535 || r > 65535)
		return -EINVAL;
	if (s->tty_fd < 0)
		return -ENOTTY;
	struct winsize ws = {.ws_col = (unsigned short)c, .ws_row = (unsigned short)r};
	return ioctl(s->tty_fd, TIOCSWINSZ, &ws) < 0 ? -errno : 0;
}

/* Checks an attach request; returns NULL or the refusal as "<errno> <text>". */
static const char *attach_check(struct shim *s, bool in, bool out, bool err)
{
	if (!in && !out && !err)
		return "22 attach needs stdin, stdout or stderr";
	if (s->exited)
		return "32 container has exited";
	if (in && s->stdin_w < 0)
		return "22 container has no open stdin";
	return NULL;
}

static void attach(struct shim *s, int i, const char *arg, size_t alen)
{
	struct ctl_client *c = &s->clients[i];
	bool in = false, out = false, err = false;
	for (const char *p = arg, *end = arg + alen; p < end;) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		size_t l = sp ? (size_t)(sp - p) : (size_t)(end - p);
		if (l == 5 && memcmp(p, "stdin", 5) == 0) {
			in = true;
		} else if (l == 6 && memcmp(p, "stdout", 6) == 0) {
			out = true;
		} else if (l == 6 && memcmp(p, "stderr", 6) == 0) {
			err = true;
		} else if (l > 0) {
			reply(c->fd, "err %d unknown attach stream '%.*s'", EINVAL,
			      (int)(l < 32 ? l : 32), p);
			return;
		}
		p += l + 1;
	}
	const char *refusal = attach_check(s, in, out, err);
	if (refusal) {
		reply(c->fd, "err %s", refusal);
		return;
	}
	int size = ATTACH_SNDBUF;
	if (setsockopt(c->fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	c->attached = true;
	c->in = in;
	c->out = out;
	c->err = err;
	reply(c->fd, "ok");
	if (in && s->stdin_pending) {
		c->blocked = true;
		client_events(s, i, 0);
	}
}

static void command(struct shim *s, int i, char *req, size_t len)
{
	_cleanup_berr_ struct berr *e = NULL;
	int fd = s->clients[i].fd, r;
	size_t cl = len;
	const char *sp = memchr(req, ' ', len);
	if (sp)
		cl = (size_t)(sp - req);
	const char *arg = sp ? sp + 1 : req + len;
	size_t alen = (size_t)(req + len - arg);
#define IS(cmd) (cl == sizeof(cmd) - 1 && memcmp(req, cmd, cl) == 0)
	if (IS("ping")) {
		reply(fd, "ok");
	} else if (IS("state")) {
		reply(fd, "ok pid=%d status=%s", (int)s->container_pid,
		      s->exited ? "exited" : "running");
	} else if (IS("reopen-log")) {
		if (shim_reopen_log_file(s, &e) < 0)
			reply(fd, "err %d %s", e->code, e->msg);
		else
			reply(fd, "ok");
	} else if (IS("resize")) {
		r = tty_resize(s, arg, alen);
		if (r == -EINVAL)
			reply(fd, "err %d bad size '%.*s'", EINVAL, (int)(alen < 32 ? alen : 32),
			      arg);
		else if (r == -ENOTTY)
			reply(fd, "err %d container has no terminal", ENOTTY);
		else if (r < 0)
			reply(fd, "err %d resize: %s", -r, strerror(-r));
		else
			reply(fd, "ok");
	} else if (IS("close-stdin")) {
		ctl_stdin_close(s, true);
		reply(fd, "ok");
	} else if (IS("stdin")) {
		ssize_t n = s->stdin_w < 0     ? (errno = EPIPE, -1)
			    : s->stdin_pending ? (errno = EAGAIN, -1)
					       : write(s->stdin_w, arg, alen);
		if (n < 0)
			reply(fd, "err %d write stdin: %s", errno, strerror(errno));
		else
			reply(fd, "ok %zd", n);
	} else if (IS("attach")) {
		attach(s, i, arg, alen);
	} else {
		reply(fd, "err %d unknown command '%.*s'", EINVAL, (int)(cl < 64 ? cl : 64), req);
	}
#undef IS
}

/* One packet of an attached client: <tag><payload>. */
static void attached_packet(struct shim *s, int i, const char *p, size_t n)
{
	struct ctl_client *c = &s->clients[i];
	switch ((unsigned char)p[0]) {
	case SHIM_TAG_STDIN:
		if (c->in)
			stdin_write(s, p + 1, n - 1);
		break;
	case SHIM_TAG_CLOSE_STDIN:
		if (c->in)
			ctl_stdin_close(s, true);
		break;
	case SHIM_TAG_RESIZE:
		(void)tty_resize(s, p + 1, n - 1);
		break;
	default:
		log_warn("id=%.12s msg=\"attach client sent tag %u, dropping it\"", s->cfg.id,
			 (unsigned char)p[0]);
		client_drop(s, i);
	}
}

/* Reads one packet; returns false when the client is gone or must wait. */
static bool read_packet(struct shim *s, int i)
{
	struct ctl_client *c = &s->clients[i];
	if (!s->ctl_buf)
		s->ctl_buf = xmalloc(SHIM_CTL_MAX);
	ssize_t n = recv(c->fd, s->ctl_buf, SHIM_CTL_MAX, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return false;
	if (n <= 0) { /* SEQPACKET: 0 is EOF, as no client sends empty packets */
		client_drop(s, i);
		return false;
	}
	if (c->attached)
		attached_packet(s, i, s->ctl_buf, (size_t)n);
	else
		command(s, i, s->ctl_buf, (size_t)n);
	return s->clients[i].fd >= 0 && !s->clients[i].blocked;
}

/* A client that hung up while blocked: its queued packets, then EOF. */
static void process_queued(struct shim *s, int i)
{
	while (s->clients[i].fd >= 0 && !s->clients[i].blocked && read_packet(s, i))
		;
	if (s->clients[i].fd >= 0 && !s->clients[i].blocked)
		client_drop(s, i);
}

void ctl_client_event(struct shim *s, int i, uint32_t events)
{
	struct ctl_client *c = &s->clients[i];
	if (c->fd < 0)
		return;
	if (c->blocked) {
		/* Only a hangup arrives while blocked; keep the queued input for
		 * later, and stop the level-triggered HUP from spinning the loop. */
		if (events & (EPOLLHUP | EPOLLERR)) {
			(void)epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
			c->hup = true;
		}
		return;
	}
	(void)read_packet(s, i);
}

void ctl_broadcast(struct shim *s, enum log_stream stream, const char *data, size_t len)
{
	unsigned char tag = stream == LOG_STREAM_STDOUT ? SHIM_TAG_STDOUT : SHIM_TAG_STDERR;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct ctl_client *c = &s->clients[i];
		if (c->fd < 0 || !c->attached || !(stream == LOG_STREAM_STDOUT ? c->out : c->err))
			continue;
		struct iovec iov[2] = {{.iov_base = &tag, .iov_len = 1},
				       {.iov_base = (void *)data, .iov_len = len}};
		struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
		if (sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			log_warn(
			    "id=%.12s msg=\"attach client too slow or gone (%s), dropping it\"",
			    s->cfg.id, strerror(errno));
			client_drop(s, i);
		}
	}
}

void ctl_finish(struct shim *s, const char *record, size_t len)
{
	unsigned char tag = SHIM_TAG_EXIT;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct ctl_client *c = &s->clients[i];
		if (c->fd >= 0 && c->attached) {
			struct iovec iov[2] = {{.iov_base = &tag, .iov_len = 1},
					       {.iov_base = (void *)record, .iov_len = len}};
			struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
			(void)sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
			/* Closing with unread input would reset the connection, and
			 * the client could miss the exit record: discard it first. */
			if (!s->ctl_buf)
				s->ctl_buf = xmalloc(SHIM_CTL_MAX);
			for (int k = 0; k < 1024; k++)
				if (recv(c->fd, s->ctl_buf, SHIM_CTL_MAX, MSG_DONTWAIT) <= 0)
					break;
		}
		client_drop(s, i);
	}
}
