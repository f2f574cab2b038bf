/* GPU discovery: which PCI devices are GPUs, and what hwloc's OS devices
 * (the CUDA, NVML, RSMI, Level Zero, OpenCL and Linux DRM backends) say
 * about them. A GPU is one PCI device however many OS devices hang off it.
 *
 * Info names as set by hwloc 2.9 (sizes are KiB; hwloc 3 appends "KiB"):
 *   CUDA "cudaN":        GPUModel, CUDAGlobalMemorySize (no UUID)
 *   NVML "nvmlN":        GPUModel, NVIDIAUUID, NVIDIASerial (no memory size)
 *   RSMI "rsmiN":        GPUModel, AMDUUID, RSMIVRAMSize
 *   Level Zero "zeN":    LevelZeroModel, LevelZeroUUID, LevelZeroHBMSize,
 *                        LevelZeroMemorySize, LevelZeroDDRSize
 *   OpenCL "openclPdD":  GPUModel, OpenCLGlobalMemorySize
 *   DRM "cardN", "renderDN": nothing (and BMC VGA chips have them too)
 * No backend reports a driver or CUDA version. */
#include "worker/discover_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/grow.h"

/* Where an OS device comes from, best source of information last. */
enum osdev_kind {
    KIND_NONE = 0,
    KIND_DRM, /* a driver, but no proof the device is a GPU */
    KIND_OPENCL,
    KIND_LEVELZERO,
    KIND_RSMI,
    KIND_CUDA,
    KIND_NVML,
};

static const struct {
    const char *subtype;
    enum osdev_kind kind;
    const char *type_info; /* info that must say "GPU" when present */
} backends[] = {
    {"NVML", KIND_NVML, NULL},
    {"CUDA", KIND_CUDA, NULL},
    {"RSMI", KIND_RSMI, NULL},
    {"LevelZero", KIND_LEVELZERO, "LevelZeroDeviceType"},
    {"OpenCL", KIND_OPENCL, "OpenCLDeviceType"},
};

static const char *const model_keys[] = {"GPUModel", "LevelZeroModel", NULL};
static const char *const uuid_keys[] = {"NVIDIAUUID", "AMDUUID", "LevelZeroUUID", NULL};
static const char *const memory_keys[] = {
    "CUDAGlobalMemorySize",
    "RSMIVRAMSize",
    "LevelZeroHBMSize",
    "LevelZeroMemorySize",
    "LevelZeroDDRSize",
    "OpenCLGlobalMemorySize",
    NULL,
};
/* Not set by hwloc 2.9; honoured when an XML was annotated with them. */
static const char *const driver_version_keys[] = {"NVIDIADriverVersion", "DriverVersion", NULL};
static const char *const cuda_version_keys[] = {"CUDAVersion", "CUDADriverVersion", NULL};

#define GPU_MAX_OSDEVS 16

struct gpu_scan {
    hwloc_obj_t pci;
    hwloc_obj_t locality; /* object identifying the locality group */
    bool backend;         /* a GPU backend (not just DRM) reported it */
    size_t nosdevs;
    hwloc_obj_t osdevs[GPU_MAX_OSDEVS]; /* best source first */
    enum osdev_kind kinds[GPU_MAX_OSDEVS];
};

static enum osdev_kind osdev_kind(hwloc_obj_t os)
{
    if (os->type != HWLOC_OBJ_OS_DEVICE)
        return KIND_NONE;
    hwloc_obj_osdev_type_t type = os->attr->osdev.type;
    if (type != HWLOC_OBJ_OSDEV_GPU && type != HWLOC_OBJ_OSDEV_COPROC)
        return KIND_NONE;
    if (!os->subtype) /* Linux DRM card / render nodes */
        return type == HWLOC_OBJ_OSDEV_GPU ? KIND_DRM : KIND_NONE;
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
        if (strcmp(os->subtype, backends[i].subtype) != 0)
            continue;
        const char *t =
            backends[i].type_info ? hwloc_obj_get_info_by_name(os, backends[i].type_info) : NULL;
        return t && strcmp(t, "GPU") != 0 ? KIND_NONE : backends[i].kind;
    }
    /* Other co-processors (NEC VectorEngine...) are not GPUs. */
    return type == HWLOC_OBJ_OSDEV_GPU ? KIND_DRM : KIND_NONE;
}

/* Add an OS device, keeping the best sources first. */
static void scan_add(struct gpu_scan *s, hwloc_obj_t os, enum osdev_kind kind)
{
    if (s->nosdevs == GPU_MAX_OSDEVS)
        return;
    if (kind != KIND_DRM)
        s->backend = true;
    size_t pos = s->nosdevs;
    while (pos > 0 && s->kinds[pos - 1] < kind) {
        s->osdevs[pos] = s->osdevs[pos - 1];
        s->kinds[pos] = s->kinds[pos - 1];
        pos--;
    }
    s->osdevs[pos] = os;
    s->kinds[pos] = kind;
    s->nosdevs++;
}

static void gpu_scan(hwloc_obj_t pci, struct gpu_scan *s)
{
    memset(s, 0, sizeof(*s));
    s->pci = pci;
    /* Direct children only: Level Zero subdevices ("ze0.1") are children
     * of their root device's OS device. */
    for (hwloc_obj_t c = pci->io_first_child; c; c = c->next_sibling) {
        enum osdev_kind kind = osdev_kind(c);
        if (kind != KIND_NONE)
            scan_add(s, c, kind);
    }
}

static bool scan_has_subtype(const struct gpu_scan *s, const char *subtype)
{
    for (size_t i = 0; i < s->nosdevs; i++)
        if (s->osdevs[i]->subtype && strcmp(s->osdevs[i]->subtype, subtype) == 0)
            return true;
    return false;
}

/* A backend that can't find the exact PCI device of its GPU attaches the
 * OS device to the closest bridge instead (seen with hwloc 2.10's OpenCL
 * backend on an H200 VM: opencl1d0 under the host bridge, next to the GPU).
 * Give such an OS device to the GPU below that same bridge when there is
 * exactly one and it has no OS device of that backend yet. */
static void adopt_orphans(hwloc_topology_t topo, struct gpu_scan *scans, size_t n)
{
    for (hwloc_obj_t os = hwloc_get_next_osdev(topo, NULL); os;
         os = hwloc_get_next_osdev(topo, os)) {
        enum osdev_kind kind = osdev_kind(os);
        if (kind == KIND_NONE || kind == KIND_DRM || !os->parent ||
            os->parent->type != HWLOC_OBJ_BRIDGE)
            continue;
        struct gpu_scan *match = NULL;
        size_t nmatch = 0;
        for (size_t i = 0; i < n; i++)
            if (scans[i].pci->parent == os->parent) {
                match = &scans[i];
                nmatch++;
            }
        if (nmatch == 1 && !scan_has_subtype(match, os->subtype))
            scan_add(match, os, kind);
    }
}

/* Display controllers (VGA, 3D, other) and processing accelerators from
 * GPU vendors; Intel only makes display-class GPUs. */
static bool gpu_class(const struct hwloc_pcidev_attr_s *p)
{
    bool display = (p->class_id >> 8) == 0x03;
    switch (p->vendor_id) {
    case 0x10de: /* NVIDIA */
    case 0x1002: /* AMD */
        return display || p->class_id == 0x1200;
    case 0x8086: /* Intel */
        return display;
    default: /* ASPEED, Matrox... BMC VGA chips */
        return false;
    }
}

static worker_gpu_vendor_t vendor_of(unsigned pci_vendor)
{
    switch (pci_vendor) {
    case 0x10de:
        return WORKER_GPU_VENDOR_NVIDIA;
    case 0x1002:
        return WORKER_GPU_VENDOR_AMD;
    case 0x8086:
        return WORKER_GPU_VENDOR_INTEL;
    default:
        return WORKER_GPU_VENDOR_OTHER;
    }
}

static bool is_pci_bridge(hwloc_obj_t o)
{
    return o && o->type == HWLOC_OBJ_BRIDGE &&
           o->attr->bridge.upstream_type == HWLOC_OBJ_BRIDGE_PCI;
}

/* A PCIe switch shows up as an upstream-port bridge with one downstream-port
 * bridge per device below it, so GPUs behind one switch share their parent's
 * parent. A GPU straight under a root port gets the root port (shared only
 * if hwloc shows several devices there), one on a root bus gets itself. */
static hwloc_obj_t locality_of(hwloc_obj_t pci)
{
    hwloc_obj_t port = pci->parent;
    if (!is_pci_bridge(port))
        return pci;
    if (is_pci_bridge(port->parent))
        return port->parent;
    return port;
}

/* The first value of keys (in order) on the best OS device having one. */
static const char *scan_info(const struct gpu_scan *s, const char *const *keys)
{
    for (size_t i = 0; i < s->nosdevs; i++)
        for (const char *const *k = keys; *k; k++) {
            const char *v = hwloc_obj_get_info_by_name(s->osdevs[i], *k);
            if (v && *v)
                return v;
        }
    return NULL;
}

/* A size in KiB, optionally suffixed with "KiB" (hwloc 3 style). */
static uint64_t parse_kib(const char *s)
{
    char *end;
    if (*s < '0' || *s > '9')
        return 0;
    errno = 0;
    unsigned long long kib = strtoull(s, &end, 10);
    if (errno || kib > UINT64_MAX / 1024)
        return 0;
    if (*end == ' ')
        end++;
    if (*end != '\0' && strcmp(end, "KiB") != 0 && strcmp(end, "kB") != 0)
        return 0;
    return (uint64_t)kib * 1024;
}

static uint64_t scan_memory(const struct gpu_scan *s)
{
    for (size_t i = 0; i < s->nosdevs; i++)
        for (const char *const *k = memory_keys; *k; k++) {
            const char *v = hwloc_obj_get_info_by_name(s->osdevs[i], *k);
            uint64_t bytes = v ? parse_kib(v) : 0;
            if (bytes)
                return bytes;
        }
    return 0;
}

/* The NUMA domain local to the GPU, -1 when its locality spans several. */
static int gpu_numa(hwloc_topology_t topo, hwloc_obj_t pci)
{
    hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(topo, pci);
    if (!anc || !anc->nodeset || hwloc_bitmap_weight(anc->nodeset) != 1)
        return -1;
    return hwloc_bitmap_first(anc->nodeset);
}

static int dup_opt(char **dst, const char *src)
{
    if (!src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -ENOMEM;
}

static int gpu_fill(hwloc_topology_t topo, const struct gpu_scan *s, worker_gpu_t *g)
{
    const struct hwloc_pcidev_attr_s *p = &s->pci->attr->pcidev;
    const char *model = scan_info(s, model_keys);

    if (!model) /* pci.ids name, when hwloc was built with libpciaccess */
        model = hwloc_obj_get_info_by_name(s->pci, "PCIDevice");
    g->vendor = vendor_of(p->vendor_id);
    g->pci_vendor_id = p->vendor_id;
    g->pci_device_id = p->device_id;
    snprintf(g->pci_bus_id, sizeof(g->pci_bus_id), "%04x:%02x:%02x.%01x", (unsigned)p->domain,
             (unsigned)p->bus, (unsigned)p->dev, (unsigned)p->func);
    g->numa = gpu_numa(topo, s->pci);
    g->has_driver = s->nosdevs > 0;
    g->memory_bytes = scan_memory(s);
    if (dup_opt(&g->model, model) < 0 || dup_opt(&g->uuid, scan_info(s, uuid_keys)) < 0 ||
        dup_opt(&g->driver_version, scan_info(s, driver_version_keys)) < 0 ||
        dup_opt(&g->cuda_version, scan_info(s, cuda_version_keys)) < 0)
        return -ENOMEM;
    return 0;
}

static char *read_line(const char *path)
{
    char buf[128];
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *line = fgets(buf, sizeof(buf), f);
    fclose(f);
    if (!line)
        return NULL;
    buf[strcspn(buf, "\n")] = '\0';
    return buf[0] ? strdup(buf) : NULL;
}

/* hwloc shows no OS device for a driver it has no backend for (NVIDIA's,
 * when built without CUDA/NVML support): on the live machine, ask sysfs. */
static int gpu_sysfs_driver(worker_gpu_t *g)
{
    char path[320], link[256];
    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", g->pci_bus_id);
    ssize_t n = readlink(path, link, sizeof(link) - 1);
    if (n <= 0)
        return 0;
    link[n] = '\0';
    const char *name = strrchr(link, '/');
    name = name ? name + 1 : link;
    if (!(g->driver = strdup(name)))
        return -ENOMEM;
    /* Bound to a pass-through stub: not usable on this host. */
    if (strcmp(name, "vfio-pci") != 0 && strcmp(name, "pci-stub") != 0)
        g->has_driver = true;
    if (!g->driver_version) {
        snprintf(path, sizeof(path), "/sys/module/%s/version", name);
        g->driver_version = read_line(path);
    }
    return 0;
}

static int cmp_bus_id(const void *a, const void *b)
{
    const struct hwloc_pcidev_attr_s *x = &((const struct gpu_scan *)a)->pci->attr->pcidev;
    const struct hwloc_pcidev_attr_s *y = &((const struct gpu_scan *)b)->pci->attr->pcidev;
    unsigned long kx = ((unsigned long)x->domain << 24) | ((unsigned long)x->bus << 16) |
                       ((unsigned long)x->dev << 8) | x->func;
    unsigned long ky = ((unsigned long)y->domain << 24) | ((unsigned long)y->bus << 16) |
                       ((unsigned long)y->dev << 8) | y->func;
    return (kx > ky) - (kx < ky);
}

/* All GPUs as scans, sorted by PCI bus id. */
static int collect(hwloc_topology_t topo, struct gpu_scan **scansp, size_t *np)
{
    struct gpu_scan *scans = NULL, s;
    size_t n = 0, cap = 0;

    for (hwloc_obj_t pci = hwloc_get_next_pcidev(topo, NULL); pci;
         pci = hwloc_get_next_pcidev(topo, pci)) {
        gpu_scan(pci, &s);
        if (!s.backend && !gpu_class(&pci->attr->pcidev))
            continue;
        if (CAIRN_GROW(scans, cap, n + 1) < 0) {
            free(scans);
            return -ENOMEM;
        }
        s.locality = locality_of(pci);
        scans[n++] = s;
    }
    adopt_orphans(topo, scans, n);
    if (n > 1)
        qsort(scans, n, sizeof(*scans), cmp_bus_id);
    *scansp = scans;
    *np = n;
    return 0;
}

int discover_gpus(hwloc_topology_t topo, worker_resources_t *r, bool live, cairn_error_t *err)
{
    struct gpu_scan *scans;
    size_t n;
    unsigned ngroups = 0;

    if (collect(topo, &scans, &n) < 0)
        return errcode(err, -ENOMEM, "out of memory");
    r->gpus = calloc(n ? n : 1, sizeof(*r->gpus));
    if (!r->gpus)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        worker_gpu_t *g = &r->gpus[r->ngpus++];
        g->index = (unsigned)i;
        if (gpu_fill(topo, &scans[i], g) < 0 || (live && gpu_sysfs_driver(g) < 0))
            goto nomem;
        /* Groups are numbered in order of first appearance in bus id order. */
        size_t first = 0;
        while (scans[first].locality != scans[i].locality)
            first++;
        g->locality_group = first == i ? ngroups++ : r->gpus[first].locality_group;
    }
    free(scans);
    return 0;
nomem:
    free(scans);
    return errcode(err, -ENOMEM, "out of memory");
}
