#!/bin/bash
# Fault: the PostgreSQL primary dies under load and its streaming standby is
# promoted; sharekeep is not restarted or reconfigured.
#
# Two local clusters share one socket dir and differ by port:
#   primary  $T/pg   port P1 (lib.sh's pg_start)
#   standby  $T/pg2  port P2 (pg_basebackup -R from the primary)
# sharekeep's `database` is the multi-host conninfo
#   host=DIR,DIR port=P1,P2 target_session_attrs=read-write ...
# so libpq tries P1, then P2, and only keeps a server that accepts writes.
#
# Replication is SYNCHRONOUS: the primary has synchronous_standby_names =
# 'sk_standby' (the standby's application_name) and synchronous_commit = on,
# so a COMMIT -- and therefore sharekeep's 200 -- returns only once the
# standby has flushed the commit record.  This is the deployment advice, not
# a test convenience: with asynchronous replication the primary acknowledges
# a commit before the standby has it, and a failover can legitimately lose
# the last acknowledged shares (everything in the replication lag).  A
# backup service must not answer 200 for a share that one server's death
# can erase, so run a synchronous standby with synchronous_commit = on (or
# remote_apply, if anything reads from standbys) -- and more than one
# candidate standby (ANY 1 (a, b)), because a primary whose only
# synchronous standby is gone blocks every commit.
#
# Only the primary gets synchronous_standby_names (ALTER SYSTEM after the
# base backup, so the standby's copy of the config lacks it): the promoted
# standby has no standby of its own, and with the setting it would wait
# forever on every commit.  A real failover manager (Patroni, pg_auto_failover)
# makes the same change.
#
# Expected: between the primary's death and the promotion stores are 503
# (never 200: nothing can commit); after the promotion stores are 200 again
# without touching sharekeep (each worker's dead connection is dropped and
# the next connect skips the old primary); every acknowledged share is on
# the new primary, once, and fetches back byte for byte.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/faults/lib_faults.sh"

[ -x "$PG_BINDIR/pg_basebackup" ] || skip "pg_basebackup not found in $PG_BINDIR"

faults_init
# FAULTS_FAILOVER_ASYNC=1 leaves replication asynchronous to show what the
# synchronous setting prevents: the test then loses the shares acknowledged
# while the standby lagged, and FAILS (lost > 0).
want_sync=sync
if [ "${FAULTS_FAILOVER_ASYNC:-0}" = 1 ]; then
    want_sync=async
    log "FAULTS_FAILOVER_ASYNC=1: asynchronous replication, expect lost > 0"
fi
pair_setup "$want_sync"

sk_start
nginx_start
master=$SK_PID
wait_healthy || die "sharekeep not healthy at start"

load_start 8 400
wait_for_acks 60 || not_ok "stores are acknowledged before the failover"

# every acknowledged commit is already on the standby: show it for the
# shares acknowledged so far (remote flush + apply lag is tiny here)
lsn=$(pg_super "SELECT pg_current_wal_lsn()")

# -- the standby falls behind, then the primary dies ---------------------------
# The standby's WAL receiver is frozen (SIGSTOP) for a moment first, as a
# slow or partitioned standby would be.  With synchronous replication every
# store that starts now waits in COMMIT for the standby and gets no answer;
# the primary then dies with those transactions committed locally only, so
# they must not have been acknowledged (they are 503, and Portal's
# redelivery stores them on the new primary).  With asynchronous replication
# they would be acknowledged and then lost in the failover.
walrcv=$(PG_PORT=$PG2_PORT pg_super "SELECT pid FROM pg_stat_wal_receiver")
[ -n "$walrcv" ] || die "the standby has no WAL receiver"
mark stall
kill -STOP "$walrcv"
on_cleanup "kill -CONT $walrcv"
sleep 2.5
mark kill
primary_crash
mark down
kill -CONT "$walrcv"
sleep 1.5

# -- the standby is promoted ------------------------------------------------------
mark promote
promote
mark promoted
check "the new primary had replayed past the old primary's LSN $lsn" \
    test "$(pg_super "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t

check "healthz is 200 again within 20s of the promotion" wait_healthy 20
mark healthy
sleep 2.5
wait_for_acks 40 20 || not_ok "stores are acknowledged by the new primary"
load_stop

check "sharekeep was not restarted (same master, alive)" alive "$master"
assert_eq "$master" "$SK_PID" "same sharekeep master pid"

# Commit waits for the frozen standby: no store was acknowledged after the
# freeze (plus a second for flush replies already on their way and answers
# already sent), and the stores in flight when the primary died were held
# in COMMIT until then.
from=$(_mark_value stall+1)
to=$(_mark_value kill)
n=$(awk -v f="$from" -v t="$to" '$3 == 200 && $7 >= f && $7 <= t' "$LOAD_DIR/all.txt" | wc -l)
assert_eq 0 "$n" "no store was acknowledged while the $want_sync standby was frozen"
held=$(awk -v k="$to" '$6 < k && $7 > k && $3 != 200' "$LOAD_DIR/all.txt" | wc -l)
check "stores were held in COMMIT when the primary died ($held)" test "$held" -gt 0
expect_window down promote 503 "stores with the primary dead and no promoted standby"
expect_clean_refusals down promote
expect_window healthy+2 end 200 "stores after the failover"
# the shares acknowledged after the failover are on the new primary's timeline
n=$(in_window healthy+2 end | awk '$3 == 200' | wc -l)
check "shares were acknowledged after the failover ($n)" test "$n" -gt 0

faults_verify
faults_report "held_in_commit=$held replication=$want_sync"
