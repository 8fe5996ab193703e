/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of cri/server.c in process, with a gRPC core client: unary and
 * streaming calls, cancellation and deadlines seen by handlers, many calls at
 * once, and shutdown with calls in flight. The served method table is a copy
 * of cri_methods with fake handlers for a few entries. Also run under TSan. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"
#include "cri/cri-internal.h"

#define RT	"/runtime.v1.RuntimeService/"
#define WAIT_MS 10000 /* upper bound for anything awaited; never reached when green */

static char *tmpdir;

/* What the fake handlers observed. */
static atomic_int slow_started;
static atomic_int slow_saw_done;
static atomic_int slow_mode; /* 0: poll cri_call_is_done, 1: sleep 200 ms and answer */

struct fixture {
	struct berth b;
	struct cri_method *methods;
	grpc_channel *ch;
};

/* StreamContainers: three messages, one container each. */
static int fake_stream(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		       ProtobufCMessage **ret_resp, struct berr **err)
{
	for (int i = 0; i < 3; i++) {
		Runtime__V1__StreamContainersResponse *m =
		    (void *)cri_msg_new(&runtime__v1__stream_containers_response__descriptor);
		m->containers = xcalloc(1, sizeof(*m->containers));
		Runtime__V1__Container *c =
		    (void *)cri_msg_new(&runtime__v1__container__descriptor);
		c->id = xasprintf("c%d", i);
		m->containers[m->n_containers++] = c;
		int r = cri_call_send(call, &m->base, err);
		cri_msg_free(&m->base);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ListContainers: slow, in one of two ways (slow_mode). */
static int fake_slow(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		     ProtobufCMessage **ret_resp, struct berr **err)
{
	atomic_fetch_add(&slow_started, 1);
	if (atomic_load(&slow_mode) == 1) {
		struct timespec ts = {0, 200 * 1000000};
		nanosleep(&ts, NULL);
		*ret_resp = cri_msg_new(&runtime__v1__list_containers_response__descriptor);
		return 0;
	}
	for (int i = 0; i < WAIT_MS; i++) {
		int r = cri_call_check(call, err);
		if (r < 0) {
			atomic_fetch_add(&slow_saw_done, 1);
			return r;
		}
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	return berr_set(err, ETIMEDOUT, "never cancelled");
}

/* ContainerStatus: fails with a berr, to check the status mapping end to end. */
static int fake_not_found(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			  ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__ContainerStatusRequest *in = (const void *)req;
	return berr_set(err, ENOENT, "container '%s' not found", in->container_id);
}

static void set_handler(struct cri_method *t, const char *name, cri_handler h)
{
	for (size_t i = 0; i < cri_n_methods; i++)
		if (strcmp(t[i].name, name) == 0)
			t[i].handler = h;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	cri_config_init(&f->b.cfg);
	free(f->b.cfg.socket);
	f->b.cfg.socket = xasprintf("%s/s%d.sock", tmpdir, rand());
	free(f->b.cfg.cni_conf_dir);
	f->b.cfg.cni_conf_dir = xstrdup(tmpdir);
	f->b.cfg.workers = 4;
	assert_int_equal(cri_config_finish(&f->b.cfg, NULL), 0);
	f->methods = xmemdup(cri_methods, cri_n_methods * sizeof(*cri_methods));
	set_handler(f->methods, "StreamContainers", fake_stream);
	set_handler(f->methods, "ListContainers", fake_slow);
	set_handler(f->methods, "ContainerStatus", fake_not_found);
	/* every RPC of the real table has a handler: a NULL one is the path of
	 * the next method added to the proto before it is written */
	set_handler(f->methods, "CheckpointPod", NULL);
	f->b.methods = f->methods;
	f->b.n_methods = cri_n_methods;
	_cleanup_berr_ struct berr *e = NULL;
	f->b.server = cri_server_new(&f->b, &e);
	if (!f->b.server)
		fail_msg("server: %s", berr_msg(e));
	assert_int_equal(cri_server_start(f->b.server, &e), 0);
	grpc_channel_credentials *cr = grpc_insecure_credentials_create();
	_cleanup_free_ char *target = xasprintf("unix:%s", f->b.cfg.socket);
	f->ch = grpc_channel_create(target, cr, NULL);
	grpc_channel_credentials_release(cr);
	atomic_store(&slow_started, 0);
	atomic_store(&slow_saw_done, 0);
	atomic_store(&slow_mode, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	grpc_channel_destroy(f->ch);
	cri_server_stop(f->b.server, 1000);
	f->b.server = cri_server_free(f->b.server);
	cri_config_done(&f->b.cfg);
	free(f->methods);
	free(f);
	return 0;
}

/* --- a minimal gRPC core client ----------------------------------------- */

struct ccall {
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_metadata_array init_md, trail_md;
	grpc_status_code status;
	grpc_slice details;
	grpc_byte_buffer *send, *recv;
	int nrecv; /* messages received */
};

static void ccall_start(struct ccall *c, grpc_channel *ch, const char *path,
			const ProtobufCMessage *req, int timeout_ms)
{
	memset(c, 0, sizeof(*c));
	c->cq = grpc_completion_queue_create_for_pluck(NULL);
	gpr_timespec dl = timeout_ms > 0
			      ? gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
					     gpr_time_from_millis(timeout_ms, GPR_TIMESPAN))
			      : gpr_inf_future(GPR_CLOCK_REALTIME);
	c->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
					   grpc_slice_from_static_string(path), NULL, dl, NULL);
	grpc_metadata_array_init(&c->init_md);
	grpc_metadata_array_init(&c->trail_md);
	size_t n = protobuf_c_message_get_packed_size(req);
	uint8_t *buf = xmalloc(n + 1);
	protobuf_c_message_pack(req, buf);
	grpc_slice s = grpc_slice_new(buf, n, free);
	c->send = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	grpc_op ops[4] = {0};
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = c->send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[3].data.recv_status_on_client.trailing_metadata = &c->trail_md;
	ops[3].data.recv_status_on_client.status = &c->status;
	ops[3].data.recv_status_on_client.status_details = &c->details;
	assert_int_equal(grpc_call_start_batch(c->call, ops, 4, (void *)1, NULL), GRPC_CALL_OK);
}

/* Receives one message into c->recv (NULL at the end of the stream). */
static bool ccall_recv(struct ccall *c)
{
	if (c->recv)
		grpc_byte_buffer_destroy(c->recv);
	c->recv = NULL;
	grpc_op ops[2] = {0};
	size_t n = 0;
	if (c->nrecv == 0) {
		ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
		ops[n++].data.recv_initial_metadata.recv_initial_metadata = &c->init_md;
	}
	ops[n].op = GRPC_OP_RECV_MESSAGE;
	ops[n++].data.recv_message.recv_message = &c->recv;
	assert_int_equal(grpc_call_start_batch(c->call, ops, n, (void *)2, NULL), GRPC_CALL_OK);
	grpc_event ev = grpc_completion_queue_pluck(
	    c->cq, (void *)2, gpr_time_from_millis(WAIT_MS, GPR_TIMESPAN), NULL);
	assert_int_equal(ev.type, GRPC_OP_COMPLETE);
	c->nrecv++;
	return c->recv != NULL;
}

static ProtobufCMessage *ccall_decode(struct ccall *c, const ProtobufCMessageDescriptor *d)
{
	grpc_byte_buffer_reader rd;
	assert_true(grpc_byte_buffer_reader_init(&rd, c->recv));
	grpc_slice s = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	ProtobufCMessage *m =
	    protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
	grpc_slice_unref(s);
	assert_non_null(m);
	return m;
}

/* Waits for the status; returns it and the details (caller frees). */
static grpc_status_code ccall_finish(struct ccall *c, char **ret_details)
{
	while (c->nrecv == 0 || c->recv)
		(void)ccall_recv(c); /* drain what is left */
	grpc_event ev = grpc_completion_queue_pluck(
	    c->cq, (void *)1, gpr_time_from_millis(WAIT_MS, GPR_TIMESPAN), NULL);
	assert_int_equal(ev.type, GRPC_OP_COMPLETE);
	if (ret_details)
		*ret_details = grpc_slice_to_c_string(c->details);
	grpc_slice_unref(c->details);
	grpc_metadata_array_destroy(&c->init_md);
	grpc_metadata_array_destroy(&c->trail_md);
	grpc_byte_buffer_destroy(c->send);
	grpc_call_unref(c->call);
	grpc_completion_queue_shutdown(c->cq);
	grpc_completion_queue_destroy(c->cq);
	return c->status;
}

static void wait_for(atomic_int *v, int want)
{
	for (int i = 0; i < WAIT_MS && atomic_load(v) < want; i++) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	assert_true(atomic_load(v) >= want);
}

/* --- tests -------------------------------------------------------------- */

static void test_server_unary_version(void **state)
{
	struct fixture *f = *state;
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
	struct ccall c;
	ccall_start(&c, f->ch, RT "Version", &req.base, 0);
	assert_true(ccall_recv(&c));
	Runtime__V1__VersionResponse *v =
	    (void *)ccall_decode(&c, &runtime__v1__version_response__descriptor);
	assert_string_equal(v->runtime_name, "berth");
	protobuf_c_message_free_unpacked(&v->base, NULL);
	assert_int_equal(ccall_finish(&c, NULL), GRPC_STATUS_OK);
}

static void test_server_errno_reaches_client(void **state)
{
	struct fixture *f = *state;
	Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
	req.container_id = "abc";
	struct ccall c;
	ccall_start(&c, f->ch, RT "ContainerStatus", &req.base, 0);
	_cleanup_free_ char *details = NULL;
	assert_int_equal(ccall_finish(&c, &details), GRPC_STATUS_NOT_FOUND);
	assert_string_equal(details, "container 'abc' not found");
	assert_int_equal(c.nrecv, 1); /* no message, just the status */
}

static void test_server_null_handler_unimplemented(void **state)
{
	struct fixture *f = *state;
	Runtime__V1__CheckpointPodRequest req = RUNTIME__V1__CHECKPOINT_POD_REQUEST__INIT;
	struct ccall c;
	ccall_start(&c, f->ch, RT "CheckpointPod", &req.base, 0);
	_cleanup_free_ char *details = NULL;
	assert_int_equal(ccall_finish(&c, &details), GRPC_STATUS_UNIMPLEMENTED);
	assert_string_equal(details, "method 'CheckpointPod' is not implemented");
	assert_int_equal(c.nrecv, 1);
}

static void test_server_streaming(void **state)
{
	struct fixture *f = *state;
	Runtime__V1__StreamContainersRequest req = RUNTIME__V1__STREAM_CONTAINERS_REQUEST__INIT;
	struct ccall c;
	ccall_start(&c, f->ch, RT "StreamContainers", &req.base, 0);
	for (int i = 0; i < 3; i++) {
		assert_true(ccall_recv(&c));
		Runtime__V1__StreamContainersResponse *m =
		    (void *)ccall_decode(&c, &runtime__v1__stream_containers_response__descriptor);
		assert_int_equal(m->n_containers, 1);
		char want[8];
		snprintf(want, sizeof(want), "c%d", i);
		assert_string_equal(m->containers[0]->id, want);
		protobuf_c_message_free_unpacked(&m->base, NULL);
	}
	assert_false(ccall_recv(&c));
	assert_int_equal(ccall_finish(&c, NULL), GRPC_STATUS_OK);
}

static void test_server_cancel_seen_by_handler(void **state)
{
	struct fixture *f = *state;
	Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
	struct ccall c;
	ccall_start(&c, f->ch, RT "ListContainers", &req.base, 0);
	wait_for(&slow_started, 1);
	grpc_call_cancel(c.call, NULL);
	assert_int_equal(ccall_finish(&c, NULL), GRPC_STATUS_CANCELLED);
	wait_for(&slow_saw_done, 1);
}

static void test_server_deadline_seen_by_handler(void **state)
{
	struct fixture *f = *state;
	Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
	struct ccall c;
	ccall_start(&c, f->ch, RT "ListContainers", &req.base, 300);
	assert_int_equal(ccall_finish(&c, NULL), GRPC_STATUS_DEADLINE_EXCEEDED);
	wait_for(&slow_saw_done, 1);
}

static void test_server_slow_call_does_not_block_others(void **state)
{
	struct fixture *f = *state;
	Runtime__V1__ListContainersRequest lreq = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
	struct ccall slow[3];
	for (int i = 0; i < 3; i++)
		ccall_start(&slow[i], f->ch, RT "ListContainers", &lreq.base, 0);
	wait_for(&slow_started, 3); /* 3 of 4 workers busy until cancelled */
	for (int i = 0; i < 20; i++)
		test_server_unary_version(state);
	for (int i = 0; i < 3; i++) {
		grpc_call_cancel(slow[i].call, NULL);
		assert_int_equal(ccall_finish(&slow[i], NULL), GRPC_STATUS_CANCELLED);
	}
}

static void *client_thread(void *arg)
{
	struct fixture *f = arg;
	Runtime__V1__StatusRequest sreq = RUNTIME__V1__STATUS_REQUEST__INIT;
	Runtime__V1__CheckpointContainerRequest rreq =
	    RUNTIME__V1__CHECKPOINT_CONTAINER_REQUEST__INIT;
	intptr_t bad = 0;
	for (int i = 0; i < 25; i++) {
		struct ccall c;
		bool status = i % 2 == 0;
		ccall_start(&c, f->ch, status ? RT "Status" : RT "CheckpointContainer",
			    status ? &sreq.base : &rreq.base, 0);
		grpc_status_code st = ccall_finish(&c, NULL);
		if (st != (status ? GRPC_STATUS_OK : GRPC_STATUS_UNIMPLEMENTED))
			bad++;
	}
	return (void *)bad;
}

static void test_server_concurrent_clients(void **state)
{
	struct fixture *f = *state;
	pthread_t t[8];
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, client_thread, f), 0);
	for (int i = 0; i < 8; i++) {
		void *bad;
		pthread_join(t[i], &bad);
		assert_int_equal((intptr_t)bad, 0);
	}
}

static void test_server_stop_lets_inflight_finish(void **state)
{
	struct fixture *f = *state;
	atomic_store(&slow_mode, 1);
	Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
	struct ccall c;
	ccall_start(&c, f->ch, RT "ListContainers", &req.base, 0);
	wait_for(&slow_started, 1);
	cri_server_stop(f->b.server, 5000);
	assert_true(cri_server_stopping(f->b.server));
	assert_int_equal(ccall_finish(&c, NULL), GRPC_STATUS_OK);
}

static void test_server_stop_ends_polling_handler(void **state)
{
	struct fixture *f = *state;
	Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
	struct ccall c;
	ccall_start(&c, f->ch, RT "ListContainers", &req.base, 0);
	wait_for(&slow_started, 1);
	cri_server_stop(f->b.server, 5000);
	assert_int_equal(atomic_load(&slow_saw_done), 1);
	grpc_status_code st = ccall_finish(&c, NULL);
	assert_true(st == GRPC_STATUS_CANCELLED || st == GRPC_STATUS_UNAVAILABLE);
}

static void test_server_socket_in_use(void **state)
{
	struct fixture *f = *state;
	struct berth b2 = {0};
	cri_config_init(&b2.cfg);
	free(b2.cfg.socket);
	b2.cfg.socket = xstrdup(f->b.cfg.socket);
	_cleanup_berr_ struct berr *e = NULL;
	assert_null(cri_server_new(&b2, &e));
	assert_int_equal(e->code, EADDRINUSE);
	assert_non_null(strstr(e->msg, f->b.cfg.socket));
	cri_config_done(&b2.cfg);
	test_server_unary_version(state); /* the first server is untouched */
}

static int group_setup(void **state)
{
	char tpl[] = "/tmp/berth-test-srv-XXXXXX";
	if (!mkdtemp(tpl))
		return -1;
	tmpdir = xstrdup(tpl);
	signal(SIGPIPE, SIG_IGN);
	srand((unsigned)getpid());
	log_setup(LOG_LEVEL_ERROR, STDERR_FILENO);
	return 0;
}

static int group_teardown(void **state)
{
	int r = fileio_remove_tree(tmpdir, NULL);
	free(tmpdir);
	return r;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_server_unary_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_errno_reaches_client, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_null_handler_unimplemented, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_server_streaming, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_cancel_seen_by_handler, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_deadline_seen_by_handler, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_slow_call_does_not_block_others, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_server_concurrent_clients, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_stop_lets_inflight_finish, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_stop_ends_polling_handler, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_socket_in_use, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
