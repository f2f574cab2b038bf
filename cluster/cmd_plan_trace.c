/* cairn plan: traces from files (JSON records or CSV) and from the
 * scheduler's accounting reply, as plan_rec_t. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cmd.h"
#include "cluster/plan.h"
#include "cluster/plan_private.h"
#include "common/grow.h"

static plan_rec_t *rec_new(plan_trace_t *t)
{
    if (CAIRN_GROW(t->v, t->cap, t->n + 1) < 0)
        return NULL;
    plan_rec_t *r = &t->v[t->n++];
    memset(r, 0, sizeof(*r));
    r->number = 1;
    r->replicas = 1;
    return r;
}

static void rec_fini(plan_rec_t *r)
{
    free(r->job_name);
    free(r->task);
    free(r->gpu_model);
    free(r->node);
    free(r->end);
    free(r->account);
    for (uint32_t i = 0; i < r->nneeds; i++)
        free(r->needs[i]);
    free(r->needs);
    free(r->cores);
}

void plan_trace_fini(plan_trace_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        rec_fini(&t->v[i]);
    free(t->v);
    memset(t, 0, sizeof(*t));
}

static char *dup0(const char *s)
{
    return strdup(s ? s : "");
}

/* Integer with an optional K/M/G/T suffix (binary) when sizes is set. */
static bool parse_i64(const char *s, bool sizes, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s)
        return false;
    if (sizes && *end) {
        const char *u = "KMGT", *p = strchr(u, toupper((unsigned char)*end));
        if (!p || !*p)
            return false;
        for (int k = 0; k <= p - u; k++)
            v *= 1024;
        end++;
        if (*end == 'i' || *end == 'B')
            end += *end == 'i' ? (end[1] == 'B' ? 2 : 1) : 1;
    }
    if (*end)
        return false;
    *out = v;
    return true;
}

/* --- JSON records --------------------------------------------------------- */

typedef struct jctx {
    plan_trace_t *t;
    const char *path;
    bool bad;
} jctx_t;

static int jerr(jctx_t *c, size_t line, const char *fmt, const char *what)
    __attribute__((format(printf, 3, 0)));
static int jerr(jctx_t *c, size_t line, const char *fmt, const char *what)
{
    char msg[512];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(msg, sizeof(msg), fmt, what);
#pragma GCC diagnostic pop
    fprintf(stderr, "cairn plan: %s:%zu: %s\n", c->path, line, msg);
    c->bad = true;
    return -1;
}

/* A member as an integer (a number, or a string of digits); 0 when absent
 * and not required. Messages name the record's line. */
static int jint(jctx_t *c, const json_t *rec, size_t line, const char *key, bool required,
                int64_t *out)
{
    const json_t *v = json_object_get(rec, key);
    char buf[40];
    if (!v) {
        if (required)
            return jerr(c, line, "record without \"%s\"", key);
        *out = 0;
        return 0;
    }
    const char *text = pj_text(v, buf, sizeof(buf));
    if (!text || !parse_i64(text, false, out))
        return jerr(c, line, "\"%s\" is not an integer", key);
    return 0;
}

/* A member as a string (any scalar's text); "" when absent and not
 * required. */
static int jstr(jctx_t *c, const json_t *rec, size_t line, const char *key, bool required,
                char **out)
{
    const json_t *v = json_object_get(rec, key);
    char buf[40];
    const char *text = v ? pj_text(v, buf, sizeof(buf)) : "";
    if (!v && required)
        return jerr(c, line, "record without \"%s\"", key);
    if (!text)
        return jerr(c, line, "\"%s\" is not a string", key);
    *out = dup0(text);
    return *out ? 0 : jerr(c, line, "%s", "out of memory");
}

static int json_rec_cb(const json_t *item, size_t line, void *arg)
{
    jctx_t *c = arg;
    if (!json_is_object(item))
        return jerr(c, line, "%s", "a record must be an object");
    plan_rec_t *r = rec_new(c->t);
    if (!r)
        return jerr(c, line, "%s", "out of memory");
    r->line = line;
    int64_t v[16];
    static const char *const ints[] = {
        "job_id",         "number",        "rank",           "replicas",
        "priority",       "cpus",          "gpus",           "memory_bytes",
        "submit_time_ms", "ready_time_ms", "placed_time_ms", "start_time_ms",
        "end_time_ms",    "exit_code",     "time_limit_ms",  "attempt_id"};
    for (int i = 0; i < 16; i++)
        if (jint(c, item, line, ints[i], i == 0 || i == 10, &v[i]) < 0)
            return -1;
    if (jstr(c, item, line, "job_name", false, &r->job_name) < 0 ||
        jstr(c, item, line, "task", true, &r->task) < 0 ||
        jstr(c, item, line, "gpu_model", false, &r->gpu_model) < 0 ||
        jstr(c, item, line, "node", true, &r->node) < 0 ||
        jstr(c, item, line, "end", false, &r->end) < 0 ||
        jstr(c, item, line, "account", false, &r->account) < 0)
        return -1;
    if (!r->task[0] || !r->node[0])
        return jerr(c, line, "%s", "a record needs a task and the node it ran on");
    if (v[0] <= 0 || v[5] < 1 || v[5] > SCHED_MAX_CPUS || v[6] < 0 || v[6] > 64 || v[7] < 0 ||
        v[1] < 0 || v[2] < 0 || v[3] < 0 || v[3] > SCHED_MAX_REPLICAS)
        return jerr(c, line, "%s",
                    "job_id, cpus (>= 1), gpus, memory_bytes, number, rank or replicas out of "
                    "range");
    r->job_id = (uint64_t)v[0];
    r->number = v[1] ? (uint32_t)v[1] : 1;
    r->rank = (uint32_t)v[2];
    r->replicas = v[3] ? (uint32_t)v[3] : 1;
    r->priority = (int32_t)v[4];
    r->cpus = (uint32_t)v[5];
    r->gpus = (uint32_t)v[6];
    r->memory_bytes = (uint64_t)v[7];
    r->submit_ms = v[8];
    r->ready_ms = v[9];
    r->placed_ms = v[10];
    r->start_ms = v[11];
    r->end_ms = v[12];
    r->exit_code = (int32_t)v[13];
    r->time_limit_ms = v[14];
    r->attempt_id = (uint64_t)v[15];
    if (jint(c, item, line, "checkpoint_time_ms", false, &r->checkpoint_ms) < 0)
        return -1;
    if (r->rank >= r->replicas)
        return jerr(c, line, "%s", "rank is not below replicas");
    const json_t *needs = json_object_get(item, "needs");
    if (needs && !json_is_array(needs))
        return jerr(c, line, "%s", "\"needs\" is not a list");
    size_t nn = needs ? json_array_size(needs) : 0;
    if (nn) {
        if (!(r->needs = calloc(nn, sizeof(char *))))
            return jerr(c, line, "%s", "out of memory");
        for (size_t i = 0; i < nn; i++) {
            char buf[40];
            const char *name = pj_text(json_array_get(needs, i), buf, sizeof(buf));
            if (!name)
                return jerr(c, line, "%s", "\"needs\" holds task names");
            if (!(r->needs[r->nneeds++] = strdup(name)))
                return jerr(c, line, "%s", "out of memory");
        }
    }
    const json_t *cores = json_object_get(item, "cores");
    if (cores && !json_is_array(cores))
        return jerr(c, line, "%s", "\"cores\" is not a list");
    size_t nc = cores ? json_array_size(cores) : 0;
    if (nc) {
        if (nc > SCHED_MAX_CORES_PER_NODE)
            return jerr(c, line, "%s", "too many cores");
        if (!(r->cores = calloc(nc, sizeof(uint32_t))))
            return jerr(c, line, "%s", "out of memory");
        for (size_t i = 0; i < nc; i++) {
            char buf[40];
            const char *text = pj_text(json_array_get(cores, i), buf, sizeof(buf));
            int64_t core;
            if (!text || !parse_i64(text, false, &core) || core < 0 ||
                core >= SCHED_MAX_CORES_PER_NODE)
                return jerr(c, line, "%s", "\"cores\" holds core indexes");
            r->cores[r->ncores++] = (uint32_t)core;
        }
    }
    const json_t *ids = json_object_get(item, "gpu_ids");
    for (size_t i = 0; json_is_array(ids) && i < json_array_size(ids); i++) {
        int64_t ix;
        if (jint(c, json_array_get(ids, i), line, "index", true, &ix) < 0)
            return -1;
        if (ix < 0 || ix >= 64)
            return jerr(c, line, "%s", "GPU index out of range");
        r->gpu_mask |= 1ull << ix;
    }
    if (r->end_ms && r->end_ms < r->placed_ms)
        return jerr(c, line, "%s", "ends before it was placed");
    return 0;
}

/* --- CSV ------------------------------------------------------------------ */

static const char csv_header[] =
    "job,task,submit_ms,needs,cpus,gpus,gpu_model,memory_bytes,duration_ms,priority";
/* the optional last column */
static const char csv_account[] = ",account";

static int csv_err(const char *path, size_t line, const char *what)
{
    fprintf(stderr, "cairn plan: %s:%zu: %s\n", path, line, what);
    return CLI_USAGE;
}

/* A row of nf fields: 10, or 11 with the account. */
static int csv_row(plan_trace_t *t, const char *path, size_t line, char *s, int nf)
{
    char *f[11];
    int n = 0;
    for (char *p = s;;) {
        if (n == nf)
            return csv_err(path, line, nf == 10 ? "more than 10 fields" : "more than 11 fields");
        f[n++] = p;
        char *comma = strchr(p, ',');
        if (!comma)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    if (n != nf)
        return csv_err(path, line,
                       nf == 10 ? "expected 10 fields (job,task,submit_ms,needs,cpus,gpus,"
                                  "gpu_model,memory_bytes,duration_ms,priority)"
                                : "expected 11 fields (job,task,submit_ms,needs,cpus,gpus,"
                                  "gpu_model,memory_bytes,duration_ms,priority,account)");
    int64_t submit, cpus, gpus, mem, dur, prio = 0;
    if (!f[0][0] || !f[1][0])
        return csv_err(path, line, "job and task must not be empty");
    if (!parse_i64(f[2], false, &submit))
        return csv_err(path, line, "submit_ms is not an integer");
    if (!parse_i64(f[4], false, &cpus) || cpus < 1 || cpus > SCHED_MAX_CPUS)
        return csv_err(path, line, "cpus must be an integer >= 1");
    if (!parse_i64(f[5], false, &gpus) || gpus < 0 || gpus > 64)
        return csv_err(path, line, "gpus must be an integer 0..64");
    if (!parse_i64(f[7], true, &mem) || mem < 0)
        return csv_err(path, line, "memory_bytes must be a size (bytes, or with K/M/G/T)");
    if (!parse_i64(f[8], false, &dur) || dur < 0)
        return csv_err(path, line, "duration_ms must be an integer >= 0");
    if (f[9][0] && (!parse_i64(f[9], false, &prio) || prio < INT32_MIN || prio > INT32_MAX))
        return csv_err(path, line, "priority is not an integer");
    plan_rec_t *r = rec_new(t);
    if (!r)
        return csv_err(path, line, "out of memory");
    r->line = line;
    r->job_name = strdup(f[0]);
    r->task = strdup(f[1]);
    r->gpu_model = strdup(f[6]);
    r->node = strdup("");
    r->end = strdup("succeeded");
    r->account = strdup(nf == 11 ? f[10] : "");
    r->submit_ms = submit;
    r->cpus = (uint32_t)cpus;
    r->gpus = (uint32_t)gpus;
    r->memory_bytes = (uint64_t)mem;
    r->duration_ms = dur;
    r->priority = (int32_t)prio;
    if (!r->job_name || !r->task || !r->gpu_model || !r->node || !r->end || !r->account)
        return csv_err(path, line, "out of memory");
    if (f[3][0]) {
        size_t nn = 1;
        for (const char *p = f[3]; *p; p++)
            nn += *p == ';';
        if (!(r->needs = calloc(nn, sizeof(char *))))
            return csv_err(path, line, "out of memory");
        char *save = NULL;
        for (char *tok = strtok_r(f[3], ";", &save); tok; tok = strtok_r(NULL, ";", &save))
            if (!(r->needs[r->nneeds++] = strdup(tok)))
                return csv_err(path, line, "out of memory");
    }
    return CLI_OK;
}

static int csv_load(FILE *f, const char *path, plan_trace_t *t)
{
    char *buf = NULL;
    size_t cap = 0, line = 0;
    ssize_t len;
    int rc = CLI_OK, nf = 0; /* fields per row, from the header */
    bool header = false;
    while (rc == CLI_OK && (len = getline(&buf, &cap, f)) >= 0) {
        line++;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
            buf[--len] = '\0';
        if (len == 0 || buf[0] == '#')
            continue;
        if (!header) {
            size_t hl = sizeof(csv_header) - 1;
            nf = strcmp(buf, csv_header) == 0                                      ? 10
                 : !strncmp(buf, csv_header, hl) && !strcmp(buf + hl, csv_account) ? 11
                                                                                   : 0;
            if (!nf)
                rc = csv_err(path, line,
                             "the header must be "
                             "job,task,submit_ms,needs,cpus,"
                             "gpus,gpu_model,memory_bytes,duration_ms,priority (and ,account "
                             "optionally)");
            header = true;
            continue;
        }
        rc = csv_row(t, path, line, buf, nf);
    }
    free(buf);
    if (rc == CLI_OK && !header)
        rc = csv_err(path, 1, "empty trace");
    return rc;
}

int plan_trace_load(const char *path, plan_trace_t *t)
{
    memset(t, 0, sizeof(*t));
    t->source = path;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cairn plan: cannot read %s: %s\n", path, strerror(errno));
        return CLI_NOTFOUND;
    }
    int ch;
    while ((ch = fgetc(f)) != EOF && isspace(ch))
        ;
    if (ch != '[' && ch != '{') {
        rewind(f);
        int rc = csv_load(f, path, t);
        fclose(f);
        return rc;
    }
    fclose(f);
    t->recorded = true;
    pj_reader_t r;
    jctx_t c = {.t = t, .path = path};
    if (pj_open(&r, path) < 0) {
        fprintf(stderr, "cairn plan: cannot read %s: %s\n", path, r.error);
        return CLI_NOTFOUND;
    }
    int rc = pj_each(&r, "records", true, json_rec_cb, &c);
    if (rc < 0 && !c.bad)
        fprintf(stderr, "cairn plan: %s:%s\n", path, r.error);
    pj_close(&r);
    if (rc < 0)
        return CLI_USAGE;
    for (size_t i = 0; i < t->n; i++) {
        int64_t e = t->v[i].end_ms > t->v[i].placed_ms ? t->v[i].end_ms : t->v[i].placed_ms;
        if (e > t->until_ms)
            t->until_ms = e;
    }
    return CLI_OK;
}

int plan_trace_from_reply(const Cairn__AccountingReply *rep, plan_trace_t *t)
{
    memset(t, 0, sizeof(*t));
    t->recorded = true;
    t->source = "the scheduler's accounting";
    for (size_t i = 0; i < rep->n_records; i++) {
        const Cairn__AccountingRecord *m = rep->records[i];
        plan_rec_t *r = rec_new(t);
        if (!r)
            return CLI_FAIL;
        r->line = i + 1;
        r->job_id = m->job_id;
        r->attempt_id = m->attempt_id;
        r->job_name = dup0(m->job_name);
        r->task = dup0(m->task);
        r->gpu_model = dup0(m->gpu_model);
        r->node = dup0(m->node);
        r->end = dup0(m->end);
        r->account = dup0(m->account);
        if (!r->job_name || !r->task || !r->gpu_model || !r->node || !r->end || !r->account)
            return CLI_FAIL;
        r->number = m->number ? m->number : 1;
        r->rank = m->rank;
        r->replicas = m->replicas ? m->replicas : 1;
        r->priority = m->priority;
        r->cpus = m->cpus ? m->cpus : 1;
        r->gpus = m->gpus;
        r->memory_bytes = m->memory_bytes;
        for (size_t g = 0; g < m->n_gpu_ids; g++)
            if (m->gpu_ids[g]->index < 64)
                r->gpu_mask |= 1ull << m->gpu_ids[g]->index;
        if (m->n_cores && !(r->cores = malloc(m->n_cores * sizeof(uint32_t))))
            return CLI_FAIL;
        if (m->n_cores)
            memcpy(r->cores, m->cores, m->n_cores * sizeof(uint32_t));
        r->ncores = (uint32_t)m->n_cores;
        r->submit_ms = m->submit_time_ms;
        r->checkpoint_ms = m->checkpoint_time_ms;
        r->ready_ms = m->ready_time_ms;
        r->placed_ms = m->placed_time_ms;
        r->start_ms = m->start_time_ms;
        r->end_ms = m->end_time_ms;
        r->exit_code = m->exit_code;
        r->time_limit_ms = (int64_t)m->time_limit_ms;
        if (m->n_needs && !(r->needs = calloc(m->n_needs, sizeof(char *))))
            return CLI_FAIL;
        for (size_t k = 0; k < m->n_needs; k++)
            if (!(r->needs[r->nneeds++] = dup0(m->needs[k])))
                return CLI_FAIL;
        int64_t e = r->end_ms > r->placed_ms ? r->end_ms : r->placed_ms;
        if (e > t->until_ms)
            t->until_ms = e;
    }
    return CLI_OK;
}

/* --- when queued attempts got their allocation ----------------------------- */

static const plan_trace_t *alloc_trace;

/* Same node, GPUs and cores, then attempt id. */
static int cmp_alloc(const void *x, const void *y)
{
    const plan_rec_t *a = &alloc_trace->v[*(const size_t *)x],
                     *b = &alloc_trace->v[*(const size_t *)y];
    int c = strcmp(a->node, b->node);
    if (c)
        return c;
    if (a->gpu_mask != b->gpu_mask)
        return a->gpu_mask < b->gpu_mask ? -1 : 1;
    if (a->ncores != b->ncores)
        return a->ncores < b->ncores ? -1 : 1;
    if (a->ncores && (c = memcmp(a->cores, b->cores, a->ncores * sizeof(uint32_t))) != 0)
        return c;
    if (a->attempt_id != b->attempt_id)
        return a->attempt_id < b->attempt_id ? -1 : 1;
    return a->line < b->line ? -1 : a->line > b->line;
}

static bool same_alloc(const plan_rec_t *a, const plan_rec_t *b)
{
    return !strcmp(a->node, b->node) && a->gpu_mask == b->gpu_mask && a->ncores == b->ncores &&
           (!a->ncores || !memcmp(a->cores, b->cores, a->ncores * sizeof(uint32_t)));
}

int plan_trace_alloc_times(const plan_trace_t *t, int64_t *out)
{
    size_t *ix = malloc((t->n + 1) * sizeof(size_t));
    if (!ix)
        return CLI_FAIL;
    for (size_t i = 0; i < t->n; i++) {
        ix[i] = i;
        out[i] = t->recorded ? t->v[i].placed_ms : 0;
    }
    alloc_trace = t;
    qsort(ix, t->n, sizeof(size_t), cmp_alloc);
    for (size_t k = 1; t->recorded && k < t->n; k++) {
        const plan_rec_t *p = &t->v[ix[k - 1]], *r = &t->v[ix[k]];
        bool known = r->ncores || r->gpu_mask; /* else a CPU-only one's cores are unknown */
        int64_t pend = p->end_ms ? p->end_ms : t->until_ms;
        if (known && r->replicas == 1 && same_alloc(p, r) && p->attempt_id < r->attempt_id &&
            pend > r->placed_ms)
            out[ix[k]] = pend;
    }
    free(ix);
    return CLI_OK;
}
