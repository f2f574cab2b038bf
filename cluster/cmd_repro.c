/* cairn rerun / cairn diff: run a recorded job again exactly, and say what
 * differed between two runs, from their provenance records. */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cmd.h"
#include "cluster/spec.h"

const char cmd_rerun_help[] =
    "Usage: cairn rerun JOB [--task TASK] [--as-me] [--allow-changed-inputs] [--wait] [--json]\n"
    "\n"
    "Submit JOB's spec again exactly as it was recorded, with the same job seed (so\n"
    "every task gets the same CAIRN_SEED), and print the new job's id. The new job\n"
    "is yours: its tasks run as you. The tasks' declared inputs are hashed again\n"
    "here and compared with the hashes recorded when JOB was submitted: if one\n"
    "changed, is missing, or has no recorded hash, the rerun lists them and is\n"
    "refused (exit 5).\n"
    "  --task TASK  only that task; the tasks it needs are taken as done (their\n"
    "               outputs are expected where the first run left them)\n"
    "  --as-me      rerun another user's job (an administrator may read it): its\n"
    "               commands then run as you; without it, exit 5\n"
    "  --allow-changed-inputs  rerun even though inputs changed (listed as a warning)\n"
    "  --wait       then wait for the new job to end (exit 1 if it fails), and name\n"
    "               the tasks that reused a cached result and the job it came from\n"
    "  --json       print {\"job_id\": N}\n";

const char cmd_diff_help[] =
    "Usage: cairn diff JOB1 JOB2 [--json]\n"
    "\n"
    "Compare two runs' provenance, task by task (the latest attempt of each): the\n"
    "spec, seeds, command, env, workdir, the SHA-256 of every declared input (as\n"
    "hashed at submit), node, GPU models, driver and CUDA versions, how each ended\n"
    "and the SHA-256 of every declared output. Prints what differed;\n"
    "exit 0 when nothing did, 1 when something did.\n"
    "  --json   print {\"same\": BOOL, \"differences\": [{\"task\", \"what\", \"a\", \"b\"}]}\n";

static int fetch(cli_t *c, uint64_t id, bool raw_spec, Cairn__ProvenanceReply **rep)
{
    Cairn__ProvenanceRequest req = CAIRN__PROVENANCE_REQUEST__INIT;
    req.job_id = id;
    req.raw_spec = raw_spec; /* rerun: the secrets too (the owner's own spec) */
    return cli_call(c, CAIRN_MSG_PROVENANCE, &req.base, CAIRN_MSG_PROVENANCE_REPLY,
                    (ProtobufCMessage **)rep);
}

/* Whether rerunning job (of owner, asked by caller) runs nobody else's
 * code as the caller; when it would, only with as_me (a warning), else it
 * says why not. */
static bool rerun_allowed(uint64_t job, const char *owner, const char *caller, bool as_me)
{
    if (caller && *caller && !strcmp(owner, caller))
        return true;
    char you[300];
    if (caller && *caller)
        snprintf(you, sizeof(you), "you (%s)", caller);
    else /* a scheduler that does not say */
        snprintf(you, sizeof(you), "you");
    if (as_me) {
        fprintf(stderr, "cairn rerun: warning: job %" PRIu64 " is %s's: its commands run as %s\n",
                job, owner, you);
        return true;
    }
    fprintf(stderr,
            "cairn rerun: job %" PRIu64 " is %s's: a rerun would run %s's commands as %s\n"
            "cairn rerun: pass --as-me to do that\n",
            job, owner, owner, you);
    return false;
}

/* Compare the inputs hashed now (js) with those recorded in jp; a change
 * is refused unless allow (then a warning). CLI_OK, or CLI_DENIED. */
static int check_inputs(uint64_t id, const Cairn__JobProvenance *jp, const Cairn__JobSpec *js,
                        bool allow)
{
    if (!cli_inputs_changed(jp, js, NULL))
        return CLI_OK;
    fprintf(stderr,
            "cairn rerun: %sjob %" PRIu64 "'s inputs are not the ones it ran with (task: path: "
            "recorded -> now):\n",
            allow ? "warning: " : "", id);
    cli_inputs_changed(jp, js, stderr);
    if (allow)
        return CLI_OK;
    fprintf(stderr, "cairn rerun: refused: pass --allow-changed-inputs to rerun it with the "
                    "inputs as they are now\n");
    return CLI_DENIED;
}

/* After --wait: each task of job whose result was reused from the cache,
 * and the job it came from (to out). */
static void print_cached(cli_t *c, uint64_t job, FILE *out)
{
    Cairn__ProvenanceReply *rep = NULL;
    Cairn__ProvenanceRequest req = CAIRN__PROVENANCE_REQUEST__INIT;
    req.job_id = job;
    if (cli_call(c, CAIRN_MSG_PROVENANCE, &req.base, CAIRN_MSG_PROVENANCE_REPLY,
                 (ProtobufCMessage **)&rep) != CLI_OK)
        return;
    for (size_t i = 0; i < rep->job->n_tasks; i++) {
        const Cairn__TaskProvenance *t = rep->job->tasks[i];
        const Cairn__AttemptProvenance *a = t->n_attempts ? t->attempts[t->n_attempts - 1] : NULL;
        if (a && a->cached_from_job)
            fprintf(out, "%s: cached: the outputs of job %" PRIu64 "'s %s\n", t->name,
                    a->cached_from_job, a->cached_from_task);
    }
    cairn_msg_free(&rep->base);
}

int cmd_rerun(cli_t *c, int argc, char **argv)
{
    if (cli_help_asked(argc, argv, cmd_rerun_help))
        return CLI_OK;
    static const struct option opts[] = {{"task", required_argument, NULL, 't'},
                                         {"as-me", no_argument, NULL, 'm'},
                                         {"allow-changed-inputs", no_argument, NULL, 'a'},
                                         {"wait", no_argument, NULL, 'w'},
                                         {"json", no_argument, NULL, 'j'},
                                         {NULL, 0, NULL, 0}};
    const char *task = NULL;
    bool wait = false, json = false, as_me = false, allow = false;
    int o;
    optind = 0; /* a full re-initialisation (GNU): options may follow JOB */
    opterr = 0;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (o == 't')
            task = optarg;
        else if (o == 'm')
            as_me = true;
        else if (o == 'a')
            allow = true;
        else if (o == 'w')
            wait = true;
        else if (o == 'j')
            json = true;
        else
            return cli_usage_error("rerun", "unknown option '%s'", argv[optind - 1]);
    }
    if (optind != argc - 1)
        return cli_usage_error("rerun", optind >= argc ? "which job?" : "one job at a time");
    uint64_t id = cli_job_id("rerun", argv[optind]);
    if (!id)
        return CLI_USAGE;
    Cairn__ProvenanceReply *rep = NULL;
    int rc = fetch(c, id, true, &rep);
    if (rc != CLI_OK)
        return rc;
    const Cairn__JobProvenance *jp = rep->job;
    if (!rerun_allowed(id, jp->submitter, rep->caller, as_me)) {
        cairn_msg_free(&rep->base);
        return CLI_DENIED;
    }
    if (!jp->spec_text || !*jp->spec_text) {
        fprintf(stderr, "cairn rerun: job %" PRIu64 " has no recorded spec\n", id);
        cairn_msg_free(&rep->base);
        return CLI_FAIL;
    }
    char name[64];
    snprintf(name, sizeof(name), "job %" PRIu64 "'s spec", id);
    Cairn__JobSpec *js = NULL;
    spec_where_t *where = NULL;
    spec_errors_t errs = {0};
    rc = spec_parse_at(name, jp->spec_text, strlen(jp->spec_text), &js, &where, &errs);
    if (rc != 0) { /* the recorded spec no longer parses: say so */
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.lines[i]);
        spec_errors_fini(&errs);
        cairn_msg_free(&rep->base);
        return CLI_FAIL;
    }
    spec_errors_fini(&errs);
    /* the same job seed: task seeds derive from it and the task's name */
    js->seed_present_case = CAIRN__JOB_SPEC__SEED_PRESENT_SEED;
    js->seed = jp->seed;
    size_t keep = js->n_tasks, at = 0, saved_needs = 0;
    if (task) {
        for (at = 0; at < js->n_tasks && strcmp(js->tasks[at]->name, task) != 0; at++)
            ;
        if (at == js->n_tasks) {
            fprintf(stderr, "cairn rerun: job %" PRIu64 " has no task '%s'\n", id, task);
            spec_where_free(where);
            spec_free(js);
            cairn_msg_free(&rep->base);
            return CLI_NOTFOUND;
        }
        Cairn__TaskSpec *t = js->tasks[at];
        js->tasks[at] = js->tasks[0];
        js->tasks[0] = t;
        js->n_tasks = 1;
        saved_needs = t->n_needs;
        t->n_needs = 0;
    }
    uint64_t nid = 0;
    /* the inputs of what is submitted, hashed here and compared */
    int unhashed = cli_hash_inputs(js, name, false);
    if (unhashed < 0)
        rc = CLI_FAIL;
    else
        rc = check_inputs(id, jp, js, allow);
    if (rc == CLI_OK && unhashed > 0) { /* allowed, but nothing to submit */
        cli_hash_inputs(js, name, true);
        rc = CLI_FAIL;
    }
    /* refusals at their line in the recorded spec; --task reorders the tasks */
    if (rc == CLI_OK)
        rc = cli_submit_spec(c, name, js, task ? NULL : where, &nid);
    spec_where_free(where);
    if (task) { /* put it back as spec_free expects it */
        js->tasks[0]->n_needs = saved_needs;
        js->n_tasks = keep;
        Cairn__TaskSpec *t = js->tasks[0];
        js->tasks[0] = js->tasks[at];
        js->tasks[at] = t;
    }
    spec_free(js);
    cairn_msg_free(&rep->base);
    if (rc != CLI_OK)
        return rc;
    if (json &&
        ui_print_json(json_pack("{s:o}", "job_id", cairn_json_u64(nid)), CAIRN_JSON_LINE) != CLI_OK)
        return CLI_FAIL;
    if (!json)
        printf("%" PRIu64 "\n", nid);
    fflush(stdout);
    if (!wait)
        return CLI_OK;
    rc = cli_wait_job(c, nid, json);
    if (rc == CLI_OK || rc == CLI_FAIL)
        print_cached(c, nid, json ? stderr : stdout);
    return rc;
}

/* ---- diff ---------------------------------------------------------------- */

typedef struct diffs {
    bool json;
    json_t *list; /* --json: the differences */
    size_t n;
} diffs_t;

static void differ(diffs_t *d, const char *task, const char *what, const char *a, const char *b)
{
    if (!strcmp(a ? a : "", b ? b : ""))
        return;
    if (d->json) {
        cairn_json_push(&d->list, json_pack("{s:o, s:o, s:o, s:o}", "task", cairn_json_str(task),
                                            "what", cairn_json_str(what), "a", cairn_json_str(a),
                                            "b", cairn_json_str(b)));
    } else {
        printf("%s%s%s: %s -> %s\n", task ? task : "", task && *task ? ": " : "", what,
               a && *a ? a : "(none)", b && *b ? b : "(none)");
    }
    d->n++;
}

static void differ_u64(diffs_t *d, const char *task, const char *what, uint64_t a, uint64_t b)
{
    char sa[32], sb[32];
    snprintf(sa, sizeof(sa), "%" PRIu64, a);
    snprintf(sb, sizeof(sb), "%" PRIu64, b);
    differ(d, task, what, sa, sb);
}

/* A list joined with sep into buf (bounded). */
static const char *joined(char *buf, size_t n, size_t count,
                          const char *(*get)(const void *, size_t), const void *arg)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < count && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? " " : "", get(arg, i));
    return buf;
}

static const char *argv_at(const void *arg, size_t i)
{
    return ((const Cairn__TaskProvenance *)arg)->argv[i];
}

static const char *env_at(const void *arg, size_t i)
{
    static char kv[4][1024];
    static int k;
    const Cairn__KeyValue *e = ((const Cairn__TaskProvenance *)arg)->env[i];
    k = (k + 1) % 4;
    snprintf(kv[k], sizeof(kv[k]), "%s=%s", e->key, e->value);
    return kv[k];
}

static const char *gpu_model_at(const void *arg, size_t i)
{
    return ((const Cairn__AttemptProvenance *)arg)->gpus[i]->model;
}

static const Cairn__AttemptProvenance *last_attempt(const Cairn__TaskProvenance *t)
{
    return t->n_attempts ? t->attempts[t->n_attempts - 1] : NULL;
}

static const Cairn__OutputHash *hash_named(Cairn__OutputHash *const *v, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i]->path, path))
            return v[i];
    return NULL;
}

static const char *hash_text(const Cairn__OutputHash *o)
{
    if (!o)
        return "";
    return o->error && *o->error ? o->error : o->sha256;
}

/* Every path of either list of hashes (a's, b's), as "WHAT PATH". */
static void diff_hashes(diffs_t *d, const char *task, const char *what, Cairn__OutputHash *const *a,
                        size_t na, Cairn__OutputHash *const *b, size_t nb)
{
    for (int side = 0; side < 2; side++) {
        Cairn__OutputHash *const *from = side ? b : a;
        for (size_t i = 0; i < (side ? nb : na); i++) {
            const char *path = from[i]->path;
            if (side && hash_named(a, na, path))
                continue; /* compared from the first side */
            char label[1100];
            snprintf(label, sizeof(label), "%s %s", what, path);
            differ(d, task, label, hash_text(hash_named(a, na, path)),
                   hash_text(hash_named(b, nb, path)));
        }
    }
}

static void diff_task(diffs_t *d, const Cairn__TaskProvenance *ta, const Cairn__TaskProvenance *tb)
{
    const char *n = ta->name;
    char a[4096], b[4096];
    differ(d, n, "argv", joined(a, sizeof(a), ta->n_argv, argv_at, ta),
           joined(b, sizeof(b), tb->n_argv, argv_at, tb));
    differ(d, n, "env", joined(a, sizeof(a), ta->n_env, env_at, ta),
           joined(b, sizeof(b), tb->n_env, env_at, tb));
    differ(d, n, "workdir", ta->workdir, tb->workdir);
    diff_hashes(d, n, "input", ta->inputs, ta->n_inputs, tb->inputs, tb->n_inputs);
    differ(d, n, "state", ta->state, tb->state);
    const Cairn__AttemptProvenance *x = last_attempt(ta), *y = last_attempt(tb);
    if (!x || !y) {
        differ(d, n, "attempts", x ? "ran" : "never ran", y ? "ran" : "never ran");
        return;
    }
    differ_u64(d, n, "seed", x->seed, y->seed);
    differ(d, n, "node", x->node, y->node);
    differ(d, n, "node topology", x->node_fingerprint, y->node_fingerprint);
    differ(d, n, "worker version", x->worker_version, y->worker_version);
    differ(d, n, "GPU models", joined(a, sizeof(a), x->n_gpus, gpu_model_at, x),
           joined(b, sizeof(b), y->n_gpus, gpu_model_at, y));
    differ(d, n, "driver", x->driver_version, y->driver_version);
    differ(d, n, "CUDA", x->cuda_version, y->cuda_version);
    differ(d, n, "end", x->end, y->end);
    if (!strcmp(x->end, y->end))
        differ_u64(d, n, "exit code", (uint64_t)(uint32_t)x->exit_code,
                   (uint64_t)(uint32_t)y->exit_code);
    /* every output either run declared or reported */
    diff_hashes(d, n, "output", x->outputs, x->n_outputs, y->outputs, y->n_outputs);
}

int cmd_diff(cli_t *c, int argc, char **argv)
{
    if (cli_help_asked(argc, argv, cmd_diff_help))
        return CLI_OK;
    diffs_t d = {0};
    uint64_t ids[2];
    int nids = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            d.json = true;
        else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error("diff", "unknown option '%s'", argv[i]);
        else if (nids < 2) {
            if (!(ids[nids++] = cli_job_id("diff", argv[i])))
                return CLI_USAGE;
        } else
            return cli_usage_error("diff", "two jobs, not more");
    }
    if (nids != 2)
        return cli_usage_error("diff", "which two jobs?");
    Cairn__ProvenanceReply *ra = NULL, *rb = NULL;
    int rc = fetch(c, ids[0], false, &ra);
    if (rc != CLI_OK)
        return rc;
    if ((rc = fetch(c, ids[1], false, &rb)) != CLI_OK) {
        cairn_msg_free(&ra->base);
        return rc;
    }
    const Cairn__JobProvenance *a = ra->job, *b = rb->job;
    if (d.json)
        d.list = json_array();
    differ(&d, "", "spec sha256", a->spec_sha256, b->spec_sha256);
    differ_u64(&d, "", "job seed", a->seed, b->seed);
    for (size_t i = 0; i < a->n_tasks; i++) {
        const Cairn__TaskProvenance *tb = NULL;
        for (size_t k = 0; k < b->n_tasks && !tb; k++)
            if (!strcmp(b->tasks[k]->name, a->tasks[i]->name))
                tb = b->tasks[k];
        if (tb)
            diff_task(&d, a->tasks[i], tb);
        else
            differ(&d, a->tasks[i]->name, "task", "present", "");
    }
    for (size_t k = 0; k < b->n_tasks; k++) {
        bool found = false;
        for (size_t i = 0; i < a->n_tasks && !found; i++)
            found = !strcmp(b->tasks[k]->name, a->tasks[i]->name);
        if (!found)
            differ(&d, b->tasks[k]->name, "task", "", "present");
    }
    if (d.json)
        rc = ui_print_json(json_pack("{s:o, s:o, s:o, s:b}", "a", cairn_json_u64(ids[0]), "b",
                                     cairn_json_u64(ids[1]), "differences", d.list, "same", !d.n),
                           CAIRN_JSON_INDENT);
    else if (!d.n)
        printf("jobs %" PRIu64 " and %" PRIu64
               " ran the same: spec, seeds, commands, inputs, nodes, GPUs, versions and outputs\n",
               ids[0], ids[1]);
    cairn_msg_free(&ra->base);
    cairn_msg_free(&rb->base);
    return d.n || rc != CLI_OK ? CLI_FAIL : CLI_OK;
}
