/* SPDX-License-Identifier: Apache-2.0 */
/* sockutil.c - unix socket addresses longer than sun_path, runtime error text.
 * A path too long for sockaddr_un (108 bytes) is reached through an O_PATH fd
 * of its directory: "/proc/self/fd/<n>/<name>" resolves in bind() and
 * connect() alike. */
#include "shim/shim-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"

int shim_sockaddr(const char *path, struct sockaddr_un *ret, socklen_t *ret_len, int *ret_dirfd,
		  struct berr **err)
{
	memset(ret, 0, sizeof(*ret));
	ret->sun_family = AF_UNIX;
	*ret_dirfd = -1;
	size_t n = strlen(path);
	if (n < sizeof(ret->sun_path)) {
		memcpy(ret->sun_path, path, n + 1);
		*ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
		return 0;
	}
	_cleanup_free_ char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return berr_set(err, ENAMETOOLONG, "socket path '%s' too long", path);
	*slash = '\0';
	const char *name = slash + 1;
	_cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return berr_set_errno(err, errno, "open '%s'", dir);
	int k = snprintf(ret->sun_path, sizeof(ret->sun_path), "/proc/self/fd/%d/%s", dfd, name);
	if (k < 0 || (size_t)k >= sizeof(ret->sun_path))
		return berr_set(err, ENAMETOOLONG, "socket name '%s' too long", name);
	*ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)k + 1);
	*ret_dirfd = TAKE_FD(dfd);
	return 0;
}

char *shim_runtime_error_text(const char *out, size_t len)
{
	/* runc (logrus text format) prints: time="..." level=error msg="...". Take
	 * the last non-empty line and, if it has one, its unquoted msg value. */
	const char *end = out + len;
	while (end > out && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	const char *start = end;
	while (start > out && start[-1] != '\n')
		start--;
	size_t n = (size_t)(end - start);
	if (n == 0)
		return xstrdup("");
	const char *msg = memmem(start, n, "msg=\"", 5);
	if (!msg)
		return xstrndup(start, n > 2048 ? 2048 : n);
	char *text = xmalloc(n + 1), *t = text;
	for (const char *p = msg + 5; p < end && *p != '"' && t - text < 2048; p++) {
		if (*p == '\\' && p + 1 < end)
			p++;
		*t++ = *p;
	}
	*t = '\0';
	return text;
}
