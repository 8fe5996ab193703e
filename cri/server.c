/* SPDX-License-Identifier: Apache-2.0 */
/* server.c - the CRI gRPC server on the gRPC core API.
 *
 * Shape (the one grpc++'s synchronous server used): every method of the table
 * is registered with GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, so a call is
 * announced only once its request message has arrived. An acceptor thread keeps
 * ARMED requests outstanding per method (plus one for unknown methods) on a
 * notification queue; each request is bound to a pluck queue of its own, so the
 * worker that runs the call can block on that call's operations alone. The
 * acceptor re-arms and queues the call to the worker pool; CRI_METHOD_LONG
 * methods get a thread of their own so an event stream never holds a worker.
 *
 * A call's life on its worker: start RECV_CLOSE_ON_SERVER (completes when the
 * client cancels or the call ends: that is how cancellation is seen), decode,
 * run the handler, send one batch {initial metadata, message, status}, then wait
 * for the close. Nothing is left on the call's queue when it is destroyed.
 *
 * Stop: grpc_server_shutdown_and_notify() refuses new calls and lets running
 * ones finish; after the grace period the rest are cancelled. */
#define LOG_COMPONENT "cri" /* before any header: cri.h includes log.h */
#include "cri/cri.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/ids.h"
#include "common/log.h"
#include "cri/cri-internal.h"

#define ARMED 2 /* outstanding requests per registered method */

struct cri_call {
	struct cri_server *srv;
	const struct cri_method *m; /* NULL: unregistered (unknown) method */
	size_t midx;
	grpc_call *call;
	grpc_completion_queue *cq; /* pluck queue bound to this call only */
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_byte_buffer *payload;
	grpc_call_details details; /* unregistered calls only */
	bool sent_initial_md;
	bool close_done;
	int cancelled;		/* set by RECV_CLOSE_ON_SERVER */
	char close_tag, op_tag; /* their addresses are the pluck tags */
	struct cri_call *next;	/* work queue link, under srv->lock */
	int64_t t0;		/* arrival (monotonic ns): dur_ms includes queueing */
};

struct cri_server {
	struct berth *b;
	grpc_server *server;
	grpc_completion_queue *ncq;	  /* new-call notifications */
	const struct cri_method *methods; /* b->methods or cri_methods */
	size_t n_methods;
	void **reg; /* registered method handles, by table index */
	pthread_t acceptor;
	pthread_t *workers;
	int n_workers;
	bool started;
	char shutdown_tag;
	pthread_mutex_t lock;
	pthread_cond_t cond;   /* work queued, inflight dropped, quit or shutdown_done */
	struct cri_call *head; /* under lock */
	struct cri_call *tail; /* under lock */
	int inflight;	       /* under lock: dispatched, not yet finished */
	bool quit;	       /* under lock: workers exit once the queue is empty */
	bool shutdown_done;    /* under lock: the shutdown tag arrived */
	atomic_bool stopping;
};

/* --- messages ----------------------------------------------------------- */

static int msg_pack(const ProtobufCMessage *msg, grpc_byte_buffer **ret, struct berr **err)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	if (n > CRI_MSG_MAX)
		return berr_set(err, ENOSPC, "response too large (%zu > %d bytes)", n, CRI_MSG_MAX);
	uint8_t *buf = xmalloc(n ? n : 1);
	protobuf_c_message_pack(msg, buf);
	grpc_slice s = grpc_slice_new(buf, n, free);
	*ret = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return 0;
}

/* --- calls -------------------------------------------------------------- */

static gpr_timespec inf_future(void)
{
	return gpr_inf_future(GPR_CLOCK_REALTIME);
}

static struct cri_call *call_free(struct cri_call *c)
{
	if (!c)
		return NULL;
	if (c->call)
		grpc_call_unref(c->call);
	if (c->payload)
		grpc_byte_buffer_destroy(c->payload);
	grpc_metadata_array_destroy(&c->md);
	if (!c->m)
		grpc_call_details_destroy(&c->details);
	/* Every operation of the call has been plucked, so the queue is empty. */
	grpc_completion_queue_shutdown(c->cq);
	grpc_completion_queue_destroy(c->cq);
	free(c);
	return NULL;
}

static void arm(struct cri_server *s, size_t midx, bool registered)
{
	struct cri_call *c = xcalloc(1, sizeof(*c));
	c->srv = s;
	c->midx = midx;
	c->m = registered ? &s->methods[midx] : NULL;
	c->cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_metadata_array_init(&c->md);
	grpc_call_error e;
	if (registered) {
		e = grpc_server_request_registered_call(s->server, s->reg[midx], &c->call,
							&c->deadline, &c->md, &c->payload, c->cq,
							s->ncq, c);
	} else {
		grpc_call_details_init(&c->details);
		e = grpc_server_request_call(s->server, &c->call, &c->details, &c->md, c->cq,
					     s->ncq, c);
	}
	if (e != GRPC_CALL_OK) {
		if (!atomic_load(&s->stopping))
			log_error("msg=\"request call: %s\"", grpc_call_error_to_string(e));
		call_free(c);
	}
}

bool cri_server_stopping(const struct cri_server *s)
{
	return s && atomic_load(&s->stopping);
}

const struct cri_method *cri_call_method(const struct cri_call *call)
{
	return call ? call->m : NULL;
}

int64_t cri_call_remaining_ms(const struct cri_call *call)
{
	if (!call)
		return INT64_MAX;
	gpr_timespec d = gpr_convert_clock_type(call->deadline, GPR_CLOCK_MONOTONIC);
	if (gpr_time_cmp(d, gpr_inf_future(GPR_CLOCK_MONOTONIC)) >= 0)
		return INT64_MAX;
	return gpr_time_to_millis(gpr_time_sub(d, gpr_now(GPR_CLOCK_MONOTONIC)));
}

/* Time to the deadline in ns (negative once past); INT64_MAX without one. Unlike
 * cri_call_remaining_ms() it does not round up. */
static int64_t remaining_ns(const struct cri_call *call)
{
	gpr_timespec d = gpr_convert_clock_type(call->deadline, GPR_CLOCK_MONOTONIC);
	if (gpr_time_cmp(d, gpr_inf_future(GPR_CLOCK_MONOTONIC)) >= 0)
		return INT64_MAX;
	gpr_timespec left = gpr_time_sub(d, gpr_now(GPR_CLOCK_MONOTONIC));
	return (int64_t)left.tv_sec * 1000000000 + left.tv_nsec;
}

/* gRPC core ends a call at its deadline on a timer of its own: a close seen within this
 * much of the deadline is the deadline, not the client going away. */
#define DEADLINE_SLACK_NS (5 * 1000000LL)

int cri_call_check(struct cri_call *call, struct berr **err)
{
	if (!call)
		return 0;
	if (remaining_ns(call) <= 0)
		return berr_set(err, ETIMEDOUT, "deadline exceeded");
	if (cri_server_stopping(call->srv))
		return berr_set(err, ECANCELED, "berthd is shutting down");
	if (cri_call_is_done(call)) {
		if (remaining_ns(call) <= DEADLINE_SLACK_NS)
			return berr_set(err, ETIMEDOUT, "deadline exceeded");
		return berr_set(err, ECANCELED, "cancelled by the client");
	}
	return 0;
}

bool cri_call_is_done(struct cri_call *call)
{
	if (!call)
		return false;
	if (cri_server_stopping(call->srv) || cri_call_remaining_ms(call) <= 0)
		return true;
	if (!call->close_done) {
		/* The close completes before our status only if the client went away. */
		grpc_event ev = grpc_completion_queue_pluck(
		    call->cq, &call->close_tag, gpr_inf_past(GPR_CLOCK_MONOTONIC), NULL);
		if (ev.type == GRPC_OP_COMPLETE)
			call->close_done = true;
	}
	return call->close_done;
}

/* Runs one batch and waits for it; false when the call is gone. */
static bool call_batch(struct cri_call *c, const grpc_op *ops, size_t n)
{
	grpc_call_error e = grpc_call_start_batch(c->call, ops, n, &c->op_tag, NULL);
	if (e != GRPC_CALL_OK) {
		log_error("method=%s msg=\"start batch: %s\"", c->m ? c->m->name : "?",
			  grpc_call_error_to_string(e));
		return false;
	}
	grpc_event ev = grpc_completion_queue_pluck(c->cq, &c->op_tag, inf_future(), NULL);
	return ev.type == GRPC_OP_COMPLETE && ev.success;
}

int cri_call_send(struct cri_call *call, const ProtobufCMessage *msg, struct berr **err)
{
	int r = cri_call_check(call, err);
	if (r < 0)
		return r;
	grpc_byte_buffer *bb = NULL;
	r = msg_pack(msg, &bb, err);
	if (r < 0)
		return r;
	grpc_op ops[2] = {0};
	size_t n = 0;
	if (!call->sent_initial_md)
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[n].op = GRPC_OP_SEND_MESSAGE;
	ops[n++].data.send_message.send_message = bb;
	bool ok = call_batch(call, ops, n);
	call->sent_initial_md = true;
	grpc_byte_buffer_destroy(bb);
	if (!ok)
		return berr_set(err, ECANCELED, "client went away");
	return 0;
}

int cri_call_send_initial_metadata(struct cri_call *call, struct berr **err)
{
	if (!call || call->sent_initial_md)
		return 0;
	int r = cri_call_check(call, err);
	if (r < 0)
		return r;
	grpc_op op = {.op = GRPC_OP_SEND_INITIAL_METADATA};
	bool ok = call_batch(call, &op, 1);
	call->sent_initial_md = true;
	if (!ok)
		return berr_set(err, ECANCELED, "client went away");
	return 0;
}

static ProtobufCMessage *decode(struct cri_call *c, struct berr **err)
{
	if (!c->payload) {
		berr_set(err, EINVAL, "missing request message");
		return NULL;
	}
	grpc_byte_buffer_reader rd;
	if (!grpc_byte_buffer_reader_init(&rd, c->payload)) {
		berr_set(err, EINVAL, "cannot read request payload");
		return NULL;
	}
	grpc_slice sl = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	ProtobufCMessage *req =
	    cri_msg_unpack(c->m->req, GRPC_SLICE_START_PTR(sl), GRPC_SLICE_LENGTH(sl), err);
	grpc_slice_unref(sl);
	if (!req)
		berr_wrap(err, "method '%s'", c->m->name);
	return req;
}

/* Runs the handler; on success *ret_bb holds a packed unary response. */
static int call_handle(struct cri_call *c, grpc_byte_buffer **ret_bb, struct berr **err)
{
	if (!c->m) {
		_cleanup_free_ char *path = grpc_slice_to_c_string(c->details.method);
		return berr_set(err, ENOSYS, "unknown method '%s'", path);
	}
	if (!c->m->handler)
		return berr_set(err, ENOSYS, "method '%s' is not implemented", c->m->name);
	/* A call that waited in the queue past its deadline is not worth starting. */
	if (cri_call_remaining_ms(c) <= 0)
		return berr_set(err, ETIMEDOUT, "deadline exceeded before '%s' started",
				c->m->name);
	ProtobufCMessage *req = decode(c, err);
	if (!req)
		return -(*err)->code;
	ProtobufCMessage *resp = NULL;
	int r = c->m->handler(c->srv->b, c, req, &resp, err);
	cri_msg_free(req);
	if (r >= 0 && !(c->m->flags & CRI_METHOD_STREAM)) {
		if (resp)
			r = msg_pack(resp, ret_bb, err);
		else
			r = berr_set(err, EIO, "handler of '%s' returned no response", c->m->name);
	} else if (r < 0 && !*err) {
		berr_set(err, -r, "%s failed", c->m->name);
	}
	cri_msg_free(resp);
	return r;
}

/* A message as a log value inside msg="...": quotes, backslashes and control
 * characters escaped, so one event stays one parseable line. */
static char *log_escape(const char *s)
{
	char *out = xmalloc(strlen(s) * 4 + 1), *o = out;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			*o++ = '\\';
			*o++ = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			o += sprintf(o, "\\x%02x", ch);
		} else {
			*o++ = (char)ch;
		}
	}
	*o = '\0';
	return out;
}

static void call_run(struct cri_call *c)
{
	grpc_op close_op = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER};
	close_op.data.recv_close_on_server.cancelled = &c->cancelled;
	if (grpc_call_start_batch(c->call, &close_op, 1, &c->close_tag, NULL) != GRPC_CALL_OK)
		c->close_done = true; /* nothing will complete on the queue */

	_cleanup_berr_ struct berr *err = NULL;
	grpc_byte_buffer *bb = NULL;
	int r = call_handle(c, &bb, &err);
	grpc_status_code st = r < 0 ? cri_status_from_errno(err->code) : GRPC_STATUS_OK;

	grpc_op ops[3] = {0};
	size_t n = 0;
	if (!c->sent_initial_md)
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (bb) {
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = bb;
	}
	grpc_slice details = grpc_slice_from_copied_string(r < 0 ? err->msg : "");
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = st;
	ops[n++].data.send_status_from_server.status_details = &details;
	bool sent = call_batch(c, ops, n);
	grpc_slice_unref(details);
	if (bb)
		grpc_byte_buffer_destroy(bb);
	if (!c->close_done)
		(void)grpc_completion_queue_pluck(c->cq, &c->close_tag, inf_future(), NULL);

	long dur_ms = (long)((time_mono_ns() - c->t0) / 1000000);
	_cleanup_free_ char *path = c->m ? NULL : grpc_slice_to_c_string(c->details.method);
	_cleanup_free_ char *unknown = c->m ? NULL : log_escape(path); /* peer's text */
	const char *name = c->m ? c->m->name : unknown;
	if (r < 0) {
		_cleanup_free_ char *msg = log_escape(err->msg);
		log_warn("method=%s dur_ms=%ld status=%s msg=\"%s\"", name, dur_ms,
			 cri_status_name(st), msg);
	} else if (!sent || c->cancelled)
		log_debug("method=%s dur_ms=%ld status=CANCELLED msg=\"client went away\"", name,
			  dur_ms);
	else
		log_debug("method=%s dur_ms=%ld status=OK", name, dur_ms);
}

/* --- threads ------------------------------------------------------------ */

static void call_finished(struct cri_server *s)
{
	pthread_mutex_lock(&s->lock);
	s->inflight--;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void *worker_main(void *arg)
{
	struct cri_server *s = arg;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		while (!s->head && !s->quit)
			pthread_cond_wait(&s->cond, &s->lock);
		struct cri_call *c = s->head;
		if (c) {
			s->head = c->next;
			if (!s->head)
				s->tail = NULL;
		}
		pthread_mutex_unlock(&s->lock);
		if (!c)
			return NULL;
		call_run(c);
		call_free(c);
		call_finished(s);
	}
}

static void *long_call_main(void *arg)
{
	struct cri_call *c = arg;
	struct cri_server *s = c->srv;
	call_run(c);
	call_free(c);
	call_finished(s);
	return NULL;
}

static void dispatch(struct cri_server *s, struct cri_call *c)
{
	pthread_mutex_lock(&s->lock);
	s->inflight++;
	if (c->m && (c->m->flags & CRI_METHOD_LONG)) {
		pthread_mutex_unlock(&s->lock);
		pthread_attr_t attr;
		pthread_t t;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		int r = pthread_create(&t, &attr, long_call_main, c);
		pthread_attr_destroy(&attr);
		if (r == 0)
			return;
		log_warn("method=%s msg=\"thread: %s\", queueing on a worker", c->m->name,
			 strerror(r));
		pthread_mutex_lock(&s->lock);
	}
	c->next = NULL;
	if (s->tail)
		s->tail->next = c;
	else
		s->head = c;
	s->tail = c;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void *acceptor_main(void *arg)
{
	struct cri_server *s = arg;
	for (size_t i = 0; i < s->n_methods; i++)
		for (int k = 0; k < ARMED; k++)
			arm(s, i, true);
	arm(s, 0, false);
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(s->ncq, inf_future(), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		if (ev.tag == &s->shutdown_tag) {
			/* Every call is finished; drain the failed requests, then stop. */
			pthread_mutex_lock(&s->lock);
			s->shutdown_done = true;
			pthread_cond_broadcast(&s->cond);
			pthread_mutex_unlock(&s->lock);
			grpc_completion_queue_shutdown(s->ncq);
			continue;
		}
		struct cri_call *c = ev.tag;
		if (!ev.success) {
			call_free(c);
			continue;
		}
		c->t0 = time_mono_ns();
		if (!atomic_load(&s->stopping))
			arm(s, c->midx, c->m != NULL);
		dispatch(s, c);
	}
	return NULL;
}

/* --- server ------------------------------------------------------------- */

static void grpc_log_fn(gpr_log_func_args *a)
{
	/* gRPC's own messages join our log; its errors are mostly about one peer. */
	enum log_level l = a->severity == GPR_LOG_SEVERITY_ERROR ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG;
	log_emit(l, "grpc", "msg=\"%s\"", a->message);
}

/* Removes a stale socket; fails if a live server answers on it. */
static int socket_prepare(const char *path, struct berr **err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return berr_set(err, EINVAL, "socket path '%s' too long (%zu >= %zu)", path,
				strlen(path), sizeof(sa.sun_path));
	_cleanup_free_ char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		int r = fileio_mkdir_p(dir, 0755, err);
		if (r < 0)
			return berr_wrap(err, "create socket directory");
	}
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : berr_set_errno(err, errno, "stat '%s'", path);
	if (!S_ISSOCK(st.st_mode))
		return berr_set(err, EEXIST, "'%s' exists and is not a socket", path);
	strcpy(sa.sun_path, path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set_errno(err, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return berr_set(err, EADDRINUSE, "socket '%s' is served by another process", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return berr_set_errno(err, errno, "remove stale socket '%s'", path);
	return 0;
}

struct cri_server *cri_server_new(struct berth *b, struct berr **err)
{
	const char *path = b->cfg.socket;
	if (socket_prepare(path, err) < 0)
		return NULL;
	gpr_set_log_function(grpc_log_fn);
	gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR);
	grpc_init();

	struct cri_server *s = xcalloc(1, sizeof(*s));
	s->b = b;
	s->methods = b->methods ? b->methods : cri_methods;
	s->n_methods = b->methods ? b->n_methods : cri_n_methods;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* wait_shutdown() deadlines */
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	grpc_arg args[] = {
	    {.type = GRPC_ARG_INTEGER,
	     .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
	     .value.integer = CRI_MSG_MAX},
	    {.type = GRPC_ARG_INTEGER,
	     .key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
	     .value.integer = CRI_MSG_MAX},
	};
	grpc_channel_args ch = {.num_args = sizeof(args) / sizeof(args[0]), .args = args};
	s->server = grpc_server_create(&ch, NULL);
	s->ncq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(s->server, s->ncq, NULL);
	s->reg = xcalloc(s->n_methods, sizeof(void *));
	for (size_t i = 0; i < s->n_methods; i++) {
		s->reg[i] =
		    grpc_server_register_method(s->server, s->methods[i].path, NULL,
						GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
		if (!s->reg[i]) {
			berr_set(err, EINVAL, "register method '%s'", s->methods[i].path);
			return cri_server_free(s);
		}
	}
	_cleanup_free_ char *addr = xasprintf("unix:%s", path);
	grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
	/* The socket is born with socket_mode and root's group (umask): no window in which
	 * anyone outside root connects; then it goes to socket_group. The umask is the
	 * process's: a file another thread creates meanwhile gets at most these bits too,
	 * which only ever narrows its mode. */
	mode_t mode = (mode_t)b->cfg.socket_mode;
	mode_t old = umask(~mode & 0777);
	int port = grpc_server_add_http2_port(s->server, addr, creds);
	umask(old);
	grpc_server_credentials_release(creds);
	if (port == 0) {
		berr_set(err, EADDRNOTAVAIL, "listen on '%s' failed", path);
		return cri_server_free(s);
	}
	if (lchown(path, 0, (gid_t)b->cfg.socket_gid) < 0) {
		berr_set_errno(err, errno, "chown '%s' to group '%s'", path, b->cfg.socket_group);
		return cri_server_free(s);
	}
	if (chmod(path, mode) < 0) {
		berr_set_errno(err, errno, "chmod '%s'", path);
		return cri_server_free(s);
	}
	return s;
}

int cri_server_start(struct cri_server *s, struct berr **err)
{
	grpc_server_start(s->server);
	s->started = true;
	int r = pthread_create(&s->acceptor, NULL, acceptor_main, s);
	if (r != 0)
		return berr_set(err, r, "create acceptor thread");
	s->workers = xcalloc((size_t)s->b->cfg.workers, sizeof(pthread_t));
	for (int i = 0; i < s->b->cfg.workers; i++) {
		r = pthread_create(&s->workers[i], NULL, worker_main, s);
		if (r != 0)
			return berr_set(err, r, "create worker thread");
		s->n_workers++;
	}
	return 0;
}

/* Waits for the shutdown tag: every call finished and every connection gone.
 * A client that keeps a connection open after GOAWAY, or a call still running
 * after grace_ms, is cut off with grpc_server_cancel_all_calls(). */
static void wait_shutdown(struct cri_server *s, int grace_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += grace_ms / 1000;
	until.tv_nsec += (long)(grace_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->lock);
	int r = 0;
	while (!s->shutdown_done && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&s->cond, &s->lock, &until);
	bool done = s->shutdown_done;
	int left = s->inflight;
	pthread_mutex_unlock(&s->lock);
	if (!done) {
		log_warn("msg=\"shutdown not complete after %d ms (%d calls running), cancelling\"",
			 grace_ms, left);
		grpc_server_cancel_all_calls(s->server);
	}
}

void cri_server_stop(struct cri_server *s, int grace_ms)
{
	if (!s || !s->started)
		return;
	atomic_store(&s->stopping, true);
	grpc_server_shutdown_and_notify(s->server, s->ncq, &s->shutdown_tag);
	wait_shutdown(s, grace_ms);
	pthread_join(s->acceptor, NULL);
	pthread_mutex_lock(&s->lock);
	s->quit = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < s->n_workers; i++)
		pthread_join(s->workers[i], NULL);
	/* Detached long-call threads: wait until each has finished its call. */
	pthread_mutex_lock(&s->lock);
	while (s->inflight > 0)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	s->started = false;
}

struct cri_server *cri_server_free(struct cri_server *s)
{
	if (!s)
		return NULL;
	if (s->server) {
		if (!s->started && !atomic_load(&s->stopping)) {
			/* Never started: shut down through the queue all the same. */
			atomic_store(&s->stopping, true);
			grpc_server_shutdown_and_notify(s->server, s->ncq, &s->shutdown_tag);
			grpc_event ev;
			do
				ev = grpc_completion_queue_next(s->ncq, inf_future(), NULL);
			while (ev.type == GRPC_OP_COMPLETE && ev.tag != &s->shutdown_tag);
			grpc_completion_queue_shutdown(s->ncq);
			do
				ev = grpc_completion_queue_next(s->ncq, inf_future(), NULL);
			while (ev.type != GRPC_QUEUE_SHUTDOWN);
		}
		grpc_server_destroy(s->server);
	}
	if (s->ncq)
		grpc_completion_queue_destroy(s->ncq);
	if (s->b && s->b->cfg.socket && unlink(s->b->cfg.socket) < 0 && errno != ENOENT)
		log_warn("msg=\"remove socket '%s': %s\", ignoring", s->b->cfg.socket,
			 strerror(errno));
	grpc_shutdown_blocking();
	free(s->reg);
	free(s->workers);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s);
	return NULL;
}
