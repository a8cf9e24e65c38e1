#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "body.h"
#include "bounds.h"
#include "json_strict.h"

enum body_status body_parse(const uint8_t *buf, size_t len, struct body_doc *doc,
                            const char **why)
{
    switch (json_strict_parse_object(buf, len, JSON_DEPTH_MAX, &doc->root, why)) {
    case JSON_STRICT_OK:
        return BODY_OK;
    case JSON_STRICT_NOT_OBJECT:
        *why = "request body must be a JSON object";
        return BODY_NOT_OBJECT;
    case JSON_STRICT_NOMEM:
        return BODY_NOMEM;
    default:
        return BODY_MALFORMED;
    }
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

enum body_status body_get_optional_string(const struct body_doc *doc, const char *key,
                                          const char **val, size_t *len)
{
    struct json_object *v = NULL;

    if (json_object_object_get_ex(doc->root, key, &v) && v == NULL)
        return BODY_MISSING;      /* json-c's null */
    return body_get_string(doc, key, val, len);
}

void body_doc_free(struct body_doc *doc)
{
    json_strict_free(doc->root);
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

void body_writer_base64(struct body_writer *w, const uint8_t *b, size_t len)
{
    size_t n = (len + 2) / 3 * 4;

    /* EVP_EncodeBlock counts in int */
    if (len > (size_t)INT32_MAX / 4 * 3) {
        w->failed = 1;
        return;
    }
    if (reserve(w, n + 2) != 0)
        return;
    w->buf[w->len] = '"';
    if (EVP_EncodeBlock((unsigned char *)w->buf + w->len + 1, b, (int)len) != (int)n) {
        w->failed = 1;
        return;
    }
    w->buf[w->len + 1 + n] = '"';
    w->len += n + 2;
    w->buf[w->len] = '\0';
}

void body_writer_reset(struct body_writer *w)
{
    w->len = 0;
    if (w->buf != NULL)
        w->buf[0] = '\0';
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
