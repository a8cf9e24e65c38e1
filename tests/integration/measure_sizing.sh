#!/bin/bash
# Database bytes per stored share, per fetch and per refusal (the README's
# sizing figures). Not a test: it measures, on the integration harness's
# private PostgreSQL, nginx and sharekeep, from the build directory:
#
#   SHAREKEEP_BIN=./sharekeep SHAREKEEP_SRCDIR=. bash tests/integration/measure_sizing.sh [N]
#
# N (default 1000) Standard Webhooks stores of a 6 KB share, each for a new
# client (each also writes its delivery id and an audit row), then N
# custodian fetches, then N stores without a signature (401 refusals). After
# each phase it prints the growth of pg_total_relation_size (heap, TOAST and
# indexes) of share_record, audit_event and webhook_delivery, divided by N,
# and the WAL written per request.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"

N=${1:-1000}
SK_TEST_TIMEOUT=${SK_TEST_TIMEOUT:-3600}
sk_init
SK_WEBHOOK_MODE=standard
sk_setup

sizes() {
    pg_psql "SELECT pg_total_relation_size('share_record') || ' ' || pg_total_relation_size('audit_event')
                    || ' ' || pg_total_relation_size('webhook_delivery') || ' '
                    || pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint"
}
# report PHASE BEFORE AFTER: bytes per request of each table and of WAL.
report() {
    local -a b a
    read -r -a b <<<"$2"
    read -r -a a <<<"$3"
    printf '# %-9s per request: share_record %6d B, audit_event %4d B, webhook_delivery %4d B, WAL %6d B\n' \
        "$1" $(((a[0] - b[0]) / N)) $(((a[1] - b[1]) / N)) $(((a[2] - b[2]) / N)) $(((a[3] - b[3]) / N))
}

# A Portal custodian share: a JSON-stringified object of about 6 KB.
share_of() { printf '{"backupSharePairId":"pair-%s","share":"%s"}' "$1" "$(head -c 4500 /dev/urandom | base64 -w0)"; }
log "share size: $(share_of x | wc -c) bytes; N = $N"

s0=$(sizes)
for i in $(seq 1 "$N"); do
    req POST /webhook/backup "$(json clientId "size-$i" share "$(share_of "$i")" backupMethod PASSWORD-SECP256K1)"
    [ "$STATUS" = 200 ] || die "store $i: HTTP $STATUS"
done
s1=$(sizes)
for i in $(seq 1 "$N"); do
    req POST /webhook/backup/fetch "$(json clientId "size-$i")"
    [ "$STATUS" = 200 ] || die "fetch $i: HTTP $STATUS"
done
s2=$(sizes)
for i in $(seq 1 "$N"); do
    REQ_AUTH=0 req POST /webhook/backup "$(json clientId "size-$i" share x)"
    [ "$STATUS" = 401 ] || die "refusal $i: HTTP $STATUS"
done
s3=$(sizes)
report store "$s0" "$s1"
report fetch "$s1" "$s2"
report refusal "$s2" "$s3"
log "rows: $(pg_psql "SELECT (SELECT count(*) FROM share_record) || ' shares, ' || (SELECT count(*) FROM audit_event)
                      || ' audit rows, ' || (SELECT count(*) FROM webhook_delivery) || ' delivery ids'")"
