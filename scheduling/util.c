/* Small helpers of the scheduling core: stable hashes, id lists (growable
 * arrays and string buffers: common/). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched_private.h"

char *xstrdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Print ids as a compact range list: prefix[0-3,5,7-8]. */
void sb_idset(cairn_buf_t *b, const char *prefix, const uint32_t *ids, uint32_t n)
{
    cairn_buf_printf(b, "%s[", prefix);
    for (uint32_t i = 0; i < n;) {
        uint32_t j = i;
        while (j + 1 < n && ids[j + 1] == ids[j] + 1)
            j++;
        if (i > 0)
            cairn_buf_printf(b, ",");
        if (j > i)
            cairn_buf_printf(b, "%u-%u", ids[i], ids[j]);
        else
            cairn_buf_printf(b, "%u", ids[i]);
        i = j + 1;
    }
    cairn_buf_printf(b, "]");
}

/* FNV-1a 64, continued from h. */
uint64_t hash_str(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    return h;
}

/* SplitMix64 finaliser. */
uint64_t hash_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Binary search of ids sorted by name. */
bool ids_find(const uint32_t *ids, size_t n, const char *name,
              const char *(*name_of)(const void *ctx, uint32_t id), const void *ctx, uint32_t *out)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(name_of(ctx, ids[mid]), name);
        if (c == 0) {
            if (out)
                *out = ids[mid];
            return true;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

void sched_bytes_str(uint64_t n, char *buf, size_t len)
{
    static const char *const bin[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    static const char *const dec[] = {"B", "KB", "MB", "GB", "TB", "PB", "EB"};
    int kb = 0, kd = 0;
    uint64_t wb = n, wd = n;
    while (wb && wb % 1024 == 0 && kb < 6) {
        wb /= 1024;
        kb++;
    }
    while (wd && wd % 1000 == 0 && kd < 6) {
        wd /= 1000;
        kd++;
    }
    /* exact in a unit that keeps the number short: "80 GiB", "80 GB" */
    if (kd > kb && wd < 1000) {
        snprintf(buf, len, "%llu %s", (unsigned long long)wd, dec[kd]);
        return;
    }
    if (wb < 1024) {
        snprintf(buf, len, "%llu %s", (unsigned long long)wb, bin[kb]);
        return;
    }
    int k = 0;
    unsigned __int128 unit = 1;
    while (k < 6 && n / unit >= 1024) {
        unit *= 1024;
        k++;
    }
    unsigned __int128 tenths = ((unsigned __int128)n * 10 + unit / 2) / unit;
    snprintf(buf, len, "%llu.%llu %s", (unsigned long long)(tenths / 10),
             (unsigned long long)(tenths % 10), bin[k]);
}
