/* Client tokens: JWS compact JWTs signed with HS256 or ES256. The accepted
 * shapes and the order of the checks are in auth_jwt.h.
 *
 * The signature is checked before anything in the payload is looked at, and
 * the algorithm is chosen by which key types are configured, never by the
 * token alone: an "alg" with no key of its type is refused outright.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "auth_jwt.h"
#include "auth_jwt_int.h"
#include "bounds.h"
#include "base64.h"
#include "json_strict.h"

#define HS256_SIG_LEN      32u
#define ES256_SIG_LEN      64u   /* R || S, 32 bytes each (RFC 7518 3.4) */
#define ES256_COORD_LEN    32u


enum jwt_alg { ALG_HS256, ALG_ES256 };

/* ---- token parts ----------------------------------------------------- */

/* Well-formed unpadded base64url ('=' and a length of 1 mod 4 are not). */
static int b64url_ok(const char *p, size_t n)
{
    return base64_decoded_len(p, n, BASE64_URL_UNPADDED, NULL) == 0;
}

/* Decodes a part into a fresh buffer (plus a NUL, for json-c's benefit). */
static jwt_status decode_part(const char *p, size_t n, uint8_t **out, size_t *out_len)
{
    size_t len = 0;
    uint8_t *buf;

    *out = NULL;
    *out_len = 0;
    if (base64_decoded_len(p, n, BASE64_URL_UNPADDED, &len) != 0)
        return JWT_MALFORMED;
    buf = malloc(len + 1);
    if (buf == NULL)
        return JWT_NOMEM;
    /* Refuses non-zero unused bits, and then has written nothing. */
    if (base64_decode(p, n, BASE64_URL_UNPADDED, buf, len, &len) != 0) {
        free(buf);
        return JWT_MALFORMED;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return JWT_OK;
}

static void free_part(uint8_t *buf, size_t len)
{
    if (buf == NULL)
        return;
    OPENSSL_cleanse(buf, len + 1);
    free(buf);
}

/* The header is read before the signature is checked, so both parts are
 * hostile input: json_strict refuses what json-c alone would let through
 * (e.g. {"alg":"HS256","alg":"none"} or single-quoted keys). */
static jwt_status parse_object(const uint8_t *buf, size_t len, struct json_object **out)
{
    const char *why;

    switch (json_strict_parse_object(buf, len, JSON_DEPTH_MAX, out, &why)) {
    case JSON_STRICT_OK:
        return JWT_OK;
    case JSON_STRICT_NOMEM:
        return JWT_NOMEM;
    default:
        return JWT_MALFORMED;
    }
}

static int json_str_eq(struct json_object *v, const char *want)
{
    size_t n = strlen(want);
    int len;

    if (!json_object_is_type(v, json_type_string))
        return 0;
    len = json_object_get_string_len(v);
    return len >= 0 && (size_t)len == n && memcmp(json_object_get_string(v), want, n) == 0;
}

/* ---- signatures ------------------------------------------------------ */

static jwt_status verify_hs256(const struct jwt_keys *k, const char *input, size_t input_len,
                               const uint8_t sig[HS256_SIG_LEN])
{
    uint8_t mac[HS256_SIG_LEN];
    size_t outl = 0;
    jwt_status st = JWT_BAD_SIGNATURE;

    (void)ERR_set_mark();
    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, k->hs, k->hs_len,
                  (const unsigned char *)input, input_len, mac, sizeof(mac), &outl) == NULL ||
        outl != HS256_SIG_LEN)
        goto out;
    if (CRYPTO_memcmp(mac, sig, HS256_SIG_LEN) == 0)
        st = JWT_OK;
out:
    (void)ERR_pop_to_mark();
    OPENSSL_cleanse(mac, sizeof(mac));
    return st;
}

/* JWS carries ECDSA as fixed-width R || S; OpenSSL verifies DER, so the pair
 * is re-encoded. Any R or S (zero, >= n) that is not a valid signature
 * component fails inside EVP_DigestVerify. */
static jwt_status verify_es256(const struct jwt_keys *k, const char *input, size_t input_len,
                               const uint8_t sig[ES256_SIG_LEN])
{
    ECDSA_SIG *esig = NULL;
    BIGNUM *r = NULL, *s = NULL;
    unsigned char *der = NULL;
    EVP_MD_CTX *md = NULL;
    int der_len;
    jwt_status st = JWT_NOMEM;

    (void)ERR_set_mark();
    r = BN_bin2bn(sig, ES256_COORD_LEN, NULL);
    s = BN_bin2bn(sig + ES256_COORD_LEN, ES256_COORD_LEN, NULL);
    esig = ECDSA_SIG_new();
    if (r == NULL || s == NULL || esig == NULL)
        goto out;
    if (ECDSA_SIG_set0(esig, r, s) != 1)
        goto out;
    r = s = NULL;   /* owned by esig now */
    der_len = i2d_ECDSA_SIG(esig, &der);
    if (der_len <= 0)
        goto out;
    md = EVP_MD_CTX_new();
    if (md == NULL)
        goto out;
    st = JWT_BAD_SIGNATURE;
    if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k->es) != 1)
        goto out;
    if (EVP_DigestVerify(md, der, (size_t)der_len, (const unsigned char *)input,
                         input_len) == 1)
        st = JWT_OK;
out:
    (void)ERR_pop_to_mark();
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ECDSA_SIG_free(esig);
    BN_free(r);
    BN_free(s);
    return st;
}

/* ---- claims ---------------------------------------------------------- */

static int64_t sat_add(int64_t a, int64_t b)
{
    /* b >= 0 here: a leeway. */
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* A NumericDate claim as whole seconds: round_up for lower bounds (nbf, iat)
 * and down for exp, which keeps "now > exp" exact for fractional values.
 * Returns 0 if absent, 1 if read, -1 if not a finite number. */
static int claim_time(struct json_object *claims, const char *key, int round_up, int64_t *out)
{
    struct json_object *v = NULL;
    double d;
    int64_t t;

    if (!json_object_object_get_ex(claims, key, &v))
        return 0;
    if (json_object_is_type(v, json_type_int)) {
        *out = json_object_get_int64(v);
        return 1;
    }
    if (!json_object_is_type(v, json_type_double))
        return -1;
    d = json_object_get_double(v);
    if (!isfinite(d))
        return -1;
    if (d >= 9.2e18) {
        *out = INT64_MAX;
        return 1;
    }
    if (d <= -9.2e18) {
        *out = INT64_MIN;
        return 1;
    }
    /* Rounded by hand: floor/ceil would pull in libm for one call each. */
    t = (int64_t)d;
    if (round_up && (double)t < d)
        t++;
    else if (!round_up && (double)t > d)
        t--;
    *out = t;
    return 1;
}

static int audience_ok(struct json_object *claims, const char *want)
{
    struct json_object *v = NULL;
    size_t i, n;

    if (!json_object_object_get_ex(claims, "aud", &v))
        return 0;
    if (json_object_is_type(v, json_type_string))
        return json_str_eq(v, want);
    if (!json_object_is_type(v, json_type_array))
        return 0;
    n = json_object_array_length(v);
    for (i = 0; i < n; i++)
        if (json_str_eq(json_object_array_get_idx(v, i), want))
            return 1;
    return 0;
}

static jwt_status check_claims(struct json_object *claims, const struct jwt_expect *e,
                               char *sub, size_t sub_cap)
{
    struct json_object *v = NULL;
    int64_t now = (int64_t)e->now, leeway = e->leeway_seconds > 0 ? e->leeway_seconds : 0;
    int64_t t = 0;
    const char *s;
    int len, i;

    /* Absent or not a number: we accept no token that never expires. */
    if (claim_time(claims, "exp", 0, &t) != 1)
        return JWT_MALFORMED;
    if (now > sat_add(t, leeway))
        return JWT_EXPIRED;
    switch (claim_time(claims, "nbf", 1, &t)) {
    case -1:
        return JWT_MALFORMED;
    case 1:
        if (sat_add(now, leeway) < t)
            return JWT_NOT_YET_VALID;
        break;
    default:
        break;
    }
    switch (claim_time(claims, "iat", 1, &t)) {
    case -1:
        return JWT_MALFORMED;
    case 1:
        if (t > sat_add(now, leeway))
            return JWT_NOT_YET_VALID;
        break;
    default:
        break;
    }
    if (e->issuer != NULL &&
        (!json_object_object_get_ex(claims, "iss", &v) || !json_str_eq(v, e->issuer)))
        return JWT_BAD_ISSUER;
    if (e->audience != NULL && !audience_ok(claims, e->audience))
        return JWT_BAD_AUDIENCE;
    if (!json_object_object_get_ex(claims, "sub", &v) ||
        !json_object_is_type(v, json_type_string))
        return JWT_NO_SUBJECT;
    len = json_object_get_string_len(v);
    s = json_object_get_string(v);
    if (len <= 0 || (size_t)len >= sub_cap)
        return JWT_NO_SUBJECT;
    /* The subject ends up in logs and SQL parameters as a C string: a NUL
     * would cut it short, other controls would forge log lines. */
    for (i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return JWT_NO_SUBJECT;
    memcpy(sub, s, (size_t)len);
    sub[len] = '\0';
    return JWT_OK;
}

/* ---- verify ---------------------------------------------------------- */

/* The three base64url parts of a compact JWS. */
struct jws_parts {
    const char *header, *payload, *sig;
    size_t header_len, payload_len, sig_len;
    size_t signed_len;           /* header.payload, what the signature covers */
};

/* Splits token into its parts: JWT_MISSING, JWT_MALFORMED or JWT_OK. */
static jwt_status split_token(const char *token, struct jws_parts *p)
{
    const char *dot1, *dot2;
    size_t tlen;

    if (token == NULL || token[0] == '\0')
        return JWT_MISSING;
    tlen = strnlen(token, JWT_TOKEN_MAX + 1);
    if (tlen > JWT_TOKEN_MAX)
        return JWT_MALFORMED;
    dot1 = memchr(token, '.', tlen);
    if (dot1 == NULL)
        return JWT_MALFORMED;
    dot2 = memchr(dot1 + 1, '.', tlen - (size_t)(dot1 + 1 - token));
    if (dot2 == NULL)
        return JWT_MALFORMED;
    p->header = token;
    p->header_len = (size_t)(dot1 - token);
    p->payload = dot1 + 1;
    p->payload_len = (size_t)(dot2 - p->payload);
    p->sig = dot2 + 1;
    p->sig_len = tlen - (size_t)(p->sig - token);
    p->signed_len = (size_t)(dot2 - token);
    /* A third dot fails b64url_ok ('.' is not base64url), and so does '='
     * padding. The signature may be empty here so that "none" tokens are
     * reported as a refused algorithm rather than a shape error. */
    if (p->header_len == 0 || p->payload_len == 0 || !b64url_ok(p->header, p->header_len) ||
        !b64url_ok(p->payload, p->payload_len) || !b64url_ok(p->sig, p->sig_len))
        return JWT_MALFORMED;
    return JWT_OK;
}

/* The header's algorithm, which must be one a configured key verifies (the
 * key's owner decides, never the token), and no "crit" extension. */
static jwt_status header_alg(const struct jwt_keys *k, const struct jws_parts *p,
                             enum jwt_alg *alg)
{
    struct json_object *header = NULL, *v = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    jwt_status st;

    st = decode_part(p->header, p->header_len, &buf, &len);
    if (st != JWT_OK)
        goto out;
    st = parse_object(buf, len, &header);
    if (st != JWT_OK)
        goto out;
    st = JWT_ALG_REFUSED;
    if (!json_object_object_get_ex(header, "alg", &v))
        goto out;
    if (json_str_eq(v, "HS256") && k->hs != NULL)
        *alg = ALG_HS256;
    else if (json_str_eq(v, "ES256") && k->es != NULL)
        *alg = ALG_ES256;
    else
        goto out;
    /* We understand no extension, so RFC 7515 4.1.11 says refuse any. */
    st = json_object_object_get_ex(header, "crit", NULL) ? JWT_MALFORMED : JWT_OK;
out:
    json_object_put(header);
    free_part(buf, len);
    return st;
}

static jwt_status verify_signature(const struct jwt_keys *k, enum jwt_alg alg,
                                   const struct jws_parts *p)
{
    uint8_t sig[ES256_SIG_LEN];
    size_t want = alg == ALG_HS256 ? HS256_SIG_LEN : ES256_SIG_LEN, got = 0;
    jwt_status st = JWT_BAD_SIGNATURE;

    if (base64_decode(p->sig, p->sig_len, BASE64_URL_UNPADDED, sig, want, &got) == 0 &&
        got == want)
        st = alg == ALG_HS256 ? verify_hs256(k, p->header, p->signed_len, sig)
                              : verify_es256(k, p->header, p->signed_len, sig);
    OPENSSL_cleanse(sig, sizeof(sig));
    return st;
}

jwt_status jwt_verify(const struct jwt_keys *k, const char *token, const struct jwt_expect *e,
                      char *sub, size_t sub_cap)
{
    struct json_object *claims = NULL;
    struct jws_parts parts;
    uint8_t *pbuf = NULL;
    size_t plen = 0;
    enum jwt_alg alg = ALG_HS256;
    jwt_status st = JWT_MALFORMED;

    if (sub != NULL && sub_cap > 0)
        sub[0] = '\0';
    if (k == NULL || e == NULL || sub == NULL || sub_cap == 0)
        goto out;
    /* Nothing of the payload is looked at before the signature verifies. */
    if ((st = split_token(token, &parts)) != JWT_OK ||
        (st = header_alg(k, &parts, &alg)) != JWT_OK ||
        (st = verify_signature(k, alg, &parts)) != JWT_OK ||
        (st = decode_part(parts.payload, parts.payload_len, &pbuf, &plen)) != JWT_OK ||
        (st = parse_object(pbuf, plen, &claims)) != JWT_OK)
        goto out;
    st = check_claims(claims, e, sub, sub_cap);
out:
    if (st != JWT_OK && sub != NULL && sub_cap > 0)
        sub[0] = '\0';
    json_object_put(claims);
    free_part(pbuf, plen);
    return st;
}

jwt_status jwt_from_authorization(const char *header_value, const char **token)
{
    static const char scheme[] = "Bearer";
    const size_t slen = sizeof(scheme) - 1;
    const char *p;

    if (token != NULL)
        *token = NULL;
    if (token == NULL || header_value == NULL || header_value[0] == '\0')
        return JWT_MISSING;
    if (strncasecmp(header_value, scheme, slen) != 0)
        return JWT_MISSING;
    p = header_value + slen;
    if (*p != ' ' && *p != '\0')
        return JWT_MISSING;      /* "Bearerx ...": some other scheme */
    while (*p == ' ')
        p++;
    if (*p == '\0')
        return JWT_MALFORMED;
    if (strpbrk(p, " \t\r\n") != NULL)
        return JWT_MALFORMED;
    *token = p;
    return JWT_OK;
}

const char *jwt_strerror(jwt_status st)
{
    switch (st) {
    case JWT_OK:
        return "ok";
    case JWT_MISSING:
        return "no bearer token";
    case JWT_MALFORMED:
        return "token is malformed or lacks exp";
    case JWT_ALG_REFUSED:
        return "token algorithm not accepted";
    case JWT_BAD_SIGNATURE:
        return "token signature does not verify";
    case JWT_EXPIRED:
        return "token has expired";
    case JWT_NOT_YET_VALID:
        return "token is not valid yet";
    case JWT_BAD_AUDIENCE:
        return "token audience does not match";
    case JWT_BAD_ISSUER:
        return "token issuer does not match";
    case JWT_NO_SUBJECT:
        return "token has no usable subject";
    case JWT_NOMEM:
        return "out of memory";
    }
    return "unknown token status";
}
