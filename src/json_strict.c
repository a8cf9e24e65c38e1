/* Strict JSON in, json-c tree out.
 *
 * json-c 0.16 accepts single-quoted keys, NaN, raw control characters, "1."
 * and overlong or surrogate UTF-8 even with JSON_TOKENER_STRICT, and keeps
 * only the last of duplicate keys. Request bodies and JWT headers are
 * hostile input read by more than one parser (a signature checker upstream
 * and us), so an RFC 8259 + RFC 3629 recognizer decides what is valid and
 * counts the top-level keys; json-c only builds the tree. */
#include <stdint.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "json_strict.h"

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
    int max_depth;
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
        return fail(sc, "JSON is not valid UTF-8");
    if (left < (size_t)n + 1 || p[1] < lo || p[1] > hi)
        return fail(sc, "JSON is not valid UTF-8");
    for (int i = 2; i <= n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return fail(sc, "JSON is not valid UTF-8");
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

/* json-c 0.16 decodes a surrogate pair whose high half has 0x36 or 0x37 in
 * its low six bits (\uD836, \uD837, \uD876, ..., 32 of the 1024) to U+FFFD
 * instead of the code point: the string it builds is not the one sent. */
static int jsonc_mangles_pair(unsigned hi)
{
    return (hi & 0x3E) == 0x36;
}

/* is_key: json-c keeps object keys as C strings, so a NUL would cut the key
 * short and {"clientId\u0000x": ...} would be read as "clientId". */
static int scan_string(struct scan *sc, int is_key)
{
    sc->p++;   /* opening quote */
    while (sc->p < sc->end) {
        uint8_t c = *sc->p;

        if (c == '"') {
            sc->p++;
            return 0;
        }
        if (c < 0x20)
            return fail(sc, "JSON has an unescaped control character in a string");
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
                return fail(sc, "JSON has a bad \\u escape");
            sc->p += 6;
            if (u == 0 && is_key)
                return fail(sc, "JSON has a NUL character in an object key");
            if (u >= 0xDC00 && u <= 0xDFFF)
                return fail(sc, "JSON has an unpaired UTF-16 surrogate");
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (sc->end - sc->p < 6 || sc->p[0] != '\\' || sc->p[1] != 'u' ||
                    hex4(sc->p + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                    return fail(sc, "JSON has an unpaired UTF-16 surrogate");
                if (jsonc_mangles_pair(u))
                    return fail(sc, "JSON has a \\u surrogate pair that cannot be decoded "
                                    "exactly; send the character as UTF-8");
                sc->p += 6;
            }
            continue;
        }
        if (strchr("\"\\/bfnrt", c) == NULL || c == '\0')
            return fail(sc, "JSON has a bad escape in a string");
        sc->p += 2;
    }
    return fail(sc, "JSON is truncated");
}

static int scan_digits(struct scan *sc)
{
    const uint8_t *start = sc->p;

    while (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9')
        sc->p++;
    return sc->p > start ? 0 : fail(sc, "JSON has a malformed number");
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
        return fail(sc, "JSON is not valid");
    sc->p += n;
    return 0;
}

/* Object or array: members separated by commas, no trailing comma. */
static int scan_container(struct scan *sc)
{
    int is_obj = *sc->p == '{';
    uint8_t close = is_obj ? '}' : ']';
    int rc = -1;

    if (++sc->depth > sc->max_depth)
        return fail(sc, "JSON is nested too deeply");
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
                fail(sc, sc->p >= sc->end ? "JSON is truncated"
                                          : "JSON has an object key that is not a string");
                goto out;
            }
            if (scan_string(sc, 1) != 0)
                goto out;
            if (sc->depth == 1)
                sc->top_keys++;
            skip_ws(sc);
            if (sc->p >= sc->end || *sc->p != ':') {
                fail(sc, "JSON is not valid");
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
        fail(sc, sc->p >= sc->end ? "JSON is truncated"
                                  : "JSON is not valid");
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
        return fail(sc, "JSON is truncated");
    switch (*sc->p) {
    case '{': case '[': return scan_container(sc);
    case '"': return scan_string(sc, 0);
    case 't': return scan_literal(sc, "true");
    case 'f': return scan_literal(sc, "false");
    case 'n': return scan_literal(sc, "null");
    default:
        if (*sc->p == '-' || (*sc->p >= '0' && *sc->p <= '9'))
            return scan_number(sc);
        return fail(sc, "JSON is not valid");
    }
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

void json_strict_free(struct json_object *root)
{
    if (root == NULL)
        return;
    wipe_strings(root);
    json_object_put(root);
}

enum json_strict_status json_strict_parse_object(const uint8_t *buf, size_t len, int max_depth,
                                                 struct json_object **out, const char **why)
{
    struct scan sc = { buf, buf + len, 0, max_depth, 0, NULL };
    struct json_tokener *tok = NULL;
    struct json_object *root = NULL;
    enum json_strict_status st = JSON_STRICT_MALFORMED;
    int is_object;

    *out = NULL;
    *why = "JSON is not valid";
    if (len == 0) {
        *why = "JSON is empty";
        goto out;
    }
    if (len > (size_t)INT32_MAX) {
        st = JSON_STRICT_NOMEM;
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
        *why = "JSON has data after the value";
        goto out;
    }
    if (!is_object) {
        *why = "JSON value must be an object";
        st = JSON_STRICT_NOT_OBJECT;
        goto out;
    }
    tok = json_tokener_new_ex(max_depth + 1);
    if (tok == NULL) {
        st = JSON_STRICT_NOMEM;
        goto out;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    root = json_tokener_parse_ex(tok, (const char *)buf, (int)len);
    if (root == NULL || !json_object_is_type(root, json_type_object)) {
        *why = "JSON could not be read";
        goto out;
    }
    if (sc.top_keys != (size_t)json_object_object_length(root)) {
        *why = "JSON has duplicate keys";
        goto out;
    }
    *out = root;
    root = NULL;
    st = JSON_STRICT_OK;
out:
    json_strict_free(root);
    tokener_wipe_free(tok);
    return st;
}
