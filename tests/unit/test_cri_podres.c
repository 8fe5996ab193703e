/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of pod-level resources (cri/podres.c): merging and validating as
 * UpdateContainerResources does, the envelope (resources + overhead) the pod
 * cgroup gets, the record in the sandbox status and the verbose info, and
 * UpdatePodSandboxResources on a real store (a pod without a cgroup of berth's:
 * the cgroup writes are tested in test_netns). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/ids.h"
#include "cri/pod.h"
#include "cri/podres.h"

#define MiB (INT64_C(1) << 20)

static Runtime__V1__LinuxContainerResources res(int64_t shares, int64_t quota, int64_t period,
						int64_t mem)
{
	Runtime__V1__LinuxContainerResources r = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	r.cpu_shares = shares;
	r.cpu_quota = quota;
	r.cpu_period = period;
	r.memory_limit_in_bytes = mem;
	return r;
}

/* A status holding what p records. */
static void status_of(const struct cri_podres *p, struct store_sb_status *st)
{
	*st = (struct store_sb_status){.state = STORE_SB_READY};
	st->extra = (struct store_kv *)p->kv;
	st->n_extra = p->n_kv;
}

static const struct oci_runtime_opts opts = {.hugetlb_supported = true};

static void test_merge_envelope_and_record(void **state)
{
	Runtime__V1__LinuxContainerResources r = res(512, 50000, 100000, 256 * MiB);
	/* the overhead's quota at another period is converted to the resources' */
	Runtime__V1__LinuxContainerResources o = res(128, 20000, 200000, 64 * MiB);
	struct cri_podres p = {0};
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cri_podres_merge(NULL, &r, &o, &opts, &p, &e), 0);
	assert_int_equal(p.limits.cpu_shares, 640);
	assert_int_equal(p.limits.cpu_quota, 60000);
	assert_int_equal(p.limits.cpu_period, 100000);
	assert_int_equal(p.limits.memory_limit, 320 * MiB);
	assert_int_equal(p.n_kv, 2);
	assert_string_equal(p.kv[0].key, CRI_SB_S_RESOURCES);
	assert_string_equal(p.kv[1].key, CRI_SB_S_OVERHEAD);

	/* the record reads back, and an update merges into it */
	struct store_sb_status st;
	status_of(&p, &st);
	Runtime__V1__LinuxContainerResources *back = cri_podres_recorded(&st, CRI_SB_S_OVERHEAD);
	assert_non_null(back);
	assert_int_equal(back->cpu_quota, 20000);
	assert_int_equal(back->cpu_period, 200000);
	protobuf_c_message_free_unpacked(&back->base, NULL);
	assert_int_equal(cri_podres_memory_limit(&st), 320 * MiB);
	Runtime__V1__LinuxContainerResources u = res(0, 0, 0, 512 * MiB);
	struct cri_podres q = {0};
	assert_int_equal(cri_podres_merge(&st, &u, NULL, &opts, &q, &e), 0);
	assert_int_equal(q.resources->cpu_shares, 512); /* zero keeps the recorded value */
	assert_int_equal(q.resources->memory_limit_in_bytes, 512 * MiB);
	assert_int_equal(q.overhead->memory_limit_in_bytes, 64 * MiB);
	assert_int_equal(q.limits.memory_limit, 576 * MiB);
	cri_podres_done(&q);

	/* verbose info */
	struct store_kv x[] = {{CRI_SB_X_CGROUP, "/kubepods/pod1/berth-0123"}};
	struct store_sb_meta m = {.id = "0123", .extra = x, .n_extra = 1};
	struct json_object *o1 = json_object_new_object();
	cri_podres_info(&m, &st, o1);
	const char *text = json_object_to_json_string_ext(o1, JSON_C_TO_STRING_PLAIN);
	assert_non_null(strstr(text, "\"resources\":{\"cpuPeriod\":100000,\"cpuQuota\":50000,"
				     "\"cpuShares\":512,\"memoryLimitInBytes\":268435456"));
	assert_non_null(strstr(text, "\"podCgroupLimits\":{\"cpuShares\":640,\"cpuQuota\":60000,"
				     "\"cpuPeriod\":100000,\"memoryLimitInBytes\":335544320}"));
	json_object_put(o1);
	m.n_extra = 0; /* no cgroup of berth's: nothing applied */
	o1 = json_object_new_object();
	cri_podres_info(&m, &st, o1);
	text = json_object_to_json_string_ext(o1, JSON_C_TO_STRING_PLAIN);
	assert_non_null(strstr(text, "\"podCgroupLimits\":null"));
	json_object_put(o1);
	cri_podres_done(&p);
}

static void test_envelope_needs_resources(void **state)
{
	Runtime__V1__LinuxContainerResources o = res(128, 10000, 0, 64 * MiB);
	struct cri_podres p = {0};
	assert_int_equal(cri_podres_merge(NULL, NULL, &o, &opts, &p, NULL), 0);
	assert_null(p.resources);
	assert_int_equal(p.n_kv, 1);
	assert_int_equal(p.limits.memory_limit, 0); /* no envelope without resources */
	assert_int_equal(p.limits.cpu_shares, 0);
	cri_podres_done(&p);
	Runtime__V1__LinuxContainerResources r = res(0, -1, 0, 0);
	assert_int_equal(cri_podres_merge(NULL, &r, NULL, &opts, &p, NULL), 0);
	assert_int_equal(p.limits.cpu_quota, -1);
	cri_podres_done(&p);
	/* nothing at all: nothing recorded */
	assert_int_equal(cri_podres_merge(NULL, NULL, NULL, &opts, &p, NULL), 0);
	assert_int_equal(p.n_kv, 0);
	cri_podres_done(&p);
}

static void test_bad_values(void **state)
{
	Runtime__V1__HugepageLimit hp = RUNTIME__V1__HUGEPAGE_LIMIT__INIT;
	Runtime__V1__HugepageLimit *hps[] = {&hp};
	Runtime__V1__LinuxContainerResources__UnifiedEntry ue =
	    RUNTIME__V1__LINUX_CONTAINER_RESOURCES__UNIFIED_ENTRY__INIT;
	ue.key = "a/b";
	ue.value = "1";
	Runtime__V1__LinuxContainerResources__UnifiedEntry *ues[] = {&ue};
	struct {
		Runtime__V1__LinuxContainerResources r;
		bool overhead;
		const char *msg;
	} cases[] = {
	    {res(-2, 0, 0, 0), false, "linux.resources: negative cpu shares"},
	    {res(0, 0, 0, -1), true, "linux.overhead: negative cpu shares, cpu period or memory"},
	    {res(0, 0, 10, 0), false, "linux.resources: cpu_period 10 out of range"},
	    {res(0, 0, 2000000, 0), false, "cpu_period 2000000 out of range"},
	    {res(0, -5, 0, 0), false, "cpu_quota -5 must be -1 or at least 1000"},
	    {res(0, 999, 0, 0), true, "linux.overhead: cpu_quota 999"},
	    {res(1, 0, 0, 0), false, "cpu_shares 1 out of range (2..262144)"},
	    {res(262145, 0, 0, 0), false, "cpu_shares 262145 out of range"},
	    {res(0, 0, 0, INT64_C(1) << 62), false, "memory_limit_in_bytes 4611686018427387904"},
	    {res(0, 0, 0, 0), false, "hugepage limit without page size"},
	    {res(0, 0, 0, 0), false, "invalid unified key 'a/b'"},
	};
	cases[9].r.hugepage_limits = hps;
	cases[9].r.n_hugepage_limits = 1;
	cases[10].r.unified = ues;
	cases[10].r.n_unified = 1;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cri_podres p = {0};
		_cleanup_berr_ struct berr *e = NULL;
		int r = cri_podres_merge(NULL, cases[i].overhead ? NULL : &cases[i].r,
					 cases[i].overhead ? &cases[i].r : NULL, &opts, &p, &e);
		assert_int_equal(r, -EINVAL);
		if (!strstr(berr_msg(e), cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, berr_msg(e), cases[i].msg);
		assert_int_equal(p.n_kv, 0);
	}
}

/* ---- UpdatePodSandboxResources on a store ---- */

struct fx {
	char *dir;
	struct berth b;
	char sb_id[ID_LEN + 1];
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	char tpl[] = "/tmp/berth-test-podres-XXXXXX";
	if (!mkdtemp(tpl))
		return -1;
	f->dir = xstrdup(tpl);
	cri_config_init(&f->b.cfg);
	_cleanup_free_ char *json =
	    xasprintf("{\"state_dir\": \"%s/state\", \"run_dir\": \"%s/run\"}", f->dir, f->dir);
	if (cri_config_parse(&f->b.cfg, json, "test", NULL) < 0 ||
	    cri_config_finish(&f->b.cfg, NULL) < 0 ||
	    store_open(f->b.cfg.state_dir, NULL, &f->b.store, NULL) < 0 ||
	    cri_runtime_init(&f->b, false, NULL) < 0 || id_generate(f->sb_id, NULL) < 0)
		return -1;
	Runtime__V1__LinuxContainerResources r = res(512, 0, 0, 256 * MiB);
	struct cri_podres p = {0};
	if (cri_podres_merge(NULL, &r, NULL, &opts, &p, NULL) < 0)
		return -1;
	_cleanup_free_ char *name = store_sb_name_build("pod", "ns", "uid1", 0);
	struct store_sb_meta m = {
	    .id = f->sb_id, .name = name, .metadata = {"pod", "uid1", "ns", 0}, .created_at = 1};
	struct store_sb_status st;
	status_of(&p, &st);
	int rr = store_sb_add(f->b.store, &m, &st, NULL, NULL);
	cri_podres_done(&p);
	*state = f;
	return rr;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	cri_runtime_done(&f->b);
	store_free(f->b.store);
	cri_config_done(&f->b.cfg);
	int r = fileio_remove_tree(f->dir, NULL);
	free(f->dir);
	free(f);
	return r;
}

static int update(struct fx *f, const char *id, Runtime__V1__LinuxContainerResources *r,
		  Runtime__V1__LinuxContainerResources *o, struct berr **err)
{
	Runtime__V1__UpdatePodSandboxResourcesRequest req =
	    RUNTIME__V1__UPDATE_POD_SANDBOX_RESOURCES_REQUEST__INIT;
	req.pod_sandbox_id = (char *)id;
	req.resources = r;
	req.overhead = o;
	ProtobufCMessage *resp = NULL;
	int rr = cri_update_pod_sandbox_resources(&f->b, NULL, &req.base, &resp, err);
	cri_msg_free(resp);
	return rr;
}

/* The recorded resources' memory limit and cpu shares, and the overhead's memory. */
static void recorded(struct fx *f, int64_t *mem, int64_t *shares, int64_t *ovh_mem)
{
	struct store_sb *sb = NULL;
	assert_int_equal(store_sb_get(f->b.store, f->sb_id, &sb, NULL), 0);
	struct store_sb_status st;
	store_sb_status(sb, &st);
	Runtime__V1__LinuxContainerResources *r = cri_podres_recorded(&st, CRI_SB_S_RESOURCES);
	Runtime__V1__LinuxContainerResources *o = cri_podres_recorded(&st, CRI_SB_S_OVERHEAD);
	*mem = r ? r->memory_limit_in_bytes : 0;
	*shares = r ? r->cpu_shares : 0;
	*ovh_mem = o ? o->memory_limit_in_bytes : 0;
	if (r)
		protobuf_c_message_free_unpacked(&r->base, NULL);
	if (o)
		protobuf_c_message_free_unpacked(&o->base, NULL);
	store_sb_status_done(&st);
	store_sb_unref(sb);
}

static int notready_fn(struct store_sb_status *st, void *arg, struct berr **err)
{
	st->state = STORE_SB_NOTREADY;
	return 0;
}

static void test_update_rpc(void **state)
{
	struct fx *f = *state;
	_cleanup_berr_ struct berr *e = NULL;
	int64_t mem, shares, ovh;
	Runtime__V1__LinuxContainerResources r = res(0, 0, 0, 512 * MiB);
	Runtime__V1__LinuxContainerResources o = res(0, 0, 0, 32 * MiB);
	assert_int_equal(update(f, f->sb_id, &r, &o, &e), 0);
	recorded(f, &mem, &shares, &ovh);
	assert_true(mem == 512 * MiB && shares == 512 && ovh == 32 * MiB);

	/* refused values change nothing */
	Runtime__V1__LinuxContainerResources bad = res(0, 0, 0, -1);
	assert_int_equal(update(f, f->sb_id, &bad, NULL, &e), -EINVAL);
	assert_non_null(strstr(berr_msg(e), "update resources of pod sandbox"));
	assert_non_null(strstr(berr_msg(e), "linux.resources"));
	recorded(f, &mem, &shares, &ovh);
	assert_true(mem == 512 * MiB && shares == 512 && ovh == 32 * MiB);
	assert_int_equal(update(f, f->sb_id, NULL, NULL, &e), -EINVAL);
	assert_non_null(strstr(berr_msg(e), "neither overhead nor resources"));
	assert_int_equal(update(f, "", &r, NULL, &e), -EINVAL);
	assert_int_equal(update(f, "ffff", &r, NULL, &e), -ENOENT);
	assert_non_null(strstr(berr_msg(e), "pod sandbox 'ffff' not found"));

	/* a pod that is not ready */
	struct store_sb *sb = NULL;
	assert_int_equal(store_sb_get(f->b.store, f->sb_id, &sb, NULL), 0);
	assert_int_equal(store_sb_update(f->b.store, sb, notready_fn, NULL, NULL), 0);
	store_sb_unref(sb);
	assert_int_equal(update(f, f->sb_id, &r, NULL, &e), -EBUSY);
	assert_non_null(strstr(berr_msg(e), "is not ready"));

	/* kept across a reload of the store */
	store_free(f->b.store);
	assert_int_equal(store_open(f->b.cfg.state_dir, NULL, &f->b.store, NULL), 0);
	recorded(f, &mem, &shares, &ovh);
	assert_true(mem == 512 * MiB && shares == 512 && ovh == 32 * MiB);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_merge_envelope_and_record),
	    cmocka_unit_test(test_envelope_needs_resources),
	    cmocka_unit_test(test_bad_values),
	    cmocka_unit_test_setup_teardown(test_update_rpc, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
