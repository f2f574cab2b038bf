/* The JSON API: each request handed to the loop as the client request it
 * mirrors (a Cairn__WebRequest over the scheduler's private inproc://
 * endpoint, so the client API's rules apply), its reply written as JSON
 * here, off the loop, and shared for up to a second by every client of the
 * same identity asking the same URL; see web_private.h. */
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/report.h"
#include "common/clock.h"
#include "proto/client.pb-c.h"
#include "proto/json.h"
#include "proto/net.h"
#include "scheduler/web_private.h"

#define CACHE_MAX 512
#define INFLIGHT_MAX 64
#define CALL_MS 30000
#define REPORT_PAGES_MAX 100 /* of 20,000 records */

/* One URL's answer for one identity, shared while fresh. */
typedef struct entry {
    char *key;
    int64_t at; /* when it was filled (web_http_now_ms); 0: never */
    int ttl_ms;
    int status;
    web_blob_t *body;
    bool filling;
    uint64_t *waiters;
    size_t nwait, wcap;
} entry_t;

/* A call to the loop in flight. */
typedef struct op {
    web_api_t *a;
    entry_t *e;
    web_call_t call;
    char user[256];
    nng_ctx ctx;
    nng_aio *aio;
    bool receiving;
    int rv;
    nng_msg *reply;
    /* WEB_REPORT: what was gathered so far */
    int stage; /* 0 accounting pages, 1 usage, 2 nodes */
    report_acct_t acct;
    ProtobufCMessage *usage, *nodes;
} op_t;

struct web_api {
    web_http_t *http;
    nng_socket sock;
    bool open;
    entry_t *cache[CACHE_MAX];
    size_t ncache;
    op_t *ops[INFLIGHT_MAX];
};

static const char *api_type = "application/json; charset=utf-8";

/* --- the cache -------------------------------------------------------------- */

static void entry_free(entry_t *e)
{
    web_blob_unref(e->body);
    free(e->waiters);
    free(e->key);
    free(e);
}

/* The entry of key, made when missing (evicting the oldest idle one when
 * full); NULL when out of memory or every entry is being filled. */
static entry_t *entry_get(web_api_t *a, const char *key)
{
    size_t oldest = SIZE_MAX;
    for (size_t i = 0; i < a->ncache; i++) {
        if (!strcmp(a->cache[i]->key, key))
            return a->cache[i];
        if (!a->cache[i]->filling && (oldest == SIZE_MAX || a->cache[i]->at < a->cache[oldest]->at))
            oldest = i;
    }
    if (a->ncache == CACHE_MAX) {
        if (oldest == SIZE_MAX)
            return NULL;
        entry_free(a->cache[oldest]);
        a->cache[oldest] = a->cache[--a->ncache];
    }
    entry_t *e = calloc(1, sizeof(*e));
    if (!e || !(e->key = strdup(key))) {
        free(e);
        return NULL;
    }
    a->cache[a->ncache++] = e;
    return e;
}

static bool entry_wait(entry_t *e, uint64_t token)
{
    if (e->nwait == e->wcap) {
        size_t cap = e->wcap ? 2 * e->wcap : 4;
        uint64_t *w = realloc(e->waiters, cap * sizeof(*w));
        if (!w)
            return false;
        e->waiters = w;
        e->wcap = cap;
    }
    e->waiters[e->nwait++] = token;
    return true;
}

static void answer(web_api_t *a, uint64_t token, int status, web_blob_t *body, int64_t age_ms)
{
    char hdr[96];
    snprintf(hdr, sizeof(hdr), "Cache-Control: max-age=1\r\nX-Cairn-Age-Ms: %lld\r\n",
             (long long)(age_ms > 0 ? age_ms : 0));
    web_res_t r = {.status = status, .type = api_type, .blob = body, .headers = hdr};
    if (!body) {
        static const char oom[] = "{\"error\": {\"code\": \"internal\", \"message\": \"out of "
                                  "memory\"}}\n";
        r.status = 500;
        r.data = oom;
        r.len = sizeof(oom) - 1;
    }
    web_http_respond(a->http, token, &r);
}

/* Fill e with an answer (taken) and send it to everyone waiting; an
 * answer that says "try again" (5xx) is not kept. */
static void entry_fill(web_api_t *a, entry_t *e, int status, web_blob_t *body)
{
    web_blob_unref(e->body);
    e->body = body;
    e->status = status;
    e->at = status >= 500 ? 0 : web_http_now_ms();
    e->filling = false;
    for (size_t i = 0; i < e->nwait; i++)
        answer(a, e->waiters[i], status, body, 0);
    e->nwait = 0;
}

/* --- replies as JSON -------------------------------------------------------- */

static int http_status(Cairn__ErrorCode code)
{
    switch (code) {
    case CAIRN__ERROR_CODE__ERROR_CODE_BAD_REQUEST:
        return 400;
    case CAIRN__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED:
        return 403;
    case CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND:
        return 404;
    case CAIRN__ERROR_CODE__ERROR_CODE_FAILED_PRECONDITION:
        return 409;
    case CAIRN__ERROR_CODE__ERROR_CODE_RESOURCE_EXHAUSTED:
    case CAIRN__ERROR_CODE__ERROR_CODE_UNAVAILABLE:
    case CAIRN__ERROR_CODE__ERROR_CODE_NOT_LEADER:
        return 503;
    default:
        return 500;
    }
}

static web_blob_t *blob_of(json_t *doc)
{
    char *t = cairn_json_text(doc, CAIRN_JSON_LINE);
    web_blob_t *b = t ? web_blob_new(t, strlen(t)) : NULL;
    free(t);
    return b;
}

/* An ErrorReply as the API's error. */
static web_blob_t *error_of(const Cairn__ErrorReply *er, int *status)
{
    json_t *code = cairn_json_msg_flags(&er->base, CAIRN_JSON_ENUM_SHORT);
    json_t *c = code ? json_object_get(code, "code") : NULL;
    web_blob_t *b = web_error_blob(c && json_is_string(c) ? json_string_value(c) : "internal",
                                   er->message, er->leader);
    json_decref(code);
    *status = http_status(er->code);
    return b;
}

/* A LogsReply with its bytes as text (each byte that is not UTF-8 as
 * U+FFFD, a NUL too) in place of data. */
static web_blob_t *logs_of(const Cairn__LogsReply *r)
{
    json_t *doc = cairn_json_msg_flags(&r->base, CAIRN_JSON_ENUM_SHORT);
    char *text = malloc(r->data.len + 1);
    if (!doc || !text) {
        json_decref(doc);
        free(text);
        return NULL;
    }
    for (size_t i = 0; i < r->data.len; i++)
        text[i] = r->data.data[i] ? (char)r->data.data[i] : (char)0xff;
    text[r->data.len] = '\0';
    json_object_del(doc, "data");
    cairn_json_set(&doc, "text", cairn_json_str(text));
    free(text);
    return blob_of(doc);
}

/* --- calls to the loop ------------------------------------------------------ */

static void op_free(op_t *op)
{
    if (!op)
        return;
    web_api_t *a = op->a;
    for (size_t i = 0; i < INFLIGHT_MAX; i++)
        if (a->ops[i] == op)
            a->ops[i] = NULL;
    if (op->aio)
        nng_aio_free(op->aio);
    nng_ctx_close(op->ctx);
    if (op->reply)
        nng_msg_free(op->reply);
    free(op->call.req);
    report_acct_fini(&op->acct);
    cairn_msg_free(op->usage);
    cairn_msg_free(op->nodes);
    free(op);
}

static void op_done(void *arg);

/* nng's thread: the request went out, or its reply came. */
static void op_cb(void *arg)
{
    op_t *op = arg;
    int rv = nng_aio_result(op->aio);
    if (!op->receiving && rv == 0) {
        op->receiving = true;
        nng_aio_set_timeout(op->aio, CALL_MS);
        nng_ctx_recv(op->ctx, op->aio);
        return;
    }
    if (!op->receiving && nng_aio_get_msg(op->aio))
        nng_msg_free(nng_aio_get_msg(op->aio));
    op->rv = rv;
    op->reply = rv == 0 ? nng_aio_get_msg(op->aio) : NULL;
    /* out of memory for the post: the call is never finished and its
     * waiters keep waiting (the op is freed with the server); a post
     * node kept in the op would close this gap */
    if (web_http_post(op->a->http, op_done, op) < 0)
        op->rv = NNG_ENOMEM;
}

/* Send the request now in op->call (wrapped for op->user). */
static int op_send(op_t *op)
{
    Cairn__WebRequest w = CAIRN__WEB_REQUEST__INIT;
    w.user = op->user;
    w.request.data = op->call.req;
    w.request.len = op->call.req_len;
    uint8_t *buf = NULL;
    size_t len = 0;
    cairn_error_t err = {{0}};
    if (cairn_msg_encode(CAIRN_MSG_WEB, &w.base, &buf, &len, &err) < 0)
        return -EINVAL;
    nng_msg *m = NULL;
    int rv = nng_msg_alloc(&m, 0);
    if (rv == 0)
        rv = nng_msg_append(m, buf, len);
    free(buf);
    if (rv != 0) {
        if (m)
            nng_msg_free(m);
        return -ENOMEM;
    }
    op->receiving = false;
    if (op->reply) {
        nng_msg_free(op->reply);
        op->reply = NULL;
    }
    nng_aio_set_msg(op->aio, m);
    nng_aio_set_timeout(op->aio, CALL_MS);
    nng_ctx_send(op->ctx, op->aio);
    return 0;
}

/* The next request of a report, once the one before is answered. */
static int report_next(op_t *op, ProtobufCMessage *m)
{
    cairn_error_t err = {{0}};
    free(op->call.req);
    op->call.req = NULL;
    if (op->stage == 0) {
        Cairn__AccountingReply *r = (Cairn__AccountingReply *)m;
        bool more = r->more && r->n_records;
        uint64_t after = r->next_attempt_id;
        uint32_t rank = r->next_rank;
        if (report_acct_add(&op->acct, m) < 0)
            return -ENOMEM;
        if (more && op->acct.npages >= REPORT_PAGES_MAX)
            return -E2BIG;
        if (more) {
            Cairn__AccountingRequest q = CAIRN__ACCOUNTING_REQUEST__INIT;
            q.since_ms = op->call.from_ms;
            q.until_ms = op->call.to_ms;
            q.after_attempt_id = after;
            q.after_rank = rank;
            q.limit = 20000;
            return cairn_msg_encode(CAIRN_MSG_ACCOUNTING, &q.base, &op->call.req, &op->call.req_len,
                                    &err);
        }
        op->stage = 1;
        op->call.want = CAIRN_MSG_USAGE_REPLY;
        Cairn__UsageRequest u = CAIRN__USAGE_REQUEST__INIT;
        u.since_ms = op->call.from_ms;
        u.until_ms = op->call.to_ms;
        return cairn_msg_encode(CAIRN_MSG_USAGE, &u.base, &op->call.req, &op->call.req_len, &err);
    }
    if (op->stage == 1) {
        op->usage = m;
        op->stage = 2;
        op->call.want = CAIRN_MSG_NODES_REPLY;
        Cairn__NodesRequest q = CAIRN__NODES_REQUEST__INIT;
        q.removed = true;
        return cairn_msg_encode(CAIRN_MSG_NODES, &q.base, &op->call.req, &op->call.req_len, &err);
    }
    op->nodes = m;
    op->stage = 3;
    return 0;
}

static web_blob_t *report_of(op_t *op)
{
    report_input_t in = {.from_ms = op->call.from_ms,
                         .to_ms = op->call.to_ms,
                         .acct = &op->acct.all,
                         .usage = (const Cairn__UsageReply *)op->usage,
                         .nodes = (const Cairn__NodesReply *)op->nodes,
                         .by = (report_by_t)op->call.by,
                         .account = op->call.account};
    report_t r;
    if (report_compute(&in, &r) < 0)
        return NULL;
    web_blob_t *b = blob_of(report_json(&in, &r));
    report_fini(&r);
    return b;
}

/* The server's thread: op's reply (or failure) is in. */
static void op_done(void *arg)
{
    op_t *op = arg;
    web_api_t *a = op->a;
    entry_t *e = op->e;
    if (web_http_closing(a->http)) {
        e->filling = false;
        e->nwait = 0;
        op_free(op);
        return;
    }
    int status = 200;
    web_blob_t *body = NULL;
    if (op->rv != 0) {
        status = op->rv == NNG_ETIMEDOUT ? 504 : 503;
        body =
            web_error_blob("unavailable",
                           op->rv == NNG_ETIMEDOUT ? "the scheduler did not answer in time"
                                                   : "the scheduler's loop cannot be reached now",
                           NULL);
        entry_fill(a, e, status, body);
        op_free(op);
        return;
    }
    cairn_msg_type_t type;
    ProtobufCMessage *m = NULL;
    cairn_error_t err = {{0}};
    if (cairn_msg_decode(nng_msg_body(op->reply), nng_msg_len(op->reply), 0, &type, &m, &err) < 0) {
        body = web_error_blob("internal", err.text, NULL);
        status = 500;
    } else if (type == CAIRN_MSG_ERROR) {
        body = error_of((const Cairn__ErrorReply *)m, &status);
    } else if (type != op->call.want) {
        body = web_error_blob("internal", "the scheduler answered with another message", NULL);
        status = 500;
    } else if (op->call.kind == WEB_REPORT) {
        int rc = report_next(op, m);
        m = NULL; /* taken */
        if (rc == 0 && op->stage < 3 && op_send(op) == 0)
            return; /* the next part */
        if (rc == 0 && op->stage == 3) {
            body = report_of(op);
        } else {
            status = rc == -E2BIG ? 400 : 500;
            body = web_error_blob(rc == -E2BIG ? "bad_request" : "internal",
                                  rc == -E2BIG ? "the window holds more than 2,000,000 attempt "
                                                 "records: choose a shorter one"
                                               : "out of memory",
                                  NULL);
        }
    } else if (op->call.kind == WEB_LOGS) {
        body = logs_of((const Cairn__LogsReply *)m);
    } else {
        body = blob_of(cairn_json_msg_flags(m, CAIRN_JSON_ENUM_SHORT));
    }
    cairn_msg_free(m);
    e->ttl_ms = op->call.ttl_ms;
    entry_fill(a, e, body ? status : 500, body);
    op_free(op);
}

/* Start the call for e. */
static void call_start(web_api_t *a, entry_t *e, web_call_t *call, const char *user)
{
    size_t slot = INFLIGHT_MAX;
    for (size_t i = 0; i < INFLIGHT_MAX && slot == INFLIGHT_MAX; i++)
        if (!a->ops[i])
            slot = i;
    op_t *op = slot < INFLIGHT_MAX ? calloc(1, sizeof(*op)) : NULL;
    if (!op) {
        free(call->req);
        entry_fill(a, e, 503,
                   web_error_blob("resource_exhausted",
                                  "too many API requests in flight: try again", NULL));
        return;
    }
    op->a = a;
    op->e = e;
    op->call = *call;
    snprintf(op->user, sizeof(op->user), "%s", user);
    a->ops[slot] = op;
    if (nng_ctx_open(&op->ctx, a->sock) != 0 || nng_aio_alloc(&op->aio, op_cb, op) != 0 ||
        op_send(op) < 0) {
        entry_fill(a, e, 503, web_error_blob("unavailable", "cannot reach the loop", NULL));
        op_free(op);
    }
}

/* --- the API ---------------------------------------------------------------- */

static void whoami(web_api_t *a, const web_req_t *rq)
{
    json_t *doc = json_object();
    cairn_json_set(&doc, "user", cairn_json_str(rq->user[0] ? rq->user : "anonymous"));
    cairn_json_set(&doc, "anonymous", json_boolean(!rq->user[0]));
    cairn_json_set(&doc, "tls", json_boolean(rq->tls));
    web_blob_t *b = blob_of(doc);
    answer(a, rq->token, 200, b, 0);
    web_blob_unref(b);
}

void web_api_request(web_api_t *a, const web_req_t *rq)
{
    web_call_t call;
    char why[512];
    int st = web_route(rq->path + strlen("/api/v1"), rq->query, cairn_wall_ms(), &call, why,
                       sizeof(why));
    if (st != 0) {
        web_blob_t *b = web_error_blob(st == 404 ? "not_found" : "bad_request", why, NULL);
        answer(a, rq->token, st, b, 0);
        web_blob_unref(b);
        return;
    }
    if (call.kind == WEB_WHOAMI) {
        whoami(a, rq);
        return;
    }
    /* the key: who asks, and what (the path and query as sent) */
    size_t kl = strlen(rq->user) + strlen(rq->path) + strlen(rq->query) + 3;
    char *key = malloc(kl);
    entry_t *e = NULL;
    if (key) {
        snprintf(key, kl, "%s\n%s?%s", rq->user, rq->path, rq->query);
        e = entry_get(a, key);
        free(key);
    }
    if (!e) {
        free(call.req);
        web_blob_t *b =
            web_error_blob("resource_exhausted", "too many API requests: try again", NULL);
        answer(a, rq->token, 503, b, 0);
        web_blob_unref(b);
        return;
    }
    int64_t now = web_http_now_ms();
    if (!e->filling && e->at && now - e->at < e->ttl_ms) {
        free(call.req);
        answer(a, rq->token, e->status, e->body, now - e->at);
        return;
    }
    if (!entry_wait(e, rq->token)) {
        free(call.req);
        answer(a, rq->token, 500, NULL, 0);
        return;
    }
    if (e->filling) {
        free(call.req);
        return; /* answered with the call already on its way */
    }
    e->filling = true;
    call_start(a, e, &call, rq->user);
}

int web_api_create(web_http_t *http, const char *inproc_url, web_api_t **out, cairn_error_t *err)
{
    web_api_t *a = calloc(1, sizeof(*a));
    if (!a)
        return errcode(err, -ENOMEM, "out of memory");
    a->http = http;
    int rv = nng_req0_open(&a->sock);
    if (rv == 0) {
        a->open = true;
        nng_socket_set_ms(a->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
        nng_socket_set_size(a->sock, NNG_OPT_RECVMAXSZ, 0); /* the loop's replies: any size */
        rv = nng_dial(a->sock, inproc_url, NULL, NNG_FLAG_NONBLOCK);
    }
    if (rv != 0) {
        web_api_destroy(a);
        return errcode(err, -EIO, "web api: %s: %s", inproc_url, nng_strerror(rv));
    }
    *out = a;
    return 0;
}

void web_api_stop(web_api_t *a)
{
    if (!a)
        return;
    /* the server has stopped: stop every call (its callback posts op_done,
     * which web_http_stop's caller runs with closing set) */
    for (size_t i = 0; i < INFLIGHT_MAX; i++)
        if (a->ops[i])
            nng_aio_stop(a->ops[i]->aio);
}

void web_api_destroy(web_api_t *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < INFLIGHT_MAX; i++)
        op_free(a->ops[i]);
    if (a->open)
        cairn_nng_close_bounded(a->sock, 1000);
    for (size_t i = 0; i < a->ncache; i++)
        entry_free(a->cache[i]);
    free(a);
}
