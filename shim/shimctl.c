/* berth-shimctl - command-line front end of the shim client library, for
 * tests, benchmarks and debugging (not installed):
 *   berth-shimctl start [--shim PATH] [--shim-log FILE] [--timeout-ms N]
 *                       <berth-shim options>       prints shim_pid= container_pid= ctl=
 *   berth-shimctl ctl CTL_PATH REQUEST             prints the reply
 *   berth-shimctl reopen-log|close-stdin CTL_PATH
 *   berth-shimctl resize CTL_PATH COLS ROWS
 *   berth-shimctl read-exit PATH                   prints the record
 *   berth-shimctl watch EXIT_DIR TIMEOUT_MS COUNT  prints "ready", then IDs */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
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
	if (strcmp(cmd, "watch") == 0 && argc == 5)
		return cmd_watch(argv[2], atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "berth-shimctl: bad command '%s'\n", cmd);
	return 2;
}
