/* The primitives under seal.c: HKDF-SHA-512 for the payload key and the key
 * commitment, AES-256-GCM with a 96-bit nonce and the full 16-byte tag. */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "keyring.h"
#include "seal_crypto.h"

/* OpenSSL 3 looks an algorithm up in its providers on every EVP_KDF_fetch,
 * and on every cipher init with EVP_aes_256_gcm() (an implicit fetch): two
 * HKDF fetches and a GCM lookup per record. So each is fetched once per
 * process (seal_open of a 6 KB share: 12.8 to 12.4 µs in bench/micro/run). Fetched algorithms are read-only and
 * safe to share between threads; they are kept until exit. run_once: the
 * token's thread may be the first to seal a known-answer test. */
static CRYPTO_ONCE fetch_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_KDF *alg_hkdf;
static EVP_CIPHER *alg_gcm;

static void fetch_algorithms(void)
{
    alg_hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    alg_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

/* 1 when HKDF and AES-256-GCM are there (fetched on first use). HKDF's
 * digest is still set by name on each context, which fetches SHA-512 each
 * time: OpenSSL 3.0 cannot dup an HKDF context that holds it. */
static int algorithms(void)
{
    return CRYPTO_THREAD_run_once(&fetch_once, fetch_algorithms) == 1 && alg_hkdf != NULL &&
           alg_gcm != NULL;
}

/* out = HKDF-SHA-512(ikm = data key, salt, info = label || aad), out_len bytes. */
static seal_status hkdf_sha512(const uint8_t *data_key, const uint8_t *salt,
                               const char *label, const uint8_t *aad, size_t aad_len,
                               uint8_t *out, size_t out_len)
{
    static char digest[] = "SHA512";
    seal_status st = SEAL_ERR_CRYPTO;
    EVP_KDF_CTX *kctx = NULL;
    uint8_t info[INFO_MAX];
    size_t label_len = strlen(label);
    OSSL_PARAM params[5];

    if (label_len > INFO_LABEL_MAX || aad_len > AAD_MAX)
        return SEAL_ERR_ARG;
    memcpy(info, label, label_len);
    memcpy(info + label_len, aad, aad_len);

    if (!algorithms())
        goto out;
    kctx = EVP_KDF_CTX_new(alg_hkdf);
    if (kctx == NULL)
        goto out;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                                  (void *)data_key, DATA_KEY_LEN);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                                  (void *)salt, SALT_LEN);
    params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                  info, label_len + aad_len);
    params[4] = OSSL_PARAM_construct_end();
    if (EVP_KDF_derive(kctx, out, out_len, params) != 1)
        goto out;
    st = SEAL_OK;
out:
    EVP_KDF_CTX_free(kctx);
    OPENSSL_cleanse(info, sizeof(info));
    if (st != SEAL_OK)
        OPENSSL_cleanse(out, out_len);
    return st;
}

/* Derives the payload key and the commitment from the data key. */
seal_status seal_derive_keys(const uint8_t *data_key, const uint8_t *salt,
                               const uint8_t *aad, size_t aad_len,
                               uint8_t *payload_key, uint8_t *commit)
{
    seal_status st;

    st = hkdf_sha512(data_key, salt, INFO_PAYLOAD, aad, aad_len, payload_key, PAYLOAD_KEY_LEN);
    if (st != SEAL_OK)
        return st;
    st = hkdf_sha512(data_key, salt, INFO_COMMIT, aad, aad_len, commit, COMMIT_LEN);
    if (st != SEAL_OK)
        OPENSSL_cleanse(payload_key, PAYLOAD_KEY_LEN);
    return st;
}

seal_status seal_gcm_encrypt(const uint8_t *key, const uint8_t *nonce,
                               const uint8_t *aad, size_t aad_len,
                               const uint8_t *pt, size_t pt_len,
                               uint8_t *ct, uint8_t *tag)
{
    seal_status st = SEAL_ERR_CRYPTO;
    EVP_CIPHER_CTX *cctx = NULL;
    int outl = 0, finl = 0;

    if (!algorithms())
        goto out;
    cctx = EVP_CIPHER_CTX_new();
    if (cctx == NULL)
        goto out;
    if (EVP_EncryptInit_ex2(cctx, alg_gcm, NULL, NULL, NULL) != 1)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_SET_IVLEN, (int)NONCE_LEN, NULL) != 1)
        goto out;
    if (EVP_EncryptInit_ex2(cctx, NULL, key, nonce, NULL) != 1)
        goto out;
    if (EVP_EncryptUpdate(cctx, NULL, &outl, aad, (int)aad_len) != 1)
        goto out;
    outl = 0;
    if (pt_len > 0) {
        if (EVP_EncryptUpdate(cctx, ct, &outl, pt, (int)pt_len) != 1)
            goto out;
    }
    if (EVP_EncryptFinal_ex(cctx, ct + outl, &finl) != 1)
        goto out;
    if ((size_t)outl + (size_t)finl != pt_len)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_GET_TAG, (int)TAG_LEN, tag) != 1)
        goto out;
    st = SEAL_OK;
out:
    EVP_CIPHER_CTX_free(cctx);
    return st;
}

/* Decrypts into pt (room for ct_len bytes). Any failure after the key is set
 * up, including the tag check, is SEAL_ERR_AUTH; pt is cleansed on failure. */
seal_status seal_gcm_decrypt(const uint8_t *key, const uint8_t *nonce,
                               const uint8_t *aad, size_t aad_len,
                               const uint8_t *ct, size_t ct_len,
                               const uint8_t *tag, uint8_t *pt)
{
    seal_status st = SEAL_ERR_CRYPTO;
    EVP_CIPHER_CTX *cctx = NULL;
    uint8_t tag_copy[TAG_LEN];
    int outl = 0, finl = 0;

    memcpy(tag_copy, tag, TAG_LEN);
    if (!algorithms())
        goto out;
    cctx = EVP_CIPHER_CTX_new();
    if (cctx == NULL)
        goto out;
    if (EVP_DecryptInit_ex2(cctx, alg_gcm, NULL, NULL, NULL) != 1)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_SET_IVLEN, (int)NONCE_LEN, NULL) != 1)
        goto out;
    if (EVP_DecryptInit_ex2(cctx, NULL, key, nonce, NULL) != 1)
        goto out;
    if (EVP_DecryptUpdate(cctx, NULL, &outl, aad, (int)aad_len) != 1)
        goto out;
    outl = 0;
    if (ct_len > 0) {
        if (EVP_DecryptUpdate(cctx, pt, &outl, ct, (int)ct_len) != 1)
            goto out;
    }
    /* The record format fixes a 16-byte tag; never hand GCM a shorter one. */
    if (EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_SET_TAG, (int)TAG_LEN, tag_copy) != 1)
        goto out;
    if (EVP_DecryptFinal_ex(cctx, pt + outl, &finl) != 1) {
        st = SEAL_ERR_AUTH;
        goto out;
    }
    if ((size_t)outl + (size_t)finl != ct_len)
        goto out;
    st = SEAL_OK;
out:
    EVP_CIPHER_CTX_free(cctx);
    if (st != SEAL_OK && ct_len > 0)
        OPENSSL_cleanse(pt, ct_len);
    return st;
}
