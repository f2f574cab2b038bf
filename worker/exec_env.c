/* The task's environment and argv.
 *
 * A task does not inherit the worker's environment: that holds whatever
 * the worker was started with (an administrator's shell, a unit file's
 * credentials), none of it the submitter's. It gets PATH and LANG, the
 * variables of the worker's an operator names with --pass-env, HOME, USER,
 * LOGNAME and SHELL of the account it runs as, the spec's env, and the
 * variables the worker sets (CAIRN_*, gang, GPU visibility,
 * OMP_NUM_THREADS). The worker's part is filtered once, when the executor
 * is made (exec_env_base); a start only copies it. */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/grow.h"
#include "worker/exec_private.h"

void exec_strv_fini(exec_strv_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

/* Append str (owned; NULL means an allocation failed). */
static int strv_take(exec_strv_t *s, char *str)
{
    if (!str)
        return -ENOMEM;
    if (CAIRN_GROW(s->v, s->cap, s->n + 2) < 0) {
        free(str);
        return -ENOMEM;
    }
    s->v[s->n++] = str;
    s->v[s->n] = NULL;
    return 0;
}

static int strv_add(exec_strv_t *s, const char *str)
{
    return strv_take(s, strdup(str));
}

/* Length of the name of a "NAME=value" entry. */
static size_t name_len(const char *entry)
{
    const char *eq = strchr(entry, '=');
    return eq ? (size_t)(eq - entry) : strlen(entry);
}

static bool name_is(const char *entry, const char *name)
{
    size_t n = name_len(entry);
    return n == strlen(name) && strncmp(entry, name, n) == 0;
}

static const char *const gpu_vars[] = {
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "ROCR_VISIBLE_DEVICES",
    "HIP_VISIBLE_DEVICES",
    "GPU_DEVICE_ORDINAL",
    "ZE_AFFINITY_MASK",
    NULL,
};
static const char *const gang_vars[] = {
    "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", NULL,
};

static bool in_list(const char *entry, const char *const *names)
{
    for (size_t i = 0; names[i]; i++)
        if (name_is(entry, names[i]))
            return true;
    return false;
}

/* Variables only the worker sets for a task. From the worker's own
 * environment the gang variables always go (a single task must not look
 * like a gang member); from the spec only for gang replicas. */
static bool worker_owned(const char *entry, bool gang)
{
    return strncmp(entry, "CAIRN_", 6) == 0 || in_list(entry, gpu_vars) ||
           (gang && in_list(entry, gang_vars));
}

/* Set NAME=value, replacing an entry of the same name. */
static int env_set(exec_strv_t *e, const char *entry)
{
    for (size_t i = 0; i < e->n; i++) {
        if (name_len(e->v[i]) == name_len(entry) && strncmp(e->v[i], entry, name_len(entry)) == 0) {
            char *dup = strdup(entry);
            if (!dup)
                return -ENOMEM;
            free(e->v[i]);
            e->v[i] = dup;
            return 0;
        }
    }
    return strv_add(e, entry);
}

static int env_setf(exec_strv_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int env_setf(exec_strv_t *e, const char *fmt, ...)
{
    char *str = NULL;
    va_list ap;
    int r;
    va_start(ap, fmt);
    r = vasprintf(&str, fmt, ap);
    va_end(ap);
    if (r < 0)
        return -ENOMEM;
    r = env_set(e, str);
    free(str);
    return r;
}

/* Append GPU i's id to list (comma-separated): its UUID when use_uuid. */
static int gpu_list_add(char *list, size_t len, const exec_gpu_t *g, bool use_uuid)
{
    size_t used = strlen(list);
    int r = snprintf(list + used, len - used, "%s", used ? "," : "");
    if (r < 0 || (size_t)r >= len - used)
        return -ENAMETOOLONG;
    used += (size_t)r;
    if (use_uuid)
        r = snprintf(list + used, len - used, "%s", g->uuid);
    else
        r = snprintf(list + used, len - used, "%" PRIu32, g->index);
    return r < 0 || (size_t)r >= len - used ? -ENAMETOOLONG : 0;
}

static bool vendor_is(const exec_gpu_t *g, const char *v)
{
    return g->vendor && strcasecmp(g->vendor, v) == 0;
}

/* One visibility list for a vendor. NVIDIA GPUs are named by UUID when
 * every one has a UUID (CUDA does not mix UUIDs and indexes). */
static int gpu_list(const exec_spec_t *s, const char *vendor, bool uuids, char *list, size_t len)
{
    bool all_uuid = uuids;
    list[0] = '\0';
    for (uint32_t i = 0; i < s->ngpus; i++)
        if (vendor_is(&s->gpus[i], vendor) && !(s->gpus[i].uuid && s->gpus[i].uuid[0]))
            all_uuid = false;
    for (uint32_t i = 0; i < s->ngpus; i++) {
        if (!vendor_is(&s->gpus[i], vendor))
            continue;
        if (gpu_list_add(list, len, &s->gpus[i], all_uuid) < 0)
            return -ENAMETOOLONG;
    }
    return 0;
}

/* CUDA_VISIBLE_DEVICES is always set, empty without NVIDIA GPUs, so a task
 * cannot use GPUs it was not given. */
static int env_gpus(const exec_spec_t *s, exec_strv_t *e)
{
    size_t len = 64 + (size_t)s->ngpus * 80;
    char *list = malloc(len);
    int r;
    if (!list)
        return -ENOMEM;
    r = gpu_list(s, "nvidia", true, list, len);
    if (r == 0)
        r = env_setf(e, "CUDA_VISIBLE_DEVICES=%s", list);
    if (r == 0)
        r = env_set(e, "CUDA_DEVICE_ORDER=PCI_BUS_ID");
    if (r == 0)
        r = gpu_list(s, "amd", false, list, len);
    if (r == 0 && list[0])
        r = env_setf(e, "ROCR_VISIBLE_DEVICES=%s", list);
    if (r == 0 && list[0])
        r = env_setf(e, "HIP_VISIBLE_DEVICES=%s", list);
    if (r == 0)
        r = gpu_list(s, "intel", false, list, len);
    if (r == 0 && list[0])
        r = env_setf(e, "ZE_AFFINITY_MASK=%s", list);
    free(list);
    return r;
}

static int env_gang(const exec_spec_t *s, exec_strv_t *e)
{
    const char *addr = s->master_addr ? s->master_addr : "";
    int r = 0;
    if (s->world_size <= 1)
        return 0;
    r = r ? r : env_setf(e, "CAIRN_RANK=%" PRIu32, s->rank);
    r = r ? r : env_setf(e, "CAIRN_WORLD_SIZE=%" PRIu32, s->world_size);
    r = r ? r : env_setf(e, "CAIRN_MASTER_ADDR=%s", addr);
    r = r ? r : env_setf(e, "CAIRN_MASTER_PORT=%" PRIu32, s->master_port);
    r = r ? r : env_setf(e, "RANK=%" PRIu32, s->rank);
    r = r ? r : env_setf(e, "WORLD_SIZE=%" PRIu32, s->world_size);
    r = r ? r : env_set(e, "LOCAL_RANK=0");
    r = r ? r : env_set(e, "LOCAL_WORLD_SIZE=1");
    r = r ? r : env_setf(e, "MASTER_ADDR=%s", addr);
    r = r ? r : env_setf(e, "MASTER_PORT=%" PRIu32, s->master_port);
    return r;
}

static int env_cairn(const exec_spec_t *s, exec_strv_t *e)
{
    int r = 0;
    r = r ? r : env_setf(e, "CAIRN_JOB_ID=%" PRIu64, s->job_id);
    r = r ? r : env_setf(e, "CAIRN_TASK=%s", s->task_name);
    r = r ? r : env_setf(e, "CAIRN_ATTEMPT=%" PRIu32, s->attempt_number);
    r = r ? r : env_setf(e, "CAIRN_ATTEMPT_ID=%" PRIu64, s->attempt_id);
    r = r ? r : env_setf(e, "CAIRN_SEED=%" PRIu64, s->seed);
    r = r ? r : env_gang(s, e);
    r = r ? r : env_gpus(s, e);
    return r;
}

/* Of the worker's environment, tasks always get these; a default PATH
 * where the worker has none (as execvp() would search). */
static const char *const passed_vars[] = {"PATH", "LANG", NULL};
#define EXEC_DEFAULT_PATH "PATH=/usr/local/bin:/usr/bin:/bin"

/* Whether the name of entry matches one of the globs. */
static bool name_matches(const char *entry, const char *const *globs, size_t nglobs)
{
    char name[256];
    size_t n = name_len(entry);
    if (n == 0 || n >= sizeof(name))
        return false;
    memcpy(name, entry, n);
    name[n] = '\0';
    for (size_t i = 0; i < nglobs; i++)
        if (fnmatch(globs[i], name, 0) == 0)
            return true;
    return false;
}

static int env_account(exec_strv_t *e, const run_as_t *ra)
{
    int r = 0;
    r = r ? r : env_setf(e, "HOME=%s", ra->home);
    r = r ? r : env_setf(e, "USER=%s", ra->name);
    r = r ? r : env_setf(e, "LOGNAME=%s", ra->name);
    r = r ? r : env_setf(e, "SHELL=%s", ra->shell);
    return r;
}

static const char *const account_vars[] = {"HOME", "USER", "LOGNAME", "SHELL", NULL};

int exec_env_base(char *const *env, const char *const *globs, size_t nglobs, const run_as_t *self,
                  exec_strv_t *out)
{
    exec_strv_t e = {0};
    bool path = false;
    int r = 0;
    for (size_t i = 0; env && env[i] && r == 0; i++) {
        const char *kv = env[i];
        if (!strchr(kv, '=') || kv[0] == '=' || worker_owned(kv, true))
            continue;
        /* the account's own when the worker has one: below */
        bool account = in_list(kv, account_vars) && self->name[0];
        if (!account && (in_list(kv, passed_vars) || in_list(kv, account_vars) ||
                         name_matches(kv, globs, nglobs))) {
            path = path || name_is(kv, "PATH");
            r = strv_add(&e, kv);
        }
    }
    if (r == 0 && !path)
        r = strv_add(&e, EXEC_DEFAULT_PATH);
    if (r == 0 && self->name[0])
        r = env_account(&e, self);
    if (r < 0) {
        exec_strv_fini(&e);
        return r;
    }
    *out = e;
    return 0;
}

int exec_env_build(const exec_spec_t *spec, char *const *base, const run_as_t *ra, exec_strv_t *out,
                   cairn_error_t *err)
{
    bool gang = spec->world_size > 1, omp_set = false;
    exec_strv_t e = {0};
    int r = 0;
    for (size_t i = 0; base && base[i] && r == 0; i++)
        if (strchr(base[i], '=') && !worker_owned(base[i], true))
            r = strv_add(&e, base[i]);
    if (r == 0 && ra && ra->set)
        r = env_account(&e, ra);
    for (uint32_t i = 0; i < spec->nenv && r == 0; i++) {
        const char *kv = spec->env[i];
        if (!kv || !strchr(kv, '=') || kv[0] == '=') {
            exec_strv_fini(&e);
            return errcode(err, -EINVAL, "environment entry %" PRIu32 " is not NAME=value", i);
        }
        if (worker_owned(kv, gang))
            continue;
        omp_set = omp_set || name_is(kv, "OMP_NUM_THREADS");
        r = env_set(&e, kv);
    }
    if (r == 0)
        r = env_cairn(spec, &e);
    if (r == 0 && spec->ncores > 0 && !omp_set)
        r = env_setf(&e, "OMP_NUM_THREADS=%" PRIu32, spec->ncores);
    if (r < 0) {
        exec_strv_fini(&e);
        return errcode(err, r, "cannot build the task's environment: %s", strerror(-r));
    }
    *out = e;
    return 0;
}

int exec_env_checkpoint(exec_strv_t *e, const char *dir)
{
    return env_setf(e, "CAIRN_CHECKPOINT_DIR=%s", dir);
}

int exec_task_argv(const exec_spec_t *spec, exec_strv_t *out)
{
    exec_strv_t a = {0};
    int r = 0;
    if (spec->shell) {
        r = r ? r : strv_add(&a, "/bin/sh");
        r = r ? r : strv_add(&a, "-c");
        r = r ? r : strv_add(&a, spec->argv[0]);
        r = r ? r : strv_add(&a, "sh");
    } else {
        r = r ? r : strv_add(&a, spec->argv[0]);
    }
    for (uint32_t i = 1; i < spec->argc && r == 0; i++)
        r = strv_add(&a, spec->argv[i]);
    if (r < 0) {
        exec_strv_fini(&a);
        return r;
    }
    *out = a;
    return 0;
}
