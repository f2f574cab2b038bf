/* nng's own threads; see net.h (cairn_nng_close_bounded,
 * cairn_nng_threads_start). */
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "proto/net.h"

struct bounded_close {
    nng_socket s;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bool done, abandoned;
};

static void *close_thread(void *arg)
{
    struct bounded_close *b = arg;
    nng_close(b->s);
    pthread_mutex_lock(&b->lock);
    b->done = true;
    bool abandoned = b->abandoned;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->lock);
    if (abandoned) {
        pthread_mutex_destroy(&b->lock);
        pthread_cond_destroy(&b->cv);
        free(b);
    }
    return NULL;
}

int cairn_nng_close_bounded(nng_socket s, int ms)
{
    struct bounded_close *b = calloc(1, sizeof(*b));
    pthread_t th;
    if (!b) {
        nng_close(s);
        return 0;
    }
    b->s = s;
    pthread_mutex_init(&b->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&th, NULL, close_thread, b) != 0) {
        nng_close(s);
        pthread_mutex_destroy(&b->lock);
        pthread_cond_destroy(&b->cv);
        free(b);
        return 0;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&b->lock);
    while (!b->done && pthread_cond_timedwait(&b->cv, &b->lock, &until) == 0)
        ;
    bool done = b->done;
    b->abandoned = !done;
    pthread_mutex_unlock(&b->lock);
    if (!done) {
        pthread_detach(th); /* it frees b if nng_close ever returns */
        return -ETIMEDOUT;
    }
    pthread_join(th, NULL);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->cv);
    free(b);
    return 0;
}

int cairn_nng_threads_start(void)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* nng starts all its threads when its first socket opens */
    nng_socket s;
    int rv = nng_pair1_open(&s);
    if (rv == 0)
        nng_close(s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rv;
}
