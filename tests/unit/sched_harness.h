/* Harness for tests of a real cairn-scheduler process: start and stop it on
 * a temporary state directory, a fake worker speaking the worker protocol
 * over pair1, and a client. Everything waits with deadlines. */
#ifndef CAIRN_TEST_SCHED_HARNESS_H
#define CAIRN_TEST_SCHED_HARNESS_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster/client.h"
#include "common/clock.h"
#include "pg_harness.h"
#include "proto/envelope.h"

/* A TCP port on 127.0.0.1 free right now. */
static inline int h_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

/* A task running script with /bin/sh -c (argv_store holds its argv). */
static inline Cairn__TaskSpec h_shell_task(const char *name, const char *script, char **argv_store,
                                           Cairn__ResourceRequest *rr)
{
    Cairn__TaskSpec t = CAIRN__TASK_SPEC__INIT;
    argv_store[0] = (char *)script;
    t.name = (char *)name;
    t.shell = 1;
    t.n_argv = 1;
    t.argv = argv_store;
    t.resources = rr;
    return t;
}

/* Copy the built binary `name` into a new directory that every user can
 * enter, for a test that runs it as another user (nobody): from a checkout
 * that user cannot reach (a clone in root's home, mode 0700) the build's
 * own copy cannot be executed. path receives the copy's path; the caller
 * removes it with h_shared_bin_remove(). */
static inline void h_shared_bin(const char *name, char *path, size_t n)
{
    char dir[] = "/tmp/cairn-bin-XXXXXX", src[512];
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(chmod(dir, 0755), 0);
    snprintf(src, sizeof(src), "%s/%s", CAIRN_BIN_DIR, name);
    snprintf(path, n, "%s/%s", dir, name);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(in, 0, "%s: %s", src, strerror(errno));
    int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
    cr_assert_geq(out, 0, "%s: %s", path, strerror(errno));
    char buf[1 << 16];
    ssize_t r;
    while ((r = read(in, buf, sizeof(buf))) > 0)
        cr_assert_eq(write(out, buf, (size_t)r), r, "copying %s: %s", src, strerror(errno));
    cr_assert_eq(r, 0, "reading %s: %s", src, strerror(errno));
    close(in);
    cr_assert_eq(fchmod(out, 0755), 0);
    cr_assert_eq(close(out), 0);
}

/* Remove a copy made by h_shared_bin() and its directory. */
static inline void h_shared_bin_remove(const char *path)
{
    char dir[512];
    if ((size_t)snprintf(dir, sizeof(dir), "%.511s", path) >= sizeof(dir))
        return;
    char *slash = strrchr(dir, '/');
    if (!slash || unlink(path) != 0)
        return;
    *slash = '\0';
    rmdir(dir);
}

typedef struct h_sched {
    char dir[256];
    char workers[300], clients[300];
    pid_t pid;
    cairn_client_t *client;
    /* CAIRN_TEST_STORE=pg: the state in a PostgreSQL server of the test's
     * own (pg_harness.h), given to every start as --store */
    h_pg_t pg;
} h_sched_t;

/* Whether this run keeps the scheduler's state in PostgreSQL (CMake
 * registers the daemon tests a second time, NAME_pg, with
 * CAIRN_TEST_STORE=pg). */
static inline bool h_store_pg(void)
{
    const char *e = getenv("CAIRN_TEST_STORE");
    return e && !strcmp(e, "pg");
}

/* Start cairn-scheduler with extra args (NULL-terminated) on dir. */
static inline void h_sched_start(h_sched_t *s, const char *const *extra)
{
    const char *argv[32];
    int n = 0;
    static char bin[512];
    snprintf(bin, sizeof(bin), "%s/cairn-scheduler", CAIRN_BIN_DIR);
    argv[n++] = bin;
    argv[n++] = "--state-dir";
    argv[n++] = s->dir;
    argv[n++] = "--log-level";
    argv[n++] = "debug";
    argv[n++] = "--log-file";
    static char logf[300];
    snprintf(logf, sizeof(logf), "%s/scheduler.log", s->dir);
    argv[n++] = logf;
    if (s->pg.url[0]) {
        argv[n++] = "--store";
        argv[n++] = s->pg.url;
    }
    for (int i = 0; extra && extra[i] && n < 30; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    snprintf(s->workers, sizeof(s->workers), "ipc://%s/workers.sock", s->dir);
    snprintf(s->clients, sizeof(s->clients), "ipc://%s/clients.sock", s->dir);
    s->pid = fork();
    cr_assert_geq(s->pid, 0);
    if (s->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    if (!s->client)
        cr_assert_eq(cairn_client_create(s->clients, 2000, &s->client, NULL), 0);
    /* until it answers on its default ipc endpoints (a fake worker's
     * first send then finds it listening, however loaded the machine) or
     * exits (a start it refuses: the test reaps it), at most 30 s; a test
     * that moves an endpoint waits in its own way */
    for (int i = 0; extra && extra[i]; i++)
        if (!strcmp(extra[i], "--clients") || !strcmp(extra[i], "--workers"))
            return;
    int64_t deadline = cairn_mono_ms() + 30000;
    while (cairn_mono_ms() < deadline) {
        siginfo_t si = {0};
        if (waitid(P_PID, (id_t)s->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid)
            return;
        Cairn__NodesRequest nq = CAIRN__NODES_REQUEST__INIT;
        ProtobufCMessage *nr = NULL;
        if (cairn_client_call(s->client, CAIRN_MSG_NODES, &nq.base, CAIRN_MSG_NODES_REPLY, &nr,
                              NULL) == 0) {
            cairn_msg_free(nr);
            return;
        }
    }
}

static inline void h_sched_init(h_sched_t *s)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->dir, sizeof(s->dir), "/tmp/cairn-sched-test-XXXXXX");
    cr_assert_not_null(mkdtemp(s->dir));
    if (h_store_pg()) {
        cr_assert(h_pg_available(), "CAIRN_TEST_STORE=pg without PostgreSQL");
        cr_assert_eq(h_pg_start(&s->pg), 0);
    }
}

/* Stop with a signal and reap, with a deadline; returns the exit status. */
static inline int h_sched_stop(h_sched_t *s, int sig)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, sig);
    int st = 0;
    int64_t deadline = cairn_mono_ms() + 10000;
    while (waitpid(s->pid, &st, WNOHANG) == 0) {
        if (cairn_mono_ms() > deadline) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
            cr_assert_fail("the scheduler did not stop in time");
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL); /* polling a child's exit, not synchronisation */
    }
    s->pid = 0;
    return st;
}

/* " --store 'URL'" when the state is in PostgreSQL, else "": for command
 * lines a test writes itself. */
static inline const char *h_store_arg(const h_sched_t *s)
{
    static char arg[600];
    if (!s->pg.url[0])
        return "";
    snprintf(arg, sizeof(arg), " --store '%s'", s->pg.url);
    return arg;
}

/* Replay the (stopped) scheduler's journal, re-deriving every placement:
 * it must give the same placements and state. Returns the placements. */
static inline unsigned long h_verify_journal(h_sched_t *s)
{
    char cmd[2048], out[400];
    snprintf(out, sizeof(out), "%s/verify.txt", s->dir);
    snprintf(cmd, sizeof(cmd),
             "'%s/cairn-scheduler' --verify-journal --state-dir '%s' %s%s%s "
             ">/dev/null 2>'%s'",
             CAIRN_BIN_DIR, s->dir, s->pg.url[0] ? "--store '" : "", s->pg.url,
             s->pg.url[0] ? "'" : "", out);
    int rc = system(cmd);
    char line[600] = "";
    FILE *f = fopen(out, "r");
    if (f) {
        if (!fgets(line, sizeof(line), f))
            line[0] = '\0';
        fclose(f);
    }
    cr_assert_eq(rc, 0, "journal verification failed: %s", line);
    cr_assert(strstr(line, "replays identically") != NULL, "%s", line);
    const char *p = strstr(line, "entries, ");
    return p ? strtoul(p + 9, NULL, 10) : 0;
}

static inline void h_sched_fini(h_sched_t *s)
{
    if (s->pid > 0)
        h_sched_stop(s, SIGKILL);
    cairn_client_destroy(s->client);
    s->client = NULL;
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", s->dir);
    h_pg_stop(&s->pg);
}

/* Lines of the scheduler's log (its --log-file) that contain needle. */
static inline int h_log_count(const h_sched_t *s, const char *needle)
{
    char path[400], line[4096];
    snprintf(path, sizeof(path), "%s/scheduler.log", s->dir);
    FILE *f = fopen(path, "r");
    int n = 0;
    while (f && fgets(line, sizeof(line), f))
        n += strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return n;
}

/* Wait (with a deadline) until the log has want lines containing needle. */
static inline void h_wait_log(const h_sched_t *s, const char *needle, int want)
{
    int64_t deadline = cairn_mono_ms() + 10000;
    while (h_log_count(s, needle) < want) {
        cr_assert_lt(cairn_mono_ms(), deadline, "the log never said %d x: %s", want, needle);
        nng_msleep(10); /* polling a file with a deadline */
    }
}

/* GET path from 127.0.0.1:port, retried until the server answers. */
static inline char *h_http_get(int port, const char *path)
{
    int64_t deadline = cairn_mono_ms() + 10000;
    while (cairn_mono_ms() < deadline) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        struct timeval tv = {5, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
            close(fd);
            continue;
        }
        char req[256];
        int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", path);
        cr_assert_eq(write(fd, req, (size_t)n), n);
        size_t cap = 65536, len = 0;
        char *buf = calloc(1, cap);
        ssize_t r;
        while ((r = read(fd, buf + len, cap - len - 1)) > 0)
            len += (size_t)r;
        close(fd);
        return buf;
    }
    cr_assert_fail("no HTTP answer on port %d", port);
    return NULL;
}

/* One request/reply; retries while the scheduler is still starting. */
static inline ProtobufCMessage *h_call(h_sched_t *s, cairn_msg_type_t type,
                                       const ProtobufCMessage *req, cairn_msg_type_t want,
                                       cairn_error_t *err)
{
    ProtobufCMessage *rep = NULL;
    int64_t deadline = cairn_mono_ms() + 10000;
    /* as the cairn CLI does (cluster/main.c): reads are resent after 1 s, so
     * that they ride over an endpoint the scheduler reopened (nng 1.5.2's
     * handshake wedge, scheduler/watchdog.h) and over a restart (a request
     * in flight on the old connection is sent again on the new one, not
     * failed with "Connection reset"); writes never are */
    bool read = cairn_client_is_read(type, req);
    cairn_client_set_resend(s->client, read ? 1000 : 0);
    for (;;) {
        int rc = cairn_client_call(s->client, type, req, want, &rep, err);
        if (rc == 0)
            return rep;
        /* a read answered "try again later" (it rode a commit that failed
         * on a broken state disk) is asked again, as the CLI does */
        if ((rc != -ETIMEDOUT && !(read && rc == -EAGAIN)) || cairn_mono_ms() > deadline)
            return NULL;
        if (rc == -EAGAIN)
            nng_msleep(50);
    }
}

/* --- a fake worker -------------------------------------------------------- */

#define H_INBOX 512

typedef struct h_worker {
    nng_socket sock;
    char name[64];
    int ncores, ngpus;
    uint64_t seq;
    uint64_t incarnation; /* Register.incarnation: one per "worker process" */
    /* transport, as cairn_net's receiver side does it: messages unpacked
     * from batches wait here; every nng message received is confirmed */
    uint32_t rx_pipe;
    uint64_t rx;
    ProtobufCMessage *inbox[H_INBOX];
    cairn_msg_type_t inbox_type[H_INBOX];
    size_t nin;
    const Cairn__Auth *auth; /* sent with each Register when set (the caller's) */
    /* send each Register once and wait up to 10 s for its reply: a second
     * Register would replace the connection's join challenge */
    bool register_once;
    /* confirm what was received (Delivered) with the next message sent, as
     * a real worker does, not at once: then a worker that goes away sent
     * nothing just before (nng 1.5.2's TLS loses a peer's close that comes
     * with its last message, and the scheduler never sees it go) */
    bool confirm_late;
    uint64_t confirmed; /* messages of this connection confirmed */
} h_worker_t;

/* A fake worker's socket, not dialing yet. */
static inline void h_worker_socket(h_worker_t *w, const char *name, int ncores, int ngpus)
{
    memset(w, 0, sizeof(*w));
    snprintf(w->name, sizeof(w->name), "%s", name);
    w->ncores = ncores;
    w->ngpus = ngpus;
    static uint64_t opened;
    w->incarnation = ((uint64_t)getpid() << 20 | ++opened) & INT64_MAX;
    cr_assert_eq(nng_pair1_open(&w->sock), 0);
    nng_socket_set_ms(w->sock, NNG_OPT_RECONNMINT, 20);
    nng_socket_set_ms(w->sock, NNG_OPT_RECONNMAXT, 100);
    nng_socket_set_ms(w->sock, NNG_OPT_SENDTIMEO, 5000);
}

static inline void h_worker_open(h_worker_t *w, const char *url, const char *name, int ncores,
                                 int ngpus)
{
    h_worker_socket(w, name, ncores, ngpus);
    cr_assert_eq(nng_dial(w->sock, url, NULL, NNG_FLAG_NONBLOCK), 0);
}

static inline void h_worker_close(h_worker_t *w)
{
    nng_close(w->sock);
    for (size_t i = 0; i < w->nin; i++)
        cairn_msg_free(w->inbox[i]);
    w->nin = 0;
}

/* The same worker process loses its connection and dials again: its
 * name, incarnation and seqs stay; what it had not read is gone. */
static inline void h_worker_reconnect(h_worker_t *w, const char *url)
{
    char name[64];
    uint64_t seq = w->seq, inc = w->incarnation;
    snprintf(name, sizeof(name), "%s", w->name);
    h_worker_close(w);
    h_worker_open(w, url, name, w->ncores, w->ngpus);
    w->seq = seq;
    w->incarnation = inc;
}

/* Confirm the messages received on this connection (Delivered). */
static inline void h_confirm(h_worker_t *w)
{
    Cairn__Delivered d = CAIRN__DELIVERED__INIT;
    d.count = w->confirmed = w->rx;
    uint8_t *buf;
    size_t len;
    if (cairn_msg_encode(CAIRN_MSG_DELIVERED, &d.base, &buf, &len, NULL) == 0) {
        nng_send(w->sock, buf, len, NNG_FLAG_NONBLOCK);
        free(buf);
    }
}

static inline void h_send(h_worker_t *w, cairn_msg_type_t type, const ProtobufCMessage *msg)
{
    uint8_t *buf;
    size_t len;
    if (w->confirm_late && w->confirmed < w->rx)
        h_confirm(w);
    cr_assert_eq(cairn_msg_encode(type, msg, &buf, &len, NULL), 0);
    /* no connection yet (the scheduler restarted and the dialer has not
     * reconnected on a loaded machine): nothing was sent, send again, for
     * at most 30 s */
    int64_t deadline = cairn_mono_ms() + 30000;
    int rv;
    while ((rv = nng_send(w->sock, buf, len, 0)) == NNG_ETIMEDOUT && cairn_mono_ms() < deadline)
        ;
    cr_assert_eq(rv, 0, "fake worker send: %s", nng_strerror(rv));
    free(buf);
}

static inline void h_inbox_push(h_worker_t *w, const uint8_t *buf, size_t len)
{
    cairn_msg_type_t type;
    ProtobufCMessage *msg = NULL;
    if (cairn_msg_decode(buf, len, 0, &type, &msg, NULL) < 0)
        return;
    if (type == CAIRN_MSG_BATCH) {
        const Cairn__Batch *b = (const Cairn__Batch *)msg;
        for (size_t i = 0; i < b->n_messages; i++)
            h_inbox_push(w, b->messages[i].data, b->messages[i].len);
        cairn_msg_free(msg);
        return;
    }
    cr_assert_lt(w->nin, H_INBOX, "fake worker inbox full");
    w->inbox[w->nin] = msg;
    w->inbox_type[w->nin++] = type;
}

/* Receive the next message of type want within timeout_ms (others are
 * dropped); NULL on timeout. */
static inline ProtobufCMessage *h_recv(h_worker_t *w, cairn_msg_type_t want, int64_t timeout_ms)
{
    int64_t deadline = cairn_mono_ms() + timeout_ms;
    for (;;) {
        while (w->nin > 0) {
            ProtobufCMessage *msg = w->inbox[0];
            cairn_msg_type_t type = w->inbox_type[0];
            memmove(w->inbox, w->inbox + 1, (w->nin - 1) * sizeof(w->inbox[0]));
            memmove(w->inbox_type, w->inbox_type + 1, (w->nin - 1) * sizeof(w->inbox_type[0]));
            w->nin--;
            if (type == want)
                return msg;
            cairn_msg_free(msg);
        }
        if (cairn_mono_ms() >= deadline)
            return NULL;
        nng_socket_set_ms(w->sock, NNG_OPT_RECVTIMEO,
                          (nng_duration)(deadline - cairn_mono_ms() + 1));
        nng_msg *m = NULL;
        if (nng_recvmsg(w->sock, &m, 0) != 0)
            continue;
        uint32_t pipe = nng_pipe_id(nng_msg_get_pipe(m));
        if (pipe != w->rx_pipe)
            w->rx_pipe = pipe, w->rx = w->confirmed = 0;
        w->rx++;
        h_inbox_push(w, nng_msg_body(m), nng_msg_len(m));
        nng_msg_free(m);
        if (!w->confirm_late)
            h_confirm(w);
    }
}

/* Like h_recv, but sends a heartbeat every beat_ms meanwhile, as a live
 * worker does. */
static inline ProtobufCMessage *h_recv_beating(h_worker_t *w, cairn_msg_type_t want,
                                               int64_t timeout_ms, int64_t beat_ms)
{
    int64_t deadline = cairn_mono_ms() + timeout_ms;
    while (cairn_mono_ms() < deadline) {
        Cairn__Heartbeat hb = CAIRN__HEARTBEAT__INIT;
        hb.node_name = w->name;
        h_send(w, CAIRN_MSG_HEARTBEAT, &hb.base);
        int64_t slice = deadline - cairn_mono_ms();
        ProtobufCMessage *m = h_recv(w, want, slice < beat_ms ? slice : beat_ms);
        if (m)
            return m;
    }
    return NULL;
}

/* Register with a simple topology: 1 NUMA domain, ncores, ngpus H100s.
 * running/ranks list attempts it claims to run. Returns the reply. */
static inline Cairn__RegisterReply *h_register_ranks(h_worker_t *w, const uint64_t *running,
                                                     const uint32_t *ranks, size_t nrunning);
static inline Cairn__RegisterReply *h_register(h_worker_t *w, const uint64_t *running,
                                               size_t nrunning)
{
    return h_register_ranks(w, running, NULL, nrunning);
}

/* Register, claiming to run the given attempts (with their ranks). */
static inline Cairn__RegisterReply *h_register_ranks(h_worker_t *w, const uint64_t *running,
                                                     const uint32_t *ranks, size_t nrunning)
{
    Cairn__Register r = CAIRN__REGISTER__INIT;
    Cairn__NodeResources res = CAIRN__NODE_RESOURCES__INIT;
    Cairn__NumaDomain numa = CAIRN__NUMA_DOMAIN__INIT;
    Cairn__NumaDomain *numas[1] = {&numa};
    Cairn__Core cores[64], *cptr[64];
    Cairn__Gpu gpus[8], *gptr[8];
    char uuids[8][96];
    Cairn__RunningAttempt ra[16], *raptr[16];
    numa.os_index = 0;
    numa.memory_bytes = 64ull << 30;
    for (int i = 0; i < w->ncores; i++) {
        cairn__core__init(&cores[i]);
        cores[i].index = (uint32_t)i;
        cptr[i] = &cores[i];
    }
    for (int i = 0; i < w->ngpus; i++) {
        cairn__gpu__init(&gpus[i]);
        gpus[i].index = (uint32_t)i;
        gpus[i].vendor = CAIRN__GPU_VENDOR__GPU_VENDOR_NVIDIA;
        gpus[i].model = "NVIDIA H100 80GB HBM3";
        gpus[i].memory_bytes = 80ull << 30;
        snprintf(uuids[i], sizeof(uuids[i]), "GPU-%s-%d", w->name, i);
        gpus[i].uuid = uuids[i];
        gpus[i].pci_bus_id = "0000:00:00.0";
        gpus[i].locality_group = (uint32_t)i / 2;
        gpus[i].has_driver = 1;
        gptr[i] = &gpus[i];
    }
    res.n_numa_domains = 1;
    res.numa_domains = numas;
    res.n_cores = (size_t)w->ncores;
    res.cores = cptr;
    res.num_cores = res.num_pus = (uint32_t)w->ncores;
    res.n_gpus = (size_t)w->ngpus;
    res.gpus = gptr;
    res.memory_bytes = numa.memory_bytes;
    for (size_t i = 0; i < nrunning && i < 16; i++) {
        cairn__running_attempt__init(&ra[i]);
        ra[i].attempt_id = running[i];
        ra[i].rank = ranks ? ranks[i] : 0;
        raptr[i] = &ra[i];
    }
    r.node_name = w->name;
    r.worker_version = "test";
    r.protocol_version = CAIRN_PROTO_VERSION;
    r.resources = &res;
    r.n_running = nrunning;
    r.running = raptr;
    r.incarnation = w->incarnation;
    r.auth = (Cairn__Auth *)w->auth;
    /* a Register sent just as a restarted scheduler's old connection dies
     * is lost with it; a real worker registers again on the new
     * connection, this one asks again */
    for (int tries = 0; tries < (w->register_once ? 1 : 8); tries++) {
        h_send(w, CAIRN_MSG_REGISTER, &r.base);
        ProtobufCMessage *m = h_recv(w, CAIRN_MSG_REGISTER_REPLY, w->register_once ? 10000 : 1500);
        if (m)
            return (Cairn__RegisterReply *)m;
    }
    return NULL;
}

/* Register and require the scheduler to accept. A worker that dialled
 * again may find its old connection not yet gone on the scheduler's side
 * (its close is asynchronous): the scheduler refuses the name as "already
 * connected" until then, and the harness asks again as a real worker does
 * (worker/link.c, with its backoff), for up to 5 s. */
static inline void h_register_ok(h_worker_t *w)
{
    Cairn__RegisterReply *rr = h_register(w, NULL, 0);
    for (int tries = 0; tries < 50 && rr && !rr->accepted && strstr(rr->error, "already connected");
         tries++) {
        cairn_msg_free(&rr->base);
        nng_msleep(100); /* the worker's backoff, not a wait for a condition */
        rr = h_register(w, NULL, 0);
    }
    cr_assert(rr && rr->accepted, "%s: refused: %s", w->name, rr ? rr->error : "no reply");
    cairn_msg_free(&rr->base);
}

/* Report an event for an attempt (the next seq); waits for its Ack. */
static inline void h_event_rank(h_worker_t *w, uint64_t attempt, uint32_t rank,
                                Cairn__TaskEvent__Kind kind, int exit_code, int sig);
static inline void h_event(h_worker_t *w, uint64_t attempt, Cairn__TaskEvent__Kind kind,
                           int exit_code, int sig)
{
    h_event_rank(w, attempt, 0, kind, exit_code, sig);
}

/* Send an event with the given seq (h_event_seq: again, as a worker
 * resends an unacknowledged one) and wait for its Ack. */
static inline void h_event_seq(h_worker_t *w, uint64_t seq, uint64_t attempt, uint32_t rank,
                               Cairn__TaskEvent__Kind kind, int exit_code, int sig);

static inline void h_event_rank(h_worker_t *w, uint64_t attempt, uint32_t rank,
                                Cairn__TaskEvent__Kind kind, int exit_code, int sig)
{
    h_event_seq(w, ++w->seq, attempt, rank, kind, exit_code, sig);
}

/* Send te as this worker's (its node name; seq 0: the next) and wait for
 * its Ack. */
static inline void h_event_send(h_worker_t *w, Cairn__TaskEvent *te)
{
    if (!te->seq)
        te->seq = ++w->seq;
    te->node_name = w->name;
    h_send(w, CAIRN_MSG_TASK_EVENT, &te->base);
    Cairn__Ack *ack = (Cairn__Ack *)h_recv(w, CAIRN_MSG_ACK, 10000);
    cr_assert_not_null(ack, "no ack for event %llu", (unsigned long long)te->seq);
    cr_assert_eq(ack->seq, te->seq);
    cairn_msg_free(&ack->base);
}

static inline void h_event_seq(h_worker_t *w, uint64_t seq, uint64_t attempt, uint32_t rank,
                               Cairn__TaskEvent__Kind kind, int exit_code, int sig)
{
    Cairn__TaskEvent te = CAIRN__TASK_EVENT__INIT;
    te.attempt_id = attempt;
    te.rank = rank;
    te.kind = kind;
    te.exit_code = exit_code;
    te.signal = sig;
    te.seq = seq;
    te.start_time_ms = 1;
    te.end_time_ms = kind == CAIRN__TASK_EVENT__KIND__STARTED ? 0 : 2;
    h_event_send(w, &te);
}

/* Submit a job of the given task specs (seed 42); returns its id. */
static inline uint64_t h_submit_tasks(h_sched_t *s, const char *name, Cairn__TaskSpec **tasks,
                                      size_t n)
{
    Cairn__JobSpec js = CAIRN__JOB_SPEC__INIT;
    js.name = (char *)name;
    js.n_tasks = n;
    js.tasks = tasks;
    js.seed_present_case = CAIRN__JOB_SPEC__SEED_PRESENT_SEED;
    js.seed = 42;
    Cairn__SubmitRequest req = CAIRN__SUBMIT_REQUEST__INIT;
    req.job = &js;
    cairn_error_t err = {{0}};
    Cairn__SubmitReply *rep =
        (Cairn__SubmitReply *)h_call(s, CAIRN_MSG_SUBMIT, &req.base, CAIRN_MSG_SUBMIT_REPLY, &err);
    cr_assert_not_null(rep, "submit: %s", err.text);
    cr_assert_eq(rep->n_errors, 0, "submit refused: %s",
                 rep->n_errors ? rep->errors[0]->message : "");
    uint64_t id = rep->job_id;
    cairn_msg_free(&rep->base);
    return id;
}

/* Submit a job of tasks given as "name[:dep]" strings, argv /bin/true. */
static inline uint64_t h_submit(h_sched_t *s, const char *name, const char *const *tasks, size_t n,
                                int cpus, int gpus, const Cairn__RetryPolicy *retry)
{
    Cairn__TaskSpec ts[32], *tptr[32];
    Cairn__ResourceRequest rr = CAIRN__RESOURCE_REQUEST__INIT;
    char names[32][64], deps[32][64];
    char *needs[32];
    static char *argv[] = {"/bin/true"};
    rr.cpus = (uint32_t)cpus;
    rr.gpus = (uint32_t)gpus;
    for (size_t i = 0; i < n && i < 32; i++) {
        cairn__task_spec__init(&ts[i]);
        snprintf(names[i], sizeof(names[i]), "%s", tasks[i]);
        char *colon = strchr(names[i], ':');
        deps[i][0] = '\0';
        if (colon) {
            *colon = '\0';
            snprintf(deps[i], sizeof(deps[i]), "%s", colon + 1);
            needs[i] = deps[i];
            ts[i].n_needs = 1;
            ts[i].needs = &needs[i];
        }
        ts[i].name = names[i];
        ts[i].n_argv = 1;
        ts[i].argv = argv;
        ts[i].resources = &rr;
        ts[i].retry = (Cairn__RetryPolicy *)retry;
        tptr[i] = &ts[i];
    }
    return h_submit_tasks(s, name, tptr, n < 32 ? n : 32);
}

/* The scheduler's NodeInfo of node name (*keep: the reply, for
 * cairn_msg_free). */
static inline Cairn__NodeInfo *h_node_info(h_sched_t *s, const char *name, Cairn__NodesReply **keep)
{
    Cairn__NodesRequest req = CAIRN__NODES_REQUEST__INIT;
    char *names[] = {(char *)name};
    req.n_names = 1;
    req.names = names;
    cairn_error_t err = {{0}};
    *keep = (Cairn__NodesReply *)h_call(s, CAIRN_MSG_NODES, &req.base, CAIRN_MSG_NODES_REPLY, &err);
    cr_assert_not_null(*keep, "nodes: %s", err.text);
    cr_assert_eq((*keep)->n_nodes, 1, "node %s listed", name);
    return (*keep)->nodes[0];
}

static inline Cairn__JobStatusReply *h_status(h_sched_t *s, uint64_t job)
{
    Cairn__JobStatusRequest req = CAIRN__JOB_STATUS_REQUEST__INIT;
    req.job_id = job;
    cairn_error_t err = {{0}};
    Cairn__JobStatusReply *rep = (Cairn__JobStatusReply *)h_call(s, CAIRN_MSG_JOB_STATUS, &req.base,
                                                                 CAIRN_MSG_JOB_STATUS_REPLY, &err);
    cr_assert_not_null(rep, "status: %s", err.text);
    return rep;
}

#endif
