/* SPDX-License-Identifier: Apache-2.0 */
/* strv.h - NULL-terminated vectors of owned strings ("strv"), as argv and envp.
 * Ownership: every function returning char ** or char * returns a new,
 *   malloc'd result the caller frees (strv_free() in common/cleanup.h for
 *   vectors). A NULL vector is the empty vector everywhere.
 * Threads: no shared state. Errors: none (allocation aborts, common/alloc.h). */
#ifndef BERTH_COMMON_STRV_H
#define BERTH_COMMON_STRV_H

#include <stdbool.h>
#include <stddef.h>

size_t strv_len(char *const *v);
/* A deep copy; NULL stays NULL. */
char **strv_copy(char *const *v);
bool strv_equal(char *const *a, char *const *b);
bool strv_contains(char *const *v, const char *s);
/* Appends a copy of s; *n is the length (kept in step, so appends stay O(1)). */
void strv_push(char ***v, size_t *n, const char *s);
/* Appends copies of every string of add. */
void strv_extend(char ***v, size_t *n, char *const *add);
/* "a<sep>b<sep>c"; "" for the empty vector. */
char *strv_join(char *const *v, char sep);
/* Splits s at sep, dropping empty fields; never NULL. */
char **strv_split(const char *s, char sep);

#endif
