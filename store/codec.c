/* SPDX-License-Identifier: Apache-2.0 */
/* codec.c - the sorted string map, copies of the shared field types and their JSON form. */
#include "store/store-internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "common/alloc.h"
#include "common/strv.h"
#include "common/cleanup.h"
#include "common/err.h"

size_t smap_lower(const struct smap *m, const char *key)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(m->v[mid].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct smap_ent *smap_find(const struct smap *m, const char *key)
{
	size_t i = smap_lower(m, key);
	if (i < m->n && strcmp(m->v[i].key, key) == 0)
		return &m->v[i];
	return NULL;
}

void *smap_set(struct smap *m, const char *key, void *val)
{
	size_t i = smap_lower(m, key);
	if (i < m->n && strcmp(m->v[i].key, key) == 0) {
		void *old = m->v[i].val;
		m->v[i].val = val;
		return old;
	}
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 16;
		m->v = xreallocarray(m->v, m->cap, sizeof(*m->v));
	}
	memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof(*m->v));
	m->v[i] = (struct smap_ent){.key = xstrdup(key), .val = val};
	m->n++;
	return NULL;
}

void *smap_remove(struct smap *m, const char *key)
{
	size_t i = smap_lower(m, key);
	if (i >= m->n || strcmp(m->v[i].key, key) != 0)
		return NULL;
	void *val = m->v[i].val;
	free(m->v[i].key);
	memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof(*m->v));
	m->n--;
	return val;
}

void smap_done(struct smap *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].key);
	free(m->v);
	*m = (struct smap){0};
}

void kv_copy(struct store_kv **dst, size_t *dst_n, const struct store_kv *src, size_t n)
{
	*dst = NULL;
	*dst_n = 0;
	if (n == 0)
		return;
	*dst = xcalloc(n, sizeof(**dst));
	for (size_t i = 0; i < n; i++) {
		(*dst)[i].key = xstrdup(src[i].key ? src[i].key : "");
		(*dst)[i].value = xstrdup(src[i].value ? src[i].value : "");
	}
	*dst_n = n;
}

void kv_free(struct store_kv *kv, size_t n)
{
	for (size_t i = 0; i < n && kv; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

void bytes_copy(struct store_bytes *dst, const struct store_bytes *src)
{
	dst->len = src->data ? src->len : 0;
	dst->data = dst->len ? xmemdup(src->data, src->len) : NULL;
}

void bytes_done(struct store_bytes *b)
{
	free(b->data);
	*b = (struct store_bytes){0};
}

bool kv_match(const struct store_kv *kv, size_t n, const struct store_kv *sel, size_t n_sel)
{
	for (size_t i = 0; i < n_sel; i++) {
		bool found = false;
		for (size_t j = 0; j < n && !found; j++)
			found = strcmp(kv[j].key, sel[i].key) == 0 &&
				strcmp(kv[j].value, sel[i].value) == 0;
		if (!found)
			return false;
	}
	return true;
}

void js_add_str(struct json_object *o, const char *k, const char *v)
{
	if (v)
		json_object_object_add(o, k, json_object_new_string(v));
}

void js_add_i64(struct json_object *o, const char *k, int64_t v)
{
	if (v)
		json_object_object_add(o, k, json_object_new_int64(v));
}

void js_add_bool(struct json_object *o, const char *k, bool v)
{
	if (v)
		json_object_object_add(o, k, json_object_new_boolean(1));
}

void js_add_strv(struct json_object *o, const char *k, char *const *v)
{
	if (!v)
		return;
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; v[i]; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	json_object_object_add(o, k, a);
}

void js_add_kv(struct json_object *o, const char *k, const struct store_kv *kv, size_t n)
{
	if (n == 0)
		return;
	/* a list of pairs rather than an object: keeps order and never merges duplicates */
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_new_array();
		json_object_array_add(p, json_object_new_string(kv[i].key));
		json_object_array_add(p, json_object_new_string(kv[i].value));
		json_object_array_add(a, p);
	}
	json_object_object_add(o, k, a);
}

void js_add_bytes(struct json_object *o, const char *k, const struct store_bytes *b)
{
	if (!b->data || b->len == 0)
		return;
	/* sizes are bounded far below INT_MAX by the CRI message limit (16 MiB) */
	if (b->len > INT_MAX / 4 * 3 - 3)
		return;
	_cleanup_free_ unsigned char *out = xmalloc(4 * ((b->len + 2) / 3) + 1);
	EVP_EncodeBlock(out, b->data, (int)b->len);
	json_object_object_add(o, k, json_object_new_string((const char *)out));
}

static int bad_type(const char *k, const char *want, struct berr **err)
{
	return berr_set(err, EIO, "field '%s' is not %s", k, want);
}

int js_get_str(struct json_object *o, const char *k, char **ret, struct berr **err)
{
	struct json_object *v;
	*ret = NULL;
	if (!json_object_object_get_ex(o, k, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return bad_type(k, "a string", err);
	*ret = xstrdup(json_object_get_string(v));
	return 0;
}

int js_get_i64(struct json_object *o, const char *k, int64_t *ret, struct berr **err)
{
	struct json_object *v;
	*ret = 0;
	if (!json_object_object_get_ex(o, k, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return bad_type(k, "an integer", err);
	*ret = json_object_get_int64(v);
	return 0;
}

int js_get_int(struct json_object *o, const char *k, int *ret, struct berr **err)
{
	int64_t v;
	int r = js_get_i64(o, k, &v, err);
	if (r < 0)
		return r;
	if (v < INT_MIN || v > INT_MAX)
		return berr_set(err, EIO, "field '%s' out of range", k);
	*ret = (int)v;
	return 0;
}

int js_get_u32(struct json_object *o, const char *k, uint32_t *ret, struct berr **err)
{
	int64_t v;
	int r = js_get_i64(o, k, &v, err);
	if (r < 0)
		return r;
	if (v < 0 || v > UINT32_MAX)
		return berr_set(err, EIO, "field '%s' out of range", k);
	*ret = (uint32_t)v;
	return 0;
}

int js_get_bool(struct json_object *o, const char *k, bool *ret, struct berr **err)
{
	struct json_object *v;
	*ret = false;
	if (!json_object_object_get_ex(o, k, &v))
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return bad_type(k, "a boolean", err);
	*ret = json_object_get_boolean(v);
	return 0;
}

int js_get_strv(struct json_object *o, const char *k, char ***ret, struct berr **err)
{
	struct json_object *a;
	*ret = NULL;
	if (!json_object_object_get_ex(o, k, &a))
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return bad_type(k, "an array", err);
	size_t n = json_object_array_length(a);
	_cleanup_strv_ char **v = xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		if (!json_object_is_type(e, json_type_string))
			return bad_type(k, "an array of strings", err);
		v[i] = xstrdup(json_object_get_string(e));
	}
	*ret = TAKE_PTR(v);
	return 0;
}

int js_get_kv(struct json_object *o, const char *k, struct store_kv **ret, size_t *ret_n,
	      struct berr **err)
{
	struct json_object *a;
	*ret = NULL;
	*ret_n = 0;
	if (!json_object_object_get_ex(o, k, &a))
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return bad_type(k, "an array", err);
	size_t n = json_object_array_length(a);
	if (n == 0)
		return 0;
	struct store_kv *kv = xcalloc(n, sizeof(*kv));
	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(a, i), *pk = NULL, *pv = NULL;
		/* json-c asserts on array calls on a non-array: check the type first */
		if (json_object_is_type(p, json_type_array) && json_object_array_length(p) == 2) {
			pk = json_object_array_get_idx(p, 0);
			pv = json_object_array_get_idx(p, 1);
		}
		if (!json_object_is_type(pk, json_type_string) ||
		    !json_object_is_type(pv, json_type_string)) {
			kv_free(kv, n);
			return bad_type(k, "a list of [key, value] pairs", err);
		}
		kv[i].key = xstrdup(json_object_get_string(pk));
		kv[i].value = xstrdup(json_object_get_string(pv));
	}
	*ret = kv;
	*ret_n = n;
	return 0;
}

int js_get_bytes(struct json_object *o, const char *k, struct store_bytes *ret, struct berr **err)
{
	struct json_object *v;
	*ret = (struct store_bytes){0};
	if (!json_object_object_get_ex(o, k, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return bad_type(k, "a string", err);
	const char *s = json_object_get_string(v);
	size_t n = strlen(s);
	if (n == 0)
		return 0;
	if (n % 4 != 0 || n > INT_MAX)
		return berr_set(err, EIO, "field '%s' is not base64", k);
	_cleanup_free_ unsigned char *out = xmalloc(n / 4 * 3 + 1);
	int len = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	if (len < 0)
		return berr_set(err, EIO, "field '%s' is not base64", k);
	/* EVP_DecodeBlock counts the '=' padding as zero bytes */
	for (size_t i = n; i > 0 && s[i - 1] == '=' && len > 0; i--)
		len--;
	ret->len = (size_t)len;
	ret->data = TAKE_PTR(out);
	return 0;
}

int js_get_obj(struct json_object *o, const char *k, struct json_object **ret, struct berr **err)
{
	if (!json_object_object_get_ex(o, k, ret) || !json_object_is_type(*ret, json_type_object))
		return berr_set(err, EIO, "field '%s' missing or not an object", k);
	return 0;
}

char *js_to_string(struct json_object *j)
{
	return xstrdup(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
}
