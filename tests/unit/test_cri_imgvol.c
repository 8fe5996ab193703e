/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of image volumes' pure parts (cri/imgvol.c): the mount field checks
 * and the resolution of image_sub_path beneath a tree on disk, with symlinks
 * inside the tree, climbing out of it and absolute ones. The mounts themselves
 * run in test_cri_container (fake ops) and tests/integration/test_imgvol.py. */
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

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "cri/imgvol.h"

static void test_check_fields(void **state)
{
	Runtime__V1__ImageSpec img = RUNTIME__V1__IMAGE_SPEC__INIT, noname = img;
	img.image = "vol:1";
	static const Runtime__V1__Mount init = RUNTIME__V1__MOUNT__INIT;
	struct {
		Runtime__V1__Mount m;
		int code;
		const char *msg;
	} cases[] = {
	    {init, 0, NULL},
	    {init, -EINVAL, "image volume destination 'data' is not absolute"},
	    {init, -EINVAL, "image volume '/d' names no image"},
	    {init, -EINVAL, "image volume '/d' takes no host_path (got '/h')"},
	    {init, -EINVAL, "selinux_relabel is not supported"},
	    {init, -EINVAL, "propagation must be PROPAGATION_PRIVATE, not PROPAGATION_HOST_TO"},
	    {init, -EINVAL, "image_sub_path '/a' of mount '/d' must be relative"},
	    {init, -EINVAL, "image_sub_path 'a/../b' of mount '/d' must not contain '..'"},
	    {init, -EINVAL, "mount '/d' has an image_sub_path ('a') but no image"},
	    {init, 0, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cases[i].m.container_path = "/d";
		cases[i].m.image = &img;
	}
	cases[1].m.container_path = "data";
	cases[2].m.image = &noname;
	cases[3].m.host_path = "/h";
	cases[4].m.selinux_relabel = true;
	cases[5].m.propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER;
	cases[6].m.image_sub_path = "/a";
	cases[7].m.image_sub_path = "a/../b";
	cases[8].m.image = NULL;
	cases[8].m.image_sub_path = "a";
	cases[9].m.image_sub_path = "a/..b/c"; /* a name with dots is fine */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Runtime__V1__Mount *mp = &cases[i].m;
		Runtime__V1__ContainerConfig c = RUNTIME__V1__CONTAINER_CONFIG__INIT;
		c.mounts = &mp;
		c.n_mounts = 1;
		_cleanup_berr_ struct berr *e = NULL;
		assert_int_equal(cri_imgvol_check(&c, &e), cases[i].code);
		if (cases[i].msg && !strstr(berr_msg(e), cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, berr_msg(e), cases[i].msg);
	}
	/* a bounded number of image volumes per container */
	Runtime__V1__Mount *many[65];
	Runtime__V1__Mount m = init;
	m.container_path = "/d";
	m.image = &img;
	for (size_t i = 0; i < 65; i++)
		many[i] = &m;
	Runtime__V1__ContainerConfig c = RUNTIME__V1__CONTAINER_CONFIG__INIT;
	c.mounts = many;
	c.n_mounts = 65;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cri_imgvol_check(&c, &e), -E2BIG);
	assert_non_null(strstr(berr_msg(e), "too many image volumes (65 > 64)"));
}

static void test_resolve_sub(void **state)
{
	char tpl[] = "/tmp/berth-test-imgvol-XXXXXX";
	assert_non_null(mkdtemp(tpl));
	_cleanup_free_ char *tree = xasprintf("%s/tree", tpl);
	_cleanup_free_ char *sub = xasprintf("%s/tree/data/sub", tpl);
	_cleanup_free_ char *file = xasprintf("%s/tree/data/file", tpl);
	assert_int_equal(fileio_mkdir_p(sub, 0755, NULL), 0);
	assert_int_equal(fileio_write_atomic(file, "x", 1, 0644, NULL), 0);
	struct {
		const char *name, *target;
	} links[] = {{"inside", "data/sub"}, {"up", "../../.."},    {"abs", "/data"},
		     {"loop", "loop"},	     {"dotdot", "data/.."}, {"out", "data/../../x"}};
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", tree, links[i].name);
		assert_int_equal(symlink(links[i].target, p), 0);
	}
	struct {
		const char *sub;
		int code;
		const char *want; /* the path (under tree) or a message */
	} cases[] = {
	    {".", 0, ""},
	    {"data", 0, "/data"},
	    {"data/sub/", 0, "/data/sub"},
	    {"inside", 0, "/data/sub"},
	    {"dotdot", 0, ""}, /* data/.. stays in the tree */
	    {"missing", -EINVAL, "does not exist in the image"},
	    {"data/file", -EINVAL, "is not a directory of the image"},
	    {"up", -EINVAL, "escapes the image"},
	    {"abs", -EINVAL, "escapes the image"},
	    {"out", -EINVAL, "escapes the image"},
	    {"loop", -EINVAL, "too many symlinks"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_berr_ struct berr *e = NULL;
		_cleanup_free_ char *got = NULL;
		int r = cri_imgvol_resolve_sub(tree, cases[i].sub, "mount '/d'", &got, &e);
		assert_int_equal(r, cases[i].code);
		if (r < 0) {
			if (!strstr(berr_msg(e), cases[i].want))
				fail_msg("case %zu: '%s' lacks '%s'", i, berr_msg(e),
					 cases[i].want);
			continue;
		}
		_cleanup_free_ char *want = xasprintf("%s%s", tree, cases[i].want);
		assert_string_equal(got, want);
	}
	assert_int_equal(cri_imgvol_resolve_sub("/nonexistent/berth", ".", "m", NULL, NULL),
			 -ENOENT);
	assert_int_equal(fileio_remove_tree(tpl, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_fields),
	    cmocka_unit_test(test_resolve_sub),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
