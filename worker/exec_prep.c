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

#include "exec_private.h"

extern char **environ;

int exec_mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    for (char *s = buf + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Open the attempt's stdout (stream 1) or stderr (stream 2) log. */
static int open_log(worker_exec_t *x, const exec_spec_t *s, int stream, cairn_error_t *err)
{
    char path[PATH_MAX];
    int fd, r = worker_exec_log_path(x, s->job_id, s->task_name, s->attempt_id, s->rank, stream,
                                     path, sizeof(path));
    if (r < 0)
        return errcode(err, r, "log path too long");
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0 && errno == ENOENT) {
        *strrchr(path, '/') = '\0';
        r = exec_mkdir_p(path, 0755);
        if (r < 0)
            return errcode(err, r, "cannot make log directory %s: %s", path, strerror(-r));
        path[strlen(path)] = '/';
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
    }
    if (fd < 0)
        return errcode(err, -errno, "cannot open log %s: %s", path, strerror(errno));
    return fd;
}

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
    ra->ngroups = (int)(sizeof(ra->groups) / sizeof(ra->groups[0]));
    if (!*root && getgrouplist(user, pw.pw_gid, ra->groups, &ra->ngroups) < 0)
        ra->ngroups = (int)(sizeof(ra->groups) / sizeof(ra->groups[0])); /* the first 64 */
    snprintf(ra->home, sizeof(ra->home), "%s", pw.pw_dir ? pw.pw_dir : "/");
    snprintf(ra->name, sizeof(ra->name), "%s", user);
    if (!x->users)
        x->users = calloc(EXEC_USER_CACHE, sizeof(*x->users));
    if (x->users) {
        struct exec_user_cache *c = &x->users[x->next_user++ % EXEC_USER_CACHE];
        *c = (struct exec_user_cache){.ra = *ra, .root = *root, .at = now ? now : 1};
    }
    return 0;
}

static int resolve_user(worker_exec_t *x, const exec_spec_t *s, run_as_t *ra, cairn_error_t *err)
{
    bool root = false;
    ra->set = false;
    if (geteuid() != 0 || !s->user || !s->user[0])
        return 0; /* not root: tasks run as the worker's user */
    if (lookup_user(x, s->user, ra, &root) < 0)
        return errcode(err, -ENOENT, "the submitter %s has no account on this node", s->user);
    if (root) {
        if (x->allow_root_tasks)
            return 0;
        return errcode(err, -EPERM,
                       "refusing to run a task as root (submitted by %s): this worker runs "
                       "tasks as their submitter, root only with --allow-root-tasks",
                       s->user);
    }
    ra->set = true;
    return 0;
}

static int env_user(exec_strv_t *env, const run_as_t *ra)
{
    char kv[PATH_MAX + 16];
    int r = 0;
    snprintf(kv, sizeof(kv), "HOME=%s", ra->home);
    r = r ? r : exec_env_put(env, kv);
    snprintf(kv, sizeof(kv), "USER=%s", ra->name);
    r = r ? r : exec_env_put(env, kv);
    snprintf(kv, sizeof(kv), "LOGNAME=%s", ra->name);
    r = r ? r : exec_env_put(env, kv);
    return r;
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
    if (!(p->task_name = strdup(s->task_name)))
        return errcode(err, -ENOMEM, "out of memory");
    const char *cwd = s->workdir && s->workdir[0] ? s->workdir : x->default_workdir;
    int r = binding_init(&p->bind, s);
    if (r < 0)
        return errcode(err, r, "out of memory");
    if ((r = resolve_user(x, s, &p->ra, err)) < 0)
        return r;
    struct stat hst;
    if (p->ra.set && !(s->workdir && s->workdir[0]))
        /* the worker's directory is the worker's user's: another user starts
         * in their home, or in / when it has none */
        cwd = stat(p->ra.home, &hst) == 0 && S_ISDIR(hst.st_mode) ? p->ra.home : "/";
    if ((r = check_workdir(cwd, err)) < 0)
        return r;
    snprintf(p->cwd, sizeof(p->cwd), "%s", cwd);
    if ((r = p->fd_out = open_log(x, s, 1, err)) < 0 ||
        (r = p->fd_err = open_log(x, s, 2, err)) < 0)
        return r;
    if ((r = exec_env_build(s, environ, &p->env, err)) < 0)
        return r;
    if (p->ra.set && (r = env_user(&p->env, &p->ra)) < 0)
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
}

void exec_prep_discard_logs(worker_exec_t *x, const exec_prepared_t *p)
{
    const int fds[2] = {p->fd_out, p->fd_err};
    for (int stream = 1; stream <= 2; stream++) {
        struct stat st;
        char path[PATH_MAX];
        if (fds[stream - 1] < 0 || fstat(fds[stream - 1], &st) < 0 || st.st_size != 0 ||
            worker_exec_log_path(x, p->job_id, p->task_name, p->attempt_id, p->rank, stream, path,
                                 sizeof(path)) < 0)
            continue;
        (void)unlink(path);
    }
}
