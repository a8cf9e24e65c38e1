#!/bin/bash
# Fault: PostgreSQL freezes for 30 s under load -- every process of the
# server, the postmaster and each backend (and the checkpointer, walwriter,
# ...), is stopped with SIGSTOP, then continued with SIGCONT.  That is what
# a paused VM, a stalled storage device that every process blocks on, or a
# debugger looks like from outside: the server's socket still accepts
# connections (the kernel queues them for the frozen postmaster), writes to
# a backend's socket still succeed, and nothing ever answers.  Neither
# libpq's connect_timeout (per host, and only while the connection is
# being set up) nor the server's statement_timeout (the server is frozen)
# helps: only sharekeep's own deadline does.
#
# request_timeout = 3 here (the default is 8) to keep the test short; the
# bound is the same relative to it.  Override with FAULTS_REQUEST_TIMEOUT,
# the freeze's length with FAULTS_FREEZE_SECONDS (default 30).
#
# Expected:
#   - every request -- stores, and the probe's fetches and GET /healthz --
#     is answered within request_timeout + 0.5 s (curl's wall time):
#     sharekeep abandons the statement (or the connect) at its deadline and
#     answers 503 + Retry-After; nginx's fastcgi_read_timeout is longer and
#     never answers for it;
#   - no store sent while the server is frozen is answered 200 (nothing can
#     commit); a statement abandoned at the deadline may still commit when
#     the server is continued ("ambiguous": Portal's redelivery then gets
#     created=false);
#   - after SIGCONT, without restarting anything (same sharekeep master,
#     same postmaster), a store sent after the thaw is answered 200 within
#     5 s (recovered=), and every store sent from 5 s after the thaw on is
#     200;
#   - lost = 0: every acknowledged share is stored once and fetches back
#     byte for byte; every refused one succeeds when redelivered.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/faults/lib_faults.sh"

FAULT_DEADLINE=${FAULTS_REQUEST_TIMEOUT:-3}
FREEZE=${FAULTS_FREEZE_SECONDS:-30}
BOUND=$(awk -v d="$FAULT_DEADLINE" 'BEGIN { printf "%.1f", d + 0.5 }')
RECOVER_BOUND=5

faults_setup 4 "request_timeout=$FAULT_DEADLINE"
expect_nginx_waits_longer "$BOUND"
pm=$(head -n 1 "$T/pg/postmaster.pid")

load_start 8 100000
wait_for_acks 40 || not_ok "stores are acknowledged before the freeze"
probe_start 0.2
sleep 1

# -- every process of the server stops ---------------------------------------------
mark freeze
freeze_cluster "$T/pg" pg
mark frozen
sleep "$FREEZE"
mark thaw_begin
thaw_cluster pg
mark thaw

# -- and continues: normal service, by itself ---------------------------------------
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
check "PostgreSQL was not restarted (same postmaster $pm, alive)" \
    test "$(head -n 1 "$T/pg/postmaster.pid")" = "$pm" -a -d "/proc/$pm"

expect_answered_within "$BOUND"
expect_window frozen thaw_begin 503 "stores sent and answered while PostgreSQL was frozen"
expect_started thaw+$RECOVER_BOUND end 200 "stores sent ${RECOVER_BOUND}s or more after the thaw"
probe_check
n=$(probe_window frozen thaw_begin healthz)
check "healthz is never 200 while PostgreSQL is frozen ($n were)" test "${n%/*}" -eq 0 -a "${n#*/}" -gt 0
n=$(probe_window thaw+$RECOVER_BOUND end healthz)
check "healthz is 200 from ${RECOVER_BOUND}s after the thaw on ($n)" test "${n%/*}" = "${n#*/}" -a "${n#*/}" -gt 0
n=$(probe_window thaw+$RECOVER_BOUND end fetch)
check "fetches are 200 from ${RECOVER_BOUND}s after the thaw on ($n)" test "${n%/*}" = "${n#*/}" -a "${n#*/}" -gt 0

abandoned=$(sk_log_count 'past the request deadline')
connect_late=$(sk_log_count 'no answer before the request deadline')
faults_verify
faults_report "freeze=${FREEZE}s abandoned=$abandoned connects_past_deadline=$connect_late sk_slowest=$(sk_slowest_ms)ms"
