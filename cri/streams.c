/* SPDX-License-Identifier: Apache-2.0 */
/* streams.c - StreamPodSandboxes, StreamContainers and StreamImages: the answer of the
 * matching List call with the same filter, sent in batches (cri_send_in_batches), so a
 * node with many objects is not held to one message's 16 MiB. */
#include "cri/cri-internal.h"

#include "common/err.h"

int cri_stream_pod_sandboxes(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			     ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__StreamPodSandboxesRequest *in = (const void *)req;
	Runtime__V1__ListPodSandboxRequest lreq = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
	lreq.filter = in->filter;
	ProtobufCMessage *lresp = NULL;
	int r = cri_list_pod_sandbox(b, call, &lreq.base, &lresp, err);
	if (r < 0)
		return r;
	Runtime__V1__ListPodSandboxResponse *l = (void *)lresp;
	Runtime__V1__StreamPodSandboxesResponse out =
	    RUNTIME__V1__STREAM_POD_SANDBOXES_RESPONSE__INIT;
	r = cri_send_in_batches(call, &out.base, (void ***)&out.pod_sandboxes, &out.n_pod_sandboxes,
				(void **)l->items, l->n_items, err);
	cri_msg_free(lresp);
	return r;
}

int cri_stream_containers(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			  ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__StreamContainersRequest *in = (const void *)req;
	Runtime__V1__ListContainersRequest lreq = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
	lreq.filter = in->filter;
	ProtobufCMessage *lresp = NULL;
	int r = cri_list_containers(b, call, &lreq.base, &lresp, err);
	if (r < 0)
		return r;
	Runtime__V1__ListContainersResponse *l = (void *)lresp;
	Runtime__V1__StreamContainersResponse out = RUNTIME__V1__STREAM_CONTAINERS_RESPONSE__INIT;
	r = cri_send_in_batches(call, &out.base, (void ***)&out.containers, &out.n_containers,
				(void **)l->containers, l->n_containers, err);
	cri_call_resp_free(call, lresp); /* its strings are the store's (cri_list_containers) */
	return r;
}

int cri_stream_images(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		      ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__StreamImagesRequest *in = (const void *)req;
	Runtime__V1__ListImagesRequest lreq = RUNTIME__V1__LIST_IMAGES_REQUEST__INIT;
	lreq.filter = in->filter;
	ProtobufCMessage *lresp = NULL;
	int r = cri_list_images(b, call, &lreq.base, &lresp, err);
	if (r < 0)
		return r;
	Runtime__V1__ListImagesResponse *l = (void *)lresp;
	Runtime__V1__StreamImagesResponse out = RUNTIME__V1__STREAM_IMAGES_RESPONSE__INIT;
	r = cri_send_in_batches(call, &out.base, (void ***)&out.images, &out.n_images,
				(void **)l->images, l->n_images, err);
	cri_msg_free(lresp);
	return r;
}
