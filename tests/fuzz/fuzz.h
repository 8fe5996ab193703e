/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz.h - what the libFuzzer targets of tests/fuzz/ share: one-time set-up
 * (log to nowhere) and a NUL-terminated copy of the input.
 * Threads: libFuzzer calls a target on one thread. */
#ifndef BERTH_TESTS_FUZZ_H
#define BERTH_TESTS_FUZZ_H

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Logs nothing below error, and errors to /dev/null: a run prints only
 * libFuzzer's own lines. */
static inline void fuzz_quiet(void)
{
	static bool done;
	if (!done) {
		log_setup(LOG_LEVEL_MAX, open("/dev/null", O_WRONLY | O_CLOEXEC));
		done = true;
	}
}

/* The input as a C string (caller frees); embedded NULs stay. */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	char *s = xmalloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
