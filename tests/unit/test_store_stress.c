/* SPDX-License-Identifier: Apache-2.0 */
/* Concurrency stress test of store/: 8 threads doing random add, update, get (by prefix and
 * name), list with filters, status reads and delete on containers and sandboxes, and tag moves
 * on images, for STORE_STRESS_SECONDS (default 3). Run under TSan (label tsan) and ASan.
 * Afterwards the store must be consistent: every object resolves, and a reload from disk
 * gives the same objects with the same statuses. */
#include "test_store_util.h"

#include <pthread.h>
#include <stdatomic.h>

#define THREADS 8
#define POOL	48
#define IMAGES	4

static struct store *g_store;
static int64_t g_deadline; /* set before the threads start */
static atomic_long g_ops;

static void pool_id(char out[ID_LEN + 1], unsigned i)
{
	/* shared short prefixes, so prefix lookups hit unique and ambiguous cases */
	char prefix[4];
	snprintf(prefix, sizeof(prefix), "%02x", i % 16);
	tst_id(out, prefix, i);
}

static void img_pool_id(char out[ID_LEN + 8], unsigned i)
{
	memcpy(out, "sha256:", 7);
	tst_id(out + 7, "ee", i);
}

static int bump(struct store_ctr_status *st, void *arg, struct berr **err)
{
	unsigned r = *(unsigned *)arg;
	if (r % 7 == 0)
		return berr_set(err, EBUSY, "refused");
	st->pid++;
	if (!st->started_at)
		st->started_at = st->created_at + 1;
	else if (r % 5 == 0)
		st->finished_at = st->started_at + 1;
	free(st->reason);
	st->reason = xasprintf("r%u", r % 100);
	st->stopping = !st->stopping;
	return 0;
}

static int sb_flip(struct store_sb_status *st, void *arg, struct berr **err)
{
	st->state = st->state == STORE_SB_READY ? STORE_SB_NOTREADY : STORE_SB_READY;
	free(st->ip);
	st->ip = xasprintf("10.0.0.%u", *(unsigned *)arg % 250);
	return 0;
}

/* cmocka's assertions longjmp and are not for worker threads: report and abort instead */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static void expect(int r, int ok1, int ok2, const char *what)
{
	if (r < 0 && r != ok1 && r != ok2) {
		fprintf(stderr, "%s: unexpected %d\n", what, r);
		abort();
	}
}

static void ctr_op(unsigned *seed)
{
	unsigned r = (unsigned)rand_r(seed);
	char id[ID_LEN + 1];
	pool_id(id, r % POOL);
	_cleanup_free_ char *name = xasprintf("n%u", r % POOL);
	_cleanup_berr_ struct berr *e = NULL;
	struct store_ctr *c = NULL;
	switch ((r >> 8) % 8) {
	case 0: {
		struct store_kv labels[] = {{"app", (r >> 12) % 2 ? "a" : "b"}};
		struct store_ctr_meta m = {
		    .id = id, .name = name, .sandbox_id = "sb", .labels = labels, .n_labels = 1};
		struct store_ctr_status st = {.created_at = 100};
		int rr = store_ctr_reserve_name(g_store, name, id, &e);
		expect(rr, -EEXIST, 0, "reserve");
		if (rr == 0) {
			rr = store_ctr_add(g_store, &m, &st, NULL, &e);
			expect(rr, -EEXIST, 0, "add");
			if (rr < 0)
				store_ctr_release_name(g_store, name, id);
		}
		break;
	}
	case 1:
	case 2: {
		int rr = store_ctr_get(g_store, id, &c, &e);
		expect(rr, -ENOENT, 0, "get");
		if (rr == 0) {
			rr = store_ctr_update(g_store, c, bump, &r, &e);
			expect(rr, -ENOENT, -EBUSY, "update");
		}
		break;
	}
	case 3: {
		char prefix[4];
		snprintf(prefix, sizeof(prefix), "%.*s", (int)(1 + r % 3), id);
		expect(store_ctr_get(g_store, prefix, &c, &e), -ENOENT, -EINVAL, "prefix get");
		if (c) {
			struct store_ctr_status st;
			store_ctr_status(c, &st);
			CHECK(st.created_at == 100);
			store_ctr_status_done(&st);
		}
		break;
	}
	case 4: {
		struct store_kv sel[] = {{"app", "a"}};
		struct store_ctr_filter f = {.labels = sel, .n_labels = 1};
		if (r % 3 == 0) {
			f.has_state = true;
			f.state = STORE_CTR_RUNNING;
		}
		struct store_ctr **v;
		size_t n;
		CHECK(store_ctr_list(g_store, &f, &v, &n, NULL) == 0);
		for (size_t i = 0; i < n; i++)
			CHECK(strcmp(store_ctr_meta(v[i])->labels[0].value, "a") == 0);
		store_ctr_list_free(v, n);
		break;
	}
	case 5:
		expect(store_ctr_get_by_name(g_store, name, &c, &e), -ENOENT, 0, "by name");
		break;
	default:
		expect(store_ctr_delete(g_store, id, &e), -ENOENT, 0, "delete");
		break;
	}
	store_ctr_unref(c);
}

static void sb_op(unsigned *seed)
{
	unsigned r = (unsigned)rand_r(seed);
	char id[ID_LEN + 1];
	pool_id(id, r % 8);
	_cleanup_free_ char *name = xasprintf("pod%u", r % 8);
	_cleanup_berr_ struct berr *e = NULL;
	struct store_sb *sb = NULL;
	switch ((r >> 8) % 4) {
	case 0: {
		struct store_sb_meta m = {.id = id, .name = name};
		expect(store_sb_add(g_store, &m, NULL, NULL, &e), -EEXIST, 0, "sb add");
		break;
	}
	case 1:
		if (store_sb_get(g_store, id, &sb, &e) == 0)
			expect(store_sb_update(g_store, sb, sb_flip, &r, &e), -ENOENT, 0,
			       "sb update");
		break;
	case 2: {
		struct store_sb_filter f = {.has_state = true, .state = STORE_SB_READY};
		struct store_sb **v;
		size_t n;
		CHECK(store_sb_list(g_store, &f, &v, &n, NULL) == 0);
		store_sb_list_free(v, n);
		break;
	}
	default:
		expect(store_sb_delete(g_store, id, &e), -ENOENT, 0, "sb delete");
		break;
	}
	store_sb_unref(sb);
}

static void img_op(unsigned *seed)
{
	unsigned r = (unsigned)rand_r(seed);
	char id[ID_LEN + 8];
	img_pool_id(id, r % IMAGES);
	_cleanup_free_ char *tag = xasprintf("r/x:%u", (r >> 4) % 6);
	_cleanup_berr_ struct berr *e = NULL;
	struct store_img *img = NULL;
	switch ((r >> 8) % 5) {
	case 0:
	case 1: {
		struct store_img_meta m = {.id = id};
		const char *tags[] = {tag, NULL};
		CHECK(store_img_add(g_store, &m, tags, NULL, &img, NULL) == 0);
		break;
	}
	case 2:
		expect(store_img_lookup(g_store, tag, &img, &e), -ENOENT, 0, "img lookup");
		if (img) {
			struct store_img_status st;
			store_img_status(img, &st);
			store_img_status_done(&st);
		}
		break;
	case 3:
		expect(store_img_untag(g_store, tag, &e), -ENOENT, 0, "untag");
		break;
	default:
		expect(store_img_delete(g_store, id, &e), -ENOENT, 0, "img delete");
		break;
	}
	store_img_unref(img);
}

static void *worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 7919u + 1;
	long ops = 0;
	while (time_mono_ns() < g_deadline) {
		unsigned r = (unsigned)rand_r(&seed) % 10;
		if (r < 6)
			ctr_op(&seed);
		else if (r < 8)
			sb_op(&seed);
		else
			img_op(&seed);
		ops++;
	}
	atomic_fetch_add(&g_ops, ops);
	return NULL;
}

/* Every tag resolves to an image that lists it, and no tag is listed on two images. */
static void check_tags(struct store *s)
{
	struct store_img **v;
	size_t n;
	assert_int_equal(store_img_list(s, &v, &n, NULL), 0);
	for (size_t i = 0; i < n; i++) {
		struct store_img_status st;
		store_img_status(v[i], &st);
		for (size_t k = 0; st.repo_tags && st.repo_tags[k]; k++) {
			struct store_img *h = NULL;
			assert_int_equal(store_img_get_by_ref(s, st.repo_tags[k], &h, NULL), 0);
			assert_ptr_equal(h, v[i]);
			store_img_unref(h);
		}
		store_img_status_done(&st);
	}
	store_img_list_free(v, n);
}

static void test_store_stress(void **state)
{
	_cleanup_free_ char *dir = tst_mkdtemp();
	struct tst_warnings w = {0};
	g_store = tst_open(dir, &w);
	const char *env = getenv("STORE_STRESS_SECONDS");
	int secs = env ? atoi(env) : 3;

	g_deadline = time_mono_ns() + (int64_t)(secs > 0 ? secs : 1) * 1000000000;
	pthread_t th[THREADS];
	for (uintptr_t i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker, (void *)i), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	print_message("%ld operations in %d s\n", atomic_load(&g_ops), secs);
	assert_true(atomic_load(&g_ops) > THREADS);

	check_tags(g_store);
	/* memory and disk agree: reload and compare every container */
	struct store *again = tst_open(dir, &w);
	assert_int_equal(w.n, 0);
	check_tags(again);
	struct store_ctr **a, **b;
	size_t na, nb;
	assert_int_equal(store_ctr_list(g_store, NULL, &a, &na, NULL), 0);
	assert_int_equal(store_ctr_list(again, NULL, &b, &nb, NULL), 0);
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_string_equal(store_ctr_id(a[i]), store_ctr_id(b[i]));
		struct store_ctr_status sa, sb;
		store_ctr_status(a[i], &sa);
		store_ctr_status(b[i], &sb);
		assert_int_equal(sa.pid, sb.pid);
		assert_int_equal(sa.started_at, sb.started_at);
		assert_int_equal(sa.finished_at, sb.finished_at);
		if (sa.reason)
			assert_string_equal(sa.reason, sb.reason);
		store_ctr_status_done(&sa);
		store_ctr_status_done(&sb);
		/* names and IDs stay reserved together */
		struct store_ctr *byname = NULL;
		assert_int_equal(
		    store_ctr_get_by_name(g_store, store_ctr_meta(a[i])->name, &byname, NULL), 0);
		assert_ptr_equal(byname, a[i]);
		store_ctr_unref(byname);
	}
	store_ctr_list_free(a, na);
	store_ctr_list_free(b, nb);
	struct store_sb **sa, **sbv;
	assert_int_equal(store_sb_list(g_store, NULL, &sa, &na, NULL), 0);
	assert_int_equal(store_sb_list(again, NULL, &sbv, &nb, NULL), 0);
	assert_int_equal(na, nb);
	store_sb_list_free(sa, na);
	store_sb_list_free(sbv, nb);

	store_free(again);
	g_store = store_free(g_store);
	tst_warnings_done(&w);
	assert_int_equal(fileio_remove_tree(dir, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_store_stress),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
