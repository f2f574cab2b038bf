/* JSON output of discovered resources (jansson, through proto/json.h). */
#include "worker/resources_print.h"

#include "proto/json.h"

/* s, or null when unknown */
static json_t *opt_str(const char *s)
{
    return s ? cairn_json_str(s) : json_null();
}

/* n, or null when unknown (n < 0) */
static json_t *opt_int(int n)
{
    return n >= 0 ? json_integer(n) : json_null();
}

static json_t *labels_of(const worker_resources_t *r)
{
    json_t *o = json_object();
    for (size_t i = 0; i < worker_resources_label_count(r); i++)
        cairn_json_set(&o, worker_resources_label_key(r, i),
                       cairn_json_str(worker_resources_label_value(r, i)));
    return o;
}

static json_t *numa_at(const worker_resources_t *r, size_t i)
{
    const worker_numa_t *d = worker_resources_numa(r, i);
    return json_pack("{s:I, s:o, s:o, s:o}", "id", (json_int_t)d->os_index, "memory_bytes",
                     cairn_json_u64(d->memory_bytes), "pus", cairn_json_u32s(d->pus, d->npus),
                     "cores", cairn_json_u32s(d->cores, d->ncores));
}

static json_t *core_at(const worker_resources_t *r, size_t i)
{
    const worker_core_t *c = worker_resources_core(r, i);
    return json_pack("{s:I, s:o, s:o}", "index", (json_int_t)c->index, "numa", opt_int(c->numa),
                     "pus", cairn_json_u32s(c->pus, c->npus));
}

static json_t *gpu_at(const worker_resources_t *r, size_t i)
{
    const worker_gpu_t *g = worker_resources_gpu(r, i);
    char pci_id[16];
    snprintf(pci_id, sizeof(pci_id), "%04x:%04x", g->pci_vendor_id, g->pci_device_id);
    json_t *o =
        json_pack("{s:I, s:s, s:o, s:o, s:o, s:o, s:s, s:o, s:b, s:I, s:o, s:o, s:o}", "index",
                  (json_int_t)g->index, "vendor", worker_gpu_vendor_name(g->vendor), "model",
                  opt_str(g->model), "memory_bytes",
                  g->memory_bytes ? cairn_json_u64(g->memory_bytes) : json_null(), "uuid",
                  opt_str(g->uuid), "pci_bus_id", cairn_json_str(g->pci_bus_id), "pci_id", pci_id,
                  "numa", opt_int(g->numa), "has_driver", g->has_driver, "locality_group",
                  (json_int_t)g->locality_group, "driver", opt_str(g->driver), "driver_version",
                  opt_str(g->driver_version), "cuda_version", opt_str(g->cuda_version));
    /* only MIG instances carry these: whole GPUs print as before */
    if (o && g->mig &&
        (json_object_set_new(o, "mig", json_true()) < 0 ||
         json_object_set_new(o, "mig_profile", opt_str(g->mig_profile)) < 0 ||
         json_object_set_new(o, "mig_parent_uuid", opt_str(g->mig_parent_uuid)) < 0)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* One list of what each (r, i) gives. */
static json_t *list_of(const worker_resources_t *r, size_t n,
                       json_t *(*item)(const worker_resources_t *r, size_t i))
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        cairn_json_push(&a, item(r, i));
    return a;
}

int worker_resources_print_json(const worker_resources_t *r, FILE *f)
{
    char fingerprint[24];
    snprintf(fingerprint, sizeof(fingerprint), "%016llx",
             (unsigned long long)worker_resources_fingerprint(r));
    json_t *doc = json_pack(
        "{s:o, s:o, s:s, s:I, s:I, s:I, s:o, s:o, s:o, s:o}", "node",
        cairn_json_str(worker_resources_node(r)), "labels", labels_of(r), "fingerprint",
        fingerprint, "packages", (json_int_t)worker_resources_package_count(r), "cores",
        (json_int_t)worker_resources_core_count(r), "pus", (json_int_t)worker_resources_pu_count(r),
        "memory_bytes", cairn_json_u64(worker_resources_memory_bytes(r)), "numa",
        list_of(r, worker_resources_numa_count(r), numa_at), "cores_list",
        list_of(r, worker_resources_core_count(r), core_at), "gpus",
        list_of(r, worker_resources_gpu_count(r), gpu_at));
    return cairn_json_print(f, doc, CAIRN_JSON_LINE);
}
