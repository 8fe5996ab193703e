/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the image store: IDs and prefixes, repo tag/digest index, tag moves, untag,
 * delete, the update restrictions and reload (including a move cut short by a crash). */
#include "test_store_util.h"

_Static_assert(sizeof(struct store_img_status) == 48, "store_img_status changed: extend the test");
_Static_assert(sizeof(struct store_img_meta) == 128, "store_img_meta changed: extend the test");

static void img_id(char out[ID_LEN + 8], const char *prefix, unsigned long n)
{
	memcpy(out, "sha256:", 7);
	tst_id(out + 7, prefix, n);
}

static struct store_img *add_img(struct store *s, const char *id, const char *const *tags,
				 const char *const *digests)
{
	struct store_img_meta m = {.id = (char *)id, .size = 1000};
	struct store_img *img = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	if (store_img_add(s, &m, tags, digests, &img, &e) < 0)
		fail_msg("store_img_add: %s", berr_msg(e));
	return img;
}

static void tags_are(struct store_img *img, const char *const *tags, const char *const *digests)
{
	struct store_img_status st;
	store_img_status(img, &st);
	assert_true(
	    strv_equal(st.repo_tags ? st.repo_tags : (char *[]){NULL}, (char *const *)tags));
	assert_true(strv_equal(st.repo_digests ? st.repo_digests : (char *[]){NULL},
			       (char *const *)digests));
	store_img_status_done(&st);
}

static const char *resolve(struct store *s, const char *ref, char buf[ID_LEN + 8])
{
	struct store_img *img = NULL;
	if (store_img_lookup(s, ref, &img, NULL) < 0)
		return NULL;
	strcpy(buf, store_img_id(img));
	store_img_unref(img);
	return buf;
}

static char *env[] = {"PATH=/bin", "A=b", NULL};
static char *ep[] = {"/bin/sh", "-c", NULL};
static char *cmd[] = {"echo hi", NULL};
static char *ports[] = {"80/tcp", NULL};
static char *vols[] = {"/data", NULL};
static char *chains[] = {"sha256:c1", "sha256:c2", NULL};
static char *layers[] = {"sha256:l1", "sha256:l2", NULL};
static struct store_kv kv[] = {{"maintainer", "x"}, {"v", "1"}};

static void test_store_img_every_field_roundtrip(void **state)
{
	struct fx *f = *state;
	char id[ID_LEN + 8];
	img_id(id, "1a", 1);
	struct store_img_meta m = {
	    .id = id,
	    .size = 123456789,
	    .user = "1000:1000",
	    .env = env,
	    .entrypoint = ep,
	    .cmd = cmd,
	    .working_dir = "/work",
	    .stop_signal = "SIGQUIT",
	    .exposed_ports = ports,
	    .labels = kv,
	    .n_labels = 2,
	    .volumes = vols,
	    .chain_ids = chains,
	    .layer_digests = layers,
	    .extra = kv + 1,
	    .n_extra = 1,
	};
	const char *tags[] = {"docker.io/library/x:1", NULL};
	const char *digs[] = {"docker.io/library/x@sha256:dd", NULL};
	struct store_img *img = NULL;
	assert_int_equal(store_img_add(f->s, &m, tags, digs, &img, NULL), 0);
	store_img_unref(img);

	struct store_img_meta mc;
	store_img_meta_copy(&mc, &m);
	fx_restart(f);
	assert_int_equal(f->w.n, 0);
	assert_int_equal(store_img_get(f->s, id, &img, NULL), 0);
	const struct store_img_meta *g = store_img_meta(img);
	const struct store_img_meta *want[] = {&m, &mc};
	for (int i = 0; i < 2; i++) {
		const struct store_img_meta *w = want[i];
		assert_string_equal(g->id, w->id);
		assert_int_equal(g->size, w->size);
		assert_string_equal(g->user, w->user);
		assert_true(strv_equal(g->env, w->env));
		assert_true(strv_equal(g->entrypoint, w->entrypoint));
		assert_true(strv_equal(g->cmd, w->cmd));
		assert_string_equal(g->working_dir, w->working_dir);
		assert_string_equal(g->stop_signal, w->stop_signal);
		assert_true(strv_equal(g->exposed_ports, w->exposed_ports));
		assert_int_equal(g->n_labels, 2);
		assert_string_equal(g->labels[1].value, w->labels[1].value);
		assert_true(strv_equal(g->volumes, w->volumes));
		assert_true(strv_equal(g->chain_ids, w->chain_ids));
		assert_true(strv_equal(g->layer_digests, w->layer_digests));
		assert_int_equal(g->n_extra, 1);
		assert_string_equal(g->extra[0].key, w->extra[0].key);
	}
	store_img_meta_done(&mc);

	struct store_img_status st, sc;
	store_img_status(img, &st);
	assert_true(st.tagged_at > 0);
	assert_false(st.pinned);
	store_img_status_copy(&sc, &st);
	assert_true(strv_equal(sc.repo_tags, (char *const *)tags));
	assert_true(strv_equal(sc.repo_digests, (char *const *)digs));
	assert_int_equal(sc.tagged_at, st.tagged_at);
	assert_int_equal(sc.pinned, st.pinned);
	assert_int_equal(sc.n_extra, st.n_extra);
	store_img_status_done(&sc);
	store_img_status_done(&st);
	store_img_unref(img);
}

static void test_store_img_lookups(void **state)
{
	struct fx *f = *state;
	char a[ID_LEN + 8], b[ID_LEN + 8], buf[ID_LEN + 8];
	img_id(a, "abc1", 1);
	img_id(b, "abc2", 2);
	const char *ta[] = {"docker.io/library/busybox:latest", NULL};
	const char *da[] = {"docker.io/library/busybox@sha256:1111", NULL};
	store_img_unref(add_img(f->s, a, ta, da));
	store_img_unref(add_img(f->s, b, NULL, NULL));

	assert_string_equal(resolve(f->s, ta[0], buf), a);
	assert_string_equal(resolve(f->s, da[0], buf), a);
	assert_string_equal(resolve(f->s, a, buf), a);
	assert_string_equal(resolve(f->s, a + 7, buf), a);
	assert_string_equal(resolve(f->s, "abc2", buf), b);
	assert_string_equal(resolve(f->s, "sha256:abc2", buf), b);

	struct store_img *img = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(store_img_lookup(f->s, "abc", &img, &e), -EINVAL);
	assert_string_equal(e->msg, "ambiguous prefix 'sha256:abc' matches 2 images");
	assert_int_equal(store_img_get(f->s, "sha256:abc", &img, &e), -EINVAL);
	assert_int_equal(store_img_lookup(f->s, "docker.io/library/nope:1", &img, &e), -ENOENT);
	assert_string_equal(e->msg, "image 'docker.io/library/nope:1' not found");
	assert_int_equal(store_img_lookup(f->s, "fff", &img, &e), -ENOENT);
	assert_int_equal(store_img_lookup(f->s, "", &img, &e), -EINVAL);
	assert_int_equal(store_img_get_by_ref(f->s, "abc1", &img, &e), -ENOENT);
	assert_int_equal(store_img_get_by_ref(f->s, ta[0], &img, NULL), 0);
	assert_string_equal(store_img_id(img), a);
	store_img_unref(img);

	struct store_img **v;
	size_t n;
	assert_int_equal(store_img_list(f->s, &v, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(store_img_id(v[0]), a);
	assert_string_equal(store_img_id(v[1]), b);
	store_img_list_free(v, n);

	/* bad input */
	struct store_img_meta m = {.id = "abc"};
	assert_int_equal(store_img_add(f->s, &m, NULL, NULL, &img, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "bad image ID 'abc'"));
	m.id = a;
	const char *empty[] = {"", NULL};
	assert_int_equal(store_img_add(f->s, &m, empty, NULL, &img, &e), -EINVAL);
}

static void test_store_img_tag_moves(void **state)
{
	struct fx *f = *state;
	char a[ID_LEN + 8], b[ID_LEN + 8], buf[ID_LEN + 8];
	img_id(a, "aa", 1);
	img_id(b, "bb", 2);
	const char *t1 = "docker.io/library/app:1", *t2 = "docker.io/library/app:latest";
	const char *d1 = "docker.io/library/app@sha256:aaaa";
	const char *ta[] = {t1, t2, NULL}, *da[] = {d1, NULL};
	struct store_img *ia = add_img(f->s, a, ta, da);

	/* latest moves to the new image; app:1 and the digest stay */
	const char *tb[] = {t2, NULL};
	struct store_img *ib = add_img(f->s, b, tb, NULL);
	assert_string_equal(resolve(f->s, t2, buf), b);
	assert_string_equal(resolve(f->s, t1, buf), a);
	tags_are(ia, (const char *[]){t1, NULL}, da);
	tags_are(ib, tb, (const char *[]){NULL});

	/* adding an existing image merges (no duplicates) and moves latest back */
	const char *tm[] = {t2, t1, NULL};
	store_img_unref(add_img(f->s, a, tm, da));
	tags_are(ia, (const char *[]){t1, t2, NULL}, da);
	tags_are(ib, (const char *[]){NULL}, (const char *[]){NULL});
	assert_string_equal(resolve(f->s, t2, buf), a);

	/* and everything holds after a restart */
	store_img_unref(ia);
	store_img_unref(ib);
	fx_restart(f);
	assert_int_equal(f->w.n, 0);
	assert_string_equal(resolve(f->s, t2, buf), a);
	assert_string_equal(resolve(f->s, d1, buf), a);
	assert_int_equal(store_img_get(f->s, b, &ib, NULL), 0);
	tags_are(ib, (const char *[]){NULL}, (const char *[]){NULL});
	store_img_unref(ib);
}

static void test_store_img_untag_and_delete(void **state)
{
	struct fx *f = *state;
	char a[ID_LEN + 8], buf[ID_LEN + 8];
	img_id(a, "aa", 1);
	const char *t1 = "r/x:1", *t2 = "r/x:2", *d1 = "r/x@sha256:99";
	struct store_img *ia =
	    add_img(f->s, a, (const char *[]){t1, t2, NULL}, (const char *[]){d1, NULL});
	_cleanup_berr_ struct berr *e = NULL;

	assert_int_equal(store_img_untag(f->s, t1, &e), 0);
	assert_null(resolve(f->s, t1, buf));
	assert_string_equal(resolve(f->s, t2, buf), a);
	tags_are(ia, (const char *[]){t2, NULL}, (const char *[]){d1, NULL});
	assert_int_equal(store_img_untag(f->s, t1, &e), -ENOENT);
	assert_string_equal(e->msg, "image 'r/x:1' not found");
	assert_int_equal(store_img_untag(f->s, d1, &e), 0);
	tags_are(ia, (const char *[]){t2, NULL}, (const char *[]){NULL});
	assert_int_equal(store_img_untag(f->s, "", &e), -EINVAL);

	/* untag is persisted */
	fx_restart(f);
	assert_null(resolve(f->s, t1, buf));
	assert_string_equal(resolve(f->s, t2, buf), a);

	/* delete drops the image and its remaining tags; the held reference stays readable */
	assert_int_equal(store_img_delete(f->s, a + 7, &e), 0);
	assert_null(resolve(f->s, t2, buf));
	assert_null(resolve(f->s, a, buf));
	assert_int_equal(store_img_delete(f->s, a, &e), -ENOENT);
	assert_int_equal(store_img_delete(f->s, "", &e), -EINVAL);
	assert_string_equal(store_img_meta(ia)->id, a);
	store_img_unref(ia);
	fx_restart(f);
	struct store_img **v;
	size_t n;
	assert_int_equal(store_img_list(f->s, &v, &n, NULL), 0);
	assert_int_equal(n, 0);
	store_img_list_free(v, n);
}

static int pin(struct store_img_status *st, void *arg, struct berr **err)
{
	st->pinned = true;
	return 0;
}

static int retag(struct store_img_status *st, void *arg, struct berr **err)
{
	st->pinned = false;
	strv_free(st->repo_tags);
	st->repo_tags = NULL;
	return 0;
}

static void test_store_img_update(void **state)
{
	struct fx *f = *state;
	char a[ID_LEN + 8];
	img_id(a, "aa", 1);
	struct store_img *ia = add_img(f->s, a, (const char *[]){"r/x:1", NULL}, NULL);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(store_img_update(f->s, ia, pin, NULL, &e), 0);
	assert_int_equal(store_img_update(f->s, ia, retag, NULL, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "tags change only through"));
	struct store_img_status st;
	store_img_status(ia, &st);
	assert_true(st.pinned);
	assert_string_equal(st.repo_tags[0], "r/x:1");
	store_img_status_done(&st);
	assert_ptr_equal(store_img_ref(ia), ia);
	store_img_unref(ia);
	store_img_unref(ia);
	fx_restart(f);
	assert_int_equal(store_img_get(f->s, a, &ia, NULL), 0);
	store_img_status(ia, &st);
	assert_true(st.pinned);
	store_img_status_done(&st);
	store_img_unref(ia);
}

/* A crash between the two writes of a move leaves the tag in both records: the later
 * tagged_at wins at reload, and the loser's record is rewritten so it stays resolved. */
static void test_store_img_crash_mid_move(void **state)
{
	struct fx *f = *state;
	char a[ID_LEN + 8], b[ID_LEN + 8], buf[ID_LEN + 8];
	img_id(a, "aa", 1);
	img_id(b, "bb", 2);
	const char *t = "r/x:latest";
	store_img_unref(add_img(f->s, a, (const char *[]){t, NULL}, NULL));
	_cleanup_free_ char *pa = xasprintf("%s/store/images/%s.json", f->dir, a);
	_cleanup_free_ char *old_a = tst_read(pa);
	store_img_unref(add_img(f->s, b, (const char *[]){t, NULL}, NULL));
	f->s = store_free(f->s);
	/* put back a's record from before the move, as if the second write never happened */
	assert_int_equal(fileio_write_atomic(pa, old_a, strlen(old_a), 0600, NULL), 0);

	fx_restart(f);
	assert_int_equal(f->w.n, 1);
	assert_int_equal(f->w.code[0], EEXIST);
	assert_non_null(strstr(f->w.msg[0], "dropped from"));
	assert_non_null(strstr(f->w.msg[0], a));
	assert_string_equal(resolve(f->s, t, buf), b);
	struct store_img *ia = NULL;
	assert_int_equal(store_img_get(f->s, a, &ia, NULL), 0);
	tags_are(ia, (const char *[]){NULL}, (const char *[]){NULL});
	store_img_unref(ia);
	/* fixed on disk: a second restart is clean */
	fx_restart(f);
	assert_int_equal(f->w.n, 0);
	assert_string_equal(resolve(f->s, t, buf), b);
}

static const char *fail_path; /* the record the hook refuses to write */

static int fail_one(const char *path, const void *data, size_t len, struct berr **err)
{
	if (strcmp(path, fail_path) == 0)
		return berr_set(err, EIO, "injected failure writing '%s'", path);
	return fileio_write_atomic(path, data, len, 0600, err);
}

/* The old holder's record can't be rewritten during a move: the add reports it, the tag
 * still resolves to the new image, and the old image's next tag change drops the stale tag
 * so that a reload doesn't give it back. */
static void test_store_img_move_old_holder_write_fails(void **state)
{
	struct fx *f = *state;
	char a[ID_LEN + 8], b[ID_LEN + 8], buf[ID_LEN + 8];
	img_id(a, "aa", 1);
	img_id(b, "bb", 2);
	const char *t = "r/x:latest", *t2 = "r/x:other";
	store_img_unref(add_img(f->s, a, (const char *[]){t, NULL}, NULL));
	_cleanup_free_ char *pa = xasprintf("%s/store/images/%s.json", f->dir, a);
	fail_path = pa;
	f->s->write_hook = fail_one;
	struct store_img_meta m = {.id = b};
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(store_img_add(f->s, &m, (const char *[]){t, NULL}, NULL, NULL, &e), -EIO);
	assert_non_null(strstr(e->msg, "move tags from image"));
	f->s->write_hook = NULL;
	assert_string_equal(resolve(f->s, t, buf), b);

	/* a's next tag change (which makes a's tagged_at the newest) drops the stale tag */
	store_img_unref(add_img(f->s, a, (const char *[]){t2, NULL}, NULL));
	struct store_img *ia = NULL;
	assert_int_equal(store_img_get(f->s, a, &ia, NULL), 0);
	tags_are(ia, (const char *[]){t2, NULL}, (const char *[]){NULL});
	store_img_unref(ia);
	fx_restart(f);
	assert_int_equal(f->w.n, 0);
	assert_string_equal(resolve(f->s, t, buf), b);
	assert_string_equal(resolve(f->s, t2, buf), a);
}

int main(void)
{
#define T(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_store_img_every_field_roundtrip),
	    T(test_store_img_lookups),
	    T(test_store_img_tag_moves),
	    T(test_store_img_untag_and_delete),
	    T(test_store_img_update),
	    T(test_store_img_crash_mid_move),
	    T(test_store_img_move_old_holder_write_fails),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
