#!/bin/bash
# Fault: kill -9 sharekeep workers while signed stores are in flight.
#
# Expected: the master replaces every killed worker (same master pid, the
# configured number of workers again); a request whose worker died gets
# nginx's 503 + Retry-After (never a 200, never a 502); every request that
# got 200 is in the database as one whole record and fetches back byte for
# byte.  A worker killed after its COMMIT but before its answer leaves a
# committed share behind a 503 ("ambiguous"): Portal's redelivery with the
# same webhook-id then gets 200 created=false, which faults_verify checks.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/faults/lib_faults.sh"

WORKERS=4
KILLS=${FAULT_KILLS:-10}

faults_setup "$WORKERS"

load_start 8 250
wait_for_acks 40 || not_ok "stores are acknowledged before the fault"
mark kill_start
# live (not zombie) workers of the master
live_list() {
    local w
    for w in $(children_of "$master"); do alive "$w" && echo "$w"; done
}
killed=0
for ((k = 1; k <= KILLS; k++)); do
    # a random live worker: with 8 loops on 4 workers it is almost always
    # in the middle of a request (reading it, sealing, in COMMIT, answering)
    mapfile -t ws < <(live_list)
    [ ${#ws[@]} -gt 0 ] || { sleep 0.2; k=$((k - 1)); continue; }
    victim=${ws[RANDOM % ${#ws[@]}]}
    kill -KILL "$victim" 2>/dev/null && killed=$((killed + 1))
    sleep 0.$((3 + RANDOM % 4))
done
mark kill_end
log "killed $killed workers"

# the master brings the pool back to $WORKERS: every kill reaped and
# logged, and $WORKERS live (not zombie) workers
live_workers() { live_list | wc -l; }
back=0
for i in $(seq 1 75); do
    n=$(sk_log_count 'worker exited; replacing.*signal=9')
    [ "$n" -ge "$killed" ] && [ "$(live_workers)" -eq "$WORKERS" ] && { back=1; break; }
    sleep 0.2
done
check "the master logged each replacement ($n for $killed kills)" test "$n" -ge "$killed"
assert_eq 1 "$back" "the master runs $WORKERS workers again after $killed kill -9"
check "the master is the same process and alive" alive "$master"
assert_eq "$master" "$SK_PID" "sharekeep was not restarted"

# after the kills, service is normal: stores keep being acknowledged
mark settled
sleep 2.5
wait_for_acks 30 15
check "stores are acknowledged after the kills" test $? -eq 0
load_stop
expect_window settled+1 end 200 "requests after the pool settled"

faults_verify
check "the load overlapped the kills (requests answered while workers died: $(in_window kill_start kill_end | wc -l))" \
    test "$(in_window kill_start kill_end | wc -l)" -gt 0
faults_report "kills=$killed"
