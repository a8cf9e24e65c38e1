/* An in-memory store for in-process tests: fake_store.c defines the runtime
 * functions of store.h that share.c, app.c and the handlers call, so a test
 * binary that links it does not pull store.o out of libsharekeep.a (the
 * linker would report a duplicate symbol if anything did).
 *
 * It keeps the three tables the runtime statements touch and answers as the
 * SQL does: identities (client, kind, backup_method, pair_id), versions per
 * identity unique, the newest per identity ordered by when it was stored,
 * the UNKNOWN fallback of store_fetch_method, delivery ids unique, one audit
 * row per store_put / store_note / store_audit / store_audit_refusal. A write that fails writes
 * nothing. On top of that a test can inject faults and inspect the rows. */
#ifndef SHAREKEEP_FAKE_STORE_H
#define SHAREKEEP_FAKE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include "store.h"

/* The functions a fault can be injected into, and whose calls are counted. */
enum fake_call {
    FAKE_PING = 0,
    FAKE_LOOKUP,
    FAKE_PUT,
    FAKE_PUT_FIRST,
    FAKE_NOTE,
    FAKE_FETCH_NEWEST,
    FAKE_FETCH_METHOD,
    FAKE_AUDIT,
    FAKE_AUDIT_REFUSAL,
    FAKE_NCALLS
};

struct fake_record {              /* share_record */
    long long id;                 /* insertion order, from 1 */
    char client_id[CLIENT_ID_MAX + 1];
    int kind;
    char backup_method[BACKUP_METHOD_MAX + 1];
    char pair_id[PAIR_ID_MAX + 1];
    uint32_t version;
    uint32_t kek_id;
    uint8_t *sealed;
    size_t sealed_len;
};

struct fake_delivery {            /* webhook_delivery */
    char delivery_id[WEBHOOK_ID_MAX + 1];
    uint8_t body_sha256[32];
    char client_id[CLIENT_ID_MAX + 1];
    uint32_t version;
};

struct fake_audit {               /* audit_event; NULL columns as noted */
    char endpoint[64];
    int has_client;               /* 0: client_id NULL */
    char client_id[CLIENT_ID_MAX + 1];
    int result;
    char request_id[HTTP_REQUEST_ID_MAX + 1];
    uint32_t version;             /* 0: NULL */
    int has_method;               /* 0: backup_method NULL */
    char backup_method[BACKUP_METHOD_MAX + 1];
    int served;                   /* -1: NULL */
    int unopened;                 /* 0: NULL */
    /* store_audit_refusal rows: what an unproved request claimed. */
    int has_claimed_client;
    char claimed_client_id[CLIENT_ID_MAX + 1];
    int has_claimed_request;
    char claimed_request_id[HTTP_REQUEST_ID_MAX + 1];
};

/* The next n calls of c return status and write nothing; then calls behave
 * again. A later call for the same c replaces the earlier one. */
void fake_store_fail(struct store *st, enum fake_call c, int n, store_status status);
/* As fake_store_fail, but the first skip calls of c behave normally. */
void fake_store_fail_after(struct store *st, enum fake_call c, int skip, int n,
                           store_status status);
/* The next n writes through c commit and then return STORE_UNAVAILABLE, as
 * store.c does for a COMMIT that came back with a WARNING. */
void fake_store_warn(struct store *st, enum fake_call c, int n);
/* Calls of c so far (failed ones included). */
int fake_store_calls(const struct store *st, enum fake_call c);

size_t fake_store_nrecords(const struct store *st);
const struct fake_record *fake_store_record(const struct store *st, size_t i);
/* Flips one bit of byte offset of record i's sealed bytes (as tampering in
 * the database would). 0, or -1 when there is no such byte. */
int fake_store_tamper(struct store *st, size_t i, size_t offset);

size_t fake_store_ndeliveries(const struct store *st);
const struct fake_delivery *fake_store_delivery(const struct store *st, size_t i);

/* What store_set_timeout and store_set_deadline were last given (0: never). */
int fake_store_timeout(const struct store *st);
long long fake_store_deadline(const struct store *st);

/* Audit rows written so far (store_audit_refusal's too), in order. */
size_t fake_store_naudits(const struct store *st);
const struct fake_audit *fake_store_audit_row(const struct store *st, size_t i);

#endif
