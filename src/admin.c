#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "admin.h"
#include "base64.h"
#include "bounds.h"
#include "body.h"
#include "config.h"
#include "json_strict.h"
#include "keyring.h"
#include "log.h"
#include "seal.h"
#include "store.h"
#include "usage.h"

extern char **environ;

#define BATCH_DEFAULT 500
#define BATCH_MAX     10000
/* One exported line: a sealed record of at most SHARE_MAX plus base64. */
#define EXPORT_LINE_MAX (SHARE_MAX / 3 * 4 + 4096)
/* The export file's header names its format and version. Version 2 adds
 * each record's backupMethod and backupSharePairId; import reads both. */
#define EXPORT_FORMAT   "sharekeep-export"
#define EXPORT_VERSION  2
_Static_assert(EXPORT_VERSION == 2, "import's messages name the versions it reads");

struct admin {
    struct config cfg;
    struct keyring *kr;
    struct store *st;
};

static void admin_free(struct admin *a)
{
    store_free(a->st);
    keyring_free(a->kr);
    config_free(&a->cfg);
    memset(a, 0, sizeof(*a));
}

/* Admin commands connect with admin_database: the runtime role cannot
 * UPDATE share_record (rewrap) nor read everything they need. */
static int admin_open(const char *config_path, struct admin *a, int need_keyring, int need_db)
{
    char err[512];

    memset(a, 0, sizeof(*a));
    if (config_load(config_path, environ, &a->cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "sharekeep: %s\n", err);
        return -1;
    }
    log_set_level(a->cfg.log_level);
    if (need_keyring && keyring_load(a->cfg.keyring, &a->kr, err, sizeof(err)) != KEYRING_OK) {
        fprintf(stderr, "sharekeep: %s\n", err);
        goto fail;
    }
    if (need_db && store_new(a->cfg.admin_database[0] ? a->cfg.admin_database : a->cfg.database,
                             &a->st) != STORE_OK) {
        fprintf(stderr, "sharekeep: out of memory\n");
        goto fail;
    }
    return 0;
fail:
    admin_free(a);
    return -1;
}

static const char *kind_name(int kind)
{
    return kind == SHARE_KIND_CUSTODIAN ? "custodian" : kind == SHARE_KIND_CLIENT ? "client" : "?";
}

static int db_failed(const char *what, store_status s)
{
    fprintf(stderr, "sharekeep: %s: %s (see the log line above)\n", what, store_strerror(s));
    return 1;
}

/* Parses --batch N / -n N style options shared by the batch commands. */
static int parse_batch(int argc, char **argv, int *batch, const char *cmd)
{
    static const struct option opts[] = {
        { "batch", required_argument, NULL, 'b' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    optind = 0;   /* GNU getopt: start over on the subcommand's own argv */
    *batch = BATCH_DEFAULT;
    while ((c = getopt_long(argc, argv, "b:h", opts, NULL)) != -1) {
        char *end;
        long v;

        switch (c) {
        case 'b':
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || v < 1 || v > BATCH_MAX) {
                fprintf(stderr, "sharekeep: --batch must be 1 to %d\n", BATCH_MAX);
                return 2;
            }
            *batch = (int)v;
            break;
        case 'h':
            usage_command(stdout, cmd);
            return -1;
        default:
            usage_command(stderr, cmd);
            return 2;
        }
    }
    if (optind != argc) {
        usage_command(stderr, cmd);
        return 2;
    }
    return 0;
}

/* Calls fn for each batch of at most `batch` records, in id order, up to the
 * highest id when it starts (records added meanwhile belong to a later run);
 * records under KEK skip_kek are left out (0: none). Returns 0, or 1 after a
 * failure (reported) or when fn returns non-zero. */
typedef int (*batch_fn)(struct admin *a, const struct store_record *recs, size_t n, void *arg);

static int each_batch(struct admin *a, const char *what, uint32_t skip_kek, int batch,
                      batch_fn fn, void *arg)
{
    struct store_record *recs = NULL;
    long long after = 0, max_id = 0;
    size_t n = 0;
    store_status s;
    int rc = 1;

    if ((s = store_max_id(a->st, &max_id)) != STORE_OK) {
        db_failed(what, s);
        goto out;
    }
    for (;;) {
        store_records_free(recs, n);
        recs = NULL;
        s = store_records(a->st, after, max_id, skip_kek, batch, &recs, &n);
        if (s != STORE_OK) {
            db_failed(what, s);
            goto out;
        }
        if (n == 0)
            break;
        if (fn(a, recs, n, arg) != 0)
            goto out;
        after = recs[n - 1].id;
    }
    rc = 0;
out:
    store_records_free(recs, n);
    return rc;
}

/* ---- rewrap ------------------------------------------------------------ */


struct rewrap_state {
    uint32_t active;
    long long moved, skipped, seen;
};

/* One transaction per batch: a stopped run keeps what it moved. */
static int rewrap_batch(struct admin *a, const struct store_record *recs, size_t n, void *arg)
{
    struct rewrap_state *rw = arg;
    store_status s;

    if ((s = store_begin(a->st)) != STORE_OK)
        return db_failed("rewrap", s);
    for (size_t i = 0; i < n; i++) {
        uint8_t *out = NULL;
        size_t out_len = 0;
        seal_status ss = seal_rewrap(a->kr, recs[i].sealed, recs[i].sealed_len, &out, &out_len);
        int updated = 0;

        if (ss != SEAL_OK) {
            fprintf(stderr, "sharekeep: rewrap: record %lld (KEK %u): %s\n", recs[i].id,
                    recs[i].kek_id, seal_strerror(ss));
            store_rollback(a->st);
            return 1;
        }
        s = store_rewrap_record(a->st, recs[i].id, recs[i].kek_id, rw->active, out, out_len,
                                &updated);
        seal_buf_free(out, out_len);
        if (s != STORE_OK) {
            store_rollback(a->st);
            return db_failed("rewrap", s);
        }
        rw->moved += updated;
        rw->skipped += !updated;
    }
    if ((s = store_commit(a->st)) != STORE_OK)
        return db_failed("rewrap commit", s);
    rw->seen += (long long)n;
    fprintf(stderr, "rewrap: %lld records moved to KEK %u, %lld already moved, up to id %lld\n",
            rw->moved, rw->active, rw->skipped, recs[n - 1].id);
    return 0;
}

static int cmd_rewrap(const char *config_path, int argc, char **argv)
{
    struct rewrap_state rw = { 0 };
    struct admin a;
    int batch, rc;

    if ((rc = parse_batch(argc, argv, &batch, "rewrap")) != 0)
        return rc < 0 ? 0 : rc;
    if (admin_open(config_path, &a, 1, 1) != 0)
        return 1;
    /* Records added while we run were sealed by workers: with the new KEK
     * once they have reloaded, and a later run picks up any others. */
    rw.active = keyring_active_id(a.kr);
    rc = each_batch(&a, "rewrap", rw.active, batch, rewrap_batch, &rw);
    if (rc == 0)
        printf("rewrap: done: %lld records moved to KEK %u (%lld checked)\n", rw.moved,
               rw.active, rw.seen);
    admin_free(&a);
    return rc;
}

/* ---- verify ------------------------------------------------------------ */


struct verify_state {
    long long ok, failed;
};

/* The record's identity as the seal binds it: what verify and import open
 * it under. */
static struct seal_context record_context(const struct store_record *r)
{
    return (struct seal_context){
        .client_id = r->client_id,
        .client_id_len = strlen(r->client_id),
        .kind = (enum share_kind)r->kind,
        .version = r->version,
        .backup_method = r->backup_method,
        .backup_method_len = strlen(r->backup_method),
        .pair_id = r->pair_id,
        .pair_id_len = strlen(r->pair_id),
    };
}

/* A format 1 record binds no method or pair id: it opens only as a legacy
 * share. Says so when a failure is that case, else "". */
static const char *format_hint(const struct store_record *r)
{
    unsigned format = 0;

    if (seal_record_format(r->sealed, r->sealed_len, &format) == SEAL_OK && format == 1 &&
        (strcmp(r->backup_method, SEAL_METHOD_UNKNOWN) != 0 || r->pair_id[0] != '\0'))
        return " (a format 1 record opens only as backupMethod " SEAL_METHOD_UNKNOWN
               " without a pair id)";
    return "";
}

static int verify_batch(struct admin *a, const struct store_record *recs, size_t n, void *arg)
{
    struct verify_state *v = arg;

    for (size_t i = 0; i < n; i++) {
        struct seal_context ctx = record_context(&recs[i]);
        uint8_t *plain = NULL;
        size_t plain_len = 0;
        seal_status ss = seal_open(a->kr, &ctx, recs[i].sealed, recs[i].sealed_len, &plain,
                                   &plain_len);

        seal_buf_free(plain, plain_len);
        if (ss == SEAL_OK) {
            v->ok++;
            continue;
        }
        v->failed++;
        printf("verify: record %lld (%s %s version %u, KEK %u) does not open: %s%s\n",
               recs[i].id, kind_name(recs[i].kind), recs[i].backup_method, recs[i].version,
               recs[i].kek_id, seal_strerror(ss), format_hint(&recs[i]));
    }
    return 0;
}

static int cmd_verify(const char *config_path, int argc, char **argv)
{
    struct verify_state v = { 0 };
    struct admin a;
    int batch, rc;

    if ((rc = parse_batch(argc, argv, &batch, "verify")) != 0)
        return rc < 0 ? 0 : rc;
    if (admin_open(config_path, &a, 1, 1) != 0)
        return 1;
    rc = each_batch(&a, "verify", 0, batch, verify_batch, &v);
    if (rc == 0) {
        printf("verify: %lld records, %lld opened, %lld failed\n", v.ok + v.failed, v.ok,
               v.failed);
        rc = v.failed == 0 ? 0 : 1;
    }
    admin_free(&a);
    return rc;
}

/* ---- status ------------------------------------------------------------ */

static int cmd_status(const char *config_path, int argc, char **argv)
{
    struct admin a;
    struct store_method_count *methods = NULL;
    size_t nmethods = 0;
    uint32_t *ids = NULL;
    long long *counts = NULL;
    size_t n = 0;
    store_status s;
    int rc = 1;

    if (argc > 1) {
        usage_command(stderr, "status");
        return 2;
    }
    if (admin_open(config_path, &a, 1, 1) != 0)
        return 1;
    if ((s = store_kek_counts(a.st, &ids, &counts, &n)) != STORE_OK) {
        rc = db_failed("status", s);
        goto out;
    }
    printf("active KEK: %u\n", keyring_active_id(a.kr));
    for (size_t i = 0; i < keyring_count(a.kr); i++) {
        uint32_t id;
        enum kek_state state;
        long long used = 0;

        if (keyring_key_info(a.kr, i, &id, &state) != KEYRING_OK)
            continue;
        for (size_t j = 0; j < n; j++)
            if (ids[j] == id)
                used = counts[j];
        printf("KEK %u: %s, %lld records\n", id,
               state == KEK_ACTIVE ? "active" : state == KEK_DECRYPT ? "decrypt" : "retired",
               used);
    }
    for (size_t j = 0; j < n; j++) {
        enum kek_state state;
        if (keyring_state(a.kr, ids[j], &state) != KEYRING_OK)
            printf("KEK %u: NOT IN KEYRING, %lld records cannot be opened\n", ids[j], counts[j]);
    }
    /* An identity is one (client, pair id) within its kind and method: the
     * shares Portal keeps apart; each has one or more versions. */
    if ((s = store_method_counts(a.st, &methods, &nmethods)) != STORE_OK) {
        rc = db_failed("status", s);
        goto out;
    }
    for (size_t j = 0; j < nmethods; j++)
        printf("%s %s: %lld records, %lld identities\n", kind_name(methods[j].kind),
               methods[j].backup_method, methods[j].records, methods[j].identities);
    rc = 0;
out:
    free(methods);
    free(ids);
    free(counts);
    admin_free(&a);
    return rc;
}

/* ---- rotate / retire ----------------------------------------------------- */

static int cmd_rotate(const char *config_path, int argc, char **argv)
{
    struct admin a;
    char err[512];
    uint32_t id = 0;
    int rc = 1;

    if (argc > 1) {
        usage_command(stderr, "rotate");
        return 2;
    }
    if (admin_open(config_path, &a, 0, 0) != 0)
        return 1;
    if (keyring_file_add(a.cfg.keyring, 1, &id, err, sizeof(err)) != KEYRING_OK) {
        fprintf(stderr, "sharekeep: %s\n", err);
        goto out;
    }
    printf("rotate: KEK %u is now active in %s\n"
           "next: reload sharekeep (SIGHUP), then run 'sharekeep rewrap'\n", id, a.cfg.keyring);
    rc = 0;
out:
    admin_free(&a);
    return rc;
}

static int cmd_retire(const char *config_path, int argc, char **argv)
{
    struct admin a;
    uint32_t *ids = NULL;
    long long *counts = NULL;
    size_t n = 0;
    char err[512], *end;
    unsigned long id;
    store_status s;
    int rc = 1;

    if (argc != 2) {
        usage_command(stderr, "retire");
        return 2;
    }
    errno = 0;
    id = strtoul(argv[1], &end, 10);
    if (errno != 0 || *end != '\0' || id == 0 || id > UINT32_MAX) {
        fprintf(stderr, "sharekeep: retire: '%s' is not a KEK id\n", argv[1]);
        return 2;
    }
    if (admin_open(config_path, &a, 1, 1) != 0)
        return 1;
    if (keyring_active_id(a.kr) == id) {
        fprintf(stderr, "sharekeep: retire: KEK %lu is active; run 'sharekeep rotate' first\n", id);
        goto out;
    }
    if ((s = store_kek_counts(a.st, &ids, &counts, &n)) != STORE_OK) {
        rc = db_failed("retire", s);
        goto out;
    }
    for (size_t j = 0; j < n; j++)
        if (ids[j] == id && counts[j] > 0) {
            fprintf(stderr, "sharekeep: retire: KEK %lu still protects %lld records; run "
                    "'sharekeep rewrap' first\n", id, counts[j]);
            goto out;
        }
    if (keyring_file_retire(a.cfg.keyring, (uint32_t)id, err, sizeof(err)) != KEYRING_OK) {
        fprintf(stderr, "sharekeep: %s\n", err);
        goto out;
    }
    printf("retire: KEK %lu is retired in %s; reload sharekeep (SIGHUP)\n", id, a.cfg.keyring);
    rc = 0;
out:
    free(ids);
    free(counts);
    admin_free(&a);
    return rc;
}

/* ---- export / import ----------------------------------------------------- */


static int export_batch(struct admin *a, const struct store_record *recs, size_t n, void *arg)
{
    long long *written = arg;

    for (size_t i = 0; i < n; i++) {
        struct body_writer w;
        char *b64 = NULL;
        size_t b64_len = 0;
        int failed;

        if (base64_encode(recs[i].sealed, recs[i].sealed_len, &b64, &b64_len) != 0) {
            fprintf(stderr, "sharekeep: export: out of memory\n");
            return 1;
        }
        body_writer_init(&w);
        body_writer_raw(&w, "{\"clientId\":");
        body_writer_string(&w, recs[i].client_id, strlen(recs[i].client_id));
        body_writer_raw(&w, ",\"kind\":");
        body_writer_string(&w, kind_name(recs[i].kind), strlen(kind_name(recs[i].kind)));
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
        body_writer_string(&w, b64, b64_len);
        body_writer_raw(&w, "}\n");
        free(b64);
        failed = body_writer_failed(&w) || fwrite(w.buf, 1, w.len, stdout) != w.len;
        body_writer_free(&w);
        if (failed) {
            fprintf(stderr, "sharekeep: export: write failed\n");
            return 1;
        }
        (*written)++;
    }
    return 0;
}

static int cmd_export(const char *config_path, int argc, char **argv)
{
    struct admin a;
    long long written = 0;
    int batch, rc;

    if ((rc = parse_batch(argc, argv, &batch, "export")) != 0)
        return rc < 0 ? 0 : rc;
    if (admin_open(config_path, &a, 0, 1) != 0)
        return 1;
    printf("{\"format\":\"" EXPORT_FORMAT "\",\"version\":%d}\n", EXPORT_VERSION);
    rc = each_batch(&a, "export", 0, batch, export_batch, &written);
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
static int parse_export_line(const char *line, size_t len, int format, struct store_record *rec,
                             const char **why)
{
    struct json_object *root = NULL, *v;
    const char *s;
    char kind[16];
    size_t slen;
    int rc = -1;
    int64_t num;

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
    if (rec->kind == 0)
        goto out;
    if (format == 1) {
        /* Written before shares had an identity: a line that names one is
         * not from a version 1 export. */
        *why = "line (backupMethod or backupSharePairId in a version 1 export)";
        if (json_object_object_get_ex(root, "backupMethod", NULL) ||
            json_object_object_get_ex(root, "backupSharePairId", NULL))
            goto out;
        memcpy(rec->backup_method, SEAL_METHOD_UNKNOWN, sizeof(SEAL_METHOD_UNKNOWN));
        rec->pair_id[0] = '\0';
    } else {
        *why = "backupMethod";
        if (!json_object_object_get_ex(root, "backupMethod", &v) ||
            copy_member(v, rec->backup_method, sizeof(rec->backup_method)) != 0 ||
            !seal_method_valid(rec->backup_method, strlen(rec->backup_method)))
            goto out;
        /* null is none; the exporter never writes "" */
        *why = "backupSharePairId";
        if (!json_object_object_get_ex(root, "backupSharePairId", &v))
            goto out;
        if (v != NULL && (copy_member(v, rec->pair_id, sizeof(rec->pair_id)) != 0 ||
                          !seal_pair_id_valid(rec->pair_id, strlen(rec->pair_id))))
            goto out;
    }
    *why = "version";
    if (!json_object_object_get_ex(root, "version", &v) || !json_object_is_type(v, json_type_int) ||
        (num = json_object_get_int64(v)) < 1 || num > INT32_MAX)
        goto out;
    rec->version = (uint32_t)num;
    *why = "kekId";
    if (!json_object_object_get_ex(root, "kekId", &v) || !json_object_is_type(v, json_type_int) ||
        (num = json_object_get_int64(v)) < 1 || num > UINT32_MAX)
        goto out;
    rec->kek_id = (uint32_t)num;
    /* optional; "" is none too: the importing database's clock is used */
    *why = "createdAt";
    if (json_object_object_get_ex(root, "createdAt", &v) &&
        (!json_object_is_type(v, json_type_string) ||
         (json_object_get_string_len(v) > 0 &&
          copy_member(v, rec->created_at, sizeof(rec->created_at)) != 0)))
        goto out;
    *why = "sealed";
    if (!json_object_object_get_ex(root, "sealed", &v) || !json_object_is_type(v, json_type_string))
        goto out;
    s = json_object_get_string(v);
    slen = (size_t)json_object_get_string_len(v);
    if (base64_decoded_len(s, slen, BASE64_STD_PADDED, &rec->sealed_len) != 0)
        goto out;
    rec->sealed = malloc(rec->sealed_len + 1);
    if (rec->sealed == NULL ||
        base64_decode(s, slen, BASE64_STD_PADDED, rec->sealed, rec->sealed_len + 1,
                      &rec->sealed_len) != 0)
        goto out;
    *why = "sealed record header";
    if (seal_record_kek(rec->sealed, rec->sealed_len, &rec->kek_id) != SEAL_OK ||
        rec->kek_id != (uint32_t)num)
        goto out;
    rc = 0;
out:
    json_strict_free(root);
    if (rc != 0) {
        free(rec->sealed);
        rec->sealed = NULL;
    }
    return rc;
}


static int cmd_import(const char *config_path, int argc, char **argv)
{
    struct admin a;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long long lineno = 0, inserted = 0, present = 0;
    int rc = 1, format = 0;

    if (argc > 1) {
        usage_command(stderr, "import");
        return 2;
    }
    if (admin_open(config_path, &a, 1, 1) != 0)
        return 1;
    while ((got = getline(&line, &cap, stdin)) > 0) {
        struct store_record rec;
        struct seal_context ctx;
        const char *why = "line";
        uint8_t *plain = NULL;
        size_t plain_len = 0;
        seal_status ss;
        store_status s;
        int result = 0;

        lineno++;
        if ((size_t)got > EXPORT_LINE_MAX) {
            fprintf(stderr, "sharekeep: import: line %lld is too long\n", lineno);
            goto out;
        }
        if (format == 0) {
            if (parse_export_header(line, (size_t)got, &format) != 0)
                goto out;
            continue;
        }
        if (parse_export_line(line, (size_t)got, format, &rec, &why) != 0) {
            fprintf(stderr, "sharekeep: import: line %lld: bad %s\n", lineno, why);
            goto out;
        }
        /* Proven readable under the identity it will be stored as. */
        ctx = record_context(&rec);
        ss = seal_open(a.kr, &ctx, rec.sealed, rec.sealed_len, &plain, &plain_len);
        seal_buf_free(plain, plain_len);
        if (ss != SEAL_OK) {
            fprintf(stderr, "sharekeep: import: line %lld (%s %s version %u, KEK %u) does not "
                    "open with this keyring: %s%s\n", lineno, kind_name(rec.kind),
                    rec.backup_method, rec.version, rec.kek_id, seal_strerror(ss),
                    format_hint(&rec));
            free(rec.sealed);
            goto out;
        }
        s = store_import_record(a.st, &rec, &result);
        free(rec.sealed);
        if (s == STORE_CONFLICT) {
            fprintf(stderr, "sharekeep: import: line %lld: the database holds different bytes "
                    "for this client, kind, backupMethod, pair id and version; stopping\n",
                    lineno);
            goto out;
        }
        if (s != STORE_OK) {
            rc = db_failed("import", s);
            goto out;
        }
        inserted += result;
        present += !result;
    }
    if (ferror(stdin)) {
        fprintf(stderr, "sharekeep: import: reading the input after line %lld: %s\n", lineno,
                strerror(errno));
        goto out;
    }
    if (format == 0) {
        fprintf(stderr, "sharekeep: import: empty input\n");
        goto out;
    }
    printf("import: %lld records inserted, %lld already present\n", inserted, present);
    rc = 0;
out:
    if (line != NULL) {
        OPENSSL_cleanse(line, cap);
        free(line);
    }
    admin_free(&a);
    return rc;
}

int admin_dispatch(const char *config_path, const char *cmd, int argc, char **argv, int *rc)
{
    static const struct {
        const char *name;
        int (*fn)(const char *config_path, int argc, char **argv);
    } cmds[] = {
        { "rewrap", cmd_rewrap }, { "verify", cmd_verify }, { "status", cmd_status },
        { "rotate", cmd_rotate }, { "retire", cmd_retire }, { "export", cmd_export },
        { "import", cmd_import },
    };

    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (strcmp(cmd, cmds[i].name) == 0) {
            *rc = cmds[i].fn(config_path, argc, argv);
            return 1;
        }
    return 0;
}
