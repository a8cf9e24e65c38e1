/* libFuzzer target: webhook authentication (auth_webhook.c).
 *
 * Input:
 *   byte 0   mode (low 2 bits)
 *              0  webhook_verify_standard(id, timestamp, signature, body)
 *                 with the fixed secret (FZ_WEBHOOK_SECRETS)
 *              1  as 0, and the harness inserts the correct v1 signature
 *                 for id/timestamp/body as entry number (byte 1 % 4) of the
 *                 signature header: the result must then be WH_OK exactly
 *                 when id, timestamp and header size/entry count are
 *                 acceptable, and flipping one body bit must lose WH_OK
 *              2  webhook_secrets_parse(rest, STANDARD), then verify with
 *                 whatever it loaded
 *              3  webhook_secrets_parse(rest, SHARED) and
 *                 webhook_verify_shared(signature field)
 *            bits 2-7: tolerance = (byte 0 >> 2) * 10 seconds
 *   byte 1   insertion slot for mode 1
 *   then NUL-separated: webhook-id, webhook-timestamp, webhook-signature;
 *   each may be absent: a field that is exactly "\x01" stands for "header
 *   not sent" (NULL). The rest is the body (modes 0, 1) or the secrets
 *   text (modes 2, 3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_webhook.h"
#include "fuzz_common.h"

static struct webhook_secrets *secrets;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];

    (void)argc;
    (void)argv;
    if (webhook_secrets_parse(FZ_WEBHOOK_SECRETS, strlen(FZ_WEBHOOK_SECRETS), WEBHOOK_STANDARD,
                              &secrets, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_webhook: %s\n", err);
        abort();
    }
    return 0;
}

static const char *opt(const char *f)
{
    return strcmp(f, "\x01") == 0 ? NULL : f;
}

static int id_acceptable(const char *id)
{
    size_t i;

    for (i = 0; id[i]; i++)
        if ((unsigned char)id[i] < 0x21 || (unsigned char)id[i] > 0x7e || id[i] == '.')
            return 0;
    return i >= 1 && i <= WEBHOOK_ID_MAX;
}

static int ts_fresh(const char *ts, long tolerance)
{
    unsigned long long v = 0;
    long long diff;
    size_t i;

    for (i = 0; ts[i]; i++) {
        if (ts[i] < '0' || ts[i] > '9' || i >= WEBHOOK_TIMESTAMP_MAX)
            return 0;
        v = v * 10 + (unsigned)(ts[i] - '0');
    }
    if (i == 0)
        return 0;
    if (v > (unsigned long long)FZ_NOW + 1000000ULL)
        return 0;
    diff = (long long)v - (long long)FZ_NOW;
    return (diff < 0 ? -diff : diff) <= tolerance;
}

static size_t count_entries(const char *h)
{
    size_t n = 0;

    while (*h) {
        while (*h == ' ')
            h++;
        if (!*h)
            break;
        n++;
        while (*h && *h != ' ')
            h++;
    }
    return n;
}

/* Mode 1: the header with the right signature put in as entry `slot`. */
static void verify_with_good_sig(const char *id, const char *ts, const char *sig,
                                 const uint8_t *body, size_t body_len, long tol, unsigned slot)
{
    char good[48];
    char *hdr;
    const char *p = sig;
    size_t sl = strlen(sig), pos = 0, entry = 0;
    wh_status st;
    uint8_t *flipped;
    int expect_ok;

    if (fz_webhook_sig(id, ts, body, body_len, good) != 0)
        abort();
    hdr = malloc(sl + sizeof(good) + 3);
    if (hdr == NULL)
        abort();
    /* copy entries, putting ours in front of entry `slot` (or at the end) */
    while (*p) {
        if (*p != ' ' && (p == sig || p[-1] == ' ')) {
            if (entry == slot) {
                pos += (size_t)sprintf(hdr + pos, "%s ", good);
                slot = (unsigned)-1;
            }
            entry++;
        }
        hdr[pos++] = *p++;
    }
    if (slot != (unsigned)-1)
        pos += (size_t)sprintf(hdr + pos, "%s%s", pos && hdr[pos - 1] != ' ' ? " " : "", good);
    hdr[pos] = '\0';

    st = webhook_verify_standard(secrets, id, ts, hdr, body, body_len, FZ_NOW, tol);
    expect_ok = id_acceptable(id) && ts_fresh(ts, tol) && strlen(hdr) <= WEBHOOK_SIGNATURE_MAX &&
                count_entries(hdr) <= WEBHOOK_SIGNATURES_MAX;
    if ((st == WH_OK) != expect_ok) {
        fprintf(stderr, "status %d (%s), expected %s; id='%s' ts='%s' header='%s'\n", st,
                wh_strerror(st), expect_ok ? "ok" : "a refusal", id, ts, hdr);
        abort();
    }
    if (st == WH_OK && body_len > 0) {
        flipped = fz_dup(body, body_len);
        flipped[body_len / 2] ^= 0x01;
        st = webhook_verify_standard(secrets, id, ts, hdr, flipped, body_len, FZ_NOW, tol);
        FZ_ASSERT(st == WH_BAD_SIGNATURE);
        free(flipped);
    }
    free(hdr);
}

/* The first secret line of text, trimmed as webhook_secrets_parse trims
 * it, into out (NUL-terminated); 0 if there is none. */
static size_t first_secret(const char *text, size_t len, char *out, size_t cap)
{
    size_t pos = 0;

    while (pos < len) {
        const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos, b = 0, e = n;

        pos += n + 1;
        while (b < e && strchr(" \t\r\v\f", line[b]) != NULL)
            b++;
        while (e > b && strchr(" \t\r\v\f", line[e - 1]) != NULL)
            e--;
        if (b == e || line[b] == '#')
            continue;
        if (e - b >= cap)
            return 0;
        memcpy(out, line + b, e - b);
        out[e - b] = '\0';
        return e - b;
    }
    return 0;
}

/* Whatever webhook_secrets_parse loaded must work: in SHARED mode the first
 * secret sent as the header matches; in STANDARD mode a delivery signed with
 * the first key (decoded here with OpenSSL's own base64) verifies. */
static void check_first_secret(const struct webhook_secrets *s, enum webhook_mode wm,
                               const char *text, size_t len, const char *id, const char *ts,
                               long tol)
{
    char line[WEBHOOK_SHARED_MAX + 16], hdr[64];
    unsigned char key[WEBHOOK_KEY_MAX + 3];
    uint8_t mac[32];
    char *msg;
    const char *b64;
    size_t n = first_secret(text, len, line, sizeof(line)), idl, tsl;
    int klen, pad = 0;
    wh_status st;

    FZ_ASSERT(n > 0);
    if (wm == WEBHOOK_SHARED) {
        FZ_ASSERT(webhook_verify_shared(s, line) == WH_OK);
        return;
    }
    b64 = strncmp(line, "whsec_", 6) == 0 ? line + 6 : line;
    n = strlen(b64);
    FZ_ASSERT(n % 4 == 0 && n / 4 * 3 <= sizeof(key));
    klen = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)n);
    FZ_ASSERT(klen > 0);
    while (pad < 2 && n > 0 && b64[n - 1 - (size_t)pad] == '=')
        pad++;
    klen -= pad;
    FZ_ASSERT(klen >= (int)WEBHOOK_KEY_MIN && klen <= (int)WEBHOOK_KEY_MAX);
    if (!id_acceptable(id) || !ts_fresh(ts, tol))
        return;
    idl = strlen(id);
    tsl = strlen(ts);
    msg = malloc(idl + tsl + 3);
    FZ_ASSERT(msg != NULL);
    snprintf(msg, idl + tsl + 3, "%s.%s.", id, ts);
    FZ_ASSERT(fz_hmac(key, (size_t)klen, msg, idl + tsl + 2, text, len, NULL, 0, mac) == 0);
    free(msg);
    memcpy(hdr, "v1,", 3);
    fz_b64(mac, sizeof(mac), hdr + 3);
    st = webhook_verify_standard(s, id, ts, hdr, (const uint8_t *)text, len, FZ_NOW, tol);
    if (st != WH_OK)
        fprintf(stderr, "first secret '%s' does not verify: %s\n", line, wh_strerror(st));
    FZ_ASSERT(st == WH_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_fields ff = { 0 };
    struct webhook_secrets *s = NULL;
    const uint8_t *rest;
    size_t rest_len;
    uint8_t *body;
    char err[256];
    long tol;
    int mode;
    wh_status st;

    if (size < 2)
        return 0;
    mode = data[0] & 3;
    tol = (long)(data[0] >> 2) * 10;
    if (fz_split(data + 2, size - 2, 3, &ff, &rest, &rest_len) != 0)
        abort();
    body = fz_dup(rest, rest_len);

    switch (mode) {
    case 0:
        st = webhook_verify_standard(secrets, opt(ff.f[0]), opt(ff.f[1]), opt(ff.f[2]), body,
                                     rest_len, FZ_NOW, tol);
        FZ_ASSERT(st >= WH_OK && st <= WH_BAD_SIGNATURE);
        if (st == WH_OK) {
            /* only possible with the real MAC: check the claim */
            char good[48];
            FZ_ASSERT(fz_webhook_sig(ff.f[0], ff.f[1], body, rest_len, good) == 0);
            FZ_ASSERT(strstr(ff.f[2], good + 3) != NULL);
            FZ_ASSERT(id_acceptable(ff.f[0]) && ts_fresh(ff.f[1], tol));
        }
        if (opt(ff.f[0]) == NULL || opt(ff.f[1]) == NULL || opt(ff.f[2]) == NULL)
            FZ_ASSERT(st == WH_MISSING);
        /* the other mode's secrets never verify a standard delivery */
        break;
    case 1:
        if (opt(ff.f[0]) && opt(ff.f[1]) && opt(ff.f[2]))
            verify_with_good_sig(ff.f[0], ff.f[1], ff.f[2], body, rest_len, tol, data[1] % 4);
        break;
    case 2:
    case 3: {
        enum webhook_mode wm = mode == 2 ? WEBHOOK_STANDARD : WEBHOOK_SHARED;
        int rc = webhook_secrets_parse((const char *)body, rest_len, wm, &s, err, sizeof(err));

        FZ_ASSERT(memchr(err, '\0', sizeof(err)) != NULL);
        if (rc != 0) {
            FZ_ASSERT(s == NULL && err[0] != '\0');
            break;
        }
        FZ_ASSERT(s != NULL);
        FZ_ASSERT(webhook_secrets_count(s) >= 1 && webhook_secrets_count(s) <= WEBHOOK_SECRETS_MAX);
        FZ_ASSERT(webhook_secrets_mode(s) == wm);
        if (wm == WEBHOOK_STANDARD) {
            st = webhook_verify_standard(s, opt(ff.f[0]), opt(ff.f[1]), opt(ff.f[2]), body,
                                         rest_len, FZ_NOW, tol);
            FZ_ASSERT(st >= WH_OK && st <= WH_BAD_SIGNATURE);
            /* a shared-mode check with standard secrets never passes */
            FZ_ASSERT(webhook_verify_shared(s, ff.f[2]) != WH_OK);
        } else {
            st = webhook_verify_shared(s, opt(ff.f[2]));
            FZ_ASSERT(st >= WH_OK && st <= WH_BAD_SIGNATURE);
            if (opt(ff.f[2]) == NULL)
                FZ_ASSERT(st == WH_MISSING);
            /* shared secrets never verify a standard delivery */
            FZ_ASSERT(webhook_verify_standard(s, "id", "1700000000", "v1,x", body, rest_len,
                                              FZ_NOW, tol) != WH_OK);
        }
        check_first_secret(s, wm, (const char *)body, rest_len, ff.f[0], ff.f[1], tol);
        webhook_secrets_free(s);
        break;
    }
    }
    free(body);
    fz_fields_free(&ff);
    return 0;
}
