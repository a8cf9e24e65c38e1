/* Keys for client tokens: loading the HS256 secret and the ES256 public
 * key (auth_jwt.h's jwt_keys_load / jwt_keys_from_memory / jwt_keys_free).
 * Verifying tokens with them is auth_jwt.c. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include "auth_jwt.h"
#include "keyring.h"
#include "auth_jwt_int.h"
#include "errbuf.h"
#include "file.h"

#define GROUP_NAME_MAX     64u

static int es256_key_ok(const EVP_PKEY *pkey)
{
    char name[GROUP_NAME_MAX];
    size_t name_len = 0;
    int nid;

    if (pkey == NULL || !EVP_PKEY_is_a(pkey, "EC"))
        return 0;
    /* Keys with explicit curve parameters have no group name and are
     * refused with the rest: only the named curve P-256 is ES256. */
    if (EVP_PKEY_get_group_name(pkey, name, sizeof(name), &name_len) != 1)
        return 0;
    nid = OBJ_sn2nid(name);
    if (nid == NID_undef)
        nid = EC_curve_nist2nid(name);
    return nid == NID_X9_62_prime256v1;
}

int jwt_keys_from_memory(const uint8_t *hs_secret, size_t hs_len, EVP_PKEY *es_pub,
                         struct jwt_keys **out)
{
    struct jwt_keys *k = NULL;
    int rc = -1;

    if (out == NULL)
        goto out;
    *out = NULL;
    if (hs_secret == NULL && es_pub == NULL)
        goto out;
    if (hs_secret != NULL && (hs_len < JWT_HS_SECRET_MIN || hs_len > JWT_HS_SECRET_MAX))
        goto out;
    if (es_pub != NULL && !es256_key_ok(es_pub))
        goto out;
    k = calloc(1, sizeof(*k));
    if (k == NULL)
        goto out;
    if (hs_secret != NULL) {
        k->hs = secure_dup(hs_secret, hs_len);
        if (k->hs == NULL)
            goto out;
        k->hs_len = hs_len;
    }
    if (es_pub != NULL) {
        if (EVP_PKEY_up_ref(es_pub) != 1)
            goto out;
        k->es = es_pub;
    }
    *out = k;
    k = NULL;
    rc = 0;
out:
    jwt_keys_free(k);
    return rc;
}

void jwt_keys_free(struct jwt_keys *k)
{
    if (k == NULL)
        return;
    if (k->hs != NULL)
        OPENSSL_secure_clear_free(k->hs, k->hs_len);
    EVP_PKEY_free(k->es);
    free(k);
}

static int is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* *buf holds the whole file (*file_len bytes, for file_free); the key
 * is its first *key_len bytes. */
static int load_hs_secret(const char *path, uint8_t **buf_out, size_t *file_len,
                          size_t *key_len, char *err, size_t errlen)
{
    uint8_t *buf = NULL;
    size_t len = 0, n;
    int rc = -1;

    if (file_read("jwt hs256 secret", path, JWT_HS_SECRET_MAX, FILE_SECRET, &buf, &len,
                  err, errlen) != FILE_OK)
        goto out;
    /* Editors and `echo` add a final newline that is not part of the key. */
    n = len;
    while (n > 0 && is_space(buf[n - 1]))
        n--;
    if (n < JWT_HS_SECRET_MIN) {
        errbuf_set(err, errlen, "jwt hs256 secret %s: %zu bytes after trimming; use at least %u "
                "random bytes (e.g. openssl rand -base64 48)", path, n, JWT_HS_SECRET_MIN);
        goto out;
    }
    *buf_out = buf;
    *file_len = len;
    *key_len = n;
    buf = NULL;
    rc = 0;
out:
    file_free(buf, len);
    return rc;
}

/* Reads a public key file: no secrecy needed, but a file others can rewrite
 * would let them choose which tokens we accept (FILE_PUBLIC). */
static EVP_PKEY *load_es_pubkey(const char *path, char *err, size_t errlen)
{
    EVP_PKEY *pkey = NULL, *ret = NULL;
    BIO *bio = NULL;
    uint8_t *data = NULL;
    size_t len = 0;

    if (file_read("jwt es256 public key", path, JWT_PEM_FILE_MAX, FILE_PUBLIC, &data, &len,
                  err, errlen) != FILE_OK)
        goto out;
    bio = BIO_new_mem_buf(data, (int)len);
    if (bio == NULL) {
        errbuf_set(err, errlen, "jwt es256 public key %s: out of memory", path);
        goto out;
    }
    (void)ERR_set_mark();
    pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    (void)ERR_pop_to_mark();
    if (pkey == NULL) {
        errbuf_set(err, errlen, "jwt es256 public key %s: no PEM \"PUBLIC KEY\" block; export it "
                "with: openssl ec -pubout", path);
        goto out;
    }
    if (!es256_key_ok(pkey)) {
        errbuf_set(err, errlen, "jwt es256 public key %s: not an EC key on P-256 (prime256v1); "
                "ES256 needs one", path);
        goto out;
    }
    ret = pkey;
    pkey = NULL;
out:
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    file_free(data, len);
    return ret;
}

int jwt_keys_load(const char *hs256_secret_path, const char *es256_pubkey_pem_path,
                  struct jwt_keys **out, char *err, size_t errlen)
{
    struct jwt_keys *k = NULL;
    uint8_t *hs = NULL;
    size_t hs_file_len = 0, hs_len = 0;
    EVP_PKEY *es = NULL;
    int rc = -1;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out == NULL) {
        errbuf_set(err, errlen, "jwt keys: invalid argument");
        goto out;
    }
    *out = NULL;
    if (hs256_secret_path == NULL && es256_pubkey_pem_path == NULL) {
        errbuf_set(err, errlen, "jwt keys: none configured; give an HS256 secret file, an ES256 "
                "public key file, or both");
        goto out;
    }
    if (hs256_secret_path != NULL &&
        load_hs_secret(hs256_secret_path, &hs, &hs_file_len, &hs_len, err, errlen) != 0)
        goto out;
    if (es256_pubkey_pem_path != NULL) {
        es = load_es_pubkey(es256_pubkey_pem_path, err, errlen);
        if (es == NULL)
            goto out;
    }
    if (jwt_keys_from_memory(hs, hs_len, es, &k) != 0) {
        errbuf_set(err, errlen, "jwt keys: out of memory");
        goto out;
    }
    *out = k;
    rc = 0;
out:
    file_free(hs, hs_file_len);
    EVP_PKEY_free(es);
    return rc;
}
