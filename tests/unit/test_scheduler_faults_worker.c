/* Fault injection: kill -9 of a real cairn-worker while its task runs as
 * another user (nobody: anonymous jobs run so on root workers) with a
 * grandchild, a child that left its session and a double-forked daemon.
 * No process of the attempt is left a second later, and its retry on the
 * other node, after the heartbeat timeout, finds none of them when it
 * starts: it looks first thing (CAIRN_ATTEMPT_ID in /proc/PID/environ) and
 * writes what it found. So the two attempts never overlap. */
#include <pwd.h>
#include <sys/stat.h>

#include "faults_harness.h"
#include "proc_check.h"

/* Attempt 1 records its id and, one per line, the pids of its shell's
 * child, a child that left the session, a daemon and the shell itself,
 * then waits. A later attempt lists the processes of attempt 1 still
 * alive (not zombies) in "retry", then "done". */
#define SCRIPT                                                                                     \
    "if [ \"$CAIRN_ATTEMPT\" = 1 ]; then "                                                         \
    "  echo $CAIRN_ATTEMPT_ID > first; "                                                           \
    "  sleep 1000 & echo $! > pids; "                                                              \
    "  setsid sleep 1000 & echo $! >> pids; "                                                      \
    "  (setsid sh -c 'echo $$ >> pids; exec sleep 1000' &); "                                      \
    "  while [ $(wc -l < pids) -lt 3 ]; do sleep 0.01; done; "                                     \
    "  echo $$ >> pids; touch ready; wait; "                                                       \
    "else "                                                                                        \
    "  first=$(cat first); "                                                                       \
    "  for d in /proc/[0-9]*; do "                                                                 \
    "    if tr '\\0' '\\n' < $d/environ 2>/dev/null | grep -qx CAIRN_ATTEMPT_ID=$first && "        \
    "       ! grep -q ') Z ' $d/stat 2>/dev/null; then echo \"overlap ${d#/proc/}\"; fi; "         \
    "  done > retry; echo done >> retry; "                                                         \
    "fi"

static bool job_ended(const Cairn__JobStatusReply *st)
{
    return fx_job_ended(st);
}

static bool running(const Cairn__JobStatusReply *st)
{
    return st->tasks[0]->n_attempts == 1 &&
           st->tasks[0]->state == CAIRN__TASK_STATE__TASK_STATE_RUNNING;
}

Test(faults, worker_kill9_ends_the_whole_task_before_its_retry, .timeout = 120)
{
    struct passwd *pw = getpwnam("nobody");
    if (geteuid() != 0 || !pw)
        cr_skip_test("needs root (root workers run tasks as their submitter) and a nobody "
                     "account");
    char url[64];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", h_free_port());
    const char *const args[] = {
        "--heartbeat-interval",     "100ms", "--heartbeat-timeout", "800ms", "--clients", url,
        "--allow-anonymous-writes", NULL};
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, args);
    cairn_client_destroy(s.client); /* anonymous over tcp: its jobs run as nobody */
    s.client = NULL;
    cr_assert_eq(cairn_client_create(url, 2000, &s.client, NULL), 0);
    char dir[] = "/tmp/cairn-wkill-XXXXXX", path[128];
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(chmod(dir, 0777), 0); /* the task's directory, nobody's to write */
    fx_proc_t w[2];
    fx_worker_start(s.workers, s.dir, &w[0], "n1", "cpu-only-1s.xml", NULL);
    fx_worker_start(s.workers, s.dir, &w[1], "n2", "cpu-only-1s.xml", NULL);
    fx_wait_nodes(&s, 2, 15000);

    Cairn__ResourceRequest rr = CAIRN__RESOURCE_REQUEST__INIT;
    rr.cpus = 8; /* a whole node: the retry goes to the other one */
    char *argv[1];
    Cairn__TaskSpec t = h_shell_task("train", SCRIPT, argv, &rr), *tp = &t;
    t.workdir = dir;
    uint64_t job = h_submit_tasks(&s, "kill9-tree", &tp, 1);
    Cairn__JobStatusReply *st = fx_wait_status(&s, job, running, 15000, "running");
    int victim = strcmp(st->tasks[0]->attempts[0]->node, "n1") == 0 ? 0 : 1;
    cairn_msg_free(&st->base);
    snprintf(path, sizeof(path), "%s/ready", dir);
    fx_wait_file(path, 15000, "attempt 1");
    snprintf(path, sizeof(path), "%s/pids", dir);
    pid_t pids[8] = {0};
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    for (int i = 0; i < 7 && fscanf(f, "%d", &pids[i]) == 1; i++)
        ;
    fclose(f);
    cr_assert_gt(pids[3], 1, "child, setsid child, daemon and shell: %d %d %d %d", pids[0], pids[1],
                 pids[2], pids[3]);

    fx_proc_kill(&w[victim], SIGKILL);
    int64_t t0 = cairn_mono_ms(), left = 0;
    do {
        left = 0;
        for (int i = 0; pids[i]; i++)
            left += !gone_or_zombie(pids[i]);
        if (left)
            nanosleep(&(struct timespec){0, 2000000}, NULL); /* polls a condition, 1 s deadline */
    } while (left && cairn_mono_ms() - t0 < 1000);
    for (int i = 0; pids[i]; i++) {
        cr_expect(gone_or_zombie(pids[i]), "pid %d of attempt 1 outlived its worker by 1 s",
                  pids[i]);
        if (!gone_or_zombie(pids[i]))
            kill(pids[i], SIGKILL); /* the test's own clean-up, after the check */
    }

    st = fx_wait_status(&s, job, job_ended, 30000, "the end");
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED);
    cr_assert_eq(st->tasks[0]->n_attempts, 2);
    cr_expect_eq(st->tasks[0]->attempts[0]->end_reason, CAIRN__END_REASON__END_REASON_NODE_LOST);
    cr_expect_str_eq(st->tasks[0]->attempts[1]->node, w[1 - victim].name);
    cairn_msg_free(&st->base);
    snprintf(path, sizeof(path), "%s/retry", dir);
    f = fopen(path, "r");
    cr_assert_not_null(f, "the retry did not look");
    char line[128];
    bool done = false;
    while (fgets(line, sizeof(line), f)) {
        cr_expect(strncmp(line, "overlap", 7) != 0, "the retry started beside attempt 1: %s", line);
        done = done || strcmp(line, "done\n") == 0;
    }
    fclose(f);
    cr_expect(done, "the retry's look did not finish");

    fx_proc_kill(&w[1 - victim], SIGTERM);
    h_sched_stop(&s, SIGTERM);
    h_sched_fini(&s);
    fx_rmrf(dir);
}
