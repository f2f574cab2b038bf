/* Requests from clients: the table of handlers, one per request type,
 * and signed requests. Each request gets exactly one reply, after the
 * commit when it acknowledges a change; the handlers live in
 * clients_<area>.c. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "proto/sign.h"
#include "scheduler/clients_private.h"

int clients_listen(nng_socket s, const char *url, const cairn_tls_t *tls, cairn_error_t *err)
{
    nng_listener l;
    int rv = nng_listener_create(&l, s, url);
    if (rv != 0)
        return rv;
    if ((rv = cairn_tls_listener(l, url, tls, err)) != 0) {
        nng_listener_close(l);
        return rv;
    }
    if (!strncmp(url, "ipc://", 6) &&
        (rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, 0666)) != 0) {
        nng_listener_close(l);
        return rv;
    }
    if ((rv = nng_listener_start(l, 0)) != 0)
        nng_listener_close(l);
    return rv;
}

/* --- the handlers ------------------------------------------------------------ */

/* A handler of any request: the message is of the type its entry names
 * (the envelope decoded it by that type). */
typedef void (*client_handler_f)(sched_daemon_t *d, const client_req_t *rq,
                                 const ProtobufCMessage *msg);

/* The entry for handler fn of messages T (descriptor desc): checks the
 * message is one, and calls fn with its own type. */
#define HANDLER(fn, T, desc)                                                                       \
    static void fn##_entry(sched_daemon_t *d, const client_req_t *rq, const ProtobufCMessage *m)   \
    {                                                                                              \
        if (m->descriptor == &desc)                                                                \
            fn(d, rq, (const T *)m);                                                               \
    }
HANDLER(clients_submit, Cairn__SubmitRequest, cairn__submit_request__descriptor)
HANDLER(clients_status, Cairn__JobStatusRequest, cairn__job_status_request__descriptor)
HANDLER(clients_list, Cairn__ListJobsRequest, cairn__list_jobs_request__descriptor)
HANDLER(clients_cancel, Cairn__CancelRequest, cairn__cancel_request__descriptor)
HANDLER(clients_logs, Cairn__LogsRequest, cairn__logs_request__descriptor)
HANDLER(clients_nodes, Cairn__NodesRequest, cairn__nodes_request__descriptor)
HANDLER(clients_drain, Cairn__DrainRequest, cairn__drain_request__descriptor)
HANDLER(clients_explain, Cairn__ExplainRequest, cairn__explain_request__descriptor)
HANDLER(clients_audit, Cairn__AuditRequest, cairn__audit_request__descriptor)
HANDLER(clients_provenance, Cairn__ProvenanceRequest, cairn__provenance_request__descriptor)
HANDLER(clients_accounting, Cairn__AccountingRequest, cairn__accounting_request__descriptor)
HANDLER(clients_usage, Cairn__UsageRequest, cairn__usage_request__descriptor)
HANDLER(clients_node_remove, Cairn__NodeRemoveRequest, cairn__node_remove_request__descriptor)
HANDLER(clients_gpu_enable, Cairn__GpuEnableRequest, cairn__gpu_enable_request__descriptor)
HANDLER(clients_account, Cairn__AccountRequest, cairn__account_request__descriptor)
HANDLER(clients_graph, Cairn__JobGraphRequest, cairn__job_graph_request__descriptor)

/* `cairn schedulers`: anyone may ask (daemon_lead.c) */
static void schedulers_entry(sched_daemon_t *d, const client_req_t *rq, const ProtobufCMessage *m)
{
    (void)m;
    daemon_schedulers_reply(d, rq->from);
}

static const struct {
    cairn_msg_type_t type;
    client_handler_f fn;
} handlers[] = {
    {CAIRN_MSG_SUBMIT, clients_submit_entry},
    {CAIRN_MSG_JOB_STATUS, clients_status_entry},
    {CAIRN_MSG_LIST_JOBS, clients_list_entry},
    {CAIRN_MSG_CANCEL, clients_cancel_entry},
    {CAIRN_MSG_LOGS, clients_logs_entry},
    {CAIRN_MSG_NODES, clients_nodes_entry},
    {CAIRN_MSG_DRAIN, clients_drain_entry},
    {CAIRN_MSG_EXPLAIN, clients_explain_entry},
    {CAIRN_MSG_AUDIT, clients_audit_entry},
    {CAIRN_MSG_PROVENANCE, clients_provenance_entry},
    {CAIRN_MSG_ACCOUNTING, clients_accounting_entry},
    {CAIRN_MSG_USAGE, clients_usage_entry},
    {CAIRN_MSG_NODE_RM, clients_node_remove_entry},
    {CAIRN_MSG_GPU_ENABLE, clients_gpu_enable_entry},
    {CAIRN_MSG_ACCOUNT, clients_account_entry},
    {CAIRN_MSG_SCHEDULERS, schedulers_entry},
    {CAIRN_MSG_JOB_GRAPH, clients_graph_entry},
};

/* Handle a request from (signed_user: the CN of the certificate that
 * signed it, NULL when not signed): false if its type is not a client
 * request. */
static bool handle(sched_daemon_t *d, const cairn_peer_t *from, const char *signed_user,
                   cairn_msg_type_t type, const ProtobufCMessage *msg)
{
    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
        if (handlers[i].type == type) {
            client_req_t rq = {.from = from};
            access_identify(from->pipe, signed_user, &rq.id);
            handlers[i].fn(d, &rq, msg);
            return true;
        }
    return false;
}

/* A request signed with a client certificate's key: honoured on verified
 * TLS connections only, the certificate checked against --tls-ca; the
 * inner request is then handled as sent by the certificate's CN. */
static void on_signed(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__SignedRequest *r)
{
    bool verified = false;
    if (nng_pipe_get_bool(from->pipe, NNG_OPT_TLS_VERIFIED, &verified) != 0 || !verified) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED,
                      "signed requests are accepted only over tls+tcp:// with a verified "
                      "client certificate");
        return;
    }
    if (!d->verifier) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED,
                      "signed requests need the scheduler's --tls-ca");
        return;
    }
    char user[256];
    cairn_error_t err = {{0}};
    int rc = cairn_verifier_check(d->verifier, r, cairn_wall_ms(), user, sizeof(user), &err);
    if (rc < 0) {
        cairn_log(d->log, CAIRN_LOG_WARN, "refused a signed client request: %s", err.text);
        clients_error(d, from,
                      rc == -EPROTO ? CAIRN__ERROR_CODE__ERROR_CODE_UNSUPPORTED
                                    : CAIRN__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED,
                      "%s", err.text);
        return;
    }
    cairn_msg_type_t type;
    ProtobufCMessage *inner = NULL;
    if (cairn_msg_decode(r->request.data, r->request.len, d->cfg.max_msg, &type, &inner, &err) <
        0) {
        d->stats.bad_messages++;
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_BAD_REQUEST, "signed request: %s",
                      err.text);
        return;
    }
    bool known = type != CAIRN_MSG_SIGNED && handle(d, from, user, type, inner);
    if (!known) {
        d->stats.bad_messages++;
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_UNSUPPORTED,
                      "signed %s is not a client request", cairn_msg_type_name(type));
    }
    cairn_msg_free(inner);
}

/* A request made by the scheduler's own HTTP server (web.h) for one of
 * its clients: honoured only on an inproc:// pipe, which nothing outside
 * this process can dial; the inner request is then handled as sent by
 * the HTTP client's certificate CN (r->user), or by an anonymous client. */
static void on_web(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__WebRequest *r)
{
    nng_sockaddr sa;
    if (nng_pipe_get_addr(from->pipe, NNG_OPT_REMADDR, &sa) != 0 || sa.s_family != NNG_AF_INPROC) {
        d->stats.bad_messages++;
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED,
                      "web requests are accepted only from the scheduler's own HTTP server");
        return;
    }
    cairn_msg_type_t type;
    ProtobufCMessage *inner = NULL;
    cairn_error_t err = {{0}};
    if (cairn_msg_decode(r->request.data, r->request.len, d->cfg.max_msg, &type, &inner, &err) <
        0) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_BAD_REQUEST, "web request: %s",
                      err.text);
        return;
    }
    const char *user = r->user && r->user[0] ? r->user : NULL;
    if (type == CAIRN_MSG_SIGNED || type == CAIRN_MSG_WEB || !handle(d, from, user, type, inner))
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_UNSUPPORTED,
                      "web %s is not a client request", cairn_msg_type_name(type));
    cairn_msg_free(inner);
}

void clients_recv(cairn_net_t *n, const cairn_peer_t *from, cairn_msg_type_t type,
                  ProtobufCMessage *msg, void *arg)
{
    sched_daemon_t *d = arg;
    (void)n;
    if (daemon_standby(d)) {
        daemon_standby_client(d, from, type);
        return;
    }
    if (!daemon_may_speak(d))
        return;
    if (type == CAIRN_MSG_SIGNED) {
        on_signed(d, from, (const Cairn__SignedRequest *)msg);
        return;
    }
    if (type == CAIRN_MSG_WEB) {
        on_web(d, from, (const Cairn__WebRequest *)msg);
        return;
    }
    if (handle(d, from, NULL, type, msg))
        return;
    d->stats.bad_messages++;
    clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_UNSUPPORTED, "%s is not a client request",
                  cairn_msg_type_name(type));
}

void clients_bad(cairn_net_t *n, const cairn_peer_t *from, int code, const char *why, void *arg)
{
    sched_daemon_t *d = arg;
    (void)n;
    d->stats.bad_messages++;
    cairn_log(d->log, CAIRN_LOG_WARN, "refused a client message: %s", why);
    clients_error(d, from,
                  code == -EPROTONOSUPPORT ? CAIRN__ERROR_CODE__ERROR_CODE_UNSUPPORTED
                  : code == -EMSGSIZE      ? CAIRN__ERROR_CODE__ERROR_CODE_RESOURCE_EXHAUSTED
                                           : CAIRN__ERROR_CODE__ERROR_CODE_BAD_REQUEST,
                  "%s", why);
}
