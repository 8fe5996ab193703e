/* SPDX-License-Identifier: Apache-2.0 */
#include "common/prom.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/cleanup.h"

struct series {
	char *values[PROM_LABELS_MAX];
	double v;	  /* counter, gauge; histogram: sum */
	uint64_t count;	  /* histogram */
	uint64_t *bucket; /* histogram: n_buckets cumulative-later counts (not cumulative) */
};

struct prom_family {
	char *name, *help;
	enum prom_type type;
	char *labels[PROM_LABELS_MAX];
	size_t n_labels;
	double *buckets;
	size_t n_buckets;
	pthread_mutex_t mu;
	struct series *s; /* guarded by mu */
	size_t n, cap;
};

static struct series *series_of(struct prom_family *f, const char *const *values);

struct prom_family *prom_family_new(const char *name, const char *help, enum prom_type type,
				    const char *const *labels, const double *buckets,
				    size_t n_buckets)
{
	struct prom_family *f = xcalloc(1, sizeof(*f));
	f->name = xstrdup(name);
	f->help = xstrdup(help);
	f->type = type;
	for (size_t i = 0; labels && labels[i] && i < PROM_LABELS_MAX; i++)
		f->labels[f->n_labels++] = xstrdup(labels[i]);
	if (type == PROM_HISTOGRAM && n_buckets) {
		f->buckets = xmemdup(buckets, n_buckets * sizeof(*buckets));
		f->n_buckets = n_buckets;
	}
	pthread_mutex_init(&f->mu, NULL);
	if (!f->n_labels) /* its one series is there from the start: 0 until observed */
		(void)series_of(f, NULL);
	return f;
}

struct prom_family *prom_family_free(struct prom_family *f)
{
	if (!f)
		return NULL;
	for (size_t i = 0; i < f->n; i++) {
		for (size_t k = 0; k < f->n_labels; k++)
			free(f->s[i].values[k]);
		free(f->s[i].bucket);
	}
	for (size_t k = 0; k < f->n_labels; k++)
		free(f->labels[k]);
	free(f->s);
	free(f->buckets);
	free(f->name);
	free(f->help);
	pthread_mutex_destroy(&f->mu);
	free(f);
	return NULL;
}

/* The series of values, made on first use; NULL past PROM_SERIES_MAX. Under mu. */
static struct series *series_of(struct prom_family *f, const char *const *values)
{
	for (size_t i = 0; i < f->n; i++) {
		size_t k = 0;
		for (; k < f->n_labels; k++) {
			const char *v = values && values[k] ? values[k] : "";
			if (strcmp(f->s[i].values[k], v) != 0)
				break;
		}
		if (k == f->n_labels)
			return &f->s[i];
	}
	if (f->n >= PROM_SERIES_MAX)
		return NULL;
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 8;
		f->s = xreallocarray(f->s, f->cap, sizeof(*f->s));
	}
	struct series *s = &f->s[f->n++];
	*s = (struct series){0};
	for (size_t k = 0; k < f->n_labels; k++)
		s->values[k] = xstrdup(values && values[k] ? values[k] : "");
	if (f->type == PROM_HISTOGRAM)
		s->bucket = xcalloc(f->n_buckets ? f->n_buckets : 1, sizeof(*s->bucket));
	return s;
}

void prom_add(struct prom_family *f, const char *const *values, double v)
{
	pthread_mutex_lock(&f->mu);
	struct series *s = series_of(f, values);
	if (s)
		s->v += v;
	pthread_mutex_unlock(&f->mu);
}

void prom_set(struct prom_family *f, const char *const *values, double v)
{
	pthread_mutex_lock(&f->mu);
	struct series *s = series_of(f, values);
	if (s)
		s->v = v;
	pthread_mutex_unlock(&f->mu);
}

void prom_observe(struct prom_family *f, const char *const *values, double v)
{
	pthread_mutex_lock(&f->mu);
	struct series *s = series_of(f, values);
	if (s) {
		s->v += v;
		s->count++;
		for (size_t i = 0; i < f->n_buckets; i++) {
			if (v <= f->buckets[i]) {
				s->bucket[i]++;
				break;
			}
		}
	}
	pthread_mutex_unlock(&f->mu);
}

/* ---- text ---- */

void prom_buf_done(struct prom_buf *b)
{
	free(b->s);
	*b = (struct prom_buf){0};
}

void prom_printf(struct prom_buf *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		size_t room = b->cap - b->n;
		int r = vsnprintf(b->s ? b->s + b->n : NULL, room, fmt, ap);
		va_end(ap);
		if (r < 0)
			return;
		if ((size_t)r < room) {
			b->n += (size_t)r;
			return;
		}
		b->cap = (b->cap + (size_t)r + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
}

/* help: backslash and newline escaped; label values: those and '"'. */
static void put_escaped(struct prom_buf *b, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			prom_printf(b, "\\\\");
		else if (*s == '\n')
			prom_printf(b, "\\n");
		else if (quote && *s == '"')
			prom_printf(b, "\\\"");
		else
			prom_printf(b, "%c", *s);
	}
}

static void put_value(struct prom_buf *b, double v)
{
	if (isnan(v))
		prom_printf(b, " NaN\n");
	else if (isinf(v))
		prom_printf(b, v > 0 ? " +Inf\n" : " -Inf\n");
	else if (v == (double)(long long)v && fabs(v) < 1e15)
		prom_printf(b, " %lld\n", (long long)v);
	else
		prom_printf(b, " %.17g\n", v);
}

static const char *type_name(enum prom_type t)
{
	return t == PROM_COUNTER ? "counter" : t == PROM_GAUGE ? "gauge" : "histogram";
}

void prom_write_head(struct prom_buf *b, const char *name, const char *help, enum prom_type type)
{
	prom_printf(b, "# HELP %s ", name);
	put_escaped(b, help, false);
	prom_printf(b, "\n# TYPE %s %s\n", name, type_name(type));
}

void prom_write_sample(struct prom_buf *b, const char *name, const char *const *labels, double v)
{
	prom_printf(b, "%s", name);
	if (labels && labels[0]) {
		prom_printf(b, "{");
		for (size_t i = 0; labels[i] && labels[i + 1]; i += 2) {
			prom_printf(b, "%s%s=\"", i ? "," : "", labels[i]);
			put_escaped(b, labels[i + 1], true);
			prom_printf(b, "\"");
		}
		prom_printf(b, "}");
	}
	put_value(b, v);
}

/* name{labels...[,le="x"]} as pairs for prom_write_sample. */
static void series_labels(const struct prom_family *f, const struct series *s, const char *le,
			  const char **out)
{
	size_t k = 0;
	for (size_t i = 0; i < f->n_labels; i++) {
		out[k++] = f->labels[i];
		out[k++] = s->values[i];
	}
	if (le) {
		out[k++] = "le";
		out[k++] = le;
	}
	out[k] = NULL;
}

static void write_histogram(struct prom_buf *b, const struct prom_family *f, const struct series *s)
{
	const char *labels[2 * PROM_LABELS_MAX + 3];
	_cleanup_free_ char *bucket = xasprintf("%s_bucket", f->name);
	uint64_t cum = 0;
	for (size_t i = 0; i < f->n_buckets; i++) {
		cum += s->bucket[i];
		char le[32];
		snprintf(le, sizeof(le), "%g", f->buckets[i]);
		series_labels(f, s, le, labels);
		prom_write_sample(b, bucket, labels, (double)cum);
	}
	series_labels(f, s, "+Inf", labels);
	prom_write_sample(b, bucket, labels, (double)s->count);
	series_labels(f, s, NULL, labels);
	_cleanup_free_ char *sum = xasprintf("%s_sum", f->name);
	_cleanup_free_ char *count = xasprintf("%s_count", f->name);
	prom_write_sample(b, sum, labels, s->v);
	prom_write_sample(b, count, labels, (double)s->count);
}

void prom_write(struct prom_buf *b, struct prom_family *f)
{
	prom_write_head(b, f->name, f->help, f->type);
	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->n; i++) {
		if (f->type == PROM_HISTOGRAM) {
			write_histogram(b, f, &f->s[i]);
			continue;
		}
		const char *labels[2 * PROM_LABELS_MAX + 1];
		series_labels(f, &f->s[i], NULL, labels);
		prom_write_sample(b, f->name, labels, f->s[i].v);
	}
	pthread_mutex_unlock(&f->mu);
}
