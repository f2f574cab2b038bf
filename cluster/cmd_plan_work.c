/* cairn plan's workload: trace records as the scheduling core's jobs, their
 * simulation on a cluster, and the recorded attempts measured beside it. */
#include <stdlib.h>
#include <string.h>

#include "cluster/cmd.h"
#include "cluster/plan_private.h"

static const plan_trace_t *sort_trace;

static int rec_cmp_job(const plan_rec_t *a, const plan_rec_t *b)
{
    if (a->job_id != b->job_id)
        return a->job_id < b->job_id ? -1 : 1;
    return strcmp(a->job_name, b->job_name);
}

static int cmp_rec(const void *x, const void *y)
{
    const plan_rec_t *a = &sort_trace->v[*(const size_t *)x],
                     *b = &sort_trace->v[*(const size_t *)y];
    int c = rec_cmp_job(a, b);
    if (!c)
        c = strcmp(a->task, b->task);
    if (!c)
        c = a->number != b->number ? (a->number < b->number ? -1 : 1) : 0;
    if (!c)
        c = a->rank != b->rank ? (a->rank < b->rank ? -1 : 1) : 0;
    if (!c)
        c = a->line < b->line ? -1 : a->line > b->line;
    return c;
}

static const plan_work_t *sort_work;
static int cmp_task(const void *x, const void *y)
{
    const plan_task_t *a = x, *b = y;
    if (a->job != b->job)
        return a->job < b->job ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

static const plan_rec_t *task_rec(const plan_work_t *w, const plan_task_t *t, size_t i)
{
    return &w->t->v[w->idx[t->first + i]];
}

static bool end_of(const char *word, int code, sched_sim_outcome_t *o)
{
    static const struct {
        const char *word;
        sched_end_t end;
    } ends[] = {{"", SCHED_END_EXIT},
                {"succeeded", SCHED_END_EXIT},
                {"cached", SCHED_END_EXIT},
                {"exit_nonzero", SCHED_END_EXIT},
                {"signaled", SCHED_END_SIGNAL},
                {"timed_out", SCHED_END_TIMEOUT},
                {"cancelled", SCHED_END_CANCELLED},
                {"node_lost", SCHED_END_NODE_LOST},
                {"failed_to_start", SCHED_END_START_FAILED},
                {"preempted", SCHED_END_PREEMPTED}};
    for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
        if (!strcmp(word, ends[i].word)) {
            o->end = ends[i].end;
            o->exit_code = !strcmp(word, "exit_nonzero") ? (code ? code : 1) : 0;
            o->signal = o->end == SCHED_END_SIGNAL ? 9 : 0;
            return true;
        }
    return false;
}

/* Task t's spec and attempt outcomes (docs/capacity.md: how a trace is replayed). */
static int build_task(plan_work_t *w, plan_job_t *j, size_t k, const plan_task_t *t)
{
    const plan_rec_t *r0 = task_rec(w, t, 0);
    sched_task_spec_t *ts = &j->specs[k];
    static const char *const argv_true[] = {"/bin/true"};
    *ts = (sched_task_spec_t){.name = r0->task,
                              .argc = 1,
                              .argv = argv_true,
                              .req = {.cpus = r0->cpus,
                                      .memory_bytes = r0->memory_bytes,
                                      .gpus = r0->gpus,
                                      .gpu_model = r0->gpu_model[0] ? r0->gpu_model : NULL},
                              .replicas = r0->replicas,
                              .priority = r0->priority,
                              .time_limit_ms = r0->time_limit_ms};
    if (ts->replicas > 1 && w->placement_level) {
        ts->placement = w->placement;
        ts->placement_level = w->placement_level;
    }
    j->needs[k] = calloc(r0->nneeds + 1, sizeof(char *));
    j->out[k] = calloc(t->n, sizeof(sched_sim_outcome_t));
    if (!j->needs[k] || !j->out[k])
        return CLI_FAIL;
    for (uint32_t d = 0; d < r0->nneeds; d++) {
        bool known = false;
        for (size_t o = 0; o < j->n && !known; o++)
            known = !strcmp(task_rec(w, &w->tasks[j->first + o], 0)->task, r0->needs[d]);
        if (known)
            j->needs[k][ts->nneeds++] = r0->needs[d];
        else if (!w->t->recorded) { /* recorded: it ran before the window */
            fprintf(stderr, "cairn plan: %s:%zu: task %s needs %s, which job %s does not have\n",
                    w->t->source, r0->line, r0->task, r0->needs[d], r0->job_name);
            return CLI_USAGE;
        }
    }
    ts->needs = j->needs[k];
    uint32_t na = 0, kept = 0; /* kept: outcomes recorded preempted */
    int64_t backoff = 0;
    sched_sim_outcome_t last = {0};
    for (size_t i = 0; i < t->n; i++) {
        const plan_rec_t *r = task_rec(w, t, i);
        /* held from getting its allocation (its placement, or the end of
         * the attempt it was queued behind) to its end; started after it */
        int64_t end = r->end_ms ? r->end_ms : w->t->until_ms, got = w->alloc[r - w->t->v];
        bool preempted = !strcmp(r->end, "preempted");
        /* what it lost: from its newest checkpoint written while it held
         * its allocation, else from that allocation, to its end */
        int64_t from = r->checkpoint_ms >= got && r->checkpoint_ms <= end ? r->checkpoint_ms : got;
        if (preempted && end > from)
            w->rec_preempted_gpu_s += (double)r->gpus * (double)(end - from) / 1000.0;
        if (i && r->number == task_rec(w, t, i - 1)->number)
            continue; /* another replica of the same attempt */
        sched_sim_outcome_t *o = &j->out[k][na];
        if (!end_of(r->end, r->exit_code, o)) {
            fprintf(stderr, "cairn plan: %s:%zu: unknown end \"%s\"\n", w->t->source, r->line,
                    r->end);
            return CLI_USAGE;
        }
        o->hold_ms = w->t->recorded ? (end > got ? end - got : 0) : r->duration_ms;
        o->start_ms = w->t->recorded && r->start_ms ? r->start_ms - got : 0;
        o->no_start = w->t->recorded && !r->start_ms;
        o->kept_ms = preempted ? from - got : 0;
        if (preempted) {
            w->rec_preempted++;
            ts->preemptible = !w->no_preemption;
            if (!w->keep_preempted) { /* its work is done again by the next one */
                last = *o;
                continue;
            }
            kept++;
        }
        if (na == 1 && r->ready_ms > 0) {
            const plan_rec_t *prev = task_rec(w, t, 0);
            backoff = prev->end_ms && r->ready_ms > prev->end_ms ? r->ready_ms - prev->end_ms : 0;
        }
        na++;
    }
    if (!na) { /* preempted, and not run again in the trace: its work so far */
        j->out[k][0] = last;
        j->out[k][0].end = SCHED_END_EXIT;
        na = 1;
    }
    ts->grace_ms = PLAN_GRACE_MS;
    /* the replay preempts it as often as the record did (the scheduler's
     * --max-preemptions-per-task let it), a what-if as the default does */
    ts->max_preemptions = kept;
    j->nout[k] = na;
    /* preempted attempts use no retry */
    ts->retry = (sched_retry_policy_t){.max_attempts = na > kept ? na - kept : 1,
                                       .backoff_ms = backoff,
                                       .on = SCHED_RETRY_NODE_LOST | SCHED_RETRY_TIMEOUT |
                                             SCHED_RETRY_SIGNAL | SCHED_RETRY_ANY_EXIT};
    return CLI_OK;
}

int plan_work_build(plan_work_t *w)
{
    const plan_trace_t *tr = w->t;
    w->idx = malloc((tr->n + 1) * sizeof(size_t));
    w->tasks = calloc(tr->n + 1, sizeof(plan_task_t));
    w->jobs = calloc(tr->n + 1, sizeof(plan_job_t));
    w->alloc = malloc((tr->n + 1) * sizeof(int64_t));
    if (!w->idx || !w->tasks || !w->jobs || !w->alloc || plan_trace_alloc_times(tr, w->alloc))
        return CLI_FAIL;
    for (size_t i = 0; i < tr->n; i++)
        w->idx[i] = i;
    sort_trace = tr;
    qsort(w->idx, tr->n, sizeof(size_t), cmp_rec);
    for (size_t i = 0; i < tr->n; i++) {
        const plan_rec_t *r = &tr->v[w->idx[i]], *p = i ? &tr->v[w->idx[i - 1]] : NULL;
        bool new_job = !p || rec_cmp_job(p, r) != 0;
        if (new_job) {
            w->jobs[w->njobs++] = (plan_job_t){.submit_ms = r->submit_ms};
        } else if (strcmp(p->account, r->account) != 0) {
            fprintf(stderr,
                    "cairn plan: %s:%zu: job %s: its records name accounts \"%s\" and \"%s\"\n",
                    tr->source, r->line, r->job_name, p->account, r->account);
            return CLI_USAGE;
        }
        plan_job_t *j = &w->jobs[w->njobs - 1];
        if (r->submit_ms < j->submit_ms)
            j->submit_ms = r->submit_ms;
        if (new_job || strcmp(p->task, r->task) != 0)
            w->tasks[w->ntasks++] =
                (plan_task_t){.first = i, .order = UINT64_MAX, .job = (uint32_t)(w->njobs - 1)};
        plan_task_t *t = &w->tasks[w->ntasks - 1];
        t->n++;
        uint64_t ord = tr->recorded && r->attempt_id ? r->attempt_id : r->line;
        if (ord < t->order)
            t->order = ord;
    }
    sort_work = w;
    qsort(w->tasks, w->ntasks, sizeof(plan_task_t), cmp_task);
    for (size_t i = 0; i < w->ntasks; i++) {
        plan_job_t *j = &w->jobs[w->tasks[i].job];
        if (!j->n)
            j->first = i;
        j->n++;
    }
    for (size_t ji = 0; ji < w->njobs; ji++) {
        plan_job_t *j = &w->jobs[ji];
        j->specs = calloc(j->n, sizeof(*j->specs));
        j->needs = calloc(j->n, sizeof(*j->needs));
        j->nout = calloc(j->n, sizeof(uint32_t));
        j->out = calloc(j->n, sizeof(*j->out));
        if (!j->specs || !j->needs || !j->nout || !j->out)
            return CLI_FAIL;
        for (size_t k = 0; k < j->n; k++) {
            int rc = build_task(w, j, k, &w->tasks[j->first + k]);
            if (rc != CLI_OK)
                return rc;
        }
        const plan_rec_t *r0 = task_rec(w, &w->tasks[j->first], 0);
        j->spec = (sched_job_spec_t){.name = r0->job_name,
                                     .account = r0->account[0] ? r0->account : NULL,
                                     .seed = r0->job_id ? r0->job_id : ji + 1,
                                     .ntasks = (uint32_t)j->n,
                                     .tasks = j->specs};
    }
    return CLI_OK;
}

#define S0(s) ((s) ? (s) : "")

/* The first GPU of mask on the node named name in cluster cl (its vendor
 * and model); NULL when unknown. */
static const sched_gpu_desc_t *gpu_of(const plan_cluster_t *cl, const char *name, uint64_t mask)
{
    for (size_t i = 0; mask && i < cl->n; i++) {
        int g = __builtin_ctzll(mask);
        if (!strcmp(cl->v[i].name, name) && g < cl->v[i].d.ngpus)
            return &cl->v[i].d.gpus[g];
    }
    return NULL;
}

void plan_work_mark_mixed(plan_work_t *w, const plan_cluster_t *cl)
{
    for (size_t ji = 0; w->t->recorded && ji < w->njobs; ji++) {
        plan_job_t *j = &w->jobs[ji];
        for (size_t k = 0; k < j->n; k++) {
            const plan_task_t *t = &w->tasks[j->first + k];
            const sched_gpu_desc_t *first = NULL;
            for (size_t i = 0; i < t->n && j->specs[k].replicas > 1; i++) {
                const plan_rec_t *r = task_rec(w, t, i);
                const sched_gpu_desc_t *g = gpu_of(cl, r->node, r->gpu_mask);
                if (i && r->number != task_rec(w, t, i - 1)->number)
                    first = NULL; /* another attempt: compare its own replicas */
                if (g && first &&
                    (strcmp(S0(g->model), S0(first->model)) ||
                     strcmp(S0(g->vendor), S0(first->vendor))))
                    j->specs[k].req.gpu_mixed = true;
                first = first ? first : g;
            }
        }
    }
}

void plan_work_fini(plan_work_t *w)
{
    for (size_t ji = 0; ji < w->njobs; ji++) {
        plan_job_t *j = &w->jobs[ji];
        for (size_t k = 0; k < j->n; k++) {
            if (j->needs)
                free(j->needs[k]);
            if (j->out)
                free(j->out[k]);
        }
        free(j->specs);
        free(j->needs);
        free(j->nout);
        free(j->out);
    }
    free(w->jobs);
    free(w->tasks);
    free(w->idx);
    free(w->alloc);
}

/* --- simulation and measurement ----------------------------------------- */

sched_sim_t *plan_sim_create(const plan_cluster_t *cl, bool prefetch, bool fs_preempt,
                             const char *topology_levels, const plan_accounts_t *acct, int *rc)
{
    sched_config_t cfg = sched_config_daemon(prefetch);
    cfg.preempt_for_fair_share = fs_preempt;
    cfg.topology_levels = topology_levels;
    if (acct) {
        cfg.fs_gpu_weight = acct->gpu_weight;
        cfg.fs_half_life_ms = acct->half_life_ms;
    }
    sched_sim_t *sim = sched_sim_create(&cfg);
    cairn_error_t err = {{0}};
    *rc = sim ? CLI_OK : CLI_FAIL;
    for (size_t i = 0; sim && i < cl->n; i++)
        if (sched_sim_node_add(sim, &cl->v[i].d, &err) < 0) {
            fprintf(stderr, "cairn plan: node %s: %s\n", cl->v[i].name, err.text);
            *rc = CLI_USAGE;
            break;
        }
    if (*rc == CLI_OK && acct)
        *rc = plan_accounts_apply(acct, sim);
    if (*rc != CLI_OK) {
        sched_sim_destroy(sim);
        return NULL;
    }
    return sim;
}

int plan_simulate(plan_work_t *w, sched_sim_t *sim, bool replay)
{
    cairn_error_t err = {{0}};
    if (replay) {
        int64_t *at = malloc((w->t->n + 1) * sizeof(int64_t));
        for (size_t i = 0; at && i < w->t->n; i++)
            at[i] = w->t->v[i].placed_ms;
        int rc = at ? sched_sim_pass_times(sim, at, w->t->n, &err) : SCHED_ENOMEM;
        free(at);
        if (rc < 0) {
            fprintf(stderr, "cairn plan: %s\n", at ? err.text : "out of memory");
            return CLI_FAIL;
        }
    }
    for (size_t ji = 0; ji < w->njobs; ji++) {
        plan_job_t *j = &w->jobs[ji];
        if (sched_sim_job_add(sim, j->submit_ms, &j->spec, j->nout,
                              (const sched_sim_outcome_t *const *)j->out, &err) < 0) {
            fprintf(stderr, "cairn plan: job %s: %s\n", j->spec.name, err.text);
            return CLI_USAGE;
        }
    }
    if (sched_sim_run(sim, &err) < 0) {
        fprintf(stderr, "cairn plan: simulation: %s\n", err.text);
        return CLI_FAIL;
    }
    return CLI_OK;
}

sched_sim_span_t *plan_actual_spans(const plan_work_t *w, sched_sim_t *base, size_t *n,
                                    size_t *unknown)
{
    sched_sim_span_t *v = calloc(w->t->n + 1, sizeof(*v));
    *n = *unknown = 0;
    for (size_t ti = 0; v && ti < w->ntasks; ti++) {
        const plan_task_t *t = &w->tasks[ti];
        const plan_job_t *j = &w->jobs[t->job];
        for (size_t i = 0; i < t->n; i++) {
            const plan_rec_t *r = task_rec(w, t, i);
            uint32_t node;
            if (sched_sim_node_find(base, r->node, &node) < 0) {
                (*unknown)++;
                continue;
            }
            int shape = sched_sim_shape(base, r->cpus, r->gpus, r->gpu_model, r->replicas);
            if (shape < 0) {
                free(v);
                return NULL;
            }
            v[(*n)++] = (sched_sim_span_t){.job = t->job,
                                           .task = (uint32_t)(ti - j->first),
                                           .number = r->number,
                                           .rank = r->rank,
                                           .node = node,
                                           .shape = (uint32_t)shape,
                                           .cpus = r->cpus,
                                           .gpu_mask = r->gpu_mask,
                                           .submit_ms = j->submit_ms,
                                           .ready_ms = r->ready_ms > 0 ? r->ready_ms : r->submit_ms,
                                           .placed_ms = r->placed_ms,
                                           .alloc_ms = w->alloc[r - w->t->v],
                                           .end_ms = r->end_ms ? r->end_ms : w->t->until_ms};
        }
    }
    return v;
}

plan_match_t plan_match(const plan_work_t *w, const sched_sim_t *sim)
{
    plan_match_t m = {0};
    size_t n;
    const sched_sim_span_t *sp = sched_sim_spans(sim, &n);
    for (size_t i = 0; i < n; i++) {
        const plan_task_t *t = &w->tasks[w->jobs[sp[i].job].first + sp[i].task];
        for (size_t k = 0; k < t->n; k++) {
            const plan_rec_t *r = task_rec(w, t, k);
            if (r->number != sp[i].number || r->rank != sp[i].rank)
                continue;
            m.attempts++;
            m.same_node += !strcmp(r->node, sched_sim_node_name(sim, sp[i].node));
            m.same_time += r->placed_ms == sp[i].placed_ms;
            break;
        }
    }
    return m;
}
