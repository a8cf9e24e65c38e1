#!/bin/bash
# Fault: another session takes `LOCK TABLE share_record IN ACCESS
# EXCLUSIVE MODE` in an open transaction and keeps it for 25 s under load
# (an operator's maintenance script, an ALTER TABLE or VACUUM FULL, a
# migration waiting on something else), then commits.  Every statement of
# sharekeep's that touches share_record -- the store, the lookup of a
# delivery, the fetch, even preparing the statements on a new connection
# -- queues behind that lock.
#
# sharekeep's sessions have lock_timeout = request_timeout / 2, so the
# server itself gives up on the wait (SQLSTATE 55P03) and sharekeep answers
# 503 + Retry-After well before its deadline; the connection is kept.
#
# request_timeout = 3 here (the default is 8) to keep the test short; the
# bound is the same relative to it.  Override with FAULTS_REQUEST_TIMEOUT,
# the lock's length with FAULTS_LOCK_SECONDS (default 25).
#
# Expected:
#   - every request (stores, the probe's fetches and healthz) is answered
#     within request_timeout + 0.5 s;
#   - no store sent while the lock is held is answered 200; those refused
#     left no row at all (the server refused the statement -- except one
#     abandoned at the deadline that could still get the lock after the
#     commit, so only those that ended by the time every statement of
#     theirs had timed out on the server are held to that);
#   - after the COMMIT, nothing restarted (same sharekeep master, same
#     postmaster), a store sent after it is answered 200 within 5 s
#     (recovered=), and every store sent from 5 s after it on is 200;
#   - lost = 0.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/faults/lib_faults.sh"

FAULT_DEADLINE=${FAULTS_REQUEST_TIMEOUT:-3}
HOLD=${FAULTS_LOCK_SECONDS:-25}
BOUND=$(awk -v d="$FAULT_DEADLINE" 'BEGIN { printf "%.1f", d + 0.5 }')
RECOVER_BOUND=5
LOCK_PID=""

# lock_holder: a psql session as the superuser, reading its SQL from a
# fifo that this shell keeps open on fd 7; the lock is held until we
# write COMMIT.
lock_open() {
    mkfifo "$T/lock.fifo"
    "$PG_BINDIR/psql" -X -A -t -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" \
        -U postgres -d sharekeep -f "$T/lock.fifo" >"$T/lock.out" 2>&1 &
    LOCK_PID=$!
    exec 7>"$T/lock.fifo"
    on_cleanup 'exec 7>&-; [ -n "$LOCK_PID" ] && kill "$LOCK_PID"'
}
# lock_granted: the ACCESS EXCLUSIVE lock on share_record is granted
lock_granted() {
    [ "$(pg_super "SELECT count(*) FROM pg_locks WHERE relation = 'share_record'::regclass
                   AND mode = 'AccessExclusiveLock' AND granted")" = 1 ]
}
# lock_waiters: sessions of sharekeep's waiting for a lock on share_record
lock_waiters() {
    pg_super "SELECT count(DISTINCT l.pid) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
              WHERE l.relation = 'share_record'::regclass AND NOT l.granted AND a.usename = 'sharekeep'"
}

faults_setup 4 "request_timeout=$FAULT_DEADLINE"
expect_nginx_waits_longer "$BOUND"
pm=$(head -n 1 "$T/pg/postmaster.pid")

load_start 8 100000
wait_for_acks 40 || not_ok "stores are acknowledged before the lock"
probe_start 0.2
sleep 1

# -- another session locks share_record ---------------------------------------------
lock_open
mark lock
echo "BEGIN; SET lock_timeout = 0; LOCK TABLE share_record IN ACCESS EXCLUSIVE MODE;" >&7
wait_for "$LOCK_PID" 100 lock_granted || die "the LOCK TABLE was not granted within 10s"
mark locked
sleep $((HOLD / 2))
waiting=$(lock_waiters)
check "sharekeep's sessions queue behind the lock ($waiting waiting)" test "$waiting" -gt 0
sleep $((HOLD - HOLD / 2))
mark unlock
echo "COMMIT;" >&7
exec 7>&-
wait "$LOCK_PID"
rc=$?
LOCK_PID=""
mark unlocked
assert_eq 0 "$rc" "the locking session committed ($(head -c 200 "$T/lock.out"))"

# -- normal service, by itself -----------------------------------------------------
wait_recovered unlock 20
check "a store sent after the COMMIT is answered 200 within ${RECOVER_BOUND}s (recovered=${FAULT_RECOVERED}s)" \
    awk -v r="$FAULT_RECOVERED" -v b="$RECOVER_BOUND" 'BEGIN { exit !(r != "none" && r <= b) }'
sleep $((RECOVER_BOUND + 3))
load_stop
probe_stop
expect_own_answers

check "sharekeep was not restarted (same master, alive)" alive "$master"
assert_eq "$master" "$SK_PID" "same sharekeep master pid"
assert_eq 0 "$(sk_log_count 'worker exited')" "no worker died"
check "PostgreSQL was not restarted (same postmaster $pm, alive)" \
    test "$(head -n 1 "$T/pg/postmaster.pid")" = "$pm" -a -d "/proc/$pm"

expect_answered_within "$BOUND"
expect_window locked unlock 503 "stores sent and answered while share_record was locked"
# A statement abandoned at the deadline runs on in the server until its
# statement_timeout (3/4 of request_timeout) at the latest: if it ended
# before then, it cannot have got the lock after the COMMIT.
mark_at clean_until "unlock-$(awk -v d="$FAULT_DEADLINE" 'BEGIN { print d * 3 / 4 + 0.25 }')"
expect_clean_refusals locked clean_until
expect_started unlock+$RECOVER_BOUND end 200 "stores sent ${RECOVER_BOUND}s or more after the COMMIT"
n=$(sk_log_count 'sqlstate=55P03')
check "sharekeep saw lock timeouts (SQLSTATE 55P03, $n times)" test "$n" -gt 0
probe_check
n=$(probe_window locked unlock fetch)
check "fetches (they read share_record) are never 200 while it is locked ($n were)" \
    test "${n%/*}" -eq 0 -a "${n#*/}" -gt 0
n=$(probe_window locked unlock healthz)
log "healthz while share_record was locked: $n were 200"
n=$(probe_window unlock+$RECOVER_BOUND end healthz)
check "healthz is 200 from ${RECOVER_BOUND}s after the COMMIT on ($n)" test "${n%/*}" = "${n#*/}" -a "${n#*/}" -gt 0
n=$(probe_window unlock+$RECOVER_BOUND end fetch)
check "fetches are 200 from ${RECOVER_BOUND}s after the COMMIT on ($n)" test "${n%/*}" = "${n#*/}" -a "${n#*/}" -gt 0

abandoned=$(sk_log_count 'past the request deadline')
lock_timeouts=$(sk_log_count 'sqlstate=55P03')
faults_verify
faults_report "lock=${HOLD}s lock_waiters=$waiting lock_timeouts=$lock_timeouts abandoned=$abandoned sk_slowest=$(sk_slowest_ms)ms"
