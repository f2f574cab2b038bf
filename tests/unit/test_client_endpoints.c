/* The client follows the leader among several schedulers (cluster/client.h):
 * a standby's NOT_LEADER answer sends the request to the leader it names;
 * an endpoint that cannot be reached is skipped; while none leads the
 * client waits and asks again within its timeout; a write that was sent
 * and got no answer is never sent elsewhere; errors name the endpoints
 * tried. The standby is a fake (fake_standby.h), the leader a real
 * cairn-scheduler. */
#include "fake_standby.h"
#include "sched_harness.h"

/* A read through a client of its own on list: 0 with the nodes reply
 * checked, or the client's error code. */
static int nodes_via(const char *list, int64_t timeout_ms, cairn_error_t *err)
{
    cairn_client_t *c = NULL;
    int rc = cairn_client_create(list, timeout_ms, &c, err);
    if (rc < 0)
        return rc;
    Cairn__NodesRequest req = CAIRN__NODES_REQUEST__INIT;
    ProtobufCMessage *rep = NULL;
    rc = cairn_client_call(c, CAIRN_MSG_NODES, &req.base, CAIRN_MSG_NODES_REPLY, &rep, err);
    cairn_msg_free(rep);
    cairn_client_destroy(c);
    return rc;
}

/* A scheduler that answers (h_call waits for it to come up). */
static void sched_up(h_sched_t *s)
{
    h_sched_init(s);
    h_sched_start(s, NULL);
    Cairn__NodesRequest req = CAIRN__NODES_REQUEST__INIT;
    cairn_error_t err = {{0}};
    ProtobufCMessage *rep = h_call(s, CAIRN_MSG_NODES, &req.base, CAIRN_MSG_NODES_REPLY, &err);
    cr_assert_not_null(rep, "the scheduler did not come up: %s", err.text);
    cairn_msg_free(rep);
}

Test(client_endpoints, follows_not_leader_to_the_leader)
{
    h_sched_t s;
    sched_up(&s);
    char standby[400];
    snprintf(standby, sizeof(standby), "ipc://%s/standby.sock", s.dir);
    fake_standby_t f = {0};
    fake_standby_start(&f, standby, false, s.clients, 0);
    cairn_error_t err = {{0}};
    cr_assert_eq(nodes_via(standby, 5000, &err), 0, "%s", err.text);
    cr_assert_geq(atomic_load(&f.answers), 1, "the standby was asked first");
    fake_standby_stop(&f);
    h_sched_fini(&s);
}

Test(client_endpoints, skips_an_endpoint_nothing_listens_on)
{
    h_sched_t s;
    sched_up(&s);
    char list[800];
    snprintf(list, sizeof(list), "ipc://%s/missing.sock, %s", s.dir, s.clients);
    cairn_error_t err = {{0}};
    cr_assert_eq(nodes_via(list, 5000, &err), 0, "%s", err.text);
    h_sched_fini(&s);
}

Test(client_endpoints, waits_while_none_leads)
{
    h_sched_t s;
    sched_up(&s);
    char standby[400];
    snprintf(standby, sizeof(standby), "ipc://%s/standby.sock", s.dir);
    fake_standby_t f = {0};
    fake_standby_start(&f, standby, false, s.clients, 3); /* a takeover: 3 answers name none */
    cairn_error_t err = {{0}};
    cr_assert_eq(nodes_via(standby, 8000, &err), 0, "%s", err.text);
    cr_assert_eq(atomic_load(&f.answers), 4, "asked again until the leader was named");
    fake_standby_stop(&f);
    h_sched_fini(&s);
}

Test(client_endpoints, no_leader_until_the_timeout_names_what_was_tried)
{
    char dir[] = "/tmp/cairn-endpoints-XXXXXX", standby[200], missing[200], list[450];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(standby, sizeof(standby), "ipc://%s/standby.sock", dir);
    snprintf(missing, sizeof(missing), "ipc://%s/missing.sock", dir);
    snprintf(list, sizeof(list), "%s,%s", missing, standby);
    fake_standby_t f = {0};
    fake_standby_start(&f, standby, false, "", 1000000); /* never names a leader */
    cairn_error_t err = {{0}};
    cr_assert_eq(nodes_via(list, 1500, &err), -ETIMEDOUT, "%s", err.text);
    cr_assert(strstr(err.text, missing) && strstr(err.text, "unreachable"), "%s", err.text);
    cr_assert(strstr(err.text, standby) && strstr(err.text, "none leads"), "%s", err.text);
    cr_assert_geq(atomic_load(&f.answers), 2, "asked again while none led");
    fake_standby_stop(&f);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* A submit sent to a scheduler that took it and never answered (it died
 * with it) may or may not have been committed: it is not sent to the next
 * endpoint, which would run the job twice. */
Test(client_endpoints, a_write_of_unknown_fate_is_not_sent_elsewhere)
{
    h_sched_t s;
    sched_up(&s);
    char silent[400], list[800];
    snprintf(silent, sizeof(silent), "ipc://%s/silent.sock", s.dir);
    snprintf(list, sizeof(list), "%s,%s", silent, s.clients);
    fake_standby_t f = {.no_answer = true};
    fake_standby_start(&f, silent, false, "", 0);
    cairn_client_t *c = NULL;
    cairn_error_t err = {{0}};
    cr_assert_eq(cairn_client_create(list, 1000, &c, &err), 0, "%s", err.text);
    static char *argv[] = {"/bin/true"};
    Cairn__TaskSpec t = CAIRN__TASK_SPEC__INIT, *tp = &t;
    t.name = "t";
    t.n_argv = 1;
    t.argv = argv;
    Cairn__JobSpec js = CAIRN__JOB_SPEC__INIT;
    js.name = "once";
    js.n_tasks = 1;
    js.tasks = &tp;
    Cairn__SubmitRequest req = CAIRN__SUBMIT_REQUEST__INIT;
    req.job = &js;
    ProtobufCMessage *rep = NULL;
    int rc = cairn_client_call(c, CAIRN_MSG_SUBMIT, &req.base, CAIRN_MSG_SUBMIT_REPLY, &rep, &err);
    cr_assert_eq(rc, -ETIMEDOUT, "rc %d: %s", rc, err.text);
    cr_assert_eq(atomic_load(&f.answers), 1, "the submit reached the silent scheduler once");
    cairn_client_destroy(c);
    /* the leader never saw it */
    Cairn__ListJobsRequest jr = CAIRN__LIST_JOBS_REQUEST__INIT;
    Cairn__ListJobsReply *jobs = (Cairn__ListJobsReply *)h_call(&s, CAIRN_MSG_LIST_JOBS, &jr.base,
                                                                CAIRN_MSG_LIST_JOBS_REPLY, &err);
    cr_assert_not_null(jobs, "%s", err.text);
    cr_assert_eq(jobs->n_jobs, 0, "the submit was sent to the next scheduler too");
    cairn_msg_free(&jobs->base);
    fake_standby_stop(&f);
    h_sched_fini(&s);
}
