/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the netns unit tests: the private namespaces every test binary
 * enters first, and small polling helpers. Header-only, static functions. */
#ifndef BERTH_TEST_NETNS_COMMON_H
#define BERTH_TEST_NETNS_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/fileio.h"
#include "common/ids.h"
#include "netns/netns.h"

/* Moves the test into a fresh network namespace (bridges, veths, iptables
 * rules and addresses never reach the host's) and a private mount namespace
 * (pins die with the process, even on a crash). Must run before any thread.
 * The test also becomes a subreaper, so pod inits orphaned by berth-pinns are
 * reparented to it and can be waited for. */
static inline int test_enter_private_namespaces(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "these tests need root\n");
		return -1;
	}
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) {
		perror("unshare(CLONE_NEWNET|CLONE_NEWNS)");
		return -1;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		perror("make / rprivate");
		return -1;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		perror("PR_SET_CHILD_SUBREAPER");
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* Polls pred(arg) until it is true or 10 s have passed. */
static inline bool test_poll(bool (*pred)(void *), void *arg)
{
	int64_t deadline = time_mono_ns() + 10LL * 1000000000;
	while (!pred(arg)) {
		if (time_mono_ns() > deadline)
			return false;
		struct timespec ts = {0, 2 * 1000000};
		nanosleep(&ts, NULL);
	}
	return true;
}

/* True when mountinfo of this process mentions path. */
static inline bool test_is_mounted_under(const char *path)
{
	_cleanup_free_ char *mi = NULL;
	if (fileio_read_all("/proc/self/mountinfo", 16 << 20, &mi, NULL, NULL) < 0)
		return true;
	return strstr(mi, path) != NULL;
}

/* Unpins every pin dir under tmpdir/ns (killing pod inits), then unmounts
 * the pin root, so that the tree can be removed. */
static inline void test_unpin_all(const char *tmpdir)
{
	_cleanup_free_ char *root = xasprintf("%s/ns", tmpdir);
	DIR *d = opendir(root);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_type != DT_DIR || de->d_name[0] == '.')
				continue;
			_cleanup_free_ char *dir = xasprintf("%s/%s", root, de->d_name);
			(void)netns_unpin(dir, NULL);
		}
		closedir(d);
	}
	while (umount2(root, MNT_DETACH) == 0)
		;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

#endif
