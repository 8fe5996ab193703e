/* SPDX-License-Identifier: Apache-2.0 */
/* methods.c - the one table of CRI methods: every RPC of both services of
 * proto/api.proto, with its message types, handler and flags. A NULL handler
 * answers UNIMPLEMENTED naming the method; an issue implementing an RPC sets
 * its handler here (see cri-internal.h). tests/unit/test_cri.c checks the table
 * against the generated service descriptors. */
#include "cri/cri-internal.h"

#include <stddef.h>
#include <string.h>

#define RUNTIME_SVC "/runtime.v1.RuntimeService/"
#define IMAGE_SVC   "/runtime.v1.ImageService/"

#define M(svc, rpc, reqd, respd, fn, fl)                                                           \
	{                                                                                          \
		.path = svc##_SVC #rpc, .name = #rpc, .req = &runtime__v1__##reqd##__descriptor,   \
		.resp = &runtime__v1__##respd##__descriptor, .handler = fn, .flags = fl,           \
	}

const struct cri_method cri_methods[] = {
    M(RUNTIME, Version, version_request, version_response, cri_version, 0),
    M(RUNTIME, RunPodSandbox, run_pod_sandbox_request, run_pod_sandbox_response,
      cri_run_pod_sandbox, 0),
    M(RUNTIME, StopPodSandbox, stop_pod_sandbox_request, stop_pod_sandbox_response,
      cri_stop_pod_sandbox, 0),
    M(RUNTIME, RemovePodSandbox, remove_pod_sandbox_request, remove_pod_sandbox_response,
      cri_remove_pod_sandbox, 0),
    M(RUNTIME, PodSandboxStatus, pod_sandbox_status_request, pod_sandbox_status_response,
      cri_pod_sandbox_status, 0),
    M(RUNTIME, ListPodSandbox, list_pod_sandbox_request, list_pod_sandbox_response,
      cri_list_pod_sandbox, 0),
    M(RUNTIME, StreamPodSandboxes, stream_pod_sandboxes_request, stream_pod_sandboxes_response,
      cri_stream_pod_sandboxes, CRI_METHOD_STREAM),
    M(RUNTIME, CreateContainer, create_container_request, create_container_response,
      cri_create_container, 0),
    M(RUNTIME, StartContainer, start_container_request, start_container_response,
      cri_start_container, 0),
    M(RUNTIME, StopContainer, stop_container_request, stop_container_response, cri_stop_container,
      0),
    M(RUNTIME, RemoveContainer, remove_container_request, remove_container_response,
      cri_remove_container, 0),
    M(RUNTIME, ListContainers, list_containers_request, list_containers_response,
      cri_list_containers, 0),
    M(RUNTIME, StreamContainers, stream_containers_request, stream_containers_response,
      cri_stream_containers, CRI_METHOD_STREAM),
    M(RUNTIME, ContainerStatus, container_status_request, container_status_response,
      cri_container_status, 0),
    M(RUNTIME, UpdateContainerResources, update_container_resources_request,
      update_container_resources_response, cri_update_container_resources, 0),
    M(RUNTIME, ReopenContainerLog, reopen_container_log_request, reopen_container_log_response,
      cri_reopen_container_log, 0),
    M(RUNTIME, ExecSync, exec_sync_request, exec_sync_response, cri_exec_sync, 0),
    M(RUNTIME, Exec, exec_request, exec_response, cri_exec, 0),
    M(RUNTIME, Attach, attach_request, attach_response, cri_attach, 0),
    M(RUNTIME, PortForward, port_forward_request, port_forward_response, cri_port_forward, 0),
    M(RUNTIME, ContainerStats, container_stats_request, container_stats_response,
      cri_container_stats, 0),
    M(RUNTIME, ListContainerStats, list_container_stats_request, list_container_stats_response,
      cri_list_container_stats, 0),
    M(RUNTIME, StreamContainerStats, stream_container_stats_request,
      stream_container_stats_response, cri_stream_container_stats, CRI_METHOD_STREAM),
    M(RUNTIME, PodSandboxStats, pod_sandbox_stats_request, pod_sandbox_stats_response,
      cri_pod_sandbox_stats, 0),
    M(RUNTIME, ListPodSandboxStats, list_pod_sandbox_stats_request, list_pod_sandbox_stats_response,
      cri_list_pod_sandbox_stats, 0),
    M(RUNTIME, StreamPodSandboxStats, stream_pod_sandbox_stats_request,
      stream_pod_sandbox_stats_response, cri_stream_pod_sandbox_stats, CRI_METHOD_STREAM),
    M(RUNTIME, UpdateRuntimeConfig, update_runtime_config_request, update_runtime_config_response,
      cri_update_runtime_config, 0),
    M(RUNTIME, Status, status_request, status_response, cri_status, 0),
    M(RUNTIME, CheckpointContainer, checkpoint_container_request, checkpoint_container_response,
      cri_checkpoint_container, 0),
    M(RUNTIME, CheckpointPod, checkpoint_pod_request, checkpoint_pod_response, cri_checkpoint_pod,
      0),
    M(RUNTIME, RestorePod, restore_pod_request, restore_pod_response, cri_restore_pod, 0),
    M(RUNTIME, GetContainerEvents, get_events_request, container_event_response,
      cri_get_container_events, CRI_METHOD_STREAM | CRI_METHOD_LONG),
    M(RUNTIME, ListMetricDescriptors, list_metric_descriptors_request,
      list_metric_descriptors_response, cri_list_metric_descriptors, 0),
    M(RUNTIME, ListPodSandboxMetrics, list_pod_sandbox_metrics_request,
      list_pod_sandbox_metrics_response, cri_list_pod_sandbox_metrics, 0),
    M(RUNTIME, StreamPodSandboxMetrics, stream_pod_sandbox_metrics_request,
      stream_pod_sandbox_metrics_response, cri_stream_pod_sandbox_metrics, CRI_METHOD_STREAM),
    M(RUNTIME, RuntimeConfig, runtime_config_request, runtime_config_response, cri_runtime_config,
      0),
    M(RUNTIME, UpdatePodSandboxResources, update_pod_sandbox_resources_request,
      update_pod_sandbox_resources_response, cri_update_pod_sandbox_resources, 0),
    M(IMAGE, ListImages, list_images_request, list_images_response, cri_list_images, 0),
    M(IMAGE, StreamImages, stream_images_request, stream_images_response, cri_stream_images,
      CRI_METHOD_STREAM),
    M(IMAGE, ImageStatus, image_status_request, image_status_response, cri_image_status, 0),
    M(IMAGE, PullImage, pull_image_request, pull_image_response, cri_pull_image, 0),
    M(IMAGE, RemoveImage, remove_image_request, remove_image_response, cri_remove_image, 0),
    M(IMAGE, ImageFsInfo, image_fs_info_request, image_fs_info_response, cri_image_fs_info, 0),
};

const size_t cri_n_methods = sizeof(cri_methods) / sizeof(cri_methods[0]);

const struct cri_method *cri_method_find(const char *path)
{
	/* 41 entries, looked up once per call: a linear scan costs less than the
	 * payload decode that follows. */
	for (size_t i = 0; i < cri_n_methods; i++)
		if (strcmp(cri_methods[i].path, path) == 0)
			return &cri_methods[i];
	return NULL;
}
