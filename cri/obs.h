/* SPDX-License-Identifier: Apache-2.0 */
/* obs.h - berthd's own metrics (cri/obs.c) and the /metrics endpoint that
 * serves them (cri/obs_http.c; docs/server.md "Metrics").
 * The registry lives in struct berth (b->obs), made in main() before any
 * thread; the recording calls are thread-safe, cheap, and accept b->obs NULL
 * (unit tests), doing nothing then. The endpoint runs one thread of its own;
 * a scrape reads the store and /proc/self with no lock of ours held but the
 * store's own for the list. Nothing recorded carries a secret: label values
 * are method names, status codes, operation names, reasons and states. */
#ifndef BERTH_CRI_OBS_H
#define BERTH_CRI_OBS_H

#include <stddef.h>
#include <stdint.h>

struct berth;
struct berr;
struct cri_obs;

struct cri_obs *cri_obs_new(void);
struct cri_obs *cri_obs_free(struct cri_obs *o);

/* One RPC: its method name (NULL: an unknown method), gRPC status code and
 * duration. */
void cri_obs_rpc(const struct berth *b, const char *method, int code, int64_t dur_ns);
/* A call of the OCI runtime ("create", "start", "kill", "delete", "exec",
 * "update", "state") or of CNI ("ADD", "DEL") that began at t0 (time_mono_ns)
 * and returned r (< 0: failed). */
void cri_obs_oci(const struct berth *b, const char *op, int64_t t0, int r);
void cri_obs_cni(const struct berth *b, const char *op, int64_t t0, int r);
/* A container exit committed, with its reason ("Completed", "Error", "OOMKilled"). */
void cri_obs_exit(const struct berth *b, const char *reason);
/* Pulls: begin (in flight + 1), end with r and the bytes of the image. */
void cri_obs_pull_begin(const struct berth *b);
void cri_obs_pull_end(const struct berth *b, int64_t t0, int r, uint64_t bytes);

/* The exposition text of everything (caller frees). */
char *cri_obs_scrape(struct berth *b, size_t *ret_len);

/* The /metrics endpoint on cfg metrics_address ("host:port"; NULL: off).
 * cri_obs_http_start() binds and starts its thread; -EINVAL bad address,
 * -EADDRINUSE taken. cri_obs_http_stop() joins it (NULL-safe, idempotent). */
int cri_obs_http_start(struct berth *b, struct berr **err);
void cri_obs_http_stop(struct berth *b);

#endif
