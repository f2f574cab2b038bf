/* The machine's own floor for the many-nodes comparison of bench_e2e.
 *
 * Usage: bench_floor [--procs N] [--tasks T] [--rounds R] [--mode pipe|nng|nng-polled]
 *
 * bench_e2e compares W1 (T = 1,000 `/bin/true` tasks) across two 1-core
 * workers, each running T/2 tasks one after another, with W1 across N =
 * 500, each running two. This program runs the same two shapes with no
 * scheduler and no worker: N helper processes (this program, exec'd again)
 * wait for a command, spawn their share of `/bin/true` one after another
 * (posix_spawn, waitpid), and answer when done. The driver starts the
 * clock, sends every helper its count, and stops it at the last answer.
 *
 *   pipe  the command and the answer are 4 bytes on pipes: the least a
 *         process can be woken with;
 *   nng   they are nng messages over ipc (pair1, the driver polyamorous, a
 *         blocking nng_recvmsg in the helper): what any worker built on
 *         nng pays at the least per message, its threads' hand-offs
 *         included (the default);
 *   nng-polled  the same, the helper waiting as the daemons do: poll(2) on
 *         NNG_OPT_RECVFD, then a non-blocking nng_recvmsg.
 *
 * Each round runs two helpers, then N, each set fresh, and prints
 * tasks/s, the helpers' CPU per task (all their threads, from
 * /proc/PID/task/T/sched; the tasks' own excluded) and the ratio of the
 * two; the last line is the median ratio over the rounds. A figure, never
 * an assertion. */
#include <errno.h>
#include <fcntl.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_proc.h"

extern char **environ;

typedef enum { MODE_PIPE, MODE_NNG, MODE_NNG_POLLED } mode_t_;
static const char *const mode_names[] = {"pipe", "nng", "nng-polled"};

__attribute__((format(printf, 1, 2))) static _Noreturn void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_floor: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Spawn /bin/true k times, one after another. */
static void run_tasks(uint32_t k)
{
    char *argv[] = {"true", NULL};
    for (uint32_t i = 0; i < k; i++) {
        pid_t pid;
        if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) != 0)
            die("posix_spawn /bin/true failed");
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
    }
}

/* ---- helpers ------------------------------------------------------------ */

static int helper_pipe(int cmd, int ans)
{
    uint32_t hello = 0; /* an answer: tasks run, 0 for ready */
    if (write(ans, &hello, sizeof(hello)) != (ssize_t)sizeof(hello))
        return 1;
    uint32_t k;
    while (read(cmd, &k, sizeof(k)) == (ssize_t)sizeof(k) && k > 0) {
        run_tasks(k);
        uint32_t a = k;
        if (write(ans, &a, sizeof(a)) != (ssize_t)sizeof(a))
            return 1;
    }
    return 0;
}

/* Wait for a message as the daemons do: poll(2) on NNG_OPT_RECVFD, then
 * take it without blocking. */
static int recv_polled(nng_socket s, int fd, nng_msg **m)
{
    for (;;) {
        int rv = nng_recvmsg(s, m, NNG_FLAG_NONBLOCK);
        if (rv != NNG_EAGAIN)
            return rv;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, -1) < 0 && errno != EINTR)
            return NNG_EINTR;
    }
}

static int helper_nng(const char *url, bool polled)
{
    nng_socket s;
    int fd = -1;
    if (nng_pair1_open(&s) != 0 || nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK) != 0 ||
        nng_socket_get_int(s, NNG_OPT_RECVFD, &fd) != 0)
        return 1;
    uint32_t hello = 0; /* an answer: tasks run, 0 for ready */
    if (nng_send(s, &hello, sizeof(hello), 0) != 0)
        return 1;
    for (;;) {
        nng_msg *m;
        if ((polled ? recv_polled(s, fd, &m) : nng_recvmsg(s, &m, 0)) != 0)
            return 1;
        uint32_t k = 0;
        if (nng_msg_len(m) == sizeof(k))
            memcpy(&k, nng_msg_body(m), sizeof(k));
        nng_msg_free(m);
        if (k == 0)
            break;
        run_tasks(k);
        uint32_t a = k;
        if (nng_send(s, &a, sizeof(a), 0) != 0)
            return 1;
    }
    nng_close(s);
    return 0;
}

/* ---- driver ------------------------------------------------------------- */

typedef struct round_set {
    mode_t_ mode;
    int n;
    pid_t *pids;
    int *cmd; /* pipe: each helper's command pipe */
    int ans;  /* pipe: the answers, all helpers */
    nng_socket sock;
    nng_pipe *pipes; /* nng: each helper's pipe, from its hello */
    char url[128];
} round_set_t;

static pid_t spawn_helper(char *const argv[])
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        die("fork failed");
    if (pid == 0) {
        /* a driver that dies takes its helpers with it */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
            _exit(127);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    return pid;
}

static void set_start(round_set_t *r, mode_t_ mode, int n, const char *dir, int round)
{
    memset(r, 0, sizeof(*r));
    r->mode = mode;
    r->n = n;
    r->pids = calloc((size_t)n, sizeof(pid_t));
    if (!r->pids)
        die("out of memory");
    if (mode == MODE_PIPE) {
        int ap[2];
        r->cmd = calloc((size_t)n, sizeof(int));
        if (!r->cmd || pipe2(ap, O_CLOEXEC) < 0)
            die("cannot make pipes");
        r->ans = ap[0];
        for (int i = 0; i < n; i++) {
            int cp[2];
            if (pipe(cp) < 0)
                die("cannot make pipes (raise the open file limit?)");
            char a[16], b[16];
            snprintf(a, sizeof(a), "%d", cp[0]);
            snprintf(b, sizeof(b), "%d", ap[1]);
            char *argv[] = {"bench_floor", "--helper-pipe", a, b, NULL};
            fcntl(ap[1], F_SETFD, 0);
            r->pids[i] = spawn_helper(argv);
            fcntl(ap[1], F_SETFD, FD_CLOEXEC);
            close(cp[0]);
            fcntl(cp[1], F_SETFD, FD_CLOEXEC);
            r->cmd[i] = cp[1];
        }
        close(ap[1]);
        for (int i = 0; i < n; i++) { /* every helper's hello: it is ready */
            uint32_t a;
            if (read(r->ans, &a, sizeof(a)) != (ssize_t)sizeof(a))
                die("a helper died before it was ready");
        }
        return;
    }
    snprintf(r->url, sizeof(r->url), "ipc://%s/floor-%d-%d.sock", dir, round, n);
    r->pipes = calloc((size_t)n, sizeof(nng_pipe));
    if (!r->pipes || nng_pair1_open_poly(&r->sock) != 0 ||
        nng_listen(r->sock, r->url, NULL, 0) != 0)
        die("cannot listen on %s", r->url);
    nng_socket_set_ms(r->sock, NNG_OPT_RECVTIMEO, 60000);
    for (int i = 0; i < n; i++) {
        char *argv[] = {"bench_floor", mode == MODE_NNG ? "--helper-nng" : "--helper-nng-polled",
                        r->url, NULL};
        r->pids[i] = spawn_helper(argv);
    }
    for (int i = 0; i < n; i++) { /* every helper's hello: its pipe */
        nng_msg *m;
        if (nng_recvmsg(r->sock, &m, 0) != 0)
            die("a helper did not say hello within 60 s");
        r->pipes[i] = nng_msg_get_pipe(m);
        nng_msg_free(m);
    }
}

static void send_count(round_set_t *r, int i, uint32_t k)
{
    if (r->mode == MODE_PIPE) {
        if (write(r->cmd[i], &k, sizeof(k)) != (ssize_t)sizeof(k))
            die("a helper's command pipe closed");
        return;
    }
    nng_msg *m;
    if (nng_msg_alloc(&m, 0) != 0 || nng_msg_append(m, &k, sizeof(k)) != 0)
        die("out of memory");
    nng_msg_set_pipe(m, r->pipes[i]);
    if (nng_sendmsg(r->sock, m, 0) != 0)
        die("cannot send to a helper");
}

/* A helper's answer: the tasks it ran. */
static uint32_t get_answer(round_set_t *r)
{
    uint32_t a = 0;
    if (r->mode == MODE_PIPE) {
        if (read(r->ans, &a, sizeof(a)) != (ssize_t)sizeof(a))
            die("a helper died");
        return a;
    }
    nng_msg *m;
    if (nng_recvmsg(r->sock, &m, 0) != 0)
        die("no answer within 60 s");
    if (nng_msg_len(m) == sizeof(a))
        memcpy(&a, nng_msg_body(m), sizeof(a));
    nng_msg_free(m);
    return a;
}

static void set_stop(round_set_t *r)
{
    for (int i = 0; i < r->n; i++)
        send_count(r, i, 0);
    for (int i = 0; i < r->n; i++) {
        int st;
        while (waitpid(r->pids[i], &st, 0) < 0 && errno == EINTR)
            ;
    }
    if (r->mode == MODE_PIPE) {
        for (int i = 0; i < r->n; i++)
            close(r->cmd[i]);
        close(r->ans);
        free(r->cmd);
    } else {
        nng_close(r->sock);
        free(r->pipes);
    }
    free(r->pids);
}

/* tasks split over n helpers; returns tasks/s, sets the helpers' CPU per task */
static double run_set(mode_t_ mode, int n, int tasks, const char *dir, int round, double *cpu_us)
{
    round_set_t r;
    set_start(&r, mode, n, dir, round);
    uint64_t cpu0 = 0, cpu1 = 0;
    for (int i = 0; i < n; i++)
        cpu0 += bench_cpu_ns(r.pids[i]);
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        send_count(&r, i, (uint32_t)(tasks / n + (i < tasks % n)));
    int done = 0;
    while (done < tasks) {
        done += (int)get_answer(&r);
    }
    double wall = now_s() - t0;
    for (int i = 0; i < n; i++)
        cpu1 += bench_cpu_ns(r.pids[i]);
    set_stop(&r);
    *cpu_us = (double)(cpu1 - cpu0) / 1000.0 / tasks;
    return tasks / wall;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--helper-pipe") == 0)
        return helper_pipe(atoi(argv[2]), atoi(argv[3]));
    if (argc == 3 && strcmp(argv[1], "--helper-nng") == 0)
        return helper_nng(argv[2], false);
    if (argc == 3 && strcmp(argv[1], "--helper-nng-polled") == 0)
        return helper_nng(argv[2], true);
    int procs = 500, tasks = 1000, rounds = 3;
    mode_t_ mode = MODE_NNG;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--procs") == 0 && v)
            procs = atoi(v), i++;
        else if (strcmp(argv[i], "--tasks") == 0 && v)
            tasks = atoi(v), i++;
        else if (strcmp(argv[i], "--rounds") == 0 && v)
            rounds = atoi(v), i++;
        else if (strcmp(argv[i], "--mode") == 0 && v && strcmp(v, "pipe") == 0)
            mode = MODE_PIPE, i++;
        else if (strcmp(argv[i], "--mode") == 0 && v && strcmp(v, "nng") == 0)
            mode = MODE_NNG, i++;
        else if (strcmp(argv[i], "--mode") == 0 && v && strcmp(v, "nng-polled") == 0)
            mode = MODE_NNG_POLLED, i++;
        else {
            fprintf(stderr,
                    "bench_floor: unknown or incomplete argument '%s'\n"
                    "usage: bench_floor [--procs N] [--tasks T] [--rounds R] "
                    "[--mode pipe|nng|nng-polled]\n",
                    argv[i]);
            return 2;
        }
    }
    if (procs < 2 || tasks < procs || rounds < 1 || rounds > 100) {
        fprintf(stderr, "bench_floor: need --procs >= 2, --tasks >= procs, 1 <= --rounds <= 100\n");
        return 2;
    }
    struct rlimit rl; /* pipe mode: two descriptors per helper */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    char dir[] = "/tmp/cairn-floor-XXXXXX";
    if (!mkdtemp(dir))
        die("cannot make a temporary directory");
    signal(SIGPIPE, SIG_IGN);
    printf("bench_floor: %d tasks (/bin/true, one after another per helper), %s helpers\n", tasks,
           mode_names[mode]);
    printf("%-18s %9s %14s\n", "helpers", "tasks/s", "helper us/t");
    double *ratio = calloc((size_t)rounds, sizeof(double));
    if (!ratio)
        die("out of memory");
    for (int r = 0; r < rounds; r++) {
        double c2, cn;
        double two = run_set(mode, 2, tasks, dir, r, &c2);
        printf("%-18d %9.0f %14.1f\n", 2, two, c2);
        double many = run_set(mode, procs, tasks, dir, r, &cn);
        printf("%-18d %9.0f %14.1f   %.0f%% of two\n", procs, many, cn, 100 * many / two);
        fflush(stdout);
        ratio[r] = many / two;
    }
    qsort(ratio, (size_t)rounds, sizeof(double), cmp_double);
    printf("%d rounds: %d helpers at a median %.0f%% of two (%.0f-%.0f%%)\n", rounds, procs,
           100 * ratio[rounds / 2], 100 * ratio[0], 100 * ratio[rounds - 1]);
    free(ratio);
    rmdir(dir);
    return 0;
}
