/* SPDX-License-Identifier: Apache-2.0 */
/* ref.c - image reference parsing and normalization, following Docker's reference grammar
 * (distribution/reference): [domain/]path[:tag][@digest]. */
#include "image/image.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "image/image-internal.h"

#define REF_NAME_MAX 255
#define REF_TAG_MAX  128

static bool is_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool img_digest_is_valid(const char *d)
{
	if (!d || strncmp(d, "sha256:", 7) != 0)
		return false;
	d += 7;
	size_t n = 0;
	for (; d[n]; n++)
		if (!((d[n] >= '0' && d[n] <= '9') || (d[n] >= 'a' && d[n] <= 'f')))
			return false;
	return n == 64;
}

/* path-component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)* */
static bool is_path_component(const char *s, size_t n)
{
	size_t i = 0;
	if (n == 0 || !is_alnum_lower(s[0]))
		return false;
	while (i < n) {
		while (i < n && is_alnum_lower(s[i]))
			i++;
		if (i == n)
			return true;
		size_t sep = i;
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (i < n && s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			return false;
		}
		if (i == n || !is_alnum_lower(s[i]) || i == sep)
			return false;
	}
	return true;
}

/* domain: host components ([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]) joined by dots,
 * or an [IPv6] literal, followed by an optional :port. */
static bool is_domain(const char *s, size_t n)
{
	size_t i = 0;
	if (n == 0)
		return false;
	if (s[0] == '[') {
		while (i < n && s[i] != ']') {
			if (!(isxdigit((unsigned char)s[i]) || s[i] == ':' || s[i] == '.' ||
			      i == 0))
				return false;
			i++;
		}
		if (i == n || i < 3)
			return false;
		i++;
	} else {
		for (;;) {
			size_t start = i;
			while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '-'))
				i++;
			if (i == start || s[start] == '-' || s[i - 1] == '-')
				return false;
			if (i < n && s[i] == '.') {
				i++;
				continue;
			}
			break;
		}
	}
	if (i == n)
		return true;
	if (s[i] != ':' || i + 1 == n)
		return false;
	for (i++; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static bool is_tag(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > REF_TAG_MAX || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-'))
			return false;
	return true;
}

static bool has_upper(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (isupper((unsigned char)s[i]))
			return true;
	return false;
}

int img_ref_parse(const char *s, struct img_ref *ret, struct berr **err)
{
	if (!s || !*s)
		return berr_set(err, EINVAL, "invalid reference format: empty");
	if (strlen(s) > 4096)
		return berr_set(err, EINVAL, "invalid reference format: too long (%zu > 4096)",
				strlen(s));
	_cleanup_free_ char *name = NULL, *tag = NULL, *digest = NULL;
	const char *at = strchr(s, '@');
	if (at) {
		if (!img_digest_is_valid(at + 1))
			return berr_set(err, EINVAL,
					"invalid reference '%s': digest must be sha256:<64 hex>",
					s);
		digest = xstrdup(at + 1);
		name = xstrndup(s, (size_t)(at - s));
	} else {
		name = xstrdup(s);
	}
	char *slash = strrchr(name, '/');
	char *colon = strrchr(name, ':');
	if (colon && (!slash || colon > slash)) {
		*colon = '\0';
		if (!is_tag(colon + 1))
			return berr_set(err, EINVAL, "invalid reference '%s': bad tag '%s'", s,
					colon + 1);
		tag = xstrdup(colon + 1);
	}
	const char *path = name;
	_cleanup_free_ char *domain = NULL;
	const char *first = strchr(name, '/');
	if (first &&
	    (memchr(name, '.', (size_t)(first - name)) ||
	     memchr(name, ':', (size_t)(first - name)) ||
	     (first - name == 9 && strncmp(name, "localhost", 9) == 0) || name[0] == '[')) {
		if (!is_domain(name, (size_t)(first - name)))
			return berr_set(err, EINVAL, "invalid reference '%s': bad registry host",
					s);
		domain = xstrndup(name, (size_t)(first - name));
		path = first + 1;
	} else {
		domain = xstrdup("docker.io");
	}
	if (strcmp(domain, "index.docker.io") == 0) {
		free(domain);
		domain = xstrdup("docker.io");
	}
	if (!*path)
		return berr_set(err, EINVAL, "invalid reference '%s': empty repository name", s);
	if (has_upper(path, strlen(path)))
		return berr_set(err, EINVAL,
				"invalid reference '%s': repository name must be lowercase", s);
	for (const char *c = path;;) {
		const char *e = strchr(c, '/');
		size_t n = e ? (size_t)(e - c) : strlen(c);
		if (!is_path_component(c, n))
			return berr_set(err, EINVAL,
					"invalid reference '%s': bad path component '%.*s'", s,
					(int)n, c);
		if (!e)
			break;
		c = e + 1;
	}
	char *full_path = strcmp(domain, "docker.io") == 0 && !strchr(path, '/')
			      ? xasprintf("library/%s", path)
			      : xstrdup(path);
	if (strlen(domain) + 1 + strlen(full_path) > REF_NAME_MAX) {
		free(full_path);
		return berr_set(err, EINVAL, "invalid reference '%s': name too long (> %d)", s,
				REF_NAME_MAX);
	}
	if (!tag && !digest)
		tag = xstrdup("latest");
	*ret = (struct img_ref){.domain = TAKE_PTR(domain),
				.path = full_path,
				.tag = TAKE_PTR(tag),
				.digest = TAKE_PTR(digest)};
	return 0;
}

void img_ref_done(struct img_ref *r)
{
	if (!r)
		return;
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	*r = (struct img_ref){0};
}

char *img_ref_name(const struct img_ref *r)
{
	return xasprintf("%s/%s", r->domain, r->path);
}

char *img_ref_string(const struct img_ref *r)
{
	return xasprintf("%s/%s%s%s%s%s", r->domain, r->path, r->tag ? ":" : "",
			 r->tag ? r->tag : "", r->digest ? "@" : "", r->digest ? r->digest : "");
}

int img_ref_normalize(const char *s, char **ret, struct berr **err)
{
	struct img_ref r;
	int rc = img_ref_parse(s, &r, err);
	if (rc < 0)
		return rc;
	*ret = img_ref_string(&r);
	img_ref_done(&r);
	return 0;
}
