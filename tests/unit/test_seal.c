/* Unit tests for seal.c: round trips, the record format, tamper detection,
 * AAD binding, KEK states, rewrap, and published vectors for the primitives
 * (AES-256-GCM, AES-KWP) through the same OpenSSL EVP calls seal.c uses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "bounds.h"
#include "keyring.h"
#include "seal.h"
#include "unit.h"

/* Offsets from doc/record-format.md, typed in again on purpose. */
#define R_VERSION     4
#define R_SUITE       5
#define R_KEK_ID      6
#define R_SCHEME      10
#define R_WRAPPED_LEN 11
#define R_WRAPPED     12
#define R_SALT        52
#define R_COMMIT      84
#define R_NONCE       116
#define R_CT_LEN      128
#define R_CT          132
#define R_OVERHEAD    148

struct kek_spec {
    uint32_t id;
    enum kek_state state;
    uint8_t fill;          /* key = fill, fill+1, ..., fill+31 */
};

static void kek_bytes(uint8_t fill, uint8_t *key)
{
    size_t i;

    for (i = 0; i < KEK_LEN; i++)
        key[i] = (uint8_t)(fill + i);
}

static struct keyring *make_ring(const struct kek_spec *specs, size_t n)
{
    struct keyring *kr = NULL;
    uint8_t key[KEK_LEN];
    size_t i;

    if (keyring_new(&kr) != KEYRING_OK)
        return NULL;
    for (i = 0; i < n; i++) {
        kek_bytes(specs[i].fill, key);
        if (keyring_add(kr, specs[i].id, specs[i].state, key, sizeof(key)) != KEYRING_OK) {
            keyring_free(kr);
            return NULL;
        }
    }
    OPENSSL_cleanse(key, sizeof(key));
    return kr;
}

/* KEK 1 active, KEK 2 decrypt, KEK 3 retired. */
static struct keyring *ring_default(void)
{
    static const struct kek_spec s[] = {
        { 1, KEK_ACTIVE, 0x10 }, { 2, KEK_DECRYPT, 0x40 }, { 3, KEK_RETIRED, 0x70 },
    };
    return make_ring(s, sizeof(s) / sizeof(s[0]));
}

static struct seal_context ctx_id(const char *client_id, enum share_kind kind, uint32_t version,
                                  const char *method, const char *pair_id)
{
    struct seal_context c;

    c.client_id = client_id;
    c.client_id_len = strlen(client_id);
    c.kind = kind;
    c.version = version;
    c.backup_method = method;
    c.backup_method_len = strlen(method);
    c.pair_id = pair_id;
    c.pair_id_len = strlen(pair_id);
    return c;
}

/* Most tests seal under a multi-backup identity, so that format 2's binding
 * of the method is exercised everywhere. */
static struct seal_context ctx_of(const char *client_id, enum share_kind kind, uint32_t version)
{
    return ctx_id(client_id, kind, version, "PASSWORD-SECP256K1", "");
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    unsigned hi, lo;

    while (hex[0] != '\0' && hex[1] != '\0' && n < cap) {
        if (sscanf(hex, "%1x%1x", &hi, &lo) != 2)
            break;
        out[n++] = (uint8_t)(hi << 4 | lo);
        hex += 2;
    }
    return n;
}

/* Seals share under ctx with kr; returns the record or NULL. */
static uint8_t *seal_or_null(const struct keyring *kr, const struct seal_context *ctx,
                             const uint8_t *share, size_t len, size_t *rec_len)
{
    uint8_t *rec = NULL;

    if (seal_share(kr, ctx, share, len, &rec, rec_len) != SEAL_OK)
        return NULL;
    return rec;
}

/* Opens and returns only the status; frees any output. */
static seal_status open_status(const struct keyring *kr, const struct seal_context *ctx,
                               const uint8_t *rec, size_t len)
{
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    seal_status st;

    st = seal_open(kr, ctx, rec, len, &pt, &pt_len);
    if (st != SEAL_OK && pt != NULL)
        st = SEAL_ERR_CRYPTO + 100; /* output must be NULL on failure */
    seal_buf_free(pt, pt_len + 1);
    return st;
}

static void roundtrip(const uint8_t *share, size_t len)
{
    struct keyring *kr = ring_default();
    struct seal_context c = ctx_of("client-42", SHARE_KIND_CLIENT, 7);
    uint8_t *rec = NULL, *pt = NULL;
    size_t rec_len = 0, pt_len = 99;

    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    CU_ASSERT_EQUAL(seal_share(kr, &c, share, len, &rec, &rec_len), SEAL_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    CU_ASSERT_EQUAL(rec_len, R_OVERHEAD + len);
    CU_ASSERT_EQUAL(seal_open(kr, &c, rec, rec_len, &pt, &pt_len), SEAL_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pt);
    CU_ASSERT_EQUAL(pt_len, len);
    if (len > 0)
        CU_ASSERT_EQUAL(memcmp(pt, share, len), 0);
    CU_ASSERT_EQUAL(pt[len], 0);
    if (len >= 16)   /* the share is not stored in clear */
        CU_ASSERT_NOT_EQUAL(memcmp(rec + R_CT, share, len), 0);
    seal_buf_free(pt, pt_len + 1);
    seal_buf_free(rec, rec_len);
    keyring_free(kr);
}

static void test_roundtrip_small(void)
{
    static const char s[] = "a 2-of-3 backup share";

    roundtrip((const uint8_t *)s, sizeof(s) - 1);
}

static void test_roundtrip_empty_share(void)
{
    static const uint8_t one = 0;

    roundtrip(&one, 0);
    roundtrip(NULL, 0);
}

static void test_roundtrip_60k_share(void)
{
    size_t len = 60u * 1024u, i;
    uint8_t *s = malloc(len);

    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    for (i = 0; i < len; i++)
        s[i] = (uint8_t)(i * 131u + (i >> 8));
    roundtrip(s, len);
    free(s);
}

static void test_roundtrip_unicode_and_nul_bytes(void)
{
    /* UTF-8 Cyrillic, CJK, an emoji, and an embedded NUL byte. */
    static const char s[] = "\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87 \xe9\x8d\xb5 \xf0\x9f\x94\x91\0tail\xff";

    roundtrip((const uint8_t *)s, sizeof(s) - 1);
}

static void test_record_layout(void)
{
    struct keyring *kr = ring_default();
    struct seal_context c = ctx_of("alice", SHARE_KIND_CUSTODIAN, 1);
    static const uint8_t share[] = "0123456789";
    uint8_t *rec;
    size_t rec_len = 0;
    uint32_t id = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    rec = seal_or_null(kr, &c, share, 10, &rec_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    CU_ASSERT_EQUAL(rec_len, 158);
    CU_ASSERT_EQUAL(memcmp(rec, "SKSR", 4), 0);
    CU_ASSERT_EQUAL(rec[R_VERSION], 2);
    CU_ASSERT_EQUAL(rec[R_SUITE], 1);
    CU_ASSERT_EQUAL(be32(rec + R_KEK_ID), 1);
    CU_ASSERT_EQUAL(rec[R_SCHEME], 0);   /* RFC 5649 by sharekeep, a key file KEK */
    CU_ASSERT_EQUAL(rec[R_WRAPPED_LEN], 40);
    CU_ASSERT_EQUAL(be32(rec + R_CT_LEN), 10);
    CU_ASSERT_EQUAL(seal_record_kek(rec, rec_len, &id), SEAL_OK);
    CU_ASSERT_EQUAL(id, 1);
    seal_buf_free(rec, rec_len);
    keyring_free(kr);
}

/* Re-derives everything from the documented layout with independent code
 * (EVP_PKEY HKDF rather than EVP_KDF), so the doc and the code agree. */
static void test_record_matches_documented_construction(void)
{
    static const char label_pk[] = "sharekeep v1 payload key";
    static const char label_ck[] = "sharekeep v1 commit key";
    struct keyring *kr = ring_default();
    struct seal_context c = ctx_id("bob_7", SHARE_KIND_CLIENT, 0x01020304, "GDRIVE-ED25519",
                                   "pair-9");
    static const uint8_t share[] = "documented construction";
    uint8_t kek[KEK_LEN], dk[48], aad[96], info[160], pk[32], ck[32], pt[64];
    uint8_t *rec;
    size_t rec_len = 0, aad_len = 0, n, outlen;
    int outl = 0, finl = 0, ok;
    EVP_CIPHER_CTX *cc;
    EVP_PKEY_CTX *pc;

    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    rec = seal_or_null(kr, &c, share, sizeof(share) - 1, &rec_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    n = be32(rec + R_CT_LEN);
    CU_ASSERT_EQUAL_FATAL(n, sizeof(share) - 1);

    /* Unwrap with KEK 1 (fill 0x10) through plain EVP AES-256-KWP. */
    kek_bytes(0x10, kek);
    cc = EVP_CIPHER_CTX_new();
    EVP_CIPHER_CTX_set_flags(cc, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    CU_ASSERT_EQUAL(EVP_DecryptInit_ex(cc, EVP_aes_256_wrap_pad(), NULL, kek, NULL), 1);
    CU_ASSERT_EQUAL(EVP_DecryptUpdate(cc, dk, &outl, rec + R_WRAPPED, 40), 1);
    CU_ASSERT_EQUAL(outl, 32);
    EVP_CIPHER_CTX_free(cc);

    /* AAD context of format 2, byte by byte. */
    memcpy(aad, "sharekeep-aad-v2", 16);
    aad_len = 16;
    aad[aad_len++] = 2;
    aad[aad_len++] = 1;
    aad[aad_len++] = 0;
    aad[aad_len++] = 5;
    memcpy(aad + aad_len, "bob_7", 5);
    aad_len += 5;
    aad[aad_len++] = 2;
    put_be32(aad + aad_len, 0x01020304);
    aad_len += 4;
    aad[aad_len++] = 14;
    memcpy(aad + aad_len, "GDRIVE-ED25519", 14);
    aad_len += 14;
    aad[aad_len++] = 6;
    memcpy(aad + aad_len, "pair-9", 6);
    aad_len += 6;

    for (ok = 0; ok < 2; ok++) {
        const char *label = ok == 0 ? label_pk : label_ck;
        uint8_t *dst = ok == 0 ? pk : ck;
        size_t ll = strlen(label);

        memcpy(info, label, ll);
        memcpy(info + ll, aad, aad_len);
        outlen = 32;
        pc = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(pc);
        CU_ASSERT_EQUAL(EVP_PKEY_derive_init(pc), 1);
        CU_ASSERT_EQUAL(EVP_PKEY_CTX_set_hkdf_md(pc, EVP_sha512()), 1);
        CU_ASSERT_EQUAL(EVP_PKEY_CTX_set1_hkdf_salt(pc, rec + R_SALT, 32), 1);
        CU_ASSERT_EQUAL(EVP_PKEY_CTX_set1_hkdf_key(pc, dk, 32), 1);
        CU_ASSERT_EQUAL(EVP_PKEY_CTX_add1_hkdf_info(pc, info, (int)(ll + aad_len)), 1);
        CU_ASSERT_EQUAL(EVP_PKEY_derive(pc, dst, &outlen), 1);
        CU_ASSERT_EQUAL(outlen, 32);
        EVP_PKEY_CTX_free(pc);
    }
    CU_ASSERT_EQUAL(memcmp(ck, rec + R_COMMIT, 32), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(pk, ck, 32), 0);

    cc = EVP_CIPHER_CTX_new();
    CU_ASSERT_EQUAL(EVP_DecryptInit_ex(cc, EVP_aes_256_gcm(), NULL, pk, rec + R_NONCE), 1);
    CU_ASSERT_EQUAL(EVP_DecryptUpdate(cc, NULL, &outl, aad, (int)aad_len), 1);
    CU_ASSERT_EQUAL(EVP_DecryptUpdate(cc, pt, &outl, rec + R_CT, (int)n), 1);
    CU_ASSERT_EQUAL(EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_SET_TAG, 16, rec + R_CT + n), 1);
    CU_ASSERT_EQUAL(EVP_DecryptFinal_ex(cc, pt + outl, &finl), 1);
    CU_ASSERT_EQUAL((size_t)(outl + finl), n);
    CU_ASSERT_EQUAL(memcmp(pt, share, n), 0);
    EVP_CIPHER_CTX_free(cc);

    OPENSSL_cleanse(dk, sizeof(dk));
    OPENSSL_cleanse(pk, sizeof(pk));
    OPENSSL_cleanse(kek, sizeof(kek));
    seal_buf_free(rec, rec_len);
    keyring_free(kr);
}

static void test_two_seals_share_nothing_random(void)
{
    struct keyring *kr = ring_default();
    struct seal_context c = ctx_of("alice", SHARE_KIND_CLIENT, 1);
    static const uint8_t share[] = "same share twice";
    uint8_t *a, *b;
    size_t al = 0, bl = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    a = seal_or_null(kr, &c, share, 16, &al);
    b = seal_or_null(kr, &c, share, 16, &bl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_NOT_EQUAL(memcmp(a + R_WRAPPED, b + R_WRAPPED, 40), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(a + R_SALT, b + R_SALT, 32), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(a + R_COMMIT, b + R_COMMIT, 32), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(a + R_NONCE, b + R_NONCE, 12), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(a + R_CT, b + R_CT, 16 + 16), 0);
    seal_buf_free(a, al);
    seal_buf_free(b, bl);
    keyring_free(kr);
}

/* What opening must report when one bit at offset off is flipped. KEK id
 * flips may land on another KEK of the ring, which then fails to unwrap. */
static int flip_expected(size_t off, seal_status st)
{
    if (off < 4)
        return st == SEAL_ERR_FORMAT;
    if (off == R_VERSION)
        return st == SEAL_ERR_VERSION;
    if (off == R_SUITE)
        return st == SEAL_ERR_SUITE;
    if (off < R_SCHEME)
        return st == SEAL_ERR_KEK || st == SEAL_ERR_AUTH;
    /* Scheme 1 or 2 names a token wrap, which a file KEK refuses like a
     * damaged wrap; 3 and up are no scheme at all. */
    if (off == R_SCHEME)
        return st == SEAL_ERR_AUTH || st == SEAL_ERR_FORMAT;
    if (off < R_WRAPPED)
        return st == SEAL_ERR_FORMAT;
    if (off >= R_CT_LEN && off < R_CT)
        return st == SEAL_ERR_FORMAT;
    return st == SEAL_ERR_AUTH;
}

static void test_every_bit_flip_fails(void)
{
    struct keyring *kr = ring_default();
    struct seal_context c = ctx_of("alice", SHARE_KIND_CLIENT, 3);
    static const uint8_t share[] = "tiny!";
    uint8_t *rec;
    size_t rec_len = 0, off, bad = 0, opened = 0;
    unsigned bit;
    seal_status st;

    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    rec = seal_or_null(kr, &c, share, 5, &rec_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    CU_ASSERT_EQUAL_FATAL(rec_len, 153);
    for (off = 0; off < rec_len; off++) {
        for (bit = 0; bit < 8; bit++) {
            rec[off] ^= (uint8_t)(1u << bit);
            st = open_status(kr, &c, rec, rec_len);
            rec[off] ^= (uint8_t)(1u << bit);
            if (st == SEAL_OK)
                opened++;
            if (!flip_expected(off, st)) {
                bad++;
                fprintf(stderr, "\n  flip offset %zu bit %u: %s\n", off, bit, seal_strerror(st));
            }
        }
    }
    CU_ASSERT_EQUAL(opened, 0);
    CU_ASSERT_EQUAL(bad, 0);
    /* Untouched again, it still opens. */
    CU_ASSERT_EQUAL(open_status(kr, &c, rec, rec_len), SEAL_OK);
    seal_buf_free(rec, rec_len);
    keyring_free(kr);
}

/* One representative flip per field, with the exact expected status. */
static void test_flip_each_field(void)
{
    static const struct { size_t off; seal_status want; } f[] = {
        { 0, SEAL_ERR_FORMAT },          /* magic */
        { R_VERSION, SEAL_ERR_VERSION },
        { R_SUITE, SEAL_ERR_SUITE },
        { R_KEK_ID, SEAL_ERR_KEK },      /* 1 -> 0x01000001, unknown */
        { R_SCHEME, SEAL_ERR_AUTH },     /* 0 -> 1: a token's RFC 5649, not this KEK's */
        { R_WRAPPED_LEN, SEAL_ERR_FORMAT },
        { R_WRAPPED + 20, SEAL_ERR_AUTH },
        { R_SALT + 5, SEAL_ERR_AUTH },
        { R_COMMIT + 31, SEAL_ERR_AUTH },
        { R_NONCE, SEAL_ERR_AUTH },
        { R_CT_LEN + 3, SEAL_ERR_FORMAT },
        { R_CT + 2, SEAL_ERR_AUTH },
        { R_CT + 8 + 15, SEAL_ERR_AUTH }, /* last tag byte */
    };
    struct keyring *kr = ring_default();
    struct seal_context c = ctx_of("alice", SHARE_KIND_CLIENT, 3);
    static const uint8_t share[] = "8 bytes!";
    uint8_t *rec;
    size_t rec_len = 0, i;

    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    rec = seal_or_null(kr, &c, share, 8, &rec_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        rec[f[i].off] ^= 0x01;
        CU_ASSERT_EQUAL(open_status(kr, &c, rec, rec_len), f[i].want);
        rec[f[i].off] ^= 0x01;
    }
    seal_buf_free(rec, rec_len);
    keyring_free(kr);
}

static void test_aad_binding(void)
{
    struct keyring *kr = ring_default();
    struct seal_context c = ctx_of("alice", SHARE_KIND_CLIENT, 5);
    struct seal_context o;
    static const uint8_t share[] = "bound to alice/client/5";
    uint8_t *rec;
    size_t rec_len = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    rec = seal_or_null(kr, &c, share, sizeof(share) - 1, &rec_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    CU_ASSERT_EQUAL(open_status(kr, &c, rec, rec_len), SEAL_OK);

    o = ctx_of("alicf", SHARE_KIND_CLIENT, 5);
    CU_ASSERT_EQUAL(open_status(kr, &o, rec, rec_len), SEAL_ERR_AUTH);
    o = ctx_of("alic", SHARE_KIND_CLIENT, 5);
    CU_ASSERT_EQUAL(open_status(kr, &o, rec, rec_len), SEAL_ERR_AUTH);
    o = ctx_of("alice2", SHARE_KIND_CLIENT, 5);
    CU_ASSERT_EQUAL(open_status(kr, &o, rec, rec_len), SEAL_ERR_AUTH);
    o = ctx_of("Alice", SHARE_KIND_CLIENT, 5);
    CU_ASSERT_EQUAL(open_status(kr, &o, rec, rec_len), SEAL_ERR_AUTH);
    o = ctx_of("alice", SHARE_KIND_CUSTODIAN, 5);
    CU_ASSERT_EQUAL(open_status(kr, &o, rec, rec_len), SEAL_ERR_AUTH);
    o = ctx_of("alice", SHARE_KIND_CLIENT, 4);
    CU_ASSERT_EQUAL(open_status(kr, &o, rec, rec_len), SEAL_ERR_AUTH);
    o = ctx_of("alice", SHARE_KIND_CLIENT, 5u + 0x100u);
    CU_ASSERT_EQUAL(open_status(kr, &o, rec, rec_len), SEAL_ERR_AUTH);
    o = ctx_of("alice", SHARE_KIND_CLIENT, 0x80000005u);
    CU_ASSERT_EQUAL(open_status(kr, &o, rec, rec_len), SEAL_ERR_AUTH);
    /* The same bytes with a shorter length are another client. */
    o = ctx_of("alice", SHARE_KIND_CLIENT, 5);
    o.client_id_len = 4;
    CU_ASSERT_EQUAL(open_status(kr, &o, rec, rec_len), SEAL_ERR_AUTH);
    /* backupMethod and pair id are the identity too. */
    o = ctx_id("alice", SHARE_KIND_CLIENT, 5, "PASSWORD-ED25519", "");
    CU_ASSERT_EQUAL(open_status(kr, &o, rec, rec_len), SEAL_ERR_AUTH);
    o = ctx_id("alice", SHARE_KIND_CLIENT, 5, "UNKNOWN", "");
    CU_ASSERT_EQUAL(open_status(kr, &o, rec, rec_len), SEAL_ERR_AUTH);
    o = ctx_id("alice", SHARE_KIND_CLIENT, 5, "PASSWORD-SECP256K1", "p");
    CU_ASSERT_EQUAL(open_status(kr, &o, rec, rec_len), SEAL_ERR_AUTH);
    o = ctx_of("alice", SHARE_KIND_CLIENT, 5);
    o.backup_method_len--;
    CU_ASSERT_EQUAL(open_status(kr, &o, rec, rec_len), SEAL_ERR_AUTH);
    seal_buf_free(rec, rec_len);

    /* Length prefixes keep (method, pair) pairs apart: "AB"+"" vs "A"+"B". */
    c = ctx_id("alice", SHARE_KIND_CUSTODIAN, 1, "AB", "");
    rec = seal_or_null(kr, &c, share, sizeof(share) - 1, &rec_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    CU_ASSERT_EQUAL(open_status(kr, &c, rec, rec_len), SEAL_OK);
    o = ctx_id("alice", SHARE_KIND_CUSTODIAN, 1, "A", "B");
    CU_ASSERT_EQUAL(open_status(kr, &o, rec, rec_len), SEAL_ERR_AUTH);
    seal_buf_free(rec, rec_len);
    keyring_free(kr);
}

/* A format 1 record as sharekeep wrote them before backupMethod: built here
 * from doc/record-format.md with separate OpenSSL calls (KEK 1, fill 0x10). */
static uint8_t *v1_record(const char *client_id, enum share_kind kind, uint32_t version,
                          const uint8_t *share, size_t n, size_t *rec_len)
{
    static const char *const labels[2] = { "sharekeep v1 payload key", "sharekeep v1 commit key" };
    uint8_t kek[KEK_LEN], dk[32], aad[160], info[200], keys[2][32];
    size_t aad_len = 0, idlen = strlen(client_id), outlen;
    uint8_t *rec = calloc(1, R_OVERHEAD + n);
    EVP_CIPHER_CTX *cc;
    int outl = 0;

    if (rec == NULL)
        return NULL;
    memset(dk, 0x5a, sizeof(dk));
    memset(rec + R_SALT, 0x33, 32);
    memset(rec + R_NONCE, 0x44, 12);
    memcpy(rec, "SKSR", 4);
    rec[R_VERSION] = 1;
    rec[R_SUITE] = 1;
    put_be32(rec + R_KEK_ID, 1);
    /* Bytes 10-11 as every record before the token backend had them: the
     * u16 length 40, which reads as scheme 0 and length 40. */
    rec[R_SCHEME] = 0;
    rec[R_WRAPPED_LEN] = 40;
    put_be32(rec + R_CT_LEN, (uint32_t)n);
    kek_bytes(0x10, kek);
    cc = EVP_CIPHER_CTX_new();
    EVP_CIPHER_CTX_set_flags(cc, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    EVP_EncryptInit_ex(cc, EVP_aes_256_wrap_pad(), NULL, kek, NULL);
    EVP_EncryptUpdate(cc, rec + R_WRAPPED, &outl, dk, 32);
    EVP_CIPHER_CTX_free(cc);
    memcpy(aad, "sharekeep-aad-v1", 16);
    aad_len = 16;
    aad[aad_len++] = 1;
    aad[aad_len++] = 1;
    aad[aad_len++] = 0;
    aad[aad_len++] = (uint8_t)idlen;
    memcpy(aad + aad_len, client_id, idlen);
    aad_len += idlen;
    aad[aad_len++] = (uint8_t)kind;
    put_be32(aad + aad_len, version);
    aad_len += 4;
    for (int i = 0; i < 2; i++) {
        EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
        size_t ll = strlen(labels[i]);

        memcpy(info, labels[i], ll);
        memcpy(info + ll, aad, aad_len);
        outlen = 32;
        EVP_PKEY_derive_init(pc);
        EVP_PKEY_CTX_set_hkdf_md(pc, EVP_sha512());
        EVP_PKEY_CTX_set1_hkdf_salt(pc, rec + R_SALT, 32);
        EVP_PKEY_CTX_set1_hkdf_key(pc, dk, 32);
        EVP_PKEY_CTX_add1_hkdf_info(pc, info, (int)(ll + aad_len));
        EVP_PKEY_derive(pc, keys[i], &outlen);
        EVP_PKEY_CTX_free(pc);
    }
    memcpy(rec + R_COMMIT, keys[1], 32);
    cc = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex(cc, EVP_aes_256_gcm(), NULL, keys[0], rec + R_NONCE);
    EVP_EncryptUpdate(cc, NULL, &outl, aad, (int)aad_len);
    EVP_EncryptUpdate(cc, rec + R_CT, &outl, share, (int)n);
    EVP_EncryptFinal_ex(cc, rec + R_CT + outl, &outl);
    EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_GET_TAG, 16, rec + R_CT + n);
    EVP_CIPHER_CTX_free(cc);
    OPENSSL_cleanse(keys, sizeof(keys));
    OPENSSL_cleanse(dk, sizeof(dk));
    OPENSSL_cleanse(kek, sizeof(kek));
    *rec_len = R_OVERHEAD + n;
    return rec;
}

static void test_format1_opens_as_legacy_only(void)
{
    static const uint8_t share[] = "a share backed up before backupMethod";
    struct keyring *kr = ring_default();
    struct seal_context legacy = ctx_id("old-client", SHARE_KIND_CUSTODIAN, 3, "UNKNOWN", "");
    struct seal_context o;
    uint8_t *rec, *pt = NULL, *moved = NULL;
    size_t rec_len = 0, pt_len = 0, moved_len = 0;
    unsigned format = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    rec = v1_record("old-client", SHARE_KIND_CUSTODIAN, 3, share, sizeof(share) - 1, &rec_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    CU_ASSERT_EQUAL(seal_record_format(rec, rec_len, &format), SEAL_OK);
    CU_ASSERT_EQUAL(format, 1);
    CU_ASSERT_EQUAL(seal_open(kr, &legacy, rec, rec_len, &pt, &pt_len), SEAL_OK);
    CU_ASSERT_EQUAL(pt_len, sizeof(share) - 1);
    CU_ASSERT(pt != NULL && memcmp(pt, share, pt_len) == 0);
    seal_buf_free(pt, pt_len);
    /* Moved to another identity in the database, it does not open. */
    o = ctx_id("old-client", SHARE_KIND_CUSTODIAN, 3, "PASSWORD", "");
    CU_ASSERT_EQUAL(open_status(kr, &o, rec, rec_len), SEAL_ERR_AUTH);
    o = ctx_id("old-client", SHARE_KIND_CUSTODIAN, 3, "UNKNOWN", "pair");
    CU_ASSERT_EQUAL(open_status(kr, &o, rec, rec_len), SEAL_ERR_AUTH);
    o = ctx_id("old-client", SHARE_KIND_CUSTODIAN, 4, "UNKNOWN", "");
    CU_ASSERT_EQUAL(open_status(kr, &o, rec, rec_len), SEAL_ERR_AUTH);
    /* Rewrap keeps it format 1, and it still opens. */
    CU_ASSERT_EQUAL(seal_rewrap(kr, rec, rec_len, &moved, &moved_len), SEAL_OK);
    CU_ASSERT_EQUAL(seal_record_format(moved, moved_len, &format), SEAL_OK);
    CU_ASSERT_EQUAL(format, 1);
    CU_ASSERT_EQUAL(open_status(kr, &legacy, moved, moved_len), SEAL_OK);
    /* A new seal of the same share is format 2 whatever the identity. */
    seal_buf_free(moved, moved_len);
    moved = seal_or_null(kr, &legacy, share, sizeof(share) - 1, &moved_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(moved);
    CU_ASSERT_EQUAL(seal_record_format(moved, moved_len, &format), SEAL_OK);
    CU_ASSERT_EQUAL(format, 2);
    CU_ASSERT_EQUAL(open_status(kr, &legacy, moved, moved_len), SEAL_OK);
    seal_buf_free(moved, moved_len);
    free(rec);
    keyring_free(kr);
}

static void test_identity_bounds(void)
{
    static const uint8_t share[] = "s";
    char method[BACKUP_METHOD_MAX + 2], pair[PAIR_ID_MAX + 2];
    struct keyring *kr = ring_default();
    struct seal_context c;
    uint8_t *rec = NULL;
    size_t rec_len = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    memset(method, 'M', sizeof(method));
    memset(pair, 'p', sizeof(pair));
    method[BACKUP_METHOD_MAX] = '\0';
    pair[PAIR_ID_MAX] = '\0';
    c = ctx_id("alice", SHARE_KIND_CUSTODIAN, 1, method, pair);     /* both at their maximum */
    rec = seal_or_null(kr, &c, share, 1, &rec_len);
    CU_ASSERT_PTR_NOT_NULL(rec);
    CU_ASSERT_EQUAL(open_status(kr, &c, rec, rec_len), SEAL_OK);
    seal_buf_free(rec, rec_len);
    method[BACKUP_METHOD_MAX] = 'M';
    method[BACKUP_METHOD_MAX + 1] = '\0';
    c = ctx_id("alice", SHARE_KIND_CUSTODIAN, 1, method, "");
    CU_ASSERT_EQUAL(seal_share(kr, &c, share, 1, &rec, &rec_len), SEAL_ERR_ARG);
    pair[PAIR_ID_MAX] = 'p';
    pair[PAIR_ID_MAX + 1] = '\0';
    c = ctx_id("alice", SHARE_KIND_CUSTODIAN, 1, "GDRIVE", pair);
    CU_ASSERT_EQUAL(seal_share(kr, &c, share, 1, &rec, &rec_len), SEAL_ERR_ARG);
    c = ctx_id("alice", SHARE_KIND_CUSTODIAN, 1, "", "");
    CU_ASSERT_EQUAL(seal_share(kr, &c, share, 1, &rec, &rec_len), SEAL_ERR_ARG);
    c = ctx_id("alice", SHARE_KIND_CUSTODIAN, 1, "TAB\tHERE", "");
    CU_ASSERT_EQUAL(seal_share(kr, &c, share, 1, &rec, &rec_len), SEAL_ERR_ARG);
    c = ctx_id("alice", SHARE_KIND_CUSTODIAN, 1, "GDRIVE", "caf\xc3\xa9");
    CU_ASSERT_EQUAL(seal_share(kr, &c, share, 1, &rec, &rec_len), SEAL_ERR_ARG);
    CU_ASSERT(seal_method_valid(" ~", 2));
    CU_ASSERT(!seal_method_valid("\x7f", 1));
    CU_ASSERT(seal_pair_id_valid("", 0));
    CU_ASSERT(!seal_method_valid("", 0));
    keyring_free(kr);
}

static void test_swapped_wrapped_key_fails(void)
{
    struct keyring *kr = ring_default();
    struct seal_context c = ctx_of("alice", SHARE_KIND_CLIENT, 1);
    static const uint8_t s1[] = "first share", s2[] = "other share";
    uint8_t *a, *b, tmp[128];
    size_t al = 0, bl = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    a = seal_or_null(kr, &c, s1, 11, &al);
    b = seal_or_null(kr, &c, s2, 11, &bl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);

    /* Wrapped keys only: both still unwrap, the commitment catches it. */
    memcpy(tmp, a + R_WRAPPED, 40);
    memcpy(a + R_WRAPPED, b + R_WRAPPED, 40);
    memcpy(b + R_WRAPPED, tmp, 40);
    CU_ASSERT_EQUAL(open_status(kr, &c, a, al), SEAL_ERR_AUTH);
    CU_ASSERT_EQUAL(open_status(kr, &c, b, bl), SEAL_ERR_AUTH);
    memcpy(b + R_WRAPPED, a + R_WRAPPED, 40);
    memcpy(a + R_WRAPPED, tmp, 40);
    CU_ASSERT_EQUAL(open_status(kr, &c, a, al), SEAL_OK);

    /* Whole key header (wrapped key, salt, commitment, nonce): the
     * commitment now matches, the GCM tag does not. */
    memcpy(tmp, a + R_WRAPPED, R_CT_LEN - R_WRAPPED);
    memcpy(a + R_WRAPPED, b + R_WRAPPED, R_CT_LEN - R_WRAPPED);
    CU_ASSERT_EQUAL(open_status(kr, &c, a, al), SEAL_ERR_AUTH);
    memcpy(a + R_WRAPPED, tmp, R_CT_LEN - R_WRAPPED);

    /* Ciphertext and tag only. */
    memcpy(tmp, a + R_CT, 11 + 16);
    memcpy(a + R_CT, b + R_CT, 11 + 16);
    CU_ASSERT_EQUAL(open_status(kr, &c, a, al), SEAL_ERR_AUTH);
    memcpy(a + R_CT, tmp, 11 + 16);
    CU_ASSERT_EQUAL(open_status(kr, &c, a, al), SEAL_OK);
    seal_buf_free(a, al);
    seal_buf_free(b, bl);
    keyring_free(kr);
}

static void test_truncated_and_trailing(void)
{
    struct keyring *kr = ring_default();
    struct seal_context c = ctx_of("alice", SHARE_KIND_CLIENT, 1);
    static const uint8_t share[] = "truncate me";
    uint8_t *rec, *big;
    size_t rec_len = 0, len, bad = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    rec = seal_or_null(kr, &c, share, 11, &rec_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    /* Every prefix, from empty to one byte of tag missing. */
    for (len = 0; len < rec_len; len++)
        if (open_status(kr, &c, rec, len) != SEAL_ERR_FORMAT)
            bad++;
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(open_status(kr, &c, rec, rec_len - 1), SEAL_ERR_FORMAT);
    CU_ASSERT_EQUAL(open_status(kr, &c, rec, rec_len - 16), SEAL_ERR_FORMAT);

    /* A shorter tag with the length patched to match is just a wrong tag. */
    put_be32(rec + R_CT_LEN, 10);
    CU_ASSERT_EQUAL(open_status(kr, &c, rec, rec_len - 1), SEAL_ERR_AUTH);
    put_be32(rec + R_CT_LEN, 11);

    big = malloc(rec_len + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memcpy(big, rec, rec_len);
    big[rec_len] = 0;
    CU_ASSERT_EQUAL(open_status(kr, &c, big, rec_len + 1), SEAL_ERR_FORMAT);
    put_be32(big + R_CT_LEN, 12);
    CU_ASSERT_EQUAL(open_status(kr, &c, big, rec_len + 1), SEAL_ERR_AUTH);
    /* A length that claims more than a share can hold. */
    put_be32(big + R_CT_LEN, 0xffffffffu);
    CU_ASSERT_EQUAL(open_status(kr, &c, big, rec_len + 1), SEAL_ERR_FORMAT);
    free(big);
    seal_buf_free(rec, rec_len);
    keyring_free(kr);
}

static void test_version_and_suite(void)
{
    struct keyring *kr = ring_default();
    struct seal_context c = ctx_of("alice", SHARE_KIND_CLIENT, 1);
    static const uint8_t share[] = "v";
    uint8_t *rec;
    size_t rec_len = 0;
    uint32_t id = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    rec = seal_or_null(kr, &c, share, 1, &rec_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    rec[R_VERSION] = 3;
    CU_ASSERT_EQUAL(open_status(kr, &c, rec, rec_len), SEAL_ERR_VERSION);
    CU_ASSERT_EQUAL(seal_record_kek(rec, rec_len, &id), SEAL_ERR_VERSION);
    rec[R_VERSION] = 0;
    CU_ASSERT_EQUAL(open_status(kr, &c, rec, rec_len), SEAL_ERR_VERSION);
    /* Version is checked before suite, magic before both. */
    rec[R_SUITE] = 9;
    CU_ASSERT_EQUAL(open_status(kr, &c, rec, rec_len), SEAL_ERR_VERSION);
    rec[0] = 'X';
    CU_ASSERT_EQUAL(open_status(kr, &c, rec, rec_len), SEAL_ERR_FORMAT);
    rec[0] = 'S';
    rec[R_VERSION] = 2;
    CU_ASSERT_EQUAL(open_status(kr, &c, rec, rec_len), SEAL_ERR_SUITE);
    rec[R_SUITE] = 0;
    CU_ASSERT_EQUAL(open_status(kr, &c, rec, rec_len), SEAL_ERR_SUITE);
    CU_ASSERT_EQUAL(seal_record_kek(rec, rec_len, &id), SEAL_ERR_SUITE);
    /* Short records with a future version still report the version. */
    rec[R_SUITE] = 1;
    rec[R_VERSION] = 3;
    CU_ASSERT_EQUAL(open_status(kr, &c, rec, 5), SEAL_ERR_VERSION);
    /* Relabelled format 1, it is read with format 1's context: it does not
     * open (and never as this multi-backup identity). */
    rec[R_VERSION] = 1;
    CU_ASSERT_EQUAL(open_status(kr, &c, rec, rec_len), SEAL_ERR_AUTH);
    rec[R_VERSION] = 2;
    CU_ASSERT_EQUAL(open_status(kr, &c, rec, rec_len), SEAL_OK);
    seal_buf_free(rec, rec_len);
    keyring_free(kr);
}

static void test_kek_states(void)
{
    static const struct kek_spec seal_with_2[] = {
        { 1, KEK_DECRYPT, 0x10 }, { 2, KEK_ACTIVE, 0x40 }, { 3, KEK_RETIRED, 0x70 },
    };
    static const struct kek_spec two_retired[] = {
        { 1, KEK_ACTIVE, 0x10 }, { 2, KEK_RETIRED, 0x40 },
    };
    static const struct kek_spec two_missing[] = {
        { 1, KEK_ACTIVE, 0x10 }, { 3, KEK_DECRYPT, 0x70 },
    };
    static const struct kek_spec two_other_bytes[] = {
        { 1, KEK_ACTIVE, 0x10 }, { 2, KEK_DECRYPT, 0x41 },
    };
    struct keyring *w = make_ring(seal_with_2, 3);
    struct keyring *d = ring_default();   /* 2 is decrypt there */
    struct keyring *r = make_ring(two_retired, 2);
    struct keyring *u = make_ring(two_missing, 2);
    struct keyring *x = make_ring(two_other_bytes, 2);
    struct seal_context c = ctx_of("carol", SHARE_KIND_CUSTODIAN, 9);
    static const uint8_t share[] = "kek states";
    uint8_t *rec;
    size_t rec_len = 0;
    uint32_t id = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_PTR_NOT_NULL_FATAL(u);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    rec = seal_or_null(w, &c, share, 10, &rec_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    CU_ASSERT_EQUAL(seal_record_kek(rec, rec_len, &id), SEAL_OK);
    CU_ASSERT_EQUAL(id, 2);
    CU_ASSERT_EQUAL(open_status(d, &c, rec, rec_len), SEAL_OK);
    CU_ASSERT_EQUAL(open_status(r, &c, rec, rec_len), SEAL_ERR_KEK);
    CU_ASSERT_EQUAL(open_status(u, &c, rec, rec_len), SEAL_ERR_KEK);
    CU_ASSERT_EQUAL(open_status(x, &c, rec, rec_len), SEAL_ERR_AUTH);
    seal_buf_free(rec, rec_len);
    keyring_free(w);
    keyring_free(d);
    keyring_free(r);
    keyring_free(u);
    keyring_free(x);
}

static void test_seal_needs_one_active_kek(void)
{
    static const struct kek_spec none[] = { { 1, KEK_DECRYPT, 0x10 } };
    static const struct kek_spec two[] = { { 1, KEK_ACTIVE, 0x10 }, { 2, KEK_ACTIVE, 0x40 } };
    struct keyring *n = make_ring(none, 1);
    struct keyring *t = make_ring(two, 2);
    struct seal_context c = ctx_of("dave", SHARE_KIND_CLIENT, 1);
    uint8_t *rec = (uint8_t *)&c;
    size_t rec_len = 7;

    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(seal_share(n, &c, (const uint8_t *)"x", 1, &rec, &rec_len), SEAL_ERR_KEK);
    CU_ASSERT_PTR_NULL(rec);
    CU_ASSERT_EQUAL(rec_len, 0);
    CU_ASSERT_EQUAL(seal_share(t, &c, (const uint8_t *)"x", 1, &rec, &rec_len), SEAL_ERR_KEK);
    CU_ASSERT_PTR_NULL(rec);
    keyring_free(n);
    keyring_free(t);
}

static void test_rewrap_moves_to_active_kek(void)
{
    static const struct kek_spec old[] = { { 1, KEK_ACTIVE, 0x10 } };
    static const struct kek_spec rotated[] = { { 1, KEK_DECRYPT, 0x10 }, { 2, KEK_ACTIVE, 0x40 } };
    static const struct kek_spec only_new[] = { { 2, KEK_ACTIVE, 0x40 } };
    struct keyring *o = make_ring(old, 1);
    struct keyring *r = make_ring(rotated, 2);
    struct keyring *n = make_ring(only_new, 1);
    struct seal_context c = ctx_of("erin", SHARE_KIND_CLIENT, 2);
    static const uint8_t share[] = "rotate this share";
    uint8_t *rec, *moved = NULL, *again = NULL, *pt = NULL;
    size_t rec_len = 0, moved_len = 0, again_len = 0, pt_len = 0;
    uint32_t id = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    rec = seal_or_null(o, &c, share, sizeof(share) - 1, &rec_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    CU_ASSERT_EQUAL(seal_record_kek(rec, rec_len, &id), SEAL_OK);
    CU_ASSERT_EQUAL(id, 1);

    CU_ASSERT_EQUAL(seal_rewrap(r, rec, rec_len, &moved, &moved_len), SEAL_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(moved);
    CU_ASSERT_EQUAL_FATAL(moved_len, rec_len);
    CU_ASSERT_EQUAL(seal_record_kek(moved, moved_len, &id), SEAL_OK);
    CU_ASSERT_EQUAL(id, 2);
    /* Only KEK id and wrapped key changed; salt..tag are byte-identical. */
    CU_ASSERT_EQUAL(memcmp(moved, rec, R_KEK_ID), 0);
    CU_ASSERT_EQUAL(memcmp(moved + R_SCHEME, rec + R_SCHEME, 2), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(moved + R_WRAPPED, rec + R_WRAPPED, 40), 0);
    CU_ASSERT_EQUAL(memcmp(moved + R_SALT, rec + R_SALT, rec_len - R_SALT), 0);

    CU_ASSERT_EQUAL(seal_open(n, &c, moved, moved_len, &pt, &pt_len), SEAL_OK);
    CU_ASSERT_EQUAL(pt_len, sizeof(share) - 1);
    if (pt != NULL)
        CU_ASSERT_EQUAL(memcmp(pt, share, sizeof(share) - 1), 0);
    CU_ASSERT_EQUAL(open_status(r, &c, moved, moved_len), SEAL_OK);
    CU_ASSERT_EQUAL(open_status(o, &c, moved, moved_len), SEAL_ERR_KEK);
    /* The context still binds after a rewrap. */
    c.version = 3;
    CU_ASSERT_EQUAL(open_status(n, &c, moved, moved_len), SEAL_ERR_AUTH);

    /* Rewrapping again under the same active KEK is stable (KWP is
     * deterministic), and works without the old KEK. */
    CU_ASSERT_EQUAL(seal_rewrap(n, moved, moved_len, &again, &again_len), SEAL_OK);
    CU_ASSERT_EQUAL(again_len, moved_len);
    if (again != NULL)
        CU_ASSERT_EQUAL(memcmp(again, moved, moved_len), 0);

    seal_buf_free(pt, pt_len + 1);
    seal_buf_free(again, again_len);
    seal_buf_free(moved, moved_len);
    seal_buf_free(rec, rec_len);
    keyring_free(o);
    keyring_free(r);
    keyring_free(n);
}

static void test_rewrap_refuses_bad_source(void)
{
    static const struct kek_spec retired[] = { { 1, KEK_RETIRED, 0x10 }, { 2, KEK_ACTIVE, 0x40 } };
    static const struct kek_spec missing[] = { { 2, KEK_ACTIVE, 0x40 } };
    static const struct kek_spec wrong[] = { { 1, KEK_DECRYPT, 0x11 }, { 2, KEK_ACTIVE, 0x40 } };
    struct keyring *o = ring_default();
    struct keyring *r = make_ring(retired, 2);
    struct keyring *m = make_ring(missing, 1);
    struct keyring *w = make_ring(wrong, 2);
    struct seal_context c = ctx_of("frank", SHARE_KIND_CLIENT, 1);
    static const uint8_t share[] = "stay put";
    uint8_t *rec, *out = (uint8_t *)&c;
    size_t rec_len = 0, out_len = 5;

    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    rec = seal_or_null(o, &c, share, 8, &rec_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    CU_ASSERT_EQUAL(seal_rewrap(r, rec, rec_len, &out, &out_len), SEAL_ERR_KEK);
    CU_ASSERT_PTR_NULL(out);
    CU_ASSERT_EQUAL(out_len, 0);
    CU_ASSERT_EQUAL(seal_rewrap(m, rec, rec_len, &out, &out_len), SEAL_ERR_KEK);
    CU_ASSERT_EQUAL(seal_rewrap(w, rec, rec_len, &out, &out_len), SEAL_ERR_AUTH);
    rec[R_WRAPPED + 3] ^= 0x80;
    CU_ASSERT_EQUAL(seal_rewrap(o, rec, rec_len, &out, &out_len), SEAL_ERR_AUTH);
    rec[R_WRAPPED + 3] ^= 0x80;
    CU_ASSERT_EQUAL(seal_rewrap(o, rec, rec_len - 1, &out, &out_len), SEAL_ERR_FORMAT);
    rec[R_VERSION] = 7;
    CU_ASSERT_EQUAL(seal_rewrap(o, rec, rec_len, &out, &out_len), SEAL_ERR_VERSION);
    CU_ASSERT_PTR_NULL(out);
    seal_buf_free(rec, rec_len);
    keyring_free(o);
    keyring_free(r);
    keyring_free(m);
    keyring_free(w);
}

static void test_bad_arguments(void)
{
    struct keyring *kr = ring_default();
    struct seal_context c = ctx_of("gina", SHARE_KIND_CLIENT, 1);
    struct seal_context b;
    char long_id[CLIENT_ID_MAX + 2];
    uint8_t *rec = NULL, *pt = NULL;
    size_t rec_len = 0, pt_len = 0;
    uint32_t id = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    CU_ASSERT_EQUAL(seal_share(NULL, &c, (const uint8_t *)"x", 1, &rec, &rec_len), SEAL_ERR_ARG);
    CU_ASSERT_EQUAL(seal_share(kr, NULL, (const uint8_t *)"x", 1, &rec, &rec_len), SEAL_ERR_ARG);
    CU_ASSERT_EQUAL(seal_share(kr, &c, NULL, 1, &rec, &rec_len), SEAL_ERR_ARG);
    CU_ASSERT_EQUAL(seal_share(kr, &c, (const uint8_t *)"x", 1, NULL, &rec_len), SEAL_ERR_ARG);
    CU_ASSERT_EQUAL(seal_share(kr, &c, (const uint8_t *)"x", 1, &rec, NULL), SEAL_ERR_ARG);
    CU_ASSERT_EQUAL(seal_share(kr, &c, (const uint8_t *)"x", (size_t)SHARE_MAX + 1, &rec, &rec_len),
                    SEAL_ERR_ARG);
    b = c;
    b.kind = (enum share_kind)0;
    CU_ASSERT_EQUAL(seal_share(kr, &b, (const uint8_t *)"x", 1, &rec, &rec_len), SEAL_ERR_ARG);
    b.kind = (enum share_kind)3;
    CU_ASSERT_EQUAL(seal_share(kr, &b, (const uint8_t *)"x", 1, &rec, &rec_len), SEAL_ERR_ARG);
    b = c;
    b.client_id_len = 0;
    CU_ASSERT_EQUAL(seal_share(kr, &b, (const uint8_t *)"x", 1, &rec, &rec_len), SEAL_ERR_ARG);
    b.client_id = NULL;
    CU_ASSERT_EQUAL(seal_share(kr, &b, (const uint8_t *)"x", 1, &rec, &rec_len), SEAL_ERR_ARG);
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    b = ctx_of(long_id, SHARE_KIND_CLIENT, 1);     /* CLIENT_ID_MAX + 1 */
    CU_ASSERT_EQUAL(seal_share(kr, &b, (const uint8_t *)"x", 1, &rec, &rec_len), SEAL_ERR_ARG);
    long_id[CLIENT_ID_MAX] = '\0';
    b = ctx_of(long_id, SHARE_KIND_CLIENT, 1);     /* exactly CLIENT_ID_MAX */
    CU_ASSERT_EQUAL(seal_share(kr, &b, (const uint8_t *)"x", 1, &rec, &rec_len), SEAL_OK);
    CU_ASSERT_EQUAL(open_status(kr, &b, rec, rec_len), SEAL_OK);

    CU_ASSERT_EQUAL(seal_open(NULL, &b, rec, rec_len, &pt, &pt_len), SEAL_ERR_ARG);
    CU_ASSERT_EQUAL(seal_open(kr, NULL, rec, rec_len, &pt, &pt_len), SEAL_ERR_ARG);
    CU_ASSERT_EQUAL(seal_open(kr, &b, NULL, rec_len, &pt, &pt_len), SEAL_ERR_ARG);
    CU_ASSERT_EQUAL(seal_open(kr, &b, rec, rec_len, NULL, &pt_len), SEAL_ERR_ARG);
    CU_ASSERT_EQUAL(seal_open(kr, &b, rec, rec_len, &pt, NULL), SEAL_ERR_ARG);
    CU_ASSERT_EQUAL(seal_rewrap(NULL, rec, rec_len, &pt, &pt_len), SEAL_ERR_ARG);
    CU_ASSERT_EQUAL(seal_rewrap(kr, NULL, rec_len, &pt, &pt_len), SEAL_ERR_ARG);
    CU_ASSERT_EQUAL(seal_record_kek(NULL, rec_len, &id), SEAL_ERR_ARG);
    CU_ASSERT_EQUAL(seal_record_kek(rec, rec_len, NULL), SEAL_ERR_ARG);
    CU_ASSERT_EQUAL(seal_record_kek((const uint8_t *)"SKS", 3, &id), SEAL_ERR_FORMAT);
    CU_ASSERT_PTR_NULL(pt);
    seal_buf_free(NULL, 10);
    seal_buf_free(rec, rec_len);
    keyring_free(kr);
}

static void test_strerror(void)
{
    seal_status st;

    for (st = SEAL_OK; st <= SEAL_ERR_NOMEM; st++) {
        CU_ASSERT_PTR_NOT_NULL(seal_strerror(st));
        CU_ASSERT(strlen(seal_strerror(st)) > 1);
    }
    CU_ASSERT_NOT_EQUAL(strcmp(seal_strerror(SEAL_ERR_AUTH), seal_strerror(SEAL_ERR_KEK)), 0);
    CU_ASSERT_PTR_NOT_NULL(seal_strerror((seal_status)99));
}

/* ---- published vectors ----------------------------------------------- */

/* McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", appendix B,
 * test case 16 (AES-256, 96-bit IV, 20-byte AAD, 60-byte plaintext). */
static void test_vector_aes256_gcm_case16(void)
{
    uint8_t k[32], iv[12], aad[20], p[60], c[60], t[16], out[64], tag[16];
    EVP_CIPHER_CTX *cc;
    int outl = 0, finl = 0;

    CU_ASSERT_EQUAL_FATAL(unhex("feffe9928665731c6d6a8f9467308308"
                                "feffe9928665731c6d6a8f9467308308", k, sizeof(k)), 32);
    CU_ASSERT_EQUAL_FATAL(unhex("cafebabefacedbaddecaf888", iv, sizeof(iv)), 12);
    CU_ASSERT_EQUAL_FATAL(unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2", aad, sizeof(aad)), 20);
    CU_ASSERT_EQUAL_FATAL(unhex("d9313225f88406e5a55909c5aff5269a"
                                "86a7a9531534f7da2e4c303d8a318a72"
                                "1c3c0c95956809532fcf0e2449a6b525"
                                "b16aedf5aa0de657ba637b39", p, sizeof(p)), 60);
    CU_ASSERT_EQUAL_FATAL(unhex("522dc1f099567d07f47f37a32a84427d"
                                "643a8cdcbfe5c0c97598a2bd2555d1aa"
                                "8cb08e48590dbb3da7b08b1056828838"
                                "c5f61e6393ba7a0abcc9f662", c, sizeof(c)), 60);
    CU_ASSERT_EQUAL_FATAL(unhex("76fc6ece0f4e1768cddf8853bb2d551b", t, sizeof(t)), 16);

    cc = EVP_CIPHER_CTX_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(cc);
    CU_ASSERT_EQUAL(EVP_EncryptInit_ex(cc, EVP_aes_256_gcm(), NULL, NULL, NULL), 1);
    CU_ASSERT_EQUAL(EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_SET_IVLEN, 12, NULL), 1);
    CU_ASSERT_EQUAL(EVP_EncryptInit_ex(cc, NULL, NULL, k, iv), 1);
    CU_ASSERT_EQUAL(EVP_EncryptUpdate(cc, NULL, &outl, aad, 20), 1);
    CU_ASSERT_EQUAL(EVP_EncryptUpdate(cc, out, &outl, p, 60), 1);
    CU_ASSERT_EQUAL(EVP_EncryptFinal_ex(cc, out + outl, &finl), 1);
    CU_ASSERT_EQUAL(outl + finl, 60);
    CU_ASSERT_EQUAL(EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_GET_TAG, 16, tag), 1);
    CU_ASSERT_EQUAL(memcmp(out, c, 60), 0);
    CU_ASSERT_EQUAL(memcmp(tag, t, 16), 0);
    EVP_CIPHER_CTX_free(cc);

    /* Decrypt verifies; one flipped tag bit does not. */
    cc = EVP_CIPHER_CTX_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(cc);
    CU_ASSERT_EQUAL(EVP_DecryptInit_ex(cc, EVP_aes_256_gcm(), NULL, k, iv), 1);
    CU_ASSERT_EQUAL(EVP_DecryptUpdate(cc, NULL, &outl, aad, 20), 1);
    CU_ASSERT_EQUAL(EVP_DecryptUpdate(cc, out, &outl, c, 60), 1);
    CU_ASSERT_EQUAL(EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_SET_TAG, 16, t), 1);
    CU_ASSERT_EQUAL(EVP_DecryptFinal_ex(cc, out + outl, &finl), 1);
    CU_ASSERT_EQUAL(memcmp(out, p, 60), 0);
    EVP_CIPHER_CTX_free(cc);

    t[15] ^= 1;
    cc = EVP_CIPHER_CTX_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(cc);
    CU_ASSERT_EQUAL(EVP_DecryptInit_ex(cc, EVP_aes_256_gcm(), NULL, k, iv), 1);
    CU_ASSERT_EQUAL(EVP_DecryptUpdate(cc, NULL, &outl, aad, 20), 1);
    CU_ASSERT_EQUAL(EVP_DecryptUpdate(cc, out, &outl, c, 60), 1);
    CU_ASSERT_EQUAL(EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_SET_TAG, 16, t), 1);
    CU_ASSERT_NOT_EQUAL(EVP_DecryptFinal_ex(cc, out + outl, &finl), 1);
    EVP_CIPHER_CTX_free(cc);
}

/* Wraps p under kek with cipher and checks against c, then unwraps c. */
static void check_kwp(const EVP_CIPHER *cipher, const char *kek_hex, const char *p_hex,
                      const char *c_hex)
{
    uint8_t kek[32], p[64], c[80], out[96];
    size_t kl, pl, cl;
    int outl = 0, finl = 0;
    EVP_CIPHER_CTX *cc;

    kl = unhex(kek_hex, kek, sizeof(kek));
    pl = unhex(p_hex, p, sizeof(p));
    cl = unhex(c_hex, c, sizeof(c));
    CU_ASSERT_EQUAL_FATAL(kl, (size_t)EVP_CIPHER_get_key_length(cipher));
    CU_ASSERT_EQUAL_FATAL(cl, (pl + 7) / 8 * 8 + 8);

    cc = EVP_CIPHER_CTX_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(cc);
    EVP_CIPHER_CTX_set_flags(cc, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    CU_ASSERT_EQUAL(EVP_EncryptInit_ex(cc, cipher, NULL, kek, NULL), 1);
    CU_ASSERT_EQUAL(EVP_EncryptUpdate(cc, out, &outl, p, (int)pl), 1);
    CU_ASSERT_EQUAL(EVP_EncryptFinal_ex(cc, out + outl, &finl), 1);
    CU_ASSERT_EQUAL((size_t)(outl + finl), cl);
    CU_ASSERT_EQUAL(memcmp(out, c, cl), 0);
    EVP_CIPHER_CTX_free(cc);

    cc = EVP_CIPHER_CTX_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(cc);
    EVP_CIPHER_CTX_set_flags(cc, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    CU_ASSERT_EQUAL(EVP_DecryptInit_ex(cc, cipher, NULL, kek, NULL), 1);
    CU_ASSERT_EQUAL(EVP_DecryptUpdate(cc, out, &outl, c, (int)cl), 1);
    CU_ASSERT_EQUAL((size_t)outl, pl);
    CU_ASSERT_EQUAL(memcmp(out, p, pl), 0);
    EVP_CIPHER_CTX_free(cc);

    /* The integrity check rejects a corrupted wrapping. */
    c[0] ^= 1;
    cc = EVP_CIPHER_CTX_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(cc);
    EVP_CIPHER_CTX_set_flags(cc, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    CU_ASSERT_EQUAL(EVP_DecryptInit_ex(cc, cipher, NULL, kek, NULL), 1);
    CU_ASSERT_NOT_EQUAL(EVP_DecryptUpdate(cc, out, &outl, c, (int)cl), 1);
    EVP_CIPHER_CTX_free(cc);
}

/* RFC 5649 section 6: both examples use a 192-bit KEK. */
static void test_vector_kwp_rfc5649(void)
{
    check_kwp(EVP_aes_192_wrap_pad(),
              "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8",
              "c37b7e6492584340bed12207808941155068f738",
              "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a");
    check_kwp(EVP_aes_192_wrap_pad(),
              "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8",
              "466f7250617369",
              "afbeb0f07dfbf5419200f2ccb50bb24f");
}

/* AES-256 KWP, 28-byte key data (KEK = 00..1f, data = the RFC 3394 key data
 * pattern). Published in OpenJDK's NISTWrapKAT test (KWP_AES256_224) and used
 * unchanged by other independent implementations' test suites. */
static void test_vector_kwp_aes256(void)
{
    check_kwp(EVP_aes_256_wrap_pad(),
              "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
              "00112233445566778899aabbccddeeff000102030405060708090a0b",
              "0942747db07032a3f04cdb2e7de1cba038f92bc355393ae9"
              "a0e4ae8c901912ac3d3af0f16d240607");
}

int unit_register(void)
{
    static const struct unit_test seal_tests[] = {
        { "round trip of a short share", test_roundtrip_small },
        { "round trip of an empty share", test_roundtrip_empty_share },
        { "round trip of a 60 KiB share", test_roundtrip_60k_share },
        { "round trip of UTF-8 and NUL bytes", test_roundtrip_unicode_and_nul_bytes },
        { "record layout matches the format", test_record_layout },
        { "record matches the documented construction", test_record_matches_documented_construction },
        { "two seals share no random field", test_two_seals_share_nothing_random },
        { "every single-bit flip fails to open", test_every_bit_flip_fails },
        { "a flip in each field gives its status", test_flip_each_field },
        { "client id, kind, version, method and pair id are bound", test_aad_binding },
        { "format 1 records open only as the legacy identity", test_format1_opens_as_legacy_only },
        { "backupMethod and pair id bounds", test_identity_bounds },
        { "swapped wrapped keys and headers fail", test_swapped_wrapped_key_fails },
        { "truncated and trailing bytes fail", test_truncated_and_trailing },
        { "unknown version and suite are reported", test_version_and_suite },
        { "decrypt, retired and unknown KEKs", test_kek_states },
        { "sealing needs exactly one active KEK", test_seal_needs_one_active_kek },
        { "rewrap moves to the active KEK only", test_rewrap_moves_to_active_kek },
        { "rewrap refuses a bad source KEK", test_rewrap_refuses_bad_source },
        { "bad arguments are refused", test_bad_arguments },
        { "every status has a message", test_strerror },
        { NULL, NULL },
    };
    static const struct unit_test vector_tests[] = {
        { "AES-256-GCM, GCM spec test case 16", test_vector_aes256_gcm_case16 },
        { "AES-192-KWP, RFC 5649 section 6", test_vector_kwp_rfc5649 },
        { "AES-256-KWP, 28-byte key data", test_vector_kwp_aes256 },
        { NULL, NULL },
    };

    if (unit_add_suite("seal", seal_tests) != 0)
        return -1;
    return unit_add_suite("primitive vectors", vector_tests);
}
