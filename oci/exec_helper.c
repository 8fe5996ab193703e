/* SPDX-License-Identifier: Apache-2.0 */
/* berth-exec - runs `runc exec --detach` and waits for the exec'd process.
 *
 * Usage: berth-exec [--timeout-ms N] <pid-file> <status-file> <runtime argv...>
 *
 * Why a helper: `runc exec` without --detach copies the process's output
 * through pipes of its own and waits until every writer has closed them, so a
 * backgrounded child that keeps stdout open blocks it (and ExecSync) forever.
 * With --detach, runc hands our stdout/stderr to the process directly and
 * exits once it started; the process is then reparented to the nearest child
 * subreaper, which is this program, and only a parent can learn an exit code.
 * A multithreaded berthd must not be that subreaper (it would reap children
 * its own spawn_wait() calls wait for), hence this small single-threaded
 * program (style §6).
 *
 * Timeout: after N ms the process's group and the process get SIGKILL and are
 * reaped here before berth-exec exits, so when ExecSync returns the process is
 * gone: not a zombie left for some other reaper, which the container (a pgrep,
 * critest's "execSync with timeout") would still see.
 *
 * Exit: 0 once the process was reaped and its raw wait status written to
 * <status-file>; EXIT_TIMED_OUT (status file written too) when it was killed at
 * the timeout; another non-zero code when the runtime failed (its message is on
 * stderr) or on a setup error. The status file is created only when the
 * process was reaped, so the caller tells a process exit code from a runtime
 * failure by its presence. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXIT_TIMED_OUT 124 /* as timeout(1); EXEC_HELPER_TIMED_OUT in oci/runtime.c */

static int read_pid(const char *path)
{
	char buf[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *end;
	long pid = strtol(buf, &end, 10);
	return end == buf || pid <= 0 ? -1 : (int)pid;
}

static int write_status(const char *path, int status)
{
	char tmp[4096], buf[32];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	int len = snprintf(buf, sizeof(buf), "%d\n", status);
	bool ok = write(fd, buf, (size_t)len) == len;
	ok = close(fd) == 0 && ok;
	return ok && rename(tmp, path) == 0 ? 0 : -1;
}

/* The child between fork and exec: only async-signal-safe calls. */
static _Noreturn void run_runtime(char **argv)
{
	execvp(argv[0], argv);
	static const char msg[] = "berth-exec: cannot execute the runtime\n";
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(127);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct waits {
	pid_t runtime;
	const char *pid_file;
	int runtime_st, target_st;
	bool runtime_done, target_done;
};

/* Records the exit of p if it is the runtime or the exec'd process. */
static void note_exit(struct waits *w, pid_t p, int st)
{
	if (p == w->runtime) {
		w->runtime_st = st;
		w->runtime_done = true;
	} else if (p == read_pid(w->pid_file)) {
		w->target_st = st;
		w->target_done = true;
	}
}

/* Reaps every exited child without blocking; -1 once no child is left at all. */
static int reap_ready(struct waits *w)
{
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p == 0)
			return 0;
		if (p < 0)
			return errno == EINTR ? 0 : -1;
		note_exit(w, p, st);
	}
}

/* The timeout: kill the process's group (runc makes it a session leader) and
 * the process, and the runtime if it still runs; then reap until no child is
 * left, so nothing we started outlives us. */
static void kill_and_reap(struct waits *w)
{
	int pid = read_pid(w->pid_file);
	if (pid > 0 && !w->target_done) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
	}
	if (!w->runtime_done)
		kill(w->runtime, SIGKILL);
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, 0);
		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0)
			break;
		note_exit(w, p, st);
	}
}

int main(int argc, char **argv)
{
	long long timeout_ms = 0;
	if (argc > 2 && strcmp(argv[1], "--timeout-ms") == 0) {
		timeout_ms = atoll(argv[2]);
		argv += 2;
		argc -= 2;
	}
	if (argc < 4) {
		fprintf(stderr, "usage: berth-exec [--timeout-ms N] PID-FILE STATUS-FILE "
				"RUNTIME-ARGV...\n");
		return 2;
	}
	const char *status_file = argv[2];
	struct waits w = {.pid_file = argv[1]};
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		fprintf(stderr, "berth-exec: subreaper: %s\n", strerror(errno));
		return 1;
	}
	/* SIGCHLD stays blocked and is taken with sigtimedwait(), so the wait
	 * below has a deadline without a handler; the runtime child gets the
	 * default mask back before it execs. */
	sigset_t chld, old;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	w.runtime = fork();
	if (w.runtime < 0) {
		fprintf(stderr, "berth-exec: fork: %s\n", strerror(errno));
		return 1;
	}
	if (w.runtime == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		run_runtime(argv + 3);
	}
	/* The exec'd process is the runtime's child; it becomes ours when the
	 * runtime exits (the runtime wrote the pid file before that), possibly
	 * reaped here before the runtime itself. */
	long long deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	bool timed_out = false;
	while (!w.runtime_done || !w.target_done) {
		bool none_left = reap_ready(&w) < 0;
		if (w.runtime_done && (!WIFEXITED(w.runtime_st) || WEXITSTATUS(w.runtime_st) != 0))
			return 1; /* the runtime printed why */
		if (w.runtime_done && w.target_done)
			break;
		if (none_left) {
			fprintf(stderr, "berth-exec: the exec'd process was not seen\n");
			return 1;
		}
		struct timespec ts, *tsp = NULL;
		if (deadline) {
			long long left = deadline - now_ms();
			if (left <= 0) {
				timed_out = true;
				kill_and_reap(&w);
				break;
			}
			ts = (struct timespec){.tv_sec = left / 1000,
					       .tv_nsec = (left % 1000) * 1000000};
			tsp = &ts;
		}
		(void)sigtimedwait(&chld, NULL, tsp);
	}
	if (!w.target_done) {
		if (timed_out)
			return EXIT_TIMED_OUT; /* killed before it was started */
		fprintf(stderr, "berth-exec: the exec'd process was not seen\n");
		return 1;
	}
	if (write_status(status_file, w.target_st) < 0) {
		fprintf(stderr, "berth-exec: write '%s': %s\n", status_file, strerror(errno));
		return 1;
	}
	return timed_out ? EXIT_TIMED_OUT : 0;
}
