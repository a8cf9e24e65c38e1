#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "body.h"
#include "bounds.h"
#include "log.h"

/* json-c keeps the last string it decoded in the tokener's printbuf; the
 * struct is published (deprecated) and this is the only way to wipe it. */
static void tokener_wipe_free(struct json_tokener *tok)
{
    if (tok == NULL)
        return;
    if (tok->pb != NULL && tok->pb->buf != NULL && tok->pb->size > 0)
        OPENSSL_cleanse(tok->pb->buf, (size_t)tok->pb->size);
    json_tokener_free(tok);
}

/* A strict RFC 8259 recognizer run before json-c, which (0.16) accepts
 * single-quoted keys, NaN, raw control characters, "1." and overlong UTF-8
 * even in strict mode. It also counts the top-level keys: json-c keeps only
 * the last of duplicate keys, which would let two parsers (a signature
 * checker upstream and us) read different values from one body. */
struct scan {
    const uint8_t *p;
    const uint8_t *end;
    int depth;
    size_t top_keys;
    const char *why;
};

static int scan_value(struct scan *sc);

static void skip_ws(struct scan *sc)
{
    while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\n' ||
                               *sc->p == '\r'))
        sc->p++;
}

static int fail(struct scan *sc, const char *why)
{
    if (sc->why == NULL)
        sc->why = why;
    return -1;
}

/* One UTF-8 sequence per RFC 3629: no overlongs, no surrogates, <= U+10FFFF. */
static int scan_utf8(struct scan *sc)
{
    const uint8_t *p = sc->p;
    size_t left = (size_t)(sc->end - p);
    uint8_t c = p[0];
    int n;
    uint8_t lo = 0x80, hi = 0xBF;

    if (c >= 0xC2 && c <= 0xDF)
        n = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 2;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 3;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return fail(sc, "request body is not valid UTF-8");
    if (left < (size_t)n + 1 || p[1] < lo || p[1] > hi)
        return fail(sc, "request body is not valid UTF-8");
    for (int i = 2; i <= n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return fail(sc, "request body is not valid UTF-8");
    sc->p += n + 1;
    return 0;
}

static int hex4(const uint8_t *p, unsigned *out)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static int scan_string(struct scan *sc)
{
    sc->p++;   /* opening quote */
    while (sc->p < sc->end) {
        uint8_t c = *sc->p;

        if (c == '"') {
            sc->p++;
            return 0;
        }
        if (c < 0x20)
            return fail(sc, "request body has an unescaped control character in a string");
        if (c >= 0x80) {
            if (scan_utf8(sc) != 0)
                return -1;
            continue;
        }
        if (c != '\\') {
            sc->p++;
            continue;
        }
        if (sc->end - sc->p < 2)
            break;
        c = sc->p[1];
        if (c == 'u') {
            unsigned u, lo;
            if (sc->end - sc->p < 6 || hex4(sc->p + 2, &u) != 0)
                return fail(sc, "request body has a bad \\u escape");
            sc->p += 6;
            if (u >= 0xDC00 && u <= 0xDFFF)
                return fail(sc, "request body has an unpaired UTF-16 surrogate");
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (sc->end - sc->p < 6 || sc->p[0] != '\\' || sc->p[1] != 'u' ||
                    hex4(sc->p + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                    return fail(sc, "request body has an unpaired UTF-16 surrogate");
                sc->p += 6;
            }
            continue;
        }
        if (strchr("\"\\/bfnrt", c) == NULL || c == '\0')
            return fail(sc, "request body has a bad escape in a string");
        sc->p += 2;
    }
    return fail(sc, "request body is truncated JSON");
}

static int scan_digits(struct scan *sc)
{
    const uint8_t *start = sc->p;

    while (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9')
        sc->p++;
    return sc->p > start ? 0 : fail(sc, "request body has a malformed number");
}

static int scan_number(struct scan *sc)
{
    if (*sc->p == '-')
        sc->p++;
    if (sc->p < sc->end && *sc->p == '0')
        sc->p++;
    else if (scan_digits(sc) != 0)
        return -1;
    if (sc->p < sc->end && *sc->p == '.') {
        sc->p++;
        if (scan_digits(sc) != 0)
            return -1;
    }
    if (sc->p < sc->end && (*sc->p == 'e' || *sc->p == 'E')) {
        sc->p++;
        if (sc->p < sc->end && (*sc->p == '+' || *sc->p == '-'))
            sc->p++;
        if (scan_digits(sc) != 0)
            return -1;
    }
    return 0;
}

static int scan_literal(struct scan *sc, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t)(sc->end - sc->p) < n || memcmp(sc->p, lit, n) != 0)
        return fail(sc, "request body is not valid JSON");
    sc->p += n;
    return 0;
}

/* Object or array: members separated by commas, no trailing comma. */
static int scan_container(struct scan *sc)
{
    int is_obj = *sc->p == '{';
    uint8_t close = is_obj ? '}' : ']';
    int rc = -1;

    if (++sc->depth > JSON_DEPTH_MAX)
        return fail(sc, "request body is nested too deeply");
    sc->p++;
    skip_ws(sc);
    if (sc->p < sc->end && *sc->p == close) {
        sc->p++;
        rc = 0;
        goto out;
    }
    for (;;) {
        skip_ws(sc);
        if (is_obj) {
            if (sc->p >= sc->end || *sc->p != '"') {
                fail(sc, sc->p >= sc->end ? "request body is truncated JSON"
                                          : "request body has an object key that is not a string");
                goto out;
            }
            if (scan_string(sc) != 0)
                goto out;
            if (sc->depth == 1)
                sc->top_keys++;
            skip_ws(sc);
            if (sc->p >= sc->end || *sc->p != ':') {
                fail(sc, "request body is not valid JSON");
                goto out;
            }
            sc->p++;
        }
        if (scan_value(sc) != 0)
            goto out;
        skip_ws(sc);
        if (sc->p < sc->end && *sc->p == ',') {
            sc->p++;
            continue;
        }
        if (sc->p < sc->end && *sc->p == close) {
            sc->p++;
            rc = 0;
            goto out;
        }
        fail(sc, sc->p >= sc->end ? "request body is truncated JSON"
                                  : "request body is not valid JSON");
        goto out;
    }
out:
    sc->depth--;
    return rc;
}

static int scan_value(struct scan *sc)
{
    skip_ws(sc);
    if (sc->p >= sc->end)
        return fail(sc, "request body is truncated JSON");
    switch (*sc->p) {
    case '{': case '[': return scan_container(sc);
    case '"': return scan_string(sc);
    case 't': return scan_literal(sc, "true");
    case 'f': return scan_literal(sc, "false");
    case 'n': return scan_literal(sc, "null");
    default:
        if (*sc->p == '-' || (*sc->p >= '0' && *sc->p <= '9'))
            return scan_number(sc);
        return fail(sc, "request body is not valid JSON");
    }
}

enum body_status body_parse(const uint8_t *buf, size_t len, struct body_doc *doc,
                            const char **why)
{
    struct scan sc = { buf, buf + len, 0, 0, NULL };
    struct json_tokener *tok = NULL;
    struct json_object *root = NULL;
    enum body_status st = BODY_MALFORMED;
    int is_object;

    doc->root = NULL;
    *why = "request body is not valid JSON";
    if (len == 0) {
        *why = "request body is empty";
        goto out;
    }
    if (len > (size_t)INT32_MAX) {
        st = BODY_NOMEM;
        goto out;
    }
    skip_ws(&sc);
    is_object = sc.p < sc.end && *sc.p == '{';
    if (scan_value(&sc) != 0) {
        *why = sc.why;
        goto out;
    }
    skip_ws(&sc);
    if (sc.p != sc.end) {
        *why = "request body has data after the JSON value";
        goto out;
    }
    if (!is_object) {
        *why = "request body must be a JSON object";
        st = BODY_NOT_OBJECT;
        goto out;
    }
    /* The text is valid JSON now; json-c only builds the tree. */
    tok = json_tokener_new_ex(JSON_DEPTH_MAX + 1);
    if (tok == NULL) {
        st = BODY_NOMEM;
        goto out;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    root = json_tokener_parse_ex(tok, (const char *)buf, (int)len);
    if (root == NULL || !json_object_is_type(root, json_type_object)) {
        log_warn("json-c refused a body the recognizer accepted", "len=%zu", len);
        goto out;
    }
    if (sc.top_keys != (size_t)json_object_object_length(root)) {
        *why = "request body has duplicate keys";
        goto out;
    }
    doc->root = root;
    root = NULL;
    st = BODY_OK;
out:
    if (root != NULL) {
        struct body_doc tmp = { root };
        body_doc_free(&tmp);
    }
    tokener_wipe_free(tok);
    return st;
}

enum body_status body_get_string(const struct body_doc *doc, const char *key,
                                 const char **val, size_t *len)
{
    struct json_object *v = NULL;
    int n;

    if (!json_object_object_get_ex(doc->root, key, &v))
        return BODY_MISSING;
    if (!json_object_is_type(v, json_type_string))
        return BODY_WRONG_TYPE;
    n = json_object_get_string_len(v);
    *val = json_object_get_string(v);
    *len = n > 0 ? (size_t)n : 0;
    return BODY_OK;
}

static void wipe_strings(struct json_object *o)
{
    if (o == NULL)
        return;
    if (json_object_is_type(o, json_type_string)) {
        int n = json_object_get_string_len(o);
        if (n > 0)
            OPENSSL_cleanse((char *)(uintptr_t)json_object_get_string(o), (size_t)n);
    } else if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, k, v) {
            (void)k;
            wipe_strings(v);
        }
    } else if (json_object_is_type(o, json_type_array)) {
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n; i++)
            wipe_strings(json_object_array_get_idx(o, i));
    }
}

void body_doc_free(struct body_doc *doc)
{
    if (doc->root != NULL) {
        wipe_strings(doc->root);
        json_object_put(doc->root);
    }
    doc->root = NULL;
}

void body_writer_init(struct body_writer *w)
{
    memset(w, 0, sizeof(*w));
}

/* Grows by copy so the old buffer can be wiped: realloc would leave share
 * bytes behind in freed memory. */
static int reserve(struct body_writer *w, size_t extra)
{
    size_t need, cap;
    char *nb;

    if (w->failed)
        return -1;
    if (extra > SIZE_MAX / 2 - w->len) {
        w->failed = 1;
        return -1;
    }
    need = w->len + extra + 1;
    if (need <= w->cap)
        return 0;
    cap = w->cap ? w->cap : 256;
    while (cap < need)
        cap *= 2;
    nb = malloc(cap);
    if (nb == NULL) {
        w->failed = 1;
        return -1;
    }
    if (w->buf != NULL) {
        memcpy(nb, w->buf, w->len);
        OPENSSL_cleanse(w->buf, w->cap);
        free(w->buf);
    }
    w->buf = nb;
    w->cap = cap;
    return 0;
}

static void append(struct body_writer *w, const char *s, size_t n)
{
    if (reserve(w, n) != 0)
        return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

void body_writer_raw(struct body_writer *w, const char *s)
{
    append(w, s, strlen(s));
}

void body_writer_string(struct body_writer *w, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t out = 2;
    char *p;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        out += (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t') ? 2
             : c < 0x20 ? 6 : 1;
    }
    if (reserve(w, out) != 0)
        return;
    p = w->buf + w->len;
    *p++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':  *p++ = '\\'; *p++ = '"'; break;
        case '\\': *p++ = '\\'; *p++ = '\\'; break;
        case '\n': *p++ = '\\'; *p++ = 'n'; break;
        case '\r': *p++ = '\\'; *p++ = 'r'; break;
        case '\t': *p++ = '\\'; *p++ = 't'; break;
        default:
            if (c < 0x20) {
                memcpy(p, "\\u00", 4);
                p[4] = hex[c >> 4];
                p[5] = hex[c & 15];
                p += 6;
            } else {
                *p++ = (char)c;
            }
        }
    }
    *p++ = '"';
    w->len = (size_t)(p - w->buf);
    w->buf[w->len] = '\0';
}

void body_writer_uint(struct body_writer *w, unsigned long long v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%llu", v);

    if (n > 0)
        append(w, tmp, (size_t)n);
}

int body_writer_failed(const struct body_writer *w)
{
    return w->failed;
}

void body_writer_free(struct body_writer *w)
{
    if (w->buf != NULL) {
        OPENSSL_cleanse(w->buf, w->cap);
        free(w->buf);
    }
    body_writer_init(w);
}
