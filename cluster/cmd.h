/* The cairn command: shared context, exit codes and helpers for the
 * commands (cmd_*.c), the local cluster (local.c) and output (ui.c). */
#ifndef CAIRN_CLUSTER_CMD_H
#define CAIRN_CLUSTER_CMD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cluster/client.h"
#include "cluster/report.h"
#include "common/clock.h"
#include "proto/client.pb-c.h"
#include "proto/envelope.h"
#include "proto/json.h"

/* Exit codes, part of the command's interface. */
enum {
    CLI_OK = 0,
    CLI_FAIL = 1,        /* the operation or the job failed */
    CLI_USAGE = 2,       /* bad usage or bad input */
    CLI_UNREACHABLE = 3, /* cannot reach the scheduler */
    CLI_NOTFOUND = 4,    /* no such job, task or node */
    CLI_DENIED = 5,      /* the scheduler refused: not your job, or not an administrator */
};

/* Request timeout against the scheduler; for reads of history (reports,
 * the audit chain), which the scheduler answers from its reader thread. */
#define CLI_TIMEOUT_MS 10000
#define CLI_HEAVY_TIMEOUT_MS 600000

typedef struct cli {
    const char *url;        /* the scheduler's client endpoint */
    bool color;             /* stdout is a terminal and NO_COLOR is unset */
    bool tty;               /* stdout is a terminal */
    cairn_client_t *client; /* opened by cli_call on first use */
} cli_t;

/* A command: argv[0] is the command name; returns the exit code. */
typedef int (*cli_cmd_f)(cli_t *c, int argc, char **argv);

/* Send a request and wait for the reply of type want. Returns CLI_OK with
 * *rep set (free with cairn_msg_free), else prints "cairn: ..." to stderr and
 * returns the exit code (CLI_UNREACHABLE, CLI_NOTFOUND, CLI_DENIED, CLI_USAGE
 * or CLI_FAIL). */
int cli_call(cli_t *c, cairn_msg_type_t type, const ProtobufCMessage *req, cairn_msg_type_t want,
             ProtobufCMessage **rep);

/* Every accounting record of attempts that ended at or after since_ms (and
 * those running) placed before until_ms (0: now), fetched page by page:
 * out->all holds them in (attempt, rank) order, pointing into out->pages.
 * Returns cli_call's code; report_acct_fini frees. */
typedef report_acct_t cli_acct_t;
int cli_accounting(cli_t *c, int64_t since_ms, int64_t until_ms, cli_acct_t *out);

/* Parse a job id ("12"); 0 if it is not one (prints the error). */
uint64_t cli_job_id(const char *cmd, const char *s);
/* Every numeric option of the client: s is a whole decimal number, digits
 * only (no sign, blanks, fraction or suffix), from min to max. Returns
 * CLI_OK with *out, else prints "cairn CMD: OPT 'S' is not a number from
 * MIN to MAX" and returns CLI_USAGE. */
int cli_parse_uint(const char *cmd, const char *opt, const char *s, uint64_t min, uint64_t max,
                   uint64_t *out);
/* The decimal digits at the start of s (at least one) as *out, *end (if not
 * NULL) after them: for numbers with a unit ("7d", "4x"); -1 if there are
 * none or they exceed max. */
int cli_parse_digits(const char *s, uint64_t max, uint64_t *out, const char **end);

/* Print a command's help when argv has -h/--help; returns true if it did. */
bool cli_help_asked(int argc, char **argv, const char *help);
/* "cairn CMD: msg" + "Try 'cairn CMD --help'." on stderr; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Submit js (cmd_submit.c); prints the scheduler's refusals, each at its
 * line and column when where (spec_load_at) is given, else naming name. */
struct spec_where;
int cli_submit_spec(cli_t *c, const char *name, Cairn__JobSpec *js, const struct spec_where *where,
                    uint64_t *id);
/* The checks every scheduler makes that need no cluster (the scheduling
 * core's validation: cycles, absurd values...), before sending: prints
 * each problem at its place; CLI_OK or CLI_USAGE. */
int cli_check_spec(const char *name, const Cairn__JobSpec *js, const struct spec_where *where);
/* Hash every task's declared inputs (cmd_inputs.c) on this machine: each
 * gets its sha256 and size, or its error ("missing", ...). Returns how many
 * could not be hashed (a task with inputs but no workdir counts), -1 out
 * of memory; when loud, prints each problem naming name. */
int cli_hash_inputs(Cairn__JobSpec *js, const char *name, bool loud);
/* How many of js's inputs (hashed above) differ from those recorded in
 * jp: changed, not hashed now ("missing"...), or not recorded. Prints a
 * line for each to f when f is not NULL ("  TASK: PATH: 1a2b3c4d5e6f ->
 * 9f8e7d6c5b4a", the first 12 hex digits of each hash). */
size_t cli_inputs_changed(const Cairn__JobProvenance *jp, const Cairn__JobSpec *js, FILE *f);

/* Wait for a job to end (cmd_jobs.c); used by submit --wait. */
int cli_wait_job(cli_t *c, uint64_t job_id, bool quiet);

/* The default local state directory: $CAIRN_STATE_DIR, else
 * ${XDG_STATE_HOME:-~/.local/state}/cairn. */
const char *cli_state_dir(void);

int cmd_submit(cli_t *c, int argc, char **argv);
int cmd_status(cli_t *c, int argc, char **argv);
int cmd_jobs(cli_t *c, int argc, char **argv);
int cmd_wait(cli_t *c, int argc, char **argv);
int cmd_logs(cli_t *c, int argc, char **argv);
int cmd_cancel(cli_t *c, int argc, char **argv);
int cmd_explain(cli_t *c, int argc, char **argv);
int cmd_nodes(cli_t *c, int argc, char **argv);
int cmd_drain(cli_t *c, int argc, char **argv);
int cmd_undrain(cli_t *c, int argc, char **argv);
int cmd_node(cli_t *c, int argc, char **argv);
int cmd_gpu(cli_t *c, int argc, char **argv);
int cmd_up(cli_t *c, int argc, char **argv);
int cmd_down(cli_t *c, int argc, char **argv);
int cmd_audit(cli_t *c, int argc, char **argv);
int cmd_inspect(cli_t *c, int argc, char **argv);
int cmd_provenance(cli_t *c, int argc, char **argv);
int cmd_rerun(cli_t *c, int argc, char **argv);
int cmd_diff(cli_t *c, int argc, char **argv);
int cmd_plan(cli_t *c, int argc, char **argv);
int cmd_report(cli_t *c, int argc, char **argv);
int cmd_account(cli_t *c, int argc, char **argv);
int cmd_schedulers(cli_t *c, int argc, char **argv);

extern const char cmd_submit_help[], cmd_status_help[], cmd_jobs_help[], cmd_wait_help[],
    cmd_logs_help[], cmd_cancel_help[], cmd_explain_help[], cmd_nodes_help[], cmd_drain_help[],
    cmd_undrain_help[], cmd_up_help[], cmd_down_help[], cmd_audit_help[], cmd_inspect_help[],
    cmd_provenance_help[], cmd_rerun_help[], cmd_diff_help[];
extern const char cmd_plan_help[];
extern const char cmd_report_help[];
extern const char cmd_node_help[];
extern const char cmd_gpu_help[];
extern const char cmd_account_help[];
extern const char cmd_schedulers_help[];

/* --- ui.c: output helpers ------------------------------------------------ */

/* ANSI colours, or "" when colour is off. */
const char *ui_col(const cli_t *c, const char *ansi);
#define UI_RESET "\033[0m"
#define UI_BOLD "\033[1m"
#define UI_RED "\033[31m"
#define UI_GREEN "\033[32m"
#define UI_YELLOW "\033[33m"
#define UI_BLUE "\033[34m"
#define UI_DIM "\033[2m"

/* Lower-case name of an enum value without its prefix (JOB_STATE_RUNNING
 * -> "running"); "unknown" for values this build does not know. The result
 * lives in a small ring of static buffers. */
const char *ui_enum(const ProtobufCEnumDescriptor *d, int value);
/* Whether an end class (AttemptInfo.end_class) says more than the end:
 * "oom", "gpu-error" or "log". */
bool ui_end_class_known(const char *cls);
/* Colour for a state name ("succeeded" green, "failed" red...). */
const char *ui_state_col(const cli_t *c, const char *state);

/* Print doc (taken) on stdout in the layout flags (proto/json.h): CLI_OK,
 * or "cairn: cannot write the JSON output: ..." and CLI_FAIL. */
int ui_print_json(json_t *doc, size_t flags);

/* "s" unless n is 1: "%u GPU%s", n, ui_s(n). */
const char *ui_s(uint64_t n);
/* "1h02m", "3.2s", "-" for <0. */
const char *ui_duration(int64_t ms, char *buf, size_t len);
/* "80.0 GiB". */
const char *ui_bytes(uint64_t n, char *buf, size_t len);
/* A wall-clock time ms in local time: "14:03:22 CET", with the date
 * ("2026-11-27 14:03:22 CET") when it is not now_ms's day. */
const char *ui_local_time(int64_t ms, int64_t now_ms, char *buf, size_t len);
/* text of the core's (an explanation) with each "t=MS" of a wall-clock
 * time in local time as ui_local_time gives it: "until t=1796...,"
 * becomes "until 12:00:05 UTC,"; into buf, which is returned. */
char *ui_core_times(const char *text, int64_t now_ms, char *buf, size_t len);
/* "7d", "12h", "30m", "45s" back from now_ms, or a UTC date
 * (2026-11-26 or 2026-11-26T09:30:00) in ms; -1 if neither. */
int64_t ui_parse_when(const char *s, int64_t now_ms);
void ui_sleep_ms(int ms);

/* An aligned text table. */
typedef struct ui_table ui_table_t;
ui_table_t *ui_table_create(size_t ncols, const char *const *headers);
/* Append a row of ncols cells (copied); colour applies to cell col_colored
 * (-1: none). */
void ui_table_add(ui_table_t *t, const char *const *cells, int col_colored, const char *color);
void ui_table_print(const cli_t *c, ui_table_t *t, FILE *f);
void ui_table_destroy(ui_table_t *t);

#endif
