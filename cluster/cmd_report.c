/* cairn report: utilisation, GPU- and core-hours, queue waits,
 * fragmentation and why work waited, over a window (report.h). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cmd.h"
#include "cluster/report.h"

const char cmd_report_help[] =
    "Usage: cairn report [--since WHEN] [--until WHEN]\n"
    "                    [--by user|account|job|kind|node|gpu-model] [--account A]\n"
    "                    [--json | --csv] [--failures] [--svg FILE]\n"
    "\n"
    "What the cluster did over a window (default: the last 7 days):\n"
    "  - GPU utilisation per GPU model and per node: allocated vs actually used (used\n"
    "    where the GPUs report utilisation), cores likewise (used: the tasks' CPU time);\n"
    "  - GPU-hours (allocated and used), core-hours, attempts and queue waits p50/p95\n"
    "    by user, account, job, task kind, node or GPU model (--by);\n"
    "  - queue waits p50/p95/max by resource shape (8c 1g H100, 4c): ready (needs\n"
    "    done, or backoff over) to started, of the tasks started in the window; ready to\n"
    "    placed beside it (a task queued on a busy node is placed before it starts);\n"
    "    tasks that ended without starting, and those still queued, are counted apart;\n"
    "  - fragmentation: GPU-hours that sat idle while GPU tasks waited, by why (split\n"
    "    across nodes, cores or memory short where the GPUs were free, another model,\n"
    "    held back by a reservation or priority); GPUs that tasks waiting on their\n"
    "    account's limit could have used are counted apart, not as fragmentation;\n"
    "  - why tasks waited, in task-hours (waiting on an account limit is a reason);\n"
    "  - GPU-hours lost, per account, to attempts preempted, timed out or with their\n"
    "    node lost: from the newest checkpoint file written during the attempt to its\n"
    "    end, or the whole attempt when it wrote none; and the preemptions per account;\n"
    "  - failed attempts by class (oom, gpu-error, log, exit_nonzero, signaled,\n"
    "    timed_out, node_lost, failed_to_start), per node and per GPU UUID: a GPU\n"
    "    that failed attempts of several jobs is listed first.\n"
    "  --since/--until WHEN  a duration back from now (30m, 12h, 7d) or a UTC date\n"
    "                        (2026-11-26 or 2026-11-26T09:30:00)\n"
    "  --account A           only the attempts of jobs charged to account A (the\n"
    "                        census, fragmentation and why tasks waited, stay the\n"
    "                        whole cluster's)\n"
    "  --json                every figure as JSON (seconds)\n"
    "  --csv                 the --by table as CSV (hours)\n"
    "  --failures            only the failed attempts per GPU and per node (text,\n"
    "                        --json or --csv)\n"
    "  --svg FILE            also write a chart: GPUs allocated and used over time per\n"
    "                        model, the capacity, the GPUs waiting tasks wanted, and\n"
    "                        the GPUs whose work was lost (since their last checkpoint)\n"
    "Capacity counts each node only while it was there: from when it joined, not\n"
    "while it was down (lost) or after it was removed (the scheduler's node timeline).\n";

static int parse_by(const char *s, report_by_t *by)
{
    static const struct {
        const char *name;
        report_by_t by;
    } map[] = {{"user", REPORT_BY_USER},           {"job", REPORT_BY_JOB},
               {"kind", REPORT_BY_KIND},           {"node", REPORT_BY_NODE},
               {"gpu-model", REPORT_BY_GPU_MODEL}, {"account", REPORT_BY_ACCOUNT}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcmp(s, map[i].name)) {
            *by = map[i].by;
            return 0;
        }
    return -1;
}

int cmd_report(cli_t *c, int argc, char **argv)
{
    if (cli_help_asked(argc, argv, cmd_report_help))
        return CLI_OK;
    static const struct option opts[] = {{"since", required_argument, NULL, 's'},
                                         {"until", required_argument, NULL, 'u'},
                                         {"by", required_argument, NULL, 'b'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"csv", no_argument, NULL, 'c'},
                                         {"svg", required_argument, NULL, 'g'},
                                         {"account", required_argument, NULL, 'a'},
                                         {"failures", no_argument, NULL, 'f'},
                                         {NULL, 0, NULL, 0}};
    int64_t now = cairn_wall_ms();
    report_input_t in = {.from_ms = now - 7 * 86400000ll, .to_ms = now, .by = REPORT_BY_USER};
    bool json = false, csv = false, failures = false;
    const char *svg = NULL;
    int o;
    optind = 0;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 's':
        case 'u': {
            int64_t t = ui_parse_when(optarg, now);
            if (t < 0)
                return cli_usage_error("report",
                                       "--%s '%s' is neither a duration (7d, 12h, 30m) "
                                       "nor a date (2026-11-26[THH:MM:SS])",
                                       o == 's' ? "since" : "until", optarg);
            *(o == 's' ? &in.from_ms : &in.to_ms) = t;
            break;
        }
        case 'b':
            if (parse_by(optarg, &in.by) < 0)
                return cli_usage_error(
                    "report", "--by '%s': expected user, account, job, kind, node or gpu-model",
                    optarg);
            break;
        case 'a':
            if (!*optarg)
                return cli_usage_error("report", "--account needs an account's name");
            in.account = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'c':
            csv = true;
            break;
        case 'g':
            svg = optarg;
            break;
        case 'f':
            failures = true;
            break;
        default:
            return cli_usage_error("report", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("report", "unexpected argument '%s'", argv[optind]);
    if (json && csv)
        return cli_usage_error("report", "--json or --csv, not both");
    if (in.to_ms <= in.from_ms)
        return cli_usage_error("report", "the window is empty (--until is not after --since)");
    Cairn__UsageRequest uq = CAIRN__USAGE_REQUEST__INIT;
    uq.since_ms = in.from_ms;
    uq.until_ms = in.to_ms;
    Cairn__NodesRequest nq = CAIRN__NODES_REQUEST__INIT;
    nq.removed = true; /* they were there for part of the window, maybe */
    cli_acct_t acct;
    Cairn__UsageReply *usage = NULL;
    Cairn__NodesReply *nodes = NULL;
    int rc = cli_accounting(c, in.from_ms, in.to_ms, &acct);
    if (rc == CLI_OK)
        rc = cli_call(c, CAIRN_MSG_USAGE, &uq.base, CAIRN_MSG_USAGE_REPLY,
                      (ProtobufCMessage **)&usage);
    if (rc == CLI_OK)
        rc = cli_call(c, CAIRN_MSG_NODES, &nq.base, CAIRN_MSG_NODES_REPLY,
                      (ProtobufCMessage **)&nodes);
    report_t r;
    if (rc == CLI_OK) {
        in.acct = &acct.all;
        in.usage = usage;
        in.nodes = nodes;
        if (report_compute(&in, &r) < 0) {
            fprintf(stderr, "cairn report: out of memory\n");
            rc = CLI_FAIL;
        }
    }
    if (rc == CLI_OK) {
        if (failures && json)
            rc = ui_print_json(report_fail_json(&r.fail), CAIRN_JSON_INDENT);
        else if (failures && csv)
            report_fail_print_csv(stdout, &r.fail);
        else if (failures)
            report_fail_print_text(stdout, &r.fail);
        else if (json)
            rc = ui_print_json(report_json(&in, &r), CAIRN_JSON_INDENT);
        else if (csv)
            report_print_csv(stdout, &in, &r);
        else
            report_print_text(stdout, &in, &r);
        if (svg) {
            FILE *f = fopen(svg, "w");
            if (!f || report_print_svg(f, &in, &r) < 0 || fclose(f) != 0) {
                fprintf(stderr, "cairn report: cannot write %s: %s\n", svg, strerror(errno));
                rc = CLI_FAIL;
            }
        }
        report_fini(&r);
    }
    report_acct_fini(&acct); /* idempotent: emptied on failure already */
    if (usage)
        cairn_msg_free(&usage->base);
    if (nodes)
        cairn_msg_free(&nodes->base);
    return rc;
}
