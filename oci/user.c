/* SPDX-License-Identifier: Apache-2.0 */
/* user.c - the container user from the CRI security context or the image's
 * USER, resolved against the image's /etc/passwd and /etc/group. */
#include "oci/oci.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "oci/oci-internal.h"

#define DB_MAX	 (4u << 20) /* bound on an image's passwd/group file */
#define GIDS_MAX 65536	    /* NGROUPS_MAX */

void oci_user_done(struct oci_user *u)
{
	if (!u)
		return;
	free(u->additional_gids);
	memset(u, 0, sizeof(*u));
}

/* Opens <rootfs>/<rel> without leaving rootfs: openat2(RESOLVE_IN_ROOT) makes
 * absolute symlinks and ".." resolve inside the image, as they would in the
 * container. Without openat2 (Linux < 5.6) no symlink is followed at all. */
static int open_in_root(int rootfd, const char *rel)
{
	struct open_how how = {
	    .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY,
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	int fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
	if (fd >= 0 || errno != ENOSYS)
		return fd;
	_cleanup_close_ int dir =
	    openat(rootfd, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir < 0)
		return -1;
	return openat(dir, rel + 4, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
}

/* Reads <rootfs>/<rel> ("etc/passwd"); a missing file gives *ret NULL, 0. */
static int read_db(const char *rootfs, const char *rel, char **ret, struct berr **err)
{
	*ret = NULL;
	_cleanup_close_ int rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return berr_set_errno(err, errno, "open rootfs '%s'", rootfs);
	_cleanup_close_ int fd = open_in_root(rootfd, rel);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return berr_set_errno(err, errno, "open '/%s' in rootfs '%s'", rel, rootfs);
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		return berr_set_errno(err, errno, "stat '/%s'", rel);
	if (!S_ISREG(st.st_mode))
		return berr_set(err, EINVAL, "'/%s' in the image is not a regular file", rel);
	if (st.st_size > (off_t)DB_MAX)
		return berr_set(err, EFBIG, "'/%s' in the image is too large (%lld > %u)", rel,
				(long long)st.st_size, DB_MAX);
	_cleanup_free_ char *buf = xmalloc((size_t)st.st_size + 1);
	size_t len = 0;
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return berr_set_errno(err, errno, "read '/%s'", rel);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	return 0;
}

/* Strict decimal id in 0..UINT32_MAX-1 (-1 is "unchanged" to setresuid). */
static bool parse_id(const char *s, size_t n, uint32_t *ret)
{
	if (n == 0 || n > 10)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v >= UINT32_MAX)
		return false;
	*ret = (uint32_t)v;
	return true;
}

/* Field i (0-based) of a ':'-separated line of length n. */
static bool field(const char *line, size_t n, int i, const char **ret, size_t *ret_len)
{
	const char *p = line, *end = line + n;
	for (; i > 0; i--) {
		p = memchr(p, ':', (size_t)(end - p));
		if (!p)
			return false;
		p++;
	}
	const char *q = memchr(p, ':', (size_t)(end - p));
	*ret = p;
	*ret_len = (size_t)((q ? q : end) - p);
	return true;
}

/* Iterates the lines of a passwd/group file; callback returns true to stop. */
typedef bool (*line_fn)(const char *line, size_t n, void *arg);
static void each_line(const char *db, line_fn fn, void *arg)
{
	for (const char *p = db; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (n > 0 && p[0] != '#' && fn(p, n, arg))
			return;
		p = nl ? nl + 1 : NULL;
	}
}

struct lookup {
	const char *name; /* by name when set, else by id */
	uint32_t id;
	bool found;
	char *found_name;
	uint32_t found_id, found_gid;
};

static bool pw_match(const char *line, size_t n, void *arg)
{
	struct lookup *l = arg;
	const char *f0, *f2, *f3;
	size_t l0, l2, l3;
	uint32_t uid, gid;
	if (!field(line, n, 0, &f0, &l0) || !field(line, n, 2, &f2, &l2) ||
	    !field(line, n, 3, &f3, &l3) || !parse_id(f2, l2, &uid) || !parse_id(f3, l3, &gid))
		return false;
	if (l->name ? (strlen(l->name) == l0 && memcmp(l->name, f0, l0) == 0) : uid == l->id) {
		l->found = true;
		l->found_name = xstrndup(f0, l0);
		l->found_id = uid;
		l->found_gid = gid;
		return true;
	}
	return false;
}

static bool gr_match(const char *line, size_t n, void *arg)
{
	struct lookup *l = arg;
	const char *f0, *f2;
	size_t l0, l2;
	uint32_t gid;
	if (!field(line, n, 0, &f0, &l0) || !field(line, n, 2, &f2, &l2) || !parse_id(f2, l2, &gid))
		return false;
	if (strlen(l->name) == l0 && memcmp(l->name, f0, l0) == 0) {
		l->found = true;
		l->found_id = gid;
		return true;
	}
	return false;
}

struct members {
	const char *user;
	uint32_t *gids;
	size_t n;
};

static void gids_add(uint32_t **gids, size_t *n, uint32_t g)
{
	for (size_t i = 0; i < *n; i++)
		if ((*gids)[i] == g)
			return;
	*gids = xreallocarray(*gids, *n + 1, sizeof(uint32_t));
	(*gids)[(*n)++] = g;
}

static bool gr_member(const char *line, size_t n, void *arg)
{
	struct members *m = arg;
	const char *f2, *f3;
	size_t l2, l3;
	uint32_t gid;
	if (!field(line, n, 2, &f2, &l2) || !parse_id(f2, l2, &gid) || !field(line, n, 3, &f3, &l3))
		return false;
	size_t ulen = strlen(m->user);
	for (const char *p = f3, *end = f3 + l3; p < end;) {
		const char *c = memchr(p, ',', (size_t)(end - p));
		size_t len = (size_t)((c ? c : end) - p);
		if (len == ulen && memcmp(p, m->user, len) == 0 && m->n < GIDS_MAX) {
			gids_add(&m->gids, &m->n, gid);
			break;
		}
		p = c ? c + 1 : end;
	}
	return false;
}

/* The primary gid, the user's /etc/group memberships (unless the policy is
 * Strict), then the CRI supplemental groups, without duplicates. */
static int additional_gids(const char *group_db, const char *pw_name, uint32_t gid,
			   const Runtime__V1__LinuxContainerSecurityContext *sc, bool pod_strict,
			   struct oci_user *ret, struct berr **err)
{
	/* The primary group leads the list, so that a setgid() alone does not
	 * shed it and gain "other" access to files that deny access to that
	 * group (containerd's fix of CVE-2023-25173). */
	struct members m = {.user = pw_name};
	gids_add(&m.gids, &m.n, gid);
	bool strict = pod_strict || (sc && sc->supplemental_groups_policy ==
					       RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict);
	if (pw_name && !strict)
		each_line(group_db, gr_member, &m);
	for (size_t i = 0; sc && i < sc->n_supplemental_groups; i++) {
		int64_t g = sc->supplemental_groups[i];
		if (g < 0 || g >= UINT32_MAX) {
			free(m.gids);
			return berr_set(err, EINVAL, "supplemental group %lld out of range",
					(long long)g);
		}
		if (m.n >= GIDS_MAX) {
			free(m.gids);
			return berr_set(err, E2BIG, "too many supplemental groups (> %d)",
					GIDS_MAX);
		}
		gids_add(&m.gids, &m.n, (uint32_t)g);
	}
	ret->additional_gids = m.gids;
	ret->n_additional_gids = m.n;
	return 0;
}

/* containerd's generateUserString: the username beats the uid, the group
 * needs a user; nothing set falls back to the image's USER. */
static int user_string(const struct oci_user_request *req, char **ret, struct berr **err)
{
	const Runtime__V1__LinuxContainerSecurityContext *sc = req->sc;
	_cleanup_free_ char *user = NULL;
	if (sc && sc->run_as_user) {
		if (sc->run_as_user->value < 0 || sc->run_as_user->value >= UINT32_MAX)
			return berr_set(err, EINVAL, "run_as_user %lld out of range",
					(long long)sc->run_as_user->value);
		user = xasprintf("%lld", (long long)sc->run_as_user->value);
	}
	if (sc && sc->run_as_username && sc->run_as_username[0]) {
		free(user);
		user = xstrdup(sc->run_as_username);
	}
	if (sc && sc->run_as_group) {
		if (!user)
			return berr_set(err, EINVAL, "run_as_group is specified without a user");
		if (sc->run_as_group->value < 0 || sc->run_as_group->value >= UINT32_MAX)
			return berr_set(err, EINVAL, "run_as_group %lld out of range",
					(long long)sc->run_as_group->value);
		char *u = xasprintf("%s:%lld", user, (long long)sc->run_as_group->value);
		free(user);
		user = u;
	}
	if (!user)
		user = xstrdup(req->image_user ? req->image_user : "");
	*ret = TAKE_PTR(user);
	return 0;
}

int oci_user_resolve(const struct oci_user_request *req, struct oci_user *ret, struct berr **err)
{
	memset(ret, 0, sizeof(*ret));
	_cleanup_free_ char *spec = NULL, *passwd = NULL, *group = NULL, *pw_name = NULL;
	int r = user_string(req, &spec, err);
	if (r < 0)
		return r;
	if (!spec[0]) {
		free(spec);
		spec = xstrdup("0");
	}
	char *colon = strchr(spec, ':');
	const char *gpart = NULL;
	if (colon) {
		*colon = '\0';
		gpart = colon + 1;
		if (!spec[0] || !gpart[0])
			return berr_set(err, EINVAL, "invalid user '%s:%s'", spec, gpart);
	}
	r = read_db(req->rootfs, "etc/passwd", &passwd, err);
	if (r == 0)
		r = read_db(req->rootfs, "etc/group", &group, err);
	if (r < 0)
		return r;

	uint32_t uid = 0, gid = 0;
	struct lookup l = {0};
	if (parse_id(spec, strlen(spec), &uid)) {
		l.id = uid;
	} else {
		l.name = spec;
	}
	each_line(passwd, pw_match, &l);
	if (!l.found && l.name)
		return berr_set(err, ENOENT, "user '%s' not found in the image's /etc/passwd",
				spec);
	if (l.found) {
		uid = l.found_id;
		gid = l.found_gid;
		pw_name = l.found_name;
	}
	if (gpart) {
		if (!parse_id(gpart, strlen(gpart), &gid)) {
			struct lookup g = {.name = gpart};
			each_line(group, gr_match, &g);
			if (!g.found)
				return berr_set(err, ENOENT,
						"group '%s' not found in the image's /etc/group",
						gpart);
			gid = g.found_id;
		}
	}
	r = additional_gids(group, pw_name, gid, req->sc, req->pod_strict, ret, err);
	if (r < 0)
		return r;
	ret->uid = uid;
	ret->gid = gid;
	return 0;
}
