/* The edge of a submitted job: a JobSpec from outside (a client's
 * SubmitRequest, a journal's submit entry) checked against limits and
 * shapes the core does not check (sizes, names, env, inputs' hashes),
 * then turned into the core's sched_job_spec_t, with the job's seed and
 * the submit-time part of each cached task's key. Problems are reported
 * with the field's path.
 *
 * Library cairn_jobspec (scheduler/CMakeLists.txt): proto, the core and
 * SHA-256. Used by the scheduler (submissions, journal replay) and by
 * `cairn submit`, which checks a job before sending it. */
#ifndef CAIRN_SCHEDULER_JOBSPEC_H
#define CAIRN_SCHEDULER_JOBSPEC_H

#include "proto/client.pb-c.h"
#include "scheduling/sched.h"

/* Limits on a submitted job, beyond the core's own. */
typedef struct jobspec_limits {
    uint32_t max_tasks; /* per job */
    uint32_t max_argv;  /* arguments per task */
    uint32_t max_env;   /* env entries per task */
    uint32_t max_needs; /* dependencies per task */
    size_t max_string;  /* bytes in any one string */
    /* a task's checkpoint grace is capped at this (--max-checkpoint-grace;
     * 0: JOBSPEC_MAX_GRACE_MS) */
    int64_t max_grace_ms;
    /* the scheduler's --topology-levels ("rack,block"; "" none): a task's
     * placement must name one of them. NULL: not checked (a journal
     * replay, `cairn submit`'s own check) */
    const char *topology_levels;
} jobspec_limits_t;
/* A task's checkpoint grace when its spec names none, and the default cap. */
#define JOBSPEC_GRACE_DEFAULT_MS 30000
#define JOBSPEC_MAX_GRACE_MS (10 * 60 * 1000)
/* Bytes in a task's checkpoint dir. */
#define JOBSPEC_MAX_CKPT_DIR 4000
extern const jobspec_limits_t jobspec_default_limits;

/* A core job spec built from a JobSpec; borrows the JobSpec's strings. */
typedef struct jobspec jobspec_t;

/* Problems found at the edge, as SpecError path/message pairs owned here. */
typedef struct jobspec_errors {
    Cairn__SpecError **v;
    size_t n, cap;
} jobspec_errors_t;

/* Build the core spec (lim NULL: the defaults). Problems are added to
 * errs; returns 0, or the number of problems (> 0), or -ENOMEM. *out is
 * set on 0 only. A cached task's cache_base is the SHA-256 of its
 * resolved command, env, workdir, derived seed, resource shape, replicas
 * and inputs' hashes, each a length-prefixed field (scheduler/cache.h
 * adds what is known at run time). */
int jobspec_build(const Cairn__JobSpec *js, uint64_t seed, const jobspec_limits_t *lim,
                  jobspec_t **out, jobspec_errors_t *errs);
/* Write each task's effective checkpoint grace (its own or the default,
 * capped at lim's) into js itself, so that the spec as journaled builds
 * the same core spec under any limits (a journal replay uses the
 * defaults). A task without a checkpoint gets one only when the cap is
 * below the default grace. 0 or -ENOMEM (js keeps what was done). */
int jobspec_cap_grace(Cairn__JobSpec *js, const jobspec_limits_t *lim);
/* Whether name is one of the comma-separated topology levels ("rack,block"). */
bool jobspec_level_listed(const char *levels, const char *name);
/* Whether name is an account's name as the core takes it (scheduling/
 * event.h sched_account_spec_t). */
bool jobspec_account_ok(const char *name);
/* The core's spec, owned by j (its account: the JobSpec's, which the
 * scheduler replaces with the one it charges). */
const sched_job_spec_t *jobspec_core(const jobspec_t *j);
/* Free it; NULL is a no-op. */
void jobspec_destroy(jobspec_t *j);

/* Add a problem at path: 0 or -ENOMEM. */
int jobspec_errors_add(jobspec_errors_t *e, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Free the problems; e is empty again. */
void jobspec_errors_fini(jobspec_errors_t *e);

/* The job seed: the spec's own, else derived from its hash and name. */
uint64_t jobspec_seed(const Cairn__JobSpec *js);

#endif
