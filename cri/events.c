/* SPDX-License-Identifier: Apache-2.0 */
/* events.c - container events: the publisher (events-internal.h), the emitters
 * the handlers and the exit monitor call after each commit, and the
 * GetContainerEvents handler. See docs/events.md.
 *
 * Each event carries a snapshot of its pod, taken when it is published: the
 * PodSandboxStatus as PodSandboxStatus returns it and the ContainerStatus of
 * every container of the pod (what kubelet's evented PLEG puts in its cache).
 * Snapshot and publish run under one lock (emit_lock), so the snapshots in a
 * stream never go back in time and created_at only grows. Nothing is built
 * while nobody is subscribed. */
#include "cri/events-internal.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/ids.h"
#include "cri/pod.h"

struct cri_event {
	atomic_int refs;
	ProtobufCMessage *msg; /* read-only once published */
};

struct cri_events_sub {
	struct cri_events *pub;
	struct cri_events_sub *prev, *next; /* under pub->lock */
	pthread_cond_t cond;		    /* an event, overflow or close (pub->lock) */
	struct cri_event **ring;	    /* under pub->lock: queue_len slots */
	size_t head, len;		    /* under pub->lock */
	bool overflowed;		    /* under pub->lock: queue dropped, stream ends */
};

struct cri_events {
	/* Serialises snapshot + publish of the emitters below. Order: emit_lock,
	 * then the store's locks (snapshot), then lock; never the reverse. */
	pthread_mutex_t emit_lock;
	pthread_mutex_t lock;
	struct cri_events_sub *subs; /* under lock */
	size_t n_subs;		     /* under lock */
	size_t queue_len, max_subs;  /* fixed */
	size_t dropped;		     /* under lock */
	bool closed;		     /* under lock */
};

/* ---- publisher ---- */

struct cri_events *cri_events_new(size_t queue_len, size_t max_subs)
{
	struct cri_events *p = xcalloc(1, sizeof(*p));
	pthread_mutex_init(&p->emit_lock, NULL);
	pthread_mutex_init(&p->lock, NULL);
	p->queue_len = queue_len ? queue_len : 1;
	p->max_subs = max_subs;
	return p;
}

struct cri_events *cri_events_free(struct cri_events *p)
{
	if (!p)
		return NULL;
	/* A subscriber left behind would point at freed memory: a programmer error. */
	assert(!p->subs);
	pthread_mutex_destroy(&p->emit_lock);
	pthread_mutex_destroy(&p->lock);
	free(p);
	return NULL;
}

void cri_events_close(struct cri_events *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->closed = true;
	for (struct cri_events_sub *s = p->subs; s; s = s->next)
		pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&p->lock);
}

const ProtobufCMessage *cri_event_msg(const struct cri_event *ev)
{
	return ev->msg;
}

struct cri_event *cri_event_unref(struct cri_event *ev)
{
	if (ev && atomic_fetch_sub(&ev->refs, 1) == 1) {
		cri_msg_free(ev->msg);
		free(ev);
	}
	return NULL;
}

int cri_events_subscribe(struct cri_events *p, struct cri_events_sub **ret, struct berr **err)
{
	struct cri_events_sub *s = xcalloc(1, sizeof(*s));
	s->pub = p;
	s->ring = xcalloc(p->queue_len, sizeof(*s->ring));
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* cri_events_next() deadlines */
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	int r = 0;
	pthread_mutex_lock(&p->lock);
	if (p->closed) {
		r = berr_set(err, ECANCELED, "berthd is shutting down");
	} else if (p->n_subs >= p->max_subs) {
		r = berr_set(err, ENOSPC, "too many container event streams (limit %zu)",
			     p->max_subs);
	} else {
		s->next = p->subs;
		if (p->subs)
			p->subs->prev = s;
		p->subs = s;
		p->n_subs++;
	}
	pthread_mutex_unlock(&p->lock);
	if (r < 0) {
		pthread_cond_destroy(&s->cond);
		free(s->ring);
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

/* Takes the queued events out of s (under the lock); the caller unrefs them
 * after unlocking. */
static struct cri_event **ring_take(struct cri_events_sub *s, size_t *ret_n)
{
	struct cri_event **v = xcalloc(s->len ? s->len : 1, sizeof(*v));
	for (size_t i = 0; i < s->len; i++)
		v[i] = s->ring[(s->head + i) % s->pub->queue_len];
	*ret_n = s->len;
	s->head = s->len = 0;
	return v;
}

static void events_unref_all(struct cri_event **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cri_event_unref(v[i]);
	free(v);
}

struct cri_events_sub *cri_events_unsubscribe(struct cri_events_sub *s)
{
	if (!s)
		return NULL;
	struct cri_events *p = s->pub;
	pthread_mutex_lock(&p->lock);
	if (s->prev)
		s->prev->next = s->next;
	else
		p->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	p->n_subs--;
	size_t n = 0;
	struct cri_event **left = ring_take(s, &n);
	pthread_mutex_unlock(&p->lock);
	events_unref_all(left, n);
	pthread_cond_destroy(&s->cond);
	free(s->ring);
	free(s);
	return NULL;
}

bool cri_events_has_subscribers(struct cri_events *p)
{
	pthread_mutex_lock(&p->lock);
	bool any = p->n_subs > 0;
	pthread_mutex_unlock(&p->lock);
	return any;
}

size_t cri_events_dropped(struct cri_events *p)
{
	pthread_mutex_lock(&p->lock);
	size_t n = p->dropped;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void cri_events_publish(struct cri_events *p, ProtobufCMessage *msg)
{
	struct cri_event *ev = xcalloc(1, sizeof(*ev));
	atomic_init(&ev->refs, 1);
	ev->msg = msg;
	/* Queues of subscribers cut off here, freed once the lock is released. */
	struct cri_event **dead = NULL;
	size_t n_dead = 0, cap_dead = 0;
	pthread_mutex_lock(&p->lock);
	for (struct cri_events_sub *s = p->subs; s; s = s->next) {
		if (s->overflowed)
			continue;
		if (s->len == p->queue_len) {
			/* The subscriber can no longer have every event: end its stream
			 * rather than let it miss one silently (kubelet relists when its
			 * stream fails, and resubscribes). */
			size_t n = 0;
			struct cri_event **v = ring_take(s, &n);
			if (n_dead + n > cap_dead) {
				cap_dead = (n_dead + n) * 2;
				dead = xrealloc(dead, cap_dead * sizeof(*dead));
			}
			memcpy(dead + n_dead, v, n * sizeof(*v));
			n_dead += n;
			free(v);
			p->dropped += n + 1;
			s->overflowed = true;
			pthread_cond_signal(&s->cond);
			continue;
		}
		atomic_fetch_add(&ev->refs, 1);
		s->ring[(s->head + s->len) % p->queue_len] = ev;
		s->len++;
		pthread_cond_signal(&s->cond);
	}
	pthread_mutex_unlock(&p->lock);
	/* Not logged here: the stream ends with a status saying why, which the
	 * server logs (style §7). */
	events_unref_all(dead, n_dead);
	cri_event_unref(ev);
}

int cri_events_next(struct cri_events_sub *s, int timeout_ms, struct cri_event **ret,
		    struct berr **err)
{
	struct cri_events *p = s->pub;
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	int r = 0;
	pthread_mutex_lock(&p->lock);
	while (!s->len && !s->overflowed && !p->closed && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&s->cond, &p->lock, &until);
	if (s->len) {
		*ret = s->ring[s->head];
		s->ring[s->head] = NULL;
		s->head = (s->head + 1) % p->queue_len;
		s->len--;
		r = 1;
	} else if (s->overflowed) {
		r = berr_set(err, ENOSPC,
			     "container event queue full (%zu events): the client reads too "
			     "slowly, events were dropped",
			     p->queue_len);
	} else if (p->closed) {
		r = berr_set(err, ECANCELED, "berthd is shutting down");
	} else {
		r = 0;
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

/* ---- emitters ---- */

static struct cri_events *events_of(struct berth *b)
{
	return b->rt ? b->rt->events : NULL;
}

/* The event with the pod's statuses as they are now. */
static ProtobufCMessage *snapshot(struct berth *b, const char *sandbox_id, const char *container_id,
				  Runtime__V1__ContainerEventType type)
{
	Runtime__V1__ContainerEventResponse *ev =
	    (void *)cri_msg_new(&runtime__v1__container_event_response__descriptor);
	ev->container_id = xstrdup(container_id);
	ev->container_event_type = type;
	ev->created_at = time_now_ns();
	struct store_sb *sb = NULL;
	/* A sandbox gone already (never for berth's own ordering): no pod status,
	 * which kubelet ignores, as with containerd. */
	if (store_sb_get(b->store, sandbox_id, &sb, NULL) == 0 &&
	    strcmp(store_sb_id(sb), sandbox_id) == 0) {
		struct store_sb_status st;
		store_sb_status(sb, &st);
		ev->pod_sandbox_status = cri_sb_status_msg(store_sb_meta(sb), &st);
		store_sb_status_done(&st);
	}
	store_sb_unref(sb);
	struct store_ctr_filter f = {.sandbox_id = sandbox_id};
	struct store_ctr **v = NULL;
	size_t n = 0;
	if (store_ctr_list(b->store, &f, &v, &n, NULL) < 0)
		n = 0;
	ev->containers_statuses = xcalloc(n ? n : 1, sizeof(*ev->containers_statuses));
	for (size_t i = 0; i < n; i++) {
		const struct store_ctr_meta *m = store_ctr_meta(v[i]);
		/* The filter also matches sandbox ID prefixes: only this pod's. */
		if (strcmp(m->sandbox_id, sandbox_id) != 0)
			continue;
		struct store_ctr_status st;
		store_ctr_status(v[i], &st);
		ev->containers_statuses[ev->n_containers_statuses++] = cri_ctr_status_msg(m, &st);
		store_ctr_status_done(&st);
	}
	store_ctr_list_free(v, n);
	return &ev->base;
}

void cri_event_emit(struct berth *b, const char *sandbox_id, const char *container_id,
		    Runtime__V1__ContainerEventType type)
{
	struct cri_events *p = events_of(b);
	if (!p || !cri_events_has_subscribers(p))
		return;
	pthread_mutex_lock(&p->emit_lock);
	cri_events_publish(p, snapshot(b, sandbox_id, container_id, type));
	pthread_mutex_unlock(&p->emit_lock);
}

ProtobufCMessage *cri_event_prepare(struct berth *b, const char *sandbox_id,
				    const char *container_id, Runtime__V1__ContainerEventType type)
{
	struct cri_events *p = events_of(b);
	if (!p || !cri_events_has_subscribers(p))
		return NULL;
	pthread_mutex_lock(&p->emit_lock);
	ProtobufCMessage *ev = snapshot(b, sandbox_id, container_id, type);
	pthread_mutex_unlock(&p->emit_lock);
	return ev;
}

void cri_event_post(struct berth *b, ProtobufCMessage *ev)
{
	struct cri_events *p = events_of(b);
	if (!ev)
		return;
	if (!p) {
		cri_msg_free(ev);
		return;
	}
	pthread_mutex_lock(&p->emit_lock);
	cri_events_publish(p, ev);
	pthread_mutex_unlock(&p->emit_lock);
}

/* ---- GetContainerEvents ---- */

/* How often a waiting stream looks at its call: the client's cancellation is
 * seen by polling (cri_call_check), and so is the daemon stopping. */
#define EVENTS_POLL_MS 100

int cri_get_container_events(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			     ProtobufCMessage **ret_resp, struct berr **err)
{
	struct cri_events *p = events_of(b);
	if (!p)
		return berr_set(err, ENOSYS, "container runtime not initialised");
	struct cri_events_sub *s = NULL;
	int r = cri_events_subscribe(p, &s, err);
	if (r < 0)
		return r;
	/* The headers tell the client it is subscribed: every event published
	 * from now on reaches it (tests wait for them before acting). */
	r = cri_call_send_initial_metadata(call, err);
	while (r >= 0) {
		r = cri_call_check(call, err);
		if (r < 0)
			break;
		struct cri_event *ev = NULL;
		r = cri_events_next(s, EVENTS_POLL_MS, &ev, err);
		if (r <= 0)
			continue;
		/* May block while the client doesn't read: the queue takes what is
		 * published meanwhile, up to its limit. */
		r = cri_call_send(call, cri_event_msg(ev), err);
		cri_event_unref(ev);
	}
	cri_events_unsubscribe(s);
	return r;
}
