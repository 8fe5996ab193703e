/* SPDX-License-Identifier: Apache-2.0 */
/* auth.c - WWW-Authenticate challenges (RFC 7235) and basic credentials. */
#include "image/image-internal.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"

#define CHALLENGE_MAX 8192

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Reads a token or quoted-string at *p into a new string; NULL on syntax error. */
static char *read_value(const char **p)
{
	const char *s = *p;
	if (*s != '"') {
		const char *e = s;
		while (*e && *e != ',' && *e != ' ' && *e != '\t')
			e++;
		*p = e;
		return xstrndup(s, (size_t)(e - s));
	}
	s++;
	char *out = xmalloc(strlen(s) + 1);
	size_t n = 0;
	for (; *s && *s != '"'; s++) {
		if (*s == '\\' && s[1])
			s++;
		out[n++] = *s;
	}
	if (*s != '"') {
		free(out);
		return NULL;
	}
	out[n] = '\0';
	*p = s + 1;
	return out;
}

int img_challenge_parse(const char *header, struct img_challenge *ret, struct berr **err)
{
	if (!header || strlen(header) > CHALLENGE_MAX)
		return berr_set(err, EPROTO, "bad WWW-Authenticate header: %s",
				header ? "too long" : "missing");
	const char *p = skip_ws(header);
	const char *e = p;
	while (*e && isalpha((unsigned char)*e))
		e++;
	if (e == p)
		return berr_set(err, EPROTO, "bad WWW-Authenticate header '%.200s': no scheme",
				header);
	struct img_challenge c = {.scheme = xstrndup(p, (size_t)(e - p))};
	for (char *s = c.scheme; *s; s++)
		*s = (char)tolower((unsigned char)*s);
	p = skip_ws(e);
	while (*p) {
		const char *k = p;
		while (*p && *p != '=' && *p != ',' && *p != ' ')
			p++;
		if (*p != '=') {
			img_challenge_done(&c);
			return berr_set(err, EPROTO,
					"bad WWW-Authenticate header '%.200s': expected key=value",
					header);
		}
		size_t klen = (size_t)(p - k);
		p++;
		char *v = read_value(&p);
		if (!v) {
			img_challenge_done(&c);
			return berr_set(err, EPROTO,
					"bad WWW-Authenticate header '%.200s': unterminated quote",
					header);
		}
		char **slot = NULL;
		if (klen == 5 && strncasecmp(k, "realm", 5) == 0)
			slot = &c.realm;
		else if (klen == 7 && strncasecmp(k, "service", 7) == 0)
			slot = &c.service;
		else if (klen == 5 && strncasecmp(k, "scope", 5) == 0)
			slot = &c.scope;
		if (slot) {
			free(*slot);
			*slot = v;
		} else {
			free(v);
		}
		p = skip_ws(p);
		if (*p == ',')
			p = skip_ws(p + 1);
	}
	*ret = c;
	return 0;
}

void img_challenge_done(struct img_challenge *c)
{
	if (!c)
		return;
	free(c->scheme);
	free(c->realm);
	free(c->service);
	free(c->scope);
	*c = (struct img_challenge){0};
}

int img_auth_basic_header(const struct img_auth *auth, char **ret, struct berr **err)
{
	*ret = NULL;
	if (!auth)
		return 0;
	if (auth->username && *auth->username) {
		_cleanup_free_ char *up =
		    xasprintf("%s:%s", auth->username, auth->password ? auth->password : "");
		_cleanup_free_ char *b = img_base64_encode(up, strlen(up));
		explicit_bzero(up, strlen(up));
		*ret = xasprintf("Basic %s", b);
		return 0;
	}
	if (auth->auth && *auth->auth) {
		_cleanup_free_ char *dec = img_base64_decode(auth->auth);
		if (!dec || !strchr(dec, ':'))
			return berr_set(err, EINVAL,
					"bad registry auth: not base64 of user:password");
		explicit_bzero(dec, strlen(dec));
		*ret = xasprintf("Basic %s", auth->auth);
	}
	return 0;
}
