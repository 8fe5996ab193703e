/* berth-exec - runs `runc exec --detach` and waits for the exec'd process.
 *
 * Usage: berth-exec <pid-file> <status-file> <runtime argv...>
 *
 * Why a helper: `runc exec` without --detach copies the process's output
 * through pipes of its own and waits until every writer has closed them, so a
 * backgrounded child that keeps stdout open blocks it (and ExecSync) forever.
 * With --detach, runc hands our stdout/stderr to the process directly and
 * exits once it started; the process is then reparented to the nearest child
 * subreaper, which is this program, and only a parent can learn an exit code.
 * A multithreaded berthd must not be that subreaper (it would reap children
 * its own spawn_wait() calls wait for), hence this small single-threaded
 * program (STYLE §2.6).
 *
 * Exit: 0 once the process was reaped and its raw wait status written to
 * <status-file>; non-zero when the runtime failed (its message is on stderr)
 * or on a setup error. The status file is created only on success, so the
 * caller tells a process exit code from a runtime failure by its presence. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

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

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: berth-exec PID-FILE STATUS-FILE RUNTIME-ARGV...\n");
		return 2;
	}
	const char *pid_file = argv[1], *status_file = argv[2];
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		fprintf(stderr, "berth-exec: subreaper: %s\n", strerror(errno));
		return 1;
	}
	pid_t runtime = fork();
	if (runtime < 0) {
		fprintf(stderr, "berth-exec: fork: %s\n", strerror(errno));
		return 1;
	}
	if (runtime == 0)
		run_runtime(argv + 3);
	/* The exec'd process is the runtime's child; it becomes ours when the
	 * runtime exits (the runtime wrote the pid file before that), possibly
	 * reaped here before the runtime itself. */
	int st, target_st = 0;
	bool runtime_done = false, target_done = false;
	while (!runtime_done || !target_done) {
		pid_t p = waitpid(-1, &st, 0);
		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0) {
			fprintf(stderr, "berth-exec: the exec'd process was not seen\n");
			return 1;
		}
		if (p == runtime) {
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
				return 1; /* the runtime printed why */
			runtime_done = true;
		} else if (p == read_pid(pid_file)) {
			target_st = st;
			target_done = true;
		}
	}
	if (write_status(status_file, target_st) < 0) {
		fprintf(stderr, "berth-exec: write '%s': %s\n", status_file, strerror(errno));
		return 1;
	}
	return 0;
}
