/* A job's DAG folded for drawing (JobGraphRequest, the dashboard's job
 * page): the members of one matrix (`train[C=0.1]`, `train[C=1.0]`) are
 * one node unless their group is expanded; edges join the nodes. Built
 * from the core on the loop, in O(tasks log tasks + edges log edges). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/clients_private.h"
#include "scheduler/view.h"

#define GRAPH_MEMBERS_DEFAULT 500

/* A task state's word, as `cairn status` writes it. */
static const char *state_word(Cairn__TaskState st)
{
    static const char *const words[] = {
        [CAIRN__TASK_STATE__TASK_STATE_UNSPECIFIED] = "unknown",
        [CAIRN__TASK_STATE__TASK_STATE_WAITING] = "waiting",
        [CAIRN__TASK_STATE__TASK_STATE_PENDING] = "pending",
        [CAIRN__TASK_STATE__TASK_STATE_RUNNING] = "running",
        [CAIRN__TASK_STATE__TASK_STATE_RETRY_WAIT] = "retry_wait",
        [CAIRN__TASK_STATE__TASK_STATE_SUCCEEDED] = "succeeded",
        [CAIRN__TASK_STATE__TASK_STATE_FAILED] = "failed",
        [CAIRN__TASK_STATE__TASK_STATE_CANCELLED] = "cancelled",
        [CAIRN__TASK_STATE__TASK_STATE_UPSTREAM_FAILED] = "upstream_failed",
    };
    return (unsigned)st < sizeof(words) / sizeof(words[0]) ? words[st] : "unknown";
}

#define NSTATES 9

/* Which of a group's states it shows: the most pressing first. */
static const Cairn__TaskState pressing[] = {
    CAIRN__TASK_STATE__TASK_STATE_FAILED,     CAIRN__TASK_STATE__TASK_STATE_UPSTREAM_FAILED,
    CAIRN__TASK_STATE__TASK_STATE_RUNNING,    CAIRN__TASK_STATE__TASK_STATE_RETRY_WAIT,
    CAIRN__TASK_STATE__TASK_STATE_PENDING,    CAIRN__TASK_STATE__TASK_STATE_WAITING,
    CAIRN__TASK_STATE__TASK_STATE_CANCELLED,  CAIRN__TASK_STATE__TASK_STATE_SUCCEEDED,
    CAIRN__TASK_STATE__TASK_STATE_UNSPECIFIED};

/* A task's group: the length of its name before '[' when it is a matrix
 * member ("train[C=0.1]": 5), else of the whole name. */
static size_t group_len(const char *name)
{
    const char *b = strchr(name, '[');
    size_t n = strlen(name);
    return b && b != name && n && name[n - 1] == ']' ? (size_t)(b - name) : n;
}

typedef struct gtask {
    const char *name;
    size_t glen;
    uint32_t task;
} gtask_t;

static int by_group_then_task(const void *a, const void *b)
{
    const gtask_t *x = a, *y = b;
    size_t n = x->glen < y->glen ? x->glen : y->glen;
    int c = memcmp(x->name, y->name, n);
    if (c == 0 && x->glen != y->glen)
        c = x->glen < y->glen ? -1 : 1;
    return c ? c : x->task < y->task ? -1 : x->task > y->task;
}

static int by_edge(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool expanded(const Cairn__JobGraphRequest *r, const char *name, size_t len)
{
    for (size_t i = 0; i < r->n_expand; i++)
        if (r->expand[i] && strlen(r->expand[i]) == len && !memcmp(r->expand[i], name, len))
            return true;
    return false;
}

/* The graph's nodes and edges into rep, allocated in f: 0 or -ENOMEM. */
static int build(sched_daemon_t *d, uint32_t job, uint32_t ntasks, const Cairn__JobGraphRequest *r,
                 Cairn__JobGraphReply *rep, frees_t *f)
{
    uint32_t cap = r->max_members ? r->max_members : GRAPH_MEMBERS_DEFAULT;
    gtask_t *gt = clients_keep(f, calloc(ntasks ? ntasks : 1, sizeof(*gt)));
    uint32_t *node_of = clients_keep(f, calloc(ntasks ? ntasks : 1, sizeof(*node_of)));
    uint32_t *gsize = clients_keep(f, calloc(ntasks ? ntasks : 1, sizeof(*gsize)));
    if (!gt || !node_of || !gsize)
        return -ENOMEM;
    for (uint32_t t = 0; t < ntasks; t++) {
        const char *name = sched_task_name(d->core, job, t);
        gt[t] = (gtask_t){.name = name ? name : "", .task = t};
        gt[t].glen = group_len(gt[t].name);
    }
    qsort(gt, ntasks, sizeof(*gt), by_group_then_task);
    /* groups numbered by key (a group's tasks are contiguous), and each
     * task's group and each group's size */
    uint32_t ngroups = 0;
    uint32_t *group_of = clients_keep(f, calloc(ntasks ? ntasks : 1, sizeof(*group_of)));
    if (!group_of)
        return -ENOMEM;
    for (uint32_t i = 0; i < ntasks; i++) {
        if (i == 0 || gt[i].glen != gt[i - 1].glen ||
            memcmp(gt[i].name, gt[i - 1].name, gt[i].glen) != 0)
            ngroups++;
        gsize[ngroups - 1]++;
        group_of[gt[i].task] = ngroups - 1;
    }
    /* nodes in task order of each node's first task: walk the tasks in
     * order; a folded group's node comes at its first task */
    Cairn__GraphNode **nodes = clients_keep(f, calloc(ntasks ? ntasks : 1, sizeof(*nodes)));
    uint32_t *gnode = clients_keep(f, malloc((ngroups ? ngroups : 1) * sizeof(*gnode)));
    uint32_t *shown = clients_keep(f, calloc(ngroups ? ngroups : 1, sizeof(*shown)));
    uint32_t *counts = clients_keep(f, calloc((size_t)(ntasks ? ntasks : 1) * NSTATES, 4));
    if (!nodes || !gnode || !shown || !counts)
        return -ENOMEM;
    for (uint32_t g = 0; g < ngroups; g++)
        gnode[g] = UINT32_MAX;
    size_t nn = 0;
    for (uint32_t t = 0; t < ntasks; t++) {
        uint32_t g = group_of[t];
        sched_task_info_t ti;
        if (sched_task_info(d->core, job, t, &ti) < 0)
            return -ENOMEM;
        Cairn__TaskState st = view_task_state(d, &ti);
        const char *name = sched_task_name(d->core, job, t);
        bool member = gsize[g] > 1;
        bool open = member && expanded(r, name, group_len(name));
        bool alone = !member || (open && shown[g] < cap);
        if (open && !alone)
            rep->truncated = true;
        uint32_t k;
        if (alone) {
            shown[g]++;
            k = (uint32_t)nn++;
            Cairn__GraphNode *n = clients_keep(f, malloc(sizeof(*n)));
            if (!n)
                return -ENOMEM;
            cairn__graph_node__init(n);
            n->id = (char *)name;
            n->tasks = 1;
            n->expanded_from = member;
            if (member) {
                n->parent = clients_keep(f, strndup(name, group_len(name)));
                if (!n->parent)
                    return -ENOMEM;
            }
            nodes[k] = n;
        } else if (gnode[g] == UINT32_MAX) {
            k = gnode[g] = (uint32_t)nn++;
            Cairn__GraphNode *n = clients_keep(f, malloc(sizeof(*n)));
            if (!n)
                return -ENOMEM;
            cairn__graph_node__init(n);
            n->id = clients_keep(f, strndup(name, group_len(name)));
            if (!n->id)
                return -ENOMEM;
            n->group = true;
            nodes[k] = n;
        } else {
            k = gnode[g];
        }
        Cairn__GraphNode *n = nodes[k];
        if (!n->kind)
            n->kind = (char *)(ti.kind ? ti.kind : "");
        if (ti.replicas > n->replicas)
            n->replicas = ti.replicas;
        n->attempts += ti.attempts;
        if (n->group)
            n->tasks++;
        counts[(size_t)k * NSTATES + (unsigned)st % NSTATES]++;
        node_of[t] = k;
    }
    /* each node's state (a group's most pressing) and a group's counts */
    for (size_t k = 0; k < nn; k++) {
        Cairn__GraphNode *n = nodes[k];
        const uint32_t *c = counts + k * NSTATES;
        for (size_t p = 0; p < sizeof(pressing) / sizeof(pressing[0]); p++)
            if (c[pressing[p]]) {
                n->state = (char *)state_word(pressing[p]);
                break;
            }
        if (!n->group)
            continue;
        n->states = clients_keep(f, calloc(NSTATES, sizeof(*n->states)));
        Cairn__StateCount *sc = clients_keep(f, calloc(NSTATES, sizeof(*sc)));
        if (!n->states || !sc)
            return -ENOMEM;
        for (unsigned s = 1; s < NSTATES; s++)
            if (c[s]) {
                cairn__state_count__init(&sc[n->n_states]);
                sc[n->n_states].state = (char *)state_word((Cairn__TaskState)s);
                sc[n->n_states].count = c[s];
                n->states[n->n_states] = &sc[n->n_states];
                n->n_states++;
            }
    }
    rep->nodes = nodes;
    rep->n_nodes = nn;
    /* edges: (from, to) pairs of nodes, sorted, duplicates counted */
    size_t ne = 0, ecap = 0;
    uint64_t *e = NULL;
    for (uint32_t t = 0; t < ntasks; t++) {
        const uint32_t *deps;
        uint32_t nd = sched_task_deps(d->core, job, t, &deps);
        for (uint32_t i = 0; i < nd; i++) {
            if (deps[i] >= ntasks || node_of[deps[i]] == node_of[t])
                continue;
            if (ne == ecap) {
                ecap = ecap ? 2 * ecap : 64;
                uint64_t *ne_ = realloc(e, ecap * sizeof(*e));
                if (!ne_) {
                    free(e);
                    return -ENOMEM;
                }
                e = ne_;
            }
            e[ne++] = (uint64_t)node_of[deps[i]] << 32 | node_of[t];
        }
    }
    if (e && !clients_keep(f, e))
        return -ENOMEM;
    qsort(e, ne, sizeof(*e), by_edge);
    size_t nu = 0;
    for (size_t i = 0; i < ne; i++)
        if (i == 0 || e[i] != e[i - 1])
            nu++;
    Cairn__GraphEdge *ev = clients_keep(f, calloc(nu ? nu : 1, sizeof(*ev)));
    Cairn__GraphEdge **ep = clients_keep(f, calloc(nu ? nu : 1, sizeof(*ep)));
    if (!ev || !ep)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < ne; i++) {
        if (i && e[i] == e[i - 1]) {
            ev[k - 1].count++;
            continue;
        }
        cairn__graph_edge__init(&ev[k]);
        ev[k].from = (uint32_t)(e[i] >> 32);
        ev[k].to = (uint32_t)e[i];
        ev[k].count = 1;
        ep[k] = &ev[k];
        k++;
    }
    rep->edges = ep;
    rep->n_edges = nu;
    return 0;
}

void clients_graph(sched_daemon_t *d, const client_req_t *rq, const Cairn__JobGraphRequest *r)
{
    if (r->job_id == 0 || r->job_id > sched_job_count(d->core)) {
        clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND, "no job %llu",
                      (unsigned long long)r->job_id);
        return;
    }
    uint32_t job = (uint32_t)r->job_id;
    sched_job_info_t ji;
    if (sched_job_retired(d->core, job) || sched_job_info(d->core, job, &ji) < 0) {
        clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND,
                      "job %u has ended and left the scheduler's memory (--keep-finished): its "
                      "tasks are in its status",
                      job);
        return;
    }
    frees_t f = {0};
    Cairn__JobGraphReply rep = CAIRN__JOB_GRAPH_REPLY__INIT;
    Cairn__JobStatusReply st = CAIRN__JOB_STATUS_REPLY__INIT;
    Cairn__JobSummary sum;
    status_page_t pg = {.summary_only = true};
    clients_status_fill(d, job, &pg, &st, &sum, &f);
    rep.job = &sum;
    if (build(d, job, ji.ntasks, r, &rep, &f) < 0 || f.oom)
        clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_RESOURCE_EXHAUSTED,
                      "out of memory drawing job %u", job);
    else
        clients_reply(d, rq->from, CAIRN_MSG_JOB_GRAPH_REPLY, &rep.base);
    clients_frees_fini(&f);
}
