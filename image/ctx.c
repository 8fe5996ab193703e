/* SPDX-License-Identifier: Apache-2.0 */
/* ctx.c - the image context (root layout, registry settings, platform), garbage collection
 * of blobs and layers, and disk usage for ImageFsInfo. */
#include "image/image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "image/image-internal.h"

static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}
#define _cleanup_dir_ _cleanup_(closedirp)

static void host_platform(const char **arch, const char **variant)
{
	struct utsname u;
	*arch = "amd64";
	*variant = NULL;
	if (uname(&u) < 0)
		return;
	if (strcmp(u.machine, "aarch64") == 0) {
		*arch = "arm64";
		*variant = "v8";
	} else if (strncmp(u.machine, "armv7", 5) == 0) {
		*arch = "arm";
		*variant = "v7";
	} else if (strcmp(u.machine, "i686") == 0 || strcmp(u.machine, "i386") == 0) {
		*arch = "386";
	} else if (strcmp(u.machine, "x86_64") != 0) {
		*arch = u.machine; /* ppc64le, s390x, riscv64 match GOARCH */
	}
}

/* Removes leftovers of an interrupted pull (".tmp-*") in dir. */
static void remove_temps(const char *dir)
{
	_cleanup_dir_ DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, ".tmp-", 5) != 0)
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, de->d_name);
		struct berr *e = NULL;
		(void)fileio_remove_tree(p, &e);
		berr_free(e);
	}
}

/* <root>/version: the layout (blobs/sha256/<hex>, layers/<chain hex>/fs) is version 1. A
 * later layout bumps it and converts or refuses older roots; an unknown version is refused
 * rather than misread. */
#define LAYOUT_VERSION "1"

static int check_version(const char *root, struct berr **err)
{
	_cleanup_free_ char *p = xasprintf("%s/version", root);
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	struct berr *e = NULL;
	int r = fileio_read_all(p, 64, &data, &len, &e);
	if (r == -ENOENT) {
		berr_free(e);
		return fileio_write_atomic(p, LAYOUT_VERSION "\n", 2, 0600, err);
	}
	if (r < 0)
		return berr_move(err, &e);
	if (strcmp(data, LAYOUT_VERSION "\n") != 0)
		return berr_set(err, EINVAL, "image root '%s' has layout version '%.*s', want %s",
				root, (int)strcspn(data, "\n"), data, LAYOUT_VERSION);
	return 0;
}

int img_ctx_new(const struct img_opts *opts, struct img_ctx **ret, struct berr **err)
{
	if (!opts->root || opts->root[0] != '/')
		return berr_set(err, EINVAL, "image root must be an absolute path");
	int r = fileio_mkdir_p(opts->root, 0700, err);
	if (r < 0)
		return r;
	char real[PATH_MAX];
	if (!realpath(opts->root, real))
		return berr_set_errno(err, errno, "resolve image root '%s'", opts->root);
	struct img_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->root = xstrdup(real);
	ctx->blobs_dir = xasprintf("%s/blobs/sha256", real);
	ctx->layers_dir = xasprintf("%s/layers", real);
	pthread_mutex_init(&ctx->lock, NULL);
	pthread_mutex_init(&ctx->regs_lock, NULL);
	pthread_cond_init(&ctx->cond, NULL);
	if ((r = check_version(real, err)) < 0 ||
	    (r = fileio_mkdir_p(ctx->blobs_dir, 0700, err)) < 0 ||
	    (r = fileio_mkdir_p(ctx->layers_dir, 0700, err)) < 0) {
		img_ctx_free(ctx);
		return r;
	}
	_cleanup_free_ char *locks = xasprintf("%s/locks", real);
	if ((r = fileio_mkdir_p(locks, 0700, err)) < 0) {
		img_ctx_free(ctx);
		return r;
	}
	/* leftovers of pulls that died: only when no pull of any process is running, as a
	 * running one's temporaries look the same */
	struct berr *e = NULL;
	int lock = img_root_lock(ctx, LOCK_EX | LOCK_NB, &e);
	berr_free(e);
	if (lock >= 0) {
		remove_temps(ctx->blobs_dir);
		remove_temps(ctx->layers_dir);
		close(lock);
	}
	r = img_ctx_set_registries(ctx, opts->registries, opts->n_registries, err);
	if (r < 0) {
		img_ctx_free(ctx);
		return r;
	}
	const char *arch, *variant;
	host_platform(&arch, &variant);
	ctx->os = xstrdup(opts->platform_os ? opts->platform_os : "linux");
	ctx->arch = xstrdup(opts->platform_arch ? opts->platform_arch : arch);
	ctx->variant = xstrdup_null(opts->platform_arch ? opts->platform_variant : variant);
	ctx->parallel = opts->parallel ? opts->parallel : 3;
	ctx->progress = opts->progress;
	ctx->progress_arg = opts->progress_arg;
	*ret = ctx;
	return 0;
}

static void regs_free(struct img_registry_cfg *regs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(regs[i].host);
		strv_free(regs[i].mirrors);
	}
	free(regs);
}

int img_ctx_set_registries(struct img_ctx *ctx, const struct img_registry *registries, size_t n,
			   struct berr **err)
{
	struct img_registry_cfg *regs = xcalloc(n + 1, sizeof(*regs));
	for (size_t i = 0; i < n; i++) {
		const struct img_registry *g = &registries[i];
		struct img_registry_cfg *c = &regs[i];
		c->host = xstrdup(g->host);
		c->insecure = g->insecure;
		c->mirrors = xcalloc(g->n_mirrors + 1, sizeof(char *));
		for (size_t k = 0; k < g->n_mirrors; k++) {
			if (strncmp(g->mirrors[k], "http://", 7) != 0 &&
			    strncmp(g->mirrors[k], "https://", 8) != 0) {
				regs_free(regs, i + 1);
				return berr_set(
				    err, EINVAL,
				    "mirror '%s' of '%s' must start with http:// or https://",
				    g->mirrors[k], g->host);
			}
			c->mirrors[c->n_mirrors++] = xstrdup(g->mirrors[k]);
		}
	}
	pthread_mutex_lock(&ctx->regs_lock);
	struct img_registry_cfg *old = ctx->regs;
	size_t n_old = ctx->n_regs;
	ctx->regs = regs;
	ctx->n_regs = n;
	pthread_mutex_unlock(&ctx->regs_lock);
	regs_free(old, n_old);
	return 0;
}

struct img_ctx *img_ctx_free(struct img_ctx *ctx)
{
	if (!ctx)
		return NULL;
	regs_free(ctx->regs, ctx->n_regs);
	pthread_mutex_destroy(&ctx->regs_lock);
	for (size_t i = 0; i < ctx->n_inflight; i++) {
		free(ctx->inflight[i].key);
		safe_close(ctx->inflight[i].fd);
	}
	free(ctx->inflight);
	free(ctx->root);
	free(ctx->blobs_dir);
	free(ctx->layers_dir);
	free(ctx->os);
	free(ctx->arch);
	free(ctx->variant);
	pthread_mutex_destroy(&ctx->lock);
	pthread_cond_destroy(&ctx->cond);
	free(ctx);
	return NULL;
}

int img_root_lock(struct img_ctx *ctx, int op, struct berr **err)
{
	_cleanup_free_ char *p = xasprintf("%s/pull.lock", ctx->root);
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return berr_set_errno(err, errno, "open '%s'", p);
	int r;
	while ((r = flock(fd, op)) < 0 && errno == EINTR)
		;
	if (r < 0) {
		int e = errno;
		close(fd);
		return berr_set_errno(err, e, "lock '%s'", p);
	}
	return fd;
}

int img_layer_path(struct img_ctx *ctx, const char *chain_id, char **ret, struct berr **err)
{
	if (!img_digest_is_valid(chain_id))
		return berr_set(err, EINVAL, "bad chain id '%.80s'", chain_id);
	char *p = xasprintf("%s/%s/fs", ctx->layers_dir, chain_id + 7);
	if (access(p, F_OK) < 0) {
		int e = errno;
		free(p);
		return berr_set_errno(err, e, "layer '%s'", chain_id);
	}
	*ret = p;
	return 0;
}

static bool in_list(const char *const *list, const char *hex)
{
	for (; list && *list; list++)
		if (strlen(*list) == IMG_DIGEST_LEN && strcmp(*list + 7, hex) == 0)
			return true;
	return false;
}

/* Removes the entries of dir whose names (hex) are not in keep. */
static int gc_dir(const char *dir, const char *const *keep, unsigned *ret_n, struct berr **err)
{
	_cleanup_dir_ DIR *d = opendir(dir);
	if (!d)
		return berr_set_errno(err, errno, "open '%s'", dir);
	struct dirent *de;
	unsigned n = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || in_list(keep, de->d_name))
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, de->d_name);
		int r = fileio_remove_tree(p, err);
		if (r < 0)
			return r;
		n++;
	}
	if (ret_n)
		*ret_n = n;
	return 0;
}

int img_gc(struct img_ctx *ctx, img_keep_fn keep, void *arg, unsigned *ret_blobs,
	   unsigned *ret_layers, struct berr **err)
{
	/* a running pull, or a pulled image its caller has not recorded yet, has blobs that no
	 * keep list names: wait until they are gone, holding new pulls off meanwhile */
	pthread_mutex_lock(&ctx->lock);
	while (ctx->gc_active)
		pthread_cond_wait(&ctx->cond, &ctx->lock);
	ctx->gc_active = true;
	while (ctx->pins > 0)
		pthread_cond_wait(&ctx->cond, &ctx->lock);
	pthread_mutex_unlock(&ctx->lock);
	/* and for pulls of other processes on this root (a helper outliving its berthd) */
	int lock = img_root_lock(ctx, LOCK_EX, err);
	int r = lock;
	/* asked only now: every pulled image is recorded and no new pull can start */
	char **keep_blobs = NULL, **keep_chains = NULL;
	if (r >= 0)
		r = keep(arg, &keep_blobs, &keep_chains, err);
	if (r >= 0)
		r = gc_dir(ctx->blobs_dir, (const char *const *)keep_blobs, ret_blobs, err);
	if (r >= 0)
		r = gc_dir(ctx->layers_dir, (const char *const *)keep_chains, ret_layers, err);
	if (r >= 0) { /* no pull holds a blob's lock file now */
		_cleanup_free_ char *locks = xasprintf("%s/locks", ctx->root);
		r = gc_dir(locks, NULL, NULL, err);
	}
	safe_close(lock);
	strv_free(keep_blobs);
	strv_free(keep_chains);
	pthread_mutex_lock(&ctx->lock);
	ctx->gc_active = false;
	pthread_cond_broadcast(&ctx->cond);
	pthread_mutex_unlock(&ctx->lock);
	if (r < 0)
		berr_wrap(err, "image gc");
	return r;
}

int img_usage(struct img_ctx *ctx, uint64_t *ret_bytes, uint64_t *ret_inodes, char **ret_mountpoint,
	      struct berr **err)
{
	int r = fileio_disk_usage(ctx->root, ret_bytes, ret_inodes, err);
	if (r < 0)
		return berr_wrap(err, "image root '%s'", ctx->root);
	if (ret_mountpoint)
		*ret_mountpoint = fileio_mountpoint(ctx->root, NULL);
	return 0;
}
