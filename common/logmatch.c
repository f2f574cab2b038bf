/* Log patterns (logmatch.h). */
#include "common/logmatch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int cairn_log_pattern_compile(regex_t *re, const char *pattern, cairn_error_t *err)
{
    size_t n = pattern ? strlen(pattern) : 0;
    if (n == 0)
        return errcode(err, -EINVAL, "empty log pattern");
    if (n > CAIRN_LOG_PATTERN_MAX)
        return errcode(err, -EINVAL, "log pattern too long (%zu bytes, at most %u)", n,
                       CAIRN_LOG_PATTERN_MAX);
    int rc = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB | REG_NEWLINE);
    if (rc != 0) {
        char why[128];
        regerror(rc, re, why, sizeof(why));
        return errcode(err, -EINVAL, "bad log pattern '%s': %s", pattern, why);
    }
    return 0;
}

void cairn_log_pattern_free(regex_t *re)
{
    regfree(re);
}

bool cairn_log_pattern_match(const regex_t *re, const char *buf, size_t len)
{
    char *s = malloc(len + 1);
    if (!s)
        return false;
    memcpy(s, buf, len);
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\0')
            s[i] = '\n';
    s[len] = '\0';
    bool hit = regexec(re, s, 0, NULL, 0) == 0;
    free(s);
    return hit;
}
