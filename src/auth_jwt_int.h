/* What auth_jwt.c (verifying) and auth_jwt_keys.c (loading) share. */
#ifndef SHAREKEEP_AUTH_JWT_INT_H
#define SHAREKEEP_AUTH_JWT_INT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

struct jwt_keys {
    uint8_t *hs;          /* HS256 key, hs_len bytes, secure heap if set up */
    size_t hs_len;
    EVP_PKEY *es;         /* ES256 public key (P-256) */
};

#endif
