/* Key-encryption keys: load a key file, wrap/unwrap data keys with
 * AES-256-KWP (RFC 5649), create a first key file.
 *
 * The key file format and the permission rules are in keyring.h. Loading is
 * strict: secretfile_load reads the file (no symlink, regular file, owned by
 * the effective uid, no group/other bits, at most KEYRING_FILE_MAX bytes), and
 * it is parsed line by line. Any malformed line rejects the whole file; error
 * messages name the file and the line but never echo a token that could be
 * key material. Keys must be canonical padded base64 (base64.h).
 *
 * Key bytes live in OPENSSL_secure_malloc memory. The read buffer and every
 * decoded key are cleansed before they are released.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "errbuf.h"
#include "base64.h"
#include "bounds.h"
#include "keyring.h"
#include "secretfile.h"

#define SECURE_HEAP_SIZE    32768
#define SECURE_HEAP_MINSIZE 32
#define KEY_B64_LEN         44u   /* base64 of KEK_LEN bytes, with one '=' */

struct kek {
    uint32_t id;
    enum kek_state state;
    uint8_t *key;               /* KEK_LEN bytes, OPENSSL_secure_malloc */
};

struct keyring {
    struct kek *keys;
    size_t count;
    size_t cap;
};

/* A token inside a line: not NUL-terminated. */
struct token {
    const char *p;
    size_t len;
};

static void secure_heap_init(void)
{
    static int tried;

    if (tried || CRYPTO_secure_malloc_initialized())
        return;
    tried = 1;
    /* On failure OPENSSL_secure_malloc falls back to plain malloc; the keys
     * are still cleansed on free, they just may be swapped out. */
    (void)CRYPTO_secure_malloc_init(SECURE_HEAP_SIZE, SECURE_HEAP_MINSIZE);
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
    secure_heap_init();
    kr = calloc(1, sizeof(*kr));
    if (kr == NULL)
        return KEYRING_ERR_NOMEM;
    *out = kr;
    return KEYRING_OK;
}

keyring_status keyring_add(struct keyring *kr, uint32_t id, enum kek_state state,
                           const uint8_t *key, size_t key_len)
{
    keyring_status st = KEYRING_ERR_ARG;
    struct kek *grown;
    uint8_t *copy = NULL;
    size_t cap;

    if (kr == NULL || key == NULL || key_len != KEK_LEN || id == 0 || !state_ok(state))
        goto out;
    if (find_kek(kr, id) != NULL) {
        st = KEYRING_ERR_PARSE;
        goto out;
    }
    if (kr->count >= KEYRING_KEYS_MAX)
        goto out;
    st = KEYRING_ERR_NOMEM;
    if (kr->count == kr->cap) {
        cap = kr->cap == 0 ? 4 : kr->cap * 2;
        if (cap > KEYRING_KEYS_MAX)
            cap = KEYRING_KEYS_MAX;
        grown = realloc(kr->keys, cap * sizeof(*grown));
        if (grown == NULL)
            goto out;
        kr->keys = grown;
        kr->cap = cap;
    }
    /* A full secure heap (32 KiB is 1024 keys, shared by every keyring alive,
     * e.g. the old and new one during a reload) falls back to ordinary
     * memory; OPENSSL_secure_clear_free cleanses and frees either kind. */
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
        OPENSSL_secure_clear_free(kr->keys[i].key, KEK_LEN);
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

/* AES-256-KWP of in (in_len bytes) into out; *out_len receives the length.
 * out must have room for in_len + 15 bytes when wrapping and in_len bytes
 * when unwrapping. */
static keyring_status kwp(int enc, const uint8_t *kek, const uint8_t *in, size_t in_len,
                          uint8_t *out, size_t *out_len)
{
    keyring_status st = KEYRING_ERR_CRYPTO;
    EVP_CIPHER_CTX *cctx = NULL;
    int outl = 0, finl = 0;

    *out_len = 0;
    cctx = EVP_CIPHER_CTX_new();
    if (cctx == NULL)
        goto out;
    EVP_CIPHER_CTX_set_flags(cctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    if (EVP_CipherInit_ex(cctx, EVP_aes_256_wrap_pad(), NULL, kek, NULL, enc) != 1)
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
                            uint32_t *kek_id, uint8_t *wrapped)
{
    keyring_status st = KEYRING_ERR_ARG;
    const struct kek *active;
    uint8_t buf[DATA_KEY_LEN + 16];
    size_t len = 0;

    if (kr == NULL || data_key == NULL || kek_id == NULL || wrapped == NULL)
        goto out;
    *kek_id = 0;
    if (count_active(kr, &active) != 1) {
        st = KEYRING_ERR_NO_ACTIVE;
        goto out;
    }
    st = kwp(1, active->key, data_key, DATA_KEY_LEN, buf, &len);
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

keyring_status keyring_unwrap(const struct keyring *kr, uint32_t kek_id,
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
    st = kwp(0, k->key, wrapped, WRAPPED_KEY_LEN, buf, &len);
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

/* ---- key file -------------------------------------------------------- */

static int tok_is(const struct token *t, const char *s)
{
    size_t n = strlen(s);

    return t->len == n && memcmp(t->p, s, n) == 0;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Decimal id in [1, 2^32-1], digits only. */
static int parse_id(const struct token *t, uint32_t *id)
{
    uint64_t v = 0;
    size_t i;

    if (t->len == 0 || t->len > 10)
        return 0;
    for (i = 0; i < t->len; i++) {
        if (t->p[i] < '0' || t->p[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(t->p[i] - '0');
    }
    if (v == 0 || v > UINT32_MAX)
        return 0;
    *id = (uint32_t)v;
    return 1;
}

static int parse_state(const struct token *t, enum kek_state *state)
{
    if (tok_is(t, "active"))
        *state = KEK_ACTIVE;
    else if (tok_is(t, "decrypt"))
        *state = KEK_DECRYPT;
    else if (tok_is(t, "retired"))
        *state = KEK_RETIRED;
    else
        return 0;
    return 1;
}

/* Parses one line (without its '\n'). */
static keyring_status parse_line(struct keyring *kr, const char *line, size_t len,
                                 const char *path, unsigned long lineno,
                                 char *err, size_t errlen)
{
    keyring_status st = KEYRING_ERR_PARSE;
    struct token tok[5];
    size_t ntok = 0, i = 0, start;
    const char *hash;
    uint8_t key[KEK_LEN];
    enum kek_state state = KEK_RETIRED;
    uint32_t id = 0;
    size_t klen = 0;

    hash = memchr(line, '#', len);
    if (hash != NULL)
        len = (size_t)(hash - line);
    while (i < len) {
        while (i < len && is_blank(line[i]))
            i++;
        if (i == len)
            break;
        start = i;
        while (i < len && !is_blank(line[i]))
            i++;
        if (ntok == sizeof(tok) / sizeof(tok[0])) {
            ntok++;
            break;
        }
        tok[ntok].p = line + start;
        tok[ntok].len = i - start;
        ntok++;
    }
    if (ntok == 0) {
        st = KEYRING_OK;
        goto out;
    }
    if (!tok_is(&tok[0], "kek")) {
        errbuf_set(err, errlen, "keyring %s line %lu: unknown directive; expected "
                "'kek <id> <state> <base64 key>'", path, lineno);
        goto out;
    }
    if (ntok != 4) {
        errbuf_set(err, errlen, "keyring %s line %lu: expected 'kek <id> <state> <base64 key>'",
                path, lineno);
        goto out;
    }
    if (!parse_id(&tok[1], &id)) {
        errbuf_set(err, errlen, "keyring %s line %lu: kek id must be a decimal number "
                "from 1 to 4294967295", path, lineno);
        goto out;
    }
    if (!parse_state(&tok[2], &state)) {
        errbuf_set(err, errlen, "keyring %s line %lu: kek %lu: state must be active, "
                "decrypt or retired", path, lineno, (unsigned long)id);
        goto out;
    }
    if (base64_decoded_len(tok[3].p, tok[3].len, BASE64_STD_PADDED, &klen) != 0) {
        errbuf_set(err, errlen, "keyring %s line %lu: kek %lu: key is not valid base64",
                path, lineno, (unsigned long)id);
        goto out;
    }
    if (klen != KEK_LEN) {
        errbuf_set(err, errlen, "keyring %s line %lu: kek %lu: key is %zu bytes, expected %u",
                path, lineno, (unsigned long)id, klen, KEK_LEN);
        goto out;
    }
    if (base64_decode(tok[3].p, tok[3].len, BASE64_STD_PADDED, key, sizeof(key), &klen) != 0) {
        errbuf_set(err, errlen, "keyring %s line %lu: kek %lu: key is not canonical base64",
                path, lineno, (unsigned long)id);
        goto out;
    }
    if (find_kek(kr, id) != NULL) {
        errbuf_set(err, errlen, "keyring %s line %lu: duplicate kek id %lu",
                path, lineno, (unsigned long)id);
        goto out;
    }
    if (kr->count >= KEYRING_KEYS_MAX) {
        errbuf_set(err, errlen, "keyring %s line %lu: more than %u keys",
                path, lineno, KEYRING_KEYS_MAX);
        goto out;
    }
    st = keyring_add(kr, id, state, key, KEK_LEN);
    if (st != KEYRING_OK)
        errbuf_set(err, errlen, "keyring %s line %lu: cannot store kek %lu: %s",
                path, lineno, (unsigned long)id, keyring_strerror(st));
out:
    OPENSSL_cleanse(key, sizeof(key));
    return st;
}

/* A file over KEYRING_FILE_MAX is a malformed key file, not an I/O error. */
static keyring_status from_secretfile(secretfile_status st)
{
    switch (st) {
    case SECRETFILE_OK:
        return KEYRING_OK;
    case SECRETFILE_ERR_ARG:
        return KEYRING_ERR_ARG;
    case SECRETFILE_ERR_PERM:
        return KEYRING_ERR_PERM;
    case SECRETFILE_ERR_TOO_BIG:
        return KEYRING_ERR_PARSE;
    case SECRETFILE_ERR_NOMEM:
        return KEYRING_ERR_NOMEM;
    case SECRETFILE_ERR_IO:
        break;
    }
    return KEYRING_ERR_IO;
}

keyring_status keyring_load(const char *path, struct keyring **out, char *err, size_t errlen)
{
    keyring_status st = KEYRING_ERR_ARG;
    struct keyring *kr = NULL;
    const struct kek *active;
    uint8_t *buf = NULL;
    size_t len = 0, pos = 0, line_len, nactive;
    const char *text, *nl;
    unsigned long lineno = 0;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out != NULL)
        *out = NULL;
    if (path == NULL || out == NULL) {
        errbuf_set(err, errlen, "keyring: no path given");
        goto out;
    }
    st = from_secretfile(secretfile_load("keyring", path, KEYRING_FILE_MAX, &buf, &len,
                                         err, errlen));
    if (st != KEYRING_OK)
        goto out;
    text = (const char *)buf;
    st = keyring_new(&kr);
    if (st != KEYRING_OK) {
        errbuf_set(err, errlen, "keyring %s: out of memory", path);
        goto out;
    }
    while (pos < len) {
        lineno++;
        nl = memchr(text + pos, '\n', len - pos);
        line_len = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
        if (memchr(text + pos, '\0', line_len) != NULL) {
            st = KEYRING_ERR_PARSE;
            errbuf_set(err, errlen, "keyring %s line %lu: contains a NUL byte", path, lineno);
            goto out;
        }
        st = parse_line(kr, text + pos, line_len, path, lineno, err, errlen);
        if (st != KEYRING_OK)
            goto out;
        pos += line_len + 1;
    }
    nactive = count_active(kr, &active);
    if (nactive != 1) {
        st = KEYRING_ERR_NO_ACTIVE;
        if (nactive == 0)
            errbuf_set(err, errlen, "keyring %s: no active key; exactly one kek must be "
                    "'active'", path);
        else
            errbuf_set(err, errlen, "keyring %s: %zu active keys; exactly one kek must be "
                    "'active'", path, nactive);
        goto out;
    }
    *out = kr;
    kr = NULL;
    st = KEYRING_OK;
out:
    secretfile_free(buf, len);
    keyring_free(kr);
    return st;
}

static int write_all(int fd, const char *p, size_t len)
{
    ssize_t n;

    while (len > 0) {
        n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Renders kr as NUL-terminated key-file text into a secure buffer of
 * *out_len bytes. */
static keyring_status render(const struct keyring *kr, char **out, size_t *out_len)
{
    static const char header[] =
        "# sharekeep keyring: one 'kek <id> <state> <base64 of 32 key bytes>' per line.\n"
        "# state: active (seals new records; exactly one), decrypt (opens old records),\n"
        "# retired (refused). Keep this file mode 0600, owned by the sharekeep user.\n";
    static const char *const names[] = { "", "active", "decrypt", "retired" };
    size_t cap = sizeof(header) + kr->count * (KEY_B64_LEN + 40);
    char *text = OPENSSL_secure_malloc(cap);
    size_t len = sizeof(header) - 1;

    if (text == NULL)
        return KEYRING_ERR_NOMEM;
    memcpy(text, header, len);
    for (size_t i = 0; i < kr->count; i++) {
        unsigned char b64[KEY_B64_LEN + 1];
        int n;

        if (EVP_EncodeBlock(b64, kr->keys[i].key, (int)KEK_LEN) != (int)KEY_B64_LEN) {
            OPENSSL_secure_clear_free(text, cap);
            return KEYRING_ERR_CRYPTO;
        }
        n = snprintf(text + len, cap - len, "kek %u %s %s\n", kr->keys[i].id,
                     names[kr->keys[i].state], (const char *)b64);
        OPENSSL_cleanse(b64, sizeof(b64));
        if (n < 0 || (size_t)n >= cap - len) {
            OPENSSL_secure_clear_free(text, cap);
            return KEYRING_ERR_NOMEM;
        }
        len += (size_t)n;
    }
    *out = text;
    *out_len = cap;
    return KEYRING_OK;
}

/* Writes kr to path durably: a new file (O_EXCL) when create is set, else a
 * temp file beside path renamed over it, so a crash leaves either the old
 * or the new key file, never half of one. The directory is fsynced too: a
 * KEK that sealed records must not vanish with a power cut. */
static keyring_status save(const struct keyring *kr, const char *path, int create, char *err,
                           size_t errlen)
{
    keyring_status st;
    char tmp[4096], dir[4096], *text = NULL, *slash;
    size_t cap = 0, len;
    int fd = -1, dfd = -1, written = 0;

    st = keyring_validate(kr);
    if (st != KEYRING_OK) {
        errbuf_set(err, errlen, "keyring %s: refusing to write: %s", path, keyring_strerror(st));
        goto out;
    }
    if ((st = render(kr, &text, &cap)) != KEYRING_OK) {
        errbuf_set(err, errlen, "keyring %s: cannot render the key file", path);
        goto out;
    }
    len = strlen(text);
    st = KEYRING_ERR_IO;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp) ||
        snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) {
        errbuf_set(err, errlen, "keyring %s: path too long", path);
        goto out;
    }
    if (create) {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            if (errno == EEXIST)
                errbuf_set(err, errlen, "keyring %s: already exists; refusing to overwrite it", path);
            else
                errbuf_set(err, errlen, "keyring %s: cannot create: %s", path, strerror(errno));
            goto out;
        }
    } else {
        fd = mkstemp(tmp);   /* mode 0600 */
        if (fd < 0) {
            errbuf_set(err, errlen, "keyring %s: cannot create a temp file beside it: %s", path,
                     strerror(errno));
            goto out;
        }
    }
    written = 1;
    if (write_all(fd, text, len) != 0 || fsync(fd) != 0) {
        errbuf_set(err, errlen, "keyring %s: write failed: %s", path, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        errbuf_set(err, errlen, "keyring %s: close failed: %s", path, strerror(errno));
        goto out;
    }
    fd = -1;
    if (!create && rename(tmp, path) != 0) {
        errbuf_set(err, errlen, "keyring %s: cannot replace: %s", path, strerror(errno));
        goto out;
    }
    written = 0;
    slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    else
        memcpy(dir, ".", 2);
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        errbuf_set(err, errlen, "keyring %s: cannot fsync its directory: %s", path, strerror(errno));
        goto out;
    }
    st = KEYRING_OK;
out:
    if (fd >= 0)
        (void)close(fd);
    if (dfd >= 0)
        (void)close(dfd);
    if (written)
        (void)unlink(create ? path : tmp);
    if (text != NULL)
        OPENSSL_secure_clear_free(text, cap);
    return st;
}

/* Adds a fresh random key with the next id. */
static keyring_status add_random(struct keyring *kr, enum kek_state state, uint32_t *id)
{
    uint8_t key[KEK_LEN];
    uint32_t next = 0;
    keyring_status st;

    for (size_t i = 0; i < kr->count; i++)
        if (kr->keys[i].id > next)
            next = kr->keys[i].id;
    if (next == UINT32_MAX)
        return KEYRING_ERR_ARG;
    next++;
    if (RAND_bytes(key, (int)sizeof(key)) != 1)
        return KEYRING_ERR_CRYPTO;
    st = keyring_add(kr, next, state, key, sizeof(key));
    OPENSSL_cleanse(key, sizeof(key));
    if (st == KEYRING_OK)
        *id = next;
    return st;
}

keyring_status keyring_file_create(const char *path, char *err, size_t errlen)
{
    struct keyring *kr = NULL;
    keyring_status st;
    uint32_t id;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (path == NULL) {
        errbuf_set(err, errlen, "keyring: no path given");
        return KEYRING_ERR_ARG;
    }
    st = keyring_new(&kr);
    if (st == KEYRING_OK)
        st = add_random(kr, KEK_ACTIVE, &id);
    if (st != KEYRING_OK)
        errbuf_set(err, errlen, "keyring %s: cannot generate a key: %s", path, keyring_strerror(st));
    else
        st = save(kr, path, 1, err, errlen);
    keyring_free(kr);
    return st;
}

keyring_status keyring_file_add(const char *path, int make_active, uint32_t *new_id, char *err,
                                size_t errlen)
{
    struct keyring *kr = NULL;
    keyring_status st;

    st = keyring_load(path, &kr, err, errlen);
    if (st != KEYRING_OK)
        goto out;
    if (make_active)
        for (size_t i = 0; i < kr->count; i++)
            if (kr->keys[i].state == KEK_ACTIVE)
                kr->keys[i].state = KEK_DECRYPT;
    st = add_random(kr, make_active ? KEK_ACTIVE : KEK_DECRYPT, new_id);
    if (st != KEYRING_OK) {
        errbuf_set(err, errlen, "keyring %s: cannot generate a key: %s", path, keyring_strerror(st));
        goto out;
    }
    st = save(kr, path, 0, err, errlen);
out:
    keyring_free(kr);
    return st;
}

keyring_status keyring_file_retire(const char *path, uint32_t id, char *err, size_t errlen)
{
    struct keyring *kr = NULL;
    keyring_status st;
    struct kek *k = NULL;

    st = keyring_load(path, &kr, err, errlen);
    if (st != KEYRING_OK)
        goto out;
    for (size_t i = 0; i < kr->count; i++)
        if (kr->keys[i].id == id)
            k = &kr->keys[i];
    if (k == NULL) {
        st = KEYRING_ERR_UNKNOWN_KEK;
        errbuf_set(err, errlen, "keyring %s: no KEK %u", path, id);
        goto out;
    }
    if (k->state == KEK_ACTIVE) {
        st = KEYRING_ERR_ARG;
        errbuf_set(err, errlen, "keyring %s: KEK %u is active; rotate to a new KEK first", path, id);
        goto out;
    }
    k->state = KEK_RETIRED;
    st = save(kr, path, 0, err, errlen);
out:
    keyring_free(kr);
    return st;
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
    }
    return "unknown keyring status";
}
