/* SPDX-License-Identifier: Apache-2.0 */
/* client.c - berthd's side of berth-shim: start, control calls, exit watch. */
#include "shim/shim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/strv.h"
#include "common/ids.h"
#include "common/spawn.h"
#include "shim/shim-internal.h"

#define SYNC_MAX 8192
#define ARGV_MAX 128

void shim_info_done(struct shim_info *info)
{
	free(info->ctl_path);
	info->ctl_path = NULL;
}

static int check_opts(const struct shim_opts *o, struct berr **err)
{
	if (!o->id || !shim_id_is_valid(o->id))
		return berr_set(err, EINVAL, "invalid container id '%s'", o->id ? o->id : "");
	if (!o->bundle || !o->runtime || !o->log_path || !o->exit_dir || !o->state_dir)
		return berr_set(err, EINVAL,
				"shim options: bundle, runtime, log, exit and state "
				"paths are required");
	if (o->log_max_line > SHIM_LOG_MAX_LINE_LIMIT)
		return berr_set(err, EINVAL, "log line limit too large (%zu > %d)", o->log_max_line,
				SHIM_LOG_MAX_LINE_LIMIT);
	return 0;
}

/* Parses "berth-shim 1 <errno> <shim_pid> <container_pid> <message>\n". */
static int parse_sync(const char *msg, struct shim_info *ret, struct berr **err)
{
	int version, code, spid, cpid, off = -1;
	if (sscanf(msg, SHIM_SYNC_MAGIC " %d %d %d %d %n", &version, &code, &spid, &cpid, &off) !=
		4 ||
	    off < 0)
		return berr_set(err, EPROTO, "malformed shim sync message");
	if (version != SHIM_SYNC_VERSION)
		return berr_set(err, EPROTO, "shim sync version %d unsupported", version);
	if (code != 0) {
		_cleanup_free_ char *text = xstrdup(msg + off);
		size_t n = strlen(text);
		while (n > 0 && text[n - 1] == '\n')
			text[--n] = '\0';
		return berr_set(err, code > 0 ? code : EIO, "%s", text);
	}
	ret->shim_pid = spid;
	ret->container_pid = cpid;
	return 0;
}

/* Reads the sync pipe to EOF (the shim closes it after its one message). */
static int read_sync(int fd, int timeout_ms, char **ret, struct berr **err)
{
	_cleanup_free_ char *buf = xmalloc(SYNC_MAX + 1);
	size_t len = 0;
	int64_t deadline = time_mono_ns() + (int64_t)timeout_ms * 1000000;
	for (;;) {
		int64_t left = (deadline - time_mono_ns()) / 1000000;
		if (left <= 0)
			return berr_set(err, ETIMEDOUT, "shim did not report within %d ms",
					timeout_ms);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno != EINTR)
			return berr_set_errno(err, errno, "poll shim sync pipe");
		if (r <= 0)
			continue;
		ssize_t n = read(fd, buf + len, SYNC_MAX - len);
		if (n < 0 && errno != EINTR)
			return berr_set_errno(err, errno, "read shim sync pipe");
		if (n == 0 || len + (size_t)n >= SYNC_MAX) {
			len += n > 0 ? (size_t)n : 0;
			break;
		}
		if (n > 0)
			len += (size_t)n;
	}
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	return 0;
}

int shim_start(const struct shim_opts *o, struct shim_info *ret, struct berr **err)
{
	int r = check_opts(o, err);
	if (r < 0)
		return r;
	int timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 240000;
	const char *path = o->shim_path ? o->shim_path : BERTH_LIBEXECDIR "/berth-shim";
	_cleanup_free_ char *maxline =
	    xasprintf("%zu", o->log_max_line ? o->log_max_line : SHIM_LOG_MAX_LINE_DEFAULT);
	_cleanup_free_ char *timeout = xasprintf("%d", (timeout_ms + 999) / 1000);
	const char *argv[ARGV_MAX];
	size_t n = 0;
	argv[n++] = "berth-shim";
	argv[n++] = "--sync-fd";
	argv[n++] = "3";
#define ARG2(a, b)                                                                                 \
	do {                                                                                       \
		argv[n++] = (a);                                                                   \
		argv[n++] = (b);                                                                   \
	} while (0)
	ARG2("--id", o->id);
	ARG2("--bundle", o->bundle);
	ARG2("--runtime", o->runtime);
	for (size_t i = 0; o->runtime_args && o->runtime_args[i]; i++) {
		if (n + 24 >= ARGV_MAX)
			return berr_set(err, E2BIG, "too many runtime arguments");
		ARG2("--runtime-arg", o->runtime_args[i]);
	}
	ARG2("--log-path", o->log_path);
	ARG2("--exit-dir", o->exit_dir);
	ARG2("--state-dir", o->state_dir);
	ARG2("--log-max-line", maxline);
	ARG2("--timeout", timeout);
#undef ARG2
	if (o->terminal)
		argv[n++] = "--terminal";
	if (o->open_stdin)
		argv[n++] = "--stdin";
	if (o->stdin_once)
		argv[n++] = "--stdin-once";
	_cleanup_free_ char *partial = xasprintf("%d", o->partial_ms);
	if (o->partial_ms > 0) {
		argv[n++] = "--partial-ms";
		argv[n++] = partial;
	}
	_cleanup_free_ char *drain = xasprintf("%d", o->drain_ms > 0 ? o->drain_ms : 0);
	if (o->drain_ms != 0) {
		argv[n++] = "--drain-ms";
		argv[n++] = drain;
	}
	argv[n] = NULL;

	_cleanup_close_ int log_fd = -1, sync_r = -1, sync_w = -1;
	if (o->shim_log_path) {
		log_fd = open(o->shim_log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (log_fd < 0)
			return berr_set_errno(err, errno, "open shim log '%s'", o->shim_log_path);
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return berr_set_errno(err, errno, "pipe");
	sync_r = p[0];
	sync_w = p[1];

	struct spawn_opts so = SPAWN_OPTS_INIT;
	so.path = path;
	so.argv = (char *const *)argv;
	so.fd_err = log_fd;
	so.keep_fds = &sync_w;
	so.n_keep = 1;
	so.setsid = true;
	pid_t pid;
	r = spawn_start(&so, &pid, err);
	if (r < 0)
		return berr_wrap(err, "start shim for '%s'", o->id);
	sync_w = safe_close(sync_w);
	int status;
	/* The first shim process forks the monitor and exits at once. */
	r = spawn_wait(pid, &status, err);
	if (r < 0)
		return r;

	_cleanup_free_ char *msg = NULL;
	/* The shim kills the runtime at its own (whole-second) deadline and
	 * reports at once; allow it a little more. */
	r = read_sync(sync_r, (timeout_ms + 999) / 1000 * 1000 + 2000, &msg, err);
	if (r < 0)
		return berr_wrap(err, "shim for '%s'", o->id);
	if (!*msg) {
		_cleanup_free_ char *st = spawn_status_str(status);
		return berr_set(err, EIO, "shim for '%s' exited without reporting (%s)", o->id, st);
	}
	struct shim_info info = {0};
	r = parse_sync(msg, &info, err);
	if (r < 0)
		return berr_wrap(err, "create container '%s'", o->id);
	info.ctl_path = xasprintf("%s/" SHIM_CTL_SOCK, o->state_dir);
	*ret = info;
	return 0;
}

static int ctl_connect(const char *ctl_path, struct berr **err)
{
	struct sockaddr_un sa;
	socklen_t sl;
	_cleanup_close_ int dfd = -1;
	int r = shim_sockaddr(ctl_path, &sa, &sl, &dfd, err);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set_errno(err, errno, "socket");
	struct timeval tv = {.tv_sec = SHIM_CTL_TIMEOUT_MS / 1000,
			     .tv_usec = (SHIM_CTL_TIMEOUT_MS % 1000) * 1000};
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sl) < 0)
		return berr_set_errno(err, errno, "connect to shim '%s'", ctl_path);
	return TAKE_FD(fd);
}

/* Sends one request on fd and parses the reply. */
static int ctl_request(int fd, const char *ctl_path, const void *req, size_t len, char **ret_reply,
		       struct berr **err)
{
	if (send(fd, req, len, MSG_NOSIGNAL) < 0)
		return berr_set_errno(err, errno, "send to shim '%s'", ctl_path);
	char buf[4096];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return berr_set_errno(err, errno == EAGAIN ? ETIMEDOUT : errno,
				      "receive from shim '%s'", ctl_path);
	buf[n] = '\0';
	if (strncmp(buf, "ok", 2) == 0 && (buf[2] == '\0' || buf[2] == ' ')) {
		if (ret_reply)
			*ret_reply = xstrdup(buf[2] ? buf + 3 : "");
		return 0;
	}
	int code, off = -1;
	if (sscanf(buf, "err %d %n", &code, &off) == 1 && off >= 0 && code > 0)
		return berr_set(err, code, "shim: %s", buf + off);
	return berr_set(err, EPROTO, "malformed reply from shim '%s'", ctl_path);
}

int shim_ctl_call(const char *ctl_path, const void *req, size_t len, char **ret_reply,
		  struct berr **err)
{
	if (len == 0 || len > SHIM_CTL_MAX)
		return berr_set(err, EINVAL, "control request of %zu bytes (1..%d)", len,
				SHIM_CTL_MAX);
	_cleanup_close_ int fd = ctl_connect(ctl_path, err);
	if (fd < 0)
		return fd;
	return ctl_request(fd, ctl_path, req, len, ret_reply, err);
}

int shim_attach(const char *ctl_path, unsigned streams, int *ret_fd, struct berr **err)
{
	char req[64] = "attach";
	if (streams & SHIM_ATTACH_STDIN)
		strcat(req, " stdin");
	if (streams & SHIM_ATTACH_STDOUT)
		strcat(req, " stdout");
	if (streams & SHIM_ATTACH_STDERR)
		strcat(req, " stderr");
	_cleanup_close_ int fd = ctl_connect(ctl_path, err);
	if (fd < 0)
		return fd;
	int r = ctl_request(fd, ctl_path, req, strlen(req), NULL, err);
	if (r < 0)
		return r;
	/* A stream has no deadline: the caller polls it. */
	struct timeval none = {0};
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int shim_reopen_log(const char *ctl_path, struct berr **err)
{
	return shim_ctl_call(ctl_path, "reopen-log", 10, NULL, err);
}

int shim_resize(const char *ctl_path, unsigned cols, unsigned rows, struct berr **err)
{
	char req[64];
	int n = snprintf(req, sizeof(req), "resize %u %u", cols, rows);
	return shim_ctl_call(ctl_path, req, (size_t)n, NULL, err);
}

int shim_close_stdin(const char *ctl_path, struct berr **err)
{
	return shim_ctl_call(ctl_path, "close-stdin", 11, NULL, err);
}

/* ---- exit dir watcher ---- */

struct shim_exit_watch {
	int fd;
	char *dir;
};

int shim_exit_watch_new(const char *exit_dir, struct shim_exit_watch **ret, struct berr **err)
{
	_cleanup_close_ int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return berr_set_errno(err, errno, "inotify_init1");
	/* Records only ever arrive by rename (fileio_write_atomic), so IN_MOVED_TO
	 * alone marks a complete record; the temp file's events are not wanted. */
	if (inotify_add_watch(fd, exit_dir, IN_MOVED_TO | IN_ONLYDIR) < 0)
		return berr_set_errno(err, errno, "watch exit dir '%s'", exit_dir);
	struct shim_exit_watch *w = xcalloc(1, sizeof(*w));
	w->fd = TAKE_FD(fd);
	w->dir = xstrdup(exit_dir);
	*ret = w;
	return 0;
}

int shim_exit_watch_fd(const struct shim_exit_watch *w)
{
	return w->fd;
}

struct shim_exit_watch *shim_exit_watch_free(struct shim_exit_watch *w)
{
	if (!w)
		return NULL;
	safe_close(w->fd);
	free(w->dir);
	free(w);
	return NULL;
}

static int scan_into(const char *dir, char ***v, size_t *n, struct berr **err)
{
	DIR *d = opendir(dir);
	if (!d)
		return berr_set_errno(err, errno, "open exit dir '%s'", dir);
	struct dirent *de;
	while ((de = readdir(d)))
		if (shim_id_is_valid(de->d_name))
			strv_push(v, n, de->d_name);
	closedir(d);
	return 0;
}

int shim_exit_scan(const char *exit_dir, char ***ret_ids, struct berr **err)
{
	_cleanup_strv_ char **v = xcalloc(1, sizeof(char *));
	size_t n = 0;
	int r = scan_into(exit_dir, &v, &n, err);
	if (r < 0)
		return r;
	*ret_ids = TAKE_PTR(v);
	return (int)n;
}

int shim_exit_watch_read(struct shim_exit_watch *w, char ***ret_ids, struct berr **err)
{
	_cleanup_strv_ char **v = xcalloc(1, sizeof(char *));
	size_t n = 0;
	bool overflow = false;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t len = read(w->fd, buf, sizeof(buf));
		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0 && errno == EAGAIN)
			break;
		if (len <= 0)
			return berr_set_errno(err, len < 0 ? errno : EIO, "read inotify");
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW)
				overflow = true;
			else if (ev->len > 0 && shim_id_is_valid(ev->name))
				strv_push(&v, &n, ev->name);
			p += sizeof(*ev) + ev->len;
		}
	}
	if (overflow) {
		int r = scan_into(w->dir, &v, &n, err);
		if (r < 0)
			return r;
	}
	*ret_ids = TAKE_PTR(v);
	return (int)n;
}
