/* All SQL: one PostgreSQL connection per worker, prepared statements,
 * reconnect with back-off. Callers see only these statuses. */
#ifndef SHAREKEEP_STORE_H
#define SHAREKEEP_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    STORE_OK = 0,
    STORE_NOT_FOUND,
    STORE_CONFLICT,      /* unique version taken by a concurrent writer */
    STORE_UNAVAILABLE,   /* no connection, failover, read-only, disk full: retry later */
    STORE_ERROR,         /* anything else (schema missing, bug): logged */
} store_status;

struct store;

/* Never fails for an unreachable database: the handle reconnects on use. */
store_status store_new(const char *conninfo, struct store **out);
void store_free(struct store *st);

/* Connects now if not connected (used at worker start and by /healthz). */
store_status store_ping(struct store *st);

/* Who is writing, for the delivery-id and audit rows written together with
 * the share. */
struct store_write {
    const char *client_id;
    int kind;
    const char *delivery_id;       /* NULL when the request carried none */
    const uint8_t *body_sha256;    /* 32 bytes; required with delivery_id */
    const char *endpoint;          /* route name for the audit row */
    const char *request_id;
};

/* What a store needs to know before sealing: whether this delivery id was
 * seen, and the newest record for the client. */
struct store_lookup {
    int delivery_seen;
    uint8_t delivery_sha256[32];
    uint32_t delivery_version;
    int has_latest;
    uint32_t latest_version;
    uint8_t *sealed;               /* malloc'd, when has_latest */
    size_t sealed_len;
};

store_status store_lookup(struct store *st, const struct store_write *w, struct store_lookup *out);
void store_lookup_free(struct store_lookup *l);

/* Inserts the share version, the delivery id (when given) and a 200 audit
 * row in one statement: all or nothing. Returns after COMMIT. */
store_status store_put(struct store *st, const struct store_write *w, uint32_t version,
                       uint32_t kek_id, const uint8_t *sealed, size_t sealed_len);

/* store_put of version 1, for a client's first backup, without looking
 * first: STORE_CONFLICT (nothing written) when the client has a version 1
 * already or the delivery id was used, and the caller takes the general
 * path. */
store_status store_put_first(struct store *st, const struct store_write *w, uint32_t kek_id,
                             const uint8_t *sealed, size_t sealed_len);

/* A retry of what is already stored: records the delivery id (when given)
 * and a 200 audit row for the existing version. */
store_status store_note(struct store *st, const struct store_write *w, uint32_t version);

/* Newest record for (client, kind). *sealed is malloc'd. The caller audits
 * the outcome once it knows it (the record may not open). */
store_status store_fetch(struct store *st, const char *client_id, int kind, uint32_t *version,
                         uint8_t **sealed, size_t *sealed_len);

/* One audit row for an outcome not already recorded (errors). client_id may
 * be NULL; version 0 means none. */
store_status store_audit(struct store *st, const char *endpoint, const char *client_id,
                         int result, const char *request_id, uint32_t version);

/* ---- admin: whole-table work, run by sharekeep's admin commands --------- */

struct store_record {
    long long id;
    char client_id[129];
    int kind;
    uint32_t version;
    uint32_t kek_id;
    char created_at[40];         /* ISO 8601, UTC */
    uint8_t *sealed;             /* malloc'd */
    size_t sealed_len;
};

/* Up to limit records with id > after_id and id <= max_id, in id order;
 * when not_kek is non-zero, only records whose kek_id differs from it. */
store_status store_records(struct store *st, long long after_id, long long max_id,
                           uint32_t not_kek, int limit, struct store_record **out, size_t *n);
void store_records_free(struct store_record *r, size_t n);

/* Highest record id (0 when empty). */
store_status store_max_id(struct store *st, long long *max_id);

/* Records per KEK id. *ids and *counts are malloc'd, *n entries. */
store_status store_kek_counts(struct store *st, uint32_t **ids, long long **counts, size_t *n);

/* Replaces one record's sealed bytes after a rewrap, only if it still uses
 * old_kek (a concurrent rewrap wins, harmlessly). Run inside
 * store_begin/store_commit to batch. *updated is 0 or 1. */
store_status store_rewrap_record(struct store *st, long long id, uint32_t old_kek,
                                 uint32_t new_kek, const uint8_t *sealed, size_t sealed_len,
                                 int *updated);

/* Inserts an exported record. When (client, kind, version) exists already
 * with the same sealed bytes, *result = 0 (already there); with different
 * bytes, STORE_CONFLICT. *result = 1 when inserted. */
store_status store_import_record(struct store *st, const struct store_record *r, int *result);

store_status store_begin(struct store *st);
store_status store_commit(struct store *st);
void store_rollback(struct store *st);

/* Applies one migration file once, under an advisory lock, recording it in
 * schema_migration. *applied says whether it ran now. */
store_status store_migrate(struct store *st, const char *name, const char *sql, int *applied);

const char *store_strerror(store_status s);

#endif
