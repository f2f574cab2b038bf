/* The node timeline: each node's presence over time, one row per change,
 * at the time of the core event that caused it:
 *
 *   joined     registered for the first time, or again after a removal
 *   lost       heartbeats lost, or not back within --restart-grace
 *   drained    drained by an operator (again: with a new reason)
 *   undrained
 *   returning  the scheduler restarted: not registered again yet
 *   back       registered again after lost or returning
 *   removed    forgotten by `cairn node remove`
 *   known      written once, at the first start of a scheduler that keeps
 *              the timeline, for each node it knew already: its state
 *              then; what came before is not known
 *
 * A row is written by the batch (batch.c) in the transaction of the event
 * itself, so the timeline and the journal are true together; reports and
 * plans read it on the reader thread (UsageReply.node_events) and nothing
 * depends on replaying old journal entries, which may be pruned. A node
 * that reconnects while it is up (a blip, a worker restart) changes
 * nothing and has no row. */
#ifndef CAIRN_SCHEDULER_TIMELINE_H
#define CAIRN_SCHEDULER_TIMELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/client.pb-c.h"
#include "scheduler/journal.h"
#include "scheduling/sched.h"

typedef struct timeline timeline_t;

/* On the daemon's journal (creating the table) or on a reader's read-only
 * one (journal_open_reader). */
int timeline_open(journal_t *j, timeline_t **out, cairn_error_t *err);
/* NULL is a no-op. */
void timeline_close(timeline_t *t);

/* What a node was before a core event (timeline_mark), to tell what the
 * event changed (timeline_note). */
typedef struct timeline_mark {
    bool node;  /* a node event */
    bool known; /* the node existed before it */
    sched_node_state_t state;
    bool drained;
} timeline_mark_t;
/* Before ev is applied to core. */
void timeline_mark(const sched_t *core, const sched_event_t *ev, timeline_mark_t *m);
/* After ev was applied: its row, if it changed the node's presence or
 * drain, in the open transaction. 0 or a negative code. */
int timeline_note(timeline_t *t, const sched_t *core, const sched_event_t *ev,
                  const timeline_mark_t *m, cairn_error_t *err);

/* At start, before any event of this run: the first time only (the
 * database had no timeline), a "known" row at now_ms for each node of the
 * core, in the open transaction. 0 or a negative code. */
int timeline_backfill(timeline_t *t, const sched_t *core, int64_t now_ms, cairn_error_t *err);

/* The rows for a window into rep->node_events (malloc'd: free with
 * timeline_reply_fini): each node's newest row before since_ms, then every
 * row in [since_ms, until_ms) (until_ms <= 0: no end), in the order they
 * were written. */
int timeline_query(timeline_t *t, int64_t since_ms, int64_t until_ms, Cairn__UsageReply *rep,
                   cairn_error_t *err);
/* Free what timeline_query put in rep (before usage_reply_fini). */
void timeline_reply_fini(Cairn__UsageReply *rep);

/* A core node state as the wire says it (DRAINING whatever runs there). */
Cairn__NodeState timeline_wire_state(sched_node_state_t st);

#endif
