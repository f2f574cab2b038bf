/* The daemon as leader or standby of a shared PostgreSQL store (lead.h):
 * what it does when it starts to lead, how it steps down, and what a
 * standby answers its peers. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "proto/worker.pb-c.h"
#include "scheduler/clients_private.h"
#include "scheduler/daemon_private.h"
#include "scheduler/lead.h"
#include "scheduler/sdb.h"

static int apply_cb(void *arg, uint64_t seq, const uint8_t *buf, size_t len)
{
    sched_daemon_t *d = arg;
    return d->restart.replay(seq, buf, len, d);
}

/* From now on this instance leads: what a restart does after loading. */
int daemon_lead_begin(sched_daemon_t *d, cairn_error_t *err)
{
    d->started_ms = nodes_listen_now(d->nodes);
    d->h.last_tick_ms = uv_now(d->loop); /* standing by was no stall */
    /* the timeline starts from the nodes as they are, before they return */
    int rc = timeline_backfill(d->st->timeline, d->core, cairn_wall_ms(), err);
    if (rc == 0)
        d->restart.mark_returning(d);
    return rc;
}

static int lead_cb(void *arg, uint64_t epoch, cairn_error_t *err)
{
    sched_daemon_t *d = arg;
    int rc;
    /* what the old leader kept beside the journal, as committed */
    if ((rc = stores_reload(d->st, err)) < 0 || (rc = d->restart.load_beside(d, err)) < 0 ||
        (rc = nodes_load_rexits(d->nodes, d->core, d->st->journal, err)) < 0 ||
        (rc = daemon_lead_begin(d, err)) < 0)
        return rc;
    char detail[160];
    snprintf(detail, sizeof(detail), "epoch=%" PRIu64 " after=%" PRIu64, epoch,
             journal_head(d->st->journal));
    if ((rc = audit_append(d->st->audit, cairn_wall_ms(), d->lead_holder, "lead", "scheduler",
                           detail, err)) < 0 ||
        (rc = d->restart.audit_config(d, err)) < 0)
        return rc;
    batch_touch(d);
    return 0;
}

/* Start again as a new process: memory may hold what was never committed,
 * so nothing of it is trusted. The same pid keeps the name (host:pid), so
 * a scheduler whose database restarted takes its lease back at once. */
static void step_down_cb(void *arg, const char *why)
{
    sched_daemon_t *d = arg;
    cairn_log(d->log, CAIRN_LOG_ERROR, "stepping down: %s; starting again as a standby", why);
    if (d->cfg.argv) {
        long max = sysconf(_SC_OPEN_MAX);
        for (int fd = 3; fd < (max > 0 && max < 65536 ? max : 4096); fd++)
            fcntl(fd, F_SETFD, FD_CLOEXEC);
        execv("/proc/self/exe", d->cfg.argv);
        cairn_log(d->log, CAIRN_LOG_ERROR, "cannot start again: %s", strerror(errno));
    }
    _exit(75); /* EX_TEMPFAIL: a supervisor starts it again */
}

void daemon_lead_lost(sched_daemon_t *d, const char *why)
{
    step_down_cb(d, why);
}

int daemon_lead_start(sched_daemon_t *d, cairn_error_t *err)
{
    if (sdb_kind(journal_db(d->st->journal)) != SDB_PG)
        return 0;
    char host[200] = "";
    if (d->cfg.name)
        snprintf(d->lead_holder, sizeof(d->lead_holder), "%s", d->cfg.name);
    else if (gethostname(host, sizeof(host) - 1) == 0)
        snprintf(d->lead_holder, sizeof(d->lead_holder), "%s:%ld", host, (long)getpid());
    else
        snprintf(d->lead_holder, sizeof(d->lead_holder), "pid:%ld", (long)getpid());
    lead_config_t lc = {.holder = d->lead_holder,
                        .client_endpoints = d->clients.url,
                        .worker_endpoints = d->workers.url,
                        .lease_ms = d->cfg.lease_ms > 0 ? d->cfg.lease_ms : 3000};
    lead_ops_t ops = {.apply = apply_cb, .lead = lead_cb, .step_down = step_down_cb, .arg = d};
    return lead_create(d->loop, d->st->journal, &lc, &ops, journal_head(d->st->journal), d->log,
                       &d->lead, err);
}

bool daemon_standby(const sched_daemon_t *d)
{
    return d->lead && !lead_leading(d->lead);
}

bool daemon_may_speak(sched_daemon_t *d)
{
    return !d->lead || lead_valid(d->lead);
}

void daemon_standby_worker(sched_daemon_t *d, const cairn_peer_t *from, cairn_msg_type_t type)
{
    if (type != CAIRN_MSG_REGISTER) {
        /* a worker that thinks this one leads (and the endpoint watchdog's
         * probe): told who does */
        Cairn__ErrorReply er = CAIRN__ERROR_REPLY__INIT;
        er.code = CAIRN__ERROR_CODE__ERROR_CODE_NOT_LEADER;
        er.message = "this scheduler stands by";
        er.request_type = type;
        er.leader = (char *)lead_leader_endpoints(d->lead, true);
        outbox_to_worker(d->out, from, CAIRN_MSG_ERROR, &er.base, false);
        return;
    }
    Cairn__RegisterReply rep = CAIRN__REGISTER_REPLY__INIT;
    rep.accepted = false;
    rep.error = "not the leader";
    rep.leader = (char *)lead_leader_endpoints(d->lead, true);
    outbox_to_worker(d->out, from, CAIRN_MSG_REGISTER_REPLY, &rep.base, false);
}

void daemon_schedulers_reply(sched_daemon_t *d, const cairn_peer_t *to)
{
    Cairn__SchedulersReply rep = CAIRN__SCHEDULERS_REPLY__INIT;
    Cairn__SchedulerInstance one = CAIRN__SCHEDULER_INSTANCE__INIT, *ptr = &one;
    rep.time_ms = cairn_wall_ms();
    if (d->lead) {
        rep.store = "postgresql";
        lead_fill_reply(d->lead, &rep);
    } else {
        rep.store = "sqlite";
        rep.head_seq = journal_head(d->st->journal);
        one.holder = "local";
        one.client_endpoints = d->clients.url;
        one.worker_endpoints = d->workers.url;
        one.leader = true;
        one.applied_seq = rep.head_seq;
        one.state = "leading";
        rep.n_instances = 1;
        rep.instances = &ptr;
    }
    clients_reply(d, to, CAIRN_MSG_SCHEDULERS_REPLY, &rep.base);
}

void daemon_standby_client(sched_daemon_t *d, const cairn_peer_t *to, cairn_msg_type_t type)
{
    if (type == CAIRN_MSG_SCHEDULERS) {
        daemon_schedulers_reply(d, to);
        return;
    }
    const char *leader = lead_leader_endpoints(d->lead, false);
    char msg[700];
    if (leader[0])
        snprintf(msg, sizeof(msg), "this scheduler stands by; the leader is %s", leader);
    else
        snprintf(msg, sizeof(msg),
                 "this scheduler stands by and no scheduler leads now "
                 "(a takeover is under way): try again");
    Cairn__ErrorReply rep = CAIRN__ERROR_REPLY__INIT;
    rep.code = CAIRN__ERROR_CODE__ERROR_CODE_NOT_LEADER;
    rep.message = msg;
    rep.request_type = type;
    rep.leader = (char *)leader;
    clients_reply(d, to, CAIRN_MSG_ERROR, &rep.base);
}
