/* The scheduler's state on disk: the journal of events and the tables kept
 * beside it, in the same database and the same transactions (a commit
 * makes them all true at once, a rollback none). */
#ifndef CAIRN_SCHEDULER_STORES_H
#define CAIRN_SCHEDULER_STORES_H

#include "scheduler/archive.h"
#include "scheduler/audit.h"
#include "scheduler/cache.h"
#include "scheduler/history.h"
#include "scheduler/journal.h"
#include "scheduler/members.h"
#include "scheduler/provenance.h"
#include "scheduler/timeline.h"
#include "scheduler/usage.h"

typedef struct stores {
    journal_t *journal; /* the events (journal.h) */
    audit_t *audit;     /* who changed what (audit.h) */
    prov_t *prov;       /* what ran where (provenance.h) */
    cache_t *cache;     /* cached results (cache.h) */
    usage_t *usage;     /* usage over time (usage.h) */
    history_t *history; /* ended attempts' records (history.h) */
    /* nodes' presence over time (timeline.h) */
    timeline_t *timeline;
    archive_t *archive; /* retired jobs (archive.h) */
    members_t *members; /* accounts' members (members.h) */
} stores_t;

/* Open (creating) the database at path and every store in it. */
int stores_open(const char *path, stores_t **out, cairn_error_t *err);
/* The same, waiting up to wait_ms for a PostgreSQL server that cannot be
 * reached yet (it restarts, or fails over) before giving up. */
int stores_open_wait(const char *url, int64_t wait_ms, stores_t **out, cairn_error_t *err);
/* Close them all (a pending transaction is committed by the caller first). */
void stores_close(stores_t *s);
/* After a rollback: reload what the stores keep in memory. */
int stores_reload(stores_t *s, cairn_error_t *err);

#endif
