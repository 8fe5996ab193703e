/* SPDX-License-Identifier: Apache-2.0 */
/* cleanup.h - scope-bound release of memory, fds, FILEs and errors.
 * A variable marked _cleanup_*_ is released when it leaves scope; hand it on
 * with TAKE_PTR()/TAKE_FD() so the transfer of ownership is visible.
 * Destructors accept NULL (and -1 for fds). Never let a fork child return
 * through a frame with cleanup attributes (style §6). */
#ifndef BERTH_COMMON_CLEANUP_H
#define BERTH_COMMON_CLEANUP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/err.h"

#define _cleanup_(f) __attribute__((cleanup(f)))

/* DEFINE_CLEANUP_FUNC(type, fn) defines fn##p(type *), calling fn on non-NULL. */
#define DEFINE_CLEANUP_FUNC(type, fn)                                                              \
	static inline void fn##p(type *p)                                                          \
	{                                                                                          \
		if (*p)                                                                            \
			(void)fn(*p);                                                              \
	}

static inline void freep(void *p)
{
	free(*(void **)p);
}

/* Closes fd keeping errno; returns -1 so that `fd = safe_close(fd);` works. */
static inline int safe_close(int fd)
{
	if (fd >= 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return -1;
}

static inline void closep(int *fd)
{
	safe_close(*fd);
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void berr_freep(struct berr **e)
{
	berr_free(*e);
}

/* Frees a NULL-terminated vector of strings. */
static inline void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static inline void strv_freep(char ***v)
{
	strv_free(*v);
}

#define _cleanup_free_	 _cleanup_(freep)
#define _cleanup_close_	 _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_berr_	 _cleanup_(berr_freep)
#define _cleanup_strv_	 _cleanup_(strv_freep)

#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _tp = (p);                                                           \
		(p) = NULL;                                                                        \
		_tp;                                                                               \
	})

#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _tf = (fd);                                                                    \
		(fd) = -1;                                                                         \
		_tf;                                                                               \
	})

#endif
