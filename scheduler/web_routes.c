/* The API's paths, each made into the client request it mirrors
 * (docs/api.md); see web_private.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/report.h"
#include "proto/client.pb-c.h"
#include "proto/json.h"
#include "scheduler/web_private.h"

#define DAY_MS (24LL * 3600 * 1000)

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Percent-decode len bytes of s into out (n bytes, terminated): the
 * length, or -2 when it does not fit, is malformed or holds a NUL. */
static int decode(const char *s, size_t len, char *out, size_t n, bool plus)
{
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -2;
            int a = hexval(s[i + 1]), b = hexval(s[i + 2]);
            if (a < 0 || b < 0)
                return -2;
            c = (char)(a * 16 + b);
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        if (c == '\0' || k + 1 >= n)
            return -2;
        out[k++] = c;
    }
    out[k] = '\0';
    return (int)k;
}

int web_query(const char *query, const char *name, unsigned k, char *out, size_t n)
{
    size_t nl = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t kl = eq ? (size_t)(eq - p) : len;
        if (kl == nl && !memcmp(p, name, nl) && k-- == 0)
            return eq ? decode(eq + 1, len - kl - 1, out, n, true) : decode("", 0, out, n, true);
        p = amp ? amp + 1 : NULL;
    }
    return -1;
}

/* A whole decimal number from min to max. */
static bool number(const char *s, uint64_t max, uint64_t *out)
{
    if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 19)
        return false;
    uint64_t v = strtoull(s, NULL, 10);
    if (v > max)
        return false;
    *out = v;
    return true;
}

/* The query's parameter name as a number (default dflt when absent):
 * false with why when it is not one. */
static bool qnum(const char *query, const char *name, uint64_t max, uint64_t dflt, uint64_t *out,
                 char *why, size_t n)
{
    char v[32];
    int r = web_query(query, name, 0, v, sizeof(v));
    if (r == -1) {
        *out = dflt;
        return true;
    }
    if (r >= 0 && number(v, max, out))
        return true;
    snprintf(why, n, "query parameter %s must be a whole number from 0 to %llu", name,
             (unsigned long long)max);
    return false;
}

static bool qstr(const char *query, const char *name, char *out, size_t n, char *why, size_t wn)
{
    int r = web_query(query, name, 0, out, n);
    if (r == -1)
        out[0] = '\0';
    if (r == -2)
        snprintf(why, wn, "query parameter %s is too long or badly encoded", name);
    return r != -2;
}

static int encode(web_call_t *call, cairn_msg_type_t type, cairn_msg_type_t want,
                  const ProtobufCMessage *m, char *why, size_t n)
{
    cairn_error_t err = {{0}};
    call->type = type;
    call->want = want;
    if (cairn_msg_encode(type, m, &call->req, &call->req_len, &err) < 0) {
        snprintf(why, n, "%s", err.text);
        return 400;
    }
    return 0;
}

/* A job's state by name ("running"), as the API writes it. */
static bool job_state(const char *s, Cairn__JobState *st)
{
    static const char *const names[] = {"",          "pending", "running",
                                        "succeeded", "failed",  "cancelled"};
    for (int i = 1; i < 6; i++)
        if (!strcmp(s, names[i])) {
            *st = (Cairn__JobState)i;
            return true;
        }
    return false;
}

static int jobs(const char *q, web_call_t *call, char *why, size_t n)
{
    Cairn__ListJobsRequest r = CAIRN__LIST_JOBS_REQUEST__INIT;
    char states[256], user[256], account[256];
    uint64_t limit, before, since;
    if (!qstr(q, "state", states, sizeof(states), why, n) ||
        !qstr(q, "user", user, sizeof(user), why, n) ||
        !qstr(q, "account", account, sizeof(account), why, n) ||
        !qnum(q, "limit", 10000, 100, &limit, why, n) ||
        !qnum(q, "before", UINT32_MAX, 0, &before, why, n) ||
        !qnum(q, "since_ms", INT64_MAX, 0, &since, why, n))
        return 400;
    Cairn__JobState st[8];
    size_t ns = 0;
    for (char *save = NULL, *t = strtok_r(states, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (ns == 8 || !job_state(t, &st[ns])) {
            snprintf(why, n,
                     "query parameter state: '%s' is not pending, running, succeeded, failed or "
                     "cancelled",
                     t);
            return 400;
        }
        ns++;
    }
    r.states = st;
    r.n_states = ns;
    r.submitter = user;
    r.account = account;
    r.limit = (uint32_t)limit;
    r.before_job = before;
    r.since_ms = (int64_t)since;
    return encode(call, CAIRN_MSG_LIST_JOBS, CAIRN_MSG_LIST_JOBS_REPLY, &r.base, why, n);
}

static int status(uint64_t job, const char *task, const char *q, web_call_t *call, char *why,
                  size_t n)
{
    Cairn__JobStatusRequest r = CAIRN__JOB_STATUS_REQUEST__INIT;
    uint64_t off, limit, summary;
    if (!qnum(q, "offset", UINT32_MAX, 0, &off, why, n) ||
        !qnum(q, "limit", 100000, 1000, &limit, why, n) ||
        !qnum(q, "summary", 1, 0, &summary, why, n))
        return 400;
    r.job_id = job;
    r.task_offset = (uint32_t)off;
    r.task_limit = (uint32_t)limit;
    r.summary_only = summary;
    r.task = (char *)task;
    return encode(call, CAIRN_MSG_JOB_STATUS, CAIRN_MSG_JOB_STATUS_REPLY, &r.base, why, n);
}

static int graph(uint64_t job, const char *q, web_call_t *call, char *why, size_t n)
{
    Cairn__JobGraphRequest r = CAIRN__JOB_GRAPH_REQUEST__INIT;
    char buf[4096];
    char *names[64];
    size_t nn = 0;
    uint64_t maxm;
    if (!qnum(q, "max_members", 100000, 0, &maxm, why, n))
        return 400;
    size_t used = 0;
    for (unsigned k = 0;; k++) {
        int len = web_query(q, "expand", k, buf + used, sizeof(buf) - used);
        if (len == -1)
            break;
        if (len == -2) {
            snprintf(why, n, "query parameter expand is too long or badly encoded");
            return 400;
        }
        for (char *save = NULL, *t = strtok_r(buf + used, ",", &save); t;
             t = strtok_r(NULL, ",", &save)) {
            if (nn == 64) {
                snprintf(why, n, "at most 64 groups may be expanded");
                return 400;
            }
            names[nn++] = t;
        }
        used += (size_t)len + 1;
    }
    r.job_id = job;
    r.expand = names;
    r.n_expand = nn;
    r.max_members = (uint32_t)maxm;
    return encode(call, CAIRN_MSG_JOB_GRAPH, CAIRN_MSG_JOB_GRAPH_REPLY, &r.base, why, n);
}

static int explain(uint64_t job, const char *task, const char *q, web_call_t *call, char *why,
                   size_t n)
{
    Cairn__ExplainRequest r = CAIRN__EXPLAIN_REQUEST__INIT;
    uint64_t replica;
    if (!qnum(q, "replica", UINT32_MAX, 0, &replica, why, n))
        return 400;
    r.job_id = job;
    r.task = (char *)task;
    r.replica = (uint32_t)replica;
    return encode(call, CAIRN_MSG_EXPLAIN, CAIRN_MSG_EXPLAIN_REPLY, &r.base, why, n);
}

static int logs(uint64_t job, const char *task, const char *q, web_call_t *call, char *why,
                size_t n)
{
    Cairn__LogsRequest r = CAIRN__LOGS_REQUEST__INIT;
    uint64_t replica, attempt, off, max;
    char stream[16];
    if (!qnum(q, "replica", UINT32_MAX, 0, &replica, why, n) ||
        !qnum(q, "attempt", UINT32_MAX, 0, &attempt, why, n) ||
        !qnum(q, "offset", INT64_MAX, 0, &off, why, n) ||
        !qnum(q, "max_bytes", 1u << 20, 65536, &max, why, n) ||
        !qstr(q, "stream", stream, sizeof(stream), why, n))
        return 400;
    if (stream[0] && strcmp(stream, "stdout") && strcmp(stream, "stderr")) {
        snprintf(why, n, "query parameter stream must be stdout or stderr");
        return 400;
    }
    r.job_id = job;
    r.task = (char *)task;
    r.replica = (uint32_t)replica;
    r.attempt_number = (uint32_t)attempt;
    r.stream = !strcmp(stream, "stderr") ? CAIRN__LOG_STREAM__LOG_STREAM_STDERR
                                         : CAIRN__LOG_STREAM__LOG_STREAM_STDOUT;
    r.offset = off;
    r.max_bytes = (uint32_t)max;
    call->kind = WEB_LOGS;
    return encode(call, CAIRN_MSG_LOGS, CAIRN_MSG_LOGS_REPLY, &r.base, why, n);
}

static int report(const char *q, int64_t now, web_call_t *call, char *why, size_t n)
{
    static const char *const bys[] = {"user", "job", "kind", "node", "gpu-model", "account"};
    uint64_t from, to;
    char by[32];
    if (!qnum(q, "to_ms", INT64_MAX, (uint64_t)now, &to, why, n) ||
        !qnum(q, "from_ms", INT64_MAX, to > DAY_MS ? to - DAY_MS : 0, &from, why, n) ||
        !qstr(q, "by", by, sizeof(by), why, n) ||
        !qstr(q, "account", call->account, sizeof(call->account), why, n))
        return 400;
    if (to <= from) {
        snprintf(why, n, "the window is empty: to_ms is not after from_ms");
        return 400;
    }
    call->by = REPORT_BY_USER;
    if (by[0]) {
        call->by = -1;
        for (int i = 0; i < 6; i++)
            if (!strcmp(by, bys[i]))
                call->by = i;
        if (call->by < 0) {
            snprintf(why, n,
                     "query parameter by must be user, job, kind, node, gpu-model or "
                     "account");
            return 400;
        }
    }
    call->kind = WEB_REPORT;
    call->from_ms = (int64_t)from;
    call->to_ms = (int64_t)to;
    call->ttl_ms = 10000; /* a report reads every record of its window */
    Cairn__AccountingRequest r = CAIRN__ACCOUNTING_REQUEST__INIT;
    r.since_ms = call->from_ms;
    r.until_ms = call->to_ms;
    r.limit = 20000;
    return encode(call, CAIRN_MSG_ACCOUNTING, CAIRN_MSG_ACCOUNTING_REPLY, &r.base, why, n);
}

/* The path's segments after "/api/v1/": at most 5, each decoded. */
typedef struct segs {
    char v[5][512];
    int n;
} segs_t;

static bool split(const char *path, segs_t *s)
{
    s->n = 0;
    const char *p = path;
    while (*p == '/')
        p++;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (s->n == 5 || decode(p, len, s->v[s->n], sizeof(s->v[0]), false) < 1)
            return false;
        s->n++;
        p += len;
        while (*p == '/')
            p++;
    }
    return true;
}

int web_route(const char *path, const char *query, int64_t now_ms, web_call_t *call, char *why,
              size_t n)
{
    memset(call, 0, sizeof(*call));
    call->ttl_ms = 1000;
    segs_t s;
    if (!split(path, &s)) {
        snprintf(why, n, "no such API path: %s", path);
        return 404;
    }
    const char *a = s.n > 0 ? s.v[0] : "";
    uint64_t job = 0;
    if (!strcmp(a, "jobs") && s.n >= 2 && !number(s.v[1], UINT32_MAX, &job)) {
        snprintf(why, n, "'%s' is not a job id", s.v[1]);
        return 404;
    }
    if (!strcmp(a, "jobs") && s.n == 1)
        return jobs(query, call, why, n);
    if (!strcmp(a, "jobs") && s.n == 2)
        return status(job, "", query, call, why, n);
    if (!strcmp(a, "jobs") && s.n == 3 && !strcmp(s.v[2], "graph"))
        return graph(job, query, call, why, n);
    if (!strcmp(a, "jobs") && s.n == 3 && !strcmp(s.v[2], "provenance")) {
        Cairn__ProvenanceRequest r = CAIRN__PROVENANCE_REQUEST__INIT;
        char task[512];
        if (!qstr(query, "task", task, sizeof(task), why, n))
            return 400;
        r.job_id = job;
        r.task = task;
        return encode(call, CAIRN_MSG_PROVENANCE, CAIRN_MSG_PROVENANCE_REPLY, &r.base, why, n);
    }
    if (!strcmp(a, "jobs") && s.n == 4 && !strcmp(s.v[2], "tasks"))
        return status(job, s.v[3], "", call, why, n);
    if (!strcmp(a, "jobs") && s.n == 5 && !strcmp(s.v[2], "tasks") && !strcmp(s.v[4], "explain"))
        return explain(job, s.v[3], query, call, why, n);
    if (!strcmp(a, "jobs") && s.n == 5 && !strcmp(s.v[2], "tasks") && !strcmp(s.v[4], "logs"))
        return logs(job, s.v[3], query, call, why, n);
    if (!strcmp(a, "nodes") && s.n == 1) {
        Cairn__NodesRequest r = CAIRN__NODES_REQUEST__INIT;
        uint64_t removed;
        if (!qnum(query, "removed", 1, 0, &removed, why, n))
            return 400;
        r.removed = removed;
        return encode(call, CAIRN_MSG_NODES, CAIRN_MSG_NODES_REPLY, &r.base, why, n);
    }
    if (!strcmp(a, "report") && s.n == 1)
        return report(query, now_ms, call, why, n);
    if (!strcmp(a, "accounts") && s.n == 1) {
        Cairn__AccountRequest r = CAIRN__ACCOUNT_REQUEST__INIT;
        Cairn__AccountList l = CAIRN__ACCOUNT_LIST__INIT;
        l.usage = true;
        r.op_case = CAIRN__ACCOUNT_REQUEST__OP_LIST;
        r.list = &l;
        return encode(call, CAIRN_MSG_ACCOUNT, CAIRN_MSG_ACCOUNT_REPLY, &r.base, why, n);
    }
    if (!strcmp(a, "audit") && s.n == 1) {
        Cairn__AuditRequest r = CAIRN__AUDIT_REQUEST__INIT;
        char user[256];
        uint64_t since, limit;
        if (!qnum(query, "since_ms", INT64_MAX, 0, &since, why, n) ||
            !qnum(query, "limit", 100000, 200, &limit, why, n) ||
            !qstr(query, "user", user, sizeof(user), why, n))
            return 400;
        r.since_ms = (int64_t)since;
        r.limit = (uint32_t)limit;
        r.user = user;
        return encode(call, CAIRN_MSG_AUDIT, CAIRN_MSG_AUDIT_REPLY, &r.base, why, n);
    }
    if (!strcmp(a, "schedulers") && s.n == 1) {
        Cairn__SchedulersRequest r = CAIRN__SCHEDULERS_REQUEST__INIT;
        return encode(call, CAIRN_MSG_SCHEDULERS, CAIRN_MSG_SCHEDULERS_REPLY, &r.base, why, n);
    }
    if (!strcmp(a, "whoami") && s.n == 1) {
        call->kind = WEB_WHOAMI;
        return 0;
    }
    snprintf(why, n, "no such API path: /api/v1%s (see docs/api.md)", path);
    return 404;
}

web_blob_t *web_error_blob(const char *code, const char *message, const char *leader)
{
    json_t *e = json_object();
    cairn_json_set(&e, "code", cairn_json_str(code));
    cairn_json_set(&e, "message", cairn_json_str(message));
    if (leader && *leader)
        cairn_json_set(&e, "leader", cairn_json_str(leader));
    json_t *doc = json_object();
    cairn_json_set(&doc, "error", e);
    char *t = cairn_json_text(doc, CAIRN_JSON_LINE);
    web_blob_t *b = t ? web_blob_new(t, strlen(t)) : NULL;
    free(t);
    return b;
}
