/* libFuzzer target for the YAML job-spec parser: spec_parse() must refuse
 * or accept any text without crashing, leaking or undefined behaviour; a
 * refusal says why; whatever it accepts packs as a SubmitRequest, and
 * every task's places can be looked up. */
#include <stdint.h>
#include <stdlib.h>

#include "cluster/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Cairn__JobSpec *js = NULL;
    spec_where_t *where = NULL;
    spec_errors_t errs = {0};
    int rc = spec_parse_at("fuzz.yaml", (const char *)data, size, &js, &where, &errs);
    if (rc > 0 && (errs.n == 0 || js))
        abort(); /* refused without saying why, or both */
    if (rc == 0) {
        if (!js)
            abort();
        Cairn__SubmitRequest r = CAIRN__SUBMIT_REQUEST__INIT;
        r.job = js;
        size_t n = cairn__submit_request__get_packed_size(&r);
        uint8_t *buf = malloc(n ? n : 1);
        if (!buf)
            abort();
        cairn__submit_request__pack(&r, buf);
        free(buf);
        for (size_t t = 0; t < js->n_tasks; t++) {
            for (int f = 0; f < SCHED_FIELD_COUNT; f++) {
                sched_problem_t p = {.task = (int64_t)t, .field = (sched_field_t)f, .index = 1};
                size_t line, col;
                if (spec_where_locate(where, &p, &line, &col) < 0 || line == 0)
                    abort(); /* every task of an accepted spec has a place */
            }
        }
    }
    spec_where_free(where);
    spec_errors_fini(&errs);
    spec_free(js);
    return 0;
}
