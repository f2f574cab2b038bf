/* AuditRequest: list the audit trail (audit.h) or verify its chain. */
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"
#include "scheduler/clients_private.h"

typedef struct audit_out {
    Cairn__AuditEntry **v;
    size_t n, cap;
    bool failed;
} audit_out_t;

static int audit_collect(const audit_entry_t *e, void *arg)
{
    audit_out_t *o = arg;
    if (CAIRN_GROW(o->v, o->cap, o->n + 1) < 0) {
        o->failed = true;
        return 1;
    }
    Cairn__AuditEntry *m = malloc(sizeof(*m));
    if (!m) {
        o->failed = true;
        return 1;
    }
    cairn__audit_entry__init(m);
    m->seq = e->seq;
    m->time_ms = e->time_ms;
    m->user = strdup(e->user);
    m->action = strdup(e->action);
    m->target = strdup(e->target);
    m->detail = strdup(e->detail);
    m->prev_hash = strdup(e->prev);
    m->hash = strdup(e->hash);
    o->v[o->n++] = m;
    if (!m->user || !m->action || !m->target || !m->detail || !m->prev_hash || !m->hash) {
        o->failed = true;
        return 1;
    }
    return 0;
}

static void audit_out_fini(audit_out_t *o)
{
    for (size_t i = 0; i < o->n; i++) {
        Cairn__AuditEntry *m = o->v[i];
        free(m->user);
        free(m->action);
        free(m->target);
        free(m->detail);
        free(m->prev_hash);
        free(m->hash);
        free(m);
    }
    free(o->v);
}

/* A read of the trail on the reader thread (reader.h): the whole chain's
 * verification, or a listing. */
typedef struct audit_job {
    sched_daemon_t *d;
    cairn_peer_t from;
    bool verify;
    char *expect_head, *user;
    int64_t since;
    uint32_t limit;
    uint8_t *reply;
    size_t reply_len;
    char error[256];
    bool bad_chain;
    char problem[256];
} audit_job_t;

static void audit_work(const reader_stores_t *st, void *arg)
{
    audit_job_t *j = arg;
    Cairn__AuditReply rep = CAIRN__AUDIT_REPLY__INIT;
    cairn_error_t err = {{0}};
    audit_out_t o = {0};
    audit_check_t c;
    if (j->verify) {
        if (audit_verify(st->audit, j->expect_head, &c, &err) < 0) {
            snprintf(j->error, sizeof(j->error), "%s", err.text);
            return;
        }
        rep.verified = true;
        rep.ok = c.ok;
        rep.count = c.count;
        rep.head = c.head;
        rep.bad_seq = c.bad_seq;
        rep.problem = c.problem;
        j->bad_chain = !c.ok;
        snprintf(j->problem, sizeof(j->problem), "%s", c.problem);
    } else {
        if (audit_list(st->audit, j->since, j->user, j->limit, audit_collect, &o, &err) < 0 ||
            o.failed) {
            snprintf(j->error, sizeof(j->error), "%s", o.failed ? "out of memory" : err.text);
            audit_out_fini(&o);
            return;
        }
        rep.n_entries = o.n;
        rep.entries = o.v;
    }
    if (cairn_msg_encode(CAIRN_MSG_AUDIT_REPLY, &rep.base, &j->reply, &j->reply_len, &err) < 0)
        snprintf(j->error, sizeof(j->error), "%s", err.text);
    audit_out_fini(&o);
}

static void audit_done(void *arg, bool aborted)
{
    audit_job_t *j = arg;
    if (!aborted) {
        if (j->bad_chain)
            cairn_log(j->d->log, CAIRN_LOG_ERROR, "audit trail does not verify: %s", j->problem);
        clients_reply_raw(j->d, &j->from, j->reply, j->reply_len, j->error);
    }
    free(j->reply);
    free(j->expect_head);
    free(j->user);
    free(j);
}

/* List the trail (administrators: everyone's; others: their own) or
 * verify its chain (anyone: the answer says nothing but whether it holds).
 * Either reads the whole table: on the reader thread. */
void clients_audit(sched_daemon_t *d, const client_req_t *rq, const Cairn__AuditRequest *r)
{
    const cairn_peer_t *from = rq->from;
    const client_id_t *id = &rq->id;
    const char *user = r->user && *r->user ? r->user : NULL;
    if (!r->verify && !access_is_admin(d->cfg.admins, id)) {
        if (id->anonymous || !access_owns(id, id->name) || (user && strcmp(user, id->name) != 0)) {
            clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED,
                          "%s %s may read only their own audit entries",
                          id->anonymous ? "anonymous client" : "user", id->name);
            return;
        }
        user = id->name;
    }
    audit_job_t *j = calloc(1, sizeof(*j));
    if (j) {
        *j = (audit_job_t){
            .d = d, .from = *from, .verify = r->verify, .since = r->since_ms, .limit = r->limit};
        j->expect_head = strdup(r->expect_head ? r->expect_head : "");
        j->user = user ? strdup(user) : NULL;
    }
    if (!j || !j->expect_head || (user && !j->user)) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_INTERNAL, "out of memory");
        if (j)
            audit_done(j, true);
        return;
    }
    if (clients_read_later(d, from, audit_work, audit_done, j) < 0)
        audit_done(j, true);
}
