/* Task events from workers: starts and ends of attempts (gang replicas
 * end their attempt together), with the provenance and cached results
 * they leave. Each is applied once: a worker resends what was not
 * acknowledged, and duplicates are dropped by their sequence number. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "scheduler/checkpoint.h"
#include "scheduler/daemon_private.h"

static void finish(sched_daemon_t *d, uint64_t attempt, sched_end_t end, sched_end_class_t cls,
                   int code, int sig, int64_t t)
{
    sched_event_t ev = {.type = SCHED_EV_FINISH, .time_ms = t};
    ev.u.finish.attempt = attempt;
    ev.u.finish.end = end;
    ev.u.finish.exit_code = code;
    ev.u.finish.signal = sig;
    ev.u.finish.cls = sched_end_class_allowed(end, code) ? cls : SCHED_CLASS_NONE;
    cairn_error_t err = {{0}};
    sched_attempt_info_t ai;
    if (batch_apply(d, &ev, NULL, 0, &err) < 0) {
        cairn_log(d->log, CAIRN_LOG_WARN, "finish of attempt %llu: %s", (unsigned long long)attempt,
                  err.text);
    } else if (sched_attempt_get(d->core, attempt, &ai) == 0 &&
               sched_task_state(d->core, ai.job, ai.task) == SCHED_TASK_RETRYING) {
        d->stats.retries[end & 7]++;
        cairn_log(d->log, CAIRN_LOG_INFO, "job %u task %s attempt %u ended (%s%s%s): retrying",
                  ai.job, sched_task_name(d->core, ai.job, ai.task), ai.number, sched_end_name(end),
                  ev.u.finish.cls ? ", " : "", sched_end_class_name(ev.u.finish.cls));
    }
}

/* A gang attempt ends when one replica fails (the others are cancelled) or
 * when every replica has succeeded. */
static void gang_exit(sched_daemon_t *d, const sched_attempt_info_t *ai, uint32_t rank,
                      sched_end_t end, sched_end_class_t cls, int code, int sig, int64_t t)
{
    bool ok = end == SCHED_END_EXIT && code == 0;
    if (nodes_rexit_seen(d->nodes, ai->id, rank))
        return; /* this replica's exit counts once */
    if (!ok) {
        finish(d, ai->id, end, cls, code, sig, t);
        outbox_cancel(d->out, ai->id);
        return;
    }
    if (nodes_rexit_count(d->nodes, ai->id) + 1 == ai->nreplicas) {
        nodes_rexit_clear(d->nodes, ai->id);
        finish(d, ai->id, SCHED_END_EXIT, SCHED_CLASS_NONE, 0, 0, t);
        return;
    }
    if (nodes_rexit_add(d->nodes, ai->id, rank, end, code, sig) < 0)
        return;
    cairn_error_t err = {{0}};
    d->batch.urgent = true;
    if (journal_put_replica_exit(d->st->journal, ai->id, rank, (int)end, code, sig, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_ERROR, "replica exit not saved: %s", err.text);
}

/* Provenance of a replica that started: its node as it is now. */
static void prov_started(sched_daemon_t *d, const sched_attempt_info_t *ai, uint32_t rank,
                         uint32_t node, const Cairn__TaskEvent *te)
{
    node_link_t *l = nodes_link(d->nodes, d->core, node);
    Cairn__AttemptProvenance m = CAIRN__ATTEMPT_PROVENANCE__INIT;
    Cairn__GpuProvenance g[64], *gp[64];
    m.node = (char *)sched_node_name(d->core, node);
    if (l) {
        m.node_fingerprint = l->fingerprint ? l->fingerprint : "";
        m.worker_version = l->worker_version ? l->worker_version : "";
        m.driver_version = l->driver ? l->driver : "";
        m.cuda_version = l->cuda ? l->cuda : "";
    }
    size_t ng = 0;
    for (uint32_t i = 0; i < 64; i++) {
        sched_gpu_desc_t gd;
        if (!(ai->allocs[rank].gpu_mask >> i & 1) || !sched_node_gpu(d->core, node, i, &gd))
            continue;
        cairn__gpu_provenance__init(&g[ng]);
        g[ng].index = i;
        g[ng].uuid = (char *)(gd.uuid ? gd.uuid : "");
        g[ng].model = (char *)(gd.model ? gd.model : "");
        g[ng].pci_bus_id = (char *)(gd.pci_bus_id ? gd.pci_bus_id : "");
        g[ng].vendor = (char *)(gd.vendor ? gd.vendor : "");
        gp[ng] = &g[ng];
        ng++;
    }
    m.n_gpus = ng;
    m.gpus = gp;
    /* the checkpoint directory as the attempt found it (checkpoint.h) */
    dispatch_ckpt_t ck;
    char digest[CKPT_DIGEST_HEX] = "";
    dispatch_ckpt(d, ai->job, ai->task, &ck);
    m.checkpoint_dir = ck.dir;
    if (te->kind == CAIRN__TASK_EVENT__KIND__STARTED) {
        m.n_checkpoint_start = te->n_checkpoint;
        m.checkpoint_start = te->checkpoint;
        if (ckpt_digest(te->checkpoint, te->n_checkpoint, digest) < 0)
            cairn_log(d->log, CAIRN_LOG_WARN, "attempt %llu: checkpoint digest: out of memory",
                      (unsigned long long)ai->id);
    }
    m.checkpoint_start_digest = digest;
    cairn_error_t err = {{0}};
    if (prov_put_start(d->st->prov, ai->id, rank, &m, &err) < 0) {
        cairn_log(d->log, CAIRN_LOG_ERROR, "%s", err.text);
        batch_fail(d, err.text);
    }
}

/* Whether an EXITED attempt succeeded with every declared output hashed:
 * a result worth keeping for its cache key. */
static bool cacheable(const sched_task_info_t *ti, const Cairn__TaskEvent *te)
{
    if (te->exit_code != 0 || te->signal || te->cancelled || te->timed_out || te->memory_exceeded ||
        te->n_outputs != ti->noutputs || te->n_outputs == 0)
        return false;
    for (size_t i = 0; i < te->n_outputs; i++)
        if ((te->outputs[i]->error && te->outputs[i]->error[0]) || !te->outputs[i]->sha256 ||
            strlen(te->outputs[i]->sha256) != 64)
            return false;
    return true;
}

static bool same_outputs(const Cairn__AttemptProvenance *a, const Cairn__TaskEvent *te)
{
    if (a->n_outputs != te->n_outputs)
        return false;
    for (size_t i = 0; i < te->n_outputs; i++)
        if (strcmp(a->outputs[i]->path, te->outputs[i]->path) ||
            strcmp(a->outputs[i]->sha256, te->outputs[i]->sha256))
            return false;
    return true;
}

/* Provenance of a replica that ended: what it used and left; for a cached
 * task, its result recorded under its key, or the reuse of one. */
static void prov_ended(sched_daemon_t *d, const sched_attempt_info_t *ai,
                       const Cairn__TaskEvent *te)
{
    Cairn__AttemptProvenance m = CAIRN__ATTEMPT_PROVENANCE__INIT;
    m.peak_rss_bytes = te->peak_rss_bytes;
    m.cpu_time_usec = te->cpu_time_usec;
    m.error = te->error ? te->error : "";
    m.n_outputs = te->n_outputs;
    m.outputs = te->outputs;
    char digest[CKPT_DIGEST_HEX] = "";
    m.n_checkpoint_end = te->n_checkpoint;
    m.checkpoint_end = te->checkpoint;
    if (ckpt_digest(te->checkpoint, te->n_checkpoint, digest) < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "attempt %llu: checkpoint digest: out of memory",
                  (unsigned long long)ai->id);
    m.checkpoint_end_digest = digest;
    cairn_error_t err = {{0}};
    char key[CACHE_KEY_HEX];
    cache_entry_t hit = {0};
    sched_task_info_t ti;
    if (te->kind == CAIRN__TASK_EVENT__KIND__EXITED && ai->nreplicas == 1 &&
        sched_task_info(d->core, ai->job, ai->task, &ti) == 0 &&
        cache_key(d->core, d->st->prov, ai->job, ai->task, key)) {
        m.cache_key = key;
        int rc = 0;
        if (te->cached) {
            rc = cache_lookup(d->st->cache, key, &hit, &err);
            /* whose results these are (a newer run may have replaced the
             * entry meanwhile: then it is not named) */
            if (rc > 0 && same_outputs(hit.outputs, te)) {
                m.cached_from_job = hit.job;
                m.cached_from_task = hit.task;
                rc = cache_hit_put(d->st->cache, ai->id, hit.job, hit.task, &err);
            } else if (rc >= 0) {
                rc = cache_hit_put(d->st->cache, ai->id, 0, "?", &err);
            }
        } else if (cacheable(&ti, te)) {
            rc = cache_put(d->st->cache, key, ai->job, ti.name, ai->id, te->n_outputs, te->outputs,
                           &err);
        }
        if (rc < 0) {
            cairn_log(d->log, CAIRN_LOG_ERROR, "%s", err.text);
            batch_fail(d, err.text);
        }
    }
    if (prov_put_end(d->st->prov, te->attempt_id, te->rank, &m, &err) < 0) {
        cairn_log(d->log, CAIRN_LOG_ERROR, "%s", err.text);
        batch_fail(d, err.text);
    }
    if (hit.outputs)
        cairn__attempt_provenance__free_unpacked(hit.outputs, NULL);
}

void workers_task_event(sched_daemon_t *d, const cairn_peer_t *from, uint32_t node,
                        const Cairn__TaskEvent *te)
{
    node_link_t *l = nodes_link(d->nodes, d->core, node);
    Cairn__Ack ack = CAIRN__ACK__INIT;
    ack.seq = te->seq;
    if (l && l->incarnation && te->seq <= l->last_seq) {
        /* applied already; its Ack was lost with a connection */
        cairn_log(d->log, CAIRN_LOG_DEBUG,
                  "task event %llu from %s applied already: acknowledged again",
                  (unsigned long long)te->seq, sched_node_name(d->core, node));
        outbox_to_worker(d->out, from, CAIRN_MSG_ACK, &ack.base, true);
        return;
    }
    if (l && l->incarnation) {
        l->last_seq = te->seq;
        nodes_seq_dirty(d->nodes, l);
    }
    sched_attempt_info_t ai;
    bool known = sched_attempt_get(d->core, te->attempt_id, &ai) == 0;
    bool current = known && ai.end == SCHED_END_NONE && te->rank < ai.nreplicas &&
                   ai.allocs[te->rank].node == node;
    if (!current) {
        cairn_log(d->log, CAIRN_LOG_INFO, "stale report for attempt %llu from %s ignored",
                  (unsigned long long)te->attempt_id, sched_node_name(d->core, node));
        /* it runs, but the core ended it (queued behind a preempted one) */
        if (te->kind == CAIRN__TASK_EVENT__KIND__STARTED && known && ai.end != SCHED_END_NONE)
            dispatch_cancel_stale(d, from, te->attempt_id);
    } else if (te->kind == CAIRN__TASK_EVENT__KIND__STARTED) {
        prov_started(d, &ai, te->rank, node, te);
        if (!ai.started_ms) {
            sched_event_t ev = {.type = SCHED_EV_START, .time_ms = te->start_time_ms};
            ev.u.start.attempt = te->attempt_id;
            batch_apply(d, &ev, NULL, 0, NULL);
            if (te->start_time_ms >= ai.placed_ms)
                histogram_observe(&d->stats.start_latency,
                                  (double)(te->start_time_ms - ai.placed_ms) / 1e3);
        }
    } else if (te->kind == CAIRN__TASK_EVENT__KIND__EXITED ||
               te->kind == CAIRN__TASK_EVENT__KIND__FAILED_TO_START) {
        sched_end_t end = SCHED_END_EXIT;
        int code = te->exit_code, sig = te->signal;
        if (te->kind == CAIRN__TASK_EVENT__KIND__FAILED_TO_START) {
            end = SCHED_END_START_FAILED;
            nodes_start_error_put(d->nodes, te->attempt_id, te->error);
            cairn_log(d->log, CAIRN_LOG_WARN, "attempt %llu of task %s failed to start: %s",
                      (unsigned long long)te->attempt_id, te->task_name ? te->task_name : "?",
                      te->error && te->error[0] ? te->error : "no reason given");
        } else if (te->cancelled)
            end = SCHED_END_CANCELLED;
        else if (te->timed_out)
            end = SCHED_END_TIMEOUT;
        else if (te->memory_exceeded)
            end = SCHED_END_SIGNAL, sig = 9;
        else if (te->signal)
            end = SCHED_END_SIGNAL;
        /* told to stop for a preemptor: however it ended, it is requeued
         * without using a retry */
        if (ai.preempted && te->kind == CAIRN__TASK_EVENT__KIND__EXITED)
            end = SCHED_END_PREEMPTED;
        int64_t t = te->end_time_ms ? te->end_time_ms : cairn_wall_ms();
        if (te->cached) /* never started: the node it was checked on */
            prov_started(d, &ai, te->rank, node, te);
        prov_ended(d, &ai, te);
        /* the worker's finding; an older worker says memory_exceeded only */
        sched_end_class_t cls = sched_end_class_parse(te->end_class);
        if (!cls && te->memory_exceeded)
            cls = SCHED_CLASS_OOM;
        if (ai.nreplicas > 1)
            gang_exit(d, &ai, te->rank, end, cls, code, sig, t);
        else
            finish(d, te->attempt_id, end, cls, code, sig, t);
    }
    /* the worker only drops the event when acknowledged (else resends it
     * after registering again, a duplicate dropped by seq): no hurry */
    outbox_to_worker(d->out, from, CAIRN_MSG_ACK, &ack.base, true);
}
