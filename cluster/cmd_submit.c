/* cairn submit: load a YAML job spec and submit it. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cmd.h"
#include "cluster/spec.h"
#include "scheduler/jobspec.h"

const char cmd_submit_help[] =
    "Usage: cairn submit FILE [--wait] [--json] [--no-cache]\n"
    "\n"
    "Submit the job spec in FILE (YAML) and print the job id.\n"
    "  --wait   then wait for the job to end, as 'cairn wait' does (exit 1 if it fails)\n"
    "  --json   print {\"job_id\": N}\n"
    "  --no-cache  run every task, reusing no cached result (results are still\n"
    "              recorded for later jobs)\n"
    "\n"
    "Problems in the spec are printed as FILE:LINE:COLUMN: MESSAGE (exit 2).\n";

/* Print errs' lines to stderr and free them; returns how many. */
static size_t print_errors(spec_errors_t *errs)
{
    size_t n = errs->n;
    for (size_t i = 0; i < errs->n; i++)
        fprintf(stderr, "%s\n", errs->lines[i]);
    spec_errors_fini(errs);
    return n;
}

/* One problem, placed by its path ("tasks[3].resources.gpus") where the
 * spec's places are known, else "NAME: PATH: message". */
/* One problem, placed by its path ("tasks[3].resources.gpus") where the
 * spec's places are known, else "NAME: PATH: message". */
static void report_path(const spec_where_t *where, const char *name, const char *path,
                        const char *msg, spec_errors_t *errs)
{
    sched_problem_t p;
    if (where && sched_problem_parse(path, &p) == 0) {
        spec_where_report(where, name, &p, msg, errs);
        return;
    }
    char *line = NULL;
    if (asprintf(&line, "%s%s%s", path, *path ? ": " : "", msg) < 0)
        return;
    spec_where_report(NULL, name, &(sched_problem_t){.task = -1}, line, errs);
    free(line);
}

typedef struct placed {
    size_t line, col, seq; /* line SIZE_MAX: no place */
    char *text;
} placed_t;

static int by_place(const void *a, const void *b)
{
    const placed_t *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* errs' "FILE:LINE:COL: ..." lines (FILE is skip - 1 bytes) in file order,
 * as the parser gives its own; lines without a place last. */
static void sort_by_place(spec_errors_t *errs, size_t skip)
{
    placed_t *v = calloc(errs->n + 1, sizeof(*v));
    if (!v)
        return; /* left in the order found */
    for (size_t i = 0; i < errs->n; i++) {
        const char *l = errs->lines[i];
        v[i].seq = i;
        v[i].text = errs->lines[i];
        if (strlen(l) <= skip || sscanf(l + skip, "%zu:%zu:", &v[i].line, &v[i].col) != 2)
            v[i].line = SIZE_MAX;
    }
    qsort(v, errs->n, sizeof(*v), by_place);
    for (size_t i = 0; i < errs->n; i++)
        errs->lines[i] = v[i].text;
    free(v);
}

int cli_check_spec(const char *name, const Cairn__JobSpec *js, const spec_where_t *where)
{
    /* the scheduler checks its own limits; here only what every scheduler
     * refuses: the edge's shapes and the core's own checks */
    static const jobspec_limits_t loose = {UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX,
                                           SIZE_MAX,   INT64_MAX,  NULL};
    jobspec_errors_t cerr = {0};
    jobspec_t *cj = NULL;
    spec_errors_t errs = {0};
    int rc = jobspec_build(js, jobspec_seed(js), &loose, &cj, &cerr);
    for (size_t i = 0; rc > 0 && i < cerr.n; i++)
        report_path(where, name, cerr.v[i]->path, cerr.v[i]->message, &errs);
    jobspec_errors_fini(&cerr);
    if (rc == 0) {
        sched_problems_t p = {0};
        rc = sched_job_validate(NULL, jobspec_core(cj), &p);
        char *line = p.text;
        for (uint32_t k = 0; rc > 0 && line && *line; k++) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            sched_problem_t job = {.task = -1};
            spec_where_report(where, name, k < p.nwhere ? &p.where[k] : &job, line, &errs);
            line = nl ? nl + 1 : NULL;
        }
        sched_problems_fini(&p);
    }
    jobspec_destroy(cj);
    if (rc < 0) {
        spec_errors_fini(&errs);
        fprintf(stderr, "cairn submit: out of memory checking the spec\n");
        return CLI_FAIL;
    }
    /* in file order, as the parser's own */
    sort_by_place(&errs, strlen(where ? spec_where_file(where) : name) + 1);
    return print_errors(&errs) ? CLI_USAGE : CLI_OK;
}

int cli_submit_spec(cli_t *c, const char *name, Cairn__JobSpec *js, const spec_where_t *where,
                    uint64_t *id)
{
    Cairn__SubmitRequest req = CAIRN__SUBMIT_REQUEST__INIT;
    req.job = js;
    Cairn__SubmitReply *r = NULL;
    int rc =
        cli_call(c, CAIRN_MSG_SUBMIT, &req.base, CAIRN_MSG_SUBMIT_REPLY, (ProtobufCMessage **)&r);
    if (rc != CLI_OK)
        return rc == CLI_FAIL ? CLI_USAGE : rc; /* a refused request is bad input */
    spec_errors_t errs = {0};
    for (size_t i = 0; i < r->n_errors; i++)
        report_path(where, name, r->errors[i]->path, r->errors[i]->message, &errs);
    print_errors(&errs);
    rc = r->n_errors || !r->job_id ? CLI_USAGE : CLI_OK;
    if (rc == CLI_USAGE && !r->n_errors)
        fprintf(stderr, "cairn submit: the scheduler refused the job\n");
    *id = r->job_id;
    cairn_msg_free(&r->base);
    return rc;
}

int cmd_submit(cli_t *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"wait", no_argument, NULL, 'w'},
        {"json", no_argument, NULL, 'j'},
        {"no-cache", no_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    bool wait = false, json = false, no_cache = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 'w')
            wait = true;
        else if (ch == 'j')
            json = true;
        else if (ch == 'n')
            no_cache = true;
        else
            return cli_usage_error(argv[0], "bad option");
    }
    if (argc - optind != 1)
        return cli_usage_error(argv[0], "which spec file?");
    const char *path = argv[optind];
    Cairn__JobSpec *js = NULL;
    spec_where_t *where = NULL;
    spec_errors_t errs = {0};
    int rc = spec_load_at(path, &js, &where, &errs);
    if (rc != 0) {
        if (!print_errors(&errs))
            fprintf(stderr, "cairn submit: %s: cannot load the spec\n", path);
        return CLI_USAGE;
    }
    spec_errors_fini(&errs);
    js->no_cache = no_cache;
    uint64_t id = 0;
    if (cli_hash_inputs(js, path, true) != 0)
        rc = CLI_USAGE;
    else if ((rc = cli_check_spec(path, js, where)) == CLI_OK)
        rc = cli_submit_spec(c, path, js, where, &id);
    spec_where_free(where);
    spec_free(js);
    if (rc != CLI_OK)
        return rc;
    if (json &&
        ui_print_json(json_pack("{s:o}", "job_id", cairn_json_u64(id)), CAIRN_JSON_LINE) != CLI_OK)
        return CLI_FAIL;
    if (!json)
        printf("%llu\n", (unsigned long long)id);
    fflush(stdout);
    return wait ? cli_wait_job(c, id, json) : CLI_OK;
}
