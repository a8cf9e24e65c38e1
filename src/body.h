/* JSON request bodies in (json-c, strict) and JSON response bodies out (our
 * own writer, so every byte that held a share can be wiped). */
#ifndef SHAREKEEP_BODY_H
#define SHAREKEEP_BODY_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

enum body_status {
    BODY_OK = 0,
    BODY_MALFORMED,      /* not JSON, invalid UTF-8, too deep, duplicate keys -> 400 */
    BODY_NOT_OBJECT,     /* valid JSON, but not an object -> 422 */
    BODY_MISSING,        /* field absent -> 422 */
    BODY_WRONG_TYPE,     /* field present, not a string -> 422 */
    BODY_NOMEM,
};

struct body_doc {
    struct json_object *root;
};

/* Parses buf as exactly one JSON object. On BODY_MALFORMED, *why says what. */
enum body_status body_parse(const uint8_t *buf, size_t len, struct body_doc *doc,
                            const char **why);
/* *val points into doc (valid until body_doc_free); it may contain NUL bytes. */
enum body_status body_get_string(const struct body_doc *doc, const char *key,
                                 const char **val, size_t *len);
/* As body_get_string, but a JSON null counts as absent (BODY_MISSING):
 * for optional fields. */
enum body_status body_get_optional_string(const struct body_doc *doc, const char *key,
                                          const char **val, size_t *len);
/* Wipes every string value, then frees. */
void body_doc_free(struct body_doc *doc);

struct body_writer {
    char *buf;
    size_t len;
    size_t cap;
    int failed;
};

void body_writer_init(struct body_writer *w);
void body_writer_raw(struct body_writer *w, const char *s);
/* Appends s as a JSON string literal (quotes included). */
void body_writer_string(struct body_writer *w, const char *s, size_t len);
void body_writer_uint(struct body_writer *w, unsigned long long v);
/* Appends len bytes as a JSON string of their padded standard base64
 * (quotes included), encoded straight into the buffer: base64's alphabet
 * needs no JSON escaping. */
void body_writer_base64(struct body_writer *w, const uint8_t *b, size_t len);
/* Empties w for the next document, keeping (not wiping) its buffer: for a
 * writer reused line after line, wiped once by body_writer_free. */
void body_writer_reset(struct body_writer *w);
int body_writer_failed(const struct body_writer *w);
/* Wipes and frees (for abandoning a writer; a finished buffer is handed to
 * http_json, which owns it from then on). */
void body_writer_free(struct body_writer *w);

#endif
