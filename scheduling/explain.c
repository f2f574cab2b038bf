/* Explanations: why a task waits, why it was placed where it was, and how
 * it ended. Pure functions of the state and the time given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched_private.h"

static void alloc_str(cairn_buf_t *b, const sched_t *s, const sched_alloc_desc_t *a)
{
    uint32_t gpus[SCHED_MAX_GPUS_PER_NODE], ng = 0;
    for (uint32_t i = 0; i < 64; i++)
        if (a->gpu_mask >> i & 1)
            gpus[ng++] = i;
    cairn_buf_printf(b, "%s ", s->nodes[a->node].name);
    if (ng) {
        sb_idset(b, "gpu", gpus, ng);
        cairn_buf_printf(b, " ");
    }
    sb_idset(b, "core", a->cores, a->ncores);
    cairn_buf_printf(b, " mem=%llu", (unsigned long long)a->memory_bytes);
}

char *sched_place_str(const sched_t *s, const sched_event_t *ev)
{
    cairn_buf_t b = {0};
    if (ev->type == SCHED_EV_PREEMPT) {
        const char *name = sched_task_name(s, ev->u.preempt.job, ev->u.preempt.task);
        cairn_buf_printf(&b, "job%u %s preempts", ev->u.preempt.job, name ? name : "?");
        for (uint32_t i = 0; i < ev->u.preempt.nvictims; i++)
            cairn_buf_printf(&b, "%s a%llu", i ? "," : "",
                             (unsigned long long)ev->u.preempt.victims[i]);
        cairn_buf_printf(&b, " grace until t=%lld", (long long)ev->u.preempt.grace_end_ms);
        return cairn_buf_take(&b);
    }
    if (ev->type != SCHED_EV_PLACE)
        return NULL;
    const char *name = sched_task_name(s, ev->u.place.job, ev->u.place.task);
    cairn_buf_printf(&b, "job%u %s a%llu ->", ev->u.place.job, name ? name : "?",
                     (unsigned long long)ev->u.place.attempt);
    for (uint32_t i = 0; i < ev->u.place.nreplicas; i++) {
        cairn_buf_printf(&b, i ? " + " : " ");
        alloc_str(&b, s, &ev->u.place.allocs[i]);
    }
    if (ev->u.place.after)
        cairn_buf_printf(&b, " after a%llu", (unsigned long long)ev->u.place.after);
    return cairn_buf_take(&b);
}

/* A short duration: "350 ms", "12 s", "4m05s", "2h10m" (seconds rounded up). */
static void duration_str(int64_t ms, char *buf, size_t n)
{
    if (ms < 1000) {
        snprintf(buf, n, "%lld ms", (long long)ms);
        return;
    }
    int64_t sec = (ms + 999) / 1000;
    if (sec < 60)
        snprintf(buf, n, "%lld s", (long long)sec);
    else if (sec < 3600)
        snprintf(buf, n, "%lldm%02llds", (long long)(sec / 60), (long long)(sec % 60));
    else
        snprintf(buf, n, "%lldh%02lldm", (long long)(sec / 3600), (long long)(sec % 3600 / 60));
}

/* The word `cairn status` uses for a task: "pending" while its attempt
 * waits queued on a node behind another (the core counts it running:
 * placed), else its state's. */
static const char *task_word(const sched_t *s, const sched_task_t *t)
{
    if (t->state == SCHED_TASK_RUNNING && t->attempt && attempt_at(s, t->attempt)->queued)
        return sched_task_state_word(SCHED_TASK_READY);
    return sched_task_state_word(t->state);
}

static void explain_deps(cairn_buf_t *b, const sched_t *s, const sched_job_t *j,
                         const sched_task_t *t)
{
    uint32_t shown = 0, waiting = 0;
    cairn_buf_printf(b, "waiting for dependencies:");
    for (uint32_t k = 0; k < t->ndeps; k++) {
        const sched_task_t *d = &j->tasks[t->deps[k]];
        if (d->state == SCHED_TASK_SUCCEEDED)
            continue;
        waiting++;
        if (shown < 5) {
            cairn_buf_printf(b, "%s dependency %s %s", shown ? ";" : "", d->name, task_word(s, d));
            shown++;
        }
    }
    if (waiting > shown)
        cairn_buf_printf(b, "; and %u more", waiting - shown);
}

/* A gang's replicas take one GPU model: when the nodes that fit now have
 * several and none has enough nodes, say how many of each there are. */
static void explain_gang_kinds(cairn_buf_t *b, const sched_t *s, const task_class_t *c)
{
    gpu_kind_t *kinds;
    int nk = fit_gpu_kinds(s, c, true, &kinds);
    uint32_t *fits = nk > 1 ? calloc((size_t)nk, sizeof(uint32_t)) : NULL;
    uint32_t most = 0;
    for (int k = 0; fits && k < nk; k++) {
        task_class_t t = fit_only_kind(c, &kinds[k]);
        for (size_t n = 0; n < s->nnodes; n++)
            fits[k] += fit_node(&s->nodes[n], &t) == FIT_OK;
        most = fits[k] > most ? fits[k] : most;
    }
    if (fits && most < c->replicas) {
        cairn_buf_printf(
            b,
            "its replicas take one GPU model (unless resources.gpu.mixed) and no model "
            "has %u:",
            c->replicas);
        for (int k = 0; k < nk; k++)
            cairn_buf_printf(b, "%s %u with %s", k ? "," : "", fits[k],
                             kinds[k].model[0]    ? kinds[k].model
                             : kinds[k].vendor[0] ? kinds[k].vendor
                                                  : "GPUs of unknown model");
        cairn_buf_printf(b, "; ");
    }
    free(fits);
    free(kinds);
}

/* A task whose account, or an ancestor of it, is at a limit waits on that
 * (it is not placed, whatever is free): say which and by how much. */
static bool explain_limit(cairn_buf_t *b, const sched_t *s, uint32_t acct, const task_class_t *c)
{
    int which;
    uint32_t hit = s->naccts > 1 ? acct_limit_hit(s, acct, c, &which) : SCHED_ACCOUNT_NONE;
    if (hit == SCHED_ACCOUNT_NONE)
        return false;
    const sched_account_t *a = &s->accts[hit];
    static const char *const what[] = {"GPU", "core", "running-attempt"};
    uint32_t held = which == 0 ? a->held_gpus : which == 1 ? a->held_cpus : a->held_running;
    uint32_t max = which == 0 ? a->max_gpus : which == 1 ? a->max_cpus : a->max_running;
    uint32_t need = which == 0 ? c->gpus * c->replicas : which == 1 ? c->cpus * c->replicas : 1;
    cairn_buf_printf(b, "waiting on a limit: account %s", a->name);
    if (hit != acct)
        cairn_buf_printf(b, " (above %s)", s->accts[acct].name);
    else if (a->parent != SCHED_ACCOUNT_NONE)
        cairn_buf_printf(b, " (parent %s)", s->accts[a->parent].name);
    cairn_buf_printf(b, " is at its %s limit: %u of %u in use", what[which], held, max);
    if (held < max)
        cairn_buf_printf(b, ", this task needs %u", need);
    return true;
}

static const char *const place_word[] = {"", "pack", "require"};

/* A gang that requires a domain: how many nodes fit it now in each domain
 * of its level ("needs 4 nodes in one rack: rack r1 has 2 free, r2 has
 * 3"), or that the scheduler has no such level. */
static void explain_topo_wait(cairn_buf_t *b, const sched_t *s, const task_class_t *c)
{
    if (c->place_mode != SCHED_PLACEMENT_REQUIRE)
        return;
    const topo_t *t = &s->topo;
    if (c->place_ix < 0) {
        cairn_buf_printf(b,
                         "needs %u nodes in one %s, and the scheduler has no topology level %s "
                         "(--topology-levels); ",
                         c->replicas, c->place_level, c->place_level);
        return;
    }
    const topo_level_t *lv = &t->levels[c->place_ix];
    uint32_t *cnt = calloc(lv->nvals + 1, sizeof(uint32_t));
    uint32_t *by_rank = calloc(lv->nvals + 1, sizeof(uint32_t));
    if (!cnt || !by_rank) {
        free(cnt);
        free(by_rank);
        return;
    }
    for (size_t n = 0; n < s->nnodes; n++) {
        uint32_t d = topo_dom(t, (uint32_t)n, (uint32_t)c->place_ix);
        if (d != TOPO_NONE && fit_node(&s->nodes[n], c) == FIT_OK)
            cnt[d]++;
    }
    for (uint32_t d = 0; d < lv->nvals; d++)
        by_rank[lv->rank[d]] = d;
    cairn_buf_printf(b, "needs %u nodes in one %s (require: %s):", c->replicas, lv->name, lv->name);
    if (!lv->nvals)
        cairn_buf_printf(b, " no node carries the label %s...", lv->key);
    uint32_t shown = lv->nvals < 8 ? lv->nvals : 8;
    for (uint32_t k = 0; k < shown; k++) {
        uint32_t d = by_rank[k];
        if (k == 0)
            cairn_buf_printf(b, " %s %s has %u free", lv->name, lv->vals[d], cnt[d]);
        else
            cairn_buf_printf(b, ", %s has %u free", lv->vals[d], cnt[d]);
    }
    if (lv->nvals > shown)
        cairn_buf_printf(b, ", and %u more %ss", lv->nvals - shown, lv->name);
    cairn_buf_printf(b, "; ");
    free(cnt);
    free(by_rank);
}

static void explain_resources(cairn_buf_t *b, const sched_t *s, const sched_job_t *j,
                              const sched_task_t *t, task_ref_t self, int64_t now_ms)
{
    const task_class_t *c = &s->classes[t->cls];
    uint32_t count[FIT_NREASONS] = {0};
    int resv_by = -1;
    for (size_t n = 0; n < s->nnodes; n++) {
        if (cluster_node_gone(&s->nodes[n]))
            continue;
        fit_reason_t r = fit_node(&s->nodes[n], c);
        if (r == FIT_OK && n < s->resv_of_cap && s->resv_of[n]) {
            const sched_reservation_t *rv = &s->resv[s->resv_of[n] - 1];
            bool mine = rv->task.job == self.job && rv->task.task == self.task;
            bool ok = c->time_limit_ms > 0 && now_ms + c->time_limit_ms <= rv->start_ms;
            if (!mine && !ok) {
                r = FIT_RESERVED;
                resv_by = (int)(s->resv_of[n] - 1);
            }
        }
        count[r]++;
    }
    if (cluster_nodes_known(s) == 0) {
        cairn_buf_printf(b, "waiting for resources: no nodes have registered yet");
        return;
    }
    if (explain_limit(b, s, j->account, c))
        return;
    if (c->replicas > 1) {
        cairn_buf_printf(b, "gang of %u replicas needs %u nodes at once, %u fit%s now; ",
                         c->replicas, c->replicas, count[FIT_OK], count[FIT_OK] == 1 ? "s" : "");
        explain_topo_wait(b, s, c);
        if (fit_gang_one_kind(c))
            explain_gang_kinds(b, s, c);
    } else if (count[FIT_OK])
        cairn_buf_printf(b, "ready: %u node%s fit%s now; it will be placed in the next pass; ",
                         count[FIT_OK], count[FIT_OK] == 1 ? "" : "s",
                         count[FIT_OK] == 1 ? "s" : "");
    cairn_buf_printf(b, "waiting for resources:");
    bool first = true;
    for (int r = FIT_DOWN; r < FIT_NREASONS; r++) {
        if (!count[r])
            continue;
        cairn_buf_printf(b, "%s %u node%s: %s", first ? "" : ";", count[r],
                         count[r] == 1 ? "" : "s", fit_reason_text((fit_reason_t)r));
        if (r == FIT_GPU_MODEL && c->gpu_model)
            cairn_buf_printf(b, " (wants %s)", c->gpu_model);
        if (r == FIT_RESERVED && resv_by >= 0) {
            const sched_reservation_t *rv = &s->resv[resv_by];
            cairn_buf_printf(b, " (reservation held for job %u task %s from t=%lld)", rv->task.job,
                             task_at(s, rv->task)->name, (long long)rv->start_ms);
        }
        first = false;
    }
    for (uint32_t i = 0; i < s->nresv; i++) {
        const sched_reservation_t *rv = &s->resv[i];
        if (rv->task.job == self.job && rv->task.task == self.task) {
            cairn_buf_printf(b, "; holds a reservation on %s from t=%lld",
                             s->nodes[rv->nodes[0]].name, (long long)rv->start_ms);
            if (rv->nnodes > 1)
                cairn_buf_printf(b, " (and %u more node%s)", rv->nnodes - 1,
                                 rv->nnodes == 2 ? "" : "s");
        }
    }
    (void)j;
}

/* Where in the topology a gang asking for it landed: "; placed in rack r1
 * (require: rack)", or in a wider domain or none, and why not tighter (a
 * pass tries the tighter domains first: none had room then). */
static void explain_topo_placed(cairn_buf_t *b, const sched_t *s, const task_class_t *c,
                                const sched_attempt_t *at)
{
    if (!c->place_mode || at->nreplicas < 2)
        return;
    const topo_t *t = &s->topo;
    uint32_t dom = 0;
    int l = topo_common_level(s, at->allocs, at->nreplicas, &dom);
    const char *w = place_word[c->place_mode];
    if (c->place_ix < 0) {
        cairn_buf_printf(b, "; placed anywhere (%s: %s): the scheduler has no topology level %s", w,
                         c->place_level, c->place_level);
        return;
    }
    if (l >= 0) {
        cairn_buf_printf(b, "; placed in %s %s (%s: %s)", t->levels[l].name, t->levels[l].vals[dom],
                         w, c->place_level);
    } else {
        cairn_buf_printf(b, "; placed across %ss (%s: %s)", t->levels[c->place_ix].name, w,
                         c->place_level);
    }
    if (l != 0) {
        int upto = l < 0 ? c->place_ix : l - 1;
        cairn_buf_printf(b, ": no %s", t->levels[0].name);
        for (int k = 1; k <= upto; k++)
            cairn_buf_printf(b, " or %s", t->levels[k].name);
        cairn_buf_printf(b, " had %u nodes free for it when it was placed", at->nreplicas);
    }
}

static void explain_placed(cairn_buf_t *b, const sched_t *s, const sched_attempt_t *at)
{
    static const char *const spread[] = {"", "all behind one PCIe switch", "on one NUMA domain",
                                         "spread across NUMA domains"};
    const sched_alloc_desc_t *a = &at->allocs[0];
    cairn_buf_printf(b, "placed (attempt %u) on ", at->number);
    for (uint32_t i = 0; i < at->nreplicas; i++) {
        cairn_buf_printf(b, i ? " + " : "");
        alloc_str(b, s, &at->allocs[i]);
    }
    cairn_buf_printf(b, "; best fit: leaves %u GPU%s and %u core%s free on %s", at->left_gpus,
                     at->left_gpus == 1 ? "" : "s", at->left_cores, at->left_cores == 1 ? "" : "s",
                     s->nodes[a->node].name);
    if (a->gpu_mask) {
        cairn_buf_printf(b, "; GPUs %s", spread[at->gpu_spread < 4 ? at->gpu_spread : 0]);
        cairn_buf_printf(b, at->cores_local ? "; cores on the GPUs' NUMA domain"
                                            : "; some cores off the GPUs' NUMA domain");
    }
}

/* An attempt queued on a node behind another (prefetch): it holds nothing
 * until that one ends, then takes over its allocation. The same words as
 * `cairn status`. */
static void explain_queued(cairn_buf_t *b, const sched_t *s, const sched_attempt_t *at)
{
    cairn_buf_printf(b, "queued on node %s: starts when attempt %llu ends",
                     s->nodes[at->allocs[0].node].name, (unsigned long long)at->after);
}

/* "preempted by job 7 task eval (priority 100 > 0)", or "... (account
 * nlp below its share)": who stopped attempt at of task t, and why. */
static void preempted_by(cairn_buf_t *b, const sched_t *s, const sched_attempt_t *at,
                         const sched_task_t *t)
{
    const sched_job_t *pj = job_at(s, at->by_job); /* NULL: retired since */
    cairn_buf_printf(b, "preempted by job %u task ", at->by_job);
    if (pj && at->by_task < pj->ntasks)
        cairn_buf_printf(b, "%s", pj->tasks[at->by_task].name);
    else
        cairn_buf_printf(b, "#%u", at->by_task);
    if (at->preempt_why == SCHED_PREEMPT_PRIORITY)
        cairn_buf_printf(b, " (priority %d > %d)", at->by_prio, t->priority);
    else
        cairn_buf_printf(b, " (account %s below its share)",
                         at->by_acct < s->naccts ? s->accts[at->by_acct].name : "?");
}

/* " (until t=35000, 30 s left)": the end of a grace, as the core gives
 * times (clients add the local time). */
static void grace_until(cairn_buf_t *b, int64_t end_ms, int64_t now_ms)
{
    char left[32];
    cairn_buf_printf(b, " (until t=%lld", (long long)end_ms);
    if (end_ms > now_ms) {
        duration_str(end_ms - now_ms, left, sizeof(left));
        cairn_buf_printf(b, ", %s left", left);
    }
    cairn_buf_printf(b, ")");
}

/* A preemptor whose victims still run: "waiting for 2 preempted attempts
 * on n1 to end their grace (until t=35000, 30 s left)". false when it
 * waits for none. */
static bool explain_hold(cairn_buf_t *b, const sched_t *s, task_ref_t self, int64_t now_ms)
{
    const preempt_hold_t *h = preempt_hold_of(s, self);
    if (!preempt_hold_active(s, h))
        return false;
    uint32_t running = 0;
    for (uint32_t i = 0; i < h->nvictims; i++) {
        const sched_attempt_t *at = attempt_at(s, h->victims[i]);
        running += at && at->running;
    }
    cairn_buf_printf(b, "waiting for %u preempted attempt%s on %s", running,
                     running == 1 ? "" : "s", s->nodes[h->nodes[0]].name);
    if (h->nnodes > 1)
        cairn_buf_printf(b, " and %u more node%s", h->nnodes - 1, h->nnodes == 2 ? "" : "s");
    cairn_buf_printf(b, " to end %s grace", running == 1 ? "its" : "their");
    grace_until(b, h->grace_end_ms, now_ms);
    return true;
}

/* How an attempt ended: "exit 3", "signal 9", "node-lost"... */
static void ending(cairn_buf_t *b, const sched_attempt_t *at)
{
    cairn_buf_printf(b, "%s", sched_end_name((sched_end_t)at->end));
    if (at->end == SCHED_END_EXIT)
        cairn_buf_printf(b, " %d", at->exit_code);
    if (at->end == SCHED_END_SIGNAL)
        cairn_buf_printf(b, " %d", at->signal);
    if (at->end_class)
        cairn_buf_printf(b, ", %s", sched_end_class_name((sched_end_class_t)at->end_class));
    /* cancelled with no start reported: it never ran (a worker reports a
     * start before the end; a lost node may have started it unreported) */
    if (!at->started_ms && at->end == SCHED_END_CANCELLED)
        cairn_buf_printf(b, " before it started");
}

static void explain_ended(cairn_buf_t *b, const sched_t *s, const sched_job_t *j,
                          const sched_task_t *t)
{
    const sched_attempt_t *at = t->attempt ? attempt_at(s, t->attempt) : NULL;
    cairn_buf_printf(b, "%s", sched_task_state_word(t->state));
    bool upstream_cancelled = t->state == SCHED_TASK_CANCELLED && t->cancelled_upstream;
    if (t->state == SCHED_TASK_UPSTREAM_FAILED || upstream_cancelled) {
        if (upstream_cancelled)
            cairn_buf_printf(b, ": upstream cancelled");
        for (uint32_t k = 0; k < t->ndeps; k++) {
            const sched_task_t *d = &j->tasks[t->deps[k]];
            if (upstream_cancelled ? d->state == SCHED_TASK_CANCELLED
                                   : d->state >= SCHED_TASK_FAILED) {
                cairn_buf_printf(b, ": dependency %s %s", d->name, sched_task_state_word(d->state));
                break;
            }
        }
        return;
    }
    if (!at)
        return;
    cairn_buf_printf(b, ": attempt %u on %s ended (", at->number,
                     s->nodes[at->allocs[0].node].name);
    ending(b, at);
    cairn_buf_printf(b, ")");
    if (t->state == SCHED_TASK_FAILED) {
        if (!retry_wanted(t->retry, (sched_end_t)at->end, (sched_end_class_t)at->end_class,
                          at->exit_code, at->signal))
            cairn_buf_printf(b, "; the retry policy does not retry this ending");
        else
            cairn_buf_printf(b, "; no attempts left (%u of %u used)", task_attempts_used(t),
                             t->retry->max_attempts);
    }
}

char *sched_explain(const sched_t *s, uint32_t job, uint32_t task, int64_t now_ms)
{
    if (!job_at(s, job) || task >= job_at(s, job)->ntasks)
        return NULL;
    const sched_job_t *j = job_at(s, job);
    const sched_task_t *t = &j->tasks[task];
    task_ref_t self = {.job = job, .task = task};
    cairn_buf_t b = {0};
    cairn_buf_printf(&b, "job %u task %s: ", job, t->name);
    switch (t->state) {
    case SCHED_TASK_PENDING:
        explain_deps(&b, s, j, t);
        break;
    case SCHED_TASK_RETRYING:
        if (t->ready_at_ms > now_ms) {
            const sched_attempt_t *at = attempt_at(s, t->attempt);
            /* the time left, not the epoch: clients add the local time */
            char left[32];
            duration_str(t->ready_at_ms - now_ms, left, sizeof(left));
            cairn_buf_printf(&b, "%s: attempt %u ended (", sched_task_state_word(t->state),
                             at->number);
            ending(&b, at);
            cairn_buf_printf(&b, "); attempt %u waits out its backoff (%s left)", at->number + 1u,
                             left);
            break;
        }
        /* backoff over: as a ready task */
        __attribute__((fallthrough));
    case SCHED_TASK_READY: {
        const sched_attempt_t *last = t->attempt ? attempt_at(s, t->attempt) : NULL;
        if (last && last->end == SCHED_END_PREEMPTED) {
            preempted_by(&b, s, last, t);
            cairn_buf_printf(&b, "; ");
        }
        if (!explain_hold(&b, s, self, now_ms))
            explain_resources(&b, s, j, t, self, now_ms);
        break;
    }
    case SCHED_TASK_RUNNING: {
        const sched_attempt_t *at = attempt_at(s, t->attempt);
        if (at->queued) {
            explain_queued(&b, s, at);
        } else {
            explain_placed(&b, s, at);
            explain_topo_placed(&b, s, &s->classes[t->cls], at);
        }
        if (at->preempt_why) {
            cairn_buf_printf(&b, "; ");
            preempted_by(&b, s, at, t);
            cairn_buf_printf(&b, ": stopping, killed at the end of its grace");
            grace_until(&b, at->grace_end_ms, now_ms);
        }
        if (t->cancel_requested)
            cairn_buf_printf(&b, "; cancel requested");
        break;
    }
    default:
        explain_ended(&b, s, j, t);
        break;
    }
    return cairn_buf_take(&b);
}
