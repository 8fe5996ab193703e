/* SPDX-License-Identifier: Apache-2.0 */
/* test_cri_stream.c - the Exec, Attach and PortForward handlers (cri/stream.c)
 * on a real store: request validation with its exact errno and message, and the
 * URL of a registered token on a streaming server bound to a free port. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/ids.h"
#include "cri/cri-internal.h"
#include "cri/pod.h"
#include "store/store.h"
#include "streaming/streaming.h"

struct fx {
	char *dir;
	struct berth b;
	char sb_ready[ID_LEN + 1], sb_down[ID_LEN + 1];
	char running[ID_LEN + 1], exited[ID_LEN + 1];
};

static void add_sb(struct fx *f, char *id, const char *name, enum store_sb_state state)
{
	assert_int_equal(id_generate(id, NULL), 0);
	_cleanup_free_ char *n = store_sb_name_build(name, "ns", name, 0);
	struct store_sb_meta m = {.id = id,
				  .name = n,
				  .metadata = {(char *)name, (char *)name, "ns", 0},
				  .created_at = 1};
	struct store_sb_status st = {.state = state};
	assert_int_equal(store_sb_add(f->b.store, &m, &st, NULL, NULL), 0);
}

static void add_ctr(struct fx *f, char *id, const char *name, bool running)
{
	assert_int_equal(id_generate(id, NULL), 0);
	_cleanup_free_ char *n = store_ctr_name_build(name, "pod", "ns", "pod", 0);
	struct store_ctr_meta m = {.id = id,
				   .name = n,
				   .sandbox_id = f->sb_ready,
				   .metadata = {(char *)name, 0},
				   .image_ref = "busybox",
				   .image_id = "sha256:00",
				   .log_path = "/dev/null",
				   .bundle_dir = f->dir,
				   .rootfs_path = f->dir,
				   .created_at = 1};
	struct store_ctr_status st = {.pid = 1, .created_at = 1, .started_at = 2};
	if (!running)
		st.finished_at = 3;
	assert_int_equal(store_ctr_add(f->b.store, &m, &st, NULL, NULL), 0);
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	char tpl[] = "/tmp/berth-test-stream-XXXXXX";
	if (!mkdtemp(tpl))
		return -1;
	f->dir = xstrdup(tpl);
	cri_config_init(&f->b.cfg);
	_cleanup_free_ char *json =
	    xasprintf("{\"state_dir\": \"%s/state\", \"run_dir\": \"%s/run\"}", f->dir, f->dir);
	if (cri_config_parse(&f->b.cfg, json, "test", NULL) < 0 ||
	    cri_config_finish(&f->b.cfg, NULL) < 0)
		return -1;
	if (store_open(f->b.cfg.state_dir, NULL, &f->b.store, NULL) < 0)
		return -1;
	struct stream_backend be = {0};
	struct stream_server_opts so = {.address = "127.0.0.1"};
	if (stream_server_new(&so, &be, &f->b.stream, NULL) < 0)
		return -1;
	add_sb(f, f->sb_ready, "pod", STORE_SB_READY);
	add_sb(f, f->sb_down, "down", STORE_SB_NOTREADY);
	add_ctr(f, f->running, "run", true);
	add_ctr(f, f->exited, "gone", false);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	stream_server_free(f->b.stream);
	store_free(f->b.store);
	cri_config_done(&f->b.cfg);
	int r = fileio_remove_tree(f->dir, NULL);
	free(f->dir);
	free(f);
	return r;
}

static int call(struct fx *f, cri_handler h, const ProtobufCMessage *req, char **ret_url,
		struct berr **err)
{
	ProtobufCMessage *resp = NULL;
	int r = h(&f->b, NULL, req, &resp, err);
	if (r == 0) {
		assert_non_null(resp);
		/* url is field 1 of all three responses */
		*ret_url = xstrdup(*(char **)((char *)resp + resp->descriptor->fields[0].offset));
	} else {
		assert_null(resp);
	}
	cri_msg_free(resp);
	return r;
}

static void expect_err(struct fx *f, cri_handler h, const ProtobufCMessage *req, int code,
		       const char *substr)
{
	struct berr *e = NULL;
	char *url = NULL;
	assert_int_equal(call(f, h, req, &url, &e), -code);
	assert_non_null(e);
	if (!strstr(berr_msg(e), substr))
		fail_msg("message '%s' lacks '%s'", berr_msg(e), substr);
	assert_int_equal(cri_status_from_errno(code), cri_status_from_errno(e->code));
	berr_free(e);
	free(url);
}

static void test_exec_validation(void **state)
{
	struct fx *f = *state;
	char *cmd[] = {"sh", NULL}, *empty[] = {"", NULL};
	Runtime__V1__ExecRequest r = RUNTIME__V1__EXEC_REQUEST__INIT;
	r.container_id = f->running;
	r.stdout = true;
	expect_err(f, cri_exec, &r.base, EINVAL, "empty command");
	r.cmd = empty;
	r.n_cmd = 1;
	expect_err(f, cri_exec, &r.base, EINVAL, "empty command");
	r.cmd = cmd;
	r.stdout = false;
	expect_err(f, cri_exec, &r.base, EINVAL, "one of stdin, stdout, or stderr must be set");
	r.stdout = r.stderr = r.tty = true;
	expect_err(f, cri_exec, &r.base, EINVAL, "tty and stderr cannot both be true");
	r.stderr = false;
	r.container_id = "nope";
	expect_err(f, cri_exec, &r.base, ENOENT, "container 'nope' not found");
	r.container_id = f->exited;
	expect_err(f, cri_exec, &r.base, EBUSY, "not running");
}

static void test_exec_url(void **state)
{
	struct fx *f = *state;
	char *cmd[] = {"sh", NULL};
	Runtime__V1__ExecRequest r = RUNTIME__V1__EXEC_REQUEST__INIT;
	r.container_id = f->running;
	r.cmd = cmd;
	r.n_cmd = 1;
	r.stdin = true;
	char *url = NULL, *url2 = NULL;
	struct berr *e = NULL;
	assert_int_equal(call(f, cri_exec, &r.base, &url, &e), 0);
	assert_int_equal(call(f, cri_exec, &r.base, &url2, &e), 0);
	assert_true(strncmp(url, "http://127.0.0.1:", 17) == 0);
	const char *tok = strstr(url, "/exec/");
	assert_non_null(tok);
	assert_int_equal(strlen(tok + 6), 11);
	assert_string_not_equal(url, url2);
	free(url);
	free(url2);
	/* Without a server: UNIMPLEMENTED, saying why. */
	struct stream_server *s = f->b.stream;
	f->b.stream = NULL;
	expect_err(f, cri_exec, &r.base, ENOSYS, "streaming server is not running");
	f->b.stream = s;
}

static void test_attach_validation(void **state)
{
	struct fx *f = *state;
	Runtime__V1__AttachRequest r = RUNTIME__V1__ATTACH_REQUEST__INIT;
	r.container_id = f->running;
	expect_err(f, cri_attach, &r.base, EINVAL, "one of stdin, stdout, or stderr");
	r.tty = r.stderr = true;
	expect_err(f, cri_attach, &r.base, EINVAL, "tty and stderr");
	r.tty = false;
	r.container_id = f->exited;
	expect_err(f, cri_attach, &r.base, EBUSY, "not running");
	r.container_id = f->running;
	char *url = NULL;
	struct berr *e = NULL;
	assert_int_equal(call(f, cri_attach, &r.base, &url, &e), 0);
	assert_non_null(strstr(url, "/attach/"));
	free(url);
}

static void test_port_forward_validation(void **state)
{
	struct fx *f = *state;
	Runtime__V1__PortForwardRequest r = RUNTIME__V1__PORT_FORWARD_REQUEST__INIT;
	r.pod_sandbox_id = "nope";
	expect_err(f, cri_port_forward, &r.base, ENOENT, "sandbox 'nope' not found");
	r.pod_sandbox_id = f->sb_down;
	expect_err(f, cri_port_forward, &r.base, EBUSY, "is not ready");
	r.pod_sandbox_id = f->sb_ready;
	int32_t bad[] = {80, 70000};
	r.port = bad;
	r.n_port = 2;
	expect_err(f, cri_port_forward, &r.base, EINVAL, "invalid port 70000");
	r.n_port = 1;
	char *url = NULL;
	struct berr *e = NULL;
	assert_int_equal(call(f, cri_port_forward, &r.base, &url, &e), 0);
	assert_non_null(strstr(url, "/portforward/"));
	free(url);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_exec_validation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exec_url, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_attach_validation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_port_forward_validation, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
