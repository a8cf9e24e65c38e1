#!/bin/bash
# Fault: the database cannot write (disk full) under load.
#
# Three ways, each followed by recovery without touching sharekeep:
#   A. the first write fails: a trigger on share_record INSERT raises
#      SQLSTATE 53100 (disk_full), exactly what PostgreSQL raises when a
#      table file cannot be extended;
#   B. the LAST write fails: a trigger on the store's audit_event INSERT
#      raises 53100, after share_record and webhook_delivery were already
#      inserted by the same statement -- so the statement must roll them
#      back (one statement writes all three rows: nothing half-written);
#   C. a real ENOSPC: share_record lives in a tablespace on a small tmpfs,
#      which is then filled up.  Needs `mount -t tmpfs` (root with
#      CAP_SYS_ADMIN); skipped with a note where mounting is not allowed.
#      (WAL is left on the normal disk: a full pg_wal makes PostgreSQL
#      PANIC and restart, which t_pg_restart.sh covers as a crash.)
#
# Expected in every phase: stores get a clear 503 + Retry-After, never 500;
# the refused stores leave no share_record, webhook_delivery or audit 200
# row (their 503 is audited); fetches of shares stored earlier keep working
# (200, byte-exact); once space is back, stores are 200 again; no
# acknowledged share is lost.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/faults/lib_faults.sh"

faults_init
sk_setup workers=4
master=$SK_PID

# -- phase C's tablespace, prepared before the load ----------------------------
SMALL=$T/tblspc
mkdir -p "$SMALL"
enospc=0
pg_uid=$(id -u postgres 2>/dev/null || id -u)
pg_gid=$(id -g postgres 2>/dev/null || id -g)
if mount -t tmpfs -o "size=4m,mode=0700,uid=$pg_uid,gid=$pg_gid" sk_faults_enospc "$SMALL" 2>"$T/mount.err"; then
    # unmount only once PostgreSQL has let go of it
    on_cleanup 'pg_stop; umount "$SMALL" || umount -l "$SMALL"'
    pg_super "CREATE TABLESPACE fk_small LOCATION '$SMALL'" >/dev/null || die "CREATE TABLESPACE failed"
    pg_super "GRANT CREATE ON TABLESPACE fk_small TO sharekeep_owner" >/dev/null
    # The table and its indexes: PostgreSQL extends a busy table by many
    # pages at once (so rows can keep landing in pre-allocated pages for a
    # long time), but a B-tree grows one page per split, so stores soon
    # need new space once the disk is full.
    pg_psql "ALTER TABLE share_record SET TABLESPACE fk_small;
             ALTER INDEX share_record_pkey SET TABLESPACE fk_small;
             ALTER INDEX share_record_identity_newest SET TABLESPACE fk_small;" >/dev/null ||
        die "moving share_record failed"
    assert_eq 3 "$(pg_psql "SELECT count(*) FROM pg_class c JOIN pg_tablespace t ON t.oid = c.reltablespace
                            WHERE t.spcname = 'fk_small' AND c.relname IN
                              ('share_record', 'share_record_pkey', 'share_record_identity_newest')")" \
        "share_record and its indexes live on the 4 MiB tmpfs"
    enospc=1
else
    log "phase C (real ENOSPC) skipped: mount -t tmpfs not permitted here ($(head -c 200 "$T/mount.err"))"
fi
wait_healthy || die "sharekeep not healthy at start"

load_start 5 500
wait_for_acks 40 || not_ok "stores are acknowledged before the fault"

# shares acknowledged before any fault: fetched during each phase
sample() { cat "$LOAD_DIR"/L*.log | awk '$3 == 200 { print $1, $8 }' | head -n 8; }
fetch_during() {
    local name=$1 n good
    sample >"$T/sample.$name"
    _fetch_worker "$name" <"$T/sample.$name" >"$T/fetch.$name"
    n=$(wc -l <"$T/sample.$name")
    good=$(awk '$2 == 200 && $3 != "0"' "$T/fetch.$name" | wc -l)
    assert_eq "$n" "$good" "phase $name: fetches of earlier shares are 200 and byte-exact"
}

SQL_FN="CREATE OR REPLACE FUNCTION fk_disk_full() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    RAISE EXCEPTION 'could not extend file: No space left on device (fault test)'
        USING ERRCODE = 'disk_full', HINT = 'Check free disk space.';
END \$\$;"

# -- A: the first write of the statement fails ---------------------------------
pg_psql "$SQL_FN
CREATE TRIGGER fk_disk_full BEFORE INSERT ON share_record
    FOR EACH ROW EXECUTE FUNCTION fk_disk_full();" >/dev/null || die "creating trigger A failed"
mark A_on
sleep 1.5
fetch_during A
mark A_off_begin
pg_psql "DROP TRIGGER fk_disk_full ON share_record;" >/dev/null
mark A_off
sleep 1.5

# -- B: the last write of the statement fails -----------------------------------
mark B_begin
pg_psql "$SQL_FN
CREATE TRIGGER fk_disk_full BEFORE INSERT ON audit_event
    FOR EACH ROW WHEN (NEW.endpoint = 'custodian.store' AND NEW.result = 200)
    EXECUTE FUNCTION fk_disk_full();" >/dev/null || die "creating trigger B failed"
mark B_on
sleep 1.5
fetch_during B
mark B_off_begin
pg_psql "DROP TRIGGER fk_disk_full ON audit_event;" >/dev/null
mark B_off
sleep 1.5

# -- C: real ENOSPC ---------------------------------------------------------------
if [ "$enospc" = 1 ]; then
    mark C_fill
    dd if=/dev/zero of="$SMALL/fill" bs=64k 2>/dev/null
    dd if=/dev/zero of="$SMALL/fill2" bs=4k 2>/dev/null
    log "tmpfs: $(df -k --output=avail "$SMALL" | tail -n 1 | tr -d ' ') KiB free"
    mark C_on
    # Rows still fit in free space of the table's and indexes' pages; a
    # store fails once it needs a file to grow.  Wait for a few refusals.
    before=$(sk_log_count 'statement=sk_put[a-z_]* sqlstate=53100')
    limit=$((EPOCHSECONDS + 25))
    while [ $(( $(sk_log_count 'statement=sk_put[a-z_]* sqlstate=53100') - before )) -lt 8 ] &&
        [ "$EPOCHSECONDS" -lt "$limit" ]; do
        sleep 0.2
    done
    mark C_full
    fetch_during C
    mark C_free_begin
    rm -f "$SMALL/fill" "$SMALL/fill2"
    mark C_free
    sleep 1.5
fi
mark end_faults
wait_for_acks 20 15 || not_ok "stores are acknowledged after the faults"
load_stop

check "sharekeep was not restarted (same master, alive)" alive "$master"
assert_eq "$master" "$SK_PID" "same sharekeep master pid"
assert_eq 0 "$(sk_log_count 'worker exited')" "no worker died"

expect_window A_on+0.2 A_off_begin 503 "phase A (share_record INSERT fails): stores"
expect_clean_refusals A_on A_off
expect_window A_off+0.2 B_begin 200 "after phase A: stores"
expect_window B_on+0.2 B_off_begin 503 "phase B (audit INSERT fails after share_record and webhook_delivery): stores"
expect_clean_refusals B_on B_off
if [ "$enospc" = 1 ]; then
    expect_window B_off+0.2 C_fill 200 "after phase B: stores"
    n=$(( $(sk_log_count 'statement=sk_put[a-z_]* sqlstate=53100') - before ))
    check "phase C: PostgreSQL refused stores with SQLSTATE 53100 ($n)" test "$n" -ge 8
    n=$(grep -c 'could not extend file "pg_tblspc/.*No space left on device' "$T/pg.log")
    check "phase C: the refusals were a real ENOSPC ('could not extend file ...: No space left on device' x$n)" test "$n" -ge 1
    # While the disk is full, rows that fit in pages PostgreSQL already has
    # are still accepted (and durable: faults_verify); a row that needs a
    # new page is refused with 503 and leaves nothing.
    expect_clean_refusals C_fill C_free
    expect_window C_free+0.5 end 200 "after phase C: stores"
    c_refused=$(in_window C_fill C_free 200 | wc -l)
else
    expect_window B_off+0.2 end 200 "after phase B: stores"
    c_refused=skipped
fi
# the refused stores were audited as 503 (the database was up)
in_window A_on+0.2 B_off_begin 200 >"$T/refused-AB"
n=$(wc -l <"$T/refused-AB")
_db_rows "$T/refused-AB" "$T/refused-AB.db"
audited=$(awk -F'|' '$5 >= 1' "$T/refused-AB.db" | wc -l)
assert_eq "$n" "$audited" "the $n stores refused in phases A and B left an audit row with their 503"

faults_verify
faults_report "enospc_refused=$c_refused"
