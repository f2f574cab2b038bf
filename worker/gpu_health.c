/* GPU health watcher; see gpu_health.h. */
#include "worker/gpu_health.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/grow.h"

#define HEALTH_WAIT_MS 500
#define HEALTH_POLL_EVERY 4 /* waits between looks at pending memory repairs (2 s) */
#define HEALTH_REASON_MAX 64

typedef struct health_event {
    size_t which; /* position in bus */
    char reason[HEALTH_REASON_MAX];
} health_event_t;

struct worker_gpu_health {
    uv_async_t async;
    worker_gpu_health_f cb;
    void *arg;
    worker_nvml_events_t *ev;
    pthread_t thread;
    atomic_bool stop;
    /* the watched bus ids, and each GPU index's position among them */
    size_t nbus;
    char (*bus)[16];
    const char **bus_ptrs;
    size_t ngpus;
    size_t *gpu_bus;
    /* queued by the thread, under lock */
    pthread_mutex_t lock;
    health_event_t *queue;
    size_t nqueue, queue_cap;
};

/* Queue e and wake the loop. */
static void queue(worker_gpu_health_t *h, const health_event_t *e)
{
    pthread_mutex_lock(&h->lock);
    if (CAIRN_GROW(h->queue, h->queue_cap, h->nqueue + 1) == 0)
        h->queue[h->nqueue++] = *e;
    pthread_mutex_unlock(&h->lock);
    uv_async_send(&h->async);
}

/* Memory repairs pending, each GPU's told once (it stays unhealthy until
 * an operator's `cairn gpu enable`, and a reset clears the state). */
static void poll_pending(worker_gpu_health_t *h, bool *told)
{
    for (size_t i = 0; i < h->nbus; i++) {
        health_event_t e;
        memset(&e, 0, sizeof(e));
        if (told[i] || worker_nvml_events_pending(h->ev, i, e.reason, sizeof(e.reason)) != 1)
            continue;
        told[i] = true;
        e.which = i;
        queue(h, &e);
    }
}

static void *watch(void *arg)
{
    worker_gpu_health_t *h = arg;
    bool *told = calloc(h->nbus ? h->nbus : 1, sizeof(*told));
    for (unsigned tick = 0; !atomic_load(&h->stop); tick++) {
        if (told && tick % HEALTH_POLL_EVERY == 0)
            poll_pending(h, told);
        health_event_t e;
        memset(&e, 0, sizeof(e));
        int rc =
            worker_nvml_events_wait(h->ev, HEALTH_WAIT_MS, &e.which, e.reason, sizeof(e.reason));
        if (rc < 0) {
            /* NVML failing again and again: keep the loop's thread free of
             * it, and do not spin */
            struct timespec pause = {0, HEALTH_WAIT_MS * 1000000L};
            nanosleep(&pause, NULL);
            continue;
        }
        if (rc == 0)
            continue;
        queue(h, &e);
    }
    free(told);
    return NULL;
}

static void drain_cb(uv_async_t *a)
{
    worker_gpu_health_t *h = a->data;
    health_event_t *q;
    size_t n;
    pthread_mutex_lock(&h->lock);
    q = h->queue;
    n = h->nqueue;
    h->queue = NULL;
    h->nqueue = h->queue_cap = 0;
    pthread_mutex_unlock(&h->lock);
    for (size_t k = 0; k < n && !atomic_load(&h->stop); k++)
        for (size_t g = 0; g < h->ngpus; g++)
            if (h->gpu_bus[g] == q[k].which)
                h->cb(h->arg, (unsigned)g, q[k].reason);
    free(q);
}

static void free_health(worker_gpu_health_t *h)
{
    worker_nvml_events_close(h->ev);
    pthread_mutex_destroy(&h->lock);
    free(h->queue);
    free(h->bus);
    free(h->bus_ptrs);
    free(h->gpu_bus);
    free(h);
}

static void closed_cb(uv_handle_t *hd)
{
    free_health(hd->data);
}

/* The distinct bus ids of r's NVIDIA GPUs (MIG instances share their
 * GPU's), and each GPU's position among them (SIZE_MAX: not watched). */
static int list_bus(worker_gpu_health_t *h, const worker_resources_t *r)
{
    size_t n = worker_resources_gpu_count(r);
    h->ngpus = n;
    h->bus = calloc(n ? n : 1, sizeof(*h->bus));
    h->bus_ptrs = calloc(n ? n : 1, sizeof(*h->bus_ptrs));
    h->gpu_bus = calloc(n ? n : 1, sizeof(*h->gpu_bus));
    if (!h->bus || !h->bus_ptrs || !h->gpu_bus)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const worker_gpu_t *g = worker_resources_gpu(r, i);
        h->gpu_bus[i] = SIZE_MAX;
        if (g->vendor != WORKER_GPU_VENDOR_NVIDIA || !g->pci_bus_id[0])
            continue;
        size_t k = 0;
        while (k < h->nbus && strcmp(h->bus[k], g->pci_bus_id) != 0)
            k++;
        if (k == h->nbus) {
            memcpy(h->bus[k], g->pci_bus_id, sizeof(h->bus[k]));
            h->bus_ptrs[k] = h->bus[k];
            h->nbus++;
        }
        h->gpu_bus[i] = k;
    }
    return 0;
}

int worker_gpu_health_start(uv_loop_t *loop, worker_nvml_t *nvml, const worker_resources_t *r,
                            worker_gpu_health_f cb, void *arg, worker_gpu_health_t **out,
                            cairn_error_t *err)
{
    worker_gpu_health_t *h = calloc(1, sizeof(*h));
    int rc;
    if (!h)
        return errcode(err, -ENOMEM, "out of memory");
    pthread_mutex_init(&h->lock, NULL);
    h->cb = cb;
    h->arg = arg;
    if (list_bus(h, r) < 0) {
        free_health(h);
        return errcode(err, -ENOMEM, "out of memory");
    }
    if (!h->nbus) {
        free_health(h);
        return errcode(err, -ENOSYS, "no NVIDIA GPU to watch");
    }
    if ((rc = worker_nvml_events_open(nvml, h->bus_ptrs, h->nbus, &h->ev, err)) < 0) {
        free_health(h);
        return rc;
    }
    if ((rc = uv_async_init(loop, &h->async, drain_cb)) < 0) {
        free_health(h);
        return errcode(err, rc, "uv_async_init: %s", uv_strerror(rc));
    }
    h->async.data = h;
    if ((rc = pthread_create(&h->thread, NULL, watch, h)) != 0) {
        uv_close((uv_handle_t *)&h->async, closed_cb);
        return errcode(err, -rc, "cannot start the GPU health thread: %s", strerror(rc));
    }
    *out = h;
    return 0;
}

void worker_gpu_health_stop(worker_gpu_health_t *h)
{
    if (!h)
        return;
    atomic_store(&h->stop, true);
    pthread_join(h->thread, NULL);
    /* now, not when the handle has closed: the caller unloads NVML next */
    worker_nvml_events_close(h->ev);
    h->ev = NULL;
    uv_close((uv_handle_t *)&h->async, closed_cb);
}
