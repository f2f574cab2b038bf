/* Hashing an attempt's declared outputs; see outputs.h.
 *
 * A path is checked by its text first (relative, no ".."), then resolved
 * with realpath() and required to lie in the working directory's real
 * path; what it names is looked at without following a final symbolic
 * link before it is opened (a device is never opened), then opened without
 * following one, and the descriptor's own path (/proc/self/fd) is checked
 * again, so a link swapped in between is not followed out either. Inside a
 * directory output every entry is opened relative to its parent's
 * descriptor with O_NOFOLLOW: symbolic links there are skipped, never
 * followed. A file on a kernel file system (/proc, /sys...) is refused:
 * its "content" is made up as it is read.
 *
 * The thread doing the work takes the task user's file system identity
 * (setfsuid, setfsgid and the groups, made as raw system calls: they then
 * apply to that thread alone, where glibc's setgroups() would change every
 * thread of the worker) and gives it back before it returns. */
#include "worker/outputs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/grow.h"
#include "proto/sha256.h"
#include "worker/outputs_private.h"

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

/* Whether a file system is one the kernel makes up (its files are no data
 * of the task's, and reading some of them never ends or has effects). */
static bool kernel_fs(long type)
{
    static const long types[] = {
        PROC_SUPER_MAGIC, SYSFS_MAGIC,        DEBUGFS_MAGIC,       TRACEFS_MAGIC,
        SECURITYFS_MAGIC, CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, DEVPTS_SUPER_MAGIC,
        BPF_FS_MAGIC,     EFIVARFS_MAGIC,     PSTOREFS_MAGIC,
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (type == types[i])
            return true;
    return false;
}

bool outputs_fd_on_kernel_fs(int fd)
{
    struct statfs sf;
    return fstatfs(fd, &sf) == 0 && kernel_fs((long)sf.f_type);
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

bool outputs_fd_within(int fd, const char *root)
{
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n < 0)
        return true; /* no /proc: the realpath() check stands alone */
    target[n] = '\0';
    return within(root, target);
}

/* Feed everything readable from fd into c, within the run's budget. 0,
 * -ECANCELED, -EFBIG (over the budget) or -errno. */
static int hash_fd(int fd, cairn_sha256_ctx_t *c, uint64_t *size, hash_run_t *run)
{
    for (;;) {
        if (cancelled(run->cancel))
            return -ECANCELED;
        ssize_t n = read(fd, run->buf, OUTPUT_READ_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        if ((uint64_t)n > run->left)
            return -EFBIG; /* a file growing while read, or lying about its size */
        if (run->left != UINT64_MAX)
            run->left -= (uint64_t)n;
        cairn_sha256_update(c, run->buf, (size_t)n);
        *size += (uint64_t)n;
    }
}

int outputs_hash_file(int fd, uint64_t st_size, char hex[65], uint64_t *size, hash_run_t *run)
{
    cairn_sha256_ctx_t c;
    uint8_t d[CAIRN_SHA256_LEN];
    if (st_size > run->left)
        return -EFBIG;
    cairn_sha256_init(&c);
    *size = 0;
    int r = hash_fd(fd, &c, size, run);
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
    hash_run_t *run;
    char error[160]; /* set with a negative return */
} dir_walk_t;

static int walk_fail(dir_walk_t *w, int rc, const char *rel, const char *what)
{
    if (rc == -ECANCELED)
        snprintf(w->error, sizeof(w->error), NOT_HASHED_CANCELLED);
    else if (rc == -EFBIG)
        snprintf(w->error, sizeof(w->error), NOT_HASHED_TOO_LARGE);
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
    if (CAIRN_GROW(w->v, w->cap, w->n + 1) < 0) {
        free(rel);
        snprintf(w->error, sizeof(w->error), "out of memory");
        return -ENOMEM;
    }
    w->v[w->n].rel = rel;
    memcpy(w->v[w->n].hex, hex, 65);
    w->n++;
    w->size += size;
    return 0;
}

/* One entry of a directory open as dfd (on device dev): rel is its
 * relative path (owned). */
static int walk_dir(dir_walk_t *w, int dfd, const char *prefix, int depth);

static int walk_entry(dir_walk_t *w, int dfd, dev_t dev, const char *name, char *rel, int depth)
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
    } else if (st.st_dev != dev && outputs_fd_on_kernel_fs(fd)) {
        snprintf(w->error, sizeof(w->error), "'%s' is on a kernel file system: refused", rel);
        rc = -EPERM;
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
        rc = outputs_hash_file(fd, (uint64_t)st.st_size, hex, &size, w->run);
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
    struct stat st;
    DIR *dir = fstat(dfd, &st) == 0 ? fdopendir(dfd) : NULL;
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
        if (cancelled(w->run->cancel)) {
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
        if ((rc = walk_entry(w, dirfd(dir), st.st_dev, e->d_name, rel, depth)) < 0)
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
static void hash_dir(int fd, worker_output_t *o, hash_run_t *run)
{
    dir_walk_t w = {.run = run};
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
static int hash_one(const char *root, worker_output_t *o, hash_run_t *run)
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
    if (cancelled(run->cancel))
        return set_error(o, NOT_HASHED_CANCELLED);
    int n = snprintf(joined, sizeof(joined), "%s/%s", root, p);
    if (n < 0 || (size_t)n >= sizeof(joined))
        return set_error(o, "path too long");
    if (!realpath(joined, real))
        return errno == ENOENT || errno == ENOTDIR
                   ? set_error(o, "missing")
                   : set_error(o, "cannot resolve: %s", strerror(errno));
    if (!within(root, real))
        return set_error(o, "outside the working directory");
    /* a device is never opened (opening one can act on it), a FIFO never
     * waited on */
    if (lstat(real, &st) < 0)
        return errno == ENOENT ? set_error(o, "missing")
                               : set_error(o, "cannot stat: %s", strerror(errno));
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
        return set_error(o, "not a regular file or directory");
    int fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return errno == ENOENT ? set_error(o, "missing")
                               : set_error(o, "cannot open: %s", strerror(errno));
    if (!outputs_fd_within(fd, root)) {
        close(fd);
        return set_error(o, "outside the working directory");
    }
    uint64_t left = run->left;
    if (fstat(fd, &st) < 0) {
        set_error(o, "cannot stat: %s", strerror(errno));
    } else if (outputs_fd_on_kernel_fs(fd)) {
        set_error(o, "on a kernel file system: refused");
    } else if (S_ISDIR(st.st_mode)) {
        hash_dir(fd, o, run); /* takes fd */
        fd = -1;
    } else if (S_ISREG(st.st_mode)) {
        int rc = outputs_hash_file(fd, (uint64_t)st.st_size, o->sha256, &o->size, run);
        if (rc == -ECANCELED)
            set_error(o, NOT_HASHED_CANCELLED);
        else if (rc == -EFBIG)
            set_error(o, NOT_HASHED_TOO_LARGE);
        else if (rc < 0)
            set_error(o, "cannot read: %s", strerror(-rc));
    } else {
        set_error(o, "not a regular file or directory");
    }
    if (fd >= 0)
        close(fd);
    if (o->error[0])
        run->left = left; /* what it read does not count: the next may still fit */
    return o->error[0] ? -1 : 0;
}

/* ---- the task's rights ------------------------------------------------------- */

/* The thread's groups, as the raw system call sets them for this thread
 * alone. */
static int thread_setgroups(int n, const gid_t *groups)
{
    return syscall(SYS_setgroups, (size_t)n, groups) < 0 ? -errno : 0;
}

/* Whether the thread's file system uid and gid are these (setfsuid(-1)
 * changes nothing and answers the current one). */
static bool fs_ident_is(uid_t uid, gid_t gid)
{
    return (uid_t)setfsuid((uid_t)-1) == uid && (gid_t)setfsgid((gid_t)-1) == gid;
}

int outputs_fs_ident_take(const worker_identity_t *as, fs_ident_t *save)
{
    memset(save, 0, sizeof(*save));
    if (!as || !as->set)
        return 0;
    int n = getgroups(0, NULL);
    if (n < 0 || !(save->groups = malloc((size_t)(n ? n : 1) * sizeof(gid_t))))
        return -ENOMEM;
    if ((save->ngroups = getgroups(n, save->groups)) < 0) {
        free(save->groups);
        return -errno;
    }
    save->fsuid = (uid_t)setfsuid((uid_t)-1);
    save->fsgid = (gid_t)setfsgid((gid_t)-1);
    save->taken = true;
    int r = thread_setgroups(as->ngroups, as->groups);
    if (r == 0) {
        setfsgid(as->gid);
        setfsuid(as->uid);
        r = fs_ident_is(as->uid, as->gid) ? 0 : -EPERM;
    }
    return r;
}

void outputs_fs_ident_give_back(fs_ident_t *save)
{
    if (!save->taken)
        return;
    setfsuid(save->fsuid);
    setfsgid(save->fsgid);
    if (thread_setgroups(save->ngroups, save->groups) < 0 ||
        !fs_ident_is(save->fsuid, save->fsgid)) {
        static const char msg[] = "cairn-worker: cannot give a hashing thread its identity back\n";
        (void)!write(2, msg, sizeof(msg) - 1);
        abort();
    }
    free(save->groups);
    save->groups = NULL;
    save->taken = false;
}

/* ---- all outputs ------------------------------------------------------------- */

/* worker_outputs_hash(); done (if not NULL) counts the outputs finished,
 * each published once it is (release). */
static void hash_all(const char *workdir, const char *const *paths, size_t n, worker_output_t *out,
                     const worker_outputs_opts_t *opts, const atomic_bool *cancel,
                     atomic_size_t *done)
{
    char root[PATH_MAX], why[128] = "";
    fs_ident_t save;
    hash_run_t run = {.cancel = cancel, .left = UINT64_MAX};
    if (opts && opts->max_bytes)
        run.left = opts->max_bytes;
    int r = outputs_fs_ident_take(opts ? opts->as : NULL, &save);
    if (r < 0)
        snprintf(why, sizeof(why), "cannot take the task's identity: %s", strerror(-r));
    bool have_root = r == 0 && workdir && realpath(workdir, root);
    int root_errno = errno;
    if (r == 0 && !have_root)
        snprintf(why, sizeof(why), "working directory: %s",
                 workdir ? strerror(root_errno) : "unknown");
    if (!why[0] && !(run.buf = malloc(OUTPUT_READ_CHUNK)))
        snprintf(why, sizeof(why), "out of memory");

    for (size_t i = 0; i < n; i++) {
        worker_output_t *o = &out[i];
        memset(o, 0, sizeof(*o));
        o->path = paths[i];
        if (why[0])
            set_error(o, "%s", why);
        else
            (void)hash_one(root, o, &run);
        if (done)
            atomic_store_explicit(done, i + 1, memory_order_release);
    }
    free(run.buf);
    outputs_fs_ident_give_back(&save);
}

void worker_outputs_hash(const char *workdir, const char *const *paths, size_t n,
                         worker_output_t *out, const worker_outputs_opts_t *opts,
                         const atomic_bool *cancel)
{
    hash_all(workdir, paths, n, out, opts, cancel, NULL);
}

/* ---- off the loop thread ----------------------------------------------------
 *
 * The pool thread fills out[] and publishes how many are final (done).
 * The callback is made once, on the loop: when the work is done, or at
 * once when the time budget runs out or a cancel comes (the timer), with
 * the outputs published by then and the reason for the rest; the thread
 * is told to stop and its later results are dropped. The job is freed
 * when both the work and the timer are through. */

struct worker_outputs {
    uv_work_t req;
    uv_timer_t timer; /* the time budget; a cancel's callback */
    uint64_t id;
    char *workdir;
    char **paths;
    size_t n;
    worker_output_t *out;
    worker_identity_t as;
    worker_outputs_opts_t opts;
    worker_outputs_f cb;
    void *arg;
    atomic_bool cancel;
    atomic_size_t done;
    bool list;               /* a listing of workdir (worker_outputs_list_start) */
    worker_output_t *listed; /* its result */
    size_t nlisted;
    /* loop thread only */
    const char *why; /* the error of the outputs not done when stopped */
    bool reported;   /* the callback was made, or never will be */
    bool work_over, timer_over;
};

static void job_free(worker_outputs_t *j)
{
    for (size_t i = 0; j->paths && i < j->n; i++)
        free(j->paths[i]);
    free(j->paths);
    free(j->workdir);
    free(j->out);
    worker_outputs_list_free(j->listed, j->nlisted);
    free(j);
}

static void job_release(worker_outputs_t *j)
{
    if (j->work_over && j->timer_over)
        job_free(j);
}

static void timer_closed_cb(uv_handle_t *h)
{
    worker_outputs_t *j = h->data;
    j->timer_over = true;
    job_release(j);
}

static void timer_close(worker_outputs_t *j)
{
    if (!uv_is_closing((uv_handle_t *)&j->timer))
        uv_close((uv_handle_t *)&j->timer, timer_closed_cb);
}

static void work_cb(uv_work_t *req)
{
    worker_outputs_t *j = req->data;
    if (j->list) {
        if (worker_outputs_list(j->workdir, &j->opts, &j->cancel, &j->listed, &j->nlisted) < 0)
            j->listed = NULL, j->nlisted = 0;
        return;
    }
    hash_all(j->workdir, (const char *const *)j->paths, j->n, j->out, &j->opts, &j->cancel,
             &j->done);
}

static void after_work_cb(uv_work_t *req, int status)
{
    worker_outputs_t *j = req->data;
    j->work_over = true;
    if (!j->reported && status == 0 && j->cb) {
        j->reported = true;
        timer_close(j); /* before the callback, which may drop the job */
        if (j->list)
            j->cb(j->id, j->listed, j->nlisted, j->arg);
        else
            j->cb(j->id, j->out, j->n, j->arg);
    }
    timer_close(j);
    job_release(j);
}

/* Stopped (time budget, cancel): report what is done now. */
static void stop_cb(uv_timer_t *t)
{
    worker_outputs_t *j = t->data;
    if (j->reported)
        return;
    j->reported = true;
    atomic_store(&j->cancel, true);
    size_t done = atomic_load_explicit(&j->done, memory_order_acquire);
    if (j->list) { /* the listing is whole or nothing: one entry says why */
        worker_output_t one = {.path = "."};
        snprintf(one.error, sizeof(one.error), "%s", j->why);
        timer_close(j);
        if (j->cb)
            j->cb(j->id, &one, 1, j->arg);
        return;
    }
    worker_output_t *out = calloc(j->n + 1, sizeof(*out));
    for (size_t i = 0; out && i < j->n; i++) {
        if (i < done) {
            out[i] = j->out[i];
        } else {
            out[i].path = j->paths[i];
            snprintf(out[i].error, sizeof(out[i].error), "%s", j->why);
        }
    }
    timer_close(j); /* the job lives on until the work is over too */
    if (j->cb)      /* out of memory: reported without outputs */
        j->cb(j->id, out, out ? j->n : 0, j->arg);
    free(out);
}

/* worker_outputs_start(), or a listing of workdir (list). */
static int job_start(uv_loop_t *loop, uint64_t id, const char *workdir, const char *const *paths,
                     size_t n, bool list, const worker_outputs_opts_t *opts, worker_outputs_f cb,
                     void *arg, worker_outputs_t **job, cairn_error_t *err)
{
    worker_outputs_t *j = calloc(1, sizeof(*j));
    if (!j)
        return errcode(err, -ENOMEM, "out of memory");
    j->list = list;
    j->id = id;
    j->n = n;
    j->cb = cb;
    j->arg = arg;
    j->why = NOT_HASHED_TOO_LONG;
    if (opts) {
        j->opts = *opts;
        if (opts->as)
            j->as = *opts->as;
    }
    j->opts.as = &j->as;
    atomic_init(&j->cancel, false);
    atomic_init(&j->done, 0);
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
    uv_timer_init(loop, &j->timer);
    j->timer.data = j;
    if (j->opts.timeout_ms)
        uv_timer_start(&j->timer, stop_cb, j->opts.timeout_ms, 0);
    *job = j;
    return 0;
}

int worker_outputs_start(uv_loop_t *loop, uint64_t id, const char *workdir,
                         const char *const *paths, size_t n, const worker_outputs_opts_t *opts,
                         worker_outputs_f cb, void *arg, worker_outputs_t **job, cairn_error_t *err)
{
    return job_start(loop, id, workdir, paths, n, false, opts, cb, arg, job, err);
}

int worker_outputs_list_start(uv_loop_t *loop, uint64_t id, const char *dir,
                              const worker_outputs_opts_t *opts, worker_outputs_f cb, void *arg,
                              worker_outputs_t **job, cairn_error_t *err)
{
    return job_start(loop, id, dir, NULL, 0, true, opts, cb, arg, job, err);
}

void worker_outputs_cancel(worker_outputs_t *job)
{
    if (!job || job->reported || uv_is_closing((uv_handle_t *)&job->timer))
        return;
    job->why = NOT_HASHED_CANCELLED;
    atomic_store(&job->cancel, true);
    uv_timer_start(&job->timer, stop_cb, 0, 0); /* from the loop, not from here */
}

void worker_outputs_abandon(worker_outputs_t *job)
{
    if (!job)
        return;
    job->reported = true;
    atomic_store(&job->cancel, true);
    timer_close(job);
    (void)uv_cancel((uv_req_t *)&job->req); /* still queued: after_work_cb with UV_ECANCELED */
}
