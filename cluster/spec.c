/* The job spec parser: libyaml's document API, walked against the schema.
 * Every problem is collected with its position; nothing is returned unless
 * the whole spec is sound. Matrix expansion and needs are in spec_expand.c. */
#include "cluster/spec_private.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/grow.h"
#include "proto/sha256.h"

#define N_(a) (sizeof(a) / sizeof((a)[0]))

static yaml_node_t *node_at(spec_ctx_t *c, int id)
{
    return yaml_document_get_node(c->doc, id);
}

static const char *kind_name(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE    ? "a mapping"
           : n->type == YAML_SEQUENCE_NODE ? "a list"
                                           : "a scalar";
}

/* The scalar's text, or NULL (reported: "expected <what>"). */
static const char *scalar(spec_ctx_t *c, yaml_node_t *n, const char *what)
{
    if (n->type != YAML_SCALAR_NODE) {
        spec_error(c, n->start_mark, "expected %s, found %s", what, kind_name(n));
        return NULL;
    }
    const char *s = (const char *)n->data.scalar.value;
    if (strlen(s) != n->data.scalar.length) {
        spec_error(c, n->start_mark, "string contains a NUL character");
        return NULL;
    }
    if (n->data.scalar.length > SPEC_MAX_STRING) {
        spec_error(c, n->start_mark, "string too long (%zu bytes, at most %u)",
                   n->data.scalar.length, SPEC_MAX_STRING);
        return NULL;
    }
    return s;
}

static bool is_null(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (n->data.scalar.length == 0 || strcmp((char *)n->data.scalar.value, "~") == 0 ||
            strcmp((char *)n->data.scalar.value, "null") == 0);
}

static int get_string(spec_ctx_t *c, yaml_node_t *n, char **out)
{
    const char *s = scalar(c, n, "a string");
    if (!s)
        return -1;
    char *d = spec_strdup(c, n->start_mark, s);
    if (!d)
        return -1;
    free(*out);
    *out = d;
    return 0;
}

static int get_int(spec_ctx_t *c, yaml_node_t *n, long long min, long long max, long long *out)
{
    const char *s = scalar(c, n, "an integer");
    if (!s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end || errno || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        spec_error(c, n->start_mark, "expected an integer, found '%s'", s);
        return -1;
    }
    if (v < min || v > max) {
        spec_error(c, n->start_mark, "%lld is out of range (%lld..%lld)", v, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int get_size(spec_ctx_t *c, yaml_node_t *n, uint64_t *out)
{
    const char *s = scalar(c, n, "a size");
    if (s && spec_parse_size(s, out) == 0)
        return 0;
    if (s)
        spec_error(c, n->start_mark, "bad size '%s' (expected e.g. 512M, 1.5G, 64Gi)", s);
    return -1;
}

static int get_duration(spec_ctx_t *c, yaml_node_t *n, uint64_t *out)
{
    const char *s = scalar(c, n, "a duration");
    if (s && spec_parse_duration(s, out) == 0)
        return 0;
    if (s)
        spec_error(c, n->start_mark, "bad duration '%s' (expected e.g. 500ms, 5s, 2m, 1h30m)", s);
    return -1;
}

/* A list of scalars; subst: check ${{ matrix.K }} in each. */
static int get_strv(spec_ctx_t *c, yaml_node_t *n, spec_strv_t *v, bool subst)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        spec_error(c, n->start_mark, "expected a list, found %s", kind_name(n));
        return -1;
    }
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (cnt > SPEC_MAX_ITEMS) {
        spec_error(c, n->start_mark, "too many items (%zu, at most %u)", cnt, SPEC_MAX_ITEMS);
        return -1;
    }
    spec_strv_free(v);
    v->v = calloc(cnt + 1, sizeof(*v->v));
    v->marks = calloc(cnt + 1, sizeof(*v->marks));
    if (!v->v || !v->marks)
        return c->oom = true, -1;
    int rc = 0;
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *it = node_at(c, n->data.sequence.items.start[i]);
        const char *s = scalar(c, it, "a string");
        char *d = s ? spec_strdup(c, it->start_mark, s) : NULL;
        if (!d) {
            rc = -1;
            continue;
        }
        if (subst)
            spec_check_subst(c, it->start_mark, d);
        v->marks[v->n] = it->start_mark;
        v->v[v->n++] = d;
    }
    return rc;
}

/* Report unknown and duplicate keys of mapping n; returns -1 if n is not a
 * mapping. what: "task", "resources"... for the message. */
static int check_keys(spec_ctx_t *c, yaml_node_t *n, const char *const *keys, size_t nkeys,
                      const char *what)
{
    if (n->type != YAML_MAPPING_NODE) {
        spec_error(c, n->start_mark, "expected a mapping, found %s", kind_name(n));
        return -1;
    }
    size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (cnt > SPEC_MAX_ITEMS) {
        spec_error(c, n->start_mark, "too many keys (%zu, at most %u)", cnt, SPEC_MAX_ITEMS);
        return -1;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(c, p->key);
        const char *s = scalar(c, k, "a key");
        if (!s)
            continue;
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k2 = node_at(c, q->key);
            if (k2->type == YAML_SCALAR_NODE && strcmp((char *)k2->data.scalar.value, s) == 0) {
                spec_error(c, k->start_mark, "duplicate key '%s' (first at line %zu)", s,
                           k2->start_mark.line + 1);
                break;
            }
        }
        if (!keys)
            continue;
        bool known = false;
        for (size_t i = 0; i < nkeys && !known; i++)
            known = strcmp(keys[i], s) == 0;
        if (known)
            continue;
        const char *hint = spec_suggest(s, keys, nkeys);
        if (hint)
            spec_error(c, k->start_mark, "unknown key '%s' in %s (did you mean '%s'?)", s, what,
                       hint);
        else
            spec_error(c, k->start_mark, "unknown key '%s' in %s", s, what);
    }
    return 0;
}

/* The value for key in mapping n (NULL if absent; the first when repeated). */
static yaml_node_t *lookup(spec_ctx_t *c, yaml_node_t *n, const char *key)
{
    if (n->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(c, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return node_at(c, p->value);
    }
    return NULL;
}

#define FOR_PAIRS(c, n, kname, val)                                                                \
    for (yaml_node_pair_t *p_ = (n)->data.mapping.pairs.start; p_ < (n)->data.mapping.pairs.top;   \
         p_++)                                                                                     \
        for (yaml_node_t *k_ = node_at(c, p_->key), *val = node_at(c, p_->value); k_; k_ = NULL)   \
            for (const char *kname =                                                               \
                     k_->type == YAML_SCALAR_NODE ? (const char *)k_->data.scalar.value : "";      \
                 kname; kname = NULL)

/* A map of strings; what ("env", "label") names its keys in messages,
 * which must be non-empty and without '=' (they become "KEY=value"). */
static void get_kv(spec_ctx_t *c, yaml_node_t *n, spec_kv_t *kv, bool subst, const char *what)
{
    if (check_keys(c, n, NULL, 0, "") < 0)
        return;
    FOR_PAIRS(c, n, key, val)
    {
        const char *v = scalar(c, val, "a string");
        if (k_->type != YAML_SCALAR_NODE)
            continue; /* reported */
        if (!*key) {
            spec_error(c, k_->start_mark, "%s name is empty", what);
            continue;
        }
        if (strchr(key, '=')) {
            spec_error(c, k_->start_mark, "%s name '%s' contains '='", what, key);
            continue;
        }
        if (!v)
            continue;
        if (subst)
            spec_check_subst(c, val->start_mark, v);
        char *kd = spec_strdup(c, k_->start_mark, key);
        char *vd = kd ? spec_strdup(c, val->start_mark, v) : NULL;
        if (!vd) {
            free(kd);
            continue;
        }
        if (spec_kv_set(kv, kd, vd, spec_pos(k_->start_mark)) < 0)
            c->oom = true;
    }
}

/* true/yes or false/no; anything else is an error naming the key. */
static int get_bool(spec_ctx_t *c, yaml_node_t *n, const char *key, bool *out)
{
    char *s = NULL;
    int rc = -1;
    if (get_string(c, n, &s) == 0) {
        if (!strcmp(s, "true") || !strcmp(s, "yes"))
            *out = true, rc = 0;
        else if (!strcmp(s, "false") || !strcmp(s, "no"))
            *out = false, rc = 0;
        else
            spec_error(c, n->start_mark, "%s: expected true or false, found '%s'", key, s);
    }
    free(s);
    return rc;
}

/* GPU memory as vendors name it: G and GB are decimal (an "H100 80GB" has
 * 81,559 MiB, 85.5e9 bytes: min_memory: 80G takes it), Gi and GiB binary. */
static int get_gpu_memory(spec_ctx_t *c, yaml_node_t *n, uint64_t *out)
{
    const char *s = scalar(c, n, "a size");
    if (s && spec_parse_gpu_memory(s, out) == 0)
        return 0;
    if (s)
        spec_error(c, n->start_mark, "bad size '%s' (expected e.g. 24G, 80GB, 79.6Gi)", s);
    return -1;
}

static void parse_gpu(spec_ctx_t *c, yaml_node_t *n, spec_opts_t *o)
{
    static const char *const keys[] = {"model", "min_memory", "mixed"};
    if (check_keys(c, n, keys, N_(keys), "gpu") < 0)
        return;
    FOR_PAIRS(c, n, key, val)
    {
        if (strcmp(key, "model") == 0 && get_string(c, val, &o->gpu_model) == 0)
            o->at[SCHED_FIELD_GPU_MODEL] = spec_pos(val->start_mark);
        else if (strcmp(key, "min_memory") == 0 && get_gpu_memory(c, val, &o->gpu_min_memory) == 0)
            o->at[SCHED_FIELD_GPU_MEMORY] = spec_pos(val->start_mark);
        else if (strcmp(key, "mixed") == 0)
            get_bool(c, val, "mixed", &o->gpu_mixed);
    }
}

static void parse_resources(spec_ctx_t *c, yaml_node_t *n, spec_opts_t *o)
{
    static const char *const keys[] = {"cpus", "memory", "gpus", "gpu"};
    if (check_keys(c, n, keys, N_(keys), "resources") < 0)
        return;
    FOR_PAIRS(c, n, key, val)
    {
        long long v;
        if (strcmp(key, "cpus") == 0 && get_int(c, val, 1, UINT32_MAX, &v) == 0) {
            o->cpus = (uint32_t)v;
            o->at[SCHED_FIELD_CPUS] = spec_pos(val->start_mark);
        } else if (strcmp(key, "gpus") == 0 && get_int(c, val, 0, UINT32_MAX, &v) == 0) {
            o->gpus = (uint32_t)v;
            o->at[SCHED_FIELD_GPUS] = spec_pos(val->start_mark);
        } else if (strcmp(key, "memory") == 0 && get_size(c, val, &o->memory) == 0) {
            o->at[SCHED_FIELD_MEMORY] = spec_pos(val->start_mark);
        } else if (strcmp(key, "gpu") == 0) {
            parse_gpu(c, val, o);
        }
    }
}

static void parse_retry_on(spec_ctx_t *c, yaml_node_t *n, spec_opts_t *o)
{
    static const char *const words[] = {"node-lost", "timeout", "signal", "any-exit", "nonzero"};
    spec_strv_t v = {0};
    get_strv(c, n, &v, false);
    o->on_node_lost = o->on_timeout = o->on_signal = o->on_any = false;
    o->nexit_codes = 0;
    o->at[SCHED_FIELD_RETRY_ON] = spec_pos(n->start_mark);
    free(o->exit_codes);
    free(o->exit_at);
    o->exit_codes = v.n ? calloc(v.n, sizeof(int32_t)) : NULL;
    o->exit_at = v.n ? calloc(v.n, sizeof(*o->exit_at)) : NULL;
    if (v.n && (!o->exit_codes || !o->exit_at))
        c->oom = true;
    for (size_t i = 0; i < v.n; i++) {
        const char *s = v.v[i];
        if (strncmp(s, "exit:", 5) == 0) {
            const char *d = s + 5;
            size_t nd = strspn(d, "0123456789");
            long code = nd && nd <= 3 && !d[nd] ? strtol(d, NULL, 10) : -1;
            if (!nd || d[nd] || nd > 3)
                spec_error(c, v.marks[i], "bad exit code in '%s' (expected exit:1..255)", s);
            else if (code < 1 || code > 255)
                spec_error(c, v.marks[i], "retry exit code %ld is out of range (1..255)", code);
            else if (o->exit_codes && o->exit_at) {
                o->exit_at[o->nexit_codes] = spec_pos(v.marks[i]);
                o->exit_codes[o->nexit_codes++] = (int32_t)code;
            }
        } else if (strcmp(s, "node-lost") == 0) {
            o->on_node_lost = true;
        } else if (strcmp(s, "timeout") == 0) {
            o->on_timeout = true;
        } else if (strcmp(s, "signal") == 0) {
            o->on_signal = true;
        } else if (strcmp(s, "any-exit") == 0 || strcmp(s, "nonzero") == 0) {
            o->on_any = true;
        } else {
            const char *hint = spec_suggest(s, words, N_(words));
            spec_error(c, v.marks[i],
                       "unknown retry condition '%s'%s%s%s (expected node-lost, timeout, "
                       "signal, any-exit or exit:N)",
                       s, hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
        }
    }
    spec_strv_free(&v);
}

static void parse_retry(spec_ctx_t *c, yaml_node_t *n, spec_opts_t *o)
{
    static const char *const keys[] = {"attempts",    "backoff", "factor",
                                       "max_backoff", "jitter",  "on"};
    if (check_keys(c, n, keys, N_(keys), "retry") < 0)
        return;
    FOR_PAIRS(c, n, key, val)
    {
        long long v;
        spec_pos_t at = spec_pos(val->start_mark);
        if (strcmp(key, "attempts") == 0 && get_int(c, val, 1, 1000, &v) == 0) {
            o->attempts = (uint32_t)v;
            o->at[SCHED_FIELD_RETRY_ATTEMPTS] = at;
        } else if (strcmp(key, "jitter") == 0 && get_int(c, val, 0, 100, &v) == 0) {
            o->jitter = (uint32_t)v;
            o->at[SCHED_FIELD_RETRY_JITTER] = at;
        } else if (strcmp(key, "backoff") == 0 && get_duration(c, val, &o->backoff_ms) == 0) {
            o->at[SCHED_FIELD_RETRY_BACKOFF] = at;
        } else if (strcmp(key, "max_backoff") == 0 &&
                   get_duration(c, val, &o->max_backoff_ms) == 0) {
            o->at[SCHED_FIELD_RETRY_MAX_BACKOFF] = at;
        } else if (strcmp(key, "on") == 0) {
            parse_retry_on(c, val, o);
        } else if (strcmp(key, "factor") == 0) {
            const char *s = scalar(c, val, "a number");
            if (s && spec_parse_milli(s, &o->factor_milli) < 0)
                spec_error(c, val->start_mark, "bad backoff factor '%s' (expected e.g. 2 or 1.5)",
                           s);
            else if (s)
                o->at[SCHED_FIELD_RETRY_FACTOR] = at;
        }
    }
}

/* Keys shared by defaults: and a task. Returns false if key is not one. */
static bool parse_opt(spec_ctx_t *c, const char *key, yaml_node_t *val, spec_opts_t *o)
{
    long long v;
    bool subst = c->cur != NULL;
    spec_pos_t at = spec_pos(val->start_mark);
    if (strcmp(key, "resources") == 0)
        parse_resources(c, val, o);
    else if (strcmp(key, "retry") == 0)
        parse_retry(c, val, o);
    else if (strcmp(key, "time_limit") == 0) {
        if (get_duration(c, val, &o->time_limit_ms) == 0)
            o->at[SCHED_FIELD_TIME_LIMIT] = at;
    } else if (strcmp(key, "env") == 0)
        get_kv(c, val, &o->env, subst, "env");
    else if (strcmp(key, "labels") == 0)
        get_kv(c, val, &o->labels, false, "label");
    else if (strcmp(key, "workdir") == 0) {
        if (get_string(c, val, &o->workdir) == 0 && subst)
            spec_check_subst(c, val->start_mark, o->workdir);
    } else if (strcmp(key, "priority") == 0) {
        if (get_int(c, val, -1000000, 1000000, &v) == 0) {
            o->priority = (int32_t)v;
            o->at[SCHED_FIELD_PRIORITY] = at;
        }
    } else
        return false;
    return true;
}

#define OPT_KEYS "resources", "retry", "time_limit", "env", "workdir", "labels", "priority"

static bool isalnum_ascii(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

static bool valid_key_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!(isalnum_ascii(*s) || *s == '_' || *s == '-'))
            return false;
    return true;
}

static void parse_matrix(spec_ctx_t *c, yaml_node_t *n, spec_task_t *t)
{
    if (check_keys(c, n, NULL, 0, "matrix") < 0)
        return;
    size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (cnt == 0) {
        spec_error(c, n->start_mark, "matrix has no keys");
        return;
    }
    t->keys = calloc(cnt, sizeof(*t->keys));
    t->vals = calloc(cnt, sizeof(*t->vals));
    if (!t->keys || !t->vals) {
        c->oom = true;
        return;
    }
    size_t count = 1;
    bool ok = true;
    FOR_PAIRS(c, n, key, val)
    {
        if (!valid_key_name(key)) {
            if (*key)
                spec_error(c, k_->start_mark, "bad matrix key '%s' (letters, digits, _ and -)",
                           key);
            ok = false;
            continue;
        }
        size_t k = t->nkeys;
        if (get_strv(c, val, &t->vals[k], false) < 0 ||
            !(t->keys[k] = spec_strdup(c, k_->start_mark, key))) {
            spec_strv_free(&t->vals[k]);
            ok = false;
            continue;
        }
        t->nkeys++;
        for (size_t i = 0; i < t->vals[k].n; i++) {
            const char *why = spec_name_problem(t->vals[k].v[i], false);
            if (why) {
                spec_error(c, t->vals[k].marks[i],
                           "matrix value '%.64s' of key '%s' %s (values become part of task "
                           "names)",
                           t->vals[k].v[i], key, why);
                ok = false;
            }
        }
        if (t->vals[k].n == 0) {
            spec_error(c, val->start_mark, "matrix key '%s' has no values", key);
            ok = false;
        } else if (count <= SPEC_MAX_TASKS) {
            count *= t->vals[k].n;
        }
    }
    if (!ok) {
        t->bad_matrix = true;
        return;
    }
    if (count > SPEC_MAX_TASKS || c->total_tasks + count > SPEC_MAX_TASKS) {
        spec_error(c, n->start_mark, "matrix expands the job to more than %u tasks",
                   SPEC_MAX_TASKS);
        c->total_tasks = SPEC_MAX_TASKS + 1;
        t->bad_matrix = true;
        return;
    }
    t->count = count;
}

/* Why s cannot be (part of) a task name, which becomes a directory name on
 * the workers; NULL if it can. */
const char *spec_name_problem(const char *s, bool whole)
{
    if (whole && (strcmp(s, ".") == 0 || strcmp(s, "..") == 0))
        return "is '.' or '..'";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '/' || *p == '\\')
            return "contains a path separator ('/' or '\\')";
        if (*p < 0x20 || *p == 0x7f || *p == ' ')
            return "contains whitespace or a control character";
    }
    return NULL;
}

static bool valid_task_name(spec_ctx_t *c, yaml_node_t *n, const char *s)
{
    const char *why;
    if (!*s)
        spec_error(c, n->start_mark, "task name is empty");
    else if (strlen(s) > SPEC_MAX_NAME)
        spec_error(c, n->start_mark, "task name longer than %u characters", SPEC_MAX_NAME);
    else if (strpbrk(s, "[]"))
        spec_error(c, n->start_mark, "task name '%s' contains '[' or ']' (kept for matrix names)",
                   s);
    else if ((why = spec_name_problem(s, true)))
        spec_error(c, n->start_mark, "task name '%s' %s", s, why);
    else
        return true;
    return false;
}

/* Task-only keys; returns false if key is not one. */
static bool parse_task_key(spec_ctx_t *c, const char *key, yaml_node_t *val, spec_task_t *t)
{
    long long v;
    if (strcmp(key, "name") == 0) {
        t->o.at[SCHED_FIELD_NAME] = spec_pos(val->start_mark);
        if (get_string(c, val, &t->name) == 0 && !valid_task_name(c, val, t->name)) {
            free(t->name);
            t->name = NULL;
        }
    } else if (strcmp(key, "kind") == 0) {
        get_string(c, val, &t->kind);
    } else if (strcmp(key, "run") == 0) {
        t->has_run = true;
        t->o.at[SCHED_FIELD_ARGV] = spec_pos(val->start_mark);
        if (get_strv(c, val, &t->argv, true) == 0 && t->argv.n == 0)
            spec_error(c, val->start_mark, "run: is an empty list");
    } else if (strcmp(key, "shell") == 0) {
        t->has_shell = true;
        t->o.at[SCHED_FIELD_ARGV] = spec_pos(val->start_mark);
        spec_strv_free(&t->argv);
        t->argv.v = calloc(1, sizeof(char *));
        t->argv.marks = calloc(1, sizeof(yaml_mark_t));
        if (t->argv.v && t->argv.marks && get_string(c, val, &t->argv.v[0]) == 0) {
            t->argv.n = 1;
            t->argv.marks[0] = val->start_mark;
            if (t->argv.v[0][strspn(t->argv.v[0], " \t\r\n")] == '\0')
                spec_error(c, val->start_mark, "shell: is an empty script");
            spec_check_subst(c, val->start_mark, t->argv.v[0]);
        }
    } else if (strcmp(key, "needs") == 0) {
        get_strv(c, val, &t->needs, false);
    } else if (strcmp(key, "cache") == 0) {
        get_bool(c, val, "cache", &t->cache);
    } else if (strcmp(key, "inputs") == 0) {
        get_strv(c, val, &t->inputs, true);
        for (size_t i = 0; i < t->inputs.n; i++)
            if (t->inputs.v[i][0] == '/' || t->inputs.v[i][0] == '\0')
                spec_error(c, t->inputs.marks[i], "input '%s' is not a relative path",
                           t->inputs.v[i]);
    } else if (strcmp(key, "outputs") == 0) {
        get_strv(c, val, &t->outputs, true);
        for (size_t i = 0; i < t->outputs.n; i++)
            if (t->outputs.v[i][0] == '/' || t->outputs.v[i][0] == '\0')
                spec_error(c, t->outputs.marks[i], "output '%s' is not a relative path",
                           t->outputs.v[i]);
    } else if (strcmp(key, "replicas") == 0) {
        if (get_int(c, val, 1, 1000000, &v) == 0) {
            t->replicas = (uint32_t)v;
            t->o.at[SCHED_FIELD_REPLICAS] = spec_pos(val->start_mark);
        }
    } else if (strcmp(key, "matrix") == 0 || strcmp(key, "description") == 0) {
        /* matrix: parsed first; description: ignored */
    } else
        return false;
    return true;
}

static void parse_task(spec_ctx_t *c, yaml_node_t *n, const spec_opts_t *defaults, spec_task_t *t)
{
    static const char *const keys[] = {"name",   "description", "kind",     "run",
                                       "shell",  "needs",       "matrix",   "outputs",
                                       "inputs", "cache",       "replicas", OPT_KEYS};
    t->mark = n->start_mark;
    t->count = 1;
    t->replicas = 1;
    if (spec_opts_copy(c, &t->o, defaults) < 0)
        c->oom = true;
    if (check_keys(c, n, keys, N_(keys), "task") < 0)
        return;
    yaml_node_t *m = lookup(c, n, "matrix");
    if (m)
        parse_matrix(c, m, t);
    c->cur = t;
    FOR_PAIRS(c, n, key, val)
    {
        if (!parse_task_key(c, key, val, t))
            parse_opt(c, key, val, &t->o);
    }
    c->cur = NULL;
    if (!lookup(c, n, "name"))
        spec_error(c, n->start_mark, "task is missing required key 'name'");
    const char *tn = t->name ? t->name : "?";
    if (t->has_run && t->has_shell)
        spec_error(c, lookup(c, n, "shell")->start_mark,
                   "task '%s' has both 'run' and 'shell' (give one)", tn);
    else if (!t->has_run && !t->has_shell)
        spec_error(c, n->start_mark, "task '%s' is missing required key 'run' or 'shell'", tn);
    if (t->bad_matrix) {
        for (size_t k = 0; k < t->nkeys; k++) {
            free(t->keys[k]);
            spec_strv_free(&t->vals[k]);
        }
        t->nkeys = 0;
        t->count = 1;
    }
    if (c->total_tasks <= SPEC_MAX_TASKS)
        c->total_tasks += t->count;
}

static void parse_defaults(spec_ctx_t *c, yaml_node_t *n, spec_opts_t *o)
{
    static const char *const keys[] = {OPT_KEYS};
    if (check_keys(c, n, keys, N_(keys), "defaults") < 0)
        return;
    FOR_PAIRS(c, n, key, val)
    {
        parse_opt(c, key, val, o);
    }
}

/* The whole document: top-level keys, defaults, then each task. */
static void parse_root(spec_ctx_t *c, yaml_node_t *root, Cairn__JobSpec *js, spec_task_t **tasksp,
                       size_t *ntasksp)
{
    static const char *const keys[] = {"name", "description", "seed", "defaults", "tasks"};
    if (check_keys(c, root, keys, N_(keys), "the job spec") < 0)
        return;
    yaml_node_t *n = lookup(c, root, "name");
    char *name = NULL;
    c->name_at = c->tasks_at = spec_pos(root->start_mark);
    if (n)
        c->name_at = spec_pos(n->start_mark);
    if (!n)
        spec_error(c, root->start_mark, "missing required key 'name'");
    else if (get_string(c, n, &name) == 0) {
        if (!*name)
            spec_error(c, n->start_mark, "job name is empty");
        js->name = name;
    }
    if ((n = lookup(c, root, "seed"))) {
        const char *s = scalar(c, n, "an integer");
        char *end;
        errno = 0;
        unsigned long long v = s ? strtoull(s, &end, 10) : 0;
        if (s &&
            (!*s || *end || errno || *s == '-' || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE))
            spec_error(c, n->start_mark, "expected an integer seed (0..2^64-1), found '%s'", s);
        else if (s) {
            js->seed_present_case = CAIRN__JOB_SPEC__SEED_PRESENT_SEED;
            js->seed = v;
        }
    }
    spec_opts_t defaults = {.cpus = 1};
    if ((n = lookup(c, root, "defaults")))
        parse_defaults(c, n, &defaults);
    n = lookup(c, root, "tasks");
    if (n)
        c->tasks_at = spec_pos(n->start_mark);
    if (!n) {
        spec_error(c, root->start_mark, "missing required key 'tasks'");
    } else if (n->type != YAML_SEQUENCE_NODE) {
        spec_error(c, n->start_mark, "expected a list of tasks, found %s", kind_name(n));
    } else {
        size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
        if (cnt == 0)
            spec_error(c, n->start_mark, "tasks: is empty");
        else if (cnt > SPEC_MAX_TEMPLATES)
            spec_error(c, n->start_mark, "too many tasks (%zu, at most %u)", cnt,
                       SPEC_MAX_TEMPLATES);
        else if (!(*tasksp = calloc(cnt, sizeof(**tasksp))))
            c->oom = true;
        for (size_t i = 0; *tasksp && i < cnt; i++) {
            parse_task(c, node_at(c, n->data.sequence.items.start[i]), &defaults, &(*tasksp)[i]);
            *ntasksp = i + 1;
        }
    }
    spec_opts_fini(&defaults);
}

/* libyaml's own error, at its position. Reader errors (bad UTF-8) carry a
 * byte offset only: count lines ourselves. */
static void yaml_problem(spec_ctx_t *c, const yaml_parser_t *p, const char *text)
{
    const char *what = p->problem ? p->problem : "cannot parse";
    if (p->error == YAML_READER_ERROR) {
        size_t line = 1, col = 1;
        for (size_t i = 0; i < p->problem_offset && text[i]; i++) {
            if (text[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        spec_error_at(c, line, col, "%s (byte 0x%02x)", what, (unsigned)p->problem_value & 0xff);
    } else if (p->context) {
        spec_error(c, p->problem_mark, "%s (%s at line %zu, column %zu)", what, p->context,
                   p->context_mark.line + 1, p->context_mark.column + 1);
    } else {
        spec_error(c, p->problem_mark, "%s", what);
    }
}

static void fill_meta(spec_ctx_t *c, Cairn__JobSpec *js, const char *text, size_t len)
{
    char hex[2 * CAIRN_SHA256_LEN + 1];
    cairn_sha256_hex(text, len, hex);
    js->spec_sha256 = strdup(hex);
    js->spec_text = malloc(len + 1);
    if (js->spec_text) {
        memcpy(js->spec_text, text, len);
        js->spec_text[len] = '\0';
    }
    const struct passwd *pw = getpwuid(getuid());
    const char *user = pw && pw->pw_name ? pw->pw_name : getenv("USER");
    js->submitter = strdup(user ? user : "");
    if (!js->spec_sha256 || !js->spec_text || !js->submitter)
        c->oom = true;
}

/* A spec is one document: a second one is an error, not ignored. */
static void more_documents(spec_ctx_t *c, yaml_parser_t *p, const char *text)
{
    yaml_document_t doc;
    if (!yaml_parser_load(p, &doc)) {
        yaml_problem(c, p, text);
        return;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root)
        spec_error(c, doc.start_mark, "more than one YAML document (one spec per file)");
    yaml_document_delete(&doc);
}

/* libyaml's scanner takes time quadratic in the nesting depth (200,000
 * '[' take a minute), so a first pass over the events refuses a spec nested
 * deeper than any real one, before the document is loaded. Returns true
 * when it did (reported); YAML errors are left to the load. */
static bool too_deep(spec_ctx_t *c, const char *text, size_t len)
{
    yaml_parser_t p;
    yaml_event_t ev;
    size_t depth = 0;
    bool deep = false, done = false;
    if (!yaml_parser_initialize(&p))
        return false;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!done && !deep && yaml_parser_parse(&p, &ev)) {
        if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
            if (++depth > SPEC_MAX_DEPTH) {
                spec_error(c, ev.start_mark, "nested deeper than %u levels", SPEC_MAX_DEPTH);
                deep = true;
            }
        } else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return deep;
}

static Cairn__JobSpec *job_new(void)
{
    Cairn__JobSpec *js = malloc(sizeof(*js));
    if (js)
        cairn__job_spec__init(js);
    return js;
}

/* The places kept for spec_where_locate(): the templates' own, the
 * expanded tasks' filled by spec_expand. */
static spec_where_t *where_new(spec_ctx_t *c, const char *name, const spec_task_t *tasks, size_t n)
{
    spec_where_t *w = calloc(1, sizeof(*w));
    if (!w || !(w->file = strdup(name)) || spec_where_fill(w, tasks, n) < 0) {
        spec_where_free(w);
        c->oom = true;
        return NULL;
    }
    w->name = c->name_at;
    w->tasks = c->tasks_at;
    return w;
}

int spec_parse_at(const char *name, const char *text, size_t len, Cairn__JobSpec **out,
                  spec_where_t **wherep, spec_errors_t *errs)
{
    spec_ctx_t c = {.file = name ? name : "spec"};
    yaml_parser_t parser;
    yaml_document_t doc;
    Cairn__JobSpec *js = NULL;
    spec_task_t *tasks = NULL;
    spec_where_t *where = NULL;
    size_t ntasks = 0;
    *out = NULL;
    if (wherep)
        *wherep = NULL;
    if (len > SPEC_MAX_FILE) {
        spec_error_at(&c, 1, 1, "spec file too large (%zu bytes, at most %u)", len, SPEC_MAX_FILE);
        return spec_diags_flush(&c, errs);
    }
    if (too_deep(&c, text, len))
        return spec_diags_flush(&c, errs);
    if (!yaml_parser_initialize(&parser))
        return -ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_problem(&c, &parser, text);
        yaml_parser_delete(&parser);
        return spec_diags_flush(&c, errs);
    }
    c.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!(js = job_new())) {
        c.oom = true;
    } else if (!root || is_null(root)) {
        spec_error_at(&c, 1, 1, "the spec is empty");
    } else {
        parse_root(&c, root, js, &tasks, &ntasks);
        if (c.ndiag == 0 && !c.oom)
            fill_meta(&c, js, text, len);
        if (wherep && c.ndiag == 0 && !c.oom)
            where = where_new(&c, c.file, tasks, ntasks);
        if (ntasks)
            spec_expand(&c, tasks, ntasks, js, where);
    }
    for (size_t i = 0; i < ntasks; i++)
        spec_task_fini(&tasks[i]);
    free(tasks);
    yaml_document_delete(&doc);
    more_documents(&c, &parser, text);
    yaml_parser_delete(&parser);
    if (c.oom || c.ndiag) {
        spec_free(js);
        spec_where_free(where);
        if (c.ndiag)
            return spec_diags_flush(&c, errs);
        spec_diags_free(&c);
        return -ENOMEM;
    }
    *out = js;
    if (wherep)
        *wherep = where;
    return 0;
}

int spec_parse(const char *name, const char *text, size_t len, Cairn__JobSpec **out,
               spec_errors_t *errs)
{
    return spec_parse_at(name, text, len, out, NULL, errs);
}

int spec_load(const char *path, Cairn__JobSpec **out, spec_errors_t *errs)
{
    return spec_load_at(path, out, NULL, errs);
}

int spec_load_at(const char *path, Cairn__JobSpec **out, spec_where_t **where, spec_errors_t *errs)
{
    spec_ctx_t c = {.file = path};
    *out = NULL;
    if (where)
        *where = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        spec_error_at(&c, 0, 0, "cannot read: %s", strerror(e));
        spec_diags_flush(&c, errs);
        return -e;
    }
    size_t cap = 0, len = 0;
    char *buf = NULL;
    int rc = 0;
    for (;;) {
        if (len == cap && cap > SPEC_MAX_FILE) {
            rc = -EFBIG;
            break;
        }
        if (len == cap && CAIRN_GROW(buf, cap, len + 4096) < 0) {
            rc = -ENOMEM;
            break;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                rc = errno ? -errno : -EIO;
            break;
        }
    }
    fclose(f);
    if (rc < 0) {
        free(buf);
        spec_error_at(&c, 0, 0, "cannot read: %s", rc == -EFBIG ? "file too large" : strerror(-rc));
        spec_diags_flush(&c, errs);
        return rc;
    }
    rc = spec_parse_at(path, buf, len, out, where, errs);
    free(buf);
    return rc;
}

void spec_free(Cairn__JobSpec *js)
{
    if (js)
        cairn__job_spec__free_unpacked(js, NULL);
}
