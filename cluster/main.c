/* cairn: the command-line client. Global options, the command table, and
 * the helpers every command shares (scheduler address, calls, exit codes). */
#include <errno.h>
#include <getopt.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/cmd.h"

static const struct cli_cmd {
    const char *name;
    cli_cmd_f fn;
    const char *help; /* full help text; its first line is the summary */
    const char *summary;
} commands[] = {
    {"submit", cmd_submit, cmd_submit_help, "submit a job spec (YAML)"},
    {"status", cmd_status, cmd_status_help, "show a job and its tasks"},
    {"jobs", cmd_jobs, cmd_jobs_help, "list jobs"},
    {"wait", cmd_wait, cmd_wait_help, "wait for a job to end"},
    {"logs", cmd_logs, cmd_logs_help, "print a task's output"},
    {"cancel", cmd_cancel, cmd_cancel_help, "cancel a job or one task"},
    {"explain", cmd_explain, cmd_explain_help, "say why a task waits or where it runs"},
    {"nodes", cmd_nodes, cmd_nodes_help, "show nodes and GPUs"},
    {"drain", cmd_drain, cmd_drain_help, "stop placing work on a node"},
    {"undrain", cmd_undrain, cmd_undrain_help, "put a drained node back to work"},
    {"node", cmd_node, cmd_node_help, "remove a node that is gone"},
    {"gpu", cmd_gpu, cmd_gpu_help, "return a GPU marked unhealthy to service"},
    {"inspect", cmd_inspect, cmd_inspect_help, "what exactly ran, where, with what"},
    {"provenance", cmd_provenance, cmd_provenance_help, "a job's provenance record (JSON)"},
    {"rerun", cmd_rerun, cmd_rerun_help, "run a recorded job again, same spec and seeds"},
    {"diff", cmd_diff, cmd_diff_help, "what differed between two runs"},
    {"report", cmd_report, cmd_report_help, "utilisation, GPU-hours, waits, fragmentation"},
    {"plan", cmd_plan, cmd_plan_help, "predict waits and utilisation on a what-if cluster"},
    {"account", cmd_account, cmd_account_help, "teams' accounts: limits, fair share, usage"},
    {"schedulers", cmd_schedulers, cmd_schedulers_help, "the leader and standby schedulers"},
    {"audit", cmd_audit, cmd_audit_help, "who changed what; verify the audit trail"},
    {"up", cmd_up, cmd_up_help, "start a local cluster"},
    {"down", cmd_down, cmd_down_help, "stop the local cluster"},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
    fprintf(f, "Usage: cairn [OPTIONS] COMMAND [ARGS]\n"
               "\n"
               "The Cairn client: submit job DAGs, watch them, read logs and manage nodes.\n"
               "\n"
               "Options:\n"
               "  --scheduler URL  the scheduler's client endpoint (default:\n"
               "                   $CAIRN_SCHEDULER, else ipc://$CAIRN_STATE_DIR/clients.sock);\n"
               "                   URL,URL...: a leader's and its standbys' endpoints, tried\n"
               "                   in order; a standby's answer leads to the leader\n"
               "  --tls-cert FILE  certificate and key (PEM) for a tls+tcp:// scheduler\n"
               "                   [$CAIRN_TLS_CERT]\n"
               "  --tls-ca FILE    CA (PEM) that signed the scheduler's certificate\n"
               "                   [$CAIRN_TLS_CA]\n"
               "  -h, --help       show this help and exit\n"
               "  -V, --version    show the version and exit\n"
               "\n"
               "Commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'cairn COMMAND --help' describes a command. Exit codes: 0 ok, 1 failed,\n"
               "2 bad usage or input, 3 cannot reach the scheduler, 4 not found,\n"
               "5 permission denied (another user's job, administrators only, or a\n"
               "scheduler socket that is not open to you).\n");
}

/* Who we are, for messages. */
static const char *cli_user(void)
{
    static char name[64];
    const struct passwd *pw = getpwuid(geteuid());
    if (pw && pw->pw_name)
        snprintf(name, sizeof(name), "%s", pw->pw_name);
    else
        snprintf(name, sizeof(name), "%u", (unsigned)geteuid());
    return name;
}

const char *cli_state_dir(void)
{
    static char buf[4096];
    const char *env = getenv("CAIRN_STATE_DIR");
    if (env && *env)
        return env;
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(buf, sizeof(buf), "%s/cairn", xdg);
    else
        snprintf(buf, sizeof(buf), "%s/.local/state/cairn", home && *home ? home : "/tmp");
    return buf;
}

/* For an ipc:// endpoint, whether we can connect to its socket: 0, or
 * ENOENT when there is none (a scheduler that is not running is reported
 * at once instead of after the request timeout), or EACCES when it or a
 * directory above it is not ours to use. */
static int ipc_check(const char *url)
{
    struct stat st;
    const char *path = url + 6;
    if (strncmp(url, "ipc://", 6) != 0)
        return 0;
    if (stat(path, &st) != 0)
        return errno == EACCES || errno == EPERM ? EACCES : ENOENT;
    if (!S_ISSOCK(st.st_mode))
        return ENOENT;
    /* connecting to a Unix socket needs write permission on it */
    if (access(path, W_OK) != 0 && (errno == EACCES || errno == EPERM))
        return EACCES;
    return 0;
}

static int unreachable(const cli_t *c, const cairn_error_t *err)
{
    /* several endpoints, or a standby: what each said */
    if (err && !strncmp(err->text, "no scheduler answered", 21)) {
        fprintf(stderr, "cairn: %s\n", err->text);
        return CLI_UNREACHABLE;
    }
    fprintf(stderr, "cairn: cannot reach the scheduler at %s (is it running? try 'cairn up')\n",
            c->url);
    return CLI_UNREACHABLE;
}

int cli_call(cli_t *c, cairn_msg_type_t type, const ProtobufCMessage *req, cairn_msg_type_t want,
             ProtobufCMessage **rep)
{
    cairn_error_t err = {{0}};
    if (!c->client) {
        /* one endpoint; a list is probed by the client (client.h) */
        int e = strchr(c->url, ',') ? 0 : ipc_check(c->url);
        if (e == EACCES) {
            fprintf(stderr,
                    "cairn: permission denied: cannot use the scheduler's socket %s: it, or a "
                    "directory above it, is not open to user %s (ask the cluster's "
                    "administrator for access)\n",
                    c->url + 6, cli_user());
            return CLI_DENIED;
        }
        if (e)
            return unreachable(c, NULL);
        if (cairn_client_create(c->url, CLI_TIMEOUT_MS, &c->client, &err) < 0) {
            fprintf(stderr, "cairn: %s\n", err.text);
            return CLI_UNREACHABLE;
        }
    }
    /* reads may be repeated; a submit, cancel, drain or account change must
     * not be; heavy reads are asked again only after a minute, and waited
     * for longer */
    bool reads = cairn_client_is_read(type, req);
    bool heavy = cairn_client_is_heavy(type);
    cairn_client_set_resend(c->client, !reads ? 0 : heavy ? 60000 : 1000);
    cairn_client_set_timeout(c->client, heavy ? CLI_HEAVY_TIMEOUT_MS : CLI_TIMEOUT_MS);
    int rc = cairn_client_call(c->client, type, req, want, rep, &err);
    /* a read that rode a commit that failed (state disk full or broken) is
     * answered "try again later": ask again a few times, backing off */
    for (int tries = 0; reads && rc == -EAGAIN && tries < 5; tries++) {
        nng_msleep(100 << tries);
        rc = cairn_client_call(c->client, type, req, want, rep, &err);
    }
    if (rc == 0)
        return CLI_OK;
    if (rc == -ETIMEDOUT || (rc == -EIO && (!strncmp(err.text, "cannot reach", 12) ||
                                            !strncmp(err.text, "no answer", 9))))
        return unreachable(c, &err);
    if (rc == -EACCES) {
        fprintf(stderr, "cairn: permission denied: %s\n", err.text);
        return CLI_DENIED;
    }
    fprintf(stderr, "cairn: %s\n", err.text);
    if (rc == -ENOENT)
        return CLI_NOTFOUND;
    return CLI_FAIL;
}

int cli_parse_digits(const char *s, uint64_t max, uint64_t *out, const char **end)
{
    uint64_t v = 0;
    const char *p = s;
    if (!s || *p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    if (end)
        *end = p;
    return 0;
}

int cli_parse_uint(const char *cmd, const char *opt, const char *s, uint64_t min, uint64_t max,
                   uint64_t *out)
{
    const char *end = NULL;
    uint64_t v;
    if (cli_parse_digits(s, max, &v, &end) < 0 || *end || v < min)
        return cli_usage_error(cmd, "%s '%s' is not a number from %llu to %llu", opt, s,
                               (unsigned long long)min, (unsigned long long)max);
    *out = v;
    return CLI_OK;
}

int cli_accounting(cli_t *c, int64_t since_ms, int64_t until_ms, cli_acct_t *out)
{
    memset(out, 0, sizeof(*out));
    Cairn__AccountingRequest q = CAIRN__ACCOUNTING_REQUEST__INIT;
    q.since_ms = since_ms;
    q.until_ms = until_ms;
    for (;;) {
        ProtobufCMessage *m = NULL;
        int rc = cli_call(c, CAIRN_MSG_ACCOUNTING, &q.base, CAIRN_MSG_ACCOUNTING_REPLY, &m);
        if (rc != CLI_OK) {
            report_acct_fini(out);
            return rc;
        }
        Cairn__AccountingReply *r = (Cairn__AccountingReply *)m;
        if (report_acct_add(out, m) < 0) {
            report_acct_fini(out);
            fprintf(stderr, "cairn: out of memory\n");
            return CLI_FAIL;
        }
        if (!r->more || !r->n_records)
            return CLI_OK;
        q.after_attempt_id = r->next_attempt_id;
        q.after_rank = r->next_rank;
    }
}

uint64_t cli_job_id(const char *cmd, const char *s)
{
    const char *end = NULL;
    uint64_t v = 0;
    if (cli_parse_digits(s, UINT32_MAX, &v, &end) < 0 || *end || v == 0) {
        cli_usage_error(cmd, "'%s' is not a job id", s);
        return 0;
    }
    return v;
}

bool cli_help_asked(int argc, char **argv, const char *help)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(help, stdout);
            return true;
        }
    }
    return false;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cairn %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'cairn %s --help'.\n", cmd);
    return CLI_USAGE;
}

int main(int argc, char **argv)
{
    enum { OPT_SCHEDULER = 256, OPT_TLS_CERT, OPT_TLS_CA };
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"scheduler", required_argument, NULL, OPT_SCHEDULER},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-ca", required_argument, NULL, OPT_TLS_CA},
        {NULL, 0, NULL, 0},
    };
    static char url[4200];
    cli_t c = {0};
    int ch;
    while ((ch = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
        switch (ch) {
        case 'h':
            usage(stdout);
            return CLI_OK;
        case 'V':
            printf("cairn %s\n", CAIRN_VERSION);
            return CLI_OK;
        case OPT_SCHEDULER:
            c.url = optarg;
            break;
        case OPT_TLS_CERT: /* read by the client library */
            setenv("CAIRN_TLS_CERT", optarg, 1);
            break;
        case OPT_TLS_CA:
            setenv("CAIRN_TLS_CA", optarg, 1);
            break;
        default:
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (!c.url) {
        const char *env = getenv("CAIRN_SCHEDULER");
        if (env && *env)
            c.url = env;
        else {
            snprintf(url, sizeof(url), "ipc://%s/clients.sock", cli_state_dir());
            c.url = url;
        }
    }
    c.tty = isatty(STDOUT_FILENO);
    const char *nc = getenv("NO_COLOR");
    c.color = c.tty && !(nc && *nc);
    const char *name = argv[optind];
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, name) != 0)
            continue;
        int sub_argc = argc - optind;
        char **sub_argv = argv + optind;
        int rc = cli_help_asked(sub_argc, sub_argv, commands[i].help)
                     ? CLI_OK
                     : (optind = 0, commands[i].fn(&c, sub_argc, sub_argv));
        cairn_client_destroy(c.client);
        return rc;
    }
    fprintf(stderr, "cairn: unknown command '%s'\n\n", name);
    usage(stderr);
    return CLI_USAGE;
}
