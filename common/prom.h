/* SPDX-License-Identifier: Apache-2.0 */
/* prom.h - Prometheus metrics: counter, gauge and histogram families with a
 * fixed list of label names, and the text exposition format (version 0.0.4)
 * they are written in. No C client library is packaged in Debian; this is the
 * small part berthd needs (docs/server.md "Metrics").
 * Ownership: a family is made by prom_family_new() and freed by
 *   prom_family_free(); a prom_buf owns its text (prom_buf_done()).
 * Threads: observing (prom_add/prom_set/prom_observe) and writing a family are
 *   thread-safe (one mutex per family, held only to find the series and add).
 * Errors: none; label values are escaped, not refused. A family keeps at most
 *   PROM_SERIES_MAX series; observations of more label sets are dropped. */
#ifndef BERTH_COMMON_PROM_H
#define BERTH_COMMON_PROM_H

#include <stddef.h>

enum prom_type { PROM_COUNTER, PROM_GAUGE, PROM_HISTOGRAM };

#define PROM_LABELS_MAX 4
#define PROM_SERIES_MAX 4096

struct prom_family;

/* labels: NULL-terminated names (at most PROM_LABELS_MAX); buckets: the upper
 * bounds of a histogram, ascending (+Inf is implied); copied. */
struct prom_family *prom_family_new(const char *name, const char *help, enum prom_type type,
				    const char *const *labels, const double *buckets,
				    size_t n_buckets);
struct prom_family *prom_family_free(struct prom_family *f);

/* values: one per label name of the family, in order (NULL reads as ""). */
void prom_add(struct prom_family *f, const char *const *values, double v);
void prom_set(struct prom_family *f, const char *const *values, double v);
void prom_observe(struct prom_family *f, const char *const *values, double v);

struct prom_buf {
	char *s;
	size_t n, cap;
};
void prom_buf_done(struct prom_buf *b);
void prom_printf(struct prom_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes a family: HELP, TYPE and its series (a labelled family never
 * observed writes its HELP and TYPE only; an unlabelled one writes zeros). */
void prom_write(struct prom_buf *b, struct prom_family *f);
/* For values computed at scrape time: a HELP/TYPE head, then its samples.
 * labels: NULL-terminated name/value pairs, or NULL. */
void prom_write_head(struct prom_buf *b, const char *name, const char *help, enum prom_type type);
void prom_write_sample(struct prom_buf *b, const char *name, const char *const *labels, double v);

#endif
