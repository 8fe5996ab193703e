/* SPDX-License-Identifier: Apache-2.0 */
/* SIGHUP's reload against readers on other threads (also run under TSan, label tsan): while
 * the main thread reloads two configs in turn, handler-like threads read the log level, the
 * config in effect (Status verbose) and the registry settings a pull would start with. Each
 * read sees one config or the other, never a mix or freed memory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "cri/cri.h"
#include "image/image.h"

#define ROUNDS	200
#define READERS 3

static const char *const configs[2] = {
    "{\"log_level\": \"debug\", \"registries\": {\"r.io\": {\"mirrors\": [\"http://a\"]}}}",
    "{\"log_level\": \"error\", \"registries\": {\"r.io\": {\"mirrors\": [\"http://b\", "
    "\"http://b2\"]}}}",
};

struct shared {
	struct berth *b;
	atomic_bool stop;
	atomic_uint reads;
	atomic_uint bad;
};

/* The config in effect: its level and its mirrors must come from the same config. */
static bool live_consistent(struct berth *b)
{
	_cleanup_free_ char *s = cri_config_live_json(b);
	struct json_object *o = json_tokener_parse(s);
	if (!o)
		return false;
	struct json_object *lvl, *regs, *r, *m;
	bool ok = json_object_object_get_ex(o, "log_level", &lvl) &&
		  json_object_object_get_ex(o, "registries", &regs);
	const char *level = ok ? json_object_get_string(lvl) : "";
	size_t n = 0;
	if (ok && json_object_object_get_ex(regs, "r.io", &r) &&
	    json_object_object_get_ex(r, "mirrors", &m))
		n = json_object_array_length(m);
	/* before the first reload: the defaults (info, no registry) */
	ok = ok &&
	     ((strcmp(level, "info") == 0 && n == 0) || (strcmp(level, "debug") == 0 && n == 1) ||
	      (strcmp(level, "error") == 0 && n == 2));
	json_object_put(o);
	return ok;
}

/* What a pull starting now would get: no mirrors yet, or one whole set. */
static bool pull_request_consistent(struct berth *b)
{
	_cleanup_free_ char *s = img_pull_request_to_json(b->img, "r.io/x:1", NULL, "info");
	bool ok = strstr(s, "\"root\"") != NULL;
	bool a = strstr(s, "http://a") != NULL;
	bool bb = strstr(s, "http://b\"") != NULL && strstr(s, "http://b2") != NULL;
	bool none = strstr(s, "r.io\"") == NULL;
	return ok && (a + bb + none) == 1;
}

static void *reader(void *arg)
{
	struct shared *sh = arg;
	while (!atomic_load(&sh->stop)) {
		enum log_level l = log_get_level();
		bool ok = l == LOG_LEVEL_INFO || l == LOG_LEVEL_DEBUG || l == LOG_LEVEL_ERROR;
		ok = ok && live_consistent(sh->b) && pull_request_consistent(sh->b);
		if (!ok)
			atomic_fetch_add(&sh->bad, 1);
		atomic_fetch_add(&sh->reads, 1);
	}
	return NULL;
}

static void test_reload_against_readers(void **state)
{
	char tpl[] = "/tmp/berth-test-reload-XXXXXX";
	assert_non_null(mkdtemp(tpl));
	struct berth b = {0};
	cri_config_init(&b.cfg);
	free(b.cfg.state_dir);
	b.cfg.state_dir = xstrdup(tpl);
	assert_int_equal(cri_config_finish(&b.cfg, NULL), 0);
	_cleanup_free_ char *root = xasprintf("%s/image", tpl);
	struct img_opts o = {.root = root};
	assert_int_equal(img_ctx_new(&o, &b.img, NULL), 0);
	cri_reload_init(&b);
	log_set_level(LOG_LEVEL_INFO);

	struct shared sh = {.b = &b};
	pthread_t t[READERS];
	for (int i = 0; i < READERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader, &sh), 0);
	for (int round = 0; round < ROUNDS; round++) {
		struct berth_config next;
		cri_config_init(&next);
		_cleanup_berr_ struct berr *e = NULL;
		assert_int_equal(cri_config_parse(&next, configs[round % 2], "t", &e), 0);
		assert_int_equal(cri_config_finish(&next, &e), 0);
		struct cri_reload_result res;
		assert_int_equal(cri_config_reload(&b, &next, &res), 0);
		assert_int_equal(res.applied, 2);
		assert_int_equal(res.failed, 0);
		cri_config_done(&next);
	}
	atomic_store(&sh.stop, true);
	for (int i = 0; i < READERS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&sh.bad), 0);
	assert_true(atomic_load(&sh.reads) > 0);
	assert_int_equal(log_get_level(), LOG_LEVEL_ERROR); /* the last one applied */
	log_set_level(LOG_LEVEL_INFO);
	cri_reload_done(&b);
	b.img = img_ctx_free(b.img);
	cri_config_done(&b.cfg);
	assert_int_equal(fileio_remove_tree(tpl, NULL), 0);
}

int main(void)
{
	/* each reload logs what changed: 400 lines nobody reads */
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	log_setup(LOG_LEVEL_INFO, devnull < 0 ? 2 : devnull);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reload_against_readers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
