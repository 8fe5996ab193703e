/* SPDX-License-Identifier: Apache-2.0 */
/* alloc.h - allocation that cannot fail.
 * Policy: running out of memory aborts the process with a message (as crun
 *   does); callers never handle ENOMEM. In return every size a user controls is
 *   bounded before it is allocated (see common/limits.h).
 * Threads: thread-safe. */
#ifndef BERTH_COMMON_ALLOC_H
#define BERTH_COMMON_ALLOC_H

#include <stddef.h>

_Noreturn void xalloc_die(void);
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* xreallocarray() checks nmemb*size for overflow. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
/* NULL in, NULL out. */
char *xstrdup_null(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
