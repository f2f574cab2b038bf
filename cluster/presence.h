/* When a node was there, from the node timeline the scheduler keeps
 * (UsageReply.node_events; scheduler/timeline.h), so that cairn report and
 * cairn plan --cluster current count each node's capacity only while it
 * was there. Pure: no I/O. */
#ifndef CAIRN_CLUSTER_PRESENCE_H
#define CAIRN_CLUSTER_PRESENCE_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/client.pb-c.h"

/* Whether a node in this state is there: its capacity counts (up,
 * draining or drained, returning); down and removed ones are not. */
bool presence_there(Cairn__NodeState st);

/* The timeline indexed by node, so that each node's events are found
 * without reading everyone's (a year of a large cluster holds many). */
typedef struct presence presence_t;

/* Index the n events ev (as UsageReply gives them: each node's newest
 * before the window, then the window's, in order); ev must outlive it.
 * NULL when out of memory. */
presence_t *presence_create(const Cairn__NodeEvent *const *ev, size_t n);
/* NULL is a no-op. */
void presence_destroy(presence_t *p);

/* Whether the timeline has any event of node. */
bool presence_knows(const presence_t *p, const char *node);

/* Called with a node's state from at_ms on: first its state when the
 * window opens (at from_ms), then each change in the window, in order. */
typedef void (*presence_state_f)(int64_t at_ms, Cairn__NodeState st, void *arg);

/* The states of node over [from_ms, to_ms) by the timeline. Before a
 * node's first event it was not there (DOWN), unless that event is
 * "known" (written when the scheduler first kept a timeline: what came
 * before is not known, and is taken to be as it was then). Without any
 * event at all (a scheduler that keeps no timeline) every node is UP the
 * whole window, as before. */
void presence_states(const presence_t *p, const char *node, int64_t from_ms, int64_t to_ms,
                     presence_state_f fn, void *arg);

/* Called for each span [from_ms, to_ms) in which the node was there. */
typedef void (*presence_f)(int64_t from_ms, int64_t to_ms, void *arg);

/* The spans of [from_ms, to_ms) in which node was there, in time order,
 * by its states (presence_states; fn may be NULL). Returns the seconds it
 * was there. */
double presence_spans(const presence_t *p, const char *node, int64_t from_ms, int64_t to_ms,
                      presence_f fn, void *arg);

#endif
