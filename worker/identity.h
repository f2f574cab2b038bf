/* Whose rights a task's work on the node is done with: the task itself
 * (exec.h) and the hashing of its outputs (outputs.h). */
#ifndef CAIRN_WORKER_IDENTITY_H
#define CAIRN_WORKER_IDENTITY_H

#include <stdbool.h>
#include <sys/types.h>

/* The most supplementary groups a task gets (the first ones of its user). */
#define WORKER_IDENTITY_GROUPS_MAX 64

typedef struct worker_identity {
    bool set; /* false: the worker's own user (a worker that is not root, or root's task) */
    uid_t uid;
    gid_t gid;
    int ngroups;
    gid_t groups[WORKER_IDENTITY_GROUPS_MAX];
} worker_identity_t;

#endif
