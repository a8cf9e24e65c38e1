/* Envelope encryption of one share. The record layout is documented byte by
 * byte in doc/record-format.md and at the top of seal.c. */
#ifndef SHAREKEEP_SEAL_H
#define SHAREKEEP_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "keyring.h"

enum share_kind { SHARE_KIND_CUSTODIAN = 1, SHARE_KIND_CLIENT = 2 };

/* A record is exactly this many bytes longer than the share it seals. */
#define SEAL_OVERHEAD 148u
/* Its first SEAL_ENVELOPE_LEN bytes are the envelope (everything up to the
 * ciphertext: the only bytes a rewrap changes); the rest is the payload,
 * ciphertext and tag. The database keeps the two in separate columns. */
#define SEAL_ENVELOPE_LEN 132u

/* The identity of a legacy share: what Portal sends without a backupMethod,
 * and what every record of format version 1 is. */
#define SEAL_METHOD_UNKNOWN "UNKNOWN"

/* What a record is bound to through associated data: opening it under any
 * other owner, kind, backupMethod, pair id or version fails. A format 1
 * record binds no method or pair id, so it opens only under the legacy
 * identity (SEAL_METHOD_UNKNOWN, no pair id): one moved to another identity
 * in the database does not open. */
struct seal_context {
    const char *client_id;
    size_t client_id_len;
    enum share_kind kind;
    uint32_t version;
    const char *backup_method;       /* 1..BACKUP_METHOD_MAX printable ASCII */
    size_t backup_method_len;
    const char *pair_id;             /* 0..PAIR_ID_MAX printable ASCII; may be NULL if 0 */
    size_t pair_id_len;
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
    SEAL_ERR_UNAVAILABLE, /* the token that holds the KEK cannot be used now: retry (503) */
} seal_status;

/* Seals share (always in the newest format) under a fresh data key wrapped
 * by the active KEK. ctx must name a client id of 1..CLIENT_ID_MAX bytes, a
 * known kind and a valid method and pair id, and share_len be at most
 * SHARE_MAX, else SEAL_ERR_ARG.
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

/* seal_rewrap on the envelope alone (SEAL_ENVELOPE_LEN bytes, the
 * record's first): *out is the new envelope, of the same length. What
 * rewrap reads from the database, without the ciphertext. */
seal_status seal_rewrap_envelope(const struct keyring *kr, const uint8_t *envelope,
                                 size_t envelope_len, uint8_t *out);

/* Reads the KEK id from a record header without any key. */
seal_status seal_record_kek(const uint8_t *record, size_t record_len, uint32_t *kek_id);

/* The record's wrap scheme (KEYRING_SCHEME_*), without any key. */
seal_status seal_record_scheme(const uint8_t *record, size_t record_len, unsigned *scheme);

/* The record's format version (1 or 2), without any key. */
seal_status seal_record_format(const uint8_t *record, size_t record_len, unsigned *format);

/* Printable ASCII (0x20..0x7E) of 1..BACKUP_METHOD_MAX / 0..PAIR_ID_MAX
 * bytes: what a backupMethod and a pair id may be, here and in the
 * database's CHECK constraints. */
int seal_method_valid(const char *s, size_t len);
int seal_pair_id_valid(const char *s, size_t len);

/* Cleanses len bytes, then frees. NULL is fine. */
void seal_buf_free(uint8_t *buf, size_t len);

const char *seal_strerror(seal_status st);

#endif
