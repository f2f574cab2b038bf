/* Readable summary of discovered resources, in the spirit of lstopo. */
#include "worker/resources_print.h"

#include <errno.h>

static void print_size(FILE *f, uint64_t bytes)
{
    if (bytes >= (1ULL << 30))
        fprintf(f, "%.1f GiB", (double)bytes / (double)(1ULL << 30));
    else
        fprintf(f, "%.1f MiB", (double)bytes / (double)(1ULL << 20));
}

static void print_gpu(FILE *f, const worker_gpu_t *g)
{
    fprintf(f, "  GPU %u: %s %s, ", g->index, worker_gpu_vendor_name(g->vendor),
            g->model ? g->model : "(unknown model)");
    if (g->memory_bytes)
        print_size(f, g->memory_bytes);
    else
        fputs("memory unknown", f);
    fprintf(f, ", %s, NUMA ", g->pci_bus_id);
    if (g->numa >= 0)
        fprintf(f, "%d", g->numa);
    else
        fputs("unknown", f);
    fprintf(f, ", group %u, driver %s", g->locality_group, g->has_driver ? "yes" : "no");
    if (g->driver)
        fprintf(f, " (%s%s%s)", g->driver, g->driver_version ? " " : "",
                g->driver_version ? g->driver_version : "");
    if (g->uuid)
        fprintf(f, ", %s", g->uuid);
    if (g->mig)
        fprintf(f, ", MIG %s of %s", g->mig_profile,
                g->mig_parent_uuid ? g->mig_parent_uuid : "its GPU");
    fputc('\n', f);
}

int worker_resources_print_text(const worker_resources_t *r, FILE *f)
{
    size_t n;

    fprintf(f, "node %s: %u packages, %zu cores, %u PUs, ", worker_resources_node(r),
            worker_resources_package_count(r), worker_resources_core_count(r),
            worker_resources_pu_count(r));
    print_size(f, worker_resources_memory_bytes(r));
    fputc('\n', f);
    n = worker_resources_numa_count(r);
    for (size_t i = 0; i < n; i++) {
        const worker_numa_t *d = worker_resources_numa(r, i);
        fprintf(f, "  NUMA %u: ", d->os_index);
        print_size(f, d->memory_bytes);
        fprintf(f, ", %zu cores, PUs ", d->ncores);
        if (d->npus)
            worker_idlist_print(f, d->pus, d->npus);
        else
            fputs("none", f);
        fputc('\n', f);
    }
    n = worker_resources_gpu_count(r);
    for (size_t i = 0; i < n; i++)
        print_gpu(f, worker_resources_gpu(r, i));
    if (n == 0)
        fputs("  no GPUs\n", f);
    n = worker_resources_label_count(r);
    if (n) {
        fputs("  labels:", f);
        for (size_t i = 0; i < n; i++)
            fprintf(f, " %s=%s", worker_resources_label_key(r, i),
                    worker_resources_label_value(r, i));
        fputc('\n', f);
    }
    fprintf(f, "  fingerprint %016llx\n", (unsigned long long)worker_resources_fingerprint(r));
    if (fflush(f) != 0 || ferror(f))
        return -EIO;
    return 0;
}
