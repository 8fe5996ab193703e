/* SPDX-License-Identifier: Apache-2.0 */
/* imgvol.c - image volumes (Mount.image): one prepared tree per image, shared
 * by every container mounting it, with the set of containers holding it.
 *
 * A tree lives at <run_dir>/imgvol/<hex of the image ID> while at least one
 * container holds it. The holders are the containers whose Create resolved the
 * image (from before the mount until their removal), so a tree never goes while
 * a container may still bind it, and the record of each container lists the
 * image IDs it holds (extra "image_volumes"), from which a restarted berthd
 * rebuilds the sets. State of a tree, guarded by the table mutex:
 *
 *   UNMOUNTED --acquire (first holder)--> BUSY --mount ok--> MOUNTED
 *       ^                                  |  (mount failed: UNMOUNTED)
 *       +------------- unmount ok -------- BUSY <--last holder released-- MOUNTED
 *
 * BUSY: one thread mounts or unmounts it with the mutex released; others wait
 * on the condition variable. RemoveImage checks the holders and deletes the
 * record under the same mutex, and acquire checks that the image is still
 * recorded under it, so an image is never deleted (and its layers collected)
 * under a tree that is being mounted. */
#define LOG_COMPONENT "cri"
#include "cri/imgvol.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/strv.h"
#include "cri/pod.h"

#define IMGVOL_DIR	"imgvol"
#define IMGVOL_MAX	64 /* image mounts of one container */
#define SUB_PATH_MAX	4096
#define RESOLVE_RETRIES 8

enum vol_state { VOL_UNMOUNTED, VOL_BUSY, VOL_MOUNTED };

struct vol {
	char *image_id; /* "sha256:<hex>" */
	char *target;	/* <run_dir>/imgvol/<hex> */
	char **holders; /* container IDs */
	size_t n;
	enum vol_state state;
};

struct cri_imgvols {
	pthread_mutex_t mu;
	pthread_cond_t cond; /* a BUSY tree changed state */
	struct vol **v;	     /* guarded by mu */
	size_t n;
};

struct cri_imgvols *cri_imgvols_new(void)
{
	struct cri_imgvols *t = xcalloc(1, sizeof(*t));
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cond, NULL);
	return t;
}

static void vol_free(struct vol *v)
{
	free(v->image_id);
	free(v->target);
	strv_free(v->holders);
	free(v);
}

struct cri_imgvols *cri_imgvols_free(struct cri_imgvols *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->n; i++)
		vol_free(t->v[i]);
	free(t->v);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->mu);
	free(t);
	return NULL;
}

static struct cri_imgvols *table_of(struct berth *b)
{
	return b->rt ? b->rt->imgvols : NULL;
}

/* ---- checks (pure) ---- */

static const char *propagation_name(Runtime__V1__MountPropagation p)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value(&runtime__v1__mount_propagation__descriptor, p);
	return v ? v->name : "unknown";
}

static int check_sub_path(const char *sub, const char *dst, struct berr **err)
{
	if (strlen(sub) > SUB_PATH_MAX)
		return berr_set(err, EINVAL, "image_sub_path of mount '%s' is too long (%zu > %d)",
				dst, strlen(sub), SUB_PATH_MAX);
	if (sub[0] == '/')
		return berr_set(err, EINVAL, "image_sub_path '%s' of mount '%s' must be relative",
				sub, dst);
	_cleanup_strv_ char **parts = strv_split(sub, '/');
	for (char **p = parts; *p; p++)
		if (strcmp(*p, "..") == 0)
			return berr_set(err, EINVAL,
					"image_sub_path '%s' of mount '%s' must not contain '..'",
					sub, dst);
	return 0;
}

static int check_mount(const Runtime__V1__Mount *m, struct berr **err)
{
	const char *dst = m->container_path ? m->container_path : "";
	const char *sub = m->image_sub_path ? m->image_sub_path : "";
	if (!m->image)
		return sub[0] ? berr_set(err, EINVAL,
					 "mount '%s' has an image_sub_path ('%s') but no image",
					 dst, sub)
			      : 0;
	if (dst[0] != '/')
		return berr_set(err, EINVAL, "image volume destination '%s' is not absolute", dst);
	if (!m->image->image || !m->image->image[0])
		return berr_set(err, EINVAL, "image volume '%s' names no image", dst);
	if (m->host_path && m->host_path[0])
		return berr_set(err, EINVAL, "image volume '%s' takes no host_path (got '%s')", dst,
				m->host_path);
	if (m->selinux_relabel)
		return berr_set(err, EINVAL,
				"image volume '%s': selinux_relabel is not supported for image "
				"volumes",
				dst);
	if (m->propagation != RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE)
		return berr_set(
		    err, EINVAL,
		    "image volume '%s': propagation must be PROPAGATION_PRIVATE, not %s", dst,
		    propagation_name(m->propagation));
	return sub[0] ? check_sub_path(sub, dst, err) : 0;
}

int cri_imgvol_check(const Runtime__V1__ContainerConfig *c, struct berr **err)
{
	size_t n = 0;
	for (size_t i = 0; i < c->n_mounts; i++) {
		int r = check_mount(c->mounts[i], err);
		if (r < 0)
			return r;
		n += c->mounts[i]->image != NULL;
	}
	if (n > IMGVOL_MAX)
		return berr_set(err, E2BIG, "too many image volumes (%zu > %d)", n, IMGVOL_MAX);
	return 0;
}

/* ---- sub paths ---- */

static char *fd_path(int fd)
{
	char link[64], buf[PATH_MAX];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, buf, sizeof(buf) - 1);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	return xstrdup(buf);
}

int cri_imgvol_resolve_sub(const char *tree, const char *sub, const char *what, char **ret,
			   struct berr **err)
{
	_cleanup_close_ int root = open(tree, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return berr_set_errno(err, errno, "open image tree '%s'", tree);
	/* The tree is read-only and immutable, so the path found here stays what it is
	 * when the runtime binds it. RESOLVE_BENEATH fails with EXDEV on any step out of
	 * the tree: "..", a symlink climbing out, an absolute symlink. */
	struct open_how how = {
	    .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	int fd = -1;
	for (int i = 0; i < RESOLVE_RETRIES; i++) {
		fd = (int)syscall(SYS_openat2, root, sub, &how, sizeof(how));
		if (fd >= 0 || errno != EAGAIN)
			break;
	}
	if (fd < 0) {
		switch (errno) {
		case EXDEV:
			return berr_set(err, EINVAL, "image_sub_path '%s' of %s escapes the image",
					sub, what);
		case ENOENT:
			return berr_set(err, EINVAL,
					"image_sub_path '%s' of %s does not exist in the image",
					sub, what);
		case ENOTDIR:
			return berr_set(err, EINVAL,
					"image_sub_path '%s' of %s is not a directory of the image",
					sub, what);
		case ELOOP:
			return berr_set(err, EINVAL,
					"image_sub_path '%s' of %s has too many symlinks", sub,
					what);
		default:
			return berr_set_errno(err, errno, "resolve image_sub_path '%s' of %s", sub,
					      what);
		}
	}
	_cleanup_close_ int sfd = fd;
	_cleanup_free_ char *top = fd_path(root);
	char *path = fd_path(sfd);
	size_t tl = top ? strlen(top) : 0;
	if (!top || !path || strncmp(path, top, tl) != 0 || (path[tl] != '/' && path[tl])) {
		free(path);
		return berr_set(err, EIO, "image_sub_path '%s' of %s: cannot name its directory",
				sub, what);
	}
	*ret = path;
	return 0;
}

/* ---- holders ---- */

static struct vol *vol_find(struct cri_imgvols *t, const char *image_id)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i]->image_id, image_id) == 0)
			return t->v[i];
	return NULL;
}

static struct vol *vol_get(struct berth *b, struct cri_imgvols *t, const char *image_id)
{
	struct vol *v = vol_find(t, image_id);
	if (v)
		return v;
	v = xcalloc(1, sizeof(*v));
	v->image_id = xstrdup(image_id);
	const char *hex = strncmp(image_id, "sha256:", 7) == 0 ? image_id + 7 : image_id;
	v->target = xasprintf("%s/%s/%s", b->cfg.run_dir, IMGVOL_DIR, hex);
	t->v = xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
	t->v[t->n++] = v;
	return v;
}

/* Frees v once nobody holds it and no tree is mounted there, with its empty dir
 * (one a reboot left unmounted). Under mu, so no acquire makes the dir meanwhile. */
static void vol_maybe_drop(struct cri_imgvols *t, struct vol *v)
{
	if (v->n > 0 || v->state != VOL_UNMOUNTED)
		return;
	(void)rmdir(v->target);
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i] != v)
			continue;
		memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*t->v));
		t->n--;
		break;
	}
	vol_free(v);
}

static void holder_add(struct vol *v, const char *ctr_id)
{
	if (!strv_contains(v->holders, ctr_id))
		strv_push(&v->holders, &v->n, ctr_id);
}

static bool holder_del(struct vol *v, const char *ctr_id)
{
	for (size_t i = 0; i < v->n; i++) {
		if (strcmp(v->holders[i], ctr_id) != 0)
			continue;
		free(v->holders[i]);
		memmove(&v->holders[i], &v->holders[i + 1], (v->n - i) * sizeof(char *));
		v->n--;
		return true;
	}
	return false;
}

static int tree_mount(struct berth *b, const struct store_img_meta *im, const char *target,
		      struct berr **err)
{
	int r = fileio_mkdir_p(target, 0700, err);
	if (r == 0)
		r = cri_ops_of(b)->rootfs_mount(b, im, NULL, target, true, err);
	if (r < 0)
		(void)rmdir(target);
	return r < 0 ? berr_wrap(err, "mount image '%s' for its volumes", im->id) : 0;
}

static int tree_unmount(struct berth *b, const char *target, struct berr **err)
{
	int r = cri_ops_of(b)->rootfs_unmount(target, err);
	if (r == 0 && rmdir(target) < 0 && errno != ENOENT)
		r = berr_set_errno(err, errno, "remove image volume dir '%s'", target);
	return r;
}

/* Makes ctr_id a holder of img's tree, mounting it if it is not; *ret_tree is its
 * path (caller frees). */
static int acquire(struct berth *b, struct store_img *img, const char *ctr_id, char **ret_tree,
		   struct berr **err)
{
	struct cri_imgvols *t = table_of(b);
	const struct store_img_meta *im = store_img_meta(img);
	if (!t)
		return berr_set(err, ENOSYS, "container runtime not initialised");
	pthread_mutex_lock(&t->mu);
	/* Still recorded? RemoveImage deletes under this mutex (cri_imgvol_guard_remove). */
	struct store_img *again = NULL;
	if (store_img_get(b->store, im->id, &again, NULL) < 0) {
		pthread_mutex_unlock(&t->mu);
		return berr_set(err, ENOENT, "image '%s' not found (removed meanwhile)", im->id);
	}
	store_img_unref(again);
	struct vol *v = vol_get(b, t, im->id);
	holder_add(v, ctr_id);
	while (v->state == VOL_BUSY)
		pthread_cond_wait(&t->cond, &t->mu);
	*ret_tree = xstrdup(v->target);
	if (v->state == VOL_MOUNTED) {
		pthread_mutex_unlock(&t->mu);
		return 0;
	}
	v->state = VOL_BUSY;
	pthread_mutex_unlock(&t->mu);

	int r = tree_mount(b, im, *ret_tree, err);

	pthread_mutex_lock(&t->mu);
	v->state = r == 0 ? VOL_MOUNTED : VOL_UNMOUNTED;
	if (r < 0)
		holder_del(v, ctr_id);
	pthread_cond_broadcast(&t->cond);
	vol_maybe_drop(t, v);
	pthread_mutex_unlock(&t->mu);
	if (r < 0)
		*ret_tree = (free(*ret_tree), NULL);
	return r;
}

int cri_imgvol_release(struct berth *b, const char *ctr_id, struct berr **err)
{
	struct cri_imgvols *t = table_of(b);
	if (!t)
		return 0;
	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->n; i++)
		holder_del(t->v[i], ctr_id);
	/* Every tree nobody holds goes, also one an earlier unmount failed to remove. */
	size_t n = 0;
	struct vol **todo = xcalloc(t->n + 1, sizeof(*todo));
	for (size_t i = 0; i < t->n; i++) {
		struct vol *v = t->v[i];
		if (v->n == 0 && v->state == VOL_MOUNTED) {
			v->state = VOL_BUSY;
			todo[n++] = v;
		}
	}
	for (size_t i = 0; i < t->n;) { /* holder-less entries with nothing mounted */
		size_t before = t->n;
		vol_maybe_drop(t, t->v[i]);
		i += t->n == before;
	}
	pthread_mutex_unlock(&t->mu);

	int r = 0;
	for (size_t i = 0; i < n; i++) {
		_cleanup_berr_ struct berr *e = NULL;
		int u = tree_unmount(b, todo[i]->target, &e);
		pthread_mutex_lock(&t->mu);
		/* A failed unmount stays MOUNTED: the next release (or start) tries again. */
		todo[i]->state = u == 0 ? VOL_UNMOUNTED : VOL_MOUNTED;
		pthread_cond_broadcast(&t->cond);
		vol_maybe_drop(t, todo[i]);
		pthread_mutex_unlock(&t->mu);
		if (u < 0 && r == 0)
			r = berr_move(err, &e);
	}
	free(todo);
	return r;
}

/* ---- prepare ---- */

static void plan_image(struct cri_imgvol_plan *p, char ***ids, size_t *n_ids, size_t i,
		       const Runtime__V1__Mount *m, char *src, const char *image_id)
{
	p->copies[i] = *m;
	p->copies[i].host_path = src;
	p->copies[i].readonly = true; /* forced, whatever was asked */
	p->sources[i] = src;
	p->mounts[i] = &p->copies[i];
	if (!strv_contains(*ids, image_id))
		strv_push(ids, n_ids, image_id);
	p->n_images++;
}

static int prepare_one(struct berth *b, const char *ctr_id, const Runtime__V1__Mount *m,
		       char **ret_src, char **ret_id, struct berr **err)
{
	const char *ref = m->image->image;
	struct store_img *img = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	int r = cri_ops_of(b)->image_resolve(b, ref, &img, &e);
	if (r == -ENOENT)
		return berr_set(err, ENOENT, "image '%s' of image volume '%s' not found", ref,
				m->container_path);
	if (r < 0)
		return berr_move(err, &e);
	_cleanup_free_ char *tree = NULL;
	r = acquire(b, img, ctr_id, &tree, err);
	if (r == 0) {
		_cleanup_free_ char *what =
		    xasprintf("image volume '%s' ('%s')", m->container_path, ref);
		const char *sub = m->image_sub_path ? m->image_sub_path : "";
		r = cri_imgvol_resolve_sub(tree, sub[0] ? sub : ".", what, ret_src, err);
	}
	if (r == 0)
		*ret_id = xstrdup(store_img_id(img));
	store_img_unref(img);
	return r;
}

int cri_imgvol_prepare(struct berth *b, const char *ctr_id, const Runtime__V1__ContainerConfig *c,
		       struct cri_imgvol_plan *ret, struct berr **err)
{
	struct cri_imgvol_plan *p = ret;
	*p = (struct cri_imgvol_plan){0};
	int r = cri_imgvol_check(c, err);
	if (r < 0)
		return r;
	bool any = false;
	for (size_t i = 0; i < c->n_mounts; i++)
		any |= c->mounts[i]->image != NULL;
	if (!any)
		return 0;
	p->copies = xcalloc(c->n_mounts, sizeof(*p->copies));
	p->mounts = xcalloc(c->n_mounts, sizeof(*p->mounts));
	p->sources = xcalloc(c->n_mounts + 1, sizeof(*p->sources));
	_cleanup_strv_ char **ids = NULL;
	size_t n_ids = 0;
	for (size_t i = 0; i < c->n_mounts && r == 0; i++) {
		const Runtime__V1__Mount *m = c->mounts[i];
		p->mounts[i] = (Runtime__V1__Mount *)m;
		if (!m->image)
			continue;
		char *src = NULL;
		_cleanup_free_ char *id = NULL;
		r = prepare_one(b, ctr_id, m, &src, &id, err);
		if (r == 0)
			plan_image(p, &ids, &n_ids, i, m, src, id);
	}
	p->config = *c;
	p->config.mounts = p->mounts;
	p->ids = strv_join(ids, ',');
	return r;
}

const Runtime__V1__ContainerConfig *cri_imgvol_config(const struct cri_imgvol_plan *p,
						      const Runtime__V1__ContainerConfig *c)
{
	return p->n_images > 0 ? &p->config : c;
}

void cri_imgvol_plan_done(struct cri_imgvol_plan *p)
{
	size_t n = p->config.n_mounts;
	for (size_t i = 0; p->sources && i < n; i++)
		free(p->sources[i]);
	free(p->sources);
	free(p->copies);
	free(p->mounts);
	free(p->ids);
	*p = (struct cri_imgvol_plan){0};
}

/* ---- records, RemoveImage, recovery ---- */

bool cri_imgvol_ctr_uses(const struct store_ctr_meta *m, const char *image_id)
{
	const char *ids = cri_ctr_extra(m, CRI_CTR_X_IMGVOLS);
	if (!ids)
		return false;
	_cleanup_strv_ char **v = strv_split(ids, ',');
	return strv_contains(v, image_id);
}

int cri_imgvol_guard_remove(struct berth *b, const char *image_id,
			    int (*fn)(struct berth *b, const char *image_id, struct berr **err),
			    struct berr **err)
{
	struct cri_imgvols *t = table_of(b);
	if (!t)
		return fn(b, image_id, err);
	pthread_mutex_lock(&t->mu);
	/* Holders without a record yet: containers being created. */
	struct vol *v = vol_find(t, image_id);
	int r = v && v->n > 0
		    ? berr_set(err, EBUSY, "image '%s' is mounted as a volume of container '%.12s'",
			       image_id, v->holders[0])
		    : fn(b, image_id, err);
	pthread_mutex_unlock(&t->mu);
	return r;
}

static bool is_mount_root(const char *path)
{
	struct statx sx;
	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC_STATS, &sx) <
	    0)
		return false;
	return (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	       (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

static void holders_from_records(struct berth *b, struct cri_imgvols *t, struct store_ctr **v,
				 size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct store_ctr_meta *m = store_ctr_meta(v[i]);
		const char *ids = cri_ctr_extra(m, CRI_CTR_X_IMGVOLS);
		_cleanup_strv_ char **list = ids ? strv_split(ids, ',') : NULL;
		for (char **id = list; id && *id; id++)
			holder_add(vol_get(b, t, *id), m->id);
	}
}

/* Trees under <run_dir>/imgvol that no record holds: left by a crash between a
 * mount and the record of its container, or between a removal's release and its
 * unmount. Runs at start, before serving, so unmounting under the mutex keeps
 * nobody waiting. */
static void sweep_stale(struct berth *b, struct cri_imgvols *t)
{
	_cleanup_free_ char *dir = xasprintf("%s/%s", b->cfg.run_dir, IMGVOL_DIR);
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *id = xasprintf("sha256:%s", de->d_name);
		if (vol_find(t, id))
			continue;
		_cleanup_free_ char *target = xasprintf("%s/%s", dir, de->d_name);
		_cleanup_berr_ struct berr *e = NULL;
		if (tree_unmount(b, target, &e) < 0)
			log_warn("msg=\"stale image volume '%s': %s, ignoring\"", target,
				 berr_msg(e));
		else
			log_info("msg=\"removed image volume '%s' no container holds\"", target);
	}
	closedir(d);
}

int cri_imgvol_recover(struct berth *b, struct berr **err)
{
	struct cri_imgvols *t = table_of(b);
	if (!t)
		return 0;
	struct store_ctr **v = NULL;
	size_t n = 0;
	int r = store_ctr_list(b->store, NULL, &v, &n, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&t->mu);
	holders_from_records(b, t, v, n);
	/* A tree of a running container is still mounted; after a reboot none is, and the
	 * next container to need one mounts it again. */
	for (size_t i = 0; i < t->n; i++)
		t->v[i]->state = is_mount_root(t->v[i]->target) ? VOL_MOUNTED : VOL_UNMOUNTED;
	sweep_stale(b, t);
	pthread_mutex_unlock(&t->mu);
	store_ctr_list_free(v, n);
	return 0;
}
