/* The worker's link to the scheduler; see link.h.
 *
 * Registration life cycle of the current connection:
 *
 *   DISCONNECTED ──pipe added──▶ REGISTERING ──accepted──▶ REGISTERED
 *        ▲                        │  ▲    ▲                    │
 *        │                refused │  │    └── reregister ──────┘
 *        │                        ▼  │ timer
 *        └──── pipe removed ──── BACKOFF   (from any state)
 *
 * REGISTERING sends Register on entry and again when no reply comes within
 * the timeout; REGISTERED runs the heartbeat timer and (re)sends the queued
 * events on entry. One timer serves REGISTERING (reply timeout) and BACKOFF
 * (retry delay). */
#include "worker/link.h"

#include <errno.h>
#include <inttypes.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/grow.h"
#include "common/search.h"
#include "proto/endpoints.h"
#include "proto/net.h"

#define LINK_RETRY_MIN_MS 200
#define LINK_RETRY_MAX_MS 10000
#define LINK_REGISTER_TIMEOUT_MS 10000
#define LINK_HEARTBEAT_DEFAULT_MS 5000
#define LINK_HEARTBEAT_MIN_MS 10
#define LINK_RECONNECT_MIN_MS 50
#define LINK_RECONNECT_MAX_MS 2000
/* how often a link without a connection looks at its dialer (net.h);
 * with several endpoints, more often: to move on in time */
#define LINK_DIAL_CHECK_MS 1000
#define LINK_DIAL_CHECK_MANY_MS 250
/* with several endpoints: no connection for this long moves to the next */
#define LINK_SWITCH_MS 1000
/* several endpoints: one silent for 3 heartbeats (at least this) is left */
#define LINK_SILENT_MIN_MS 3000
/* standbys' redirects followed in a row before backing off */
#define LINK_MAX_HOPS 4
/* the longest wait for a scheduler to lead (a takeover in progress) */
#define LINK_NO_LEADER_MAX_MS 1000

/* messages nng holds for the connection before the link's own queue */
#define LINK_SENDBUF 16
/* nng_close() that takes longer is left behind (nng 1.5.2 deadlock). */
#define LINK_CLOSE_MAX_MS 2000

typedef enum link_state {
    LINK_DISCONNECTED,
    LINK_REGISTERING,
    LINK_BACKOFF,
    LINK_REGISTERED,
} link_state_t;

static const char *const state_names[] = {
    [LINK_DISCONNECTED] = "disconnected",
    [LINK_REGISTERING] = "registering",
    [LINK_BACKOFF] = "backoff",
    [LINK_REGISTERED] = "registered",
};

struct worker_link {
    uv_loop_t *loop;
    worker_link_callbacks_t cb;
    cairn_log_t *log; /* borrowed; NULL: nothing is logged */
    char *node_name;
    uint32_t retry_min_ms, retry_max_ms, register_timeout_ms;
    nng_socket sock;
    cairn_dial_t dial;
    cairn_net_t *net;
    uv_timer_t register_timer, heartbeat_timer, dial_timer;
    int handles_open;
    bool closing;

    link_state_t state;
    nng_pipe pipe; /* current connection, id 0 when none */
    uint64_t node_id;
    uint64_t scheduler_id; /* RegisterReply.scheduler_id */
    uint32_t heartbeat_ms;
    uint32_t backoff_ms; /* next retry delay after a refusal */

    /* the schedulers' endpoints (the current one is dialed), with what
     * dialing the next needs */
    cairn_endpoints_t eps;
    char *tls_cert, *tls_ca;
    bool insecure;
    uint64_t nopipe_since_ms; /* uv_now when the link last had no connection */
    uint64_t heard_ms;        /* uv_now of the scheduler's last message */
    unsigned hops;            /* standbys' redirects since the last registration */
    uint64_t heartbeat_seq;
    uint64_t incarnation; /* random, non-zero: Register.incarnation */

    /* the join challenge of this connection, and whether it was answered
     * (with the join key's HMAC, the certificate's signature, or both) */
    const cairn_join_key_t *join_key;
    cairn_signer_t *signer; /* for the current endpoint when tls+ with a certificate */
    uint8_t challenge[64];
    size_t challenge_len;
    bool answered;
    uint8_t nonce[CAIRN_JOIN_NONCE_LEN]; /* the last answer's: the proof covers it */

    /* unacknowledged task events, ascending seq */
    Cairn__TaskEvent **events;
    size_t nevents, events_cap;
    uint64_t next_seq;
    /* worker_link_hold(): routine events wait up to hold_ms to go out
     * together; sent_below: the events below it went out */
    bool hold;
    uint32_t hold_ms;
    uint64_t sent_below;
    uv_timer_t hold_timer;
    bool hold_armed;
};

static void link_enter(worker_link_t *l, link_state_t state);

/* ---- the event queue --------------------------------------------------- */

/* The key of a kept event (a Cairn__TaskEvent *): its seq. */
static uint64_t event_key(const void *elem)
{
    return (*(Cairn__TaskEvent *const *)elem)->seq;
}

/* The index of the first kept event with a seq >= seq. */
static size_t event_lower(const worker_link_t *l, uint64_t seq)
{
    return cairn_lower_bound(l->events, l->nevents, sizeof(*l->events), seq, event_key);
}

static void event_remove_at(worker_link_t *l, size_t i)
{
    cairn__task_event__free_unpacked(l->events[i], NULL);
    memmove(l->events + i, l->events + i + 1, (l->nevents - i - 1) * sizeof(*l->events));
    l->nevents--;
}

static void send_event(worker_link_t *l, const Cairn__TaskEvent *ev)
{
    if (ev->seq >= l->sent_below)
        l->sent_below = ev->seq + 1;
    cairn_error_t err;
    if (cairn_net_send(l->net, NULL, CAIRN_MSG_TASK_EVENT, &ev->base, &err) < 0)
        cairn_log(l->log, CAIRN_LOG_DEBUG, "event %" PRIu64 " not sent (%s); kept for resending",
                  ev->seq, err.text);
}

/* Send the events not sent yet, in seq order. */
static void flush_held(worker_link_t *l)
{
    if (l->hold_armed) {
        uv_timer_stop(&l->hold_timer);
        l->hold_armed = false;
    }
    if (l->state != LINK_REGISTERED)
        return;
    for (size_t i = event_lower(l, l->sent_below); i < l->nevents; i++)
        send_event(l, l->events[i]);
}

static void hold_timer_cb(uv_timer_t *t)
{
    worker_link_t *l = t->data;
    l->hold_armed = false;
    flush_held(l);
}

/* Routine: a start, or an end that only frees the slot (a success); the
 * rest (failures, cancels) may change what the scheduler does next. */
static bool routine(const Cairn__TaskEvent *ev)
{
    return ev->kind == CAIRN__TASK_EVENT__KIND__STARTED ||
           (ev->kind == CAIRN__TASK_EVENT__KIND__EXITED && ev->exit_code == 0 && ev->signal == 0 &&
            !ev->cancelled && !ev->timed_out && !ev->memory_exceeded);
}

int worker_link_event(worker_link_t *l, Cairn__TaskEvent *ev, uint64_t *seq, cairn_error_t *err)
{
    if (CAIRN_GROW(l->events, l->events_cap, l->nevents + 1) < 0)
        return errcode(err, -ENOMEM, "out of memory");
    ev->seq = l->next_seq;
    ev->node_name = l->node_name;
    /* the kept copy is the message decoded from its own encoding: a deep
     * copy that owns all its strings, freed with free_unpacked */
    size_t len = cairn__task_event__get_packed_size(ev);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return errcode(err, -ENOMEM, "out of memory");
    cairn__task_event__pack(ev, buf);
    Cairn__TaskEvent *copy = cairn__task_event__unpack(NULL, len, buf);
    free(buf);
    if (!copy)
        return errcode(err, -ENOMEM, "cannot copy the event");
    if (cairn_msg_validate(&copy->base, err) < 0) {
        cairn__task_event__free_unpacked(copy, NULL);
        return -EINVAL;
    }
    l->events[l->nevents++] = copy;
    l->next_seq++;
    if (seq)
        *seq = copy->seq;
    if (l->state != LINK_REGISTERED)
        return 0;
    if (!l->hold || !routine(copy)) {
        flush_held(l);
    } else if (!l->hold_armed) {
        l->hold_armed = true;
        uv_timer_start(&l->hold_timer, hold_timer_cb, l->hold_ms, 0);
    }
    return 0;
}

void worker_link_hold(worker_link_t *l, bool hold)
{
    hold = hold && l->hold_ms > 0;
    if (l->hold == hold)
        return;
    l->hold = hold;
    if (!hold)
        flush_held(l);
}

void worker_link_forget(worker_link_t *l, uint64_t attempt_id)
{
    for (size_t i = l->nevents; i-- > 0;)
        if (l->events[i]->attempt_id == attempt_id)
            event_remove_at(l, i);
}

size_t worker_link_pending(const worker_link_t *l)
{
    return l->nevents;
}

size_t worker_link_ended_unacked(const worker_link_t *l, uint64_t *ids, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < l->nevents; i++) {
        const Cairn__TaskEvent *ev = l->events[i];
        if (ev->kind != CAIRN__TASK_EVENT__KIND__EXITED &&
            ev->kind != CAIRN__TASK_EVENT__KIND__FAILED_TO_START)
            continue;
        if (n < max)
            ids[n] = ev->attempt_id;
        n++;
    }
    return n;
}

/* ---- state ------------------------------------------------------------- */

bool worker_link_registered(const worker_link_t *l)
{
    return l->state == LINK_REGISTERED;
}

uint64_t worker_link_node_id(const worker_link_t *l)
{
    return l->node_id;
}

uint64_t worker_link_scheduler_id(const worker_link_t *l)
{
    return l->scheduler_id;
}

const char *worker_link_endpoint(const worker_link_t *l)
{
    return cairn_endpoints_current(&l->eps);
}

int worker_link_send(worker_link_t *l, cairn_msg_type_t type, const ProtobufCMessage *msg,
                     cairn_error_t *err)
{
    if (l->state != LINK_REGISTERED)
        return errcode(err, -ENOTCONN, "not registered with the scheduler");
    return cairn_net_send(l->net, NULL, type, msg, err);
}

static void send_register(worker_link_t *l)
{
    const Cairn__Register *reg0 = l->cb.registration(l, l->cb.arg);
    Cairn__Register r = *reg0, *reg = &r;
    Cairn__Auth auth = CAIRN__AUTH__INIT;
    uint8_t nonce[CAIRN_JOIN_NONCE_LEN], hmac[CAIRN_JOIN_HMAC_LEN];
    cairn_error_t err;

    if ((l->join_key || l->signer) && l->challenge_len &&
        cairn_join_random(nonce, sizeof(nonce)) == 0) {
        auth.nonce = (ProtobufCBinaryData){.len = sizeof(nonce), .data = nonce};
        if (l->join_key) {
            cairn_join_answer(l->join_key, l->challenge, l->challenge_len, nonce, sizeof(nonce),
                              reg->node_name, hmac);
            auth.key_id = (char *)l->join_key->id;
            auth.hmac = (ProtobufCBinaryData){.len = sizeof(hmac), .data = hmac};
        }
        if (l->signer && cairn_signer_register(l->signer, l->challenge, l->challenge_len,
                                               reg->node_name, &auth, &err) < 0)
            cairn_log(l->log, CAIRN_LOG_ERROR, "%s", err.text); /* the scheduler says it lacks it */
        r.auth = &auth;
        l->answered = true;
        memcpy(l->nonce, nonce, sizeof(nonce));
    }
    r.incarnation = l->incarnation;
    if (cairn_net_send(l->net, NULL, CAIRN_MSG_REGISTER, &reg->base, &err) < 0) {
        cairn_log(l->log, CAIRN_LOG_WARN, "cannot send Register: %s", err.text);
        link_enter(l, LINK_BACKOFF);
        return;
    }
    cairn_log(l->log, CAIRN_LOG_INFO, "registering as %s with %zu running attempt%s",
              reg->node_name, reg->n_running, reg->n_running == 1 ? "" : "s");
}

static void link_redial(worker_link_t *l, const char *why);

static void heartbeat_cb(uv_timer_t *t)
{
    worker_link_t *l = t->data;
    Cairn__Heartbeat hb = CAIRN__HEARTBEAT__INIT;
    cairn_error_t err;
    uint64_t quiet = uv_now(l->loop) - l->heard_ms;
    uint64_t limit = 3 * (uint64_t)l->heartbeat_ms;
    if (l->eps.n > 1 && l->state == LINK_REGISTERED &&
        quiet >= (limit > LINK_SILENT_MIN_MS ? limit : LINK_SILENT_MIN_MS)) {
        char was[600];
        snprintf(was, sizeof(was), "no answer from %s for %llu ms",
                 cairn_endpoints_current(&l->eps), (unsigned long long)quiet);
        cairn_endpoints_next(&l->eps);
        link_redial(l, was);
        return;
    }

    hb.node_name = l->node_name;
    hb.node_id = l->node_id;
    hb.seq = ++l->heartbeat_seq;
    hb.time_ms = cairn_wall_ms();
    if (cairn_net_send(l->net, NULL, CAIRN_MSG_HEARTBEAT, &hb.base, &err) < 0)
        cairn_log(l->log, CAIRN_LOG_WARN, "cannot send heartbeat: %s", err.text);
    if (l->cb.heartbeat)
        l->cb.heartbeat(l, hb.seq, l->cb.arg);
}

static void register_timer_cb(uv_timer_t *t)
{
    worker_link_t *l = t->data;
    if (l->state == LINK_REGISTERING)
        cairn_log(l->log, CAIRN_LOG_WARN,
                  "no answer to Register after %" PRIu32 " ms; registering again",
                  l->register_timeout_ms);
    if (l->state == LINK_REGISTERING || l->state == LINK_BACKOFF)
        link_enter(l, LINK_REGISTERING);
}

/* Enter a state and run its entry actions. */
static void link_enter(worker_link_t *l, link_state_t state)
{
    link_state_t from = l->state;
    l->state = state;
    if (from != state)
        cairn_log(l->log, CAIRN_LOG_DEBUG, "link: %s -> %s", state_names[from], state_names[state]);
    if (state != LINK_REGISTERED)
        uv_timer_stop(&l->heartbeat_timer);
    switch (state) {
    case LINK_DISCONNECTED:
        uv_timer_stop(&l->register_timer);
        break;
    case LINK_REGISTERING:
        uv_timer_start(&l->register_timer, register_timer_cb, l->register_timeout_ms, 0);
        send_register(l);
        break;
    case LINK_BACKOFF:
        uv_timer_start(&l->register_timer, register_timer_cb, l->backoff_ms, 0);
        l->backoff_ms = l->backoff_ms >= l->retry_max_ms / 2 ? l->retry_max_ms : l->backoff_ms * 2;
        break;
    case LINK_REGISTERED:
        uv_timer_stop(&l->register_timer);
        l->backoff_ms = l->retry_min_ms;
        uv_timer_start(&l->heartbeat_timer, heartbeat_cb, l->heartbeat_ms, l->heartbeat_ms);
        break;
    }
}

/* ---- several schedulers -------------------------------------------------- */

/* Dial the current endpoint (a new dialer on the socket), with a signer
 * for it when it is tls+ and the worker has a certificate. */
static int link_dial(worker_link_t *l, cairn_error_t *err)
{
    const char *url = cairn_endpoints_current(&l->eps);
    cairn_tls_t tls = {.cert_key = l->tls_cert, .ca = l->tls_ca};
    cairn_error_t derr = {{0}};
    cairn_signer_destroy(l->signer);
    l->signer = NULL;
    l->nopipe_since_ms = uv_now(l->loop);
    int rc = cairn_dial_start(&l->dial, l->sock, url, &tls, LINK_RECONNECT_MIN_MS,
                              LINK_RECONNECT_MAX_MS, &derr);
    if (rc < 0)
        return errcode(err, rc, "scheduler %s", derr.text);
    if (l->tls_cert && !strncmp(url, "tls+", 4) &&
        (rc = cairn_signer_create(l->tls_cert, url, &l->signer, err)) < 0)
        return rc;
    return 0;
}

/* Leave the current connection (if any) and dial the now current
 * endpoint; the unacknowledged events wait for the next registration. */
static void link_redial(worker_link_t *l, const char *why)
{
    if (l->dial.url)
        nng_dialer_close(l->dial.dialer);
    cairn_dial_fini(&l->dial);
    l->pipe = (nng_pipe)NNG_PIPE_INITIALIZER; /* the old one's messages are refused */
    link_enter(l, LINK_DISCONNECTED);
    cairn_error_t err = {{0}};
    cairn_log(l->log, CAIRN_LOG_WARN, "%s: dialing the scheduler at %s", why,
              cairn_endpoints_current(&l->eps));
    if (link_dial(l, &err) < 0)
        cairn_log(l->log, CAIRN_LOG_ERROR, "cannot dial %s: %s", cairn_endpoints_current(&l->eps),
                  err.text);
}

/* A standby refused the registration: go to the leader it names, or ask
 * again soon while none leads. */
static void on_not_leader(worker_link_t *l, const char *leader)
{
    char first[512];
    snprintf(first, sizeof(first), "%.*s", (int)strcspn(leader, ","), leader);
    bool trusted = l->join_key || l->insecure || !cairn_endpoint_plain_network(first);
    if (leader[0] && trusted && l->hops < LINK_MAX_HOPS) {
        cairn_error_t err = {{0}};
        if (cairn_endpoints_follow(&l->eps, leader, &err) == 0) {
            l->hops++;
            link_redial(l, "the scheduler is a standby");
            return;
        }
        cairn_log(l->log, CAIRN_LOG_ERROR, "the standby named no usable leader: %s", err.text);
    } else if (leader[0] && !trusted) {
        cairn_log(l->log, CAIRN_LOG_ERROR,
                  "the standby names the leader %s, which nothing authenticates (no TLS, no "
                  "--join-key, no --insecure): not going there",
                  first);
    }
    /* none leads yet (a takeover), or redirects in a circle: ask again
     * after a pause (then follow again) */
    l->hops = 0;
    if (l->backoff_ms > LINK_NO_LEADER_MAX_MS)
        l->backoff_ms = LINK_NO_LEADER_MAX_MS;
    cairn_log(l->log, CAIRN_LOG_INFO, "%s is not the leader%s; asking again in %" PRIu32 " ms",
              cairn_endpoints_current(&l->eps), leader[0] ? "" : " and none leads yet",
              l->backoff_ms);
    link_enter(l, LINK_BACKOFF);
}

/* ---- messages from the scheduler ------------------------------------------ */

static void on_register_reply(worker_link_t *l, const ProtobufCMessage *msg)
{
    const Cairn__RegisterReply *rr = (const Cairn__RegisterReply *)msg;

    if (l->state != LINK_REGISTERING) {
        cairn_log(l->log, CAIRN_LOG_DEBUG, "RegisterReply while %s: ignored",
                  state_names[l->state]);
        return;
    }
    if (!rr->accepted && (rr->leader[0] || !strcmp(rr->error, "not the leader"))) {
        on_not_leader(l, rr->leader);
        return;
    }
    if (!rr->accepted) {
        bool first = rr->challenge.len > 0 && !l->answered;
        if (rr->challenge.len > 0 && rr->challenge.len <= sizeof(l->challenge)) {
            memcpy(l->challenge, rr->challenge.data, rr->challenge.len);
            l->challenge_len = rr->challenge.len;
        }
        if (first && (l->join_key || l->signer)) {
            send_register(l); /* answer the challenge at once */
            return;
        }
        if (rr->challenge.len > 0 && !l->join_key && !l->signer)
            cairn_log(l->log, CAIRN_LOG_ERROR,
                      "the scheduler asks for the cluster's join key, which this worker was "
                      "not given (--join-key); retrying in %" PRIu32 " ms",
                      l->backoff_ms);
        else if (rr->challenge.len > 0 && !l->signer)
            cairn_log(l->log, CAIRN_LOG_ERROR,
                      "the scheduler refused this worker's join key (%s): %s; retrying in "
                      "%" PRIu32 " ms",
                      l->join_key->id, rr->error[0] ? rr->error : "no reason given", l->backoff_ms);
        else
            cairn_log(l->log, CAIRN_LOG_ERROR,
                      "the scheduler refused the registration: %s; retrying in %" PRIu32 " ms",
                      rr->error[0] ? rr->error : "no reason given", l->backoff_ms);
        link_enter(l, LINK_BACKOFF);
        return;
    }
    /* with a join key, the scheduler must prove it holds it too: anyone
     * can answer a dial, and only the cluster's scheduler may give work */
    if (l->join_key &&
        (!l->answered ||
         !cairn_join_check_proof(l->join_key, l->challenge, l->challenge_len, l->nonce,
                                 sizeof(l->nonce), l->node_name, rr->proof.data, rr->proof.len))) {
        cairn_log(l->log, CAIRN_LOG_ERROR,
                  "the scheduler accepted this worker without proving that it holds the join "
                  "key (%s): not taking its commands; retrying in %" PRIu32 " ms",
                  l->join_key->id, l->backoff_ms);
        link_enter(l, LINK_BACKOFF);
        return;
    }
    l->node_id = rr->node_id;
    l->scheduler_id = rr->scheduler_id;
    l->hops = 0;
    l->heartbeat_ms =
        rr->heartbeat_interval_ms ? rr->heartbeat_interval_ms : LINK_HEARTBEAT_DEFAULT_MS;
    if (l->heartbeat_ms < LINK_HEARTBEAT_MIN_MS)
        l->heartbeat_ms = LINK_HEARTBEAT_MIN_MS;
    for (size_t i = 0; i < rr->n_stale_attempt_ids; i++)
        worker_link_forget(l, rr->stale_attempt_ids[i]);
    cairn_log(l->log, CAIRN_LOG_INFO,
              "registered as node %" PRIu64 ": heartbeat every %" PRIu32 " ms, %zu stale "
              "attempt%s, %zu event%s to resend",
              l->node_id, l->heartbeat_ms, rr->n_stale_attempt_ids,
              rr->n_stale_attempt_ids == 1 ? "" : "s", l->nevents, l->nevents == 1 ? "" : "s");
    cairn_net_pipe_authenticate(l->net, l->pipe, NULL); /* the scheduler's full limit */
    link_enter(l, LINK_REGISTERED);
    /* every kept event again, oldest first, before anything the callback
     * queues: the scheduler applies a worker's events in seq order and
     * drops those at or below the newest it applied (a resent duplicate) */
    for (size_t i = 0; i < l->nevents && l->state == LINK_REGISTERED; i++)
        send_event(l, l->events[i]);
    if (l->cb.registered)
        l->cb.registered(l, l->node_id, rr->stale_attempt_ids, rr->n_stale_attempt_ids, l->cb.arg);
}

static void on_heartbeat_reply(worker_link_t *l, const ProtobufCMessage *msg)
{
    const Cairn__HeartbeatReply *hr = (const Cairn__HeartbeatReply *)msg;
    if (hr->heartbeat_interval_ms && hr->heartbeat_interval_ms != l->heartbeat_ms &&
        l->state == LINK_REGISTERED) {
        l->heartbeat_ms = hr->heartbeat_interval_ms < LINK_HEARTBEAT_MIN_MS
                              ? LINK_HEARTBEAT_MIN_MS
                              : hr->heartbeat_interval_ms;
        cairn_log(l->log, CAIRN_LOG_INFO, "the scheduler asks for a heartbeat every %u ms",
                  l->heartbeat_ms);
        uv_timer_start(&l->heartbeat_timer, heartbeat_cb, l->heartbeat_ms, l->heartbeat_ms);
    }
    if (!hr->reregister)
        return;
    if (l->state == LINK_REGISTERED) {
        cairn_log(l->log, CAIRN_LOG_INFO,
                  "the scheduler does not know this node: registering again");
        link_enter(l, LINK_REGISTERING);
    }
}

static void on_ack(worker_link_t *l, const ProtobufCMessage *msg)
{
    uint64_t seq = ((const Cairn__Ack *)msg)->seq;
    size_t lo = event_lower(l, seq);
    if (lo < l->nevents && l->events[lo]->seq == seq)
        event_remove_at(l, lo);
    else
        cairn_log(l->log, CAIRN_LOG_DEBUG, "ack of unknown event %" PRIu64, seq);
}

static void on_error_reply(worker_link_t *l, const ProtobufCMessage *msg)
{
    const Cairn__ErrorReply *e = (const Cairn__ErrorReply *)msg;
    if (e->code == CAIRN__ERROR_CODE__ERROR_CODE_NOT_LEADER && l->state == LINK_REGISTERED) {
        /* registered with one that stands by now: go to the leader */
        on_not_leader(l, e->leader ? e->leader : "");
        return;
    }
    cairn_log(l->log, CAIRN_LOG_WARN, "the scheduler refused a %s message: %s",
              cairn_msg_type_name((cairn_msg_type_t)e->request_type), e->message);
}

static void on_command(worker_link_t *l, const ProtobufCMessage *msg, cairn_msg_type_t type)
{
    if (l->cb.command)
        l->cb.command(l, type, msg, l->cb.arg);
}

typedef struct link_handler {
    cairn_msg_type_t type;
    void (*fn)(worker_link_t *l, const ProtobufCMessage *msg);
    bool command; /* passed on to the command callback */
} link_handler_t;

static const link_handler_t handlers[] = {
    {CAIRN_MSG_REGISTER_REPLY, on_register_reply, false},
    {CAIRN_MSG_HEARTBEAT_REPLY, on_heartbeat_reply, false},
    {CAIRN_MSG_ACK, on_ack, false},
    {CAIRN_MSG_ERROR, on_error_reply, false},
    {CAIRN_MSG_ASSIGN_TASK, NULL, true},
    {CAIRN_MSG_CANCEL_TASK, NULL, true},
    {CAIRN_MSG_READ_LOG, NULL, true},
};

static void recv_cb(cairn_net_t *n, const cairn_peer_t *from, cairn_msg_type_t type,
                    ProtobufCMessage *msg, void *arg)
{
    worker_link_t *l = arg;
    /* only the current connection speaks; commands only once the
     * scheduler accepted this worker on it (and proved the join key) */
    if (from->pipe.id != l->pipe.id) {
        cairn_log(l->log, CAIRN_LOG_WARN, "refused %s from a connection that is gone",
                  cairn_msg_type_name(type));
        return;
    }
    l->heard_ms = uv_now(l->loop);
    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
        if (handlers[i].type != type)
            continue;
        if (handlers[i].command && l->state != LINK_REGISTERED)
            cairn_log(l->log, CAIRN_LOG_WARN,
                      "refused %s: the scheduler has not accepted this worker on this "
                      "connection (%s)",
                      cairn_msg_type_name(type), state_names[l->state]);
        else if (handlers[i].command)
            on_command(l, msg, type);
        else
            handlers[i].fn(l, msg);
        return;
    }
    cairn_log(l->log, CAIRN_LOG_WARN, "refused a %s message: not one a scheduler sends to workers",
              cairn_msg_type_name(type));
}

static void bad_cb(cairn_net_t *n, const cairn_peer_t *from, int code, const char *why, void *arg)
{
    cairn_log(((worker_link_t *)arg)->log, CAIRN_LOG_WARN,
              "refused a malformed message from the scheduler: %s", why);
}

static void pipe_cb(cairn_net_t *n, nng_pipe p, bool added, void *arg)
{
    worker_link_t *l = arg;
    if (added) {
        if (l->pipe.id != 0)
            cairn_log(l->log, CAIRN_LOG_WARN,
                      "new connection while one is open: using the new one");
        l->pipe = p;
        l->challenge_len = 0; /* a new connection gets a new challenge */
        l->answered = false;
        cairn_log(l->log, CAIRN_LOG_INFO, "connected to the scheduler");
        l->backoff_ms = l->retry_min_ms;
        link_enter(l, LINK_REGISTERING);
    } else if (nng_pipe_id(p) == nng_pipe_id(l->pipe)) {
        l->pipe = (nng_pipe)NNG_PIPE_INITIALIZER;
        l->nopipe_since_ms = uv_now(l->loop);
        cairn_log(l->log, CAIRN_LOG_WARN,
                  "lost the connection to the scheduler; %zu unacknowledged "
                  "event%s kept",
                  l->nevents, l->nevents == 1 ? "" : "s");
        link_enter(l, LINK_DISCONNECTED);
    }
}

/* ---- create / destroy ---------------------------------------------------- */

/* While there is no connection: replace a dialer nng gave up on. */
static void dial_timer_cb(uv_timer_t *t)
{
    worker_link_t *l = t->data;
    if (l->closing || l->pipe.id != 0)
        return;
    /* a leader that went away: a standby takes over, elsewhere */
    if (l->eps.n > 1 && uv_now(l->loop) - l->nopipe_since_ms >= LINK_SWITCH_MS) {
        char was[512];
        snprintf(was, sizeof(was), "no connection to %s for %d ms",
                 cairn_endpoints_current(&l->eps), LINK_SWITCH_MS);
        cairn_endpoints_next(&l->eps);
        link_redial(l, was);
        return;
    }
    cairn_error_t err = {{0}};
    int rc = cairn_dial_check(&l->dial, (int64_t)uv_now(l->loop), &err);
    if (rc < 0)
        cairn_log(l->log, CAIRN_LOG_ERROR, "cannot dial the scheduler again: %s", err.text);
    else if (rc > 0)
        cairn_log(l->log, l->dial.redials == 1 ? CAIRN_LOG_WARN : CAIRN_LOG_DEBUG,
                  "no connection attempt to the scheduler ended for %d ms: dialing anew "
                  "(%u so far)",
                  2 * LINK_RECONNECT_MAX_MS + 1000, l->dial.redials);
}

static void close_cb(uv_handle_t *h)
{
    worker_link_t *l = h->data;
    if (--l->handles_open > 0)
        return;
    for (size_t i = 0; i < l->nevents; i++)
        cairn__task_event__free_unpacked(l->events[i], NULL);
    free(l->events);
    free(l->node_name);
    cairn_dial_fini(&l->dial);
    cairn_signer_destroy(l->signer);
    cairn_endpoints_fini(&l->eps);
    free(l->tls_cert);
    free(l->tls_ca);
    free(l);
}

int worker_link_create(uv_loop_t *loop, const worker_link_config_t *cfg,
                       const worker_link_callbacks_t *cb, worker_link_t **out, cairn_error_t *err)
{
    if (!cfg->url || !cfg->node_name || !cb->registration)
        return errcode(err, -EINVAL, "link: URL, node name and registration callback needed");
    worker_link_t *l = calloc(1, sizeof(*l));
    if (!l || !(l->node_name = strdup(cfg->node_name))) {
        free(l);
        return errcode(err, -ENOMEM, "out of memory");
    }
    l->loop = loop;
    l->cb = *cb;
    l->log = cfg->log;
    l->retry_min_ms = cfg->retry_min_ms ? cfg->retry_min_ms : LINK_RETRY_MIN_MS;
    l->join_key = cfg->join_key;
    l->insecure = cfg->insecure;
    l->retry_max_ms = cfg->retry_max_ms ? cfg->retry_max_ms : LINK_RETRY_MAX_MS;
    if (l->retry_max_ms < l->retry_min_ms)
        l->retry_max_ms = l->retry_min_ms;
    l->register_timeout_ms =
        cfg->register_timeout_ms ? cfg->register_timeout_ms : LINK_REGISTER_TIMEOUT_MS;
    l->backoff_ms = l->retry_min_ms;
    l->hold_ms = cfg->hold_ms;
    l->heartbeat_ms = LINK_HEARTBEAT_DEFAULT_MS;
    /* above any seq an earlier run of this worker can have used, as long
     * as the clock does not go back: the scheduler drops duplicates by seq */
    l->next_seq = (uint64_t)cairn_wall_ms() * 1000;
    while (!l->incarnation &&
           cairn_join_random((uint8_t *)&l->incarnation, sizeof(l->incarnation)) == 0)
        l->incarnation &= INT64_MAX; /* stored as a signed 64-bit integer */
    if (!l->incarnation)
        l->incarnation = l->next_seq | 1; /* no randomness: unique enough per start */
    int rv = nng_pair1_open(&l->sock);
    if (rv != 0) {
        free(l->node_name);
        free(l);
        return errcode(err, -ENOMEM, "cannot open a socket: %s", nng_strerror(rv));
    }
    /* a few messages in a row (events, a heartbeat, a report) go without
     * waiting for the previous one's write: no wake-up for writability */
    nng_socket_set_int(l->sock, NNG_OPT_SENDBUF, LINK_SENDBUF);
    uv_timer_init(loop, &l->register_timer);
    uv_timer_init(loop, &l->heartbeat_timer);
    uv_timer_init(loop, &l->dial_timer);
    uv_timer_init(loop, &l->hold_timer);
    l->register_timer.data = l->heartbeat_timer.data = l->dial_timer.data = l;
    l->hold_timer.data = l;
    l->handles_open = 4;
    cairn_net_callbacks_t ncb = {.recv = recv_cb, .bad = bad_cb, .pipe = pipe_cb, .arg = l};
    int rc = cairn_net_create(loop, l->sock, 0, &ncb, &l->net, err);
    if (rc < 0)
        goto error;
    cairn_net_set_flow(l->net, CAIRN_NET_FLOW_RECEIVER);
    cairn_net_set_auth(l->net, CAIRN_NET_AUTH_EXPLICIT, 0); /* until registered */
    if ((rc = cairn_endpoints_parse(&l->eps, cfg->url, err)) < 0)
        goto error;
    if ((cfg->tls_cert && !(l->tls_cert = strdup(cfg->tls_cert))) ||
        (cfg->tls_ca && !(l->tls_ca = strdup(cfg->tls_ca)))) {
        rc = errcode(err, -ENOMEM, "out of memory");
        goto error;
    }
    /* after the net: it watches pipes from before the first one */
    if ((rc = link_dial(l, err)) < 0)
        goto error;
    uint64_t every = l->eps.n > 1 ? LINK_DIAL_CHECK_MANY_MS : LINK_DIAL_CHECK_MS;
    uv_timer_start(&l->dial_timer, dial_timer_cb, every, every);
    *out = l;
    return 0;
error:
    worker_link_destroy(l);
    return rc;
}

void worker_link_destroy(worker_link_t *l)
{
    if (!l || l->closing)
        return;
    l->closing = true;
    l->state = LINK_DISCONNECTED;
    cairn_net_destroy(l->net);
    l->net = NULL;
    if (cairn_nng_close_bounded(l->sock, LINK_CLOSE_MAX_MS) < 0)
        cairn_log(l->log, CAIRN_LOG_WARN, "closing the connection got stuck in nng: left behind");
    uv_close((uv_handle_t *)&l->register_timer, close_cb);
    uv_close((uv_handle_t *)&l->heartbeat_timer, close_cb);
    uv_close((uv_handle_t *)&l->dial_timer, close_cb);
    uv_close((uv_handle_t *)&l->hold_timer, close_cb);
}
