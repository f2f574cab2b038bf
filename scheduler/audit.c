/* The hash-chained audit trail; see audit.h.
 *
 * hash = SHA-256("cairn-audit-v1\n" F(prev) F(seq) F(time_ms) F(user)
 *                F(action) F(target) F(detail)), F(x) = len(x) ":" x "\n"
 * with numbers in decimal; prev is the previous entry's hash in hex ("" for
 * the first). Lengths make the encoding unambiguous whatever the fields
 * hold. */
#include "scheduler/audit.h"

#include "scheduler/sdb.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sha256.h"

struct audit {
    journal_t *j;
    sdb_stmt_t *insert; /* prepared on the first append */
    uint64_t count;
    char head[AUDIT_HASH_HEX];
};

/* F(x): the length-prefixed field, then a newline. */
static void field(cairn_sha256_ctx_t *c, const char *x)
{
    cairn_sha256_field(c, x);
    cairn_sha256_update(c, "\n", 1);
}

void audit_entry_hash(const audit_entry_t *e, char out[AUDIT_HASH_HEX])
{
    static const char domain[] = "cairn-audit-v1\n";
    cairn_sha256_ctx_t c;
    char num[32];
    cairn_sha256_init(&c);
    cairn_sha256_update(&c, domain, sizeof(domain) - 1);
    field(&c, e->prev);
    snprintf(num, sizeof(num), "%" PRIu64, e->seq);
    field(&c, num);
    snprintf(num, sizeof(num), "%" PRId64, e->time_ms);
    field(&c, num);
    field(&c, e->user);
    field(&c, e->action);
    field(&c, e->target);
    field(&c, e->detail);
    uint8_t d[CAIRN_SHA256_LEN];
    cairn_sha256_final(&c, d);
    cairn_sha256_to_hex(d, out);
}

int audit_reload(audit_t *a, cairn_error_t *err)
{
    sdb_stmt_t *st;
    if (sdb_prepare(journal_db(a->j), "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                    &st) != SDB_OK)
        return journal_sql_error(a->j, err, "audit", "head");
    a->count = 0;
    a->head[0] = '\0';
    if (sdb_step(st) == SDB_ROW) {
        a->count = (uint64_t)sdb_column_int64(st, 0);
        const char *h = (const char *)sdb_column_text(st, 1);
        snprintf(a->head, sizeof(a->head), "%s", h ? h : "");
    }
    sdb_finalize(st);
    return 0;
}

int audit_open(journal_t *j, audit_t **out, cairn_error_t *err)
{
    audit_t *a = calloc(1, sizeof(*a));
    if (!a)
        return errcode(err, -ENOMEM, "out of memory");
    a->j = j;
    char *msg = NULL;
    if (sdb_exec(journal_db(j),
                 "CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY,"
                 " time_ms INTEGER NOT NULL, \"user\" TEXT NOT NULL, action TEXT NOT NULL,"
                 " target TEXT NOT NULL, detail TEXT NOT NULL, prev TEXT NOT NULL,"
                 " hash TEXT NOT NULL)",
                 &msg) != SDB_OK) {
        int rc = errcode(err, -EIO, "audit: %s", msg ? msg : "cannot create its table");
        sdb_free(msg);
        free(a);
        return rc;
    }
    int rc = audit_reload(a, err);
    if (rc < 0) {
        free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void audit_close(audit_t *a)
{
    if (a)
        sdb_finalize(a->insert);
    free(a);
}

const char *audit_head(const audit_t *a)
{
    return a->head;
}

uint64_t audit_count(const audit_t *a)
{
    return a->count;
}

int audit_append(audit_t *a, int64_t time_ms, const char *user, const char *action,
                 const char *target, const char *detail, cairn_error_t *err)
{
    int rc = journal_begin(a->j, err);
    if (rc < 0)
        return rc;
    audit_entry_t e = {.seq = a->count + 1,
                       .time_ms = time_ms,
                       .user = user ? user : "",
                       .action = action,
                       .target = target ? target : "",
                       .detail = detail ? detail : ""};
    snprintf(e.prev, sizeof(e.prev), "%s", a->head);
    audit_entry_hash(&e, e.hash);
    if (!a->insert && sdb_prepare(journal_db(a->j), "INSERT INTO audit VALUES (?,?,?,?,?,?,?,?)",
                                  &a->insert) != SDB_OK)
        return journal_sql_error(a->j, err, "audit", "append");
    sdb_stmt_t *st = a->insert;
    sdb_bind_int64(st, 1, (int64_t)e.seq);
    sdb_bind_int64(st, 2, e.time_ms);
    sdb_bind_text(st, 3, e.user, -1, SDB_STATIC);
    sdb_bind_text(st, 4, e.action, -1, SDB_STATIC);
    sdb_bind_text(st, 5, e.target, -1, SDB_STATIC);
    sdb_bind_text(st, 6, e.detail, -1, SDB_STATIC);
    sdb_bind_text(st, 7, e.prev, -1, SDB_STATIC);
    sdb_bind_text(st, 8, e.hash, -1, SDB_STATIC);
    rc = sdb_step(st) == SDB_DONE ? 0 : journal_sql_error(a->j, err, "audit", "append");
    sdb_reset(st);
    sdb_clear_bindings(st);
    if (rc == 0) {
        a->count = e.seq;
        memcpy(a->head, e.hash, sizeof(a->head));
    }
    return rc;
}

static const char *col(sdb_stmt_t *st, int i)
{
    const char *s = (const char *)sdb_column_text(st, i);
    return s ? s : "";
}

static void row_entry(sdb_stmt_t *st, audit_entry_t *e)
{
    e->seq = (uint64_t)sdb_column_int64(st, 0);
    e->time_ms = sdb_column_int64(st, 1);
    e->user = col(st, 2);
    e->action = col(st, 3);
    e->target = col(st, 4);
    e->detail = col(st, 5);
    snprintf(e->prev, sizeof(e->prev), "%s", col(st, 6));
    snprintf(e->hash, sizeof(e->hash), "%s", col(st, 7));
}

int audit_list(audit_t *a, int64_t since_ms, const char *user, uint64_t limit, audit_entry_f cb,
               void *arg, cairn_error_t *err)
{
    bool by_user = user && *user;
    sdb_stmt_t *st;
    /* the newest `limit` (LIMIT -1: all), listed oldest first */
    /* PostgreSQL: LIMIT NULL is no limit, a negative one an error */
    if (sdb_prepare2(journal_db(a->j),
                     by_user ? "SELECT * FROM (SELECT * FROM audit WHERE time_ms >= ?1 AND"
                               " \"user\" = ?2 ORDER BY seq DESC LIMIT ?3) AS t ORDER BY seq"
                             : "SELECT * FROM (SELECT * FROM audit WHERE time_ms >= ?1"
                               " ORDER BY seq DESC LIMIT ?3) AS t ORDER BY seq",
                     by_user ? "SELECT * FROM (SELECT * FROM audit WHERE time_ms >= $1 AND"
                               " \"user\" = $2 ORDER BY seq DESC LIMIT NULLIF($3::bigint, -1))"
                               " AS t ORDER BY seq"
                             : "SELECT * FROM (SELECT * FROM audit WHERE time_ms >= $1 AND"
                               " $2::text IS NULL ORDER BY seq DESC LIMIT NULLIF($3::bigint, -1))"
                               " AS t ORDER BY seq",
                     &st) != SDB_OK)
        return journal_sql_error(a->j, err, "audit", "list");
    sdb_bind_int64(st, 1, since_ms);
    if (by_user)
        sdb_bind_text(st, 2, user, -1, SDB_STATIC);
    sdb_bind_int64(st, 3, limit && limit <= INT64_MAX ? (int64_t)limit : -1);
    int s;
    while ((s = sdb_step(st)) == SDB_ROW) {
        audit_entry_t e;
        row_entry(st, &e);
        if (cb(&e, arg) != 0)
            break;
    }
    sdb_finalize(st);
    return 0;
}

int audit_verify(audit_t *a, const char *expect_head, audit_check_t *out, cairn_error_t *err)
{
    memset(out, 0, sizeof(*out));
    out->ok = true;
    sdb_stmt_t *st;
    if (sdb_prepare(journal_db(a->j), "SELECT * FROM audit ORDER BY seq", &st) != SDB_OK)
        return journal_sql_error(a->j, err, "audit", "verify");
    char prev[AUDIT_HASH_HEX] = "";
    bool head_seen = !expect_head || !*expect_head;
    uint64_t want_seq = 1;
    while (sdb_step(st) == SDB_ROW) {
        audit_entry_t e;
        row_entry(st, &e);
        char h[AUDIT_HASH_HEX];
        audit_entry_hash(&e, h);
        const char *why = NULL;
        if (e.seq != want_seq)
            why = "an entry before it is missing (sequence gap)";
        else if (strcmp(e.prev, prev) != 0)
            why = "it does not follow the entry before it (previous hash differs)";
        else if (strcmp(e.hash, h) != 0)
            why = "its contents do not match its hash (edited)";
        if (why) {
            out->ok = false;
            out->bad_seq = e.seq;
            snprintf(out->problem, sizeof(out->problem), "entry %" PRIu64 ": %s", e.seq, why);
            break;
        }
        if (!head_seen && !strcmp(e.hash, expect_head))
            head_seen = true;
        memcpy(prev, e.hash, sizeof(prev));
        out->count = e.seq;
        want_seq++;
    }
    sdb_finalize(st);
    memcpy(out->head, prev, sizeof(out->head));
    if (out->ok && !head_seen) {
        out->ok = false;
        snprintf(out->problem, sizeof(out->problem),
                 "the recorded head %.64s is not in the chain (entries were removed or "
                 "replaced)",
                 expect_head);
    }
    return 0;
}
