/* cairn plan: the cluster to simulate, from the scheduler (NodesReply), a
 * cluster file (JSON, docs/capacity.md) or hwloc XML topologies.
 * XML goes through the worker's own discovery (worker/discover.c) and the
 * Register conversion the scheduler uses (worker/node_desc.c): what a worker
 * started with --topology FILE would register. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/cmd.h"
#include "cluster/plan.h"
#include "cluster/plan_private.h"
#include "common/grow.h"
#include "worker/discover.h"
#include "worker/node_desc.h"
#include "worker/register_msg.h"

static void node_fini(plan_node_t *n)
{
    free(n->name);
    free(n->numa_memory);
    free(n->core_numa);
    for (int i = 0; n->gpus && i < n->d.ngpus; i++) {
        free((char *)n->gpus[i].vendor);
        free((char *)n->gpus[i].model);
        free((char *)n->gpus[i].uuid);
        free((char *)n->gpus[i].pci_bus_id);
    }
    free(n->gpus);
    for (int i = 0; n->labels && i < n->d.nlabels; i++)
        free(n->labels[i]);
    free(n->labels);
}

void plan_cluster_fini(plan_cluster_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        node_fini(&c->v[i]);
    free(c->v);
    memset(c, 0, sizeof(*c));
}

static char *dupn(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Append a deep copy of d named name. -1 on ENOMEM or a duplicate name. */
static int node_add(plan_cluster_t *c, const sched_node_desc_t *d, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->v[i].name, name)) {
            fprintf(stderr, "cairn plan: two nodes named %s\n", name);
            return -1;
        }
    if (CAIRN_GROW(c->v, c->cap, c->n + 1) < 0)
        goto oom;
    plan_node_t *n = &c->v[c->n];
    memset(n, 0, sizeof(*n));
    n->d = *d;
    n->name = strdup(name);
    n->numa_memory = calloc((size_t)d->nnuma + 1, sizeof(uint64_t));
    n->core_numa = calloc((size_t)d->ncores + 1, sizeof(int));
    n->gpus = calloc((size_t)d->ngpus + 1, sizeof(sched_gpu_desc_t));
    n->labels = calloc((size_t)d->nlabels + 1, sizeof(char *));
    if (!n->name || !n->numa_memory || !n->core_numa || !n->gpus || !n->labels) {
        n->d.ngpus = n->d.nlabels = 0;
        node_fini(n);
        goto oom;
    }
    memcpy(n->numa_memory, d->numa_memory, (size_t)d->nnuma * sizeof(uint64_t));
    memcpy(n->core_numa, d->core_numa, (size_t)d->ncores * sizeof(int));
    for (int i = 0; i < d->ngpus; i++) {
        n->gpus[i] = d->gpus[i];
        n->gpus[i].vendor = dupn(d->gpus[i].vendor);
        n->gpus[i].model = dupn(d->gpus[i].model);
        n->gpus[i].uuid = dupn(d->gpus[i].uuid);
        n->gpus[i].pci_bus_id = dupn(d->gpus[i].pci_bus_id);
    }
    for (int i = 0; i < d->nlabels; i++)
        n->labels[i] = dupn(d->labels[i]);
    n->d.name = n->name;
    n->d.numa_memory = n->numa_memory;
    n->d.core_numa = n->core_numa;
    n->d.gpus = n->gpus;
    n->d.labels = (const char *const *)n->labels;
    c->n++;
    return 0;
oom:
    fprintf(stderr, "cairn plan: out of memory\n");
    return -1;
}

int plan_cluster_copy(plan_cluster_t *dst, const plan_cluster_t *src)
{
    for (size_t i = 0; i < src->n; i++)
        if (node_add(dst, &src->v[i].d, src->v[i].name) < 0)
            return -1;
    return 0;
}

int plan_cluster_remove(plan_cluster_t *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->v[i].name, name)) {
            node_fini(&c->v[i]);
            memmove(&c->v[i], &c->v[i + 1], (c->n - i - 1) * sizeof(plan_node_t));
            c->n--;
            return 0;
        }
    return -1;
}

int plan_cluster_add_xml(plan_cluster_t *c, const char *xml, const char *name, uint32_t count)
{
    worker_resources_t *res = NULL;
    worker_register_msg_t *msg = NULL;
    node_desc_t *cn = NULL;
    cairn_error_t err = {{0}};
    int rc = CLI_USAGE;
    if (worker_discover(xml, "plan", &res, &err) < 0) {
        fprintf(stderr, "cairn plan: %s: %s\n", xml, err.text);
        return access(xml, R_OK) == 0 ? CLI_USAGE : CLI_NOTFOUND;
    }
    if (worker_register_msg_create(res, &msg, &err) < 0 ||
        node_desc_build(worker_register_msg_get(msg), &cn, &err) < 0) {
        fprintf(stderr, "cairn plan: %s: %s\n", xml, err.text);
        goto out;
    }
    for (uint32_t i = 1; i <= count; i++) {
        char nm[512];
        snprintf(nm, sizeof(nm), "%s-%u", name, i);
        if (node_add(c, node_desc_core(cn), nm) < 0)
            goto out;
    }
    rc = CLI_OK;
out:
    node_desc_destroy(cn);
    worker_register_msg_destroy(msg);
    worker_resources_destroy(res);
    return rc;
}

int plan_cluster_from_nodes(const Cairn__NodesReply *rep, plan_cluster_t *c)
{
    for (size_t i = 0; i < rep->n_nodes; i++) {
        const Cairn__NodeInfo *ni = rep->nodes[i];
        if (ni->state == CAIRN__NODE_STATE__NODE_STATE_DOWN)
            continue;
        uint32_t nc = ni->cores_total ? ni->cores_total : 1;
        int *core_numa = calloc(nc, sizeof(int));
        sched_gpu_desc_t *g = calloc(ni->n_gpus + 1, sizeof(*g));
        char **labels = calloc(ni->n_labels + 1, sizeof(char *));
        int rc = core_numa && g && labels ? 0 : -1;
        for (size_t k = 0; rc == 0 && k < ni->n_gpus; k++)
            g[k] = (sched_gpu_desc_t){.model = ni->gpus[k]->model,
                                      .uuid = ni->gpus[k]->uuid,
                                      .memory_bytes = ni->gpus[k]->memory_bytes,
                                      .numa = 0,
                                      .group = 0};
        size_t nl = 0;
        for (size_t k = 0; rc == 0 && k < ni->n_labels; k++)
            if (asprintf(&labels[nl++], "%s=%s", ni->labels[k]->key, ni->labels[k]->value) < 0)
                rc = -1, labels[--nl] = NULL;
        uint64_t mem = ni->memory_total_bytes;
        sched_node_desc_t d = {.nnuma = 1,
                               .numa_memory = &mem,
                               .ncores = (int)nc,
                               .core_numa = core_numa,
                               .ngpus = (int)ni->n_gpus,
                               .gpus = g,
                               .nlabels = (int)nl,
                               .labels = (const char *const *)labels};
        if (rc == 0)
            rc = node_add(c, &d, ni->name);
        for (size_t k = 0; labels && k < nl; k++)
            free(labels[k]);
        free(labels);
        free(core_numa);
        free(g);
        if (rc < 0)
            return CLI_FAIL;
    }
    return CLI_OK;
}

/* --- cluster files -------------------------------------------------------- */

static int ferr(const char *path, size_t line, const char *what)
{
    fprintf(stderr, "cairn plan: %s:%zu: %s\n", path, line, what);
    return CLI_USAGE;
}

/* A non-negative integer member, with K/M/G/T for sizes; def if absent.
 * Messages name the node's line. */
static int member_u64(const char *path, size_t line, const json_t *o, const char *key, bool size,
                      uint64_t def, uint64_t *out)
{
    const json_t *v = json_object_get(o, key);
    *out = def;
    if (!v)
        return 0;
    char buf[40], *end = NULL;
    const char *text = pj_text(v, buf, sizeof(buf));
    errno = 0;
    unsigned long long x = text ? strtoull(text, &end, 10) : 0;
    if (!text || errno || end == text || text[0] == '-')
        goto bad;
    if (size && *end) {
        const char *units = "KMGT", *u = strchr(units, *end);
        if (!u || !*u)
            goto bad;
        for (int k = 0; k <= u - units; k++)
            x *= 1024;
        end++;
        if (*end == 'i')
            end++;
        if (*end == 'B')
            end++;
    }
    if (*end)
        goto bad;
    *out = x;
    return 0;
bad:
    fprintf(stderr, "cairn plan: %s:%zu: \"%s\" must be a %s\n", path, line, key,
            size ? "size (bytes, or with K/M/G/T)" : "non-negative integer");
    return -1;
}

static int file_node(plan_cluster_t *c, const char *path, size_t line, const json_t *o)
{
    char nbuf[40];
    const json_t *name_v = json_object_get(o, "name");
    const char *name = name_v ? pj_text(name_v, nbuf, sizeof(nbuf)) : NULL;
    if (!json_is_object(o) || !name || !name[0])
        return ferr(path, line, "each node needs a \"name\"");
    uint64_t count, cores, nnuma, mem;
    if (member_u64(path, line, o, "count", false, 1, &count) < 0 ||
        member_u64(path, line, o, "cores", false, 0, &cores) < 0 ||
        member_u64(path, line, o, "numa", false, 1, &nnuma) < 0 ||
        member_u64(path, line, o, "memory", true, 0, &mem) < 0)
        return CLI_USAGE;
    if (count < 1 || count > 100000)
        return ferr(path, line, "\"count\" must be 1..100000");
    const json_t *topo_v = json_object_get(o, "topology");
    if (topo_v) {
        char tbuf[40];
        const char *topo = pj_text(topo_v, tbuf, sizeof(tbuf));
        if (!topo)
            return ferr(path, line, "\"topology\" is the path of an hwloc XML file");
        char xml[4096], *dir = strdup(path);
        if (!dir)
            return CLI_FAIL;
        if (topo[0] == '/')
            snprintf(xml, sizeof(xml), "%s", topo);
        else
            snprintf(xml, sizeof(xml), "%s/%s", dirname(dir), topo);
        free(dir);
        if (count == 1) { /* the name as given */
            plan_cluster_t one = {0};
            int rc = plan_cluster_add_xml(&one, xml, name, 1);
            if (rc == CLI_OK)
                rc = node_add(c, &one.v[0].d, name) < 0 ? CLI_USAGE : CLI_OK;
            plan_cluster_fini(&one);
            return rc;
        }
        return plan_cluster_add_xml(c, xml, name, (uint32_t)count);
    }
    if (cores < 1 || cores > SCHED_MAX_CORES_PER_NODE || nnuma < 1 ||
        nnuma > SCHED_MAX_NUMA_PER_NODE || nnuma > cores)
        return ferr(path, line, "a node needs \"cores\" (1..4096) and \"numa\" (1..cores)");
    sched_gpu_desc_t gpus[SCHED_MAX_GPUS_PER_NODE];
    int ngpus = 0;
    const json_t *gl = json_object_get(o, "gpus");
    if (gl && !json_is_array(gl))
        return ferr(path, line, "\"gpus\" is a list of {\"model\", \"memory\", \"count\"}");
    for (size_t i = 0; gl && i < json_array_size(gl); i++) {
        const json_t *g = json_array_get(gl, i), *model_v = json_object_get(g, "model");
        /* json_string_value: the model string lives as long as the node's JSON */
        const char *model = json_string_value(model_v);
        uint64_t gm, gc;
        if (!json_is_object(g) || !model)
            return ferr(path, line, "a GPU needs a \"model\"");
        if (member_u64(path, line, g, "memory", true, 0, &gm) < 0 ||
            member_u64(path, line, g, "count", false, 1, &gc) < 0)
            return CLI_USAGE;
        if (ngpus + gc > SCHED_MAX_GPUS_PER_NODE)
            return ferr(path, line, "at most 64 GPUs per node");
        for (uint64_t k = 0; k < gc; k++)
            gpus[ngpus++] =
                (sched_gpu_desc_t){.vendor = "nvidia", .model = model, .memory_bytes = gm};
    }
    for (int i = 0; i < ngpus; i++) /* spread over the NUMA domains, one switch each */
        gpus[i].numa = gpus[i].group = (int)((uint64_t)i * nnuma / (uint64_t)ngpus);
    char *labels[64];
    int nl = 0;
    const json_t *lm = json_object_get(o, "labels");
    if (lm && !json_is_object(lm))
        return ferr(path, line, "\"labels\" is an object of key: value");
    const char *lk;
    const json_t *lv;
    json_object_foreach((json_t *)lm, lk, lv)
    {
        char vbuf[40];
        const char *text = pj_text(lv, vbuf, sizeof(vbuf));
        if (nl == 64)
            break;
        if (!text) {
            for (int i = 0; i < nl; i++)
                free(labels[i]);
            return ferr(path, line, "a label's value is a string");
        }
        if (asprintf(&labels[nl], "%s=%s", lk, text) < 0)
            break;
        nl++;
    }
    uint64_t numa_mem[SCHED_MAX_NUMA_PER_NODE];
    int *core_numa = calloc(cores, sizeof(int));
    for (uint64_t d = 0; d < nnuma; d++)
        numa_mem[d] = mem / nnuma;
    for (uint64_t k = 0; core_numa && k < cores; k++)
        core_numa[k] = (int)(k * nnuma / cores);
    sched_node_desc_t d = {.nnuma = (int)nnuma,
                           .numa_memory = numa_mem,
                           .ncores = (int)cores,
                           .core_numa = core_numa,
                           .ngpus = ngpus,
                           .gpus = gpus,
                           .nlabels = nl,
                           .labels = (const char *const *)labels};
    int rc = core_numa ? CLI_OK : CLI_FAIL;
    for (uint64_t k = 1; rc == CLI_OK && k <= count; k++) {
        char nm[512];
        snprintf(nm, sizeof(nm), count > 1 ? "%s-%llu" : "%s", name, (unsigned long long)k);
        if (node_add(c, &d, nm) < 0)
            rc = CLI_USAGE;
    }
    for (int i = 0; i < nl; i++)
        free(labels[i]);
    free(core_numa);
    return rc;
}

/* What plan_cluster_load's pj_each gives each node. */
typedef struct cluster_file {
    plan_cluster_t *c;
    const char *path;
    size_t n;
    int rc;
} cluster_file_t;

static int node_cb(const json_t *item, size_t line, void *arg)
{
    cluster_file_t *cf = arg;
    cf->n++;
    cf->rc = file_node(cf->c, cf->path, line, item);
    return cf->rc == CLI_OK ? 0 : -1;
}

int plan_cluster_load(const char *path, plan_cluster_t *c)
{
    size_t len = strlen(path);
    if (len > 4 && !strcmp(path + len - 4, ".xml")) {
        const char *base = strrchr(path, '/');
        char name[256];
        snprintf(name, sizeof(name), "%s", base ? base + 1 : path);
        char *dot = strrchr(name, '.');
        if (dot && dot != name)
            *dot = '\0';
        return plan_cluster_add_xml(c, path, name, 1);
    }
    pj_reader_t r;
    if (pj_open(&r, path) < 0) {
        fprintf(stderr, "cairn plan: cannot read %s: %s\n", path, r.error);
        return CLI_NOTFOUND;
    }
    cluster_file_t cf = {.c = c, .path = path, .rc = CLI_OK};
    int rc = pj_each(&r, "nodes", false, node_cb, &cf);
    size_t first = r.first_line ? r.first_line : 1;
    bool nolist = r.nolist;
    if (rc < 0 && !nolist && cf.rc == CLI_OK)
        fprintf(stderr, "cairn plan: %s:%s\n", path, r.error);
    pj_close(&r);
    if (nolist || (rc == 0 && cf.n == 0))
        return ferr(path, first, "expected {\"nodes\": [...]} with at least one node");
    if (rc < 0)
        return cf.rc != CLI_OK ? cf.rc : CLI_USAGE;
    return CLI_OK;
}
