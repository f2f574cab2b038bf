/* The content hashes of tasks' declared inputs, taken by cairn submit and
 * cairn rerun on the submitting machine (the files are expected on a
 * filesystem the workers share): recorded in the job's provenance, and
 * part of a cached task's key. cairn rerun compares them with the ones
 * recorded (inputs_changed). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cmd.h"
#include "worker/outputs.h"

/* Hash one task's inputs into its OutputHash entries (sha256 and size, or
 * error); the number that could not be hashed, -1 out of memory. */
static int hash_task(Cairn__TaskSpec *ts)
{
    const char **paths = calloc(ts->n_inputs, sizeof(*paths));
    worker_output_t *out = calloc(ts->n_inputs, sizeof(*out));
    int bad = 0;
    if (!paths || !out) {
        free(paths);
        free(out);
        return -1;
    }
    for (size_t i = 0; i < ts->n_inputs; i++)
        paths[i] = ts->inputs[i]->path;
    worker_outputs_hash(ts->workdir, paths, ts->n_inputs, out, NULL, NULL);
    for (size_t i = 0; i < ts->n_inputs && bad >= 0; i++) {
        Cairn__OutputHash *h = ts->inputs[i];
        char **field = out[i].error[0] ? &h->error : &h->sha256;
        char *old = *field;
        if (!(*field = strdup(out[i].error[0] ? out[i].error : out[i].sha256))) {
            *field = old;
            bad = -1;
            break;
        }
        if (old != protobuf_c_empty_string)
            free(old);
        h->size = out[i].size;
        bad += out[i].error[0] != '\0';
    }
    free(paths);
    free(out);
    return bad;
}

int cli_hash_inputs(Cairn__JobSpec *js, const char *name, bool loud)
{
    int bad = 0;
    for (size_t t = 0; t < js->n_tasks; t++) {
        Cairn__TaskSpec *ts = js->tasks[t];
        if (ts->n_inputs == 0)
            continue;
        if (!ts->workdir || !ts->workdir[0]) {
            if (loud && ts->cache)
                fprintf(stderr,
                        "%s: task %s: cache needs a workdir (inputs and outputs are relative "
                        "to it)\n",
                        name, ts->name);
            else if (loud)
                fprintf(stderr, "%s: task %s: inputs need a workdir (they are relative to it)\n",
                        name, ts->name);
            bad++;
            continue;
        }
        int n = hash_task(ts);
        if (n < 0) {
            fprintf(stderr, "cairn: out of memory\n");
            return -1;
        }
        for (size_t i = 0; loud && n && i < ts->n_inputs; i++)
            if (ts->inputs[i]->error && ts->inputs[i]->error[0])
                fprintf(stderr, "%s: task %s: input %s (in %s): %s\n", name, ts->name,
                        ts->inputs[i]->path, ts->workdir, ts->inputs[i]->error);
        bad += n;
    }
    return bad;
}

/* The recorded task named name, or NULL. */
static const Cairn__TaskProvenance *recorded_task(const Cairn__JobProvenance *jp, const char *name)
{
    for (size_t i = 0; i < jp->n_tasks; i++)
        if (!strcmp(jp->tasks[i]->name, name))
            return jp->tasks[i];
    return NULL;
}

static const Cairn__OutputHash *recorded_input(const Cairn__TaskProvenance *tp, const char *path)
{
    for (size_t i = 0; tp && i < tp->n_inputs; i++)
        if (!strcmp(tp->inputs[i]->path, path))
            return tp->inputs[i];
    return NULL;
}

size_t cli_inputs_changed(const Cairn__JobProvenance *jp, const Cairn__JobSpec *js, FILE *f)
{
    size_t n = 0;
    for (size_t t = 0; t < js->n_tasks; t++) {
        const Cairn__TaskSpec *ts = js->tasks[t];
        const Cairn__TaskProvenance *tp = recorded_task(jp, ts->name);
        for (size_t i = 0; i < ts->n_inputs; i++) {
            const Cairn__OutputHash *now = ts->inputs[i];
            const Cairn__OutputHash *was = recorded_input(tp, now->path);
            const char *sha = now->sha256 && now->sha256[0] ? now->sha256 : NULL;
            if (was && sha && !strcmp(was->sha256, sha))
                continue;
            n++;
            if (!f)
                continue;
            fprintf(f, "  %s: %s: ", ts->name, now->path);
            if (!was)
                fprintf(f, "no hash recorded (the job was submitted before its inputs were "
                           "recorded)");
            else
                fprintf(f, "%.12s -> ", was->sha256);
            if (was && sha)
                fprintf(f, "%.12s", sha);
            else if (was)
                fprintf(f, "%s", now->error && now->error[0] ? now->error : "not hashed");
            fputc('\n', f);
        }
    }
    return n;
}
