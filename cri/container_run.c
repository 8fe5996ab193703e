/* SPDX-License-Identifier: Apache-2.0 */
/* container_run.c - StartContainer, StopContainer, ExecSync,
 * UpdateContainerResources, ReopenContainerLog, and the recording of exits.
 *
 * Exits are recorded from the shim's exit record (<exit_dir>/<id>, written
 * atomically after the log is flushed) by cri_ctr_commit_exit(), called by the
 * monitor thread on inotify events, by Stop/Remove while they wait, and by the
 * restart recovery. The commit is idempotent: the first record wins. */
#define LOG_COMPONENT "cri" /* before any header: pod.h includes log.h */
#include "cri/pod.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fault.h"
#include "common/log.h"
#include "common/fileio.h"
#include "common/ids.h"
#include "shim/shim.h"
#include "cri/validate-internal.h"
#include "cri/obs.h"

#define EXEC_MAX_OUT  (CRI_MSG_MAX - 64 * 1024) /* both streams together */
#define KILL_WAIT_MS  2000 /* a failed kill: how long an exit may take to show */
#define WAIT_SLICE_MS 100
#define SPEC_JSON_MAX (4 << 20)

/* ---- exits ---- */

struct exit_arg {
	const struct shim_exit *e;
	bool oom;
	bool committed;
};

static int exit_fn(struct store_ctr_status *st, void *arg, struct berr **err)
{
	struct exit_arg *a = arg;
	if (st->finished_at != 0)
		return 0; /* already recorded: the first record wins */
	st->finished_at = a->e->finished_ns > 0 ? a->e->finished_ns : time_now_ns();
	if (st->started_at > st->finished_at)
		st->started_at = st->finished_at;
	st->exit_code = a->e->exit_code;
	free(st->reason);
	st->reason = xstrdup(a->oom ? "OOMKilled" : a->e->exit_code == 0 ? "Completed" : "Error");
	st->unknown = false;
	a->committed = true;
	return 0;
}

static void exit_broadcast(struct berth *b)
{
	if (!b->rt)
		return;
	pthread_mutex_lock(&b->rt->exit_mu);
	b->rt->exit_gen++;
	pthread_cond_broadcast(&b->rt->exit_cond);
	pthread_mutex_unlock(&b->rt->exit_mu);
}

static bool oom_counted(struct berth *b, const struct store_ctr_meta *m)
{
	const char *cg = cri_ctr_extra(m, CRI_CTR_X_CGROUP);
	uint64_t n = 0;
	if (!cg || !b->rt)
		return false;
	return oci_cgroup_oom_kills(NULL, b->rt->opts.cgroup_mode, b->rt->opts.cgroup_driver, cg,
				    &n, NULL) == 0 &&
	       n > 0;
}

int cri_ctr_commit_exit(struct berth *b, struct store_ctr *c, struct berr **err)
{
	return cri_ctr_commit_exit_opt(b, c, true, err);
}

int cri_ctr_commit_exit_opt(struct berth *b, struct store_ctr *c, bool durable, struct berr **err)
{
	const struct store_ctr_meta *m = store_ctr_meta(c);
	struct shim_exit e;
	int r = -ENOENT;
	if (b->rt) {
		_cleanup_free_ char *p = xasprintf("%s/%s", b->rt->exit_dir, m->id);
		r = shim_read_exit(p, &e, NULL);
	}
	if (r == -ENOENT && m->bundle_dir) {
		_cleanup_free_ char *p = xasprintf("%s/%s", m->bundle_dir, SHIM_EXIT_FILE);
		r = shim_read_exit(p, &e, NULL);
	}
	if (r < 0)
		return berr_set(err, -r, "no exit record of container '%.12s'", m->id);
	/* The shim's own reading of the OOM counter misses a kill when the cgroup
	 * was gone by then; the cgroup stays until runc delete, so look again. */
	struct exit_arg a = {&e, e.oom_killed || (e.signal == SIGKILL && oom_counted(b, m)), false};
	r = durable ? store_ctr_update(b->store, c, exit_fn, &a, err)
		    : store_ctr_update_nosync(b->store, c, exit_fn, &a, err);
	if (r < 0)
		return r;
	if (a.committed) {
		const char *reason = a.oom ? "OOMKilled" : e.exit_code == 0 ? "Completed" : "Error";
		log_info("id=%.12s sandbox=%.12s name=%s exit_code=%d reason=%s msg=\"container "
			 "exited\"",
			 m->id, m->sandbox_id, m->metadata.name, e.exit_code, reason);
		cri_obs_exit(b, reason);
		exit_broadcast(b);
		cri_event_emit(b, m->sandbox_id, m->id, CRI_EV_STOPPED);
	}
	return 0;
}

static int64_t ms_left(int64_t deadline_ns)
{
	return (deadline_ns - time_mono_ns()) / 1000000;
}

static int shim_lost_fn(struct store_ctr_status *st, void *arg, struct berr **err)
{
	if (st->finished_at != 0)
		return 0;
	st->finished_at = time_now_ns();
	st->exit_code = 255;
	free(st->reason);
	st->reason = xstrdup("Error");
	free(st->message);
	st->message = xstrdup("berth-shim died before the container: its exit status is lost");
	return 0;
}

/* The shim records the exit; once it is dead (killed from outside) no record
 * comes. When the runtime then has the container stopped or gone, the exit is
 * committed without its status, so Stop and Remove end. Cheap while the shim
 * lives (kill 0). */
static bool shim_lost(struct berth *b, struct store_ctr *c)
{
	struct store_ctr_status st;
	store_ctr_status(c, &st);
	int shim = st.shim_pid;
	store_ctr_status_done(&st);
	if (shim <= 0 || kill(shim, 0) == 0 || errno != ESRCH)
		return false;
	const struct store_ctr_meta *m = store_ctr_meta(c);
	struct oci_runtime_handler h;
	struct oci_state os = {0};
	_cleanup_berr_ struct berr *e = NULL;
	if (cri_handler_of(b, m->runtime_handler, &h, NULL) < 0)
		return false;
	int r = cri_ops_of(b)->oci->state(&h, m->id, &os, &e);
	if ((r < 0 && r != -ENOENT) || (r == 0 && os.status != OCI_STATUS_STOPPED))
		return false;
	if (store_ctr_update(b->store, c, shim_lost_fn, NULL, &e) < 0)
		return false;
	log_warn("id=%.12s msg=\"shim gone, container stopped: exit recorded without status\"",
		 m->id);
	cri_event_emit(b, m->sandbox_id, m->id, CRI_EV_STOPPED);
	return true;
}

int cri_ctr_wait_exit(struct berth *b, struct cri_call *call, struct store_ctr *c,
		      int64_t deadline_ns, struct berr **err)
{
	for (;;) {
		uint64_t gen = 0;
		if (b->rt) {
			pthread_mutex_lock(&b->rt->exit_mu);
			gen = b->rt->exit_gen;
			pthread_mutex_unlock(&b->rt->exit_mu);
		}
		struct store_ctr_status st;
		store_ctr_status(c, &st);
		int64_t fin = st.finished_at;
		store_ctr_status_done(&st);
		if (fin != 0)
			return 0;
		/* The monitor normally commits first; reading the record here too
		 * makes the wait independent of it (and of its inotify queue). */
		if (cri_ctr_commit_exit(b, c, NULL) == 0) {
			store_ctr_status(c, &st);
			fin = st.finished_at;
			store_ctr_status_done(&st);
			if (fin != 0)
				return 0;
		}
		if (shim_lost(b, c))
			return 0;
		int r = call ? cri_call_check(call, err) : 0;
		if (r < 0)
			return r;
		int64_t left = deadline_ns ? ms_left(deadline_ns) : INT64_MAX;
		if (call && cri_call_remaining_ms(call) < left)
			left = cri_call_remaining_ms(call);
		if (left <= 0)
			return berr_set(err, ETIMEDOUT, "container '%.12s' did not exit in time",
					store_ctr_id(c));
		int64_t slice = left < WAIT_SLICE_MS ? left : WAIT_SLICE_MS;
		if (!b->rt) {
			struct timespec ts = {0, slice * 1000000};
			nanosleep(&ts, NULL);
			continue;
		}
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += slice * 1000000;
		until.tv_sec += until.tv_nsec / 1000000000;
		until.tv_nsec %= 1000000000;
		pthread_mutex_lock(&b->rt->exit_mu);
		while (b->rt->exit_gen == gen &&
		       pthread_cond_timedwait(&b->rt->exit_cond, &b->rt->exit_mu, &until) == 0)
			;
		pthread_mutex_unlock(&b->rt->exit_mu);
	}
}

/* ---- stop ---- */

/* The offset n of "RTMIN+n", "RTMINPLUSn" (the CRI enum's spelling) or
 * "RTMIN" from base; -1 if s is not that form. */
static int rt_offset(const char *s, const char *base, const char *const *seps)
{
	size_t bl = strlen(base);
	if (strncmp(s, base, bl) != 0)
		return -1;
	s += bl;
	if (*s == '\0')
		return 0;
	for (; *seps; seps++) {
		size_t sl = strlen(*seps);
		if (strncmp(s, *seps, sl) != 0 || s[sl] < '0' || s[sl] > '9')
			continue;
		char *end;
		long n = strtol(s + sl, &end, 10);
		return *end == '\0' && n <= SIGRTMAX - SIGRTMIN ? (int)n : -1;
	}
	return -1;
}

/* "SIGTERM", "TERM", "15", "RTMIN+3", "SIGRTMINPLUS3", "SIGRTMAX-1",
 * "SIGRTMAXMINUS1" -> number; 0 if unknown. */
static int signal_parse(const char *s)
{
	if (!s || !s[0])
		return 0;
	char *end;
	long n = strtol(s, &end, 10);
	if (*end == '\0')
		return n > 0 && n < NSIG ? (int)n : 0;
	if (strncmp(s, "SIG", 3) == 0)
		s += 3;
	static const char *const plus[] = {"+", "PLUS", NULL};
	static const char *const minus[] = {"-", "MINUS", NULL};
	int off = rt_offset(s, "RTMIN", plus);
	if (off >= 0)
		return SIGRTMIN + off;
	off = rt_offset(s, "RTMAX", minus);
	if (off >= 0)
		return SIGRTMAX - off;
	for (int i = 1; i < SIGRTMIN; i++) {
		const char *a = sigabbrev_np(i);
		if (a && strcmp(a, s) == 0)
			return i;
	}
	return 0;
}

/* Sends sig; a refused kill of a container that is exiting anyway is fine if
 * its exit shows up soon. */
static int ctr_signal(struct berth *b, struct cri_call *call, struct store_ctr *c,
		      const struct oci_runtime_handler *h, int sig, struct berr **err)
{
	_cleanup_berr_ struct berr *e = NULL;
	int64_t t0 = time_mono_ns();
	int r = cri_ops_of(b)->oci->kill(h, store_ctr_id(c), sig, false, &e);
	cri_obs_oci(b, "kill", t0, r);
	if (r == 0)
		return 0;
	if (cri_ctr_wait_exit(b, call, c, time_mono_ns() + (int64_t)KILL_WAIT_MS * 1000000, NULL) ==
	    0)
		return 0;
	return berr_move(err, &e);
}

int cri_ctr_stop(struct berth *b, struct cri_call *call, struct store_ctr *c, int64_t timeout_s,
		 struct berr **err)
{
	const struct store_ctr_meta *m = store_ctr_meta(c);
	struct store_ctr_status st;
	store_ctr_status(c, &st);
	int64_t fin = st.finished_at;
	store_ctr_status_done(&st);
	if (fin != 0)
		return 0; /* stopping an exited container is a no-op (idempotent) */
	struct oci_runtime_handler h;
	int r = cri_handler_of(b, m->runtime_handler, &h, err);
	if (r < 0)
		return r;
	if (timeout_s > 0) {
		int sig = signal_parse(m->stop_signal);
		r = ctr_signal(b, call, c, &h, sig ? sig : SIGTERM, err);
		if (r < 0)
			return r;
		r = cri_ctr_wait_exit(b, call, c, time_mono_ns() + timeout_s * 1000000000, err);
		if (r == 0)
			return 0;
		if (r != -ETIMEDOUT || (call && cri_call_is_done(call)))
			return r;
		if (err)
			*err = berr_free(*err);
	}
	r = ctr_signal(b, call, c, &h, SIGKILL, err);
	if (r == 0)
		r = BERTH_FAULT_POINT("stop.killed", err);
	if (r < 0)
		return r;
	int wait_ms = b->rt ? b->rt->stop_wait_ms : 10000;
	return cri_ctr_wait_exit(b, call, c, time_mono_ns() + (int64_t)wait_ms * 1000000, err);
}

static int get_ctr(struct berth *b, const char *id, struct store_ctr **ret, struct berr **err)
{
	_cleanup_berr_ struct berr *e = NULL;
	int r = store_ctr_get(b->store, id ? id : "", ret, &e);
	if (r == -ENOENT)
		return berr_set(err, ENOENT, "container '%s' not found", id ? id : "");
	return r < 0 ? berr_move(err, &e) : 0;
}

int cri_stop_container(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		       ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__StopContainerRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	struct store_ctr *c = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	int r = store_ctr_get(b->store, in->container_id ? in->container_id : "", &c, &e);
	if (r == -ENOENT) {
		/* CRI: stopping a container that doesn't exist is not an error, as for
		 * StopPodSandbox (kubelet retries a stop after the container is gone). */
		*ret_resp = cri_msg_new(&runtime__v1__stop_container_response__descriptor);
		return 0;
	}
	if (r < 0)
		return berr_move(err, &e);
	r = cri_ctr_stop(b, call, c, in->timeout, err);
	if (r < 0)
		berr_wrap(err, "stop container '%s'", in->container_id);
	store_ctr_unref(c);
	if (r == 0)
		*ret_resp = cri_msg_new(&runtime__v1__stop_container_response__descriptor);
	return r;
}

/* ---- start ---- */

static int starting_fn(struct store_ctr_status *st, void *arg, struct berr **err)
{
	if (st->starting || st->removing)
		return berr_set(err, EBUSY, "container is being %s",
				st->starting ? "started" : "removed");
	if (store_ctr_state(st) == STORE_CTR_EXITED)
		return berr_set(err, EBUSY, "container %s (exit code %d, reason '%s')",
				st->started_at ? "has exited" : "exited before it was started",
				st->exit_code, st->reason ? st->reason : "");
	if (store_ctr_state(st) != STORE_CTR_CREATED)
		return berr_set(err, EBUSY, "container is %s, not CONTAINER_CREATED",
				store_ctr_state_name(store_ctr_state(st)));
	st->starting = true;
	return 0;
}

static int started_fn(struct store_ctr_status *st, void *arg, struct berr **err)
{
	int64_t now = time_now_ns();
	/* A container that already exited (recorded by the monitor) started no
	 * later than it finished. */
	st->started_at = st->finished_at && st->finished_at < now ? st->finished_at : now;
	st->starting = false;
	return 0;
}

struct start_failed_arg {
	const char *msg; /* NULL: only release the claim */
	bool recorded;	 /* out: the StartError was recorded */
};

/* Releases the claim; records a StartError with the runtime's message unless
 * an exit is recorded already. */
static int start_failed_fn(struct store_ctr_status *st, void *arg, struct berr **err)
{
	struct start_failed_arg *a = arg;
	const char *msg = a->msg;
	st->starting = false;
	a->recorded = false;
	if (st->finished_at == 0 && msg) {
		a->recorded = true;
		st->finished_at = time_now_ns();
		st->exit_code = 128;
		free(st->reason);
		st->reason = xstrdup("StartError");
		free(st->message);
		st->message = xstrdup(msg);
	}
	return 0;
}

static int unclaim_fn(struct store_ctr_status *st, void *arg, struct berr **err)
{
	st->starting = false;
	return 0;
}

/* When even the failure can't be recorded: the claim alone is memory only
 * (no write), so Start can be tried again. */
static void release_start_claim(struct berth *b, struct store_ctr *c)
{
	_cleanup_berr_ struct berr *e = NULL;
	(void)store_ctr_update(b->store, c, unclaim_fn, NULL, &e);
}

/* After a failed `runtime start`: did the container's init die before it could
 * be started (killed from outside)? Then its shim writes the exit record: it is
 * committed, waiting up to KILL_WAIT_MS for it when the runtime says the init is
 * gone, and the exit stays as the shim saw it (not a StartError). */
static bool exited_before_start(struct berth *b, struct store_ctr *c,
				const struct oci_runtime_handler *h)
{
	struct store_ctr_status st;
	(void)cri_ctr_commit_exit(b, c, NULL);
	store_ctr_status(c, &st);
	int64_t fin = st.finished_at;
	store_ctr_status_done(&st);
	if (fin != 0)
		return true;
	struct oci_state os = {0};
	if (cri_ops_of(b)->oci->state(h, store_ctr_id(c), &os, NULL) == 0 &&
	    os.status != OCI_STATUS_STOPPED)
		return false; /* alive: the start itself failed */
	return cri_ctr_wait_exit(b, NULL, c, time_mono_ns() + (int64_t)KILL_WAIT_MS * 1000000,
				 NULL) == 0;
}

/* Replaces the runtime's error (kept at the end) with what happened. */
static int exited_error(struct store_ctr *c, struct berr **err)
{
	if (!err)
		return -EBUSY;
	struct store_ctr_status st;
	store_ctr_status(c, &st);
	_cleanup_berr_ struct berr *rt = TAKE_PTR(*err);
	int r = berr_set(err, EBUSY,
			 "container exited before it was started (exit code %d, reason '%s'); "
			 "runtime: %s",
			 st.exit_code, st.reason ? st.reason : "", berr_msg(rt));
	store_ctr_status_done(&st);
	return r;
}

int cri_start_container(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__StartContainerRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	struct store_ctr *c = NULL;
	int r = get_ctr(b, in->container_id, &c, err);
	if (r < 0)
		return r;
	const struct store_ctr_meta *m = store_ctr_meta(c);
	struct oci_runtime_handler h;
	r = cri_handler_of(b, m->runtime_handler, &h, err);
	/* An exit the monitor has not committed yet (it may have died a moment ago):
	 * refuse it here rather than through the runtime's error. */
	if (r == 0)
		(void)cri_ctr_commit_exit(b, c, NULL);
	if (r == 0)
		r = store_ctr_update(b->store, c, starting_fn, NULL, err);
	if (r == 0) {
		int64_t t0 = time_mono_ns();
		r = cri_ops_of(b)->oci->start(&h, m->id, err);
		cri_obs_oci(b, "start", t0, r);
		_cleanup_berr_ struct berr *e = NULL;
		struct start_failed_arg fa = {NULL, false};
		if (r == 0)
			(void)BERTH_FAULT_POINT("start.started", NULL);
		if (r == 0) {
			r = BERTH_FAULT_POINT("store.write.started", err);
			if (r == 0)
				r = store_ctr_update(b->store, c, started_fn, NULL, err);
			if (r == 0) {
				(void)BERTH_FAULT_POINT("start.recorded", NULL);
				cri_event_emit(b, m->sandbox_id, m->id, CRI_EV_STARTED);
			} else {
				/* Started, but the record says created (a full or failing
				 * state dir): kill it and record the failure, so that the
				 * node and berth's answers agree. */
				(void)cri_ops_of(b)->oci->kill(&h, m->id, SIGKILL, false, &e);
				fa.msg = berr_msg(*err);
				if (store_ctr_update(b->store, c, start_failed_fn, &fa, &e) < 0)
					release_start_claim(b, c);
				else if (fa.recorded)
					cri_event_emit(b, m->sandbox_id, m->id, CRI_EV_STOPPED);
			}
		} else if (exited_before_start(b, c, &h)) {
			/* finished_at is set: this only releases the claim */
			(void)store_ctr_update(b->store, c, start_failed_fn, &fa, &e);
			r = exited_error(c, err);
		} else {
			/* The container stays created in the runtime: kill it so its
			 * shim records the end and exits. */
			(void)cri_ops_of(b)->oci->kill(&h, m->id, SIGKILL, false, &e);
			fa.msg = berr_msg(*err);
			if (store_ctr_update(b->store, c, start_failed_fn, &fa, &e) < 0)
				release_start_claim(b, c);
			else if (fa.recorded)
				cri_event_emit(b, m->sandbox_id, m->id, CRI_EV_STOPPED);
		}
	}
	if (r < 0)
		berr_wrap(err, "start container '%s'", in->container_id);
	store_ctr_unref(c);
	if (r == 0)
		*ret_resp = cri_msg_new(&runtime__v1__start_container_response__descriptor);
	return r;
}

/* ---- exec, update, reopen ---- */

static int require_running(struct store_ctr *c, struct store_ctr_status *st, struct berr **err)
{
	store_ctr_status(c, st);
	if (store_ctr_state(st) != STORE_CTR_RUNNING)
		return berr_set(err, EBUSY, "container '%.12s' is %s, not running", store_ctr_id(c),
				store_ctr_state_name(store_ctr_state(st)));
	return 0;
}

static int exec_run(struct berth *b, struct cri_call *call, struct store_ctr *c,
		    const Runtime__V1__ExecSyncRequest *in, struct oci_exec_result *res,
		    struct berr **err)
{
	const struct store_ctr_meta *m = store_ctr_meta(c);
	struct oci_runtime_handler h;
	int r = cri_handler_of(b, m->runtime_handler, &h, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *cfg = xasprintf("%s/config.json", m->bundle_dir);
	_cleanup_free_ char *spec = NULL, *proc = NULL;
	r = fileio_read_all(cfg, SPEC_JSON_MAX, &spec, NULL, err);
	if (r < 0)
		return r;
	_cleanup_strv_ char **argv = xcalloc(in->n_cmd + 1, sizeof(char *));
	for (size_t i = 0; i < in->n_cmd; i++)
		argv[i] = xstrdup(in->cmd[i]);
	r = oci_exec_process_build(spec, argv, &proc, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *dir = xasprintf("%s/exec-XXXXXX", m->bundle_dir);
	if (!mkdtemp(dir))
		return berr_set_errno(err, errno, "create exec dir in '%s'", m->bundle_dir);
	int64_t timeout_ms = in->timeout > 0 ? in->timeout * 1000 : 0;
	int64_t left = cri_call_remaining_ms(call);
	if (left != INT64_MAX && (timeout_ms == 0 || left < timeout_ms))
		timeout_ms = left > 0 ? left : 1;
	if (timeout_ms > INT32_MAX)
		timeout_ms = INT32_MAX;
	struct oci_exec_request er = {
	    .id = m->id,
	    .process_json = proc,
	    .work_dir = dir,
	    .timeout_ms = (int)timeout_ms,
	    .max_out = EXEC_MAX_OUT,
	};
	int64_t t0 = time_mono_ns();
	r = cri_ops_of(b)->oci->exec(&h, &er, res, err);
	cri_obs_oci(b, "exec", t0, r);
	(void)fileio_remove_tree(dir, NULL);
	if (r < 0)
		return r;
	if (res->timed_out)
		return berr_set(err, ETIMEDOUT,
				"command '%s' timed out after %lld ms; it was killed", in->cmd[0],
				(long long)timeout_ms);
	return 0;
}

int cri_exec_sync(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		  ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__ExecSyncRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	if (in->n_cmd == 0 || !in->cmd[0][0])
		return berr_set(err, EINVAL, "exec: empty command");
	struct store_ctr *c = NULL;
	int r = get_ctr(b, in->container_id, &c, err);
	if (r < 0)
		return r;
	struct store_ctr_status st;
	struct oci_exec_result res = {0};
	r = require_running(c, &st, err);
	store_ctr_status_done(&st);
	if (r == 0)
		r = exec_run(b, call, c, in, &res, err);
	if (r == 0) {
		Runtime__V1__ExecSyncResponse *resp =
		    (void *)cri_msg_new(&runtime__v1__exec_sync_response__descriptor);
		/* Both streams must fit in one gRPC message: stderr gives way. */
		size_t out_len = res.out_len > EXEC_MAX_OUT ? EXEC_MAX_OUT : res.out_len;
		size_t err_len = res.err_len;
		if (out_len + err_len > EXEC_MAX_OUT)
			err_len = EXEC_MAX_OUT - out_len;
		resp->stdout.data = xmemdup(res.out ? res.out : "", out_len ? out_len : 1);
		resp->stdout.len = out_len;
		resp->stderr.data = xmemdup(res.errout ? res.errout : "", err_len ? err_len : 1);
		resp->stderr.len = err_len;
		resp->exit_code = res.exit_code;
		*ret_resp = &resp->base;
	} else {
		berr_wrap(err, "exec in container '%s'", in->container_id);
	}
	oci_exec_result_done(&res);
	store_ctr_unref(c);
	return r;
}

/* The `updating` claim: one update of a container at a time (each merges into
 * what the previous one stored), none while it is being removed. */
static int updating_fn(struct store_ctr_status *st, void *arg, struct berr **err)
{
	bool set = *(bool *)arg;
	if (set && st->removing)
		return berr_set(err, EBUSY, "container is being removed");
	if (set && st->updating)
		return berr_set(err, EBUSY, "container resources are being updated");
	st->updating = set;
	return 0;
}

/* Commits the merged resources and releases the claim. */
static int resources_fn(struct store_ctr_status *st, void *arg, struct berr **err)
{
	const struct store_bytes *rb = arg;
	free(st->resources.data);
	st->resources.data = xmemdup(rb->data, rb->len ? rb->len : 1);
	st->resources.len = rb->len;
	st->updating = false;
	return 0;
}

static bool ctr_has_exited(struct berth *b, struct store_ctr *c)
{
	(void)cri_ctr_commit_exit(b, c, NULL);
	struct store_ctr_status st;
	store_ctr_status(c, &st);
	bool exited = store_ctr_state(&st) == STORE_CTR_EXITED;
	store_ctr_status_done(&st);
	return exited;
}

/* Under the `updating` claim: merges the request into the stored resources,
 * applies the result to a created or running container and commits it. As in
 * containerd, an exited container only has its record updated, and so has one
 * that exits while the runtime updates it. */
static int update_claimed(struct berth *b, struct store_ctr *c,
			  const Runtime__V1__LinuxContainerResources *upd, struct berr **err)
{
	const struct store_ctr_meta *m = store_ctr_meta(c);
	struct store_ctr_status st;
	store_ctr_status(c, &st);
	enum store_ctr_state state = store_ctr_state(&st);
	Runtime__V1__LinuxContainerResources *cur = NULL;
	if (st.resources.data && st.resources.len > 0)
		cur = runtime__v1__linux_container_resources__unpack(NULL, st.resources.len,
								     st.resources.data);
	bool bad = st.resources.len > 0 && !cur;
	store_ctr_status_done(&st);
	if (bad)
		return berr_set(err, EPROTO, "stored resources of container '%.12s' are corrupt",
				m->id);
	Runtime__V1__LinuxContainerResources *merged =
	    oci_resources_merge(cur, upd, b->rt->opts.oom_score_adj_min);
	if (cur)
		protobuf_c_message_free_unpacked(&cur->base, NULL);
	_cleanup_free_ char *json = NULL;
	struct oci_runtime_handler h;
	/* The request alone may set swap or memory only: the pair is checked here. */
	int r =
	    cri_validate_resources(b->rt->facts, merged, "linux (with the current resources)", err);
	if (r == 0)
		r = oci_resources_build(merged, &b->rt->opts, &json, err);
	if (r == 0 && (state == STORE_CTR_CREATED || state == STORE_CTR_RUNNING)) {
		r = cri_handler_of(b, m->runtime_handler, &h, err);
		int64_t t0 = time_mono_ns();
		if (r == 0) {
			r = cri_ops_of(b)->oci->update(&h, m->id, json, err);
			cri_obs_oci(b, "update", t0, r);
		}
		if (r < 0 && ctr_has_exited(b, c)) {
			if (err)
				*err = berr_free(*err);
			r = 0;
		}
	}
	if (r == 0) {
		size_t len = protobuf_c_message_get_packed_size(&merged->base);
		_cleanup_free_ void *packed = xmalloc(len ? len : 1);
		protobuf_c_message_pack(&merged->base, packed);
		struct store_bytes rb = {packed, len};
		r = store_ctr_update(b->store, c, resources_fn, &rb, err);
	}
	protobuf_c_message_free_unpacked(&merged->base, NULL);
	return r;
}

int cri_update_container_resources(struct berth *b, struct cri_call *call,
				   const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
				   struct berr **err)
{
	const Runtime__V1__UpdateContainerResourcesRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	if (!in->linux)
		return berr_set(err, EINVAL, "update: no linux resources given");
	if (!b->rt)
		return berr_set(err, ENOSYS, "container runtime not initialised");
	struct store_ctr *c = NULL;
	int r = get_ctr(b, in->container_id, &c, err);
	if (r < 0)
		return r;
	bool set = true;
	r = store_ctr_update(b->store, c, updating_fn, &set, err);
	if (r == 0) {
		r = update_claimed(b, c, in->linux, err);
		if (r < 0) {
			_cleanup_berr_ struct berr *e = NULL;
			set = false;
			(void)store_ctr_update(b->store, c, updating_fn, &set, &e);
		}
	}
	if (r < 0)
		berr_wrap(err, "update resources of container '%s'", in->container_id);
	store_ctr_unref(c);
	if (r == 0)
		*ret_resp =
		    cri_msg_new(&runtime__v1__update_container_resources_response__descriptor);
	return r;
}

int cri_reopen_container_log(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			     ProtobufCMessage **ret_resp, struct berr **err)
{
	const Runtime__V1__ReopenContainerLogRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	struct store_ctr *c = NULL;
	int r = get_ctr(b, in->container_id, &c, err);
	if (r < 0)
		return r;
	struct store_ctr_status st;
	r = require_running(c, &st, err);
	if (r == 0 && !st.shim_socket)
		r = berr_set(err, EBUSY, "container has no shim socket");
	if (r == 0)
		r = cri_ops_of(b)->shim_reopen_log(st.shim_socket, err);
	if (r < 0)
		berr_wrap(err, "reopen log of container '%s'", in->container_id);
	store_ctr_status_done(&st);
	store_ctr_unref(c);
	if (r == 0)
		*ret_resp = cri_msg_new(&runtime__v1__reopen_container_log_response__descriptor);
	return r;
}
