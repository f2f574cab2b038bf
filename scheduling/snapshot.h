/* Snapshots of the scheduling core: its whole state as bytes, and back.
 *
 * A snapshot holds the state proper (nodes, jobs with their tasks as the
 * core keeps them, attempts and their allocations, the class queues, the
 * retry heap, the running set, prefetch lines, counters, the accounts
 * with their usage, the windows of
 * ids and what was retired); what is derived from it (the node index,
 * the class hash, free resources, by-name orders) is built again on load.
 * After a load the canonical dump (sched_dump) is the same, byte for byte,
 * and every event after it gives what it gives on the state it was taken
 * from, placements included. Reservations are not kept: each pass makes
 * them afresh.
 *
 * The format is versioned ("CAIRNSNP", SCHED_SNAPSHOT_VERSION,
 * little-endian, lengths before contents). A save writes the newest
 * version; a load reads every version (1: before accounts, every job in
 * "default"; 2: before preemption, no task preemptible; 3: before
 * failure classes, GPU health and topology placement: every GPU healthy,
 * no class, no placement), so a journal pruned by an older release
 * still starts. It carries no checksum: the daemon stores one beside it. A load checks every
 * length, index and cross-reference, so bytes that are not a snapshot give an error, never a crash
 * or a state that breaks the core's invariants. */
#ifndef CAIRN_SCHED_SNAPSHOT_H
#define CAIRN_SCHED_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "scheduling/sched.h"

#define SCHED_SNAPSHOT_VERSION                                                                     \
    4u /* 2: accounts; 3: preemption; 4: failure classes, GPU health, topology */

/* Serialize s: *out gets the bytes (malloc'd: the caller frees them) and
 * *len their number. 0, or SCHED_ENOMEM (nothing is returned). */
int sched_snapshot_save(const sched_t *s, uint8_t **out, size_t *len, cairn_error_t *err);

/* A new state from a snapshot, configured with cfg (NULL: defaults, as
 * sched_create). 0 and *out (sched_destroy it), or SCHED_EINVAL with what
 * is wrong in err (not a snapshot, another version, a length or index out
 * of range, parts that disagree), or SCHED_ENOMEM; *out is then NULL. */
int sched_snapshot_load(const uint8_t *p, size_t len, const sched_config_t *cfg, sched_t **out,
                        cairn_error_t *err);

/* The format version of a snapshot (0 when p is not one). */
uint32_t sched_snapshot_version(const uint8_t *p, size_t len);

#endif
