/* The cluster's join secret: a worker joins only if it proves it holds the
 * scheduler's key, and trusts the scheduler only if it proves the same, by
 * challenge-response both ways, with no secret on the wire.
 *
 *   worker -> Register (no auth)
 *   scheduler -> RegisterReply{accepted: false, challenge: 32 random bytes}
 *   worker -> Register{auth: {key_id, nonce: 16 random bytes,
 *                             hmac: HMAC-SHA256(key, "cairn-join-v1" 0
 *                                   challenge nonce node_name)}}
 *   scheduler: the challenge it sent on this connection (it holds until
 *   an answer fails or the worker is accepted), the HMAC compared in
 *   constant time -> accepted, or refused (a new challenge) and logged;
 *   accepted: RegisterReply{accepted: true,
 *             proof: HMAC-SHA256(key, "cairn-join-scheduler-v1" 0
 *                    challenge nonce node_name)}
 *   worker: the proof over its own fresh nonce, in constant time: only
 *   then does it take commands on this connection.
 *
 * The key file holds the secret (16 to 4096 bytes; a trailing newline is
 * not part of it) and must be readable by its owner only. key_id is the
 * first 16 hex digits of the key's SHA-256: it names a key in logs, it does
 * not reveal it.
 *
 * Over tls+tcp:// to a scheduler with --tls-ca the same answer carries the
 * worker's certificate and its key's signature over the challenge, the
 * nonce and the node name (proto/sign.h): see PROTOCOL.md, "Joining". */
#ifndef CAIRN_PROTO_JOIN_H
#define CAIRN_PROTO_JOIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define CAIRN_JOIN_CHALLENGE_LEN 32
#define CAIRN_JOIN_NONCE_LEN 16
#define CAIRN_JOIN_HMAC_LEN 32
#define CAIRN_JOIN_KEY_MAX 4096

typedef struct cairn_join_key {
    uint8_t key[CAIRN_JOIN_KEY_MAX];
    size_t len;
    char id[17];
} cairn_join_key_t;

/* Load the key at path: -EPERM when the file is readable or writable by
 * group or others, -EINVAL when shorter than 16 bytes or too long. */
int cairn_join_key_load(const char *path, cairn_join_key_t *k, cairn_error_t *err);

/* n random bytes (getrandom). */
int cairn_join_random(uint8_t *out, size_t n);

/* The answer to a challenge. */
void cairn_join_answer(const cairn_join_key_t *k, const uint8_t *challenge, size_t clen,
                       const uint8_t *nonce, size_t nlen, const char *node,
                       uint8_t out[CAIRN_JOIN_HMAC_LEN]);

/* Whether hmac answers the challenge for node, in constant time. */
bool cairn_join_check(const cairn_join_key_t *k, const uint8_t *challenge, size_t clen,
                      const uint8_t *nonce, size_t nlen, const char *node, const uint8_t *hmac,
                      size_t hlen);

/* The scheduler's proof that it holds the key, over the challenge it sent
 * and the nonce the worker answered with; and its check by the worker. */
void cairn_join_prove(const cairn_join_key_t *k, const uint8_t *challenge, size_t clen,
                      const uint8_t *nonce, size_t nlen, const char *node,
                      uint8_t out[CAIRN_JOIN_HMAC_LEN]);
bool cairn_join_check_proof(const cairn_join_key_t *k, const uint8_t *challenge, size_t clen,
                            const uint8_t *nonce, size_t nlen, const char *node,
                            const uint8_t *proof, size_t plen);

#endif
