/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the container event publisher (cri/events.c): fan-out to every
 * subscriber in publish order, nothing from before a subscription, the bounded
 * queue cutting off a slow subscriber without blocking the publisher, the
 * subscriber limit, close waking a blocked reader, and many publishers and
 * subscribers at once (also run under TSan, label tsan). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/ids.h"
#include "cri/cri-internal.h"
#include "cri/events-internal.h"

/* A message naming its publisher and sequence number. */
static ProtobufCMessage *msg(int pub, int seq)
{
	Runtime__V1__ContainerEventResponse *m =
	    (void *)cri_msg_new(&runtime__v1__container_event_response__descriptor);
	m->container_id = xasprintf("%d/%d", pub, seq);
	m->created_at = seq;
	return &m->base;
}

static const char *id_of(const struct cri_event *ev)
{
	return ((const Runtime__V1__ContainerEventResponse *)cri_event_msg(ev))->container_id;
}

/* The next event's id (caller frees); fails the test on anything else. */
static char *next_id(struct cri_events_sub *s)
{
	struct cri_event *ev = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	int r = cri_events_next(s, 1000, &ev, &e);
	if (r != 1)
		fail_msg("next: %d %s", r, berr_msg(e));
	char *id = xstrdup(id_of(ev));
	cri_event_unref(ev);
	return id;
}

static void assert_next(struct cri_events_sub *s, const char *want)
{
	_cleanup_free_ char *id = next_id(s);
	assert_string_equal(id, want);
}

static void assert_empty(struct cri_events_sub *s)
{
	struct cri_event *ev = NULL;
	assert_int_equal(cri_events_next(s, 0, &ev, NULL), 0);
	assert_null(ev);
}

static void test_events_fanout_in_order(void **state)
{
	struct cri_events *p = cri_events_new(16, 4);
	struct cri_events_sub *a = NULL, *b = NULL;
	assert_int_equal(cri_events_subscribe(p, &a, NULL), 0);
	assert_int_equal(cri_events_subscribe(p, &b, NULL), 0);
	assert_true(cri_events_has_subscribers(p));
	for (int i = 0; i < 10; i++)
		cri_events_publish(p, msg(0, i));
	for (int i = 0; i < 10; i++) {
		char want[32];
		snprintf(want, sizeof(want), "0/%d", i);
		assert_next(a, want);
		assert_next(b, want);
	}
	assert_empty(a);
	assert_empty(b);
	assert_int_equal(cri_events_dropped(p), 0);
	cri_events_unsubscribe(a);
	cri_events_unsubscribe(b);
	assert_false(cri_events_has_subscribers(p));
	cri_events_free(p);
}

static void test_events_only_after_subscribe(void **state)
{
	struct cri_events *p = cri_events_new(16, 4);
	cri_events_publish(p, msg(0, 0)); /* nobody listens: freed (ASan would see a leak) */
	struct cri_events_sub *a = NULL, *b = NULL;
	assert_int_equal(cri_events_subscribe(p, &a, NULL), 0);
	cri_events_publish(p, msg(0, 1));
	assert_int_equal(cri_events_subscribe(p, &b, NULL), 0);
	cri_events_publish(p, msg(0, 2));
	assert_next(a, "0/1");
	assert_next(a, "0/2");
	assert_next(b, "0/2");
	assert_empty(a);
	assert_empty(b);
	cri_events_unsubscribe(a);
	cri_events_unsubscribe(b);
	cri_events_free(p);
}

/* A subscriber that stops reading is cut off at its queue's limit; the
 * publisher never waits, and a reading subscriber keeps every event. */
static void test_events_overflow_ends_slow_subscriber(void **state)
{
	struct cri_events *p = cri_events_new(4, 4);
	struct cri_events_sub *slow = NULL, *fast = NULL;
	assert_int_equal(cri_events_subscribe(p, &slow, NULL), 0);
	assert_int_equal(cri_events_subscribe(p, &fast, NULL), 0);
	for (int i = 0; i < 8; i++) {
		cri_events_publish(p, msg(0, i));
		char want[32];
		snprintf(want, sizeof(want), "0/%d", i);
		assert_next(fast, want);
	}
	/* 4 queued, the 5th overflowed: the 4 dropped with it (later ones never
	 * reach an overflowed subscriber and aren't counted). */
	assert_int_equal(cri_events_dropped(p), 5);
	struct cri_event *ev = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cri_events_next(slow, 1000, &ev, &e), -ENOSPC);
	assert_null(ev);
	assert_non_null(strstr(berr_msg(e), "container event queue full (4 events)"));
	/* It stays cut off: an overflowed stream has lost events for good. */
	cri_events_publish(p, msg(0, 8));
	berr_free(e);
	e = NULL;
	assert_int_equal(cri_events_next(slow, 0, &ev, &e), -ENOSPC);
	assert_next(fast, "0/8");
	cri_events_unsubscribe(slow);
	cri_events_unsubscribe(fast);
	cri_events_free(p);
}

static void test_events_subscriber_limit(void **state)
{
	struct cri_events *p = cri_events_new(4, 2);
	struct cri_events_sub *a = NULL, *b = NULL, *c = NULL;
	assert_int_equal(cri_events_subscribe(p, &a, NULL), 0);
	assert_int_equal(cri_events_subscribe(p, &b, NULL), 0);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cri_events_subscribe(p, &c, &e), -ENOSPC);
	assert_null(c);
	assert_string_equal(berr_msg(e), "too many container event streams (limit 2)");
	/* a slot freed is a slot taken */
	cri_events_unsubscribe(a);
	assert_int_equal(cri_events_subscribe(p, &c, NULL), 0);
	cri_events_unsubscribe(b);
	cri_events_unsubscribe(c);
	cri_events_free(p);
}

/* Unsubscribing with events still queued releases them (ASan checks). */
static void test_events_unsubscribe_drops_queue(void **state)
{
	struct cri_events *p = cri_events_new(8, 2);
	struct cri_events_sub *a = NULL, *b = NULL;
	assert_int_equal(cri_events_subscribe(p, &a, NULL), 0);
	assert_int_equal(cri_events_subscribe(p, &b, NULL), 0);
	for (int i = 0; i < 5; i++)
		cri_events_publish(p, msg(0, i));
	/* one event taken and held past the unsubscribe: the reference keeps it */
	struct cri_event *ev = NULL;
	assert_int_equal(cri_events_next(a, 0, &ev, NULL), 1);
	cri_events_unsubscribe(a);
	cri_events_unsubscribe(b);
	assert_string_equal(id_of(ev), "0/0");
	cri_event_unref(ev);
	cri_events_free(p);
}

struct reader {
	struct cri_events_sub *sub;
	int r;
	int64_t waited_ns;
};

static void *blocked_reader(void *arg)
{
	struct reader *rd = arg;
	struct cri_event *ev = NULL;
	int64_t t0 = time_mono_ns();
	rd->r = cri_events_next(rd->sub, 30000, &ev, NULL);
	rd->waited_ns = time_mono_ns() - t0;
	cri_event_unref(ev);
	return NULL;
}

/* Close wakes a reader blocked in next at once (daemon stop), after what was
 * queued is read; new subscriptions are refused. */
static void test_events_close_wakes_reader(void **state)
{
	struct cri_events *p = cri_events_new(8, 2);
	struct reader rd = {0};
	assert_int_equal(cri_events_subscribe(p, &rd.sub, NULL), 0);
	cri_events_publish(p, msg(0, 0));
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, blocked_reader, &rd), 0);
	pthread_join(t, NULL);
	assert_int_equal(rd.r, 1); /* the queued event first */
	assert_int_equal(pthread_create(&t, NULL, blocked_reader, &rd), 0);
	struct timespec ts = {0, 50 * 1000000};
	/* Most likely blocked by now; closed before it blocks gives the same. */
	nanosleep(&ts, NULL);
	cri_events_close(p);
	pthread_join(t, NULL);
	assert_int_equal(rd.r, -ECANCELED);
	assert_true(rd.waited_ns < 10LL * 1000000000);
	struct cri_events_sub *late = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cri_events_subscribe(p, &late, &e), -ECANCELED);
	assert_string_equal(berr_msg(e), "berthd is shutting down");
	cri_events_close(p); /* idempotent */
	cri_events_unsubscribe(rd.sub);
	cri_events_free(p);
}

#define N_PUB 4
#define N_SUB 3
#define N_MSG 500

struct consumer {
	struct cri_events *p;
	struct cri_events_sub *sub;
	int got; /* events received */
	bool in_order;
	int quit_after; /* > 0: unsubscribe after this many */
};

static void *consumer_main(void *arg)
{
	struct consumer *c = arg;
	int last[N_PUB];
	for (int i = 0; i < N_PUB; i++)
		last[i] = -1;
	c->in_order = true;
	while (c->got < N_PUB * N_MSG && !(c->quit_after && c->got >= c->quit_after)) {
		struct cri_event *ev = NULL;
		int r = cri_events_next(c->sub, 5000, &ev, NULL);
		if (r <= 0)
			break;
		int pub = -1, seq = -1;
		if (sscanf(id_of(ev), "%d/%d", &pub, &seq) != 2 || pub < 0 || pub >= N_PUB ||
		    seq != last[pub] + 1)
			c->in_order = false;
		else
			last[pub] = seq;
		cri_event_unref(ev);
		c->got++;
	}
	c->sub = cri_events_unsubscribe(c->sub);
	return NULL;
}

struct producer {
	struct cri_events *p;
	int id;
};

static void *producer_main(void *arg)
{
	struct producer *pr = arg;
	for (int i = 0; i < N_MSG; i++)
		cri_events_publish(pr->p, msg(pr->id, i));
	return NULL;
}

/* Publishers and subscribers on threads: each subscriber gets every event,
 * each publisher's in its order; one subscriber leaves half-way. */
static void test_events_concurrent(void **state)
{
	struct cri_events *p = cri_events_new(N_PUB * N_MSG, N_SUB + 1);
	struct consumer cons[N_SUB + 1] = {0};
	pthread_t ct[N_SUB + 1], pt[N_PUB];
	for (int i = 0; i <= N_SUB; i++) {
		cons[i].p = p;
		cons[i].quit_after = i == N_SUB ? N_MSG : 0;
		assert_int_equal(cri_events_subscribe(p, &cons[i].sub, NULL), 0);
		assert_int_equal(pthread_create(&ct[i], NULL, consumer_main, &cons[i]), 0);
	}
	struct producer prods[N_PUB];
	for (int i = 0; i < N_PUB; i++) {
		prods[i] = (struct producer){p, i};
		assert_int_equal(pthread_create(&pt[i], NULL, producer_main, &prods[i]), 0);
	}
	for (int i = 0; i < N_PUB; i++)
		pthread_join(pt[i], NULL);
	for (int i = 0; i <= N_SUB; i++)
		pthread_join(ct[i], NULL);
	for (int i = 0; i < N_SUB; i++) {
		assert_int_equal(cons[i].got, N_PUB * N_MSG);
		assert_true(cons[i].in_order);
	}
	assert_int_equal(cons[N_SUB].got, N_MSG);
	assert_true(cons[N_SUB].in_order);
	assert_int_equal(cri_events_dropped(p), 0);
	assert_false(cri_events_has_subscribers(p));
	cri_events_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_events_fanout_in_order),
	    cmocka_unit_test(test_events_only_after_subscribe),
	    cmocka_unit_test(test_events_overflow_ends_slow_subscriber),
	    cmocka_unit_test(test_events_subscriber_limit),
	    cmocka_unit_test(test_events_unsubscribe_drops_queue),
	    cmocka_unit_test(test_events_close_wakes_reader),
	    cmocka_unit_test(test_events_concurrent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
