/* GPU model matching: a request's `model` as people write it.
 *
 * A plain request ("H100", "a100 80gb", "MI250X", "NVIDIA H100 80GB HBM3")
 * is a list of words (runs of letters and digits); a GPU matches when each
 * word is one of the words of its model name, whole and in the same order,
 * ignoring case. So "A10" matches "NVIDIA A10" but not "NVIDIA
 * A100-SXM4-80GB", and "L40" does not match "NVIDIA L40S". A request that
 * starts with '~' is a POSIX extended regular expression searched in the
 * model name, ignoring case ("~^NVIDIA (A|H)100"), compiled once per task
 * class and owned by it. A MIG instance ("... MIG 1g.10gb") is taken only
 * by a request that names its profile (gpu_match_mig()), never by one
 * for any GPU or for a whole GPU's model. Nothing here depends on the state or the time;
 * the daemons do not call setlocale(), so patterns see the C locale. */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduling/sched_private.h"

static bool word_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch >= 0x80;
}

static unsigned char lower(unsigned char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (unsigned char)(ch - 'A' + 'a') : ch;
}

/* The next word of *s: its start and length; false at the end. */
static bool next_word(const char **s, const char **w, size_t *len)
{
    const unsigned char *p = (const unsigned char *)*s;
    while (*p && !word_char(*p))
        p++;
    if (!*p)
        return false;
    const unsigned char *start = p;
    while (*p && word_char(*p))
        p++;
    *w = (const char *)start;
    *len = (size_t)(p - start);
    *s = (const char *)p;
    return true;
}

static bool word_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return false;
    return true;
}

/* Each word of want, in order, is a whole word of model. */
static bool words_match(const char *want, const char *model)
{
    const char *w, *m;
    size_t wl, ml;
    bool any = false;
    while (next_word(&want, &w, &wl)) {
        any = true;
        bool found = false;
        while (!found && next_word(&model, &m, &ml))
            found = word_eq(w, wl, m, ml);
        if (!found)
            return false;
    }
    return any;
}

int gpu_match_init(gpu_match_t *m, const char *want, char *why, size_t n)
{
    memset(m, 0, sizeof(*m));
    if (!want || !*want)
        return 0;
    if (want[0] != '~') {
        const char *p = want, *w;
        size_t wl;
        if (!next_word(&p, &w, &wl)) {
            snprintf(why, n, "has no letters or digits");
            return -1;
        }
        m->want = want;
        return 0;
    }
    if (!want[1]) {
        snprintf(why, n, "is an empty pattern");
        return -1;
    }
    regex_t *re = malloc(sizeof(*re));
    if (!re) {
        snprintf(why, n, "out of memory");
        return -1;
    }
    int rc = regcomp(re, want + 1, REG_EXTENDED | REG_ICASE | REG_NOSUB);
    if (rc != 0) {
        char msg[128];
        regerror(rc, re, msg, sizeof(msg));
        snprintf(why, n, "is not a valid pattern (%s)", msg);
        free(re);
        return -1;
    }
    m->want = want;
    m->re = re;
    return 0;
}

void gpu_match_fini(gpu_match_t *m)
{
    if (m->re) {
        regfree(m->re);
        free(m->re);
    }
    memset(m, 0, sizeof(*m));
}

bool gpu_match(const gpu_match_t *m, const char *model)
{
    if (!m->want)
        return false; /* never initialised: match nothing rather than anything */
    if (!model)
        model = "";
    if (m->re)
        return regexec(m->re, model, 0, NULL, 0) == 0;
    return words_match(m->want, model);
}

const char *gpu_mig_profile(const char *model)
{
    const char *p = NULL, *q = model;
    if (!model)
        return NULL;
    while ((q = strstr(q, " MIG ")) != NULL)
        p = q += 5;
    return p && *p ? p : NULL;
}

/* Does the pattern mention MIG, ignoring case? */
static bool mentions_mig(const char *want)
{
    for (const char *p = want; p[0] && p[1] && p[2]; p++)
        if (lower((unsigned char)p[0]) == 'm' && lower((unsigned char)p[1]) == 'i' &&
            lower((unsigned char)p[2]) == 'g')
            return true;
    return false;
}

bool gpu_match_mig(const gpu_match_t *m, const char *model, const char *profile)
{
    if (!m->want || !gpu_match(m, model))
        return false;
    if (m->re)
        return mentions_mig(m->want);
    return words_match(profile, m->want);
}

int sched_gpu_model_match(const char *want, const char *model, cairn_error_t *err)
{
    gpu_match_t m;
    char why[160];
    if (!want || !*want)
        return 1;
    if (gpu_match_init(&m, want, why, sizeof(why)) < 0)
        return errcode(err, SCHED_EINVAL, "GPU model '%s' %s", want, why);
    int r = gpu_match(&m, model) ? 1 : 0;
    gpu_match_fini(&m);
    return r;
}
