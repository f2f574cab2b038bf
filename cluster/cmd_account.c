/* cairn account: set, delete, list and usage of the accounts that teams
 * charge their jobs to (AccountRequest, proto/client.proto). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cmd.h"
#include "proto/client.pb-c.h"

const char cmd_account_help[] =
    "Usage: cairn account set NAME [--parent P] [--users U1,U2] [--groups G1,G2]\n"
    "                 [--share W] [--max-gpus N|none] [--max-cpus N|none]\n"
    "                 [--max-running N|none] [--max-priority N|none]\n"
    "                 [--default|--no-default]\n"
    "       cairn account delete NAME\n"
    "       cairn account list [--json]\n"
    "       cairn account usage [--json]\n"
    "\n"
    "Accounts form a tree; every job is charged to one: its spec's account:\n"
    "(the submitter must be a member, directly or through a group), else the\n"
    "submitter's only account or the one of theirs marked --default, else the\n"
    "built-in 'default' (no limits). Limits cap what an account's running\n"
    "attempts, with its children's, hold at once; a task past one waits.\n"
    "Within a priority, ready tasks go in the fair-share order of their accounts.\n"
    "\n"
    "'set' creates NAME or changes only the options given (administrators):\n"
    "  --parent P       put it under P ('' : top level)\n"
    "  --users LIST     its users (replaces the list; '' : none)\n"
    "  --groups LIST    its groups: their members may charge it ('' : none)\n"
    "  --share W        its weight among its siblings (1..1000000) [1]\n"
    "  --max-gpus N     GPUs its running attempts may hold at once ('none': no limit)\n"
    "  --max-cpus N     cores, the same\n"
    "  --max-running N  running attempts, the same\n"
    "  --max-priority N the highest priority its jobs may ask for ('none': no cap)\n"
    "  --default        the account its members' jobs go to when the spec names\n"
    "                   none (--no-default: not)\n"
    "'delete' removes an account with no children and no unfinished jobs\n"
    "(administrators). 'list' shows the tree, limits and members; 'usage' each\n"
    "account's share, normalized share, decayed usage (core-seconds; a GPU-second\n"
    "counts as the scheduler's --fair-share-gpu-weight), normalized usage,\n"
    "fair-share factor (1: served first) and rank, and what its running attempts\n"
    "hold against its limits (\"3/16\").\n";

/* A limit's value: N, or none (unset). */
static int parse_limit(const char *opt, const char *s, bool *set, uint32_t *v)
{
    if (!strcmp(s, "none")) {
        *set = false;
        return CLI_OK;
    }
    uint64_t n;
    if (cli_parse_uint("account", opt, s, 0, UINT32_MAX - 1, &n) != CLI_OK)
        return CLI_USAGE;
    *set = true;
    *v = (uint32_t)n;
    return CLI_OK;
}

/* A comma-separated list into *v (pointers into s, which is modified). */
static int split_list(char *s, char ***v, size_t *n, bool group)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    *v = calloc(cap, sizeof(char *));
    if (!*v)
        return -ENOMEM;
    *n = 0;
    for (char *save = NULL, *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save))
        (*v)[(*n)++] = group && *t == '@' ? t + 1 : t;
    return 0;
}

static int add_field(Cairn__AccountSet *as, const char *f)
{
    for (size_t i = 0; i < as->n_fields; i++)
        if (!strcmp(as->fields[i], f))
            return 0;
    as->fields[as->n_fields++] = (char *)f;
    return 0;
}

/* "16" or "-" (unset). */
static const char *opt_u32(bool set, uint32_t v, char *buf, size_t n)
{
    if (!set)
        return "-";
    snprintf(buf, n, "%u", v);
    return buf;
}

/* How deep account k is (parents come before children in a reply). */
static size_t depth_of(Cairn__Account **v, size_t k, size_t *depth)
{
    if (!v[k]->parent || !*v[k]->parent)
        return 0;
    for (size_t i = 0; i < k; i++)
        if (!strcmp(v[i]->name, v[k]->parent))
            return depth[i] + 1;
    return 0;
}

static void members_text(const Cairn__Account *a, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < a->n_users && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? "," : "", a->users[i]);
    for (size_t i = 0; i < a->n_groups && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s@%s", len ? "," : "", a->groups[i]);
    if (!len)
        snprintf(buf, n, "-");
}

#define HAS(a, f) ((a)->f##_set_case != 0)

static json_t *json_limit(bool set, int64_t v)
{
    return set ? json_integer(v) : json_null();
}

static json_t *json_names(char **v, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n && arr; i++)
        cairn_json_push(&arr, cairn_json_str(v[i]));
    return arr;
}

/* One account as `cairn account list --json` has it (the contract that
 * `cairn plan --accounts FILE` reads). */
static json_t *account_json(const Cairn__Account *a)
{
    return json_pack("{s:o, s:o, s:I, s:o, s:o, s:b, s:o, s:o, s:o, s:o, s:b, s:I}", "name",
                     cairn_json_str(a->name), "parent",
                     a->parent && *a->parent ? cairn_json_str(a->parent) : json_null(), "share",
                     (json_int_t)a->share, "users", json_names(a->users, a->n_users), "groups",
                     json_names(a->groups, a->n_groups), "default", a->is_default, "max_gpus",
                     json_limit(HAS(a, max_gpus), a->max_gpus), "max_cpus",
                     json_limit(HAS(a, max_cpus), a->max_cpus), "max_running",
                     json_limit(HAS(a, max_running), a->max_running), "max_priority",
                     json_limit(HAS(a, max_priority), a->max_priority), "builtin", a->builtin, "id",
                     (json_int_t)a->id);
}

static int print_list(const cli_t *c, const Cairn__AccountReply *r, bool json)
{
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < r->n_accounts && arr; i++)
            cairn_json_push(&arr, account_json(r->accounts[i]));
        return ui_print_json(json_pack("{s:o}", "accounts", arr), CAIRN_JSON_LINE);
    }
    static const char *const hdr[] = {"ACCOUNT",     "SHARE",    "MAX GPUS", "MAX CPUS",
                                      "MAX RUNNING", "MAX PRIO", "DEFAULT",  "MEMBERS"};
    ui_table_t *t = ui_table_create(8, hdr);
    size_t *depth = calloc(r->n_accounts + 1, sizeof(size_t));
    if (!t || !depth) {
        ui_table_destroy(t);
        free(depth);
        return CLI_FAIL;
    }
    for (size_t i = 0; i < r->n_accounts; i++) {
        const Cairn__Account *a = r->accounts[i];
        depth[i] = depth_of(r->accounts, i, depth);
        char name[300], share[16], g[16], k[16], run[16], prio[16], members[1024];
        snprintf(name, sizeof(name), "%*s%s%s", (int)(2 * depth[i]), "", a->name,
                 a->builtin ? " (built-in)" : "");
        snprintf(share, sizeof(share), "%u", a->share);
        if (HAS(a, max_priority))
            snprintf(prio, sizeof(prio), "%d", a->max_priority);
        else
            snprintf(prio, sizeof(prio), "-");
        members_text(a, members, sizeof(members));
        const char *cells[] = {name,
                               share,
                               opt_u32(HAS(a, max_gpus), a->max_gpus, g, sizeof(g)),
                               opt_u32(HAS(a, max_cpus), a->max_cpus, k, sizeof(k)),
                               opt_u32(HAS(a, max_running), a->max_running, run, sizeof(run)),
                               prio,
                               a->is_default ? "yes" : "-",
                               members};
        ui_table_add(t, cells, -1, NULL);
    }
    ui_table_print(c, t, stdout);
    ui_table_destroy(t);
    free(depth);
    return CLI_OK;
}

/* "3/16" against a limit, or "3". */
static const char *held(uint32_t v, bool set, uint32_t limit, char *buf, size_t n)
{
    if (set)
        snprintf(buf, n, "%u/%u", v, limit);
    else
        snprintf(buf, n, "%u", v);
    return buf;
}

static int print_usage(const cli_t *c, const Cairn__AccountReply *r, bool json)
{
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < r->n_usage && arr; i++) {
            const Cairn__AccountUsage *u = r->usage[i];
            const Cairn__Account *a = u->limits;
            cairn_json_push(
                &arr,
                json_pack(
                    "{s:o, s:o, s:I, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:o, s:o, s:o}",
                    "name", cairn_json_str(u->name), "parent",
                    u->parent && *u->parent ? cairn_json_str(u->parent) : json_null(), "share",
                    (json_int_t)u->share, "norm_share", cairn_json_fixed(u->norm_share, 6), "usage",
                    cairn_json_fixed(u->usage, 3), "norm_usage", cairn_json_fixed(u->norm_usage, 6),
                    "fairshare", cairn_json_fixed(u->fairshare, 6), "rank", (json_int_t)u->rank,
                    "gpus", (json_int_t)u->gpus, "cpus", (json_int_t)u->cpus, "running",
                    (json_int_t)u->running, "max_gpus",
                    json_limit(a && HAS(a, max_gpus), a ? a->max_gpus : 0), "max_cpus",
                    json_limit(a && HAS(a, max_cpus), a ? a->max_cpus : 0), "max_running",
                    json_limit(a && HAS(a, max_running), a ? a->max_running : 0)));
        }
        return ui_print_json(json_pack("{s:I, s:I, s:I, s:o}", "time_ms", (json_int_t)r->time_ms,
                                       "gpu_weight", (json_int_t)r->gpu_weight, "half_life_ms",
                                       (json_int_t)r->half_life_ms, "accounts", arr),
                             CAIRN_JSON_LINE);
    }
    static const char *const hdr[] = {"ACCOUNT",   "SHARE", "NORM SHARE", "USAGE", "NORM USAGE",
                                      "FAIRSHARE", "RANK",  "GPUS",       "CPUS",  "RUNNING"};
    ui_table_t *t = ui_table_create(10, hdr);
    size_t *depth = calloc(r->n_usage + 1, sizeof(size_t));
    Cairn__Account **as = calloc(r->n_usage + 1, sizeof(*as));
    if (!t || !depth || !as) {
        ui_table_destroy(t);
        free(depth);
        free(as);
        return CLI_FAIL;
    }
    for (size_t i = 0; i < r->n_usage; i++)
        as[i] = r->usage[i]->limits;
    for (size_t i = 0; i < r->n_usage; i++) {
        const Cairn__AccountUsage *u = r->usage[i];
        const Cairn__Account *a = u->limits;
        depth[i] = a ? depth_of(as, i, depth) : 0;
        char name[300], share[16], ns[32], us[32], nu[32], fs[32], rank[16], g[32], k[32], run[32];
        snprintf(name, sizeof(name), "%*s%s", (int)(2 * depth[i]), "", u->name);
        snprintf(share, sizeof(share), "%u", u->share);
        snprintf(ns, sizeof(ns), "%.4f", u->norm_share);
        snprintf(us, sizeof(us), "%.0f", u->usage);
        snprintf(nu, sizeof(nu), "%.4f", u->norm_usage);
        snprintf(fs, sizeof(fs), "%.4f", u->fairshare);
        snprintf(rank, sizeof(rank), "%u", u->rank + 1);
        const char *cells[] = {
            name,
            share,
            ns,
            us,
            nu,
            fs,
            rank,
            held(u->gpus, a && HAS(a, max_gpus), a ? a->max_gpus : 0, g, sizeof(g)),
            held(u->cpus, a && HAS(a, max_cpus), a ? a->max_cpus : 0, k, sizeof(k)),
            held(u->running, a && HAS(a, max_running), a ? a->max_running : 0, run, sizeof(run))};
        ui_table_add(t, cells, -1, NULL);
    }
    ui_table_print(c, t, stdout);
    char hl[32];
    printf("usage in core-seconds (a GPU-second counts %u), halving every %s; rank 1 is served "
           "first\n",
           r->gpu_weight, ui_duration(r->half_life_ms, hl, sizeof(hl)));
    ui_table_destroy(t);
    free(depth);
    free(as);
    return CLI_OK;
}

/* Options of `set` into as (strings point into argv). */
static int parse_set(int argc, char **argv, Cairn__AccountSet *as, Cairn__Account *a, char ***users,
                     char ***groups)
{
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool set = false;
        uint64_t n;
        int rc = CLI_OK;
        if (!strcmp(o, "--default") || !strcmp(o, "--no-default")) {
            a->is_default = !strcmp(o, "--default");
            add_field(as, "is_default");
            continue;
        }
        if (!v)
            return cli_usage_error("account", "%s needs a value", o);
        i++;
        if (!strcmp(o, "--parent")) {
            a->parent = (char *)v;
            add_field(as, "parent");
        } else if (!strcmp(o, "--share")) {
            if (cli_parse_uint("account", o, v, 1, 1000000, &n) != CLI_OK)
                return CLI_USAGE;
            a->share = (uint32_t)n;
            add_field(as, "share");
        } else if (!strcmp(o, "--users") || !strcmp(o, "--groups")) {
            bool g = !strcmp(o, "--groups");
            char **list = NULL;
            size_t nl = 0;
            if (split_list(argv[i], &list, &nl, g) < 0)
                return CLI_FAIL;
            free(g ? *groups : *users);
            *(g ? groups : users) = list;
            if (g) {
                a->groups = list;
                a->n_groups = nl;
            } else {
                a->users = list;
                a->n_users = nl;
            }
            add_field(as, g ? "groups" : "users");
        } else if (!strcmp(o, "--max-gpus") || !strcmp(o, "--max-cpus") ||
                   !strcmp(o, "--max-running")) {
            uint32_t lim = 0;
            if ((rc = parse_limit(o, v, &set, &lim)) != CLI_OK)
                return rc;
            if (!strcmp(o, "--max-gpus")) {
                a->max_gpus = lim;
                a->max_gpus_set_case = set ? CAIRN__ACCOUNT__MAX_GPUS_SET_MAX_GPUS : 0;
                add_field(as, "max_gpus");
            } else if (!strcmp(o, "--max-cpus")) {
                a->max_cpus = lim;
                a->max_cpus_set_case = set ? CAIRN__ACCOUNT__MAX_CPUS_SET_MAX_CPUS : 0;
                add_field(as, "max_cpus");
            } else {
                a->max_running = lim;
                a->max_running_set_case = set ? CAIRN__ACCOUNT__MAX_RUNNING_SET_MAX_RUNNING : 0;
                add_field(as, "max_running");
            }
        } else if (!strcmp(o, "--max-priority")) {
            if (strcmp(v, "none") != 0) {
                char *end;
                errno = 0;
                long p = strtol(v, &end, 10);
                if (!*v || *end || errno || p < INT32_MIN || p >= INT32_MAX)
                    return cli_usage_error("account",
                                           "--max-priority '%s' is not a priority (an integer) "
                                           "or 'none'",
                                           v);
                a->max_priority = (int32_t)p;
                a->max_priority_set_case = CAIRN__ACCOUNT__MAX_PRIORITY_SET_MAX_PRIORITY;
            }
            add_field(as, "max_priority");
        } else {
            return cli_usage_error("account", "unknown option '%s'", o);
        }
    }
    return CLI_OK;
}

static int call(cli_t *c, Cairn__AccountRequest *req, Cairn__AccountReply **rep)
{
    return cli_call(c, CAIRN_MSG_ACCOUNT, &req->base, CAIRN_MSG_ACCOUNT_REPLY,
                    (ProtobufCMessage **)rep);
}

static int do_set(cli_t *c, int argc, char **argv)
{
    if (argc < 3 || argv[2][0] == '-')
        return cli_usage_error("account", "which account? (cairn account set NAME ...)");
    Cairn__Account a = CAIRN__ACCOUNT__INIT;
    Cairn__AccountSet as = CAIRN__ACCOUNT_SET__INIT;
    char *fields[16];
    char **users = NULL, **groups = NULL;
    a.name = argv[2];
    as.account = &a;
    as.fields = fields;
    int rc = parse_set(argc - 1, argv + 1, &as, &a, &users, &groups);
    Cairn__AccountReply *rep = NULL;
    if (rc == CLI_OK) {
        Cairn__AccountRequest req = CAIRN__ACCOUNT_REQUEST__INIT;
        req.op_case = CAIRN__ACCOUNT_REQUEST__OP_SET;
        req.set = &as;
        rc = call(c, &req, &rep);
    }
    if (rc == CLI_OK) {
        printf("account %s set\n", a.name);
        cairn_msg_free(&rep->base);
    }
    free(users);
    free(groups);
    return rc;
}

int cmd_account(cli_t *c, int argc, char **argv)
{
    if (cli_help_asked(argc, argv, cmd_account_help))
        return CLI_OK;
    const char *op = argc > 1 ? argv[1] : "";
    if (!strcmp(op, "set"))
        return do_set(c, argc, argv);
    Cairn__AccountRequest req = CAIRN__ACCOUNT_REQUEST__INIT;
    Cairn__AccountDelete del = CAIRN__ACCOUNT_DELETE__INIT;
    Cairn__AccountList list = CAIRN__ACCOUNT_LIST__INIT;
    bool json = false;
    if (!strcmp(op, "delete")) {
        if (argc != 3 || argv[2][0] == '-')
            return cli_usage_error("account", "which account? (cairn account delete NAME)");
        del.name = argv[2];
        req.op_case = CAIRN__ACCOUNT_REQUEST__OP_DELETE;
        req.delete_ = &del;
    } else if (!strcmp(op, "list") || !strcmp(op, "usage")) {
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--json") != 0)
                return cli_usage_error("account", "unexpected argument '%s'", argv[i]);
            json = true;
        }
        list.usage = !strcmp(op, "usage");
        req.op_case = CAIRN__ACCOUNT_REQUEST__OP_LIST;
        req.list = &list;
    } else {
        return cli_usage_error("account",
                               argc < 2 ? "what? (set, delete, list or usage)"
                                        : "unknown action '%s': expected set, delete, list or "
                                          "usage",
                               op);
    }
    Cairn__AccountReply *rep = NULL;
    int rc = call(c, &req, &rep);
    if (rc != CLI_OK)
        return rc;
    if (req.op_case == CAIRN__ACCOUNT_REQUEST__OP_DELETE)
        printf("account %s deleted\n", del.name);
    else
        rc = list.usage ? print_usage(c, rep, json) : print_list(c, rep, json);
    cairn_msg_free(&rep->base);
    return rc;
}
