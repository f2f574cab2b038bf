/* Snapshots of the core kept in the journal's database, so that a start
 * replays only the events after the newest one, and the journal's events
 * table stays as long as the snapshot interval.
 *
 * A snapshot is the core's state (scheduling/snapshot.h) after journal
 * entry seq, with its format version and its SHA-256, written in the same
 * transaction as the commit that makes seq durable. With it, older
 * snapshots and events are pruned: the newest two snapshots and the events
 * after the older of them are kept, so that a start can fall back to the
 * older one when the newest does not verify. */
#ifndef CAIRN_SCHEDULER_SNAPSHOTS_H
#define CAIRN_SCHEDULER_SNAPSHOTS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/log.h"
#include "scheduler/journal.h"
#include "scheduling/sched.h"

/* Snapshots kept (and the events after the oldest of them). */
#define SNAPSHOTS_KEEP 2

/* Write a snapshot of core after the newest journal entry (journal_head)
 * into the open transaction, and prune (SNAPSHOTS_KEEP). *bytes (may be
 * NULL) gets its size. 0, or a negative code: the transaction then must
 * not be committed (the caller fails the batch). */
int snapshots_take(journal_t *j, const sched_t *core, int64_t now_ms, size_t *bytes,
                   cairn_error_t *err);

/* One stored snapshot checked and loaded: its checksum, its version, its
 * bytes. 0 and *core, or -EBADMSG (checksum), -EPROTO (version or
 * content) with why in err. */
int snapshot_open(const journal_snapshot_t *s, const sched_config_t *cfg, sched_t **core,
                  cairn_error_t *err);

/* What a start took its state from. */
typedef struct snapshot_restored {
    uint64_t seq;   /* the snapshot's journal entry; 0: none (replay from the first) */
    size_t skipped; /* newer snapshots that did not verify (each logged) */
    size_t bytes;
} snapshot_restored_t;

/* The state to replay the journal's tail onto: the newest snapshot that
 * verifies and loads (each one that does not is logged as an error,
 * naming its entry), or an empty state when the journal still holds every
 * entry. With none usable and entries pruned: -EPROTO and a clear error;
 * the state cannot be rebuilt, and nothing is guessed. */
int snapshots_restore(journal_t *j, const sched_config_t *cfg, cairn_log_t *log, sched_t **core,
                      snapshot_restored_t *out, cairn_error_t *err);

#endif
