/* To workers: assignments, cancels and log reads; log answers back to the
 * clients waiting for them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/access.h"
#include "scheduler/checkpoint.h"
#include "scheduler/daemon_private.h"
#include "scheduler/view.h"

static Cairn__GpuVendor vendor_enum(const char *v)
{
    if (!v)
        return CAIRN__GPU_VENDOR__GPU_VENDOR_OTHER;
    if (!strcmp(v, "nvidia"))
        return CAIRN__GPU_VENDOR__GPU_VENDOR_NVIDIA;
    if (!strcmp(v, "amd"))
        return CAIRN__GPU_VENDOR__GPU_VENDOR_AMD;
    if (!strcmp(v, "intel"))
        return CAIRN__GPU_VENDOR__GPU_VENDOR_INTEL;
    return CAIRN__GPU_VENDOR__GPU_VENDOR_OTHER;
}

void dispatch_ckpt(sched_daemon_t *d, uint32_t job, uint32_t task, dispatch_ckpt_t *out)
{
    char *dir = NULL;
    cairn_error_t err = {{0}};
    int found = prov_get_checkpoint(d->st->prov, job, task, &out->signal, &out->before_limit_ms,
                                    &dir, &err);
    if (found < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "job %u task %u: checkpoint settings: %s", job, task,
                  err.text);
    out->dir[0] = '\0'; /* found 0: a task that does not checkpoint, no directory */
    if (found > 0 && dir)
        snprintf(out->dir, sizeof(out->dir), "%s", dir);
    else if (found > 0)
        ckpt_default_dir(journal_ident(d->st->journal), job, task,
                         sched_task_name(d->core, job, task), out->dir, sizeof(out->dir));
    free(dir);
}

/* Send one replica's AssignTask. */
static void assign_one(sched_daemon_t *d, const sched_attempt_info_t *ai,
                       const sched_task_info_t *ti, uint32_t rank, node_link_t *l)
{
    const sched_alloc_desc_t *a = &ai->allocs[rank];
    Cairn__AssignTask m = CAIRN__ASSIGN_TASK__INIT;
    Cairn__KeyValue *kv = calloc(ti->nenv + 1, sizeof(*kv));
    Cairn__KeyValue **kvp = calloc(ti->nenv + 1, sizeof(*kvp));
    char **keys = calloc(ti->nenv + 1, sizeof(char *));
    Cairn__GpuRef *g = calloc(65, sizeof(*g));
    Cairn__GpuRef **gp = calloc(65, sizeof(*gp));
    dispatch_ckpt_t ck;
    char *relog = NULL; /* retry.on's log pattern, matched by the worker */
    if (!kv || !kvp || !keys || !g || !gp)
        goto out;
    dispatch_ckpt(d, ai->job, ai->task, &ck);
    m.checkpoint_dir = ck.dir;
    m.checkpoint_signal = ck.signal;
    m.signal_before_limit_ms = ck.before_limit_ms;
    cairn_error_t rlerr = {{0}};
    if (ti->retry && (ti->retry->on & SCHED_RETRY_LOG) &&
        prov_get_retry_log(d->st->prov, ai->job, ai->task, &relog, &rlerr) < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "job %u task %s: retry log pattern: %s", ai->job,
                  ti->name, rlerr.text);
    if (relog)
        m.retry_on_log = relog;
    m.attempt_id = ai->id;
    m.job_id = ai->job;
    m.task_name = (char *)ti->name;
    m.attempt_number = ai->number;
    m.n_argv = ti->argc;
    m.argv = (char **)ti->argv;
    for (uint32_t i = 0; i < ti->nenv; i++) {
        const char *eq = strchr(ti->env[i], '=');
        size_t kl = eq ? (size_t)(eq - ti->env[i]) : strlen(ti->env[i]);
        keys[i] = strndup(ti->env[i], kl);
        cairn__key_value__init(&kv[i]);
        kv[i].key = keys[i] ? keys[i] : "";
        kv[i].value = (char *)(eq ? eq + 1 : "");
        kvp[i] = &kv[i];
    }
    m.n_env = ti->nenv;
    m.env = kvp;
    m.workdir = (char *)(ti->workdir ? ti->workdir : "");
    m.seed = sched_task_seed(d->core, ai->job, ai->task, rank);
    m.rank = rank;
    m.world_size = ai->nreplicas;
    node_link_t *l0 = nodes_link(d->nodes, d->core, ai->allocs[0].node);
    m.rendezvous_addr = l0 && l0->addr[0] ? l0->addr : "127.0.0.1";
    m.rendezvous_port = 29500 + (uint32_t)(ai->id % 2000);
    m.n_cores = a->ncores;
    m.cores = (uint32_t *)a->cores;
    size_t ng = 0;
    for (uint32_t i = 0; i < 64; i++) {
        if (!(a->gpu_mask >> i & 1))
            continue;
        sched_gpu_desc_t gd;
        cairn__gpu_ref__init(&g[ng]);
        g[ng].index = i;
        if (sched_node_gpu(d->core, a->node, i, &gd)) {
            g[ng].uuid = (char *)gd.uuid;
            g[ng].vendor = vendor_enum(gd.vendor);
        }
        gp[ng] = &g[ng];
        ng++;
    }
    m.n_gpus = ng;
    m.gpus = gp;
    m.memory_limit_bytes = a->memory_bytes;
    m.time_limit_ms = (uint64_t)(ti->time_limit_ms > 0 ? ti->time_limit_ms : 0);
    m.kill_grace_ms = (uint32_t)d->cfg.kill_grace_ms;
    m.log_dir = "";
    m.after_attempt_id = ai->after;
    m.n_outputs = ti->noutputs;
    m.outputs = (char **)ti->outputs;
    /* cached results to check on the worker instead of running (cache.h) */
    cache_entry_t hit = {0};
    char key[CACHE_KEY_HEX];
    if (ti->cache_base && ti->cache_reuse && ai->nreplicas == 1 &&
        cache_key(d->core, d->st->prov, ai->job, ai->task, key)) {
        cairn_error_t cerr = {{0}};
        int found = cache_lookup(d->st->cache, key, &hit, &cerr);
        if (found < 0)
            cairn_log(d->log, CAIRN_LOG_WARN, "%s", cerr.text);
        else if (found > 0) {
            m.n_cache_outputs = hit.outputs->n_outputs;
            m.cache_outputs = hit.outputs->outputs;
        }
    }
    /* who the task runs as on a root worker; an unauthenticated client's
     * jobs run as nobody */
    const char *user = sched_job_user(d->core, ai->job);
    if (user)
        m.user = (char *)(strcmp(user, ACCESS_ANONYMOUS) ? user : "nobody");
    cairn_peer_t to = cairn_peer_pipe((nng_pipe){.id = l->pipe});
    cairn_error_t err = {{0}};
    if (cairn_net_send(d->workers.net, &to, CAIRN_MSG_ASSIGN_TASK, &m.base, &err) < 0) {
        cairn_log(d->log, CAIRN_LOG_WARN, "assign attempt %llu: %s; kept for later",
                  (unsigned long long)ai->id, err.text);
        nodes_hold(l, ai->id);
    }
    if (hit.outputs)
        cairn__attempt_provenance__free_unpacked(hit.outputs, NULL);
out:
    for (uint32_t i = 0; keys && i < ti->nenv; i++)
        free(keys[i]);
    free(keys);
    free(kv);
    free(kvp);
    free(g);
    free(gp);
    free(relog);
}

void dispatch_assign(sched_daemon_t *d, uint64_t attempt, uint32_t node)
{
    sched_attempt_info_t ai;
    sched_task_info_t ti;
    if (sched_attempt_get(d->core, attempt, &ai) < 0 || ai.end != SCHED_END_NONE ||
        sched_task_info(d->core, ai.job, ai.task, &ti) < 0)
        return; /* ended meanwhile */
    for (uint32_t r = 0; r < ai.nreplicas; r++) {
        uint32_t n = ai.allocs[r].node;
        if (node != UINT32_MAX && n != node)
            continue;
        node_link_t *l = nodes_link(d->nodes, d->core, n);
        if (!l)
            continue;
        if (!l->pipe) {
            nodes_hold(l, attempt); /* delivered when it registers */
            continue;
        }
        assign_one(d, &ai, &ti, r, l);
    }
}

void dispatch_cancel(sched_daemon_t *d, uint64_t attempt)
{
    uint32_t grace_ms = (uint32_t)d->cfg.kill_grace_ms;
    sched_attempt_info_t ai;
    sched_task_info_t ti;
    if (sched_attempt_get(d->core, attempt, &ai) < 0)
        return;
    /* a preempted attempt gets its checkpoint signal and grace */
    Cairn__CancelTask__Reason reason = CAIRN__CANCEL_TASK__REASON__USER;
    int sig = 0;
    if (ai.preempted && sched_task_info(d->core, ai.job, ai.task, &ti) == 0) {
        dispatch_ckpt_t ck;
        dispatch_ckpt(d, ai.job, ai.task, &ck);
        sig = ck.signal;
        reason = CAIRN__CANCEL_TASK__REASON__PREEMPTED;
        grace_ms = ti.grace_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ti.grace_ms;
    }
    for (uint32_t r = 0; r < ai.nreplicas; r++) {
        node_link_t *l = nodes_link(d->nodes, d->core, ai.allocs[r].node);
        if (!l || !l->pipe)
            continue; /* killed as stale when it comes back */
        Cairn__CancelTask m = CAIRN__CANCEL_TASK__INIT;
        m.attempt_id = attempt;
        m.reason = reason;
        m.grace_ms = grace_ms;
        m.signal = sig;
        cairn_peer_t to = cairn_peer_pipe((nng_pipe){.id = l->pipe});
        cairn_error_t err = {{0}};
        if (cairn_net_send(d->workers.net, &to, CAIRN_MSG_CANCEL_TASK, &m.base, &err) < 0)
            cairn_log(d->log, CAIRN_LOG_WARN, "cancel attempt %llu: %s",
                      (unsigned long long)attempt, err.text);
    }
}

void dispatch_cancel_stale(sched_daemon_t *d, const cairn_peer_t *to, uint64_t attempt)
{
    Cairn__CancelTask m = CAIRN__CANCEL_TASK__INIT;
    m.attempt_id = attempt;
    m.reason = CAIRN__CANCEL_TASK__REASON__STALE;
    m.grace_ms = (uint32_t)d->cfg.kill_grace_ms;
    cairn_error_t err = {{0}};
    if (cairn_net_send(d->workers.net, to, CAIRN_MSG_CANCEL_TASK, &m.base, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "cancel stale attempt %llu: %s",
                  (unsigned long long)attempt, err.text);
}

void dispatch_preempt(sched_daemon_t *d, const sched_event_t *ev)
{
    const char *by = sched_task_name(d->core, ev->u.preempt.job, ev->u.preempt.task);
    for (uint32_t i = 0; i < ev->u.preempt.nvictims; i++) {
        sched_attempt_info_t ai;
        uint64_t id = ev->u.preempt.victims[i];
        if (sched_attempt_get(d->core, id, &ai) < 0)
            continue;
        char why[160];
        view_preempt_reason(d, &ai, why, sizeof(why));
        Cairn__Preemption m = CAIRN__PREEMPTION__INIT;
        m.by_job = ev->u.preempt.job;
        m.by_task = (char *)(by ? by : "");
        m.reason = why;
        m.time_ms = ev->time_ms;
        m.grace_end_ms = ai.grace_end_ms;
        cairn_error_t err = {{0}};
        if (prov_put_preempt(d->st->prov, id, &m, &err) < 0) {
            cairn_log(d->log, CAIRN_LOG_ERROR, "%s", err.text);
            batch_fail(d, err.text);
        }
        cairn_log(d->log, CAIRN_LOG_INFO,
                  "job %u task %s attempt %u preempted by job %u task %s (%s); grace until %lld",
                  ai.job, sched_task_name(d->core, ai.job, ai.task), ai.number, ev->u.preempt.job,
                  m.by_task, why, (long long)ai.grace_end_ms);
        outbox_cancel(d->out, id);
    }
}

/* --- logs ------------------------------------------------------------------ */

static void logs_reply_error(sched_daemon_t *d, const cairn_peer_t *client, uint64_t attempt,
                             const char *why)
{
    Cairn__LogsReply rep = CAIRN__LOGS_REPLY__INIT;
    rep.error = (char *)why;
    rep.attempt_id = attempt;
    outbox_to_client(d->out, client, CAIRN_MSG_LOGS_REPLY, &rep.base);
}

static void log_wait_failed(void *arg, const log_wait_t *w, const char *why)
{
    logs_reply_error(arg, &w->client, w->attempt_id, why);
}

int dispatch_read_log(sched_daemon_t *d, uint64_t attempt, uint32_t rank, int stream,
                      uint64_t offset, uint32_t max, const cairn_peer_t *client)
{
    sched_attempt_info_t ai;
    if (sched_attempt_get(d->core, attempt, &ai) < 0 || rank >= ai.nreplicas)
        return -ENOENT;
    log_source_t src = {.attempt = attempt,
                        .rank = rank,
                        .node = ai.allocs[rank].node,
                        .job = ai.job,
                        .task = sched_task_name(d->core, ai.job, ai.task)};
    return dispatch_read_log_at(d, &src, stream, offset, max, client);
}

int dispatch_read_log_at(sched_daemon_t *d, const log_source_t *src, int stream, uint64_t offset,
                         uint32_t max, const cairn_peer_t *client)
{
    uint64_t attempt = src->attempt;
    uint32_t rank = src->rank;
    uint32_t node = src->node;
    node_link_t *l = nodes_link(d->nodes, d->core, node);
    if (!l || !l->pipe) {
        char why[256];
        snprintf(why, sizeof(why), "node %s holds this log and is not connected",
                 sched_node_name(d->core, node));
        logs_reply_error(d, client, attempt, why);
        return 0;
    }
    /* unguessable, though only the asked connection may answer anyway */
    uint64_t id = 0;
    while (!id && cairn_join_random((uint8_t *)&id, sizeof(id)) == 0)
        ;
    if (!id) {
        logs_reply_error(d, client, attempt, "no randomness for a request id");
        return 0;
    }
    Cairn__ReadLog m = CAIRN__READ_LOG__INIT;
    m.attempt_id = attempt;
    m.rank = rank;
    m.stream =
        stream == 2 ? CAIRN__LOG_STREAM__LOG_STREAM_STDERR : CAIRN__LOG_STREAM__LOG_STREAM_STDOUT;
    m.offset = offset;
    m.max_bytes = max;
    m.request_id = id;
    m.job_id = src->job;
    m.task_name = (char *)src->task;
    cairn_peer_t to = cairn_peer_pipe((nng_pipe){.id = l->pipe});
    cairn_error_t err = {{0}};
    log_wait_t w = {.request_id = id,
                    .attempt_id = attempt,
                    .rank = rank,
                    .node = node,
                    .pipe = l->pipe,
                    .client = *client,
                    .deadline_ms = (int64_t)uv_now(d->loop) + d->cfg.log_timeout_ms};
    if (waits_log_add(d->waits, &w) < 0)
        return -ENOMEM;
    if (cairn_net_send(d->workers.net, &to, CAIRN_MSG_READ_LOG, &m.base, &err) < 0) {
        waits_log_remove(d->waits, id);
        logs_reply_error(d, client, attempt, err.text);
    }
    return 0;
}

void dispatch_log_chunk(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__LogChunk *c)
{
    uint32_t node;
    bool registered = nodes_of_pipe(d->nodes, from->pipe.id, &node) == 0;
    const log_wait_t *x = waits_log_find(d->waits, c->request_id);
    if (!x)
        return;
    if (!registered || node != x->node || from->pipe.id != x->pipe ||
        c->attempt_id != x->attempt_id || c->rank != x->rank) {
        d->stats.bad_messages++;
        cairn_log(d->log, CAIRN_LOG_WARN,
                  "log chunk for request %llu refused: it came from %s (pipe %u), not from "
                  "node %s asked for attempt %llu.%u",
                  (unsigned long long)c->request_id,
                  registered ? sched_node_name(d->core, node) : "an unregistered connection",
                  from->pipe.id, sched_node_name(d->core, x->node),
                  (unsigned long long)x->attempt_id, x->rank);
        return;
    }
    log_wait_t w = *x;
    waits_log_remove(d->waits, c->request_id);
    Cairn__LogsReply rep = CAIRN__LOGS_REPLY__INIT;
    rep.data = c->data;
    rep.next_offset = c->offset + c->data.len;
    rep.eof = c->eof;
    rep.error = c->error;
    rep.attempt_id = w.attempt_id;
    outbox_to_client(d->out, &w.client, CAIRN_MSG_LOGS_REPLY, &rep.base);
}

void dispatch_unbind(sched_daemon_t *d, node_link_t *l, const char *why)
{
    uint32_t pipe = nodes_unbind(d->nodes, l);
    waits_log_fail_pipe(d->waits, pipe, why, log_wait_failed, d);
}

void dispatch_expire_waits(sched_daemon_t *d)
{
    waits_log_expire(d->waits, (int64_t)uv_now(d->loop), log_wait_failed, d);
}
