/* SPDX-License-Identifier: Apache-2.0 */
/* The pod's /etc/hostname, /etc/hosts and /etc/resolv.conf (pure builders and
 * one writer), and the pod-wide /dev/shm tmpfs. */
#include "netns/netns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"

#define DNS_MAX_ENTRIES 32
#define DNS_MAX_LEN	253
#define HOST_RESOLV_MAX (64 * 1024)

/* A growable string; strbuf_add() appends printf-style. */
struct strbuf {
	char *s;
	size_t len, cap;
};

static void strbuf_add(struct strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void strbuf_add(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		xalloc_die();
	if (b->len + (size_t)n + 1 > b->cap) {
		b->cap = (b->len + (size_t)n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static char *strbuf_take(struct strbuf *b)
{
	if (!b->s)
		return xstrdup("");
	return TAKE_PTR(b->s);
}

char *netns_hostname_content(const char *hostname)
{
	return xasprintf("%s\n", hostname);
}

char *netns_hosts_content(const char *hostname, const char *const *ips, size_t n_ips)
{
	struct strbuf b = {0};
	strbuf_add(&b, "127.0.0.1\tlocalhost\n"
		       "::1\tlocalhost ip6-localhost ip6-loopback\n"
		       "fe00::0\tip6-localnet\n"
		       "fe00::0\tip6-mcastprefix\n"
		       "fe00::1\tip6-allnodes\n"
		       "fe00::2\tip6-allrouters\n");
	if (n_ips == 0)
		strbuf_add(&b, "127.0.1.1\t%s\n", hostname);
	for (size_t i = 0; i < n_ips; i++)
		strbuf_add(&b, "%s\t%s\n", ips[i], hostname);
	return strbuf_take(&b);
}

bool netns_dns_is_empty(const struct netns_dns *dns)
{
	return !dns || (dns->n_servers == 0 && dns->n_searches == 0 && dns->n_options == 0);
}

/* A resolv.conf token: non-empty, bounded, no whitespace or control chars (a
 * newline would inject a line of its own). */
static int check_token(const char *kind, const char *v, struct berr **err)
{
	size_t n = strlen(v);
	if (n == 0 || n > DNS_MAX_LEN)
		return berr_set(err, EINVAL, "dns %s '%s' must have 1..%d chars", kind, v,
				DNS_MAX_LEN);
	for (const char *c = v; *c; c++) {
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return berr_set(err, EINVAL, "dns %s '%s' contains whitespace", kind, v);
	}
	return 0;
}

static int check_list(const char *kind, const char *const *v, size_t n, struct berr **err)
{
	if (n > DNS_MAX_ENTRIES)
		return berr_set(err, EINVAL, "too many dns %ss (%zu > %d)", kind, n,
				DNS_MAX_ENTRIES);
	for (size_t i = 0; i < n; i++) {
		int r = check_token(kind, v[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool is_ip(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

int netns_resolv_content(const struct netns_dns *dns, char **ret, struct berr **err)
{
	int r = check_list("server", dns->servers, dns->n_servers, err);
	if (r == 0)
		r = check_list("search", dns->searches, dns->n_searches, err);
	if (r == 0)
		r = check_list("option", dns->options, dns->n_options, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < dns->n_servers; i++) {
		if (!is_ip(dns->servers[i]))
			return berr_set(err, EINVAL, "dns server '%s' is not an IP address",
					dns->servers[i]);
	}
	/* The order kubelet and containerd write: search, nameserver, options. */
	struct strbuf b = {0};
	if (dns->n_searches > 0) {
		strbuf_add(&b, "search");
		for (size_t i = 0; i < dns->n_searches; i++)
			strbuf_add(&b, " %s", dns->searches[i]);
		strbuf_add(&b, "\n");
	}
	for (size_t i = 0; i < dns->n_servers; i++)
		strbuf_add(&b, "nameserver %s\n", dns->servers[i]);
	if (dns->n_options > 0) {
		strbuf_add(&b, "options");
		for (size_t i = 0; i < dns->n_options; i++)
			strbuf_add(&b, " %s", dns->options[i]);
		strbuf_add(&b, "\n");
	}
	*ret = strbuf_take(&b);
	return 0;
}

static int check_hostname(const char *h, struct berr **err)
{
	size_t n = h ? strlen(h) : 0;
	if (n == 0 || n > 64)
		return berr_set(err, EINVAL, "hostname '%s' must have 1..64 chars", h ? h : "");
	for (const char *c = h; *c; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '.' || *c == '_'))
			return berr_set(err, EINVAL, "hostname '%s' has an invalid char", h);
	}
	return 0;
}

static int write_file(const char *dir, const char *name, const char *content, struct berr **err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	return fileio_write_atomic(path, content, strlen(content), 0644, err);
}

int netns_pod_files_write(const struct netns_pod_files *f, struct berr **err)
{
	int r = check_hostname(f->hostname, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < f->n_ips; i++) {
		if (!is_ip(f->ips[i]))
			return berr_set(err, EINVAL, "pod IP '%s' is not an IP address", f->ips[i]);
	}
	_cleanup_free_ char *resolv = NULL;
	if (netns_dns_is_empty(f->dns)) {
		const char *host = f->host_resolv ? f->host_resolv : "/etc/resolv.conf";
		_cleanup_berr_ struct berr *e = NULL;
		r = fileio_read_all(host, HOST_RESOLV_MAX, &resolv, NULL, &e);
		if (r == -ENOENT) {
			resolv = xstrdup("");
			r = 0;
		} else if (r < 0) {
			return berr_move(err, &e);
		}
	} else {
		r = netns_resolv_content(f->dns, &resolv, err);
	}
	if (r < 0)
		return r;
	r = fileio_mkdir_p(f->dir, 0755, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *hostname = netns_hostname_content(f->hostname);
	_cleanup_free_ char *hosts = netns_hosts_content(f->hostname, f->ips, f->n_ips);
	r = write_file(f->dir, "hostname", hostname, err);
	if (r == 0)
		r = write_file(f->dir, "hosts", hosts, err);
	if (r == 0)
		r = write_file(f->dir, "resolv.conf", resolv, err);
	return r;
}

int netns_shm_mount(const char *path, uint64_t size, struct berr **err)
{
	if (size == 0)
		size = NETNS_SHM_DEFAULT_SIZE;
	int r = fileio_mkdir_p(path, 0755, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *data = xasprintf("mode=1777,size=%llu", (unsigned long long)size);
	if (mount("shm", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, data) < 0) {
		int e = errno;
		(void)rmdir(path);
		return berr_set_errno(err, e, "mount shm tmpfs on '%s'", path);
	}
	return 0;
}

int netns_shm_unmount(const char *path, struct berr **err)
{
	if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
		return berr_set_errno(err, errno, "unmount '%s'", path);
	if (rmdir(path) < 0 && errno != ENOENT)
		return berr_set_errno(err, errno, "remove '%s'", path);
	return 0;
}
