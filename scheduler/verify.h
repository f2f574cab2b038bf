/* Journal verification: replay a scheduler's journal into an empty core
 * (or, when its first entries were pruned, into the oldest snapshot kept)
 * twice over — once applying every event as recorded, once re-deriving
 * every placement with the real placement pass at the time it was made —
 * and check that both give the same placements and the same final state.
 * This is what "placement is a pure function of state" means, checked on a
 * real run. Every snapshot kept must verify (checksum, version) and load to
 * the same canonical dump as the state replayed to its entry. */
#ifndef CAIRN_SCHEDULER_VERIFY_H
#define CAIRN_SCHEDULER_VERIFY_H

#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "scheduling/sched.h"

typedef struct verify_report {
    uint64_t entries, placements, passes, failures;
    /* the snapshot the replay started from (0: the first entry), and the
     * kept snapshots that load to the state replayed to their entry */
    uint64_t from_seq, snapshots;
} verify_report_t;

/* Returns 0 when the journal at path replays identically, -EPROTO on the
 * first difference (described in err), another negative code otherwise.
 * Progress and the final state go to out when it is not NULL. */
int journal_verify(const char *path, FILE *out, verify_report_t *rep, cairn_error_t *err);
/* The same, re-deriving placements with the scheduler's configuration cfg
 * (journal_verify() takes the daemon's defaults). */
int journal_verify_cfg(const char *path, const sched_config_t *cfg, FILE *out, verify_report_t *rep,
                       cairn_error_t *err);

#endif
