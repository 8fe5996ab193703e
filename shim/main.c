/* SPDX-License-Identifier: Apache-2.0 */
/* berth-shim - per-container monitor (docs/shim.md).
 * Lifecycle: parse options -> fork (the first process exits at once; the
 * child is a session leader and child subreaper) -> run `runtime create` with
 * the container's stdio -> report {errno, shim pid, container pid, text} on the
 * sync fd -> epoll loop: logs, control socket, signals -> on the container's
 * exit: drain the pipes, write the exit record (state dir, then exit dir) and
 * exit. Single-threaded; every fd is CLOEXEC; the only fork children are
 * static _Noreturn functions that end in execve or _exit. */
#define LOG_COMPONENT "shim"
#include "shim/monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/ids.h"
#include "common/log.h"
#include "shim/shim.h"

extern char **environ;

#define CONSOLE_SOCK "console.sock"
#define PIPE_SIZE    (256 * 1024)

/* ---- sync pipe ---- */

static void sync_report(struct shim *s, int code, const char *msg)
{
	if (s->sync_fd < 0)
		return;
	char buf[4096];
	int n = snprintf(buf, sizeof(buf), SHIM_SYNC_MAGIC " %d %d %d %d %s\n", SHIM_SYNC_VERSION,
			 code, (int)getpid(), (int)s->container_pid, msg);
	if (n >= (int)sizeof(buf))
		n = sizeof(buf) - 1;
	/* One write below PIPE_BUF is atomic; a gone reader is not our problem. */
	(void)fileio_write_all(s->sync_fd, buf, (size_t)n);
	s->sync_fd = safe_close(s->sync_fd);
}

/* ---- reaping ---- */

static void on_container_exit(struct shim *s, int status, int64_t when_ns)
{
	s->exited = true;
	s->exit_status = status;
	s->finished_ns = when_ns;
	uint64_t count;
	if (s->oom_known && shim_oom_count(s->oom_path, &count) == 0 && count > s->oom_start)
		s->oom_killed = true;
	/* Nobody can read the stdin pipe anymore, and the shim is about to go. */
	ctl_stdin_close(s, false);
	s->drain_deadline = time_mono_ns() + (int64_t)s->cfg.drain_ms * 1000000;
	log_debug("id=%.12s pid=%d status=%d container exited", s->cfg.id, (int)s->container_pid,
		  status);
}

static void reap_all(struct shim *s)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			break;
		if (pid == s->runtime_pid) {
			s->runtime_done = true;
			s->runtime_status = status;
		} else if (s->container_pid > 0 && pid == s->container_pid) {
			on_container_exit(s, status, time_now_ns());
		} else {
			/* Maybe the container's init before its pid file was read. */
			int i = s->ncache < EXIT_CACHE ? s->ncache++ : (int)(pid % EXIT_CACHE);
			s->cache[i].pid = pid;
			s->cache[i].status = status;
			s->cache[i].when_ns = time_now_ns();
		}
	}
}

static void take_cached_exit(struct shim *s)
{
	for (int i = 0; i < s->ncache; i++)
		if (s->cache[i].pid == s->container_pid) {
			on_container_exit(s, s->cache[i].status, s->cache[i].when_ns);
			return;
		}
}

/* Reads pending signals; returns a TERM/INT signal number to act on, else 0. */
static int read_signals(struct shim *s)
{
	struct signalfd_siginfo si;
	int stop = 0;
	while (read(s->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			stop = (int)si.ssi_signo;
	}
	reap_all(s);
	return stop;
}

/* ---- runtime create ---- */

struct child_args {
	char **argv;
	int fds[3]; /* become 0, 1, 2 */
	int err_fd; /* CLOEXEC pipe: errno of a failed exec */
	pid_t parent;
};

static _Noreturn void runtime_child(const struct child_args *a)
{
	sigset_t none;
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	int e;

	sigemptyset(&none);
	sigaction(SIGPIPE, &dfl, NULL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* If the shim dies during create, so does the runtime (conmon does the same). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != a->parent)
		goto err;
	for (int i = 0; i < 3; i++)
		if (dup2(a->fds[i], i) < 0)
			goto err;
	execve(a->argv[0], a->argv, environ);
err:
	e = errno;
	(void)!write(a->err_fd, &e, sizeof(e));
	_exit(127);
}

static int open_devnull(int flags, struct berr **err)
{
	int fd = open("/dev/null", flags | O_CLOEXEC);
	if (fd < 0)
		return berr_set_errno(err, errno, "open '/dev/null'");
	return fd;
}

static char **runtime_argv(const struct shim *s, const char *pidfile, const char *console)
{
	size_t n = 0;
	char **argv = xcalloc(s->cfg.n_runtime_args + 12, sizeof(char *));
	argv[n++] = (char *)s->cfg.runtime;
	for (size_t i = 0; i < s->cfg.n_runtime_args; i++)
		argv[n++] = s->cfg.runtime_args[i];
	argv[n++] = "create";
	argv[n++] = "--bundle";
	argv[n++] = (char *)s->cfg.bundle;
	argv[n++] = "--pid-file";
	argv[n++] = (char *)pidfile;
	if (console) {
		argv[n++] = "--console-socket";
		argv[n++] = (char *)console;
	}
	argv[n++] = (char *)s->cfg.id;
	return argv;
}

/* Waits for the runtime to exit, killing it at the deadline or on TERM/INT. */
static int wait_runtime(struct shim *s, struct berr **err)
{
	int64_t deadline = time_mono_ns() + (int64_t)s->cfg.timeout_s * 1000000000;
	int code = 0;
	while (!s->runtime_done) {
		int64_t left = (deadline - time_mono_ns()) / 1000000;
		struct pollfd p = {.fd = s->sfd, .events = POLLIN};
		int r = poll(&p, 1, code ? -1 : (int)(left > 0 ? left : 0));
		if (r < 0 && errno != EINTR)
			return berr_set_errno(err, errno, "poll");
		bool stop = read_signals(s) != 0;
		if (code || s->runtime_done || (r != 0 && !stop))
			continue;
		kill(s->runtime_pid, SIGKILL);
		if (stop)
			code = berr_set(err, ECANCELED, "shim stopped by a signal during create");
		else
			code = berr_set(err, ETIMEDOUT, "runtime create timed out after %d s",
					s->cfg.timeout_s);
	}
	return code;
}

static char *drain_text(int fd1, int fd2)
{
	char buf[8192];
	size_t len = 0;
	int fds[2] = {fd1, fd2};
	for (int i = 0; i < 2; i++) {
		if (fds[i] < 0)
			continue;
		int fl = fcntl(fds[i], F_GETFL);
		fcntl(fds[i], F_SETFL, fl | O_NONBLOCK);
		ssize_t n;
		while (len < sizeof(buf) && (n = read(fds[i], buf + len, sizeof(buf) - len)) > 0)
			len += (size_t)n;
		fcntl(fds[i], F_SETFL, fl);
	}
	return shim_runtime_error_text(buf, len);
}

static int recv_console(struct shim *s, int lfd, struct berr **err)
{
	struct pollfd p = {.fd = lfd, .events = POLLIN};
	if (poll(&p, 1, 5000) <= 0)
		return berr_set(err, ETIMEDOUT, "runtime sent no console fd");
	_cleanup_close_ int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (cfd < 0)
		return berr_set_errno(err, errno, "accept console socket");
	char data[256];
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} c;
	struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = c.buf,
			   .msg_controllen = sizeof(c.buf)};
	ssize_t n = recvmsg(cfd, &m, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return berr_set_errno(err, errno, "receive console fd");
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);
	if (!h || h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS ||
	    h->cmsg_len != CMSG_LEN(sizeof(int)))
		return berr_set(err, EPROTO, "runtime sent no console fd");
	int fd;
	memcpy(&fd, CMSG_DATA(h), sizeof(int));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	s->tty_fd = fd;
	return 0;
}

int shim_listen_unix(const char *path, int type, int backlog, struct berr **err)
{
	struct sockaddr_un sa;
	socklen_t sl;
	_cleanup_close_ int dfd = -1;
	int r = shim_sockaddr(path, &sa, &sl, &dfd, err);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return berr_set_errno(err, errno, "socket");
	(void)unlink(path);
	mode_t old = umask(0177); /* 0600: only root talks to the shim */
	r = bind(fd, (struct sockaddr *)&sa, sl);
	umask(old);
	if (r < 0)
		return berr_set_errno(err, errno, "bind '%s'", path);
	if (listen(fd, backlog) < 0)
		return berr_set_errno(err, errno, "listen '%s'", path);
	return TAKE_FD(fd);
}

/* The runtime's stdio during create, and the console socket for a tty. */
struct runtime_io {
	int in_r, out_w, err_w; /* become the runtime's (and container's) 0, 1, 2 */
	int cap_r, cap_w;	/* tty: the runtime's own output */
	int console_fd;		/* tty: listening console socket */
	char *console;		/* its path */
};

static void runtime_io_done(struct runtime_io *io)
{
	safe_close(io->in_r);
	safe_close(io->out_w);
	safe_close(io->err_w);
	safe_close(io->cap_r);
	safe_close(io->cap_w);
	safe_close(io->console_fd);
	if (io->console)
		(void)unlink(io->console);
	free(io->console);
}

static int make_pipe(int *ret_r, int *ret_w, struct berr **err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return berr_set_errno(err, errno, "pipe");
	*ret_r = p[0];
	*ret_w = p[1];
	return 0;
}

static int prepare_stdio(struct shim *s, struct runtime_io *io, struct berr **err)
{
	int r;
	if (s->cfg.open_stdin && !s->cfg.terminal) {
		if ((r = make_pipe(&io->in_r, &s->stdin_w, err)) < 0)
			return r;
		fcntl(s->stdin_w, F_SETFL, O_NONBLOCK);
	} else if ((io->in_r = open_devnull(O_RDONLY, err)) < 0) {
		return io->in_r;
	}
	if (s->cfg.terminal) {
		/* The runtime's own output only: the container gets the pty. */
		if ((r = make_pipe(&io->cap_r, &io->cap_w, err)) < 0)
			return r;
		char *console = xasprintf("%s/" CONSOLE_SOCK, s->cfg.state_dir);
		/* The runtime connects by path, so no /proc/self/fd detour here. */
		if (strlen(console) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			free(console);
			return berr_set(err, ENAMETOOLONG, "state dir '%s' too long for a socket",
					s->cfg.state_dir);
		}
		io->console_fd = shim_listen_unix(console, SOCK_STREAM, 1, err);
		io->console = console;
		return io->console_fd < 0 ? io->console_fd : 0;
	}
	for (int i = 0; i < LOG_STREAM_MAX; i++) {
		int *w = i == LOG_STREAM_STDOUT ? &io->out_w : &io->err_w;
		if ((r = make_pipe(&s->out_fd[i], w, err)) < 0)
			return r;
		/* A deeper pipe lets a chatty container keep writing while the shim
		 * writes the log: fewer sleeps and wakeups on both sides. Pages are
		 * only used while data is in flight. Best effort. */
		(void)fcntl(s->out_fd[i], F_SETPIPE_SZ, PIPE_SIZE);
	}
	return 0;
}

/* Forks and execs the runtime; returns once it has exited. */
static int run_runtime(struct shim *s, struct runtime_io *io, const char *pidfile,
		       struct berr **err)
{
	_cleanup_close_ int ep_r = -1, ep_w = -1;
	int r = make_pipe(&ep_r, &ep_w, err);
	if (r < 0)
		return r;
	_cleanup_free_ char **argv = runtime_argv(s, pidfile, io->console);
	struct child_args a = {
	    .argv = argv,
	    .fds = {io->in_r, s->cfg.terminal ? io->cap_w : io->out_w,
		    s->cfg.terminal ? io->cap_w : io->err_w},
	    .err_fd = ep_w,
	    .parent = getpid(),
	};
	pid_t pid = fork();
	if (pid == 0)
		runtime_child(&a);
	if (pid < 0)
		return berr_set_errno(err, errno, "fork");
	s->runtime_pid = pid;
	/* Only the runtime (and then the container) may hold the write ends. */
	io->in_r = safe_close(io->in_r);
	io->out_w = safe_close(io->out_w);
	io->err_w = safe_close(io->err_w);
	io->cap_w = safe_close(io->cap_w);
	ep_w = safe_close(ep_w);

	int exec_errno = 0;
	ssize_t n;
	while ((n = read(ep_r, &exec_errno, sizeof(exec_errno))) < 0 && errno == EINTR)
		;
	r = wait_runtime(s, err);
	if (r < 0)
		return r;
	if (n == (ssize_t)sizeof(exec_errno))
		return berr_set_errno(err, exec_errno, "execute runtime '%s'", s->cfg.runtime);
	if (!WIFEXITED(s->runtime_status) || WEXITSTATUS(s->runtime_status) != 0) {
		_cleanup_free_ char *text =
		    s->cfg.terminal
			? drain_text(io->cap_r, -1)
			: drain_text(s->out_fd[LOG_STREAM_STDERR], s->out_fd[LOG_STREAM_STDOUT]);
		int code = WIFEXITED(s->runtime_status) ? WEXITSTATUS(s->runtime_status)
							: 128 + WTERMSIG(s->runtime_status);
		return berr_set(err, EIO, "runtime create failed (exit %d): %s", code,
				*text ? text : "no error output");
	}
	return 0;
}

/* Runs `runtime create`; on success s->container_pid is set. */
static int create_container(struct shim *s, struct berr **err)
{
	_cleanup_(runtime_io_done) struct runtime_io io = {-1, -1, -1, -1, -1, -1, NULL};
	_cleanup_free_ char *pidfile = xasprintf("%s/" SHIM_PID_FILE, s->cfg.state_dir);
	_cleanup_free_ char *pidtext = NULL;
	int r;

	if ((r = prepare_stdio(s, &io, err)) < 0 || (r = run_runtime(s, &io, pidfile, err)) < 0)
		return r;
	r = fileio_read_all(pidfile, 64, &pidtext, NULL, err);
	if (r < 0)
		return berr_wrap(err, "runtime create");
	long v = strtol(pidtext, NULL, 10);
	if (v <= 0)
		return berr_set(err, EPROTO, "bad pid file '%s'", pidfile);
	s->container_pid = (pid_t)v;
	if (s->cfg.terminal) {
		r = recv_console(s, io.console_fd, err);
		if (r < 0)
			return r;
		s->out_fd[LOG_STREAM_STDOUT] = s->tty_fd;
		if (s->cfg.open_stdin)
			s->stdin_w = s->tty_fd;
	}
	return 0;
}

int shim_reopen_log_file(struct shim *s, struct berr **err)
{
	int fd = open(s->cfg.log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return berr_set_errno(err, errno, "open log '%s'", s->cfg.log_path);
	/* What the old file got of an unfinished line ends there as a P chunk; the rest of
	 * the line goes to the new file. */
	if (s->log_fd >= 0)
		for (int i = 0; i < LOG_STREAM_MAX; i++)
			if (s->streams[i].len > 0)
				(void)logw_feed(&s->logw, &s->streams[i], time_now_ns(),
						time_mono_ns(), false, true);
	safe_close(s->log_fd);
	s->log_fd = fd;
	s->logw.fd = fd;
	s->logw.write_errno = 0;
	return 0;
}

/* ---- main loop ---- */

static void stream_close(struct shim *s, int i)
{
	if (s->out_fd[i] < 0)
		return;
	(void)epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->out_fd[i], NULL);
	if (s->out_fd[i] != s->tty_fd) /* the pty master is closed at exit */
		close(s->out_fd[i]);
	s->out_fd[i] = -1;
}

static void stream_read(struct shim *s, int i, bool final)
{
	struct logw_stream *st = &s->streams[i];
	/* A few reads per wakeup keep one busy stream from starving the other.
	 * The final drain empties the pipe (bounded: a writer outside the
	 * container may still be filling it). */
	int rounds = final ? 64 : 4;
	for (int round = 0; round < rounds && s->out_fd[i] >= 0; round++) {
		size_t room = st->cap - st->len;
		ssize_t n = read(s->out_fd[i], st->buf + st->len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n > 0) {
			ctl_broadcast(s, st->stream, st->buf + st->len, (size_t)n);
			st->len += (size_t)n;
			logw_feed(&s->logw, st, time_now_ns(), time_mono_ns(), false, false);
			if ((size_t)n < room && !final)
				return;
			continue;
		}
		/* EOF, or EIO from a pty master whose slave side is all closed. */
		logw_feed(&s->logw, st, time_now_ns(), time_mono_ns(), true, false);
		stream_close(s, i);
		return;
	}
	if (final) /* the unfinished rest ends the log as at EOF */
		logw_feed(&s->logw, st, time_now_ns(), time_mono_ns(), true, false);
}

static bool streams_open(const struct shim *s)
{
	return s->out_fd[LOG_STREAM_STDOUT] >= 0 || s->out_fd[LOG_STREAM_STDERR] >= 0;
}

/* epoll timeout: the nearest partial-line flush or the drain deadline. */
static int loop_timeout(const struct shim *s, int64_t now)
{
	int64_t next = INT64_MAX;
	for (int i = 0; i < LOG_STREAM_MAX; i++)
		if (s->streams[i].partial_mono) {
			int64_t t =
			    s->streams[i].partial_mono + (int64_t)s->cfg.partial_ms * 1000000;
			if (t < next)
				next = t;
		}
	if (s->drain_deadline && s->drain_deadline < next)
		next = s->drain_deadline;
	if (next == INT64_MAX)
		return -1;
	return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

static int watch_fd(struct shim *s, int fd, uint32_t tag, struct berr **err)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = tag};
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return berr_set_errno(err, errno, "epoll_ctl");
	return 0;
}

static int run_loop(struct shim *s, struct berr **err)
{
	int r;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0)
		return berr_set_errno(err, errno, "epoll_create1");
	if ((r = watch_fd(s, s->sfd, TAG_SIGNAL, err)) < 0 ||
	    (r = watch_fd(s, s->listen_fd, TAG_LISTEN, err)) < 0)
		return r;
	for (int i = 0; i < LOG_STREAM_MAX; i++) {
		if (s->out_fd[i] < 0)
			continue;
		fcntl(s->out_fd[i], F_SETFL, fcntl(s->out_fd[i], F_GETFL) | O_NONBLOCK);
		if ((r = watch_fd(s, s->out_fd[i], TAG_STDOUT + (uint32_t)i, err)) < 0)
			return r;
	}

	while (!s->exited || streams_open(s)) {
		struct epoll_event evs[8];
		int64_t now = time_mono_ns();
		if (s->exited && now >= s->drain_deadline) {
			/* Something outside the container holds the pipes: take what
			 * is there and stop waiting for EOF. */
			for (int i = 0; i < LOG_STREAM_MAX; i++) {
				stream_read(s, i, true);
				stream_close(s, i);
			}
			break;
		}
		int n = epoll_wait(s->epfd, evs, 8, loop_timeout(s, now));
		if (n < 0 && errno != EINTR)
			return berr_set_errno(err, errno, "epoll_wait");
		for (int k = 0; k < n; k++) {
			uint32_t tag = evs[k].data.u32;
			if (tag == TAG_SIGNAL) {
				int sig = read_signals(s);
				if (sig && !s->exited && s->container_pid > 0)
					kill(s->container_pid, sig);
			} else if (tag == TAG_STDOUT || tag == TAG_STDERR) {
				/* a tty master is polled for stdin room too */
				if (evs[k].events & EPOLLOUT)
					ctl_stdin_writable(s);
				if (evs[k].events & ~(uint32_t)EPOLLOUT)
					stream_read(s, (int)(tag - TAG_STDOUT), false);
			} else if (tag == TAG_STDIN) {
				ctl_stdin_writable(s);
			} else if (tag == TAG_LISTEN) {
				ctl_accept(s);
			} else if (tag >= TAG_CLIENT && tag < TAG_CLIENT + MAX_CLIENTS) {
				ctl_client_event(s, (int)(tag - TAG_CLIENT), evs[k].events);
			}
		}
		now = time_mono_ns();
		for (int i = 0; i < LOG_STREAM_MAX; i++) {
			struct logw_stream *st = &s->streams[i];
			if (st->partial_mono &&
			    now >= st->partial_mono + (int64_t)s->cfg.partial_ms * 1000000)
				logw_feed(&s->logw, st, time_now_ns(), now, false, true);
		}
	}
	return 0;
}

/* Writes the exit record; buf (>= 512 bytes) and *ret_len get its text. */
static int write_exit_record(struct shim *s, char *buf, size_t *ret_len, struct berr **err)
{
	struct shim_exit e = {
	    .pid = s->container_pid,
	    .finished_ns = s->finished_ns,
	    .oom_killed = s->oom_killed,
	};
	if (WIFSIGNALED(s->exit_status)) {
		e.signal = WTERMSIG(s->exit_status);
		e.exit_code = 128 + e.signal;
	} else {
		e.exit_code = WEXITSTATUS(s->exit_status);
	}
	size_t len = shim_exit_encode(&e, buf, 512);
	*ret_len = len;
	_cleanup_free_ char *p1 = xasprintf("%s/" SHIM_EXIT_FILE, s->cfg.state_dir);
	_cleanup_free_ char *p2 = xasprintf("%s/%s", s->cfg.exit_dir, s->cfg.id);
	/* The state dir first: whoever is woken by the exit dir finds both. */
	int r = fileio_write_atomic(p1, buf, len, 0600, err);
	if (r >= 0)
		r = fileio_write_atomic(p2, buf, len, 0600, err);
	return r;
}

/* ---- setup ---- */

static int setup(struct shim *s, struct berr **err)
{
	sigset_t set;
	int r;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	s->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->sfd < 0)
		return berr_set_errno(err, errno, "signalfd");
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		return berr_set_errno(err, errno, "set child subreaper");

	if ((r = fileio_mkdir_p(s->cfg.state_dir, 0700, err)) < 0 ||
	    (r = fileio_mkdir_p(s->cfg.exit_dir, 0700, err)) < 0)
		return r;
	_cleanup_free_ char *logdir = xstrdup(s->cfg.log_path);
	char *slash = strrchr(logdir, '/');
	if (slash && slash != logdir) {
		*slash = '\0';
		if ((r = fileio_mkdir_p(logdir, 0755, err)) < 0)
			return r;
	}
	if ((r = shim_reopen_log_file(s, err)) < 0)
		return r;
	/* Leftovers of an earlier container with this ID must not be mistaken
	 * for this one's. */
	const char *const stale[] = {SHIM_PID_FILE, SHIM_EXIT_FILE};
	for (size_t i = 0; i < 2; i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", s->cfg.state_dir, stale[i]);
		(void)unlink(p);
	}
	_cleanup_free_ char *old_exit = xasprintf("%s/%s", s->cfg.exit_dir, s->cfg.id);
	(void)unlink(old_exit);

	s->ctl_path = xasprintf("%s/" SHIM_CTL_SOCK, s->cfg.state_dir);
	s->listen_fd = shim_listen_unix(s->ctl_path, SOCK_SEQPACKET, MAX_CLIENTS, err);
	if (s->listen_fd < 0)
		return s->listen_fd;
	return 0;
}

static bool is_abs(const char *p)
{
	return p && p[0] == '/';
}

/* The sync fd number from argv, so option errors can be reported too. */
static int find_sync_fd(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *v = NULL;
		if (strcmp(argv[i], "--sync-fd") == 0 && i + 1 < argc)
			v = argv[i + 1];
		else if (strncmp(argv[i], "--sync-fd=", 10) == 0)
			v = argv[i] + 10;
		if (v)
			return atoi(v) >= 3 ? atoi(v) : -1;
	}
	return -1;
}

static _Noreturn void first_process_exit(void)
{
	/* The daemon child reports; the starter only reaps us. */
	_exit(0);
}

static void fix_std_fds(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0)
			(void)open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY); /* lowest free */
}

static void shim_done(struct shim *s)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		safe_close(s->clients[i].fd);
	free(s->stdin_pending);
	for (int i = 0; i < LOG_STREAM_MAX; i++) {
		if (s->out_fd[i] != s->tty_fd)
			safe_close(s->out_fd[i]);
		logw_stream_done(&s->streams[i]);
	}
	logw_done(&s->logw);
	safe_close(s->stdin_w != s->tty_fd ? s->stdin_w : -1);
	safe_close(s->tty_fd);
	safe_close(s->log_fd);
	safe_close(s->listen_fd);
	safe_close(s->epfd);
	safe_close(s->sfd);
	free(s->ctl_buf);
	free(s->ctl_path);
	free(s->oom_path);
	shim_config_done(&s->cfg);
}

int main(int argc, char **argv)
{
	struct shim s = {.sync_fd = -1,
			 .sfd = -1,
			 .epfd = -1,
			 .listen_fd = -1,
			 .stdin_w = -1,
			 .out_fd = {-1, -1},
			 .tty_fd = -1,
			 .log_fd = -1};
	_cleanup_berr_ struct berr *e = NULL;
	enum log_level lvl = LOG_LEVEL_INFO;

	fix_std_fds();
	s.sync_fd = find_sync_fd(argc, argv);
	if (s.sync_fd >= 0 && fcntl(s.sync_fd, F_SETFD, FD_CLOEXEC) < 0)
		s.sync_fd = -1;
	int r = shim_config_parse(argc, argv, &s.cfg, &e);
	if (r == 1)
		return 0;
	if (r >= 0 && (!is_abs(s.cfg.bundle) || !is_abs(s.cfg.log_path) ||
		       !is_abs(s.cfg.exit_dir) || !is_abs(s.cfg.state_dir)))
		r = berr_set(&e, EINVAL, "bundle, log, exit and state paths must be absolute");
	if (r >= 0 && log_level_parse(s.cfg.log_level, &lvl) < 0)
		r = berr_set(&e, EINVAL, "bad log level '%s'", s.cfg.log_level);
	if (r < 0) {
		fprintf(stderr, "berth-shim: %s\n", e->msg);
		sync_report(&s, e->code, e->msg);
		return 2;
	}
	log_setup(lvl, STDERR_FILENO);

	pid_t pid = fork();
	if (pid < 0) {
		sync_report(&s, errno, "fork");
		return 1;
	}
	if (pid > 0)
		first_process_exit();
	(void)setsid();
	(void)!chdir("/");

	logw_init(&s.logw, -1, s.cfg.log_max_line);
	for (int i = 0; i < LOG_STREAM_MAX; i++)
		logw_stream_init(&s.streams[i], (enum log_stream)i, s.cfg.log_max_line);
	for (int i = 0; i < MAX_CLIENTS; i++)
		s.clients[i].fd = -1;

	r = setup(&s, &e);
	if (r >= 0)
		r = create_container(&s, &e);
	if (r < 0) {
		log_error("id=%.12s msg=\"%s\"", s.cfg.id, e->msg);
		sync_report(&s, e->code, e->msg);
		if (s.ctl_path)
			(void)unlink(s.ctl_path);
		shim_done(&s);
		return 1;
	}
	_cleanup_berr_ struct berr *oe = NULL;
	if (shim_oom_path(s.container_pid, &s.oom_path, &oe) >= 0 &&
	    shim_oom_count(s.oom_path, &s.oom_start) >= 0)
		s.oom_known = true;
	else
		log_debug("id=%.12s msg=\"no oom counter: %s\"", s.cfg.id, berr_msg(oe));
	take_cached_exit(&s);
	sync_report(&s, 0, "ok");
	log_debug("id=%.12s pid=%d container created", s.cfg.id, (int)s.container_pid);

	char record[512];
	size_t record_len = 0;
	r = run_loop(&s, &e);
	if (r >= 0)
		r = write_exit_record(&s, record, &record_len, &e);
	/* Attached clients learn the end after the log and both records. */
	ctl_finish(&s, record, r >= 0 ? record_len : 0);
	if (r < 0)
		log_error("id=%.12s msg=\"%s\"", s.cfg.id, e->msg);
	if (s.logw.write_errno)
		log_warn("id=%.12s msg=\"log writes failed: %s\"", s.cfg.id,
			 strerror(s.logw.write_errno));
	(void)unlink(s.ctl_path);
	shim_done(&s);
	return r < 0 ? 1 : 0;
}
