/* The join secret; see join.h. */
#include "proto/join.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/sha256.h"

#define JOIN_TAG "cairn-join-v1"
#define JOIN_PROOF_TAG "cairn-join-scheduler-v1"

int cairn_join_key_load(const char *path, cairn_join_key_t *k, cairn_error_t *err)
{
    memset(k, 0, sizeof(*k));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errcode(err, -errno, "join key %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return errcode(err, -EINVAL, "join key %s: not a regular file", path);
    }
    if (st.st_mode & 077) {
        close(fd);
        return errcode(err, -EPERM,
                       "join key %s is accessible to others (mode %04o): make it readable "
                       "by its owner only (chmod 600)",
                       path, (unsigned)(st.st_mode & 07777));
    }
    ssize_t n = read(fd, k->key, sizeof(k->key));
    uint8_t extra;
    bool more = n == (ssize_t)sizeof(k->key) && read(fd, &extra, 1) == 1;
    close(fd);
    if (n < 0)
        return errcode(err, -EIO, "join key %s: cannot read it", path);
    if (more)
        return errcode(err, -EINVAL, "join key %s: longer than %d bytes", path, CAIRN_JOIN_KEY_MAX);
    while (n > 0 && (k->key[n - 1] == '\n' || k->key[n - 1] == '\r'))
        n--;
    if (n < 16) {
        memset(k, 0, sizeof(*k));
        return errcode(err, -EINVAL,
                       "join key %s: %zd bytes, at least 16 needed (e.g. head -c 32 "
                       "/dev/urandom | base64 > FILE)",
                       path, n);
    }
    k->len = (size_t)n;
    char hex[2 * CAIRN_SHA256_LEN + 1];
    cairn_sha256_hex(k->key, k->len, hex);
    memcpy(k->id, hex, 16);
    k->id[16] = '\0';
    return 0;
}

int cairn_join_random(uint8_t *out, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(out + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)r;
    }
    return 0;
}

/* HMAC-SHA256(key, tag 0 challenge nonce node): challenge and nonce have
 * fixed lengths on the wire, the tag differs by direction. */
static void join_mac(const cairn_join_key_t *k, const char *tag, const uint8_t *challenge,
                     size_t clen, const uint8_t *nonce, size_t nlen, const char *node,
                     uint8_t out[CAIRN_JOIN_HMAC_LEN])
{
    size_t tl = strlen(tag) + 1, nl = node ? strlen(node) : 0;
    uint8_t *msg = malloc(tl + clen + nlen + nl + 1);
    if (!msg) {
        memset(out, 0, CAIRN_JOIN_HMAC_LEN);
        return;
    }
    memcpy(msg, tag, tl); /* with its terminating 0 */
    memcpy(msg + tl, challenge, clen);
    memcpy(msg + tl + clen, nonce, nlen);
    memcpy(msg + tl + clen + nlen, node ? node : "", nl);
    cairn_hmac_sha256(k->key, k->len, msg, tl + clen + nlen + nl, out);
    free(msg);
}

static bool join_mac_check(const cairn_join_key_t *k, const char *tag, const uint8_t *challenge,
                           size_t clen, const uint8_t *nonce, size_t nlen, const char *node,
                           const uint8_t *mac, size_t len)
{
    uint8_t want[CAIRN_JOIN_HMAC_LEN];
    if (len != CAIRN_JOIN_HMAC_LEN || nlen < CAIRN_JOIN_NONCE_LEN || clen == 0)
        return false;
    join_mac(k, tag, challenge, clen, nonce, nlen, node, want);
    return cairn_digest_equal(want, mac, CAIRN_JOIN_HMAC_LEN);
}

void cairn_join_answer(const cairn_join_key_t *k, const uint8_t *challenge, size_t clen,
                       const uint8_t *nonce, size_t nlen, const char *node,
                       uint8_t out[CAIRN_JOIN_HMAC_LEN])
{
    join_mac(k, JOIN_TAG, challenge, clen, nonce, nlen, node, out);
}

bool cairn_join_check(const cairn_join_key_t *k, const uint8_t *challenge, size_t clen,
                      const uint8_t *nonce, size_t nlen, const char *node, const uint8_t *hmac,
                      size_t hlen)
{
    return join_mac_check(k, JOIN_TAG, challenge, clen, nonce, nlen, node, hmac, hlen);
}

void cairn_join_prove(const cairn_join_key_t *k, const uint8_t *challenge, size_t clen,
                      const uint8_t *nonce, size_t nlen, const char *node,
                      uint8_t out[CAIRN_JOIN_HMAC_LEN])
{
    join_mac(k, JOIN_PROOF_TAG, challenge, clen, nonce, nlen, node, out);
}

bool cairn_join_check_proof(const cairn_join_key_t *k, const uint8_t *challenge, size_t clen,
                            const uint8_t *nonce, size_t nlen, const char *node,
                            const uint8_t *proof, size_t plen)
{
    return join_mac_check(k, JOIN_PROOF_TAG, challenge, clen, nonce, nlen, node, proof, plen);
}
