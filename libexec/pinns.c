/* SPDX-License-Identifier: Apache-2.0 */
/* berth-pinns - creates the namespaces of a pod and pins them to files.
 *
 * berthd is multithreaded and never unshares, setns()es or forks in its own
 * threads (style §6); this small single-threaded helper does that work, as
 * CRI-O's pinns does. Usage:
 *
 *   berth-pinns --dir DIR [--net] [--ipc] [--uts] [--pid]
 *               [--uidmap C:H:L --gidmap C:H:L]
 *               [--hostname NAME] [--sysctl KEY=VALUE]...
 *   berth-pinns --pid-init
 *   berth-pinns --worker ARGS...   (internal, see below)
 *
 * The first form unshares the requested namespaces, sets the hostname and the
 * namespaced sysctls inside them, and bind-mounts each namespace onto DIR/net,
 * DIR/ipc, DIR/uts (and DIR/pid). With --pid it forks an init process that is
 * PID 1 of the new PID namespace (the second form, exec'd from /proc/self/exe,
 * which reports readiness with one byte on fd 3): it reaps orphans and exits
 * on SIGTERM or SIGINT; it is detached (own session,
 * stdio on /dev/null) and is reparented to the caller's subreaper or PID 1 when
 * berth-pinns exits.
 *
 * With --uidmap and --gidmap the pod gets a user namespace of its own that owns
 * the other namespaces (a container that joins it can join them: setns() into a
 * namespace needs CAP_SYS_ADMIN in the user namespace owning it). The mapping is
 * written from outside, by this process, which also does every bind mount (the
 * pins live in the caller's mount namespace, owned by the initial user
 * namespace). So a child unshares the user namespace, waits until its uid_map and
 * gid_map are written and DIR/user pinned, becomes root in it and execs
 * `berth-pinns --worker` with the same arguments: the worker, with every
 * capability in the pod's user namespace, unshares the other namespaces, sets the
 * hostname and sysctls there, starts the pod init, reports "ready <init pid>" (or
 * "error <errno> <message>") on fd 3 and waits for EOF there; meanwhile this
 * process pins /proc/<worker>/ns/{net,ipc,uts} and the init's PID namespace.
 *
 * Protocol: on success the exit status is 0 and stdout carries one line per
 * pin, "<ns> <path>", plus "init-pid <pid>" (a pid of the caller's PID
 * namespace) with --pid. On failure everything already pinned is undone, the
 * init is killed, stderr carries "berth-pinns: <message>" and the exit status is
 * the errno (1..255) of the failure.
 *
 * The parent directory of DIR (the pin root, e.g. /run/berth/ns) is made a
 * shared mount point, bind-mounting it onto itself first if it is not one (as
 * iproute2 does for /run/netns): the pins then live in their own peer group,
 * so mount namespaces that copy it later see them as slaves and an unmount in
 * the caller's namespace propagates, instead of a copy keeping a pod's netns
 * alive after unpinning. A flock on ROOT/.lock serialises this among
 * concurrent instances, so the root is never bind-mounted onto itself twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/sysctl.h"

#define MAX_SYSCTLS	 256
#define MAX_SYSCTL_VALUE 4096
#define INIT_REPORT_FD	 3   /* the init's end of the report pipe */
#define INIT_READY	 'R' /* what it sends once its signal handlers are in place */

#define WORKER_FD	3   /* the worker's end of its socket */
#define CHILD_UNSHARED	'U' /* the user namespace exists: write its maps */
#define CHILD_GO	'G' /* maps written: become root in it and exec the worker */
#define CHILD_FAILED	'E' /* followed by an int errno */
#define WORKER_LINE_MAX 1024

enum pin_ns { PIN_NET, PIN_IPC, PIN_UTS, PIN_PID, PIN_USER, PIN_MAX };

static const char *const ns_names[PIN_MAX] = {"net", "ipc", "uts", "pid", "user"};
static const int ns_flags[PIN_MAX] = {CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWPID,
				      CLONE_NEWUSER};

struct pinns {
	const char *dir;
	bool want[PIN_MAX];
	const char *hostname;
	const char *sysctls[MAX_SYSCTLS];
	size_t n_sysctls;
	const char *uidmap, *gidmap; /* "C:H:L" */
	bool worker;		     /* this is the worker inside the user namespace */
	/* progress, for the rollback */
	bool created_dir;
	bool pinned[PIN_MAX];
	pid_t init_pid;
	pid_t worker_pid; /* the child in the pod's user namespace (then the worker) */
	int worker_fd;	  /* our end of its socket; -1: none */
};

static int usage(struct berr **err)
{
	return berr_set(err, EINVAL,
			"usage: berth-pinns --dir DIR [--net] [--ipc] [--uts] [--pid] "
			"[--uidmap C:H:L --gidmap C:H:L] [--hostname NAME] [--sysctl KEY=VALUE]... "
			"| --pid-init");
}

/* "C:H:L" with C 0 (the pod's root), L > 0 and no overflow (berthd checked the
 * request; this is the helper's own guard). */
static int check_map(const char *what, const char *m, struct berr **err)
{
	unsigned long long c, h, l;
	char tail;
	if (sscanf(m, "%llu:%llu:%llu%c", &c, &h, &l, &tail) != 3 || c != 0 || l == 0 ||
	    h + l > UINT32_MAX || c + l > UINT32_MAX)
		return berr_set(err, EINVAL,
				"%s '%s' is not 0:HOST:LENGTH within the 32-bit id range", what, m);
	return 0;
}

static int parse_args(struct pinns *p, int argc, char **argv, struct berr **err)
{
	int i = 1;
	if (argc > 1 && !strcmp(argv[1], "--worker")) {
		p->worker = true;
		i = 2;
	}
	for (; i < argc; i++) {
		const char *a = argv[i];
		bool has_val = i + 1 < argc;
		if (!strcmp(a, "--dir") && has_val) {
			p->dir = argv[++i];
		} else if (!strcmp(a, "--uidmap") && has_val) {
			p->uidmap = argv[++i];
		} else if (!strcmp(a, "--gidmap") && has_val) {
			p->gidmap = argv[++i];
		} else if (!strcmp(a, "--hostname") && has_val) {
			p->hostname = argv[++i];
		} else if (!strcmp(a, "--sysctl") && has_val) {
			if (p->n_sysctls == MAX_SYSCTLS)
				return berr_set(err, E2BIG, "too many sysctls (> %d)", MAX_SYSCTLS);
			p->sysctls[p->n_sysctls++] = argv[++i];
		} else {
			bool found = false;
			for (int n = 0; n < PIN_USER; n++) {
				if (a[0] == '-' && a[1] == '-' && !strcmp(a + 2, ns_names[n])) {
					p->want[n] = true;
					found = true;
				}
			}
			if (!found)
				return usage(err);
		}
	}
	if (!p->dir || p->dir[0] != '/')
		return berr_set(err, EINVAL, "--dir must be an absolute path");
	if (p->hostname && !p->want[PIN_UTS])
		return berr_set(err, EINVAL, "--hostname needs --uts");
	if (p->hostname && (strlen(p->hostname) == 0 || strlen(p->hostname) > 64))
		return berr_set(err, EINVAL, "hostname '%s' must have 1..64 chars", p->hostname);
	if (!p->uidmap != !p->gidmap)
		return berr_set(err, EINVAL, "--uidmap and --gidmap go together");
	if (p->uidmap) {
		int r = check_map("--uidmap", p->uidmap, err);
		if (r == 0)
			r = check_map("--gidmap", p->gidmap, err);
		if (r < 0)
			return r;
		p->want[PIN_USER] = true;
	}
	return 0;
}

/* Which pinned namespace a sysctl belongs to (common/sysctl.h); -1 for one that is not
 * namespaced (it would change the host). */
static int sysctl_ns(const char *key)
{
	switch (sysctl_ns_of(key)) {
	case SYSCTL_NS_NET:
		return PIN_NET;
	case SYSCTL_NS_IPC:
		return PIN_IPC;
	default:
		return -1;
	}
}

/* Splits "KEY=VALUE", checks that KEY is namespaced in a namespace we create,
 * and returns the /proc/sys path. KEY may use '.' or '/' as separator. */
static int sysctl_path(const struct pinns *p, const char *kv, char **ret_path,
		       const char **ret_value, struct berr **err)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return berr_set(err, EINVAL, "sysctl '%s' is not KEY=VALUE", kv);
	_cleanup_free_ char *key = xstrndup(kv, (size_t)(eq - kv));
	bool slashes = strchr(key, '/') != NULL;
	for (char *c = key; *c; c++) {
		if (slashes && *c == '/')
			*c = '.';
		else if (!slashes && *c == '.')
			continue;
		else if (!(*c == '_' || *c == '-' || (*c >= 'a' && *c <= 'z') ||
			   (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
			return berr_set(err, EINVAL, "sysctl key '%s' has an invalid char", key);
	}
	if (strstr(key, "..") || key[strlen(key) - 1] == '.')
		return berr_set(err, EINVAL, "sysctl key '%s' is malformed", key);
	int ns = sysctl_ns(key);
	if (ns < 0)
		return berr_set(err, EINVAL, "sysctl '%s' is not namespaced", key);
	if (!p->want[ns])
		return berr_set(err, EINVAL, "sysctl '%s' needs a private %s namespace", key,
				ns_names[ns]);
	if (strlen(eq + 1) > MAX_SYSCTL_VALUE || strchr(eq + 1, '\n'))
		return berr_set(err, EINVAL, "sysctl '%s' has an invalid value", key);
	for (char *c = key; *c; c++) {
		if (*c == '.')
			*c = '/';
	}
	*ret_path = xasprintf("/proc/sys/%s", key);
	*ret_value = eq + 1;
	return 0;
}

static int check_sysctls(const struct pinns *p, struct berr **err)
{
	for (size_t i = 0; i < p->n_sysctls; i++) {
		_cleanup_free_ char *path = NULL;
		const char *value;
		int r = sysctl_path(p, p->sysctls[i], &path, &value, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Runs in the new namespaces: /proc/sys/net and the IPC sysctls resolve to
 * the namespaces of the task that opens them. */
static int apply_sysctls(const struct pinns *p, struct berr **err)
{
	for (size_t i = 0; i < p->n_sysctls; i++) {
		_cleanup_free_ char *path = NULL;
		const char *value;
		int r = sysctl_path(p, p->sysctls[i], &path, &value, err);
		if (r < 0)
			return r;
		_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return berr_set_errno(err, errno, "sysctl '%s'", p->sysctls[i]);
		r = fileio_write_all(fd, value, strlen(value));
		if (r < 0)
			return berr_set_errno(err, -r, "sysctl '%s'", p->sysctls[i]);
	}
	return 0;
}

/* Makes root a shared mount point of its own (see the top comment). */
static int prepare_root(const char *root, struct berr **err)
{
	int r = fileio_mkdir_p(root, 0711, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *lock = xasprintf("%s/.lock", root);
	_cleanup_close_ int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return berr_set_errno(err, errno, "open '%s'", lock);
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR)
			return berr_set_errno(err, errno, "lock '%s'", lock);
	}
	bool bound = false;
	/* MS_SHARED fails with EINVAL on a path that is not a mount point. */
	while (mount(NULL, root, NULL, MS_SHARED | MS_REC, NULL) < 0) {
		if (errno != EINVAL || bound)
			return berr_set_errno(err, errno, "make '%s' shared", root);
		if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0)
			return berr_set_errno(err, errno, "bind '%s' onto itself", root);
		bound = true;
	}
	return 0;
}

static int pin(struct pinns *p, enum pin_ns ns, const char *source, struct berr **err)
{
	_cleanup_free_ char *target = xasprintf("%s/%s", p->dir, ns_names[ns]);
	_cleanup_close_ int fd = open(target, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0)
		return berr_set_errno(err, errno, "create '%s'", target);
	if (mount(source, target, NULL, MS_BIND, NULL) < 0) {
		int e = errno;
		unlink(target);
		return berr_set_errno(err, e, "bind '%s' to '%s'", source, target);
	}
	p->pinned[ns] = true;
	return 0;
}

static void rollback(struct pinns *p)
{
	if (p->init_pid > 0) {
		kill(p->init_pid, SIGKILL);
		/* the worker's child, not ours: waitpid() fails with ECHILD there */
		(void)waitpid(p->init_pid, NULL, 0);
	}
	if (p->worker_pid > 0) {
		kill(p->worker_pid, SIGKILL);
		(void)waitpid(p->worker_pid, NULL, 0);
	}
	for (int ns = 0; ns < PIN_MAX; ns++) {
		if (!p->pinned[ns])
			continue;
		_cleanup_free_ char *target = xasprintf("%s/%s", p->dir, ns_names[ns]);
		(void)umount2(target, MNT_DETACH);
		(void)unlink(target);
	}
	if (p->created_dir)
		(void)rmdir(p->dir);
}

/* PID 1 of the pod's PID namespace. The kernel drops signals that PID 1 of a
 * namespace has no handler for, so TERM, INT and CHLD get one; they stay
 * blocked and are taken with sigwaitinfo(). */
static void on_signal(int sig)
{
	(void)sig;
}

static _Noreturn void pid_init(void)
{
	/* exec'd as /proc/self/exe, whose comm would read "exe" in ps */
	prctl(PR_SET_NAME, "berth-pod-init");
	sigset_t set;
	sigfillset(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	const char ready = INIT_READY;
	(void)!write(INIT_REPORT_FD, &ready, 1);
	close(INIT_REPORT_FD);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);
		if (sig == SIGTERM || sig == SIGINT)
			_exit(0);
		if (sig == SIGCHLD) {
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
		}
	}
}

/* Child of fork() after unshare(CLONE_NEWPID): detaches and execs the init
 * with the report pipe on fd 3. Only async-signal-safe calls. A failure before
 * or at exec sends its errno (an int) through the pipe; the init sends one
 * byte once its signal handlers are in place (before that, a SIGTERM from
 * our PID namespace would be dropped, see pid_init()). */
static _Noreturn void init_child(int report_fd)
{
	int e = 0;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || setsid() < 0 || chdir("/") < 0) {
		e = errno;
		goto err_report;
	}
	/* dup2() clears FD_CLOEXEC on the copy; a pipe already at 3 needs it
	 * cleared by hand. */
	if (report_fd == INIT_REPORT_FD ? fcntl(report_fd, F_SETFD, 0) < 0
					: dup2(report_fd, INIT_REPORT_FD) < 0) {
		e = errno;
		goto err_report;
	}
	if (dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0) {
		e = errno;
		goto err_report;
	}
	char *const argv[] = {"berth-pod-init", "--pid-init", NULL};
	char *const envp[] = {NULL};
	execve("/proc/self/exe", argv, envp);
	e = errno;
err_report:
	(void)!write(report_fd, &e, sizeof(e));
	_exit(127);
}

/* Waits for the init's ready byte or an errno; EOF means it died first. */
static int wait_init_ready(int fd, struct berr **err)
{
	char buf[sizeof(int)];
	size_t got = 0;
	for (;;) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return berr_set_errno(err, errno, "read from pod init");
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == 1 && buf[0] == INIT_READY)
			return 0;
		if (got == sizeof(buf))
			break;
	}
	if (got == sizeof(int)) {
		int e;
		memcpy(&e, buf, sizeof(e));
		return berr_set_errno(err, e > 0 ? e : EIO, "start pod init");
	}
	return berr_set(err, EIO, "pod init exited before it was ready");
}

static int start_init(struct pinns *p, struct berr **err)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return berr_set_errno(err, errno, "pipe");
	if (unshare(CLONE_NEWPID) < 0) {
		int e = errno;
		close(fds[0]);
		close(fds[1]);
		return berr_set_errno(err, e, "unshare pid namespace");
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(fds[0]);
		close(fds[1]);
		return berr_set_errno(err, e, "fork pod init");
	}
	if (pid == 0)
		init_child(fds[1]);
	close(fds[1]);
	p->init_pid = pid;
	int r = wait_init_ready(fds[0], err);
	close(fds[0]);
	return r;
}

/* The net, IPC and UTS namespaces, hostname, sysctls and the PID init, made by the
 * calling process (this one, or the worker inside the pod's user namespace). */
static int make_namespaces(struct pinns *p, struct berr **err)
{
	int flags = 0;
	for (int ns = PIN_NET; ns <= PIN_UTS; ns++) {
		if (p->want[ns])
			flags |= ns_flags[ns];
	}
	if (flags && unshare(flags) < 0)
		return berr_set_errno(err, errno, "unshare namespaces");
	if (p->hostname && sethostname(p->hostname, strlen(p->hostname)) < 0)
		return berr_set_errno(err, errno, "set hostname '%s'", p->hostname);
	int r = apply_sysctls(p, err);
	/* Last, so the init lives in the pod's net, IPC and UTS namespaces too. */
	if (r == 0 && p->want[PIN_PID])
		r = start_init(p, err);
	return r;
}

/* Child of fork() that becomes the worker: only async-signal-safe calls. It
 * unshares the user namespace, waits for CHILD_GO (its maps are written), takes
 * uid and gid 0 there (so the exec keeps every capability in it) and execs the
 * worker with the socket on WORKER_FD. A failure sends CHILD_FAILED and errno. */
static _Noreturn void userns_child(int fd, char *const *argv)
{
	char c = CHILD_UNSHARED;
	int e = 0;
	if (unshare(CLONE_NEWUSER) < 0) {
		e = errno;
		goto err_report;
	}
	if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1 || c != CHILD_GO)
		_exit(127);
	if (setresgid(0, 0, 0) < 0 || setgroups(0, NULL) < 0 || setresuid(0, 0, 0) < 0) {
		e = errno;
		goto err_report;
	}
	if (fd == WORKER_FD ? fcntl(fd, F_SETFD, 0) < 0 : dup2(fd, WORKER_FD) < 0) {
		e = errno;
		goto err_report;
	}
	char *const envp[] = {NULL};
	execve("/proc/self/exe", argv, envp);
	e = errno;
err_report:
	c = CHILD_FAILED;
	(void)!write(fd, &c, 1);
	(void)!write(fd, &e, sizeof(e));
	_exit(127);
}

static int read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = read(fd, (char *)buf + got, n - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EPIPE;
		got += (size_t)k;
	}
	return 0;
}

/* CHILD_FAILED + errno from the child, read after its tag byte. */
static int child_failed(int fd, const char *what, struct berr **err)
{
	int e = 0;
	if (read_full(fd, &e, sizeof(e)) < 0 || e <= 0)
		e = EIO;
	return berr_set_errno(err, e, "%s", what);
}

static int write_map(pid_t pid, const char *file, const char *map, struct berr **err)
{
	unsigned long long c, h, l;
	sscanf(map, "%llu:%llu:%llu", &c, &h, &l);
	_cleanup_free_ char *path = xasprintf("/proc/%d/%s", (int)pid, file);
	_cleanup_free_ char *line = xasprintf("%llu %llu %llu\n", c, h, l);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return berr_set_errno(err, errno, "open '%s'", path);
	/* one write(2): the kernel takes a map only whole, and only once */
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line))
		return berr_set_errno(err, errno, "write %s '%s'", file, map);
	return 0;
}

/* The worker's report line: "ready <init pid>" or "error <errno> <message>". */
static int worker_report(struct pinns *p, struct berr **err)
{
	char line[WORKER_LINE_MAX];
	size_t n = 0;
	for (;;) {
		ssize_t k = read(p->worker_fd, line + n, 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return berr_set(err, EIO, "the pod's user namespace worker exited early");
		if (n == 0 && line[0] == CHILD_FAILED)
			return child_failed(p->worker_fd, "start the user namespace worker", err);
		if (line[n] == '\n' || n + 1 == sizeof(line))
			break;
		n++;
	}
	line[n] = '\0';
	long pid = 0;
	int e = 0, off = 0;
	if (sscanf(line, "ready %ld", &pid) == 1) {
		p->init_pid = (pid_t)pid;
		return 0;
	}
	if (sscanf(line, "error %d %n", &e, &off) == 1 && off > 0)
		return berr_set(err, e > 0 && e < 256 ? e : EIO, "in the pod's user namespace: %s",
				line + off);
	return berr_set(err, EPROTO, "bad report '%s' from the user namespace worker", line);
}

/* The pod's user namespace and, through the worker, the namespaces it owns. */
static int make_in_userns(struct pinns *p, char **argv, struct berr **err)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return berr_set_errno(err, errno, "socketpair");
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		return berr_set_errno(err, e, "fork");
	}
	if (pid == 0)
		userns_child(sv[1], argv);
	close(sv[1]);
	p->worker_pid = pid;
	p->worker_fd = sv[0];
	char c = 0;
	if (read_full(p->worker_fd, &c, 1) < 0)
		return berr_set(err, EIO, "the user namespace child exited early");
	if (c == CHILD_FAILED)
		return child_failed(p->worker_fd, "unshare user namespace", err);
	int r = write_map(pid, "uid_map", p->uidmap, err);
	if (r == 0)
		r = write_map(pid, "gid_map", p->gidmap, err);
	_cleanup_free_ char *src = xasprintf("/proc/%d/ns/user", (int)pid);
	if (r == 0)
		r = pin(p, PIN_USER, src, err);
	c = CHILD_GO;
	if (r == 0 && write(p->worker_fd, &c, 1) != 1)
		r = berr_set_errno(err, errno, "start the user namespace worker");
	return r < 0 ? r : worker_report(p, err);
}

static int run(struct pinns *p, char **worker_argv, struct berr **err)
{
	int r = check_sysctls(p, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *root = xstrdup(p->dir);
	char *slash = strrchr(root, '/');
	if (slash == root)
		return berr_set(err, EINVAL, "--dir '%s' must not be directly under /", p->dir);
	*slash = '\0';
	r = prepare_root(root, err);
	if (r < 0)
		return r;
	if (mkdir(p->dir, 0711) == 0)
		p->created_dir = true;
	else if (errno != EEXIST)
		return berr_set_errno(err, errno, "mkdir '%s'", p->dir);

	r = p->want[PIN_USER] ? make_in_userns(p, worker_argv, err) : make_namespaces(p, err);
	if (r < 0)
		return r;
	pid_t src_pid = p->want[PIN_USER] ? p->worker_pid : getpid();
	for (int ns = PIN_NET; ns <= PIN_UTS && r == 0; ns++) {
		if (!p->want[ns])
			continue;
		_cleanup_free_ char *src = xasprintf("/proc/%d/ns/%s", (int)src_pid, ns_names[ns]);
		r = pin(p, ns, src, err);
	}
	if (r == 0 && p->want[PIN_PID]) {
		_cleanup_free_ char *src = xasprintf("/proc/%d/ns/pid", (int)p->init_pid);
		r = pin(p, PIN_PID, src, err);
	}
	if (r == 0 && p->worker_pid > 0) {
		/* EOF lets the worker exit; its init is reparented as ours would be */
		close(p->worker_fd);
		p->worker_fd = -1;
		int st = 0;
		while (waitpid(p->worker_pid, &st, 0) < 0 && errno == EINTR)
			;
		p->worker_pid = 0;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			r = berr_set(err, EIO, "the user namespace worker failed at exit");
	}
	return r;
}

/* berth-pinns --worker: runs in the pod's user namespace as its root (see the top
 * comment) and reports on WORKER_FD; the pins are the parent's. */
static _Noreturn void worker_main(struct pinns *p)
{
	_cleanup_berr_ struct berr *err = NULL;
	int r = make_namespaces(p, &err);
	char line[WORKER_LINE_MAX];
	if (r == 0)
		snprintf(line, sizeof(line), "ready %d\n", (int)p->init_pid);
	else
		snprintf(line, sizeof(line), "error %d %s\n", err ? err->code : EIO, berr_msg(err));
	if (write(WORKER_FD, line, strlen(line)) == (ssize_t)strlen(line) && r == 0) {
		char c;
		/* until the parent has pinned our namespaces and closes its end */
		for (;;) {
			ssize_t k = read(WORKER_FD, &c, 1);
			if (k == 0 || (k < 0 && errno != EINTR))
				break;
		}
		_exit(0);
	}
	if (p->init_pid > 0)
		kill(p->init_pid, SIGKILL);
	_exit(r < 0 && err && err->code > 0 && err->code < 256 ? err->code : EIO);
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--pid-init"))
		pid_init();

	struct pinns p = {.worker_fd = -1};
	_cleanup_berr_ struct berr *err = NULL;
	int r = parse_args(&p, argc, argv, &err);
	if (r == 0 && p.worker) {
		if (p.want[PIN_USER])
			p.want[PIN_USER] = false; /* it is in the user namespace already */
		worker_main(&p);
	}
	/* the worker's argv: ours behind --worker */
	_cleanup_free_ char **wargv = xcalloc((size_t)argc + 2, sizeof(char *));
	wargv[0] = "berth-pinns";
	wargv[1] = "--worker";
	for (int i = 1; i < argc; i++)
		wargv[i + 1] = argv[i];
	if (r == 0)
		r = run(&p, wargv, &err);
	if (r == 0) {
		for (int ns = 0; ns < PIN_MAX; ns++) {
			if (p.pinned[ns])
				printf("%s %s/%s\n", ns_names[ns], p.dir, ns_names[ns]);
		}
		if (p.init_pid > 0)
			printf("init-pid %d\n", (int)p.init_pid);
		if (fflush(stdout) == 0)
			_exit(0);
		r = berr_set_errno(&err, errno, "write result");
	}
	rollback(&p);
	fprintf(stderr, "berth-pinns: %s\n", berr_msg(err));
	/* _exit, not return: after unshare(CLONE_NEWPID) every new task lands in
	 * the pod's PID namespace, and exit-time handlers that clone (LeakSanitizer
	 * in the ASan build) would hang there. */
	_exit(err && err->code > 0 && err->code < 256 ? err->code : EIO);
}
