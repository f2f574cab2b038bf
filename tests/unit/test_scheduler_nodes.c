/* A real cairn-scheduler process and fake workers: a node's life cycle as
 * operators see it. A drain and its reason hold across the worker's
 * reconnects and scheduler restarts; after a restart, nodes that have not
 * registered again are "returning": they keep their attempts and get no
 * new work, so no task uses up an attempt on a node that is not there.
 * Every change of a node's presence is a row of the node timeline, at its
 * event's time; `cairn node remove` forgets a node that is gone. */
#include "sched_harness.h"

#include <protobuf-c/protobuf-c.h>
#include <pwd.h>
#include <unistd.h>

static const char *const slow_grace[] = {"--heartbeat-timeout", "60s", "--restart-grace", "60s",
                                         NULL};

static void drain(h_sched_t *s, const char *node, bool on, const char *reason)
{
    Cairn__DrainRequest req = CAIRN__DRAIN_REQUEST__INIT;
    req.node = (char *)node;
    req.drain = on;
    req.reason = (char *)reason;
    cairn_error_t err = {{0}};
    Cairn__DrainReply *r =
        (Cairn__DrainReply *)h_call(s, CAIRN_MSG_DRAIN, &req.base, CAIRN_MSG_DRAIN_REPLY, &err);
    cr_assert_not_null(r, "drain: %s", err.text);
    cairn_msg_free(&r->base);
}

static void expect_node(h_sched_t *s, const char *name, Cairn__NodeState state, bool drained,
                        const char *reason)
{
    Cairn__NodesReply *keep;
    Cairn__NodeInfo *ni = h_node_info(s, name, &keep);
    cr_expect_eq(ni->state, state, "node %s: state %d, want %d", name, ni->state, state);
    cr_expect_eq(ni->drained, drained, "node %s drained", name);
    cr_expect_str_eq(ni->drain_reason, reason, "node %s drain reason", name);
    cairn_msg_free(&keep->base);
}

Test(nodes, drain_and_reason_survive_reconnects_and_restarts)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, slow_grace);
    h_worker_t w;
    h_worker_open(&w, s.workers, "local", 2, 0);
    h_register_ok(&w);
    drain(&s, "local", true, "maint");
    expect_node(&s, "local", CAIRN__NODE_STATE__NODE_STATE_DRAINED, true, "maint");
    /* the worker reconnects (a blip, a worker restart) */
    h_worker_close(&w);
    h_worker_open(&w, s.workers, "local", 2, 0);
    h_register_ok(&w);
    expect_node(&s, "local", CAIRN__NODE_STATE__NODE_STATE_DRAINED, true, "maint");
    /* nothing is placed on it */
    const char *tasks[] = {"t"};
    uint64_t job = h_submit(&s, "held", tasks, 1, 1, 0, NULL);
    cr_expect_null(h_recv(&w, CAIRN_MSG_ASSIGN_TASK, 300), "a drained node got work");
    /* the scheduler restarts: returning while away, drained once back */
    h_sched_stop(&s, SIGKILL);
    h_sched_start(&s, slow_grace);
    expect_node(&s, "local", CAIRN__NODE_STATE__NODE_STATE_RETURNING, true, "maint");
    h_register_ok(&w);
    expect_node(&s, "local", CAIRN__NODE_STATE__NODE_STATE_DRAINED, true, "maint");
    cr_expect_null(h_recv(&w, CAIRN_MSG_ASSIGN_TASK, 300), "a drained node got work");
    /* undrain: the task runs */
    drain(&s, "local", false, NULL);
    expect_node(&s, "local", CAIRN__NODE_STATE__NODE_STATE_UP, false, "");
    Cairn__AssignTask *a = (Cairn__AssignTask *)h_recv(&w, CAIRN_MSG_ASSIGN_TASK, 10000);
    cr_assert_not_null(a, "no assignment after the undrain");
    cr_expect_eq(a->job_id, job);
    cairn_msg_free(&a->base);
    h_sched_stop(&s, SIGTERM);
    h_verify_journal(&s);
    h_worker_close(&w);
    h_sched_fini(&s);
}

/* The line of `cairn nodes` (the command as users run it) for node. */
static void nodes_line(h_sched_t *s, const char *node, char *line, size_t n)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "'%s/cairn' --scheduler '%s' nodes 2>&1", CAIRN_BIN_DIR, s->clients);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    line[0] = '\0';
    char buf[512];
    while (fgets(buf, sizeof(buf), p))
        if (!strncmp(buf, node, strlen(node)) && buf[strlen(node)] == ' ')
            snprintf(line, n, "%s", buf);
    cr_expect_eq(pclose(p), 0, "cairn nodes");
}

/* Two nodes, a restart, only one comes back: within the grace the other is
 * returning, and a job of single-attempt tasks runs entirely on the one
 * that is back, prefetch included, none of them lost. */
Test(nodes, no_new_work_for_a_node_that_has_not_come_back)
{
    h_sched_t s;
    h_sched_init(&s);
    char http[64];
    snprintf(http, sizeof(http), "127.0.0.1:%d", h_free_port());
    const char *const args[] = {
        "--heartbeat-timeout", "60s", "--restart-grace", "60s", "--http", http, NULL};
    h_sched_start(&s, args);
    h_worker_t a, b;
    h_worker_open(&a, s.workers, "back", 2, 0);
    h_worker_open(&b, s.workers, "away", 8, 0);
    h_register_ok(&a);
    h_register_ok(&b);
    h_worker_close(&b);
    h_sched_stop(&s, SIGKILL);
    h_sched_start(&s, args);
    h_register_ok(&a);
    expect_node(&s, "away", CAIRN__NODE_STATE__NODE_STATE_RETURNING, false, "");
    /* the metrics count it returning, not up (refreshed every second) */
    int64_t deadline = cairn_mono_ms() + 10000;
    char *m = NULL;
    while (!m || !strstr(m, "cairn_nodes{state=\"returning\"} 1")) {
        free(m);
        m = h_http_get(atoi(strchr(http, ':') + 1), "/metrics");
        cr_assert_lt(cairn_mono_ms(), deadline, "metrics never counted the node returning: %s",
                     m ? m : "");
    }
    cr_expect(strstr(m, "cairn_nodes{state=\"up\"} 1\n"), "only the node that is back: %s", m);
    free(m);
    /* cairn nodes says so: returning (within the grace), not up */
    char line[512];
    nodes_line(&s, "away", line, sizeof(line));
    cr_expect(strstr(line, " returning ") && !strstr(line, " up "), "%s", line);
    nodes_line(&s, "back", line, sizeof(line));
    cr_expect(strstr(line, " up "), "%s", line);
    Cairn__RetryPolicy rp = CAIRN__RETRY_POLICY__INIT;
    rp.max_attempts = 1;
    const char *tasks[] = {"t0", "t1", "t2", "t3"};
    uint64_t job = h_submit(&s, "one-shot", tasks, 4, 1, 0, &rp);
    /* two run on it and two are queued behind them (prefetch); before
     * this fix the two went to the larger, absent node and waited there
     * to be lost */
    uint64_t ids[4];
    for (int i = 0; i < 4; i++) {
        Cairn__AssignTask *at = (Cairn__AssignTask *)h_recv(&a, CAIRN_MSG_ASSIGN_TASK, 10000);
        cr_assert_not_null(at, "task %d not assigned to the node that is back", i);
        ids[i] = at->attempt_id;
        cairn_msg_free(&at->base);
    }
    for (int i = 0; i < 4; i++) {
        h_event(&a, ids[i], CAIRN__TASK_EVENT__KIND__STARTED, 0, 0);
        h_event(&a, ids[i], CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    }
    Cairn__JobStatusReply *st = h_status(&s, job);
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED);
    for (size_t i = 0; i < st->n_tasks; i++) {
        cr_expect_eq(st->tasks[i]->n_attempts, 1);
        cr_expect_str_eq(st->tasks[i]->attempts[0]->node, "back");
    }
    cairn_msg_free(&st->base);
    expect_node(&s, "away", CAIRN__NODE_STATE__NODE_STATE_RETURNING, false, "");
    h_sched_stop(&s, SIGTERM);
    h_verify_journal(&s);
    h_worker_close(&a);
    h_sched_fini(&s);
}

/* A returning node that does not come back within the grace goes down,
 * and the attempts it held are retried elsewhere (node-lost). */
Test(nodes, returning_node_goes_down_after_the_grace)
{
    static const char *const short_grace[] = {"--heartbeat-interval",
                                              "100ms",
                                              "--heartbeat-timeout",
                                              "60s",
                                              "--restart-grace",
                                              "500ms",
                                              NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, slow_grace);
    h_worker_t a, b;
    h_worker_open(&a, s.workers, "back", 1, 0);
    h_worker_open(&b, s.workers, "away", 1, 0);
    h_register_ok(&b);
    const char *tasks[] = {"t"};
    uint64_t job = h_submit(&s, "moved", tasks, 1, 1, 0, NULL);
    Cairn__AssignTask *at = (Cairn__AssignTask *)h_recv(&b, CAIRN_MSG_ASSIGN_TASK, 10000);
    cr_assert_not_null(at);
    cairn_msg_free(&at->base);
    h_worker_close(&b);
    h_sched_stop(&s, SIGKILL);
    h_sched_start(&s, short_grace);
    h_register_ok(&a);
    at = (Cairn__AssignTask *)h_recv_beating(&a, CAIRN_MSG_ASSIGN_TASK, 10000, 100);
    cr_assert_not_null(at, "the lost node's task was not retried");
    cr_expect_eq(at->attempt_number, 2);
    cairn_msg_free(&at->base);
    expect_node(&s, "away", CAIRN__NODE_STATE__NODE_STATE_DOWN, false, "");
    Cairn__JobStatusReply *st = h_status(&s, job);
    cr_assert_eq(st->tasks[0]->n_attempts, 2);
    cr_expect_eq(st->tasks[0]->attempts[0]->end_reason, CAIRN__END_REASON__END_REASON_NODE_LOST);
    cairn_msg_free(&st->base);
    h_sched_stop(&s, SIGTERM);
    h_worker_close(&a);
    h_sched_fini(&s);
}

/* The scheduler itself stops (SIGSTOP: as a long stall, swapping, a
 * paused VM) for longer than the heartbeat timeout while its workers keep
 * beating: when it runs again no node is condemned for a silence it could
 * not hear, and the log says why. */
Test(nodes, a_stalled_scheduler_condemns_no_node)
{
    static const char *const quick[] = {"--heartbeat-interval", "100ms", "--heartbeat-timeout",
                                        "400ms", NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, quick);
    h_worker_t w;
    h_worker_open(&w, s.workers, "steady", 1, 0);
    h_register_ok(&w);
    cr_assert_null(h_recv_beating(&w, CAIRN_MSG_ASSIGN_TASK, 300, 100));
    cr_assert_eq(kill(s.pid, SIGSTOP), 0);
    cr_assert_null(h_recv_beating(&w, CAIRN_MSG_ASSIGN_TASK, 1200, 100));
    cr_assert_eq(kill(s.pid, SIGCONT), 0);
    cr_assert_null(h_recv_beating(&w, CAIRN_MSG_ASSIGN_TASK, 1000, 100));
    expect_node(&s, "steady", CAIRN__NODE_STATE__NODE_STATE_UP, false, "");
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "grep -q 'could not run for' '%s/scheduler.log'", s.dir);
    cr_expect_eq(system(cmd), 0, "the stall is logged");
    snprintf(cmd, sizeof(cmd), "grep -q 'node steady silent' '%s/scheduler.log'", s.dir);
    cr_expect_neq(system(cmd), 0, "the node was condemned");
    h_worker_close(&w);
    h_sched_fini(&s);
}

/* A worker's connection that went silent without its close reaching the
 * scheduler (nng's TLS can lose a close that follows a send) does not
 * keep the node's name from its own worker: after three heartbeat
 * intervals of silence a new connection of the same identity takes it
 * over. A live duplicate, heartbeating, keeps being refused, so two
 * workers of one name never take turns. */
Test(nodes, a_silent_connection_is_replaced_by_the_same_worker)
{
    static const char *const quick[] = {"--heartbeat-interval", "100ms", "--heartbeat-timeout",
                                        "60s", NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, quick);
    h_worker_t a, b;
    h_worker_open(&a, s.workers, "twin", 1, 0);
    h_register_ok(&a);
    h_worker_open(&b, s.workers, "twin", 1, 0);
    for (int i = 0; i < 5; i++) { /* a is alive: b is refused */
        cr_assert_null(h_recv_beating(&a, CAIRN_MSG_ASSIGN_TASK, 150, 50));
        Cairn__RegisterReply *rr = h_register(&b, NULL, 0);
        cr_assert_not_null(rr);
        cr_assert(!rr->accepted, "a live duplicate took the name");
        cr_expect(strstr(rr->error, "already connected") != NULL, "%s", rr->error);
        cairn_msg_free(&rr->base);
    }
    /* a goes silent with its connection open: b takes the name over */
    bool accepted = false;
    for (int64_t deadline = cairn_mono_ms() + 10000; !accepted && cairn_mono_ms() < deadline;) {
        Cairn__RegisterReply *rr = h_register(&b, NULL, 0);
        accepted = rr && rr->accepted;
        if (rr)
            cairn_msg_free(&rr->base);
        if (!accepted)
            nng_msleep(50); /* a worker's retry delay, not synchronisation */
    }
    cr_assert(accepted, "the silent connection kept the name");
    char cmd[600];
    snprintf(cmd, sizeof(cmd),
             "grep -q 'node twin: its connection (pipe [0-9]*) has been silent' '%s/scheduler.log'",
             s.dir);
    cr_expect_eq(system(cmd), 0, "the takeover is logged");
    expect_node(&s, "twin", CAIRN__NODE_STATE__NODE_STATE_UP, false, "");
    h_worker_close(&a);
    h_worker_close(&b);
    h_sched_fini(&s);
}

/* The node timeline from since_ms on (UsageRequest.timeline_only) as lines
 * "node event STATE[ detail]" (malloc'd); times[i] gets row i's time. */
static char *timeline(h_sched_t *s, int64_t since_ms, int64_t *times, size_t max, size_t *n)
{
    Cairn__UsageRequest req = CAIRN__USAGE_REQUEST__INIT;
    req.since_ms = since_ms;
    req.timeline_only = true;
    cairn_error_t err = {{0}};
    Cairn__UsageReply *r =
        (Cairn__UsageReply *)h_call(s, CAIRN_MSG_USAGE, &req.base, CAIRN_MSG_USAGE_REPLY, &err);
    cr_assert_not_null(r, "usage: %s", err.text);
    cr_expect_eq(r->n_gpus + r->n_nodes + r->n_census + r->n_tasks, 0, "no samples asked for");
    char *out = calloc(1, 8192);
    size_t len = 0;
    for (size_t i = 0; i < r->n_node_events; i++) {
        const Cairn__NodeEvent *e = r->node_events[i];
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(&cairn__node_state__descriptor, (int)e->state);
        len += (size_t)snprintf(out + len, 8192 - len, "%s %s %s%s%s\n", e->node, e->event,
                                v ? v->name + strlen("NODE_STATE_") : "?", e->detail[0] ? " " : "",
                                e->detail);
        if (i < max)
            times[i] = e->time_ms;
    }
    *n = r->n_node_events;
    cairn_msg_free(&r->base);
    return out;
}

/* Each change of a node's presence is a row at the time of its event:
 * joined, drained (with the reason), undrained, lost (heartbeats),
 * back, returning (a restart: `cairn nodes` says returning until the node
 * registers again) and back. A window gets each node's newest row before
 * it, then its own. */
Test(nodes, the_timeline_records_each_change_at_its_events_time)
{
    static const char *const quick[] = {"--heartbeat-interval",
                                        "100ms",
                                        "--heartbeat-timeout",
                                        "2s",
                                        "--restart-grace",
                                        "60s",
                                        NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, quick);
    int64_t t0 = cairn_wall_ms();
    h_worker_t w;
    h_worker_open(&w, s.workers, "tl", 1, 0);
    h_register_ok(&w);
    drain(&s, "tl", true, "maint");
    drain(&s, "tl", false, NULL);
    /* the worker goes: lost by its silence */
    h_worker_close(&w);
    h_wait_log(&s, "node tl silent for", 1);
    expect_node(&s, "tl", CAIRN__NODE_STATE__NODE_STATE_DOWN, false, "");
    h_worker_open(&w, s.workers, "tl", 1, 0);
    h_register_ok(&w);
    /* a restart: returning until it registers again */
    h_sched_stop(&s, SIGKILL);
    h_sched_start(&s, quick);
    expect_node(&s, "tl", CAIRN__NODE_STATE__NODE_STATE_RETURNING, false, "");
    h_register_ok(&w);
    expect_node(&s, "tl", CAIRN__NODE_STATE__NODE_STATE_UP, false, "");
    int64_t t1 = cairn_wall_ms();
    int64_t at[16];
    size_t n = 0;
    char *got = timeline(&s, 0, at, 16, &n);
    cr_expect_str_eq(got, "tl joined UP\n"
                          "tl drained DRAINING maint\n"
                          "tl undrained UP\n"
                          "tl lost DOWN\n"
                          "tl back UP\n"
                          "tl returning RETURNING\n"
                          "tl back UP\n");
    free(got);
    cr_assert_eq(n, 7);
    for (size_t i = 0; i < n; i++) {
        cr_expect(at[i] >= t0 && at[i] <= t1, "row %zu at %lld, not in [%lld, %lld]", i,
                  (long long)at[i], (long long)t0, (long long)t1);
        cr_expect(i == 0 || at[i] >= at[i - 1], "row %zu before the one above it", i);
    }
    /* from just after the first back: that row (its state then), then the
     * rest */
    int64_t at2[4];
    got = timeline(&s, at[4] + 1, at2, 4, &n);
    cr_expect_str_eq(got, "tl back UP\ntl returning RETURNING\ntl back UP\n");
    cr_expect_eq(at2[0], at[4]);
    free(got);
    h_sched_stop(&s, SIGTERM);
    h_verify_journal(&s);
    h_worker_close(&w);
    h_sched_fini(&s);
}

static int remove_node(h_sched_t *s, const char *name, uint64_t *id, cairn_error_t *err)
{
    Cairn__NodeRemoveRequest req = CAIRN__NODE_REMOVE_REQUEST__INIT;
    req.node = (char *)name;
    Cairn__NodeRemoveReply *r = NULL;
    int rc = cairn_client_call(s->client, CAIRN_MSG_NODE_RM, &req.base, CAIRN_MSG_NODE_RM_REPLY,
                               (ProtobufCMessage **)&r, err);
    if (r)
        *id = r->node_id;
    cairn_msg_free(r ? &r->base : NULL);
    return rc;
}

/* The nodes listed, "name:STATE ..." (removed ones too when asked). */
static void expect_listed(h_sched_t *s, bool removed, const char *want)
{
    Cairn__NodesRequest req = CAIRN__NODES_REQUEST__INIT;
    req.removed = removed;
    cairn_error_t err = {{0}};
    Cairn__NodesReply *r =
        (Cairn__NodesReply *)h_call(s, CAIRN_MSG_NODES, &req.base, CAIRN_MSG_NODES_REPLY, &err);
    cr_assert_not_null(r, "nodes: %s", err.text);
    char got[512] = "";
    for (size_t i = 0; i < r->n_nodes; i++) {
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
            &cairn__node_state__descriptor, (int)r->nodes[i]->state);
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s:%s", i ? " " : "",
                 r->nodes[i]->name, v ? v->name + strlen("NODE_STATE_") : "?");
    }
    cr_expect_str_eq(got, want, "nodes listed (removed: %d)", removed);
    cairn_msg_free(&r->base);
}

/* Audit entries of action on target; *who and *detail get the last one's
 * user and detail. */
static int audited(h_sched_t *s, const char *action, const char *target, char *who, char *detail)
{
    Cairn__AuditRequest req = CAIRN__AUDIT_REQUEST__INIT;
    cairn_error_t err = {{0}};
    Cairn__AuditReply *r =
        (Cairn__AuditReply *)h_call(s, CAIRN_MSG_AUDIT, &req.base, CAIRN_MSG_AUDIT_REPLY, &err);
    cr_assert_not_null(r, "audit: %s", err.text);
    int k = 0;
    for (size_t i = 0; i < r->n_entries; i++)
        if (!strcmp(r->entries[i]->action, action) && !strcmp(r->entries[i]->target, target)) {
            k++;
            snprintf(who, 64, "%s", r->entries[i]->user);
            snprintf(detail, 256, "%s", r->entries[i]->detail);
        }
    cairn_msg_free(&r->base);
    return k;
}

/* cairn node remove: refused while an attempt runs there, and while its
 * worker is connected, each saying what to do; then accepted, audited and
 * journaled: the node is listed only when removed ones are asked for,
 * stays removed across a restart (not returning), and a worker that
 * registers under its name later joins as a new node with the hardware
 * it has then. The journal replays as the run placed. */
Test(nodes, remove_refused_with_work_accepted_without_audited_and_replayed)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, slow_grace);
    h_worker_t g, k;
    h_worker_open(&g, s.workers, "gone", 1, 0);
    h_register_ok(&g);
    const char *tasks[] = {"t"};
    uint64_t job = h_submit(&s, "last", tasks, 1, 1, 0, NULL);
    Cairn__AssignTask *a = (Cairn__AssignTask *)h_recv(&g, CAIRN_MSG_ASSIGN_TASK, 10000);
    cr_assert_not_null(a);
    uint64_t attempt = a->attempt_id;
    cairn_msg_free(&a->base);
    cairn_error_t err = {{0}};
    uint64_t id = 0;
    cr_expect_eq(remove_node(&s, "gone", &id, &err), -EINVAL, "%s", err.text);
    cr_expect(strstr(err.text, "node gone has 1 attempt running and 0 queued: drain it (cairn "
                               "drain gone) and wait for them to end, or cancel them; then "
                               "remove it"),
              "%s", err.text);
    h_event(&g, attempt, CAIRN__TASK_EVENT__KIND__STARTED, 0, 0);
    h_event(&g, attempt, CAIRN__TASK_EVENT__KIND__EXITED, 0, 0);
    Cairn__JobStatusReply *st = h_status(&s, job);
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED);
    cairn_msg_free(&st->base);
    cr_expect_eq(remove_node(&s, "gone", &id, &err), -EINVAL, "%s", err.text);
    cr_expect(strstr(err.text, "node gone is connected: stop its worker first"), "%s", err.text);
    expect_node(&s, "gone", CAIRN__NODE_STATE__NODE_STATE_UP, false, "");
    /* its worker stops; another node stays */
    h_worker_close(&g);
    h_wait_log(&s, "node gone disconnected", 1);
    h_worker_open(&k, s.workers, "kept", 1, 0);
    h_register_ok(&k);
    cr_assert_eq(remove_node(&s, "gone", &id, &err), 0, "%s", err.text);
    cr_expect_eq(id, 1, "its id");
    cr_expect_eq(remove_node(&s, "gone", &id, &err), -ENOENT, "%s", err.text);
    cr_expect(strstr(err.text, "no node 'gone': it was removed"), "%s", err.text);
    cr_expect_eq(remove_node(&s, "nowhere", &id, &err), -ENOENT, "%s", err.text);
    expect_listed(&s, false, "kept:UP");
    expect_listed(&s, true, "gone:REMOVED kept:UP");
    /* audited: who removed it, and what it was then */
    char who[64] = "", detail[256] = "";
    cr_expect_eq(audited(&s, "node_remove", "node gone", who, detail), 1);
    struct passwd *pw = getpwuid(geteuid());
    cr_assert_not_null(pw);
    cr_expect_str_eq(who, pw->pw_name, "the administrator who removed it");
    cr_expect_str_eq(detail, "was=up");
    size_t n = 0;
    int64_t at[16];
    char *tl = timeline(&s, 0, at, 16, &n);
    cr_expect_str_eq(tl, "gone joined UP\nkept joined UP\ngone removed REMOVED\n");
    free(tl);
    /* a restart: it stays removed (never returning) */
    h_sched_stop(&s, SIGTERM);
    h_sched_start(&s, slow_grace);
    expect_listed(&s, true, "gone:REMOVED kept:RETURNING");
    h_register_ok(&k);
    /* a worker registers as gone again, bigger: a new node */
    h_worker_open(&g, s.workers, "gone", 4, 0);
    h_register_ok(&g);
    Cairn__NodesReply *keep;
    Cairn__NodeInfo *ni = h_node_info(&s, "gone", &keep);
    cr_expect_eq(ni->state, CAIRN__NODE_STATE__NODE_STATE_UP);
    cr_expect_eq(ni->cores_total, 4);
    cr_expect_eq(ni->node_id, 1, "the same id: its tombstone's");
    cairn_msg_free(&keep->base);
    cr_expect_eq(audited(&s, "node_join", "node gone", who, detail), 2);
    tl = timeline(&s, 0, at, 16, &n);
    cr_expect_str_eq(tl, "gone joined UP\nkept joined UP\ngone removed REMOVED\n"
                         "kept returning RETURNING\nkept back UP\ngone joined UP\n");
    free(tl);
    uint64_t big = h_submit(&s, "big", tasks, 1, 4, 0, NULL);
    a = (Cairn__AssignTask *)h_recv(&g, CAIRN_MSG_ASSIGN_TASK, 10000);
    cr_assert_not_null(a, "its new cores take work");
    cr_expect_eq(a->job_id, big);
    cairn_msg_free(&a->base);
    h_sched_stop(&s, SIGTERM);
    h_verify_journal(&s);
    h_worker_close(&g);
    h_worker_close(&k);
    h_sched_fini(&s);
}

/* A state from before the timeline: at the first start that keeps one,
 * each node the core knows gets a "known" row with its state then (a
 * drain and its reason included), before it is marked returning; what
 * came before is not known. Once only. */
Test(nodes, a_first_start_with_a_timeline_backfills_the_nodes_it_knows)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, slow_grace);
    h_worker_t w;
    h_worker_open(&w, s.workers, "old", 1, 0);
    h_register_ok(&w);
    drain(&s, "old", true, "kept");
    h_sched_stop(&s, SIGTERM);
    /* as a database written before the timeline existed */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "python3 -c \"import sqlite3; c = sqlite3.connect('%s/journal.db'); "
             "c.execute('DROP TABLE node_timeline'); "
             "c.execute(\\\"DELETE FROM meta WHERE key = 'timeline'\\\"); c.commit()\"",
             s.dir);
    if (s.pg.url[0]) { /* the state in PostgreSQL (CAIRN_TEST_STORE=pg) */
        char out[64];
        cr_assert_eq(h_pg_psql(&s.pg,
                               "DROP TABLE node_timeline; DELETE FROM meta WHERE key = 'timeline'",
                               out, sizeof(out)),
                     0, "%s", out);
    } else {
        cr_assert_eq(system(cmd), 0, "%s", cmd);
    }
    int64_t t0 = cairn_wall_ms();
    h_sched_start(&s, slow_grace);
    expect_node(&s, "old", CAIRN__NODE_STATE__NODE_STATE_RETURNING, true, "kept");
    int64_t at[8];
    size_t n = 0;
    char *tl = timeline(&s, 0, at, 8, &n);
    cr_expect_str_eq(tl, "old known DRAINING kept\nold returning RETURNING kept\n");
    cr_expect(n == 2 && at[0] >= t0 && at[1] >= at[0]);
    free(tl);
    /* the next start backfills nothing */
    h_sched_stop(&s, SIGKILL);
    h_sched_start(&s, slow_grace);
    tl = timeline(&s, 0, at, 8, &n);
    cr_expect_str_eq(tl, "old known DRAINING kept\nold returning RETURNING kept\n",
                     "returning already: no new row");
    free(tl);
    h_sched_stop(&s, SIGTERM);
    h_worker_close(&w);
    h_sched_fini(&s);
}

/* The heartbeat interval told to workers grows with the nodes connected,
 * so that all of them together stay within --heartbeat-rate heartbeats a
 * second (the idle scheduler's cost is per message), and shrinks again
 * when they leave; each node's silence limit grows with its interval. */
static uint32_t told_every(h_worker_t *w)
{
    Cairn__RegisterReply *rr = h_register(w, NULL, 0);
    cr_assert(rr && rr->accepted, "%s: %s", w->name, rr ? rr->error : "no reply");
    uint32_t every = rr->heartbeat_interval_ms;
    cairn_msg_free(&rr->base);
    return every;
}

static uint32_t beat_reply_every(h_worker_t *w)
{
    Cairn__HeartbeatReply *hr =
        (Cairn__HeartbeatReply *)h_recv_beating(w, CAIRN_MSG_HEARTBEAT_REPLY, 5000, 100);
    cr_assert_not_null(hr, "%s: no heartbeat reply asking for another interval", w->name);
    uint32_t every = hr->heartbeat_interval_ms;
    cairn_msg_free(&hr->base);
    return every;
}

Test(nodes, the_heartbeat_interval_grows_with_the_nodes)
{
    static const char *const rate[] = {"--heartbeat-interval",
                                       "100ms",
                                       "--heartbeat-timeout",
                                       "500ms",
                                       "--heartbeat-rate",
                                       "10",
                                       NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, rate);
    h_worker_t a, b, c;
    h_worker_open(&a, s.workers, "hb-a", 1, 0);
    cr_expect_eq(told_every(&a), 100, "one node: 10 heartbeats a second at 100 ms");
    h_worker_open(&b, s.workers, "hb-b", 1, 0);
    cr_expect_eq(told_every(&b), 200);
    h_worker_open(&c, s.workers, "hb-c", 1, 0);
    cr_expect_eq(told_every(&c), 300, "three nodes: 300 ms keeps them at 10 a second");
    cr_expect_eq(beat_reply_every(&a), 300, "a node told 100 ms is asked for 300 ms");
    /* told 300 ms, a may be silent 1.5 s (500 ms x 3): 900 ms is not down */
    int64_t quiet_until = cairn_mono_ms() + 900;
    while (cairn_mono_ms() < quiet_until) {
        ProtobufCMessage *m = h_recv_beating(&b, CAIRN_MSG_ASSIGN_TASK, 150, 150);
        cr_assert_null(m);
        m = h_recv_beating(&c, CAIRN_MSG_ASSIGN_TASK, 150, 150);
        cr_assert_null(m);
    }
    expect_node(&s, "hb-a", CAIRN__NODE_STATE__NODE_STATE_UP, false, "");
    /* the others leave: half the interval would do, so it shrinks */
    h_worker_close(&b);
    h_worker_close(&c);
    uint32_t every = 0;
    for (int64_t deadline = cairn_mono_ms() + 5000; every != 100 && cairn_mono_ms() < deadline;)
        every = beat_reply_every(&a);
    cr_expect_eq(every, 100, "alone again, a is asked for 100 ms");
    h_worker_close(&a);
    h_sched_fini(&s);
}
