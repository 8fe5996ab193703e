/* SPDX-License-Identifier: Apache-2.0 */
/* fault.c - BERTH_FAULT parsing and firing (common/fault.h). */
#include "common/fault.h"

#ifdef BERTH_FAULTS
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

#define FAULTS_MAX 16

enum fault_action { FAULT_KILL, FAULT_EIO, FAULT_ENOSPC };

static struct fault {
	char *name;
	enum fault_action action;
	long nth;
	atomic_long hits;
} faults[FAULTS_MAX];
static size_t n_faults;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void parse(void)
{
	const char *env = getenv("BERTH_FAULT");
	if (!env || !*env)
		return;
	char *copy = xstrdup(env), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t && n_faults < FAULTS_MAX;
	     t = strtok_r(NULL, ",", &save)) {
		struct fault *f = &faults[n_faults];
		char *act = strchr(t, ':');
		char *nth = NULL;
		if (act) {
			*act++ = '\0';
			nth = strchr(act, ':');
			if (nth)
				*nth++ = '\0';
		}
		f->action = FAULT_KILL;
		if (act && strcmp(act, "eio") == 0)
			f->action = FAULT_EIO;
		else if (act && strcmp(act, "enospc") == 0)
			f->action = FAULT_ENOSPC;
		f->nth = nth ? strtol(nth, NULL, 10) : 1;
		if (f->nth < 1)
			f->nth = 1;
		f->name = xstrdup(t);
		n_faults++;
	}
	free(copy);
}

int fault_point(const char *name, struct berr **err)
{
	pthread_once(&once, parse);
	for (size_t i = 0; i < n_faults; i++) {
		struct fault *f = &faults[i];
		if (strcmp(f->name, name) != 0 || atomic_fetch_add(&f->hits, 1) + 1 != f->nth)
			continue;
		static const char *const names[] = {"kill", "eio", "enospc"};
		log_error("msg=\"fault point %s: %s\"", name, names[f->action]);
		switch (f->action) {
		case FAULT_KILL:
			kill(getpid(), SIGKILL);
			pause();
			break;
		case FAULT_EIO:
			return berr_set(err, EIO, "fault point %s: input/output error", name);
		case FAULT_ENOSPC:
			return berr_set(err, ENOSPC, "fault point %s: no space left on device",
					name);
		}
	}
	return 0;
}
#endif
