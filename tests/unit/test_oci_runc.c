/* SPDX-License-Identifier: Apache-2.0 */
/* Real-runc tests of oci/: a busybox-static rootfs, config.json from
 * oci_spec_build(), `runc create` spawned here (the shim's job in berthd),
 * then start/state/exec/update/kill/delete through oci_runc_ops. Each test
 * uses its own container under a private runc --root and a test cgroup
 * parent; teardown force-deletes the container and removes the cgroups in
 * every hierarchy even when the test failed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/ids.h"
#include "common/spawn.h"
#include "oci/oci.h"

static char *tmpdir, *rootfs, *runc_root, *cg_parent, *hosts_file;
static struct oci_runtime_handler handler;
static struct oci_runtime_opts ropts;
static char **host_caps;
static const char *const applets[] = {"sh",	  "sleep", "cat", "echo", "id",
				      "hostname", "head",  "tr",  "true", NULL};

static int write_text(const char *path, const char *text)
{
	return fileio_write_atomic(path, text, strlen(text), 0644, NULL);
}

static int build_rootfs(void)
{
	rootfs = xasprintf("%s/rootfs", tmpdir);
	static const char *const dirs[] = {"bin", "etc", "proc", "sys", "dev", "tmp", NULL};
	for (const char *const *d = dirs; *d; d++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", rootfs, *d);
		if (fileio_mkdir_p(p, 0755, NULL) < 0)
			return -1;
	}
	_cleanup_free_ char *bb = xasprintf("%s/bin/busybox", rootfs);
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (fileio_read_all("/bin/busybox", 16u << 20, &data, &len, NULL) < 0 ||
	    fileio_write_atomic(bb, data, len, 0755, NULL) < 0)
		return -1;
	for (const char *const *a = applets; *a; a++) {
		_cleanup_free_ char *p = xasprintf("%s/bin/%s", rootfs, *a);
		if (symlink("busybox", p) < 0)
			return -1;
	}
	_cleanup_free_ char *pw = xasprintf("%s/etc/passwd", rootfs);
	_cleanup_free_ char *gr = xasprintf("%s/etc/group", rootfs);
	if (write_text(pw, "root:x:0:0:root:/:/bin/sh\napp:x:1000:1000::/tmp:/bin/sh\n") < 0 ||
	    write_text(gr, "root:x:0:\napp:x:1000:\nextra:x:2000:app\n") < 0)
		return -1;
	hosts_file = xasprintf("%s/hosts", tmpdir);
	return write_text(hosts_file, "127.0.0.1 localhost berth-test\n");
}

static int group_setup(void **state)
{
	char tpl[] = "/tmp/berth-test-ocirunc-XXXXXX";
	if (!mkdtemp(tpl))
		return -1;
	tmpdir = xstrdup(tpl);
	signal(SIGPIPE, SIG_IGN);
	if (access("/usr/bin/runc", X_OK) < 0 || access("/bin/busybox", X_OK) < 0) {
		fprintf(stderr, "runc or busybox-static missing (scripts/deps.sh --test)\n");
		return -1;
	}
	runc_root = xasprintf("%s/runc-root", tmpdir);
	char id[ID_LEN + 1];
	if (build_rootfs() < 0 || id_generate(id, NULL) < 0)
		return -1;
	cg_parent = xasprintf("/berth-test-%.12s", id);
	handler = (struct oci_runtime_handler){.name = "runc",
					       .path = "/usr/bin/runc",
					       .root = runc_root,
					       .timeout_ms = 30000,
					       .exec_helper = OCI_EXEC_HELPER};
	_cleanup_berr_ struct berr *e = NULL;
	int adj = 0;
	if (oci_oom_score_adj_self(&adj, &e) < 0 || oci_caps_bounding_self(&host_caps, &e) < 0)
		return -1;
	ropts = (struct oci_runtime_opts){.cgroup_driver = OCI_CGROUP_DRIVER_CGROUPFS,
					  .oom_score_adj_min = adj,
					  .all_caps = host_caps,
					  .rootfs = rootfs};
	if (oci_cgroup_mode_detect(NULL, &ropts.cgroup_mode, &e) < 0)
		return -1;
	/* v2 always accounts swap; v1 only with swapaccount=1 (memsw files). */
	ropts.swap_supported =
	    ropts.cgroup_mode == OCI_CGROUP_MODE_V2 ||
	    access("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", F_OK) == 0;
	return 0;
}

/* rmdir <hierarchy><cg_parent>[/id] in every mounted cgroup hierarchy. */
static void cgroups_remove(const char *id)
{
	const char *root = "/sys/fs/cgroup";
	bool v2 = ropts.cgroup_mode == OCI_CGROUP_MODE_V2;
	DIR *d = v2 ? NULL : opendir(root);
	for (int pass = 0; pass < 2; pass++) {
		_cleanup_free_ char *rel =
		    pass == 0 && id ? xasprintf("%s/%s", cg_parent, id) : xstrdup(cg_parent);
		if (v2) {
			_cleanup_free_ char *p = xasprintf("%s%s", root, rel);
			(void)rmdir(p);
			continue;
		}
		rewinddir(d);
		for (struct dirent *e; (e = readdir(d));) {
			if (e->d_name[0] == '.')
				continue;
			_cleanup_free_ char *p = xasprintf("%s/%s%s", root, e->d_name, rel);
			(void)rmdir(p);
		}
	}
	if (d)
		closedir(d);
}

static int group_teardown(void **state)
{
	cgroups_remove(NULL);
	int r = fileio_remove_tree(tmpdir, NULL);
	free(tmpdir);
	free(rootfs);
	free(runc_root);
	free(cg_parent);
	free(hosts_file);
	strv_free(host_caps);
	return r;
}

/* The container of one test: its id and bundle, cleaned up by teardown. */
struct ctr {
	char id[32];
	char *bundle;
	char *cgpath;
};

/* Each test gets two container slots (most use only the first). */
#define CTRS 2

static int ctr_setup(void **state)
{
	static unsigned n;
	struct ctr *c = xcalloc(CTRS, sizeof(*c));
	n++;
	for (int i = 0; i < CTRS; i++) {
		snprintf(c[i].id, sizeof(c[i].id), "berth-test-%d-%u%c", (int)getpid(), n, 'a' + i);
		c[i].bundle = xasprintf("%s/%s", tmpdir, c[i].id);
		c[i].cgpath = xasprintf("%s/%s", cg_parent, c[i].id);
		if (fileio_mkdir_p(c[i].bundle, 0700, NULL) < 0)
			return -1;
	}
	*state = c;
	return 0;
}

static int ctr_teardown(void **state)
{
	struct ctr *c = *state;
	for (int i = CTRS - 1; i >= 0; i--) {
		_cleanup_berr_ struct berr *e = NULL;
		if (oci_runc_ops.delete(&handler, c[i].id, true, &e) < 0)
			fprintf(stderr, "teardown: %s\n", berr_msg(e));
		cgroups_remove(c[i].id);
		(void)fileio_remove_tree(c[i].bundle, NULL);
		free(c[i].bundle);
		free(c[i].cgpath);
	}
	free(c);
	return 0;
}

/* Writes config.json for args (a NULL-terminated vector) running as the
 * image user "app" and runs `runc create`. pod NULL: new namespaces of its
 * own; else join pod's network, IPC and UTS namespaces (mode POD). */
/* Returns NULL once created, else runc's error (from its JSON log). */
static char *ctr_try_create(struct ctr *c, char **args, const struct oci_sandbox_info *pod_sb)
{
	Runtime__V1__ContainerConfig cfg = RUNTIME__V1__CONTAINER_CONFIG__INIT;
	Runtime__V1__ContainerMetadata meta = RUNTIME__V1__CONTAINER_METADATA__INIT;
	Runtime__V1__LinuxContainerConfig lc = RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
	Runtime__V1__LinuxContainerSecurityContext sc =
	    RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
	Runtime__V1__NamespaceOption ns = RUNTIME__V1__NAMESPACE_OPTION__INIT;
	Runtime__V1__PodSandboxConfig pod = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
	meta.name = "test";
	cfg.metadata = &meta;
	cfg.linux = &lc;
	lc.security_context = &sc;
	sc.namespace_options = &ns;
	ns.network = ns.pid = ns.ipc = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	if (pod_sb)
		ns.network = ns.ipc = RUNTIME__V1__NAMESPACE_MODE__POD;
	size_t n = 0;
	while (args[n])
		n++;
	cfg.command = args;
	cfg.n_command = n;
	struct oci_sandbox_info sb = {
	    .hostname = "berth-test", .hosts_file = hosts_file, .cgroup_parent = cg_parent};
	if (pod_sb)
		sb = *pod_sb;
	static char *env[] = {"PATH=/bin", "FROM_IMAGE=1", NULL};
	struct oci_image_config img = {.user = "app", .env = env};
	_cleanup_berr_ struct berr *e = NULL;
	struct oci_user user;
	struct oci_user_request ureq = {.rootfs = rootfs, .sc = &sc, .image_user = img.user};
	if (oci_user_resolve(&ureq, &user, &e) < 0)
		fail_msg("user: %s", berr_msg(e));
	struct oci_spec_input in = {.id = c->id,
				    .config = &cfg,
				    .sandbox_config = &pod,
				    .sandbox = &sb,
				    .image = &img,
				    .opts = &ropts,
				    .user = &user};
	_cleanup_free_ char *json = NULL;
	int r = oci_spec_build(&in, &json, &e);
	oci_user_done(&user);
	if (r < 0)
		fail_msg("spec: %s", berr_msg(e));
	_cleanup_free_ char *cfgp = xasprintf("%s/config.json", c->bundle);
	assert_int_equal(write_text(cfgp, json), 0);

	/* What the shim does: the global args and `create`, with the
	 * container's stdio on /dev/null here and runc's errors in its log. */
	_cleanup_free_ char *pidf = xasprintf("%s/pid", c->bundle);
	_cleanup_free_ char *logf = xasprintf("%s/log.json", c->bundle);
	struct oci_runtime_args a = {.cmd = OCI_RUNTIME_CMD_CREATE,
				     .id = c->id,
				     .bundle = c->bundle,
				     .pid_file = pidf,
				     .log_path = logf};
	_cleanup_strv_ char **argv = oci_runc_ops.create_argv(&handler, &a, &e);
	assert_non_null(argv);
	struct spawn_opts so = SPAWN_OPTS_INIT;
	so.argv = argv;
	so.setsid = true;
	pid_t pid;
	int st = -1;
	assert_int_equal(spawn_start(&so, &pid, &e), 0);
	assert_int_equal(spawn_wait(pid, &st, &e), 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return NULL;
	_cleanup_free_ char *log = NULL;
	(void)fileio_read_all(logf, 1 << 20, &log, NULL, NULL);
	char *why = log ? oci_runtime_error_text(log) : NULL;
	return why ? why : xstrdup("no log");
}

static void ctr_create_in(struct ctr *c, char **args, const struct oci_sandbox_info *pod_sb)
{
	_cleanup_free_ char *why = ctr_try_create(c, args, pod_sb);
	if (why)
		fail_msg("runc create: %s", why);
}

static void ctr_create(struct ctr *c, char **args)
{
	ctr_create_in(c, args, NULL);
}

static struct oci_state ctr_state(struct ctr *c)
{
	struct oci_state s = {0};
	_cleanup_berr_ struct berr *e = NULL;
	if (oci_runc_ops.state(&handler, c->id, &s, &e) < 0)
		fail_msg("state: %s", berr_msg(e));
	return s;
}

/* Polls (with a deadline, no fixed sleeps) until the container has status. */
static bool wait_status(struct ctr *c, enum oci_status want, int ms)
{
	int64_t deadline = time_mono_ns() + (int64_t)ms * 1000000;
	while (time_mono_ns() < deadline) {
		if (ctr_state(c).status == want)
			return true;
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000}, NULL);
	}
	return false;
}

static void exec_ok(struct ctr *c, char **argv, int timeout_ms, struct oci_exec_result *res)
{
	_cleanup_berr_ struct berr *e = NULL;
	_cleanup_free_ char *spec = NULL, *proc = NULL;
	_cleanup_free_ char *cfgp = xasprintf("%s/config.json", c->bundle);
	assert_int_equal(fileio_read_all(cfgp, 1 << 20, &spec, NULL, &e), 0);
	assert_int_equal(oci_exec_process_build(spec, argv, &proc, &e), 0);
	struct oci_exec_request req = {
	    .id = c->id, .process_json = proc, .work_dir = c->bundle, .timeout_ms = timeout_ms};
	if (oci_runc_ops.exec(&handler, &req, res, &e) < 0)
		fail_msg("exec %s: %s", argv[0], berr_msg(e));
}

static char *cgroup_file(struct ctr *c, const char *ctrl, const char *file)
{
	if (ropts.cgroup_mode == OCI_CGROUP_MODE_V2)
		return xasprintf("/sys/fs/cgroup%s/%s", c->cgpath, file);
	return xasprintf("/sys/fs/cgroup/%s%s/%s", ctrl, c->cgpath, file);
}

static void test_runc_lifecycle(void **state)
{
	struct ctr *c = *state;
	char *args[] = {"sleep", "1000", NULL};
	ctr_create(c, args);
	struct oci_state s = ctr_state(c);
	assert_int_equal(s.status, OCI_STATUS_CREATED);
	assert_true(s.pid > 0);

	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(oci_runc_ops.start(&handler, c->id, &e), 0);
	assert_true(wait_status(c, OCI_STATUS_RUNNING, 5000));

	/* ExecSync: user, env, hostname, the pod files, output and exit code */
	struct oci_exec_result r;
	char *id[] = {"id", NULL};
	exec_ok(c, id, 10000, &r);
	assert_int_equal(r.exit_code, 0);
	assert_string_equal(r.out, "uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)\n");
	oci_exec_result_done(&r);
	char *sh[] = {"sh", "-c",
		      "echo \"$FROM_IMAGE $HOSTNAME $(hostname)\"; cat /etc/hosts; "
		      "echo oops >&2; exit 3",
		      NULL};
	exec_ok(c, sh, 10000, &r);
	assert_int_equal(r.exit_code, 3);
	assert_string_equal(r.out, "1 berth-test berth-test\n127.0.0.1 localhost berth-test\n");
	assert_string_equal(r.errout, "oops\n");
	oci_exec_result_done(&r);

	/* update: the new memory limit is in the container's cgroup */
	Runtime__V1__LinuxContainerResources res = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	res.memory_limit_in_bytes = 64 << 20;
	_cleanup_free_ char *rj = NULL;
	assert_int_equal(oci_resources_build(&res, &ropts, &rj, &e), 0);
	if (oci_runc_ops.update(&handler, c->id, rj, &e) < 0)
		fail_msg("update: %s", berr_msg(e));
	_cleanup_free_ char *limf = cgroup_file(
	    c, "memory",
	    ropts.cgroup_mode == OCI_CGROUP_MODE_V2 ? "memory.max" : "memory.limit_in_bytes");
	_cleanup_free_ char *lim = NULL;
	assert_int_equal(fileio_read_all(limf, 64, &lim, NULL, &e), 0);
	assert_string_equal(lim, "67108864\n");

	/* kill, then the container is stopped; delete twice; state is gone */
	assert_int_equal(oci_runc_ops.kill(&handler, c->id, SIGKILL, false, &e), 0);
	assert_true(wait_status(c, OCI_STATUS_STOPPED, 5000));
	assert_int_equal(oci_runc_ops.delete(&handler, c->id, false, &e), 0);
	assert_int_equal(oci_runc_ops.delete(&handler, c->id, false, &e), 0);
	assert_int_equal(oci_runc_ops.state(&handler, c->id, &s, &e), -ENOENT);
	assert_non_null(strstr(e->msg, c->id));
}

/* Reads the pids in the container's cgroup (pids controller). */
static size_t cgroup_nprocs(struct ctr *c)
{
	_cleanup_free_ char *f = cgroup_file(c, "pids", "cgroup.procs");
	_cleanup_free_ char *s = NULL;
	if (fileio_read_all(f, 1 << 16, &s, NULL, NULL) < 0)
		return 0;
	size_t n = 0;
	for (char *p = s; *p; p++)
		n += *p == '\n';
	return n;
}

static void test_runc_exec_timeout_kills_children(void **state)
{
	struct ctr *c = *state;
	char *args[] = {"sleep", "1000", NULL};
	ctr_create(c, args);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(oci_runc_ops.start(&handler, c->id, &e), 0);
	assert_true(wait_status(c, OCI_STATUS_RUNNING, 5000));
	assert_int_equal(cgroup_nprocs(c), 1);

	_cleanup_free_ char *spec = NULL, *proc = NULL;
	_cleanup_free_ char *cfgp = xasprintf("%s/config.json", c->bundle);
	assert_int_equal(fileio_read_all(cfgp, 1 << 20, &spec, NULL, &e), 0);
	char *argv[] = {"sh", "-c", "sleep 1000 & sleep 1001 & echo started; wait", NULL};
	assert_int_equal(oci_exec_process_build(spec, argv, &proc, &e), 0);
	struct oci_exec_request req = {
	    .id = c->id, .process_json = proc, .work_dir = c->bundle, .timeout_ms = 1000};
	struct oci_exec_result r;
	assert_int_equal(oci_runc_ops.exec(&handler, &req, &r, &e), -ETIMEDOUT);
	assert_non_null(strstr(e->msg, "timed out after 1000 ms"));

	/* the shell and both sleeps die; only the container's init is left */
	int64_t deadline = time_mono_ns() + 5000 * 1000000LL;
	while (cgroup_nprocs(c) != 1 && time_mono_ns() < deadline)
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000}, NULL);
	assert_int_equal(cgroup_nprocs(c), 1);
	assert_int_equal(ctr_state(c).status, OCI_STATUS_RUNNING);
}

static void test_runc_exec_background_child_does_not_block(void **state)
{
	struct ctr *c = *state;
	char *args[] = {"sleep", "1000", NULL};
	ctr_create(c, args);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(oci_runc_ops.start(&handler, c->id, &e), 0);
	assert_true(wait_status(c, OCI_STATUS_RUNNING, 5000));
	/* The backgrounded sleep keeps stdout open; the exec still returns with
	 * the shell's exit, well before the (generous) timeout would fire. */
	char *argv[] = {"sh", "-c", "sleep 1000 & echo started", NULL};
	struct oci_exec_result r;
	exec_ok(c, argv, 60000, &r);
	assert_false(r.timed_out);
	assert_int_equal(r.exit_code, 0);
	assert_string_equal(r.out, "started\n");
	oci_exec_result_done(&r);
}

static void test_runc_oom_kill_counted(void **state)
{
	struct ctr *c = *state;
	char *args[] = {"sleep", "1000", NULL};
	ctr_create(c, args);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(oci_runc_ops.start(&handler, c->id, &e), 0);
	uint64_t kills = 99;
	assert_int_equal(oci_cgroup_oom_kills(NULL, ropts.cgroup_mode, ropts.cgroup_driver,
					      c->cgpath, &kills, &e),
			 0);
	assert_int_equal(kills, 0);
	Runtime__V1__LinuxContainerResources res = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	res.memory_limit_in_bytes = 16 << 20;
	_cleanup_free_ char *rj = NULL;
	assert_int_equal(oci_resources_build(&res, &ropts, &rj, &e), 0);
	if (oci_runc_ops.update(&handler, c->id, rj, &e) < 0)
		fail_msg("update: %s", berr_msg(e));
	/* a shell variable far over the limit */
	char *argv[] = {"sh", "-c", "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo ${#x}",
			NULL};
	struct oci_exec_result r;
	exec_ok(c, argv, 30000, &r);
	assert_int_equal(r.exit_code, 128 + SIGKILL);
	oci_exec_result_done(&r);
	assert_int_equal(oci_cgroup_oom_kills(NULL, ropts.cgroup_mode, ropts.cgroup_driver,
					      c->cgpath, &kills, &e),
			 0);
	assert_true(kills >= 1);
}

static void test_runc_errors(void **state)
{
	struct ctr *c = *state;
	_cleanup_berr_ struct berr *e = NULL;
	/* unknown container */
	assert_int_equal(oci_runc_ops.start(&handler, c->id, &e), -ENOENT);
	assert_non_null(strstr(e->msg, "runc start"));
	assert_int_equal(oci_runc_ops.delete(&handler, c->id, true, &e), 0);
	struct oci_exec_request req = {.id = c->id,
				       .process_json = "{\"args\":[\"true\"],\"cwd\":\"/\"}",
				       .work_dir = c->bundle,
				       .timeout_ms = 5000};
	struct oci_exec_result r;
	assert_int_equal(oci_runc_ops.exec(&handler, &req, &r, &e), -ENOENT);
	/* exec of a missing program in a running container: the process never
	 * started, and it ends as a shell's would: 127, the reason on stderr */
	char *args[] = {"sleep", "1000", NULL};
	ctr_create(c, args);
	assert_int_equal(oci_runc_ops.start(&handler, c->id, &e), 0);
	_cleanup_free_ char *spec = NULL, *proc = NULL;
	_cleanup_free_ char *cfgp = xasprintf("%s/config.json", c->bundle);
	assert_int_equal(fileio_read_all(cfgp, 1 << 20, &spec, NULL, &e), 0);
	char *missing[] = {"/bin/no-such-program", NULL};
	assert_int_equal(oci_exec_process_build(spec, missing, &proc, &e), 0);
	req.process_json = proc;
	if (oci_runc_ops.exec(&handler, &req, &r, &e) != 0)
		fail_msg("exec of a missing program: %s", berr_msg(e));
	assert_int_equal(r.exit_code, 127);
	assert_non_null(r.errout);
	assert_non_null(strstr(r.errout, "no-such-program"));
	oci_exec_result_done(&r);
	/* a file that is not executable: 126 */
	char *noexec[] = {"/etc/passwd", NULL};
	free(proc);
	proc = NULL;
	assert_int_equal(oci_exec_process_build(spec, noexec, &proc, &e), 0);
	req.process_json = proc;
	assert_int_equal(oci_runc_ops.exec(&handler, &req, &r, &e), 0);
	assert_int_equal(r.exit_code, 126);
	assert_non_null(strstr(r.errout, "/etc/passwd"));
	oci_exec_result_done(&r);
}

static void test_runc_pod_namespaces_joined(void **state)
{
	/* The first container stands in for the pod: the second joins its
	 * network, IPC and UTS namespaces by path, as containers join a pod's
	 * pinned namespaces, and keeps a mount namespace of its own. */
	struct ctr *c = *state;
	char *args[] = {"sleep", "1000", NULL};
	ctr_create(&c[0], args);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(oci_runc_ops.start(&handler, c[0].id, &e), 0);
	pid_t pod = ctr_state(&c[0]).pid;
	_cleanup_free_ char *net = xasprintf("/proc/%d/ns/net", (int)pod);
	_cleanup_free_ char *ipc = xasprintf("/proc/%d/ns/ipc", (int)pod);
	_cleanup_free_ char *uts = xasprintf("/proc/%d/ns/uts", (int)pod);
	struct oci_sandbox_info sb = {.hostname = "berth-test",
				      .netns_path = net,
				      .ipcns_path = ipc,
				      .utsns_path = uts,
				      .hosts_file = hosts_file,
				      .cgroup_parent = cg_parent};
	ctr_create_in(&c[1], args, &sb);
	assert_int_equal(oci_runc_ops.start(&handler, c[1].id, &e), 0);
	char *argv[] = {"sh", "-c",
			"for n in net ipc uts mnt; do readlink /proc/self/ns/$n; done; hostname",
			NULL};
	struct oci_exec_result a, b;
	exec_ok(&c[0], argv, 10000, &a);
	exec_ok(&c[1], argv, 10000, &b);
	char *sa = NULL, *sb_ = NULL;
	char *la[5], *lb[5];
	int i = 0;
	for (char *t = strtok_r(a.out, "\n", &sa); t && i < 5; t = strtok_r(NULL, "\n", &sa))
		la[i++] = t;
	assert_int_equal(i, 5);
	i = 0;
	for (char *t = strtok_r(b.out, "\n", &sb_); t && i < 5; t = strtok_r(NULL, "\n", &sb_))
		lb[i++] = t;
	assert_int_equal(i, 5);
	assert_string_equal(la[0], lb[0]);     /* net */
	assert_string_equal(la[1], lb[1]);     /* ipc */
	assert_string_equal(la[2], lb[2]);     /* uts */
	assert_string_not_equal(la[3], lb[3]); /* mnt */
	assert_string_equal(lb[4], "berth-test");
	oci_exec_result_done(&a);
	oci_exec_result_done(&b);
}

static void test_runc_exec_output_capped(void **state)
{
	struct ctr *c = *state;
	char *args[] = {"sleep", "1000", NULL};
	ctr_create(c, args);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(oci_runc_ops.start(&handler, c->id, &e), 0);
	_cleanup_free_ char *spec = NULL, *proc = NULL;
	_cleanup_free_ char *cfgp = xasprintf("%s/config.json", c->bundle);
	assert_int_equal(fileio_read_all(cfgp, 1 << 20, &spec, NULL, &e), 0);
	char *argv[] = {"sh", "-c", "head -c 5000 /dev/zero | tr '\\0' x; echo done >&2", NULL};
	assert_int_equal(oci_exec_process_build(spec, argv, &proc, &e), 0);
	struct oci_exec_request req = {.id = c->id,
				       .process_json = proc,
				       .work_dir = c->bundle,
				       .timeout_ms = 10000,
				       .max_out = 1000};
	struct oci_exec_result r;
	if (oci_runc_ops.exec(&handler, &req, &r, &e) < 0)
		fail_msg("exec: %s", berr_msg(e));
	assert_int_equal(r.exit_code, 0);
	assert_true(r.truncated);
	assert_int_equal(r.out_len, 1000);
	assert_int_equal(strspn(r.out, "x"), 1000);
	assert_string_equal(r.errout, "done\n");
	oci_exec_result_done(&r);
}

static void test_runc_create_failure_message(void **state)
{
	/* A command missing from the image: runc create fails, and its JSON log
	 * yields a message naming the command. */
	struct ctr *c = *state;
	char *args[] = {"/bin/no-such-command", NULL};
	_cleanup_free_ char *why = ctr_try_create(c, args, NULL);
	assert_non_null(why);
	assert_non_null(strstr(why, "no-such-command"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_runc_lifecycle, ctr_setup, ctr_teardown),
	    cmocka_unit_test_setup_teardown(test_runc_exec_timeout_kills_children, ctr_setup,
					    ctr_teardown),
	    cmocka_unit_test_setup_teardown(test_runc_exec_background_child_does_not_block,
					    ctr_setup, ctr_teardown),
	    cmocka_unit_test_setup_teardown(test_runc_oom_kill_counted, ctr_setup, ctr_teardown),
	    cmocka_unit_test_setup_teardown(test_runc_errors, ctr_setup, ctr_teardown),
	    cmocka_unit_test_setup_teardown(test_runc_pod_namespaces_joined, ctr_setup,
					    ctr_teardown),
	    cmocka_unit_test_setup_teardown(test_runc_exec_output_capped, ctr_setup, ctr_teardown),
	    cmocka_unit_test_setup_teardown(test_runc_create_failure_message, ctr_setup,
					    ctr_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
