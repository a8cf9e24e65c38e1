/* Writes the generated part of the seed corpus: gen_seeds DIR writes
 * DIR/<target>/seed-* for every fuzz target. Deterministic: run it twice and
 * the files are identical (scripts/fuzz --regen-seeds; commit the result).
 *
 * Signed seeds (webhook triples, JWTs, sealed records) use the fixed keys in
 * fuzz_common.h and the fixed clock FZ_NOW. Sealed records come from the real
 * seal_share: this program defines RAND_bytes itself (a SHA-256 counter
 * stream), which the sealing code linked into it calls instead of OpenSSL's,
 * so the data key, salt and nonce are the same on every run. ES256 tokens are
 * signed with a nonce derived from the message, for the same reason.
 * Never link this RAND_bytes into anything else. */
#define OPENSSL_SUPPRESS_DEPRECATED 1   /* ECDSA_do_sign_ex with a chosen nonce */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "fuzz_common.h"
#include "keyring.h"
#include "seal.h"

/* ---- deterministic randomness for seal_share ------------------------------ */

static unsigned long long rand_counter;

int RAND_bytes(unsigned char *buf, int num)
{
    unsigned char block[SHA256_DIGEST_LENGTH], in[32];
    int off = 0;

    while (off < num) {
        int n = num - off < (int)sizeof(block) ? num - off : (int)sizeof(block);
        int len = snprintf((char *)in, sizeof(in), "sharekeep-fuzz-%llu", rand_counter++);
        SHA256(in, (size_t)len, block);
        memcpy(buf + off, block, (size_t)n);
        off += n;
    }
    return 1;
}

/* ---- output ------------------------------------------------------------------ */

static const char *outdir;
static int failed;

static void put(const char *target, const char *name, const void *p, size_t n)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", outdir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        failed = 1;
        return;
    }
    snprintf(path, sizeof(path), "%s/%s/seed-%s", outdir, target, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        failed = 1;
    }
}

/* A growing byte buffer: control bytes, NUL-separated fields, a tail. */
struct buf {
    uint8_t d[65536];
    size_t n;
};

static void b_bytes(struct buf *b, const void *p, size_t n)
{
    if (b->n + n > sizeof(b->d))
        abort();
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void b_field(struct buf *b, const char *s)
{
    b_bytes(b, s, strlen(s) + 1);
}

static void b_str(struct buf *b, const char *s)
{
    b_bytes(b, s, strlen(s));
}

/* ---- tokens --------------------------------------------------------------------- */

static EVP_PKEY *es_key(void)
{
    BIO *bio = BIO_new_mem_buf(FZ_JWT_ES_PRIV_PEM, -1);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);

    BIO_free(bio);
    if (k == NULL)
        abort();
    return k;
}

/* ECDSA P-256 over SHA-256(msg) with k = SHA-256("k" || msg) mod n. */
static void es256_det(const char *msg, size_t len, uint8_t rs[64])
{
    EVP_PKEY *pkey = es_key();
    EC_KEY *ec = EVP_PKEY_get1_EC_KEY(pkey);
    const EC_GROUP *g = EC_KEY_get0_group(ec);
    BN_CTX *bn = BN_CTX_new();
    BIGNUM *k = BN_new(), *kinv = BN_new(), *rp = BN_new(), *x = BN_new();
    const BIGNUM *n = EC_GROUP_get0_order(g);
    EC_POINT *R = EC_POINT_new(g);
    uint8_t dgst[32], kb[32];
    SHA256_CTX sc;
    ECDSA_SIG *sig;

    SHA256((const unsigned char *)msg, len, dgst);
    SHA256_Init(&sc);
    SHA256_Update(&sc, "k", 1);
    SHA256_Update(&sc, msg, len);
    SHA256_Final(kb, &sc);
    if (BN_bin2bn(kb, 32, k) == NULL || BN_nnmod(k, k, n, bn) != 1 || BN_is_zero(k) ||
        EC_POINT_mul(g, R, k, NULL, NULL, bn) != 1 ||
        EC_POINT_get_affine_coordinates(g, R, x, NULL, bn) != 1 ||
        BN_nnmod(rp, x, n, bn) != 1 || BN_mod_inverse(kinv, k, n, bn) == NULL)
        abort();
    sig = ECDSA_do_sign_ex(dgst, 32, kinv, rp, ec);
    if (sig == NULL || BN_bn2binpad(ECDSA_SIG_get0_r(sig), rs, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(sig), rs + 32, 32) != 32)
        abort();
    ECDSA_SIG_free(sig);
    EC_POINT_free(R);
    BN_free(k);
    BN_free(kinv);
    BN_free(rp);
    BN_free(x);
    BN_CTX_free(bn);
    EC_KEY_free(ec);
    EVP_PKEY_free(pkey);
}

/* "header.payload.sig" into out; alg 'H' = HS256, 'E' = ES256, 'N' = none. */
static void jwt(const char *header, const char *payload, char alg, char *out)
{
    uint8_t sig[64];
    size_t n;

    n = fz_b64url((const uint8_t *)header, strlen(header), out);
    out[n++] = '.';
    n += fz_b64url((const uint8_t *)payload, strlen(payload), out + n);
    if (alg == 'H') {
        if (fz_hmac((const uint8_t *)FZ_JWT_HS_SECRET, strlen(FZ_JWT_HS_SECRET), out, n, NULL,
                    0, NULL, 0, sig) != 0)
            abort();
    } else if (alg == 'E') {
        es256_det(out, n, sig);
    }
    out[n++] = '.';
    if (alg == 'N')
        out[n] = '\0';
    else
        fz_b64url(sig, alg == 'H' ? 32 : 64, out + n);
}

#define HDR_HS "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define HDR_ES "{\"alg\":\"ES256\",\"typ\":\"JWT\"}"
#define CLAIMS "{\"sub\":\"client-42\",\"iss\":\"" FZ_JWT_ISSUER "\",\"aud\":\"" \
               FZ_JWT_AUDIENCE "\",\"iat\":1700000000,\"nbf\":1699999990,\"exp\":1700000600}"

/* ---- per target ------------------------------------------------------------------ */

static const char custodian_body[] = "{\"clientId\":\"client-42\",\"share\":\"c2hhcmUtYnl0ZXM=\"}";

static void http_seed(const char *name, uint8_t flags, uint8_t b1, uint8_t b2,
                      const char *method, const char *uri, const char *script,
                      const char *info, const char *ct, const char *cl, const char *rid,
                      const char *extra, const char *body, size_t body_len)
{
    struct buf b = { .n = 0 };
    uint8_t ctl[3] = { flags, b1, b2 };

    b_bytes(&b, ctl, 3);
    b_field(&b, method);
    b_field(&b, uri);
    b_field(&b, script);
    b_field(&b, info);
    b_field(&b, ct);
    b_field(&b, cl);
    b_field(&b, rid);
    b_field(&b, extra);
    b_bytes(&b, body, body_len);
    put("fuzz_http", name, b.d, b.n);
}

static void seeds_http(void)
{
    char sig[48], extra[512], tok[1024];
    const char *cb = custodian_body;
    size_t cbl = strlen(cb);
    static const char nul_body[] = "{\"backupShare\":\"a\0b\"}";

    fz_webhook_sig("msg_1", "1700000000", (const uint8_t *)cb, cbl, sig);
    snprintf(extra, sizeof(extra), "HTTP_WEBHOOK_ID=msg_1\nHTTP_WEBHOOK_TIMESTAMP=1700000000\n"
             "HTTP_WEBHOOK_SIGNATURE=%s\nREMOTE_ADDR=127.0.0.1\nGATEWAY_INTERFACE=CGI/1.1", sig);
    /* flags 0x01: exact Content-Length; b2 = 5: max_body = 1024 << 5 = 32 KiB */
    http_seed("custodian-store", 0x01, 0, 5, "POST", "/webhook/backup", "", "",
              "application/json", "", "req-1", extra, cb, cbl);
    http_seed("custodian-fetch", 0x01, 0, 5, "POST", "/webhook/backup/fetch", "", "",
              "application/json; charset=utf-8", "", "", extra,
              "{\"clientId\":\"client-42\"}", 24);
    jwt(HDR_HS, CLAIMS, 'H', tok);
    snprintf(extra, sizeof(extra), "HTTP_AUTHORIZATION=Bearer %s", tok);
    http_seed("client-store", 0x01, 0, 5, "POST", "/portal/clients/client-42/backup", "", "",
              "application/json", "", "", extra, "{\"backupShare\":\"eA==\"}", 22);
    http_seed("client-get", 0x03, 0, 5, "GET", "/portal/clients/client-42/backup?x=1", "", "",
              "", "", "abc.DEF_1-2", extra, "", 0);
    http_seed("healthz", 0x03, 0, 0, "GET", "/healthz", "", "", "", "", "", "", "", 0);
    /* plain CGI: no REQUEST_URI, SCRIPT_NAME + PATH_INFO */
    http_seed("cgi-path", 0x05, 0, 5, "POST", "", "/webhook", "/backup", "application/json", "",
              "", "", cb, cbl);
    /* Content-Length 5 more than the body: truncated */
    http_seed("truncated", 0x02, 5, 5, "POST", "/webhook/backup", "", "", "application/json",
              "", "", "", cb, cbl);
    /* Content-Length 3 less than the body */
    http_seed("short-length", 0x02, (uint8_t)-3, 5, "POST", "/webhook/backup", "", "",
              "application/json", "", "", "", cb, cbl);
    /* no Content-Length: read to EOF, one byte per read */
    http_seed("no-length-bytewise", 0x13, 0, 0, "POST", "/webhook/backup", "", "",
              "application/json", "", "", "", cb, cbl);
    /* the transport fails on the second read, 4 bytes per read */
    http_seed("read-error", 0x39, 1, 5, "POST", "/webhook/backup", "", "", "application/json",
              "", "", "", cb, cbl);
    http_seed("bad-length", 0x00, 0, 5, "POST", "/webhook/backup", "", "", "application/json",
              "12a", "", "", cb, cbl);
    http_seed("huge-length", 0x00, 0, 5, "POST", "/webhook/backup", "", "", "application/json",
              "99999999999999999999", "", "", cb, cbl);
    http_seed("text-plain", 0x01, 0, 5, "POST", "/webhook/backup", "", "", "text/plain", "",
              "", "", cb, cbl);
    http_seed("nul-in-body", 0x01, 0, 5, "POST", "/portal/clients/client-42/backup", "", "",
              "application/json", "", "", "", nul_body, sizeof(nul_body) - 1);
    http_seed("traversal", 0x01, 0, 5, "POST", "/portal/clients/..%2Fx/backup", "", "",
              "application/json", "", "", "", "{}", 2);
    http_seed("no-method", 0x03, 0, 5, "", "/healthz", "", "", "", "", "", "", "", 0);
    http_seed("relative-path", 0x03, 0, 5, "GET", "healthz", "", "", "", "", "", "", "", 0);
    {
        char big[1200];
        memset(big, 'a', sizeof(big));
        memcpy(big, "{\"clientId\":\"c\",\"share\":\"", 25);
        memcpy(big + sizeof(big) - 2, "\"}", 2);
        http_seed("over-max-body", 0x01, 0, 0, "POST", "/webhook/backup", "", "",
                  "application/json", "", "", "", big, sizeof(big));
    }
}

static void seeds_body(void)
{
    static const char *const bodies[][2] = {
        { "custodian", "{\"clientId\":\"client-42\",\"share\":\"c2hhcmUtYnl0ZXM=\"}" },
        { "fetch", "{\"clientId\":\"client-42\"}" },
        { "client", " {\"backupShare\" : \"eyJ4IjoxfQ==\"}\n" },
        { "escapes", "{\"share\":\"q\\\"b\\\\s\\/n\\n\\r\\t\\b\\f\\u0000\\u001f\\u00e9\\ud83d\\ude00\"}" },
        { "utf8", "{\"share\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",\"k\\u00e9y\":\"v\"}" },
        { "types", "{\"clientId\":\"a\",\"n\":-0.5e+10,\"t\":true,\"f\":false,\"z\":null,"
                   "\"a\":[1,[2,[3]]],\"o\":{\"p\":{}}}" },
        { "numbers", "{\"big\":123456789012345678901234567890,\"e\":1e999,\"neg\":-0,"
                     "\"frac\":0.000001}" },
        { "deep", "{\"a\":{\"b\":{\"c\":{\"d\":1}}}}" },
        { "too-deep", "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":1}}}}}" },
        { "duplicate", "{\"share\":\"a\",\"share\":\"b\"}" },
        { "empty", "{}" },
        { "not-object", "[\"share\"]" },
        { "trailing", "{\"share\":\"a\"} x" },
        { "lone-surrogate", "{\"share\":\"\\ud800\"}" },
        { "overlong", "{\"share\":\"\xc0\xaf\"}" },
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        put("fuzz_body", bodies[i][0], bodies[i][1], strlen(bodies[i][1]));
}

static void webhook_seed(const char *name, uint8_t mode, uint8_t slot, const char *id,
                         const char *ts, const char *sig, const char *rest)
{
    struct buf b = { .n = 0 };
    uint8_t ctl[2] = { mode, slot };

    b_bytes(&b, ctl, 2);
    b_field(&b, id);
    b_field(&b, ts);
    b_field(&b, sig);
    b_str(&b, rest);
    put("fuzz_webhook", name, b.d, b.n);
}

static void seeds_webhook(void)
{
    const char *body = custodian_body;
    char sig[48], two[160];
    /* tolerance 300 s: byte 0 = (30 << 2) | mode */
    const uint8_t tol = 30 << 2;

    fz_webhook_sig("msg_2ZQjvJ4Y", "1700000000", (const uint8_t *)body, strlen(body), sig);
    webhook_seed("valid", tol | 0, 0, "msg_2ZQjvJ4Y", "1700000000", sig, body);
    snprintf(two, sizeof(two), "v1,bm90IHRoZSByaWdodCBzaWduYXR1cmUgYXQgYWxsIQ==  %s v1a,abc", sig);
    webhook_seed("valid-rotated", tol | 0, 0, "msg_2ZQjvJ4Y", "1700000000", two, body);
    fz_webhook_sig("msg_1", "1699999800", (const uint8_t *)"", 0, sig);
    webhook_seed("valid-empty-body-old", tol | 0, 0, "msg_1", "1699999800", sig, "");
    webhook_seed("stale", tol | 0, 0, "msg_2ZQjvJ4Y", "1699990000", sig, body);
    webhook_seed("missing-id", tol | 0, 0, "\x01", "1700000000", sig, body);
    webhook_seed("broken-entries", tol | 0, 0, "msg.1", "17e8", "v1 ,x v1,==== v9,", body);
    webhook_seed("auto-sign", tol | 1, 1, "msg_auto", "1700000123",
                 "v1a,c2lnbmF0dXJl v2,abc", body);
    webhook_seed("secrets-standard", tol | 2, 0, "msg_3", "1700000000", "v1,x",
                 "# rotation: new first\n  whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\t\n"
                 "\n3q2+796tvu/erb7v3q2+796tvu/erb7v3q2+796tvu8=\n");
    webhook_seed("secrets-shared", tol | 3, 0, "", "", "a-shared-secret-of-32-characters",
                 "# shared\n a-shared-secret-of-32-characters \nanother-shared-secret-16+\n");
    webhook_seed("secrets-asymmetric", tol | 2, 0, "", "", "", "whsk_AAAA\n");
}

static void jwt_raw_seed(const char *name, uint8_t ctl, const char *auth)
{
    struct buf b = { .n = 0 };
    uint8_t c[2] = { 0, ctl };

    b_bytes(&b, c, 2);
    b_str(&b, auth);
    put("fuzz_jwt", name, b.d, b.n);
}

static void jwt_parts_seed(const char *name, uint8_t mode, uint8_t ctl, const char *h,
                           const char *p)
{
    struct buf b = { .n = 0 };
    uint8_t c[2] = { mode, ctl };

    b_bytes(&b, c, 2);
    b_field(&b, h);
    b_str(&b, p);
    put("fuzz_jwt", name, b.d, b.n);
}

static void seeds_jwt(void)
{
    char tok[2048], auth[2100];
    /* ctl: audience + issuer checked, leeway 60 s, sub_cap 256 */
    const uint8_t all = 0x01 | 0x02 | (2 << 2) | (3 << 4);

    jwt(HDR_HS, CLAIMS, 'H', tok);
    snprintf(auth, sizeof(auth), "Bearer %s", tok);
    jwt_raw_seed("hs256-valid", all, auth);
    jwt(HDR_ES, CLAIMS, 'E', tok);
    snprintf(auth, sizeof(auth), "bearer   %s", tok);
    jwt_raw_seed("es256-valid", all, auth);
    jwt("{\"alg\":\"none\"}", CLAIMS, 'N', tok);
    snprintf(auth, sizeof(auth), "Bearer %s", tok);
    jwt_raw_seed("alg-none", all, auth);
    jwt(HDR_HS, "{\"sub\":\"c\",\"exp\":1600000000}", 'H', tok);
    snprintf(auth, sizeof(auth), "Bearer %s", tok);
    jwt_raw_seed("expired", 0, auth);
    jwt_raw_seed("basic-scheme", all, "Basic dXNlcjpwYXNz");
    jwt_parts_seed("hs-parts", 1, all, HDR_HS, CLAIMS);
    jwt_parts_seed("es-parts", 2, all, HDR_ES, CLAIMS);
    jwt_parts_seed("aud-array", 3, all, "{\"alg\":\"HS256\",\"kid\":\"k1\"}",
                   "{\"sub\":\"c-1\",\"iss\":\"" FZ_JWT_ISSUER "\",\"aud\":[\"x\",\""
                   FZ_JWT_AUDIENCE "\"],\"exp\":1700000000.5,\"iat\":1699999999.9}");
    jwt_parts_seed("crit", 1, 0, "{\"alg\":\"HS256\",\"crit\":[\"b64\"]}", CLAIMS);
    jwt_parts_seed("dup-alg", 1, 0, "{\"alg\":\"HS256\",\"alg\":\"none\"}", CLAIMS);
    jwt_parts_seed("sub-control", 1, 0, HDR_HS, "{\"sub\":\"a\\nb\",\"exp\":1800000000}");
    jwt_parts_seed("nested-claims", 1, 0x30, HDR_HS,
                   "{\"sub\":\"x\",\"exp\":1800000000,\"realm\":{\"roles\":[\"a\",[\"b\"]]}}");
}

static void seal_seed(const char *name, uint8_t ctl, const char *client, const void *p,
                      size_t n)
{
    struct buf b = { .n = 0 };

    b_bytes(&b, &ctl, 1);
    b_field(&b, client);
    b_bytes(&b, p, n);
    put("fuzz_seal", name, b.d, b.n);
}

/* A record sealed under KEK `active` of a ring with keys 1..3 (key n = n * 0x11). */
static void sealed(uint32_t active, const struct seal_context *ctx, const char *share,
                   uint8_t **rec, size_t *rec_len)
{
    struct keyring *kr = NULL;
    uint8_t key[KEK_LEN];

    if (keyring_new(&kr) != KEYRING_OK)
        abort();
    for (uint32_t id = 1; id <= 3; id++) {
        memset(key, (int)(id * 0x11), sizeof(key));
        if (keyring_add(kr, id, id == active ? KEK_ACTIVE : KEK_DECRYPT, key, sizeof(key)) !=
            KEYRING_OK)
            abort();
    }
    if (seal_share(kr, ctx, (const uint8_t *)share, strlen(share), rec, rec_len) != SEAL_OK)
        abort();
    keyring_free(kr);
}

static void seeds_seal(void)
{
    struct seal_context ctx = { FZ_SEAL_CLIENT, strlen(FZ_SEAL_CLIENT), SHARE_KIND_CLIENT, 1,
                                "UNKNOWN", 7, "", 0 };
    uint8_t *rec;
    size_t len;

    sealed(1, &ctx, "{\"share\":\"backup share bytes\"}", &rec, &len);
    seal_seed("record-kek1", 0x00, "", rec, len);
    seal_buf_free(rec, len);
    sealed(2, &ctx, "share under the decrypt-only KEK", &rec, &len);
    seal_seed("record-kek2", 0x00, "", rec, len);
    seal_buf_free(rec, len);
    sealed(3, &ctx, "share under the retired KEK", &rec, &len);
    seal_seed("record-kek3-retired", 0x00, "", rec, len);
    seal_buf_free(rec, len);
    ctx.client_id = "client-42";
    ctx.client_id_len = 9;
    ctx.kind = SHARE_KIND_CUSTODIAN;
    ctx.version = 7;
    sealed(1, &ctx, "", &rec, &len);
    /* byte 0: decode, custodian (bit 1), version 7 ((7 - 1) << 2) */
    seal_seed("record-empty-share", (uint8_t)(0x02 | (6 << 2)), "client-42", rec, len);
    seal_buf_free(rec, len);
    seal_seed("seal-share", 0x01, "", "c2hhcmU=", 8);
    seal_seed("seal-binary-share", 0x03 | (4 << 2), "c-9", "\x00\x01\xff\xfe", 4);
    seal_seed("seal-empty", 0x01, "x", "", 0);
    seal_seed("short-record", 0x00, "", "SKSR\x01\x01", 6);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    outdir = argv[1];
    seeds_http();
    seeds_body();
    seeds_webhook();
    seeds_jwt();
    seeds_seal();
    return failed;
}
