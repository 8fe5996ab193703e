/* SPDX-License-Identifier: Apache-2.0 */
/* shim-internal.h - pieces of berth-shim shared with its unit tests.
 * logw: the CRI log writer (pure formatting + write(2)/writev(2) to one fd).
 * shim_config: the parsed command line. Nothing here is thread-safe; the shim
 *   is single-threaded. */
#ifndef BERTH_SHIM_INTERNAL_H
#define BERTH_SHIM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

struct berr;

enum log_stream { LOG_STREAM_STDOUT, LOG_STREAM_STDERR, LOG_STREAM_MAX };

/* Bytes read per read(2) from a container pipe. */
#define LOGW_READ_CHUNK (64 * 1024)
#define LOGW_IOV_MAX	256
#define LOGW_OUT_CAP	(64 * 1024)
/* Text shorter than this is copied into the output buffer; longer text is
 * written from the input buffer through its own iovec. */
#define LOGW_COPY_MAX 2048

/* Input buffer of one stream: the unwritten tail of what the container wrote
 * (always less than max_line bytes of an unfinished line after logw_feed). */
struct logw_stream {
	enum log_stream stream;
	char *buf;
	size_t len, cap;      /* cap = max_line + LOGW_READ_CHUNK */
	int64_t partial_mono; /* when an unfinished line was first kept, 0: none */
};

struct logw {
	int fd;		 /* log file, O_APPEND; -1 discards */
	size_t max_line; /* longest text of one record; longer lines become P chunks */
	int64_t ts_ns;	 /* timestamp of the current batch */
	char ts[48];	 /* its RFC 3339 text */
	size_t ts_len;
	struct iovec iov[LOGW_IOV_MAX];
	int niov;
	char *out; /* copied prefixes and short texts */
	size_t out_len;
	int write_errno; /* first write error, 0 if none */
	uint64_t bytes;	 /* record bytes written */
};

void logw_init(struct logw *w, int fd, size_t max_line);
void logw_done(struct logw *w);
void logw_stream_init(struct logw_stream *s, enum log_stream stream, size_t max_line);
void logw_stream_done(struct logw_stream *s);
/* Room for the next read: s->buf + s->len, s->cap - s->len bytes; call
 * logw_feed() after appending.
 * logw_feed() writes every complete line of s (and P chunks of lines longer than max_line)
 * stamped with now_ns; with eof or flush_partial also the unfinished rest, as a P record
 * (F means the container ended the line itself, docs/shim.md). Keeps the rest
 * in s otherwise (partial_mono says since when). Returns -errno of a failed write (the data is
 * dropped). */
int logw_feed(struct logw *w, struct logw_stream *s, int64_t now_ns, int64_t now_mono, bool eof,
	      bool flush_partial);

struct shim_config {
	const char *id;
	const char *bundle;
	const char *runtime;
	char **runtime_args; /* NULL-terminated, owned */
	size_t n_runtime_args;
	const char *log_path;
	const char *exit_dir;
	const char *state_dir;
	bool terminal, open_stdin, stdin_once;
	size_t log_max_line;
	int sync_fd;	/* -1: none */
	int timeout_s;	/* create deadline */
	int drain_ms;	/* after the container exits, wait this long for EOF */
	int partial_ms; /* an unfinished line is written as P after this */
	const char *log_level;
};

/* Parses argv (getopt_long). Returns 1 when --help/--version printed, 0 ok. */
int shim_config_parse(int argc, char **argv, struct shim_config *ret, struct berr **err);
void shim_config_done(struct shim_config *c);
bool shim_id_is_valid(const char *id);

/* Memory cgroup OOM-kill counter of pid (v1 memory.oom_control or v2
 * memory.events "oom_kill"); the file path is returned for a later read. */
int shim_oom_path(pid_t pid, char **ret_path, struct berr **err);
int shim_oom_count(const char *path, uint64_t *ret_count);

struct sockaddr_un;
/* Fills a unix address for path; a path longer than sun_path goes through an
 * O_PATH fd of its directory returned in *ret_dirfd (close it after the
 * bind/connect), otherwise *ret_dirfd is -1. */
int shim_sockaddr(const char *path, struct sockaddr_un *ret, socklen_t *ret_len, int *ret_dirfd,
		  struct berr **err);
/* The runtime's error from its output: the last line, or its msg="..." value. */
char *shim_runtime_error_text(const char *out, size_t len);

#endif
