/* Log patterns: retry.on's `log: REGEX`, a POSIX extended regular
 * expression matched against the tail of a failed attempt's stderr. The
 * client checks a pattern at submit; the worker compiles and matches it.
 * Lines are lines: `^` and `$` match at each line, `.` never matches a
 * newline (REG_NEWLINE). */
#ifndef CAIRN_COMMON_LOGMATCH_H
#define CAIRN_COMMON_LOGMATCH_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define CAIRN_LOG_PATTERN_MAX 1024u       /* bytes in a pattern */
#define CAIRN_LOG_MATCH_TAIL (64u * 1024) /* bytes of stderr matched: the last ones */

/* Compile pattern into *re (cairn_log_pattern_free it). 0, or -EINVAL with
 * what is wrong in err (empty, too long, not a regex: regerror's words). */
int cairn_log_pattern_compile(regex_t *re, const char *pattern, cairn_error_t *err);
void cairn_log_pattern_free(regex_t *re);

/* Whether re matches somewhere in buf[0..len) (NUL bytes read as
 * newlines). buf is not changed; false when out of memory. */
bool cairn_log_pattern_match(const regex_t *re, const char *buf, size_t len);

#endif
