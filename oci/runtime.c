/* SPDX-License-Identifier: Apache-2.0 */
/* runtime.c - the OCI runtime CLI: pure argv builders and output parsers, and
 * thin executors on spawn_run() behind struct oci_runtime_ops. */
#include "oci/oci.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/spawn.h"
#include "oci/oci-internal.h"

#define RUNTIME_TIMEOUT_MS_DEFAULT 60000
#define RUNTIME_OUT_MAX		   (1u << 20)
#define ERROR_TEXT_MAX		   4096

static const char *const cmd_names[OCI_RUNTIME_CMD_MAX] = {
    [OCI_RUNTIME_CMD_CREATE] = "create", [OCI_RUNTIME_CMD_START] = "start",
    [OCI_RUNTIME_CMD_STATE] = "state",	 [OCI_RUNTIME_CMD_KILL] = "kill",
    [OCI_RUNTIME_CMD_DELETE] = "delete", [OCI_RUNTIME_CMD_EXEC] = "exec",
    [OCI_RUNTIME_CMD_UPDATE] = "update", [OCI_RUNTIME_CMD_PAUSE] = "pause",
    [OCI_RUNTIME_CMD_RESUME] = "resume",
};

struct argv_buf {
	char **v;
	size_t n;
};

static void push(struct argv_buf *b, const char *s)
{
	b->v = xreallocarray(b->v, b->n + 2, sizeof(char *));
	b->v[b->n++] = xstrdup(s);
	b->v[b->n] = NULL;
}

static void push_opt(struct argv_buf *b, const char *flag, const char *val)
{
	if (val) {
		push(b, flag);
		push(b, val);
	}
}

static void global_args(struct argv_buf *b, const struct oci_runtime_handler *h,
			const char *log_path)
{
	push(b, h->path ? h->path : "runc");
	push_opt(b, "--root", h->root);
	if (log_path) {
		push_opt(b, "--log", log_path);
		push_opt(b, "--log-format", "json");
	}
	if (h->systemd_cgroup)
		push(b, "--systemd-cgroup");
	for (char *const *e = h->extra_args; e && *e; e++)
		push(b, *e);
}

char **oci_runtime_global_argv(const struct oci_runtime_handler *h, const char *log_path)
{
	struct argv_buf b = {0};
	global_args(&b, h, log_path);
	return b.v;
}

char **oci_runtime_argv(const struct oci_runtime_handler *h, const struct oci_runtime_args *a,
			struct berr **err)
{
	if ((unsigned)a->cmd >= OCI_RUNTIME_CMD_MAX)
		return berr_set(err, EINVAL, "unknown runtime command %d", (int)a->cmd), NULL;
	/* An id starting with '-' would be read as an option. */
	if (!a->id || !a->id[0] || a->id[0] == '-' || strchr(a->id, '/'))
		return berr_set(err, EINVAL, "invalid container id '%s'", a->id ? a->id : ""), NULL;
	if (a->cmd == OCI_RUNTIME_CMD_CREATE && !a->bundle)
		return berr_set(err, EINVAL, "create needs a bundle"), NULL;
	if (a->cmd == OCI_RUNTIME_CMD_EXEC && !a->process_path)
		return berr_set(err, EINVAL, "exec needs a process file"), NULL;
	if (a->cmd == OCI_RUNTIME_CMD_UPDATE && !a->resources_path)
		return berr_set(err, EINVAL, "update needs a resources file"), NULL;
	struct argv_buf b = {0};
	global_args(&b, h, a->log_path);
	push(&b, cmd_names[a->cmd]);
	switch (a->cmd) {
	case OCI_RUNTIME_CMD_CREATE:
		push_opt(&b, "--bundle", a->bundle);
		push_opt(&b, "--pid-file", a->pid_file);
		push_opt(&b, "--console-socket", a->console_socket);
		break;
	case OCI_RUNTIME_CMD_KILL:
		if (a->all)
			push(&b, "--all");
		break;
	case OCI_RUNTIME_CMD_DELETE:
		if (a->force)
			push(&b, "--force");
		break;
	case OCI_RUNTIME_CMD_EXEC:
		push_opt(&b, "--process", a->process_path);
		push_opt(&b, "--pid-file", a->pid_file);
		push_opt(&b, "--console-socket", a->console_socket);
		if (a->detach)
			push(&b, "--detach");
		break;
	case OCI_RUNTIME_CMD_UPDATE:
		push_opt(&b, "--resources", a->resources_path);
		break;
	default:
		break;
	}
	push(&b, a->id);
	if (a->cmd == OCI_RUNTIME_CMD_KILL) {
		_cleanup_free_ char *sig = xasprintf("%d", a->signal > 0 ? a->signal : SIGTERM);
		push(&b, sig);
	}
	return b.v;
}

const char *oci_status_name(enum oci_status s)
{
	static const char *const names[OCI_STATUS_MAX] = {"creating", "created", "running",
							  "paused", "stopped"};
	return (unsigned)s < OCI_STATUS_MAX ? names[s] : "unknown";
}

int oci_state_parse(const char *json, struct oci_state *ret, struct berr **err)
{
	_cleanup_json_ struct json_object *o = json_tokener_parse(json);
	struct json_object *st = NULL, *pid = NULL;
	if (!o || !json_object_object_get_ex(o, "status", &st) ||
	    !json_object_is_type(st, json_type_string))
		return berr_set(err, EPROTO, "runtime state is not JSON with a status");
	const char *s = json_object_get_string(st);
	int found = -1;
	for (int i = 0; i < OCI_STATUS_MAX; i++)
		if (strcmp(s, oci_status_name((enum oci_status)i)) == 0)
			found = i;
	if (found < 0)
		return berr_set(err, EPROTO, "unknown runtime status '%s'", s);
	int64_t p = 0;
	if (json_object_object_get_ex(o, "pid", &pid)) {
		if (!json_object_is_type(pid, json_type_int))
			return berr_set(err, EPROTO, "runtime state pid is not a number");
		p = json_object_get_int64(pid);
		if (p < 0 || p > 4194304)
			return berr_set(err, EPROTO, "runtime state pid %lld out of range",
					(long long)p);
	}
	ret->status = (enum oci_status)found;
	ret->pid = found == OCI_STATUS_STOPPED ? 0 : (pid_t)p;
	return 0;
}

static char *trim_dup(const char *s, size_t n)
{
	while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r'))
		n--;
	while (n && (*s == ' ' || *s == '\n')) {
		s++;
		n--;
	}
	if (n > ERROR_TEXT_MAX)
		n = ERROR_TEXT_MAX;
	return n ? xstrndup(s, n) : NULL;
}

char *oci_runtime_error_text(const char *out)
{
	char *json_msg = NULL, *last = NULL;
	for (const char *p = out; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char *line = trim_dup(p, n);
		p = nl ? nl + 1 : NULL;
		if (!line)
			continue;
		struct json_object *o = line[0] == '{' ? json_tokener_parse(line) : NULL;
		struct json_object *lvl = NULL, *msg = NULL;
		if (o && json_object_object_get_ex(o, "level", &lvl) &&
		    json_object_object_get_ex(o, "msg", &msg)) {
			const char *l = json_object_get_string(lvl);
			if (strcmp(l, "error") == 0 || strcmp(l, "fatal") == 0) {
				free(json_msg);
				json_msg = trim_dup(json_object_get_string(msg),
						    strlen(json_object_get_string(msg)));
			}
		}
		json_object_put(o);
		free(last);
		last = line;
	}
	if (json_msg) {
		free(last);
		return json_msg;
	}
	return last;
}

/* ---- executors ---- */

static int timeout_of(const struct oci_runtime_handler *h)
{
	return h->timeout_ms > 0 ? h->timeout_ms : RUNTIME_TIMEOUT_MS_DEFAULT;
}

/* Runs argv; a failure becomes -EIO (-ENOENT for an unknown container, the
 * message saying so) carrying the runtime's own error text. */
static int run(const struct oci_runtime_handler *h, const struct oci_runtime_args *a,
	       const char *input, struct spawn_result *ret, struct berr **err)
{
	_cleanup_strv_ char **argv = oci_runtime_argv(h, a, err);
	if (!argv)
		return -EINVAL;
	struct spawn_opts o = SPAWN_OPTS_INIT;
	o.argv = argv;
	o.path = h->path;
	int r = spawn_run(&o, input, input ? strlen(input) : 0, RUNTIME_OUT_MAX, timeout_of(h), ret,
			  err);
	const char *name = h->name ? h->name : argv[0];
	if (r < 0)
		return berr_wrap(err, "%s %s '%s'", name, cmd_names[a->cmd], a->id);
	if (ret->timed_out) {
		spawn_result_done(ret);
		return berr_set(err, ETIMEDOUT, "%s %s '%s': timed out after %d ms", name,
				cmd_names[a->cmd], a->id, timeout_of(h));
	}
	if (WIFEXITED(ret->status) && WEXITSTATUS(ret->status) == 0)
		return 0;
	_cleanup_free_ char *why = oci_runtime_error_text(ret->errout);
	if (!why)
		why = spawn_status_str(ret->status);
	/* runc has one exit code for every failure: its text says what it was
	 * ("container does not exist" for an unknown id: ENOENT). */
	int code = oci_runtime_errno(why, EIO, NULL);
	spawn_result_done(ret);
	return berr_set(err, code, "%s %s '%s': %s", name, cmd_names[a->cmd], a->id, why);
}

static int run_simple(const struct oci_runtime_handler *h, const struct oci_runtime_args *a,
		      const char *input, struct berr **err)
{
	struct spawn_result res;
	int r = run(h, a, input, &res, err);
	if (r == 0)
		spawn_result_done(&res);
	return r;
}

static int runc_start(const struct oci_runtime_handler *h, const char *id, struct berr **err)
{
	struct oci_runtime_args a = {.cmd = OCI_RUNTIME_CMD_START, .id = id};
	return run_simple(h, &a, NULL, err);
}

static int runc_state(const struct oci_runtime_handler *h, const char *id, struct oci_state *ret,
		      struct berr **err)
{
	struct oci_runtime_args a = {.cmd = OCI_RUNTIME_CMD_STATE, .id = id};
	struct spawn_result res;
	int r = run(h, &a, NULL, &res, err);
	if (r < 0)
		return r;
	r = oci_state_parse(res.out, ret, err);
	spawn_result_done(&res);
	return r < 0 ? berr_wrap(err, "state of '%s'", id) : 0;
}

static int runc_kill(const struct oci_runtime_handler *h, const char *id, int sig, bool all,
		     struct berr **err)
{
	struct oci_runtime_args a = {
	    .cmd = OCI_RUNTIME_CMD_KILL, .id = id, .signal = sig, .all = all};
	return run_simple(h, &a, NULL, err);
}

static int runc_delete(const struct oci_runtime_handler *h, const char *id, bool force,
		       struct berr **err)
{
	struct oci_runtime_args a = {.cmd = OCI_RUNTIME_CMD_DELETE, .id = id, .force = force};
	_cleanup_berr_ struct berr *e = NULL;
	int r = run_simple(h, &a, NULL, &e);
	if (r == -ENOENT)
		return 0; /* already gone: delete is idempotent */
	return r < 0 ? berr_move(err, &e) : 0;
}

static int runc_update(const struct oci_runtime_handler *h, const char *id,
		       const char *resources_json, struct berr **err)
{
	struct oci_runtime_args a = {
	    .cmd = OCI_RUNTIME_CMD_UPDATE, .id = id, .resources_path = "-"};
	return run_simple(h, &a, resources_json, err);
}

static int write_file(const char *path, const char *data, struct berr **err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return berr_set_errno(err, errno, "create '%s'", path);
	int r = fileio_write_all(fd, data, strlen(data));
	return r < 0 ? berr_set_errno(err, -r, "write '%s'", path) : 0;
}

void oci_exec_result_done(struct oci_exec_result *r)
{
	free(r->out);
	free(r->errout);
	memset(r, 0, sizeof(*r));
}

/* Reads a small decimal number from a file; -1 if absent or bad. */
static long read_num(const char *path)
{
	_cleanup_free_ char *s = NULL;
	if (fileio_read_all(path, 64, &s, NULL, NULL) < 0)
		return -1;
	char *end;
	long v = strtol(s, &end, 10);
	return end == s ? -1 : v;
}

/* ExecSync through berth-exec (oci/exec_helper.c), which runs `runc exec
 * --detach` and reaps the process as its subreaper: runc without --detach
 * would wait for every holder of the output pipes, so a backgrounded child
 * would block the call. spawn_run() returns when the helper exits even if such
 * a child still holds the pipes; the child lives on in the container.
 * Timeout: spawn_run() SIGKILLs the helper's session, but the exec'd process
 * is not in it (runc's nsexec calls setsid() in the container), so it and the
 * children in its process group are killed through the pid from the pid file:
 * kill(-pid). A child that made a session or group of its own escapes, as it
 * would under containerd. The pid could in theory be reused between the exit
 * and the kill; the window is the few microseconds after the helper died. */
/* berth-exec's exit code when it killed the process at the timeout (EXIT_TIMED_OUT in
 * oci/exec_helper.c, a separate program that does not include this file). */
#define EXEC_HELPER_TIMED_OUT 124
/* How long after the timeout berthd itself kills a hung berth-exec. */
#define EXEC_BACKSTOP_MS 2000

static int runc_exec(const struct oci_runtime_handler *h, const struct oci_exec_request *req,
		     struct oci_exec_result *ret, struct berr **err)
{
	memset(ret, 0, sizeof(*ret));
	_cleanup_free_ char *tpl = xasprintf("%s/exec-XXXXXX", req->work_dir);
	if (!mkdtemp(tpl))
		return berr_set_errno(err, errno, "create exec dir in '%s'", req->work_dir);
	_cleanup_free_ char *proc = xasprintf("%s/process.json", tpl);
	_cleanup_free_ char *pidf = xasprintf("%s/pid", tpl);
	_cleanup_free_ char *statf = xasprintf("%s/status", tpl);
	int r = write_file(proc, req->process_json, err);
	struct oci_runtime_args a = {.cmd = OCI_RUNTIME_CMD_EXEC,
				     .id = req->id,
				     .process_path = proc,
				     .pid_file = pidf,
				     .detach = true};
	_cleanup_strv_ char **rargv = r < 0 ? NULL : oci_runtime_argv(h, &a, err);
	struct spawn_result res = {0};
	long pid = -1, status = -1;
	if (rargv) {
		size_t n = 0;
		while (rargv[n])
			n++;
		_cleanup_free_ char **argv = xcalloc(n + 6, sizeof(char *));
		_cleanup_free_ char *tmo =
		    xasprintf("%d", req->timeout_ms > 0 ? req->timeout_ms : 0);
		size_t k = 0;
		argv[k++] =
		    (char *)(h->exec_helper ? h->exec_helper : BERTH_LIBEXECDIR "/berth-exec");
		argv[k++] = "--timeout-ms";
		argv[k++] = tmo;
		argv[k++] = pidf;
		argv[k++] = statf;
		memcpy(argv + k, rargv, n * sizeof(char *));
		struct spawn_opts o = SPAWN_OPTS_INIT;
		o.argv = argv;
		o.setsid = true;
		/* berth-exec enforces the timeout itself and reaps what it kills;
		 * this deadline is only a backstop should the helper hang. */
		int backstop = req->timeout_ms > 0 ? req->timeout_ms + EXEC_BACKSTOP_MS : 0;
		r = spawn_run(&o, NULL, 0, req->max_out ? req->max_out : OCI_MAX_OUT_DEFAULT,
			      backstop, &res, err);
		pid = read_num(pidf);
		status = read_num(statf);
		if (r == 0 && !res.timed_out && WIFEXITED(res.status) &&
		    WEXITSTATUS(res.status) == EXEC_HELPER_TIMED_OUT)
			res.timed_out = true;
		else if (r == 0 && res.timed_out && pid > 0) {
			kill(-(pid_t)pid, SIGKILL);
			kill((pid_t)pid, SIGKILL);
		}
	} else if (r == 0) {
		r = -EINVAL;
	}
	(void)fileio_remove_tree(tpl, NULL);
	const char *name = h->name ? h->name : (h->path ? h->path : "runc");
	if (r < 0)
		return berr_wrap(err, "%s exec in '%s'", name, req->id);
	if (res.timed_out) {
		spawn_result_done(&res);
		return berr_set(err, ETIMEDOUT,
				"exec in container '%s' timed out after %d ms; process killed",
				req->id, req->timeout_ms);
	}
	if (status < 0) {
		_cleanup_free_ char *why = oci_runtime_error_text(res.errout);
		if (!why)
			why = spawn_status_str(res.status);
		/* A command that could not be started ends as a shell's would: 127
		 * not found, 126 not executable, the reason on stderr. */
		int sh = oci_exec_failure_code(why);
		if (sh) {
			spawn_result_done(&res);
			ret->exit_code = sh;
			ret->errout = xasprintf("%s\n", why);
			ret->err_len = strlen(ret->errout);
			return 0;
		}
		int code = oci_runtime_errno(why, EIO, NULL);
		spawn_result_done(&res);
		return berr_set(err, code, "%s exec in '%s': %s", name, req->id, why);
	}
	int st = (int)status;
	/* A process killed by a signal reports 128+signal, as shells and runc do. */
	ret->exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	ret->out = TAKE_PTR(res.out);
	ret->out_len = res.out_len;
	ret->errout = TAKE_PTR(res.errout);
	ret->err_len = res.err_len;
	ret->truncated = res.truncated;
	return 0;
}

static char **runc_create_argv(const struct oci_runtime_handler *h,
			       const struct oci_runtime_args *a, struct berr **err)
{
	if (a->cmd != OCI_RUNTIME_CMD_CREATE)
		return berr_set(err, EINVAL, "create_argv called for '%s'",
				(unsigned)a->cmd < OCI_RUNTIME_CMD_MAX ? cmd_names[a->cmd] : "?"),
		       NULL;
	return oci_runtime_argv(h, a, err);
}

const struct oci_runtime_ops oci_runc_ops = {
    .create_argv = runc_create_argv,
    .start = runc_start,
    .state = runc_state,
    .kill = runc_kill,
    .delete = runc_delete,
    .exec = runc_exec,
    .update = runc_update,
};
