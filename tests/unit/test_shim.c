/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of shim/: CRI log writer, exit record, options, exit watcher. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "shim/shim-internal.h"
#include "shim/shim.h"

static char *tmpdir;

static int group_setup(void **state)
{
	char tpl[] = "/tmp/berth-test-shim-XXXXXX";
	tmpdir = mkdtemp(tpl) ? xstrdup(tpl) : NULL;
	return tmpdir ? 0 : -1;
}

static int group_teardown(void **state)
{
	int r = fileio_remove_tree(tmpdir, NULL);
	free(tmpdir);
	return r;
}

/* ---- log writer ---- */

struct rec {
	const char *stream;
	char tag;
	const char *text;
};

struct chunk {
	const char *data;
	bool flush_partial;
};

struct log_case {
	const char *name;
	size_t max;
	enum log_stream stream;
	struct chunk chunks[4];
	bool eof;
	struct rec want[8];
};

/* Runs the writer over chunks into a memfd and returns the log text. */
static char *run_logw(size_t max, enum log_stream stream, const struct chunk *chunks, size_t n,
		      bool eof)
{
	int fd = memfd_create("log", MFD_CLOEXEC);
	assert_true(fd >= 0);
	struct logw w;
	struct logw_stream s;
	logw_init(&w, fd, max);
	logw_stream_init(&s, stream, max);
	int64_t ts = 1795430439000000000LL;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(chunks[i].data);
		assert_true(len <= s.cap - s.len);
		memcpy(s.buf + s.len, chunks[i].data, len);
		s.len += len;
		bool last = i + 1 == n;
		assert_int_equal(logw_feed(&w, &s, ts + (int64_t)i, 1000 + (int64_t)i, last && eof,
					   chunks[i].flush_partial),
				 0);
		assert_true(s.len <= max);
		if (s.len)
			assert_true(s.partial_mono != 0);
	}
	logw_stream_done(&s);
	logw_done(&w);
	off_t size = lseek(fd, 0, SEEK_END);
	char *out = xmalloc((size_t)size + 1);
	assert_int_equal(pread(fd, out, (size_t)size, 0), size);
	out[size] = '\0';
	close(fd);
	return out;
}

/* Checks one CRI line "<ts> <stream> <tag> <text>" and advances *p. */
static void expect_record(char **p, const struct rec *want)
{
	char *line = *p, *nl = strchr(line, '\n');
	assert_non_null(nl);
	*nl = '\0';
	/* 2026-11-23T10:40:39.000000000Z: RFC 3339, UTC, nanoseconds */
	assert_true(strlen(line) > 31);
	assert_int_equal(line[4], '-');
	assert_int_equal(line[10], 'T');
	assert_int_equal(line[19], '.');
	assert_int_equal(line[29], 'Z');
	assert_int_equal(line[30], ' ');
	char *rest = line + 31;
	size_t sl = strlen(want->stream);
	assert_memory_equal(rest, want->stream, sl);
	assert_int_equal(rest[sl], ' ');
	assert_int_equal(rest[sl + 1], want->tag);
	assert_int_equal(rest[sl + 2], ' ');
	assert_string_equal(rest + sl + 3, want->text);
	*p = nl + 1;
}

static void test_logw_table(void **state)
{
	static const struct log_case cases[] = {
	    {"two lines",
	     16,
	     LOG_STREAM_STDOUT,
	     {{"a\nb\n", false}},
	     false,
	     {{"stdout", 'F', "a"}, {"stdout", 'F', "b"}}},
	    {"empty line", 16, LOG_STREAM_STDERR, {{"\n", false}}, false, {{"stderr", 'F', ""}}},
	    {"long line split",
	     4,
	     LOG_STREAM_STDOUT,
	     {{"abcdefghij\n", false}},
	     false,
	     {{"stdout", 'P', "abcd"}, {"stdout", 'P', "efgh"}, {"stdout", 'F', "ij"}}},
	    {"exactly max",
	     4,
	     LOG_STREAM_STDOUT,
	     {{"abcd\n", false}},
	     false,
	     {{"stdout", 'F', "abcd"}}},
	    {"max plus one",
	     4,
	     LOG_STREAM_STDOUT,
	     {{"abcde\n", false}},
	     false,
	     {{"stdout", 'P', "abcd"}, {"stdout", 'F', "e"}}},
	    {"no newline at eof",
	     16,
	     LOG_STREAM_STDOUT,
	     {{"abc", false}},
	     true,
	     {{"stdout", 'P', "abc"}}},
	    {"newline at eof",
	     16,
	     LOG_STREAM_STDOUT,
	     {{"abc\n", false}},
	     true,
	     {{"stdout", 'F', "abc"}}},
	    {"line across reads",
	     16,
	     LOG_STREAM_STDOUT,
	     {{"ab", false}, {"c\nd", false}, {"", false}},
	     true,
	     {{"stdout", 'F', "abc"}, {"stdout", 'P', "d"}}},
	    {"partial flushed by timer",
	     16,
	     LOG_STREAM_STDOUT,
	     {{"abc", true}, {"def\n", false}},
	     false,
	     {{"stdout", 'P', "abc"}, {"stdout", 'F', "def"}}},
	    {"long tail at eof",
	     4,
	     LOG_STREAM_STDERR,
	     {{"abcdef", false}, {"", false}},
	     true,
	     {{"stderr", 'P', "abcd"}, {"stderr", 'P', "ef"}}},
	    {"partial kept",
	     16,
	     LOG_STREAM_STDOUT,
	     {{"x\nyz", false}},
	     false,
	     {{"stdout", 'F', "x"}}},
	    {"crlf kept in text",
	     16,
	     LOG_STREAM_STDOUT,
	     {{"a\r\n", false}},
	     false,
	     {{"stdout", 'F', "a\r"}}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct log_case *c = &cases[i];
		size_t n = 0;
		while (n < 4 && c->chunks[n].data)
			n++;
		print_message("case: %s\n", c->name);
		_cleanup_free_ char *out = run_logw(c->max, c->stream, c->chunks, n, c->eof);
		char *p = out;
		for (size_t k = 0; k < 8 && c->want[k].stream; k++)
			expect_record(&p, &c->want[k]);
		assert_string_equal(p, "");
	}
}

static void test_logw_many_lines_and_big_line(void **state)
{
	/* More records than one writev takes, then a 100 KiB line, in one read. */
	size_t nlines = 3000, big = 100 * 1024, max = SHIM_LOG_MAX_LINE_DEFAULT;
	size_t cap = nlines * 8 + big + 2;
	_cleanup_free_ char *in = xmalloc(cap);
	size_t len = 0;
	for (size_t i = 0; i < nlines; i++)
		len += (size_t)sprintf(in + len, "l%zu\n", i);
	for (size_t i = 0; i < big; i++)
		in[len++] = (char)('a' + i % 26);
	in[len++] = '\n';
	in[len] = '\0';

	int fd = memfd_create("log", MFD_CLOEXEC);
	struct logw w;
	struct logw_stream s;
	logw_init(&w, fd, max);
	logw_stream_init(&s, LOG_STREAM_STDOUT, max);
	size_t off = 0;
	while (off < len) { /* feed as the shim reads: at most the free room */
		size_t k = len - off < s.cap - s.len ? len - off : s.cap - s.len;
		memcpy(s.buf + s.len, in + off, k);
		s.len += k;
		off += k;
		assert_int_equal(logw_feed(&w, &s, 1, 1, off == len, false), 0);
	}
	logw_stream_done(&s);
	logw_done(&w);

	off_t size = lseek(fd, 0, SEEK_END);
	_cleanup_free_ char *out = xmalloc((size_t)size + 1);
	assert_int_equal(pread(fd, out, (size_t)size, 0), size);
	out[size] = '\0';
	close(fd);
	char *p = out;
	char want[32];
	for (size_t i = 0; i < nlines; i++) {
		sprintf(want, "l%zu", i);
		expect_record(&p, &(struct rec){"stdout", 'F', want});
	}
	/* the big line: P chunks of exactly max, then F, text reassembles */
	size_t got = 0, nrec = 0;
	while (*p) {
		char *nl = strchr(p, '\n');
		assert_non_null(nl);
		char tag = p[31 + 7];
		size_t tl = (size_t)(nl - (p + 31 + 9));
		assert_memory_equal(p + 31 + 9, in + (len - big - 1) + got, tl);
		got += tl;
		nrec++;
		assert_int_equal(tag, got == big ? 'F' : 'P');
		if (tag == 'P')
			assert_int_equal(tl, max);
		p = nl + 1;
	}
	assert_int_equal(got, big);
	assert_int_equal(nrec, (big + max - 1) / max);
}

static void test_logw_write_error_reported(void **state)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	struct logw w;
	struct logw_stream s;
	logw_init(&w, p[1], 16);
	logw_stream_init(&s, LOG_STREAM_STDOUT, 16);
	memcpy(s.buf, "x\n", 2);
	s.len = 2;
	assert_int_equal(logw_feed(&w, &s, 1, 1, false, false), -EPIPE);
	assert_int_equal(w.write_errno, EPIPE);
	assert_int_equal(s.len, 0); /* dropped, not retried forever */
	logw_stream_done(&s);
	logw_done(&w);
	close(p[1]);
}

/* ---- exit record ---- */

static void test_exit_record_round_trip(void **state)
{
	struct shim_exit in = {.pid = 4242,
			       .exit_code = 137,
			       .signal = 9,
			       .finished_ns = 1795430439123456789LL,
			       .oom_killed = true};
	char buf[256];
	size_t n = shim_exit_encode(&in, buf, sizeof(buf));
	assert_true(n > 0 && n < sizeof(buf));
	assert_non_null(strstr(buf, "version=1\n"));
	struct shim_exit out;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(shim_exit_decode(buf, &out, &e), 0);
	assert_int_equal(out.pid, in.pid);
	assert_int_equal(out.exit_code, in.exit_code);
	assert_int_equal(out.signal, in.signal);
	assert_true(out.finished_ns == in.finished_ns);
	assert_true(out.oom_killed);

	_cleanup_free_ char *path = xasprintf("%s/exitrec", tmpdir);
	assert_int_equal(fileio_write_atomic(path, buf, n, 0600, NULL), 0);
	struct shim_exit out2;
	assert_int_equal(shim_read_exit(path, &out2, &e), 0);
	assert_int_equal(out2.exit_code, 137);
}

static void test_exit_record_decode_errors(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
	    {"pid=1\nexit_code=0\nfinished_ns=1\n", "unsupported version -1"},
	    {"version=2\npid=1\nexit_code=0\nfinished_ns=1\n", "unsupported version 2"},
	    {"version=1\npid=1\nfinished_ns=1\n", "missing keys"},
	    {"version=1\npid=x\nexit_code=0\nfinished_ns=1\n", "bad value of 'pid'"},
	    {"version=1\ngarbage\n", "line without '='"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_berr_ struct berr *e = NULL;
		struct shim_exit out;
		assert_int_equal(shim_exit_decode(cases[i].text, &out, &e), -EPROTO);
		assert_non_null(strstr(e->msg, cases[i].msg));
	}
	/* unknown keys are ignored: version 1 may grow */
	struct shim_exit out;
	assert_int_equal(shim_exit_decode("version=1\nnew_key=7\npid=3\nexit_code=2\n"
					  "finished_ns=9",
					  &out, NULL),
			 0);
	assert_int_equal(out.exit_code, 2);
	assert_int_equal(out.signal, 0);
	assert_false(out.oom_killed);
}

static void test_exit_read_missing_file(void **state)
{
	_cleanup_berr_ struct berr *e = NULL;
	struct shim_exit out;
	_cleanup_free_ char *path = xasprintf("%s/nope", tmpdir);
	assert_int_equal(shim_read_exit(path, &out, &e), -ENOENT);
	assert_non_null(strstr(e->msg, "nope"));
}

/* ---- options ---- */

#define BASE_ARGS                                                                                  \
	"berth-shim", "--id", "c1", "--bundle", "/b", "--runtime", "/usr/sbin/runc", "--log-path", \
	    "/l/c.log", "--exit-dir", "/x", "--state-dir", "/s"

static void test_config_parse_full(void **state)
{
	char *argv[] = {BASE_ARGS,
			"--runtime-arg",
			"--root=/r",
			"--runtime-arg",
			"--debug",
			"--terminal",
			"--stdin",
			"--stdin-once",
			"--log-max-line",
			"100",
			"--sync-fd",
			"3",
			NULL};
	struct shim_config c;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(shim_config_parse((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv, &c, &e),
			 0);
	assert_string_equal(c.id, "c1");
	assert_string_equal(c.runtime, "/usr/sbin/runc");
	assert_int_equal(c.n_runtime_args, 2);
	assert_string_equal(c.runtime_args[0], "--root=/r");
	assert_string_equal(c.runtime_args[1], "--debug");
	assert_null(c.runtime_args[2]);
	assert_true(c.terminal && c.open_stdin && c.stdin_once);
	assert_int_equal(c.log_max_line, 100);
	assert_int_equal(c.sync_fd, 3);
	shim_config_done(&c);

	char *argv2[] = {BASE_ARGS, NULL};
	assert_int_equal(
	    shim_config_parse((int)(sizeof(argv2) / sizeof(argv2[0])) - 1, argv2, &c, &e), 0);
	assert_int_equal(c.log_max_line, SHIM_LOG_MAX_LINE_DEFAULT);
	assert_int_equal(c.sync_fd, -1);
	assert_false(c.terminal);
	shim_config_done(&c);
}

static void test_config_parse_errors(void **state)
{
	static const struct {
		const char *args[4];
		const char *msg;
	} cases[] = {
	    {{"--log-max-line", "0"}, "'--log-max-line': '0' is not a number in 1..1048576"},
	    {{"--log-max-line", "2000000"}, "not a number in 1..1048576"},
	    {{"--sync-fd", "1"}, "'--sync-fd'"},
	    {{"--stdin-once"}, "'--stdin-once' needs '--stdin'"},
	    {{"--bogus"}, "unknown option '--bogus'"},
	    {{"extra"}, "unexpected argument 'extra'"},
	    {{"--id", "../evil"}, "invalid container id '../evil'"},
	    {{"--id", "a.tmp.b"}, "invalid container id"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[20] = {BASE_ARGS};
		int argc = 13;
		for (int k = 0; k < 4 && cases[i].args[k]; k++)
			argv[argc++] = (char *)cases[i].args[k];
		argv[argc] = NULL;
		struct shim_config c;
		_cleanup_berr_ struct berr *e = NULL;
		assert_int_equal(shim_config_parse(argc, argv, &c, &e), -EINVAL);
		print_message("%s\n", e->msg);
		assert_non_null(strstr(e->msg, cases[i].msg));
	}
	char *argv[] = {"berth-shim", "--id", "c1", NULL};
	struct shim_config c;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(shim_config_parse(3, argv, &c, &e), -EINVAL);
	assert_string_equal(e->msg, "option '--bundle' is required");
}

static void test_id_validity(void **state)
{
	assert_true(shim_id_is_valid("abc"));
	assert_true(shim_id_is_valid("A-b_c.9"));
	assert_false(shim_id_is_valid(""));
	assert_false(shim_id_is_valid(".hidden"));
	assert_false(shim_id_is_valid("a/b"));
	assert_false(shim_id_is_valid("x.tmp.123456"));
	char long_id[200];
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	assert_false(shim_id_is_valid(long_id));
}

static void test_runtime_error_text(void **state)
{
	static const struct {
		const char *out, *want;
	} cases[] = {
	    {"time=\"2026-11-23T10:37:44Z\" level=error msg=\"runc create failed: chdir "
	     "/x: no such file\"\n",
	     "runc create failed: chdir /x: no such file"},
	    {"warning\ntime=\"t\" level=error msg=\"say \\\"hi\\\"\"\n\n", "say \"hi\""},
	    {"plain error line\n", "plain error line"},
	    {"", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *t =
		    shim_runtime_error_text(cases[i].out, strlen(cases[i].out));
		assert_string_equal(t, cases[i].want);
	}
}

/* ---- client ---- */

static void test_exit_watch_reports_renamed_records(void **state)
{
	_cleanup_free_ char *dir = xasprintf("%s/exits", tmpdir);
	assert_int_equal(fileio_mkdir_p(dir, 0700, NULL), 0);
	struct shim_exit_watch *w = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(shim_exit_watch_new(dir, &w, &e), 0);

	char **ids = NULL;
	assert_int_equal(shim_exit_watch_read(w, &ids, &e), 0);
	assert_null(ids[0]);
	strv_free(ids);

	_cleanup_free_ char *p1 = xasprintf("%s/ctr1", dir);
	assert_int_equal(fileio_write_atomic(p1, "version=1\n", 10, 0600, NULL), 0);
	struct pollfd p = {.fd = shim_exit_watch_fd(w), .events = POLLIN};
	assert_int_equal(poll(&p, 1, 5000), 1);
	int n = shim_exit_watch_read(w, &ids, &e);
	assert_int_equal(n, 1); /* the temp file's events are filtered out */
	assert_string_equal(ids[0], "ctr1");
	assert_null(ids[1]);
	strv_free(ids);

	assert_int_equal(shim_exit_scan(dir, &ids, &e), 1);
	assert_string_equal(ids[0], "ctr1");
	strv_free(ids);
	shim_exit_watch_free(w);

	_cleanup_free_ char *missing = xasprintf("%s/none", tmpdir);
	assert_int_equal(shim_exit_watch_new(missing, &w, &e), -ENOENT);
	assert_non_null(strstr(e->msg, "watch exit dir"));
}

static void test_ctl_errors(void **state)
{
	_cleanup_berr_ struct berr *e = NULL;
	_cleanup_free_ char *path = xasprintf("%s/no/ctl.sock", tmpdir);
	assert_int_equal(shim_reopen_log(path, &e), -ENOENT);
	assert_non_null(strstr(e->msg, "connect to shim"));
	assert_int_equal(shim_ctl_call(path, "", 0, NULL, &e), -EINVAL);
	int fd = -1;
	assert_int_equal(shim_attach(path, SHIM_ATTACH_STDOUT, &fd, &e), -ENOENT);
	assert_int_equal(fd, -1);
}

static void test_sockaddr_long_path(void **state)
{
	/* a directory whose path is longer than sun_path */
	_cleanup_free_ char *dir = xasprintf("%s/%0100d/%0100d", tmpdir, 1, 2);
	assert_int_equal(fileio_mkdir_p(dir, 0700, NULL), 0);
	_cleanup_free_ char *path = xasprintf("%s/ctl.sock", dir);
	struct sockaddr_un sa;
	socklen_t sl;
	int dfd;
	assert_int_equal(shim_sockaddr(path, &sa, &sl, &dfd, NULL), 0);
	assert_true(dfd >= 0);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sl), 0);
	close(fd);
	close(dfd);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
}

static void test_start_rejects_bad_options(void **state)
{
	_cleanup_berr_ struct berr *e = NULL;
	struct shim_info info;
	struct shim_opts o = {.id = "bad/id",
			      .bundle = "/b",
			      .runtime = "/r",
			      .log_path = "/l",
			      .exit_dir = "/x",
			      .state_dir = "/s"};
	assert_int_equal(shim_start(&o, &info, &e), -EINVAL);
	assert_string_equal(e->msg, "invalid container id 'bad/id'");
	o.id = "ok";
	o.log_max_line = SHIM_LOG_MAX_LINE_LIMIT + 1;
	assert_int_equal(shim_start(&o, &info, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "log line limit too large"));
}

/* A fake berth-shim: a shell script that answers on the sync fd (3). */
static char *fake_shim(const char *name, const char *body)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	_cleanup_free_ char *text = xasprintf("#!/bin/sh\n%s\n", body);
	assert_int_equal(fileio_write_atomic(path, text, strlen(text), 0755, NULL), 0);
	return path;
}

static int start_fake(const char *shim, struct shim_info *info, struct berr **e)
{
	struct shim_opts o = {.shim_path = shim,
			      .id = "c1",
			      .bundle = "/b",
			      .runtime = "/r",
			      .log_path = "/l",
			      .exit_dir = "/x",
			      .state_dir = "/s",
			      .timeout_ms = 1};
	return shim_start(&o, info, e);
}

static void test_start_sync_protocol(void **state)
{
	_cleanup_berr_ struct berr *e = NULL;
	struct shim_info info;

	_cleanup_free_ char *ok = fake_shim("ok.sh", "echo 'berth-shim 1 0 123 456 ok' >&3");
	assert_int_equal(start_fake(ok, &info, &e), 0);
	assert_int_equal(info.shim_pid, 123);
	assert_int_equal(info.container_pid, 456);
	assert_string_equal(info.ctl_path, "/s/ctl.sock");
	shim_info_done(&info);

	_cleanup_free_ char *fail =
	    fake_shim("fail.sh", "echo 'berth-shim 1 5 123 0 runtime create failed: boom' >&3");
	assert_int_equal(start_fake(fail, &info, &e), -EIO);
	assert_string_equal(e->msg, "create container 'c1': runtime create failed: boom");

	_cleanup_free_ char *silent = fake_shim("silent.sh", "exit 3");
	assert_int_equal(start_fake(silent, &info, &e), -EIO);
	assert_non_null(strstr(e->msg, "exited without reporting (exit status 3)"));

	_cleanup_free_ char *garbage = fake_shim("garbage.sh", "echo 'hello' >&3");
	assert_int_equal(start_fake(garbage, &info, &e), -EPROTO);
	assert_non_null(strstr(e->msg, "malformed shim sync message"));

	_cleanup_free_ char *v2 = fake_shim("v2.sh", "echo 'berth-shim 2 0 1 2 ok' >&3");
	assert_int_equal(start_fake(v2, &info, &e), -EPROTO);
	assert_non_null(strstr(e->msg, "version 2 unsupported"));

	/* the first process exits, a daemon keeps the pipe open and never reports */
	_cleanup_free_ char *pidf = xasprintf("%s/hang.pid", tmpdir);
	_cleanup_free_ char *body = xasprintf("sleep 30 >/dev/null 2>&1 & echo $! > %s", pidf);
	_cleanup_free_ char *hang = fake_shim("hang.sh", body);
	int r = start_fake(hang, &info, &e);
	_cleanup_free_ char *pidtext = NULL;
	if (fileio_read_all(pidf, 64, &pidtext, NULL, NULL) == 0)
		kill(atoi(pidtext), SIGKILL); /* the fake daemon; init reaps it */
	assert_int_equal(r, -ETIMEDOUT);
	assert_non_null(strstr(e->msg, "did not report within 3000 ms"));

	_cleanup_free_ char *missing = xasprintf("%s/no-such-shim", tmpdir);
	assert_int_equal(start_fake(missing, &info, &e), -ENOENT);
}

static void test_oom_counter_of_self(void **state)
{
	/* Every process is in some memory cgroup (v1 or v2) here. */
	_cleanup_free_ char *path = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(shim_oom_path(getpid(), &path, &e), 0);
	assert_true(strstr(path, "/memory.oom_control") || strstr(path, "/memory.events"));
	uint64_t count = UINT64_MAX;
	assert_int_equal(shim_oom_count(path, &count), 0);
	assert_true(count != UINT64_MAX);
	assert_int_equal(shim_oom_path(0x7ffffff0, &path, &e), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_logw_table),
	    cmocka_unit_test(test_logw_many_lines_and_big_line),
	    cmocka_unit_test(test_logw_write_error_reported),
	    cmocka_unit_test(test_exit_record_round_trip),
	    cmocka_unit_test(test_exit_record_decode_errors),
	    cmocka_unit_test(test_exit_read_missing_file),
	    cmocka_unit_test(test_config_parse_full),
	    cmocka_unit_test(test_config_parse_errors),
	    cmocka_unit_test(test_id_validity),
	    cmocka_unit_test(test_runtime_error_text),
	    cmocka_unit_test(test_exit_watch_reports_renamed_records),
	    cmocka_unit_test(test_ctl_errors),
	    cmocka_unit_test(test_sockaddr_long_path),
	    cmocka_unit_test(test_start_rejects_bad_options),
	    cmocka_unit_test(test_start_sync_protocol),
	    cmocka_unit_test(test_oom_counter_of_self),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
