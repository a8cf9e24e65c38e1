/* Every size limit sharekeep enforces, in one place, so a reviewer can see
 * the whole attack surface of the input side at a glance. */
#ifndef SHAREKEEP_BOUNDS_H
#define SHAREKEEP_BOUNDS_H

/* Default request body cap; config key max_body overrides it within
 * [BODY_MAX_MIN, BODY_MAX_CEILING]. */
#define BODY_MAX_DEFAULT   (64u * 1024u)
#define BODY_MAX_MIN       1024u
#define BODY_MAX_CEILING   (16u * 1024u * 1024u)

/* clientId: [A-Za-z0-9_-]{1,CLIENT_ID_MAX} */
#define CLIENT_ID_MAX      128u

/* A share's identity besides its owner: backupMethod is 1..BACKUP_METHOD_MAX
 * printable ASCII characters (Portal's own values are about 20), the pair id
 * 0..PAIR_ID_MAX (0: none). */
#define BACKUP_METHOD_MAX  64u
#define PAIR_ID_MAX        128u

/* The custodian fetch answers every identity's newest share, within these
 * (config keys fetch_max_shares, fetch_max_bytes). Portal's largest real
 * client has about 14 (seven methods times two curves). */
#define FETCH_SHARES_DEFAULT 64
#define FETCH_SHARES_MAX     256
#define FETCH_BYTES_DEFAULT  (1024u * 1024u)

/* Versions one identity may hold (config key max_versions): a store past
 * the cap is refused (409 version_limit), never a stored version dropped.
 * Versions count from 1 and none is ever deleted, so the newest version
 * number is the count. */
#define VERSIONS_DEFAULT     1000
#define VERSIONS_MAX         100000

/* A Portal share is a JSON object (a few KB, nested a few levels); it is
 * parsed only to find its backupSharePairId, never more deeply than this. */
#define SHARE_JSON_DEPTH_MAX 32

/* A share can never be larger than the body that carried it. */
#define SHARE_MAX          BODY_MAX_CEILING

/* JSON nesting, for request bodies and for JWT headers and claims alike:
 * bodies are flat objects, and the deepest claim of a real issuer is about
 * four levels (Keycloak's resource_access.{client}.roles). Anything deeper
 * is refused before json-c builds a tree. */
#define JSON_DEPTH_MAX     4

/* Request path and header values we look at; an X-Request-Id longer than
 * this is replaced by one of ours. */
#define PATH_MAX_LEN       1024u
#define HEADER_MAX_LEN     8192u
#define HTTP_REQUEST_ID_MAX 64u

/* Routes in the table (router.c); metrics keep a slot per route. */
#define ROUTES_MAX         16

/* Webhook authentication (auth_webhook.c): the secrets file and what the
 * Standard Webhooks headers may hold. */
#define WEBHOOK_SECRETS_MAX      16u
#define WEBHOOK_SECRETS_FILE_MAX (64u * 1024u)
#define WEBHOOK_KEY_MIN          24u    /* decoded whsec_ key bytes */
#define WEBHOOK_KEY_MAX          64u
#define WEBHOOK_SHARED_MIN       16u    /* shared secret bytes */
#define WEBHOOK_SHARED_MAX       1024u
#define WEBHOOK_ID_MAX           256u   /* webhook-id header bytes */
#define WEBHOOK_TIMESTAMP_MAX    19u    /* webhook-timestamp digits */
#define WEBHOOK_SIGNATURE_MAX    4096u  /* webhook-signature header bytes */
#define WEBHOOK_SIGNATURES_MAX   32u    /* entries in webhook-signature */
#define WEBHOOK_TOLERANCE_DEFAULT 300L  /* seconds; the spec's 5 minutes */
#define WEBHOOK_SIG_VERSION_MAX 8u    /* "v1", "v1a": letters and digits */

/* Client JWTs (auth_jwt.c). */
#define JWT_TOKEN_MAX       8192u          /* whole compact token, bytes */
#define JWT_HS_SECRET_MIN   32u            /* RFC 7518 3.2: key >= hash size */
#define JWT_HS_SECRET_MAX   4096u
#define JWT_PEM_FILE_MAX    (16u * 1024u)

/* Every request is answered within request_timeout seconds (default 8),
 * below Portal's 10 s after which the user's backup or recovery fails. */
#define PORTAL_TIMEOUT_SECONDS  10
#define REQUEST_TIMEOUT_DEFAULT 8
#define REQUEST_TIMEOUT_MAX     120

/* Config file. */
#define CONFIG_LINE_MAX    4096u
#define CONFIG_FILE_MAX    (256u * 1024u)
#define WORKERS_MAX        256

/* Admin commands: records per batch (rewrap, verify, export), and one line
 * of an export file (a record of at most SHARE_MAX, base64, plus fields). */
#define ADMIN_BATCH_DEFAULT 500
#define ADMIN_BATCH_MAX     10000
/* Processes a parallel admin command (rewrap --jobs) may use. */
#define ADMIN_JOBS_MAX      8
#define EXPORT_LINE_MAX (SHARE_MAX / 3 * 4 + 4096)

/* Retention, in days (config keys audit_retention, delivery_retention and
 * `sharekeep prune --older-than`). The audit minimum is also written into
 * sql/005_retention.sql's trigger, which refuses to delete a younger audit
 * row whatever the caller says. A delivery id must outlive every replay
 * its signature allows: webhook_tolerance (at most a day) either side of
 * its timestamp, so two days. */
#define AUDIT_RETENTION_DEFAULT    400
#define AUDIT_RETENTION_MIN        30
#define DELIVERY_RETENTION_DEFAULT 30
#define DELIVERY_RETENTION_MIN     2
#define RETENTION_DAYS_MAX         36500

/* Keyring file. keygen, rotate and retire wait at most KEYRING_LOCK_WAIT_MS
 * for the key file's lock (keyring_file.c), then fail naming the lock file. */
#define KEYRING_FILE_MAX   (1024u * 1024u)
#define KEYRING_KEYS_MAX   1024u
#define KEYRING_LOCK_WAIT_MS 10000u

/* OpenSSL's secure heap (mlocked, never swapped), for KEKs and webhook and
 * JWT secrets: 32 KiB, a thousand 32-byte keys. Allocations beyond it fall
 * back to ordinary memory, still cleansed on free. */
#define SECURE_HEAP_SIZE    32768u
#define SECURE_HEAP_MINSIZE 32

/* One sql/NNN_*.sql migration file. */
#define MIGRATION_FILE_MAX (1024u * 1024u)

#endif
