/* SPDX-License-Identifier: Apache-2.0 */
/* berth-shimctl - command-line front end of the shim client library, for
 * tests, benchmarks and debugging (not installed):
 *   berth-shimctl start [--shim PATH] [--shim-log FILE] [--timeout-ms N]
 *                       <berth-shim options>       prints shim_pid= container_pid= ctl=
 *   berth-shimctl ctl CTL_PATH REQUEST             prints the reply
 *   berth-shimctl reopen-log|close-stdin CTL_PATH
 *   berth-shimctl resize CTL_PATH COLS ROWS
 *   berth-shimctl read-exit PATH                   prints the record
 *   berth-shimctl watch EXIT_DIR TIMEOUT_MS COUNT  prints "ready", then IDs
 *   berth-shimctl attach CTL_PATH [stdin] [stdout] [stderr] [detach-on-eof]
 *       copies our stdin to the container and its output to ours; at EOF of
 *       our stdin closes the container's stdin (or only detaches); exits with
 *       the container's exit code when the exit record arrives */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/ids.h"
#include "shim/shim.h"

static int fail(struct berr *e)
{
	fprintf(stderr, "berth-shimctl: %s (errno %d)\n", berr_msg(e), e ? e->code : 0);
	return 1;
}

static int cmd_start(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"shim", required_argument, NULL, 's'},
	    {"shim-log", required_argument, NULL, 'L'},
	    {"timeout-ms", required_argument, NULL, 'T'},
	    {"id", required_argument, NULL, 'i'},
	    {"bundle", required_argument, NULL, 'b'},
	    {"runtime", required_argument, NULL, 'r'},
	    {"runtime-arg", required_argument, NULL, 'a'},
	    {"log-path", required_argument, NULL, 'l'},
	    {"exit-dir", required_argument, NULL, 'x'},
	    {"state-dir", required_argument, NULL, 'd'},
	    {"terminal", no_argument, NULL, 't'},
	    {"stdin", no_argument, NULL, 'I'},
	    {"stdin-once", no_argument, NULL, 'O'},
	    {"log-max-line", required_argument, NULL, 'm'},
	    {"partial-ms", required_argument, NULL, 'P'},
	    {"drain-ms", required_argument, NULL, 'D'},
	    {NULL, 0, NULL, 0},
	};
	struct shim_opts o = {0};
	const char *rargs[65];
	size_t nr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.shim_path = optarg;
			break;
		case 'L':
			o.shim_log_path = optarg;
			break;
		case 'T':
			o.timeout_ms = atoi(optarg);
			break;
		case 'i':
			o.id = optarg;
			break;
		case 'b':
			o.bundle = optarg;
			break;
		case 'r':
			o.runtime = optarg;
			break;
		case 'a':
			if (nr < 64)
				rargs[nr++] = optarg;
			break;
		case 'l':
			o.log_path = optarg;
			break;
		case 'x':
			o.exit_dir = optarg;
			break;
		case 'd':
			o.state_dir = optarg;
			break;
		case 't':
			o.terminal = true;
			break;
		case 'I':
			o.open_stdin = true;
			break;
		case 'O':
			o.stdin_once = true;
			break;
		case 'D':
			o.drain_ms = atoi(optarg);
			break;
		case 'P':
			o.partial_ms = atoi(optarg);
			break;
		case 'm':
			o.log_max_line = strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "berth-shimctl: bad start option\n");
			return 2;
		}
	}
	rargs[nr] = NULL;
	o.runtime_args = rargs;
	_cleanup_berr_ struct berr *e = NULL;
	struct shim_info info;
	if (shim_start(&o, &info, &e) < 0)
		return fail(e);
	printf("shim_pid=%d container_pid=%d ctl=%s\n", (int)info.shim_pid, (int)info.container_pid,
	       info.ctl_path);
	shim_info_done(&info);
	return 0;
}

static int cmd_watch(const char *dir, int timeout_ms, int count)
{
	_cleanup_berr_ struct berr *e = NULL;
	struct shim_exit_watch *w = NULL;
	if (shim_exit_watch_new(dir, &w, &e) < 0)
		return fail(e);
	printf("ready\n");
	fflush(stdout);
	int64_t deadline = time_mono_ns() + (int64_t)timeout_ms * 1000000;
	int seen = 0;
	while (seen < count) {
		int64_t left = (deadline - time_mono_ns()) / 1000000;
		if (left <= 0)
			break;
		struct pollfd p = {.fd = shim_exit_watch_fd(w), .events = POLLIN};
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		char **ids = NULL;
		int n = shim_exit_watch_read(w, &ids, &e);
		if (n < 0) {
			shim_exit_watch_free(w);
			return fail(e);
		}
		for (int i = 0; i < n; i++)
			printf("%s\n", ids[i]);
		fflush(stdout);
		seen += n;
		strv_free(ids);
	}
	shim_exit_watch_free(w);
	return seen >= count ? 0 : 1;
}

static int cmd_attach(const char *ctl, int argc, char **argv)
{
	unsigned streams = 0;
	bool detach_on_eof = false;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "stdin") == 0)
			streams |= SHIM_ATTACH_STDIN;
		else if (strcmp(argv[i], "stdout") == 0)
			streams |= SHIM_ATTACH_STDOUT;
		else if (strcmp(argv[i], "stderr") == 0)
			streams |= SHIM_ATTACH_STDERR;
		else if (strcmp(argv[i], "detach-on-eof") == 0)
			detach_on_eof = true;
	}
	_cleanup_berr_ struct berr *e = NULL;
	_cleanup_close_ int fd = -1;
	if (shim_attach(ctl, streams, &fd, &e) < 0)
		return fail(e);
	size_t cap = 1024 * 1024;
	_cleanup_free_ char *buf = xmalloc(cap);
	bool in_open = streams & SHIM_ATTACH_STDIN;
	for (;;) {
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
				      {.fd = in_open ? 0 : -1, .events = POLLIN}};
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents) {
			ssize_t n = read(0, buf + 1, 32768);
			if (n > 0) {
				buf[0] = SHIM_TAG_STDIN;
				if (send(fd, buf, (size_t)n + 1, MSG_NOSIGNAL) < 0)
					return 1;
			} else if (detach_on_eof) {
				return 0;
			} else {
				buf[0] = SHIM_TAG_CLOSE_STDIN;
				(void)send(fd, buf, 1, MSG_NOSIGNAL);
				in_open = false;
			}
		}
		if (!p[0].revents)
			continue;
		ssize_t n = recv(fd, buf, cap - 1, 0);
		if (n <= 0) {
			fprintf(stderr, "berth-shimctl: shim closed the stream\n");
			return 1;
		}
		if (buf[0] == SHIM_TAG_STDOUT || buf[0] == SHIM_TAG_STDERR) {
			(void)!write(buf[0] == SHIM_TAG_STDOUT ? 1 : 2, buf + 1, (size_t)n - 1);
		} else if (buf[0] == SHIM_TAG_EXIT) {
			buf[n] = '\0';
			struct shim_exit x;
			if (shim_exit_decode(buf + 1, &x, &e) < 0)
				return fail(e);
			return x.exit_code & 0xff;
		}
	}
}

int main(int argc, char **argv)
{
	_cleanup_berr_ struct berr *e = NULL;
	if (argc < 2) {
		fprintf(stderr, "usage: berth-shimctl start|ctl|reopen-log|close-stdin|resize|"
				"read-exit|watch ...\n");
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "start") == 0)
		return cmd_start(argc - 1, argv + 1);
	if (strcmp(cmd, "ctl") == 0 && argc == 4) {
		_cleanup_free_ char *reply = NULL;
		if (shim_ctl_call(argv[2], argv[3], strlen(argv[3]), &reply, &e) < 0)
			return fail(e);
		printf("%s\n", reply);
		return 0;
	}
	if (strcmp(cmd, "reopen-log") == 0 && argc == 3)
		return shim_reopen_log(argv[2], &e) < 0 ? fail(e) : 0;
	if (strcmp(cmd, "close-stdin") == 0 && argc == 3)
		return shim_close_stdin(argv[2], &e) < 0 ? fail(e) : 0;
	if (strcmp(cmd, "resize") == 0 && argc == 5)
		return shim_resize(argv[2], (unsigned)atoi(argv[3]), (unsigned)atoi(argv[4]), &e) <
			       0
			   ? fail(e)
			   : 0;
	if (strcmp(cmd, "read-exit") == 0 && argc == 3) {
		struct shim_exit x;
		if (shim_read_exit(argv[2], &x, &e) < 0)
			return fail(e);
		printf("pid=%d exit_code=%d signal=%d finished_ns=%" PRId64 " oom_killed=%d\n",
		       (int)x.pid, x.exit_code, x.signal, x.finished_ns, x.oom_killed ? 1 : 0);
		return 0;
	}
	if (strcmp(cmd, "attach") == 0 && argc >= 3)
		return cmd_attach(argv[2], argc - 3, argv + 3);
	if (strcmp(cmd, "watch") == 0 && argc == 5)
		return cmd_watch(argv[2], atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "berth-shimctl: bad command '%s'\n", cmd);
	return 2;
}
