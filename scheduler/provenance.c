/* Provenance records beside the journal; see provenance.h. */
#include "scheduler/provenance.h"

#include "scheduler/sdb.h"
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct prov {
    journal_t *j;
    sdb_stmt_t *put[2], *get[2];
    sdb_stmt_t *put_spec, *get_spec;
    sdb_stmt_t *put_input, *get_inputs;
    sdb_stmt_t *put_ckpt, *get_ckpt;
    sdb_stmt_t *put_pre, *get_pre;
    sdb_stmt_t *put_relog, *get_relog;
};

static const char *const tables[2] = {"prov_start", "prov_end"};

int prov_open(journal_t *j, prov_t **out, cairn_error_t *err)
{
    prov_t *p = calloc(1, sizeof(*p));
    if (!p)
        return errcode(err, -ENOMEM, "out of memory");
    p->j = j;
    sdb_t *db = journal_db(j);
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        char sql[256];
        snprintf(sql, sizeof(sql),
                 "CREATE TABLE IF NOT EXISTS %s (attempt INTEGER, rank INTEGER,"
                 " data BLOB NOT NULL, PRIMARY KEY (attempt, rank))",
                 tables[i]);
        if (sdb_exec(db, sql, NULL) != SDB_OK) {
            rc = journal_sql_error(p->j, err, "provenance", "table");
            break;
        }
        snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO %s VALUES (?,?,?)", tables[i]);
        if (sdb_prepare(db, sql, &p->put[i]) != SDB_OK) {
            rc = journal_sql_error(p->j, err, "provenance", "prepare");
            break;
        }
        snprintf(sql, sizeof(sql), "SELECT data FROM %s WHERE attempt = ? AND rank = ?", tables[i]);
        if (sdb_prepare(db, sql, &p->get[i]) != SDB_OK)
            rc = journal_sql_error(p->j, err, "provenance", "prepare");
    }
    if (rc == 0 && (sdb_exec(db,
                             "CREATE TABLE IF NOT EXISTS job_specs (job INTEGER PRIMARY KEY,"
                             " spec_text TEXT NOT NULL, spec_sha256 TEXT NOT NULL)",
                             NULL) != SDB_OK ||
                    sdb_prepare(db, "INSERT OR REPLACE INTO job_specs VALUES (?,?,?)",
                                &p->put_spec) != SDB_OK ||
                    sdb_prepare(db, "SELECT spec_text, spec_sha256 FROM job_specs WHERE job = ?",
                                &p->get_spec) != SDB_OK))
        rc = journal_sql_error(p->j, err, "provenance", "specs");
    if (rc == 0 && (sdb_exec(db,
                             "CREATE TABLE IF NOT EXISTS task_inputs (job INTEGER, task TEXT,"
                             " seq INTEGER, path TEXT NOT NULL, sha256 TEXT NOT NULL,"
                             " size INTEGER NOT NULL, PRIMARY KEY (job, task, seq))",
                             NULL) != SDB_OK ||
                    sdb_prepare(db, "INSERT OR REPLACE INTO task_inputs VALUES (?,?,?,?,?,?)",
                                &p->put_input) != SDB_OK ||
                    sdb_prepare(db,
                                "SELECT path, sha256, size FROM task_inputs WHERE job = ? AND"
                                " task = ? ORDER BY seq",
                                &p->get_inputs) != SDB_OK))
        rc = journal_sql_error(p->j, err, "provenance", "inputs");
    if (rc == 0 &&
        (sdb_exec(db,
                  "CREATE TABLE IF NOT EXISTS task_checkpoints (job INTEGER, task INTEGER,"
                  " signal INTEGER NOT NULL, dir TEXT NOT NULL, before_limit_ms INTEGER"
                  " NOT NULL, PRIMARY KEY (job, task))",
                  NULL) != SDB_OK ||
         sdb_prepare(db, "INSERT OR REPLACE INTO task_checkpoints VALUES (?,?,?,?,?)",
                     &p->put_ckpt) != SDB_OK ||
         sdb_prepare(db,
                     "SELECT signal, dir, before_limit_ms FROM task_checkpoints WHERE"
                     " job = ? AND task = ?",
                     &p->get_ckpt) != SDB_OK))
        rc = journal_sql_error(p->j, err, "provenance", "checkpoints");
    if (rc == 0 &&
        (sdb_exec(db,
                  "CREATE TABLE IF NOT EXISTS preemptions (attempt INTEGER PRIMARY KEY,"
                  " data BLOB NOT NULL)",
                  NULL) != SDB_OK ||
         sdb_prepare(db, "INSERT OR REPLACE INTO preemptions VALUES (?,?)", &p->put_pre) !=
             SDB_OK ||
         sdb_prepare(db, "SELECT data FROM preemptions WHERE attempt = ?", &p->get_pre) != SDB_OK))
        rc = journal_sql_error(p->j, err, "provenance", "preemptions");
    if (rc == 0 &&
        (sdb_exec(db,
                  "CREATE TABLE IF NOT EXISTS task_retry_logs (job INTEGER, task INTEGER,"
                  " pattern TEXT NOT NULL, PRIMARY KEY (job, task))",
                  NULL) != SDB_OK ||
         sdb_prepare(db, "INSERT OR REPLACE INTO task_retry_logs VALUES (?,?,?)", &p->put_relog) !=
             SDB_OK ||
         sdb_prepare(db, "SELECT pattern FROM task_retry_logs WHERE job = ? AND task = ?",
                     &p->get_relog) != SDB_OK))
        rc = journal_sql_error(p->j, err, "provenance", "retry logs");
    if (rc < 0) {
        prov_close(p);
        return rc;
    }
    *out = p;
    return 0;
}

void prov_close(prov_t *p)
{
    if (!p)
        return;
    for (int i = 0; i < 2; i++) {
        sdb_finalize(p->put[i]);
        sdb_finalize(p->get[i]);
    }
    sdb_finalize(p->put_spec);
    sdb_finalize(p->get_spec);
    sdb_finalize(p->put_input);
    sdb_finalize(p->get_inputs);
    sdb_finalize(p->put_ckpt);
    sdb_finalize(p->get_ckpt);
    sdb_finalize(p->put_pre);
    sdb_finalize(p->get_pre);
    sdb_finalize(p->put_relog);
    sdb_finalize(p->get_relog);
    free(p);
}

static int put(prov_t *p, int which, uint64_t attempt, uint32_t rank,
               const Cairn__AttemptProvenance *m, cairn_error_t *err)
{
    int rc = journal_begin(p->j, err);
    if (rc < 0)
        return rc;
    size_t len = protobuf_c_message_get_packed_size(&m->base);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return errcode(err, -ENOMEM, "out of memory");
    protobuf_c_message_pack(&m->base, buf);
    sdb_stmt_t *st = p->put[which];
    sdb_bind_int64(st, 1, (int64_t)attempt);
    sdb_bind_int64(st, 2, rank);
    sdb_bind_blob(st, 3, buf, (int)len, SDB_STATIC);
    rc = sdb_step(st) == SDB_DONE ? 0 : journal_sql_error(p->j, err, "provenance", "record");
    sdb_reset(st);
    sdb_clear_bindings(st);
    free(buf);
    return rc;
}

int prov_put_start(prov_t *p, uint64_t attempt, uint32_t rank, const Cairn__AttemptProvenance *m,
                   cairn_error_t *err)
{
    return put(p, 0, attempt, rank, m, err);
}

int prov_put_end(prov_t *p, uint64_t attempt, uint32_t rank, const Cairn__AttemptProvenance *m,
                 cairn_error_t *err)
{
    return put(p, 1, attempt, rank, m, err);
}

static int put_input(prov_t *p, uint32_t job, const char *task, size_t seq,
                     const Cairn__OutputHash *h, cairn_error_t *err)
{
    sdb_stmt_t *st = p->put_input;
    sdb_bind_int64(st, 1, job);
    sdb_bind_text(st, 2, task, -1, SDB_STATIC);
    sdb_bind_int64(st, 3, (int64_t)seq);
    sdb_bind_text(st, 4, h->path ? h->path : "", -1, SDB_STATIC);
    sdb_bind_text(st, 5, h->sha256 ? h->sha256 : "", -1, SDB_STATIC);
    sdb_bind_int64(st, 6, (int64_t)h->size);
    int rc = sdb_step(st) == SDB_DONE ? 0 : journal_sql_error(p->j, err, "provenance", "input");
    sdb_reset(st);
    sdb_clear_bindings(st);
    return rc;
}

static int put_ckpt(prov_t *p, uint32_t job, uint32_t task, const Cairn__TaskSpec *t,
                    cairn_error_t *err)
{
    const Cairn__Checkpoint *ck = t->checkpoint;
    sdb_stmt_t *st = p->put_ckpt;
    sdb_bind_int64(st, 1, job);
    sdb_bind_int64(st, 2, task);
    sdb_bind_int64(st, 3, ck ? ck->signal : 0);
    sdb_bind_text(st, 4, ck && ck->dir ? ck->dir : "", -1, SDB_STATIC);
    sdb_bind_int64(st, 5, (int64_t)t->signal_before_limit_ms);
    int rc =
        sdb_step(st) == SDB_DONE ? 0 : journal_sql_error(p->j, err, "provenance", "checkpoint");
    sdb_reset(st);
    sdb_clear_bindings(st);
    return rc;
}

int prov_get_checkpoint(prov_t *p, uint32_t job, uint32_t task, int *signal,
                        uint64_t *before_limit_ms, char **dir, cairn_error_t *err)
{
    *signal = 0;
    *before_limit_ms = 0;
    *dir = NULL;
    sdb_stmt_t *st = p->get_ckpt;
    sdb_bind_int64(st, 1, job);
    sdb_bind_int64(st, 2, task);
    int s = sdb_step(st), rc = 0;
    if (s == SDB_ROW) {
        *signal = sdb_column_int(st, 0);
        const char *d = (const char *)sdb_column_text(st, 1);
        *before_limit_ms = (uint64_t)sdb_column_int64(st, 2);
        if (d && *d && !(*dir = strdup(d)))
            rc = errcode(err, -ENOMEM, "out of memory");
        else
            rc = 1;
    } else if (s != SDB_DONE) {
        rc = journal_sql_error(p->j, err, "provenance", "checkpoint");
    }
    sdb_reset(st);
    sdb_clear_bindings(st);
    return rc;
}

static int put_relog(prov_t *p, uint32_t job, uint32_t task, const char *pattern,
                     cairn_error_t *err)
{
    sdb_stmt_t *st = p->put_relog;
    sdb_bind_int64(st, 1, job);
    sdb_bind_int64(st, 2, task);
    sdb_bind_text(st, 3, pattern, -1, SDB_STATIC);
    int rc = sdb_step(st) == SDB_DONE ? 0 : journal_sql_error(p->j, err, "provenance", "retry log");
    sdb_reset(st);
    sdb_clear_bindings(st);
    return rc;
}

int prov_get_retry_log(prov_t *p, uint32_t job, uint32_t task, char **pattern, cairn_error_t *err)
{
    *pattern = NULL;
    sdb_stmt_t *st = p->get_relog;
    sdb_bind_int64(st, 1, job);
    sdb_bind_int64(st, 2, task);
    int s = sdb_step(st), rc = 0;
    if (s == SDB_ROW) {
        const char *t = (const char *)sdb_column_text(st, 0);
        if (t && *t && !(*pattern = strdup(t)))
            rc = errcode(err, -ENOMEM, "out of memory");
        else
            rc = *pattern ? 1 : 0;
    } else if (s != SDB_DONE) {
        rc = journal_sql_error(p->j, err, "provenance", "retry log");
    }
    sdb_reset(st);
    sdb_clear_bindings(st);
    return rc;
}

int prov_put_job(prov_t *p, uint32_t job, const Cairn__JobSpec *js, cairn_error_t *err)
{
    int rc = journal_begin(p->j, err);
    if (rc < 0)
        return rc;
    sdb_stmt_t *st = p->put_spec;
    sdb_bind_int64(st, 1, job);
    sdb_bind_text(st, 2, js->spec_text ? js->spec_text : "", -1, SDB_STATIC);
    sdb_bind_text(st, 3, js->spec_sha256 ? js->spec_sha256 : "", -1, SDB_STATIC);
    rc = sdb_step(st) == SDB_DONE ? 0 : journal_sql_error(p->j, err, "provenance", "spec");
    sdb_reset(st);
    sdb_clear_bindings(st);
    for (size_t t = 0; rc == 0 && t < js->n_tasks; t++)
        for (size_t i = 0; rc == 0 && i < js->tasks[t]->n_inputs; i++)
            rc = put_input(p, job, js->tasks[t]->name, i, js->tasks[t]->inputs[i], err);
    /* what the core does not keep and assignments need (dispatch.c): a
     * row for each task that checkpoints (preemptible, `checkpoint:` or
     * signal_before_limit); the others get no checkpoint directory */
    for (size_t t = 0; rc == 0 && t < js->n_tasks; t++)
        if (js->tasks[t]->preemptible || js->tasks[t]->checkpoint ||
            js->tasks[t]->signal_before_limit_ms)
            rc = put_ckpt(p, job, (uint32_t)t, js->tasks[t], err);
    /* and the log pattern of retry.on, which the worker matches */
    for (size_t t = 0; rc == 0 && t < js->n_tasks; t++)
        if (js->tasks[t]->retry && js->tasks[t]->retry->retry_on_log &&
            js->tasks[t]->retry->retry_on_log[0])
            rc = put_relog(p, job, (uint32_t)t, js->tasks[t]->retry->retry_on_log, err);
    return rc;
}

int prov_get_inputs(prov_t *p, uint32_t job, const char *task, prov_input_f fn, void *arg,
                    cairn_error_t *err)
{
    sdb_stmt_t *st = p->get_inputs;
    sdb_bind_int64(st, 1, job);
    sdb_bind_text(st, 2, task, -1, SDB_STATIC);
    int s;
    while ((s = sdb_step(st)) == SDB_ROW)
        fn((const char *)sdb_column_text(st, 0), (const char *)sdb_column_text(st, 1),
           (uint64_t)sdb_column_int64(st, 2), arg);
    int rc = s == SDB_DONE ? 0 : journal_sql_error(p->j, err, "provenance", "inputs");
    sdb_reset(st);
    sdb_clear_bindings(st);
    return rc;
}

int prov_get_spec(prov_t *p, uint32_t job, char **text, char **sha256, cairn_error_t *err)
{
    if (text)
        *text = NULL;
    *sha256 = NULL;
    sdb_stmt_t *st = p->get_spec;
    sdb_bind_int64(st, 1, job);
    int s = sdb_step(st), rc = 0;
    if (s == SDB_ROW) {
        if (text)
            *text = strdup((const char *)sdb_column_text(st, 0));
        *sha256 = strdup((const char *)sdb_column_text(st, 1));
        if ((text && !*text) || !*sha256)
            rc = errcode(err, -ENOMEM, "out of memory");
    } else if (s != SDB_DONE) {
        rc = journal_sql_error(p->j, err, "provenance", "spec");
    }
    sdb_reset(st);
    sdb_clear_bindings(st);
    return rc;
}

int prov_load(prov_t *p, uint64_t attempt, uint32_t rank, Cairn__AttemptProvenance **start,
              Cairn__AttemptProvenance **end, cairn_error_t *err)
{
    Cairn__AttemptProvenance **outs[2] = {start, end};
    for (int i = 0; i < 2; i++) {
        if (!outs[i])
            continue; /* not wanted: not read */
        *outs[i] = NULL;
        sdb_stmt_t *st = p->get[i];
        sdb_bind_int64(st, 1, (int64_t)attempt);
        sdb_bind_int64(st, 2, rank);
        int s = sdb_step(st);
        if (s == SDB_ROW) {
            const uint8_t *data = sdb_column_blob(st, 0);
            size_t len = (size_t)sdb_column_bytes(st, 0);
            *outs[i] = cairn__attempt_provenance__unpack(NULL, len, data);
        }
        sdb_reset(st);
        sdb_clear_bindings(st);
        if (s != SDB_ROW && s != SDB_DONE) {
            if (start && *start)
                cairn__attempt_provenance__free_unpacked(*start, NULL);
            if (start)
                *start = NULL;
            return journal_sql_error(p->j, err, "provenance", "load");
        }
    }
    return 0;
}

bool prov_is_secret(const char *pattern, const char *name)
{
    if (!pattern || !*pattern)
        return false;
    char up[256];
    size_t n = 0;
    for (; name[n] && n + 1 < sizeof(up); n++)
        up[n] = (char)toupper((unsigned char)name[n]);
    up[n] = '\0';
    const char *s = pattern;
    while (*s) {
        size_t len = strcspn(s, ",");
        char glob[256];
        size_t g = 0;
        for (size_t i = 0; i < len && g + 1 < sizeof(glob); i++)
            if (s[i] != ' ')
                glob[g++] = (char)toupper((unsigned char)s[i]);
        glob[g] = '\0';
        if (g && fnmatch(glob, up, 0) == 0)
            return true;
        s += len;
        if (*s == ',')
            s++;
    }
    return false;
}

int prov_put_preempt(prov_t *p, uint64_t attempt, const Cairn__Preemption *m, cairn_error_t *err)
{
    int rc = journal_begin(p->j, err);
    if (rc < 0)
        return rc;
    size_t len = protobuf_c_message_get_packed_size(&m->base);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return errcode(err, -ENOMEM, "out of memory");
    protobuf_c_message_pack(&m->base, buf);
    sdb_stmt_t *st = p->put_pre;
    sdb_bind_int64(st, 1, (int64_t)attempt);
    sdb_bind_blob(st, 2, buf, (int)len, SDB_STATIC);
    rc = sdb_step(st) == SDB_DONE ? 0 : journal_sql_error(p->j, err, "provenance", "preemption");
    sdb_reset(st);
    sdb_clear_bindings(st);
    free(buf);
    return rc;
}

int prov_get_preempt(prov_t *p, uint64_t attempt, Cairn__Preemption **out, cairn_error_t *err)
{
    *out = NULL;
    sdb_stmt_t *st = p->get_pre;
    sdb_bind_int64(st, 1, (int64_t)attempt);
    int s = sdb_step(st), rc = 0;
    if (s == SDB_ROW)
        *out = cairn__preemption__unpack(NULL, (size_t)sdb_column_bytes(st, 0),
                                         sdb_column_blob(st, 0));
    else if (s != SDB_DONE)
        rc = journal_sql_error(p->j, err, "provenance", "preemption");
    sdb_reset(st);
    sdb_clear_bindings(st);
    return rc;
}
