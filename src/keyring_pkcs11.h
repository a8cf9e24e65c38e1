/* The PKCS#11 backend of the keyring: KEKs that live in a token (an HSM,
 * SoftHSM2, or any of them reached through p11-kit's client module) and
 * never leave it. Only keyring.c and keyring_file.c use this; everything
 * else sees keyring.h.
 *
 * One struct p11 is one token as configured (module, pkcs11: URI, PIN
 * file). It connects lazily: the first operation in a process loads the
 * module, finds the one token the URI matches, opens a session and logs in
 * (the PIN is read from its file for that login and cleansed right after).
 * A connection belongs to the process that opened it: after fork the child
 * opens its own, and never touches the parent's (PKCS#11 forbids sharing
 * one across fork). A call that finds the token gone, reset or logged out
 * drops the connection and answers KEYRING_ERR_UNAVAILABLE; the next call
 * connects again.
 *
 * KEK id N is the token's secret key object labelled "<prefix>N" (prefix
 * "sharekeep-kek-" unless the URI's object= gives another) with CKA_ID the
 * 4-byte big-endian id. It must be AES, 32 bytes, CKA_SENSITIVE true,
 * CKA_EXTRACTABLE false and allowed to wrap and unwrap; anything else is
 * refused with a message naming the label.
 *
 * Wrap schemes (the byte a record keeps beside its KEK id):
 *   KEYRING_SCHEME_P11_KWP  RFC 5649 computed by the token: C_WrapKey with
 *                           CKM_AES_KEY_WRAP_KWP, or CKM_AES_KEY_WRAP_PAD
 *                           where it computes the same (SoftHSM2's does)
 *   KEYRING_SCHEME_P11_KW   RFC 3394 computed by the token: C_WrapKey with
 *                           CKM_AES_KEY_WRAP, or, where the module carries
 *                           no key-wrap mechanism (p11-kit's client module:
 *                           its RPC drops them), the same algorithm built
 *                           from the token's CKM_AES_ECB, block by block
 * On connecting, a known-answer test with a throwaway session key decides
 * which mechanism computes which RFC: each candidate's output is compared
 * with OpenSSL's EVP_aes_256_wrap_pad / EVP_aes_256_wrap on the same bytes,
 * so a mechanism whose name promises one thing and computes another is
 * never used. New records use RFC 5649 when any mechanism passes, else
 * RFC 3394. Generated KEKs may wrap/unwrap and encrypt/decrypt, so a token
 * keeps working when it is later reached through p11-kit's client.
 *
 * A token that goes away is noticed at once (the request answers 503, the
 * next connects again). One that stops answering without closing its
 * connection would block the caller in the module forever (PKCS#11 has no
 * timeout), so during a request the module is called from a thread of its
 * own and the request waits only until its deadline (p11_set_deadline;
 * "bounded waits" in keyring_pkcs11.c).
 */
#ifndef SHAREKEEP_KEYRING_PKCS11_H
#define SHAREKEEP_KEYRING_PKCS11_H

#include <stddef.h>
#include <stdint.h>

#include "keyring.h"

struct p11;

/* Checks the settings (the URI parses, names a token, carries no PIN; the
 * PIN file passes the secret-file checks) without connecting. */
keyring_status p11_new(const struct keyring_token_config *tc, struct p11 **out, char *err,
                       size_t errlen);
/* Disconnects (if this process connected) and frees; NULL is fine. */
void p11_free(struct p11 *p);

/* Connects now if not connected in this process. read_write asks for a
 * read-write session (generating keys); otherwise a read-only one does. */
keyring_status p11_connect(struct p11 *p, int read_write, char *err, size_t errlen);
/* Logs out, closes and unloads the module, so that a fork that follows
 * shares nothing with the token. */
void p11_disconnect(struct p11 *p);

/* Checks that KEK id exists in the token with the attributes above. */
keyring_status p11_check_key(struct p11 *p, uint32_t id, char *err, size_t errlen);

/* Wraps a DATA_KEY_LEN data key with KEK id; *scheme receives the scheme
 * used, wrapped WRAPPED_KEY_LEN bytes. */
keyring_status p11_wrap(struct p11 *p, uint32_t id, const uint8_t *data_key, uint8_t *scheme,
                        uint8_t *wrapped);
/* Unwraps WRAPPED_KEY_LEN bytes wrapped under scheme with KEK id. A wrapped
 * key that fails the token's integrity check is KEYRING_ERR_CRYPTO. */
keyring_status p11_unwrap(struct p11 *p, uint32_t id, uint8_t scheme, const uint8_t *wrapped,
                          uint8_t *data_key);

/* Generates KEK id inside the token (C_GenerateKey, CKM_AES_KEY_GEN) with
 * the attributes above; refuses if a key with its label exists. */
keyring_status p11_generate(struct p11 *p, uint32_t id, char *err, size_t errlen);
/* Destroys KEK id: only to undo a p11_generate whose key file write failed. */
keyring_status p11_destroy(struct p11 *p, uint32_t id);

/* The deadline (CLOCK_MONOTONIC ms; 0 = none) of the wraps and unwraps
 * that follow: a token that has not answered by then is given up on, the
 * call answers KEYRING_ERR_UNAVAILABLE, and p11_wedged turns true for good
 * (the process should be replaced once it has answered). */
void p11_set_deadline(struct p11 *p, long long deadline_ms);
int p11_wedged(const struct p11 *p);
/* p11_connect (read-only) within the deadline, logging why when it fails. */
keyring_status p11_connect_bounded(struct p11 *p);

/* 32 bytes that only this token's KEK id can produce, the same on every
 * call: SHA-256 of KEK id's wrap of a fixed label. For the log tag key. */
keyring_status p11_derive_tag(struct p11 *p, uint32_t id, uint8_t out[32]);

#endif
