/* Validation of job specs: every problem is reported at once, one line
 * each, naming the task and what is wrong. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched_private.h"

#define MAX_MEMORY (1ull << 50) /* 1 PiB */
#define MAX_PRIORITY 1000000
#define MAX_TIME_LIMIT_MS (366ll * 24 * 3600 * 1000)

/* The place of a problem: task i's field (index k of a list field). */
static sched_problem_t at(int64_t task, sched_field_t field, uint32_t k)
{
    return (sched_problem_t){.task = task, .field = field, .index = k};
}

/* "s" when n is not 1, for "1 GPU" and "2 GPUs". */
static const char *plural(uint64_t n)
{
    return n == 1 ? "" : "s";
}

static bool bad_name(const char *s, char *why, size_t n)
{
    if (!s || !*s)
        return snprintf(why, n, "is empty"), true;
    if (strlen(s) > SCHED_MAX_NAME_LEN)
        return snprintf(why, n, "is longer than %u characters", SCHED_MAX_NAME_LEN), true;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '/' || *p == '\\')
            return snprintf(why, n, "contains a path separator"), true;
        if (*p < 0x20 || *p == 0x7f || *p == ' ')
            return snprintf(why, n, "contains whitespace or a control character"), true;
    }
    return false;
}

static int cmp_name(const void *a, const void *b, void *arg)
{
    const sched_task_spec_t *t = arg;
    return strcmp(t[*(const uint32_t *)a].name, t[*(const uint32_t *)b].name);
}

/* Sorted index of task names (ties by index) for lookups; NULL on ENOMEM. */
static uint32_t *names_sorted(const sched_job_spec_t *spec)
{
    uint32_t *ix = malloc((spec->ntasks ? spec->ntasks : 1) * sizeof(uint32_t));
    if (!ix)
        return NULL;
    for (uint32_t i = 0; i < spec->ntasks; i++)
        ix[i] = i;
    qsort_r(ix, spec->ntasks, sizeof(uint32_t), cmp_name, (void *)spec->tasks);
    return ix;
}

static int64_t name_lookup(const sched_job_spec_t *spec, const uint32_t *ix, const char *name)
{
    size_t lo = 0, hi = spec->ntasks;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(spec->tasks[ix[mid]].name, name);
        if (c == 0) {
            while (mid > 0 && strcmp(spec->tasks[ix[mid - 1]].name, name) == 0)
                mid--;
            return ix[mid];
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static void check_retry(const sched_task_spec_t *t, int64_t i, sched_problems_t *p)
{
    const char *n = t->name;
    const sched_retry_policy_t *r = &t->retry;
    if (r->max_attempts > SCHED_MAX_ATTEMPTS)
        problem_add(p, at(i, SCHED_FIELD_RETRY_ATTEMPTS, 0),
                    "task %s: retry attempts %u is absurd (at most %u)", n, r->max_attempts,
                    SCHED_MAX_ATTEMPTS);
    if (r->backoff_ms < 0 || r->backoff_ms > MAX_TIME_LIMIT_MS)
        problem_add(p, at(i, SCHED_FIELD_RETRY_BACKOFF, 0),
                    "task %s: retry backoff is out of range (0..366 days)", n);
    if (r->max_backoff_ms < 0 || r->max_backoff_ms > MAX_TIME_LIMIT_MS)
        problem_add(p, at(i, SCHED_FIELD_RETRY_MAX_BACKOFF, 0),
                    "task %s: retry max_backoff is out of range (0..366 days)", n);
    if (r->factor_milli != 0 && (r->factor_milli < 1000 || r->factor_milli > 100000))
        problem_add(p, at(i, SCHED_FIELD_RETRY_FACTOR, 0),
                    "task %s: retry factor is out of range (1..100)", n);
    if (r->jitter_pct > 100)
        problem_add(p, at(i, SCHED_FIELD_RETRY_JITTER, 0),
                    "task %s: retry jitter %u is out of range (0..100)", n, r->jitter_pct);
    if (r->nexit_codes > SCHED_RETRY_MAX_EXIT_CODES)
        problem_add(p, at(i, SCHED_FIELD_RETRY_ON, SCHED_RETRY_MAX_EXIT_CODES),
                    "task %s: more than %d retry exit codes", n, SCHED_RETRY_MAX_EXIT_CODES);
    for (uint32_t k = 0; k < r->nexit_codes && k < SCHED_RETRY_MAX_EXIT_CODES; k++)
        if (r->exit_codes[k] < 1 || r->exit_codes[k] > 255)
            problem_add(p, at(i, SCHED_FIELD_RETRY_ON, k),
                        "task %s: retry exit code %d is out of range (1..255)", n,
                        r->exit_codes[k]);
}

/* The preemption fields: a grace of 0..1 day, at most
 * SCHED_MAX_PREEMPTIONS preemptions (attempt numbers stay small). */
static void check_preempt(const sched_task_spec_t *t, int64_t i, sched_problems_t *p)
{
    if (t->grace_ms < 0 || t->grace_ms > SCHED_MAX_GRACE_MS)
        problem_add(p, at(i, SCHED_FIELD_TASK, 0),
                    "task %s: checkpoint grace is out of range (0..1 day)", t->name);
    if (t->max_preemptions > SCHED_MAX_PREEMPTIONS)
        problem_add(p, at(i, SCHED_FIELD_TASK, 0),
                    "task %s: max_preemptions %u is absurd (at most %u)", t->name,
                    t->max_preemptions, SCHED_MAX_PREEMPTIONS);
}

static void check_resources(const sched_task_spec_t *t, int64_t i, sched_problems_t *p)
{
    const char *n = t->name;
    const sched_request_t *q = &t->req;
    char a[32], why[160];
    if (q->cpus == 0)
        problem_add(p, at(i, SCHED_FIELD_CPUS, 0), "task %s: cpus must be at least 1", n);
    if (q->cpus > SCHED_MAX_CPUS)
        problem_add(p, at(i, SCHED_FIELD_CPUS, 0), "task %s: cpus %u is absurd (at most %u)", n,
                    q->cpus, SCHED_MAX_CPUS);
    if (q->gpus > SCHED_MAX_GPUS_PER_NODE)
        problem_add(p, at(i, SCHED_FIELD_GPUS, 0),
                    "task %s: gpus %u is absurd (at most %d per node)", n, q->gpus,
                    SCHED_MAX_GPUS_PER_NODE);
    if (q->memory_bytes > MAX_MEMORY) {
        sched_bytes_str(q->memory_bytes, a, sizeof(a));
        problem_add(p, at(i, SCHED_FIELD_MEMORY, 0), "task %s: memory %s is absurd (at most 1 PiB)",
                    n, a);
    }
    if (q->gpu_min_memory > MAX_MEMORY) {
        sched_bytes_str(q->gpu_min_memory, a, sizeof(a));
        problem_add(p, at(i, SCHED_FIELD_GPU_MEMORY, 0),
                    "task %s: GPU min_memory %s is absurd (at most 1 PiB)", n, a);
    }
    if (q->gpu_model && q->gpu_model[0]) {
        gpu_match_t m;
        if (gpu_match_init(&m, q->gpu_model, why, sizeof(why)) < 0)
            problem_add(p, at(i, SCHED_FIELD_GPU_MODEL, 0), "task %s: GPU model '%s' %s", n,
                        q->gpu_model, why);
        gpu_match_fini(&m);
    }
    if (((q->gpu_model && q->gpu_model[0]) || q->gpu_min_memory) && q->gpus == 0)
        problem_add(
            p,
            at(i, q->gpu_model && q->gpu_model[0] ? SCHED_FIELD_GPU_MODEL : SCHED_FIELD_GPU_MEMORY,
               0),
            "task %s: a GPU model or min_memory is given but gpus is 0", n);
    for (uint32_t k = 0; k < q->nlabels; k++)
        if (!q->labels[k] || !strchr(q->labels[k], '='))
            problem_add(p, at(i, SCHED_FIELD_LABELS, k),
                        "task %s: label selector %u is not key=value", n, k);
}

/* Placement by topology: a gang's, by one level named as levels are. */
static void check_placement(const sched_task_spec_t *t, int64_t i, sched_problems_t *p)
{
    const char *n = t->name;
    if (t->placement == SCHED_PLACEMENT_ANY) {
        if (t->placement_level)
            problem_add(p, at(i, SCHED_FIELD_PLACEMENT, 0),
                        "task %s: placement level %s without pack or require", n,
                        t->placement_level);
        return;
    }
    if (t->placement != SCHED_PLACEMENT_PACK && t->placement != SCHED_PLACEMENT_REQUIRE) {
        problem_add(p, at(i, SCHED_FIELD_PLACEMENT, 0), "task %s: unknown placement %d", n,
                    (int)t->placement);
        return;
    }
    if (t->replicas <= 1)
        problem_add(p, at(i, SCHED_FIELD_PLACEMENT, 0),
                    "task %s: placement is for gangs (replicas > 1); this task has one replica", n);
    if (!topo_name_ok(t->placement_level))
        problem_add(p, at(i, SCHED_FIELD_PLACEMENT, 0),
                    "task %s: placement level is not a topology level name (letters, digits, _ "
                    "and -, at most %u bytes)",
                    n, SCHED_MAX_TOPOLOGY_NAME - 1);
}

static void check_task_values(const sched_task_spec_t *t, int64_t i, sched_problems_t *p)
{
    const char *n = t->name;
    if (t->argc == 0 || !t->argv || !t->argv[0] || !t->argv[0][0])
        problem_add(p, at(i, SCHED_FIELD_ARGV, 0), "task %s: empty command (argv)", n);
    for (uint32_t k = 0; k < t->argc && t->argv; k++)
        if (!t->argv[k])
            problem_add(p, at(i, SCHED_FIELD_ARGV, k), "task %s: argv[%u] is missing", n, k);
    for (uint32_t k = 0; k < t->nenv; k++) {
        const char *e = t->env[k];
        if (!e || !strchr(e, '='))
            problem_add(p, at(i, SCHED_FIELD_ENV, k), "task %s: env entry %u is not NAME=value", n,
                        k);
        else if (e[0] == '=')
            problem_add(p, at(i, SCHED_FIELD_ENV, k), "task %s: env name is empty", n);
    }
    check_resources(t, i, p);
    if (t->replicas > SCHED_MAX_REPLICAS)
        problem_add(p, at(i, SCHED_FIELD_REPLICAS, 0),
                    "task %s: replicas %u is absurd (at most %u)", n, t->replicas,
                    SCHED_MAX_REPLICAS);
    if (t->priority > MAX_PRIORITY || t->priority < -MAX_PRIORITY)
        problem_add(p, at(i, SCHED_FIELD_PRIORITY, 0),
                    "task %s: priority %d is out of range (-%d..%d)", n, t->priority, MAX_PRIORITY,
                    MAX_PRIORITY);
    if (t->time_limit_ms < 0 || t->time_limit_ms > MAX_TIME_LIMIT_MS)
        problem_add(p, at(i, SCHED_FIELD_TIME_LIMIT, 0),
                    "task %s: time limit is out of range (0..366 days)", n);
    check_retry(t, i, p);
    check_preempt(t, i, p);
    check_placement(t, i, p);
}

/* Report cycles through iterative DFS over "needs" edges. deps[i] lists
 * the resolved dependencies of task i (-1 for unknown ones). */
static void check_cycles(const sched_job_spec_t *spec, int64_t **deps, sched_problems_t *p)
{
    uint32_t n = spec->ntasks;
    uint8_t *color = calloc(n, 1); /* 0 white, 1 on stack, 2 done */
    uint32_t *stack = malloc(n * sizeof(uint32_t));
    uint32_t *edge = malloc(n * sizeof(uint32_t));
    uint32_t cycles = 0;
    if (!color || !stack || !edge)
        goto out;
    for (uint32_t root = 0; root < n && cycles < 10; root++) {
        if (color[root])
            continue;
        uint32_t sp = 0;
        stack[sp] = root;
        edge[sp++] = 0;
        color[root] = 1;
        while (sp > 0) {
            uint32_t v = stack[sp - 1];
            if (edge[sp - 1] >= spec->tasks[v].nneeds) {
                color[v] = 2;
                sp--;
                continue;
            }
            int64_t w = deps[v][edge[sp - 1]++];
            if (w < 0 || color[w] == 2)
                continue;
            if (color[w] == 0) {
                color[w] = 1;
                stack[sp] = (uint32_t)w;
                edge[sp++] = 0;
                continue;
            }
            /* back edge: the cycle is stack[k..sp-1] -> w */
            uint32_t k = sp - 1;
            while (stack[k] != (uint32_t)w)
                k--;
            char path[480];
            size_t len = 0;
            path[0] = '\0';
            for (uint32_t i = k; i < sp && len < sizeof(path) - 64; i++)
                len += (size_t)snprintf(path + len, sizeof(path) - len, "%s -> ",
                                        spec->tasks[stack[i]].name);
            if (len < sizeof(path) - 64)
                snprintf(path + len, sizeof(path) - len, "%s", spec->tasks[w].name);
            else
                snprintf(path + len, sizeof(path) - len, "...");
            /* placed at the need that leaves the cycle's first task */
            sched_problem_t where = at(w, SCHED_FIELD_NEEDS, edge[k] - 1);
            if (k + 1 == sp)
                problem_add(p, where, "task %s: needs itself", spec->tasks[w].name);
            else
                problem_add(p, where, "dependency cycle: %s", path);
            if (++cycles >= 10)
                break;
        }
    }
out:
    free(color);
    free(stack);
    free(edge);
}

/* Decimal units with one decimal ("85.5 GB"), for GPU memory asked in GB. */
static void decimal_bytes(uint64_t b, char *buf, size_t n)
{
    static const char *const u[] = {"B", "KB", "MB", "GB", "TB", "PB", "EB"};
    int k = 0;
    uint64_t unit = 1;
    while (k < 6 && b / unit >= 1000) {
        unit *= 1000;
        k++;
    }
    unsigned __int128 tenths = ((unsigned __int128)b * 10 + unit / 2) / unit;
    if (tenths % 10)
        snprintf(buf, n, "%llu.%llu %s", (unsigned long long)(tenths / 10),
                 (unsigned long long)(tenths % 10), u[k]);
    else
        snprintf(buf, n, "%llu %s", (unsigned long long)(tenths / 10), u[k]);
}

/* Explain why no node can ever run class c (of task i), from the closest
 * node's view. */
static void unsatisfiable(const sched_t *s, int64_t i, const char *task, const task_class_t *c,
                          fit_reason_t why, sched_problems_t *p)
{
    char a[32], b[32], b2[32];
    uint32_t most = 0;
    uint64_t mostm = 0;
    switch (why) {
    case FIT_LABELS:
        problem_add(p, at(i, SCHED_FIELD_LABELS, 0),
                    "task %s: no node has the labels it selects (%s%s)", task, c->labels[0],
                    c->nlabels > 1 ? ", ..." : "");
        break;
    case FIT_GPU_MODEL:
        problem_add(p, at(i, SCHED_FIELD_GPU_MODEL, 0), "task %s: no node has a GPU of model '%s'",
                    task, c->gpu_model);
        break;
    case FIT_GPU_MEMORY:
        for (size_t n = 0; n < s->nnodes; n++)
            for (uint32_t g = 0; !cluster_node_gone(&s->nodes[n]) && g < s->nodes[n].ngpus; g++)
                if (s->nodes[n].gpus[g].memory_bytes > mostm)
                    mostm = s->nodes[n].gpus[g].memory_bytes;
        sched_bytes_str(c->gpu_min_memory, a, sizeof(a));
        sched_bytes_str(mostm, b, sizeof(b));
        /* asked in GB (as vendors name GPU memory): compare in GB too */
        if (strstr(a, "iB") == NULL && mostm) {
            decimal_bytes(mostm, b2, sizeof(b2));
            problem_add(p, at(i, SCHED_FIELD_GPU_MEMORY, 0),
                        "task %s: no GPU has %s of memory (the largest has %s, %s)", task, a, b2,
                        b);
        } else {
            problem_add(p, at(i, SCHED_FIELD_GPU_MEMORY, 0),
                        "task %s: no GPU has %s of memory (the largest has %s)", task, a, b);
        }
        break;
    case FIT_CAP_GPUS:
        for (size_t n = 0; n < s->nnodes; n++) {
            if (cluster_node_gone(&s->nodes[n]))
                continue;
            uint32_t k = (uint32_t)__builtin_popcountll(fit_gpu_eligible(&s->nodes[n], c));
            most = k > most ? k : most;
        }
        problem_add(p, at(i, SCHED_FIELD_GPUS, 0),
                    "task %s: needs %u GPU%s%s%s on one node, the most any node has is %u", task,
                    c->gpus, plural(c->gpus), c->gpu_model ? " of model " : "",
                    c->gpu_model ? c->gpu_model : "", most);
        break;
    case FIT_CAP_CORES:
        for (size_t n = 0; n < s->nnodes; n++)
            if (!cluster_node_gone(&s->nodes[n]) && s->nodes[n].ncores > most)
                most = s->nodes[n].ncores;
        problem_add(p, at(i, SCHED_FIELD_CPUS, 0),
                    "task %s: needs %u cpu%s on one node, the most any node has is %u", task,
                    c->cpus, plural(c->cpus), most);
        break;
    case FIT_CAP_MEMORY:
        for (size_t n = 0; n < s->nnodes; n++)
            if (!cluster_node_gone(&s->nodes[n]) && s->nodes[n].mem_total > mostm)
                mostm = s->nodes[n].mem_total;
        sched_bytes_str(c->memory, a, sizeof(a));
        sched_bytes_str(mostm, b, sizeof(b));
        problem_add(p, at(i, SCHED_FIELD_MEMORY, 0),
                    "task %s: needs %s of memory on one node, the most any node has is %s", task, a,
                    b);
        break;
    default:
        problem_add(p, at(i, SCHED_FIELD_TASK, 0), "task %s: no node can run it (%s)", task,
                    fit_reason_text(why));
        break;
    }
}

typedef struct cap_memo {
    uint64_t hash;
    int64_t task; /* -1 empty */
} cap_memo_t;

/* Requests no node of the cluster could ever satisfy. Checked once per
 * distinct request; skipped while the cluster has no nodes yet. */
static void check_capacity(const sched_t *s, const sched_job_spec_t *spec, sched_problems_t *p)
{
    if (!s || cluster_nodes_known(s) == 0)
        return;
    size_t cap = 64;
    while (cap < (size_t)spec->ntasks * 2)
        cap *= 2;
    cap_memo_t *memo = malloc(cap * sizeof(*memo));
    if (!memo)
        return;
    for (size_t i = 0; i < cap; i++)
        memo[i].task = -1;
    for (uint32_t i = 0; i < spec->ntasks; i++) {
        const sched_task_spec_t *t = &spec->tasks[i];
        if (t->req.cpus == 0 || t->req.gpus > SCHED_MAX_GPUS_PER_NODE)
            continue; /* already reported */
        task_class_t c;
        class_from_spec(&c, t);
        uint64_t h = class_hash(&c);
        size_t slot = h & (cap - 1);
        bool seen = false;
        while (memo[slot].task >= 0 && !seen) {
            task_class_t o;
            class_from_spec(&o, &spec->tasks[memo[slot].task]);
            seen = memo[slot].hash == h && class_equal(&c, &o);
            slot = (slot + 1) & (cap - 1);
        }
        if (seen)
            continue; /* an identical request was checked (and reported) */
        slot = h & (cap - 1);
        while (memo[slot].task >= 0)
            slot = (slot + 1) & (cap - 1);
        memo[slot].hash = h;
        memo[slot].task = i;
        if (class_match_init(&c) < 0)
            continue; /* a GPU model that matches nothing: reported */
        uint32_t able = 0;
        fit_reason_t closest = FIT_OK;
        for (size_t n = 0; n < s->nnodes; n++) {
            if (cluster_node_gone(&s->nodes[n]))
                continue;
            fit_reason_t r = fit_node_capacity(&s->nodes[n], &c);
            if (r == FIT_OK)
                able++;
            else if (closest == FIT_OK || r > closest)
                closest = r;
        }
        if (able == 0)
            unsatisfiable(s, i, t->name, &c, closest, p);
        else if (c.replicas > able)
            problem_add(p, at(i, SCHED_FIELD_REPLICAS, 0),
                        "task %s: a gang of %u replicas needs %u nodes, only %u can run it",
                        t->name, c.replicas, c.replicas, able);
        class_match_fini(&c);
    }
    free(memo);
}

/* The job's account exists, and no task asks for a priority above the cap
 * of the account or one of its ancestors. */
static void check_account(const sched_t *s, const sched_job_spec_t *spec, sched_problems_t *p)
{
    if (!s)
        return;
    uint32_t a = acct_lookup(s, spec->account);
    if (a == SCHED_ACCOUNT_NONE) {
        problem_add(p, at(-1, SCHED_FIELD_ACCOUNT, 0), "account %s does not exist", spec->account);
        return;
    }
    for (uint32_t i = 0; i < spec->ntasks; i++) {
        int32_t prio = spec->tasks[i].priority;
        for (uint32_t q = a; q != SCHED_ACCOUNT_NONE; q = s->accts[q].parent)
            if (prio > s->accts[q].max_priority) {
                problem_add(p, at(i, SCHED_FIELD_PRIORITY, 0),
                            "task %s: priority %d is above the cap of account %s: %d",
                            spec->tasks[i].name, prio, s->accts[q].name, s->accts[q].max_priority);
                break;
            }
    }
}

int sched_job_validate(const sched_t *s, const sched_job_spec_t *spec, sched_problems_t *out)
{
    sched_problems_t local = {0};
    sched_problems_t *p = out ? out : &local;
    char why[96];
    uint32_t before = p->count;
    if (bad_name(spec->name, why, sizeof(why)))
        problem_add(p, at(-1, SCHED_FIELD_NAME, 0), "job name %s", why);
    if (spec->ntasks == 0 || !spec->tasks) {
        problem_add(p, at(-1, SCHED_FIELD_TASK, 0), "job has no tasks");
        goto done;
    }
    if (spec->ntasks > SCHED_MAX_TASKS_PER_JOB) {
        problem_add(p, at(-1, SCHED_FIELD_TASK, 0), "job has %u tasks (at most %u)", spec->ntasks,
                    SCHED_MAX_TASKS_PER_JOB);
        goto done;
    }
    for (uint32_t i = 0; i < spec->ntasks; i++) {
        if (bad_name(spec->tasks[i].name, why, sizeof(why))) {
            problem_add(p, at(i, SCHED_FIELD_NAME, 0), "task #%u: name %s", i + 1, why);
            goto done; /* names are needed for everything below */
        }
    }
    uint32_t *ix = names_sorted(spec);
    int64_t **deps = calloc(spec->ntasks, sizeof(int64_t *));
    if (!ix || !deps) {
        free(ix);
        free(deps);
        sched_problems_fini(&local);
        return SCHED_ENOMEM;
    }
    for (uint32_t i = 1; i < spec->ntasks; i++)
        if (strcmp(spec->tasks[ix[i]].name, spec->tasks[ix[i - 1]].name) == 0)
            problem_add(p, at(ix[i], SCHED_FIELD_NAME, 0), "task %s: duplicate name",
                        spec->tasks[ix[i]].name);
    bool oom = false;
    for (uint32_t i = 0; i < spec->ntasks && !oom; i++) {
        const sched_task_spec_t *t = &spec->tasks[i];
        check_task_values(t, i, p);
        deps[i] = malloc((t->nneeds ? t->nneeds : 1) * sizeof(int64_t));
        if (!deps[i]) {
            oom = true;
            break;
        }
        for (uint32_t k = 0; k < t->nneeds; k++) {
            deps[i][k] = t->needs[k] ? name_lookup(spec, ix, t->needs[k]) : -1;
            if (deps[i][k] < 0)
                problem_add(p, at(i, SCHED_FIELD_NEEDS, k), "task %s: needs unknown task '%s'",
                            t->name, t->needs[k] ? t->needs[k] : "(null)");
        }
    }
    if (!oom)
        check_cycles(spec, deps, p);
    for (uint32_t i = 0; i < spec->ntasks; i++)
        free(deps[i]);
    free(deps);
    free(ix);
    if (oom) {
        sched_problems_fini(&local);
        return SCHED_ENOMEM;
    }
    check_capacity(s, spec, p);
    check_account(s, spec, p);
done:;
    int n = (int)(p->count - before);
    sched_problems_fini(&local);
    return n;
}
