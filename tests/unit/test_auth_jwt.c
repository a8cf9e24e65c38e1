/* Unit tests for auth_jwt.c: tokens are built here (HS256 with HMAC, ES256
 * with a fresh P-256 key, raw R||S), then bent one way at a time. Key file
 * tests work in their own mkdtemp directory. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "auth_jwt.h"
#include "unit.h"

#define NOBODY_UID 65534
#define NOW        ((time_t)1700000000)
#define LEEWAY     60L
#define AUD        "sharekeep"
#define ISS        "https://portal.example"
#define HS_KEY     "sharekeep-unit-test-hs256-key-0123456789abcdef"
#define HS_KEY2    "another-unit-test-hs256-key-fedcba9876543210xx"
#define HDR_HS     "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define HDR_ES     "{\"alg\":\"ES256\",\"typ\":\"JWT\"}"
#define GOOD       "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"client-42\"," \
                   "\"iat\":1700000000,\"exp\":1700000600}"
#define TOKEN_BUF  (2 * JWT_TOKEN_MAX)
/* Payloads with one claim left for the test to fill in. */
#define AUD_FMT    "{\"sub\":\"c\",\"iss\":\"" ISS "\",\"exp\":1700000600,\"aud\":%s}"
#define ISS_FMT    "{\"sub\":\"c\",\"aud\":\"" AUD "\",\"exp\":1700000600%s}"
#define SUB_FMT    "{\"exp\":1700000600%s}"

/* RFC 7515 Appendix A.1: HS256 with a JWK "oct" key. Its payload has no
 * "sub", so a token that passes the signature and exp checks ends in
 * JWT_NO_SUBJECT. */
#define A1_KEY     "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T" \
                   "-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
#define A1_TOKEN   "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9" \
                   ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt" \
                   "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ" \
                   ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define A1_EXP     ((time_t)1300819380)

enum sign_mode { SIGN_HS, SIGN_ES, SIGN_ES_DER, SIGN_NONE };

struct signer {
    enum sign_mode mode;
    const uint8_t *key;       /* SIGN_HS */
    size_t key_len;
    EVP_PKEY *pkey;           /* SIGN_ES, SIGN_ES_DER */
};

static char tok[TOKEN_BUF];
static char sub[128];
static char err[512];

/* Each test starts with a fresh temp dir and no message left in err. */
static void tmp_setup(void)
{
    unit_tmp_setup("jwt");
    memset(err, 0, sizeof(err));
}

/* ---- helpers --------------------------------------------------------- */

static size_t b64url(const uint8_t *in, size_t n, char *out)
{
    size_t len, i;

    len = (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
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

/* Decodes unpadded base64url into out (room for the decoded bytes only);
 * returns the length. */
static size_t b64url_decode(const char *in, uint8_t *out)
{
    char tmp[256];
    unsigned char raw[192];
    size_t n = strlen(in), i, pad = (4 - n % 4) % 4;
    int len;

    CU_ASSERT_FATAL(n + pad < sizeof(tmp));
    for (i = 0; i < n; i++)
        tmp[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
    for (i = 0; i < pad; i++)
        tmp[n + i] = '=';
    tmp[n + pad] = '\0';
    /* EVP_DecodeBlock counts '=' padding as zero bytes. */
    len = EVP_DecodeBlock(raw, (unsigned char *)tmp, (int)(n + pad));
    CU_ASSERT_FATAL(len > 0 && (size_t)len >= pad);
    memcpy(out, raw, (size_t)len - pad);
    return (size_t)len - pad;
}

static EVP_PKEY *p256(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    return k;
}

static struct jwt_keys *keys(const char *hs, EVP_PKEY *es)
{
    struct jwt_keys *k = NULL;

    CU_ASSERT_EQUAL_FATAL(jwt_keys_from_memory((const uint8_t *)hs, hs ? strlen(hs) : 0, es,
                                               &k), 0);
    return k;
}

/* Signs input with sg into sig; returns the signature length. */
static size_t sign(const struct signer *sg, const char *input, uint8_t *sig)
{
    uint8_t der[128];
    size_t der_len = sizeof(der), outl = 0;
    const unsigned char *p = der;
    const BIGNUM *r = NULL, *s = NULL;
    EVP_MD_CTX *md;
    ECDSA_SIG *es;

    if (sg->mode == SIGN_NONE)
        return 0;
    if (sg->mode == SIGN_HS) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, sg->key,
                                               sg->key_len, (const unsigned char *)input,
                                               strlen(input), sig, 32, &outl));
        return outl;
    }
    md = EVP_MD_CTX_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(md);
    CU_ASSERT_EQUAL_FATAL(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, sg->pkey), 1);
    CU_ASSERT_EQUAL_FATAL(EVP_DigestSign(md, der, &der_len, (const unsigned char *)input,
                                         strlen(input)), 1);
    EVP_MD_CTX_free(md);
    if (sg->mode == SIGN_ES_DER) {
        memcpy(sig, der, der_len);
        return der_len;
    }
    es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(es);
    ECDSA_SIG_get0(es, &r, &s);
    CU_ASSERT_EQUAL(BN_bn2binpad(r, sig, 32), 32);
    CU_ASSERT_EQUAL(BN_bn2binpad(s, sig + 32, 32), 32);
    ECDSA_SIG_free(es);
    return 64;
}

/* b64url(header) "." b64url(payload) "." b64url(sig) into tok. */
static char *make(const char *header, const char *payload, const struct signer *sg)
{
    uint8_t sig[160];
    size_t n, slen;

    n = b64url((const uint8_t *)header, strlen(header), tok);
    tok[n++] = '.';
    n += b64url((const uint8_t *)payload, strlen(payload), tok + n);
    slen = sign(sg, tok, sig);
    tok[n++] = '.';
    b64url(sig, slen, tok + n);
    return tok;
}

static char *make_hs(const char *header, const char *payload)
{
    struct signer sg = { SIGN_HS, (const uint8_t *)HS_KEY, strlen(HS_KEY), NULL };

    return make(header, payload, &sg);
}

static char *make_es(const char *header, const char *payload, EVP_PKEY *pkey)
{
    struct signer sg = { SIGN_ES, NULL, 0, pkey };

    return make(header, payload, &sg);
}

static jwt_status check_with(const struct jwt_keys *k, const char *token, const char *aud,
                             const char *iss, long leeway, time_t now)
{
    struct jwt_expect e = { aud, iss, leeway, now };

    memset(sub, 'x', sizeof(sub));
    return jwt_verify(k, token, &e, sub, sizeof(sub));
}

static jwt_status check(const struct jwt_keys *k, const char *token)
{
    jwt_status st = check_with(k, token, AUD, ISS, LEEWAY, NOW);

    if (st != JWT_OK)
        CU_ASSERT_EQUAL(sub[0], '\0');
    return st;
}

/* Payload with printf-style claims. */
__attribute__((format(printf, 1, 2)))
static const char *claims(const char *fmt, ...)
{
    static char buf[JWT_TOKEN_MAX];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof(buf));
    return buf;
}

/* PEM text of pkey's public half (or private key) into out. */
static const char *pem_of(EVP_PKEY *pkey, int private_key, char *out, size_t cap)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n;

    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    if (private_key) {
        CU_ASSERT_EQUAL_FATAL(PEM_write_bio_PrivateKey(b, pkey, NULL, NULL, 0, NULL, NULL), 1);
    } else {
        CU_ASSERT_EQUAL_FATAL(PEM_write_bio_PUBKEY(b, pkey), 1);
    }
    n = BIO_get_mem_data(b, &data);
    CU_ASSERT_FATAL(n > 0 && (size_t)n < cap);
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    BIO_free(b);
    return out;
}

/* ---- good tokens ----------------------------------------------------- */

static void test_valid_hs256_accepted(void)
{
    struct jwt_keys *k = keys(HS_KEY, NULL);

    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, GOOD)), JWT_OK);
    CU_ASSERT_STRING_EQUAL(sub, "client-42");
    /* Claims not asked for are not checked; other header fields are ignored. */
    CU_ASSERT_EQUAL(check_with(k, make_hs("{\"alg\":\"HS256\",\"kid\":\"k1\"}",
                                          "{\"sub\":\"u\",\"exp\":1700000600}"),
                               NULL, NULL, 0, NOW), JWT_OK);
    CU_ASSERT_STRING_EQUAL(sub, "u");
    jwt_keys_free(k);
}

static void test_valid_es256_accepted(void)
{
    EVP_PKEY *pk = p256();
    struct jwt_keys *k = keys(NULL, pk);

    CU_ASSERT_EQUAL(check(k, make_es(HDR_ES, GOOD, pk)), JWT_OK);
    CU_ASSERT_STRING_EQUAL(sub, "client-42");
    jwt_keys_free(k);
    EVP_PKEY_free(pk);
}

static void test_both_key_types_configured(void)
{
    EVP_PKEY *pk = p256();
    struct jwt_keys *k = keys(HS_KEY, pk);

    CU_ASSERT_EQUAL(check(k, make_es(HDR_ES, GOOD, pk)), JWT_OK);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, GOOD)), JWT_OK);
    jwt_keys_free(k);
    EVP_PKEY_free(pk);
}

static void test_rfc7515_a1_vector(void)
{
    uint8_t key[64];
    struct jwt_keys *k = NULL;
    char bad[sizeof(A1_TOKEN)];

    CU_ASSERT_EQUAL_FATAL(b64url_decode(A1_KEY, key), 64);
    CU_ASSERT_EQUAL_FATAL(jwt_keys_from_memory(key, sizeof(key), NULL, &k), 0);
    /* Signature and exp pass; the example simply has no subject. */
    CU_ASSERT_EQUAL(check_with(k, A1_TOKEN, NULL, NULL, 0, A1_EXP - 1), JWT_NO_SUBJECT);
    CU_ASSERT_EQUAL(check_with(k, A1_TOKEN, NULL, NULL, 0, A1_EXP), JWT_NO_SUBJECT);
    CU_ASSERT_EQUAL(check_with(k, A1_TOKEN, NULL, NULL, 0, A1_EXP + 1), JWT_EXPIRED);
    CU_ASSERT_EQUAL(check_with(k, A1_TOKEN, NULL, "joe", 0, A1_EXP), JWT_NO_SUBJECT);
    CU_ASSERT_EQUAL(check_with(k, A1_TOKEN, NULL, "jane", 0, A1_EXP), JWT_BAD_ISSUER);
    memcpy(bad, A1_TOKEN, sizeof(bad));
    bad[sizeof(bad) - 5] = bad[sizeof(bad) - 5] == 'A' ? 'B' : 'A';
    CU_ASSERT_EQUAL(check_with(k, bad, NULL, NULL, 0, A1_EXP), JWT_BAD_SIGNATURE);
    jwt_keys_free(k);
    OPENSSL_cleanse(key, sizeof(key));
}

/* ---- time claims ----------------------------------------------------- */

static void test_expired_refused(void)
{
    struct jwt_keys *k = keys(HS_KEY, NULL);
    const char *base = "{\"sub\":\"c\",\"aud\":\"" AUD "\",\"iss\":\"" ISS "\",";

    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims("%s\"exp\":%ld}", base,
                                                    (long)NOW - LEEWAY - 1))), JWT_EXPIRED);
    /* Within the leeway, and at its edge. */
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims("%s\"exp\":%ld}", base,
                                                    (long)NOW - LEEWAY))), JWT_OK);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims("%s\"exp\":%ld}", base, (long)NOW - 1))),
                    JWT_OK);
    CU_ASSERT_EQUAL(check_with(k, make_hs(HDR_HS, claims("%s\"exp\":%ld}", base,
                                                         (long)NOW - 1)), AUD, ISS, 0, NOW),
                    JWT_EXPIRED);
    CU_ASSERT_EQUAL(check_with(k, make_hs(HDR_HS, claims("%s\"exp\":%ld}", base, (long)NOW)),
                               AUD, ISS, 0, NOW), JWT_OK);
    /* A negative leeway is no leeway. */
    CU_ASSERT_EQUAL(check_with(k, make_hs(HDR_HS, claims("%s\"exp\":%ld}", base, (long)NOW)),
                               AUD, ISS, -100, NOW), JWT_OK);
    /* Fractional NumericDate. */
    CU_ASSERT_EQUAL(check_with(k, make_hs(HDR_HS, claims("%s\"exp\":1700000000.5}", base)),
                               AUD, ISS, 0, NOW), JWT_OK);
    CU_ASSERT_EQUAL(check_with(k, make_hs(HDR_HS, claims("%s\"exp\":1700000000.5}", base)),
                               AUD, ISS, 0, NOW + 1), JWT_EXPIRED);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims("%s\"exp\":1e300}", base))), JWT_OK);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims("%s\"exp\":-1e300}", base))), JWT_EXPIRED);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims("%s\"exp\":9223372036854775807}", base))),
                    JWT_OK);
    jwt_keys_free(k);
}

static void test_missing_or_non_numeric_exp_malformed(void)
{
    struct jwt_keys *k = keys(HS_KEY, NULL);

    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, "{\"sub\":\"c\",\"aud\":\"" AUD "\",\"iss\":\""
                                     ISS "\"}")), JWT_MALFORMED);
    CU_ASSERT_EQUAL(check_with(k, make_hs(HDR_HS, "{\"sub\":\"c\",\"exp\":\"1700000600\"}"),
                               NULL, NULL, 0, NOW), JWT_MALFORMED);
    CU_ASSERT_EQUAL(check_with(k, make_hs(HDR_HS, "{\"sub\":\"c\",\"exp\":null}"),
                               NULL, NULL, 0, NOW), JWT_MALFORMED);
    CU_ASSERT_EQUAL(check_with(k, make_hs(HDR_HS, "{\"sub\":\"c\",\"exp\":true}"),
                               NULL, NULL, 0, NOW), JWT_MALFORMED);
    CU_ASSERT_EQUAL(check_with(k, make_hs(HDR_HS, "{\"sub\":\"c\",\"exp\":[1700000600]}"),
                               NULL, NULL, 0, NOW), JWT_MALFORMED);
    CU_ASSERT_EQUAL(check_with(k, make_hs(HDR_HS, "{\"sub\":\"c\",\"exp\":1700000600,"
                                          "\"nbf\":\"0\"}"), NULL, NULL, 0, NOW),
                    JWT_MALFORMED);
    CU_ASSERT_EQUAL(check_with(k, make_hs(HDR_HS, "{\"sub\":\"c\",\"exp\":1700000600,"
                                          "\"iat\":{}}"), NULL, NULL, 0, NOW), JWT_MALFORMED);
    jwt_keys_free(k);
}

static void test_not_yet_valid_refused(void)
{
    struct jwt_keys *k = keys(HS_KEY, NULL);
    const char *base = "{\"sub\":\"c\",\"aud\":\"" AUD "\",\"iss\":\"" ISS "\","
                       "\"exp\":1700003600,";

    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims("%s\"nbf\":%ld}", base,
                                                    (long)NOW + LEEWAY + 1))),
                    JWT_NOT_YET_VALID);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims("%s\"nbf\":%ld}", base,
                                                    (long)NOW + LEEWAY))), JWT_OK);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims("%s\"nbf\":%ld}", base, (long)NOW - 5))),
                    JWT_OK);
    CU_ASSERT_EQUAL(check_with(k, make_hs(HDR_HS, claims("%s\"nbf\":1700000000.5}", base)),
                               AUD, ISS, 0, NOW), JWT_NOT_YET_VALID);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims("%s\"iat\":%ld}", base,
                                                    (long)NOW + LEEWAY + 1))),
                    JWT_NOT_YET_VALID);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims("%s\"iat\":%ld}", base,
                                                    (long)NOW + LEEWAY))), JWT_OK);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims("%s\"iat\":0}", base))), JWT_OK);
    jwt_keys_free(k);
}

/* ---- audience, issuer, subject --------------------------------------- */

static void test_audience_checked(void)
{
    struct jwt_keys *k = keys(HS_KEY, NULL);

    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims(AUD_FMT, "\"other\""))), JWT_BAD_AUDIENCE);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims(AUD_FMT, "\"sharekeeper\""))),
                    JWT_BAD_AUDIENCE);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims(AUD_FMT, "\"Sharekeep\""))), JWT_BAD_AUDIENCE);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims(AUD_FMT, "\"sharekeep\\u0000x\""))),
                    JWT_BAD_AUDIENCE);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims(AUD_FMT, "[\"a\",\"b\"]"))), JWT_BAD_AUDIENCE);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims(AUD_FMT, "[]"))), JWT_BAD_AUDIENCE);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims(AUD_FMT, "[[\"" AUD "\"]]"))),
                    JWT_BAD_AUDIENCE);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims(AUD_FMT, "7"))), JWT_BAD_AUDIENCE);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims(AUD_FMT, "[\"a\",\"" AUD "\"]"))), JWT_OK);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims(AUD_FMT, "[1,null,\"" AUD "\"]"))), JWT_OK);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, "{\"sub\":\"c\",\"iss\":\"" ISS "\","
                                     "\"exp\":1700000600}")), JWT_BAD_AUDIENCE);
    jwt_keys_free(k);
}

static void test_issuer_checked(void)
{
    struct jwt_keys *k = keys(HS_KEY, NULL);

    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims(ISS_FMT, ",\"iss\":\"https://evil.example\""))),
                    JWT_BAD_ISSUER);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims(ISS_FMT, ",\"iss\":\"" ISS "/\""))),
                    JWT_BAD_ISSUER);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims(ISS_FMT, ",\"iss\":[\"" ISS "\"]"))),
                    JWT_BAD_ISSUER);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims(ISS_FMT, ""))), JWT_BAD_ISSUER);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims(ISS_FMT, ",\"iss\":\"" ISS "\""))), JWT_OK);
    jwt_keys_free(k);
}

static void test_subject_required(void)
{
    struct jwt_keys *k = keys(HS_KEY, NULL);
    struct jwt_expect e = { NULL, NULL, 0, NOW };
    char small[10];

    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, claims("{\"aud\":\"" AUD "\",\"iss\":\"" ISS
                                                    "\",\"exp\":1700000600}"))),
                    JWT_NO_SUBJECT);
    CU_ASSERT_EQUAL(check_with(k, make_hs(HDR_HS, claims(SUB_FMT, ",\"sub\":\"\"")), NULL, NULL, 0,
                               NOW), JWT_NO_SUBJECT);
    CU_ASSERT_EQUAL(check_with(k, make_hs(HDR_HS, claims(SUB_FMT, ",\"sub\":42")), NULL, NULL, 0,
                               NOW), JWT_NO_SUBJECT);
    CU_ASSERT_EQUAL(check_with(k, make_hs(HDR_HS, claims(SUB_FMT, ",\"sub\":null")), NULL, NULL, 0,
                               NOW), JWT_NO_SUBJECT);
    CU_ASSERT_EQUAL(check_with(k, make_hs(HDR_HS, claims(SUB_FMT, ",\"sub\":\"a\\u0000b\"")), NULL,
                               NULL, 0, NOW), JWT_NO_SUBJECT);
    CU_ASSERT_EQUAL(check_with(k, make_hs(HDR_HS, claims(SUB_FMT, ",\"sub\":\"a\\nb\"")), NULL,
                               NULL, 0, NOW), JWT_NO_SUBJECT);
    /* UTF-8 is fine. */
    CU_ASSERT_EQUAL(check_with(k, make_hs(HDR_HS, claims(SUB_FMT, ",\"sub\":\"caf\\u00e9\"")), NULL,
                               NULL, 0, NOW), JWT_OK);
    CU_ASSERT_STRING_EQUAL(sub, "caf\xc3\xa9");

    /* sub must fit in sub_cap - 1 bytes. */
    make_hs(HDR_HS, claims(SUB_FMT, ",\"sub\":\"123456789\""));
    CU_ASSERT_EQUAL(jwt_verify(k, tok, &e, small, sizeof(small)), JWT_OK);
    CU_ASSERT_STRING_EQUAL(small, "123456789");
    CU_ASSERT_EQUAL(jwt_verify(k, tok, &e, small, sizeof(small) - 1), JWT_NO_SUBJECT);
    CU_ASSERT_EQUAL(small[0], '\0');
    jwt_keys_free(k);
}

/* ---- signatures ------------------------------------------------------ */

static void test_tampered_payload_refused(void)
{
    EVP_PKEY *pk = p256();
    struct jwt_keys *k = keys(HS_KEY, pk);
    char *dot;

    /* One character of the payload part, in the middle. */
    make_hs(HDR_HS, GOOD);
    dot = strchr(tok, '.');
    dot[10] = dot[10] == 'A' ? 'B' : 'A';
    CU_ASSERT_EQUAL(check(k, tok), JWT_BAD_SIGNATURE);

    make_es(HDR_ES, GOOD, pk);
    dot = strchr(tok, '.');
    dot[10] = dot[10] == 'A' ? 'B' : 'A';
    CU_ASSERT_EQUAL(check(k, tok), JWT_BAD_SIGNATURE);

    /* A payload swapped in whole from another token. */
    {
        char good[TOKEN_BUF], other[TOKEN_BUF];
        char *g2, *o1, *o2;

        snprintf(good, sizeof(good), "%s", make_hs(HDR_HS, GOOD));
        snprintf(other, sizeof(other), "%s",
                 make_hs(HDR_HS, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"admin\","
                         "\"exp\":1700000600}"));
        o1 = strchr(other, '.');
        o2 = strchr(o1 + 1, '.');
        g2 = strrchr(good, '.');
        *o2 = '\0';
        snprintf(tok, sizeof(tok), "%s%s", other, g2);
        CU_ASSERT_EQUAL(check(k, tok), JWT_BAD_SIGNATURE);
    }
    jwt_keys_free(k);
    EVP_PKEY_free(pk);
}

static void test_tampered_signature_refused(void)
{
    EVP_PKEY *pk = p256();
    struct jwt_keys *k = keys(HS_KEY, pk);
    char *sig;

    make_hs(HDR_HS, GOOD);
    sig = strrchr(tok, '.') + 1;
    sig[5] = sig[5] == 'A' ? 'B' : 'A';
    CU_ASSERT_EQUAL(check(k, tok), JWT_BAD_SIGNATURE);

    make_es(HDR_ES, GOOD, pk);
    sig = strrchr(tok, '.') + 1;
    sig[5] = sig[5] == 'A' ? 'B' : 'A';
    CU_ASSERT_EQUAL(check(k, tok), JWT_BAD_SIGNATURE);
    /* The S half only. */
    make_es(HDR_ES, GOOD, pk);
    sig = strrchr(tok, '.') + 1;
    sig[60] = sig[60] == 'A' ? 'B' : 'A';
    CU_ASSERT_EQUAL(check(k, tok), JWT_BAD_SIGNATURE);

    /* All-zero R and S, and all-0xff (above the group order). */
    {
        uint8_t raw[64];
        size_t n;

        memset(raw, 0, sizeof(raw));
        make_es(HDR_ES, GOOD, pk);
        sig = strrchr(tok, '.') + 1;
        n = b64url(raw, sizeof(raw), sig);
        CU_ASSERT_EQUAL(n, 86);
        CU_ASSERT_EQUAL(check(k, tok), JWT_BAD_SIGNATURE);
        memset(raw, 0xff, sizeof(raw));
        b64url(raw, sizeof(raw), sig);
        CU_ASSERT_EQUAL(check(k, tok), JWT_BAD_SIGNATURE);
    }
    jwt_keys_free(k);
    EVP_PKEY_free(pk);
}

static void test_signature_from_another_key_refused(void)
{
    EVP_PKEY *pk = p256(), *other = p256();
    struct jwt_keys *k = keys(HS_KEY, pk);
    struct signer sg = { SIGN_HS, (const uint8_t *)HS_KEY2, strlen(HS_KEY2), NULL };

    CU_ASSERT_EQUAL(check(k, make(HDR_HS, GOOD, &sg)), JWT_BAD_SIGNATURE);
    CU_ASSERT_EQUAL(check(k, make_es(HDR_ES, GOOD, other)), JWT_BAD_SIGNATURE);
    jwt_keys_free(k);
    EVP_PKEY_free(pk);
    EVP_PKEY_free(other);
}

static void test_non_canonical_signature_encoding_refused(void)
{
    struct jwt_keys *k = keys(HS_KEY, NULL);
    char *last;

    /* 43 characters carry 258 bits for 256: the last character's two low
     * bits are unused. Setting them spells the same MAC a second way. */
    make_hs(HDR_HS, GOOD);
    CU_ASSERT_EQUAL(check(k, tok), JWT_OK);
    last = tok + strlen(tok) - 1;
    CU_ASSERT_EQUAL(strlen(strrchr(tok, '.') + 1), 43);
    {
        static const char alpha[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        size_t v = (size_t)(strchr(alpha, *last) - alpha);

        CU_ASSERT_EQUAL(v & 3, 0);
        *last = alpha[v | 1];
    }
    CU_ASSERT_EQUAL(check(k, tok), JWT_BAD_SIGNATURE);
    jwt_keys_free(k);
}

static void test_es256_signature_shape(void)
{
    EVP_PKEY *pk = p256();
    struct jwt_keys *k = keys(NULL, pk);
    struct signer der = { SIGN_ES, NULL, 0, pk };
    uint8_t raw[66];
    char *sig;

    /* DER as produced by OpenSSL, not the JWS form. */
    der.mode = SIGN_ES_DER;
    CU_ASSERT_EQUAL(check(k, make(HDR_ES, GOOD, &der)), JWT_BAD_SIGNATURE);

    /* 63 and 65 bytes: a valid R||S cut short or extended. */
    make_es(HDR_ES, GOOD, pk);
    sig = strrchr(tok, '.') + 1;
    CU_ASSERT_EQUAL_FATAL(b64url_decode(sig, raw), 64);
    b64url(raw, 63, sig);
    CU_ASSERT_EQUAL(check(k, tok), JWT_BAD_SIGNATURE);
    raw[64] = 0;
    b64url(raw, 65, sig);
    CU_ASSERT_EQUAL(check(k, tok), JWT_BAD_SIGNATURE);
    /* A leading zero byte in front of R||S. */
    memmove(raw + 1, raw, 64);
    raw[0] = 0;
    b64url(raw, 65, sig);
    CU_ASSERT_EQUAL(check(k, tok), JWT_BAD_SIGNATURE);
    /* The untouched signature still verifies. */
    b64url(raw + 1, 64, sig);
    CU_ASSERT_EQUAL(check(k, tok), JWT_OK);

    /* An HS256-sized signature on an ES256 token, and the reverse. */
    b64url(raw + 1, 32, sig);
    CU_ASSERT_EQUAL(check(k, tok), JWT_BAD_SIGNATURE);
    jwt_keys_free(k);
    k = keys(HS_KEY, NULL);
    make_hs(HDR_HS, GOOD);
    sig = strrchr(tok, '.') + 1;
    memset(raw, 0x5a, sizeof(raw));
    b64url(raw, 64, sig);
    CU_ASSERT_EQUAL(check(k, tok), JWT_BAD_SIGNATURE);
    b64url(raw, 31, sig);
    CU_ASSERT_EQUAL(check(k, tok), JWT_BAD_SIGNATURE);
    jwt_keys_free(k);
    EVP_PKEY_free(pk);
}

/* ---- algorithms ------------------------------------------------------ */

static void test_alg_none_refused(void)
{
    EVP_PKEY *pk = p256();
    struct jwt_keys *k = keys(HS_KEY, pk);
    struct signer none = { SIGN_NONE, NULL, 0, NULL };

    CU_ASSERT_EQUAL(check(k, make("{\"alg\":\"none\"}", GOOD, &none)), JWT_ALG_REFUSED);
    CU_ASSERT_EQUAL(check(k, make("{\"alg\":\"none\",\"typ\":\"JWT\"}", GOOD, &none)),
                    JWT_ALG_REFUSED);
    CU_ASSERT_EQUAL(check(k, make("{\"alg\":\"None\"}", GOOD, &none)), JWT_ALG_REFUSED);
    /* "none" with an HS256 MAC attached changes nothing. */
    CU_ASSERT_EQUAL(check(k, make_hs("{\"alg\":\"none\"}", GOOD)), JWT_ALG_REFUSED);
    /* An HS256 header with no signature. */
    CU_ASSERT_EQUAL(check(k, make(HDR_HS, GOOD, &none)), JWT_BAD_SIGNATURE);
    jwt_keys_free(k);
    EVP_PKEY_free(pk);
}

static void test_alg_confusion_refused(void)
{
    EVP_PKEY *pk = p256();
    struct jwt_keys *k = keys(NULL, pk);
    char pem[1024];
    struct signer sg = { SIGN_HS, NULL, 0, NULL };

    /* The classic attack: HMAC keyed with the verifier's public key. */
    pem_of(pk, 0, pem, sizeof(pem));
    sg.key = (const uint8_t *)pem;
    sg.key_len = strlen(pem);
    CU_ASSERT_EQUAL(check(k, make(HDR_HS, GOOD, &sg)), JWT_ALG_REFUSED);
    /* Without the PEM armour, too. */
    {
        uint8_t spki[256];
        unsigned char *p = spki;
        int n = i2d_PUBKEY(pk, &p);

        CU_ASSERT_FATAL(n > 0 && (size_t)n <= sizeof(spki));
        sg.key = spki;
        sg.key_len = (size_t)n;
        CU_ASSERT_EQUAL(check(k, make(HDR_HS, GOOD, &sg)), JWT_ALG_REFUSED);
    }
    jwt_keys_free(k);

    /* With an HS256 secret configured as well, the public key is still not
     * an HMAC key. */
    k = keys(HS_KEY, pk);
    sg.key = (const uint8_t *)pem;
    sg.key_len = strlen(pem);
    CU_ASSERT_EQUAL(check(k, make(HDR_HS, GOOD, &sg)), JWT_BAD_SIGNATURE);
    jwt_keys_free(k);

    /* And an ES256 token is refused when only HS256 is configured. */
    k = keys(HS_KEY, NULL);
    CU_ASSERT_EQUAL(check(k, make_es(HDR_ES, GOOD, pk)), JWT_ALG_REFUSED);
    jwt_keys_free(k);
    EVP_PKEY_free(pk);
}

static void test_other_algs_refused(void)
{
    static const char *headers[] = {
        "{\"alg\":\"RS256\"}", "{\"alg\":\"hs256\"}", "{\"alg\":\"Hs256\"}",
        "{\"alg\":\"HS384\"}", "{\"alg\":\"HS512\"}", "{\"alg\":\"ES384\"}",
        "{\"alg\":\"es256\"}", "{\"alg\":\"PS256\"}", "{\"alg\":\"EdDSA\"}",
        "{\"alg\":\"HS256 \"}", "{\"alg\":\"HS256\\u0000\"}", "{\"alg\":\"\"}",
        "{\"alg\":256}", "{\"alg\":null}", "{\"alg\":[\"HS256\"]}", "{\"typ\":\"JWT\"}", "{}",
    };
    EVP_PKEY *pk = p256();
    struct jwt_keys *k = keys(HS_KEY, pk);
    size_t i;

    for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        CU_ASSERT_EQUAL(check(k, make_hs(headers[i], GOOD)), JWT_ALG_REFUSED);
        if (check(k, tok) != JWT_ALG_REFUSED)
            fprintf(stderr, "\n  header %s: %s\n", headers[i], jwt_strerror(check(k, tok)));
    }
    jwt_keys_free(k);
    EVP_PKEY_free(pk);
}

static void test_crit_header_refused(void)
{
    struct jwt_keys *k = keys(HS_KEY, NULL);

    CU_ASSERT_EQUAL(check(k, make_hs("{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}", GOOD)),
                    JWT_MALFORMED);
    CU_ASSERT_EQUAL(check(k, make_hs("{\"alg\":\"HS256\",\"b64\":false,\"crit\":[\"b64\"]}",
                                     GOOD)), JWT_MALFORMED);
    CU_ASSERT_EQUAL(check(k, make_hs("{\"alg\":\"HS256\",\"crit\":[]}", GOOD)), JWT_MALFORMED);
    jwt_keys_free(k);
}

/* ---- shape ----------------------------------------------------------- */

static void test_token_shape_refused(void)
{
    struct jwt_keys *k = keys(HS_KEY, NULL);
    char good[1024], *p;

    snprintf(good, sizeof(good), "%s", make_hs(HDR_HS, GOOD));
    CU_ASSERT_EQUAL(check(k, good), JWT_OK);

    /* Two parts, four parts. */
    snprintf(tok, sizeof(tok), "%s", good);
    *strrchr(tok, '.') = '\0';
    CU_ASSERT_EQUAL(check(k, tok), JWT_MALFORMED);
    snprintf(tok, sizeof(tok), "%s.", good);
    CU_ASSERT_EQUAL(check(k, tok), JWT_MALFORMED);
    snprintf(tok, sizeof(tok), "%s.AAAA", good);
    CU_ASSERT_EQUAL(check(k, tok), JWT_MALFORMED);
    CU_ASSERT_EQUAL(check(k, "abc"), JWT_MALFORMED);
    CU_ASSERT_EQUAL(check(k, ".."), JWT_MALFORMED);
    snprintf(tok, sizeof(tok), "%s", strchr(good, '.'));
    CU_ASSERT_EQUAL(check(k, tok), JWT_MALFORMED);

    /* Padding, standard-alphabet and stray characters. */
    snprintf(tok, sizeof(tok), "%s=", good);
    CU_ASSERT_EQUAL(check(k, tok), JWT_MALFORMED);
    snprintf(tok, sizeof(tok), "%s", good);
    p = strchr(tok, '.');
    memmove(p + 2, p, strlen(p) + 1);
    p[0] = '=';
    p[1] = '=';
    CU_ASSERT_EQUAL(check(k, tok), JWT_MALFORMED);
    snprintf(tok, sizeof(tok), "%s", good);
    tok[3] = '+';
    CU_ASSERT_EQUAL(check(k, tok), JWT_MALFORMED);
    tok[3] = '/';
    CU_ASSERT_EQUAL(check(k, tok), JWT_MALFORMED);
    tok[3] = ' ';
    CU_ASSERT_EQUAL(check(k, tok), JWT_MALFORMED);
    snprintf(tok, sizeof(tok), " %s", good);
    CU_ASSERT_EQUAL(check(k, tok), JWT_MALFORMED);
    snprintf(tok, sizeof(tok), "%s\n", good);
    CU_ASSERT_EQUAL(check(k, tok), JWT_MALFORMED);
    /* A part whose length is 1 mod 4 cannot be base64url, even when its
     * last character carries no bits and the whole is properly signed. */
    CU_ASSERT_EQUAL(check(k, "AAAAA.AAAA.AAAA"), JWT_MALFORMED);
    {
        struct signer sg = { SIGN_HS, (const uint8_t *)HS_KEY, strlen(HS_KEY), NULL };
        uint8_t sig[32];
        size_t n;

        n = b64url((const uint8_t *)HDR_HS, strlen(HDR_HS), tok);
        CU_ASSERT_EQUAL_FATAL(n % 4, 0);
        tok[n++] = 'A';
        tok[n++] = '.';
        n += b64url((const uint8_t *)GOOD, strlen(GOOD), tok + n);
        CU_ASSERT_EQUAL_FATAL(sign(&sg, tok, sig), 32);
        tok[n++] = '.';
        b64url(sig, sizeof(sig), tok + n);
        CU_ASSERT_EQUAL(check(k, tok), JWT_MALFORMED);
    }

    CU_ASSERT_EQUAL(check(k, NULL), JWT_MISSING);
    CU_ASSERT_EQUAL(check(k, ""), JWT_MISSING);
    jwt_keys_free(k);
}

static void test_token_length_limit(void)
{
    struct jwt_keys *k = keys(HS_KEY, NULL);
    static char pad[JWT_TOKEN_MAX];
    size_t n, len;
    int seen_ok = 0, seen_over = 0;

    for (n = 5900; n < 6200; n++) {
        memset(pad, 'p', n);
        pad[n] = '\0';
        make_hs(HDR_HS, claims("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"c\","
                               "\"exp\":1700000600,\"pad\":\"%s\"}", pad));
        len = strlen(tok);
        if (len <= JWT_TOKEN_MAX) {
            CU_ASSERT_EQUAL(check(k, tok), JWT_OK);
            seen_ok |= len > JWT_TOKEN_MAX - 4;
        } else {
            CU_ASSERT_EQUAL(check(k, tok), JWT_MALFORMED);
            seen_over = 1;
        }
    }
    CU_ASSERT(seen_ok);
    CU_ASSERT(seen_over);
    jwt_keys_free(k);
}

static void test_header_and_payload_must_be_strict_objects(void)
{
    static const char *bad_headers[] = {
        "[\"HS256\"]", "\"HS256\"", "null", "{", "{\"alg\":\"HS256\"}x",
        "{\"alg\":\"HS256\"}{}", "{'alg':'HS256'}", "{\"alg\":\"HS256\",}",
        "{\"alg\":\"HS256\",\"alg\":\"none\"}", "{\"alg\":\"none\",\"alg\":\"HS256\"}",
        "{\"alg\":\"HS256\",\"x\":\"\xff\"}",
        "{\"alg\":\"HS256\",\"x\":[[[[[[[[[[1]]]]]]]]]]}",
        /* What json-c 0.16 lets through even in strict mode: single-quoted
         * keys (here hiding a duplicate "alg"), raw control characters,
         * overlong and surrogate UTF-8, NaN, "1.". */
        "{'a\":1,\"alg':\"none\",\"alg\":\"HS256\"}",
        "{\"alg\":\"HS256\",\"x\":\"a\x01b\"}",
        "{\"alg\":\"HS256\",\"x\":\"\xc0\xaf\"}",
        "{\"alg\":\"HS256\",\"x\":\"\xed\xa0\x80\"}",
        "{\"alg\":\"HS256\",\"x\":\"\\ud800\"}", "{\"alg\":\"HS256\",\"x\":\"\\udc00\"}",
        "{\"alg\":\"HS256\",\"x\":\"\\ud800\\u0041\"}",
        "{\"alg\":\"HS256\",\"x\":NaN}",
        "{\"alg\":\"HS256\",\"x\":1.}",
        "{\"alg\":\"HS256\",\"x\":01}",
        "{\"alg\":\"HS256\",}",
        "{\"alg\":\"HS256\"", "{\"alg\":\"HS256\",\"x\":[1,]}",
        "{\"alg\":\"HS256\",\"x\":\"\\x41\"}",
    };
    static const char *bad_payloads[] = {
        "[]", "\"sub\"", "{\"sub\":\"a\",\"sub\":\"b\",\"exp\":1700000600}",
        "{\"sub\":\"a\",\"exp\":1700000600", "{\"sub\":\"a\",\"exp\":1700000600} x",
        "{\"sub\":\"a\",\"exp\":NaN}", "{\"sub\":\"a\",\"exp\":Infinity}",
        "{\"sub\":\"a\",\"exp\":1700000600,\"x\":\"\xc3\"}",
    };
    struct jwt_keys *k = keys(HS_KEY, NULL);
    size_t i;

    for (i = 0; i < sizeof(bad_headers) / sizeof(bad_headers[0]); i++) {
        CU_ASSERT_EQUAL(check(k, make_hs(bad_headers[i], GOOD)), JWT_MALFORMED);
        if (check(k, tok) != JWT_MALFORMED)
            fprintf(stderr, "\n  header %s: %s\n", bad_headers[i], jwt_strerror(check(k, tok)));
    }
    for (i = 0; i < sizeof(bad_payloads) / sizeof(bad_payloads[0]); i++) {
        CU_ASSERT_EQUAL(check_with(k, make_hs(HDR_HS, bad_payloads[i]), NULL, NULL, 0, NOW),
                        JWT_MALFORMED);
        if (check_with(k, tok, NULL, NULL, 0, NOW) != JWT_MALFORMED)
            fprintf(stderr, "\n  payload %s: %s\n", bad_payloads[i],
                    jwt_strerror(check_with(k, tok, NULL, NULL, 0, NOW)));
    }
    /* Whitespace around JSON is JSON; nesting within the limit is fine, and
     * so are escapes and UTF-8 done right. */
    CU_ASSERT_EQUAL(check(k, make_hs(" {\"alg\" : \"HS256\"}\r\n", GOOD)), JWT_OK);
    CU_ASSERT_EQUAL(check(k, make_hs("{\"alg\":\"HS256\",\"x\":[[[1]]]}", GOOD)), JWT_OK);
    CU_ASSERT_EQUAL(check(k, make_hs("{\"alg\":\"HS256\",\"x\":[[[[1]]]]}", GOOD)),
                    JWT_MALFORMED);
    CU_ASSERT_EQUAL(check(k, make_hs("{\"alg\":\"HS\\u0032\\u00356\",\"x\":\"\\ud83d\\ude00"
                                     "\xf0\x9f\x98\x80\\n\\/\",\"n\":-0.5e+3}", GOOD)),
                    JWT_OK);
    /* Keycloak's deepest claim: resource_access.{client}.roles. */
    CU_ASSERT_EQUAL(check_with(k, make_hs(HDR_HS, "{\"sub\":\"a\",\"exp\":1700000600,"
                                          "\"realm_access\":{\"roles\":[\"x\"]},"
                                          "\"resource_access\":{\"app\":{\"roles\":[\"y\"]}}}"),
                               NULL, NULL, 0, NOW), JWT_OK);
    CU_ASSERT_EQUAL(check_with(k, make_hs(HDR_HS, "{\"sub\":\"a\",\"exp\":1700000600,"
                                          "\"realm_access\":{\"roles\":[\"x\",{\"y\":[1]}]}}"),
                               NULL, NULL, 0, NOW), JWT_MALFORMED);
    jwt_keys_free(k);
}

static void test_argument_checks(void)
{
    struct jwt_keys *k = keys(HS_KEY, NULL);
    struct jwt_expect e = { AUD, ISS, LEEWAY, NOW };

    make_hs(HDR_HS, GOOD);
    CU_ASSERT_EQUAL(jwt_verify(NULL, tok, &e, sub, sizeof(sub)), JWT_MALFORMED);
    CU_ASSERT_EQUAL(jwt_verify(k, tok, NULL, sub, sizeof(sub)), JWT_MALFORMED);
    CU_ASSERT_EQUAL(jwt_verify(k, tok, &e, NULL, sizeof(sub)), JWT_MALFORMED);
    CU_ASSERT_EQUAL(jwt_verify(k, tok, &e, sub, 0), JWT_MALFORMED);
    CU_ASSERT_EQUAL(jwt_verify(k, tok, &e, sub, sizeof(sub)), JWT_OK);
    jwt_keys_free(k);
}

/* ---- Authorization header -------------------------------------------- */

static void test_bearer_scheme(void)
{
    const char *t = (const char *)1;

    CU_ASSERT_EQUAL(jwt_from_authorization("Bearer abc.def.ghi", &t), JWT_OK);
    CU_ASSERT_STRING_EQUAL(t, "abc.def.ghi");
    CU_ASSERT_EQUAL(jwt_from_authorization("bearer abc", &t), JWT_OK);
    CU_ASSERT_STRING_EQUAL(t, "abc");
    CU_ASSERT_EQUAL(jwt_from_authorization("BEARER   abc", &t), JWT_OK);
    CU_ASSERT_STRING_EQUAL(t, "abc");

    CU_ASSERT_EQUAL(jwt_from_authorization(NULL, &t), JWT_MISSING);
    CU_ASSERT_PTR_NULL(t);
    CU_ASSERT_EQUAL(jwt_from_authorization("", &t), JWT_MISSING);
    CU_ASSERT_EQUAL(jwt_from_authorization("Basic dXNlcjpwYXNz", &t), JWT_MISSING);
    CU_ASSERT_PTR_NULL(t);
    CU_ASSERT_EQUAL(jwt_from_authorization("Token abc", &t), JWT_MISSING);
    CU_ASSERT_EQUAL(jwt_from_authorization("Bearerabc", &t), JWT_MISSING);
    CU_ASSERT_EQUAL(jwt_from_authorization("Bear abc", &t), JWT_MISSING);
    CU_ASSERT_EQUAL(jwt_from_authorization(" Bearer abc", &t), JWT_MISSING);
    CU_ASSERT_EQUAL(jwt_from_authorization("abc.def.ghi", &t), JWT_MISSING);

    CU_ASSERT_EQUAL(jwt_from_authorization("Bearer", &t), JWT_MALFORMED);
    CU_ASSERT_EQUAL(jwt_from_authorization("Bearer ", &t), JWT_MALFORMED);
    CU_ASSERT_EQUAL(jwt_from_authorization("Bearer    ", &t), JWT_MALFORMED);
    CU_ASSERT_EQUAL(jwt_from_authorization("Bearer a b", &t), JWT_MALFORMED);
    CU_ASSERT_EQUAL(jwt_from_authorization("Bearer abc ", &t), JWT_MALFORMED);
    CU_ASSERT_EQUAL(jwt_from_authorization("Bearer\tabc", &t), JWT_MISSING);
    CU_ASSERT_PTR_NULL(t);
    CU_ASSERT_EQUAL(jwt_from_authorization("Bearer abc", NULL), JWT_MISSING);
}

/* ---- keys ------------------------------------------------------------ */

static void test_keys_from_memory_rules(void)
{
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    EVP_PKEY *pk = p256();
    struct jwt_keys *k = (struct jwt_keys *)1;
    uint8_t big[JWT_HS_SECRET_MAX + 1];

    CU_ASSERT_PTR_NOT_NULL_FATAL(p384);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ed);
    CU_ASSERT_EQUAL(jwt_keys_from_memory(NULL, 0, NULL, &k), -1);
    CU_ASSERT_PTR_NULL(k);
    CU_ASSERT_EQUAL(jwt_keys_from_memory((const uint8_t *)HS_KEY, 31, NULL, &k), -1);
    memset(big, 'k', sizeof(big));
    CU_ASSERT_EQUAL(jwt_keys_from_memory(big, sizeof(big), NULL, &k), -1);
    CU_ASSERT_EQUAL(jwt_keys_from_memory(big, sizeof(big) - 1, NULL, &k), 0);
    jwt_keys_free(k);
    CU_ASSERT_EQUAL(jwt_keys_from_memory((const uint8_t *)HS_KEY, 32, NULL, &k), 0);
    jwt_keys_free(k);
    CU_ASSERT_EQUAL(jwt_keys_from_memory(NULL, 0, p384, &k), -1);
    CU_ASSERT_EQUAL(jwt_keys_from_memory(NULL, 0, ed, &k), -1);
    CU_ASSERT_EQUAL(jwt_keys_from_memory((const uint8_t *)HS_KEY, strlen(HS_KEY), p384, &k), -1);
    CU_ASSERT_PTR_NULL(k);
    CU_ASSERT_EQUAL(jwt_keys_from_memory(NULL, 0, pk, NULL), -1);

    /* The caller keeps its reference: freeing the keys leaves pk usable. */
    CU_ASSERT_EQUAL(jwt_keys_from_memory(NULL, 0, pk, &k), 0);
    jwt_keys_free(k);
    k = keys(NULL, pk);
    CU_ASSERT_EQUAL(check(k, make_es(HDR_ES, GOOD, pk)), JWT_OK);
    jwt_keys_free(k);
    jwt_keys_free(NULL);
    EVP_PKEY_free(pk);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(ed);
}

static void test_keys_load_from_files(void)
{
    EVP_PKEY *pk = p256();
    struct jwt_keys *k = NULL;
    char pem[1024], hs_path[256], pem_path[256];

    tmp_setup();
    snprintf(hs_path, sizeof(hs_path), "%s", unit_write_file("hs", HS_KEY "\n\n", 0600));
    snprintf(pem_path, sizeof(pem_path), "%s",
             unit_write_file("pub.pem", pem_of(pk, 0, pem, sizeof(pem)), 0644));

    /* The trailing newlines are not part of the key. */
    CU_ASSERT_EQUAL(jwt_keys_load(hs_path, NULL, &k, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(err[0], '\0');
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, GOOD)), JWT_OK);
    CU_ASSERT_EQUAL(check(k, make_es(HDR_ES, GOOD, pk)), JWT_ALG_REFUSED);
    jwt_keys_free(k);

    CU_ASSERT_EQUAL(jwt_keys_load(NULL, pem_path, &k, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(check(k, make_es(HDR_ES, GOOD, pk)), JWT_OK);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, GOOD)), JWT_ALG_REFUSED);
    jwt_keys_free(k);

    CU_ASSERT_EQUAL(jwt_keys_load(hs_path, pem_path, &k, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(check(k, make_es(HDR_ES, GOOD, pk)), JWT_OK);
    CU_ASSERT_EQUAL(check(k, make_hs(HDR_HS, GOOD)), JWT_OK);
    jwt_keys_free(k);
    k = NULL;

    CU_ASSERT_EQUAL(jwt_keys_load(NULL, NULL, &k, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "none configured"));
    unit_tmp_teardown();
    EVP_PKEY_free(pk);
}

static void test_keys_load_refusals(void)
{
    EVP_PKEY *pk = p256();
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    struct jwt_keys *k = NULL;
    char pem[2048], good_pem[256], target[256];
    const char *p;

    CU_ASSERT_PTR_NOT_NULL_FATAL(p384);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ed);
    tmp_setup();
    snprintf(good_pem, sizeof(good_pem), "%s",
             unit_write_file("good.pem", pem_of(pk, 0, pem, sizeof(pem)), 0644));

    /* HS256 secret: mode, length, symlink, and a bad file spoils a good one. */
    p = unit_write_file("open", HS_KEY, 0644);
    CU_ASSERT_EQUAL(jwt_keys_load(p, good_pem, &k, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NULL(k);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "jwt hs256 secret "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "mode 0644 is too open"));
    p = unit_write_file("short", "0123456789abcdef0123456789abcde \n", 0600);
    CU_ASSERT_EQUAL(jwt_keys_load(p, NULL, &k, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "31 bytes after trimming"));
    CU_ASSERT_PTR_NULL(strstr(err, "0123456789"));
    snprintf(target, sizeof(target), "%s", unit_tmp_path("short"));
    CU_ASSERT_EQUAL_FATAL(symlink(target, unit_tmp_path("hs-link")), 0);
    CU_ASSERT_EQUAL(jwt_keys_load(unit_tmp_path("hs-link"), NULL, &k, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "symbolic link"));
    CU_ASSERT_EQUAL(jwt_keys_load(unit_tmp_path("missing"), NULL, &k, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot open"));
    if (geteuid() == 0) {
        p = unit_write_file("foreign", HS_KEY, 0600);
        CU_ASSERT_EQUAL_FATAL(chown(p, NOBODY_UID, NOBODY_UID), 0);
        CU_ASSERT_EQUAL(jwt_keys_load(p, NULL, &k, err, sizeof(err)), -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "owned by user nobody (uid 65534)"));
    }

    /* ES256 public key: curve, type, private key, garbage, world-writable. */
    p = unit_write_file("p384.pem", pem_of(p384, 0, pem, sizeof(pem)), 0644);
    CU_ASSERT_EQUAL(jwt_keys_load(NULL, p, &k, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "P-256"));
    p = unit_write_file("ed.pem", pem_of(ed, 0, pem, sizeof(pem)), 0644);
    CU_ASSERT_EQUAL(jwt_keys_load(NULL, p, &k, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "P-256"));
    p = unit_write_file("priv.pem", pem_of(pk, 1, pem, sizeof(pem)), 0600);
    CU_ASSERT_EQUAL(jwt_keys_load(NULL, p, &k, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "PUBLIC KEY"));
    p = unit_write_file("junk.pem", "not a key\n", 0644);
    CU_ASSERT_EQUAL(jwt_keys_load(NULL, p, &k, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "PUBLIC KEY"));
    p = unit_write_file("ww.pem", pem_of(pk, 0, pem, sizeof(pem)), 0666);
    CU_ASSERT_EQUAL(jwt_keys_load(NULL, p, &k, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "chmod o-w"));
    CU_ASSERT_EQUAL(jwt_keys_load(NULL, unit_tmpdir, &k, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a regular file"));
    {
        static char big[JWT_PEM_FILE_MAX + 2];

        memset(big, '-', sizeof(big) - 1);
        p = unit_write_file("big.pem", big, 0644);
        CU_ASSERT_EQUAL(jwt_keys_load(NULL, p, &k, err, sizeof(err)), -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "byte limit"));
    }
    CU_ASSERT_PTR_NULL(k);
    unit_tmp_teardown();
    EVP_PKEY_free(pk);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(ed);
}

static void test_strerror(void)
{
    jwt_status st;

    for (st = JWT_OK; st <= JWT_NOMEM; st++)
        CU_ASSERT(strlen(jwt_strerror(st)) > 1);
    CU_ASSERT_PTR_NOT_NULL(jwt_strerror((jwt_status)99));
}

int unit_register(void)
{
    static const struct unit_test accept_tests[] = {
        { "a valid HS256 token is accepted with its sub", test_valid_hs256_accepted },
        { "a valid ES256 token is accepted with its sub", test_valid_es256_accepted },
        { "both key types at once", test_both_key_types_configured },
        { "RFC 7515 A.1 HS256 example verifies", test_rfc7515_a1_vector },
        { NULL, NULL },
    };
    static const struct unit_test claim_tests[] = {
        { "expired tokens are refused, leeway applies", test_expired_refused },
        { "missing or non-numeric exp is malformed", test_missing_or_non_numeric_exp_malformed },
        { "nbf or iat in the future is not yet valid", test_not_yet_valid_refused },
        { "aud: string or array must hold ours", test_audience_checked },
        { "iss must equal ours", test_issuer_checked },
        { "sub is required, printable and bounded", test_subject_required },
        { NULL, NULL },
    };
    static const struct unit_test sig_tests[] = {
        { "a tampered payload is refused", test_tampered_payload_refused },
        { "a tampered signature is refused", test_tampered_signature_refused },
        { "a signature from another key is refused", test_signature_from_another_key_refused },
        { "a second spelling of a signature is refused",
          test_non_canonical_signature_encoding_refused },
        { "ES256 takes exactly 64 raw bytes, not DER", test_es256_signature_shape },
        { "alg none is refused", test_alg_none_refused },
        { "HS256 keyed with the public key is refused", test_alg_confusion_refused },
        { "other and miscased algs are refused", test_other_algs_refused },
        { "a crit header is refused", test_crit_header_refused },
        { NULL, NULL },
    };
    static const struct unit_test shape_tests[] = {
        { "parts, padding and alphabet", test_token_shape_refused },
        { "at most JWT_TOKEN_MAX bytes", test_token_length_limit },
        { "header and payload are strict JSON objects",
          test_header_and_payload_must_be_strict_objects },
        { "argument checks", test_argument_checks },
        { "Authorization: Bearer parsing", test_bearer_scheme },
        { "every status has a message", test_strerror },
        { NULL, NULL },
    };
    static const struct unit_test key_tests[] = {
        { "in-memory keys: lengths and curves", test_keys_from_memory_rules },
        { "keys load from files", test_keys_load_from_files },
        { "bad key files are refused with the fix", test_keys_load_refusals },
        { NULL, NULL },
    };

    if (unit_add_suite("jwt accept", accept_tests) != 0 ||
        unit_add_suite("jwt claims", claim_tests) != 0 ||
        unit_add_suite("jwt signatures", sig_tests) != 0 ||
        unit_add_suite("jwt shape", shape_tests) != 0)
        return -1;
    return unit_add_suite("jwt keys", key_tests);
}
