/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the pod sandbox handlers of cri/ with a fake CNI (struct
 * cri_ops.cni) and the real berth-pinns: a failing CNI ADD rolls everything
 * back (no record, name free, no pins, no pod dirs), Stop runs DEL and is
 * idempotent, Remove leaves nothing and is idempotent, a host-network pod makes
 * no CNI call. Needs root (namespaces), as the netns tests do. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "cri/pod.h"
#include "netns/netns.h"

static struct {
	int fail_add, n_add, n_del;
} fk;

static int fake_add(const struct cni_config *c, const struct cni_pod *pod, struct cni_result *ret,
		    struct berr **err)
{
	fk.n_add++;
	if (fk.fail_add)
		return berr_set(err, EIO, "plugin bridge failed: fake add failure");
	*ret = (struct cni_result){0};
	ret->ips = xcalloc(2, sizeof(char *));
	ret->ips[0] = xstrdup("10.88.0.5");
	ret->n_ips = 1;
	ret->json = xstrdup("{}");
	return 0;
}

static int fake_del(const struct cni_config *c, const struct cni_pod *pod, struct berr **err)
{
	fk.n_del++;
	return 0;
}

static bool fake_ready(const struct cni_config *c, char **ret_reason)
{
	return true;
}

static const struct cni_ops fake_cni = {fake_add, fake_del, fake_ready};
static struct cri_ops ops;

struct fx {
	char *dir;
	struct berth b;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	char tpl[] = "/tmp/berth-test-sb-XXXXXX";
	if (!mkdtemp(tpl))
		return -1;
	f->dir = xstrdup(tpl);
	cri_config_init(&f->b.cfg);
	_cleanup_free_ char *json =
	    xasprintf("{\"state_dir\": \"%s/state\", \"run_dir\": \"%s/run\", "
		      "\"libexec_dir\": \"%s\", \"cni\": {\"conf_dir\": \"%s\"}}",
		      f->dir, f->dir, BERTH_PINNS_DIR, f->dir);
	if (cri_config_parse(&f->b.cfg, json, "test", NULL) < 0 ||
	    cri_config_finish(&f->b.cfg, NULL) < 0)
		return -1;
	if (store_open(f->b.cfg.state_dir, NULL, &f->b.store, NULL) < 0)
		return -1;
	ops = cri_default_ops;
	ops.cni = &fake_cni;
	f->b.ops = &ops;
	memset(&fk, 0, sizeof(fk));
	if (cri_runtime_init(&f->b, false, NULL) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	cri_runtime_done(&f->b);
	store_free(f->b.store);
	/* the pin root is a bind mount of itself (netns/) */
	_cleanup_free_ char *ns = xasprintf("%s/run/ns", f->dir);
	(void)umount2(ns, MNT_DETACH);
	cri_config_done(&f->b.cfg);
	int r = fileio_remove_tree(f->dir, NULL);
	free(f->dir);
	free(f);
	return r;
}

static Runtime__V1__PodSandboxConfig *pod_config(bool host_network)
{
	Runtime__V1__PodSandboxConfig *c = xcalloc(1, sizeof(*c));
	runtime__v1__pod_sandbox_config__init(c);
	c->metadata = xcalloc(1, sizeof(*c->metadata));
	runtime__v1__pod_sandbox_metadata__init(c->metadata);
	c->metadata->name = xstrdup("pod");
	c->metadata->namespace_ = xstrdup("ns");
	c->metadata->uid = xstrdup("uid1");
	/* a host-network pod has the node's hostname (test_host_network_hostname_refused) */
	if (!host_network)
		c->hostname = xstrdup("podhost");
	Runtime__V1__NamespaceOption *o = xcalloc(1, sizeof(*o));
	runtime__v1__namespace_option__init(o);
	o->network =
	    host_network ? RUNTIME__V1__NAMESPACE_MODE__NODE : RUNTIME__V1__NAMESPACE_MODE__POD;
	o->pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	Runtime__V1__LinuxSandboxSecurityContext *sc = xcalloc(1, sizeof(*sc));
	runtime__v1__linux_sandbox_security_context__init(sc);
	sc->namespace_options = o;
	c->linux = xcalloc(1, sizeof(*c->linux));
	runtime__v1__linux_pod_sandbox_config__init(c->linux);
	c->linux->security_context = sc;
	return c;
}

static int run(struct fx *f, bool host_network, char **ret_id, struct berr **err)
{
	Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	req.config = pod_config(host_network);
	ProtobufCMessage *resp = NULL;
	int r = cri_run_pod_sandbox(&f->b, NULL, &req.base, &resp, err);
	if (r == 0)
		*ret_id = xstrdup(((Runtime__V1__RunPodSandboxResponse *)resp)->pod_sandbox_id);
	cri_msg_free(resp);
	cri_msg_free(&req.config->base);
	return r;
}

static int stop(struct fx *f, const char *id)
{
	Runtime__V1__StopPodSandboxRequest req = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
	req.pod_sandbox_id = (char *)id;
	ProtobufCMessage *resp = NULL;
	int r = cri_stop_pod_sandbox(&f->b, NULL, &req.base, &resp, NULL);
	cri_msg_free(resp);
	return r;
}

static int rm(struct fx *f, const char *id)
{
	Runtime__V1__RemovePodSandboxRequest req = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
	req.pod_sandbox_id = (char *)id;
	ProtobufCMessage *resp = NULL;
	int r = cri_remove_pod_sandbox(&f->b, NULL, &req.base, &resp, NULL);
	cri_msg_free(resp);
	return r;
}

static size_t n_sandboxes(struct fx *f)
{
	struct store_sb **v = NULL;
	size_t n = 0;
	assert_int_equal(store_sb_list(f->b.store, NULL, &v, &n, NULL), 0);
	store_sb_list_free(v, n);
	return n;
}

static bool dir_empty(const char *path)
{
	/* .lock: the pin root's flock file (netns/), kept for its life */
	_cleanup_free_ char *cmd =
	    xasprintf("test -z \"$(ls -A '%s' 2>/dev/null | grep -vx .lock)\"", path);
	return system(cmd) == 0;
}

static void assert_nothing_left(struct fx *f)
{
	assert_int_equal(n_sandboxes(f), 0);
	_cleanup_free_ char *name = store_sb_name_build("pod", "ns", "uid1", 0);
	assert_int_equal(store_sb_reserve_name(f->b.store, name, "probe", NULL), 0);
	store_sb_release_name(f->b.store, name, "probe");
	_cleanup_free_ char *ns = xasprintf("%s/run/ns", f->dir);
	_cleanup_free_ char *sb = xasprintf("%s/run/sandboxes", f->dir);
	assert_true(dir_empty(ns));
	assert_true(dir_empty(sb));
}

static void test_run_cni_add_fails_rolls_back(void **state)
{
	struct fx *f = *state;
	fk.fail_add = 1;
	_cleanup_berr_ struct berr *e = NULL;
	char *id = NULL;
	assert_int_equal(run(f, false, &id, &e), -EIO);
	assert_non_null(strstr(berr_msg(e), "fake add failure"));
	assert_int_equal(fk.n_add, 1);
	assert_nothing_left(f);
}

static void test_run_stop_remove(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *id = NULL;
	assert_int_equal(run(f, false, &id, NULL), 0);
	struct store_sb *sb = NULL;
	assert_int_equal(store_sb_get(f->b.store, id, &sb, NULL), 0);
	struct store_sb_status st;
	store_sb_status(sb, &st);
	assert_int_equal(st.state, STORE_SB_READY);
	assert_string_equal(st.ip, "10.88.0.5");
	assert_non_null(st.netns_path);
	assert_int_equal(access(st.netns_path, F_OK), 0);
	store_sb_status_done(&st);

	/* the container code sees the pod's files and namespaces */
	struct cri_pod_info pi;
	assert_int_equal(cri_pod_info_load(&f->b, id, &pi, NULL), 0);
	assert_string_equal(pi.oci.hostname, "podhost");
	assert_non_null(pi.hosts_file);
	assert_non_null(pi.oci.netns_path);
	assert_non_null(pi.oci.shm_dir);
	cri_pod_info_done(&pi);

	assert_int_equal(stop(f, id), 0);
	assert_int_equal(fk.n_del, 1);
	store_sb_status(sb, &st);
	assert_int_equal(st.state, STORE_SB_NOTREADY);
	store_sb_status_done(&st);
	assert_int_equal(stop(f, id), 0); /* idempotent */
	store_sb_unref(sb);
	assert_int_equal(rm(f, id), 0);
	assert_nothing_left(f);
	assert_int_equal(rm(f, id), 0); /* unknown ID: success */
	assert_int_equal(stop(f, id), 0);
}

static int run_userns(struct fx *f, char **ret_id, struct berr **err)
{
	Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	req.config = pod_config(false);
	Runtime__V1__UserNamespace *u = xcalloc(1, sizeof(*u));
	runtime__v1__user_namespace__init(u);
	u->mode = RUNTIME__V1__NAMESPACE_MODE__POD;
	Runtime__V1__IDMapping **maps[2];
	for (int i = 0; i < 2; i++) {
		maps[i] = xcalloc(1, sizeof(*maps[i]));
		maps[i][0] = xcalloc(1, sizeof(**maps[i]));
		runtime__v1__idmapping__init(maps[i][0]);
		maps[i][0]->host_id = 4000000 + 65536 * (uint32_t)i;
		maps[i][0]->length = 65536;
	}
	u->uids = maps[0];
	u->n_uids = 1;
	u->gids = maps[1];
	u->n_gids = 1;
	req.config->linux->security_context->namespace_options->userns_options = u;
	ProtobufCMessage *resp = NULL;
	int r = cri_run_pod_sandbox(&f->b, NULL, &req.base, &resp, err);
	if (r == 0)
		*ret_id = xstrdup(((Runtime__V1__RunPodSandboxResponse *)resp)->pod_sandbox_id);
	cri_msg_free(resp);
	cri_msg_free(&req.config->base);
	return r;
}

/* A pod with a user namespace of its own (on this node's probe: the real kernel and
 * berth-pinns): pinned with the others, recorded, shown, handed to containers, undone. */
static void test_run_user_namespace(void **state)
{
	struct fx *f = *state;
	assert_true(f->b.rt->kfeat.idmap); /* root on a kernel with idmapped mounts */
	_cleanup_free_ char *id = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(run_userns(f, &id, &e), 0);
	struct cri_pod_info pi;
	assert_int_equal(cri_pod_info_load(&f->b, id, &pi, NULL), 0);
	assert_non_null(pi.oci.userns_path);
	assert_int_equal(access(pi.oci.userns_path, F_OK), 0);
	assert_int_equal(pi.oci.uid_host, 4000000);
	assert_int_equal(pi.oci.gid_host, 4065536);
	assert_int_equal(pi.oci.uid_len, 65536);
	cri_pod_info_done(&pi);
	Runtime__V1__PodSandboxStatusRequest sr = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
	sr.pod_sandbox_id = id;
	ProtobufCMessage *resp = NULL;
	assert_int_equal(cri_pod_sandbox_status(&f->b, NULL, &sr.base, &resp, NULL), 0);
	const Runtime__V1__UserNamespace *u =
	    ((Runtime__V1__PodSandboxStatusResponse *)resp)
		->status->linux->namespaces->options->userns_options;
	assert_int_equal(u->mode, RUNTIME__V1__NAMESPACE_MODE__POD);
	assert_int_equal(u->n_uids, 1);
	assert_int_equal(u->uids[0]->host_id, 4000000);
	assert_int_equal(u->gids[0]->host_id, 4065536);
	cri_msg_free(resp);
	assert_int_equal(rm(f, id), 0);
	assert_nothing_left(f);
	/* a failure after the pins (CNI ADD) undoes the user namespace's pin too */
	fk.fail_add = 1;
	char *id2 = NULL;
	assert_int_equal(run_userns(f, &id2, &e), -EIO);
	assert_nothing_left(f);
}

static void test_host_network_makes_no_cni_call(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *id = NULL;
	assert_int_equal(run(f, true, &id, NULL), 0);
	assert_int_equal(fk.n_add, 0);
	assert_int_equal(rm(f, id), 0);
	assert_int_equal(fk.n_del, 0);
	assert_nothing_left(f);
}

static void test_host_network_hostname_refused(void **state)
{
	struct fx *f = *state;
	Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	req.config = pod_config(true);
	req.config->hostname = xstrdup("mine");
	ProtobufCMessage *resp = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cri_run_pod_sandbox(&f->b, NULL, &req.base, &resp, &e), -EINVAL);
	assert_null(resp);
	assert_non_null(strstr(berr_msg(e), "hostname 'mine' given for a pod with "
					    "namespace_options.network NODE"));
	cri_msg_free(&req.config->base);
	assert_int_equal(fk.n_add, 0);
	assert_nothing_left(f);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_run_cni_add_fails_rolls_back),
	    T(test_run_stop_remove),
	    T(test_run_user_namespace),
	    T(test_host_network_makes_no_cni_call),
	    T(test_host_network_hostname_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
