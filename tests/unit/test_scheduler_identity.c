/* Client identity and permissions of a real cairn-scheduler: on ipc:// the
 * peer's Unix user is who submits (whatever the client claims); a user may
 * cancel and read logs of only their own jobs; administrators (root, the
 * scheduler's user, --admins users and @groups) of every job; anonymous
 * tcp:// clients only read unless --allow-anonymous-writes.
 *
 * Other users are played by the `cairn` CLI run as uid 65534 (nobody): a
 * child forks, drops to it and execs the CLI (no nng in a forked child),
 * a copy of it in a directory nobody can enter (the checkout may be one it
 * cannot: a clone in root's home is 0700). The ipc client socket is mode
 * 0666 (the scheduler makes it so); the test makes the state directory
 * 0711 so that nobody can reach the socket in it. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "sched_harness.h"

#define NOBODY 65534

/* The CLI that other users run: a copy every user can reach, made for
 * each test and removed after it. */
static char cli_bin[600];

static void cli_copy(void)
{
    h_shared_bin("cairn", cli_bin, sizeof(cli_bin));
}

static void cli_remove(void)
{
    h_shared_bin_remove(cli_bin);
}

TestSuite(identity, .init = cli_copy, .fini = cli_remove);

static void need_root(void)
{
    if (geteuid() != 0)
        cr_skip_test("needs root: other users are played by setuid(%d)", NOBODY);
}

/* Run `cairn --scheduler URL args...` as uid (gid = uid's group 65534);
 * returns the exit code, the output (stdout then stderr) in out. */
static int cli_as(uid_t uid, const char *url, char *out, size_t outlen, const char *const *args)
{
    const char *bin = cli_bin;
    const char *argv[16];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--scheduler";
    argv[n++] = url;
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        if (uid != getuid() && (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(uid) != 0))
            _exit(126);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < outlen && (r = read(fds[0], out + len, outlen - len - 1)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(fds[0]);
    int st = 0;
    int64_t deadline = cairn_mono_ms() + 30000;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (cairn_mono_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            cr_assert_fail("cairn %s did not end", args[0]);
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL); /* polling a child's exit */
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#define CLI(out, ...)                                                                              \
    cli_as(NOBODY, s.clients, out, sizeof(out), (const char *const[]){__VA_ARGS__, NULL})

/* Submit one /bin/true task named t as whoever the client is, claiming to
 * be claimed; returns the job id, or 0 with the error in err. */
static uint64_t submit_claiming(cairn_client_t *c, const char *name, const char *claimed,
                                cairn_error_t *err, int *rc)
{
    static char *argv[] = {"/bin/true"};
    Cairn__ResourceRequest rr = CAIRN__RESOURCE_REQUEST__INIT;
    rr.cpus = 1;
    Cairn__TaskSpec ts = CAIRN__TASK_SPEC__INIT, *tp = &ts;
    ts.name = "t";
    ts.n_argv = 1;
    ts.argv = argv;
    ts.resources = &rr;
    Cairn__JobSpec js = CAIRN__JOB_SPEC__INIT;
    js.name = (char *)name;
    js.submitter = (char *)claimed;
    js.n_tasks = 1;
    js.tasks = &tp;
    Cairn__SubmitRequest req = CAIRN__SUBMIT_REQUEST__INIT;
    req.job = &js;
    Cairn__SubmitReply *rep = NULL;
    int64_t deadline = cairn_mono_ms() + 10000;
    do
        *rc = cairn_client_call(c, CAIRN_MSG_SUBMIT, &req.base, CAIRN_MSG_SUBMIT_REPLY,
                                (ProtobufCMessage **)&rep, err);
    while (*rc == -ETIMEDOUT && cairn_mono_ms() < deadline);
    if (*rc < 0)
        return 0;
    cr_assert_eq(rep->n_errors, 0, "submit refused: %s",
                 rep->n_errors ? rep->errors[0]->message : "");
    uint64_t id = rep->job_id;
    cairn_msg_free(&rep->base);
    return id;
}

static char *submitter_of(cairn_client_t *c, uint64_t job, char *buf, size_t n)
{
    Cairn__JobStatusRequest req = CAIRN__JOB_STATUS_REQUEST__INIT;
    req.job_id = job;
    req.summary_only = true;
    Cairn__JobStatusReply *rep = NULL;
    cairn_error_t err = {{0}};
    cr_assert_eq(cairn_client_call(c, CAIRN_MSG_JOB_STATUS, &req.base, CAIRN_MSG_JOB_STATUS_REPLY,
                                   (ProtobufCMessage **)&rep, &err),
                 0, "%s", err.text);
    snprintf(buf, n, "%s", rep->job->submitter);
    cairn_msg_free(&rep->base);
    return buf;
}

static bool log_has(h_sched_t *s, const char *needle)
{
    return h_log_count(s, needle) > 0;
}

/* A root-owned state directory the test user can traverse, not list. */
static void start_shared(h_sched_t *s, const char *const *extra)
{
    h_sched_init(s);
    cr_assert_eq(chmod(s->dir, 0711), 0);
    h_sched_start(s, extra);
}

Test(identity, users_touch_only_their_own_jobs)
{
    need_root();
    h_sched_t s;
    start_shared(&s, NULL);
    char out[4096], who[256];
    cairn_error_t err = {{0}};
    int rc;

    /* root submits claiming to be alice: the authenticated name wins */
    uint64_t job = submit_claiming(s.client, "roots", "alice", &err, &rc);
    cr_assert_eq(job, 1, "%s", err.text);
    cr_expect_str_eq(submitter_of(s.client, job, who, sizeof(who)), "root");
    cr_expect(log_has(&s, "claims submitter 'alice', authenticated as 'root'"));

    /* the sockets: clients world-connectable, workers not world-writable */
    struct stat st;
    char path[400];
    snprintf(path, sizeof(path), "%s/clients.sock", s.dir);
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0666, "clients.sock mode %o", st.st_mode & 0777);
    snprintf(path, sizeof(path), "%s/workers.sock", s.dir);
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_mode & 0002, 0, "workers.sock mode %o", st.st_mode & 0777);

    /* nobody may not cancel it, nor read its logs, nor drain */
    rc = CLI(out, "cancel", "1");
    cr_expect_eq(rc, 5, "cancel: exit %d: %s", rc, out);
    cr_expect(strstr(out, "permission denied: user nobody may not cancel job 1 of root"), "%s",
              out);
    rc = CLI(out, "cancel", "1", "t");
    cr_expect_eq(rc, 5, "cancel task: exit %d: %s", rc, out);
    rc = CLI(out, "logs", "1", "t");
    cr_expect_eq(rc, 5, "logs: exit %d: %s", rc, out);
    cr_expect(strstr(out, "user nobody may not read logs of job 1 of root"), "%s", out);
    rc = CLI(out, "drain", "somenode");
    cr_expect_eq(rc, 5, "drain: exit %d: %s", rc, out);
    cr_expect(strstr(out, "user nobody may not drain node somenode"), "%s", out);
    rc = CLI(out, "node", "remove", "somenode");
    cr_expect_eq(rc, 5, "node remove: exit %d: %s", rc, out);
    cr_expect(strstr(out, "user nobody may not remove node somenode: only administrators may"),
              "%s", out);
    cr_expect(log_has(&s, "refused: user nobody may not cancel job 1 of root"));
    cr_expect(log_has(&s, "refused: user nobody may not remove node somenode"));

    /* ... but may read the cluster's state */
    rc = CLI(out, "status", "1");
    cr_expect_eq(rc, 0, "status: exit %d: %s", rc, out);
    rc = CLI(out, "jobs");
    cr_expect_eq(rc, 0, "jobs: exit %d: %s", rc, out);
    cr_expect(strstr(out, "roots") && strstr(out, "root"), "%s", out);
    rc = CLI(out, "explain", "1", "t");
    cr_expect_eq(rc, 0, "explain: exit %d: %s", rc, out);
    rc = CLI(out, "nodes");
    cr_expect_eq(rc, 0, "nodes: exit %d: %s", rc, out);

    /* nobody submits a job of its own and may cancel it */
    char spec[400];
    snprintf(spec, sizeof(spec), "%s/mine.yaml", s.dir);
    FILE *f = fopen(spec, "w");
    cr_assert_not_null(f);
    fputs("name: mine\ntasks:\n  - name: t\n    run: [/bin/true]\n", f);
    fclose(f);
    chmod(spec, 0644);
    rc = CLI(out, "submit", spec);
    cr_assert_eq(rc, 0, "submit: exit %d: %s", rc, out);
    cr_expect_str_eq(submitter_of(s.client, 2, who, sizeof(who)), "nobody");
    rc = CLI(out, "cancel", "2");
    cr_expect_eq(rc, 0, "own cancel: exit %d: %s", rc, out);

    /* root (an administrator) may cancel anyone's job: submit another as nobody */
    rc = CLI(out, "submit", spec);
    cr_assert_eq(rc, 0, "submit: exit %d: %s", rc, out);
    Cairn__CancelRequest cr = CAIRN__CANCEL_REQUEST__INIT;
    cr.job_id = 3;
    Cairn__CancelReply *crep = NULL;
    cr_expect_eq(cairn_client_call(s.client, CAIRN_MSG_CANCEL, &cr.base, CAIRN_MSG_CANCEL_REPLY,
                                   (ProtobufCMessage **)&crep, &err),
                 0, "root cancels nobody's job: %s", err.text);
    cairn_msg_free(crep ? &crep->base : NULL);
    h_sched_fini(&s);
}

Test(identity, admins_by_name_and_group_act_on_every_job)
{
    need_root();
    char out[4096];
    int rc;
    /* --admins on the command line, by user name */
    {
        h_sched_t s;
        start_shared(&s, (const char *const[]){"--admins", "daemon, nobody", NULL});
        cairn_error_t err = {{0}};
        cr_assert_eq(submit_claiming(s.client, "roots", "", &err, &rc), 1, "%s", err.text);
        rc = CLI(out, "cancel", "1");
        cr_expect_eq(rc, 0, "admin cancel: exit %d: %s", rc, out);
        rc = CLI(out, "drain", "nonode"); /* allowed; the node does not exist */
        cr_expect_eq(rc, 4, "admin drain: exit %d: %s", rc, out);
        h_sched_fini(&s);
    }
    /* admins = @group in a config file (nobody's primary group) */
    struct group *g = getgrgid(NOBODY);
    if (!g) {
        cr_log_warn("no group %d: the @group case is not tested", NOBODY);
        return;
    }
    h_sched_t s;
    h_sched_init(&s);
    cr_assert_eq(chmod(s.dir, 0711), 0);
    char conf[400], line[300];
    snprintf(conf, sizeof(conf), "%s/sched.conf", s.dir);
    snprintf(line, sizeof(line), "admins = someone-else,@%s\n", g->gr_name);
    FILE *f = fopen(conf, "w");
    cr_assert_not_null(f);
    fputs(line, f);
    fclose(f);
    h_sched_start(&s, (const char *const[]){"--config", conf, NULL});
    cairn_error_t err = {{0}};
    cr_assert_eq(submit_claiming(s.client, "roots", "", &err, &rc), 1, "%s", err.text);
    rc = CLI(out, "logs", "1", "t"); /* allowed; the task has not run */
    cr_expect_neq(rc, 5, "group admin logs: exit %d: %s", rc, out);
    rc = CLI(out, "cancel", "1");
    cr_expect_eq(rc, 0, "group admin cancel: exit %d: %s", rc, out);
    h_sched_fini(&s);
}

/* tcp:// clients are anonymous: read-only unless --allow-anonymous-writes. */
static void anonymous_case(bool writes)
{
    char url[64], who[256];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", h_free_port());
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s,
                  writes ? (const char *const[]){"--clients", url, "--allow-anonymous-writes", NULL}
                         : (const char *const[]){"--clients", url, NULL});
    cairn_client_t *c = NULL;
    cr_assert_eq(cairn_client_create(url, 2000, &c, NULL), 0);
    cairn_error_t err = {{0}};
    int rc;
    uint64_t job = submit_claiming(c, "anon", "root", &err, &rc);
    if (!writes) {
        cr_expect_eq(job, 0);
        cr_expect_eq(rc, -EACCES, "%d %s", rc, err.text);
        cr_expect(strstr(err.text, "anonymous clients may not submit jobs"), "%s", err.text);
        Cairn__ListJobsRequest lr = CAIRN__LIST_JOBS_REQUEST__INIT;
        Cairn__ListJobsReply *lrep = NULL;
        cr_expect_eq(cairn_client_call(c, CAIRN_MSG_LIST_JOBS, &lr.base, CAIRN_MSG_LIST_JOBS_REPLY,
                                       (ProtobufCMessage **)&lrep, &err),
                     0, "list: %s", err.text);
        cairn_msg_free(lrep ? &lrep->base : NULL);
        Cairn__DrainRequest dr = CAIRN__DRAIN_REQUEST__INIT;
        dr.node = "n1";
        dr.drain = true;
        ProtobufCMessage *drep = NULL;
        cr_expect_eq(
            cairn_client_call(c, CAIRN_MSG_DRAIN, &dr.base, CAIRN_MSG_DRAIN_REPLY, &drep, &err),
            -EACCES, "drain: %s", err.text);
        cairn_msg_free(drep);
        Cairn__NodeRemoveRequest rr = CAIRN__NODE_REMOVE_REQUEST__INIT;
        rr.node = "n1";
        ProtobufCMessage *rrep = NULL;
        cr_expect_eq(
            cairn_client_call(c, CAIRN_MSG_NODE_RM, &rr.base, CAIRN_MSG_NODE_RM_REPLY, &rrep, &err),
            -EACCES, "node remove: %s", err.text);
        cr_expect(strstr(err.text, "anonymous client anonymous may not remove node n1: only "
                                   "administrators may"),
                  "%s", err.text);
        cairn_msg_free(rrep);
    } else {
        cr_assert_eq(job, 1, "%d %s", rc, err.text);
        cr_expect_str_eq(submitter_of(c, job, who, sizeof(who)), "anonymous");
        Cairn__CancelRequest cr = CAIRN__CANCEL_REQUEST__INIT;
        cr.job_id = job;
        ProtobufCMessage *crep = NULL;
        cr_expect_eq(
            cairn_client_call(c, CAIRN_MSG_CANCEL, &cr.base, CAIRN_MSG_CANCEL_REPLY, &crep, &err),
            0, "anonymous cancels its own job: %s", err.text);
        cairn_msg_free(crep);
    }
    cairn_client_destroy(c);
    h_sched_fini(&s);
}

Test(identity, anonymous_tcp_clients_are_read_only)
{
    anonymous_case(false);
}

Test(identity, anonymous_writes_when_allowed)
{
    anonymous_case(true);
}

/* A SignedRequest proves nothing outside a verified TLS connection (it
 * could be replayed from a capture): refused on ipc, and nothing inside it
 * is done. */
Test(identity, signed_requests_need_tls)
{
    h_sched_t s;
    h_sched_init(&s);
    h_sched_start(&s, NULL);
    Cairn__ListJobsRequest inner = CAIRN__LIST_JOBS_REQUEST__INIT;
    uint8_t *buf = NULL;
    size_t len = 0;
    cairn_error_t err = {{0}};
    cr_assert_eq(cairn_msg_encode(CAIRN_MSG_LIST_JOBS, &inner.base, &buf, &len, &err), 0);
    Cairn__SignedRequest req = CAIRN__SIGNED_REQUEST__INIT;
    req.request.data = buf;
    req.request.len = len;
    req.time_ms = 1;
    ProtobufCMessage *rep = NULL;
    int rc = cairn_client_call(s.client, CAIRN_MSG_SIGNED, &req.base, CAIRN_MSG_LIST_JOBS_REPLY,
                               &rep, &err);
    cr_expect_eq(rc, -EACCES, "%s", err.text);
    cr_expect(strstr(err.text, "tls+tcp://") != NULL, "%s", err.text);
    free(buf);
    h_sched_stop(&s, SIGTERM);
    h_sched_fini(&s);
}

/* A root worker runs each task as its submitter; root's own tasks only
 * with --allow-root-tasks (the suite sets $CAIRN_ALLOW_ROOT_TASKS, which
 * the second worker here does without). */
static pid_t worker_proc(h_sched_t *s, const char *name, bool allow_root)
{
    static char bin[512], dir[400], log[400], topo[512];
    snprintf(bin, sizeof(bin), "%s/cairn-worker", CAIRN_BIN_DIR);
    snprintf(dir, sizeof(dir), "%s/%s", s->dir, name);
    snprintf(log, sizeof(log), "%s/%s.log", s->dir, name);
    snprintf(topo, sizeof(topo), "%s/cpu-only-1s.xml", CAIRN_TOPO_DIR);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        unsetenv("CAIRN_ALLOW_ROOT_TASKS");
        execl(bin, bin, "--scheduler", s->workers, "--state-dir", dir, "--name", name, "--topology",
              topo, "--log-file", log, allow_root ? "--allow-root-tasks" : NULL, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static Cairn__JobStatusReply *wait_ended(h_sched_t *s, uint64_t job)
{
    int64_t deadline = cairn_mono_ms() + 30000;
    for (;;) {
        Cairn__JobStatusReply *st = h_status(s, job);
        if (st->job->state >= CAIRN__JOB_STATE__JOB_STATE_SUCCEEDED)
            return st;
        cairn_msg_free(&st->base);
        cr_assert_lt(cairn_mono_ms(), deadline, "job %llu did not end", (unsigned long long)job);
    }
}

Test(identity, tasks_run_as_their_submitter)
{
    need_root();
    h_sched_t s;
    start_shared(&s, NULL);
    pid_t w = worker_proc(&s, "strict", false);
    int64_t deadline = cairn_mono_ms() + 15000;
    for (;;) {
        Cairn__NodesRequest req = CAIRN__NODES_REQUEST__INIT;
        cairn_error_t err = {{0}};
        Cairn__NodesReply *r = (Cairn__NodesReply *)h_call(&s, CAIRN_MSG_NODES, &req.base,
                                                           CAIRN_MSG_NODES_REPLY, &err);
        bool up = r && r->n_nodes == 1;
        if (r)
            cairn_msg_free(&r->base);
        if (up)
            break;
        cr_assert_lt(cairn_mono_ms(), deadline, "the worker did not register");
    }
    /* nobody's task runs as nobody, in nobody's home or / */
    char work[300], spec[450], out[4096], uidfile[450];
    snprintf(work, sizeof(work), "%s/work", s.dir);
    cr_assert_eq(mkdir(work, 0777), 0);
    cr_assert_eq(chmod(work, 0777), 0);
    snprintf(uidfile, sizeof(uidfile), "%s/uid.txt", work);
    snprintf(spec, sizeof(spec), "%s/job.yaml", work);
    FILE *f = fopen(spec, "w");
    fprintf(f, "name: whoami\ntasks:\n  - name: id\n    shell: echo $(id -u) $(id -g) $USER > %s\n",
            uidfile);
    fclose(f);
    chmod(spec, 0644);
    const char *submit[] = {"submit", "--wait", spec, NULL};
    int rc = cli_as(NOBODY, s.clients, out, sizeof(out), submit);
    cr_expect_eq(rc, 0, "nobody's job: exit %d: %s", rc, out);
    char line[128] = "";
    f = fopen(uidfile, "r");
    cr_assert_not_null(f, "the task wrote nothing: %s", out);
    cr_assert_not_null(fgets(line, sizeof(line), f));
    fclose(f);
    struct passwd *pw = getpwuid(NOBODY);
    char want[128];
    snprintf(want, sizeof(want), "%d %d %s\n", NOBODY, pw ? (int)pw->pw_gid : NOBODY,
             pw ? pw->pw_name : "nobody");
    cr_expect_str_eq(line, want);
    /* root's task is refused by a worker without --allow-root-tasks */
    const char *tasks[] = {"as-root"};
    uint64_t job = h_submit(&s, "roots", tasks, 1, 1, 0, NULL);
    Cairn__JobStatusReply *st = wait_ended(&s, job);
    cr_expect_eq(st->job->state, CAIRN__JOB_STATE__JOB_STATE_FAILED);
    cr_assert_geq(st->tasks[0]->n_attempts, 1);
    const Cairn__AttemptInfo *a = st->tasks[0]->attempts[0];
    cr_expect_eq(a->end_reason, CAIRN__END_REASON__END_REASON_FAILED_TO_START);
    cr_expect(a->error && strstr(a->error, "refusing to run a task as root"), "%s",
              a->error ? a->error : "(no error)");
    cairn_msg_free(&st->base);
    kill(w, SIGTERM);
    waitpid(w, NULL, 0);
    h_sched_fini(&s);
}
