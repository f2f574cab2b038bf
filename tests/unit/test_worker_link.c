/* The worker daemon against a fake scheduler: a pair1 polyamorous listener
 * on a temporary ipc path, bridged with cairn_net into the test's own loop.
 *
 * The worker runs either as a real cairn-worker process (the HGX topology
 * fixture: 8 GPUs, 32 cores, 2 NUMA domains) or in-process on the same loop
 * (worker_daemon_create). Every wait runs the loop until a condition holds
 * or a deadline passes; every handle is closed and uv_loop_close() must
 * succeed. The worker's log is copied to stderr at the end of each test,
 * which ctest shows only when a test fails. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "leak_check.h"
#include "pool_block.h"
#include "self_user.h"
#include "worker/daemon.h"
#include "worker/exec_private.h"

/* A message queued to a pipe that closes is freed later by nng's reaper
 * thread, which may run after the test's leak check (and nng_fini() would
 * break criterion, which uses nng itself). Such messages are nng's to free. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:nng_msg_alloc\nleak:libnng.so\n";
}
#include "proto/net.h"
#include "proto/sha256.h"

#define WORKER_BIN CAIRN_BIN_DIR "/cairn-worker"
#define HGX_TOPO CAIRN_TOPO_DIR "/hgx-h100-8gpu.xml"
#define DEADLINE_MS 15000
#define MAXE 64

/* ---- what the fake scheduler saw ----------------------------------------- */

typedef struct seen_event {
    uint64_t attempt, seq, job;
    int kind, pid, exit_code, signal;
    uint32_t rank;
    bool cancelled, timed_out;
    int64_t start_ms, end_ms;
    char error[256], node[64], task[64];
    size_t noutputs; /* OutputHash: path, sha256, size, error */
    char out_path[4][64], out_sha[4][65], out_error[4][160];
    uint64_t out_size[4];
    size_t nckpt; /* TaskEvent.checkpoint */
    char ckpt_path[4][64], ckpt_sha[4][65], ckpt_error[4][160];
    uint64_t ckpt_size[4];
    int64_t ckpt_mtime[4];
} seen_event_t;

typedef struct seen_register {
    char node[64], version[32], fingerprint[32];
    uint32_t protocol;
    size_t nlabels;
    char labels[4][128]; /* "k=v" */
    uint32_t num_cores, num_pus;
    size_t ncores, nnuma, ngpus, ngpus_uuid;
    char gpu0_uuid[64];
    size_t nrunning;
    uint64_t running[8];
    uint32_t running_rank[8];
    int running_pid[8];
    size_t nended;
    uint64_t ended[8];
    int events_before; /* events received before this Register */
} seen_register_t;

typedef struct fake {
    uv_loop_t *loop;
    char url[160];
    nng_socket sock;
    cairn_net_t *net;
    bool listening;
    nng_pipe pipe; /* the worker's, from its last Register */
    /* replies */
    uint32_t heartbeat_ms;
    uint32_t hb_every; /* put in heartbeat replies (0: none) */
    int refuse;        /* refuse this many Registers */
    uint64_t stale[4];
    size_t nstale;   /* sent with the next accepted RegisterReply */
    bool reregister; /* answer the next heartbeat with reregister */
    /* a join key: challenge each Register, check the answer, prove the key
     * in the accepting reply (wrong_proof: prove it wrongly) */
    const cairn_join_key_t *key;
    bool wrong_proof;
    uint8_t challenge[CAIRN_JOIN_CHALLENGE_LEN];
    bool challenged;
    unsigned ack_kinds; /* bit per TaskEvent kind: acknowledge */
    /* received */
    int nregister;
    seen_register_t reg[8];
    int nheartbeats;
    uint64_t hb_seq[MAXE], hb_node[MAXE], hb_ns[MAXE];
    int nevents;
    seen_event_t ev[MAXE];
    int nreports;
    uint64_t rep_ns;
    size_t rep_ntasks;
    uint64_t rep_task[4], rep_rss[4], rep_peak[4];
    uint32_t rep_load1;
    uint64_t rep_mem_used, rep_mem_total;
    size_t rep_ngpus;
    int nchunks;
    uint64_t chunk_req, chunk_size;
    char chunk_data[256], chunk_error[256];
    size_t chunk_len;
    bool chunk_eof;
} fake_t;

/* ---- the test fixture ---------------------------------------------------- */

typedef struct fx {
    uv_loop_t loop;
    uv_timer_t tick;
    fake_t f;
    char dir[64], log_path[128], state_dir[128];
    /* real process */
    pid_t pid;
    bool exited;
    int exit_status, term_signal;
    /* in-process */
    worker_daemon_t *d;
    cairn_log_t log;
    bool log_open;
} fx_t;

static pid_t g_child; /* killed by the suite's fini if a test failed midway */

static void suite_fini(void)
{
    if (g_child > 0)
        kill(g_child, SIGKILL);
}

TestSuite(link, .timeout = 120, .fini = suite_fini);

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

static void tick_cb(uv_timer_t *t)
{
}

/* Run the loop until cond holds, failing the test after DEADLINE_MS. */
#define RUN_UNTIL(x, cond)                                                                         \
    do {                                                                                           \
        uint64_t dl_ = now_ns() + (uint64_t)DEADLINE_MS * 1000000;                                 \
        while (!(cond) && now_ns() < dl_)                                                          \
            uv_run(&(x)->loop, UV_RUN_ONCE);                                                       \
        cr_assert((cond), "timed out waiting for: %s", #cond);                                     \
    } while (0)

static void copy_str(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

static void fake_on_register(fake_t *f, const cairn_peer_t *from, const Cairn__Register *m)
{
    cr_assert_lt(f->nregister, 8);
    seen_register_t *r = &f->reg[f->nregister++];
    f->pipe = from->pipe;
    r->events_before = f->nevents;
    copy_str(r->node, sizeof(r->node), m->node_name);
    copy_str(r->version, sizeof(r->version), m->worker_version);
    copy_str(r->fingerprint, sizeof(r->fingerprint), m->topology_fingerprint);
    r->protocol = m->protocol_version;
    for (size_t i = 0; i < m->n_labels && i < 4; i++)
        snprintf(r->labels[r->nlabels++], sizeof(r->labels[0]), "%s=%s", m->labels[i]->key,
                 m->labels[i]->value);
    if (m->resources) {
        r->num_cores = m->resources->num_cores;
        r->num_pus = m->resources->num_pus;
        r->ncores = m->resources->n_cores;
        r->nnuma = m->resources->n_numa_domains;
        r->ngpus = m->resources->n_gpus;
        for (size_t i = 0; i < m->resources->n_gpus; i++)
            if (strncmp(m->resources->gpus[i]->uuid, "GPU-", 4) == 0)
                r->ngpus_uuid++;
        if (r->ngpus)
            copy_str(r->gpu0_uuid, sizeof(r->gpu0_uuid), m->resources->gpus[0]->uuid);
    }
    for (size_t i = 0; i < m->n_running && i < 8; i++) {
        r->running[r->nrunning] = m->running[i]->attempt_id;
        r->running_rank[r->nrunning] = m->running[i]->rank;
        r->running_pid[r->nrunning++] = m->running[i]->pid;
    }
    for (size_t i = 0; i < m->n_ended_unacked && i < 8; i++)
        r->ended[r->nended++] = m->ended_unacked[i];

    Cairn__RegisterReply rr = CAIRN__REGISTER_REPLY__INIT;
    uint8_t proof[CAIRN_JOIN_HMAC_LEN];
    if (f->key && (!m->auth || !f->challenged ||
                   !cairn_join_check(f->key, f->challenge, sizeof(f->challenge),
                                     m->auth->nonce.data, m->auth->nonce.len, m->node_name,
                                     m->auth->hmac.data, m->auth->hmac.len))) {
        cr_assert_eq(cairn_join_random(f->challenge, sizeof(f->challenge)), 0);
        f->challenged = true;
        rr.error = "authentication required";
        rr.challenge = (ProtobufCBinaryData){.len = sizeof(f->challenge), .data = f->challenge};
        cr_assert_eq(cairn_net_send(f->net, from, CAIRN_MSG_REGISTER_REPLY, &rr.base, NULL), 0);
        return;
    }
    if (f->key) {
        cairn_join_prove(f->key, f->challenge, sizeof(f->challenge), m->auth->nonce.data,
                         m->auth->nonce.len, m->node_name, proof);
        proof[0] ^= f->wrong_proof;
        rr.proof = (ProtobufCBinaryData){.len = sizeof(proof), .data = proof};
        f->challenged = false;
    }
    if (f->refuse > 0) {
        f->refuse--;
        rr.error = "not today";
    } else {
        rr.accepted = true;
        rr.node_id = 42;
        rr.heartbeat_interval_ms = f->heartbeat_ms;
        rr.stale_attempt_ids = f->stale;
        rr.n_stale_attempt_ids = f->nstale;
    }
    cr_assert_eq(cairn_net_send(f->net, from, CAIRN_MSG_REGISTER_REPLY, &rr.base, NULL), 0);
    if (rr.accepted)
        f->nstale = 0;
}

static void fake_on_heartbeat(fake_t *f, const cairn_peer_t *from, const Cairn__Heartbeat *m)
{
    if (f->nheartbeats < MAXE) {
        f->hb_seq[f->nheartbeats] = m->seq;
        f->hb_node[f->nheartbeats] = m->node_id;
        f->hb_ns[f->nheartbeats] = now_ns();
    }
    f->nheartbeats++;
    Cairn__HeartbeatReply hr = CAIRN__HEARTBEAT_REPLY__INIT;
    hr.seq = m->seq;
    hr.reregister = f->reregister;
    hr.heartbeat_interval_ms = f->hb_every;
    f->reregister = false;
    cr_assert_eq(cairn_net_send(f->net, from, CAIRN_MSG_HEARTBEAT_REPLY, &hr.base, NULL), 0);
}

static void fake_on_event(fake_t *f, const cairn_peer_t *from, const Cairn__TaskEvent *m)
{
    cr_assert_lt(f->nevents, MAXE);
    seen_event_t *e = &f->ev[f->nevents++];
    e->attempt = m->attempt_id;
    e->seq = m->seq;
    e->job = m->job_id;
    e->kind = m->kind;
    e->pid = m->pid;
    e->exit_code = m->exit_code;
    e->signal = m->signal;
    e->rank = m->rank;
    e->cancelled = m->cancelled;
    e->timed_out = m->timed_out;
    e->start_ms = m->start_time_ms;
    e->end_ms = m->end_time_ms;
    copy_str(e->error, sizeof(e->error), m->error);
    copy_str(e->node, sizeof(e->node), m->node_name);
    copy_str(e->task, sizeof(e->task), m->task_name);
    e->noutputs = m->n_outputs;
    for (size_t i = 0; i < m->n_outputs && i < 4; i++) {
        copy_str(e->out_path[i], sizeof(e->out_path[i]), m->outputs[i]->path);
        copy_str(e->out_sha[i], sizeof(e->out_sha[i]), m->outputs[i]->sha256);
        copy_str(e->out_error[i], sizeof(e->out_error[i]), m->outputs[i]->error);
        e->out_size[i] = m->outputs[i]->size;
    }
    e->nckpt = m->n_checkpoint;
    for (size_t i = 0; i < m->n_checkpoint && i < 4; i++) {
        copy_str(e->ckpt_path[i], sizeof(e->ckpt_path[i]), m->checkpoint[i]->path);
        copy_str(e->ckpt_sha[i], sizeof(e->ckpt_sha[i]), m->checkpoint[i]->sha256);
        copy_str(e->ckpt_error[i], sizeof(e->ckpt_error[i]), m->checkpoint[i]->error);
        e->ckpt_size[i] = m->checkpoint[i]->size;
        e->ckpt_mtime[i] = m->checkpoint[i]->mtime_ms;
    }
    if (f->ack_kinds & (1u << m->kind)) {
        Cairn__Ack ack = CAIRN__ACK__INIT;
        ack.seq = m->seq;
        cr_assert_eq(cairn_net_send(f->net, from, CAIRN_MSG_ACK, &ack.base, NULL), 0);
    }
}

static void fake_on_report(fake_t *f, const Cairn__ResourceReport *m)
{
    f->nreports++;
    f->rep_ns = now_ns();
    f->rep_ntasks = m->n_tasks;
    for (size_t i = 0; i < m->n_tasks && i < 4; i++) {
        f->rep_task[i] = m->tasks[i]->attempt_id;
        f->rep_rss[i] = m->tasks[i]->rss_bytes;
        f->rep_peak[i] = m->tasks[i]->peak_rss_bytes;
    }
    f->rep_load1 = m->load_avg_1_milli;
    f->rep_mem_used = m->memory_used_bytes;
    f->rep_mem_total = m->memory_total_bytes;
    f->rep_ngpus = m->n_gpus;
}

static void fake_on_chunk(fake_t *f, const Cairn__LogChunk *m)
{
    f->nchunks++;
    f->chunk_req = m->request_id;
    f->chunk_size = m->size;
    f->chunk_eof = m->eof;
    f->chunk_len =
        m->data.len < sizeof(f->chunk_data) - 1 ? m->data.len : sizeof(f->chunk_data) - 1;
    if (f->chunk_len)
        memcpy(f->chunk_data, m->data.data, f->chunk_len);
    f->chunk_data[f->chunk_len] = '\0';
    copy_str(f->chunk_error, sizeof(f->chunk_error), m->error);
}

static void fake_recv(cairn_net_t *n, const cairn_peer_t *from, cairn_msg_type_t type,
                      ProtobufCMessage *msg, void *arg)
{
    fake_t *f = arg;
    switch (type) {
    case CAIRN_MSG_REGISTER:
        fake_on_register(f, from, (Cairn__Register *)msg);
        break;
    case CAIRN_MSG_HEARTBEAT:
        fake_on_heartbeat(f, from, (Cairn__Heartbeat *)msg);
        break;
    case CAIRN_MSG_TASK_EVENT:
        fake_on_event(f, from, (Cairn__TaskEvent *)msg);
        break;
    case CAIRN_MSG_RESOURCE_REPORT:
        fake_on_report(f, (Cairn__ResourceReport *)msg);
        break;
    case CAIRN_MSG_LOG_CHUNK:
        fake_on_chunk(f, (Cairn__LogChunk *)msg);
        break;
    default:
        cr_assert_fail("the worker sent a %s", cairn_msg_type_name(type));
    }
}

static void fake_listen(fake_t *f)
{
    cr_assert_eq(nng_pair1_open_poly(&f->sock), 0);
    cr_assert_eq(nng_listen(f->sock, f->url, NULL, 0), 0);
    cairn_net_callbacks_t cb = {.recv = fake_recv, .arg = f};
    cr_assert_eq(cairn_net_create(f->loop, f->sock, 0, &cb, &f->net, NULL), 0);
    /* as the scheduler: pair1's polyamorous mode drops what a pipe's queue
     * (two messages) cannot take, so sends wait for the worker's Delivered */
    cairn_net_set_flow(f->net, CAIRN_NET_FLOW_SENDER);
    f->listening = true;
}

/* The scheduler goes away: its socket closes (the loop closes the handles). */
static void fake_close(fake_t *f)
{
    if (!f->listening)
        return;
    cairn_net_destroy(f->net);
    cairn_nng_close_bounded(f->sock, 2000); /* nng 1.5.2's close can hang */
    f->net = NULL;
    f->listening = false;
}

static void fake_send(fake_t *f, cairn_msg_type_t type, const ProtobufCMessage *msg)
{
    cairn_peer_t to = cairn_peer_pipe(f->pipe);
    cr_assert_eq(cairn_net_send(f->net, &to, type, msg, NULL), 0);
}

static int fake_count(const fake_t *f, uint64_t attempt, int kind)
{
    int n = 0;
    for (int i = 0; i < f->nevents; i++)
        n += f->ev[i].attempt == attempt && f->ev[i].kind == kind;
    return n;
}

/* The first event of this attempt and kind at index from or later. */
static const seen_event_t *event_from(const fake_t *f, int from, uint64_t attempt, int kind)
{
    for (int i = from; i < f->nevents; i++)
        if (f->ev[i].attempt == attempt && f->ev[i].kind == kind)
            return &f->ev[i];
    return NULL;
}

static const seen_event_t *fake_find(const fake_t *f, uint64_t attempt, int kind)
{
    for (int i = 0; i < f->nevents; i++)
        if (f->ev[i].attempt == attempt && f->ev[i].kind == kind)
            return &f->ev[i];
    return NULL;
}

/* ---- fixture setup and teardown ------------------------------------------ */

static void fx_init(fx_t *x)
{
    memset(x, 0, sizeof(*x));
    cr_assert_eq(uv_loop_init(&x->loop), 0);
    uv_timer_init(&x->loop, &x->tick);
    uv_timer_start(&x->tick, tick_cb, 10, 10);
    strcpy(x->dir, "/tmp/cairn-link-XXXXXX");
    cr_assert_not_null(mkdtemp(x->dir));
    snprintf(x->log_path, sizeof(x->log_path), "%s/worker.log", x->dir);
    snprintf(x->state_dir, sizeof(x->state_dir), "%s/state", x->dir);
    x->f.loop = &x->loop;
    snprintf(x->f.url, sizeof(x->f.url), "ipc://%s/workers.sock", x->dir);
    x->f.heartbeat_ms = 100;
    x->f.ack_kinds = ~0u;
}

/* Start cairn-worker on the HGX fixture, dialing the fake scheduler. It
 * gets SIGKILL if this test process dies first (a failed assertion must not
 * leave a worker behind). */
static void fx_spawn(fx_t *x, const char *const *extra)
{
    const char *args[32] = {WORKER_BIN,   "--scheduler", x->f.url, "--state-dir", x->state_dir,
                            "--topology", HGX_TOPO,      "--name", "test-node",   "--log-file",
                            x->log_path,  "--log-level", "debug"};
    size_t n = 13;
    for (size_t i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        execv(WORKER_BIN, (char **)args);
        _exit(127);
    }
    x->pid = pid;
    g_child = pid;
}

/* Whether the worker process has exited (reaping it). */
static bool fx_reaped(fx_t *x)
{
    int st;
    if (x->exited)
        return true;
    if (waitpid(x->pid, &st, WNOHANG) != x->pid)
        return false;
    x->exited = true;
    g_child = 0;
    x->exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    x->term_signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    return true;
}

/* Run a worker in this process on the test's loop (report_hold_ms as
 * worker_daemon_config_t). */
static void fx_daemon_hold(fx_t *x, uint32_t report_every, uint32_t report_hold_ms)
{
    cairn_error_t err;
    cr_assert_eq(cairn_log_open(&x->log, "cairn-worker", x->log_path, CAIRN_LOG_DEBUG, &err), 0,
                 "%s", err.text);
    x->log_open = true;
    worker_daemon_config_t cfg = {.scheduler_url = x->f.url,
                                  .state_dir = x->state_dir,
                                  .node_name = "inproc",
                                  .topology = HGX_TOPO,
                                  .cgroup_dir = "",
                                  .nvml_lib = "",
                                  .report_every = report_every,
                                  .retry_min_ms = 20,
                                  .retry_max_ms = 100,
                                  .report_hold_ms = report_hold_ms,
                                  .log = &x->log,
                                  .allow_root_tasks = true};
    cr_assert_eq(worker_daemon_create(&x->loop, &cfg, &x->d, &err), 0, "%s", err.text);
}

static void fx_daemon(fx_t *x, uint32_t report_every)
{
    fx_daemon_hold(x, report_every, 0);
}

static bool log_has(const fx_t *x, const char *needle)
{
    char buf[65536];
    FILE *fp = fopen(x->log_path, "r");
    if (!fp)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

static bool pid_gone(int pid)
{
    return pid > 0 && kill(pid, 0) < 0 && errno == ESRCH;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

/* SIGTERM the worker process: it must exit 0, quickly. */
static void fx_stop_worker(fx_t *x)
{
    if (x->pid <= 0 || fx_reaped(x))
        return;
    cr_assert_eq(kill(x->pid, SIGTERM), 0);
    RUN_UNTIL(x, fx_reaped(x));
    cr_expect_eq(x->term_signal, 0, "the worker died of signal %d", x->term_signal);
    cr_expect_eq(x->exit_status, 0, "the worker exited %d", x->exit_status);
}

static void fx_fini(fx_t *x)
{
    fx_stop_worker(x);
    /* the scheduler side first: the worker then closes a socket with no
     * connection left, which is where nng 1.5.2's close deadlocks least */
    fake_close(&x->f);
    worker_daemon_destroy(x->d);
    uv_close((uv_handle_t *)&x->tick, NULL);
    uv_run(&x->loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&x->loop), 0, "a handle was left open");
    if (x->log_open)
        cairn_log_close(&x->log);
    /* the worker's log, shown by ctest when the test fails */
    FILE *fp = fopen(x->log_path, "r");
    if (fp) {
        char line[1024];
        while (fgets(line, sizeof(line), fp))
            fputs(line, stderr);
        fclose(fp);
    }
    nftw(x->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- scheduler -> worker messages ---------------------------------------- */

/* Assign attempt, queued behind attempt after (0: none). */
static void assign_after(fx_t *x, uint64_t attempt, uint64_t after, bool shell,
                         const char *const *argv, uint32_t ncores)
{
    Cairn__AssignTask a = CAIRN__ASSIGN_TASK__INIT;
    uint32_t cores[4] = {0, 1, 2, 3};
    char *args[8];
    size_t n = 0;
    while (argv[n] && n < 8) {
        args[n] = (char *)argv[n];
        n++;
    }
    a.attempt_id = attempt;
    a.job_id = 7;
    a.task_name = "train";
    a.user = self_user();
    a.attempt_number = 1;
    a.argv = args;
    a.n_argv = n;
    a.shell = shell;
    a.world_size = 1;
    a.cores = cores;
    a.n_cores = ncores;
    a.kill_grace_ms = 200;
    a.after_attempt_id = after;
    fake_send(&x->f, CAIRN_MSG_ASSIGN_TASK, &a.base);
}

static void assign(fx_t *x, uint64_t attempt, bool shell, const char *const *argv, uint32_t ncores)
{
    assign_after(x, attempt, 0, shell, argv, ncores);
}

static void read_log(fx_t *x, uint64_t attempt, int stream, uint64_t offset, uint32_t max,
                     uint64_t req)
{
    Cairn__ReadLog r = CAIRN__READ_LOG__INIT;
    r.attempt_id = attempt;
    r.stream = stream;
    r.offset = offset;
    r.max_bytes = max;
    r.request_id = req;
    int before = x->f.nchunks;
    fake_send(&x->f, CAIRN_MSG_READ_LOG, &r.base);
    RUN_UNTIL(x, x->f.nchunks > before);
    cr_assert_eq(x->f.chunk_req, req);
}

static void cancel(fx_t *x, uint64_t attempt, uint32_t grace_ms)
{
    Cairn__CancelTask c = CAIRN__CANCEL_TASK__INIT;
    c.attempt_id = attempt;
    c.reason = CAIRN__CANCEL_TASK__REASON__USER;
    c.grace_ms = grace_ms;
    fake_send(&x->f, CAIRN_MSG_CANCEL_TASK, &c.base);
}

#define STARTED CAIRN__TASK_EVENT__KIND__STARTED
#define EXITED CAIRN__TASK_EVENT__KIND__EXITED
#define FAILED CAIRN__TASK_EVENT__KIND__FAILED_TO_START

static const char *const SLEEP_ARGV[] = {"sleep", "30", NULL};

/* ---- tests with a real cairn-worker process ------------------------------ */

/* A scheduler with many nodes asks for slower heartbeats in a heartbeat's
 * reply: the worker beats at the new interval from then on. */
LEAK_TEST(link, heartbeats_follow_the_interval_a_reply_asks_for)
{
    fx_t x;
    fx_init(&x);
    fake_listen(&x.f);
    fx_spawn(&x, NULL);
    RUN_UNTIL(&x, x.f.nheartbeats >= 2);
    x.f.hb_every = 400;
    int from = x.f.nheartbeats + 1; /* beats after the reply that asked */
    RUN_UNTIL(&x, x.f.nheartbeats >= from + 3);
    for (int i = from; i < from + 2; i++) {
        double gap_ms = (double)(x.f.hb_ns[i + 1] - x.f.hb_ns[i]) / 1e6;
        cr_expect_geq(gap_ms, 400 - 60, "heartbeat %d came %.0f ms after the one before", i + 1,
                      gap_ms);
    }
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "grep -q 'asks for a heartbeat every 400 ms' '%s'", x.log_path);
    cr_expect_eq(system(cmd), 0, "the change is logged");
    fx_fini(&x);
}

LEAK_TEST(link, register_and_heartbeats)
{
    fx_t x;
    fx_init(&x);
    fake_listen(&x.f);
    const char *labels[] = {"--label", "zone=b", "--label", "rack=r7", NULL};
    fx_spawn(&x, labels);
    RUN_UNTIL(&x, x.f.nregister >= 1);
    const seen_register_t *r = &x.f.reg[0];
    cr_expect_str_eq(r->node, "test-node");
    cr_expect_str_eq(r->version, CAIRN_VERSION);
    cr_expect_eq(r->protocol, CAIRN_PROTO_VERSION);
    cr_expect_eq(strlen(r->fingerprint), 16);
    cr_expect_eq(r->nlabels, 2);
    cr_expect_str_eq(r->labels[0], "rack=r7"); /* sorted by key */
    cr_expect_str_eq(r->labels[1], "zone=b");
    cr_expect_eq(r->num_cores, 32);
    cr_expect_eq(r->ncores, 32);
    cr_expect_eq(r->nnuma, 2);
    cr_expect_eq(r->ngpus, 8);
    cr_expect_eq(r->ngpus_uuid, 8, "every GPU has an NVIDIA UUID");
    cr_expect_eq(r->nrunning, 0);

    /* heartbeats at the interval the reply gave (100 ms), numbered from 1 */
    RUN_UNTIL(&x, x.f.nheartbeats >= 5);
    for (int i = 0; i < 5; i++) {
        cr_expect_eq(x.f.hb_seq[i], (uint64_t)i + 1);
        cr_expect_eq(x.f.hb_node[i], 42);
    }
    double span_ms = (double)(x.f.hb_ns[4] - x.f.hb_ns[0]) / 1e6;
    cr_expect_geq(span_ms, 4 * 100 - 60, "5 heartbeats in %.0f ms", span_ms);
    cr_expect_lt(span_ms, 4 * 100 * 10, "5 heartbeats in %.0f ms", span_ms);
    /* a resource report every 3 heartbeats, no GPU usage without NVML */
    RUN_UNTIL(&x, x.f.nreports >= 1);
    cr_expect_gt(x.f.rep_mem_total, 0);
    cr_expect_leq(x.f.rep_mem_used, x.f.rep_mem_total);
    cr_expect_eq(x.f.rep_ngpus, 0);
    fx_fini(&x);
}

LEAK_TEST(link, task_events_acks_and_logs)
{
    fx_t x;
    fx_init(&x);
    fake_listen(&x.f);
    x.f.ack_kinds = 1u << STARTED; /* the EXITED event stays unacknowledged */
    fx_spawn(&x, NULL);
    RUN_UNTIL(&x, x.f.nregister >= 1);
    const char *const argv[] = {"echo hi; exit 3", NULL};
    assign(&x, 11, true, argv, 2);
    RUN_UNTIL(&x, fake_count(&x.f, 11, EXITED) == 1);
    const seen_event_t *s = fake_find(&x.f, 11, STARTED);
    const seen_event_t *e = fake_find(&x.f, 11, EXITED);
    cr_assert_not_null(s);
    cr_expect_gt(s->pid, 0);
    cr_expect_gt(s->start_ms, 0);
    cr_expect_str_eq(s->node, "test-node");
    cr_expect_str_eq(s->task, "train");
    cr_expect_eq(s->job, 7);
    cr_expect_gt(e->seq, s->seq, "seq numbers increase");
    cr_expect_eq(e->exit_code, 3);
    cr_expect_eq(e->signal, 0);
    cr_expect_not(e->cancelled);
    cr_expect_eq(e->pid, s->pid);
    cr_expect_geq(e->end_ms, e->start_ms);
    cr_expect_gt(e->start_ms, 0);

    /* the log reads back, with eof once the attempt has ended */
    read_log(&x, 11, CAIRN__LOG_STREAM__LOG_STREAM_STDOUT, 0, 4096, 77);
    cr_expect_str_eq(x.f.chunk_error, "");
    cr_expect_str_eq(x.f.chunk_data, "hi\n");
    cr_expect_eq(x.f.chunk_size, 3);
    cr_expect(x.f.chunk_eof);
    read_log(&x, 11, CAIRN__LOG_STREAM__LOG_STREAM_STDOUT, 1, 1, 78);
    cr_expect_str_eq(x.f.chunk_data, "i");
    cr_expect_not(x.f.chunk_eof, "more data follows");
    read_log(&x, 999, CAIRN__LOG_STREAM__LOG_STREAM_STDOUT, 0, 4096, 79);
    cr_expect_neq(x.f.chunk_error[0], '\0', "unknown attempt: an error");
    cr_expect_eq(x.f.chunk_len, 0);

    /* re-registering resends the unacknowledged EXITED (same seq), lists it
     * as ended, and not the acknowledged STARTED */
    uint64_t exited_seq = e->seq;
    x.f.ack_kinds = ~0u;
    x.f.reregister = true;
    RUN_UNTIL(&x, x.f.nregister >= 2);
    cr_expect_eq(x.f.reg[1].nended, 1);
    cr_expect_eq(x.f.reg[1].ended[0], 11);
    cr_expect_eq(x.f.reg[1].nrunning, 0);
    RUN_UNTIL(&x, fake_count(&x.f, 11, EXITED) == 2);
    cr_expect_eq(fake_count(&x.f, 11, STARTED), 1, "an acknowledged event is not resent");
    cr_expect_eq(x.f.ev[x.f.nevents - 1].seq, exited_seq);

    /* once acknowledged, nothing is resent any more */
    x.f.reregister = true;
    RUN_UNTIL(&x, x.f.nregister >= 3);
    cr_expect_eq(x.f.reg[2].nended, 0);
    int hb = x.f.nheartbeats;
    RUN_UNTIL(&x, x.f.nheartbeats >= hb + 3);
    cr_expect_eq(fake_count(&x.f, 11, EXITED), 2);
    fx_fini(&x);
}

LEAK_TEST(link, scheduler_restart_while_task_runs)
{
    fx_t x;
    fx_init(&x);
    fake_listen(&x.f);
    fx_spawn(&x, NULL);
    RUN_UNTIL(&x, x.f.nregister >= 1);
    char flag[128], script[256];
    snprintf(flag, sizeof(flag), "%s/go", x.dir);
    snprintf(script, sizeof(script), "while [ ! -e %s ]; do sleep 0.02; done; exit 5", flag);
    const char *const waiter[] = {script, NULL};
    assign(&x, 21, false, SLEEP_ARGV, 1);
    assign(&x, 22, true, waiter, 1);
    RUN_UNTIL(&x, fake_count(&x.f, 21, STARTED) == 1 && fake_count(&x.f, 22, STARTED) == 1);
    int pid21 = fake_find(&x.f, 21, STARTED)->pid;

    /* the scheduler goes away; attempt 22 ends while it is gone */
    fake_close(&x.f);
    int fd = open(flag, O_CREAT | O_WRONLY, 0644);
    cr_assert_geq(fd, 0);
    close(fd);
    RUN_UNTIL(&x, log_has(&x, "attempt 22.0 exited: code 5"));
    cr_expect_eq(fake_count(&x.f, 22, EXITED), 0);

    /* it comes back on the same path: the worker registers again with the
     * running attempt, then resends the exit it could not deliver */
    fake_listen(&x.f);
    RUN_UNTIL(&x, x.f.nregister >= 2);
    const seen_register_t *r = &x.f.reg[1];
    cr_expect_eq(r->nrunning, 1);
    cr_expect_eq(r->running[0], 21);
    cr_expect_eq(r->running_rank[0], 0);
    cr_expect_eq(r->running_pid[0], pid21);
    cr_expect_eq(r->nended, 1);
    cr_expect_eq(r->ended[0], 22);
    /* an exit sent just before the worker noticed the loss may sit in nng's
     * queue and arrive ahead of the new Register (on a pipe not registered
     * yet, which a scheduler ignores); its resend must follow the Register */
    RUN_UNTIL(&x, event_from(&x.f, r->events_before, 22, EXITED) != NULL);
    const seen_event_t *e = event_from(&x.f, r->events_before, 22, EXITED);
    cr_assert_not_null(e, "the exit came after the new Register");
    cr_expect_eq(e->exit_code, 5);
    cr_expect_geq(r->events_before, 2);
    cr_expect_gt(e->seq, fake_find(&x.f, 22, STARTED)->seq);

    /* SIGTERM: the worker stops and its task dies with it */
    fx_stop_worker(&x);
    cr_expect(pid_gone(pid21), "the task outlived its worker");
    cr_expect_eq(fake_count(&x.f, 21, EXITED), 0, "nothing reported on SIGTERM");
    fx_fini(&x);
}

LEAK_TEST(link, worker_starts_before_the_scheduler)
{
    fx_t x;
    fx_init(&x);
    fx_spawn(&x, NULL);
    RUN_UNTIL(&x, log_has(&x, "dialing the scheduler"));
    fake_listen(&x.f);
    RUN_UNTIL(&x, x.f.nregister >= 1 && x.f.nheartbeats >= 1);
    fx_fini(&x);
}

LEAK_TEST(link, garbage_is_refused_and_the_worker_goes_on)
{
    fx_t x;
    fx_init(&x);
    fake_listen(&x.f);
    fx_spawn(&x, NULL);
    RUN_UNTIL(&x, x.f.nregister >= 1);
    /* bytes that are no envelope, on the wire as any message (counted by
     * the fake's flow control like the rest) */
    cairn_peer_t to = cairn_peer_pipe(x.f.pipe);
    cr_assert_eq(cairn_net_send_raw(x.f.net, &to, (const uint8_t *)"garbage!garbage!", 16, NULL),
                 0);
    RUN_UNTIL(&x, log_has(&x, "refused a malformed message"));
    /* a well-formed message that only a worker sends is refused too */
    Cairn__Heartbeat hb = CAIRN__HEARTBEAT__INIT;
    fake_send(&x.f, CAIRN_MSG_HEARTBEAT, &hb.base);
    RUN_UNTIL(&x, log_has(&x, "refused a heartbeat message"));
    const char *const argv[] = {"true", NULL};
    assign(&x, 31, false, argv, 1);
    RUN_UNTIL(&x, fake_count(&x.f, 31, EXITED) == 1);
    cr_expect_eq(fake_find(&x.f, 31, EXITED)->exit_code, 0);
    fx_fini(&x);
}

/* ---- tests with the daemon in this process ------------------------------- */

LEAK_TEST(link, cancel_and_duplicate_assign)
{
    fx_t x;
    fx_init(&x);
    fake_listen(&x.f);
    fx_daemon(&x, 0);
    RUN_UNTIL(&x, x.f.nregister >= 1 && worker_daemon_registered(x.d));
    assign(&x, 41, false, SLEEP_ARGV, 2);
    RUN_UNTIL(&x, fake_count(&x.f, 41, STARTED) == 1);
    assign(&x, 41, false, SLEEP_ARGV, 2); /* a duplicate: ignored */
    RUN_UNTIL(&x, log_has(&x, "attempt 41 assigned again: ignored"));
    int pid = fake_find(&x.f, 41, STARTED)->pid;
    cancel(&x, 41, 100);
    RUN_UNTIL(&x, fake_count(&x.f, 41, EXITED) == 1);
    const seen_event_t *e = fake_find(&x.f, 41, EXITED);
    cr_expect(e->cancelled);
    cr_expect_eq(e->signal, SIGTERM);
    cr_expect(pid_gone(pid));
    cr_expect_eq(fake_count(&x.f, 41, STARTED), 1, "the duplicate started nothing");
    RUN_UNTIL(&x, worker_daemon_pending_events(x.d) == 0);
    fx_fini(&x);
}

LEAK_TEST(link, stale_attempt_is_killed_silently)
{
    fx_t x;
    fx_init(&x);
    fake_listen(&x.f);
    fx_daemon(&x, 1);
    RUN_UNTIL(&x, x.f.nregister >= 1);
    assign(&x, 51, false, SLEEP_ARGV, 1);
    RUN_UNTIL(&x, fake_count(&x.f, 51, STARTED) == 1);
    int pid = fake_find(&x.f, 51, STARTED)->pid;
    /* the scheduler forgets the node and does not adopt the attempt */
    x.f.stale[0] = 51;
    x.f.nstale = 1;
    x.f.reregister = true;
    RUN_UNTIL(&x, x.f.nregister >= 2);
    cr_expect_eq(x.f.reg[1].nrunning, 1);
    RUN_UNTIL(&x, pid_gone(pid));
    RUN_UNTIL(&x, log_has(&x, "stale attempt 51 ended; not reported"));
    /* reports made after it ended no longer list it; nothing was sent */
    int nr = x.f.nreports;
    RUN_UNTIL(&x, x.f.nreports >= nr + 2);
    cr_expect_eq(x.f.rep_ntasks, 0);
    cr_expect_eq(fake_count(&x.f, 51, EXITED), 0, "a stale attempt is not reported");
    fx_fini(&x);
}

LEAK_TEST(link, resource_report_has_task_usage)
{
    fx_t x;
    fx_init(&x);
    fake_listen(&x.f);
    fx_daemon(&x, 2);
    RUN_UNTIL(&x, x.f.nregister >= 1);
    assign(&x, 61, false, SLEEP_ARGV, 1);
    RUN_UNTIL(&x, fake_count(&x.f, 61, STARTED) == 1);
    RUN_UNTIL(&x, x.f.nreports > 0 && x.f.rep_ntasks == 1 && x.f.rep_rss[0] > 0);
    cr_expect_eq(x.f.rep_task[0], 61);
    cr_expect_geq(x.f.rep_peak[0], x.f.rep_rss[0]);
    cr_expect_gt(x.f.rep_mem_total, 0);
    fx_fini(&x); /* destroying the daemon kills the task */
}

LEAK_TEST(link, refused_registration_is_retried)
{
    fx_t x;
    fx_init(&x);
    x.f.refuse = 2;
    fake_listen(&x.f);
    fx_daemon(&x, 0);
    RUN_UNTIL(&x, x.f.nregister >= 3 && worker_daemon_registered(x.d));
    cr_expect(log_has(&x, "refused the registration: not today"));
    RUN_UNTIL(&x, x.f.nheartbeats >= 1);
    fx_fini(&x);
}

/* An assignment of about 1.4 MB: twelve environment variables of 120 KB
 * (each under the kernel's limit for one, all under the total). */
static void big_assign(fx_t *x, uint64_t attempt)
{
    enum { NVARS = 12, VALUE = 120000 };
    Cairn__KeyValue kv[NVARS], *kvs[NVARS];
    char keys[NVARS][16];
    char *value = malloc(VALUE + 1);
    cr_assert_not_null(value);
    memset(value, 'v', VALUE);
    value[VALUE] = '\0';
    for (int i = 0; i < NVARS; i++) {
        cairn__key_value__init(&kv[i]);
        snprintf(keys[i], sizeof(keys[i]), "BIG%d", i);
        kv[i].key = keys[i];
        kv[i].value = value;
        kvs[i] = &kv[i];
    }
    char *args[] = {"true"};
    uint32_t cores[1] = {0};
    Cairn__AssignTask a = CAIRN__ASSIGN_TASK__INIT;
    a.attempt_id = attempt;
    a.job_id = 7;
    a.task_name = "big";
    a.user = self_user();
    a.attempt_number = 1;
    a.argv = args;
    a.n_argv = 1;
    a.env = kvs;
    a.n_env = NVARS;
    a.world_size = 1;
    a.cores = cores;
    a.n_cores = 1;
    fake_send(&x->f, CAIRN_MSG_ASSIGN_TASK, &a.base);
    free(value);
}

/* Until the scheduler accepts its registration, the worker takes messages
 * of at most CAIRN_MSG_PREAUTH_MAX (1 MiB) from it: on tcp:// it could be
 * anyone. Once registered, the full limit: the same 1.4 MB assignment runs. */
LEAK_TEST(link, large_messages_only_once_registered)
{
    fx_t x;
    fx_init(&x);
    x.f.refuse = 1000;
    fake_listen(&x.f);
    fx_daemon(&x, 0);
    RUN_UNTIL(&x, x.f.nregister >= 1);
    big_assign(&x, 61);
    RUN_UNTIL(&x, log_has(&x, "(limit for a peer not authenticated yet)"));
    cr_expect(log_has(&x, "exceeds the limit of 1048576"));
    x.f.refuse = 0;
    RUN_UNTIL(&x, worker_daemon_registered(x.d));
    big_assign(&x, 62);
    RUN_UNTIL(&x, fake_count(&x.f, 62, EXITED) == 1);
    cr_expect_eq(fake_find(&x.f, 62, EXITED)->exit_code, 0);
    cr_expect_eq(fake_count(&x.f, 61, STARTED) + fake_count(&x.f, 61, EXITED), 0);
    fx_fini(&x);
}

LEAK_TEST(link, start_failures_are_reported)
{
    fx_t x;
    fx_init(&x);
    fake_listen(&x.f);
    fx_daemon(&x, 0);
    RUN_UNTIL(&x, x.f.nregister >= 1);
    const char *const missing[] = {"/nonexistent/command", NULL};
    assign(&x, 71, false, missing, 1);
    RUN_UNTIL(&x, fake_count(&x.f, 71, FAILED) == 1);
    cr_expect_neq(fake_find(&x.f, 71, FAILED)->error[0], '\0');
    /* a core this node does not have: refused before anything runs */
    Cairn__AssignTask a = CAIRN__ASSIGN_TASK__INIT;
    char *argv[] = {"true"};
    uint32_t cores[] = {999};
    a.attempt_id = 72;
    a.job_id = 7;
    a.task_name = "bad";
    a.user = self_user();
    a.argv = argv;
    a.n_argv = 1;
    a.cores = cores;
    a.n_cores = 1;
    fake_send(&x.f, CAIRN_MSG_ASSIGN_TASK, &a.base);
    RUN_UNTIL(&x, fake_count(&x.f, 72, FAILED) == 1);
    cr_expect(strstr(fake_find(&x.f, 72, FAILED)->error, "core 999") != NULL, "error: %s",
              fake_find(&x.f, 72, FAILED)->error);
    cr_expect_eq(fake_count(&x.f, 71, STARTED) + fake_count(&x.f, 72, STARTED), 0);
    fx_fini(&x);
}

/* The EXITED event of a task that declared outputs carries their hashes,
 * computed in the directory it ran in; a non-zero exit is reported with
 * whatever is there, a missing or escaping output with an error. */
LEAK_TEST(link, exited_event_carries_output_hashes)
{
    fx_t x;
    fx_init(&x);
    fake_listen(&x.f);
    fx_daemon(&x, 0);
    RUN_UNTIL(&x, x.f.nregister >= 1 && worker_daemon_registered(x.d));
    char wd[128];
    snprintf(wd, sizeof(wd), "%s/wd", x.dir);
    cr_assert_eq(mkdir(wd, 0755), 0);
    Cairn__AssignTask a = CAIRN__ASSIGN_TASK__INIT;
    char *argv[] = {"mkdir -p ckpt && printf abc > model.bin && printf abc > ckpt/w && "
                    "ln -s /etc/passwd leak && exit 3"};
    char *outputs[] = {"model.bin", "ckpt", "missing.txt", "leak"};
    uint32_t cores[] = {0};
    a.attempt_id = 81;
    a.job_id = 7;
    a.task_name = "train";
    a.user = self_user();
    a.attempt_number = 1;
    a.argv = argv;
    a.n_argv = 1;
    a.shell = true;
    a.world_size = 1;
    a.cores = cores;
    a.n_cores = 1;
    a.workdir = wd;
    a.outputs = outputs;
    a.n_outputs = 4;
    fake_send(&x.f, CAIRN_MSG_ASSIGN_TASK, &a.base);
    RUN_UNTIL(&x, fake_count(&x.f, 81, EXITED) == 1);
    const seen_event_t *e = fake_find(&x.f, 81, EXITED);
    cr_expect_eq(e->exit_code, 3);
    cr_assert_eq(e->noutputs, 4);
    /* SHA-256("abc") */
    const char *abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    cr_expect_str_eq(e->out_path[0], "model.bin");
    cr_expect_str_eq(e->out_sha[0], abc);
    cr_expect_eq(e->out_size[0], 3);
    cr_expect_str_empty(e->out_error[0]);
    /* the directory: SHA-256 of the line "<sha256 of w>  w\n" */
    char line[128], want[65];
    snprintf(line, sizeof(line), "%s  w\n", abc);
    cairn_sha256_hex(line, strlen(line), want);
    cr_expect_str_eq(e->out_path[1], "ckpt");
    cr_expect_str_eq(e->out_sha[1], want);
    cr_expect_eq(e->out_size[1], 3);
    cr_expect_str_eq(e->out_error[2], "missing");
    cr_expect_str_empty(e->out_sha[2]);
    cr_expect_str_eq(e->out_error[3], "outside the working directory");
    cr_expect_str_empty(e->out_sha[3]);
    RUN_UNTIL(&x, worker_daemon_pending_events(x.d) == 0);
    fx_fini(&x);
}

/* While tasks queued on the node keep its slot busy, starts and successful
 * ends wait (report hold) to go out together; a cancel goes at once and
 * takes everything waiting with it, in order. The hold here is longer than
 * the test, so only the cancel can have sent them. */
LEAK_TEST(link, routine_reports_wait_while_queued_work_keeps_the_slot_busy)
{
    fx_t x;
    fx_init(&x);
    fake_listen(&x.f);
    fx_daemon_hold(&x, 0, 600000);
    RUN_UNTIL(&x, x.f.nregister >= 1 && worker_daemon_registered(x.d));
    const char *const quick[] = {"sleep 0.3", NULL};
    /* one core: 81 runs, 82..84 wait behind it in a line */
    assign_after(&x, 81, 0, true, quick, 1);
    assign_after(&x, 82, 81, false, SLEEP_ARGV, 1);
    assign_after(&x, 83, 82, false, SLEEP_ARGV, 1);
    assign_after(&x, 84, 83, false, SLEEP_ARGV, 1);
    RUN_UNTIL(&x, log_has(&x, "attempt 81.0 exited: code 0"));
    RUN_UNTIL(&x, log_has(&x, "attempt 82.0 (job 7) started"));
    /* heartbeats sent after that arrive, the events do not: held */
    int hb = x.f.nheartbeats;
    RUN_UNTIL(&x, x.f.nheartbeats >= hb + 2);
    cr_expect_eq(fake_count(&x.f, 81, EXITED), 0, "a successful end was sent at once");
    cr_expect_eq(fake_count(&x.f, 82, STARTED), 0, "a start was sent at once");
    /* 84 is cancelled before it starts: that event goes at once, with all */
    cancel(&x, 84, 100);
    RUN_UNTIL(&x, fake_count(&x.f, 84, EXITED) == 1);
    cr_expect_eq(fake_count(&x.f, 81, STARTED), 1);
    cr_expect_eq(fake_count(&x.f, 81, EXITED), 1);
    cr_expect_eq(fake_count(&x.f, 82, STARTED), 1);
    cr_expect(fake_find(&x.f, 84, EXITED)->cancelled);
    for (int i = 1; i < x.f.nevents; i++)
        cr_expect_gt(x.f.ev[i].seq, x.f.ev[i - 1].seq, "events arrive in order");
    /* 82 is cancelled (at once); 83 starts with nothing queued behind it,
     * below the hold, so its start goes at once too (the hold is longer
     * than the test) */
    cancel(&x, 82, 100);
    RUN_UNTIL(&x, fake_count(&x.f, 83, STARTED) == 1);
    cr_expect(fake_find(&x.f, 82, EXITED)->cancelled);
    fx_fini(&x);
}

/* A held report still goes out after the hold time, while the queue keeps
 * the hold on. */
LEAK_TEST(link, held_reports_go_out_after_the_hold_time)
{
    fx_t x;
    fx_init(&x);
    fake_listen(&x.f);
    fx_daemon_hold(&x, 0, 100);
    RUN_UNTIL(&x, x.f.nregister >= 1 && worker_daemon_registered(x.d));
    const char *const quick[] = {"sleep 0.3", NULL};
    assign_after(&x, 91, 0, true, quick, 1);
    assign_after(&x, 92, 91, false, SLEEP_ARGV, 1);
    assign_after(&x, 93, 92, false, SLEEP_ARGV, 1);
    assign_after(&x, 94, 93, false, SLEEP_ARGV, 1);
    RUN_UNTIL(&x, fake_count(&x.f, 91, EXITED) == 1 && fake_count(&x.f, 92, STARTED) == 1);
    cr_expect_eq(fake_count(&x.f, 92, EXITED), 0, "92 still runs (30 s): the timer sent them");
    const seen_event_t *e = fake_find(&x.f, 91, EXITED);
    cr_expect_eq(e->exit_code, 0);
    fx_fini(&x);
}

/* The processes made ready ahead (named cairn-queued) among this test
 * process's children, up to max; how many. */
static int queued_children(pid_t *pids, int max)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    cr_assert_not_null(d);
    while ((e = readdir(d))) {
        char path[300], buf[512];
        int pid = atoi(e->d_name), ppid = 0;
        if (pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        FILE *fp = fopen(path, "r");
        if (!fp)
            continue;
        size_t len = fread(buf, 1, sizeof(buf) - 1, fp);
        fclose(fp);
        buf[len] = '\0';
        const char *rp = strrchr(buf, ')');
        if (!strstr(buf, "(cairn-queued)") || !rp || sscanf(rp + 2, "%*c %d", &ppid) != 1 ||
            ppid != getpid() || rp[2] == 'Z')
            continue;
        if (n < max)
            pids[n] = pid;
        n++;
    }
    closedir(d);
    return n;
}

/* One process is parked, and it is neither of these. */
static bool one_queued_child_new(const pid_t *old)
{
    pid_t p[4];
    return queued_children(p, 4) == 1 && p[0] != old[0] && p[0] != old[1];
}

/* The attempts behind a running one wait as ready processes (two deep);
 * when the first of them is cancelled its process goes, and so does the
 * one parked behind it, which is made again behind the running one and
 * starts when that one ends. */
LEAK_TEST(link, a_cancelled_queued_attempt_takes_its_ready_process_along)
{
    fx_t x;
    pid_t ready[4];
    if (!EXEC_CAN_GATE)
        cr_skip_test("no gated starts in this build");
    fx_init(&x);
    fake_listen(&x.f);
    fx_daemon(&x, 0);
    RUN_UNTIL(&x, x.f.nregister >= 1 && worker_daemon_registered(x.d));
    const char *const done[] = {"true", NULL};
    assign_after(&x, 91, 0, false, SLEEP_ARGV, 1);
    assign_after(&x, 92, 91, false, SLEEP_ARGV, 1);
    assign_after(&x, 93, 92, false, done, 1);
    RUN_UNTIL(&x, fake_count(&x.f, 91, STARTED) == 1 && queued_children(ready, 4) == 2);
    pid_t old[2] = {ready[0], ready[1]};
    cancel(&x, 92, 100);
    RUN_UNTIL(&x, fake_count(&x.f, 92, EXITED) == 1);
    cr_expect(fake_find(&x.f, 92, EXITED)->cancelled);
    for (int i = 0; i < 2; i++)
        cr_expect(kill(old[i], 0) < 0 && errno == ESRCH, "ready process %d is left", (int)old[i]);
    RUN_UNTIL(&x, one_queued_child_new(old)); /* 93's, behind 91 now */
    cr_expect_eq(fake_count(&x.f, 93, STARTED), 0, "93 started while 91 runs");
    cancel(&x, 91, 100);
    RUN_UNTIL(&x, fake_count(&x.f, 93, EXITED) == 1);
    cr_expect_eq(fake_count(&x.f, 92, STARTED), 0);
    cr_expect_eq(fake_count(&x.f, 93, STARTED), 1);
    cr_expect_eq(fake_find(&x.f, 93, EXITED)->exit_code, 0);
    cr_expect_eq(queued_children(ready, 4), 0, "a ready process is left");
    fx_fini(&x);
}

/* ---- who may command the worker ------------------------------------------ */

/* A join key file for the worker, mode 600; k gets the same key. */
static void write_key(fx_t *x, char *path, size_t len, cairn_join_key_t *k)
{
    snprintf(path, len, "%s/join.key", x->dir);
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp);
    fputs("c2VjcmV0LWZvci1saW5rLXRlc3RzLTEyMzQ1Njc4\n", fp);
    fclose(fp);
    cr_assert_eq(chmod(path, 0600), 0);
    cr_assert_eq(cairn_join_key_load(path, k, NULL), 0);
}

/* A task that leaves a mark when it runs; the path of the mark. */
static void assign_marker(fx_t *x, uint64_t attempt, char *mark, size_t len)
{
    snprintf(mark, len, "%s/ran-%llu", x->dir, (unsigned long long)attempt);
    char script[300];
    snprintf(script, sizeof(script), "touch '%s'", mark);
    Cairn__AssignTask a = CAIRN__ASSIGN_TASK__INIT;
    char *argv[] = {script};
    uint32_t cores[] = {0};
    a.attempt_id = attempt;
    a.job_id = 7;
    a.task_name = "mark";
    a.attempt_number = 1;
    a.argv = argv;
    a.n_argv = 1;
    a.shell = true;
    a.world_size = 1;
    a.cores = cores;
    a.n_cores = 1;
    a.user = "root";
    if (geteuid() != 0) {
        static char me[64];
        snprintf(me, sizeof(me), "%s", getenv("USER") ? getenv("USER") : "");
        a.user = me;
    }
    fake_send(&x->f, CAIRN_MSG_ASSIGN_TASK, &a.base);
}

/* Commands on a connection where the worker is not registered are refused:
 * here every registration is refused, and an AssignTask sent anyway must
 * not run. */
LEAK_TEST(link, commands_before_registration_are_refused)
{
    fx_t x;
    fx_init(&x);
    x.f.refuse = 1000;
    fake_listen(&x.f);
    fx_spawn(&x, NULL);
    RUN_UNTIL(&x, x.f.nregister >= 1);
    char mark[200];
    assign_marker(&x, 81, mark, sizeof(mark));
    RUN_UNTIL(&x, log_has(&x, "refused assign_task: the scheduler has not accepted this worker"));
    cr_expect_eq(access(mark, F_OK), -1, "the task ran");
    cr_expect_eq(fake_count(&x.f, 81, STARTED) + fake_count(&x.f, 81, FAILED), 0);
    fx_fini(&x);
}

/* A worker with the join key takes work only from a scheduler that proves
 * the key: one that accepts it without a proof (it does not hold the key:
 * anyone answering the dial), or with a wrong one, gets nothing run. */
LEAK_TEST(link, a_scheduler_without_the_join_key_gets_no_task_run)
{
    for (int wrong = 0; wrong < 2; wrong++) {
        fx_t x;
        fx_init(&x);
        char path[200];
        cairn_join_key_t k;
        write_key(&x, path, sizeof(path), &k);
        x.f.key = wrong ? &k : NULL;
        x.f.wrong_proof = wrong;
        fake_listen(&x.f);
        const char *extra[] = {"--join-key", path, NULL};
        fx_spawn(&x, extra);
        RUN_UNTIL(&x, log_has(&x, "without proving that it holds the join key"));
        char mark[200];
        assign_marker(&x, 82, mark, sizeof(mark));
        RUN_UNTIL(&x, log_has(&x, "refused assign_task"));
        cr_expect_eq(access(mark, F_OK), -1, "the task ran (%s proof)", wrong ? "wrong" : "no");
        cr_expect_eq(fake_count(&x.f, 82, STARTED), 0);
        cr_expect_eq(x.f.nheartbeats, 0, "heartbeats to an unproven scheduler");
        fx_fini(&x);
    }
}

/* The same worker takes work from the scheduler that proves the key. */
LEAK_TEST(link, a_scheduler_that_proves_the_join_key_gets_work_done)
{
    fx_t x;
    fx_init(&x);
    char path[200];
    cairn_join_key_t k;
    write_key(&x, path, sizeof(path), &k);
    x.f.key = &k;
    fake_listen(&x.f);
    const char *extra[] = {"--join-key", path, NULL};
    fx_spawn(&x, extra);
    RUN_UNTIL(&x, x.f.nheartbeats >= 1);
    char mark[200];
    assign_marker(&x, 83, mark, sizeof(mark));
    RUN_UNTIL(&x, fake_count(&x.f, 83, EXITED) == 1);
    cr_expect_eq(access(mark, F_OK), 0, "the task did not run");
    cr_expect_eq(fake_find(&x.f, 83, EXITED)->exit_code, 0);
    fx_fini(&x);
}

/* ---- what a task may not reach -------------------------------------------- */

/* A fake scheduler and an in-process worker registered with it. */
static void fx_up(fx_t *x)
{
    fx_init(x);
    fake_listen(&x->f);
    fx_daemon(x, 0);
    RUN_UNTIL(x, x->f.nregister >= 1 && worker_daemon_registered(x->d));
}

/* The assignment of attempt id (job 7, task train, core 0) running argv[0]
 * (a shell script when shell) as user, in workdir wd with outputs. */
static void task_msg(Cairn__AssignTask *a, uint64_t id, char *user, char **argv, bool shell,
                     char *wd, char **outputs, size_t noutputs)
{
    static uint32_t core0 = 0;
    cairn__assign_task__init(a);
    a->attempt_id = id;
    a->job_id = 7;
    a->task_name = "train";
    a->attempt_number = 1;
    a->user = user;
    a->argv = argv;
    a->n_argv = 1;
    a->shell = shell;
    a->world_size = 1;
    a->cores = &core0;
    a->n_cores = 1;
    a->kill_grace_ms = 200;
    a->workdir = wd ? wd : "";
    a->outputs = outputs;
    a->n_outputs = noutputs;
}

/* An assignment that names no submitter fails to start, saying so; the
 * worker goes on. */
LEAK_TEST(link, an_assignment_without_submitter_fails_to_start)
{
    fx_t x;
    fx_up(&x);
    Cairn__AssignTask a;
    char *argv[] = {"true"};
    task_msg(&a, 101, NULL, argv, false, NULL, NULL, 0);
    fake_send(&x.f, CAIRN_MSG_ASSIGN_TASK, &a.base);
    RUN_UNTIL(&x, fake_count(&x.f, 101, FAILED) == 1);
    cr_expect(strstr(fake_find(&x.f, 101, FAILED)->error, "names no submitter"), "error: %s",
              fake_find(&x.f, 101, FAILED)->error);
    cr_expect_eq(fake_count(&x.f, 101, STARTED), 0);
    const char *const ok[] = {"true", NULL};
    assign(&x, 102, false, ok, 1);
    RUN_UNTIL(&x, fake_count(&x.f, 102, EXITED) == 1);
    fx_fini(&x);
}

/* ReadLog, which the worker serves as root, reads no file a log was
 * replaced by: a link to elsewhere is refused, nothing of it is sent. */
LEAK_TEST(link, read_log_refuses_a_log_replaced_by_a_link)
{
    fx_t x;
    fx_up(&x);
    const char *const argv[] = {"echo hi", NULL};
    assign(&x, 103, true, argv, 1);
    RUN_UNTIL(&x, fake_count(&x.f, 103, EXITED) == 1);
    char log[256], secret[256];
    snprintf(log, sizeof(log), "%s/logs/7/train.103.0.out", x.state_dir);
    snprintf(secret, sizeof(secret), "%s/secret", x.dir);
    FILE *fp = fopen(secret, "w");
    cr_assert_not_null(fp);
    fputs("s3cret\n", fp);
    fclose(fp);
    cr_assert_eq(unlink(log), 0);
    cr_assert_eq(symlink(secret, log), 0);
    read_log(&x, 103, CAIRN__LOG_STREAM__LOG_STREAM_STDOUT, 0, 4096, 104);
    cr_expect(strstr(x.f.chunk_error, "refused"), "error: '%s'", x.f.chunk_error);
    cr_expect_eq(x.f.chunk_len, 0, "sent: %s", x.f.chunk_data);
    fx_fini(&x);
}

/* A CancelTask for an attempt that has ended and whose outputs are being
 * hashed stops the hashing: the attempt is reported at once, with what was
 * not hashed "not hashed: cancelled", even while the hashing thread is
 * stuck (here: the pool's threads are all held). */
LEAK_TEST(link, a_cancel_stops_the_hashing_of_an_ended_attempt)
{
    fx_t x;
    pool_block_t b;
    fx_up(&x);
    pool_block(&x.loop, &b); /* nothing has used the pool yet */
    char wd[128];
    snprintf(wd, sizeof(wd), "%s/wd", x.dir);
    cr_assert_eq(mkdir(wd, 0755), 0);
    Cairn__AssignTask a;
    char *argv[] = {"printf abc > model.bin"};
    char *outputs[] = {"model.bin"};
    task_msg(&a, 105, self_user(), argv, true, wd, outputs, 1);
    fake_send(&x.f, CAIRN_MSG_ASSIGN_TASK, &a.base);
    RUN_UNTIL(&x, log_has(&x, "attempt 105: hashing 1 output"));
    cr_expect_eq(fake_count(&x.f, 105, EXITED), 0, "reported before its outputs were hashed");
    cancel(&x, 105, 100);
    RUN_UNTIL(&x, fake_count(&x.f, 105, EXITED) == 1);
    const seen_event_t *e = fake_find(&x.f, 105, EXITED);
    cr_expect_eq(e->exit_code, 0);
    cr_assert_eq(e->noutputs, 1);
    cr_expect_str_eq(e->out_error[0], "not hashed: cancelled");
    cr_expect_str_empty(e->out_sha[0]);
    pool_unblock(&x.loop, &b, DEADLINE_MS);
    fx_fini(&x);
}

/* fx_up() for a task of nobody's (skipped unless root), in wd: a directory
 * nobody can write to, reachable by all, with a file only root may read;
 * removed with the fixture's. */
static void fx_up_for_nobody(fx_t *x, char *wd, size_t len)
{
    if (geteuid() != 0 || !getpwnam("nobody"))
        cr_skip_test("needs root and a nobody account");
    fx_up(x);
    snprintf(wd, len, "%s/wd", x->dir);
    cr_assert_eq(chmod(x->dir, 0711), 0);
    cr_assert_eq(mkdir(wd, 0777), 0);
    cr_assert_eq(chmod(wd, 0777), 0);
    char path[256];
    snprintf(path, sizeof(path), "%s/secret", wd);
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp);
    fputs("abc", fp);
    fclose(fp);
    cr_assert_eq(chmod(path, 0600), 0);
}

/* A root worker hashes a task's outputs with the task user's rights: a
 * file that user could not read is not read for it. */
LEAK_TEST(link, outputs_are_hashed_with_the_submitters_rights)
{
    fx_t x;
    char wd[128];
    fx_up_for_nobody(&x, wd, sizeof(wd));
    Cairn__AssignTask a;
    char *argv[] = {"printf abc > mine"};
    char *outputs[] = {"secret", "mine"};
    task_msg(&a, 106, "nobody", argv, true, wd, outputs, 2);
    fake_send(&x.f, CAIRN_MSG_ASSIGN_TASK, &a.base);
    RUN_UNTIL(&x, fake_count(&x.f, 106, EXITED) == 1);
    const seen_event_t *e = fake_find(&x.f, 106, EXITED);
    cr_expect_eq(e->exit_code, 0, "%s", e->error);
    cr_assert_eq(e->noutputs, 2);
    cr_expect_str_eq(e->out_error[0], "cannot open: Permission denied");
    cr_expect_str_empty(e->out_sha[0]);
    const char *abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    cr_expect_str_eq(e->out_sha[1], abc);
    fx_fini(&x);
}

/* A cached result is checked with the task user's rights too: outputs
 * that user cannot read are no hit (the task runs), although root could
 * read them and they match. */
LEAK_TEST(link, a_cache_hit_is_checked_with_the_submitters_rights)
{
    fx_t x;
    char wd[128];
    fx_up_for_nobody(&x, wd, sizeof(wd));
    Cairn__AssignTask a;
    Cairn__OutputHash hit = CAIRN__OUTPUT_HASH__INIT, *hits[] = {&hit};
    char *argv[] = {"true"};
    char *outputs[] = {"secret"};
    hit.path = "secret";
    hit.sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    hit.size = 3;
    task_msg(&a, 107, "nobody", argv, false, wd, outputs, 1);
    a.cache_outputs = hits;
    a.n_cache_outputs = 1;
    fake_send(&x.f, CAIRN_MSG_ASSIGN_TASK, &a.base);
    RUN_UNTIL(&x, fake_count(&x.f, 107, EXITED) == 1);
    cr_expect_eq(fake_count(&x.f, 107, STARTED), 1, "reported as a cache hit, not run");
    cr_expect(log_has(&x, "outputs differ from the cached result"));
    fx_fini(&x);
}

/* Checkpoints through the daemon: a PREEMPTED cancel sends the task its
 * checkpoint signal (USR1, which it traps to write its checkpoint) instead
 * of SIGTERM; STARTED lists the checkpoint directory as the attempt found
 * it (empty), EXITED as it left it (the file, its SHA-256, size and
 * mtime). A second attempt of the task finds the directory as the first
 * left it: its STARTED list is the first's EXITED list. */
LEAK_TEST(link, checkpoint_listings_and_preemption)
{
    fx_t x;
    fx_init(&x);
    fake_listen(&x.f);
    fx_daemon(&x, 0);
    RUN_UNTIL(&x, x.f.nregister >= 1 && worker_daemon_registered(x.d));
    char wd[128], ready[160];
    snprintf(wd, sizeof(wd), "%s/wd", x.dir);
    snprintf(ready, sizeof(ready), "%s/ready", wd);
    cr_assert_eq(mkdir(wd, 0755), 0);
    char *argv[2][1] = {{"trap 'printf state > \"$CAIRN_CHECKPOINT_DIR/s.ckpt\"; exit 0' USR1; "
                         "trap 'exit 9' TERM; touch ready; while :; do sleep 0.05; done"},
                        {"test \"$(cat \"$CAIRN_CHECKPOINT_DIR/s.ckpt\")\" = state"}};
    uint32_t cores[] = {0};
    for (int i = 0; i < 2; i++) {
        Cairn__AssignTask a = CAIRN__ASSIGN_TASK__INIT;
        a.attempt_id = 91 + (uint64_t)i;
        a.job_id = 7;
        a.task_name = "train";
        a.user = self_user();
        a.attempt_number = 1 + (uint32_t)i;
        a.argv = argv[i];
        a.n_argv = 1;
        a.shell = true;
        a.world_size = 1;
        a.cores = cores;
        a.n_cores = 1;
        a.workdir = wd;
        a.checkpoint_dir = ".cairn-checkpoints/job-7/0-train";
        a.checkpoint_signal = SIGUSR1;
        fake_send(&x.f, CAIRN_MSG_ASSIGN_TASK, &a.base);
        if (i == 0) {
            RUN_UNTIL(&x, fake_count(&x.f, 91, STARTED) == 1 && access(ready, F_OK) == 0);
            Cairn__CancelTask c = CAIRN__CANCEL_TASK__INIT;
            c.attempt_id = 91;
            c.reason = CAIRN__CANCEL_TASK__REASON__PREEMPTED;
            c.grace_ms = 20000;
            c.signal = SIGUSR1;
            fake_send(&x.f, CAIRN_MSG_CANCEL_TASK, &c.base);
        }
        RUN_UNTIL(&x, fake_count(&x.f, 91 + (uint64_t)i, EXITED) == 1);
    }
    const seen_event_t *s1 = fake_find(&x.f, 91, STARTED), *e1 = fake_find(&x.f, 91, EXITED);
    const seen_event_t *s2 = fake_find(&x.f, 92, STARTED), *e2 = fake_find(&x.f, 92, EXITED);
    cr_expect_eq(s1->nckpt, 0, "a fresh directory lists nothing");
    cr_expect(e1->cancelled);
    cr_expect_eq(e1->signal, 0);
    cr_expect_eq(e1->exit_code, 0, "exit %d: not ended by its checkpoint signal", e1->exit_code);
    cr_assert_eq(e1->nckpt, 1);
    char sha[65];
    cairn_sha256_hex("state", 5, sha);
    cr_expect_str_eq(e1->ckpt_path[0], "s.ckpt");
    cr_expect_str_eq(e1->ckpt_sha[0], sha);
    cr_expect_eq(e1->ckpt_size[0], 5);
    cr_expect_str_empty(e1->ckpt_error[0]);
    cr_expect_gt(e1->ckpt_mtime[0], 0);
    /* the second attempt resumed from it: it found the first one's file */
    cr_expect_eq(e2->exit_code, 0, "the checkpoint was not there");
    cr_assert_eq(s2->nckpt, e1->nckpt);
    cr_expect_str_eq(s2->ckpt_path[0], e1->ckpt_path[0]);
    cr_expect_str_eq(s2->ckpt_sha[0], e1->ckpt_sha[0]);
    cr_expect_eq(s2->ckpt_size[0], e1->ckpt_size[0]);
    cr_expect_eq(s2->ckpt_mtime[0], e1->ckpt_mtime[0]);
    cr_expect_eq(e2->nckpt, 1);
    RUN_UNTIL(&x, worker_daemon_pending_events(x.d) == 0);
    fx_fini(&x);
}

/* A hostile AssignTask: a checkpoint signal out of range or a path over
 * the bound fails to start with a message naming it; nothing runs. */
LEAK_TEST(link, hostile_checkpoint_settings_are_refused)
{
    fx_t x;
    fx_init(&x);
    fake_listen(&x.f);
    fx_daemon(&x, 0);
    RUN_UNTIL(&x, x.f.nregister >= 1 && worker_daemon_registered(x.d));
    char *argv[] = {"true"};
    uint32_t cores[] = {0};
    char longpath[2048];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    for (int i = 0; i < 3; i++) {
        Cairn__AssignTask a = CAIRN__ASSIGN_TASK__INIT;
        a.attempt_id = 95 + (uint64_t)i;
        a.job_id = 7;
        a.task_name = "train";
        a.user = self_user();
        a.attempt_number = 1;
        a.argv = argv;
        a.n_argv = 1;
        a.world_size = 1;
        a.cores = cores;
        a.n_cores = 1;
        a.checkpoint_signal = i == 0 ? 1000 : i == 1 ? -3 : 0;
        a.checkpoint_dir = i == 2 ? longpath : "";
        fake_send(&x.f, CAIRN_MSG_ASSIGN_TASK, &a.base);
        RUN_UNTIL(&x, fake_count(&x.f, 95 + (uint64_t)i, FAILED) == 1);
    }
    cr_expect(strstr(fake_find(&x.f, 95, FAILED)->error, "checkpoint signal 1000 out of range"),
              "%s", fake_find(&x.f, 95, FAILED)->error);
    cr_expect(strstr(fake_find(&x.f, 96, FAILED)->error, "checkpoint signal -3 out of range"), "%s",
              fake_find(&x.f, 96, FAILED)->error);
    cr_expect(strstr(fake_find(&x.f, 97, FAILED)->error, "checkpoint directory longer than 1024"),
              "%s", fake_find(&x.f, 97, FAILED)->error);
    cr_expect_eq(fake_count(&x.f, 95, STARTED) + fake_count(&x.f, 96, STARTED) +
                     fake_count(&x.f, 97, STARTED),
                 0);
    RUN_UNTIL(&x, worker_daemon_pending_events(x.d) == 0);
    fx_fini(&x);
}
