#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bounds.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "body.h"
#include "metrics.h"

/* Fixed label sets keep the block a flat array: no allocation, no locks.
 * Routes are router_routes' rows, plus one slot for requests no route
 * matched; ROUTES_MAX bounds the table so the block's size is constant. */
#define NROUTES (ROUTES_MAX + 1)
#define ROUTE_NONE ROUTES_MAX

static const int statuses[] = { 200, 400, 401, 403, 404, 405, 409, 413, 415, 422, 500, 503 };
#define NSTATUSES (sizeof(statuses) / sizeof(statuses[0]))
#define STATUS_OTHER NSTATUSES   /* one extra slot */

/* Seconds; chosen around a commit on local disk (~1 ms) up to a stuck DB. */
static const double buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                  2.5, 5 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct block {
    atomic_uint_least64_t requests[NROUTES][NSTATUSES + 1];
    atomic_uint_least64_t latency_bucket[NROUTES][NBUCKETS];
    atomic_uint_least64_t latency_count[NROUTES];
    atomic_uint_least64_t latency_sum_us[NROUTES];
    atomic_uint_least64_t db_errors;
    atomic_uint_least64_t worker_restarts;
    atomic_uint_least64_t shares_stored;
    atomic_uint_least64_t records_unopenable;
    atomic_uint_least64_t fetch_truncated;
};

static struct block *blk;

int metrics_init(void)
{
    void *p;

    if (blk != NULL)
        return 0;
    p = mmap(NULL, sizeof(struct block), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
             -1, 0);
    if (p == MAP_FAILED)
        return -1;
    memset(p, 0, sizeof(struct block));
    blk = p;
    return 0;
}

_Static_assert(NROUTES <= 64, "the block stays small");

static size_t route_slot(int route)
{
    return route >= 0 && (size_t)route < router_nroutes && route < ROUTES_MAX ? (size_t)route
                                                                              : ROUTE_NONE;
}

static const char *route_label(size_t slot)
{
    return slot < router_nroutes && slot < ROUTES_MAX ? router_routes[slot].name : "none";
}

static size_t status_index(int status)
{
    for (size_t i = 0; i < NSTATUSES; i++)
        if (statuses[i] == status)
            return i;
    return STATUS_OTHER;
}

static void inc(atomic_uint_least64_t *c, uint64_t by)
{
    atomic_fetch_add_explicit(c, by, memory_order_relaxed);
}

static uint64_t get(atomic_uint_least64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

void metrics_request(int route, int status, double seconds)
{
    size_t r;

    if (blk == NULL)
        return;
    r = route_slot(route);
    inc(&blk->requests[r][status_index(status)], 1);
    for (size_t b = 0; b < NBUCKETS; b++)
        if (seconds <= buckets[b])
            inc(&blk->latency_bucket[r][b], 1);
    inc(&blk->latency_count[r], 1);
    inc(&blk->latency_sum_us[r], seconds > 0 ? (uint64_t)(seconds * 1e6) : 0);
}

void metrics_db_error(void)
{
    if (blk != NULL)
        inc(&blk->db_errors, 1);
}

void metrics_worker_restart(void)
{
    if (blk != NULL)
        inc(&blk->worker_restarts, 1);
}

void metrics_share_stored(void)
{
    if (blk != NULL)
        inc(&blk->shares_stored, 1);
}

void metrics_record_unopenable(void)
{
    if (blk != NULL)
        inc(&blk->records_unopenable, 1);
}

void metrics_fetch_truncated(void)
{
    if (blk != NULL)
        inc(&blk->fetch_truncated, 1);
}

static void line(struct body_writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void line(struct body_writer *w, const char *fmt, ...)
{
    char buf[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    body_writer_raw(w, buf);
}

int metrics_render(char **out, size_t *len)
{
    struct body_writer w;

    body_writer_init(&w);
    if (blk == NULL)
        goto done;
    body_writer_raw(&w, "# HELP sharekeep_requests_total HTTP requests answered, by route and status.\n"
                        "# TYPE sharekeep_requests_total counter\n");
    for (size_t r = 0; r < NROUTES; r++)
        for (size_t s = 0; s <= NSTATUSES; s++) {
            uint64_t v = get(&blk->requests[r][s]);
            if (v == 0)
                continue;
            if (s == STATUS_OTHER)
                line(&w, "sharekeep_requests_total{route=\"%s\",status=\"other\"} %llu\n",
                     route_label(r), (unsigned long long)v);
            else
                line(&w, "sharekeep_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                     route_label(r), statuses[s], (unsigned long long)v);
        }
    body_writer_raw(&w, "# HELP sharekeep_request_duration_seconds Time from request start to "
                        "response written, by route.\n"
                        "# TYPE sharekeep_request_duration_seconds histogram\n");
    for (size_t r = 0; r < NROUTES; r++) {
        uint64_t count = get(&blk->latency_count[r]);
        if (count == 0)
            continue;
        for (size_t b = 0; b < NBUCKETS; b++)
            line(&w, "sharekeep_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                 route_label(r), buckets[b], (unsigned long long)get(&blk->latency_bucket[r][b]));
        line(&w, "sharekeep_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
             route_label(r), (unsigned long long)count);
        line(&w, "sharekeep_request_duration_seconds_sum{route=\"%s\"} %.6f\n", route_label(r),
             (double)get(&blk->latency_sum_us[r]) / 1e6);
        line(&w, "sharekeep_request_duration_seconds_count{route=\"%s\"} %llu\n", route_label(r),
             (unsigned long long)count);
    }
    line(&w, "# HELP sharekeep_db_errors_total Database statements or connects that failed.\n"
             "# TYPE sharekeep_db_errors_total counter\nsharekeep_db_errors_total %llu\n",
         (unsigned long long)get(&blk->db_errors));
    line(&w, "# HELP sharekeep_worker_restarts_total Workers replaced after exiting unexpectedly.\n"
             "# TYPE sharekeep_worker_restarts_total counter\nsharekeep_worker_restarts_total %llu\n",
         (unsigned long long)get(&blk->worker_restarts));
    line(&w, "# HELP sharekeep_shares_stored_total New share versions committed.\n"
             "# TYPE sharekeep_shares_stored_total counter\nsharekeep_shares_stored_total %llu\n",
         (unsigned long long)get(&blk->shares_stored));
    line(&w, "# HELP sharekeep_records_unopenable_total Stored records that did not open when "
             "read (tampering or a missing KEK); never served.\n"
             "# TYPE sharekeep_records_unopenable_total counter\n"
             "sharekeep_records_unopenable_total %llu\n",
         (unsigned long long)get(&blk->records_unopenable));
    line(&w, "# HELP sharekeep_fetch_truncated_total Fetches whose answer left out older "
             "identities (fetch_max_shares, fetch_max_bytes).\n"
             "# TYPE sharekeep_fetch_truncated_total counter\n"
             "sharekeep_fetch_truncated_total %llu\n",
         (unsigned long long)get(&blk->fetch_truncated));
done:
    if (w.buf == NULL)
        body_writer_raw(&w, "");
    if (body_writer_failed(&w)) {
        body_writer_free(&w);
        return -1;
    }
    *out = w.buf;
    *len = w.len;
    return 0;
}
