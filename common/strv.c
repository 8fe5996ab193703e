/* SPDX-License-Identifier: Apache-2.0 */
#include "common/strv.h"

#include <string.h>

#include "common/alloc.h"

size_t strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

char **strv_copy(char *const *v)
{
	if (!v)
		return NULL;
	size_t n = strv_len(v);
	char **r = xcalloc(n + 1, sizeof(*r));
	for (size_t i = 0; i < n; i++)
		r[i] = xstrdup(v[i]);
	return r;
}

bool strv_equal(char *const *a, char *const *b)
{
	size_t n = strv_len(a);
	if (n != strv_len(b))
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

bool strv_contains(char *const *v, const char *s)
{
	for (size_t i = 0; v && v[i]; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

void strv_push(char ***v, size_t *n, const char *s)
{
	*v = xreallocarray(*v, *n + 2, sizeof(char *));
	(*v)[(*n)++] = xstrdup(s);
	(*v)[*n] = NULL;
}

void strv_extend(char ***v, size_t *n, char *const *add)
{
	for (size_t i = 0; add && add[i]; i++)
		strv_push(v, n, add[i]);
}

char *strv_join(char *const *v, char sep)
{
	size_t len = 1;
	for (size_t i = 0; v && v[i]; i++)
		len += strlen(v[i]) + 1;
	char *out = xmalloc(len), *p = out;
	for (size_t i = 0; v && v[i]; i++) {
		if (i)
			*p++ = sep;
		p = stpcpy(p, v[i]);
	}
	*p = '\0';
	return out;
}

char **strv_split(const char *s, char sep)
{
	size_t n = 1;
	for (const char *c = s; *c; c++)
		n += *c == sep;
	char **v = xcalloc(n + 1, sizeof(char *));
	size_t k = 0;
	for (const char *c = s; *c;) {
		const char *e = strchrnul(c, sep);
		if (e > c)
			v[k++] = xstrndup(c, (size_t)(e - c));
		c = *e ? e + 1 : e;
	}
	return v;
}
