/* Listing a checkpoint directory: its regular files, sorted by relative
 * path, each with size, SHA-256 and mtime (outputs.h).
 *
 * First the walk, with the task's file system identity: every entry is
 * looked at relative to its parent's descriptor without following a
 * symbolic link (links, devices, FIFOs and sockets are not part of it),
 * directories are entered with O_NOFOLLOW, and nothing on a kernel file
 * system is read. Then the files are hashed in the sorted order (so a byte
 * budget too small for all of them always leaves out the same ones), each
 * opened again relative to the directory with O_NOFOLLOW and checked to
 * lie under it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/grow.h"
#include "worker/outputs_private.h"

#define LIST_DEPTH_MAX 256

typedef struct list {
    worker_output_t *v;
    size_t n, cap;
    bool full; /* WORKER_OUTPUT_DIR_FILES_MAX reached: said once */
    const atomic_bool *cancel;
} list_t;

/* A new entry for rel (taken); NULL when out of memory (rel freed). */
static worker_output_t *list_add(list_t *l, char *rel)
{
    if (CAIRN_GROW(l->v, l->cap, l->n + 1) < 0) {
        free(rel);
        return NULL;
    }
    worker_output_t *o = &l->v[l->n++];
    memset(o, 0, sizeof(*o));
    o->path = rel;
    return o;
}

/* An entry that says why rel (a copy is made) was not listed or hashed:
 * "what" and, e not 0, ": strerror(e)". 0 or -ENOMEM. */
static int list_error(list_t *l, const char *rel, const char *what, int e)
{
    char *p = strdup(rel);
    worker_output_t *o = p ? list_add(l, p) : NULL;
    if (!o)
        return -ENOMEM;
    snprintf(o->error, sizeof(o->error), "%s%s%s", what, e ? ": " : "", e ? strerror(e) : "");
    return 0;
}

static bool stopped(const list_t *l)
{
    return l->cancel && atomic_load_explicit(l->cancel, memory_order_relaxed);
}

/* The regular files under the directory open at dfd (taken), named
 * relative to the listed directory with prefix. */
static int walk(list_t *l, int dfd, const char *prefix, dev_t dev, int depth)
{
    DIR *dir = fdopendir(dfd);
    if (!dir) {
        int e = errno;
        close(dfd);
        return list_error(l, prefix[0] ? prefix : ".", "cannot read directory", e);
    }
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(dir);
        if (!e) {
            if (errno)
                rc = list_error(l, prefix[0] ? prefix : ".", "cannot read directory", errno);
            break;
        }
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || stopped(l))
            continue;
        char *rel = NULL;
        if ((prefix[0] ? asprintf(&rel, "%s/%s", prefix, e->d_name)
                       : asprintf(&rel, "%s", e->d_name)) < 0) {
            rc = -ENOMEM;
            break;
        }
        struct stat st;
        if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            rc = list_error(l, rel, "cannot stat", errno);
            free(rel);
        } else if (S_ISREG(st.st_mode)) {
            if (l->n >= WORKER_OUTPUT_DIR_FILES_MAX) {
                if (!l->full)
                    rc = list_error(l, rel, "not listed: more than 1000000 files", 0);
                l->full = true;
                free(rel);
            } else if (!list_add(l, rel)) {
                rc = -ENOMEM;
            }
        } else if (S_ISDIR(st.st_mode) && st.st_dev == dev && depth < LIST_DEPTH_MAX) {
            int sub = openat(dirfd(dir), e->d_name,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
            rc = sub < 0 ? list_error(l, rel, "cannot open", errno)
                         : walk(l, sub, rel, dev, depth + 1);
            free(rel);
        } else if (S_ISDIR(st.st_mode)) {
            /* another file system mounted there, or too deep: not walked */
            rc = list_error(l, rel,
                            depth < LIST_DEPTH_MAX ? "not listed: another file system"
                                                   : "not listed: too deep%s",
                            0);
            free(rel);
        } else {
            free(rel); /* links, devices, FIFOs, sockets: not part of it */
        }
        if (rc < 0)
            break;
    }
    closedir(dir);
    return rc;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const worker_output_t *)a)->path, ((const worker_output_t *)b)->path);
}

/* Hash entry o (no error yet), a file under the directory open at root
 * (real path real). */
static void hash_entry(int root, const char *real, worker_output_t *o, hash_run_t *run)
{
    struct stat st;
    int fd = openat(root, o->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        snprintf(o->error, sizeof(o->error), "cannot open: %s", strerror(errno));
        return;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !outputs_fd_within(fd, real)) {
        snprintf(o->error, sizeof(o->error), "not a regular file under the directory");
    } else {
        o->mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        uint64_t left = run->left;
        int rc = outputs_hash_file(fd, (uint64_t)st.st_size, o->sha256, &o->size, run);
        if (rc < 0) {
            snprintf(o->error, sizeof(o->error), "%s",
                     rc == -ECANCELED ? NOT_HASHED_CANCELLED
                     : rc == -EFBIG   ? NOT_HASHED_TOO_LARGE
                                      : strerror(-rc));
            o->sha256[0] = '\0';
            o->size = (uint64_t)st.st_size;
            run->left = left; /* what it read does not count: the next may still fit */
        }
    }
    close(fd);
}

int worker_outputs_list(const char *dir, const worker_outputs_opts_t *opts,
                        const atomic_bool *cancel, worker_output_t **out, size_t *n)
{
    list_t l = {.cancel = cancel};
    hash_run_t run = {.cancel = cancel, .left = UINT64_MAX};
    fs_ident_t save;
    char real[PATH_MAX];
    int rc = 0, root = -1;
    if (opts && opts->max_bytes)
        run.left = opts->max_bytes;
    *out = NULL;
    *n = 0;
    int r = outputs_fs_ident_take(opts ? opts->as : NULL, &save);
    if (r < 0) {
        rc = list_error(&l, ".", "cannot take the task's identity", -r);
    } else if ((root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK)) < 0) {
        if (errno != ENOENT)
            rc = list_error(&l, ".", "cannot open the directory", errno);
    } else if (!realpath(dir, real)) {
        rc = list_error(&l, ".", "cannot resolve the directory", errno);
    } else if (outputs_fd_on_kernel_fs(root)) {
        rc = list_error(&l, ".", "on a kernel file system: refused", 0);
    } else {
        struct stat st;
        int walked = fstat(root, &st) == 0 ? dup(root) : -1;
        rc = walked < 0 ? list_error(&l, ".", "cannot read directory", errno)
                        : walk(&l, walked, "", st.st_dev, 0);
        if (rc == 0 && l.n > 1)
            qsort(l.v, l.n, sizeof(*l.v), entry_cmp);
        if (rc == 0 && !(run.buf = malloc(OUTPUT_READ_CHUNK)))
            rc = -ENOMEM;
        for (size_t i = 0; rc == 0 && i < l.n; i++)
            if (!l.v[i].error[0])
                hash_entry(root, real, &l.v[i], &run);
    }
    if (root >= 0)
        close(root);
    free(run.buf);
    outputs_fs_ident_give_back(&save);
    if (rc < 0) {
        worker_outputs_list_free(l.v, l.n);
        return rc;
    }
    *out = l.v;
    *n = l.n;
    return 0;
}

void worker_outputs_list_free(worker_output_t *out, size_t n)
{
    for (size_t i = 0; out && i < n; i++)
        free((char *)out[i].path);
    free(out);
}
