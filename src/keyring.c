/* Key-encryption keys in memory: the keyring, its states, wrap/unwrap of
 * data keys with AES-256-KWP (RFC 5649) or by the token that holds the KEK,
 * and the secure heap they live in. The key file (parsing, durable writes)
 * is keyring_file.c; the token is keyring_pkcs11.c.
 *
 * Key bytes live in OPENSSL_secure_malloc memory once secure_heap_start has
 * run, and are cleansed before they are released either way.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "bounds.h"
#include "keyring.h"
#include "keyring_internal.h"
#include "keyring_pkcs11.h"
#include "log.h"

struct kek {
    uint32_t id;
    enum kek_state state;
    enum kek_backend backend;
    uint8_t *key;               /* KEK_LEN bytes, OPENSSL_secure_malloc; NULL in a token */
};

struct keyring {
    struct kek *keys;
    size_t count;
    size_t cap;
    struct p11 *token;          /* NULL: no token configured */
    uint8_t *tag_key;           /* 32 bytes computed by the token at load, or NULL */
};

int secure_heap_start(void)
{
    static int tried;

    if (!tried && !CRYPTO_secure_malloc_initialized()) {
        tried = 1;
        /* On failure OPENSSL_secure_malloc falls back to plain malloc; the
         * keys are still cleansed on free, they just may be swapped out. */
        (void)CRYPTO_secure_malloc_init(SECURE_HEAP_SIZE, SECURE_HEAP_MINSIZE);
    }
    return CRYPTO_secure_malloc_initialized();
}

uint8_t *secure_dup(const uint8_t *p, size_t len)
{
    uint8_t *copy;

    /* A full (or unstarted) secure heap leaves an error on OpenSSL's queue
     * that nothing should see: the fallback is by design. */
    (void)ERR_set_mark();
    copy = OPENSSL_secure_malloc(len);
    if (copy == NULL)
        copy = OPENSSL_malloc(len);
    (void)ERR_pop_to_mark();
    if (copy != NULL)
        memcpy(copy, p, len);
    return copy;
}

static int state_ok(enum kek_state state)
{
    return state == KEK_ACTIVE || state == KEK_DECRYPT || state == KEK_RETIRED;
}

static const struct kek *find_kek(const struct keyring *kr, uint32_t id)
{
    size_t i;

    for (i = 0; i < kr->count; i++)
        if (kr->keys[i].id == id)
            return &kr->keys[i];
    return NULL;
}

static size_t count_active(const struct keyring *kr, const struct kek **active)
{
    size_t i, n = 0;

    *active = NULL;
    for (i = 0; i < kr->count; i++) {
        if (kr->keys[i].state == KEK_ACTIVE) {
            if (n == 0)
                *active = &kr->keys[i];
            n++;
        }
    }
    return n;
}

keyring_status keyring_new(struct keyring **out)
{
    struct keyring *kr;

    if (out == NULL)
        return KEYRING_ERR_ARG;
    *out = NULL;
    kr = calloc(1, sizeof(*kr));
    if (kr == NULL)
        return KEYRING_ERR_NOMEM;
    *out = kr;
    return KEYRING_OK;
}

/* Room for one more key with a new id. */
static keyring_status make_room(struct keyring *kr, uint32_t id, enum kek_state state)
{
    struct kek *grown;
    size_t cap;

    if (kr == NULL || id == 0 || !state_ok(state))
        return KEYRING_ERR_ARG;
    if (find_kek(kr, id) != NULL)
        return KEYRING_ERR_PARSE;
    if (kr->count >= KEYRING_KEYS_MAX)
        return KEYRING_ERR_ARG;
    if (kr->count == kr->cap) {
        cap = kr->cap == 0 ? 4 : kr->cap * 2;
        if (cap > KEYRING_KEYS_MAX)
            cap = KEYRING_KEYS_MAX;
        grown = realloc(kr->keys, cap * sizeof(*grown));
        if (grown == NULL)
            return KEYRING_ERR_NOMEM;
        kr->keys = grown;
        kr->cap = cap;
    }
    return KEYRING_OK;
}

keyring_status keyring_add_token_key(struct keyring *kr, uint32_t id, enum kek_state state)
{
    keyring_status st = make_room(kr, id, state);

    if (st != KEYRING_OK)
        return st;
    kr->keys[kr->count].id = id;
    kr->keys[kr->count].state = state;
    kr->keys[kr->count].backend = KEK_BACKEND_PKCS11;
    kr->keys[kr->count].key = NULL;
    kr->count++;
    return KEYRING_OK;
}

keyring_status keyring_add(struct keyring *kr, uint32_t id, enum kek_state state,
                           const uint8_t *key, size_t key_len)
{
    keyring_status st = KEYRING_ERR_ARG;
    uint8_t *copy = NULL;

    if (key == NULL || key_len != KEK_LEN)
        goto out;
    st = make_room(kr, id, state);
    if (st != KEYRING_OK)
        goto out;
    st = KEYRING_ERR_NOMEM;
    /* A secure heap that was not started, or is full (32 KiB is 1024 keys,
     * shared by every keyring alive, e.g. the old and new one during a
     * reload), falls back to ordinary memory; OPENSSL_secure_clear_free
     * cleanses and frees either kind. */
    (void)ERR_set_mark();
    copy = OPENSSL_secure_malloc(KEK_LEN);
    if (copy == NULL)
        copy = OPENSSL_malloc(KEK_LEN);
    (void)ERR_pop_to_mark();
    if (copy == NULL)
        goto out;
    memcpy(copy, key, KEK_LEN);
    kr->keys[kr->count].id = id;
    kr->keys[kr->count].state = state;
    kr->keys[kr->count].backend = KEK_BACKEND_FILE;
    kr->keys[kr->count].key = copy;
    kr->count++;
    copy = NULL;
    st = KEYRING_OK;
out:
    if (copy != NULL)
        OPENSSL_secure_clear_free(copy, KEK_LEN);
    return st;
}

keyring_status keyring_validate(const struct keyring *kr)
{
    const struct kek *active;

    if (kr == NULL)
        return KEYRING_ERR_ARG;
    return count_active(kr, &active) == 1 ? KEYRING_OK : KEYRING_ERR_NO_ACTIVE;
}

void keyring_free(struct keyring *kr)
{
    size_t i;

    if (kr == NULL)
        return;
    for (i = 0; i < kr->count; i++)
        if (kr->keys[i].key != NULL)
            OPENSSL_secure_clear_free(kr->keys[i].key, KEK_LEN);
    if (kr->tag_key != NULL)
        OPENSSL_secure_clear_free(kr->tag_key, 32);
    p11_free(kr->token);
    free(kr->keys);
    free(kr);
}

uint32_t keyring_active_id(const struct keyring *kr)
{
    const struct kek *active;

    if (kr == NULL || count_active(kr, &active) != 1)
        return 0;
    return active->id;
}

size_t keyring_count(const struct keyring *kr)
{
    return kr == NULL ? 0 : kr->count;
}

/* AES key wrap with and without padding, fetched once per process rather
 * than looked up in the providers on every wrap (see seal_crypto.c). */
static CRYPTO_ONCE wrap_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_CIPHER *alg_wrap, *alg_wrap_pad;

static void fetch_wrap(void)
{
    alg_wrap = EVP_CIPHER_fetch(NULL, "AES-256-WRAP", NULL);
    alg_wrap_pad = EVP_CIPHER_fetch(NULL, "AES-256-WRAP-PAD", NULL);
}

keyring_status keyring_aes_wrap(int padded, int enc, const uint8_t *kek, const uint8_t *in,
                                size_t in_len, uint8_t *out, size_t *out_len)
{
    keyring_status st = KEYRING_ERR_CRYPTO;
    EVP_CIPHER_CTX *cctx = NULL;
    int outl = 0, finl = 0;

    *out_len = 0;
    if (CRYPTO_THREAD_run_once(&wrap_once, fetch_wrap) != 1 ||
        (padded ? alg_wrap_pad : alg_wrap) == NULL)
        goto out;
    cctx = EVP_CIPHER_CTX_new();
    if (cctx == NULL)
        goto out;
    EVP_CIPHER_CTX_set_flags(cctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    if (EVP_CipherInit_ex2(cctx, padded ? alg_wrap_pad : alg_wrap, kek, NULL, enc, NULL) != 1)
        goto out;
    if (EVP_CipherUpdate(cctx, out, &outl, in, (int)in_len) != 1 || outl < 0)
        goto out;
    if (EVP_CipherFinal_ex(cctx, out + outl, &finl) != 1 || finl < 0)
        goto out;
    *out_len = (size_t)outl + (size_t)finl;
    st = KEYRING_OK;
out:
    EVP_CIPHER_CTX_free(cctx);
    return st;
}

keyring_status keyring_wrap(const struct keyring *kr, const uint8_t *data_key,
                            uint32_t *kek_id, uint8_t *scheme, uint8_t *wrapped)
{
    keyring_status st = KEYRING_ERR_ARG;
    const struct kek *active;
    uint8_t buf[DATA_KEY_LEN + 16];
    size_t len = 0;

    if (kr == NULL || data_key == NULL || kek_id == NULL || scheme == NULL || wrapped == NULL)
        goto out;
    *kek_id = 0;
    if (count_active(kr, &active) != 1) {
        st = KEYRING_ERR_NO_ACTIVE;
        goto out;
    }
    if (active->backend == KEK_BACKEND_PKCS11) {
        st = kr->token != NULL ? p11_wrap(kr->token, active->id, data_key, scheme, wrapped)
                               : KEYRING_ERR_UNKNOWN_KEK;
        if (st == KEYRING_OK)
            *kek_id = active->id;
        goto out;
    }
    *scheme = KEYRING_SCHEME_FILE_KWP;
    st = keyring_aes_wrap(1, 1, active->key, data_key, DATA_KEY_LEN, buf, &len);
    if (st != KEYRING_OK)
        goto out;
    if (len != WRAPPED_KEY_LEN) {
        st = KEYRING_ERR_CRYPTO;
        goto out;
    }
    memcpy(wrapped, buf, WRAPPED_KEY_LEN);
    *kek_id = active->id;
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    return st;
}

keyring_status keyring_unwrap(const struct keyring *kr, uint32_t kek_id, uint8_t scheme,
                              const uint8_t *wrapped, size_t wrapped_len,
                              uint8_t *data_key)
{
    keyring_status st = KEYRING_ERR_ARG;
    const struct kek *k;
    uint8_t buf[WRAPPED_KEY_LEN];
    size_t len = 0;

    if (kr == NULL || wrapped == NULL || data_key == NULL || wrapped_len != WRAPPED_KEY_LEN)
        goto out;
    k = find_kek(kr, kek_id);
    if (k == NULL) {
        st = KEYRING_ERR_UNKNOWN_KEK;
        goto out;
    }
    if (k->state == KEK_RETIRED) {
        st = KEYRING_ERR_RETIRED_KEK;
        goto out;
    }
    if (k->backend == KEK_BACKEND_PKCS11) {
        st = kr->token != NULL ? p11_unwrap(kr->token, k->id, scheme, wrapped, data_key)
                               : KEYRING_ERR_UNKNOWN_KEK;
        goto out;
    }
    st = KEYRING_ERR_CRYPTO;
    if (scheme != KEYRING_SCHEME_FILE_KWP)
        goto out;
    st = keyring_aes_wrap(1, 0, k->key, wrapped, WRAPPED_KEY_LEN, buf, &len);
    if (st != KEYRING_OK)
        goto out;
    if (len != DATA_KEY_LEN) {
        st = KEYRING_ERR_CRYPTO;
        goto out;
    }
    memcpy(data_key, buf, DATA_KEY_LEN);
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    return st;
}

/* ---- for keyring_file.c ---------------------------------------------- */

const uint8_t *keyring_key_bytes(const struct keyring *kr, size_t i)
{
    return kr != NULL && i < kr->count ? kr->keys[i].key : NULL;
}

void keyring_set_token(struct keyring *kr, struct p11 *token)
{
    p11_free(kr->token);
    kr->token = token;
}

struct p11 *keyring_token(const struct keyring *kr)
{
    return kr != NULL ? kr->token : NULL;
}

keyring_status keyring_set_tag_key(struct keyring *kr, const uint8_t key[32])
{
    uint8_t *copy = secure_dup(key, 32);

    if (copy == NULL)
        return KEYRING_ERR_NOMEM;
    if (kr->tag_key != NULL)
        OPENSSL_secure_clear_free(kr->tag_key, 32);
    kr->tag_key = copy;
    return KEYRING_OK;
}

void keyring_set_deadline(const struct keyring *kr, long long deadline_ms)
{
    if (kr != NULL && kr->token != NULL)
        p11_set_deadline(kr->token, deadline_ms);
}

keyring_status keyring_ready(const struct keyring *kr)
{
    if (kr == NULL || kr->token == NULL)
        return KEYRING_OK;
    return p11_connect_bounded(kr->token);
}

int keyring_wedged(const struct keyring *kr)
{
    return kr != NULL && p11_wedged(kr->token);
}

void keyring_connect(struct keyring *kr, long long deadline_ms)
{
    if (kr == NULL || kr->token == NULL)
        return;
    p11_set_deadline(kr->token, deadline_ms);
    (void)p11_connect_bounded(kr->token);
}

keyring_status keyring_set_state(struct keyring *kr, uint32_t id, enum kek_state state)
{
    if (kr == NULL || !state_ok(state))
        return KEYRING_ERR_ARG;
    for (size_t i = 0; i < kr->count; i++) {
        if (kr->keys[i].id == id) {
            kr->keys[i].state = state;
            return KEYRING_OK;
        }
    }
    return KEYRING_ERR_UNKNOWN_KEK;
}

/* ---- listings and messages ------------------------------------------- */

keyring_status keyring_log_tag_key(const struct keyring *kr, uint8_t out[32])
{
    static const char label[] = "sharekeep log tag v1";
    unsigned int len = 0;
    size_t lowest = 0;

    if (kr == NULL || kr->count == 0)
        return KEYRING_ERR_ARG;
    if (kr->tag_key != NULL) {
        memcpy(out, kr->tag_key, 32);
        return KEYRING_OK;
    }
    for (size_t i = 1; i < kr->count; i++)
        if (kr->keys[i].id < kr->keys[lowest].id)
            lowest = i;
    if (kr->keys[lowest].key == NULL)
        return KEYRING_ERR_UNKNOWN_KEK;
    if (HMAC(EVP_sha256(), kr->keys[lowest].key, (int)KEK_LEN, (const unsigned char *)label,
             sizeof(label) - 1, out, &len) == NULL || len != 32) {
        OPENSSL_cleanse(out, 32);
        return KEYRING_ERR_CRYPTO;
    }
    return KEYRING_OK;
}

keyring_status keyring_key_info(const struct keyring *kr, size_t i, uint32_t *id,
                                enum kek_state *state)
{
    if (kr == NULL || i >= kr->count)
        return KEYRING_ERR_ARG;
    *id = kr->keys[i].id;
    *state = kr->keys[i].state;
    return KEYRING_OK;
}

enum kek_backend keyring_key_backend(const struct keyring *kr, size_t i)
{
    return kr != NULL && i < kr->count ? kr->keys[i].backend : (enum kek_backend)0;
}

keyring_status keyring_state(const struct keyring *kr, uint32_t id, enum kek_state *state)
{
    const struct kek *k = kr != NULL ? find_kek(kr, id) : NULL;

    if (k == NULL)
        return KEYRING_ERR_UNKNOWN_KEK;
    *state = k->state;
    return KEYRING_OK;
}

const char *keyring_strerror(keyring_status st)
{
    switch (st) {
    case KEYRING_OK:
        return "ok";
    case KEYRING_ERR_ARG:
        return "invalid argument";
    case KEYRING_ERR_IO:
        return "cannot read or write the key file";
    case KEYRING_ERR_PERM:
        return "key file has the wrong type, owner or mode";
    case KEYRING_ERR_PARSE:
        return "malformed key file";
    case KEYRING_ERR_NO_ACTIVE:
        return "key file must have exactly one active key";
    case KEYRING_ERR_UNKNOWN_KEK:
        return "unknown key-encryption key";
    case KEYRING_ERR_RETIRED_KEK:
        return "key-encryption key is retired";
    case KEYRING_ERR_CRYPTO:
        return "key wrap failed or wrapped key is corrupt";
    case KEYRING_ERR_NOMEM:
        return "out of memory";
    case KEYRING_ERR_TOKEN:
        return "the PKCS#11 token refused the settings, the login or the key";
    case KEYRING_ERR_UNAVAILABLE:
        return "the PKCS#11 token cannot be reached";
    }
    return "unknown keyring status";
}
