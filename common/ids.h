/* SPDX-License-Identifier: Apache-2.0 */
/* ids.h - object IDs and small time helpers.
 * IDs are 64 lowercase hex chars from getrandom(2) (a CSPRNG), as containerd
 *   and CRI-O make them. Threads: thread-safe. Errors: -errno from getrandom. */
#ifndef BERTH_COMMON_IDS_H
#define BERTH_COMMON_IDS_H

#include <stdbool.h>
#include <stdint.h>

#define ID_LEN 64

struct berr;

/* Fills out[ID_LEN + 1] with a new ID. */
int id_generate(char out[ID_LEN + 1], struct berr **err);
/* True for exactly ID_LEN lowercase hex chars. */
bool id_is_valid(const char *s);
/* True for 1..ID_LEN lowercase hex chars (a possible ID prefix). */
bool id_is_prefix(const char *s);

/* Nanoseconds since the epoch (CLOCK_REALTIME), as CRI timestamps are. */
int64_t time_now_ns(void);
/* Monotonic nanoseconds, for durations and deadlines. */
int64_t time_mono_ns(void);
/* RFC 3339 with nanoseconds in UTC ("2026-11-23T10:24:35.123456789Z") into
 * buf of at least 40 bytes; returns buf. */
char *time_format_rfc3339nano(int64_t ns, char *buf, int len);

#endif
