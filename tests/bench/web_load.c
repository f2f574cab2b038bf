/* What serving the dashboard costs the scheduler (issue 24: "50 browsers
 * polling a running 10,000-task job every second may cost the scheduler at
 * most 5% of one core"). Measures the scheduler's CPU (utime + stime of
 * /proc/PID/stat, its threads apart from /proc/PID/task) over SECONDS with
 * no HTTP load, then over SECONDS while N simulated browsers poll the job
 * page, and prints both, the difference, requests/s, latency and bytes/s.
 *
 * A browser is one persistent HTTP/1.1 connection (keep-alive, one request
 * at a time, as a browser's fetch() on one connection) that does what the
 * job page does: every 1 s GET /api/v1/jobs/ID/graph and
 * /api/v1/jobs/ID?summary=1; every 5 s GET /api/v1/jobs/ID?limit=2000 (the
 * timeline) and /api/v1/nodes. Each browser starts at a random phase of
 * each period (seeded). A poll that comes while the same URL is still
 * queued or in flight on that browser is skipped (counted), as a page that
 * waits for its answer before asking again.
 *
 *   web_load --http HOST:PORT --job ID --pid SCHEDULER_PID
 *            [--browsers 50] [--seconds 30] [--seed N] [--warmup 2]
 *
 * Plain sockets and poll(2) on one thread, so that the generator's own CPU
 * disturbs a small machine as little as it can (printed too). tests/bench/
 * web_load.sh starts the cluster and the job and runs this. Prints figures;
 * asserts nothing (exit 1 only when it could not measure). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NKIND 4
static const char *kind_name[NKIND] = {"graph", "summary", "timeline", "nodes"};
static const int kind_period_ms[NKIND] = {1000, 1000, 5000, 5000};

typedef struct stat_kind {
    uint64_t requests, errors, bytes, skipped;
    uint32_t *lat_us;
    size_t nlat, caplat;
} stat_kind_t;

typedef struct browser {
    int fd;
    bool connected; /* connect finished */
    int64_t next[NKIND];
    int queue[NKIND * 2]; /* kinds to ask, in order */
    int nqueue;
    int inflight; /* kind asked, -1: none */
    int64_t sent_ns;
    char req[512];
    size_t req_len, req_sent;
    char hdr[8192];
    size_t hdr_len;
    bool in_body;
    uint64_t body_left, resp_bytes;
    int status;
    bool close_after;
} browser_t;

static struct {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char host[256];
    int job;
    stat_kind_t st[NKIND];
    bool counting;
    uint64_t connects, conn_errors, closed_by_server;
} g;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* --- the scheduler's CPU ---------------------------------------------------- */

/* utime + stime (clock ticks) of a /proc stat file; comm copied to name. */
static long long stat_ticks(const char *path, char *name, size_t namelen)
{
    char buf[1024];
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *l = strchr(buf, '('), *r = strrchr(buf, ')');
    if (!l || !r)
        return -1;
    if (name) {
        size_t k = (size_t)(r - l - 1) < namelen - 1 ? (size_t)(r - l - 1) : namelen - 1;
        memcpy(name, l + 1, k);
        name[k] = 0;
    }
    /* after ") ": state(3) ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime(14) stime(15) */
    char *p = r + 2;
    unsigned long long ut = 0, st = 0;
    if (sscanf(p, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

#define MAXTHREADS 256
typedef struct cpu_snap {
    long long total; /* the process: every thread, the ended ones included */
    int n;
    int tid[MAXTHREADS];
    char name[MAXTHREADS][20];
    long long ticks[MAXTHREADS];
} cpu_snap_t;

static int snap(int pid, cpu_snap_t *s)
{
    char path[128];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    s->total = stat_ticks(path, NULL, 0);
    s->n = 0;
    if (s->total < 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) && s->n < MAXTHREADS) {
        if (e->d_name[0] == '.')
            continue;
        char p[300];
        snprintf(p, sizeof(p), "/proc/%d/task/%s/stat", pid, e->d_name);
        long long t = stat_ticks(p, s->name[s->n], sizeof(s->name[0]));
        if (t < 0)
            continue;
        s->tid[s->n] = atoi(e->d_name);
        s->ticks[s->n++] = t;
    }
    closedir(d);
    return 0;
}

typedef struct phase {
    double wall_s, cpu_pct, self_pct;
    cpu_snap_t a, b;
} phase_t;

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* --- the browsers ----------------------------------------------------------- */

static void lat_add(stat_kind_t *s, uint32_t us)
{
    if (s->nlat == s->caplat) {
        size_t cap = s->caplat ? s->caplat * 2 : 4096;
        uint32_t *p = realloc(s->lat_us, cap * sizeof(*p));
        if (!p) {
            perror("realloc");
            exit(1);
        }
        s->lat_us = p;
        s->caplat = cap;
    }
    s->lat_us[s->nlat++] = us;
}

static void path_of(int kind, char *out, size_t n)
{
    switch (kind) {
    case 0:
        snprintf(out, n, "/api/v1/jobs/%d/graph", g.job);
        break;
    case 1:
        snprintf(out, n, "/api/v1/jobs/%d?summary=1", g.job);
        break;
    case 2:
        snprintf(out, n, "/api/v1/jobs/%d?limit=2000", g.job);
        break;
    default:
        snprintf(out, n, "/api/v1/nodes");
        break;
    }
}

static void b_close(browser_t *b)
{
    if (b->fd >= 0)
        close(b->fd);
    b->fd = -1;
    b->connected = false;
    b->in_body = false;
    b->hdr_len = 0;
    b->req_len = b->req_sent = 0;
    if (b->inflight >= 0 && b->nqueue < NKIND * 2) {
        /* asked again on the next connection */
        memmove(b->queue + 1, b->queue, (size_t)b->nqueue * sizeof(int));
        b->queue[0] = b->inflight;
        b->nqueue++;
    }
    b->inflight = -1;
}

static int b_connect(browser_t *b)
{
    int fd = socket(g.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&g.addr, g.addrlen) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    b->fd = fd;
    b->connected = false;
    g.connects++;
    return 0;
}

static bool queued(const browser_t *b, int kind)
{
    if (b->inflight == kind)
        return true;
    for (int i = 0; i < b->nqueue; i++)
        if (b->queue[i] == kind)
            return true;
    return false;
}

/* Start the next queued request if the connection is free. */
static void b_next(browser_t *b)
{
    if (b->inflight >= 0 || b->nqueue == 0 || b->fd < 0)
        return;
    int kind = b->queue[0];
    memmove(b->queue, b->queue + 1, (size_t)--b->nqueue * sizeof(int));
    char path[128];
    path_of(kind, path, sizeof(path));
    int n = snprintf(b->req, sizeof(b->req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: cairn-web-load/1 (a simulated "
                     "browser)\r\nAccept: application/json\r\nAccept-Encoding: identity\r\n"
                     "Accept-Language: en\r\nConnection: keep-alive\r\n\r\n",
                     path, g.host);
    b->req_len = (size_t)n;
    b->req_sent = 0;
    b->inflight = kind;
    b->sent_ns = now_ns();
    b->hdr_len = 0;
    b->in_body = false;
    b->resp_bytes = 0;
}

static void b_done(browser_t *b)
{
    stat_kind_t *s = &g.st[b->inflight];
    if (g.counting) {
        s->requests++;
        s->bytes += b->resp_bytes;
        if (b->status != 200)
            s->errors++;
        lat_add(s, (uint32_t)((now_ns() - b->sent_ns) / 1000));
    }
    b->inflight = -1;
    b->in_body = false;
    b->hdr_len = 0;
    b->req_len = b->req_sent = 0;
    if (b->close_after)
        b_close(b);
}

/* Parse the header in b->hdr (complete through "\r\n\r\n" at end). */
static int b_header(browser_t *b, size_t end)
{
    b->hdr[end] = 0;
    if (sscanf(b->hdr, "HTTP/1.%*d %d", &b->status) != 1)
        return -1;
    b->body_left = 0;
    b->close_after = false;
    bool have_len = false;
    for (char *l = strstr(b->hdr, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
        char *h = l + 2;
        if (!strncasecmp(h, "Content-Length:", 15)) {
            b->body_left = strtoull(h + 15, NULL, 10);
            have_len = true;
        } else if (!strncasecmp(h, "Connection:", 11)) {
            char *v = h + 11;
            while (*v == ' ')
                v++;
            if (!strncasecmp(v, "close", 5))
                b->close_after = true;
        } else if (!strncasecmp(h, "Transfer-Encoding:", 18)) {
            return -1; /* the scheduler always sends a length */
        }
    }
    if (!have_len && b->status != 304 && b->status != 204)
        return -1;
    return 0;
}

static void b_error(browser_t *b)
{
    if (g.counting && b->inflight >= 0) {
        g.st[b->inflight].requests++;
        g.st[b->inflight].errors++;
    }
    g.conn_errors++;
    b->inflight = -1; /* not asked again: it counted as an error */
    b_close(b);
}

static void b_read(browser_t *b)
{
    char buf[65536];
    for (;;) {
        ssize_t n = recv(b->fd, buf, sizeof(buf), 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EINTR)
                continue;
            b_error(b);
            return;
        }
        if (n == 0) {
            if (b->inflight >= 0)
                b_error(b);
            else {
                g.closed_by_server++;
                b_close(b);
            }
            return;
        }
        if (b->inflight < 0) { /* unasked bytes */
            b_error(b);
            return;
        }
        size_t off = 0;
        while (off < (size_t)n && b->inflight >= 0) {
            if (!b->in_body) {
                /* header bytes one chunk at a time up to the blank line */
                size_t take = (size_t)n - off;
                if (take > sizeof(b->hdr) - 1 - b->hdr_len)
                    take = sizeof(b->hdr) - 1 - b->hdr_len;
                if (take == 0) {
                    b_error(b);
                    return;
                }
                size_t old = b->hdr_len;
                memcpy(b->hdr + b->hdr_len, buf + off, take);
                b->hdr_len += take;
                b->hdr[b->hdr_len] = 0;
                char *e = strstr(b->hdr + (old > 3 ? old - 3 : 0), "\r\n\r\n");
                if (!e) {
                    off += take;
                    continue;
                }
                size_t end = (size_t)(e - b->hdr) + 4;
                size_t used = end - old;
                off += used;
                b->resp_bytes += end;
                if (b_header(b, end) < 0) {
                    b_error(b);
                    return;
                }
                b->in_body = true;
            }
            size_t take = (size_t)n - off;
            if (take > b->body_left)
                take = (size_t)b->body_left;
            b->body_left -= take;
            b->resp_bytes += take;
            off += take;
            if (b->body_left == 0) {
                b_done(b);
                if (b->fd < 0)
                    return;
                if (off < (size_t)n) { /* bytes nobody asked for */
                    b_error(b);
                    return;
                }
            }
        }
    }
}

static void b_write(browser_t *b)
{
    while (b->req_sent < b->req_len) {
        ssize_t n = send(b->fd, b->req + b->req_sent, b->req_len - b->req_sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EINTR)
                continue;
            b_error(b);
            return;
        }
        b->req_sent += (size_t)n;
    }
}

/* Due polls into b's queue. */
static void b_tick(browser_t *b, int64_t t)
{
    for (int k = 0; k < NKIND; k++) {
        while (b->next[k] <= t) {
            if (queued(b, k)) {
                if (g.counting)
                    g.st[k].skipped++;
            } else if (b->nqueue < NKIND * 2) {
                b->queue[b->nqueue++] = k;
            }
            b->next[k] += (int64_t)kind_period_ms[k] * 1000000;
        }
    }
}

static int run_load(browser_t *bs, int nb, int64_t until)
{
    struct pollfd *pf = calloc((size_t)nb, sizeof(*pf));
    if (!pf)
        return -1;
    for (;;) {
        int64_t t = now_ns();
        if (t >= until)
            break;
        int64_t wake = until;
        for (int i = 0; i < nb; i++) {
            browser_t *b = &bs[i];
            b_tick(b, t);
            if (b->fd < 0 && b->nqueue > 0 && b_connect(b) < 0) {
                g.conn_errors++;
                if (g.counting)
                    g.st[b->queue[0]].errors++;
                b->nqueue = 0; /* this round's polls fail; the next round tries again */
            }
            if (b->connected)
                b_next(b);
            for (int k = 0; k < NKIND; k++)
                if (b->next[k] < wake)
                    wake = b->next[k];
            pf[i].fd = b->fd;
            pf[i].events = 0;
            if (b->fd >= 0) {
                pf[i].events = POLLIN;
                if (!b->connected || b->req_sent < b->req_len)
                    pf[i].events |= POLLOUT;
            }
            pf[i].revents = 0;
        }
        int ms = (int)((wake - t + 999999) / 1000000);
        if (ms < 0)
            ms = 0;
        if (poll(pf, (nfds_t)nb, ms) < 0 && errno != EINTR) {
            perror("poll");
            free(pf);
            return -1;
        }
        for (int i = 0; i < nb; i++) {
            browser_t *b = &bs[i];
            if (b->fd < 0 || !pf[i].revents)
                continue;
            if (!b->connected && (pf[i].revents & (POLLOUT | POLLERR | POLLHUP))) {
                int err = 0;
                socklen_t l = sizeof(err);
                getsockopt(b->fd, SOL_SOCKET, SO_ERROR, &err, &l);
                if (err) {
                    b_error(b);
                    continue;
                }
                b->connected = true;
                b_next(b);
            }
            if (b->connected && b->req_sent < b->req_len)
                b_write(b);
            if (b->fd >= 0 && (pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                b_read(b);
            if (b->fd >= 0 && b->connected)
                b_next(b);
            if (b->fd >= 0 && b->connected && b->req_sent < b->req_len)
                b_write(b);
        }
    }
    free(pf);
    return 0;
}

/* --- the figures ------------------------------------------------------------ */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(const uint32_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i] / 1000.0;
}

static void threads_diff(const phase_t *ph, double tck, int pid)
{
    for (int i = 0; i < ph->b.n; i++) {
        long long before = 0;
        for (int j = 0; j < ph->a.n; j++)
            if (ph->a.tid[j] == ph->b.tid[i])
                before = ph->a.ticks[j];
        double pc = (double)(ph->b.ticks[i] - before) / tck / ph->wall_s * 100.0;
        if (pc >= 0.05)
            printf("      thread %-7d %-16s %6.2f%%%s\n", ph->b.tid[i], ph->b.name[i], pc,
                   ph->b.tid[i] == pid ? "  (the main thread: the loop)" : "");
    }
}

static int measure(int pid, phase_t *ph, browser_t *bs, int nb, double seconds, double tck)
{
    double self0 = self_cpu_s();
    int64_t t0 = now_ns();
    if (snap(pid, &ph->a) < 0)
        return -1;
    int64_t until = t0 + (int64_t)(seconds * 1e9);
    if (nb) {
        g.counting = true;
        if (run_load(bs, nb, until) < 0)
            return -1;
        g.counting = false;
    } else {
        while (now_ns() < until) {
            int64_t left = until - now_ns();
            struct timespec ts = {left / 1000000000, left % 1000000000};
            nanosleep(&ts, NULL); /* the baseline: waiting out the window */
        }
    }
    if (snap(pid, &ph->b) < 0)
        return -1;
    ph->wall_s = (double)(now_ns() - t0) / 1e9;
    ph->cpu_pct = (double)(ph->b.total - ph->a.total) / tck / ph->wall_s * 100.0;
    ph->self_pct = (self_cpu_s() - self0) / ph->wall_s * 100.0;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: web_load --http HOST:PORT --job ID --pid SCHEDULER_PID [--browsers N] "
               "[--seconds S] [--seed N] [--warmup S]\n");
}

int main(int argc, char **argv)
{
    const char *http = NULL;
    int pid = 0, nb = 50;
    double seconds = 30, warmup = 2;
    unsigned long seed = (unsigned long)time(NULL);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(a, "--http"))
            http = v;
        else if (!strcmp(a, "--job"))
            g.job = atoi(v);
        else if (!strcmp(a, "--pid"))
            pid = atoi(v);
        else if (!strcmp(a, "--browsers"))
            nb = atoi(v);
        else if (!strcmp(a, "--seconds"))
            seconds = atof(v);
        else if (!strcmp(a, "--warmup"))
            warmup = atof(v);
        else if (!strcmp(a, "--seed"))
            seed = strtoul(v, NULL, 10);
        else {
            usage(stderr);
            return 2;
        }
    }
    if (!http || g.job <= 0 || pid <= 0 || nb < 1 || seconds <= 0 || warmup < 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nb + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)nb + 64 ? rl.rlim_max : (rlim_t)nb + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    /* HOST:PORT (an IPv6 host in brackets) */
    snprintf(g.host, sizeof(g.host), "%s", http);
    char hostpart[256], *port;
    snprintf(hostpart, sizeof(hostpart), "%s", http);
    char *h = hostpart;
    if (*h == '[') {
        char *e = strchr(h, ']');
        if (!e || e[1] != ':') {
            fprintf(stderr, "web_load: bad --http %s\n", http);
            return 2;
        }
        *e = 0;
        h++;
        port = e + 2;
    } else {
        port = strrchr(h, ':');
        if (!port) {
            fprintf(stderr, "web_load: bad --http %s\n", http);
            return 2;
        }
        *port++ = 0;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    int rc = getaddrinfo(h, port, &hints, &ai);
    if (rc) {
        fprintf(stderr, "web_load: %s: %s\n", http, gai_strerror(rc));
        return 1;
    }
    memcpy(&g.addr, ai->ai_addr, ai->ai_addrlen);
    g.addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);

    double tck = (double)sysconf(_SC_CLK_TCK);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("web_load: scheduler pid %d, job %d, %d browsers, %.0f s per phase, seed %lu, "
           "%ld CPUs\n",
           pid, g.job, nb, seconds, seed, ncpu);
    fflush(stdout);

    /* baseline: nothing asks */
    phase_t base, load;
    if (measure(pid, &base, NULL, 0, seconds, tck) < 0) {
        fprintf(stderr, "web_load: cannot read /proc/%d\n", pid);
        return 1;
    }

    /* the browsers, each at a seeded random phase of each period */
    browser_t *bs = calloc((size_t)nb, sizeof(*bs));
    if (!bs)
        return 1;
    srand48((long)seed);
    int64_t t0 = now_ns();
    for (int i = 0; i < nb; i++) {
        bs[i].fd = -1;
        bs[i].inflight = -1;
        int64_t ph1 = (int64_t)(drand48() * 1000) * 1000000,
                ph5 = (int64_t)(drand48() * 5000) * 1000000;
        bs[i].next[0] = bs[i].next[1] = t0 + ph1;
        bs[i].next[2] = bs[i].next[3] = t0 + ph5;
    }
    if (warmup > 0 && run_load(bs, nb, t0 + (int64_t)(warmup * 1e9)) < 0)
        return 1;
    uint64_t connects0 = g.connects;
    if (measure(pid, &load, bs, nb, seconds, tck) < 0) {
        fprintf(stderr, "web_load: cannot read /proc/%d (did the scheduler die?)\n", pid);
        return 1;
    }
    for (int i = 0; i < nb; i++)
        if (bs[i].fd >= 0)
            close(bs[i].fd);

    /* the figures */
    uint64_t req = 0, err = 0, bytes = 0, skipped = 0;
    size_t nall = 0;
    for (int k = 0; k < NKIND; k++) {
        req += g.st[k].requests;
        err += g.st[k].errors;
        bytes += g.st[k].bytes;
        skipped += g.st[k].skipped;
        nall += g.st[k].nlat;
    }
    uint32_t *all = malloc((nall + 1) * sizeof(*all));
    size_t m = 0;
    for (int k = 0; k < NKIND; k++) {
        memcpy(all + m, g.st[k].lat_us, g.st[k].nlat * sizeof(*all));
        m += g.st[k].nlat;
        qsort(g.st[k].lat_us, g.st[k].nlat, sizeof(uint32_t), cmp_u32);
    }
    qsort(all, nall, sizeof(*all), cmp_u32);

    printf("\nscheduler CPU, %% of one core (utime+stime of /proc/%d/stat):\n", pid);
    printf("  baseline, no HTTP load:  %6.2f%%  (%.1f s)\n", base.cpu_pct, base.wall_s);
    threads_diff(&base, tck, pid);
    char with[64];
    snprintf(with, sizeof(with), "with %d browsers:", nb);
    printf("  %-24s %6.2f%%  (%.1f s, after %.0f s of warm-up)\n", with, load.cpu_pct, load.wall_s,
           warmup);
    threads_diff(&load, tck, pid);
    printf("  difference:              %6.2f%%  of one core (the requirement: at most 5%%)\n",
           load.cpu_pct - base.cpu_pct);
    printf("\nserved: %llu requests, %.1f/s; %llu errors (not 200 or failed); %llu polls skipped "
           "(their previous answer not in yet)\n",
           (unsigned long long)req, req / load.wall_s, (unsigned long long)err,
           (unsigned long long)skipped);
    printf("latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms; %.2f MB/s (%.0f KB/s)\n",
           pct(all, nall, 0.50), pct(all, nall, 0.99), nall ? all[nall - 1] / 1000.0 : 0.0,
           bytes / load.wall_s / 1e6, bytes / load.wall_s / 1e3);
    printf("  %-9s %8s %8s %7s %10s %10s %10s %12s\n", "endpoint", "requests", "per s", "errors",
           "p50 ms", "p99 ms", "max ms", "bytes/answer");
    for (int k = 0; k < NKIND; k++) {
        stat_kind_t *s = &g.st[k];
        printf("  %-9s %8llu %8.1f %7llu %10.2f %10.2f %10.2f %12.0f\n", kind_name[k],
               (unsigned long long)s->requests, s->requests / load.wall_s,
               (unsigned long long)s->errors, pct(s->lat_us, s->nlat, 0.5),
               pct(s->lat_us, s->nlat, 0.99), s->nlat ? s->lat_us[s->nlat - 1] / 1000.0 : 0.0,
               s->requests ? (double)s->bytes / (double)s->requests : 0.0);
    }
    printf("connections: %d browsers, %llu opened in the window, %llu closed by the server, %llu "
           "connection errors\n",
           nb, (unsigned long long)(g.connects - connects0), (unsigned long long)g.closed_by_server,
           (unsigned long long)g.conn_errors);
    printf("the generator itself: %.2f%% of one core with load (%ld CPUs on this machine)\n",
           load.self_pct, ncpu);
    free(all);
    for (int k = 0; k < NKIND; k++)
        free(g.st[k].lat_us);
    free(bs);
    return 0;
}
