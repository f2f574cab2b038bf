/* Shared by the fuzz targets: a small cluster to validate and replay
 * against, so that inputs reach the core's checks and not only "no node". */
#ifndef CAIRN_FUZZ_COMMON_H
#define CAIRN_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>

#include "scheduling/sched.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A core with one node: 2 NUMA domains, 8 cores, 2 GPUs, one label. */
static inline sched_t *fuzz_sched_create(void)
{
    static const uint64_t numa_memory[2] = {16ull << 30, 16ull << 30};
    static const int core_numa[8] = {0, 0, 0, 0, 1, 1, 1, 1};
    static const sched_gpu_desc_t gpus[2] = {
        {.vendor = "nvidia", .model = "A100", .uuid = "GPU-0", .pci_bus_id = "0000:01:00.0",
         .memory_bytes = 40ull << 30, .numa = 0, .group = 0},
        {.vendor = "nvidia", .model = "A100", .uuid = "GPU-1", .pci_bus_id = "0000:02:00.0",
         .memory_bytes = 40ull << 30, .numa = 1, .group = 1},
    };
    static const char *const labels[1] = {"zone=a"};
    sched_t *s = sched_create(NULL);
    if (!s)
        abort();
    sched_event_t ev = {.type = SCHED_EV_NODE_ADD, .time_ms = 1};
    ev.u.node_add = (sched_node_desc_t){.name = "node0", .nnuma = 2, .numa_memory = numa_memory,
                                        .ncores = 8, .core_numa = core_numa, .ngpus = 2,
                                        .gpus = gpus, .nlabels = 1, .labels = labels};
    cairn_error_t err;
    if (sched_apply(s, &ev, &err) < 0)
        abort();
    return s;
}

#endif
