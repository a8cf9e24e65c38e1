/* Envelope encryption of one share.
 *
 * Every record gets a fresh 32-byte data key. The data key never touches the
 * share directly: HKDF-SHA-512 (extract with a fresh per-record salt, expand
 * with two distinct labels followed by the AAD context) turns it into
 *
 *     payload key = HKDF(data key, salt, "sharekeep v1 payload key" || ctx, 32)
 *     commitment  = HKDF(data key, salt, "sharekeep v1 commit key"  || ctx, 32)
 *
 * The payload key encrypts the share with AES-256-GCM (12-byte random nonce,
 * 16-byte tag, AAD = ctx). The commitment is stored in the record and checked
 * with CRYPTO_memcmp before any GCM decryption, so a record opens under
 * exactly one data key (key commitment, as in the AWS Encryption SDK v2
 * committing suites). The data key itself is wrapped by the active KEK with
 * AES-256-KWP (RFC 5649): 32 bytes in, 40 bytes out; a KEK inside a PKCS#11
 * token wraps with RFC 5649 too, or RFC 3394 (also 40 bytes for a 32-byte
 * key) where the token has no RFC 5649. The wrap scheme byte says which.
 *
 * Record layout, versions 1 and 2, suite 1 (all integers big-endian):
 *
 *     off    len  field
 *     0      4    magic "SKSR"
 *     4      1    format version = 2 (1: older records, still read)
 *     5      1    suite id = 1 (HKDF-SHA-512 commit + AES-256-GCM payload
 *                 + AES-256-KWP wrap)
 *     6      4    KEK id (uint32)
 *     10     1    wrap scheme: 0 = RFC 5649 by sharekeep (key file KEK),
 *                 1 = RFC 5649 by a PKCS#11 token, 2 = RFC 3394 by a token
 *     11     1    wrapped key length (must be 40)
 *     12     40   wrapped data key
 *     52     32   HKDF salt
 *     84     32   key commitment
 *     116    12   GCM nonce
 *     128    4    ciphertext length n (uint32)
 *     132    n    ciphertext
 *     132+n  16   GCM tag
 *
 *     total = 148 + n; any other length is SEAL_ERR_FORMAT.
 *
 * AAD context ("ctx" above), built from struct seal_context:
 *
 *     "sharekeep-aad-v2" (16 bytes) || format version (1) || suite id (1)
 *     || u16 BE client_id length || client_id bytes || kind (1)
 *     || u32 BE record version
 *     || u8 backup method length || backup method bytes
 *     || u8 pair id length || pair id bytes
 *
 * Format 1 has the label "sharekeep-aad-v1" and ends after the record
 * version: it binds no method or pair id, so it is opened only under the
 * legacy identity (method "UNKNOWN", no pair id).
 *
 * Bytes 10-11 were one u16 length (0x0028) before the token backend; every
 * such record reads as scheme 0, length 40, so none changed meaning.
 *
 * The KEK id, the wrap scheme and the wrapped key are deliberately outside
 * the GCM AAD so that seal_rewrap can move a record to a new KEK, in the
 * key file or in a token, without re-encrypting it. The
 * wrapped key is authenticated by KWP itself and bound to the payload through
 * the commitment (another data key derives another commitment).
 *
 * Parsing order: magic, version, suite, then lengths. A record that fails the
 * magic is SEAL_ERR_FORMAT, an unknown version SEAL_ERR_VERSION, an unknown
 * suite SEAL_ERR_SUITE. doc/record-format.md has the same table with more
 * words.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "bounds.h"
#include "keyring.h"
#include "seal.h"
#include "seal_crypto.h"

#define REC_MAGIC          "SKSR"
#define REC_MAGIC_LEN      4u
#define REC_VERSION_1      1u   /* owner, kind, version in the AAD */
#define REC_VERSION        2u   /* ... and backupMethod, pair id: what we write */
#define REC_SUITE          1u

#define OFF_MAGIC          0u
#define OFF_VERSION        4u
#define OFF_SUITE          5u
#define OFF_KEK_ID         6u
#define OFF_SCHEME         10u
#define OFF_WRAPPED_LEN    11u
#define OFF_WRAPPED        12u
#define OFF_SALT           52u
#define OFF_COMMIT         84u
#define OFF_NONCE          116u
#define OFF_CT_LEN         128u
#define OFF_CT             132u

#define REC_OVERHEAD       (OFF_CT + TAG_LEN)   /* 148 */


#define AAD_LABEL_1        "sharekeep-aad-v1"
#define AAD_LABEL          "sharekeep-aad-v2"

_Static_assert(OFF_WRAPPED_LEN + 1u == OFF_WRAPPED, "length ends at wrapped key");
_Static_assert(OFF_WRAPPED + WRAPPED_KEY_LEN == OFF_SALT, "wrapped key ends at salt");
_Static_assert(OFF_SALT + SALT_LEN == OFF_COMMIT, "salt ends at commitment");
_Static_assert(OFF_COMMIT + COMMIT_LEN == OFF_NONCE, "commitment ends at nonce");
_Static_assert(OFF_NONCE + NONCE_LEN == OFF_CT_LEN, "nonce ends at length");
_Static_assert(OFF_CT_LEN + 4u == OFF_CT, "length ends at ciphertext");
_Static_assert(REC_OVERHEAD == SEAL_OVERHEAD, "record overhead is 148 bytes");
_Static_assert(OFF_CT == SEAL_ENVELOPE_LEN, "the envelope is everything before the ciphertext");
_Static_assert(sizeof(INFO_PAYLOAD) - 1u <= INFO_LABEL_MAX, "payload label fits");
_Static_assert(sizeof(INFO_COMMIT) - 1u <= INFO_LABEL_MAX, "commit label fits");
_Static_assert(sizeof(AAD_LABEL) - 1u == AAD_LABEL_LEN, "aad label length");
_Static_assert(sizeof(AAD_LABEL_1) - 1u == AAD_LABEL_LEN, "v1 aad label length");
_Static_assert(BACKUP_METHOD_MAX <= 255u && PAIR_ID_MAX <= 255u, "identity lengths fit a byte");
_Static_assert(SHARE_MAX <= 0x7fffffffu - REC_OVERHEAD, "share length fits an int");

/* A parsed record: pointers into the caller's buffer. */
struct record_view {
    unsigned format;
    uint32_t kek_id;
    uint8_t scheme;
    const uint8_t *wrapped;
    const uint8_t *salt;
    const uint8_t *commit;
    const uint8_t *nonce;
    const uint8_t *ct;
    size_t ct_len;
    const uint8_t *tag;
};

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Parses a record, or with envelope_only its first SEAL_ENVELOPE_LEN bytes
 * alone (v->ct and v->tag are then NULL). */
static seal_status parse_header(const uint8_t *rec, size_t len, int envelope_only,
                                struct record_view *v)
{
    uint32_t ct_len;

    if (rec == NULL)
        return SEAL_ERR_ARG;
    if (len < REC_MAGIC_LEN || memcmp(rec + OFF_MAGIC, REC_MAGIC, REC_MAGIC_LEN) != 0)
        return SEAL_ERR_FORMAT;
    if (len <= OFF_VERSION)
        return SEAL_ERR_FORMAT;
    if (rec[OFF_VERSION] != REC_VERSION && rec[OFF_VERSION] != REC_VERSION_1)
        return SEAL_ERR_VERSION;
    if (len <= OFF_SUITE)
        return SEAL_ERR_FORMAT;
    if (rec[OFF_SUITE] != REC_SUITE)
        return SEAL_ERR_SUITE;
    if (envelope_only ? len != SEAL_ENVELOPE_LEN : len < REC_OVERHEAD)
        return SEAL_ERR_FORMAT;
    if (rec[OFF_WRAPPED_LEN] != WRAPPED_KEY_LEN || rec[OFF_SCHEME] > KEYRING_SCHEME_P11_KW)
        return SEAL_ERR_FORMAT;
    ct_len = get_u32(rec + OFF_CT_LEN);
    if (ct_len > SHARE_MAX || (!envelope_only && (size_t)ct_len != len - REC_OVERHEAD))
        return SEAL_ERR_FORMAT;

    v->format = rec[OFF_VERSION];
    v->kek_id = get_u32(rec + OFF_KEK_ID);
    v->scheme = rec[OFF_SCHEME];
    v->wrapped = rec + OFF_WRAPPED;
    v->salt = rec + OFF_SALT;
    v->commit = rec + OFF_COMMIT;
    v->nonce = rec + OFF_NONCE;
    v->ct = envelope_only ? NULL : rec + OFF_CT;
    v->ct_len = ct_len;
    v->tag = envelope_only ? NULL : rec + OFF_CT + ct_len;
    return SEAL_OK;
}

static seal_status parse_record(const uint8_t *rec, size_t len, struct record_view *v)
{
    return parse_header(rec, len, 0, v);
}

static int printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

int seal_method_valid(const char *s, size_t len)
{
    return s != NULL && len >= 1 && len <= BACKUP_METHOD_MAX && printable(s, len);
}

int seal_pair_id_valid(const char *s, size_t len)
{
    return len == 0 || (s != NULL && len <= PAIR_ID_MAX && printable(s, len));
}

static int context_ok(const struct seal_context *ctx)
{
    if (ctx == NULL || ctx->client_id == NULL)
        return 0;
    if (ctx->client_id_len == 0 || ctx->client_id_len > CLIENT_ID_MAX)
        return 0;
    if (!seal_method_valid(ctx->backup_method, ctx->backup_method_len) ||
        !seal_pair_id_valid(ctx->pair_id, ctx->pair_id_len))
        return 0;
    return ctx->kind == SHARE_KIND_CUSTODIAN || ctx->kind == SHARE_KIND_CLIENT;
}

/* The identity a format 1 record can have: it binds no method or pair id. */
static int legacy_identity(const struct seal_context *ctx)
{
    return ctx->pair_id_len == 0 && ctx->backup_method_len == sizeof(SEAL_METHOD_UNKNOWN) - 1 &&
           memcmp(ctx->backup_method, SEAL_METHOD_UNKNOWN, ctx->backup_method_len) == 0;
}

/* Canonical AAD context of the given format; aad must hold AAD_MAX bytes.
 * ctx must be context_ok. */
static size_t build_aad(const struct seal_context *ctx, unsigned format, uint8_t *aad)
{
    size_t n = 0;

    memcpy(aad, format == REC_VERSION_1 ? AAD_LABEL_1 : AAD_LABEL, AAD_LABEL_LEN);
    n += AAD_LABEL_LEN;
    aad[n++] = (uint8_t)format;
    aad[n++] = (uint8_t)REC_SUITE;
    put_u16(aad + n, (uint16_t)ctx->client_id_len);
    n += 2;
    memcpy(aad + n, ctx->client_id, ctx->client_id_len);
    n += ctx->client_id_len;
    aad[n++] = (uint8_t)ctx->kind;
    put_u32(aad + n, ctx->version);
    n += 4;
    if (format == REC_VERSION_1)
        return n;
    aad[n++] = (uint8_t)ctx->backup_method_len;
    memcpy(aad + n, ctx->backup_method, ctx->backup_method_len);
    n += ctx->backup_method_len;
    aad[n++] = (uint8_t)ctx->pair_id_len;
    if (ctx->pair_id_len > 0)
        memcpy(aad + n, ctx->pair_id, ctx->pair_id_len);
    n += ctx->pair_id_len;
    return n;
}

static seal_status from_keyring(keyring_status ks, int unwrapping)
{
    switch (ks) {
    case KEYRING_OK:
        return SEAL_OK;
    case KEYRING_ERR_UNKNOWN_KEK:
    case KEYRING_ERR_RETIRED_KEK:
    case KEYRING_ERR_NO_ACTIVE:
        return SEAL_ERR_KEK;
    case KEYRING_ERR_CRYPTO:
        return unwrapping ? SEAL_ERR_AUTH : SEAL_ERR_CRYPTO;
    case KEYRING_ERR_NOMEM:
        return SEAL_ERR_NOMEM;
    case KEYRING_ERR_ARG:
        return SEAL_ERR_ARG;
    case KEYRING_ERR_UNAVAILABLE:
    case KEYRING_ERR_TOKEN:
        return SEAL_ERR_UNAVAILABLE;
    default:
        return SEAL_ERR_CRYPTO;
    }
}

seal_status seal_share(const struct keyring *kr, const struct seal_context *ctx,
                       const uint8_t *share, size_t share_len,
                       uint8_t **record, size_t *record_len)
{
    seal_status st = SEAL_ERR_ARG;
    uint8_t data_key[DATA_KEY_LEN];
    uint8_t payload_key[PAYLOAD_KEY_LEN];
    uint8_t commit[COMMIT_LEN];
    uint8_t aad[AAD_MAX];
    uint8_t *rec = NULL;
    size_t aad_len = 0, rec_len = 0;
    uint32_t kek_id = 0;
    uint8_t scheme = 0;

    if (record != NULL)
        *record = NULL;
    if (record_len != NULL)
        *record_len = 0;
    if (kr == NULL || record == NULL || record_len == NULL || !context_ok(ctx))
        goto out;
    if (share == NULL && share_len > 0)
        goto out;
    if (share_len > SHARE_MAX)
        goto out;
    aad_len = build_aad(ctx, REC_VERSION, aad);

    rec_len = REC_OVERHEAD + share_len;
    rec = malloc(rec_len);
    if (rec == NULL) {
        st = SEAL_ERR_NOMEM;
        goto out;
    }

    st = SEAL_ERR_CRYPTO;
    if (RAND_bytes(data_key, (int)sizeof(data_key)) != 1)
        goto out;
    if (RAND_bytes(rec + OFF_SALT, (int)SALT_LEN) != 1)
        goto out;
    if (RAND_bytes(rec + OFF_NONCE, (int)NONCE_LEN) != 1)
        goto out;

    st = from_keyring(keyring_wrap(kr, data_key, &kek_id, &scheme, rec + OFF_WRAPPED), 0);
    if (st != SEAL_OK)
        goto out;
    st = seal_derive_keys(data_key, rec + OFF_SALT, aad, aad_len, payload_key, commit);
    if (st != SEAL_OK)
        goto out;

    memcpy(rec + OFF_MAGIC, REC_MAGIC, REC_MAGIC_LEN);
    rec[OFF_VERSION] = (uint8_t)REC_VERSION;
    rec[OFF_SUITE] = (uint8_t)REC_SUITE;
    put_u32(rec + OFF_KEK_ID, kek_id);
    rec[OFF_SCHEME] = scheme;
    rec[OFF_WRAPPED_LEN] = (uint8_t)WRAPPED_KEY_LEN;
    memcpy(rec + OFF_COMMIT, commit, COMMIT_LEN);
    put_u32(rec + OFF_CT_LEN, (uint32_t)share_len);

    st = seal_gcm_encrypt(payload_key, rec + OFF_NONCE, aad, aad_len, share, share_len,
                     rec + OFF_CT, rec + OFF_CT + share_len);
    if (st != SEAL_OK)
        goto out;

    *record = rec;
    *record_len = rec_len;
    rec = NULL;
out:
    OPENSSL_cleanse(data_key, sizeof(data_key));
    OPENSSL_cleanse(payload_key, sizeof(payload_key));
    OPENSSL_cleanse(commit, sizeof(commit));
    seal_buf_free(rec, rec_len);
    return st;
}

seal_status seal_open(const struct keyring *kr, const struct seal_context *ctx,
                      const uint8_t *record, size_t record_len,
                      uint8_t **share, size_t *share_len)
{
    seal_status st = SEAL_ERR_ARG;
    struct record_view v;
    uint8_t data_key[DATA_KEY_LEN];
    uint8_t payload_key[PAYLOAD_KEY_LEN];
    uint8_t commit[COMMIT_LEN];
    uint8_t aad[AAD_MAX];
    uint8_t *pt = NULL;
    size_t aad_len = 0, pt_cap = 0;

    if (share != NULL)
        *share = NULL;
    if (share_len != NULL)
        *share_len = 0;
    if (kr == NULL || record == NULL || share == NULL || share_len == NULL || !context_ok(ctx))
        goto out;

    st = parse_record(record, record_len, &v);
    if (st != SEAL_OK)
        goto out;
    /* Checked before any key work, and reported like any other identity
     * mismatch: the record is not this identity's. */
    if (v.format == REC_VERSION_1 && !legacy_identity(ctx)) {
        st = SEAL_ERR_AUTH;
        goto out;
    }
    aad_len = build_aad(ctx, v.format, aad);

    st = from_keyring(keyring_unwrap(kr, v.kek_id, v.scheme, v.wrapped, WRAPPED_KEY_LEN,
                                     data_key), 1);
    if (st != SEAL_OK)
        goto out;
    st = seal_derive_keys(data_key, v.salt, aad, aad_len, payload_key, commit);
    if (st != SEAL_OK)
        goto out;
    /* Key commitment: refuse before GCM sees a single byte. */
    if (CRYPTO_memcmp(commit, v.commit, COMMIT_LEN) != 0) {
        st = SEAL_ERR_AUTH;
        goto out;
    }

    pt_cap = v.ct_len + 1;
    pt = malloc(pt_cap);
    if (pt == NULL) {
        st = SEAL_ERR_NOMEM;
        goto out;
    }
    st = seal_gcm_decrypt(payload_key, v.nonce, aad, aad_len, v.ct, v.ct_len, v.tag, pt);
    if (st != SEAL_OK)
        goto out;
    pt[v.ct_len] = 0;

    *share = pt;
    *share_len = v.ct_len;
    pt = NULL;
out:
    OPENSSL_cleanse(data_key, sizeof(data_key));
    OPENSSL_cleanse(payload_key, sizeof(payload_key));
    OPENSSL_cleanse(commit, sizeof(commit));
    seal_buf_free(pt, pt_cap);
    return st;
}

/* The new KEK id, scheme and wrapped key of a parsed record into hdr (the
 * record's first SEAL_ENVELOPE_LEN bytes, already a copy of the old). */
static seal_status rewrap_header(const struct keyring *kr, const struct record_view *v,
                                 uint8_t *hdr)
{
    uint8_t data_key[DATA_KEY_LEN], wrapped[WRAPPED_KEY_LEN], scheme = 0;
    uint32_t kek_id = 0;
    seal_status st;

    st = from_keyring(keyring_unwrap(kr, v->kek_id, v->scheme, v->wrapped, WRAPPED_KEY_LEN,
                                     data_key), 1);
    if (st == SEAL_OK)
        st = from_keyring(keyring_wrap(kr, data_key, &kek_id, &scheme, wrapped), 0);
    if (st == SEAL_OK) {
        put_u32(hdr + OFF_KEK_ID, kek_id);
        hdr[OFF_SCHEME] = scheme;
        memcpy(hdr + OFF_WRAPPED, wrapped, WRAPPED_KEY_LEN);
    }
    OPENSSL_cleanse(data_key, sizeof(data_key));
    OPENSSL_cleanse(wrapped, sizeof(wrapped));
    return st;
}

seal_status seal_rewrap_envelope(const struct keyring *kr, const uint8_t *envelope,
                                 size_t envelope_len, uint8_t *out)
{
    struct record_view v;
    uint8_t hdr[SEAL_ENVELOPE_LEN];
    seal_status st;

    if (kr == NULL || out == NULL)
        return SEAL_ERR_ARG;
    st = parse_header(envelope, envelope_len, 1, &v);
    if (st != SEAL_OK)
        return st;
    memcpy(hdr, envelope, SEAL_ENVELOPE_LEN);
    st = rewrap_header(kr, &v, hdr);
    if (st == SEAL_OK)
        memcpy(out, hdr, SEAL_ENVELOPE_LEN);
    OPENSSL_cleanse(hdr, sizeof(hdr));
    return st;
}

seal_status seal_rewrap(const struct keyring *kr,
                        const uint8_t *record, size_t record_len,
                        uint8_t **out, size_t *out_len)
{
    seal_status st = SEAL_ERR_ARG;
    struct record_view v;
    uint8_t *rec = NULL;

    if (out != NULL)
        *out = NULL;
    if (out_len != NULL)
        *out_len = 0;
    if (kr == NULL || record == NULL || out == NULL || out_len == NULL)
        goto out;

    st = parse_record(record, record_len, &v);
    if (st != SEAL_OK)
        goto out;
    rec = malloc(record_len);
    if (rec == NULL) {
        st = SEAL_ERR_NOMEM;
        goto out;
    }
    memcpy(rec, record, record_len);
    st = rewrap_header(kr, &v, rec);
    if (st != SEAL_OK)
        goto out;

    *out = rec;
    *out_len = record_len;
    rec = NULL;
    st = SEAL_OK;
out:
    seal_buf_free(rec, record_len);
    return st;
}

seal_status seal_record_format(const uint8_t *record, size_t record_len, unsigned *format)
{
    struct record_view v;
    seal_status st = format != NULL ? parse_record(record, record_len, &v) : SEAL_ERR_ARG;

    if (format != NULL)
        *format = st == SEAL_OK ? v.format : 0;
    return st;
}

seal_status seal_record_scheme(const uint8_t *record, size_t record_len, unsigned *scheme)
{
    struct record_view v;
    seal_status st = scheme != NULL ? parse_record(record, record_len, &v) : SEAL_ERR_ARG;

    if (scheme != NULL)
        *scheme = st == SEAL_OK ? v.scheme : 0;
    return st;
}

seal_status seal_record_kek(const uint8_t *record, size_t record_len, uint32_t *kek_id)
{
    struct record_view v;
    seal_status st = kek_id != NULL ? parse_record(record, record_len, &v) : SEAL_ERR_ARG;

    if (kek_id != NULL)
        *kek_id = st == SEAL_OK ? v.kek_id : 0;
    return st;
}

void seal_buf_free(uint8_t *buf, size_t len)
{
    if (buf == NULL)
        return;
    OPENSSL_cleanse(buf, len);
    free(buf);
}

const char *seal_strerror(seal_status st)
{
    switch (st) {
    case SEAL_OK:
        return "ok";
    case SEAL_ERR_ARG:
        return "invalid argument";
    case SEAL_ERR_FORMAT:
        return "malformed sealed record";
    case SEAL_ERR_VERSION:
        return "unknown sealed record format version";
    case SEAL_ERR_SUITE:
        return "unknown sealed record suite";
    case SEAL_ERR_KEK:
        return "key-encryption key unknown, retired or not active";
    case SEAL_ERR_AUTH:
        return "sealed record failed authentication";
    case SEAL_ERR_CRYPTO:
        return "cryptographic library failure";
    case SEAL_ERR_NOMEM:
        return "out of memory";
    case SEAL_ERR_UNAVAILABLE:
        return "the PKCS#11 token holding the key-encryption key cannot be used now";
    }
    return "unknown seal status";
}
