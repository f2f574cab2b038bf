/* The state database on PostgreSQL (libpq); see sdb.h.
 *
 * Outside a transaction each statement is one round trip (PQexecParams:
 * parse, bind, execute). Inside one (BEGIN to COMMIT or ROLLBACK) the
 * connection is in pipeline mode: writes (INSERT, UPDATE, DELETE, the
 * fence) are sent without waiting; a read, sdb_changes, every
 * PIPE_MAX writes and the COMMIT collect their results. A write that
 * failed fails what collects it, and the COMMIT: a batch is all or
 * nothing, as with SQLite. Parameters go in text form (bytes in binary),
 * results come in text form, bytea decoded when read as bytes. A
 * connection that broke stays broken for a writer (whose transaction was
 * lost: the daemon steps down and starts again, see lead.h); a reader
 * reconnects before its next statement. */
#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scheduler/sdb_private.h"

#define BYTEA_OID 17
/* writes sent before their results are collected: bounds what the server
 * holds for us, so neither side blocks on a full socket */
#define PIPE_MAX 256

typedef enum stmt_kind {
    KIND_READ,
    KIND_WRITE,
    KIND_BEGIN,
    KIND_COMMIT,
    KIND_ROLLBACK
} stmt_kind_t;

struct sdb_pg {
    PGconn *conn;
    bool readonly;
    bool broken;
    bool piped;       /* in a transaction, in pipeline mode */
    int queued;       /* writes sent whose results are not collected */
    bool pipe_failed; /* one of them failed (msg, sqlstate: the first) */
    int changes;
    char sqlstate[6];
    char msg[600];
};

struct sdb_pg_stmt {
    sdb_pg_t *pg;
    char *sql;
    int nparams;
    char **vals;
    int *lens, *fmts;
    bool *owned;
    PGresult *res;
    stmt_kind_t kind;
    bool failed, done;
    int row, nrows;
    unsigned char **blobs; /* decoded bytea of the current row, per column */
    size_t *blob_lens;
};

static char *upsert(void *arg, const char *table, const char *cols);

static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* NOTICEs ("relation already exists, skipping") */
}

static void set_error(sdb_pg_t *pg, const PGresult *res, const char *what)
{
    const char *m = res ? PQresultErrorMessage(res) : "";
    if (!m || !*m)
        m = PQerrorMessage(pg->conn);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(pg->sqlstate, sizeof(pg->sqlstate), "%s", state ? state : "");
    pg->broken = PQstatus(pg->conn) == CONNECTION_BAD;
    if (pg->broken && !pg->sqlstate[0])
        snprintf(pg->sqlstate, sizeof(pg->sqlstate), "08006");
    snprintf(pg->msg, sizeof(pg->msg), "%s%s%.*s", what ? what : "", what ? ": " : "",
             (int)strcspn(m, "\n"), m);
}

int sdb_pg_open(const char *url, bool readonly, sdb_pg_t **out, cairn_error_t *err)
{
    sdb_pg_t *pg = calloc(1, sizeof(*pg));
    if (!pg)
        return errcode(err, -ENOMEM, "out of memory");
    pg->readonly = readonly;
    /* bounded waits: a connection attempt, and a TCP peer that went silent
     * (ignored on a Unix socket) */
    /* tcp_user_timeout: ms a send may stay unacknowledged */
    const char *keys[] = {"dbname",           "application_name", "connect_timeout",
                          "keepalives",       "keepalives_idle",  "keepalives_interval",
                          "keepalives_count", "tcp_user_timeout", NULL};
    const char *vals[] = {url, readonly ? "cairn-scheduler-reader" : "cairn-scheduler",
                          "5", "1",
                          "2", "1",
                          "3", "5000",
                          NULL};
    pg->conn = PQconnectdbParams(keys, vals, 1);
    if (!pg->conn || PQstatus(pg->conn) != CONNECTION_OK) {
        char *redacted = sdb_url_redact(url);
        const char *m = pg->conn ? PQerrorMessage(pg->conn) : "out of memory";
        int rc = errcode(err, -EIO, "store %s: %.*s", redacted ? redacted : "postgresql",
                         (int)strcspn(m, "\n"), m);
        free(redacted);
        sdb_pg_close(pg);
        return rc;
    }
    PQsetNoticeProcessor(pg->conn, quiet, NULL);
    *out = pg;
    return 0;
}

void sdb_pg_close(sdb_pg_t *pg)
{
    if (!pg)
        return;
    if (pg->conn)
        PQfinish(pg->conn);
    free(pg);
}

const char *sdb_pg_errmsg(const sdb_pg_t *pg)
{
    return pg->msg[0] ? pg->msg : "no error";
}

bool sdb_pg_broken(const sdb_pg_t *pg)
{
    return pg->broken || PQstatus(pg->conn) == CONNECTION_BAD;
}

const char *sdb_pg_sqlstate(const sdb_pg_t *pg)
{
    return pg->sqlstate;
}

/* A reader whose connection broke (the server restarted) connects again;
 * a writer does not (see above). */
static int usable(sdb_pg_t *pg)
{
    if (PQstatus(pg->conn) == CONNECTION_OK)
        return 0;
    if (pg->readonly) {
        PQreset(pg->conn);
        if (PQstatus(pg->conn) == CONNECTION_OK) {
            pg->broken = false;
            return 0;
        }
    }
    set_error(pg, NULL, "the connection to PostgreSQL is lost");
    pg->broken = true;
    return -1;
}

static bool word_is(const char *sql, const char *w)
{
    while (*sql == ' ' || *sql == '\n' || *sql == '\t')
        sql++;
    size_t n = strlen(w);
    return !strncasecmp(sql, w, n) && !isalnum((unsigned char)sql[n]) && sql[n] != '_';
}

/* What a statement is to the pipeline. */
static stmt_kind_t kind_of(const char *sql)
{
    if (word_is(sql, "BEGIN"))
        return KIND_BEGIN;
    if (word_is(sql, "COMMIT"))
        return KIND_COMMIT;
    if (word_is(sql, "ROLLBACK"))
        return KIND_ROLLBACK;
    if ((word_is(sql, "INSERT") || word_is(sql, "UPDATE") || word_is(sql, "DELETE")) &&
        !strcasestr(sql, "RETURNING"))
        return KIND_WRITE;
    if (!strncmp(sql, "SELECT cairn_fence(", 19)) /* its row says nothing */
        return KIND_WRITE;
    return KIND_READ;
}

/* Collect one query's results (to the NULL after them, or a sync); the
 * last kept in *keep (NULL: none kept). The first failure is noted. */
static void take(sdb_pg_t *pg, PGresult **keep)
{
    PGresult *r;
    while ((r = PQgetResult(pg->conn)) != NULL) {
        ExecStatusType s = PQresultStatus(r);
        if (s == PGRES_COMMAND_OK)
            pg->changes = atoi(PQcmdTuples(r));
        else if (s != PGRES_TUPLES_OK && s != PGRES_PIPELINE_SYNC && !pg->pipe_failed) {
            pg->pipe_failed = true;
            if (s == PGRES_PIPELINE_ABORTED)
                snprintf(pg->msg, sizeof(pg->msg), "the transaction was aborted");
            else
                set_error(pg, r, NULL);
        }
        if (s == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            return; /* no NULL follows a sync */
        }
        if (keep) {
            PQclear(*keep);
            *keep = r;
        } else {
            PQclear(r);
        }
    }
    if (PQstatus(pg->conn) == CONNECTION_BAD && !pg->pipe_failed) {
        pg->pipe_failed = true;
        set_error(pg, NULL, "the connection to PostgreSQL is lost");
    }
}

/* Collect the results of every write sent. */
static void drain(sdb_pg_t *pg)
{
    if (!pg->queued)
        return;
    PQsendFlushRequest(pg->conn);
    PQflush(pg->conn);
    for (; pg->queued > 0; pg->queued--)
        take(pg, NULL);
}

/* Send a write without waiting for it (pipelined). */
static int queue(sdb_pg_t *pg, const char *sql, int n, const char *const *vals, const int *lens,
                 const int *fmts)
{
    if (!PQsendQueryParams(pg->conn, sql, n, NULL, vals, lens, fmts, 0)) {
        if (!pg->pipe_failed)
            set_error(pg, NULL, "cannot send");
        pg->pipe_failed = true;
        return SDB_ERROR;
    }
    if (++pg->queued >= PIPE_MAX)
        drain(pg);
    return SDB_OK;
}

/* Run a query whose result is wanted: at once, or behind the writes
 * sent (their failure is its failure: NULL, pg->msg says why). */
static PGresult *run(sdb_pg_t *pg, const char *sql, int n, const char *const *vals, const int *lens,
                     const int *fmts)
{
    if (!pg->piped)
        return PQexecParams(pg->conn, sql, n, NULL, vals, lens, fmts, 0);
    if (!PQsendQueryParams(pg->conn, sql, n, NULL, vals, lens, fmts, 0)) {
        set_error(pg, NULL, "cannot send");
        return NULL;
    }
    PQsendFlushRequest(pg->conn);
    PQflush(pg->conn);
    for (; pg->queued > 0; pg->queued--)
        take(pg, NULL);
    PGresult *res = NULL;
    take(pg, &res);
    if (pg->pipe_failed) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* Start a transaction: pipeline mode, BEGIN sent. */
static int begin_pipe(sdb_pg_t *pg, const char *sql)
{
    if (!PQenterPipelineMode(pg->conn)) {
        set_error(pg, NULL, "cannot enter pipeline mode");
        return SDB_ERROR;
    }
    pg->piped = true;
    pg->queued = 0;
    pg->pipe_failed = false;
    return queue(pg, sql, 0, NULL, NULL, NULL);
}

/* COMMIT or ROLLBACK: sent with a sync, every result collected, pipeline
 * mode left. A COMMIT fails when anything of the transaction did. */
static int end_pipe(sdb_pg_t *pg, const char *sql)
{
    bool commit = word_is(sql, "COMMIT");
    PGresult *res = NULL;
    bool sent =
        PQsendQueryParams(pg->conn, sql, 0, NULL, NULL, NULL, NULL, 0) && PQpipelineSync(pg->conn);
    if (sent) {
        for (; pg->queued > 0; pg->queued--)
            take(pg, NULL);
        take(pg, &res); /* the COMMIT's */
        take(pg, NULL); /* to the sync */
    }
    bool rolled =
        res && PQresultStatus(res) == PGRES_COMMAND_OK && !strcmp(PQcmdStatus(res), "ROLLBACK");
    PQclear(res);
    PQexitPipelineMode(pg->conn);
    bool failed = pg->pipe_failed || !sent || (commit && rolled);
    if (failed && !pg->pipe_failed)
        set_error(pg, NULL, sent ? "the transaction was rolled back" : "cannot send");
    pg->piped = false;
    pg->queued = 0;
    pg->pipe_failed = false;
    return commit && failed ? SDB_ERROR : SDB_OK;
}

int sdb_pg_exec(sdb_pg_t *pg, const char *sql, char **msg)
{
    char *t = sdb_pg_translate(sql, &(sdb_pg_upsert_t){upsert, pg});
    if (!t) {
        snprintf(pg->msg, sizeof(pg->msg), "out of memory");
        if (msg)
            *msg = strdup(pg->msg);
        return SDB_ERROR;
    }
    int rc = SDB_ERROR;
    stmt_kind_t kind = kind_of(t);
    if (pg->piped && (kind == KIND_COMMIT || kind == KIND_ROLLBACK)) {
        rc = end_pipe(pg, t);
    } else if (pg->piped && kind == KIND_WRITE) {
        rc = queue(pg, t, 0, NULL, NULL, NULL); /* one statement */
    } else if (pg->piped) {
        PGresult *res = run(pg, t, 0, NULL, NULL, NULL);
        rc = res ? SDB_OK : SDB_ERROR;
        PQclear(res);
    } else if (usable(pg) == 0) {
        PGresult *res = PQexec(pg->conn, t);
        ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_EMPTY_QUERY) {
            pg->changes = atoi(PQcmdTuples(res));
            rc = SDB_OK;
        } else {
            set_error(pg, res, NULL);
        }
        PQclear(res);
    }
    free(t);
    if (rc != SDB_OK && msg)
        *msg = strdup(pg->msg);
    return rc;
}

/* The highest $N in sql (outside quotes). */
static int count_params(const char *sql)
{
    int n = 0;
    char q = 0;
    for (const char *p = sql; *p; p++) {
        if (q) {
            if (*p == q)
                q = 0;
        } else if (*p == '\'' || *p == '"') {
            q = *p;
        } else if (*p == '$' && isdigit((unsigned char)p[1])) {
            int v = atoi(p + 1);
            if (v > n)
                n = v;
        }
    }
    return n;
}

int sdb_pg_prepare(sdb_pg_t *pg, const char *sql, const char *sql_pg, sdb_pg_stmt_t **out)
{
    sdb_pg_stmt_t *st = calloc(1, sizeof(*st));
    if (!st)
        goto oom;
    st->pg = pg;
    st->sql = sql_pg ? strdup(sql_pg) : sdb_pg_translate(sql, &(sdb_pg_upsert_t){upsert, pg});
    if (!st->sql)
        goto oom;
    st->nparams = count_params(st->sql);
    st->kind = kind_of(st->sql);
    size_t n = (size_t)st->nparams + 1;
    st->vals = calloc(n, sizeof(*st->vals));
    st->lens = calloc(n, sizeof(*st->lens));
    st->fmts = calloc(n, sizeof(*st->fmts));
    st->owned = calloc(n, sizeof(*st->owned));
    if (!st->vals || !st->lens || !st->fmts || !st->owned)
        goto oom;
    *out = st;
    return SDB_OK;
oom:
    snprintf(pg->msg, sizeof(pg->msg), "out of memory");
    sdb_pg_finalize(st);
    return SDB_ERROR;
}

static void drop_value(sdb_pg_stmt_t *st, int i)
{
    if (st->owned[i])
        free(st->vals[i]);
    st->vals[i] = NULL;
    st->lens[i] = 0;
    st->fmts[i] = 0;
    st->owned[i] = false;
}

int sdb_pg_bind(sdb_pg_stmt_t *st, int i, const char *v, size_t n, bool binary, bool copy)
{
    if (i < 1 || i > st->nparams) {
        snprintf(st->pg->msg, sizeof(st->pg->msg), "parameter %d of %d out of range", i,
                 st->nparams);
        return SDB_ERROR;
    }
    int k = i - 1;
    drop_value(st, k);
    if (!v)
        return SDB_OK;
    if (copy || !binary) {
        /* text goes NUL-terminated: a copy */
        char *c = malloc(n + 1);
        if (!c)
            return SDB_ERROR;
        memcpy(c, v, n);
        c[n] = '\0';
        st->vals[k] = c;
        st->owned[k] = true;
    } else {
        st->vals[k] = (char *)v;
    }
    st->lens[k] = (int)n;
    st->fmts[k] = binary ? 1 : 0;
    return SDB_OK;
}

int sdb_pg_nparams(const sdb_pg_stmt_t *st)
{
    return st->nparams;
}

static void drop_row(sdb_pg_stmt_t *st)
{
    if (!st->blobs)
        return;
    int nf = st->res ? PQnfields(st->res) : 0;
    for (int c = 0; c < nf; c++) {
        if (st->blobs[c])
            PQfreemem(st->blobs[c]);
        st->blobs[c] = NULL;
    }
}

int sdb_pg_step(sdb_pg_stmt_t *st)
{
    sdb_pg_t *pg = st->pg;
    if (st->failed)
        return SDB_ERROR;
    if (st->done)
        return SDB_DONE;
    if (st->res) {
        drop_row(st);
        return ++st->row < st->nrows ? SDB_ROW : SDB_DONE;
    }
    if (usable(pg) < 0) {
        st->failed = true;
        return SDB_ERROR;
    }
    const char *const *vals = (const char *const *)st->vals;
    int rc = -1;
    if (st->kind == KIND_BEGIN && !pg->piped)
        rc = begin_pipe(pg, st->sql);
    else if (pg->piped && (st->kind == KIND_COMMIT || st->kind == KIND_ROLLBACK))
        rc = end_pipe(pg, st->sql);
    else if (pg->piped && st->kind == KIND_WRITE)
        rc = queue(pg, st->sql, st->nparams, vals, st->lens, st->fmts);
    if (rc != -1) { /* no result to read */
        st->done = rc == SDB_OK;
        st->failed = rc != SDB_OK;
        return rc == SDB_OK ? SDB_DONE : SDB_ERROR;
    }
    PGresult *res = run(pg, st->sql, st->nparams, vals, st->lens, st->fmts);
    ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (s == PGRES_COMMAND_OK && !strcmp(PQcmdStatus(res), "ROLLBACK") &&
        strncasecmp(st->sql, "ROLLBACK", 8)) {
        /* COMMIT of a transaction a failed statement aborted */
        snprintf(pg->msg, sizeof(pg->msg), "the transaction was rolled back");
        snprintf(pg->sqlstate, sizeof(pg->sqlstate), "25P02");
        PQclear(res);
        st->failed = true;
        return SDB_ERROR;
    }
    if (s == PGRES_COMMAND_OK) {
        pg->changes = atoi(PQcmdTuples(res));
        st->res = res;
        st->row = st->nrows = 0;
        return SDB_DONE;
    }
    if (s == PGRES_TUPLES_OK) {
        st->res = res;
        st->row = 0;
        st->nrows = PQntuples(res);
        const char *ct = PQcmdTuples(res);
        if (ct && *ct)
            pg->changes = atoi(ct);
        int nf = PQnfields(res);
        free(st->blobs);
        free(st->blob_lens);
        st->blobs = calloc((size_t)nf + 1, sizeof(*st->blobs));
        st->blob_lens = calloc((size_t)nf + 1, sizeof(*st->blob_lens));
        if (!st->blobs || !st->blob_lens) {
            snprintf(pg->msg, sizeof(pg->msg), "out of memory");
            st->failed = true;
            return SDB_ERROR;
        }
        return st->nrows ? SDB_ROW : SDB_DONE;
    }
    set_error(pg, res, NULL);
    if (getenv("CAIRN_SDB_DEBUG"))
        fprintf(stderr, "sdb: %s: %s\n", pg->msg, st->sql);
    PQclear(res);
    st->failed = true;
    return SDB_ERROR;
}

const char *sdb_pg_column(sdb_pg_stmt_t *st, int col, size_t *len, bool *bytes_ok)
{
    if (len)
        *len = 0;
    if (bytes_ok)
        *bytes_ok = false;
    if (!st->res || st->row >= st->nrows || col < 0 || col >= PQnfields(st->res) ||
        PQgetisnull(st->res, st->row, col))
        return NULL;
    if (len)
        *len = (size_t)PQgetlength(st->res, st->row, col);
    if (bytes_ok)
        *bytes_ok = PQftype(st->res, col) == BYTEA_OID;
    return PQgetvalue(st->res, st->row, col);
}

const void *sdb_pg_column_blob(sdb_pg_stmt_t *st, int col, size_t *len)
{
    bool bytes = false;
    const char *v = sdb_pg_column(st, col, len, &bytes);
    if (!v || !bytes)
        return v;
    if (!st->blobs[col]) {
        size_t n = 0;
        st->blobs[col] = PQunescapeBytea((const unsigned char *)v, &n);
        st->blob_lens[col] = n;
    }
    *len = st->blob_lens[col];
    return st->blobs[col];
}

int sdb_pg_reset(sdb_pg_stmt_t *st)
{
    drop_row(st);
    PQclear(st->res);
    st->res = NULL;
    st->failed = false;
    st->done = false;
    st->row = st->nrows = 0;
    return SDB_OK;
}

int sdb_pg_clear(sdb_pg_stmt_t *st)
{
    for (int i = 0; i < st->nparams; i++)
        drop_value(st, i);
    return SDB_OK;
}

void sdb_pg_finalize(sdb_pg_stmt_t *st)
{
    if (!st)
        return;
    sdb_pg_reset(st);
    if (st->vals)
        sdb_pg_clear(st);
    free(st->vals);
    free(st->lens);
    free(st->fmts);
    free(st->owned);
    free(st->blobs);
    free(st->blob_lens);
    free(st->sql);
    free(st);
}

int sdb_pg_changes(sdb_pg_t *pg)
{
    if (pg->piped)
        drain(pg); /* the last write's count */
    return pg->changes;
}

/* Whether name is one of the comma-separated cols (NULL: all are). */
static bool listed(const char *cols, const char *name)
{
    if (!cols)
        return true;
    size_t n = strlen(name);
    for (const char *p = cols; *p;) {
        while (*p == ' ' || *p == ',' || *p == '"')
            p++;
        size_t k = strcspn(p, " ,\"");
        if (k == n && !strncasecmp(p, name, n))
            return true;
        p += k;
    }
    return false;
}

static char *upsert(void *arg, const char *table, const char *cols)
{
    sdb_pg_t *pg = arg;
    static const char sql[] =
        "SELECT a.attname, a.attnum = ANY (i.indkey) FROM pg_attribute a"
        " JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary"
        " WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped"
        " ORDER BY a.attnum";
    const char *v[] = {table};
    PGresult *res = run(pg, sql, 1, v, NULL, NULL);
    char key[512] = "", set[1536] = "";
    size_t kl = 0, sl = 0;
    int rows = res && PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : 0;
    for (int r = 0; r < rows; r++) {
        const char *name = PQgetvalue(res, r, 0);
        if (!strcmp(PQgetvalue(res, r, 1), "t"))
            kl += (size_t)snprintf(key + kl, sizeof(key) - kl, "%s%s", kl ? ", " : "", name);
        else if (listed(cols, name))
            sl += (size_t)snprintf(set + sl, sizeof(set) - sl, "%s%s = EXCLUDED.%s", sl ? ", " : "",
                                   name, name);
        if (kl >= sizeof(key) || sl >= sizeof(set))
            break;
    }
    PQclear(res);
    char *out = NULL;
    if (!kl)
        return strdup("");
    if (asprintf(&out, " ON CONFLICT (%s) DO %s%s", key, sl ? "UPDATE SET " : "NOTHING",
                 sl ? set : "") < 0)
        return NULL;
    return out;
}
