/* Writes seed inputs for the fuzz targets from the example specs:
 *   gen_corpus OUTDIR SPEC.yaml...
 * For each spec: OUTDIR/convert/<n> (a SubmitRequest payload),
 * OUTDIR/envelope/<n> (the same as a whole SUBMIT message) and
 * OUTDIR/journal/<n> (a journal: submit, place, start, finish, cancel, node
 * state; in fuzz_journal's length-prefixed framing). Built with the fuzz
 * targets; its output is committed under corpus/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "envelope.h"
#include "spec.h"

static void write_file(const char *dir, const char *sub, int n, const void *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s/seed%d", dir, sub, n);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void frame(uint8_t **j, size_t *jl, const uint8_t *buf, size_t len)
{
    *j = realloc(*j, *jl + 2 + len);
    (*j)[*jl] = (uint8_t)(len >> 8);
    (*j)[*jl + 1] = (uint8_t)len;
    memcpy(*j + *jl + 2, buf, len);
    *jl += 2 + len;
}

static void journal(const char *dir, int n, const Cairn__JobSpec *js)
{
    conv_errors_t errs = {0};
    conv_job_t *cj = NULL;
    uint64_t seed = conv_job_seed(js);
    if (conv_job_build(js, seed, NULL, &cj, &errs) != 0) {
        conv_errors_fini(&errs);
        return;
    }
    uint8_t *j = NULL, *buf;
    size_t jl = 0, len;
    static const uint32_t cores[2] = {0, 1};
    sched_alloc_desc_t alloc = {.node = 1, .ncores = 2, .cores = cores, .memory_bytes = 1 << 20};
    sched_event_t evs[6] = {
        {.type = SCHED_EV_JOB_SUBMIT, .time_ms = 2},
        {.type = SCHED_EV_PLACE, .time_ms = 3},
        {.type = SCHED_EV_START, .time_ms = 4},
        {.type = SCHED_EV_FINISH, .time_ms = 5},
        {.type = SCHED_EV_CANCEL, .time_ms = 6},
        {.type = SCHED_EV_NODE_STATE, .time_ms = 7},
    };
    evs[0].u.submit = *conv_job_spec(cj);
    evs[1].u.place.job = 1;
    evs[1].u.place.task = 0;
    evs[1].u.place.attempt = 1;
    evs[1].u.place.nreplicas = 1;
    evs[1].u.place.allocs = &alloc;
    evs[2].u.start.attempt = 1;
    evs[3].u.finish.attempt = 1;
    evs[3].u.finish.end = SCHED_END_EXIT;
    evs[4].u.cancel.job = 1;
    evs[5].u.node_state.node = 1;
    evs[5].u.node_state.state = SCHED_NODE_DOWN;
    for (size_t i = 0; i < 6; i++)
        if (conv_event_pack(&evs[i], js, seed, &buf, &len) == 0) {
            frame(&j, &jl, buf, len);
            free(buf);
        }
    write_file(dir, "journal", n, j, jl);
    free(j);
    conv_job_destroy(cj);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: gen_corpus OUTDIR SPEC.yaml...\n");
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        Cairn__JobSpec *js = NULL;
        spec_errors_t errs = {0};
        if (spec_load(argv[i], &js, &errs) != 0) {
            fprintf(stderr, "%s: refused, skipped\n", argv[i]);
            spec_errors_fini(&errs);
            continue;
        }
        free(js->submitter);
        js->submitter = strdup("fuzz"); /* not whoever generated the corpus */
        Cairn__SubmitRequest r = CAIRN__SUBMIT_REQUEST__INIT;
        r.job = js;
        size_t len = cairn__submit_request__get_packed_size(&r);
        uint8_t *buf = malloc(len + 1);
        cairn__submit_request__pack(&r, buf);
        write_file(argv[1], "convert", i - 1, buf, len);
        free(buf);
        cairn_error_t err;
        if (cairn_msg_encode(CAIRN_MSG_SUBMIT, &r.base, &buf, &len, &err) == 0) {
            write_file(argv[1], "envelope", i - 1, buf, len);
            free(buf);
        }
        journal(argv[1], i - 1, js);
        spec_free(js);
    }
    return 0;
}
