/* SPDX-License-Identifier: Apache-2.0 */
/* berthd.c - the daemon's main(): flags and config, the state dir lock,
 * signals, and the CRI server's lifetime. */
#define LOG_COMPONENT "berthd" /* before any header: cri.h includes log.h */
#include "cri/cri.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <stddef.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/strv.h"
#include "netns/netns.h"
#include "store/store.h"

#define STOP_GRACE_MS 1200 /* in-flight calls get this long; exit within 2 s */

struct flags {
	const char *config;
	const char *config_dir;
	bool print_config;
	const char *socket;
	const char *state_dir;
	const char *run_dir;
	const char *log_level;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: berthd [OPTIONS]\n"
		"CRI v1 runtime daemon.\n\n"
		"  -c, --config FILE     config file (default " BERTH_DEFAULT_CONFIG ", optional)\n"
		"      --config-dir DIR  drop-ins, *.json applied in name order (default: the\n"
		"                        dir " BERTH_DROPIN_DIR_NAME " next to the config file)\n"
		"      --print-config    print the effective config, every default included,\n"
		"                        and exit\n"
		"      --socket PATH     gRPC unix socket (default /run/berth/berth.sock)\n"
		"      --state-dir DIR   persistent state (default /var/lib/berth)\n"
		"      --run-dir DIR     runtime state (default /run/berth)\n"
		"      --log-level LVL   debug, info, warn or error (default info)\n"
		"  -h, --help            show this help\n"
		"  -v, --version         show the version\n");
}

/* Returns 0 to run, 1 to exit 0 (help, version), -1 on a usage error. */
static int parse_flags(int argc, char **argv, struct flags *f)
{
	enum { OPT_SOCKET = 256, OPT_STATE, OPT_RUN, OPT_LOG, OPT_CONFIG_DIR, OPT_PRINT };
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"config-dir", required_argument, NULL, OPT_CONFIG_DIR},
	    {"print-config", no_argument, NULL, OPT_PRINT},
	    {"socket", required_argument, NULL, OPT_SOCKET},
	    {"state-dir", required_argument, NULL, OPT_STATE},
	    {"run-dir", required_argument, NULL, OPT_RUN},
	    {"log-level", required_argument, NULL, OPT_LOG},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'v'},
	    {0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "c:hv", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			f->config = optarg;
			break;
		case OPT_CONFIG_DIR:
			f->config_dir = optarg;
			break;
		case OPT_PRINT:
			f->print_config = true;
			break;
		case OPT_SOCKET:
			f->socket = optarg;
			break;
		case OPT_STATE:
			f->state_dir = optarg;
			break;
		case OPT_RUN:
			f->run_dir = optarg;
			break;
		case OPT_LOG:
			f->log_level = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'v':
			printf("berthd %s\n", BERTH_VERSION);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "berthd: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	return 0;
}

/* Flags go through the config parser, so they get the same checks. */
static int apply_flags(struct berth_config *cfg, const struct flags *f, struct berr **err)
{
	const char *keys[] = {"socket", "state_dir", "run_dir", "log_level"};
	const char *vals[] = {f->socket, f->state_dir, f->run_dir, f->log_level};
	for (size_t i = 0; i < 4; i++) {
		if (!vals[i])
			continue;
		_cleanup_free_ char *quoted = NULL;
		if (strpbrk(vals[i], "\"\\") || strlen(vals[i]) > 4096)
			return berr_set(err, EINVAL, "flag '--%s': bad value", keys[i]);
		quoted = xasprintf("{\"%s\": \"%s\"}", keys[i], vals[i]);
		int r = cri_config_parse(cfg, quoted, "command line", err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The file, then its drop-ins, then the flags: at start and again on SIGHUP. */
static int load_config(struct berth_config *cfg, const struct flags *f, struct berr **err)
{
	cri_config_init(cfg);
	const char *path = f->config ? f->config : BERTH_DEFAULT_CONFIG;
	int r = cri_config_load(cfg, path, !f->config, err);
	if (r < 0)
		return r;
	/* the default drop-in dir may be missing, one named with --config-dir must exist */
	if (f->config_dir && access(f->config_dir, F_OK) < 0)
		return berr_set_errno(err, errno, "config drop-in dir '%s' (--config-dir)",
				      f->config_dir);
	_cleanup_free_ char *dir =
	    f->config_dir ? xstrdup(f->config_dir) : cri_config_dropin_dir(path);
	r = cri_config_load_dropins(cfg, dir, err);
	if (r < 0)
		return r;
	r = apply_flags(cfg, f, err);
	if (r < 0)
		return r;
	return cri_config_finish(cfg, err);
}

/* One berthd per state dir: an flock on <state_dir>/berthd.lock, held for the
 * life of the process (released by the kernel even on SIGKILL). The file holds
 * the holder's pid for the message; it is a lock, not state, so it is written
 * in place rather than replaced (a rename would make a new, unlocked inode). */
static int lock_state_dir(const char *state_dir, int *ret_fd, struct berr **err)
{
	_cleanup_free_ char *path = xasprintf("%s/berthd.lock", state_dir);
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return berr_set_errno(err, errno, "open lock '%s'", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		if (e != EWOULDBLOCK)
			return berr_set_errno(err, e, "lock '%s'", path);
		char pid[32] = "";
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		return berr_set(
		    err, EBUSY,
		    "state dir '%s' is in use: lock '%s' is held by another berthd (pid %s)",
		    state_dir, path, pid[0] ? pid : "unknown");
	}
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len)
		return berr_set_errno(err, errno, "write lock '%s'", path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int setup_signals(sigset_t *handled, struct berr **err)
{
	/* Every thread (gRPC's and ours) inherits this mask: signals reach only the
	 * signalfd below, never a random thread in the middle of a call. */
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	struct sigaction ign = {.sa_handler = SIG_IGN};
	sigaction(SIGPIPE, &ign, NULL);
	sigemptyset(handled);
	sigaddset(handled, SIGTERM);
	sigaddset(handled, SIGINT);
	sigaddset(handled, SIGHUP);
	int fd = signalfd(-1, handled, SFD_CLOEXEC);
	if (fd < 0)
		return berr_set_errno(err, errno, "signalfd");
	return fd;
}

static char *sources_string(const struct berth_config *c)
{
	_cleanup_free_ char *drop = strv_join(c->dropins, ',');
	return xasprintf("%s%s%s", c->path ? c->path : "(defaults)", drop[0] ? "," : "", drop);
}

/* SIGHUP: load everything again as at start; a config that fails to load changes
 * nothing. */
static void reload(struct berth *b, const struct flags *f)
{
	struct berth_config next;
	_cleanup_berr_ struct berr *err = NULL;
	if (load_config(&next, f, &err) < 0) {
		log_error("msg=\"reload: %s; the running config stays\"", berr_msg(err));
		cri_config_done(&next);
		return;
	}
	struct cri_reload_result res;
	cri_config_reload(b, &next, &res);
	_cleanup_free_ char *src = sources_string(&next);
	log_info("config=%s applied=%u need_restart=%u failed=%u msg=\"config reloaded\"", src,
		 res.applied, res.need_restart, res.failed);
	cri_config_done(&next);
}

static int wait_for_stop(struct berth *b, const struct flags *f, int sfd)
{
	for (;;) {
		struct signalfd_siginfo si;
		ssize_t n = read(sfd, &si, sizeof(si));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof(si)) {
			log_error("msg=\"read signalfd: %s\"", strerror(errno));
			return -1;
		}
		if (si.ssi_signo == SIGHUP) {
			/* READY is not a notification of each reload: systemd's RELOADING=1
			 * would need Type=notify-reload, which Debian 12's systemd lacks */
			reload(b, f);
			continue;
		}
		log_info("msg=\"%s received, shutting down\"", strsignal((int)si.ssi_signo));
		return 0;
	}
}

/* systemd's notify protocol (sd_notify(3)): one datagram with the state text to the unix
 * socket named by $NOTIFY_SOCKET, '@' meaning the abstract namespace. Done here rather than
 * through libsystemd, which berthd used for nothing else: linking it mapped libsystemd,
 * libgcrypt, libgpg-error and libcap, about 0.7 MB of resident pages. Best effort, like
 * sd_notify(): no socket, or another address family (vsock), means no notification. */
static void notify_systemd(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = path ? strlen(path) : 0;
	if (n < 2 || n >= sizeof(sa.sun_path) || (path[0] != '/' && path[0] != '@'))
		return;
	memcpy(sa.sun_path, path, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
		log_debug("msg=\"notify '%s': %s\"", path, strerror(errno));
}

/* A record the store could not load is skipped, never fatal: say which and why. */
static void store_warn(void *userdata, const char *path, const struct berr *e)
{
	log_warn("path=%s msg=\"skipped state record: %s\"", path, berr_msg(e));
}

/* No pod left: the pin root's self-bind (made by berth-pinns) goes with berthd. */
static void release_pin_root(struct berth *b)
{
	_cleanup_free_ char *root = xasprintf("%s/ns", b->cfg.run_dir);
	struct berr *e = NULL;
	int r = netns_pin_root_release(root, &e);
	if (r < 0)
		log_warn("path=%s msg=\"keep pin root: %s\"", root, berr_msg(e));
	else if (r > 0)
		log_debug("path=%s msg=\"unmounted the pin root, no pod is pinned\"", root);
	berr_free(e);
}

static int run(struct berth *b, const struct flags *f, struct berr **err)
{
	sigset_t handled;
	_cleanup_close_ int sfd = setup_signals(&handled, err);
	if (sfd < 0)
		return sfd;
	int r = fileio_mkdir_p(b->cfg.state_dir, 0711, err);
	if (r >= 0)
		r = fileio_mkdir_p(b->cfg.run_dir, 0711, err);
	if (r < 0)
		return r;
	_cleanup_close_ int lock_fd = -1;
	r = lock_state_dir(b->cfg.state_dir, &lock_fd, err);
	if (r < 0)
		return r;
	const struct store_opts so = {.warn = store_warn};
	r = store_open(b->cfg.state_dir, &so, &b->store, err);
	if (r < 0)
		return berr_wrap(err, "open state in '%s'", b->cfg.state_dir);
	r = cri_image_init(b, err);
	if (r < 0) {
		b->store = store_free(b->store);
		return berr_wrap(err, "open image store in '%s'", b->cfg.state_dir);
	}
	r = cri_runtime_init(b, true, err);
	if (r < 0) {
		cri_image_done(b);
		b->store = store_free(b->store);
		return berr_wrap(err, "start container runtime");
	}
	/* Not fatal: only RuntimeDefault containers need it, and each such
	 * CreateContainer fails naming the file until it is there. */
	if (access(b->cfg.seccomp_profile, R_OK) < 0)
		log_warn("path=%s msg=\"default seccomp profile: %s; containers asking for "
			 "RuntimeDefault will fail to create, ignoring\"",
			 b->cfg.seccomp_profile, strerror(errno));
	r = cri_stream_init(b, err);
	if (r < 0) {
		cri_runtime_done(b);
		cri_image_done(b);
		b->store = store_free(b->store);
		return berr_wrap(err, "start the streaming server");
	}
	cri_reload_init(b);
	b->server = cri_server_new(b, err);
	if (!b->server) {
		cri_reload_done(b);
		cri_stream_done(b);
		cri_runtime_done(b);
		cri_image_done(b);
		b->store = store_free(b->store);
		return -(*err)->code;
	}
	r = cri_server_start(b->server, err);
	if (r >= 0) {
		log_info("version=%s socket=%s state_dir=%s workers=%d msg=\"berthd listening\"",
			 BERTH_VERSION, b->cfg.socket, b->cfg.state_dir, b->cfg.workers);
		notify_systemd("READY=1");
		if (wait_for_stop(b, f, sfd) < 0)
			r = berr_set(err, EIO, "signal handling failed");
		notify_systemd("STOPPING=1");
	}
	cri_server_stop(b->server, STOP_GRACE_MS);
	b->server = cri_server_free(b->server);
	cri_reload_done(b);
	cri_stream_done(b);
	cri_runtime_done(b);
	cri_image_done(b);
	b->store = store_free(b->store);
	release_pin_root(b);
	return r;
}

int main(int argc, char **argv)
{
	/* Before any thread exists. glibc gives each thread that meets a locked arena an arena
	 * of its own (up to 8 per core), each holding its own free pages: with 8 workers plus
	 * gRPC's threads that was about 1 MB of anonymous memory with 100 containers. berthd's
	 * allocations are small and short (messages, records), which the per-thread tcache
	 * serves without the arena lock; two arenas keep contention low at a fraction of the
	 * memory. */
	(void)mallopt(M_ARENA_MAX, 2);
	struct flags f = {0};
	int r = parse_flags(argc, argv, &f);
	if (r != 0)
		return r > 0 ? 0 : 2;

	struct berth b = {0};
	_cleanup_berr_ struct berr *err = NULL;
	r = load_config(&b.cfg, &f, &err);
	if (r < 0) {
		log_error("msg=\"%s\"", berr_msg(err));
		cri_config_done(&b.cfg);
		return 1;
	}
	if (f.print_config) {
		_cleanup_free_ char *json = cri_config_to_json_pretty(&b.cfg);
		_cleanup_free_ char *src = sources_string(&b.cfg);
		printf("%s\n", json);
		fprintf(stderr, "berthd: config from %s\n", src);
		cri_config_done(&b.cfg);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	log_setup(b.cfg.log_level, STDERR_FILENO);
	_cleanup_free_ char *src = sources_string(&b.cfg);
	log_info("config=%s msg=\"berthd %s starting\"", src, BERTH_VERSION);
	r = run(&b, &f, &err);
	if (r < 0)
		log_error("msg=\"%s\"", berr_msg(err));
	else
		log_info("msg=\"berthd stopped\"");
	cri_config_done(&b.cfg);
	return r < 0 ? 1 : 0;
}
