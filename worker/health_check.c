/* The operator's node health check; see health_check.h. */
#include "worker/health_check.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUTPUT_MAX 1024
#define RUN_MAX_MS 60000

struct worker_health_check {
    uv_loop_t *loop;
    char *cmd;
    int64_t interval_ms;
    worker_health_fail_f fail;
    void *arg;
    uv_timer_t every, limit;
    uv_process_t proc;
    uv_pipe_t out;
    bool running, proc_open, out_open, killed, stopping;
    char output[OUTPUT_MAX + 1];
    size_t len;
    int64_t status;
    int signal;
    int open_handles;
};

static void handle_closed(uv_handle_t *hd)
{
    worker_health_check_t *h = hd->data;
    if (--h->open_handles == 0 && h->stopping && !h->proc_open) {
        free(h->cmd);
        free(h);
    }
}

static void close_handle(worker_health_check_t *h, uv_handle_t *hd)
{
    if (!uv_is_closing(hd)) {
        h->open_handles++;
        uv_close(hd, handle_closed);
    }
}

/* Both the process and its output are done: judge it. */
static void judge(worker_health_check_t *h)
{
    if (h->proc_open || h->out_open || !h->running)
        return;
    h->running = false;
    uv_timer_stop(&h->limit);
    if (h->stopping || (h->status == 0 && h->signal == 0 && !h->killed))
        return;
    /* the output's last line that says something, else how it ended */
    char why[OUTPUT_MAX + 64];
    h->output[h->len] = '\0';
    for (size_t i = 0; i < h->len; i++)
        if ((unsigned char)h->output[i] < 0x20 && h->output[i] != '\n')
            h->output[i] = ' ';
    while (h->len && (h->output[h->len - 1] == '\n' || h->output[h->len - 1] == ' '))
        h->output[--h->len] = '\0';
    char *line = strrchr(h->output, '\n');
    line = line ? line + 1 : h->output;
    if (h->killed)
        snprintf(why, sizeof(why), "health check ran too long%s%s", *line ? ": " : "", line);
    else if (*line)
        snprintf(why, sizeof(why), "%s", line);
    else if (h->signal)
        snprintf(why, sizeof(why), "health check killed by signal %d", h->signal);
    else
        snprintf(why, sizeof(why), "health check exit %lld", (long long)h->status);
    h->fail(h->arg, why);
}

static void exit_cb(uv_process_t *p, int64_t status, int sig)
{
    worker_health_check_t *h = p->data;
    h->status = status;
    h->signal = sig;
    h->proc_open = false;
    close_handle(h, (uv_handle_t *)p);
    judge(h);
}

static void alloc_cb(uv_handle_t *hd, size_t want, uv_buf_t *buf)
{
    static char scratch[4096]; /* the loop's thread only: read, then kept or dropped */
    (void)hd;
    (void)want;
    *buf = uv_buf_init(scratch, sizeof(scratch));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    worker_health_check_t *h = s->data;
    if (n > 0) {
        /* keep the last OUTPUT_MAX bytes: the end says why */
        size_t k = (size_t)n;
        if (k >= OUTPUT_MAX) {
            memcpy(h->output, buf->base + k - OUTPUT_MAX, OUTPUT_MAX);
            h->len = OUTPUT_MAX;
        } else {
            if (h->len + k > OUTPUT_MAX) {
                size_t drop = h->len + k - OUTPUT_MAX;
                memmove(h->output, h->output + drop, h->len - drop);
                h->len -= drop;
            }
            memcpy(h->output + h->len, buf->base, k);
            h->len += k;
        }
        return;
    }
    if (n < 0) {
        h->out_open = false;
        close_handle(h, (uv_handle_t *)s);
        judge(h);
    }
}

static void limit_cb(uv_timer_t *t)
{
    worker_health_check_t *h = t->data;
    if (h->proc_open) {
        h->killed = true;
        uv_process_kill(&h->proc, SIGKILL);
    }
}

static void run(worker_health_check_t *h)
{
    if (h->running || h->stopping)
        return;
    h->len = 0;
    h->killed = false;
    uv_pipe_init(h->loop, &h->out, 0);
    h->out.data = h;
    /* stderr joins stdout: what the command says, in order */
    char *args[] = {"/bin/sh", "-c", h->cmd, NULL};
    uv_stdio_container_t io[2] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&h->out},
    };
    uv_process_options_t o = {
        .file = args[0], .args = args, .stdio = io, .stdio_count = 2, .exit_cb = exit_cb};
    h->proc.data = h;
    int rc = uv_spawn(h->loop, &h->proc, &o);
    if (rc < 0) {
        close_handle(h, (uv_handle_t *)&h->out);
        close_handle(h, (uv_handle_t *)&h->proc);
        char why[160];
        snprintf(why, sizeof(why), "health check cannot start: %s", uv_strerror(rc));
        h->fail(h->arg, why);
        return;
    }
    h->running = h->proc_open = h->out_open = true;
    uv_read_start((uv_stream_t *)&h->out, alloc_cb, read_cb);
    int64_t lim = h->interval_ms < RUN_MAX_MS ? h->interval_ms : RUN_MAX_MS;
    uv_timer_start(&h->limit, limit_cb, (uint64_t)lim, 0);
}

static void every_cb(uv_timer_t *t)
{
    run(t->data);
}

int worker_health_check_start(uv_loop_t *loop, const char *cmd, int64_t interval_ms,
                              worker_health_fail_f fail, void *arg, worker_health_check_t **out,
                              cairn_error_t *err)
{
    worker_health_check_t *h = calloc(1, sizeof(*h));
    size_t n = strlen(cmd) + sizeof("exec 2>&1; ");
    if (!h || !(h->cmd = malloc(n))) {
        free(h);
        return errcode(err, -ENOMEM, "out of memory");
    }
    snprintf(h->cmd, n, "exec 2>&1; %s", cmd);
    h->loop = loop;
    h->interval_ms = interval_ms > 0 ? interval_ms : 300000;
    h->fail = fail;
    h->arg = arg;
    uv_timer_init(loop, &h->every);
    uv_timer_init(loop, &h->limit);
    h->every.data = h->limit.data = h;
    uv_timer_start(&h->every, every_cb, 0, (uint64_t)h->interval_ms);
    *out = h;
    return 0;
}

void worker_health_check_stop(worker_health_check_t *h)
{
    if (!h)
        return;
    h->stopping = true;
    if (h->proc_open)
        uv_process_kill(&h->proc, SIGKILL); /* its exit closes it */
    if (h->out_open) {
        h->out_open = false;
        close_handle(h, (uv_handle_t *)&h->out);
    }
    close_handle(h, (uv_handle_t *)&h->every);
    close_handle(h, (uv_handle_t *)&h->limit);
}
