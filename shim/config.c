/* SPDX-License-Identifier: Apache-2.0 */
/* config.c - berth-shim's command line (docs/shim.md lists every option). */
#include "shim/shim-internal.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "shim/shim.h"

#define RUNTIME_ARGS_MAX 64

enum {
	OPT_ID = 256,
	OPT_BUNDLE,
	OPT_RUNTIME,
	OPT_RUNTIME_ARG,
	OPT_LOG_PATH,
	OPT_EXIT_DIR,
	OPT_STATE_DIR,
	OPT_TERMINAL,
	OPT_STDIN,
	OPT_STDIN_ONCE,
	OPT_LOG_MAX_LINE,
	OPT_SYNC_FD,
	OPT_TIMEOUT,
	OPT_DRAIN_MS,
	OPT_PARTIAL_MS,
	OPT_LOG_LEVEL,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option options[] = {
    {"id", required_argument, NULL, OPT_ID},
    {"bundle", required_argument, NULL, OPT_BUNDLE},
    {"runtime", required_argument, NULL, OPT_RUNTIME},
    {"runtime-arg", required_argument, NULL, OPT_RUNTIME_ARG},
    {"log-path", required_argument, NULL, OPT_LOG_PATH},
    {"exit-dir", required_argument, NULL, OPT_EXIT_DIR},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"terminal", no_argument, NULL, OPT_TERMINAL},
    {"stdin", no_argument, NULL, OPT_STDIN},
    {"stdin-once", no_argument, NULL, OPT_STDIN_ONCE},
    {"log-max-line", required_argument, NULL, OPT_LOG_MAX_LINE},
    {"sync-fd", required_argument, NULL, OPT_SYNC_FD},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"drain-ms", required_argument, NULL, OPT_DRAIN_MS},
    {"partial-ms", required_argument, NULL, OPT_PARTIAL_MS},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static const char usage[] =
    "usage: berth-shim --id ID --bundle DIR --runtime PATH [--runtime-arg ARG]...\n"
    "                  --log-path FILE --exit-dir DIR --state-dir DIR [--terminal]\n"
    "                  [--stdin] [--stdin-once] [--log-max-line N] [--sync-fd FD]\n"
    "                  [--timeout SEC] [--drain-ms MS] [--partial-ms MS] [--log-level L]\n";

bool shim_id_is_valid(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > 128 || id[0] == '.' || strstr(id, ".tmp."))
		return false;
	for (const char *p = id; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

static int parse_num(const char *name, const char *s, long min, long max, long *ret,
		     struct berr **err)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max)
		return berr_set(err, EINVAL, "option '--%s': '%s' is not a number in %ld..%ld",
				name, s, min, max);
	*ret = v;
	return 0;
}

void shim_config_done(struct shim_config *c)
{
	free(c->runtime_args);
	c->runtime_args = NULL;
}

static int config_check(const struct shim_config *c, struct berr **err)
{
	const struct {
		const char *name, *val;
	} req[] = {{"id", c->id},
		   {"bundle", c->bundle},
		   {"runtime", c->runtime},
		   {"log-path", c->log_path},
		   {"exit-dir", c->exit_dir},
		   {"state-dir", c->state_dir}};
	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++)
		if (!req[i].val || !*req[i].val)
			return berr_set(err, EINVAL, "option '--%s' is required", req[i].name);
	if (!shim_id_is_valid(c->id))
		return berr_set(err, EINVAL, "invalid container id '%s'", c->id);
	if (c->stdin_once && !c->open_stdin)
		return berr_set(err, EINVAL, "option '--stdin-once' needs '--stdin'");
	return 0;
}

int shim_config_parse(int argc, char **argv, struct shim_config *ret, struct berr **err)
{
	struct shim_config c = {
	    .log_max_line = SHIM_LOG_MAX_LINE_DEFAULT,
	    .sync_fd = -1,
	    .timeout_s = 240,
	    .drain_ms = 1000,
	    .partial_ms = 200,
	    .log_level = "info",
	};
	long v = 0;
	int opt, r = 0;

	c.runtime_args = xcalloc(RUNTIME_ARGS_MAX + 1, sizeof(char *));
	optind = 0; /* glibc: full reinitialisation, so tests can parse repeatedly */
	opterr = 0;
	while (r >= 0 && (opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_ID:
			c.id = optarg;
			break;
		case OPT_BUNDLE:
			c.bundle = optarg;
			break;
		case OPT_RUNTIME:
			c.runtime = optarg;
			break;
		case OPT_RUNTIME_ARG:
			if (c.n_runtime_args >= RUNTIME_ARGS_MAX)
				r = berr_set(err, E2BIG, "too many '--runtime-arg' (> %d)",
					     RUNTIME_ARGS_MAX);
			else
				c.runtime_args[c.n_runtime_args++] = optarg;
			break;
		case OPT_LOG_PATH:
			c.log_path = optarg;
			break;
		case OPT_EXIT_DIR:
			c.exit_dir = optarg;
			break;
		case OPT_STATE_DIR:
			c.state_dir = optarg;
			break;
		case OPT_TERMINAL:
			c.terminal = true;
			break;
		case OPT_STDIN:
			c.open_stdin = true;
			break;
		case OPT_STDIN_ONCE:
			c.stdin_once = true;
			break;
		case OPT_LOG_MAX_LINE:
			r = parse_num("log-max-line", optarg, 1, SHIM_LOG_MAX_LINE_LIMIT, &v, err);
			c.log_max_line = (size_t)v;
			break;
		case OPT_SYNC_FD:
			r = parse_num("sync-fd", optarg, 3, INT_MAX, &v, err);
			c.sync_fd = (int)v;
			break;
		case OPT_TIMEOUT:
			r = parse_num("timeout", optarg, 1, 24 * 3600, &v, err);
			c.timeout_s = (int)v;
			break;
		case OPT_DRAIN_MS:
			r = parse_num("drain-ms", optarg, 0, 600000, &v, err);
			c.drain_ms = (int)v;
			break;
		case OPT_PARTIAL_MS:
			r = parse_num("partial-ms", optarg, 1, 600000, &v, err);
			c.partial_ms = (int)v;
			break;
		case OPT_LOG_LEVEL:
			c.log_level = optarg;
			break;
		case OPT_HELP:
			fputs(usage, stdout);
			shim_config_done(&c);
			return 1;
		case OPT_VERSION:
			puts("berth-shim " BERTH_VERSION);
			shim_config_done(&c);
			return 1;
		default:
			r = berr_set(err, EINVAL, "unknown option '%s'",
				     optind > 0 && optind <= argc ? argv[optind - 1] : "?");
			break;
		}
	}
	if (r >= 0 && optind < argc)
		r = berr_set(err, EINVAL, "unexpected argument '%s'", argv[optind]);
	if (r >= 0)
		r = config_check(&c, err);
	if (r < 0) {
		shim_config_done(&c);
		return r;
	}
	*ret = c;
	return 0;
}
