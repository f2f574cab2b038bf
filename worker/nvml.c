/* NVML through dlopen(); see nvml.h. Only the few types and entry points
 * used here are declared, with NVML's ABI (nvml.h of the CUDA toolkit). */
#include "worker/nvml.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NVML_DEFAULT_LIB "libnvidia-ml.so.1"
#define NVML_SUCCESS 0
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_TIMEOUT 10
#define NVML_DEVICE_MIG_ENABLE 1
#define NVML_EVENT_DBE 0x2ULL /* nvmlEventTypeDoubleBitEccError */
#define NVML_EVENT_XID 0x8ULL /* nvmlEventTypeXidCriticalError */

typedef int nvml_return_t;
typedef struct nvml_device_opaque *nvml_device_t;

typedef struct nvml_event_set_opaque *nvml_event_set_t;

typedef struct nvml_event_data {
    nvml_device_t device;
    unsigned long long type;
    unsigned long long data;
    unsigned int gpu_instance, compute_instance;
} nvml_event_data_t;

typedef struct nvml_utilization {
    unsigned int gpu;
    unsigned int memory;
} nvml_utilization_t;

typedef struct nvml_memory {
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;
} nvml_memory_t;

struct worker_nvml {
    void *dl;
    unsigned count;
    nvml_return_t (*init)(void);
    nvml_return_t (*shutdown)(void);
    nvml_return_t (*get_count)(unsigned int *count);
    nvml_return_t (*by_bus_id)(const char *bus_id, nvml_device_t *dev);
    nvml_return_t (*utilization)(nvml_device_t dev, nvml_utilization_t *u);
    nvml_return_t (*memory)(nvml_device_t dev, nvml_memory_t *m);
    nvml_return_t (*uuid)(nvml_device_t dev, char *buf, unsigned int len); /* optional */
    nvml_return_t (*name)(nvml_device_t dev, char *buf, unsigned int len); /* optional */
    nvml_return_t (*driver_version)(char *buf, unsigned int len);          /* optional */
    nvml_return_t (*cuda_version)(int *version);                           /* optional */
    /* MIG (optional: NVML before CUDA 11 has none) */
    nvml_return_t (*mig_mode)(nvml_device_t dev, unsigned int *current, unsigned int *pending);
    nvml_return_t (*mig_max)(nvml_device_t dev, unsigned int *count);
    nvml_return_t (*mig_by_index)(nvml_device_t dev, unsigned int i, nvml_device_t *mig);
    /* events (optional) */
    nvml_return_t (*set_create)(nvml_event_set_t *set);
    nvml_return_t (*supported)(nvml_device_t dev, unsigned long long *types);
    nvml_return_t (*reg_events)(nvml_device_t dev, unsigned long long types, nvml_event_set_t set);
    nvml_return_t (*set_wait)(nvml_event_set_t set, nvml_event_data_t *data, unsigned int ms);
    nvml_return_t (*set_free)(nvml_event_set_t set);
    /* pending memory repairs (optional; polled, not events) */
    nvml_return_t (*retired_pending)(nvml_device_t dev, int *is_pending);
    nvml_return_t (*remapped_rows)(nvml_device_t dev, unsigned int *corr, unsigned int *unc,
                                   unsigned int *pending, unsigned int *failed);
};

struct worker_nvml_events {
    worker_nvml_t *n;
    nvml_event_set_t set;
    size_t count;
    nvml_device_t *devs; /* by position in the caller's bus_ids; NULL: not watched */
};

/* Store dlsym()'s void * into a function pointer the way POSIX's dlsym()
 * page shows (ISO C has no conversion between the two). */
static int load_sym(void *dl, const char *name, void *fnp, cairn_error_t *err)
{
    void *p = dlsym(dl, name);
    if (!p)
        return errcode(err, -ENOENT, "NVML has no symbol %s", name);
    *(void **)fnp = p;
    return 0;
}

int worker_nvml_create(const char *lib, worker_nvml_t **out, cairn_error_t *err)
{
    const char *path = lib ? lib : NVML_DEFAULT_LIB;
    worker_nvml_t *n = calloc(1, sizeof(*n));
    int rc;

    if (!n)
        return errcode(err, -ENOMEM, "out of memory");
    n->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!n->dl) {
        free(n);
        return errcode(err, -ENOENT, "cannot load %s", path);
    }
    if ((rc = load_sym(n->dl, "nvmlInit_v2", &n->init, err)) < 0 ||
        (rc = load_sym(n->dl, "nvmlShutdown", &n->shutdown, err)) < 0 ||
        (rc = load_sym(n->dl, "nvmlDeviceGetCount_v2", &n->get_count, err)) < 0 ||
        (rc = load_sym(n->dl, "nvmlDeviceGetHandleByPciBusId_v2", &n->by_bus_id, err)) < 0 ||
        (rc = load_sym(n->dl, "nvmlDeviceGetUtilizationRates", &n->utilization, err)) < 0 ||
        (rc = load_sym(n->dl, "nvmlDeviceGetMemoryInfo", &n->memory, err)) < 0)
        goto error;
    {
        cairn_error_t ignore;
        if (load_sym(n->dl, "nvmlDeviceGetUUID", &n->uuid, &ignore) < 0)
            n->uuid = NULL; /* UUIDs then come from hwloc only */
        if (load_sym(n->dl, "nvmlDeviceGetName", &n->name, &ignore) < 0)
            n->name = NULL;
        if (load_sym(n->dl, "nvmlSystemGetDriverVersion", &n->driver_version, &ignore) < 0)
            n->driver_version = NULL;
        if (load_sym(n->dl, "nvmlSystemGetCudaDriverVersion_v2", &n->cuda_version, &ignore) < 0 &&
            load_sym(n->dl, "nvmlSystemGetCudaDriverVersion", &n->cuda_version, &ignore) < 0)
            n->cuda_version = NULL;
        if (load_sym(n->dl, "nvmlDeviceGetMigMode", &n->mig_mode, &ignore) < 0 ||
            load_sym(n->dl, "nvmlDeviceGetMaxMigDeviceCount", &n->mig_max, &ignore) < 0 ||
            load_sym(n->dl, "nvmlDeviceGetMigDeviceHandleByIndex", &n->mig_by_index, &ignore) < 0)
            n->mig_mode = NULL;
        if (load_sym(n->dl, "nvmlDeviceGetRetiredPagesPendingStatus", &n->retired_pending,
                     &ignore) < 0)
            n->retired_pending = NULL;
        if (load_sym(n->dl, "nvmlDeviceGetRemappedRows", &n->remapped_rows, &ignore) < 0)
            n->remapped_rows = NULL;
        if (load_sym(n->dl, "nvmlEventSetCreate", &n->set_create, &ignore) < 0 ||
            load_sym(n->dl, "nvmlDeviceGetSupportedEventTypes", &n->supported, &ignore) < 0 ||
            load_sym(n->dl, "nvmlDeviceRegisterEvents", &n->reg_events, &ignore) < 0 ||
            load_sym(n->dl, "nvmlEventSetWait_v2", &n->set_wait, &ignore) < 0 ||
            load_sym(n->dl, "nvmlEventSetFree", &n->set_free, &ignore) < 0)
            n->set_create = NULL;
    }
    nvml_return_t nrc = n->init();
    if (nrc != NVML_SUCCESS) {
        rc = errcode(err, -EIO, "nvmlInit failed (NVML error %d)", nrc);
        goto error;
    }
    if (n->get_count(&n->count) != NVML_SUCCESS)
        n->count = 0;
    *out = n;
    return 0;
error:
    dlclose(n->dl);
    free(n);
    return rc;
}

unsigned worker_nvml_device_count(const worker_nvml_t *n)
{
    return n->count;
}

int worker_nvml_sample(worker_nvml_t *n, const char *pci_bus_id, uint32_t *util_percent,
                       uint64_t *memory_used_bytes)
{
    nvml_device_t dev;
    nvml_utilization_t u;
    nvml_memory_t m;
    nvml_return_t rc = n->by_bus_id(pci_bus_id, &dev);

    if (rc == NVML_ERROR_NOT_FOUND || rc == NVML_ERROR_INVALID_ARGUMENT)
        return -ENODEV;
    if (rc != NVML_SUCCESS)
        return -EIO;
    if (n->utilization(dev, &u) != NVML_SUCCESS || n->memory(dev, &m) != NVML_SUCCESS)
        return -EIO;
    *util_percent = u.gpu;
    *memory_used_bytes = m.used;
    return 0;
}

void worker_nvml_destroy(worker_nvml_t *n)
{
    if (!n)
        return;
    n->shutdown();
    dlclose(n->dl);
    free(n);
}

int worker_nvml_uuid(worker_nvml_t *n, const char *pci_bus_id, char *buf, size_t len)
{
    nvml_device_t dev;
    if (!n->uuid)
        return -ENOSYS;
    if (n->by_bus_id(pci_bus_id, &dev) != NVML_SUCCESS)
        return -ENODEV;
    if (n->uuid(dev, buf, (unsigned int)len) != NVML_SUCCESS)
        return -EIO;
    return 0;
}

int worker_nvml_name(worker_nvml_t *n, const char *pci_bus_id, char *buf, size_t len)
{
    nvml_device_t dev;
    if (!n->name)
        return -ENOSYS;
    if (n->by_bus_id(pci_bus_id, &dev) != NVML_SUCCESS)
        return -ENODEV;
    if (n->name(dev, buf, (unsigned int)len) != NVML_SUCCESS)
        return -EIO;
    return 0;
}

void worker_nvml_versions(worker_nvml_t *n, char *driver, size_t dlen, char *cuda, size_t clen)
{
    int v = 0;
    if (dlen)
        driver[0] = '\0';
    if (clen)
        cuda[0] = '\0';
    if (n && n->driver_version && dlen &&
        n->driver_version(driver, (unsigned int)dlen) != NVML_SUCCESS)
        driver[0] = '\0';
    /* CUDA's encoding: 1000 * major + 10 * minor (12040 = 12.4) */
    if (n && n->cuda_version && clen && n->cuda_version(&v) == NVML_SUCCESS && v > 0)
        snprintf(cuda, clen, "%d.%d", v / 1000, v % 1000 / 10);
}

/* NVML names a MIG device "<GPU name> MIG <profile>" ("NVIDIA H100 80GB
 * HBM3 MIG 1g.10gb"); the profile is what follows the last " MIG ". */
static void mig_profile(const char *name, char *buf, size_t len)
{
    const char *p = NULL, *q = name;
    while ((q = strstr(q, " MIG ")) != NULL)
        p = q += 5;
    snprintf(buf, len, "%s", p ? p : name);
}

int worker_nvml_mig(worker_nvml_t *n, const char *pci_bus_id, worker_nvml_mig_t *out, bool *enabled)
{
    nvml_device_t dev, mig;
    unsigned int cur = 0, pending = 0, max = 0;
    int found = 0;

    *enabled = false;
    if (!n->mig_mode || !n->uuid || !n->name)
        return 0;
    if (n->by_bus_id(pci_bus_id, &dev) != NVML_SUCCESS)
        return -ENODEV;
    /* a GPU without MIG support answers NOT_SUPPORTED: not in MIG mode */
    if (n->mig_mode(dev, &cur, &pending) != NVML_SUCCESS || cur != NVML_DEVICE_MIG_ENABLE)
        return 0;
    *enabled = true;
    if (n->mig_max(dev, &max) != NVML_SUCCESS)
        return -EIO;
    for (unsigned int i = 0; i < max && found < WORKER_NVML_MIG_MAX; i++) {
        worker_nvml_mig_t *m = &out[found];
        char name[96];
        nvml_memory_t mem;
        nvml_return_t rc = n->mig_by_index(dev, i, &mig);
        if (rc == NVML_ERROR_NOT_FOUND)
            continue; /* a slot with no instance */
        if (rc != NVML_SUCCESS || n->uuid(mig, m->uuid, sizeof(m->uuid)) != NVML_SUCCESS ||
            n->name(mig, name, sizeof(name)) != NVML_SUCCESS ||
            n->memory(mig, &mem) != NVML_SUCCESS)
            return -EIO;
        mig_profile(name, m->profile, sizeof(m->profile));
        m->memory_bytes = mem.total;
        found++;
    }
    return found;
}

int worker_nvml_events_open(worker_nvml_t *n, const char *const *bus_ids, size_t count,
                            worker_nvml_events_t **out, cairn_error_t *err)
{
    size_t watched = 0;
    if (!n->set_create)
        return errcode(err, -ENOSYS, "this NVML has no event calls");
    worker_nvml_events_t *ev = calloc(1, sizeof(*ev));
    if (!ev || !(ev->devs = calloc(count ? count : 1, sizeof(*ev->devs)))) {
        free(ev);
        return errcode(err, -ENOMEM, "out of memory");
    }
    ev->n = n;
    ev->count = count;
    nvml_return_t rc = n->set_create(&ev->set);
    if (rc != NVML_SUCCESS) {
        free(ev->devs);
        free(ev);
        return errcode(err, -EIO, "nvmlEventSetCreate failed (NVML error %d)", rc);
    }
    for (size_t i = 0; i < count; i++) {
        nvml_device_t dev;
        unsigned long long types = 0;
        if (n->by_bus_id(bus_ids[i], &dev) != NVML_SUCCESS ||
            n->supported(dev, &types) != NVML_SUCCESS)
            continue;
        types &= NVML_EVENT_XID | NVML_EVENT_DBE;
        if (types && n->reg_events(dev, types, ev->set) == NVML_SUCCESS) {
            ev->devs[i] = dev;
            watched++;
        }
    }
    if (!watched) {
        worker_nvml_events_close(ev);
        return errcode(err, -ENOSYS, "no GPU reports critical events through NVML");
    }
    *out = ev;
    return 0;
}

/* Xids that an application causes (bad memory access, an illegal
 * instruction, a reset it asked for...): the GPU itself is fine. As NVIDIA's
 * k8s-device-plugin and DCGM's health checks skip them. */
static bool xid_is_application(unsigned long long xid)
{
    static const unsigned long long app[] = {13, 31, 43, 45, 68, 109};
    for (size_t i = 0; i < sizeof(app) / sizeof(app[0]); i++)
        if (xid == app[i])
            return true;
    return false;
}

int worker_nvml_events_wait(worker_nvml_events_t *ev, unsigned timeout_ms, size_t *which,
                            char *reason, size_t len)
{
    nvml_event_data_t e;
    memset(&e, 0, sizeof(e));
    nvml_return_t rc = ev->n->set_wait(ev->set, &e, timeout_ms);
    if (rc == NVML_ERROR_TIMEOUT)
        return 0;
    if (rc != NVML_SUCCESS)
        return -EIO;
    size_t i = 0;
    while (i < ev->count && ev->devs[i] != e.device)
        i++;
    if (i == ev->count)
        return 0; /* not one of ours */
    if (e.type == NVML_EVENT_DBE)
        snprintf(reason, len, "double-bit ECC error");
    else if (e.type == NVML_EVENT_XID && !xid_is_application(e.data))
        snprintf(reason, len, "Xid %llu", e.data);
    else
        return 0;
    *which = i;
    return 1;
}

void worker_nvml_events_close(worker_nvml_events_t *ev)
{
    if (!ev)
        return;
    if (ev->set)
        ev->n->set_free(ev->set);
    free(ev->devs);
    free(ev);
}

int worker_nvml_events_pending(worker_nvml_events_t *ev, size_t i, char *reason, size_t len)
{
    if (!ev || i >= ev->count || !ev->devs[i])
        return 0;
    worker_nvml_t *n = ev->n;
    int pending = 0;
    if (n->retired_pending && n->retired_pending(ev->devs[i], &pending) == NVML_SUCCESS &&
        pending) {
        snprintf(reason, len, "retired pages pending");
        return 1;
    }
    unsigned corr = 0, unc = 0, rpending = 0, failed = 0;
    if (n->remapped_rows &&
        n->remapped_rows(ev->devs[i], &corr, &unc, &rpending, &failed) == NVML_SUCCESS &&
        (rpending || failed)) {
        snprintf(reason, len, failed ? "row remapping failed" : "row remapping pending");
        return 1;
    }
    return 0;
}
