/* libFuzzer target for the scheduler's edge checks on a submitted job: the
 * input is a SubmitRequest payload, decoded and validated as the envelope
 * decoder does, then turned into a core job spec by jobspec_build() (with
 * tight limits, so that the limit paths are reached), validated by the core
 * against a one-node cluster and, when valid, submitted and placed. Nothing
 * may crash, leak or invoke undefined behaviour; a job that converts and
 * validates must be accepted by the core. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "proto/envelope.h"
#include "scheduler/jobspec.h"

static void on_place(const sched_event_t *ev, void *arg)
{
    (void)ev;
    (void)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const jobspec_limits_t lim = {
        .max_tasks = 256, .max_argv = 64, .max_env = 64, .max_needs = 64, .max_string = 4096};
    Cairn__SubmitRequest *r = cairn__submit_request__unpack(NULL, size, data);
    cairn_error_t err;
    if (!r)
        return 0;
    if (cairn_msg_validate(&r->base, &err) < 0 || !r->job) {
        cairn__submit_request__free_unpacked(r, NULL);
        return 0;
    }
    const Cairn__JobSpec *js = r->job;
    uint64_t seed = jobspec_seed(js);
    jobspec_errors_t errs = {0};
    jobspec_t *cj = NULL;
    int rc = jobspec_build(js, seed, &lim, &cj, &errs);
    if (rc == 0) {
        sched_t *s = fuzz_sched_create();
        sched_problems_t p = {0};
        int n = sched_job_validate(s, jobspec_core(cj), &p);
        sched_problems_fini(&p);
        if (n == 0) {
            sched_event_t ev = {.type = SCHED_EV_JOB_SUBMIT, .time_ms = 2};
            ev.u.submit = *jobspec_core(cj);
            if (sched_apply(s, &ev, &err) < 0)
                abort(); /* validated but refused: the two checks disagree */
            sched_place(s, 3, on_place, NULL);
            free(sched_dump(s));
        }
        sched_destroy(s);
    } else if (rc > 0 && errs.n == 0) {
        abort(); /* refused without saying why */
    }
    jobspec_errors_fini(&errs);
    jobspec_destroy(cj);
    cairn__submit_request__free_unpacked(r, NULL);
    return 0;
}
