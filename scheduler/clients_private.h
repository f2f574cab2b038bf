/* Internals shared by the files that answer clients (clients*.c): the
 * request being handled, the reply plumbing, and each request's handler.
 * clients.c calls the handlers; the handlers call clients_reply.c, the
 * subsystems and the batch, never back into clients.c. */
#ifndef CAIRN_SCHEDULER_CLIENTS_PRIVATE_H
#define CAIRN_SCHEDULER_CLIENTS_PRIVATE_H

#include <stdbool.h>

#include "proto/client.pb-c.h"
#include "scheduler/access.h"
#include "scheduler/daemon_private.h"
#include "scheduler/reader.h"

/* A client request being handled: who sent it, and on which connection,
 * where its one reply goes. */
typedef struct client_req {
    const cairn_peer_t *from;
    client_id_t id; /* resolved once, signed or from the socket (access.h) */
} client_req_t;

/* --- clients_reply.c: replies ------------------------------------------------ */

/* A reply (after the commit when one is open). */
void clients_reply(sched_daemon_t *d, const cairn_peer_t *to, cairn_msg_type_t type,
                   const ProtobufCMessage *msg);
/* An ErrorReply with code and a message. */
void clients_error(sched_daemon_t *d, const cairn_peer_t *to, Cairn__ErrorCode code,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Send an encoded reply (or, when error is not empty, the error). */
void clients_reply_raw(sched_daemon_t *d, const cairn_peer_t *to, const uint8_t *buf, size_t len,
                       const char *error);
/* Run a read on the reader thread (reader.h), or answer why not (busy):
 * returns reader_submit's code; on failure done was not queued. */
int clients_read_later(sched_daemon_t *d, const cairn_peer_t *from, reader_work_f work,
                       reader_done_f done, void *arg);

/* A read answered from the reader thread (clients_read_later): its
 * encoded reply or, with error, the error (code; 0: internal), for whom. */
typedef struct read_reply {
    sched_daemon_t *d;
    cairn_peer_t to;
    uint8_t *reply;
    size_t reply_len;
    char error[512];
    Cairn__ErrorCode code;
} read_reply_t;
/* Send r's answer (not when aborted) and free its reply (not r). */
void clients_read_done(read_reply_t *r, bool aborted);

/* What one reply needs freed after it is sent: malloc'd blocks, and
 * messages from protobuf-c unpack. oom: a keep failed. */
typedef struct frees {
    void **v;
    size_t n, cap;
    ProtobufCMessage **msgs;
    size_t nmsgs, msgs_cap;
    bool oom;
} frees_t;
/* Keep p (NULL: sets oom) until clients_frees_fini; returns p, or NULL
 * (then p was freed). */
void *clients_keep(frees_t *f, void *p);
void clients_keep_msg(frees_t *f, ProtobufCMessage *m);
void clients_frees_fini(frees_t *f);

/* Why and by whom attempt ai was preempted, as the pass recorded it (or,
 * if that is not readable, from the core); NULL when it was not. */
Cairn__Preemption *clients_preemption(sched_daemon_t *d, const sched_attempt_info_t *ai,
                                      frees_t *f);

/* --- clients_access.c: refusals ------------------------------------------------ */

/* May the client change things at all (what: "submit jobs")? Answers the
 * refusal itself when not. */
bool clients_may_write(sched_daemon_t *d, const client_req_t *rq, const char *what);
/* May the client act (verb: "cancel", "read logs of") on job? Answers
 * the refusal itself when not. */
bool clients_may_touch_job(sched_daemon_t *d, const client_req_t *rq, uint32_t job,
                           const char *verb);
/* Whether job job_id exists and has a task name (then *task is it);
 * when not, the client was told which does not. */
bool clients_find_task(sched_daemon_t *d, const client_req_t *rq, uint64_t job_id, const char *name,
                       uint32_t *task);

/* --- the handlers, one per request --------------------------------------------- */

/* clients_jobs.c */
void clients_submit(sched_daemon_t *d, const client_req_t *rq, const Cairn__SubmitRequest *r);
void clients_cancel(sched_daemon_t *d, const client_req_t *rq, const Cairn__CancelRequest *r);
void clients_logs(sched_daemon_t *d, const client_req_t *rq, const Cairn__LogsRequest *r);
void clients_explain(sched_daemon_t *d, const client_req_t *rq, const Cairn__ExplainRequest *r);
/* clients_status.c */
void clients_status(sched_daemon_t *d, const client_req_t *rq, const Cairn__JobStatusRequest *r);
void clients_list(sched_daemon_t *d, const client_req_t *rq, const Cairn__ListJobsRequest *r);
/* A live job's status reply (sum is its summary; a page limit of
 * UINT32_MAX: every task), allocated in f. */
void clients_status_fill(sched_daemon_t *d, uint32_t job, const status_page_t *pg,
                         Cairn__JobStatusReply *rep, Cairn__JobSummary *sum, frees_t *f);
/* clients_nodes.c */
void clients_nodes(sched_daemon_t *d, const client_req_t *rq, const Cairn__NodesRequest *r);
void clients_drain(sched_daemon_t *d, const client_req_t *rq, const Cairn__DrainRequest *r);
void clients_node_remove(sched_daemon_t *d, const client_req_t *rq,
                         const Cairn__NodeRemoveRequest *r);
void clients_gpu_enable(sched_daemon_t *d, const client_req_t *rq,
                        const Cairn__GpuEnableRequest *r);
/* clients_audit.c */
void clients_audit(sched_daemon_t *d, const client_req_t *rq, const Cairn__AuditRequest *r);
/* clients_prov.c */
void clients_provenance(sched_daemon_t *d, const client_req_t *rq,
                        const Cairn__ProvenanceRequest *r);
/* A live job's provenance (only: one task's index, -1: every task; raw:
 * the spec text as submitted), allocated in p; *masked (may be NULL)
 * gets the spec text with secret values masked. -ENOENT, -ENOMEM. */
int clients_prov_fill(sched_daemon_t *d, uint32_t job, int64_t only, bool raw, frees_t *p,
                      Cairn__JobProvenance *jp, char **masked);
/* clients_accounts.c */
void clients_account(sched_daemon_t *d, const client_req_t *rq, const Cairn__AccountRequest *r);
/* The account a job of the client goes to (asked: the spec's account:,
 * "" none) into out (n bytes): 0; -EACCES, the client may not charge it,
 * or -EINVAL, the spec must name one (why, wn bytes, says which and lists
 * the client's accounts); -ENOMEM. See members_charge. */
int clients_charge(sched_daemon_t *d, const client_req_t *rq, const char *asked, char *out,
                   size_t n, char *why, size_t wn);
/* clients_graph.c */
void clients_graph(sched_daemon_t *d, const client_req_t *rq, const Cairn__JobGraphRequest *r);
/* clients_acct.c */
void clients_accounting(sched_daemon_t *d, const client_req_t *rq,
                        const Cairn__AccountingRequest *q);
void clients_usage(sched_daemon_t *d, const client_req_t *rq, const Cairn__UsageRequest *q);

#endif
