/* SPDX-License-Identifier: Apache-2.0 */
/* Pinned pod namespaces (through berth-pinns), netns_run(), and the loopback
 * and address queries over rtnetlink. */
#include "netns/netns.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/spawn.h"

#define PINNS_TIMEOUT_MS 30000
#define PINNS_MAX_OUT	 (64 * 1024)
#define MAX_SYSCTLS	 256

static const char *const pin_names[] = {"net", "ipc", "uts", "pid", "user"};

void netns_pins_done(struct netns_pins *p)
{
	free(p->net);
	free(p->ipc);
	free(p->uts);
	free(p->pid);
	free(p->user);
	memset(p, 0, sizeof(*p));
}

/* ---- netns_run ---- */

struct run_ctx {
	int fd;
	netns_fn fn;
	void *arg;
	struct berr *err;
	int r;
};

/* The thread that changed namespace exits right after fn, so no pooled thread
 * ever runs in a pod's namespace (style §6). */
static void *run_thread(void *p)
{
	struct run_ctx *c = p;
	if (setns(c->fd, 0) < 0)
		c->r = berr_set_errno(&c->err, errno, "setns");
	else
		c->r = c->fn(c->arg, &c->err);
	return NULL;
}

int netns_run(const char *path, netns_fn fn, void *arg, struct berr **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return berr_set_errno(err, errno, "open namespace '%s'", path);
	struct run_ctx c = {.fd = fd, .fn = fn, .arg = arg};
	pthread_t t;
	int e = pthread_create(&t, NULL, run_thread, &c);
	if (e != 0)
		return berr_set_errno(err, e, "create thread for '%s'", path);
	pthread_join(t, NULL);
	if (c.r < 0) {
		if (!c.err)
			return berr_set(err, -c.r, "in namespace '%s'", path);
		berr_move(err, &c.err);
		berr_wrap(err, "in namespace '%s'", path);
		return c.r;
	}
	berr_free(c.err);
	return c.r;
}

/* ---- netlink ---- */

static int nl_errno(int nle)
{
	switch (-nle) {
	case NLE_OBJ_NOTFOUND:
		return ENOENT;
	case NLE_NODEV:
		return ENODEV;
	case NLE_PERM:
		return EPERM;
	case NLE_NOMEM:
		xalloc_die();
	default:
		return EIO;
	}
}

static int nl_open_here(void *arg, struct berr **err)
{
	struct nl_sock **ret = arg;
	struct nl_sock *s = nl_socket_alloc();
	if (!s)
		xalloc_die();
	/* libnl creates the socket with SOCK_CLOEXEC. */
	int r = nl_connect(s, NETLINK_ROUTE);
	if (r < 0) {
		nl_socket_free(s);
		return berr_set(err, nl_errno(r), "netlink connect: %s", nl_geterror(r));
	}
	*ret = s;
	return 0;
}

int netns_nl_open(const char *path, struct nl_sock **ret, struct berr **err)
{
	struct nl_sock *s = NULL;
	int r = path ? netns_run(path, nl_open_here, &s, err) : nl_open_here(&s, err);
	if (r < 0)
		return r;
	*ret = s;
	return 0;
}

void netns_nl_close(struct nl_sock *s)
{
	if (s)
		nl_socket_free(s);
}

DEFINE_CLEANUP_FUNC(struct nl_sock *, netns_nl_close)
DEFINE_CLEANUP_FUNC(struct rtnl_link *, rtnl_link_put)
DEFINE_CLEANUP_FUNC(struct nl_cache *, nl_cache_free)

int netns_lo_up(const char *path, struct berr **err)
{
	_cleanup_(netns_nl_closep) struct nl_sock *s = NULL;
	int r = netns_nl_open(path, &s, err);
	if (r < 0)
		return r;
	_cleanup_(rtnl_link_putp) struct rtnl_link *lo = NULL;
	r = rtnl_link_get_kernel(s, 0, "lo", &lo);
	if (r < 0)
		return berr_set(err, nl_errno(r), "get link 'lo': %s", nl_geterror(r));
	_cleanup_(rtnl_link_putp) struct rtnl_link *change = rtnl_link_alloc();
	if (!change)
		xalloc_die();
	rtnl_link_set_flags(change, IFF_UP);
	r = rtnl_link_change(s, lo, change, 0);
	if (r < 0)
		return berr_set(err, nl_errno(r), "set 'lo' up: %s", nl_geterror(r));
	return 0;
}

struct addr_list {
	int ifindex;
	struct netns_addr *v;
	size_t n;
};

static void addr_collect(struct nl_object *o, void *arg)
{
	struct addr_list *l = arg;
	struct rtnl_addr *a = (struct rtnl_addr *)o;
	if (l->ifindex > 0 && rtnl_addr_get_ifindex(a) != l->ifindex)
		return;
	struct nl_addr *local = rtnl_addr_get_local(a);
	int fam = rtnl_addr_get_family(a);
	if (!local || (fam != AF_INET && fam != AF_INET6))
		return;
	struct netns_addr out = {.family = fam, .prefixlen = rtnl_addr_get_prefixlen(a)};
	if (!inet_ntop(fam, nl_addr_get_binary_addr(local), out.addr, sizeof(out.addr)))
		return;
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = out;
}

int netns_addrs(const char *path, const char *ifname, struct netns_addr **ret, size_t *ret_n,
		struct berr **err)
{
	_cleanup_(netns_nl_closep) struct nl_sock *s = NULL;
	int r = netns_nl_open(path, &s, err);
	if (r < 0)
		return r;
	struct addr_list l = {0};
	if (ifname) {
		_cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL;
		r = rtnl_link_get_kernel(s, 0, ifname, &link);
		if (r < 0)
			return berr_set(err, r == -NLE_OBJ_NOTFOUND ? ENODEV : nl_errno(r),
					"get link '%s': %s", ifname, nl_geterror(r));
		l.ifindex = rtnl_link_get_ifindex(link);
	}
	_cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
	r = rtnl_addr_alloc_cache(s, &cache);
	if (r < 0)
		return berr_set(err, nl_errno(r), "dump addresses: %s", nl_geterror(r));
	nl_cache_foreach(cache, addr_collect, &l);
	/* stable partition: IPv4 first, each family in kernel order */
	struct netns_addr *sorted = xcalloc(l.n ? l.n : 1, sizeof(*sorted));
	size_t k = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < l.n; i++) {
			if ((l.v[i].family == AF_INET) == (pass == 0))
				sorted[k++] = l.v[i];
		}
	}
	free(l.v);
	*ret = sorted;
	*ret_n = l.n;
	return 0;
}

struct link_list {
	struct netns_link_stats *v;
	size_t n;
};

static void link_collect(struct nl_object *o, void *arg)
{
	struct link_list *l = arg;
	struct rtnl_link *link = (struct rtnl_link *)o;
	const char *name = rtnl_link_get_name(link);
	/* containerd's getAllContainerNetIO skips lo by name */
	if (!name || strcmp(name, "lo") == 0)
		return;
	struct netns_link_stats out = {
	    .rx_bytes = rtnl_link_get_stat(link, RTNL_LINK_RX_BYTES),
	    .rx_errors = rtnl_link_get_stat(link, RTNL_LINK_RX_ERRORS),
	    .tx_bytes = rtnl_link_get_stat(link, RTNL_LINK_TX_BYTES),
	    .tx_errors = rtnl_link_get_stat(link, RTNL_LINK_TX_ERRORS),
	};
	snprintf(out.name, sizeof(out.name), "%s", name);
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = out;
}

int netns_link_stats(const char *path, struct netns_link_stats **ret, size_t *ret_n,
		     struct berr **err)
{
	_cleanup_(netns_nl_closep) struct nl_sock *s = NULL;
	int r = netns_nl_open(path, &s, err);
	if (r < 0)
		return r;
	_cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
	r = rtnl_link_alloc_cache(s, AF_UNSPEC, &cache);
	if (r < 0)
		return berr_set(err, nl_errno(r), "dump links: %s", nl_geterror(r));
	struct link_list l = {0};
	nl_cache_foreach(cache, link_collect, &l);
	*ret = l.v ? l.v : xcalloc(1, sizeof(*l.v));
	*ret_n = l.n;
	return 0;
}

/* ---- pinning ---- */

static int pinns_error(const struct spawn_result *res, struct berr **err)
{
	if (res->timed_out)
		return berr_set(err, ETIMEDOUT, "berth-pinns timed out");
	_cleanup_free_ char *text = xstrdup(res->errout);
	size_t n = strlen(text);
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
		text[--n] = '\0';
	const char *msg = text;
	if (!strncmp(msg, "berth-pinns: ", 13))
		msg += 13;
	if (WIFEXITED(res->status) && WEXITSTATUS(res->status) != 0)
		return berr_set(err, WEXITSTATUS(res->status), "berth-pinns: %s",
				*msg ? msg : "failed");
	_cleanup_free_ char *st = spawn_status_str(res->status);
	return berr_set(err, EIO, "berth-pinns: %s%s%s", st, *msg ? ": " : "", msg);
}

/* Parses the "<ns> <path>" and "init-pid <pid>" lines of berth-pinns. */
static int pinns_parse(const struct netns_pin_opts *o, char *out, struct netns_pins *p,
		       struct berr **err)
{
	char *save = NULL;
	for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		if (!sp)
			return berr_set(err, EPROTO, "berth-pinns: bad output line '%s'", line);
		*sp++ = '\0';
		char **slot = !strcmp(line, "net")    ? &p->net
			      : !strcmp(line, "ipc")  ? &p->ipc
			      : !strcmp(line, "uts")  ? &p->uts
			      : !strcmp(line, "pid")  ? &p->pid
			      : !strcmp(line, "user") ? &p->user
						      : NULL;
		if (slot) {
			free(*slot);
			*slot = xstrdup(sp);
		} else if (!strcmp(line, "init-pid")) {
			char *end;
			long v = strtol(sp, &end, 10);
			if (*end || v <= 0 || v > INT32_MAX)
				return berr_set(err, EPROTO, "berth-pinns: bad init pid '%s'", sp);
			p->init_pid = (pid_t)v;
		}
	}
	if ((o->net && !p->net) || (o->ipc && !p->ipc) || (o->uts && !p->uts) ||
	    (o->pid && (!p->pid || p->init_pid <= 0)) || (o->uidmap && !p->user))
		return berr_set(err, EPROTO, "berth-pinns: incomplete output");
	return 0;
}

static int pin_run(const struct netns_pin_opts *o, struct netns_pins *p, struct berr **err)
{
	if (!o->dir || o->dir[0] != '/')
		return berr_set(err, EINVAL, "pin dir must be an absolute path");
	if (o->n_sysctls > MAX_SYSCTLS)
		return berr_set(err, E2BIG, "too many sysctls (%zu > %d)", o->n_sysctls,
				MAX_SYSCTLS);
	size_t max = 16 + 2 * o->n_sysctls;
	_cleanup_free_ const char **argv = xcalloc(max, sizeof(char *));
	size_t n = 0;
	const char *pinns = o->pinns ? o->pinns : BERTH_LIBEXECDIR "/berth-pinns";
	argv[n++] = "berth-pinns";
	argv[n++] = "--dir";
	argv[n++] = o->dir;
	const bool want[] = {o->net, o->ipc, o->uts, o->pid};
	const char *const flags[] = {"--net", "--ipc", "--uts", "--pid"};
	for (size_t i = 0; i < 4; i++) {
		if (want[i])
			argv[n++] = flags[i];
	}
	if (o->hostname) {
		argv[n++] = "--hostname";
		argv[n++] = o->hostname;
	}
	if (o->uidmap && o->gidmap) {
		argv[n++] = "--uidmap";
		argv[n++] = o->uidmap;
		argv[n++] = "--gidmap";
		argv[n++] = o->gidmap;
	}
	for (size_t i = 0; i < o->n_sysctls; i++) {
		argv[n++] = "--sysctl";
		argv[n++] = o->sysctls[i];
	}
	char *envp[] = {NULL};
	struct spawn_opts so = SPAWN_OPTS_INIT;
	so.path = pinns;
	so.argv = (char *const *)argv;
	so.envp = envp;
	struct spawn_result res;
	int r = spawn_run(&so, NULL, 0, PINNS_MAX_OUT,
			  o->timeout_ms > 0 ? o->timeout_ms : PINNS_TIMEOUT_MS, &res, err);
	if (r < 0)
		return r;
	if (res.timed_out || !WIFEXITED(res.status) || WEXITSTATUS(res.status) != 0)
		r = pinns_error(&res, err);
	else
		r = pinns_parse(o, res.out, p, err);
	spawn_result_done(&res);
	return r;
}

int netns_pin_pod(const struct netns_pin_opts *o, struct netns_pins *ret, struct berr **err)
{
	struct netns_pins p = {0};
	int r = pin_run(o, &p, err);
	if (r == 0 && p.init_pid > 0) {
		_cleanup_free_ char *file = xasprintf("%s/init-pid", o->dir);
		_cleanup_free_ char *text = xasprintf("%d\n", (int)p.init_pid);
		r = fileio_write_atomic(file, text, strlen(text), 0644, err);
	}
	if (r == 0 && p.net)
		r = netns_lo_up(p.net, err);
	if (r < 0) {
		/* berth-pinns undoes its own failures; this covers a timeout and our
		 * steps after it. */
		if (o->dir && o->dir[0] == '/')
			(void)netns_unpin(o->dir, NULL);
		netns_pins_done(&p);
		berr_wrap(err, "pin namespaces in '%s'", o->dir ? o->dir : "");
		return r;
	}
	*ret = p;
	return 0;
}

int netns_init_pid(const char *dir, pid_t *ret_pid, struct berr **err)
{
	_cleanup_free_ char *file = xasprintf("%s/init-pid", dir);
	_cleanup_free_ char *text = NULL;
	int r = fileio_read_all(file, 64, &text, NULL, err);
	if (r < 0)
		return r;
	char *end;
	long v = strtol(text, &end, 10);
	if (v <= 0 || v > INT32_MAX || (*end && *end != '\n'))
		return berr_set(err, EPROTO, "bad pid in '%s'", file);
	*ret_pid = (pid_t)v;
	return 0;
}

/* SIGKILL for the pod init, through a pidfd and only while the pid still names
 * a process in the pinned PID namespace (pids are reused). Its death makes the
 * kernel kill everything else in that namespace. */
int netns_stop_init(const char *dir, struct berr **err)
{
	pid_t pid;
	_cleanup_berr_ struct berr *e = NULL;
	int r = netns_init_pid(dir, &pid, &e);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return berr_move(err, &e);
	_cleanup_free_ char *pin = xasprintf("%s/pid", dir);
	struct stat ns;
	if (stat(pin, &ns) < 0)
		return 0;
	_cleanup_close_ int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0)
		return 0; /* gone */
	_cleanup_free_ char *proc = xasprintf("/proc/%d/ns/pid", (int)pid);
	struct stat cur;
	if (stat(proc, &cur) < 0 || cur.st_ino != ns.st_ino || cur.st_dev != ns.st_dev)
		return 0;
	if (syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
		return berr_set_errno(err, errno, "kill pod init %d", (int)pid);
	return 0;
}

/* Is path a mount point (its mount ID differs from its parent's)? */
static int is_mount_point(const char *path, bool *ret, struct berr **err)
{
	struct statx a, b;
	_cleanup_free_ char *parent = xasprintf("%s/..", path);
	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &a) < 0)
		return berr_set_errno(err, errno, "stat '%s'", path);
	if (statx(AT_FDCWD, parent, 0, STATX_MNT_ID, &b) < 0)
		return berr_set_errno(err, errno, "stat '%s'", parent);
	if (!(a.stx_mask & STATX_MNT_ID) || !(b.stx_mask & STATX_MNT_ID))
		return berr_set(err, EOPNOTSUPP, "no mount id for '%s'", path);
	*ret = a.stx_mnt_id != b.stx_mnt_id;
	return 0;
}

int netns_pin_root_release(const char *root, struct berr **err)
{
	_cleanup_free_ char *lock = xasprintf("%s/.lock", root);
	_cleanup_close_ int fd = open(lock, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : berr_set_errno(err, errno, "open '%s'", lock);
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return berr_set_errno(err, errno, "lock '%s'", lock);
	DIR *d = opendir(root);
	if (!d)
		return berr_set_errno(err, errno, "open '%s'", root);
	bool pods = false;
	struct dirent *de;
	while (!pods && (de = readdir(d)))
		pods = strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		       strcmp(de->d_name, ".lock") != 0;
	closedir(d);
	bool mounted = false;
	int r = pods ? 0 : is_mount_point(root, &mounted, err);
	if (r < 0 || pods || !mounted)
		return r;
	/* detached: the .lock we hold open (and keep locked until we return) is in it */
	if (umount2(root, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
		return berr_set_errno(err, errno, "unmount '%s'", root);
	return 1;
}

int netns_unpin(const char *dir, struct berr **err)
{
	struct stat st;
	if (lstat(dir, &st) < 0)
		return errno == ENOENT ? 0 : berr_set_errno(err, errno, "stat '%s'", dir);
	int r = netns_stop_init(dir, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < sizeof(pin_names) / sizeof(pin_names[0]); i++) {
		_cleanup_free_ char *pin = xasprintf("%s/%s", dir, pin_names[i]);
		/* A pin may be stacked if a caller pinned twice; EINVAL means no
		 * mount (left) there, ENOENT no file. */
		for (int k = 0; k < 16; k++) {
			if (umount2(pin, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
				continue;
			if (errno == EINVAL || errno == ENOENT)
				break;
			return berr_set_errno(err, errno, "unmount '%s'", pin);
		}
		if (unlink(pin) < 0 && errno != ENOENT)
			return berr_set_errno(err, errno, "remove '%s'", pin);
	}
	_cleanup_free_ char *pidfile = xasprintf("%s/init-pid", dir);
	if (unlink(pidfile) < 0 && errno != ENOENT)
		return berr_set_errno(err, errno, "remove '%s'", pidfile);
	if (rmdir(dir) < 0 && errno != ENOENT)
		return berr_set_errno(err, errno, "remove '%s'", dir);
	return 0;
}
