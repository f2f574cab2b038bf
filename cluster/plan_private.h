/* Internals of cairn plan shared by cmd_plan*.c: the JSON reader, the
 * workload and its simulation (cmd_plan_work.c), the output
 * (cmd_plan_print.c). */
#ifndef CAIRN_CLUSTER_PLAN_PRIVATE_H
#define CAIRN_CLUSTER_PLAN_PRIVATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "cluster/cmd.h"
#include "cluster/plan.h"
#include "scheduling/sim.h"

/* --- JSON files, read one item at a time (cmd_plan_json.c) ------------- */

/* A scalar's text, as the values of these files are read (a size may be
 * "80G", a count 4 or "4"): a string's value, an integer or real in
 * decimal (into buf), true, false or null; NULL for a list or an object. */
const char *pj_text(const json_t *v, char *buf, size_t n);

typedef struct pj_reader {
    FILE *f;
    size_t line;       /* of the next byte, 1-based */
    size_t first_line; /* where the document starts */
    int back, last;    /* a byte given back; the last one read */
    bool nolist;       /* failed: no list where one was wanted */
    char error[256];   /* "LINE: message" */
} pj_reader_t;

/* An item and the line it starts on; 0, or -1 when it is refused (the
 * callback printed why). */
typedef int (*pj_item_f)(const json_t *item, size_t line, void *arg);

/* Open path; -1 with r->error set when it cannot be read. */
int pj_open(pj_reader_t *r, const char *path);
void pj_close(pj_reader_t *r);
/* Call fn on each item of the list under list_key of the top-level
 * object, or of a top-level list when bare; 0, or -1 (r->error set, with
 * r->nolist when there is no such list; or fn's own failure, which
 * printed). */
int pj_each(pj_reader_t *r, const char *list_key, bool bare, pj_item_f fn, void *arg);

/* --- the workload and its simulation (cmd_plan_work.c) ------------------ */

/* The command line (cmd_plan.c). */
typedef struct plan_opts {
    const char *trace, *cluster;
    const char *accounts; /* --accounts FILE */
    /* --fair-share-gpu-weight, --fair-share-half-life (0: not given) */
    uint32_t fs_gpu_weight;
    int64_t fs_half_life_ms;
    const char *add_file[64];
    uint32_t add_count[64];
    int nadd;
    char *remove[256];
    int nremove;
    bool json, export_trace, no_prefetch;
    /* --no-preemption: no task is preemptible; --preempt-for-fair-share:
     * as a scheduler run with it (sched_config_t .preempt_for_fair_share) */
    bool no_preemption, preempt_for_fair_share;
    /* --topology-levels: as a scheduler run with them; --gang-placement:
     * what if every gang asked for this placement (records do not carry
     * a task's own) */
    const char *topology_levels;
    sched_placement_t gang_placement;
    const char *gang_level;
} plan_opts_t;

typedef struct plan_task {
    size_t first, n; /* records: idx[first .. first+n) */
    uint64_t order;  /* first attempt id (or line): the task order in its job */
    uint32_t job;    /* index in plan_work_t.jobs */
    uint32_t natt;   /* attempts */
} plan_task_t;

typedef struct plan_job {
    size_t first, n; /* tasks[first .. first+n) after sorting */
    int64_t submit_ms;
    sched_job_spec_t spec;
    sched_task_spec_t *specs;
    const char ***needs;
    uint32_t *nout;
    sched_sim_outcome_t **out;
} plan_job_t;

/* The grace the replay gives a victim it preempts (the records do not
 * carry the spec's): the scheduler's default, 30 s. */
#define PLAN_GRACE_MS 30000

typedef struct plan_work {
    const plan_trace_t *t;
    /* set before plan_work_build: keep_preempted: an attempt recorded
     * preempted is replayed so (sched_sim_outcome_t .end), for a replay of
     * the recorded run on its own cluster; else its work is done again by
     * the next attempt and the simulation decides the preemptions.
     * no_preemption: no task is preemptible (else those with an attempt
     * recorded preempted are: the records say no more) */
    bool keep_preempted, no_preemption;
    /* every gang's placement (plan_opts_t .gang_placement) */
    sched_placement_t placement;
    const char *placement_level;
    /* the records' preempted attempts (a gang once) and the GPU time they
     * lost: from their newest checkpoint written while they held their
     * allocation, else from that allocation, to their end */
    uint64_t rec_preempted;
    double rec_preempted_gpu_s;
    int64_t *alloc; /* per record: when it got its allocation (plan_trace_alloc_times) */
    size_t *idx;    /* records sorted by (job, task, number, rank) */
    plan_task_t *tasks;
    size_t ntasks;
    plan_job_t *jobs;
    size_t njobs;
} plan_work_t;

/* Predicted attempts on the node they were recorded on, and at the time. */
typedef struct plan_match {
    size_t attempts, same_node, same_time;
} plan_match_t;

/* The jobs of w->t (w->t set, the rest zero): tasks in their recorded
 * order, attempts' outcomes, needs. CLI_OK, CLI_USAGE (a record that
 * cannot be replayed, printed) or CLI_FAIL (out of memory). */
int plan_work_build(plan_work_t *w);
/* A recorded gang whose replicas got GPUs of different models on the
 * cluster cl was allowed to (resources.gpu.mixed, which the records do not
 * carry): its replay may mix them too. */
void plan_work_mark_mixed(plan_work_t *w, const plan_cluster_t *cl);
void plan_work_fini(plan_work_t *w);

struct plan_accounts;
/* A simulation of cluster cl placing as the scheduler does by default
 * (prefetch on) or with --no-prefetch, preempting for fair share or not
 * (fs_preempt), with the account tree and fair-share settings of acct
 * (NULL: none, the core's defaults); NULL (printed) on failure, *rc its
 * exit code. */
sched_sim_t *plan_sim_create(const plan_cluster_t *cl, bool prefetch, bool fs_preempt,
                             const char *topology_levels, const struct plan_accounts *acct,
                             int *rc);
/* Run w's jobs through sim. replay: a recorded trace on the cluster it ran
 * on, whose scheduler's passes ran at its recorded placement times
 * (sched_sim_pass_times). CLI_OK, or prints and returns the code. */
int plan_simulate(plan_work_t *w, sched_sim_t *sim, bool replay);
/* --- nodes that came and went (cmd_plan_presence.c) -------------------- */

/* The scheduler's node timeline from the trace's first submit (*from_ms)
 * on (UsageRequest.timeline_only) into *out (cairn_msg_free it; NULL for
 * an empty trace). CLI_OK or the call's failure, printed. */
int plan_presence_fetch(cli_t *c, const plan_trace_t *t, Cairn__UsageReply **out, int64_t *from_ms);
/* Give sim, a simulation of cl (nodes in cl's order), each node's
 * presence from from_ms on by the timeline tl: down before it joined,
 * while lost and once removed; draining while drained; returning after a
 * scheduler restart. Nodes the timeline does not name (added with --add)
 * are there throughout; no timeline at all (NULL, or an older scheduler's
 * empty one) changes nothing. CLI_OK, or prints and returns CLI_FAIL. */
int plan_presence_apply(sched_sim_t *sim, const plan_cluster_t *cl, const Cairn__UsageReply *tl,
                        int64_t from_ms);

/* The recorded attempts as spans on the base cluster's nodes (*n of
 * them; *unknown ran on nodes it does not have); NULL out of memory. */
sched_sim_span_t *plan_actual_spans(const plan_work_t *w, sched_sim_t *base, size_t *n,
                                    size_t *unknown);
/* How many predicted attempts are on their recorded node and time. */
plan_match_t plan_match(const plan_work_t *w, const sched_sim_t *sim);

/* --- accounts (cmd_plan_accounts.c) ------------------------------------ */

#define PLAN_ACCOUNTS_SCHEDULER "the scheduler's current accounts"

/* An account of the replay's tree (not "default"). */
typedef struct plan_account {
    char *name, *parent; /* parent NULL: top level */
    uint32_t share;
    uint32_t max_gpus, max_cpus, max_running; /* SCHED_UNLIMITED: none */
    int32_t max_priority;                     /* SCHED_NO_PRIORITY_CAP: none */
    /* the scheduler's id (creation order; the core breaks fair-share ties
     * by it), UINT32_MAX when not known */
    uint32_t id;
} plan_account_t;

/* The tree the replay runs under, parents before children. */
typedef struct plan_accounts {
    plan_account_t *v;
    size_t n, cap;
    /* "file" (source: its path), "scheduler" (source:
     * PLAN_ACCOUNTS_SCHEDULER) or "none" (source says why: every job in
     * default) */
    const char *from, *source;
    size_t *lines; /* a file's: where each account is */
    /* fair share: 0 is the core's default */
    uint32_t gpu_weight;
    int64_t half_life_ms;
    /* accounts the trace names that the tree lacks (their jobs: default) */
    char **unknown;
    size_t nunknown, unknown_cap;
} plan_accounts_t;

/* Read an --accounts file: {"accounts": [...]} as `cairn account list
 * --json` prints it (the built-in default may be listed, unchanged).
 * CLI_OK, or prints "cairn plan: FILE:LINE: ..." and returns CLI_USAGE,
 * or CLI_NOTFOUND when it cannot be read. */
int plan_accounts_load(const char *path, plan_accounts_t *a);
/* The scheduler's tree and fair-share settings. CLI_OK or CLI_FAIL. */
int plan_accounts_from_reply(const Cairn__AccountReply *rep, plan_accounts_t *a);
/* The scheduler's tree (AccountRequest.list); *old when the scheduler
 * predates accounts (a empty: every job in default). CLI_OK or the call's
 * failure, printed. */
int plan_accounts_fetch(cli_t *c, plan_accounts_t *a, bool *old);
/* Index of the account named name; -1 when the tree has none. */
int plan_accounts_find(const plan_accounts_t *a, const char *name);
/* Create a's accounts in sim, parents first. CLI_OK, or prints the core's
 * refusal and returns CLI_USAGE (a file's) or CLI_FAIL. */
int plan_accounts_apply(const plan_accounts_t *a, sched_sim_t *sim);
/* Charge each job of w to the account its records name (spec.account), or
 * to default (NULL) when the tree lacks it: one warning line on stderr per
 * such account, which a->unknown lists. CLI_OK or CLI_FAIL. */
int plan_accounts_charge(plan_accounts_t *a, plan_work_t *w);
void plan_accounts_fini(plan_accounts_t *a);

/* One account's figures: attempts (rank 0), waits as sched_sim_measure
 * computes them, GPU-seconds held, the most GPUs held at once. */
typedef struct plan_acct_fig {
    uint64_t attempts;
    int64_t wait_p50_ms, wait_p95_ms;
    double gpu_s;
    uint32_t peak_gpus;
} plan_acct_fig_t;

/* An account's figures count its jobs and those of the accounts under it. */
typedef struct plan_acct_row {
    const char *name;
    const plan_account_t *acct; /* NULL: default */
    size_t jobs;                /* charged to it or under it in the replay */
    plan_acct_fig_t act, pred;  /* act: with have_act */
} plan_acct_row_t;

/* default first, then the tree's accounts in its order. */
typedef struct plan_acct_rows {
    plan_acct_row_t *v;
    size_t n;
    bool have_act;
} plan_acct_rows_t;

/* Figures per account of the predicted spans of sim and (act non-NULL) the
 * recorded spans act measured on bsim, each job counted in the account it
 * is charged to (plan_accounts_charge). CLI_OK or CLI_FAIL. */
int plan_accounts_figures(const plan_accounts_t *a, const plan_work_t *w,
                          const sched_sim_span_t *act, size_t nact, const sched_sim_t *bsim,
                          const sched_sim_t *sim, plan_acct_rows_t *out);
void plan_acct_rows_fini(plan_acct_rows_t *r);

/* --- output (cmd_plan_print.c) ------------------------------------------ */

/* What a plan found. */
typedef struct plan_result {
    const sched_sim_stats_t *st;
    const plan_match_t *m;
    const sched_sim_report_t *act; /* NULL: a CSV trace */
    const sched_sim_t *bsim;       /* the base cluster act is measured on */
    const sched_sim_report_t *pred;
    const sched_sim_t *sim;
    const plan_accounts_t *acct;
    const plan_acct_rows_t *rows;
    const plan_work_t *w;
    /* "priority", "priority or fair share" (--preempt-for-fair-share) or
     * "off" (--no-preemption) */
    const char *preemption;
} plan_result_t;

/* The figures, actual beside predicted; per account when the tree has
 * accounts besides default. */
void plan_print_table(cli_t *c, const plan_result_t *r);
/* What was planned: the trace, the cluster (and what if), the account
 * tree, how well the replay matched, what could not run. */
void plan_print_header(const plan_opts_t *o, const plan_work_t *w, const plan_cluster_t *base,
                       const plan_cluster_t *cl, const plan_result_t *r, size_t unknown);
/* All of it as JSON on stdout: CLI_OK or CLI_FAIL (printed). */
int plan_print_json(const plan_opts_t *o, const plan_work_t *w, const plan_cluster_t *base,
                    const plan_cluster_t *cl, const plan_result_t *r);

#endif
