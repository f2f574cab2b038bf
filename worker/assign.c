/* AssignTask -> exec_spec_t; see assign.h. */
#include "worker/assign.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/logmatch.h"
#include "worker/outputs.h"

void worker_assign_buf_fini(worker_assign_buf_t *b)
{
    for (uint32_t i = 0; i < b->nenv; i++)
        free(b->env[i]);
    free(b->env);
    free(b->pus);
    free(b->numa);
    free(b->gpus);
    free(b->used);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The PUs of the allocated cores and their NUMA domains (for memory). */
static int spec_cores(const worker_resources_t *res, const Cairn__AssignTask *m,
                      worker_assign_buf_t *b, cairn_error_t *err)
{
    size_t ncores = worker_resources_core_count(res), npus = 0;

    free(b->used);
    if (!(b->used = calloc(ncores + 1, sizeof(*b->used))))
        return errcode(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < m->n_cores; i++) {
        if (m->cores[i] >= ncores)
            return errcode(err, -EINVAL, "core %" PRIu32 ": this node has %zu cores", m->cores[i],
                           ncores);
        if (b->used[m->cores[i]])
            return errcode(err, -EINVAL, "core %" PRIu32 " allocated twice", m->cores[i]);
        b->used[m->cores[i]] = true;
        npus += worker_resources_core(res, m->cores[i])->npus;
    }
    b->pus = calloc(npus + 1, sizeof(*b->pus));
    b->numa = calloc(m->n_cores + 1, sizeof(*b->numa));
    if (!b->pus || !b->numa)
        return errcode(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < m->n_cores; i++) {
        const worker_core_t *c = worker_resources_core(res, m->cores[i]);
        for (size_t j = 0; j < c->npus; j++)
            b->pus[b->spec.npus++] = c->pus[j];
        bool seen = c->numa < 0;
        for (uint32_t j = 0; j < b->spec.nnuma && !seen; j++)
            seen = b->numa[j] == (uint32_t)c->numa;
        if (!seen)
            b->numa[b->spec.nnuma++] = (uint32_t)c->numa;
    }
    qsort(b->pus, b->spec.npus, sizeof(*b->pus), cmp_u32);
    qsort(b->numa, b->spec.nnuma, sizeof(*b->numa), cmp_u32);
    b->spec.pus = b->pus;
    b->spec.numa = b->numa;
    b->spec.ncores = (uint32_t)m->n_cores;
    return 0;
}

/* GPUs by index, with the uuid and vendor discovery found. */
static int spec_gpus(const worker_resources_t *res, const Cairn__AssignTask *m,
                     worker_assign_buf_t *b, cairn_error_t *err)
{
    size_t ngpus = worker_resources_gpu_count(res);

    free(b->used);
    b->used = calloc(ngpus + 1, sizeof(*b->used));
    b->gpus = calloc(m->n_gpus + 1, sizeof(*b->gpus));
    if (!b->used || !b->gpus)
        return errcode(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < m->n_gpus; i++) {
        const Cairn__GpuRef *ref = m->gpus[i];
        if (ref->index >= ngpus)
            return errcode(err, -EINVAL, "GPU %" PRIu32 ": this node has %zu GPUs", ref->index,
                           ngpus);
        if (b->used[ref->index])
            return errcode(err, -EINVAL, "GPU %" PRIu32 " allocated twice", ref->index);
        b->used[ref->index] = true;
        const worker_gpu_t *g = worker_resources_gpu(res, ref->index);
        if (ref->uuid[0] && g->uuid && strcmp(ref->uuid, g->uuid) != 0)
            return errcode(err, -EINVAL, "GPU %" PRIu32 " is %s here, not %s", ref->index, g->uuid,
                           ref->uuid);
        b->gpus[i] = (exec_gpu_t){.index = ref->index,
                                  .uuid = g->uuid ? g->uuid : "",
                                  .vendor = worker_gpu_vendor_name(g->vendor)};
    }
    b->spec.gpus = b->gpus;
    b->spec.ngpus = (uint32_t)m->n_gpus;
    return 0;
}

static int spec_env(const Cairn__AssignTask *m, worker_assign_buf_t *b, cairn_error_t *err)
{
    if (!(b->env = calloc(m->n_env + 1, sizeof(*b->env))))
        return errcode(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < m->n_env; i++) {
        const Cairn__KeyValue *kv = m->env[i];
        if (!kv->key[0] || strchr(kv->key, '='))
            return errcode(err, -EINVAL, "environment variable name '%s' is not valid", kv->key);
        if (asprintf(&b->env[i], "%s=%s", kv->key, kv->value) < 0) {
            b->env[i] = NULL;
            return errcode(err, -ENOMEM, "out of memory");
        }
        b->nenv++;
    }
    b->spec.env = (const char *const *)b->env;
    b->spec.nenv = b->nenv;
    return 0;
}

/* The declared outputs: their paths are checked when hashed (outputs.c);
 * only their number and length are bounded here. */
static int spec_outputs(const Cairn__AssignTask *m, worker_assign_buf_t *b, cairn_error_t *err)
{
    if (m->n_outputs > WORKER_OUTPUTS_MAX)
        return errcode(err, -EINVAL, "%zu outputs (at most %d)", m->n_outputs, WORKER_OUTPUTS_MAX);
    for (size_t i = 0; i < m->n_outputs; i++)
        if (strlen(m->outputs[i]) > WORKER_OUTPUT_PATH_MAX)
            return errcode(err, -EINVAL, "output path %zu longer than %d bytes", i,
                           WORKER_OUTPUT_PATH_MAX);
    b->noutputs = (uint32_t)m->n_outputs;
    b->outputs = (const char *const *)m->outputs;
    return 0;
}

/* The checkpoint settings: the signal a number a task can get, the path
 * bounded (what it names is checked when the attempt starts: exec_prep.c
 * and exec_spawn.c), the signal before the limit shorter than the limit. */
static int spec_checkpoint(const Cairn__AssignTask *m, exec_spec_t *s, cairn_error_t *err)
{
    if (m->checkpoint_signal < 0 || m->checkpoint_signal > WORKER_SIGNAL_MAX)
        return errcode(err, -EINVAL, "checkpoint signal %" PRId32 " out of range (0..%d)",
                       m->checkpoint_signal, WORKER_SIGNAL_MAX);
    if (m->checkpoint_dir && strlen(m->checkpoint_dir) > WORKER_OUTPUT_PATH_MAX)
        return errcode(err, -EINVAL, "checkpoint directory longer than %d bytes",
                       WORKER_OUTPUT_PATH_MAX);
    if (m->signal_before_limit_ms > 0 && m->signal_before_limit_ms >= m->time_limit_ms)
        return errcode(err, -EINVAL,
                       "signal_before_limit %" PRIu64 " ms is not shorter than the time limit "
                       "(%" PRIu64 " ms)",
                       m->signal_before_limit_ms, m->time_limit_ms);
    s->checkpoint_dir = m->checkpoint_dir && m->checkpoint_dir[0] ? m->checkpoint_dir : NULL;
    s->checkpoint_signal = m->checkpoint_signal;
    s->signal_before_limit_ms = (int64_t)m->signal_before_limit_ms;
    /* compiled when an attempt fails; checked here so a bad one is refused
     * at once, not found at the end */
    if (m->retry_on_log && m->retry_on_log[0]) {
        regex_t re;
        if (cairn_log_pattern_compile(&re, m->retry_on_log, err) < 0)
            return -EINVAL;
        cairn_log_pattern_free(&re);
        s->retry_log = m->retry_on_log;
    }
    return 0;
}

/* Check an AssignTask against this node and turn it into b->spec, which
 * points into m and b (free b with spec_buf_fini()). */
int worker_assign_spec(const worker_resources_t *res, const Cairn__AssignTask *m,
                       worker_assign_buf_t *b, cairn_error_t *err)
{
    int rc;
    exec_spec_t *s = &b->spec;

    if (m->n_argv == 0)
        return errcode(err, -EINVAL, "empty argv");
    if (m->rendezvous_port > 65535)
        return errcode(err, -EINVAL, "rendezvous port %" PRIu32 " out of range",
                       m->rendezvous_port);
    if ((rc = spec_cores(res, m, b, err)) < 0 || (rc = spec_gpus(res, m, b, err)) < 0 ||
        (rc = spec_env(m, b, err)) < 0 || (rc = spec_outputs(m, b, err)) < 0)
        return rc;
    s->attempt_id = m->attempt_id;
    s->job_id = m->job_id;
    s->task_name = m->task_name;
    s->attempt_number = m->attempt_number;
    s->argc = (uint32_t)m->n_argv;
    s->argv = (const char *const *)m->argv;
    s->shell = m->shell;
    s->workdir = m->workdir[0] ? m->workdir : NULL;
    s->user = m->user && m->user[0] ? m->user : NULL;
    s->seed = m->seed;
    s->rank = m->rank;
    s->world_size = m->world_size;
    s->master_addr = m->rendezvous_addr[0] ? m->rendezvous_addr : NULL;
    s->master_port = m->rendezvous_port;
    s->memory_limit_bytes = m->memory_limit_bytes;
    s->time_limit_ms = m->time_limit_ms > INT64_MAX ? INT64_MAX : (int64_t)m->time_limit_ms;
    s->kill_grace_ms = m->kill_grace_ms;
    return spec_checkpoint(m, s, err);
}
