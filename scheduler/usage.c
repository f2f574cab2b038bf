/* Resource usage over time; see usage.h. */
#include "scheduler/usage.h"
#include "common/grow.h"

#include "scheduler/sdb.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS (24ll * 3600 * 1000)
#define FIVE_MIN_MS (300ll * 1000)
#define HOUR_MS (3600ll * 1000)

/* A report waiting to be written (see usage_put_report). */
typedef struct pending {
    char *node;
    int64_t time_ms, span_ms;
    uint32_t load_milli;
    uint64_t mem_used, mem_total;
    size_t ngpus, ntasks;
    struct {
        uint32_t index, util;
        uint64_t mem_used;
    } * gpus;
    struct {
        uint64_t attempt, cpu_usec, rss, peak;
    } * tasks;
} pending_t;

#define USAGE_PENDING_MAX 100000

struct usage {
    journal_t *j;
    sdb_stmt_t *put_node, *put_gpu, *put_census, *put_task;
    sdb_stmt_t *gpu_busy; /* usage_gpu_seconds: once per record and GPU */
    pending_t *pending;
    size_t npending, pending_cap;
};

void acct_shape(uint32_t cpus, uint32_t gpus, const char *gpu_model, uint32_t replicas, char *buf,
                size_t n)
{
    /* as scheduling/sim.c names shapes, so reports and plans agree */
    size_t len = (size_t)snprintf(buf, n, "%uc", cpus);
    if (gpus && len < n)
        len += (size_t)snprintf(buf + len, n - len, " %ug", gpus);
    if (gpus && gpu_model && *gpu_model && len < n)
        len += (size_t)snprintf(buf + len, n - len, " %s", gpu_model);
    if (replicas > 1 && len < n)
        snprintf(buf + len, n - len, " x%u", replicas);
}

int usage_open(journal_t *j, usage_t **out, cairn_error_t *err)
{
    usage_t *u = calloc(1, sizeof(*u));
    if (!u)
        return errcode(err, -ENOMEM, "out of memory");
    u->j = j;
    sdb_t *db = journal_db(j);
    if (sdb_exec(db,
                 "CREATE TABLE IF NOT EXISTS usage_nodes (node TEXT NOT NULL,"
                 " time_ms INTEGER NOT NULL, span_ms INTEGER NOT NULL, load_milli REAL,"
                 " mem_used REAL, mem_total INTEGER);"
                 "CREATE INDEX IF NOT EXISTS usage_nodes_time ON usage_nodes (time_ms);"
                 "CREATE TABLE IF NOT EXISTS usage_gpus (node TEXT NOT NULL, idx INTEGER,"
                 " time_ms INTEGER NOT NULL, span_ms INTEGER NOT NULL, util REAL,"
                 " mem_used REAL);"
                 "CREATE INDEX IF NOT EXISTS usage_gpus_node ON usage_gpus (node, idx,"
                 " time_ms);"
                 "CREATE INDEX IF NOT EXISTS usage_gpus_time ON usage_gpus (time_ms);"
                 "CREATE TABLE IF NOT EXISTS usage_census (time_ms INTEGER NOT NULL,"
                 " span_ms INTEGER NOT NULL, shape TEXT NOT NULL, waiting REAL,"
                 " gpus_wanted REAL, idle_split REAL, idle_cpu_mem REAL, idle_model REAL,"
                 " idle_other REAL, gpus_total REAL, gpus_free REAL);"
                 "CREATE INDEX IF NOT EXISTS usage_census_time ON usage_census (time_ms);"
                 "CREATE TABLE IF NOT EXISTS usage_tasks (attempt INTEGER, node TEXT,"
                 " time_ms INTEGER NOT NULL, span_ms INTEGER NOT NULL, cpu_usec REAL,"
                 " rss REAL, peak_rss REAL);"
                 "CREATE INDEX IF NOT EXISTS usage_tasks_time ON usage_tasks (time_ms);",
                 NULL) != SDB_OK) {
        int rc = journal_sql_error(u->j, err, "usage", "open");
        usage_close(u);
        return rc;
    }
    /* waiting on an account limit (a later release's columns): none
     * before accounts */
    int rc = journal_add_column(j, "usage_census", "limited", "REAL NOT NULL DEFAULT 0", err);
    if (rc == 0)
        rc = journal_add_column(j, "usage_census", "idle_limit", "REAL NOT NULL DEFAULT 0", err);
    if (rc == 0) /* network-aware gangs: none before them */
        rc = journal_add_column(j, "usage_census", "idle_topo", "REAL NOT NULL DEFAULT 0", err);
    if (rc < 0) {
        usage_close(u);
        return rc;
    }
    if (sdb_prepare(db, "INSERT INTO usage_nodes VALUES (?,?,?,?,?,?)", &u->put_node) != SDB_OK ||
        sdb_prepare(db, "INSERT INTO usage_gpus VALUES (?,?,?,?,?,?)", &u->put_gpu) != SDB_OK ||
        sdb_prepare(db,
                    "INSERT INTO usage_census (time_ms, span_ms, shape, waiting,"
                    " gpus_wanted, idle_split, idle_cpu_mem, idle_model, idle_other,"
                    " gpus_total, gpus_free, limited, idle_limit, idle_topo) VALUES"
                    " (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    &u->put_census) != SDB_OK ||
        sdb_prepare(db, "INSERT INTO usage_tasks VALUES (?,?,?,?,?,?,?)", &u->put_task) != SDB_OK ||
        sdb_prepare(db,
                    "SELECT time_ms, span_ms, util FROM usage_gpus WHERE node = ? AND"
                    " idx = ? AND time_ms > ? AND time_ms - span_ms < ?",
                    &u->gpu_busy) != SDB_OK) {
        rc = journal_sql_error(u->j, err, "usage", "open");
        usage_close(u);
        return rc;
    }
    *out = u;
    return 0;
}

static void pending_clear(usage_t *u)
{
    for (size_t i = 0; i < u->npending; i++) {
        free(u->pending[i].node);
        free(u->pending[i].gpus);
        free(u->pending[i].tasks);
    }
    u->npending = 0;
}

void usage_close(usage_t *u)
{
    if (!u)
        return;
    pending_clear(u);
    free(u->pending);
    sdb_finalize(u->put_node);
    sdb_finalize(u->put_gpu);
    sdb_finalize(u->put_census);
    sdb_finalize(u->put_task);
    sdb_finalize(u->gpu_busy);
    free(u);
}

static int step(usage_t *u, sdb_stmt_t *st, cairn_error_t *err)
{
    int rc = sdb_step(st) == SDB_DONE ? 0 : journal_sql_error(u->j, err, "usage", "record");
    sdb_reset(st);
    sdb_clear_bindings(st);
    return rc;
}

int usage_put_report(usage_t *u, const char *node, int64_t span_ms, const Cairn__ResourceReport *r,
                     cairn_error_t *err)
{
    /* kept in memory until the next usage_flush: reports from hundreds of
     * nodes must not each cost a commit */
    if (u->npending >= USAGE_PENDING_MAX)
        return errcode(err, -ENOSPC, "usage: %d reports not written yet: dropped one",
                       USAGE_PENDING_MAX);
    if (CAIRN_GROW(u->pending, u->pending_cap, u->npending + 1) < 0)
        return errcode(err, -ENOMEM, "out of memory");
    pending_t *p = &u->pending[u->npending];
    memset(p, 0, sizeof(*p));
    p->node = strdup(node);
    p->gpus = r->n_gpus ? calloc(r->n_gpus, sizeof(*p->gpus)) : NULL;
    p->tasks = r->n_tasks ? calloc(r->n_tasks, sizeof(*p->tasks)) : NULL;
    if (!p->node || (r->n_gpus && !p->gpus) || (r->n_tasks && !p->tasks)) {
        free(p->node);
        free(p->gpus);
        free(p->tasks);
        return errcode(err, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < r->n_tasks; i++) {
        p->tasks[i].attempt = r->tasks[i]->attempt_id;
        p->tasks[i].cpu_usec = r->tasks[i]->cpu_time_usec;
        p->tasks[i].rss = r->tasks[i]->rss_bytes;
        p->tasks[i].peak = r->tasks[i]->peak_rss_bytes;
    }
    p->ntasks = r->n_tasks;
    p->time_ms = r->time_ms;
    p->span_ms = span_ms;
    p->load_milli = r->load_avg_1_milli;
    p->mem_used = r->memory_used_bytes;
    p->mem_total = r->memory_total_bytes;
    for (size_t i = 0; i < r->n_gpus; i++) {
        p->gpus[i].index = r->gpus[i]->index;
        p->gpus[i].util = r->gpus[i]->utilization_percent;
        p->gpus[i].mem_used = r->gpus[i]->memory_used_bytes;
    }
    p->ngpus = r->n_gpus;
    u->npending++;
    return 0;
}

int usage_flush(usage_t *u, cairn_error_t *err)
{
    if (!u->npending)
        return 0;
    int rc = journal_begin(u->j, err);
    for (size_t k = 0; k < u->npending && rc == 0; k++) {
        const pending_t *p = &u->pending[k];
        sdb_stmt_t *st = u->put_node;
        sdb_bind_text(st, 1, p->node, -1, SDB_STATIC);
        sdb_bind_int64(st, 2, p->time_ms);
        sdb_bind_int64(st, 3, p->span_ms);
        sdb_bind_double(st, 4, p->load_milli);
        sdb_bind_double(st, 5, (double)p->mem_used);
        sdb_bind_int64(st, 6, (int64_t)p->mem_total);
        rc = step(u, st, err);
        for (size_t i = 0; i < p->ngpus && rc == 0; i++) {
            st = u->put_gpu;
            sdb_bind_text(st, 1, p->node, -1, SDB_STATIC);
            sdb_bind_int64(st, 2, p->gpus[i].index);
            sdb_bind_int64(st, 3, p->time_ms);
            sdb_bind_int64(st, 4, p->span_ms);
            sdb_bind_double(st, 5, p->gpus[i].util);
            sdb_bind_double(st, 6, (double)p->gpus[i].mem_used);
            rc = step(u, st, err);
        }
        for (size_t i = 0; i < p->ntasks && rc == 0; i++) {
            st = u->put_task;
            sdb_bind_int64(st, 1, (int64_t)p->tasks[i].attempt);
            sdb_bind_text(st, 2, p->node, -1, SDB_STATIC);
            sdb_bind_int64(st, 3, p->time_ms);
            sdb_bind_int64(st, 4, p->span_ms);
            sdb_bind_double(st, 5, (double)p->tasks[i].cpu_usec);
            sdb_bind_double(st, 6, (double)p->tasks[i].rss);
            sdb_bind_double(st, 7, (double)p->tasks[i].peak);
            rc = step(u, st, err);
        }
    }
    pending_clear(u);
    return rc;
}

/* One census row: a class's (total and free 0), or the cluster's (shape
 * "", k NULL: nothing waits). */
static int put_census_row(usage_t *u, int64_t t, int64_t span, const char *shape,
                          const sched_census_class_t *k, double total, double free_,
                          cairn_error_t *err)
{
    const sched_census_class_t none = {0};
    if (!k)
        k = &none;
    sdb_stmt_t *st = u->put_census;
    sdb_bind_int64(st, 1, t);
    sdb_bind_int64(st, 2, span);
    sdb_bind_text(st, 3, shape, -1, SDB_TRANSIENT);
    sdb_bind_double(st, 4, k->waiting);
    sdb_bind_double(st, 5, k->gpus_wanted);
    sdb_bind_double(st, 6, k->idle_split);
    sdb_bind_double(st, 7, k->idle_cpu_mem);
    sdb_bind_double(st, 8, k->idle_model);
    sdb_bind_double(st, 9, k->idle_other);
    sdb_bind_double(st, 10, total);
    sdb_bind_double(st, 11, free_);
    sdb_bind_double(st, 12, k->limited);
    sdb_bind_double(st, 13, k->idle_limit);
    sdb_bind_double(st, 14, k->idle_topo);
    return step(u, st, err);
}

int usage_put_census(usage_t *u, int64_t time_ms, int64_t span_ms, const sched_census_t *c,
                     cairn_error_t *err)
{
    int rc = journal_begin(u->j, err);
    if (rc < 0)
        return rc;
    rc = put_census_row(u, time_ms, span_ms, "", NULL, c->gpus_total, c->gpus_free, err);
    for (size_t i = 0; i < c->nclasses && rc == 0; i++) {
        const sched_census_class_t *k = &c->classes[i];
        char shape[160];
        acct_shape(k->cpus, k->gpus, k->gpu_model, k->replicas, shape, sizeof(shape));
        rc = put_census_row(u, time_ms, span_ms, shape, k, 0, 0, err);
    }
    return rc;
}

static int exec_bound(usage_t *u, const char *sql, int64_t a, int64_t b, cairn_error_t *err)
{
    sdb_stmt_t *st;
    if (sdb_prepare(journal_db(u->j), sql, &st) != SDB_OK)
        return journal_sql_error(u->j, err, "usage", "compact");
    sdb_bind_int64(st, 1, a);
    if (sdb_bind_parameter_count(st) >= 2)
        sdb_bind_int64(st, 2, b);
    int rc = sdb_step(st) == SDB_DONE ? 0 : journal_sql_error(u->j, err, "usage", "compact");
    sdb_finalize(st);
    return rc;
}

/* Samples before cut with spans under bucket become one per bucket (and
 * node, GPU or shape), weighted by span. */
static int merge(usage_t *u, int64_t cut, int64_t bucket, cairn_error_t *err)
{
    static const char *const sql[] = {
        "INSERT INTO usage_nodes SELECT node, (time_ms / ?2) * ?2 + ?2, sum(span_ms),"
        " sum(load_milli * span_ms) / sum(span_ms), sum(mem_used * span_ms) / sum(span_ms),"
        " max(mem_total) FROM usage_nodes WHERE time_ms < ?1 AND span_ms < ?2"
        " AND time_ms % ?2 != 0 GROUP BY node, time_ms / ?2",
        "DELETE FROM usage_nodes WHERE time_ms < ?1 AND span_ms < ?2 AND time_ms % ?2 != 0",
        "INSERT INTO usage_gpus SELECT node, idx, (time_ms / ?2) * ?2 + ?2, sum(span_ms),"
        " sum(util * span_ms) / sum(span_ms), sum(mem_used * span_ms) / sum(span_ms)"
        " FROM usage_gpus WHERE time_ms < ?1 AND span_ms < ?2 AND time_ms % ?2 != 0"
        " GROUP BY node, idx, time_ms / ?2",
        "DELETE FROM usage_gpus WHERE time_ms < ?1 AND span_ms < ?2 AND time_ms % ?2 != 0",
        "INSERT INTO usage_census (time_ms, span_ms, shape, waiting, gpus_wanted, idle_split,"
        " idle_cpu_mem, idle_model, idle_other, gpus_total, gpus_free, limited, idle_limit,"
        " idle_topo) SELECT (time_ms / ?2) * ?2 + ?2, sum(span_ms), shape,"
        " sum(waiting * span_ms) / sum(span_ms), sum(gpus_wanted * span_ms) / sum(span_ms),"
        " sum(idle_split * span_ms) / sum(span_ms), sum(idle_cpu_mem * span_ms) / sum(span_ms),"
        " sum(idle_model * span_ms) / sum(span_ms), sum(idle_other * span_ms) / sum(span_ms),"
        " sum(gpus_total * span_ms) / sum(span_ms), sum(gpus_free * span_ms) / sum(span_ms),"
        " sum(limited * span_ms) / sum(span_ms), sum(idle_limit * span_ms) / sum(span_ms),"
        " sum(idle_topo * span_ms) / sum(span_ms)"
        " FROM usage_census WHERE time_ms < ?1 AND span_ms < ?2 AND time_ms % ?2 != 0"
        " GROUP BY shape, time_ms / ?2",
        "DELETE FROM usage_census WHERE time_ms < ?1 AND span_ms < ?2 AND time_ms % ?2 != 0",
        "INSERT INTO usage_tasks SELECT attempt, node, (time_ms / ?2) * ?2 + ?2, sum(span_ms),"
        " max(cpu_usec), sum(rss * span_ms) / sum(span_ms), max(peak_rss) FROM usage_tasks"
        " WHERE time_ms < ?1 AND span_ms < ?2 AND time_ms % ?2 != 0"
        " GROUP BY attempt, node, time_ms / ?2",
        "DELETE FROM usage_tasks WHERE time_ms < ?1 AND span_ms < ?2 AND time_ms % ?2 != 0",
    };
    /* merged rows land on bucket boundaries (time % bucket == 0) and are
     * left alone; a raw one that lands there too is kept as it is */
    for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
        int rc = exec_bound(u, sql[i], cut, bucket, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int usage_compact(usage_t *u, int64_t now_ms, int64_t retention_ms, cairn_error_t *err)
{
    int rc = journal_begin(u->j, err);
    if (rc < 0)
        return rc;
    if ((rc = merge(u, now_ms - DAY_MS, FIVE_MIN_MS, err)) < 0 ||
        (rc = merge(u, now_ms - 7 * DAY_MS, HOUR_MS, err)) < 0)
        return rc;
    static const char *const drop[] = {"DELETE FROM usage_nodes WHERE time_ms < ?1",
                                       "DELETE FROM usage_gpus WHERE time_ms < ?1",
                                       "DELETE FROM usage_census WHERE time_ms < ?1",
                                       "DELETE FROM usage_tasks WHERE time_ms < ?1"};
    for (size_t i = 0; i < 4 && rc == 0; i++)
        rc = exec_bound(u, drop[i], now_ms - retention_ms, 0, err);
    return rc;
}

static char *dup_col(sdb_stmt_t *st, int i)
{
    const char *s = (const char *)sdb_column_text(st, i);
    return strdup(s ? s : "");
}

int usage_query(usage_t *u, int64_t since_ms, int64_t until_ms, Cairn__UsageReply *rep,
                cairn_error_t *err)
{
    sdb_t *db = journal_db(u->j);
    int frc = usage_flush(u, err); /* what was reported so far, too */
    if (frc < 0)
        return frc;
    sdb_stmt_t *st = NULL;
    size_t cap = 0;
    if (until_ms <= 0)
        until_ms = INT64_MAX;
    if (sdb_prepare(db,
                    "SELECT node, time_ms, span_ms, load_milli, mem_used, mem_total FROM"
                    " usage_nodes WHERE time_ms >= ? AND time_ms - span_ms < ?"
                    " ORDER BY node, time_ms",
                    &st) != SDB_OK)
        return journal_sql_error(u->j, err, "usage", "query");
    sdb_bind_int64(st, 1, since_ms);
    sdb_bind_int64(st, 2, until_ms);
    while (sdb_step(st) == SDB_ROW) {
        if (CAIRN_GROW(rep->nodes, cap, rep->n_nodes + 1) < 0)
            goto oom;
        Cairn__NodeUsageSample *m = malloc(sizeof(*m));
        if (!m)
            goto oom;
        cairn__node_usage_sample__init(m);
        rep->nodes[rep->n_nodes++] = m;
        m->node = dup_col(st, 0);
        m->time_ms = sdb_column_int64(st, 1);
        m->span_ms = sdb_column_int64(st, 2);
        m->load_milli = (uint32_t)sdb_column_double(st, 3);
        m->memory_used_bytes = (uint64_t)sdb_column_double(st, 4);
        m->memory_total_bytes = (uint64_t)sdb_column_int64(st, 5);
        if (!m->node)
            goto oom;
    }
    sdb_finalize(st);
    cap = 0;
    if (sdb_prepare(db,
                    "SELECT node, idx, time_ms, span_ms, util, mem_used FROM usage_gpus"
                    " WHERE time_ms >= ? AND time_ms - span_ms < ?"
                    " ORDER BY node, idx, time_ms",
                    &st) != SDB_OK)
        return journal_sql_error(u->j, err, "usage", "query");
    sdb_bind_int64(st, 1, since_ms);
    sdb_bind_int64(st, 2, until_ms);
    while (sdb_step(st) == SDB_ROW) {
        if (CAIRN_GROW(rep->gpus, cap, rep->n_gpus + 1) < 0)
            goto oom;
        Cairn__GpuUsageSample *m = malloc(sizeof(*m));
        if (!m)
            goto oom;
        cairn__gpu_usage_sample__init(m);
        rep->gpus[rep->n_gpus++] = m;
        m->node = dup_col(st, 0);
        m->index = (uint32_t)sdb_column_int64(st, 1);
        m->time_ms = sdb_column_int64(st, 2);
        m->span_ms = sdb_column_int64(st, 3);
        m->utilization_percent = sdb_column_double(st, 4);
        m->memory_used_bytes = (uint64_t)sdb_column_double(st, 5);
        if (!m->node)
            goto oom;
    }
    sdb_finalize(st);
    cap = 0;
    if (sdb_prepare(db,
                    "SELECT time_ms, span_ms, shape, waiting, gpus_wanted, idle_split,"
                    " idle_cpu_mem, idle_model, idle_other, gpus_total, gpus_free,"
                    " limited, idle_limit, idle_topo FROM usage_census WHERE time_ms >= ? AND"
                    " time_ms - span_ms < ? ORDER BY time_ms, shape",
                    &st) != SDB_OK)
        return journal_sql_error(u->j, err, "usage", "query");
    sdb_bind_int64(st, 1, since_ms);
    sdb_bind_int64(st, 2, until_ms);
    while (sdb_step(st) == SDB_ROW) {
        if (CAIRN_GROW(rep->census, cap, rep->n_census + 1) < 0)
            goto oom;
        Cairn__CensusSample *m = malloc(sizeof(*m));
        if (!m)
            goto oom;
        cairn__census_sample__init(m);
        rep->census[rep->n_census++] = m;
        m->time_ms = sdb_column_int64(st, 0);
        m->span_ms = sdb_column_int64(st, 1);
        m->shape = dup_col(st, 2);
        m->waiting = sdb_column_double(st, 3);
        m->gpus_wanted = sdb_column_double(st, 4);
        m->idle_split = sdb_column_double(st, 5);
        m->idle_cpu_mem = sdb_column_double(st, 6);
        m->idle_model = sdb_column_double(st, 7);
        m->idle_other = sdb_column_double(st, 8);
        m->gpus_total = sdb_column_double(st, 9);
        m->gpus_free = sdb_column_double(st, 10);
        m->limited = sdb_column_double(st, 11);
        m->idle_limit = sdb_column_double(st, 12);
        m->idle_topo = sdb_column_double(st, 13);
        if (!m->shape)
            goto oom;
    }
    sdb_finalize(st);
    cap = 0;
    if (sdb_prepare(db,
                    "SELECT attempt, node, time_ms, span_ms, cpu_usec, rss, peak_rss FROM"
                    " usage_tasks WHERE time_ms >= ? AND time_ms - span_ms < ?"
                    " ORDER BY attempt, time_ms",
                    &st) != SDB_OK)
        return journal_sql_error(u->j, err, "usage", "query");
    sdb_bind_int64(st, 1, since_ms);
    sdb_bind_int64(st, 2, until_ms);
    while (sdb_step(st) == SDB_ROW) {
        if (CAIRN_GROW(rep->tasks, cap, rep->n_tasks + 1) < 0)
            goto oom;
        Cairn__TaskUsageSample *m = malloc(sizeof(*m));
        if (!m)
            goto oom;
        cairn__task_usage_sample__init(m);
        rep->tasks[rep->n_tasks++] = m;
        m->attempt_id = (uint64_t)sdb_column_int64(st, 0);
        m->node = dup_col(st, 1);
        m->time_ms = sdb_column_int64(st, 2);
        m->span_ms = sdb_column_int64(st, 3);
        m->cpu_time_usec = (uint64_t)sdb_column_double(st, 4);
        m->rss_bytes = (uint64_t)sdb_column_double(st, 5);
        m->peak_rss_bytes = (uint64_t)sdb_column_double(st, 6);
        if (!m->node)
            goto oom;
    }
    sdb_finalize(st);
    return 0;
oom:
    sdb_finalize(st);
    return errcode(err, -ENOMEM, "out of memory");
}

void usage_reply_fini(Cairn__UsageReply *rep)
{
    for (size_t i = 0; i < rep->n_nodes; i++) {
        free(rep->nodes[i]->node);
        free(rep->nodes[i]);
    }
    for (size_t i = 0; i < rep->n_gpus; i++) {
        free(rep->gpus[i]->node);
        free(rep->gpus[i]);
    }
    for (size_t i = 0; i < rep->n_census; i++) {
        free(rep->census[i]->shape);
        free(rep->census[i]);
    }
    for (size_t i = 0; i < rep->n_tasks; i++) {
        free(rep->tasks[i]->node);
        free(rep->tasks[i]);
    }
    free(rep->nodes);
    free(rep->gpus);
    free(rep->census);
    free(rep->tasks);
    cairn__usage_reply__init(rep);
}

double usage_gpu_seconds(usage_t *u, const char *node, uint32_t index, int64_t from_ms,
                         int64_t to_ms)
{
    sdb_stmt_t *st = u->gpu_busy;
    sdb_bind_text(st, 1, node, -1, SDB_STATIC);
    sdb_bind_int64(st, 2, index);
    sdb_bind_int64(st, 3, from_ms);
    sdb_bind_int64(st, 4, to_ms);
    double sec = 0;
    bool any = false;
    while (sdb_step(st) == SDB_ROW) {
        int64_t end = sdb_column_int64(st, 0), span = sdb_column_int64(st, 1);
        int64_t b = end - span > from_ms ? end - span : from_ms, e = end < to_ms ? end : to_ms;
        if (e > b) {
            sec += sdb_column_double(st, 2) / 100.0 * (double)(e - b) / 1000.0;
            any = true;
        }
    }
    sdb_reset(st);
    sdb_clear_bindings(st);
    return any ? sec : -1;
}
