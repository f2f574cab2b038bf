/* The digests Cairn stores or sends (the spec hash, cached tasks' keys, the
 * audit chain, the join key's id and proofs, signed requests), each checked
 * against openssl over the byte layout the code documents. Journals, audit
 * trails, caches and peers of another build must keep agreeing: a change of
 * SHA-256 implementation, or a slip in a caller's fields, fails here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certs.h"
#include "leak_check.h"
#include "proto/envelope.h"
#include "proto/join.h"
#include "proto/sha256.h"
#include "proto/sign.h"
#include "scheduler/audit.h"
#include "scheduler/jobspec.h"

/* --- openssl as the reference ------------------------------------------- */

static char ref_dir[64];

static void ref_init(void)
{
    if (system("command -v openssl >/dev/null 2>&1") != 0)
        cr_skip_test("no openssl to compute the reference digests");
    snprintf(ref_dir, sizeof(ref_dir), "/tmp/cairn-digest-XXXXXX");
    cr_assert_not_null(mkdtemp(ref_dir));
}

static void ref_fini(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ref_dir);
    if (ref_dir[0] && system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", ref_dir);
}

/* ref_dir/name holding len bytes at data; its path. */
static const char *ref_file(const char *name, const void *data, size_t len)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", ref_dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
    return path;
}

/* The first word of what cmd prints: a digest in hex (openssl dgst -r). */
static void ref_run(const char *cmd, char hex[65])
{
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char line[512] = "";
    cr_assert_not_null(fgets(line, sizeof(line), p), "%s printed nothing", cmd);
    cr_assert_eq(pclose(p), 0, "%s failed", cmd);
    cr_assert_eq(strspn(line, "0123456789abcdef"), 64, "%s: %s", cmd, line);
    memcpy(hex, line, 64);
    hex[64] = '\0';
}

static void ref_sha256(const void *data, size_t len, char hex[65])
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "openssl dgst -sha256 -r '%s'", ref_file("in", data, len));
    ref_run(cmd, hex);
}

static void ref_hmac(const uint8_t *key, size_t klen, const void *data, size_t len, char hex[65])
{
    char khex[2 * CAIRN_JOIN_KEY_MAX + 1], cmd[2 * CAIRN_JOIN_KEY_MAX + 256];
    for (size_t i = 0; i < klen; i++)
        snprintf(khex + 2 * i, 3, "%02x", key[i]);
    khex[2 * klen] = '\0';
    snprintf(cmd, sizeof(cmd), "openssl dgst -sha256 -r -mac HMAC -macopt hexkey:%s '%s'", khex,
             ref_file("in", data, len));
    ref_run(cmd, hex);
}

static void to_hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* A growable byte string: the layouts are built with it. */
typedef struct bytes {
    uint8_t *p;
    size_t len;
} bytes_t;

static void put(bytes_t *b, const void *data, size_t n)
{
    b->p = realloc(b->p, b->len + n + 1);
    cr_assert_not_null(b->p);
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void puts_(bytes_t *b, const char *s)
{
    put(b, s, strlen(s));
}

/* "LEN:" then the bytes: the length-prefixed field. */
static void field(bytes_t *b, const void *data, size_t n)
{
    char len[24];
    snprintf(len, sizeof(len), "%zu:", n);
    puts_(b, len);
    put(b, data, n);
}

static void field_s(bytes_t *b, const char *s)
{
    field(b, s ? s : "", s ? strlen(s) : 0);
}

static void field_u64(bytes_t *b, uint64_t v)
{
    char s[24];
    snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
    field_s(b, s);
}

TestSuite(digest, .init = ref_init, .fini = ref_fini);

LEAK_TEST(digest, spec_hash_is_plain_sha256)
{
    static const char text[] = "name: j\ntasks:\n  - name: a\n    run: [true]\n";
    char want[65], got[65];
    ref_sha256(text, strlen(text), want);
    cairn_sha256_hex(text, strlen(text), got);
    cr_expect_str_eq(got, want);
    /* at every length around SHA-256's 64-byte blocks */
    uint8_t buf[200];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 7 + 1);
    for (size_t n = 50; n <= 130; n += 5) {
        ref_sha256(buf, n, want);
        cairn_sha256_hex(buf, n, got);
        cr_expect_str_eq(got, want, "%zu bytes", n);
    }
}

LEAK_TEST(digest, fields_are_length_prefixed)
{
    static const uint8_t nul[] = {'a', 0, 'b'};
    bytes_t b = {0};
    field_s(&b, "cairn");
    field_s(&b, NULL);
    field(&b, nul, sizeof(nul));
    field(&b, NULL, 0);
    char want[65], got[65];
    ref_sha256(b.p, b.len, want);
    free(b.p);

    cairn_sha256_ctx_t c;
    uint8_t d[CAIRN_SHA256_LEN];
    cairn_sha256_init(&c);
    cairn_sha256_field(&c, "cairn");
    cairn_sha256_field(&c, NULL);
    cairn_sha256_field_bytes(&c, nul, sizeof(nul));
    cairn_sha256_field_bytes(&c, NULL, 0);
    cairn_sha256_final(&c, d);
    to_hex(d, sizeof(d), got);
    cr_expect_str_eq(got, want);
}

/* The submit-time part of a cached task's key: "cairn-cache-v1", the
 * resolved argv and env, workdir, the task's derived seed, its resource
 * shape, replicas and its inputs' hashes, each a field. */
LEAK_TEST(digest, cache_key_base)
{
    char *argv[] = {"python", "train.py"};
    char *outputs[] = {"model.bin"};
    Cairn__KeyValue env = CAIRN__KEY_VALUE__INIT, *envp = &env;
    env.key = "LR";
    env.value = "0.1";
    Cairn__KeyValue label = CAIRN__KEY_VALUE__INIT, *labelp = &label;
    label.key = "zone";
    label.value = "a";
    Cairn__ResourceRequest rq = CAIRN__RESOURCE_REQUEST__INIT;
    rq.cpus = 2;
    rq.memory_bytes = 1ull << 30;
    rq.gpus = 1;
    rq.gpu_model = "H100";
    rq.gpu_min_memory_bytes = 80ull << 30;
    rq.n_labels = 1;
    rq.labels = &labelp;
    Cairn__OutputHash in = CAIRN__OUTPUT_HASH__INIT, *inp = &in;
    in.path = "train.py";
    in.sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    Cairn__TaskSpec t = CAIRN__TASK_SPEC__INIT, *tp = &t;
    t.name = "train";
    t.n_argv = 2;
    t.argv = argv;
    t.n_env = 1;
    t.env = &envp;
    t.workdir = "/work";
    t.n_outputs = 1;
    t.outputs = outputs;
    t.resources = &rq;
    t.replicas = 1;
    t.cache = true;
    t.n_inputs = 1;
    t.inputs = &inp;
    Cairn__JobSpec js = CAIRN__JOB_SPEC__INIT;
    js.name = "pin";
    js.submitter = "alice";
    js.n_tasks = 1;
    js.tasks = &tp;

    jobspec_errors_t errs = {0};
    jobspec_t *cj = NULL;
    cr_assert_eq(jobspec_build(&js, 7, NULL, &cj, &errs), 0);
    jobspec_errors_fini(&errs);
    const char *got = jobspec_core(cj)->tasks[0].cache_base;
    cr_assert_not_null(got);

    bytes_t b = {0};
    field_s(&b, "cairn-cache-v1");
    field_u64(&b, 2);
    field_s(&b, "python");
    field_s(&b, "train.py");
    field_u64(&b, 1);
    field_s(&b, "LR=0.1");
    field_s(&b, "/work");
    field_u64(&b, sched_seed_derive(7, "train", 0));
    field_u64(&b, 2);
    field_u64(&b, 1ull << 30);
    field_u64(&b, 1);
    field_s(&b, "H100");
    field_u64(&b, 80ull << 30);
    field_u64(&b, 1);
    field_s(&b, "zone=a");
    field_u64(&b, 1);
    field_u64(&b, 1);
    field_s(&b, "train.py");
    field_s(&b, in.sha256);
    char want[65];
    ref_sha256(b.p, b.len, want);
    free(b.p);
    cr_expect_str_eq(got, want);
    jobspec_destroy(cj);
}

/* hash = SHA-256("cairn-audit-v1\n" F(prev) F(seq) F(time_ms) F(user)
 * F(action) F(target) F(detail)), F(x) = len(x) ":" x "\n" (audit.c). */
LEAK_TEST(digest, audit_chain)
{
    audit_entry_t e = {.seq = 1,
                       .time_ms = 1700000000123,
                       .user = "alice",
                       .action = "submit",
                       .target = "job 1",
                       .detail = "name=pin tasks=1"};
    char want[65];
    for (int k = 0; k < 2; k++) {
        bytes_t b = {0};
        char num[32];
        puts_(&b, "cairn-audit-v1\n");
        field_s(&b, e.prev);
        puts_(&b, "\n");
        snprintf(num, sizeof(num), "%llu", (unsigned long long)e.seq);
        field_s(&b, num);
        puts_(&b, "\n");
        snprintf(num, sizeof(num), "%lld", (long long)e.time_ms);
        field_s(&b, num);
        puts_(&b, "\n");
        const char *rest[] = {e.user, e.action, e.target, e.detail};
        for (size_t i = 0; i < 4; i++) {
            field_s(&b, rest[i]);
            puts_(&b, "\n");
        }
        ref_sha256(b.p, b.len, want);
        free(b.p);
        audit_entry_hash(&e, e.hash);
        cr_expect_str_eq(e.hash, want, "entry %d", k);
        /* the next entry chains on this one */
        memcpy(e.prev, e.hash, sizeof(e.prev));
        e.seq = 2;
        e.action = "cancel";
    }
}

/* The key id is the first 16 hex digits of the key's SHA-256; the answer
 * and the proof are HMAC-SHA256(key, tag 0 challenge nonce node). */
LEAK_TEST(digest, join_key_id_and_proofs)
{
    static const char secret[] = "a join secret of more than sixteen bytes";
    const char *path = ref_file("join.key", secret, strlen(secret));
    cr_assert_eq(chmod(path, 0600), 0);
    cairn_join_key_t *k = malloc(sizeof(*k));
    cr_assert_not_null(k);
    cairn_error_t err = {{0}};
    cr_assert_eq(cairn_join_key_load(path, k, &err), 0, "%s", err.text);
    char want[65];
    ref_sha256(secret, strlen(secret), want);
    want[16] = '\0';
    cr_expect_str_eq(k->id, want);

    uint8_t challenge[CAIRN_JOIN_CHALLENGE_LEN], nonce[CAIRN_JOIN_NONCE_LEN];
    for (size_t i = 0; i < sizeof(challenge); i++)
        challenge[i] = (uint8_t)(0xc0 + i);
    for (size_t i = 0; i < sizeof(nonce); i++)
        nonce[i] = (uint8_t)(0x10 * i);
    const char *tags[] = {"cairn-join-v1", "cairn-join-scheduler-v1"};
    for (int w = 0; w < 2; w++) {
        bytes_t b = {0};
        put(&b, tags[w], strlen(tags[w]) + 1);
        put(&b, challenge, sizeof(challenge));
        put(&b, nonce, sizeof(nonce));
        puts_(&b, "node-7");
        ref_hmac(k->key, k->len, b.p, b.len, want);
        free(b.p);
        uint8_t mac[CAIRN_JOIN_HMAC_LEN];
        if (w == 0)
            cairn_join_answer(k, challenge, sizeof(challenge), nonce, sizeof(nonce), "node-7", mac);
        else
            cairn_join_prove(k, challenge, sizeof(challenge), nonce, sizeof(nonce), "node-7", mac);
        char got[65];
        to_hex(mac, sizeof(mac), got);
        cr_expect_str_eq(got, want, "%s", tags[w]);
    }
    free(k);
}

/* A signed request's signature is ECDSA over SHA-256 of the fields
 * "cairn-signed-request-v2", scheduler, time (8 bytes big endian), nonce
 * and request (sign.c): openssl verifies it with the certificate's key. */
LEAK_TEST(digest, signed_request)
{
    certs_init();
    certs_ca("ca");
    certs_make("alice", "/CN=alice", "ca", "");
    static const char req[] = "a request\0with a NUL";
    int64_t t = 1700000000123;
    size_t len = 0;
    uint8_t *buf = certs_sign("tls+tcp://Sched.Example:7000", "alice", (const uint8_t *)req,
                              sizeof(req), t, &len);
    cairn_msg_type_t type;
    ProtobufCMessage *m = NULL;
    cairn_error_t err = {{0}};
    cr_assert_eq(cairn_msg_decode(buf, len, 0, &type, &m, &err), 0, "%s", err.text);
    free(buf);
    const Cairn__SignedRequest *r = (const Cairn__SignedRequest *)m;
    cr_assert_str_eq(r->scheduler, "sched.example");

    bytes_t b = {0};
    uint8_t be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)((uint64_t)t >> (56 - 8 * i));
    field_s(&b, "cairn-signed-request-v2");
    field_s(&b, "sched.example");
    field(&b, be, sizeof(be));
    field(&b, r->nonce.data, r->nonce.len);
    field(&b, req, sizeof(req));
    char msg[160], sig[160], cmd[1024];
    snprintf(msg, sizeof(msg), "%s", ref_file("msg", b.p, b.len));
    free(b.p);
    snprintf(sig, sizeof(sig), "%s", ref_file("sig", r->signature.data, r->signature.len));
    snprintf(cmd, sizeof(cmd),
             "openssl x509 -in '%s' -pubkey -noout > '%s/alice.pub' && "
             "openssl dgst -sha256 -verify '%s/alice.pub' -signature '%s' '%s' >/dev/null",
             certs_path("alice.crt"), ref_dir, ref_dir, sig, msg);
    cr_expect_eq(system(cmd), 0, "openssl does not verify the signature over the fields");
    /* and it is the signature of these fields only: one byte more fails */
    ref_file("msg", "x", 1);
    cr_expect_neq(system(cmd), 0);
    cairn_msg_free(m);
    certs_fini();
}
