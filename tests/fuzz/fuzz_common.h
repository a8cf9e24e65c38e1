/* Shared by the libFuzzer targets in tests/fuzz and by gen_seeds.c, so that
 * the seed corpus is built with exactly the keys, clock and input layout the
 * targets use. Header-only (static functions): each target is one .c file
 * linked against the sharekeep sources, see scripts/fuzz.
 *
 * Input layout used by every target: a few leading control bytes, then
 * NUL-separated fields; the last field (the body or the record) is the rest
 * of the input and may itself contain NUL bytes. */
#ifndef SHAREKEEP_FUZZ_COMMON_H
#define SHAREKEEP_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/params.h>

/* The fixed clock every target runs at (2023-11-14T22:13:20Z). */
#define FZ_NOW ((time_t)1700000000)

/* Webhook key: 32 bytes 0x00..0x1f, i.e. "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=". */
#define FZ_WEBHOOK_SECRETS \
    "# fuzz webhook secrets\n" \
    "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
static const uint8_t FZ_WEBHOOK_KEY[32] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

/* JWT keys: an HS256 secret and a P-256 key pair made for these tests only. */
#define FZ_JWT_HS_SECRET "sharekeep-fuzz-hs256-secret-0123456789abcdef"
#define FZ_JWT_ES_PRIV_PEM \
    "-----BEGIN PRIVATE KEY-----\n" \
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgbupKwD2TItb9gCL9\n" \
    "0qF/VAr35KnOLa6AJ4ynFDY/3bihRANCAAR4r+4CGSKqQmCrZ2JK7NPYFrKvh/9+\n" \
    "FT2ymNy43NMx7mHbkKvLsSw0mlwOVYT+UITUxqCRabwNNYbRBoleEl5T\n" \
    "-----END PRIVATE KEY-----\n"
#define FZ_JWT_AUDIENCE "sharekeep"
#define FZ_JWT_ISSUER   "https://portal.example"

/* KEKs for the seal target: id 1 active, id 2 decrypt-only, id 3 retired;
 * key n is 32 bytes of n * 0x11. Records in the seed corpus are sealed
 * under FZ_SEAL_CLIENT with kind = client, version 1. */
#define FZ_SEAL_CLIENT "fuzz-client-1"

/* ---- input splitting ------------------------------------------------- */

/* Splits the input into up to n NUL-terminated fields (heap copies, so
 * ASan sees every over-read). A field ends at a NUL byte; missing fields
 * are "". The bytes after the n-th field are the rest (rest, rest_len
 * point into data). Free with fz_fields_free. */
struct fz_fields {
    char **f;
    size_t n;
};

static inline int fz_split(const uint8_t *data, size_t size, size_t n, struct fz_fields *out,
                    const uint8_t **rest, size_t *rest_len)
{
    size_t pos = 0, i;

    out->f = calloc(n, sizeof(char *));
    out->n = n;
    if (out->f == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        const uint8_t *nul = pos < size ? memchr(data + pos, 0, size - pos) : NULL;
        size_t len = nul != NULL ? (size_t)(nul - (data + pos)) : size - pos;

        out->f[i] = malloc(len + 1);
        if (out->f[i] == NULL)
            return -1;
        if (len > 0)
            memcpy(out->f[i], data + pos, len);
        out->f[i][len] = '\0';
        pos += len;
        if (pos < size)
            pos++;        /* the NUL */
    }
    *rest = data + pos;
    *rest_len = size - pos;
    return 0;
}

static inline void fz_fields_free(struct fz_fields *ff)
{
    size_t i;

    if (ff->f == NULL)
        return;
    for (i = 0; i < ff->n; i++)
        free(ff->f[i]);
    free(ff->f);
    ff->f = NULL;
}

/* An exact heap copy of len bytes (so reads past the end are caught). */
static inline uint8_t *fz_dup(const uint8_t *p, size_t len)
{
    uint8_t *c = malloc(len ? len : 1);

    if (c != NULL && len > 0)
        memcpy(c, p, len);
    return c;
}

/* ---- encodings -------------------------------------------------------- */

/* Standard padded base64 into out (room for 4 * ceil(n / 3) + 1). */
static inline size_t fz_b64(const uint8_t *in, size_t n, char *out)
{
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* Unpadded base64url into out (room for 4 * ceil(n / 3) + 1). */
static inline size_t fz_b64url(const uint8_t *in, size_t n, char *out)
{
    size_t len = fz_b64(in, n, out), i;

    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = '\0';
    for (i = 0; i < len; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    return len;
}

/* HMAC-SHA256 over the concatenation of up to three parts. */
static inline int fz_hmac(const uint8_t *key, size_t key_len, const void *a, size_t alen,
                   const void *b, size_t blen, const void *c, size_t clen, uint8_t out[32])
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[2];
    char digest[] = "SHA256";
    size_t outl = 0;
    int ok = 0;

    params[0] = OSSL_PARAM_construct_utf8_string("digest", digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (ctx != NULL && EVP_MAC_init(ctx, key, key_len, params) == 1 &&
        (alen == 0 || EVP_MAC_update(ctx, a, alen) == 1) &&
        (blen == 0 || EVP_MAC_update(ctx, b, blen) == 1) &&
        (clen == 0 || EVP_MAC_update(ctx, c, clen) == 1) &&
        EVP_MAC_final(ctx, out, &outl, 32) == 1 && outl == 32)
        ok = 1;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return ok ? 0 : -1;
}

/* "v1,<base64 HMAC(key, id "." ts "." body)>" into out (room for 48). */
static inline int fz_webhook_sig(const char *id, const char *ts, const uint8_t *body, size_t body_len,
                          char out[48])
{
    uint8_t mac[32];
    char *msg;
    size_t idl = strlen(id), tsl = strlen(ts);
    int rc;

    msg = malloc(idl + tsl + 2);
    if (msg == NULL)
        return -1;
    memcpy(msg, id, idl);
    msg[idl] = '.';
    memcpy(msg + idl + 1, ts, tsl);
    msg[idl + 1 + tsl] = '.';
    rc = fz_hmac(FZ_WEBHOOK_KEY, sizeof(FZ_WEBHOOK_KEY), msg, idl + tsl + 2, body, body_len,
                 NULL, 0, mac);
    free(msg);
    if (rc != 0)
        return -1;
    memcpy(out, "v1,", 3);
    fz_b64(mac, sizeof(mac), out + 3);
    return 0;
}

/* Aborts with a message: how a target reports a broken invariant. */
#define FZ_ASSERT(cond)                                                              \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

#endif
