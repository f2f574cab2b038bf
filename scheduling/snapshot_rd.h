/* Reading a snapshot (snapshot_load.c): bounds-checked little-endian
 * fields; the first problem is kept and every later read gives 0. */
#ifndef CAIRN_SCHED_SNAPSHOT_RD_H
#define CAIRN_SCHED_SNAPSHOT_RD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "scheduling/sched_private.h"

typedef struct rd {
    const uint8_t *p;
    size_t len, off;
    const char *bad; /* the first problem, NULL while none */
    size_t bad_at;
    uint32_t version; /* of the format: 1 has no accounts (all is "default") */
} rd_t;

static inline bool fail(rd_t *r, const char *why)
{
    if (!r->bad) {
        r->bad = why;
        r->bad_at = r->off;
    }
    return false;
}

static inline uint64_t get(rd_t *r, int bytes)
{
    if (r->bad)
        return 0;
    if (r->len - r->off < (size_t)bytes) {
        fail(r, "it ends early");
        r->off = r->len;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[r->off + (size_t)i] << (8 * i);
    r->off += (size_t)bytes;
    return v;
}
static inline uint32_t g8(rd_t *r)
{
    return (uint32_t)get(r, 1);
}
static inline uint32_t g16(rd_t *r)
{
    return (uint32_t)get(r, 2);
}
static inline uint32_t g32(rd_t *r)
{
    return (uint32_t)get(r, 4);
}
static inline uint64_t g64(rd_t *r)
{
    return get(r, 8);
}
static inline int64_t gi64(rd_t *r)
{
    return (int64_t)get(r, 8);
}

/* A count of items of at least min bytes each: no more than the bytes
 * left could hold (so a corrupt count allocates nothing large). */
static inline size_t gcount(rd_t *r, int bytes, size_t min, size_t max)
{
    uint64_t n = get(r, bytes);
    if (r->bad)
        return 0;
    if (n > max || n > (r->len - r->off) / (min ? min : 1)) {
        fail(r, "a count is out of range");
        return 0;
    }
    return (size_t)n;
}

/* A string, pointing into the snapshot (written with its NUL); NULL for
 * none. A string that must be there and is not fails with why. */
static inline const char *gstr(rd_t *r, const char *why_null)
{
    uint32_t n = g32(r);
    if (r->bad)
        return NULL;
    if (n == 0) {
        if (why_null)
            fail(r, why_null);
        return NULL;
    }
    if (r->len - r->off < n) {
        fail(r, "a string runs past the end");
        return NULL;
    }
    const char *s = (const char *)r->p + r->off;
    if (s[n - 1] != '\0' || strlen(s) != n - 1) {
        fail(r, "a string is not terminated where its length says");
        return NULL;
    }
    r->off += n;
    return s;
}

/* snapshot_accounts.c: the accounts section (replacing s's accounts);
 * false with r->bad set on a problem. */
bool snap_load_accounts(rd_t *r, sched_t *s);
/* The preemptions in progress (snapshot_holds.c); r->bad says if it failed. */
void snap_load_holds(rd_t *r, sched_t *s);

#endif
