/* The dashboard's files, embedded in the scheduler at build time: every
 * file under scheduler/web/ (CMake turns them into web_assets.c, generated
 * in the build tree by scheduler/web/embed.cmake). Nothing is fetched from
 * anywhere else: clusters are often offline. */
#ifndef CAIRN_SCHEDULER_WEB_ASSETS_H
#define CAIRN_SCHEDULER_WEB_ASSETS_H

#include <stddef.h>

typedef struct web_asset {
    const char *path;          /* "/assets/app.js": "/assets/" + the file's path under web/ */
    const char *type;          /* its Content-Type */
    const unsigned char *data; /* its bytes */
    size_t len;
    const char *etag; /* a quoted hash of its bytes: "\"1f2e...\"" */
} web_asset_t;

/* The asset at path (exact match); NULL when there is none. */
const web_asset_t *web_asset_find(const char *path);

/* The page every dashboard URL (/, /jobs, /jobs/ID, /capacity, ...)
 * answers with: /assets/index.html. */
const web_asset_t *web_asset_index(void);

#endif
