/* Snapshots: the accounts section (its layout: snapshot_save.c,
 * save_accounts). The counts derived from attempts (what each account
 * holds, its charging rate, its children) are rebuilt after the load
 * (acct_rebuild). */
#include <stdlib.h>
#include <string.h>

#include "scheduling/snapshot_rd.h"

/* Every parent is an account that is there, the tree has no cycle, and
 * names are unique. */
static bool tree_ok(rd_t *r, const sched_t *s)
{
    for (size_t i = 0; i < s->naccts; i++) {
        const sched_account_t *a = &s->accts[i];
        uint32_t steps = 0;
        for (uint32_t p = a->parent; p != SCHED_ACCOUNT_NONE; p = s->accts[p].parent)
            if (p >= s->naccts || ++steps > s->naccts || (!a->deleted && s->accts[p].deleted))
                return fail(r, "an account's parent is not there, or the tree has a cycle");
        for (size_t k = 0; k < i; k++)
            if (strcmp(s->accts[k].name, a->name) == 0)
                return fail(r, "two accounts have one name");
    }
    return true;
}

bool snap_load_accounts(rd_t *r, sched_t *s)
{
    size_t n = gcount(r, 8, 40, UINT32_MAX - 1);
    if (r->bad)
        return false;
    if (n == 0)
        return fail(r, "no default account");
    if (CAIRN_GROW(s->accts, s->accts_cap, n) < 0)
        return fail(r, "out of memory");
    for (size_t i = 0; i < n && !r->bad; i++) {
        const char *name = gstr(r, "an account has no name");
        sched_account_t a = {.parent = g32(r),
                             .share = g32(r),
                             .max_gpus = g32(r),
                             .max_cpus = g32(r),
                             .max_running = g32(r),
                             .max_priority = (int32_t)g32(r),
                             .deleted = g8(r) != 0,
                             .usage = g64(r),
                             .usage_ms = gi64(r)};
        if (r->bad)
            return false;
        if (a.share == 0 || (i == 0) != (strcmp(name, SCHED_ACCOUNT_DEFAULT) == 0) ||
            (i == 0 && (a.parent != SCHED_ACCOUNT_NONE || a.deleted)))
            return fail(r, "an account is not one SCHED_EV_ACCOUNT_SET could make");
        if (!(a.name = xstrdup(name)))
            return fail(r, "out of memory");
        if (i < s->naccts)
            free(s->accts[i].name); /* the default sched_create made */
        s->accts[i] = a;
        if (i >= s->naccts)
            s->naccts = i + 1;
    }
    return !r->bad && tree_ok(r, s);
}
