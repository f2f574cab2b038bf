/* Inbound limits by authentication (cairn_net_set_auth): a peer gets the
 * lower limit until it is authenticated, explicitly (a registration) or by
 * its transport (ipc://, verified TLS); a pipe that closes forgets it; and
 * with flow control the reply that authenticates a peer reaches it alone,
 * within the peer's own limit, however much follows it. */
#include <arpa/inet.h>
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "leak_check.h"
#include "loop_until.h"

/* A message queued to a pipe that closes is freed later by nng's reaper
 * thread, after the test's leak check: nng's to free. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:nng_msg_alloc\n";
}
#include "proto/net.h"

#define PREAUTH (64 * 1024)

typedef struct ctx {
    cairn_net_t *net;
    int got, bad, added, removed, replies;
    int last_bad;
    char why[512];
    nng_pipe pipe;          /* the last pipe added */
    bool auth_on_heartbeat; /* authenticate a pipe that sends a heartbeat */
} ctx_t;

static void on_recv(cairn_net_t *n, const cairn_peer_t *from, cairn_msg_type_t type,
                    ProtobufCMessage *msg, void *arg)
{
    ctx_t *c = arg;
    (void)msg;
    if (type == CAIRN_MSG_HEARTBEAT && c->auth_on_heartbeat)
        cr_assert_eq(cairn_net_pipe_authenticate(n, from->pipe, NULL), 0);
    if (type == CAIRN_MSG_HEARTBEAT_REPLY) {
        /* the worker's side: the reply that accepts it */
        cr_assert_eq(cairn_net_pipe_authenticate(n, from->pipe, NULL), 0);
        c->replies++;
    }
    c->got++;
}

static void on_bad(cairn_net_t *n, const cairn_peer_t *from, int code, const char *why, void *arg)
{
    ctx_t *c = arg;
    (void)n;
    (void)from;
    c->bad++;
    c->last_bad = code;
    snprintf(c->why, sizeof(c->why), "%s", why);
}

static void on_pipe(cairn_net_t *n, nng_pipe p, bool added, void *arg)
{
    ctx_t *c = arg;
    (void)n;
    if (added) {
        c->pipe = p;
        c->added++;
    } else {
        c->removed++;
    }
}

/* A Register of about `size` bytes (one label that long). */
static void encode_register(size_t size, uint8_t **buf, size_t *len)
{
    char *value = malloc(size + 1);
    cr_assert_not_null(value);
    memset(value, 'v', size);
    value[size] = '\0';
    Cairn__KeyValue kv = CAIRN__KEY_VALUE__INIT, *kvs[1] = {&kv};
    kv.key = "big";
    kv.value = value;
    Cairn__Register r = CAIRN__REGISTER__INIT;
    r.node_name = "n1";
    r.n_labels = 1;
    r.labels = kvs;
    cr_assert_eq(cairn_msg_encode(CAIRN_MSG_REGISTER, &r.base, buf, len, NULL), 0);
    free(value);
}

static void send_register(nng_socket s, size_t size)
{
    uint8_t *buf;
    size_t len;
    encode_register(size, &buf, &len);
    cr_assert_eq(nng_send(s, buf, len, 0), 0);
    free(buf);
}

static void send_heartbeat(nng_socket s)
{
    Cairn__Heartbeat hb = CAIRN__HEARTBEAT__INIT;
    hb.seq = 1;
    uint8_t *buf;
    size_t len;
    cr_assert_eq(cairn_msg_encode(CAIRN_MSG_HEARTBEAT, &hb.base, &buf, &len, NULL), 0);
    cr_assert_eq(nng_send(s, buf, len, 0), 0);
    free(buf);
}

static void url_for(char *buf, size_t n, const char *what)
{
    snprintf(buf, n, "ipc:///tmp/cairn-test-auth-%d-%s.sock", (int)getpid(), what);
}

static void close_all(uv_loop_t *loop, cairn_net_t *net, nng_socket srv)
{
    cairn_net_destroy(net);
    nng_close(srv);
    uv_run(loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(loop), 0, "a handle was left open");
}

/* The worker endpoint's case: a 100 KB message from a peer not registered
 * yet is refused, naming the limit; once the pipe is authenticated it
 * passes; a new connection starts over. */
LEAK_TEST(net_auth, explicit_limit_until_authenticated)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[128];
    url_for(url, sizeof(url), "explicit");
    nng_socket srv, cli;
    cr_assert_eq(nng_pair1_open_poly(&srv), 0);
    cr_assert_eq(nng_listen(srv, url, NULL, 0), 0);
    ctx_t c = {.auth_on_heartbeat = true};
    cairn_net_callbacks_t cb = {.recv = on_recv, .bad = on_bad, .pipe = on_pipe, .arg = &c};
    cr_assert_eq(cairn_net_create(&loop, srv, 0, &cb, &c.net, NULL), 0);
    cairn_net_set_auth(c.net, CAIRN_NET_AUTH_EXPLICIT, PREAUTH);

    cr_assert_eq(nng_pair1_open(&cli), 0);
    cr_assert_eq(nng_dial(cli, url, NULL, 0), 0);
    run_until(&loop, &c.added, 1);
    cr_expect_eq(cairn_net_pipe_max(c.net, c.pipe), PREAUTH);

    send_register(cli, 100 * 1024);
    run_until(&loop, &c.bad, 1);
    cr_expect_eq(c.got, 0, "the oversized message was handed on");
    cr_expect_eq(c.last_bad, -EMSGSIZE);
    cr_expect(strstr(c.why, "exceeds the limit of 65536") &&
                  strstr(c.why, "(limit for a peer not authenticated yet)"),
              "%s", c.why);

    send_heartbeat(cli); /* authenticates the pipe (on_recv) */
    run_until(&loop, &c.got, 1);
    cr_expect_eq(cairn_net_pipe_max(c.net, c.pipe), CAIRN_MSG_MAX_DEFAULT);
    send_register(cli, 100 * 1024);
    run_until(&loop, &c.got, 2);
    cr_expect_eq(c.bad, 1);

    /* a new connection is a new peer */
    nng_pipe old = c.pipe;
    nng_close(cli);
    run_until(&loop, &c.removed, 1);
    cr_expect_eq(cairn_net_pipe_max(c.net, old), PREAUTH);
    cr_expect_eq(cairn_net_pipe_authenticate(c.net, old, NULL), -ENOTCONN);
    cr_assert_eq(nng_pair1_open(&cli), 0);
    cr_assert_eq(nng_dial(cli, url, NULL, 0), 0);
    run_until(&loop, &c.added, 2);
    send_register(cli, 100 * 1024);
    run_until(&loop, &c.bad, 2);
    cr_expect_eq(c.got, 2);
    nng_close(cli);
    close_all(&loop, c.net, srv);
}

/* The client endpoint's case: ipc:// peers are known to the kernel and get
 * the full limit at once; tcp:// peers are anonymous and keep the low one. */
LEAK_TEST(net_auth, transport_vouches_for_ipc_not_tcp)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char ipc[128], tcp[64];
    url_for(ipc, sizeof(ipc), "transport");
    nng_socket srv, a, b;
    nng_listener l;
    cr_assert_eq(nng_pair1_open_poly(&srv), 0);
    cr_assert_eq(nng_listen(srv, ipc, NULL, 0), 0);
    cr_assert_eq(nng_listen(srv, "tcp://127.0.0.1:0", &l, 0), 0);
    nng_sockaddr sa;
    cr_assert_eq(nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa), 0);
    snprintf(tcp, sizeof(tcp), "tcp://127.0.0.1:%d", ntohs(sa.s_in.sa_port));
    ctx_t c = {0};
    cairn_net_callbacks_t cb = {.recv = on_recv, .bad = on_bad, .pipe = on_pipe, .arg = &c};
    cr_assert_eq(cairn_net_create(&loop, srv, 0, &cb, &c.net, NULL), 0);
    cairn_net_set_auth(c.net, CAIRN_NET_AUTH_TRANSPORT, PREAUTH);

    cr_assert_eq(nng_pair1_open(&a), 0);
    cr_assert_eq(nng_dial(a, ipc, NULL, 0), 0);
    send_register(a, 100 * 1024);
    run_until(&loop, &c.got, 1);
    cr_expect_eq(c.bad, 0, "an ipc peer was refused: %s", c.why);

    cr_assert_eq(nng_pair1_open(&b), 0);
    cr_assert_eq(nng_dial(b, tcp, NULL, 0), 0);
    send_register(b, 100 * 1024);
    run_until(&loop, &c.bad, 1);
    cr_expect_eq(c.got, 1, "a tcp:// peer's oversized message was handed on");
    send_register(b, 1024); /* small ones pass */
    run_until(&loop, &c.got, 2);
    nng_close(a);
    nng_close(b);
    close_all(&loop, c.net, srv);
}

/* The scheduler accepts a worker and sends, in the same loop iteration,
 * the accepting reply and 20 messages of 10 KB. The worker's limit before
 * authentication is 64 KiB: the reply must come alone (the worker raises
 * its limit on it), the rest may then come in batches. */
LEAK_TEST(net_auth, accepting_reply_travels_alone)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[128];
    url_for(url, sizeof(url), "alone");
    nng_socket srv, cli;
    cr_assert_eq(nng_pair1_open_poly(&srv), 0);
    cr_assert_eq(nng_listen(srv, url, NULL, 0), 0);
    cr_assert_eq(nng_pair1_open(&cli), 0);
    ctx_t sc = {0}, rc = {0};
    cairn_net_callbacks_t scb = {.recv = on_recv, .bad = on_bad, .pipe = on_pipe, .arg = &sc};
    cairn_net_callbacks_t rcb = {.recv = on_recv, .bad = on_bad, .arg = &rc};
    cr_assert_eq(cairn_net_create(&loop, srv, 0, &scb, &sc.net, NULL), 0);
    cr_assert_eq(cairn_net_create(&loop, cli, 0, &rcb, &rc.net, NULL), 0);
    cairn_net_set_flow(sc.net, CAIRN_NET_FLOW_SENDER);
    cairn_net_set_flow(rc.net, CAIRN_NET_FLOW_RECEIVER);
    cairn_net_set_auth(sc.net, CAIRN_NET_AUTH_EXPLICIT, PREAUTH);
    cairn_net_set_auth(rc.net, CAIRN_NET_AUTH_EXPLICIT, PREAUTH);
    cr_assert_eq(nng_dial(cli, url, NULL, 0), 0);
    run_until(&loop, &sc.added, 1);

    cairn_peer_t to = cairn_peer_pipe(sc.pipe);
    cr_assert_eq(cairn_net_pipe_authenticate(sc.net, sc.pipe, NULL), 0);
    Cairn__HeartbeatReply ok = CAIRN__HEARTBEAT_REPLY__INIT;
    cr_assert_eq(cairn_net_send(sc.net, &to, CAIRN_MSG_HEARTBEAT_REPLY, &ok.base, NULL), 0);
    uint8_t *buf;
    size_t len;
    encode_register(10 * 1024, &buf, &len);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(cairn_net_send_raw(sc.net, &to, buf, len, NULL), 0);
    free(buf);
    run_until(&loop, &rc.got, 21);
    cr_expect_eq(rc.bad, 0, "the worker refused: %s", rc.why);
    cr_expect_eq(rc.replies, 1);
    cairn_net_destroy(rc.net);
    cairn_net_destroy(sc.net);
    nng_close(cli);
    nng_close(srv);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0, "a handle was left open");
}
