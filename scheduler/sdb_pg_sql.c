/* SQLite's dialect to PostgreSQL's, for the statements the stores write
 * once (sdb.h lists what is translated). A small tokenizer: quoted
 * strings and identifiers are copied as they are. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scheduler/sdb_private.h"

typedef struct out {
    char *buf;
    size_t len, cap;
    bool oom;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = (o->cap + n + 1) * 2;
        char *b = realloc(o->buf, cap);
        if (!b) {
            o->oom = true;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void puts_(out_t *o, const char *s)
{
    put(o, s, strlen(s));
}

/* The word starting at p (letters, digits, _), its length. */
static size_t word_len(const char *p)
{
    size_t n = 0;
    while (isalnum((unsigned char)p[n]) || p[n] == '_')
        n++;
    return n;
}

static bool is_word(const char *p, size_t n, const char *w)
{
    return strlen(w) == n && !strncasecmp(p, w, n);
}

/* The next word after p's spaces: its start and length (0: none). */
static const char *next_word(const char *p, size_t *n)
{
    while (isspace((unsigned char)*p))
        p++;
    *n = word_len(p);
    return p;
}

/* The end of a statement: what INSERT OR IGNORE / REPLACE needs. */
static void finish(out_t *o, const sdb_pg_upsert_t *up, bool *ignore, char **table, char **cols)
{
    if (*ignore)
        puts_(o, " ON CONFLICT DO NOTHING");
    if (*table) {
        char *x = up->fn(up->arg, *table, *cols);
        if (x)
            puts_(o, x);
        else
            o->oom = true;
        free(x);
    }
    free(*table);
    free(*cols);
    *table = *cols = NULL;
    *ignore = false;
}

char *sdb_pg_translate(const char *sql, const sdb_pg_upsert_t *up)
{
    out_t o = {0};
    int param = 0;
    bool ignore = false;              /* INSERT OR IGNORE: ON CONFLICT DO NOTHING at the end */
    char *table = NULL, *cols = NULL; /* INSERT OR REPLACE INTO table (cols) */
    put(&o, "", 0);
    for (const char *p = sql; *p;) {
        if (*p == '\'' || *p == '"') {
            const char *e = strchr(p + 1, *p);
            size_t n = e ? (size_t)(e - p) + 1 : strlen(p);
            put(&o, p, n);
            p += n;
        } else if (*p == '?') {
            char b[16];
            p++;
            if (isdigit((unsigned char)*p)) {
                int v = atoi(p);
                while (isdigit((unsigned char)*p))
                    p++;
                snprintf(b, sizeof(b), "$%d", v);
                if (v > param)
                    param = v;
            } else {
                snprintf(b, sizeof(b), "$%d", ++param);
            }
            puts_(&o, b);
        } else if (*p == ';') {
            finish(&o, up, &ignore, &table, &cols);
            put(&o, p++, 1);
        } else if (isalpha((unsigned char)*p) || *p == '_') {
            size_t n = word_len(p), n2, n3;
            const char *w2 = next_word(p + n, &n2);
            const char *w3 = next_word(w2 + n2, &n3);
            if (o.len >= 2 && !strcmp(o.buf + o.len - 2, "::")) {
                put(&o, p, n); /* an explicit cast is PostgreSQL's already */
            } else if (is_word(p, n, "INTEGER") && is_word(w2, n2, "PRIMARY")) {
                puts_(&o, "BIGSERIAL");
            } else if (is_word(p, n, "INTEGER")) {
                puts_(&o, "BIGINT");
            } else if (is_word(p, n, "BLOB")) {
                puts_(&o, "BYTEA");
            } else if (is_word(p, n, "REAL")) {
                puts_(&o, "DOUBLE PRECISION");
            } else if (is_word(p, n, "WITHOUT") && is_word(w2, n2, "ROWID")) {
                p = w2 + n2;
                continue;
            } else if (is_word(p, n, "IMMEDIATE")) {
                p += n;
                continue;
            } else if (is_word(p, n, "INSERT") && is_word(w2, n2, "OR") &&
                       is_word(w3, n3, "IGNORE")) {
                puts_(&o, "INSERT");
                ignore = true;
                p = w3 + n3;
                continue;
            } else if (is_word(p, n, "INSERT") && is_word(w2, n2, "OR") &&
                       is_word(w3, n3, "REPLACE") && !table) {
                /* INSERT OR REPLACE INTO t [(cols)]: an upsert on t's key */
                size_t n4, n5;
                const char *w4 = next_word(w3 + n3, &n4); /* INTO */
                const char *w5 = next_word(w4 + n4, &n5); /* the table */
                table = strndup(w5, n5);
                const char *q = w5 + n5;
                while (isspace((unsigned char)*q))
                    q++;
                if (*q == '(') {
                    const char *e = strchr(q, ')');
                    cols = e ? strndup(q + 1, (size_t)(e - q - 1)) : NULL;
                }
                if (!table)
                    o.oom = true;
                puts_(&o, "INSERT");
                p = w3 + n3;
                continue;
            } else {
                put(&o, p, n);
            }
            p += n;
        } else {
            put(&o, p++, 1);
        }
    }
    finish(&o, up, &ignore, &table, &cols);
    if (o.oom) {
        free(o.buf);
        return NULL;
    }
    return o.buf;
}
