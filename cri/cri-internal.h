/* SPDX-License-Identifier: Apache-2.0 */
/* cri-internal.h - what the RPC handler files of cri/ share: the method table,
 * the handler signature, the call object and the errno -> gRPC status table.
 *
 * Adding an RPC: write `int cri_<rpc>(struct berth *b, struct cri_call *call,
 * const ProtobufCMessage *req, ProtobufCMessage **ret_resp, struct berr **err)`
 * in the file of its family (cri/image.c, cri/sandbox.c, cri/container.c),
 * declare it below, and put it in its entry of cri/methods.c. Nothing else.
 *
 * Handler contract:
 * - req is the decoded request (cast it to the method's type); it is borrowed.
 * - Success: return 0 and, for unary methods, set *ret_resp to a response made
 *   with cri_msg_new(). The response is an owned tree: every string, bytes,
 *   array and sub-message in it is malloc'd (xstrdup, xcalloc, cri_msg_new) and
 *   owned by it; never point into req, static storage or another response
 *   (protobuf_c_empty_string, the init default, is fine). The dispatcher packs
 *   it and frees it with cri_msg_free(), also on error paths. The one exception:
 *   a response freed by the function its handler set (cri_call_set_resp_free).
 * - Server-streaming methods send each message with cri_call_send() (which
 *   borrows it) and leave *ret_resp NULL; returning ends the stream with OK.
 * - Failure: return -errno and set *err; cri_status_from_errno() picks the gRPC
 *   status, the message is sent verbatim. A response set on failure is freed.
 * - Long or blocking handlers poll cri_call_check() (client cancelled, deadline
 *   passed or daemon stopping) and return its error.
 * Threads: handlers run on pool workers, any number at once; CRI_METHOD_LONG
 *   ones on a thread of their own each. A call object is used only by the
 *   thread running its handler. */
#ifndef BERTH_CRI_INTERNAL_H
#define BERTH_CRI_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>

#include "cri/cri.h"
#include "proto/api.pb-c.h"

struct berr;
struct cri_call;

#define CRI_MSG_MAX (16 * 1024 * 1024) /* gRPC message limit, both ways */

typedef int (*cri_handler)(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			   ProtobufCMessage **ret_resp, struct berr **err);

enum cri_method_flags {
	CRI_METHOD_STREAM = 1 << 0, /* server-streaming response */
	CRI_METHOD_LONG = 1 << 1,   /* may run for the life of a client: own thread, not a worker */
};

struct cri_method {
	const char *path; /* "/runtime.v1.RuntimeService/Version" */
	const char *name; /* "Version" */
	const ProtobufCMessageDescriptor *req;
	const ProtobufCMessageDescriptor *resp;
	cri_handler handler; /* NULL: UNIMPLEMENTED */
	unsigned flags;
};

extern const struct cri_method cri_methods[];
extern const size_t cri_n_methods;
/* Finds a method by full path; NULL when unknown. */
const struct cri_method *cri_method_find(const char *path);

/* errno (positive or negative) -> gRPC status, per style §3. */
grpc_status_code cri_status_from_errno(int code);
/* "NOT_FOUND" etc.; "UNKNOWN_STATUS" when out of range. */
const char *cri_status_name(grpc_status_code code);

/* A new response/message of type d, initialised to its defaults. */
ProtobufCMessage *cri_msg_new(const ProtobufCMessageDescriptor *d);
/* Frees a message tree built per the ownership rule above (or decoded by
 * cri_msg_unpack()); NULL is fine. */
ProtobufCMessage *cri_msg_free(ProtobufCMessage *m);
/* For a handler whose response borrows memory it holds until the response is sent (store
 * strings under the references of a List): fn frees the response instead of cri_msg_free(),
 * once, after it was packed (or not: also on errors). Set it just before returning 0. With
 * no call (a unit test calling the handler) it returns false and sets nothing: the handler
 * then builds an owned response. */
bool cri_call_set_resp_free(struct cri_call *call, void (*fn)(ProtobufCMessage *resp, void *arg),
			    void *arg);
/* Frees a handler's response: with the function it set, else cri_msg_free(). NULL is fine. */
void cri_call_resp_free(struct cri_call *call, ProtobufCMessage *resp);
/* Decodes a request of type d. -EINVAL for bad wire data; -ENOSPC when decoding
 * would take more memory than CRI_DECODE_BUDGET(len) (a tiny message of many
 * empty sub-messages inflates a hundredfold in memory). */
/* The string at a dotted field path of m ("config.metadata.name"), borrowed;
 * NULL when a field is missing, unset, repeated or not of that kind. */
const char *cri_msg_string_at(const ProtobufCMessage *m, const char *path);
ProtobufCMessage *cri_msg_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *data,
				 size_t len, struct berr **err);
#define CRI_DECODE_BUDGET(len) ((size_t)32 * 1024 * 1024 + (size_t)8 * (len))

/* Sends one message of a server-streaming call; the errors of cri_call_check(),
 * -ENOSPC over CRI_MSG_MAX. Blocks while the client doesn't read (flow control)
 * until it reads, cancels, its deadline passes or the daemon stops. */
int cri_call_send(struct cri_call *call, const ProtobufCMessage *msg, struct berr **err);
/* Sends items (n, owned by the caller) as the repeated field (*field, *n_field) of msg,
 * in batches of at most 5000 items and 15 MiB (containerd's SendInBatches); the field is
 * reset after each send, and nothing is sent for no items. */
int cri_send_in_batches(struct cri_call *call, ProtobufCMessage *msg, void ***field,
			size_t *n_field, void **items, size_t n, struct berr **err);
/* Sends the response headers of a server-streaming call now, before its first
 * message (the client learns the call is being served); errors as above. */
int cri_call_send_initial_metadata(struct cri_call *call, struct berr **err);
/* True when the client cancelled, the deadline passed or the daemon is stopping. */
bool cri_call_is_done(struct cri_call *call);
/* 0 while the call is live; else -ETIMEDOUT (deadline) or -ECANCELED (client
 * gone, daemon stopping) with *err saying which. Cheap: poll it in loops. */
int cri_call_check(struct cri_call *call, struct berr **err);
/* Milliseconds left before the client's deadline; INT64_MAX without one. */
int64_t cri_call_remaining_ms(const struct cri_call *call);
const struct cri_method *cri_call_method(const struct cri_call *call);

/* Handlers of cri/runtime.c */
int cri_version(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		ProtobufCMessage **ret_resp, struct berr **err);
int cri_status(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
	       ProtobufCMessage **ret_resp, struct berr **err);
int cri_update_runtime_config(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			      ProtobufCMessage **ret_resp, struct berr **err);
int cri_runtime_config(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		       ProtobufCMessage **ret_resp, struct berr **err);
/* Handlers of cri/image.c */
int cri_pull_image(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		   ProtobufCMessage **ret_resp, struct berr **err);
int cri_list_images(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		    ProtobufCMessage **ret_resp, struct berr **err);
int cri_image_status(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		     ProtobufCMessage **ret_resp, struct berr **err);
int cri_remove_image(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		     ProtobufCMessage **ret_resp, struct berr **err);
int cri_image_fs_info(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		      ProtobufCMessage **ret_resp, struct berr **err);

/* NetworkReady check: true when conf_dir holds a parseable CNI config file;
 * otherwise false with *ret_msg (caller frees) saying why. */
bool cri_cni_config_present(const char *conf_dir, char **ret_msg);

/* Handlers of cri/container.c, container_run.c, container_status.c */
int cri_create_container(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			 ProtobufCMessage **ret_resp, struct berr **err);
int cri_start_container(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			ProtobufCMessage **ret_resp, struct berr **err);
int cri_stop_container(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		       ProtobufCMessage **ret_resp, struct berr **err);
int cri_remove_container(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			 ProtobufCMessage **ret_resp, struct berr **err);
int cri_container_status(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			 ProtobufCMessage **ret_resp, struct berr **err);
int cri_list_containers(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			ProtobufCMessage **ret_resp, struct berr **err);
int cri_exec_sync(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		  ProtobufCMessage **ret_resp, struct berr **err);
int cri_update_container_resources(struct berth *b, struct cri_call *call,
				   const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
				   struct berr **err);
int cri_reopen_container_log(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			     ProtobufCMessage **ret_resp, struct berr **err);
/* Handlers of cri/stream.c: validate, register a one-time token with the
 * streaming server and answer its URL. */
int cri_exec(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
	     ProtobufCMessage **ret_resp, struct berr **err);
int cri_attach(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
	       ProtobufCMessage **ret_resp, struct berr **err);
int cri_port_forward(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		     ProtobufCMessage **ret_resp, struct berr **err);
/* Handlers of cri/sandbox.c */
int cri_run_pod_sandbox(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			ProtobufCMessage **ret_resp, struct berr **err);
int cri_stop_pod_sandbox(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			 ProtobufCMessage **ret_resp, struct berr **err);
int cri_remove_pod_sandbox(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			   ProtobufCMessage **ret_resp, struct berr **err);
int cri_pod_sandbox_status(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			   ProtobufCMessage **ret_resp, struct berr **err);
int cri_list_pod_sandbox(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			 ProtobufCMessage **ret_resp, struct berr **err);
/* Handler of cri/podres.c */
int cri_update_pod_sandbox_resources(struct berth *b, struct cri_call *call,
				     const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
				     struct berr **err);
/* Handlers of cri/checkpoint.c: UNIMPLEMENTED, saying why (CRIU) */
int cri_checkpoint_container(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			     ProtobufCMessage **ret_resp, struct berr **err);
int cri_checkpoint_pod(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		       ProtobufCMessage **ret_resp, struct berr **err);
int cri_restore_pod(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		    ProtobufCMessage **ret_resp, struct berr **err);

/* Handlers of cri/stats.c */
int cri_container_stats(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			ProtobufCMessage **ret_resp, struct berr **err);
int cri_list_container_stats(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			     ProtobufCMessage **ret_resp, struct berr **err);
int cri_pod_sandbox_stats(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			  ProtobufCMessage **ret_resp, struct berr **err);
int cri_list_pod_sandbox_stats(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			       ProtobufCMessage **ret_resp, struct berr **err);
/* Server-streaming: the list, sent in batches (5000 items, 15 MiB at most). */
int cri_stream_pod_sandboxes(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			     ProtobufCMessage **ret_resp, struct berr **err);
int cri_stream_containers(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			  ProtobufCMessage **ret_resp, struct berr **err);
int cri_stream_images(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		      ProtobufCMessage **ret_resp, struct berr **err);
int cri_stream_container_stats(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			       ProtobufCMessage **ret_resp, struct berr **err);
int cri_stream_pod_sandbox_stats(struct berth *b, struct cri_call *call,
				 const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
				 struct berr **err);

/* Handlers of cri/metrics.c: cAdvisor-style metrics (docs/stats.md) */
int cri_list_metric_descriptors(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
				ProtobufCMessage **ret_resp, struct berr **err);
int cri_list_pod_sandbox_metrics(struct berth *b, struct cri_call *call,
				 const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
				 struct berr **err);
int cri_stream_pod_sandbox_metrics(struct berth *b, struct cri_call *call,
				   const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
				   struct berr **err);

/* Handler of cri/events.c: server-streaming, runs for the life of the client
 * (CRI_METHOD_LONG). */
int cri_get_container_events(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			     ProtobufCMessage **ret_resp, struct berr **err);

#endif
