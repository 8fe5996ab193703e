/* SPDX-License-Identifier: Apache-2.0 */
/* validate_rpc.c - one validator per CRI request type, found by its descriptor:
 * IDs, filters, ExecSync/Exec/Attach/PortForward, image specs and auth,
 * UpdateContainerResources, UpdateRuntimeConfig; the pod and container configs
 * are validate_pod.c's and validate_ctr.c's. */
#include "cri/validate-internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"

typedef int (*validator)(const struct cri_host_facts *h, const void *req, struct berr **err);

static int v_id(const char *field, const char *s, struct berr **err)
{
	return cri_v_str(NULL, field, s, CRI_V_ID_MAX, CRI_V_NO_SPACE, err);
}

int cri_v_image_spec(const char *where, const Runtime__V1__ImageSpec *s, bool required,
		     struct berr **err)
{
	char w[512];
	cri_v_path(w, sizeof(w), where, "image");
	if (!s || !s->image || !*s->image)
		return required ? berr_set(err, EINVAL, "%s names no image", w) : 0;
	int r = cri_v_str(w, "image", s->image, CRI_V_IMAGE_LEN, CRI_V_NO_SPACE, err);
	if (r == 0)
		r = cri_v_map(w, "annotations", (void *const *)s->annotations, s->n_annotations,
			      err);
	if (r == 0)
		r = cri_v_str(w, "user_specified_image", s->user_specified_image, CRI_V_IMAGE_LEN,
			      CRI_V_NO_SPACE, err);
	if (r == 0)
		r = cri_v_str(w, "runtime_handler", s->runtime_handler, CRI_V_SHORT_LEN,
			      CRI_V_NO_SPACE, err);
	if (r == 0)
		r = cri_v_str(w, "image_ref", s->image_ref, CRI_V_IMAGE_LEN, CRI_V_NO_SPACE, err);
	return r;
}

static int v_labels(const char *where, void *const *e, size_t n, struct berr **err)
{
	return cri_v_map(where, "label_selector", e, n, err);
}

static int v_cmd(char *const *cmd, size_t n, struct berr **err)
{
	if (n == 0 || !cmd[0] || !cmd[0][0])
		return berr_set(err, EINVAL, "cmd: empty command");
	return cri_v_strv(NULL, "cmd", cmd, n, CRI_V_EXEC_CMD, CRI_V_ARG_MAX, CRI_V_EXEC_CMD_BYTES,
			  0, err);
}

/* ---- RuntimeService ---- */

static int v_run_pod(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	const Runtime__V1__RunPodSandboxRequest *in = req;
	if (!in->config)
		return berr_set(err, EINVAL, "config is missing");
	int r = cri_validate_pod_config(h, in->config, "config", err);
	if (r == 0)
		r = cri_v_str(NULL, "runtime_handler", in->runtime_handler, CRI_V_SHORT_LEN,
			      CRI_V_NO_SPACE, err);
	return r;
}

/* The requests that carry one ID and nothing to check besides. */
/* Field 1, a string, of m: the ID of the requests below. */
static const char *field1(const ProtobufCMessage *m)
{
	const ProtobufCFieldDescriptor *fd =
	    protobuf_c_message_descriptor_get_field(m->descriptor, 1);
	if (!fd || fd->type != PROTOBUF_C_TYPE_STRING)
		return NULL;
	return *(char *const *)((const char *)m + fd->offset);
}

/* StopPodSandbox, RemovePodSandbox, PodSandboxStatus, PodSandboxStats. */
static int v_pod_id(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	return v_id("pod_sandbox_id", field1(req), err);
}

/* StartContainer, RemoveContainer, ContainerStatus, ContainerStats, ReopenContainerLog. */
static int v_ctr_id(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	return v_id("container_id", field1(req), err);
}

static int v_stop_ctr(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	const Runtime__V1__StopContainerRequest *in = req;
	int r = v_id("container_id", in->container_id, err);
	if (r == 0)
		r = cri_v_range(NULL, "timeout", in->timeout, 0, CRI_V_STOP_TIMEOUT, err);
	return r;
}

static int v_pod_filter(const Runtime__V1__PodSandboxFilter *f, struct berr **err)
{
	if (!f)
		return 0;
	int r = v_id("filter.id", f->id, err);
	if (r == 0)
		r = v_labels("filter", (void *const *)f->label_selector, f->n_label_selector, err);
	return r;
}

static int v_list_pods(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	return v_pod_filter(((const Runtime__V1__ListPodSandboxRequest *)req)->filter, err);
}

static int v_stream_pods(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	return v_pod_filter(((const Runtime__V1__StreamPodSandboxesRequest *)req)->filter, err);
}

static int v_create_ctr(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	const Runtime__V1__CreateContainerRequest *in = req;
	if (!in->pod_sandbox_id || !*in->pod_sandbox_id)
		return berr_set(err, EINVAL, "pod_sandbox_id is empty");
	int r = v_id("pod_sandbox_id", in->pod_sandbox_id, err);
	if (r == 0)
		r = cri_validate_ctr_config(h, in->config, "config", err);
	if (r == 0 && in->sandbox_config)
		r = cri_validate_pod_config(h, in->sandbox_config, "sandbox_config", err);
	return r;
}

static int v_ctr_filter(const Runtime__V1__ContainerFilter *f, struct berr **err)
{
	if (!f)
		return 0;
	int r = v_id("filter.id", f->id, err);
	if (r == 0)
		r = v_id("filter.pod_sandbox_id", f->pod_sandbox_id, err);
	if (r == 0)
		r = v_labels("filter", (void *const *)f->label_selector, f->n_label_selector, err);
	return r;
}

static int v_list_ctrs(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	return v_ctr_filter(((const Runtime__V1__ListContainersRequest *)req)->filter, err);
}

static int v_stream_ctrs(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	return v_ctr_filter(((const Runtime__V1__StreamContainersRequest *)req)->filter, err);
}

static int v_update_res(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	const Runtime__V1__UpdateContainerResourcesRequest *in = req;
	int r = v_id("container_id", in->container_id, err);
	if (r == 0)
		/* swap against memory is checked on the merge (container_run.c):
		 * an update may set one of them alone */
		r = cri_v_resources(h, in->linux, "linux", CRI_V_RES_LIMITS, err);
	if (r == 0)
		r = cri_v_map(NULL, "annotations", (void *const *)in->annotations,
			      in->n_annotations, err);
	return r;
}

static int v_exec_sync(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	const Runtime__V1__ExecSyncRequest *in = req;
	int r = v_id("container_id", in->container_id, err);
	if (r == 0)
		r = v_cmd(in->cmd, in->n_cmd, err);
	if (r == 0)
		r = cri_v_range(NULL, "timeout", in->timeout, 0, CRI_V_EXEC_TIMEOUT, err);
	return r;
}

static int v_exec(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	const Runtime__V1__ExecRequest *in = req;
	int r = v_id("container_id", in->container_id, err);
	if (r == 0)
		r = v_cmd(in->cmd, in->n_cmd, err);
	if (r == 0 && !in->stdin && !in->stdout && !in->stderr)
		r = berr_set(err, EINVAL, "one of stdin, stdout, or stderr must be set");
	if (r == 0 && in->tty && in->stderr)
		r = berr_set(err, EINVAL, "tty and stderr cannot both be true");
	return r;
}

static int v_attach(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	const Runtime__V1__AttachRequest *in = req;
	int r = v_id("container_id", in->container_id, err);
	if (r == 0 && !in->stdin && !in->stdout && !in->stderr)
		r = berr_set(err, EINVAL, "one of stdin, stdout, or stderr must be set");
	if (r == 0 && in->tty && in->stderr)
		r = berr_set(err, EINVAL, "tty and stderr cannot both be true");
	return r;
}

static int v_port_forward(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	const Runtime__V1__PortForwardRequest *in = req;
	int r = v_id("pod_sandbox_id", in->pod_sandbox_id, err);
	if (r == 0)
		r = cri_v_count(NULL, "port", in->n_port, CRI_V_PORTS, err);
	for (size_t i = 0; r == 0 && i < in->n_port; i++)
		if (in->port[i] < 1 || in->port[i] > 65535)
			r = berr_set(err, EINVAL, "port[%zu]: invalid port %d (1..65535)", i,
				     in->port[i]);
	return r;
}

static int v_stats_filter(const Runtime__V1__ContainerStatsFilter *f, struct berr **err)
{
	if (!f)
		return 0;
	int r = v_id("filter.id", f->id, err);
	if (r == 0)
		r = v_id("filter.pod_sandbox_id", f->pod_sandbox_id, err);
	if (r == 0)
		r = v_labels("filter", (void *const *)f->label_selector, f->n_label_selector, err);
	return r;
}

static int v_list_ctr_stats(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	return v_stats_filter(((const Runtime__V1__ListContainerStatsRequest *)req)->filter, err);
}

static int v_stream_ctr_stats(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	return v_stats_filter(((const Runtime__V1__StreamContainerStatsRequest *)req)->filter, err);
}

static int v_pod_stats_filter(const Runtime__V1__PodSandboxStatsFilter *f, struct berr **err)
{
	if (!f)
		return 0;
	int r = v_id("filter.id", f->id, err);
	if (r == 0)
		r = v_labels("filter", (void *const *)f->label_selector, f->n_label_selector, err);
	return r;
}

static int v_list_pod_stats(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	return v_pod_stats_filter(((const Runtime__V1__ListPodSandboxStatsRequest *)req)->filter,
				  err);
}

static int v_stream_pod_stats(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	return v_pod_stats_filter(((const Runtime__V1__StreamPodSandboxStatsRequest *)req)->filter,
				  err);
}

static int v_update_runtime_config(const struct cri_host_facts *h, const void *req,
				   struct berr **err)
{
	const Runtime__V1__UpdateRuntimeConfigRequest *in = req;
	const Runtime__V1__NetworkConfig *n =
	    in->runtime_config ? in->runtime_config->network_config : NULL;
	return n ? cri_v_str("runtime_config.network_config", "pod_cidr", n->pod_cidr,
			     CRI_V_CIDRS_LEN, CRI_V_NO_SPACE, err)
		 : 0;
}

/* ---- ImageService ---- */

static int v_image_filter(const Runtime__V1__ImageFilter *f, struct berr **err)
{
	return f ? cri_v_image_spec("filter", f->image, false, err) : 0;
}

static int v_list_images(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	return v_image_filter(((const Runtime__V1__ListImagesRequest *)req)->filter, err);
}

static int v_stream_images(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	return v_image_filter(((const Runtime__V1__StreamImagesRequest *)req)->filter, err);
}

static int v_image_status(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	return cri_v_image_spec(NULL, ((const Runtime__V1__ImageStatusRequest *)req)->image, false,
				err);
}

static int v_remove_image(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	return cri_v_image_spec(NULL, ((const Runtime__V1__RemoveImageRequest *)req)->image, false,
				err);
}

/* The strings go into HTTP headers (a newline would add one) and "auth" is
 * base64 of "user:password". */
static int v_auth(const Runtime__V1__AuthConfig *a, struct berr **err)
{
	if (!a)
		return 0;
	const struct {
		const char *name, *v;
	} f[] = {{"username", a->username},
		 {"password", a->password},
		 {"auth", a->auth},
		 {"server_address", a->server_address},
		 {"identity_token", a->identity_token},
		 {"registry_token", a->registry_token}};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		/* values are secrets: the message names the field only */
		size_t n = f[i].v ? strlen(f[i].v) : 0;
		if (n > CRI_V_AUTH_LEN)
			return berr_set(err, E2BIG, "auth.%s too long (%zu > %d bytes)", f[i].name,
					n, CRI_V_AUTH_LEN);
		for (size_t k = 0; k < n; k++)
			if ((unsigned char)f[i].v[k] < 0x20 || f[i].v[k] == 0x7f)
				return berr_set(err, EINVAL, "auth.%s holds a control character",
						f[i].name);
	}
	const char *s = a->auth ? a->auth : "";
	size_t n = strlen(s);
	size_t pad = n > 0 && s[n - 1] == '=' ? (n > 1 && s[n - 2] == '=' ? 2 : 1) : 0;
	if (n && (n % 4 ||
		  strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") !=
		      n - pad))
		return berr_set(err, EINVAL, "auth.auth is not base64 of 'user:password'");
	return 0;
}

static int v_pull(const struct cri_host_facts *h, const void *req, struct berr **err)
{
	const Runtime__V1__PullImageRequest *in = req;
	int r = cri_v_image_spec(NULL, in->image, true, err);
	if (r == 0)
		r = v_auth(in->auth, err);
	if (r == 0 && in->sandbox_config)
		r = cri_validate_pod_config(h, in->sandbox_config, "sandbox_config", err);
	return r;
}

#define V(type, fn)                                                                                \
	{                                                                                          \
		&runtime__v1__##type##__descriptor, fn                                             \
	}
static const struct {
	const ProtobufCMessageDescriptor *d;
	validator fn;
} validators[] = {
    V(run_pod_sandbox_request, v_run_pod),
    V(stop_pod_sandbox_request, v_pod_id),
    V(remove_pod_sandbox_request, v_pod_id),
    V(pod_sandbox_status_request, v_pod_id),
    V(list_pod_sandbox_request, v_list_pods),
    V(stream_pod_sandboxes_request, v_stream_pods),
    V(create_container_request, v_create_ctr),
    V(start_container_request, v_ctr_id),
    V(stop_container_request, v_stop_ctr),
    V(remove_container_request, v_ctr_id),
    V(list_containers_request, v_list_ctrs),
    V(stream_containers_request, v_stream_ctrs),
    V(container_status_request, v_ctr_id),
    V(update_container_resources_request, v_update_res),
    V(reopen_container_log_request, v_ctr_id),
    V(exec_sync_request, v_exec_sync),
    V(exec_request, v_exec),
    V(attach_request, v_attach),
    V(port_forward_request, v_port_forward),
    V(container_stats_request, v_ctr_id),
    V(list_container_stats_request, v_list_ctr_stats),
    V(stream_container_stats_request, v_stream_ctr_stats),
    V(pod_sandbox_stats_request, v_pod_id),
    V(list_pod_sandbox_stats_request, v_list_pod_stats),
    V(stream_pod_sandbox_stats_request, v_stream_pod_stats),
    V(update_runtime_config_request, v_update_runtime_config),
    V(list_images_request, v_list_images),
    V(stream_images_request, v_stream_images),
    V(image_status_request, v_image_status),
    V(pull_image_request, v_pull),
    V(remove_image_request, v_remove_image),
};

int cri_validate_rpc(const struct cri_host_facts *h, const ProtobufCMessage *req, struct berr **err)
{
	for (size_t i = 0; i < sizeof(validators) / sizeof(validators[0]); i++)
		if (validators[i].d == req->descriptor)
			return validators[i].fn(h, req, err);
	return 0;
}
