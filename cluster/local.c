/* cairn up / cairn down: a local cluster of one cairn-scheduler and some
 * cairn-worker daemons, detached, with everything in one state directory:
 * clients.sock / workers.sock, scheduler.log, worker-NAME.log, and
 * cluster.pids, one line per daemon: "scheduler PID" or
 * "worker NAME PID TOPOLOGY" (TOPOLOGY "-" for this machine). The directory
 * must be the user's and writable by no one else (cairn_dir_check_private);
 * cluster.pids and the logs are created 0600. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster/cmd.h"
#include "common/fsperm.h"

const char cmd_up_help[] =
    "Usage: cairn up [--workers N] [--topology FILE]... [--state-dir DIR]\n"
    "                [--store URL [--schedulers N]] [--http ADDR | --no-http]\n"
    "\n"
    "Start a local cluster in the background: cairn-scheduler and workers, with\n"
    "sockets, logs and cluster.pids in DIR (default: $CAIRN_STATE_DIR, else\n"
    "${XDG_STATE_HOME:-~/.local/state}/cairn). By default one worker \"local\" with\n"
    "this machine's resources. --topology FILE (repeatable) starts, instead, one\n"
    "simulated worker per hwloc XML file (sim1, sim2...), and no \"local\" one;\n"
    "--workers N starts N workers (local1..., or cycling through the topology\n"
    "files). On a cluster already up, daemons that died are started again on their\n"
    "existing state and nothing else changes: --workers and --topology that ask for\n"
    "other workers than it has are refused (exit 2; 'cairn down' first).\n"
    "--store URL keeps the scheduler's state in that PostgreSQL database\n"
    "(postgresql://...), and --schedulers N (2 to 8, with --store) starts N\n"
    "schedulers on it, an HA group to try: one leads, the others stand by\n"
    "(scheduler2... in DIR/scheduler2...); the workers are given every\n"
    "scheduler's endpoint, and so is the client with the CAIRN_SCHEDULER printed.\n"
    "The (first) scheduler serves the dashboard and the JSON API (docs/api.md) on\n"
    "a free loopback port, printed as 'dashboard: http://127.0.0.1:PORT/'; --http\n"
    "ADDR (HOST:PORT) chooses the address, --no-http serves none. A cluster that\n"
    "is up keeps the address it was first given.\n";
const char cmd_down_help[] =
    "Usage: cairn down [--state-dir DIR]\n"
    "\n"
    "Stop the local cluster's daemons (SIGTERM, then SIGKILL after 10 s).\n";

#define MAX_DAEMONS 64
#define UP_TIMEOUT_MS 30000
#define DOWN_TIMEOUT_MS 10000

typedef struct daemon_ent {
    bool scheduler;
    char name[64];
    char topo[PATH_MAX];
    pid_t pid;
} daemon_ent_t;

#define MAX_SCHEDULERS 8

typedef struct cluster {
    char dir[PATH_MAX];
    char bindir[PATH_MAX];
    char store[PATH_MAX]; /* --store: every scheduler's; "" for SQLite */
    char http[128];       /* the first scheduler's --http; "" for none */
    daemon_ent_t d[MAX_DAEMONS];
    size_t n;
} cluster_t;

static void pids_path(const cluster_t *cl, char *buf, size_t len)
{
    snprintf(buf, len, "%s/cluster.pids", cl->dir);
}

/* Alive and one of ours (guards against a recycled pid). A zombie is not
 * alive: in a container whose init does not reap, a dead daemon stays one. */
static bool pid_alive(pid_t pid)
{
    if (pid <= 0 || kill(pid, 0) != 0)
        return false;
    char path[64], exe[PATH_MAX];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    char st = 0;
    if (f) {
        if (fscanf(f, "%*d %*s %c", &st) != 1)
            st = 0;
        fclose(f);
    }
    if (st == 'Z' || st == 'X')
        return false;
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(path, exe, sizeof(exe) - 1);
    if (n < 0)
        return true; /* cannot tell: assume it is */
    exe[n] = '\0';
    return strstr(exe, "cairn-") != NULL;
}

static int pids_read(cluster_t *cl)
{
    char path[PATH_MAX + 16], line[PATH_MAX + 128];
    pids_path(cl, path, sizeof(path));
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    cl->n = 0;
    while (fgets(line, sizeof(line), f) && cl->n < MAX_DAEMONS) {
        daemon_ent_t *d = &cl->d[cl->n];
        memset(d, 0, sizeof(*d));
        int pid = 0;
        if (!strncmp(line, "http ", 5)) {
            snprintf(cl->http, sizeof(cl->http), "%.*s", (int)strcspn(line + 5, "\n"), line + 5);
            continue;
        }
        if (!strncmp(line, "store ", 6)) {
            snprintf(cl->store, sizeof(cl->store), "%.*s", (int)strcspn(line + 6, "\n"), line + 6);
            continue;
        }
        if (sscanf(line, "scheduler %d", &pid) == 1) {
            d->scheduler = true;
            snprintf(d->name, sizeof(d->name), "scheduler");
        } else if (sscanf(line, "scheduler-also %63s %d", d->name, &pid) == 2) {
            d->scheduler = true;
        } else if (sscanf(line, "worker %63s %d %4095s", d->name, &pid, d->topo) != 3) {
            continue;
        }
        if (!strcmp(d->topo, "-"))
            d->topo[0] = '\0';
        d->pid = pid;
        cl->n++;
    }
    fclose(f);
    return 0;
}

static int pids_write(const cluster_t *cl)
{
    char path[PATH_MAX + 16], tmp[PATH_MAX + 32];
    pids_path(cl, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = cairn_file_open_private(tmp, O_WRONLY | O_TRUNC, 077, NULL);
    if (fd < 0)
        return fd;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (cl->store[0])
        fprintf(f, "store %s\n", cl->store);
    if (cl->http[0])
        fprintf(f, "http %s\n", cl->http);
    for (size_t i = 0; i < cl->n; i++) {
        const daemon_ent_t *d = &cl->d[i];
        if (d->scheduler && strcmp(d->name, "scheduler"))
            fprintf(f, "scheduler-also %s %d\n", d->name, (int)d->pid);
        else if (d->scheduler)
            fprintf(f, "scheduler %d\n", (int)d->pid);
        else
            fprintf(f, "worker %s %d %s\n", d->name, (int)d->pid, d->topo[0] ? d->topo : "-");
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return -errno;
    return 0;
}

/* Start argv detached (own session, stdio to the log open as out);
 * returns its pid. The daemon is a grandchild, so it is never our zombie. */
static pid_t spawn_detached(char *const *argv, int out)
{
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    pid_t child = fork();
    if (child < 0)
        return -1;
    if (child == 0) {
        close(pfd[0]);
        setsid();
        pid_t gc = fork();
        if (gc == 0) {
            close(pfd[1]);
            int in = open("/dev/null", O_RDONLY);
            if (in >= 0)
                dup2(in, 0);
            dup2(out, 1);
            dup2(out, 2);
            execv(argv[0], argv);
            _exit(127);
        }
        ssize_t w = write(pfd[1], &gc, sizeof(gc));
        _exit(w == (ssize_t)sizeof(gc) ? 0 : 1);
    }
    close(pfd[1]);
    pid_t gc = -1;
    if (read(pfd[0], &gc, sizeof(gc)) != (ssize_t)sizeof(gc))
        gc = -1;
    close(pfd[0]);
    waitpid(child, NULL, 0);
    return gc;
}

/* A scheduler's state directory: DIR for the first, DIR/NAME for others. */
static void sched_dir(const cluster_t *cl, const daemon_ent_t *d, char *buf, size_t len)
{
    if (!strcmp(d->name, "scheduler"))
        snprintf(buf, len, "%s", cl->dir);
    else
        snprintf(buf, len, "%s/%s", cl->dir, d->name);
}

/* Every scheduler's endpoint of a kind ("workers", "clients"), joined by
 * commas: what workers and clients are given. */
static void sched_urls(const cluster_t *cl, const char *kind, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < cl->n && used < len; i++) {
        if (!cl->d[i].scheduler)
            continue;
        char sd[PATH_MAX + 80];
        sched_dir(cl, &cl->d[i], sd, sizeof(sd));
        used += (size_t)snprintf(buf + used, len - used, "%sipc://%s/%s.sock", used ? "," : "", sd,
                                 kind);
    }
}

static int daemon_start(const cluster_t *cl, daemon_ent_t *d)
{
    char bin[PATH_MAX + 32], log[PATH_MAX + 80], logarg[PATH_MAX + 80];
    char sock[MAX_SCHEDULERS * (PATH_MAX + 100)];
    char wdir[PATH_MAX + 80];
    char *argv[20];
    int n = 0;
    if (d->scheduler) {
        snprintf(bin, sizeof(bin), "%s/cairn-scheduler", cl->bindir);
        snprintf(log, sizeof(log), "%s/%s.log", cl->dir, d->name);
        sched_dir(cl, d, wdir, sizeof(wdir));
        argv[n++] = bin;
        argv[n++] = "--state-dir";
        argv[n++] = wdir;
        if (cl->store[0]) {
            argv[n++] = "--store";
            argv[n++] = (char *)cl->store;
            argv[n++] = "--name";
            argv[n++] = d->name;
        }
        if (cl->http[0] && !strcmp(d->name, "scheduler")) {
            argv[n++] = "--http";
            argv[n++] = (char *)cl->http;
        }
    } else {
        snprintf(bin, sizeof(bin), "%s/cairn-worker", cl->bindir);
        snprintf(log, sizeof(log), "%s/worker-%s.log", cl->dir, d->name);
        sched_urls(cl, "workers", sock, sizeof(sock));
        snprintf(wdir, sizeof(wdir), "%s/worker-%s", cl->dir, d->name);
        argv[n++] = bin;
        argv[n++] = "--scheduler";
        argv[n++] = sock;
        argv[n++] = "--state-dir";
        argv[n++] = wdir;
        argv[n++] = "--name";
        argv[n++] = d->name;
        /* a local cluster is one user's: their tasks run as them, root too */
        argv[n++] = "--allow-root-tasks";
        if (d->topo[0]) {
            argv[n++] = "--topology";
            argv[n++] = d->topo;
        }
    }
    snprintf(logarg, sizeof(logarg), "%s", log);
    argv[n++] = "--log-file";
    argv[n++] = logarg;
    argv[n] = NULL;
    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "cairn up: cannot run %s: %s\n", bin, strerror(errno));
        return -1;
    }
    /* the daemon's own log: others may not read it */
    cairn_error_t err = {{0}};
    int out = cairn_file_open_private(log, O_WRONLY | O_APPEND, 007, &err);
    if (out < 0) {
        fprintf(stderr, "cairn up: cannot open the log: %s\n", err.text);
        return -1;
    }
    d->pid = spawn_detached(argv, out);
    close(out);
    if (d->pid <= 0) {
        fprintf(stderr, "cairn up: cannot start %s: %s\n", bin, strerror(errno));
        return -1;
    }
    return 0;
}

/* Count workers that are up, and their GPUs; -1 if the scheduler does not
 * answer. */
static int nodes_up(const cluster_t *cl, size_t *ngpus)
{
    char url[PATH_MAX + 32];
    snprintf(url, sizeof(url), "ipc://%s/clients.sock", cl->dir);
    cairn_client_t *cc = NULL;
    if (cairn_client_create(url, 1000, &cc, NULL) < 0)
        return -1;
    Cairn__NodesRequest req = CAIRN__NODES_REQUEST__INIT;
    Cairn__NodesReply *r = NULL;
    int up = -1;
    if (cairn_client_call(cc, CAIRN_MSG_NODES, &req.base, CAIRN_MSG_NODES_REPLY,
                          (ProtobufCMessage **)&r, NULL) == 0) {
        up = 0;
        *ngpus = 0;
        for (size_t i = 0; i < r->n_nodes; i++) {
            Cairn__NodeState st = r->nodes[i]->state;
            if (st != CAIRN__NODE_STATE__NODE_STATE_UP &&
                st != CAIRN__NODE_STATE__NODE_STATE_DRAINING &&
                st != CAIRN__NODE_STATE__NODE_STATE_DRAINED)
                continue; /* registered: up, or drained by an operator */
            up++;
            *ngpus += r->nodes[i]->n_gpus;
        }
        cairn_msg_free(&r->base);
    }
    cairn_client_destroy(cc);
    return up;
}

static size_t nworkers(const cluster_t *cl)
{
    size_t n = 0;
    for (size_t i = 0; i < cl->n; i++)
        n += !cl->d[i].scheduler;
    return n;
}

/* Poll until every worker is up, with a deadline. */
static int wait_up(const cluster_t *cl, size_t *ngpus)
{
    int64_t deadline = cairn_mono_ms() + UP_TIMEOUT_MS;
    size_t want = nworkers(cl);
    while (cairn_mono_ms() < deadline) {
        int up = nodes_up(cl, ngpus);
        if (up >= 0 && (size_t)up >= want)
            return 0;
        ui_sleep_ms(100);
    }
    fprintf(stderr, "cairn up: the cluster did not come up within %d s; see the logs in %s\n",
            UP_TIMEOUT_MS / 1000, cl->dir);
    return -1;
}

/* Until the first scheduler answers, with a deadline. */
static int wait_answer(const cluster_t *cl)
{
    int64_t deadline = cairn_mono_ms() + UP_TIMEOUT_MS;
    size_t ngpus;
    while (cairn_mono_ms() < deadline) {
        if (nodes_up(cl, &ngpus) >= 0)
            return 0;
        ui_sleep_ms(50);
    }
    fprintf(stderr, "cairn up: the scheduler did not answer within %d s; see %s/scheduler.log\n",
            UP_TIMEOUT_MS / 1000, cl->dir);
    return -1;
}

/* --state-dir or the default; made absolute. */
static int cluster_init(cluster_t *cl, const char *dir)
{
    memset(cl, 0, sizeof(*cl));
    if (!dir)
        dir = cli_state_dir();
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof(cmd), "%s", dir);
    for (char *p = cmd + 1; *p; p++) { /* mkdir -p */
        if (*p != '/')
            continue;
        *p = '\0';
        mkdir(cmd, 0755);
        *p = '/';
    }
    if (mkdir(cmd, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "cairn: cannot create %s: %s\n", dir, strerror(errno));
        return CLI_FAIL;
    }
    if (!realpath(dir, cl->dir)) {
        fprintf(stderr, "cairn: %s: %s\n", dir, strerror(errno));
        return CLI_FAIL;
    }
    cairn_error_t err = {{0}};
    if (cairn_dir_check_private(cl->dir, "state directory", &err) < 0) {
        fprintf(stderr, "cairn: %s\n", err.text);
        return CLI_FAIL;
    }
    ssize_t n = readlink("/proc/self/exe", cl->bindir, sizeof(cl->bindir) - 1);
    if (n <= 0) {
        fprintf(stderr, "cairn: cannot find my own binary: %s\n", strerror(errno));
        return CLI_FAIL;
    }
    cl->bindir[n] = '\0';
    char *slash = strrchr(cl->bindir, '/');
    if (slash)
        *slash = '\0';
    return CLI_OK;
}

typedef struct up_opts {
    const char *dir;
    const char *store;
    long schedulers;
    long workers;
    const char *topo[MAX_DAEMONS];
    size_t ntopo;
    const char *http;
    bool no_http;
} up_opts_t;

/* A free loopback port's address ("127.0.0.1:PORT"): the kernel's pick,
 * given up at once for the scheduler to take. */
static int free_loopback(char *buf, size_t n)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int rc = fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
                     getsockname(fd, (struct sockaddr *)&sa, &sl) != 0
                 ? -errno
                 : 0;
    if (fd >= 0)
        close(fd);
    if (rc == 0)
        snprintf(buf, n, "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    return rc;
}

static int up_parse(int argc, char **argv, up_opts_t *o)
{
    static const struct option opts[] = {
        {"workers", required_argument, NULL, 'n'},    {"topology", required_argument, NULL, 't'},
        {"state-dir", required_argument, NULL, 's'},  {"store", required_argument, NULL, 'S'},
        {"schedulers", required_argument, NULL, 'N'}, {"http", required_argument, NULL, 'H'},
        {"no-http", no_argument, NULL, 'X'},          {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 'n') {
            uint64_t v;
            if (cli_parse_uint(argv[0], "--workers", optarg, 1, MAX_DAEMONS - 1, &v) != CLI_OK)
                return CLI_USAGE;
            o->workers = (long)v;
        } else if (ch == 't' && o->ntopo < MAX_DAEMONS - 1) {
            o->topo[o->ntopo++] = optarg;
        } else if (ch == 's') {
            o->dir = optarg;
        } else if (ch == 'S') {
            o->store = optarg;
        } else if (ch == 'H') {
            o->http = optarg;
        } else if (ch == 'X') {
            o->no_http = true;
        } else if (ch == 'N') {
            uint64_t v;
            if (cli_parse_uint(argv[0], "--schedulers", optarg, 1, MAX_SCHEDULERS, &v) != CLI_OK)
                return CLI_USAGE;
            o->schedulers = (long)v;
        } else {
            return cli_usage_error(argv[0], "bad option");
        }
    }
    if (optind < argc)
        return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    if (o->http && o->no_http)
        return cli_usage_error(argv[0], "--http or --no-http, not both");
    if (o->http && (strlen(o->http) >= 128 || !strchr(o->http, ':')))
        return cli_usage_error(argv[0], "--http: '%s' is not HOST:PORT", o->http);
    if (o->schedulers > 1 && (!o->store || strncmp(o->store, "postgres", 8)))
        return cli_usage_error(argv[0],
                               "--schedulers %ld needs --store postgresql://...: "
                               "schedulers share a PostgreSQL store",
                               o->schedulers);
    if (o->store && strncmp(o->store, "postgresql://", 13) && strncmp(o->store, "postgres://", 11))
        return cli_usage_error(argv[0], "--store: '%s' is not a postgresql:// URL", o->store);
    return CLI_OK;
}

/* The daemons of a new cluster, from the options. */
static int up_layout(cluster_t *cl, const up_opts_t *o)
{
    size_t n = o->workers ? (size_t)o->workers : (o->ntopo ? o->ntopo : 1);
    cl->d[0].scheduler = true;
    snprintf(cl->d[0].name, sizeof(cl->d[0].name), "scheduler");
    cl->n = 1;
    if (o->store)
        snprintf(cl->store, sizeof(cl->store), "%s", o->store);
    if (o->http)
        snprintf(cl->http, sizeof(cl->http), "%s", o->http);
    else if (!o->no_http && free_loopback(cl->http, sizeof(cl->http)) < 0) {
        fprintf(stderr, "cairn up: no free loopback port for the dashboard: %s\n", strerror(errno));
        return CLI_FAIL;
    }
    for (long k = 2; k <= o->schedulers; k++) {
        daemon_ent_t *d = &cl->d[cl->n++];
        d->scheduler = true;
        snprintf(d->name, sizeof(d->name), "scheduler%ld", k);
        char sd[PATH_MAX + 80];
        sched_dir(cl, d, sd, sizeof(sd));
        if (mkdir(sd, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "cairn up: cannot create %s: %s\n", sd, strerror(errno));
            return CLI_FAIL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        daemon_ent_t *d = &cl->d[cl->n++];
        if (o->ntopo) {
            snprintf(d->name, sizeof(d->name), "sim%zu", i + 1);
            if (!realpath(o->topo[i % o->ntopo], d->topo)) {
                fprintf(stderr, "cairn up: %s: %s\n", o->topo[i % o->ntopo], strerror(errno));
                return CLI_USAGE;
            }
        } else if (n == 1) {
            snprintf(d->name, sizeof(d->name), "local");
        } else {
            snprintf(d->name, sizeof(d->name), "local%zu", i + 1);
        }
    }
    return CLI_OK;
}

/* --workers / --topology given for a cluster that exists: the workers they
 * ask for must be the ones it has, or nothing is done (exit 2). */
static int up_same_layout(const cluster_t *cl, const up_opts_t *o)
{
    if (!o->workers && !o->ntopo)
        return CLI_OK;
    cluster_t *want = calloc(1, sizeof(*want));
    if (!want)
        return CLI_FAIL;
    int rc = up_layout(want, o);
    bool same = rc == CLI_OK && nworkers(want) == nworkers(cl);
    for (size_t i = 0, j = 0; same && i < want->n; i++) {
        if (want->d[i].scheduler)
            continue;
        while (j < cl->n && cl->d[j].scheduler)
            j++;
        same = j < cl->n && !strcmp(want->d[i].name, cl->d[j].name) &&
               !strcmp(want->d[i].topo, cl->d[j].topo);
        j++;
    }
    free(want);
    if (rc != CLI_OK || same)
        return rc;
    size_t nw = nworkers(cl);
    fprintf(stderr, "cairn up: a cluster is already set up in %s with %zu worker%s (", cl->dir, nw,
            nw == 1 ? "" : "s");
    for (size_t i = 0, k = 0; i < cl->n; i++)
        if (!cl->d[i].scheduler)
            fprintf(stderr, "%s%s", k++ ? ", " : "", cl->d[i].name);
    fprintf(stderr, "); --workers and --topology choose the workers of a new cluster:\n"
                    "run 'cairn down' first, or 'cairn up' without them\n");
    return CLI_USAGE;
}

int cmd_up(cli_t *c, int argc, char **argv)
{
    (void)c;
    up_opts_t o = {0};
    int rc = up_parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    cluster_t *cl = calloc(1, sizeof(*cl));
    if (!cl)
        return CLI_FAIL;
    rc = cluster_init(cl, o.dir);
    if (rc != CLI_OK)
        goto out;
    size_t started = 0, ngpus = 0;
    if (pids_read(cl) == 0 && cl->n > 0) {
        if ((rc = up_same_layout(cl, &o)) != CLI_OK)
            goto out;
        for (size_t i = 0; i < cl->n; i++) {
            if (pid_alive(cl->d[i].pid))
                continue;
            if (daemon_start(cl, &cl->d[i]) < 0) {
                rc = CLI_FAIL;
                break;
            }
            started++;
        }
    } else {
        rc = up_layout(cl, &o);
        for (size_t i = 0; rc == CLI_OK && i < cl->n; i++, started++) {
            if (daemon_start(cl, &cl->d[i]) < 0)
                rc = CLI_FAIL;
            /* the first scheduler leads: the others start once it answers */
            else if (i == 0 && cl->n > 1 && cl->d[1].scheduler && wait_answer(cl) < 0)
                rc = CLI_FAIL;
        }
    }
    if (started && pids_write(cl) < 0) {
        fprintf(stderr, "cairn up: cannot write %s/cluster.pids: %s\n", cl->dir, strerror(errno));
        rc = CLI_FAIL;
    }
    if (rc != CLI_OK || wait_up(cl, &ngpus) < 0) {
        rc = CLI_FAIL;
        goto out;
    }
    size_t nw = nworkers(cl), ns = cl->n - nw;
    if (!started)
        printf("cluster already up in %s: %zu scheduler%s, %zu worker%s (%zu GPU%s)\n", cl->dir, ns,
               ui_s(ns), nw, ui_s(nw), ngpus, ui_s(ngpus));
    else
        printf("cluster up%s: %zu scheduler%s, %zu worker%s (%zu GPU%s) in %s\n",
               started < cl->n ? " again" : "", ns, ui_s(ns), nw, ui_s(nw), ngpus, ui_s(ngpus),
               cl->dir);
    if (cl->http[0])
        printf("dashboard: http://%s/\n", cl->http);
    if (ns > 1) { /* the client needs every endpoint to find the leader */
        static char urls[MAX_SCHEDULERS * (PATH_MAX + 100)];
        sched_urls(cl, "clients", urls, sizeof(urls));
        printf("schedulers share %s; try: export CAIRN_SCHEDULER=%s; cairn schedulers\n",
               "the PostgreSQL store", urls);
    } else if (started && strcmp(cl->dir, cli_state_dir()) != 0)
        printf("try: export CAIRN_STATE_DIR=%s; cairn nodes\n", cl->dir);
    else if (started)
        printf("try: cairn nodes\n");
out:
    free(cl);
    return rc;
}

int cmd_down(cli_t *c, int argc, char **argv)
{
    (void)c;
    static const struct option opts[] = {{"state-dir", required_argument, NULL, 's'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch != 's')
            return cli_usage_error(argv[0], "bad option");
        dir = optarg;
    }
    if (optind < argc)
        return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    cluster_t *cl = calloc(1, sizeof(*cl));
    if (!cl)
        return CLI_FAIL;
    int rc = cluster_init(cl, dir);
    if (rc != CLI_OK) {
        free(cl);
        return rc;
    }
    if (pids_read(cl) < 0) {
        printf("no cluster in %s\n", cl->dir);
        free(cl);
        return CLI_OK;
    }
    /* Workers first (their tasks die with them), then the scheduler. */
    for (size_t i = cl->n; i-- > 0;)
        if (pid_alive(cl->d[i].pid))
            kill(cl->d[i].pid, SIGTERM);
    int64_t deadline = cairn_mono_ms() + DOWN_TIMEOUT_MS;
    size_t alive = cl->n;
    while (alive && cairn_mono_ms() < deadline) {
        alive = 0;
        for (size_t i = 0; i < cl->n; i++)
            alive += pid_alive(cl->d[i].pid);
        if (alive)
            ui_sleep_ms(50);
    }
    for (size_t i = 0; i < cl->n; i++) {
        if (pid_alive(cl->d[i].pid)) {
            fprintf(stderr, "cairn down: %s did not stop: killing it\n", cl->d[i].name);
            kill(cl->d[i].pid, SIGKILL);
        }
    }
    char path[PATH_MAX + 16];
    pids_path(cl, path, sizeof(path));
    unlink(path);
    printf("cluster down: stopped %zu daemon%s in %s\n", cl->n, cl->n == 1 ? "" : "s", cl->dir);
    free(cl);
    return CLI_OK;
}
