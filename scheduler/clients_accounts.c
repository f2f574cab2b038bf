/* Account requests (AccountRequest, proto/client.proto): set and delete
 * by administrators, each one core event (SCHED_EV_ACCOUNT_SET / _DELETE)
 * with its members (members.h) in the same transaction and one audit
 * entry; list and usage by anyone. And the charging of a submitted job
 * (clients_charge). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "scheduler/clients_private.h"

#define MEMBERS_MAX 10000 /* users or groups of one account */
#define SHARE_MAX 1000000 /* as `cairn account set --share` takes it */

/* --- the reply: accounts in tree order --------------------------------------- */

/* The live accounts, parents before children, siblings by name, "default"
 * first: ids into order (count entries), returns how many. */
typedef struct tree {
    sched_account_info_t *info; /* by id */
    uint32_t *order, n, count;
} tree_t;

static int cmp_children(const void *a, const void *b, void *arg)
{
    const tree_t *t = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if ((x == 0) != (y == 0)) /* the built-in first */
        return x == 0 ? -1 : 1;
    return strcmp(t->info[x].name, t->info[y].name);
}

/* Append parent's live children (sorted) and theirs, depth first. */
static void walk(tree_t *t, uint32_t parent, uint32_t *scratch)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < t->count; i++)
        if (!t->info[i].deleted && t->info[i].parent == parent)
            scratch[k++] = i;
    qsort_r(scratch, k, sizeof(uint32_t), cmp_children, t);
    uint32_t *kids = malloc((k + 1) * sizeof(uint32_t));
    if (!kids)
        return;
    memcpy(kids, scratch, k * sizeof(uint32_t));
    for (uint32_t i = 0; i < k; i++) {
        t->order[t->n++] = kids[i];
        walk(t, kids[i], scratch);
    }
    free(kids);
}

static int tree_build(sched_daemon_t *d, int64_t now, tree_t *t, frees_t *f)
{
    t->count = sched_account_count(d->core);
    t->n = 0;
    t->info = clients_keep(f, calloc(t->count + 1, sizeof(*t->info)));
    t->order = clients_keep(f, calloc(t->count + 1, sizeof(uint32_t)));
    uint32_t *scratch = clients_keep(f, calloc(t->count + 1, sizeof(uint32_t)));
    if (!t->info || !t->order || !scratch)
        return -ENOMEM;
    for (uint32_t i = 0; i < t->count; i++)
        if (sched_account_get(d->core, i, now, &t->info[i]) < 0)
            t->info[i].deleted = true;
    walk(t, SCHED_ACCOUNT_NONE, scratch);
    return 0;
}

/* A limit into its oneof (unset: none). */
#define LIMIT_SET(m, f, v, CASE)                                                                   \
    do {                                                                                           \
        if ((v) != SCHED_UNLIMITED) {                                                              \
            (m)->f = (v);                                                                          \
            (m)->f##_set_case = (CASE);                                                            \
        }                                                                                          \
    } while (0)

static Cairn__Account *account_msg(sched_daemon_t *d, const sched_account_info_t *a,
                                   const char *parent, frees_t *f)
{
    Cairn__Account *m = clients_keep(f, calloc(1, sizeof(*m)));
    if (!m)
        return NULL;
    cairn__account__init(m);
    m->name = (char *)a->name;
    m->parent = (char *)parent;
    m->share = a->share;
    m->builtin = a->id == 0;
    m->id = a->id;
    members_entry_t me;
    members_get(d->st->members, a->name, &me);
    m->users = (char **)me.users;
    m->n_users = me.nusers;
    m->groups = (char **)me.groups;
    m->n_groups = me.ngroups;
    m->is_default = me.is_default;
    LIMIT_SET(m, max_gpus, a->max_gpus, CAIRN__ACCOUNT__MAX_GPUS_SET_MAX_GPUS);
    LIMIT_SET(m, max_cpus, a->max_cpus, CAIRN__ACCOUNT__MAX_CPUS_SET_MAX_CPUS);
    LIMIT_SET(m, max_running, a->max_running, CAIRN__ACCOUNT__MAX_RUNNING_SET_MAX_RUNNING);
    if (a->max_priority != SCHED_NO_PRIORITY_CAP) {
        m->max_priority = a->max_priority;
        m->max_priority_set_case = CAIRN__ACCOUNT__MAX_PRIORITY_SET_MAX_PRIORITY;
    }
    return m;
}

/* The usage of each account in t's order (sshare's columns). */
static int usage_fill(sched_daemon_t *d, const tree_t *t, int64_t now, Cairn__Account **accts,
                      Cairn__AccountReply *rep, frees_t *f)
{
    uint32_t *rank = clients_keep(f, calloc(t->count + 1, sizeof(uint32_t)));
    double *norm = clients_keep(f, calloc(t->count + 1, sizeof(double)));
    Cairn__AccountUsage *u = clients_keep(f, calloc(t->n + 1, sizeof(*u)));
    rep->usage = clients_keep(f, calloc(t->n + 1, sizeof(*rep->usage)));
    if (!rank || !norm || !u || !rep->usage || sched_account_ranks(d->core, now, rank) < 0)
        return -ENOMEM;
    double total = 0;
    for (uint32_t k = 0; k < t->n; k++) /* every top-level account's tree */
        if (t->info[t->order[k]].parent == SCHED_ACCOUNT_NONE)
            total += (double)t->info[t->order[k]].usage_tree;
    for (uint32_t k = 0; k < t->n; k++) {
        const sched_account_info_t *a = &t->info[t->order[k]];
        uint64_t sibs = 0;
        for (uint32_t i = 0; i < t->n; i++)
            if (t->info[t->order[i]].parent == a->parent)
                sibs += t->info[t->order[i]].share;
        double up = a->parent == SCHED_ACCOUNT_NONE ? 1.0 : norm[a->parent];
        norm[a->id] = sibs ? up * a->share / (double)sibs : 0;
        cairn__account_usage__init(&u[k]);
        u[k].name = (char *)a->name;
        u[k].parent = accts[k]->parent;
        u[k].share = a->share;
        u[k].norm_share = norm[a->id];
        u[k].usage = (double)a->usage_tree / 1000.0;
        u[k].norm_usage = total > 0 ? (double)a->usage_tree / total : 0;
        u[k].rank = rank[a->id];
        u[k].fairshare = t->n ? (double)(t->n - rank[a->id]) / t->n : 0;
        u[k].gpus = a->gpus;
        u[k].cpus = a->cpus;
        u[k].running = a->running;
        u[k].limits = accts[k];
        rep->usage[rep->n_usage++] = &u[k];
    }
    return 0;
}

/* Answer with every live account (and their usage when asked). */
static void reply_accounts(sched_daemon_t *d, const client_req_t *rq, bool usage)
{
    frees_t f = {0};
    tree_t t;
    int64_t now = cairn_wall_ms();
    Cairn__AccountReply rep = CAIRN__ACCOUNT_REPLY__INIT;
    /* as the core has them (sched_daemon_core_config; 0: the defaults) */
    rep.gpu_weight = d->cfg.fs_gpu_weight ? d->cfg.fs_gpu_weight : SCHED_FS_GPU_WEIGHT;
    rep.half_life_ms = d->cfg.fs_half_life_ms ? d->cfg.fs_half_life_ms : SCHED_FS_HALF_LIFE_MS;
    rep.time_ms = now;
    int rc = tree_build(d, now, &t, &f);
    rep.accounts = clients_keep(&f, calloc(t.n + 1, sizeof(*rep.accounts)));
    for (uint32_t k = 0; rc == 0 && rep.accounts && k < t.n; k++) {
        const sched_account_info_t *a = &t.info[t.order[k]];
        const char *parent = a->parent == SCHED_ACCOUNT_NONE ? "" : t.info[a->parent].name;
        Cairn__Account *m = account_msg(d, a, parent, &f);
        if (!m)
            break;
        rep.accounts[rep.n_accounts++] = m;
    }
    if (rc == 0 && rep.n_accounts == t.n && usage)
        rc = usage_fill(d, &t, now, rep.accounts, &rep, &f);
    if (rc < 0 || !rep.accounts || rep.n_accounts < t.n || f.oom)
        clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_INTERNAL, "out of memory");
    else
        clients_reply(d, rq->from, CAIRN_MSG_ACCOUNT_REPLY, &rep.base);
    clients_frees_fini(&f);
}

/* --- changes ----------------------------------------------------------------- */

/* May the client change accounts? Answers the refusal itself when not. */
static bool may_change(sched_daemon_t *d, const client_req_t *rq, const char *verb,
                       const char *name)
{
    const client_id_t *id = &rq->id;
    if (access_is_admin(d->cfg.admins, id))
        return true;
    cairn_log(d->log, CAIRN_LOG_INFO, "refused: %s %s may not %s account %s",
              id->anonymous ? "anonymous client" : "user", id->name, verb, name ? name : "");
    clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED,
                  "%s %s may not %s account %s: only administrators may",
                  id->anonymous ? "anonymous client" : "user", id->name, verb, name ? name : "");
    return false;
}

/* A user or group name: 1..64 of letters, digits, '.', '_', '-' (and '$'
 * for users, as Samba's machine accounts have it). */
static bool member_ok(const char *s, bool user)
{
    size_t len = s ? strlen(s) : 0;
    const char *set = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    return len && len <= 64 && strspn(s, set) + (user && s[len - 1] == '$') == len;
}

static bool named(const Cairn__AccountSet *r, const char *field)
{
    for (size_t i = 0; i < r->n_fields; i++)
        if (!strcmp(r->fields[i], field))
            return true;
    return false;
}

static const char *const set_fields[] = {"parent",   "share",       "users",
                                         "groups",   "is_default",  "max_gpus",
                                         "max_cpus", "max_running", "max_priority"};

/* What is wrong with a set request (its shapes; the core checks the
 * tree): NULL when nothing, else the message in buf. */
static const char *set_problem(const Cairn__AccountSet *r, char *buf, size_t n)
{
    const Cairn__Account *a = r->account;
    for (size_t i = 0; i < r->n_fields; i++) {
        bool known = false;
        for (size_t k = 0; k < sizeof(set_fields) / sizeof(set_fields[0]); k++)
            known = known || !strcmp(r->fields[i], set_fields[k]);
        if (!known) {
            snprintf(buf, n, "account set: unknown field '%.64s'", r->fields[i]);
            return buf;
        }
    }
    if (named(r, "share") && (a->share == 0 || a->share > SHARE_MAX)) {
        snprintf(buf, n, "account %s: share %u is not from 1 to %u", a->name, a->share, SHARE_MAX);
        return buf;
    }
    if (a->n_users > MEMBERS_MAX || a->n_groups > MEMBERS_MAX) {
        snprintf(buf, n, "account %s: at most %d users and %d groups", a->name, MEMBERS_MAX,
                 MEMBERS_MAX);
        return buf;
    }
    for (size_t i = 0; i < a->n_users + a->n_groups; i++) {
        bool user = i < a->n_users;
        const char *m = user ? a->users[i] : a->groups[i - a->n_users];
        if (!member_ok(m, user)) {
            snprintf(buf, n,
                     "account %s: '%.64s' is not a %s name (1 to 64 letters, digits, '.', '_' "
                     "and '-')",
                     a->name, m, user ? "user" : "group");
            return buf;
        }
    }
    return NULL;
}

/* "name" of a limit, or "none". */
static const char *limit_str(uint32_t v, char *buf, size_t n)
{
    if (v == SCHED_UNLIMITED)
        return "none";
    snprintf(buf, n, "%u", v);
    return buf;
}

/* Append " key=old->new" to detail when they differ (or always, for a new
 * account: " key=new"). */
static void diff_add(char *detail, size_t n, bool created, const char *key, const char *old,
                     const char *now)
{
    size_t len = strlen(detail);
    if (len >= n || (!created && !strcmp(old, now)))
        return;
    if (created)
        snprintf(detail + len, n - len, "%s%s=%s", len ? " " : "", key, now);
    else
        snprintf(detail + len, n - len, "%s%s=%s->%s", len ? " " : "", key, old, now);
}

/* Append " key=+a,-b" for the names added to and taken from a list. */
static void diff_names(char *detail, size_t n, const char *key, const char *const *old, size_t nold,
                       char *const *now, size_t nnow)
{
    char list[1024] = "";
    for (int pass = 0; pass < 2; pass++) {
        const char *const *v = pass ? old : (const char *const *)now;
        const char *const *w = pass ? (const char *const *)now : old;
        size_t nv = pass ? nold : nnow, nw = pass ? nnow : nold;
        for (size_t i = 0; i < nv; i++) {
            bool in = false;
            for (size_t k = 0; k < nw && !in; k++)
                in = !strcmp(v[i], w[k]);
            size_t len = strlen(list);
            if (!in && len < sizeof(list))
                snprintf(list + len, sizeof(list) - len, "%s%c%s", len ? "," : "", pass ? '-' : '+',
                         v[i]);
        }
    }
    size_t len = strlen(detail);
    if (*list && len < n)
        snprintf(detail + len, n - len, "%s%s=%s", len ? " " : "", key, list);
}

static void account_set(sched_daemon_t *d, const client_req_t *rq, const Cairn__AccountSet *r)
{
    const Cairn__Account *a = r->account;
    const char *name = a && a->name ? a->name : "";
    if (!may_change(d, rq, "change", name))
        return;
    char buf[512];
    const char *problem = !a ? "account set without an account" : set_problem(r, buf, sizeof(buf));
    if (!problem && !strcmp(name, SCHED_ACCOUNT_DEFAULT))
        problem = "account default: the built-in default account cannot be changed";
    if (problem) {
        clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_BAD_REQUEST, "%s", problem);
        return;
    }
    /* what it is now (a new account: the defaults), then what was named */
    int64_t now = cairn_wall_ms();
    uint32_t id;
    sched_account_info_t old = {.share = 1,
                                .parent = SCHED_ACCOUNT_NONE,
                                .max_gpus = SCHED_UNLIMITED,
                                .max_cpus = SCHED_UNLIMITED,
                                .max_running = SCHED_UNLIMITED,
                                .max_priority = SCHED_NO_PRIORITY_CAP};
    bool created = sched_account_find(d->core, name, &id) < 0;
    if (!created)
        sched_account_get(d->core, id, now, &old);
    sched_account_info_t pinfo;
    char parent_was[SCHED_MAX_NAME_LEN + 1] = "";
    if (old.parent != SCHED_ACCOUNT_NONE &&
        sched_account_get(d->core, old.parent, now, &pinfo) == 0)
        snprintf(parent_was, sizeof(parent_was), "%s", pinfo.name);
    sched_account_spec_t sp = {.name = name,
                               .parent = named(r, "parent") ? a->parent : parent_was,
                               .share = named(r, "share") ? a->share : old.share,
                               .max_gpus = old.max_gpus,
                               .max_cpus = old.max_cpus,
                               .max_running = old.max_running,
                               .max_priority = old.max_priority};
    if (named(r, "max_gpus"))
        sp.max_gpus = a->max_gpus_set_case ? a->max_gpus : SCHED_UNLIMITED;
    if (named(r, "max_cpus"))
        sp.max_cpus = a->max_cpus_set_case ? a->max_cpus : SCHED_UNLIMITED;
    if (named(r, "max_running"))
        sp.max_running = a->max_running_set_case ? a->max_running : SCHED_UNLIMITED;
    if (named(r, "max_priority"))
        sp.max_priority = a->max_priority_set_case ? a->max_priority : SCHED_NO_PRIORITY_CAP;
    members_entry_t me;
    members_get(d->st->members, name, &me);
    /* me stays valid until members_put, which copies before replacing */
    const char *const *users = named(r, "users") ? (const char *const *)a->users : me.users;
    size_t nusers = named(r, "users") ? a->n_users : me.nusers;
    const char *const *groups = named(r, "groups") ? (const char *const *)a->groups : me.groups;
    size_t ngroups = named(r, "groups") ? a->n_groups : me.ngroups;
    bool is_default = named(r, "is_default") ? a->is_default : me.is_default;

    /* the audit's detail, before anything changes */
    char detail[2048] = "", o[32], n2[32];
    diff_add(detail, sizeof(detail), created, "parent", *parent_was ? parent_was : "-",
             sp.parent && *sp.parent ? sp.parent : "-");
    snprintf(o, sizeof(o), "%u", old.share);
    snprintf(n2, sizeof(n2), "%u", sp.share);
    diff_add(detail, sizeof(detail), created, "share", o, n2);
    const char *keys[] = {"max_gpus", "max_cpus", "max_running"};
    uint32_t was[] = {old.max_gpus, old.max_cpus, old.max_running},
             will[] = {sp.max_gpus, sp.max_cpus, sp.max_running};
    for (int k = 0; k < 3; k++) {
        char x[32], y[32];
        diff_add(detail, sizeof(detail), created, keys[k], limit_str(was[k], x, sizeof(x)),
                 limit_str(will[k], y, sizeof(y)));
    }
    if (old.max_priority == SCHED_NO_PRIORITY_CAP)
        snprintf(o, sizeof(o), "none");
    else
        snprintf(o, sizeof(o), "%d", old.max_priority);
    if (sp.max_priority == SCHED_NO_PRIORITY_CAP)
        snprintf(n2, sizeof(n2), "none");
    else
        snprintf(n2, sizeof(n2), "%d", sp.max_priority);
    diff_add(detail, sizeof(detail), created, "max_priority", o, n2);
    diff_names(detail, sizeof(detail), "users", me.users, me.nusers, (char *const *)users, nusers);
    diff_names(detail, sizeof(detail), "groups", me.groups, me.ngroups, (char *const *)groups,
               ngroups);
    diff_add(detail, sizeof(detail), created, "default", me.is_default ? "yes" : "no",
             is_default ? "yes" : "no");

    sched_event_t ev = {.type = SCHED_EV_ACCOUNT_SET, .time_ms = now};
    ev.u.account_set = sp;
    cairn_error_t err = {{0}};
    int rc = batch_apply(d, &ev, NULL, 0, &err);
    if (rc < 0) {
        clients_error(d, rq->from,
                      rc == SCHED_ENOENT || rc == SCHED_ECONFLICT
                          ? CAIRN__ERROR_CODE__ERROR_CODE_FAILED_PRECONDITION
                          : CAIRN__ERROR_CODE__ERROR_CODE_BAD_REQUEST,
                      "%s", err.text);
        return;
    }
    /* in the event's transaction: a failure fails the batch (rolled back) */
    if (members_put(d->st->members, name, users, nusers, groups, ngroups, is_default, &err) < 0) {
        cairn_log(d->log, CAIRN_LOG_ERROR, "%s", err.text);
        batch_fail(d, err.text);
    }
    cairn_log(d->log, CAIRN_LOG_INFO, "account %s %s: %s", name, created ? "created" : "changed",
              *detail ? detail : "no change");
    char target[300];
    snprintf(target, sizeof(target), "account %.256s", name);
    batch_audit(d, rq->id.name, created ? "account_create" : "account_set", target, "%s",
                *detail ? detail : "no change");
    reply_accounts(d, rq, false);
}

static void account_delete(sched_daemon_t *d, const client_req_t *rq, const Cairn__AccountDelete *r)
{
    const char *name = r->name ? r->name : "";
    if (!may_change(d, rq, "delete", name))
        return;
    uint32_t id;
    if (sched_account_find(d->core, name, &id) < 0) {
        clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND, "no account '%s'",
                      name);
        return;
    }
    sched_event_t ev = {.type = SCHED_EV_ACCOUNT_DELETE, .time_ms = cairn_wall_ms()};
    ev.u.account_delete.name = name;
    cairn_error_t err = {{0}};
    int rc = batch_apply(d, &ev, NULL, 0, &err);
    if (rc < 0) {
        clients_error(d, rq->from,
                      rc == SCHED_ECONFLICT ? CAIRN__ERROR_CODE__ERROR_CODE_FAILED_PRECONDITION
                                            : CAIRN__ERROR_CODE__ERROR_CODE_BAD_REQUEST,
                      "%s", err.text);
        return;
    }
    if (members_delete(d->st->members, name, &err) < 0) {
        cairn_log(d->log, CAIRN_LOG_ERROR, "%s", err.text);
        batch_fail(d, err.text);
    }
    cairn_log(d->log, CAIRN_LOG_INFO, "account %s deleted", name);
    char target[300];
    snprintf(target, sizeof(target), "account %.256s", name);
    batch_audit(d, rq->id.name, "account_delete", target, "deleted");
    reply_accounts(d, rq, false);
}

void clients_account(sched_daemon_t *d, const client_req_t *rq, const Cairn__AccountRequest *r)
{
    switch (r->op_case) {
    case CAIRN__ACCOUNT_REQUEST__OP_SET:
        account_set(d, rq, r->set);
        return;
    case CAIRN__ACCOUNT_REQUEST__OP_DELETE:
        account_delete(d, rq, r->delete_);
        return;
    case CAIRN__ACCOUNT_REQUEST__OP_LIST:
        reply_accounts(d, rq, r->list->usage);
        return;
    default:
        clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_BAD_REQUEST,
                      "account request without an operation");
    }
}

/* --- charging ------------------------------------------------------------------ */

static bool in_group_cb(const char *group, void *arg)
{
    return access_in_group(arg, group);
}

int clients_charge(sched_daemon_t *d, const client_req_t *rq, const char *asked, char *out,
                   size_t n, char *why, size_t wn)
{
    const client_id_t *id = &rq->id;
    return members_charge(d->st->members, id->name, in_group_cb, (void *)id, asked,
                          access_is_admin(d->cfg.admins, id), out, n, why, wn);
}
