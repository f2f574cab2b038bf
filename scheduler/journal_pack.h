/* The journal's entries: core events <-> packed JournalEntry messages
 * (proto/journal.proto). A submit carries the JobSpec as accepted and its
 * effective seed, and is rebuilt through the job spec's edge (jobspec.h)
 * on replay. Part of the scheduler's library, beside journal.c. */
#ifndef CAIRN_SCHEDULER_JOURNAL_PACK_H
#define CAIRN_SCHEDULER_JOURNAL_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "proto/journal.pb-c.h"
#include "scheduler/jobspec.h"
#include "scheduling/sched.h"

/* Core event -> packed journal entry (malloc'd buffer). For a submit, js
 * is the JobSpec as accepted and seed the effective seed. 0, -EINVAL (an
 * event the journal does not hold, a submit without js) or -ENOMEM. */
int journal_event_pack(const sched_event_t *ev, const Cairn__JobSpec *js, uint64_t seed,
                       uint8_t **buf, size_t *len);

/* Packed journal entry -> core event. The event points into *hold until
 * journal_hold_fini(). For a submit, *js (if not NULL) is the JobSpec. */
typedef struct journal_hold {
    Cairn__JournalEntry *entry;
    jobspec_t *job;
    sched_alloc_desc_t *allocs;
    uint64_t *numa_memory;
    int *core_numa;
    sched_gpu_desc_t *gpus;
} journal_hold_t;
/* 0, -EBADMSG (err says what does not decode or convert) or -ENOMEM; hold
 * is to be finished on every path. */
int journal_event_unpack(const uint8_t *buf, size_t len, sched_event_t *ev, journal_hold_t *hold,
                         const Cairn__JobSpec **js, cairn_error_t *err);
/* Free what the event pointed into. */
void journal_hold_fini(journal_hold_t *hold);

#endif
