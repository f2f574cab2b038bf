/* Retired jobs (SCHED_EV_JOB_RETIRE): what every read needs of a job that
 * left the core, kept beside the journal and written in the commit that
 * retires it (retain.c), so that status, jobs, logs, provenance and the
 * commands built on them answer for it exactly as they did before.
 *
 * A row per job: its owner, account, state and times as columns (the
 * listing's filters), and the replies as the core gave them when it left: the
 * summary (JobSummary), every task's status (JobStatusReply) and its
 * provenance (JobProvenance, raw spec text) with the spec text masked. */
#ifndef CAIRN_SCHEDULER_ARCHIVE_H
#define CAIRN_SCHEDULER_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scheduler/journal.h"

typedef struct archive archive_t;

/* On the daemon's journal (creating the table). */
int archive_open(journal_t *j, archive_t **out, cairn_error_t *err);
void archive_close(archive_t *a);

/* The parts of one retired job. */
typedef enum archive_part {
    ARCHIVE_SUMMARY = 0, /* JobSummary */
    ARCHIVE_STATUS,      /* JobStatusReply: every task */
    ARCHIVE_PROV,        /* JobProvenance, spec_text as submitted */
    ARCHIVE_SPEC_MASKED, /* the spec text with secret values masked */
    ARCHIVE_NPARTS
} archive_part_t;

typedef struct archive_row {
    uint32_t job;
    const char *submitter;
    const char *account; /* its name when the job left: kept if deleted later */
    int state;           /* Cairn__JobState */
    int64_t submit_ms, end_ms;
    const uint8_t *part[ARCHIVE_NPARTS];
    size_t len[ARCHIVE_NPARTS];
} archive_row_t;

/* Keep a job's row in the open transaction. */
int archive_put(archive_t *a, const archive_row_t *r, cairn_error_t *err);

/* One part of job's row: *buf (malloc'd, the caller frees) and *len;
 * -ENOENT when the job has no row. */
int archive_get(archive_t *a, uint32_t job, archive_part_t part, uint8_t **buf, size_t *len,
                cairn_error_t *err);
/* The submitter of job (malloc'd), NULL when it has no row. */
char *archive_owner(archive_t *a, uint32_t job);

/* Summaries of retired jobs with ids below before_job, newest first,
 * submitted at or after since_ms, of one of the states in states (bit
 * per Cairn__JobState; 0: every state), of submitter and charged to
 * account (NULL or "": any), at most max: cb gets each packed JobSummary;
 * non-zero stops. */
typedef int (*archive_row_f)(uint32_t job, const uint8_t *summary, size_t len, void *arg);
int archive_list(archive_t *a, uint32_t before_job, int64_t since_ms, uint32_t states,
                 const char *submitter, const char *account, uint32_t max, archive_row_f cb,
                 void *arg, cairn_error_t *err);

/* Drop at most max rows of jobs that ended before until_ms (history
 * retention), with their spec and inputs (job_specs, task_inputs), in the
 * open transaction: how many rows were dropped. */
int archive_drop_before(archive_t *a, int64_t until_ms, uint32_t max, cairn_error_t *err);

#endif
