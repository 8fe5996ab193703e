/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the container handlers of cri/ with fake ops (struct cri_ops):
 * a fake OCI runtime, shim and rootfs. Every rollback path of CreateContainer
 * is driven by a fake failing at step N and checked to leave nothing: no
 * record, name released, rootfs unmounted, dirs removed. Start/Stop/Remove,
 * ExecSync, the exit monitor and the restart recovery run against exit records
 * the fakes write as a shim would. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/ids.h"
#include "cri/events-internal.h"
#include "cri/imgvol.h"
#include "cri/pod.h"
#include "cri/validate-internal.h"
#include "shim/shim.h"

/* Above any pid_max: kill(FAKE_PID, 0) fails with ESRCH. */
#define FAKE_PID 99999999
#define IMG_ID	 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define VOL_ID	 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define VOL_REF	 "docker.io/library/vol:1"

/* What the fakes saw and how they fail. */
static struct {
	int fail_mount, fail_shim, fail_start, fail_argv, fail_exec_timeout, fail_update;
	int n_mount, n_unmount, n_delete, n_shim, n_start, n_update;
	int kill_sigs[8], n_kill;
	bool kill_exits; /* a kill makes the "container" exit (an exit record appears) */
	bool exit_on_term;
	bool state_missing; /* the runtime doesn't know the container */
	char exit_dir[512];
	char *last_update; /* the resources JSON of the last update */
	/* while the shim "creates": 1 stops the pod, 2 removes it (their results below) */
	int pod_op_in_shim, pod_op_r;
	bool exit_in_shim;  /* the init dies before the shim reports the create */
	bool exit_on_start; /* the init dies as it is started: start fails, the record follows */
	bool state_stopped; /* the runtime reports the container stopped */
	bool rmi_in_shim;   /* while the shim "creates": RemoveImage of the volume image */
	int rmi_r;
	pthread_t writer;
	bool writer_started;
	struct berth *b;
	const char *sb_id;
} fk;

static int fake_write_exit(const char *id, int code, int sig)
{
	struct shim_exit e = {
	    .pid = 4242, .exit_code = code, .signal = sig, .finished_ns = time_now_ns()};
	char buf[512];
	size_t n = shim_exit_encode(&e, buf, sizeof(buf));
	_cleanup_free_ char *p = xasprintf("%s/%s", fk.exit_dir, id);
	return fileio_write_atomic(p, buf, n, 0600, NULL);
}

static char **fake_create_argv(const struct oci_runtime_handler *h,
			       const struct oci_runtime_args *a, struct berr **err)
{
	if (fk.fail_argv)
		return berr_set(err, EINVAL, "fake argv failure"), NULL;
	return oci_runc_ops.create_argv(h, a, err);
}

/* The shim's record, written a little after the runtime reported the init gone. */
static void *late_exit_writer(void *arg)
{
	struct timespec ts = {0, 50 * 1000000};
	nanosleep(&ts, NULL);
	fake_write_exit(arg, 137, SIGKILL);
	free(arg);
	return NULL;
}

static int fake_start(const struct oci_runtime_handler *h, const char *id, struct berr **err)
{
	fk.n_start++;
	if (fk.exit_on_start) {
		fk.state_stopped = true;
		fk.writer_started =
		    pthread_create(&fk.writer, NULL, late_exit_writer, xstrdup(id)) == 0;
		return berr_set(err, EIO, "cannot start a container that has stopped");
	}
	return fk.fail_start ? berr_set(err, EIO, "fake start failure") : 0;
}

static int fake_state(const struct oci_runtime_handler *h, const char *id, struct oci_state *ret,
		      struct berr **err)
{
	if (fk.state_missing)
		return berr_set(err, ENOENT, "container '%s' does not exist", id);
	ret->status = fk.state_stopped ? OCI_STATUS_STOPPED : OCI_STATUS_RUNNING;
	ret->pid = fk.state_stopped ? 0 : 4242;
	return 0;
}

static int fake_kill(const struct oci_runtime_handler *h, const char *id, int sig, bool all,
		     struct berr **err)
{
	if (fk.n_kill < 8)
		fk.kill_sigs[fk.n_kill++] = sig;
	if (fk.kill_exits && (sig == SIGKILL || fk.exit_on_term))
		fake_write_exit(id, 128 + sig, sig);
	return 0;
}

static int fake_delete(const struct oci_runtime_handler *h, const char *id, bool force,
		       struct berr **err)
{
	fk.n_delete++;
	return 0;
}

static int fake_exec(const struct oci_runtime_handler *h, const struct oci_exec_request *req,
		     struct oci_exec_result *ret, struct berr **err)
{
	*ret = (struct oci_exec_result){0};
	if (fk.fail_exec_timeout) {
		ret->timed_out = true;
		ret->exit_code = -1;
		return 0;
	}
	ret->out = xstrdup("out\n");
	ret->out_len = 4;
	ret->errout = xstrdup("err");
	ret->err_len = 3;
	ret->exit_code = 3;
	return 0;
}

static int fake_update(const struct oci_runtime_handler *h, const char *id, const char *json,
		       struct berr **err)
{
	fk.n_update++;
	if (fk.fail_update)
		return berr_set(err, EIO, "fake update failure");
	free(fk.last_update);
	fk.last_update = xstrdup(json);
	return 0;
}

static const struct oci_runtime_ops fake_oci = {
    .create_argv = fake_create_argv,
    .start = fake_start,
    .state = fake_state,
    .kill = fake_kill,
    .delete = fake_delete,
    .exec = fake_exec,
    .update = fake_update,
};

static void pod_op(int op)
{
	ProtobufCMessage *resp = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	if (op == 1) {
		Runtime__V1__StopPodSandboxRequest req =
		    RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
		req.pod_sandbox_id = (char *)fk.sb_id;
		fk.pod_op_r = cri_stop_pod_sandbox(fk.b, NULL, &req.base, &resp, &e);
	} else {
		Runtime__V1__RemovePodSandboxRequest req =
		    RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
		req.pod_sandbox_id = (char *)fk.sb_id;
		fk.pod_op_r = cri_remove_pod_sandbox(fk.b, NULL, &req.base, &resp, &e);
	}
	cri_msg_free(resp);
}

static int remove_image(const char *ref, struct berr **err)
{
	Runtime__V1__RemoveImageRequest req = RUNTIME__V1__REMOVE_IMAGE_REQUEST__INIT;
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	spec.image = (char *)ref;
	req.image = &spec;
	ProtobufCMessage *resp = NULL;
	int r = cri_remove_image(fk.b, NULL, &req.base, &resp, err);
	cri_msg_free(resp);
	return r;
}

static int fake_shim_start(const struct shim_opts *o, struct shim_info *ret, struct berr **err)
{
	fk.n_shim++;
	if (fk.pod_op_in_shim)
		pod_op(fk.pod_op_in_shim);
	if (fk.rmi_in_shim)
		fk.rmi_r = remove_image(VOL_REF, NULL);
	if (fk.fail_shim)
		return berr_set(err, EIO, "runtime create failed (exit 1): fake");
	if (fk.exit_in_shim)
		fake_write_exit(o->id, 137, SIGKILL);
	*ret = (struct shim_info){.shim_pid = 0,
				  .container_pid = FAKE_PID,
				  .ctl_path = xasprintf("%s/ctl.sock", o->state_dir)};
	return 0;
}

static int fake_reopen(const char *ctl, struct berr **err)
{
	return 0;
}

static int fake_resolve(struct berth *b, const char *ref, struct store_img **ret, struct berr **err)
{
	return store_img_lookup(b->store, ref, ret, err);
}

/* An image volume tree (no upper dir) gets what the fake image holds: opt/f, a
 * file, and a symlink climbing out. */
static int fake_mount(struct berth *b, const struct store_img_meta *img, const char *upper,
		      const char *target, bool ro, struct berr **err)
{
	fk.n_mount++;
	if (fk.fail_mount)
		return berr_set(err, EIO, "fake mount failure");
	if (!upper) {
		assert_true(ro);
		_cleanup_free_ char *opt = xasprintf("%s/opt", target);
		_cleanup_free_ char *f = xasprintf("%s/opt/f", target);
		_cleanup_free_ char *esc = xasprintf("%s/esc", target);
		assert_int_equal(fileio_mkdir_p(opt, 0755, NULL), 0);
		assert_int_equal(fileio_write_atomic(f, "f", 1, 0644, NULL), 0);
		(void)unlink(esc);
		assert_int_equal(symlink("../../../..", esc), 0);
	}
	return 0;
}

static int fake_unmount(const char *target, struct berr **err)
{
	fk.n_unmount++;
	if (strstr(target, "/imgvol/")) { /* what fake_mount put there goes */
		_cleanup_free_ char *opt = xasprintf("%s/opt", target);
		_cleanup_free_ char *esc = xasprintf("%s/esc", target);
		(void)fileio_remove_tree(opt, NULL);
		(void)unlink(esc);
	}
	return 0;
}

static const struct cri_ops fake_ops = {
    .oci = &fake_oci,
    .shim_start = fake_shim_start,
    .shim_reopen_log = fake_reopen,
    .image_resolve = fake_resolve,
    .rootfs_mount = fake_mount,
    .rootfs_unmount = fake_unmount,
};

/* ---- fixture: a berth with a store, a READY sandbox and an image ---- */

struct fx {
	char *dir;
	struct berth b;
	char sb_id[ID_LEN + 1];
};

static void add_image(struct fx *f)
{
	char *cmd[] = {"/bin/sh", NULL};
	char *chains[] = {IMG_ID, NULL};
	struct store_img_meta m = {
	    .id = IMG_ID, .cmd = cmd, .chain_ids = chains, .stop_signal = "SIGUSR1"};
	const char *tags[] = {"docker.io/library/busybox:1", NULL};
	assert_int_equal(store_img_add(f->b.store, &m, tags, NULL, NULL, NULL), 0);
	char *vchains[] = {VOL_ID, NULL};
	struct store_img_meta v = {.id = VOL_ID, .chain_ids = vchains};
	const char *vtags[] = {VOL_REF, NULL};
	assert_int_equal(store_img_add(f->b.store, &v, vtags, NULL, NULL, NULL), 0);
}

static void add_sandbox(struct fx *f, enum store_sb_state state)
{
	Runtime__V1__PodSandboxConfig cfg = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
	Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
	md.name = "pod";
	md.namespace_ = "ns";
	md.uid = "uid1";
	cfg.metadata = &md;
	/* Host namespaces: the spec then needs no pinned paths. */
	Runtime__V1__NamespaceOption ns = RUNTIME__V1__NAMESPACE_OPTION__INIT;
	ns.network = ns.pid = ns.ipc = RUNTIME__V1__NAMESPACE_MODE__NODE;
	Runtime__V1__LinuxSandboxSecurityContext sc =
	    RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT;
	sc.namespace_options = &ns;
	Runtime__V1__LinuxPodSandboxConfig lx = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
	lx.security_context = &sc;
	cfg.linux = &lx;
	cfg.log_directory = xasprintf("%s/logs", f->dir);
	size_t len = protobuf_c_message_get_packed_size(&cfg.base);
	_cleanup_free_ void *packed = xmalloc(len + 1);
	protobuf_c_message_pack(&cfg.base, packed);
	assert_int_equal(id_generate(f->sb_id, NULL), 0);
	_cleanup_free_ char *name = store_sb_name_build("pod", "ns", "uid1", 0);
	struct store_kv extra[] = {{CRI_SB_X_HOSTNAME, "pod"}};
	struct store_sb_meta m = {.id = f->sb_id,
				  .name = name,
				  .metadata = {"pod", "uid1", "ns", 0},
				  .config = {packed, len},
				  .created_at = 1,
				  .log_directory = cfg.log_directory,
				  .extra = extra,
				  .n_extra = 1};
	struct store_sb_status st = {.state = state};
	assert_int_equal(store_sb_add(f->b.store, &m, &st, NULL, NULL), 0);
	free(cfg.log_directory);
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	char tpl[] = "/tmp/berth-test-ctr-XXXXXX";
	if (!mkdtemp(tpl))
		return -1;
	f->dir = xstrdup(tpl);
	cri_config_init(&f->b.cfg);
	_cleanup_free_ char *json =
	    xasprintf("{\"state_dir\": \"%s/state\", \"run_dir\": \"%s/run\"}", f->dir, f->dir);
	if (cri_config_parse(&f->b.cfg, json, "test", NULL) < 0 ||
	    cri_config_finish(&f->b.cfg, NULL) < 0)
		return -1;
	if (store_open(f->b.cfg.state_dir, NULL, &f->b.store, NULL) < 0)
		return -1;
	f->b.ops = &fake_ops;
	memset(&fk, 0, sizeof(fk));
	snprintf(fk.exit_dir, sizeof(fk.exit_dir), "%s/run/exits", f->dir);
	if (cri_runtime_init(&f->b, false, NULL) < 0)
		return -1;
	f->b.rt->stop_wait_ms = 2000;
	/* The fakes stand in for a cgroup v2 node, so `unified` is accepted. */
	f->b.rt->facts->cgroup_v2 = true;
	add_image(f);
	add_sandbox(f, STORE_SB_READY);
	fk.b = &f->b;
	fk.sb_id = f->sb_id;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (fk.writer_started)
		pthread_join(fk.writer, NULL);
	free(fk.last_update);
	fk.last_update = NULL;
	cri_runtime_done(&f->b);
	store_free(f->b.store);
	cri_config_done(&f->b.cfg);
	int r = fileio_remove_tree(f->dir, NULL);
	free(f->dir);
	free(f);
	return r;
}

/* ---- helpers ---- */

static Runtime__V1__ContainerConfig *ctr_config(const char *name, const char *image)
{
	Runtime__V1__ContainerConfig *c = xcalloc(1, sizeof(*c));
	runtime__v1__container_config__init(c);
	c->metadata = xcalloc(1, sizeof(*c->metadata));
	runtime__v1__container_metadata__init(c->metadata);
	c->metadata->name = xstrdup(name);
	c->image = xcalloc(1, sizeof(*c->image));
	runtime__v1__image_spec__init(c->image);
	c->image->image = xstrdup(image);
	c->log_path = xstrdup("c/0.log");
	return c;
}

static int create(struct fx *f, Runtime__V1__ContainerConfig *cfg, char **ret_id, struct berr **err)
{
	Runtime__V1__CreateContainerRequest req = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
	req.pod_sandbox_id = f->sb_id;
	req.config = cfg;
	ProtobufCMessage *resp = NULL;
	int r = cri_create_container(&f->b, NULL, &req.base, &resp, err);
	if (r == 0 && ret_id)
		*ret_id = xstrdup(((Runtime__V1__CreateContainerResponse *)resp)->container_id);
	cri_msg_free(resp);
	cri_msg_free(&cfg->base);
	return r;
}

static char *create_ok(struct fx *f, const char *name)
{
	char *id = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	int r = create(f, ctr_config(name, "docker.io/library/busybox:1"), &id, &e);
	if (r < 0)
		fail_msg("create: %s", berr_msg(e));
	return id;
}

static size_t n_containers(struct fx *f)
{
	struct store_ctr **v = NULL;
	size_t n = 0;
	assert_int_equal(store_ctr_list(f->b.store, NULL, &v, &n, NULL), 0);
	store_ctr_list_free(v, n);
	return n;
}

static bool dir_empty(const char *path)
{
	_cleanup_free_ char *cmd = xasprintf("test -z \"$(ls -A '%s' 2>/dev/null)\"", path);
	return system(cmd) == 0;
}

/* Nothing of a failed create is left: record, name, dirs, mounts. */
static void assert_nothing_left(struct fx *f, const char *name)
{
	assert_int_equal(n_containers(f), 0);
	_cleanup_free_ char *full = store_ctr_name_build(name, "pod", "ns", "uid1", 0);
	assert_int_equal(store_ctr_reserve_name(f->b.store, full, "probe", NULL), 0);
	store_ctr_release_name(f->b.store, full, "probe");
	_cleanup_free_ char *c = xasprintf("%s/run/c", f->dir);
	_cleanup_free_ char *u = xasprintf("%s/state/containers", f->dir);
	assert_true(dir_empty(c));
	assert_true(dir_empty(u));
	/* every successful mount was undone */
	assert_int_equal(fk.n_unmount, fk.n_mount - fk.fail_mount);
}

static struct store_ctr *get(struct fx *f, const char *id)
{
	struct store_ctr *c = NULL;
	assert_int_equal(store_ctr_get(f->b.store, id, &c, NULL), 0);
	return c;
}

static enum store_ctr_state state_of(struct fx *f, const char *id, struct store_ctr_status *ret)
{
	struct store_ctr *c = get(f, id);
	store_ctr_status(c, ret);
	store_ctr_unref(c);
	return store_ctr_state(ret);
}

static int call_simple(struct fx *f, cri_handler h, ProtobufCMessage *req, struct berr **err)
{
	ProtobufCMessage *resp = NULL;
	int r = h(&f->b, NULL, req, &resp, err);
	cri_msg_free(resp);
	return r;
}

static int start(struct fx *f, const char *id, struct berr **err)
{
	Runtime__V1__StartContainerRequest req = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
	req.container_id = (char *)id;
	return call_simple(f, cri_start_container, &req.base, err);
}

static int stop(struct fx *f, const char *id, int64_t timeout, struct berr **err)
{
	Runtime__V1__StopContainerRequest req = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
	req.container_id = (char *)id;
	req.timeout = timeout;
	return call_simple(f, cri_stop_container, &req.base, err);
}

static int rm(struct fx *f, const char *id, struct berr **err)
{
	Runtime__V1__RemoveContainerRequest req = RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;
	req.container_id = (char *)id;
	return call_simple(f, cri_remove_container, &req.base, err);
}

/* ---- create and its rollbacks ---- */

static void test_create_ok_writes_bundle_and_record(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *id = create_ok(f, "c1");
	struct store_ctr_status st;
	assert_int_equal(state_of(f, id, &st), STORE_CTR_CREATED);
	assert_int_equal(st.pid, FAKE_PID);
	store_ctr_status_done(&st);
	struct store_ctr *c = get(f, id);
	const struct store_ctr_meta *m = store_ctr_meta(c);
	assert_string_equal(m->image_id, IMG_ID);
	assert_string_equal(m->stop_signal, "SIGUSR1"); /* from the image */
	_cleanup_free_ char *log = xasprintf("%s/logs/c/0.log", f->dir);
	assert_string_equal(m->log_path, log);
	_cleanup_free_ char *cfg = xasprintf("%s/config.json", m->bundle_dir);
	assert_int_equal(access(cfg, F_OK), 0);
	store_ctr_unref(c);
	assert_int_equal(fk.n_mount, 1);
	assert_int_equal(fk.n_shim, 1);
}

/* A Create killed between its shim and its record leaves a bundle, a rootfs
 * mount and an upper dir that no record names: the restart tears them down
 * (runtime delete, unmount, dirs) and leaves recorded containers alone. */
static void test_restart_sweeps_a_dead_creates_leftovers(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *kept = create_ok(f, "kept");
	char id[ID_LEN + 1];
	assert_int_equal(id_generate(id, NULL), 0);
	_cleanup_free_ char *bundle = xasprintf("%s/run/c/%s", f->dir, id);
	_cleanup_free_ char *rootfs = xasprintf("%s/rootfs", bundle);
	_cleanup_free_ char *upper = xasprintf("%s/state/containers/%s/upper", f->dir, id);
	_cleanup_free_ char *exitf = xasprintf("%s/%s", bundle, SHIM_EXIT_FILE);
	assert_int_equal(fileio_mkdir_p(rootfs, 0755, NULL), 0);
	assert_int_equal(fileio_mkdir_p(upper, 0755, NULL), 0);
	/* the shim's record, as it writes it once the runtime's delete killed the init */
	assert_int_equal(fileio_write_atomic(exitf, "x", 1, 0600, NULL), 0);
	int deletes = fk.n_delete, unmounts = fk.n_unmount;
	assert_int_equal(cri_ctr_sweep_orphans(&f->b, NULL), 0);
	assert_int_equal(access(bundle, F_OK), -1);
	_cleanup_free_ char *udir = xasprintf("%s/state/containers/%s", f->dir, id);
	assert_int_equal(access(udir, F_OK), -1);
	assert_true(fk.n_delete > deletes);
	assert_int_equal(fk.n_unmount, unmounts + 1);
	/* the recorded one keeps its bundle */
	struct store_ctr *c = get(f, kept);
	assert_int_equal(access(store_ctr_meta(c)->bundle_dir, F_OK), 0);
	store_ctr_unref(c);
	assert_int_equal(n_containers(f), 1);
}

static void test_create_unknown_image(void **state)
{
	struct fx *f = *state;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(create(f, ctr_config("c1", "nope:1"), NULL, &e), -ENOENT);
	assert_non_null(strstr(berr_msg(e), "image 'nope:1' not found"));
	assert_int_equal(fk.n_mount, 0);
	assert_nothing_left(f, "c1");
}

static void test_create_unknown_sandbox(void **state)
{
	struct fx *f = *state;
	_cleanup_berr_ struct berr *e = NULL;
	Runtime__V1__CreateContainerRequest req = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
	req.pod_sandbox_id = "ffff";
	req.config = ctr_config("c1", "docker.io/library/busybox:1");
	ProtobufCMessage *resp = NULL;
	assert_int_equal(cri_create_container(&f->b, NULL, &req.base, &resp, &e), -ENOENT);
	assert_non_null(strstr(berr_msg(e), "pod sandbox 'ffff' not found"));
	cri_msg_free(&req.config->base);
	assert_nothing_left(f, "c1");
}

static void test_create_rootfs_mount_fails(void **state)
{
	struct fx *f = *state;
	fk.fail_mount = 1;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(create(f, ctr_config("c1", "docker.io/library/busybox:1"), NULL, &e),
			 -EIO);
	assert_non_null(strstr(berr_msg(e), "fake mount failure"));
	assert_int_equal(fk.n_unmount, 0);
	assert_int_equal(fk.n_shim, 0);
	assert_nothing_left(f, "c1");
}

static void test_create_bad_mount_source(void **state)
{
	struct fx *f = *state;
	Runtime__V1__ContainerConfig *c = ctr_config("c1", "docker.io/library/busybox:1");
	c->mounts = xcalloc(1, sizeof(*c->mounts));
	c->mounts[0] = xcalloc(1, sizeof(**c->mounts));
	runtime__v1__mount__init(c->mounts[0]);
	c->mounts[0]->host_path = xstrdup("/nonexistent/berth-src");
	c->mounts[0]->container_path = xstrdup("/data");
	c->n_mounts = 1;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(create(f, c, NULL, &e), -ENOENT);
	assert_non_null(strstr(berr_msg(e), "/nonexistent/berth-src"));
	assert_int_equal(fk.n_unmount, 1);
	assert_int_equal(fk.n_shim, 0);
	assert_nothing_left(f, "c1");
}

static void test_create_no_command(void **state)
{
	struct fx *f = *state;
	char *chains[] = {IMG_ID, NULL};
	const char *id2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
	struct store_img_meta m = {.id = (char *)id2, .chain_ids = chains};
	const char *tags[] = {"docker.io/library/empty:1", NULL};
	assert_int_equal(store_img_add(f->b.store, &m, tags, NULL, NULL, NULL), 0);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(create(f, ctr_config("c1", "docker.io/library/empty:1"), NULL, &e),
			 -EINVAL);
	assert_non_null(strstr(berr_msg(e), "no command specified"));
	assert_int_equal(fk.n_unmount, 1);
	assert_nothing_left(f, "c1");
}

static void test_create_argv_fails(void **state)
{
	struct fx *f = *state;
	fk.fail_argv = 1;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(create(f, ctr_config("c1", "docker.io/library/busybox:1"), NULL, &e),
			 -EINVAL);
	assert_int_equal(fk.n_shim, 0);
	assert_int_equal(fk.n_unmount, 1);
	assert_nothing_left(f, "c1");
}

static void test_create_shim_fails(void **state)
{
	struct fx *f = *state;
	fk.fail_shim = 1;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(create(f, ctr_config("c1", "docker.io/library/busybox:1"), NULL, &e),
			 -EIO);
	assert_non_null(strstr(berr_msg(e), "runtime create failed"));
	assert_int_equal(fk.n_delete, 1); /* a half-made runtime container is deleted */
	assert_int_equal(fk.n_unmount, 1);
	assert_nothing_left(f, "c1");
}

static void test_create_duplicate_name(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *id = create_ok(f, "c1");
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(create(f, ctr_config("c1", "docker.io/library/busybox:1"), NULL, &e),
			 -EEXIST);
	assert_non_null(strstr(berr_msg(e), id));
	assert_int_equal(n_containers(f), 1);
	assert_int_equal(fk.n_mount, 1);
}

static void test_create_sandbox_not_ready(void **state)
{
	struct fx *f = *state;
	struct store_sb *sb = NULL;
	assert_int_equal(store_sb_get(f->b.store, f->sb_id, &sb, NULL), 0);
	assert_int_equal(store_sb_delete(f->b.store, f->sb_id, NULL), 0);
	store_sb_unref(sb);
	add_sandbox(f, STORE_SB_NOTREADY);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(create(f, ctr_config("c1", "docker.io/library/busybox:1"), NULL, &e),
			 -EBUSY);
	assert_non_null(strstr(berr_msg(e), "is not ready"));
	assert_nothing_left(f, "c1");
}

/* StopPodSandbox (or Remove) runs while a container of the pod is being
 * created, after Create checked the pod and before it added its record: Stop's
 * list misses the container, so Create must see Stop's claim and undo itself. */
static void create_during_pod_op(struct fx *f, int op)
{
	fk.pod_op_in_shim = op;
	fk.kill_exits = true; /* the undoing kills the created container */
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(create(f, ctr_config("c1", "docker.io/library/busybox:1"), NULL, &e),
			 -EBUSY);
	assert_int_equal(fk.pod_op_r, 0);
	assert_non_null(strstr(berr_msg(e), "pod sandbox"));
	assert_non_null(strstr(berr_msg(e), "is not ready")); /* stopped (removed) meanwhile */
	assert_int_equal(fk.n_shim, 1);
	assert_int_equal(fk.n_delete, 1); /* the runtime's container is deleted */
	assert_int_equal(fk.kill_sigs[0], SIGKILL);
	assert_nothing_left(f, "c1");
	/* no exit record left either */
	_cleanup_free_ char *exits = xasprintf("%s/run/exits", f->dir);
	assert_true(dir_empty(exits));
}

static void test_create_while_pod_stops(void **state)
{
	create_during_pod_op(*state, 1);
}

static void test_create_while_pod_is_removed(void **state)
{
	struct fx *f = *state;
	create_during_pod_op(f, 2);
	struct store_sb *sb = NULL;
	assert_int_equal(store_sb_get(f->b.store, f->sb_id, &sb, NULL), -ENOENT);
}

static int set_removing(struct store_ctr_status *st, void *arg, struct berr **err)
{
	st->removing = *(bool *)arg;
	return 0;
}

struct releaser {
	struct fx *f;
	struct store_ctr *c;
};

/* Another removal of the container (a Create undoing itself) that fails after a while. */
static void *release_later(void *arg)
{
	struct releaser *r = arg;
	struct timespec ts = {0, 50 * 1000000};
	nanosleep(&ts, NULL);
	bool off = false;
	(void)store_ctr_update(r->f->b.store, r->c, set_removing, &off, NULL);
	return NULL;
}

/* A pod Remove finding a container already being removed by someone else waits
 * for that removal, and takes over when it fails. */
static void test_pod_remove_takes_over_failed_removal(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *id = create_ok(f, "c1");
	fk.kill_exits = true;
	struct releaser rel = {f, get(f, id)};
	bool on = true;
	assert_int_equal(store_ctr_update(f->b.store, rel.c, set_removing, &on, NULL), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, release_later, &rel), 0);
	pod_op(2);
	pthread_join(t, NULL);
	store_ctr_unref(rel.c);
	assert_int_equal(fk.pod_op_r, 0);
	assert_int_equal(fk.n_delete, 1);
	assert_nothing_left(f, "c1");
}

/* ---- start, stop, remove ---- */

static void test_start_then_stop_with_image_signal(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *id = create_ok(f, "c1");
	assert_int_equal(start(f, id, NULL), 0);
	struct store_ctr_status st;
	assert_int_equal(state_of(f, id, &st), STORE_CTR_RUNNING);
	store_ctr_status_done(&st);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(start(f, id, &e), -EBUSY); /* only once */
	fk.kill_exits = true;
	fk.exit_on_term = true;
	assert_int_equal(stop(f, id, 5, NULL), 0);
	assert_int_equal(fk.n_kill, 1);
	assert_int_equal(fk.kill_sigs[0], SIGUSR1);
	assert_int_equal(state_of(f, id, &st), STORE_CTR_EXITED);
	assert_int_equal(st.exit_code, 128 + SIGUSR1);
	assert_string_equal(st.reason, "Error");
	store_ctr_status_done(&st);
	assert_int_equal(stop(f, id, 5, NULL), 0); /* idempotent, no more signals */
	assert_int_equal(fk.n_kill, 1);
}

static void test_stop_timeout_then_kill(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *id = create_ok(f, "c1");
	assert_int_equal(start(f, id, NULL), 0);
	fk.kill_exits = true; /* ignores the stop signal, dies on SIGKILL */
	assert_int_equal(stop(f, id, 1, NULL), 0);
	assert_int_equal(fk.n_kill, 2);
	assert_int_equal(fk.kill_sigs[1], SIGKILL);
	struct store_ctr_status st;
	assert_int_equal(state_of(f, id, &st), STORE_CTR_EXITED);
	assert_int_equal(st.exit_code, 137);
	store_ctr_status_done(&st);
}

static void test_stop_timeout_zero_kills_at_once(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *id = create_ok(f, "c1");
	assert_int_equal(start(f, id, NULL), 0);
	fk.kill_exits = true;
	assert_int_equal(stop(f, id, 0, NULL), 0);
	assert_int_equal(fk.n_kill, 1);
	assert_int_equal(fk.kill_sigs[0], SIGKILL);
}

static void test_stop_never_exits_times_out(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *id = create_ok(f, "c1");
	assert_int_equal(start(f, id, NULL), 0);
	f->b.rt->stop_wait_ms = 50;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(stop(f, id, 0, &e), -ETIMEDOUT);
	assert_non_null(strstr(berr_msg(e), "did not exit"));
}

/* CRI: Stop and Remove of a container that doesn't exist succeed, and call nothing */
static void test_stop_and_remove_unknown_ok(void **state)
{
	struct fx *f = *state;
	assert_int_equal(stop(f, "0123456789abcdef", 10, NULL), 0);
	assert_int_equal(rm(f, "0123456789abcdef", NULL), 0);
	assert_int_equal(fk.n_kill, 0);
	/* and once it is gone */
	_cleanup_free_ char *id = create_ok(f, "c1");
	fk.kill_exits = true;
	assert_int_equal(rm(f, id, NULL), 0);
	assert_int_equal(stop(f, id, 0, NULL), 0);
	assert_int_equal(rm(f, id, NULL), 0);
}

static void test_start_failure_records_exit(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *id = create_ok(f, "c1");
	fk.fail_start = 1;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(start(f, id, &e), -EIO);
	struct store_ctr_status st;
	assert_int_equal(state_of(f, id, &st), STORE_CTR_EXITED);
	assert_string_equal(st.reason, "StartError");
	assert_non_null(strstr(st.message, "fake start failure"));
	assert_false(st.starting);
	store_ctr_status_done(&st);
	assert_int_equal(fk.kill_sigs[0], SIGKILL);
}

static void test_remove_running(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *id = create_ok(f, "c1");
	assert_int_equal(start(f, id, NULL), 0);
	fk.kill_exits = true;
	assert_int_equal(rm(f, id, NULL), 0);
	assert_int_equal(fk.kill_sigs[0], SIGKILL);
	assert_int_equal(fk.n_delete, 1);
	assert_int_equal(fk.n_unmount, 1);
	assert_nothing_left(f, "c1");
	_cleanup_free_ char *rec = xasprintf("%s/%s", fk.exit_dir, id);
	assert_int_not_equal(access(rec, F_OK), 0);
	assert_int_equal(rm(f, id, NULL), 0); /* unknown ID: success */
}

/* Exits before StartContainer: recorded at once, and Start refuses cleanly. */

static void assert_exited_137(struct fx *f, const char *id)
{
	struct store_ctr_status st;
	assert_int_equal(state_of(f, id, &st), STORE_CTR_EXITED);
	assert_int_equal(st.exit_code, 137);
	assert_string_equal(st.reason, "Error");
	assert_int_equal(st.started_at, 0);
	assert_false(st.starting);
	store_ctr_status_done(&st);
}

static void assert_start_refused(struct fx *f, const char *id)
{
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(start(f, id, &e), -EBUSY);
	assert_non_null(strstr(berr_msg(e), "exit code 137"));
}

/* The init died between `runc create` and the record: the monitor skipped the
 * unknown ID, so Create commits the record itself. */
static void test_exit_during_create_is_recorded(void **state)
{
	struct fx *f = *state;
	fk.exit_in_shim = true;
	_cleanup_free_ char *id = create_ok(f, "c1");
	assert_exited_137(f, id);
	assert_start_refused(f, id);
	assert_int_equal(fk.n_start, 0);
	assert_exited_137(f, id);
	assert_int_equal(rm(f, id, NULL), 0);
	assert_nothing_left(f, "c1");
}

/* A record the monitor has not committed yet: Start commits it and refuses
 * without asking the runtime. */
static void test_start_after_uncommitted_exit(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *id = create_ok(f, "c1");
	assert_int_equal(fake_write_exit(id, 137, SIGKILL), 0);
	assert_start_refused(f, id);
	assert_int_equal(fk.n_start, 0);
	assert_exited_137(f, id);
	assert_int_equal(fk.n_kill, 0);
}

/* The init dies as Start runs: the runtime refuses, says it is stopped, and
 * the shim's record comes a little later. Start waits for it, reports the
 * exit and records it as it happened, not as a StartError. */
static void test_start_racing_exit_keeps_real_exit(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *id = create_ok(f, "c1");
	fk.exit_on_start = true;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(start(f, id, &e), -EBUSY);
	assert_non_null(strstr(berr_msg(e), "exited before it was started (exit code 137"));
	assert_non_null(strstr(berr_msg(e), "cannot start a container that has stopped"));
	assert_int_equal(fk.n_start, 1);
	assert_exited_137(f, id);
	assert_int_equal(fk.n_kill, 0);
}

/* ---- exec, update, status ---- */

static void test_exec_sync(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *id = create_ok(f, "c1");
	char *cmd[] = {"echo", "x"};
	Runtime__V1__ExecSyncRequest req = RUNTIME__V1__EXEC_SYNC_REQUEST__INIT;
	req.container_id = id;
	req.cmd = cmd;
	req.n_cmd = 2;
	ProtobufCMessage *resp = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cri_exec_sync(&f->b, NULL, &req.base, &resp, &e), -EBUSY);
	assert_non_null(strstr(berr_msg(e), "not running"));
	assert_int_equal(start(f, id, NULL), 0);
	assert_int_equal(cri_exec_sync(&f->b, NULL, &req.base, &resp, NULL), 0);
	Runtime__V1__ExecSyncResponse *r = (void *)resp;
	assert_int_equal(r->exit_code, 3);
	assert_int_equal(r->stdout.len, 4);
	assert_memory_equal(r->stdout.data, "out\n", 4);
	assert_memory_equal(r->stderr.data, "err", 3);
	cri_msg_free(resp);
	resp = NULL;
	fk.fail_exec_timeout = 1;
	req.timeout = 1;
	berr_free(e);
	e = NULL;
	assert_int_equal(cri_exec_sync(&f->b, NULL, &req.base, &resp, &e), -ETIMEDOUT);
	assert_non_null(strstr(berr_msg(e), "timed out"));
	assert_null(resp);
}

static void test_update_and_status(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *id = create_ok(f, "c1");
	assert_int_equal(start(f, id, NULL), 0);
	Runtime__V1__LinuxContainerResources res = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	res.memory_limit_in_bytes = 64 << 20;
	Runtime__V1__UpdateContainerResourcesRequest ur =
	    RUNTIME__V1__UPDATE_CONTAINER_RESOURCES_REQUEST__INIT;
	ur.container_id = id;
	ur.linux = &res;
	assert_int_equal(call_simple(f, cri_update_container_resources, &ur.base, NULL), 0);
	assert_int_equal(fk.n_update, 1);

	Runtime__V1__ContainerStatusRequest sr = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
	sr.container_id = id;
	sr.verbose = true;
	ProtobufCMessage *resp = NULL;
	assert_int_equal(cri_container_status(&f->b, NULL, &sr.base, &resp, NULL), 0);
	Runtime__V1__ContainerStatusResponse *r = (void *)resp;
	assert_int_equal(r->status->state, RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING);
	assert_string_equal(r->status->image_id, IMG_ID);
	assert_string_equal(r->status->image->image, "docker.io/library/busybox:1");
	assert_int_equal(r->status->resources->linux->memory_limit_in_bytes, 64 << 20);
	assert_int_equal(r->n_info, 1);
	assert_non_null(strstr(r->info[0]->value, "\"runtimeSpec\""));
	cri_msg_free(resp);

	Runtime__V1__ListContainersRequest lr = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
	Runtime__V1__ContainerFilter flt = RUNTIME__V1__CONTAINER_FILTER__INIT;
	Runtime__V1__ContainerStateValue sv = RUNTIME__V1__CONTAINER_STATE_VALUE__INIT;
	sv.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
	flt.state = &sv;
	lr.filter = &flt;
	resp = NULL;
	assert_int_equal(cri_list_containers(&f->b, NULL, &lr.base, &resp, NULL), 0);
	assert_int_equal(((Runtime__V1__ListContainersResponse *)resp)->n_containers, 0);
	cri_msg_free(resp);
	sv.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
	flt.pod_sandbox_id = f->sb_id;
	resp = NULL;
	assert_int_equal(cri_list_containers(&f->b, NULL, &lr.base, &resp, NULL), 0);
	assert_int_equal(((Runtime__V1__ListContainersResponse *)resp)->n_containers, 1);
	cri_msg_free(resp);
}

/* Resources updates merge (containerd's WithResources). */

static int update(struct fx *f, const char *id, Runtime__V1__LinuxContainerResources *res,
		  struct berr **err)
{
	Runtime__V1__UpdateContainerResourcesRequest ur =
	    RUNTIME__V1__UPDATE_CONTAINER_RESOURCES_REQUEST__INIT;
	ur.container_id = (char *)id;
	ur.linux = res;
	return call_simple(f, cri_update_container_resources, &ur.base, err);
}

/* The stored resources, as ContainerStatus reports them; free with cri_msg_free(). */
static Runtime__V1__ContainerStatusResponse *status_of(struct fx *f, const char *id)
{
	Runtime__V1__ContainerStatusRequest sr = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
	sr.container_id = (char *)id;
	ProtobufCMessage *resp = NULL;
	assert_int_equal(cri_container_status(&f->b, NULL, &sr.base, &resp, NULL), 0);
	Runtime__V1__ContainerStatusResponse *r = (void *)resp;
	assert_non_null(r->status->resources);
	assert_non_null(r->status->resources->linux);
	return r;
}

static int64_t json_at(const char *json, const char *obj, const char *key)
{
	struct json_object *o = json_tokener_parse(json), *a = NULL, *v = NULL;
	assert_non_null(o);
	int64_t n = -1;
	if (json_object_object_get_ex(o, obj, &a) && json_object_object_get_ex(a, key, &v))
		n = json_object_get_int64(v);
	json_object_put(o);
	return n;
}

static const char *unified_value(const Runtime__V1__LinuxContainerResources *l, const char *key)
{
	for (size_t i = 0; i < l->n_unified; i++)
		if (strcmp(l->unified[i]->key, key) == 0)
			return l->unified[i]->value;
	return NULL;
}

static char *create_with_resources(struct fx *f)
{
	Runtime__V1__ContainerConfig *c = ctr_config("c1", "docker.io/library/busybox:1");
	c->linux = xcalloc(1, sizeof(*c->linux));
	runtime__v1__linux_container_config__init(c->linux);
	Runtime__V1__LinuxContainerResources *res = xcalloc(1, sizeof(*res));
	runtime__v1__linux_container_resources__init(res);
	res->memory_limit_in_bytes = 32 << 20;
	res->cpu_shares = 512;
	res->oom_score_adj = -1000; /* the lowest allowed; clamped at the daemon's own */
	res->unified = xcalloc(2, sizeof(*res->unified));
	const char *kv[2][2] = {{"memory.high", "max"}, {"pids.max", "10"}};
	for (size_t i = 0; i < 2; i++) {
		res->unified[i] = xcalloc(1, sizeof(**res->unified));
		runtime__v1__linux_container_resources__unified_entry__init(res->unified[i]);
		res->unified[i]->key = xstrdup(kv[i][0]);
		res->unified[i]->value = xstrdup(kv[i][1]);
	}
	res->n_unified = 2;
	c->linux->resources = res;
	char *id = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	if (create(f, c, &id, &e) < 0)
		fail_msg("create: %s", berr_msg(e));
	return id;
}

static void test_update_merges_into_stored_resources(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *id = create_with_resources(f);
	int oom = oci_oom_score_adj_clamp(-1000, f->b.rt->opts.oom_score_adj_min);
	Runtime__V1__ContainerStatusResponse *r = status_of(f, id);
	/* clamped as in the spec */
	assert_int_equal(r->status->resources->linux->oom_score_adj, oom);
	cri_msg_free(&r->base);
	assert_int_equal(start(f, id, NULL), 0);

	/* Only cpu quota/period and one unified key: the rest stays. */
	Runtime__V1__LinuxContainerResources res = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	res.cpu_quota = 50000;
	res.cpu_period = 100000;
	Runtime__V1__LinuxContainerResources__UnifiedEntry ue =
	    RUNTIME__V1__LINUX_CONTAINER_RESOURCES__UNIFIED_ENTRY__INIT;
	ue.key = "pids.max";
	ue.value = "20";
	Runtime__V1__LinuxContainerResources__UnifiedEntry *uev[] = {&ue};
	res.unified = uev;
	res.n_unified = 1;
	assert_int_equal(update(f, id, &res, NULL), 0);
	assert_int_equal(fk.n_update, 1);
	assert_int_equal(json_at(fk.last_update, "memory", "limit"), 32 << 20);
	assert_int_equal(json_at(fk.last_update, "cpu", "shares"), 512);
	assert_int_equal(json_at(fk.last_update, "cpu", "quota"), 50000);
	assert_int_equal(json_at(fk.last_update, "cpu", "period"), 100000);
	assert_non_null(strstr(fk.last_update, "\"pids.max\":\"20\""));
	assert_non_null(strstr(fk.last_update, "\"memory.high\":\"max\""));
	r = status_of(f, id);
	const Runtime__V1__LinuxContainerResources *l = r->status->resources->linux;
	assert_int_equal(l->memory_limit_in_bytes, 32 << 20);
	assert_int_equal(l->cpu_shares, 512);
	assert_int_equal(l->cpu_quota, 50000);
	assert_int_equal(l->cpu_period, 100000);
	assert_int_equal(l->oom_score_adj, oom);
	assert_int_equal(l->n_unified, 2);
	assert_string_equal(unified_value(l, "pids.max"), "20");
	assert_string_equal(unified_value(l, "memory.high"), "max");
	cri_msg_free(&r->base);

	/* Then memory only: the cpu settings stay. */
	res = (Runtime__V1__LinuxContainerResources)RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	res.memory_limit_in_bytes = 64 << 20;
	assert_int_equal(update(f, id, &res, NULL), 0);
	assert_int_equal(json_at(fk.last_update, "memory", "limit"), 64 << 20);
	assert_int_equal(json_at(fk.last_update, "cpu", "quota"), 50000);
	r = status_of(f, id);
	l = r->status->resources->linux;
	assert_int_equal(l->memory_limit_in_bytes, 64 << 20);
	assert_int_equal(l->cpu_quota, 50000);
	assert_int_equal(l->cpu_shares, 512);
	cri_msg_free(&r->base);
}

static void test_update_failure_keeps_resources(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *id = create_with_resources(f);
	Runtime__V1__LinuxContainerResources res = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	res.memory_limit_in_bytes = 64 << 20;
	fk.fail_update = 1;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(update(f, id, &res, &e), -EIO);
	assert_non_null(strstr(berr_msg(e), "fake update failure"));
	Runtime__V1__ContainerStatusResponse *r = status_of(f, id);
	assert_int_equal(r->status->resources->linux->memory_limit_in_bytes, 32 << 20);
	cri_msg_free(&r->base);
	/* the claim was released: a retry goes through */
	fk.fail_update = 0;
	assert_int_equal(update(f, id, &res, NULL), 0);
	r = status_of(f, id);
	assert_int_equal(r->status->resources->linux->memory_limit_in_bytes, 64 << 20);
	assert_int_equal(r->status->resources->linux->cpu_shares, 512);
	cri_msg_free(&r->base);
	/* bad values are refused before the runtime is asked */
	res.cpu_shares = -1;
	berr_free(e);
	e = NULL;
	int n = fk.n_update;
	assert_int_equal(update(f, id, &res, &e), -EINVAL);
	assert_int_equal(fk.n_update, n);
}

static void test_update_exited_records_only(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *id = create_with_resources(f);
	assert_int_equal(start(f, id, NULL), 0);
	fk.kill_exits = true;
	assert_int_equal(stop(f, id, 0, NULL), 0);
	/* containerd: a container that is not running gets its record updated only */
	Runtime__V1__LinuxContainerResources res = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	res.cpu_shares = 1024;
	assert_int_equal(update(f, id, &res, NULL), 0);
	assert_int_equal(fk.n_update, 0);
	Runtime__V1__ContainerStatusResponse *r = status_of(f, id);
	assert_int_equal(r->status->resources->linux->cpu_shares, 1024);
	assert_int_equal(r->status->resources->linux->memory_limit_in_bytes, 32 << 20);
	cri_msg_free(&r->base);
	/* ... and none while it is being removed */
	struct store_ctr *c = get(f, id);
	bool on = true;
	assert_int_equal(store_ctr_update(f->b.store, c, set_removing, &on, NULL), 0);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(update(f, id, &res, &e), -EBUSY);
	assert_non_null(strstr(berr_msg(e), "being removed"));
	on = false;
	assert_int_equal(store_ctr_update(f->b.store, c, set_removing, &on, NULL), 0);
	store_ctr_unref(c);
}

/* An update racing the container's exit: the runtime refuses, the exit record is
 * there, so the record is updated as for any exited container. */
static void test_update_of_container_exiting_meanwhile(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *id = create_with_resources(f);
	assert_int_equal(start(f, id, NULL), 0);
	assert_int_equal(fake_write_exit(id, 0, 0), 0);
	fk.fail_update = 1;
	Runtime__V1__LinuxContainerResources res = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	res.cpu_shares = 256;
	assert_int_equal(update(f, id, &res, NULL), 0);
	Runtime__V1__ContainerStatusResponse *r = status_of(f, id);
	assert_int_equal(r->status->state, RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED);
	assert_int_equal(r->status->resources->linux->cpu_shares, 256);
	cri_msg_free(&r->base);
}

/* ---- monitor and recovery ---- */

static void test_monitor_commits_exit(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *id = create_ok(f, "c1");
	assert_int_equal(start(f, id, NULL), 0);
	assert_int_equal(cri_monitor_start(&f->b, &f->b.rt->monitor, NULL), 0);
	assert_int_equal(fake_write_exit(id, 0, 0), 0);
	/* The monitor commits without anyone asking; wait on the exit generation. */
	pthread_mutex_lock(&f->b.rt->exit_mu);
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += 10;
	while (f->b.rt->exit_gen == 0 &&
	       pthread_cond_timedwait(&f->b.rt->exit_cond, &f->b.rt->exit_mu, &until) == 0)
		;
	pthread_mutex_unlock(&f->b.rt->exit_mu);
	struct store_ctr_status st;
	assert_int_equal(state_of(f, id, &st), STORE_CTR_EXITED);
	assert_int_equal(st.exit_code, 0);
	assert_string_equal(st.reason, "Completed");
	store_ctr_status_done(&st);
}

static void test_recover(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *a = create_ok(f, "a"); /* exited while down */
	_cleanup_free_ char *b = create_ok(f, "b"); /* lost: no process, no shim, no record */
	assert_int_equal(start(f, a, NULL), 0);
	assert_int_equal(start(f, b, NULL), 0);
	assert_int_equal(fake_write_exit(a, 2, 0), 0);
	assert_int_equal(
	    fake_write_exit("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 0,
			    0),
	    0);
	fk.state_missing = true;
	assert_int_equal(cri_recover(&f->b, NULL), 0);
	struct store_ctr_status st;
	assert_int_equal(state_of(f, a, &st), STORE_CTR_EXITED);
	assert_int_equal(st.exit_code, 2);
	assert_string_equal(st.reason, "Error");
	store_ctr_status_done(&st);
	assert_int_equal(state_of(f, b, &st), STORE_CTR_EXITED);
	assert_int_equal(st.exit_code, 255);
	assert_non_null(strstr(st.message, "gone"));
	store_ctr_status_done(&st);
	_cleanup_free_ char *orphan = xasprintf(
	    "%s/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", fk.exit_dir);
	assert_int_not_equal(access(orphan, F_OK), 0);
}

static void test_recover_keeps_what_the_runtime_runs(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *id = create_ok(f, "a"); /* no shim, but runc has it running */
	assert_int_equal(start(f, id, NULL), 0);
	assert_int_equal(cri_recover(&f->b, NULL), 0);
	struct store_ctr_status st;
	assert_int_equal(state_of(f, id, &st), STORE_CTR_RUNNING);
	store_ctr_status_done(&st);
}

/* ---- image volumes ---- */

static Runtime__V1__Mount *vol_mount(const char *dst, const char *image, const char *sub)
{
	Runtime__V1__Mount *m = xcalloc(1, sizeof(*m));
	runtime__v1__mount__init(m);
	m->container_path = xstrdup(dst);
	m->image = xcalloc(1, sizeof(*m->image));
	runtime__v1__image_spec__init(m->image);
	m->image->image = xstrdup(image);
	if (sub)
		m->image_sub_path = xstrdup(sub);
	return m;
}

/* A container config with image volumes at /data (the whole image) and, with sub, at
 * /sub (that directory of it). */
static Runtime__V1__ContainerConfig *vol_config(const char *name, const char *image,
						const char *sub)
{
	Runtime__V1__ContainerConfig *c = ctr_config(name, "docker.io/library/busybox:1");
	c->mounts = xcalloc(2, sizeof(*c->mounts));
	c->mounts[c->n_mounts++] = vol_mount("/data", image, NULL);
	if (sub)
		c->mounts[c->n_mounts++] = vol_mount("/sub", image, sub);
	return c;
}

static char *vol_tree(struct fx *f)
{
	return xasprintf("%s/run/imgvol/%s", f->dir, VOL_ID + 7);
}

/* The mount of config.json at dst, as "source options...". */
static char *spec_mount(struct fx *f, const char *id, const char *dst)
{
	struct store_ctr *c = get(f, id);
	_cleanup_free_ char *path = xasprintf("%s/config.json", store_ctr_meta(c)->bundle_dir);
	store_ctr_unref(c);
	_cleanup_free_ char *json = NULL;
	assert_int_equal(fileio_read_all(path, 1 << 20, &json, NULL, NULL), 0);
	struct json_object *o = json_tokener_parse(json), *mounts = NULL;
	assert_true(json_object_object_get_ex(o, "mounts", &mounts));
	char *out = NULL;
	for (size_t i = 0; i < json_object_array_length(mounts) && !out; i++) {
		struct json_object *m = json_object_array_get_idx(mounts, i), *v;
		json_object_object_get_ex(m, "destination", &v);
		if (strcmp(json_object_get_string(v), dst) != 0)
			continue;
		json_object_object_get_ex(m, "source", &v);
		out = xstrdup(json_object_get_string(v));
		json_object_object_get_ex(m, "options", &v);
		for (size_t k = 0; k < json_object_array_length(v); k++) {
			char *t = xasprintf(
			    "%s %s", out, json_object_get_string(json_object_array_get_idx(v, k)));
			free(out);
			out = t;
		}
	}
	json_object_put(o);
	return out;
}

static void test_image_volume_shared_and_released(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *a = NULL, *b = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	fk.kill_exits = true;
	if (create(f, vol_config("a", VOL_REF, "opt"), &a, &e) < 0)
		fail_msg("create: %s", berr_msg(e));
	assert_int_equal(fk.n_mount, 2); /* rootfs + the image's tree */
	_cleanup_free_ char *tree = vol_tree(f);
	_cleanup_free_ char *want = xasprintf("%s rbind rprivate ro noexec nosuid nodev", tree);
	_cleanup_free_ char *got = spec_mount(f, a, "/data");
	assert_string_equal(got, want);
	free(got);
	free(want);
	want = xasprintf("%s/opt rbind rprivate ro noexec nosuid nodev", tree);
	got = spec_mount(f, a, "/sub");
	assert_string_equal(got, want);
	struct store_ctr *c = get(f, a);
	assert_string_equal(cri_ctr_extra(store_ctr_meta(c), CRI_CTR_X_IMGVOLS), VOL_ID);
	store_ctr_unref(c);

	/* ContainerStatus shows the mounts with their image, read-only */
	Runtime__V1__ContainerStatusRequest sr = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
	sr.container_id = a;
	ProtobufCMessage *resp = NULL;
	assert_int_equal(cri_container_status(&f->b, NULL, &sr.base, &resp, NULL), 0);
	const Runtime__V1__ContainerStatus *st =
	    ((Runtime__V1__ContainerStatusResponse *)resp)->status;
	assert_int_equal(st->n_mounts, 2);
	assert_string_equal(st->mounts[1]->image->image, VOL_REF);
	assert_string_equal(st->mounts[1]->image_sub_path, "opt");
	assert_true(st->mounts[0]->readonly && st->mounts[1]->readonly);
	cri_msg_free(resp);

	/* a second container shares the tree */
	assert_int_equal(create(f, vol_config("b", VOL_REF, NULL), &b, &e), 0);
	assert_int_equal(fk.n_mount, 3);
	assert_int_equal(remove_image(VOL_REF, &e), -EBUSY);
	assert_non_null(strstr(berr_msg(e), "mounted as a volume of container"));
	assert_int_equal(rm(f, a, NULL), 0);
	assert_int_equal(fk.n_unmount, 1); /* a's rootfs only: b holds the tree */
	assert_int_equal(access(tree, F_OK), 0);
	assert_int_equal(rm(f, b, NULL), 0);
	assert_int_equal(fk.n_unmount, 3);
	assert_int_not_equal(access(tree, F_OK), 0);
	assert_nothing_left(f, "a");
}

static void test_image_volume_refused(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *image, *sub;
		int code;
		const char *msg;
	} cases[] = {
	    {"nope:1", NULL, -ENOENT, "image 'nope:1' of image volume '/data' not found"},
	    {VOL_REF, "missing", -EINVAL, "image_sub_path 'missing' of image volume '/sub'"},
	    {VOL_REF, "esc", -EINVAL, "escapes the image"},
	    {VOL_REF, "esc/etc", -EINVAL, "escapes the image"},
	    {VOL_REF, "opt/f", -EINVAL, "is not a directory"},
	    {VOL_REF, "opt/../..", -EINVAL, "has a '..' component"},
	    {VOL_REF, "/opt", -EINVAL, "is not a relative path"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_berr_ struct berr *e = NULL;
		Runtime__V1__ContainerConfig *c = vol_config("c", cases[i].image, cases[i].sub);
		assert_int_equal(create(f, c, NULL, &e), cases[i].code);
		if (!strstr(berr_msg(e), cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, berr_msg(e), cases[i].msg);
		assert_nothing_left(f, "c");
		_cleanup_free_ char *tree = vol_tree(f);
		assert_int_not_equal(access(tree, F_OK), 0);
	}
	/* fields the spec can't honour */
	_cleanup_berr_ struct berr *e = NULL;
	int n_mount = fk.n_mount;
	Runtime__V1__ContainerConfig *c = vol_config("c", VOL_REF, NULL);
	c->mounts[0]->selinux_relabel = true;
	assert_int_equal(create(f, c, NULL, &e), -EINVAL);
	assert_non_null(strstr(berr_msg(e), "selinux_relabel"));
	c = vol_config("c", VOL_REF, NULL);
	c->mounts[0]->propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL;
	assert_int_equal(create(f, c, NULL, &e), -EINVAL);
	assert_non_null(strstr(berr_msg(e), "PROPAGATION_BIDIRECTIONAL"));
	assert_int_equal(fk.n_mount, n_mount); /* refused before anything was made */
	assert_nothing_left(f, "c");
}

static void test_image_volume_remove_image_during_create(void **state)
{
	struct fx *f = *state;
	/* The image is held from before its tree is mounted, not only once the
	 * container's record lists it. */
	fk.rmi_in_shim = true;
	fk.kill_exits = true;
	_cleanup_free_ char *id = NULL;
	assert_int_equal(create(f, vol_config("a", VOL_REF, NULL), &id, NULL), 0);
	assert_int_equal(fk.rmi_r, -EBUSY);
	fk.rmi_in_shim = false;
	assert_int_equal(rm(f, id, NULL), 0);
	assert_nothing_left(f, "a");
}

static void test_image_volume_recovered(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *id = NULL;
	fk.kill_exits = true;
	assert_int_equal(create(f, vol_config("a", VOL_REF, NULL), &id, NULL), 0);
	/* a stale tree nobody holds (a crash before its container's record) */
	_cleanup_free_ char *stale = xasprintf("%s/run/imgvol/%064d", f->dir, 3);
	assert_int_equal(fileio_mkdir_p(stale, 0700, NULL), 0);
	/* berthd restarts: the holders come back from the records */
	cri_runtime_done(&f->b);
	assert_int_equal(cri_runtime_init(&f->b, false, NULL), 0);
	assert_int_not_equal(access(stale, F_OK), 0);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(remove_image(VOL_REF, &e), -EBUSY);
	_cleanup_free_ char *want = xasprintf("container '%.12s'", id);
	assert_non_null(strstr(berr_msg(e), want));
	/* the fake tree isn't a real mount: a restart reads it as not mounted, and a new
	 * holder mounts it again */
	_cleanup_free_ char *b = NULL;
	assert_int_equal(create(f, vol_config("b", VOL_REF, NULL), &b, NULL), 0);
	assert_int_equal(rm(f, id, NULL), 0);
	assert_int_equal(rm(f, b, NULL), 0);
	_cleanup_free_ char *tree = vol_tree(f);
	assert_int_not_equal(access(tree, F_OK), 0);
}

/* The next event of s: its type, ID, the pod's status and the number of
 * container statuses; returns it for more checks (release with cri_event_unref). */
static struct cri_event *expect_event(struct fx *f, struct cri_events_sub *s, const char *id,
				      Runtime__V1__ContainerEventType type, size_t n_ctrs)
{
	struct cri_event *ev = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	if (cri_events_next(s, 0, &ev, &e) != 1)
		fail_msg("no event %d of '%s': %s", type, id, berr_msg(e));
	const Runtime__V1__ContainerEventResponse *m = (const void *)cri_event_msg(ev);
	assert_int_equal(m->container_event_type, type);
	assert_string_equal(m->container_id, id);
	assert_true(m->created_at > 0);
	assert_non_null(m->pod_sandbox_status);
	assert_string_equal(m->pod_sandbox_status->id, f->sb_id);
	assert_string_equal(m->pod_sandbox_status->metadata->uid, "uid1");
	assert_int_equal(m->n_containers_statuses, n_ctrs);
	return ev;
}

static const Runtime__V1__ContainerStatus *status_in(const struct cri_event *ev, const char *id)
{
	const Runtime__V1__ContainerEventResponse *m = (const void *)cri_event_msg(ev);
	for (size_t i = 0; i < m->n_containers_statuses; i++)
		if (strcmp(m->containers_statuses[i]->id, id) == 0)
			return m->containers_statuses[i];
	fail_msg("no status of '%s' in the event", id);
	return NULL;
}

/* Every committed change is published once, after its commit, with the pod's
 * statuses as they are then: create, start, stop, a failed start, remove,
 * and the pod's own stop and removal (keyed by the sandbox ID). */
static void test_events_published(void **state)
{
	struct fx *f = *state;
	struct cri_events_sub *s = NULL;
	assert_int_equal(cri_events_subscribe(f->b.rt->events, &s, NULL), 0);
	_cleanup_free_ char *id = create_ok(f, "c1");
	struct cri_event *ev = expect_event(f, s, id, CRI_EV_CREATED, 1);
	assert_int_equal(status_in(ev, id)->state, RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED);
	assert_string_equal(status_in(ev, id)->metadata->name, "c1");
	cri_event_unref(ev);

	assert_int_equal(start(f, id, NULL), 0);
	ev = expect_event(f, s, id, CRI_EV_STARTED, 1);
	assert_int_equal(status_in(ev, id)->state, RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING);
	assert_int_equal(((const Runtime__V1__ContainerEventResponse *)cri_event_msg(ev))
			     ->pod_sandbox_status->state,
			 RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY);
	cri_event_unref(ev);

	fk.kill_exits = true;
	assert_int_equal(stop(f, id, 0, NULL), 0);
	ev = expect_event(f, s, id, CRI_EV_STOPPED, 1);
	assert_int_equal(status_in(ev, id)->state, RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED);
	assert_int_equal(status_in(ev, id)->exit_code, 137);
	cri_event_unref(ev);
	assert_int_equal(stop(f, id, 0, NULL), 0); /* nothing changes: no event */

	fk.kill_exits = false;
	_cleanup_free_ char *id2 = create_ok(f, "c2");
	cri_event_unref(expect_event(f, s, id2, CRI_EV_CREATED, 2));
	fk.fail_start = 1;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(start(f, id2, &e), -EIO);
	ev = expect_event(f, s, id2, CRI_EV_STOPPED, 2);
	assert_string_equal(status_in(ev, id2)->reason, "StartError");
	cri_event_unref(ev);

	assert_int_equal(rm(f, id, NULL), 0);
	ev = expect_event(f, s, id, CRI_EV_DELETED, 1);
	assert_non_null(status_in(ev, id2));
	cri_event_unref(ev);
	assert_int_equal(rm(f, id, NULL), 0); /* unknown: no event */

	pod_op(1);
	assert_int_equal(fk.pod_op_r, 0);
	ev = expect_event(f, s, f->sb_id, CRI_EV_STOPPED, 1);
	assert_int_equal(((const Runtime__V1__ContainerEventResponse *)cri_event_msg(ev))
			     ->pod_sandbox_status->state,
			 RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY);
	cri_event_unref(ev);
	pod_op(2);
	assert_int_equal(fk.pod_op_r, 0);
	cri_event_unref(expect_event(f, s, id2, CRI_EV_DELETED, 0));
	/* the pod's status goes with the event although its record is gone */
	cri_event_unref(expect_event(f, s, f->sb_id, CRI_EV_DELETED, 0));
	assert_int_equal(cri_events_next(s, 0, &ev, NULL), 0);
	cri_events_unsubscribe(s);
}

/* ContainerStatus.user: the effective ids of /proc/<pid>/status, seen through the
 * process's maps (identity on the host, 0 for the mapped base in a user namespace) */
static void test_proc_user_parse(void **state)
{
	(void)state;
	const char *status = "Name:\tsleep\nUid:\t1000\t1001\t1000\t1000\n"
			     "Gid:\t2000\t2001\t2000\t2000\nFDSize:\t64\n"
			     "Groups:\t2001 3000 \nNStgid:\t1\n";
	const char *host = "         0          0 4294967295\n";
	struct cri_proc_user u;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cri_proc_user_parse(status, host, host, &u, &e), 0);
	assert_int_equal(u.uid, 1001);
	assert_int_equal(u.gid, 2001);
	assert_int_equal(u.n_groups, 2);
	assert_int_equal(u.groups[0], 2001);
	assert_int_equal(u.groups[1], 3000);
	cri_proc_user_done(&u);
	/* a pod user namespace: host 65536.. is the container's 0..; 3000 is unmapped */
	const char *ns = "Uid:\t65536\t65536\t65536\t65536\nGid:\t65546\t65546\t65546\t65546\n"
			 "Groups:\t65546 65537 3000\n";
	const char *map = "0 65536 2000\n";
	assert_int_equal(cri_proc_user_parse(ns, map, map, &u, &e), 0);
	assert_int_equal(u.uid, 0);
	assert_int_equal(u.gid, 10);
	assert_int_equal(u.n_groups, 2);
	assert_int_equal(u.groups[0], 10);
	assert_int_equal(u.groups[1], 1);
	cri_proc_user_done(&u);
	/* no groups at all */
	assert_int_equal(
	    cri_proc_user_parse("Uid:\t0 0 0 0\nGid:\t0 0 0 0\nGroups:\t\n", host, host, &u, &e),
	    0);
	assert_int_equal(u.n_groups, 0);
	cri_proc_user_done(&u);
	assert_int_equal(cri_proc_user_parse("Name:\tx\n", host, host, &u, &e), -EPROTO);
	assert_non_null(strstr(berr_msg(e), "no Uid or Gid line"));
	e = berr_free(e);
	assert_int_equal(cri_proc_user_parse(ns, "0 100000 10\n", map, &u, &e), -EPROTO);
	assert_non_null(strstr(berr_msg(e), "uid 65536 is not in the process's uid_map"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_create_ok_writes_bundle_and_record),
	    T(test_create_unknown_image),
	    T(test_restart_sweeps_a_dead_creates_leftovers),
	    T(test_create_unknown_sandbox),
	    T(test_create_rootfs_mount_fails),
	    T(test_create_bad_mount_source),
	    T(test_create_no_command),
	    T(test_create_argv_fails),
	    T(test_create_shim_fails),
	    T(test_create_duplicate_name),
	    T(test_create_sandbox_not_ready),
	    T(test_create_while_pod_stops),
	    T(test_create_while_pod_is_removed),
	    T(test_pod_remove_takes_over_failed_removal),
	    T(test_start_then_stop_with_image_signal),
	    T(test_stop_timeout_then_kill),
	    T(test_stop_timeout_zero_kills_at_once),
	    T(test_stop_never_exits_times_out),
	    T(test_stop_and_remove_unknown_ok),
	    cmocka_unit_test(test_proc_user_parse),
	    T(test_start_failure_records_exit),
	    T(test_exit_during_create_is_recorded),
	    T(test_start_after_uncommitted_exit),
	    T(test_start_racing_exit_keeps_real_exit),
	    T(test_remove_running),
	    T(test_exec_sync),
	    T(test_update_and_status),
	    T(test_update_merges_into_stored_resources),
	    T(test_update_failure_keeps_resources),
	    T(test_update_exited_records_only),
	    T(test_update_of_container_exiting_meanwhile),
	    T(test_monitor_commits_exit),
	    T(test_recover),
	    T(test_recover_keeps_what_the_runtime_runs),
	    T(test_events_published),
	    T(test_image_volume_shared_and_released),
	    T(test_image_volume_refused),
	    T(test_image_volume_remove_image_during_create),
	    T(test_image_volume_recovered),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
