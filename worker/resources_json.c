/* JSON output of discovered resources. */
#include "worker/resources_print.h"

#include "proto/json_print.h"

#include <errno.h>

static void print_opt_string(FILE *f, const char *s)
{
    if (s)
        cairn_json_print_string(f, s);
    else
        fputs("null", f);
}

static void print_ids(FILE *f, const unsigned *ids, size_t n)
{
    fputc('[', f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%u", i ? ", " : "", ids[i]);
    fputc(']', f);
}

static void print_labels(const worker_resources_t *r, FILE *f)
{
    size_t n = worker_resources_label_count(r);
    fputc('{', f);
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ", " : "", f);
        cairn_json_print_string(f, worker_resources_label_key(r, i));
        fputs(": ", f);
        cairn_json_print_string(f, worker_resources_label_value(r, i));
    }
    fputc('}', f);
}

static void print_numa(const worker_resources_t *r, FILE *f)
{
    size_t n = worker_resources_numa_count(r);
    fputs("  \"numa\": [", f);
    for (size_t i = 0; i < n; i++) {
        const worker_numa_t *d = worker_resources_numa(r, i);
        fprintf(f, "%s\n    {\"id\": %u, \"memory_bytes\": %llu, \"pus\": ", i ? "," : "",
                d->os_index, (unsigned long long)d->memory_bytes);
        print_ids(f, d->pus, d->npus);
        fputs(", \"cores\": ", f);
        print_ids(f, d->cores, d->ncores);
        fputc('}', f);
    }
    fputs(n ? "\n  ],\n" : "],\n", f);
}

static void print_cores(const worker_resources_t *r, FILE *f)
{
    size_t n = worker_resources_core_count(r);
    fputs("  \"cores_list\": [", f);
    for (size_t i = 0; i < n; i++) {
        const worker_core_t *c = worker_resources_core(r, i);
        fprintf(f, "%s\n    {\"index\": %u, \"numa\": ", i ? "," : "", c->index);
        if (c->numa >= 0)
            fprintf(f, "%d", c->numa);
        else
            fputs("null", f);
        fputs(", \"pus\": ", f);
        print_ids(f, c->pus, c->npus);
        fputc('}', f);
    }
    fputs(n ? "\n  ],\n" : "],\n", f);
}

static void print_gpu(const worker_gpu_t *g, FILE *f)
{
    fprintf(f, "    {\"index\": %u, \"vendor\": \"%s\", \"model\": ", g->index,
            worker_gpu_vendor_name(g->vendor));
    print_opt_string(f, g->model);
    fputs(", \"memory_bytes\": ", f);
    if (g->memory_bytes)
        fprintf(f, "%llu", (unsigned long long)g->memory_bytes);
    else
        fputs("null", f);
    fputs(", \"uuid\": ", f);
    print_opt_string(f, g->uuid);
    fprintf(f, ", \"pci_bus_id\": \"%s\", \"pci_id\": \"%04x:%04x\", \"numa\": ", g->pci_bus_id,
            g->pci_vendor_id, g->pci_device_id);
    if (g->numa >= 0)
        fprintf(f, "%d", g->numa);
    else
        fputs("null", f);
    fprintf(f, ", \"has_driver\": %s, \"locality_group\": %u, \"driver\": ",
            g->has_driver ? "true" : "false", g->locality_group);
    print_opt_string(f, g->driver);
    fputs(", \"driver_version\": ", f);
    print_opt_string(f, g->driver_version);
    fputs(", \"cuda_version\": ", f);
    print_opt_string(f, g->cuda_version);
    fputc('}', f);
}

int worker_resources_print_json(const worker_resources_t *r, FILE *f)
{
    size_t ngpus = worker_resources_gpu_count(r);

    fputs("{\n  \"node\": ", f);
    cairn_json_print_string(f, worker_resources_node(r));
    fputs(",\n  \"labels\": ", f);
    print_labels(r, f);
    fprintf(f, ",\n  \"fingerprint\": \"%016llx\",\n",
            (unsigned long long)worker_resources_fingerprint(r));
    fprintf(f,
            "  \"packages\": %u,\n  \"cores\": %zu,\n  \"pus\": %u,\n  \"memory_bytes\": %llu,\n",
            worker_resources_package_count(r), worker_resources_core_count(r),
            worker_resources_pu_count(r), (unsigned long long)worker_resources_memory_bytes(r));
    print_numa(r, f);
    print_cores(r, f);
    fputs("  \"gpus\": [", f);
    for (size_t i = 0; i < ngpus; i++) {
        fputs(i ? ",\n" : "\n", f);
        print_gpu(worker_resources_gpu(r, i), f);
    }
    fputs(ngpus ? "\n  ]\n}\n" : "]\n}\n", f);
    if (fflush(f) != 0 || ferror(f))
        return -EIO;
    return 0;
}
