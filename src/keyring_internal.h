/* Between keyring.c (the keys in memory) and keyring_file.c (the key file)
 * only: what the file writer needs beyond keyring.h, and the one test hook
 * of keyring_file.c. Nothing else but tests/unit/test_keyring.c includes
 * this. */
#ifndef SHAREKEEP_KEYRING_INTERNAL_H
#define SHAREKEEP_KEYRING_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "keyring.h"

/* The i-th key's KEK_LEN bytes (i < keyring_count), to render the file;
 * NULL past the end. */
const uint8_t *keyring_key_bytes(const struct keyring *kr, size_t i);

/* Sets the state of KEK id: KEYRING_ERR_UNKNOWN_KEK if there is none,
 * KEYRING_ERR_ARG for a bad state. Does not check the single-active rule;
 * keyring_validate does. */
keyring_status keyring_set_state(struct keyring *kr, uint32_t id, enum kek_state state);

/* keyring_file_add waiting at most lock_wait_ms (not KEYRING_LOCK_WAIT_MS)
 * for the key file's lock, so that a test sees the timeout in a fraction of
 * a second. */
keyring_status keyring_file_add_wait(const char *path, int make_active, unsigned lock_wait_ms,
                                     uint32_t *new_id, char *err, size_t errlen);

/* Takes the exclusive lock beside the key file at path, waiting at most
 * wait_ms; *fd holds it until keyring_lock_release. KEYRING_ERR_IO (with
 * err naming the lock file) when the wait ran out. */
keyring_status keyring_lock_acquire(const char *path, unsigned wait_ms, int *fd, char *err,
                                    size_t errlen);
void keyring_lock_release(int fd);

struct p11;

/* The keyring's token (owned: freed with the keyring), or NULL. */
void keyring_set_token(struct keyring *kr, struct p11 *token);
struct p11 *keyring_token(const struct keyring *kr);
/* The log tag key a token KEK computed (keyring_log_tag_key returns it). */
keyring_status keyring_set_tag_key(struct keyring *kr, const uint8_t key[32]);

/* Adds KEK id that lives in the keyring's token (no bytes here). */
keyring_status keyring_add_token_key(struct keyring *kr, uint32_t id, enum kek_state state);

/* AES-256 key wrap by OpenSSL: RFC 5649 (padded) or RFC 3394; enc 1 wraps,
 * 0 unwraps. out has room for in_len + 15 bytes when wrapping, in_len when
 * unwrapping. The PKCS#11 known-answer test compares a token with it. */
keyring_status keyring_aes_wrap(int padded, int enc, const uint8_t *kek, const uint8_t *in,
                                size_t in_len, uint8_t *out, size_t *out_len);

/* Parses a key file without touching any token (keyring_file.c's edits
 * rewrite the file; they need its lines, not the token's keys). */
keyring_status keyring_parse_file(const char *path, struct keyring **out, char *err,
                                  size_t errlen);

#endif
