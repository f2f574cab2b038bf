/* preemptible:, checkpoint: {signal, grace, dir} and signal_before_limit:,
 * in defaults: or a task (a task's keys override defaults' key by key). */
#include "cluster/spec_private.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define SPEC_SIGNAL_MAX 64

/* Signal names as kill -l gives them, without SIG. */
static const struct {
    const char *name;
    int no;
} signals[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"BUS", SIGBUS},     {"FPE", SIGFPE},
    {"KILL", SIGKILL},     {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},   {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE},     {"ALRM", SIGALRM}, {"TERM", SIGTERM},   {"CHLD", SIGCHLD},
    {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},
    {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
    {"PWR", SIGPWR},       {"SYS", SIGSYS},
};

int spec_parse_signal(const char *s)
{
    int no = -1;
    size_t nd = strspn(s, "0123456789");
    if (nd && !s[nd] && nd <= 2) {
        no = atoi(s);
    } else {
        const char *name = strncmp(s, "SIG", 3) == 0 ? s + 3 : s;
        for (size_t i = 0; i < N_(signals) && no < 0; i++)
            if (strcmp(name, signals[i].name) == 0)
                no = signals[i].no;
    }
    if (no < 1 || no > SPEC_SIGNAL_MAX || no == SIGKILL || no == SIGSTOP)
        return -1;
    return no;
}

static void parse_signal(spec_ctx_t *c, yaml_node_t *val, spec_opts_t *o)
{
    const char *s = spec_scalar(c, val, "a signal");
    if (!s)
        return;
    int no = spec_parse_signal(s);
    if (no > 0)
        o->ckpt_signal = no;
    else if (strcmp(s, "KILL") == 0 || strcmp(s, "SIGKILL") == 0 || strcmp(s, "STOP") == 0 ||
             strcmp(s, "SIGSTOP") == 0 || strcmp(s, "9") == 0 || strcmp(s, "19") == 0)
        spec_error(c, val->start_mark,
                   "checkpoint.signal: '%s' cannot be caught: no checkpoint could be written "
                   "(use e.g. USR1 or TERM)",
                   s);
    else
        spec_error(c, val->start_mark,
                   "checkpoint.signal: unknown signal '%s' (expected a name as kill -l gives it, "
                   "e.g. USR1 or SIGUSR1, or a number from 1 to %d)",
                   s, SPEC_SIGNAL_MAX);
}

static void parse_checkpoint(spec_ctx_t *c, yaml_node_t *n, spec_opts_t *o)
{
    static const char *const keys[] = {"signal", "grace", "dir"};
    if (spec_check_keys(c, n, keys, N_(keys), "checkpoint") < 0)
        return;
    FOR_PAIRS(c, n, key, val)
    {
        uint64_t ms;
        if (strcmp(key, "signal") == 0) {
            parse_signal(c, val, o);
        } else if (strcmp(key, "grace") == 0 && spec_get_duration(c, val, &ms) == 0) {
            if (ms == 0)
                spec_error(c, val->start_mark, "checkpoint.grace: must be more than 0");
            else
                o->ckpt_grace_ms = ms;
        } else if (strcmp(key, "dir") == 0 && spec_get_string(c, val, &o->ckpt_dir) == 0) {
            if (!o->ckpt_dir[0]) {
                spec_error(c, val->start_mark, "checkpoint.dir: is empty");
                free(o->ckpt_dir);
                o->ckpt_dir = NULL;
            } else if (c->cur) {
                spec_check_subst(c, val->start_mark, o->ckpt_dir);
            }
        }
    }
}

bool spec_parse_checkpoint_opt(spec_ctx_t *c, const char *key, yaml_node_t *val, spec_opts_t *o)
{
    if (strcmp(key, "preemptible") == 0) {
        spec_get_bool(c, val, "preemptible", &o->preemptible);
    } else if (strcmp(key, "checkpoint") == 0) {
        parse_checkpoint(c, val, o);
    } else if (strcmp(key, "signal_before_limit") == 0) {
        uint64_t ms;
        if (spec_get_duration(c, val, &ms) == 0) {
            if (ms == 0) {
                spec_error(c, val->start_mark, "signal_before_limit: must be more than 0");
            } else {
                o->signal_before_limit_ms = ms;
                o->sbl_mark = val->start_mark;
            }
        }
    } else {
        return false;
    }
    return true;
}

void spec_check_signal_before_limit(spec_ctx_t *c, const spec_opts_t *o, const char *tn)
{
    if (!o->signal_before_limit_ms)
        return;
    if (!o->time_limit_ms)
        spec_error(c, o->sbl_mark, "task '%s': signal_before_limit needs a time_limit", tn);
    else if (o->signal_before_limit_ms >= o->time_limit_ms)
        spec_error(c, o->sbl_mark,
                   "task '%s': signal_before_limit (%llu ms) must be shorter than its "
                   "time_limit (%llu ms)",
                   tn, (unsigned long long)o->signal_before_limit_ms,
                   (unsigned long long)o->time_limit_ms);
}
