/* cairn-scheduler: the cluster's single source of truth. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fsperm.h"
#include "scheduler/daemon.h"
#include "scheduler/provenance.h"
#include "scheduler/sdb.h"
#include "scheduler/verify.h"

#if defined(__SANITIZE_ADDRESS__)
/* A socket wedged by nng 1.5.2's handshake bug (see watchdog.h) keeps its
 * stuck pipe and listener allocated after nng_close(); that memory is
 * nng's to lose, not ours. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libnng.so\n";
}
#endif

static void usage(FILE *f)
{
    fprintf(
        f,
        "Usage: cairn-scheduler [OPTIONS]\n"
        "\n"
        "The Cairn scheduler daemon: accepts jobs from clients, places their tasks on\n"
        "workers and keeps the cluster state durable in SQLite.\n"
        "\n"
        "Options:\n"
        "  -s, --state-dir DIR         state directory (journal, ipc sockets)\n"
        "      --store URL             the state database: sqlite:PATH (default:\n"
        "                              sqlite:DIR/journal.db) or postgresql://... (a\n"
        "                              libpq URL): several schedulers may share one,\n"
        "                              one leads, the others stand by and take over\n"
        "      --lease DURATION        PostgreSQL: the leader's lease (default 3s); a\n"
        "                              standby takes over this long after the leader\n"
        "                              stops renewing it\n"
        "      --name NAME             this scheduler among those sharing a store\n"
        "                              (default: host:pid)\n"
        "                              [$CAIRN_STATE_DIR or ~/.local/state/cairn]\n"
        "  -w, --workers URL           worker endpoint [ipc://DIR/workers.sock]\n"
        "  -c, --clients URL           client endpoint [ipc://DIR/clients.sock]\n"
        "  -f, --config FILE           read options from FILE (key = value lines)\n"
        "      --http ADDR             serve /metrics and /status on ADDR (host:port)\n"
        "      --heartbeat-interval T  heartbeat interval told to workers [1s]\n"
        "      --heartbeat-timeout T   silence after which a node is down [10s]\n"
        "      --heartbeat-rate N      heartbeats/s all nodes may send; past it the interval\n"
        "                              and the timeout grow with the nodes; 0 = fixed [1000]\n"
        "      --restart-grace T       time for nodes to return after a restart [30s]\n"
        "      --register-timeout T    a worker connection that has not registered by then\n"
        "                              is closed [30s]\n"
        "      --kill-grace T          SIGTERM to SIGKILL for cancels [10s]\n"
        "      --max-message BYTES     largest accepted message [16777216]\n"
        "      --max-tasks N           most tasks in one job [1000000]\n"
        "      --sample-interval T     how often waiting demand and idle GPUs are sampled\n"
        "                              for reports (0: never) [30s]\n"
        "      --usage-retention T     usage samples older than this are dropped [90d]\n"
        "      --snapshot-every N      write a snapshot of the state every N journal\n"
        "                              entries (0: not by count) [50000]\n"
        "      --snapshot-interval T   write one when T passed since the last (0: not by\n"
        "                              time) [10m]; a start loads the newest snapshot and\n"
        "                              replays the entries after it\n"
        "      --keep-finished T       an ended job leaves memory this long after it ended\n"
        "                              (0: at once); every read then answers from history\n"
        "                              [10m]\n"
        "      --history-retention T   history of jobs that ended longer ago is dropped\n"
        "                              [365d]\n"
        "      --secret-env PATTERNS   env names whose values provenance masks: comma-\n"
        "                              separated globs, any case [" PROV_SECRET_PATTERN_DEFAULT
        "]\n"
        "      --admins LIST           administrators besides root and the scheduler's own\n"
        "                              user: comma-separated user names, uids and @groups;\n"
        "                              they may cancel and read logs of every job and\n"
        "                              drain nodes (others only their own jobs)\n"
        "      --allow-anonymous-writes  let anonymous clients (tcp:// without a client\n"
        "                              certificate) submit and cancel; they are read-only\n"
        "                              by default (status, jobs, nodes, explain)\n"
        "      --tls-cert FILE         certificate and private key (PEM) for tls+tcp://\n"
        "                              endpoints\n"
        "      --tls-ca FILE           CA certificates (PEM): workers and clients on tls+tcp://\n"
        "                              must present a certificate it signed; a worker is\n"
        "                              its certificate's CN and must be named after it\n"
        "      --allow-any-node-name   with --tls-ca, a worker may register under any node\n"
        "                              name, not only its certificate's CN or DNS names (the\n"
        "                              name is still bound to its CN until the node is down)\n"
        "      --join-key FILE         workers must prove they hold this secret (mode 600,\n"
        "                              16 bytes or more) to join; none by default\n"
        "      --no-prefetch           never queue a task on a full node behind a running\n"
        "                              one of the same shape (by default up to two wait\n"
        "                              there and start the moment it ends)\n"
        "      --fair-share-gpu-weight N  in fair-share usage a GPU-second counts as N\n"
        "                              core-seconds (1..1000000) [16]\n"
        "      --fair-share-half-life T  fair-share usage halves every T (1s or more) [7d];\n"
        "                              both are part of the scheduler's configuration:\n"
        "                              --verify-journal needs the same to replay\n"
        "      --gpu-error-drains-node  a GPU marked unhealthy also drains its node: its\n"
        "                              gpu-error retries go to other nodes (by default\n"
        "                              only the GPU is avoided)\n"
        "      --preempt-for-fair-share  a task whose account is below its fair share may\n"
        "                              also preempt preemptible work of accounts above\n"
        "                              theirs at its own priority or lower (by default only\n"
        "                              a higher priority preempts)\n"
        "      --max-preemptions-per-task N  a task preempted N times is not preempted\n"
        "                              again (1..1000000) [5]\n"
        "      --max-checkpoint-grace T  caps a task's checkpoint grace, from the\n"
        "                              checkpoint signal to SIGKILL (1s or more) [10m];\n"
        "                              these three are part of the configuration too\n"
        "      --topology-levels L1,L2  network topology levels, tightest first (e.g.\n"
        "                              rack,block: a rack lies in a block); a node is in\n"
        "                              domain V of level L by its label topology.L=V, and\n"
        "                              a gang's placement: {pack|require: L} names one;\n"
        "                              part of the configuration too [none]\n"
        "      --log-file PATH         log there instead of stderr\n"
        "      --log-level LEVEL       debug, info, warn or error [info]\n"
        "      --verify-journal        replay the state directory's journal (from the\n"
        "                              oldest snapshot kept), re-deriving every placement\n"
        "                              and reloading each later snapshot, print the final\n"
        "                              state and exit (0: identical, 1: a difference, named)\n"
        "  -h, --help                  show this help and exit\n"
        "  -V, --version               show the version and exit\n"
        "\n"
        "Durations take ms, s, m, h or d (e.g. 500ms, 10s, 7d); a bare number is ms.\n"
        "In a --config file, flags take a value: allow-anonymous-writes = true.\n"
        "Clients on an ipc:// endpoint are identified by their Unix user; its socket\n"
        "is mode 0666, so the directory holding it decides who may connect.\n");
}

enum {
    OPT_HB_INTERVAL = 256,
    OPT_STORE,
    OPT_LEASE,
    OPT_NAME,
    OPT_HB_TIMEOUT,
    OPT_HB_RATE,
    OPT_GRACE,
    OPT_KILL_GRACE,
    OPT_MAX_MSG,
    OPT_MAX_TASKS,
    OPT_LOG_FILE,
    OPT_LOG_LEVEL,
    OPT_VERIFY,
    OPT_HTTP,
    OPT_ADMINS,
    OPT_SECRET_ENV,
    OPT_SAMPLE_INTERVAL,
    OPT_USAGE_RETENTION,
    OPT_KEEP_FINISHED,
    OPT_HISTORY_RETENTION,
    OPT_ANON_WRITES,
    OPT_NO_PREFETCH,
    OPT_JOIN_KEY,
    OPT_TLS_CERT,
    OPT_TLS_CA,
    OPT_REGISTER_TIMEOUT,
    OPT_ANY_NODE_NAME,
    OPT_SNAPSHOT_EVERY,
    OPT_SNAPSHOT_INTERVAL,
    OPT_FS_GPU_WEIGHT,
    OPT_FS_HALF_LIFE,
    OPT_PREEMPT_FS,
    OPT_GPU_ERROR_DRAINS,
    OPT_MAX_PREEMPTIONS,
    OPT_MAX_GRACE,
    OPT_TOPOLOGY_LEVELS,
};

static const struct option opts[] = {
    {"state-dir", required_argument, NULL, 's'},
    {"store", required_argument, NULL, OPT_STORE},
    {"lease", required_argument, NULL, OPT_LEASE},
    {"name", required_argument, NULL, OPT_NAME},
    {"workers", required_argument, NULL, 'w'},
    {"clients", required_argument, NULL, 'c'},
    {"config", required_argument, NULL, 'f'},
    {"heartbeat-interval", required_argument, NULL, OPT_HB_INTERVAL},
    {"heartbeat-timeout", required_argument, NULL, OPT_HB_TIMEOUT},
    {"heartbeat-rate", required_argument, NULL, OPT_HB_RATE},
    {"restart-grace", required_argument, NULL, OPT_GRACE},
    {"register-timeout", required_argument, NULL, OPT_REGISTER_TIMEOUT},
    {"kill-grace", required_argument, NULL, OPT_KILL_GRACE},
    {"max-message", required_argument, NULL, OPT_MAX_MSG},
    {"max-tasks", required_argument, NULL, OPT_MAX_TASKS},
    {"log-file", required_argument, NULL, OPT_LOG_FILE},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"verify-journal", no_argument, NULL, OPT_VERIFY},
    {"http", required_argument, NULL, OPT_HTTP},
    {"admins", required_argument, NULL, OPT_ADMINS},
    {"secret-env", required_argument, NULL, OPT_SECRET_ENV},
    {"sample-interval", required_argument, NULL, OPT_SAMPLE_INTERVAL},
    {"usage-retention", required_argument, NULL, OPT_USAGE_RETENTION},
    {"keep-finished", required_argument, NULL, OPT_KEEP_FINISHED},
    {"history-retention", required_argument, NULL, OPT_HISTORY_RETENTION},
    {"allow-anonymous-writes", no_argument, NULL, OPT_ANON_WRITES},
    {"allow-any-node-name", no_argument, NULL, OPT_ANY_NODE_NAME},
    {"snapshot-every", required_argument, NULL, OPT_SNAPSHOT_EVERY},
    {"snapshot-interval", required_argument, NULL, OPT_SNAPSHOT_INTERVAL},
    {"no-prefetch", no_argument, NULL, OPT_NO_PREFETCH},
    {"fair-share-gpu-weight", required_argument, NULL, OPT_FS_GPU_WEIGHT},
    {"fair-share-half-life", required_argument, NULL, OPT_FS_HALF_LIFE},
    {"preempt-for-fair-share", no_argument, NULL, OPT_PREEMPT_FS},
    {"gpu-error-drains-node", no_argument, NULL, OPT_GPU_ERROR_DRAINS},
    {"max-preemptions-per-task", required_argument, NULL, OPT_MAX_PREEMPTIONS},
    {"max-checkpoint-grace", required_argument, NULL, OPT_MAX_GRACE},
    {"topology-levels", required_argument, NULL, OPT_TOPOLOGY_LEVELS},
    {"join-key", required_argument, NULL, OPT_JOIN_KEY},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-ca", required_argument, NULL, OPT_TLS_CA},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

typedef struct options {
    sched_daemon_config_t cfg;
    char *strs[32];
    int nstrs;
    const char *log_file;
    cairn_log_level_t level;
} options_t;

static int parse_duration(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0)
        return -EINVAL;
    long long mul = 1;
    if (!strcmp(end, "") || !strcmp(end, "ms"))
        mul = 1;
    else if (!strcmp(end, "s"))
        mul = 1000;
    else if (!strcmp(end, "m"))
        mul = 60000;
    else if (!strcmp(end, "h"))
        mul = 3600000;
    else if (!strcmp(end, "d"))
        mul = 86400000;
    else
        return -EINVAL;
    if (v > INT64_MAX / mul / 4)
        return -ERANGE;
    *out = v * mul;
    return 0;
}

static int parse_count(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > max || s[0] == '-')
        return -EINVAL;
    *out = v;
    return 0;
}

static const char *keep_str(options_t *o, const char *s)
{
    if (o->nstrs == (int)(sizeof(o->strs) / sizeof(o->strs[0])))
        return s;
    return o->strs[o->nstrs++] = strdup(s);
}

/* Apply one option; returns 0 or a message in why. */
static int apply_opt(options_t *o, int c, const char *arg, char *why, size_t n);

static int load_config(options_t *o, const char *path, char *why, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, n, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        char *p = line + strspn(line, " \t");
        p[strcspn(p, "\r\n#")] = '\0';
        if (!*p)
            continue;
        char *eq = strchr(p, '=');
        char key[64], val[960];
        if (!eq || sscanf(p, " %63[a-z-] = %959[^\n]", key, val) != 2) {
            snprintf(why, n, "%s:%d: expected 'key = value'", path, lineno);
            rc = -1;
            break;
        }
        size_t vl = strlen(val);
        while (vl && (val[vl - 1] == ' ' || val[vl - 1] == '\t'))
            val[--vl] = '\0';
        const struct option *opt = NULL;
        for (const struct option *q = opts; q->name && !opt; q++)
            if (!strcmp(q->name, key) &&
                (q->has_arg == required_argument || q->val == OPT_ANON_WRITES ||
                 q->val == OPT_NO_PREFETCH || q->val == OPT_ANY_NODE_NAME ||
                 q->val == OPT_PREEMPT_FS || q->val == OPT_GPU_ERROR_DRAINS) &&
                strcmp(key, "config") != 0)
                opt = q;
        if (!opt) {
            snprintf(why, n, "%s:%d: unknown key '%s'", path, lineno, key);
            rc = -1;
        } else if (apply_opt(o, opt->val, val, why, n) < 0) {
            char inner[256];
            snprintf(inner, sizeof(inner), "%s", why);
            snprintf(why, n, "%s:%d: %s", path, lineno, inner);
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

static int apply_opt(options_t *o, int c, const char *arg, char *why, size_t n)
{
    int64_t ms;
    uint64_t v;
    switch (c) {
    case 's':
        o->cfg.state_dir = keep_str(o, arg);
        return 0;
    case 'w':
        o->cfg.worker_url = keep_str(o, arg);
        return 0;
    case OPT_STORE:
        o->cfg.store = keep_str(o, arg);
        return 0;
    case OPT_NAME:
        o->cfg.name = keep_str(o, arg);
        return 0;
    case OPT_LEASE:
        if (parse_duration(arg, &ms) < 0 || ms < 300 || ms > 600000) {
            snprintf(why, n, "--lease: '%s' is not a duration from 300ms to 10m", arg);
            return -1;
        }
        o->cfg.lease_ms = ms;
        return 0;
    case 'c':
        o->cfg.client_url = keep_str(o, arg);
        return 0;
    case 'f':
        return load_config(o, arg, why, n);
    case OPT_SNAPSHOT_EVERY:
        if (strcmp(arg, "0") != 0 && parse_count(arg, UINT32_MAX, &v) < 0) {
            snprintf(why, n, "invalid entry count '%s' (0..4294967295)", arg);
            return -1;
        }
        o->cfg.snapshot_every = strcmp(arg, "0") ? v : 0;
        return 0;
    case OPT_SNAPSHOT_INTERVAL:
        if (parse_duration(arg, &o->cfg.snapshot_interval_ms) < 0) {
            snprintf(why, n, "invalid duration '%s'", arg);
            return -1;
        }
        return 0;
    case OPT_SAMPLE_INTERVAL:
    case OPT_USAGE_RETENTION:
        if (parse_duration(arg, &ms) < 0 || (c == OPT_USAGE_RETENTION && ms == 0)) {
            snprintf(why, n, "invalid duration '%s'", arg);
            return -1;
        }
        *(c == OPT_SAMPLE_INTERVAL ? &o->cfg.sample_interval_ms : &o->cfg.usage_retention_ms) = ms;
        return 0;
    case OPT_HB_RATE:
        if (strcmp(arg, "0") == 0) {
            o->cfg.heartbeat_rate = 0;
            return 0;
        }
        if (parse_count(arg, 1000000, &v) < 0) {
            snprintf(why, n, "invalid heartbeat rate '%s' (0..1000000 per second)", arg);
            return -1;
        }
        o->cfg.heartbeat_rate = (uint32_t)v;
        return 0;
    case OPT_KEEP_FINISHED:
    case OPT_HISTORY_RETENTION:
        if (parse_duration(arg, &ms) < 0 || (c == OPT_HISTORY_RETENTION && ms == 0)) {
            snprintf(why, n, "invalid duration '%s'", arg);
            return -1;
        }
        *(c == OPT_KEEP_FINISHED ? &o->cfg.keep_finished_ms : &o->cfg.history_retention_ms) = ms;
        return 0;
    case OPT_HB_INTERVAL:
    case OPT_HB_TIMEOUT:
    case OPT_GRACE:
    case OPT_KILL_GRACE:
    case OPT_REGISTER_TIMEOUT:
        if (parse_duration(arg, &ms) < 0 || (c != OPT_GRACE && c != OPT_KILL_GRACE && ms == 0)) {
            snprintf(why, n, "invalid duration '%s'", arg);
            return -1;
        }
        if (c == OPT_REGISTER_TIMEOUT && ms < 2000) { /* the endpoint probe's own connection */
            snprintf(why, n, "register timeout '%s' is below 2s", arg);
            return -1;
        }
        *(c == OPT_HB_INTERVAL        ? &o->cfg.heartbeat_interval_ms
          : c == OPT_HB_TIMEOUT       ? &o->cfg.heartbeat_timeout_ms
          : c == OPT_GRACE            ? &o->cfg.restart_grace_ms
          : c == OPT_REGISTER_TIMEOUT ? &o->cfg.register_timeout_ms
                                      : &o->cfg.kill_grace_ms) = ms;
        return 0;
    case OPT_MAX_MSG:
        if (parse_count(arg, 1u << 30, &v) < 0 || v < 4096) {
            snprintf(why, n, "invalid message size '%s' (4096..1073741824)", arg);
            return -1;
        }
        o->cfg.max_msg = v;
        return 0;
    case OPT_MAX_TASKS:
        if (parse_count(arg, 1000000, &v) < 0) {
            snprintf(why, n, "invalid task count '%s' (1..1000000)", arg);
            return -1;
        }
        o->cfg.limits.max_tasks = (uint32_t)v;
        return 0;
    case OPT_FS_GPU_WEIGHT:
        if (parse_count(arg, 1000000, &v) < 0) {
            snprintf(why, n, "invalid GPU weight '%s' (1..1000000)", arg);
            return -1;
        }
        o->cfg.fs_gpu_weight = (uint32_t)v;
        return 0;
    case OPT_FS_HALF_LIFE:
        if (parse_duration(arg, &ms) < 0 || ms < 1000) {
            snprintf(why, n, "invalid half-life '%s' (a duration of 1s or more)", arg);
            return -1;
        }
        o->cfg.fs_half_life_ms = ms;
        return 0;
    case OPT_HTTP:
        o->cfg.http_addr = keep_str(o, arg);
        return 0;
    case OPT_ADMINS:
        if (arg[strspn(arg, " \t,")] == '\0' || strstr(arg, "@,") || arg[strlen(arg) - 1] == '@') {
            snprintf(why, n, "invalid administrator list '%s' (user,uid,@group,...)", arg);
            return -1;
        }
        o->cfg.admins = keep_str(o, arg);
        return 0;
    case OPT_JOIN_KEY:
        o->cfg.join_key_file = keep_str(o, arg);
        return 0;
    case OPT_SECRET_ENV:
        o->cfg.secret_pattern = keep_str(o, arg);
        return 0;
    case OPT_TLS_CERT:
        o->cfg.tls_cert = keep_str(o, arg);
        return 0;
    case OPT_TLS_CA:
        o->cfg.tls_ca = keep_str(o, arg);
        return 0;
    case OPT_MAX_PREEMPTIONS:
        if (parse_count(arg, 1000000, &v) < 0) {
            snprintf(why, n, "invalid preemption count '%s' (1..1000000)", arg);
            return -1;
        }
        o->cfg.max_preemptions_per_task = (uint32_t)v;
        return 0;
    case OPT_MAX_GRACE:
        if (parse_duration(arg, &ms) < 0 || ms < 1000) {
            snprintf(why, n, "invalid checkpoint grace '%s' (a duration of 1s or more)", arg);
            return -1;
        }
        o->cfg.limits.max_grace_ms = ms;
        return 0;
    case OPT_TOPOLOGY_LEVELS: {
        cairn_error_t e = {{0}};
        if (sched_topology_levels_check(arg, &e) < 0) {
            snprintf(why, n, "invalid --topology-levels '%.200s': %s", arg, e.text);
            return -1;
        }
        o->cfg.topology_levels = o->cfg.limits.topology_levels = keep_str(o, arg);
        return 0;
    }
    case OPT_NO_PREFETCH: /* flags: no value on the command line */
    case OPT_PREEMPT_FS:
    case OPT_GPU_ERROR_DRAINS:
    case OPT_ANON_WRITES:
    case OPT_ANY_NODE_NAME: {
        bool on;
        if (!arg || !strcmp(arg, "true") || !strcmp(arg, "yes") || !strcmp(arg, "1"))
            on = true;
        else if (!strcmp(arg, "false") || !strcmp(arg, "no") || !strcmp(arg, "0"))
            on = false;
        else {
            snprintf(why, n, "invalid value '%s' (true or false)", arg);
            return -1;
        }
        if (c == OPT_NO_PREFETCH)
            o->cfg.no_prefetch = on;
        else if (c == OPT_PREEMPT_FS)
            o->cfg.preempt_for_fair_share = on;
        else if (c == OPT_GPU_ERROR_DRAINS)
            o->cfg.gpu_error_drains_node = on;
        else
            *(c == OPT_ANON_WRITES ? &o->cfg.allow_anonymous_writes : &o->cfg.allow_any_node_name) =
                on;
        return 0;
    }
    case OPT_LOG_FILE:
        o->log_file = keep_str(o, arg);
        return 0;
    case OPT_LOG_LEVEL:
        if (cairn_log_level_parse(arg, &o->level) < 0) {
            snprintf(why, n, "invalid log level '%s'", arg);
            return -1;
        }
        return 0;
    default:
        snprintf(why, n, "unknown option");
        return -1;
    }
}

typedef struct run {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    sched_daemon_t *d;
    cairn_log_t log;
} run_t;

/* nng 1.5.2's nng_close() can deadlock: a shutdown that takes longer than
 * this ends the process anyway. Everything acknowledged is already durable. */
#define STOP_DEADLINE_S 5

static void stop_deadline(int sig)
{
    (void)sig;
    static const char msg[] = "cairn-scheduler: shutdown took too long (nng_close stuck): "
                              "exiting\n";
    ssize_t w = write(2, msg, sizeof(msg) - 1);
    (void)w;
    _exit(0);
}

static void on_signal(uv_signal_t *h, int signum)
{
    run_t *r = h->data;
    cairn_log(&r->log, CAIRN_LOG_INFO, "%s: shutting down",
              signum == SIGTERM ? "SIGTERM" : "SIGINT");
    signal(SIGALRM, stop_deadline);
    alarm(STOP_DEADLINE_S);
    sched_daemon_destroy(r->d);
    r->d = NULL;
    uv_close((uv_handle_t *)&r->sigterm, NULL);
    uv_close((uv_handle_t *)&r->sigint, NULL);
}

static char default_state[4096];

static const char *default_state_dir(void)
{
    const char *env = getenv("CAIRN_STATE_DIR");
    if (env && *env)
        return env;
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(default_state, sizeof(default_state), "%s/cairn", xdg);
    else
        snprintf(default_state, sizeof(default_state), "%s/.local/state/cairn",
                 home && *home ? home : "/tmp");
    return default_state;
}

static int verify_main(const char *dir, const sched_daemon_config_t *dc)
{
    char path[4096];
    if (dc->store)
        snprintf(path, sizeof(path), "%s", dc->store);
    else
        snprintf(path, sizeof(path), "%s/journal.db", dir);
    if (!dc->store && access(path, R_OK) != 0) {
        fprintf(stderr, "cairn-scheduler: no journal at %s\n", path);
        return 1;
    }
    verify_report_t rep;
    cairn_error_t err = {{0}};
    /* placements are re-derived with the scheduler's own settings */
    sched_config_t sc = sched_daemon_core_config(dc);
    int rc = journal_verify_cfg(path, &sc, stdout, &rep, &err);
    char *shown = sdb_url_redact(path); /* no password in what it prints */
    char from[96] = "";
    if (rep.from_seq)
        snprintf(from, sizeof(from), " (from the snapshot of entry %llu)",
                 (unsigned long long)rep.from_seq);
    fprintf(stderr,
            "%s: %llu entries, %llu placements in %llu passes, %llu snapshots checked%s: %s%s\n",
            shown ? shown : path, (unsigned long long)rep.entries,
            (unsigned long long)rep.placements, (unsigned long long)rep.passes,
            (unsigned long long)rep.snapshots, from,
            rc == 0 ? "replays identically" : "DIFFERS: ", rc == 0 ? "" : err.text);
    free(shown);
    return rc == 0 ? 0 : 1;
}

static void options_fini(options_t *o)
{
    for (int i = 0; i < o->nstrs; i++)
        free(o->strs[i]);
    o->nstrs = 0;
}

static int run_daemon(options_t *o);

int main(int argc, char **argv)
{
    int rc = 2;
    options_t o = {.level = CAIRN_LOG_INFO};
    bool verify = false;
    sched_daemon_config_init(&o.cfg);
    char why[512];
    int c;
    while ((c = getopt_long(argc, argv, "s:w:c:f:hV", opts, NULL)) != -1) {
        if (c == 'h' || c == 'V') {
            if (c == 'h')
                usage(stdout);
            else
                printf("cairn-scheduler %s\n", CAIRN_VERSION);
            options_fini(&o);
            return 0;
        }
        if (c == OPT_VERIFY) {
            verify = true;
            continue;
        }
        if (c == '?') {
            usage(stderr);
            goto out;
        }
        if (apply_opt(&o, c, optarg, why, sizeof(why)) < 0) {
            fprintf(stderr, "cairn-scheduler: %s\n", why);
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cairn-scheduler: unexpected argument '%s'\n", argv[optind]);
        goto out;
    }
    if (!o.cfg.state_dir)
        o.cfg.state_dir = default_state_dir();
    o.cfg.argv = argv;
    rc = verify ? verify_main(o.cfg.state_dir, &o.cfg) : run_daemon(&o);
out:
    options_fini(&o);
    return rc;
}

static int run_daemon(options_t *op)
{
    options_t o = *op;
    signal(SIGPIPE, SIG_IGN);
    run_t r = {0};
    cairn_error_t err = {{0}};
    if (cairn_log_open(&r.log, "cairn-scheduler", o.log_file, o.level, &err) < 0) {
        fprintf(stderr, "cairn-scheduler: cannot open log file: %s\n", err.text);
        return 1;
    }
    /* whoever else can write the state directory could swap the journal
     * or the sockets in it; a missing one is created 0700 */
    int rc = cairn_dir_check_private(o.cfg.state_dir, "state directory", &err);
    if (rc < 0 && rc != -ENOENT) {
        cairn_log(&r.log, CAIRN_LOG_ERROR, "%s", err.text);
        cairn_log_close(&r.log);
        return 1;
    }
    uv_loop_init(&r.loop);
    if (sched_daemon_create(&r.loop, &o.cfg, &r.log, &r.d, &err) < 0) {
        cairn_log(&r.log, CAIRN_LOG_ERROR, "%s", err.text);
        uv_run(&r.loop, UV_RUN_DEFAULT);
        uv_loop_close(&r.loop);
        return 1;
    }
    uv_signal_init(&r.loop, &r.sigterm);
    uv_signal_init(&r.loop, &r.sigint);
    r.sigterm.data = r.sigint.data = &r;
    uv_signal_start(&r.sigterm, on_signal, SIGTERM);
    uv_signal_start(&r.sigint, on_signal, SIGINT);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&r.loop);
    cairn_log(&r.log, CAIRN_LOG_INFO, "stopped");
    cairn_log_close(&r.log);
    return rc == 0 ? 0 : 1;
}
