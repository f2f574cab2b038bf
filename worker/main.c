/* cairn-worker: runs on every node. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "common/grow.h"
#include "common/log.h"
#include "proto/endpoints.h"
#include "worker/daemon.h"
#include "worker/discover.h"
#include "worker/exec.h"
#include "worker/report.h"
#include "worker/resources_print.h"

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
    OPT_INSECURE,
    OPT_PASS_ENV,
    OPT_HASH_MAX_BYTES,
    OPT_HASH_TIMEOUT,
    OPT_START_TIMEOUT,
    OPT_NVML_LIB,
    OPT_HEALTH_CHECK,
    OPT_HEALTH_INTERVAL,
};

struct options {
    bool print_resources;
    bool json;
    const char *topology;
    const char *nvml_lib;        /* worker_daemon_config_t; NULL: the driver's */
    const char *health_cmd;      /* --health-check */
    uint64_t health_interval_ms; /* --health-interval; 0: 5 minutes */
    const char *name;
    size_t nlabels;
    const char **labels; /* "KEY=VALUE", checked */
    const char *scheduler;
    const char *state_dir;
    const char *log_file;
    const char *join_key;
    const char *tls_cert, *tls_ca;
    bool allow_root_tasks;
    bool insecure;             /* a tcp:// scheduler without TLS or join key is accepted */
    uint32_t report_hold_ms;   /* worker_daemon_config_t */
    uint64_t start_timeout_ms; /* worker_daemon_config_t */
    cairn_log_level_t log_level;
    char **pass_env; /* globs, split at commas (owned) */
    size_t npass_env, pass_env_cap;
    uint64_t hash_max_bytes, hash_timeout_ms; /* worker_daemon_config_t */
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
            "                      ipc://$XDG_STATE_HOME/cairn/workers.sock);\n"
            "                      URL,URL...: a leader's and its standbys' endpoints:\n"
            "                      a standby's answer leads to the leader, and a lost\n"
            "                      connection to the next after about a second\n"
            "  --state-dir DIR     task logs and leftovers (default:\n"
            "                      $XDG_STATE_HOME/cairn/worker-NAME)\n"
            "  --log-file PATH     append the log there instead of stderr\n"
            "  --log-level LEVEL   debug, info (default), warn or error\n"
            "  --join-key FILE     the cluster's join secret (mode 600), when the\n"
            "                      scheduler requires one\n"
            "  --tls-cert FILE     certificate and key (PEM) for a tls+tcp:// scheduler;\n"
            "                      its key signs each registration, and a scheduler\n"
            "                      with --tls-ca takes the node to be its CN (--name:\n"
            "                      the CN or a DNS name of the certificate)\n"
            "  --tls-ca FILE       CA (PEM) that signed the scheduler's certificate\n"
            "  --insecure          take work from a plain tcp:// scheduler that neither\n"
            "                      TLS (tls+tcp:// with --tls-ca) nor --join-key\n"
            "                      authenticates (refused otherwise: exit 2)\n"
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
            "  --pass-env GLOB     tasks also get the worker's variables whose names\n"
            "                      match GLOB (repeatable, or comma-separated; e.g.\n"
            "                      'LC_*,TZ'); they always get PATH and LANG, and\n"
            "                      HOME, USER, LOGNAME and SHELL of their user\n"
            "  --hash-max-bytes N  read at most N bytes (K, M, G or T) hashing one\n"
            "                      attempt's outputs; an output that would go over is\n"
            "                      'not hashed: too large' (default 64G; 0: no limit)\n"
            "  --hash-timeout T    hash one attempt's outputs for at most T (s, m or h);\n"
            "                      what is not done is 'not hashed: took too long'\n"
            "                      (default 30m; 0: no limit)\n"
            "  --nvml-lib PATH     load NVML from PATH (default: $CAIRN_NVML_LIB, else\n"
            "                      libnvidia-ml.so.1; \"\": none); with it, GPUs in\n"
            "                      MIG mode show as their MIG instances here too\n"
            "  --health-check CMD  run `sh -c CMD` every --health-interval (default 5m;\n"
            "                      1s to 1 day) and at start: a non-zero exit drains\n"
            "                      the node, its output the reason (as Slurm's\n"
            "                      HealthCheckProgram); killed after min(interval, 60s)\n"
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

/* A unit an option's number may carry, and what it multiplies by. */
typedef struct unit {
    const char *name;
    uint64_t mult;
} unit_t;

static const unit_t size_units[] = {{"", 1},           {"K", 1ull << 10}, {"M", 1ull << 20},
                                    {"G", 1ull << 30}, {"T", 1ull << 40}, {NULL, 0}};
static const unit_t time_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {NULL, 0}};

/* A whole number with one of units ("" included only where listed). */
static int parse_scaled(const char *s, const unit_t *units, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-' || s[0] == '+' || isspace((unsigned char)s[0]))
        return -EINVAL;
    for (const unit_t *u = units; u->name; u++) {
        if (strcmp(end, u->name) != 0)
            continue;
        if (v > UINT64_MAX / u->mult)
            return -ERANGE;
        *out = (uint64_t)v * u->mult;
        return 0;
    }
    return -EINVAL;
}

/* A limit option's value (parse_scaled; what says what it must be); 0,
 * no limit, becomes UINT64_MAX (worker_daemon_config_t). */
static int parse_limit(const char *opt, const char *arg, const unit_t *units, const char *what,
                       uint64_t *out)
{
    if (parse_scaled(arg, units, out) < 0) {
        fprintf(stderr, "cairn-worker: %s: '%s' is not %s\n", opt, arg, what);
        return -1;
    }
    if (*out == 0)
        *out = UINT64_MAX;
    return 0;
}

/* Add the comma-separated globs of one --pass-env. */
static int add_pass_env(struct options *o, const char *arg)
{
    char *copy = strdup(arg), *save = NULL;
    if (!copy) {
        fprintf(stderr, "cairn-worker: out of memory\n");
        return -1;
    }
    size_t n = 1;
    for (const char *c = arg; *c; c++)
        n += *c == ',';
    if (CAIRN_GROW(o->pass_env, o->pass_env_cap, o->npass_env + n) < 0) {
        free(copy);
        fprintf(stderr, "cairn-worker: out of memory\n");
        return -1;
    }
    int rc = 0;
    for (char *g = strtok_r(copy, ",", &save); g && rc == 0; g = strtok_r(NULL, ",", &save)) {
        if (strchr(g, '=') || strchr(g, ' ')) {
            fprintf(stderr, "cairn-worker: --pass-env: '%s' is not a variable name pattern\n", g);
            rc = -1;
        } else if (!(o->pass_env[o->npass_env] = strdup(g))) {
            fprintf(stderr, "cairn-worker: out of memory\n");
            rc = -1;
        } else {
            o->npass_env++;
        }
    }
    free(copy);
    return rc;
}

/* Returns -1 to go on, else the exit status. */
static int parse_options(int argc, char **argv, struct options *o)
{
    const char *root_env = getenv("CAIRN_ALLOW_ROOT_TASKS");
    o->allow_root_tasks = root_env && !strcmp(root_env, "1");
    o->nvml_lib = getenv("CAIRN_NVML_LIB");
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
        {"insecure", no_argument, NULL, OPT_INSECURE},
        {"pass-env", required_argument, NULL, OPT_PASS_ENV},
        {"hash-max-bytes", required_argument, NULL, OPT_HASH_MAX_BYTES},
        {"hash-timeout", required_argument, NULL, OPT_HASH_TIMEOUT},
        {"start-timeout", required_argument, NULL, OPT_START_TIMEOUT},
        {"nvml-lib", required_argument, NULL, OPT_NVML_LIB},
        {"health-check", required_argument, NULL, OPT_HEALTH_CHECK},
        {"health-interval", required_argument, NULL, OPT_HEALTH_INTERVAL},
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
        case OPT_INSECURE:
            o->insecure = true;
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
        case OPT_PASS_ENV:
            if (add_pass_env(o, optarg) < 0)
                return 2;
            break;
        case OPT_HASH_MAX_BYTES:
            if (parse_limit("--hash-max-bytes", optarg, size_units, "a size (e.g. 16G)",
                            &o->hash_max_bytes) < 0)
                return 2;
            break;
        case OPT_HASH_TIMEOUT:
            if (parse_limit("--hash-timeout", optarg, time_units, "a duration (e.g. 90s, 30m)",
                            &o->hash_timeout_ms) < 0)
                return 2;
            break;
        case OPT_NVML_LIB:
            o->nvml_lib = optarg;
            break;
        case OPT_HEALTH_CHECK:
            if (!*optarg) {
                fprintf(stderr, "cairn-worker: --health-check needs a command\n");
                return 2;
            }
            o->health_cmd = optarg;
            break;
        case OPT_HEALTH_INTERVAL:
            if (parse_scaled(optarg, time_units, &o->health_interval_ms) < 0 ||
                o->health_interval_ms < 1000 || o->health_interval_ms > 86400000) {
                fprintf(stderr,
                        "cairn-worker: --health-interval: '%s' is not a duration from 1s to 1 "
                        "day\n",
                        optarg);
                return 2;
            }
            break;
        case OPT_START_TIMEOUT:
            if (parse_scaled(optarg, time_units, &o->start_timeout_ms) < 0 ||
                o->start_timeout_ms == 0 || o->start_timeout_ms > 86400000) {
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
            if (cairn_log_level_parse(optarg, &o->log_level) < 0) {
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

/* A worker runs what its scheduler says, as whom it says: over a network
 * it must know the scheduler is the cluster's. ipc:// is a local socket
 * under file permissions; tls+ URLs verify the scheduler's certificate
 * (--tls-ca is required for them); a join key makes the scheduler prove
 * the key (proto/join.h). A plain network URL needs one of these or
 * --insecure (a URL nng does not know fails later, as before). Returns -1
 * to go on, else the exit status. */
static int check_authenticated(const struct options *o)
{
    char def[4096];
    const char *list = o->scheduler;
    if (!list && worker_daemon_default_url(def, sizeof(def)) == 0)
        list = def;
    if (o->insecure || o->join_key)
        return -1; /* proven by the key, or accepted */
    cairn_endpoints_t eps;
    if (!list || cairn_endpoints_parse(&eps, list, NULL) < 0)
        return -1; /* fails later, naming what is wrong */
    const char *plain = NULL;
    for (size_t i = 0; i < eps.n && !plain; i++)
        plain = cairn_endpoint_plain_network(eps.urls[i]) ? eps.urls[i] : NULL;
    if (plain)
        fprintf(stderr,
                "cairn-worker: refusing to take work from %s: nothing authenticates that "
                "scheduler, so anyone who can answer that address could run tasks on this node, "
                "as any user.\n"
                "Give the cluster's --join-key FILE (the scheduler proves it holds the key too), "
                "or use tls+tcp:// with --tls-ca, or --insecure on a network you trust.\n",
                plain);
    cairn_endpoints_fini(&eps);
    return plain ? 2 : -1; /* local, TLS-verified, or refused */
}

/* With --nvml-lib: GPUs in MIG mode as their instances, as the daemon
 * registers them. 0, or the exit status. */
static int print_mig(const char *lib, worker_resources_t *r)
{
    worker_report_t *rep = NULL;
    cairn_error_t err;
    int rc = worker_report_create(r, lib, &rep, &err);
    if (rc == 0 && !worker_report_has_nvml(rep))
        rc = errcode(&err, -ENOENT, "--nvml-lib: cannot load NVML from %s", lib);
    if (rc == 0)
        rc = worker_report_apply_mig(rep, r, &err);
    worker_report_destroy(rep);
    if (rc < 0) {
        fprintf(stderr, "cairn-worker: %s\n", err.text);
        return 1;
    }
    return 0;
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
    if (o->nvml_lib && o->nvml_lib[0] && (rc = print_mig(o->nvml_lib, r)) != 0) {
        worker_resources_destroy(r);
        return rc;
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
        .insecure = o->insecure,
        .allow_root_tasks = o->allow_root_tasks,
        .report_hold_ms = o->report_hold_ms,
        .pass_env = (const char *const *)o->pass_env,
        .npass_env = o->npass_env,
        .hash_max_bytes = o->hash_max_bytes,
        .hash_timeout_ms = o->hash_timeout_ms,
        .start_timeout_ms = o->start_timeout_ms,
        .node_name = o->name,
        .topology = o->topology,
        .nvml_lib = o->nvml_lib,
        .health_cmd = o->health_cmd,
        .health_interval_ms = (int64_t)o->health_interval_ms,
        .nlabels = o->nlabels,
        .labels = o->labels,
        .handle_signals = true,
    };
    worker_daemon_t *d;
    cairn_error_t err;
    uv_loop_t loop;
    cairn_log_t log;
    int rc = 0;

    /* a log file is the worker's alone: created 0600, never through a link */
    if (cairn_log_open(&log, "cairn-worker", o->log_file, o->log_level, &err) < 0) {
        fprintf(stderr, "cairn-worker: --log-file %s\n", err.text);
        return 1;
    }
    cfg.log = &log;
    signal(SIGPIPE, SIG_IGN); /* a closed log pipe must not kill the worker */
    signal(SIGALRM, stop_deadline);
    uv_loop_init(&loop);
    if (worker_daemon_create(&loop, &cfg, &d, &err) < 0) {
        fprintf(stderr, "cairn-worker: %s\n", err.text);
        if (o->log_file)
            cairn_log(&log, CAIRN_LOG_ERROR, "%s", err.text);
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
    cairn_log_close(&log);
    return rc;
}

int main(int argc, char **argv)
{
    struct options o = {.log_level = CAIRN_LOG_INFO};
    int rc;

    o.labels = calloc((size_t)argc, sizeof(*o.labels));
    if (!o.labels) {
        fprintf(stderr, "cairn-worker: out of memory\n");
        return 1;
    }
    rc = parse_options(argc, argv, &o);
    if (rc < 0 && !o.print_resources)
        rc = check_authenticated(&o);
    if (rc < 0)
        rc = o.print_resources ? print_resources(&o) : run_daemon(&o);
    for (size_t i = 0; i < o.npass_env; i++)
        free(o.pass_env[i]);
    free(o.pass_env);
    free(o.labels);
    return rc;
}
