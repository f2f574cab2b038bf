/* cairn inspect / cairn provenance: what exactly ran, where, with what. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/cmd.h"
#include "proto/client.pb-c.h"

const char cmd_inspect_help[] =
    "Usage: cairn inspect JOB [TASK] [--json]\n"
    "\n"
    "Show the provenance of a job's attempts (or one task's): the account it is\n"
    "charged to, the spec's hash and seed, each task's resolved command, env\n"
    "(secrets masked), workdir and the SHA-256 of its declared inputs (as cairn\n"
    "submit hashed them), and for every attempt its seed, why the one before\n"
    "ended, the node with its topology fingerprint, worker, driver and CUDA\n"
    "versions, cores and GPUs (model, UUID, PCI bus id), times, how it ended (a\n"
    "cached one: whose outputs it reused), peak memory, CPU time and the SHA-256\n"
    "of its declared outputs; who preempted it and why, and the chain of\n"
    "checkpoints: the checkpoint each attempt resumed from (the attempt that\n"
    "wrote it) or that it started fresh, and the checkpoint it left. Every rank of\n"
    "a gang is listed with its own node, cores and GPUs. An attempt that has not\n"
    "started (queued on a node behind another, or cancelled before it started) has\n"
    "no worker, cores, GPUs or start time.\n"
    "  --json   print the record as JSON (the format of 'cairn provenance')\n";

const char cmd_provenance_help[] =
    "Usage: cairn provenance JOB\n"
    "\n"
    "Print the job's self-contained provenance record as JSON: the spec exactly as\n"
    "submitted, and everything 'cairn inspect' shows, for every task and attempt.\n"
    "A reviewer can read it without the cluster. The format is documented in\n"
    "cluster/provenance.schema.json (JSON Schema); \"format\" names its version.\n";

static int fetch(cli_t *c, const char *cmd, int argc, char **argv, const char **task, bool *json,
                 Cairn__ProvenanceReply **rep)
{
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        if (json && !strcmp(argv[i], "--json"))
            *json = true;
        else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        else if (npos < (task ? 2 : 1))
            pos[npos++] = argv[i];
        else
            return cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
    }
    if (!pos[0])
        return cli_usage_error(cmd, "which job?");
    uint64_t id = cli_job_id(cmd, pos[0]);
    if (!id)
        return CLI_USAGE;
    Cairn__ProvenanceRequest req = CAIRN__PROVENANCE_REQUEST__INIT;
    req.job_id = id;
    req.task = (char *)(pos[1] ? pos[1] : "");
    if (task)
        *task = pos[1];
    return cli_call(c, CAIRN_MSG_PROVENANCE, &req.base, CAIRN_MSG_PROVENANCE_REPLY,
                    (ProtobufCMessage **)rep);
}

int cmd_provenance(cli_t *c, int argc, char **argv)
{
    if (cli_help_asked(argc, argv, cmd_provenance_help))
        return CLI_OK;
    Cairn__ProvenanceReply *rep = NULL;
    int rc = fetch(c, "provenance", argc, argv, NULL, NULL, &rep);
    if (rc != CLI_OK)
        return rc;
    rc = ui_print_json(cairn_json_msg(&rep->job->base), CAIRN_JSON_INDENT | CAIRN_JSON_EXACT);
    cairn_msg_free(&rep->base);
    return rc;
}

static void when(int64_t ms, char *buf, size_t n)
{
    if (ms <= 0) {
        snprintf(buf, n, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "preempted by job 7 task eval (priority 100 > 0) at T, killed at T2 at
 * the latest" */
static void print_preemption(const Cairn__Preemption *p)
{
    if (!p)
        return;
    char t0[32], t1[32];
    when(p->time_ms, t0, sizeof(t0));
    when(p->grace_end_ms, t1, sizeof(t1));
    printf("    preempted by job %" PRIu64 " task %s (%s) at %s; grace until %s\n", p->by_job,
           p->by_task && *p->by_task ? p->by_task : "?", p->reason && *p->reason ? p->reason : "?",
           t0, t1);
}

/* The attempt's link in its task's chain of checkpoints: what it found in
 * its checkpoint directory and what it left there (digests as in
 * scheduler/checkpoint.h, shortened to 12 hex digits). */
static void print_checkpoints(const Cairn__AttemptProvenance *a)
{
    const char *in = a->checkpoint_start_digest, *out = a->checkpoint_end_digest;
    printf("    checkpoint dir %s: ", a->checkpoint_dir);
    if (!in || !*in)
        printf("started fresh");
    else if (a->resumed_from_attempt)
        printf("resumed from checkpoint %.12s written by attempt %u", in, a->resumed_from_attempt);
    else
        printf("started with checkpoint %.12s that no earlier attempt recorded leaving", in);
    if (out && *out)
        printf("; left checkpoint %.12s (%zu file%s)", out, a->n_checkpoint_end,
               a->n_checkpoint_end == 1 ? "" : "s");
    else if (a->end && *a->end)
        printf("; left no checkpoint");
    printf("\n");
}

static void print_attempt(const Cairn__AttemptProvenance *a)
{
    char t0[32], t1[32], dur[32] = "", rss[32], cpu[32];
    printf("  attempt %u", a->number);
    if (a->rank)
        printf(" rank %u", a->rank);
    printf(" on %s", a->node && *a->node ? a->node : "-");
    if (a->previous_end && *a->previous_end)
        printf(" (the one before: %s)", a->previous_end);
    bool ended = a->end && *a->end;
    /* started, or (a cache hit) its outputs were checked there */
    bool ran = a->start_time_ms > 0 || (ended && !strcmp(a->end, "cached"));
    printf("\n    seed %" PRIu64, a->seed);
    if (ran) {
        printf(", worker %s, topology %s",
               a->worker_version && *a->worker_version ? a->worker_version : "?",
               a->node_fingerprint && *a->node_fingerprint ? a->node_fingerprint : "?");
        if (a->driver_version && *a->driver_version)
            printf(", driver %s", a->driver_version);
        if (a->cuda_version && *a->cuda_version)
            printf(", CUDA %s", a->cuda_version);
    } else {
        printf(", %s", ended ? "never started" : "not started yet");
    }
    printf("\n    cores");
    for (size_t i = 0; i < a->n_cores; i++)
        printf("%s%u", i ? "," : " ", a->cores[i]);
    if (!a->n_cores)
        printf(" -");
    for (size_t i = 0; i < a->n_gpus; i++) {
        const Cairn__GpuProvenance *g = a->gpus[i];
        printf("%s GPU %u %s %s %s", i ? ";" : ",", g->index, g->model, g->uuid, g->pci_bus_id);
    }
    when(a->start_time_ms, t0, sizeof(t0));
    when(a->end_time_ms, t1, sizeof(t1));
    if (a->start_time_ms > 0 && a->end_time_ms >= a->start_time_ms)
        ui_duration(a->end_time_ms - a->start_time_ms, dur, sizeof(dur));
    const char *end = ended ? a->end : ran ? "running" : "not started yet";
    if (ended && !ran && !strcmp(a->end, "cancelled"))
        end = "cancelled before it started";
    printf("\n    %s -> %s %s  %s", t0, t1, dur, end);
    if (a->end && !strcmp(a->end, "exit_nonzero"))
        printf(" (code %d)", a->exit_code);
    if (a->signal)
        printf(" (signal %d)", a->signal);
    if (ui_end_class_known(a->end_class))
        printf(" (%s)", a->end_class);
    if (a->peak_rss_bytes || a->cpu_time_usec)
        printf("  peak %s, CPU %s", ui_bytes(a->peak_rss_bytes, rss, sizeof(rss)),
               ui_duration((int64_t)(a->cpu_time_usec / 1000), cpu, sizeof(cpu)));
    if (a->error && *a->error)
        printf("\n    error: %s", a->error);
    if (a->cached_from_job)
        printf("\n    cached: the outputs of job %" PRIu64 "'s %s (not run)", a->cached_from_job,
               a->cached_from_task);
    printf("\n");
    print_preemption(a->preempted);
    if (ran && a->checkpoint_dir && *a->checkpoint_dir)
        print_checkpoints(a);
    for (size_t i = 0; i < a->n_outputs; i++) {
        const Cairn__OutputHash *o = a->outputs[i];
        if (o->error && *o->error)
            printf("    output %s: %s\n", o->path, o->error);
        else
            printf("    output %s: sha256 %s (%s)\n", o->path, o->sha256,
                   ui_bytes(o->size, rss, sizeof(rss)));
    }
}

int cmd_inspect(cli_t *c, int argc, char **argv)
{
    if (cli_help_asked(argc, argv, cmd_inspect_help))
        return CLI_OK;
    Cairn__ProvenanceReply *rep = NULL;
    const char *task = NULL;
    bool json = false;
    int rc = fetch(c, "inspect", argc, argv, &task, &json, &rep);
    if (rc != CLI_OK)
        return rc;
    const Cairn__JobProvenance *j = rep->job;
    if (json) {
        rc = ui_print_json(cairn_json_msg(&j->base), CAIRN_JSON_INDENT | CAIRN_JSON_EXACT);
        cairn_msg_free(&rep->base);
        return rc;
    }
    char t[32];
    when(j->submit_time_ms, t, sizeof(t));
    printf("job %" PRIu64 " (%s): %s, submitted by %s at %s, account %s\n", j->job_id, j->name,
           j->state, j->submitter, t, j->account && *j->account ? j->account : "-");
    printf("spec sha256 %s, seed %" PRIu64 ", scheduler %s\n",
           j->spec_sha256 && *j->spec_sha256 ? j->spec_sha256 : "(not recorded)", j->seed,
           j->scheduler_version);
    for (size_t i = 0; i < j->n_tasks; i++) {
        const Cairn__TaskProvenance *tp = j->tasks[i];
        printf("\ntask %s%s%s%s: %s\n", tp->name, tp->kind && *tp->kind ? " (" : "",
               tp->kind && *tp->kind ? tp->kind : "", tp->kind && *tp->kind ? ")" : "", tp->state);
        printf("  argv:");
        for (size_t k = 0; k < tp->n_argv; k++)
            printf(" %s", tp->argv[k]);
        printf("\n");
        if (tp->n_env) {
            printf("  env:");
            for (size_t k = 0; k < tp->n_env; k++)
                printf(" %s=%s", tp->env[k]->key, tp->env[k]->value);
            printf("\n");
        }
        if (tp->workdir && *tp->workdir)
            printf("  workdir: %s\n", tp->workdir);
        for (size_t k = 0; k < tp->n_inputs; k++) {
            char size[32];
            printf("  input %s: sha256 %s (%s)\n", tp->inputs[k]->path, tp->inputs[k]->sha256,
                   ui_bytes(tp->inputs[k]->size, size, sizeof(size)));
        }
        for (size_t k = 0; k < tp->n_attempts; k++)
            print_attempt(tp->attempts[k]);
    }
    cairn_msg_free(&rep->base);
    return CLI_OK;
}
