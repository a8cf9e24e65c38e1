/* bench/micro/storepath.c: CPU cost of the pieces of sharekeep's store path
 * that run inside a worker, without HTTP or PostgreSQL, in ns per call.
 *
 *   bench/micro/run            builds against ./libsharekeep.a and runs
 *   bench/micro/run --alt F.c  the same with F.c linked in place of its src/ twin
 *
 * The body, share and signature look like the ones bench/run sends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "auth_webhook.h"
#include "body.h"
#include "keyring.h"

static uint8_t wrap_scheme;
#include "seal.h"

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

#define BENCH(name, iters, ...)                                                    \
    do {                                                                           \
        double t0_ = now_ns();                                                     \
        for (long i_ = 0; i_ < (iters); i_++) {                                    \
            __VA_ARGS__;                                                           \
        }                                                                          \
        printf("%-44s %9.0f ns\n", name, (now_ns() - t0_) / (double)(iters));      \
    } while (0)

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 20000;
    size_t share_len = argc > 2 ? (size_t)atol(argv[2]) : 2048;
    struct keyring *kr = NULL;
    uint8_t kek[KEK_LEN], mackey[32];
    uint8_t *share = malloc(share_len), *body;
    struct seal_context ctx = { "s16w8-123456", 12, SHARE_KIND_CUSTODIAN, 1, "GDRIVE", 6, NULL, 0 };
    struct webhook_secrets *ws = NULL;
    char secret_line[128], err[256];
    size_t body_len;
    uint8_t *rec = NULL, *plain = NULL, digest[32];
    size_t rec_len = 0, plain_len = 0;
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    RAND_bytes(kek, sizeof(kek));
    RAND_bytes(mackey, sizeof(mackey));
    if (keyring_new(&kr) != KEYRING_OK || keyring_add(kr, 1, KEK_ACTIVE, kek, KEK_LEN) != KEYRING_OK) {
        fprintf(stderr, "keyring setup failed\n");
        return 1;
    }
    for (size_t i = 0; i < share_len; i++)
        share[i] = (uint8_t)b64[rand() % 64];
    body = malloc(share_len + 64);
    body_len = (size_t)sprintf((char *)body, "{\"clientId\":\"%s\",\"share\":\"%.*s\"}",
                               ctx.client_id, (int)share_len, (const char *)share);
    {
        uint8_t e[64];
        int l = EVP_EncodeBlock(e, mackey, 32);
        snprintf(secret_line, sizeof(secret_line), "whsec_%.*s\n", l, (const char *)e);
    }
    if (webhook_secrets_parse(secret_line, strlen(secret_line), WEBHOOK_STANDARD, &ws, err,
                              sizeof(err)) != 0) {
        fprintf(stderr, "secrets: %s\n", err);
        return 1;
    }
    /* a valid signature for the body */
    char sig[80];
    {
        uint8_t mac[32], e[64];
        size_t ml = 0;
        size_t hl = strlen("msg_x.1700000000.");
        uint8_t *m = malloc(hl + body_len);
        memcpy(m, "msg_x.1700000000.", hl);
        memcpy(m + hl, body, body_len);
        EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, mackey, 32, m, hl + body_len, mac,
                  sizeof(mac), &ml);
        EVP_EncodeBlock(e, mac, 32);
        snprintf(sig, sizeof(sig), "v1,%s", (const char *)e);
        free(m);
    }

    printf("%ld iterations, share %zu bytes, body %zu bytes\n", n, share_len, body_len);
    BENCH("seal_share", n, {
        if (seal_share(kr, &ctx, share, share_len, &rec, &rec_len) != SEAL_OK) abort();
        seal_buf_free(rec, rec_len);
    });
    if (seal_share(kr, &ctx, share, share_len, &rec, &rec_len) != SEAL_OK) abort();
    BENCH("seal_open", n, {
        if (seal_open(kr, &ctx, rec, rec_len, &plain, &plain_len) != SEAL_OK) abort();
        seal_buf_free(plain, plain_len);
    });
    BENCH("webhook_verify_standard (HMAC-SHA256 body)", n, {
        if (webhook_verify_standard(ws, "msg_x", "1700000000", sig, body, body_len, 1700000000,
                                    300) != WH_OK) abort();
    });
    BENCH("EVP_Digest SHA-256 body (delivery digest)", n,
          EVP_Digest(body, body_len, digest, NULL, EVP_sha256(), NULL));
    BENCH("body_parse (json_strict + json-c)", n, {
        struct body_doc doc = { 0 };
        const char *why = NULL;
        if (body_parse(body, body_len, &doc, &why) != BODY_OK) abort();
        body_doc_free(&doc);
    });
    printf("-- pieces --\n");
    BENCH("keyring_wrap (AES-256-KWP, 32 bytes)", n, {
        uint8_t dk[DATA_KEY_LEN] = { 1 }, w[WRAPPED_KEY_LEN];
        uint32_t id;
        keyring_wrap(kr, dk, &id, &wrap_scheme, w);
    });
    BENCH("HKDF-SHA-512 via EVP_KDF, fetch per call", n, {
        uint8_t ikm[32] = { 1 }, salt[32] = { 2 }, out[32];
        char dg[] = "SHA512";
        OSSL_PARAM p[5];
        EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
        EVP_KDF_CTX *kc = EVP_KDF_CTX_new(kdf);
        p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, dg, 0);
        p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm, 32);
        p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, 32);
        p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, salt, 32);
        p[4] = OSSL_PARAM_construct_end();
        EVP_KDF_derive(kc, out, 32, p);
        EVP_KDF_CTX_free(kc);
        EVP_KDF_free(kdf);
    });
    BENCH("HMAC-SHA-512 one block via EVP_Q_mac", n, {
        uint8_t k[32] = { 1 }, m[64] = { 2 }, out[64];
        size_t ol;
        EVP_Q_mac(NULL, "HMAC", NULL, "SHA512", NULL, k, 32, m, 64, out, 64, &ol);
    });
    BENCH("AES-256-GCM encrypt 2 KiB, EVP_aes_256_gcm()", n, {
        static uint8_t key[32], iv[12], ct[4096], tag[16];
        int ol = 0, fl = 0;
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv);
        EVP_EncryptUpdate(c, ct, &ol, share, (int)share_len);
        EVP_EncryptFinal_ex(c, ct + ol, &fl);
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag);
        EVP_CIPHER_CTX_free(c);
    });
    BENCH("RAND_bytes x3 (32+32+12)", n, {
        uint8_t a[32], b[32], c[12];
        RAND_bytes(a, 32); RAND_bytes(b, 32); RAND_bytes(c, 12);
    });
    BENCH("RAND_bytes x1 (76)", n, {
        uint8_t a[76];
        RAND_bytes(a, 76);
    });
    BENCH("EVP_KDF_fetch(HKDF) + free", n, EVP_KDF_free(EVP_KDF_fetch(NULL, "HKDF", NULL)));
    BENCH("EVP_CIPHER_fetch(AES-256-GCM) + free", n,
          EVP_CIPHER_free(EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL)));
    BENCH("EVP_MAC_fetch(HMAC) + free", n, EVP_MAC_free(EVP_MAC_fetch(NULL, "HMAC", NULL)));
    BENCH("EVP_MD_fetch(SHA512) + free", n, EVP_MD_free(EVP_MD_fetch(NULL, "SHA512", NULL)));
    seal_buf_free(rec, rec_len);
    webhook_secrets_free(ws);
    keyring_free(kr);
    free(body);
    free(share);
    return 0;
}
