/* Strict JSON objects: RFC 8259 grammar, RFC 3629 UTF-8, no duplicate
 * top-level keys, bounded depth; json-c builds the tree. */
#ifndef SHAREKEEP_JSON_STRICT_H
#define SHAREKEEP_JSON_STRICT_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

enum json_strict_status {
    JSON_STRICT_OK = 0,
    JSON_STRICT_MALFORMED,    /* not JSON, bad UTF-8, too deep, duplicate keys, trailing data */
    JSON_STRICT_NOT_OBJECT,   /* valid JSON, but not an object */
    JSON_STRICT_NOMEM,
};

/* Parses buf as exactly one JSON object nested at most max_depth deep. On
 * failure *why names the problem (a static string starting "JSON "). The
 * tree is released with json_strict_free. */
enum json_strict_status json_strict_parse_object(const uint8_t *buf, size_t len, int max_depth,
                                                 struct json_object **out, const char **why);

/* Wipes every string in the tree (they may hold shares), then frees it. */
void json_strict_free(struct json_object *root);

#endif
