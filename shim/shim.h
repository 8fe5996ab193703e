/* SPDX-License-Identifier: Apache-2.0 */
/* shim.h - client side of berth-shim, the per-container monitor (docs/shim.md).
 * shim_start() spawns berth-shim (posix_spawn, new session), which runs the OCI
 *   runtime's `create`, reports the container pid or the runtime's error over a
 *   sync pipe, and lives on detached (not our child) until the container exits.
 *   The caller then runs `runtime start` itself. On exit the shim writes the exit
 *   record to <state_dir>/exit and <exit_dir>/<id>; shim_exit_watch_*() sees it.
 * Ownership: ret_* structs and strvs are the caller's (shim_info_done, strv_free).
 * Threads: every call is thread-safe and keeps no global state. shim_start()
 *   blocks until the runtime's create finished (bounded by timeout_ms); control
 *   calls block at most SHIM_CTL_TIMEOUT_MS.
 * Errors: -EINVAL bad options; -EIO runtime create failed (message carries the
 *   runtime's own error text); -ETIMEDOUT; -ENOENT/-ECONNREFUSED shim gone;
 *   -EPROTO malformed peer data; the shim's errno for a refused command. */
#ifndef BERTH_SHIM_SHIM_H
#define BERTH_SHIM_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct berr;

/* Wire protocol. Files in the state dir, and the control socket: SOCK_SEQPACKET,
 * one request per packet "<cmd>[ <args>]", one reply per packet,
 * "ok[ <data>]" or "err <errno> <message>". Commands: ping, state,
 * reopen-log, resize <cols> <rows>, close-stdin, stdin <bytes...>,
 * attach [stdin] [stdout] [stderr]. After "ok" to attach, every packet both
 * ways is <tag byte><payload> (enum shim_tag; docs/shim.md). */
#define SHIM_CTL_SOCK		  "ctl.sock"
#define SHIM_EXIT_FILE		  "exit"
#define SHIM_PID_FILE		  "container.pid"
#define SHIM_CTL_MAX		  65536
#define SHIM_CTL_TIMEOUT_MS	  5000
#define SHIM_LOG_MAX_LINE_DEFAULT (16 * 1024)
#define SHIM_LOG_MAX_LINE_LIMIT	  (1024 * 1024)
/* Sync pipe message, written once then closed by the shim:
 * "berth-shim 1 <errno> <shim_pid> <container_pid> <message>" */
#define SHIM_SYNC_MAGIC	  "berth-shim"
#define SHIM_SYNC_VERSION 1

enum shim_tag {
	SHIM_TAG_STDIN = 0,	  /* client -> shim: bytes for the container's stdin */
	SHIM_TAG_STDOUT = 1,	  /* shim -> client: container output */
	SHIM_TAG_STDERR = 2,	  /* shim -> client (never for a tty) */
	SHIM_TAG_EXIT = 3,	  /* shim -> client: exit record text, then EOF */
	SHIM_TAG_CLOSE_STDIN = 4, /* client -> shim */
	SHIM_TAG_RESIZE = 5,	  /* client -> shim: "<cols> <rows>" */
	SHIM_TAG_MAX
};

#define SHIM_ATTACH_STDIN  1u
#define SHIM_ATTACH_STDOUT 2u
#define SHIM_ATTACH_STDERR 4u

struct shim_opts {
	const char *shim_path;		 /* NULL: BERTH_LIBEXECDIR/berth-shim */
	const char *id;			 /* container ID, [A-Za-z0-9_.-], no ".tmp." */
	const char *bundle;		 /* OCI bundle dir */
	const char *runtime;		 /* runtime executable (runc) */
	const char *const *runtime_args; /* global runtime options, NULL-terminated */
	const char *log_path;		 /* CRI log file, parent dirs created */
	const char *exit_dir;		 /* shared dir watched by shim_exit_watch */
	const char *state_dir;		 /* per-container dir, created */
	const char *shim_log_path;	 /* shim's own stderr (append); NULL: /dev/null */
	bool terminal;			 /* pty via --console-socket */
	bool open_stdin;		 /* keep a stdin pipe open for attach */
	bool stdin_once;		 /* close stdin after the first attach ends */
	size_t log_max_line;		 /* 0: SHIM_LOG_MAX_LINE_DEFAULT */
	int timeout_ms;			 /* create deadline; <= 0: 240 s */
	int partial_ms;			 /* unfinished line logged as P after; 0: 200 */
	int drain_ms;			 /* wait for pipe EOF after the exit; 0: 1000, < 0: none */
};

struct shim_info {
	pid_t shim_pid;
	pid_t container_pid;
	char *ctl_path; /* <state_dir>/ctl.sock */
};

int shim_start(const struct shim_opts *o, struct shim_info *ret, struct berr **err);
void shim_info_done(struct shim_info *info);

/* Control calls on <state_dir>/ctl.sock. ret_reply of shim_ctl_call() is the
 * text after "ok" (may be empty), the caller frees it. */
int shim_ctl_call(const char *ctl_path, const void *req, size_t len, char **ret_reply,
		  struct berr **err);
int shim_reopen_log(const char *ctl_path, struct berr **err);
int shim_resize(const char *ctl_path, unsigned cols, unsigned rows, struct berr **err);
int shim_close_stdin(const char *ctl_path, struct berr **err);
/* Attaches to the streams (SHIM_ATTACH_* bits); *ret_fd is the connected
 * CLOEXEC SEQPACKET socket in streaming mode, owned by the caller. Output
 * reaching a client too slow for its 4 MiB socket buffer drops the client.
 * -EPIPE: container exited; -EINVAL: no stdin to attach. */
int shim_attach(const char *ctl_path, unsigned streams, int *ret_fd, struct berr **err);

/* Exit record, a versioned key=value text file written atomically. */
struct shim_exit {
	pid_t pid;	     /* container init pid */
	int exit_code;	     /* 128+signal when killed by a signal (CRI convention) */
	int signal;	     /* 0 unless killed by a signal */
	int64_t finished_ns; /* CLOCK_REALTIME */
	bool oom_killed;     /* memory cgroup oom_kill count rose during its life */
};
int shim_read_exit(const char *path, struct shim_exit *ret, struct berr **err);
/* Encodes into buf (>= 256 bytes); returns the length. */
size_t shim_exit_encode(const struct shim_exit *e, char *buf, size_t size);
int shim_exit_decode(const char *text, struct shim_exit *ret, struct berr **err);

/* inotify watcher on an exit dir. shim_exit_watch_fd() is pollable (POLLIN).
 * shim_exit_watch_read() never blocks and returns the number of IDs whose exit
 * record appeared since the last call, as a NULL-terminated strv (an ID may be
 * reported twice, e.g. after a queue overflow, which rescans the dir).
 * shim_exit_scan() lists every record present (for a restarted daemon). */
struct shim_exit_watch;
int shim_exit_watch_new(const char *exit_dir, struct shim_exit_watch **ret, struct berr **err);
int shim_exit_watch_fd(const struct shim_exit_watch *w);
int shim_exit_watch_read(struct shim_exit_watch *w, char ***ret_ids, struct berr **err);
struct shim_exit_watch *shim_exit_watch_free(struct shim_exit_watch *w);
int shim_exit_scan(const char *exit_dir, char ***ret_ids, struct berr **err);

#endif
