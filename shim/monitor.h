/* SPDX-License-Identifier: Apache-2.0 */
/* monitor.h - the state of one berth-shim process, shared by main.c (create,
 * reaping, logs, main loop) and ctl.c (control socket, attach, stdin).
 * Single-threaded: everything runs on the epoll loop. */
#ifndef BERTH_SHIM_MONITOR_H
#define BERTH_SHIM_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shim/shim-internal.h"

#define MAX_CLIENTS 16
#define EXIT_CACHE  64

/* epoll data: what became ready */
enum tag { TAG_SIGNAL, TAG_STDOUT, TAG_STDERR, TAG_LISTEN, TAG_STDIN, TAG_CLIENT };

struct ctl_client {
	int fd;	       /* -1: free slot */
	bool attached; /* streaming mode (docs/shim.md) */
	bool in, out, err;
	bool blocked; /* EPOLLIN off while the container's stdin is full */
	bool hup;     /* hung up while blocked: out of epoll, queued input kept */
};

struct shim {
	struct shim_config cfg;
	int sync_fd;
	int sfd; /* signalfd: CHLD, TERM, INT, HUP */
	int epfd;
	int listen_fd; /* control socket */
	char *ctl_path;
	struct ctl_client clients[MAX_CLIENTS];
	char *ctl_buf;	     /* SHIM_CTL_MAX bytes, allocated on first use */
	int stdin_w;	     /* write end of the container's stdin (tty: master), or -1 */
	char *stdin_pending; /* attach input the full stdin pipe did not take yet */
	size_t stdin_pending_len;
	bool stdin_polled;	    /* stdin_w registered for EPOLLOUT */
	int out_fd[LOG_STREAM_MAX]; /* read ends (tty: master in [STDOUT]) */
	int tty_fd;		    /* pty master or -1 */
	int log_fd;
	struct logw logw;
	struct logw_stream streams[LOG_STREAM_MAX];
	pid_t runtime_pid;
	int runtime_status;
	bool runtime_done;
	pid_t container_pid;
	bool exited;
	int exit_status; /* raw wait status */
	int64_t finished_ns;
	char *oom_path;
	uint64_t oom_start;
	bool oom_known, oom_killed;
	int64_t drain_deadline; /* monotonic ns, 0 until the container exited */
	struct {
		pid_t pid;
		int status;
		int64_t when_ns;
	} cache[EXIT_CACHE]; /* exits of pids not known yet */
	int ncache;
};

int shim_reopen_log_file(struct shim *s, struct berr **err);
int shim_listen_unix(const char *path, int type, int backlog, struct berr **err);

/* ctl.c */
void ctl_accept(struct shim *s);
/* A client's socket is readable (or hung up). */
void ctl_client_event(struct shim *s, int i, uint32_t events);
/* Copies container output to the attached clients that asked for stream. */
void ctl_broadcast(struct shim *s, enum log_stream stream, const char *data, size_t len);
/* Sends the exit record to attached clients and closes every client. */
void ctl_finish(struct shim *s, const char *record, size_t len);
/* The container's stdin became writable again (EPOLLOUT). */
void ctl_stdin_writable(struct shim *s);
/* Closes the container's stdin and drops pending input; a tty stays open
 * and gets ^D when send_eof. */
void ctl_stdin_close(struct shim *s, bool send_eof);

#endif
