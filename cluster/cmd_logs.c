/* cairn logs: read an attempt's stdout or stderr through the scheduler. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cmd.h"
#include "scheduling/sched.h"

const char cmd_logs_help[] =
    "Usage: cairn logs JOB TASK [--attempt N] [--replica N] [--stderr] [--follow]\n"
    "\n"
    "Print a task attempt's output (the latest attempt unless --attempt N).\n"
    "  --attempt N  attempt N of the task (1 for the first; 'cairn status' shows\n"
    "               the latest)\n"
    "  --replica N  replica N of a gang (replicas: in the spec), 0 to replicas-1,\n"
    "               the one of RANK=N; default 0 (every task has a replica 0)\n"
    "  --stderr     the standard error instead of the standard output\n"
    "  --follow     keep printing new output until the attempt ends\n";

typedef struct logs_opts {
    bool follow;
    Cairn__LogsRequest req;
} logs_opts_t;

static int logs_parse(int argc, char **argv, logs_opts_t *o)
{
    static const struct option opts[] = {
        {"attempt", required_argument, NULL, 'a'},
        {"replica", required_argument, NULL, 'r'},
        {"stderr", no_argument, NULL, 'e'},
        {"follow", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    uint64_t v;
    while ((ch = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
        switch (ch) {
        case 'a':
            if (cli_parse_uint(argv[0], "--attempt", optarg, 1, UINT32_MAX, &v) != CLI_OK)
                return CLI_USAGE;
            o->req.attempt_number = (uint32_t)v;
            break;
        case 'r':
            if (cli_parse_uint(argv[0], "--replica", optarg, 0, SCHED_MAX_REPLICAS - 1, &v) !=
                CLI_OK)
                return CLI_USAGE;
            o->req.replica = (uint32_t)v;
            break;
        case 'e':
            o->req.stream = CAIRN__LOG_STREAM__LOG_STREAM_STDERR;
            break;
        case 'f':
            o->follow = true;
            break;
        default:
            return cli_usage_error(argv[0], "bad option");
        }
    }
    if (argc - optind != 2)
        return cli_usage_error(argv[0], "needs JOB and TASK");
    o->req.job_id = cli_job_id(argv[0], argv[optind]);
    if (!o->req.job_id)
        return CLI_USAGE;
    o->req.task = argv[optind + 1];
    return CLI_OK;
}

static bool task_ended(Cairn__TaskState s)
{
    return s == CAIRN__TASK_STATE__TASK_STATE_SUCCEEDED ||
           s == CAIRN__TASK_STATE__TASK_STATE_FAILED ||
           s == CAIRN__TASK_STATE__TASK_STATE_CANCELLED ||
           s == CAIRN__TASK_STATE__TASK_STATE_UPSTREAM_FAILED;
}

/* --follow: wait (polling the job's status) until the task has an attempt,
 * and pin the attempt number so that a retry does not switch streams under
 * our offset. */
static int follow_start(cli_t *c, Cairn__LogsRequest *lr)
{
    Cairn__JobStatusRequest req = CAIRN__JOB_STATUS_REQUEST__INIT;
    req.job_id = lr->job_id;
    req.task = lr->task;
    for (;;) {
        Cairn__JobStatusReply *st = NULL;
        int rc = cli_call(c, CAIRN_MSG_JOB_STATUS, &req.base, CAIRN_MSG_JOB_STATUS_REPLY,
                          (ProtobufCMessage **)&st);
        if (rc != CLI_OK)
            return rc;
        const Cairn__TaskStatus *t = NULL;
        for (size_t i = 0; i < st->n_tasks && !t; i++)
            if (!strcmp(st->tasks[i]->name, lr->task) && st->tasks[i]->replica == lr->replica)
                t = st->tasks[i];
        rc = !t ? CLI_NOTFOUND : t->n_attempts ? CLI_OK : task_ended(t->state) ? CLI_FAIL : -1;
        if (rc == CLI_OK && !lr->attempt_number)
            lr->attempt_number = t->attempts[t->n_attempts - 1]->number;
        cairn_msg_free(&st->base);
        if (rc == CLI_NOTFOUND)
            fprintf(stderr, "cairn logs: job %llu has no task '%s' (replica %u)\n",
                    (unsigned long long)lr->job_id, lr->task, lr->replica);
        else if (rc == CLI_FAIL)
            fprintf(stderr, "cairn logs: task %s ended without running\n", lr->task);
        if (rc >= 0)
            return rc;
        ui_sleep_ms(200);
    }
}

int cmd_logs(cli_t *c, int argc, char **argv)
{
    logs_opts_t o = {.req = CAIRN__LOGS_REQUEST__INIT};
    o.req.stream = CAIRN__LOG_STREAM__LOG_STREAM_STDOUT;
    int rc = logs_parse(argc, argv, &o);
    if (rc == CLI_OK && o.follow)
        rc = follow_start(c, &o.req);
    if (rc != CLI_OK)
        return rc;
    for (;;) {
        Cairn__LogsReply *r = NULL;
        rc =
            cli_call(c, CAIRN_MSG_LOGS, &o.req.base, CAIRN_MSG_LOGS_REPLY, (ProtobufCMessage **)&r);
        if (rc != CLI_OK)
            return rc;
        if (r->error && *r->error) {
            fprintf(stderr, "cairn logs: %s\n", r->error);
            cairn_msg_free(&r->base);
            return CLI_FAIL;
        }
        if (r->data.len)
            fwrite(r->data.data, 1, r->data.len, stdout);
        fflush(stdout);
        bool eof = r->eof, empty = r->data.len == 0;
        o.req.offset = r->next_offset;
        cairn_msg_free(&r->base);
        if (eof || (empty && !o.follow))
            return CLI_OK;
        if (empty)
            ui_sleep_ms(200);
    }
}
