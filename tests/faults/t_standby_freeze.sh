#!/bin/bash
# Fault: the synchronous standby freezes for 25 s under load -- every
# process of the standby (its postmaster, startup process, WAL receiver,
# checkpointer, ...) is stopped with SIGSTOP, then continued with SIGCONT.
# A standby on a paused VM or a stalled disk does that: its connection
# stays up (wal_sender_timeout, 60 s, has not fired), it just never
# confirms a flush.
#
# The pair is t_failover.sh's (pair_setup: pg_basebackup -R, the primary
# has synchronous_standby_names = 'sk_standby' and synchronous_commit =
# on), with sharekeep on the multi-host conninfo.  While the standby is
# frozen every COMMIT on the primary waits for it: stores, and fetches
# (their audit row is a commit).  The primary itself answers: GET /healthz
# (a read) stays 200.  PostgreSQL's statement_timeout does not cover the
# wait for the standby (it is disarmed before COMMIT), so only sharekeep's
# own deadline can answer in time.
#
# request_timeout = 3 here (the default is 8) to keep the test short; the
# bound is the same relative to it.  Override with FAULTS_REQUEST_TIMEOUT,
# the freeze's length with FAULTS_FREEZE_SECONDS (default 25).
#
# Expected:
#   - every request (stores, the probe's fetches and healthz) is answered
#     within request_timeout + 0.5 s;
#   - no store is answered 200 while the standby is frozen: a 200 means the
#     commit is on the standby too.  The abandoned ones stay committed on
#     the primary and complete when the standby catches up ("ambiguous"
#     503s, whose redelivery gets created=false);
#   - after SIGCONT, nothing restarted (same sharekeep master, same
#     postmasters), a store sent after the thaw is answered 200 within 5 s
#     (recovered=), and every store sent from 5 s after the thaw on is 200;
#   - lost = 0 (checked on the primary; every acknowledged share is on the
#     standby too once it has replayed).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/faults/lib_faults.sh"

[ -x "$PG_BINDIR/pg_basebackup" ] || skip "pg_basebackup not found in $PG_BINDIR"

FAULT_DEADLINE=${FAULTS_REQUEST_TIMEOUT:-3}
FREEZE=${FAULTS_FREEZE_SECONDS:-25}
BOUND=$(awk -v d="$FAULT_DEADLINE" 'BEGIN { printf "%.1f", d + 0.5 }')
RECOVER_BOUND=5

# sessions of sharekeep's waiting in COMMIT for the synchronous standby
waiters() {
    pg_super "SELECT count(*) FROM pg_stat_activity WHERE usename = 'sharekeep' AND wait_event = 'SyncRep'"
}

faults_init
pair_setup sync "request_timeout=$FAULT_DEADLINE"
sk_start
nginx_start
master=$SK_PID
wait_healthy || die "sharekeep not healthy at start"
expect_nginx_waits_longer "$BOUND"
pm1=$(head -n 1 "$PG1_DIR/postmaster.pid")
pm2=$(head -n 1 "$PG2_DIR/postmaster.pid")

load_start 8 100000
wait_for_acks 40 || not_ok "stores are acknowledged before the freeze"
probe_start 0.2
sleep 1

# -- the synchronous standby stops -------------------------------------------------
mark freeze
freeze_cluster "$PG2_DIR" standby
mark frozen
sleep $((FREEZE / 2))
held=$(waiters)
check "stores wait in COMMIT for the frozen standby ($held sessions)" test "$held" -gt 0
sleep $((FREEZE - FREEZE / 2))
held_end=$(waiters)
mark thaw_begin
thaw_cluster standby
mark thaw

# -- and continues: the waiting commits complete, service resumes ------------------
wait_recovered thaw 20
check "a store sent after the thaw is answered 200 within ${RECOVER_BOUND}s (recovered=${FAULT_RECOVERED}s)" \
    awk -v r="$FAULT_RECOVERED" -v b="$RECOVER_BOUND" 'BEGIN { exit !(r != "none" && r <= b) }'
sleep $((RECOVER_BOUND + 3))
load_stop
probe_stop
expect_own_answers

check "sharekeep was not restarted (same master, alive)" alive "$master"
assert_eq "$master" "$SK_PID" "same sharekeep master pid"
assert_eq 0 "$(sk_log_count 'worker exited')" "no worker died"
check "neither PostgreSQL server was restarted (postmasters $pm1, $pm2)" \
    test "$(head -n 1 "$PG1_DIR/postmaster.pid")" = "$pm1" -a -d "/proc/$pm1" \
    -a "$(head -n 1 "$PG2_DIR/postmaster.pid")" = "$pm2" -a -d "/proc/$pm2"
state=$(pg_super "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'sk_standby'")
assert_eq sync "$state" "the standby streams synchronously again"

expect_answered_within "$BOUND"
# A flush confirmation already on its way when the standby stopped may
# release a commit just after: one second's grace, as in t_failover.
n=$(awk -v f="$(_mark_value frozen+1)" -v t="$(_mark_value thaw_begin)" \
    '$3 == 200 && $7 >= f && $7 <= t' "$LOAD_DIR/all.txt" | wc -l)
assert_eq 0 "$n" "no store was acknowledged while the synchronous standby was frozen"
expect_window frozen thaw_begin 503 "stores sent and answered while the standby was frozen"
expect_started thaw+$RECOVER_BOUND end 200 "stores sent ${RECOVER_BOUND}s or more after the thaw"
probe_check
n=$(probe_window frozen thaw_begin fetch)
check "fetches (an audit commit each) are never 200 while the standby is frozen ($n were)" \
    test "${n%/*}" -eq 0 -a "${n#*/}" -gt 0
n=$(probe_window frozen thaw_begin healthz)
log "healthz while the standby was frozen: $n were 200 (the primary answers reads)"
n=$(probe_window thaw+$RECOVER_BOUND end healthz)
check "healthz is 200 from ${RECOVER_BOUND}s after the thaw on ($n)" test "${n%/*}" = "${n#*/}" -a "${n#*/}" -gt 0
n=$(probe_window thaw+$RECOVER_BOUND end fetch)
check "fetches are 200 from ${RECOVER_BOUND}s after the thaw on ($n)" test "${n%/*}" = "${n#*/}" -a "${n#*/}" -gt 0

# every acknowledged share is on the standby too, once it has replayed
lsn=$(pg_super "SELECT pg_current_wal_lsn()")
for i in $(seq 1 100); do
    [ "$(PG_PORT=$PG2_PORT pg_super "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t ] && break
    sleep 0.1
done
awk '$3 == 200 { print $1 }' "$LOAD_DIR/all.txt" | sort >"$T/acked-cids"
PG_PORT=$PG2_PORT psql_as postgres sharekeep "SELECT client_id FROM share_record WHERE kind = 1" |
    sort >"$T/standby-cids"
n=$(comm -23 "$T/acked-cids" "$T/standby-cids" | wc -l)
assert_eq 0 "$n" "every acknowledged share is on the standby"

abandoned=$(sk_log_count 'past the request deadline')
faults_verify
faults_report "freeze=${FREEZE}s held_in_commit=$held/$held_end abandoned=$abandoned sk_slowest=$(sk_slowest_ms)ms"
