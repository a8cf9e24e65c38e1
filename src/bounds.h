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

/* A Portal share is a JSON object (a few KB, nested a few levels); it is
 * parsed only to find its backupSharePairId, never more deeply than this. */
#define SHARE_JSON_DEPTH_MAX 32

/* A share can never be larger than the body that carried it. */
#define SHARE_MAX          BODY_MAX_CEILING

/* json-c nesting depth: our bodies are flat objects; anything deeper is hostile. */
#define JSON_DEPTH_MAX     4

/* Request path and header values we look at. */
#define PATH_MAX_LEN       1024u
#define HEADER_MAX_LEN     8192u

/* Config file. */
#define CONFIG_LINE_MAX    4096u
#define CONFIG_FILE_MAX    (256u * 1024u)
#define WORKERS_MAX        256

/* Keyring file. */
#define KEYRING_FILE_MAX   (1024u * 1024u)
#define KEYRING_KEYS_MAX   1024u

#endif
