/* SPDX-License-Identifier: Apache-2.0 */
#include "common/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

int berr_setv(struct berr **err, int code, const char *fmt, va_list ap)
{
	if (code <= 0)
		code = EIO;
	if (!err)
		return -code;
	berr_free(*err);
	struct berr *e = xmalloc(sizeof(*e));
	e->code = code;
	if (vasprintf(&e->msg, fmt, ap) < 0)
		xalloc_die();
	*err = e;
	return -code;
}

int berr_set(struct berr **err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = berr_setv(err, code, fmt, ap);
	va_end(ap);
	return r;
}

int berr_set_errno(struct berr **err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = berr_setv(err, code, fmt, ap);
	va_end(ap);
	if (err && *err) {
		char *m = xasprintf("%s: %s", (*err)->msg, strerror((*err)->code));
		free((*err)->msg);
		(*err)->msg = m;
	}
	return r;
}

int berr_wrap(struct berr **err, const char *fmt, ...)
{
	if (!err || !*err)
		return -EIO;
	va_list ap;
	va_start(ap, fmt);
	char *ctx = NULL;
	if (vasprintf(&ctx, fmt, ap) < 0)
		xalloc_die();
	va_end(ap);
	char *m = xasprintf("%s: %s", ctx, (*err)->msg);
	free(ctx);
	free((*err)->msg);
	(*err)->msg = m;
	return -(*err)->code;
}

int berr_move(struct berr **dst, struct berr **src)
{
	int code = (src && *src) ? (*src)->code : EIO;
	if (!dst) {
		if (src)
			*src = berr_free(*src);
		return -code;
	}
	berr_free(*dst);
	*dst = src ? *src : NULL;
	if (src)
		*src = NULL;
	return -code;
}

struct berr *berr_free(struct berr *e)
{
	if (e) {
		free(e->msg);
		free(e);
	}
	return NULL;
}

const char *berr_msg(const struct berr *e)
{
	return e && e->msg ? e->msg : "";
}
