/* A real cairn-scheduler decodes what a peer sends with a low limit
 * (CAIRN_MSG_PREAUTH_MAX, 1 MiB) until the peer is authenticated: a worker
 * until its registration is accepted, a client on tcp:// always (it is
 * anonymous); ipc:// clients, whom the kernel names, get the full limit. */
#include "sched_harness.h"

/* A string of n 'x'. */
static char *big_string(size_t n)
{
    char *s = malloc(n + 1);
    cr_assert_not_null(s);
    memset(s, 'x', n);
    s[n] = '\0';
    return s;
}


Test(preauth, worker_endpoint_until_registered)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, NULL);
    h_worker_t w;
    h_worker_open(&w, s.workers, "w1", 4, 0);
    char *big = big_string(1500 * 1000);
    Cairn__ResourceReport r = CAIRN__RESOURCE_REPORT__INIT;
    r.node_name = big;
    h_send(&w, CAIRN_MSG_RESOURCE_REPORT, &r.base);
    h_wait_log(&s, "(limit for a peer not authenticated yet)", 1);
    cr_expect_eq(h_log_count(&s, "refused a message on worker pipe"), 1);
    cr_expect_eq(h_log_count(&s, "resource_report message of 1500016 bytes exceeds the limit of "
                                 "1048576"),
                 1);

    Cairn__RegisterReply *rr = h_register(&w, NULL, 0);
    cr_assert(rr && rr->accepted, "registration refused");
    cairn_msg_free(&rr->base);
    /* registered: the same report passes; an event behind it on the same
     * pipe, acknowledged, shows it was read */
    h_send(&w, CAIRN_MSG_RESOURCE_REPORT, &r.base);
    h_event(&w, 999, CAIRN__TASK_EVENT__KIND__STARTED, 0, 0);
    cr_expect_eq(h_log_count(&s, "refused a message on worker pipe"), 1,
                 "a registered worker's message was refused");
    free(big);
    h_worker_close(&w);
    h_sched_fini(&s);
}

/* A NodesRequest of 1.5 MB: fifteen names of 100 KB. */
static int big_nodes_request(cairn_client_t *c, cairn_error_t *err)
{
    char *name = big_string(100 * 1000);
    char *names[15];
    for (int i = 0; i < 15; i++)
        names[i] = name;
    Cairn__NodesRequest req = CAIRN__NODES_REQUEST__INIT;
    req.names = names;
    req.n_names = 15;
    ProtobufCMessage *rep = NULL;
    int rc = cairn_client_call(c, CAIRN_MSG_NODES, &req.base, CAIRN_MSG_NODES_REPLY, &rep, err);
    cairn_msg_free(rep);
    free(name);
    return rc;
}

Test(preauth, anonymous_tcp_clients_keep_the_low_limit)
{
    char url[64];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", h_free_port());
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, (const char *const[]){"--clients", url, NULL});
    cairn_client_t *c = NULL;
    cr_assert_eq(cairn_client_create(url, 5000, &c, NULL), 0);
    cairn_error_t err = {{0}};
    int64_t deadline = cairn_mono_ms() + 10000;
    int rc;
    while ((rc = big_nodes_request(c, &err)) == -ETIMEDOUT && cairn_mono_ms() < deadline)
        ; /* the scheduler is still starting */
    cr_expect_lt(rc, 0, "an anonymous client's 1.5 MB request was taken");
    cr_expect(strstr(err.text, "exceeds the limit of 1048576") &&
                  strstr(err.text, "(limit for a peer not authenticated yet)"),
              "%s", err.text);
    /* small requests are answered as before */
    Cairn__NodesRequest small = CAIRN__NODES_REQUEST__INIT;
    ProtobufCMessage *rep = NULL;
    cr_expect_eq(
        cairn_client_call(c, CAIRN_MSG_NODES, &small.base, CAIRN_MSG_NODES_REPLY, &rep, &err), 0,
        "%s", err.text);
    cairn_msg_free(rep);
    cairn_client_destroy(c);
    h_sched_fini(&s);
}

Test(preauth, ipc_clients_get_the_full_limit)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, NULL);
    cairn_error_t err = {{0}};
    int64_t deadline = cairn_mono_ms() + 10000;
    int rc;
    while ((rc = big_nodes_request(s.client, &err)) == -ETIMEDOUT && cairn_mono_ms() < deadline)
        ;
    cr_expect_eq(rc, 0, "%s", err.text);
    h_sched_fini(&s);
}
