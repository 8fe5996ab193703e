/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of store/: sandboxes, containers, indexes, filters, persistence and the
 * status update contract (containerd status_test.go style). Images: test_store_image.c. */
#include "test_store_util.h"

#include <fcntl.h>

static char *ctr_path(struct fx *f, const char *id)
{
	return xasprintf("%s/store/containers/%s.json", f->dir, id);
}

static int fail_write(const char *path, const void *data, size_t len, struct berr **err)
{
	return berr_set(err, EIO, "injected failure writing '%s'", path);
}

/* ---- status and meta round trips: every field ---- */

/* When one of these fails, a field was added: extend fill_*() and *_equal() below (and the
 * copy, done and JSON functions in store/). */
_Static_assert(sizeof(struct store_sb_status) == 88, "store_sb_status changed");
_Static_assert(sizeof(struct store_ctr_status) == 120, "store_ctr_status changed");
_Static_assert(sizeof(struct store_sb_meta) == 152, "store_sb_meta changed");
_Static_assert(sizeof(struct store_ctr_meta) == 168, "store_ctr_meta changed");

static struct store_kv kv2[] = {{"k1", "v1"}, {"k2", "v2"}};
static char *ips[] = {"10.0.0.2", "fd00::2", NULL};
static char blob[] = {0, 1, 2, (char)0xff, 'x'};

static void fill_sb_status(struct store_sb_status *st)
{
	*st = (struct store_sb_status){
	    .state = STORE_SB_NOTREADY,
	    .ip = "10.0.0.1",
	    .additional_ips = ips,
	    .netns_path = "/run/netns/a",
	    .ipc_ns_path = "/proc/1/ns/ipc",
	    .uts_ns_path = "/proc/1/ns/uts",
	    .pid_ns_path = "/proc/1/ns/pid",
	    .init_pid = 4242,
	    .network_ready = true,
	    .extra = kv2,
	    .n_extra = 2,
	    .stopping = true,
	    .removing = true,
	};
}

static void kv_equal(const struct store_kv *a, size_t na, const struct store_kv *b, size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_string_equal(a[i].key, b[i].key);
		assert_string_equal(a[i].value, b[i].value);
	}
}

static void strv_eq(char *const *a, char *const *b)
{
	assert_true(strv_equal(a, b));
}

static void str_eq(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void bytes_eq(const struct store_bytes *a, const struct store_bytes *b)
{
	assert_int_equal(a->len, b->len);
	if (a->len)
		assert_memory_equal(a->data, b->data, a->len);
}

static void sb_status_equal(const struct store_sb_status *a, const struct store_sb_status *b,
			    bool with_flags)
{
	assert_int_equal(a->state, b->state);
	str_eq(a->ip, b->ip);
	strv_eq(a->additional_ips, b->additional_ips);
	str_eq(a->netns_path, b->netns_path);
	str_eq(a->ipc_ns_path, b->ipc_ns_path);
	str_eq(a->uts_ns_path, b->uts_ns_path);
	str_eq(a->pid_ns_path, b->pid_ns_path);
	assert_int_equal(a->init_pid, b->init_pid);
	assert_int_equal(a->network_ready, b->network_ready);
	kv_equal(a->extra, a->n_extra, b->extra, b->n_extra);
	if (with_flags) {
		assert_int_equal(a->stopping, b->stopping);
		assert_int_equal(a->removing, b->removing);
	}
}

static void fill_sb_meta(struct store_sb_meta *m, const char *id)
{
	*m = (struct store_sb_meta){
	    .id = (char *)id,
	    .name = "k8s_pod_ns_uid_1",
	    .metadata = {.name = "pod", .uid = "uid", .namespace = "ns", .attempt = 1},
	    .runtime_handler = "runc",
	    .config = {.data = blob, .len = sizeof(blob)},
	    .labels = kv2,
	    .n_labels = 2,
	    .annotations = kv2 + 1,
	    .n_annotations = 1,
	    .created_at = 1234567890123456789,
	    .log_directory = "/var/log/pods/x",
	    .run_dir = "/run/berth/sb/x",
	    .state_dir = "/var/lib/berth/sb/x",
	    .extra = kv2,
	    .n_extra = 1,
	};
}

static void sb_meta_equal(const struct store_sb_meta *a, const struct store_sb_meta *b)
{
	str_eq(a->id, b->id);
	str_eq(a->name, b->name);
	str_eq(a->metadata.name, b->metadata.name);
	str_eq(a->metadata.uid, b->metadata.uid);
	str_eq(a->metadata.namespace, b->metadata.namespace);
	assert_int_equal(a->metadata.attempt, b->metadata.attempt);
	str_eq(a->runtime_handler, b->runtime_handler);
	bytes_eq(&a->config, &b->config);
	kv_equal(a->labels, a->n_labels, b->labels, b->n_labels);
	kv_equal(a->annotations, a->n_annotations, b->annotations, b->n_annotations);
	assert_int_equal(a->created_at, b->created_at);
	str_eq(a->log_directory, b->log_directory);
	str_eq(a->run_dir, b->run_dir);
	str_eq(a->state_dir, b->state_dir);
	kv_equal(a->extra, a->n_extra, b->extra, b->n_extra);
}

static void fill_ctr_status(struct store_ctr_status *st)
{
	*st = (struct store_ctr_status){
	    .pid = 99,
	    .created_at = 10,
	    .started_at = 20,
	    .finished_at = 30,
	    .exit_code = 137,
	    .reason = "OOMKilled",
	    .message = "out of memory",
	    .resources = {.data = blob, .len = sizeof(blob)},
	    .shim_pid = 98,
	    .shim_socket = "/run/berth/x/shim.sock",
	    .unknown = true,
	    .extra = kv2,
	    .n_extra = 2,
	    .starting = true,
	    .stopping = true,
	    .removing = true,
	    .updating = true,
	};
}

static void ctr_status_equal(const struct store_ctr_status *a, const struct store_ctr_status *b,
			     bool with_flags)
{
	assert_int_equal(a->pid, b->pid);
	assert_int_equal(a->created_at, b->created_at);
	assert_int_equal(a->started_at, b->started_at);
	assert_int_equal(a->finished_at, b->finished_at);
	assert_int_equal(a->exit_code, b->exit_code);
	str_eq(a->reason, b->reason);
	str_eq(a->message, b->message);
	bytes_eq(&a->resources, &b->resources);
	assert_int_equal(a->shim_pid, b->shim_pid);
	str_eq(a->shim_socket, b->shim_socket);
	assert_int_equal(a->unknown, b->unknown);
	kv_equal(a->extra, a->n_extra, b->extra, b->n_extra);
	if (with_flags) {
		assert_int_equal(a->starting, b->starting);
		assert_int_equal(a->stopping, b->stopping);
		assert_int_equal(a->removing, b->removing);
		assert_int_equal(a->updating, b->updating);
	}
}

static void fill_ctr_meta(struct store_ctr_meta *m, const char *id, const char *sb_id)
{
	*m = (struct store_ctr_meta){
	    .id = (char *)id,
	    .name = "k8s_c_pod_ns_uid_0",
	    .sandbox_id = (char *)sb_id,
	    .metadata = {.name = "c", .attempt = 3},
	    .config = {.data = blob, .len = sizeof(blob)},
	    .image_ref = "busybox",
	    .image_id = "sha256:abcd",
	    .log_path = "c/3.log",
	    .bundle_dir = "/run/berth/c",
	    .rootfs_path = "/run/berth/c/rootfs",
	    .stop_signal = "SIGINT",
	    .runtime_handler = "runc",
	    .created_at = 77,
	    .labels = kv2,
	    .n_labels = 2,
	    .annotations = kv2,
	    .n_annotations = 1,
	    .extra = kv2 + 1,
	    .n_extra = 1,
	};
}

static void ctr_meta_equal(const struct store_ctr_meta *a, const struct store_ctr_meta *b)
{
	str_eq(a->id, b->id);
	str_eq(a->name, b->name);
	str_eq(a->sandbox_id, b->sandbox_id);
	str_eq(a->metadata.name, b->metadata.name);
	assert_int_equal(a->metadata.attempt, b->metadata.attempt);
	bytes_eq(&a->config, &b->config);
	str_eq(a->image_ref, b->image_ref);
	str_eq(a->image_id, b->image_id);
	str_eq(a->log_path, b->log_path);
	str_eq(a->bundle_dir, b->bundle_dir);
	str_eq(a->rootfs_path, b->rootfs_path);
	str_eq(a->stop_signal, b->stop_signal);
	str_eq(a->runtime_handler, b->runtime_handler);
	assert_int_equal(a->created_at, b->created_at);
	kv_equal(a->labels, a->n_labels, b->labels, b->n_labels);
	kv_equal(a->annotations, a->n_annotations, b->annotations, b->n_annotations);
	kv_equal(a->extra, a->n_extra, b->extra, b->n_extra);
}

static void test_store_sb_status_copy_every_field(void **state)
{
	struct store_sb_status src, dst;
	fill_sb_status(&src);
	store_sb_status_copy(&dst, &src);
	sb_status_equal(&src, &dst, true);
	assert_ptr_not_equal(dst.ip, src.ip);
	store_sb_status_done(&dst);
	assert_null(dst.ip);

	struct store_sb_meta m, mc;
	fill_sb_meta(&m, "x");
	store_sb_meta_copy(&mc, &m);
	sb_meta_equal(&m, &mc);
	store_sb_meta_done(&mc);
}

static void test_store_ctr_status_copy_every_field(void **state)
{
	struct store_ctr_status src, dst;
	fill_ctr_status(&src);
	store_ctr_status_copy(&dst, &src);
	ctr_status_equal(&src, &dst, true);
	assert_ptr_not_equal(dst.resources.data, src.resources.data);
	store_ctr_status_done(&dst);

	struct store_ctr_meta m, mc;
	fill_ctr_meta(&m, "x", "y");
	store_ctr_meta_copy(&mc, &m);
	ctr_meta_equal(&m, &mc);
	store_ctr_meta_done(&mc);
}

/* Every field survives a checkpoint and a restart; in-flight flags come back false. */
static void test_store_reload_every_field(void **state)
{
	struct fx *f = *state;
	char sid[ID_LEN + 1], cid[ID_LEN + 1];
	tst_id(sid, "5b", 1);
	tst_id(cid, "c0", 1);
	struct store_sb_meta sm;
	struct store_sb_status ss;
	fill_sb_meta(&sm, sid);
	fill_sb_status(&ss);
	struct store_ctr_meta cm;
	struct store_ctr_status cs;
	fill_ctr_meta(&cm, cid, sid);
	fill_ctr_status(&cs);
	assert_int_equal(store_sb_add(f->s, &sm, &ss, NULL, NULL), 0);
	assert_int_equal(store_ctr_add(f->s, &cm, &cs, NULL, NULL), 0);

	fx_restart(f);
	assert_int_equal(f->w.n, 0);

	struct store_sb *sb = NULL;
	assert_int_equal(store_sb_get(f->s, sid, &sb, NULL), 0);
	sb_meta_equal(store_sb_meta(sb), &sm);
	struct store_sb_status got_s;
	store_sb_status(sb, &got_s);
	sb_status_equal(&got_s, &ss, false);
	assert_false(got_s.stopping);
	assert_false(got_s.removing);
	store_sb_status_done(&got_s);
	store_sb_unref(sb);

	struct store_ctr *c = NULL;
	assert_int_equal(store_ctr_get(f->s, cid, &c, NULL), 0);
	ctr_meta_equal(store_ctr_meta(c), &cm);
	struct store_ctr_status got_c;
	store_ctr_status(c, &got_c);
	ctr_status_equal(&got_c, &cs, false);
	assert_false(got_c.starting || got_c.stopping || got_c.removing);
	store_ctr_status_done(&got_c);
	store_ctr_unref(c);

	/* names are reserved again after the restart */
	_cleanup_berr_ struct berr *e = NULL;
	char other[ID_LEN + 1];
	tst_id(other, "c0", 2);
	assert_int_equal(store_ctr_reserve_name(f->s, cm.name, other, &e), -EEXIST);
	assert_non_null(strstr(e->msg, cid));
}

/* ---- add, get, prefixes, names ---- */

static void test_store_ctr_add_get(void **state)
{
	struct fx *f = *state;
	char id[ID_LEN + 1];
	tst_id(id, "abc", 1);
	struct store_kv labels[] = {{"app", "web"}};
	struct store_ctr *c = tst_add_ctr(f->s, id, "n1", "sb", labels, 1, 5);
	assert_string_equal(store_ctr_id(c), id);
	/* the input was copied */
	labels[0].value = "changed";
	assert_string_equal(store_ctr_meta(c)->labels[0].value, "web");

	struct store_ctr *g = NULL;
	assert_int_equal(store_ctr_get(f->s, id, &g, NULL), 0);
	assert_ptr_equal(g, c);
	store_ctr_unref(g);
	assert_int_equal(store_ctr_get(f->s, "abc", &g, NULL), 0);
	assert_ptr_equal(g, c);
	store_ctr_unref(g);
	assert_int_equal(store_ctr_get_by_name(f->s, "n1", &g, NULL), 0);
	assert_ptr_equal(g, c);
	store_ctr_unref(g);

	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(store_ctr_get_by_name(f->s, "nope", &g, &e), -ENOENT);
	assert_non_null(strstr(e->msg, "'nope'"));
	/* the same ID twice */
	struct store_ctr_meta m = {.id = id, .name = "n2", .sandbox_id = "sb"};
	assert_int_equal(store_ctr_add(f->s, &m, NULL, NULL, &e), -EEXIST);
	assert_non_null(strstr(e->msg, "already exists"));
	/* bad input */
	m.id = "xyz";
	assert_int_equal(store_ctr_add(f->s, &m, NULL, NULL, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "bad container ID 'xyz'"));
	char id2[ID_LEN + 1];
	tst_id(id2, "abd", 1);
	m.id = id2;
	m.sandbox_id = NULL;
	assert_int_equal(store_ctr_add(f->s, &m, NULL, NULL, &e), -EINVAL);
	m.sandbox_id = "sb";
	m.name = "";
	assert_int_equal(store_ctr_add(f->s, &m, NULL, NULL, &e), -EINVAL);
	/* the record is on disk */
	_cleanup_free_ char *path = ctr_path(f, id);
	_cleanup_free_ char *rec = tst_read(path);
	assert_non_null(rec);
	assert_non_null(strstr(rec, "\"version\":1"));
	store_ctr_unref(c);
	assert_null(store_ctr_unref(NULL));
	assert_null(store_ctr_ref(NULL));
}

static void test_store_ctr_prefix_ambiguous(void **state)
{
	struct fx *f = *state;
	char a[ID_LEN + 1], b[ID_LEN + 1], c[ID_LEN + 1];
	tst_id(a, "abcd1", 1);
	tst_id(b, "abcd2", 2);
	tst_id(c, "abce", 3);
	store_ctr_unref(tst_add_ctr(f->s, a, "a", "sb", NULL, 0, 1));
	store_ctr_unref(tst_add_ctr(f->s, b, "b", "sb", NULL, 0, 1));
	store_ctr_unref(tst_add_ctr(f->s, c, "c", "sb", NULL, 0, 1));

	struct store_ctr *g = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(store_ctr_get(f->s, "abc", &g, &e), -EINVAL);
	assert_string_equal(e->msg, "ambiguous prefix 'abc' matches 3 containers");
	assert_int_equal(store_ctr_get(f->s, "abcd", &g, &e), -EINVAL);
	assert_string_equal(e->msg, "ambiguous prefix 'abcd' matches 2 containers");
	assert_int_equal(store_ctr_get(f->s, "abcd2", &g, NULL), 0);
	assert_string_equal(store_ctr_id(g), b);
	g = store_ctr_unref(g);
	assert_int_equal(store_ctr_get(f->s, "abce", &g, NULL), 0);
	assert_string_equal(store_ctr_id(g), c);
	g = store_ctr_unref(g);
	assert_int_equal(store_ctr_get(f->s, "abf", &g, &e), -ENOENT);
	assert_string_equal(e->msg, "container 'abf' not found");
	assert_int_equal(store_ctr_get(f->s, "", &g, &e), -EINVAL);
	assert_int_equal(store_ctr_get(f->s, NULL, &g, &e), -EINVAL);
	/* the sandbox store has its own index */
	struct store_sb *sb = NULL;
	assert_int_equal(store_sb_get(f->s, "abc", &sb, &e), -ENOENT);
}

static void test_store_name_conflict_and_release(void **state)
{
	struct fx *f = *state;
	char a[ID_LEN + 1], b[ID_LEN + 1];
	tst_id(a, "aa", 1);
	tst_id(b, "bb", 2);
	_cleanup_berr_ struct berr *e = NULL;

	assert_int_equal(store_ctr_reserve_name(f->s, "k8s_x", a, &e), 0);
	assert_int_equal(store_ctr_reserve_name(f->s, "k8s_x", a, &e), 0); /* idempotent */
	assert_int_equal(store_ctr_reserve_name(f->s, "k8s_x", b, &e), -EEXIST);
	assert_non_null(strstr(e->msg, "name 'k8s_x' is reserved for container"));
	assert_non_null(strstr(e->msg, a));
	/* only the holder releases */
	store_ctr_release_name(f->s, "k8s_x", b);
	assert_int_equal(store_ctr_reserve_name(f->s, "k8s_x", b, &e), -EEXIST);
	/* add of another ID under a reserved name fails, naming the holder */
	struct store_ctr_meta m = {.id = b, .name = "k8s_x", .sandbox_id = "sb"};
	assert_int_equal(store_ctr_add(f->s, &m, NULL, NULL, &e), -EEXIST);
	assert_non_null(strstr(e->msg, a));
	store_ctr_release_name(f->s, "k8s_x", a);
	assert_int_equal(store_ctr_reserve_name(f->s, "k8s_x", b, &e), 0);
	/* the holder's add keeps its reservation; release after add does not free the name */
	struct store_ctr *c = tst_add_ctr(f->s, b, "k8s_x", "sb", NULL, 0, 1);
	store_ctr_release_name(f->s, "k8s_x", b);
	assert_int_equal(store_ctr_reserve_name(f->s, "k8s_x", a, &e), -EEXIST);
	/* delete frees it */
	assert_int_equal(store_ctr_delete(f->s, b, &e), 0);
	assert_int_equal(store_ctr_reserve_name(f->s, "k8s_x", a, &e), 0);
	store_ctr_unref(c);
	assert_int_equal(store_ctr_reserve_name(f->s, "", a, &e), -EINVAL);
	/* sandbox names are a separate namespace */
	assert_int_equal(store_sb_reserve_name(f->s, "k8s_x", b, &e), 0);
	assert_int_equal(store_sb_reserve_name(f->s, "k8s_x", a, &e), -EEXIST);
	assert_non_null(strstr(e->msg, "reserved for sandbox"));
	store_sb_release_name(f->s, "k8s_x", b);
	assert_int_equal(store_sb_reserve_name(f->s, "k8s_x", a, &e), 0);
}

static void test_store_add_failure_releases_own_reservation(void **state)
{
	struct fx *f = *state;
	char a[ID_LEN + 1], b[ID_LEN + 1];
	tst_id(a, "aa", 1);
	tst_id(b, "bb", 1);
	_cleanup_berr_ struct berr *e = NULL;
	f->s->write_hook = fail_write;

	/* not reserved before: the failed add leaves nothing behind */
	struct store_ctr_meta m = {.id = a, .name = "n", .sandbox_id = "sb"};
	assert_int_equal(store_ctr_add(f->s, &m, NULL, NULL, &e), -EIO);
	assert_non_null(strstr(e->msg, "injected failure"));
	assert_non_null(strstr(e->msg, "checkpoint container"));
	assert_int_equal(store_ctr_reserve_name(f->s, "n", b, NULL), 0);
	store_ctr_release_name(f->s, "n", b);
	struct store_ctr *g = NULL;
	assert_int_equal(store_ctr_get(f->s, a, &g, NULL), -ENOENT);

	/* reserved by the caller: kept for the caller to release */
	assert_int_equal(store_ctr_reserve_name(f->s, "n", a, NULL), 0);
	assert_int_equal(store_ctr_add(f->s, &m, NULL, NULL, &e), -EIO);
	assert_int_equal(store_ctr_reserve_name(f->s, "n", b, NULL), -EEXIST);
	store_ctr_release_name(f->s, "n", a);
	assert_int_equal(store_ctr_reserve_name(f->s, "n", b, NULL), 0);

	f->s->write_hook = NULL;
	_cleanup_free_ char *path = ctr_path(f, a);
	assert_int_equal(access(path, F_OK), -1);
}

static void test_store_name_builders(void **state)
{
	_cleanup_free_ char *s = store_sb_name_build("web", "default", "u-1", 2);
	assert_string_equal(s, "k8s_web_default_u-1_2");
	_cleanup_free_ char *c = store_ctr_name_build("nginx", "web", "default", "u-1", 0);
	assert_string_equal(c, "k8s_nginx_web_default_u-1_0");
}

/* ---- derived state ---- */

static void test_store_ctr_state_derivation(void **state)
{
	static const struct {
		int64_t created, started, finished;
		bool unknown;
		enum store_ctr_state want;
	} cases[] = {
	    {0, 0, 0, false, STORE_CTR_UNKNOWN}, {1, 0, 0, false, STORE_CTR_CREATED},
	    {1, 2, 0, false, STORE_CTR_RUNNING}, {1, 2, 3, false, STORE_CTR_EXITED},
	    {1, 0, 3, false, STORE_CTR_EXITED},	 {1, 2, 0, true, STORE_CTR_UNKNOWN},
	    {1, 2, 3, true, STORE_CTR_UNKNOWN},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct store_ctr_status st = {.created_at = cases[i].created,
					      .started_at = cases[i].started,
					      .finished_at = cases[i].finished,
					      .unknown = cases[i].unknown};
		assert_int_equal(store_ctr_state(&st), cases[i].want);
	}
	assert_string_equal(store_ctr_state_name(STORE_CTR_RUNNING), "CONTAINER_RUNNING");
	assert_string_equal(store_ctr_state_name(STORE_CTR_STATE_MAX), "CONTAINER_UNKNOWN");
}

/* ---- update contract ---- */

static int set_started(struct store_ctr_status *st, void *arg, struct berr **err)
{
	st->started_at = *(int64_t *)arg;
	st->pid = 1234;
	free(st->reason);
	st->reason = xstrdup("Started");
	return 0;
}

static int fail_busy(struct store_ctr_status *st, void *arg, struct berr **err)
{
	/* changes made before failing must not leak out */
	st->pid = 1;
	free(st->message);
	st->message = xstrdup("half-done");
	return berr_set(err, EBUSY, "container is stopping");
}

static int set_starting(struct store_ctr_status *st, void *arg, struct berr **err)
{
	if (st->starting)
		return berr_set(err, EBUSY, "already starting");
	st->starting = true;
	return 0;
}

static void test_store_update_fn_failure_leaves_status(void **state)
{
	struct fx *f = *state;
	char id[ID_LEN + 1];
	tst_id(id, "ab", 1);
	struct store_ctr *c = tst_add_ctr(f->s, id, "n", "sb", NULL, 0, 5);
	_cleanup_free_ char *path = ctr_path(f, id);
	_cleanup_free_ char *before = tst_read(path);
	_cleanup_berr_ struct berr *e = NULL;

	assert_int_equal(store_ctr_update(f->s, c, fail_busy, NULL, &e), -EBUSY);
	assert_string_equal(e->msg, "container is stopping");
	struct store_ctr_status st;
	store_ctr_status(c, &st);
	assert_int_equal(st.pid, 0);
	assert_null(st.message);
	assert_int_equal(st.created_at, 5);
	store_ctr_status_done(&st);
	_cleanup_free_ char *after = tst_read(path);
	assert_string_equal(before, after);
	store_ctr_unref(c);
}

static void test_store_update_checkpoint_failure_leaves_memory_and_disk(void **state)
{
	struct fx *f = *state;
	char id[ID_LEN + 1];
	tst_id(id, "ab", 1);
	struct store_ctr *c = tst_add_ctr(f->s, id, "n", "sb", NULL, 0, 5);
	_cleanup_free_ char *path = ctr_path(f, id);
	_cleanup_free_ char *before = tst_read(path);
	_cleanup_berr_ struct berr *e = NULL;
	int64_t t = 99;

	/* injected failure */
	f->s->write_hook = fail_write;
	assert_int_equal(store_ctr_update(f->s, c, set_started, &t, &e), -EIO);
	assert_non_null(strstr(e->msg, "injected failure"));
	f->s->write_hook = NULL;
	struct store_ctr_status st;
	store_ctr_status(c, &st);
	assert_int_equal(st.started_at, 0);
	assert_null(st.reason);
	store_ctr_status_done(&st);
	_cleanup_free_ char *after = tst_read(path);
	assert_string_equal(before, after);

	/* a real failure: the record's directory is gone (the temp file can't be created) */
	_cleanup_free_ char *dir = xasprintf("%s/store/containers", f->dir);
	_cleanup_free_ char *moved = xasprintf("%s/moved", f->dir);
	assert_int_equal(rename(dir, moved), 0);
	assert_int_equal(store_ctr_update(f->s, c, set_started, &t, &e), -ENOENT);
	assert_non_null(strstr(e->msg, "checkpoint container"));
	assert_int_equal(rename(moved, dir), 0);
	store_ctr_status(c, &st);
	assert_int_equal(st.started_at, 0);
	store_ctr_status_done(&st);
	_cleanup_free_ char *after2 = tst_read(path);
	assert_string_equal(before, after2);

	/* and the next update works and is persisted */
	assert_int_equal(store_ctr_update(f->s, c, set_started, &t, &e), 0);
	store_ctr_unref(c);
	fx_restart(f);
	assert_int_equal(store_ctr_get(f->s, id, &c, NULL), 0);
	store_ctr_status(c, &st);
	assert_int_equal(st.started_at, 99);
	assert_string_equal(st.reason, "Started");
	store_ctr_status_done(&st);
	store_ctr_unref(c);
}

static void test_store_snapshot_not_altered_by_later_update(void **state)
{
	struct fx *f = *state;
	char id[ID_LEN + 1];
	tst_id(id, "ab", 1);
	struct store_ctr *c = tst_add_ctr(f->s, id, "n", "sb", NULL, 0, 5);
	int64_t t = 7;
	assert_int_equal(store_ctr_update(f->s, c, set_started, &t, NULL), 0);
	struct store_ctr_status snap;
	store_ctr_status(c, &snap);
	t = 8;
	assert_int_equal(store_ctr_update(f->s, c, set_started, &t, NULL), 0);
	assert_int_equal(snap.started_at, 7);
	assert_string_equal(snap.reason, "Started");
	struct store_ctr_status now;
	store_ctr_status(c, &now);
	assert_int_equal(now.started_at, 8);
	assert_ptr_not_equal(now.reason, snap.reason);
	store_ctr_status_done(&now);
	store_ctr_status_done(&snap);
	store_ctr_unref(c);
}

static void test_store_inflight_flags_not_checkpointed(void **state)
{
	struct fx *f = *state;
	char id[ID_LEN + 1];
	tst_id(id, "ab", 1);
	struct store_ctr *c = tst_add_ctr(f->s, id, "n", "sb", NULL, 0, 5);
	_cleanup_berr_ struct berr *e = NULL;
	/* a flag-only update writes nothing: even a failing writer is not called */
	f->s->write_hook = fail_write;
	assert_int_equal(store_ctr_update(f->s, c, set_starting, NULL, &e), 0);
	f->s->write_hook = NULL;
	/* the claim rejects a second claimant */
	assert_int_equal(store_ctr_update(f->s, c, set_starting, NULL, &e), -EBUSY);
	store_ctr_unref(c);
	fx_restart(f);
	assert_int_equal(store_ctr_get(f->s, id, &c, NULL), 0);
	struct store_ctr_status st;
	store_ctr_status(c, &st);
	assert_false(st.starting);
	store_ctr_status_done(&st);
	store_ctr_unref(c);
}

static int sb_set_notready(struct store_sb_status *st, void *arg, struct berr **err)
{
	st->state = STORE_SB_NOTREADY;
	free(st->ip);
	st->ip = xstrdup("10.1.1.1");
	return 0;
}

static int sb_set_bad_state(struct store_sb_status *st, void *arg, struct berr **err)
{
	st->state = STORE_SB_STATE_MAX;
	return 0;
}

static void test_store_sb_update_and_delete(void **state)
{
	struct fx *f = *state;
	char id[ID_LEN + 1];
	tst_id(id, "5b", 1);
	struct store_sb *sb = tst_add_sb(f->s, id, "pod", NULL, 0, STORE_SB_READY);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(store_sb_update(f->s, sb, sb_set_notready, NULL, &e), 0);
	assert_int_equal(store_sb_update(f->s, sb, sb_set_bad_state, NULL, &e), -EINVAL);
	struct store_sb_status st;
	store_sb_status(sb, &st);
	assert_int_equal(st.state, STORE_SB_NOTREADY);
	assert_string_equal(st.ip, "10.1.1.1");
	store_sb_status_done(&st);
	struct store_sb *g = NULL;
	assert_int_equal(store_sb_get_by_name(f->s, "pod", &g, NULL), 0);
	assert_ptr_equal(g, sb);
	store_sb_unref(g);
	assert_ptr_equal(store_sb_ref(sb), sb);
	store_sb_unref(sb);

	assert_int_equal(store_sb_delete(f->s, id, &e), 0);
	assert_int_equal(store_sb_delete(f->s, id, &e), -ENOENT);
	_cleanup_free_ char *want = xasprintf("sandbox '%s' not found", id);
	assert_string_equal(e->msg, want);
	assert_int_equal(store_sb_update(f->s, sb, sb_set_notready, NULL, &e), -ENOENT);
	assert_string_equal(store_sb_meta(sb)->name, "pod");
	store_sb_unref(sb);
	fx_restart(f);
	assert_int_equal(store_sb_get(f->s, id, &g, NULL), -ENOENT);
}

static void test_store_ctr_delete(void **state)
{
	struct fx *f = *state;
	char id[ID_LEN + 1], other[ID_LEN + 1];
	tst_id(id, "ab", 1);
	tst_id(other, "cd", 1);
	struct store_ctr *c = tst_add_ctr(f->s, id, "n", "sb", NULL, 0, 5);
	_cleanup_free_ char *path = ctr_path(f, id);
	_cleanup_berr_ struct berr *e = NULL;

	assert_int_equal(store_ctr_delete(f->s, id, &e), 0);
	assert_int_equal(access(path, F_OK), -1);
	struct store_ctr *g = NULL;
	assert_int_equal(store_ctr_get(f->s, id, &g, &e), -ENOENT);
	/* idempotent in effect, NOT_FOUND in answer */
	assert_int_equal(store_ctr_delete(f->s, id, &e), -ENOENT);
	assert_int_equal(store_ctr_delete(f->s, other, &e), -ENOENT);
	assert_non_null(strstr(e->msg, other));
	/* delete takes full IDs only */
	char pre[] = "ab";
	assert_int_equal(store_ctr_delete(f->s, pre, &e), -ENOENT);
	assert_int_equal(store_ctr_delete(f->s, "", &e), -EINVAL);
	/* a reference held across the delete stays readable, and can't resurrect the record */
	int64_t t = 3;
	assert_int_equal(store_ctr_update(f->s, c, set_started, &t, &e), -ENOENT);
	assert_int_equal(access(path, F_OK), -1);
	assert_string_equal(store_ctr_meta(c)->sandbox_id, "sb");
	struct store_ctr_status st;
	store_ctr_status(c, &st);
	assert_int_equal(st.created_at, 5);
	store_ctr_status_done(&st);
	store_ctr_unref(c);
	size_t n;
	struct store_ctr **v;
	assert_int_equal(store_ctr_list(f->s, NULL, &v, &n, NULL), 0);
	assert_int_equal(n, 0);
	store_ctr_list_free(v, n);
}

/* ---- list filters ---- */

static size_t ctr_list_n(struct store *s, const struct store_ctr_filter *flt, const char *first)
{
	struct store_ctr **v = NULL;
	size_t n = 0;
	assert_int_equal(store_ctr_list(s, flt, &v, &n, NULL), 0);
	if (first && n > 0)
		assert_string_equal(store_ctr_id(v[0]), first);
	for (size_t i = 1; i < n; i++)
		assert_true(strcmp(store_ctr_id(v[i - 1]), store_ctr_id(v[i])) < 0);
	store_ctr_list_free(v, n);
	return n;
}

static void test_store_ctr_list_filters(void **state)
{
	struct fx *f = *state;
	char sa[ID_LEN + 1], sb[ID_LEN + 1], c[4][ID_LEN + 1];
	tst_id(sa, "5a", 1);
	tst_id(sb, "5b", 2);
	store_sb_unref(tst_add_sb(f->s, sa, "pa", NULL, 0, STORE_SB_READY));
	store_sb_unref(tst_add_sb(f->s, sb, "pb", NULL, 0, STORE_SB_READY));
	struct store_kv web[] = {{"app", "web"}, {"tier", "front"}};
	struct store_kv db[] = {{"app", "db"}, {"tier", "back"}};
	tst_id(c[0], "c01", 0);
	tst_id(c[1], "c02", 1);
	tst_id(c[2], "c11", 2);
	tst_id(c[3], "d00", 3);
	struct store_ctr *x[4];
	x[0] = tst_add_ctr(f->s, c[0], "n0", sa, web, 2, 1);
	x[1] = tst_add_ctr(f->s, c[1], "n1", sa, db, 2, 1);
	x[2] = tst_add_ctr(f->s, c[2], "n2", sb, web, 1, 1);
	x[3] = tst_add_ctr(f->s, c[3], "n3", "gone-sandbox", NULL, 0, 1);
	int64_t t = 10;
	assert_int_equal(store_ctr_update(f->s, x[1], set_started, &t, NULL), 0);

	assert_int_equal(ctr_list_n(f->s, NULL, c[0]), 4);
	struct store_ctr_filter flt = {0};
	assert_int_equal(ctr_list_n(f->s, &flt, c[0]), 4);
	/* ID: exact, unique prefix, ambiguous prefix and unknown match nothing */
	flt = (struct store_ctr_filter){.id = c[2]};
	assert_int_equal(ctr_list_n(f->s, &flt, c[2]), 1);
	flt.id = "c1";
	assert_int_equal(ctr_list_n(f->s, &flt, c[2]), 1);
	flt.id = "c0";
	assert_int_equal(ctr_list_n(f->s, &flt, NULL), 0);
	flt.id = "ffff";
	assert_int_equal(ctr_list_n(f->s, &flt, NULL), 0);
	/* state */
	flt = (struct store_ctr_filter){.has_state = true, .state = STORE_CTR_RUNNING};
	assert_int_equal(ctr_list_n(f->s, &flt, c[1]), 1);
	flt.state = STORE_CTR_CREATED;
	assert_int_equal(ctr_list_n(f->s, &flt, c[0]), 3);
	flt.state = STORE_CTR_EXITED;
	assert_int_equal(ctr_list_n(f->s, &flt, NULL), 0);
	/* sandbox: full, prefix, and a deleted sandbox's exact ID */
	flt = (struct store_ctr_filter){.sandbox_id = sa};
	assert_int_equal(ctr_list_n(f->s, &flt, c[0]), 2);
	flt.sandbox_id = "5b";
	assert_int_equal(ctr_list_n(f->s, &flt, c[2]), 1);
	flt.sandbox_id = "gone-sandbox";
	assert_int_equal(ctr_list_n(f->s, &flt, c[3]), 1);
	flt.sandbox_id = "5";
	assert_int_equal(ctr_list_n(f->s, &flt, NULL), 0);
	/* labels: every pair must match */
	struct store_kv sel1[] = {{"app", "web"}};
	struct store_kv sel2[] = {{"app", "web"}, {"tier", "front"}};
	struct store_kv sel3[] = {{"app", "web"}, {"tier", "back"}};
	flt = (struct store_ctr_filter){.labels = sel1, .n_labels = 1};
	assert_int_equal(ctr_list_n(f->s, &flt, c[0]), 2);
	flt.labels = sel2;
	flt.n_labels = 2;
	assert_int_equal(ctr_list_n(f->s, &flt, c[0]), 1);
	flt.labels = sel3;
	assert_int_equal(ctr_list_n(f->s, &flt, NULL), 0);
	/* all together */
	flt = (struct store_ctr_filter){.id = "c0",
					.sandbox_id = sa,
					.has_state = true,
					.state = STORE_CTR_CREATED,
					.labels = sel1,
					.n_labels = 1};
	flt.id = c[0];
	assert_int_equal(ctr_list_n(f->s, &flt, c[0]), 1);
	flt.state = STORE_CTR_RUNNING;
	assert_int_equal(ctr_list_n(f->s, &flt, NULL), 0);
	for (int i = 0; i < 4; i++)
		store_ctr_unref(x[i]);
}

static void test_store_sb_list_filters(void **state)
{
	struct fx *f = *state;
	char a[ID_LEN + 1], b[ID_LEN + 1];
	tst_id(a, "5a", 1);
	tst_id(b, "5b", 2);
	struct store_kv la[] = {{"app", "a"}, {"env", "prod"}};
	struct store_kv lb[] = {{"app", "b"}, {"env", "prod"}};
	store_sb_unref(tst_add_sb(f->s, a, "pa", la, 2, STORE_SB_READY));
	store_sb_unref(tst_add_sb(f->s, b, "pb", lb, 2, STORE_SB_NOTREADY));
	struct store_sb **v;
	size_t n;
	struct store_sb_filter flt = {.id = "5a"};
	assert_int_equal(store_sb_list(f->s, &flt, &v, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(store_sb_id(v[0]), a);
	store_sb_list_free(v, n);
	flt = (struct store_sb_filter){.id = "5"};
	assert_int_equal(store_sb_list(f->s, &flt, &v, &n, NULL), 0);
	assert_int_equal(n, 0);
	store_sb_list_free(v, n);
	flt = (struct store_sb_filter){.has_state = true, .state = STORE_SB_NOTREADY};
	assert_int_equal(store_sb_list(f->s, &flt, &v, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(store_sb_id(v[0]), b);
	store_sb_list_free(v, n);
	struct store_kv sel[] = {{"env", "prod"}};
	flt = (struct store_sb_filter){.labels = sel, .n_labels = 1};
	assert_int_equal(store_sb_list(f->s, &flt, &v, &n, NULL), 0);
	assert_int_equal(n, 2);
	store_sb_list_free(v, n);
	struct store_kv sel2[] = {{"env", "prod"}, {"app", "b"}};
	flt = (struct store_sb_filter){.labels = sel2, .n_labels = 2};
	assert_int_equal(store_sb_list(f->s, &flt, &v, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(store_sb_id(v[0]), b);
	store_sb_list_free(v, n);
	assert_int_equal(store_sb_list(f->s, NULL, &v, &n, NULL), 0);
	assert_int_equal(n, 2);
	store_sb_list_free(v, n);
}

int main(void)
{
#define T(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_store_sb_status_copy_every_field),
	    T(test_store_ctr_status_copy_every_field),
	    T(test_store_reload_every_field),
	    T(test_store_ctr_add_get),
	    T(test_store_ctr_prefix_ambiguous),
	    T(test_store_name_conflict_and_release),
	    T(test_store_add_failure_releases_own_reservation),
	    T(test_store_name_builders),
	    T(test_store_ctr_state_derivation),
	    T(test_store_update_fn_failure_leaves_status),
	    T(test_store_update_checkpoint_failure_leaves_memory_and_disk),
	    T(test_store_snapshot_not_altered_by_later_update),
	    T(test_store_inflight_flags_not_checkpointed),
	    T(test_store_sb_update_and_delete),
	    T(test_store_ctr_delete),
	    T(test_store_ctr_list_filters),
	    T(test_store_sb_list_filters),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
