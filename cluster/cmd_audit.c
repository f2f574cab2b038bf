/* cairn audit: list the scheduler's audit trail, or verify its chain. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/cmd.h"
#include "proto/client.pb-c.h"

const char cmd_audit_help[] =
    "Usage: cairn audit [--since WHEN] [--user USER] [--limit N] [--json]\n"
    "       cairn audit verify [--head HASH] [--json]\n"
    "\n"
    "List who changed what: submits, cancels, drains, undrains, nodes joining and\n"
    "lost, and scheduler configuration changes, oldest first. Administrators see\n"
    "every entry, other users their own.\n"
    "  --since WHEN   entries from WHEN: a duration back from now (30m, 12h, 7d)\n"
    "                 or a UTC date (2026-11-26 or 2026-11-26T09:30:00)\n"
    "  --user USER    only USER's entries\n"
    "  --limit N      the newest N entries (still listed oldest first)\n"
    "  --json         print JSON\n"
    "\n"
    "'verify' checks the whole hash chain: every entry's hash covers its fields\n"
    "and the entry before it, so an edited, inserted or deleted entry is found\n"
    "(exit 1, naming the first bad entry). It prints the head (the newest\n"
    "entry's hash): keep it, and later 'verify --head HASH' also proves that no\n"
    "entry up to it was removed from the end.\n";

static void time_text(int64_t ms, char *buf, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int verify(cli_t *c, int argc, char **argv)
{
    const char *head = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = true;
        else if (!strcmp(argv[i], "--head") && i + 1 < argc)
            head = argv[++i];
        else
            return cli_usage_error("audit", "unexpected argument '%s'", argv[i]);
    }
    if (head && (strlen(head) != 64 || strspn(head, "0123456789abcdef") != 64))
        return cli_usage_error("audit", "--head wants the 64 hex digits 'verify' printed");
    Cairn__AuditRequest req = CAIRN__AUDIT_REQUEST__INIT;
    req.verify = true;
    req.expect_head = (char *)(head ? head : "");
    Cairn__AuditReply *rep = NULL;
    int rc =
        cli_call(c, CAIRN_MSG_AUDIT, &req.base, CAIRN_MSG_AUDIT_REPLY, (ProtobufCMessage **)&rep);
    if (rc != CLI_OK)
        return rc;
    if (json) {
        rc = ui_print_json(json_pack("{s:b, s:o, s:o, s:o, s:o}", "ok", rep->ok, "entries",
                                     cairn_json_u64(rep->count), "head", cairn_json_str(rep->head),
                                     "bad_seq", cairn_json_u64(rep->bad_seq), "problem",
                                     cairn_json_str(rep->problem)),
                           CAIRN_JSON_LINE);
    } else if (rep->ok) {
        printf("audit trail intact: %llu entr%s, head %s\n", (unsigned long long)rep->count,
               rep->count == 1 ? "y" : "ies", rep->head && *rep->head ? rep->head : "(empty)");
    } else {
        printf("audit trail BROKEN: %s (%llu entr%s verified before it, head %s)\n", rep->problem,
               (unsigned long long)rep->count, rep->count == 1 ? "y" : "ies", rep->head);
    }
    if (rc == CLI_OK && !rep->ok)
        rc = CLI_FAIL;
    cairn_msg_free(&rep->base);
    return rc;
}

int cmd_audit(cli_t *c, int argc, char **argv)
{
    if (cli_help_asked(argc, argv, cmd_audit_help))
        return CLI_OK;
    if (argc > 1 && !strcmp(argv[1], "verify"))
        return verify(c, argc - 1, argv + 1);
    Cairn__AuditRequest req = CAIRN__AUDIT_REQUEST__INIT;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--since") && i + 1 < argc) {
            int64_t since = ui_parse_when(argv[++i], cairn_wall_ms());
            if (since < 0)
                return cli_usage_error("audit",
                                       "--since '%s' is neither a duration (7d, 12h, "
                                       "30m) nor a date (2026-11-26[THH:MM:SS])",
                                       argv[i]);
            req.since_ms = since;
        } else if (!strcmp(a, "--user") && i + 1 < argc) {
            req.user = argv[++i];
        } else if (!strcmp(a, "--limit") && i + 1 < argc) {
            uint64_t v;
            if (cli_parse_uint("audit", "--limit", argv[++i], 1, UINT32_MAX, &v) != CLI_OK)
                return CLI_USAGE;
            req.limit = (uint32_t)v;
        } else {
            return cli_usage_error("audit", "unexpected argument '%s'", a);
        }
    }
    Cairn__AuditReply *rep = NULL;
    int rc =
        cli_call(c, CAIRN_MSG_AUDIT, &req.base, CAIRN_MSG_AUDIT_REPLY, (ProtobufCMessage **)&rep);
    if (rc != CLI_OK)
        return rc;
    if (json) {
        json_t *entries = json_array();
        for (size_t i = 0; i < rep->n_entries; i++) {
            const Cairn__AuditEntry *e = rep->entries[i];
            char when[32] = "";
            time_text(e->time_ms, when, sizeof(when));
            cairn_json_push(
                &entries,
                json_pack("{s:o, s:o, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "seq",
                          cairn_json_u64(e->seq), "time", cairn_json_str(when), "time_ms",
                          (json_int_t)e->time_ms, "user", cairn_json_str(e->user), "action",
                          cairn_json_str(e->action), "target", cairn_json_str(e->target), "detail",
                          cairn_json_str(e->detail), "prev_hash", cairn_json_str(e->prev_hash),
                          "hash", cairn_json_str(e->hash)));
        }
        rc = ui_print_json(entries, CAIRN_JSON_INDENT);
    } else {
        static const char *const heads[] = {"SEQ", "TIME", "USER", "ACTION", "TARGET", "DETAIL"};
        ui_table_t *t = ui_table_create(6, heads);
        for (size_t i = 0; t && i < rep->n_entries; i++) {
            const Cairn__AuditEntry *e = rep->entries[i];
            char seq[24], when[32];
            snprintf(seq, sizeof(seq), "%llu", (unsigned long long)e->seq);
            time_text(e->time_ms, when, sizeof(when));
            const char *cells[] = {seq, when, e->user, e->action, e->target, e->detail};
            ui_table_add(t, cells, -1, NULL);
        }
        if (t)
            ui_table_print(c, t, stdout);
        ui_table_destroy(t);
    }
    cairn_msg_free(&rep->base);
    return rc;
}
