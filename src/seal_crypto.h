/* What seal.c asks of OpenSSL, in the sizes the record format fixes
 * (doc/record-format.md). Only seal.c includes this. */
#ifndef SHAREKEEP_SEAL_CRYPTO_H
#define SHAREKEEP_SEAL_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include "seal.h"

#define SALT_LEN           32u
#define COMMIT_LEN         32u
#define PAYLOAD_KEY_LEN    32u
#define NONCE_LEN          12u
#define TAG_LEN            16u

#define AAD_LABEL_LEN      16u
#define AAD_MAX            (AAD_LABEL_LEN + 1u + 1u + 2u + CLIENT_ID_MAX + 1u + 4u + \
                            1u + BACKUP_METHOD_MAX + 1u + PAIR_ID_MAX)

#define INFO_PAYLOAD       "sharekeep v1 payload key"
#define INFO_COMMIT        "sharekeep v1 commit key"
#define INFO_LABEL_MAX     32u
#define INFO_MAX           (INFO_LABEL_MAX + AAD_MAX)

/* The payload key and the commitment, from the data key, the record's salt
 * and its AAD context (HKDF-SHA-512 with the two labels). */
seal_status seal_derive_keys(const uint8_t *data_key, const uint8_t *salt,
                             const uint8_t *aad, size_t aad_len,
                             uint8_t *payload_key, uint8_t *commit);

/* AES-256-GCM of pt into ct (pt_len bytes) and tag (TAG_LEN). */
seal_status seal_gcm_encrypt(const uint8_t *key, const uint8_t *nonce,
                             const uint8_t *aad, size_t aad_len,
                             const uint8_t *pt, size_t pt_len,
                             uint8_t *ct, uint8_t *tag);

/* Decrypts into pt (room for ct_len bytes). Any failure after the key is set
 * up, including the tag check, is SEAL_ERR_AUTH; pt is cleansed on failure. */
seal_status seal_gcm_decrypt(const uint8_t *key, const uint8_t *nonce,
                             const uint8_t *aad, size_t aad_len,
                             const uint8_t *ct, size_t ct_len,
                             const uint8_t *tag, uint8_t *pt);

#endif
