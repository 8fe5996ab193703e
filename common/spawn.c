/* SPDX-License-Identifier: Apache-2.0 */
#include "common/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/ids.h"

extern char **environ;

DEFINE_CLEANUP_FUNC(posix_spawn_file_actions_t *, posix_spawn_file_actions_destroy)
DEFINE_CLEANUP_FUNC(posix_spawnattr_t *, posix_spawnattr_destroy)

int spawn_start(const struct spawn_opts *o, pid_t *ret_pid, struct berr **err)
{
	const char *path = o->path ? o->path : o->argv[0];
	size_t nfd = 3 + o->n_keep;
	int src[3] = {o->fd_in, o->fd_out, o->fd_err};
	/* Every source fd is first duplicated above the target range, so that no
	 * dup2() in the child overwrites a source another dup2() still needs and
	 * no dup2() has src == dst (which would keep FD_CLOEXEC set). */
	_cleanup_free_ int *tmp = xcalloc(nfd, sizeof(int));
	_cleanup_close_ int devnull = -1;
	int r = 0;
	for (size_t i = 0; i < nfd; i++)
		tmp[i] = -1;
	for (size_t i = 0; i < nfd && r == 0; i++) {
		int s = i < 3 ? src[i] : o->keep_fds[i - 3];
		if (s < 0) {
			if (devnull < 0)
				devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
			if (devnull < 0) {
				r = berr_set_errno(err, errno, "open /dev/null");
				break;
			}
			s = devnull;
		}
		tmp[i] = fcntl(s, F_DUPFD_CLOEXEC, (int)nfd);
		if (tmp[i] < 0)
			r = berr_set_errno(err, errno, "dup fd %d", s);
	}

	posix_spawn_file_actions_t fa_s, *fa = NULL;
	posix_spawnattr_t at_s, *at = NULL;
	_cleanup_(posix_spawn_file_actions_destroyp) posix_spawn_file_actions_t *fap = NULL;
	_cleanup_(posix_spawnattr_destroyp) posix_spawnattr_t *atp = NULL;
	if (r == 0) {
		posix_spawn_file_actions_init(&fa_s);
		fa = fap = &fa_s;
		posix_spawnattr_init(&at_s);
		at = atp = &at_s;
		for (size_t i = 0; i < nfd; i++)
			posix_spawn_file_actions_adddup2(fa, tmp[i], (int)i);
		posix_spawn_file_actions_addclosefrom_np(fa, (int)nfd);
		if (o->cwd)
			posix_spawn_file_actions_addchdir_np(fa, o->cwd);
		sigset_t none, all;
		sigemptyset(&none);
		sigfillset(&all);
		posix_spawnattr_setsigmask(at, &none);
		posix_spawnattr_setsigdefault(at, &all);
		short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
		if (o->setsid)
			flags |= POSIX_SPAWN_SETSID;
		posix_spawnattr_setflags(at, flags);
		pid_t pid;
		char *const *envp = o->envp ? o->envp : environ;
		int e = o->path || strchr(path, '/')
			    ? posix_spawn(&pid, path, fa, at, o->argv, envp)
			    : posix_spawnp(&pid, path, fa, at, o->argv, envp);
		if (e != 0)
			r = berr_set_errno(err, e, "spawn '%s'", path);
		else
			*ret_pid = pid;
	}
	for (size_t i = 0; i < nfd; i++)
		safe_close(tmp[i]);
	return r;
}

int spawn_wait(pid_t pid, int *ret_status, struct berr **err)
{
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return berr_set_errno(err, errno, "waitpid %d", (int)pid);
	}
	if (ret_status)
		*ret_status = st;
	return 0;
}

char *spawn_status_str(int status)
{
	if (WIFEXITED(status))
		return xasprintf("exit status %d", WEXITSTATUS(status));
	if (WIFSIGNALED(status))
		return xasprintf("killed by signal %d (%s)", WTERMSIG(status),
				 strsignal(WTERMSIG(status)));
	return xasprintf("wait status 0x%x", status);
}

void spawn_result_done(struct spawn_result *r)
{
	free(r->out);
	free(r->errout);
	memset(r, 0, sizeof(*r));
}

struct capture {
	int fd;
	char *buf;
	size_t len, cap, max;
	bool truncated;
};

/* Reads what is available; returns false on EOF or error. */
static bool capture_read(struct capture *c)
{
	char tmp[16384];
	ssize_t n = read(c->fd, tmp, sizeof(tmp));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	size_t take = (size_t)n;
	if (c->len + take > c->max) {
		take = c->max - c->len;
		c->truncated = true;
	}
	if (c->len + take + 1 > c->cap) {
		c->cap = (c->len + take + 1) * 2;
		c->buf = xrealloc(c->buf, c->cap);
	}
	memcpy(c->buf + c->len, tmp, take);
	c->len += take;
	return true;
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

int spawn_run(const struct spawn_opts *o, const void *input, size_t input_len, size_t max_out,
	      int timeout_ms, struct spawn_result *ret, struct berr **err)
{
	int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
	memset(ret, 0, sizeof(*ret));
	if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) {
		int e = errno;
		for (int i = 0; i < 2; i++) {
			safe_close(pin[i]);
			safe_close(pout[i]);
			safe_close(perr[i]);
		}
		return berr_set_errno(err, e, "pipe");
	}
	struct spawn_opts so = *o;
	so.fd_in = pin[0];
	so.fd_out = pout[1];
	so.fd_err = perr[1];
	pid_t pid;
	int r = spawn_start(&so, &pid, err);
	safe_close(pin[0]);
	safe_close(pout[1]);
	safe_close(perr[1]);
	if (r < 0) {
		safe_close(pin[1]);
		safe_close(pout[0]);
		safe_close(perr[0]);
		return r;
	}
	/* stdin is fed from the poll loop, so a child that writes much before it
	 * reads cannot deadlock against us. */
	const char *in = input;
	int in_fd = pin[1];
	if (input_len == 0)
		in_fd = safe_close(in_fd);
	else
		fcntl(in_fd, F_SETFL, O_NONBLOCK);

	struct capture cap[2] = {{.fd = pout[0], .max = max_out}, {.fd = perr[0], .max = max_out}};
	_cleanup_close_ int pfd = pidfd_open_(pid);
	int64_t deadline = timeout_ms > 0 ? time_mono_ns() + (int64_t)timeout_ms * 1000000 : 0;
	bool exited = false;
	for (;;) {
		struct pollfd p[4];
		int np = 0, idx[2] = {-1, -1}, iidx = -1;
		if (in_fd >= 0 && !exited) {
			iidx = np;
			p[np++] = (struct pollfd){.fd = in_fd, .events = POLLOUT};
		}
		for (int i = 0; i < 2; i++) {
			if (cap[i].fd >= 0) {
				idx[i] = np;
				p[np++] = (struct pollfd){.fd = cap[i].fd, .events = POLLIN};
			}
		}
		int pidx = -1;
		if (!exited && pfd >= 0) {
			pidx = np;
			p[np++] = (struct pollfd){.fd = pfd, .events = POLLIN};
		}
		if (np == 0)
			break;
		int wait_ms = -1;
		if (deadline) {
			int64_t left = (deadline - time_mono_ns()) / 1000000;
			wait_ms = left < 0 ? 0 : (int)left;
		}
		if (exited)
			wait_ms = 0; /* drain what is buffered, then stop */
		int n = poll(p, (nfds_t)np, wait_ms);
		if (n < 0 && errno != EINTR) {
			r = berr_set_errno(err, errno, "poll");
			break;
		}
		if (n == 0) {
			if (exited)
				break;
			ret->timed_out = true;
			kill(o->setsid ? -pid : pid, SIGKILL);
			exited = true;
			continue;
		}
		if (iidx >= 0 && p[iidx].revents) {
			/* EPIPE (the child closed stdin) only means it ignored the rest. */
			ssize_t w = write(in_fd, in, input_len);
			if (w > 0) {
				in += w;
				input_len -= (size_t)w;
			}
			if ((w < 0 && errno != EAGAIN && errno != EINTR) || input_len == 0)
				in_fd = safe_close(in_fd);
		}
		for (int i = 0; i < 2; i++) {
			if (idx[i] >= 0 && p[idx[i]].revents && !capture_read(&cap[i]))
				cap[i].fd = safe_close(cap[i].fd);
		}
		if (pidx >= 0 && p[pidx].revents)
			exited = true;
	}
	for (int i = 0; i < 2; i++)
		safe_close(cap[i].fd);
	safe_close(in_fd);
	int st = 0;
	int wr = spawn_wait(pid, &st, r < 0 ? NULL : err);
	if (r == 0)
		r = wr;
	ret->status = st;
	ret->out = cap[0].buf ? cap[0].buf : xcalloc(1, 1);
	ret->out[cap[0].len] = '\0';
	ret->out_len = cap[0].len;
	ret->errout = cap[1].buf ? cap[1].buf : xcalloc(1, 1);
	ret->errout[cap[1].len] = '\0';
	ret->err_len = cap[1].len;
	ret->truncated = cap[0].truncated || cap[1].truncated;
	if (r < 0)
		spawn_result_done(ret);
	return r;
}
