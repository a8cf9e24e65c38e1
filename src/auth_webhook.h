/* Webhook authentication: Standard Webhooks signatures
 * (https://www.standardwebhooks.com, symmetric "v1" scheme) or a plain shared
 * secret sent in a header.
 *
 * Secrets file (text; one secret per line; blank lines and lines whose first
 * non-blank character is '#' are ignored; leading/trailing blanks trimmed;
 * several secrets may be listed at once so that a rotation has no downtime):
 *
 *   WEBHOOK_STANDARD  each line is "whsec_<base64>" or bare "<base64>" (the
 *                     reference libraries accept both). Standard alphabet,
 *                     '=' padded, canonical; decoding to WEBHOOK_KEY_MIN..
 *                     WEBHOOK_KEY_MAX bytes (the spec: 24 bytes at least,
 *                     512 bits at most). Asymmetric whsk_/whpk_ keys (v1a)
 *                     are refused: not supported.
 *   WEBHOOK_SHARED    each line is the literal secret: printable ASCII,
 *                     WEBHOOK_SHARED_MIN..WEBHOOK_SHARED_MAX bytes.
 *
 * The file itself is read with file_read under FILE_SECRET (0600, owned by
 * us, no symlink). Key bytes are held in OPENSSL_secure_malloc memory where
 * the secure heap is started (plain memory otherwise) and cleansed on free;
 * shared secrets are
 * only kept as SHA-256 digests.
 */
#ifndef SHAREKEEP_AUTH_WEBHOOK_H
#define SHAREKEEP_AUTH_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include <time.h>


enum webhook_mode { WEBHOOK_STANDARD = 1, WEBHOOK_SHARED = 2 };

typedef enum {
    WH_OK = 0,
    WH_MISSING,          /* a required header is absent */
    WH_MALFORMED,        /* a header is present but unusable (see below) */
    WH_STALE,            /* timestamp outside the tolerance, either direction */
    WH_BAD_SIGNATURE,    /* no signature or secret matched */
} wh_status;

struct webhook_secrets;

/* Parses secrets text (len bytes; NUL bytes are refused). On failure err gets
 * one line naming the line number and the problem, never secret bytes. */
int webhook_secrets_parse(const char *text, size_t len, enum webhook_mode mode,
                          struct webhook_secrets **out, char *err, size_t errlen);
/* Reads path with file_read (FILE_SECRET), then parses it; messages start with
 * "webhook secrets <path>". */
int webhook_secrets_load(const char *path, enum webhook_mode mode,
                         struct webhook_secrets **out, char *err, size_t errlen);
/* Cleanses and frees; NULL is fine. */
void webhook_secrets_free(struct webhook_secrets *s);
size_t webhook_secrets_count(const struct webhook_secrets *s);
enum webhook_mode webhook_secrets_mode(const struct webhook_secrets *s);

const char *wh_strerror(wh_status st);

/* Verifies a Standard Webhooks delivery. id, timestamp and signature_header
 * are the webhook-id, webhook-timestamp and webhook-signature header values,
 * NULL when absent (-> WH_MISSING). Checks, in order:
 *   - id: 1..WEBHOOK_ID_MAX bytes of printable ASCII (0x21..0x7e) other than
 *     '.', which the spec forbids because it delimits the signed content;
 *     else WH_MALFORMED.
 *   - timestamp: 1..WEBHOOK_TIMESTAMP_MAX decimal digits, nothing else; else
 *     WH_MALFORMED. |now - timestamp| > tolerance_seconds -> WH_STALE
 *     (a negative tolerance counts as 0).
 *   - signature_header: at most WEBHOOK_SIGNATURE_MAX bytes and
 *     WEBHOOK_SIGNATURES_MAX entries separated by one or more spaces, else
 *     WH_MALFORMED. An entry is "<version>,<signature>": version 1..8
 *     letters or digits, signature non-empty printable ASCII. "v1" entries
 *     must be canonical padded base64 of exactly 32 bytes; well-formed
 *     entries of other versions ("v1a", ...) are ignored.
 *     HMAC-SHA256("<id>.<timestamp>.<body>") under any configured secret
 *     equal to any v1 entry -> WH_OK. If none matches: WH_BAD_SIGNATURE when
 *     the header had at least one well-formed v1 entry or held only
 *     other-version entries; WH_MALFORMED when it had no well-formed v1 entry
 *     and at least one broken one (no comma, empty part, bad base64, a v1 MAC
 *     that is not 32 bytes), or was empty. A broken entry next to a
 *     matching one does not fail the delivery.
 * s must have been parsed in WEBHOOK_STANDARD mode, else WH_BAD_SIGNATURE. */
wh_status webhook_verify_standard(const struct webhook_secrets *s, const char *id,
                                  const char *timestamp, const char *signature_header,
                                  const uint8_t *body, size_t body_len,
                                  time_t now, long tolerance_seconds);

/* Compares header_value with every shared secret in constant time, on
 * SHA-256 digests so neither the secrets' lengths nor the position of a
 * mismatch leak. NULL -> WH_MISSING; longer than WEBHOOK_SHARED_MAX ->
 * WH_MALFORMED; no match (including "") -> WH_BAD_SIGNATURE. s must have been
 * parsed in WEBHOOK_SHARED mode, else WH_BAD_SIGNATURE. */
wh_status webhook_verify_shared(const struct webhook_secrets *s, const char *header_value);

#endif
