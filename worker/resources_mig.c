/* MIG instances as devices of their own; see resources.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/resources_private.h"

static char *dup_or_null(const char *s, bool *failed)
{
    char *d;
    if (!s)
        return NULL;
    if (!(d = strdup(s)))
        *failed = true;
    return d;
}

/* Instance k of parent p into g, which owns its own copies. */
static int mig_fill(worker_gpu_t *g, const worker_gpu_t *p, const worker_mig_instance_t *k)
{
    bool failed = false;
    const char *pm = p->model ? p->model : "GPU";
    size_t len = strlen(pm) + strlen(k->profile) + 6;

    *g = *p;
    g->mig = true;
    g->memory_bytes = k->memory_bytes;
    g->model = malloc(len);
    if (g->model)
        snprintf(g->model, len, "%s MIG %s", pm, k->profile);
    g->uuid = dup_or_null(k->uuid, &failed);
    g->driver = dup_or_null(p->driver, &failed);
    g->driver_version = dup_or_null(p->driver_version, &failed);
    g->cuda_version = dup_or_null(p->cuda_version, &failed);
    g->mig_parent_uuid = dup_or_null(p->uuid, &failed);
    g->mig_profile = dup_or_null(k->profile, &failed);
    if (failed || !g->model) {
        worker_gpu_fini(g);
        return -ENOMEM;
    }
    return 0;
}

int worker_resources_gpu_split_mig(worker_resources_t *r, size_t i,
                                   const worker_mig_instance_t *inst, size_t n)
{
    if (i >= r->ngpus || r->gpus[i].mig)
        return -EINVAL;
    for (size_t k = 0; k < n; k++)
        if (!inst[k].uuid || !inst[k].uuid[0] || !inst[k].profile || !inst[k].profile[0])
            return -EINVAL;
    size_t total = r->ngpus - 1 + n;
    worker_gpu_t *gpus = calloc(total ? total : 1, sizeof(*gpus));
    if (!gpus)
        return -ENOMEM;
    for (size_t k = 0; k < n; k++)
        if (mig_fill(&gpus[i + k], &r->gpus[i], &inst[k]) < 0) {
            while (k-- > 0)
                worker_gpu_fini(&gpus[i + k]);
            free(gpus);
            return -ENOMEM;
        }
    memcpy(gpus, r->gpus, i * sizeof(*gpus));
    memcpy(gpus + i + n, r->gpus + i + 1, (r->ngpus - i - 1) * sizeof(*gpus));
    worker_gpu_fini(&r->gpus[i]);
    free(r->gpus);
    r->gpus = gpus;
    r->ngpus = total;
    for (size_t k = 0; k < total; k++)
        r->gpus[k].index = (unsigned)k;
    return 0;
}
