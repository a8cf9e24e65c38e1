/* All SQL: one PostgreSQL connection per worker, prepared statements,
 * reconnect with back-off. Callers see only these statuses. */
#ifndef SHAREKEEP_STORE_H
#define SHAREKEEP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "bounds.h"

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

/* For serving: every request must be answered within timeout_ms. The
 * session gets server-side statement, lock and idle-in-transaction
 * timeouts below it, and connects and statements wait on the socket, never
 * past the deadline that store_set_deadline gives. */
void store_set_timeout(struct store *st, int timeout_ms);
/* The current request's deadline (CLOCK_MONOTONIC milliseconds, as
 * store_now_ms gives). A statement still running then is abandoned: the
 * connection is dropped and the call answers STORE_UNAVAILABLE, whatever
 * the server later makes of it (a write may still commit: a 503 is "not
 * acknowledged", and the provider's retry finds it). */
void store_set_deadline(struct store *st, long long deadline_ms);
long long store_now_ms(void);
/* For a process that runs each statement once (a CGI request): statements
 * are sent unnamed, parsed in the round trip that runs them, instead of
 * being prepared first in a round trip of their own. */
void store_set_one_shot(struct store *st);
/* With store_set_timeout: starts connecting, and goes as far as it can
 * without waiting (socket, startup packet), so the server starts the
 * session while the caller does other work; the first statement finishes
 * it, within the request's deadline, and reports a failure as a connect
 * failure. */
void store_connect_start(struct store *st);

/* A share's identity within its client and kind: what Portal keys on.
 * backup_method is never empty ("UNKNOWN" for legacy shares); pair_id is ""
 * when there is none. */

/* Who is writing, for the delivery-id and audit rows written together with
 * the share. */
struct store_write {
    const char *client_id;
    int kind;
    const char *backup_method;
    const char *pair_id;           /* "" = none */
    const char *delivery_id;       /* NULL when the request carried none */
    const uint8_t *body_sha256;    /* 32 bytes; required with delivery_id */
    const char *endpoint;          /* route name for the audit row */
    const char *request_id;
};

/* What a store needs to know before sealing: whether this delivery id was
 * seen, and the newest record of the identity. */
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
 * row in one statement: all or nothing. Returns after COMMIT;
 * STORE_CONFLICT (nothing written) when that version exists already or the
 * delivery id was used meanwhile. */
store_status store_put(struct store *st, const struct store_write *w, uint32_t version,
                       uint32_t kek_id, const uint8_t *sealed, size_t sealed_len);

/* store_put of version 1, for an identity's first backup, without looking
 * first: STORE_CONFLICT (nothing written) when the identity has a version 1
 * already or the delivery id was used, and the caller takes the general
 * path. */
store_status store_put_first(struct store *st, const struct store_write *w, uint32_t kek_id,
                             const uint8_t *sealed, size_t sealed_len);

/* A retry of what is already stored: records the delivery id (when given)
 * and a 200 audit row for the existing version. */
store_status store_note(struct store *st, const struct store_write *w, uint32_t version);

/* One stored version as a fetch reads it. */
struct store_share {
    uint32_t version;
    char backup_method[BACKUP_METHOD_MAX + 1];
    char pair_id[PAIR_ID_MAX + 1];
    uint8_t *sealed;               /* malloc'd */
    size_t sealed_len;
};

/* The newest version of each identity of (client, kind), newest first (by
 * when that version was stored), at most limit of them; *total is how many
 * identities there are. *n is 0 when the client has none. The caller audits
 * the outcome once it knows it (a record may not open). */
store_status store_fetch_newest(struct store *st, const char *client_id, int kind, int limit,
                                struct store_share **out, size_t *n, long long *total);

/* The newest version stored under backup_method, else the newest under
 * "UNKNOWN" (legacy shares), else STORE_NOT_FOUND. */
store_status store_fetch_method(struct store *st, const char *client_id, int kind,
                                const char *backup_method, struct store_share *out);

/* Frees what the fetches returned (sealed records: nothing to wipe). */
void store_shares_free(struct store_share *s, size_t n);

/* One audit row for an outcome not already recorded (errors, fetches). */
struct store_audit_row {
    const char *endpoint;
    const char *client_id;         /* NULL when the request named none we trust */
    int result;                    /* HTTP status */
    const char *request_id;
    uint32_t version;              /* 0 = none */
    const char *backup_method;     /* NULL = none (or several) */
    int served;                    /* shares a fetch answered with; < 0 = not a fetch */
    int unopened;                  /* stored records that did not open (incidents) */
};

store_status store_audit(struct store *st, const struct store_audit_row *a);

/* The audit row of a request answered before it proved anything (a 401 or
 * 403, or a webhook refused before its secret was checked): what it claimed (the path's client id, its X-Request-Id) is kept as a
 * claim, never in client_id or request_id, and the row commits without
 * waiting for its WAL flush (synchronous_commit off for that transaction):
 * a flood of refusals costs no fsync each, and a crash can lose at most the
 * last fraction of a second of them. */
struct store_refusal_row {
    const char *endpoint;
    int result;
    const char *request_id;        /* our own id */
    const char *claimed_client_id; /* NULL when none */
    const char *claimed_request_id;
};

store_status store_audit_refusal(struct store *st, const struct store_refusal_row *a);

/* ---- admin: whole-table work, run by sharekeep's admin commands --------- */

struct store_record {
    long long id;
    char client_id[CLIENT_ID_MAX + 1];
    int kind;
    char backup_method[BACKUP_METHOD_MAX + 1];
    char pair_id[PAIR_ID_MAX + 1];   /* "" = none */
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

/* Records and identities per (kind, backup_method), in that order. */
struct store_method_count {
    int kind;
    char backup_method[BACKUP_METHOD_MAX + 1];
    long long records;
    long long identities;
};
store_status store_method_counts(struct store *st, struct store_method_count **out, size_t *n);

/* What rewrap reads and writes of a record: its envelope (the first
 * SEAL_ENVELOPE_LEN bytes; the ciphertext is never read). */
struct store_envelope {
    long long id;
    uint32_t kek_id;
    uint8_t envelope[132];
};

/* store_records for rewrap: up to limit envelopes, id in (after_id,
 * max_id], kek_id other than not_kek, in id order. *out is malloc'd. */
store_status store_envelopes(struct store *st, long long after_id, long long max_id,
                             uint32_t not_kek, int limit, struct store_envelope **out,
                             size_t *n);

/* One UPDATE for a batch: e[i]'s record gets kek_id new_kek and envelope
 * e[i].envelope, only if it still uses e[i].kek_id (a concurrent rewrap
 * wins, harmlessly). *updated: how many rows changed. */
store_status store_rewrap_batch(struct store *st, const struct store_envelope *e, size_t n,
                                uint32_t new_kek, long long *updated);

/* Lowest record id (0 when empty). */
store_status store_min_id(struct store *st, long long *min_id);

/* Inserts n exported records in one statement, in the caller's transaction
 * (store_begin): a record whose identity and version are new is inserted;
 * one present already with the same sealed bytes is left as it is, and so
 * is a repeat of an earlier record of the batch. *inserted: how many rows
 * were inserted. STORE_CONFLICT when the database (or an earlier record of
 * the batch) holds different bytes for a record's identity and version:
 * *conflict is the index of the first such record, and the caller must roll
 * back, since the others were inserted. */
store_status store_import_batch(struct store *st, const struct store_record *recs, size_t n,
                                long long *inserted, size_t *conflict);

store_status store_begin(struct store *st);
store_status store_commit(struct store *st);
void store_rollback(struct store *st);

/* ---- admin: retention (sharekeep prune) ----------------------------------
 * Timestamps are ISO 8601 in UTC, as store_retention_cutoff writes them. */
#define STORE_TIME_LEN 40

/* The connection's user, and whether it is a member of sharekeep_admin:
 * the only role sql/005 lets remove audit rows. */
store_status store_admin_role(struct store *st, char user[64], int *member);

/* now() minus days days: the cutoff of one prune run. */
store_status store_retention_cutoff(struct store *st, int days, char cutoff[STORE_TIME_LEN]);

/* One transaction, a retention run (sql/005): of the next `limit` audit
 * rows after id after_id, in id order, removes those written before
 * cutoff. *scanned rows were looked at, up to id *last_id; *removed of
 * them are gone. */
store_status store_prune_audit(struct store *st, const char *cutoff, long long after_id,
                               int limit, int *scanned, long long *last_id, long long *removed);

/* Removes up to limit webhook delivery ids received before cutoff, the
 * oldest first; *removed of them. */
store_status store_prune_deliveries(struct store *st, const char *cutoff, int limit,
                                    long long *removed);

/* The audit row of one prune run: what it removed, up to when, who ran it
 * (the database user, in detail). */
struct store_prune_row {
    const char *endpoint;
    int result;                    /* 200 done, 500 stopped by a failure */
    const char *request_id;
    const char *audit_before;
    const char *delivery_before;
    long long audit_removed;
    long long deliveries_removed;
};
store_status store_audit_prune(struct store *st, const struct store_prune_row *p);

/* ---- admin: share removal (store_remove.c, sql/007) ---------------------- */

/* sharekeep prune --keep: what one run removes and how its audit rows
 * name it. */
struct store_prune_versions {
    int keep;                /* versions kept per identity, the newest always */
    int older_days;          /* only versions older than this; 0 = any age */
    const char *endpoint;    /* the audit rows' endpoint */
    const char *request_id;  /* the run's id, in each audit row */
};

/* One transaction over the next limit ids after after_id: removes the
 * versions there with at least p->keep newer ones of their identity (and
 * older than p->older_days, when set), with an audit row of the batch in
 * the same statement. *scanned ids were looked at, up to *last_id. */
store_status store_prune_versions(struct store *st, const struct store_prune_versions *p,
                                  long long after_id, int limit, int *scanned,
                                  long long *last_id, long long *removed);

/* One transaction: every share of client_id and its delivery ids removed,
 * and one audit row (endpoint, request_id) saying how many. */
store_status store_purge_client(struct store *st, const char *client_id, const char *endpoint,
                                const char *request_id, long long *shares, long long *deliveries);

/* Applies one migration file once, under an advisory lock, recording it in
 * schema_migration. *applied says whether it ran now. */
store_status store_migrate(struct store *st, const char *name, const char *sql, int *applied);

const char *store_strerror(store_status s);
/* The SQLSTATE of the last statement that failed on st ("" if none): what
 * an admin command explains (42501: the role lacks a privilege). */
const char *store_last_sqlstate(const struct store *st);

#endif
