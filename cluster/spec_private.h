/* Internals of the spec parser shared by spec.c (YAML walk), spec_util.c
 * (diagnostics, sizes, durations) and spec_expand.c (matrix, needs). */
#ifndef CAIRN_CLUSTER_SPEC_PRIVATE_H
#define CAIRN_CLUSTER_SPEC_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "cluster/spec.h"
#include "scheduling/sched.h"

#define SPEC_MAX_FILE (16u << 20)  /* bytes of spec text */
#define SPEC_MAX_STRING 65536u     /* bytes in one scalar */
#define SPEC_MAX_ITEMS 4096u       /* items in one list or map */
#define SPEC_MAX_TEMPLATES 10000u  /* entries under tasks: */
#define SPEC_MAX_TASKS 100000u     /* tasks after matrix expansion */
#define SPEC_MAX_BYTES (64u << 20) /* all strings, after expansion */
#define SPEC_MAX_ERRORS 100u
#define SPEC_MAX_NAME 256u
#define SPEC_MAX_DEPTH 64u /* nested lists and maps */

/* A place in the file, 1-based; line 0: unknown. */
typedef struct spec_pos {
    uint32_t line, col;
} spec_pos_t;
spec_pos_t spec_pos(yaml_mark_t m);

typedef struct spec_diag {
    size_t line, col, seq;
    char *text;
} spec_diag_t;

typedef struct spec_strv {
    char **v;
    yaml_mark_t *marks;
    size_t n;
} spec_strv_t;

typedef struct spec_kv {
    char **keys, **vals;
    spec_pos_t *at; /* of each key */
    size_t n;
} spec_kv_t;

/* Options that defaults: gives and a task overrides key by key. */
typedef struct spec_opts {
    uint32_t cpus, gpus;
    uint64_t memory, gpu_min_memory;
    char *gpu_model;
    char *mig;      /* resources.mig: a MIG profile ("1g.10gb") */
    bool gpu_mixed; /* gpu.mixed: a gang's replicas may get different models */
    spec_kv_t labels, env;
    char *workdir;
    int32_t priority;
    uint64_t time_limit_ms;
    uint32_t attempts, factor_milli, jitter;
    uint64_t backoff_ms, max_backoff_ms;
    bool on_node_lost, on_timeout, on_signal, on_any, on_oom, on_gpu_error;
    char *on_log; /* retry.on's log: pattern, NULL: none */
    int32_t *exit_codes;
    spec_pos_t *exit_at; /* of each exit code's "exit:N" */
    size_t nexit_codes;
    /* preemptible: and checkpoint: (spec_checkpoint.c); 0/NULL: not given */
    bool preemptible;
    int32_t ckpt_signal;
    uint64_t ckpt_grace_ms;
    char *ckpt_dir;
    uint64_t signal_before_limit_ms;
    yaml_mark_t sbl_mark; /* where signal_before_limit: was written */
    /* where each value was written (defaults: or the task), by the core's
     * field names, so that its validation problems point there */
    spec_pos_t at[SCHED_FIELD_COUNT];
} spec_opts_t;

typedef struct spec_task {
    char *name, *kind;
    yaml_mark_t mark;
    bool has_run, has_shell;
    spec_strv_t argv; /* run: items, or the shell script alone */
    spec_strv_t needs;
    spec_strv_t outputs;
    spec_strv_t inputs; /* cache: files whose content the key covers */
    bool cache;
    uint32_t replicas;
    /* placement: {pack: L} or {require: L} (a gang's topology level) */
    sched_placement_t placement;
    char *placement_level;
    yaml_mark_t placement_mark;
    spec_opts_t o;
    /* matrix: keys in file order, vals[k] the values of key k */
    size_t nkeys;
    char **keys;
    spec_strv_t *vals;
    bool bad_matrix; /* reported: no ${{ }} checks, no expansion */
    size_t count;    /* combinations (1 without matrix) */
    size_t first;    /* index of its first expansion in the job */
} spec_task_t;

typedef struct spec_ctx {
    const char *file;
    yaml_document_t *doc;
    spec_diag_t *diags;
    size_t ndiag, cap, seq;
    size_t bytes;
    bool over_budget, oom;
    size_t total_tasks;
    const spec_task_t *cur;       /* task being parsed: its matrix keys */
    spec_pos_t name_at, tasks_at; /* the job's name: and tasks: values */
} spec_ctx_t;

/* Diagnostics (spec_util.c). */
void spec_error(spec_ctx_t *c, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void spec_error_at(spec_ctx_t *c, size_t line, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Move the diagnostics, sorted by position, into errs; returns how many. */
int spec_diags_flush(spec_ctx_t *c, spec_errors_t *errs);
void spec_diags_free(spec_ctx_t *c);

/* Copies counted against SPEC_MAX_BYTES; NULL (reported once) past it. */
char *spec_strdup(spec_ctx_t *c, yaml_mark_t m, const char *s);
char *spec_strndup(spec_ctx_t *c, yaml_mark_t m, const char *s, size_t n);
bool spec_charge(spec_ctx_t *c, yaml_mark_t m, size_t n);

/* Edit distance, capped: returns max + 1 once it exceeds max. */
size_t spec_levenshtein(const char *a, const char *b, size_t max);
/* The closest of words within distance 2 of s, or NULL. */
const char *spec_suggest(const char *s, const char *const *words, size_t n);

/* "512M", "1.5G", "64Gi", "100" (bytes). 0 or -1 when malformed/too big. */
int spec_parse_size(const char *s, uint64_t *out);
/* GPU memory as vendors name it: K/M/G/T and KB/MB/GB/TB decimal, Ki/Mi/
 * Gi/Ti and KiB... binary. 0 or -1. */
int spec_parse_gpu_memory(const char *s, uint64_t *out);
/* "500ms", "5s", "1h30m", "30" (seconds) into milliseconds. */
int spec_parse_duration(const char *s, uint64_t *out_ms);
/* "2", "1.5" into thousandths. */
int spec_parse_milli(const char *s, uint32_t *out);

void spec_strv_free(spec_strv_t *v);
void spec_kv_free(spec_kv_t *kv);
/* Set key to val (both owned by kv afterwards, key written at `at`),
 * replacing an equal key. */
int spec_kv_set(spec_kv_t *kv, char *key, char *val, spec_pos_t at);
void spec_opts_fini(spec_opts_t *o);
int spec_opts_copy(spec_ctx_t *c, spec_opts_t *dst, const spec_opts_t *src);
void spec_task_fini(spec_task_t *t);

/* Checks the ${{ matrix.K }} expressions in s against c->cur's keys. */
void spec_check_subst(spec_ctx_t *c, yaml_mark_t m, const char *s);
/* Length of the "${{ matrix.K }}" starting at s (0: malformed), K in key. */
size_t spec_subst_expr(const char *s, const char **key, size_t *klen);

/* Why s cannot be a task name (whole) or part of one (a matrix value);
 * NULL if it can (spec_task.c). */
const char *spec_name_problem(const char *s, bool whole);

/* --- Typed values of YAML nodes (spec_node.c) ------------------------------
 * Each reports what is wrong at the node ("expected an integer, found
 * 'x'") and returns -1 (or NULL); c->oom is set when memory ran out. */

#define N_(a) (sizeof(a) / sizeof((a)[0]))

/* The node of id in c's document. */
yaml_node_t *spec_node_at(spec_ctx_t *c, int id);
/* "a mapping", "a list" or "a scalar", for messages. */
const char *spec_kind_name(const yaml_node_t *n);
/* The scalar's text, or NULL (reported: "expected <what>"; also a NUL
 * inside or more than SPEC_MAX_STRING bytes). */
const char *spec_scalar(spec_ctx_t *c, yaml_node_t *n, const char *what);
/* An empty plain scalar, ~ or null. */
bool spec_is_null(const yaml_node_t *n);
/* A budgeted copy of the scalar into *out (the old value freed). */
int spec_get_string(spec_ctx_t *c, yaml_node_t *n, char **out);
/* A plain integer from min to max. */
int spec_get_int(spec_ctx_t *c, yaml_node_t *n, long long min, long long max, long long *out);
/* A size in bytes ("512M", "1.5G", "64Gi"). */
int spec_get_size(spec_ctx_t *c, yaml_node_t *n, uint64_t *out);
/* A duration in milliseconds ("500ms", "1h30m"). */
int spec_get_duration(spec_ctx_t *c, yaml_node_t *n, uint64_t *out);
/* A list of strings into v (replacing it); subst: check the ${{ matrix.K }}
 * in each. -1 when any item was refused (the others are kept). */
int spec_get_strv(spec_ctx_t *c, yaml_node_t *n, spec_strv_t *v, bool subst);
/* Report unknown (keys NULL: none) and duplicate keys of mapping n; what
 * ("task", "resources"...) names it. -1 if n is not a mapping. */
int spec_check_keys(spec_ctx_t *c, yaml_node_t *n, const char *const *keys, size_t nkeys,
                    const char *what);
/* The value for key in mapping n (NULL if absent; the first when repeated). */
yaml_node_t *spec_lookup(spec_ctx_t *c, yaml_node_t *n, const char *key);
/* A map of strings into kv; what ("env", "label") names its keys in
 * messages, which must be non-empty and without '=' (they become
 * "KEY=value"); subst: check the values' ${{ matrix.K }}. */
void spec_get_kv(spec_ctx_t *c, yaml_node_t *n, spec_kv_t *kv, bool subst, const char *what);
/* true/yes or false/no; anything else is an error naming key. */
int spec_get_bool(spec_ctx_t *c, yaml_node_t *n, const char *key, bool *out);
/* GPU memory as vendors name it: G and GB are decimal (an "H100 80GB" has
 * 81,559 MiB, 85.5e9 bytes: min_memory: 80G takes it), Gi and GiB binary. */
int spec_get_gpu_memory(spec_ctx_t *c, yaml_node_t *n, uint64_t *out);

/* Each pair of mapping n: kname its key's text ("" when the key is not a
 * scalar: k_ is the key node), val its value node. */
#define FOR_PAIRS(c, n, kname, val)                                                                \
    for (yaml_node_pair_t *p_ = (n)->data.mapping.pairs.start; p_ < (n)->data.mapping.pairs.top;   \
         p_++)                                                                                     \
        for (yaml_node_t *k_ = spec_node_at(c, p_->key), *val = spec_node_at(c, p_->value); k_;    \
             k_ = NULL)                                                                            \
            for (const char *kname =                                                               \
                     k_->type == YAML_SCALAR_NODE ? (const char *)k_->data.scalar.value : "";      \
                 kname; kname = NULL)

/* --- defaults: and tasks: (spec_task.c) ------------------------------------ */

/* The options under defaults: into o. */
void spec_parse_defaults(spec_ctx_t *c, yaml_node_t *n, spec_opts_t *o);
/* One entry under tasks: into t, starting from a copy of defaults. */
void spec_parse_task(spec_ctx_t *c, yaml_node_t *n, const spec_opts_t *defaults, spec_task_t *t);

/* preemptible:, checkpoint: and signal_before_limit: (spec_checkpoint.c):
 * parse key's value into o when key is one of them (false: it is not). */
bool spec_parse_checkpoint_opt(spec_ctx_t *c, const char *key, yaml_node_t *val, spec_opts_t *o);
/* A signal by name ("USR1", "SIGUSR1", as kill -l) or number (1..64):
 * its number, or -1 (unknown or not one a task can catch). */
int spec_parse_signal(const char *s);
/* After a task's keys: signal_before_limit needs a time_limit larger than
 * it (task tn). */
void spec_check_signal_before_limit(spec_ctx_t *c, const spec_opts_t *o, const char *tn);

/* Where each expanded task came from (spec_where.c). */
struct spec_where {
    char *file;
    spec_pos_t name, tasks; /* the job's name and tasks: */
    size_t ntmpl, ntasks;
    struct spec_tmpl_where *tmpl; /* per template (entry under tasks:) */
    struct spec_task_where *task; /* per expanded task */
};
typedef struct spec_tmpl_where {
    spec_pos_t task; /* the entry itself */
    spec_pos_t at[SCHED_FIELD_COUNT];
    spec_pos_t *argv, *needs, *env, *labels, *exit_codes;
    size_t nargv, nneeds, nenv, nlabels, nexit_codes;
} spec_tmpl_where_t;
typedef struct spec_task_where {
    size_t tmpl;
    uint32_t *need_of; /* expanded need k: the template's need need_of[k] */
    size_t nneeds, cap;
} spec_task_where_t;
/* Copy the templates' places into w (w->task is filled by the expansion);
 * -1 on ENOMEM. */
int spec_where_fill(spec_where_t *w, const spec_task_t *tasks, size_t n);
/* Record that expanded task e's next need comes from its template's need j. */
int spec_where_need(spec_where_t *w, size_t e, uint32_t j);

/* Expansion (spec_expand.c): fills js->tasks from the templates, and
 * w->task (when w is not NULL). */
void spec_expand(spec_ctx_t *c, spec_task_t *tasks, size_t n, Cairn__JobSpec *js, spec_where_t *w);

#endif
