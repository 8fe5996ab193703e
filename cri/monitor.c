/* SPDX-License-Identifier: Apache-2.0 */
/* monitor.c - the exit monitor: one thread blocked in poll() on the inotify fd
 * of the exit dir (shim_exit_watch) and an eventfd for shutdown. When a shim
 * renames an exit record into the dir, the thread wakes, reads it and commits
 * finished_at/exit_code/reason (cri_ctr_commit_exit), so a container's exit is
 * in its status within milliseconds, with no timer while nothing happens.
 * Records of IDs the store doesn't know (a container being created, or
 * removed meanwhile) are left to Create/Remove and the restart recovery:
 * Create commits a record already there once its own record is added. */
#define LOG_COMPONENT "cri"
#include "cri/pod.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"
#include "shim/shim.h"

struct cri_monitor {
	struct berth *b;
	struct shim_exit_watch *w;
	int stop_fd; /* eventfd: written once by cri_monitor_stop() */
	pthread_t thread;
	bool started;
};

static void handle_ids(struct cri_monitor *m, char **ids)
{
	for (size_t i = 0; ids && ids[i]; i++) {
		struct store_ctr *c = NULL;
		if (store_ctr_get(m->b->store, ids[i], &c, NULL) < 0)
			continue;
		_cleanup_berr_ struct berr *e = NULL;
		/* A full ID only: a prefix lookup could hit another container. */
		if (strcmp(store_ctr_id(c), ids[i]) == 0 && cri_ctr_commit_exit(m->b, c, &e) < 0)
			log_warn("id=%.12s msg=\"record exit: %s, ignoring\"", ids[i], berr_msg(e));
		store_ctr_unref(c);
	}
}

static void *monitor_main(void *arg)
{
	struct cri_monitor *m = arg;
	struct pollfd fds[2] = {
	    {.fd = shim_exit_watch_fd(m->w), .events = POLLIN},
	    {.fd = m->stop_fd, .events = POLLIN},
	};
	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("msg=\"exit monitor: poll: %s\"", strerror(errno));
			return NULL;
		}
		if (fds[1].revents)
			return NULL;
		if (!fds[0].revents)
			continue;
		char **ids = NULL;
		_cleanup_berr_ struct berr *e = NULL;
		if (shim_exit_watch_read(m->w, &ids, &e) < 0) {
			log_warn("msg=\"exit monitor: %s, ignoring\"", berr_msg(e));
			continue;
		}
		handle_ids(m, ids);
		strv_free(ids);
	}
}

int cri_monitor_start(struct berth *b, struct cri_monitor **ret, struct berr **err)
{
	struct cri_monitor *m = xcalloc(1, sizeof(*m));
	m->b = b;
	m->stop_fd = -1;
	int r = shim_exit_watch_new(b->rt->exit_dir, &m->w, err);
	if (r < 0)
		goto fail;
	m->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->stop_fd < 0) {
		r = berr_set_errno(err, errno, "eventfd");
		goto fail;
	}
	r = -pthread_create(&m->thread, NULL, monitor_main, m);
	if (r < 0) {
		berr_set_errno(err, -r, "start exit monitor thread");
		goto fail;
	}
	m->started = true;
	*ret = m;
	return 0;
fail:
	cri_monitor_stop(m);
	return r;
}

struct cri_monitor *cri_monitor_stop(struct cri_monitor *m)
{
	if (!m)
		return NULL;
	if (m->started) {
		uint64_t one = 1;
		(void)!write(m->stop_fd, &one, sizeof(one));
		pthread_join(m->thread, NULL);
	}
	safe_close(m->stop_fd);
	shim_exit_watch_free(m->w);
	free(m);
	return NULL;
}
