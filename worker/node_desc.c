/* Register -> the core's node; see node_desc.h. */
#include "worker/node_desc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node_desc {
    sched_node_desc_t d;
    uint64_t *numa_memory;
    int *core_numa;
    sched_gpu_desc_t *gpus;
    char **labels;
    size_t nlabels;
};

static const char *vendor_name(Cairn__GpuVendor v)
{
    switch (v) {
    case CAIRN__GPU_VENDOR__GPU_VENDOR_NVIDIA:
        return "nvidia";
    case CAIRN__GPU_VENDOR__GPU_VENDOR_AMD:
        return "amd";
    case CAIRN__GPU_VENDOR__GPU_VENDOR_INTEL:
        return "intel";
    default:
        return "other";
    }
}

static int numa_dense(const Cairn__NodeResources *r, uint32_t os)
{
    for (size_t i = 0; i < r->n_numa_domains; i++)
        if (r->numa_domains[i]->os_index == os)
            return (int)i;
    return -1;
}

int node_desc_build(const Cairn__Register *reg, node_desc_t **out, cairn_error_t *err)
{
    const Cairn__NodeResources *r = reg->resources;
    if (!reg->node_name || !reg->node_name[0])
        return errcode(err, -EINVAL, "register: no node name");
    if (!r || r->n_numa_domains < 1 || r->n_numa_domains > SCHED_MAX_NUMA_PER_NODE)
        return errcode(err, -EINVAL, "register %s: 1..%d NUMA domains needed", reg->node_name,
                       SCHED_MAX_NUMA_PER_NODE);
    if (r->n_cores < 1 || r->n_cores > SCHED_MAX_CORES_PER_NODE)
        return errcode(err, -EINVAL, "register %s: 1..%d cores needed", reg->node_name,
                       SCHED_MAX_CORES_PER_NODE);
    if (r->n_gpus > SCHED_MAX_GPUS_PER_NODE)
        return errcode(err, -EINVAL, "register %s: at most %d GPUs", reg->node_name,
                       SCHED_MAX_GPUS_PER_NODE);
    node_desc_t *nd = calloc(1, sizeof(*nd));
    if (!nd)
        return errcode(err, -ENOMEM, "out of memory");
    nd->numa_memory = calloc(r->n_numa_domains, sizeof(uint64_t));
    nd->core_numa = calloc(r->n_cores, sizeof(int));
    nd->gpus = calloc(r->n_gpus + 1, sizeof(sched_gpu_desc_t));
    nd->labels = calloc(reg->n_labels + 1, sizeof(char *));
    if (!nd->numa_memory || !nd->core_numa || !nd->gpus || !nd->labels) {
        node_desc_destroy(nd);
        return errcode(err, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < r->n_numa_domains; i++)
        nd->numa_memory[i] = r->numa_domains[i]->memory_bytes;
    for (size_t i = 0; i < r->n_cores; i++) {
        const Cairn__Core *c = r->cores[i];
        int d = numa_dense(r, c->numa_os_index);
        if (c->index != i || d < 0) {
            node_desc_destroy(nd);
            return errcode(err, -EINVAL, "register %s: core %zu has index %u or unknown NUMA %u",
                           reg->node_name, i, c->index, c->numa_os_index);
        }
        nd->core_numa[i] = d;
    }
    for (size_t i = 0; i < r->n_gpus; i++) {
        const Cairn__Gpu *g = r->gpus[i];
        int d = g->numa_present_case == CAIRN__GPU__NUMA_PRESENT_NUMA_OS_INDEX
                    ? numa_dense(r, g->numa_os_index)
                    : -1;
        nd->gpus[i] = (sched_gpu_desc_t){.vendor = vendor_name(g->vendor),
                                         .model = g->model,
                                         .uuid = g->uuid,
                                         .pci_bus_id = g->pci_bus_id,
                                         .memory_bytes = g->memory_bytes,
                                         .numa = d,
                                         .group = (int)g->locality_group};
    }
    for (size_t i = 0; i < reg->n_labels; i++) {
        const Cairn__KeyValue *kv = reg->labels[i];
        char *s = malloc(strlen(kv->key) + strlen(kv->value) + 2);
        if (!s) {
            node_desc_destroy(nd);
            return errcode(err, -ENOMEM, "out of memory");
        }
        sprintf(s, "%s=%s", kv->key, kv->value);
        nd->labels[nd->nlabels++] = s;
    }
    nd->d = (sched_node_desc_t){.name = reg->node_name,
                                .nnuma = (int)r->n_numa_domains,
                                .numa_memory = nd->numa_memory,
                                .ncores = (int)r->n_cores,
                                .core_numa = nd->core_numa,
                                .ngpus = (int)r->n_gpus,
                                .gpus = nd->gpus,
                                .nlabels = (int)nd->nlabels,
                                .labels = (const char *const *)nd->labels};
    *out = nd;
    return 0;
}

const sched_node_desc_t *node_desc_core(const node_desc_t *nd)
{
    return &nd->d;
}

void node_desc_destroy(node_desc_t *nd)
{
    if (!nd)
        return;
    for (size_t i = 0; i < nd->nlabels; i++)
        free(nd->labels[i]);
    free(nd->labels);
    free(nd->numa_memory);
    free(nd->core_numa);
    free(nd->gpus);
    free(nd);
}
