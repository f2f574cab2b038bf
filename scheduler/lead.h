/* Leadership among schedulers sharing one PostgreSQL store.
 *
 * A single row, cairn_leader, holds the lease: the epoch (term), who holds
 * it, its endpoints, its database session and when it expires by the
 * database's clock. Every transaction of the leader starts with
 * cairn_fence(epoch, holder, lease), which renews the lease and raises
 * when the epoch no longer leads; it keeps the row locked to the commit,
 * so a takeover and a commit are ordered and a deposed leader's writes
 * fail (journal_set_fence).
 *
 * The leader also fences itself by its own monotonic clock: a lease is
 * good until the send time of the newest fence that committed plus 4/5 of
 * the lease, before the database's expiry (timed from the transaction's
 * start, later). A leader past it (frozen, partitioned, too slow) sends
 * nothing more and steps down.
 *
 * A standby follows the committed entries into its own core (every
 * lease/4, at most 200 ms), answers peers "not the leader" with the
 * leader's endpoints, and claims the lease when it expired or when the
 * leader's database session is gone (its process died): at once after a
 * kill -9, within the lease after a freeze. A frozen leader caught inside
 * a transaction holds the row lock: past the expiry, the standby ends its
 * session (pg_terminate_backend), which rolls its transaction back.
 *
 * Everything here runs on the loop thread; its reads are short, indexed
 * and bounded by lock_timeout and statement_timeout. */
#ifndef CAIRN_SCHEDULER_LEAD_H
#define CAIRN_SCHEDULER_LEAD_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/error.h"
#include "common/log.h"
#include "proto/client.pb-c.h"
#include "scheduler/journal.h"

typedef struct lead lead_t;

typedef struct lead_ops {
    /* a committed entry the standby's core has not seen: apply it */
    int (*apply)(void *arg, uint64_t seq, const uint8_t *buf, size_t len);
    /* this instance leads from now (epoch): reload what is kept beside the
     * journal and take the restart path. Failing it steps down. */
    int (*lead)(void *arg, uint64_t epoch, cairn_error_t *err);
    /* stop leading or following at once and start again (never returns
     * when it can re-execute the process) */
    void (*step_down)(void *arg, const char *why);
    void *arg;
} lead_ops_t;

typedef struct lead_config {
    const char *holder;           /* this instance's name (unique among them) */
    const char *client_endpoints; /* what a standby tells clients and workers */
    const char *worker_endpoints;
    int64_t lease_ms;
} lead_config_t;

/* Create the lease tables and function (idempotent), and try to lead: on
 * return this instance leads (the journal fenced with the new epoch) or
 * stands by, following from entry `applied`. */
int lead_create(uv_loop_t *loop, journal_t *j, const lead_config_t *cfg, const lead_ops_t *ops,
                uint64_t applied, cairn_log_t *log, lead_t **out, cairn_error_t *err);
void lead_destroy(lead_t *l);

bool lead_leading(const lead_t *l);
/* The leader's lease is still good by its own clock; past it, steps down
 * (ops->step_down). Cheap: call before anything leaves for a peer. */
bool lead_valid(lead_t *l);
/* The leader's endpoints as a standby last read them ("" while none
 * leads), for clients or for workers. */
const char *lead_leader_endpoints(const lead_t *l, bool workers);
/* The epoch this instance leads or last saw. */
uint64_t lead_epoch(const lead_t *l);

/* `cairn schedulers`: every instance of the store as last read, the
 * leader first. Fills rep's fields (owned by l until the next call). */
void lead_fill_reply(lead_t *l, Cairn__SchedulersReply *rep);

#endif
