/* The checkpoint digest (scheduler/checkpoint.h): what provenance records
 * as checkpoint_start/end_digest and what links a resumed attempt to the
 * one that wrote its checkpoint. Checked against `LC_ALL=C sort | sha256sum`
 * over the documented lines; the default checkpoint directory's name; the
 * grace a task gets (jobspec.h), as submitted and as the journal replays it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/client.pb-c.h"
#include "scheduler/checkpoint.h"
#include "scheduler/jobspec.h"

static Cairn__OutputHash file(const char *path, const char *sha, uint64_t size, const char *error)
{
    Cairn__OutputHash h = CAIRN__OUTPUT_HASH__INIT;
    h.path = (char *)path;
    h.sha256 = (char *)sha;
    h.size = size;
    h.error = (char *)error;
    return h;
}

/* sha256sum of the lines sorted bytewise, as a shell computes it. */
static void reference(const char *lines, char out[65])
{
    char in[] = "/tmp/cairn-ckpt-digest-XXXXXX";
    int fd = mkstemp(in);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, lines, strlen(lines)), (ssize_t)strlen(lines));
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "LC_ALL=C sort '%s' | sha256sum", in);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char line[200] = "";
    cr_assert_not_null(fgets(line, sizeof(line), p));
    cr_assert_eq(pclose(p), 0);
    unlink(in);
    memcpy(out, line, 64);
    out[64] = '\0';
}

#define A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

Test(checkpoint, the_digest_is_sha256sum_of_the_sorted_lines_of_the_hashed_files)
{
    Cairn__OutputHash f[4] = {file("step-2/model.pt", B, 1024, ""), file("opt.pt", A, 7, ""),
                              file("huge.bin", "", 0, "over the hash budget"),
                              file("step-10/model.pt", A, 3, "")};
    Cairn__OutputHash *v[4] = {&f[0], &f[1], &f[2], &f[3]};
    char got[CKPT_DIGEST_HEX], want[65];
    cr_assert_eq(ckpt_digest(v, 4, got), 0);
    reference("step-2/model.pt\t1024\t" B "\nopt.pt\t7\t" A "\nstep-10/model.pt\t3\t" A "\n", want);
    cr_expect_str_eq(got, want);
    /* the order the worker listed them in does not matter */
    Cairn__OutputHash *r[4] = {&f[3], &f[2], &f[1], &f[0]};
    char again[CKPT_DIGEST_HEX];
    cr_assert_eq(ckpt_digest(r, 4, again), 0);
    cr_expect_str_eq(again, got);
    /* a file not hashed is no part of it; nothing hashed: "" */
    cr_assert_eq(ckpt_digest(&v[2], 1, again), 0);
    cr_expect_str_eq(again, "");
    cr_assert_eq(ckpt_digest(NULL, 0, again), 0);
    cr_expect_str_eq(again, "");
    f[1].mtime_ms = 5;
    f[3].mtime_ms = 9;
    cr_expect_eq(ckpt_newest_mtime(v, 4), 9);
}

Test(checkpoint, the_default_directory_is_per_task_and_safe)
{
    char d[128];
    ckpt_default_dir(0xabcdef0123456789ull, 7, 3, "train[lr=0.1, seed=2]/x", d, sizeof(d));
    cr_expect_str_eq(d, ".cairn-checkpoints/abcdef0123456789/job-7/3-train_lr=0.1__seed=2__x");
    ckpt_default_dir(0x12, 7, 0, "..", d, sizeof(d));
    cr_expect_str_eq(d, ".cairn-checkpoints/0000000000000012/job-7/0-..",
                     "inside its task's own directory");
    ckpt_default_dir(1, 12, 4, "abcdefgh", d, 50);
    cr_expect_eq(strlen(d), 49, "cut to fit: %s", d);
}

/* A JobSpec of one task with the given checkpoint grace (0: none), as the
 * scheduler receives it (unpacked: its memory is protobuf-c's). */
static Cairn__JobSpec *job(uint64_t grace_ms, bool with_checkpoint)
{
    Cairn__Checkpoint ck = CAIRN__CHECKPOINT__INIT;
    ck.grace_ms = grace_ms;
    char *argv[] = {"true"};
    Cairn__TaskSpec t = CAIRN__TASK_SPEC__INIT, *tp[1] = {&t};
    t.name = "t";
    t.n_argv = 1;
    t.argv = argv;
    t.preemptible = 1;
    t.checkpoint = with_checkpoint ? &ck : NULL;
    Cairn__JobSpec js = CAIRN__JOB_SPEC__INIT;
    js.name = "j";
    js.n_tasks = 1;
    js.tasks = tp;
    uint8_t buf[512];
    size_t len = cairn__job_spec__pack(&js, buf);
    return cairn__job_spec__unpack(NULL, len, buf);
}

static int64_t grace_of(const Cairn__JobSpec *js, const jobspec_limits_t *lim)
{
    jobspec_t *cj = NULL;
    jobspec_errors_t errs = {0};
    cr_assert_eq(jobspec_build(js, 1, lim, &cj, &errs), 0, "%s", errs.n ? errs.v[0]->message : "");
    const sched_task_spec_t *ts = &jobspec_core(cj)->tasks[0];
    cr_expect(ts->preemptible);
    int64_t g = ts->grace_ms;
    jobspec_destroy(cj);
    return g;
}

Test(checkpoint, the_grace_defaults_to_30s_and_is_capped_as_the_journal_replays_it)
{
    jobspec_limits_t tight = jobspec_default_limits;
    tight.max_grace_ms = 2000;
    Cairn__JobSpec *none = job(0, false), *two_h = job(7200000, true);
    cr_expect_eq(grace_of(none, NULL), 30000, "no checkpoint: 30 s");
    cr_expect_eq(grace_of(two_h, NULL), 10 * 60 * 1000, "capped at the default 10 min");
    /* --max-checkpoint-grace 2s: the spec as journaled says 2 s, so that a
     * replay with the default limits builds the same */
    cr_assert_eq(jobspec_cap_grace(two_h, &tight), 0);
    cr_assert_eq(jobspec_cap_grace(none, &tight), 0);
    cr_expect_eq(two_h->tasks[0]->checkpoint->grace_ms, 2000);
    cr_assert_not_null(none->tasks[0]->checkpoint, "a checkpoint added to carry the cap");
    cr_expect_eq(grace_of(two_h, NULL), 2000);
    cr_expect_eq(grace_of(none, NULL), 2000);
    cairn__job_spec__free_unpacked(none, NULL);
    cairn__job_spec__free_unpacked(two_h, NULL);
    /* under the default cap, a task without a checkpoint is left as it is */
    Cairn__JobSpec *plain = job(0, false);
    cr_assert_eq(jobspec_cap_grace(plain, NULL), 0);
    cr_expect_null(plain->tasks[0]->checkpoint);
    cairn__job_spec__free_unpacked(plain, NULL);
}

Test(checkpoint, bad_settings_are_refused_naming_the_task)
{
    Cairn__JobSpec *js = job(1000, true);
    jobspec_t *cj = NULL;
    jobspec_errors_t errs = {0};
    js->tasks[0]->checkpoint->signal = 65;
    js->tasks[0]->signal_before_limit_ms = 5000; /* and no time limit */
    cr_assert_eq(jobspec_build(js, 1, NULL, &cj, &errs), 2);
    cr_expect_str_eq(errs.v[0]->message, "task t: checkpoint signal 65 out of range (1..64)");
    cr_expect_str_eq(errs.v[1]->message,
                     "task t: signal_before_limit needs a time_limit longer than it");
    jobspec_errors_fini(&errs);
    js->tasks[0]->checkpoint->signal = 10;
    js->tasks[0]->time_limit_ms = 5000; /* not longer than it */
    cr_assert_eq(jobspec_build(js, 1, NULL, &cj, &errs), 1);
    jobspec_errors_fini(&errs);
    js->tasks[0]->time_limit_ms = 6000;
    cr_assert_eq(jobspec_build(js, 1, NULL, &cj, &errs), 0);
    jobspec_destroy(cj);
    cairn__job_spec__free_unpacked(js, NULL);
}
