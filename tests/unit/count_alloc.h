/* A ProtobufCAllocator that counts what goes through it (malloc/free
 * underneath), for tests that measure what a decode allocates. */
#ifndef CAIRN_TEST_COUNT_ALLOC_H
#define CAIRN_TEST_COUNT_ALLOC_H

#include <protobuf-c/protobuf-c.h>
#include <stdlib.h>

typedef struct count_alloc {
    ProtobufCAllocator a;
    size_t allocs, bytes, frees;
} count_alloc_t;

static void *count_alloc_cb(void *data, size_t size)
{
    count_alloc_t *c = data;
    c->allocs++;
    c->bytes += size;
    return malloc(size);
}

static void count_free_cb(void *data, void *p)
{
    count_alloc_t *c = data;
    c->frees++;
    free(p);
}

static inline void count_alloc_init(count_alloc_t *c)
{
    *c = (count_alloc_t){.a = {.alloc = count_alloc_cb, .free = count_free_cb}};
    c->a.allocator_data = c;
}

#endif
