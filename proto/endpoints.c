/* A list of scheduler endpoints; see endpoints.h. */
#include "proto/endpoints.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Split list into up to max copies in out; returns how many, -EINVAL when
 * there are more than max, -ENOMEM. */
static int split(const char *list, char **out, size_t max)
{
    size_t n = 0;
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        size_t trim = len;
        while (trim > 0 && (p[trim - 1] == ' ' || p[trim - 1] == '\t'))
            trim--;
        int rc = n >= max ? -EINVAL : 0;
        if (rc == 0 && !(out[n] = strndup(p, trim)))
            rc = -ENOMEM;
        if (rc < 0) {
            while (n > 0)
                free(out[--n]);
            return rc;
        }
        n++;
        p += len;
    }
    return (int)n;
}

int cairn_endpoints_parse(cairn_endpoints_t *e, const char *list, cairn_error_t *err)
{
    memset(e, 0, sizeof(*e));
    int n = split(list, e->urls, CAIRN_ENDPOINTS_MAX);
    if (n == -ENOMEM)
        return errcode(err, -ENOMEM, "out of memory");
    if (n < 0)
        return errcode(err, -EINVAL, "more than %d scheduler endpoints in '%s'",
                       CAIRN_ENDPOINTS_MAX, list);
    if (n == 0)
        return errcode(err, -EINVAL, "no scheduler endpoint in '%s'", list ? list : "");
    e->n = (size_t)n;
    return 0;
}

int cairn_endpoints_follow(cairn_endpoints_t *e, const char *leader, cairn_error_t *err)
{
    char *lead[CAIRN_ENDPOINTS_MAX];
    int n = split(leader, lead, CAIRN_ENDPOINTS_MAX);
    if (n == -ENOMEM)
        return errcode(err, -ENOMEM, "out of memory");
    if (n <= 0)
        return errcode(err, -EINVAL, "the leader's endpoints '%s' name none, or too many",
                       leader ? leader : "");
    /* the leader's, then the known ones it does not name, oldest dropped */
    char *merged[CAIRN_ENDPOINTS_MAX];
    size_t m = 0;
    for (int i = 0; i < n; i++)
        merged[m++] = lead[i];
    for (size_t i = 0; i < e->n; i++) {
        bool named = false;
        for (int j = 0; j < n && !named; j++)
            named = strcmp(e->urls[i], lead[j]) == 0;
        if (named || m == CAIRN_ENDPOINTS_MAX)
            free(e->urls[i]);
        else
            merged[m++] = e->urls[i];
    }
    memcpy(e->urls, merged, m * sizeof(*merged));
    e->n = m;
    e->cur = 0;
    return 0;
}

const char *cairn_endpoints_current(const cairn_endpoints_t *e)
{
    return e->n ? e->urls[e->cur] : "";
}

bool cairn_endpoints_next(cairn_endpoints_t *e)
{
    if (e->n == 0)
        return true;
    e->cur = (e->cur + 1) % e->n;
    return e->cur == 0;
}

const char *cairn_endpoints_text(const cairn_endpoints_t *e, char *buf, size_t len)
{
    size_t used = 0;
    if (len)
        buf[0] = '\0';
    for (size_t i = 0; i < e->n && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", e->urls[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return buf;
}

bool cairn_endpoint_plain_network(const char *url)
{
    static const char *const plain[] = {"tcp://", "tcp4://", "tcp6://", "ws://",
                                        "ws4://", "ws6://",  "zt://"};
    for (size_t i = 0; url && i < sizeof(plain) / sizeof(plain[0]); i++)
        if (!strncmp(url, plain[i], strlen(plain[i])))
            return true;
    return false;
}

void cairn_endpoints_fini(cairn_endpoints_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->urls[i]);
    memset(e, 0, sizeof(*e));
}
