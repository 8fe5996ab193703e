/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of common/: errors, atomic files, IDs, spawn. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fault.h"
#include "common/fileio.h"
#include "common/idmap.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/prom.h"
#include "common/spawn.h"
#include "common/strv.h"
#include "common/sysctl.h"

static char *tmpdir;

static int group_setup(void **state)
{
	char tpl[] = "/tmp/berth-test-common-XXXXXX";
	tmpdir = xstrdup(mkdtemp(tpl));
	signal(SIGPIPE, SIG_IGN);
	return tmpdir ? 0 : -1;
}

static int group_teardown(void **state)
{
	int r = fileio_remove_tree(tmpdir, NULL);
	free(tmpdir);
	return r;
}

static void test_err_set_and_wrap(void **state)
{
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(berr_set(&e, ENOENT, "container '%s'", "abc"), -ENOENT);
	assert_int_equal(berr_wrap(&e, "start"), -ENOENT);
	assert_string_equal(e->msg, "start: container 'abc'");
	assert_int_equal(e->code, ENOENT);
	/* a zero code is never stored */
	assert_int_equal(berr_set(&e, 0, "x"), -EIO);
	assert_int_equal(e->code, EIO);
	/* NULL err still returns the code */
	assert_int_equal(berr_set(NULL, EINVAL, "y"), -EINVAL);
	assert_string_equal(berr_msg(NULL), "");
}

static void test_err_set_errno_appends_strerror(void **state)
{
	_cleanup_berr_ struct berr *e = NULL;
	berr_set_errno(&e, EACCES, "open '%s'", "/x");
	assert_string_equal(e->msg, "open '/x': Permission denied");
}

static void test_err_move(void **state)
{
	_cleanup_berr_ struct berr *a = NULL, *b = NULL;
	berr_set(&a, EBUSY, "busy");
	assert_int_equal(berr_move(&b, &a), -EBUSY);
	assert_null(a);
	assert_string_equal(b->msg, "busy");
}

static void test_fileio_atomic_roundtrip(void **state)
{
	_cleanup_free_ char *p = xasprintf("%s/state.json", tmpdir);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(fileio_write_atomic(p, "{\"a\":1}", 7, 0600, &e), 0);
	assert_int_equal(fileio_write_atomic(p, "{\"b\":2}", 7, 0600, &e), 0);
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	assert_int_equal(fileio_read_all(p, 1024, &data, &len, &e), 0);
	assert_int_equal(len, 7);
	assert_string_equal(data, "{\"b\":2}");
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

/* Same replacement without fsync: content, mode, no temp file left behind. */
static void test_fileio_atomic_nosync_roundtrip(void **state)
{
	_cleanup_free_ char *dir = xasprintf("%s/nosync", tmpdir);
	_cleanup_free_ char *p = xasprintf("%s/config.json", dir);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(fileio_mkdir_p(dir, 0700, &e), 0);
	assert_int_equal(fileio_write_atomic_nosync(p, "{\"a\":1}", 7, 0644, &e), 0);
	assert_int_equal(fileio_write_atomic_nosync(p, "{\"b\":22}", 8, 0600, &e), 0);
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	assert_int_equal(fileio_read_all(p, 1024, &data, &len, &e), 0);
	assert_int_equal(len, 8);
	assert_string_equal(data, "{\"b\":22}");
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	for (struct dirent *de; (de = readdir(d));)
		n += de->d_name[0] != '.';
	closedir(d);
	assert_int_equal(n, 1);
}

static void test_fileio_read_limit(void **state)
{
	_cleanup_free_ char *p = xasprintf("%s/big", tmpdir);
	char buf[10000];
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(fileio_write_atomic(p, buf, sizeof(buf), 0644, NULL), 0);
	_cleanup_free_ char *data = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(fileio_read_all(p, 100, &data, NULL, &e), -EFBIG);
	assert_non_null(strstr(e->msg, "larger than 100 bytes"));
	assert_null(data);
}

static void test_fileio_read_missing(void **state)
{
	_cleanup_free_ char *data = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(fileio_read_all("/nonexistent/berth", 10, &data, NULL, &e), -ENOENT);
	assert_non_null(strstr(e->msg, "'/nonexistent/berth'"));
}

static void test_fileio_mkdir_and_remove_tree(void **state)
{
	_cleanup_free_ char *p = xasprintf("%s/a/b/c", tmpdir);
	_cleanup_free_ char *top = xasprintf("%s/a", tmpdir);
	assert_int_equal(fileio_mkdir_p(p, 0755, NULL), 0);
	assert_int_equal(fileio_mkdir_p(p, 0755, NULL), 0);
	_cleanup_free_ char *f = xasprintf("%s/file", p);
	assert_int_equal(fileio_write_atomic(f, "x", 1, 0644, NULL), 0);
	_cleanup_free_ char *l = xasprintf("%s/link", p);
	assert_int_equal(symlink("/etc", l), 0);
	assert_int_equal(fileio_remove_tree(top, NULL), 0);
	assert_int_equal(access(top, F_OK), -1);
	assert_int_equal(access("/etc/passwd", F_OK), 0);
	assert_int_equal(fileio_remove_tree(top, NULL), 0);
}

static void test_fileio_mkdir_over_file(void **state)
{
	_cleanup_free_ char *f = xasprintf("%s/plain", tmpdir);
	assert_int_equal(fileio_write_atomic(f, "x", 1, 0644, NULL), 0);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(fileio_mkdir_p(f, 0755, &e), -ENOTDIR);
}

static void test_ids(void **state)
{
	char a[ID_LEN + 1], b[ID_LEN + 1];
	assert_int_equal(id_generate(a, NULL), 0);
	assert_int_equal(id_generate(b, NULL), 0);
	assert_true(id_is_valid(a));
	assert_string_not_equal(a, b);
	assert_false(id_is_valid("abc"));
	assert_true(id_is_prefix("abc"));
	assert_false(id_is_prefix("ABC"));
	assert_false(id_is_prefix(""));
	assert_false(id_is_prefix("xyz"));
}

static void test_time_format(void **state)
{
	char buf[64];
	assert_string_equal(time_format_rfc3339nano(1700000000123456789LL, buf, sizeof(buf)),
			    "2023-11-14T22:13:20.123456789Z");
}

static void test_log_level_parse(void **state)
{
	static const struct {
		const char *in;
		int r;
		enum log_level l;
	} cases[] = {{"debug", 0, LOG_LEVEL_DEBUG},
		     {"INFO", 0, LOG_LEVEL_INFO},
		     {"warning", 0, LOG_LEVEL_WARN},
		     {"error", 0, LOG_LEVEL_ERROR},
		     {"loud", -EINVAL, 0}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum log_level l = LOG_LEVEL_MAX;
		assert_int_equal(log_level_parse(cases[i].in, &l), cases[i].r);
		if (cases[i].r == 0)
			assert_int_equal(l, cases[i].l);
	}
}

static void test_spawn_run_captures(void **state)
{
	char *argv[] = {"/bin/sh", "-c", "cat; echo err >&2; exit 3", NULL};
	struct spawn_opts o = SPAWN_OPTS_INIT;
	o.argv = argv;
	struct spawn_result r;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(spawn_run(&o, "hello", 5, 1024, 5000, &r, &e), 0);
	assert_string_equal(r.out, "hello");
	assert_string_equal(r.errout, "err\n");
	assert_true(WIFEXITED(r.status));
	assert_int_equal(WEXITSTATUS(r.status), 3);
	assert_false(r.timed_out);
	spawn_result_done(&r);
}

static void test_spawn_run_large_input(void **state)
{
	/* more than a pipe buffer each way: must not deadlock */
	size_t n = 1 << 20;
	_cleanup_free_ char *in = xmalloc(n);
	memset(in, 'a', n);
	char *argv[] = {"/bin/cat", NULL};
	struct spawn_opts o = SPAWN_OPTS_INIT;
	o.argv = argv;
	struct spawn_result r;
	assert_int_equal(spawn_run(&o, in, n, 2 * n, 10000, &r, NULL), 0);
	assert_int_equal(r.out_len, n);
	assert_false(r.truncated);
	spawn_result_done(&r);
}

static void test_spawn_run_truncates(void **state)
{
	char *argv[] = {"/bin/sh", "-c", "head -c 5000 /dev/zero", NULL};
	struct spawn_opts o = SPAWN_OPTS_INIT;
	o.argv = argv;
	struct spawn_result r;
	assert_int_equal(spawn_run(&o, NULL, 0, 100, 5000, &r, NULL), 0);
	assert_int_equal(r.out_len, 100);
	assert_true(r.truncated);
	spawn_result_done(&r);
}

static void test_spawn_run_timeout_kills(void **state)
{
	char *argv[] = {"/bin/sleep", "30", NULL};
	struct spawn_opts o = SPAWN_OPTS_INIT;
	o.argv = argv;
	o.setsid = true;
	struct spawn_result r;
	int64_t t0 = time_mono_ns();
	assert_int_equal(spawn_run(&o, NULL, 0, 100, 200, &r, NULL), 0);
	assert_true(r.timed_out);
	assert_true(WIFSIGNALED(r.status));
	assert_int_equal(WTERMSIG(r.status), SIGKILL);
	/* returned long before the sleep would have ended */
	assert_true(time_mono_ns() - t0 < 20LL * 1000000000LL);
	spawn_result_done(&r);
}

static void test_spawn_run_background_child_holds_pipe(void **state)
{
	/* the grandchild keeps stdout open; spawn_run must return when sh exits */
	char *argv[] = {"/bin/sh", "-c", "echo hi; sleep 30 & echo $! >&2; exit 0", NULL};
	struct spawn_opts o = SPAWN_OPTS_INIT;
	o.argv = argv;
	o.setsid = true;
	struct spawn_result r;
	int64_t t0 = time_mono_ns();
	assert_int_equal(spawn_run(&o, NULL, 0, 100, 20000, &r, NULL), 0);
	assert_false(r.timed_out);
	assert_string_equal(r.out, "hi\n");
	assert_true(time_mono_ns() - t0 < 15LL * 1000000000LL);
	pid_t bg = (pid_t)atoi(r.errout);
	assert_true(bg > 1);
	kill(bg, SIGKILL);
	spawn_result_done(&r);
}

static void test_spawn_missing_program(void **state)
{
	char *argv[] = {"/nonexistent/prog", NULL};
	struct spawn_opts o = SPAWN_OPTS_INIT;
	o.argv = argv;
	pid_t pid;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(spawn_start(&o, &pid, &e), -ENOENT);
	assert_non_null(strstr(e->msg, "'/nonexistent/prog'"));
}

static void test_spawn_fd_map_and_cwd(void **state)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	char *argv[] = {"/bin/sh", "-c", "pwd >&3; ls /proc/self/fd | wc -l >&3", NULL};
	struct spawn_opts o = SPAWN_OPTS_INIT;
	o.argv = argv;
	o.keep_fds = &p[1];
	o.n_keep = 1;
	o.cwd = "/tmp";
	pid_t pid;
	assert_int_equal(spawn_start(&o, &pid, NULL), 0);
	close(p[1]);
	int st;
	assert_int_equal(spawn_wait(pid, &st, NULL), 0);
	char buf[256] = {0};
	ssize_t n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	assert_true(n > 0);
	/* /tmp, then fds 0,1,2,3 plus the one ls opens */
	assert_string_equal(buf, "/tmp\n5\n");
}

static void test_spawn_status_str(void **state)
{
	_cleanup_free_ char *a = spawn_status_str(3 << 8);
	assert_string_equal(a, "exit status 3");
	_cleanup_free_ char *b = spawn_status_str(SIGKILL);
	assert_non_null(strstr(b, "killed by signal 9"));
}

static void test_strv_push_join_split(void **state)
{
	_cleanup_strv_ char **v = NULL;
	size_t n = 0;
	assert_int_equal(strv_len(v), 0);
	_cleanup_free_ char *empty = strv_join(v, ',');
	assert_string_equal(empty, "");
	strv_push(&v, &n, "a");
	char *const more[] = {"bb", "c", NULL};
	strv_extend(&v, &n, more);
	assert_int_equal(n, 3);
	assert_int_equal(strv_len(v), 3);
	_cleanup_free_ char *j = strv_join(v, ',');
	assert_string_equal(j, "a,bb,c");
	_cleanup_strv_ char **back = strv_split(",a,,bb,c,", ',');
	assert_true(strv_equal(v, back));
	assert_true(strv_contains(v, "bb"));
	assert_false(strv_contains(v, "b"));
	_cleanup_strv_ char **c = strv_copy(v);
	assert_true(c != v && strv_equal(c, v));
	assert_null(strv_copy(NULL));
	char *const other[] = {"a", "bb", NULL};
	assert_false(strv_equal(v, other));
}

static void test_sysctl_ns_of(void **state)
{
	static const struct {
		const char *key;
		enum sysctl_ns ns;
	} cases[] = {
	    {"net.ipv4.ip_forward", SYSCTL_NS_NET},
	    {"net/ipv4/ip_forward", SYSCTL_NS_NET},
	    {"kernel.shmmax", SYSCTL_NS_IPC},
	    {"kernel/shmall", SYSCTL_NS_IPC},
	    {"kernel.msgmax", SYSCTL_NS_IPC},
	    {"kernel.sem", SYSCTL_NS_IPC},
	    {"fs.mqueue.msg_max", SYSCTL_NS_IPC},
	    {"fs/mqueue/queues_max", SYSCTL_NS_IPC},
	    {"kernel.panic", SYSCTL_NS_NONE},
	    {"kernel.hostname", SYSCTL_NS_NONE},
	    {"network.x", SYSCTL_NS_NONE},
	    {"netx", SYSCTL_NS_NONE},
	    {"", SYSCTL_NS_NONE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("key: '%s'\n", cases[i].key);
		assert_int_equal(sysctl_ns_of(cases[i].key), cases[i].ns);
	}
}

/* Emits one event through a pipe and returns the line (without its newline). */
static char *log_line(enum log_format f, enum log_level min, const char *msg)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	log_setup(min, p[1]);
	log_set_format(f);
	log_emit(LOG_LEVEL_INFO, "t\"c", "%s", msg);
	log_setup(LOG_LEVEL_INFO, STDERR_FILENO);
	log_set_format(LOG_FORMAT_TEXT);
	char buf[65536];
	ssize_t n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	close(p[1]);
	if (n <= 0)
		return NULL;
	assert_int_equal(buf[n - 1], '\n');
	buf[n - 1] = '\0';
	return xstrdup(buf);
}

static void test_log_json(void **state)
{
	_cleanup_free_ char *line =
	    log_line(LOG_FORMAT_JSON, LOG_LEVEL_DEBUG,
		     "method=Run id=\"a b\" dur_ms=12 neg=-3 big=123456789012345678901 z=007 "
		     "sandbox=123456789012 pod_id=42 "
		     "msg=\"say \\\"hi\\\"\\x0a\\\\ done\" stray");
	assert_non_null(line);
	struct json_object *o = json_tokener_parse(line);
	assert_non_null(o);
	struct json_object *v;
	assert_true(json_object_object_get_ex(o, "ts", &v));
	const char *ts = json_object_get_string(v);
	assert_int_equal(strlen(ts), 27); /* 2026-01-02T03:04:05.123456Z */
	assert_int_equal(ts[10], 'T');
	assert_int_equal(ts[26], 'Z');
	assert_true(json_object_object_get_ex(o, "level", &v));
	assert_string_equal(json_object_get_string(v), "info");
	assert_true(json_object_object_get_ex(o, "component", &v));
	assert_string_equal(json_object_get_string(v), "t\"c");
	assert_true(json_object_object_get_ex(o, "id", &v));
	assert_string_equal(json_object_get_string(v), "a b");
	assert_true(json_object_object_get_ex(o, "dur_ms", &v));
	assert_true(json_object_is_type(v, json_type_int));
	assert_int_equal(json_object_get_int(v), 12);
	assert_true(json_object_object_get_ex(o, "neg", &v));
	assert_int_equal(json_object_get_int(v), -3);
	/* too big for a number, and a leading zero: strings */
	assert_true(json_object_object_get_ex(o, "big", &v));
	assert_true(json_object_is_type(v, json_type_string));
	assert_true(json_object_object_get_ex(o, "z", &v));
	assert_string_equal(json_object_get_string(v), "007");
	assert_true(json_object_object_get_ex(o, "msg", &v));
	assert_string_equal(json_object_get_string(v), "say \"hi\"\n\\ done");
	/* an all-digit ID prefix stays a string */
	assert_true(json_object_object_get_ex(o, "sandbox", &v));
	assert_true(json_object_is_type(v, json_type_string));
	assert_string_equal(json_object_get_string(v), "123456789012");
	assert_true(json_object_object_get_ex(o, "pod_id", &v));
	assert_true(json_object_is_type(v, json_type_string));
	assert_true(json_object_object_get_ex(o, "text", &v));
	assert_string_equal(json_object_get_string(v), "stray");
	json_object_put(o);

	/* the longest event, all control bytes: still one object that parses */
	char big[4200];
	memset(big, 1, sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	_cleanup_free_ char *msg = xasprintf("msg=\"%s\"", big);
	_cleanup_free_ char *l2 = log_line(LOG_FORMAT_JSON, LOG_LEVEL_DEBUG, msg);
	o = json_tokener_parse(l2);
	assert_non_null(o);
	json_object_put(o);
}

static void test_log_text_and_level(void **state)
{
	_cleanup_free_ char *line = log_line(LOG_FORMAT_TEXT, LOG_LEVEL_DEBUG, "id=x msg=\"m\"");
	assert_non_null(strstr(line, "Z info t\"c id=x msg=\"m\""));
	/* below the level: nothing written */
	_cleanup_free_ char *none = log_line(LOG_FORMAT_TEXT, LOG_LEVEL_WARN, "id=x");
	assert_null(none);
	log_set_level(LOG_LEVEL_ERROR);
	assert_int_equal(log_get_level(), LOG_LEVEL_ERROR);
	assert_false(log_enabled(LOG_LEVEL_WARN));
	log_set_level(LOG_LEVEL_INFO);
	enum log_format f;
	assert_int_equal(log_format_parse("json", &f), 0);
	assert_int_equal(f, LOG_FORMAT_JSON);
	assert_int_equal(log_format_parse("JSON", &f), 0);
	assert_int_equal(log_format_parse("yaml", &f), -EINVAL);
	assert_string_equal(log_format_name(LOG_FORMAT_TEXT), "text");
}

static void test_prom_text(void **state)
{
	const double buckets[] = {0.1, 1};
	struct prom_family *c = prom_family_new("x_total", "A \\ help\nline.", PROM_COUNTER,
						(const char *[]){"method", "code", NULL}, NULL, 0);
	struct prom_family *h = prom_family_new("x_seconds", "H.", PROM_HISTOGRAM,
						(const char *[]){"op", NULL}, buckets, 2);
	struct prom_family *g = prom_family_new("x_gauge", "G.", PROM_GAUGE, NULL, NULL, 0);
	prom_add(c, (const char *[]){"Run", "OK"}, 1);
	prom_add(c, (const char *[]){"Run", "OK"}, 2);
	prom_add(c, (const char *[]){"a\"b\\c\nd", NULL}, 1);
	prom_observe(h, (const char *[]){"start"}, 0.05);
	prom_observe(h, (const char *[]){"start"}, 0.5);
	prom_observe(h, (const char *[]){"start"}, 5);
	prom_set(g, NULL, 2.5);
	struct prom_buf b = {0};
	prom_write(&b, c);
	prom_write(&b, h);
	prom_write(&b, g);
	assert_non_null(b.s);
	assert_string_equal(b.s, "# HELP x_total A \\\\ help\\nline.\n"
				 "# TYPE x_total counter\n"
				 "x_total{method=\"Run\",code=\"OK\"} 3\n"
				 "x_total{method=\"a\\\"b\\\\c\\nd\",code=\"\"} 1\n"
				 "# HELP x_seconds H.\n"
				 "# TYPE x_seconds histogram\n"
				 "x_seconds_bucket{op=\"start\",le=\"0.1\"} 1\n"
				 "x_seconds_bucket{op=\"start\",le=\"1\"} 2\n"
				 "x_seconds_bucket{op=\"start\",le=\"+Inf\"} 3\n"
				 "x_seconds_sum{op=\"start\"} 5.5499999999999998\n"
				 "x_seconds_count{op=\"start\"} 3\n"
				 "# HELP x_gauge G.\n"
				 "# TYPE x_gauge gauge\n"
				 "x_gauge 2.5\n");
	prom_buf_done(&b);
	prom_family_free(c);
	prom_family_free(h);
	prom_family_free(g);
}

/* ---- idmapped mounts ---- */

/* A child in a new user namespace mapping 0..999 to host 100000..; it waits on
 * the pipe (closing it ends it). Returns its pid; *ret_fd: its namespace. */
static pid_t userns_child(int *ret_pipe, int *ret_fd)
{
	int go[2], ready[2];
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(go[1]); /* so that the parent's close is our EOF */
		char c = unshare(CLONE_NEWUSER) == 0 ? 'U' : 'E';
		(void)!write(ready[1], &c, 1);
		(void)!read(go[0], &c, 1);
		_exit(0);
	}
	close(go[0]);
	close(ready[1]);
	char c = 0;
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	assert_int_equal(c, 'U');
	const char *files[] = {"uid_map", "gid_map"};
	for (int i = 0; i < 2; i++) {
		_cleanup_free_ char *p = xasprintf("/proc/%d/%s", (int)pid, files[i]);
		_cleanup_close_ int fd = open(p, O_WRONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "0 100000 1000\n", 14), 14);
	}
	_cleanup_free_ char *ns = xasprintf("/proc/%d/ns/user", (int)pid);
	*ret_fd = open(ns, O_RDONLY | O_CLOEXEC);
	assert_true(*ret_fd >= 0);
	*ret_pipe = go[1];
	return pid;
}

static void test_idmap_bind_and_unbind(void **state)
{
	int go, fd;
	pid_t pid = userns_child(&go, &fd);
	_cleanup_free_ char *src = xasprintf("%s/idmap-src", tmpdir);
	_cleanup_free_ char *dir = xasprintf("%s/idmap", tmpdir);
	_cleanup_free_ char *f0 = xasprintf("%s/root-file", src);
	_cleanup_free_ char *f1 = xasprintf("%s/high-file", src);
	assert_int_equal(fileio_mkdir_p(src, 0755, NULL), 0);
	assert_int_equal(fileio_mkdir_p(dir, 0711, NULL), 0);
	assert_int_equal(fileio_write_atomic(f0, "r", 1, 0644, NULL), 0);
	assert_int_equal(fileio_write_atomic(f1, "h", 1, 0644, NULL), 0);
	assert_int_equal(chown(f1, 5000, 5000), 0); /* beyond the mapping's 1000 */
	_cleanup_free_ char *t_dir = xasprintf("%s/d", dir);
	_cleanup_free_ char *t_file = xasprintf("%s/f", dir);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(idmap_bind(src, t_dir, fd, true, &e), 0);
	assert_int_equal(idmap_bind(f0, t_file, fd, false, &e), 0);
	struct stat st;
	_cleanup_free_ char *seen0 = xasprintf("%s/root-file", t_dir);
	_cleanup_free_ char *seen1 = xasprintf("%s/high-file", t_dir);
	assert_int_equal(stat(seen0, &st), 0);
	assert_int_equal(st.st_uid, 100000);
	assert_int_equal(st.st_gid, 100000);
	assert_int_equal(stat(seen1, &st), 0);
	assert_int_equal(st.st_uid, 65534); /* unmapped: the overflow id */
	assert_int_equal(stat(t_file, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_uid, 100000);
	/* the source is untouched */
	assert_int_equal(stat(f0, &st), 0);
	assert_int_equal(st.st_uid, 0);
	/* a filesystem without idmapped mounts; a missing source */
	_cleanup_free_ char *t_proc = xasprintf("%s/p", dir);
	assert_int_equal(idmap_bind("/proc/sys", t_proc, fd, false, &e), -EINVAL);
	assert_non_null(strstr(berr_msg(e), "does not support idmapped mounts"));
	e = berr_free(e);
	assert_int_equal(access(t_proc, F_OK), -1);
	assert_int_equal(idmap_bind("/nonexistent/x", t_proc, fd, false, &e), -ENOENT);
	e = berr_free(e);
	/* everything unmounted and removed, the sources kept */
	assert_int_equal(idmap_unbind_dir(dir, &e), 0);
	assert_int_equal(access(dir, F_OK), -1);
	assert_int_equal(access(f0, F_OK), 0);
	assert_int_equal(access(f1, F_OK), 0);
	assert_int_equal(idmap_unbind_dir(dir, &e), 0); /* missing: success */
	/* a dir that holds something not mounted is kept, with what it holds */
	assert_int_equal(fileio_mkdir_p(t_dir, 0711, NULL), 0);
	_cleanup_free_ char *keep = xasprintf("%s/keep", t_dir);
	assert_int_equal(fileio_write_atomic(keep, "k", 1, 0644, NULL), 0);
	assert_true(idmap_unbind_dir(dir, &e) < 0);
	assert_int_equal(access(keep, F_OK), 0);
	close(fd);
	close(go);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
}

/* BERTH_FAULT is read at the first hit: set here, before any point was reached. */
static void test_fault_points(void **state)
{
#ifdef BERTH_FAULTS
	setenv("BERTH_FAULT", "t.a:eio,t.b:enospc:2,t.c:bogus:x", 1);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(BERTH_FAULT_POINT("t.none", &e), 0);
	assert_int_equal(BERTH_FAULT_POINT("t.a", &e), -EIO);
	assert_non_null(strstr(berr_msg(e), "fault point t.a"));
	e = berr_free(e);
	assert_int_equal(BERTH_FAULT_POINT("t.a", &e), 0); /* fires once */
	assert_int_equal(BERTH_FAULT_POINT("t.b", &e), 0); /* the second hit fires */
	assert_int_equal(BERTH_FAULT_POINT("t.b", &e), -ENOSPC);
	e = berr_free(e);
	assert_int_equal(BERTH_FAULT_POINT("t.b", &e), 0);
	/* an unknown action is "kill": not hit here; "t" alone is no point of it */
	assert_int_equal(BERTH_FAULT_POINT("t", &e), 0);
	unsetenv("BERTH_FAULT");
#else
	/* compiled out: every point passes, whatever the environment says */
	setenv("BERTH_FAULT", "t.a:eio", 1);
	assert_int_equal(BERTH_FAULT_POINT("t.a", NULL), 0);
	unsetenv("BERTH_FAULT");
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_err_set_and_wrap),
	    cmocka_unit_test(test_err_set_errno_appends_strerror),
	    cmocka_unit_test(test_err_move),
	    cmocka_unit_test(test_fileio_atomic_roundtrip),
	    cmocka_unit_test(test_fileio_atomic_nosync_roundtrip),
	    cmocka_unit_test(test_fileio_read_limit),
	    cmocka_unit_test(test_fileio_read_missing),
	    cmocka_unit_test(test_fileio_mkdir_and_remove_tree),
	    cmocka_unit_test(test_fileio_mkdir_over_file),
	    cmocka_unit_test(test_ids),
	    cmocka_unit_test(test_time_format),
	    cmocka_unit_test(test_log_level_parse),
	    cmocka_unit_test(test_log_json),
	    cmocka_unit_test(test_log_text_and_level),
	    cmocka_unit_test(test_prom_text),
	    cmocka_unit_test(test_sysctl_ns_of),
	    cmocka_unit_test(test_spawn_run_captures),
	    cmocka_unit_test(test_spawn_run_large_input),
	    cmocka_unit_test(test_spawn_run_truncates),
	    cmocka_unit_test(test_spawn_run_timeout_kills),
	    cmocka_unit_test(test_spawn_run_background_child_holds_pipe),
	    cmocka_unit_test(test_spawn_missing_program),
	    cmocka_unit_test(test_spawn_fd_map_and_cwd),
	    cmocka_unit_test(test_spawn_status_str),
	    cmocka_unit_test(test_strv_push_join_split),
	    cmocka_unit_test(test_fault_points),
	    cmocka_unit_test(test_idmap_bind_and_unbind),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
