/* Export and import of sealed records (JSON lines); no plaintext ever. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "admin.h"
#include "admin_int.h"
#include "base64.h"
#include "body.h"
#include "bounds.h"
#include "json_strict.h"
#include "keyring.h"
#include "seal.h"
#include "store.h"
#include "usage.h"

/* One exported line: a sealed record of at most SHARE_MAX plus base64. */
/* The export file's header names its format and version. Version 2 adds
 * each record's backupMethod and backupSharePairId; import reads both. */
#define EXPORT_FORMAT   "sharekeep-export"
#define EXPORT_VERSION  2
_Static_assert(EXPORT_VERSION == 2, "import's messages name the versions it reads");

/* ---- export / import ----------------------------------------------------- */


/* The batch's lines go out through one writer, reset line by line, so its
 * buffer grows once per export rather than once per record. */
static int export_batch(struct admin *a, const struct store_record *recs, size_t n, void *arg)
{
    long long *written = arg;
    struct body_writer w;
    int rc = 1;

    body_writer_init(&w);
    for (size_t i = 0; i < n; i++) {
        body_writer_reset(&w);
        body_writer_raw(&w, "{\"clientId\":");
        body_writer_string(&w, recs[i].client_id, strlen(recs[i].client_id));
        body_writer_raw(&w, ",\"kind\":");
        body_writer_string(&w, admin_kind_name(recs[i].kind), strlen(admin_kind_name(recs[i].kind)));
        body_writer_raw(&w, ",\"backupMethod\":");
        body_writer_string(&w, recs[i].backup_method, strlen(recs[i].backup_method));
        body_writer_raw(&w, ",\"backupSharePairId\":");
        if (recs[i].pair_id[0] == '\0')
            body_writer_raw(&w, "null");
        else
            body_writer_string(&w, recs[i].pair_id, strlen(recs[i].pair_id));
        body_writer_raw(&w, ",\"version\":");
        body_writer_uint(&w, recs[i].version);
        body_writer_raw(&w, ",\"kekId\":");
        body_writer_uint(&w, recs[i].kek_id);
        body_writer_raw(&w, ",\"createdAt\":");
        body_writer_string(&w, recs[i].created_at, strlen(recs[i].created_at));
        body_writer_raw(&w, ",\"sealed\":");
        body_writer_base64(&w, recs[i].sealed, recs[i].sealed_len);
        body_writer_raw(&w, "}\n");
        if (body_writer_failed(&w)) {
            fprintf(stderr, "sharekeep: export: out of memory\n");
            goto out;
        }
        if (fwrite(w.buf, 1, w.len, stdout) != w.len) {
            fprintf(stderr, "sharekeep: export: write failed\n");
            goto out;
        }
        (*written)++;
    }
    rc = 0;
out:
    body_writer_free(&w);
    return rc;
}

int admin_export(const char *config_path, int argc, char **argv)
{
    struct admin a;
    long long written = 0;
    int batch, rc;

    if ((rc = admin_parse_batch(argc, argv, &batch, "export")) != 0)
        return rc < 0 ? 0 : rc;
    if (admin_open(config_path, &a, 0, 1) != 0)
        return 1;
    printf("{\"format\":\"" EXPORT_FORMAT "\",\"version\":%d}\n", EXPORT_VERSION);
    rc = admin_each_batch(&a, "export", 0, batch, export_batch, &written);
    if (rc == 0 && fflush(stdout) != 0) {
        fprintf(stderr, "sharekeep: export: write failed\n");
        rc = 1;
    }
    if (rc == 0)
        fprintf(stderr, "export: %lld records\n", written);
    admin_free(&a);
    return rc;
}

/* A string member of 1..cap-1 bytes without NUL into out. 0, or -1. */
static int copy_member(struct json_object *v, char *out, size_t cap)
{
    const char *s;
    size_t len;

    if (!json_object_is_type(v, json_type_string))
        return -1;
    s = json_object_get_string(v);
    len = (size_t)json_object_get_string_len(v);
    if (len == 0 || len >= cap || memchr(s, '\0', len) != NULL)
        return -1;
    memcpy(out, s, len);
    out[len] = '\0';
    return 0;
}

/* The header line: {"format":"sharekeep-export","version":N}. 0 with
 * *version, or -1 after printing why. */
static int parse_export_header(const char *line, size_t len, int *version)
{
    struct json_object *root = NULL, *v;
    const char *why = NULL;
    int64_t num;
    int rc = -1;

    if (json_strict_parse_object((const uint8_t *)line, len, 2, &root, &why) != JSON_STRICT_OK) {
        fprintf(stderr, "sharekeep: import: not a sharekeep export (line 1 is not a JSON "
                "object: %s)\n", why != NULL ? why : "JSON error");
        goto out;
    }
    if (!json_object_object_get_ex(root, "format", &v) ||
        !json_object_is_type(v, json_type_string) ||
        strcmp(json_object_get_string(v), EXPORT_FORMAT) != 0) {
        fprintf(stderr, "sharekeep: import: not a sharekeep export (line 1 has no \"format\":\""
                EXPORT_FORMAT "\")\n");
        goto out;
    }
    if (!json_object_object_get_ex(root, "version", &v) || !json_object_is_type(v, json_type_int)) {
        fprintf(stderr, "sharekeep: import: the export header has no version number\n");
        goto out;
    }
    num = json_object_get_int64(v);
    if (num < 1 || num > EXPORT_VERSION) {
        fprintf(stderr, "sharekeep: import: export format version %lld is not supported "
                "(this sharekeep reads versions 1 and 2)\n", (long long)num);
        goto out;
    }
    *version = (int)num;
    rc = 0;
out:
    json_strict_free(root);
    return rc;
}

/* One export line of the given format version into rec (sealed malloc'd).
 * Version 1 lines have no backupMethod or pair id: their records are legacy
 * shares (UNKNOWN, none). 0, or -1 with *why. */
/* The record's identity: (UNKNOWN, none) in a version 1 export, whose lines
 * name none; its backupMethod and backupSharePairId (null: none) in
 * version 2. 0, or -1 with *why. */
static int parse_identity(struct json_object *root, int format, struct store_record *rec,
                          const char **why)
{
    struct json_object *v;

    if (format == 1) {
        *why = "line (backupMethod or backupSharePairId in a version 1 export)";
        if (json_object_object_get_ex(root, "backupMethod", NULL) ||
            json_object_object_get_ex(root, "backupSharePairId", NULL))
            return -1;
        memcpy(rec->backup_method, SEAL_METHOD_UNKNOWN, sizeof(SEAL_METHOD_UNKNOWN));
        rec->pair_id[0] = '\0';
        return 0;
    }
    *why = "backupMethod";
    if (!json_object_object_get_ex(root, "backupMethod", &v) ||
        copy_member(v, rec->backup_method, sizeof(rec->backup_method)) != 0 ||
        !seal_method_valid(rec->backup_method, strlen(rec->backup_method)))
        return -1;
    /* null is none; the exporter never writes "" */
    *why = "backupSharePairId";
    if (!json_object_object_get_ex(root, "backupSharePairId", &v))
        return -1;
    if (v != NULL && (copy_member(v, rec->pair_id, sizeof(rec->pair_id)) != 0 ||
                      !seal_pair_id_valid(rec->pair_id, strlen(rec->pair_id))))
        return -1;
    return 0;
}

/* An integer member in [lo, hi]. 0 or -1. */
static int int_member(struct json_object *root, const char *name, int64_t lo, int64_t hi,
                      int64_t *out)
{
    struct json_object *v;

    if (!json_object_object_get_ex(root, name, &v) || !json_object_is_type(v, json_type_int))
        return -1;
    *out = json_object_get_int64(v);
    return *out >= lo && *out <= hi ? 0 : -1;
}

/* The sealed bytes (base64), whose header must name the line's kekId.
 * rec->sealed is malloc'd on success. 0, or -1 with *why. */
static int parse_sealed(struct json_object *root, uint32_t kek_id, struct store_record *rec,
                        const char **why)
{
    struct json_object *v;
    const char *s;
    size_t slen;

    *why = "sealed";
    if (!json_object_object_get_ex(root, "sealed", &v) || !json_object_is_type(v, json_type_string))
        return -1;
    s = json_object_get_string(v);
    slen = (size_t)json_object_get_string_len(v);
    /* Room for what slen characters can decode to, so one base64_decode
     * both checks and decodes; +1 so an empty string is still a buffer. */
    rec->sealed = malloc(slen / 4 * 3 + 1);
    if (rec->sealed == NULL ||
        base64_decode(s, slen, BASE64_STD_PADDED, rec->sealed, slen / 4 * 3 + 1,
                      &rec->sealed_len) != 0)
        return -1;
    *why = "sealed record header";
    if (seal_record_kek(rec->sealed, rec->sealed_len, &rec->kek_id) != SEAL_OK ||
        rec->kek_id != kek_id)
        return -1;
    return 0;
}

/* One record line of an export. 0 with rec filled (rec->sealed malloc'd),
 * or -1 with *why naming the bad field. */
static int parse_export_line(const char *line, size_t len, int format, struct store_record *rec,
                             const char **why)
{
    struct json_object *root = NULL, *v;
    char kind[16];
    int rc = -1;
    int64_t version = 0, kek = 0;

    memset(rec, 0, sizeof(*rec));
    if (json_strict_parse_object((const uint8_t *)line, len, 2, &root, why) != JSON_STRICT_OK)
        goto out;
    *why = "clientId";
    if (!json_object_object_get_ex(root, "clientId", &v) ||
        copy_member(v, rec->client_id, sizeof(rec->client_id)) != 0)
        goto out;
    *why = "kind";
    if (!json_object_object_get_ex(root, "kind", &v) ||
        copy_member(v, kind, sizeof(kind)) != 0)
        goto out;
    rec->kind = strcmp(kind, "custodian") == 0 ? SHARE_KIND_CUSTODIAN
              : strcmp(kind, "client") == 0 ? SHARE_KIND_CLIENT : 0;
    if (rec->kind == 0 || parse_identity(root, format, rec, why) != 0)
        goto out;
    *why = "version";
    if (int_member(root, "version", 1, INT32_MAX, &version) != 0)
        goto out;
    rec->version = (uint32_t)version;
    *why = "kekId";
    if (int_member(root, "kekId", 1, UINT32_MAX, &kek) != 0)
        goto out;
    /* optional; "" is none too: the importing database's clock is used */
    *why = "createdAt";
    if (json_object_object_get_ex(root, "createdAt", &v) &&
        (!json_object_is_type(v, json_type_string) ||
         (json_object_get_string_len(v) > 0 &&
          copy_member(v, rec->created_at, sizeof(rec->created_at)) != 0)))
        goto out;
    rc = parse_sealed(root, (uint32_t)kek, rec, why);
out:
    json_strict_free(root);
    if (rc != 0) {
        free(rec->sealed);
        rec->sealed = NULL;
    }
    return rc;
}


/* Records that opened, waiting for their batch's transaction. */
struct import_batch {
    struct store_record *recs;
    long long *lines;            /* each record's line in the input */
    size_t n, cap;
    long long inserted, present;
};

/* Opens rec under the identity it will be stored as, so a restore is
 * proven readable before anything of it is written. */
static seal_status import_open(struct admin *a, const struct store_record *rec)
{
    struct seal_context ctx = admin_record_context(rec);
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    seal_status ss = seal_open(a->kr, &ctx, rec->sealed, rec->sealed_len, &plain, &plain_len);

    seal_buf_free(plain, plain_len);
    return ss;
}

/* Commits the batch's records in one transaction, then empties the batch.
 * When the database holds other bytes for one of them, the transaction is
 * rolled back and the records before that one are committed again on their
 * own, so an import stops with every line before the offending one stored,
 * as it did when each record was its own transaction. 0, or 1 after
 * printing why. */
static int import_flush(struct admin *a, struct import_batch *b)
{
    size_t n = b->n, k = 0;
    long long inserted = 0, conflict_line = 0;
    store_status s;
    int rc = 1;

    while (n > 0) {
        s = store_begin(a->st);
        if (s == STORE_OK)
            s = store_import_batch(a->st, b->recs, n, &inserted, &k);
        if (s == STORE_OK)
            s = store_commit(a->st);
        if (s == STORE_OK)
            break;
        inserted = 0;
        store_rollback(a->st);
        if (s != STORE_CONFLICT) {
            admin_db_failed("import", s);
            goto out;
        }
        conflict_line = b->lines[k];
        n = k;
    }
    b->inserted += inserted;
    b->present += (long long)n - inserted;
    if (conflict_line != 0) {
        fprintf(stderr, "sharekeep: import: line %lld: the database holds different bytes "
                "for this client, kind, backupMethod, pair id and version; stopping\n",
                conflict_line);
        goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < b->n; i++)
        free(b->recs[i].sealed);
    b->n = 0;
    return rc;
}

int admin_import(const char *config_path, int argc, char **argv)
{
    struct import_batch b = { NULL, NULL, 0, 0, 0, 0 };
    struct admin a;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long long lineno = 0;
    int rc, batch, format = 0;

    if ((rc = admin_parse_batch(argc, argv, &batch, "import")) != 0)
        return rc < 0 ? 0 : rc;
    rc = 1;
    if (admin_open(config_path, &a, 1, 1) != 0)
        return 1;
    b.cap = (size_t)batch;
    b.recs = calloc(b.cap, sizeof(*b.recs));
    b.lines = calloc(b.cap, sizeof(*b.lines));
    if (b.recs == NULL || b.lines == NULL) {
        fprintf(stderr, "sharekeep: import: out of memory\n");
        goto out;
    }
    /* A line that cannot be imported stops the import, after the records
     * before it are committed (import_flush first): its message comes only
     * when they were, since a failure among them is the earlier stop. */
    while ((got = getline(&line, &cap, stdin)) > 0) {
        struct store_record *rec = &b.recs[b.n];
        const char *why = "line";
        seal_status ss;

        lineno++;
        if ((size_t)got > EXPORT_LINE_MAX) {
            if (import_flush(&a, &b) == 0)
                fprintf(stderr, "sharekeep: import: line %lld is too long\n", lineno);
            goto out;
        }
        if (format == 0) {
            if (parse_export_header(line, (size_t)got, &format) != 0)
                goto out;
            continue;
        }
        if (parse_export_line(line, (size_t)got, format, rec, &why) != 0) {
            if (import_flush(&a, &b) == 0)
                fprintf(stderr, "sharekeep: import: line %lld: bad %s\n", lineno, why);
            goto out;
        }
        if ((ss = import_open(&a, rec)) != SEAL_OK) {
            if (import_flush(&a, &b) == 0)
                fprintf(stderr, "sharekeep: import: line %lld (%s %s version %u, KEK %u) does "
                        "not open with this keyring: %s%s\n", lineno, admin_kind_name(rec->kind),
                        rec->backup_method, rec->version, rec->kek_id, seal_strerror(ss),
                        admin_format_hint(rec));
            free(rec->sealed);
            rec->sealed = NULL;
            goto out;
        }
        b.lines[b.n++] = lineno;
        if (b.n == b.cap && import_flush(&a, &b) != 0)
            goto out;
    }
    if (import_flush(&a, &b) != 0)
        goto out;
    if (ferror(stdin)) {
        fprintf(stderr, "sharekeep: import: reading the input after line %lld: %s\n", lineno,
                strerror(errno));
        goto out;
    }
    if (format == 0) {
        fprintf(stderr, "sharekeep: import: empty input\n");
        goto out;
    }
    printf("import: %lld records inserted, %lld already present\n", b.inserted, b.present);
    rc = 0;
out:
    if (b.recs != NULL) {
        for (size_t i = 0; i < b.n; i++)
            free(b.recs[i].sealed);
        free(b.recs);
    }
    free(b.lines);
    if (line != NULL) {
        OPENSSL_cleanse(line, cap);
        free(line);
    }
    admin_free(&a);
    return rc;
}
