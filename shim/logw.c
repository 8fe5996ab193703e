/* SPDX-License-Identifier: Apache-2.0 */
/* logw.c - the CRI log format: "<RFC3339Nano> <stdout|stderr> <P|F> <text>\n".
 * One timestamp per batch (one read(2) of the container's output), memchr for
 * line ends, short records copied into one output buffer and long texts written
 * in place through iovecs, so a 64 KiB read costs one writev(2) or a few. */
#include "shim/shim-internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/ids.h"

static const char *const stream_names[LOG_STREAM_MAX] = {"stdout", "stderr"};

void logw_init(struct logw *w, int fd, size_t max_line)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->max_line = max_line;
	w->ts_ns = -1;
	w->out = xmalloc(LOGW_OUT_CAP);
}

void logw_done(struct logw *w)
{
	free(w->out);
	w->out = NULL;
}

void logw_stream_init(struct logw_stream *s, enum log_stream stream, size_t max_line)
{
	memset(s, 0, sizeof(*s));
	s->stream = stream;
	s->cap = max_line + LOGW_READ_CHUNK;
	/* Untouched pages of a big malloc cost no RSS until output arrives. */
	s->buf = xmalloc(s->cap);
}

void logw_stream_done(struct logw_stream *s)
{
	free(s->buf);
	s->buf = NULL;
}

static int logw_flush(struct logw *w)
{
	struct iovec *iov = w->iov;
	int n = w->niov;
	int r = 0;
	while (n > 0 && w->fd >= 0) {
		ssize_t k = writev(w->fd, iov, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			if (!w->write_errno)
				w->write_errno = errno;
			break;
		}
		w->bytes += (uint64_t)k;
		while (n > 0 && (size_t)k >= iov->iov_len) {
			k -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + k;
			iov->iov_len -= (size_t)k;
		}
	}
	w->niov = 0;
	w->out_len = 0;
	return r;
}

/* Appends bytes to the output buffer, growing the last iovec when it already
 * ends there. The caller made room. */
static void out_append(struct logw *w, const void *data, size_t n)
{
	char *dst = w->out + w->out_len;
	memcpy(dst, data, n);
	w->out_len += n;
	if (w->niov > 0) {
		struct iovec *last = &w->iov[w->niov - 1];
		uintptr_t base = (uintptr_t)last->iov_base, out = (uintptr_t)w->out;
		if (base >= out && base < out + LOGW_OUT_CAP &&
		    base + last->iov_len == (uintptr_t)dst) {
			last->iov_len += n;
			return;
		}
	}
	w->iov[w->niov++] = (struct iovec){.iov_base = dst, .iov_len = n};
}

/* One record. text[len] is the line's '\n' when has_nl. */
static int emit(struct logw *w, enum log_stream stream, char tag, const char *text, size_t len,
		bool has_nl)
{
	int r = 0;
	size_t need = w->ts_len + 10 + (len < LOGW_COPY_MAX ? len + 1 : 1);
	if (w->out_len + need > LOGW_OUT_CAP || w->niov + 3 > LOGW_IOV_MAX)
		r = logw_flush(w);

	char prefix[sizeof(w->ts) + 16];
	size_t pl = w->ts_len;
	memcpy(prefix, w->ts, pl);
	prefix[pl++] = ' ';
	memcpy(prefix + pl, stream_names[stream], 6);
	pl += 6;
	prefix[pl++] = ' ';
	prefix[pl++] = tag;
	prefix[pl++] = ' ';
	out_append(w, prefix, pl);
	if (len < LOGW_COPY_MAX) {
		out_append(w, text, len);
		out_append(w, "\n", 1);
	} else {
		w->iov[w->niov++] =
		    (struct iovec){.iov_base = (void *)text, .iov_len = len + has_nl};
		if (!has_nl)
			out_append(w, "\n", 1);
	}
	return r;
}

static void set_ts(struct logw *w, int64_t now_ns)
{
	if (now_ns == w->ts_ns)
		return;
	w->ts_ns = now_ns;
	time_format_rfc3339nano(now_ns, w->ts, (int)sizeof(w->ts));
	w->ts_len = strlen(w->ts);
}

int logw_feed(struct logw *w, struct logw_stream *s, int64_t now_ns, int64_t now_mono, bool eof,
	      bool flush_partial)
{
	int r = 0, k;
	char *p = s->buf, *end = s->buf + s->len;
	size_t max = w->max_line;

	set_ts(w, now_ns);
	while (p < end) {
		size_t avail = (size_t)(end - p);
		size_t scan = avail < max + 1 ? avail : max + 1;
		char *nl = memchr(p, '\n', scan);
		if (nl) {
			k = emit(w, s->stream, 'F', p, (size_t)(nl - p), true);
			p = nl + 1;
		} else if (avail > max) {
			k = emit(w, s->stream, 'P', p, max, false);
			p += max;
		} else {
			break;
		}
		if (k < 0 && r == 0)
			r = k;
	}
	/* F only for a chunk that ended with the container's own newline: output cut by the
	 * end of the stream, the partial timer or a log reopen is P, so that kubelet's reader
	 * joins it with what follows and adds no newline of its own (containerd and conmon
	 * write it so too). */
	if (p < end && (eof || flush_partial)) {
		k = emit(w, s->stream, 'P', p, (size_t)(end - p), false);
		if (k < 0 && r == 0)
			r = k;
		p = end;
	}
	k = logw_flush(w);
	if (k < 0 && r == 0)
		r = k;

	bool consumed = p != s->buf;
	s->len = (size_t)(end - p);
	if (s->len > 0 && consumed)
		memmove(s->buf, p, s->len);
	if (s->len == 0)
		s->partial_mono = 0;
	else if (consumed || s->partial_mono == 0)
		s->partial_mono = now_mono ? now_mono : 1;
	return r;
}
