/* Test fixtures for the scheduling core: nodes, task specs, a journal of
 * events that can be replayed, and a small seeded PRNG. Header-only so each
 * test executable stays self-contained. */
#ifndef CAIRN_TEST_SCHED_FIXTURES_H
#define CAIRN_TEST_SCHED_FIXTURES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched.h"

#define GiB (1024ull * 1024 * 1024)

typedef struct fx_node {
    char name[32];
    uint64_t numa_mem[8];
    int core_numa[256];
    sched_gpu_desc_t gpus[16];
    char uuids[16][48];
    char buses[16][24];
    const char *labels[4];
    sched_node_desc_t d;
} fx_node_t;

/* A node: nnuma domains of cores_per_numa cores each; ngpus GPUs split
 * evenly across domains, gpus_per_group per PCIe switch. */
static inline void fx_node_init(fx_node_t *n, const char *name, int nnuma, int cores_per_numa,
                                int ngpus, int gpus_per_group, const char *model, uint64_t gpu_mem,
                                uint64_t mem_per_numa)
{
    memset(n, 0, sizeof(*n));
    snprintf(n->name, sizeof(n->name), "%s", name);
    for (int d = 0; d < nnuma; d++)
        n->numa_mem[d] = mem_per_numa;
    for (int c = 0; c < nnuma * cores_per_numa; c++)
        n->core_numa[c] = c / cores_per_numa;
    for (int g = 0; g < ngpus; g++) {
        snprintf(n->uuids[g], sizeof(n->uuids[g]), "GPU-%s-%d", name, g);
        snprintf(n->buses[g], sizeof(n->buses[g]), "0000:%02x:00.0", 0x10 + g);
        n->gpus[g] = (sched_gpu_desc_t){.vendor = "nvidia",
                                        .model = model,
                                        .uuid = n->uuids[g],
                                        .pci_bus_id = n->buses[g],
                                        .memory_bytes = gpu_mem,
                                        .numa = g * nnuma / (ngpus ? ngpus : 1),
                                        .group = gpus_per_group ? g / gpus_per_group : g};
    }
    n->d = (sched_node_desc_t){.name = n->name,
                               .nnuma = nnuma,
                               .numa_memory = n->numa_mem,
                               .ncores = nnuma * cores_per_numa,
                               .core_numa = n->core_numa,
                               .ngpus = ngpus,
                               .gpus = n->gpus,
                               .nlabels = 0,
                               .labels = n->labels};
}

static inline const char *const *fx_argv_true(void)
{
    static const char *const argv[] = {"/bin/true"};
    return argv;
}

static inline sched_task_spec_t fx_task(const char *name, uint32_t cpus, uint32_t gpus)
{
    return (sched_task_spec_t){.name = name,
                               .kind = "train",
                               .argc = 1,
                               .argv = fx_argv_true(),
                               .req = {.cpus = cpus, .gpus = gpus, .memory_bytes = 0}};
}

/* --- a journal of applied events, deep-copied so it can be replayed ----- */

typedef struct fx_journal {
    sched_event_t *ev;
    size_t n, cap;
} fx_journal_t;

static inline void fx_journal_add(fx_journal_t *j, const sched_event_t *ev)
{
    if (j->n == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 64;
        j->ev = realloc(j->ev, j->cap * sizeof(*j->ev));
    }
    sched_event_t c = *ev;
    if (ev->type == SCHED_EV_PLACE) {
        uint32_t nr = ev->u.place.nreplicas;
        sched_alloc_desc_t *a = malloc(nr * sizeof(*a));
        for (uint32_t i = 0; i < nr; i++) {
            a[i] = ev->u.place.allocs[i];
            uint32_t *cores = malloc((a[i].ncores + 1) * sizeof(uint32_t));
            memcpy(cores, a[i].cores, a[i].ncores * sizeof(uint32_t));
            a[i].cores = cores;
        }
        c.u.place.allocs = a;
    }
    if (ev->type == SCHED_EV_PREEMPT) {
        uint64_t *v = malloc((ev->u.preempt.nvictims + 1) * sizeof(uint64_t));
        memcpy(v, ev->u.preempt.victims, ev->u.preempt.nvictims * sizeof(uint64_t));
        c.u.preempt.victims = v;
    }
    /* node and job specs are owned by the test and outlive the journal */
    j->ev[j->n++] = c;
}

static inline void fx_journal_fini(fx_journal_t *j)
{
    for (size_t i = 0; i < j->n; i++)
        if (j->ev[i].type == SCHED_EV_PLACE) {
            for (uint32_t k = 0; k < j->ev[i].u.place.nreplicas; k++)
                free((void *)j->ev[i].u.place.allocs[k].cores);
            free((void *)j->ev[i].u.place.allocs);
        } else if (j->ev[i].type == SCHED_EV_PREEMPT)
            free((void *)j->ev[i].u.preempt.victims);
    free(j->ev);
    memset(j, 0, sizeof(*j));
}

static inline void fx_journal_cb(const sched_event_t *ev, void *arg)
{
    fx_journal_add(arg, ev);
}

/* Apply an event and journal it; returns sched_apply's code. */
static inline int fx_apply(sched_t *s, fx_journal_t *j, const sched_event_t *ev)
{
    cairn_error_t err = {{0}};
    int rc = sched_apply(s, ev, &err);
    if (rc == 0 && j)
        fx_journal_add(j, ev);
    return rc;
}

static inline int fx_add_node(sched_t *s, fx_journal_t *j, fx_node_t *n)
{
    sched_event_t ev = {.type = SCHED_EV_NODE_ADD, .u.node_add = n->d};
    return fx_apply(s, j, &ev);
}

static inline int fx_submit(sched_t *s, fx_journal_t *j, const sched_job_spec_t *spec, int64_t t)
{
    sched_event_t ev = {.type = SCHED_EV_JOB_SUBMIT, .time_ms = t, .u.submit = *spec};
    return fx_apply(s, j, &ev);
}

static inline int fx_finish(sched_t *s, fx_journal_t *j, uint64_t attempt, sched_end_t end,
                            int code, int64_t t)
{
    sched_event_t ev = {.type = SCHED_EV_FINISH, .time_ms = t};
    ev.u.finish.attempt = attempt;
    ev.u.finish.end = end;
    ev.u.finish.exit_code = end == SCHED_END_EXIT ? code : 0;
    ev.u.finish.signal = end == SCHED_END_SIGNAL ? code : 0;
    return fx_apply(s, j, &ev);
}

/* fx_finish with a failure class (event.h). */
static inline int fx_finish_class(sched_t *s, fx_journal_t *j, uint64_t attempt, sched_end_t end,
                                  int code, sched_end_class_t cls, int64_t t)
{
    sched_event_t ev = {.type = SCHED_EV_FINISH, .time_ms = t};
    ev.u.finish.attempt = attempt;
    ev.u.finish.end = end;
    ev.u.finish.exit_code = end == SCHED_END_EXIT ? code : 0;
    ev.u.finish.signal = end == SCHED_END_SIGNAL ? code : 0;
    ev.u.finish.cls = cls;
    return fx_apply(s, j, &ev);
}

/* Placement strings of one pass, joined by '\n' (malloc'd). */
typedef struct fx_pass {
    sched_t *s;
    fx_journal_t *j;
    char buf[65536];
    size_t len;
} fx_pass_t;

static inline void fx_pass_cb(const sched_event_t *ev, void *arg)
{
    fx_pass_t *p = arg;
    char *str = sched_place_str(p->s, ev);
    p->len +=
        (size_t)snprintf(p->buf + p->len, sizeof(p->buf) - p->len, "%s%s", p->len ? "\n" : "", str);
    free(str);
    if (p->j)
        fx_journal_add(p->j, ev);
}

static inline int fx_place(sched_t *s, fx_journal_t *j, int64_t now, fx_pass_t *p)
{
    p->s = s;
    p->j = j;
    p->len = 0;
    p->buf[0] = '\0';
    return sched_place(s, now, fx_pass_cb, p);
}

/* xorshift64*: the tests' only randomness, always seeded. */
static inline uint64_t fx_rand(uint64_t *st)
{
    uint64_t x = *st;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *st = x;
    return x * 0x2545f4914f6cdd1dull;
}

#endif
