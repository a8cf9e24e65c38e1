/* The PKCS#11 KEK backend against a real token: a SoftHSM2 token made by
 * this test in its own temp dir (SOFTHSM2_CONF), loaded directly. The
 * out-of-process setup (p11-kit server) is tests/integration/t_token.sh.
 *
 * Skipped (exit 77) where SoftHSM2 is not installed; .ci/run installs it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "keyring.h"
#include "seal.h"
#include "unit.h"

#define SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define TOKEN_LABEL    "sk-unit"

static char dir[32], keys_path[64], pin_path[64], conf_path[64];
static char err[512];
static struct keyring_token_config tc = { SOFTHSM_MODULE, "pkcs11:token=" TOKEN_LABEL, NULL };

/* The import tool (tests/tools/p11_import_key), built beside this test. */
static const char *import_tool(void)
{
    const char *t = getenv("P11_IMPORT_KEY");

    return t != NULL ? t : "tests/tools/p11_import_key";
}

static int run(const char *cmd)
{
    int rc = system(cmd);

    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Not a CUnit assertion: suite setup calls it too. */
static int write_text(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");

    if (f == NULL)
        return -1;
    fputs(text, f);
    fclose(f);
    return chmod(path, mode);
}

static int setup(void)
{
    char cmd[512];

    snprintf(dir, sizeof(dir), "/tmp/sk-p11-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(keys_path, sizeof(keys_path), "%s/keys", dir);
    snprintf(pin_path, sizeof(pin_path), "%s/pin", dir);
    snprintf(conf_path, sizeof(conf_path), "%s/softhsm2.conf", dir);
    snprintf(cmd, sizeof(cmd), "mkdir -p %s/tokens && printf 'directories.tokendir = %s/tokens\\n"
             "objectstore.backend = file\\nlog.level = ERROR\\n' > %s", dir, dir, conf_path);
    if (run(cmd) != 0)
        return -1;
    setenv("SOFTHSM2_CONF", conf_path, 1);
    snprintf(cmd, sizeof(cmd), "softhsm2-util --init-token --free --label %s --pin 1234 "
             "--so-pin 5678 >/dev/null", TOKEN_LABEL);
    if (run(cmd) != 0)
        return -1;
    tc.pin_file = pin_path;
    return write_text(pin_path, "1234\n", 0600);
}

static int teardown(void)
{
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return run(cmd) == 0 ? 0 : -1;
}

static void fresh_keys(const char *text)
{
    unlink(keys_path);
    if (text != NULL)
        CU_ASSERT_EQUAL_FATAL(write_text(keys_path, text, 0600), 0);
}

/* Imports a known AES-256 key as KEK id into the token. */
static int import_key(uint32_t id, const uint8_t key[32], int extractable)
{
    char cmd[768], hex[65];

    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    snprintf(cmd, sizeof(cmd), "%s %s %s %s sharekeep-kek-%u %08x %s%s >/dev/null", import_tool(),
             SOFTHSM_MODULE, TOKEN_LABEL, pin_path, id, id, hex,
             extractable ? " --extractable" : "");
    return run(cmd);
}

static struct keyring *load_ok(void)
{
    struct keyring *kr = NULL;
    keyring_status st = keyring_load_with(keys_path, &tc, &kr, err, sizeof(err));

    if (st != KEYRING_OK)
        fprintf(stderr, "\n  load: %s\n", err);
    CU_ASSERT_EQUAL(st, KEYRING_OK);
    return kr;
}

static void test_generate_and_wrap(void)
{
    struct keyring *kr;
    uint8_t dk[DATA_KEY_LEN], back[DATA_KEY_LEN], w[WRAPPED_KEY_LEN], scheme = 9;
    uint32_t id = 0, kid;
    enum kek_state state;

    fresh_keys(NULL);
    CU_ASSERT_EQUAL_FATAL(keyring_file_add_key(keys_path, &tc, 1, 1, &id, err, sizeof(err)),
                          KEYRING_OK);
    CU_ASSERT_EQUAL(id, 1);
    kr = load_ok();
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    CU_ASSERT_EQUAL(keyring_active_id(kr), 1);
    CU_ASSERT_EQUAL(keyring_key_backend(kr, 0), KEK_BACKEND_PKCS11);
    memset(dk, 0x42, sizeof(dk));
    CU_ASSERT_EQUAL(keyring_wrap(kr, dk, &kid, &scheme, w), KEYRING_OK);
    CU_ASSERT_EQUAL(kid, 1);
    /* SoftHSM2's CKM_AES_KEY_WRAP_PAD computes RFC 5649 (the known-answer
     * test proved it at connect). */
    CU_ASSERT_EQUAL(scheme, KEYRING_SCHEME_P11_KWP);
    CU_ASSERT_EQUAL(keyring_unwrap(kr, 1, scheme, w, sizeof(w), back), KEYRING_OK);
    CU_ASSERT_EQUAL(memcmp(dk, back, sizeof(dk)), 0);
    /* Wrapped under another scheme, or as a file KEK's, it does not open. */
    CU_ASSERT_EQUAL(keyring_unwrap(kr, 1, KEYRING_SCHEME_P11_KW, w, sizeof(w), back),
                    KEYRING_ERR_CRYPTO);
    CU_ASSERT_EQUAL(keyring_unwrap(kr, 1, KEYRING_SCHEME_FILE_KWP, w, sizeof(w), back),
                    KEYRING_ERR_CRYPTO);
    /* A damaged wrap is the record's fault, not the token's. */
    w[5] ^= 1;
    CU_ASSERT_EQUAL(keyring_unwrap(kr, 1, scheme, w, sizeof(w), back), KEYRING_ERR_CRYPTO);
    w[5] ^= 1;
    CU_ASSERT_EQUAL(keyring_unwrap(kr, 1, scheme, w, sizeof(w), back), KEYRING_OK);
    CU_ASSERT_EQUAL(keyring_key_info(kr, 0, &kid, &state), KEYRING_OK);
    CU_ASSERT_EQUAL(state, KEK_ACTIVE);
    keyring_free(kr);
    /* The same id again: the token already has a key with that label. */
    fresh_keys(NULL);
    CU_ASSERT_EQUAL(keyring_file_add_key(keys_path, &tc, 1, 1, &id, err, sizeof(err)),
                    KEYRING_ERR_TOKEN);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "already in the token"));
    CU_ASSERT_EQUAL(access(keys_path, F_OK), -1);
}

/* What the token computes is RFC 5649 as OpenSSL computes it, both ways. */
static void test_token_computes_rfc5649(void)
{
    uint8_t kek[32], dk[DATA_KEY_LEN], w[WRAPPED_KEY_LEN], want[WRAPPED_KEY_LEN + 8];
    uint8_t back[DATA_KEY_LEN], scheme = 0;
    struct keyring *kr;
    EVP_CIPHER_CTX *c;
    int n = 0, f = 0;
    uint32_t kid;

    for (int i = 0; i < 32; i++) {
        kek[i] = (uint8_t)(0x70 + i);
        dk[i] = (uint8_t)(3 * i);
    }
    CU_ASSERT_EQUAL_FATAL(import_key(7, kek, 0), 0);
    fresh_keys("kek 7 active pkcs11\n");
    kr = load_ok();
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    c = EVP_CIPHER_CTX_new();
    EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    CU_ASSERT_EQUAL(EVP_EncryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, kek, NULL), 1);
    CU_ASSERT_EQUAL(EVP_EncryptUpdate(c, want, &n, dk, sizeof(dk)), 1);
    CU_ASSERT_EQUAL(EVP_EncryptFinal_ex(c, want + n, &f), 1);
    CU_ASSERT_EQUAL(n + f, WRAPPED_KEY_LEN);
    EVP_CIPHER_CTX_free(c);
    CU_ASSERT_EQUAL(keyring_wrap(kr, dk, &kid, &scheme, w), KEYRING_OK);
    CU_ASSERT_EQUAL(scheme, KEYRING_SCHEME_P11_KWP);
    CU_ASSERT_EQUAL(memcmp(w, want, WRAPPED_KEY_LEN), 0);
    CU_ASSERT_EQUAL(keyring_unwrap(kr, 7, scheme, want, WRAPPED_KEY_LEN, back), KEYRING_OK);
    CU_ASSERT_EQUAL(memcmp(back, dk, sizeof(dk)), 0);
    keyring_free(kr);
}

static void test_refusals(void)
{
    static const uint8_t kek[32] = { 9, 9, 9 };
    struct keyring *kr = NULL;
    struct keyring_token_config bad = tc;

    /* An extractable KEK could be copied out of the token: refused. */
    CU_ASSERT_EQUAL_FATAL(import_key(20, kek, 1), 0);
    fresh_keys("kek 20 active pkcs11\n");
    CU_ASSERT_EQUAL(keyring_load_with(keys_path, &tc, &kr, err, sizeof(err)), KEYRING_ERR_TOKEN);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "sharekeep-kek-20"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "can leave the token"));
    CU_ASSERT_PTR_NULL(kr);
    /* A KEK the file lists but the token does not hold. */
    fresh_keys("kek 21 active pkcs11\n");
    CU_ASSERT_EQUAL(keyring_load_with(keys_path, &tc, &kr, err, sizeof(err)),
                    KEYRING_ERR_UNKNOWN_KEK);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "no secret key labelled 'sharekeep-kek-21'"));
    CU_ASSERT_EQUAL_FATAL(import_key(22, kek, 0), 0);
    /* A token line with no token configured. */
    fresh_keys("kek 23 active pkcs11\n");
    CU_ASSERT_EQUAL(keyring_load(keys_path, &kr, err, sizeof(err)), KEYRING_ERR_TOKEN);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "pkcs11_uri is not set"));
    /* A wrong PIN, a PIN inside the URI, a token nobody has. */
    fresh_keys("kek 22 active pkcs11\n");
    write_text(pin_path, "9999\n", 0600);
    CU_ASSERT_EQUAL(keyring_load_with(keys_path, &tc, &kr, err, sizeof(err)), KEYRING_ERR_TOKEN);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "login refused"));
    CU_ASSERT_PTR_NULL(strstr(err, "9999"));
    write_text(pin_path, "1234\n", 0600);
    bad.uri = "pkcs11:token=" TOKEN_LABEL ";pin-value=1234";
    CU_ASSERT_EQUAL(keyring_load_with(keys_path, &bad, &kr, err, sizeof(err)), KEYRING_ERR_TOKEN);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "carries a PIN"));
    bad.uri = "pkcs11:token=nobody-has-this";
    CU_ASSERT_NOT_EQUAL(keyring_load_with(keys_path, &bad, &kr, err, sizeof(err)), KEYRING_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "no token present matches"));
    /* A PIN file anyone can read is refused like every secret file. */
    chmod(pin_path, 0644);
    CU_ASSERT_NOT_EQUAL(keyring_load_with(keys_path, &tc, &kr, err, sizeof(err)), KEYRING_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "pkcs11_pin_file"));
    chmod(pin_path, 0600);
    fresh_keys("kek 22 active pkcs11\n");
    kr = load_ok();
    keyring_free(kr);
}

/* Records move between the key file and the token and back with rewrap,
 * their ciphertext untouched. */
static void test_rewrap_file_to_token_and_back(void)
{
    struct seal_context c = { "alice", 5, SHARE_KIND_CUSTODIAN, 1, "GDRIVE", 6, "", 0 };
    static const uint8_t share[] = "a custodian share";
    uint8_t *rec = NULL, *moved = NULL, *back = NULL, *plain = NULL;
    size_t rec_len = 0, moved_len = 0, back_len = 0, plain_len = 0;
    struct keyring *kr;
    uint32_t id = 0, kid = 0;
    unsigned scheme = 9;

    fresh_keys(NULL);
    CU_ASSERT_EQUAL_FATAL(keyring_file_add_key(keys_path, NULL, 1, 1, &id, err, sizeof(err)),
                          KEYRING_OK);
    kr = load_ok();
    CU_ASSERT_EQUAL_FATAL(seal_share(kr, &c, share, sizeof(share) - 1, &rec, &rec_len), SEAL_OK);
    keyring_free(kr);
    /* rotate: the new active KEK is generated in the token. */
    CU_ASSERT_EQUAL_FATAL(keyring_file_add_key(keys_path, &tc, 0, 1, &id, err, sizeof(err)),
                          KEYRING_OK);
    CU_ASSERT_EQUAL(id, 2);
    kr = load_ok();
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    CU_ASSERT_EQUAL(keyring_key_backend(kr, 0), KEK_BACKEND_FILE);
    CU_ASSERT_EQUAL(keyring_key_backend(kr, 1), KEK_BACKEND_PKCS11);
    CU_ASSERT_EQUAL_FATAL(seal_rewrap(kr, rec, rec_len, &moved, &moved_len), SEAL_OK);
    CU_ASSERT_EQUAL(seal_record_kek(moved, moved_len, &kid), SEAL_OK);
    CU_ASSERT_EQUAL(kid, 2);
    CU_ASSERT_EQUAL(seal_record_scheme(moved, moved_len, &scheme), SEAL_OK);
    CU_ASSERT_EQUAL(scheme, KEYRING_SCHEME_P11_KWP);
    /* Salt, commitment, nonce, ciphertext and tag are the same bytes. */
    CU_ASSERT_EQUAL(memcmp(moved + 52, rec + 52, rec_len - 52), 0);
    CU_ASSERT_EQUAL(seal_open(kr, &c, moved, moved_len, &plain, &plain_len), SEAL_OK);
    CU_ASSERT_EQUAL(plain_len, sizeof(share) - 1);
    seal_buf_free(plain, plain_len);
    keyring_free(kr);
    /* rotate --backend file, rewrap: back in the key file. */
    CU_ASSERT_EQUAL_FATAL(keyring_file_add_key(keys_path, NULL, 0, 1, &id, err, sizeof(err)),
                          KEYRING_OK);
    kr = load_ok();
    CU_ASSERT_EQUAL_FATAL(seal_rewrap(kr, moved, moved_len, &back, &back_len), SEAL_OK);
    CU_ASSERT_EQUAL(seal_record_scheme(back, back_len, &scheme), SEAL_OK);
    CU_ASSERT_EQUAL(scheme, KEYRING_SCHEME_FILE_KWP);
    CU_ASSERT_EQUAL(seal_record_kek(back, back_len, &kid), SEAL_OK);
    CU_ASSERT_EQUAL(kid, 3);
    CU_ASSERT_EQUAL(seal_open(kr, &c, back, back_len, &plain, &plain_len), SEAL_OK);
    seal_buf_free(plain, plain_len);
    keyring_free(kr);
    seal_buf_free(rec, rec_len);
    seal_buf_free(moved, moved_len);
    seal_buf_free(back, back_len);
}

/* A child after fork opens its own session; the parent's keeps working. */
static void test_fork_opens_own_session(void)
{
    uint8_t dk[DATA_KEY_LEN] = { 7 }, w[WRAPPED_KEY_LEN], back[DATA_KEY_LEN], scheme;
    struct keyring *kr;
    uint32_t id = 0, kid;
    int status = -1;
    pid_t pid;

    /* keygen always makes KEK 1; its own label prefix (the URI's object=)
     * keeps it apart from the first test's. */
    tc.uri = "pkcs11:token=" TOKEN_LABEL ";object=fork-kek-";
    fresh_keys(NULL);
    CU_ASSERT_EQUAL_FATAL(keyring_file_add_key(keys_path, &tc, 1, 1, &id, err, sizeof(err)),
                          KEYRING_OK);
    kr = load_ok();
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    keyring_connect(kr, 0);   /* the parent connected before the fork */
    CU_ASSERT_EQUAL(keyring_wrap(kr, dk, &kid, &scheme, w), KEYRING_OK);
    pid = fork();
    if (pid == 0) {
        uint8_t w2[WRAPPED_KEY_LEN], b2[DATA_KEY_LEN], s2;
        uint32_t k2;
        int ok = keyring_unwrap(kr, kid, scheme, w, sizeof(w), b2) == KEYRING_OK &&
                 memcmp(b2, dk, sizeof(dk)) == 0 &&
                 keyring_wrap(kr, dk, &k2, &s2, w2) == KEYRING_OK;
        _exit(ok ? 0 : 1);
    }
    CU_ASSERT_FATAL(pid > 0);
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CU_ASSERT_EQUAL(keyring_unwrap(kr, kid, scheme, w, sizeof(w), back), KEYRING_OK);
    CU_ASSERT_EQUAL(memcmp(back, dk, sizeof(dk)), 0);
    keyring_free(kr);
    tc.uri = "pkcs11:token=" TOKEN_LABEL;
}

/* The log tag key of a token KEK: the same on every load, not a file's. */
static void test_log_tag_from_token(void)
{
    uint8_t t1[32], t2[32];
    struct keyring *kr;
    uint32_t id = 0;

    tc.uri = "pkcs11:token=" TOKEN_LABEL ";object=tag-kek-";
    fresh_keys(NULL);
    CU_ASSERT_EQUAL_FATAL(keyring_file_add_key(keys_path, &tc, 1, 1, &id, err, sizeof(err)),
                          KEYRING_OK);
    kr = load_ok();
    CU_ASSERT_EQUAL(keyring_log_tag_key(kr, t1), KEYRING_OK);
    keyring_free(kr);
    kr = load_ok();
    CU_ASSERT_EQUAL(keyring_log_tag_key(kr, t2), KEYRING_OK);
    CU_ASSERT_EQUAL(memcmp(t1, t2, 32), 0);
    keyring_free(kr);
    tc.uri = "pkcs11:token=" TOKEN_LABEL;
}

int unit_register(void)
{
    static const struct unit_test tests[] = {
        { "keygen in the token, wrap and unwrap, damaged wraps", test_generate_and_wrap },
        { "the token computes RFC 5649 as OpenSSL does", test_token_computes_rfc5649 },
        { "extractable, missing, unconfigured and mis-logged keys are refused", test_refusals },
        { "rewrap moves a record file -> token -> file", test_rewrap_file_to_token_and_back },
        { "a forked child opens its own token session", test_fork_opens_own_session },
        { "the log tag key from a token KEK is stable", test_log_tag_from_token },
        { NULL, NULL },
    };
    CU_pSuite s;

    if (access(SOFTHSM_MODULE, R_OK) != 0 || run("command -v softhsm2-util >/dev/null") != 0) {
        fprintf(stderr, "SKIP: SoftHSM2 not installed (apt-get install softhsm2)\n");
        exit(77);
    }
    s = CU_add_suite("keyring pkcs11 (SoftHSM2)", setup, teardown);
    if (s == NULL)
        return -1;
    for (const struct unit_test *t = tests; t->name != NULL; t++)
        if (CU_add_test(s, t->name, t->fn) == NULL)
            return -1;
    return 0;
}
