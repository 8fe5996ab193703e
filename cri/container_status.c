/* SPDX-License-Identifier: Apache-2.0 */
/* container_status.c - ContainerStatus and ListContainers: store records
 * turned into CRI messages (and the container's process ids, read from /proc).
 * Nothing here calls out. */
#include "cri/pod.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/ids.h"
#include "cri/validate-internal.h"

static Runtime__V1__ContainerState state_of(const struct store_ctr_status *st)
{
	switch (store_ctr_state(st)) {
	case STORE_CTR_CREATED:
		return RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED;
	case STORE_CTR_RUNNING:
		return RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
	case STORE_CTR_EXITED:
		return RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
	default:
		return RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN;
	}
}

static Runtime__V1__ContainerMetadata *metadata_msg(const struct store_ctr_meta *m)
{
	Runtime__V1__ContainerMetadata *md =
	    (void *)cri_msg_new(&runtime__v1__container_metadata__descriptor);
	md->name = xstrdup(m->metadata.name);
	md->attempt = m->metadata.attempt;
	return md;
}

static Runtime__V1__ImageSpec *image_msg(const char *image)
{
	Runtime__V1__ImageSpec *s = (void *)cri_msg_new(&runtime__v1__image_spec__descriptor);
	s->image = xstrdup(image ? image : "");
	return s;
}

/* Deep copy of the config's mounts into the response. */
static void mounts_copy(const Runtime__V1__ContainerConfig *cfg, Runtime__V1__ContainerStatus *s)
{
	size_t n = cfg ? cfg->n_mounts : 0;
	s->mounts = xcalloc(n ? n : 1, sizeof(*s->mounts));
	for (size_t i = 0; i < n; i++) {
		const Runtime__V1__Mount *src = cfg->mounts[i];
		Runtime__V1__Mount *d = (void *)cri_msg_new(&runtime__v1__mount__descriptor);
		d->container_path = xstrdup(src->container_path ? src->container_path : "");
		d->host_path = xstrdup(src->host_path ? src->host_path : "");
		d->readonly = src->readonly;
		d->selinux_relabel = src->selinux_relabel;
		d->propagation = src->propagation;
		d->recursive_read_only = src->recursive_read_only;
		if (src->image) { /* an image volume, read-only whatever was asked */
			d->image = image_msg(src->image->image);
			d->image_sub_path = xstrdup(src->image_sub_path ? src->image_sub_path : "");
			d->readonly = true;
		}
		s->mounts[s->n_mounts++] = d;
	}
}

static Runtime__V1__ContainerResources *resources_msg(const struct store_bytes *rb)
{
	if (!rb->data || rb->len == 0)
		return NULL;
	Runtime__V1__LinuxContainerResources *l =
	    runtime__v1__linux_container_resources__unpack(NULL, rb->len, rb->data);
	if (!l)
		return NULL;
	Runtime__V1__ContainerResources *r =
	    (void *)cri_msg_new(&runtime__v1__container_resources__descriptor);
	r->linux = l; /* unpacked with the default allocator: owned by r */
	return r;
}

static char *verbose_info(const struct store_ctr_meta *m, const struct store_ctr_status *st)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "pid", json_object_new_int(st->pid));
	json_object_object_add(o, "shimPid", json_object_new_int(st->shim_pid));
	json_object_object_add(o, "sandboxID", json_object_new_string(m->sandbox_id));
	json_object_object_add(o, "bundle",
			       json_object_new_string(m->bundle_dir ? m->bundle_dir : ""));
	json_object_object_add(o, "rootfs",
			       json_object_new_string(m->rootfs_path ? m->rootfs_path : ""));
	json_object_object_add(
	    o, "runtimeHandler",
	    json_object_new_string(m->runtime_handler ? m->runtime_handler : ""));
	json_object_object_add(o, "name", json_object_new_string(m->name));
	const char *cg = cri_ctr_extra(m, CRI_CTR_X_CGROUP);
	json_object_object_add(o, "cgroupsPath", json_object_new_string(cg ? cg : ""));
	if (m->bundle_dir) {
		_cleanup_free_ char *p = xasprintf("%s/config.json", m->bundle_dir);
		struct json_object *spec = json_object_from_file(p);
		if (spec)
			json_object_object_add(o, "runtimeSpec", spec);
	}
	char *s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

/* The ids of the container's process while it has one (runc sets them before the
 * container is started); NULL once it has exited or when they can't be read. */
static Runtime__V1__ContainerUser *user_msg(const struct store_ctr_status *st)
{
	enum store_ctr_state s = store_ctr_state(st);
	struct cri_proc_user u;
	if ((s != STORE_CTR_CREATED && s != STORE_CTR_RUNNING) || st->pid <= 0 ||
	    cri_proc_user_read(st->pid, &u, NULL) < 0)
		return NULL;
	Runtime__V1__ContainerUser *cu =
	    (void *)cri_msg_new(&runtime__v1__container_user__descriptor);
	Runtime__V1__LinuxContainerUser *l =
	    (void *)cri_msg_new(&runtime__v1__linux_container_user__descriptor);
	l->uid = u.uid;
	l->gid = u.gid;
	l->supplemental_groups = TAKE_PTR(u.groups);
	l->n_supplemental_groups = u.n_groups;
	if (!l->supplemental_groups)
		l->supplemental_groups = xcalloc(1, sizeof(int64_t));
	cu->linux = l;
	cri_proc_user_done(&u);
	return cu;
}

Runtime__V1__ContainerStatus *cri_ctr_status_msg(const struct store_ctr_meta *m,
						 const struct store_ctr_status *st)
{
	Runtime__V1__ContainerConfig *cfg =
	    m->config.data
		? runtime__v1__container_config__unpack(NULL, m->config.len, m->config.data)
		: NULL;
	Runtime__V1__ContainerStatus *s =
	    (void *)cri_msg_new(&runtime__v1__container_status__descriptor);
	s->id = xstrdup(m->id);
	s->metadata = metadata_msg(m);
	s->state = state_of(st);
	s->created_at = st->created_at ? st->created_at : m->created_at;
	s->started_at = st->started_at;
	s->finished_at = st->finished_at;
	s->exit_code = st->exit_code;
	s->image = image_msg(m->image_ref);
	/* image_ref: what the image resolves to (CRI: the digest or ID). */
	s->image_ref = xstrdup(m->image_id ? m->image_id : "");
	s->image_id = xstrdup(m->image_id ? m->image_id : "");
	s->reason = xstrdup(st->reason ? st->reason : "");
	s->message = xstrdup(st->message ? st->message : "");
	s->labels = cri_entries_from_kv(&runtime__v1__container_status__labels_entry__descriptor,
					m->labels, m->n_labels);
	s->n_labels = m->n_labels;
	s->annotations =
	    cri_entries_from_kv(&runtime__v1__container_status__annotations_entry__descriptor,
				m->annotations, m->n_annotations);
	s->n_annotations = m->n_annotations;
	mounts_copy(cfg, s);
	s->log_path = xstrdup(m->log_path && strcmp(m->log_path, "/dev/null") ? m->log_path : "");
	s->resources = resources_msg(&st->resources);
	s->user = user_msg(st);
	if (cfg)
		runtime__v1__container_config__free_unpacked(cfg, NULL);
	return s;
}

int cri_container_status(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			 ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__ContainerStatusRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	struct store_ctr *c = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	int r = store_ctr_get(b->store, in->container_id ? in->container_id : "", &c, &e);
	if (r == -ENOENT)
		return berr_set(err, ENOENT, "container '%s' not found", in->container_id);
	if (r < 0)
		return berr_move(err, &e);
	const struct store_ctr_meta *m = store_ctr_meta(c);
	struct store_ctr_status st;
	store_ctr_status(c, &st);
	Runtime__V1__ContainerStatusResponse *resp =
	    (void *)cri_msg_new(&runtime__v1__container_status_response__descriptor);
	resp->status = cri_ctr_status_msg(m, &st);
	if (in->verbose) {
		struct store_kv info = {"info", NULL};
		_cleanup_free_ char *text = verbose_info(m, &st);
		info.value = text;
		resp->info = cri_entries_from_kv(
		    &runtime__v1__container_status_response__info_entry__descriptor, &info, 1);
		resp->n_info = 1;
	}
	store_ctr_status_done(&st);
	store_ctr_unref(c);
	*ret_resp = &resp->base;
	return 0;
}

static enum store_ctr_state store_state_of(Runtime__V1__ContainerState s)
{
	switch (s) {
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED:
		return STORE_CTR_CREATED;
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING:
		return STORE_CTR_RUNNING;
	case RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED:
		return STORE_CTR_EXITED;
	default:
		return STORE_CTR_UNKNOWN;
	}
}

int cri_list_containers(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__ListContainersRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	const Runtime__V1__ContainerFilter *f = in->filter;
	struct store_ctr_filter sf = {0};
	_cleanup_free_ struct store_kv *sel = NULL;
	if (f) {
		sf.id = f->id && f->id[0] ? f->id : NULL;
		sf.sandbox_id =
		    f->pod_sandbox_id && f->pod_sandbox_id[0] ? f->pod_sandbox_id : NULL;
		if (f->state) {
			sf.has_state = true;
			sf.state = store_state_of(f->state->state);
		}
		cri_kv_from_entries(f->label_selector, f->n_label_selector, &sel, &sf.n_labels);
		sf.labels = sel;
	}
	struct store_ctr **v = NULL;
	size_t n = 0;
	int r = store_ctr_list(b->store, &sf, &v, &n, err);
	if (r < 0)
		return r;
	Runtime__V1__ListContainersResponse *resp =
	    (void *)cri_msg_new(&runtime__v1__list_containers_response__descriptor);
	resp->containers = xcalloc(n ? n : 1, sizeof(*resp->containers));
	for (size_t i = 0; i < n; i++) {
		const struct store_ctr_meta *m = store_ctr_meta(v[i]);
		struct store_ctr_status st;
		store_ctr_status(v[i], &st);
		Runtime__V1__Container *item =
		    (void *)cri_msg_new(&runtime__v1__container__descriptor);
		item->id = xstrdup(m->id);
		item->pod_sandbox_id = xstrdup(m->sandbox_id);
		item->metadata = metadata_msg(m);
		item->image = image_msg(m->image_ref);
		item->image_ref = xstrdup(m->image_id ? m->image_id : "");
		item->image_id = xstrdup(m->image_id ? m->image_id : "");
		item->state = state_of(&st);
		item->created_at = st.created_at ? st.created_at : m->created_at;
		item->labels = cri_entries_from_kv(
		    &runtime__v1__container__labels_entry__descriptor, m->labels, m->n_labels);
		item->n_labels = m->n_labels;
		item->annotations =
		    cri_entries_from_kv(&runtime__v1__container__annotations_entry__descriptor,
					m->annotations, m->n_annotations);
		item->n_annotations = m->n_annotations;
		resp->containers[resp->n_containers++] = item;
		store_ctr_status_done(&st);
	}
	store_ctr_list_free(v, n);
	*ret_resp = &resp->base;
	return 0;
}
