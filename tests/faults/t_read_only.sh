#!/bin/bash
# Fault: the database turns read-only under load (what an operator does when
# the disk is nearly full, or what a server that is no longer the primary
# does): ALTER SYSTEM SET default_transaction_read_only = on + reload, so
# every new transaction -- in existing sessions too -- is read-only.
#
# Expected: stores get a clear 503 + Retry-After (SQLSTATE 25006: sharekeep
# drops the connection, as it would on a standby, and reconnects on a later
# request); nothing is half-written -- no share_record, webhook_delivery or
# audit 200 row for a refused store; no 500; no 200 without a COMMIT.
# After the setting is reverted, stores are 200 again without restarting
# sharekeep, and every acknowledged share fetches back byte for byte.
#
# Fetches while read-only: sharekeep writes the audit row of a fetch in the
# same statement that reads the share (no share is served unaudited), so
# a read-only database also refuses fetches: 503, never wrong bytes.  Set
# FAULTS_READONLY_FETCH=200 to require that fetches keep working instead.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/faults/lib_faults.sh"

faults_setup 4
on_cleanup 'pg_super "ALTER SYSTEM RESET default_transaction_read_only; SELECT pg_reload_conf()" >/dev/null'

load_start 6 400
wait_for_acks 40 || not_ok "stores are acknowledged before the fault"

# -- read-only on -----------------------------------------------------------
mark ro_begin
pg_super "ALTER SYSTEM SET default_transaction_read_only = on; SELECT pg_reload_conf();" >/dev/null ||
    die "ALTER SYSTEM failed"
mark ro_on
sleep 1
# shares acknowledged before the fault, fetched while it lasts
cat "$LOAD_DIR"/L*.log | awk '$3 == 200 && NR <= 400 { print $1, $8 }' | head -n 12 >"$T/ro-sample"
_fetch_worker ro <"$T/ro-sample" >"$T/ro-fetch"
hz=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$NGINX_PORT/healthz")
sleep 1.5
mark ro_end_begin
pg_super "ALTER SYSTEM RESET default_transaction_read_only; SELECT pg_reload_conf();" >/dev/null ||
    die "ALTER SYSTEM RESET failed"
mark ro_off

wait_healthy 20 || not_ok "healthz is 200 after the revert"
mark healthy
sleep 2.5
wait_for_acks 30 15 || not_ok "stores are acknowledged again after the revert"
load_stop

check "sharekeep was not restarted (same master, alive)" alive "$master"
assert_eq "$master" "$SK_PID" "same sharekeep master pid"
assert_eq 0 "$(sk_log_count 'worker exited')" "no worker died"
n=$(sk_log_count 'statement=sk_put[a-z_]* sqlstate=25006')
check "sharekeep saw SQLSTATE 25006 on the store statement ($n times)" test "$n" -gt 0

# the reload reaches each backend at its next statement: allow half a second
expect_window ro_on+0.5 ro_end_begin 503 "stores while the database is read-only"
expect_clean_refusals ro_begin ro_off
expect_window healthy+2 end 200 "stores after read-only was reverted"

# fetches during the fault: never wrong bytes, never 404/500
n=$(wc -l <"$T/ro-sample")
exact=$(awk '$2 == 200 && $3 != "0"' "$T/ro-fetch" | wc -l)
refused=$(awk '$2 == 503' "$T/ro-fetch" | wc -l)
check "fetches while read-only are 200 byte-exact or 503 ($exact exact, $refused refused of $n)" \
    test "$n" -gt 0 -a "$n" -eq "$((exact + refused))"
if [ "${FAULTS_READONLY_FETCH:-503}" = 200 ]; then
    assert_eq "$n" "$exact" "fetches keep working while the database is read-only"
else
    log "fetches while read-only: $exact of $n served, $refused refused (the fetch writes its audit row; FAULTS_READONLY_FETCH=200 requires serving)"
fi
log "healthz while read-only: $hz"

faults_verify
faults_report "readonly_fetch=$exact/$n healthz_readonly=$hz"
