/* The discovered resources record: accessors, name, labels, dump. */
#include "proto/validate.h"
#include "worker/resources_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/grow.h"

static const char *const vendor_names[] = {
    [WORKER_GPU_VENDOR_OTHER] = "other",
    [WORKER_GPU_VENDOR_NVIDIA] = "nvidia",
    [WORKER_GPU_VENDOR_AMD] = "amd",
    [WORKER_GPU_VENDOR_INTEL] = "intel",
};

const char *worker_gpu_vendor_name(worker_gpu_vendor_t vendor)
{
    if ((unsigned)vendor >= sizeof(vendor_names) / sizeof(vendor_names[0]))
        return "other";
    return vendor_names[vendor];
}

worker_resources_t *worker_resources_create(void)
{
    worker_resources_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->node = strdup("localhost");
    if (!r->node) {
        free(r);
        return NULL;
    }
    return r;
}

void worker_gpu_fini(worker_gpu_t *gpu)
{
    free(gpu->model);
    free(gpu->uuid);
    free(gpu->driver);
    free(gpu->driver_version);
    free(gpu->cuda_version);
    free(gpu->mig_parent_uuid);
    free(gpu->mig_profile);
}

void worker_resources_destroy(worker_resources_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nnuma; i++) {
        free(r->numa[i].pus);
        free(r->numa[i].cores);
    }
    for (size_t i = 0; i < r->ncores; i++)
        free(r->cores[i].pus);
    for (size_t i = 0; i < r->ngpus; i++)
        worker_gpu_fini(&r->gpus[i]);
    for (size_t i = 0; i < r->nlabels; i++) {
        free(r->labels[i].key);
        free(r->labels[i].value);
    }
    free(r->numa);
    free(r->cores);
    free(r->gpus);
    free(r->labels);
    free(r->node);
    free(r);
}

const char *worker_resources_node(const worker_resources_t *r)
{
    return r->node;
}

/* Control characters would corrupt logs and line-oriented output. */
static bool has_control_chars(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

int worker_node_name_check(const char *name, cairn_error_t *err)
{
    const char *why = cairn_name_problem(name, WORKER_NODE_NAME_MAX, true);
    if (why)
        return errcode(err, -EINVAL, "invalid node name: %s", why);
    return 0;
}

int worker_resources_set_node(worker_resources_t *r, const char *name, cairn_error_t *err)
{
    int rc = worker_node_name_check(name, err);
    if (rc < 0)
        return rc;
    char *copy = strdup(name);
    if (!copy)
        return errcode(err, -ENOMEM, "out of memory");
    free(r->node);
    r->node = copy;
    return 0;
}

unsigned worker_resources_package_count(const worker_resources_t *r)
{
    return r->packages;
}

unsigned worker_resources_pu_count(const worker_resources_t *r)
{
    return r->pus;
}

uint64_t worker_resources_memory_bytes(const worker_resources_t *r)
{
    return r->memory_bytes;
}

size_t worker_resources_numa_count(const worker_resources_t *r)
{
    return r->nnuma;
}

const worker_numa_t *worker_resources_numa(const worker_resources_t *r, size_t i)
{
    return i < r->nnuma ? &r->numa[i] : NULL;
}

size_t worker_resources_core_count(const worker_resources_t *r)
{
    return r->ncores;
}

const worker_core_t *worker_resources_core(const worker_resources_t *r, size_t i)
{
    return i < r->ncores ? &r->cores[i] : NULL;
}

size_t worker_resources_gpu_count(const worker_resources_t *r)
{
    return r->ngpus;
}

const worker_gpu_t *worker_resources_gpu(const worker_resources_t *r, size_t i)
{
    return i < r->ngpus ? &r->gpus[i] : NULL;
}

int worker_resources_gpu_set_uuid(worker_resources_t *r, size_t i, const char *uuid)
{
    if (i >= r->ngpus || !uuid)
        return -EINVAL;
    char *u = strdup(uuid);
    if (!u)
        return -ENOMEM;
    free(r->gpus[i].uuid);
    r->gpus[i].uuid = u;
    return 0;
}

static int dup_if(const char *s, char **out)
{
    *out = NULL;
    if (!s || !s[0])
        return 0;
    return (*out = strdup(s)) ? 1 : -ENOMEM;
}

int worker_resources_gpu_set_info(worker_resources_t *r, size_t i, const char *model,
                                  const char *driver_version, const char *cuda_version)
{
    char *m, *d, *c;
    if (i >= r->ngpus)
        return -EINVAL;
    int rm = dup_if(model, &m), rd = dup_if(driver_version, &d), rc = dup_if(cuda_version, &c);
    if (rm < 0 || rd < 0 || rc < 0) {
        free(m);
        free(d);
        free(c);
        return -ENOMEM;
    }
    worker_gpu_t *g = &r->gpus[i];
    if (m) {
        free(g->model);
        g->model = m;
    }
    if (d) {
        free(g->driver_version);
        g->driver_version = d;
    }
    if (c) {
        free(g->cuda_version);
        g->cuda_version = c;
    }
    return 0;
}

static bool label_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == '/';
}

int worker_label_check(const char *arg, cairn_error_t *err)
{
    const char *eq = strchr(arg, '=');
    if (!eq)
        return errcode(err, -EINVAL, "invalid label '%s': expected KEY=VALUE", arg);
    size_t klen = (size_t)(eq - arg);
    if (klen == 0 || klen > WORKER_LABEL_KEY_MAX)
        return errcode(err, -EINVAL, "invalid label '%s': the key must be 1 to %d characters", arg,
                       WORKER_LABEL_KEY_MAX);
    if (!label_key_char(arg[0]) || arg[0] == '.' || arg[0] == '_' || arg[0] == '-' || arg[0] == '/')
        return errcode(err, -EINVAL,
                       "invalid label '%s': the key must start with a letter or digit", arg);
    for (size_t i = 0; i < klen; i++)
        if (!label_key_char(arg[i]))
            return errcode(err, -EINVAL,
                           "invalid label '%s': the key may only contain letters, digits and ._-/",
                           arg);
    if (strlen(eq + 1) > WORKER_LABEL_VALUE_MAX)
        return errcode(err, -EINVAL, "invalid label '%.*s': the value is longer than %d bytes",
                       (int)klen, arg, WORKER_LABEL_VALUE_MAX);
    if (has_control_chars(eq + 1))
        return errcode(err, -EINVAL, "invalid label '%.*s': the value contains control characters",
                       (int)klen, arg);
    return 0;
}

int worker_resources_label_add(worker_resources_t *r, const char *arg, cairn_error_t *err)
{
    int rc = worker_label_check(arg, err);
    if (rc < 0)
        return rc;
    size_t klen = (size_t)(strchr(arg, '=') - arg);
    size_t pos = 0; /* insertion point that keeps the keys sorted */
    while (pos < r->nlabels) {
        const char *key = r->labels[pos].key;
        int cmp = strncmp(key, arg, klen);
        if (cmp == 0 && key[klen] == '\0')
            return errcode(err, -EEXIST, "duplicate label '%s'", key);
        if (cmp > 0 || (cmp == 0 && key[klen] != '\0'))
            break;
        pos++;
    }
    if (CAIRN_GROW(r->labels, r->labels_cap, r->nlabels + 1) < 0)
        return errcode(err, -ENOMEM, "out of memory");
    struct worker_label *labels = r->labels;
    char *key = strndup(arg, klen);
    char *value = strdup(arg + klen + 1);
    if (!key || !value) {
        free(key);
        free(value);
        return errcode(err, -ENOMEM, "out of memory");
    }
    memmove(&labels[pos + 1], &labels[pos], (r->nlabels - pos) * sizeof(*labels));
    labels[pos].key = key;
    labels[pos].value = value;
    r->nlabels++;
    return 0;
}

size_t worker_resources_label_count(const worker_resources_t *r)
{
    return r->nlabels;
}

const char *worker_resources_label_key(const worker_resources_t *r, size_t i)
{
    return i < r->nlabels ? r->labels[i].key : NULL;
}

const char *worker_resources_label_value(const worker_resources_t *r, size_t i)
{
    return i < r->nlabels ? r->labels[i].value : NULL;
}

void worker_idlist_print(FILE *f, const unsigned *ids, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j + 1 < n && ids[j + 1] == ids[j] + 1)
            j++;
        fprintf(f, "%s%u", i ? "," : "", ids[i]);
        if (j > i)
            fprintf(f, "-%u", ids[j]);
        i = j + 1;
    }
}

static void dump_gpu(FILE *f, const worker_gpu_t *g)
{
    fprintf(f, "gpu%u %s %04x:%04x %s numa=", g->index, worker_gpu_vendor_name(g->vendor),
            g->pci_vendor_id, g->pci_device_id, g->pci_bus_id);
    if (g->numa >= 0)
        fprintf(f, "%d", g->numa);
    else
        fputc('-', f);
    fprintf(f, " group=%u driver=%s memory=", g->locality_group, g->has_driver ? "yes" : "no");
    if (g->memory_bytes)
        fprintf(f, "%llu", (unsigned long long)g->memory_bytes);
    else
        fputc('-', f);
    fprintf(f, " uuid=%s", g->uuid ? g->uuid : "-");
    if (g->mig)
        fprintf(f, " mig=%s parent=%s", g->mig_profile,
                g->mig_parent_uuid ? g->mig_parent_uuid : "-");
    fprintf(f, " model=");
    if (g->model)
        fprintf(f, "\"%s\"\n", g->model);
    else
        fputs("-\n", f);
}

/* Memory as written in a dump: exact, or in whole GiB (rounded) for the
 * fingerprint, which must not change when the kernel reserves a few MiB
 * more after an upgrade or a VM balloon moves. */
static unsigned long long dump_memory(uint64_t bytes, bool coarse)
{
    if (!coarse)
        return (unsigned long long)bytes;
    return (unsigned long long)((bytes + (1ULL << 29)) >> 30);
}

static char *dump(const worker_resources_t *r, bool coarse)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fprintf(f, "node packages=%u cores=%zu pus=%u memory=%llu\n", r->packages, r->ncores, r->pus,
            dump_memory(r->memory_bytes, coarse));
    for (size_t i = 0; i < r->nnuma; i++) {
        const worker_numa_t *n = &r->numa[i];
        fprintf(f, "numa%u memory=%llu pus=", n->os_index, dump_memory(n->memory_bytes, coarse));
        worker_idlist_print(f, n->pus, n->npus);
        fputs(" cores=", f);
        worker_idlist_print(f, n->cores, n->ncores);
        fputc('\n', f);
    }
    for (size_t i = 0; i < r->ncores; i++) {
        const worker_core_t *c = &r->cores[i];
        fprintf(f, "core%u numa=%d pus=", c->index, c->numa);
        worker_idlist_print(f, c->pus, c->npus);
        fputc('\n', f);
    }
    for (size_t i = 0; i < r->ngpus; i++)
        dump_gpu(f, &r->gpus[i]);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

char *worker_resources_dump(const worker_resources_t *r)
{
    return dump(r, false);
}

uint64_t worker_resources_fingerprint(const worker_resources_t *r)
{
    char *text = dump(r, true);
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64 offset basis */
    if (!text)
        return 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL; /* FNV-1a 64 prime */
    }
    free(text);
    return h;
}
