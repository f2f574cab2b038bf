/* AuditRequest: list the audit trail (audit.h) or verify its chain. */
#include <stdlib.h>
#include <string.h>

#include "daemon_private.h"

typedef struct audit_out {
    Cairn__AuditEntry **v;
    size_t n, cap;
    bool failed;
} audit_out_t;

static int audit_collect(const audit_entry_t *e, void *arg)
{
    audit_out_t *o = arg;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        Cairn__AuditEntry **nv = realloc(o->v, cap * sizeof(*nv));
        if (!nv) {
            o->failed = true;
            return 1;
        }
        o->v = nv;
        o->cap = cap;
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

/* List the trail (administrators: everyone's; others: their own) or
 * verify its chain (anyone: the answer says nothing but whether it holds). */
void clients_audit(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__AuditRequest *r)
{
    Cairn__AuditReply rep = CAIRN__AUDIT_REPLY__INIT;
    cairn_error_t err = {{0}};
    if (r->verify) {
        audit_check_t c;
        if (audit_verify(d->audit, r->expect_head, &c, &err) < 0) {
            clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_INTERNAL, "%s", err.text);
            return;
        }
        rep.verified = true;
        rep.ok = c.ok;
        rep.count = c.count;
        rep.head = c.head;
        rep.bad_seq = c.bad_seq;
        rep.problem = c.problem;
        if (!c.ok)
            dlog(d->log, LOG_ERROR, "audit trail does not verify: %s", c.problem);
        d_send(d, d->cnet, from, CAIRN_MSG_AUDIT_REPLY, &rep.base);
        return;
    }
    client_id_t id;
    clients_identity(d, from, &id);
    const char *user = r->user && *r->user ? r->user : NULL;
    if (!clients_is_admin(d, &id)) {
        if (id.anonymous || !clients_owns(&id, id.name) || (user && strcmp(user, id.name) != 0)) {
            clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED,
                          "%s %s may read only their own audit entries",
                          id.anonymous ? "anonymous client" : "user", id.name);
            return;
        }
        user = id.name;
    }
    audit_out_t o = {0};
    if (audit_list(d->audit, r->since_ms, user, r->limit, audit_collect, &o, &err) < 0 ||
        o.failed) {
        audit_out_fini(&o);
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_INTERNAL, "%s",
                      o.failed ? "out of memory" : err.text);
        return;
    }
    rep.n_entries = o.n;
    rep.entries = o.v;
    d_send(d, d->cnet, from, CAIRN_MSG_AUDIT_REPLY, &rep.base);
    audit_out_fini(&o);
}
