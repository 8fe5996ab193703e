/* SPDX-License-Identifier: Apache-2.0 */
/* err.h - the one error type of berth: a positive errno plus a message chain.
 * Ownership: *err is allocated by berr_set() and owned by the caller, who frees
 *   it with berr_free() (or _cleanup_berr_). A function that fails returns -code
 *   (or NULL for pointer results) and sets *err; on success it leaves *err NULL.
 * Messages are lowercase, without a final period, user values in single quotes.
 *   berr_wrap() prepends context: "start container 'x': runc create: exit 1".
 * Threads: no shared state; all calls are thread-safe.
 * err may be NULL in every call: the error is then only returned as -code. */
#ifndef BERTH_COMMON_ERR_H
#define BERTH_COMMON_ERR_H

#include <stdarg.h>

struct berr {
	int code;  /* positive errno, never 0 */
	char *msg; /* context chain, outermost first */
};

/* Sets *err to a new error (code<=0 is taken as EIO); returns -code. An error
 * already in *err is replaced. */
int berr_set(struct berr **err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int berr_setv(struct berr **err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* As berr_set() with ": strerror(code)" appended. */
int berr_set_errno(struct berr **err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends "context: " to the message of *err; returns -code (or -EIO if *err is
 * unset, which is a programming error). */
int berr_wrap(struct berr **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Moves *src into *dst (freeing whatever *dst held); returns -code. */
int berr_move(struct berr **dst, struct berr **src);
struct berr *berr_free(struct berr *e);
/* The message of e, or "" for NULL. */
const char *berr_msg(const struct berr *e);

#endif
