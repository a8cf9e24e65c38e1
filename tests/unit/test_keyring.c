/* Unit tests for keyring.c (keys in memory, wrap/unwrap, the secure heap)
 * and keyring_file.c (key file parsing and checks, creation, rotation and
 * retirement). Each file test works in its own mkdtemp directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bounds.h"
#include "keyring.h"
#include "keyring_internal.h"
#include "log.h"

/* The scheme keyring_wrap reports; a file KEK always says RFC 5649 by us. */
static uint8_t wrap_scheme;
#include "unit.h"

#define NOBODY_UID 65534

static char err[512];

/* Each test starts with a fresh temp dir and no message left in err.
 * The file tests' children (fork) end with _exit and touch no CUnit state. */
static void tmp_setup(void)
{
    unit_tmp_setup("keyring");
    memset(err, 0, sizeof(err));
}

static void kek_bytes(uint8_t fill, uint8_t *key, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        key[i] = (uint8_t)(fill + i);
}

/* Base64 of len bytes fill, fill+1, ... into out (room for 4*ceil(len/3)+1). */
static const char *b64_of(uint8_t fill, size_t len, char *out)
{
    uint8_t key[64];

    kek_bytes(fill, key, len);
    EVP_EncodeBlock((unsigned char *)out, key, (int)len);
    return out;
}

/* Loads text from a fresh 0600 file; returns the status, frees the ring. */
static keyring_status load_text(const char *text)
{
    struct keyring *kr = NULL;
    keyring_status st;

    st = keyring_load(unit_write_file("k", text, 0600), &kr, err, sizeof(err));
    if (st != KEYRING_OK)
        CU_ASSERT_PTR_NULL(kr);
    keyring_free(kr);
    return st;
}

static void test_load_good_file(void)
{
    char b1[64], b2[64], b3[64], text[1024];
    struct keyring *kr = NULL;
    uint8_t dk[DATA_KEY_LEN], back[DATA_KEY_LEN], w[WRAPPED_KEY_LEN];
    uint32_t id = 0;

    tmp_setup();
    snprintf(text, sizeof(text),
             "# sharekeep keys\n"
             "\n"
             "   \t\n"
             "kek 1 retired %s\n"
             "  kek\t7   decrypt\t%s   # rotated 2024-01\n"
             "kek 4294967295 active %s\r\n"
             "# end",
             b64_of(0x10, 32, b1), b64_of(0x40, 32, b2), b64_of(0x70, 32, b3));
    CU_ASSERT_EQUAL(keyring_load(unit_write_file("keys", text, 0600), &kr, err, sizeof(err)),
                    KEYRING_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    CU_ASSERT_EQUAL(err[0], '\0');
    CU_ASSERT_EQUAL(keyring_count(kr), 3);
    CU_ASSERT_EQUAL(keyring_active_id(kr), 4294967295u);
    CU_ASSERT_EQUAL(keyring_validate(kr), KEYRING_OK);

    kek_bytes(0xa0, dk, sizeof(dk));
    CU_ASSERT_EQUAL(keyring_wrap(kr, dk, &id, &wrap_scheme, w), KEYRING_OK);
    CU_ASSERT_EQUAL(id, 4294967295u);
    CU_ASSERT_EQUAL(keyring_unwrap(kr, id, KEYRING_SCHEME_FILE_KWP, w, sizeof(w), back), KEYRING_OK);
    CU_ASSERT_EQUAL(memcmp(back, dk, sizeof(dk)), 0);
    keyring_free(kr);

    /* Mode 0400 is fine too, and a missing final newline. */
    snprintf(text, sizeof(text), "kek 1 active %s", b1);
    CU_ASSERT_EQUAL(keyring_load(unit_write_file("ro", text, 0400), &kr, err, sizeof(err)),
                    KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_count(kr), 1);
    keyring_free(kr);
    unit_tmp_teardown();
}

static void test_loaded_key_bytes_are_the_file_bytes(void)
{
    char b[64], text[256];
    struct keyring *kr = NULL;
    uint8_t kek[KEK_LEN], dk[DATA_KEY_LEN], w[WRAPPED_KEY_LEN], ref[WRAPPED_KEY_LEN + 8];
    uint32_t id = 0;
    int outl = 0, finl = 0;
    EVP_CIPHER_CTX *cc;

    tmp_setup();
    snprintf(text, sizeof(text), "kek 9 active %s\n", b64_of(0x33, 32, b));
    CU_ASSERT_EQUAL_FATAL(keyring_load(unit_write_file("k", text, 0600), &kr, err, sizeof(err)),
                          KEYRING_OK);
    kek_bytes(0x33, kek, sizeof(kek));
    kek_bytes(0x05, dk, sizeof(dk));
    CU_ASSERT_EQUAL(keyring_wrap(kr, dk, &id, &wrap_scheme, w), KEYRING_OK);
    CU_ASSERT_EQUAL(id, 9);

    /* Same bytes as a direct AES-256-KWP with the decoded key. */
    cc = EVP_CIPHER_CTX_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(cc);
    EVP_CIPHER_CTX_set_flags(cc, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    CU_ASSERT_EQUAL(EVP_EncryptInit_ex(cc, EVP_aes_256_wrap_pad(), NULL, kek, NULL), 1);
    CU_ASSERT_EQUAL(EVP_EncryptUpdate(cc, ref, &outl, dk, (int)sizeof(dk)), 1);
    CU_ASSERT_EQUAL(EVP_EncryptFinal_ex(cc, ref + outl, &finl), 1);
    CU_ASSERT_EQUAL(outl + finl, (int)WRAPPED_KEY_LEN);
    CU_ASSERT_EQUAL(memcmp(ref, w, WRAPPED_KEY_LEN), 0);
    EVP_CIPHER_CTX_free(cc);
    keyring_free(kr);
    unit_tmp_teardown();
}

static void test_open_mode_refused(void)
{
    char b[64], text[256];
    struct keyring *kr = NULL;
    const char *p;

    tmp_setup();
    snprintf(text, sizeof(text), "kek 1 active %s\n", b64_of(0x10, 32, b));
    p = unit_write_file("keys", text, 0644);
    CU_ASSERT_EQUAL(keyring_load(p, &kr, err, sizeof(err)), KEYRING_ERR_PERM);
    CU_ASSERT_PTR_NULL(kr);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "mode"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "0644"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "chmod 600"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, p));
    CU_ASSERT_PTR_NULL(strstr(err, b));   /* never the key */
    CU_ASSERT_PTR_NULL(strchr(err, '\n'));

    CU_ASSERT_EQUAL(chmod(p, 0640), 0);
    CU_ASSERT_EQUAL(keyring_load(p, &kr, err, sizeof(err)), KEYRING_ERR_PERM);
    CU_ASSERT_EQUAL(chmod(p, 0601), 0);
    CU_ASSERT_EQUAL(keyring_load(p, &kr, err, sizeof(err)), KEYRING_ERR_PERM);
    CU_ASSERT_EQUAL(chmod(p, 0610), 0);
    CU_ASSERT_EQUAL(keyring_load(p, &kr, err, sizeof(err)), KEYRING_ERR_PERM);
    CU_ASSERT_EQUAL(chmod(p, 0600), 0);
    CU_ASSERT_EQUAL(keyring_load(p, &kr, err, sizeof(err)), KEYRING_OK);
    keyring_free(kr);
    unit_tmp_teardown();
}

static void test_symlink_refused(void)
{
    char b[64], text[256], target[256];
    struct keyring *kr = NULL;

    tmp_setup();
    snprintf(text, sizeof(text), "kek 1 active %s\n", b64_of(0x10, 32, b));
    snprintf(target, sizeof(target), "%s", unit_write_file("real", text, 0600));
    CU_ASSERT_EQUAL_FATAL(symlink(target, unit_tmp_path("link")), 0);
    CU_ASSERT_EQUAL(keyring_load(unit_tmp_path("link"), &kr, err, sizeof(err)), KEYRING_ERR_PERM);
    CU_ASSERT_PTR_NULL(kr);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "symbolic link"));
    CU_ASSERT_EQUAL(keyring_load(target, &kr, err, sizeof(err)), KEYRING_OK);
    keyring_free(kr);
    unit_tmp_teardown();
}

static void test_missing_file_and_not_regular(void)
{
    struct keyring *kr = NULL;
    const char *p;

    tmp_setup();
    p = unit_tmp_path("absent");
    CU_ASSERT_EQUAL(keyring_load(p, &kr, err, sizeof(err)), KEYRING_ERR_IO);
    CU_ASSERT_PTR_NULL(kr);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, p));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, strerror(ENOENT)));

    CU_ASSERT_EQUAL_FATAL(mkdir(unit_tmp_path("dir"), 0700), 0);
    CU_ASSERT_EQUAL(keyring_load(unit_tmp_path("dir"), &kr, err, sizeof(err)), KEYRING_ERR_PERM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "regular file"));

    CU_ASSERT_EQUAL_FATAL(mkfifo(unit_tmp_path("fifo"), 0600), 0);
    CU_ASSERT_EQUAL(keyring_load(unit_tmp_path("fifo"), &kr, err, sizeof(err)), KEYRING_ERR_PERM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "regular file"));
    unit_tmp_teardown();
}

static void test_foreign_owner_refused(void)
{
    char b[64], text[256];
    struct keyring *kr = NULL;
    const char *p;

    if (geteuid() != 0)
        return;   /* only root can give a file away; the check is covered in CI */
    tmp_setup();
    snprintf(text, sizeof(text), "kek 1 active %s\n", b64_of(0x10, 32, b));
    p = unit_write_file("keys", text, 0600);
    CU_ASSERT_EQUAL_FATAL(chown(p, NOBODY_UID, NOBODY_UID), 0);
    CU_ASSERT_EQUAL(keyring_load(p, &kr, err, sizeof(err)), KEYRING_ERR_PERM);
    CU_ASSERT_PTR_NULL(kr);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "owned by user nobody (uid 65534), not by root (uid 0)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "run it as nobody"));
    unit_tmp_teardown();
}

static void test_oversized_file_refused(void)
{
    size_t len = KEYRING_FILE_MAX + 1;
    char *text = malloc(len);
    struct keyring *kr = NULL;

    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    tmp_setup();
    memset(text, '#', len);
    CU_ASSERT_EQUAL(keyring_load(unit_write_file_n("big", text, len, 0600), &kr, err, sizeof(err)),
                    KEYRING_ERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "limit"));
    /* Exactly at the limit is read (and then has no key). */
    CU_ASSERT_EQUAL(keyring_load(unit_write_file_n("max", text, len - 1, 0600), &kr, err, sizeof(err)),
                    KEYRING_ERR_NO_ACTIVE);
    free(text);
    unit_tmp_teardown();
}

static void test_malformed_lines(void)
{
    static const char *const bad[] = {
        "kek 1 active",                  /* too few fields */
        "kek 1 active KEY extra",        /* too many */
        "key 1 active KEY",              /* unknown directive */
        "KEK 1 active KEY",
        "kek 0 active KEY",              /* id out of range */
        "kek 4294967296 active KEY",
        "kek 99999999999 active KEY",
        "kek -1 active KEY",
        "kek +1 active KEY",
        "kek 1x active KEY",
        "kek 0x10 active KEY",
        "kek 1 enabled KEY",             /* unknown state */
        "kek 1 Active KEY",
        "kek 1 active, KEY",
        "kek",
    };
    char b[64], line[256], text[512];
    size_t i;
    int n;

    tmp_setup();
    b64_of(0x10, 32, b);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *k = strstr(bad[i], "KEY");

        if (k != NULL)
            snprintf(line, sizeof(line), "%.*s%s%s", (int)(k - bad[i]), bad[i], b, k + 3);
        else
            snprintf(line, sizeof(line), "%s", bad[i]);
        /* A good active key first, so the bad line is line 3. */
        n = snprintf(text, sizeof(text), "kek 5 active %s\n# x\n%s\n", b, line);
        CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof(text));
        CU_ASSERT_EQUAL(load_text(text), KEYRING_ERR_PARSE);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "line 3"));
        CU_ASSERT_PTR_NULL(strstr(err, b));
    }
    /* A NUL byte inside a line. */
    n = snprintf(text, sizeof(text), "kek 5 active %s\n", b);
    memcpy(text + n, "# a\0b\n", 6);
    {
        struct keyring *kr = NULL;

        CU_ASSERT_EQUAL(keyring_load(unit_write_file_n("nul", text, (size_t)n + 6, 0600), &kr,
                                     err, sizeof(err)), KEYRING_ERR_PARSE);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "NUL"));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "line 2"));
    }
    unit_tmp_teardown();
}

static void test_bad_base64_and_key_length(void)
{
    char good[64], b[128], text[512];
    char bad[64];

    tmp_setup();
    b64_of(0x10, 32, good);

    /* Character outside the alphabet. */
    snprintf(bad, sizeof(bad), "%s", good);
    bad[10] = '!';
    snprintf(text, sizeof(text), "kek 1 active %s\n", bad);
    CU_ASSERT_EQUAL(load_text(text), KEYRING_ERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "base64"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "line 1"));

    /* '=' in the middle. */
    snprintf(bad, sizeof(bad), "%s", good);
    bad[20] = '=';
    snprintf(text, sizeof(text), "kek 1 active %s\n", bad);
    CU_ASSERT_EQUAL(load_text(text), KEYRING_ERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "base64"));

    /* Length not a multiple of 4 (padding dropped). */
    snprintf(bad, sizeof(bad), "%.43s", good);
    snprintf(text, sizeof(text), "kek 1 active %s\n", bad);
    CU_ASSERT_EQUAL(load_text(text), KEYRING_ERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "base64"));

    /* URL-safe alphabet is not accepted. */
    snprintf(text, sizeof(text), "kek 1 active %s\n", "____________________________________________");
    CU_ASSERT_EQUAL(load_text(text), KEYRING_ERR_PARSE);

    /* Non-zero padding bits: last data char 'Q'..: find one that differs. */
    snprintf(bad, sizeof(bad), "%s", good);
    CU_ASSERT_EQUAL_FATAL(bad[43], '=');
    bad[42] = bad[42] == 'B' ? 'C' : 'B';   /* low 2 bits non-zero either way */
    snprintf(text, sizeof(text), "kek 1 active %s\n", bad);
    CU_ASSERT_EQUAL(load_text(text), KEYRING_ERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "canonical"));

    /* Valid base64, wrong number of bytes. */
    snprintf(text, sizeof(text), "kek 1 active %s\n", b64_of(0x10, 16, b));
    CU_ASSERT_EQUAL(load_text(text), KEYRING_ERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "16 bytes"));
    snprintf(text, sizeof(text), "kek 1 active %s\n", b64_of(0x10, 31, b));
    CU_ASSERT_EQUAL(load_text(text), KEYRING_ERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "31 bytes"));
    snprintf(text, sizeof(text), "kek 1 active %s\n", b64_of(0x10, 33, b));
    CU_ASSERT_EQUAL(load_text(text), KEYRING_ERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "33 bytes"));
    snprintf(text, sizeof(text), "kek 1 active %s\n", b64_of(0x10, 48, b));
    CU_ASSERT_EQUAL(load_text(text), KEYRING_ERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "48 bytes"));
    unit_tmp_teardown();
}

static void test_duplicate_and_active_rules(void)
{
    char b1[64], b2[64], text[512];

    tmp_setup();
    b64_of(0x10, 32, b1);
    b64_of(0x40, 32, b2);

    snprintf(text, sizeof(text), "kek 1 active %s\nkek 1 decrypt %s\n", b1, b2);
    CU_ASSERT_EQUAL(load_text(text), KEYRING_ERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "duplicate"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "line 2"));

    snprintf(text, sizeof(text), "kek 1 decrypt %s\nkek 2 retired %s\n", b1, b2);
    CU_ASSERT_EQUAL(load_text(text), KEYRING_ERR_NO_ACTIVE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "no active key"));

    snprintf(text, sizeof(text), "kek 1 active %s\nkek 2 active %s\n", b1, b2);
    CU_ASSERT_EQUAL(load_text(text), KEYRING_ERR_NO_ACTIVE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "2 active keys"));

    CU_ASSERT_EQUAL(load_text(""), KEYRING_ERR_NO_ACTIVE);
    CU_ASSERT_EQUAL(load_text("# only a comment\n\n"), KEYRING_ERR_NO_ACTIVE);
    unit_tmp_teardown();
}

static void test_key_count_limit(void)
{
    size_t cap = (KEYRING_KEYS_MAX + 2) * 80, len = 0, i;
    char *text = malloc(cap), b[64];
    struct keyring *kr = NULL;

    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    tmp_setup();
    for (i = 1; i <= KEYRING_KEYS_MAX; i++)
        len += (size_t)snprintf(text + len, cap - len, "kek %zu %s %s\n", i,
                                i == 1 ? "active" : "decrypt", b64_of((uint8_t)i, 32, b));
    CU_ASSERT_EQUAL(keyring_load(unit_write_file_n("max", text, len, 0600), &kr, err, sizeof(err)),
                    KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_count(kr), KEYRING_KEYS_MAX);
    keyring_free(kr);
    kr = NULL;
    len += (size_t)snprintf(text + len, cap - len, "kek %u decrypt %s\n",
                            KEYRING_KEYS_MAX + 1, b64_of(0x01, 32, b));
    CU_ASSERT_EQUAL(keyring_load(unit_write_file_n("over", text, len, 0600), &kr, err, sizeof(err)),
                    KEYRING_ERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "more than"));
    free(text);
    unit_tmp_teardown();
}

static void test_wrap_unwrap(void)
{
    struct keyring *kr = NULL;
    uint8_t k1[KEK_LEN], k2[KEK_LEN], k3[KEK_LEN];
    uint8_t dk[DATA_KEY_LEN], back[DATA_KEY_LEN], w[WRAPPED_KEY_LEN], w2[WRAPPED_KEY_LEN];
    uint32_t id = 0;
    size_t i, bad = 0;

    kek_bytes(0x10, k1, sizeof(k1));
    kek_bytes(0x40, k2, sizeof(k2));
    kek_bytes(0x70, k3, sizeof(k3));
    kek_bytes(0xc0, dk, sizeof(dk));
    CU_ASSERT_EQUAL_FATAL(keyring_new(&kr), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_add(kr, 1, KEK_DECRYPT, k1, sizeof(k1)), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_add(kr, 2, KEK_ACTIVE, k2, sizeof(k2)), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_add(kr, 3, KEK_RETIRED, k3, sizeof(k3)), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_validate(kr), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_active_id(kr), 2);

    CU_ASSERT_EQUAL(keyring_wrap(kr, dk, &id, &wrap_scheme, w), KEYRING_OK);
    CU_ASSERT_EQUAL(id, 2);
    CU_ASSERT_NOT_EQUAL(memcmp(w, dk, sizeof(dk)), 0);
    CU_ASSERT_EQUAL(keyring_unwrap(kr, 2, KEYRING_SCHEME_FILE_KWP, w, sizeof(w), back), KEYRING_OK);
    CU_ASSERT_EQUAL(memcmp(back, dk, sizeof(dk)), 0);
    /* Deterministic: the same key wraps to the same bytes. */
    CU_ASSERT_EQUAL(keyring_wrap(kr, dk, &id, &wrap_scheme, w2), KEYRING_OK);
    CU_ASSERT_EQUAL(memcmp(w, w2, sizeof(w)), 0);

    /* Wrong KEK id: unknown, retired, or another key's bytes. */
    CU_ASSERT_EQUAL(keyring_unwrap(kr, 4, KEYRING_SCHEME_FILE_KWP, w, sizeof(w), back), KEYRING_ERR_UNKNOWN_KEK);
    CU_ASSERT_EQUAL(keyring_unwrap(kr, 0, KEYRING_SCHEME_FILE_KWP, w, sizeof(w), back), KEYRING_ERR_UNKNOWN_KEK);
    CU_ASSERT_EQUAL(keyring_unwrap(kr, 3, KEYRING_SCHEME_FILE_KWP, w, sizeof(w), back), KEYRING_ERR_RETIRED_KEK);
    CU_ASSERT_EQUAL(keyring_unwrap(kr, 1, KEYRING_SCHEME_FILE_KWP, w, sizeof(w), back), KEYRING_ERR_CRYPTO);

    /* Wrong lengths. */
    CU_ASSERT_EQUAL(keyring_unwrap(kr, 2, KEYRING_SCHEME_FILE_KWP, w, sizeof(w) - 1, back), KEYRING_ERR_ARG);
    CU_ASSERT_EQUAL(keyring_unwrap(kr, 2, KEYRING_SCHEME_FILE_KWP, w, sizeof(w) - 8, back), KEYRING_ERR_ARG);
    CU_ASSERT_EQUAL(keyring_unwrap(kr, 2, KEYRING_SCHEME_FILE_KWP, w, sizeof(w) + 8, back), KEYRING_ERR_ARG);
    CU_ASSERT_EQUAL(keyring_unwrap(kr, 2, KEYRING_SCHEME_FILE_KWP, w, 0, back), KEYRING_ERR_ARG);

    /* Any flipped bit in the wrapped key fails the KWP integrity check. */
    for (i = 0; i < sizeof(w) * 8; i++) {
        w[i / 8] ^= (uint8_t)(1u << (i % 8));
        if (keyring_unwrap(kr, 2, KEYRING_SCHEME_FILE_KWP, w, sizeof(w), back) != KEYRING_ERR_CRYPTO)
            bad++;
        w[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(keyring_unwrap(kr, 2, KEYRING_SCHEME_FILE_KWP, w, sizeof(w), back), KEYRING_OK);

    /* A decrypt key opens what it wrapped while it was active. */
    keyring_free(kr);
    CU_ASSERT_EQUAL_FATAL(keyring_new(&kr), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_add(kr, 1, KEK_ACTIVE, k1, sizeof(k1)), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_wrap(kr, dk, &id, &wrap_scheme, w), KEYRING_OK);
    CU_ASSERT_EQUAL(id, 1);
    keyring_free(kr);
    CU_ASSERT_EQUAL_FATAL(keyring_new(&kr), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_add(kr, 1, KEK_DECRYPT, k1, sizeof(k1)), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_add(kr, 2, KEK_ACTIVE, k2, sizeof(k2)), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_unwrap(kr, 1, KEYRING_SCHEME_FILE_KWP, w, sizeof(w), back), KEYRING_OK);
    CU_ASSERT_EQUAL(memcmp(back, dk, sizeof(dk)), 0);
    keyring_free(kr);
}

static void test_in_memory_builder_rules(void)
{
    struct keyring *kr = NULL;
    uint8_t k[KEK_LEN + 1], dk[DATA_KEY_LEN], w[WRAPPED_KEY_LEN];
    uint32_t id = 77;

    kek_bytes(0x10, k, sizeof(k));
    kek_bytes(0x20, dk, sizeof(dk));
    CU_ASSERT_EQUAL(keyring_new(NULL), KEYRING_ERR_ARG);
    CU_ASSERT_EQUAL_FATAL(keyring_new(&kr), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_count(kr), 0);
    CU_ASSERT_EQUAL(keyring_validate(kr), KEYRING_ERR_NO_ACTIVE);
    CU_ASSERT_EQUAL(keyring_active_id(kr), 0);
    CU_ASSERT_EQUAL(keyring_wrap(kr, dk, &id, &wrap_scheme, w), KEYRING_ERR_NO_ACTIVE);
    CU_ASSERT_EQUAL(id, 0);

    CU_ASSERT_EQUAL(keyring_add(kr, 1, KEK_ACTIVE, k, KEK_LEN - 1), KEYRING_ERR_ARG);
    CU_ASSERT_EQUAL(keyring_add(kr, 1, KEK_ACTIVE, k, KEK_LEN + 1), KEYRING_ERR_ARG);
    CU_ASSERT_EQUAL(keyring_add(kr, 0, KEK_ACTIVE, k, KEK_LEN), KEYRING_ERR_ARG);
    CU_ASSERT_EQUAL(keyring_add(kr, 1, (enum kek_state)0, k, KEK_LEN), KEYRING_ERR_ARG);
    CU_ASSERT_EQUAL(keyring_add(kr, 1, (enum kek_state)4, k, KEK_LEN), KEYRING_ERR_ARG);
    CU_ASSERT_EQUAL(keyring_add(kr, 1, KEK_ACTIVE, NULL, KEK_LEN), KEYRING_ERR_ARG);
    CU_ASSERT_EQUAL(keyring_add(NULL, 1, KEK_ACTIVE, k, KEK_LEN), KEYRING_ERR_ARG);
    CU_ASSERT_EQUAL(keyring_count(kr), 0);

    CU_ASSERT_EQUAL(keyring_add(kr, 1, KEK_ACTIVE, k, KEK_LEN), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_add(kr, 1, KEK_DECRYPT, k, KEK_LEN), KEYRING_ERR_PARSE);
    CU_ASSERT_EQUAL(keyring_add(kr, 2, KEK_ACTIVE, k, KEK_LEN), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_count(kr), 2);
    CU_ASSERT_EQUAL(keyring_validate(kr), KEYRING_ERR_NO_ACTIVE);
    CU_ASSERT_EQUAL(keyring_active_id(kr), 0);
    CU_ASSERT_EQUAL(keyring_wrap(kr, dk, &id, &wrap_scheme, w), KEYRING_ERR_NO_ACTIVE);

    CU_ASSERT_EQUAL(keyring_wrap(NULL, dk, &id, &wrap_scheme, w), KEYRING_ERR_ARG);
    CU_ASSERT_EQUAL(keyring_wrap(kr, NULL, &id, &wrap_scheme, w), KEYRING_ERR_ARG);
    CU_ASSERT_EQUAL(keyring_unwrap(NULL, 1, KEYRING_SCHEME_FILE_KWP, w, sizeof(w), dk), KEYRING_ERR_ARG);
    CU_ASSERT_EQUAL(keyring_unwrap(kr, 1, KEYRING_SCHEME_FILE_KWP, NULL, sizeof(w), dk), KEYRING_ERR_ARG);
    CU_ASSERT_EQUAL(keyring_validate(NULL), KEYRING_ERR_ARG);
    CU_ASSERT_EQUAL(keyring_count(NULL), 0);
    CU_ASSERT_EQUAL(keyring_active_id(NULL), 0);
    keyring_free(kr);
    keyring_free(NULL);
}

static void test_load_arguments(void)
{
    struct keyring *kr = NULL;

    CU_ASSERT_EQUAL(keyring_load(NULL, &kr, err, sizeof(err)), KEYRING_ERR_ARG);
    CU_ASSERT_EQUAL(keyring_load("/nonexistent/x", NULL, err, sizeof(err)), KEYRING_ERR_ARG);
    /* err is optional; a tiny err still gets a terminated prefix. */
    CU_ASSERT_EQUAL(keyring_load("/nonexistent/x", &kr, NULL, 0), KEYRING_ERR_IO);
    CU_ASSERT_EQUAL(keyring_load("/nonexistent/x", &kr, err, 8), KEYRING_ERR_IO);
    CU_ASSERT_EQUAL(strlen(err), 7);
    CU_ASSERT_PTR_NULL(kr);
}

static void test_file_create(void)
{
    struct keyring *kr = NULL;
    struct stat sb;
    const char *p;
    char before[512], after[512];
    FILE *f;
    size_t n1, n2;
    uint8_t dk[DATA_KEY_LEN], back[DATA_KEY_LEN], w[WRAPPED_KEY_LEN];
    uint32_t id = 0;

    tmp_setup();
    p = unit_tmp_path("new.keys");
    CU_ASSERT_EQUAL(keyring_file_create(p, err, sizeof(err)), KEYRING_OK);
    CU_ASSERT_EQUAL_FATAL(lstat(p, &sb), 0);
    CU_ASSERT(S_ISREG(sb.st_mode));
    CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
    CU_ASSERT_EQUAL(sb.st_uid, geteuid());

    CU_ASSERT_EQUAL(keyring_load(p, &kr, err, sizeof(err)), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_count(kr), 1);
    CU_ASSERT_EQUAL(keyring_active_id(kr), 1);
    kek_bytes(0x01, dk, sizeof(dk));
    CU_ASSERT_EQUAL(keyring_wrap(kr, dk, &id, &wrap_scheme, w), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_unwrap(kr, id, KEYRING_SCHEME_FILE_KWP, w, sizeof(w), back), KEYRING_OK);
    CU_ASSERT_EQUAL(memcmp(back, dk, sizeof(dk)), 0);
    keyring_free(kr);

    f = fopen(p, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    n1 = fread(before, 1, sizeof(before), f);
    fclose(f);
    CU_ASSERT(n1 > 44);
    CU_ASSERT_PTR_NOT_NULL(memchr(before, '#', n1));

    /* Refuses to overwrite; the file is untouched. */
    CU_ASSERT_EQUAL(keyring_file_create(p, err, sizeof(err)), KEYRING_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "exists"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, p));
    f = fopen(p, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    n2 = fread(after, 1, sizeof(after), f);
    fclose(f);
    CU_ASSERT_EQUAL(n1, n2);
    CU_ASSERT_EQUAL(memcmp(before, after, n1), 0);

    /* Two files get different keys. */
    CU_ASSERT_EQUAL(keyring_file_create(unit_tmp_path("second.keys"), err, sizeof(err)), KEYRING_OK);
    f = fopen(unit_tmp_path("second.keys"), "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    n2 = fread(after, 1, sizeof(after), f);
    fclose(f);
    CU_ASSERT_EQUAL(n1, n2);
    CU_ASSERT_NOT_EQUAL(memcmp(before, after, n1), 0);

    /* A dangling symlink is not followed to create its target. */
    snprintf(before, sizeof(before), "%s", unit_tmp_path("target"));
    CU_ASSERT_EQUAL_FATAL(symlink(before, unit_tmp_path("dangling")), 0);
    CU_ASSERT_EQUAL(keyring_file_create(unit_tmp_path("dangling"), err, sizeof(err)), KEYRING_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "exists"));
    CU_ASSERT_NOT_EQUAL(lstat(before, &sb), 0);
    CU_ASSERT_EQUAL(errno, ENOENT);

    CU_ASSERT_EQUAL(keyring_file_create(unit_tmp_path("no/such/dir"), err, sizeof(err)),
                    KEYRING_ERR_IO);
    CU_ASSERT_EQUAL(keyring_file_create(NULL, err, sizeof(err)), KEYRING_ERR_ARG);
    unit_tmp_teardown();
}

/* The state of KEK id in the key file at path, or 0 if it cannot be read. */
static enum kek_state state_in_file(const char *path, uint32_t id)
{
    struct keyring *kr = NULL;
    enum kek_state state = (enum kek_state)0;

    if (keyring_load(path, &kr, err, sizeof(err)) == KEYRING_OK &&
        keyring_state(kr, id, &state) != KEYRING_OK)
        state = (enum kek_state)0;
    keyring_free(kr);
    return state;
}

/* The number of entries in unit_tmpdir, to see that no temp file is left. */
static size_t dir_entries(void)
{
    DIR *d = opendir(unit_tmpdir);
    struct dirent *e;
    size_t n = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void test_file_add_rotates_and_keeps_old_keys(void)
{
    struct keyring *kr = NULL;
    struct stat sb;
    uint8_t dk[DATA_KEY_LEN], back[DATA_KEY_LEN], w[WRAPPED_KEY_LEN];
    uint32_t id = 0, new_id = 0;
    char p[256];

    tmp_setup();
    snprintf(p, sizeof(p), "%s", unit_tmp_path("keys"));
    CU_ASSERT_EQUAL_FATAL(keyring_file_create(p, err, sizeof(err)), KEYRING_OK);
    CU_ASSERT_EQUAL_FATAL(keyring_load(p, &kr, err, sizeof(err)), KEYRING_OK);
    kek_bytes(0x21, dk, sizeof(dk));
    CU_ASSERT_EQUAL(keyring_wrap(kr, dk, &id, &wrap_scheme, w), KEYRING_OK);
    CU_ASSERT_EQUAL(id, 1);
    keyring_free(kr);
    kr = NULL;

    /* rotate: the new key is active, the old one stays for decryption. */
    CU_ASSERT_EQUAL(keyring_file_add(p, 1, &new_id, err, sizeof(err)), KEYRING_OK);
    CU_ASSERT_EQUAL(new_id, 2);
    CU_ASSERT_EQUAL(state_in_file(p, 1), KEK_DECRYPT);
    CU_ASSERT_EQUAL(state_in_file(p, 2), KEK_ACTIVE);
    CU_ASSERT_EQUAL_FATAL(keyring_load(p, &kr, err, sizeof(err)), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_count(kr), 2);
    CU_ASSERT_EQUAL(keyring_unwrap(kr, 1, KEYRING_SCHEME_FILE_KWP, w, sizeof(w), back), KEYRING_OK);
    CU_ASSERT_EQUAL(memcmp(back, dk, sizeof(dk)), 0);
    keyring_free(kr);
    kr = NULL;

    /* A key added without make_active only decrypts; ids keep counting. */
    CU_ASSERT_EQUAL(keyring_file_add(p, 0, &new_id, err, sizeof(err)), KEYRING_OK);
    CU_ASSERT_EQUAL(new_id, 3);
    CU_ASSERT_EQUAL(state_in_file(p, 2), KEK_ACTIVE);
    CU_ASSERT_EQUAL(state_in_file(p, 3), KEK_DECRYPT);

    /* Replaced in place: still a 0600 regular file of ours, no temp left;
     * the other entry is its lock file. */
    CU_ASSERT_EQUAL_FATAL(lstat(p, &sb), 0);
    CU_ASSERT(S_ISREG(sb.st_mode));
    CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
    CU_ASSERT_EQUAL(dir_entries(), 2);

    /* A key file that does not load is not rewritten, and a missing one
     * gets no lock file beside it. */
    CU_ASSERT_EQUAL(keyring_file_add(unit_tmp_path("absent"), 1, &new_id, err, sizeof(err)),
                    KEYRING_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, strerror(ENOENT)));
    CU_ASSERT_EQUAL(chmod(p, 0644), 0);
    CU_ASSERT_EQUAL(keyring_file_add(p, 1, &new_id, err, sizeof(err)), KEYRING_ERR_PERM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "chmod 600"));
    CU_ASSERT_EQUAL(chmod(p, 0600), 0);
    CU_ASSERT_EQUAL(state_in_file(p, 2), KEK_ACTIVE);
    CU_ASSERT_EQUAL(dir_entries(), 2);
    CU_ASSERT_EQUAL(keyring_file_add(NULL, 1, &new_id, err, sizeof(err)), KEYRING_ERR_ARG);
    unit_tmp_teardown();
}

static void test_file_retire(void)
{
    struct keyring *kr = NULL;
    uint8_t dk[DATA_KEY_LEN], back[DATA_KEY_LEN], w[WRAPPED_KEY_LEN];
    uint32_t id = 0, new_id = 0;
    char p[256];

    tmp_setup();
    snprintf(p, sizeof(p), "%s", unit_tmp_path("keys"));
    CU_ASSERT_EQUAL_FATAL(keyring_file_create(p, err, sizeof(err)), KEYRING_OK);
    CU_ASSERT_EQUAL_FATAL(keyring_load(p, &kr, err, sizeof(err)), KEYRING_OK);
    kek_bytes(0x42, dk, sizeof(dk));
    CU_ASSERT_EQUAL(keyring_wrap(kr, dk, &id, &wrap_scheme, w), KEYRING_OK);
    keyring_free(kr);
    kr = NULL;

    /* The active KEK and an unknown one cannot be retired. */
    CU_ASSERT_EQUAL(keyring_file_retire(p, 1, err, sizeof(err)), KEYRING_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "is active"));
    CU_ASSERT_EQUAL(state_in_file(p, 1), KEK_ACTIVE);
    CU_ASSERT_EQUAL(keyring_file_retire(p, 9, err, sizeof(err)), KEYRING_ERR_UNKNOWN_KEK);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "no KEK 9"));

    /* After a rotation the old one can: it then refuses to unwrap. */
    CU_ASSERT_EQUAL_FATAL(keyring_file_add(p, 1, &new_id, err, sizeof(err)), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_file_retire(p, 1, err, sizeof(err)), KEYRING_OK);
    CU_ASSERT_EQUAL(state_in_file(p, 1), KEK_RETIRED);
    CU_ASSERT_EQUAL(state_in_file(p, 2), KEK_ACTIVE);
    CU_ASSERT_EQUAL_FATAL(keyring_load(p, &kr, err, sizeof(err)), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_unwrap(kr, 1, KEYRING_SCHEME_FILE_KWP, w, sizeof(w), back), KEYRING_ERR_RETIRED_KEK);
    keyring_free(kr);
    /* Retiring twice is fine; the key is still listed. */
    CU_ASSERT_EQUAL(keyring_file_retire(p, 1, err, sizeof(err)), KEYRING_OK);
    CU_ASSERT_EQUAL(state_in_file(p, 1), KEK_RETIRED);
    CU_ASSERT_EQUAL(dir_entries(), 2);   /* the key file and its lock file */
    CU_ASSERT_EQUAL(keyring_file_retire(NULL, 1, err, sizeof(err)), KEYRING_ERR_ARG);
    CU_ASSERT_EQUAL(keyring_file_retire(unit_tmp_path("absent"), 1, err, sizeof(err)),
                    KEYRING_ERR_IO);
    CU_ASSERT_EQUAL(dir_entries(), 2);
    unit_tmp_teardown();
}

/* ---- the lock file -------------------------------------------------------- */

#define HOLD_MS 300   /* how long hold_lock's child keeps the lock by itself */

static long ms_since(const struct timespec *t0)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - t0->tv_sec) * 1000L + (now.tv_nsec - t0->tv_nsec) / 1000000L;
}

/* "<key file>.lock" for the key file name in unit_tmpdir, into lock. */
static const char *lock_of(const char *name, char *lock, size_t len)
{
    snprintf(lock, len, "%s.lock", unit_tmp_path(name));
    return lock;
}

/* Forks a child that takes an exclusive flock() on lock (creating it 0600)
 * as another sharekeep command would, and keeps it for hold_ms or until the
 * parent closes *release, whichever comes first. Returns once the child
 * holds the lock. */
static pid_t hold_lock(const char *lock, int hold_ms, int *release)
{
    int ready[2], rel[2];
    char c = 0;
    pid_t pid;

    CU_ASSERT_EQUAL_FATAL(pipe(ready), 0);
    CU_ASSERT_EQUAL_FATAL(pipe(rel), 0);
    pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        struct pollfd pfd = { rel[0], POLLIN, 0 };
        int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

        close(ready[0]);
        close(rel[1]);
        if (fd < 0 || flock(fd, LOCK_EX) != 0 || write(ready[1], "x", 1) != 1)
            _exit(1);
        (void)poll(&pfd, 1, hold_ms);
        _exit(0);
    }
    close(ready[1]);
    close(rel[0]);
    CU_ASSERT_EQUAL(read(ready[0], &c, 1), 1);
    close(ready[0]);
    *release = rel[1];
    return pid;
}

/* Lets hold_lock's child go and checks that it exited cleanly. */
static void release_lock(pid_t pid, int release)
{
    int status = -1;

    close(release);
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_file_add_times_out_on_a_held_lock(void)
{
    struct timespec t0;
    char p[256], lock[300];
    uint32_t new_id = 0;
    int release;
    long ms;
    pid_t pid;

    tmp_setup();
    snprintf(p, sizeof(p), "%s", unit_tmp_path("keys"));
    lock_of("keys", lock, sizeof(lock));
    CU_ASSERT_EQUAL_FATAL(keyring_file_create(p, err, sizeof(err)), KEYRING_OK);

    /* Another process holds the lock longer than this call waits. */
    pid = hold_lock(lock, 10000, &release);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CU_ASSERT_EQUAL(keyring_file_add_wait(p, 1, 200, &new_id, err, sizeof(err)), KEYRING_ERR_IO);
    ms = ms_since(&t0);
    CU_ASSERT(ms >= 200);
    CU_ASSERT(ms < 3000);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "gave up after 0.200 s waiting for the lock file"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, lock));
    CU_ASSERT_PTR_NULL(strchr(err, '\n'));
    /* The key file was not touched. */
    CU_ASSERT_EQUAL(state_in_file(p, 1), KEK_ACTIVE);
    CU_ASSERT_EQUAL(state_in_file(p, 2), 0);
    release_lock(pid, release);

    /* Released: the same call goes through at once. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CU_ASSERT_EQUAL(keyring_file_add_wait(p, 1, 200, &new_id, err, sizeof(err)), KEYRING_OK);
    CU_ASSERT(ms_since(&t0) < 200);
    CU_ASSERT_EQUAL(new_id, 2);
    CU_ASSERT_EQUAL(state_in_file(p, 2), KEK_ACTIVE);
    unit_tmp_teardown();
}

/* Each edit waits while another process holds the lock, then goes ahead. */
static void test_file_edits_wait_for_the_lock(void)
{
    struct timespec t0;
    char p[256], lock[300];
    uint32_t new_id = 0;
    int release;
    pid_t pid;

    tmp_setup();
    snprintf(p, sizeof(p), "%s", unit_tmp_path("keys"));
    lock_of("keys", lock, sizeof(lock));

    pid = hold_lock(lock, HOLD_MS, &release);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CU_ASSERT_EQUAL(keyring_file_create(p, err, sizeof(err)), KEYRING_OK);
    CU_ASSERT(ms_since(&t0) >= HOLD_MS - 50);
    release_lock(pid, release);

    pid = hold_lock(lock, HOLD_MS, &release);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CU_ASSERT_EQUAL(keyring_file_add(p, 1, &new_id, err, sizeof(err)), KEYRING_OK);
    CU_ASSERT(ms_since(&t0) >= HOLD_MS - 50);
    CU_ASSERT_EQUAL(new_id, 2);
    release_lock(pid, release);

    pid = hold_lock(lock, HOLD_MS, &release);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CU_ASSERT_EQUAL(keyring_file_retire(p, 1, err, sizeof(err)), KEYRING_OK);
    CU_ASSERT(ms_since(&t0) >= HOLD_MS - 50);
    release_lock(pid, release);

    /* A second keygen waits for the first, then finds the file there. */
    pid = hold_lock(lock, HOLD_MS, &release);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CU_ASSERT_EQUAL(keyring_file_create(p, err, sizeof(err)), KEYRING_ERR_IO);
    CU_ASSERT(ms_since(&t0) >= HOLD_MS - 50);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "already exists"));
    release_lock(pid, release);

    CU_ASSERT_EQUAL(state_in_file(p, 1), KEK_RETIRED);
    CU_ASSERT_EQUAL(state_in_file(p, 2), KEK_ACTIVE);
    unit_tmp_teardown();
}

/* Processes that rotate the same key file at once all get their KEK in. */
#define ADDERS 4
#define ADDS_EACH 10
static void test_concurrent_adds_lose_no_key(void)
{
    struct keyring *kr = NULL;
    pid_t pids[ADDERS];
    char p[256];
    uint32_t id;
    enum kek_state state;
    size_t i, nactive = 0;
    int j, status;

    tmp_setup();
    snprintf(p, sizeof(p), "%s", unit_tmp_path("keys"));
    CU_ASSERT_EQUAL_FATAL(keyring_file_create(p, err, sizeof(err)), KEYRING_OK);
    for (j = 0; j < ADDERS; j++) {
        pids[j] = fork();
        CU_ASSERT_FATAL(pids[j] >= 0);
        if (pids[j] == 0) {
            char cerr[512];
            uint32_t nid;

            for (int k = 0; k < ADDS_EACH; k++)
                if (keyring_file_add(p, 1, &nid, cerr, sizeof(cerr)) != KEYRING_OK)
                    _exit(1);
            _exit(0);
        }
    }
    for (j = 0; j < ADDERS; j++) {
        status = -1;
        CU_ASSERT_EQUAL(waitpid(pids[j], &status, 0), pids[j]);
        CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    /* keyring_load refuses duplicate ids, so loading proves them unique. */
    CU_ASSERT_EQUAL_FATAL(keyring_load(p, &kr, err, sizeof(err)), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_count(kr), 1 + ADDERS * ADDS_EACH);
    for (i = 0; i < keyring_count(kr); i++) {
        CU_ASSERT_EQUAL(keyring_key_info(kr, i, &id, &state), KEYRING_OK);
        CU_ASSERT(id >= 1 && id <= 1 + ADDERS * ADDS_EACH);
        nactive += state == KEK_ACTIVE;
    }
    CU_ASSERT_EQUAL(nactive, 1);
    CU_ASSERT_EQUAL(keyring_active_id(kr), 1 + ADDERS * ADDS_EACH);
    keyring_free(kr);
    CU_ASSERT_EQUAL(dir_entries(), 2);
    unit_tmp_teardown();
}

/* The lock file: an empty 0600 file of ours, checked like the key file, and
 * never a keyring. */
static void test_lock_file_rules(void)
{
    struct keyring *kr = NULL;
    struct stat sb;
    char p[256], lock[300], other[300];
    uint32_t new_id = 0;

    tmp_setup();
    snprintf(p, sizeof(p), "%s", unit_tmp_path("keys"));
    lock_of("keys", lock, sizeof(lock));
    CU_ASSERT_EQUAL_FATAL(keyring_file_create(p, err, sizeof(err)), KEYRING_OK);
    CU_ASSERT_EQUAL_FATAL(lstat(lock, &sb), 0);
    CU_ASSERT(S_ISREG(sb.st_mode));
    CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
    CU_ASSERT_EQUAL(sb.st_uid, geteuid());
    CU_ASSERT_EQUAL(sb.st_size, 0);
    CU_ASSERT_EQUAL(keyring_load(lock, &kr, err, sizeof(err)), KEYRING_ERR_NO_ACTIVE);
    CU_ASSERT_PTR_NULL(kr);

    /* Too open: refused, and the key file is left alone. */
    CU_ASSERT_EQUAL(chmod(lock, 0644), 0);
    CU_ASSERT_EQUAL(keyring_file_add(p, 1, &new_id, err, sizeof(err)), KEYRING_ERR_PERM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, lock));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "0644"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "chmod 600"));
    CU_ASSERT_EQUAL(keyring_file_retire(p, 1, err, sizeof(err)), KEYRING_ERR_PERM);
    CU_ASSERT_EQUAL(chmod(lock, 0640), 0);
    CU_ASSERT_EQUAL(keyring_file_add(p, 1, &new_id, err, sizeof(err)), KEYRING_ERR_PERM);
    CU_ASSERT_EQUAL(state_in_file(p, 2), 0);

    /* A symbolic link is not followed, even to a good lock file. */
    CU_ASSERT_EQUAL(chmod(lock, 0600), 0);
    snprintf(other, sizeof(other), "%s", unit_tmp_path("elsewhere"));
    CU_ASSERT_EQUAL_FATAL(rename(lock, other), 0);
    CU_ASSERT_EQUAL_FATAL(symlink(other, lock), 0);
    CU_ASSERT_EQUAL(keyring_file_add(p, 1, &new_id, err, sizeof(err)), KEYRING_ERR_PERM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "symbolic link"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, lock));
    CU_ASSERT_EQUAL_FATAL(unlink(lock), 0);

    /* Not a regular file: a directory, a FIFO (refused, not waited on). */
    CU_ASSERT_EQUAL_FATAL(mkdir(lock, 0700), 0);
    CU_ASSERT_EQUAL(keyring_file_add(p, 1, &new_id, err, sizeof(err)), KEYRING_ERR_PERM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a regular file"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, lock));
    CU_ASSERT_EQUAL_FATAL(rmdir(lock), 0);
    CU_ASSERT_EQUAL_FATAL(mkfifo(lock, 0600), 0);
    CU_ASSERT_EQUAL(keyring_file_add(p, 1, &new_id, err, sizeof(err)), KEYRING_ERR_PERM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a regular file"));
    CU_ASSERT_EQUAL_FATAL(unlink(lock), 0);
    CU_ASSERT_EQUAL(state_in_file(p, 2), 0);

    /* keygen obeys the same rules before it creates anything. */
    CU_ASSERT_EQUAL(close(open(lock_of("new", other, sizeof(other)), O_WRONLY | O_CREAT, 0600)), 0);
    CU_ASSERT_EQUAL(chmod(other, 0606), 0);
    CU_ASSERT_EQUAL(keyring_file_create(unit_tmp_path("new"), err, sizeof(err)), KEYRING_ERR_PERM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "chmod 600"));
    CU_ASSERT_NOT_EQUAL(lstat(unit_tmp_path("new"), &sb), 0);

    if (geteuid() == 0) {   /* only root can give a file away */
        CU_ASSERT_EQUAL(close(open(lock, O_WRONLY | O_CREAT, 0600)), 0);
        CU_ASSERT_EQUAL_FATAL(chown(lock, NOBODY_UID, NOBODY_UID), 0);
        CU_ASSERT_EQUAL(keyring_file_add(p, 1, &new_id, err, sizeof(err)), KEYRING_ERR_PERM);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "owned by user nobody (uid 65534)"));
        CU_ASSERT_PTR_NULL(strstr(err, "chown"));
        CU_ASSERT_EQUAL_FATAL(unlink(lock), 0);
    }

    /* A lock file that went missing is made again. */
    CU_ASSERT_EQUAL(keyring_file_add(p, 1, &new_id, err, sizeof(err)), KEYRING_OK);
    CU_ASSERT_EQUAL(new_id, 2);
    CU_ASSERT_EQUAL_FATAL(lstat(lock, &sb), 0);
    CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
    unit_tmp_teardown();
}

/* Nothing but secure_heap_start starts the secure heap (main calls it first
 * thing); keys added after it live there. Runs after every other test that
 * builds or loads a keyring, none of which may have started it. */
static void test_keys_live_in_secure_heap(void)
{
    struct keyring *kr = NULL;
    char b[64], text[256];
    uint8_t k[KEK_LEN];
    size_t used;

    CU_ASSERT_FALSE_FATAL(CRYPTO_secure_malloc_initialized());
    tmp_setup();
    snprintf(text, sizeof(text), "kek 1 active %s\n", b64_of(0x10, 32, b));
    CU_ASSERT_EQUAL_FATAL(keyring_load(unit_write_file("k", text, 0600), &kr, err, sizeof(err)),
                          KEYRING_OK);
    keyring_free(kr);
    kr = NULL;
    unit_tmp_teardown();
    CU_ASSERT_FALSE(CRYPTO_secure_malloc_initialized());

    CU_ASSERT_EQUAL_FATAL(secure_heap_start(), 1);
    CU_ASSERT(CRYPTO_secure_malloc_initialized());
    CU_ASSERT_EQUAL(secure_heap_start(), 1);   /* again: harmless */

    kek_bytes(0x10, k, sizeof(k));
    CU_ASSERT_EQUAL_FATAL(keyring_new(&kr), KEYRING_OK);
    used = CRYPTO_secure_used();
    CU_ASSERT_EQUAL(keyring_add(kr, 1, KEK_ACTIVE, k, sizeof(k)), KEYRING_OK);
    CU_ASSERT(CRYPTO_secure_used() >= used + KEK_LEN);
    keyring_free(kr);
    CU_ASSERT_EQUAL(CRYPTO_secure_used(), used);
}

static void test_strerror(void)
{
    keyring_status st;

    for (st = KEYRING_OK; st <= KEYRING_ERR_NOMEM; st++) {
        CU_ASSERT_PTR_NOT_NULL(keyring_strerror(st));
        CU_ASSERT(strlen(keyring_strerror(st)) > 1);
    }
    CU_ASSERT_PTR_NOT_NULL(keyring_strerror((keyring_status)99));
}

/* Log tags are keyed by the lowest-id KEK: HMAC-SHA256 under the derived
 * key, so a guessed client id cannot be tested against a log without the
 * keyring; they are the same for every worker and after a rotation. */
static void test_log_tags_are_keyed(void)
{
    static const char label[] = "sharekeep log tag v1";
    uint8_t k1[KEK_LEN], k2[KEK_LEN], key[32], key2[32], want_key[32], md[32];
    char tag[LOG_CLIENT_TAG_LEN], tag2[LOG_CLIENT_TAG_LEN], hex[17];
    struct keyring *kr = NULL, *kr2 = NULL;
    unsigned int len = 0;

    memset(k1, 0x21, sizeof(k1));
    memset(k2, 0x42, sizeof(k2));
    log_set_tag_key(NULL);
    log_client_tag("client-1", 8, tag);
    CU_ASSERT_STRING_EQUAL(tag, "-");
    CU_ASSERT_EQUAL_FATAL(keyring_new(&kr), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_add(kr, 7, KEK_ACTIVE, k2, sizeof(k2)), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_add(kr, 3, KEK_DECRYPT, k1, sizeof(k1)), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_log_tag_key(kr, key), KEYRING_OK);
    /* The lowest id (3), not the first added or the active one. */
    HMAC(EVP_sha256(), k1, (int)sizeof(k1), (const unsigned char *)label, sizeof(label) - 1,
         want_key, &len);
    CU_ASSERT_EQUAL(memcmp(key, want_key, 32), 0);
    log_set_tag_key(key);
    log_client_tag("client-1", 8, tag);
    HMAC(EVP_sha256(), key, 32, (const unsigned char *)"client-1", 8, md, &len);
    for (int i = 0; i < 8; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    CU_ASSERT_STRING_EQUAL(tag, hex);
    log_client_tag("client-2", 8, tag2);
    CU_ASSERT_STRING_NOT_EQUAL(tag, tag2);
    /* Another keyring, another tag for the same id. */
    CU_ASSERT_EQUAL_FATAL(keyring_new(&kr2), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_add(kr2, 1, KEK_ACTIVE, k2, sizeof(k2)), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_log_tag_key(kr2, key2), KEYRING_OK);
    log_set_tag_key(key2);
    log_client_tag("client-1", 8, tag2);
    CU_ASSERT_STRING_NOT_EQUAL(tag, tag2);
    log_set_tag_key(NULL);
    keyring_free(kr);
    keyring_free(kr2);
}

int unit_register(void)
{
    static const struct unit_test file_tests[] = {
        { "a good key file loads", test_load_good_file },
        { "loaded key bytes are the file's bytes", test_loaded_key_bytes_are_the_file_bytes },
        { "group/other mode bits are refused", test_open_mode_refused },
        { "a symlink is refused", test_symlink_refused },
        { "missing file, directory and FIFO", test_missing_file_and_not_regular },
        { "a file owned by another uid is refused", test_foreign_owner_refused },
        { "a file over KEYRING_FILE_MAX is refused", test_oversized_file_refused },
        { "malformed lines are parse errors", test_malformed_lines },
        { "bad base64 and wrong key lengths", test_bad_base64_and_key_length },
        { "duplicate ids and the one-active rule", test_duplicate_and_active_rules },
        { "at most KEYRING_KEYS_MAX keys", test_key_count_limit },
        { "load argument checks", test_load_arguments },
        { "keyring_file_create writes a 0600 file once", test_file_create },
        { "keyring_file_add rotates and keeps the old keys",
          test_file_add_rotates_and_keeps_old_keys },
        { "keyring_file_retire retires only non-active keys", test_file_retire },
        { "keyring_file_add gives up on a lock held past its wait",
          test_file_add_times_out_on_a_held_lock },
        { "create, add and retire wait for a held lock", test_file_edits_wait_for_the_lock },
        { "concurrent adds to one key file lose no key", test_concurrent_adds_lose_no_key },
        { "the lock file is a 0600 file of ours, never a keyring", test_lock_file_rules },
        { NULL, NULL },
    };
    static const struct unit_test key_tests[] = {
        { "wrap and unwrap by KEK state", test_wrap_unwrap },
        { "in-memory builder rules", test_in_memory_builder_rules },
        { "every status has a message", test_strerror },
        { "log tags are keyed by the lowest-id KEK", test_log_tags_are_keyed },
        /* Last: it starts the secure heap, which no earlier test may. */
        { "only secure_heap_start starts the secure heap; keys live there",
          test_keys_live_in_secure_heap },
        { NULL, NULL },
    };

    if (unit_add_suite("keyring file", file_tests) != 0)
        return -1;
    return unit_add_suite("keyring keys", key_tests);
}
