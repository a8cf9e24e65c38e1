/* tests/tools/p11_import_key.c: test-only tool that imports a KNOWN
 * AES-256 key into a PKCS#11 token as a token object, so that tests can
 * compare what sharekeep's PKCS#11 KEK backend computes with a reference.
 *
 *   p11_import_key MODULE TOKEN_LABEL PIN_FILE LABEL ID HEXKEY [--extractable]
 *
 *   MODULE       PKCS#11 module (libsofthsm2.so, p11-kit-client.so, ...)
 *   TOKEN_LABEL  label of the token to use (exact, up to 32 bytes)
 *   PIN_FILE     file holding the user PIN (one trailing newline ignored)
 *   LABEL        CKA_LABEL of the new key
 *   ID           CKA_ID of the new key, in hex (even number of digits)
 *   HEXKEY       the key, 64 hex digits (32 bytes)
 *   --extractable  CKA_EXTRACTABLE true (default false), to test that the
 *                code under test refuses such a KEK
 *
 * The key: CKO_SECRET_KEY, CKK_AES, CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE
 * true, CKA_WRAP/UNWRAP/ENCRYPT/DECRYPT true.  Refuses to add a second key
 * with the same LABEL.
 *
 * Exit status: 0 imported; 1 PKCS#11 failure (token missing, PIN wrong,
 * label taken, C_CreateObject refused); 2 usage error (bad arguments,
 * unreadable PIN file).
 *
 * Build (links p11-kit-1 only):
 *   cc -std=c11 -Wall -Wextra -O2 -o p11_import_key tests/tools/p11_import_key.c \
 *      $(pkg-config --cflags --libs p11-kit-1)
 */
#define _POSIX_C_SOURCE 200809L
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_LEN 32
#define MAX_ID 64
#define MAX_PIN 256

static const char *prog = "p11_import_key";

static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes hex into out (at most max bytes); returns the length, or -1. */
static long unhex(const char *hex, unsigned char *out, size_t max)
{
    size_t n = strlen(hex);
    if (n == 0 || n % 2 != 0 || n / 2 > max)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval((unsigned char)hex[2 * i]), lo = hexval((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return (long)(n / 2);
}

/* Reads the PIN: the whole file, one trailing "\n" (or "\r\n") dropped. */
static long read_pin(const char *path, char *pin, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open PIN file %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    size_t n = fread(pin, 1, max, f);
    int err = ferror(f), more = !err && n == max && fgetc(f) != EOF;
    fclose(f);
    if (err) {
        fprintf(stderr, "%s: cannot read PIN file %s\n", prog, path);
        return -1;
    }
    if (more) {
        fprintf(stderr, "%s: PIN file %s is longer than %d bytes\n", prog, path, MAX_PIN);
        return -1;
    }
    if (n > 0 && pin[n - 1] == '\n')
        n--;
    if (n > 0 && pin[n - 1] == '\r')
        n--;
    if (n == 0) {
        fprintf(stderr, "%s: PIN file %s is empty\n", prog, path);
        return -1;
    }
    return (long)n;
}

static const char *rvname(CK_RV rv)
{
    switch (rv) {
    case CKR_OK: return "CKR_OK";
    case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
    case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED";
    case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
    case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
    case CKR_TEMPLATE_INCONSISTENT: return "CKR_TEMPLATE_INCONSISTENT";
    case CKR_TEMPLATE_INCOMPLETE: return "CKR_TEMPLATE_INCOMPLETE";
    case CKR_ATTRIBUTE_VALUE_INVALID: return "CKR_ATTRIBUTE_VALUE_INVALID";
    case CKR_ATTRIBUTE_TYPE_INVALID: return "CKR_ATTRIBUTE_TYPE_INVALID";
    case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
    case CKR_SESSION_READ_ONLY: return "CKR_SESSION_READ_ONLY";
    case CKR_TOKEN_WRITE_PROTECTED: return "CKR_TOKEN_WRITE_PROTECTED";
    case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
    case CKR_FUNCTION_FAILED: return "CKR_FUNCTION_FAILED";
    default: return "CKR_?";
    }
}

static void p11err(const char *what, CK_RV rv)
{
    fprintf(stderr, "%s: %s: %s (0x%lx)\n", prog, what, rvname(rv), (unsigned long)rv);
}

int main(int argc, char **argv)
{
    int rc = 2;
    CK_FUNCTION_LIST *m = NULL;
    int initialized = 0, logged_in = 0;
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    CK_SLOT_ID *slots = NULL;
    unsigned char key[KEY_LEN], id[MAX_ID];
    char pin[MAX_PIN];
    long pinlen = 0, idlen;
    CK_BBOOL extractable = CK_FALSE;
    CK_RV rv;

    if (argc == 8 && strcmp(argv[7], "--extractable") == 0)
        extractable = CK_TRUE;
    else if (argc != 7) {
        fprintf(stderr, "usage: %s MODULE TOKEN_LABEL PIN_FILE LABEL ID HEXKEY [--extractable]\n"
                        "  ID in hex, HEXKEY 64 hex digits (AES-256)\n", prog);
        return 2;
    }
    const char *module = argv[1], *token = argv[2], *pinfile = argv[3], *label = argv[4];
    size_t toklen = strlen(token);
    if (toklen == 0 || toklen > 32) {
        fprintf(stderr, "%s: token label must be 1 to 32 bytes\n", prog);
        goto out;
    }
    if (label[0] == '\0') {
        fprintf(stderr, "%s: key label must not be empty\n", prog);
        goto out;
    }
    if ((idlen = unhex(argv[5], id, sizeof id)) < 0) {
        fprintf(stderr, "%s: ID must be 1 to %d bytes of hex\n", prog, MAX_ID);
        goto out;
    }
    if (strlen(argv[6]) != 2 * KEY_LEN || unhex(argv[6], key, sizeof key) != KEY_LEN) {
        fprintf(stderr, "%s: HEXKEY must be exactly %d hex digits\n", prog, 2 * KEY_LEN);
        goto out;
    }
    wipe(argv[6], strlen(argv[6])); /* out of /proc/PID/cmdline from now on */
    if ((pinlen = read_pin(pinfile, pin, sizeof pin)) < 0)
        goto out;

    rc = 1;
    m = p11_kit_module_load(module, 0);
    if (!m) {
        const char *msg = p11_kit_message();
        fprintf(stderr, "%s: cannot load module %s: %s\n", prog, module, msg ? msg : "unknown error");
        goto out;
    }
    if ((rv = p11_kit_module_initialize(m)) != CKR_OK) {
        p11err("C_Initialize", rv);
        goto out;
    }
    initialized = 1;

    /* the token, by label (space padded to 32 in CK_TOKEN_INFO) */
    CK_ULONG nslots = 0;
    if ((rv = m->C_GetSlotList(CK_TRUE, NULL, &nslots)) != CKR_OK) {
        p11err("C_GetSlotList", rv);
        goto out;
    }
    slots = calloc(nslots ? nslots : 1, sizeof *slots);
    if (!slots) {
        fprintf(stderr, "%s: out of memory\n", prog);
        goto out;
    }
    if ((rv = m->C_GetSlotList(CK_TRUE, slots, &nslots)) != CKR_OK) {
        p11err("C_GetSlotList", rv);
        goto out;
    }
    char want[32];
    memset(want, ' ', sizeof want);
    memcpy(want, token, toklen);
    CK_SLOT_ID slot = 0;
    int found = 0;
    for (CK_ULONG i = 0; i < nslots && !found; i++) {
        CK_TOKEN_INFO ti;
        if (m->C_GetTokenInfo(slots[i], &ti) == CKR_OK && memcmp(ti.label, want, 32) == 0) {
            slot = slots[i];
            found = 1;
        }
    }
    if (!found) {
        fprintf(stderr, "%s: no token labelled \"%s\" in %s (%lu slots with a token)\n", prog, token,
                module, (unsigned long)nslots);
        goto out;
    }

    if ((rv = m->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s)) != CKR_OK) {
        p11err("C_OpenSession", rv);
        s = CK_INVALID_HANDLE;
        goto out;
    }
    rv = m->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)pinlen);
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
        p11err("C_Login", rv);
        goto out;
    }
    logged_in = rv == CKR_OK;

    /* refuse a duplicate label: the code under test looks keys up by it */
    {
        CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
        CK_ATTRIBUTE q[] = {
            {CKA_CLASS, &cls, sizeof cls},
            {CKA_LABEL, (void *)label, strlen(label)},
        };
        CK_OBJECT_HANDLE h;
        CK_ULONG n = 0;
        if ((rv = m->C_FindObjectsInit(s, q, 2)) != CKR_OK) {
            p11err("C_FindObjectsInit", rv);
            goto out;
        }
        rv = m->C_FindObjects(s, &h, 1, &n);
        m->C_FindObjectsFinal(s);
        if (rv != CKR_OK) {
            p11err("C_FindObjects", rv);
            goto out;
        }
        if (n > 0) {
            fprintf(stderr, "%s: token \"%s\" already has a secret key labelled \"%s\"\n", prog, token, label);
            goto out;
        }
    }

    {
        CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
        CK_KEY_TYPE kt = CKK_AES;
        CK_BBOOL yes = CK_TRUE;
        CK_ATTRIBUTE t[] = {
            {CKA_CLASS, &cls, sizeof cls},
            {CKA_KEY_TYPE, &kt, sizeof kt},
            {CKA_TOKEN, &yes, sizeof yes},
            {CKA_PRIVATE, &yes, sizeof yes},
            {CKA_SENSITIVE, &yes, sizeof yes},
            {CKA_EXTRACTABLE, &extractable, sizeof extractable},
            {CKA_WRAP, &yes, sizeof yes},
            {CKA_UNWRAP, &yes, sizeof yes},
            {CKA_ENCRYPT, &yes, sizeof yes},
            {CKA_DECRYPT, &yes, sizeof yes},
            {CKA_LABEL, (void *)label, strlen(label)},
            {CKA_ID, id, (CK_ULONG)idlen},
            {CKA_VALUE, key, sizeof key},
        };
        CK_OBJECT_HANDLE h;
        if ((rv = m->C_CreateObject(s, t, sizeof t / sizeof t[0], &h)) != CKR_OK) {
            p11err("C_CreateObject", rv);
            goto out;
        }
    }
    printf("imported AES-256 key \"%s\" (id %s, %s) into token \"%s\"\n", label, argv[5],
           extractable ? "extractable" : "non-extractable", token);
    rc = 0;

out:
    wipe(key, sizeof key);
    wipe(pin, sizeof pin);
    if (m) {
        if (s != CK_INVALID_HANDLE) {
            if (logged_in)
                m->C_Logout(s);
            m->C_CloseSession(s);
        }
        if (initialized)
            p11_kit_module_finalize(m);
        p11_kit_module_release(m);
    }
    free(slots);
    return rc;
}
