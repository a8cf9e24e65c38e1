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

/* A retry of what is already stored: records the delivery id (when given)
 * and a 200 audit row for the existing version. */
store_status store_note(struct store *st, const struct store_write *w, uint32_t version);

/* Newest record for (client, kind), with an audit row (200 or 404) written in
 * the same statement. *sealed is malloc'd. */
store_status store_fetch(struct store *st, const char *client_id, int kind, const char *endpoint,
                         const char *request_id, uint32_t *version, uint8_t **sealed,
                         size_t *sealed_len);

/* One audit row for an outcome not already recorded (errors). client_id may
 * be NULL; version 0 means none. */
store_status store_audit(struct store *st, const char *endpoint, const char *client_id,
                         int result, const char *request_id, uint32_t version);

/* Applies one migration file once, under an advisory lock, recording it in
 * schema_migration. *applied says whether it ran now. */
store_status store_migrate(struct store *st, const char *name, const char *sql, int *applied);

const char *store_strerror(store_status s);

#endif
