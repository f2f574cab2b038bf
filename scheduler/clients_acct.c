/* AccountingRequest and UsageRequest: the data of cairn report and the
 * trace of cairn plan. Anyone who may read the cluster's state may read
 * these (as cairn jobs and status).
 *
 * Ended attempts are answered from their history records (history.h),
 * written here when they end, in the commit that ends them; running ones
 * from the core. The reads of history, provenance and usage samples run on
 * the reader thread (reader.h), a page at a time: the loop only builds the
 * records of what runs now (bounded by the cluster's size). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/grow.h"
#include "scheduler/checkpoint.h"
#include "scheduler/clients_private.h"
#include "scheduler/view.h"

/* Records in one reply at most (a page; AccountingRequest.limit). */
#define ACCT_PAGE_DEFAULT 5000
#define ACCT_PAGE_MAX 20000

/* The packed records of one attempt (one per replica) as the core knows
 * it; what was measured outside the core is added when read (fill_used). */
typedef struct packed {
    uint64_t attempt;
    uint32_t rank;
    uint8_t *buf;
    size_t len;
} packed_t;

typedef struct packs {
    packed_t *v;
    size_t n, cap;
    bool oom;
} packs_t;

static void packs_fini(packs_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i].buf);
    free(p->v);
    memset(p, 0, sizeof(*p));
}

static void packs_add(packs_t *p, const Cairn__AccountingRecord *m)
{
    if (CAIRN_GROW(p->v, p->cap, p->n + 1) < 0) {
        p->oom = true;
        return;
    }
    size_t len = cairn__accounting_record__get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        p->oom = true;
        return;
    }
    cairn__accounting_record__pack(m, buf);
    p->v[p->n++] = (packed_t){m->attempt_id, m->rank, buf, len};
}

/* --- a page of records, on the reader thread ------------------------------- */

typedef struct acct_job {
    sched_daemon_t *d;
    cairn_peer_t from;
    int64_t since, until, now;
    uint64_t after_attempt;
    uint32_t after_rank, limit;
    packs_t running; /* sorted by (attempt, rank) */
    size_t next_running;
    /* the answer */
    Cairn__AccountingRecord **recs;
    size_t nrecs;
    bool more;
    uint8_t *reply;
    size_t reply_len;
    char error[256];
} acct_job_t;

static bool before(uint64_t a1, uint32_t r1, uint64_t a2, uint32_t r2)
{
    return a1 < a2 || (a1 == a2 && r1 < r2);
}

/* CPU time and peak memory from provenance, GPU use from usage samples. */
static void fill_used(const reader_stores_t *st, Cairn__AccountingRecord *m, int64_t now)
{
    Cairn__AttemptProvenance *pe = NULL;
    if (prov_load(st->prov, m->attempt_id, m->rank, NULL, &pe, NULL) == 0 && pe) {
        m->cpu_seconds_used = (double)pe->cpu_time_usec / 1e6;
        m->peak_rss_bytes = pe->peak_rss_bytes;
        /* the newest checkpoint it left: what a preemption did not waste */
        m->checkpoint_time_ms = ckpt_newest_mtime(pe->checkpoint_end, pe->n_checkpoint_end);
    }
    if (pe)
        cairn__attempt_provenance__free_unpacked(pe, NULL);
    int64_t start = m->start_time_ms, end = m->end_time_ms ? m->end_time_ms : now;
    double used = -1;
    for (size_t i = 0; start > 0 && end > start && i < m->n_gpu_ids; i++) {
        double u = usage_gpu_seconds(st->usage, m->node, m->gpu_ids[i]->index, start, end);
        if (u >= 0)
            used = (used < 0 ? 0 : used) + u;
    }
    m->gpu_seconds_used = m->n_gpu_ids ? used : -1;
}

/* Take a record (owned) into the page; false when the page is full. */
static bool page_take(acct_job_t *j, Cairn__AccountingRecord *m)
{
    if (j->nrecs == j->limit) {
        j->more = true;
        cairn__accounting_record__free_unpacked(m, NULL);
        return false;
    }
    j->recs[j->nrecs++] = m;
    return true;
}

/* Running records that sort before (a, r) go first. */
static bool take_running_before(acct_job_t *j, uint64_t a, uint32_t r)
{
    while (j->next_running < j->running.n) {
        packed_t *p = &j->running.v[j->next_running];
        if (!before(p->attempt, p->rank, a, r))
            break;
        j->next_running++;
        Cairn__AccountingRecord *m = cairn__accounting_record__unpack(NULL, p->len, p->buf);
        if (!m || !page_take(j, m))
            return false;
    }
    return true;
}

static int history_row(Cairn__AccountingRecord *r, void *arg)
{
    acct_job_t *j = arg;
    if (!view_account_fill(&r->account)) {
        snprintf(j->error, sizeof(j->error), "out of memory");
        cairn__accounting_record__free_unpacked(r, NULL);
        return 1;
    }
    if (!take_running_before(j, r->attempt_id, r->rank)) {
        cairn__accounting_record__free_unpacked(r, NULL);
        return 1;
    }
    return page_take(j, r) ? 0 : 1;
}

static void acct_work(const reader_stores_t *st, void *arg)
{
    acct_job_t *j = arg;
    cairn_error_t err = {{0}};
    j->recs = calloc(j->limit + 1, sizeof(*j->recs));
    if (!j->recs) {
        snprintf(j->error, sizeof(j->error), "out of memory");
        return;
    }
    /* one more than the page: whether there is more */
    if (history_page(st->history, j->since, j->until, j->after_attempt, j->after_rank, j->limit + 1,
                     history_row, j, &err) < 0) {
        snprintf(j->error, sizeof(j->error), "%s", err.text);
        return;
    }
    if (!j->more && !j->error[0])
        take_running_before(j, UINT64_MAX, UINT32_MAX);
    for (size_t i = 0; i < j->nrecs; i++)
        fill_used(st, j->recs[i], j->now);
    Cairn__AccountingReply rep = CAIRN__ACCOUNTING_REPLY__INIT;
    rep.n_records = j->nrecs;
    rep.records = j->recs;
    rep.more = j->more;
    if (j->nrecs) {
        rep.next_attempt_id = j->recs[j->nrecs - 1]->attempt_id;
        rep.next_rank = j->recs[j->nrecs - 1]->rank;
    }
    if (cairn_msg_encode(CAIRN_MSG_ACCOUNTING_REPLY, &rep.base, &j->reply, &j->reply_len, &err) < 0)
        snprintf(j->error, sizeof(j->error), "%s", err.text);
}

/* Send an encoded reply, or the error, on the loop. */
static void acct_done(void *arg, bool aborted)
{
    acct_job_t *j = arg;
    if (!aborted)
        clients_reply_raw(j->d, &j->from, j->reply, j->reply_len, j->error);
    for (size_t i = 0; i < j->nrecs; i++)
        cairn__accounting_record__free_unpacked(j->recs[i], NULL);
    free(j->recs);
    free(j->reply);
    packs_fini(&j->running);
    free(j);
}

static void pack_record(sched_daemon_t *d, const Cairn__AccountingRecord *m, void *arg)
{
    acct_job_t *j = arg;
    if (m->placed_time_ms < j->until &&
        before(j->after_attempt, j->after_rank, m->attempt_id, m->rank))
        packs_add(&j->running, m);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void clients_accounting(sched_daemon_t *d, const client_req_t *rq,
                        const Cairn__AccountingRequest *q)
{
    const cairn_peer_t *from = rq->from;
    acct_job_t *j = calloc(1, sizeof(*j));
    if (!j) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_INTERNAL, "out of memory");
        return;
    }
    j->d = d;
    j->from = *from;
    j->now = cairn_wall_ms();
    j->since = q->since_ms;
    j->until = q->until_ms > 0 ? q->until_ms : INT64_MAX;
    j->after_attempt = q->after_attempt_id;
    j->after_rank = q->after_rank;
    j->limit = q->limit ? (q->limit < ACCT_PAGE_MAX ? q->limit : ACCT_PAGE_MAX) : ACCT_PAGE_DEFAULT;
    cairn_error_t ferr = {{0}};
    if (usage_flush(d->st->usage, &ferr) < 0) /* GPU use up to now, for the reader */
        cairn_log(d->log, CAIRN_LOG_WARN, "%s", ferr.text);
    /* what runs now (and waits queued on a node), by attempt: few */
    uint32_t nn = sched_node_count(d->core);
    size_t total = 0;
    for (uint32_t n = 0; n < nn; n++)
        total += sched_node_attempts(d->core, n, NULL, 0);
    uint64_t *ids = calloc(total + 1, sizeof(uint64_t));
    size_t k = 0;
    for (uint32_t n = 0; ids && n < nn; n++)
        k += sched_node_attempts(d->core, n, ids + k, total - k);
    if (ids) {
        qsort(ids, k, sizeof(uint64_t), cmp_u64);
        for (size_t i = 0; i < k && !j->running.oom; i++)
            if (i == 0 || ids[i] != ids[i - 1])
                records_of_attempt(d, ids[i], j->now, pack_record, j);
    }
    free(ids);
    if (!ids || j->running.oom) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_INTERNAL, "out of memory");
        acct_done(j, true);
        return;
    }
    cairn_log(d->log, CAIRN_LOG_DEBUG,
              "accounting after attempt %llu.%u (%zu running): to the reader",
              (unsigned long long)j->after_attempt, j->after_rank, j->running.n);
    if (clients_read_later(d, from, acct_work, acct_done, j) < 0)
        acct_done(j, true);
}

/* --- usage samples, on the reader thread ----------------------------------- */

typedef struct usage_job {
    sched_daemon_t *d;
    cairn_peer_t from;
    int64_t since, until;
    bool timeline_only;
    uint8_t *reply;
    size_t reply_len;
    char error[256];
    bool unavailable;
} usage_job_t;

static void usage_work(const reader_stores_t *st, void *arg)
{
    usage_job_t *j = arg;
    Cairn__UsageReply rep = CAIRN__USAGE_REPLY__INIT;
    cairn_error_t err = {{0}};
    if ((!j->timeline_only && usage_query(st->usage, j->since, j->until, &rep, &err) < 0) ||
        timeline_query(st->timeline, j->since, j->until, &rep, &err) < 0 ||
        cairn_msg_encode(CAIRN_MSG_USAGE_REPLY, &rep.base, &j->reply, &j->reply_len, &err) < 0)
        snprintf(j->error, sizeof(j->error), "%s", err.text);
    timeline_reply_fini(&rep);
    usage_reply_fini(&rep);
}

static void usage_done(void *arg, bool aborted)
{
    usage_job_t *j = arg;
    if (!aborted)
        clients_reply_raw(j->d, &j->from, j->reply, j->reply_len, j->error);
    free(j->reply);
    free(j);
}

void clients_usage(sched_daemon_t *d, const client_req_t *rq, const Cairn__UsageRequest *q)
{
    const cairn_peer_t *from = rq->from;
    usage_job_t *j = calloc(1, sizeof(*j));
    if (!j) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_INTERNAL, "out of memory");
        return;
    }
    *j = (usage_job_t){.d = d,
                       .from = *from,
                       .since = q->since_ms,
                       .until = q->until_ms,
                       .timeline_only = q->timeline_only};
    cairn_error_t err = {{0}};
    if (usage_flush(d->st->usage, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "%s", err.text);
    if (clients_read_later(d, from, usage_work, usage_done, j) < 0)
        usage_done(j, true);
}
