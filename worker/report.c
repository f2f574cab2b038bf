/* Resource reports; see report.h. */
#include "worker/report.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/grow.h"
#include "worker/nvml.h"

typedef struct report_gpu {
    uint32_t index;
    char pci_bus_id[16];
} report_gpu_t;

struct worker_report {
    worker_nvml_t *nvml; /* NULL: no GPU usage */
    report_gpu_t *gpus;  /* NVIDIA GPUs NVML may know */
    size_t ngpus;
    Cairn__ResourceReport msg;
    /* storage behind msg, grown as needed */
    Cairn__TaskUsage *tasks;
    Cairn__TaskUsage **task_ptrs;
    size_t tasks_cap, task_ptrs_cap;
    Cairn__GpuUsage *gpu_usage;
    Cairn__GpuUsage **gpu_ptrs;
    uint64_t *ids; /* worker_exec_list() output */
    size_t ids_cap;
    char *node_name;
};

/* The whole NVIDIA GPUs NVML may know: MIG instances have no utilisation
 * of their own. rep->gpus has room for every GPU of r. */
static void list_gpus(worker_report_t *rep, const worker_resources_t *r)
{
    rep->ngpus = 0;
    for (size_t i = 0; i < worker_resources_gpu_count(r); i++) {
        const worker_gpu_t *g = worker_resources_gpu(r, i);
        if (g->vendor != WORKER_GPU_VENDOR_NVIDIA || !g->pci_bus_id[0] || g->mig)
            continue;
        rep->gpus[rep->ngpus].index = g->index;
        memcpy(rep->gpus[rep->ngpus].pci_bus_id, g->pci_bus_id, sizeof(g->pci_bus_id));
        rep->ngpus++;
    }
}

int worker_report_create(const worker_resources_t *r, const char *nvml_lib, worker_report_t **out,
                         cairn_error_t *err)
{
    worker_report_t *rep = calloc(1, sizeof(*rep));
    size_t n = worker_resources_gpu_count(r);

    if (!rep)
        return errcode(err, -ENOMEM, "out of memory");
    rep->gpus = calloc(n ? n : 1, sizeof(*rep->gpus));
    rep->gpu_usage = calloc(n ? n : 1, sizeof(*rep->gpu_usage));
    rep->gpu_ptrs = calloc(n ? n : 1, sizeof(*rep->gpu_ptrs));
    if (!rep->gpus || !rep->gpu_usage || !rep->gpu_ptrs) {
        worker_report_destroy(rep);
        return errcode(err, -ENOMEM, "out of memory");
    }
    list_gpus(rep, r);
    /* NVML is only worth loading when there is an NVIDIA GPU to ask about */
    if (rep->ngpus > 0 && !(nvml_lib && !nvml_lib[0]))
        worker_nvml_create(nvml_lib, &rep->nvml, NULL);
    cairn__resource_report__init(&rep->msg);
    *out = rep;
    return 0;
}

worker_nvml_t *worker_report_nvml(const worker_report_t *rep)
{
    return rep->nvml;
}

bool worker_report_has_nvml(const worker_report_t *rep)
{
    return rep->nvml != NULL;
}

int worker_report_parse_loadavg(const char *text, uint32_t milli[3])
{
    for (int i = 0; i < 3; i++) {
        char *end;
        errno = 0;
        double v = strtod(text, &end);
        if (end == text || errno || v < 0 || v > 4e6)
            return -EINVAL;
        milli[i] = (uint32_t)(v * 1000 + 0.5);
        text = end;
    }
    return 0;
}

/* The value in kB of "key:" in meminfo text, in bytes; false if absent. */
static bool meminfo_get(const char *text, const char *key, uint64_t *bytes)
{
    size_t klen = strlen(key);
    for (const char *line = text; line && *line; line = strchr(line, '\n')) {
        if (*line == '\n')
            line++;
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            unsigned long long kb;
            if (sscanf(line + klen + 1, "%llu", &kb) != 1)
                return false;
            *bytes = (uint64_t)kb * 1024;
            return true;
        }
    }
    return false;
}

int worker_report_parse_meminfo(const char *text, uint64_t *used, uint64_t *total)
{
    uint64_t t, avail, free_b = 0, buffers = 0, cached = 0;

    if (!meminfo_get(text, "MemTotal", &t))
        return -EINVAL;
    if (!meminfo_get(text, "MemAvailable", &avail)) {
        meminfo_get(text, "MemFree", &free_b);
        meminfo_get(text, "Buffers", &buffers);
        meminfo_get(text, "Cached", &cached);
        avail = free_b + buffers + cached;
    }
    *total = t;
    *used = avail < t ? t - avail : 0;
    return 0;
}

/* Read a small /proc file into buf (NUL-terminated). */
static int read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, len - 1);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    buf[n] = '\0';
    return 0;
}

static void collect_host(worker_report_t *rep)
{
    char buf[8192];
    uint32_t load[3];

    if (read_small("/proc/loadavg", buf, sizeof(buf)) == 0 &&
        worker_report_parse_loadavg(buf, load) == 0) {
        rep->msg.load_avg_1_milli = load[0];
        rep->msg.load_avg_5_milli = load[1];
        rep->msg.load_avg_15_milli = load[2];
    }
    if (read_small("/proc/meminfo", buf, sizeof(buf)) == 0)
        worker_report_parse_meminfo(buf, &rep->msg.memory_used_bytes, &rep->msg.memory_total_bytes);
}

static int tasks_reserve(worker_report_t *rep, size_t n)
{
    if (CAIRN_GROW(rep->tasks, rep->tasks_cap, n) < 0 ||
        CAIRN_GROW(rep->task_ptrs, rep->task_ptrs_cap, n) < 0 ||
        CAIRN_GROW(rep->ids, rep->ids_cap, n) < 0)
        return -ENOMEM;
    return 0;
}

static int collect_tasks(worker_report_t *rep, worker_exec_t *x)
{
    size_t max = worker_exec_list(x, NULL, NULL, NULL, NULL, 0);
    if (tasks_reserve(rep, max) < 0)
        return -ENOMEM;
    size_t n = worker_exec_list(x, rep->ids, NULL, NULL, NULL, max);
    for (size_t i = 0; i < n && i < max; i++) {
        Cairn__TaskUsage *t = &rep->tasks[rep->msg.n_tasks];
        cairn__task_usage__init(t);
        t->attempt_id = rep->ids[i];
        if (worker_exec_usage(x, t->attempt_id, &t->cpu_time_usec, &t->rss_bytes,
                              &t->peak_rss_bytes) < 0)
            continue;
        rep->task_ptrs[rep->msg.n_tasks++] = t;
    }
    rep->msg.tasks = rep->task_ptrs;
    return 0;
}

static void collect_gpus(worker_report_t *rep)
{
    if (!rep->nvml)
        return;
    for (size_t i = 0; i < rep->ngpus; i++) {
        Cairn__GpuUsage *g = &rep->gpu_usage[rep->msg.n_gpus];
        cairn__gpu_usage__init(g);
        g->index = rep->gpus[i].index;
        if (worker_nvml_sample(rep->nvml, rep->gpus[i].pci_bus_id, &g->utilization_percent,
                               &g->memory_used_bytes) < 0)
            continue;
        rep->gpu_ptrs[rep->msg.n_gpus++] = g;
    }
    rep->msg.gpus = rep->gpu_ptrs;
}

const Cairn__ResourceReport *worker_report_collect(worker_report_t *rep, worker_exec_t *x,
                                                   const char *node_name, uint64_t node_id,
                                                   int64_t now_ms)
{
    char *name = strdup(node_name ? node_name : "");
    if (!name)
        return NULL;
    free(rep->node_name);
    rep->node_name = name;
    cairn__resource_report__init(&rep->msg);
    rep->msg.node_name = rep->node_name;
    rep->msg.node_id = node_id;
    rep->msg.time_ms = now_ms;
    collect_host(rep);
    if (x && collect_tasks(rep, x) < 0)
        return NULL;
    collect_gpus(rep);
    return &rep->msg;
}

void worker_report_destroy(worker_report_t *rep)
{
    if (!rep)
        return;
    worker_nvml_destroy(rep->nvml);
    free(rep->gpus);
    free(rep->gpu_usage);
    free(rep->gpu_ptrs);
    free(rep->tasks);
    free(rep->task_ptrs);
    free(rep->ids);
    free(rep->node_name);
    free(rep);
}

static bool unknown(const char *s)
{
    return !s || !s[0];
}

int worker_report_fill_gpus(worker_report_t *rep, worker_resources_t *r)
{
    int filled = 0;
    char driver[96], cuda[32];
    if (!rep->nvml)
        return 0;
    worker_nvml_versions(rep->nvml, driver, sizeof(driver), cuda, sizeof(cuda));
    for (size_t i = 0; i < worker_resources_gpu_count(r); i++) {
        const worker_gpu_t *g = worker_resources_gpu(r, i);
        char uuid[96], name[96] = "";
        bool more = false;
        if (g->vendor != WORKER_GPU_VENDOR_NVIDIA || !g->has_driver || !g->pci_bus_id[0])
            continue;
        if (unknown(g->uuid) &&
            worker_nvml_uuid(rep->nvml, g->pci_bus_id, uuid, sizeof(uuid)) == 0 &&
            worker_resources_gpu_set_uuid(r, i, uuid) == 0)
            more = true;
        if (unknown(g->model) && worker_nvml_name(rep->nvml, g->pci_bus_id, name, sizeof(name)) < 0)
            name[0] = '\0';
        const char *dv = unknown(g->driver_version) ? driver : NULL;
        const char *cv = unknown(g->cuda_version) ? cuda : NULL;
        if ((name[0] || (dv && dv[0]) || (cv && cv[0])) &&
            worker_resources_gpu_set_info(r, i, name, dv, cv) == 0)
            more = true;
        filled += more;
    }
    return filled;
}

int worker_report_apply_mig(worker_report_t *rep, worker_resources_t *r, cairn_error_t *err)
{
    int split = 0;
    if (!rep->nvml)
        return 0;
    /* from the last GPU down, so that the indexes still to visit stay put */
    for (size_t i = worker_resources_gpu_count(r); i-- > 0;) {
        const worker_gpu_t *g = worker_resources_gpu(r, i);
        worker_nvml_mig_t m[WORKER_NVML_MIG_MAX];
        worker_mig_instance_t inst[WORKER_NVML_MIG_MAX];
        bool enabled;
        if (g->vendor != WORKER_GPU_VENDOR_NVIDIA || !g->pci_bus_id[0] || g->mig)
            continue;
        int n = worker_nvml_mig(rep->nvml, g->pci_bus_id, m, &enabled);
        if (n == -ENODEV || !enabled)
            continue;
        if (n < 0)
            return errcode(err, n, "GPU %zu (%s): cannot list its MIG instances from NVML", i,
                           g->pci_bus_id);
        for (int k = 0; k < n; k++)
            inst[k] = (worker_mig_instance_t){m[k].uuid, m[k].profile, m[k].memory_bytes};
        int rc = worker_resources_gpu_split_mig(r, i, inst, (size_t)n);
        if (rc < 0)
            return errcode(err, rc, "GPU %zu (%s): bad MIG instances from NVML", i, g->pci_bus_id);
        split++;
    }
    if (split) {
        /* MIG instances take more room than the GPUs they replace */
        size_t total = worker_resources_gpu_count(r);
        report_gpu_t *gpus = calloc(total, sizeof(*gpus));
        Cairn__GpuUsage *usage = calloc(total, sizeof(*usage));
        Cairn__GpuUsage **ptrs = calloc(total, sizeof(*ptrs));
        if (!gpus || !usage || !ptrs) {
            free(gpus);
            free(usage);
            free(ptrs);
            return errcode(err, -ENOMEM, "out of memory");
        }
        free(rep->gpus);
        free(rep->gpu_usage);
        free(rep->gpu_ptrs);
        rep->gpus = gpus;
        rep->gpu_usage = usage;
        rep->gpu_ptrs = ptrs;
        list_gpus(rep, r);
    }
    return split;
}
