/* The key file: parse it into a keyring, write it back durably, and the
 * keygen / rotate / retire edits on it. The format and the permission rules
 * are in keyring.h; the keys in memory are keyring.c.
 *
 * Loading is strict: file_read reads the file under FILE_SECRET (no symlink,
 * regular file, owned by the effective uid, no group/other bits, at most
 * KEYRING_FILE_MAX bytes), and it is parsed line by line. Any malformed line
 * rejects the whole file; error messages name the file and the line but never
 * echo a token that could be key material. Keys must be canonical padded
 * base64 (base64.h). The read buffer, every decoded key and the rendered text
 * are cleansed before they are released.
 *
 * A KEK that lives in a PKCS#11 token has the word "pkcs11" where a file
 * KEK has its base64 bytes: the file then keeps only its id and state, the
 * token the key (keyring_pkcs11.h).
 *
 * Edits (keygen, rotate, retire) hold the lock file "<keyring>.lock" for
 * their whole read-modify-write; readers take no lock. See "the lock file".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base64.h"
#include "bounds.h"
#include "errbuf.h"
#include "file.h"
#include "keyring.h"
#include "keyring_internal.h"
#include "keyring_pkcs11.h"

#define KEY_B64_LEN   44u   /* base64 of KEK_LEN bytes, with one '=' */
#define LINE_TOKENS   4     /* kek <id> <state> <key> */
#define PATH_BUF      4096

/* A token inside a line: not NUL-terminated. */
struct token {
    const char *p;
    size_t len;
};

/* ---- parsing --------------------------------------------------------- */

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

/* Splits a line (without its '\n') at blanks, up to a '#' comment, into at
 * most max tokens; returns how many it found, max + 1 for "more". */
static size_t tokenize(const char *line, size_t len, struct token *tok, size_t max)
{
    const char *hash = memchr(line, '#', len);
    size_t ntok = 0, i = 0, start;

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
        if (ntok == max)
            return max + 1;
        tok[ntok].p = line + start;
        tok[ntok].len = i - start;
        ntok++;
    }
    return ntok;
}

/* Decodes the key token of kek id into key (KEK_LEN bytes). */
static keyring_status parse_key(const struct token *t, uint32_t id, uint8_t *key,
                                const char *path, unsigned long lineno, char *err, size_t errlen)
{
    size_t klen = 0;

    if (base64_decoded_len(t->p, t->len, BASE64_STD_PADDED, &klen) != 0) {
        errbuf_set(err, errlen, "keyring %s line %lu: kek %lu: key is not valid base64",
                path, lineno, (unsigned long)id);
        return KEYRING_ERR_PARSE;
    }
    if (klen != KEK_LEN) {
        errbuf_set(err, errlen, "keyring %s line %lu: kek %lu: key is %zu bytes, expected %u",
                path, lineno, (unsigned long)id, klen, KEK_LEN);
        return KEYRING_ERR_PARSE;
    }
    if (base64_decode(t->p, t->len, BASE64_STD_PADDED, key, KEK_LEN, &klen) != 0) {
        errbuf_set(err, errlen, "keyring %s line %lu: kek %lu: key is not canonical base64",
                path, lineno, (unsigned long)id);
        return KEYRING_ERR_PARSE;
    }
    return KEYRING_OK;
}

/* Parses one line (without its '\n') and adds its key to kr. */
static keyring_status parse_line(struct keyring *kr, const char *line, size_t len,
                                 const char *path, unsigned long lineno,
                                 char *err, size_t errlen)
{
    keyring_status st = KEYRING_ERR_PARSE;
    struct token tok[LINE_TOKENS];
    size_t ntok = tokenize(line, len, tok, LINE_TOKENS);
    uint8_t key[KEK_LEN];
    enum kek_state state = KEK_RETIRED, existing;
    uint32_t id = 0;

    if (ntok == 0)
        return KEYRING_OK;
    if (!tok_is(&tok[0], "kek")) {
        errbuf_set(err, errlen, "keyring %s line %lu: unknown directive; expected "
                "'kek <id> <state> <base64 key>'", path, lineno);
        return st;
    }
    if (ntok != LINE_TOKENS) {
        errbuf_set(err, errlen, "keyring %s line %lu: expected 'kek <id> <state> <base64 key>'",
                path, lineno);
        return st;
    }
    if (!parse_id(&tok[1], &id)) {
        errbuf_set(err, errlen, "keyring %s line %lu: kek id must be a decimal number "
                "from 1 to 4294967295", path, lineno);
        return st;
    }
    if (!parse_state(&tok[2], &state)) {
        errbuf_set(err, errlen, "keyring %s line %lu: kek %lu: state must be active, "
                "decrypt or retired", path, lineno, (unsigned long)id);
        return st;
    }
    if (!tok_is(&tok[3], "pkcs11")) {
        st = parse_key(&tok[3], id, key, path, lineno, err, errlen);
        if (st != KEYRING_OK)
            goto out;
    }
    st = KEYRING_ERR_PARSE;
    if (keyring_state(kr, id, &existing) == KEYRING_OK) {
        errbuf_set(err, errlen, "keyring %s line %lu: duplicate kek id %lu",
                path, lineno, (unsigned long)id);
        goto out;
    }
    if (keyring_count(kr) >= KEYRING_KEYS_MAX) {
        errbuf_set(err, errlen, "keyring %s line %lu: more than %u keys",
                path, lineno, KEYRING_KEYS_MAX);
        goto out;
    }
    st = tok_is(&tok[3], "pkcs11") ? keyring_add_token_key(kr, id, state)
                                   : keyring_add(kr, id, state, key, KEK_LEN);
    if (st != KEYRING_OK)
        errbuf_set(err, errlen, "keyring %s line %lu: cannot store kek %lu: %s",
                path, lineno, (unsigned long)id, keyring_strerror(st));
out:
    OPENSSL_cleanse(key, sizeof(key));
    return st;
}

/* Parses the whole text, line by line, into kr. */
static keyring_status parse_text(struct keyring *kr, const char *text, size_t len,
                                 const char *path, char *err, size_t errlen)
{
    keyring_status st;
    size_t pos = 0, line_len;
    unsigned long lineno = 0;
    const char *nl;

    while (pos < len) {
        lineno++;
        nl = memchr(text + pos, '\n', len - pos);
        line_len = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
        if (memchr(text + pos, '\0', line_len) != NULL) {
            errbuf_set(err, errlen, "keyring %s line %lu: contains a NUL byte", path, lineno);
            return KEYRING_ERR_PARSE;
        }
        st = parse_line(kr, text + pos, line_len, path, lineno, err, errlen);
        if (st != KEYRING_OK)
            return st;
        pos += line_len + 1;
    }
    return KEYRING_OK;
}

/* Exactly one key must be active; says how many there are otherwise. */
static keyring_status check_one_active(const struct keyring *kr, const char *path, char *err,
                                       size_t errlen)
{
    size_t i, nactive = 0;
    enum kek_state state;
    uint32_t id;

    for (i = 0; i < keyring_count(kr); i++)
        if (keyring_key_info(kr, i, &id, &state) == KEYRING_OK && state == KEK_ACTIVE)
            nactive++;
    if (nactive == 1)
        return KEYRING_OK;
    if (nactive == 0)
        errbuf_set(err, errlen, "keyring %s: no active key; exactly one kek must be "
                "'active'", path);
    else
        errbuf_set(err, errlen, "keyring %s: %zu active keys; exactly one kek must be "
                "'active'", path, nactive);
    return KEYRING_ERR_NO_ACTIVE;
}

/* A file over KEYRING_FILE_MAX is a malformed key file, not an I/O error. */
static keyring_status from_file_status(file_status st)
{
    switch (st) {
    case FILE_OK:
        return KEYRING_OK;
    case FILE_ERR_ARG:
        return KEYRING_ERR_ARG;
    case FILE_ERR_PERM:
        return KEYRING_ERR_PERM;
    case FILE_ERR_TOO_BIG:
        return KEYRING_ERR_PARSE;
    case FILE_ERR_NOMEM:
        return KEYRING_ERR_NOMEM;
    case FILE_ERR_IO:
        break;
    }
    return KEYRING_ERR_IO;
}

keyring_status keyring_parse_file(const char *path, struct keyring **out, char *err,
                                  size_t errlen)
{
    keyring_status st = KEYRING_ERR_ARG;
    struct keyring *kr = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out != NULL)
        *out = NULL;
    if (path == NULL || out == NULL) {
        errbuf_set(err, errlen, "keyring: no path given");
        goto out;
    }
    st = from_file_status(file_read("keyring", path, KEYRING_FILE_MAX, FILE_SECRET, &buf, &len,
                                    err, errlen));
    if (st != KEYRING_OK)
        goto out;
    st = keyring_new(&kr);
    if (st != KEYRING_OK) {
        errbuf_set(err, errlen, "keyring %s: out of memory", path);
        goto out;
    }
    st = parse_text(kr, (const char *)buf, len, path, err, errlen);
    if (st == KEYRING_OK)
        st = check_one_active(kr, path, err, errlen);
    if (st != KEYRING_OK)
        goto out;
    *out = kr;
    kr = NULL;
out:
    file_free(buf, len);
    keyring_free(kr);
    return st;
}

/* Finds every token KEK of kr in its token and checks it, and lets the
 * token compute the log tag key when the lowest KEK id is a token's. */
static keyring_status check_token_keys(struct keyring *kr, const char *path,
                                       const struct keyring_token_config *tc, char *err,
                                       size_t errlen)
{
    keyring_status st = KEYRING_OK;
    struct p11 *token = NULL;
    uint32_t id, lowest = UINT32_MAX;
    enum kek_state state;
    uint8_t tag[32];
    size_t ntoken = 0;

    for (size_t i = 0; i < keyring_count(kr); i++) {
        if (keyring_key_info(kr, i, &id, &state) != KEYRING_OK)
            continue;
        if (id < lowest)
            lowest = id;
        if (keyring_key_backend(kr, i) != KEK_BACKEND_PKCS11)
            continue;
        if (ntoken++ == 0 && (tc == NULL || tc->uri == NULL || tc->uri[0] == '\0')) {
            errbuf_set(err, errlen, "keyring %s: kek %u is in a PKCS#11 token, but pkcs11_uri "
                       "is not set", path, id);
            return KEYRING_ERR_TOKEN;
        }
    }
    if (tc == NULL || tc->uri == NULL || tc->uri[0] == '\0')
        return KEYRING_OK;
    st = p11_new(tc, &token, err, errlen);
    if (st != KEYRING_OK)
        return st;
    keyring_set_token(kr, token);
    if (ntoken == 0)
        return KEYRING_OK;
    st = p11_connect(token, 0, err, errlen);
    for (size_t i = 0; st == KEYRING_OK && i < keyring_count(kr); i++)
        if (keyring_key_backend(kr, i) == KEK_BACKEND_PKCS11 &&
            keyring_key_info(kr, i, &id, &state) == KEYRING_OK && state != KEK_RETIRED)
            st = p11_check_key(token, id, err, errlen);
    for (size_t i = 0; st == KEYRING_OK && i < keyring_count(kr); i++) {
        if (keyring_key_info(kr, i, &id, &state) != KEYRING_OK || id != lowest ||
            keyring_key_backend(kr, i) != KEK_BACKEND_PKCS11)
            continue;
        st = p11_derive_tag(token, id, tag);
        if (st == KEYRING_OK)
            st = keyring_set_tag_key(kr, tag);
        else
            errbuf_set(err, errlen, "pkcs11: kek %u cannot compute the log tag key: %s", id,
                       keyring_strerror(st));
        OPENSSL_cleanse(tag, sizeof(tag));
    }
    p11_disconnect(token);
    return st;
}

keyring_status keyring_load_with(const char *path, const struct keyring_token_config *tc,
                                 struct keyring **out, char *err, size_t errlen)
{
    struct keyring *kr = NULL;
    keyring_status st;

    if (out == NULL)
        return keyring_parse_file(path, NULL, err, errlen);
    st = keyring_parse_file(path, &kr, err, errlen);
    if (st == KEYRING_OK)
        st = check_token_keys(kr, path, tc, err, errlen);
    if (st == KEYRING_OK) {
        *out = kr;
        kr = NULL;
    }
    keyring_free(kr);
    return st;
}

keyring_status keyring_load(const char *path, struct keyring **out, char *err, size_t errlen)
{
    return keyring_load_with(path, NULL, out, err, errlen);
}

/* ---- writing --------------------------------------------------------- */

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
        "# sharekeep keyring: one 'kek <id> <state> <base64 of 32 key bytes>' per line,\n"
        "# or 'kek <id> <state> pkcs11' for a KEK that lives in the PKCS#11 token.\n"
        "# state: active (seals new records; exactly one), decrypt (opens old records),\n"
        "# retired (refused). Keep this file mode 0600, owned by the sharekeep user.\n";
    static const char *const names[] = { "", "active", "decrypt", "retired" };
    size_t count = keyring_count(kr);
    size_t cap = sizeof(header) + count * (KEY_B64_LEN + 40);
    char *text = OPENSSL_secure_malloc(cap);
    size_t len = sizeof(header) - 1;

    if (text == NULL)
        return KEYRING_ERR_NOMEM;
    memcpy(text, header, len);
    for (size_t i = 0; i < count; i++) {
        unsigned char b64[KEY_B64_LEN + 1];
        enum kek_state state;
        uint32_t id;
        int n;

        if (keyring_key_info(kr, i, &id, &state) != KEYRING_OK) {
            OPENSSL_secure_clear_free(text, cap);
            return KEYRING_ERR_ARG;
        }
        if (keyring_key_backend(kr, i) == KEK_BACKEND_PKCS11)
            memcpy(b64, "pkcs11", sizeof("pkcs11"));
        else if (EVP_EncodeBlock(b64, keyring_key_bytes(kr, i), (int)KEK_LEN) !=
                 (int)KEY_B64_LEN) {
            OPENSSL_secure_clear_free(text, cap);
            return KEYRING_ERR_CRYPTO;
        }
        n = snprintf(text + len, cap - len, "kek %u %s %s\n", id, names[state],
                     (const char *)b64);
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

/* Opens where the new text goes: path itself when create is set (O_EXCL,
 * never through a symlink), else a fresh temp file tmp beside it. Both are
 * mode 0600. */
static keyring_status open_target(const char *path, int create, char *tmp, int *fd, char *err,
                                  size_t errlen)
{
    if (create) {
        *fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (*fd >= 0)
            return KEYRING_OK;
        if (errno == EEXIST)
            errbuf_set(err, errlen, "keyring %s: already exists; refusing to overwrite it", path);
        else
            errbuf_set(err, errlen, "keyring %s: cannot create: %s", path, strerror(errno));
        return KEYRING_ERR_IO;
    }
    *fd = mkstemp(tmp);   /* mode 0600 */
    if (*fd >= 0)
        return KEYRING_OK;
    errbuf_set(err, errlen, "keyring %s: cannot create a temp file beside it: %s", path,
             strerror(errno));
    return KEYRING_ERR_IO;
}

/* fsyncs the directory that holds path, so a rename or a new name in it
 * survives a power cut. */
static keyring_status fsync_dir(const char *path, char *err, size_t errlen)
{
    char dir[PATH_BUF], *slash;
    int dfd, rc;

    if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) {
        errbuf_set(err, errlen, "keyring %s: path too long", path);
        return KEYRING_ERR_IO;
    }
    slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    else
        memcpy(dir, ".", 2);
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    rc = dfd >= 0 ? fsync(dfd) : -1;
    if (rc != 0)
        errbuf_set(err, errlen, "keyring %s: cannot fsync its directory: %s", path, strerror(errno));
    if (dfd >= 0)
        (void)close(dfd);
    return rc == 0 ? KEYRING_OK : KEYRING_ERR_IO;
}

/* Writes kr to path durably: a new file (O_EXCL) when create is set, else a
 * temp file beside path renamed over it, so a crash leaves either the old
 * or the new key file, never half of one. The directory is fsynced too: a
 * KEK that sealed records must not vanish with a power cut. */
static keyring_status save(const struct keyring *kr, const char *path, int create, char *err,
                           size_t errlen)
{
    keyring_status st;
    char tmp[PATH_BUF], *text = NULL;
    size_t cap = 0;
    int fd = -1, written = 0;

    st = keyring_validate(kr);
    if (st != KEYRING_OK) {
        errbuf_set(err, errlen, "keyring %s: refusing to write: %s", path, keyring_strerror(st));
        goto out;
    }
    if ((st = render(kr, &text, &cap)) != KEYRING_OK) {
        errbuf_set(err, errlen, "keyring %s: cannot render the key file", path);
        goto out;
    }
    st = KEYRING_ERR_IO;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp)) {
        errbuf_set(err, errlen, "keyring %s: path too long", path);
        goto out;
    }
    if ((st = open_target(path, create, tmp, &fd, err, errlen)) != KEYRING_OK)
        goto out;
    st = KEYRING_ERR_IO;
    written = 1;
    if (write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
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
    st = fsync_dir(path, err, errlen);
out:
    if (fd >= 0)
        (void)close(fd);
    if (written)
        (void)unlink(create ? path : tmp);
    if (text != NULL)
        OPENSSL_secure_clear_free(text, cap);
    return st;
}

/* ---- edits ----------------------------------------------------------- */

/* The id after the highest in kr. */
static keyring_status next_id(const struct keyring *kr, uint32_t *id)
{
    uint32_t next = 0, kid;
    enum kek_state kstate;

    for (size_t i = 0; i < keyring_count(kr); i++)
        if (keyring_key_info(kr, i, &kid, &kstate) == KEYRING_OK && kid > next)
            next = kid;
    if (next == UINT32_MAX)
        return KEYRING_ERR_ARG;
    *id = next + 1;
    return KEYRING_OK;
}

/* Demotes the active key (if any) to decrypt-only. */
static void demote_active(struct keyring *kr)
{
    enum kek_state state;
    uint32_t id;

    for (size_t i = 0; i < keyring_count(kr); i++)
        if (keyring_key_info(kr, i, &id, &state) == KEYRING_OK && state == KEK_ACTIVE)
            (void)keyring_set_state(kr, id, KEK_DECRYPT);
}

/* Adds a fresh random key with the next id. */
static keyring_status add_random(struct keyring *kr, enum kek_state state, uint32_t *id)
{
    uint8_t key[KEK_LEN];
    uint32_t next = 0;
    keyring_status st;

    st = next_id(kr, &next);
    if (st != KEYRING_OK)
        return st;
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
    int lock;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (path == NULL) {
        errbuf_set(err, errlen, "keyring: no path given");
        return KEYRING_ERR_ARG;
    }
    st = keyring_lock_acquire(path, KEYRING_LOCK_WAIT_MS, &lock, err, errlen);
    if (st != KEYRING_OK)
        return st;
    st = keyring_new(&kr);
    if (st == KEYRING_OK)
        st = add_random(kr, KEK_ACTIVE, &id);
    if (st != KEYRING_OK)
        errbuf_set(err, errlen, "keyring %s: cannot generate a key: %s", path, keyring_strerror(st));
    else
        st = save(kr, path, 1, err, errlen);
    keyring_free(kr);
    keyring_lock_release(lock);
    return st;
}

/* Locks path's lock file for rotate or retire, which edit a key file that
 * must exist and be this user's. The key file is checked first, so that
 * what is wrong with it is said before a lock file is made: none is left
 * beside a mistyped path, nor one that root (running rotate by mistake)
 * would own and the key file's owner could not use. */
static keyring_status lock_key_file(const char *path, unsigned wait_ms, int *lock, char *err,
                                    size_t errlen)
{
    struct keyring *kr = NULL;
    keyring_status st;
    struct stat sb;

    *lock = -1;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (path == NULL) {
        errbuf_set(err, errlen, "keyring: no path given");
        return KEYRING_ERR_ARG;
    }
    if (lstat(path, &sb) == 0 ? sb.st_uid != geteuid() : errno == ENOENT) {
        st = keyring_parse_file(path, &kr, err, errlen);
        keyring_free(kr);
        if (st != KEYRING_OK)
            return st;
        /* Made or given to us since the lstat: the caller loads it again,
         * under the lock. */
    }
    return keyring_lock_acquire(path, wait_ms, lock, err, errlen);
}

keyring_status keyring_file_add_wait(const char *path, int make_active, unsigned lock_wait_ms,
                                     uint32_t *new_id, char *err, size_t errlen)
{
    struct keyring *kr = NULL;
    keyring_status st;
    int lock = -1;

    st = lock_key_file(path, lock_wait_ms, &lock, err, errlen);
    if (st != KEYRING_OK)
        goto out;
    st = keyring_parse_file(path, &kr, err, errlen);
    if (st != KEYRING_OK)
        goto out;
    if (make_active)
        demote_active(kr);
    st = add_random(kr, make_active ? KEK_ACTIVE : KEK_DECRYPT, new_id);
    if (st != KEYRING_OK) {
        errbuf_set(err, errlen, "keyring %s: cannot generate a key: %s", path, keyring_strerror(st));
        goto out;
    }
    st = save(kr, path, 0, err, errlen);
out:
    keyring_free(kr);
    keyring_lock_release(lock);
    return st;
}

keyring_status keyring_file_add(const char *path, int make_active, uint32_t *new_id, char *err,
                                size_t errlen)
{
    return keyring_file_add_wait(path, make_active, KEYRING_LOCK_WAIT_MS, new_id, err, errlen);
}

keyring_status keyring_file_retire(const char *path, uint32_t id, char *err, size_t errlen)
{
    struct keyring *kr = NULL;
    keyring_status st;
    enum kek_state state;
    int lock = -1;

    st = lock_key_file(path, KEYRING_LOCK_WAIT_MS, &lock, err, errlen);
    if (st != KEYRING_OK)
        goto out;
    st = keyring_parse_file(path, &kr, err, errlen);
    if (st != KEYRING_OK)
        goto out;
    if (keyring_state(kr, id, &state) != KEYRING_OK) {
        st = KEYRING_ERR_UNKNOWN_KEK;
        errbuf_set(err, errlen, "keyring %s: no KEK %u", path, id);
        goto out;
    }
    if (state == KEK_ACTIVE) {
        st = KEYRING_ERR_ARG;
        errbuf_set(err, errlen, "keyring %s: KEK %u is active; rotate to a new KEK first", path, id);
        goto out;
    }
    st = keyring_set_state(kr, id, KEK_RETIRED);
    if (st == KEYRING_OK)
        st = save(kr, path, 0, err, errlen);
out:
    keyring_free(kr);
    keyring_lock_release(lock);
    return st;
}

keyring_status keyring_file_add_key(const char *path, const struct keyring_token_config *tc,
                                    int create, int make_active, uint32_t *new_id, char *err,
                                    size_t errlen)
{
    struct keyring *kr = NULL;
    struct p11 *token = NULL;
    keyring_status st;
    uint32_t id = 0;
    int lock = -1, generated = 0;

    if (tc == NULL) {
        if (!create)
            return keyring_file_add(path, make_active, new_id, err, errlen);
        st = keyring_file_create(path, err, errlen);
        if (st == KEYRING_OK)
            *new_id = 1;
        return st;
    }
    if (create) {
        if (path == NULL) {
            errbuf_set(err, errlen, "keyring: no path given");
            return KEYRING_ERR_ARG;
        }
        st = keyring_lock_acquire(path, KEYRING_LOCK_WAIT_MS, &lock, err, errlen);
        if (st == KEYRING_OK)
            st = keyring_new(&kr);
    } else {
        st = lock_key_file(path, KEYRING_LOCK_WAIT_MS, &lock, err, errlen);
        if (st == KEYRING_OK)
            st = keyring_parse_file(path, &kr, err, errlen);
    }
    if (st != KEYRING_OK)
        goto out;
    if ((st = next_id(kr, &id)) != KEYRING_OK) {
        errbuf_set(err, errlen, "keyring %s: no KEK id left", path);
        goto out;
    }
    if ((st = p11_new(tc, &token, err, errlen)) != KEYRING_OK)
        goto out;
    if ((st = p11_generate(token, id, err, errlen)) != KEYRING_OK)
        goto out;
    generated = 1;
    if (create || make_active)
        demote_active(kr);
    st = keyring_add_token_key(kr, id, create || make_active ? KEK_ACTIVE : KEK_DECRYPT);
    if (st == KEYRING_OK)
        st = save(kr, path, create, err, errlen);
    if (st != KEYRING_OK)
        goto out;
    generated = 0;
    *new_id = id;
out:
    /* A token key the file does not list would only block this id later. */
    if (generated)
        (void)p11_destroy(token, id);
    p11_free(token);
    keyring_free(kr);
    keyring_lock_release(lock);
    return st;
}
