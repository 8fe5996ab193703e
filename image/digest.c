/* SPDX-License-Identifier: Apache-2.0 */
/* digest.c - sha256 digests (OpenSSL EVP), base64, chain IDs. */
#include "image/image-internal.h"

#include <openssl/evp.h>
#include <string.h>

#include "common/alloc.h"

struct img_hasher {
	EVP_MD_CTX *md;
};

static void hex_digest(const unsigned char *md, unsigned n, char out[IMG_DIGEST_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	memcpy(out, "sha256:", 7);
	for (unsigned i = 0; i < n && i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[IMG_DIGEST_LEN] = '\0';
}

struct img_hasher *img_hasher_new(void)
{
	struct img_hasher *h = xmalloc(sizeof(*h));
	h->md = EVP_MD_CTX_new();
	if (!h->md || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1)
		xalloc_die();
	return h;
}

void img_hasher_update(struct img_hasher *h, const void *data, size_t len)
{
	/* EVP_DigestUpdate only fails on a NULL or uninitialised context */
	(void)EVP_DigestUpdate(h->md, data, len);
}

void img_hasher_finish(struct img_hasher *h, char out[IMG_DIGEST_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	(void)EVP_DigestFinal_ex(h->md, md, &n);
	hex_digest(md, n, out);
	img_hasher_free(h);
}

struct img_hasher *img_hasher_free(struct img_hasher *h)
{
	if (h) {
		EVP_MD_CTX_free(h->md);
		free(h);
	}
	return NULL;
}

void img_sha256_digest(const void *data, size_t len, char out[IMG_DIGEST_LEN + 1])
{
	struct img_hasher *h = img_hasher_new();
	img_hasher_update(h, data, len);
	img_hasher_finish(h, out);
}

char *img_base64_encode(const void *data, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

char *img_base64_decode(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n % 4 != 0 || n > (1u << 20))
		return NULL;
	unsigned char *out = xmalloc(n / 4 * 3 + 1);
	int r = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	if (r < 0) {
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding as output bytes */
	if (n >= 1 && s[n - 1] == '=')
		r--;
	if (n >= 2 && s[n - 2] == '=')
		r--;
	out[r] = '\0';
	if (strlen((char *)out) != (size_t)r) {
		free(out);
		return NULL;
	}
	return (char *)out;
}

char **img_chain_ids(char *const *diff_ids, size_t n)
{
	char **out = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		if (i == 0) {
			out[i] = xstrdup(diff_ids[0]);
			continue;
		}
		char *s = xasprintf("%s %s", out[i - 1], diff_ids[i]);
		out[i] = xmalloc(IMG_DIGEST_LEN + 1);
		img_sha256_digest(s, strlen(s), out[i]);
		free(s);
	}
	return out;
}
