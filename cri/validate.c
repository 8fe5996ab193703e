/* SPDX-License-Identifier: Apache-2.0 */
/* validate.c - the validation entry point: the table of validators by request
 * type, the enum check over a whole message tree, the NUL scan of the wire
 * form, and the string, count and map helpers the rule files share. */
#include "cri/validate-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "cri/pod.h"

void cri_v_fmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

const char *cri_v_path(char *buf, size_t size, const char *where, const char *field)
{
	if (where && *where && field && *field)
		cri_v_fmt(buf, size, "%s.%s", where, field);
	else
		cri_v_fmt(buf, size, "%s", where && *where ? where : field ? field : "");
	return buf;
}

/* ---- strings, counts, maps ---- */

static bool has_dotdot(const char *s)
{
	for (const char *p = s; (p = strstr(p, "..")); p += 2)
		if ((p == s || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
			return true;
	return false;
}

int cri_v_str(const char *where, const char *field, const char *s, size_t max, unsigned flags,
	      struct berr **err)
{
	char f[512];
	cri_v_path(f, sizeof(f), where, field);
	size_t n = s ? strlen(s) : 0;
	if (n == 0)
		return flags & CRI_V_NONEMPTY ? berr_set(err, EINVAL, "%s is empty", f) : 0;
	if (n > max)
		return berr_set(err, E2BIG, "%s too long (%zu > %zu bytes)", f, n, max);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if ((flags & (CRI_V_NO_CTRL | CRI_V_NO_SPACE)) && (*c < 0x20 || *c == 0x7f))
			return berr_set(err, EINVAL,
					"%s '%.64s' holds a control character (0x%02x)", f, s, *c);
		if ((flags & CRI_V_NO_SPACE) && *c == ' ')
			return berr_set(err, EINVAL, "%s '%.64s' holds a space", f, s);
	}
	if ((flags & CRI_V_ABSOLUTE) && s[0] != '/')
		return berr_set(err, EINVAL, "%s '%.64s' is not an absolute path", f, s);
	if ((flags & CRI_V_RELATIVE) && s[0] == '/')
		return berr_set(err, EINVAL, "%s '%.64s' is not a relative path", f, s);
	if ((flags & (CRI_V_RELATIVE | CRI_V_NO_DOTDOT)) && has_dotdot(s))
		return berr_set(err, EINVAL, "%s '%.64s' has a '..' component", f, s);
	return 0;
}

int cri_v_count(const char *where, const char *field, size_t n, size_t max, struct berr **err)
{
	char f[512];
	if (n > max)
		return berr_set(err, E2BIG, "too many %s (%zu > %zu)",
				cri_v_path(f, sizeof(f), where, field), n, max);
	return 0;
}

int cri_v_map(const char *where, const char *field, void *const *entries, size_t n,
	      struct berr **err)
{
	char f[512];
	cri_v_path(f, sizeof(f), where, field);
	int r = cri_v_count(where, field, n, CRI_V_MAP_ENTRIES, err);
	size_t total = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct cri_kv_entry *e = entries[i];
		size_t kl = e->key ? strlen(e->key) : 0;
		if (kl == 0)
			return berr_set(err, EINVAL, "%s has an empty key", f);
		if (kl > CRI_V_MAP_KEY_MAX)
			return berr_set(err, E2BIG, "%s key '%.64s...' too long (%zu > %d bytes)",
					f, e->key, kl, CRI_V_MAP_KEY_MAX);
		r = cri_v_str(f, "key", e->key, CRI_V_MAP_KEY_MAX, CRI_V_NO_CTRL, err);
		total += kl + (e->value ? strlen(e->value) : 0);
	}
	if (r == 0 && total > CRI_V_MAP_BYTES)
		r = berr_set(err, E2BIG, "%s too large (%zu > %d bytes of keys and values)", f,
			     total, CRI_V_MAP_BYTES);
	return r;
}

int cri_v_strv(const char *where, const char *field, char *const *v, size_t n, size_t max_n,
	       size_t max_each, size_t max_total, unsigned flags, struct berr **err)
{
	int r = cri_v_count(where, field, n, max_n, err);
	size_t total = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		char f[512], fi[560];
		cri_v_fmt(fi, sizeof(fi), "%s[%zu]", cri_v_path(f, sizeof(f), where, field), i);
		r = cri_v_str(fi, NULL, v[i], max_each, flags, err);
		total += (v[i] ? strlen(v[i]) : 0) + 1;
		if (r == 0 && total > max_total)
			r = berr_set(err, E2BIG, "%s too large (more than %zu bytes together)", f,
				     max_total);
	}
	return r;
}

int cri_v_range(const char *where, const char *field, int64_t v, int64_t lo, int64_t hi,
		struct berr **err)
{
	char f[512];
	if (v < lo || v > hi)
		return berr_set(err, EINVAL,
				"%s %" PRId64 " out of range (%" PRId64 "..%" PRId64 ")",
				cri_v_path(f, sizeof(f), where, field), v, lo, hi);
	return 0;
}

bool cri_v_is_ip(const char *s)
{
	unsigned char buf[16];
	return s && (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1);
}

/* ---- enums over a whole tree ---- */

static int enum_check(const ProtobufCFieldDescriptor *fd, int v, const char *f, struct berr **err)
{
	const ProtobufCEnumDescriptor *ed = fd->descriptor;
	if (protobuf_c_enum_descriptor_get_value(ed, v))
		return 0;
	char names[512] = "";
	size_t off = 0;
	for (unsigned i = 0; i < ed->n_values && off < sizeof(names) - 64; i++)
		off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s", i ? ", " : "",
					ed->values[i].name);
	return berr_set(err, EINVAL, "%s %d is not a %s (%s)", f, v, ed->short_name, names);
}

static int enums_walk(const ProtobufCMessage *m, const char *where, int depth, struct berr **err)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	if (depth > 32)
		return 0; /* CRI messages nest a few levels; nothing deeper is ours */
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];
		if (fd->type != PROTOBUF_C_TYPE_ENUM && fd->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		const char *base = (const char *)m + fd->offset;
		size_t n = 1;
		const void *elems = base;
		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)((const char *)m + fd->quantifier_offset);
			elems = *(void *const *)base;
		}
		for (size_t k = 0; k < n; k++) {
			char f[512];
			if (fd->label == PROTOBUF_C_LABEL_REPEATED)
				cri_v_fmt(f, sizeof(f), "%s%s%s[%zu]", where, *where ? "." : "",
					  fd->name, k);
			else
				cri_v_path(f, sizeof(f), where, fd->name);
			int r = 0;
			if (fd->type == PROTOBUF_C_TYPE_ENUM) {
				r = enum_check(fd, ((const int *)elems)[k], f, err);
			} else {
				const ProtobufCMessage *sub =
				    ((const ProtobufCMessage *const *)elems)[k];
				if (sub)
					r = enums_walk(sub, f, depth + 1, err);
			}
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int cri_validate_enums(const ProtobufCMessage *m, const char *where, struct berr **err)
{
	return m ? enums_walk(m, where ? where : "", 0, err) : 0;
}

/* ---- NUL bytes in the wire form ---- */

struct wire {
	const uint8_t *p, *end;
};

static bool varint(struct wire *w, uint64_t *ret)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64 && w->p < w->end; shift += 7) {
		uint8_t b = *w->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*ret = v;
			return true;
		}
	}
	return false;
}

static int wire_walk(const ProtobufCMessageDescriptor *d, struct wire w, const char *where,
		     int depth, struct berr **err)
{
	while (w.p < w.end && depth <= 32) {
		uint64_t tag, len;
		if (!varint(&w, &tag))
			return 0;
		switch (tag & 7) {
		case 0:
			if (!varint(&w, &len))
				return 0;
			continue;
		case 1:
			w.p += (size_t)(w.end - w.p) < 8 ? (size_t)(w.end - w.p) : 8;
			continue;
		case 5:
			w.p += (size_t)(w.end - w.p) < 4 ? (size_t)(w.end - w.p) : 4;
			continue;
		case 2:
			break;
		default:
			return 0; /* groups are not CRI; the decoder judges */
		}
		if (!varint(&w, &len) || len > (uint64_t)(w.end - w.p))
			return 0;
		struct wire sub = {w.p, w.p + len};
		w.p += len;
		const ProtobufCFieldDescriptor *fd =
		    d ? protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3)) : NULL;
		if (!fd)
			continue;
		char f[512];
		cri_v_path(f, sizeof(f), where, fd->name);
		if (fd->type == PROTOBUF_C_TYPE_STRING && memchr(sub.p, '\0', len))
			return berr_set(err, EINVAL, "%s holds a NUL byte", f);
		if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
			int r = wire_walk(fd->descriptor, sub, f, depth + 1, err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int cri_validate_wire(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
		      struct berr **err)
{
	return wire_walk(d, (struct wire){data, data + len}, "", 0, err);
}

/* ---- dispatch ---- */

int cri_validate(const struct cri_host_facts *facts, const ProtobufCMessage *req, struct berr **err)
{
	if (!req)
		return 0;
	int r = cri_validate_enums(req, "", err);
	if (r == 0)
		r = cri_validate_rpc(facts, req, err);
	return r;
}

int cri_validate_req(const struct berth *b, const ProtobufCMessage *req, struct berr **err)
{
	return cri_validate(b && b->rt ? b->rt->facts : NULL, req, err);
}
