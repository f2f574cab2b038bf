/* cairn logs: read an attempt's stdout or stderr through the scheduler. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

const char cmd_logs_help[] =
    "Usage: cairn logs JOB TASK [--attempt N] [--replica N] [--stderr] [--follow]\n"
    "\n"
    "Print a task attempt's output (the latest attempt unless --attempt N).\n"
    "  --stderr   the standard error instead of the standard output\n"
    "  --follow   keep printing new output until the attempt ends\n";

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
    while ((ch = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
        switch (ch) {
        case 'a':
            o->req.attempt_number = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'r':
            o->req.replica = (uint32_t)strtoul(optarg, NULL, 10);
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

int cmd_logs(cli_t *c, int argc, char **argv)
{
    logs_opts_t o = {.req = CAIRN__LOGS_REQUEST__INIT};
    o.req.stream = CAIRN__LOG_STREAM__LOG_STREAM_STDOUT;
    int rc = logs_parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    for (;;) {
        Cairn__LogsReply *r = NULL;
        rc = cli_call(c, CAIRN_MSG_LOGS, &o.req.base, CAIRN_MSG_LOGS_REPLY,
                      (ProtobufCMessage **)&r);
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
