/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_cri - the CRI request path as the server runs it: payload decode
 * under its memory budget (cri_msg_unpack), the validation layer
 * (cri_validate), then the handler, on a berth with a real store and image
 * context in a temp dir and fake ops (OCI runtime, shim, rootfs, CNI: as
 * tests/unit/test_cri_container.c has them). The fixture holds a READY pod
 * (ID FUZZ_SB, host namespaces) and an image (docker.io/library/busybox:1).
 * Input: requests of [method index (1 byte)][length (2 bytes, BE)][payload],
 * run in order on one state; a state an input changed is rebuilt before the
 * next input. A request's container_id of "@" is the last created container.
 * Every method is decoded and validated; handlers run except where they would
 * reach the host or never return: RunPodSandbox (berth-pinns), PullImage
 * (berth-pull), the server-streaming ones (they need a live call) and the
 * long ones. Oracles: the sanitizers, and no caller's request answered with
 * the codes of berth's own failures (INTERNAL, UNKNOWN). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/fileio.h"
#include "common/ids.h"
#include "cri/cri-internal.h"
#include "cri/pod.h"
#include "cri/validate-internal.h"
#include "netns/netns.h"
#include "shim/shim.h"
#include "store/store.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_SB	 "5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b"
#define IMG_ID	 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define FAKE_PID 99999999 /* above any pid_max: kill(FAKE_PID, 0) fails */

static struct {
	char dir[64];
	char exit_dir[128];
	struct berth b;
	bool up, dirty;
	char last_id[ID_LEN + 1];
} fx;

/* ---- fakes ---- */

static int fake_write_exit(const char *id, int code, int sig)
{
	struct shim_exit e = {.pid = 4242, .exit_code = code, .signal = sig, .finished_ns = 1};
	char buf[512];
	size_t n = shim_exit_encode(&e, buf, sizeof(buf));
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", fx.exit_dir, id);
	return fileio_write_atomic(p, buf, n, 0600, NULL);
}

static char **fake_create_argv(const struct oci_runtime_handler *h,
			       const struct oci_runtime_args *a, struct berr **err)
{
	return oci_runc_ops.create_argv(h, a, err);
}

static int fake_start(const struct oci_runtime_handler *h, const char *id, struct berr **err)
{
	return 0;
}

static int fake_state(const struct oci_runtime_handler *h, const char *id, struct oci_state *ret,
		      struct berr **err)
{
	ret->status = OCI_STATUS_RUNNING;
	ret->pid = 4242;
	return 0;
}

/* every signal ends the "container": Stop's waits end at once */
static int fake_kill(const struct oci_runtime_handler *h, const char *id, int sig, bool all,
		     struct berr **err)
{
	return fake_write_exit(id, 128 + sig, sig);
}

static int fake_delete(const struct oci_runtime_handler *h, const char *id, bool force,
		       struct berr **err)
{
	return 0;
}

static int fake_exec(const struct oci_runtime_handler *h, const struct oci_exec_request *req,
		     struct oci_exec_result *ret, struct berr **err)
{
	*ret = (struct oci_exec_result){0};
	ret->out = xstrdup("out\n");
	ret->out_len = 4;
	ret->errout = xstrdup("");
	ret->exit_code = 0;
	return 0;
}

static int fake_update(const struct oci_runtime_handler *h, const char *id, const char *json,
		       struct berr **err)
{
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

static int fake_shim_start(const struct shim_opts *o, struct shim_info *ret, struct berr **err)
{
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

static int fake_mount(struct berth *b, const struct store_img_meta *img, const char *upper,
		      const char *target, bool ro, struct berr **err)
{
	return fileio_mkdir_p(target, 0755, err);
}

static int fake_unmount(const char *target, struct berr **err)
{
	return 0;
}

static int fake_cni_add(const struct cni_config *c, const struct cni_pod *pod,
			struct cni_result *ret, struct berr **err)
{
	*ret = (struct cni_result){0};
	ret->ips = xcalloc(2, sizeof(char *));
	ret->ips[0] = xstrdup("10.88.0.2");
	ret->n_ips = 1;
	ret->json = xstrdup("{}");
	return 0;
}

static int fake_cni_del(const struct cni_config *c, const struct cni_pod *pod, struct berr **err)
{
	return 0;
}

static bool fake_cni_ready(const struct cni_config *c, char **ret_reason)
{
	return true;
}

static const struct cni_ops fake_cni = {
    .add = fake_cni_add, .del = fake_cni_del, .ready = fake_cni_ready};

static const struct cri_ops fake_ops = {
    .oci = &fake_oci,
    .shim_start = fake_shim_start,
    .shim_reopen_log = fake_reopen,
    .image_resolve = fake_resolve,
    .rootfs_mount = fake_mount,
    .rootfs_unmount = fake_unmount,
    .cni = &fake_cni,
};

/* ---- fixture ---- */

static void add_image(void)
{
	char *cmd[] = {"/bin/sh", NULL};
	char *chains[] = {IMG_ID, NULL};
	struct store_img_meta m = {.id = IMG_ID, .cmd = cmd, .chain_ids = chains};
	const char *tags[] = {"docker.io/library/busybox:1", NULL};
	if (store_img_add(fx.b.store, &m, tags, NULL, NULL, NULL) < 0)
		abort();
}

static void add_sandbox(void)
{
	Runtime__V1__PodSandboxConfig cfg = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
	Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
	md.name = "pod";
	md.namespace_ = "ns";
	md.uid = "uid1";
	cfg.metadata = &md;
	Runtime__V1__NamespaceOption ns = RUNTIME__V1__NAMESPACE_OPTION__INIT;
	ns.network = ns.pid = ns.ipc = RUNTIME__V1__NAMESPACE_MODE__NODE;
	Runtime__V1__LinuxSandboxSecurityContext sc =
	    RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT;
	sc.namespace_options = &ns;
	Runtime__V1__LinuxPodSandboxConfig lx = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
	lx.security_context = &sc;
	cfg.linux = &lx;
	char logdir[128];
	snprintf(logdir, sizeof(logdir), "%s/logs", fx.dir);
	cfg.log_directory = logdir;
	size_t len = protobuf_c_message_get_packed_size(&cfg.base);
	void *packed = xmalloc(len + 1);
	protobuf_c_message_pack(&cfg.base, packed);
	char *name = store_sb_name_build("pod", "ns", "uid1", 0);
	struct store_kv extra[] = {{CRI_SB_X_HOSTNAME, "pod"}};
	struct store_sb_meta m = {.id = FUZZ_SB,
				  .name = name,
				  .metadata = {"pod", "uid1", "ns", 0},
				  .config = {packed, len},
				  .created_at = 1,
				  .log_directory = logdir,
				  .extra = extra,
				  .n_extra = 1};
	struct store_sb_status st = {.state = STORE_SB_READY};
	if (store_sb_add(fx.b.store, &m, &st, NULL, NULL) < 0)
		abort();
	free(name);
	free(packed);
}

static void fixture_up(void)
{
	/* tmpfs: the store syncs every write, and the fixture is rebuilt often */
	snprintf(fx.dir, sizeof(fx.dir), "%s/berth-fuzz-cri-XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (!mkdtemp(fx.dir))
		abort();
	snprintf(fx.exit_dir, sizeof(fx.exit_dir), "%s/run/exits", fx.dir);
	memset(&fx.b, 0, sizeof(fx.b));
	cri_config_init(&fx.b.cfg);
	char *json = xasprintf("{\"state_dir\": \"%s/state\", \"run_dir\": \"%s/run\", "
			       "\"libexec_dir\": \"%s/libexec\", \"cni\": {\"conf_dir\": "
			       "\"%s/cni\"}}",
			       fx.dir, fx.dir, fx.dir, fx.dir);
	struct berr *e = NULL;
	if (cri_config_parse(&fx.b.cfg, json, "fuzz", &e) < 0 ||
	    cri_config_finish(&fx.b.cfg, &e) < 0 ||
	    store_open(fx.b.cfg.state_dir, NULL, &fx.b.store, &e) < 0) {
		fprintf(stderr, "fixture: %s\n", berr_msg(e));
		abort();
	}
	free(json);
	fx.b.ops = &fake_ops;
	if (cri_runtime_init(&fx.b, false, &e) < 0 || cri_image_init(&fx.b, &e) < 0) {
		fprintf(stderr, "fixture: %s\n", berr_msg(e));
		abort();
	}
	fx.b.rt->stop_wait_ms = 10;
	/* a two-CPU, one-node host with 2 MiB pages, on cgroup v2 */
	struct cri_host_facts *f = fx.b.rt->facts;
	memset(f, 0, sizeof(*f));
	f->cpus[0] = 3;
	f->mems[0] = 1;
	f->cpus_known = f->mems_known = f->hugepages_known = true;
	f->hugepage_sizes[0] = 2 << 20;
	f->n_hugepage_sizes = 1;
	f->cgroup_v2 = true;
	add_image();
	add_sandbox();
	fx.up = true;
	fx.dirty = false;
	fx.last_id[0] = '\0';
}

static void fixture_down(void)
{
	cri_image_done(&fx.b);
	cri_runtime_done(&fx.b);
	store_free(fx.b.store);
	cri_config_done(&fx.b.cfg);
	struct berr *e = NULL;
	if (fileio_remove_tree(fx.dir, &e) < 0) {
		fprintf(stderr, "fixture: %s\n", berr_msg(e));
		abort();
	}
	fx.up = false;
}

static void at_exit(void)
{
	if (fx.up)
		fixture_down();
}

/* ---- the request path ---- */

static bool runs_handler(const struct cri_method *m)
{
	if (!m->handler || (m->flags & (CRI_METHOD_STREAM | CRI_METHOD_LONG)))
		return false;
	return strcmp(m->name, "RunPodSandbox") != 0 && strcmp(m->name, "PullImage") != 0;
}

static bool changes_state(const struct cri_method *m)
{
	return strncmp(m->name, "List", 4) != 0 && !strstr(m->name, "Status") &&
	       !strstr(m->name, "Stats") && strcmp(m->name, "Version") != 0 &&
	       strcmp(m->name, "ImageFsInfo") != 0 && strcmp(m->name, "RuntimeConfig") != 0;
}

static void substitute_last(const ProtobufCMessageDescriptor *d, ProtobufCMessage *req)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(d, "container_id");
	if (!f || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
		return;
	char **p = (char **)((char *)req + f->offset);
	if (*p && strcmp(*p, "@") == 0 && fx.last_id[0]) {
		if (*p != protobuf_c_empty_string)
			free(*p);
		*p = xstrdup(fx.last_id);
	}
}

static void run_one(const struct cri_method *m, const uint8_t *p, size_t len)
{
	struct berr *e = NULL;
	ProtobufCMessage *req = cri_msg_unpack(m->req, p, len, &e);
	if (!req) {
		berr_free(e);
		return;
	}
	substitute_last(m->req, req);
	int r = cri_validate_req(&fx.b, req, &e);
	if (r == 0 && runs_handler(m)) {
		ProtobufCMessage *resp = NULL;
		if (changes_state(m))
			fx.dirty = true;
		r = m->handler(&fx.b, NULL, req, &resp, &e);
		if (r == 0 && strcmp(m->name, "CreateContainer") == 0) {
			const char *id =
			    ((Runtime__V1__CreateContainerResponse *)resp)->container_id;
			snprintf(fx.last_id, sizeof(fx.last_id), "%s", id);
		}
		cri_msg_free(resp);
	}
	if (r < 0) {
		grpc_status_code c = cri_status_from_errno(r);
		if (c == GRPC_STATUS_INTERNAL || c == GRPC_STATUS_UNKNOWN) {
			fprintf(stderr, "%s answered %s: %s\n", m->name, cri_status_name(c),
				berr_msg(e));
			abort();
		}
	}
	berr_free(e);
	cri_msg_free(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_quiet();
	if (!fx.up) {
		static bool registered;
		if (!registered) {
			atexit(at_exit);
			registered = true;
		}
		fixture_up();
	} else if (fx.dirty) {
		fixture_down();
		fixture_up();
	}
	for (size_t off = 0; off + 3 <= size;) {
		const struct cri_method *m = &cri_methods[data[off] % cri_n_methods];
		size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
		off += 3;
		if (len > size - off)
			len = size - off;
		run_one(m, data + off, len);
		off += len;
	}
	return 0;
}
