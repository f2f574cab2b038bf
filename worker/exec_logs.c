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
 * A record names the file it was written for (its owner, inode and birth
 * time): after a machine crash the index may still hold the record of an
 * earlier file of that number (a record is not synced, to keep starts
 * cheap), and such a file is moved out of the pool's numbering
 * (unmatched.N.INODE), said, and never named as a log: a file holding one
 * user's output never gets another's attempt's name.
 *
 * Job and attempt ids are the scheduler's, and start again from 1 when
 * its state is lost: logs are kept per scheduler, by the identity of its
 * journal (worker_exec_logs_scheduler, exec_logs_aside.c). A record says
 * whose attempt it is; a log of an earlier identity is named in its
 * logs/.old-ID directory, and never served.
 *
 * Without leases (a network file system, a container without CAP_LEASE)
 * the worker cannot tell that no process holds a file: every file with
 * a task's log gets its name, empty or not, and the pool reuses none; it
 * says so once.
 *
 * The worker never follows a symbolic link to a log (it runs as root and
 * writes or reads where the link points), and reads only regular files
 * with one link. Giving logs/JOB and the files to the submitter keeps their
 * data theirs (quotas, an administrator copying them out) without letting
 * them reach anything of the worker's: logs/ is closed to everyone else. */
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

#include "common/grow.h"
#include "common/search.h"
#include "worker/exec_logs_private.h"

/* The record of file no (host byte order: the file is this machine's). */
typedef struct log_rec {
    char magic[8];
    uint32_t no;
    uint32_t rank;
    uint64_t job, attempt;
    uint64_t ident; /* the scheduler's identity */
    uint64_t ino, btime;
    uint32_t uid, gid;
    uint8_t stream, task_len;
    char task[255];
} log_rec_t;

_Static_assert(sizeof(log_rec_t) <= LOG_REC_SIZE, "an index record fits its slot");

static uint64_t no_key(const void *e)
{
    return ((const log_file_t *)e)->no;
}

log_file_t *logs_file_find(exec_logs_t *L, uint32_t no)
{
    return cairn_find_sorted(L->f, L->n, sizeof(L->f[0]), no, no_key);
}

void logs_no_name(uint32_t no, char *buf, size_t len)
{
    snprintf(buf, len, "%" PRIu32, no);
}

/* A new entry for file no, in order; NULL when out of memory. */
log_file_t *logs_file_add(exec_logs_t *L, uint32_t no)
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

void logs_file_remove(exec_logs_t *L, log_file_t *e)
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
void logs_file_stray(log_file_t *e)
{
    e->state = LOG_STRAY;
    if (e->rfd >= 0)
        close(e->rfd);
    e->rfd = -1;
}

void logs_file_free(exec_logs_t *L, log_file_t *e, const struct stat *st)
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

void exec_logs_aside_name(uint64_t ident, char *buf, size_t len)
{
    snprintf(buf, len, ".old-%016" PRIx64, ident);
}

/* A log's path under logs/ (aside: under logs/.old-IDENT, the logs of an
 * earlier scheduler, 0: none): its length, or -EINVAL, -ENAMETOOLONG. */
static int log_path_in(const char *state_dir, uint64_t aside, uint64_t job_id,
                       const char *task_name, uint64_t attempt_id, uint32_t rank, int stream,
                       char *buf, size_t len)
{
    char sub[32] = "";
    if (!buf || (stream != 1 && stream != 2) || !exec_task_name_ok(task_name))
        return -EINVAL;
    if (aside)
        exec_logs_aside_name(aside, sub, sizeof(sub));
    int n = snprintf(buf, len, "%s/logs/%s%s%" PRIu64 "/%s.%" PRIu64 ".%" PRIu32 ".%s", state_dir,
                     sub, aside ? "/" : "", job_id, task_name, attempt_id, rank,
                     stream == 1 ? "out" : "err");
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    return n;
}

int worker_exec_log_path(const worker_exec_t *x, uint64_t job_id, const char *task_name,
                         uint64_t attempt_id, uint32_t rank, int stream, char *buf, size_t len)
{
    if (!x)
        return -EINVAL;
    return log_path_in(x->state_dir, 0, job_id, task_name, attempt_id, rank, stream, buf, len);
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
 * earlier file of that name (a link planted there) is replaced, never
 * followed. The log of an attempt of an earlier scheduler (another
 * identity) is named among that one's, aside. */
int logs_file_name(worker_exec_t *x, log_file_t *e)
{
    exec_logs_t *L = x->logs;
    char path[PATH_MAX], from[16];
    uint64_t aside = e->ident == L->ident ? 0 : e->ident ? e->ident : UINT64_MAX;
    int r = log_path_in(x->state_dir, aside, e->job, e->task, e->attempt, e->rank, e->stream, path,
                        sizeof(path));
    if (r < 0)
        return r;
    logs_no_name(e->no, from, sizeof(from));
    r = log_dir(L, path, e->job, e->uid, e->gid, aside != 0, NULL);
    if (r == 0 && renameat(L->dirfd, from, AT_FDCWD, path) < 0) {
        r = -errno;
        if (r == -ENOENT && (r = log_dir(L, path, e->job, e->uid, e->gid, true, NULL)) == 0)
            r = renameat(L->dirfd, from, AT_FDCWD, path) == 0 ? 0 : -errno;
    }
    if (aside)
        L->seen_job = 0; /* what is seen to is a directory aside */
    return r;
}

/* ---- the index ---------------------------------------------------------- */

int logs_rec_write(exec_logs_t *L, const log_file_t *e)
{
    log_rec_t r;
    memset(&r, 0, sizeof(r));
    memcpy(r.magic, LOG_REC_MAGIC, sizeof(r.magic));
    r.no = e->no;
    r.rank = e->rank;
    r.job = e->job;
    r.attempt = e->attempt;
    r.ident = e->ident;
    r.ino = e->id.ino;
    r.btime = e->id.btime;
    r.uid = e->id.uid;
    r.gid = e->id.gid;
    r.stream = (uint8_t)e->stream;
    size_t len = strlen(e->task);
    r.task_len = (uint8_t)len;
    memcpy(r.task, e->task, len);
    ssize_t w = pwrite(L->indexfd, &r, sizeof(r), (off_t)e->no * LOG_REC_SIZE);
    return w == (ssize_t)sizeof(r) ? 0 : w < 0 ? -errno : -EIO;
}

/* Read file e's record into e (the file it was written for: e->id):
 * whether there is a sound one. */
bool logs_rec_read(exec_logs_t *L, log_file_t *e)
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
    e->ident = r.ident;
    e->id = (file_id_t){.ino = r.ino, .btime = r.btime, .uid = r.uid, .gid = r.gid};
    e->owned = true;
    return true;
}

/* The identity of the file at name in dirfd (flags: statx's; "" with
 * AT_EMPTY_PATH: dirfd's own) into id: 0, or -errno. */
int logs_file_id_of(int dirfd, const char *name, int flags, file_id_t *id)
{
    struct statx sx;
    if (statx(dirfd, name, flags, STATX_INO | STATX_UID | STATX_GID | STATX_BTIME, &sx) < 0)
        return -errno;
    id->ino = sx.stx_ino;
    id->uid = sx.stx_uid;
    id->gid = sx.stx_gid;
    id->btime = sx.stx_mask & STATX_BTIME
                    ? (uint64_t)sx.stx_btime.tv_sec * 1000000000u + sx.stx_btime.tv_nsec
                    : 0;
    return 0;
}

/* Whether the file now (id) is the one its record was written for (rec):
 * the same owner and inode, and birth time where both know it (an inode
 * number is used again once its file is deleted). */
bool logs_file_id_same(const file_id_t *now, const file_id_t *rec)
{
    return now->ino == rec->ino && now->uid == rec->uid && now->gid == rec->gid &&
           (!now->btime || !rec->btime || now->btime == rec->btime);
}

/* ---- taking and giving back ---------------------------------------------- */

/* Whether no process but us holds the file open as fd (our only opening):
 * a write lease is granted only then. 1: none does; 0: one does; -errno:
 * no lease can be had here at all (the file system or our rights). */
static int unheld(int fd)
{
    if (fcntl(fd, F_SETLEASE, F_WRLCK) < 0)
        return errno == EAGAIN || errno == EBUSY ? 0 : -errno;
    (void)fcntl(fd, F_SETLEASE, F_UNLCK);
    return 1;
}

/* Leases fail here (e, an errno): said once, with what it costs. */
static void lease_warn(worker_exec_t *x, int e)
{
    exec_logs_t *L = x->logs;
    if (L->lease_warned)
        return;
    L->lease_warned = true;
    cairn_log(x->log, CAIRN_LOG_WARN,
              "log pool %s/.pool: no file lease can be taken there (F_SETLEASE: %s; a network "
              "file system, or no CAP_LEASE): the worker cannot tell that no process holds a "
              "task's log file, so it reuses none: every task's stdout and stderr are kept as "
              "files, empty ones too, and each start creates two new files (slower starts on "
              "some file systems, more inodes and job directories). Put the state directory "
              "(--state-dir) on a local file system to avoid it.",
              L->logs_dir, strerror(e));
}

/* Look at file e (through e->rfd, opened the first time and kept: a
 * file goes back to the pool again and again): its state in st, whether
 * it is empty and no process holds it. */
bool logs_file_idle(worker_exec_t *x, log_file_t *e, struct stat *st)
{
    exec_logs_t *L = x->logs;
    if (e->rfd < 0) {
        char name[16];
        logs_no_name(e->no, name, sizeof(name));
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
    if (fstat(e->rfd, st) < 0 || !S_ISREG(st->st_mode) || st->st_nlink != 1 || st->st_size != 0)
        return false;
    int r = unheld(e->rfd);
    if (r < 0)
        lease_warn(x, -r);
    return r > 0;
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
        logs_no_name(no, name, sizeof(name));
        int fd = openat(L->dirfd, name, LOG_TASK_FLAGS | O_CREAT | O_EXCL, LOG_FILE_MODE);
        if (fd < 0 && errno != EEXIST)
            return errcode(err, -errno, "cannot make a log file in %s/.pool: %s", L->logs_dir,
                           strerror(errno));
        log_file_t *e = logs_file_add(L, no);
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
            logs_file_remove(L, e);
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
        logs_no_name(e->no, name, sizeof(name));
        int fd = openat(L->dirfd, name, LOG_TASK_FLAGS);
        if (fd < 0) {
            logs_file_remove(L, e);
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
            logs_file_stray(e);
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
    e->ident = L->ident;
    snprintf(e->task, sizeof(e->task), "%s", s->task_name);
    /* before any process can write it: a dead worker's successor names it
     * (the file it is for said, should the record not reach the disk) */
    int r = logs_file_id_of(fd, "", AT_EMPTY_PATH, &e->id);
    if (r == 0)
        r = logs_rec_write(L, e);
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
    log_file_t *e = L && no ? logs_file_find(L, no) : NULL;
    struct stat st;
    if (!e || e->state != LOG_USED)
        return;
    if (logs_file_idle(x, e, &st)) {
        logs_file_free(L, e, &st);
        if (L->nfree > LOG_POOL_FREE_MAX) {
            char name[16];
            logs_no_name(e->no, name, sizeof(name));
            (void)unlinkat(L->dirfd, name, 0);
            logs_file_remove(L, e);
        }
        return;
    }
    if (logs_file_name(x, e) == 0)
        logs_file_remove(L, e);
    else
        logs_file_stray(e); /* still read here; named by the next worker */
}

/* ---- reading -------------------------------------------------------------- */

ssize_t exec_log_tail(worker_exec_t *x, uint32_t no, char *buf, size_t cap)
{
    exec_logs_t *L = x ? x->logs : NULL;
    const log_file_t *e = L && no ? logs_file_find(L, no) : NULL;
    if (!e || e->state != LOG_USED)
        return -ENOENT;
    char name[16];
    logs_no_name(e->no, name, sizeof(name));
    int fd = openat(L->dirfd, name, LOG_READ_FLAGS);
    struct stat st;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -EPERM;
    }
    off_t from = st.st_size > (off_t)cap ? st.st_size - (off_t)cap : 0;
    size_t got = 0;
    while (got < cap) {
        ssize_t n = pread(fd, buf + got, cap - got, from + (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    return (ssize_t)got;
}

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
    if (L && L->ident_bad)
        return -ESTALE; /* an earlier scheduler's logs may still be there */
    for (size_t i = 0; L && i < L->n; i++) {
        const log_file_t *e = &L->f[i];
        if (e->state == LOG_FREE || !e->owned || e->attempt != attempt_id || e->rank != rank ||
            e->stream != stream || e->job != job_id || e->ident != L->ident ||
            strcmp(e->task, task_name) != 0)
            continue;
        if (!hit || e->state == LOG_USED)
            hit = e;
    }
    if (hit) {
        char name[16];
        logs_no_name(hit->no, name, sizeof(name));
        int fd = openat(L->dirfd, name, LOG_READ_FLAGS);
        return fd < 0 ? -errno : plain_file(fd);
    }
    int fd = open(path, LOG_READ_FLAGS);
    return fd < 0 ? -errno : plain_file(fd);
}
