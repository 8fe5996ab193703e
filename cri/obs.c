/* SPDX-License-Identifier: Apache-2.0 */
/* obs.c - berthd's own metrics: per-RPC counts and latency, pulls, CNI and
 * OCI runtime calls, exits (recorded as they happen, common/prom.c), and at
 * scrape time the pods and containers by state, the live shims and berthd's
 * process figures (RSS, fds, threads, CPU, start time) from /proc/self. */
#define LOG_COMPONENT "cri" /* before any header: cri.h includes log.h */
#include "cri/obs.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <grpc/status.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/ids.h"
#include "common/prom.h"
#include "cri/cri-internal.h"
#include "cri/pod.h"
#include "image/image.h"

/* 1 ms to 10 s: an RPC, a runc or CNI call */
static const double call_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
				      0.25,  0.5,    1,	    2.5,  5,	 10};
/* pulls take seconds to minutes */
static const double pull_buckets[] = {0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800};
#define N(a) (sizeof(a) / sizeof((a)[0]))

struct cri_obs {
	struct prom_family *rpc_total, *rpc_seconds;
	struct prom_family *oci_seconds, *oci_failures;
	struct prom_family *cni_seconds, *cni_failures;
	struct prom_family *exits;
	struct prom_family *pulls, *pull_failures, *pull_bytes, *pull_seconds, *pulls_in_flight;
	int64_t start_ns; /* wall clock, at cri_obs_new() in main() */
};

struct cri_obs *cri_obs_new(void)
{
	struct cri_obs *o = xcalloc(1, sizeof(*o));
	const char *method_code[] = {"method", "code", NULL};
	const char *method[] = {"method", NULL};
	const char *op[] = {"operation", NULL};
	const char *reason[] = {"reason", NULL};
	o->rpc_total = prom_family_new("berth_grpc_requests_total",
				       "CRI requests handled, by method and gRPC status code.",
				       PROM_COUNTER, method_code, NULL, 0);
	o->rpc_seconds = prom_family_new(
	    "berth_grpc_request_duration_seconds",
	    "Time from a CRI request's arrival to its answer being ready, by method.",
	    PROM_HISTOGRAM, method, call_buckets, N(call_buckets));
	o->oci_seconds = prom_family_new("berth_oci_runtime_operation_duration_seconds",
					 "Duration of OCI runtime calls, by operation.",
					 PROM_HISTOGRAM, op, call_buckets, N(call_buckets));
	o->oci_failures = prom_family_new("berth_oci_runtime_operation_failures_total",
					  "OCI runtime calls that failed, by operation.",
					  PROM_COUNTER, op, NULL, 0);
	o->cni_seconds = prom_family_new("berth_cni_operation_duration_seconds",
					 "Duration of CNI plugin calls, by operation (ADD, DEL).",
					 PROM_HISTOGRAM, op, call_buckets, N(call_buckets));
	o->cni_failures = prom_family_new("berth_cni_operation_failures_total",
					  "CNI plugin calls that failed, by operation.",
					  PROM_COUNTER, op, NULL, 0);
	o->exits =
	    prom_family_new("berth_container_exits_total", "Container exits seen, by reason.",
			    PROM_COUNTER, reason, NULL, 0);
	o->pulls = prom_family_new("berth_image_pulls_total", "Image pulls finished or failed.",
				   PROM_COUNTER, NULL, NULL, 0);
	o->pull_failures =
	    prom_family_new("berth_image_pull_failures_total",
			    "Image pulls that failed, by reason (the gRPC status they answered).",
			    PROM_COUNTER, reason, NULL, 0);
	o->pull_bytes = prom_family_new("berth_image_pull_bytes_total",
					"Blob bytes downloaded by pulls that succeeded.",
					PROM_COUNTER, NULL, NULL, 0);
	o->pull_seconds = prom_family_new("berth_image_pull_duration_seconds",
					  "Duration of image pulls that succeeded.", PROM_HISTOGRAM,
					  NULL, pull_buckets, N(pull_buckets));
	o->pulls_in_flight = prom_family_new("berth_image_pulls_in_flight",
					     "Image pulls running now.", PROM_GAUGE, NULL, NULL, 0);
	o->start_ns = time_now_ns();
	return o;
}

struct cri_obs *cri_obs_free(struct cri_obs *o)
{
	if (!o)
		return NULL;
	struct prom_family **all[] = {&o->rpc_total,	&o->rpc_seconds,  &o->oci_seconds,
				      &o->oci_failures, &o->cni_seconds,  &o->cni_failures,
				      &o->exits,	&o->pulls,	  &o->pull_failures,
				      &o->pull_bytes,	&o->pull_seconds, &o->pulls_in_flight};
	for (size_t i = 0; i < N(all); i++)
		*all[i] = prom_family_free(*all[i]);
	free(o);
	return NULL;
}

/* ---- recording ---- */

void cri_obs_rpc(const struct berth *b, const char *method, int code, int64_t dur_ns)
{
	if (!b || !b->obs)
		return;
	/* an unknown method's name is the peer's text: one bucket for all of them */
	const char *m = method ? method : "unknown";
	prom_add(b->obs->rpc_total, (const char *[]){m, cri_status_name(code)}, 1);
	prom_observe(b->obs->rpc_seconds, (const char *[]){m}, (double)dur_ns / 1e9);
}

static void call_done(struct prom_family *secs, struct prom_family *fails, const char *op,
		      int64_t t0, int r)
{
	prom_observe(secs, (const char *[]){op}, (double)(time_mono_ns() - t0) / 1e9);
	/* the failures series exists (0) from the first call on */
	prom_add(fails, (const char *[]){op}, r < 0 ? 1 : 0);
}

void cri_obs_oci(const struct berth *b, const char *op, int64_t t0, int r)
{
	if (b && b->obs)
		call_done(b->obs->oci_seconds, b->obs->oci_failures, op, t0, r);
}

void cri_obs_cni(const struct berth *b, const char *op, int64_t t0, int r)
{
	if (b && b->obs)
		call_done(b->obs->cni_seconds, b->obs->cni_failures, op, t0, r);
}

void cri_obs_exit(const struct berth *b, const char *reason)
{
	if (b && b->obs)
		prom_add(b->obs->exits, (const char *[]){reason && reason[0] ? reason : "Unknown"},
			 1);
}

void cri_obs_pull_begin(const struct berth *b)
{
	if (b && b->obs)
		prom_add(b->obs->pulls_in_flight, NULL, 1);
}

void cri_obs_pull_end(const struct berth *b, int64_t t0, int r, uint64_t bytes)
{
	if (!b || !b->obs)
		return;
	struct cri_obs *o = b->obs;
	prom_add(o->pulls_in_flight, NULL, -1);
	prom_add(o->pulls, NULL, 1);
	if (r < 0) {
		prom_add(o->pull_failures,
			 (const char *[]){cri_status_name(cri_status_from_errno(r))}, 1);
		return;
	}
	prom_add(o->pull_bytes, NULL, (double)bytes);
	prom_observe(o->pull_seconds, NULL, (double)(time_mono_ns() - t0) / 1e9);
}

/* ---- scrape ---- */

static void write_pods(struct prom_buf *out, struct berth *b)
{
	size_t by[STORE_SB_STATE_MAX] = {0};
	struct store_sb **v = NULL;
	size_t n = 0;
	struct store_sb_filter f = {0};
	if (b->store && store_sb_list(b->store, &f, &v, &n, NULL) == 0) {
		for (size_t i = 0; i < n; i++) {
			struct store_sb_status st;
			store_sb_status(v[i], &st);
			if (st.state < STORE_SB_STATE_MAX)
				by[st.state]++;
			store_sb_status_done(&st);
		}
		store_sb_list_free(v, n);
	}
	prom_write_head(out, "berth_pods", "Pod sandboxes, by state.", PROM_GAUGE);
	prom_write_sample(out, "berth_pods", (const char *[]){"state", "SANDBOX_READY", NULL},
			  (double)by[STORE_SB_READY]);
	prom_write_sample(out, "berth_pods", (const char *[]){"state", "SANDBOX_NOTREADY", NULL},
			  (double)by[STORE_SB_NOTREADY]);
}

static void write_containers(struct prom_buf *out, struct berth *b)
{
	size_t by[STORE_CTR_STATE_MAX] = {0}, shims = 0;
	struct store_ctr **v = NULL;
	size_t n = 0;
	struct store_ctr_filter f = {0};
	if (b->store && store_ctr_list(b->store, &f, &v, &n, NULL) == 0) {
		for (size_t i = 0; i < n; i++) {
			struct store_ctr_status st;
			store_ctr_status(v[i], &st);
			enum store_ctr_state s = store_ctr_state(&st);
			if (s < STORE_CTR_STATE_MAX)
				by[s]++;
			/* a shim outlives its container's exit until removal */
			if (st.shim_pid > 0 && kill(st.shim_pid, 0) == 0)
				shims++;
			store_ctr_status_done(&st);
		}
		store_ctr_list_free(v, n);
	}
	prom_write_head(out, "berth_containers", "Containers, by state.", PROM_GAUGE);
	for (int s = 0; s < STORE_CTR_STATE_MAX; s++)
		prom_write_sample(out, "berth_containers",
				  (const char *[]){"state", store_ctr_state_name(s), NULL},
				  (double)by[s]);
	prom_write_head(out, "berth_shim_processes", "berth-shim processes alive.", PROM_GAUGE);
	prom_write_sample(out, "berth_shim_processes", NULL, (double)shims);
}

static size_t count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 0;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0; /* the directory's own fd */
}

/* /proc/self/stat fields 20 (num_threads), 23 (vsize) and 24 (rss pages),
 * counted after the ')' that ends the command name. */
static void proc_stat(long *threads, unsigned long long *vsize, long long *rss_pages)
{
	*threads = 0;
	*vsize = 0;
	*rss_pages = 0;
	FILE *f = fopen("/proc/self/stat", "re");
	if (!f)
		return;
	char buf[1024];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p)
		return;
	/* field 3 (state) starts after ") " */
	int field = 3;
	for (char *tok = strtok(p + 2, " "); tok; tok = strtok(NULL, " "), field++) {
		if (field == 20)
			*threads = strtol(tok, NULL, 10);
		else if (field == 23)
			*vsize = strtoull(tok, NULL, 10);
		else if (field == 24) {
			*rss_pages = strtoll(tok, NULL, 10);
			break;
		}
	}
}

static void write_process(struct prom_buf *out, const struct cri_obs *o)
{
	long threads;
	unsigned long long vsize;
	long long rss;
	proc_stat(&threads, &vsize, &rss);
	struct rusage ru;
	double cpu = 0;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
		      ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
	struct rlimit rl;
	double max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (double)rl.rlim_cur : 0;
	struct {
		const char *name, *help;
		enum prom_type type;
		double v;
	} rows[] = {
	    {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
	     PROM_COUNTER, cpu},
	    {"process_resident_memory_bytes", "Resident memory size in bytes.", PROM_GAUGE,
	     (double)rss * (double)sysconf(_SC_PAGESIZE)},
	    {"process_virtual_memory_bytes", "Virtual memory size in bytes.", PROM_GAUGE,
	     (double)vsize},
	    {"process_open_fds", "Number of open file descriptors.", PROM_GAUGE,
	     (double)count_fds()},
	    {"process_max_fds", "Maximum number of open file descriptors.", PROM_GAUGE, max_fds},
	    {"process_threads", "Number of OS threads in the process.", PROM_GAUGE,
	     (double)threads},
	    {"process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
	     PROM_GAUGE, (double)(o->start_ns / 1000000) / 1e3},
	};
	for (size_t i = 0; i < N(rows); i++) {
		prom_write_head(out, rows[i].name, rows[i].help, rows[i].type);
		prom_write_sample(out, rows[i].name, NULL, rows[i].v);
	}
}

char *cri_obs_scrape(struct berth *b, size_t *ret_len)
{
	struct prom_buf out = {0};
	struct cri_obs *o = b->obs;
	if (o) {
		struct prom_family *fams[] = {o->rpc_total,    o->rpc_seconds,	o->oci_seconds,
					      o->oci_failures, o->cni_seconds,	o->cni_failures,
					      o->exits,	       o->pulls,	o->pull_failures,
					      o->pull_bytes,   o->pull_seconds, o->pulls_in_flight};
		for (size_t i = 0; i < N(fams); i++)
			prom_write(&out, fams[i]);
	}
	prom_write_head(&out, "berth_image_pull_in_flight_bytes",
			"Bytes downloaded so far into the blobs of the pulls in flight.",
			PROM_GAUGE);
	prom_write_sample(&out, "berth_image_pull_in_flight_bytes", NULL,
			  b->img ? (double)img_inflight_bytes(b->img) : 0);
	write_pods(&out, b);
	write_containers(&out, b);
	if (o)
		write_process(&out, o);
	prom_printf(&out, "%s", ""); /* never NULL */
	*ret_len = out.n;
	return out.s;
}
