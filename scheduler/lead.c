/* Leadership on a PostgreSQL store; see lead.h. */
#include "scheduler/lead.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/sdb.h"

#define FOLLOW_BATCH 5000
#define INSTANCES_MAX 16
#define INSTANCE_GONE_LEASES 10 /* unheard this many leases: listed as gone */

typedef struct instance {
    char holder[128], clients[512], workers[512];
    bool leader;
    uint64_t epoch, applied;
    int64_t seen_ms_ago;
} instance_t;

struct lead {
    uv_loop_t *loop;
    journal_t *j;
    sdb_t *db;
    lead_config_t cfg;
    char *holder, *clients, *workers;
    lead_ops_t ops;
    cairn_log_t *log;
    uv_timer_t tick;
    bool leading, stepping;
    uint64_t epoch;
    uint64_t applied; /* the newest entry in this instance's core */
    uint64_t head;    /* the store's newest, as last read */
    uint64_t sent_ns, valid_until_ns, renewed_ns;
    uint64_t noted_ns; /* the leader's cairn_instances row last written */
    char leader_clients[512], leader_workers[512], leader_holder[128];
    instance_t inst[INSTANCES_MAX];
    Cairn__SchedulerInstance rep_inst[INSTANCES_MAX];
    Cairn__SchedulerInstance *rep_ptr[INSTANCES_MAX];
    size_t ninst;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS cairn_leader (id integer PRIMARY KEY CHECK (id = 1),"
    " epoch bigint NOT NULL, holder text NOT NULL, client_endpoints text NOT NULL,"
    " worker_endpoints text NOT NULL, pid integer NOT NULL,"
    " renewed_at timestamptz NOT NULL, expires_at timestamptz NOT NULL);"
    "INSERT INTO cairn_leader VALUES (1, 0, '', '', '', 0, now(), '-infinity')"
    " ON CONFLICT DO NOTHING;"
    "CREATE TABLE IF NOT EXISTS cairn_instances (holder text PRIMARY KEY,"
    " client_endpoints text, worker_endpoints text, epoch bigint, applied_seq bigint,"
    " seen_at timestamptz);"
    /* the fence: renews the lease of epoch e held by h, or raises CN001 */
    "CREATE OR REPLACE FUNCTION cairn_fence(e bigint, h text, lease_ms integer)"
    " RETURNS void LANGUAGE plpgsql AS $f$ BEGIN"
    " UPDATE cairn_leader SET renewed_at = now(), pid = pg_backend_pid(),"
    "  expires_at = now() + lease_ms * interval '1 millisecond'"
    "  WHERE id = 1 AND epoch = e AND holder = h;"
    " IF NOT FOUND THEN RAISE EXCEPTION 'epoch % no longer leads', e USING ERRCODE = 'CN001';"
    " END IF; END $f$;";

/* what, then ": detail" when there is one */
static void step_down(lead_t *l, const char *what, const char *detail)
{
    if (l->stepping)
        return;
    l->stepping = true;
    char why[700];
    snprintf(why, sizeof(why), "%s%s%s", what, detail && *detail ? ": " : "", detail ? detail : "");
    uv_timer_stop(&l->tick);
    l->ops.step_down(l->ops.arg, why);
}

/* journal_set_fence's callback: a fence sent, or its transaction
 * committed (the lease holds from the send). */
static void on_fence(void *arg, bool committed)
{
    lead_t *l = arg;
    uint64_t now = uv_hrtime();
    if (!committed) {
        l->sent_ns = now;
        return;
    }
    l->renewed_ns = l->sent_ns;
    l->valid_until_ns = l->sent_ns + (uint64_t)l->cfg.lease_ms * 800000u; /* 4/5, in ns */
}

bool lead_valid(lead_t *l)
{
    if (!l || !l->leading)
        return true;
    if (l->stepping)
        return false;
    if (uv_hrtime() <= l->valid_until_ns)
        return true;
    step_down(l, "the lease ran out by this scheduler's clock", NULL);
    return false;
}

bool lead_leading(const lead_t *l)
{
    return !l || (l->leading && !l->stepping);
}

uint64_t lead_epoch(const lead_t *l)
{
    return l ? l->epoch : 0;
}

const char *lead_leader_endpoints(const lead_t *l, bool workers)
{
    return workers ? l->leader_workers : l->leader_clients;
}

static int apply_row(lead_t *l, sdb_stmt_t *st, bool *gap)
{
    uint64_t seq = (uint64_t)sdb_column_int64(st, 0);
    if (seq != l->applied + 1) {
        *gap = true; /* pruned past what this core has: start from a snapshot */
        return -1;
    }
    int rc = l->ops.apply(l->ops.arg, seq, sdb_column_blob(st, 1), (size_t)sdb_column_bytes(st, 1));
    if (rc == 0)
        l->applied = seq;
    return rc;
}

/* Apply every committed entry after l->applied. */
static int follow(lead_t *l)
{
    for (;;) {
        sdb_stmt_t *st;
        if (sdb_prepare(l->db, "SELECT seq, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                        &st) != SDB_OK)
            return -EIO;
        sdb_bind_int64(st, 1, (int64_t)l->applied);
        sdb_bind_int64(st, 2, FOLLOW_BATCH);
        int n = 0, s, rc = 0;
        bool gap = false;
        while ((s = sdb_step(st)) == SDB_ROW && (rc = apply_row(l, st, &gap)) == 0)
            n++;
        sdb_finalize(st);
        if (gap) {
            step_down(l, "following: entries were pruned past this standby's", NULL);
            return -ESTALE;
        }
        if (rc != 0 || (s != SDB_DONE && s != SDB_ROW))
            return -EIO;
        if (n < FOLLOW_BATCH)
            return 0;
    }
}

/* Read the lease row: who leads, whether it may be taken. 1: claimable. */
static int read_lease(lead_t *l, bool *expired)
{
    sdb_stmt_t *st;
    if (sdb_prepare(l->db,
                    "SELECT epoch, holder, client_endpoints, worker_endpoints,"
                    " expires_at < now(), NOT EXISTS (SELECT 1 FROM pg_stat_activity a"
                    "  WHERE a.pid = cairn_leader.pid), expires_at > now()"
                    " FROM cairn_leader WHERE id = 1",
                    &st) != SDB_OK)
        return -EIO;
    int rc = -EIO;
    if (sdb_step(st) == SDB_ROW) {
        const char *h = (const char *)sdb_column_text(st, 1);
        bool live = sdb_column_int64(st, 6) != 0;
        *expired = sdb_column_int64(st, 4) != 0;
        bool gone = sdb_column_int64(st, 5) != 0;
        if (!l->leading)
            l->epoch = (uint64_t)sdb_column_int64(st, 0);
        snprintf(l->leader_holder, sizeof(l->leader_holder), "%s", h ? h : "");
        /* a standby names the leader only while its lease holds */
        const char *c = live ? (const char *)sdb_column_text(st, 2) : "";
        const char *w = live ? (const char *)sdb_column_text(st, 3) : "";
        snprintf(l->leader_clients, sizeof(l->leader_clients), "%s", c ? c : "");
        snprintf(l->leader_workers, sizeof(l->leader_workers), "%s", w ? w : "");
        /* a name of its own is no claim: two instances given the same
         * name by mistake still take turns only by the lease */
        rc = *expired || gone ? 1 : 0;
    }
    sdb_finalize(st);
    return rc;
}

/* Take the lease: 1 taken (l->epoch), 0 not, <0 error (-EAGAIN: the
 * row is locked by a transaction). */
static int claim(lead_t *l)
{
    sdb_stmt_t *st;
    if (sdb_prepare(
            l->db,
            "UPDATE cairn_leader SET epoch = epoch + 1, holder = ?1,"
            " client_endpoints = ?2, worker_endpoints = ?3, pid = pg_backend_pid(),"
            " renewed_at = now(), expires_at = now() + ?4::bigint * interval '1 millisecond'"
            " WHERE id = 1 AND (expires_at < now() OR NOT EXISTS"
            " (SELECT 1 FROM pg_stat_activity a WHERE a.pid = cairn_leader.pid))"
            " RETURNING epoch",
            &st) != SDB_OK)
        return -EIO;
    sdb_bind_text(st, 1, l->holder, -1, SDB_STATIC);
    sdb_bind_text(st, 2, l->clients, -1, SDB_STATIC);
    sdb_bind_text(st, 3, l->workers, -1, SDB_STATIC);
    sdb_bind_int64(st, 4, l->cfg.lease_ms);
    uint64_t sent = uv_hrtime();
    int s = sdb_step(st), rc = 0;
    if (s == SDB_ROW) {
        l->epoch = (uint64_t)sdb_column_int64(st, 0);
        l->sent_ns = l->renewed_ns = sent;
        l->valid_until_ns = sent + (uint64_t)l->cfg.lease_ms * 800000u;
        rc = 1;
    } else if (s != SDB_DONE) {
        rc = !strcmp(sdb_sqlstate(l->db), "55P03") ? -EAGAIN : -EIO;
    }
    sdb_finalize(st);
    return rc;
}

/* A frozen leader inside a transaction holds the lease row: once its
 * lease has expired by the database's clock, end its session. */
static void terminate_frozen(lead_t *l)
{
    int rc = sdb_exec(l->db,
                      "SELECT pg_terminate_backend(pid::integer, 1000::bigint) FROM cairn_leader"
                      " WHERE id = 1 AND expires_at < now() AND pid <> pg_backend_pid()",
                      NULL);
    cairn_log(l->log, CAIRN_LOG_WARN,
              "the leader's lease expired while it held a transaction open: %s",
              rc == SDB_OK ? "ended its database session" : sdb_errmsg(l->db));
}

static void note_instance(lead_t *l)
{
    sdb_stmt_t *st;
    if (sdb_prepare(
            l->db,
            "INSERT INTO cairn_instances VALUES (?, ?, ?, ?, ?, now())"
            " ON CONFLICT (holder) DO UPDATE SET client_endpoints = EXCLUDED.client_endpoints,"
            " worker_endpoints = EXCLUDED.worker_endpoints, epoch = EXCLUDED.epoch,"
            " applied_seq = EXCLUDED.applied_seq, seen_at = EXCLUDED.seen_at",
            &st) != SDB_OK)
        return;
    sdb_bind_text(st, 1, l->holder, -1, SDB_STATIC);
    sdb_bind_text(st, 2, l->clients, -1, SDB_STATIC);
    sdb_bind_text(st, 3, l->workers, -1, SDB_STATIC);
    sdb_bind_int64(st, 4, (int64_t)l->epoch);
    sdb_bind_int64(st, 5, (int64_t)(l->leading ? journal_head(l->j) : l->applied));
    sdb_step(st);
    sdb_finalize(st);
}

/* What `cairn schedulers` shows, read outside any transaction. */
static void read_instances(lead_t *l)
{
    sdb_stmt_t *st;
    if (sdb_prepare(l->db, "SELECT COALESCE(MAX(seq), 0) FROM events", &st) == SDB_OK) {
        if (sdb_step(st) == SDB_ROW)
            l->head = (uint64_t)sdb_column_int64(st, 0);
        sdb_finalize(st);
    }
    if (sdb_prepare(l->db,
                    "SELECT i.holder, i.client_endpoints, i.worker_endpoints, i.epoch,"
                    " i.applied_seq, (EXTRACT(EPOCH FROM now() - i.seen_at) * 1000)::bigint,"
                    " (c.holder = i.holder AND c.expires_at > now())"
                    " FROM cairn_instances i, cairn_leader c WHERE c.id = 1"
                    " ORDER BY (c.holder = i.holder AND c.expires_at > now()) DESC, i.holder"
                    " LIMIT ?",
                    &st) != SDB_OK)
        return;
    sdb_bind_int64(st, 1, INSTANCES_MAX);
    size_t n = 0;
    while (n < INSTANCES_MAX && sdb_step(st) == SDB_ROW) {
        instance_t *x = &l->inst[n++];
        const char *h = (const char *)sdb_column_text(st, 0);
        const char *c = (const char *)sdb_column_text(st, 1);
        const char *w = (const char *)sdb_column_text(st, 2);
        snprintf(x->holder, sizeof(x->holder), "%s", h ? h : "");
        snprintf(x->clients, sizeof(x->clients), "%s", c ? c : "");
        snprintf(x->workers, sizeof(x->workers), "%s", w ? w : "");
        x->epoch = (uint64_t)sdb_column_int64(st, 3);
        x->applied = (uint64_t)sdb_column_int64(st, 4);
        x->seen_ms_ago = sdb_column_int64(st, 5);
        x->leader = sdb_column_int64(st, 6) != 0;
    }
    l->ninst = n;
    sdb_finalize(st);
}

/* Standby: take over once claimed. */
static void take_over(lead_t *l)
{
    cairn_error_t err = {{0}};
    /* nothing of the old epoch can commit now: catch up to the end */
    if (follow(l) < 0 || journal_heads(l->j, &err) < 0) {
        step_down(l, "taking over", err.text[0] ? err.text : sdb_errmsg(l->db));
        return;
    }
    l->leading = true;
    journal_set_fence(l->j, l->epoch, l->holder, l->cfg.lease_ms, on_fence, l);
    cairn_log(l->log, CAIRN_LOG_WARN,
              "leading the schedulers as %s, epoch %" PRIu64 " (from journal entry %" PRIu64 ")",
              l->holder, l->epoch, l->applied);
    if (l->ops.lead(l->ops.arg, l->epoch, &err) < 0)
        step_down(l, "taking over", err.text);
}

static void stand_by_tick(lead_t *l)
{
    bool expired = false;
    if (follow(l) < 0)
        goto broken;
    int c = read_lease(l, &expired);
    if (c < 0)
        goto broken;
    if (c == 1) {
        int rc = claim(l);
        if (rc == -EAGAIN && expired)
            terminate_frozen(l);
        else if (rc < 0 && rc != -EAGAIN)
            goto broken;
        if (rc == 1) {
            take_over(l);
            return;
        }
    }
    /* say it is here, and read the others (cairn schedulers), every
     * lease/3: not at every tick */
    uint64_t now = uv_hrtime();
    if (now - l->noted_ns >= (uint64_t)l->cfg.lease_ms * 1000000u / 3) {
        note_instance(l);
        read_instances(l);
        l->noted_ns = now;
    }
    return;
broken:
    if (!l->stepping && sdb_broken(l->db))
        step_down(l, "standing by", sdb_errmsg(l->db));
    else if (!l->stepping)
        cairn_log(l->log, CAIRN_LOG_WARN, "standing by: %s", sdb_errmsg(l->db));
}

static void lead_tick(lead_t *l)
{
    if (!lead_valid(l))
        return;
    if (journal_pending(l->j))
        return; /* its commit renews */
    uint64_t now = uv_hrtime(), third = (uint64_t)l->cfg.lease_ms * 1000000u / 3;
    /* renew an idle leader's lease, and say it is here (cairn schedulers) */
    if (now - l->renewed_ns >= third || now - l->noted_ns >= third) {
        cairn_error_t err = {{0}};
        int rc = journal_begin(l->j, &err);
        if (rc == 0) {
            note_instance(l);
            l->noted_ns = now;
        }
        if (rc < 0 || journal_commit(l->j, &err) < 0) {
            journal_rollback(l->j);
            step_down(l, "renewing the lease", err.text);
            return;
        }
        read_instances(l);
    }
}

static void tick_cb(uv_timer_t *t)
{
    lead_t *l = t->data;
    if (l->stepping)
        return;
    if (l->leading)
        lead_tick(l);
    else
        stand_by_tick(l);
}

int lead_create(uv_loop_t *loop, journal_t *j, const lead_config_t *cfg, const lead_ops_t *ops,
                uint64_t applied, cairn_log_t *log, lead_t **out, cairn_error_t *err)
{
    lead_t *l = calloc(1, sizeof(*l));
    if (!l)
        return errcode(err, -ENOMEM, "out of memory");
    l->loop = loop;
    l->j = j;
    l->db = journal_db(j);
    l->cfg = *cfg;
    l->ops = *ops;
    l->log = log;
    l->applied = applied;
    l->holder = strdup(cfg->holder);
    l->clients = strdup(cfg->client_endpoints);
    l->workers = strdup(cfg->worker_endpoints);
    uv_timer_init(loop, &l->tick);
    l->tick.data = l;
    if (!l->holder || !l->clients || !l->workers) {
        lead_destroy(l);
        return errcode(err, -ENOMEM, "out of memory");
    }
    char set[160];
    int64_t wait = cfg->lease_ms / 2 < 1000 ? cfg->lease_ms / 2 : 1000;
    snprintf(set, sizeof(set), "SET lock_timeout = '%" PRId64 "ms'", wait);
    char *msg = NULL;
    if (sdb_exec(l->db, "SELECT pg_advisory_lock(" JOURNAL_SCHEMA_LOCK ")", &msg) != SDB_OK ||
        sdb_exec(l->db, schema, &msg) != SDB_OK ||
        sdb_exec(l->db, "SELECT pg_advisory_unlock(" JOURNAL_SCHEMA_LOCK ")", &msg) != SDB_OK ||
        sdb_exec(l->db, set, &msg) != SDB_OK) {
        int rc = errcode(err, -EIO, "leadership tables: %s", msg ? msg : "error");
        sdb_free(msg);
        lead_destroy(l);
        return rc;
    }
    bool expired = false;
    int rc = read_lease(l, &expired);
    if (rc == 1)
        rc = claim(l);
    if (rc < 0 && rc != -EAGAIN) {
        rc = errcode(err, -EIO, "leadership: %s", sdb_errmsg(l->db));
        lead_destroy(l);
        return rc;
    }
    if (rc == 1) {
        l->leading = true;
        journal_set_fence(j, l->epoch, l->holder, cfg->lease_ms, on_fence, l);
        cairn_log(log, CAIRN_LOG_INFO, "leading the schedulers as %s, epoch %" PRIu64, l->holder,
                  l->epoch);
    } else {
        cairn_log(log, CAIRN_LOG_INFO, "standing by as %s: %s leads (epoch %" PRIu64 ")", l->holder,
                  l->leader_holder[0] ? l->leader_holder : "nobody", l->epoch);
        note_instance(l);
    }
    read_instances(l);
    uint64_t every = (uint64_t)cfg->lease_ms / 4;
    every = every > 200 ? 200 : every < 50 ? 50 : every;
    uv_timer_start(&l->tick, tick_cb, every, every);
    *out = l;
    return 0;
}

static void closed_cb(uv_handle_t *h)
{
    free(h->data);
}

void lead_destroy(lead_t *l)
{
    if (!l)
        return;
    if (l->j)
        journal_set_fence(l->j, 0, NULL, 0, NULL, NULL);
    free(l->holder);
    free(l->clients);
    free(l->workers);
    uv_close((uv_handle_t *)&l->tick, closed_cb);
}

void lead_fill_reply(lead_t *l, Cairn__SchedulersReply *rep)
{
    rep->head_seq = l->head > journal_head(l->j) ? l->head : journal_head(l->j);
    rep->lease_ms = l->cfg.lease_ms;
    int64_t gone_ms = INSTANCE_GONE_LEASES * l->cfg.lease_ms;
    for (size_t i = 0; i < l->ninst; i++) {
        instance_t *x = &l->inst[i];
        Cairn__SchedulerInstance *r = &l->rep_inst[i];
        cairn__scheduler_instance__init(r);
        r->holder = x->holder;
        r->client_endpoints = x->clients;
        r->worker_endpoints = x->workers;
        r->leader = x->leader;
        r->epoch = x->epoch;
        r->applied_seq = x->applied;
        r->lag = rep->head_seq > x->applied ? rep->head_seq - x->applied : 0;
        r->seen_ms_ago = x->seen_ms_ago;
        r->state = x->leader ? "leading" : x->seen_ms_ago > gone_ms ? "gone" : "standby";
        l->rep_ptr[i] = r;
    }
    rep->n_instances = l->ninst;
    rep->instances = l->rep_ptr;
}
