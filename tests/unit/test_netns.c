/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of netns/: pinned namespaces through berth-pinns, the pod init,
 * netns_run, loopback and addresses over rtnetlink, pod files, /dev/shm and
 * the pod cgroup. Run as root against the real kernel, inside the private
 * namespaces of test_enter_private_namespaces(). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include "common/err.h"
#include "common/spawn.h"
#include "netns/netns.h"
#include "tests/unit/test_netns_common.h"

static char *tmpdir;

static int group_setup(void **state)
{
	char tpl[] = "/tmp/berth-test-netns-XXXXXX";
	if (!mkdtemp(tpl))
		return -1;
	tmpdir = xstrdup(tpl);
	return 0;
}

static char *cg_parent, *cg_path;

/* Also after a failed test: kills pod inits, unpins, removes cgroups. */
static int group_teardown(void **state)
{
	test_unpin_all(tmpdir);
	_cleanup_free_ char *relroot = xasprintf("%s/relroot", tmpdir);
	(void)umount2(relroot, MNT_DETACH); /* test_pin_root_release failed half way */
	if (cg_path)
		(void)netns_cgroup_remove(NULL, cg_path, NULL);
	if (cg_parent)
		(void)netns_cgroup_remove(NULL, cg_parent, NULL);
	free(cg_path);
	free(cg_parent);
	int r = fileio_remove_tree(tmpdir, NULL);
	free(tmpdir);
	return r;
}

/* Pins in tmpdir/ns/<name> with berth-pinns from the build tree. */
static int pin(const char *name, struct netns_pin_opts *o, struct netns_pins *ret,
	       struct berr **err)
{
	_cleanup_free_ char *dir = xasprintf("%s/ns/%s", tmpdir, name);
	o->dir = dir;
	o->pinns = TEST_PINNS;
	int r = netns_pin_pod(o, ret, err);
	o->dir = NULL;
	return r;
}

static char *pin_dir(const char *name)
{
	return xasprintf("%s/ns/%s", tmpdir, name);
}

/* Unpins and waits for the pod init (reparented to us, the subreaper). */
static void unpin(const char *name, struct netns_pins *p)
{
	_cleanup_free_ char *dir = pin_dir(name);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(netns_unpin(dir, &e), 0);
	if (p->init_pid > 0)
		(void)waitpid(p->init_pid, NULL, 0);
	netns_pins_done(p);
}

static void test_pin_unpin_leaves_nothing(void **state)
{
	struct netns_pin_opts o = {.net = true, .ipc = true, .uts = true};
	struct netns_pins p = {0};
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(pin("plain1", &o, &p, &e), 0);
	_cleanup_free_ char *dir = pin_dir("plain1");
	_cleanup_free_ char *net = xasprintf("%s/net", dir);
	assert_string_equal(p.net, net);
	assert_non_null(p.ipc);
	assert_non_null(p.uts);
	assert_null(p.pid);
	assert_int_equal(p.init_pid, 0);
	assert_true(test_is_mounted_under(net));
	/* the pin is an nsfs file of a network namespace other than ours */
	struct stat pinned, self;
	assert_int_equal(stat(net, &pinned), 0);
	assert_int_equal(stat("/proc/self/ns/net", &self), 0);
	assert_int_not_equal(pinned.st_ino, self.st_ino);

	assert_int_equal(netns_unpin(dir, &e), 0);
	assert_false(test_is_mounted_under(dir));
	assert_int_equal(access(dir, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	/* idempotent */
	assert_int_equal(netns_unpin(dir, &e), 0);
	netns_pins_done(&p);
}

/* Is path itself a mount point (field 5 of a mountinfo line)? */
static bool is_mount_point(const char *path)
{
	_cleanup_free_ char *mi = NULL;
	assert_int_equal(fileio_read_all("/proc/self/mountinfo", 16 << 20, &mi, NULL, NULL), 0);
	_cleanup_free_ char *needle = xasprintf(" %s ", path);
	for (char *line = mi; line && *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		/* skip "id parent major:minor root " to the mount point */
		char *f = line;
		for (int i = 0; i < 4 && f; i++)
			f = strchr(f + 1, ' ');
		if (f && strncmp(f, needle, strlen(needle)) == 0)
			return true;
	}
	return false;
}

static void test_pin_root_release(void **state)
{
	_cleanup_free_ char *root = xasprintf("%s/relroot", tmpdir);
	_cleanup_free_ char *dir = xasprintf("%s/p1", root);
	_cleanup_berr_ struct berr *e = NULL;
	/* nothing was ever pinned there: nothing to release */
	assert_int_equal(netns_pin_root_release(root, &e), 0);
	for (int round = 0; round < 2; round++) {
		struct netns_pin_opts o = {.dir = dir, .pinns = TEST_PINNS, .net = true};
		struct netns_pins p = {0};
		if (netns_pin_pod(&o, &p, &e) < 0)
			fail_msg("pin: %s", berr_msg(e));
		assert_true(is_mount_point(root));
		/* a pod is pinned: the root stays */
		assert_int_equal(netns_pin_root_release(root, &e), 0);
		assert_true(is_mount_point(root));
		assert_int_equal(netns_unpin(dir, &e), 0);
		netns_pins_done(&p);
		/* none left: unmounted, and a second call finds nothing to do */
		assert_int_equal(netns_pin_root_release(root, &e), 1);
		assert_false(is_mount_point(root));
		assert_int_equal(netns_pin_root_release(root, &e), 0);
	}
}

static int read_hostname(void *arg, struct berr **err)
{
	char *buf = arg;
	if (gethostname(buf, 65) < 0)
		return berr_set_errno(err, errno, "gethostname");
	return 0;
}

struct read_file_arg {
	const char *path;
	char *out;
};

static int read_file_in_ns(void *arg, struct berr **err)
{
	struct read_file_arg *a = arg;
	return fileio_read_all(a->path, 4096, &a->out, NULL, err);
}

static char *read_in_ns(const char *ns, const char *path)
{
	struct read_file_arg a = {.path = path};
	_cleanup_berr_ struct berr *e = NULL;
	int r = netns_run(ns, read_file_in_ns, &a, &e);
	if (r < 0)
		fail_msg("read '%s' in '%s': %s", path, ns, berr_msg(e));
	return a.out;
}

static void test_pin_hostname_and_sysctls(void **state)
{
	const char *sysctls[] = {"net.ipv4.ip_unprivileged_port_start=81", "kernel.shmmni=1234",
				 "fs.mqueue.msg_max=17"};
	struct netns_pin_opts o = {.net = true,
				   .ipc = true,
				   .uts = true,
				   .hostname = "pod-a",
				   .sysctls = sysctls,
				   .n_sysctls = 3};
	struct netns_pins p = {0};
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(pin("sysctl1", &o, &p, &e), 0);

	char host[66] = {0};
	assert_int_equal(netns_run(p.uts, read_hostname, host, &e), 0);
	assert_string_equal(host, "pod-a");
	_cleanup_free_ char *port =
	    read_in_ns(p.net, "/proc/sys/net/ipv4/ip_unprivileged_port_start");
	assert_string_equal(port, "81\n");
	_cleanup_free_ char *shm = read_in_ns(p.ipc, "/proc/sys/kernel/shmmni");
	assert_string_equal(shm, "1234\n");
	_cleanup_free_ char *mq = read_in_ns(p.ipc, "/proc/sys/fs/mqueue/msg_max");
	assert_string_equal(mq, "17\n");

	/* our own namespaces are untouched */
	char mine[66] = {0};
	gethostname(mine, sizeof(mine) - 1);
	assert_string_not_equal(mine, "pod-a");
	_cleanup_free_ char *own = NULL;
	assert_int_equal(fileio_read_all("/proc/sys/kernel/shmmni", 64, &own, NULL, &e), 0);
	assert_string_not_equal(own, "1234\n");

	/* the same, seen by a separate program through the pinned files */
	_cleanup_free_ char *net_arg = xasprintf("--net=%s", p.net);
	_cleanup_free_ char *uts_arg = xasprintf("--uts=%s", p.uts);
	char *argv[] = {"nsenter", net_arg,
			uts_arg,   "sh",
			"-c",	   "hostname; cat /proc/sys/net/ipv4/ip_unprivileged_port_start",
			NULL};
	struct spawn_opts so = SPAWN_OPTS_INIT;
	so.argv = argv;
	struct spawn_result res;
	assert_int_equal(spawn_run(&so, NULL, 0, 4096, 10000, &res, &e), 0);
	assert_string_equal(res.out, "pod-a\n81\n");
	spawn_result_done(&res);
	unpin("sysctl1", &p);
}

/* The user namespace of the pod owns the others: NS_GET_USERNS of each pin is
 * the pinned user namespace, whose maps are the ones asked for. */
static void test_pin_user_namespace_owns_the_others(void **state)
{
	const char *sysctls[] = {"net.ipv4.ip_unprivileged_port_start=82", "kernel.shmmni=1500"};
	struct netns_pin_opts o = {.net = true,
				   .ipc = true,
				   .uts = true,
				   .pid = true,
				   .hostname = "pod-u",
				   .sysctls = sysctls,
				   .n_sysctls = 2,
				   .uidmap = "0:3000000:65536",
				   .gidmap = "0:3100000:1000"};
	struct netns_pins p = {0};
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(pin("user1", &o, &p, &e), 0);
	_cleanup_free_ char *dir = pin_dir("user1");
	_cleanup_free_ char *user = xasprintf("%s/user", dir);
	assert_string_equal(p.user, user);
	struct stat us, self;
	assert_int_equal(stat(user, &us), 0);
	assert_int_equal(stat("/proc/self/ns/user", &self), 0);
	assert_int_not_equal(us.st_ino, self.st_ino);
	const char *owned[] = {p.net, p.ipc, p.uts, p.pid};
	for (size_t i = 0; i < 4; i++) {
		int fd = open(owned[i], O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		int ufd = ioctl(fd, NS_GET_USERNS);
		assert_true(ufd >= 0);
		struct stat o_st;
		assert_int_equal(fstat(ufd, &o_st), 0);
		assert_int_equal(o_st.st_ino, us.st_ino);
		close(ufd);
		close(fd);
	}
	/* the init runs as the pod's root: host ids 3000000 and 3100000 */
	_cleanup_free_ char *status = xasprintf("/proc/%d/status", (int)p.init_pid);
	_cleanup_free_ char *text = NULL;
	assert_int_equal(fileio_read_all(status, 1 << 16, &text, NULL, &e), 0);
	assert_non_null(strstr(text, "Uid:\t3000000\t3000000"));
	assert_non_null(strstr(text, "Gid:\t3100000\t3100000"));
	_cleanup_free_ char *map_path = xasprintf("/proc/%d/gid_map", (int)p.init_pid);
	_cleanup_free_ char *map = NULL;
	assert_int_equal(fileio_read_all(map_path, 4096, &map, NULL, &e), 0);
	unsigned in, out, len;
	assert_int_equal(sscanf(map, "%u %u %u", &in, &out, &len), 3);
	assert_true(in == 0 && out == 3100000 && len == 1000);
	/* hostname and sysctls were set inside */
	char host[66] = {0};
	assert_int_equal(netns_run(p.uts, read_hostname, host, &e), 0);
	assert_string_equal(host, "pod-u");
	_cleanup_free_ char *port =
	    read_in_ns(p.net, "/proc/sys/net/ipv4/ip_unprivileged_port_start");
	assert_string_equal(port, "82\n");
	_cleanup_free_ char *shm = read_in_ns(p.ipc, "/proc/sys/kernel/shmmni");
	assert_string_equal(shm, "1500\n");
	unpin("user1", &p);
	assert_false(test_is_mounted_under(dir));
	assert_int_equal(access(dir, F_OK), -1);
}

/* A failure inside the user namespace (a sysctl the kernel refuses there: ids
 * outside the mapping) and a bad map leave nothing: no pin, no dir, no init. */
static void test_pin_user_namespace_failures_leave_nothing(void **state)
{
	const char *bad[] = {"net.ipv4.ping_group_range=0 2147483647"};
	struct netns_pin_opts o = {.net = true,
				   .pid = true,
				   .sysctls = bad,
				   .n_sysctls = 1,
				   .uidmap = "0:3000000:65536",
				   .gidmap = "0:3000000:65536"};
	struct netns_pins p = {0};
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(pin("user2", &o, &p, &e), -EINVAL);
	assert_non_null(strstr(berr_msg(e), "in the pod's user namespace: sysctl "
					    "'net.ipv4.ping_group_range=0 2147483647'"));
	_cleanup_free_ char *dir = pin_dir("user2");
	assert_false(test_is_mounted_under(dir));
	assert_int_equal(access(dir, F_OK), -1);
	e = berr_free(e);
	struct netns_pin_opts o2 = {
	    .net = true, .uidmap = "1:3000000:65536", .gidmap = "0:3000000:65536"};
	assert_int_equal(pin("user3", &o2, &p, &e), -EINVAL);
	assert_non_null(strstr(berr_msg(e), "--uidmap '1:3000000:65536' is not 0:HOST:LENGTH"));
	_cleanup_free_ char *dir3 = pin_dir("user3");
	assert_int_equal(access(dir3, F_OK), -1);
}

static void test_pin_rejects_host_sysctls(void **state)
{
	const char *panic[] = {"kernel.panic=1"};
	struct netns_pin_opts o = {.net = true, .sysctls = panic, .n_sysctls = 1};
	struct netns_pins p = {0};
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(pin("bad1", &o, &p, &e), -EINVAL);
	assert_non_null(strstr(berr_msg(e), "sysctl 'kernel.panic' is not namespaced"));
	_cleanup_free_ char *dir = pin_dir("bad1");
	assert_int_equal(access(dir, F_OK), -1);

	/* a net sysctl with the host's network namespace would change the host */
	const char *net[] = {"net.ipv4.ip_forward=1"};
	struct netns_pin_opts o2 = {.ipc = true, .sysctls = net, .n_sysctls = 1};
	assert_int_equal(pin("bad2", &o2, &p, &e), -EINVAL);
	assert_non_null(strstr(berr_msg(e), "needs a private net namespace"));
	_cleanup_free_ char *dir2 = pin_dir("bad2");
	assert_false(test_is_mounted_under(dir2));
	assert_int_equal(access(dir2, F_OK), -1);

	struct netns_pin_opts o3 = {.ipc = true, .hostname = "x"};
	assert_int_equal(pin("bad3", &o3, &p, &e), -EINVAL);
	assert_non_null(strstr(berr_msg(e), "--hostname needs --uts"));
}

static char *proc_status_field(pid_t pid, const char *field)
{
	_cleanup_free_ char *path = xasprintf("/proc/%d/status", (int)pid);
	_cleanup_free_ char *text = NULL;
	if (fileio_read_all(path, 1 << 16, &text, NULL, NULL) < 0)
		return NULL;
	_cleanup_free_ char *key = xasprintf("\n%s:\t", field);
	char *p = strstr(text, key);
	if (!p)
		return NULL;
	p += strlen(key);
	return xstrndup(p, strcspn(p, "\n"));
}

struct children_arg {
	pid_t init;
	pid_t child;
};

static bool init_has_child(void *p)
{
	struct children_arg *a = p;
	_cleanup_free_ char *path =
	    xasprintf("/proc/%d/task/%d/children", (int)a->init, (int)a->init);
	_cleanup_free_ char *text = NULL;
	if (fileio_read_all(path, 4096, &text, NULL, NULL) < 0)
		return false;
	a->child = (pid_t)atoi(text);
	return a->child > 0;
}

static bool process_gone(void *p)
{
	pid_t pid = *(pid_t *)p;
	_cleanup_free_ char *path = xasprintf("/proc/%d", (int)pid);
	return access(path, F_OK) < 0;
}

static void test_pid_init_is_pid1_and_reaps(void **state)
{
	struct netns_pin_opts o = {.net = true, .ipc = true, .uts = true, .pid = true};
	struct netns_pins p = {0};
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(pin("pid1", &o, &p, &e), 0);
	assert_true(p.init_pid > 0);
	assert_non_null(p.pid);
	/* NSpid: our pid, then 1 in the pod's PID namespace */
	_cleanup_free_ char *nspid = proc_status_field(p.init_pid, "NSpid");
	_cleanup_free_ char *want = xasprintf("%d\t1", (int)p.init_pid);
	assert_string_equal(nspid, want);
	/* the pin names the init's PID namespace; the init is in the pod's netns */
	struct stat a, b;
	_cleanup_free_ char *ns = xasprintf("/proc/%d/ns/pid", (int)p.init_pid);
	assert_int_equal(stat(ns, &a), 0);
	assert_int_equal(stat(p.pid, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	_cleanup_free_ char *netns = xasprintf("/proc/%d/ns/net", (int)p.init_pid);
	assert_int_equal(stat(netns, &a), 0);
	assert_int_equal(stat(p.net, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	_cleanup_free_ char *comm_path = xasprintf("/proc/%d/comm", (int)p.init_pid);
	_cleanup_free_ char *comm = NULL;
	assert_int_equal(fileio_read_all(comm_path, 64, &comm, NULL, &e), 0);
	assert_string_equal(comm, "berth-pod-init\n");
	pid_t recorded = 0;
	_cleanup_free_ char *dir = pin_dir("pid1");
	assert_int_equal(netns_init_pid(dir, &recorded, &e), 0);
	assert_int_equal(recorded, p.init_pid);

	/* An orphan in the pod's PID namespace is reparented to the init, which
	 * reaps it once it exits: cat blocks on a pipe until we close it. */
	int fds[2];
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	_cleanup_free_ char *pid_arg = xasprintf("--pid=%s", p.pid);
	char *argv[] = {"nsenter", pid_arg, "sh", "-c", "cat <&3 >/dev/null & exit 0", NULL};
	struct spawn_opts so = SPAWN_OPTS_INIT;
	so.argv = argv;
	so.keep_fds = &fds[0];
	so.n_keep = 1;
	pid_t ns_pid;
	assert_int_equal(spawn_start(&so, &ns_pid, &e), 0);
	close(fds[0]);
	int st;
	assert_int_equal(spawn_wait(ns_pid, &st, &e), 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	struct children_arg ca = {.init = p.init_pid};
	assert_true(test_poll(init_has_child, &ca));
	close(fds[1]);
	assert_true(test_poll(process_gone, &ca.child));

	/* SIGTERM ends the init with status 0 (it was reparented to us) */
	assert_int_equal(kill(p.init_pid, SIGTERM), 0);
	assert_int_equal(waitpid(p.init_pid, &st, 0), p.init_pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	p.init_pid = 0;
	unpin("pid1", &p);
	assert_false(test_is_mounted_under(dir));
}

struct reaped {
	pid_t pid;
	int status;
};

static bool reaped(void *p)
{
	struct reaped *r = p;
	return waitpid(r->pid, &r->status, WNOHANG) == r->pid;
}

/* berth-pinns reports success only once the init has its handlers: a
 * SIGTERM sent right away is not dropped (PID 1 of a namespace ignores
 * signals it has no handler for). */
static void test_pid_init_takes_sigterm_at_once(void **state)
{
	for (int i = 0; i < 5; i++) {
		struct netns_pin_opts o = {.pid = true};
		struct netns_pins p = {0};
		_cleanup_berr_ struct berr *e = NULL;
		assert_int_equal(pin("pid3", &o, &p, &e), 0);
		assert_int_equal(kill(p.init_pid, SIGTERM), 0);
		struct reaped r = {.pid = p.init_pid};
		assert_true(test_poll(reaped, &r));
		assert_true(WIFEXITED(r.status));
		assert_int_equal(WEXITSTATUS(r.status), 0);
		p.init_pid = 0;
		unpin("pid3", &p);
	}
}

static void test_unpin_kills_init(void **state)
{
	struct netns_pin_opts o = {.pid = true};
	struct netns_pins p = {0};
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(pin("pid2", &o, &p, &e), 0);
	pid_t init = p.init_pid;
	_cleanup_free_ char *dir = pin_dir("pid2");
	assert_int_equal(netns_unpin(dir, &e), 0);
	int st;
	assert_int_equal(waitpid(init, &st, 0), init);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
	assert_int_equal(access(dir, F_OK), -1);
	netns_pins_done(&p);
}

struct flags_arg {
	short flags;
};

static int lo_flags(void *arg, struct berr **err)
{
	struct flags_arg *a = arg;
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = {0};
	strcpy(ifr.ifr_name, "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return berr_set_errno(err, errno, "SIOCGIFFLAGS");
	a->flags = ifr.ifr_flags;
	return 0;
}

static void test_lo_up_and_addrs(void **state)
{
	struct netns_pin_opts o = {.net = true};
	struct netns_pins p = {0};
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(pin("lo1", &o, &p, &e), 0);
	struct flags_arg fa = {0};
	assert_int_equal(netns_run(p.net, lo_flags, &fa, &e), 0);
	assert_true(fa.flags & IFF_UP);

	struct netns_addr *a = NULL;
	size_t n = 0;
	assert_int_equal(netns_addrs(p.net, "lo", &a, &n, &e), 0);
	assert_true(n >= 1);
	assert_int_equal(a[0].family, AF_INET);
	assert_string_equal(a[0].addr, "127.0.0.1");
	assert_int_equal(a[0].prefixlen, 8);
	for (size_t i = 1; i < n; i++) {
		assert_int_equal(a[i].family, AF_INET6);
		assert_string_equal(a[i].addr, "::1");
	}
	free(a);
	/* all interfaces: the same, as lo is the only one */
	assert_int_equal(netns_addrs(p.net, NULL, &a, &n, &e), 0);
	assert_string_equal(a[0].addr, "127.0.0.1");
	free(a);
	assert_int_equal(netns_addrs(p.net, "eth9", &a, &n, &e), -ENODEV);
	assert_non_null(strstr(berr_msg(e), "'eth9'"));
	unpin("lo1", &p);
}

static int fail_busy(void *arg, struct berr **err)
{
	return berr_set(err, EBUSY, "busy here");
}

static void test_netns_run_errors(void **state)
{
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(netns_run("/proc/self/ns/net", fail_busy, NULL, &e), -EBUSY);
	assert_string_equal(berr_msg(e), "in namespace '/proc/self/ns/net': busy here");
	assert_int_equal(netns_run("/nonexistent/ns", fail_busy, NULL, &e), -ENOENT);
	assert_non_null(strstr(berr_msg(e), "'/nonexistent/ns'"));
	/* a regular file is no namespace */
	_cleanup_free_ char *f = xasprintf("%s/plain", tmpdir);
	assert_int_equal(fileio_write_atomic(f, "x", 1, 0644, &e), 0);
	assert_int_equal(netns_run(f, fail_busy, NULL, &e), -EINVAL);
	assert_non_null(strstr(berr_msg(e), "setns"));
}

static void test_podfiles_hosts_exact(void **state)
{
	const char *ips[] = {"10.88.0.5", "fd00::5"};
	_cleanup_free_ char *h = netns_hosts_content("web-0", ips, 2);
	assert_string_equal(h, "127.0.0.1\tlocalhost\n"
			       "::1\tlocalhost ip6-localhost ip6-loopback\n"
			       "fe00::0\tip6-localnet\n"
			       "fe00::0\tip6-mcastprefix\n"
			       "fe00::1\tip6-allnodes\n"
			       "fe00::2\tip6-allrouters\n"
			       "10.88.0.5\tweb-0\n"
			       "fd00::5\tweb-0\n");
	_cleanup_free_ char *none = netns_hosts_content("web-1", NULL, 0);
	assert_non_null(strstr(none, "\n127.0.1.1\tweb-1\n"));
	_cleanup_free_ char *hn = netns_hostname_content("web-0");
	assert_string_equal(hn, "web-0\n");
}

static void test_podfiles_resolv_exact(void **state)
{
	static const struct {
		const char *servers[3], *searches[3], *options[3];
		size_t ns, nse, no;
		const char *want;
	} cases[] = {
	    {{"10.96.0.10"},
	     {"ns1.svc.cluster.local", "svc.cluster.local"},
	     {"ndots:5", "edns0"},
	     1,
	     2,
	     2,
	     "search ns1.svc.cluster.local svc.cluster.local\n"
	     "nameserver 10.96.0.10\n"
	     "options ndots:5 edns0\n"},
	    {{"1.1.1.1", "2606:4700::1111"},
	     {0},
	     {0},
	     2,
	     0,
	     0,
	     "nameserver 1.1.1.1\nnameserver 2606:4700::1111\n"},
	    {{0}, {"example.com"}, {"rotate"}, 0, 1, 1, "search example.com\noptions rotate\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct netns_dns d = {cases[i].servers, cases[i].ns,	  cases[i].searches,
				      cases[i].nse,	cases[i].options, cases[i].no};
		_cleanup_free_ char *out = NULL;
		_cleanup_berr_ struct berr *e = NULL;
		assert_int_equal(netns_resolv_content(&d, &out, &e), 0);
		assert_string_equal(out, cases[i].want);
	}
}

static void test_podfiles_resolv_rejects_bad_values(void **state)
{
	static const struct {
		const char *value;
		int kind; /* 0 server, 1 search, 2 option */
		const char *msg;
	} cases[] = {
	    {"10.0.0.1\nnameserver 6.6.6.6", 0, "contains whitespace"},
	    {"not-an-ip", 0, "dns server 'not-an-ip' is not an IP address"},
	    {"a b", 1, "dns search 'a b' contains whitespace"},
	    {"", 2, "dns option '' must have 1..253 chars"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *v[] = {cases[i].value};
		struct netns_dns d = {0};
		if (cases[i].kind == 0) {
			d.servers = v;
			d.n_servers = 1;
		} else if (cases[i].kind == 1) {
			d.searches = v;
			d.n_searches = 1;
		} else {
			d.options = v;
			d.n_options = 1;
		}
		_cleanup_free_ char *out = NULL;
		_cleanup_berr_ struct berr *e = NULL;
		assert_int_equal(netns_resolv_content(&d, &out, &e), -EINVAL);
		assert_non_null(strstr(berr_msg(e), cases[i].msg));
		assert_null(out);
	}
}

static char *read_text(const char *dir, const char *name)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
	char *t = NULL;
	assert_int_equal(fileio_read_all(p, 1 << 16, &t, NULL, NULL), 0);
	return t;
}

static void test_podfiles_write(void **state)
{
	_cleanup_berr_ struct berr *e = NULL;
	_cleanup_free_ char *host = xasprintf("%s/host-resolv.conf", tmpdir);
	const char *host_text = "# host\nnameserver 192.0.2.53\nsearch corp.example\n";
	assert_int_equal(fileio_write_atomic(host, host_text, strlen(host_text), 0644, &e), 0);
	_cleanup_free_ char *dir = xasprintf("%s/sandbox1", tmpdir);
	const char *ips[] = {"10.88.0.9"};
	struct netns_pod_files f = {
	    .dir = dir, .hostname = "pod-b", .ips = ips, .n_ips = 1, .host_resolv = host};
	/* no DNS config: the host's file is copied */
	assert_int_equal(netns_pod_files_write(&f, &e), 0);
	_cleanup_free_ char *rc = read_text(dir, "resolv.conf");
	assert_string_equal(rc, host_text);
	_cleanup_free_ char *hn = read_text(dir, "hostname");
	assert_string_equal(hn, "pod-b\n");
	_cleanup_free_ char *hosts = read_text(dir, "hosts");
	assert_non_null(strstr(hosts, "\n10.88.0.9\tpod-b\n"));

	const char *servers[] = {"10.96.0.10"};
	const char *searches[] = {"default.svc.cluster.local"};
	const char *options[] = {"ndots:5"};
	struct netns_dns d = {servers, 1, searches, 1, options, 1};
	f.dns = &d;
	assert_int_equal(netns_pod_files_write(&f, &e), 0);
	_cleanup_free_ char *rc2 = read_text(dir, "resolv.conf");
	assert_string_equal(rc2, "search default.svc.cluster.local\nnameserver 10.96.0.10\n"
				 "options ndots:5\n");

	f.hostname = "bad host";
	assert_int_equal(netns_pod_files_write(&f, &e), -EINVAL);
	assert_non_null(strstr(berr_msg(e), "hostname 'bad host'"));
}

static void test_shm_mount_unmount(void **state)
{
	_cleanup_berr_ struct berr *e = NULL;
	_cleanup_free_ char *shm = xasprintf("%s/sandbox2/shm", tmpdir);
	assert_int_equal(netns_shm_mount(shm, 0, &e), 0);
	struct statfs fs;
	assert_int_equal(statfs(shm, &fs), 0);
	assert_int_equal(fs.f_type, TMPFS_MAGIC);
	assert_int_equal((uint64_t)fs.f_blocks * fs.f_bsize, 64u << 20);
	assert_true(fs.f_flags & ST_NOEXEC);
	assert_true(fs.f_flags & ST_NODEV);
	assert_true(fs.f_flags & ST_NOSUID);
	struct stat st;
	assert_int_equal(stat(shm, &st), 0);
	assert_int_equal(st.st_mode & 07777, 01777);
	assert_int_equal(netns_shm_unmount(shm, &e), 0);
	assert_false(test_is_mounted_under(shm));
	assert_int_equal(access(shm, F_OK), -1);
	assert_int_equal(netns_shm_unmount(shm, &e), 0);

	assert_int_equal(netns_shm_mount(shm, 1 << 20, &e), 0);
	assert_int_equal(statfs(shm, &fs), 0);
	assert_int_equal((uint64_t)fs.f_blocks * fs.f_bsize, 1u << 20);
	assert_int_equal(netns_shm_unmount(shm, &e), 0);
}

static bool fs_is(const char *path, long magic)
{
	struct statfs fs;
	return statfs(path, &fs) == 0 && fs.f_type == magic;
}

static void test_cgroup_mode(void **state)
{
	enum netns_cg_mode m;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(netns_cgroup_mode(NULL, &m, &e), 0);
	enum netns_cg_mode want = fs_is("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC) ? NETNS_CG_V2
				  : fs_is("/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC)
				      ? NETNS_CG_HYBRID
				      : NETNS_CG_V1;
	assert_int_equal(m, want);
	assert_int_equal(netns_cgroup_mode("/nonexistent", &m, &e), -ENOENT);
}

static bool file_has_line(const char *path, const char *line)
{
	_cleanup_free_ char *t = NULL;
	if (fileio_read_all(path, 1 << 20, &t, NULL, NULL) < 0)
		return false;
	_cleanup_free_ char *needle = xasprintf("\n%s\n", line);
	_cleanup_free_ char *hay = xasprintf("\n%s", t);
	return strstr(hay, needle) != NULL;
}

static void test_cgroup_create_add_remove(void **state)
{
	_cleanup_berr_ struct berr *e = NULL;
	char id[ID_LEN + 1];
	assert_int_equal(id_generate(id, &e), 0);
	cg_parent = xasprintf("/berth-test-%.12s", id);
	cg_path = xasprintf("%s/pod", cg_parent);
	const char *parent = cg_parent, *path = cg_path;
	assert_int_equal(netns_cgroup_create(NULL, path, &e), 0);

	/* every hierarchy has it; a v1 cpuset got cpus and mems */
	const char *hier[] = {"memory", "pids", "cpuset", "unified", "systemd"};
	for (size_t i = 0; i < sizeof(hier) / sizeof(hier[0]); i++) {
		_cleanup_free_ char *root = xasprintf("/sys/fs/cgroup/%s", hier[i]);
		if (access(root, F_OK) < 0)
			continue;
		_cleanup_free_ char *d = xasprintf("%s%s", root, path);
		struct stat st;
		assert_int_equal(stat(d, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
	}
	if (fs_is("/sys/fs/cgroup/cpuset", CGROUP_SUPER_MAGIC)) {
		_cleanup_free_ char *cpus = xasprintf("/sys/fs/cgroup/cpuset%s/cpuset.cpus", path);
		_cleanup_free_ char *t = NULL;
		assert_int_equal(fileio_read_all(cpus, 256, &t, NULL, &e), 0);
		assert_true(strlen(t) > 1);
	}

	struct netns_pin_opts o = {.pid = true};
	struct netns_pins p = {0};
	assert_int_equal(pin("cg1", &o, &p, &e), 0);
	assert_int_equal(netns_cgroup_add_pid(NULL, path, p.init_pid, &e), 0);
	_cleanup_free_ char *pid_line = xasprintf("%d", (int)p.init_pid);
	_cleanup_free_ char *procs =
	    xasprintf("/sys/fs/cgroup/%s%s/cgroup.procs",
		      fs_is("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC) ? "" : "pids", path);
	assert_true(file_has_line(procs, pid_line));
	/* busy while the init lives */
	assert_int_equal(netns_cgroup_remove(NULL, path, &e), -EBUSY);
	unpin("cg1", &p);
	assert_int_equal(netns_cgroup_remove(NULL, path, &e), 0);
	assert_int_equal(netns_cgroup_remove(NULL, parent, &e), 0);
	_cleanup_free_ char *gone = xasprintf("/sys/fs/cgroup/memory%s", parent);
	assert_int_equal(access(gone, F_OK), -1);
	/* idempotent */
	assert_int_equal(netns_cgroup_remove(NULL, path, &e), 0);

	assert_int_equal(netns_cgroup_create(NULL, "/a/../../etc", &e), -EINVAL);
	assert_non_null(strstr(berr_msg(e), "contains '..'"));
}

/* A cgroup file's text without its newline. */
static char *cg_read(const char *hier, const char *path, const char *file)
{
	_cleanup_free_ char *p = xasprintf("/sys/fs/cgroup/%s%s/%s", hier, path, file);
	char *t = NULL;
	assert_int_equal(fileio_read_all(p, 4096, &t, NULL, NULL), 0);
	t[strcspn(t, "\n")] = '\0';
	return t;
}

static void cg_write(const char *hier, const char *path, const char *file, const char *v)
{
	_cleanup_free_ char *p = xasprintf("/sys/fs/cgroup/%s%s/%s", hier, path, file);
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fileio_write_all(fd, v, strlen(v)), 0);
	close(fd);
}

static void assert_cg(const char *hier, const char *path, const char *file, const char *want)
{
	_cleanup_free_ char *got = cg_read(hier, path, file);
	assert_string_equal(got, want);
}

static void test_cgroup_limit_files(void **state)
{
	struct netns_cg_file f[NETNS_CG_FILES_MAX];
	struct netns_cg_limits l = {
	    .cpu_shares = 1024, .cpu_quota = 50000, .cpu_period = 100000, .memory_limit = 64 << 20};
	assert_int_equal(netns_cgroup_limit_files(NETNS_CG_HYBRID, &l, f), 4);
	const char *v1[][2] = {{"memory.limit_in_bytes", "67108864"},
			       {"cpu.shares", "1024"},
			       {"cpu.cfs_period_us", "100000"},
			       {"cpu.cfs_quota_us", "50000"}};
	for (size_t i = 0; i < 4; i++) {
		assert_string_equal(f[i].name, v1[i][0]);
		assert_string_equal(f[i].value, v1[i][1]);
	}
	assert_int_equal(netns_cgroup_limit_files(NETNS_CG_V2, &l, f), 3);
	const char *v2[][2] = {
	    {"memory.max", "67108864"}, {"cpu.weight", "39"}, {"cpu.max", "50000 100000"}};
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(f[i].name, v2[i][0]);
		assert_string_equal(f[i].value, v2[i][1]);
	}
	/* no quota: none on v1, "max" on v2; zero fields are left alone */
	l = (struct netns_cg_limits){.cpu_quota = -1};
	assert_int_equal(netns_cgroup_limit_files(NETNS_CG_V1, &l, f), 1);
	assert_string_equal(f[0].value, "-1");
	assert_int_equal(netns_cgroup_limit_files(NETNS_CG_V2, &l, f), 1);
	assert_string_equal(f[0].value, "max 100000");
	l = (struct netns_cg_limits){0};
	assert_int_equal(netns_cgroup_limit_files(NETNS_CG_V2, &l, f), 0);
}

/* The v1 files on the real kernel (this project's CI host is hybrid; on v2 the
 * controllers of a new cgroup depend on its parent's subtree_control). */
static void test_cgroup_set_limits(void **state)
{
	if (!fs_is("/sys/fs/cgroup/memory", CGROUP_SUPER_MAGIC) ||
	    !fs_is("/sys/fs/cgroup/cpu", CGROUP_SUPER_MAGIC))
		fail_msg("no v1 memory and cpu hierarchies");
	_cleanup_berr_ struct berr *e = NULL;
	char id[ID_LEN + 1];
	assert_int_equal(id_generate(id, &e), 0);
	free(cg_parent);
	free(cg_path);
	cg_parent = xasprintf("/berth-test-%.12s", id);
	cg_path = xasprintf("%s/pod", cg_parent);
	assert_int_equal(netns_cgroup_create(NULL, cg_path, &e), 0);
	/* the parent (kubelet's) has limits of its own, which stay as they are */
	cg_write("memory", cg_parent, "memory.limit_in_bytes", "1073741824");
	cg_write("cpu", cg_parent, "cpu.shares", "4096");
	struct netns_cg_limits l = {
	    .cpu_shares = 512, .cpu_quota = 50000, .cpu_period = 100000, .memory_limit = 64 << 20};
	assert_int_equal(netns_cgroup_set_limits(NULL, cg_path, &l, NULL, &e), 0);
	assert_cg("memory", cg_path, "memory.limit_in_bytes", "67108864");
	assert_cg("cpu", cg_path, "cpu.shares", "512");
	assert_cg("cpu", cg_path, "cpu.cfs_quota_us", "50000");
	assert_cg("memory", cg_parent, "memory.limit_in_bytes", "1073741824");
	assert_cg("cpu", cg_parent, "cpu.shares", "4096");

	/* the kernel refuses the quota: what was written before it is put back */
	struct netns_cg_limits bad = {.cpu_shares = 256, .cpu_quota = 5, .memory_limit = 32 << 20};
	assert_int_equal(netns_cgroup_set_limits(NULL, cg_path, &bad, NULL, &e), -EINVAL);
	assert_non_null(strstr(berr_msg(e), "cpu.cfs_quota_us"));
	assert_cg("memory", cg_path, "memory.limit_in_bytes", "67108864");
	assert_cg("cpu", cg_path, "cpu.shares", "512");
	assert_cg("cpu", cg_path, "cpu.cfs_quota_us", "50000");

	/* saved values restore the previous ones */
	struct netns_cg_saved saved = {0};
	l = (struct netns_cg_limits){.cpu_shares = 768};
	assert_int_equal(netns_cgroup_set_limits(NULL, cg_path, &l, &saved, &e), 0);
	assert_cg("cpu", cg_path, "cpu.shares", "768");
	assert_int_equal(saved.n, 1);
	netns_cgroup_restore(&saved);
	netns_cg_saved_done(&saved);
	assert_cg("cpu", cg_path, "cpu.shares", "512");
	assert_int_equal(netns_cgroup_set_limits(NULL, "/a/../../x", &l, NULL, &e), -EINVAL);

	assert_int_equal(netns_cgroup_remove(NULL, cg_path, &e), 0);
	assert_int_equal(netns_cgroup_remove(NULL, cg_parent, &e), 0);
}

int main(void)
{
	if (test_enter_private_namespaces() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pin_unpin_leaves_nothing),
	    cmocka_unit_test(test_pin_root_release),
	    cmocka_unit_test(test_pin_hostname_and_sysctls),
	    cmocka_unit_test(test_pin_rejects_host_sysctls),
	    cmocka_unit_test(test_pin_user_namespace_owns_the_others),
	    cmocka_unit_test(test_pin_user_namespace_failures_leave_nothing),
	    cmocka_unit_test(test_pid_init_is_pid1_and_reaps),
	    cmocka_unit_test(test_pid_init_takes_sigterm_at_once),
	    cmocka_unit_test(test_unpin_kills_init),
	    cmocka_unit_test(test_lo_up_and_addrs),
	    cmocka_unit_test(test_netns_run_errors),
	    cmocka_unit_test(test_podfiles_hosts_exact),
	    cmocka_unit_test(test_podfiles_resolv_exact),
	    cmocka_unit_test(test_podfiles_resolv_rejects_bad_values),
	    cmocka_unit_test(test_podfiles_write),
	    cmocka_unit_test(test_shm_mount_unmount),
	    cmocka_unit_test(test_cgroup_mode),
	    cmocka_unit_test(test_cgroup_create_add_remove),
	    cmocka_unit_test(test_cgroup_limit_files),
	    cmocka_unit_test(test_cgroup_set_limits),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
