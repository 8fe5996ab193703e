/* SPDX-License-Identifier: Apache-2.0 */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static struct {
	_Atomic int min;    /* enum log_level */
	_Atomic int format; /* enum log_format */
	int fd;
} log_cfg = {LOG_LEVEL_INFO, LOG_FORMAT_TEXT, STDERR_FILENO};

static const char *const level_names[LOG_LEVEL_MAX] = {"debug", "info", "warn", "error"};

static const char *const format_names[LOG_FORMAT_MAX] = {"text", "json"};

void log_setup(enum log_level min, int fd)
{
	atomic_store(&log_cfg.min, (int)min);
	log_cfg.fd = fd;
}

void log_set_level(enum log_level min)
{
	if (min < LOG_LEVEL_MAX)
		atomic_store(&log_cfg.min, (int)min);
}

void log_set_format(enum log_format f)
{
	if (f < LOG_FORMAT_MAX)
		atomic_store(&log_cfg.format, (int)f);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load(&log_cfg.min);
}

enum log_format log_get_format(void)
{
	return (enum log_format)atomic_load(&log_cfg.format);
}

int log_format_parse(const char *s, enum log_format *ret_format)
{
	for (int i = 0; i < LOG_FORMAT_MAX; i++) {
		if (strcasecmp(s, format_names[i]) == 0) {
			*ret_format = i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *log_format_name(enum log_format f)
{
	return f < LOG_FORMAT_MAX ? format_names[f] : "?";
}

int log_level_parse(const char *s, enum log_level *ret_level)
{
	for (int i = 0; i < LOG_LEVEL_MAX; i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*ret_level = i;
			return 0;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*ret_level = LOG_LEVEL_WARN;
		return 0;
	}
	return -EINVAL;
}

const char *log_level_name(enum log_level l)
{
	return l < LOG_LEVEL_MAX ? level_names[l] : "?";
}

bool log_enabled(enum log_level l)
{
	return (int)l >= atomic_load(&log_cfg.min);
}

/* ---- json ---- */

struct out {
	char *p;
	size_t n, cap; /* cap leaves room for the final newline */
};

static void put(struct out *o, const char *s, size_t n)
{
	if (n > o->cap - o->n)
		n = o->cap - o->n;
	memcpy(o->p + o->n, s, n);
	o->n += n;
}

/* A JSON string body: quotes, backslashes and control bytes escaped. */
static void put_json_str(struct out *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(o, esc, 2);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(o, esc, 6);
		} else {
			put(o, (const char *)&c, 1);
		}
	}
}

/* The value of a quoted text field (msg="a \"b\" \x0a") unescaped into buf. */
static size_t unquote(const char *s, size_t n, char *buf)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n) {
			if (s[i + 1] == 'x' && i + 3 < n) {
				char hex[3] = {s[i + 2], s[i + 3], 0};
				buf[k++] = (char)strtol(hex, NULL, 16);
				i += 3;
				continue;
			}
			i++;
		}
		buf[k++] = s[i];
	}
	return k;
}

static bool is_int(const char *s, size_t n)
{
	size_t i = s[0] == '-' ? 1 : 0;
	if (i >= n || n - i > 18 || (s[i] == '0' && n - i > 1))
		return false;
	for (; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Keys whose values are names, never numbers, even when all digits (an ID
 * prefix can be). */
static bool is_name_key(const char *k, size_t n)
{
	static const char *const names[] = {"id",     "sandbox", "digest", "image", "name",
					    "method", "path",	 "url",	   "status"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && memcmp(names[i], k, n) == 0)
			return true;
	return n > 3 && memcmp(k + n - 3, "_id", 3) == 0;
}

/* key=value key="quoted value" ... as JSON members; text that is not a
 * key=value pair goes into "text". */
static void kv_to_json(struct out *o, const char *s)
{
	char scratch[4096];
	while (*s) {
		while (*s == ' ')
			s++;
		if (!*s)
			break;
		const char *key = s;
		while (*s && *s != '=' && *s != ' ')
			s++;
		if (*s != '=' || s == key) {
			const char *w = key;
			while (*s && *s != ' ')
				s++;
			put(o, ",\"text\":\"", 9);
			put_json_str(o, w, (size_t)(s - w));
			put(o, "\"", 1);
			continue;
		}
		size_t klen = (size_t)(s - key);
		s++;
		put(o, ",\"", 2);
		put_json_str(o, key, klen);
		put(o, "\":", 2);
		if (*s == '"') {
			const char *v = ++s;
			while (*s && *s != '"') {
				if (*s == '\\' && s[1])
					s++;
				s++;
			}
			size_t vlen = (size_t)(s - v);
			if (vlen > sizeof(scratch))
				vlen = sizeof(scratch);
			size_t un = unquote(v, vlen, scratch);
			put(o, "\"", 1);
			put_json_str(o, scratch, un);
			put(o, "\"", 1);
			if (*s == '"')
				s++;
		} else {
			const char *v = s;
			while (*s && *s != ' ')
				s++;
			size_t vlen = (size_t)(s - v);
			if (vlen && is_int(v, vlen) && !is_name_key(key, klen)) {
				put(o, v, vlen);
			} else {
				put(o, "\"", 1);
				put_json_str(o, v, vlen);
				put(o, "\"", 1);
			}
		}
	}
}

void log_emit(enum log_level l, const char *component, const char *fmt, ...)
{
	if (!log_enabled(l))
		return;
	int saved = errno;
	char text[4096];
	va_list ap;
	va_start(ap, fmt);
	int r = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (r < 0)
		text[0] = '\0';
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char when[40];
	size_t w = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + w, sizeof(when) - w, ".%06ldZ", ts.tv_nsec / 1000);
	/* large enough for text's worst JSON form (every byte as \u00XX) and the
	 * head: nothing is ever cut, so a JSON line always parses */
	char buf[7 * sizeof(text) + 256];
	struct out o = {buf, 0, sizeof(buf) - 2};
	if (atomic_load(&log_cfg.format) == LOG_FORMAT_JSON) {
		char head[128];
		int hn =
		    snprintf(head, sizeof(head), "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"",
			     when, log_level_name(l));
		put(&o, head, (size_t)hn);
		put_json_str(&o, component, strlen(component));
		put(&o, "\"", 1);
		kv_to_json(&o, text);
		put(&o, "}", 1);
	} else {
		put(&o, when, strlen(when));
		put(&o, " ", 1);
		put(&o, log_level_name(l), strlen(log_level_name(l)));
		put(&o, " ", 1);
		put(&o, component, strlen(component));
		put(&o, " ", 1);
		put(&o, text, strlen(text));
	}
	buf[o.n++] = '\n';
	(void)!write(log_cfg.fd, buf, o.n);
	errno = saved;
}
