/* SPDX-License-Identifier: Apache-2.0 */
/* berth-pull - pulls one image into berth's image store, for berthd.
 *
 * berthd does not link the registry client and layer unpacker (libcurl, libarchive and
 * the libraries they load would be several MiB of every daemon's resident memory for a
 * call that runs now and then): it starts this helper for each PullImage. Protocol (see
 * image/image.h): one JSON request on stdin (reference, credentials, the image root,
 * registry mirrors, platform), one JSON answer on stdout (the image, or an error with its
 * errno and message), exit status 0 or 1. SIGTERM or SIGINT cancels the pull: the answer is
 * then an ECANCELED error and nothing partial is left in the store. The helper also stops
 * when berthd dies (PR_SET_PDEATHSIG). Log lines (progress at info level) go to stderr,
 * which berthd shares with it; credentials are never logged.
 */
#define LOG_COMPONENT "pull"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/ids.h"
#include "common/log.h"
#include "image/image.h"

#define REQUEST_MAX (1u << 20)

static atomic_bool cancel;

static void on_signal(int sig)
{
	atomic_store(&cancel, true);
}

static void on_progress(const struct img_progress *p, void *arg)
{
	log_info("image=%s digest=%.19s done=%llu total=%llu rate_bps=%llu msg=\"%s\"",
		 (const char *)arg, p->digest, (unsigned long long)p->done,
		 (unsigned long long)p->total, (unsigned long long)p->rate,
		 p->finished ? "pulled layer" : "pulling layer");
}

/* Reads stdin to its end (at most max bytes). */
static int read_request(size_t max, char **ret, size_t *ret_len, struct berr **err)
{
	size_t cap = 4096, len = 0;
	char *buf = xmalloc(cap + 1);
	for (;;) {
		if (len == cap) {
			if (cap >= max) {
				free(buf);
				return berr_set(err, E2BIG, "request larger than %zu bytes", max);
			}
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
		ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			free(buf);
			return berr_set_errno(err, e, "read request");
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

static int answer(const char *json)
{
	int r = fileio_write_all(STDOUT_FILENO, json, strlen(json));
	if (r < 0)
		fprintf(stderr, "berth-pull: write answer: %s\n", strerror(-r));
	return r;
}

static int pull(struct img_pull_request *q, struct berr **err)
{
	q->opts.progress = on_progress;
	q->opts.progress_arg = q->ref;
	struct img_ctx *ctx = NULL;
	int r = img_ctx_new(&q->opts, &ctx, err);
	if (r < 0)
		return r;
	struct img_pulled *p = NULL;
	int64_t t0 = time_mono_ns();
	r = img_pull_cancellable(ctx, q->ref, q->has_auth ? &q->auth : NULL, &cancel, &p, err);
	if (r >= 0) {
		log_debug("image=%s id=%.19s dur_ms=%lld msg=\"pull done\"", q->ref, p->id,
			  (long long)((time_mono_ns() - t0) / 1000000));
		_cleanup_free_ char *json = img_pulled_to_json(p);
		r = answer(json);
		if (r < 0)
			r = berr_set(err, EPIPE, "write answer");
	}
	img_pulled_free(p);
	img_ctx_free(ctx);
	return r;
}

int main(int argc, char **argv)
{
	if (argc != 1) {
		fprintf(stderr, "usage: berth-pull < request.json\n"
				"  (run by berthd; see image/image.h for the protocol)\n");
		return 2;
	}
	/* stop with berthd; and if it is already gone, don't start */
	pid_t parent = getppid();
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (parent == 1)
		atomic_store(&cancel, true);

	struct berr *err = NULL;
	char *req = NULL;
	size_t len = 0;
	struct img_pull_request q = {0};
	int r = read_request(REQUEST_MAX, &req, &len, &err);
	if (r >= 0) {
		r = img_pull_request_parse(req, len, &q, &err);
		explicit_bzero(req, len); /* it held the credentials */
	}
	free(req);
	enum log_level level = LOG_LEVEL_INFO;
	if (r >= 0 && q.log_level)
		(void)log_level_parse(q.log_level, &level);
	log_setup(level, STDERR_FILENO);
	enum log_format format = LOG_FORMAT_TEXT;
	if (r >= 0 && q.log_format && log_format_parse(q.log_format, &format) == 0)
		log_set_format(format);
	if (r >= 0 && atomic_load(&cancel))
		r = berr_set(&err, ECANCELED, "pull cancelled");
	if (r >= 0)
		r = pull(&q, &err);
	if (r < 0) {
		log_debug("image=%s msg=\"%s\"", q.ref ? q.ref : "?", berr_msg(err));
		_cleanup_free_ char *json = img_pull_error_to_json(r, err);
		(void)answer(json);
	}
	img_pull_request_done(&q);
	berr_free(err);
	return r < 0 ? 1 : 0;
}
