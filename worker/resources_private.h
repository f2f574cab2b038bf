/* Internals of worker_resources_t, shared by the files that fill it in. */
#ifndef CAIRN_WORKER_RESOURCES_PRIVATE_H
#define CAIRN_WORKER_RESOURCES_PRIVATE_H

#include "worker/resources.h"

struct worker_label {
    char *key;
    char *value;
};

struct worker_resources {
    char *node;
    unsigned packages;
    unsigned pus;
    uint64_t memory_bytes;
    size_t nnuma;
    worker_numa_t *numa;
    size_t ncores;
    worker_core_t *cores;
    size_t ngpus;
    worker_gpu_t *gpus;
    size_t nlabels, labels_cap;
    struct worker_label *labels;
};

/* An empty set of resources named "localhost", or NULL when out of memory. */
worker_resources_t *worker_resources_create(void);

/* Free what a GPU record points to (not the record itself). */
void worker_gpu_fini(worker_gpu_t *gpu);

#endif
