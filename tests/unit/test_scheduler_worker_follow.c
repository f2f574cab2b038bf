/* A real cairn-worker follows the leader among several schedulers
 * (worker/link.h): a standby's RegisterReply naming the leader sends it
 * there, one that names none yet makes it ask again, and an endpoint that
 * cannot be reached is left for the next of its --scheduler list. Each
 * time it registers with the real scheduler and runs a task. The standby
 * is a fake (fake_standby.h). */
#include "fake_standby.h"
#include "sched_harness.h"

static pid_t worker_start(h_sched_t *s, const char *list, const char *key)
{
    char bin[512], dir[400], log[400], topo[512];
    snprintf(bin, sizeof(bin), "%s/cairn-worker", CAIRN_BIN_DIR);
    snprintf(dir, sizeof(dir), "%s/w1", s->dir);
    snprintf(log, sizeof(log), "%s/w1.log", s->dir);
    snprintf(topo, sizeof(topo), "%s/cpu-only-1s.xml", CAIRN_TOPO_DIR);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl(bin, bin, "--scheduler", list, "--state-dir", dir, "--name", "w1", "--topology", topo,
              "--log-file", log, "--log-level", "debug", key ? "--join-key" : (char *)NULL, key,
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void worker_stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* Submit one task and wait (with a deadline) until its job succeeded. */
static void job_runs(h_sched_t *s)
{
    static const char *const tasks[] = {"t"};
    uint64_t job = h_submit(s, "follow", tasks, 1, 1, 0, NULL);
    int64_t deadline = cairn_mono_ms() + 30000;
    for (;;) {
        Cairn__JobStatusReply *st = h_status(s, job);
        Cairn__JobState state = st->job->state;
        cairn_msg_free(&st->base);
        if (state >= CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED) {
            cr_assert_eq(state, CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED);
            return;
        }
        cr_assert_lt(cairn_mono_ms(), deadline, "the job did not run");
        nng_msleep(20); /* polling the job's state with a deadline */
    }
}

static void follow_case(const char *standby_name, bool standby, int silent_for, bool missing_first,
                        bool join_key)
{
    h_sched_t s;
    h_sched_init(&s);
    char key[400];
    snprintf(key, sizeof(key), "%s/join.key", s.dir);
    if (join_key) {
        FILE *kf = fopen(key, "w");
        cr_assert_not_null(kf);
        fputs("correct horse battery staple\n", kf);
        cr_assert_eq(fclose(kf), 0);
        cr_assert_eq(chmod(key, 0600), 0);
    }
    const char *args[] = {"--join-key", key, NULL};
    h_sched_start(&s, join_key ? args : NULL);
    char standby_url[400], list[900];
    snprintf(standby_url, sizeof(standby_url), "ipc://%s/%s", s.dir, standby_name);
    fake_standby_t f = {0};
    if (standby)
        fake_standby_start(&f, standby_url, true, s.workers, silent_for);
    if (missing_first)
        snprintf(list, sizeof(list), "%s,%s", standby_url, s.workers);
    else
        snprintf(list, sizeof(list), "%s", standby_url);
    pid_t w = worker_start(&s, list, join_key ? key : NULL);
    job_runs(&s);
    if (standby)
        cr_assert_eq(atomic_load(&f.answers), silent_for + 1,
                     "the worker asked the standby until it named the leader, then left");
    worker_stop(w);
    if (standby)
        fake_standby_stop(&f);
    h_sched_fini(&s);
}

Test(worker_follow, registers_with_the_leader_a_standby_names)
{
    follow_case("standby.sock", true, 0, false, false);
}

Test(worker_follow, asks_again_while_none_leads)
{
    follow_case("standby.sock", true, 2, false, false);
}

Test(worker_follow, moves_past_an_endpoint_it_cannot_reach)
{
    follow_case("missing.sock", false, 0, true, false);
}

/* With a join key, the scheduler the standby names proves it holds the
 * key too (RegisterReply.proof), as any scheduler must. */
Test(worker_follow, a_leader_named_by_a_standby_proves_the_join_key)
{
    follow_case("standby.sock", true, 0, false, true);
}
