/* An HTTP/1.x request head, parsed in place; see web_http.h. Pure: the
 * fuzz target fuzz_http feeds it whatever a client could send. */
#include <string.h>
#include <strings.h>

#include "scheduler/web_http.h"

/* A header's value in the request head (NULL: none); *n its length. */
static const char *header(const char *head, const char *name, size_t *n)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p[2] && p[2] != '\r';
         p = strstr(p + 2, "\r\n")) {
        const char *l = p + 2;
        if (!strncasecmp(l, name, nl) && l[nl] == ':') {
            const char *v = l + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            const char *e = strstr(v, "\r\n");
            *n = e ? (size_t)(e - v) : strlen(v);
            while (*n && (v[*n - 1] == ' ' || v[*n - 1] == '\t'))
                (*n)--;
            return v;
        }
    }
    return NULL;
}

int web_parse_head(char *head, web_head_t *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    out->path = out->query = out->if_none_match = "";
    char *eol = strstr(head, "\r\n");
    char *sp1 = strchr(head, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || !eol || sp2 > eol || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
        *why = "not an HTTP/1.x request line\n";
        return 400;
    }
    bool v10 = sp2[8] == '0';
    size_t n;
    const char *conn = header(head, "Connection", &n);
    out->keep_alive = v10 ? conn && n == 10 && !strncasecmp(conn, "keep-alive", 10)
                          : !(conn && n == 5 && !strncasecmp(conn, "close", 5));
    const char *cl = header(head, "Content-Length", &n);
    bool body = (cl && !(n == 1 && cl[0] == '0')) || header(head, "Transfer-Encoding", &n);
    const char *v = header(head, "If-None-Match", &n);
    if (v && n < sizeof(out->inm)) {
        memcpy(out->inm, v, n);
        out->inm[n] = '\0';
        out->if_none_match = out->inm;
    }
    *sp1 = '\0';
    *sp2 = '\0';
    char *target = sp1 + 1;
    out->head = !strcmp(head, "HEAD");
    if (body) {
        out->keep_alive = false;
        *why = "requests with a body are not accepted: the API is read-only\n";
        return 413;
    }
    if (strcmp(head, "GET") && !out->head) {
        *why = "only GET and HEAD are served: the API is read-only\n";
        return 405;
    }
    if (target[0] != '/') {
        *why = "the request target must be a path\n";
        return 400;
    }
    char *q = strchr(target, '?');
    if (q)
        *q++ = '\0';
    out->path = target;
    out->query = q ? q : "";
    return 0;
}
