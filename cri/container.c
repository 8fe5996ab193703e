/* SPDX-License-Identifier: Apache-2.0 */
/* container.c - CreateContainer and RemoveContainer (issue 6).
 *
 * Create builds, in this order, each step undone in reverse on any failure
 * (ctr_rollback), so a failed create leaves nothing:
 *   1. name reserved (store_ctr_reserve_name)
 *   2. bundle dir <run_dir>/c/<id> and rootfs mountpoint
 *   3. overlay rootfs (ops->rootfs_mount) with upper/work under
 *      <state_dir>/containers/<id>
 *   (the seccomp profile is read before 2; it leaves nothing to undo; image
 *   volumes are held and their trees mounted before 2, released by the teardown)
 *   4. user, mounts, devices resolved; config.json written atomically (not fsync'ed)
 *   5. berth-shim started: it runs `runc create` and holds the stdio
 *   6. record added (CREATED), keeping the reservation of 1
 *   7. the sandbox checked again (recheck_pod): a pod Stop/Remove that began
 *      meanwhile may have missed the container, so it is removed here
 *   8. an exit record already there (the init died before 6) committed
 * Remove kills what still runs, then runc delete, image volumes released,
 * unmount, dirs, exit record, store record. Both hold no lock while calling out (style §5): Remove
 * claims the container with the `removing` flag first. */
#define LOG_COMPONENT "cri"
#include "cri/pod.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fault.h"
#include "common/fileio.h"
#include "common/idmap.h"
#include "common/ids.h"
#include "common/log.h"
#include "cri/imgvol.h"
#include "shim/shim.h"
#include "cri/validate-internal.h"
#include "cri/obs.h"

#define CREATE_TIMEOUT_MS 240000
#define SHIM_EXIT_WAIT_MS 3000	/* rollback: how long to wait for the shim's record */
#define REMOVE_WAIT_MS	  30000 /* pod removal: how long another removal of a container may take */

struct ctr_plan {
	char id[ID_LEN + 1];
	char *name;
	bool name_reserved;
	char *bundle, *rootfs, *upper, *log_path, *cgroups_path, *stop_signal;
	bool bundle_made, upper_made, mounted, shim_tried, shim_started;
	struct shim_info shim;
	struct store_img *img;
	struct store_ctr *ctr; /* the record, once added */
	struct oci_runtime_handler h;
	struct cri_pod_info pod;
	struct oci_seccomp_profile seccomp;
	struct cri_imgvol_plan vols; /* image volumes (imgvol.c) */
};

static void plan_free(struct ctr_plan *p)
{
	free(p->name);
	free(p->bundle);
	free(p->rootfs);
	free(p->upper);
	free(p->log_path);
	free(p->cgroups_path);
	free(p->stop_signal);
	shim_info_done(&p->shim);
	store_img_unref(p->img);
	store_ctr_unref(p->ctr);
	cri_pod_info_done(&p->pod);
	oci_seccomp_profile_done(&p->seccomp);
	cri_imgvol_plan_done(&p->vols);
}

/* Waits (bounded) for the shim's exit record in the bundle: once it is there
 * the shim has stopped writing to the dir, so the dir can go. */
static void wait_shim_record(const char *bundle, int ms)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", bundle, SHIM_EXIT_FILE);
	int64_t deadline = time_mono_ns() + (int64_t)ms * 1000000;
	while (access(p, F_OK) != 0 && time_mono_ns() < deadline) {
		struct timespec ts = {0, 5 * 1000000};
		nanosleep(&ts, NULL);
	}
}

/* Teardown of the host side of a container: the runtime's container, the
 * rootfs mount, the dirs and the exit record. Every step is tried even after
 * one failed (the first error is returned) and each is idempotent, so Remove
 * can be retried and the rollback of Create shares it. A directory whose
 * mount could not be removed is kept. */
static int ctr_teardown(struct berth *b, const struct oci_runtime_handler *h, const char *id,
			const char *bundle, const char *rootfs, const char *upper, bool runtime,
			bool shim, struct berr **err)
{
	const struct cri_ops *ops = cri_ops_of(b);
	struct berr *first = NULL, *e = NULL;
	int r = 0;
	int64_t t0 = time_mono_ns();
	int dr = runtime ? ops->oci->delete (h, id, true, &e) : 0;
	if (runtime)
		cri_obs_oci(b, "delete", t0, dr);
	if (dr < 0) {
		berr_wrap(&e, "delete container '%.12s'", id);
		berr_move(&first, &e);
	}
	if (shim && bundle)
		wait_shim_record(bundle, SHIM_EXIT_WAIT_MS);
	/* The container no longer binds its image volumes: their trees may go. */
	if (cri_imgvol_release(b, id, &e) < 0 && !first)
		berr_move(&first, &e);
	bool unmounted = true;
	if (rootfs && ops->rootfs_unmount(rootfs, &e) < 0) {
		unmounted = false;
		if (!first)
			berr_move(&first, &e);
	}
	/* a user-namespaced container's idmapped layers and bind sources (ctr_idmap.c):
	 * under the bundle, which is only removed once none of them is mounted */
	_cleanup_free_ char *idmap = bundle ? xasprintf("%s/idmap", bundle) : NULL;
	if (idmap && unmounted && idmap_unbind_dir(idmap, &e) < 0) {
		unmounted = false;
		if (!first)
			berr_move(&first, &e);
	}
	if (upper && fileio_remove_tree(upper, &e) < 0 && !first)
		berr_move(&first, &e);
	if (bundle && unmounted && fileio_remove_tree(bundle, &e) < 0 && !first)
		berr_move(&first, &e);
	if (b->rt) {
		_cleanup_free_ char *rec = xasprintf("%s/%s", b->rt->exit_dir, id);
		if (unlink(rec) < 0 && errno != ENOENT && !first)
			berr_set_errno(&first, errno, "remove '%s'", rec);
	}
	berr_free(e);
	if (first) {
		r = -first->code;
		if (err)
			berr_move(err, &first);
		berr_free(first);
	}
	return r;
}

int cri_ctr_sweep_orphans(struct berth *b, struct berr **err)
{
	_cleanup_free_ char *cdir = xasprintf("%s/c", b->cfg.run_dir);
	_cleanup_free_ char *udir = xasprintf("%s/containers", b->cfg.state_dir);
	const char *const dirs[] = {cdir, udir};
	for (size_t k = 0; k < 2; k++) {
		DIR *d = opendir(dirs[k]);
		if (!d) {
			if (errno == ENOENT)
				continue;
			return berr_set_errno(err, errno, "open '%s'", dirs[k]);
		}
		struct dirent *de;
		while ((de = readdir(d))) {
			struct store_ctr *c = NULL;
			if (!id_is_valid(de->d_name) ||
			    store_ctr_get(b->store, de->d_name, &c, NULL) == 0) {
				store_ctr_unref(c);
				continue;
			}
			/* No record: a Create that died between its shim and its record.
			 * Which runtime ran it is not known: each configured one is asked. */
			const char *id = de->d_name;
			_cleanup_free_ char *bundle = xasprintf("%s/%s", cdir, id);
			_cleanup_free_ char *rootfs = xasprintf("%s/rootfs", bundle);
			_cleanup_free_ char *upper = xasprintf("%s/%s", udir, id);
			_cleanup_berr_ struct berr *e = NULL;
			for (size_t i = 0; i < b->cfg.n_runtimes; i++) {
				struct oci_runtime_handler h;
				if (cri_handler_of(b, b->cfg.runtimes[i].name, &h, NULL) == 0)
					(void)cri_ops_of(b)->oci->delete (&h, id, true, NULL);
			}
			struct oci_runtime_handler h;
			int r = cri_handler_of(b, NULL, &h, &e);
			if (r == 0)
				r = ctr_teardown(b, &h, id, bundle, rootfs, upper, false,
						 access(bundle, F_OK) == 0, &e);
			if (r < 0)
				log_warn("id=%.12s msg=\"remove what a dead create left: %s\"", id,
					 berr_msg(e));
			else
				log_info("id=%.12s msg=\"removed what a create cut short left\"",
					 id);
		}
		closedir(d);
	}
	return 0;
}

static void plan_rollback(struct berth *b, struct ctr_plan *p)
{
	(void)ctr_teardown(b, &p->h, p->id, p->bundle_made ? p->bundle : NULL,
			   p->mounted ? p->rootfs : NULL, p->upper_made ? p->upper : NULL,
			   p->shim_tried, p->shim_started, NULL);
	if (p->name_reserved)
		store_ctr_release_name(b->store, p->name, p->id);
}

static int check_create(const Runtime__V1__CreateContainerRequest *in, struct berr **err)
{
	const Runtime__V1__ContainerConfig *c = in->config;
	if (!in->pod_sandbox_id || !in->pod_sandbox_id[0])
		return berr_set(err, EINVAL, "pod sandbox id is empty");
	if (!c || !c->metadata || !c->metadata->name || !c->metadata->name[0])
		return berr_set(err, EINVAL, "container config needs metadata with a name");
	if (!c->image || !c->image->image || !c->image->image[0])
		return berr_set(err, EINVAL, "container config names no image");
	if (c->log_path && (c->log_path[0] == '/' || strstr(c->log_path, "..")))
		return berr_set(err, EINVAL, "log path '%s' must be relative without '..'",
				c->log_path);
	return 0;
}

/* A container runs in its pod's user namespace: kubelet sends the pod's
 * userns_options with each container; one that differs (or asks for one in a pod
 * without) is refused. None at all (crictl, older kubelets) takes the pod's. */
static int check_userns(const Runtime__V1__ContainerConfig *c, const struct cri_pod_info *pod,
			struct berr **err)
{
	const Runtime__V1__LinuxContainerSecurityContext *sc =
	    c->linux ? c->linux->security_context : NULL;
	const Runtime__V1__UserNamespace *u =
	    sc && sc->namespace_options ? sc->namespace_options->userns_options : NULL;
	const struct oci_sandbox_info *o = &pod->oci;
	bool pod_ns = o->userns_path != NULL;
	/* A mount's own mappings: berth idmaps every bind source of such a pod with the
	 * pod's mapping, and none elsewhere, so only that mapping is taken. */
	for (size_t i = 0; i < c->n_mounts; i++) {
		const Runtime__V1__Mount *m = c->mounts[i];
		if (!m->n_uidmappings && !m->n_gidmappings)
			continue;
		if (!pod_ns)
			return berr_set(err, EINVAL,
					"config.mounts[%zu].uidMappings/gidMappings: berth idmaps "
					"mounts only in a pod with a user namespace of its own",
					i);
		bool same = m->n_uidmappings == 1 && m->n_gidmappings == 1 &&
			    m->uidmappings[0]->container_id == 0 &&
			    m->uidmappings[0]->host_id == o->uid_host &&
			    m->uidmappings[0]->length == o->uid_len &&
			    m->gidmappings[0]->container_id == 0 &&
			    m->gidmappings[0]->host_id == o->gid_host &&
			    m->gidmappings[0]->length == o->gid_len;
		if (!same)
			return berr_set(
			    err, EINVAL,
			    "config.mounts[%zu].uidMappings/gidMappings differ from the "
			    "pod's (uids 0:%u:%u, gids 0:%u:%u), the only mapping berth "
			    "idmaps a mount with",
			    i, o->uid_host, o->uid_len, o->gid_host, o->gid_len);
	}
	if (!u)
		return 0;
	const char *f = "config.linux.security_context.namespace_options.userns_options";
	if (u->mode == RUNTIME__V1__NAMESPACE_MODE__NODE && pod_ns)
		return berr_set(err, EINVAL,
				"%s.mode NODE, but the pod has a user namespace of its own (POD)",
				f);
	if (u->mode != RUNTIME__V1__NAMESPACE_MODE__POD)
		return 0;
	if (!pod_ns)
		return berr_set(err, EINVAL,
				"%s.mode POD, but the pod shares the node's user namespace", f);
	if (u->uids[0]->host_id != o->uid_host || u->uids[0]->length != o->uid_len ||
	    u->gids[0]->host_id != o->gid_host || u->gids[0]->length != o->gid_len)
		return berr_set(err, EINVAL,
				"%s: mappings (uids 0:%u:%u, gids 0:%u:%u) differ from the pod's "
				"(0:%u:%u, 0:%u:%u)",
				f, u->uids[0]->host_id, u->uids[0]->length, u->gids[0]->host_id,
				u->gids[0]->length, o->uid_host, o->uid_len, o->gid_host,
				o->gid_len);
	return 0;
}

/* "SIGTERM" for the CRI stop signal, else the image's, else NULL. */
static char *stop_signal_of(const Runtime__V1__ContainerConfig *c, const struct store_img_meta *img)
{
	if (c->stop_signal != RUNTIME__V1__SIGNAL__SIGNAL_RUNTIME_DEFAULT) {
		const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
		    &runtime__v1__signal__descriptor, c->stop_signal);
		if (v && strncmp(v->name, "SIGNAL_", 7) == 0)
			return xstrdup(v->name + 7);
	}
	return img->stop_signal && img->stop_signal[0] ? xstrdup(img->stop_signal) : NULL;
}

static bool privileged_of(const Runtime__V1__ContainerConfig *c)
{
	return c->linux && c->linux->security_context && c->linux->security_context->privileged;
}

/* Steps 2-4: bundle, rootfs, config.json. */
static int plan_bundle(struct berth *b, struct ctr_plan *p, const Runtime__V1__ContainerConfig *c,
		       struct berr **err)
{
	const struct cri_ops *ops = cri_ops_of(b);
	const struct store_img_meta *im = store_img_meta(p->img);
	p->bundle = xasprintf("%s/c/%s", b->cfg.run_dir, p->id);
	p->rootfs = xasprintf("%s/rootfs", p->bundle);
	p->upper = xasprintf("%s/containers/%s", b->cfg.state_dir, p->id);
	int r = fileio_mkdir_p(p->rootfs, 0700, err);
	p->bundle_made = true; /* also a partial mkdir -p is removed */
	if (r < 0)
		return r;
	p->upper_made = true;
	r = fileio_mkdir_p(p->upper, 0700, err);
	if (r < 0)
		return r;
	_cleanup_close_ int userns_fd = -1;
	if (p->pod.userns_path) {
		/* The runtime's init mounts the rootfs and the bind sources as the pod's
		 * root, which is no one on the host: it must get through <run_dir>/c
		 * (searchable, as <run_dir> is) and the bundle and its idmap dir, which
		 * only root and the pod's root group may search (0710), so that no other
		 * host user reaches the idmapped mounts, and the pod can change neither. */
		_cleanup_free_ char *cdir = xasprintf("%s/c", b->cfg.run_dir);
		_cleanup_free_ char *idir = xasprintf("%s/idmap", p->bundle);
		gid_t g = (gid_t)p->pod.oci.gid_host;
		if (chmod(cdir, 0711) < 0 || chown(p->bundle, 0, g) < 0 ||
		    chmod(p->bundle, 0710) < 0 || mkdir(idir, 0710) < 0 || chown(idir, 0, g) < 0)
			return berr_set_errno(err, errno, "prepare '%s' for the pod's root",
					      p->bundle);
		userns_fd = open(p->pod.userns_path, O_RDONLY | O_CLOEXEC);
		if (userns_fd < 0)
			return berr_set_errno(err, errno, "open the pod's user namespace '%s'",
					      p->pod.userns_path);
		if (!ops->rootfs_mount_idmapped)
			return berr_set(err, EOPNOTSUPP, "no idmapped rootfs here");
		/* the overlay (target) and its idmapped layers under the bundle's idmap dir */
		_cleanup_free_ char *dir = xasprintf("%s/idmap", p->bundle);
		r = ops->rootfs_mount_idmapped(b, im, p->upper, p->rootfs, dir, userns_fd,
					       p->pod.oci.uid_host, p->pod.oci.gid_host, err);
	} else {
		r = ops->rootfs_mount(b, im, p->upper, p->rootfs, false, err);
	}
	if (r < 0)
		return berr_wrap(err, "mount rootfs of image '%s'", im->id);
	p->mounted = true;

	const Runtime__V1__LinuxContainerSecurityContext *sc =
	    c->linux ? c->linux->security_context : NULL;
	_cleanup_(oci_user_done) struct oci_user user = {0};
	const Runtime__V1__LinuxPodSandboxConfig *pl = p->pod.config ? p->pod.config->linux : NULL;
	bool pod_strict = pl && pl->security_context &&
			  pl->security_context->supplemental_groups_policy ==
			      RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict;
	r = oci_user_resolve(&(struct oci_user_request){p->rootfs, sc, im->user, pod_strict}, &user,
			     err);
	if (r < 0)
		return r;
	r = oci_mounts_validate(c, NULL, err);
	if (r < 0)
		return r;
	const struct oci_sandbox_info *sb = &p->pod.oci;
	_cleanup_(cri_ctr_idmap_done) struct cri_ctr_idmap idm = {0};
	if (userns_fd >= 0) {
		_cleanup_free_ char *dir = xasprintf("%s/idmap", p->bundle);
		r = cri_ctr_idmap_prepare(dir, userns_fd, c, sb, &idm, err);
		if (r < 0)
			return r;
		c = &idm.config;
		sb = &idm.sb;
	}
	struct oci_device *dev = NULL;
	size_t n_dev = 0;
	r = oci_devices_resolve(c, privileged_of(c), &dev, &n_dev, err);
	if (r < 0)
		return r;
	struct oci_runtime_opts opts = b->rt->opts;
	opts.rootfs = p->rootfs;
	struct oci_image_config ic = {im->user, im->env,	 im->entrypoint,
				      im->cmd,	im->working_dir, im->stop_signal};
	_cleanup_free_ char *json = NULL;
	r = oci_spec_build(&(struct oci_spec_input){p->id, c, p->pod.config, sb, &ic, &opts, &user,
						    dev, n_dev, &p->seccomp},
			   &json, err);
	oci_devices_free(dev, n_dev);
	if (r < 0)
		return r;
	r = oci_cgroups_path(opts.cgroup_driver, p->pod.oci.cgroup_parent, p->id, &p->cgroups_path,
			     err);
	if (r < 0)
		return r;
	/* Atomic (runc never reads half a file) but not fsync'ed: the bundle lives under the
	 * run dir (tmpfs by default) and is read by `runc create` right after this, and by
	 * ExecSync and verbose ContainerStatus while the container lives. A berthd crash
	 * leaves it intact in the page cache; a machine crash kills the container, and the
	 * durable record (step 6, fsync'ed by the store) then says so: a bad or missing
	 * config.json after a reboot only costs ContainerStatus its runtimeSpec. This saves
	 * two fsyncs (file and dir, ~1 ms on ext4, more under load) per create. */
	_cleanup_free_ char *cfg = xasprintf("%s/config.json", p->bundle);
	return fileio_write_atomic_nosync(cfg, json, strlen(json), 0600, err);
}

/* Step 5: berth-shim runs `runtime create` with the argv oci/ builds. */
static int plan_shim(struct berth *b, struct ctr_plan *p, const Runtime__V1__ContainerConfig *c,
		     struct berr **err)
{
	const struct cri_ops *ops = cri_ops_of(b);
	_cleanup_free_ char *rt_log = xasprintf("%s/log.json", p->bundle);
	struct oci_runtime_args a = {
	    .cmd = OCI_RUNTIME_CMD_CREATE, .id = p->id, .bundle = p->bundle, .log_path = rt_log};
	_cleanup_strv_ char **argv = ops->oci->create_argv(&p->h, &a, err);
	if (!argv)
		return -(*err)->code;
	/* The shim adds "create --bundle ... ID" itself: hand it the global part. */
	size_t n = 0;
	while (argv[n] && strcmp(argv[n], "create") != 0)
		n++;
	if (n == 0)
		return berr_set(err, EINVAL, "runtime create argv has no 'create'");
	_cleanup_free_ const char **global = xcalloc(n, sizeof(char *));
	for (size_t i = 1; i < n; i++)
		global[i - 1] = argv[i];
	const char *log_dir = p->pod.meta->log_directory;
	if (log_dir && log_dir[0] && c->log_path && c->log_path[0])
		p->log_path = xasprintf("%s/%s", log_dir, c->log_path);
	else
		p->log_path = xstrdup("/dev/null");
	struct shim_opts so = {
	    .shim_path = b->rt->shim_path,
	    .id = p->id,
	    .bundle = p->bundle,
	    .runtime = argv[0],
	    .runtime_args = global,
	    .log_path = p->log_path,
	    .exit_dir = b->rt->exit_dir,
	    .state_dir = p->bundle,
	    .terminal = c->tty,
	    .open_stdin = c->stdin,
	    .stdin_once = c->stdin_once,
	    .timeout_ms = CREATE_TIMEOUT_MS,
	};
	p->shim_tried = true; /* a failed create may leave a half-made container */
	int64_t t0 = time_mono_ns();
	int r = ops->shim_start(&so, &p->shim, err);
	cri_obs_oci(b, "create", t0, r); /* the shim runs `runtime create` */
	if (r < 0)
		return cri_runtime_failure(r, err);
	p->shim_started = true;
	return 0;
}

/* Step 6: the record. */
static int plan_record(struct berth *b, struct ctr_plan *p,
		       const Runtime__V1__CreateContainerRequest *in, struct berr **err)
{
	const Runtime__V1__ContainerConfig *c = in->config;
	struct store_ctr_meta m = {0};
	m.id = p->id;
	m.name = p->name;
	m.sandbox_id = (char *)p->pod.meta->id;
	m.metadata.name = c->metadata->name;
	m.metadata.attempt = c->metadata->attempt;
	size_t len = protobuf_c_message_get_packed_size(&c->base);
	_cleanup_free_ void *packed = xmalloc(len ? len : 1);
	protobuf_c_message_pack(&c->base, packed);
	m.config = (struct store_bytes){packed, len};
	m.image_ref = c->image->image;
	m.image_id = (char *)store_img_id(p->img);
	m.log_path = p->log_path;
	m.bundle_dir = p->bundle;
	m.rootfs_path = p->rootfs;
	m.stop_signal = p->stop_signal;
	m.runtime_handler = p->pod.meta->runtime_handler;
	m.created_at = time_now_ns();
	_cleanup_free_ struct store_kv *labels = NULL, *annotations = NULL;
	cri_kv_from_entries(c->labels, c->n_labels, &labels, &m.n_labels);
	cri_kv_from_entries(c->annotations, c->n_annotations, &annotations, &m.n_annotations);
	m.labels = labels;
	m.annotations = annotations;
	struct store_kv extra[] = {
	    {CRI_CTR_X_UPPER, p->upper},
	    {CRI_CTR_X_CGROUP, p->cgroups_path},
	    {CRI_CTR_X_TTY, c->tty ? "1" : "0"},
	    {CRI_CTR_X_IMGVOLS, p->vols.ids},
	};
	m.extra = extra;
	m.n_extra = sizeof(extra) / sizeof(extra[0]) - !p->vols.ids; /* the last: volumes only */
	Runtime__V1__LinuxContainerResources *res = c->linux ? c->linux->resources : NULL;
	_cleanup_free_ void *rp = NULL;
	struct store_ctr_status st = {
	    .pid = p->shim.container_pid,
	    .created_at = m.created_at,
	    .shim_pid = p->shim.shim_pid,
	    .shim_socket = p->shim.ctl_path,
	};
	if (res) {
		/* As the spec has them: oom_score_adj clamped (the base of later updates). */
		Runtime__V1__LinuxContainerResources *eff =
		    oci_resources_merge(NULL, res, b->rt->opts.oom_score_adj_min);
		size_t rl = protobuf_c_message_get_packed_size(&eff->base);
		rp = xmalloc(rl ? rl : 1);
		protobuf_c_message_pack(&eff->base, rp);
		st.resources = (struct store_bytes){rp, rl};
		protobuf_c_message_free_unpacked(&eff->base, NULL);
	}
	return store_ctr_add(b->store, &m, &st, &p->ctr, err);
}

static bool ctr_is_removing(struct store_ctr *c)
{
	struct store_ctr_status st;
	store_ctr_status(c, &st);
	bool removing = st.removing;
	store_ctr_status_done(&st);
	return removing;
}

/* A sandbox takes new containers while READY and not claimed by a Stop or
 * Remove (a NOTREADY one under the stopping claim is still being Run). */
static int pod_accepts(const struct store_sb_status *st, const char *sandbox_id, struct berr **err)
{
	if (st->removing)
		return berr_set(err, EBUSY, "pod sandbox '%s' is being removed", sandbox_id);
	if (st->state == STORE_SB_READY && st->stopping)
		return berr_set(err, EBUSY, "pod sandbox '%s' is being stopped", sandbox_id);
	if (st->state != STORE_SB_READY)
		return berr_set(err, EBUSY, "pod sandbox '%s' is not ready", sandbox_id);
	return 0;
}

/* After the record is added: is the sandbox still taking containers? Stop and
 * Remove claim the sandbox before they list its containers, and this looks at
 * the claim after the record is in the store, so one of the two sees the
 * other: either their list has this container (they stop or remove it), or
 * this check sees their claim and the container is removed here. Both may
 * happen; a removal already under way elsewhere is fine. */
static int recheck_pod(struct berth *b, struct ctr_plan *p, const char *sandbox_id,
		       struct berr **err)
{
	struct store_sb_status st;
	store_sb_status(p->pod.sb, &st);
	int r = pod_accepts(&st, sandbox_id, err);
	store_sb_status_done(&st);
	if (r == 0)
		return 0;
	_cleanup_berr_ struct berr *e = NULL;
	int rr = cri_ctr_remove(b, NULL, p->ctr, &e);
	if (rr < 0 && !(rr == -EBUSY && ctr_is_removing(p->ctr)) && err) {
		_cleanup_free_ char *msg = xstrdup(berr_msg(*err));
		*err = berr_free(*err);
		berr_set(err, EBUSY, "%s; removing the new container failed: %s", msg, berr_msg(e));
	}
	return r;
}

int cri_create_container(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			 ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__CreateContainerRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	const Runtime__V1__ContainerConfig *c = in->config;
	if (!b->rt) /* cri_runtime_init() not run: a test's bare struct berth */
		return berr_set(err, ENOSYS, "container runtime not initialised");
	int r = check_create(in, err);
	if (r < 0)
		return r;
	struct ctr_plan p = {0};
	r = cri_pod_info_load(b, in->pod_sandbox_id, &p.pod, err);
	if (r < 0)
		return r;
	r = pod_accepts(&p.pod.st, in->pod_sandbox_id, err);
	if (r == 0)
		r = check_userns(c, &p.pod, err);
	if (r < 0)
		goto out;
	r = id_generate(p.id, err);
	if (r < 0)
		goto out;
	const struct store_sb_meta *sm = p.pod.meta;
	p.name = store_ctr_name_build(c->metadata->name, sm->metadata.name, sm->metadata.namespace,
				      sm->metadata.uid, c->metadata->attempt);
	r = store_ctr_reserve_name(b->store, p.name, p.id, err);
	if (r == 0)
		r = BERTH_FAULT_POINT("create.reserved", err);
	if (r < 0)
		goto out;
	p.name_reserved = true;
	r = cri_handler_of(b, sm->runtime_handler, &p.h, err);
	if (r == 0) {
		_cleanup_berr_ struct berr *e = NULL;
		r = cri_ops_of(b)->image_resolve(b, c->image->image, &p.img, &e);
		if (r == -ENOENT)
			r = berr_set(err, ENOENT, "image '%s' not found", c->image->image);
		else if (r < 0)
			berr_move(err, &e);
	}
	/* Before anything is made on disk: a missing or bad profile leaves nothing. */
	if (r == 0)
		r = oci_seccomp_profile_load(c->linux ? c->linux->security_context : NULL,
					     b->cfg.seccomp_profile, &p.seccomp, err);
	/* Image volumes: their trees mounted (or shared) and this container a holder;
	 * the rollback's teardown releases them. */
	if (r == 0)
		r = cri_imgvol_prepare(b, p.id, c, &p.vols, err);
	if (r == 0) {
		p.stop_signal = stop_signal_of(c, store_img_meta(p.img));
		r = plan_bundle(b, &p, cri_imgvol_config(&p.vols, c), err);
		if (r == 0)
			r = BERTH_FAULT_POINT("create.mounted", err);
	}
	if (r == 0)
		r = plan_shim(b, &p, c, err);
	if (r == 0)
		r = BERTH_FAULT_POINT("create.shim", err);
	if (r == 0)
		r = cri_call_check(call, err);
	if (r == 0)
		r = plan_record(b, &p, in, err);
	if (r == 0)
		r = BERTH_FAULT_POINT("create.recorded", err);
	/* Announced once its record is in: a removal by the check below (or an
	 * exit committed meanwhile) follows it in the stream. */
	if (r == 0)
		cri_event_emit(b, p.pod.meta->id, p.id, CRI_EV_CREATED);
	if (r == 0)
		r = recheck_pod(b, &p, in->pod_sandbox_id, err);
	/* An init that died after `runtime create` (killed from outside) had its
	 * exit record written before the record above existed, and the monitor
	 * skips IDs it doesn't know: commit it now. Any later record is the
	 * monitor's. */
	if (r == 0)
		(void)cri_ctr_commit_exit(b, p.ctr, NULL);
	if (r < 0) {
		if (!p.ctr)
			plan_rollback(b, &p);
		berr_wrap(err, "create container '%s' in pod '%.12s'", c->metadata->name,
			  in->pod_sandbox_id);
		goto out;
	}
	Runtime__V1__CreateContainerResponse *resp =
	    (void *)cri_msg_new(&runtime__v1__create_container_response__descriptor);
	resp->container_id = xstrdup(p.id);
	*ret_resp = &resp->base;
out:
	plan_free(&p);
	return r;
}

/* ---- remove ---- */

static int removing_fn(struct store_ctr_status *st, void *arg, struct berr **err)
{
	bool set = *(bool *)arg;
	if (set && st->starting)
		return berr_set(err, EBUSY, "container is starting");
	if (set && st->removing)
		return berr_set(err, EBUSY, "container is being removed");
	st->removing = set;
	return 0;
}

int cri_ctr_remove(struct berth *b, struct cri_call *call, struct store_ctr *c, struct berr **err)
{
	const struct store_ctr_meta *m = store_ctr_meta(c);
	bool set = true;
	int r = store_ctr_update(b->store, c, removing_fn, &set, err);
	if (r < 0)
		return r;
	struct store_ctr_status st;
	store_ctr_status(c, &st);
	bool running = st.finished_at == 0 && !st.unknown;
	/* A shim still alive (e.g. after a failed start) is about to write its
	 * records into the bundle and the exit dir: wait for them before removing. */
	bool shim_alive = st.shim_pid > 0 && kill(st.shim_pid, 0) == 0;
	store_ctr_status_done(&st);
	/* Force-stop: a running container gets SIGKILL and its exit is recorded
	 * first, so the status (and OOM count) is right if the removal fails later. */
	if (running)
		r = cri_ctr_stop(b, call, c, 0, err);
	struct oci_runtime_handler h;
	if (r == 0)
		r = cri_handler_of(b, m->runtime_handler, &h, err);
	if (r == 0)
		r = BERTH_FAULT_POINT("remove.stopped", err);
	if (r == 0)
		r = ctr_teardown(b, &h, m->id, m->bundle_dir, m->rootfs_path,
				 cri_ctr_extra(m, CRI_CTR_X_UPPER), true, shim_alive, err);
	if (r == 0)
		r = BERTH_FAULT_POINT("remove.torn_down", err);
	if (r == 0) {
		r = store_ctr_delete(b->store, m->id, err);
		if (r == 0)
			cri_event_emit(b, m->sandbox_id, m->id, CRI_EV_DELETED);
		if (r == -ENOENT) { /* a concurrent Remove won (and announced it) */
			if (err)
				*err = berr_free(*err);
			r = 0;
		}
	}
	if (r < 0) {
		_cleanup_berr_ struct berr *e = NULL;
		set = false;
		(void)store_ctr_update(b->store, c, removing_fn, &set, &e);
	}
	return r;
}

int cri_remove_container(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			 ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__RemoveContainerRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	struct store_ctr *c = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	int r = store_ctr_get(b->store, in->container_id ? in->container_id : "", &c, &e);
	if (r == -ENOENT) {
		/* CRI: removing a container that doesn't exist is not an error. */
		*ret_resp = cri_msg_new(&runtime__v1__remove_container_response__descriptor);
		return 0;
	}
	if (r < 0)
		return berr_move(err, &e);
	r = cri_ctr_remove(b, call, c, err);
	if (r < 0)
		berr_wrap(err, "remove container '%s'", in->container_id);
	store_ctr_unref(c);
	if (r == 0)
		*ret_resp = cri_msg_new(&runtime__v1__remove_container_response__descriptor);
	return r;
}

/* Removes c; when someone else is removing it already (a Create undoing itself
 * after it saw the sandbox's claim), waits until that removal ends and takes
 * over if it failed. */
static int ctr_remove_or_wait(struct berth *b, struct cri_call *call, struct store_ctr *c,
			      struct berr **err)
{
	int64_t deadline = time_mono_ns() + (int64_t)REMOVE_WAIT_MS * 1000000;
	for (;;) {
		_cleanup_berr_ struct berr *e = NULL;
		int r = cri_ctr_remove(b, call, c, &e);
		if (r == 0 || r != -EBUSY || !ctr_is_removing(c))
			return r < 0 ? berr_move(err, &e) : 0;
		struct store_ctr *again = NULL;
		if (store_ctr_get(b->store, store_ctr_id(c), &again, NULL) == -ENOENT)
			return 0; /* the other removal is done */
		store_ctr_unref(again);
		r = call ? cri_call_check(call, err) : 0;
		if (r < 0)
			return r;
		if (time_mono_ns() > deadline)
			return berr_move(err, &e);
		struct timespec ts = {0, 10 * 1000000};
		nanosleep(&ts, NULL);
	}
}

int cri_ctr_stop_all(struct berth *b, struct cri_call *call, const char *sandbox_id, bool remove,
		     struct berr **err)
{
	struct store_ctr_filter f = {.sandbox_id = sandbox_id};
	struct store_ctr **v = NULL;
	size_t n = 0;
	int r = store_ctr_list(b->store, &f, &v, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r == 0; i++) {
		/* The filter also matches sandbox ID prefixes: only this sandbox's. */
		if (strcmp(store_ctr_meta(v[i])->sandbox_id, sandbox_id) != 0)
			continue;
		r = remove ? ctr_remove_or_wait(b, call, v[i], err)
			   : cri_ctr_stop(b, call, v[i], 0, err);
		if (r < 0)
			berr_wrap(err, "%s container '%.12s'", remove ? "remove" : "stop",
				  store_ctr_id(v[i]));
	}
	store_ctr_list_free(v, n);
	return r;
}
