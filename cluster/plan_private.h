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
    const char *add_file[64];
    uint32_t add_count[64];
    int nadd;
    char *remove[256];
    int nremove;
    bool json, export_trace, no_prefetch;
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

typedef struct plan_work {
    const plan_trace_t *t;
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

/* A simulation of cluster cl placing as the scheduler does by default
 * (prefetch on) or with --no-prefetch; NULL (printed) on failure. */
sched_sim_t *plan_sim_create(const plan_cluster_t *cl, bool prefetch);
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

/* --- output (cmd_plan_print.c) ------------------------------------------ */

/* The figures, actual (NULL: a CSV trace) beside predicted. */
void plan_print_table(cli_t *c, const sched_sim_report_t *act, const sched_sim_t *base,
                      const sched_sim_report_t *pred, const sched_sim_t *sim);
/* What was planned: the trace, the cluster (and what if), how well the
 * replay matched, what could not run. */
void plan_print_header(const plan_opts_t *o, const plan_work_t *w, const plan_cluster_t *base,
                       const plan_cluster_t *cl, const sched_sim_stats_t *st, const plan_match_t *m,
                       size_t unknown);
/* All of it as JSON on stdout: CLI_OK or CLI_FAIL (printed). */
int plan_print_json(const plan_opts_t *o, const plan_work_t *w, const plan_cluster_t *base,
                    const plan_cluster_t *cl, const sched_sim_stats_t *st, const plan_match_t *m,
                    const sched_sim_report_t *act, const sched_sim_t *bsim,
                    const sched_sim_report_t *pred, const sched_sim_t *sim);

#endif
