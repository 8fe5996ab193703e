/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_shim_ctl - berth-shim's control protocol (shim/ctl.c) from the
 * socket side: up to four clients on SOCK_SEQPACKET pairs send commands
 * ("state", "resize 80 24", "attach stdin stdout", "stdin <bytes>"...) and,
 * once attached, tagged packets; the container's stdin is a small
 * non-blocking pipe that fills up (the back-pressure path), and output is
 * broadcast between packets. The client half of the protocol is fuzzed too:
 * every reply is parsed as berthd's client parses exit records.
 * Input: a flags byte (tty, stdin_once, exited), then packets of
 * [client (1 byte)][length (1 byte)][bytes]; client 0xff drains the stdin
 * pipe, 0xfe broadcasts output. */
#include <errno.h>
#include <pty.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/err.h"
#include "shim/monitor.h"
#include "shim/shim.h"
#include "tests/fuzz/fuzz.h"

#define CLIENTS 4

/* main.c's, which the fuzzer doesn't link: reopening fails every other time. */
int shim_reopen_log_file(struct shim *s, struct berr **err)
{
	static unsigned n;
	return n++ % 2 ? berr_set(err, EIO, "reopen failed") : 0;
}

static int tty_master = -2, tty_slave = -1;

static void drain(int fd)
{
	char buf[SHIM_CTL_MAX + 1];
	ssize_t n;
	while ((n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
		buf[n] = '\0';
		struct shim_exit ex;
		struct berr *e = NULL;
		if (buf[0] == SHIM_TAG_EXIT)
			(void)shim_exit_decode(buf + 1, &ex, &e);
		berr_free(e);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_quiet();
	if (size < 1)
		return 0;
	if (tty_master == -2) {
		if (openpty(&tty_master, &tty_slave, NULL, NULL, NULL) < 0)
			tty_master = -1;
		/* non-blocking, as the shim makes the console it receives; the slave stays
		 * open (the master must not see a hangup) and is drained before each input */
		if (tty_master >= 0) {
			fcntl(tty_master, F_SETFL, fcntl(tty_master, F_GETFL) | O_NONBLOCK);
			fcntl(tty_slave, F_SETFL, fcntl(tty_slave, F_GETFL) | O_NONBLOCK);
		}
	}
	if (tty_slave >= 0) {
		char junk[4096];
		while (read(tty_slave, junk, sizeof(junk)) > 0)
			;
	}
	struct shim s = {0};
	s.cfg.id = "fuzz";
	s.cfg.stdin_once = data[0] & 2;
	s.exited = data[0] & 4;
	s.epfd = epoll_create1(EPOLL_CLOEXEC);
	s.listen_fd = s.sfd = s.log_fd = -1;
	for (int i = 0; i < MAX_CLIENTS; i++)
		s.clients[i].fd = -1;
	for (int i = 0; i < LOG_STREAM_MAX; i++)
		s.out_fd[i] = -1;
	int pfd[2] = {-1, -1};
	s.tty_fd = -1;
	if ((data[0] & 1) && tty_master >= 0) {
		s.tty_fd = s.stdin_w = s.out_fd[LOG_STREAM_STDOUT] = dup(tty_master);
	} else if (pipe2(pfd, O_NONBLOCK | O_CLOEXEC) == 0) {
		(void)fcntl(pfd[1], F_SETPIPE_SZ, 4096);
		s.stdin_w = pfd[1];
	} else {
		s.stdin_w = -1;
	}
	int peer[CLIENTS];
	for (int i = 0; i < CLIENTS; i++)
		peer[i] = -1;
	char rd[8192];
	for (size_t off = 1; off + 2 <= size;) {
		unsigned who = data[off], len = data[off + 1];
		off += 2;
		if (len > size - off)
			len = (unsigned)(size - off);
		const uint8_t *p = data + off;
		off += len;
		if (who == 0xff) {
			if (pfd[0] >= 0)
				while (read(pfd[0], rd, sizeof(rd)) > 0)
					;
			ctl_stdin_writable(&s);
			continue;
		}
		if (who == 0xfe) {
			ctl_broadcast(&s, len % 2 ? LOG_STREAM_STDERR : LOG_STREAM_STDOUT,
				      (const char *)p, len);
			continue;
		}
		int i = (int)(who % CLIENTS);
		if (peer[i] < 0 || s.clients[i].fd < 0) {
			if (peer[i] >= 0)
				close(peer[i]);
			int sv[2];
			if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
				       sv) < 0)
				break;
			struct epoll_event ev = {.events = EPOLLIN,
						 .data.u32 = TAG_CLIENT + (uint32_t)i};
			(void)epoll_ctl(s.epfd, EPOLL_CTL_ADD, sv[0], &ev);
			s.clients[i] = (struct ctl_client){.fd = sv[0]};
			peer[i] = sv[1];
		}
		if (len == 0) { /* the client hangs up */
			close(peer[i]);
			peer[i] = -1;
			ctl_client_event(&s, i, EPOLLIN | EPOLLHUP);
			continue;
		}
		(void)send(peer[i], p, len, MSG_DONTWAIT);
		ctl_client_event(&s, i, EPOLLIN);
		drain(peer[i]);
	}
	ctl_finish(&s, "pid=1 exit_code=0", 17);
	for (int i = 0; i < CLIENTS; i++)
		if (peer[i] >= 0) {
			drain(peer[i]);
			close(peer[i]);
		}
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (s.clients[i].fd >= 0)
			close(s.clients[i].fd);
	if (s.stdin_w >= 0)
		close(s.stdin_w);
	if (pfd[0] >= 0)
		close(pfd[0]);
	free(s.stdin_pending);
	free(s.ctl_buf);
	close(s.epfd);
	return 0;
}
