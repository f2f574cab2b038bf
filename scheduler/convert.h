/* Conversions between wire / journal messages and the scheduling core's
 * types. Everything from outside is checked here, at the edge: limits,
 * invariants, and problems reported with the field's path. */
#ifndef CAIRN_SCHEDULER_CONVERT_H
#define CAIRN_SCHEDULER_CONVERT_H

#include "proto/client.pb-c.h"
#include "proto/journal.pb-c.h"
#include "proto/worker.pb-c.h"
#include "scheduling/sched.h"

/* Limits on a submitted job, beyond the core's own. */
typedef struct conv_limits {
    uint32_t max_tasks; /* per job */
    uint32_t max_argv;  /* arguments per task */
    uint32_t max_env;   /* env entries per task */
    uint32_t max_needs; /* dependencies per task */
    size_t max_string;  /* bytes in any one string */
} conv_limits_t;
extern const conv_limits_t conv_default_limits;

/* A core job spec built from a JobSpec; borrows the JobSpec's strings. */
typedef struct conv_job conv_job_t;

/* Build the core spec. Problems found at the edge are added to errs (as
 * SpecError path/message pairs owned by errs); returns 0, or the number of
 * problems (> 0), or -ENOMEM. */
typedef struct conv_errors {
    Cairn__SpecError **v;
    size_t n, cap;
} conv_errors_t;
int conv_job_build(const Cairn__JobSpec *js, uint64_t seed, const conv_limits_t *lim,
                   conv_job_t **out, conv_errors_t *errs);
const sched_job_spec_t *conv_job_spec(const conv_job_t *cj);
void conv_job_destroy(conv_job_t *cj);
int conv_errors_add(conv_errors_t *e, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void conv_errors_fini(conv_errors_t *e);

/* The job seed: the spec's own, else derived from its hash and name. */
uint64_t conv_job_seed(const Cairn__JobSpec *js);

/* Core event -> packed journal entry (malloc'd buffer). For a submit, js
 * is the JobSpec as accepted and seed the effective seed. */
int conv_event_pack(const sched_event_t *ev, const Cairn__JobSpec *js, uint64_t seed, uint8_t **buf,
                    size_t *len);

/* Packed journal entry -> core event. The event points into *hold until
 * conv_hold_fini(). For a submit, *js (if not NULL) is the JobSpec. */
typedef struct conv_hold {
    Cairn__JournalEntry *entry;
    conv_job_t *job;
    sched_alloc_desc_t *allocs;
    uint64_t *numa_memory;
    int *core_numa;
    sched_gpu_desc_t *gpus;
} conv_hold_t;
int conv_event_unpack(const uint8_t *buf, size_t len, sched_event_t *ev, conv_hold_t *hold,
                      const Cairn__JobSpec **js, cairn_error_t *err);
void conv_hold_fini(conv_hold_t *hold);

#endif
