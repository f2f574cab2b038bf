/* ProvenanceRequest: a job's self-contained record of what ran, where and
 * with what (provenance.h), for its owner and administrators. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"
#include "scheduler/clients_private.h"
#include "scheduler/view.h"

#define PROV_FORMAT "cairn-provenance/1"
#define MASKED "****"

/* Everything allocated for one reply goes into a frees_t (clients.c),
 * freed after it is sent. */
static void *pool_alloc(frees_t *p, size_t size)
{
    return clients_keep(p, calloc(1, size ? size : 1));
}

static char *pool_printf(frees_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *pool_printf(frees_t *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return clients_keep(p, n < 0 ? NULL : s);
}

/* "TASK_STATE_RUNNING" -> "running" */
static char *enum_word(frees_t *p, const ProtobufCEnumDescriptor *d, int v, const char *prefix)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
    const char *name = ev ? ev->name : "UNSPECIFIED";
    size_t pl = strlen(prefix);
    if (!strncmp(name, prefix, pl))
        name += pl;
    char *s = pool_printf(p, "%s", name);
    for (char *c = s; c && *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return s;
}

/* A task's attempts from the latest back: their ids (at most max), how
 * many. */
static uint32_t clients_attempt_chain(sched_daemon_t *d, uint64_t latest, uint64_t *ids,
                                      uint32_t max)
{
    uint32_t n = 0;
    for (uint64_t a = latest; a && n < max;) {
        sched_attempt_info_t ai;
        if (sched_attempt_get(d->core, a, &ai) < 0)
            break;
        ids[n++] = a;
        a = ai.prev;
    }
    return n;
}

static Cairn__KeyValue *kv(frees_t *p, const char *k, const char *v)
{
    Cairn__KeyValue *m = pool_alloc(p, sizeof(*m));
    if (!m)
        return NULL;
    cairn__key_value__init(m);
    m->key = (char *)k;
    m->value = (char *)v;
    return m;
}

/* The variables the worker sets (worker/exec_env.c), from the attempt. */
static void cairn_env(frees_t *p, sched_daemon_t *d, const sched_attempt_info_t *ai,
                      const sched_task_info_t *ti, uint32_t rank, Cairn__AttemptProvenance *m)
{
    Cairn__KeyValue **v = pool_alloc(p, 10 * sizeof(*v));
    if (!v)
        return;
    size_t n = 0;
    char gpus[512] = "";
    size_t gl = 0;
    for (uint32_t i = 0; i < 64; i++) {
        sched_gpu_desc_t gd;
        if (!(ai->allocs[rank].gpu_mask >> i & 1) ||
            !sched_node_gpu(d->core, ai->allocs[rank].node, i, &gd) || !gd.vendor ||
            strcmp(gd.vendor, "nvidia") != 0)
            continue;
        gl += (size_t)snprintf(gpus + gl, sizeof(gpus) - gl, "%s%s", gl ? "," : "",
                               gd.uuid && *gd.uuid ? gd.uuid : "?");
        if (gl >= sizeof(gpus))
            break;
    }
    v[n++] = kv(p, "CAIRN_JOB_ID", pool_printf(p, "%" PRIu32, ai->job));
    v[n++] = kv(p, "CAIRN_TASK", (char *)ti->name);
    v[n++] = kv(p, "CAIRN_ATTEMPT", pool_printf(p, "%" PRIu32, ai->number));
    v[n++] = kv(p, "CAIRN_ATTEMPT_ID", pool_printf(p, "%" PRIu64, ai->id));
    v[n++] = kv(p, "CAIRN_SEED",
                pool_printf(p, "%" PRIu64, sched_task_seed(d->core, ai->job, ai->task, rank)));
    v[n++] = kv(p, "CAIRN_RANK", pool_printf(p, "%" PRIu32, rank));
    v[n++] = kv(p, "CAIRN_WORLD_SIZE", pool_printf(p, "%" PRIu32, ai->nreplicas));
    v[n++] = kv(p, "CUDA_VISIBLE_DEVICES", pool_printf(p, "%s", gpus));
    m->n_cairn_env = n;
    m->cairn_env = v;
}

/* text with every occurrence of value (4 bytes or more) replaced by MASKED;
 * text itself when there is none (else a new string in the pool). */
static char *mask_value(frees_t *p, char *text, const char *value)
{
    size_t vl = strlen(value);
    if (vl < 4 || !strstr(text, value))
        return text;
    size_t n = 0;
    for (const char *s = strstr(text, value); s; s = strstr(s + vl, value))
        n++;
    char *out = pool_alloc(p, strlen(text) - n * vl + n * strlen(MASKED) + 1);
    if (!out)
        return text;
    char *o = out;
    for (const char *s = text, *hit; *s; s = hit + vl) {
        if (!(hit = strstr(s, value))) {
            strcpy(o, s);
            return out;
        }
        memcpy(o, s, (size_t)(hit - s));
        o += hit - s;
        memcpy(o, MASKED, strlen(MASKED));
        o += strlen(MASKED);
        *o = '\0';
    }
    return out;
}

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.';
}

/* Where value is set after the name key in text, at or after from
 * ("KEY: value", "KEY: 'value'", "\"KEY\": \"value\"", "KEY=value"); NULL
 * when nowhere. */
static const char *setting_at(const char *text, const char *from, const char *key,
                              const char *value)
{
    size_t kl = strlen(key), vl = strlen(value);
    for (const char *k = strstr(from, key); k; k = strstr(k + 1, key)) {
        const char *q = k + kl;
        if ((k > text && name_char(k[-1])) || name_char(*q))
            continue;
        q += strspn(q, "\"'");
        q += strspn(q, " \t");
        if (*q != ':' && *q != '=')
            continue;
        q += 1 + strspn(q + 1, " \t");
        char quote = *q == '"' || *q == '\'' ? *q++ : '\0';
        char after = strncmp(q, value, vl) ? 'x' : q[vl];
        if (quote ? after == quote : (after == '\0' || strchr(" \t\r\n,}]#", after)))
            return q;
    }
    return NULL;
}

/* text with value masked where key sets it, whatever its length (a short
 * value is masked nowhere else: masking every "1" would mangle the text);
 * text itself when it is set nowhere. */
static char *mask_setting(frees_t *p, char *text, const char *key, const char *value)
{
    size_t vl = strlen(value), n = 0;
    if (!vl || !*key)
        return text;
    for (const char *s = setting_at(text, text, key, value); s;
         s = setting_at(text, s + vl, key, value))
        n++;
    if (!n)
        return text;
    char *out = pool_alloc(p, strlen(text) + n * strlen(MASKED) + 1);
    if (!out)
        return text;
    char *o = out;
    const char *s = text;
    for (const char *hit; (hit = setting_at(text, s, key, value)) != NULL; s = hit + vl) {
        memcpy(o, s, (size_t)(hit - s));
        o += hit - s;
        memcpy(o, MASKED, strlen(MASKED));
        o += strlen(MASKED);
    }
    strcpy(o, s);
    return out;
}

/* A secret env entry ("KEY=value") of a task, and where it first came. */
typedef struct secret {
    const char *kv;
    size_t order;
} secret_t;

static int secret_cmp(const void *a, const void *b)
{
    const secret_t *x = a, *y = b;
    int c = strcmp(x->kv, y->kv);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

static int order_cmp(const void *a, const void *b)
{
    const secret_t *x = a, *y = b;
    return (x->order > y->order) - (x->order < y->order);
}

/* The spec text with the values of secret env entries masked, as in the
 * tasks' env (spec_sha256 stays the hash of the text as submitted). Each
 * distinct entry is masked once, in the order it first comes: a sweep of
 * 10,000 tasks sharing one token scans the text twice, not 20,000 times
 * (this runs on the loop when a job retires). */
static char *mask_spec(frees_t *p, sched_daemon_t *d, uint32_t job, uint32_t ntasks, char *text)
{
    const char *pattern =
        d->cfg.secret_pattern ? d->cfg.secret_pattern : PROV_SECRET_PATTERN_DEFAULT;
    secret_t *sec = NULL;
    size_t n = 0, cap = 0;
    for (uint32_t t = 0; t < ntasks; t++) {
        sched_task_info_t ti;
        if (sched_task_info(d->core, job, t, &ti) < 0)
            continue;
        for (uint32_t i = 0; i < ti.nenv; i++) {
            const char *e = ti.env[i], *eq = strchr(e, '=');
            if (!eq || eq == e || eq - e >= 256)
                continue;
            char key[256];
            snprintf(key, sizeof(key), "%.*s", (int)(eq - e), e);
            if (!prov_is_secret(pattern, key))
                continue;
            if (CAIRN_GROW(sec, cap, n + 1) < 0) { /* show nothing rather than a secret */
                free(sec);
                char *none = pool_alloc(p, 1);
                if (none)
                    none[0] = '\0';
                return none;
            }
            sec[n] = (secret_t){.kv = e, .order = n};
            n++;
        }
    }
    if (!n)
        return text;
    /* distinct entries, each at its first place */
    qsort(sec, n, sizeof(*sec), secret_cmp);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (!u || strcmp(sec[u - 1].kv, sec[i].kv))
            sec[u++] = sec[i];
    qsort(sec, u, sizeof(*sec), order_cmp);
    for (size_t i = 0; i < u; i++) {
        const char *e = sec[i].kv, *eq = strchr(e, '=');
        char key[256];
        snprintf(key, sizeof(key), "%.*s", (int)(eq - e), e);
        text = mask_setting(p, text, key, eq + 1);
        text = mask_value(p, text, eq + 1);
    }
    free(sec);
    return text;
}

static Cairn__AttemptProvenance *attempt_prov(frees_t *p, sched_daemon_t *d,
                                              const sched_attempt_info_t *ai,
                                              const sched_task_info_t *ti, uint32_t rank,
                                              const char *previous_end)
{
    Cairn__AttemptProvenance *m = pool_alloc(p, sizeof(*m));
    if (!m)
        return NULL;
    cairn__attempt_provenance__init(m);
    Cairn__AttemptProvenance *start = NULL, *end = NULL;
    cairn_error_t err = {{0}};
    if (prov_load(d->st->prov, ai->id, rank, &start, &end, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "%s", err.text);
    clients_keep_msg(p, (ProtobufCMessage *)start);
    clients_keep_msg(p, (ProtobufCMessage *)end);
    m->attempt_id = ai->id;
    m->number = ai->number;
    m->rank = rank;
    m->seed = sched_task_seed(d->core, ai->job, ai->task, rank);
    m->previous_end = (char *)previous_end;
    m->node = (char *)sched_node_name(d->core, ai->allocs[rank].node);
    bool holds = view_attempt_holds(d, ai), ran = view_attempt_ran(d, ai);
    if (holds) { /* none while queued behind another, nor if it never ran */
        m->n_cores = ai->allocs[rank].ncores;
        m->cores = pool_alloc(p, (m->n_cores + 1) * sizeof(uint32_t));
        if (m->cores)
            memcpy(m->cores, ai->allocs[rank].cores, m->n_cores * sizeof(uint32_t));
        else
            m->n_cores = 0;
        cairn_env(p, d, ai, ti, rank, m);
    }
    if (start) { /* the node as it was when the replica started */
        m->node_fingerprint = start->node_fingerprint;
        m->worker_version = start->worker_version;
        m->driver_version = start->driver_version;
        m->cuda_version = start->cuda_version;
        m->n_gpus = start->n_gpus;
        m->gpus = start->gpus;
        m->checkpoint_dir = start->checkpoint_dir;
        m->n_checkpoint_start = start->n_checkpoint_start;
        m->checkpoint_start = start->checkpoint_start;
        m->checkpoint_start_digest = start->checkpoint_start_digest;
    }
    m->preempted = clients_preemption(d, ai, p);
    m->placed_time_ms = ai->placed_ms;
    m->start_time_ms = ai->started_ms;
    m->end_time_ms = ai->ended_ms;
    m->end = (char *)view_end_word(ai);
    m->end_class = (char *)view_end_class(ai);
    if (ran) { /* a process killed before it ran was not the task */
        m->exit_code = ai->exit_code;
        m->signal = ai->signal;
    }
    uint32_t from_job;
    const char *from_task;
    if (cache_hit_get(d->st->cache, ai->id, &from_job, &from_task)) {
        m->end = "cached";
        m->cached_from_job = from_job;
        m->cached_from_task = (char *)from_task;
    }
    if (end) {
        m->cache_key = end->cache_key;
        m->error = end->error;
        m->peak_rss_bytes = end->peak_rss_bytes;
        m->cpu_time_usec = end->cpu_time_usec;
        m->n_outputs = end->n_outputs;
        m->outputs = end->outputs;
        m->n_checkpoint_end = end->n_checkpoint_end;
        m->checkpoint_end = end->checkpoint_end;
        m->checkpoint_end_digest = end->checkpoint_end_digest;
    }
    return m;
}

typedef struct inputs_acc {
    frees_t *pool;
    Cairn__TaskProvenance *task;
    size_t cap;
} inputs_acc_t;

/* One recorded input into the task's list (prov_get_inputs). */
static void add_input(const char *path, const char *sha256, uint64_t size, void *arg)
{
    inputs_acc_t *a = arg;
    Cairn__TaskProvenance *m = a->task;
    if (m->n_inputs == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4;
        Cairn__OutputHash **v = pool_alloc(a->pool, cap * sizeof(*v));
        if (!v)
            return;
        if (m->n_inputs)
            memcpy(v, m->inputs, m->n_inputs * sizeof(*v));
        m->inputs = v; /* the old array stays in the pool until the reply is sent */
        a->cap = cap;
    }
    Cairn__OutputHash *h = pool_alloc(a->pool, sizeof(*h));
    if (!h)
        return;
    cairn__output_hash__init(h);
    h->path = pool_printf(a->pool, "%s", path);
    h->sha256 = pool_printf(a->pool, "%s", sha256);
    h->size = size;
    if (h->path && h->sha256)
        m->inputs[m->n_inputs++] = h;
}

/* The newest earlier attempt of the task (m's attempts so far, oldest
 * first) whose checkpoint at its end is what ap found at its start: what
 * ap resumed from; 0 when it started fresh (or from files no attempt
 * recorded leaving). */
static uint32_t resumed_from(const Cairn__TaskProvenance *m, const Cairn__AttemptProvenance *ap)
{
    const char *start = ap->checkpoint_start_digest;
    if (!start || !*start)
        return 0;
    for (size_t i = m->n_attempts; i-- > 0;) {
        const Cairn__AttemptProvenance *e = m->attempts[i];
        if (e->number < ap->number && e->checkpoint_end_digest &&
            !strcmp(e->checkpoint_end_digest, start))
            return e->number;
    }
    return 0;
}

static Cairn__TaskProvenance *task_prov(frees_t *p, sched_daemon_t *d, uint32_t job, uint32_t t)
{
    sched_task_info_t ti;
    if (sched_task_info(d->core, job, t, &ti) < 0)
        return NULL;
    Cairn__TaskProvenance *m = pool_alloc(p, sizeof(*m));
    if (!m)
        return NULL;
    cairn__task_provenance__init(m);
    m->name = (char *)ti.name;
    m->kind = (char *)(ti.kind ? ti.kind : "");
    m->state =
        enum_word(p, &cairn__task_state__descriptor, (int)view_task_state(d, &ti), "TASK_STATE_");
    m->n_argv = ti.argc;
    m->argv = (char **)ti.argv;
    m->workdir = (char *)(ti.workdir ? ti.workdir : "");
    m->n_outputs = ti.noutputs;
    m->outputs = (char **)ti.outputs;
    m->replicas = ti.replicas;
    m->cache = ti.cache_base != NULL;
    inputs_acc_t acc = {.pool = p, .task = m};
    cairn_error_t err = {{0}};
    if (prov_get_inputs(d->st->prov, job, ti.name, add_input, &acc, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "%s", err.text);
    const char *pattern =
        d->cfg.secret_pattern ? d->cfg.secret_pattern : PROV_SECRET_PATTERN_DEFAULT;
    m->env = pool_alloc(p, (ti.nenv + 1) * sizeof(*m->env));
    for (uint32_t i = 0; m->env && i < ti.nenv; i++) {
        const char *e = ti.env[i], *eq = strchr(e, '=');
        char *key = pool_printf(p, "%.*s", (int)(eq ? eq - e : (long)strlen(e)), e);
        const char *val = eq ? eq + 1 : "";
        m->env[m->n_env++] =
            kv(p, key, (char *)(key && prov_is_secret(pattern, key) ? MASKED : val));
    }
    /* the attempts, oldest first */
    uint64_t ids[256];
    uint32_t na = clients_attempt_chain(d, ti.attempt, ids, 256);
    size_t cap = 0;
    for (uint32_t i = 0; i < na; i++) {
        sched_attempt_info_t ai;
        if (sched_attempt_get(d->core, ids[i], &ai) == 0)
            cap += ai.nreplicas;
    }
    m->attempts = pool_alloc(p, (cap + 1) * sizeof(*m->attempts));
    const char *previous = "";
    for (uint32_t i = na; m->attempts && i-- > 0;) {
        sched_attempt_info_t ai;
        if (sched_attempt_get(d->core, ids[i], &ai) < 0)
            continue;
        for (uint32_t r = 0; r < ai.nreplicas && m->n_attempts < cap; r++) {
            Cairn__AttemptProvenance *ap = attempt_prov(p, d, &ai, &ti, r, previous);
            if (!ap)
                continue;
            ap->resumed_from_attempt = resumed_from(m, ap);
            m->attempts[m->n_attempts++] = ap;
        }
        previous = view_end_word(&ai);
    }
    return m;
}

int clients_prov_fill(sched_daemon_t *d, uint32_t job, int64_t only, bool raw, frees_t *p,
                      Cairn__JobProvenance *jp, char **masked)
{
    sched_job_info_t ji;
    if (sched_job_info(d->core, job, &ji) < 0)
        return -ENOENT;
    cairn__job_provenance__init(jp);
    jp->format = PROV_FORMAT;
    jp->job_id = job;
    jp->name = (char *)(ji.name ? ji.name : "");
    jp->submitter = (char *)(ji.user ? ji.user : "");
    jp->account = (char *)view_job_account(d, job);
    jp->seed = ji.seed;
    jp->submit_time_ms = ji.submitted_ms;
    jp->scheduler_version = CAIRN_VERSION;
    jp->secret_pattern =
        (char *)(d->cfg.secret_pattern ? d->cfg.secret_pattern : PROV_SECRET_PATTERN_DEFAULT);
    jp->state = enum_word(p, &cairn__job_state__descriptor, (int)view_job_state(&ji), "JOB_STATE_");
    char *text = NULL, *sha = NULL;
    cairn_error_t err = {{0}};
    if (prov_get_spec(d->st->prov, job, &text, &sha, &err) < 0)
        cairn_log(d->log, CAIRN_LOG_WARN, "%s", err.text);
    jp->spec_text = clients_keep(p, text ? text : strdup(""));
    char *m = jp->spec_text ? mask_spec(p, d, job, ji.ntasks, jp->spec_text) : NULL;
    if (masked)
        *masked = m;
    if (!raw)
        jp->spec_text = m;
    jp->spec_sha256 = clients_keep(p, sha ? sha : strdup(""));
    jp->tasks = pool_alloc(p, (ji.ntasks + 1) * sizeof(*jp->tasks));
    uint32_t t0 = only >= 0 ? (uint32_t)only : 0, t1 = only >= 0 ? (uint32_t)only + 1 : ji.ntasks;
    for (uint32_t t = t0; jp->tasks && t < t1; t++) {
        Cairn__TaskProvenance *tp = task_prov(p, d, job, t);
        if (tp)
            jp->tasks[jp->n_tasks++] = tp;
    }
    return p->oom ? -ENOMEM : 0;
}

static void prov_reply(sched_daemon_t *d, const client_req_t *rq, Cairn__JobProvenance *jp)
{
    Cairn__ProvenanceReply rep = CAIRN__PROVENANCE_REPLY__INIT;
    rep.job = jp;
    /* so that cairn rerun can tell whose code it would run */
    rep.caller = (char *)rq->id.name;
    clients_reply(d, rq->from, CAIRN_MSG_PROVENANCE_REPLY, &rep.base);
}

/* The provenance of a retired job, from its record (archive.h), read on
 * the reader thread once the loop checked who asks. */
typedef struct prov_job {
    read_reply_t rr; /* first: the answer */
    uint32_t job;
    bool raw;
    char task[256], caller[256];
} prov_job_t;

static void prov_work(const reader_stores_t *st, void *arg)
{
    prov_job_t *j = arg;
    uint8_t *buf = NULL, *spec = NULL;
    size_t len, slen;
    cairn_error_t err = {{0}};
    Cairn__JobProvenance *jp = NULL;
    int rc = archive_get(st->archive, j->job, ARCHIVE_PROV, &buf, &len, &err);
    if (rc == 0 &&
        (j->raw || archive_get(st->archive, j->job, ARCHIVE_SPEC_MASKED, &spec, &slen, &err) == 0))
        jp = cairn__job_provenance__unpack(NULL, len, buf);
    free(buf);
    if (jp && !view_account_fill(&jp->account)) {
        cairn__job_provenance__free_unpacked(jp, NULL);
        jp = NULL;
        snprintf(err.text, sizeof(err.text), "out of memory");
    }
    if (!jp) {
        if (rc == -ENOENT)
            j->rr.code = CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND;
        snprintf(j->rr.error, sizeof(j->rr.error),
                 rc == -ENOENT ? "job %u ended before the history kept (--history-retention): "
                                 "its record was dropped%.0s"
                               : "job %u was retired and its record does not read: %s",
                 j->job, err.text[0] ? err.text : "it does not decode");
        free(spec);
        return;
    }
    Cairn__TaskProvenance **all = jp->tasks;
    size_t n = jp->n_tasks;
    char *text = jp->spec_text;
    if (j->task[0]) {
        jp->n_tasks = 0;
        for (size_t i = 0; i < n && !jp->n_tasks; i++)
            if (!strcmp(all[i]->name, j->task)) {
                jp->tasks = &all[i];
                jp->n_tasks = 1;
            }
        if (!jp->n_tasks)
            snprintf(j->rr.error, sizeof(j->rr.error), "job %u has no task '%s'", j->job, j->task);
        if (!jp->n_tasks)
            j->rr.code = CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND;
    }
    if (spec)
        jp->spec_text = (char *)spec;
    Cairn__ProvenanceReply rep = CAIRN__PROVENANCE_REPLY__INIT;
    rep.job = jp;
    rep.caller = j->caller;
    if (!j->rr.error[0] && cairn_msg_encode(CAIRN_MSG_PROVENANCE_REPLY, &rep.base, &j->rr.reply,
                                            &j->rr.reply_len, &err) < 0)
        snprintf(j->rr.error, sizeof(j->rr.error), "%s", err.text);
    jp->spec_text = text;
    jp->tasks = all;
    jp->n_tasks = n;
    cairn__job_provenance__free_unpacked(jp, NULL);
    free(spec);
}

static void prov_done(void *arg, bool aborted)
{
    clients_read_done(arg, aborted);
    free(arg);
}

static void prov_retired(sched_daemon_t *d, const client_req_t *rq, uint32_t job,
                         const Cairn__ProvenanceRequest *r)
{
    if (!clients_may_touch_job(d, rq, job, "read the provenance of"))
        return;
    prov_job_t *j = calloc(1, sizeof(*j));
    if (!j) {
        clients_error(d, rq->from, CAIRN__ERROR_CODE__ERROR_CODE_INTERNAL, "out of memory");
        return;
    }
    *j = (prov_job_t){.rr = {.d = d, .to = *rq->from}, .job = job, .raw = r->raw_spec};
    snprintf(j->task, sizeof(j->task), "%s", r->task ? r->task : "");
    snprintf(j->caller, sizeof(j->caller), "%s", rq->id.name);
    if (clients_read_later(d, rq->from, prov_work, prov_done, j) < 0)
        prov_done(j, true);
}

void clients_provenance(sched_daemon_t *d, const client_req_t *rq,
                        const Cairn__ProvenanceRequest *r)
{
    const cairn_peer_t *from = rq->from;
    if (r->job_id == 0 || r->job_id > sched_job_count(d->core)) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND, "no job %llu",
                      (unsigned long long)r->job_id);
        return;
    }
    uint32_t job = (uint32_t)r->job_id, only = 0;
    if (sched_job_retired(d->core, job)) {
        prov_retired(d, rq, job, r);
        return;
    }
    bool one = r->task && *r->task;
    if (one && sched_task_find(d->core, job, r->task, &only) < 0) {
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND, "job %u has no task '%s'",
                      job, r->task);
        return;
    }
    if (!clients_may_touch_job(d, rq, job, "read the provenance of"))
        return;
    frees_t p = {0};
    Cairn__JobProvenance jp;
    if (clients_prov_fill(d, job, one ? (int64_t)only : -1, r->raw_spec, &p, &jp, NULL) < 0)
        clients_error(d, from, CAIRN__ERROR_CODE__ERROR_CODE_INTERNAL, "out of memory");
    else
        prov_reply(d, rq, &jp);
    clients_frees_fini(&p);
}
