/* cairn schedulers: the scheduler instances sharing the store, the leader
 * first (SchedulersRequest, proto/client.proto). Any instance answers,
 * leader or standby. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cluster/cmd.h"
#include "proto/client.pb-c.h"

const char cmd_schedulers_help[] =
    "Usage: cairn schedulers [--json]\n"
    "\n"
    "The scheduler instances that share this cluster's store: the leader, which\n"
    "places work and answers clients and workers, and its standbys, which follow\n"
    "the store's journal and take over when the leader's lease runs out. Any of\n"
    "them answers. Columns: HOLDER (the instance's name), STATE (leading,\n"
    "standby or gone), EPOCH (the leader's term it holds or last saw), APPLIED\n"
    "(the newest journal entry in its state), LAG (entries behind the store's\n"
    "newest), SEEN (since it last renewed its lease or reported) and its\n"
    "CLIENT ENDPOINTS.\n"
    "\n"
    "  --json     print the reply as JSON (the fields of SchedulersReply)\n";

static const char *state_col(const cli_t *c, const char *state)
{
    if (!strcmp(state, "leading"))
        return ui_col(c, UI_GREEN);
    if (!strcmp(state, "gone"))
        return ui_col(c, UI_RED);
    return NULL;
}

static void schedulers_human(const cli_t *c, const Cairn__SchedulersReply *r)
{
    char lease[32];
    printf("store: %s, newest entry %" PRIu64 ", lease %s\n\n", r->store[0] ? r->store : "-",
           r->head_seq, ui_duration(r->lease_ms, lease, sizeof(lease)));
    static const char *const headers[] = {"HOLDER", "STATE", "EPOCH",           "APPLIED",
                                          "LAG",    "SEEN",  "CLIENT ENDPOINTS"};
    ui_table_t *t = ui_table_create(7, headers);
    for (size_t i = 0; i < r->n_instances; i++) {
        const Cairn__SchedulerInstance *in = r->instances[i];
        char epoch[24], applied[24], lag[24], seen[48], dur[32];
        snprintf(epoch, sizeof(epoch), "%" PRIu64, in->epoch);
        snprintf(applied, sizeof(applied), "%" PRIu64, in->applied_seq);
        snprintf(lag, sizeof(lag), "%" PRIu64, in->lag);
        if (in->seen_ms_ago < 0)
            snprintf(seen, sizeof(seen), "-");
        else
            snprintf(seen, sizeof(seen), "%s ago", ui_duration(in->seen_ms_ago, dur, sizeof(dur)));
        const char *cells[] = {in->holder,
                               in->state[0] ? in->state : "-",
                               epoch,
                               applied,
                               lag,
                               seen,
                               in->client_endpoints[0] ? in->client_endpoints : "-"};
        ui_table_add(t, cells, 1, state_col(c, in->state));
    }
    ui_table_print(c, t, stdout);
    ui_table_destroy(t);
}

int cmd_schedulers(cli_t *c, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
    bool json = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch != 'j')
            return cli_usage_error(argv[0], "bad option");
        json = true;
    }
    if (optind < argc)
        return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    Cairn__SchedulersRequest req = CAIRN__SCHEDULERS_REQUEST__INIT;
    Cairn__SchedulersReply *r = NULL;
    int rc = cli_call(c, CAIRN_MSG_SCHEDULERS, &req.base, CAIRN_MSG_SCHEDULERS_REPLY,
                      (ProtobufCMessage **)&r);
    if (rc != CLI_OK)
        return rc;
    if (json)
        rc = ui_print_json(cairn_json_msg(&r->base), CAIRN_JSON_LINE);
    else
        schedulers_human(c, r);
    cairn_msg_free(&r->base);
    return rc;
}
