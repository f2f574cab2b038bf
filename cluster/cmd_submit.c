/* cairn submit: load a YAML job spec and submit it. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "spec.h"

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

int cli_submit_spec(cli_t *c, const char *path, Cairn__JobSpec *js, uint64_t *id)
{
    Cairn__SubmitRequest req = CAIRN__SUBMIT_REQUEST__INIT;
    req.job = js;
    Cairn__SubmitReply *r = NULL;
    int rc =
        cli_call(c, CAIRN_MSG_SUBMIT, &req.base, CAIRN_MSG_SUBMIT_REPLY, (ProtobufCMessage **)&r);
    if (rc != CLI_OK)
        return rc == CLI_FAIL ? CLI_USAGE : rc; /* a refused request is bad input */
    for (size_t i = 0; i < r->n_errors; i++)
        fprintf(stderr, "%s: %s%s%s\n", path, r->errors[i]->path, *r->errors[i]->path ? ": " : "",
                r->errors[i]->message);
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
    spec_errors_t errs = {0};
    int rc = spec_load(path, &js, &errs);
    if (rc != 0) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.lines[i]);
        if (!errs.n)
            fprintf(stderr, "cairn submit: %s: cannot load the spec\n", path);
        spec_errors_fini(&errs);
        return CLI_USAGE;
    }
    spec_errors_fini(&errs);
    js->no_cache = no_cache;
    if (cli_hash_inputs(js, path) < 0) {
        spec_free(js);
        return CLI_USAGE;
    }
    uint64_t id = 0;
    rc = cli_submit_spec(c, path, js, &id);
    spec_free(js);
    if (rc != CLI_OK)
        return rc;
    if (json)
        printf("{\"job_id\": %llu}\n", (unsigned long long)id);
    else
        printf("%llu\n", (unsigned long long)id);
    fflush(stdout);
    return wait ? cli_wait_job(c, id, json) : CLI_OK;
}
