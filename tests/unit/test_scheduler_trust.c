/* A real cairn-scheduler process against hostile peers on its worker
 * endpoint: a log answer counts only from the node that was asked, for the
 * attempt that was asked; a node's name cannot be taken by another
 * identity while the node is not down; connections that never register
 * are bounded per address and closed after --register-timeout. */
#include <pthread.h>
#include <sys/stat.h>

#include "sched_harness.h"

/* --- a client waiting for a log on its own thread -------------------------- */

typedef struct logs_call {
    h_sched_t *s;
    uint64_t job;
    Cairn__LogsReply *rep;
    cairn_error_t err;
} logs_call_t;

static void *logs_thread(void *arg)
{
    logs_call_t *c = arg;
    Cairn__LogsRequest req = CAIRN__LOGS_REQUEST__INIT;
    req.job_id = c->job;
    req.task = "t";
    c->rep =
        (Cairn__LogsReply *)h_call(c->s, CAIRN_MSG_LOGS, &req.base, CAIRN_MSG_LOGS_REPLY, &c->err);
    return NULL;
}

static void send_chunk(h_worker_t *w, uint64_t req, uint64_t attempt, const char *data)
{
    Cairn__LogChunk c = CAIRN__LOG_CHUNK__INIT;
    c.request_id = req;
    c.attempt_id = attempt;
    c.data = (ProtobufCBinaryData){.len = strlen(data), .data = (uint8_t *)data};
    c.size = strlen(data);
    c.eof = true;
    h_send(w, CAIRN_MSG_LOG_CHUNK, &c.base);
}




Test(trust, log_answers_only_from_the_node_asked)
{
    static const char *const args[] = {"--heartbeat-timeout", "60s", NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, args);
    h_worker_t owner, other, stranger;
    h_worker_open(&owner, s.workers, "owner", 1, 0);
    h_register_ok(&owner);
    const char *tasks[] = {"t"};
    uint64_t job = h_submit(&s, "logs", tasks, 1, 1, 0, NULL);
    Cairn__AssignTask *a = (Cairn__AssignTask *)h_recv(&owner, CAIRN_MSG_ASSIGN_TASK, 10000);
    cr_assert_not_null(a);
    uint64_t id = a->attempt_id;
    cairn_msg_free(&a->base);
    h_event(&owner, id, CAIRN__TASK_EVENT__KIND__STARTED, 0, 0);
    h_worker_open(&other, s.workers, "other", 1, 0);
    h_register_ok(&other);
    h_worker_open(&stranger, s.workers, "stranger", 1, 0); /* never registers */

    logs_call_t call = {.s = &s, .job = job};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, logs_thread, &call), 0);
    Cairn__ReadLog *rl = (Cairn__ReadLog *)h_recv(&owner, CAIRN_MSG_READ_LOG, 10000);
    cr_assert_not_null(rl, "the owner was not asked for the log");
    uint64_t req = rl->request_id;
    cairn_msg_free(&rl->base);
    /* the request id leaked (or was guessed): answers from anyone else, or
     * for another attempt, are refused */
    send_chunk(&other, req, id, "forged by another node");
    send_chunk(&stranger, req, id, "forged by a stranger");
    send_chunk(&owner, req, id + 1000, "the wrong attempt");
    h_wait_log(&s, "log chunk for request", 3);
    send_chunk(&owner, req, id, "the real log");
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_not_null(call.rep, "logs: %s", call.err.text);
    cr_expect_eq(call.rep->data.len, strlen("the real log"));
    cr_expect_eq(memcmp(call.rep->data.data, "the real log", call.rep->data.len), 0,
                 "the client got a forged log");
    cairn_msg_free(&call.rep->base);
    h_worker_close(&owner);
    h_worker_close(&other);
    h_worker_close(&stranger);
    h_sched_fini(&s);
}

/* Over tcp, a node's name belongs to its address while the node is not
 * down; another address gets it once the node is down. */
Test(trust, a_node_name_is_not_taken_over_while_the_node_is_away)
{
    char url[64], from2[80], arg[80];
    int port = h_free_port();
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
    snprintf(from2, sizeof(from2), "tcp://127.0.0.2;127.0.0.1:%d", port);
    snprintf(arg, sizeof(arg), "%s", url);
    const char *args[] = {"--workers",
                          arg,
                          "--heartbeat-interval",
                          "100ms",
                          "--heartbeat-timeout",
                          "60s",
                          "--restart-grace",
                          "60s",
                          NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, args);
    h_worker_t w, thief;
    h_worker_open(&w, url, "n1", 2, 0);
    h_register_ok(&w);
    h_worker_close(&w); /* away: not down for a minute */
    h_worker_open(&thief, from2, "n1", 2, 0);
    int64_t deadline = cairn_mono_ms() + 10000;
    Cairn__RegisterReply *rr;
    /* until the scheduler has seen the first connection go ("already
     * connected"), then refused for its identity */
    while ((rr = h_register(&thief, NULL, 0)) && !strstr(rr->error, "not down yet")) {
        cr_assert(!rr->accepted, "another address took the name of a node that is away");
        cr_assert_lt(cairn_mono_ms(), deadline, "refused only with: %s", rr->error);
        cairn_msg_free(&rr->base);
    }
    cr_assert_not_null(rr);
    cr_expect(strstr(rr->error, "address 127.0.0.1") && strstr(rr->error, "address 127.0.0.2"),
              "%s", rr->error);
    cairn_msg_free(&rr->base);
    /* and after a restart, while it is returning */
    h_sched_stop(&s, SIGKILL);
    h_sched_start(&s, args);
    h_worker_close(&thief);
    h_worker_open(&thief, from2, "n1", 2, 0);
    rr = h_register(&thief, NULL, 0);
    cr_assert_not_null(rr);
    cr_expect(!rr->accepted, "taken while returning");
    cr_expect(strstr(rr->error, "not down yet") != NULL, "%s", rr->error);
    cairn_msg_free(&rr->base);
    /* the node itself comes back from its own address */
    h_worker_open(&w, url, "n1", 2, 0);
    h_register_ok(&w);
    h_worker_close(&w);
    h_worker_close(&thief);
    h_sched_fini(&s);
}

/* Once the node is down, the name is free for another address. */
Test(trust, a_node_name_is_free_once_the_node_is_down)
{
    char url[64], from2[80], arg[80];
    int port = h_free_port();
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
    snprintf(from2, sizeof(from2), "tcp://127.0.0.2;127.0.0.1:%d", port);
    snprintf(arg, sizeof(arg), "%s", url);
    const char *args[] = {"--workers", arg, "--heartbeat-interval", "100ms", "--heartbeat-timeout",
                          "300ms",     NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, args);
    h_worker_t w, next;
    h_worker_open(&w, url, "n1", 2, 0);
    h_register_ok(&w);
    h_worker_close(&w);
    h_wait_log(&s, "node n1 silent for", 1);
    h_worker_open(&next, from2, "n1", 2, 0);
    int64_t deadline = cairn_mono_ms() + 10000;
    Cairn__RegisterReply *rr;
    while ((rr = h_register(&next, NULL, 0)) && !rr->accepted) {
        cr_assert_lt(cairn_mono_ms(), deadline, "refused: %s", rr->error);
        cairn_msg_free(&rr->base);
    }
    cr_assert_not_null(rr);
    cairn_msg_free(&rr->base);
    h_worker_close(&next);
    h_sched_fini(&s);
}

/* Connections that never register: at most 32 wait per address; a real
 * worker still gets in. */
Test(trust, unregistered_connections_are_bounded_per_address)
{
    char url[64], from2[80], arg[80];
    int port = h_free_port();
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
    snprintf(from2, sizeof(from2), "tcp://127.0.0.2;127.0.0.1:%d", port);
    snprintf(arg, sizeof(arg), "%s", url);
    const char *args[] = {"--workers", arg, "--register-timeout", "60s", NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, args);
    enum { N = 40 };
    nng_socket socks[N];
    for (int i = 0; i < N; i++) {
        cr_assert_eq(nng_pair1_open(&socks[i]), 0);
        nng_socket_set_ms(socks[i], NNG_OPT_RECONNMINT, 5000);
        nng_socket_set_ms(socks[i], NNG_OPT_RECONNMAXT, 5000);
        cr_assert_eq(nng_dial(socks[i], from2, NULL, NNG_FLAG_NONBLOCK), 0);
    }
    h_wait_log(&s, "address 127.0.0.2 closed: 32 connections wait to register from there", 1);
    h_worker_t w;
    h_worker_open(&w, url, "real", 2, 0);
    h_register_ok(&w);
    h_worker_close(&w);
    for (int i = 0; i < N; i++)
        nng_close(socks[i]);
    h_sched_fini(&s);
}

/* A connection that does not register is closed after --register-timeout
 * (and its join challenge with it). */
Test(trust, unregistered_connections_expire)
{
    char key[400];
    h_sched_t s;
    h_sched_init(&s);
    snprintf(key, sizeof(key), "%s/join.key", s.dir);
    FILE *f = fopen(key, "w");
    cr_assert_not_null(f);
    fputs("a join key that is long enough\n", f);
    fclose(f);
    chmod(key, 0600);
    const char *args[] = {"--register-timeout", "2s", "--join-key", key, NULL};
    h_sched_start(&s, args);
    h_worker_t w;
    h_worker_open(&w, s.workers, "idle", 1, 0);
    Cairn__RegisterReply *rr = h_register(&w, NULL, 0); /* challenged, never answers */
    cr_assert(rr && !rr->accepted && rr->challenge.len > 0);
    cairn_msg_free(&rr->base);
    h_wait_log(&s, "closed: not registered after 2000 ms", 1);
    h_worker_close(&w);
    h_sched_fini(&s);
}

/* A node name that could not be a path component, or holds control
 * characters, is refused; the log shows it escaped. */
Test(trust, bad_node_names_are_refused)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, NULL);
    const char *bad[] = {"../etc", "a/b", "..", "x\x1b[31mred", "a,b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        h_worker_t w;
        h_worker_open(&w, s.workers, bad[i], 1, 0);
        Cairn__RegisterReply *rr = h_register(&w, NULL, 0);
        cr_assert_not_null(rr);
        cr_expect(!rr->accepted, "node name '%s' accepted", bad[i]);
        cr_expect(strstr(rr->error, "node name") != NULL, "%s", rr->error);
        cairn_msg_free(&rr->base);
        h_worker_close(&w);
    }
    h_wait_log(&s, "x\\x1b[31mred", 1);
    cr_expect_eq(h_log_count(&s, "\x1b"), 0, "a control character reached the log");
    h_sched_fini(&s);
}
