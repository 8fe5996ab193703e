/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of store/ persistence at load: corrupt, half-written, newer-version, misfiled
 * and garbage records and leftover temp files are reported and skipped, never fatal, and never
 * cost a good record. */
#include "test_store_util.h"

static char *ctr_path(struct fx *f, const char *id)
{
	return xasprintf("%s/store/containers/%s.json", f->dir, id);
}

static int set_started(struct store_ctr_status *st, void *arg, struct berr **err)
{
	st->started_at = *(int64_t *)arg;
	return 0;
}

static void write_file(const char *dir, const char *name, const char *data)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
	assert_int_equal(fileio_write_atomic(p, data, strlen(data), 0600, NULL), 0);
}

static void test_store_load_corrupt_records(void **state)
{
	struct fx *f = *state;
	char good[ID_LEN + 1], trunc[ID_LEN + 1], newer[ID_LEN + 1], misfiled[ID_LEN + 1],
	    badfield[ID_LEN + 1];
	tst_id(good, "a1", 1);
	tst_id(trunc, "a2", 2);
	tst_id(newer, "a3", 3);
	tst_id(misfiled, "a4", 4);
	tst_id(badfield, "a5", 5);
	struct store_ctr *c = tst_add_ctr(f->s, good, "good", "sb", NULL, 0, 5);
	int64_t t = 6;
	assert_int_equal(store_ctr_update(f->s, c, set_started, &t, NULL), 0);
	store_ctr_unref(c);
	_cleanup_free_ char *dir = xasprintf("%s/store/containers", f->dir);
	_cleanup_free_ char *gpath = ctr_path(f, good);
	_cleanup_free_ char *grec = tst_read(gpath);

	/* a half-written record: the first half of a good one */
	_cleanup_free_ char *half = xstrndup(grec, strlen(grec) / 2);
	_cleanup_free_ char *tname = xasprintf("%s.json", trunc);
	write_file(dir, tname, half);
	_cleanup_free_ char *nname = xasprintf("%s.json", newer);
	_cleanup_free_ char *nrec = xasprintf("{\"version\":2,\"kind\":\"container\",\"meta\":"
					      "{\"id\":\"%s\"},\"status\":{}}",
					      newer);
	write_file(dir, nname, nrec);
	_cleanup_free_ char *mname = xasprintf("%s.json", misfiled);
	write_file(dir, mname, grec);
	_cleanup_free_ char *bname = xasprintf("%s.json", badfield);
	_cleanup_free_ char *brec = xasprintf("{\"version\":1,\"kind\":\"container\",\"meta\":"
					      "{\"id\":\"%s\",\"name\":\"b\",\"sandbox_id\":\"s\","
					      "\"metadata\":{}},\"status\":{\"pid\":\"x\"}}",
					      badfield);
	write_file(dir, bname, brec);
	write_file(dir, "garbage.json", "\x01\x02 not json at all");
	write_file(dir, "README", "hello");
	_cleanup_free_ char *tmpname = xasprintf("%s.json.tmp.Ab12Cd", good);
	write_file(dir, tmpname, "{\"version\":1,");

	fx_restart(f);
	assert_int_equal(f->w.n, 7);
	int i = tst_warning_for(&f->w, tname);
	assert_true(i >= 0);
	assert_int_equal(f->w.code[i], EIO);
	assert_non_null(strstr(f->w.msg[i], "corrupt record"));
	i = tst_warning_for(&f->w, nname);
	assert_true(i >= 0);
	assert_int_equal(f->w.code[i], EPROTONOSUPPORT);
	assert_non_null(strstr(f->w.msg[i], "version 2 is newer than 1"));
	i = tst_warning_for(&f->w, mname);
	assert_true(i >= 0);
	assert_non_null(strstr(f->w.msg[i], "in the file of"));
	i = tst_warning_for(&f->w, bname);
	assert_true(i >= 0);
	assert_non_null(strstr(f->w.msg[i], "field 'pid' is not an integer"));
	i = tst_warning_for(&f->w, "garbage.json");
	assert_true(i >= 0);
	assert_int_equal(f->w.code[i], EIO);
	i = tst_warning_for(&f->w, "README");
	assert_true(i >= 0);
	assert_int_equal(f->w.code[i], EINVAL);
	i = tst_warning_for(&f->w, tmpname);
	assert_true(i >= 0);
	assert_non_null(strstr(f->w.msg[i], "removed"));

	/* the good record and its status survived; the temp file is gone; bad ones stay */
	struct store_ctr **v;
	size_t n;
	assert_int_equal(store_ctr_list(f->s, NULL, &v, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(store_ctr_id(v[0]), good);
	struct store_ctr_status st;
	store_ctr_status(v[0], &st);
	assert_int_equal(st.started_at, 6);
	store_ctr_status_done(&st);
	store_ctr_list_free(v, n);
	_cleanup_free_ char *tmppath = xasprintf("%s/%s", dir, tmpname);
	assert_int_equal(access(tmppath, F_OK), -1);
	_cleanup_free_ char *tpath = xasprintf("%s/%s", dir, tname);
	assert_int_equal(access(tpath, F_OK), 0);
}

static void test_store_open_errors(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(store_open("", NULL, &s, &e), -EINVAL);
	_cleanup_free_ char *file = xasprintf("%s/file", f->dir);
	write_file(f->dir, "file", "x");
	assert_int_equal(store_open(file, NULL, &s, &e), -ENOTDIR);
	assert_non_null(strstr(e->msg, "open store in"));
	assert_null(store_free(NULL));
}

/* One bad field per record; each is skipped with a message naming the field. */
static void test_store_load_bad_fields(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *dir, *kind, *meta, *status, *want;
	} cases[] = {
	    {"containers", "container", ",\"labels\":[\"x\"]", "", "field 'labels'"},
	    {"containers", "container", ",\"labels\":{\"a\":\"b\"}", "", "field 'labels'"},
	    {"containers", "container", ",\"config\":\"@@@\"", "", "'config' is not base64"},
	    {"containers", "container", ",\"config\":\"QUJD!!==\"", "", "'config' is not base64"},
	    {"containers", "container", ",\"metadata\":{\"attempt\":-1}", "",
	     "field 'attempt' out of range"},
	    {"containers", "sandbox", "", "", "kind 'sandbox' is not 'container'"},
	    {"sandboxes", "sandbox", "", "\"state\":\"RUNNING\"", "bad sandbox state 'RUNNING'"},
	    {"sandboxes", "sandbox", "", "\"state\":\"SANDBOX_READY\",\"additional_ips\":[1]",
	     "field 'additional_ips'"},
	};
	const size_t n = sizeof(cases) / sizeof(cases[0]);
	for (size_t i = 0; i < n; i++) {
		char id[ID_LEN + 1];
		tst_id(id, "ba", i);
		/* a complete record apart from the one field under test ("metadata" may repeat:
		 * json-c keeps the last) */
		_cleanup_free_ char *rec = xasprintf(
		    "{\"version\":1,\"kind\":\"%s\",\"meta\":{\"id\":\"%s\",\"name\":\"n%zu\","
		    "\"sandbox_id\":\"s\",\"metadata\":{}%s},\"status\":{%s}}",
		    cases[i].kind, id, i, cases[i].meta, cases[i].status);
		_cleanup_free_ char *p = xasprintf("%s/store/%s/%s.json", f->dir, cases[i].dir, id);
		assert_int_equal(fileio_write_atomic(p, rec, strlen(rec), 0600, NULL), 0);
	}
	/* a good sandbox from the same template proves the template itself is fine */
	char good[ID_LEN + 1];
	tst_id(good, "99", 1);
	_cleanup_free_ char *grec =
	    xasprintf("{\"version\":1,\"kind\":\"sandbox\",\"meta\":{\"id\":\"%s\",\"name\":\"g\","
		      "\"sandbox_id\":\"s\",\"metadata\":{},\"config\":\"QUJD\"},"
		      "\"status\":{\"state\":\"SANDBOX_NOTREADY\"}}",
		      good);
	_cleanup_free_ char *gp = xasprintf("%s/store/sandboxes/%s.json", f->dir, good);
	assert_int_equal(fileio_write_atomic(gp, grec, strlen(grec), 0600, NULL), 0);

	fx_restart(f);
	assert_int_equal(f->w.n, n);
	for (size_t i = 0; i < n; i++) {
		char id[ID_LEN + 1];
		tst_id(id, "ba", i);
		_cleanup_free_ char *suffix = xasprintf("%s.json", id);
		int k = tst_warning_for(&f->w, suffix);
		assert_true(k >= 0);
		if (!strstr(f->w.msg[k], cases[i].want))
			fail_msg("case %zu: '%s' lacks '%s'", i, f->w.msg[k], cases[i].want);
	}
	struct store_sb *sb = NULL;
	assert_int_equal(store_sb_get(f->s, good, &sb, NULL), 0);
	assert_int_equal(store_sb_meta(sb)->config.len, 3);
	assert_memory_equal(store_sb_meta(sb)->config.data, "ABC", 3);
	struct store_sb_status st;
	store_sb_status(sb, &st);
	assert_int_equal(st.state, STORE_SB_NOTREADY);
	store_sb_status_done(&st);
	store_sb_unref(sb);
}

/* Images: a record whose ID is not a sha256 digest, and a good one next to it. */
static void test_store_load_bad_image(void **state)
{
	struct fx *f = *state;
	const char *rec = "{\"version\":1,\"kind\":\"image\",\"meta\":{\"id\":\"md5:abc\"},"
			  "\"status\":{}}";
	_cleanup_free_ char *p = xasprintf("%s/store/images/md5:abc.json", f->dir);
	assert_int_equal(fileio_write_atomic(p, rec, strlen(rec), 0600, NULL), 0);
	char id[ID_LEN + 8] = "sha256:";
	tst_id(id + 7, "ab", 1);
	struct store_img_meta m = {.id = id};
	const char *tags[] = {"r/x:1", NULL};
	assert_int_equal(store_img_add(f->s, &m, tags, NULL, NULL, NULL), 0);
	fx_restart(f);
	assert_int_equal(f->w.n, 1);
	assert_non_null(strstr(f->w.msg[0], "bad image ID 'md5:abc'"));
	struct store_img *img = NULL;
	assert_int_equal(store_img_lookup(f->s, "r/x:1", &img, NULL), 0);
	store_img_unref(img);
}

int main(void)
{
#define T(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_store_load_corrupt_records),
	    T(test_store_load_bad_fields),
	    T(test_store_load_bad_image),
	    T(test_store_open_errors),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
