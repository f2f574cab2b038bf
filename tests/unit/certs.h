/* Certificates for TLS and signed-request tests, made with openssl in a
 * fresh directory per test: certs_init() (skips the test without openssl),
 * certs_ca(NAME), certs_make(NAME, SUBJECT, CA, EXT) -> NAME.both (the
 * certificate then its key), certs_path(NAME), certs_fini(). */
#ifndef CAIRN_TEST_CERTS_H
#define CAIRN_TEST_CERTS_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/clock.h"
#include "proto/client.pb-c.h"
#include "proto/envelope.h"
#include "proto/sign.h"

static char certs_dir[64];

static void certs_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void certs_sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static inline void certs_init(void)
{
    if (system("command -v openssl >/dev/null 2>&1") != 0)
        cr_skip_test("no openssl to make certificates");
    snprintf(certs_dir, sizeof(certs_dir), "/tmp/cairn-certs-XXXXXX");
    cr_assert_not_null(mkdtemp(certs_dir));
}

static inline void certs_fini(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", certs_dir);
    if (certs_dir[0] && system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", certs_dir);
}

/* A self-signed CA: NAME.pem, NAME.key. */
static inline void certs_ca(const char *name)
{
    certs_sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s.key -out %s.pem -days 2 -subj /CN=%s >/dev/null 2>&1",
             certs_dir, name, name, name);
}

/* A certificate for subject signed by ca, with ext (an openssl extension
 * line such as "extendedKeyUsage=serverAuth", or ""): NAME.both. */
static inline void certs_make(const char *name, const char *subject, const char *ca,
                              const char *ext)
{
    certs_sh("cd %s && printf '%%s\\n' '%s' > %s.ext && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s.key -out %s.csr -subj '%s' >/dev/null 2>&1 && "
             "openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial -days 2 "
             "-extfile %s.ext -out %s.crt >/dev/null 2>&1 && cat %s.crt %s.key > %s.both",
             certs_dir, ext, name, name, name, subject, name, ca, ca, name, name, name, name, name);
}

/* certs_dir/NAME (one of four rotating buffers). */
static inline char *certs_path(const char *name)
{
    static char p[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof(p[k]), "%s/%s", certs_dir, name);
    return p[k];
}

/* The encoded envelope of req signed by who (NAME.both) at t for the
 * scheduler at url; *len its length; free() it. */
static inline uint8_t *certs_sign(const char *url, const char *who, const uint8_t *req,
                                  size_t req_len, int64_t t, size_t *len)
{
    cairn_signer_t *s = NULL;
    cairn_error_t err = {{0}};
    char file[64];
    snprintf(file, sizeof(file), "%s.both", who);
    cr_assert_eq(cairn_signer_create(certs_path(file), url, &s, &err), 0, "%s", err.text);
    uint8_t *buf = NULL;
    cr_assert_eq(cairn_signer_wrap(s, req, req_len, t, &buf, len, &err), 0, "%s", err.text);
    cairn_signer_destroy(s);
    return buf;
}

#endif
