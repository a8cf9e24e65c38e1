/* Key-encryption keys (KEKs): load from a key file, wrap/unwrap data keys.
 *
 * Key file format (text, one directive per line, '#' starts a comment):
 *
 *     kek <id> <state> <base64 of 32 key bytes>
 *
 * id is a decimal integer in [1, 2^32-1]; state is one of
 *     active   - used to seal new records (exactly one key must be active)
 *     decrypt  - may unwrap existing records, never used to seal
 *     retired  - kept for the record only; unwrapping with it is refused
 *
 * The file must be a regular file (not a symlink) owned by the effective uid
 * of the process with no group/other permission bits (0600, 0400, 0700).
 * Key bytes are held in OPENSSL_secure_malloc memory once secure_heap_start
 * has run (a 32 KiB secure heap, room for 1024 keys across all live keyrings;
 * past that, or without it, ordinary memory that is still cleansed on free).
 *
 * keyring.c holds the keys in memory; keyring_file.c reads and writes the
 * key file (keyring_load, keyring_file_*).
 *
 * The keyring_file_* edits hold an exclusive lock on "<path>.lock" (an
 * empty file beside the key file, kept 0600 like it) for their whole
 * read-modify-write, so concurrent keygen / rotate / retire runs take turns
 * instead of losing each other's KEKs. Each waits at most
 * KEYRING_LOCK_WAIT_MS (bounds.h), then fails naming the lock file.
 * keyring_load takes no lock: the key file is only ever replaced by rename.
 */
#ifndef SHAREKEEP_KEYRING_H
#define SHAREKEEP_KEYRING_H

#include <stddef.h>
#include <stdint.h>

#define KEK_LEN          32u   /* AES-256 */
#define DATA_KEY_LEN     32u
#define WRAPPED_KEY_LEN  40u   /* AES-256-KWP (RFC 5649) or -KW (RFC 3394) of a 32-byte key */

/* How a record's data key was wrapped: the byte a record keeps beside its
 * KEK id (doc/record-format.md), so that records of both backends live side
 * by side and rewrap can move one from a backend to the other. */
#define KEYRING_SCHEME_FILE_KWP  0u  /* RFC 5649, by sharekeep with a key file KEK */
#define KEYRING_SCHEME_P11_KWP   1u  /* RFC 5649, by a PKCS#11 token */
#define KEYRING_SCHEME_P11_KW    2u  /* RFC 3394, by a PKCS#11 token without RFC 5649 */

typedef enum {
    KEYRING_OK = 0,
    KEYRING_ERR_ARG,
    KEYRING_ERR_IO,          /* cannot open/read/write the file */
    KEYRING_ERR_PERM,        /* wrong owner or mode */
    KEYRING_ERR_PARSE,       /* malformed line, bad base64, bad length, duplicate id */
    KEYRING_ERR_NO_ACTIVE,   /* zero or several active keys */
    KEYRING_ERR_UNKNOWN_KEK,
    KEYRING_ERR_RETIRED_KEK,
    KEYRING_ERR_CRYPTO,      /* wrap failed, or unwrap integrity check failed */
    KEYRING_ERR_NOMEM,
    KEYRING_ERR_TOKEN,       /* PKCS#11: settings, login or a key the token refuses (err says) */
    KEYRING_ERR_UNAVAILABLE, /* PKCS#11: the token cannot be reached now; retry later */
} keyring_status;

enum kek_state { KEK_ACTIVE = 1, KEK_DECRYPT = 2, KEK_RETIRED = 3 };

/* Where a KEK lives: its bytes in the key file, or only inside a PKCS#11
 * token (the key file then lists its id and state, 'kek <id> <state>
 * pkcs11', and the token holds the key; keyring_pkcs11.h). */
enum kek_backend { KEK_BACKEND_FILE = 1, KEK_BACKEND_PKCS11 = 2 };

/* The token settings (config keys pkcs11_module, pkcs11_uri,
 * pkcs11_pin_file). A NULL config, or one with an empty uri, means no
 * token: a key file that lists a token KEK then does not load. */
struct keyring_token_config {
    const char *module;
    const char *uri;
    const char *pin_file;
};

struct keyring;

/* Starts OpenSSL's secure heap (32 KiB, mlocked, guarded) that keys, webhook
 * secrets and the JWT HMAC key are copied into. main calls it once, first
 * thing, before anything loads a key; repeating it is harmless. Returns 1
 * when the secure heap is in use, 0 when it could not be set up (keys then
 * live in ordinary memory, still cleansed on free). */
int secure_heap_start(void);

/* A copy of len bytes of a secret in the secure heap, or in ordinary memory
 * when the heap is not started or full; release with
 * OPENSSL_secure_clear_free, which cleanses and frees either kind. NULL
 * when out of memory. */
uint8_t *secure_dup(const uint8_t *p, size_t len);

/* Empty keyring, for building in memory (tests, keygen). */
keyring_status keyring_new(struct keyring **out);
/* Adds a copy of key (KEK_LEN bytes). Does not check the single-active rule;
 * keyring_validate does. */
keyring_status keyring_add(struct keyring *kr, uint32_t id, enum kek_state state,
                           const uint8_t *key, size_t key_len);
keyring_status keyring_validate(const struct keyring *kr);

/* Loads and validates a key file. On failure, err (if non-NULL) receives a
 * one-line human message naming the file and the problem, never key bytes. */
keyring_status keyring_load(const char *path, struct keyring **out, char *err, size_t errlen);

/* keyring_load with the token settings: every token KEK the file lists is
 * found in the token and checked (AES-256, sensitive, not extractable, may
 * wrap); the token is then disconnected again, so a fork that follows
 * shares nothing with it and each process connects on first use. */
keyring_status keyring_load_with(const char *path, const struct keyring_token_config *tc,
                                 struct keyring **out, char *err, size_t errlen);

/* Connects this process to the token now (a worker after fork), so the
 * first request does not pay for the login, waiting at most until
 * deadline_ms (keyring_set_deadline); a keyring without a token, or a token
 * that is down (requests then answer 503 until it is back), is not an error
 * here. */
void keyring_connect(struct keyring *kr, long long deadline_ms);

/* The deadline (CLOCK_MONOTONIC ms, as store_now_ms; 0 = none) of the
 * token operations that follow; a no-op without a token. A token that has
 * not answered by then is given up on (KEYRING_ERR_UNAVAILABLE), and
 * keyring_wedged turns true: that process must be replaced once it has
 * answered, because the module may still be stuck in its own thread. */
void keyring_set_deadline(const struct keyring *kr, long long deadline_ms);
int keyring_wedged(const struct keyring *kr);

/* KEYRING_OK when every KEK can be used now: always with a key file; with
 * a token, once this process is connected to it (connecting now, within
 * the deadline, if it is not). For /healthz. */
keyring_status keyring_ready(const struct keyring *kr);

/* Cleanses and frees; NULL is fine. */
void keyring_free(struct keyring *kr);

/* 0 unless exactly one key is active. */
uint32_t keyring_active_id(const struct keyring *kr);
size_t keyring_count(const struct keyring *kr);

/* Wraps a DATA_KEY_LEN data key with the active KEK: AES-256-KWP for a
 * file KEK, the token's wrap for a token KEK; *scheme says which
 * (KEYRING_SCHEME_*). wrapped must have room for WRAPPED_KEY_LEN bytes.
 * KEYRING_ERR_UNAVAILABLE when the token cannot be reached. */
keyring_status keyring_wrap(const struct keyring *kr, const uint8_t *data_key,
                            uint32_t *kek_id, uint8_t *scheme, uint8_t *wrapped);

/* Unwraps with KEK kek_id under scheme into data_key (DATA_KEY_LEN bytes).
 * Refuses unknown and retired KEKs, and any wrapped_len other than
 * WRAPPED_KEY_LEN (KEYRING_ERR_ARG); a scheme that is not the KEK's
 * backend's fails like a damaged wrap (KEYRING_ERR_CRYPTO). */
keyring_status keyring_unwrap(const struct keyring *kr, uint32_t kek_id, uint8_t scheme,
                              const uint8_t *wrapped, size_t wrapped_len,
                              uint8_t *data_key);

/* Writes a new key file at path (O_EXCL, mode 0600) holding one fresh random
 * active KEK with id 1. Refuses to overwrite an existing file. */
keyring_status keyring_file_create(const char *path, char *err, size_t errlen);

/* Adds a fresh random KEK with the next id to the key file; with
 * make_active it becomes the active key and the previous active one is kept
 * for decryption. The file is replaced atomically and durably. */
keyring_status keyring_file_add(const char *path, int make_active, uint32_t *new_id, char *err,
                                size_t errlen);

/* keyring_file_add for a KEK generated inside the token tc names (with
 * tc NULL, a file KEK): the token makes the key, the file gets its
 * 'kek <id> <state> pkcs11' line. With create, the key file must not exist
 * yet and gets that one KEK (keygen). A key file that cannot be written
 * leaves no new key in the token. */
keyring_status keyring_file_add_key(const char *path, const struct keyring_token_config *tc,
                                    int create, int make_active, uint32_t *new_id, char *err,
                                    size_t errlen);

/* Marks KEK id retired in the key file (the active KEK cannot be). Callers
 * check first that no record still uses it. */
keyring_status keyring_file_retire(const char *path, uint32_t id, char *err, size_t errlen);

/* The i-th key's id and state (i < keyring_count), for listings. */
keyring_status keyring_key_info(const struct keyring *kr, size_t i, uint32_t *id,
                                enum kek_state *state);
/* Where the i-th key lives (i < keyring_count); 0 past the end. */
enum kek_backend keyring_key_backend(const struct keyring *kr, size_t i);
/* The state of KEK id, or KEYRING_ERR_UNKNOWN_KEK. */
keyring_status keyring_state(const struct keyring *kr, uint32_t id, enum kek_state *state);

/* A 32-byte key for tagging client ids in logs, derived from the KEK with
 * the lowest id (HMAC-SHA256 of a fixed label with a file KEK; a token KEK
 * computes it at load, keyring_pkcs11.h): stable across restarts and
 * rotations while that KEK stays in the file, and useless for anything but
 * recognising a tag. */
keyring_status keyring_log_tag_key(const struct keyring *kr, uint8_t out[32]);

const char *keyring_strerror(keyring_status st);

#endif
