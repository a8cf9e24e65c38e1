/* Webhook authentication: Standard Webhooks "v1" signatures and plain shared
 * secrets. The rules and status choices are documented in auth_webhook.h.
 *
 * Every candidate is compared with CRYPTO_memcmp and the loops never stop at
 * the first match, so timing tells an attacker neither which secret nor which
 * signature entry matched, nor how much of a guess was right.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "errbuf.h"
#include "auth_webhook.h"
#include "base64.h"
#include "file.h"
#include "keyring.h"

#define MAC_LEN          32u   /* HMAC-SHA256 */
#define MAC_B64_LEN      44u   /* padded base64 of MAC_LEN bytes */
#define SECRET_PREFIX    "whsec_"
#define ERR_INNER_MAX    512u

struct wh_secret {
    uint8_t *bytes;     /* STANDARD: the HMAC key; SHARED: SHA-256 of the secret */
    size_t len;
};

struct webhook_secrets {
    enum webhook_mode mode;
    size_t count;
    struct wh_secret s[WEBHOOK_SECRETS_MAX];
};

/* What one entry of the webhook-signature header turned out to be. */
enum sig_entry { ENTRY_BROKEN, ENTRY_OTHER_VERSION, ENTRY_V1 };

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static int sha256(const void *p, size_t len, uint8_t out[MAC_LEN])
{
    unsigned int outl = 0;

    return EVP_Digest(p, len, out, &outl, EVP_sha256(), NULL) == 1 && outl == MAC_LEN ? 0 : -1;
}

static int add_secret(struct webhook_secrets *s, const uint8_t *p, size_t len)
{
    uint8_t *copy = secure_dup(p, len);

    if (copy == NULL)
        return -1;
    s->s[s->count].bytes = copy;
    s->s[s->count].len = len;
    s->count++;
    return 0;
}

/* One trimmed, non-empty, non-comment line in STANDARD mode. */
static int parse_standard_line(struct webhook_secrets *s, const char *p, size_t n,
                               const char *label, unsigned long lineno,
                               char *err, size_t errlen)
{
    uint8_t key[WEBHOOK_KEY_MAX];
    size_t plen = sizeof(SECRET_PREFIX) - 1, klen = 0;
    int rc = -1;

    if (n >= 5 && (memcmp(p, "whsk_", 5) == 0 || memcmp(p, "whpk_", 5) == 0)) {
        errbuf_set(err, errlen, "%s: line %lu: asymmetric (whsk_/whpk_, v1a) keys are not "
                "supported; configure the endpoint's whsec_ secret", label, lineno);
        goto out;
    }
    if (n >= plen && memcmp(p, SECRET_PREFIX, plen) == 0) {
        p += plen;
        n -= plen;
    }
    if (n == 0 || base64_decoded_len(p, n, BASE64_STD_PADDED, &klen) != 0) {
        errbuf_set(err, errlen, "%s: line %lu: secret is not valid base64; expected "
                "whsec_<base64>", label, lineno);
        goto out;
    }
    if (klen < WEBHOOK_KEY_MIN || klen > WEBHOOK_KEY_MAX) {
        errbuf_set(err, errlen, "%s: line %lu: secret decodes to %zu bytes; expected %u to %u",
                label, lineno, klen, WEBHOOK_KEY_MIN, WEBHOOK_KEY_MAX);
        goto out;
    }
    if (base64_decode(p, n, BASE64_STD_PADDED, key, sizeof(key), &klen) != 0) {
        errbuf_set(err, errlen, "%s: line %lu: secret is not canonical base64", label, lineno);
        goto out;
    }
    if (add_secret(s, key, klen) != 0) {
        errbuf_set(err, errlen, "%s: out of memory", label);
        goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(key, sizeof(key));
    return rc;
}

/* One trimmed, non-empty, non-comment line in SHARED mode. */
static int parse_shared_line(struct webhook_secrets *s, const char *p, size_t n,
                             const char *label, unsigned long lineno,
                             char *err, size_t errlen)
{
    uint8_t digest[MAC_LEN];
    size_t i;
    int rc = -1;

    if (n < WEBHOOK_SHARED_MIN || n > WEBHOOK_SHARED_MAX) {
        errbuf_set(err, errlen, "%s: line %lu: shared secret is %zu bytes; expected %u to %u",
                label, lineno, n, WEBHOOK_SHARED_MIN, WEBHOOK_SHARED_MAX);
        goto out;
    }
    /* It has to travel in an HTTP header, so anything else could never match. */
    for (i = 0; i < n; i++) {
        if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e) {
            errbuf_set(err, errlen, "%s: line %lu: shared secret must be printable ASCII",
                    label, lineno);
            goto out;
        }
    }
    if (sha256(p, n, digest) != 0) {
        errbuf_set(err, errlen, "%s: SHA-256 failed", label);
        goto out;
    }
    if (add_secret(s, digest, sizeof(digest)) != 0) {
        errbuf_set(err, errlen, "%s: out of memory", label);
        goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(digest, sizeof(digest));
    return rc;
}

static int parse_text(const char *text, size_t len, enum webhook_mode mode,
                      struct webhook_secrets **out, const char *label,
                      char *err, size_t errlen)
{
    struct webhook_secrets *s = NULL;
    size_t pos = 0, line_len, b, e;
    const char *line, *nl;
    unsigned long lineno = 0;
    int rc = -1;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out == NULL || (text == NULL && len > 0)) {
        errbuf_set(err, errlen, "%s: invalid argument", label);
        goto out;
    }
    *out = NULL;
    if (mode != WEBHOOK_STANDARD && mode != WEBHOOK_SHARED) {
        errbuf_set(err, errlen, "%s: unknown mode", label);
        goto out;
    }
    if (len > 0 && memchr(text, '\0', len) != NULL) {
        errbuf_set(err, errlen, "%s: contains a NUL byte", label);
        goto out;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        errbuf_set(err, errlen, "%s: out of memory", label);
        goto out;
    }
    s->mode = mode;
    while (pos < len) {
        lineno++;
        line = text + pos;
        nl = memchr(line, '\n', len - pos);
        line_len = nl != NULL ? (size_t)(nl - line) : len - pos;
        pos += line_len + 1;
        b = 0;
        e = line_len;
        while (b < e && is_blank(line[b]))
            b++;
        while (e > b && is_blank(line[e - 1]))
            e--;
        if (b == e || line[b] == '#')
            continue;
        if (s->count == WEBHOOK_SECRETS_MAX) {
            errbuf_set(err, errlen, "%s: line %lu: more than %u secrets", label, lineno,
                    WEBHOOK_SECRETS_MAX);
            goto out;
        }
        if (mode == WEBHOOK_STANDARD) {
            if (parse_standard_line(s, line + b, e - b, label, lineno, err, errlen) != 0)
                goto out;
        } else if (parse_shared_line(s, line + b, e - b, label, lineno, err, errlen) != 0) {
            goto out;
        }
    }
    if (s->count == 0) {
        errbuf_set(err, errlen, "%s: no secrets; put one secret on a line", label);
        goto out;
    }
    *out = s;
    s = NULL;
    rc = 0;
out:
    webhook_secrets_free(s);
    return rc;
}

int webhook_secrets_parse(const char *text, size_t len, enum webhook_mode mode,
                          struct webhook_secrets **out, char *err, size_t errlen)
{
    return parse_text(text, len, mode, out, "webhook secrets", err, errlen);
}

int webhook_secrets_load(const char *path, enum webhook_mode mode,
                         struct webhook_secrets **out, char *err, size_t errlen)
{
    char label[ERR_INNER_MAX];
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = -1;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out != NULL)
        *out = NULL;
    if (path == NULL || out == NULL) {
        errbuf_set(err, errlen, "webhook secrets: no path given");
        goto out;
    }
    if (file_read("webhook secrets", path, WEBHOOK_SECRETS_FILE_MAX, FILE_SECRET, &buf, &len,
                  err, errlen) != FILE_OK)
        goto out;
    (void)snprintf(label, sizeof(label), "webhook secrets %s", path);
    rc = parse_text((const char *)buf, len, mode, out, label, err, errlen);
out:
    file_free(buf, len);
    return rc;
}

void webhook_secrets_free(struct webhook_secrets *s)
{
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < s->count; i++)
        OPENSSL_secure_clear_free(s->s[i].bytes, s->s[i].len);
    OPENSSL_cleanse(s, sizeof(*s));
    free(s);
}

size_t webhook_secrets_count(const struct webhook_secrets *s)
{
    return s == NULL ? 0 : s->count;
}

enum webhook_mode webhook_secrets_mode(const struct webhook_secrets *s)
{
    return s == NULL ? (enum webhook_mode)0 : s->mode;
}

const char *wh_strerror(wh_status st)
{
    switch (st) {
    case WH_OK:
        return "ok";
    case WH_MISSING:
        return "webhook authentication header missing";
    case WH_MALFORMED:
        return "webhook authentication header malformed";
    case WH_STALE:
        return "webhook timestamp outside the allowed window";
    case WH_BAD_SIGNATURE:
        return "webhook signature or shared secret does not match";
    }
    return "unknown webhook status";
}

/* ---- Standard Webhooks ---------------------------------------------- */

static int id_ok(const char *id)
{
    size_t i;

    for (i = 0; id[i] != '\0'; i++) {
        if (i == WEBHOOK_ID_MAX)
            return 0;
        if ((unsigned char)id[i] < 0x21 || (unsigned char)id[i] > 0x7e || id[i] == '.')
            return 0;
    }
    return i > 0;
}

/* 1..WEBHOOK_TIMESTAMP_MAX digits; 19 digits always fit in uint64_t. */
static int timestamp_parse(const char *ts, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; ts[i] != '\0'; i++) {
        if (i == WEBHOOK_TIMESTAMP_MAX || ts[i] < '0' || ts[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(ts[i] - '0');
    }
    *out = v;
    return i > 0;
}

static int timestamp_stale(uint64_t ts, time_t now, long tolerance)
{
    uint64_t tol = tolerance > 0 ? (uint64_t)tolerance : 0, diff;
    int64_t n = (int64_t)now;

    /* A clock before 1970 cannot vouch for any timestamp. */
    if (n < 0)
        return 1;
    diff = ts >= (uint64_t)n ? ts - (uint64_t)n : (uint64_t)n - ts;
    return diff > tol;
}

static enum sig_entry classify_entry(const char *p, size_t n, uint8_t mac[MAC_LEN])
{
    const char *comma = memchr(p, ',', n);
    size_t vlen, blen, i, mac_len = 0;
    enum sig_entry kind = ENTRY_BROKEN;

    if (comma == NULL)
        goto out;
    vlen = (size_t)(comma - p);
    blen = n - vlen - 1;
    if (vlen == 0 || vlen > WEBHOOK_SIG_VERSION_MAX || blen == 0)
        goto out;
    for (i = 0; i < vlen; i++)
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
              (p[i] >= '0' && p[i] <= '9')))
            goto out;
    /* Entries are split on ' ' only; a tab or other control byte means the
     * header was mangled, not that an unknown version was sent. */
    for (i = vlen + 1; i < n; i++)
        if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e)
            goto out;
    if (vlen != 2 || memcmp(p, "v1", 2) != 0) {
        kind = ENTRY_OTHER_VERSION;
        goto out;
    }
    if (blen != MAC_B64_LEN ||
        base64_decode(comma + 1, blen, BASE64_STD_PADDED, mac, MAC_LEN, &mac_len) != 0 ||
        mac_len != MAC_LEN)
        goto out;
    kind = ENTRY_V1;
out:
    return kind;
}

static int hmac_sha256_msg(const struct wh_secret *key, const char *id, const char *ts,
                           const uint8_t *body, size_t body_len, uint8_t out[MAC_LEN])
{
    char digest[] = "SHA256";
    OSSL_PARAM params[2];
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *ctx = NULL;
    size_t outl = 0;
    int rc = -1;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL)
        goto out;
    ctx = EVP_MAC_CTX_new(mac);
    if (ctx == NULL)
        goto out;
    if (EVP_MAC_init(ctx, key->bytes, key->len, params) != 1)
        goto out;
    if (EVP_MAC_update(ctx, (const unsigned char *)id, strlen(id)) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)".", 1) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)ts, strlen(ts)) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)".", 1) != 1 ||
        (body_len > 0 && EVP_MAC_update(ctx, body, body_len) != 1))
        goto out;
    if (EVP_MAC_final(ctx, out, &outl, MAC_LEN) != 1 || outl != MAC_LEN)
        goto out;
    rc = 0;
out:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return rc;
}

wh_status webhook_verify_standard(const struct webhook_secrets *s, const char *id,
                                  const char *timestamp, const char *signature_header,
                                  const uint8_t *body, size_t body_len,
                                  time_t now, long tolerance_seconds)
{
    uint8_t macs[WEBHOOK_SIGNATURES_MAX][MAC_LEN], want[MAC_LEN];
    size_t nmacs = 0, nentries = 0, nbroken = 0, hlen, pos = 0, start, i, j;
    uint64_t ts = 0;
    unsigned match = 0;
    wh_status st = WH_MISSING;

    if (id == NULL || timestamp == NULL || signature_header == NULL)
        goto out;
    st = WH_MALFORMED;
    if (!id_ok(id) || !timestamp_parse(timestamp, &ts))
        goto out;
    hlen = strnlen(signature_header, WEBHOOK_SIGNATURE_MAX + 1);
    if (hlen > WEBHOOK_SIGNATURE_MAX)
        goto out;
    while (pos < hlen) {
        while (pos < hlen && signature_header[pos] == ' ')
            pos++;
        if (pos == hlen)
            break;
        start = pos;
        while (pos < hlen && signature_header[pos] != ' ')
            pos++;
        if (++nentries > WEBHOOK_SIGNATURES_MAX)
            goto out;
        switch (classify_entry(signature_header + start, pos - start, macs[nmacs])) {
        case ENTRY_V1:
            nmacs++;
            break;
        case ENTRY_BROKEN:
            nbroken++;
            break;
        case ENTRY_OTHER_VERSION:
            break;
        }
    }
    if (nmacs == 0 && (nbroken > 0 || nentries == 0))
        goto out;
    /* Staleness before the MACs: cheap, and the spec's replay guard. */
    st = WH_STALE;
    if (timestamp_stale(ts, now, tolerance_seconds))
        goto out;
    st = WH_BAD_SIGNATURE;
    if (s == NULL || s->mode != WEBHOOK_STANDARD || nmacs == 0 ||
        (body == NULL && body_len > 0))
        goto out;
    for (i = 0; i < s->count; i++) {
        if (hmac_sha256_msg(&s->s[i], id, timestamp, body, body_len, want) != 0) {
            match = 0;
            goto out;
        }
        for (j = 0; j < nmacs; j++)
            match |= (unsigned)(CRYPTO_memcmp(want, macs[j], MAC_LEN) == 0);
    }
    if (match)
        st = WH_OK;
out:
    OPENSSL_cleanse(want, sizeof(want));
    OPENSSL_cleanse(macs, sizeof(macs));
    return st;
}

/* ---- shared secret --------------------------------------------------- */

wh_status webhook_verify_shared(const struct webhook_secrets *s, const char *header_value)
{
    uint8_t digest[MAC_LEN];
    unsigned match = 0;
    size_t len, i;
    wh_status st = WH_MISSING;

    if (header_value == NULL)
        goto out;
    st = WH_MALFORMED;
    len = strnlen(header_value, WEBHOOK_SHARED_MAX + 1);
    if (len > WEBHOOK_SHARED_MAX)
        goto out;
    st = WH_BAD_SIGNATURE;
    if (s == NULL || s->mode != WEBHOOK_SHARED)
        goto out;
    if (sha256(header_value, len, digest) != 0)
        goto out;
    for (i = 0; i < s->count; i++)
        match |= (unsigned)(CRYPTO_memcmp(digest, s->s[i].bytes, MAC_LEN) == 0);
    if (match)
        st = WH_OK;
out:
    OPENSSL_cleanse(digest, sizeof(digest));
    return st;
}
