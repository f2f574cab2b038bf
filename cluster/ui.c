/* Output helpers for the cairn command: colours, enum names, durations,
 * JSON strings and aligned tables. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/cmd.h"
#include "common/grow.h"

const char *ui_col(const cli_t *c, const char *ansi)
{
    return c && c->color ? ansi : "";
}

const char *ui_enum(const ProtobufCEnumDescriptor *d, int value)
{
    static char ring[8][48];
    static unsigned next;
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
    if (!v || d->n_values == 0)
        return "unknown";
    /* The prefix every value shares ("JOB_STATE_"), up to its last '_'. */
    const char *a = d->values[0].name, *b = d->values[d->n_values - 1].name;
    size_t plen = 0;
    for (size_t i = 0; a[i] && a[i] == b[i]; i++)
        if (a[i] == '_')
            plen = i + 1;
    char *out = ring[next++ % 8];
    size_t n = 0;
    for (const char *p = v->name + plen; *p && n + 1 < sizeof(ring[0]); p++)
        out[n++] = (char)tolower((unsigned char)*p);
    out[n] = '\0';
    return out;
}

bool ui_end_class_known(const char *cls)
{
    return cls && (!strcmp(cls, "oom") || !strcmp(cls, "gpu-error") || !strcmp(cls, "log"));
}

int ui_print_json(json_t *doc, size_t flags)
{
    int rc = cairn_json_print(stdout, doc, flags);
    if (rc == 0)
        return CLI_OK;
    fprintf(stderr, "cairn: cannot write the JSON output: %s\n", strerror(-rc));
    return CLI_FAIL;
}

const char *ui_state_col(const cli_t *c, const char *state)
{
    if (!strcmp(state, "succeeded") || !strcmp(state, "up"))
        return ui_col(c, UI_GREEN);
    if (!strcmp(state, "failed") || !strcmp(state, "upstream_failed") || !strcmp(state, "down"))
        return ui_col(c, UI_RED);
    if (!strcmp(state, "running"))
        return ui_col(c, UI_BLUE);
    if (!strcmp(state, "cancelled") || !strcmp(state, "draining") || !strcmp(state, "drained") ||
        !strcmp(state, "retry_wait"))
        return ui_col(c, UI_YELLOW);
    return "";
}

const char *ui_duration(int64_t ms, char *buf, size_t len)
{
    if (ms < 0)
        snprintf(buf, len, "-");
    else if (ms < 60000)
        snprintf(buf, len, "%.1fs", (double)ms / 1000.0);
    else if (ms < 3600000)
        snprintf(buf, len, "%dm%02ds", (int)(ms / 60000), (int)(ms / 1000 % 60));
    else
        snprintf(buf, len, "%dh%02dm", (int)(ms / 3600000), (int)(ms / 60000 % 60));
    return buf;
}

const char *ui_bytes(uint64_t n, char *buf, size_t len)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%llu B", (unsigned long long)n);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
    return buf;
}

const char *ui_s(uint64_t n)
{
    return n == 1 ? "" : "s";
}

const char *ui_local_time(int64_t ms, int64_t now_ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000), now = (time_t)(now_ms / 1000);
    struct tm tm, today;
    if (!localtime_r(&t, &tm) || !localtime_r(&now, &today)) {
        snprintf(buf, len, "?");
        return buf;
    }
    bool same_day = tm.tm_year == today.tm_year && tm.tm_yday == today.tm_yday;
    if (strftime(buf, len, same_day ? "%H:%M:%S %Z" : "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
        snprintf(buf, len, "?");
    return buf;
}

char *ui_core_times(const char *text, int64_t now_ms, char *buf, size_t len)
{
    size_t n = 0;
    if (!len)
        return buf;
    for (const char *p = text ? text : ""; *p && n + 1 < len;) {
        bool at = !strncmp(p, "t=", 2) && (p == text || p[-1] == ' ' || p[-1] == '(');
        size_t d = at ? strspn(p + 2, "0123456789") : 0;
        /* a core time of the daemon is wall-clock ms: 12 digits or more */
        if (at && d >= 12 && d <= 18) {
            char when[64];
            ui_local_time(strtoll(p + 2, NULL, 10), now_ms, when, sizeof(when));
            n += (size_t)snprintf(buf + n, len - n, "%s", when);
            n = n < len ? n : len - 1;
            p += 2 + d;
            continue;
        }
        buf[n++] = *p++;
    }
    buf[n] = '\0';
    return buf;
}

void ui_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

typedef struct ui_row {
    char **cells;
    int colored;
    const char *color;
} ui_row_t;

struct ui_table {
    size_t ncols, nrows, cap;
    char **headers;
    ui_row_t *rows;
};

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        abort(); /* out of memory in a command-line tool */
    return d;
}

ui_table_t *ui_table_create(size_t ncols, const char *const *headers)
{
    ui_table_t *t = calloc(1, sizeof(*t));
    if (!t)
        abort();
    t->ncols = ncols;
    t->headers = calloc(ncols, sizeof(char *));
    if (!t->headers)
        abort();
    for (size_t i = 0; i < ncols; i++)
        t->headers[i] = xstrdup(headers[i]);
    return t;
}

void ui_table_add(ui_table_t *t, const char *const *cells, int col_colored, const char *color)
{
    if (CAIRN_GROW(t->rows, t->cap, t->nrows + 1) < 0)
        abort(); /* out of memory in a command-line tool */
    ui_row_t *r = &t->rows[t->nrows++];
    r->cells = calloc(t->ncols, sizeof(char *));
    if (!r->cells)
        abort();
    for (size_t i = 0; i < t->ncols; i++)
        r->cells[i] = xstrdup(cells[i]);
    r->colored = col_colored;
    r->color = color;
}

static void print_cells(const cli_t *c, FILE *f, char **cells, const size_t *w, size_t ncols,
                        int colored, const char *color)
{
    for (size_t i = 0; i < ncols; i++) {
        bool col = (int)i == colored && color && *color;
        fprintf(f, "%s%s%s", col ? color : "", cells[i], col ? ui_col(c, UI_RESET) : "");
        if (i + 1 < ncols)
            fprintf(f, "%*s", (int)(w[i] - strlen(cells[i]) + 2), "");
    }
    fputc('\n', f);
}

void ui_table_print(const cli_t *c, ui_table_t *t, FILE *f)
{
    size_t *w = calloc(t->ncols, sizeof(size_t));
    if (!w)
        abort();
    for (size_t i = 0; i < t->ncols; i++) {
        w[i] = strlen(t->headers[i]);
        for (size_t r = 0; r < t->nrows; r++)
            if (strlen(t->rows[r].cells[i]) > w[i])
                w[i] = strlen(t->rows[r].cells[i]);
    }
    fputs(ui_col(c, UI_BOLD), f);
    print_cells(c, f, t->headers, w, t->ncols, -1, NULL);
    if (c && c->color)
        fputs(UI_RESET, f);
    for (size_t r = 0; r < t->nrows; r++)
        print_cells(c, f, t->rows[r].cells, w, t->ncols, t->rows[r].colored, t->rows[r].color);
    free(w);
}

void ui_table_destroy(ui_table_t *t)
{
    if (!t)
        return;
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t i = 0; i < t->ncols; i++)
            free(t->rows[r].cells[i]);
        free(t->rows[r].cells);
    }
    for (size_t i = 0; i < t->ncols; i++)
        free(t->headers[i]);
    free(t->headers);
    free(t->rows);
    free(t);
}

/* "7d", "12h", "30m", "45s" back from now, or a UTC date; -1 if neither. */
int64_t ui_parse_when(const char *s, int64_t now_ms)
{
    const char *end = NULL;
    uint64_t v = 0;
    if (cli_parse_digits(s, INT64_MAX / 86400000, &v, &end) == 0 && end[0] && !end[1]) {
        int64_t unit = end[0] == 's'   ? 1000
                       : end[0] == 'm' ? 60000
                       : end[0] == 'h' ? 3600000
                       : end[0] == 'd' ? 86400000
                                       : 0;
        if (unit)
            return now_ms - (int64_t)v * unit;
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *rest = strptime(s, "%Y-%m-%d", &tm);
    if (rest && *rest == 'T')
        rest = strptime(rest + 1, "%H:%M:%S", &tm);
    if (!rest || *rest)
        return -1;
    time_t t = timegm(&tm);
    return t < 0 ? -1 : (int64_t)t * 1000;
}
