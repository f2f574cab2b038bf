/* What defaults: and tasks: hold: resources, gpu and retry, the options a
 * task overrides key by key, matrices, task names and each task's own
 * keys. */
#include "cluster/spec_private.h"
#include "common/logmatch.h"

#include <stdlib.h>
#include <string.h>

static void parse_gpu(spec_ctx_t *c, yaml_node_t *n, spec_opts_t *o)
{
    static const char *const keys[] = {"model", "min_memory", "mixed"};
    if (spec_check_keys(c, n, keys, N_(keys), "gpu") < 0)
        return;
    FOR_PAIRS(c, n, key, val)
    {
        if (strcmp(key, "model") == 0 && spec_get_string(c, val, &o->gpu_model) == 0)
            o->at[SCHED_FIELD_GPU_MODEL] = spec_pos(val->start_mark);
        else if (strcmp(key, "min_memory") == 0 &&
                 spec_get_gpu_memory(c, val, &o->gpu_min_memory) == 0)
            o->at[SCHED_FIELD_GPU_MEMORY] = spec_pos(val->start_mark);
        else if (strcmp(key, "mixed") == 0)
            spec_get_bool(c, val, "mixed", &o->gpu_mixed);
    }
}

static void parse_resources(spec_ctx_t *c, yaml_node_t *n, spec_opts_t *o)
{
    static const char *const keys[] = {"cpus", "memory", "gpus", "gpu", "mig"};
    if (spec_check_keys(c, n, keys, N_(keys), "resources") < 0)
        return;
    FOR_PAIRS(c, n, key, val)
    {
        long long v;
        if (strcmp(key, "cpus") == 0 && spec_get_int(c, val, 1, UINT32_MAX, &v) == 0) {
            o->cpus = (uint32_t)v;
            o->at[SCHED_FIELD_CPUS] = spec_pos(val->start_mark);
        } else if (strcmp(key, "gpus") == 0 && spec_get_int(c, val, 0, UINT32_MAX, &v) == 0) {
            o->gpus = (uint32_t)v;
            o->at[SCHED_FIELD_GPUS] = spec_pos(val->start_mark);
        } else if (strcmp(key, "memory") == 0 && spec_get_size(c, val, &o->memory) == 0) {
            o->at[SCHED_FIELD_MEMORY] = spec_pos(val->start_mark);
        } else if (strcmp(key, "gpu") == 0) {
            parse_gpu(c, val, o);
        } else if (strcmp(key, "mig") == 0) {
            spec_get_string(c, val, &o->mig);
        }
    }
}

/* retry.on's `log: REGEX`: a POSIX extended regex, checked here so that a
 * bad one is an error at its line rather than on a worker. */
static void parse_retry_log(spec_ctx_t *c, yaml_node_t *n, spec_opts_t *o)
{
    static const char *const keys[] = {"log"};
    if (spec_check_keys(c, n, keys, N_(keys), "retry.on") < 0)
        return;
    FOR_PAIRS(c, n, key, val)
    {
        (void)key;
        const char *re = spec_scalar(c, val, "a regular expression");
        if (!re)
            continue;
        regex_t rx;
        cairn_error_t err = {{0}};
        if (cairn_log_pattern_compile(&rx, re, &err) < 0) {
            spec_error(c, val->start_mark, "retry.on: %s", err.text);
            continue;
        }
        cairn_log_pattern_free(&rx);
        if (o->on_log)
            spec_error(c, val->start_mark, "retry.on has more than one log pattern");
        else if (!(o->on_log = spec_strdup(c, val->start_mark, re)))
            continue;
    }
}

/* One word of retry.on. */
static void parse_retry_word(spec_ctx_t *c, const char *s, yaml_mark_t m, spec_opts_t *o)
{
    static const char *const words[] = {"node-lost", "timeout", "signal",   "any-exit",
                                        "nonzero",   "oom",     "gpu-error"};
    if (strncmp(s, "exit:", 5) == 0) {
        const char *d = s + 5;
        size_t nd = strspn(d, "0123456789");
        long code = nd && nd <= 3 && !d[nd] ? strtol(d, NULL, 10) : -1;
        if (!nd || d[nd] || nd > 3)
            spec_error(c, m, "bad exit code in '%s' (expected exit:1..255)", s);
        else if (code < 1 || code > 255)
            spec_error(c, m, "retry exit code %ld is out of range (1..255)", code);
        else if (o->exit_codes && o->exit_at) {
            o->exit_at[o->nexit_codes] = spec_pos(m);
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
    } else if (strcmp(s, "oom") == 0) {
        o->on_oom = true;
    } else if (strcmp(s, "gpu-error") == 0) {
        o->on_gpu_error = true;
    } else if (strcmp(s, "log") == 0) {
        spec_error(c, m, "retry.on log needs a pattern: {log: \"REGEX\"}");
    } else {
        const char *hint = spec_suggest(s, words, N_(words));
        spec_error(c, m,
                   "unknown retry condition '%s'%s%s%s (expected node-lost, timeout, "
                   "signal, any-exit, oom, gpu-error, exit:N or {log: REGEX})",
                   s, hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
    }
}

static void parse_retry_on(spec_ctx_t *c, yaml_node_t *n, spec_opts_t *o)
{
    o->on_node_lost = o->on_timeout = o->on_signal = o->on_any = false;
    o->on_oom = o->on_gpu_error = false;
    free(o->on_log);
    o->on_log = NULL;
    o->nexit_codes = 0;
    o->at[SCHED_FIELD_RETRY_ON] = spec_pos(n->start_mark);
    free(o->exit_codes);
    free(o->exit_at);
    o->exit_codes = NULL;
    o->exit_at = NULL;
    if (n->type != YAML_SEQUENCE_NODE) {
        spec_error(c, n->start_mark, "expected a list, found %s", spec_kind_name(n));
        return;
    }
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (cnt > SPEC_MAX_ITEMS) {
        spec_error(c, n->start_mark, "too many items (%zu, at most %u)", cnt, SPEC_MAX_ITEMS);
        return;
    }
    o->exit_codes = cnt ? calloc(cnt, sizeof(int32_t)) : NULL;
    o->exit_at = cnt ? calloc(cnt, sizeof(*o->exit_at)) : NULL;
    if (cnt && (!o->exit_codes || !o->exit_at))
        c->oom = true;
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *it = spec_node_at(c, n->data.sequence.items.start[i]);
        if (it->type == YAML_MAPPING_NODE) {
            parse_retry_log(c, it, o);
            continue;
        }
        const char *s = spec_scalar(c, it, "a retry condition");
        if (s)
            parse_retry_word(c, s, it->start_mark, o);
    }
}

static void parse_retry(spec_ctx_t *c, yaml_node_t *n, spec_opts_t *o)
{
    static const char *const keys[] = {"attempts",    "backoff", "factor",
                                       "max_backoff", "jitter",  "on"};
    if (spec_check_keys(c, n, keys, N_(keys), "retry") < 0)
        return;
    FOR_PAIRS(c, n, key, val)
    {
        long long v;
        spec_pos_t at = spec_pos(val->start_mark);
        if (strcmp(key, "attempts") == 0 && spec_get_int(c, val, 1, 1000, &v) == 0) {
            o->attempts = (uint32_t)v;
            o->at[SCHED_FIELD_RETRY_ATTEMPTS] = at;
        } else if (strcmp(key, "jitter") == 0 && spec_get_int(c, val, 0, 100, &v) == 0) {
            o->jitter = (uint32_t)v;
            o->at[SCHED_FIELD_RETRY_JITTER] = at;
        } else if (strcmp(key, "backoff") == 0 && spec_get_duration(c, val, &o->backoff_ms) == 0) {
            o->at[SCHED_FIELD_RETRY_BACKOFF] = at;
        } else if (strcmp(key, "max_backoff") == 0 &&
                   spec_get_duration(c, val, &o->max_backoff_ms) == 0) {
            o->at[SCHED_FIELD_RETRY_MAX_BACKOFF] = at;
        } else if (strcmp(key, "on") == 0) {
            parse_retry_on(c, val, o);
        } else if (strcmp(key, "factor") == 0) {
            const char *s = spec_scalar(c, val, "a number");
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
        if (spec_get_duration(c, val, &o->time_limit_ms) == 0)
            o->at[SCHED_FIELD_TIME_LIMIT] = at;
    } else if (strcmp(key, "env") == 0)
        spec_get_kv(c, val, &o->env, subst, "env");
    else if (strcmp(key, "labels") == 0)
        spec_get_kv(c, val, &o->labels, false, "label");
    else if (strcmp(key, "workdir") == 0) {
        if (spec_get_string(c, val, &o->workdir) == 0 && subst)
            spec_check_subst(c, val->start_mark, o->workdir);
    } else if (strcmp(key, "priority") == 0) {
        if (spec_get_int(c, val, -1000000, 1000000, &v) == 0) {
            o->priority = (int32_t)v;
            o->at[SCHED_FIELD_PRIORITY] = at;
        }
    } else
        return spec_parse_checkpoint_opt(c, key, val, o);
    return true;
}

#define OPT_KEYS                                                                                   \
    "resources", "retry", "time_limit", "env", "workdir", "labels", "priority", "preemptible",     \
        "checkpoint", "signal_before_limit"

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
    if (spec_check_keys(c, n, NULL, 0, "matrix") < 0)
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
        if (spec_get_strv(c, val, &t->vals[k], false) < 0 ||
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

/* placement: {pack: rack} or {require: rack}: one key, a level's name. */
static void parse_placement(spec_ctx_t *c, yaml_node_t *val, spec_task_t *t)
{
    static const char *const keys[] = {"pack", "require"};
    t->placement_mark = val->start_mark;
    t->o.at[SCHED_FIELD_PLACEMENT] = spec_pos(val->start_mark);
    if (spec_check_keys(c, val, keys, N_(keys), "placement") < 0)
        return;
    yaml_node_t *pack = spec_lookup(c, val, "pack"), *req = spec_lookup(c, val, "require");
    if (pack && req) {
        spec_error(c, val->start_mark,
                   "placement has both pack and require (pack: preferred, require: mandatory; "
                   "give one)");
        return;
    }
    if (!pack && !req) {
        spec_error(c, val->start_mark, "placement needs pack: LEVEL or require: LEVEL");
        return;
    }
    yaml_node_t *lv = pack ? pack : req;
    char *level = NULL;
    if (spec_get_string(c, lv, &level) < 0)
        return;
    if (!sched_topology_level_name_ok(level)) {
        spec_error(c, lv->start_mark,
                   "placement level '%s' is not a topology level name (letters, digits, _ and "
                   "-, as in --topology-levels)",
                   level);
        free(level);
        return;
    }
    free(t->placement_level);
    t->placement_level = level;
    t->placement = pack ? SCHED_PLACEMENT_PACK : SCHED_PLACEMENT_REQUIRE;
}

/* Task-only keys; returns false if key is not one. */
static bool parse_task_key(spec_ctx_t *c, const char *key, yaml_node_t *val, spec_task_t *t)
{
    long long v;
    if (strcmp(key, "name") == 0) {
        t->o.at[SCHED_FIELD_NAME] = spec_pos(val->start_mark);
        if (spec_get_string(c, val, &t->name) == 0 && !valid_task_name(c, val, t->name)) {
            free(t->name);
            t->name = NULL;
        }
    } else if (strcmp(key, "kind") == 0) {
        spec_get_string(c, val, &t->kind);
    } else if (strcmp(key, "run") == 0) {
        t->has_run = true;
        t->o.at[SCHED_FIELD_ARGV] = spec_pos(val->start_mark);
        if (spec_get_strv(c, val, &t->argv, true) == 0 && t->argv.n == 0)
            spec_error(c, val->start_mark, "run: is an empty list");
    } else if (strcmp(key, "shell") == 0) {
        t->has_shell = true;
        t->o.at[SCHED_FIELD_ARGV] = spec_pos(val->start_mark);
        spec_strv_free(&t->argv);
        t->argv.v = calloc(1, sizeof(char *));
        t->argv.marks = calloc(1, sizeof(yaml_mark_t));
        if (t->argv.v && t->argv.marks && spec_get_string(c, val, &t->argv.v[0]) == 0) {
            t->argv.n = 1;
            t->argv.marks[0] = val->start_mark;
            if (t->argv.v[0][strspn(t->argv.v[0], " \t\r\n")] == '\0')
                spec_error(c, val->start_mark, "shell: is an empty script");
            spec_check_subst(c, val->start_mark, t->argv.v[0]);
        }
    } else if (strcmp(key, "needs") == 0) {
        spec_get_strv(c, val, &t->needs, false);
    } else if (strcmp(key, "cache") == 0) {
        spec_get_bool(c, val, "cache", &t->cache);
    } else if (strcmp(key, "inputs") == 0) {
        spec_get_strv(c, val, &t->inputs, true);
        for (size_t i = 0; i < t->inputs.n; i++)
            if (t->inputs.v[i][0] == '/' || t->inputs.v[i][0] == '\0')
                spec_error(c, t->inputs.marks[i], "input '%s' is not a relative path",
                           t->inputs.v[i]);
    } else if (strcmp(key, "outputs") == 0) {
        spec_get_strv(c, val, &t->outputs, true);
        for (size_t i = 0; i < t->outputs.n; i++)
            if (t->outputs.v[i][0] == '/' || t->outputs.v[i][0] == '\0')
                spec_error(c, t->outputs.marks[i], "output '%s' is not a relative path",
                           t->outputs.v[i]);
    } else if (strcmp(key, "replicas") == 0) {
        if (spec_get_int(c, val, 1, 1000000, &v) == 0) {
            t->replicas = (uint32_t)v;
            t->o.at[SCHED_FIELD_REPLICAS] = spec_pos(val->start_mark);
        }
    } else if (strcmp(key, "placement") == 0) {
        parse_placement(c, val, t);
    } else if (strcmp(key, "matrix") == 0 || strcmp(key, "description") == 0) {
        /* matrix: parsed first; description: ignored */
    } else
        return false;
    return true;
}

void spec_parse_task(spec_ctx_t *c, yaml_node_t *n, const spec_opts_t *defaults, spec_task_t *t)
{
    static const char *const keys[] = {"name",     "description", "kind",    "run",    "shell",
                                       "needs",    "matrix",      "outputs", "inputs", "cache",
                                       "replicas", "placement",   OPT_KEYS};
    t->mark = n->start_mark;
    t->count = 1;
    t->replicas = 1;
    if (spec_opts_copy(c, &t->o, defaults) < 0)
        c->oom = true;
    if (spec_check_keys(c, n, keys, N_(keys), "task") < 0)
        return;
    yaml_node_t *m = spec_lookup(c, n, "matrix");
    if (m)
        parse_matrix(c, m, t);
    c->cur = t;
    FOR_PAIRS(c, n, key, val)
    {
        if (!parse_task_key(c, key, val, t))
            parse_opt(c, key, val, &t->o);
    }
    c->cur = NULL;
    if (!spec_lookup(c, n, "name"))
        spec_error(c, n->start_mark, "task is missing required key 'name'");
    const char *tn = t->name ? t->name : "?";
    spec_check_signal_before_limit(c, &t->o, tn);
    if (t->placement_level && t->replicas <= 1)
        spec_error(c, t->placement_mark,
                   "task '%s': placement is for gangs (replicas > 1); it has one replica", tn);
    if (t->has_run && t->has_shell)
        spec_error(c, spec_lookup(c, n, "shell")->start_mark,
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

void spec_parse_defaults(spec_ctx_t *c, yaml_node_t *n, spec_opts_t *o)
{
    static const char *const keys[] = {OPT_KEYS};
    if (spec_check_keys(c, n, keys, N_(keys), "defaults") < 0)
        return;
    FOR_PAIRS(c, n, key, val)
    {
        parse_opt(c, key, val, o);
    }
}
