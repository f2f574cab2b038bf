/* A fake standby scheduler for tests of following the leader (or, with
 * `reply` set, a fake scheduler giving one fixed answer): it answers
 * every client request with ErrorReply{NOT_LEADER, leader} (rep0) or every
 * worker's Register with RegisterReply{accepted false, "not the leader",
 * leader} (pair1), on its own thread, as a standby of the PostgreSQL store
 * does (proto/common.proto, proto/worker.proto). The leader it names can
 * change while it runs: "" for the first `silent_for` answers (no leader
 * yet), then `leader`. */
#ifndef CAIRN_TEST_FAKE_STANDBY_H
#define CAIRN_TEST_FAKE_STANDBY_H

#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "proto/client.pb-c.h"
#include "proto/envelope.h"
#include "proto/worker.pb-c.h"

typedef struct fake_standby {
    nng_socket sock;
    bool workers;     /* pair1, worker protocol; else rep0, client protocol */
    char leader[400]; /* the leader's endpoints it names */
    int silent_for;   /* answers that name no leader first */
    bool no_answer;   /* take requests, answer none (a scheduler that died) */
    /* set: answer every request with this message instead (the caller's) */
    const ProtobufCMessage *reply;
    cairn_msg_type_t reply_type;
    atomic_int answers; /* requests (Registers) answered, or taken */
    atomic_bool stop;
    pthread_t thread;
} fake_standby_t;

static inline bool fake_standby_is_register(const uint8_t *buf, size_t len)
{
    cairn_msg_type_t type;
    ProtobufCMessage *msg = NULL;
    if (cairn_msg_decode(buf, len, 0, &type, &msg, NULL) < 0)
        return false;
    cairn_msg_free(msg);
    return type == CAIRN_MSG_REGISTER;
}

/* The answer to the request in buf (a Register when for workers), or 0. */
static inline int fake_standby_answer(fake_standby_t *f, const void *buf, size_t len)
{
    cairn_msg_type_t type;
    ProtobufCMessage *msg = NULL;
    if (cairn_msg_decode(buf, len, 0, &type, &msg, NULL) < 0)
        return 0;
    /* a worker's messages may come batched (proto/net.h) */
    bool reg = type == CAIRN_MSG_REGISTER;
    if (type == CAIRN_MSG_BATCH) {
        const Cairn__Batch *bt = (const Cairn__Batch *)msg;
        for (size_t i = 0; i < bt->n_messages; i++)
            reg |= fake_standby_is_register(bt->messages[i].data, bt->messages[i].len);
    }
    cairn_msg_free(msg);
    if (f->workers && !reg)
        return 0;
    int n = atomic_fetch_add(&f->answers, 1);
    if (f->no_answer)
        return 0;
    char *leader = n < f->silent_for ? "" : f->leader;
    uint8_t *out = NULL;
    size_t olen = 0;
    if (f->reply) {
        cr_assert_eq(cairn_msg_encode(f->reply_type, f->reply, &out, &olen, NULL), 0);
    } else if (f->workers) {
        Cairn__RegisterReply rr = CAIRN__REGISTER_REPLY__INIT;
        rr.accepted = false;
        rr.error = "not the leader";
        rr.leader = leader;
        cr_assert_eq(cairn_msg_encode(CAIRN_MSG_REGISTER_REPLY, &rr.base, &out, &olen, NULL), 0);
    } else {
        Cairn__ErrorReply e = CAIRN__ERROR_REPLY__INIT;
        e.code = CAIRN__ERROR_CODE__ERROR_CODE_NOT_LEADER;
        e.message = "not the leader";
        e.request_type = (uint32_t)type;
        e.leader = leader;
        cr_assert_eq(cairn_msg_encode(CAIRN_MSG_ERROR, &e.base, &out, &olen, NULL), 0);
    }
    nng_send(f->sock, out, olen, 0);
    free(out);
    return 1;
}

static inline void *fake_standby_run(void *arg)
{
    fake_standby_t *f = arg;
    while (!atomic_load(&f->stop)) {
        void *buf = NULL;
        size_t len = 0;
        if (nng_recv(f->sock, &buf, &len, NNG_FLAG_ALLOC) != 0)
            continue; /* the receive timeout: look at stop again */
        fake_standby_answer(f, buf, len);
        nng_free(buf, len);
    }
    return NULL;
}

/* Listen on url and answer on a thread until fake_standby_stop. */
static inline void fake_standby_start(fake_standby_t *f, const char *url, bool workers,
                                      const char *leader, int silent_for)
{
    f->workers = workers;
    snprintf(f->leader, sizeof(f->leader), "%s", leader);
    f->silent_for = silent_for;
    atomic_init(&f->answers, 0);
    atomic_init(&f->stop, false);
    cr_assert_eq(workers ? nng_pair1_open(&f->sock) : nng_rep0_open(&f->sock), 0);
    nng_socket_set_ms(f->sock, NNG_OPT_RECVTIMEO, 50);
    nng_socket_set_ms(f->sock, NNG_OPT_SENDTIMEO, 1000);
    cr_assert_eq(nng_listen(f->sock, url, NULL, 0), 0, "listen on %s", url);
    cr_assert_eq(pthread_create(&f->thread, NULL, fake_standby_run, f), 0);
}

static inline void fake_standby_stop(fake_standby_t *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    nng_close(f->sock);
}

#endif
