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

/* Newest record for (client, kind). *sealed is malloc'd. */
store_status store_latest(struct store *st, const char *client_id, int kind,
                          uint32_t *version, uint8_t **sealed, size_t *sealed_len);

/* Inserts one version; returns after COMMIT (autocommit). */
store_status store_insert(struct store *st, const char *client_id, int kind, uint32_t version,
                          uint32_t kek_id, const uint8_t *sealed, size_t sealed_len);

/* Applies one migration file once, under an advisory lock, recording it in
 * schema_migration. *applied says whether it ran now. */
store_status store_migrate(struct store *st, const char *name, const char *sql, int *applied);

const char *store_strerror(store_status s);

#endif
