#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "body.h"
#include "bounds.h"

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

/* Counts the keys of the top-level object in already-validated JSON. json-c
 * keeps only the last of duplicate keys, which would let two parsers (a
 * signature checker upstream and us) read different values from one body. */
static size_t count_top_level_keys(const uint8_t *buf, size_t len)
{
    size_t keys = 0;
    int depth = 0, in_str = 0;

    for (size_t i = 0; i < len; i++) {
        uint8_t c = buf[i];

        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        switch (c) {
        case '"': in_str = 1; break;
        case '{': case '[': depth++; break;
        case '}': case ']': depth--; break;
        case ':': if (depth == 1) keys++; break;
        default: break;
        }
    }
    return keys;
}

enum body_status body_parse(const uint8_t *buf, size_t len, struct body_doc *doc,
                            const char **why)
{
    struct json_tokener *tok = NULL;
    struct json_object *root = NULL;
    enum body_status st = BODY_MALFORMED;
    size_t end;

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
    tok = json_tokener_new_ex(JSON_DEPTH_MAX);
    if (tok == NULL) {
        st = BODY_NOMEM;
        goto out;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    root = json_tokener_parse_ex(tok, (const char *)buf, (int)len);
    if (root == NULL) {
        enum json_tokener_error e = json_tokener_get_error(tok);
        if (e == json_tokener_error_depth)
            *why = "request body is nested too deeply";
        else if (e == json_tokener_continue)
            *why = "request body is truncated JSON";
        else if (e == json_tokener_error_parse_utf8_string)
            *why = "request body is not valid UTF-8";
        goto out;
    }
    end = json_tokener_get_parse_end(tok);
    while (end < len && (buf[end] == ' ' || buf[end] == '\t' || buf[end] == '\n' ||
                         buf[end] == '\r'))
        end++;
    if (end != len) {
        *why = "request body has data after the JSON value";
        goto out;
    }
    if (!json_object_is_type(root, json_type_object)) {
        *why = "request body must be a JSON object";
        st = BODY_NOT_OBJECT;
        goto out;
    }
    if (count_top_level_keys(buf, len) != (size_t)json_object_object_length(root)) {
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
