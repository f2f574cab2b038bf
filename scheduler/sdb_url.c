/* The state database's URLs; see sdb.h. */
#include <stdlib.h>
#include <string.h>

#include "scheduler/sdb.h"

sdb_kind_t sdb_url_kind(const char *url, const char **path)
{
    if (!strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11)) {
        if (path)
            *path = url;
        return SDB_PG;
    }
    if (path)
        *path = !strncmp(url, "sqlite:", 7) ? url + 7 : url;
    return SDB_SQLITE;
}

char *sdb_url_redact(const char *url)
{
    char *out = strdup(url);
    if (!out || sdb_url_kind(url, NULL) != SDB_PG)
        return out;
    /* postgresql://user:secret@host/...: drop ":secret" */
    char *scheme = strstr(out, "://");
    char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
    if (at && colon && colon < at)
        memmove(colon, at, strlen(at) + 1);
    /* ...?password=secret&...: drop the value */
    char *pw = strstr(out, "password=");
    if (pw) {
        char *end = strchr(pw, '&');
        memmove(pw + 9, end ? end : pw + strlen(pw), strlen(end ? end : pw + strlen(pw)) + 1);
    }
    return out;
}
