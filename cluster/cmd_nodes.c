/* cairn nodes, drain, undrain and node remove. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cmd.h"

const char cmd_nodes_help[] =
    "Usage: cairn nodes [--removed] [--json] [NODE...]\n"
    "\n"
    "Show every node (state, cores, memory, GPUs free/total), then every GPU with\n"
    "its model and the job/task using it. States: up; draining (drained by an\n"
    "operator, attempts still running) and drained (idle); returning (known from\n"
    "before a scheduler restart and not registered again yet: it keeps its\n"
    "attempts and takes nothing new until it is back, or is down after\n"
    "--restart-grace); down (heartbeats lost). NOTE says why. RUNNING counts the\n"
    "attempts running there, \"1 (+2 queued)\" those queued behind them (prefetch),\n"
    "which hold no cores or GPUs until the one ahead ends.\n"
    "  --removed  list the nodes removed with 'cairn node remove' too (state removed)\n"
    "  --json     print JSON\n";
const char cmd_drain_help[] =
    "Usage: cairn drain NODE [--reason TEXT]\n"
    "\n"
    "Stop placing new work on NODE; running attempts go on. The drain and its\n"
    "reason hold until 'cairn undrain', across the node's reconnects and\n"
    "scheduler restarts; a node may be drained while it is down.\n";
const char cmd_undrain_help[] = "Usage: cairn undrain NODE\n"
                                "\n"
                                "Let the scheduler place work on NODE again.\n";
const char cmd_node_help[] =
    "Usage: cairn node remove NODE\n"
    "\n"
    "Forget a node that is gone (administrators only; audited). Refused while\n"
    "attempts run or wait queued there (drain it and wait for them to end, or\n"
    "cancel them) and while its worker is connected (stop the worker first).\n"
    "A removed node takes no work, counts as no capacity in 'cairn report' and\n"
    "'cairn plan --cluster current' from then on, and is listed only by\n"
    "'cairn nodes --removed'; its history stays. A worker that registers under\n"
    "the name later joins as a new node (its hardware as it is then, not drained).\n";

const char cmd_gpu_help[] =
    "Usage: cairn gpu enable NODE GPU\n"
    "\n"
    "Return GPU (its index in 'cairn nodes') of NODE to service after its worker\n"
    "reported a critical error on it (an Xid error, a double-bit ECC error) and\n"
    "the scheduler marked it unhealthy: nothing new is placed on an unhealthy GPU,\n"
    "the node's other GPUs stay in use. Administrators only; audited. A worker\n"
    "that registers again with nothing running also starts with healthy GPUs.\n";

#define NSTATE(v) ui_enum(&cairn__node_state__descriptor, (int)(v))

static unsigned gpus_free(const Cairn__NodeInfo *n)
{
    unsigned f = 0;
    for (size_t g = 0; g < n->n_gpus; g++)
        f += !n->gpus[g]->used;
    return f;
}

static json_t *node_json(const Cairn__NodeInfo *n)
{
    json_t *labels = json_object();
    for (size_t i = 0; i < n->n_labels; i++)
        cairn_json_set(&labels, n->labels[i]->key, cairn_json_str(n->labels[i]->value));
    json_t *gpus = json_array();
    for (size_t g = 0; g < n->n_gpus; g++) {
        const Cairn__NodeGpu *gp = n->gpus[g];
        json_t *o =
            json_pack("{s:I, s:o, s:o, s:o, s:b, s:o, s:o, s:o}", "index", (json_int_t)gp->index,
                      "model", cairn_json_str(gp->model), "memory_bytes",
                      cairn_json_u64(gp->memory_bytes), "uuid", cairn_json_str(gp->uuid), "used",
                      gp->used, "attempt_id", cairn_json_u64(gp->attempt_id), "job_id",
                      cairn_json_u64(gp->job_id), "task", cairn_json_str(gp->task_name));
        /* only MIG instances carry these: whole GPUs print as before */
        if (o && gp->mig) {
            json_object_set_new(o, "mig", json_true());
            json_object_set_new(o, "mig_parent_uuid", cairn_json_str(gp->mig_parent_uuid));
        }
        if (o && gp->unhealthy) {
            json_object_set_new(o, "unhealthy", json_true());
            json_object_set_new(o, "unhealthy_reason", cairn_json_str(gp->unhealthy_reason));
        }
        cairn_json_push(&gpus, o);
    }
    return json_pack(
        "{s:o, s:o, s:s, s:o, s:I, s:I, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:o, s:b, "
        "s:o, s:o}",
        "name", cairn_json_str(n->name), "node_id", cairn_json_u64(n->node_id), "state",
        NSTATE(n->state), "labels", labels, "cores_total", (json_int_t)n->cores_total, "cores_free",
        (json_int_t)n->cores_free, "memory_total_bytes", cairn_json_u64(n->memory_total_bytes),
        "memory_free_bytes", cairn_json_u64(n->memory_free_bytes), "gpus_total",
        (json_int_t)n->n_gpus, "gpus_free", (json_int_t)gpus_free(n), "running_attempts",
        (json_int_t)n->running_attempts, "queued_attempts", (json_int_t)n->queued_attempts,
        "last_heartbeat_ms", (json_int_t)n->last_heartbeat_ms, "worker_version",
        cairn_json_str(n->worker_version), "drained", n->drained, "drain_reason",
        cairn_json_str(n->drain_reason), "gpus", gpus);
}

static void nodes_human(const cli_t *c, const Cairn__NodesReply *r)
{
    static const char *const hdr[] = {"NAME", "STATE",   "CORES", "MEMORY",
                                      "GPUS", "RUNNING", "NOTE"};
    ui_table_t *t = ui_table_create(7, hdr);
    size_t ngpus = 0;
    for (size_t i = 0; i < r->n_nodes; i++) {
        const Cairn__NodeInfo *n = r->nodes[i];
        char cores[32], mem[80], fm[32], tm[32], gpus[32], run[48];
        snprintf(cores, sizeof(cores), "%u/%u", n->cores_free, n->cores_total);
        snprintf(mem, sizeof(mem), "%s/%s", ui_bytes(n->memory_free_bytes, fm, sizeof(fm)),
                 ui_bytes(n->memory_total_bytes, tm, sizeof(tm)));
        snprintf(gpus, sizeof(gpus), "%u/%zu", gpus_free(n), n->n_gpus);
        if (n->queued_attempts)
            snprintf(run, sizeof(run), "%u (+%u queued)", n->running_attempts, n->queued_attempts);
        else
            snprintf(run, sizeof(run), "%u", n->running_attempts);
        const char *state = NSTATE(n->state);
        char note[600] = "";
        if (n->state == CAIRN__NODE_STATE__NODE_STATE_RETURNING)
            snprintf(note, sizeof(note), "not back since the scheduler restarted%s",
                     n->drained ? "; " : "");
        if (n->drained)
            snprintf(note + strlen(note), sizeof(note) - strlen(note), "drained%s%.400s",
                     n->drain_reason[0] ? ": " : "", n->drain_reason);
        const char *cells[] = {n->name, state, cores, mem, gpus, run, note};
        ui_table_add(t, cells, 1, ui_state_col(c, state));
        ngpus += n->n_gpus;
    }
    ui_table_print(c, t, stdout);
    ui_table_destroy(t);
    if (!ngpus)
        return;
    static const char *const ghdr[] = {"NODE", "GPU", "MODEL", "MEMORY", "USED BY"};
    t = ui_table_create(5, ghdr);
    for (size_t i = 0; i < r->n_nodes; i++) {
        for (size_t g = 0; g < r->nodes[i]->n_gpus; g++) {
            const Cairn__NodeGpu *gp = r->nodes[i]->gpus[g];
            char idx[16], mem[32], used[300] = "-";
            snprintf(idx, sizeof(idx), "%u", gp->index);
            if (gp->used)
                snprintf(used, sizeof(used), "job %llu task %s", (unsigned long long)gp->job_id,
                         gp->task_name);
            if (gp->unhealthy) { /* sick: says so before whoever still runs there */
                char run[300];
                memcpy(run, used, sizeof(run));
                snprintf(used, sizeof(used), "UNHEALTHY (%.64s)%s%.200s", gp->unhealthy_reason,
                         gp->used ? ", " : "", gp->used ? run : "");
            }
            const char *cells[] = {r->nodes[i]->name, idx, gp->model,
                                   ui_bytes(gp->memory_bytes, mem, sizeof(mem)), used};
            ui_table_add(t, cells, 4,
                         gp->unhealthy ? ui_col(c, UI_RED)
                         : gp->used    ? ui_col(c, UI_BLUE)
                                       : NULL);
        }
    }
    printf("\n");
    ui_table_print(c, t, stdout);
    ui_table_destroy(t);
}

int cmd_nodes(cli_t *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"removed", no_argument, NULL, 'r'}, {NULL, 0, NULL, 0}};
    bool json = false, removed = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch != 'j' && ch != 'r')
            return cli_usage_error(argv[0], "bad option");
        *(ch == 'j' ? &json : &removed) = true;
    }
    Cairn__NodesRequest req = CAIRN__NODES_REQUEST__INIT;
    req.removed = removed;
    req.n_names = (size_t)(argc - optind);
    req.names = argv + optind;
    Cairn__NodesReply *r = NULL;
    int rc =
        cli_call(c, CAIRN_MSG_NODES, &req.base, CAIRN_MSG_NODES_REPLY, (ProtobufCMessage **)&r);
    if (rc != CLI_OK)
        return rc;
    if (json) {
        json_t *nodes = json_array();
        for (size_t i = 0; i < r->n_nodes; i++)
            cairn_json_push(&nodes, node_json(r->nodes[i]));
        rc = ui_print_json(json_pack("{s:o}", "nodes", nodes), CAIRN_JSON_LINE);
    } else {
        nodes_human(c, r);
    }
    cairn_msg_free(&r->base);
    return rc;
}

static int drain(cli_t *c, int argc, char **argv, bool on)
{
    static const struct option opts[] = {{"reason", required_argument, NULL, 'r'},
                                         {NULL, 0, NULL, 0}};
    Cairn__DrainRequest req = CAIRN__DRAIN_REQUEST__INIT;
    req.reason = "";
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch != 'r' || !on)
            return cli_usage_error(argv[0], "bad option");
        req.reason = optarg;
    }
    if (argc - optind != 1)
        return cli_usage_error(argv[0], "which node?");
    req.node = argv[optind];
    req.drain = on;
    Cairn__DrainReply *r = NULL;
    int rc =
        cli_call(c, CAIRN_MSG_DRAIN, &req.base, CAIRN_MSG_DRAIN_REPLY, (ProtobufCMessage **)&r);
    if (rc != CLI_OK)
        return rc;
    printf("node %s: %s", req.node, NSTATE(r->state));
    if (r->running_attempts)
        printf(" (%u attempt%s still running", r->running_attempts,
               r->running_attempts == 1 ? "" : "s");
    if (r->running_attempts && r->queued_attempts)
        printf(", %u queued behind them", r->queued_attempts);
    if (r->running_attempts)
        printf(")");
    printf("\n");
    cairn_msg_free(&r->base);
    return CLI_OK;
}

int cmd_drain(cli_t *c, int argc, char **argv)
{
    return drain(c, argc, argv, true);
}

int cmd_undrain(cli_t *c, int argc, char **argv)
{
    return drain(c, argc, argv, false);
}

int cmd_node(cli_t *c, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "remove") != 0)
        return cli_usage_error("node",
                               argc < 2 ? "what? (cairn node remove NODE)"
                                        : "unknown action '%s': expected remove",
                               argc < 2 ? "" : argv[1]);
    if (argc != 3)
        return cli_usage_error("node", "which node? (cairn node remove NODE)");
    Cairn__NodeRemoveRequest req = CAIRN__NODE_REMOVE_REQUEST__INIT;
    req.node = argv[2];
    Cairn__NodeRemoveReply *r = NULL;
    int rc =
        cli_call(c, CAIRN_MSG_NODE_RM, &req.base, CAIRN_MSG_NODE_RM_REPLY, (ProtobufCMessage **)&r);
    if (rc != CLI_OK)
        return rc;
    printf("node %s removed: a worker registering as %s joins as a new node\n", req.node, req.node);
    cairn_msg_free(&r->base);
    return CLI_OK;
}

int cmd_gpu(cli_t *c, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "enable") != 0)
        return cli_usage_error("gpu",
                               argc < 2 ? "what? (cairn gpu enable NODE GPU)"
                                        : "unknown action '%s': expected enable",
                               argc < 2 ? "" : argv[1]);
    if (argc != 4)
        return cli_usage_error("gpu", "which GPU? (cairn gpu enable NODE GPU)");
    char *end = NULL;
    errno = 0;
    unsigned long gpu = strtoul(argv[3], &end, 10);
    if (errno || !end || *end || end == argv[3] || argv[3][0] == '-' || gpu > 63)
        return cli_usage_error("gpu", "GPU '%s' is not a GPU index (0 to 63, as cairn nodes shows)",
                               argv[3]);
    Cairn__GpuEnableRequest req = CAIRN__GPU_ENABLE_REQUEST__INIT;
    req.node = argv[2];
    req.gpu = (uint32_t)gpu;
    Cairn__GpuEnableReply *r = NULL;
    int rc = cli_call(c, CAIRN_MSG_GPU_ENABLE, &req.base, CAIRN_MSG_GPU_ENABLE_REPLY,
                      (ProtobufCMessage **)&r);
    if (rc != CLI_OK)
        return rc;
    printf("GPU %lu of node %s is in service again (it had: %s)\n", gpu, req.node, r->was);
    cairn_msg_free(&r->base);
    return CLI_OK;
}
