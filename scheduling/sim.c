/* What-if simulation: a discrete-event loop around sched_t (sim.h). */
#include "scheduling/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched_private.h"
#include "scheduling/sim_private.h"

sched_sim_t *sched_sim_create(const sched_config_t *cfg)
{
    sched_sim_t *sim = calloc(1, sizeof(*sim));
    if (!sim)
        return NULL;
    sim->s = sched_create(cfg);
    if (!sim->s) {
        free(sim);
        return NULL;
    }
    return sim;
}

static void sim_job_fini(sim_job_t *j)
{
    for (uint32_t i = 0; j->outcomes && i < j->ntasks; i++)
        free(j->outcomes[i]);
    free(j->outcomes);
    free(j->noutcomes);
    free(j->ready_ms);
    free(j->redo);
    free(j->dep_first);
    free(j->dependents);
}

void sched_sim_destroy(sched_sim_t *sim)
{
    if (!sim)
        return;
    sched_destroy(sim->s);
    for (uint32_t i = 0; i < sim->cl.nnodes; i++)
        free(sim->cl.gpu_model[i]);
    free(sim->cl.gpu_model);
    free(sim->cl.ngpus);
    free(sim->cl.changes);
    for (size_t i = 0; i < sim->cl.nmodels; i++)
        free(sim->cl.models[i]);
    free(sim->cl.models);
    for (size_t i = 0; i < sim->njobs; i++)
        sim_job_fini(&sim->jobs[i]);
    free(sim->jobs);
    free(sim->by_core);
    free(sim->heap);
    free(sim->hints);
    free(sim->span_of);
    free(sim->line);
    free(sim->placed);
    free(sim->spans);
    for (size_t i = 0; i < sim->nshapes; i++) {
        free(sim->shapes[i].model);
        free(sim->shapes[i].name);
    }
    free(sim->shapes);
    free(sim);
}

static int model_intern(sched_sim_t *sim, const char *model, uint32_t *out)
{
    for (size_t i = 0; i < sim->cl.nmodels; i++)
        if (!strcmp(sim->cl.models[i], model)) {
            *out = (uint32_t)i;
            return 0;
        }
    if (CAIRN_GROW(sim->cl.models, sim->cl.models_cap, sim->cl.nmodels + 1) < 0)
        return SCHED_ENOMEM;
    char **m = sim->cl.models;
    if (!(m[sim->cl.nmodels] = xstrdup(model)))
        return SCHED_ENOMEM;
    *out = (uint32_t)sim->cl.nmodels++;
    return 0;
}

int sched_sim_node_add(sched_sim_t *sim, const sched_node_desc_t *d, cairn_error_t *err)
{
    if (sim->ran)
        return errcode(err, SCHED_EINVAL, "simulation: nodes must be added before the run");
    uint32_t id;
    if (d->name && sched_node_find(sim->s, d->name, &id) == 0)
        return errcode(err, SCHED_EINVAL, "simulation: node %s added twice", d->name);
    if (CAIRN_GROW(sim->cl.gpu_model, sim->cl.nodes_cap, sim->cl.nnodes + 1) < 0)
        return errcode(err, SCHED_ENOMEM, "out of memory");
    size_t cap = sim->cl.nnodes; /* ngpus grows alongside */
    uint32_t *ng = realloc(sim->cl.ngpus, (cap + 1) * sizeof(uint32_t));
    if (!ng)
        return errcode(err, SCHED_ENOMEM, "out of memory");
    sim->cl.ngpus = ng;
    uint32_t *models = calloc((size_t)(d->ngpus > 0 ? d->ngpus : 1), sizeof(uint32_t));
    if (!models)
        return errcode(err, SCHED_ENOMEM, "out of memory");
    for (int g = 0; g < d->ngpus; g++) {
        const char *m = d->gpus[g].model && d->gpus[g].model[0] ? d->gpus[g].model : "unknown";
        if (model_intern(sim, m, &models[g]) < 0) {
            free(models);
            return errcode(err, SCHED_ENOMEM, "out of memory");
        }
    }
    sched_event_t ev = {.type = SCHED_EV_NODE_ADD, .time_ms = 0, .u.node_add = *d};
    int rc = sched_apply(sim->s, &ev, err);
    if (rc < 0) {
        free(models);
        return rc;
    }
    sim->cl.gpu_model[sim->cl.nnodes] = models;
    sim->cl.ngpus[sim->cl.nnodes] = (uint32_t)(d->ngpus > 0 ? d->ngpus : 0);
    sim->cl.nnodes++;
    return 0;
}

int sched_sim_node_state(sched_sim_t *sim, uint32_t node, int64_t t_ms, sched_node_state_t st,
                         cairn_error_t *err)
{
    if (sim->ran)
        return errcode(err, SCHED_EINVAL, "simulation: node states must be given before the run");
    if (node >= sim->cl.nnodes)
        return errcode(err, SCHED_ENOENT, "simulation: no node %u", node);
    if (st != SCHED_NODE_UP && st != SCHED_NODE_DRAINING && st != SCHED_NODE_RETURNING &&
        st != SCHED_NODE_DOWN)
        return errcode(err, SCHED_EINVAL, "simulation: node state %d", (int)st);
    if (sim->cl.nchanges && t_ms < sim->cl.changes[sim->cl.nchanges - 1].t)
        return errcode(err, SCHED_EINVAL, "simulation: node changes must come in time order");
    if (CAIRN_GROW(sim->cl.changes, sim->cl.changes_cap, sim->cl.nchanges + 1) < 0)
        return errcode(err, SCHED_ENOMEM, "out of memory");
    sim->cl.changes[sim->cl.nchanges++] = (sim_change_t){.t = t_ms, .node = node, .st = st};
    return 0;
}

int sched_sim_account_set(sched_sim_t *sim, const sched_account_spec_t *a, cairn_error_t *err)
{
    if (sim->ran)
        return errcode(err, SCHED_EINVAL, "simulation: accounts must be given before the run");
    sched_event_t ev = {.type = SCHED_EV_ACCOUNT_SET, .time_ms = 0, .u.account_set = *a};
    return sched_apply(sim->s, &ev, err);
}

int sched_sim_node_find(const sched_sim_t *sim, const char *name, uint32_t *id)
{
    return sched_node_find(sim->s, name, id);
}

uint32_t sched_sim_node_count(const sched_sim_t *sim)
{
    return sim->cl.nnodes;
}

const char *sched_sim_node_name(const sched_sim_t *sim, uint32_t node)
{
    return sched_node_name(sim->s, node);
}

int sched_sim_job_add(sched_sim_t *sim, int64_t submit_ms, const sched_job_spec_t *spec,
                      const uint32_t *noutcomes, const sched_sim_outcome_t *const *outcomes,
                      cairn_error_t *err)
{
    if (sim->ran)
        return errcode(err, SCHED_EINVAL, "simulation: jobs must be added before the run");
    for (uint32_t t = 0; t < spec->ntasks; t++) {
        if (noutcomes[t] == 0)
            return errcode(err, SCHED_EINVAL, "job %s task %s: no attempt outcome",
                           spec->name ? spec->name : "", spec->tasks[t].name);
        for (uint32_t k = 0; k < noutcomes[t]; k++)
            if (outcomes[t][k].hold_ms < 0)
                return errcode(err, SCHED_EINVAL, "job %s task %s: negative duration",
                               spec->name ? spec->name : "", spec->tasks[t].name);
    }
    if (CAIRN_GROW(sim->jobs, sim->jobs_cap, sim->njobs + 1) < 0)
        return errcode(err, SCHED_ENOMEM, "out of memory");
    sim_job_t *j = &sim->jobs[sim->njobs];
    memset(j, 0, sizeof(*j));
    j->submit_ms = submit_ms;
    j->spec = spec;
    j->ntasks = spec->ntasks;
    size_t n = spec->ntasks ? spec->ntasks : 1;
    j->noutcomes = calloc(n, sizeof(uint32_t));
    j->outcomes = calloc(n, sizeof(*j->outcomes));
    j->ready_ms = malloc(n * sizeof(int64_t));
    j->redo = calloc(n, sizeof(uint32_t));
    bool ok = j->noutcomes && j->outcomes && j->ready_ms && j->redo;
    for (uint32_t t = 0; ok && t < spec->ntasks; t++) {
        j->ready_ms[t] = -1;
        j->noutcomes[t] = noutcomes[t];
        j->outcomes[t] = malloc(noutcomes[t] * sizeof(sched_sim_outcome_t));
        ok = j->outcomes[t] != NULL;
        if (ok)
            memcpy(j->outcomes[t], outcomes[t], noutcomes[t] * sizeof(sched_sim_outcome_t));
    }
    if (!ok) {
        sim_job_fini(j);
        return errcode(err, SCHED_ENOMEM, "out of memory");
    }
    sim->njobs++;
    return 0;
}

/* --- the event loop ----------------------------------------------------- */

static void on_place_cb(const sched_event_t *ev, void *arg)
{
    sched_sim_t *sim = arg;
    if (ev->type == SCHED_EV_PREEMPT) {
        sim_on_preempt(sim, ev);
        return;
    }
    if (CAIRN_GROW(sim->placed, sim->placed_cap, sim->nplaced + 1) < 0) {
        sim->st.events = UINT64_MAX; /* reported after the pass */
        return;
    }
    sim->placed[sim->nplaced++] = ev->u.place.attempt;
}

/* Submit job j at t; its tasks with nothing to wait for are ready now. */
static int submit_job(sched_sim_t *sim, uint32_t ji, int64_t t)
{
    sim_job_t *j = &sim->jobs[ji];
    sched_event_t ev = {.type = SCHED_EV_JOB_SUBMIT, .time_ms = t, .u.submit = *j->spec};
    cairn_error_t e = {{0}};
    int rc = sched_apply(sim->s, &ev, &e);
    if (rc == SCHED_ENOMEM)
        return rc;
    if (rc < 0) {
        if (!sim->st.rejected++)
            snprintf(sim->st.first_rejection, sizeof(sim->st.first_rejection), "job %.64s: %.180s",
                     j->spec->name ? j->spec->name : "", e.text);
        sim->st.unplaced += j->spec->ntasks;
        return 0;
    }
    sim->st.events++;
    j->core_id = sched_job_count(sim->s);
    if (CAIRN_GROW(sim->by_core, sim->by_core_cap, j->core_id) < 0)
        return SCHED_ENOMEM;
    sim->by_core[j->core_id - 1] = ji;
    /* dependents, as CSR */
    uint32_t n = j->spec->ntasks, total = 0;
    j->dep_first = calloc((size_t)n + 1, sizeof(uint32_t));
    if (!j->dep_first)
        return SCHED_ENOMEM;
    for (uint32_t k = 0; k < n; k++) {
        const uint32_t *deps;
        uint32_t nd = sched_task_deps(sim->s, j->core_id, k, &deps);
        for (uint32_t d = 0; d < nd; d++)
            j->dep_first[deps[d] + 1]++;
        total += nd;
    }
    for (uint32_t k = 0; k < n; k++)
        j->dep_first[k + 1] += j->dep_first[k];
    j->dependents = malloc((total ? total : 1) * sizeof(uint32_t));
    uint32_t *fill = calloc((size_t)n + 1, sizeof(uint32_t));
    if (!j->dependents || !fill) {
        free(fill);
        return SCHED_ENOMEM;
    }
    for (uint32_t k = 0; k < n; k++) {
        const uint32_t *deps;
        uint32_t nd = sched_task_deps(sim->s, j->core_id, k, &deps);
        for (uint32_t d = 0; d < nd; d++)
            j->dependents[j->dep_first[deps[d]] + fill[deps[d]]++] = k;
        if (sched_task_state(sim->s, j->core_id, k) == SCHED_TASK_READY)
            j->ready_ms[k] = t;
    }
    free(fill);
    return 0;
}

/* Attempt ai's outcome: the task's n-th, n counting its attempts but those
 * the simulation preempted (their work is done again), the last one past
 * the end. */
static const sched_sim_outcome_t *outcome_of(const sched_sim_t *sim, const sched_attempt_info_t *ai)
{
    const sim_job_t *j = &sim->jobs[sim->by_core[ai->job - 1]];
    uint32_t n = ai->number, redo = j->redo[ai->task];
    n = redo < n ? n - redo : 1;
    uint32_t k = n < j->noutcomes[ai->task] ? n : j->noutcomes[ai->task];
    return &j->outcomes[ai->task][k - 1];
}

/* An attempt of (job, task) ended at t: note from when what it lets run
 * waits (the task again, after its backoff; or its dependents). */
static void task_ended(sched_sim_t *sim, uint32_t job, uint32_t task, int64_t t)
{
    sim_job_t *j = &sim->jobs[sim->by_core[job - 1]];
    sched_task_info_t ti;
    switch (sched_task_state(sim->s, job, task)) {
    case SCHED_TASK_READY:
        j->ready_ms[task] = t;
        break;
    case SCHED_TASK_RETRYING:
        sched_task_info(sim->s, job, task, &ti);
        j->ready_ms[task] = ti.ready_at_ms;
        break;
    case SCHED_TASK_SUCCEEDED:
        for (uint32_t d = j->dep_first[task]; d < j->dep_first[task + 1]; d++) {
            uint32_t dt = j->dependents[d];
            if (j->ready_ms[dt] < 0 && sched_task_state(sim->s, job, dt) == SCHED_TASK_READY)
                j->ready_ms[dt] = t;
        }
        break;
    default:
        break;
    }
}

static int push_ev(sched_sim_t *sim, int64_t t, uint64_t id, ev_kind_t kind, cairn_error_t *err)
{
    return sim_heap_push(sim, (end_ev_t){t, id, (uint8_t)kind}) < 0
               ? errcode(err, SCHED_ENOMEM, "out of memory")
               : 0;
}

static int apply_start(sched_sim_t *sim, uint64_t id, int64_t t, cairn_error_t *err)
{
    sched_event_t ev = {.type = SCHED_EV_START, .time_ms = t, .u.start.attempt = id};
    int rc = sched_apply(sim->s, &ev, err);
    sim->st.events += rc == 0;
    return rc;
}

/* Attempt id got its allocation at t (placed, or took over from the one
 * ahead of it): its spans hold from t to its end; it starts and ends as
 * its outcome says. */
static int attempt_go(sched_sim_t *sim, uint64_t id, int64_t t, cairn_error_t *err)
{
    sched_attempt_info_t ai;
    if (sched_attempt_get(sim->s, id, &ai) < 0)
        return errcode(err, SCHED_ENOENT, "simulation: lost attempt %llu", (unsigned long long)id);
    const sched_sim_outcome_t *o = outcome_of(sim, &ai);
    int64_t end = t + o->hold_ms;
    for (uint32_t r = 0; r < ai.nreplicas; r++) {
        sched_sim_span_t *sp = &sim->spans[sim->span_of[id - 1] - 1 + r];
        sp->alloc_ms = t;
        sp->end_ms = end;
    }
    if (!o->no_start) {
        int64_t st = t + (o->start_ms < o->hold_ms ? o->start_ms : o->hold_ms);
        int rc = st <= t ? apply_start(sim, id, st, err) : push_ev(sim, st, id, EV_START, err);
        if (rc < 0)
            return rc;
    }
    return push_ev(sim, end, id, EV_END, err);
}

static int sim_pass(sched_sim_t *sim, int64_t t, cairn_error_t *err);

/* An attempt ends at t with its outcome (killed: preempted, its grace
 * over; an outcome recorded preempted ends as sched_sim_outcome_t.end
 * says); the attempt queued behind it takes its allocation over, or (its
 * node lost) the whole line ends with it. */
static int end_attempt(sched_sim_t *sim, uint64_t id, int64_t t, bool killed, cairn_error_t *err)
{
    sched_attempt_info_t ai;
    if (sched_attempt_get(sim->s, id, &ai) < 0)
        return errcode(err, SCHED_ENOENT, "simulation: lost attempt %llu", (unsigned long long)id);
    const sched_sim_outcome_t *o = outcome_of(sim, &ai);
    bool recorded = o->end == SCHED_END_PREEMPTED;
    if (killed && recorded)
        return 0; /* it stopped when it was recorded to */
    if (recorded && !ai.preempted) {
        int rc = sim_pass(sim, t, err); /* the pass that preempted it */
        if (rc < 0 || (rc = sched_attempt_get(sim->s, id, &ai)) < 0)
            return rc;
    }
    /* the line behind it, front first (ids only: ending clears the links) */
    size_t nline = 0;
    sched_attempt_info_t q;
    for (uint64_t n = ai.next; n && sched_attempt_get(sim->s, n, &q) == 0; n = q.next) {
        if (CAIRN_GROW(sim->line, sim->line_cap, nline + 1) < 0)
            return errcode(err, SCHED_ENOMEM, "out of memory");
        sim->line[nline++] = n;
    }
    const uint64_t *line = sim->line;
    sched_event_t ev = {.type = SCHED_EV_FINISH, .time_ms = t};
    ev.u.finish.attempt = id;
    bool preempted = killed || (recorded && ai.preempted);
    ev.u.finish.end = preempted                  ? SCHED_END_PREEMPTED
                      : recorded                 ? SCHED_END_SIGNAL
                      : o->end == SCHED_END_NONE ? SCHED_END_EXIT
                                                 : o->end;
    ev.u.finish.exit_code = preempted ? 0 : o->exit_code;
    ev.u.finish.signal = preempted ? 0 : recorded ? 9 : o->signal;
    int rc = sched_apply(sim->s, &ev, err);
    if (rc < 0)
        return rc;
    sim->st.events++;
    sched_sim_span_t *spans = &sim->spans[sim->span_of[id - 1] - 1];
    if (killed) { /* it held until now, not until its outcome's end */
        sim->jobs[sim->by_core[ai.job - 1]].redo[ai.task]++;
        for (uint32_t r = 0; r < ai.nreplicas; r++)
            spans[r].end_ms = t;
    }
    if (preempted)
        sim_count_preempted(sim, &ai, spans, t, recorded ? o->kept_ms : 0);
    task_ended(sim, ai.job, ai.task, t);
    for (size_t i = 0; i < nline && rc == 0; i++) {
        if (sched_attempt_get(sim->s, line[i], &q) < 0)
            return errcode(err, SCHED_ENOENT, "simulation: lost attempt %llu",
                           (unsigned long long)line[i]);
        if (q.end == SCHED_END_NONE) {
            if (!q.queued)
                rc = attempt_go(sim, line[i], t, err); /* took over */
            continue;
        }
        /* ended with the line, holding nothing */
        sched_sim_span_t *sp = &sim->spans[sim->span_of[line[i] - 1] - 1];
        sp->alloc_ms = sp->end_ms = t;
        task_ended(sim, q.job, q.task, t);
    }
    return rc;
}

/* A node's state changes at t (sim_nodes.c); what ran or waited queued on
 * a node that went down ends there, node-lost, holding what it held until
 * then. */
static int node_change(sched_sim_t *sim, const sim_change_t *c, int64_t t, cairn_error_t *err)
{
    size_t n = c->st == SCHED_NODE_DOWN ? sched_node_attempts(sim->s, c->node, NULL, 0) : 0;
    uint64_t *ids = malloc((n + 1) * sizeof(uint64_t));
    bool *queued = calloc(n + 1, sizeof(bool));
    int rc = ids && queued ? 0 : errcode(err, SCHED_ENOMEM, "out of memory");
    sched_attempt_info_t ai;
    if (rc == 0 && n)
        sched_node_attempts(sim->s, c->node, ids, n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        queued[i] = sched_attempt_get(sim->s, ids[i], &ai) == 0 && ai.queued;
    if (rc == 0)
        rc = sim_node_apply(sim->s, c->node, c->st, t, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (sched_attempt_get(sim->s, ids[i], &ai) < 0 || ai.end == SCHED_END_NONE)
            continue;
        for (uint32_t r = 0; r < ai.nreplicas; r++) {
            sched_sim_span_t *sp = &sim->spans[sim->span_of[ids[i] - 1] - 1 + r];
            sp->end_ms = t;
            if (queued[i]) /* it never held anything */
                sp->alloc_ms = t;
        }
        task_ended(sim, ai.job, ai.task, t);
    }
    free(ids);
    free(queued);
    return rc;
}

/* Whether attempt id ended already (its node went down): its start or
 * end due later has nothing to do. */
static bool ended(const sched_sim_t *sim, uint64_t id)
{
    sched_attempt_info_t ai;
    return sched_attempt_get(sim->s, id, &ai) == 0 && ai.end != SCHED_END_NONE;
}

static int sim_shape_of(sched_sim_t *sim, const sched_task_spec_t *ts)
{
    return sched_sim_shape(sim, ts->req.cpus, ts->req.gpus, ts->req.gpu_model, ts->replicas);
}

/* Record the pass's placements as spans; start those placed on free
 * resources (the queued ones go when the attempt ahead of them ends). */
static int after_pass(sched_sim_t *sim, int64_t t, cairn_error_t *err)
{
    for (size_t i = 0; i < sim->nplaced; i++) {
        uint64_t id = sim->placed[i];
        sched_attempt_info_t ai;
        if (sched_attempt_get(sim->s, id, &ai) < 0)
            return errcode(err, SCHED_ENOENT, "simulation: lost attempt %llu",
                           (unsigned long long)id);
        uint32_t ji = sim->by_core[ai.job - 1];
        sim_job_t *j = &sim->jobs[ji];
        int shape = sim_shape_of(sim, &j->spec->tasks[ai.task]);
        if (shape < 0 || CAIRN_GROW(sim->spans, sim->spans_cap, sim->nspans + ai.nreplicas) < 0 ||
            CAIRN_GROW(sim->span_of, sim->span_of_cap, id) < 0)
            return errcode(err, SCHED_ENOMEM, "out of memory");
        sim->span_of[id - 1] = (uint32_t)sim->nspans + 1;
        int64_t ready = j->ready_ms[ai.task] >= 0 ? j->ready_ms[ai.task] : t;
        for (uint32_t r = 0; r < ai.nreplicas; r++)
            sim->spans[sim->nspans++] = (sched_sim_span_t){.job = ji,
                                                           .task = ai.task,
                                                           .number = ai.number,
                                                           .rank = r,
                                                           .node = ai.allocs[r].node,
                                                           .shape = (uint32_t)shape,
                                                           .cpus = ai.allocs[r].ncores,
                                                           .gpu_mask = ai.allocs[r].gpu_mask,
                                                           .submit_ms = j->submit_ms,
                                                           .ready_ms = ready,
                                                           .placed_ms = t,
                                                           .alloc_ms = t,
                                                           .end_ms = t};
        j->ready_ms[ai.task] = -1;
        sim->st.events++; /* the place */
        if (ai.queued) {
            sim->st.queued++;
            continue;
        }
        int rc = attempt_go(sim, id, t, err);
        if (rc < 0)
            return rc;
    }
    sim->nplaced = 0;
    return 0;
}

/* A placement pass at t, its placements recorded and started. */
static int sim_pass(sched_sim_t *sim, int64_t t, cairn_error_t *err)
{
    int n = sched_place(sim->s, t, on_place_cb, sim);
    if (n < 0 || sim->st.events == UINT64_MAX)
        return errcode(err, n < 0 ? n : SCHED_ENOMEM, "simulation: placement pass failed");
    sim->st.passes++;
    return after_pass(sim, t, err);
}

static int cmp_job_order(const void *a, const void *b, void *arg)
{
    const sim_job_t *jobs = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (jobs[x].submit_ms != jobs[y].submit_ms)
        return jobs[x].submit_ms < jobs[y].submit_ms ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* A stable merge sort of job indexes by submit time (libc has no qsort_r
 * everywhere, and qsort is not stable). */
static void sort_jobs(uint32_t *v, uint32_t *tmp, size_t n, const sim_job_t *jobs)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    sort_jobs(v, tmp, h, jobs);
    sort_jobs(v + h, tmp, n - h, jobs);
    size_t i = 0, k = h, o = 0;
    while (i < h && k < n)
        tmp[o++] = cmp_job_order(&v[k], &v[i], (void *)jobs) < 0 ? v[k++] : v[i++];
    while (i < h)
        tmp[o++] = v[i++];
    while (k < n)
        tmp[o++] = v[k++];
    memcpy(v, tmp, n * sizeof(uint32_t));
}

static int run_loop(sched_sim_t *sim, const uint32_t *order, cairn_error_t *err)
{
    size_t next_job = 0, next_change = 0;
    const sim_change_t *changes = sim->cl.changes;
    int64_t wake = INT64_MAX;
    int64_t last_hint = sim->nhints ? sim->hints[sim->nhints - 1] : INT64_MIN;
    for (;;) {
        int64_t t = INT64_MAX;
        if (next_job < sim->njobs)
            t = sim->jobs[order[next_job]].submit_ms;
        if (sim->nheap && sim->heap[0].t < t)
            t = sim->heap[0].t;
        if (wake < t)
            t = wake;
        if (sim->hint < sim->nhints && sim->hints[sim->hint] < t)
            t = sim->hints[sim->hint];
        if (next_change < sim->cl.nchanges && changes[next_change].t < t)
            t = changes[next_change].t;
        if (t == INT64_MAX)
            return 0;
        while (sim->nheap && sim->heap[0].t == t) {
            end_ev_t e = sim_heap_pop(sim);
            if (ended(sim, e.attempt))
                continue;
            int rc = e.kind == EV_START ? apply_start(sim, e.attempt, t, err)
                                        : end_attempt(sim, e.attempt, t, e.kind == EV_KILL, err);
            if (rc < 0)
                return rc;
        }
        while (next_change < sim->cl.nchanges && changes[next_change].t == t) {
            int rc = node_change(sim, &changes[next_change++], t, err);
            if (rc < 0)
                return rc;
        }
        while (next_job < sim->njobs && sim->jobs[order[next_job]].submit_ms == t)
            if (submit_job(sim, order[next_job++], t) < 0)
                return errcode(err, SCHED_ENOMEM, "out of memory");
        bool hinted = sim->hint < sim->nhints && sim->hints[sim->hint] == t;
        sim->hint += hinted;
        /* node changes before the first submit need no pass */
        if ((hinted || t > last_hint) && (hinted || next_job > 0)) {
            int rc = sim_pass(sim, t, err);
            if (rc < 0)
                return rc;
        }
        wake = sched_next_wakeup(sim->s);
        if (wake <= t)
            wake = INT64_MAX; /* due, yet nothing fits: the next event will retry */
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int sched_sim_pass_times(sched_sim_t *sim, const int64_t *times, size_t n, cairn_error_t *err)
{
    if (sim->ran)
        return errcode(err, SCHED_EINVAL, "simulation: pass times must be given before the run");
    int64_t *h = malloc((n ? n : 1) * sizeof(int64_t));
    if (!h)
        return errcode(err, SCHED_ENOMEM, "out of memory");
    if (n)
        memcpy(h, times, n * sizeof(int64_t));
    if (n > 1)
        qsort(h, n, sizeof(int64_t), cmp_i64);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || h[k - 1] != h[i])
            h[k++] = h[i];
    free(sim->hints);
    sim->hints = h;
    sim->nhints = k;
    sim->hint = 0;
    return 0;
}

int sched_sim_run(sched_sim_t *sim, cairn_error_t *err)
{
    if (sim->ran)
        return errcode(err, SCHED_EINVAL, "simulation: already run");
    sim->ran = true;
    uint32_t *order = malloc((sim->njobs ? sim->njobs : 1) * sizeof(uint32_t));
    uint32_t *tmp = malloc((sim->njobs ? sim->njobs : 1) * sizeof(uint32_t));
    if (!order || !tmp) {
        free(order);
        free(tmp);
        return errcode(err, SCHED_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < sim->njobs; i++)
        order[i] = (uint32_t)i;
    sort_jobs(order, tmp, sim->njobs, sim->jobs);
    free(tmp);
    int rc = run_loop(sim, order, err);
    free(order);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < sim->njobs; i++) {
        const sim_job_t *j = &sim->jobs[i];
        for (uint32_t k = 0; j->core_id && k < j->spec->ntasks; k++)
            sim->st.unplaced += sched_task_attempts(sim->s, j->core_id, k) == 0;
    }
    for (size_t i = 0; i < sim->njobs; i++)
        sim->jobs[i].spec = NULL; /* borrowed until now */
    return 0;
}

void sched_sim_stats(const sched_sim_t *sim, sched_sim_stats_t *st)
{
    *st = sim->st;
}

const sched_sim_span_t *sched_sim_spans(const sched_sim_t *sim, size_t *n)
{
    *n = sim->nspans;
    return sim->spans;
}

int sched_sim_shape(sched_sim_t *sim, uint32_t cpus, uint32_t gpus, const char *gpu_model,
                    uint32_t replicas)
{
    if (!gpus || (gpu_model && !gpu_model[0]))
        gpu_model = NULL;
    if (replicas < 1)
        replicas = 1;
    for (size_t i = 0; i < sim->nshapes; i++) {
        const sim_shape_t *s = &sim->shapes[i];
        if (s->cpus == cpus && s->gpus == gpus && s->replicas == replicas &&
            (s->model ? gpu_model && !strcmp(s->model, gpu_model) : !gpu_model))
            return (int)i;
    }
    if (CAIRN_GROW(sim->shapes, sim->shapes_cap, sim->nshapes + 1) < 0)
        return SCHED_ENOMEM;
    sim_shape_t *v = sim->shapes;
    sim_shape_t *s = &v[sim->nshapes];
    cairn_buf_t b = {0};
    cairn_buf_printf(&b, "%uc", cpus);
    if (gpus)
        cairn_buf_printf(&b, " %ug", gpus);
    if (gpu_model)
        cairn_buf_printf(&b, " %s", gpu_model);
    if (replicas > 1)
        cairn_buf_printf(&b, " x%u", replicas);
    *s = (sim_shape_t){.cpus = cpus, .gpus = gpus, .replicas = replicas};
    s->name = cairn_buf_take(&b);
    s->model = gpu_model ? xstrdup(gpu_model) : NULL;
    if (!s->name || (gpu_model && !s->model)) {
        free(s->name);
        free(s->model);
        return SCHED_ENOMEM;
    }
    return (int)sim->nshapes++;
}

const char *sched_sim_shape_name(const sched_sim_t *sim, uint32_t shape)
{
    return shape < sim->nshapes ? sim->shapes[shape].name : "?";
}

const sim_cluster_t *sim_cluster(const sched_sim_t *sim)
{
    return &sim->cl;
}

size_t sim_shape_count(const sched_sim_t *sim)
{
    return sim->nshapes;
}
