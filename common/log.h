/* SPDX-License-Identifier: Apache-2.0 */
/* log.h - one-line structured log events to stderr (or a set fd).
 * Format: "<RFC3339 UTC ts> <level> <component> key=value... msg=\"...\"".
 *   Callers pass the key=value part themselves, e.g.
 *   log_info("method=%s id=%.12s dur_ms=%ld", ...). Values that may hold spaces
 *   are quoted by the caller (msg="%s").
 * Set the component with `#define LOG_COMPONENT "cri"` before including.
 * Threads: log_setup() runs once in main() before any thread starts (the log
 *   configuration is the only mutable global of berth); log_set_level() may run at any
 *   time (an atomic, for SIGHUP); the rest is thread-safe, each event is written with
 *   one write(2).
 * Library code logs at debug level at most; never log between fork and exec,
 *   and never log credentials. */
#ifndef BERTH_COMMON_LOG_H
#define BERTH_COMMON_LOG_H

#include <stdbool.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR, LOG_LEVEL_MAX };

#ifndef LOG_COMPONENT
#define LOG_COMPONENT "berth"
#endif

void log_setup(enum log_level min, int fd);
/* The minimum level, changed live (berthd's SIGHUP reload). */
void log_set_level(enum log_level min);
enum log_level log_get_level(void);
/* Parses "debug", "info", "warn"/"warning", "error"; returns -EINVAL otherwise. */
int log_level_parse(const char *s, enum log_level *ret_level);
const char *log_level_name(enum log_level l);
bool log_enabled(enum log_level l);
void log_emit(enum log_level l, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_emit(LOG_LEVEL_DEBUG, LOG_COMPONENT, __VA_ARGS__)
#define log_info(...)  log_emit(LOG_LEVEL_INFO, LOG_COMPONENT, __VA_ARGS__)
#define log_warn(...)  log_emit(LOG_LEVEL_WARN, LOG_COMPONENT, __VA_ARGS__)
#define log_error(...) log_emit(LOG_LEVEL_ERROR, LOG_COMPONENT, __VA_ARGS__)

#endif
