/* libFuzzer target: JSON request bodies (body.c over json_strict.c) and the
 * response writer.
 *
 * The whole input is one request body. For every input:
 *   1. body_parse. When it accepts the body:
 *      - the top-level keys json-c reports are exactly the keys written in
 *        the text, in order, byte for byte, and every top-level string value
 *        is exactly the text's string decoded (checked by a small
 *        independent reader below): two parsers must not read two different
 *        documents, and a share must be stored as the bytes that were sent;
 *      - body_get_string answers OK for string members, WRONG_TYPE for the
 *        others and MISSING for an absent key;
 *      - round trip: the string members re-serialized with body_writer parse
 *        again, every member reads back as identical bytes, and serializing
 *        the re-parsed document gives identical bytes (a fixed point).
 *   2. The input used as a share: {"share": <input>} written by body_writer
 *      parses back to the same bytes when the input is valid UTF-8 (RFC
 *      3629) and is refused as malformed otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "body.h"
#include "fuzz_common.h"

#define KEYS_MAX 4096

/* ---- an independent reader for the top-level keys ---------------------- */

struct key {
    uint8_t *p;
    size_t len;
    uint8_t *val;          /* the decoded value when it is a string, else NULL */
    size_t val_len;
};

static size_t put_utf8(uint8_t *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

static unsigned hexval(const uint8_t *p)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        v <<= 4;
        v |= c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
    }
    return v;
}

static const uint8_t *skip_ws(const uint8_t *p, const uint8_t *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* Decodes the string at p (the opening quote) into a fresh buffer. The input
 * was accepted by body_parse, so it is well-formed. */
static const uint8_t *read_string(const uint8_t *p, const uint8_t *end, struct key *k)
{
    uint8_t *o = malloc((size_t)(end - p) + 1);
    size_t n = 0;

    FZ_ASSERT(o != NULL && p < end && *p == '"');
    p++;
    while (p < end && *p != '"') {
        if (*p != '\\') {
            o[n++] = *p++;
            continue;
        }
        FZ_ASSERT(end - p >= 2);
        switch (p[1]) {
        case 'b': o[n++] = '\b'; p += 2; break;
        case 'f': o[n++] = '\f'; p += 2; break;
        case 'n': o[n++] = '\n'; p += 2; break;
        case 'r': o[n++] = '\r'; p += 2; break;
        case 't': o[n++] = '\t'; p += 2; break;
        case 'u': {
            unsigned cp;
            FZ_ASSERT(end - p >= 6);
            cp = hexval(p + 2);
            p += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                FZ_ASSERT(end - p >= 6);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (hexval(p + 2) - 0xDC00);
                p += 6;
            }
            n += put_utf8(o + n, cp);
            break;
        }
        default: o[n++] = p[1]; p += 2; break;
        }
    }
    FZ_ASSERT(p < end);
    k->p = o;
    k->len = n;
    return p + 1;
}

/* Skips one value of any kind; p is at its first character. */
static const uint8_t *skip_value(const uint8_t *p, const uint8_t *end)
{
    int depth = 0;

    p = skip_ws(p, end);
    do {
        FZ_ASSERT(p < end);
        if (*p == '"') {
            p++;
            while (p < end && *p != '"')
                p += *p == '\\' ? 2 : 1;
            p++;
        } else if (*p == '{' || *p == '[') {
            depth++;
            p++;
        } else if (*p == '}' || *p == ']') {
            depth--;
            p++;
        } else if (depth > 0) {
            p++;
        } else {
            while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' &&
                   *p != '\t' && *p != '\n' && *p != '\r')
                p++;
        }
    } while (depth > 0);
    return p;
}

static size_t top_keys(const uint8_t *p, size_t len, struct key *keys)
{
    const uint8_t *end = p + len;
    size_t n = 0;

    p = skip_ws(p, end);
    FZ_ASSERT(p < end && *p == '{');
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}')
        return 0;
    for (;;) {
        FZ_ASSERT(n < KEYS_MAX);
        struct key *k = &keys[n++];
        p = read_string(skip_ws(p, end), end, k);
        p = skip_ws(p, end);
        FZ_ASSERT(p < end && *p == ':');
        p = skip_ws(p + 1, end);
        k->val = NULL;
        if (p < end && *p == '"') {
            struct key v;
            p = read_string(p, end, &v);
            k->val = v.p;
            k->val_len = v.len;
        } else {
            p = skip_value(p, end);
        }
        p = skip_ws(p, end);
        FZ_ASSERT(p < end);
        if (*p == '}')
            return n;
        FZ_ASSERT(*p == ',');
        p++;
    }
}

/* ---- RFC 3629 UTF-8, written out again here on purpose ------------------- */

static int utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint8_t c = s[i];
        uint32_t cp;
        size_t k;

        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) { k = 1; cp = c & 0x1F; }
        else if ((c & 0xF0) == 0xE0) { k = 2; cp = c & 0x0F; }
        else if ((c & 0xF8) == 0xF0) { k = 3; cp = c & 0x07; }
        else return 0;
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* ---- round trip ------------------------------------------------------------ */

/* {"k":"v",...} of the string members of doc, in iteration order. */
static void write_strings(const struct body_doc *doc, struct body_writer *w)
{
    int first = 1;

    body_writer_init(w);
    body_writer_raw(w, "{");
    json_object_object_foreach(doc->root, k, v) {
        if (!json_object_is_type(v, json_type_string))
            continue;
        if (!first)
            body_writer_raw(w, ",");
        first = 0;
        body_writer_string(w, k, strlen(k));
        body_writer_raw(w, ":");
        body_writer_string(w, json_object_get_string(v),
                           (size_t)json_object_get_string_len(v));
    }
    body_writer_raw(w, "}");
    FZ_ASSERT(!body_writer_failed(w));
    FZ_ASSERT(w->buf != NULL && strlen(w->buf) == w->len);
}

static void check_doc(const uint8_t *data, size_t size, const struct body_doc *doc)
{
    static struct key keys[KEYS_MAX];
    struct body_writer w1, w2;
    struct body_doc doc2 = { 0 };
    const char *why = NULL, *val, *val2;
    size_t nkeys, i = 0, len, len2;
    enum body_status st;

    /* 1. json-c read the keys that are in the text */
    nkeys = top_keys(data, size, keys);
    FZ_ASSERT((size_t)json_object_object_length(doc->root) == nkeys);
    json_object_object_foreach(doc->root, k, v) {
        FZ_ASSERT(i < nkeys);
        FZ_ASSERT(strlen(k) == keys[i].len && memcmp(k, keys[i].p, keys[i].len) == 0);
        FZ_ASSERT(json_object_is_type(v, json_type_string) == (keys[i].val != NULL));
        if (keys[i].val != NULL)
            FZ_ASSERT((size_t)json_object_get_string_len(v) == keys[i].val_len &&
                      memcmp(json_object_get_string(v), keys[i].val, keys[i].val_len) == 0);
        i++;
    }
    for (i = 0; i < nkeys; i++) {
        free(keys[i].p);
        free(keys[i].val);
    }

    /* 2. body_get_string agrees with the tree */
    json_object_object_foreach(doc->root, k2, v2) {
        st = body_get_string(doc, k2, &val, &len);
        if (json_object_is_type(v2, json_type_string)) {
            FZ_ASSERT(st == BODY_OK);
            FZ_ASSERT(len == (size_t)json_object_get_string_len(v2));
            FZ_ASSERT(val[len] == '\0');
        } else {
            FZ_ASSERT(st == BODY_WRONG_TYPE);
        }
    }
    if (!json_object_object_get_ex(doc->root, "clientId", NULL))
        FZ_ASSERT(body_get_string(doc, "clientId", &val, &len) == BODY_MISSING);

    /* 3. round trip through body_writer */
    write_strings(doc, &w1);
    st = body_parse((const uint8_t *)w1.buf, w1.len, &doc2, &why);
    if (st != BODY_OK)
        fprintf(stderr, "re-parse failed (%d, %s) on: %s\n", st, why ? why : "-", w1.buf);
    FZ_ASSERT(st == BODY_OK);
    json_object_object_foreach(doc->root, k3, v3) {
        if (!json_object_is_type(v3, json_type_string))
            continue;
        FZ_ASSERT(body_get_string(doc, k3, &val, &len) == BODY_OK);
        FZ_ASSERT(body_get_string(&doc2, k3, &val2, &len2) == BODY_OK);
        FZ_ASSERT(len == len2 && memcmp(val, val2, len) == 0);
    }
    write_strings(&doc2, &w2);
    FZ_ASSERT(w1.len == w2.len && memcmp(w1.buf, w2.buf, w1.len) == 0);
    body_writer_free(&w1);
    body_writer_free(&w2);
    body_doc_free(&doc2);
}

static void check_share(const uint8_t *data, size_t size)
{
    struct body_writer w;
    struct body_doc doc = { 0 };
    const char *why = NULL, *val;
    size_t len;
    enum body_status st;

    body_writer_init(&w);
    body_writer_raw(&w, "{\"share\":");
    body_writer_string(&w, (const char *)data, size);
    body_writer_raw(&w, ",\"version\":");
    body_writer_uint(&w, size);
    body_writer_raw(&w, "}");
    FZ_ASSERT(!body_writer_failed(&w));
    st = body_parse((const uint8_t *)w.buf, w.len, &doc, &why);
    if (utf8_valid(data, size)) {
        FZ_ASSERT(st == BODY_OK);
        FZ_ASSERT(body_get_string(&doc, "share", &val, &len) == BODY_OK);
        FZ_ASSERT(len == size && memcmp(val, data, size) == 0);
        FZ_ASSERT(body_get_string(&doc, "version", &val, &len) == BODY_WRONG_TYPE);
    } else {
        FZ_ASSERT(st == BODY_MALFORMED);
        FZ_ASSERT(why != NULL && strncmp(why, "JSON ", 5) == 0);
    }
    body_doc_free(&doc);
    body_writer_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct body_doc doc = { 0 };
    const char *why = NULL;
    uint8_t *copy = fz_dup(data, size);
    enum body_status st;

    st = body_parse(copy, size, &doc, &why);
    switch (st) {
    case BODY_OK:
        FZ_ASSERT(doc.root != NULL && json_object_is_type(doc.root, json_type_object));
        check_doc(copy, size, &doc);
        break;
    case BODY_MALFORMED:
    case BODY_NOT_OBJECT:
        FZ_ASSERT(doc.root == NULL);
        FZ_ASSERT(why != NULL && why[0] != '\0');
        break;
    default:
        FZ_ASSERT(0 && "unexpected body_parse status");
    }
    body_doc_free(&doc);
    if (size <= 65536)
        check_share(copy, size);
    free(copy);
    return 0;
}
