/* SPDX-License-Identifier: Apache-2.0 */
/* blobs.c - the content store: blobs/sha256/<hex>, verified while written, renamed into place. */
#include "image/image-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"

char *img_blob_path(struct img_ctx *ctx, const char *digest)
{
	return xasprintf("%s/%s", ctx->blobs_dir, digest + 7);
}

uint64_t img_inflight_bytes(struct img_ctx *ctx)
{
	DIR *d = opendir(ctx->blobs_dir);
	if (!d)
		return 0;
	uint64_t sum = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		/* the temp files of img_blob_writer_open(), renamed or removed at the end */
		if (strncmp(de->d_name, ".tmp-", 5) == 0 &&
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode))
			sum += (uint64_t)st.st_size;
	}
	closedir(d);
	return sum;
}

bool img_blob_exists(struct img_ctx *ctx, const char *digest)
{
	_cleanup_free_ char *p = img_blob_path(ctx, digest);
	return access(p, F_OK) == 0;
}

int img_blob_writer_open(struct img_ctx *ctx, const char *digest, struct img_blob_writer *w,
			 struct berr **err)
{
	*w = (struct img_blob_writer){.fd = -1};
	if (!img_digest_is_valid(digest))
		return berr_set(err, EINVAL, "bad digest '%.80s'", digest);
	w->tmp_path = xasprintf("%s/.tmp-%.16s-XXXXXX", ctx->blobs_dir, digest + 7);
	w->fd = mkostemp(w->tmp_path, O_CLOEXEC);
	if (w->fd < 0) {
		int e = errno;
		free(w->tmp_path);
		w->tmp_path = NULL;
		return berr_set_errno(err, e, "create blob temp file in '%s'", ctx->blobs_dir);
	}
	w->path = img_blob_path(ctx, digest);
	memcpy(w->digest, digest, IMG_DIGEST_LEN + 1);
	w->h = img_hasher_new();
	return 0;
}

int img_blob_writer_write(struct img_blob_writer *w, const void *data, size_t len,
			  struct berr **err)
{
	img_hasher_update(w->h, data, len);
	w->n += len;
	int r = fileio_write_all(w->fd, data, len);
	if (r < 0)
		return berr_set_errno(err, -r, "write blob '%s'", w->digest);
	return 0;
}

void img_blob_writer_abort(struct img_blob_writer *w)
{
	if (w->tmp_path)
		(void)unlink(w->tmp_path);
	w->fd = safe_close(w->fd);
	free(w->tmp_path);
	free(w->path);
	w->h = img_hasher_free(w->h);
	w->tmp_path = w->path = NULL;
}

int img_blob_writer_commit(struct img_blob_writer *w, uint64_t size, struct berr **err)
{
	char got[IMG_DIGEST_LEN + 1];
	img_hasher_finish(w->h, got);
	w->h = NULL;
	int r = 0;
	if (size && w->n != size)
		r = berr_set(err, EPROTO, "blob '%s': size mismatch (got %llu, manifest says %llu)",
			     w->digest, (unsigned long long)w->n, (unsigned long long)size);
	else if (strcmp(got, w->digest) != 0)
		r = berr_set(err, EPROTO, "blob '%s': digest mismatch (got '%s')", w->digest, got);
	else if (fdatasync(w->fd) < 0)
		r = berr_set_errno(err, errno, "sync blob '%s'", w->digest);
	else if (fchmod(w->fd, 0644) < 0 || rename(w->tmp_path, w->path) < 0)
		r = berr_set_errno(err, errno, "store blob '%s'", w->digest);
	else {
		free(w->tmp_path);
		w->tmp_path = NULL;
	}
	img_blob_writer_abort(w);
	return r;
}

int img_blob_put(struct img_ctx *ctx, const char *digest, const void *data, size_t len,
		 struct berr **err)
{
	struct img_blob_writer w;
	int r = img_blob_writer_open(ctx, digest, &w, err);
	if (r < 0)
		return r;
	r = img_blob_writer_write(&w, data, len, err);
	if (r < 0) {
		img_blob_writer_abort(&w);
		return r;
	}
	return img_blob_writer_commit(&w, len, err);
}

int img_blob_read(struct img_ctx *ctx, const char *digest, size_t max, char **ret, size_t *ret_len,
		  struct berr **err)
{
	_cleanup_free_ char *p = img_blob_path(ctx, digest);
	return fileio_read_all(p, max, ret, ret_len, err);
}

static ssize_t inflight_find(struct img_ctx *ctx, const char *key)
{
	for (size_t i = 0; i < ctx->n_inflight; i++)
		if (strcmp(ctx->inflight[i].key, key) == 0)
			return (ssize_t)i;
	return -1;
}

void img_pin(struct img_ctx *ctx)
{
	pthread_mutex_lock(&ctx->lock);
	while (ctx->gc_active)
		pthread_cond_wait(&ctx->cond, &ctx->lock);
	ctx->pins++;
	pthread_mutex_unlock(&ctx->lock);
}

void img_unpin(struct img_ctx *ctx)
{
	pthread_mutex_lock(&ctx->lock);
	ctx->pins--;
	pthread_cond_broadcast(&ctx->cond);
	pthread_mutex_unlock(&ctx->lock);
}

#define CLAIM_RETRY_MS 50

/* Takes the lock file of key, waiting (and watching cancel) while another process holds it.
 * That only happens while two pulls fetch the same blob, so a short sleep between tries
 * costs nothing the rest of the time. */
static int claim_file(struct img_ctx *ctx, const char *key, const atomic_bool *cancel, int *ret_fd,
		      struct berr **err)
{
	const char *hex = strchr(key, ':');
	_cleanup_free_ char *path = xasprintf("%s/locks/%s", ctx->root, hex ? hex + 1 : key);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return berr_set_errno(err, errno, "open lock '%s'", path);
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			int e = errno;
			close(fd);
			return berr_set_errno(err, e, "lock '%s'", path);
		}
		if (cancel && atomic_load(cancel)) {
			close(fd);
			return berr_set(err, ECANCELED, "pull cancelled");
		}
		struct timespec ts = {0, CLAIM_RETRY_MS * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	*ret_fd = fd;
	return 0;
}

int img_inflight_claim(struct img_ctx *ctx, const char *key, const atomic_bool *cancel,
		       struct berr **err)
{
	pthread_mutex_lock(&ctx->lock);
	while (inflight_find(ctx, key) >= 0)
		pthread_cond_wait(&ctx->cond, &ctx->lock);
	if (ctx->n_inflight == ctx->cap_inflight) {
		ctx->cap_inflight = ctx->cap_inflight ? 2 * ctx->cap_inflight : 16;
		ctx->inflight =
		    xreallocarray(ctx->inflight, ctx->cap_inflight, sizeof(*ctx->inflight));
	}
	ctx->inflight[ctx->n_inflight++] = (struct img_claim){.key = xstrdup(key), .fd = -1};
	pthread_mutex_unlock(&ctx->lock);
	/* other threads wanting key wait above; this one alone waits for other processes */
	int fd = -1;
	int r = claim_file(ctx, key, cancel, &fd, err);
	if (r < 0) {
		img_inflight_release(ctx, key);
		return r;
	}
	pthread_mutex_lock(&ctx->lock);
	ctx->inflight[inflight_find(ctx, key)].fd = fd;
	pthread_mutex_unlock(&ctx->lock);
	return 0;
}

void img_inflight_release(struct img_ctx *ctx, const char *key)
{
	pthread_mutex_lock(&ctx->lock);
	ssize_t i = inflight_find(ctx, key);
	if (i >= 0) {
		free(ctx->inflight[i].key);
		safe_close(ctx->inflight[i].fd);
		ctx->inflight[i] = ctx->inflight[--ctx->n_inflight];
	}
	pthread_cond_broadcast(&ctx->cond);
	pthread_mutex_unlock(&ctx->lock);
}
