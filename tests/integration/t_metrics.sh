#!/bin/bash
# GET /metrics: Prometheus text, counts from every worker, only for the
# addresses on metrics_allow.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"

sk_init
sk_setup

metric() {  # metric NAME_WITH_LABELS: its value in the last scrape, or 0
    awk -v m="$1" '$1 == m { print $2; found = 1 } END { if (!found) print 0 }' <<<"$BODY"
}

req GET /metrics
assert_status 200 "metrics from loopback"
assert_header Content-Type '^text/plain; version=0.0.4' "metrics are the Prometheus text format"
check "metrics list the histogram type" grep -q '^# TYPE sharekeep_request_duration_seconds histogram' <<<"$BODY"
for c in sharekeep_fetch_truncated_total sharekeep_records_unopenable_total; do
    check "metrics export the counter $c, 0 on a fresh start" \
        bash -c 'grep -q "^# TYPE $1 counter\$" <<<"$2" && grep -q "^$1 0\$" <<<"$2"' _ "$c" "$BODY"
done
stored0=$(metric sharekeep_shares_stored_total)

# Enough requests that both workers answer some of them.
for i in $(seq 1 12); do
    req POST /webhook/backup "$(json clientId "met-$i" share "s-$(rand_token 24)")"
done
for i in $(seq 1 6); do
    req POST /webhook/backup/fetch "$(json clientId "met-$i")"
done
req POST /webhook/backup/fetch "$(json clientId met-nobody)"
REQ_AUTH=0 req POST /webhook/backup "$(json clientId met-x share y)"

# Any worker answers the scrape; the counts must be everyone's.
for scrape in 1 2 3 4; do
    req GET /metrics
    assert_eq 12 "$(( $(metric sharekeep_shares_stored_total) - stored0 ))" \
        "scrape $scrape: shares stored counts all 12, whichever worker answers"
    assert_eq 12 "$(metric 'sharekeep_requests_total{route="custodian.store",status="200"}')" \
        "scrape $scrape: 12 stores answered 200"
done
assert_eq 6 "$(metric 'sharekeep_requests_total{route="custodian.fetch",status="200"}')" "6 fetches answered 200"
assert_eq 1 "$(metric 'sharekeep_requests_total{route="custodian.fetch",status="404"}')" "1 fetch answered 404"
assert_eq 1 "$(metric 'sharekeep_requests_total{route="custodian.store",status="401"}')" "1 unsigned store answered 401"
count=$(metric 'sharekeep_request_duration_seconds_count{route="custodian.store"}')
inf=$(metric 'sharekeep_request_duration_seconds_bucket{route="custodian.store",le="+Inf"}')
assert_eq 13 "$count" "the store histogram counted every store"
assert_eq "$count" "$inf" "the +Inf bucket equals the count"
check "no metric line carries a client id" bash -c '! grep -q "met-" <<<"$1"' _ "$BODY"

# A worker killed outright is replaced and counted; counts survive it.
worker=$(children_of "$SK_PID" | head -n 1)
kill -9 "$worker"
sleep 1.5
req GET /metrics
assert_eq 1 "$(metric sharekeep_worker_restarts_total)" "the replaced worker is counted"
assert_eq 12 "$(( $(metric sharekeep_shares_stored_total) - stored0 ))" "counts survive a worker restart"

# Only addresses on metrics_allow (nginx passes REMOTE_ADDR; the snippet
# itself also allows only loopback).
sk_stop
sk_write_config metrics_allow=192.0.2.10
sk_start
req GET /metrics
assert_error 403 "metrics refused to an address not on metrics_allow"
