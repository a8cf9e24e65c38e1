/* libFuzzer target: client tokens (auth_jwt.c): jwt_from_authorization and
 * jwt_verify with a fixed HS256 secret and a fixed ES256 (P-256) key.
 *
 * Input:
 *   byte 0   mode (low 2 bits)
 *              0  the rest (up to a NUL) is an Authorization header value
 *              1  the rest is header JSON, NUL, payload JSON: the harness
 *                 builds the token and signs it with the HS256 secret
 *              2  as 1, signed with the ES256 key (so the claim checks
 *                 are reached through the ECDSA path too)
 *              3  as 1, then the token is passed through
 *                 jwt_from_authorization("Bearer " + token)
 *   byte 1   expectations: bit 0 audience checked, bit 1 issuer checked,
 *            bits 2-3 leeway 0/1/60/-5 s, bits 4-5 sub_cap 1/2/64/256
 *
 * Invariants beyond ASan/UBSan: jwt_from_authorization's token is a
 * non-empty, whitespace-free suffix of the header; jwt_verify leaves sub ""
 * unless JWT_OK, and on JWT_OK sub is a NUL-terminated, control-free string
 * shorter than sub_cap; a harness-signed token whose signature is then
 * damaged is never JWT_OK. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "auth_jwt.h"
#include "fuzz_common.h"

static struct jwt_keys *keys;
static EVP_PKEY *es_priv;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    BIO *b = BIO_new_mem_buf(FZ_JWT_ES_PRIV_PEM, -1);

    (void)argc;
    (void)argv;
    es_priv = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (es_priv == NULL ||
        jwt_keys_from_memory((const uint8_t *)FZ_JWT_HS_SECRET, strlen(FZ_JWT_HS_SECRET),
                             es_priv, &keys) != 0) {
        fprintf(stderr, "fuzz_jwt: cannot set up keys\n");
        abort();
    }
    return 0;
}

/* JWS R||S (64 bytes) from OpenSSL's DER signature. */
static int es256_sign(const char *input, size_t len, uint8_t rs[64])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[80];
    const unsigned char *p = der;
    size_t der_len = sizeof(der);
    ECDSA_SIG *sig = NULL;
    int ok = 0;

    if (md != NULL && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, es_priv) == 1 &&
        EVP_DigestSign(md, der, &der_len, (const unsigned char *)input, len) == 1 &&
        (sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len)) != NULL &&
        BN_bn2binpad(ECDSA_SIG_get0_r(sig), rs, 32) == 32 &&
        BN_bn2binpad(ECDSA_SIG_get0_s(sig), rs + 32, 32) == 32)
        ok = 1;
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    return ok ? 0 : -1;
}

/* header.payload.signature, signed as mode says; malloc'd. */
static char *make_token(const char *header, const char *payload, int es)
{
    size_t hl = strlen(header), pl = strlen(payload);
    char *t = malloc(4 * (hl + pl + 64) / 3 + 16), *p;
    uint8_t sig[64];
    size_t n;

    FZ_ASSERT(t != NULL);
    n = fz_b64url((const uint8_t *)header, hl, t);
    t[n++] = '.';
    n += fz_b64url((const uint8_t *)payload, pl, t + n);
    p = t + n;
    if (es) {
        FZ_ASSERT(es256_sign(t, n, sig) == 0);
    } else {
        FZ_ASSERT(fz_hmac((const uint8_t *)FZ_JWT_HS_SECRET, strlen(FZ_JWT_HS_SECRET), t, n,
                          NULL, 0, NULL, 0, sig) == 0);
    }
    *p++ = '.';
    fz_b64url(sig, es ? 64 : 32, p);
    return t;
}

static jwt_status verify(const char *token, uint8_t ctl, char *sub, size_t sub_cap)
{
    static const long leeways[4] = { 0, 1, 60, -5 };
    struct jwt_expect e = {
        .audience = (ctl & 1) ? FZ_JWT_AUDIENCE : NULL,
        .issuer = (ctl & 2) ? FZ_JWT_ISSUER : NULL,
        .leeway_seconds = leeways[(ctl >> 2) & 3],
        .now = FZ_NOW,
    };
    jwt_status st;

    memset(sub, 'X', sub_cap);
    st = jwt_verify(keys, token, &e, sub, sub_cap);
    FZ_ASSERT(st >= JWT_OK && st <= JWT_NOMEM);
    FZ_ASSERT(jwt_strerror(st) != NULL);
    if (st != JWT_OK) {
        FZ_ASSERT(sub[0] == '\0');
        return st;
    }
    FZ_ASSERT(memchr(sub, '\0', sub_cap) != NULL);
    FZ_ASSERT(strlen(sub) > 0 && strlen(sub) < sub_cap);
    for (const char *c = sub; *c; c++)
        FZ_ASSERT((unsigned char)*c >= 0x20 && (unsigned char)*c != 0x7f);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t caps[4] = { 1, 2, 64, 256 };
    struct fz_fields ff = { 0 };
    const uint8_t *rest;
    size_t rest_len, sub_cap;
    const char *token = NULL;
    char *sub, *made = NULL, *hdr = NULL;
    jwt_status st;
    int mode;
    uint8_t ctl;

    if (size < 2)
        return 0;
    mode = data[0] & 3;
    ctl = data[1];
    sub_cap = caps[(ctl >> 4) & 3];
    sub = malloc(sub_cap);
    FZ_ASSERT(sub != NULL);
    if (fz_split(data + 2, size - 2, 2, &ff, &rest, &rest_len) != 0)
        abort();

    if (mode == 0) {
        st = jwt_from_authorization(ff.f[0], &token);
        if (st == JWT_OK) {
            size_t hl = strlen(ff.f[0]), tl;
            FZ_ASSERT(token != NULL);
            tl = strlen(token);
            FZ_ASSERT(tl > 0 && tl < hl && token == ff.f[0] + (hl - tl));
            FZ_ASSERT(strpbrk(token, " \t\r\n") == NULL);
            (void)verify(token, ctl, sub, sub_cap);
        } else {
            FZ_ASSERT(st == JWT_MISSING || st == JWT_MALFORMED);
            FZ_ASSERT(token == NULL);
        }
        /* the raw field as a token, too (a gateway may pass it bare) */
        (void)verify(ff.f[0], ctl, sub, sub_cap);
        goto out;
    }

    made = make_token(ff.f[0], ff.f[1], mode == 2);
    token = made;
    if (mode == 3) {
        hdr = malloc(strlen(made) + 8);
        FZ_ASSERT(hdr != NULL);
        sprintf(hdr, "Bearer %s", made);
        FZ_ASSERT(jwt_from_authorization(hdr, &token) == JWT_OK);
        FZ_ASSERT(strcmp(token, made) == 0);
    }
    st = verify(token, ctl, sub, sub_cap);
    if (st == JWT_OK) {
        /* damage the signature: the last character's bits carry data for
         * HS256 (32 bytes -> 43 chars, 2 spare bits), so flip one of its
         * first characters instead */
        char *s = strrchr(made, '.') + 1;
        s[0] = s[0] == 'A' ? 'B' : 'A';
        FZ_ASSERT(verify(made, ctl, sub, sub_cap) == JWT_BAD_SIGNATURE);
    }
out:
    free(hdr);
    free(made);
    free(sub);
    fz_fields_free(&ff);
    return 0;
}
