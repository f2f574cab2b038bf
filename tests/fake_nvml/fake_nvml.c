/* A fake NVML for the tests: the few entry points cairn-worker loads
 * (worker/nvml.c), answering from a JSON file named in
 * $CAIRN_FAKE_NVML_CONFIG, so GPU code paths (MIG, utilisation) run on a
 * machine without a GPU. Load it with `cairn-worker --nvml-lib PATH`.
 *
 * The configuration (every key but "devices" optional):
 *   {"driver_version": "550.54.15", "cuda_version": 12040,
 *    "devices": [{"pci_bus_id": "0000:18:00.0", "name": "NVIDIA H100 80GB HBM3",
 *                 "uuid": "GPU-...", "memory_total": 85520809984,
 *                 "memory_used": 1048576, "utilization": 37,
 *                 "mig": [{"profile": "1g.10gb", "uuid": "MIG-...",
 *                          "memory": 10200547328}, ...]}]}
 * A device with a "mig" list is in MIG mode with those instances; a MIG
 * instance's name is "<device name> MIG <profile>", as NVML names them.
 * Bus ids match whatever the domain's width ("00000000:18:00.0" too).
 * "event_trigger": PATH makes nvmlEventSetWait_v2 return an event each time
 * a file appears at PATH (or is written again): its text "BUS_ID XID"
 * ("0000:38:00.0 79") is an Xid critical error, "BUS_ID pages" makes the
 * device's retired pages pending (polled by the worker, not an event),
 * "BUS_ID dbe" a double-bit
 * ECC error, on that device if the set registered it for that kind.
 * A bad file makes nvmlInit_v2 fail (NVML_ERROR_UNKNOWN) with the reason
 * on stderr. Not thread-safe beyond what the worker does (one thread). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_TIMEOUT 10
#define NVML_ERROR_UNKNOWN 999

#define EV_DBE 0x2ULL /* nvmlEventTypeDoubleBitEccError */
#define EV_XID 0x8ULL /* nvmlEventTypeXidCriticalError */

#define FAKE_MAX_DEVICES 64
#define FAKE_MAX_MIG 7

typedef struct fake_dev fake_dev_t;
struct fake_dev {
    unsigned domain, bus, dev, fn;
    char name[192], uuid[96];
    unsigned long long mem_total, mem_used;
    unsigned util;
    fake_dev_t *parent; /* a MIG instance's GPU; NULL for a GPU */
    unsigned nmig;
    fake_dev_t *mig;   /* FAKE_MAX_MIG of them, the first nmig used */
    int pages_pending; /* set by a trigger "BUS_ID pages" */
};

typedef struct {
    unsigned long long total, free, used;
} fake_memory_t;

typedef struct {
    unsigned gpu, memory;
} fake_util_t;

typedef struct {
    fake_dev_t *device;
    unsigned long long type, data;
    unsigned int gpu_instance, compute_instance;
} fake_event_t;

/* An event set: what each device registered. */
typedef struct {
    unsigned long long mask[FAKE_MAX_DEVICES];
} fake_set_t;

/* NVML's entry points, with NVML's ABI (handles are opaque pointers). */
int nvmlInit_v2(void);
int nvmlShutdown(void);
int nvmlDeviceGetCount_v2(unsigned int *count);
int nvmlDeviceGetHandleByPciBusId_v2(const char *bus_id, fake_dev_t **out);
int nvmlDeviceGetUtilizationRates(fake_dev_t *dev, fake_util_t *u);
int nvmlDeviceGetMemoryInfo(fake_dev_t *dev, fake_memory_t *m);
int nvmlDeviceGetUUID(fake_dev_t *dev, char *buf, unsigned int len);
int nvmlDeviceGetName(fake_dev_t *dev, char *buf, unsigned int len);
int nvmlSystemGetDriverVersion(char *buf, unsigned int len);
int nvmlSystemGetCudaDriverVersion_v2(int *v);
int nvmlDeviceGetMigMode(fake_dev_t *dev, unsigned int *current, unsigned int *pending);
int nvmlDeviceGetRetiredPagesPendingStatus(fake_dev_t *dev, int *pending);
int nvmlDeviceGetMaxMigDeviceCount(fake_dev_t *dev, unsigned int *count);
int nvmlDeviceGetMigDeviceHandleByIndex(fake_dev_t *dev, unsigned int index, fake_dev_t **out);
int nvmlEventSetCreate(fake_set_t **set);
int nvmlDeviceGetSupportedEventTypes(fake_dev_t *dev, unsigned long long *types);
int nvmlDeviceRegisterEvents(fake_dev_t *dev, unsigned long long types, fake_set_t *set);
int nvmlEventSetWait_v2(fake_set_t *set, fake_event_t *data, unsigned int timeout_ms);
int nvmlEventSetFree(fake_set_t *set);

static fake_dev_t devs[FAKE_MAX_DEVICES];
static fake_dev_t migs[FAKE_MAX_DEVICES][FAKE_MAX_MIG];
static unsigned ndevs;
static char driver_version[80] = "550.54.15";
static int cuda_version = 12040;
static int initialised;
static char trigger[4096];
static struct stat fired; /* the trigger file last turned into an event */

static int parse_bus_id(const char *s, unsigned *d, unsigned *b, unsigned *dv, unsigned *f)
{
    char tail;
    return sscanf(s, "%x:%x:%x.%x%c", d, b, dv, f, &tail) == 4 ? 0 : -1;
}

static void copy_str(char *dst, size_t len, json_t *v)
{
    if (json_is_string(v))
        snprintf(dst, len, "%s", json_string_value(v));
}

static int load_mig(fake_dev_t *d, unsigned i, json_t *list)
{
    size_t k;
    json_t *m;
    if (!json_is_array(list) || json_array_size(list) > FAKE_MAX_MIG) {
        fprintf(stderr, "fake NVML: devices[%u].mig is not a list of at most %d\n", i,
                FAKE_MAX_MIG);
        return -1;
    }
    d->mig = migs[i];
    json_array_foreach(list, k, m)
    {
        fake_dev_t *g = &d->mig[k];
        json_t *prof = json_object_get(m, "profile");
        if (!json_is_string(prof)) {
            fprintf(stderr, "fake NVML: devices[%u].mig[%zu] has no profile\n", i, k);
            return -1;
        }
        memset(g, 0, sizeof(*g));
        g->parent = d;
        snprintf(g->name, sizeof(g->name), "%.96s MIG %.64s", d->name, json_string_value(prof));
        copy_str(g->uuid, sizeof(g->uuid), json_object_get(m, "uuid"));
        g->mem_total = (unsigned long long)json_integer_value(json_object_get(m, "memory"));
        d->nmig++;
    }
    return 0;
}

static int load_config(void)
{
    const char *path = getenv("CAIRN_FAKE_NVML_CONFIG");
    json_error_t jerr;
    json_t *root, *list, *d;
    size_t i;

    if (!path) {
        fprintf(stderr, "fake NVML: $CAIRN_FAKE_NVML_CONFIG is not set\n");
        return -1;
    }
    if (!(root = json_load_file(path, 0, &jerr))) {
        fprintf(stderr, "fake NVML: %s:%d: %s\n", path, jerr.line, jerr.text);
        return -1;
    }
    copy_str(driver_version, sizeof(driver_version), json_object_get(root, "driver_version"));
    copy_str(trigger, sizeof(trigger), json_object_get(root, "event_trigger"));
    if (json_is_integer(json_object_get(root, "cuda_version")))
        cuda_version = (int)json_integer_value(json_object_get(root, "cuda_version"));
    list = json_object_get(root, "devices");
    if (!json_is_array(list) || json_array_size(list) > FAKE_MAX_DEVICES) {
        fprintf(stderr, "fake NVML: %s: \"devices\" is not a list of at most %d\n", path,
                FAKE_MAX_DEVICES);
        goto error;
    }
    ndevs = 0;
    json_array_foreach(list, i, d)
    {
        fake_dev_t *g = &devs[ndevs];
        json_t *bus = json_object_get(d, "pci_bus_id"), *mig = json_object_get(d, "mig");
        memset(g, 0, sizeof(*g));
        if (!json_is_string(bus) ||
            parse_bus_id(json_string_value(bus), &g->domain, &g->bus, &g->dev, &g->fn) < 0) {
            fprintf(stderr, "fake NVML: %s: devices[%zu] has no valid pci_bus_id\n", path, i);
            goto error;
        }
        snprintf(g->name, sizeof(g->name), "NVIDIA H100 80GB HBM3");
        copy_str(g->name, 96, json_object_get(d, "name"));
        copy_str(g->uuid, sizeof(g->uuid), json_object_get(d, "uuid"));
        g->mem_total = (unsigned long long)json_integer_value(json_object_get(d, "memory_total"));
        g->mem_used = (unsigned long long)json_integer_value(json_object_get(d, "memory_used"));
        g->util = (unsigned)json_integer_value(json_object_get(d, "utilization"));
        if (mig && load_mig(g, (unsigned)i, mig) < 0)
            goto error;
        ndevs++;
    }
    json_decref(root);
    return 0;
error:
    json_decref(root);
    return -1;
}

int nvmlInit_v2(void)
{
    if (load_config() < 0)
        return NVML_ERROR_UNKNOWN;
    initialised = 1;
    return NVML_SUCCESS;
}

int nvmlShutdown(void)
{
    initialised = 0;
    return NVML_SUCCESS;
}

int nvmlDeviceGetCount_v2(unsigned int *count)
{
    if (!initialised)
        return NVML_ERROR_UNINITIALIZED;
    *count = ndevs;
    return NVML_SUCCESS;
}

int nvmlDeviceGetHandleByPciBusId_v2(const char *bus_id, fake_dev_t **out)
{
    unsigned d, b, dv, f;
    if (!initialised)
        return NVML_ERROR_UNINITIALIZED;
    if (!bus_id || parse_bus_id(bus_id, &d, &b, &dv, &f) < 0)
        return NVML_ERROR_INVALID_ARGUMENT;
    for (unsigned i = 0; i < ndevs; i++)
        if (devs[i].domain == d && devs[i].bus == b && devs[i].dev == dv && devs[i].fn == f) {
            *out = &devs[i];
            return NVML_SUCCESS;
        }
    return NVML_ERROR_NOT_FOUND;
}

int nvmlDeviceGetUtilizationRates(fake_dev_t *dev, fake_util_t *u)
{
    if (!dev || dev->parent)
        return NVML_ERROR_NOT_SUPPORTED; /* NVML has no per-MIG utilisation */
    u->gpu = dev->util;
    u->memory = 0;
    return NVML_SUCCESS;
}

int nvmlDeviceGetMemoryInfo(fake_dev_t *dev, fake_memory_t *m)
{
    if (!dev)
        return NVML_ERROR_INVALID_ARGUMENT;
    m->total = dev->mem_total;
    m->used = dev->mem_used < dev->mem_total ? dev->mem_used : dev->mem_total;
    m->free = m->total - m->used;
    return NVML_SUCCESS;
}

static int copy_out(const char *s, char *buf, unsigned int len)
{
    if (!buf || strlen(s) + 1 > len)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(buf, s, strlen(s) + 1);
    return NVML_SUCCESS;
}

int nvmlDeviceGetUUID(fake_dev_t *dev, char *buf, unsigned int len)
{
    return dev ? copy_out(dev->uuid, buf, len) : NVML_ERROR_INVALID_ARGUMENT;
}

int nvmlDeviceGetName(fake_dev_t *dev, char *buf, unsigned int len)
{
    return dev ? copy_out(dev->name, buf, len) : NVML_ERROR_INVALID_ARGUMENT;
}

int nvmlSystemGetDriverVersion(char *buf, unsigned int len)
{
    return copy_out(driver_version, buf, len);
}

int nvmlSystemGetCudaDriverVersion_v2(int *v)
{
    *v = cuda_version;
    return NVML_SUCCESS;
}

int nvmlDeviceGetMigMode(fake_dev_t *dev, unsigned int *current, unsigned int *pending)
{
    if (!dev || dev->parent)
        return NVML_ERROR_INVALID_ARGUMENT;
    *current = *pending = dev->mig ? 1 : 0; /* NVML_DEVICE_MIG_ENABLE */
    return NVML_SUCCESS;
}

int nvmlDeviceGetMaxMigDeviceCount(fake_dev_t *dev, unsigned int *count)
{
    if (!dev || dev->parent)
        return NVML_ERROR_INVALID_ARGUMENT;
    *count = dev->mig ? FAKE_MAX_MIG : 0;
    return NVML_SUCCESS;
}

/* As NVML: indexes 0..max-1, NOT_FOUND for a slot with no instance. */
int nvmlDeviceGetMigDeviceHandleByIndex(fake_dev_t *dev, unsigned int index, fake_dev_t **out)
{
    if (!dev || dev->parent || !dev->mig || index >= FAKE_MAX_MIG)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (index >= dev->nmig)
        return NVML_ERROR_NOT_FOUND;
    *out = &dev->mig[index];
    return NVML_SUCCESS;
}

int nvmlEventSetCreate(fake_set_t **set)
{
    if (!initialised)
        return NVML_ERROR_UNINITIALIZED;
    *set = calloc(1, sizeof(**set));
    return *set ? NVML_SUCCESS : NVML_ERROR_UNKNOWN;
}

int nvmlDeviceGetSupportedEventTypes(fake_dev_t *dev, unsigned long long *types)
{
    if (!dev || dev->parent)
        return NVML_ERROR_INVALID_ARGUMENT;
    *types = EV_DBE | EV_XID | 0x4ULL; /* and PState, which Cairn leaves out */
    return NVML_SUCCESS;
}

int nvmlDeviceRegisterEvents(fake_dev_t *dev, unsigned long long types, fake_set_t *set)
{
    if (!dev || dev->parent || !set || (types & ~(EV_DBE | EV_XID | 0x4ULL)))
        return NVML_ERROR_INVALID_ARGUMENT;
    set->mask[dev - devs] |= types;
    return NVML_SUCCESS;
}

/* An event from the trigger file, if it is new; 1 when *e is set. */
static int trigger_event(const fake_set_t *set, fake_event_t *e)
{
    struct stat st;
    char text[128], bus[64], what[32];
    unsigned d, b, dv, f;
    if (!trigger[0] || stat(trigger, &st) < 0)
        return 0;
    if (st.st_ino == fired.st_ino && st.st_size == fired.st_size &&
        st.st_mtim.tv_sec == fired.st_mtim.tv_sec && st.st_mtim.tv_nsec == fired.st_mtim.tv_nsec)
        return 0;
    FILE *fp = fopen(trigger, "r");
    if (!fp)
        return 0;
    size_t n = fread(text, 1, sizeof(text) - 1, fp);
    fclose(fp);
    text[n] = '\0';
    if (sscanf(text, "%63s %31s", bus, what) != 2)
        return 0; /* being written: the next look sees it whole */
    fired = st;
    if (parse_bus_id(bus, &d, &b, &dv, &f) < 0)
        return 0;
    for (unsigned i = 0; i < ndevs; i++) {
        if (devs[i].domain != d || devs[i].bus != b || devs[i].dev != dv || devs[i].fn != f)
            continue;
        memset(e, 0, sizeof(*e));
        e->device = &devs[i];
        if (strcmp(what, "pages") == 0) { /* no event: a state that is polled */
            devs[i].pages_pending = 1;
            return 0;
        }
        if (strcmp(what, "dbe") == 0) {
            e->type = EV_DBE;
        } else {
            e->type = EV_XID;
            e->data = strtoull(what, NULL, 10);
        }
        e->gpu_instance = e->compute_instance = 0xFFFFFFFFu;
        return (set->mask[i] & e->type) ? 1 : 0;
    }
    return 0;
}

int nvmlEventSetWait_v2(fake_set_t *set, fake_event_t *data, unsigned int timeout_ms)
{
    struct timespec tick = {0, 10 * 1000 * 1000};
    if (!set || !data)
        return NVML_ERROR_INVALID_ARGUMENT;
    for (unsigned waited = 0;; waited += 10) {
        if (trigger_event(set, data))
            return NVML_SUCCESS;
        if (waited >= timeout_ms)
            return NVML_ERROR_TIMEOUT;
        nanosleep(&tick, NULL); /* NVML blocks in the driver; we poll the file */
    }
}

int nvmlEventSetFree(fake_set_t *set)
{
    free(set);
    return NVML_SUCCESS;
}

int nvmlDeviceGetRetiredPagesPendingStatus(fake_dev_t *dev, int *pending)
{
    if (!dev || !pending)
        return NVML_ERROR_INVALID_ARGUMENT;
    *pending = dev->pages_pending;
    return NVML_SUCCESS;
}
