/* What outputs.c shares with outputs_list.c (checkpoint listings): the
 * budgeted hashing of one file, the kernel file system and containment
 * checks, and taking the task's file system identity on a thread. */
#ifndef CAIRN_WORKER_OUTPUTS_PRIVATE_H
#define CAIRN_WORKER_OUTPUTS_PRIVATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "worker/identity.h"
#include "worker/outputs.h"

#define OUTPUT_READ_CHUNK (1u << 20)
#define NOT_HASHED_CANCELLED "not hashed: cancelled"
#define NOT_HASHED_TOO_LARGE "not hashed: too large"
#define NOT_HASHED_TOO_LONG "not hashed: took too long"

/* One hashing run: its read buffer (OUTPUT_READ_CHUNK bytes), stop flag and
 * byte budget. */
typedef struct hash_run {
    uint8_t *buf;
    const atomic_bool *cancel;
    uint64_t left; /* bytes it may still read; UINT64_MAX: no limit */
} hash_run_t;

/* The hex digest and size of a regular file open at fd, whose size is
 * st_size: one too big for the budget is not read. 0, -ECANCELED, -EFBIG
 * (over the budget) or -errno. */
int outputs_hash_file(int fd, uint64_t st_size, char hex[65], uint64_t *size, hash_run_t *run);

/* Whether fd lies on a kernel file system (/proc, /sys...). */
bool outputs_fd_on_kernel_fs(int fd);

/* Whether what fd names lies in root, a real path (true when /proc cannot
 * tell). */
bool outputs_fd_within(int fd, const char *root);

/* The calling thread's file system identity, to give back. */
typedef struct fs_ident {
    bool taken;
    uid_t fsuid;
    gid_t fsgid;
    int ngroups;
    gid_t *groups;
} fs_ident_t;

/* Take identity as (NULL or not set: nothing) for file access on this
 * thread alone (the old one saved into *save). 0 or -errno. */
int outputs_fs_ident_take(const worker_identity_t *as, fs_ident_t *save);

/* Give the thread its own identity back. A thread left with a task's
 * identity would do the worker's later work with it: that is not survived. */
void outputs_fs_ident_give_back(fs_ident_t *save);

#endif
