/* Requests from clients: submit, status, list, cancel, logs, nodes, drain,
 * explain. Each request gets exactly one reply, after the commit when it
 * acknowledges a change. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/grow.h"
#include "proto/sign.h"
#include "scheduler/daemon_private.h"

/* --- identity and permissions ---------------------------------------------
 *
 * Who sent a request: on ipc:// the peer's Unix uid, which the kernel
 * vouches for (SO_PEERCRED, NNG_OPT_IPC_PEER_UID), resolved to a user name;
 * on tls+tcp:// the subject CN of the client certificate that signed the
 * request (SignedRequest, checked by on_signed); otherwise "anonymous". Administrators (uid 0, the
 * scheduler's own uid, --admins) may act on every job and drain nodes; other users only on their
 * own jobs; anonymous clients may only read (status, list, nodes, explain) unless
 * --allow-anonymous-writes. Anonymous clients' jobs are recorded as "anonymous": an
 * authenticated user of that name (a local account, a certificate's CN) owns none of them and
 * may not submit (clients_owns). */

#define ANONYMOUS "anonymous"

/* Listen for clients on url. An ipc:// socket is made connectable by every
 * local user (0666): who may reach it is up to the permissions of the
 * directory it lives in, and what each user may do is decided per request
 * from the peer's uid. (The worker socket keeps the umask's mode.) */
int clients_listen(nng_socket s, const char *url, const cairn_tls_t *tls, cairn_error_t *err);
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

/* A uid's user name, or the number when it has none. Kept in a small
 * cache: name service lookups are not free and requests are many. */
static void uid_name(uid_t uid, char *name, size_t n)
{
    static struct {
        uid_t uid;
        char name[256];
        bool used;
    } cache[16];
    static unsigned next;
    for (size_t i = 0; i < sizeof(cache) / sizeof(cache[0]); i++)
        if (cache[i].used && cache[i].uid == uid) {
            snprintf(name, n, "%s", cache[i].name);
            return;
        }
    struct passwd pw, *res = NULL;
    char buf[16384];
    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res && res->pw_name && *res->pw_name)
        snprintf(name, n, "%s", res->pw_name);
    else
        snprintf(name, n, "%u", (unsigned)uid);
    unsigned k = next++ % (sizeof(cache) / sizeof(cache[0]));
    cache[k].uid = uid;
    cache[k].used = true;
    snprintf(cache[k].name, sizeof(cache[k].name), "%s", name);
}

/* The identity of the client on pipe (or of the signer of the request
 * being handled: see on_signed). */
void clients_identity(sched_daemon_t *d, const cairn_peer_t *from, client_id_t *id)
{
    memset(id, 0, sizeof(*id));
    uint64_t uid = 0;
    if (nng_pipe_get_uint64(from->pipe, NNG_OPT_IPC_PEER_UID, &uid) == 0) {
        id->has_uid = true;
        id->uid = (uid_t)uid;
        uid_name(id->uid, id->name, sizeof(id->name));
    } else if (d->signed_user) {
        /* named by its certificate (a verified signed request) */
        snprintf(id->name, sizeof(id->name), "%s", d->signed_user);
    } else {
        id->anonymous = true;
        snprintf(id->name, sizeof(id->name), "%s", ANONYMOUS);
    }
}

/* Whether user (primary group gid when known) belongs to group. */
static bool in_group(const char *group, const char *user, bool has_gid, gid_t gid)
{
    struct group gr, *res = NULL;
    char buf[65536];
    if (getgrnam_r(group, &gr, buf, sizeof(buf), &res) != 0 || !res)
        return false;
    if (has_gid && res->gr_gid == gid)
        return true;
    for (char **m = res->gr_mem; m && *m; m++)
        if (!strcmp(*m, user))
            return true;
    return false;
}

bool clients_is_admin(sched_daemon_t *d, const client_id_t *id)
{
    if (id->anonymous)
        return false;
    if (id->has_uid && (id->uid == 0 || id->uid == geteuid()))
        return true;
    const char *list = d->cfg.admins;
    if (!list || !*list)
        return false;
    bool has_gid = false, looked = false;
    gid_t gid = 0;
    char uidstr[32];
    snprintf(uidstr, sizeof(uidstr), "%u", (unsigned)id->uid);
    for (const char *p = list; *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        char item[256];
        snprintf(item, sizeof(item), "%.*s", (int)(len < 255 ? len : 255), p);
        p += len;
        for (size_t l = strlen(item); l && (item[l - 1] == ' ' || item[l - 1] == '\t');)
            item[--l] = '\0';
        if (!item[0])
            continue;
        if (item[0] != '@') {
            if (!strcmp(item, id->name) || (id->has_uid && !strcmp(item, uidstr)))
                return true;
            continue;
        }
        if (!looked) { /* the user's primary group */
            looked = true;
            struct passwd pw, *res = NULL;
            char buf[16384];
            if (getpwnam_r(id->name, &pw, buf, sizeof(buf), &res) == 0 && res) {
                has_gid = true;
                gid = res->pw_gid;
            }
        }
        if (in_group(item + 1, id->name, has_gid, gid))
            return true;
    }
    return false;
}

bool clients_owns(const client_id_t *id, const char *owner)
{
    return !strcmp(owner, id->name) && id->anonymous == !strcmp(owner, ANONYMOUS);
}

/* May the client change things at all (submit, cancel)? Refuses otherwise. */
static bool may_write(sched_daemon_t *d, const cairn_peer_t *from, const client_id_t *id,
                      const char *what)
{
    if (!id->anonymous || d->cfg.allow_anonymous_writes)
        return true;
    cairn_log(d->log, CAIRN_LOG_INFO, "refused: anonymous client may not %s", what);
    clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED,
                  "anonymous clients may not %s (read-only; connect over ipc:// as a local "
                  "user, or start the scheduler with --allow-anonymous-writes)",
                  what);
    return false;
}

/* May the client act (verb: "cancel", "read logs of") on job? Refuses
 * otherwise, naming who tried what. */
bool clients_may_touch_job(sched_daemon_t *d, const cairn_peer_t *from, uint32_t job,
                           const char *verb)
{
    client_id_t id;
    clients_identity(d, from, &id);
    sched_job_info_t ji;
    sched_job_meta(d->core, job, &ji);
    const char *owner = ji.user ? ji.user : "";
    bool owner_ok = clients_owns(&id, owner) && (!id.anonymous || d->cfg.allow_anonymous_writes);
    if (owner_ok || clients_is_admin(d, &id))
        return true;
    cairn_log(d->log, CAIRN_LOG_INFO, "refused: %s %s may not %s job %u of %s",
              id.anonymous ? "anonymous client" : "user", id.name, verb, job, owner);
    if (id.anonymous)
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED,
                      "anonymous client may not %s job %u of %s", verb, job, owner);
    else
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED,
                      "user %s may not %s job %u of %s", id.name, verb, job, owner);
    return false;
}

void clients_error(sched_daemon_t *d, const cairn_peer_t *to, Cairn__ErrorCode code,
                   const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    Cairn__ErrorReply rep = CAIRN__ERROR_REPLY__INIT;
    rep.code = code;
    rep.message = msg;
    d_send(d, d->cnet, to, CAIRN_MSG_ERROR, &rep.base);
}

/* --- submit ---------------------------------------------------------------- */

static void on_submit(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__SubmitRequest *r)
{
    if (!r->job) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_BAD_REQUEST, "submit without a job");
        return;
    }
    if (d->degraded) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_UNAVAILABLE,
                      "submissions are refused: %s", d->degraded_why);
        return;
    }
    client_id_t id;
    clients_identity(d, from, &id);
    if (!may_write(d, from, &id, "submit jobs"))
        return;
    if (!clients_owns(&id, id.name)) { /* its jobs would be anonymous clients' */
        cairn_log(d->log, CAIRN_LOG_INFO, "refused: user %s may not submit: the name is reserved",
                  id.name);
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED,
                      "user %s may not submit jobs: the name '%s' is reserved for "
                      "unauthenticated clients' jobs",
                      id.name, ANONYMOUS);
        return;
    }
    /* the submitter is who the client is, not what it says it is */
    Cairn__JobSpec *js = r->job;
    char *claimed = js->submitter;
    if (claimed && *claimed && strcmp(claimed, id.name) != 0)
        cairn_log(d->log, CAIRN_LOG_DEBUG,
                  "job '%s': client claims submitter '%s', authenticated as '%s'",
                  js->name ? js->name : "", claimed, id.name);
    js->submitter = id.name;
    uint64_t seed = jobspec_seed(js);
    jobspec_errors_t errs = {0};
    jobspec_t *cj = NULL;
    Cairn__SubmitReply rep = CAIRN__SUBMIT_REPLY__INIT;
    int rc = jobspec_build(js, seed, &d->cfg.limits, &cj, &errs);
    if (rc == 0) {
        sched_problems_t p = {0};
        int n = sched_job_validate(d->core, jobspec_core(cj), &p);
        char *line = p.text;
        for (uint32_t k = 0; n > 0 && line && *line; k++) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            /* where in the spec: the client points at its line and column */
            char path[80] = "";
            if (k < p.nwhere)
                sched_problem_path(&p.where[k], path, sizeof(path));
            jobspec_errors_add(&errs, path, "%s", line);
            line = nl ? nl + 1 : NULL;
        }
        sched_problems_fini(&p);
        if (n < 0)
            rc = n;
    }
    if (rc < 0) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_INTERNAL, "out of memory");
    } else if (errs.n > 0) {
        rep.n_errors = errs.n;
        rep.errors = errs.v;
        d_send(d, d->cnet, from, CAIRN_MSG_SUBMIT_REPLY, &rep.base);
    } else {
        sched_event_t ev = {.type = SCHED_EV_JOB_SUBMIT, .time_ms = wall_ms()};
        ev.u.submit = *jobspec_core(cj);
        cairn_error_t err = {{0}};
        if (d_apply(d, &ev, js, seed, &err) < 0) {
            clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_BAD_REQUEST, "%s", err.text);
        } else {
            d->submits++;
            rep.job_id = sched_job_count(d->core);
            cairn_log(d->log, CAIRN_LOG_INFO, "job %llu (%s) submitted: %zu tasks",
                      (unsigned long long)rep.job_id, js->name, js->n_tasks);
            char target[64];
            snprintf(target, sizeof(target), "job %llu", (unsigned long long)rep.job_id);
            d_audit(d, id.name, "submit", target, "name=%s tasks=%zu seed=%llu spec_sha256=%s",
                    js->name ? js->name : "", js->n_tasks, (unsigned long long)seed,
                    js->spec_sha256 ? js->spec_sha256 : "");
            cairn_error_t perr = {{0}};
            if (prov_put_job(d->prov, (uint32_t)rep.job_id, js, &perr) < 0) {
                cairn_log(d->log, CAIRN_LOG_ERROR, "%s", perr.text);
                d->degraded = d->batch_failed = true;
            }
            d_send(d, d->cnet, from, CAIRN_MSG_SUBMIT_REPLY, &rep.base);
        }
    }
    jobspec_errors_fini(&errs);
    jobspec_destroy(cj);
    js->submitter = claimed; /* freed with the message */
}

/* --- status ---------------------------------------------------------------- */

Cairn__TaskState clients_task_state(sched_daemon_t *d, const sched_task_info_t *ti)
{
    static const Cairn__TaskState map[] = {
        CAIRN__TASK_STATE__TASK_STATE_WAITING,   CAIRN__TASK_STATE__TASK_STATE_PENDING,
        CAIRN__TASK_STATE__TASK_STATE_RUNNING,   CAIRN__TASK_STATE__TASK_STATE_RETRY_WAIT,
        CAIRN__TASK_STATE__TASK_STATE_SUCCEEDED, CAIRN__TASK_STATE__TASK_STATE_FAILED,
        CAIRN__TASK_STATE__TASK_STATE_CANCELLED, CAIRN__TASK_STATE__TASK_STATE_UPSTREAM_FAILED};
    sched_attempt_info_t ai;
    if (ti->state == SCHED_TASK_RUNNING && ti->attempt &&
        sched_attempt_get(d->core, ti->attempt, &ai) == 0 && ai.queued)
        return CAIRN__TASK_STATE__TASK_STATE_PENDING; /* placed, but waits its turn */
    return (unsigned)ti->state < 8 ? map[ti->state] : CAIRN__TASK_STATE__TASK_STATE_UNSPECIFIED;
}

bool clients_attempt_ran(sched_daemon_t *d, const sched_attempt_info_t *ai)
{
    uint32_t from_job;
    const char *from_task;
    return ai->started_ms != 0 || cache_hit_get(d->cache, ai->id, &from_job, &from_task);
}

bool clients_attempt_holds(sched_daemon_t *d, const sched_attempt_info_t *ai)
{
    return ai->end == SCHED_END_NONE ? !ai->queued : clients_attempt_ran(d, ai);
}

static Cairn__EndReason end_reason(const sched_attempt_info_t *ai)
{
    switch (ai->end) {
    case SCHED_END_EXIT:
        return ai->exit_code == 0 ? CAIRN__END_REASON__END_REASON_SUCCEEDED
                                  : CAIRN__END_REASON__END_REASON_EXIT_NONZERO;
    case SCHED_END_SIGNAL:
        return CAIRN__END_REASON__END_REASON_SIGNALED;
    case SCHED_END_TIMEOUT:
        return CAIRN__END_REASON__END_REASON_TIMED_OUT;
    case SCHED_END_CANCELLED:
        return CAIRN__END_REASON__END_REASON_CANCELLED;
    case SCHED_END_NODE_LOST:
        return CAIRN__END_REASON__END_REASON_NODE_LOST;
    case SCHED_END_START_FAILED:
        return CAIRN__END_REASON__END_REASON_FAILED_TO_START;
    default:
        return CAIRN__END_REASON__END_REASON_UNSPECIFIED;
    }
}

Cairn__JobState clients_job_state(const sched_job_info_t *ji)
{
    const uint32_t *c = ji->count;
    if (ji->nended == ji->ntasks) {
        if (c[SCHED_TASK_FAILED] || c[SCHED_TASK_UPSTREAM_FAILED])
            return CAIRN__JOB_STATE__JOB_STATE_FAILED;
        if (c[SCHED_TASK_CANCELLED])
            return CAIRN__JOB_STATE__JOB_STATE_CANCELLED;
        return CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED;
    }
    if (c[SCHED_TASK_RUNNING] || ji->nended)
        return CAIRN__JOB_STATE__JOB_STATE_RUNNING;
    return CAIRN__JOB_STATE__JOB_STATE_PENDING;
}

static void fill_summary(sched_daemon_t *d, uint32_t job, Cairn__JobSummary *s,
                         sched_job_info_t *ji)
{
    sched_job_info(d->core, job, ji);
    cairn__job_summary__init(s);
    s->job_id = job;
    s->name = (char *)ji->name;
    s->state = clients_job_state(ji);
    s->submitter = (char *)ji->user;
    s->seed = ji->seed;
    s->submit_time_ms = ji->submitted_ms;
    s->tasks_total = ji->ntasks;
    const uint32_t *c = ji->count;
    /* tasks queued on a node behind another (prefetch) wait: pending */
    s->tasks_pending =
        c[SCHED_TASK_PENDING] + c[SCHED_TASK_READY] + c[SCHED_TASK_RETRYING] + ji->queued;
    s->tasks_running = c[SCHED_TASK_RUNNING] - ji->queued;
    s->tasks_succeeded = c[SCHED_TASK_SUCCEEDED];
    s->tasks_failed = c[SCHED_TASK_FAILED] + c[SCHED_TASK_UPSTREAM_FAILED];
    s->tasks_cancelled = c[SCHED_TASK_CANCELLED];
}

/* What a summary says beyond the core's counts: the spec's hash, when the
 * job's first attempt started (a cached task's: when its outputs were
 * checked) and, once it has ended, when its last attempt ended. */
static void fill_summary_details(sched_daemon_t *d, uint32_t job, Cairn__JobSummary *s,
                                 const sched_job_info_t *ji, frees_t *f)
{
    char *sha = NULL;
    cairn_error_t err = {{0}};
    if (prov_get_spec(d->prov, job, NULL, &sha, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "%s", err.text);
    if (sha)
        s->spec_sha256 = clients_keep(f, sha);
    int64_t start = 0, end = 0;
    for (uint32_t t = 0; t < ji->ntasks; t++) {
        sched_task_info_t ti;
        if (sched_task_info(d->core, job, t, &ti) < 0)
            continue;
        sched_attempt_info_t ai;
        for (uint64_t a = ti.attempt; a && sched_attempt_get(d->core, a, &ai) == 0; a = ai.prev) {
            uint32_t from_job;
            const char *from_task;
            int64_t began = ai.started_ms;
            if (!began && ai.ended_ms && cache_hit_get(d->cache, ai.id, &from_job, &from_task))
                began = ai.ended_ms;
            if (began && (!start || began < start))
                start = began;
            if (ai.ended_ms > end)
                end = ai.ended_ms;
        }
    }
    s->start_time_ms = start;
    bool ended = s->state == CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED ||
                 s->state == CAIRN__JOB_STATE__JOB_STATE_FAILED ||
                 s->state == CAIRN__JOB_STATE__JOB_STATE_CANCELLED;
    s->end_time_ms = ended ? end : 0;
}

/* Pointers to free once a reply is sent. */

void *clients_keep(frees_t *f, void *p)
{
    if (!p) {
        f->oom = true;
        return NULL;
    }
    if (CAIRN_GROW(f->v, f->cap, f->n + 1) < 0) {
        free(p);
        f->oom = true;
        return NULL;
    }
    return f->v[f->n++] = p;
}

void clients_keep_msg(frees_t *f, ProtobufCMessage *m)
{
    if (!m)
        return;
    if (CAIRN_GROW(f->msgs, f->msgs_cap, f->nmsgs + 1) < 0) {
        protobuf_c_message_free_unpacked(m, NULL);
        f->oom = true;
        return;
    }
    f->msgs[f->nmsgs++] = m;
}

void clients_frees_fini(frees_t *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i]);
    free(f->v);
    for (size_t i = 0; i < f->nmsgs; i++)
        protobuf_c_message_free_unpacked(f->msgs[i], NULL);
    free(f->msgs);
}

/* GPU references for a node's GPUs in mask (NULL, *n = 0 when none). */
static Cairn__GpuRef **gpu_refs(sched_daemon_t *d, uint32_t node, uint64_t mask, size_t *n,
                                frees_t *f)
{
    *n = 0;
    int ng = __builtin_popcountll(mask);
    if (!ng)
        return NULL;
    Cairn__GpuRef *g = clients_keep(f, calloc((size_t)ng, sizeof(*g)));
    Cairn__GpuRef **v = clients_keep(f, calloc((size_t)ng, sizeof(*v)));
    for (uint32_t i = 0; g && v && i < 64; i++) {
        if (!(mask >> i & 1))
            continue;
        sched_gpu_desc_t gd;
        Cairn__GpuRef *x = &g[*n];
        cairn__gpu_ref__init(x);
        x->index = i;
        if (sched_node_gpu(d->core, node, i, &gd))
            x->uuid = (char *)gd.uuid;
        v[(*n)++] = x;
    }
    return v;
}

static Cairn__AttemptInfo *attempt_msg(sched_daemon_t *d, const sched_attempt_info_t *ai,
                                       frees_t *f)
{
    Cairn__AttemptInfo *a = clients_keep(f, calloc(1, sizeof(*a)));
    if (!a)
        return NULL;
    cairn__attempt_info__init(a);
    a->attempt_id = ai->id;
    a->number = ai->number;
    const char *why = start_error_get(d, ai->id);
    if (why)
        a->error = (char *)why;
    bool ran = clients_attempt_ran(d, ai), holds = clients_attempt_holds(d, ai);
    size_t len = 0;
    for (uint32_t r = 0; r < ai->nreplicas; r++)
        len += strlen(sched_node_name(d->core, ai->allocs[r].node)) + 1;
    char *nodes = clients_keep(f, calloc(len + 1, 1));
    Cairn__ReplicaPlacement *rp = clients_keep(f, calloc(ai->nreplicas + 1, sizeof(*rp)));
    a->replicas = clients_keep(f, calloc(ai->nreplicas + 1, sizeof(*a->replicas)));
    for (uint32_t r = 0; r < ai->nreplicas; r++) {
        const sched_alloc_desc_t *al = &ai->allocs[r];
        const char *name = sched_node_name(d->core, al->node);
        if (nodes) {
            if (r)
                strcat(nodes, ",");
            strcat(nodes, name);
        }
        if (!rp || !a->replicas)
            continue;
        Cairn__ReplicaPlacement *x = &rp[r];
        cairn__replica_placement__init(x);
        x->rank = r;
        x->node = (char *)name;
        if (holds) { /* a queued attempt, or one that never ran, holds none */
            x->n_cores = al->ncores;
            x->cores = (uint32_t *)al->cores; /* valid until the next sched_apply */
            x->gpus = gpu_refs(d, al->node, al->gpu_mask, &x->n_gpus, f);
        }
        a->replicas[a->n_replicas++] = x;
    }
    a->node = nodes ? nodes : "";
    if (a->n_replicas) { /* the flat fields: rank 0's, as before gangs had their own */
        a->n_cores = a->replicas[0]->n_cores;
        a->cores = a->replicas[0]->cores;
        a->n_gpus = a->replicas[0]->n_gpus;
        a->gpus = a->replicas[0]->gpus;
    }
    if (ran) { /* the signal of a process killed before it ran is not the task's */
        a->exit_code = ai->exit_code;
        a->signal = ai->signal;
    }
    a->end_reason = end_reason(ai);
    a->start_time_ms = ai->started_ms;
    a->end_time_ms = ai->ended_ms;
    if (ai->queued)
        a->queued_after = ai->after;
    uint32_t from_job;
    const char *from_task;
    if (cache_hit_get(d->cache, ai->id, &from_job, &from_task)) {
        a->cached_from_job = from_job;
        a->cached_from_task = (char *)from_task;
    }
    return a;
}

static Cairn__TaskStatus *task_msg(sched_daemon_t *d, uint32_t job, uint32_t t, bool explain,
                                   frees_t *f)
{
    sched_task_info_t ti;
    if (sched_task_info(d->core, job, t, &ti) < 0)
        return NULL;
    Cairn__TaskStatus *ts = clients_keep(f, calloc(1, sizeof(*ts)));
    if (!ts)
        return NULL;
    cairn__task_status__init(ts);
    ts->name = (char *)ti.name;
    ts->state = clients_task_state(d, &ti);
    if (ti.state == SCHED_TASK_RETRYING)
        ts->next_attempt_time_ms = ti.ready_at_ms;
    if (ti.state == SCHED_TASK_PENDING)
        ts->pending_reason = CAIRN__PENDING_REASON__PENDING_REASON_DEPENDENCIES;
    if (ti.state == SCHED_TASK_RETRYING)
        ts->pending_reason = CAIRN__PENDING_REASON__PENDING_REASON_RETRY_BACKOFF;
    /* prefetched: waiting on its node for the attempt ahead of it, in the
     * words of `cairn explain` (cheap: no node is looked at) */
    bool queued =
        ts->state == CAIRN__TASK_STATE__TASK_STATE_PENDING && ti.state == SCHED_TASK_RUNNING;
    if (queued)
        ts->pending_reason = CAIRN__PENDING_REASON__PENDING_REASON_QUEUED_ON_NODE;
    if (queued || (explain && (ti.state == SCHED_TASK_PENDING || ti.state == SCHED_TASK_READY ||
                               ti.state == SCHED_TASK_RETRYING))) {
        char *why = clients_keep(f, sched_explain(d->core, job, t, wall_ms()));
        char *colon = why ? strstr(why, ": ") : NULL; /* drop "job N task X: " */
        ts->pending_detail = colon ? colon + 2 : "";
    }
    ts->n_attempts = ti.attempts;
    ts->attempts = clients_keep(f, calloc(ti.attempts + 1, sizeof(*ts->attempts)));
    if (!ts->attempts) {
        ts->n_attempts = 0;
        return ts;
    }
    uint64_t id = ti.attempt;
    for (uint32_t k = ti.attempts; k-- > 0 && id;) {
        sched_attempt_info_t ai;
        if (sched_attempt_get(d->core, id, &ai) < 0)
            break;
        ts->attempts[k] = attempt_msg(d, &ai, f);
        id = ai.prev;
    }
    return ts;
}

#define EXPLAIN_MAX 100 /* pending tasks explained per status reply */
/* Tasks in one status reply (JobStatusRequest.task_limit): a page costs
 * the loop about a microsecond or two per task, so no reply holds it long. */
#define STATUS_PAGE_DEFAULT 2000
#define STATUS_PAGE_MAX 10000

static void status_reply(sched_daemon_t *d, const cairn_peer_t *to, uint32_t job,
                         const status_page_t *pg)
{
    frees_t f = {0};
    Cairn__JobStatusReply rep = CAIRN__JOB_STATUS_REPLY__INIT;
    Cairn__JobSummary sum;
    sched_job_info_t ji;
    fill_summary(d, job, &sum, &ji);
    fill_summary_details(d, job, &sum, &ji, &f);
    rep.job = &sum;
    uint32_t first = pg->offset < ji.ntasks ? pg->offset : ji.ntasks;
    uint32_t limit = pg->limit ? (pg->limit < STATUS_PAGE_MAX ? pg->limit : STATUS_PAGE_MAX)
                               : STATUS_PAGE_DEFAULT;
    uint32_t end = ji.ntasks - first > limit ? first + limit : ji.ntasks;
    uint32_t only;
    if (pg->task[0]) { /* one task by name */
        if (sched_task_find(d->core, job, pg->task, &only) == 0)
            first = only, end = only + 1;
        else
            first = end = 0;
    }
    if (!pg->summary_only && end > first)
        rep.tasks = clients_keep(&f, calloc(end - first + 1, sizeof(*rep.tasks)));
    uint32_t explained = 0;
    for (uint32_t t = first; rep.tasks && t < end; t++) {
        Cairn__TaskStatus *ts = task_msg(d, job, t, explained < EXPLAIN_MAX, &f);
        if (!ts)
            break;
        explained += ts->pending_detail != NULL;
        rep.tasks[rep.n_tasks++] = ts;
    }
    if (!pg->summary_only && !pg->task[0] && end < ji.ntasks) {
        rep.more = true;
        rep.next_task_offset = end;
    }
    d_send(d, d->cnet, to, CAIRN_MSG_JOB_STATUS_REPLY, &rep.base);
    clients_frees_fini(&f);
}

#define JOB_WAIT_MAX_MS 60000
#define JOB_WAITS_MAX 10000 /* open long polls; more are answered at once */

static void on_status(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__JobStatusRequest *r)
{
    if (r->job_id == 0 || r->job_id > sched_job_count(d->core)) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND, "no job %llu",
                      (unsigned long long)r->job_id);
        return;
    }
    uint32_t job = (uint32_t)r->job_id;
    status_page_t pg = {
        .summary_only = r->summary_only, .offset = r->task_offset, .limit = r->task_limit};
    snprintf(pg.task, sizeof(pg.task), "%s", r->task ? r->task : "");
    if (r->wait_ms == 0 || sched_job_done(d->core, job) || d->njwaits >= JOB_WAITS_MAX) {
        status_reply(d, from, job, &pg);
        return;
    }
    if (CAIRN_GROW(d->jwaits, d->jwaits_cap, d->njwaits + 1) < 0) {
        status_reply(d, from, job, &pg);
        return;
    }
    uint32_t ms = r->wait_ms < JOB_WAIT_MAX_MS ? r->wait_ms : JOB_WAIT_MAX_MS;
    d->jwaits[d->njwaits++] = (job_wait_t){
        .job = job,
        .page = pg,
        .client = *from,
        .deadline_ms = (int64_t)uv_now(d->loop) + ms,
    };
    clients_answer_waits(d, false);
}

static void jwait_cb(uv_timer_t *t)
{
    clients_answer_waits(t->data, true);
}

void clients_answer_waits(sched_daemon_t *d, bool expire)
{
    int64_t now = (int64_t)uv_now(d->loop), next = INT64_MAX;
    for (size_t i = 0; i < d->njwaits;) {
        job_wait_t *w = &d->jwaits[i];
        if (sched_job_done(d->core, w->job) || (expire && w->deadline_ms <= now)) {
            status_reply(d, &w->client, w->job, &w->page);
            /* keep arrival order: answers go out in the order asked */
            memmove(w, w + 1, (d->njwaits - i - 1) * sizeof(*w));
            d->njwaits--;
            continue;
        }
        if (w->deadline_ms < next)
            next = w->deadline_ms;
        i++;
    }
    if (next == INT64_MAX)
        uv_timer_stop(&d->jwait_timer);
    else
        uv_timer_start(&d->jwait_timer, jwait_cb, (uint64_t)(next > now ? next - now : 0), 0);
}

static void on_list(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__ListJobsRequest *r)
{
    uint32_t limit =
        r->limit && r->limit < d->cfg.max_jobs_listed ? r->limit : d->cfg.max_jobs_listed;
    uint32_t njobs = sched_job_count(d->core);
    frees_t f = {0};
    Cairn__ListJobsReply rep = CAIRN__LIST_JOBS_REPLY__INIT;
    rep.jobs = clients_keep(&f, calloc(limit + 1, sizeof(*rep.jobs)));
    Cairn__JobSummary *sums = clients_keep(&f, calloc(limit + 1, sizeof(*sums)));
    for (uint32_t job = njobs; rep.jobs && sums && job >= 1; job--) {
        sched_job_info_t ji;
        Cairn__JobSummary *s = &sums[rep.n_jobs];
        fill_summary(d, job, s, &ji);
        bool want = r->n_states == 0;
        for (size_t k = 0; k < r->n_states && !want; k++)
            want = r->states[k] == s->state;
        if (r->submitter && *r->submitter && strcmp(r->submitter, ji.user) != 0)
            want = false;
        if (!want)
            continue;
        if (rep.n_jobs == limit) {
            rep.truncated = true;
            break;
        }
        fill_summary_details(d, job, s, &ji, &f);
        rep.jobs[rep.n_jobs++] = s;
    }
    d_send(d, d->cnet, from, CAIRN_MSG_LIST_JOBS_REPLY, &rep.base);
    clients_frees_fini(&f);
}

/* --- cancel, logs ---------------------------------------------------------- */

static bool find_task(sched_daemon_t *d, const cairn_peer_t *from, uint64_t job, const char *name,
                      uint32_t *task)
{
    if (job == 0 || job > sched_job_count(d->core)) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND, "no job %llu",
                      (unsigned long long)job);
        return false;
    }
    if (sched_task_find(d->core, (uint32_t)job, name ? name : "", task) < 0) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND, "job %llu has no task '%s'",
                      (unsigned long long)job, name ? name : "");
        return false;
    }
    return true;
}

#define CANCEL_NAMES_MAX 20 /* tasks named in a cancel reply */

static void on_cancel(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__CancelRequest *r)
{
    uint32_t task = 0;
    bool one = r->task && *r->task;
    if (one && !find_task(d, from, r->job_id, r->task, &task))
        return;
    if (!one && (r->job_id == 0 || r->job_id > sched_job_count(d->core))) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND, "no job %llu",
                      (unsigned long long)r->job_id);
        return;
    }
    uint32_t job = (uint32_t)r->job_id;
    client_id_t id;
    clients_identity(d, from, &id);
    if (!may_write(d, from, &id, "cancel jobs") || !clients_may_touch_job(d, from, job, "cancel"))
        return;
    /* what it will do, from the state before it: the reply says exactly that */
    sched_cancel_effect_t eff;
    if (sched_cancel_effect(d->core, job, one ? (int64_t)task : -1, &eff) < 0) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_INTERNAL, "out of memory");
        return;
    }
    sched_event_t ev = {.type = SCHED_EV_CANCEL, .time_ms = wall_ms()};
    ev.u.cancel.job = job;
    ev.u.cancel.task = one ? (int64_t)task : -1;
    cairn_error_t err = {{0}};
    if (d_apply(d, &ev, NULL, 0, &err) < 0) {
        sched_cancel_effect_fini(&eff);
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_BAD_REQUEST, "%s", err.text);
        return;
    }
    sched_job_info_t after;
    sched_job_info(d->core, job, &after);
    Cairn__CancelReply rep = CAIRN__CANCEL_REPLY__INIT;
    rep.tasks_cancelled = eff.count[SCHED_CANCEL_ENDS];
    rep.attempts_signalled = eff.count[SCHED_CANCEL_STOPS];
    rep.dependents_cancelled =
        eff.count[SCHED_CANCEL_DEPENDENT] + eff.count[SCHED_CANCEL_DEPENDENT_LATER];
    rep.dependents_later = eff.count[SCHED_CANCEL_DEPENDENT_LATER] > 0;
    sched_task_info_t cti;
    if (one && sched_task_info(d->core, job, task, &cti) == 0)
        rep.task_state = clients_task_state(d, &cti);
    Cairn__CancelledTask items[CANCEL_NAMES_MAX], *itemp[CANCEL_NAMES_MAX];
    for (uint32_t i = 0; i < eff.nitems; i++) {
        const sched_cancel_item_t *it = &eff.items[i];
        if (it->how == SCHED_CANCEL_STOPS)
            u64vec_push(&d->cancel, sched_task_attempt_id(d->core, job, it->task));
        if (rep.n_cancelled < CANCEL_NAMES_MAX) {
            Cairn__CancelledTask *c = &items[rep.n_cancelled];
            cairn__cancelled_task__init(c);
            c->name = (char *)sched_task_name(d->core, job, it->task);
            c->signalled = it->how == SCHED_CANCEL_STOPS;
            sched_attempt_info_t ai;
            c->queued = c->signalled &&
                        sched_attempt_get(d->core, sched_task_attempt_id(d->core, job, it->task),
                                          &ai) == 0 &&
                        ai.queued;
            c->dependent = it->how >= SCHED_CANCEL_DEPENDENT;
            itemp[rep.n_cancelled++] = c;
        }
    }
    rep.cancelled = itemp;
    rep.state = clients_job_state(&after);
    cairn_log(d->log, CAIRN_LOG_INFO, "job %u%s%s cancelled", job, one ? " task " : "",
              one ? r->task : "");
    client_id_t who;
    clients_identity(d, from, &who);
    char target[300];
    snprintf(target, sizeof(target), "job %u%s%.255s", job, one ? " task " : "",
             one ? r->task : "");
    d_audit(d, who.name, "cancel", target,
            "tasks_cancelled=%u attempts_signalled=%u dependents_cancelled=%u", rep.tasks_cancelled,
            rep.attempts_signalled, rep.dependents_cancelled);
    d_send(d, d->cnet, from, CAIRN_MSG_CANCEL_REPLY, &rep.base);
    sched_cancel_effect_fini(&eff);
}

static void on_logs(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__LogsRequest *r)
{
    uint32_t task;
    if (!find_task(d, from, r->job_id, r->task, &task))
        return;
    if (!clients_may_touch_job(d, from, (uint32_t)r->job_id, "read logs of"))
        return;
    sched_task_info_t ti;
    sched_task_info(d->core, (uint32_t)r->job_id, task, &ti);
    uint64_t id = ti.attempt;
    sched_attempt_info_t ai;
    while (id && sched_attempt_get(d->core, id, &ai) == 0 && r->attempt_number &&
           ai.number != r->attempt_number)
        id = ai.prev;
    if (!id) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND,
                      r->attempt_number ? "task %s has no attempt %u" : "task %s has not run yet",
                      r->task, r->attempt_number);
        return;
    }
    uint32_t max = r->max_bytes && r->max_bytes < (1u << 20) ? r->max_bytes : (1u << 20);
    int stream = r->stream == CAIRN__LOG_STREAM__LOG_STREAM_STDERR ? 2 : 1;
    if (dispatch_read_log(d, id, r->replica, stream, r->offset, max, from) < 0)
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND, "task %s has no replica %u",
                      r->task, r->replica);
}

/* --- nodes, drain, explain ----------------------------------------------- */

static Cairn__NodeState node_state(sched_daemon_t *d, uint32_t n, uint32_t running)
{
    switch (sched_node_state(d->core, n)) {
    case SCHED_NODE_UP:
        return CAIRN__NODE_STATE__NODE_STATE_UP;
    case SCHED_NODE_DRAINING:
        return running ? CAIRN__NODE_STATE__NODE_STATE_DRAINING
                       : CAIRN__NODE_STATE__NODE_STATE_DRAINED;
    case SCHED_NODE_RETURNING:
        return CAIRN__NODE_STATE__NODE_STATE_RETURNING;
    default:
        return CAIRN__NODE_STATE__NODE_STATE_DOWN;
    }
}

static int cmp_names(const void *a, const void *b, void *arg)
{
    const sched_t *s = arg;
    return strcmp(sched_node_name(s, *(const uint32_t *)a),
                  sched_node_name(s, *(const uint32_t *)b));
}

/* The attempts running on node n (holding their cores and GPUs, placed
 * ones about to start included), ascending ids, into *ids (kept in f; NULL
 * when out of memory); *queued gets how many are queued behind them
 * (prefetch), which hold nothing yet. */
static size_t node_running(sched_daemon_t *d, uint32_t n, uint64_t **ids, uint32_t *queued,
                           frees_t *f)
{
    size_t na = sched_node_attempts(d->core, n, NULL, 0), nrun = 0;
    uint64_t *v = clients_keep(f, calloc(na + 1, sizeof(uint64_t)));
    if (v)
        sched_node_attempts(d->core, n, v, na);
    for (size_t k = 0; v && k < na; k++) {
        sched_attempt_info_t ai;
        if (sched_attempt_get(d->core, v[k], &ai) == 0 && !ai.queued)
            v[nrun++] = v[k];
    }
    *ids = v;
    *queued = v ? (uint32_t)(na - nrun) : 0;
    return v ? nrun : na;
}

static Cairn__NodeInfo *node_msg(sched_daemon_t *d, uint32_t n, frees_t *f)
{
    Cairn__NodeInfo *ni = clients_keep(f, calloc(1, sizeof(*ni)));
    sched_node_usage_t u;
    if (!ni || sched_node_usage(d->core, n, &u) < 0)
        return NULL;
    cairn__node_info__init(ni);
    ni->name = (char *)sched_node_name(d->core, n);
    ni->node_id = n + 1;
    uint64_t *ids;
    size_t nrun = node_running(d, n, &ids, &ni->queued_attempts, f);
    ni->running_attempts = (uint32_t)nrun;
    ni->state = node_state(d, n, ni->running_attempts + ni->queued_attempts);
    const char *why = "";
    ni->drained = sched_node_drained(d->core, n, &why);
    ni->drain_reason = (char *)why;
    uint32_t nl = sched_node_label_count(d->core, n);
    Cairn__KeyValue *kv = clients_keep(f, calloc(nl + 1, sizeof(*kv)));
    ni->labels = clients_keep(f, calloc(nl + 1, sizeof(*ni->labels)));
    for (uint32_t i = 0; kv && ni->labels && i < nl; i++) {
        char *l = clients_keep(f, strdup(sched_node_label(d->core, n, i)));
        char *eq = l ? strchr(l, '=') : NULL;
        if (!eq)
            continue;
        *eq = '\0';
        cairn__key_value__init(&kv[i]);
        kv[i].key = l;
        kv[i].value = eq + 1;
        ni->labels[ni->n_labels++] = &kv[i];
    }
    ni->cores_total = u.ncores;
    ni->cores_free = u.free_cores;
    ni->memory_total_bytes = u.mem_total;
    ni->memory_free_bytes = u.mem_free;
    node_link_t *l = d_link(d, n);
    if (l) {
        ni->worker_version = l->worker_version ? l->worker_version : "";
        ni->last_heartbeat_ms = wall_ms() - (d_listen_now(d) - l->last_heard_ms);
    }
    Cairn__NodeGpu *g = clients_keep(f, calloc(u.ngpus + 1, sizeof(*g)));
    ni->gpus = clients_keep(f, calloc(u.ngpus + 1, sizeof(*ni->gpus)));
    for (uint32_t i = 0; g && ni->gpus && i < u.ngpus; i++) {
        sched_gpu_desc_t gd;
        cairn__node_gpu__init(&g[i]);
        g[i].index = i;
        if (sched_node_gpu(d->core, n, i, &gd)) {
            g[i].model = (char *)gd.model;
            g[i].memory_bytes = gd.memory_bytes;
            g[i].uuid = (char *)gd.uuid;
        }
        g[i].used = !(u.gpu_free_mask >> i & 1);
        for (size_t k = 0; g[i].used && ids && k < nrun; k++) {
            sched_attempt_info_t ai;
            if (sched_attempt_get(d->core, ids[k], &ai) < 0)
                continue;
            for (uint32_t r = 0; r < ai.nreplicas; r++)
                if (ai.allocs[r].node == n && (ai.allocs[r].gpu_mask >> i & 1)) {
                    g[i].attempt_id = ai.id;
                    g[i].job_id = ai.job;
                    g[i].task_name = (char *)sched_task_name(d->core, ai.job, ai.task);
                }
        }
        ni->gpus[ni->n_gpus++] = &g[i];
    }
    return ni;
}

static void on_nodes(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__NodesRequest *r)
{
    uint32_t n = sched_node_count(d->core);
    frees_t f = {0};
    uint32_t *order = clients_keep(&f, calloc(n + 1, sizeof(uint32_t)));
    Cairn__NodesReply rep = CAIRN__NODES_REPLY__INIT;
    rep.nodes = clients_keep(&f, calloc(n + 1, sizeof(*rep.nodes)));
    if (order && rep.nodes) {
        for (uint32_t i = 0; i < n; i++)
            order[i] = i;
        qsort_r(order, n, sizeof(uint32_t), cmp_names, d->core);
        for (uint32_t i = 0; i < n; i++) {
            bool want = r->n_names == 0;
            for (size_t k = 0; k < r->n_names && !want; k++)
                want = strcmp(r->names[k], sched_node_name(d->core, order[i])) == 0;
            Cairn__NodeInfo *ni = want ? node_msg(d, order[i], &f) : NULL;
            if (ni)
                rep.nodes[rep.n_nodes++] = ni;
        }
    }
    d_send(d, d->cnet, from, CAIRN_MSG_NODES_REPLY, &rep.base);
    clients_frees_fini(&f);
}

static void on_drain(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__DrainRequest *r)
{
    uint32_t node;
    client_id_t id;
    clients_identity(d, from, &id);
    if (!clients_is_admin(d, &id)) {
        const char *verb = r->drain ? "drain" : "undrain";
        cairn_log(d->log, CAIRN_LOG_INFO, "refused: %s %s may not %s node %s",
                  id.anonymous ? "anonymous client" : "user", id.name, verb,
                  r->node ? r->node : "");
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED,
                      "%s %s may not %s node %s: only administrators may",
                      id.anonymous ? "anonymous client" : "user", id.name, verb,
                      r->node ? r->node : "");
        return;
    }
    if (!r->node || sched_node_find(d->core, r->node, &node) < 0) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND, "no node '%s'",
                      r->node ? r->node : "");
        return;
    }
    /* a drain holds whatever the node's presence (a node drained while
     * down or away takes nothing when it comes back); draining again with
     * another reason records the new reason */
    const char *had = "", *reason = r->reason ? r->reason : "";
    bool drained = sched_node_drained(d->core, node, &had);
    if (drained != r->drain || (r->drain && strcmp(had, reason))) {
        sched_event_t ev = {.type = SCHED_EV_NODE_STATE, .time_ms = wall_ms()};
        ev.u.node_state.node = node;
        ev.u.node_state.state = r->drain ? SCHED_NODE_DRAINING : SCHED_NODE_UP;
        ev.u.node_state.reason = reason;
        d_apply(d, &ev, NULL, 0, NULL);
        cairn_log(d->log, CAIRN_LOG_INFO, "node %s %s%s%s", r->node,
                  r->drain ? "draining" : "undrained", r->reason && *r->reason ? ": " : "",
                  r->reason ? r->reason : "");
        char target[300];
        snprintf(target, sizeof(target), "node %.255s", r->node);
        d_audit(d, id.name, r->drain ? "drain" : "undrain", target, "reason=%s",
                r->reason ? r->reason : "");
    }
    Cairn__DrainReply rep = CAIRN__DRAIN_REPLY__INIT;
    frees_t f = {0};
    uint64_t *ids;
    rep.running_attempts = (uint32_t)node_running(d, node, &ids, &rep.queued_attempts, &f);
    rep.state = node_state(d, node, rep.running_attempts + rep.queued_attempts);
    d_send(d, d->cnet, from, CAIRN_MSG_DRAIN_REPLY, &rep.base);
    clients_frees_fini(&f);
}

static void on_explain(sched_daemon_t *d, const cairn_peer_t *from, const Cairn__ExplainRequest *r)
{
    uint32_t task;
    if (!find_task(d, from, r->job_id, r->task, &task))
        return;
    Cairn__ExplainReply rep = CAIRN__EXPLAIN_REPLY__INIT;
    char *text = sched_explain(d->core, (uint32_t)r->job_id, task, wall_ms());
    rep.text = text ? text : "";
    sched_task_info_t ti;
    sched_task_info(d->core, (uint32_t)r->job_id, task, &ti);
    rep.state = clients_task_state(d, &ti);
    d_send(d, d->cnet, from, CAIRN_MSG_EXPLAIN_REPLY, &rep.base);
    free(text);
}

/* --- dispatch -------------------------------------------------------------- */

typedef void (*client_fn)(sched_daemon_t *, const cairn_peer_t *, const ProtobufCMessage *);

static const struct {
    cairn_msg_type_t type;
    client_fn fn;
} handlers[] = {
    {CAIRN_MSG_SUBMIT, (client_fn)on_submit},
    {CAIRN_MSG_JOB_STATUS, (client_fn)on_status},
    {CAIRN_MSG_LIST_JOBS, (client_fn)on_list},
    {CAIRN_MSG_CANCEL, (client_fn)on_cancel},
    {CAIRN_MSG_LOGS, (client_fn)on_logs},
    {CAIRN_MSG_NODES, (client_fn)on_nodes},
    {CAIRN_MSG_DRAIN, (client_fn)on_drain},
    {CAIRN_MSG_EXPLAIN, (client_fn)on_explain},
    {CAIRN_MSG_AUDIT, (client_fn)clients_audit},
    {CAIRN_MSG_PROVENANCE, (client_fn)clients_provenance},
    {CAIRN_MSG_ACCOUNTING, (client_fn)clients_accounting},
    {CAIRN_MSG_USAGE, (client_fn)clients_usage},
};

static bool dispatch(sched_daemon_t *d, const cairn_peer_t *from, cairn_msg_type_t type,
                     ProtobufCMessage *msg)
{
    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
        if (handlers[i].type == type) {
            handlers[i].fn(d, from, msg);
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
    int rc = cairn_verifier_check(d->verifier, r, wall_ms(), user, sizeof(user), &err);
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
        d->bad_messages++;
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_BAD_REQUEST, "signed request: %s",
                      err.text);
        return;
    }
    d->signed_user = user;
    bool known = type != CAIRN_MSG_SIGNED && dispatch(d, from, type, inner);
    d->signed_user = NULL;
    if (!known) {
        d->bad_messages++;
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_UNSUPPORTED,
                      "signed %s is not a client request", cairn_msg_type_name(type));
    }
    cairn_msg_free(inner);
}

void clients_recv(cairn_net_t *n, const cairn_peer_t *from, cairn_msg_type_t type,
                  ProtobufCMessage *msg, void *arg)
{
    sched_daemon_t *d = arg;
    (void)n;
    if (type == CAIRN_MSG_SIGNED) {
        on_signed(d, from, (const Cairn__SignedRequest *)msg);
        return;
    }
    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
        if (handlers[i].type == type) {
            handlers[i].fn(d, from, msg);
            return;
        }
    d->bad_messages++;
    clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_UNSUPPORTED, "%s is not a client request",
                  cairn_msg_type_name(type));
}

void clients_bad(cairn_net_t *n, const cairn_peer_t *from, int code, const char *why, void *arg)
{
    sched_daemon_t *d = arg;
    (void)n;
    d->bad_messages++;
    cairn_log(d->log, CAIRN_LOG_WARN, "refused a client message: %s", why);
    clients_error(d, from,
                  code == -EPROTONOSUPPORT ? CAIRN__ERROR_CODE__ERROR_CODE_UNSUPPORTED
                  : code == -EMSGSIZE      ? CAIRN__ERROR_CODE__ERROR_CODE_RESOURCE_EXHAUSTED
                                           : CAIRN__ERROR_CODE__ERROR_CODE_BAD_REQUEST,
                  "%s", why);
}
