/* The scheduler daemon: creation, journal replay, the per-iteration
 * pass-commit-send cycle, and timers. See daemon.h for the loop phases. */
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "proto/sign.h"
#include "scheduler/daemon_private.h"
#include "scheduler/journal_pack.h"
#include "scheduler/lead.h"
#include "scheduler/sdb.h"
#include "scheduler/snapshots.h"

void sched_daemon_config_init(sched_daemon_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->heartbeat_interval_ms = 1000;
    cfg->lease_ms = 3000;
    cfg->heartbeat_timeout_ms = 10000;
    cfg->heartbeat_rate = 1000;
    cfg->restart_grace_ms = 30000;
    cfg->register_timeout_ms = 30000;
    cfg->kill_grace_ms = 10000;
    cfg->log_timeout_ms = 5000;
    cfg->max_msg = CAIRN_MSG_MAX_DEFAULT;
    cfg->max_reservations = 1;
    cfg->max_jobs_listed = 1000;
    cfg->limits = jobspec_default_limits;
    cfg->sample_interval_ms = USAGE_SAMPLE_DEFAULT_MS;
    cfg->usage_retention_ms = USAGE_RETENTION_DEFAULT_MS;
    cfg->snapshot_every = SCHED_SNAPSHOT_EVERY_DEFAULT;
    cfg->snapshot_interval_ms = SCHED_SNAPSHOT_INTERVAL_DEFAULT_MS;
    cfg->keep_finished_ms = 10 * 60000;
    cfg->history_retention_ms = 365LL * 86400000;
    cfg->fs_gpu_weight = SCHED_FS_GPU_WEIGHT;
    cfg->fs_half_life_ms = SCHED_FS_HALF_LIFE_MS;
    cfg->max_preemptions_per_task = SCHED_MAX_PREEMPTIONS_DEFAULT;
    cfg->limits.topology_levels = ""; /* submits are checked: none yet */
}

/* Every sample interval: the census (usage.h); every 120th, compaction. */
static void census_cb(uv_timer_t *t)
{
    sched_daemon_t *d = t->data;
    if (daemon_standby(d))
        return;
    sched_census_t c;
    cairn_error_t err = {{0}};
    int64_t now = cairn_wall_ms();
    if (usage_flush(d->st->usage, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "%s", err.text);
    if (d->cfg.sample_interval_ms > 0 && sched_census(d->core, &c) == 0) {
        if (usage_put_census(d->st->usage, now, d->cfg.sample_interval_ms, &c, &err) < 0)
            cairn_log(d->log, CAIRN_LOG_WARN, "%s", err.text);
        sched_census_fini(&c);
    }
    if (++d->h.census_ticks % 120 == 1 &&
        usage_compact(d->st->usage, now, d->cfg.usage_retention_ms, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "%s", err.text);
}

/* The configuration as one line, for the audit trail. */
static void config_line(const sched_daemon_t *d, char *buf, size_t n)
{
    const sched_daemon_config_t *c = &d->cfg;
    sched_config_t core = sched_daemon_core_config(c);
    char prefetch[48] = "0";
    if (core.prefetch)
        snprintf(prefetch, sizeof(prefetch), "%u..%u/%ums", core.prefetch, core.prefetch_max,
                 core.prefetch_window_ms);
    snprintf(buf, n,
             "workers=%s clients=%s heartbeat_interval_ms=%lld heartbeat_timeout_ms=%lld "
             "restart_grace_ms=%lld register_timeout_ms=%lld kill_grace_ms=%lld "
             "max_reservations=%u prefetch=%s fair_share_gpu_weight=%u "
             "fair_share_half_life_ms=%lld preempt_for_fair_share=%d "
             "max_preemptions_per_task=%u max_checkpoint_grace_ms=%lld topology_levels=%s "
             "join_key=%s tls_cert=%s tls_ca=%s admins=%s allow_anonymous_writes=%d "
             "allow_any_node_name=%d "
             "secret_pattern=%s "
             "max_tasks=%u max_argv=%u max_env=%u max_needs=%u max_string=%zu",
             d->workers.url, d->clients.url, (long long)c->heartbeat_interval_ms,
             (long long)c->heartbeat_timeout_ms, (long long)c->restart_grace_ms,
             (long long)c->register_timeout_ms, (long long)c->kill_grace_ms, c->max_reservations,
             prefetch, core.fs_gpu_weight ? core.fs_gpu_weight : SCHED_FS_GPU_WEIGHT,
             (long long)(core.fs_half_life_ms ? core.fs_half_life_ms : SCHED_FS_HALF_LIFE_MS),
             core.preempt_for_fair_share,
             core.max_preemptions_per_task ? core.max_preemptions_per_task
                                           : SCHED_MAX_PREEMPTIONS_DEFAULT,
             (long long)(c->limits.max_grace_ms ? c->limits.max_grace_ms : JOBSPEC_MAX_GRACE_MS),
             core.topology_levels && core.topology_levels[0] ? core.topology_levels : "-",
             c->join_key_file ? c->join_key_file : "-", c->tls_cert ? c->tls_cert : "-",
             c->tls_ca ? c->tls_ca : "-", c->admins && *c->admins ? c->admins : "-",
             c->allow_anonymous_writes, c->allow_any_node_name,
             c->secret_pattern ? c->secret_pattern : PROV_SECRET_PATTERN_DEFAULT,
             c->limits.max_tasks, c->limits.max_argv, c->limits.max_env, c->limits.max_needs,
             c->limits.max_string);
}

typedef struct last_config {
    char detail[2048];
    bool found;
} last_config_t;

static int last_config_cb(const audit_entry_t *e, void *arg)
{
    last_config_t *lc = arg;
    if (!strcmp(e->action, "config")) {
        snprintf(lc->detail, sizeof(lc->detail), "%s", e->detail);
        lc->found = true;
    }
    return 0;
}

/* A configuration that differs from the last one recorded is audited,
 * by the user the scheduler runs as. */
static int daemon_audit_config(sched_daemon_t *d, cairn_error_t *err)
{
    char line[2048];
    config_line(d, line, sizeof(line));
    last_config_t lc = {.found = false};
    int rc = audit_list(d->st->audit, 0, NULL, 0, last_config_cb, &lc, err);
    if (rc < 0 || (lc.found && !strcmp(lc.detail, line)))
        return rc;
    struct passwd pw, *res = NULL;
    char buf[4096], who[64];
    if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) == 0 && res)
        snprintf(who, sizeof(who), "%s", res->pw_name);
    else
        snprintf(who, sizeof(who), "uid %u", (unsigned)geteuid());
    if ((rc = audit_append(d->st->audit, cairn_wall_ms(), who, "config", "scheduler", line, err)) <
        0)
        return rc;
    return journal_commit(d->st->journal, err);
}

/* --- journal replay ----------------------------------------------------- */

static int daemon_replay_cb(uint64_t seq, const uint8_t *buf, size_t len, void *arg)
{
    sched_daemon_t *d = arg;
    sched_event_t ev;
    journal_hold_t hold;
    cairn_error_t err = {{0}};
    int rc = journal_event_unpack(buf, len, &ev, &hold, NULL, &err);
    if (rc == 0)
        batch_clock_seen(d, ev.time_ms);
    if (rc == 0 && (rc = sched_apply(d->core, &ev, &err)) < 0)
        cairn_log(d->log, CAIRN_LOG_ERROR, "journal entry %llu (%s) does not apply: %s",
                  (unsigned long long)seq, sched_event_type_name(ev.type), err.text);
    else if (rc < 0)
        cairn_log(d->log, CAIRN_LOG_ERROR, "journal entry %llu: %s", (unsigned long long)seq,
                  err.text);
    journal_hold_fini(&hold);
    return rc < 0 ? rc : 0;
}

sched_config_t sched_daemon_core_config(const sched_daemon_config_t *c)
{
    bool on = !c || !c->no_prefetch;
    return (sched_config_t){.max_reservations = c ? c->max_reservations : 1,
                            .prefetch = on ? SCHED_DAEMON_PREFETCH : 0,
                            .prefetch_max = on ? SCHED_DAEMON_PREFETCH_MAX : 0,
                            .prefetch_window_ms = SCHED_DAEMON_PREFETCH_WINDOW_MS,
                            .fs_gpu_weight = c ? c->fs_gpu_weight : 0,
                            .fs_half_life_ms = c ? c->fs_half_life_ms : 0,
                            .preempt_for_fair_share = c && c->preempt_for_fair_share,
                            .max_preemptions_per_task = c ? c->max_preemptions_per_task : 0,
                            .topology_levels = c ? c->topology_levels : NULL};
}

/* (Re)build the core: the newest snapshot that verifies, then the
 * journal's entries after it. */
static int load_state(sched_daemon_t *d, cairn_error_t *err)
{
    sched_config_t sc = sched_daemon_core_config(&d->cfg);
    sched_t *core = NULL;
    snapshot_restored_t from;
    uint64_t t0 = uv_hrtime();
    int rc = snapshots_restore(d->st->journal, &sc, d->log, &core, &from, err);
    if (rc < 0)
        return rc;
    uint64_t t1 = uv_hrtime();
    sched_t *old = d->core;
    d->core = core;
    rc = journal_replay_after(d->st->journal, from.seq, daemon_replay_cb, d, err);
    if (rc < 0) {
        sched_destroy(core);
        d->core = old;
        return rc ? rc : errcode(err, -EIO, "journal replay failed");
    }
    sched_destroy(old);
    d->snap.seq = from.seq;
    d->snap.at_ms = cairn_wall_ms();
    if (from.seq)
        cairn_log(d->log, CAIRN_LOG_INFO,
                  "state from the snapshot of journal entry %llu (%zu bytes, loaded in %.1f ms) "
                  "and the entries after it (replayed in %.1f ms)",
                  (unsigned long long)from.seq, from.bytes, (double)(t1 - t0) / 1e6,
                  (double)(uv_hrtime() - t1) / 1e6);
    return 0;
}

/* Every --snapshot-every entries or --snapshot-interval, a snapshot of the
 * core goes into the commit that makes the newest entry durable; older
 * snapshots and entries are pruned with it. The ended attempts the history
 * has recorded are forgotten first, so the snapshot does not carry them. */
#define SNAPSHOT_DEFER_MAX 64

static void snapshot_maybe(sched_daemon_t *d)
{
    journal_t *j = d->st->journal;
    uint64_t head = journal_head(j);
    int64_t now = cairn_wall_ms();
    bool by_count = d->cfg.snapshot_every && head - d->snap.seq >= d->cfg.snapshot_every;
    bool by_time =
        d->cfg.snapshot_interval_ms > 0 && now - d->snap.at_ms >= d->cfg.snapshot_interval_ms;
    if (head <= d->snap.seq || !(by_count || by_time) || d->batch.failed)
        return;
    /* writing a snapshot of a large state takes a while (a 100,000-task
     * state: about 0.2 s): a due one waits for a commit that answers no
     * client, so a submit's acknowledgement does not wait for it, up to
     * SNAPSHOT_DEFER_MAX commits in a row */
    if (outbox_clients(d->out) > 0 && d->snap.deferred < SNAPSHOT_DEFER_MAX) {
        d->snap.deferred++;
        return;
    }
    d->snap.deferred = 0;
    sched_ended_trim(d->core, history_cursor(d->st->history));
    cairn_error_t err = {{0}};
    uint64_t t0 = uv_hrtime();
    size_t bytes = 0;
    if (snapshots_take(j, d->core, now, &bytes, &err) < 0) {
        cairn_log(d->log, CAIRN_LOG_ERROR, "snapshot of journal entry %llu: %s",
                  (unsigned long long)head, err.text);
        batch_fail(d, err.text);
        return;
    }
    d->snap.save_ms = (double)(uv_hrtime() - t0) / 1e6;
    d->snap.bytes = bytes;
    d->snap.seq = head; /* undone by a failed commit: load_state sets it again */
    d->snap.at_ms = now;
    d->snap.taken++;
    cairn_log(d->log, CAIRN_LOG_DEBUG, "snapshot of journal entry %llu: %zu bytes in %.1f ms",
              (unsigned long long)head, bytes, d->snap.save_ms);
}

/* --- the check phase: pass, commit, send -------------------------------- */

static void place_cb(const sched_event_t *ev, void *arg)
{
    sched_daemon_t *d = arg;
    uint8_t *buf = NULL;
    size_t len = 0;
    cairn_error_t err = {{0}};
    if (ev->type == SCHED_EV_PLACE)
        d->stats.placements++;
    d->batch.urgent = true; /* queued ones too: the line must not run dry */
    if (journal_event_pack(ev, NULL, 0, &buf, &len) < 0 ||
        journal_append(d->st->journal, buf, len, &err) < 0)
        batch_fail(d, err.text);
    free(buf);
    if (ev->type == SCHED_EV_PREEMPT)
        dispatch_preempt(d, ev);
    else
        outbox_assign(d->out, ev->u.place.attempt, UINT32_MAX);
}

static void assign_cb(void *arg, uint64_t attempt, uint32_t node)
{
    dispatch_assign(arg, attempt, node);
}

static void cancel_cb(void *arg, uint64_t attempt)
{
    dispatch_cancel(arg, attempt);
}

static void arm_wakeup(sched_daemon_t *d);
static void wake_cb(uv_timer_t *t);

static void commit_timer_cb(uv_timer_t *t)
{
    sched_daemon_t *d = t->data;
    d->batch.urgent = true;
    batch_touch(d);
}

/* Whether the pending journal entries may wait for a later commit. */
static bool commit_can_wait(sched_daemon_t *d)
{
    if (d->batch.urgent || d->batch.degraded || !journal_pending(d->st->journal))
        return false;
    if (!uv_is_active((uv_handle_t *)&d->h.commit))
        uv_timer_start(&d->h.commit, commit_timer_cb, COMMIT_DELAY_MS, 0);
    return true;
}

/* (Re)load what is kept in memory beside the journal: the workers' newest
 * events, where the history resumes, the replica exits of running gangs
 * (at start only: a failed commit keeps the loop's own). */
static int daemon_load_beside(sched_daemon_t *d, cairn_error_t *err)
{
    int rc = nodes_load_seqs(d->nodes, d->core, d->st->journal, err);
    if (rc == 0)
        rc = history_load_cursor(d->st->history, sched_ended_count(d->core), err);
    if (rc == 0 && sched_job_first(d->core) > 1) /* retired jobs' hits are in their records */
        cache_hits_forget(d->st->cache, retain_attempt_gone, d->core);
    return rc;
}

/* The commit failed (or a write of the batch did): roll back, tell the
 * batch's clients, reload the state as the journal has it. */
static void commit_failed(sched_daemon_t *d, const cairn_error_t *err)
{
    journal_rollback(d->st->journal);
    if (d->lead) /* deposed, or the database failed: its memory is not trusted */
        daemon_lead_lost(d, err->text[0] ? err->text : d->batch.degraded_why);
    cairn_log(d->log, CAIRN_LOG_ERROR,
              "commit failed (%s): reloading the state; "
              "new submissions are refused until a write succeeds",
              err->text[0] ? err->text : d->batch.degraded_why);
    if (err->text[0]) /* else a write failed and said why already */
        snprintf(d->batch.degraded_why, sizeof(d->batch.degraded_why),
                 "state storage failed: %.200s", err->text);
    d->batch.degraded = true;
    d->batch.failed = false;
    /* the clients of the batch get an answer: nothing of it was kept */
    outbox_drop(d->out, d->batch.degraded_why);
    cairn_error_t lerr = {{0}};
    if (stores_reload(d->st, &lerr) < 0 || load_state(d, &lerr) < 0 ||
        daemon_load_beside(d, &lerr) < 0)
        cairn_log(d->log, CAIRN_LOG_ERROR, "reload failed: %s", lerr.text);
    batch_touch(d);
}

/* After each poll: one pass, one commit, then the replies and messages
 * that waited for it. */
static void check_cb(uv_check_t *h)
{
    sched_daemon_t *d = h->data;
    int64_t now;
    if (daemon_standby(d) || !daemon_may_speak(d))
        return; /* follows the leader (lead.h) */
    if (d->batch.dirty && !batch_pass_time(d, &now)) {
        d->batch.dirty = false; /* one pass that places per ms (batch_pass_time) */
        uv_timer_start(&d->h.pass, wake_cb, 1, 0);
    } else if (d->batch.dirty) {
        d->batch.dirty = false;
        uint64_t t0 = uv_hrtime();
        int n = sched_place(d->core, now, place_cb, d);
        histogram_observe(&d->stats.pass_latency, (double)(uv_hrtime() - t0) / 1e9);
        if (n < 0)
            cairn_log(d->log, CAIRN_LOG_ERROR, "placement pass failed: %d", n);
        batch_passed(d, now, n);
        arm_wakeup(d);
    }
    cairn_error_t serr = {{0}};
    if (nodes_save_seqs(d->nodes, d->core, d->st->journal, &serr) < 0) {
        cairn_log(d->log, CAIRN_LOG_ERROR, "%s", serr.text);
        batch_fail(d, serr.text);
    }
    records_flush(d);
    if (d->retain.due && !d->batch.failed) {
        d->retain.due = retain_pass(d);
        if (d->retain.due) /* more wait: the next iteration, without blocking */
            batch_touch(d);
    }
    journal_t *j = d->st->journal;
    if (d->batch.failed && !journal_pending(j)) {
        /* a write failed before any transaction opened (BEGIN did): the
         * batch's replies must not go out as if it were durable */
        cairn_error_t none = {{0}};
        commit_failed(d, &none);
    }
    if ((journal_pending(j) || d->batch.degraded) && !commit_can_wait(d)) {
        d->batch.urgent = false;
        uv_timer_stop(&d->h.commit);
        cairn_error_t err = {{0}};
        bool pending = journal_pending(j);
        if (pending)
            snapshot_maybe(d);
        if (pending && (d->batch.failed || journal_commit(j, &err) < 0)) {
            commit_failed(d, &err);
        } else if (pending && d->batch.degraded) { /* a commit went through */
            d->batch.degraded = false;
            cairn_log(d->log, CAIRN_LOG_INFO, "state storage works again");
        }
    }
    if (!journal_pending(j)) {
        if (waits_job_count(d->waits))
            waits_job_answer(d->waits, false);
        outbox_flush(d->out, assign_cb, cancel_cb, d);
    }
    if (!d->batch.dirty && d->batch.busy) {
        d->batch.busy = false;
        uv_idle_stop(&d->h.idle);
    }
}

/* Look for jobs to retire (retain.h) in the next check phase. */
static void retain_cb(uv_timer_t *t)
{
    sched_daemon_t *d = t->data;
    if (daemon_standby(d))
        return;
    d->retain.due = true;
    batch_touch(d);
}

static void wake_cb(uv_timer_t *t)
{
    batch_touch(t->data);
}

/* Wake the loop when the earliest backoff ends. */
static void arm_wakeup(sched_daemon_t *d)
{
    int64_t at = sched_next_wakeup(d->core);
    if (at == INT64_MAX) {
        uv_timer_stop(&d->h.wake);
        return;
    }
    int64_t delay = at - cairn_wall_ms();
    uv_timer_start(&d->h.wake, wake_cb, (uint64_t)(delay > 0 ? delay : 0), 0);
}

static int open_endpoints(sched_daemon_t *d, cairn_error_t *err);

static void endpoint_close(endpoint_t *e)
{
    cairn_net_destroy(e->net);
    e->net = NULL;
    if (e->sock.id)
        nng_close(e->sock);
    e->sock = (nng_socket)NNG_SOCKET_INITIALIZER;
}

/* Close both endpoints and open them again (see watchdog.h). Workers and
 * clients reconnect by themselves; workers re-register. */
static void reopen_endpoints(sched_daemon_t *d, const char *why)
{
    cairn_log(d->log, CAIRN_LOG_WARN, "%s stopped answering: reopening the endpoints", why);
    outbox_set_nets(d->out, NULL, NULL); /* what waits is addressed to the old sockets */
    endpoint_close(&d->workers);
    endpoint_close(&d->clients);
    nodes_unbind_all(d->nodes); /* every worker pipe is gone */
    waits_clear(d->waits);
    cairn_error_t err = {{0}};
    if (open_endpoints(d, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_ERROR, "reopening the endpoints failed: %s", err.text);
}

/* nng 1.5.2 sockets can wedge after a peer drops during the handshake:
 * probe each endpoint end to end and reopen them when one stops answering. */
static void watch_cb(uv_timer_t *t)
{
    sched_daemon_t *d = t->data;
    size_t wq = d->workers.net ? cairn_net_backlog(d->workers.net) : 0;
    size_t cq = d->clients.net ? cairn_net_backlog(d->clients.net) : 0;
    if (watchdog_tick(d->workers.watch, wq))
        reopen_endpoints(d, d->workers.url);
    else if (watchdog_tick(d->clients.watch, cq))
        reopen_endpoints(d, d->clients.url);
}

/* A heartbeat tick later than two intervals means the loop could not run
 * (nor hear workers) meanwhile: the excess is not counted as silence. */
static void note_stall(sched_daemon_t *d)
{
    uint64_t now = uv_now(d->loop);
    int64_t every = d->cfg.heartbeat_interval_ms > 0 ? d->cfg.heartbeat_interval_ms : 1000;
    int64_t dt = (int64_t)(now - d->h.last_tick_ms);
    d->h.last_tick_ms = now;
    if (dt > 2 * every) {
        nodes_add_unheard(d->nodes, dt - every);
        cairn_log(d->log, CAIRN_LOG_WARN,
                  "the scheduler could not run for %lld ms: that time does not count as any "
                  "node's silence",
                  (long long)(dt - every));
    }
}

static void hb_cb(uv_timer_t *t)
{
    sched_daemon_t *d = t->data;
    if (daemon_standby(d))
        return;
    note_stall(d);
    if (d->batch.degraded && !journal_pending(d->st->journal)) {
        cairn_error_t err = {{0}};
        if (journal_probe(d->st->journal, &err) == 0) {
            d->batch.degraded = false;
            cairn_log(d->log, CAIRN_LOG_INFO,
                      "state storage works again: submissions are accepted");
        }
    }
    workers_check_silence(d);
    nodes_pending_expire(d->nodes, d->cfg.register_timeout_ms);
    dispatch_expire_waits(d);
}

/* --- creation ----------------------------------------------------------- */

static int mkdir_p(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* prefix + dir + suffix, malloc'd */
static char *path_join(const char *prefix, const char *dir, const char *suffix)
{
    size_t n = strlen(prefix) + strlen(dir) + strlen(suffix) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", prefix, dir, suffix);
    return s;
}

static int open_endpoints(sched_daemon_t *d, cairn_error_t *err)
{
    int rv;
    endpoint_t *w = &d->workers, *c = &d->clients;
    cairn_nng_threads_start(); /* SIGTERM goes to the loop's thread */
    if ((rv = nng_pair1_open_poly(&w->sock)) != 0 || (rv = nng_rep0_open_raw(&c->sock)) != 0)
        return errcode(err, -EIO, "cannot open sockets: %s", nng_strerror(rv));
    nng_socket_set_int(w->sock, NNG_OPT_SENDBUF, 1024);
    nng_socket_set_int(w->sock, NNG_OPT_RECVBUF, 1024);
    nng_socket_set_int(c->sock, NNG_OPT_SENDBUF, 256);
    nng_socket_set_int(c->sock, NNG_OPT_RECVBUF, 256);
    cairn_net_callbacks_t wcb = {
        .recv = workers_recv, .bad = workers_bad, .pipe = workers_pipe, .arg = d};
    cairn_net_callbacks_t ccb = {.recv = clients_recv, .bad = clients_bad, .arg = d};
    if (cairn_net_create(d->loop, w->sock, d->cfg.max_msg, &wcb, &w->net, err) < 0 ||
        cairn_net_create(d->loop, c->sock, d->cfg.max_msg, &ccb, &c->net, err) < 0)
        return -EIO;
    outbox_set_nets(d->out, w->net, c->net);
    cairn_net_set_flow(w->net, CAIRN_NET_FLOW_SENDER);
    cairn_net_set_auth(w->net, CAIRN_NET_AUTH_EXPLICIT, 0);  /* until a Register is accepted */
    cairn_net_set_auth(c->net, CAIRN_NET_AUTH_TRANSPORT, 0); /* anonymous tcp:// clients */
    cairn_tls_t tls = {.cert_key = d->cfg.tls_cert, .ca = d->cfg.tls_ca};
    nng_listener wl;
    cairn_error_t terr = {{0}};
    if ((rv = nng_listener_create(&wl, w->sock, w->url)) != 0 ||
        (rv = cairn_tls_listener(wl, w->url, &tls, &terr)) != 0 ||
        (rv = nng_listener_start(wl, 0)) != 0)
        return errcode(err, -EADDRINUSE, "cannot listen for workers on %s: %s", w->url,
                       terr.text[0] ? terr.text : nng_strerror(rv));
    if ((rv = clients_listen(c->sock, c->url, &tls, &terr)) != 0)
        return errcode(err, -EADDRINUSE, "cannot listen for clients on %s: %s", c->url,
                       terr.text[0] ? terr.text : nng_strerror(rv));
    if (d->cfg.http_addr && (rv = nng_listen(c->sock, daemon_web_inproc(d), NULL, 0)) != 0)
        return errcode(err, -EIO, "cannot listen on %s: %s", daemon_web_inproc(d),
                       nng_strerror(rv));
    if (d->cfg.tls_ca && !d->verifier &&
        cairn_verifier_create(d->cfg.tls_ca, d->cfg.tls_cert, 0, &d->verifier, err) < 0)
        return -EINVAL;
    endpoint_t *both[] = {w, c};
    for (size_t i = 0; i < 2; i++) {
        endpoint_t *e = both[i];
        if (e->watch) /* made once: it outlives reopening */
            continue;
        if (!(e->watch = watchdog_create(e->url, e == w, &tls)))
            return errcode(err, -ENOMEM, "out of memory");
        if (watchdog_blind(e->watch))
            cairn_log(d->log, CAIRN_LOG_WARN, "%s", watchdog_blind(e->watch));
    }
    return 0;
}

/* After a restart no node has registered with this scheduler yet: every
 * node that was up (or draining) is returning. It keeps its attempts and
 * takes nothing new until it registers again, or goes down when
 * --restart-grace runs out (workers_check_silence). Journaled, so a
 * replay places exactly as this run does. */
static void daemon_mark_returning(sched_daemon_t *d)
{
    uint32_t n = sched_node_count(d->core);
    for (uint32_t i = 0; i < n; i++) {
        sched_node_state_t st = sched_node_state(d->core, i);
        if (st != SCHED_NODE_UP && st != SCHED_NODE_DRAINING)
            continue;
        sched_event_t ev = {.type = SCHED_EV_NODE_STATE, .time_ms = cairn_wall_ms()};
        ev.u.node_state.node = i;
        ev.u.node_state.state = SCHED_NODE_RETURNING;
        cairn_error_t err = {{0}};
        if (batch_apply(d, &ev, NULL, 0, &err) < 0)
            cairn_log(d->log, CAIRN_LOG_ERROR, "node %s: %s", sched_node_name(d->core, i),
                      err.text);
    }
}

static void handle_closed(uv_handle_t *h)
{
    sched_daemon_t *d = h->data;
    if (--d->h.open == 0)
        free(d);
}

/* The loop's handles, all pointing at d; closed by sched_daemon_destroy. */
static void handles_init(sched_daemon_t *d)
{
    daemon_loop_t *h = &d->h;
    uv_check_init(d->loop, &h->check);
    uv_idle_init(d->loop, &h->idle);
    uv_timer_t *timers[] = {&h->heartbeat, &h->wake,  &h->commit, &h->census,
                            &h->metrics,   &h->watch, &h->retain, &h->pass};
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
        uv_timer_init(d->loop, timers[i]);
        timers[i]->data = d;
    }
    h->check.data = h->idle.data = d;
    h->open = 2 + (int)(sizeof(timers) / sizeof(timers[0]));
}

static void handles_close(sched_daemon_t *d)
{
    daemon_loop_t *h = &d->h;
    uv_handle_t *all[] = {(uv_handle_t *)&h->check,     (uv_handle_t *)&h->idle,
                          (uv_handle_t *)&h->heartbeat, (uv_handle_t *)&h->wake,
                          (uv_handle_t *)&h->commit,    (uv_handle_t *)&h->census,
                          (uv_handle_t *)&h->metrics,   (uv_handle_t *)&h->watch,
                          (uv_handle_t *)&h->retain,    (uv_handle_t *)&h->pass};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        uv_close(all[i], handle_closed);
}

/* The paths in the state directory, and its creation. */
static int paths_init(sched_daemon_t *d, cairn_error_t *err)
{
    const sched_daemon_config_t *cfg = &d->cfg;
    int rc = mkdir_p(cfg->state_dir);
    if (rc < 0)
        return errcode(err, rc, "cannot create state directory %s: %s", cfg->state_dir,
                       strerror(-rc));
    d->state_dir = strdup(cfg->state_dir);
    d->journal_path =
        cfg->store ? strdup(cfg->store) : path_join("", cfg->state_dir, "/journal.db");
    d->workers.url = cfg->worker_url ? strdup(cfg->worker_url)
                                     : path_join("ipc://", cfg->state_dir, "/workers.sock");
    d->clients.url = cfg->client_url ? strdup(cfg->client_url)
                                     : path_join("ipc://", cfg->state_dir, "/clients.sock");
    d->store_shown = d->journal_path ? sdb_url_redact(d->journal_path) : NULL; /* no password */
    if (!d->state_dir || !d->journal_path || !d->store_shown || !d->workers.url || !d->clients.url)
        return errcode(err, -ENOMEM, "out of memory");
    return 0;
}

/* Open the stores, replay the journal, and set up the subsystems. */
static int state_open(sched_daemon_t *d, cairn_error_t *err)
{
    int rc;
    if (d->cfg.join_key_file) {
        d->join_key = calloc(1, sizeof(*d->join_key));
        if (!d->join_key)
            return errcode(err, -ENOMEM, "out of memory");
        if ((rc = cairn_join_key_load(d->cfg.join_key_file, d->join_key, err)) < 0)
            return rc;
    }
    if ((rc = stores_open_wait(d->journal_path, STORE_WAIT_MS, &d->st, err)) < 0)
        return rc;
    if (nodes_create(d->loop, d->log, &d->nodes) < 0 ||
        outbox_create(d->st->journal, d->log, &d->out) < 0 ||
        waits_create(d->loop, clients_job_done, clients_answer_wait, d, &d->waits) < 0)
        return errcode(err, -ENOMEM, "out of memory");
    if ((rc = load_state(d, err)) < 0 || (rc = daemon_load_beside(d, err)) < 0 ||
        (rc = nodes_load_rexits(d->nodes, d->core, d->st->journal, err)) < 0)
        return rc;
    /* its stores open on tables that exist now */
    return reader_open(d->loop, d->journal_path, &d->reader, err);
}

int sched_daemon_create(uv_loop_t *loop, const sched_daemon_config_t *cfg, cairn_log_t *log,
                        sched_daemon_t **out, cairn_error_t *err)
{
    if (!cfg->state_dir || !*cfg->state_dir)
        return errcode(err, -EINVAL, "no state directory");
    sched_daemon_t *d = calloc(1, sizeof(*d));
    if (!d)
        return errcode(err, -ENOMEM, "out of memory");
    d->loop = loop;
    d->cfg = *cfg;
    d->log = log;
    handles_init(d);
    d->restart = (struct daemon_restart){.replay = daemon_replay_cb,
                                         .load_beside = daemon_load_beside,
                                         .mark_returning = daemon_mark_returning,
                                         .audit_config = daemon_audit_config};
    int rc;
    if ((rc = paths_init(d, err)) < 0 || (rc = state_open(d, err)) < 0 ||
        (rc = daemon_lead_start(d, err)) < 0)
        goto fail;
    d->h.last_tick_ms = uv_now(loop);
    bool leads = !daemon_standby(d); /* a standby writes nothing */
    if ((leads && (rc = daemon_lead_begin(d, err)) < 0) || (rc = open_endpoints(d, err)) < 0 ||
        (leads && (rc = daemon_audit_config(d, err)) < 0))
        goto fail;
    if ((rc = daemon_web_start(d, err)) < 0)
        goto fail;
    uv_check_start(&d->h.check, check_cb);
    uv_timer_start(&d->h.watch, watch_cb, 100, 1000);
    uint64_t every = (uint64_t)(cfg->heartbeat_interval_ms > 0 ? cfg->heartbeat_interval_ms : 1000);
    uv_timer_start(&d->h.heartbeat, hb_cb, every, every);
    /* without a census, the timer still writes the usage reports out */
    uint64_t sample =
        (uint64_t)(cfg->sample_interval_ms > 0 ? cfg->sample_interval_ms : USAGE_SAMPLE_DEFAULT_MS);
    uv_timer_start(&d->h.census, census_cb, sample, sample);
    /* retirement: often enough that --keep-finished 0 is "at once" to a
     * person, rarely enough that an idle loop does not notice */
    uint64_t keep = (uint64_t)d->cfg.keep_finished_ms / 4;
    keep = keep < 100 ? 100 : keep > 1000 ? 1000 : keep;
    uv_timer_start(&d->h.retain, retain_cb, keep, keep);
    cairn_log(log, CAIRN_LOG_INFO,
              "state %s: %llu journal entries, %u nodes, %u jobs; workers on %s, "
              "clients on %s",
              d->store_shown, (unsigned long long)journal_count(d->st->journal),
              sched_node_count(d->core), sched_job_count(d->core), d->workers.url, d->clients.url);
    batch_touch(d);
    *out = d;
    return 0;
fail:
    sched_daemon_destroy(d);
    return rc;
}

void sched_daemon_destroy(sched_daemon_t *d)
{
    if (!d)
        return;
    if (d->st && journal_pending(d->st->journal)) {
        cairn_error_t err = {{0}};
        /* committing is safe: nothing acknowledged depends on rolling back */
        journal_commit(d->st->journal, &err);
    }
    lead_destroy(d->lead); /* before the journal it fences */
    d->lead = NULL;
    reader_close(d->reader); /* before the stores: it may hold a read open */
    d->reader = NULL;
    daemon_web_stop(d);
    watchdog_destroy(d->workers.watch);
    watchdog_destroy(d->clients.watch);
    cairn_verifier_destroy(d->verifier);
    d->verifier = NULL;
    endpoint_close(&d->workers);
    endpoint_close(&d->clients);
    outbox_destroy(d->out);
    waits_destroy(d->waits);
    nodes_destroy(d->nodes);
    stores_close(d->st);
    sched_destroy(d->core);
    if (d->join_key)
        explicit_bzero(d->join_key, sizeof(*d->join_key));
    free(d->join_key);
    free(d->state_dir);
    free(d->journal_path);
    free(d->store_shown);
    free(d->workers.url);
    free(d->clients.url);
    handles_close(d);
}
