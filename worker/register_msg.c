/* Resources -> protobuf Register; see register_msg.h.
 *
 * The static part (resources, name, labels, versions) is built once into
 * blocks recorded in an arena and freed together; the running list is
 * rebuilt before every Register. */
#include "worker/register_msg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"

struct worker_register_msg {
    Cairn__Register reg;
    Cairn__NodeResources res;
    void **blocks; /* arena: everything reg and res point to */
    size_t nblocks, blocks_cap;
    Cairn__RunningAttempt *running;
    Cairn__RunningAttempt **running_ptrs;
    size_t nrunning, running_cap, running_ptrs_cap;
    uint64_t *ended; /* reg.ended_unacked */
    size_t nended, ended_cap;
};

/* Zeroed memory owned by m's arena, NULL when out of memory. */
static void *arena_alloc(worker_register_msg_t *m, size_t size)
{
    if (CAIRN_GROW(m->blocks, m->blocks_cap, m->nblocks + 1) < 0)
        return NULL;
    void *p = calloc(1, size ? size : 1);
    if (p)
        m->blocks[m->nblocks++] = p;
    return p;
}

/* A copy of s in the arena; NULL s gives protobuf-c's empty string. */
static char *arena_str(worker_register_msg_t *m, const char *s)
{
    if (!s)
        return (char *)protobuf_c_empty_string;
    size_t len = strlen(s);
    char *c = arena_alloc(m, len + 1);
    if (c)
        memcpy(c, s, len + 1);
    return c;
}

static uint32_t *arena_ids(worker_register_msg_t *m, const unsigned *ids, size_t n)
{
    uint32_t *v = arena_alloc(m, n * sizeof(*v));
    for (size_t i = 0; v && i < n; i++)
        v[i] = ids[i];
    return v;
}

/* Pointer array of n messages of size elem, each initialised by init. */
static void **arena_msgs(worker_register_msg_t *m, size_t n, size_t elem, void (*init)(void *))
{
    void **ptrs = arena_alloc(m, n * sizeof(*ptrs));
    char *items = arena_alloc(m, n * elem);
    if (!ptrs || !items)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = items + i * elem;
        init(ptrs[i]);
    }
    return ptrs;
}

static void numa_init(void *p)
{
    cairn__numa_domain__init(p);
}

static void core_init(void *p)
{
    cairn__core__init(p);
}

static void gpu_init(void *p)
{
    cairn__gpu__init(p);
}

static void kv_init(void *p)
{
    cairn__key_value__init(p);
}

static Cairn__GpuVendor gpu_vendor(worker_gpu_vendor_t v)
{
    switch (v) {
    case WORKER_GPU_VENDOR_NVIDIA:
        return CAIRN__GPU_VENDOR__GPU_VENDOR_NVIDIA;
    case WORKER_GPU_VENDOR_AMD:
        return CAIRN__GPU_VENDOR__GPU_VENDOR_AMD;
    case WORKER_GPU_VENDOR_INTEL:
        return CAIRN__GPU_VENDOR__GPU_VENDOR_INTEL;
    default:
        return CAIRN__GPU_VENDOR__GPU_VENDOR_OTHER;
    }
}

static int fill_numa_cores(worker_register_msg_t *m, const worker_resources_t *r)
{
    Cairn__NodeResources *res = &m->res;

    res->n_numa_domains = worker_resources_numa_count(r);
    res->numa_domains = (Cairn__NumaDomain **)arena_msgs(m, res->n_numa_domains,
                                                         sizeof(Cairn__NumaDomain), numa_init);
    if (!res->numa_domains)
        return -ENOMEM;
    for (size_t i = 0; i < res->n_numa_domains; i++) {
        const worker_numa_t *d = worker_resources_numa(r, i);
        Cairn__NumaDomain *o = res->numa_domains[i];
        o->os_index = d->os_index;
        o->memory_bytes = d->memory_bytes;
        o->n_pus = d->npus;
        o->n_cores = d->ncores;
        if (!(o->pus = arena_ids(m, d->pus, d->npus)) ||
            !(o->cores = arena_ids(m, d->cores, d->ncores)))
            return -ENOMEM;
    }
    res->n_cores = worker_resources_core_count(r);
    res->cores = (Cairn__Core **)arena_msgs(m, res->n_cores, sizeof(Cairn__Core), core_init);
    if (!res->cores)
        return -ENOMEM;
    for (size_t i = 0; i < res->n_cores; i++) {
        const worker_core_t *c = worker_resources_core(r, i);
        Cairn__Core *o = res->cores[i];
        o->index = c->index;
        o->numa_os_index = c->numa >= 0 ? (uint32_t)c->numa : WORKER_NUMA_NONE;
        o->n_pus = c->npus;
        if (!(o->pus = arena_ids(m, c->pus, c->npus)))
            return -ENOMEM;
    }
    return 0;
}

static int fill_gpus(worker_register_msg_t *m, const worker_resources_t *r)
{
    Cairn__NodeResources *res = &m->res;

    res->n_gpus = worker_resources_gpu_count(r);
    res->gpus = (Cairn__Gpu **)arena_msgs(m, res->n_gpus, sizeof(Cairn__Gpu), gpu_init);
    if (!res->gpus)
        return -ENOMEM;
    for (size_t i = 0; i < res->n_gpus; i++) {
        const worker_gpu_t *g = worker_resources_gpu(r, i);
        Cairn__Gpu *o = res->gpus[i];
        o->index = g->index;
        o->vendor = gpu_vendor(g->vendor);
        o->memory_bytes = g->memory_bytes;
        o->locality_group = g->locality_group;
        o->has_driver = g->has_driver;
        if (g->numa >= 0) {
            o->numa_present_case = CAIRN__GPU__NUMA_PRESENT_NUMA_OS_INDEX;
            o->numa_os_index = (uint32_t)g->numa;
        }
        if (!(o->model = arena_str(m, g->model)) || !(o->uuid = arena_str(m, g->uuid)) ||
            !(o->pci_bus_id = arena_str(m, g->pci_bus_id)) ||
            !(o->driver_version = arena_str(m, g->driver_version)) ||
            !(o->cuda_version = arena_str(m, g->cuda_version)))
            return -ENOMEM;
        o->mig = g->mig;
        if (g->mig && (!(o->mig_parent_uuid = arena_str(m, g->mig_parent_uuid)) ||
                       !(o->mig_profile = arena_str(m, g->mig_profile))))
            return -ENOMEM;
    }
    return 0;
}

static int fill_register(worker_register_msg_t *m, const worker_resources_t *r)
{
    Cairn__Register *reg = &m->reg;
    char fp[17];

    snprintf(fp, sizeof(fp), "%016" PRIx64, worker_resources_fingerprint(r));
    reg->resources = &m->res;
    reg->protocol_version = CAIRN_PROTO_VERSION;
    if (!(reg->node_name = arena_str(m, worker_resources_node(r))) ||
        !(reg->worker_version = arena_str(m, CAIRN_VERSION)) ||
        !(reg->topology_fingerprint = arena_str(m, fp)))
        return -ENOMEM;
    reg->n_labels = worker_resources_label_count(r);
    reg->labels =
        (Cairn__KeyValue **)arena_msgs(m, reg->n_labels, sizeof(Cairn__KeyValue), kv_init);
    if (!reg->labels)
        return -ENOMEM;
    for (size_t i = 0; i < reg->n_labels; i++) {
        if (!(reg->labels[i]->key = arena_str(m, worker_resources_label_key(r, i))) ||
            !(reg->labels[i]->value = arena_str(m, worker_resources_label_value(r, i))))
            return -ENOMEM;
    }
    m->res.num_packages = worker_resources_package_count(r);
    m->res.num_cores = (uint32_t)worker_resources_core_count(r);
    m->res.num_pus = worker_resources_pu_count(r);
    m->res.memory_bytes = worker_resources_memory_bytes(r);
    if (fill_numa_cores(m, r) < 0 || fill_gpus(m, r) < 0)
        return -ENOMEM;
    return 0;
}

int worker_register_msg_create(const worker_resources_t *r, worker_register_msg_t **out,
                               cairn_error_t *err)
{
    worker_register_msg_t *m = calloc(1, sizeof(*m));
    if (!m)
        return errcode(err, -ENOMEM, "out of memory");
    cairn__register__init(&m->reg);
    cairn__node_resources__init(&m->res);
    if (fill_register(m, r) < 0) {
        worker_register_msg_destroy(m);
        return errcode(err, -ENOMEM, "out of memory");
    }
    *out = m;
    return 0;
}

void worker_register_msg_clear_running(worker_register_msg_t *m)
{
    for (size_t i = 0; i < m->nrunning; i++)
        free(m->running[i].task_name);
    m->nrunning = 0;
    m->reg.n_running = 0;
}

/* Grow the running arrays; the pointers are rebuilt at once because the
 * items may have moved. */
static int running_reserve(worker_register_msg_t *m)
{
    size_t cap = m->running_cap;
    if (CAIRN_GROW(m->running, m->running_cap, m->nrunning + 1) < 0)
        return -ENOMEM;
    if (m->running_cap != cap)
        for (size_t i = 0; i < m->nrunning; i++)
            m->running_ptrs[i] = &m->running[i];
    if (CAIRN_GROW(m->running_ptrs, m->running_ptrs_cap, m->nrunning + 1) < 0)
        return -ENOMEM;
    m->reg.running = m->running_ptrs;
    return 0;
}

int worker_register_msg_add_running(worker_register_msg_t *m, uint64_t attempt_id, uint64_t job_id,
                                    const char *task_name, uint32_t rank, int pid, int64_t start_ms)
{
    if (running_reserve(m) < 0)
        return -ENOMEM;
    Cairn__RunningAttempt *a = &m->running[m->nrunning];
    cairn__running_attempt__init(a);
    if (!(a->task_name = strdup(task_name ? task_name : "")))
        return -ENOMEM;
    a->attempt_id = attempt_id;
    a->job_id = job_id;
    a->rank = rank;
    a->pid = pid;
    a->start_time_ms = start_ms;
    m->running_ptrs[m->nrunning++] = a;
    m->reg.n_running = m->nrunning;
    m->reg.running = m->running_ptrs;
    return 0;
}

void worker_register_msg_clear_ended(worker_register_msg_t *m)
{
    m->nended = 0;
    m->reg.n_ended_unacked = 0;
}

int worker_register_msg_add_ended(worker_register_msg_t *m, uint64_t attempt_id)
{
    if (CAIRN_GROW(m->ended, m->ended_cap, m->nended + 1) < 0)
        return -ENOMEM;
    m->ended[m->nended++] = attempt_id;
    m->reg.ended_unacked = m->ended;
    m->reg.n_ended_unacked = m->nended;
    return 0;
}

const Cairn__Register *worker_register_msg_get(const worker_register_msg_t *m)
{
    return &m->reg;
}

void worker_register_msg_destroy(worker_register_msg_t *m)
{
    if (!m)
        return;
    worker_register_msg_clear_running(m);
    for (size_t i = 0; i < m->nblocks; i++)
        free(m->blocks[i]);
    free(m->blocks);
    free(m->running);
    free(m->running_ptrs);
    free(m->ended);
    free(m);
}
