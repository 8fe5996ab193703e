/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of cri/image.c: the ImageService handlers called directly on a real store and
 * image context (no registry: records are added to the store as a pull would). */
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
#include "cri/cri-internal.h"
#include "image/image.h"
#include "store/store.h"

#define ID_A "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define MD_A "sha256:1111111111111111111111111111111111111111111111111111111111111111"

struct fixture {
	char *dir;
	struct berth b;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char tpl[] = "/tmp/berth-test-image-cri-XXXXXX";
	if (!mkdtemp(tpl))
		return -1;
	f->dir = xstrdup(tpl);
	cri_config_init(&f->b.cfg);
	free(f->b.cfg.state_dir);
	f->b.cfg.state_dir = xstrdup(f->dir);
	f->b.cfg.libexec_dir = xstrdup(BERTH_PULL_DIR); /* the berth-pull just built */
	struct berr *e = NULL;
	if (store_open(f->dir, NULL, &f->b.store, &e) < 0 || cri_image_init(&f->b, &e) < 0) {
		fprintf(stderr, "setup: %s\n", berr_msg(e));
		berr_free(e);
		return -1;
	}
	/* image A: tagged twice, user "1000:1000"; image B: named user */
	char *env[] = {"PATH=/bin", NULL};
	char *chains[] = {MD_A, NULL};
	struct store_kv extra[] = {{"blobs", MD_A}};
	struct store_img_meta a = {.id = ID_A,
				   .size = 1234,
				   .user = "1000:1000",
				   .env = env,
				   .chain_ids = chains,
				   .layer_digests = chains,
				   .extra = extra,
				   .n_extra = 1};
	const char *tags_a[] = {"docker.io/library/busybox:latest", "docker.io/library/busybox:1",
				NULL};
	const char *digests_a[] = {"docker.io/library/busybox@" MD_A, NULL};
	struct store_img_meta bm = {.id = ID_B, .size = 99, .user = "nginx:nginx"};
	const char *tags_b[] = {"quay.io/x/nginx:2", NULL};
	if (store_img_add(f->b.store, &a, tags_a, digests_a, NULL, &e) < 0 ||
	    store_img_add(f->b.store, &bm, tags_b, NULL, NULL, &e) < 0) {
		fprintf(stderr, "setup: %s\n", berr_msg(e));
		berr_free(e);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	cri_image_done(&f->b);
	f->b.store = store_free(f->b.store);
	cri_config_done(&f->b.cfg);
	int r = fileio_remove_tree(f->dir, NULL);
	free(f->dir);
	free(f);
	return r;
}

static Runtime__V1__ImageStatusResponse *status(struct fixture *f, const char *ref, bool verbose)
{
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	spec.image = (char *)ref;
	Runtime__V1__ImageStatusRequest req = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
	req.image = &spec;
	req.verbose = verbose;
	ProtobufCMessage *resp = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	if (cri_image_status(&f->b, NULL, &req.base, &resp, &e) < 0)
		fail_msg("ImageStatus '%s': %s", ref, e->msg);
	return (void *)resp;
}

static int remove_image(struct fixture *f, const char *ref, struct berr **err)
{
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	spec.image = (char *)ref;
	Runtime__V1__RemoveImageRequest req = RUNTIME__V1__REMOVE_IMAGE_REQUEST__INIT;
	req.image = &spec;
	ProtobufCMessage *resp = NULL;
	int r = cri_remove_image(&f->b, NULL, &req.base, &resp, err);
	cri_msg_free(resp);
	return r;
}

static size_t count_images(struct fixture *f)
{
	Runtime__V1__ListImagesRequest req = RUNTIME__V1__LIST_IMAGES_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	assert_int_equal(cri_list_images(&f->b, NULL, &req.base, &resp, NULL), 0);
	size_t n = ((Runtime__V1__ListImagesResponse *)resp)->n_images;
	cri_msg_free(resp);
	return n;
}

static void test_image_status_names(void **state)
{
	struct fixture *f = *state;
	const char *names[] = {"busybox",	"busybox:1", "docker.io/library/busybox:latest",
			       "busybox@" MD_A, ID_A,	     ID_A + 7,
			       "aaaaaaaaaaaa"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		Runtime__V1__ImageStatusResponse *r = status(f, names[i], false);
		if (!r->image)
			fail_msg("'%s' not found", names[i]);
		assert_string_equal(r->image->id, ID_A);
		cri_msg_free(&r->base);
	}
	Runtime__V1__ImageStatusResponse *r = status(f, "busybox", true);
	assert_int_equal(r->image->n_repo_tags, 2);
	assert_int_equal(r->image->size, 1234);
	assert_non_null(r->image->uid);
	assert_int_equal(r->image->uid->value, 1000);
	assert_string_equal(r->image->spec->image, ID_A);
	assert_int_equal(r->n_info, 1);
	assert_non_null(strstr(r->info[0]->value, "\"chainIDs\":[\"" MD_A "\"]"));
	assert_non_null(strstr(r->info[0]->value, "PATH=/bin"));
	cri_msg_free(&r->base);
	r = status(f, "quay.io/x/nginx:2", false);
	assert_null(r->image->uid);
	assert_string_equal(r->image->username, "nginx");
	cri_msg_free(&r->base);
	/* unknown: empty response, no error */
	r = status(f, "alpine", false);
	assert_null(r->image);
	cri_msg_free(&r->base);
}

static void test_image_status_errors(void **state)
{
	struct fixture *f = *state;
	Runtime__V1__ImageStatusRequest req = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cri_image_status(&f->b, NULL, &req.base, &resp, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "no image given"));
	cri_msg_free(resp);
}

static void test_list_images_filter(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(count_images(f), 2);
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__ImageFilter filter = RUNTIME__V1__IMAGE_FILTER__INIT;
	Runtime__V1__ListImagesRequest req = RUNTIME__V1__LIST_IMAGES_REQUEST__INIT;
	filter.image = &spec;
	req.filter = &filter;
	spec.image = "quay.io/x/nginx:2";
	ProtobufCMessage *resp = NULL;
	assert_int_equal(cri_list_images(&f->b, NULL, &req.base, &resp, NULL), 0);
	Runtime__V1__ListImagesResponse *l = (void *)resp;
	assert_int_equal(l->n_images, 1);
	assert_string_equal(l->images[0]->id, ID_B);
	cri_msg_free(resp);
	spec.image = "nothing:here";
	assert_int_equal(cri_list_images(&f->b, NULL, &req.base, &resp, NULL), 0);
	assert_int_equal(((Runtime__V1__ListImagesResponse *)resp)->n_images, 0);
	cri_msg_free(resp);
}

static void test_remove_image_tags_then_id(void **state)
{
	struct fixture *f = *state;
	_cleanup_berr_ struct berr *e = NULL;
	/* one tag of two: the image stays, with the other */
	assert_int_equal(remove_image(f, "busybox:1", &e), 0);
	Runtime__V1__ImageStatusResponse *r = status(f, ID_A, false);
	assert_int_equal(r->image->n_repo_tags, 1);
	assert_string_equal(r->image->repo_tags[0], "docker.io/library/busybox:latest");
	cri_msg_free(&r->base);
	/* its last tag: the image goes */
	assert_int_equal(remove_image(f, "busybox", &e), 0);
	r = status(f, ID_A, false);
	assert_null(r->image);
	cri_msg_free(&r->base);
	assert_int_equal(count_images(f), 1);
	/* gone already: success */
	assert_int_equal(remove_image(f, ID_A, &e), 0);
	assert_int_equal(remove_image(f, "busybox", &e), 0);
}

static void test_remove_image_in_use(void **state)
{
	struct fixture *f = *state;
	struct store_ctr_meta m = {
	    .id = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
	    .name = "k8s_c_p_ns_uid_0",
	    .sandbox_id = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
	    .image_ref = "quay.io/x/nginx:2",
	    .image_id = ID_B,
	    .created_at = 1};
	struct store_ctr_status st = {.created_at = 1};
	_cleanup_berr_ struct berr *e = NULL;
	if (store_ctr_add(f->b.store, &m, &st, NULL, &e) < 0)
		fail_msg("%s", e->msg);
	assert_int_equal(remove_image(f, ID_B, &e), -EBUSY);
	assert_non_null(strstr(e->msg, "is used by container 'cccccccccccc'"));
	assert_int_equal(count_images(f), 2);
}

static void test_image_fs_info(void **state)
{
	struct fixture *f = *state;
	Runtime__V1__ImageFsInfoRequest req = RUNTIME__V1__IMAGE_FS_INFO_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	assert_int_equal(cri_image_fs_info(&f->b, NULL, &req.base, &resp, NULL), 0);
	Runtime__V1__ImageFsInfoResponse *r = (void *)resp;
	assert_int_equal(r->n_image_filesystems, 1);
	Runtime__V1__FilesystemUsage *u = r->image_filesystems[0];
	assert_true(u->timestamp > 0);
	assert_true(u->used_bytes->value > 0);
	assert_true(u->inodes_used->value >= 5); /* root, version, blobs, blobs/sha256, layers */
	assert_int_equal(strncmp(f->dir, u->fs_id->mountpoint, strlen(u->fs_id->mountpoint)), 0);
	/* no container was created: an empty container filesystem on the same mount */
	assert_int_equal(r->n_container_filesystems, 1);
	Runtime__V1__FilesystemUsage *c = r->container_filesystems[0];
	assert_int_equal(c->timestamp, u->timestamp);
	assert_int_equal(c->used_bytes->value, 0);
	assert_int_equal(c->inodes_used->value, 0);
	assert_string_equal(c->fs_id->mountpoint, u->fs_id->mountpoint);
	cri_msg_free(resp);
	/* with one: its files are counted */
	_cleanup_free_ char *file = xasprintf("%s/containers/x/upper/f", f->dir);
	_cleanup_free_ char *dir = xasprintf("%s/containers/x/upper", f->dir);
	assert_int_equal(fileio_mkdir_p(dir, 0700, NULL), 0);
	assert_int_equal(fileio_write_atomic(file, "data", 4, 0600, NULL), 0);
	assert_int_equal(cri_image_fs_info(&f->b, NULL, &req.base, &resp, NULL), 0);
	r = (void *)resp;
	assert_int_equal(r->container_filesystems[0]->inodes_used->value, 4); /* 3 dirs, 1 file */
	assert_true(r->container_filesystems[0]->used_bytes->value > 0);
	cri_msg_free(resp);
}

static void test_pull_image_errors(void **state)
{
	struct fixture *f = *state;
	Runtime__V1__PullImageRequest req = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cri_pull_image(&f->b, NULL, &req.base, &resp, &e), -EINVAL);
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	req.image = &spec;
	spec.image = "UPPER/case";
	e = berr_free(e);
	assert_int_equal(cri_pull_image(&f->b, NULL, &req.base, &resp, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "lowercase"));
	/* nothing listens on loopback port 1 */
	spec.image = "127.0.0.1:1/x/y:z";
	e = berr_free(e);
	assert_int_equal(cri_pull_image(&f->b, NULL, &req.base, &resp, &e), -ECONNREFUSED);
	assert_null(resp);
	assert_int_equal(count_images(f), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_image_status_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_image_status_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_images_filter, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remove_image_tags_then_id, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remove_image_in_use, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_image_fs_info, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pull_image_errors, setup, teardown),
	};
	return cmocka_run_group_tests_name("cri image", tests, NULL, NULL);
}
