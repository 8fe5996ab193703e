/* SPDX-License-Identifier: Apache-2.0 */
/* bench/store - micro-benchmarks of store/: add of N containers, get by full ID and by a
 * 12-char prefix, label-filtered list over N containers, checkpoint writes per second.
 * Usage: store [-n N] [-d DIR] [-D DISK_DIR]
 *   DIR (default: a temp dir in /dev/shm) holds the N-object store, so the index and list
 *   numbers are not dominated by fsync; DISK_DIR (default: a temp dir in /var/tmp) measures
 *   checkpoint writes on the real disk. Prints a table; never fails on a number. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/ids.h"
#include "store/store.h"

struct stats {
	double median, p99, mean;
};

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static struct stats stats_of(int64_t *ns, size_t n)
{
	qsort(ns, n, sizeof(*ns), cmp_i64);
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += (double)ns[i];
	size_t p99 = n * 99 / 100;
	return (struct stats){.median = (double)ns[n / 2] / 1e3,
			      .p99 = (double)ns[p99 < n ? p99 : n - 1] / 1e3,
			      .mean = sum / (double)n / 1e3};
}

static void row(const char *what, size_t n, struct stats s, const char *target)
{
	printf("%-44s %8zu %12.3f %12.3f %12.3f   %s\n", what, n, s.median, s.p99, s.mean, target);
}

static void die(const char *what, struct berr *e)
{
	fprintf(stderr, "bench/store: %s: %s\n", what, berr_msg(e));
	exit(1);
}

static char *make_dir(const char *given, const char *base)
{
	if (given)
		return xstrdup(given);
	char *tpl = xasprintf("%s/berth-bench-store-XXXXXX", base);
	if (!mkdtemp(tpl)) {
		fprintf(stderr, "bench/store: mkdtemp in %s: %s\n", base, strerror(errno));
		exit(1);
	}
	return tpl;
}

static int bump_pid(struct store_ctr_status *st, void *arg, struct berr **err)
{
	st->pid++;
	return 0;
}

/* Checkpoint writes per second: n status changes of one container in dir. */
static double checkpoint_rate(const char *dir, size_t n)
{
	struct store *s = NULL;
	struct berr *e = NULL;
	if (store_open(dir, NULL, &s, &e) < 0)
		die("open", e);
	char id[ID_LEN + 1];
	if (id_generate(id, &e) < 0)
		die("id", e);
	struct store_ctr_meta m = {.id = id, .name = "ckpt", .sandbox_id = "sb"};
	struct store_ctr_status st = {.created_at = 1};
	struct store_ctr *c = NULL;
	if (store_ctr_add(s, &m, &st, &c, &e) < 0)
		die("add", e);
	int64_t t0 = time_mono_ns();
	for (size_t i = 0; i < n; i++)
		if (store_ctr_update(s, c, bump_pid, NULL, &e) < 0)
			die("update", e);
	int64_t dt = time_mono_ns() - t0;
	store_ctr_unref(c);
	store_free(s);
	return (double)n / ((double)dt / 1e9);
}

struct bench {
	struct store *s;
	size_t n;
	char (*ids)[ID_LEN + 1];
	int64_t *ns; /* per-operation samples, n of them */
	unsigned seed;
};

/* 100 distinct "app" values, so a selector on one matches 1% of the containers. */
static double bench_add(struct bench *b)
{
	struct berr *e = NULL;
	char sb[ID_LEN + 1];
	if (id_generate(sb, &e) < 0)
		die("id", e);
	int64_t t_all = time_mono_ns();
	for (size_t i = 0; i < b->n; i++) {
		if (id_generate(b->ids[i], &e) < 0)
			die("id", e);
		_cleanup_free_ char *name = xasprintf("k8s_c%zu_pod_ns_uid_0", i);
		_cleanup_free_ char *app = xasprintf("app%zu", i % 100);
		struct store_kv labels[] = {{"io.kubernetes.pod.namespace", "default"},
					    {"app", app},
					    {"tier", i % 2 ? "front" : "back"}};
		struct store_ctr_meta m = {.id = b->ids[i],
					   .name = name,
					   .sandbox_id = sb,
					   .labels = labels,
					   .n_labels = 3,
					   .created_at = time_now_ns()};
		struct store_ctr_status st = {.created_at = m.created_at};
		int64_t t0 = time_mono_ns();
		if (store_ctr_add(b->s, &m, &st, NULL, &e) < 0)
			die("add", e);
		b->ns[i] = time_mono_ns() - t0;
	}
	double total = (double)(time_mono_ns() - t_all) / 1e9;
	row("add container (incl. checkpoint)", b->n, stats_of(b->ns, b->n), "");
	return (double)b->n / total;
}

/* Gets in a shuffled order, so the cache doesn't see a sequential walk; prefix_len 0 means
 * the full ID. */
static void bench_get(struct bench *b, size_t prefix_len, const char *what, const char *target)
{
	size_t ok = 0;
	for (size_t i = 0; i < b->n; i++) {
		size_t k = (size_t)rand_r(&b->seed) % b->n;
		char key[ID_LEN + 1];
		snprintf(key, sizeof(key), "%.*s", (int)(prefix_len ? prefix_len : ID_LEN),
			 b->ids[k]);
		struct store_ctr *c = NULL;
		int64_t t0 = time_mono_ns();
		int r = store_ctr_get(b->s, key, &c, NULL);
		b->ns[ok] = time_mono_ns() - t0;
		if (r == 0)
			ok++;
		store_ctr_unref(c);
	}
	row(what, ok, stats_of(b->ns, ok), target);
}

static void bench_list(struct bench *b, const struct store_ctr_filter *f, const char *what,
		       const char *target)
{
	size_t iters = 200, matched = 0;
	for (size_t i = 0; i < iters; i++) {
		struct store_ctr **v;
		size_t nv;
		int64_t t0 = time_mono_ns();
		store_ctr_list(b->s, f, &v, &nv, NULL);
		b->ns[i] = time_mono_ns() - t0;
		store_ctr_list_free(v, nv);
		matched = nv;
	}
	_cleanup_free_ char *label = xasprintf("%s (%zu match)", what, matched);
	row(label, iters, stats_of(b->ns, iters), target);
}

static void bench_status(struct bench *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct store_ctr *c = NULL;
		if (store_ctr_get(b->s, b->ids[i], &c, NULL) < 0)
			continue;
		int64_t t0 = time_mono_ns();
		struct store_ctr_status st;
		store_ctr_status(c, &st);
		b->ns[i] = time_mono_ns() - t0;
		store_ctr_status_done(&st);
		store_ctr_unref(c);
	}
	row("status copy", b->n, stats_of(b->ns, b->n), "");
}

int main(int argc, char **argv)
{
	size_t n = 10000;
	const char *dir_arg = NULL, *disk_arg = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "n:d:D:")) != -1) {
		if (opt == 'n')
			n = (size_t)strtoul(optarg, NULL, 10);
		else if (opt == 'd')
			dir_arg = optarg;
		else if (opt == 'D')
			disk_arg = optarg;
		else {
			fprintf(stderr, "usage: %s [-n N] [-d DIR] [-D DISK_DIR]\n", argv[0]);
			return 2;
		}
	}
	if (n < 200)
		n = 200;
	_cleanup_free_ char *dir = make_dir(dir_arg, "/dev/shm");
	_cleanup_free_ char *disk = make_dir(disk_arg, "/var/tmp");
	struct berr *e = NULL;
	struct bench b = {
	    .n = n, .ids = xcalloc(n, sizeof(*b.ids)), .ns = xcalloc(n, sizeof(*b.ns)), .seed = 42};
	if (store_open(dir, NULL, &b.s, &e) < 0)
		die("open", e);

	printf("berth store benchmark: %zu containers, store in %s\n\n", n, dir);
	printf("%-44s %8s %12s %12s %12s   %s\n", "operation", "count", "median us", "p99 us",
	       "mean us", "target");
	double add_rate = bench_add(&b);
	bench_get(&b, 0, "get by full ID", "");
	bench_get(&b, 12, "get by 12-char prefix", "< 5 us median");
	struct store_kv sel[] = {{"app", "app7"}};
	struct store_ctr_filter f = {.labels = sel, .n_labels = 1};
	bench_list(&b, &f, "list, 1-label selector", "< 2000 us median");
	struct store_kv sel2[] = {{"tier", "front"}, {"app", "app7"}};
	f = (struct store_ctr_filter){
	    .labels = sel2, .n_labels = 2, .has_state = true, .state = STORE_CTR_CREATED};
	bench_list(&b, &f, "list, 2 labels + state", "");
	bench_list(&b, NULL, "list, no filter", "");
	bench_status(&b);
	b.s = store_free(b.s);

	int64_t t0 = time_mono_ns();
	if (store_open(dir, NULL, &b.s, &e) < 0)
		die("reopen", e);
	double reload = (double)(time_mono_ns() - t0) / 1e9;
	b.s = store_free(b.s);

	printf("\n%-44s %12.0f\n", "add throughput (containers/s)", add_rate);
	printf("%-44s %12.3f\n", "reload of all records at open (s)", reload);
	printf("%-44s %12.0f\n", "checkpoint writes/s (tmpfs, /dev/shm)",
	       checkpoint_rate(dir, 5000));
	printf("%-44s %12.0f   (%s, fsync file + dir)\n", "checkpoint writes/s (disk)",
	       checkpoint_rate(disk, 300), disk);

	if (!dir_arg)
		(void)fileio_remove_tree(dir, NULL);
	if (!disk_arg)
		(void)fileio_remove_tree(disk, NULL);
	free(b.ids);
	free(b.ns);
	return 0;
}
