/* Task logs: where a task's stdout and stderr go, and where `cairn logs`
 * reads them (exec_private.h, "task logs").
 *
 *   STATE_DIR/logs/               0700, the worker's
 *     .pool/                      0700, the worker's
 *       index                     0600: one record per file N, whose log it holds
 *       N                         0600, its task's user's: an empty file ready
 *                                 for a task, or the log of one not named yet
 *     JOB/                        0700, the job's submitter's (a root worker)
 *       TASK.ATTEMPT.RANK.out|err 0600, the submitter's: a stream with output
 *
 * A task's stdout and stderr are plain files it writes itself (O_APPEND),
 * the worker never in the way, as before. But most tasks write little or
 * nothing, and creating a file is not free (on an ext4 without a journal,
 * after many deletions, 0.1-0.8 ms: docs/performance.md): so a start takes
 * an empty file of the pool instead of creating two (exec_log_take), and
 * when its attempt has ended (its whole tree gone) a file that got output
 * is renamed to the log's name, and an empty one goes back to the pool
 * (exec_log_give). A task that writes nothing creates no file, and its
 * job no directory; its log reads as empty. While the attempt runs, its
 * log is read in the pool (the attempt's id, rank and stream name it).
 *
 * A file goes back to the pool only when no process holds it any more: a
 * write lease is granted only to the sole opener of a file (F_SETLEASE),
 * so a process that escaped its attempt and kept the file open makes the
 * file its attempt's log, named even if empty, as before. And a file is
 * handed out again only to a task of the user it belongs to, so whatever
 * that proof misses (a reader where the kernel does not count readers)
 * never sees another user's output.
 *
 * The index records, before any process can write a file, whose log it
 * is: a worker that died leaves the logs of its running tasks in the
 * pool, and the next one (exec_logs_open, after the leftovers are killed)
 * names them as their attempts would have. A file with output and no
 * record (none can be written before its process exists), and anything
 * else there, is left where it is.
 *
 * The worker never follows a symbolic link to a log (it runs as root and
 * writes or reads where the link points), and reads only regular files
 * with one link. Giving logs/JOB and the files to the submitter keeps their
 * data theirs (quotas, an administrator copying them out) without letting
 * them reach anything of the worker's: logs/ is closed to everyone else. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsperm.h"
#include "common/grow.h"
#include "common/search.h"
#include "worker/exec_private.h"

#define LOG_DIR_MODE 0700
#define LOG_FILE_MODE 0600
#define LOG_TASK_FLAGS (O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW)
#define LOG_READ_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK)
/* Empty files kept for later tasks, beyond those in use: more are removed. */
#define LOG_POOL_FREE_MAX 64
/* An index record: at N * LOG_REC_SIZE for file N. */
#define LOG_REC_SIZE 512
#define LOG_REC_MAGIC "cairnlg1"

enum log_state {
    LOG_FREE,  /* empty, no process holds it: for the next task of its user */
    LOG_USED,  /* an attempt's (prepared, running or ending) */
    LOG_STRAY, /* left where it is: not ours, or its name could not be given */
};

typedef struct log_file {
    uint32_t no; /* its name in the pool */
    enum log_state state;
    int rfd;   /* ours, read-only, kept while LOG_FREE or LOG_USED once looked at (file_idle), or -1
                */
    uid_t uid; /* its owner, as last seen (LOG_FREE) or given */
    gid_t gid;
    mode_t mode;
    /* whose log (LOG_USED, and LOG_STRAY when named): */
    bool owned;
    uint64_t job, attempt;
    uint32_t rank;
    int stream;
    char task[256];
} log_file_t;

struct exec_logs {
    int dirfd;   /* logs/.pool */
    int indexfd; /* logs/.pool/index */
    char logs_dir[PATH_MAX];
    log_file_t *f; /* ascending no */
    size_t n, cap, nfree;
    uint64_t seen_job; /* the job whose directory is seen to, and its owner */
    uid_t seen_uid;
};

/* The record of file no (host byte order: the file is this machine's). */
typedef struct log_rec {
    char magic[8];
    uint32_t no;
    uint32_t rank;
    uint64_t job, attempt;
    uint8_t stream, task_len;
    char task[255];
} log_rec_t;

_Static_assert(sizeof(log_rec_t) <= LOG_REC_SIZE, "an index record fits its slot");

static uint64_t no_key(const void *e)
{
    return ((const log_file_t *)e)->no;
}

static log_file_t *file_find(exec_logs_t *L, uint32_t no)
{
    return cairn_find_sorted(L->f, L->n, sizeof(L->f[0]), no, no_key);
}

static void no_name(uint32_t no, char *buf, size_t len)
{
    snprintf(buf, len, "%" PRIu32, no);
}

/* A new entry for file no, in order; NULL when out of memory. */
static log_file_t *file_add(exec_logs_t *L, uint32_t no)
{
    if (CAIRN_GROW(L->f, L->cap, L->n + 1) < 0)
        return NULL;
    size_t i = cairn_lower_bound(L->f, L->n, sizeof(L->f[0]), no, no_key);
    memmove(&L->f[i + 1], &L->f[i], (L->n - i) * sizeof(L->f[0]));
    L->n++;
    memset(&L->f[i], 0, sizeof(L->f[i]));
    L->f[i].no = no;
    L->f[i].rfd = -1;
    return &L->f[i];
}

static void file_remove(exec_logs_t *L, log_file_t *e)
{
    size_t i = (size_t)(e - L->f);
    if (e->state == LOG_FREE)
        L->nfree--;
    if (e->rfd >= 0)
        close(e->rfd);
    memmove(&L->f[i], &L->f[i + 1], (L->n - i - 1) * sizeof(L->f[0]));
    L->n--;
}

/* Left where it is (not ours, or its name could not be given). */
static void file_stray(log_file_t *e)
{
    e->state = LOG_STRAY;
    if (e->rfd >= 0)
        close(e->rfd);
    e->rfd = -1;
}

static void file_free(exec_logs_t *L, log_file_t *e, const struct stat *st)
{
    e->state = LOG_FREE;
    e->owned = false;
    e->uid = st->st_uid;
    e->gid = st->st_gid;
    e->mode = st->st_mode & 07777;
    L->nfree++;
}

/* ---- paths and the job's directory -------------------------------------- */

bool exec_task_name_ok(const char *name)
{
    return name && name[0] && !strchr(name, '/') && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0 && strlen(name) <= 255;
}

int worker_exec_log_path(const worker_exec_t *x, uint64_t job_id, const char *task_name,
                         uint64_t attempt_id, uint32_t rank, int stream, char *buf, size_t len)
{
    int n;
    if (!x || !buf || (stream != 1 && stream != 2) || !exec_task_name_ok(task_name))
        return -EINVAL;
    n = snprintf(buf, len, "%s/logs/%" PRIu64 "/%s.%" PRIu64 ".%" PRIu32 ".%s", x->state_dir,
                 job_id, task_name, attempt_id, rank, stream == 1 ? "out" : "err");
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    return n;
}

/* The job's log directory (path, a copy of a log's path cut at its last
 * '/'): made when missing, then 0700 and uid's. An existing one of someone
 * else (a job of an earlier scheduler with the same id) changes hands:
 * only the worker can reach it. */
static int job_dir_ensure(char *path, uid_t uid, gid_t gid, cairn_error_t *err)
{
    struct stat st;
    const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int dfd = open(path, flags);
    if (dfd < 0 && errno == ENOENT) {
        /* logs/ too, should someone have removed it */
        int r = exec_mkdir_p(path, LOG_DIR_MODE);
        if (r < 0)
            return errcode(err, r, "cannot make log directory %s: %s", path, strerror(-r));
        dfd = open(path, flags);
    }
    if (dfd < 0)
        return errcode(err, -errno, "log directory %s: %s", path,
                       errno == ENOTDIR || errno == ELOOP ? "not a directory" : strerror(errno));
    int r = 0;
    if (fstat(dfd, &st) < 0)
        r = errcode(err, -errno, "log directory %s: %s", path, strerror(errno));
    else if ((st.st_uid != uid || st.st_gid != gid) && fchown(dfd, uid, gid) < 0)
        r = errcode(err, -errno, "cannot give log directory %s to uid %u: %s", path, (unsigned)uid,
                    strerror(errno));
    else if ((st.st_mode & 07777) != LOG_DIR_MODE && fchmod(dfd, LOG_DIR_MODE) < 0)
        r = errcode(err, -errno, "cannot make log directory %s private: %s", path, strerror(errno));
    close(dfd);
    return r;
}

/* The directory of the log at path: seen to when the job or its owner
 * changed since the last log named, or when again (a log could not be
 * named in it). */
static int log_dir(exec_logs_t *L, char *path, uint64_t job, uid_t uid, gid_t gid, bool again,
                   cairn_error_t *err)
{
    if (!again && L->seen_job == job && L->seen_uid == uid)
        return 0;
    L->seen_job = 0;
    char *slash = strrchr(path, '/');
    *slash = '\0';
    int r = job_dir_ensure(path, uid, gid, err);
    *slash = '/';
    if (r == 0) {
        L->seen_job = job;
        L->seen_uid = uid;
    }
    return r;
}

/* Give file e (with output, or held) its log's name: 0, or -errno. An
 * earlier file of that name (a job of an earlier scheduler with the same
 * ids, or a link planted there) is replaced, never followed. */
static int file_name(worker_exec_t *x, log_file_t *e)
{
    exec_logs_t *L = x->logs;
    char path[PATH_MAX], from[16];
    int r = worker_exec_log_path(x, e->job, e->task, e->attempt, e->rank, e->stream, path,
                                 sizeof(path));
    if (r < 0)
        return r;
    no_name(e->no, from, sizeof(from));
    if ((r = log_dir(L, path, e->job, e->uid, e->gid, false, NULL)) < 0)
        return r;
    if (renameat(L->dirfd, from, AT_FDCWD, path) == 0)
        return 0;
    if (errno != ENOENT || (r = log_dir(L, path, e->job, e->uid, e->gid, true, NULL)) < 0)
        return r < 0 ? r : -errno;
    return renameat(L->dirfd, from, AT_FDCWD, path) == 0 ? 0 : -errno;
}

/* ---- the index ---------------------------------------------------------- */

static int rec_write(exec_logs_t *L, const log_file_t *e)
{
    log_rec_t r;
    memset(&r, 0, sizeof(r));
    memcpy(r.magic, LOG_REC_MAGIC, sizeof(r.magic));
    r.no = e->no;
    r.rank = e->rank;
    r.job = e->job;
    r.attempt = e->attempt;
    r.stream = (uint8_t)e->stream;
    size_t len = strlen(e->task);
    r.task_len = (uint8_t)len;
    memcpy(r.task, e->task, len);
    ssize_t w = pwrite(L->indexfd, &r, sizeof(r), (off_t)e->no * LOG_REC_SIZE);
    return w == (ssize_t)sizeof(r) ? 0 : w < 0 ? -errno : -EIO;
}

/* Read file e's record into e: whether there is a sound one. */
static bool rec_read(exec_logs_t *L, log_file_t *e)
{
    log_rec_t r;
    if (pread(L->indexfd, &r, sizeof(r), (off_t)e->no * LOG_REC_SIZE) != (ssize_t)sizeof(r) ||
        memcmp(r.magic, LOG_REC_MAGIC, sizeof(r.magic)) != 0 || r.no != e->no ||
        (r.stream != 1 && r.stream != 2))
        return false;
    memcpy(e->task, r.task, r.task_len);
    e->task[r.task_len] = '\0';
    if (!exec_task_name_ok(e->task) || strlen(e->task) != r.task_len)
        return false;
    e->job = r.job;
    e->attempt = r.attempt;
    e->rank = r.rank;
    e->stream = r.stream;
    e->owned = true;
    return true;
}

/* ---- taking and giving back ---------------------------------------------- */

/* Whether no process but us holds the file open as fd (our only opening):
 * a write lease is granted only then. */
static bool unheld(int fd)
{
    if (fcntl(fd, F_SETLEASE, F_WRLCK) < 0)
        return false;
    (void)fcntl(fd, F_SETLEASE, F_UNLCK);
    return true;
}

/* Look at file e (through e->rfd, opened the first time and kept: a
 * file goes back to the pool again and again): its state in st, whether
 * it is empty and no process holds it. */
static bool file_idle(exec_logs_t *L, log_file_t *e, struct stat *st)
{
    if (e->rfd < 0) {
        char name[16];
        no_name(e->no, name, sizeof(name));
        int fd = openat(L->dirfd, name, LOG_READ_FLAGS);
        if (fd < 0)
            return false;
        /* a lease's break would be signalled: to a signal that is ignored,
         * should anyone open the file while we hold one */
        if (fcntl(fd, F_SETSIG, SIGURG) < 0) {
            close(fd);
            return false;
        }
        e->rfd = fd;
    }
    return fstat(e->rfd, st) == 0 && S_ISREG(st->st_mode) && st->st_nlink == 1 &&
           st->st_size == 0 && unheld(e->rfd);
}

/* The lowest number no file of the pool has. */
static uint32_t free_no(const exec_logs_t *L)
{
    uint32_t no = 1;
    for (size_t i = 0; i < L->n && L->f[i].no == no; i++)
        no++;
    return no;
}

/* A new empty file for uid (the task's descriptor, or -errno said in
 * err) as *out. */
static int file_create(exec_logs_t *L, uid_t uid, gid_t gid, bool chown, log_file_t **out,
                       cairn_error_t *err)
{
    char name[16];
    for (int tries = 0; tries < 16; tries++) {
        uint32_t no = free_no(L);
        no_name(no, name, sizeof(name));
        int fd = openat(L->dirfd, name, LOG_TASK_FLAGS | O_CREAT | O_EXCL, LOG_FILE_MODE);
        if (fd < 0 && errno != EEXIST)
            return errcode(err, -errno, "cannot make a log file in %s/.pool: %s", L->logs_dir,
                           strerror(errno));
        log_file_t *e = file_add(L, no);
        if (!e) {
            if (fd >= 0) {
                close(fd);
                (void)unlinkat(L->dirfd, name, 0);
            }
            return errcode(err, -ENOMEM, "out of memory");
        }
        e->state = LOG_STRAY;
        if (fd < 0)
            continue; /* made by someone else since: left alone */
        struct stat st;
        if ((chown && fchown(fd, uid, gid) < 0) || fstat(fd, &st) < 0) {
            int r = errcode(err, -errno, "cannot give a log file to uid %u: %s", (unsigned)uid,
                            strerror(errno));
            close(fd);
            (void)unlinkat(L->dirfd, name, 0);
            file_remove(L, e);
            return r;
        }
        e->uid = st.st_uid;
        e->gid = st.st_gid;
        e->mode = st.st_mode & 07777;
        *out = e;
        return fd;
    }
    return errcode(err, -EEXIST, "cannot make a log file in %s/.pool: names taken", L->logs_dir);
}

/* A free file of uid's for a task: its descriptor and *out, or -ENOENT
 * when there is none (a file that is gone is dropped). */
static int file_reuse(exec_logs_t *L, uid_t uid, gid_t gid, log_file_t **out)
{
    for (size_t i = 0; i < L->n; i++) {
        log_file_t *e = &L->f[i];
        if (e->state != LOG_FREE || e->uid != uid || e->gid != gid)
            continue;
        char name[16];
        no_name(e->no, name, sizeof(name));
        int fd = openat(L->dirfd, name, LOG_TASK_FLAGS);
        if (fd < 0) {
            file_remove(L, e);
            i--;
            continue;
        }
        /* a process of its user may have kept a way to it that no lease
         * sees (an O_PATH descriptor): one that has changed since it was
         * given back (a link, content, owner) is never handed out again */
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_size != 0 ||
            st.st_uid != uid || st.st_gid != gid) {
            close(fd);
            L->nfree--;
            file_stray(e);
            continue;
        }
        if (e->mode != LOG_FILE_MODE && fchmod(fd, LOG_FILE_MODE) < 0) {
            close(fd);
            continue;
        }
        e->mode = LOG_FILE_MODE;
        L->nfree--;
        *out = e;
        return fd;
    }
    return -ENOENT;
}

int exec_log_take(worker_exec_t *x, const exec_spec_t *s, const run_as_t *ra, int stream,
                  uint32_t *no, cairn_error_t *err)
{
    exec_logs_t *L = x->logs;
    uid_t uid = ra->set ? ra->uid : x->self_ra.uid;
    gid_t gid = ra->set ? ra->gid : x->self_ra.gid;
    log_file_t *e = NULL;
    *no = 0;
    if (!exec_task_name_ok(s->task_name))
        return errcode(err, -EINVAL, "invalid task name");
    int fd = file_reuse(L, uid, gid, &e);
    if (fd < 0 && (fd = file_create(L, uid, gid, ra->set, &e, err)) < 0)
        return fd;
    e->state = LOG_USED;
    e->owned = true;
    e->job = s->job_id;
    e->attempt = s->attempt_id;
    e->rank = s->rank;
    e->stream = stream;
    snprintf(e->task, sizeof(e->task), "%s", s->task_name);
    /* before any process can write it: a dead worker's successor names it */
    int r = rec_write(L, e);
    if (r < 0) {
        close(fd);
        exec_log_give(x, e->no);
        return errcode(err, r, "cannot record a log in %s/.pool/index: %s", L->logs_dir,
                       strerror(-r));
    }
    *no = e->no;
    return fd;
}

void exec_log_give(worker_exec_t *x, uint32_t no)
{
    exec_logs_t *L = x ? x->logs : NULL;
    log_file_t *e = L && no ? file_find(L, no) : NULL;
    struct stat st;
    if (!e || e->state != LOG_USED)
        return;
    if (file_idle(L, e, &st)) {
        file_free(L, e, &st);
        if (L->nfree > LOG_POOL_FREE_MAX) {
            char name[16];
            no_name(e->no, name, sizeof(name));
            (void)unlinkat(L->dirfd, name, 0);
            file_remove(L, e);
        }
        return;
    }
    if (file_name(x, e) == 0)
        file_remove(L, e);
    else
        file_stray(e); /* still read here; named by the next worker */
}

/* ---- reading -------------------------------------------------------------- */

/* fd when it is a regular file with one link, else -EPERM (closed). */
static int plain_file(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
        close(fd);
        return -EPERM;
    }
    return fd;
}

int worker_exec_log_open(const worker_exec_t *x, uint64_t job_id, const char *task_name,
                         uint64_t attempt_id, uint32_t rank, int stream)
{
    char path[PATH_MAX];
    int r =
        worker_exec_log_path(x, job_id, task_name, attempt_id, rank, stream, path, sizeof(path));
    if (r < 0)
        return r;
    /* not named yet: in the pool, an attempt's own before a stray (what a
     * dead worker could not name, which may share a later attempt's
     * name after the scheduler's state was lost) */
    const exec_logs_t *L = x->logs;
    const log_file_t *hit = NULL;
    for (size_t i = 0; L && i < L->n; i++) {
        const log_file_t *e = &L->f[i];
        if (e->state == LOG_FREE || !e->owned || e->attempt != attempt_id || e->rank != rank ||
            e->stream != stream || e->job != job_id || strcmp(e->task, task_name) != 0)
            continue;
        if (!hit || e->state == LOG_USED)
            hit = e;
    }
    if (hit) {
        char name[16];
        no_name(hit->no, name, sizeof(name));
        int fd = openat(L->dirfd, name, LOG_READ_FLAGS);
        return fd < 0 ? -errno : plain_file(fd);
    }
    int fd = open(path, LOG_READ_FLAGS);
    return fd < 0 ? -errno : plain_file(fd);
}

/* ---- the pool ------------------------------------------------------------ */

/* logs/.pool: made 0700, or checked and closed to others. Its dirfd. */
static int pool_dir(const char *logs_dir, cairn_error_t *err)
{
    char path[PATH_MAX];
    struct stat st;
    if ((size_t)snprintf(path, sizeof(path), "%s/.pool", logs_dir) >= sizeof(path))
        return errcode(err, -ENAMETOOLONG, "%s: path too long", logs_dir);
    if (mkdir(path, LOG_DIR_MODE) < 0 && errno != EEXIST)
        return errcode(err, -errno, "cannot make %s: %s", path, strerror(errno));
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errcode(err, -errno, "log pool %s: %s", path,
                       errno == ENOTDIR || errno == ELOOP ? "not a directory" : strerror(errno));
    int r = fstat(fd, &st) < 0 ? errcode(err, -errno, "%s: %s", path, strerror(errno))
                               : cairn_owner_check(path, "log pool", &st, err);
    if (r == 0 && (st.st_mode & 07777) != LOG_DIR_MODE && fchmod(fd, LOG_DIR_MODE) < 0)
        r = errcode(err, -errno, "cannot make %s private: %s", path, strerror(errno));
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

static int index_open(exec_logs_t *L, cairn_error_t *err)
{
    struct stat st;
    int fd = openat(L->dirfd, "index", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, LOG_FILE_MODE);
    if (fd < 0)
        return errcode(err, -errno, "log index %s/.pool/index: %s", L->logs_dir,
                       errno == ELOOP ? "a symbolic link" : strerror(errno));
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/.pool/index", L->logs_dir);
    int r = fstat(fd, &st) < 0 ? errcode(err, -errno, "%s: %s", path, strerror(errno))
            : !S_ISREG(st.st_mode)
                ? errcode(err, -EPERM, "log index %s is not a regular file: refusing it", path)
                : cairn_owner_check(path, "log index", &st, err);
    if (r < 0) {
        close(fd);
        return r;
    }
    L->indexfd = fd;
    return 0;
}

/* The number a pool file's name is, or 0. */
static uint32_t name_no(const char *name)
{
    char *end = NULL;
    if (name[0] < '1' || name[0] > '9')
        return 0;
    errno = 0;
    unsigned long v = strtoul(name, &end, 10);
    return errno == 0 && *end == '\0' && v <= UINT32_MAX ? (uint32_t)v : 0;
}

/* Take in what the pool holds: every file numbered there, in order. */
static int pool_scan(exec_logs_t *L)
{
    int dfd = dup(L->dirfd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return -errno;
    }
    rewinddir(d);
    struct dirent *de;
    int r = 0;
    while (r == 0 && (de = readdir(d))) {
        uint32_t no = name_no(de->d_name);
        if (no && !file_find(L, no))
            r = file_add(L, no) ? 0 : -ENOMEM;
    }
    closedir(d);
    for (size_t i = 0; i < L->n; i++)
        L->f[i].state = LOG_STRAY; /* until seen to (pool_settle) */
    return r;
}

/* What a dead worker left in the pool: empty files no one holds are kept
 * for later tasks (at most LOG_POOL_FREE_MAX), logs with their record get
 * their names, the rest stays as it is. */
static void pool_settle(worker_exec_t *x)
{
    exec_logs_t *L = x->logs;
    for (size_t i = 0; i < L->n;) {
        log_file_t *e = &L->f[i];
        struct stat st;
        char name[16];
        no_name(e->no, name, sizeof(name));
        if (file_idle(L, e, &st)) {
            if (L->nfree < LOG_POOL_FREE_MAX) {
                file_free(L, e, &st);
                i++;
            } else { /* beyond what is kept */
                (void)unlinkat(L->dirfd, name, 0);
                file_remove(L, e);
            }
            continue;
        }
        if (fstatat(L->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
            st.st_nlink == 1 && rec_read(L, e)) {
            e->uid = st.st_uid;
            e->gid = st.st_gid;
            if (file_name(x, e) == 0) {
                file_remove(L, e);
                continue;
            }
        }
        file_stray(e); /* left: read by its record if it has one */
        i++;
    }
}

int exec_logs_open(worker_exec_t *x, cairn_error_t *err)
{
    exec_logs_t *L = calloc(1, sizeof(*L));
    if (!L)
        return errcode(err, -ENOMEM, "out of memory");
    L->dirfd = L->indexfd = -1;
    x->logs = L;
    if ((size_t)snprintf(L->logs_dir, sizeof(L->logs_dir), "%s/logs", x->state_dir) >=
        sizeof(L->logs_dir))
        return errcode(err, -ENAMETOOLONG, "state directory %s: path too long", x->state_dir);
    int r = L->dirfd = pool_dir(L->logs_dir, err);
    if (r < 0 || (r = index_open(L, err)) < 0)
        return r;
    if ((r = pool_scan(L)) < 0)
        return errcode(err, r, "cannot read %s/.pool: %s", L->logs_dir, strerror(-r));
    pool_settle(x);
    return 0;
}

void exec_logs_close(worker_exec_t *x)
{
    exec_logs_t *L = x->logs;
    if (!L)
        return;
    if (L->dirfd >= 0)
        close(L->dirfd);
    if (L->indexfd >= 0)
        close(L->indexfd);
    for (size_t i = 0; i < L->n; i++)
        if (L->f[i].rfd >= 0)
            close(L->f[i].rfd);
    free(L->f);
    free(L);
    x->logs = NULL;
}
