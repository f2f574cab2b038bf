/* Hashing an attempt's declared outputs; see outputs.h.
 *
 * A path is checked by its text first (relative, no ".."), then resolved
 * with realpath() and required to lie in the working directory's real
 * path; the resolved path is opened without following a final symbolic
 * link and the descriptor's own path (/proc/self/fd) is checked again, so
 * a link swapped in between is not followed out either. Inside a
 * directory output every entry is opened relative to its parent's
 * descriptor with O_NOFOLLOW: symbolic links there are skipped, never
 * followed. */
#include "outputs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sha256.h"

#define OUTPUT_READ_CHUNK (1u << 20)
#define OUTPUT_DIR_DEPTH_MAX 256

/* Record why o was not hashed; returns -1. */
static int set_error(worker_output_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int set_error(worker_output_t *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->error, sizeof(o->error), fmt, ap);
    va_end(ap);
    o->sha256[0] = '\0';
    o->size = 0;
    return -1;
}

static bool cancelled(const atomic_bool *cancel)
{
    return cancel && atomic_load_explicit(cancel, memory_order_relaxed);
}

/* Whether a path names a ".." component. */
static bool has_dotdot(const char *p)
{
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return true;
        p += len;
        while (*p == '/')
            p++;
    }
    return false;
}

/* Whether the absolute path p is root or lies below it. */
static bool within(const char *root, const char *p)
{
    size_t len = strlen(root);
    if (len == 1 && root[0] == '/')
        return p[0] == '/';
    return strncmp(p, root, len) == 0 && (p[len] == '\0' || p[len] == '/');
}

/* Whether what fd names lies in root (true when /proc cannot tell). */
static bool fd_within(int fd, const char *root)
{
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n < 0)
        return true; /* no /proc: the realpath() check stands alone */
    target[n] = '\0';
    return within(root, target);
}

/* Feed everything readable from fd into c. 0, -ECANCELED or -errno. */
static int hash_fd(int fd, cairn_sha256_ctx_t *c, uint64_t *size, uint8_t *buf,
                   const atomic_bool *cancel)
{
    for (;;) {
        if (cancelled(cancel))
            return -ECANCELED;
        ssize_t n = read(fd, buf, OUTPUT_READ_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        cairn_sha256_update(c, buf, (size_t)n);
        *size += (uint64_t)n;
    }
}

/* The hex digest and size of a regular file open at fd. */
static int hash_file(int fd, char hex[65], uint64_t *size, uint8_t *buf, const atomic_bool *cancel)
{
    cairn_sha256_ctx_t c;
    uint8_t d[CAIRN_SHA256_LEN];
    cairn_sha256_init(&c);
    *size = 0;
    int r = hash_fd(fd, &c, size, buf, cancel);
    if (r < 0)
        return r;
    cairn_sha256_final(&c, d);
    cairn_sha256_to_hex(d, hex);
    return 0;
}

/* ---- directories ---------------------------------------------------------- */

typedef struct dir_file {
    char *rel; /* relative to the output directory, '/' separated */
    char hex[65];
} dir_file_t;

typedef struct dir_walk {
    dir_file_t *v;
    size_t n, cap;
    uint64_t size;
    uint8_t *buf;
    const atomic_bool *cancel;
    char error[160]; /* set with a negative return */
} dir_walk_t;

static int walk_fail(dir_walk_t *w, int rc, const char *rel, const char *what)
{
    if (rc == -ECANCELED)
        snprintf(w->error, sizeof(w->error), "cancelled");
    else
        snprintf(w->error, sizeof(w->error), "%s '%s': %s", what, rel, strerror(-rc));
    return rc;
}

static int walk_add(dir_walk_t *w, char *rel, const char hex[65], uint64_t size)
{
    if (w->n == WORKER_OUTPUT_DIR_FILES_MAX) {
        free(rel);
        snprintf(w->error, sizeof(w->error), "more than %d files", WORKER_OUTPUT_DIR_FILES_MAX);
        return -EFBIG;
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        dir_file_t *v = realloc(w->v, cap * sizeof(*v));
        if (!v) {
            free(rel);
            snprintf(w->error, sizeof(w->error), "out of memory");
            return -ENOMEM;
        }
        w->v = v;
        w->cap = cap;
    }
    w->v[w->n].rel = rel;
    memcpy(w->v[w->n].hex, hex, 65);
    w->n++;
    w->size += size;
    return 0;
}

/* One entry of a directory open as dfd: rel is its relative path (owned). */
static int walk_dir(dir_walk_t *w, int dfd, const char *prefix, int depth);

static int walk_entry(dir_walk_t *w, int dfd, const char *name, char *rel, int depth)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        int rc = walk_fail(w, -errno, rel, "cannot stat");
        free(rel);
        return rc;
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
        free(rel); /* symbolic links, sockets, fifos, devices: not part of it */
        return 0;
    }
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int rc = walk_fail(w, -errno, rel, "cannot open");
        free(rel);
        return rc;
    }
    int rc;
    if (fstat(fd, &st) < 0) {
        rc = walk_fail(w, -errno, rel, "cannot stat");
    } else if (S_ISDIR(st.st_mode)) {
        if (depth >= OUTPUT_DIR_DEPTH_MAX) {
            close(fd);
            rc = walk_fail(w, -ELOOP, rel, "too deep at");
            free(rel);
            return rc;
        }
        rc = walk_dir(w, fd, rel, depth + 1); /* takes fd */
        free(rel);
        return rc;
    } else if (S_ISREG(st.st_mode)) {
        char hex[65];
        uint64_t size = 0;
        rc = hash_file(fd, hex, &size, w->buf, w->cancel);
        if (rc < 0) {
            walk_fail(w, rc, rel, "cannot read");
        } else {
            close(fd);
            return walk_add(w, rel, hex, size);
        }
    } else {
        rc = 0; /* replaced meanwhile by something that is not part of it */
    }
    close(fd);
    free(rel);
    return rc;
}

/* Walk the directory open as dfd (taken: closed here). */
static int walk_dir(dir_walk_t *w, int dfd, const char *prefix, int depth)
{
    DIR *dir = fdopendir(dfd);
    if (!dir) {
        int rc = walk_fail(w, -errno, prefix[0] ? prefix : ".", "cannot read directory");
        close(dfd);
        return rc;
    }
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(dir);
        if (!e) {
            if (errno)
                rc = walk_fail(w, -errno, prefix[0] ? prefix : ".", "cannot read directory");
            break;
        }
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (cancelled(w->cancel)) {
            rc = walk_fail(w, -ECANCELED, prefix, "");
            break;
        }
        char *rel = NULL;
        if ((prefix[0] ? asprintf(&rel, "%s/%s", prefix, e->d_name)
                       : asprintf(&rel, "%s", e->d_name)) < 0) {
            snprintf(w->error, sizeof(w->error), "out of memory");
            rc = -ENOMEM;
            break;
        }
        if ((rc = walk_entry(w, dirfd(dir), e->d_name, rel, depth)) < 0)
            break;
    }
    closedir(dir);
    return rc;
}

static int dir_file_cmp(const void *a, const void *b)
{
    return strcmp(((const dir_file_t *)a)->rel, ((const dir_file_t *)b)->rel);
}

/* The directory digest: SHA-256 over "<hex>  <rel>\n" of every regular
 * file, sorted bytewise by rel (sha256sum's output format). */
static void hash_dir(int fd, worker_output_t *o, uint8_t *buf, const atomic_bool *cancel)
{
    dir_walk_t w = {.buf = buf, .cancel = cancel};
    int rc = walk_dir(&w, fd, "", 0);
    if (rc == 0) {
        cairn_sha256_ctx_t c;
        uint8_t d[CAIRN_SHA256_LEN];
        if (w.n > 1)
            qsort(w.v, w.n, sizeof(*w.v), dir_file_cmp);
        cairn_sha256_init(&c);
        for (size_t i = 0; i < w.n; i++) {
            cairn_sha256_update(&c, w.v[i].hex, 64);
            cairn_sha256_update(&c, "  ", 2);
            cairn_sha256_update(&c, w.v[i].rel, strlen(w.v[i].rel));
            cairn_sha256_update(&c, "\n", 1);
        }
        cairn_sha256_final(&c, d);
        cairn_sha256_to_hex(d, o->sha256);
        o->size = w.size;
    } else {
        set_error(o, "%s", w.error);
    }
    for (size_t i = 0; i < w.n; i++)
        free(w.v[i].rel);
    free(w.v);
}

/* ---- one output ------------------------------------------------------------ */

/* Hash o->path relative to root (a real path). 0, or -1 with o->error. */
static int hash_one(const char *root, worker_output_t *o, uint8_t *buf, const atomic_bool *cancel)
{
    const char *p = o->path;
    char joined[PATH_MAX], real[PATH_MAX];
    struct stat st;

    if (!p || !p[0])
        return set_error(o, "empty path");
    if (p[0] == '/')
        return set_error(o, "absolute path");
    if (has_dotdot(p))
        return set_error(o, "'..' in path");
    if (strlen(p) > WORKER_OUTPUT_PATH_MAX)
        return set_error(o, "path too long");
    if (cancelled(cancel))
        return set_error(o, "cancelled");
    int n = snprintf(joined, sizeof(joined), "%s/%s", root, p);
    if (n < 0 || (size_t)n >= sizeof(joined))
        return set_error(o, "path too long");
    if (!realpath(joined, real))
        return errno == ENOENT || errno == ENOTDIR
                   ? set_error(o, "missing")
                   : set_error(o, "cannot resolve: %s", strerror(errno));
    if (!within(root, real))
        return set_error(o, "outside the working directory");
    int fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? set_error(o, "missing")
                               : set_error(o, "cannot open: %s", strerror(errno));
    if (!fd_within(fd, root)) {
        close(fd);
        return set_error(o, "outside the working directory");
    }
    if (fstat(fd, &st) < 0) {
        set_error(o, "cannot stat: %s", strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        hash_dir(fd, o, buf, cancel); /* takes fd */
        return o->error[0] ? -1 : 0;
    } else if (S_ISREG(st.st_mode)) {
        int rc = hash_file(fd, o->sha256, &o->size, buf, cancel);
        if (rc == -ECANCELED)
            set_error(o, "cancelled");
        else if (rc < 0)
            set_error(o, "cannot read: %s", strerror(-rc));
    } else {
        set_error(o, "not a regular file or directory");
    }
    close(fd);
    return o->error[0] ? -1 : 0;
}

void worker_outputs_hash(const char *workdir, const char *const *paths, size_t n,
                         worker_output_t *out, const atomic_bool *cancel)
{
    char root[PATH_MAX];
    bool have_root = workdir && realpath(workdir, root);
    int root_errno = errno;
    uint8_t *buf = malloc(OUTPUT_READ_CHUNK);

    for (size_t i = 0; i < n; i++) {
        worker_output_t *o = &out[i];
        memset(o, 0, sizeof(*o));
        o->path = paths[i];
        if (!have_root)
            set_error(o, "working directory: %s", workdir ? strerror(root_errno) : "unknown");
        else if (!buf)
            set_error(o, "out of memory");
        else
            (void)hash_one(root, o, buf, cancel);
    }
    free(buf);
}

/* ---- off the loop thread ---------------------------------------------------- */

struct worker_outputs {
    uv_work_t req;
    uint64_t id;
    char *workdir;
    char **paths;
    size_t n;
    worker_output_t *out;
    worker_outputs_cb cb;
    void *arg;
    atomic_bool cancel;
    bool abandoned; /* loop thread only */
};

static void job_free(worker_outputs_t *j)
{
    for (size_t i = 0; j->paths && i < j->n; i++)
        free(j->paths[i]);
    free(j->paths);
    free(j->workdir);
    free(j->out);
    free(j);
}

static void work_cb(uv_work_t *req)
{
    worker_outputs_t *j = req->data;
    worker_outputs_hash(j->workdir, (const char *const *)j->paths, j->n, j->out, &j->cancel);
}

static void after_work_cb(uv_work_t *req, int status)
{
    worker_outputs_t *j = req->data;
    if (!j->abandoned && status == 0 && j->cb)
        j->cb(j->id, j->out, j->n, j->arg);
    job_free(j);
}

int worker_outputs_start(uv_loop_t *loop, uint64_t id, const char *workdir,
                         const char *const *paths, size_t n, worker_outputs_cb cb, void *arg,
                         worker_outputs_t **job, cairn_error_t *err)
{
    worker_outputs_t *j = calloc(1, sizeof(*j));
    if (!j)
        return errcode(err, -ENOMEM, "out of memory");
    j->id = id;
    j->n = n;
    j->cb = cb;
    j->arg = arg;
    atomic_init(&j->cancel, false);
    j->workdir = strdup(workdir ? workdir : "");
    j->paths = calloc(n + 1, sizeof(*j->paths));
    j->out = calloc(n + 1, sizeof(*j->out));
    bool ok = j->workdir && j->paths && j->out;
    for (size_t i = 0; ok && i < n; i++)
        ok = (j->paths[i] = strdup(paths[i])) != NULL;
    if (!ok) {
        job_free(j);
        return errcode(err, -ENOMEM, "out of memory");
    }
    j->req.data = j;
    int rc = uv_queue_work(loop, &j->req, work_cb, after_work_cb);
    if (rc < 0) {
        job_free(j);
        return errcode(err, rc, "cannot queue the hashing: %s", uv_strerror(rc));
    }
    *job = j;
    return 0;
}

void worker_outputs_abandon(worker_outputs_t *job)
{
    if (!job)
        return;
    job->abandoned = true;
    atomic_store(&job->cancel, true);
    (void)uv_cancel((uv_req_t *)&job->req); /* still queued: after_work_cb with UV_ECANCELED */
}
