#!/bin/bash
# Fault: PostgreSQL goes away under load, twice -- a clean restart
# (pg_ctl stop -m fast: backends are terminated, in-flight statements
# fail) and a crash (pg_ctl stop -m immediate: postgres dies without a
# checkpoint and recovers from WAL on the next start).
#
# Expected: while the database is down every store is 503 + Retry-After
# (never a 200: sharekeep answers 200 only after COMMIT); sharekeep, never
# restarted, reconnects by itself (1 s back-off) and stores are 200 again
# within seconds; every share acknowledged before, between or after the
# outages is in the database once and fetches back byte for byte.  A
# statement cut off by the shutdown may have committed without its answer
# arriving: such a 503 is "ambiguous" and Portal's redelivery with the same
# webhook-id gets 200 created=false (faults_verify checks both).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/faults/lib_faults.sh"

faults_setup 4

load_start 6 400

# -- outage 1: clean restart --------------------------------------------------
wait_for_acks 30 || not_ok "stores are acknowledged before the first outage"
mark stop1
pg_stop || die "pg_ctl stop -m fast failed"
mark down1
sleep 2
mark up1
pg_start
check "healthz is 200 again within 20s of the clean restart" wait_healthy 20
mark healthy1
sleep 2.5
wait_for_acks 20 15 || not_ok "stores are acknowledged again after the clean restart"

# -- outage 2: crash ------------------------------------------------------------
mark stop2
pg_down "$T/pg" immediate || die "pg_ctl stop -m immediate failed"
PG_UP=0
mark down2
sleep 2
mark up2
pg_start
check "healthz is 200 again within 30s of the crash" wait_healthy 30
mark healthy2
sleep 2.5
wait_for_acks 20 15 || not_ok "stores are acknowledged again after the crash"
load_stop

check "sharekeep was not restarted (same master, alive)" alive "$master"
assert_eq "$master" "$SK_PID" "same sharekeep master pid"
assert_eq 0 "$(sk_log_count 'worker exited')" "no worker died during the outages"

# While PostgreSQL was down (after it had stopped, before start began),
# nothing can have committed: every store must be 503.
expect_window down1 up1 503 "stores while PostgreSQL was stopped (clean)"
expect_window down2 up2 503 "stores while PostgreSQL was down (crash)"
expect_clean_refusals down1 up1
expect_clean_refusals down2 up2
# Recovery on its own: a worker finds its old connection dead on its next
# statement, so one 503 per worker (plus the back-off) is allowed right
# after the restart; 2 s after healthz recovered, everything is 200.
expect_window healthy1+2 stop2 200 "stores after the clean restart"
expect_window healthy2+2 end 200 "stores after the crash recovery"

faults_verify
faults_report
