/* The runtime half of store.h in memory (see fake_store.h). Each function
 * mirrors one statement of store.c; the comments name the SQL behaviour it
 * stands in for. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_store.h"

struct fault {
    int skip;              /* calls that behave before the fault starts */
    int left;              /* faulty calls still to come */
    store_status status;
    int warn;              /* commit, then STORE_UNAVAILABLE */
};

struct store {
    struct fake_record *records;
    size_t nrecords;
    struct fake_delivery *deliveries;
    size_t ndeliveries;
    struct fake_audit *audits;
    size_t naudits;
    long long next_id;
    struct fault faults[FAKE_NCALLS];
    int calls[FAKE_NCALLS];
    int timeout_ms;
    long long deadline_ms;
};

/* What a call does under the fault set for it: 0 = behave, 1 = fail with
 * *status (nothing written), 2 = write, then answer STORE_UNAVAILABLE. */
static int fault_of(struct store *st, enum fake_call c, store_status *status)
{
    struct fault *f = &st->faults[c];

    st->calls[c]++;
    if (f->left <= 0)
        return 0;
    if (f->skip > 0) {
        f->skip--;
        return 0;
    }
    f->left--;
    *status = f->status;
    return f->warn ? 2 : 1;
}

void fake_store_fail_after(struct store *st, enum fake_call c, int skip, int n,
                           store_status status)
{
    struct fault f = { skip, n, status, 0 };

    st->faults[c] = f;
}

void fake_store_fail(struct store *st, enum fake_call c, int n, store_status status)
{
    fake_store_fail_after(st, c, 0, n, status);
}

void fake_store_warn(struct store *st, enum fake_call c, int n)
{
    struct fault f = { 0, n, STORE_UNAVAILABLE, 1 };

    st->faults[c] = f;
}

int fake_store_calls(const struct store *st, enum fake_call c)
{
    return st->calls[c];
}

size_t fake_store_nrecords(const struct store *st)
{
    return st->nrecords;
}

const struct fake_record *fake_store_record(const struct store *st, size_t i)
{
    return i < st->nrecords ? &st->records[i] : NULL;
}

int fake_store_tamper(struct store *st, size_t i, size_t offset)
{
    if (i >= st->nrecords || offset >= st->records[i].sealed_len)
        return -1;
    st->records[i].sealed[offset] ^= 0x01;
    return 0;
}

size_t fake_store_ndeliveries(const struct store *st)
{
    return st->ndeliveries;
}

const struct fake_delivery *fake_store_delivery(const struct store *st, size_t i)
{
    return i < st->ndeliveries ? &st->deliveries[i] : NULL;
}

size_t fake_store_naudits(const struct store *st)
{
    return st->naudits;
}

const struct fake_audit *fake_store_audit_row(const struct store *st, size_t i)
{
    return i < st->naudits ? &st->audits[i] : NULL;
}

int fake_store_timeout(const struct store *st)
{
    return st->timeout_ms;
}

long long fake_store_deadline(const struct store *st)
{
    return st->deadline_ms;
}

/* ---- store.h ---------------------------------------------------------- */

void store_set_timeout(struct store *st, int timeout_ms)
{
    st->timeout_ms = timeout_ms;
}

void store_set_deadline(struct store *st, long long deadline_ms)
{
    st->deadline_ms = deadline_ms;
}

long long store_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *store_strerror(store_status s)
{
    switch (s) {
    case STORE_OK: return "ok";
    case STORE_NOT_FOUND: return "not found";
    case STORE_CONFLICT: return "version conflict";
    case STORE_UNAVAILABLE: return "database unavailable";
    case STORE_ERROR: return "database error";
    }
    return "unknown";
}

store_status store_new(const char *conninfo, struct store **out)
{
    struct store *st = calloc(1, sizeof(*st));

    (void)conninfo;
    if (st == NULL)
        return STORE_ERROR;
    st->next_id = 1;
    *out = st;
    return STORE_OK;
}

void store_free(struct store *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->nrecords; i++)
        free(st->records[i].sealed);
    free(st->records);
    free(st->deliveries);
    free(st->audits);
    free(st);
}

store_status store_ping(struct store *st)
{
    store_status s = STORE_OK;

    (void)fault_of(st, FAKE_PING, &s);
    return s;
}

static void copy_text(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "");
}

static int same_identity(const struct fake_record *r, const char *client_id, int kind,
                         const char *method, const char *pair_id)
{
    return strcmp(r->client_id, client_id) == 0 && r->kind == kind &&
           strcmp(r->backup_method, method) == 0 && strcmp(r->pair_id, pair_id) == 0;
}

/* The highest version of the identity (ORDER BY version DESC LIMIT 1). */
static const struct fake_record *newest_of(const struct store *st, const char *client_id,
                                           int kind, const char *method, const char *pair_id)
{
    const struct fake_record *best = NULL;

    for (size_t i = 0; i < st->nrecords; i++)
        if (same_identity(&st->records[i], client_id, kind, method, pair_id) &&
            (best == NULL || st->records[i].version > best->version))
            best = &st->records[i];
    return best;
}

static const struct fake_delivery *delivery_of(const struct store *st, const char *id)
{
    if (id == NULL)
        return NULL;
    for (size_t i = 0; i < st->ndeliveries; i++)
        if (strcmp(st->deliveries[i].delivery_id, id) == 0)
            return &st->deliveries[i];
    return NULL;
}

static store_status add_audit(struct store *st, const struct store_audit_row *a)
{
    struct fake_audit *n = realloc(st->audits, (st->naudits + 1) * sizeof(*n));
    struct fake_audit *row;

    if (n == NULL)
        return STORE_ERROR;
    st->audits = n;
    row = &st->audits[st->naudits++];
    memset(row, 0, sizeof(*row));
    copy_text(row->endpoint, sizeof(row->endpoint), a->endpoint);
    row->has_client = a->client_id != NULL;
    copy_text(row->client_id, sizeof(row->client_id), a->client_id);
    row->result = a->result;
    copy_text(row->request_id, sizeof(row->request_id), a->request_id);
    row->version = a->version;
    row->has_method = a->backup_method != NULL;
    copy_text(row->backup_method, sizeof(row->backup_method), a->backup_method);
    row->served = a->served >= 0 ? a->served : -1;
    row->unopened = a->unopened > 0 ? a->unopened : 0;
    return STORE_OK;
}

static store_status add_delivery(struct store *st, const struct store_write *w,
                                 uint32_t version)
{
    struct fake_delivery *n;
    struct fake_delivery *d;

    if (w->delivery_id == NULL)
        return STORE_OK;
    n = realloc(st->deliveries, (st->ndeliveries + 1) * sizeof(*n));
    if (n == NULL)
        return STORE_ERROR;
    st->deliveries = n;
    d = &st->deliveries[st->ndeliveries++];
    memset(d, 0, sizeof(*d));
    copy_text(d->delivery_id, sizeof(d->delivery_id), w->delivery_id);
    memcpy(d->body_sha256, w->body_sha256, 32);
    copy_text(d->client_id, sizeof(d->client_id), w->client_id);
    d->version = version;
    return STORE_OK;
}

store_status store_lookup(struct store *st, const struct store_write *w, struct store_lookup *out)
{
    const struct fake_delivery *d;
    const struct fake_record *r;
    store_status s = STORE_OK;

    memset(out, 0, sizeof(*out));
    if (fault_of(st, FAKE_LOOKUP, &s) != 0)
        return s;
    /* The delivery id is looked up whoever it was for (its primary key). */
    if ((d = delivery_of(st, w->delivery_id)) != NULL) {
        out->delivery_seen = 1;
        memcpy(out->delivery_sha256, d->body_sha256, 32);
        out->delivery_version = d->version;
    }
    r = newest_of(st, w->client_id, w->kind, w->backup_method, w->pair_id);
    if (r != NULL) {
        out->sealed = malloc(r->sealed_len > 0 ? r->sealed_len : 1);
        if (out->sealed == NULL)
            return STORE_ERROR;
        memcpy(out->sealed, r->sealed, r->sealed_len);
        out->sealed_len = r->sealed_len;
        out->latest_version = r->version;
        out->has_latest = 1;
    }
    return STORE_OK;
}

void store_lookup_free(struct store_lookup *l)
{
    free(l->sealed);
    memset(l, 0, sizeof(*l));
}

/* The three inserts of sk_put: the record, the delivery id,
 * the 200 audit row; a unique violation on the record or the delivery id
 * (23505) is STORE_CONFLICT with nothing written. */
static store_status put(struct store *st, enum fake_call c, const struct store_write *w,
                        uint32_t version, uint32_t kek_id, const uint8_t *sealed,
                        size_t sealed_len)
{
    struct store_audit_row a = { w->endpoint, w->client_id, 200, w->request_id, version,
                                 w->backup_method, -1, 0 };
    struct fake_record *n, *r;
    store_status s = STORE_OK;
    int fault = fault_of(st, c, &s);

    if (fault == 1)
        return s;
    for (size_t i = 0; i < st->nrecords; i++)
        if (same_identity(&st->records[i], w->client_id, w->kind, w->backup_method,
                          w->pair_id) && st->records[i].version == version)
            return STORE_CONFLICT;
    if (delivery_of(st, w->delivery_id) != NULL)
        return STORE_CONFLICT;
    n = realloc(st->records, (st->nrecords + 1) * sizeof(*n));
    if (n == NULL)
        return STORE_ERROR;
    st->records = n;
    r = &st->records[st->nrecords];
    memset(r, 0, sizeof(*r));
    r->sealed = malloc(sealed_len > 0 ? sealed_len : 1);
    if (r->sealed == NULL)
        return STORE_ERROR;
    memcpy(r->sealed, sealed, sealed_len);
    r->sealed_len = sealed_len;
    r->id = st->next_id++;
    copy_text(r->client_id, sizeof(r->client_id), w->client_id);
    r->kind = w->kind;
    copy_text(r->backup_method, sizeof(r->backup_method), w->backup_method);
    copy_text(r->pair_id, sizeof(r->pair_id), w->pair_id);
    r->version = version;
    r->kek_id = kek_id;
    st->nrecords++;
    if (add_delivery(st, w, version) != STORE_OK || add_audit(st, &a) != STORE_OK)
        return STORE_ERROR;
    return fault == 2 ? s : STORE_OK;
}

store_status store_put(struct store *st, const struct store_write *w, uint32_t version,
                       uint32_t kek_id, const uint8_t *sealed, size_t sealed_len)
{
    return put(st, FAKE_PUT, w, version, kek_id, sealed, sealed_len);
}

store_status store_put_first(struct store *st, const struct store_write *w, uint32_t kek_id,
                             const uint8_t *sealed, size_t sealed_len)
{
    return put(st, FAKE_PUT_FIRST, w, 1, kek_id, sealed, sealed_len);
}

/* sk_note: the delivery id (a used one is a conflict) and a 200 audit row. */
store_status store_note(struct store *st, const struct store_write *w, uint32_t version)
{
    struct store_audit_row a = { w->endpoint, w->client_id, 200, w->request_id, version,
                                 w->backup_method, -1, 0 };
    store_status s = STORE_OK;
    int fault = fault_of(st, FAKE_NOTE, &s);

    if (fault == 1)
        return s;
    if (delivery_of(st, w->delivery_id) != NULL)
        return STORE_CONFLICT;
    if (add_delivery(st, w, version) != STORE_OK || add_audit(st, &a) != STORE_OK)
        return STORE_ERROR;
    return fault == 2 ? s : STORE_OK;
}

static store_status share_of(const struct fake_record *r, struct store_share *out)
{
    memset(out, 0, sizeof(*out));
    out->version = r->version;
    copy_text(out->backup_method, sizeof(out->backup_method), r->backup_method);
    copy_text(out->pair_id, sizeof(out->pair_id), r->pair_id);
    out->sealed = malloc(r->sealed_len > 0 ? r->sealed_len : 1);
    if (out->sealed == NULL)
        return STORE_ERROR;
    memcpy(out->sealed, r->sealed, r->sealed_len);
    out->sealed_len = r->sealed_len;
    return STORE_OK;
}

/* NEWEST_PER_IDENTITY: the newest version of each identity of (client,
 * kind) whose method is method (NULL: any) or, with fallback, UNKNOWN; into
 * picks (room for st->nrecords), newest stored first (created_at DESC, id
 * DESC). Returns how many. */
static size_t newest_per_identity(const struct store *st, const char *client_id, int kind,
                                  const char *method, const struct fake_record **picks)
{
    size_t n = 0;

    for (size_t i = 0; i < st->nrecords; i++) {
        const struct fake_record *r = &st->records[i];

        if (strcmp(r->client_id, client_id) != 0 || r->kind != kind)
            continue;
        if (method != NULL && strcmp(r->backup_method, method) != 0 &&
            strcmp(r->backup_method, "UNKNOWN") != 0)
            continue;
        if (newest_of(st, client_id, kind, r->backup_method, r->pair_id) != r)
            continue;
        picks[n++] = r;
    }
    /* Insertion sort on id, descending. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && picks[j]->id > picks[j - 1]->id; j--) {
            const struct fake_record *t = picks[j];
            picks[j] = picks[j - 1];
            picks[j - 1] = t;
        }
    return n;
}

store_status store_fetch_newest(struct store *st, const char *client_id, int kind, int limit,
                                struct store_share **out, size_t *n, long long *total)
{
    const struct fake_record **picks = NULL;
    struct store_share *shares = NULL;
    size_t found, rows, done = 0;
    store_status s = STORE_OK;

    *out = NULL;
    *n = 0;
    *total = 0;
    if (fault_of(st, FAKE_FETCH_NEWEST, &s) != 0)
        return s;
    picks = calloc(st->nrecords + 1, sizeof(*picks));
    if (picks == NULL)
        return STORE_ERROR;
    found = newest_per_identity(st, client_id, kind, NULL, picks);
    rows = limit < 0 ? 0 : (size_t)limit < found ? (size_t)limit : found;
    if (rows == 0)
        goto out;
    shares = calloc(rows, sizeof(*shares));
    if (shares == NULL) {
        s = STORE_ERROR;
        goto out;
    }
    for (; done < rows; done++)
        if ((s = share_of(picks[done], &shares[done])) != STORE_OK)
            goto out;
    *out = shares;
    *n = rows;
    *total = (long long)found;
    shares = NULL;
out:
    store_shares_free(shares, done);
    free(picks);
    return s;
}

/* sk_fetch_method: the method's newest identity first, else UNKNOWN's. */
store_status store_fetch_method(struct store *st, const char *client_id, int kind,
                                const char *backup_method, struct store_share *out)
{
    const struct fake_record **picks = NULL;
    const struct fake_record *best = NULL;
    store_status s = STORE_OK;
    size_t found;

    memset(out, 0, sizeof(*out));
    if (fault_of(st, FAKE_FETCH_METHOD, &s) != 0)
        return s;
    picks = calloc(st->nrecords + 1, sizeof(*picks));
    if (picks == NULL)
        return STORE_ERROR;
    found = newest_per_identity(st, client_id, kind, backup_method, picks);
    for (size_t i = 0; i < found && best == NULL; i++)
        if (strcmp(picks[i]->backup_method, backup_method) == 0)
            best = picks[i];
    if (best == NULL && found > 0)
        best = picks[0];
    s = best != NULL ? share_of(best, out) : STORE_NOT_FOUND;
    free(picks);
    return s;
}

void store_shares_free(struct store_share *s, size_t n)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(s[i].sealed);
    free(s);
}

store_status store_audit(struct store *st, const struct store_audit_row *a)
{
    store_status s = STORE_OK;
    int fault = fault_of(st, FAKE_AUDIT, &s);

    if (fault == 1)
        return s;
    if (add_audit(st, a) != STORE_OK)
        return STORE_ERROR;
    return fault == 2 ? s : STORE_OK;
}

/* sk_audit_refusal: endpoint, result, our own request id and the claims;
 * every other column NULL. */
store_status store_audit_refusal(struct store *st, const struct store_refusal_row *a)
{
    struct store_audit_row row = { a->endpoint, NULL, a->result, a->request_id, 0, NULL, -1, 0 };
    store_status s = STORE_OK;
    struct fake_audit *last;

    if (fault_of(st, FAKE_AUDIT_REFUSAL, &s) != 0)
        return s;
    if (add_audit(st, &row) != STORE_OK)
        return STORE_ERROR;
    last = &st->audits[st->naudits - 1];
    last->has_claimed_client = a->claimed_client_id != NULL;
    copy_text(last->claimed_client_id, sizeof(last->claimed_client_id), a->claimed_client_id);
    last->has_claimed_request = a->claimed_request_id != NULL;
    copy_text(last->claimed_request_id, sizeof(last->claimed_request_id),
              a->claimed_request_id);
    return STORE_OK;
}
