#!/bin/bash
# Fault: with synchronous replication, the synchronous standby is down and
# the stores waiting for it in COMMIT are cancelled (pg_cancel_backend: an
# operator or a "kill long-running queries" job clearing stuck sessions);
# then the primary dies and the standby is promoted.
#
# PostgreSQL does not fail a cancelled synchronous-replication wait: the
# transaction has already committed locally, so the COMMIT returns success
# with only a WARNING ("canceling wait for synchronous replication due to
# user request ... The transaction has already committed locally, but might
# not have been replicated to the standby.").  A client that ignores that
# warning answers 200 for a share that exists on one server only.
#
# Expected: those stores are NOT acknowledged (503 + Retry-After); after the
# failover every acknowledged share is on the new primary; Portal's
# redelivery of the refused ones stores them there.  (A backend terminated
# instead of cancelled -- pg_terminate_backend, a fast shutdown -- gets no
# answer at all, which sharekeep already turns into 503.)
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/faults/lib_faults.sh"

[ -x "$PG_BINDIR/pg_basebackup" ] || skip "pg_basebackup not found in $PG_BINDIR"
HELD=4

# cancel_waiters: pg_cancel_backend on every sharekeep session waiting for
# the synchronous standby; prints how many.
cancel_waiters() {
    pg_super "SELECT count(*) FILTER (WHERE pg_cancel_backend(pid)) FROM pg_stat_activity
              WHERE usename = 'sharekeep' AND wait_event = 'SyncRep'"
}
# keep_cancelling PID...: cancel waiters until those processes are done.
# sharekeep's own error path writes an audit row, which waits for the
# standby too; the persistent operator cancels that as well, so every
# answer comes from sharekeep rather than from nginx's 30 s timeout.
keep_cancelling() {
    local p busy
    while :; do
        busy=0
        for p in "$@"; do alive "$p" && busy=1; done
        [ "$busy" = 1 ] || break
        cancel_waiters >/dev/null
        sleep 0.2
    done
}
waiters() {
    pg_super "SELECT count(*) FROM pg_stat_activity WHERE usename = 'sharekeep' AND wait_event = 'SyncRep'"
}
# wait_waiters N: up to 10 s for N sessions to wait for the standby;
# prints how many do.
wait_waiters() {
    local i n=0
    for i in $(seq 1 100); do
        n=$(waiters)
        [ "$n" -ge "$1" ] && break
        sleep 0.1
    done
    echo "$n"
}

faults_init
pair_setup sync
sk_start
nginx_start
master=$SK_PID
wait_healthy || die "sharekeep not healthy at start"

# some shares stored normally first
load_start 4 8
load_wait
assert_eq 32 "$(load_count 200)" "32 stores acknowledged with the standby up"

# -- the synchronous standby goes down: commits wait ----------------------------
standby_stop
mark standby_down
load_start "$HELD" 1
held=$(wait_waiters "$HELD")
assert_eq "$HELD" "$held" "$HELD stores wait in COMMIT for the synchronous standby"
check "none of them has been answered yet" test "$(load_count)" -eq 32

# -- someone cancels the waiting statements --------------------------------------
mark cancel
keep_cancelling "${LOAD_PIDS[@]}"
load_stop
n=$(awk '$6 >= '"$(mark_time standby_down)"' && $3 == 200' "$LOAD_DIR/all.txt" | wc -l)
assert_eq 0 "$n" "no store committed only on the primary was acknowledged (cancelled sync-rep waits are not a 200)"
check "PostgreSQL warned: canceling wait for synchronous replication" \
    grep -q 'canceling wait for synchronous replication' "$T/pg.log"

# -- Portal redelivers them while the standby is still down ------------------
# The first attempts' rows are visible on the primary, so a retry finds its
# webhook-id already stored; it must still not be answered 200 before a
# commit has reached the standby -- so it waits too, and is refused again
# when cancelled.
awk -v t="$(mark_time standby_down)" '$6 >= t && $3 != 200 { print $1, $2, $8 }' \
    "$LOAD_DIR/all.txt" >"$T/retry"
n=$(wc -l <"$T/retry")
if [ "$n" -gt 0 ]; then
    i=0
    pids=()
    while read -r line; do
        i=$((i + 1))
        echo "$line" | _redeliver_worker "r$i" >"$T/retry.$i" &
        pids+=("$!")
    done <"$T/retry"
    waiting=$(wait_waiters "$n")
    assert_eq "$n" "$waiting" "the $n redeliveries wait for the standby too (a commit, not just a read, gates their answer)"
    keep_cancelling "${pids[@]}"
    for p in "${pids[@]}"; do wait "$p"; done
    n200=$(cat "$T"/retry.* | awk '$2 == 200' | wc -l)
    assert_eq 0 "$n200" "no redelivery was acknowledged while the standby was down"
else
    log "no store was refused in the first round, so there is nothing to redeliver yet"
fi

# -- the primary dies; the standby (which never saw those commits) takes over ----
mark kill
primary_crash
standby_start
promote
mark promoted
check "healthz is 200 again within 20s of the promotion" wait_healthy 20

check "sharekeep was not restarted (same master, alive)" alive "$master"
# The refused stores committed on the old primary only: on the new one they
# do not exist, and their redelivery creates them (created=true).
faults_verify
faults_report "held_in_commit=$held"
