/* SPDX-License-Identifier: Apache-2.0 */
/* fileio.h - the one way berth writes state: atomic replacement of a file.
 * fileio_write_atomic() writes a temp file in the same directory, fsyncs it,
 *   renames it over the target and fsyncs the directory, so a reader (or a
 *   restarted daemon) sees the old content or the new, never a mix.
 *   fileio_write_atomic_nosync() is the same replacement without the fsyncs.
 * Threads: thread-safe as long as two threads don't write the same path.
 * Errors: -errno from the failing syscall, message names the path; -EFBIG when
 *   a file read with fileio_read_all() exceeds its limit. Calls block on disk. */
#ifndef BERTH_COMMON_FILEIO_H
#define BERTH_COMMON_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct berr;

int fileio_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
			struct berr **err);
/* The same temp file + rename without fsync: a reader, or a daemon restarted after a crash
 * of its own, still sees the old content or the new, never a mix (the page cache survives a
 * process crash). After a power loss or kernel crash the file may be old, empty or missing.
 * Only for files that are worthless after a reboot (e.g. an OCI bundle under the run dir);
 * never for state. */
int fileio_write_atomic_nosync(const char *path, const void *data, size_t len, mode_t mode,
			       struct berr **err);
/* Reads a whole file of at most max bytes; *ret_data is NUL-terminated. */
int fileio_read_all(const char *path, size_t max, char **ret_data, size_t *ret_len,
		    struct berr **err);
/* The same for name relative to the directory dirfd (AT_FDCWD: the cwd), as openat(2): a
 * scan of one directory skips walking its path again for every file. */
int fileio_read_allat(int dirfd, const char *name, size_t max, char **ret_data, size_t *ret_len,
		      struct berr **err);
/* mkdir -p with mode for the directories it creates; existing ones are fine. */
int fileio_mkdir_p(const char *path, mode_t mode, struct berr **err);
/* rm -rf that stays on one filesystem and never follows symlinks; a missing
 * path is success. */
int fileio_remove_tree(const char *path, struct berr **err);
/* fsync of a directory by path. */
int fileio_fsync_dir(const char *path, struct berr **err);
/* write(2) of the whole buffer, retrying on EINTR and short writes; -errno. */
int fileio_write_all(int fd, const void *data, size_t len);

/* du.c: bytes (allocated blocks * 512) and inodes of the tree at path, the
 * root included, staying on its filesystem, a hard-linked file counted once
 * (containerd's fs.DiskUsage). Entries that vanish while it walks are skipped. */
int fileio_disk_usage(const char *path, uint64_t *ret_bytes, uint64_t *ret_inodes,
		      struct berr **err);
/* The mount point path lives on, from mountinfo; "/" when none matches. With mountinfo NULL
 * the kernel is asked with statx(2) (STATX_ATTR_MOUNT_ROOT) per component of an absolute
 * path, /proc/self/mountinfo read only where it can't say. Caller frees. */
char *fileio_mountpoint(const char *path, const char *mountinfo);

#endif
