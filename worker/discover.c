/* worker_discover(): load a hwloc topology, then read CPUs and memory from
 * it (GPUs are in discover_gpu.c). */
#include "worker/discover.h"
#include "worker/discover_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The set bits of a hwloc bitmap as a malloc'ed ascending array (NULL
 * when empty). Returns 0, -ENOMEM, or -EINVAL for an infinite bitmap. */
static int bitmap_ids(hwloc_const_bitmap_t set, unsigned **idsp, size_t *np)
{
    int weight = hwloc_bitmap_weight(set);
    unsigned *ids = NULL;
    size_t n = 0;
    int id;

    if (weight < 0)
        return -EINVAL;
    if (weight > 0) {
        ids = malloc((size_t)weight * sizeof(*ids));
        if (!ids)
            return -ENOMEM;
        hwloc_bitmap_foreach_begin(id, set)
        {
            ids[n++] = (unsigned)id;
        }
        hwloc_bitmap_foreach_end();
    }
    *idsp = ids;
    *np = n;
    return 0;
}

/* hwloc accepts a missing file until load time and then says only
 * "Invalid argument": check it first to name the real problem. */
static int check_file(const char *path, cairn_error_t *err)
{
    struct stat st;
    if (stat(path, &st) < 0 || access(path, R_OK) < 0)
        return errcode(err, -errno, "cannot open topology file '%s': %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return errcode(err, -EISDIR, "cannot open topology file '%s': %s", path, strerror(EISDIR));
    return 0;
}

static int topology_load(const char *xml_path, hwloc_topology_t *topop, cairn_error_t *err)
{
    hwloc_topology_t topo;
    int rc;

    if (xml_path && (rc = check_file(xml_path, err)) < 0)
        return rc;
    if (hwloc_topology_init(&topo) < 0)
        return errcode(err, -ENOMEM, "cannot initialize hwloc: %s", strerror(errno));
    /* I/O objects are dropped by default, on live machines and when reading
     * XML alike. "Important" keeps display, 3D and accelerator PCI devices,
     * the GPU OS devices, and the bridges above kept devices. */
    if (hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT) < 0) {
        rc = errcode(err, -EINVAL, "cannot set the hwloc I/O filter: %s", strerror(errno));
        goto error;
    }
    if (xml_path && hwloc_topology_set_xml(topo, xml_path) < 0) {
        rc = errcode(err, -EINVAL, "cannot read topology file '%s': %s", xml_path, strerror(errno));
        goto error;
    }
    if (hwloc_topology_load(topo) < 0) {
        if (xml_path)
            rc = errcode(err, -EINVAL,
                         "cannot load topology file '%s': not a valid hwloc XML "
                         "topology (%s)",
                         xml_path, strerror(errno));
        else
            rc = errcode(err, -EINVAL, "cannot discover this machine's topology: %s",
                         strerror(errno));
        goto error;
    }
    *topop = topo;
    return 0;
error:
    hwloc_topology_destroy(topo);
    return rc;
}

static int set_node_name(hwloc_topology_t topo, worker_resources_t *r, const char *name,
                         cairn_error_t *err)
{
    char host[WORKER_NODE_NAME_MAX + 1];

    if (!name)
        name = hwloc_obj_get_info_by_name(hwloc_get_root_obj(topo), "HostName");
    if (!name) {
        if (gethostname(host, sizeof(host)) < 0)
            return errcode(err, -errno, "cannot get the host name: %s", strerror(errno));
        host[sizeof(host) - 1] = '\0';
        name = host;
    }
    return worker_resources_set_node(r, name, err);
}

/* The NUMA domain whose PUs include all of set's, -1 if none. */
static int numa_of_cpuset(hwloc_topology_t topo, hwloc_const_cpuset_t set)
{
    hwloc_obj_t node = NULL;
    int best = -1;
    while ((node = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, node)))
        if (node->cpuset && hwloc_bitmap_isincluded(set, node->cpuset) &&
            (best < 0 || node->os_index < (unsigned)best))
            best = (int)node->os_index;
    return best;
}

static int discover_cores(hwloc_topology_t topo, worker_resources_t *r, cairn_error_t *err)
{
    /* Some platforms report PUs without cores: each PU is a core then. */
    hwloc_obj_type_t type = HWLOC_OBJ_CORE;
    int n = hwloc_get_nbobjs_by_type(topo, type);
    if (n <= 0) {
        type = HWLOC_OBJ_PU;
        n = hwloc_get_nbobjs_by_type(topo, type);
    }
    if (n <= 0)
        return errcode(err, -EINVAL, "the topology has no PU");
    r->cores = calloc((size_t)n, sizeof(*r->cores));
    if (!r->cores)
        return errcode(err, -ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        hwloc_obj_t obj = hwloc_get_obj_by_type(topo, type, (unsigned)i);
        worker_core_t *c = &r->cores[r->ncores++];
        c->index = (unsigned)i;
        c->numa = numa_of_cpuset(topo, obj->cpuset);
        if (bitmap_ids(obj->cpuset, &c->pus, &c->npus) < 0)
            return errcode(err, -ENOMEM, "out of memory");
    }
    return 0;
}

static int cmp_numa(const void *a, const void *b)
{
    const worker_numa_t *x = a, *y = b;
    return (x->os_index > y->os_index) - (x->os_index < y->os_index);
}

/* The cores of each NUMA domain, from the cores' own NUMA domain. */
static int numa_add_cores(worker_resources_t *r, worker_numa_t *n)
{
    n->cores = malloc((r->ncores ? r->ncores : 1) * sizeof(*n->cores));
    if (!n->cores)
        return -ENOMEM;
    for (size_t i = 0; i < r->ncores; i++)
        if (r->cores[i].numa == (int)n->os_index)
            n->cores[n->ncores++] = r->cores[i].index;
    return 0;
}

/* hwloc 2 always reports at least one NUMA node (it makes one when the OS
 * reports none); should it not, the whole machine is NUMA domain 0. */
static int numa_whole_machine(hwloc_topology_t topo, worker_resources_t *r)
{
    hwloc_obj_t root = hwloc_get_root_obj(topo);
    worker_numa_t *n = &r->numa[0];
    n->os_index = 0;
    n->memory_bytes = root->total_memory;
    for (size_t i = 0; i < r->ncores; i++)
        r->cores[i].numa = 0;
    r->nnuma = 1;
    return bitmap_ids(root->cpuset, &n->pus, &n->npus);
}

static int discover_numa(hwloc_topology_t topo, worker_resources_t *r, cairn_error_t *err)
{
    int n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    int rc;

    r->numa = calloc(n > 0 ? (size_t)n : 1, sizeof(*r->numa));
    if (!r->numa)
        return errcode(err, -ENOMEM, "out of memory");
    if (n <= 0) {
        if (numa_whole_machine(topo, r) < 0)
            return errcode(err, -ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        hwloc_obj_t obj = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
        worker_numa_t *d = &r->numa[r->nnuma++];
        d->os_index = obj->os_index;
        d->memory_bytes = obj->attr->numanode.local_memory;
        if (obj->cpuset && (rc = bitmap_ids(obj->cpuset, &d->pus, &d->npus)) < 0)
            return errcode(err, rc, "bad NUMA node cpuset");
    }
    qsort(r->numa, r->nnuma, sizeof(*r->numa), cmp_numa);
    r->memory_bytes = 0;
    for (size_t i = 0; i < r->nnuma; i++) {
        if (numa_add_cores(r, &r->numa[i]) < 0)
            return errcode(err, -ENOMEM, "out of memory");
        r->memory_bytes += r->numa[i].memory_bytes;
    }
    return 0;
}

int worker_discover(const char *xml_path, const char *name, worker_resources_t **resp,
                    cairn_error_t *err)
{
    hwloc_topology_t topo = NULL;
    worker_resources_t *r;
    int packages, pus, rc;

    if ((rc = topology_load(xml_path, &topo, err)) < 0)
        return rc;
    r = worker_resources_create();
    if (!r) {
        rc = errcode(err, -ENOMEM, "out of memory");
        goto error;
    }
    if ((rc = set_node_name(topo, r, name, err)) < 0)
        goto error;
    packages = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);
    r->packages = packages > 0 ? (unsigned)packages : 1; /* unreported: still one */
    pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    r->pus = pus > 0 ? (unsigned)pus : 0;
    if ((rc = discover_cores(topo, r, err)) < 0)
        goto error;
    if ((rc = discover_numa(topo, r, err)) < 0)
        goto error;
    if ((rc = discover_gpus(topo, r, xml_path == NULL, err)) < 0)
        goto error;
    hwloc_topology_destroy(topo);
    *resp = r;
    return 0;
error:
    worker_resources_destroy(r);
    hwloc_topology_destroy(topo);
    return rc;
}
