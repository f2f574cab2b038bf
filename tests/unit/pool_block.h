/* Holding libuv's thread pool in a test: blockers occupy its threads until
 * released, so work queued after them does not run, as if its thread were
 * stuck in a read that never returns. The pool is the process's: call
 * pool_block() before anything else starts it (criterion runs each test in
 * a process of its own), and it has one thread. */
#ifndef CAIRN_TEST_POOL_BLOCK_H
#define CAIRN_TEST_POOL_BLOCK_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#define POOL_BLOCKERS 4 /* a pool started already has 4 threads */

typedef struct pool_block {
    int fds[2];
    uv_work_t req[POOL_BLOCKERS];
    int done;
} pool_block_t;

static void pool_block_work_cb(uv_work_t *req)
{
    pool_block_t *b = req->data;
    char c;
    while (read(b->fds[0], &c, 1) != 0) /* until the write end is closed */
        ;
}

static void pool_block_after_cb(uv_work_t *req, int status)
{
    (void)status;
    ((pool_block_t *)req->data)->done++;
}

/* Occupy the pool's threads (work queued on loop). */
static inline void pool_block(uv_loop_t *loop, pool_block_t *b)
{
    setenv("UV_THREADPOOL_SIZE", "1", 1); /* read when the pool starts */
    cr_assert_eq(pipe(b->fds), 0);
    b->done = 0;
    for (int i = 0; i < POOL_BLOCKERS; i++) {
        b->req[i].data = b;
        cr_assert_eq(uv_queue_work(loop, &b->req[i], pool_block_work_cb, pool_block_after_cb), 0);
    }
}

/* Release the blockers and run loop until they are through (deadline_ms). */
static inline void pool_unblock(uv_loop_t *loop, pool_block_t *b, uint64_t deadline_ms)
{
    close(b->fds[1]);
    uint64_t deadline = uv_hrtime() + deadline_ms * 1000000;
    while (b->done < POOL_BLOCKERS && uv_hrtime() < deadline)
        uv_run(loop, UV_RUN_ONCE);
    cr_assert_eq(b->done, POOL_BLOCKERS, "the pool's blockers did not finish");
    close(b->fds[0]);
}

#endif
