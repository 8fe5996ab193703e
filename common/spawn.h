/* SPDX-License-Identifier: Apache-2.0 */
/* spawn.h - the only way berthd starts a process: posix_spawn(3).
 * berthd is multithreaded, so it never forks: argv, envp and the fd map are
 *   prepared here and nothing of ours runs in the child (style §6). The child
 *   gets a default signal disposition and an empty signal mask, fds 0..2 from
 *   the options (/dev/null where -1), extra fds at 3.. from keep_fds, and no
 *   other fd.
 * Threads: thread-safe. Calls block only where documented (spawn_run waits).
 * Errors: -errno; a program that cannot be executed gives its errno (ENOENT,
 *   EACCES) with the path in the message. */
#ifndef BERTH_COMMON_SPAWN_H
#define BERTH_COMMON_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct berr;

struct spawn_opts {
	const char *path;    /* executable; NULL: argv[0], looked up in PATH */
	char *const *argv;   /* NULL-terminated */
	char *const *envp;   /* NULL: the daemon's environment */
	int fd_in;	     /* -1: /dev/null */
	int fd_out;	     /* -1: /dev/null */
	int fd_err;	     /* -1: /dev/null */
	const int *keep_fds; /* become fds 3, 4, ... in the child */
	size_t n_keep;
	const char *cwd; /* NULL: unchanged */
	bool setsid;	 /* new session (and process group) */
};

#define SPAWN_OPTS_INIT                                                                            \
	{                                                                                          \
		.fd_in = -1, .fd_out = -1, .fd_err = -1                                            \
	}

int spawn_start(const struct spawn_opts *o, pid_t *ret_pid, struct berr **err);
/* waitpid() retried on EINTR; *ret_status is the raw wait status. */
int spawn_wait(pid_t pid, int *ret_status, struct berr **err);

struct spawn_result {
	int status;	/* raw wait status; valid unless timed_out */
	bool timed_out; /* killed at the deadline */
	char *out;	/* NUL-terminated captured stdout */
	size_t out_len;
	char *errout; /* NUL-terminated captured stderr */
	size_t err_len;
	bool truncated; /* output exceeded max_out and was cut */
};

/* Runs o (its fd_in/out/err are ignored) with input on stdin, captures stdout
 * and stderr up to max_out bytes each, and waits at most timeout_ms (<=0: no
 * limit). On timeout the child (its process group when o->setsid) gets SIGKILL.
 * Returns once the child has exited, even if a grandchild keeps the pipes open.
 * The process must ignore SIGPIPE (berthd does), as the child may close stdin.
 * Free the result with spawn_result_done(). */
int spawn_run(const struct spawn_opts *o, const void *input, size_t input_len, size_t max_out,
	      int timeout_ms, struct spawn_result *ret, struct berr **err);
void spawn_result_done(struct spawn_result *r);
/* "exit status 3", "killed by signal 9 (Killed)" */
char *spawn_status_str(int status);

#endif
