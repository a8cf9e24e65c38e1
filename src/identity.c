#include <string.h>

#include <json-c/json.h>

#include "identity.h"
#include "json_strict.h"
#include "seal.h"

#define METHOD_MESSAGE "field 'backupMethod' must be 1 to 64 printable ASCII characters"
#define PAIR_MESSAGE   "field 'backupSharePairId' must be 1 to 128 printable ASCII characters"

/* Copies a validated value (no NUL inside: printable ASCII). */
static void copy_out(char *out, const char *s, size_t len)
{
    memcpy(out, s, len);
    out[len] = '\0';
}

int identity_method(const struct body_doc *doc, char out[BACKUP_METHOD_MAX + 1], const char **why)
{
    const char *m = NULL;
    size_t len = 0;

    switch (body_get_optional_string(doc, "backupMethod", &m, &len)) {
    case BODY_MISSING:
        copy_out(out, SEAL_METHOD_UNKNOWN, sizeof(SEAL_METHOD_UNKNOWN) - 1);
        return 0;
    case BODY_OK:
        if (seal_method_valid(m, len)) {
            copy_out(out, m, len);
            return 0;
        }
        break;
    default:
        break;
    }
    *why = METHOD_MESSAGE;
    return -1;
}

/* Portal's share is a JSON-stringified object that carries its pair id. A
 * share that is not a JSON object, or has no non-empty string member of
 * that name, has none. One that has an invalid one is refused rather than
 * read as "none": that would put two pairs under one identity. */
static int pair_id_in_share(const char *share, size_t len, char out[PAIR_ID_MAX + 1],
                            const char **why)
{
    struct json_object *root = NULL, *v = NULL;
    const char *p, *ignored;
    size_t plen;
    int rc = 0;

    out[0] = '\0';
    if (len == 0 || share[0] != '{' ||
        json_strict_parse_object((const uint8_t *)share, len, SHARE_JSON_DEPTH_MAX, &root,
                                 &ignored) != JSON_STRICT_OK)
        goto out;
    if (!json_object_object_get_ex(root, "backupSharePairId", &v) ||
        !json_object_is_type(v, json_type_string))
        goto out;
    p = json_object_get_string(v);
    plen = (size_t)json_object_get_string_len(v);
    if (plen == 0)
        goto out;
    if (!seal_pair_id_valid(p, plen)) {
        *why = "the share's backupSharePairId must be 1 to 128 printable ASCII characters";
        rc = -1;
        goto out;
    }
    copy_out(out, p, plen);
out:
    json_strict_free(root);
    return rc;
}

int identity_pair_id(const struct body_doc *doc, const char *share, size_t share_len,
                     char out[PAIR_ID_MAX + 1], const char **why)
{
    const char *p = NULL;
    size_t len = 0;

    switch (body_get_optional_string(doc, "backupSharePairId", &p, &len)) {
    case BODY_MISSING:
        return pair_id_in_share(share, share_len, out, why);
    case BODY_OK:
        if (len > 0 && seal_pair_id_valid(p, len)) {
            copy_out(out, p, len);
            return 0;
        }
        break;
    default:
        break;
    }
    *why = PAIR_MESSAGE;
    return -1;
}
