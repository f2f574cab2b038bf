/* Accounts' members beside the journal; see members.h. */
#include "scheduler/members.h"

#include "scheduler/sdb.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"

/* One row: its strings owned here. */
typedef struct row {
    char *account;
    char **users, **groups;
    size_t nusers, ngroups;
    bool is_default;
} row_t;

struct members {
    journal_t *j;
    row_t *rows; /* sorted by account */
    size_t n, cap;
};

static void row_fini(row_t *r)
{
    for (size_t i = 0; i < r->nusers; i++)
        free(r->users[i]);
    for (size_t i = 0; i < r->ngroups; i++)
        free(r->groups[i]);
    free(r->users);
    free(r->groups);
    free(r->account);
    memset(r, 0, sizeof(*r));
}

static void clear(members_t *m)
{
    for (size_t i = 0; i < m->n; i++)
        row_fini(&m->rows[i]);
    m->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A sorted copy of v without duplicates into *out, *nout: 0 or -ENOMEM. */
static int names_copy(const char *const *v, size_t n, char ***out, size_t *nout)
{
    char **c = calloc(n + 1, sizeof(char *));
    if (!c)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (!(c[i] = strdup(v[i]))) {
            while (i--)
                free(c[i]);
            free(c);
            return -ENOMEM;
        }
    qsort(c, n, sizeof(char *), cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k && !strcmp(c[k - 1], c[i]))
            free(c[i]);
        else
            c[k++] = c[i];
    *out = c;
    *nout = k;
    return 0;
}

/* Split "a,b,c" ("": none) into a sorted list. */
static int names_split(const char *s, char ***out, size_t *nout)
{
    char *dup = strdup(s ? s : "");
    const char **v = calloc(strlen(dup) / 2 + 2, sizeof(char *));
    size_t n = 0;
    if (!dup || !v) {
        free(dup);
        free(v);
        return -ENOMEM;
    }
    for (char *save = NULL, *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save))
        v[n++] = t;
    int rc = names_copy(v, n, out, nout);
    free(v);
    free(dup);
    return rc;
}

/* "a,b,c" of v (malloc'd). */
static char *names_join(char *const *v, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(v[i]) + 1;
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    *p = '\0';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? "," : "", v[i]);
    return s;
}

/* The index of account's row, or where it would go (*found false). */
static size_t find(const members_t *m, const char *account, bool *found)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->rows[mid].account, account);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Put r (taken) in its place, replacing a row of its account. */
static int insert(members_t *m, row_t *r)
{
    bool found;
    size_t at = find(m, r->account, &found);
    if (found) {
        row_fini(&m->rows[at]);
        m->rows[at] = *r;
        return 0;
    }
    if (CAIRN_GROW(m->rows, m->cap, m->n + 1) < 0)
        return -ENOMEM;
    memmove(&m->rows[at + 1], &m->rows[at], (m->n - at) * sizeof(row_t));
    m->rows[at] = *r;
    m->n++;
    return 0;
}

int members_reload(members_t *m, cairn_error_t *err)
{
    clear(m);
    sdb_stmt_t *st;
    if (sdb_prepare(journal_db(m->j),
                    "SELECT account, users, groups, is_default FROM account_members",
                    &st) != SDB_OK)
        return journal_sql_error(m->j, err, "members", "load");
    int rc = 0, s;
    while (rc == 0 && (s = sdb_step(st)) == SDB_ROW) {
        row_t r = {.is_default = sdb_column_int(st, 3) != 0};
        const char *a = (const char *)sdb_column_text(st, 0);
        if (!(r.account = strdup(a ? a : "")) ||
            names_split((const char *)sdb_column_text(st, 1), &r.users, &r.nusers) < 0 ||
            names_split((const char *)sdb_column_text(st, 2), &r.groups, &r.ngroups) < 0 ||
            insert(m, &r) < 0) {
            row_fini(&r);
            rc = errcode(err, -ENOMEM, "members: out of memory");
        }
    }
    if (rc == 0 && s != SDB_DONE)
        rc = journal_sql_error(m->j, err, "members", "load");
    sdb_finalize(st);
    return rc;
}

int members_open(journal_t *j, members_t **out, cairn_error_t *err)
{
    members_t *m = calloc(1, sizeof(*m));
    if (!m)
        return errcode(err, -ENOMEM, "out of memory");
    m->j = j;
    int rc = 0;
    if (sdb_exec(journal_db(j),
                 "CREATE TABLE IF NOT EXISTS account_members (account TEXT PRIMARY KEY,"
                 " users TEXT NOT NULL, groups TEXT NOT NULL, is_default INTEGER NOT NULL)",
                 NULL) != SDB_OK)
        rc = journal_sql_error(j, err, "members", "open");
    if (rc == 0)
        rc = members_reload(m, err);
    if (rc < 0) {
        members_close(m);
        return rc;
    }
    *out = m;
    return 0;
}

void members_close(members_t *m)
{
    if (!m)
        return;
    clear(m);
    free(m->rows);
    free(m);
}

bool members_get(const members_t *m, const char *account, members_entry_t *out)
{
    bool found;
    size_t at = find(m, account, &found);
    memset(out, 0, sizeof(*out));
    out->account = account;
    if (!found)
        return false;
    const row_t *r = &m->rows[at];
    *out = (members_entry_t){.account = r->account,
                             .users = (const char *const *)r->users,
                             .nusers = r->nusers,
                             .groups = (const char *const *)r->groups,
                             .ngroups = r->ngroups,
                             .is_default = r->is_default};
    return true;
}

/* Run sql with account (and the row's fields, r not NULL) bound, in the
 * open transaction. */
static int write_row(members_t *m, const char *sql, const char *account, const row_t *r,
                     cairn_error_t *err)
{
    int rc = journal_begin(m->j, err);
    if (rc < 0)
        return rc;
    sdb_stmt_t *st;
    if (sdb_prepare(journal_db(m->j), sql, &st) != SDB_OK)
        return journal_sql_error(m->j, err, "members", "write");
    char *users = r ? names_join(r->users, r->nusers) : NULL;
    char *groups = r ? names_join(r->groups, r->ngroups) : NULL;
    if (r && (!users || !groups)) {
        rc = errcode(err, -ENOMEM, "members: out of memory");
    } else {
        sdb_bind_text(st, 1, account, -1, SDB_STATIC);
        if (r) {
            sdb_bind_text(st, 2, users, -1, SDB_STATIC);
            sdb_bind_text(st, 3, groups, -1, SDB_STATIC);
            sdb_bind_int(st, 4, r->is_default);
        }
        if (sdb_step(st) != SDB_DONE)
            rc = journal_sql_error(m->j, err, "members", "write");
    }
    sdb_finalize(st);
    free(users);
    free(groups);
    return rc;
}

int members_put(members_t *m, const char *account, const char *const *users, size_t nusers,
                const char *const *groups, size_t ngroups, bool is_default, cairn_error_t *err)
{
    row_t r = {.is_default = is_default};
    int rc = 0;
    if (!(r.account = strdup(account)) || names_copy(users, nusers, &r.users, &r.nusers) < 0 ||
        names_copy(groups, ngroups, &r.groups, &r.ngroups) < 0)
        rc = errcode(err, -ENOMEM, "members: out of memory");
    if (rc == 0)
        rc = write_row(m,
                       "INSERT OR REPLACE INTO account_members (account, users, groups,"
                       " is_default) VALUES (?,?,?,?)",
                       account, &r, err);
    if (rc == 0 && insert(m, &r) < 0)
        rc = errcode(err, -ENOMEM, "members: out of memory");
    if (rc < 0)
        row_fini(&r);
    return rc;
}

int members_delete(members_t *m, const char *account, cairn_error_t *err)
{
    int rc = write_row(m, "DELETE FROM account_members WHERE account = ?", account, NULL, err);
    bool found;
    size_t at = find(m, account, &found);
    if (rc == 0 && found) {
        row_fini(&m->rows[at]);
        memmove(&m->rows[at], &m->rows[at + 1], (m->n - at - 1) * sizeof(row_t));
        m->n--;
    }
    return rc;
}

/* --- charging ---------------------------------------------------------------- */

static bool listed(char *const *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i], name))
            return true;
    return false;
}

static bool is_member(const row_t *r, const char *user, members_group_f in_group, void *arg)
{
    if (listed(r->users, r->nusers, user))
        return true;
    for (size_t i = 0; in_group && i < r->ngroups; i++)
        if (in_group(r->groups[i], arg))
            return true;
    return false;
}

/* Append name to the list in buf ("a, b"). */
static void list_add(char *buf, size_t n, const char *name)
{
    size_t len = strlen(buf);
    if (len < n)
        snprintf(buf + len, n - len, "%s%s", len ? ", " : "", name);
}

int members_charge(const members_t *m, const char *user, members_group_f in_group, void *arg,
                   const char *asked, bool admin, char *out, size_t n, char *why, size_t wn)
{
    if (asked && *asked) { /* the common case first: no look at the other accounts */
        bool found;
        size_t at = find(m, asked, &found);
        if (admin || (found && is_member(&m->rows[at], user, in_group, arg))) {
            snprintf(out, n, "%s", asked);
            return 0;
        }
    }
    bool *mine = calloc(m->n + 1, sizeof(bool));
    if (!mine)
        return -ENOMEM;
    char list[512] = "", defaults[512] = "";
    size_t nmine = 0, ndef = 0, only = 0, def = 0;
    for (size_t i = 0; i < m->n; i++)
        if ((mine[i] = is_member(&m->rows[i], user, in_group, arg))) {
            list_add(list, sizeof(list), m->rows[i].account);
            only = i;
            nmine++;
            if (m->rows[i].is_default) {
                list_add(defaults, sizeof(defaults), m->rows[i].account);
                def = i;
                ndef++;
            }
        }
    char theirs[600];
    if (nmine)
        snprintf(theirs, sizeof(theirs), "%s's accounts: %s", user, list);
    else
        snprintf(theirs, sizeof(theirs), "%s is a member of no account: leave account: out", user);
    int rc = 0;
    if (asked && *asked) {
        bool found;
        size_t at = find(m, asked, &found);
        bool is_builtin = !strcmp(asked, "default");
        if (admin || (found && mine[at]) || (is_builtin && !nmine))
            snprintf(out, n, "%s", asked);
        else {
            rc = -EACCES;
            snprintf(why, wn, "%s may not charge account %s: %s (%s)", user, asked,
                     is_builtin ? "it is for users of no account"
                     : found    ? "not a member"
                                : "no such account",
                     theirs);
        }
    } else if (nmine == 0) {
        snprintf(out, n, "default");
    } else if (nmine == 1) {
        snprintf(out, n, "%s", m->rows[only].account);
    } else if (ndef == 1) {
        snprintf(out, n, "%s", m->rows[def].account);
    } else {
        rc = -EINVAL;
        if (ndef)
            snprintf(why, wn,
                     "%s has %zu default accounts (%s): name one with account: in the spec (%s)",
                     user, ndef, defaults, theirs);
        else
            snprintf(why, wn,
                     "%s belongs to %zu accounts and none is their default: name one with "
                     "account: in the spec (%s)",
                     user, nmine, theirs);
    }
    free(mine);
    return rc;
}
