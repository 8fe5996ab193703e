/* SPDX-License-Identifier: Apache-2.0 */
/* events-internal.h - the publisher behind GetContainerEvents (cri/events.c).
 * Any number of subscribers; each gets every message published after it
 * subscribed, in publish order, through a bounded queue of its own. Publishing
 * never waits for a subscriber: one whose queue is full is cut off (queue
 * dropped, its next read fails), as containerd dropped events past its buffer.
 * Ownership: cri_events_publish() takes the message; cri_events_next() hands out
 *   a reference to a shared, read-only event (release with cri_event_unref()).
 *   A subscription belongs to its subscriber, who unsubscribes before the
 *   publisher is freed.
 * Threads: all calls are thread-safe. One mutex per publisher guards the
 *   subscriber list and the queues, held for list and queue operations only;
 *   nothing here calls out. Each subscription is read by one thread.
 * Errors: -ENOSPC subscriber limit reached or queue overflowed, -ECANCELED
 *   publisher closed. cri_events_next() blocks up to its timeout. */
#ifndef BERTH_CRI_EVENTS_INTERNAL_H
#define BERTH_CRI_EVENTS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

struct berr;
struct cri_events;
struct cri_events_sub;
struct cri_event;

#define CRI_EVENTS_QUEUE_LEN 1000 /* per subscriber, containerd's channel size */
#define CRI_EVENTS_MAX_SUBS  64	  /* concurrent GetContainerEvents streams */

struct cri_events *cri_events_new(size_t queue_len, size_t max_subs);
/* Every subscription must be gone; NULL is fine. */
struct cri_events *cri_events_free(struct cri_events *p);
/* Wakes every subscriber; their reads fail with -ECANCELED once their queue is
 * empty, and new subscriptions are refused. Idempotent. */
void cri_events_close(struct cri_events *p);

int cri_events_subscribe(struct cri_events *p, struct cri_events_sub **ret, struct berr **err);
/* Drops what is still queued; NULL is fine. */
struct cri_events_sub *cri_events_unsubscribe(struct cri_events_sub *s);
bool cri_events_has_subscribers(struct cri_events *p);
/* Events dropped by overflowing subscribers since the publisher was made. */
size_t cri_events_dropped(struct cri_events *p);

/* Queues msg (a tree cri_msg_free() can free) to every subscriber; freed at
 * once when there is none. */
void cri_events_publish(struct cri_events *p, ProtobufCMessage *msg);
/* 1 and *ret: the next event; 0: none within timeout_ms; -ENOSPC: the queue
 * overflowed (events were lost); -ECANCELED: the publisher was closed. */
int cri_events_next(struct cri_events_sub *s, int timeout_ms, struct cri_event **ret,
		    struct berr **err);

const ProtobufCMessage *cri_event_msg(const struct cri_event *ev);
struct cri_event *cri_event_unref(struct cri_event *ev);

#endif
