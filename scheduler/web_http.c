/* The scheduler's HTTP/1.1 server on a thread of its own; see web_http.h. */
#include "scheduler/web_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "scheduler/web_tls.h"

#define REQUEST_MS 10000 /* from a request's first byte to its end */
#define IDLE_MS 60000    /* a kept-alive connection with nothing asked */
#define STALL_MS 30000   /* an answer the client takes nothing of */
#define HANDSHAKE_MS 10000
#define LINGER_MS 2000 /* reading what a refused client still sends */

enum conn_state { C_FREE, C_TLS, C_READ, C_WAIT, C_WRITE, C_LINGER };

typedef struct conn {
    int fd;
    uint32_t gen;
    enum conn_state state;
    bool keep_alive, head;
    short want; /* POLLIN or POLLOUT */
    char *in;   /* WEB_HEADERS_MAX + 1 bytes */
    size_t in_len, req_len;
    char hdr[2048];
    size_t hdr_len;
    web_blob_t *blob;
    const char *body;
    size_t body_len, sent;
    int64_t deadline;
    web_tls_conn_t *tls;
    char user[256];
} conn_t;

typedef struct post {
    void (*fn)(void *);
    void *arg;
    struct post *next;
} post_t;

struct web_http {
    int lfd, wfd; /* listener, eventfd */
    pthread_t thread;
    bool started, closing;
    web_route_f route;
    void *arg;
    web_tls_t *tls;
    conn_t *conns;
    unsigned max;
    char bound[128];
    bool loopback;
    pthread_mutex_t lock; /* posts and stop */
    post_t *posts, **tail;
    bool stop;
};

int64_t web_http_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

web_blob_t *web_blob_new(const void *data, size_t len)
{
    web_blob_t *b = malloc(sizeof(*b) + len + 1);
    if (!b)
        return NULL;
    b->refs = 1;
    b->len = len;
    if (data)
        memcpy(b->data, data, len);
    b->data[len] = '\0';
    return b;
}

web_blob_t *web_blob_ref(web_blob_t *b)
{
    if (b)
        __atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
    return b;
}

void web_blob_unref(web_blob_t *b)
{
    if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(b);
}

/* --- connections ----------------------------------------------------------- */

static void conn_close(conn_t *c)
{
    web_tls_conn_free(c->tls);
    c->tls = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    web_blob_unref(c->blob);
    c->blob = NULL;
    free(c->in);
    c->in = NULL;
    c->state = C_FREE;
    c->gen++;
}

/* Ready for the next request: what was read past the last one stays. */
static void conn_next(conn_t *c)
{
    web_blob_unref(c->blob);
    c->blob = NULL;
    c->body = NULL;
    memmove(c->in, c->in + c->req_len, c->in_len - c->req_len);
    c->in_len -= c->req_len;
    c->req_len = 0;
    c->state = C_READ;
    c->want = POLLIN;
    c->deadline = web_http_now_ms() + (c->in_len ? REQUEST_MS : IDLE_MS);
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Status";
    }
}

static conn_t *conn_of(web_http_t *h, uint64_t token)
{
    uint32_t slot = (uint32_t)(token & 0xffffffffu), gen = (uint32_t)(token >> 32);
    if (slot >= h->max)
        return NULL;
    conn_t *c = &h->conns[slot];
    return c->state == C_WAIT && c->gen == gen ? c : NULL;
}

void web_http_respond(web_http_t *h, uint64_t token, const web_res_t *res)
{
    conn_t *c = conn_of(h, token);
    if (!c || h->closing)
        return;
    size_t len = res->blob ? res->blob->len : res->len;
    int n = snprintf(c->hdr, sizeof(c->hdr),
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Length: %zu\r\n"
                     "Connection: %s\r\n"
                     "X-Content-Type-Options: nosniff\r\n"
                     "Referrer-Policy: no-referrer\r\n"
                     "X-Frame-Options: DENY\r\n"
                     "Content-Security-Policy: default-src 'self'; img-src 'self' data:; "
                     "style-src 'self'; frame-ancestors 'none'\r\n"
                     "%s%s%s%s",
                     res->status, reason(res->status), res->status == 304 ? (size_t)0 : len,
                     c->keep_alive ? "keep-alive" : "close", res->type ? "Content-Type: " : "",
                     res->type ? res->type : "", res->type ? "\r\n" : "",
                     res->headers ? res->headers : "");
    if (n < 0 || (size_t)n + 3 > sizeof(c->hdr)) {
        conn_close(c);
        return;
    }
    memcpy(c->hdr + n, "\r\n", 3);
    c->hdr_len = (size_t)n + 2;
    c->blob = web_blob_ref(res->blob);
    c->body = res->blob ? res->blob->data : res->data;
    c->body_len = c->head || res->status == 304 ? 0 : len;
    c->sent = 0;
    c->state = C_WRITE;
    c->want = POLLOUT;
    c->deadline = web_http_now_ms() + STALL_MS;
}

/* An answer of the server's own (a bad request): text, then close. */
static void refuse(web_http_t *h, conn_t *c, uint64_t token, int status, const char *why,
                   const char *headers)
{
    c->keep_alive = false;
    web_res_t r = {.status = status,
                   .type = "text/plain; charset=utf-8",
                   .data = why,
                   .len = strlen(why),
                   .headers = headers};
    web_http_respond(h, token, &r);
}

/* A whole request head is in c->in: parse it and hand it on. */
static void dispatch(web_http_t *h, conn_t *c, size_t head_len)
{
    uint64_t token = (uint64_t)c->gen << 32 | (uint64_t)(c - h->conns);
    c->req_len = head_len;
    c->state = C_WAIT;
    char saved = c->in[head_len];
    c->in[head_len] = '\0';
    web_head_t hd;
    const char *why = NULL;
    int st = web_parse_head(c->in, &hd, &why);
    c->keep_alive = hd.keep_alive;
    c->head = hd.head;
    if (st != 0) {
        refuse(h, c, token, st, why, st == 405 ? "Allow: GET, HEAD\r\n" : NULL);
    } else {
        web_req_t rq = {.token = token,
                        .head = hd.head,
                        .path = hd.path,
                        .query = hd.query,
                        .if_none_match = hd.if_none_match,
                        .user = c->user,
                        .tls = c->tls != NULL};
        h->route(h->arg, &rq);
    }
    /* the head is no longer needed: only the bytes after it are kept */
    c->in[head_len] = saved;
}

/* Read what there is; dispatch a whole request. false: closed. */
static bool conn_read(web_http_t *h, conn_t *c)
{
    for (;;) {
        char *end = c->in_len >= 4 ? memmem(c->in, c->in_len, "\r\n\r\n", 4) : NULL;
        if (end) {
            dispatch(h, c, (size_t)(end + 4 - c->in));
            return c->state != C_FREE;
        }
        if (c->in_len >= WEB_HEADERS_MAX) {
            uint64_t token = (uint64_t)c->gen << 32 | (uint64_t)(c - h->conns);
            c->state = C_WAIT;
            c->req_len = c->in_len;
            refuse(h, c, token, 431, "request headers too large\n", NULL);
            return true;
        }
        long r = c->tls ? web_tls_read(c->tls, c->in + c->in_len, WEB_HEADERS_MAX - c->in_len)
                        : (long)read(c->fd, c->in + c->in_len, WEB_HEADERS_MAX - c->in_len);
        if (r == WEB_TLS_WANT_READ || (r < 0 && !c->tls && (errno == EAGAIN || errno == EINTR))) {
            c->want = POLLIN;
            return true;
        }
        if (r == WEB_TLS_WANT_WRITE) {
            c->want = POLLOUT;
            return true;
        }
        if (r <= 0) {
            conn_close(c);
            return false;
        }
        if (c->in_len == 0)
            c->deadline = web_http_now_ms() + REQUEST_MS;
        c->in_len += (size_t)r;
    }
}

static void conn_write(web_http_t *h, conn_t *c)
{
    (void)h;
    size_t total = c->hdr_len + c->body_len;
    while (c->sent < total) {
        long r;
        if (c->tls) {
            const char *p =
                c->sent < c->hdr_len ? c->hdr + c->sent : c->body + c->sent - c->hdr_len;
            size_t n = c->sent < c->hdr_len ? c->hdr_len - c->sent : total - c->sent;
            r = web_tls_write(c->tls, p, n);
        } else {
            struct iovec v[2];
            int nv = 0;
            if (c->sent < c->hdr_len)
                v[nv++] = (struct iovec){c->hdr + c->sent, c->hdr_len - c->sent};
            size_t bo = c->sent > c->hdr_len ? c->sent - c->hdr_len : 0;
            if (c->body_len > bo)
                v[nv++] = (struct iovec){(void *)(c->body + bo), c->body_len - bo};
            r = (long)writev(c->fd, v, nv);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                r = WEB_TLS_WANT_WRITE;
        }
        if (r == WEB_TLS_WANT_WRITE || r == WEB_TLS_WANT_READ) {
            c->want = r == WEB_TLS_WANT_READ ? POLLIN : POLLOUT;
            return;
        }
        if (r <= 0) {
            conn_close(c);
            return;
        }
        c->sent += (size_t)r;
        c->deadline = web_http_now_ms() + STALL_MS;
    }
    if (!c->keep_alive) {
        /* half-close, and read what the client still sends before closing:
         * closing with unread bytes would reset the connection, and the
         * client could lose the answer (a refused large request) */
        shutdown(c->fd, SHUT_WR);
        c->state = C_LINGER;
        c->want = POLLIN;
        c->deadline = web_http_now_ms() + LINGER_MS;
        return;
    }
    conn_next(c);
    if (c->in_len)
        conn_read(h, c); /* a pipelined request */
}

static void conn_linger(conn_t *c)
{
    char junk[4096];
    for (;;) {
        ssize_t r = read(c->fd, junk, sizeof(junk));
        if (r > 0)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        conn_close(c);
        return;
    }
}

static void conn_handshake(web_http_t *h, conn_t *c)
{
    cairn_error_t err = {{0}};
    int rc = web_tls_handshake(c->tls, c->user, sizeof(c->user), &err);
    if (rc == WEB_TLS_WANT_READ || rc == WEB_TLS_WANT_WRITE) {
        c->want = rc == WEB_TLS_WANT_READ ? POLLIN : POLLOUT;
        return;
    }
    if (rc < 0) {
        conn_close(c); /* a browser shows the TLS failure itself */
        return;
    }
    c->state = C_READ;
    c->want = POLLIN;
    c->deadline = web_http_now_ms() + IDLE_MS;
    conn_read(h, c);
}

static void accept_all(web_http_t *h)
{
    for (;;) {
        int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        conn_t *c = NULL;
        for (unsigned i = 0; i < h->max && !c; i++)
            if (h->conns[i].state == C_FREE)
                c = &h->conns[i];
        if (!c || !(c->in = malloc(WEB_HEADERS_MAX + 1))) {
            close(fd); /* full: the client may try again */
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->fd = fd;
        c->in_len = c->req_len = 0;
        c->user[0] = '\0';
        c->blob = NULL;
        if (h->tls) {
            if (!(c->tls = web_tls_conn_new(h->tls, fd))) {
                conn_close(c);
                continue;
            }
            c->state = C_TLS;
            c->want = POLLIN;
            c->deadline = web_http_now_ms() + HANDSHAKE_MS;
        } else {
            c->state = C_READ;
            c->want = POLLIN;
            c->deadline = web_http_now_ms() + IDLE_MS;
        }
    }
}

static void run_posts(web_http_t *h)
{
    pthread_mutex_lock(&h->lock);
    post_t *p = h->posts;
    h->posts = NULL;
    h->tail = &h->posts;
    pthread_mutex_unlock(&h->lock);
    while (p) {
        post_t *next = p->next;
        p->fn(p->arg);
        free(p);
        p = next;
    }
}

static void *server(void *arg)
{
    web_http_t *h = arg;
    struct pollfd *pf = calloc(h->max + 2, sizeof(*pf));
    unsigned *who = calloc(h->max + 2, sizeof(*who));
    if (!pf || !who) {
        free(pf);
        free(who);
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&h->lock);
        bool stop = h->stop;
        pthread_mutex_unlock(&h->lock);
        if (stop)
            break;
        nfds_t n = 0;
        pf[n++] = (struct pollfd){.fd = h->wfd, .events = POLLIN};
        unsigned used = 0;
        int64_t now = web_http_now_ms(), next = now + 1000;
        for (unsigned i = 0; i < h->max; i++) {
            conn_t *c = &h->conns[i];
            if (c->state == C_FREE)
                continue;
            used++;
            if (c->state != C_WAIT && c->deadline <= now) {
                conn_close(c);
                used--;
                continue;
            }
            if (c->state == C_WAIT)
                continue;
            if (c->deadline < next)
                next = c->deadline;
            who[n] = i;
            pf[n++] = (struct pollfd){.fd = c->fd, .events = c->want};
        }
        nfds_t lidx = n;
        if (used < h->max)
            pf[n++] = (struct pollfd){.fd = h->lfd, .events = POLLIN};
        int rc = poll(pf, n, (int)(next - now > 0 ? next - now : 0));
        if (rc < 0 && errno != EINTR)
            break;
        if (pf[0].revents) {
            uint64_t v;
            if (read(h->wfd, &v, sizeof(v)) < 0) { /* nothing to do: woken anyway */
            }
            run_posts(h);
        }
        for (nfds_t k = 1; k < lidx; k++) {
            if (!pf[k].revents)
                continue;
            conn_t *c = &h->conns[who[k]];
            if (c->state == C_TLS)
                conn_handshake(h, c);
            else if (c->state == C_READ)
                conn_read(h, c);
            else if (c->state == C_WRITE)
                conn_write(h, c);
            else if (c->state == C_LINGER)
                conn_linger(c);
        }
        if (lidx < n && pf[lidx].revents)
            accept_all(h);
    }
    free(pf);
    free(who);
    return NULL;
}

/* --- life ------------------------------------------------------------------ */

static int listen_on(web_http_t *h, const char *addr, cairn_error_t *err)
{
    char host[256], port[16];
    const char *a = addr;
    if (!strncmp(a, "http://", 7))
        a += 7;
    else if (!strncmp(a, "https://", 8))
        a += 8;
    const char *colon = strrchr(a, ':');
    if (!colon || colon == a || (size_t)(colon - a) >= sizeof(host) || strlen(colon + 1) == 0 ||
        strlen(colon + 1) >= sizeof(port) || strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return errcode(err, -EINVAL, "bad http address %s: expected HOST:PORT", addr);
    size_t hl = (size_t)(colon - a);
    if (a[0] == '[' && hl >= 2 && a[hl - 1] == ']')
        memcpy(host, a + 1, hl - 2), host[hl - 2] = '\0';
    else
        memcpy(host, a, hl), host[hl] = '\0';
    memcpy(port, colon + 1, strlen(colon + 1) + 1);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *res = NULL;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0)
        return errcode(err, -EINVAL, "bad http address %s: %s", addr, gai_strerror(g));
    int fd = -1, e = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return errcode(err, -EADDRINUSE, "http server on %s: %s", addr, strerror(e));
    h->lfd = fd;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned p = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
            p = ntohs(s4->sin_port);
            h->loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
            p = ntohs(s6->sin6_port);
            h->loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
        }
    }
    snprintf(h->bound, sizeof(h->bound), ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, p);
    return 0;
}

int web_http_create(const web_http_config_t *cfg, web_route_f route, void *arg, web_http_t **out,
                    cairn_error_t *err)
{
    web_http_t *h = calloc(1, sizeof(*h));
    if (!h)
        return errcode(err, -ENOMEM, "out of memory");
    h->lfd = h->wfd = -1;
    h->route = route;
    h->arg = arg;
    h->max = cfg->max_conns ? cfg->max_conns : 256;
    h->tail = &h->posts;
    pthread_mutex_init(&h->lock, NULL);
    int rc;
    if (!(h->conns = calloc(h->max, sizeof(*h->conns)))) {
        rc = errcode(err, -ENOMEM, "out of memory");
        goto fail;
    }
    for (unsigned i = 0; i < h->max; i++)
        h->conns[i].fd = -1;
    if (cfg->tls_cert && (rc = web_tls_create(cfg->tls_cert, cfg->tls_ca, &h->tls, err)) < 0)
        goto fail;
    if ((rc = listen_on(h, cfg->addr, err)) < 0)
        goto fail;
    if ((h->wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        rc = errcode(err, -errno, "eventfd: %s", strerror(errno));
        goto fail;
    }
    /* signals stay with the loop's thread */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int pe = pthread_create(&h->thread, NULL, server, h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pe != 0) {
        rc = errcode(err, -pe, "http server thread: %s", strerror(pe));
        goto fail;
    }
    h->started = true;
    *out = h;
    return 0;
fail:
    web_http_destroy(h);
    return rc;
}

static void wake(web_http_t *h)
{
    uint64_t one = 1;
    if (write(h->wfd, &one, sizeof(one)) < 0) { /* the counter is full: it is awake */
    }
}

void web_http_stop(web_http_t *h)
{
    if (!h || !h->started)
        return;
    pthread_mutex_lock(&h->lock);
    h->stop = true;
    pthread_mutex_unlock(&h->lock);
    wake(h);
    pthread_join(h->thread, NULL);
    h->started = false;
    h->closing = true;
    for (unsigned i = 0; i < h->max; i++)
        if (h->conns[i].state != C_FREE)
            conn_close(&h->conns[i]);
    run_posts(h);
}

void web_http_destroy(web_http_t *h)
{
    if (!h)
        return;
    web_http_stop(h);
    h->closing = true;
    run_posts(h);
    if (h->conns)
        for (unsigned i = 0; i < h->max; i++)
            if (h->conns[i].state != C_FREE)
                conn_close(&h->conns[i]);
    free(h->conns);
    if (h->lfd >= 0)
        close(h->lfd);
    if (h->wfd >= 0)
        close(h->wfd);
    web_tls_destroy(h->tls);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

int web_http_post(web_http_t *h, void (*fn)(void *arg), void *arg)
{
    post_t *p = malloc(sizeof(*p));
    if (!p)
        return -ENOMEM;
    *p = (post_t){.fn = fn, .arg = arg};
    pthread_mutex_lock(&h->lock);
    *h->tail = p;
    h->tail = &p->next;
    pthread_mutex_unlock(&h->lock);
    wake(h);
    return 0;
}

bool web_http_closing(const web_http_t *h)
{
    return h->closing;
}

const char *web_http_bound(const web_http_t *h)
{
    return h->bound;
}

bool web_http_loopback(const web_http_t *h)
{
    return h->loopback;
}
