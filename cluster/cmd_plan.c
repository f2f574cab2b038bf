/* cairn plan: replay a workload through the scheduling core on a cluster
 * you describe (scheduling/sim.h) and set the prediction beside what
 * actually happened. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cmd.h"
#include "cluster/plan_private.h"
#include "scheduler/jobspec.h"

const char cmd_plan_help[] =
    "Usage: cairn plan --trace last:DURATION|FILE [--cluster current|FILE]\n"
    "                  [--add Nx FILE.xml]... [--remove NODE[,NODE...]]... [--no-prefetch]\n"
    "                  [--accounts FILE] [--fair-share-gpu-weight N]\n"
    "                  [--fair-share-half-life DURATION]\n"
    "                  [--no-preemption | --preempt-for-fair-share]\n"
    "                  [--topology-levels L1,L2 [--gang-placement pack|require:LEVEL]] [--json]\n"
    "       cairn plan --trace last:DURATION --export-trace > trace.json\n"
    "\n"
    "Replay a workload through the scheduler's own placement code on a cluster and\n"
    "predict makespan, waits (p50 / p95 per shape), GPU utilisation and\n"
    "fragmentation; for a recorded trace, beside what actually happened. With\n"
    "accounts, the waits and GPU-hours of each account too.\n"
    "  --trace last:7d    the scheduler's accounting of attempts that ended in the\n"
    "                     last 7 days (d, h, m, s), and those still running\n"
    "  --trace FILE       a JSON trace (accounting records) or a CSV trace (docs/capacity.md)\n"
    "  --cluster current  the scheduler's nodes that are there now (the default): not\n"
    "                     down ones, nor removed ones; on a recorded trace each counts,\n"
    "                     and takes work, only while it was there (its node timeline)\n"
    "  --cluster FILE     a cluster file (JSON, docs/capacity.md) or an hwloc XML topology\n"
    "  --add Nx FILE.xml  N more nodes like the topology (named FILE+1...)\n"
    "  --remove NODE      leave a node out\n"
    "  --no-prefetch      place as a scheduler run with --no-prefetch (the default:\n"
    "                     as the scheduler runs by default, prefetch on)\n"
    "  --accounts FILE    replay under this account tree: the JSON of\n"
    "                     `cairn account list --json` (the default: for last:, the\n"
    "                     scheduler's current accounts; for a file, none but default)\n"
    "  --fair-share-gpu-weight N     a GPU-second counts as N core-seconds of usage\n"
    "  --fair-share-half-life 7d     usage halves every 7d (d, h, m, s); both default\n"
    "                     to the scheduler's for last:, else to 16 and 7d\n"
    "  --no-preemption    what if nothing were preemptible: attempts recorded\n"
    "                     preempted are left out and their tasks run their work once\n"
    "  --preempt-for-fair-share  what if the scheduler ran with\n"
    "                     --preempt-for-fair-share (tasks of an account below its share\n"
    "                     preempt those of accounts above theirs)\n"
    "                     Tasks with an attempt recorded preempted are preemptible in\n"
    "                     the replay (the records say no more), with a 30 s grace.\n"
    "                     The unchanged replay of a recorded run ends each preempted\n"
    "                     attempt when it ended; a what-if (either option, --add,\n"
    "                     --remove, another cluster) lets the simulation preempt.\n"
    "  --topology-levels rack,block  place as a scheduler run with these levels\n"
    "                     (tightest first; nodes' topology.LEVEL labels say their domains)\n"
    "  --gang-placement require:rack  what if every gang (replicas > 1) asked for\n"
    "                     this placement (pack:LEVEL or require:LEVEL); the records do not\n"
    "                     carry a task's own\n"
    "  --json             print JSON\n"
    "  --export-trace     print the trace as JSON and exit\n";

/* --- the command ------------------------------------------------------------ */

static bool parse_window(const char *s, int64_t *ms)
{
    const char *end = NULL;
    uint64_t v = 0;
    if (cli_parse_digits(s, INT64_MAX / 86400000, &v, &end) < 0 || v == 0)
        return false;
    static const struct {
        char unit;
        int64_t ms;
    } units[] = {{'d', 86400000}, {'h', 3600000}, {'m', 60000}, {'s', 1000}};
    for (size_t i = 0; i < 4; i++)
        if (end[0] == units[i].unit && !end[1]) {
            *ms = (int64_t)v * units[i].ms;
            return true;
        }
    return false;
}

static int parse_add(plan_opts_t *o, const char *count, const char *file)
{
    const char *end = NULL;
    uint64_t n = 0;
    if (!file || cli_parse_digits(count, 100000, &n, &end) < 0 || strcmp(end, "x") != 0 || n < 1)
        return cli_usage_error(
            "plan", "bad --add '%s': expected --add Nx FILE.xml (N from 1 to 100000)", count);
    if (o->nadd == 64)
        return cli_usage_error("plan", "at most 64 --add");
    o->add_count[o->nadd] = (uint32_t)n;
    o->add_file[o->nadd++] = file;
    return CLI_OK;
}

static int parse_opts(int argc, char **argv, plan_opts_t *o)
{
    enum {
        OPT_TRACE = 256,
        OPT_CLUSTER,
        OPT_ADD,
        OPT_REMOVE,
        OPT_JSON,
        OPT_EXPORT,
        OPT_NO_PREFETCH,
        OPT_ACCOUNTS,
        OPT_FS_WEIGHT,
        OPT_FS_HALF_LIFE,
        OPT_NO_PREEMPTION,
        OPT_PREEMPT_FS,
        OPT_TOPOLOGY_LEVELS,
        OPT_GANG_PLACEMENT
    };
    static const struct option opts[] = {
        {"trace", required_argument, NULL, OPT_TRACE},
        {"cluster", required_argument, NULL, OPT_CLUSTER},
        {"add", required_argument, NULL, OPT_ADD},
        {"remove", required_argument, NULL, OPT_REMOVE},
        {"topology-levels", required_argument, NULL, OPT_TOPOLOGY_LEVELS},
        {"gang-placement", required_argument, NULL, OPT_GANG_PLACEMENT},
        {"json", no_argument, NULL, OPT_JSON},
        {"export-trace", no_argument, NULL, OPT_EXPORT},
        {"no-prefetch", no_argument, NULL, OPT_NO_PREFETCH},
        {"accounts", required_argument, NULL, OPT_ACCOUNTS},
        {"fair-share-gpu-weight", required_argument, NULL, OPT_FS_WEIGHT},
        {"fair-share-half-life", required_argument, NULL, OPT_FS_HALF_LIFE},
        {"no-preemption", no_argument, NULL, OPT_NO_PREEMPTION},
        {"preempt-for-fair-share", no_argument, NULL, OPT_PREEMPT_FS},
        {NULL, 0, NULL, 0}};
    int ch, rc;
    o->cluster = "current";
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case OPT_TRACE:
            o->trace = optarg;
            break;
        case OPT_CLUSTER:
            o->cluster = optarg;
            break;
        case OPT_ADD: /* two words: --add 4x FILE.xml */
            if ((rc = parse_add(o, optarg, optind < argc ? argv[optind] : NULL)) != CLI_OK)
                return rc;
            optind++;
            break;
        case OPT_REMOVE: {
            char *save = NULL;
            for (char *tok = strtok_r(optarg, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
                if (o->nremove < 256)
                    o->remove[o->nremove++] = tok;
            break;
        }
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_EXPORT:
            o->export_trace = true;
            break;
        case OPT_NO_PREFETCH:
            o->no_prefetch = true;
            break;
        case OPT_ACCOUNTS:
            o->accounts = optarg;
            break;
        case OPT_NO_PREEMPTION:
            o->no_preemption = true;
            break;
        case OPT_PREEMPT_FS:
            o->preempt_for_fair_share = true;
            break;
        case OPT_TOPOLOGY_LEVELS: {
            cairn_error_t e = {{0}};
            if (sched_topology_levels_check(optarg, &e) < 0)
                return cli_usage_error("plan", "bad --topology-levels '%s': %s", optarg, e.text);
            o->topology_levels = optarg;
            break;
        }
        case OPT_GANG_PLACEMENT: {
            const char *colon = strchr(optarg, ':');
            bool pack = colon && !strncmp(optarg, "pack:", 5);
            if (!colon || (!pack && strncmp(optarg, "require:", 8) != 0) ||
                !sched_topology_level_name_ok(colon + 1))
                return cli_usage_error(
                    "plan", "bad --gang-placement '%s': expected pack:LEVEL or require:LEVEL",
                    optarg);
            o->gang_placement = pack ? SCHED_PLACEMENT_PACK : SCHED_PLACEMENT_REQUIRE;
            o->gang_level = colon + 1;
            break;
        }
        case OPT_FS_WEIGHT: {
            uint64_t v;
            if ((rc = cli_parse_uint("plan", "--fair-share-gpu-weight", optarg, 1, 1000000, &v)) !=
                CLI_OK)
                return rc;
            o->fs_gpu_weight = (uint32_t)v;
            break;
        }
        case OPT_FS_HALF_LIFE:
            if (!parse_window(optarg, &o->fs_half_life_ms))
                return cli_usage_error(
                    "plan", "bad --fair-share-half-life '%s': expected N with d, h, m or s",
                    optarg);
            break;
        default:
            return cli_usage_error("plan", "unknown option");
        }
    }
    if (optind < argc)
        return cli_usage_error("plan", "unexpected argument '%s'", argv[optind]);
    if (!o->trace)
        return cli_usage_error("plan", "--trace last:DURATION or --trace FILE is required");
    if (o->no_preemption && o->preempt_for_fair_share)
        return cli_usage_error("plan", "--no-preemption or --preempt-for-fair-share, not both");
    if (o->gang_level && !o->topology_levels)
        return cli_usage_error("plan", "--gang-placement needs --topology-levels");
    if (o->gang_level && !jobspec_level_listed(o->topology_levels, o->gang_level))
        return cli_usage_error("plan", "--gang-placement names level %s, not one of %s",
                               o->gang_level, o->topology_levels);
    if (o->export_trace && strncmp(o->trace, "last:", 5) != 0)
        return cli_usage_error("plan", "--export-trace needs --trace last:DURATION");
    return CLI_OK;
}

static int fetch_trace(cli_t *c, const plan_opts_t *o, plan_trace_t *t)
{
    int64_t window;
    if (!parse_window(o->trace + 5, &window))
        return cli_usage_error("plan", "bad --trace '%s': expected last:N with d, h, m or s",
                               o->trace);
    cli_acct_t acct;
    int rc = cli_accounting(c, cairn_wall_ms() - window, 0, &acct);
    if (rc != CLI_OK)
        return rc;
    const Cairn__AccountingReply *ar = &acct.all;
    if (o->export_trace) {
        json_t *records = json_array();
        for (size_t i = 0; i < ar->n_records; i++)
            cairn_json_push(&records, cairn_json_msg(&ar->records[i]->base));
        rc = ui_print_json(records, CAIRN_JSON_INDENT | CAIRN_JSON_EXACT);
    } else
        rc = plan_trace_from_reply(ar, t);
    report_acct_fini(&acct);
    if (rc == CLI_OK && !o->export_trace)
        t->source = o->trace;
    return rc;
}

/* The replay's account tree (--accounts FILE; for last:, the scheduler's;
 * else none) and fair-share settings (the options; for last:, the
 * scheduler's; else the core's). */
static int load_accounts(cli_t *c, const plan_opts_t *o, plan_accounts_t *a)
{
    plan_accounts_t live = {0};
    bool old = false;
    int rc = CLI_OK;
    if (!strncmp(o->trace, "last:", 5) && (rc = plan_accounts_fetch(c, &live, &old)) != CLI_OK)
        return rc;
    if (o->accounts) {
        rc = plan_accounts_load(o->accounts, a);
        a->gpu_weight = live.gpu_weight;
        a->half_life_ms = live.half_life_ms;
        plan_accounts_fini(&live);
    } else
        *a = live;
    if (!a->from) {
        a->from = "none";
        a->source = old ? "none: every job in default (the scheduler predates accounts)"
                        : "none: every job in default";
    }
    if (o->fs_gpu_weight)
        a->gpu_weight = o->fs_gpu_weight;
    if (o->fs_half_life_ms)
        a->half_life_ms = o->fs_half_life_ms;
    if (!a->gpu_weight)
        a->gpu_weight = SCHED_FS_GPU_WEIGHT;
    if (a->half_life_ms <= 0)
        a->half_life_ms = SCHED_FS_HALF_LIFE_MS;
    return rc;
}

static int load_cluster(cli_t *c, const plan_opts_t *o, plan_cluster_t *base)
{
    if (strcmp(o->cluster, "current") != 0)
        return plan_cluster_load(o->cluster, base);
    Cairn__NodesRequest req = CAIRN__NODES_REQUEST__INIT;
    ProtobufCMessage *rep = NULL;
    int rc = cli_call(c, CAIRN_MSG_NODES, &req.base, CAIRN_MSG_NODES_REPLY, &rep);
    if (rc != CLI_OK)
        return rc;
    rc = plan_cluster_from_nodes((const Cairn__NodesReply *)rep, base);
    cairn_msg_free(rep);
    return rc;
}

/* The cluster to predict on: base + --add - --remove. */
static int what_if(const plan_opts_t *o, const plan_cluster_t *base, plan_cluster_t *cl)
{
    if (plan_cluster_copy(cl, base) < 0)
        return CLI_FAIL;
    for (int i = 0; i < o->nadd; i++) {
        const char *slash = strrchr(o->add_file[i], '/');
        char name[256];
        snprintf(name, sizeof(name), "%s", slash ? slash + 1 : o->add_file[i]);
        char *dot = strrchr(name, '.');
        if (dot && dot != name)
            *dot = '\0';
        strncat(name, "+", sizeof(name) - strlen(name) - 1);
        int rc = plan_cluster_add_xml(cl, o->add_file[i], name, o->add_count[i]);
        if (rc != CLI_OK)
            return rc;
    }
    for (int i = 0; i < o->nremove; i++)
        if (plan_cluster_remove(cl, o->remove[i]) < 0) {
            fprintf(stderr, "cairn plan: --remove %s: no such node in the cluster\n", o->remove[i]);
            return CLI_NOTFOUND;
        }
    if (cl->n == 0) {
        fprintf(stderr, "cairn plan: the cluster has no nodes left\n");
        return CLI_USAGE;
    }
    return CLI_OK;
}

static int plan_run(cli_t *c, const plan_opts_t *o, plan_trace_t *t, plan_cluster_t *base,
                    plan_cluster_t *cl, plan_work_t *w, plan_accounts_t *acct)
{
    int rc = what_if(o, base, cl);
    if (rc != CLI_OK)
        return rc;
    bool current = t->recorded && !strcmp(o->cluster, "current");
    /* the recorded run on its own cluster: its passes' times, and its
     * preempted attempts as they ended */
    bool replay = current && !o->nadd && !o->nremove && !o->no_preemption &&
                  !o->preempt_for_fair_share && !o->gang_level;
    w->keep_preempted = replay;
    w->no_preemption = o->no_preemption;
    w->placement = o->gang_placement;
    w->placement_level = o->gang_level;
    if ((rc = plan_work_build(w)) != CLI_OK || (rc = plan_accounts_charge(acct, w)) != CLI_OK)
        return rc;
    plan_work_mark_mixed(w, base);
    sched_sim_t *sim = plan_sim_create(cl, !o->no_prefetch, o->preempt_for_fair_share,
                                       o->topology_levels, acct, &rc),
                *bsim = NULL;
    if (rc == CLI_OK)
        bsim = plan_sim_create(base, !o->no_prefetch, false, o->topology_levels, NULL, &rc);
    sched_sim_span_t *aspans = NULL;
    sched_sim_report_t pred = {0}, act = {0};
    plan_acct_rows_t rows = {0};
    bool have_act = false;
    /* the scheduler's nodes as they came and went over the trace */
    Cairn__UsageReply *tl = NULL;
    int64_t from = 0;
    if (rc == CLI_OK && current && (rc = plan_presence_fetch(c, t, &tl, &from)) == CLI_OK &&
        (rc = plan_presence_apply(sim, cl, tl, from)) == CLI_OK)
        rc = plan_presence_apply(bsim, base, tl, from);
    cairn_msg_free(tl ? &tl->base : NULL);
    if (rc == CLI_OK)
        rc = plan_simulate(w, sim, replay);
    size_t nas = 0, unknown = 0, nps = 0;
    if (rc == CLI_OK && t->recorded) {
        aspans = plan_actual_spans(w, bsim, &nas, &unknown);
        rc = aspans && sched_sim_measure(bsim, aspans, nas, &act) == 0 ? CLI_OK : CLI_FAIL;
        have_act = rc == CLI_OK;
    }
    const sched_sim_span_t *pspans = sim ? sched_sim_spans(sim, &nps) : NULL;
    if (rc == CLI_OK && sched_sim_measure(sim, pspans, nps, &pred) < 0)
        rc = CLI_FAIL;
    if (rc == CLI_OK)
        rc = plan_accounts_figures(acct, w, have_act ? aspans : NULL, nas, bsim, sim, &rows);
    if (rc == CLI_OK) {
        sched_sim_stats_t st;
        sched_sim_stats(sim, &st);
        plan_match_t m = plan_match(w, sim);
        plan_result_t res = {.st = &st,
                             .m = &m,
                             .act = have_act ? &act : NULL,
                             .bsim = bsim,
                             .pred = &pred,
                             .sim = sim,
                             .acct = acct,
                             .rows = &rows,
                             .w = w,
                             .preemption = o->no_preemption            ? "off"
                                           : o->preempt_for_fair_share ? "priority or fair share"
                                                                       : "priority"};
        if (o->json)
            rc = plan_print_json(o, w, base, cl, &res);
        else {
            plan_print_header(o, w, base, cl, &res, unknown);
            plan_print_table(c, &res);
        }
    }
    plan_acct_rows_fini(&rows);
    sched_sim_report_fini(&pred);
    sched_sim_report_fini(&act);
    free(aspans);
    sched_sim_destroy(sim);
    sched_sim_destroy(bsim);
    return rc;
}

int cmd_plan(cli_t *c, int argc, char **argv)
{
    plan_opts_t o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    plan_trace_t t = {0};
    plan_cluster_t base = {0}, cl = {0};
    plan_work_t w = {.t = &t};
    plan_accounts_t acct = {0};
    if (!strncmp(o.trace, "last:", 5))
        rc = fetch_trace(c, &o, &t);
    else
        rc = plan_trace_load(o.trace, &t);
    if (rc == CLI_OK && !o.export_trace && t.n == 0) {
        fprintf(stderr, "cairn plan: the trace %s has no records\n", o.trace);
        rc = CLI_USAGE;
    }
    if (rc == CLI_OK && !o.export_trace)
        rc = load_accounts(c, &o, &acct);
    if (rc == CLI_OK && !o.export_trace)
        rc = load_cluster(c, &o, &base);
    if (rc == CLI_OK && !o.export_trace)
        rc = plan_run(c, &o, &t, &base, &cl, &w, &acct);
    plan_accounts_fini(&acct);
    plan_work_fini(&w);
    plan_cluster_fini(&cl);
    plan_cluster_fini(&base);
    plan_trace_fini(&t);
    return rc;
}
