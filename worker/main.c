/* cairn-worker: runs on every node. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "daemon.h"
#include "discover.h"
#include "exec.h"
#include "resources_print.h"

#if defined(__SANITIZE_ADDRESS__)
/* A connection whose nng_close() got stuck (nng 1.5.2, see
 * cairn_nng_close_bounded) keeps its queued messages: nng's to lose. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libnng.so\nleak:nng_msg_alloc\n";
}
#endif

enum {
    OPT_PRINT_RESOURCES = 256,
    OPT_JSON,
    OPT_TOPOLOGY,
    OPT_NAME,
    OPT_LABEL,
    OPT_SCHEDULER,
    OPT_STATE_DIR,
    OPT_LOG_FILE,
    OPT_LOG_LEVEL,
    OPT_JOIN_KEY,
    OPT_TLS_CERT,
    OPT_TLS_CA,
    OPT_ALLOW_ROOT,
    OPT_REPORT_HOLD,
    OPT_START_TIMEOUT,
};

struct options {
    bool print_resources;
    bool json;
    const char *topology;
    const char *name;
    size_t nlabels;
    const char **labels; /* "KEY=VALUE", checked */
    const char *scheduler;
    const char *state_dir;
    const char *log_file;
    const char *join_key;
    const char *tls_cert, *tls_ca;
    bool allow_root_tasks;
    uint32_t report_hold_ms;   /* worker_daemon_config_t */
    uint64_t start_timeout_ms; /* worker_daemon_config_t */
    worker_log_level_t log_level;
};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: cairn-worker [OPTIONS]\n"
            "\n"
            "The Cairn worker daemon: discovers this node's resources and runs the tasks\n"
            "the scheduler assigns to it, until SIGTERM or SIGINT (its tasks die with it).\n"
            "\n"
            "Options:\n"
            "  --scheduler URL     the scheduler's worker endpoint (default:\n"
            "                      $CAIRN_WORKER_SCHEDULER, else\n"
            "                      ipc://$XDG_STATE_HOME/cairn/workers.sock)\n"
            "  --state-dir DIR     task logs and leftovers (default:\n"
            "                      $XDG_STATE_HOME/cairn/worker-NAME)\n"
            "  --log-file PATH     append the log there instead of stderr\n"
            "  --log-level LEVEL   debug, info (default), warn or error\n"
            "  --join-key FILE     the cluster's join secret (mode 600), when the\n"
            "                      scheduler requires one\n"
            "  --tls-cert FILE     certificate and key (PEM) for a tls+tcp:// scheduler\n"
            "  --tls-ca FILE       CA (PEM) that signed the scheduler's certificate\n"
            "  --allow-root-tasks  as root, run tasks submitted by root as root (tasks\n"
            "                      run as their submitter; root's are refused otherwise;\n"
            "                      also $CAIRN_ALLOW_ROOT_TASKS=1)\n"
            "  --report-hold MS    while queued tasks keep the slots busy, send task\n"
            "                      starts and successful ends at most MS ms late, many\n"
            "                      in one message (default %d; 0: each at once)\n"
            "  --start-timeout T   fail a task whose process has not exec'd its\n"
            "                      program T after its start (a program or directory\n"
            "                      on a hung file system, a stopped process) and kill\n"
            "                      it: ms, s or m (default %ds)\n"
            "  --print-resources   print the discovered resources and exit\n"
            "  --json              with --print-resources: print JSON\n"
            "  --topology FILE     read a saved hwloc XML topology (lstopo --of xml)\n"
            "                      instead of discovering this machine\n"
            "  --name NAME         node name (default: the host name)\n"
            "  --label KEY=VALUE   add a node label (repeatable)\n"
            "  -h, --help          show this help and exit\n"
            "  -V, --version       show the version and exit\n",
            WORKER_REPORT_HOLD_MS, EXEC_START_TIMEOUT_MS / 1000);
}

/* "N", "Nms", "Ns" or "Nm" (1 ms to 1 day) in ms; 0 when not that. */
static uint64_t parse_timeout(const char *s)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-')
        return 0;
    uint64_t unit = !strcmp(end, "ms")           ? 1
                    : !strcmp(end, "s") || !*end ? 1000
                    : !strcmp(end, "m")          ? 60000
                                                 : 0;
    if (!unit || v == 0 || v > 86400000ULL / unit)
        return 0;
    return (uint64_t)v * unit;
}

/* Returns -1 to go on, else the exit status. */
static int parse_options(int argc, char **argv, struct options *o)
{
    const char *root_env = getenv("CAIRN_ALLOW_ROOT_TASKS");
    o->allow_root_tasks = root_env && !strcmp(root_env, "1");
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"print-resources", no_argument, NULL, OPT_PRINT_RESOURCES},
        {"json", no_argument, NULL, OPT_JSON},
        {"topology", required_argument, NULL, OPT_TOPOLOGY},
        {"name", required_argument, NULL, OPT_NAME},
        {"label", required_argument, NULL, OPT_LABEL},
        {"scheduler", required_argument, NULL, OPT_SCHEDULER},
        {"state-dir", required_argument, NULL, OPT_STATE_DIR},
        {"log-file", required_argument, NULL, OPT_LOG_FILE},
        {"join-key", required_argument, NULL, OPT_JOIN_KEY},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-ca", required_argument, NULL, OPT_TLS_CA},
        {"allow-root-tasks", no_argument, NULL, OPT_ALLOW_ROOT},
        {"report-hold", required_argument, NULL, OPT_REPORT_HOLD},
        {"start-timeout", required_argument, NULL, OPT_START_TIMEOUT},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {NULL, 0, NULL, 0},
    };
    cairn_error_t err;
    int c;

    while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("cairn-worker %s\n", CAIRN_VERSION);
            return 0;
        case OPT_PRINT_RESOURCES:
            o->print_resources = true;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_TOPOLOGY:
            o->topology = optarg;
            break;
        case OPT_NAME:
            if (worker_node_name_check(optarg, &err) < 0) {
                fprintf(stderr, "cairn-worker: --name: %s\n", err.text);
                return 2;
            }
            o->name = optarg;
            break;
        case OPT_LABEL:
            if (worker_label_check(optarg, &err) < 0) {
                fprintf(stderr, "cairn-worker: --label: %s\n", err.text);
                return 2;
            }
            o->labels[o->nlabels++] = optarg;
            break;
        case OPT_SCHEDULER:
            o->scheduler = optarg;
            break;
        case OPT_STATE_DIR:
            o->state_dir = optarg;
            break;
        case OPT_JOIN_KEY:
            o->join_key = optarg;
            break;
        case OPT_TLS_CERT:
            o->tls_cert = optarg;
            break;
        case OPT_TLS_CA:
            o->tls_ca = optarg;
            break;
        case OPT_ALLOW_ROOT:
            o->allow_root_tasks = true;
            break;
        case OPT_REPORT_HOLD: {
            char *end = NULL;
            errno = 0;
            unsigned long v = strtoul(optarg, &end, 10);
            if (errno || !end || *end || end == optarg || optarg[0] == '-' || v > 1000) {
                fprintf(stderr, "cairn-worker: --report-hold: '%s' is not 0 to 1000 (ms)\n",
                        optarg);
                return 2;
            }
            o->report_hold_ms = v == 0 ? UINT32_MAX : (uint32_t)v;
            break;
        }
        case OPT_START_TIMEOUT:
            if (!(o->start_timeout_ms = parse_timeout(optarg))) {
                fprintf(stderr,
                        "cairn-worker: --start-timeout: '%s' is not a duration from 1ms to 1 day "
                        "(e.g. 500ms, 60s, 5m)\n",
                        optarg);
                return 2;
            }
            break;
        case OPT_LOG_FILE:
            o->log_file = optarg;
            break;
        case OPT_LOG_LEVEL:
            if (worker_log_level_parse(optarg, &o->log_level) < 0) {
                fprintf(stderr, "cairn-worker: --log-level: '%s' is not a level\n", optarg);
                return 2;
            }
            break;
        default: /* getopt_long already named the bad option */
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cairn-worker: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (o->json && !o->print_resources) {
        fprintf(stderr, "cairn-worker: --json needs --print-resources\n");
        return 2;
    }
    return -1;
}

static int print_resources(const struct options *o)
{
    worker_resources_t *r;
    cairn_error_t err;
    int rc;

    if (worker_discover(o->topology, o->name, &r, &err) < 0) {
        fprintf(stderr, "cairn-worker: %s\n", err.text);
        return 1;
    }
    for (size_t i = 0; i < o->nlabels; i++) {
        if (worker_resources_label_add(r, o->labels[i], &err) < 0) {
            fprintf(stderr, "cairn-worker: --label: %s\n", err.text);
            worker_resources_destroy(r);
            return 2;
        }
    }
    rc = o->json ? worker_resources_print_json(r, stdout) : worker_resources_print_text(r, stdout);
    worker_resources_destroy(r);
    if (rc < 0) {
        fprintf(stderr, "cairn-worker: cannot write the resources: %s\n", strerror(-rc));
        return 1;
    }
    return 0;
}

/* Run the daemon until a signal stops it. */
/* The stop deadline (see signal_cb in daemon.c): the tasks are already
 * killed; only nng's teardown is stuck. */
static void stop_deadline(int sig)
{
    (void)sig;
    static const char msg[] = "cairn-worker: shutdown took too long (nng_close stuck): exiting\n";
    ssize_t w = write(2, msg, sizeof(msg) - 1);
    (void)w;
    _exit(0);
}

typedef struct guard {
    uv_timer_t timer;
    worker_daemon_t *d;
    int stopped_ticks;
} guard_t;

static void close_straggler(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (uv_is_closing(h))
        return;
    fprintf(stderr, "cairn-worker: closing a %s handle left open at shutdown\n",
            uv_handle_type_name(uv_handle_get_type(h)));
    uv_close(h, NULL);
}

/* After a stop, give handles 3 s to close, then close what is left. */
static void guard_cb(uv_timer_t *t)
{
    guard_t *g = t->data;
    if (!worker_daemon_stopped(g->d) || ++g->stopped_ticks < 3)
        return;
    uv_timer_stop(t);
    uv_walk(t->loop, close_straggler, NULL);
}

static int run_daemon(const struct options *o)
{
    worker_daemon_config_t cfg = {
        .scheduler_url = o->scheduler,
        .state_dir = o->state_dir,
        .join_key_file = o->join_key,
        .tls_cert = o->tls_cert,
        .tls_ca = o->tls_ca,
        .allow_root_tasks = o->allow_root_tasks,
        .report_hold_ms = o->report_hold_ms,
        .start_timeout_ms = o->start_timeout_ms,
        .node_name = o->name,
        .topology = o->topology,
        .nlabels = o->nlabels,
        .labels = o->labels,
        .log_level = o->log_level,
        .handle_signals = true,
    };
    worker_daemon_t *d;
    cairn_error_t err;
    uv_loop_t loop;
    FILE *log = NULL;
    int rc = 0;

    if (o->log_file && !(log = fopen(o->log_file, "ae"))) {
        fprintf(stderr, "cairn-worker: --log-file %s: %s\n", o->log_file, strerror(errno));
        return 1;
    }
    cfg.log = log;
    signal(SIGPIPE, SIG_IGN); /* a closed log pipe must not kill the worker */
    signal(SIGALRM, stop_deadline);
    uv_loop_init(&loop);
    if (worker_daemon_create(&loop, &cfg, &d, &err) < 0) {
        fprintf(stderr, "cairn-worker: %s\n", err.text);
        if (log)
            fprintf(log, "cairn-worker: %s\n", err.text);
        rc = 1;
    } else {
        /* once stopped, the loop ends when every handle has closed; a guard
         * (unreferenced: it keeps nothing alive) closes stragglers after 3 s
         * so SIGTERM always ends the worker */
        guard_t guard = {.d = d};
        uv_timer_init(&loop, &guard.timer);
        guard.timer.data = &guard;
        uv_timer_start(&guard.timer, guard_cb, 1000, 1000);
        uv_unref((uv_handle_t *)&guard.timer);
        uv_run(&loop, UV_RUN_DEFAULT); /* returns once a signal stopped the daemon */
        if (!uv_is_closing((uv_handle_t *)&guard.timer))
            uv_close((uv_handle_t *)&guard.timer, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        worker_daemon_destroy(d);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        fprintf(stderr, "cairn-worker: a handle was left open at exit\n");
    if (log)
        fclose(log);
    return rc;
}

int main(int argc, char **argv)
{
    struct options o = {.log_level = WORKER_LOG_INFO};
    int rc;

    o.labels = calloc((size_t)argc, sizeof(*o.labels));
    if (!o.labels) {
        fprintf(stderr, "cairn-worker: out of memory\n");
        return 1;
    }
    rc = parse_options(argc, argv, &o);
    if (rc < 0)
        rc = o.print_resources ? print_resources(&o) : run_daemon(&o);
    free(o.labels);
    return rc;
}
