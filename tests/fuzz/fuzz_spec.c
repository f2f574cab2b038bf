/* libFuzzer target for the YAML job-spec parser: spec_parse() must refuse
 * or accept any text without crashing, leaking or undefined behaviour; a
 * refusal says why; whatever it accepts packs as a SubmitRequest. */
#include <stdint.h>
#include <stdlib.h>

#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Cairn__JobSpec *js = NULL;
    spec_errors_t errs = {0};
    int rc = spec_parse("fuzz.yaml", (const char *)data, size, &js, &errs);
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
    }
    spec_errors_fini(&errs);
    spec_free(js);
    return 0;
}
