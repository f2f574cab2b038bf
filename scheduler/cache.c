/* Cached results; see cache.h. */
#include "scheduler/cache.h"

#include "scheduler/sdb.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"
#include "common/search.h"
#include "proto/sha256.h"

typedef struct hit {
    uint64_t attempt;
    uint32_t job;
    char *task;
} hit_t;

struct cache {
    journal_t *j;
    sdb_stmt_t *get, *put, *put_hit;
    hit_t *hits; /* ascending attempt */
    size_t nhits, cap;
    int64_t seen; /* the newest result's "seen" (recording order) */
};

static void hits_clear(cache_t *c)
{
    for (size_t i = 0; i < c->nhits; i++)
        free(c->hits[i].task);
    c->nhits = 0;
}

static uint64_t hit_key(const void *e)
{
    return ((const hit_t *)e)->attempt;
}

static size_t hit_lower_bound(const cache_t *c, uint64_t attempt)
{
    return cairn_lower_bound(c->hits, c->nhits, sizeof(*c->hits), attempt, hit_key);
}

static int hit_insert(cache_t *c, uint64_t attempt, uint32_t job, const char *task)
{
    size_t i = hit_lower_bound(c, attempt);
    if (i < c->nhits && c->hits[i].attempt == attempt)
        return 0;
    if (CAIRN_GROW(c->hits, c->cap, c->nhits + 1) < 0)
        return -ENOMEM;
    char *t = strdup(task);
    if (!t)
        return -ENOMEM;
    memmove(c->hits + i + 1, c->hits + i, (c->nhits - i) * sizeof(*c->hits));
    c->hits[i] = (hit_t){.attempt = attempt, .job = job, .task = t};
    c->nhits++;
    return 0;
}

void cache_hits_forget(cache_t *c, cache_gone_f gone, void *arg)
{
    size_t k = 0;
    for (size_t i = 0; i < c->nhits; i++)
        if (gone(c->hits[i].attempt, arg))
            free(c->hits[i].task);
        else
            c->hits[k++] = c->hits[i];
    c->nhits = k;
}

int cache_reload(cache_t *c, cairn_error_t *err)
{
    hits_clear(c);
    sdb_stmt_t *st;
    if (sdb_prepare(journal_db(c->j), "SELECT attempt, job, task FROM cache_hits", &st) != SDB_OK)
        return journal_sql_error(c->j, err, "cache", "hits");
    int rc = 0;
    while (rc == 0 && sdb_step(st) == SDB_ROW)
        if (hit_insert(c, (uint64_t)sdb_column_int64(st, 0), (uint32_t)sdb_column_int64(st, 1),
                       (const char *)sdb_column_text(st, 2)) < 0)
            rc = errcode(err, -ENOMEM, "out of memory");
    sdb_finalize(st);
    if (rc < 0)
        return rc;
    if (sdb_prepare(journal_db(c->j), "SELECT COALESCE(MAX(seen), 0) FROM cache_results", &st) !=
        SDB_OK)
        return journal_sql_error(c->j, err, "cache", "results");
    c->seen = sdb_step(st) == SDB_ROW ? sdb_column_int64(st, 0) : 0;
    sdb_finalize(st);
    return 0;
}

int cache_open(journal_t *j, cache_t **out, cairn_error_t *err)
{
    cache_t *c = calloc(1, sizeof(*c));
    if (!c)
        return errcode(err, -ENOMEM, "out of memory");
    c->j = j;
    sdb_t *db = journal_db(j);
    int rc = 0;
    /* "cache" held version 1 keys (no submitter), which nothing matches now */
    if (sdb_exec(db,
                 "DROP TABLE IF EXISTS cache;"
                 "CREATE TABLE IF NOT EXISTS cache_results (key TEXT NOT NULL,"
                 " outputs BLOB NOT NULL, job INTEGER, task TEXT NOT NULL, attempt INTEGER,"
                 " seen INTEGER NOT NULL, PRIMARY KEY (key, outputs));"
                 "CREATE INDEX IF NOT EXISTS cache_results_seen ON cache_results (key, seen);"
                 "CREATE TABLE IF NOT EXISTS cache_hits (attempt INTEGER PRIMARY KEY,"
                 " job INTEGER, task TEXT NOT NULL);",
                 NULL) != SDB_OK ||
        sdb_prepare(db,
                    "SELECT job, task, attempt, outputs FROM cache_results WHERE key = ?"
                    " ORDER BY seen DESC LIMIT 1",
                    &c->get) != SDB_OK ||
        sdb_prepare(db,
                    "INSERT INTO cache_results VALUES (?,?,?,?,?,?)"
                    " ON CONFLICT (key, outputs) DO UPDATE SET seen = excluded.seen",
                    &c->put) != SDB_OK ||
        sdb_prepare(db, "INSERT OR REPLACE INTO cache_hits VALUES (?,?,?)", &c->put_hit) != SDB_OK)
        rc = journal_sql_error(c->j, err, "cache", "open");
    if (rc == 0)
        rc = cache_reload(c, err);
    if (rc < 0) {
        cache_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void cache_close(cache_t *c)
{
    if (!c)
        return;
    sdb_finalize(c->get);
    sdb_finalize(c->put);
    sdb_finalize(c->put_hit);
    hits_clear(c);
    free(c->hits);
    free(c);
}

bool cache_key(const sched_t *core, prov_t *prov, uint32_t job, uint32_t task,
               char key[CACHE_KEY_HEX])
{
    sched_task_info_t ti;
    if (sched_task_info(core, job, task, &ti) < 0 || !ti.cache_base)
        return false;
    cairn_sha256_ctx_t h;
    cairn_sha256_init(&h);
    cairn_sha256_field(&h, "cairn-cache-key-v2");
    cairn_sha256_field(&h, sched_job_user(core, job)); /* results are reused per submitter */
    cairn_sha256_field(&h, ti.cache_base);
    const uint32_t *deps = NULL;
    uint32_t nd = sched_task_deps(core, job, task, &deps);
    char num[32];
    for (uint32_t i = 0; i < nd; i++) {
        sched_task_info_t di;
        if (sched_task_info(core, job, deps[i], &di) < 0)
            continue;
        cairn_sha256_field(&h, di.name);
        Cairn__AttemptProvenance *start = NULL, *end = NULL;
        cairn_error_t err = {{0}};
        if (di.attempt)
            prov_load(prov, di.attempt, 0, &start, &end, &err);
        if (end && end->n_outputs > 0) {
            for (size_t k = 0; k < end->n_outputs; k++) {
                cairn_sha256_field(&h, end->outputs[k]->path);
                cairn_sha256_field(&h, end->outputs[k]->error && end->outputs[k]->error[0]
                                           ? end->outputs[k]->error
                                           : end->outputs[k]->sha256);
            }
        } else { /* nothing declared: that very run */
            snprintf(num, sizeof(num), "attempt %llu", (unsigned long long)di.attempt);
            cairn_sha256_field(&h, num);
        }
        if (start)
            cairn__attempt_provenance__free_unpacked(start, NULL);
        if (end)
            cairn__attempt_provenance__free_unpacked(end, NULL);
    }
    uint8_t d[CAIRN_SHA256_LEN];
    cairn_sha256_final(&h, d);
    cairn_sha256_to_hex(d, key);
    return true;
}

int cache_lookup(cache_t *c, const char *key, cache_entry_t *e, cairn_error_t *err)
{
    memset(e, 0, sizeof(*e));
    sdb_stmt_t *st = c->get;
    sdb_bind_text(st, 1, key, -1, SDB_STATIC);
    int s = sdb_step(st), rc = 0;
    if (s == SDB_ROW) {
        e->job = (uint32_t)sdb_column_int64(st, 0);
        snprintf(e->task, sizeof(e->task), "%s", (const char *)sdb_column_text(st, 1));
        e->attempt = (uint64_t)sdb_column_int64(st, 2);
        e->outputs = cairn__attempt_provenance__unpack(NULL, (size_t)sdb_column_bytes(st, 3),
                                                       sdb_column_blob(st, 3));
        rc = e->outputs ? 1 : errcode(err, -EIO, "cache: an entry does not decode");
    } else if (s != SDB_DONE) {
        rc = journal_sql_error(c->j, err, "cache", "lookup");
    }
    sdb_reset(st);
    sdb_clear_bindings(st);
    return rc;
}

int cache_put(cache_t *c, const char *key, uint32_t job, const char *task, uint64_t attempt,
              size_t noutputs, Cairn__OutputHash **outputs, cairn_error_t *err)
{
    int rc = journal_begin(c->j, err);
    if (rc < 0)
        return rc;
    Cairn__AttemptProvenance m = CAIRN__ATTEMPT_PROVENANCE__INIT;
    m.n_outputs = noutputs;
    m.outputs = outputs;
    size_t len = protobuf_c_message_get_packed_size(&m.base);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return errcode(err, -ENOMEM, "out of memory");
    protobuf_c_message_pack(&m.base, buf);
    sdb_stmt_t *st = c->put;
    sdb_bind_text(st, 1, key, -1, SDB_STATIC);
    sdb_bind_blob(st, 2, buf, (int)len, SDB_STATIC);
    sdb_bind_int64(st, 3, job);
    sdb_bind_text(st, 4, task, -1, SDB_STATIC);
    sdb_bind_int64(st, 5, (int64_t)attempt);
    sdb_bind_int64(st, 6, c->seen + 1);
    rc = sdb_step(st) == SDB_DONE ? 0 : journal_sql_error(c->j, err, "cache", "record");
    if (rc == 0)
        c->seen++;
    sdb_reset(st);
    sdb_clear_bindings(st);
    free(buf);
    return rc;
}

int cache_hit_put(cache_t *c, uint64_t attempt, uint32_t job, const char *task, cairn_error_t *err)
{
    int rc = journal_begin(c->j, err);
    if (rc < 0)
        return rc;
    sdb_stmt_t *st = c->put_hit;
    sdb_bind_int64(st, 1, (int64_t)attempt);
    sdb_bind_int64(st, 2, job);
    sdb_bind_text(st, 3, task, -1, SDB_STATIC);
    rc = sdb_step(st) == SDB_DONE ? 0 : journal_sql_error(c->j, err, "cache", "hit");
    sdb_reset(st);
    sdb_clear_bindings(st);
    if (rc == 0 && hit_insert(c, attempt, job, task) < 0)
        rc = errcode(err, -ENOMEM, "out of memory");
    return rc;
}

bool cache_hit_get(const cache_t *c, uint64_t attempt, uint32_t *job, const char **task)
{
    size_t i = hit_lower_bound(c, attempt);
    if (i >= c->nhits || c->hits[i].attempt != attempt)
        return false;
    *job = c->hits[i].job;
    *task = c->hits[i].task;
    return true;
}
