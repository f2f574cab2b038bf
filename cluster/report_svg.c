/* cairn report --svg: GPUs over time per model, allocated (solid) and used
 * (dashed, where measured), with the GPUs waiting tasks wanted overlaid
 * (red; dashed: those of tasks waiting on an account limit, when any did),
 * the GPUs whose work was lost (grey dots: report_lost_t, when any was)
 * and the capacity over time (grey steps: each node's GPUs while it
 * was there, by the node timeline). A plain SVG 1.1 document. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/presence.h"
#include "cluster/report.h"
#include "common/grow.h"

#define BUCKETS 120
#define W 960
#define H 420
#define LEFT 70
#define RIGHT 230
#define TOP 40
#define BOTTOM 50

static const char *const colours[] = {"#1f77b4", "#2ca02c", "#9467bd", "#8c564b",
                                      "#e377c2", "#17becf", "#bcbd22", "#ff7f0e"};

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            if ((unsigned char)*s >= 0x20)
                fputc(*s, f);
        }
    }
}

/* Add v spread over [a, b) into the buckets (value x overlap / width). */
static void spread(double *buckets, int64_t from, int64_t width, int64_t a, int64_t b, double v)
{
    for (int i = 0; i < BUCKETS; i++) {
        int64_t s = from + i * width, e = s + width;
        int64_t lo = a > s ? a : s, hi = b < e ? b : e;
        if (hi > lo)
            buckets[i] += v * (double)(hi - lo) / (double)width;
    }
}

/* The GPUs there over time, as steps: +gpus when a node comes, -gpus when
 * it goes (presence.h). */
typedef struct step {
    int64_t t;
    double delta;
} step_t;

typedef struct steps {
    step_t *v;
    size_t n, cap;
    double gpus;
    bool oom;
} steps_t;

static void step_add(steps_t *s, int64_t t, double delta)
{
    if (CAIRN_GROW(s->v, s->cap, s->n + 1) < 0) {
        s->oom = true;
        return;
    }
    s->v[s->n++] = (step_t){t, delta};
}

static void steps_cb(int64_t a, int64_t b, void *arg)
{
    steps_t *s = arg;
    step_add(s, a, s->gpus);
    step_add(s, b, -s->gpus);
}

static int cmp_step(const void *a, const void *b)
{
    const step_t *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->delta < y->delta ? -1 : x->delta > y->delta; /* exact sums whatever the order */
}

/* Every node's GPUs while it was there, sorted by time; -1 out of memory. */
static int capacity_steps(const report_input_t *in, steps_t *s)
{
    presence_t *p = report_presence(in);
    if (!p)
        return -1;
    for (size_t k = 0; in->nodes && k < in->nodes->n_nodes; k++) {
        const Cairn__NodeInfo *n = in->nodes->nodes[k];
        s->gpus = (double)n->n_gpus;
        if (n->n_gpus)
            presence_spans(p, n->name, in->from_ms, in->to_ms, steps_cb, s);
    }
    presence_destroy(p);
    if (s->oom)
        return -1;
    if (s->n)
        qsort(s->v, s->n, sizeof(*s->v), cmp_step);
    return 0;
}

/* The most GPUs there at once. */
static double capacity_max(const steps_t *s)
{
    double v = 0, most = 0;
    for (size_t i = 0; i < s->n; i++) {
        v += s->v[i].delta;
        if (i + 1 == s->n || s->v[i + 1].t != s->v[i].t)
            most = fmax(most, v);
    }
    return most;
}

static double x_of(const report_input_t *in, int64_t t)
{
    double pw = (double)(W - LEFT - RIGHT);
    return LEFT + pw * (double)(t - in->from_ms) / (double)(in->to_ms - in->from_ms);
}

static double y_of(double v, double ymax)
{
    double ph = (double)(H - TOP - BOTTOM);
    return TOP + ph - (ymax > 0 ? v / ymax : 0) * ph;
}

/* The capacity as a step line: flat while the nodes there stay the same,
 * a vertical step at each time one comes or goes. */
static void capacity_line(FILE *f, const report_input_t *in, const steps_t *s, double ymax)
{
    fprintf(f, "  <polyline id=\"capacity\" fill=\"none\" stroke=\"#999\" stroke-width=\"2\" "
               "stroke-dasharray=\"2,4\" points=\"");
    double v = 0;
    size_t i = 0;
    for (; i < s->n && s->v[i].t <= in->from_ms; i++)
        v += s->v[i].delta;
    fprintf(f, "%.1f,%.1f", x_of(in, in->from_ms), y_of(v, ymax));
    while (i < s->n && s->v[i].t < in->to_ms) {
        int64_t t = s->v[i].t;
        double was = v;
        for (; i < s->n && s->v[i].t == t; i++)
            v += s->v[i].delta;
        if (fabs(v - was) > 1e-9)
            fprintf(f, " %.1f,%.1f %.1f,%.1f", x_of(in, t), y_of(was, ymax), x_of(in, t),
                    y_of(v, ymax));
    }
    fprintf(f, " %.1f,%.1f\"/>\n", x_of(in, in->to_ms), y_of(v, ymax));
}

static void polyline(FILE *f, const double *v, double ymax, const char *colour, const char *dash,
                     const char *id)
{
    fprintf(f, "  <polyline id=\"");
    xml_text(f, id);
    fprintf(f, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s%s%s points=\"", colour,
            dash ? " stroke-dasharray=\"" : "", dash ? dash : "", dash ? "\"" : "");
    double pw = (double)(W - LEFT - RIGHT) / BUCKETS, ph = (double)(H - TOP - BOTTOM);
    for (int i = 0; i < BUCKETS; i++)
        fprintf(f, "%s%.1f,%.1f", i ? " " : "", LEFT + (i + 0.5) * pw,
                TOP + ph - (ymax > 0 ? v[i] / ymax : 0) * ph);
    fprintf(f, "\"/>\n");
}

static void time_label(char *buf, size_t n, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%m-%d %H:%M", &tm);
}

int report_print_svg(FILE *f, const report_input_t *in, const report_t *r)
{
    int64_t span = in->to_ms - in->from_ms;
    if (span <= 0)
        return -1;
    int64_t width = (span + BUCKETS - 1) / BUCKETS;
    size_t nm = r->nmodels;
    double *alloc = calloc((nm + 1) * BUCKETS, sizeof(double));
    double *used = calloc((nm + 1) * BUCKETS, sizeof(double));
    bool *measured = calloc(nm + 1, sizeof(bool));
    double demand[BUCKETS] = {0}, limited[BUCKETS] = {0}, lost[BUCKETS] = {0};
    bool any_limited = false, any_lost = false;
    if (!alloc || !used || !measured) {
        free(alloc);
        free(used);
        free(measured);
        return -1;
    }
    for (size_t i = 0; in->acct && i < in->acct->n_records; i++) {
        const Cairn__AccountingRecord *rec = in->acct->records[i];
        if (rec->start_time_ms <= 0 || !report_takes(in, rec))
            continue;
        int64_t end = rec->end_time_ms > 0 ? rec->end_time_ms : in->to_ms;
        for (size_t g = 0; g < rec->n_gpu_ids; g++)
            for (size_t m = 0; m < nm; m++)
                if (!strcmp(r->models[m].name, rec->gpu_ids[g]->model))
                    spread(alloc + m * BUCKETS, in->from_ms, width, rec->start_time_ms, end, 1);
        /* GPUs whose work was lost: from the newest checkpoint (or the
         * start) to the end of an attempt preempted, timed out or with
         * its node lost (report_lost_t) */
        int64_t from;
        if (report_lost_cause(rec->end) != REPORT_LOST_CAUSES &&
            report_lost_gpu_s(rec, &from) > 0) {
            any_lost = true;
            spread(lost, in->from_ms, width, from, end, (double)rec->n_gpu_ids);
        }
    }
    for (size_t i = 0; in->usage && i < in->usage->n_gpus; i++) {
        const Cairn__GpuUsageSample *g = in->usage->gpus[i];
        const char *model = "";
        for (size_t k = 0; in->nodes && k < in->nodes->n_nodes; k++)
            if (!strcmp(in->nodes->nodes[k]->name, g->node))
                for (size_t q = 0; q < in->nodes->nodes[k]->n_gpus; q++)
                    if (in->nodes->nodes[k]->gpus[q]->index == g->index)
                        model = in->nodes->nodes[k]->gpus[q]->model;
        for (size_t m = 0; m < nm; m++)
            if (!strcmp(r->models[m].name, model)) {
                measured[m] = true;
                spread(used + m * BUCKETS, in->from_ms, width, g->time_ms - g->span_ms, g->time_ms,
                       g->utilization_percent / 100.0);
            }
    }
    for (size_t i = 0; in->usage && i < in->usage->n_census; i++) {
        const Cairn__CensusSample *c = in->usage->census[i];
        if (!c->shape[0])
            continue;
        spread(demand, in->from_ms, width, c->time_ms - c->span_ms, c->time_ms, c->gpus_wanted);
        /* a class's tasks all want as many GPUs: the limited ones' share */
        if (c->limited > 0 && c->waiting > 0) {
            any_limited = true;
            spread(limited, in->from_ms, width, c->time_ms - c->span_ms, c->time_ms,
                   c->gpus_wanted * fmin(c->limited, c->waiting) / c->waiting);
        }
    }
    steps_t cap = {0};
    if (capacity_steps(in, &cap) < 0) {
        free(cap.v);
        free(alloc);
        free(used);
        free(measured);
        return -1;
    }
    double capacity = capacity_max(&cap), ymax = 1;
    for (int b = 0; b < BUCKETS; b++) {
        double total = 0;
        for (size_t m = 0; m < nm; m++)
            total += alloc[m * BUCKETS + b];
        ymax = fmax(ymax, fmax(total, demand[b]));
    }
    ymax = fmax(ymax, capacity) * 1.1;

    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
            "font-size=\"12\">\n",
            W, H, W, H);
    fprintf(f,
            "  <title>Cairn: GPUs over time, allocated and used per model, with waiting "
            "demand</title>\n"
            "  <rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"white\"/>\n"
            "  <text x=\"%d\" y=\"24\" font-size=\"16\">GPUs over time: allocated (solid), "
            "used (dashed), waiting demand (red)</text>\n",
            W, H, LEFT);
    /* axes, grid, labels */
    int ph = H - TOP - BOTTOM, pw = W - LEFT - RIGHT;
    fprintf(f,
            "  <g id=\"axes\" stroke=\"#444\" stroke-width=\"1\">\n"
            "    <line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n"
            "    <line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n  </g>\n",
            LEFT, TOP, LEFT, TOP + ph, LEFT, TOP + ph, LEFT + pw, TOP + ph);
    for (int k = 0; k <= 4; k++) {
        double v = ymax * k / 4;
        int y = TOP + ph - ph * k / 4;
        fprintf(f,
                "  <line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>\n"
                "  <text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.1f</text>\n",
                LEFT, y, LEFT + pw, y, LEFT - 6, y + 4, v);
    }
    for (int k = 0; k <= 4; k++) {
        char lab[32];
        time_label(lab, sizeof(lab), in->from_ms + span * k / 4);
        fprintf(f, "  <text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
                LEFT + pw * k / 4, TOP + ph + 18, lab);
    }
    fprintf(f, "  <text x=\"%d\" y=\"%d\" text-anchor=\"middle\">time (UTC)</text>\n",
            LEFT + pw / 2, H - 10);
    fprintf(f,
            "  <text x=\"16\" y=\"%d\" transform=\"rotate(-90 16 %d)\" "
            "text-anchor=\"middle\">GPUs</text>\n",
            TOP + ph / 2, TOP + ph / 2);
    /* series */
    capacity_line(f, in, &cap, ymax);
    polyline(f, demand, ymax, "#d62728", NULL, "waiting-demand");
    int ly = TOP + 10;
    fprintf(f,
            "  <text x=\"%d\" y=\"%d\" fill=\"#999\">capacity (at most %.0f GPUs)</text>\n"
            "  <text x=\"%d\" y=\"%d\" fill=\"#d62728\">GPUs wanted by waiting tasks</text>\n",
            W - RIGHT + 12, ly, capacity, W - RIGHT + 12, ly + 18);
    ly += 36;
    if (any_limited) {
        polyline(f, limited, ymax, "#d62728", "2,3", "limit-demand");
        fprintf(f,
                "  <text x=\"%d\" y=\"%d\" fill=\"#d62728\">of them, on an account limit</text>\n",
                W - RIGHT + 12, ly);
        ly += 18;
    }
    if (any_lost) {
        polyline(f, lost, ymax, "#7f7f7f", "1,2", "lost-work");
        fprintf(f,
                "  <text x=\"%d\" y=\"%d\" fill=\"#7f7f7f\">GPUs whose work was lost "
                "(preempted,</text>\n  <text x=\"%d\" y=\"%d\" fill=\"#7f7f7f\">timed out, "
                "node lost; since the last checkpoint)</text>\n",
                W - RIGHT + 12, ly, W - RIGHT + 12, ly + 14);
        ly += 36;
    }
    for (size_t m = 0; m < nm; m++) {
        const char *col = colours[m % (sizeof(colours) / sizeof(colours[0]))];
        char id[200];
        snprintf(id, sizeof(id), "allocated-%zu", m);
        polyline(f, alloc + m * BUCKETS, ymax, col, NULL, id);
        if (measured[m]) {
            snprintf(id, sizeof(id), "used-%zu", m);
            polyline(f, used + m * BUCKETS, ymax, col, "6,3", id);
        }
        fprintf(f, "  <text x=\"%d\" y=\"%d\" fill=\"%s\">", W - RIGHT + 12, ly, col);
        xml_text(f, r->models[m].name);
        fprintf(f, "%s</text>\n", measured[m] ? "" : " (use not measured)");
        ly += 18;
    }
    fprintf(f, "</svg>\n");
    free(cap.v);
    free(alloc);
    free(used);
    free(measured);
    return 0;
}
