/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the store unit tests: temp state dirs, IDs with chosen prefixes,
 * metadata builders and a collector for load warnings. */
#ifndef BERTH_TEST_STORE_UTIL_H
#define BERTH_TEST_STORE_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/ids.h"
#include "store/store-internal.h"
#include "store/store.h"

/* A fresh state dir under /tmp (caller frees and removes). */
static inline char *tst_mkdtemp(void)
{
	char tpl[] = "/tmp/berth-test-store-XXXXXX";
	char *d = mkdtemp(tpl);
	assert_non_null(d);
	return xstrdup(d);
}

/* 64-hex ID starting with prefix (hex chars), made unique by n. */
static inline void tst_id(char out[ID_LEN + 1], const char *prefix, unsigned long n)
{
	memset(out, '0', ID_LEN);
	out[ID_LEN] = '\0';
	size_t pl = strlen(prefix);
	memcpy(out, prefix, pl);
	char tail[17];
	snprintf(tail, sizeof(tail), "%016lx", n);
	memcpy(out + ID_LEN - 16, tail, 16);
}

struct tst_warnings {
	size_t n;
	char *path[32];
	char *msg[32];
	int code[32];
};

static inline void tst_warn(void *ud, const char *path, const struct berr *e)
{
	struct tst_warnings *w = ud;
	if (w->n >= 32)
		return;
	w->path[w->n] = xstrdup(path);
	w->msg[w->n] = xstrdup(berr_msg(e));
	w->code[w->n] = e ? e->code : 0;
	w->n++;
}

static inline void tst_warnings_done(struct tst_warnings *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->path[i]);
		free(w->msg[i]);
	}
	w->n = 0;
}

/* Index of the warning whose path ends with suffix, or -1. */
static inline int tst_warning_for(const struct tst_warnings *w, const char *suffix)
{
	for (size_t i = 0; i < w->n; i++) {
		size_t a = strlen(w->path[i]), b = strlen(suffix);
		if (a >= b && strcmp(w->path[i] + a - b, suffix) == 0)
			return (int)i;
	}
	return -1;
}

static inline struct store *tst_open(const char *dir, struct tst_warnings *w)
{
	struct store_opts opts = {.warn = tst_warn, .userdata = w};
	struct store *s = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	int r = store_open(dir, &opts, &s, &e);
	if (r < 0)
		fail_msg("store_open: %s", berr_msg(e));
	return s;
}

static inline char *tst_read(const char *path)
{
	char *data = NULL;
	if (fileio_read_all(path, 1 << 24, &data, NULL, NULL) < 0)
		return NULL;
	return data;
}

/* Per-test fixture: a fresh state dir with an open store. */
struct fx {
	char *dir;
	struct store *s;
	struct tst_warnings w;
};

static inline int fx_setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	f->dir = tst_mkdtemp();
	f->s = tst_open(f->dir, &f->w);
	*state = f;
	return 0;
}

static inline int fx_teardown(void **state)
{
	struct fx *f = *state;
	store_free(f->s);
	tst_warnings_done(&f->w);
	int r = fileio_remove_tree(f->dir, NULL);
	free(f->dir);
	free(f);
	return r;
}

/* Closes and reopens the store of f, as a daemon restart does. */
static inline void fx_restart(struct fx *f)
{
	f->s = store_free(f->s);
	tst_warnings_done(&f->w);
	f->s = tst_open(f->dir, &f->w);
}

static inline struct store_ctr *tst_add_ctr(struct store *s, const char *id, const char *name,
					    const char *sandbox_id, struct store_kv *labels,
					    size_t n_labels, int64_t created_at)
{
	struct store_ctr_meta m = {
	    .id = (char *)id,
	    .name = (char *)name,
	    .sandbox_id = (char *)sandbox_id,
	    .metadata = {.name = (char *)"c", .attempt = 0},
	    .labels = labels,
	    .n_labels = n_labels,
	};
	struct store_ctr_status st = {.created_at = created_at};
	struct store_ctr *c = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	int r = store_ctr_add(s, &m, &st, &c, &e);
	if (r < 0)
		fail_msg("store_ctr_add: %s", berr_msg(e));
	return c;
}

static inline struct store_sb *tst_add_sb(struct store *s, const char *id, const char *name,
					  struct store_kv *labels, size_t n_labels,
					  enum store_sb_state state)
{
	struct store_sb_meta m = {
	    .id = (char *)id,
	    .name = (char *)name,
	    .metadata = {.name = (char *)"pod", .uid = (char *)"uid", .namespace = (char *)"ns"},
	    .labels = labels,
	    .n_labels = n_labels,
	};
	struct store_sb_status st = {.state = state};
	struct store_sb *sb = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	int r = store_sb_add(s, &m, &st, &sb, &e);
	if (r < 0)
		fail_msg("store_sb_add: %s", berr_msg(e));
	return sb;
}

#endif
