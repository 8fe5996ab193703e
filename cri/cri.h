/* SPDX-License-Identifier: Apache-2.0 */
/* cri.h - berthd: the daemon context, its configuration and the CRI gRPC server.
 * Ownership: struct berth and struct berth_config are embedded by berthd's main();
 *   cri_config_*() fill and free the config; cri_server_new() returns a server
 *   owned by the caller and freed by cri_server_free() after cri_server_stop().
 * Threads: config calls run on main()'s thread: at start, before any other thread, and on
 *   SIGHUP (cri_config_reload(), cri/reload.c). cri_server_start()
 *   spawns one acceptor thread plus the worker pool; handlers run on workers with
 *   a shared, read-only struct berth (later fields document their own locks).
 * Errors: -EINVAL bad config (message names the key and the value), -ENOENT
 *   missing config file given explicitly, -EADDRINUSE socket served by someone
 *   else, -errno from the failing syscall otherwise. Calls block only where said. */
#ifndef BERTH_CRI_CRI_H
#define BERTH_CRI_CRI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/log.h"

struct berr;

#define BERTH_DEFAULT_CONFIG "/etc/berth/berth.json"
/* Drop-ins: *.json in the directory "berth.d" next to the config file. */
#define BERTH_DROPIN_DIR_NAME "berth.d"
#define BERTH_CONFIG_MAX      (1 << 20) /* config file size limit */
#define BERTH_WORKERS_MAX     64
/* Debian's golang-github-containers-common: the profile CRI-O and Podman use. */
#define BERTH_SECCOMP_PROFILE "/usr/share/containers/seccomp.json"

enum berth_cgroup_driver { BERTH_CGROUP_CGROUPFS, BERTH_CGROUP_SYSTEMD, BERTH_CGROUP_MAX };

struct berth_runtime {
	char *name;	/* handler name, the key of "runtimes" */
	char *path;	/* OCI runtime binary */
	char *root;	/* --root of the runtime; default <run_dir>/runtimes/<name> */
	char **options; /* NULL-terminated extra global args, never NULL */
	int timeout_ms; /* each runtime call but exec; 0: 60 s (oci/oci.h) */
};

struct berth_registry {
	char *host;	/* "docker.io", "localhost:5000" */
	char **mirrors; /* NULL-terminated URLs tried first, never NULL */
	bool insecure;	/* plain http / unverified TLS allowed */
};

struct berth_config {
	char *path;	/* file it was loaded from, NULL when none */
	char **dropins; /* drop-in files applied after it, in order; never NULL */
	char *socket;
	char *socket_group;   /* group name or number owning the socket */
	unsigned socket_gid;  /* socket_group resolved by cri_config_finish() */
	unsigned socket_mode; /* permission bits of the socket, <= 0777 */
	char *state_dir;
	char *run_dir;
	enum log_level log_level;
	enum log_format log_format;
	int workers; /* 1..BERTH_WORKERS_MAX */
	enum berth_cgroup_driver cgroup_driver;
	char *default_runtime; /* a key of runtimes */
	struct berth_runtime *runtimes;
	size_t n_runtimes;
	char *cni_conf_dir;
	char **cni_bin_dirs;	 /* NULL-terminated, never NULL */
	char *cni_conf_template; /* filled with kubelet's pod CIDR; NULL: none */
	struct berth_registry *registries;
	size_t n_registries;
	char *stream_address;
	int stream_port;	 /* 0: pick a free port */
	int stream_token_ttl_ms; /* how long an Exec/Attach/PortForward URL is good */
	char *stream_tls_cert;	 /* PEM chain; with stream_tls_key: https URLs. NULL: none */
	char *stream_tls_key;
	char *libexec_dir;     /* berth-shim, berth-exec, berth-pinns; NULL: BERTH_LIBEXECDIR */
	char *seccomp_profile; /* RuntimeDefault seccomp profile (docker/moby format) */
	char *metrics_address; /* Prometheus /metrics "host:port"; NULL: off */
	int64_t image_pull_progress_timeout_ms; /* no byte for this long fails a pull; 0: never */
};

struct cri_method;
struct cri_ops;
struct cri_runtime;
struct store;
struct img_ctx;
struct stream_server;
struct cri_obs;
struct cri_obs_http;
struct cri_live;

/* The daemon context passed to every handler. Fields are set before the
 * server starts and read-only afterwards unless their comment names a lock. */
struct berth {
	struct berth_config cfg;
	struct cri_server *server; /* for shutdown checks; NULL in unit tests */
	struct store *store;	   /* sandboxes, containers, images; thread-safe (store.h) */
	struct img_ctx *img;	   /* blobs, layers, rootfs; thread-safe (image.h) */
	char *pull_helper;	   /* berth-pull, which runs each pull (image.h) */
	/* Method table served; NULL: cri_methods (cri-internal.h). Tests set a
	 * copy with fake handlers. */
	const struct cri_method *methods;
	size_t n_methods;
	/* Callouts of the sandbox/container handlers; NULL: the real ones
	 * (cri/pod.h). Tests set fakes. */
	const struct cri_ops *ops;
	/* Runtime facts, helper paths, exit monitor: cri_runtime_init() (cri/pod.h). */
	struct cri_runtime *rt;
	/* Exec/Attach/PortForward server (streaming/); NULL: not running. */
	struct stream_server *stream;
	/* berthd's own metrics (cri/obs.h); NULL: not recorded (unit tests). */
	struct cri_obs *obs;
	struct cri_obs_http *obs_http; /* the /metrics endpoint; NULL: off */
	/* The config in effect after SIGHUP reloads (cri/reload.c); NULL: cfg, as in unit
	 * tests. cfg itself never changes once the server started. */
	struct cri_live *live;
};

/* Defaults (every key: docs/config.md); runc is looked up in PATH, else /usr/sbin/runc. */
void cri_config_init(struct berth_config *c);
/* Parses JSON (comments allowed) over the values already in c. origin names the
 * source in messages. Unknown keys and bad values fail with -EINVAL. */
int cri_config_parse(struct berth_config *c, const char *json, const char *origin,
		     struct berr **err);
/* Loads path; a missing file is success (c unchanged) when missing_ok. */
int cri_config_load(struct berth_config *c, const char *path, bool missing_ok, struct berr **err);
/* Applies every "*.json" of dir (not starting with '.') in byte order of their names, each
 * over the values already in c: objects merge by key, a later file's value wins, arrays are
 * replaced whole. A missing dir is success. The files applied are added to c->dropins. */
int cri_config_load_dropins(struct berth_config *c, const char *dir, struct berr **err);
/* The drop-in dir of a config file: "<its dir>/berth.d"; caller frees. */
char *cri_config_dropin_dir(const char *config_path);
/* Checks cross-key rules and fills derived values; call after all overrides. */
int cri_config_finish(struct berth_config *c, struct berr **err);
/* The config as a JSON object string with every key, defaults included (Status verbose,
 * --print-config; pretty: indented); it parses back to the same config. Caller frees. */
char *cri_config_to_json(const struct berth_config *c);
char *cri_config_to_json_pretty(const struct berth_config *c);
void cri_config_done(struct berth_config *c);
const struct berth_runtime *cri_config_runtime(const struct berth_config *c, const char *name);

/* Container runtime state (cri/pod.c): detects cgroup/OOM/capability facts,
 * creates <run_dir>/exits, starts the exit monitor thread (when start_monitor)
 * and reconciles the store with the exit records written while berthd was down.
 * Called in main() after the store is open and before the server starts;
 * cri_runtime_done() after the server stopped (NULL-safe). */
int cri_runtime_init(struct berth *b, bool start_monitor, struct berr **err);
void cri_runtime_done(struct berth *b);

/* Opens the image context (<state_dir>/image, cfg registries) into b->img and finds
 * berth-pull (cfg libexec_dir, else the installed one); cri_image_done() frees them.
 * Called in main() before the server starts / after it stopped. */
int cri_image_init(struct berth *b, struct berr **err);
void cri_image_done(struct berth *b);

/* Starts the streaming server on cfg stream_address:stream_port into b->stream
 * (cri/stream.c); cri_stream_done() stops and frees it (NULL-safe). Call after
 * cri_runtime_init() / before cri_runtime_done(). */
int cri_stream_init(struct berth *b, struct berr **err);
void cri_stream_done(struct berth *b);

/* SIGHUP (cri/reload.c). cri_reload_init() records cfg as the config in effect (main(),
 * before the server starts); cri_reload_done() frees it (NULL-safe). */
int cri_reload_init(struct berth *b);
void cri_reload_done(struct berth *b);
struct cri_reload_result {
	unsigned applied;      /* reloadable keys changed live */
	unsigned need_restart; /* changed keys that wait for a restart (logged at warn) */
	unsigned failed;       /* reloadable keys whose apply failed (logged at error) */
};
/* Compares next (loaded and finished as at start) key by key with the config in effect,
 * applies the reloadable keys that changed and logs every change: applied, or waiting for
 * a restart. Main thread only. */
int cri_config_reload(struct berth *b, const struct berth_config *next,
		      struct cri_reload_result *res);
/* The config in effect as cri_config_to_json() gives it; caller frees. Any thread. */
char *cri_config_live_json(struct berth *b);

struct cri_server;
/* Creates the gRPC server listening on b->cfg.socket (socket_mode, socket_group; parent
 * created). */
struct cri_server *cri_server_new(struct berth *b, struct berr **err);
int cri_server_start(struct cri_server *s, struct berr **err);
/* Stops accepting, lets in-flight calls finish for up to grace_ms, cancels the
 * rest and joins all threads. Blocks. */
void cri_server_stop(struct cri_server *s, int grace_ms);
/* Destroys the server and removes the socket; returns NULL. */
struct cri_server *cri_server_free(struct cri_server *s);
/* True once cri_server_stop() began; long handlers poll it. */
bool cri_server_stopping(const struct cri_server *s);

#endif
