/* The content hashes of cached tasks' inputs, taken by cairn submit and
 * cairn rerun on the submitting machine (the files are expected on a
 * filesystem the workers share): part of the tasks' cache keys. */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "outputs.h"

int cli_hash_inputs(Cairn__JobSpec *js, const char *name)
{
    int bad = 0;
    for (size_t t = 0; t < js->n_tasks; t++) {
        Cairn__TaskSpec *ts = js->tasks[t];
        if (!ts->cache || ts->n_inputs == 0)
            continue;
        if (!ts->workdir || !ts->workdir[0]) {
            fprintf(stderr,
                    "%s: task %s: cache needs a workdir (inputs and outputs are relative "
                    "to it)\n",
                    name, ts->name);
            bad++;
            continue;
        }
        const char **paths = calloc(ts->n_inputs, sizeof(*paths));
        worker_output_t *out = calloc(ts->n_inputs, sizeof(*out));
        if (!paths || !out) {
            free(paths);
            free(out);
            fprintf(stderr, "cairn: out of memory\n");
            return -1;
        }
        for (size_t i = 0; i < ts->n_inputs; i++)
            paths[i] = ts->inputs[i]->path;
        worker_outputs_hash(ts->workdir, paths, ts->n_inputs, out, NULL, NULL);
        for (size_t i = 0; i < ts->n_inputs; i++) {
            Cairn__OutputHash *h = ts->inputs[i];
            if (out[i].error[0]) {
                fprintf(stderr, "%s: task %s: input %s (in %s): %s\n", name, ts->name, h->path,
                        ts->workdir, out[i].error);
                bad++;
                continue;
            }
            h->sha256 = strdup(out[i].sha256);
            h->size = out[i].size;
            if (!h->sha256) {
                fprintf(stderr, "cairn: out of memory\n");
                bad++;
            }
        }
        free(paths);
        free(out);
    }
    return bad ? -1 : 0;
}
