/* cairn plan's account tree: from an --accounts file (the JSON of `cairn
 * account list --json`) or the scheduler's current accounts, given to the
 * simulation as account events; each job charged to its records' account;
 * and the predicted and recorded figures per account. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cmd.h"
#include "cluster/plan_private.h"
#include "common/grow.h"

static void acct_fini(plan_account_t *a)
{
    free(a->name);
    free(a->parent);
}

void plan_accounts_fini(plan_accounts_t *a)
{
    for (size_t i = 0; i < a->n; i++)
        acct_fini(&a->v[i]);
    free(a->v);
    for (size_t i = 0; i < a->nunknown; i++)
        free(a->unknown[i]);
    free(a->unknown);
    free(a->lines);
    memset(a, 0, sizeof(*a));
}

static plan_account_t *acct_new(plan_accounts_t *a)
{
    if (CAIRN_GROW(a->v, a->cap, a->n + 1) < 0)
        return NULL;
    plan_account_t *p = &a->v[a->n++];
    memset(p, 0, sizeof(*p));
    p->share = 1;
    p->max_gpus = p->max_cpus = p->max_running = SCHED_UNLIMITED;
    p->max_priority = SCHED_NO_PRIORITY_CAP;
    p->id = UINT32_MAX;
    return p;
}

int plan_accounts_find(const plan_accounts_t *a, const char *name)
{
    for (size_t i = 0; i < a->n; i++)
        if (!strcmp(a->v[i].name, name))
            return (int)i;
    return -1;
}

/* --- the --accounts file ------------------------------------------------- */

typedef struct afile {
    plan_accounts_t *a;
    const char *path;
    size_t *lines; /* per account: where it is in the file */
    size_t lines_cap;
    int rc;
} afile_t;

static int aerr(afile_t *f, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int aerr(afile_t *f, size_t line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cairn plan: %s:%zu: ", f->path, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    f->rc = CLI_USAGE;
    return -1;
}

/* Member key of item: absent or null leaves *out; else an integer from min
 * to max. */
static int aint(afile_t *f, size_t line, const json_t *item, const char *name, const char *key,
                int64_t min, int64_t max, int64_t *out)
{
    const json_t *v = json_object_get(item, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return aerr(f, line, "account %s: \"%s\" must be null or an integer from %lld to %lld",
                    name, key, (long long)min, (long long)max);
    *out = json_integer_value(v);
    return 0;
}

/* "users" and "groups" are lists of names (membership does not change
 * placement: read for their form only). */
static int alist(afile_t *f, size_t line, const json_t *item, const char *name, const char *key)
{
    const json_t *v = json_object_get(item, key);
    bool ok = !v || json_is_null(v) || json_is_array(v);
    for (size_t i = 0; ok && json_is_array(v) && i < json_array_size(v); i++)
        ok = json_is_string(json_array_get(v, i));
    return ok ? 0 : aerr(f, line, "account %s: \"%s\" must be a list of names", name, key);
}

/* The built-in "default" as `cairn account list` prints it: share 1, no
 * parent, no limits; the replay cannot change it. */
static int default_item(afile_t *f, size_t line, const json_t *item)
{
    static const char *const fixed[] = {"parent", "max_gpus", "max_cpus", "max_running",
                                        "max_priority"};
    const json_t *share = json_object_get(item, "share");
    bool ok =
        !share || json_is_null(share) || (json_is_integer(share) && json_integer_value(share) == 1);
    for (size_t i = 0; ok && i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        const json_t *v = json_object_get(item, fixed[i]);
        ok = !v || json_is_null(v) || (json_is_string(v) && !json_string_value(v)[0]);
    }
    return ok ? 0
              : aerr(f, line,
                     "account default is built in: share 1, no parent and no limits (it "
                     "cannot be changed)");
}

static int account_cb(const json_t *item, size_t line, void *arg)
{
    afile_t *f = arg;
    if (!json_is_object(item))
        return aerr(f, line, "an account must be an object");
    const json_t *nm = json_object_get(item, "name");
    if (!json_is_string(nm) || !json_string_value(nm)[0])
        return aerr(f, line, "an account needs a \"name\" (a string)");
    const char *name = json_string_value(nm);
    const json_t *bi = json_object_get(item, "builtin");
    if (bi && !json_is_boolean(bi))
        return aerr(f, line, "account %s: \"builtin\" must be true or false", name);
    const json_t *df = json_object_get(item, "default");
    if (df && !json_is_boolean(df))
        return aerr(f, line, "account %s: \"default\" must be true or false", name);
    if (alist(f, line, item, name, "users") < 0 || alist(f, line, item, name, "groups") < 0)
        return -1;
    if (!strcmp(name, SCHED_ACCOUNT_DEFAULT))
        return default_item(f, line, item);
    if (json_is_true(bi))
        return aerr(f, line, "account %s: only default is built in", name);
    if (plan_accounts_find(f->a, name) >= 0)
        return aerr(f, line, "account %s is listed twice", name);
    const json_t *par = json_object_get(item, "parent");
    if (par && !json_is_null(par) && !json_is_string(par))
        return aerr(f, line, "account %s: \"parent\" must be null or an account's name", name);
    int64_t share = 1, lim[3] = {SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED},
            prio = SCHED_NO_PRIORITY_CAP;
    static const char *const limits[3] = {"max_gpus", "max_cpus", "max_running"};
    if (aint(f, line, item, name, "share", 1, UINT32_MAX, &share) < 0)
        return -1;
    for (int i = 0; i < 3; i++)
        if (aint(f, line, item, name, limits[i], 0, SCHED_UNLIMITED - 1, &lim[i]) < 0)
            return -1;
    if (aint(f, line, item, name, "max_priority", INT32_MIN, SCHED_NO_PRIORITY_CAP - 1, &prio) < 0)
        return -1;
    int64_t id = UINT32_MAX;
    if (aint(f, line, item, name, "id", 1, UINT32_MAX - 1, &id) < 0)
        return -1;
    const char *parent = json_is_string(par) ? json_string_value(par) : "";
    plan_account_t *p = acct_new(f->a);
    if (!p || CAIRN_GROW(f->lines, f->lines_cap, f->a->n) < 0 || !(p->name = strdup(name)) ||
        (parent[0] && !(p->parent = strdup(parent))))
        return aerr(f, line, "out of memory");
    f->lines[f->a->n - 1] = line;
    p->share = (uint32_t)share;
    p->max_gpus = (uint32_t)lim[0];
    p->max_cpus = (uint32_t)lim[1];
    p->max_running = (uint32_t)lim[2];
    p->max_priority = (int32_t)prio;
    p->id = (uint32_t)id;
    return 0;
}

/* In the scheduler's creation order (by id) where every account has one,
 * so the replay creates them in that order and breaks fair-share ties as
 * the scheduler did; else as listed. Stable: lines move with them. */
static void id_order(plan_accounts_t *a, size_t *lines)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->v[i].id == UINT32_MAX)
            return;
    for (size_t i = 1; i < a->n; i++)
        for (size_t k = i; k > 0 && a->v[k - 1].id > a->v[k].id; k--) {
            plan_account_t t = a->v[k];
            a->v[k] = a->v[k - 1];
            a->v[k - 1] = t;
            if (lines) {
                size_t l = lines[k];
                lines[k] = lines[k - 1];
                lines[k - 1] = l;
            }
        }
}

/* Parents before children, keeping the file's order otherwise (lines
 * follow); an account whose parent is not listed stays where it is (the
 * core names the missing parent). -1 (printed) on a cycle. */
static int tree_order(afile_t *f)
{
    plan_accounts_t *a = f->a;
    if (a->n == 0)
        return 0;
    plan_account_t *out = calloc(a->n + 1, sizeof(*out));
    size_t *lines = calloc(a->n + 1, sizeof(size_t));
    bool *done = calloc(a->n + 1, sizeof(bool));
    if (!out || !lines || !done) {
        free(out);
        free(lines);
        free(done);
        return aerr(f, 1, "out of memory");
    }
    size_t k = 0;
    for (bool progress = true; progress && k < a->n;) {
        progress = false;
        for (size_t i = 0; i < a->n; i++) {
            int p = a->v[i].parent ? plan_accounts_find(a, a->v[i].parent) : -1;
            if (done[i] || (p >= 0 && !done[p]))
                continue;
            done[i] = progress = true;
            lines[k] = f->lines[i];
            out[k++] = a->v[i];
        }
    }
    int rc = 0;
    for (size_t i = 0; k < a->n && i < a->n; i++)
        if (!done[i]) {
            rc = aerr(f, f->lines[i], "account %s: its parents form a cycle", a->v[i].name);
            break;
        }
    if (rc == 0) {
        memcpy(a->v, out, a->n * sizeof(*out));
        memcpy(f->lines, lines, a->n * sizeof(size_t));
    }
    free(out);
    free(lines);
    free(done);
    return rc;
}

int plan_accounts_load(const char *path, plan_accounts_t *a)
{
    memset(a, 0, sizeof(*a));
    a->from = "file";
    a->source = path;
    pj_reader_t r;
    if (pj_open(&r, path) < 0) {
        fprintf(stderr, "cairn plan: cannot read %s: %s\n", path, r.error);
        return CLI_NOTFOUND;
    }
    afile_t f = {.a = a, .path = path, .rc = CLI_OK};
    int rc = pj_each(&r, "accounts", false, account_cb, &f);
    size_t first = r.first_line ? r.first_line : 1;
    if (rc < 0 && f.rc == CLI_OK && !r.nolist)
        fprintf(stderr, "cairn plan: %s:%s\n", path, r.error);
    if (r.nolist)
        fprintf(stderr,
                "cairn plan: %s:%zu: expected {\"accounts\": [...]} as `cairn account list "
                "--json` prints it\n",
                path, first);
    pj_close(&r);
    if (rc == 0) {
        id_order(a, f.lines);
        rc = tree_order(&f);
    }
    a->lines = NULL;
    if (rc == 0) {
        a->lines = f.lines; /* for the core's refusals (plan_accounts_apply) */
        return CLI_OK;
    }
    free(f.lines);
    return f.rc != CLI_OK ? f.rc : CLI_USAGE;
}

/* --- the scheduler's accounts --------------------------------------------- */

int plan_accounts_from_reply(const Cairn__AccountReply *rep, plan_accounts_t *a)
{
    memset(a, 0, sizeof(*a));
    a->from = "scheduler";
    a->source = PLAN_ACCOUNTS_SCHEDULER;
    a->gpu_weight = rep->gpu_weight;
    a->half_life_ms = rep->half_life_ms;
    for (size_t i = 0; i < rep->n_accounts; i++) {
        const Cairn__Account *m = rep->accounts[i];
        if (m->builtin || !strcmp(m->name, SCHED_ACCOUNT_DEFAULT))
            continue;
        plan_account_t *p = acct_new(a);
        if (!p || !(p->name = strdup(m->name)) ||
            (m->parent[0] && !(p->parent = strdup(m->parent))))
            return CLI_FAIL;
        p->share = m->share ? m->share : 1;
        if (m->max_gpus_set_case == CAIRN__ACCOUNT__MAX_GPUS_SET_MAX_GPUS)
            p->max_gpus = m->max_gpus;
        if (m->max_cpus_set_case == CAIRN__ACCOUNT__MAX_CPUS_SET_MAX_CPUS)
            p->max_cpus = m->max_cpus;
        if (m->max_running_set_case == CAIRN__ACCOUNT__MAX_RUNNING_SET_MAX_RUNNING)
            p->max_running = m->max_running;
        if (m->max_priority_set_case == CAIRN__ACCOUNT__MAX_PRIORITY_SET_MAX_PRIORITY)
            p->max_priority = m->max_priority;
        p->id = m->id ? m->id : UINT32_MAX;
    }
    /* by id, then parents first (an account moved under one made after it) */
    id_order(a, NULL);
    afile_t f = {.a = a, .path = PLAN_ACCOUNTS_SCHEDULER, .rc = CLI_OK};
    f.lines = calloc(a->n + 1, sizeof(size_t));
    int rc = f.lines ? tree_order(&f) : -1;
    free(f.lines);
    return rc == 0 ? CLI_OK : CLI_FAIL;
}

/* Whether a failed call's message is a scheduler from before accounts
 * refusing the request it does not know. */
static bool before_accounts(const char *text)
{
    return strstr(text, "is not a client request") || strstr(text, "unknown message type");
}

int plan_accounts_fetch(cli_t *c, plan_accounts_t *a, bool *old)
{
    memset(a, 0, sizeof(*a));
    *old = false;
    Cairn__AccountList list = CAIRN__ACCOUNT_LIST__INIT;
    Cairn__AccountRequest req = CAIRN__ACCOUNT_REQUEST__INIT;
    req.op_case = CAIRN__ACCOUNT_REQUEST__OP_LIST;
    req.list = &list;
    ProtobufCMessage *rep = NULL;
    int rc = CLI_FAIL;
    if (c->client) { /* open: the trace came from it */
        cairn_error_t err = {{0}};
        cairn_client_set_timeout(c->client, CLI_TIMEOUT_MS);
        if (cairn_client_call(c->client, CAIRN_MSG_ACCOUNT, &req.base, CAIRN_MSG_ACCOUNT_REPLY,
                              &rep, &err) == 0)
            rc = CLI_OK;
        else if (before_accounts(err.text)) {
            *old = true;
            return CLI_OK;
        }
    }
    /* else ask as every command does, which reports a failure */
    if (rc != CLI_OK &&
        (rc = cli_call(c, CAIRN_MSG_ACCOUNT, &req.base, CAIRN_MSG_ACCOUNT_REPLY, &rep)) != CLI_OK)
        return rc;
    rc = plan_accounts_from_reply((const Cairn__AccountReply *)rep, a);
    cairn_msg_free(rep);
    return rc;
}

/* --- the replay ------------------------------------------------------------ */

int plan_accounts_apply(const plan_accounts_t *a, sched_sim_t *sim)
{
    cairn_error_t err = {{0}};
    for (size_t i = 0; i < a->n; i++) {
        const plan_account_t *p = &a->v[i];
        sched_account_spec_t spec = {.name = p->name,
                                     .parent = p->parent,
                                     .share = p->share,
                                     .max_gpus = p->max_gpus,
                                     .max_cpus = p->max_cpus,
                                     .max_running = p->max_running,
                                     .max_priority = p->max_priority};
        int rc = sched_sim_account_set(sim, &spec, &err);
        if (rc == SCHED_ENOMEM) {
            fprintf(stderr, "cairn plan: out of memory\n");
            return CLI_FAIL;
        }
        if (rc < 0 && a->lines) {
            fprintf(stderr, "cairn plan: %s:%zu: %s\n", a->source, a->lines[i], err.text);
            return CLI_USAGE;
        }
        if (rc < 0) {
            fprintf(stderr, "cairn plan: %s: %s\n", a->source, err.text);
            return CLI_FAIL;
        }
    }
    return CLI_OK;
}

int plan_accounts_charge(plan_accounts_t *a, plan_work_t *w)
{
    for (size_t ji = 0; ji < w->njobs; ji++) {
        sched_job_spec_t *spec = &w->jobs[ji].spec;
        const char *name = spec->account;
        if (!name || !name[0] || !strcmp(name, SCHED_ACCOUNT_DEFAULT)) {
            spec->account = NULL;
            continue;
        }
        if (plan_accounts_find(a, name) >= 0)
            continue;
        spec->account = NULL;
        bool warned = false;
        for (size_t i = 0; i < a->nunknown && !warned; i++)
            warned = !strcmp(a->unknown[i], name);
        if (warned)
            continue;
        char *copy = strdup(name);
        if (!copy || CAIRN_GROW(a->unknown, a->unknown_cap, a->nunknown + 1) < 0) {
            free(copy);
            return CLI_FAIL;
        }
        a->unknown[a->nunknown++] = copy;
        if (strcmp(a->from, "none") != 0)
            fprintf(stderr,
                    "cairn plan: warning: the trace charges jobs to account %s, which %s does "
                    "not have: they go to default\n",
                    name, a->source);
        else
            fprintf(stderr,
                    "cairn plan: warning: the trace charges jobs to account %s; without "
                    "--accounts FILE the replay has no account but default: they go to default\n",
                    name);
    }
    return CLI_OK;
}

/* --- figures per account ----------------------------------------------------- */

typedef struct gpu_ev {
    int64_t t;
    int32_t d; /* GPUs taken (+) or given back (-) */
} gpu_ev_t;

static int cmp_gpu_ev(const void *x, const void *y)
{
    const gpu_ev_t *a = x, *b = y;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return a->d - b->d; /* given back before taken at one time */
}

/* The most GPUs spans held at once. -1 out of memory. */
static int64_t peak_gpus(const sched_sim_span_t *sp, size_t n)
{
    gpu_ev_t *ev = malloc((2 * n + 1) * sizeof(*ev));
    if (!ev)
        return -1;
    size_t ne = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t g = __builtin_popcountll(sp[i].gpu_mask);
        if (g && sp[i].alloc_ms < sp[i].end_ms) {
            ev[ne++] = (gpu_ev_t){sp[i].alloc_ms, g};
            ev[ne++] = (gpu_ev_t){sp[i].end_ms, -g};
        }
    }
    qsort(ev, ne, sizeof(*ev), cmp_gpu_ev);
    int64_t cur = 0, peak = 0;
    for (size_t i = 0; i < ne; i++)
        if ((cur += ev[i].d) > peak)
            peak = cur;
    free(ev);
    return peak;
}

/* Whether row q is row r or under it (up[] holds each row's parent row,
 * SIZE_MAX at the top; rows 1.. are the tree's accounts, 0 default). */
static bool under(const size_t *up, size_t q, size_t r)
{
    for (; q != SIZE_MAX; q = up[q])
        if (q == r)
            return true;
    return false;
}

/* The figures of the spans of jobs charged to row r or an account under it
 * (row_of[job]). */
static int row_figures(const sched_sim_t *sim, const sched_sim_span_t *sp, size_t n,
                       const size_t *row_of, const size_t *up, size_t r, sched_sim_span_t *scratch,
                       plan_acct_fig_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (under(up, row_of[sp[i].job], r))
            scratch[k++] = sp[i];
    sched_sim_report_t rep;
    int64_t peak = peak_gpus(scratch, k);
    if (peak < 0 || sched_sim_measure(sim, scratch, k, &rep) < 0)
        return CLI_FAIL;
    *out = (plan_acct_fig_t){.attempts = rep.attempts,
                             .wait_p50_ms = rep.wait_p50_ms,
                             .wait_p95_ms = rep.wait_p95_ms,
                             .gpu_s = rep.total.alloc_gpu_s,
                             .peak_gpus = (uint32_t)peak};
    sched_sim_report_fini(&rep);
    return CLI_OK;
}

int plan_accounts_figures(const plan_accounts_t *a, const plan_work_t *w,
                          const sched_sim_span_t *act, size_t nact, const sched_sim_t *bsim,
                          const sched_sim_t *sim, plan_acct_rows_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t nrows = a->n + 1, nps = 0;
    const sched_sim_span_t *pred = sched_sim_spans(sim, &nps);
    size_t most = nps > nact ? nps : nact;
    out->v = calloc(nrows, sizeof(*out->v));
    size_t *row_of = calloc(w->njobs + 1, sizeof(size_t));
    size_t *up = malloc(nrows * sizeof(size_t));
    sched_sim_span_t *scratch = malloc((most + 1) * sizeof(*scratch));
    int rc = out->v && row_of && up && scratch ? CLI_OK : CLI_FAIL;
    for (size_t r = 0; rc == CLI_OK && r < nrows; r++) {
        int p = r && a->v[r - 1].parent ? plan_accounts_find(a, a->v[r - 1].parent) : -1;
        up[r] = p < 0 ? SIZE_MAX : (size_t)p + 1;
    }
    for (size_t ji = 0; rc == CLI_OK && ji < w->njobs; ji++) {
        const char *name = w->jobs[ji].spec.account; /* charged: NULL is default */
        int i = name ? plan_accounts_find(a, name) : -1;
        row_of[ji] = i < 0 ? 0 : (size_t)i + 1;
    }
    for (size_t r = 0; rc == CLI_OK && r < nrows; r++) {
        plan_acct_row_t *row = &out->v[out->n++];
        row->acct = r ? &a->v[r - 1] : NULL;
        row->name = r ? a->v[r - 1].name : SCHED_ACCOUNT_DEFAULT;
        for (size_t ji = 0; ji < w->njobs; ji++)
            row->jobs += under(up, row_of[ji], r);
        rc = row_figures(sim, pred, nps, row_of, up, r, scratch, &row->pred);
        if (rc == CLI_OK && act)
            rc = row_figures(bsim, act, nact, row_of, up, r, scratch, &row->act);
    }
    out->have_act = act != NULL;
    free(up);
    free(row_of);
    free(scratch);
    if (rc != CLI_OK)
        plan_acct_rows_fini(out);
    return rc;
}

void plan_acct_rows_fini(plan_acct_rows_t *r)
{
    free(r->v);
    memset(r, 0, sizeof(*r));
}
