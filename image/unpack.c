/* SPDX-License-Identifier: Apache-2.0 */
/* unpack.c - streaming extraction of layer tars into an overlay-ready directory.
 * libarchive reads (gzip, zstd or plain) tar from a pull-style reader and writes with
 * archive_write_disk to absolute paths we build after validating each entry. We don't use
 * libarchive's SECURE_* checks: older versions implement them with chdir(), which is
 * process-wide and berthd is multithreaded. Instead every entry's parent is walked from the
 * layer root one component at a time with O_NOFOLLOW (creating missing directories), so no
 * entry is written through a symlink, and ".." or absolute names are refused. */
#include "image/image-internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define WHITEOUT_META	".wh..wh."

#define DECOMP_BUF (256u << 10)

struct unpack {
	const struct img_reader *rd;
	struct berr *rd_err; /* error from the reader, wins over libarchive's message */
	bool eof;
	struct archive *z; /* decompresses the stream (format "raw") for the tar reader */
	char *zbuf;	   /* decompressed data handed to the tar reader */
	bool z_eof;
	struct img_hasher *dh; /* sha256 of the decompressed tar: the diff ID */
	const char *diff_id;   /* expected, or NULL */
	const char *dir;
	int root_fd;
	char *cache_path; /* parent dir (relative) whose fd is cache_fd */
	int cache_fd;
};

static la_ssize_t read_cb(struct archive *a, void *arg, const void **buf)
{
	struct unpack *u = arg;
	if (u->eof)
		return 0;
	ssize_t n = u->rd->read(u->rd->arg, buf, &u->rd_err);
	if (n < 0) {
		archive_set_error(a, EIO, "%s", berr_msg(u->rd_err));
		return -1;
	}
	if (n == 0)
		u->eof = true;
	return n;
}

/* Feeds the tar reader decompressed data, hashing it for the diff ID check at its end. */
static la_ssize_t tar_read_cb(struct archive *a, void *arg, const void **buf)
{
	struct unpack *u = arg;
	if (u->z_eof)
		return 0;
	la_ssize_t n = archive_read_data(u->z, u->zbuf, DECOMP_BUF);
	if (n < 0) {
		archive_set_error(a, EIO, "decompress layer: %s",
				  u->rd_err ? berr_msg(u->rd_err) : archive_error_string(u->z));
		return -1;
	}
	if (n == 0) {
		u->z_eof = true;
		if (u->dh) {
			char got[IMG_DIGEST_LEN + 1];
			img_hasher_finish(u->dh, got);
			u->dh = NULL;
			if (u->diff_id && strcmp(got, u->diff_id) != 0) {
				berr_set(&u->rd_err, EPROTO,
					 "layer diff id mismatch: want '%s', got '%s'", u->diff_id,
					 got);
				archive_set_error(a, EPROTO, "%s", berr_msg(u->rd_err));
				return -1;
			}
		}
		return 0;
	}
	if (u->dh)
		img_hasher_update(u->dh, u->zbuf, (size_t)n);
	*buf = u->zbuf;
	return n;
}

/* Cleans an entry name into a relative path without "." or empty components; "" for the
 * root. -EPERM for ".." components or absolute names. */
static int clean_path(const char *name, char **ret, struct berr **err)
{
	if (!name)
		return berr_set(err, EPROTO, "layer entry without a name");
	if (name[0] == '/')
		return berr_set(err, EPERM, "layer entry '%.200s' is an absolute path", name);
	if (strlen(name) >= PATH_MAX - 256)
		return berr_set(err, E2BIG, "layer entry name too long (%zu >= %d)", strlen(name),
				PATH_MAX - 256);
	char *out = xmalloc(strlen(name) + 1);
	size_t n = 0;
	for (const char *c = name; *c;) {
		const char *e = strchrnul(c, '/');
		size_t len = (size_t)(e - c);
		if (len == 2 && c[0] == '.' && c[1] == '.') {
			free(out);
			return berr_set(err, EPERM, "layer entry '%.200s' escapes the layer root",
					name);
		}
		if (len > 0 && !(len == 1 && c[0] == '.')) {
			if (n)
				out[n++] = '/';
			memcpy(out + n, c, len);
			n += len;
		}
		c = *e ? e + 1 : e;
	}
	out[n] = '\0';
	*ret = out;
	return 0;
}

static void cache_drop(struct unpack *u)
{
	u->cache_fd = safe_close(u->cache_fd);
	free(u->cache_path);
	u->cache_path = NULL;
}

/* Opens the directory rel (relative to the root) without following symlinks, creating
 * missing components 0755. Borrowed fd (cached). */
static int open_dir_beneath(struct unpack *u, const char *rel, const char *entry, struct berr **err)
{
	if (u->cache_path && strcmp(u->cache_path, rel) == 0)
		return u->cache_fd;
	cache_drop(u);
	int fd = fcntl(u->root_fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return berr_set_errno(err, errno, "dup layer root fd");
	_cleanup_free_ char *copy = xstrdup(rel);
	char *save = NULL;
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		int nfd = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT) {
			if (mkdirat(fd, c, 0755) < 0 && errno != EEXIST) {
				int e = errno;
				close(fd);
				return berr_set_errno(
				    err, e, "create parent of layer entry '%.200s'", entry);
			}
			nfd = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		int e = errno;
		close(fd);
		if (nfd < 0) {
			if (e == ELOOP || e == ENOTDIR)
				return berr_set(err, EPERM,
						"layer entry '%.200s' is under a symlink or a file",
						entry);
			return berr_set_errno(err, e, "open parent of layer entry '%.200s'", entry);
		}
		fd = nfd;
	}
	u->cache_path = xstrdup(rel);
	u->cache_fd = fd;
	return fd;
}

/* The parent of rel ("" for the root) as a new string; *ret_base points into rel. */
static char *parent_of(const char *rel, const char **ret_base)
{
	const char *slash = strrchr(rel, '/');
	if (!slash) {
		*ret_base = rel;
		return xstrdup("");
	}
	*ret_base = slash + 1;
	return xstrndup(rel, (size_t)(slash - rel));
}

static int apply_whiteout(int pfd, const char *base, const char *entry, struct berr **err)
{
	if (strcmp(base, WHITEOUT_OPAQUE) == 0) {
		if (fsetxattr(pfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
			return berr_set_errno(err, errno, "mark '%.200s' opaque", entry);
		return 0;
	}
	if (strncmp(base, WHITEOUT_META, strlen(WHITEOUT_META)) == 0)
		return 0; /* aufs metadata (.wh..wh.plnk etc.): not content */
	const char *name = base + strlen(WHITEOUT_PREFIX);
	if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return berr_set(err, EPERM, "bad whiteout '%.200s'", entry);
	if (mknodat(pfd, name, S_IFCHR | 0000, makedev(0, 0)) < 0) {
		if (errno != EEXIST ||
		    (unlinkat(pfd, name, 0) < 0 && unlinkat(pfd, name, AT_REMOVEDIR) < 0) ||
		    mknodat(pfd, name, S_IFCHR | 0000, makedev(0, 0)) < 0)
			return berr_set_errno(err, errno, "create whiteout for '%.200s'", entry);
	}
	return 0;
}

/* archive_write_disk reports failed write(2)s, and failures to restore metadata, as
 * ARCHIVE_WARN: a warning whose errno says the disk is full or broken is an error. */
static bool write_failed(struct archive *w, int r)
{
	if (r >= ARCHIVE_OK)
		return false;
	if (r < ARCHIVE_WARN)
		return true;
	int e = archive_errno(w);
	return e == ENOSPC || e == EDQUOT || e == EIO || e == EROFS || e == EFBIG;
}

static int copy_data(struct archive *a, struct archive *w, const char *entry, struct berr **err)
{
	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t off;
		int r = archive_read_data_block(a, &buf, &size, &off);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN)
			return berr_set(err, EIO, "read layer entry '%.200s': %s", entry,
					archive_error_string(a));
		if (archive_write_data_block(w, buf, size, off) != ARCHIVE_OK) {
			int e = archive_errno(w);
			return berr_set(err, e > 0 ? e : EIO, "write layer entry '%.200s': %s: %s",
					entry, archive_error_string(w), strerror(e > 0 ? e : EIO));
		}
	}
}

/* overlayfs reads trusted.overlay.* (opaque, redirect, metacopy, origin) from its layers;
 * an image must not set them itself, only through whiteouts we translate. An entry keeps at
 * most 64 xattrs. */
static void drop_overlay_xattrs(struct archive_entry *ent)
{
	if (archive_entry_xattr_reset(ent) == 0)
		return;
	struct xa {
		char *name;
		void *value;
		size_t size;
	} keep[64];
	size_t n = 0;
	bool dropped = false;
	const char *name;
	const void *value;
	size_t size;
	while (archive_entry_xattr_next(ent, &name, &value, &size) == ARCHIVE_OK) {
		if (strncmp(name, "trusted.overlay.", 16) == 0 || n == 64) {
			dropped = true;
			continue;
		}
		keep[n++] = (struct xa){xstrdup(name), xmemdup(value, size), size};
	}
	if (dropped) {
		archive_entry_xattr_clear(ent);
		for (size_t i = 0; i < n; i++)
			archive_entry_xattr_add_entry(ent, keep[i].name, keep[i].value,
						      keep[i].size);
	}
	for (size_t i = 0; i < n; i++) {
		free(keep[i].name);
		free(keep[i].value);
	}
}

static int unpack_entry(struct unpack *u, struct archive *a, struct archive *w,
			struct archive_entry *ent, struct berr **err)
{
	/* a copy: archive_entry_set_pathname() below frees the entry's string */
	_cleanup_free_ char *name = xstrdup_null(archive_entry_pathname(ent));
	_cleanup_free_ char *rel = NULL;
	int r = clean_path(name, &rel, err);
	if (r < 0)
		return r;
	if (!*rel)
		return 0; /* the root itself keeps the layer dir's own attributes */
	if (u->cache_path && strncmp(u->cache_path, rel, strlen(rel)) == 0 &&
	    (u->cache_path[strlen(rel)] == '/' || u->cache_path[strlen(rel)] == '\0'))
		cache_drop(u); /* this entry may replace a cached parent */
	const char *base;
	_cleanup_free_ char *parent = parent_of(rel, &base);
	int pfd = open_dir_beneath(u, parent, name, err);
	if (pfd < 0)
		return pfd;
	if (strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0)
		return apply_whiteout(pfd, base, name, err);
	struct stat st;
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode) &&
	    unlinkat(pfd, base, 0) < 0)
		return berr_set_errno(err, errno, "replace symlink '%.200s'", name);
	_cleanup_free_ char *hl = xstrdup_null(archive_entry_hardlink(ent));
	if (hl) {
		_cleanup_free_ char *hrel = NULL;
		r = clean_path(hl, &hrel, err);
		if (r < 0)
			return r;
		const char *hbase;
		_cleanup_free_ char *hparent = parent_of(hrel, &hbase);
		cache_drop(u);
		r = open_dir_beneath(u, hparent, hl, err);
		if (r < 0)
			return r;
		_cleanup_free_ char *habs = xasprintf("%s/%s", u->dir, hrel);
		archive_entry_set_hardlink(ent, habs);
	}
	drop_overlay_xattrs(ent);
	_cleanup_free_ char *abs = xasprintf("%s/%s", u->dir, rel);
	archive_entry_set_pathname(ent, abs);
	if (write_failed(w, archive_write_header(w, ent))) {
		int e = archive_errno(w);
		return berr_set(err, e > 0 ? e : EPERM, "extract layer entry '%.200s': %s", name,
				archive_error_string(w));
	}
	if (archive_entry_size(ent) > 0) {
		r = copy_data(a, w, name, err);
		if (r < 0)
			return r;
	}
	if (write_failed(w, archive_write_finish_entry(w))) {
		int e = archive_errno(w);
		return berr_set(err, e > 0 ? e : EIO, "finish layer entry '%.200s': %s", name,
				archive_error_string(w));
	}
	return 0;
}

static int unpack_loop(struct unpack *u, struct archive *a, struct archive *w, struct berr **err)
{
	struct archive_entry *raw;
	if (archive_read_open(u->z, u, NULL, read_cb, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(u->z, &raw) != ARCHIVE_OK)
		return berr_set(err, EPROTO, "open layer: %s", archive_error_string(u->z));
	if (archive_read_open(a, u, NULL, tar_read_cb, NULL) != ARCHIVE_OK)
		return berr_set(err, EPROTO, "open layer: %s", archive_error_string(a));
	for (;;) {
		struct archive_entry *ent;
		int r = archive_read_next_header(a, &ent);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return berr_set(err, EPROTO, "read layer: %s", archive_error_string(a));
		r = unpack_entry(u, a, w, ent, err);
		if (r < 0)
			return r;
	}
	/* the tar end marker may come before the end of the stream: read the rest, so the
	 * diff ID covers all of it and the reader sees its end and verifies the digest */
	while (!u->z_eof) {
		const void *buf;
		if (tar_read_cb(a, u, &buf) < 0)
			return u->rd_err ? -u->rd_err->code
					 : berr_set(err, EPROTO, "read layer: %s",
						    archive_error_string(a));
	}
	while (!u->eof) {
		const void *buf;
		ssize_t n = u->rd->read(u->rd->arg, &buf, &u->rd_err);
		if (n < 0)
			return -u->rd_err->code;
		if (n == 0)
			u->eof = true;
	}
	if (write_failed(w, archive_write_close(w))) {
		int e = archive_errno(w);
		return berr_set(err, e > 0 ? e : EIO, "finish layer: %s", archive_error_string(w));
	}
	return 0;
}

int img_unpack(const struct img_reader *rd, const char *dir, const char *diff_id, struct berr **err)
{
	struct unpack u = {.rd = rd, .dir = dir, .cache_fd = -1, .diff_id = diff_id};
	u.root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (u.root_fd < 0)
		return berr_set_errno(err, errno, "open layer dir '%s'", dir);
	/* two readers in one thread: z decompresses (gzip, zstd or nothing) and a reads the
	 * tar from z's output, which we hash on the way for the diff ID */
	struct archive *a = archive_read_new();
	struct archive *w = archive_write_disk_new();
	u.z = archive_read_new();
	if (!a || !w || !u.z)
		xalloc_die();
	archive_read_support_filter_gzip(u.z);
	archive_read_support_filter_zstd(u.z);
	archive_read_support_filter_none(u.z);
	archive_read_support_format_raw(u.z);
	archive_read_support_format_tar(a);
	u.zbuf = xmalloc(DECOMP_BUF);
	u.dh = img_hasher_new();
	/* numeric owners from the archive: no uname/gname lookup (set_standard_lookup) */
	archive_write_disk_set_options(w, ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM |
					      ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
					      ARCHIVE_EXTRACT_UNLINK);
	int r = unpack_loop(&u, a, w, err);
	if ((r == -EPROTO || r == -EIO) && !u.rd_err) {
		/* a damaged archive is often a corrupt blob: read it to its end, so the digest
		 * check can say so instead of libarchive's "unrecognized format" */
		const void *buf;
		while (!u.eof && !u.rd_err) {
			ssize_t n = rd->read(rd->arg, &buf, &u.rd_err);
			u.eof = n == 0;
		}
	}
	if (r < 0 && u.rd_err) {
		/* the reader's reason (digest mismatch, network) explains libarchive's */
		r = berr_move(err, &u.rd_err);
	}
	berr_free(u.rd_err);
	archive_write_free(w);
	archive_read_free(a);
	archive_read_free(u.z);
	free(u.zbuf);
	img_hasher_free(u.dh);
	cache_drop(&u);
	close(u.root_fd);
	return r;
}

int img_layer_create(const char *layers_dir, const char *chain_id, const char *diff_id,
		     const struct img_reader *rd, struct berr **err)
{
	if (!img_digest_is_valid(chain_id))
		return berr_set(err, EINVAL, "bad chain id '%.80s'", chain_id);
	_cleanup_free_ char *final = xasprintf("%s/%s", layers_dir, chain_id + 7);
	_cleanup_free_ char *tmp = xasprintf("%s/.tmp-%.16s-XXXXXX", layers_dir, chain_id + 7);
	if (!mkdtemp(tmp))
		return berr_set_errno(err, errno, "create temp layer dir in '%s'", layers_dir);
	_cleanup_free_ char *fs = xasprintf("%s/fs", tmp);
	int r = 0;
	if (mkdir(fs, 0755) < 0)
		r = berr_set_errno(err, errno, "create '%s'", fs);
	if (r >= 0)
		r = img_unpack(rd, fs, diff_id, err);
	if (r >= 0 && rename(tmp, final) < 0) {
		if (errno == EEXIST || errno == ENOTEMPTY)
			r = 0; /* unpacked meanwhile by someone else: theirs is as good */
		else
			r = berr_set_errno(err, errno, "rename layer dir to '%s'", final);
	}
	if (access(tmp, F_OK) == 0) {
		struct berr *e2 = NULL;
		(void)fileio_remove_tree(tmp, &e2);
		berr_free(e2);
	}
	if (r < 0)
		berr_wrap(err, "unpack layer '%s'", chain_id);
	return r;
}
