/* Checkpoint digests and directories; see checkpoint.h. */
#include "scheduler/checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sha256.h"

static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int ckpt_digest(Cairn__OutputHash *const *v, size_t n, char out[CKPT_DIGEST_HEX])
{
    out[0] = '\0';
    char **lines = calloc(n ? n : 1, sizeof(char *));
    if (!lines)
        return -ENOMEM;
    size_t k = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const Cairn__OutputHash *h = v[i];
        if (!h || (h->error && h->error[0]) || !h->sha256 || !h->sha256[0])
            continue; /* not hashed: not part of what can be resumed from */
        const char *path = h->path ? h->path : "";
        size_t len = strlen(path) + strlen(h->sha256) + 24;
        lines[k] = malloc(len);
        if (!lines[k])
            rc = -ENOMEM;
        else
            snprintf(lines[k++], len, "%s\t%" PRIu64 "\t%s\n", path, h->size, h->sha256);
    }
    if (rc == 0 && k > 0) {
        qsort(lines, k, sizeof(char *), cmp_line);
        cairn_sha256_ctx_t c;
        cairn_sha256_init(&c);
        for (size_t i = 0; i < k; i++)
            cairn_sha256_update(&c, lines[i], strlen(lines[i]));
        uint8_t d[CAIRN_SHA256_LEN];
        cairn_sha256_final(&c, d);
        cairn_sha256_to_hex(d, out);
    }
    for (size_t i = 0; i < k; i++)
        free(lines[i]);
    free(lines);
    return rc;
}

int64_t ckpt_newest_mtime(Cairn__OutputHash *const *v, size_t n)
{
    int64_t t = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] && v[i]->mtime_ms > t)
            t = v[i]->mtime_ms;
    return t;
}

void ckpt_default_dir(uint64_t ident, uint32_t job, uint32_t task, const char *name, char *out,
                      size_t n)
{
    int k = snprintf(out, n, ".cairn-checkpoints/%016" PRIx64 "/job-%" PRIu32 "/%" PRIu32 "-",
                     ident, job, task);
    if (k < 0 || (size_t)k >= n)
        return;
    static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._=-";
    size_t at = (size_t)k;
    for (const char *p = name ? name : ""; *p && at + 1 < n; p++)
        out[at++] = strchr(ok, *p) ? *p : '_';
    out[at] = '\0';
}
