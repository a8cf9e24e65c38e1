/* Client tokens: JWT in JWS compact form, HS256 or ES256 only.
 *
 * Keys are typed: an HS256 secret only ever verifies HS256 tokens and an
 * ES256 public key only ES256 tokens, so a token cannot pick how it is
 * checked (no "none", no HMAC keyed with the public key's bytes).
 *
 *   HS256 secret file: read with file_read under FILE_SECRET (0600, owned
 *     by us, no symlink); its content with trailing whitespace trimmed is the key,
 *     JWT_HS_SECRET_MIN..JWT_HS_SECRET_MAX bytes.
 *   ES256 public key file: a PEM "PUBLIC KEY" (SubjectPublicKeyInfo) for an
 *     EC key on P-256 (prime256v1); other types and curves are refused. It
 *     need not be secret, but it must be a regular file of at most
 *     JWT_PEM_FILE_MAX bytes that other users cannot write.
 */
#ifndef SHAREKEEP_AUTH_JWT_H
#define SHAREKEEP_AUTH_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include <time.h>

#include <openssl/evp.h>


typedef enum {
    JWT_OK = 0,
    JWT_MISSING,          /* no token / no Bearer credential */
    JWT_MALFORMED,        /* not a well-formed JWS/JWT, or exp missing/not a number */
    JWT_ALG_REFUSED,      /* alg not HS256/ES256, or no key of that type configured */
    JWT_BAD_SIGNATURE,
    JWT_EXPIRED,
    JWT_NOT_YET_VALID,    /* nbf in the future, or iat in the future */
    JWT_BAD_AUDIENCE,
    JWT_BAD_ISSUER,
    JWT_NO_SUBJECT,       /* sub missing, empty, not a string, unprintable, too long */
    JWT_NOMEM,
} jwt_status;

struct jwt_keys;

struct jwt_expect {
    const char *audience;   /* NULL = not checked */
    const char *issuer;     /* NULL = not checked */
    long leeway_seconds;    /* clock skew allowed on exp/nbf/iat; < 0 counts as 0 */
    time_t now;
};

/* Loads the configured keys; at least one path must be non-NULL. On failure
 * err gets one line naming the file and the fix, never key bytes. */
int jwt_keys_load(const char *hs256_secret_path, const char *es256_pubkey_pem_path,
                  struct jwt_keys **out, char *err, size_t errlen);

/* For tests and embedding: hs_secret (hs_len bytes, copied; NULL for none)
 * and es_pub (NULL for none; up-ref'd, so the caller keeps its reference).
 * Same rules as jwt_keys_load. Returns 0, or -1 (nothing given, secret
 * length out of range, key not P-256, out of memory). */
int jwt_keys_from_memory(const uint8_t *hs_secret, size_t hs_len, EVP_PKEY *es_pub,
                         struct jwt_keys **out);

/* Cleanses and frees; NULL is fine. */
void jwt_keys_free(struct jwt_keys *k);

/* Extracts the token from an Authorization header value: "Bearer" (any case)
 * then one or more spaces then the token, which must be non-empty and hold
 * no whitespace. NULL, "" or another scheme -> JWT_MISSING; "Bearer" with no
 * or a broken token -> JWT_MALFORMED. *token points into header_value. */
jwt_status jwt_from_authorization(const char *header_value, const char **token);

/* Verifies token and, on JWT_OK only, copies its "sub" into sub (NUL
 * terminated; sub is "" on any other result). NULL or "" -> JWT_MISSING.
 * The checks, in order, each with the status it fails with:
 *   shape      three base64url parts, no padding, at most JWT_TOKEN_MAX
 *              bytes (JWT_MALFORMED)
 *   header     a strict JSON object without duplicate keys (JWT_MALFORMED);
 *              "alg" exactly "HS256" or "ES256" with a key of that type
 *              configured (JWT_ALG_REFUSED); no "crit" (JWT_MALFORMED)
 *   signature  HS256: 32-byte HMAC-SHA256; ES256: 64-byte R||S as in
 *              RFC 7518 3.4, DER refused (JWT_BAD_SIGNATURE)
 *   payload    only now: a strict JSON object without duplicate keys
 *              (JWT_MALFORMED)
 *   exp        required, a number (JWT_MALFORMED); now <= exp + leeway
 *              (JWT_EXPIRED)
 *   nbf, iat   if present, numbers (JWT_MALFORMED); nbf <= now + leeway and
 *              iat <= now + leeway (JWT_NOT_YET_VALID)
 *   iss        when e->issuer is set: equal (JWT_BAD_ISSUER)
 *   aud        when e->audience is set: equal, or an array holding it
 *              (JWT_BAD_AUDIENCE)
 *   sub        a non-empty string of at most sub_cap - 1 bytes without
 *              control characters (JWT_NO_SUBJECT)
 * k, e, sub must be non-NULL and sub_cap non-zero, else JWT_MALFORMED. */
jwt_status jwt_verify(const struct jwt_keys *k, const char *token, const struct jwt_expect *e,
                      char *sub, size_t sub_cap);

const char *jwt_strerror(jwt_status st);

#endif
