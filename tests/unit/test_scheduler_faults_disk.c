/* Fault injection: the scheduler's state disk fills up. The state
 * directory is a 3 MB tmpfs in a private mount namespace of the test
 * (needs root; skipped otherwise). Once it is full, a new submission is
 * refused with an error naming the storage problem, the running task keeps
 * running, and after the space is freed and the scheduler restarted nothing
 * that was acknowledged is lost: the job submitted before runs to its end,
 * and new submissions are taken again. */
#include "leak_check.h"
#include "sched_harness.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>

#include "faults_harness.h"

/* Fill the filesystem of dir with one file; returns the bytes written. */
static size_t fill(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    static char buf[65536];
    memset(buf, 'x', sizeof(buf));
    size_t total = 0;
    for (;;) {
        size_t chunk = sizeof(buf);
        ssize_t n;
        while (chunk > 0 && (n = write(fd, buf, chunk)) < 0 && errno == ENOSPC)
            chunk /= 2; /* the last few bytes too */
        if (chunk == 0)
            break;
        cr_assert_gt(n, 0, "%s", strerror(errno));
        total += (size_t)n;
    }
    close(fd);
    return total;
}

static bool hold_running(const Cairn__JobStatusReply *st)
{
    return st->tasks[0]->state == CAIRN__TASK_STATE__TASK_STATE_RUNNING &&
           st->tasks[0]->attempts[0]->start_time_ms > 0;
}

/* Try to submit a one-task job; returns its id, or 0 with the reason. */
static uint64_t try_submit(h_sched_t *s, const char *name, char *why, size_t nwhy)
{
    Cairn__ResourceRequest rr = CAIRN__RESOURCE_REQUEST__INIT;
    rr.cpus = 1;
    char *a[1];
    Cairn__TaskSpec t = h_shell_task("t", "echo t", a, &rr);
    Cairn__TaskSpec *tp[] = {&t};
    Cairn__JobSpec js = CAIRN__JOB_SPEC__INIT;
    js.name = (char *)name;
    js.n_tasks = 1;
    js.tasks = tp;
    Cairn__SubmitRequest req = CAIRN__SUBMIT_REQUEST__INIT;
    req.job = &js;
    cairn_error_t err = {{0}};
    ProtobufCMessage *rep = NULL;
    int rc = cairn_client_call(s->client, CAIRN_MSG_SUBMIT, &req.base, CAIRN_MSG_SUBMIT_REPLY,
                               &rep, &err);
    if (rc < 0) {
        snprintf(why, nwhy, "rc %d: %s", rc, err.text);
        return 0;
    }
    Cairn__SubmitReply *sr = (Cairn__SubmitReply *)rep;
    uint64_t id = sr->n_errors ? 0 : sr->job_id;
    snprintf(why, nwhy, "%s", sr->n_errors ? sr->errors[0]->message : "accepted");
    cairn_msg_free(rep);
    return id;
}

Test(faults, state_disk_full_refuses_submissions_and_loses_nothing, .timeout = 90)
{
    /* Unfinished: in this setup the client never reaches the scheduler
     * whose state directory is the tmpfs (h_call times out although the
     * scheduler runs and logs that it listens there); not yet diagnosed,
     * so the test only runs on request. */
    if (geteuid() != 0) {
        cr_skip_test("needs root to mount a small tmpfs for the state directory");
        return;
    }
    /* Mounted in this namespace, not a private one: nng's threads (criterion
     * starts them before the test) would not see a mount made by unshare()
     * in this thread, so the client could not reach the socket. Unmounted
     * at the end. */
    static const char *const args[] = {"--heartbeat-interval", "200ms", NULL};
    h_sched_t s;
    h_sched_init(&s);
    if (mount("tmpfs", s.dir, "tmpfs", 0, "size=3m,mode=0700") != 0) {
        int e = errno;
        h_sched_fini(&s);
        cr_skip_test("cannot mount a tmpfs here (%s)", strerror(e));
        return;
    }
    char wdir[] = "/tmp/cairn-faults-w-XXXXXX"; /* the worker's state stays off the tmpfs */
    cr_assert_not_null(mkdtemp(wdir));
    h_sched_start(&s, args);
    fx_proc_t w;
    fx_worker_start(s.workers, wdir, &w, "dw", "cpu-only-1s.xml", NULL);
    fx_wait_nodes(&s, 1, 15000);

    char flag[400], script[800], filler[400];
    snprintf(flag, sizeof(flag), "%s/go", wdir);
    snprintf(filler, sizeof(filler), "%s/filler", s.dir);
    int me = (int)getpid();
    /* the ": 53.PID" no-op makes the task's shell findable */
    snprintf(script, sizeof(script),
             ": 53.%d; echo start; while [ ! -e '%s' ]; do sleep 0.05; done; echo done", me, flag);
    Cairn__ResourceRequest rr = CAIRN__RESOURCE_REQUEST__INIT;
    rr.cpus = 1;
    char *a1[1], *a2[1], *need[] = {"hold"};
    Cairn__TaskSpec t[2];
    t[0] = h_shell_task("hold", script, a1, &rr);
    t[1] = h_shell_task("after", "echo after", a2, &rr);
    t[1].n_needs = 1, t[1].needs = need;
    Cairn__TaskSpec *tp[] = {&t[0], &t[1]};
    uint64_t job = h_submit_tasks(&s, "before-full", tp, 2);
    cairn_msg_free(&fx_wait_status(&s, job, hold_running, 15000, "hold running")->base);

    size_t filled = fill(filler);
    fprintf(stderr, "faults: state disk filled with %zu bytes\n", filled);
    /* new submissions are refused, with the reason */
    char why[600] = "";
    uint64_t late = 0;
    bool named = false;
    int64_t deadline = cairn_mono_ms() + 20000;
    for (int tries = 0; cairn_mono_ms() < deadline; tries++) {
        late = try_submit(&s, "while-full", why, sizeof(why));
        fprintf(stderr, "faults: submission %d while full: %s\n", tries + 1, why);
        if (late)
            break;
        named = strstr(why, "storage") || strstr(why, "full") || strstr(why, "disk");
        if (named)
            break;
    }
    cr_expect_eq(late, 0, "a submission was acknowledged although the state disk is full");
    cr_expect(named, "the refusal does not name the storage problem: %s", why);
    /* the scheduler and the running task are alive */
    cr_expect(fx_alive(s.pid), "the scheduler died on a full disk");
    Cairn__JobStatusReply *st = h_status(&s, job);
    cr_expect_eq(st->tasks[0]->state, CAIRN__TASK_STATE__TASK_STATE_RUNNING,
                 "the running task did not keep running");
    cairn_msg_free(&st->base);
    /* let the running task end while the disk is still full */
    fx_touch(flag);
    char marker[64];
    snprintf(marker, sizeof(marker), "[:] 53[.]%d;", me);
    fx_wait_gone(marker, 10000, "the held task");
    cr_expect(fx_alive(s.pid), "the scheduler died on a full disk");

    /* free the space, restart: everything acknowledged is there */
    cr_assert_eq(unlink(filler), 0);
    h_sched_stop(&s, SIGKILL);
    h_sched_start(&s, args);
    fx_wait_nodes(&s, 1, 15000);
    st = fx_wait_status(&s, job, fx_job_ended, 20000, "the job's end");
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED);
    cr_expect_eq(st->tasks[0]->n_attempts, 1, "the task that ran during the fault was rerun");
    cr_expect_eq(st->tasks[1]->state, CAIRN__TASK_STATE__TASK_STATE_SUCCEEDED);
    cairn_msg_free(&st->base);
    if (late) { /* acknowledged: it must have survived */
        st = fx_wait_status(&s, late, fx_job_ended, 20000, "the late job's end");
        cairn_msg_free(&st->base);
    }
    uint64_t again = try_submit(&s, "after-free", why, sizeof(why));
    cr_expect_neq(again, 0, "submissions still refused after the space came back: %s", why);
    if (again)
        cairn_msg_free(&fx_wait_status(&s, again, fx_job_ended, 20000, "new job")->base);
    fx_proc_kill(&w, SIGTERM);
    h_sched_stop(&s, SIGTERM);
    h_verify_journal(&s);
    cairn_client_destroy(s.client);
    s.client = NULL;
    if (umount2(s.dir, MNT_DETACH) != 0)
        fprintf(stderr, "umount %s: %s\n", s.dir, strerror(errno));
    h_sched_fini(&s);
    fx_rmrf(wdir);
}
