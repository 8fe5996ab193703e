/* SPDX-License-Identifier: Apache-2.0 */
/* image.c - the ImageService RPCs: PullImage, ListImages, ImageStatus, RemoveImage and
 * ImageFsInfo, over image/ (registry, blobs, layers) and the image store (records). */
#define LOG_COMPONENT "cri" /* before any header: cri.h includes log.h */
#include "cri/cri-internal.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fault.h"
#include "common/fileio.h"
#include "common/strv.h"
#include "common/ids.h"
#include "cri/imgvol.h"
#include "image/image.h"
#include "store/store.h"
#include "cri/validate-internal.h"
#include "cri/obs.h"

/* meta->extra keys: every blob digest of the image (comma-separated) for gc */
#define EXTRA_BLOBS	      "blobs"
#define EXTRA_MANIFEST_DIGEST "manifest_digest"

int cri_image_init(struct berth *b, struct berr **err)
{
	size_t n = b->cfg.n_registries;
	struct img_registry *regs = xcalloc(n + 1, sizeof(*regs));
	for (size_t i = 0; i < n; i++) {
		const struct berth_registry *r = &b->cfg.registries[i];
		size_t m = 0;
		while (r->mirrors && r->mirrors[m])
			m++;
		regs[i] = (struct img_registry){.host = r->host,
						.mirrors = (const char *const *)r->mirrors,
						.n_mirrors = m,
						.insecure = r->insecure};
	}
	_cleanup_free_ char *root = xasprintf("%s/image", b->cfg.state_dir);
	struct img_opts o = {.root = root,
			     .registries = regs,
			     .n_registries = n,
			     .stall_timeout_ms = b->cfg.image_pull_progress_timeout_ms};
	int r = img_ctx_new(&o, &b->img, err);
	free(regs);
	const char *dir = b->cfg.libexec_dir ? b->cfg.libexec_dir : BERTH_LIBEXECDIR;
	b->pull_helper = xasprintf("%s/berth-pull", dir);
	return r;
}

void cri_image_done(struct berth *b)
{
	b->img = img_ctx_free(b->img);
	free(b->pull_helper);
	b->pull_helper = NULL;
}

static void berr_clear(struct berr **err)
{
	if (err)
		*err = berr_free(*err);
}

static const char *nonempty(const char *s)
{
	return s && *s ? s : NULL;
}

/* Finds the image a CRI ImageSpec names: a repo tag or digest (normalized as Docker does),
 * else an image ID or a unique prefix of it. */
static int image_find(struct berth *b, const char *s, struct store_img **ret, struct berr **err)
{
	if (!nonempty(s))
		return berr_set(err, EINVAL, "no image given");
	_cleanup_free_ char *norm = NULL;
	struct img_ref ref;
	if (img_ref_parse(s, &ref, NULL) == 0) {
		if (ref.digest) {
			_cleanup_free_ char *name = img_ref_name(&ref);
			norm = xasprintf("%s@%s", name, ref.digest);
		} else {
			norm = img_ref_string(&ref);
		}
		img_ref_done(&ref);
		int r = store_img_get_by_ref(b->store, norm, ret, err);
		if (r != -ENOENT)
			return r;
		berr_clear(err);
	}
	int r = store_img_get(b->store, s, ret, err);
	if (r == -ENOENT) {
		berr_clear(err);
		return berr_set(err, ENOENT, "image '%s' not found", s);
	}
	return r;
}

static char **strv_one(const char *s)
{
	char **v = xcalloc(2, sizeof(char *));
	v[0] = s ? xstrdup(s) : NULL;
	return v;
}

static int record_image(struct berth *b, struct img_pulled *p, struct berr **err)
{
	const struct img_config *c = &p->config;
	struct store_kv *labels = xcalloc(c->n_labels + 1, sizeof(*labels));
	for (size_t i = 0; i < c->n_labels; i++)
		labels[i] = (struct store_kv){.key = c->labels[i].key, .value = c->labels[i].value};
	_cleanup_free_ char *blobs = strv_join(p->blobs, ',');
	struct store_kv extra[] = {{EXTRA_BLOBS, blobs},
				   {EXTRA_MANIFEST_DIGEST, p->manifest_digest}};
	struct store_img_meta meta = {
	    .id = p->id,
	    .size = (int64_t)p->size,
	    .user = c->user,
	    .env = c->env,
	    .entrypoint = c->entrypoint,
	    .cmd = c->cmd,
	    .working_dir = c->working_dir,
	    .stop_signal = c->stop_signal,
	    .exposed_ports = c->exposed_ports,
	    .labels = labels,
	    .n_labels = c->n_labels,
	    .volumes = c->volumes,
	    .chain_ids = p->chain_ids,
	    .layer_digests = p->layer_digests,
	    .extra = extra,
	    .n_extra = 2,
	};
	_cleanup_strv_ char **tags = strv_one(p->repo_tag);
	_cleanup_strv_ char **digests = strv_one(p->repo_digest);
	int r = store_img_add(b->store, &meta, (const char *const *)tags,
			      (const char *const *)digests, NULL, err);
	free(labels);
	return r;
}

/* The pull runs in berth-pull while the handler waits: a client that goes away, a deadline
 * or a daemon stop cancels it (img_spawn_opts.cancelled runs on the handler's thread, the
 * only one that may use the call). */
struct pull_watch {
	struct cri_call *call;
	struct berr *why; /* the call's reason to stop */
};

static bool pull_cancelled(void *arg)
{
	struct pull_watch *w = arg;
	return w->why || cri_call_check(w->call, &w->why) < 0;
}

static int pull_watched(struct berth *b, struct cri_call *call, const char *ref,
			const struct img_auth *auth, struct img_pulled **ret, struct berr **err)
{
	struct pull_watch w = {.call = call};
	struct img_spawn_opts o = {.helper = b->pull_helper,
				   /* the daemon's now: a config reload may change them */
				   .log_level = log_level_name(log_get_level()),
				   .log_format = log_format_name(log_get_format()),
				   .cancelled = call ? pull_cancelled : NULL,
				   .cancel_arg = &w};
	int r = img_pull_spawn(b->img, &o, ref, auth, ret, err);
	if (r < 0 && w.why) {
		/* the call's reason (deadline, client gone, shutdown) explains the cancel */
		berr_clear(err);
		return berr_move(err, &w.why);
	}
	berr_free(w.why);
	return r;
}

int cri_pull_image(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		   ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__PullImageRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	const char *ref = in->image ? nonempty(in->image->image) : NULL;
	if (!ref)
		return berr_set(err, EINVAL, "PullImage: no image given");
	const Runtime__V1__AuthConfig *a = in->auth;
	struct img_auth auth = {0};
	if (a)
		auth = (struct img_auth){.username = nonempty(a->username),
					 .password = nonempty(a->password),
					 .auth = nonempty(a->auth),
					 .identity_token = nonempty(a->identity_token),
					 .registry_token = nonempty(a->registry_token)};
	struct img_pulled *p = NULL;
	int64_t t0 = time_mono_ns();
	cri_obs_pull_begin(b);
	int r = pull_watched(b, call, ref, a ? &auth : NULL, &p, err);
	if (r == 0)
		r = BERTH_FAULT_POINT("pull.answered", err);
	if (r < 0) {
		cri_obs_pull_end(b, t0, r, 0);
		img_pulled_free(p);
		return r;
	}
	/* recorded before p is freed: until then img_gc() keeps p's blobs and layers */
	r = record_image(b, p, err);
	cri_obs_pull_end(b, t0, r, r >= 0 ? p->fetched : 0);
	if (r >= 0)
		(void)BERTH_FAULT_POINT("pull.recorded", NULL);
	if (r >= 0) {
		log_info("image=%s id=%.19s size=%llu layers=%zu dur_ms=%lld msg=\"pulled image\"",
			 ref, p->id, (unsigned long long)p->size, p->n_layers,
			 (long long)((time_mono_ns() - t0) / 1000000));
		Runtime__V1__PullImageResponse *resp =
		    (void *)cri_msg_new(&runtime__v1__pull_image_response__descriptor);
		resp->image_ref = xstrdup(p->id);
		*ret_resp = &resp->base;
	}
	img_pulled_free(p);
	/* A pull answer can be megabytes (the image config): hand the free pages of the arenas
	 * back to the kernel now rather than keeping them for the life of the daemon. */
	(void)malloc_trim(0);
	return r < 0 ? berr_wrap(err, "record image '%s'", ref) : 0;
}

/* A protobuf repeated string: an owned copy (never NULL) and its count. */
static char **strv_copy_pb(char *const *v, size_t *ret_n)
{
	*ret_n = strv_len(v);
	return v ? strv_copy(v) : xcalloc(1, sizeof(char *));
}

static Runtime__V1__Image *image_to_pb(struct store_img *img)
{
	const struct store_img_meta *m = store_img_meta(img);
	struct store_img_status st;
	store_img_status(img, &st);
	Runtime__V1__Image *out = (void *)cri_msg_new(&runtime__v1__image__descriptor);
	out->id = xstrdup(m->id);
	out->repo_tags = strv_copy_pb(st.repo_tags, &out->n_repo_tags);
	out->repo_digests = strv_copy_pb(st.repo_digests, &out->n_repo_digests);
	out->size = m->size > 0 ? (uint64_t)m->size : 0;
	out->pinned = st.pinned;
	out->spec = (void *)cri_msg_new(&runtime__v1__image_spec__descriptor);
	out->spec->image = xstrdup(m->id);
	/* as containerd: a numeric user (before any ':') is the uid, anything else a name */
	if (nonempty(m->user)) {
		char *end;
		long long uid = strtoll(m->user, &end, 10);
		if (end != m->user && (*end == '\0' || *end == ':') && uid >= 0) {
			out->uid = (void *)cri_msg_new(&runtime__v1__int64_value__descriptor);
			out->uid->value = uid;
		} else {
			out->username = xstrndup(m->user, strcspn(m->user, ":"));
		}
	}
	store_img_status_done(&st);
	return out;
}

int cri_list_images(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		    ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__ListImagesRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	Runtime__V1__ListImagesResponse *resp =
	    (void *)cri_msg_new(&runtime__v1__list_images_response__descriptor);
	*ret_resp = &resp->base;
	const char *want =
	    in->filter && in->filter->image ? nonempty(in->filter->image->image) : NULL;
	if (want) {
		struct store_img *img = NULL;
		int r = image_find(b, want, &img, err);
		if (r == -ENOENT) {
			berr_clear(err);
			return 0; /* a filter that matches nothing lists nothing */
		}
		if (r < 0)
			return r;
		resp->images = xcalloc(1, sizeof(*resp->images));
		resp->images[resp->n_images++] = image_to_pb(img);
		store_img_unref(img);
		return 0;
	}
	struct store_img **v = NULL;
	size_t n = 0;
	int r = store_img_list(b->store, &v, &n, err);
	if (r < 0)
		return r;
	resp->images = xcalloc(n + 1, sizeof(*resp->images));
	for (size_t i = 0; i < n; i++)
		resp->images[resp->n_images++] = image_to_pb(v[i]);
	store_img_list_free(v, n);
	return 0;
}

static void json_add_strv(struct json_object *o, const char *key, char *const *v)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; v && v[i]; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	json_object_object_add(o, key, a);
}

/* verbose ImageStatus info: what berth knows about the image beyond the CRI fields */
static char *image_info_json(const struct store_img_meta *m)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(m->id));
	json_add_strv(o, "chainIDs", m->chain_ids);
	json_add_strv(o, "layerDigests", m->layer_digests);
	for (size_t i = 0; i < m->n_extra; i++)
		if (strcmp(m->extra[i].key, EXTRA_MANIFEST_DIGEST) == 0)
			json_object_object_add(o, "manifestDigest",
					       json_object_new_string(m->extra[i].value));
	struct json_object *cfg = json_object_new_object();
	if (m->user)
		json_object_object_add(cfg, "User", json_object_new_string(m->user));
	if (m->working_dir)
		json_object_object_add(cfg, "WorkingDir", json_object_new_string(m->working_dir));
	if (m->stop_signal)
		json_object_object_add(cfg, "StopSignal", json_object_new_string(m->stop_signal));
	json_add_strv(cfg, "Env", m->env);
	json_add_strv(cfg, "Entrypoint", m->entrypoint);
	json_add_strv(cfg, "Cmd", m->cmd);
	json_add_strv(cfg, "ExposedPorts", m->exposed_ports);
	json_add_strv(cfg, "Volumes", m->volumes);
	struct json_object *labels = json_object_new_object();
	for (size_t i = 0; i < m->n_labels; i++)
		json_object_object_add(labels, m->labels[i].key,
				       json_object_new_string(m->labels[i].value));
	json_object_object_add(cfg, "Labels", labels);
	json_object_object_add(o, "config", cfg);
	char *s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

int cri_image_status(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		     ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__ImageStatusRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	Runtime__V1__ImageStatusResponse *resp =
	    (void *)cri_msg_new(&runtime__v1__image_status_response__descriptor);
	*ret_resp = &resp->base;
	struct store_img *img = NULL;
	int r = image_find(b, in->image ? in->image->image : NULL, &img, err);
	if (r == -ENOENT) {
		/* CRI: an unknown image is an empty response, not an error */
		berr_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	resp->image = image_to_pb(img);
	if (in->verbose) {
		resp->info = xcalloc(1, sizeof(*resp->info));
		Runtime__V1__ImageStatusResponse__InfoEntry *e = (void *)cri_msg_new(
		    &runtime__v1__image_status_response__info_entry__descriptor);
		e->key = xstrdup("info");
		e->value = image_info_json(store_img_meta(img));
		resp->info[resp->n_info++] = e;
	}
	store_img_unref(img);
	return 0;
}

/* img_keep_fn: every blob and layer of every recorded image. */
static int keep_recorded(void *arg, char ***ret_blobs, char ***ret_chains, struct berr **err)
{
	struct berth *b = arg;
	struct store_img **v = NULL;
	size_t n = 0;
	int r = store_img_list(b->store, &v, &n, err);
	if (r < 0)
		return r;
	char **blobs = xcalloc(1, sizeof(char *)), **chains = xcalloc(1, sizeof(char *));
	size_t nb = 0, nc = 0;
	for (size_t i = 0; i < n; i++) {
		const struct store_img_meta *m = store_img_meta(v[i]);
		char *const id[] = {m->id, NULL};
		strv_extend(&blobs, &nb, id);
		strv_extend(&blobs, &nb, m->layer_digests);
		strv_extend(&chains, &nc, m->chain_ids);
		for (size_t k = 0; k < m->n_extra; k++) {
			if (strcmp(m->extra[k].key, EXTRA_BLOBS) != 0)
				continue;
			_cleanup_strv_ char **more = strv_split(m->extra[k].value, ',');
			strv_extend(&blobs, &nb, more);
		}
	}
	store_img_list_free(v, n);
	*ret_blobs = blobs;
	*ret_chains = chains;
	return 0;
}

/* -EBUSY when a container was created from image id or mounts it as a volume;
 * else the image record is deleted. */
static int delete_unused(struct berth *b, const char *id, struct berr **err)
{
	struct store_ctr **v = NULL;
	size_t n = 0;
	int r = store_ctr_list(b->store, NULL, &v, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++) {
		const struct store_ctr_meta *m = store_ctr_meta(v[i]);
		if (m->image_id && strcmp(m->image_id, id) == 0)
			r = berr_set(err, EBUSY, "image '%s' is used by container '%.12s'", id,
				     m->id);
		else if (cri_imgvol_ctr_uses(m, id))
			r = berr_set(err, EBUSY,
				     "image '%s' is mounted as a volume of container '%.12s'", id,
				     m->id);
	}
	store_ctr_list_free(v, n);
	return r < 0 ? r : store_img_delete(b->store, id, err);
}

int cri_remove_image(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		     ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__RemoveImageRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	const char *s = in->image ? in->image->image : NULL;
	struct store_img *img = NULL;
	int r = image_find(b, s, &img, err);
	if (r == -ENOENT) {
		/* CRI: removing an image that is gone already succeeds */
		berr_clear(err);
		*ret_resp = cri_msg_new(&runtime__v1__remove_image_response__descriptor);
		return 0;
	}
	if (r < 0)
		return r;
	_cleanup_free_ char *id = xstrdup(store_img_meta(img)->id);
	struct store_img_status st;
	store_img_status(img, &st);
	store_img_unref(img);
	_cleanup_free_ char *norm = NULL;
	(void)img_ref_normalize(s, &norm, NULL);
	size_t n_tags = 0;
	while (st.repo_tags && st.repo_tags[n_tags])
		n_tags++;
	bool by_tag = norm && strv_contains(st.repo_tags, norm);
	store_img_status_done(&st);
	if (by_tag && n_tags > 1) {
		/* one tag of several: the image stays with the others */
		r = store_img_untag(b->store, norm, err);
	} else {
		/* no image volume is acquired between the check and the delete */
		r = cri_imgvol_guard_remove(b, id, delete_unused, err);
		if (r == -ENOENT) /* removed concurrently */
			*err = berr_free(*err), r = 0;
		if (r >= 0) {
			unsigned nb = 0, nl = 0;
			struct berr *ge = NULL;
			if (img_gc(b->img, keep_recorded, b, &nb, &nl, &ge) < 0)
				log_warn("id=%.19s msg=\"%s, ignoring\"", id, berr_msg(ge));
			else
				log_info("id=%.19s blobs=%u layers=%u msg=\"removed image\"", id,
					 nb, nl);
			berr_free(ge);
		}
	}
	if (r < 0)
		return r;
	*ret_resp = cri_msg_new(&runtime__v1__remove_image_response__descriptor);
	return 0;
}

static Runtime__V1__FilesystemUsage *fs_usage_msg(int64_t ts, char *mountpoint, uint64_t bytes,
						  uint64_t inodes)
{
	Runtime__V1__FilesystemUsage *u =
	    (void *)cri_msg_new(&runtime__v1__filesystem_usage__descriptor);
	u->timestamp = ts;
	u->fs_id = (void *)cri_msg_new(&runtime__v1__filesystem_identifier__descriptor);
	u->fs_id->mountpoint = mountpoint;
	u->used_bytes = (void *)cri_msg_new(&runtime__v1__uint64_value__descriptor);
	u->used_bytes->value = bytes;
	u->inodes_used = (void *)cri_msg_new(&runtime__v1__uint64_value__descriptor);
	u->inodes_used->value = inodes;
	return u;
}

/* Image layers live in <state_dir>/image, containers' writable layers and bundles in
 * <state_dir>/containers: both are reported, each with the mount point it is on, so
 * kubelet sees one filesystem or a split image filesystem as it is. */
int cri_image_fs_info(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		      ProtobufCMessage **ret_resp, struct berr **err)
{
	int64_t now = time_now_ns();
	uint64_t bytes = 0, inodes = 0;
	_cleanup_free_ char *mountpoint = NULL;
	int r = img_usage(b->img, &bytes, &inodes, &mountpoint, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *cdir = xasprintf("%s/containers", b->cfg.state_dir);
	uint64_t cbytes = 0, cinodes = 0;
	struct berr *e = NULL;
	r = fileio_disk_usage(cdir, &cbytes, &cinodes, &e);
	if (r == -ENOENT) /* no container was ever created */
		e = berr_free(e), r = 0;
	if (r < 0)
		return berr_move(err, &e);
	Runtime__V1__ImageFsInfoResponse *resp =
	    (void *)cri_msg_new(&runtime__v1__image_fs_info_response__descriptor);
	resp->image_filesystems = xcalloc(1, sizeof(*resp->image_filesystems));
	resp->image_filesystems[resp->n_image_filesystems++] =
	    fs_usage_msg(now, TAKE_PTR(mountpoint), bytes, inodes);
	resp->container_filesystems = xcalloc(1, sizeof(*resp->container_filesystems));
	resp->container_filesystems[resp->n_container_filesystems++] =
	    fs_usage_msg(now, fileio_mountpoint(cdir, NULL), cbytes, cinodes);
	*ret_resp = &resp->base;
	return 0;
}
