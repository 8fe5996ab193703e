/* SPDX-License-Identifier: Apache-2.0 */
/* recover.c - reconciling the store with the host after berthd restarted.
 * Shims outlive berthd and write exit records while it is down. At start, with
 * the exit watch already armed (cri_runtime_init), the exit dir is listed once
 * and every container without a recorded exit is checked:
 *   - its exit record is in the list: commit it, the store record not fsync'ed
 *     (the shim's record is durable and the next recovery would commit it again);
 *   - its shim is alive: it stays as recorded (RUNNING or CREATED); a record
 *     written after the listing is the monitor's (its watch was armed first);
 *   - the shim is gone: a record in the bundle (the shim died between its two
 *     writes) is committed; else, while the runtime still has it created or
 *     running, it stays; else the process is gone without a record (host
 *     reboot, shim killed): recorded as exited with code 255 and a message
 *     saying so.
 * A restart with 1,000 running containers costs one directory listing plus a
 * kill(0) and a read of /proc/PID/cmdline per container (bench/README.md).
 *   - recorded as created while its shim lives and the runtime runs it (a Start
 *     that died before its record): recorded as started.
 * Bundles and rootfs dirs without a record (a Create that died between its
 * shim and its record) are torn down (cri_ctr_sweep_orphans).
 * Exit records of containers the store doesn't know are removed. Sandboxes
 * keep their pins and need nothing here. The holders of image volume trees are
 * rebuilt from the records (cri/imgvol.c). */
#define LOG_COMPONENT "cri"
#include "cri/pod.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/ids.h"
#include "common/log.h"
#include "cri/imgvol.h"
#include "shim/shim.h"

/* True when pid is alive and runs exe_hint (a substring of /proc/pid/cmdline's
 * first word), so a recycled pid isn't taken for the process. */
static bool pid_alive(int pid, const char *exe_hint)
{
	if (pid <= 0 || kill(pid, 0) < 0)
		return false;
	if (!exe_hint)
		return true;
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, exe_hint) != NULL;
}

static bool runtime_has(struct berth *b, struct store_ctr *c)
{
	const struct store_ctr_meta *m = store_ctr_meta(c);
	struct oci_runtime_handler h;
	struct oci_state os;
	if (cri_handler_of(b, m->runtime_handler, &h, NULL) < 0 ||
	    cri_ops_of(b)->oci->state(&h, m->id, &os, NULL) < 0)
		return false;
	return os.status == OCI_STATUS_CREATED || os.status == OCI_STATUS_RUNNING ||
	       os.status == OCI_STATUS_PAUSED;
}

static int lost_fn(struct store_ctr_status *st, void *arg, struct berr **err)
{
	if (st->finished_at != 0)
		return 0;
	st->finished_at = time_now_ns();
	st->exit_code = 255;
	free(st->reason);
	st->reason = xstrdup("Error");
	free(st->message);
	st->message = xstrdup("container process and its shim were gone when berthd restarted");
	return 0;
}

static int started_fn(struct store_ctr_status *st, void *arg, struct berr **err)
{
	if (st->started_at == 0)
		st->started_at = time_now_ns();
	return 0;
}

/* A StartContainer that died between the runtime's start and its record left
 * the container running but recorded as created: the runtime knows better. */
static void recover_started(struct berth *b, struct store_ctr *c)
{
	const struct store_ctr_meta *m = store_ctr_meta(c);
	struct oci_runtime_handler h;
	struct oci_state os;
	_cleanup_berr_ struct berr *e = NULL;
	if (cri_handler_of(b, m->runtime_handler, &h, NULL) < 0 ||
	    cri_ops_of(b)->oci->state(&h, m->id, &os, NULL) < 0 || os.status != OCI_STATUS_RUNNING)
		return;
	if (store_ctr_update(b->store, c, started_fn, NULL, &e) < 0) {
		log_warn("id=%.12s msg=\"record started container: %s, ignoring\"", m->id,
			 berr_msg(e));
		return;
	}
	log_warn("id=%.12s msg=\"container was started while berthd went down\"", m->id);
	cri_event_emit(b, m->sandbox_id, m->id, CRI_EV_STARTED);
}

static int id_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ids: the exit dir's records, sorted. */
static void recover_ctr(struct berth *b, struct store_ctr *c, char **ids, size_t n_ids)
{
	struct store_ctr_status st;
	store_ctr_status(c, &st);
	bool done = st.finished_at != 0;
	bool started = st.started_at != 0;
	int shim_pid = st.shim_pid;
	store_ctr_status_done(&st);
	if (done)
		return;
	const char *id = store_ctr_id(c);
	bool listed = n_ids && bsearch(&id, ids, n_ids, sizeof(char *), id_cmp);
	_cleanup_berr_ struct berr *e = NULL;
	/* Not fsync'ed: the exit record is durable, a crash before the store's reaches the disk
	 * finds it again. A hundred exits while berthd was down cost a hundred fsyncs
	 * otherwise, most of a restart's time (bench/README.md). */
	if (listed && cri_ctr_commit_exit_opt(b, c, false, &e) == 0)
		return;
	if (pid_alive(shim_pid, "berth-shim")) {
		if (!started)
			recover_started(b, c);
		return;
	}
	/* Without its shim, a container may still run (the shim was killed): the
	 * runtime knows. Its pid alone proves nothing after a reboot. */
	bool alive = runtime_has(b, c);
	berr_free(e);
	e = NULL;
	if (cri_ctr_commit_exit(b, c, &e) == 0 || alive)
		return;
	berr_free(e);
	e = NULL;
	if (store_ctr_update(b->store, c, lost_fn, NULL, &e) < 0) {
		log_warn("id=%.12s msg=\"record lost container: %s, ignoring\"", store_ctr_id(c),
			 berr_msg(e));
	} else {
		log_warn("id=%.12s msg=\"container lost while berthd was down\"", store_ctr_id(c));
		cri_event_emit(b, store_ctr_meta(c)->sandbox_id, store_ctr_id(c), CRI_EV_STOPPED);
	}
}

int cri_recover(struct berth *b, struct berr **err)
{
	/* Listed after the watch was armed: a record missing here is the monitor's. */
	_cleanup_strv_ char **ids = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	int n_ids = shim_exit_scan(b->rt->exit_dir, &ids, &e);
	if (n_ids < 0) {
		log_warn("msg=\"scan exit records: %s, ignoring\"", berr_msg(e));
		n_ids = 0;
	}
	if (n_ids > 1)
		qsort(ids, (size_t)n_ids, sizeof(char *), id_cmp);
	struct store_ctr **v = NULL;
	size_t n = 0;
	int r = store_ctr_list(b->store, NULL, &v, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		recover_ctr(b, v[i], ids, (size_t)n_ids);
	store_ctr_list_free(v, n);
	r = cri_ctr_sweep_orphans(b, err);
	if (r < 0)
		return r;
	r = cri_imgvol_recover(b, err);
	if (r < 0)
		return r;

	for (size_t i = 0; ids && ids[i]; i++) {
		struct store_ctr *c = NULL;
		if (id_is_valid(ids[i]) && store_ctr_get(b->store, ids[i], &c, NULL) == 0) {
			store_ctr_unref(c);
			continue;
		}
		_cleanup_free_ char *p = xasprintf("%s/%s", b->rt->exit_dir, ids[i]);
		if (unlink(p) == 0)
			log_info("id=%.12s msg=\"removed exit record of an unknown container\"",
				 ids[i]);
	}
	return 0;
}
