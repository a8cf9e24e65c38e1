/* The PKCS#11 backend of the keyring (keyring_pkcs11.h says what and why).
 * p11-kit loads the module and parses the pkcs11: URI; this file only
 * speaks PKCS#11 to the one token the URI names.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include "bounds.h"
#include "errbuf.h"
#include "file.h"
#include "keyring.h"
#include "keyring_internal.h"
#include "keyring_pkcs11.h"
#include "log.h"

/* PKCS#11 3.0's RFC 5649 mechanism; p11-kit 0.24's header predates it. */
#ifndef CKM_AES_KEY_WRAP_KWP
#define CKM_AES_KEY_WRAP_KWP 0x210bUL
#endif

#define LABEL_PREFIX_DEFAULT "sharekeep-kek-"
#define LABEL_MAX            96u
#define PIN_MAX              256u
#define SLOTS_MAX            64u
#define P11_CONNECT_TRIES    4

struct p11_key {
    uint32_t id;
    CK_OBJECT_HANDLE handle;
};

/* One wrap or unwrap, owned by whoever waits for it: the caller, or the
 * token thread once the caller gave up (see "bounded waits"). */
enum job_kind { JOB_WRAP, JOB_UNWRAP, JOB_CONNECT };

struct job {
    uint32_t id;
    enum job_kind kind;
    uint8_t scheme;
    uint8_t in[WRAPPED_KEY_LEN];
    uint8_t out[WRAPPED_KEY_LEN];
    keyring_status st;
    int done;
};

struct p11 {
    char *module_path;
    char *pin_file;
    P11KitUri *uri;
    char prefix[LABEL_MAX / 2];

    /* The connection, valid only in the process whose pid is here. */
    pid_t pid;
    CK_FUNCTION_LIST *fn;
    CK_SESSION_HANDLE session;
    int read_write;
    /* How this token computes RFC 5649 and RFC 3394, if at all: C_WrapKey
     * with a key-wrap mechanism (mech_kwp for RFC 5649), or from AES-ECB. */
    enum how { HOW_NONE, HOW_WRAPKEY, HOW_ECB } kwp, kw;
    CK_MECHANISM_TYPE mech_kwp;
    struct p11_key keys[KEYRING_KEYS_MAX];
    size_t nkeys;

    /* Bounded waits: the deadline of the current request (CLOCK_MONOTONIC
     * ms, 0 = none), the token's own thread, the job it runs. */
    long long deadline_ms;
    int wedged;
    pid_t thread_pid;            /* 0 = no thread in this process */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *job;
};

static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
static const CK_OBJECT_CLASS secret_class = CKO_SECRET_KEY;
static const CK_KEY_TYPE aes_type = CKK_AES, generic_type = CKK_GENERIC_SECRET;

#define ATTR(type, ptr, len) { (type), (void *)(ptr), (CK_ULONG)(len) }

/* ---- settings -------------------------------------------------------- */

keyring_status p11_new(const struct keyring_token_config *tc, struct p11 **out, char *err,
                       size_t errlen)
{
    keyring_status st = KEYRING_ERR_TOKEN;
    struct p11 *p = NULL;
    CK_ATTRIBUTE *label;
    uint8_t *pin = NULL;
    size_t pin_len = 0;
    int rc;

    *out = NULL;
    if (tc == NULL || tc->uri == NULL || tc->uri[0] == '\0') {
        errbuf_set(err, errlen, "pkcs11_uri: not set");
        goto out;
    }
    if (tc->module == NULL || tc->module[0] != '/') {
        errbuf_set(err, errlen, "pkcs11_module: must be the absolute path of a PKCS#11 module");
        goto out;
    }
    if (tc->pin_file == NULL || tc->pin_file[0] != '/') {
        errbuf_set(err, errlen, "pkcs11_pin_file: must be an absolute path");
        goto out;
    }
    st = KEYRING_ERR_NOMEM;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        goto out;
    p->module_path = strdup(tc->module);
    p->pin_file = strdup(tc->pin_file);
    p->uri = p11_kit_uri_new();
    if (p->module_path == NULL || p->pin_file == NULL || p->uri == NULL)
        goto out;
    st = KEYRING_ERR_TOKEN;
    rc = p11_kit_uri_parse(tc->uri, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, p->uri);
    if (rc != P11_KIT_URI_OK) {
        errbuf_set(err, errlen, "pkcs11_uri: %s", p11_kit_uri_message(rc));
        goto out;
    }
    /* A PIN in the config would sit in a file that is not checked like a
     * secret, and in every process listing that shows the config. */
    if (p11_kit_uri_get_pin_value(p->uri) != NULL || p11_kit_uri_get_pin_source(p->uri) != NULL) {
        errbuf_set(err, errlen, "pkcs11_uri: carries a PIN; put the PIN in pkcs11_pin_file instead");
        goto out;
    }
    label = p11_kit_uri_get_attribute(p->uri, CKA_LABEL);
    if (label == NULL) {
        memcpy(p->prefix, LABEL_PREFIX_DEFAULT, sizeof(LABEL_PREFIX_DEFAULT));
    } else if (label->ulValueLen == 0 || label->ulValueLen >= sizeof(p->prefix) - 1 ||
               memchr(label->pValue, '\0', label->ulValueLen) != NULL) {
        errbuf_set(err, errlen, "pkcs11_uri: object= must be 1 to %zu characters (the label "
                   "prefix of the KEKs)", sizeof(p->prefix) - 2);
        goto out;
    } else {
        memcpy(p->prefix, label->pValue, label->ulValueLen);
        p->prefix[label->ulValueLen] = '\0';
    }
    /* The PIN is read again at each login; reading it now only proves the
     * file is there and kept like a secret. */
    if (file_read("pkcs11_pin_file", p->pin_file, PIN_MAX, FILE_SECRET, &pin, &pin_len, err,
                  errlen) != FILE_OK)
        goto out;
    st = KEYRING_OK;
    *out = p;
    p = NULL;
out:
    file_free(pin, pin_len);
    p11_free(p);
    return st;
}

/* ---- connection ------------------------------------------------------ */

static const char *rv_name(CK_RV rv)
{
    switch (rv) {
    case CKR_OK: return "CKR_OK";
    case CKR_HOST_MEMORY: return "CKR_HOST_MEMORY";
    case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
    case CKR_FUNCTION_FAILED: return "CKR_FUNCTION_FAILED";
    case CKR_ARGUMENTS_BAD: return "CKR_ARGUMENTS_BAD";
    case CKR_ATTRIBUTE_TYPE_INVALID: return "CKR_ATTRIBUTE_TYPE_INVALID";
    case CKR_ATTRIBUTE_VALUE_INVALID: return "CKR_ATTRIBUTE_VALUE_INVALID";
    case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
    case CKR_DEVICE_MEMORY: return "CKR_DEVICE_MEMORY";
    case CKR_DEVICE_REMOVED: return "CKR_DEVICE_REMOVED";
    case CKR_KEY_HANDLE_INVALID: return "CKR_KEY_HANDLE_INVALID";
    case CKR_KEY_FUNCTION_NOT_PERMITTED: return "CKR_KEY_FUNCTION_NOT_PERMITTED";
    case CKR_KEY_UNEXTRACTABLE: return "CKR_KEY_UNEXTRACTABLE";
    case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
    case CKR_OBJECT_HANDLE_INVALID: return "CKR_OBJECT_HANDLE_INVALID";
    case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
    case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED";
    case CKR_SESSION_CLOSED: return "CKR_SESSION_CLOSED";
    case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
    case CKR_TEMPLATE_INCONSISTENT: return "CKR_TEMPLATE_INCONSISTENT";
    case CKR_TEMPLATE_INCOMPLETE: return "CKR_TEMPLATE_INCOMPLETE";
    case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
    case CKR_TOKEN_NOT_RECOGNIZED: return "CKR_TOKEN_NOT_RECOGNIZED";
    case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
    case CKR_WRAPPED_KEY_INVALID: return "CKR_WRAPPED_KEY_INVALID";
    case CKR_WRAPPED_KEY_LEN_RANGE: return "CKR_WRAPPED_KEY_LEN_RANGE";
    case CKR_ENCRYPTED_DATA_INVALID: return "CKR_ENCRYPTED_DATA_INVALID";
    case CKR_ENCRYPTED_DATA_LEN_RANGE: return "CKR_ENCRYPTED_DATA_LEN_RANGE";
    case CKR_CRYPTOKI_NOT_INITIALIZED: return "CKR_CRYPTOKI_NOT_INITIALIZED";
    case CKR_BUFFER_TOO_SMALL: return "CKR_BUFFER_TOO_SMALL";
    }
    return "CKR_other";
}

/* What a failed call means for the caller: a wrapped key the token finds
 * damaged is the record's fault (as a failed KWP check is for a file KEK);
 * anything else is the token's, so the connection is dropped and the
 * request may be retried. */
static keyring_status classify(CK_RV rv)
{
    switch (rv) {
    case CKR_WRAPPED_KEY_INVALID:
    case CKR_WRAPPED_KEY_LEN_RANGE:
    case CKR_ENCRYPTED_DATA_INVALID:
    case CKR_ENCRYPTED_DATA_LEN_RANGE:
        return KEYRING_ERR_CRYPTO;
    case CKR_HOST_MEMORY:
        return KEYRING_ERR_NOMEM;
    default:
        return KEYRING_ERR_UNAVAILABLE;
    }
}

void p11_disconnect(struct p11 *p)
{
    if (p == NULL)
        return;
    if (p->fn != NULL && p->pid == getpid()) {
        /* C_Finalize closes every session and logs out; a token that is
         * already gone makes these fail, which changes nothing here. */
        (void)p->fn->C_CloseSession(p->session);
        (void)p11_kit_module_finalize(p->fn);
        p11_kit_module_release(p->fn);
    }
    /* A connection inherited across fork is the parent's: forgotten here,
     * never closed from the child. */
    p->fn = NULL;
    p->session = CK_INVALID_HANDLE;
    p->pid = 0;
    p->nkeys = 0;
    p->kwp = HOW_NONE;
    p->kw = HOW_NONE;
}

void p11_free(struct p11 *p)
{
    if (p == NULL)
        return;
    /* The token thread may be inside the module (or still be, wedged): it
     * keeps p. A worker only frees its keyring when it exits anyway. */
    if (p->thread_pid == getpid())
        return;
    p11_disconnect(p);
    if (p->uri != NULL)
        p11_kit_uri_free(p->uri);
    free(p->module_path);
    free(p->pin_file);
    free(p);
}

static keyring_status find_slot(struct p11 *p, CK_SLOT_ID *slot, char *err, size_t errlen)
{
    CK_SLOT_ID slots[SLOTS_MAX];
    CK_ULONG n = SLOTS_MAX, i, matches = 0;
    CK_TOKEN_INFO ti;
    CK_RV rv;

    rv = p->fn->C_GetSlotList(CK_TRUE, slots, &n);
    if (rv != CKR_OK) {
        errbuf_set(err, errlen, "pkcs11: C_GetSlotList: %s", rv_name(rv));
        return KEYRING_ERR_UNAVAILABLE;
    }
    for (i = 0; i < n; i++) {
        if (p->fn->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
            continue;
        if (p11_kit_uri_match_token_info(p->uri, &ti) == 1) {
            if (matches == 0)
                *slot = slots[i];
            matches++;
        }
    }
    if (matches == 1)
        return KEYRING_OK;
    if (matches == 0)
        errbuf_set(err, errlen, "pkcs11_uri: no token present matches it (%lu tokens seen "
                   "through %s)", (unsigned long)n, p->module_path);
    else
        errbuf_set(err, errlen, "pkcs11_uri: %lu tokens match it; name one (token=, serial=)",
                   (unsigned long)matches);
    /* No token may be a network HSM that is down for now. */
    return matches == 0 ? KEYRING_ERR_UNAVAILABLE : KEYRING_ERR_TOKEN;
}

static keyring_status login(struct p11 *p, char *err, size_t errlen)
{
    keyring_status st = KEYRING_ERR_TOKEN;
    uint8_t *pin = NULL;
    size_t pin_len = 0;
    CK_RV rv;

    if (file_read("pkcs11_pin_file", p->pin_file, PIN_MAX, FILE_SECRET, &pin, &pin_len, err,
                  errlen) != FILE_OK)
        goto out;
    /* One trailing newline is what an editor or `echo` leaves. */
    if (pin_len > 0 && pin[pin_len - 1] == '\n')
        pin_len--;
    if (pin_len > 0 && pin[pin_len - 1] == '\r')
        pin_len--;
    rv = p->fn->C_Login(p->session, CKU_USER, pin, (CK_ULONG)pin_len);
    if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
        st = KEYRING_OK;
    } else if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_INVALID ||
               rv == CKR_PIN_LEN_RANGE) {
        errbuf_set(err, errlen, "pkcs11: login refused (%s); check pkcs11_pin_file", rv_name(rv));
    } else {
        errbuf_set(err, errlen, "pkcs11: C_Login: %s", rv_name(rv));
        st = KEYRING_ERR_UNAVAILABLE;
    }
out:
    file_free(pin, pin_len);
    return st;
}

static keyring_status create_secret(struct p11 *p, CK_KEY_TYPE type, const uint8_t *value,
                                    int wrapping, CK_OBJECT_HANDLE *h)
{
    /* A session object, gone when the session is: for a KEK of the
     * known-answer test (wrapping) or a data key to be wrapped. */
    CK_ATTRIBUTE t[] = {
        ATTR(CKA_CLASS, &secret_class, sizeof(secret_class)),
        ATTR(CKA_KEY_TYPE, &type, sizeof(type)),
        ATTR(CKA_TOKEN, &no, sizeof(no)),
        ATTR(CKA_VALUE, value, 32),
        ATTR(CKA_SENSITIVE, &no, sizeof(no)),
        ATTR(CKA_EXTRACTABLE, wrapping ? &no : &yes, sizeof(yes)),
        ATTR(CKA_WRAP, wrapping ? &yes : &no, sizeof(yes)),
        ATTR(CKA_UNWRAP, wrapping ? &yes : &no, sizeof(yes)),
        ATTR(CKA_ENCRYPT, wrapping ? &yes : &no, sizeof(yes)),
        ATTR(CKA_DECRYPT, wrapping ? &yes : &no, sizeof(yes)),
    };
    CK_RV rv = p->fn->C_CreateObject(p->session, t, sizeof(t) / sizeof(t[0]), h);

    return rv == CKR_OK ? KEYRING_OK : classify(rv);
}

/* Wraps value (32 bytes) with kek under mech into out (WRAPPED_KEY_LEN). */
static CK_RV wrap_value(struct p11 *p, CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE kek,
                        const uint8_t *value, uint8_t *out)
{
    CK_MECHANISM m = { mech, NULL, 0 };
    CK_OBJECT_HANDLE dk = CK_INVALID_HANDLE;
    uint8_t buf[WRAPPED_KEY_LEN + 32];
    CK_ULONG len = sizeof(buf);
    CK_RV rv;

    if (create_secret(p, CKK_GENERIC_SECRET, value, 0, &dk) != KEYRING_OK)
        return CKR_DEVICE_ERROR;
    rv = p->fn->C_WrapKey(p->session, &m, kek, dk, buf, &len);
    if (rv == CKR_OK && len != WRAPPED_KEY_LEN)
        rv = CKR_FUNCTION_FAILED;
    if (rv == CKR_OK)
        memcpy(out, buf, WRAPPED_KEY_LEN);
    (void)p->fn->C_DestroyObject(p->session, dk);
    OPENSSL_cleanse(buf, sizeof(buf));
    return rv;
}

/* The initial values of RFC 3394 (2.2.3.1) and of RFC 5649 for a 32-byte
 * key (3: A65959A6 then the length, 32, as 4 bytes; 32 bytes need no
 * padding, and more than 8 of them take the same 6 rounds as RFC 3394). */
static const uint8_t iv_kw[8] = { 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6 };
static const uint8_t iv_kwp[8] = { 0xa6, 0x59, 0x59, 0xa6, 0x00, 0x00, 0x00, 0x20 };

/* RFC 3394's W (section 2.2.1, the index form) of a 32-byte value with kek
 * and initial value iv (iv_kw: RFC 3394; iv_kwp: RFC 5649), from single
 * AES blocks the token computes with CKM_AES_ECB: 6 rounds of 4 blocks,
 * each depending on the one before. This is how a token wraps when its
 * transport carries no key-wrap mechanism: p11-kit's RPC (p11-kit server /
 * p11-kit-client.so, the out-of-process setup) drops CKM_AES_KEY_WRAP and
 * _PAD, but carries ECB. The KEK never leaves the token; what passes is
 * the data key and the intermediate blocks, which sharekeep holds anyway. */
static CK_RV kw_ecb(struct p11 *p, CK_OBJECT_HANDLE kek, const uint8_t iv[8], int enc,
                    const uint8_t *in, uint8_t *out)
{
    CK_MECHANISM m = { CKM_AES_ECB, NULL, 0 };
    uint8_t a[8], r[4][8], block[16], last[16];
    CK_ULONG len;
    CK_RV rv;
    int i, j;

    if (enc) {
        memcpy(a, iv, 8);
        memcpy(r, in, 32);
    } else {
        memcpy(a, in, 8);
        memcpy(r, in + 8, 32);
    }
    rv = enc ? p->fn->C_EncryptInit(p->session, &m, kek)
             : p->fn->C_DecryptInit(p->session, &m, kek);
    if (rv != CKR_OK)
        goto out;
    for (j = 0; j < 6; j++) {
        for (i = 0; i < 4; i++) {
            /* Wrapping runs t = 1..24 forwards, unwrapping backwards. */
            int jj = enc ? j : 5 - j, ii = enc ? i : 3 - i;
            uint8_t t = (uint8_t)(4 * jj + ii + 1);

            memcpy(block, a, 8);
            if (!enc)
                block[7] ^= t;
            memcpy(block + 8, r[ii], 8);
            len = sizeof(block);
            rv = enc ? p->fn->C_EncryptUpdate(p->session, block, 16, block, &len)
                     : p->fn->C_DecryptUpdate(p->session, block, 16, block, &len);
            if (rv == CKR_OK && len != 16)
                rv = CKR_FUNCTION_FAILED;
            if (rv != CKR_OK)
                goto out;
            memcpy(a, block, 8);
            if (enc)
                a[7] ^= t;
            memcpy(r[ii], block + 8, 8);
        }
    }
    len = sizeof(last);
    rv = enc ? p->fn->C_EncryptFinal(p->session, last, &len)
             : p->fn->C_DecryptFinal(p->session, last, &len);
    if (rv != CKR_OK)
        goto out;
    if (enc) {
        memcpy(out, a, 8);
        memcpy(out + 8, r, 32);
    } else if (CRYPTO_memcmp(a, iv, 8) != 0) {
        rv = CKR_WRAPPED_KEY_INVALID;
    } else {
        memcpy(out, r, 32);
    }
out:
    if (rv != CKR_OK && rv != CKR_WRAPPED_KEY_INVALID) {
        /* An operation left active would refuse the session's next Init. */
        len = sizeof(last);
        if (enc)
            (void)p->fn->C_EncryptFinal(p->session, last, &len);
        else
            (void)p->fn->C_DecryptFinal(p->session, last, &len);
    }
    OPENSSL_cleanse(a, sizeof(a));
    OPENSSL_cleanse(r, sizeof(r));
    OPENSSL_cleanse(block, sizeof(block));
    OPENSSL_cleanse(last, sizeof(last));
    return rv;
}

/* The known-answer test (keyring_pkcs11.h): which mechanism really
 * computes RFC 5649 and RFC 3394 here. Fixed public test bytes. */
static keyring_status pick_mechanisms(struct p11 *p, char *err, size_t errlen)
{
    static const CK_MECHANISM_TYPE kwp_candidates[] = { CKM_AES_KEY_WRAP_KWP, CKM_AES_KEY_WRAP_PAD };
    keyring_status st;
    uint8_t kek[32], dk[32], want_kwp[WRAPPED_KEY_LEN + 16], want_kw[WRAPPED_KEY_LEN + 16];
    uint8_t got[WRAPPED_KEY_LEN];
    size_t len_kwp = 0, len_kw = 0;
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_RV rv;

    for (size_t i = 0; i < 32; i++) {
        kek[i] = (uint8_t)i;
        dk[i] = (uint8_t)(0xa0 + i);
    }
    st = keyring_aes_wrap(1, 1, kek, dk, sizeof(dk), want_kwp, &len_kwp);
    if (st == KEYRING_OK)
        st = keyring_aes_wrap(0, 1, kek, dk, sizeof(dk), want_kw, &len_kw);
    if (st != KEYRING_OK || len_kwp != WRAPPED_KEY_LEN || len_kw != WRAPPED_KEY_LEN) {
        errbuf_set(err, errlen, "pkcs11: OpenSSL key wrap failed");
        return KEYRING_ERR_CRYPTO;
    }
    st = create_secret(p, CKK_AES, kek, 1, &h);
    if (st != KEYRING_OK) {
        errbuf_set(err, errlen, "pkcs11: cannot create a session key for the key wrap test");
        return st;
    }
    for (size_t i = 0; i < sizeof(kwp_candidates) / sizeof(kwp_candidates[0]); i++) {
        rv = wrap_value(p, kwp_candidates[i], h, dk, got);
        if (rv == CKR_OK && CRYPTO_memcmp(got, want_kwp, WRAPPED_KEY_LEN) == 0) {
            p->kwp = HOW_WRAPKEY;
            p->mech_kwp = kwp_candidates[i];
            break;
        }
    }
    rv = wrap_value(p, CKM_AES_KEY_WRAP, h, dk, got);
    if (rv == CKR_OK && CRYPTO_memcmp(got, want_kw, WRAPPED_KEY_LEN) == 0)
        p->kw = HOW_WRAPKEY;
    /* Whatever the key-wrap mechanisms lack, ECB may make up: then records
     * of both schemes open whichever way the token is reached. */
    if (p->kwp == HOW_NONE && kw_ecb(p, h, iv_kwp, 1, dk, got) == CKR_OK &&
        CRYPTO_memcmp(got, want_kwp, WRAPPED_KEY_LEN) == 0)
        p->kwp = HOW_ECB;
    if (p->kw == HOW_NONE && kw_ecb(p, h, iv_kw, 1, dk, got) == CKR_OK &&
        CRYPTO_memcmp(got, want_kw, WRAPPED_KEY_LEN) == 0)
        p->kw = HOW_ECB;
    (void)p->fn->C_DestroyObject(p->session, h);
    OPENSSL_cleanse(got, sizeof(got));
    if (p->kwp == HOW_NONE && p->kw == HOW_NONE) {
        errbuf_set(err, errlen, "pkcs11: the token computes neither RFC 5649 nor RFC 3394 "
                   "AES key wrap (CKM_AES_KEY_WRAP_KWP or _PAD, CKM_AES_KEY_WRAP, or RFC 3394 "
                   "from CKM_AES_ECB)");
        return KEYRING_ERR_TOKEN;
    }
    return KEYRING_OK;
}

static long long now_ms(void);

static keyring_status connect_once(struct p11 *p, int read_write, char *err, size_t errlen)
{
    keyring_status st;
    CK_SLOT_ID slot = 0;
    CK_RV rv;

    p11_disconnect(p);
    p->fn = p11_kit_module_load(p->module_path, 0);
    if (p->fn == NULL) {
        errbuf_set(err, errlen, "pkcs11_module %s: cannot load: %s", p->module_path,
                   p11_kit_message() ? p11_kit_message() : "unknown error");
        return KEYRING_ERR_TOKEN;
    }
    p->pid = getpid();
    rv = p11_kit_module_initialize(p->fn);
    if (rv != CKR_OK) {
        errbuf_set(err, errlen, "pkcs11_module %s: C_Initialize: %s", p->module_path,
                   rv_name(rv));
        p11_kit_module_release(p->fn);
        p->fn = NULL;
        p->pid = 0;
        return KEYRING_ERR_UNAVAILABLE;
    }
    st = find_slot(p, &slot, err, errlen);
    if (st != KEYRING_OK)
        goto fail;
    rv = p->fn->C_OpenSession(slot, CKF_SERIAL_SESSION | (read_write ? CKF_RW_SESSION : 0), NULL,
                              NULL, &p->session);
    if (rv != CKR_OK) {
        errbuf_set(err, errlen, "pkcs11: C_OpenSession: %s", rv_name(rv));
        st = KEYRING_ERR_UNAVAILABLE;
        goto fail;
    }
    p->read_write = read_write;
    st = login(p, err, errlen);
    if (st == KEYRING_OK)
        st = pick_mechanisms(p, err, errlen);
    if (st == KEYRING_OK)
        return KEYRING_OK;
fail:
    p11_disconnect(p);
    return st;
}

keyring_status p11_connect(struct p11 *p, int read_write, char *err, size_t errlen)
{
    keyring_status st;

    if (p->fn != NULL && p->pid == getpid() && (p->read_write || !read_write))
        return KEYRING_OK;
    /* Tokens that keep state in files race when several processes log in
     * at once (SoftHSM2 rewrites its token file on every C_Login: workers
     * starting together see CKR_GENERAL_ERROR or no token at all). A failure
     * that may be that is tried again after a short random pause, while the
     * deadline (if any) leaves room. */
    for (int attempt = 0;; attempt++) {
        unsigned pause_ms;

        st = connect_once(p, read_write, err, errlen);
        if (st != KEYRING_ERR_UNAVAILABLE || attempt >= P11_CONNECT_TRIES - 1)
            return st;
        pause_ms = 10 + (unsigned)(getpid() * 31 + attempt * 17) % 50;
        if (p->deadline_ms > 0 && now_ms() + pause_ms + 200 > p->deadline_ms)
            return st;
        (void)poll(NULL, 0, (int)pause_ms);
    }
}

/* ---- keys ------------------------------------------------------------ */

static void label_of(const struct p11 *p, uint32_t id, char *out, size_t len)
{
    snprintf(out, len, "%s%u", p->prefix, id);
}

static CK_RV find_label(struct p11 *p, const char *label, CK_OBJECT_HANDLE *h, CK_ULONG *count)
{
    CK_ATTRIBUTE t[] = {
        ATTR(CKA_CLASS, &secret_class, sizeof(secret_class)),
        ATTR(CKA_LABEL, label, strlen(label)),
    };
    CK_OBJECT_HANDLE found[2];
    CK_RV rv, frv;

    *count = 0;
    rv = p->fn->C_FindObjectsInit(p->session, t, sizeof(t) / sizeof(t[0]));
    if (rv != CKR_OK)
        return rv;
    rv = p->fn->C_FindObjects(p->session, found, 2, count);
    frv = p->fn->C_FindObjectsFinal(p->session);
    if (rv == CKR_OK)
        rv = frv;
    if (rv == CKR_OK && *count >= 1)
        *h = found[0];
    return rv;
}

/* Finds KEK id and checks what keyring_pkcs11.h promises of it. */
static keyring_status lookup(struct p11 *p, uint32_t id, CK_OBJECT_HANDLE *h, char *err,
                             size_t errlen)
{
    char label[LABEL_MAX];
    CK_KEY_TYPE type = 0;
    CK_ULONG count = 0, value_len = 0;
    CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE, wrap = CK_FALSE, unwrap = CK_FALSE;
    CK_BBOOL encrypt = CK_FALSE, decrypt = CK_FALSE;
    CK_ATTRIBUTE a[] = {
        ATTR(CKA_KEY_TYPE, &type, sizeof(type)),
        ATTR(CKA_VALUE_LEN, &value_len, sizeof(value_len)),
        ATTR(CKA_SENSITIVE, &sensitive, sizeof(sensitive)),
        ATTR(CKA_EXTRACTABLE, &extractable, sizeof(extractable)),
        ATTR(CKA_WRAP, &wrap, sizeof(wrap)),
        ATTR(CKA_UNWRAP, &unwrap, sizeof(unwrap)),
        ATTR(CKA_ENCRYPT, &encrypt, sizeof(encrypt)),
        ATTR(CKA_DECRYPT, &decrypt, sizeof(decrypt)),
    };
    int ecb_only;
    CK_RV rv;

    for (size_t i = 0; i < p->nkeys; i++) {
        if (p->keys[i].id == id) {
            *h = p->keys[i].handle;
            return KEYRING_OK;
        }
    }
    label_of(p, id, label, sizeof(label));
    rv = find_label(p, label, h, &count);
    if (rv != CKR_OK) {
        errbuf_set(err, errlen, "pkcs11: looking for '%s': %s", label, rv_name(rv));
        return classify(rv);
    }
    if (count != 1) {
        errbuf_set(err, errlen, count == 0
                   ? "pkcs11: kek %u: no secret key labelled '%s' in the token"
                   : "pkcs11: kek %u: more than one secret key labelled '%s' in the token",
                   id, label);
        return count == 0 ? KEYRING_ERR_UNKNOWN_KEK : KEYRING_ERR_TOKEN;
    }
    rv = p->fn->C_GetAttributeValue(p->session, *h, a, sizeof(a) / sizeof(a[0]));
    if (rv != CKR_OK) {
        errbuf_set(err, errlen, "pkcs11: kek %u ('%s'): cannot read its attributes: %s", id,
                   label, rv_name(rv));
        return classify(rv);
    }
    if (type != CKK_AES || value_len != KEK_LEN) {
        errbuf_set(err, errlen, "pkcs11: kek %u ('%s') is not an AES-256 key", id, label);
        return KEYRING_ERR_TOKEN;
    }
    if (extractable != CK_FALSE || sensitive != CK_TRUE) {
        errbuf_set(err, errlen, "pkcs11: kek %u ('%s') can leave the token (CKA_EXTRACTABLE "
                   "true or CKA_SENSITIVE false); refused: generate a new one with "
                   "'sharekeep rotate --backend pkcs11'", id, label);
        return KEYRING_ERR_TOKEN;
    }
    /* Wrapping with the token's key-wrap mechanisms needs CKA_WRAP and
     * CKA_UNWRAP; RFC 3394 from ECB needs CKA_ENCRYPT and CKA_DECRYPT. */
    ecb_only = p->kwp != HOW_WRAPKEY && p->kw != HOW_WRAPKEY;
    if (ecb_only ? encrypt != CK_TRUE || decrypt != CK_TRUE
                 : wrap != CK_TRUE || unwrap != CK_TRUE) {
        errbuf_set(err, errlen, ecb_only
                   ? "pkcs11: kek %u ('%s') may not encrypt and decrypt (CKA_ENCRYPT, "
                     "CKA_DECRYPT), which RFC 3394 from CKM_AES_ECB needs through this module"
                   : "pkcs11: kek %u ('%s') may not wrap and unwrap keys (CKA_WRAP, CKA_UNWRAP)",
                   id, label);
        return KEYRING_ERR_TOKEN;
    }
    if (p->nkeys < KEYRING_KEYS_MAX) {
        p->keys[p->nkeys].id = id;
        p->keys[p->nkeys].handle = *h;
        p->nkeys++;
    }
    return KEYRING_OK;
}

keyring_status p11_check_key(struct p11 *p, uint32_t id, char *err, size_t errlen)
{
    CK_OBJECT_HANDLE h;
    keyring_status st = p11_connect(p, 0, err, errlen);

    return st == KEYRING_OK ? lookup(p, id, &h, err, errlen) : st;
}

/* One request's token operation: connect, look the KEK up, run op; when
 * the token proves unavailable, drop the connection and try once more on a
 * fresh one (a token server that restarted since the last request). */
typedef CK_RV (*token_op)(struct p11 *p, CK_OBJECT_HANDLE kek, void *arg);

static keyring_status with_key(struct p11 *p, uint32_t id, token_op op, void *arg,
                               const char *what)
{
    keyring_status st = KEYRING_ERR_UNAVAILABLE;
    char err[256] = "";
    CK_OBJECT_HANDLE h;
    CK_RV rv = CKR_OK;

    for (int attempt = 0; attempt < 2; attempt++) {
        err[0] = '\0';
        st = p11_connect(p, 0, err, sizeof(err));
        if (st == KEYRING_OK)
            st = lookup(p, id, &h, err, sizeof(err));
        if (st == KEYRING_OK) {
            rv = op(p, h, arg);
            if (rv == CKR_OK)
                return KEYRING_OK;
            st = classify(rv);
            snprintf(err, sizeof(err), "pkcs11: %s with kek %u: %s", what, id, rv_name(rv));
        }
        if (st != KEYRING_ERR_UNAVAILABLE)
            break;
        p11_disconnect(p);
    }
    log_warn("token operation failed", "error=\"%s\"", err);
    return st;
}

struct wrap_arg {
    const uint8_t *in;
    uint8_t scheme;
    uint8_t *out;
};

static CK_RV op_wrap(struct p11 *p, CK_OBJECT_HANDLE kek, void *arg)
{
    struct wrap_arg *w = arg;

    int kwp = p->kwp != HOW_NONE;
    enum how how = kwp ? p->kwp : p->kw;

    w->scheme = kwp ? KEYRING_SCHEME_P11_KWP : KEYRING_SCHEME_P11_KW;
    if (how == HOW_ECB)
        return kw_ecb(p, kek, kwp ? iv_kwp : iv_kw, 1, w->in, w->out);
    return wrap_value(p, kwp ? p->mech_kwp : CKM_AES_KEY_WRAP, kek, w->in, w->out);
}

static CK_RV op_unwrap(struct p11 *p, CK_OBJECT_HANDLE kek, void *arg)
{
    struct wrap_arg *w = arg;
    CK_ATTRIBUTE t[] = {
        ATTR(CKA_CLASS, &secret_class, sizeof(secret_class)),
        ATTR(CKA_KEY_TYPE, &generic_type, sizeof(generic_type)),
        ATTR(CKA_TOKEN, &no, sizeof(no)),
        ATTR(CKA_SENSITIVE, &no, sizeof(no)),
        ATTR(CKA_EXTRACTABLE, &yes, sizeof(yes)),
    };
    CK_MECHANISM m = { CKM_AES_KEY_WRAP, NULL, 0 };
    CK_OBJECT_HANDLE dk = CK_INVALID_HANDLE;
    uint8_t value[DATA_KEY_LEN];
    CK_ATTRIBUTE v = ATTR(CKA_VALUE, value, sizeof(value));
    CK_RV rv;

    int kwp = w->scheme == KEYRING_SCHEME_P11_KWP;
    enum how how = kwp ? p->kwp : p->kw;

    if (how == HOW_NONE)
        return CKR_MECHANISM_INVALID;
    if (how == HOW_ECB)
        return kw_ecb(p, kek, kwp ? iv_kwp : iv_kw, 0, w->in, w->out);
    if (kwp)
        m.mechanism = p->mech_kwp;
    rv = p->fn->C_UnwrapKey(p->session, &m, kek, (CK_BYTE_PTR)w->in, WRAPPED_KEY_LEN, t,
                            sizeof(t) / sizeof(t[0]), &dk);
    if (rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED) {
        /* SoftHSM (and others) say CKR_GENERAL_ERROR for a wrapped key that
         * fails its integrity check. A session that still answers means
         * the token is fine and the record is not. */
        CK_SESSION_INFO si;

        if (p->fn->C_GetSessionInfo(p->session, &si) == CKR_OK)
            rv = CKR_WRAPPED_KEY_INVALID;
    }
    if (rv != CKR_OK)
        return rv;
    rv = p->fn->C_GetAttributeValue(p->session, dk, &v, 1);
    if (rv == CKR_OK && v.ulValueLen != DATA_KEY_LEN)
        rv = CKR_WRAPPED_KEY_INVALID;
    if (rv == CKR_OK)
        memcpy(w->out, value, DATA_KEY_LEN);
    (void)p->fn->C_DestroyObject(p->session, dk);
    OPENSSL_cleanse(value, sizeof(value));
    return rv;
}

static void run_job(struct p11 *p, struct job *j)
{
    struct wrap_arg w = { j->in, j->scheme, j->out };
    char err[256] = "";

    if (j->kind == JOB_CONNECT) {
        j->st = p11_connect(p, 0, err, sizeof(err));
        if (j->st != KEYRING_OK)
            log_warn("token not reachable; requests answer 503 until it is", "error=\"%s\"", err);
        return;
    }
    j->st = with_key(p, j->id, j->kind == JOB_UNWRAP ? op_unwrap : op_wrap, &w,
                     j->kind == JOB_UNWRAP ? "unwrap" : "wrap");
    j->scheme = w.scheme;
}

static void job_free(struct job *j)
{
    OPENSSL_cleanse(j, sizeof(*j));
    free(j);
}

/* ---- bounded waits ----------------------------------------------------- */
/* A token that stops answering without closing its connection (a stopped
 * HSM client or p11-kit server) blocks whoever called into the module, and
 * PKCS#11 has no timeout. So with a deadline set (a request's, see
 * p11_set_deadline), the module is called from a thread of the token's
 * own and the caller waits at most until the deadline. Past it, the token
 * is wedged: the job is left to the thread, every later call answers
 * KEYRING_ERR_UNAVAILABLE at once without touching the module, and
 * p11_wedged tells the server to replace this worker once it has answered:
 * a new process connects afresh. Without a deadline (admin commands, load)
 * the caller calls the module itself. */

static void *token_thread(void *arg)
{
    struct p11 *p = arg;
    struct job *j;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->job == NULL || p->job->done)
            pthread_cond_wait(&p->cv, &p->mu);
        j = p->job;
        pthread_mutex_unlock(&p->mu);
        run_job(p, j);
        pthread_mutex_lock(&p->mu);
        if (p->job != j) {
            job_free(j);          /* its caller gave up on it */
        } else {
            j->done = 1;
            pthread_cond_broadcast(&p->cv);
        }
    }
    return NULL;
}

static int thread_start(struct p11 *p)
{
    pthread_condattr_t ca;
    pthread_attr_t ta;
    int ok = 0;

    if (p->thread_pid == getpid())
        return 0;
    /* Threads do not survive fork: a thread_pid of the parent's means none. */
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
        pthread_mutex_init(&p->mu, NULL) == 0) {
        if (pthread_cond_init(&p->cv, &ca) == 0) {
            p->job = NULL;
            if (pthread_attr_init(&ta) == 0) {
                ok = pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED) == 0 &&
                     pthread_create(&p->thread, &ta, token_thread, p) == 0;
                pthread_attr_destroy(&ta);
            }
            if (!ok)
                pthread_cond_destroy(&p->cv);
        }
        if (!ok)
            pthread_mutex_destroy(&p->mu);
    }
    pthread_condattr_destroy(&ca);
    if (!ok)
        return -1;
    p->thread_pid = getpid();
    return 0;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs j (heap-allocated) within the deadline. On KEYRING_ERR_UNAVAILABLE
 * from a timeout, j belongs to the token thread: the caller must not touch
 * or free it (*abandoned set). */
static keyring_status run_bounded(struct p11 *p, struct job *j, int *abandoned)
{
    struct timespec until;
    long long deadline = p->deadline_ms;
    int rc = 0;

    *abandoned = 0;
    if (p->wedged)
        return KEYRING_ERR_UNAVAILABLE;
    if (deadline <= 0) {
        run_job(p, j);
        return j->st;
    }
    if (now_ms() >= deadline || thread_start(p) != 0)
        return KEYRING_ERR_UNAVAILABLE;
    until.tv_sec = (time_t)(deadline / 1000);
    until.tv_nsec = (long)(deadline % 1000) * 1000000L;
    pthread_mutex_lock(&p->mu);
    p->job = j;
    pthread_cond_broadcast(&p->cv);
    while (!j->done && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&p->cv, &p->mu, &until);
    if (!j->done) {
        p->job = NULL;
        p->wedged = 1;
        *abandoned = 1;
    }
    p->job = NULL;
    pthread_mutex_unlock(&p->mu);
    if (*abandoned) {
        log_error("token did not answer by the request deadline; this worker is replaced "
                  "after answering");
        return KEYRING_ERR_UNAVAILABLE;
    }
    return j->st;
}

void p11_set_deadline(struct p11 *p, long long deadline_ms)
{
    p->deadline_ms = deadline_ms;
}

int p11_wedged(const struct p11 *p)
{
    return p != NULL && p->wedged;
}

static keyring_status job_run(struct p11 *p, uint32_t id, enum job_kind kind, uint8_t scheme,
                              const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len,
                              uint8_t *scheme_out)
{
    struct job *j = calloc(1, sizeof(*j));
    keyring_status st;
    int abandoned = 0;

    if (j == NULL)
        return KEYRING_ERR_NOMEM;
    j->id = id;
    j->kind = kind;
    j->scheme = scheme;
    if (in_len > 0)
        memcpy(j->in, in, in_len);
    st = run_bounded(p, j, &abandoned);
    if (abandoned)
        return st;
    if (st == KEYRING_OK && out_len > 0) {
        memcpy(out, j->out, out_len);
        if (scheme_out != NULL)
            *scheme_out = j->scheme;
    }
    job_free(j);
    return st;
}

keyring_status p11_wrap(struct p11 *p, uint32_t id, const uint8_t *data_key, uint8_t *scheme,
                        uint8_t *wrapped)
{
    return job_run(p, id, JOB_WRAP, 0, data_key, DATA_KEY_LEN, wrapped, WRAPPED_KEY_LEN, scheme);
}

keyring_status p11_unwrap(struct p11 *p, uint32_t id, uint8_t scheme, const uint8_t *wrapped,
                          uint8_t *data_key)
{
    if (scheme != KEYRING_SCHEME_P11_KWP && scheme != KEYRING_SCHEME_P11_KW)
        return KEYRING_ERR_CRYPTO;
    return job_run(p, id, JOB_UNWRAP, scheme, wrapped, WRAPPED_KEY_LEN, data_key, DATA_KEY_LEN,
                   NULL);
}

keyring_status p11_connect_bounded(struct p11 *p)
{
    return job_run(p, 0, JOB_CONNECT, 0, NULL, 0, NULL, 0, NULL);
}

keyring_status p11_derive_tag(struct p11 *p, uint32_t id, uint8_t out[32])
{
    static const uint8_t label[32] = "sharekeep log tag v1 ...........";
    uint8_t wrapped[WRAPPED_KEY_LEN], scheme = 0;
    unsigned int len = 0;
    keyring_status st;

    st = p11_wrap(p, id, label, &scheme, wrapped);
    if (st == KEYRING_OK && (EVP_Digest(wrapped, sizeof(wrapped), out, &len, EVP_sha256(), NULL)
                             != 1 || len != 32))
        st = KEYRING_ERR_CRYPTO;
    OPENSSL_cleanse(wrapped, sizeof(wrapped));
    return st;
}

keyring_status p11_generate(struct p11 *p, uint32_t id, char *err, size_t errlen)
{
    char label[LABEL_MAX];
    uint8_t kid[4] = { (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id };
    CK_ULONG value_len = KEK_LEN, count = 0;
    CK_ATTRIBUTE t[] = {
        ATTR(CKA_CLASS, &secret_class, sizeof(secret_class)),
        ATTR(CKA_KEY_TYPE, &aes_type, sizeof(aes_type)),
        ATTR(CKA_VALUE_LEN, &value_len, sizeof(value_len)),
        ATTR(CKA_TOKEN, &yes, sizeof(yes)),
        ATTR(CKA_PRIVATE, &yes, sizeof(yes)),
        ATTR(CKA_SENSITIVE, &yes, sizeof(yes)),
        ATTR(CKA_EXTRACTABLE, &no, sizeof(no)),
        ATTR(CKA_WRAP, &yes, sizeof(yes)),
        ATTR(CKA_UNWRAP, &yes, sizeof(yes)),
        /* For RFC 3394 from ECB where the transport has no key-wrap
         * mechanism (kw_ecb); it lets a session do what unwrap does. */
        ATTR(CKA_ENCRYPT, &yes, sizeof(yes)),
        ATTR(CKA_DECRYPT, &yes, sizeof(yes)),
        ATTR(CKA_SIGN, &no, sizeof(no)),
        ATTR(CKA_VERIFY, &no, sizeof(no)),
        ATTR(CKA_DERIVE, &no, sizeof(no)),
        ATTR(CKA_LABEL, label, 0),
        ATTR(CKA_ID, kid, sizeof(kid)),
    };
    CK_MECHANISM m = { CKM_AES_KEY_GEN, NULL, 0 };
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    keyring_status st;
    CK_RV rv;

    label_of(p, id, label, sizeof(label));
    t[14].ulValueLen = strlen(label);
    st = p11_connect(p, 1, err, errlen);
    if (st != KEYRING_OK)
        return st;
    rv = find_label(p, label, &h, &count);
    if (rv != CKR_OK || count != 0) {
        errbuf_set(err, errlen, rv != CKR_OK ? "pkcs11: looking for '%s': %s"
                   : "pkcs11: a key labelled '%s' is already in the token%s; the key file "
                   "does not list it: remove it from the token or restore the key file",
                   label, rv != CKR_OK ? rv_name(rv) : "");
        return rv != CKR_OK ? classify(rv) : KEYRING_ERR_TOKEN;
    }
    rv = p->fn->C_GenerateKey(p->session, &m, t, sizeof(t) / sizeof(t[0]), &h);
    if (rv != CKR_OK) {
        errbuf_set(err, errlen, "pkcs11: generating '%s' (C_GenerateKey CKM_AES_KEY_GEN): %s",
                   label, rv_name(rv));
        return classify(rv) == KEYRING_ERR_UNAVAILABLE ? KEYRING_ERR_TOKEN : classify(rv);
    }
    /* The same checks every start makes, on the key just made. */
    return lookup(p, id, &h, err, errlen);
}

keyring_status p11_destroy(struct p11 *p, uint32_t id)
{
    char label[LABEL_MAX];
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_ULONG count = 0;
    keyring_status st = p11_connect(p, 1, NULL, 0);

    if (st != KEYRING_OK)
        return st;
    label_of(p, id, label, sizeof(label));
    if (find_label(p, label, &h, &count) != CKR_OK || count != 1)
        return KEYRING_ERR_UNKNOWN_KEK;
    for (size_t i = 0; i < p->nkeys; i++)
        if (p->keys[i].id == id)
            p->keys[i] = p->keys[--p->nkeys];
    return p->fn->C_DestroyObject(p->session, h) == CKR_OK ? KEYRING_OK : KEYRING_ERR_TOKEN;
}
