/* The task log pool's insides, shared by exec_logs.c (taking, giving
 * back, naming and reading logs), exec_logs_pool.c (opening the pool and
 * settling what a dead worker left) and exec_logs_aside.c (the scheduler's
 * identity). See exec_logs.c. */
#ifndef CAIRN_WORKER_EXEC_LOGS_PRIVATE_H
#define CAIRN_WORKER_EXEC_LOGS_PRIVATE_H

#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "worker/exec_private.h"

#define LOG_DIR_MODE 0700
#define LOG_FILE_MODE 0600
#define LOG_TASK_FLAGS (O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW)
#define LOG_READ_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK)
/* Empty files kept for later tasks, beyond those in use: more are removed. */
#define LOG_POOL_FREE_MAX 64
/* An index record: at N * LOG_REC_SIZE for file N. */
#define LOG_REC_SIZE 512
/* Format 2 (with the file's identity and the scheduler's): a record of
 * format 1 (cairnlg1) is not read, as none: its file, if it has output, is
 * left in the pool unnamed and never served. */
#define LOG_REC_MAGIC "cairnlg2"

enum log_state {
    LOG_FREE,  /* empty, no process holds it: for the next task of its user */
    LOG_USED,  /* an attempt's (prepared, running or ending) */
    LOG_STRAY, /* left where it is: not ours, or its name could not be given */
};

/* Which file a record was written for. */
typedef struct file_id {
    uint64_t ino;
    uint64_t btime; /* its birth time in ns, 0 where not known */
    uint32_t uid, gid;
} file_id_t;

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
    uint64_t ident; /* the scheduler's identity it was taken under */
    file_id_t id;   /* the file's, once taken */
} log_file_t;

struct exec_logs {
    int dirfd;   /* logs/.pool */
    int indexfd; /* logs/.pool/index */
    char logs_dir[PATH_MAX];
    log_file_t *f; /* ascending no */
    size_t n, cap, nfree;
    uint64_t seen_job; /* the job whose directory is seen to, and its owner */
    uid_t seen_uid;
    int logsfd;        /* logs/ */
    uint64_t ident;    /* the scheduler identity logs/ holds the logs of, 0: none known */
    bool ident_bad;    /* moving an earlier scheduler's logs aside failed: none served */
    bool lease_warned; /* that there are no leases here is said */
};

/* The entry of file no, or NULL. */
log_file_t *logs_file_find(exec_logs_t *L, uint32_t no);

/* File no's name in the pool. */
void logs_no_name(uint32_t no, char *buf, size_t len);

/* A new entry for file no, in order; NULL when out of memory. */
log_file_t *logs_file_add(exec_logs_t *L, uint32_t no);

/* Drop entry e (its descriptor closed). */
void logs_file_remove(exec_logs_t *L, log_file_t *e);

/* Left where it is (not ours, or its name could not be given). */
void logs_file_stray(log_file_t *e);

/* e is empty and no process holds it (st: what it is): free. */
void logs_file_free(exec_logs_t *L, log_file_t *e, const struct stat *st);

/* Look at file e: its state in st, whether it is empty and no process
 * holds it (without leases: never, said once). */
bool logs_file_idle(worker_exec_t *x, log_file_t *e, struct stat *st);

/* Give file e (with output, or held) its log's name (an earlier
 * scheduler's: aside): 0, or -errno. */
int logs_file_name(worker_exec_t *x, log_file_t *e);

/* Write e's record in the index: 0 or -errno. */
int logs_rec_write(exec_logs_t *L, const log_file_t *e);

/* Read file e's record into e (the file it was written for: e->id):
 * whether there is a sound one. */
bool logs_rec_read(exec_logs_t *L, log_file_t *e);

/* The identity of the file at name in dirfd (flags: statx's; "" with
 * AT_EMPTY_PATH: dirfd's own) into id: 0, or -errno. */
int logs_file_id_of(int dirfd, const char *name, int flags, file_id_t *id);

/* Whether the file now is the one its record was written for (rec). */
bool logs_file_id_same(const file_id_t *now, const file_id_t *rec);

/* The name of the directory under logs/ that holds the logs of scheduler
 * ident, moved aside: ".old-" and ident in 16 hex digits. */
void exec_logs_aside_name(uint64_t ident, char *buf, size_t len);

/* The scheduler identity recorded in logs/.scheduler (logsfd: logs/): 0
 * when none is (a new state directory, or one of a release before this
 * one), UINT64_MAX when the file is not one this worker wrote. */
uint64_t exec_logs_ident_read(int logsfd);

#endif
