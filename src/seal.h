/* Envelope encryption of one share. The record layout is documented byte by
 * byte in doc/record-format.md and at the top of seal.c. */
#ifndef SHAREKEEP_SEAL_H
#define SHAREKEEP_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "keyring.h"

enum share_kind { SHARE_KIND_CUSTODIAN = 1, SHARE_KIND_CLIENT = 2 };

/* What a record is bound to through associated data: opening it under any
 * other owner, kind or version fails. */
struct seal_context {
    const char *client_id;
    size_t client_id_len;
    enum share_kind kind;
    uint32_t version;
};

typedef enum {
    SEAL_OK = 0,
    SEAL_ERR_ARG,
    SEAL_ERR_FORMAT,     /* truncated, bad magic, lengths do not add up */
    SEAL_ERR_VERSION,    /* unknown format version */
    SEAL_ERR_SUITE,      /* unknown suite id */
    SEAL_ERR_KEK,        /* KEK unknown or retired, or no single active KEK to seal with */
    SEAL_ERR_AUTH,       /* unwrap, commitment or GCM tag check failed */
    SEAL_ERR_CRYPTO,     /* OpenSSL failure while sealing */
    SEAL_ERR_NOMEM,
} seal_status;

/* Seals share under a fresh data key wrapped by the active KEK. ctx must
 * name a client id of 1..CLIENT_ID_MAX bytes and a known kind, and share_len
 * be at most SHARE_MAX, else SEAL_ERR_ARG.
 * *record is malloc'd; release with seal_buf_free. */
seal_status seal_share(const struct keyring *kr, const struct seal_context *ctx,
                       const uint8_t *share, size_t share_len,
                       uint8_t **record, size_t *record_len);

/* Opens a record. *share is malloc'd (one extra NUL byte after share_len for
 * convenience); release with seal_buf_free, which cleanses it. */
seal_status seal_open(const struct keyring *kr, const struct seal_context *ctx,
                      const uint8_t *record, size_t record_len,
                      uint8_t **share, size_t *share_len);

/* Moves the record's data key to the active KEK without touching the share
 * ciphertext (only the KEK id and wrapped key change). It has no context, so
 * it checks only the key wrap's integrity: a record with a damaged payload
 * still rewraps, and `verify` (open with context) is what finds it. */
seal_status seal_rewrap(const struct keyring *kr,
                        const uint8_t *record, size_t record_len,
                        uint8_t **out, size_t *out_len);

/* Reads the KEK id from a record header without any key. */
seal_status seal_record_kek(const uint8_t *record, size_t record_len, uint32_t *kek_id);

/* Cleanses len bytes, then frees. NULL is fine. */
void seal_buf_free(uint8_t *buf, size_t len);

const char *seal_strerror(seal_status st);

#endif
