/* The nng <-> libuv bridge: messages and pipe events arrive on the loop,
 * replies reach the right peer for pair1 (by pipe) and raw rep0 (by
 * backtrace), garbage is reported and dropped. Every handle is closed and
 * uv_loop_close() must succeed. */
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "leak_check.h"
#include "loop_until.h"

/* A message queued to a pipe that closes is freed later by nng's reaper
 * thread, which may run after the test's leak check (and nng_fini() would
 * break criterion, which uses nng itself). Such messages are nng's to free. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:nng_msg_alloc\n";
}
#include "proto/net.h"

typedef struct ctx {
    cairn_net_t *net;
    int pipes_added, pipes_removed, got, bad;
    uint64_t last_seq;
    cairn_peer_t last_from;
    bool reply;
} ctx_t;

static void on_recv(cairn_net_t *n, const cairn_peer_t *from, cairn_msg_type_t type,
                    ProtobufCMessage *msg, void *arg)
{
    ctx_t *c = arg;
    c->got++;
    c->last_from = *from;
    if (type == CAIRN_MSG_HEARTBEAT) {
        Cairn__Heartbeat *hb = (Cairn__Heartbeat *)msg;
        c->last_seq = hb->seq;
        if (c->reply) {
            Cairn__HeartbeatReply r = CAIRN__HEARTBEAT_REPLY__INIT;
            r.seq = hb->seq;
            cr_assert_eq(cairn_net_send(n, from, CAIRN_MSG_HEARTBEAT_REPLY, &r.base, NULL), 0);
        }
    }
}

static void on_bad(cairn_net_t *n, const cairn_peer_t *from, int code, const char *why, void *arg)
{
    ((ctx_t *)arg)->bad++;
}

static void on_pipe(cairn_net_t *n, nng_pipe p, bool added, void *arg)
{
    ctx_t *c = arg;
    if (added)
        c->pipes_added++;
    else
        c->pipes_removed++;
}

/* Receive on a plain socket while the loop keeps running (the bridge may
 * have queued the message), with a deadline. */
static int recv_running(uv_loop_t *loop, nng_socket s, void **buf, size_t *len)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, loop_tick_cb, 5, 5);
    uint64_t deadline = uv_now(loop) + 5000;
    int rv = NNG_EAGAIN;
    while (rv == NNG_EAGAIN && uv_now(loop) < deadline) {
        rv = nng_recv(s, buf, len, NNG_FLAG_ALLOC | NNG_FLAG_NONBLOCK);
        if (rv == NNG_EAGAIN)
            uv_run(loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return rv;
}

static void url_for(char *buf, size_t n, const char *what)
{
    snprintf(buf, n, "ipc:///tmp/cairn-test-%d-%s.sock", (int)getpid(), what);
}

static void send_heartbeat(nng_socket s, uint64_t seq)
{
    Cairn__Heartbeat hb = CAIRN__HEARTBEAT__INIT;
    hb.seq = seq;
    uint8_t *buf;
    size_t len;
    cr_assert_eq(cairn_msg_encode(CAIRN_MSG_HEARTBEAT, &hb.base, &buf, &len, NULL), 0);
    cr_assert_eq(nng_send(s, buf, len, 0), 0);
    free(buf);
}

LEAK_TEST(net, pair1_poly_routes_replies_by_pipe)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[128];
    url_for(url, sizeof(url), "pair");
    nng_socket srv, a, b;
    cr_assert_eq(nng_pair1_open_poly(&srv), 0);
    cr_assert_eq(nng_listen(srv, url, NULL, 0), 0);
    ctx_t c = {.reply = true};
    cairn_net_callbacks_t cb = {.recv = on_recv, .bad = on_bad, .pipe = on_pipe, .arg = &c};
    cr_assert_eq(cairn_net_create(&loop, srv, 0, &cb, &c.net, NULL), 0);
    cr_assert_eq(nng_pair1_open(&a), 0);
    cr_assert_eq(nng_pair1_open(&b), 0);
    nng_socket_set_ms(a, NNG_OPT_RECVTIMEO, 5000);
    nng_socket_set_ms(b, NNG_OPT_RECVTIMEO, 5000);
    cr_assert_eq(nng_dial(a, url, NULL, 0), 0);
    cr_assert_eq(nng_dial(b, url, NULL, 0), 0);
    run_until(&loop, &c.pipes_added, 2);
    /* b sends first; its reply must come back to b, not a */
    send_heartbeat(b, 7);
    run_until(&loop, &c.got, 1);
    cr_expect_eq(c.last_seq, 7);
    void *buf;
    size_t len;
    cr_assert_eq(recv_running(&loop, b, &buf, &len), 0);
    cairn_msg_type_t type;
    ProtobufCMessage *msg;
    cr_assert_eq(cairn_msg_decode(buf, len, 0, &type, &msg, NULL), 0);
    cr_expect_eq(type, CAIRN_MSG_HEARTBEAT_REPLY);
    cr_expect_eq(((Cairn__HeartbeatReply *)msg)->seq, 7);
    cairn_msg_free(msg);
    nng_free(buf, len);
    nng_socket_set_ms(a, NNG_OPT_RECVTIMEO, 50);
    cr_expect_eq(nng_recv(a, &buf, &len, NNG_FLAG_ALLOC), NNG_ETIMEDOUT, "a got b's reply");
    /* garbage is reported, the bridge keeps serving */
    cr_assert_eq(nng_send(a, "garbage!garbage!", 16, 0), 0);
    run_until(&loop, &c.bad, 1);
    c.reply = false; /* an unread reply would still be in flight at the leak check */
    send_heartbeat(a, 9);
    run_until(&loop, &c.got, 2);
    cr_expect_eq(c.last_seq, 9);
    nng_close(a);
    run_until(&loop, &c.pipes_removed, 1);
    cairn_net_destroy(c.net);
    nng_close(b);
    nng_close(srv);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0, "a handle was left open");
}

LEAK_TEST(net, raw_rep_answers_concurrent_requests)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[128];
    url_for(url, sizeof(url), "rep");
    nng_socket srv, r1, r2;
    cr_assert_eq(nng_rep0_open_raw(&srv), 0);
    cr_assert_eq(nng_listen(srv, url, NULL, 0), 0);
    ctx_t c = {.reply = false};
    cairn_net_callbacks_t cb = {.recv = on_recv, .bad = on_bad, .arg = &c};
    cr_assert_eq(cairn_net_create(&loop, srv, 0, &cb, &c.net, NULL), 0);
    cr_assert_eq(nng_req0_open(&r1), 0);
    cr_assert_eq(nng_req0_open(&r2), 0);
    nng_socket_set_ms(r1, NNG_OPT_RECVTIMEO, 5000);
    nng_socket_set_ms(r2, NNG_OPT_RECVTIMEO, 5000);
    cr_assert_eq(nng_dial(r1, url, NULL, 0), 0);
    cr_assert_eq(nng_dial(r2, url, NULL, 0), 0);
    send_heartbeat(r1, 1);
    run_until(&loop, &c.got, 1);
    cairn_peer_t first = c.last_from;
    send_heartbeat(r2, 2);
    run_until(&loop, &c.got, 2);
    cairn_peer_t second = c.last_from;
    cr_expect_gt(first.hdr_len, 0, "raw rep0 keeps the backtrace");
    /* answer in the opposite order: each reaches its own requester */
    Cairn__HeartbeatReply rep = CAIRN__HEARTBEAT_REPLY__INIT;
    rep.seq = 2;
    cr_assert_eq(cairn_net_send(c.net, &second, CAIRN_MSG_HEARTBEAT_REPLY, &rep.base, NULL), 0);
    rep.seq = 1;
    cr_assert_eq(cairn_net_send(c.net, &first, CAIRN_MSG_HEARTBEAT_REPLY, &rep.base, NULL), 0);
    nng_socket socks[2] = {r1, r2};
    for (int i = 0; i < 2; i++) {
        void *buf;
        size_t len;
        cr_assert_eq(recv_running(&loop, socks[i], &buf, &len), 0);
        cairn_msg_type_t type;
        ProtobufCMessage *msg;
        cr_assert_eq(cairn_msg_decode(buf, len, 0, &type, &msg, NULL), 0);
        cr_expect_eq(((Cairn__HeartbeatReply *)msg)->seq, (uint64_t)i + 1);
        cairn_msg_free(msg);
        nng_free(buf, len);
    }
    cairn_net_destroy(c.net);
    nng_close(r1);
    nng_close(r2);
    nng_close(srv);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0);
}

/* What nng cannot take yet waits in the bridge's queue (a ring) and goes
 * out in order: with a reader slower than the writer the queue fills,
 * drains from the front and grows while it wraps around. */
LEAK_TEST(net, send_queue_keeps_order_while_it_grows)
{
    enum { ROUNDS = 40, BURST = 13, READ = 7 };
    uv_loop_t loop;
    uv_loop_init(&loop);
    char url[128];
    url_for(url, sizeof(url), "outq");
    nng_socket srv, cli;
    cr_assert_eq(nng_pair1_open(&srv), 0);
    cr_assert_eq(nng_pair1_open(&cli), 0);
    nng_socket_set_int(srv, NNG_OPT_SENDBUF, 1);
    nng_socket_set_int(cli, NNG_OPT_RECVBUF, 1);
    cr_assert_eq(nng_listen(cli, url, NULL, 0), 0);
    ctx_t c = {0};
    cairn_net_callbacks_t cb = {.recv = on_recv, .pipe = on_pipe, .arg = &c};
    cr_assert_eq(cairn_net_create(&loop, srv, 0, &cb, &c.net, NULL), 0);
    cr_assert_eq(nng_dial(srv, url, NULL, 0), 0);
    run_until(&loop, &c.pipes_added, 1);
    uint64_t sent = 0, next = 1;
    for (int r = 0; r <= ROUNDS; r++) {
        for (int i = 0; i < BURST && r < ROUNDS; i++) {
            Cairn__Heartbeat hb = CAIRN__HEARTBEAT__INIT;
            hb.seq = ++sent;
            cr_assert_eq(cairn_net_send(c.net, NULL, CAIRN_MSG_HEARTBEAT, &hb.base, NULL), 0);
        }
        /* the last round reads everything left */
        for (int i = 0; (r < ROUNDS ? i < READ : next <= sent); i++) {
            void *buf;
            size_t len;
            cr_assert_eq(recv_running(&loop, cli, &buf, &len), 0, "message %llu lost",
                         (unsigned long long)next);
            cairn_msg_type_t type;
            ProtobufCMessage *msg;
            cr_assert_eq(cairn_msg_decode(buf, len, 0, &type, &msg, NULL), 0);
            cr_assert_eq(((Cairn__Heartbeat *)msg)->seq, next, "out of order");
            next++;
            cairn_msg_free(msg);
            nng_free(buf, len);
        }
    }
    cr_expect_eq(next, sent + 1);
    cairn_net_destroy(c.net);
    nng_close(cli);
    nng_close(srv);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0);
}

/* Flow control: pair1 poly drops a message for a pipe whose queue (two
 * messages) is full; with the sender and receiver sides on, a burst of
 * thousands arrives whole and in order, batched into far fewer nng
 * messages, and the receiver's Delivered confirmations never reach the
 * sender's callbacks. */
typedef struct flow_ctx {
    nng_pipe pipe;
    int added, got, other;
    uint64_t next;
    bool in_order;
} flow_ctx_t;

static void flow_recv(cairn_net_t *n, const cairn_peer_t *from, cairn_msg_type_t type,
                      ProtobufCMessage *msg, void *arg)
{
    flow_ctx_t *c = arg;
    if (type != CAIRN_MSG_HEARTBEAT) {
        c->other++;
        return;
    }
    c->in_order = c->in_order && ((Cairn__Heartbeat *)msg)->seq == c->next;
    c->next++;
    c->got++;
}

static void flow_pipe(cairn_net_t *n, nng_pipe p, bool added, void *arg)
{
    flow_ctx_t *c = arg;
    if (added) {
        c->pipe = p;
        c->added++;
    }
}

/* A pair1 poly listener (the sender side, sc) and a dialer (the receiver
 * side, with rcb), bridged with flow control and connected. */
typedef struct flow_pair {
    uv_loop_t loop;
    nng_socket srv, cli;
    cairn_net_t *sn, *rn;
    flow_ctx_t sc;
    cairn_peer_t to; /* the receiver, from the sender */
} flow_pair_t;

static void flow_pair_open(flow_pair_t *p, const char *name, const cairn_net_callbacks_t *rcb)
{
    uv_loop_init(&p->loop);
    char url[128];
    url_for(url, sizeof(url), name);
    cr_assert_eq(nng_pair1_open_poly(&p->srv), 0);
    cr_assert_eq(nng_listen(p->srv, url, NULL, 0), 0);
    cr_assert_eq(nng_pair1_open(&p->cli), 0);
    p->sc = (flow_ctx_t){.in_order = true, .next = 1};
    cairn_net_callbacks_t scb = {.recv = flow_recv, .pipe = flow_pipe, .arg = &p->sc};
    cr_assert_eq(cairn_net_create(&p->loop, p->srv, 0, &scb, &p->sn, NULL), 0);
    cr_assert_eq(cairn_net_create(&p->loop, p->cli, 0, rcb, &p->rn, NULL), 0);
    cairn_net_set_flow(p->sn, CAIRN_NET_FLOW_SENDER);
    cairn_net_set_flow(p->rn, CAIRN_NET_FLOW_RECEIVER);
    cr_assert_eq(nng_dial(p->cli, url, NULL, 0), 0);
    run_until(&p->loop, &p->sc.added, 1);
    p->to = cairn_peer_pipe(p->sc.pipe);
}

static void flow_pair_close(flow_pair_t *p)
{
    cairn_net_destroy(p->sn);
    cairn_net_destroy(p->rn);
    nng_close(p->cli);
    nng_close(p->srv);
    uv_run(&p->loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&p->loop), 0, "a handle was left open");
}

LEAK_TEST(net, flow_control_delivers_a_burst_whole_and_in_order)
{
    enum { N = 20000 };
    flow_pair_t p;
    flow_ctx_t rc = {.in_order = true, .next = 1};
    cairn_net_callbacks_t rcb = {.recv = flow_recv, .arg = &rc};
    flow_pair_open(&p, "flow", &rcb);
    for (uint64_t i = 1; i <= N; i++) {
        Cairn__Heartbeat hb = CAIRN__HEARTBEAT__INIT;
        hb.seq = i;
        cr_assert_eq(cairn_net_send(p.sn, &p.to, CAIRN_MSG_HEARTBEAT, &hb.base, NULL), 0);
        if (i % 5000 == 0)
            uv_run(&p.loop, UV_RUN_NOWAIT); /* some go out while more are queued */
    }
    run_until(&p.loop, &rc.got, N);
    cr_expect(rc.in_order, "messages arrived out of order");
    cr_expect_eq(rc.other, 0);
    cr_expect_eq(p.sc.got + p.sc.other, 0, "the sender saw a transport message");
    flow_pair_close(&p);
}

/* A lazy message (an acknowledgement) waits for the next message to the
 * same peer and goes with it, in order, or goes alone after
 * CAIRN_NET_LAZY_MS. */
typedef struct lazy_ctx {
    int got;
    uint64_t seq[8];
    uint64_t at_ms[8];
} lazy_ctx_t;

static void lazy_recv(cairn_net_t *n, const cairn_peer_t *from, cairn_msg_type_t type,
                      ProtobufCMessage *msg, void *arg)
{
    lazy_ctx_t *c = arg;
    if (type != CAIRN_MSG_HEARTBEAT || c->got >= 8)
        return;
    c->seq[c->got] = ((Cairn__Heartbeat *)msg)->seq;
    c->at_ms[c->got++] = uv_hrtime() / 1000000;
}

static void lazy_send(cairn_net_t *n, const cairn_peer_t *to, uint64_t seq, bool lazy)
{
    Cairn__Heartbeat hb = CAIRN__HEARTBEAT__INIT;
    hb.seq = seq;
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cairn_msg_encode(CAIRN_MSG_HEARTBEAT, &hb.base, &buf, &len, NULL), 0);
    cr_assert_eq(cairn_net_send_raw_lazy(n, to, buf, len, lazy, NULL), 0);
    free(buf);
}

LEAK_TEST(net, lazy_messages_ride_the_next_one_or_go_after_a_while)
{
    flow_pair_t p;
    lazy_ctx_t rc = {0};
    cairn_net_callbacks_t rcb = {.recv = lazy_recv, .arg = &rc};
    flow_pair_open(&p, "lazy", &rcb);
    /* alone, it goes after a while (the timer cannot fire early; the loop's
     * cached time may be a little behind when it is queued) */
    uint64_t t0 = uv_hrtime() / 1000000;
    lazy_send(p.sn, &p.to, 1, true);
    run_until(&p.loop, &rc.got, 1);
    cr_expect_eq(rc.seq[0], 1);
    cr_expect_geq(rc.at_ms[0] - t0, CAIRN_NET_LAZY_MS / 2, "a lazy message went at once");
    /* followed by one that is not lazy: both go at once, the lazy one
     * first (had it waited for its timer, it would arrive second) */
    lazy_send(p.sn, &p.to, 2, true);
    uv_run(&p.loop, UV_RUN_NOWAIT);
    lazy_send(p.sn, &p.to, 3, false);
    run_until(&p.loop, &rc.got, 3);
    cr_expect_eq(rc.seq[1], 2);
    cr_expect_eq(rc.seq[2], 3);
    flow_pair_close(&p);
}
