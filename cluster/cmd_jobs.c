/* cairn status, jobs, wait, cancel and explain. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/cmd.h"
#include "scheduling/sched.h"

const char cmd_status_help[] =
    "Usage: cairn status JOB [--json]\n"
    "\n"
    "Show a job (its state and the account it is charged to) and a table of its\n"
    "tasks: NAME STATE ATTEMPT NODE GPUS DURATION REASON.\n"
    "A gang (replicas) has a row per rank, NAME#RANK, with that rank's node and GPUs.\n"
    "A task queued on a node behind a running attempt (prefetch) is pending, with\n"
    "no GPUs and no duration until it starts.\n"
    "  --json   print a JSON object (job summary, tasks with their attempts)\n";
const char cmd_jobs_help[] =
    "Usage: cairn jobs [--limit N] [--since WHEN] [--before JOB] [--account A]\n"
    "                  [--json]\n"
    "\n"
    "List jobs, newest first: those running and those that ended,\n"
    "also the ones retired from the scheduler's memory (answered\n"
    "from its history), with the account each is charged to.\n"
    "  --limit N     at most N jobs (default and most: the scheduler's,\n"
    "                1000)\n"
    "  --since WHEN  jobs submitted from WHEN: a duration back from now\n"
    "                (30m, 12h, 7d) or a UTC date (2026-11-26 or\n"
    "                2026-11-26T09:30:00)\n"
    "  --before JOB  jobs older than JOB (the next page: the last id\n"
    "                listed)\n"
    "  --account A   only jobs charged to account A\n"
    "  --json        print JSON\n";
const char cmd_wait_help[] =
    "Usage: cairn wait JOB [--json]\n"
    "\n"
    "Wait until the job ends, showing progress. Exits 0 if it succeeded, 1 if it\n"
    "failed or was cancelled.\n"
    "  --json   progress on stderr, then the ended job's summary (as in 'cairn\n"
    "           status --json') on stdout\n";
const char cmd_cancel_help[] = "Usage: cairn cancel JOB [TASK]\n"
                               "\n"
                               "Cancel a whole job, or one task of it (and what needs it).\n";
const char cmd_explain_help[] =
    "Usage: cairn explain JOB TASK [--replica N] [--json]\n"
    "\n"
    "Say why a task waits (per reason, how many nodes refuse it) or where and why\n"
    "it was placed. A task queued on a node behind a running attempt (prefetch) is\n"
    "pending, as in 'cairn status': the node, and the attempt it starts after.\n";

#define JSTATE(v) ui_enum(&cairn__job_state__descriptor, (int)(v))
#define TSTATE(v) ui_enum(&cairn__task_state__descriptor, (int)(v))

/* Parse "[--json] POSITIONAL..." into pos (up to npos); returns -1 (usage
 * error printed) or the number of positionals. */
static int parse_args(int argc, char **argv, bool *json, char **pos, int npos, uint32_t *replica)
{
    uint64_t v;
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"replica", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 'j' && json)
            *json = true;
        else if (ch == 'r' && replica) {
            if (cli_parse_uint(argv[0], "--replica", optarg, 0, SCHED_MAX_REPLICAS - 1, &v) !=
                CLI_OK)
                return -1;
            *replica = (uint32_t)v;
        } else
            return cli_usage_error(argv[0], "bad option"), -1;
    }
    int n = argc - optind;
    if (n > npos)
        return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind + npos]), -1;
    for (int i = 0; i < n; i++)
        pos[i] = argv[optind + i];
    return n;
}

/* The job's status with every task: the scheduler answers a page at a
 * time; the later pages' tasks move into the first reply (*out owns them
 * all: cairn_msg_free). */
static int get_status(cli_t *c, uint64_t id, Cairn__JobStatusReply **out)
{
    Cairn__JobStatusRequest req = CAIRN__JOB_STATUS_REQUEST__INIT;
    req.job_id = id;
    int rc = cli_call(c, CAIRN_MSG_JOB_STATUS, &req.base, CAIRN_MSG_JOB_STATUS_REPLY,
                      (ProtobufCMessage **)out);
    Cairn__JobStatusReply *all = rc == CLI_OK ? *out : NULL;
    while (rc == CLI_OK && all->more) {
        Cairn__JobStatusReply *pg = NULL;
        req.task_offset = all->next_task_offset;
        if ((rc = cli_call(c, CAIRN_MSG_JOB_STATUS, &req.base, CAIRN_MSG_JOB_STATUS_REPLY,
                           (ProtobufCMessage **)&pg)) != CLI_OK)
            break;
        Cairn__TaskStatus **t = realloc(all->tasks, (all->n_tasks + pg->n_tasks + 1) * sizeof(*t));
        if (!t || (pg->more && pg->next_task_offset <= all->next_task_offset)) {
            cairn_msg_free(&pg->base);
            fprintf(stderr, "cairn: %s\n", t ? "the status pages do not advance" : "out of memory");
            if (t)
                all->tasks = t;
            rc = CLI_FAIL;
            break;
        }
        all->tasks = t;
        memcpy(all->tasks + all->n_tasks, pg->tasks, pg->n_tasks * sizeof(*t));
        all->n_tasks += pg->n_tasks;
        all->more = pg->more;
        all->next_task_offset = pg->next_task_offset;
        pg->n_tasks = 0; /* they belong to all now */
        cairn_msg_free(&pg->base);
    }
    if (rc != CLI_OK && all) {
        cairn_msg_free(&all->base);
        *out = NULL;
    }
    return rc;
}

/* The job's summary once it has ended or after wait_ms. Kept below the
 * client's 1 s resend of reads, so a long poll is never sent twice. */
#define WAIT_POLL_MS 500

static int wait_summary(cli_t *c, uint64_t id, Cairn__JobStatusReply **out)
{
    Cairn__JobStatusRequest req = CAIRN__JOB_STATUS_REQUEST__INIT;
    req.job_id = id;
    req.wait_ms = WAIT_POLL_MS;
    req.summary_only = true;
    return cli_call(c, CAIRN_MSG_JOB_STATUS, &req.base, CAIRN_MSG_JOB_STATUS_REPLY,
                    (ProtobufCMessage **)out);
}

static json_t *summary_json(const Cairn__JobSummary *j)
{
    return json_pack(
        "{s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
        "job_id", cairn_json_u64(j->job_id), "name", cairn_json_str(j->name), "state",
        JSTATE(j->state), "submitter", cairn_json_str(j->submitter), "account",
        cairn_json_str(j->account), "seed", cairn_json_u64(j->seed), "spec_sha256",
        cairn_json_str(j->spec_sha256), "submit_time_ms", (json_int_t)j->submit_time_ms,
        "start_time_ms", (json_int_t)j->start_time_ms, "end_time_ms", (json_int_t)j->end_time_ms,
        "tasks_total", (json_int_t)j->tasks_total, "tasks_pending", (json_int_t)j->tasks_pending,
        "tasks_running", (json_int_t)j->tasks_running, "tasks_succeeded",
        (json_int_t)j->tasks_succeeded, "tasks_failed", (json_int_t)j->tasks_failed,
        "tasks_cancelled", (json_int_t)j->tasks_cancelled);
}

/* The GPUs' indexes. */
static json_t *gpus_json(Cairn__GpuRef *const *g, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        cairn_json_push(&a, json_integer(g[i]->index));
    return a;
}

static json_t *attempt_json(const Cairn__AttemptInfo *a)
{
    json_t *replicas = json_array();
    for (size_t r = 0; r < a->n_replicas; r++) {
        const Cairn__ReplicaPlacement *p = a->replicas[r];
        cairn_json_push(&replicas, json_pack("{s:I, s:o, s:o, s:o}", "rank", (json_int_t)p->rank,
                                             "node", cairn_json_str(p->node), "cores",
                                             cairn_json_u32s(p->cores, p->n_cores), "gpus",
                                             gpus_json(p->gpus, p->n_gpus)));
    }
    json_t *o =
        json_pack("{s:o, s:I, s:o, s:o, s:o, s:o, s:I, s:i, s:i, s:s, s:I, s:I, s:o}", "attempt_id",
                  cairn_json_u64(a->attempt_id), "number", (json_int_t)a->number, "node",
                  cairn_json_str(a->node), "gpus", gpus_json(a->gpus, a->n_gpus), "replicas",
                  replicas, "queued_after", cairn_json_u64(a->queued_after), "cores",
                  (json_int_t)a->n_cores, "exit_code", a->exit_code, "signal", a->signal,
                  "end_reason", ui_enum(&cairn__end_reason__descriptor, (int)a->end_reason),
                  "start_time_ms", (json_int_t)a->start_time_ms, "end_time_ms",
                  (json_int_t)a->end_time_ms, "error", cairn_json_str(a->error));
    /* "" while it runs and when it succeeded */
    cairn_json_set(&o, "end_class", cairn_json_str(a->end_class));
    /* only a cached attempt says where its outputs came from */
    if (a->cached_from_job || (a->cached_from_task && *a->cached_from_task)) {
        cairn_json_set(&o, "cached_from_job", cairn_json_u64(a->cached_from_job));
        cairn_json_set(&o, "cached_from_task", cairn_json_str(a->cached_from_task));
    }
    /* only a preempted attempt says by whom and why */
    if (a->preempted)
        cairn_json_set(&o, "preempted", cairn_json_msg(&a->preempted->base));
    return o;
}

static json_t *status_json(const Cairn__JobStatusReply *st)
{
    json_t *tasks = json_array();
    for (size_t i = 0; i < st->n_tasks; i++) {
        const Cairn__TaskStatus *t = st->tasks[i];
        json_t *attempts = json_array();
        for (size_t k = 0; k < t->n_attempts; k++)
            cairn_json_push(&attempts, attempt_json(t->attempts[k]));
        json_t *o =
            json_pack("{s:o, s:I, s:s, s:s, s:o}", "name", cairn_json_str(t->name), "replica",
                      (json_int_t)t->replica, "state", TSTATE(t->state), "pending_reason",
                      ui_enum(&cairn__pending_reason__descriptor, (int)t->pending_reason),
                      "pending_detail", cairn_json_str(t->pending_detail));
        /* only while it backs off */
        if (t->next_attempt_time_ms > 0)
            cairn_json_set(&o, "next_attempt_time_ms", json_integer(t->next_attempt_time_ms));
        cairn_json_set(&o, "attempts", attempts);
        cairn_json_push(&tasks, o);
    }
    return json_pack("{s:o, s:o}", "job", summary_json(st->job), "tasks", tasks);
}

/* Why an ended attempt failed, for the REASON column. */
static void attempt_reason(const Cairn__AttemptInfo *a, char *buf, size_t len)
{
    const char *why = ui_enum(&cairn__end_reason__descriptor, (int)a->end_reason);
    const Cairn__Preemption *p = a->preempted;
    if (p) {
        int n = snprintf(buf, len, "preempted by job %llu task %s (%s)",
                         (unsigned long long)p->by_job, p->by_task, p->reason);
        char t[64];
        if (!a->end_time_ms && n > 0 && (size_t)n < len) /* still in its grace */
            snprintf(buf + n, len - (size_t)n, "; grace until %s",
                     ui_local_time(p->grace_end_ms, cairn_wall_ms(), t, sizeof(t)));
    } else if (a->cached_from_job)
        snprintf(buf, len, "cached: the outputs of job %llu's %s",
                 (unsigned long long)a->cached_from_job, a->cached_from_task);
    else if (a->cached_from_task && *a->cached_from_task) /* its source was replaced since */
        snprintf(buf, len, "cached");
    else if (a->end_reason == CAIRN__END_REASON__END_REASON_EXIT_NONZERO)
        snprintf(buf, len, "exit code %d", a->exit_code);
    else if (a->end_reason == CAIRN__END_REASON__END_REASON_SIGNALED)
        snprintf(buf, len, "signal %d", a->signal);
    else if (a->end_reason == CAIRN__END_REASON__END_REASON_CANCELLED && !a->start_time_ms)
        snprintf(buf, len, "cancelled before it started");
    else if (a->error && *a->error)
        snprintf(buf, len, "%s: %s", why, a->error);
    else if (a->end_reason != CAIRN__END_REASON__END_REASON_SUCCEEDED &&
             a->end_reason != CAIRN__END_REASON__END_REASON_UNSPECIFIED)
        snprintf(buf, len, "%s", why);
    /* what the failure is known to be, beyond its end: "signal 9 (oom)" */
    size_t n = strlen(buf);
    if (ui_end_class_known(a->end_class) && n + 1 < len)
        snprintf(buf + n, len - n, "%s(%s)", n ? " " : "", a->end_class);
}

/* The GPUS cell: "0,1" ("-" for none). */
static void gpus_cell(Cairn__GpuRef *const *g, size_t ng, char *buf, size_t len)
{
    size_t n = 0;
    snprintf(buf, len, "-");
    for (size_t i = 0; i < ng && n + 12 < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%u", i ? "," : "", g[i]->index);
}

/* The rows of task i: one, or one per rank of a gang's latest attempt
 * (NAME#RANK, that rank's node and GPUs; the reason on rank 0's). */
static void status_row(ui_table_t *t, const cli_t *c, const Cairn__JobStatusReply *st, size_t i)
{
    const Cairn__TaskStatus *ts = st->tasks[i];
    char name[300], attempt[16] = "-", node[128] = "-", gpus[128] = "-", dur[32] = "-";
    char reason[512] = "";
    bool gang = (i > 0 && !strcmp(st->tasks[i - 1]->name, ts->name)) ||
                (i + 1 < st->n_tasks && !strcmp(st->tasks[i + 1]->name, ts->name));
    if (gang)
        snprintf(name, sizeof(name), "%s#%u", ts->name, ts->replica);
    else
        snprintf(name, sizeof(name), "%s", ts->name);
    const Cairn__AttemptInfo *a = ts->n_attempts ? ts->attempts[ts->n_attempts - 1] : NULL;
    if (a) {
        snprintf(attempt, sizeof(attempt), "%u", a->number);
        if (a->node && *a->node)
            snprintf(node, sizeof(node), "%s", a->node);
        gpus_cell(a->gpus, a->n_gpus, gpus, sizeof(gpus));
        if (a->start_time_ms > 0) { /* only a started attempt has run for a while */
            int64_t end = a->end_time_ms > 0 ? a->end_time_ms : cairn_wall_ms();
            ui_duration(end - a->start_time_ms, dur, sizeof(dur));
        }
        attempt_reason(a, reason, sizeof(reason));
    }
    if (ts->pending_detail && *ts->pending_detail)
        ui_core_times(ts->pending_detail, cairn_wall_ms(), reason, sizeof(reason));
    /* every preemption shows: how many of its attempts were preempted */
    unsigned preempted = 0;
    for (size_t k = 0; k < ts->n_attempts; k++)
        preempted += ts->attempts[k]->preempted != NULL;
    if (preempted > (a && a->preempted ? 1u : 0u)) { /* not only the one it names */
        size_t n = strlen(reason);
        snprintf(reason + n, sizeof(reason) - n, "%spreempted %u time%s", n ? "; " : "", preempted,
                 preempted == 1 ? "" : "s");
    }
    if (ts->state == CAIRN__TASK_STATE__TASK_STATE_RETRY_WAIT && ts->next_attempt_time_ms > 0) {
        char when[64];
        size_t n = strlen(reason);
        snprintf(reason + n, sizeof(reason) - n, "%snext attempt at %s", n ? "; " : "",
                 ui_local_time(ts->next_attempt_time_ms, cairn_wall_ms(), when, sizeof(when)));
    }
    const char *state = TSTATE(ts->state);
    if (!a || a->n_replicas < 2) {
        const char *cells[] = {name, state, attempt, node, gpus, dur, reason};
        ui_table_add(t, cells, 1, ui_state_col(c, state));
        return;
    }
    for (size_t r = 0; r < a->n_replicas; r++) {
        const Cairn__ReplicaPlacement *p = a->replicas[r];
        snprintf(name, sizeof(name), "%s#%u", ts->name, p->rank);
        snprintf(node, sizeof(node), "%s", p->node && *p->node ? p->node : "-");
        gpus_cell(p->gpus, p->n_gpus, gpus, sizeof(gpus));
        const char *cells[] = {name, state, attempt, node, gpus, dur, r ? "" : reason};
        ui_table_add(t, cells, 1, ui_state_col(c, state));
    }
}

static void status_human(const cli_t *c, const Cairn__JobStatusReply *st)
{
    const Cairn__JobSummary *j = st->job;
    const char *state = JSTATE(j->state);
    printf("job %llu", (unsigned long long)j->job_id);
    if (j->name && *j->name)
        printf(" (%s)", j->name);
    printf(": %s%s%s, %u/%u tasks succeeded", ui_state_col(c, state), state,
           *ui_state_col(c, state) ? ui_col(c, UI_RESET) : "", j->tasks_succeeded, j->tasks_total);
    if (j->tasks_failed)
        printf(", %u failed", j->tasks_failed);
    if (j->tasks_cancelled)
        printf(", %u cancelled", j->tasks_cancelled);
    printf("; account %s\n\n", j->account && *j->account ? j->account : "-");
    static const char *const hdr[] = {"NAME", "STATE",    "ATTEMPT", "NODE",
                                      "GPUS", "DURATION", "REASON"};
    ui_table_t *t = ui_table_create(7, hdr);
    for (size_t i = 0; i < st->n_tasks; i++)
        status_row(t, c, st, i);
    ui_table_print(c, t, stdout);
    ui_table_destroy(t);
}

/* The arguments of a command on one job (JOB [--json]): CLI_OK with *id,
 * or CLI_USAGE after saying what is wrong. */
static int one_job(int argc, char **argv, bool *json, uint64_t *id)
{
    char *pos[1];
    int n = parse_args(argc, argv, json, pos, 1, NULL);
    if (n < 0)
        return CLI_USAGE;
    if (n != 1)
        return cli_usage_error(argv[0], "which job?");
    *id = cli_job_id(argv[0], pos[0]);
    return *id ? CLI_OK : CLI_USAGE;
}

int cmd_status(cli_t *c, int argc, char **argv)
{
    bool json = false;
    uint64_t id = 0;
    if (one_job(argc, argv, &json, &id) != CLI_OK)
        return CLI_USAGE;
    Cairn__JobStatusReply *st = NULL;
    int rc = get_status(c, id, &st);
    if (rc != CLI_OK)
        return rc;
    if (json)
        rc = ui_print_json(status_json(st), CAIRN_JSON_LINE);
    else
        status_human(c, st);
    cairn_msg_free(&st->base);
    return rc;
}

static void jobs_human(const cli_t *c, const Cairn__ListJobsReply *r)
{
    static const char *const hdr[] = {"ID",        "NAME",    "STATE", "TASKS",
                                      "SUBMITTER", "ACCOUNT", "AGE"};
    ui_table_t *t = ui_table_create(7, hdr);
    int64_t now = cairn_wall_ms();
    for (size_t i = 0; i < r->n_jobs; i++) {
        const Cairn__JobSummary *j = r->jobs[i];
        char id[24], tasks[48], age[32];
        snprintf(id, sizeof(id), "%llu", (unsigned long long)j->job_id);
        snprintf(tasks, sizeof(tasks), "%u/%u", j->tasks_succeeded, j->tasks_total);
        ui_duration(j->submit_time_ms > 0 ? now - j->submit_time_ms : -1, age, sizeof(age));
        const char *state = JSTATE(j->state);
        const char *acct = j->account && *j->account ? j->account : "-";
        const char *cells[] = {id, j->name, state, tasks, j->submitter, acct, age};
        ui_table_add(t, cells, 2, ui_state_col(c, state));
    }
    ui_table_print(c, t, stdout);
    ui_table_destroy(t);
    if (r->truncated)
        printf("(more jobs not shown)\n");
}

int cmd_jobs(cli_t *c, int argc, char **argv)
{
    bool json = false;
    Cairn__ListJobsRequest req = CAIRN__LIST_JOBS_REQUEST__INIT;
    /* --limit, --before, --account and --since are taken out before the
     * common options */
    int k = 1;
    for (int i = 1; i < argc; i++) {
        uint64_t v;
        if (!strcmp(argv[i], "--limit") && i + 1 < argc) {
            if (cli_parse_uint(argv[0], "--limit", argv[++i], 1, UINT32_MAX, &v) != CLI_OK)
                return CLI_USAGE;
            req.limit = (uint32_t)v;
        } else if (!strcmp(argv[i], "--before") && i + 1 < argc) {
            if (cli_parse_uint(argv[0], "--before", argv[++i], 1, UINT32_MAX, &v) != CLI_OK)
                return CLI_USAGE;
            req.before_job = v;
        } else if (!strcmp(argv[i], "--account") && i + 1 < argc) {
            req.account = argv[++i];
            if (!*req.account)
                return cli_usage_error(argv[0], "--account needs an account's name"), CLI_USAGE;
        } else if (!strcmp(argv[i], "--since") && i + 1 < argc) {
            req.since_ms = ui_parse_when(argv[++i], cairn_wall_ms());
            if (req.since_ms < 0)
                return cli_usage_error(argv[0], "bad --since '%s'", argv[i]), CLI_USAGE;
        } else {
            argv[k++] = argv[i];
        }
    }
    argc = k;
    char *pos[1];
    int n = parse_args(argc, argv, &json, pos, 0, NULL);
    if (n < 0)
        return CLI_USAGE;
    Cairn__ListJobsReply *r = NULL;
    int rc = cli_call(c, CAIRN_MSG_LIST_JOBS, &req.base, CAIRN_MSG_LIST_JOBS_REPLY,
                      (ProtobufCMessage **)&r);
    if (rc != CLI_OK)
        return rc;
    if (json) {
        json_t *jobs = json_array();
        for (size_t i = 0; i < r->n_jobs; i++)
            cairn_json_push(&jobs, summary_json(r->jobs[i]));
        rc = ui_print_json(json_pack("{s:o, s:b}", "jobs", jobs, "truncated", r->truncated),
                           CAIRN_JSON_LINE);
    } else {
        jobs_human(c, r);
    }
    cairn_msg_free(&r->base);
    return rc;
}

static bool job_ended(Cairn__JobState s)
{
    return s == CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED || s == CAIRN__JOB_STATE__JOB_STATE_FAILED ||
           s == CAIRN__JOB_STATE__JOB_STATE_CANCELLED;
}

static void progress_line(const Cairn__JobSummary *j, char *buf, size_t len)
{
    snprintf(buf, len, "job %llu %s: %u pending, %u running, %u succeeded, %u failed, %u cancelled",
             (unsigned long long)j->job_id, JSTATE(j->state), j->tasks_pending, j->tasks_running,
             j->tasks_succeeded, j->tasks_failed, j->tasks_cancelled);
}

int cli_wait_job(cli_t *c, uint64_t id, bool quiet)
{
    FILE *out = quiet ? stderr : stdout;
    bool live = quiet ? isatty(2) : c->tty;
    char last[256] = "";
    for (;;) {
        Cairn__JobStatusReply *st = NULL;
        int rc = wait_summary(c, id, &st);
        if (rc != CLI_OK) {
            if (live && *last)
                fputc('\n', out);
            return rc;
        }
        char line[256];
        progress_line(st->job, line, sizeof(line));
        Cairn__JobState s = st->job->state;
        cairn_msg_free(&st->base);
        if (live)
            fprintf(out, "\r\033[K%s", line);
        else if (strcmp(line, last) != 0)
            fprintf(out, "%s\n", line);
        fflush(out);
        snprintf(last, sizeof(last), "%s", line);
        if (job_ended(s)) {
            if (live)
                fputc('\n', out);
            return s == CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED ? CLI_OK : CLI_FAIL;
        }
    }
}

int cmd_wait(cli_t *c, int argc, char **argv)
{
    bool json = false;
    uint64_t id = 0;
    if (one_job(argc, argv, &json, &id) != CLI_OK)
        return CLI_USAGE;
    int rc = cli_wait_job(c, id, json);
    Cairn__JobStatusReply *st = NULL;
    if (!json || (rc != CLI_OK && rc != CLI_FAIL) || wait_summary(c, id, &st) != CLI_OK)
        return rc;
    if (ui_print_json(summary_json(st->job), CAIRN_JSON_LINE) != CLI_OK)
        rc = CLI_FAIL;
    cairn_msg_free(&st->base);
    return rc;
}

/* The reply's named tasks, dependents or not, "a, running: signalled; b"
 * and "; and N more" for those the reply does not name. */
static void cancel_names(const Cairn__CancelReply *r, bool dependents, uint32_t total)
{
    uint32_t shown = 0;
    for (size_t i = 0; i < r->n_cancelled; i++) {
        const Cairn__CancelledTask *t = r->cancelled[i];
        if (t->dependent != dependents)
            continue;
        printf("%s%s", shown++ ? (dependents ? ", " : "; ") : "", t->name);
        if (t->signalled)
            printf(t->queued ? ", queued on its node: signalled" : ", running: signalled");
    }
    if (total > shown)
        printf("%sand %u more", shown ? (dependents ? ", " : "; ") : "", total - shown);
}

/* "cancelled 1 task (a, running: signalled) and, once it stops, 1
 * dependent (b); job 2 is running": exactly what the cancel did. */
static void cancel_print(const Cairn__CancelReply *r, uint64_t job, const char *task)
{
    uint32_t n = r->tasks_cancelled + r->attempts_signalled, dep = r->dependents_cancelled;
    if (n == 0 && task) {
        printf("nothing to cancel: task %s has ended (%s); job %llu is %s\n", task,
               TSTATE(r->task_state), (unsigned long long)job, JSTATE(r->state));
        return;
    }
    if (n == 0) {
        printf("nothing to cancel: job %llu has ended (%s)\n", (unsigned long long)job,
               JSTATE(r->state));
        return;
    }
    printf("cancelled %u task%s (", n, n == 1 ? "" : "s");
    cancel_names(r, false, n);
    printf(")");
    if (dep) {
        printf(" and%s %u dependent%s (", r->dependents_later ? ", once it stops," : "", dep,
               dep == 1 ? "" : "s");
        cancel_names(r, true, dep);
        printf(")");
    }
    printf("; job %llu is %s\n", (unsigned long long)job, JSTATE(r->state));
}

int cmd_cancel(cli_t *c, int argc, char **argv)
{
    char *pos[2];
    int n = parse_args(argc, argv, NULL, pos, 2, NULL);
    if (n < 0)
        return CLI_USAGE;
    if (n < 1)
        return cli_usage_error(argv[0], "which job?");
    Cairn__CancelRequest req = CAIRN__CANCEL_REQUEST__INIT;
    req.job_id = cli_job_id(argv[0], pos[0]);
    if (!req.job_id)
        return CLI_USAGE;
    req.task = n > 1 ? pos[1] : "";
    Cairn__CancelReply *r = NULL;
    int rc =
        cli_call(c, CAIRN_MSG_CANCEL, &req.base, CAIRN_MSG_CANCEL_REPLY, (ProtobufCMessage **)&r);
    if (rc != CLI_OK)
        return rc;
    cancel_print(r, req.job_id, n > 1 ? pos[1] : NULL);
    cairn_msg_free(&r->base);
    return CLI_OK;
}

/* When the task's next attempt may start (its backoff's end), from the
 * job's status: the scheduler's explanation says how long is left, this
 * the local time; 0 if unknown. */
static int64_t next_attempt_ms(cli_t *c, uint64_t job, const char *task, uint32_t replica)
{
    Cairn__JobStatusReply *st = NULL;
    int64_t next = 0;
    if (get_status(c, job, &st) != CLI_OK)
        return 0;
    for (size_t i = 0; i < st->n_tasks; i++)
        if (!strcmp(st->tasks[i]->name, task) && st->tasks[i]->replica == replica)
            next = st->tasks[i]->next_attempt_time_ms;
    cairn_msg_free(&st->base);
    return next;
}

int cmd_explain(cli_t *c, int argc, char **argv)
{
    bool json = false;
    uint32_t replica = 0;
    char *pos[2];
    int n = parse_args(argc, argv, &json, pos, 2, &replica);
    if (n < 0)
        return CLI_USAGE;
    if (n != 2)
        return cli_usage_error(argv[0], "needs JOB and TASK");
    Cairn__ExplainRequest req = CAIRN__EXPLAIN_REQUEST__INIT;
    req.job_id = cli_job_id(argv[0], pos[0]);
    if (!req.job_id)
        return CLI_USAGE;
    req.task = pos[1];
    req.replica = replica;
    Cairn__ExplainReply *r = NULL;
    int rc =
        cli_call(c, CAIRN_MSG_EXPLAIN, &req.base, CAIRN_MSG_EXPLAIN_REPLY, (ProtobufCMessage **)&r);
    if (rc != CLI_OK)
        return rc;
    if (json) {
        json_t *reasons = json_array();
        for (size_t i = 0; i < r->n_reasons; i++)
            cairn_json_push(&reasons, json_pack("{s:s, s:I}", "reason",
                                                ui_enum(&cairn__pending_reason__descriptor,
                                                        (int)r->reasons[i]->reason),
                                                "count", (json_int_t)r->reasons[i]->count));
        rc = ui_print_json(json_pack("{s:o, s:s, s:I, s:o}", "text", cairn_json_str(r->text),
                                     "state", TSTATE(r->state), "nodes_considered",
                                     (json_int_t)r->nodes_considered, "reasons", reasons),
                           CAIRN_JSON_LINE);
    } else {
        size_t cap = 2 * strlen(r->text) + 64; /* a local time is under twice "t=MS" */
        char *text = malloc(cap);
        printf("%s: %s\n%s", pos[1], TSTATE(r->state),
               text ? ui_core_times(r->text, cairn_wall_ms(), text, cap) : r->text);
        free(text);
        int64_t next = r->state == CAIRN__TASK_STATE__TASK_STATE_RETRY_WAIT
                           ? next_attempt_ms(c, req.job_id, pos[1], replica)
                           : 0;
        char when[64];
        if (next > 0)
            printf("; next attempt at %s",
                   ui_local_time(next, cairn_wall_ms(), when, sizeof(when)));
        putchar('\n');
    }
    cairn_msg_free(&r->base);
    return rc;
}
