/* Accounts: the tree jobs are charged to, its limits, and fair share.
 *
 * Usage is integer: core-milliseconds, a GPU-millisecond counting
 * cfg.fs_gpu_weight of them. An account's own usage is brought up to date
 * only at events that change what its attempts hold (their times are in
 * the journal), as u' = decay(u, dt) + rate * dt, and the fair-tree order
 * is derived from it at a pass's time without changing the state, so a
 * replay or a simulation derives exactly the same order. */
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched_private.h"

/* 2^(-2^-i) for i = 1..16, in Q32 (round(2^32 * 2^(-2^-i))). */
static const uint32_t half_pow[16] = {
    3037000500u, 3611622603u, 3938502376u, 4112874773u, 4202935003u, 4248701965u,
    4271771996u, 4283353945u, 4289156690u, 4292061010u, 4293513907u, 4294240540u,
    4294603903u, 4294785595u, 4294876445u, 4294921870u,
};

static int64_t half_life(const sched_t *s)
{
    return s->cfg.fs_half_life_ms > 0 ? s->cfg.fs_half_life_ms : SCHED_FS_HALF_LIFE_MS;
}

static uint64_t gpu_weight(const sched_t *s)
{
    return s->cfg.fs_gpu_weight ? s->cfg.fs_gpu_weight : SCHED_FS_GPU_WEIGHT;
}

/* u * 2^(-dt/h): whole half-lives as shifts, the rest as the product of
 * half_pow[] over the 16 bits of the fraction (dt mod h) / h. */
static uint64_t decay(uint64_t u, int64_t dt, int64_t h)
{
    if (dt <= 0 || u == 0)
        return u;
    int64_t whole = dt / h;
    if (whole >= 64)
        return 0;
    u >>= whole;
    uint64_t rest = (uint64_t)(dt % h), frac;
    if (h < ((int64_t)1 << 47)) /* the shift fits 64 bits: no 128-bit division */
        frac = (rest << 16) / (uint64_t)h;
    else
        frac = (uint64_t)(((unsigned __int128)rest << 16) / (uint64_t)h);
    for (int i = 0; i < 16 && u; i++)
        if (frac & (1u << (15 - i)))
            u = (uint64_t)(((unsigned __int128)u * half_pow[i]) >> 32);
    return u;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

/* a's own usage at now_ms (no change). */
static uint64_t usage_at(const sched_t *s, const sched_account_t *a, int64_t now_ms)
{
    int64_t dt = ms_since(a->usage_ms, now_ms);
    if (dt == 0)
        return a->usage;
    unsigned __int128 add = (unsigned __int128)a->rate * (uint64_t)dt;
    return sat_add(decay(a->usage, dt, half_life(s)),
                   add > UINT64_MAX ? UINT64_MAX : (uint64_t)add);
}

static void advance(sched_t *s, sched_account_t *a, int64_t now_ms)
{
    if (now_ms <= a->usage_ms)
        return;
    a->usage = usage_at(s, a, now_ms);
    a->usage_ms = now_ms;
}

int acct_init(sched_t *s)
{
    if (CAIRN_GROW(s->accts, s->accts_cap, 1) < 0)
        return SCHED_ENOMEM;
    sched_account_t *a = &s->accts[0];
    if (!(a->name = xstrdup(SCHED_ACCOUNT_DEFAULT)))
        return SCHED_ENOMEM;
    a->parent = SCHED_ACCOUNT_NONE;
    a->share = 1;
    a->max_gpus = a->max_cpus = a->max_running = SCHED_UNLIMITED;
    a->max_priority = SCHED_NO_PRIORITY_CAP;
    s->naccts = 1;
    return 0;
}

void acct_fini(sched_t *s)
{
    for (size_t i = 0; i < s->naccts; i++)
        free(s->accts[i].name);
    free(s->accts);
    free(s->acct_rank);
}

static uint32_t find_any(const sched_t *s, const char *name)
{
    for (size_t i = 0; i < s->naccts; i++)
        if (strcmp(s->accts[i].name, name) == 0)
            return (uint32_t)i;
    return SCHED_ACCOUNT_NONE;
}

uint32_t acct_lookup(const sched_t *s, const char *name)
{
    if (!name || !*name)
        return 0;
    uint32_t id = find_any(s, name);
    return id != SCHED_ACCOUNT_NONE && !s->accts[id].deleted ? id : SCHED_ACCOUNT_NONE;
}

static bool name_ok(const char *n)
{
    size_t len = n ? strlen(n) : 0;
    if (len == 0 || len > SCHED_MAX_NAME_LEN)
        return false;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return false;
    return true;
}

/* Add (sign 1) or take away (-1) a subtree's holdings from from and its
 * ancestors. */
static void held_move(sched_t *s, uint32_t from, const sched_account_t *sub, int sign)
{
    for (uint32_t p = from; p != SCHED_ACCOUNT_NONE; p = s->accts[p].parent) {
        sched_account_t *a = &s->accts[p];
        a->held_gpus += (uint32_t)sign * sub->held_gpus;
        a->held_cpus += (uint32_t)sign * sub->held_cpus;
        a->held_running += (uint32_t)sign * sub->held_running;
    }
}

int account_set(sched_t *s, const sched_event_t *ev, cairn_error_t *err)
{
    const sched_account_spec_t *sp = &ev->u.account_set;
    if (!name_ok(sp->name))
        return errcode(err, SCHED_EINVAL,
                       "account: a name is 1 to %u of letters, digits, '.', '_' and '-'",
                       SCHED_MAX_NAME_LEN);
    if (strcmp(sp->name, SCHED_ACCOUNT_DEFAULT) == 0)
        return errcode(err, SCHED_EINVAL, "account: the default account cannot be changed");
    if (sp->share == 0)
        return errcode(err, SCHED_EINVAL, "account %s: share must be at least 1", sp->name);
    uint32_t id = find_any(s, sp->name);
    uint32_t parent = SCHED_ACCOUNT_NONE;
    if (sp->parent && *sp->parent) {
        parent = acct_lookup(s, sp->parent);
        if (parent == SCHED_ACCOUNT_NONE)
            return errcode(err, SCHED_ENOENT, "account %s: no account %s to be its parent",
                           sp->name, sp->parent);
        for (uint32_t p = parent; p != SCHED_ACCOUNT_NONE; p = s->accts[p].parent)
            if (p == id)
                return errcode(err, SCHED_EINVAL, "account %s: parent %s is %s itself or under it",
                               sp->name, sp->parent, sp->name);
    }
    if (id == SCHED_ACCOUNT_NONE) {
        char *name = xstrdup(sp->name);
        if (!name || CAIRN_GROW(s->accts, s->accts_cap, s->naccts + 1) < 0) {
            free(name);
            return errcode(err, SCHED_ENOMEM, "account %s: out of memory", sp->name);
        }
        id = (uint32_t)s->naccts++;
        s->accts[id].name = name;
        s->accts[id].deleted = true; /* brought to life below */
        s->accts[id].parent = SCHED_ACCOUNT_NONE;
        s->accts[id].usage_ms = ev->time_ms;
    }
    sched_account_t *a = &s->accts[id];
    if (a->deleted) {
        a->deleted = false;
        a->parent = SCHED_ACCOUNT_NONE;
        if (parent != SCHED_ACCOUNT_NONE)
            s->accts[parent].nchildren++;
    } else if (a->parent != parent) {
        /* move its holdings from the old ancestors to the new ones */
        if (a->parent != SCHED_ACCOUNT_NONE) {
            held_move(s, a->parent, a, -1);
            s->accts[a->parent].nchildren--;
        }
        if (parent != SCHED_ACCOUNT_NONE) {
            held_move(s, parent, a, 1);
            s->accts[parent].nchildren++;
        }
    }
    a->parent = parent;
    a->share = sp->share;
    a->max_gpus = sp->max_gpus;
    a->max_cpus = sp->max_cpus;
    a->max_running = sp->max_running;
    a->max_priority = sp->max_priority;
    return 0;
}

int account_delete(sched_t *s, const sched_event_t *ev, cairn_error_t *err)
{
    const char *name = ev->u.account_delete.name;
    if (name && strcmp(name, SCHED_ACCOUNT_DEFAULT) == 0)
        return errcode(err, SCHED_EINVAL, "account: the default account cannot be deleted");
    uint32_t id = name && *name ? acct_lookup(s, name) : SCHED_ACCOUNT_NONE;
    if (id == SCHED_ACCOUNT_NONE)
        return errcode(err, SCHED_ENOENT, "account %s: no such account", name ? name : "");
    sched_account_t *a = &s->accts[id];
    if (a->nchildren)
        return errcode(err, SCHED_ECONFLICT, "account %s: it has %u child account%s", name,
                       a->nchildren, a->nchildren == 1 ? "" : "s");
    uint32_t unfinished = 0, first = 0;
    for (uint32_t j = sched_job_first(s); j <= sched_job_count(s); j++) {
        const sched_job_t *jb = job_at(s, j);
        if (jb && jb->account == id && jb->nended < jb->ntasks && unfinished++ == 0)
            first = j;
    }
    if (unfinished || a->held_running)
        return errcode(err, SCHED_ECONFLICT,
                       "account %s: %u job%s not finished (the first: job %u)", name, unfinished,
                       unfinished == 1 ? " is" : "s are", first);
    advance(s, a, ev->time_ms);
    if (a->parent != SCHED_ACCOUNT_NONE)
        s->accts[a->parent].nchildren--;
    a->deleted = true;
    return 0;
}

uint32_t acct_limit_hit(const sched_t *s, uint32_t acct, const task_class_t *c, int *which)
{
    uint64_t g = (uint64_t)c->gpus * c->replicas, k = (uint64_t)c->cpus * c->replicas;
    for (uint32_t p = acct; p != SCHED_ACCOUNT_NONE && p < s->naccts; p = s->accts[p].parent) {
        const sched_account_t *a = &s->accts[p];
        if (a->max_gpus != SCHED_UNLIMITED && g && a->held_gpus + g > a->max_gpus) {
            *which = 0;
            return p;
        }
        if (a->max_cpus != SCHED_UNLIMITED && a->held_cpus + k > a->max_cpus) {
            *which = 1;
            return p;
        }
        if (a->max_running != SCHED_UNLIMITED && (uint64_t)a->held_running + 1 > a->max_running) {
            *which = 2;
            return p;
        }
    }
    return SCHED_ACCOUNT_NONE;
}

static const task_class_t *attempt_class(const sched_t *s, const sched_attempt_t *at,
                                         uint32_t *acct)
{
    const sched_job_t *j = job_at(s, at->job);
    *acct = j->account;
    return &s->classes[j->tasks[at->task].cls];
}

static void rate_change(sched_t *s, uint32_t acct, const task_class_t *c, int sign, int64_t now_ms)
{
    sched_account_t *a = &s->accts[acct];
    advance(s, a, now_ms);
    uint64_t r = ((uint64_t)c->gpus * gpu_weight(s) + c->cpus) * c->replicas;
    a->rate = sign > 0 ? a->rate + r : a->rate - r;
}

void acct_attempt(sched_t *s, const sched_attempt_t *at, int sign, bool holding, int64_t now_ms)
{
    uint32_t acct;
    const task_class_t *c = attempt_class(s, at, &acct);
    sched_account_t one = {
        .held_gpus = c->gpus * c->replicas, .held_cpus = c->cpus * c->replicas, .held_running = 1};
    held_move(s, acct, &one, sign);
    if (holding)
        rate_change(s, acct, c, sign, now_ms);
}

void acct_attempt_holds(sched_t *s, const sched_attempt_t *at, int64_t now_ms)
{
    uint32_t acct;
    const task_class_t *c = attempt_class(s, at, &acct);
    rate_change(s, acct, c, 1, now_ms);
}

void acct_rebuild(sched_t *s)
{
    for (size_t i = 0; i < s->naccts; i++) {
        sched_account_t *a = &s->accts[i];
        a->nchildren = a->held_gpus = a->held_cpus = a->held_running = 0;
        a->rate = 0;
    }
    for (size_t i = 0; i < s->naccts; i++)
        if (!s->accts[i].deleted && s->accts[i].parent != SCHED_ACCOUNT_NONE)
            s->accts[s->accts[i].parent].nchildren++;
    for (size_t i = s->attempts.off; i < s->attempts.len; i++) {
        const sched_attempt_t *at = s->attempts.slot[i];
        if (!at || !at->running)
            continue;
        /* usage is as saved: a time before it changes nothing */
        acct_attempt(s, at, 1, !at->queued, INT64_MIN);
    }
}

/* --- fair tree ----------------------------------------------------------- */

typedef struct fs_node {
    uint32_t id, parent, share;
    uint64_t usage; /* of its subtree */
} fs_node_t;

/* Siblings together, each set in fair-tree order: the higher level fair
 * share (share / usage, both relative to the siblings' sums, so compared
 * as share_a * usage_b against share_b * usage_a) first, ties by id. */
static int fs_cmp(const void *x, const void *y)
{
    const fs_node_t *a = x, *b = y;
    if (a->parent != b->parent)
        return a->parent < b->parent ? -1 : 1;
    unsigned __int128 l = (unsigned __int128)a->share * b->usage;
    unsigned __int128 r = (unsigned __int128)b->share * a->usage;
    if (l != r)
        return l > r ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

int sched_account_ranks(const sched_t *s, int64_t now_ms, uint32_t *out)
{
    size_t n = s->naccts;
    fs_node_t *v = calloc(n, sizeof(*v));
    uint32_t *first = malloc((n + 1) * sizeof(uint32_t)); /* by id; [n]: top level */
    uint32_t *stack = malloc((n + 1) * sizeof(uint32_t));
    uint64_t *tree = calloc(n, sizeof(uint64_t));
    if (!v || !first || !stack || !tree) {
        free(v);
        free(first);
        free(stack);
        free(tree);
        return SCHED_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const sched_account_t *a = &s->accts[i];
        out[i] = UINT32_MAX;
        if (a->deleted)
            continue;
        uint64_t u = usage_at(s, a, now_ms);
        for (uint32_t p = (uint32_t)i; p != SCHED_ACCOUNT_NONE; p = s->accts[p].parent)
            tree[p] = sat_add(tree[p], u);
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!s->accts[i].deleted) {
            const sched_account_t *a = &s->accts[i];
            v[m++] =
                (fs_node_t){.id = (uint32_t)i,
                            .parent = a->parent == SCHED_ACCOUNT_NONE ? (uint32_t)n : a->parent,
                            .share = a->share,
                            .usage = tree[i]};
        }
    qsort(v, m, sizeof(*v), fs_cmp);
    for (size_t i = 0; i <= n; i++)
        first[i] = UINT32_MAX;
    for (size_t i = m; i-- > 0;)
        first[v[i].parent] = (uint32_t)i;
    /* depth first, in order: an account's own jobs before its children's */
    uint32_t rank = 0, sp = 0;
    if (first[n] != UINT32_MAX)
        stack[sp++] = first[n];
    while (sp > 0) {
        uint32_t i = stack[--sp];
        const fs_node_t *x = &v[i];
        out[x->id] = rank++;
        if (i + 1 < m && v[i + 1].parent == x->parent)
            stack[sp++] = i + 1; /* the next sibling, after the subtree */
        if (first[x->id] != UINT32_MAX)
            stack[sp++] = first[x->id];
    }
    free(v);
    free(first);
    free(stack);
    free(tree);
    return 0;
}

int acct_rank_update(sched_t *s, int64_t now_ms)
{
    if (s->naccts <= 1)
        return 0; /* only default: every rank 0 */
    if (CAIRN_GROW(s->acct_rank, s->acct_rank_cap, s->naccts) < 0)
        return SCHED_ENOMEM;
    int rc = sched_account_ranks(s, now_ms, s->acct_rank);
    if (rc == 0)
        class_levels_sort(s);
    return rc;
}

/* --- queries ------------------------------------------------------------- */

uint32_t sched_account_count(const sched_t *s)
{
    return (uint32_t)s->naccts;
}

int sched_account_find(const sched_t *s, const char *name, uint32_t *id)
{
    uint32_t a = name && *name ? acct_lookup(s, name) : SCHED_ACCOUNT_NONE;
    if (a == SCHED_ACCOUNT_NONE)
        return SCHED_ENOENT;
    *id = a;
    return 0;
}

int sched_account_get(const sched_t *s, uint32_t id, int64_t now_ms, sched_account_info_t *out)
{
    if (id >= s->naccts)
        return SCHED_ENOENT;
    const sched_account_t *a = &s->accts[id];
    *out = (sched_account_info_t){.name = a->name,
                                  .id = id,
                                  .parent = a->parent,
                                  .share = a->share,
                                  .max_gpus = a->max_gpus,
                                  .max_cpus = a->max_cpus,
                                  .max_running = a->max_running,
                                  .max_priority = a->max_priority,
                                  .deleted = a->deleted,
                                  .nchildren = a->nchildren,
                                  .gpus = a->held_gpus,
                                  .cpus = a->held_cpus,
                                  .running = a->held_running,
                                  .usage = usage_at(s, a, now_ms)};
    for (size_t i = 0; i < s->naccts; i++) {
        if (s->accts[i].deleted && i != id)
            continue;
        for (uint32_t p = (uint32_t)i; p != SCHED_ACCOUNT_NONE; p = s->accts[p].parent)
            if (p == id) {
                out->usage_tree = sat_add(out->usage_tree, usage_at(s, &s->accts[i], now_ms));
                break;
            }
    }
    return 0;
}

uint32_t sched_job_account(const sched_t *s, uint32_t job)
{
    const sched_job_t *j = job_at(s, job);
    return j ? j->account : SCHED_ACCOUNT_NONE;
}

/* --- fair share for preemption ------------------------------------------- */

int acct_fs_init(const sched_t *s, int64_t now_ms, acct_fs_t *fs)
{
    size_t n = s->naccts;
    fs->tree = calloc(n, sizeof(uint64_t));
    fs->sum_share = calloc(n + 1, sizeof(uint64_t));
    fs->sum_usage = calloc(n + 1, sizeof(uint64_t));
    if (!fs->tree || !fs->sum_share || !fs->sum_usage) {
        acct_fs_fini(fs);
        return SCHED_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const sched_account_t *a = &s->accts[i];
        if (a->deleted)
            continue;
        uint64_t u = usage_at(s, a, now_ms);
        for (uint32_t p = (uint32_t)i; p != SCHED_ACCOUNT_NONE; p = s->accts[p].parent)
            fs->tree[p] = sat_add(fs->tree[p], u);
    }
    for (size_t i = 0; i < n; i++) {
        const sched_account_t *a = &s->accts[i];
        if (a->deleted)
            continue;
        size_t up = a->parent == SCHED_ACCOUNT_NONE ? n : a->parent;
        fs->sum_share[up] += a->share;
        fs->sum_usage[up] = sat_add(fs->sum_usage[up], fs->tree[i]);
    }
    return 0;
}

void acct_fs_fini(acct_fs_t *fs)
{
    free(fs->tree);
    free(fs->sum_share);
    free(fs->sum_usage);
    memset(fs, 0, sizeof(*fs));
}

bool acct_fs_branches(const sched_t *s, uint32_t p, uint32_t v, uint32_t *bp, uint32_t *bv)
{
    /* v's ancestors (v included) are walked for each of p's: trees are
     * shallow, and this runs once per candidate victim of a search */
    for (uint32_t x = p, below_x = SCHED_ACCOUNT_NONE; x != SCHED_ACCOUNT_NONE;
         below_x = x, x = s->accts[x].parent) {
        for (uint32_t y = v, below_y = SCHED_ACCOUNT_NONE; y != SCHED_ACCOUNT_NONE;
             below_y = y, y = s->accts[y].parent) {
            if (x != y)
                continue;
            if (below_x == SCHED_ACCOUNT_NONE || below_y == SCHED_ACCOUNT_NONE)
                return false; /* one is the other or under it */
            *bp = below_x;
            *bv = below_y;
            return true;
        }
    }
    /* no common ancestor: the top-level accounts of each */
    uint32_t tp = p, tv = v;
    while (s->accts[tp].parent != SCHED_ACCOUNT_NONE)
        tp = s->accts[tp].parent;
    while (s->accts[tv].parent != SCHED_ACCOUNT_NONE)
        tv = s->accts[tv].parent;
    *bp = tp;
    *bv = tv;
    return true;
}

int acct_fs_side(const sched_t *s, const acct_fs_t *fs, uint32_t a)
{
    const sched_account_t *x = &s->accts[a];
    size_t up = x->parent == SCHED_ACCOUNT_NONE ? s->naccts : x->parent;
    /* usage / U against share / S, as usage * S against share * U */
    unsigned __int128 l = (unsigned __int128)fs->tree[a] * fs->sum_share[up];
    unsigned __int128 r = (unsigned __int128)x->share * fs->sum_usage[up];
    return l < r ? -1 : l > r;
}

uint64_t acct_fs_ratio(const sched_t *s, const acct_fs_t *fs, uint32_t a)
{
    const sched_account_t *x = &s->accts[a];
    size_t up = x->parent == SCHED_ACCOUNT_NONE ? s->naccts : x->parent;
    unsigned __int128 den = (unsigned __int128)x->share * fs->sum_usage[up];
    if (den == 0)
        return 0; /* no usage at its level: nobody is above */
    /* usage < 2^64, S < 2^64: the product shifted by 16 may not fit 128
     * bits, so shift what can take it */
    unsigned __int128 num = (unsigned __int128)fs->tree[a] * fs->sum_share[up];
    unsigned __int128 q = num / den, rem = num % den;
    if (q >> 47)
        return UINT64_MAX;
    return (uint64_t)((q << 16) + (rem << 16) / den);
}
