/* Preparing an attempt's start: the submitter's account, the working
 * directory, the log files, the environment, argv and the binding masks;
 * everything exec_spawn() needs but the process itself (exec_private.h).
 * worker_exec_start() prepares and spawns at once; the daemon prepares the
 * attempt queued behind a running one ahead (worker_exec_prepare), so that
 * when the cores come free only the process remains to be created. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "worker/exec_private.h"

static int check_workdir(const char *dir, cairn_error_t *err)
{
    struct stat st;
    if (stat(dir, &st) < 0)
        return errcode(err, -errno, "working directory %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return errcode(err, -ENOTDIR, "working directory %s: not a directory", dir);
    return 0;
}

static void binding_fini(binding_t *b)
{
    if (b->cpus)
        CPU_FREE(b->cpus);
    free(b->nodes);
    free(b->first);
}

static int binding_init(binding_t *b, const exec_spec_t *s)
{
    uint32_t maxpu = 0, maxnuma = 0;
    memset(b, 0, sizeof(*b));
    for (uint32_t i = 0; i < s->npus; i++)
        maxpu = s->pus[i] > maxpu ? s->pus[i] : maxpu;
    for (uint32_t i = 0; i < s->nnuma; i++)
        maxnuma = s->numa[i] > maxnuma ? s->numa[i] : maxnuma;
    if (s->npus > 0) {
        if (!(b->cpus = CPU_ALLOC(maxpu + 1)))
            return -ENOMEM;
        b->cpus_size = CPU_ALLOC_SIZE(maxpu + 1);
        CPU_ZERO_S(b->cpus_size, b->cpus);
        for (uint32_t i = 0; i < s->npus; i++)
            CPU_SET_S(s->pus[i], b->cpus_size, b->cpus);
    }
    if (s->nnuma > 0) {
        size_t bits = 8 * sizeof(unsigned long), words = maxnuma / bits + 1;
        b->nodes = calloc(words, sizeof(unsigned long));
        b->first = calloc(words, sizeof(unsigned long));
        if (!b->nodes || !b->first)
            return -ENOMEM;
        b->maxnode = (unsigned long)(words * bits);
        for (uint32_t i = 0; i < s->nnuma; i++)
            b->nodes[s->numa[i] / bits] |= 1UL << (s->numa[i] % bits);
        b->first[s->numa[0] / bits] |= 1UL << (s->numa[0] % bits);
    }
    return 0;
}

/* Accounts looked up lately: the name service is not free, tasks are many.
 * A changed account is seen within EXEC_USER_TTL_MS. */
#define EXEC_USER_CACHE 16
#define EXEC_USER_TTL_MS 60000

struct exec_user_cache {
    run_as_t ra;
    bool root;
    uint64_t at;
};

/* The home, name and shell of account pw. */
static void account_fill(run_as_t *ra, const struct passwd *pw)
{
    snprintf(ra->home, sizeof(ra->home), "%s", pw->pw_dir && pw->pw_dir[0] ? pw->pw_dir : "/");
    snprintf(ra->name, sizeof(ra->name), "%s", pw->pw_name ? pw->pw_name : "");
    snprintf(ra->shell, sizeof(ra->shell), "%s",
             pw->pw_shell && pw->pw_shell[0] ? pw->pw_shell : "/bin/sh");
}

void exec_prep_self(run_as_t *ra)
{
    struct passwd pw, *res = NULL;
    char buf[8192];
    memset(ra, 0, sizeof(*ra));
    ra->uid = geteuid();
    ra->gid = getegid();
    if (getpwuid_r(ra->uid, &pw, buf, sizeof(buf), &res) == 0 && res)
        account_fill(ra, &pw);
}

/* The account of user into ra (the name service, or the cache). */
static int lookup_user(worker_exec_t *x, const char *user, run_as_t *ra, bool *root)
{
    uint64_t now = uv_now(x->loop);
    for (int i = 0; x->users && i < EXEC_USER_CACHE; i++) {
        struct exec_user_cache *c = &x->users[i];
        if (c->at && now - c->at < EXEC_USER_TTL_MS && !strcmp(c->ra.name, user)) {
            *ra = c->ra;
            *root = c->root;
            return 0;
        }
    }
    struct passwd pw, *res = NULL;
    char buf[8192];
    if (getpwnam_r(user, &pw, buf, sizeof(buf), &res) != 0 || !res)
        return -ENOENT;
    *root = pw.pw_uid == 0;
    ra->uid = pw.pw_uid;
    ra->gid = pw.pw_gid;
    ra->ngroups = WORKER_IDENTITY_GROUPS_MAX;
    if (!*root && getgrouplist(user, pw.pw_gid, ra->groups, &ra->ngroups) < 0)
        ra->ngroups = WORKER_IDENTITY_GROUPS_MAX; /* the first ones */
    account_fill(ra, &pw);
    if (!x->users)
        x->users = calloc(EXEC_USER_CACHE, sizeof(*x->users));
    if (x->users) {
        struct exec_user_cache *c = &x->users[x->next_user++ % EXEC_USER_CACHE];
        *c = (struct exec_user_cache){.ra = *ra, .root = *root, .at = now ? now : 1};
    }
    return 0;
}

/* Whom a task of submitter user runs as. A task must name its submitter:
 * without one a root worker would run it as root, and a worker that is not
 * root as itself, whoever sent it; it is refused on every worker. */
static int resolve_user(worker_exec_t *x, const char *user, run_as_t *ra, cairn_error_t *err)
{
    bool root = false;
    ra->set = false;
    if (!user || !user[0])
        return errcode(err, -EPERM,
                       "refusing to run a task that names no submitter: a worker runs each "
                       "task as the user who submitted it");
    if (geteuid() != 0)
        return 0; /* not root: tasks run as the worker's user */
    if (lookup_user(x, user, ra, &root) < 0)
        return errcode(err, -ENOENT, "the submitter %s has no account on this node", user);
    if (root) {
        if (x->allow_root_tasks)
            return 0;
        return errcode(err, -EPERM,
                       "refusing to run a task as root (submitted by %s): this worker runs "
                       "tasks as their submitter, root only with --allow-root-tasks",
                       user);
    }
    ra->set = true;
    return 0;
}

static void identity_of(const run_as_t *ra, worker_identity_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!ra->set)
        return;
    out->set = true;
    out->uid = ra->uid;
    out->gid = ra->gid;
    out->ngroups = ra->ngroups;
    memcpy(out->groups, ra->groups, (size_t)ra->ngroups * sizeof(out->groups[0]));
}

int worker_exec_identity(worker_exec_t *x, const char *user, worker_identity_t *out,
                         cairn_error_t *err)
{
    run_as_t ra;
    memset(out, 0, sizeof(*out));
    int r = resolve_user(x, user, &ra, err);
    if (r == 0)
        identity_of(&ra, out);
    return r;
}

void exec_prep_identity(const exec_prepared_t *p, worker_identity_t *out)
{
    identity_of(&p->ra, out);
}

/* Where a task of s starts, running as ra. */
static const char *workdir_of(const worker_exec_t *x, const exec_spec_t *s, const run_as_t *ra)
{
    struct stat hst;
    if (s->workdir && s->workdir[0])
        return s->workdir;
    if (!ra->set)
        return x->default_workdir;
    /* the worker's directory is the worker's user's: another user starts
     * in their home, or in / when it has none */
    return stat(ra->home, &hst) == 0 && S_ISDIR(hst.st_mode) ? ra->home : "/";
}

/* The checkpoint directory of s as an absolute path (relative to p->cwd
 * unless absolute), its components "" and "." dropped, into p->ckpt_dir. A
 * ".." is refused: the directory is the task's, under the directory it
 * names, and its listing must not wander off. Who may make or use it is
 * the kernel's to say: the task's process makes it as the task's user
 * (exec_spawn.c). */
static int checkpoint_dir(const exec_spec_t *s, exec_prepared_t *p, cairn_error_t *err)
{
    const char *d = s->checkpoint_dir;
    p->ckpt_signal = s->checkpoint_signal;
    p->sbl_ms = s->signal_before_limit_ms;
    if (!d || !d[0])
        return 0;
    size_t at = 0, cap = sizeof(p->ckpt_dir);
    const char *base = d[0] == '/' ? "" : p->cwd;
    for (int part = 0; part < 2; part++) {
        const char *q = part ? d : base;
        while (*q) {
            while (*q == '/')
                q++;
            size_t len = strcspn(q, "/");
            if (len == 2 && q[0] == '.' && q[1] == '.')
                return errcode(err, -EINVAL, "checkpoint directory %s: '..' in path", d);
            if (len && !(len == 1 && q[0] == '.')) {
                if (at + 1 + len + 1 > cap)
                    return errcode(err, -ENAMETOOLONG, "checkpoint directory %s: path too long", d);
                p->ckpt_dir[at++] = '/';
                memcpy(p->ckpt_dir + at, q, len);
                at += len;
            }
            q += len;
        }
    }
    if (at == 0)
        p->ckpt_dir[at++] = '/';
    p->ckpt_dir[at] = '\0';
    return 0;
}

int exec_prep_init(worker_exec_t *x, const exec_spec_t *s, exec_prepared_t *p, cairn_error_t *err)
{
    memset(p, 0, sizeof(*p));
    p->fd_out = p->fd_err = -1;
    p->attempt_id = s->attempt_id;
    p->job_id = s->job_id;
    p->rank = s->rank;
    p->time_limit_ms = s->time_limit_ms;
    p->grace_ms = s->kill_grace_ms > 0 ? s->kill_grace_ms : EXEC_DEFAULT_GRACE_MS;
    p->memory_limit = s->memory_limit_bytes;
    for (uint32_t i = 0; i < s->ngpus; i++)
        if (s->gpus[i].index < 64)
            p->gpu_mask |= 1ull << s->gpus[i].index;
    if (!(p->task_name = strdup(s->task_name)))
        return errcode(err, -ENOMEM, "out of memory");
    if (s->retry_log && s->retry_log[0] && !(p->retry_log = strdup(s->retry_log)))
        return errcode(err, -ENOMEM, "out of memory");
    int r = binding_init(&p->bind, s);
    if (r < 0)
        return errcode(err, r, "out of memory");
    if ((r = resolve_user(x, s->user, &p->ra, err)) < 0)
        return r;
    const char *cwd = workdir_of(x, s, &p->ra);
    if ((r = check_workdir(cwd, err)) < 0)
        return r;
    snprintf(p->cwd, sizeof(p->cwd), "%s", cwd);
    if ((r = checkpoint_dir(s, p, err)) < 0)
        return r;
    if ((r = p->fd_out = exec_log_take(x, s, &p->ra, 1, &p->log_no[0], err)) < 0 ||
        (r = p->fd_err = exec_log_take(x, s, &p->ra, 2, &p->log_no[1], err)) < 0)
        return r;
    if ((r = exec_env_build(s, x->env_base.v, &p->ra, &p->env, err)) < 0)
        return r;
    if (p->ckpt_dir[0] && (r = exec_env_checkpoint(&p->env, p->ckpt_dir)) < 0)
        return errcode(err, r, "out of memory");
    if ((r = exec_task_argv(s, &p->argv)) < 0)
        return errcode(err, r, "out of memory");
    return 0;
}

void exec_prep_fini(exec_prepared_t *p)
{
    if (p->fd_out >= 0)
        close(p->fd_out);
    if (p->fd_err >= 0)
        close(p->fd_err);
    p->fd_out = p->fd_err = -1;
    binding_fini(&p->bind);
    memset(&p->bind, 0, sizeof(p->bind));
    exec_strv_fini(&p->argv);
    exec_strv_fini(&p->env);
    free(p->task_name);
    p->task_name = NULL;
    free(p->retry_log);
    p->retry_log = NULL;
}

void exec_prep_free(exec_spawner_t *s, exec_prepared_t *p)
{
    if (!p)
        return;
    exec_spawn_stack_put(s, &p->child);
    exec_prep_fini(p);
    free(p);
}

void exec_prep_discard_logs(worker_exec_t *x, exec_prepared_t *p)
{
    /* the worker's own descriptors would hold them */
    if (p->fd_out >= 0)
        close(p->fd_out);
    if (p->fd_err >= 0)
        close(p->fd_err);
    p->fd_out = p->fd_err = -1;
    for (int i = 0; i < 2; i++) {
        exec_log_give(x, p->log_no[i]);
        p->log_no[i] = 0;
    }
}

int worker_exec_checkpoint_dir(worker_exec_t *x, const exec_spec_t *s, char *buf, size_t len,
                               cairn_error_t *err)
{
    exec_prepared_t *p = calloc(1, sizeof(*p));
    if (!p)
        return errcode(err, -ENOMEM, "out of memory");
    int r = resolve_user(x, s->user, &p->ra, err);
    if (r == 0) {
        snprintf(p->cwd, sizeof(p->cwd), "%s", workdir_of(x, s, &p->ra));
        r = checkpoint_dir(s, p, err);
    }
    if (r == 0 && strlen(p->ckpt_dir) >= len)
        r = errcode(err, -ENAMETOOLONG, "checkpoint directory: path too long");
    if (r == 0)
        memcpy(buf, p->ckpt_dir, strlen(p->ckpt_dir) + 1);
    free(p);
    return r;
}
