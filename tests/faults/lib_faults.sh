# shellcheck shell=bash
# tests/faults/lib_faults.sh: load generation and durability checks for the
# fault tests (tests/faults/t_*.sh), on top of tests/integration/lib.sh.
#
# The question every fault test answers: "did sharekeep lose a share it
# acknowledged?"  The recipe:
#
#   1. load_start: LOOPS background loops, each sending signed custodian
#      stores (Standard Webhooks, like Portal) with a unique clientId, a
#      unique webhook-id and a unique share, one at a time, and recording
#      one line per request: clientId, webhook-id, HTTP status, Retry-After,
#      start/end time, share token.
#   2. the test injects its fault while the load runs (mark NAME records when).
#   3. load_stop; faults_verify:
#        - every status is one the test allows (200/503 by default);
#        - every 503 carries Retry-After;
#        - database, per request: share_record, webhook_delivery and the
#          audit_event 200 row exist together or not at all (one statement
#          writes all three: nothing half-written); an acknowledged (200)
#          request has exactly one share_record row;
#        - every acknowledged share is fetched through nginx with
#          POST /webhook/backup/fetch and compared byte for byte;
#        - every request that did not get 200 is redelivered as Portal
#          would (same webhook-id, same body, fresh timestamp and
#          signature) and must now get 200 -- created=false exactly when
#          its first attempt had committed after all (a 503 whose COMMIT
#          happened but whose answer was lost) -- and is then fetched too.
#   4. faults_report prints
#        faults/NAME: sent=N acked=A found=F lost=L refused=R ambiguous=X ...
#          slowest=S.SSs [deadline=Ds] [recovered=R.RRs] [probes=...]
#      and fails the test when lost > 0 or any other check failed.
#      slowest is the longest answer time (curl's time_total: the HTTP
#      exchange) of any first-attempt store -- and of any probe
#      (probe_start) -- recorded.
#
# "lost" counts acknowledged shares that are missing, duplicated, not
# byte-exact or half-written.  It must be 0.
#
# Only additive helpers live here; lib.sh is sourced unchanged.

[ -n "${BASH_VERSION:-}" ] || { echo "lib_faults.sh needs bash" >&2; exit 99; }

# The fault tests run longer than the integration tests; lib.sh's watchdog
# stops a hung one after SK_TEST_TIMEOUT seconds.
SK_TEST_TIMEOUT=${SK_TEST_TIMEOUT:-150}

# shellcheck source=../integration/lib.sh
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"

FAULT_NAME=faults/${SK_TEST_NAME#t_}
LOAD_DIR=""
LOAD_PIDS=()
LOAD_RUN=""
LOAD_N=0             # loops started so far (names L1, L2, ...)
FAULT_CLEANUP_HOOKS=()
ALLOWED_STATUSES=" 200 503 "
# Requests (by webhook-id) whose 503 must have left nothing at all, not even
# an "ambiguous" commit: filled by expect_clean_refusals.
CLEAN_ONLY_FILE=""
# The request_timeout (seconds) the test configured, when it chose one:
# printed in the count line as deadline=Ds; "" leaves it out.
FAULT_DEADLINE=""
PROBE_PID=""
PROBE_BASE_HEALTH=0
PROBE_BASE_FETCH=0

# ---- lifecycle ---------------------------------------------------------------
# faults_init: lib.sh's sk_init, plus a cleanup that stops the load loops and
# runs the test's own hooks (a second cluster, a mount) before lib.sh's.
faults_init() {
    sk_init
    trap '_faults_cleanup $?' EXIT
    LOAD_DIR=$T/load
    mkdir -p "$LOAD_DIR"
    : >"$T/marks"
    CLEAN_ONLY_FILE=$T/clean-only
    : >"$CLEAN_ONLY_FILE"
    # Unique per run, so that ids never collide with an earlier run's.
    LOAD_RUN=$(printf '%04x%04x' $((SRANDOM & 0xffff)) $((SRANDOM & 0xffff)))
    have openssl || skip "openssl not found"
}

# faults_setup WORKERS [KEY=VALUE ...]: faults_init, then lib.sh's sk_setup
# with WORKERS workers (and those config keys, e.g. request_timeout=3),
# healthy before the test goes on; master is sharekeep's pid.
faults_setup() {
    faults_init
    sk_setup "workers=$1" "${@:2}"
    master=$SK_PID
    wait_healthy || die "sharekeep not healthy at start"
}

# on_cleanup CMD...: run CMD (eval'd) at exit, last registered first.
on_cleanup() { FAULT_CLEANUP_HOOKS=("$*" "${FAULT_CLEANUP_HOOKS[@]}"); }

_faults_cleanup() {
    local rc=$1 h
    set +e
    _probe_kill
    _load_kill
    for h in "${FAULT_CLEANUP_HOOKS[@]}"; do eval "$h" 2>/dev/null; done
    _cleanup "$rc"
}

# mark NAME: remember when NAME happened (for window checks).
mark() {
    echo "$1 $EPOCHREALTIME" >>"$T/marks"
    log "$(date +%T.%N | cut -c1-12) $1"
}
mark_time() { awk -v n="$1" '$1 == n { t = $2 } END { print t }' "$T/marks"; }
# mark_at NAME SPEC: a mark at another mark's time plus or minus seconds
# (SPEC: NAME, NAME+SECS or NAME-SECS), for windows that end before a mark.
mark_at() {
    local spec=$2 name off=0 t
    name=${spec%%[+-]*}
    [ "$name" != "$spec" ] && off=${spec#"$name"}
    t=$(mark_time "$name")
    [ -n "$t" ] || { echo "no mark $name" >&2; return 1; }
    awk -v n="$1" -v t="$t" -v o="$off" 'BEGIN { printf "%s %.6f\n", n, t + o }' >>"$T/marks"
}

# ---- signed requests ---------------------------------------------------------
# _fk_share CID TOK: the share for a request (FK_SHARE, its JSON string
# encoding FK_ENC), the store body (FK_BODY) and the exact fetch answer
# (FK_EXPECT: {"backupShares":[share],"backupShare":share}, byte for byte;
# the body has no backupMethod, so the share is the client's only identity).
# The share is a JSON document inside a JSON string, as Portal
# sends it, with quotes, backslashes and non-ASCII, so escaping is exercised.
_fk_share() {
    FK_SHARE='{"share":"'"$2"'","backupMethod":"GDRIVE","memo":"naïve ✓ 🔑 say \"hi\""}'
    FK_ENC=${FK_SHARE//\\/\\\\}
    FK_ENC=${FK_ENC//\"/\\\"}
    FK_BODY='{"clientId":"'"$1"'","share":"'"$FK_ENC"'"}'
    FK_EXPECT='{"backupShares":["'"$FK_ENC"'"],"backupShare":"'"$FK_ENC"'"}'
}

# signed_post PATH ID BODY RESPFILE: POST BODY signed with webhook-id ID and
# a fresh timestamp; prints "STATUS|RETRY-AFTER|SECONDS" (SECONDS: curl's
# time_total, the HTTP exchange alone).  No fork besides openssl,
# base64 and curl, so many loops can run on two cores.  Its two halves:
# fk_sign ID BODY sets FK_TS and FK_SIG (in this shell), fk_post PATH ID
# BODY RESPFILE sends with them -- so that a caller timing the request
# times the HTTP exchange, not the signing.
signed_post() {
    fk_sign "$2" "$3"
    fk_post "$@"
}

fk_sign() {
    FK_TS=$EPOCHSECONDS
    FK_SIG=$(printf '%s.%s.%s' "$1" "$FK_TS" "$2" |
        openssl dgst -sha256 -mac HMAC -macopt "hexkey:$SK_WEBHOOK_KEY_HEX" -binary | base64 -w0)
}

fk_post() {
    local path=$1 id=$2 body=$3 out=$4
    curl -sS -o "$out" -w '%{http_code}|%header{retry-after}|%{time_total}' --max-time 40 \
        -X POST -H 'Expect:' -H 'Content-Type: application/json' \
        -H "webhook-id: $id" -H "webhook-timestamp: $FK_TS" -H "webhook-signature: v1,$FK_SIG" \
        --data-binary "$body" "http://127.0.0.1:$NGINX_PORT$path" 2>/dev/null || true
}

# ---- load ----------------------------------------------------------------------
# One loop: up to MAX stores, until $LOAD_DIR/stop exists, PAUSE seconds
# between requests.  Line format (space separated):
#   cid webhook-id status ra=RETRY_AFTER c=CREATED t0 t1 token h=SECONDS
# t0 and t1 are taken just before curl starts and just after it ends (the
# request is signed before t0); SECONDS is curl's time_total, from the
# start of the HTTP exchange to its end -- what a caller's timer sees,
# without curl's own start-up, which a loaded machine can stretch.
_load_loop() {
    local tag=$1 max=$2 pause=$3 j cid id tok t0 t1 out st ra resp created h
    for ((j = 1; j <= max; j++)); do
        [ -e "$LOAD_DIR/stop" ] && break
        cid=fk-$LOAD_RUN-$tag-$j
        id=msg_$cid
        printf -v tok '%08x%08x%08x%08x' "$SRANDOM" "$SRANDOM" "$SRANDOM" "$SRANDOM"
        _fk_share "$cid" "$tok"
        fk_sign "$id" "$FK_BODY"
        t0=$EPOCHREALTIME
        out=$(fk_post /webhook/backup "$id" "$FK_BODY" "$LOAD_DIR/$tag.resp")
        t1=$EPOCHREALTIME
        st=${out%%|*}
        ra=${out#*|}
        h=${ra##*|}
        ra=${ra%%|*}
        [ -n "$st" ] || st=000
        [ -n "$h" ] || h=0
        created=-
        if [ "$st" = 200 ]; then
            resp=$(<"$LOAD_DIR/$tag.resp")
            case $resp in
                *'"ok":true'*'"created":true'*) created=1 ;;
                *'"ok":true'*'"created":false'*) created=0 ;;
                *) created=bad ;;
            esac
        fi
        echo "$cid $id $st ra=$ra c=$created $t0 $t1 $tok h=$h"
        # a refused client backs off (Portal honours Retry-After; a tenth
        # of it here), which also keeps an outage from flooding the log
        if [ "$st" != 200 ]; then
            sleep 0.25
        elif [ "$pause" != 0 ]; then
            sleep "$pause"
        fi
    done
}

# load_start LOOPS MAX [PAUSE]: start the loops in the background.
load_start() {
    local loops=$1 max=$2 pause=${3:-0} i tag
    rm -f "$LOAD_DIR/stop"
    for ((i = 1; i <= loops; i++)); do
        LOAD_N=$((LOAD_N + 1))
        tag=L$LOAD_N
        _load_loop "$tag" "$max" "$pause" >"$LOAD_DIR/$tag.log" 2>"$LOAD_DIR/$tag.err" </dev/null &
        LOAD_PIDS+=("$!")
    done
    log "load: $loops loops x up to $max signed stores (run id $LOAD_RUN)"
}

# load_stop: ask the loops to stop after their current request; wait.
# load_wait: wait for the loops to send all they were asked to.
load_stop() {
    : >"$LOAD_DIR/stop"
    load_wait
}

load_wait() {
    local p
    for p in "${LOAD_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    LOAD_PIDS=()
    cat "$LOAD_DIR"/L*.log >"$LOAD_DIR/all.txt" 2>/dev/null
    log "load: stopped, $(wc -l <"$LOAD_DIR/all.txt") requests recorded"
}

# Only at exit: stop loops we started, and their curl/openssl children.
_load_kill() {
    local p c
    [ -n "$LOAD_DIR" ] && : >"$LOAD_DIR/stop" 2>/dev/null
    for p in "${LOAD_PIDS[@]}"; do
        for c in $(children_of "$p"); do kill -TERM "$c" 2>/dev/null; done
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${LOAD_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    LOAD_PIDS=()
}

# load_count [STATUS]: requests recorded so far (with that status).
load_count() {
    cat "$LOAD_DIR"/L*.log 2>/dev/null | awk -v s="${1:-}" 's == "" || $3 == s { n++ } END { print n + 0 }'
}

# wait_for_acks N [TIMEOUT]: wait until N more 200s than now were recorded.
wait_for_acks() {
    local want=$(( $(load_count 200) + $1 )) limit=$(( EPOCHSECONDS + ${2:-20} ))
    while [ "$(load_count 200)" -lt "$want" ]; do
        [ "$EPOCHSECONDS" -lt "$limit" ] || return 1
        sleep 0.2
    done
}

# ---- windows -----------------------------------------------------------------
# in_window FROM TO [STATUS]: requests that started at or after mark FROM
# (time + optional "+secs") and ended before mark TO, as lines of all.txt;
# with STATUS, only those whose status differs from it.  TO may be "end".
_mark_value() {
    local spec=$1 name off t
    name=${spec%%+*}
    off=0
    [ "$name" != "$spec" ] && off=${spec#*+}
    if [ "$name" = end ]; then echo 9999999999; return; fi
    t=$(mark_time "$name")
    [ -n "$t" ] || { echo "no mark $name" >&2; echo 0; return; }
    awk -v t="$t" -v o="$off" 'BEGIN { printf "%.6f\n", t + o }'
}

in_window() {
    local from to
    from=$(_mark_value "$1")
    to=$(_mark_value "$2")
    awk -v f="$from" -v t="$to" -v s="${3:-}" \
        '$6 >= f && $7 <= t && (s == "" || $3 != s)' "$LOAD_DIR/all.txt"
}

# expect_window FROM TO STATUS DESC: every request inside the window got
# STATUS, and there was at least one.
expect_window() {
    local from=$1 to=$2 st=$3 desc=$4 n bad
    n=$(in_window "$from" "$to" | wc -l)
    bad=$(in_window "$from" "$to" "$st" | wc -l)
    if [ "$n" -gt 0 ] && [ "$bad" -eq 0 ]; then
        ok "$desc: all $n requests got $st"
    else
        not_ok "$desc: $bad of $n requests did not get $st"
        in_window "$from" "$to" "$st" | head -n 5 | awk '{ print "#   " $1 " status " $3 }'
    fi
}

# expect_started FROM TO STATUS DESC: every request that STARTED inside the
# window (whenever it ended) got STATUS, and there was at least one.
expect_started() {
    local from to n bad
    from=$(_mark_value "$1")
    to=$(_mark_value "$2")
    n=$(awk -v f="$from" -v t="$to" '$6 >= f && $6 <= t' "$LOAD_DIR/all.txt" | wc -l)
    bad=$(awk -v f="$from" -v t="$to" -v s="$3" '$6 >= f && $6 <= t && $3 != s' "$LOAD_DIR/all.txt" | wc -l)
    if [ "$n" -gt 0 ] && [ "$bad" -eq 0 ]; then
        ok "$4: all $n requests got $3"
    else
        not_ok "$4: $bad of $n requests did not get $3"
    fi
}

# expect_clean_refusals FROM TO: the requests refused inside the window must
# have left no row at all (the database refused the statement, so there is
# no "committed but the answer was lost" excuse).
expect_clean_refusals() {
    in_window "$1" "$2" | awk '$3 != 200 { print $2 }' >>"$CLEAN_ONLY_FILE"
}

# ---- verification ------------------------------------------------------------
# Runs FN over the lines of FILE in P parallel background jobs; the
# outputs are concatenated into OUT.
_parallel() {
    local fn=$1 file=$2 out=$3 p=${4:-4} i
    local -a pids=()
    for ((i = 0; i < p; i++)); do
        awk -v p="$p" -v i="$i" 'NR % p == i' "$file" >"$file.part$i"
        "$fn" "$i" <"$file.part$i" >"$out.part$i" 2>&1 &
        pids+=("$!")
    done
    for i in "${pids[@]}"; do wait "$i"; done
    cat "$out".part* >"$out" 2>/dev/null
    rm -f "$file".part* "$out".part*
}

# stdin: "cid tok"; out: "cid status match" with match 1 byte-exact,
# 0 different, j equal only after JSON decoding.
_fetch_worker() {
    local cid tok out st body
    while read -r cid tok; do
        _fk_share "$cid" "$tok"
        out=$(signed_post /webhook/backup/fetch "msg_f$1_$cid" '{"clientId":"'"$cid"'"}' "$LOAD_DIR/fetch$1.resp")
        st=${out%%|*}
        if [ "$st" != 200 ]; then
            echo "$cid ${st:-000} 0"
            continue
        fi
        body=$(<"$LOAD_DIR/fetch$1.resp")
        if [ "$body" == "$FK_EXPECT" ]; then
            echo "$cid 200 1"
        elif jq -e --arg v "$FK_SHARE" '. == {backupShares: [$v], backupShare: $v}' "$LOAD_DIR/fetch$1.resp" >/dev/null 2>&1; then
            echo "$cid 200 j"
        else
            echo "$cid 200 0"
        fi
    done
}

# stdin: "cid id tok"; out: "cid status created" (same id, same body).
_redeliver_worker() {
    local cid id tok out st resp created
    while read -r cid id tok; do
        _fk_share "$cid" "$tok"
        out=$(signed_post /webhook/backup "$id" "$FK_BODY" "$LOAD_DIR/redo$1.resp")
        st=${out%%|*}
        created=-
        if [ "$st" = 200 ]; then
            resp=$(<"$LOAD_DIR/redo$1.resp")
            case $resp in
                *'"created":true'*) created=1 ;;
                *'"created":false'*) created=0 ;;
            esac
        fi
        echo "$cid ${st:-000} $created"
    done
}

# _db_rows FILE OUT: for every "cid id" in FILE, "cid|share_rows|
# delivery_rows|audit_200_rows|audit_other_rows|version" from the database
# (as the owner, who sees everything).
_db_rows() {
    {
        echo "CREATE TEMP TABLE fk_sent (cid text, id text);"
        echo "COPY fk_sent FROM stdin;"
        awk '{ print $1 "\t" $2 }' "$1"
        echo '\.'
        cat <<'EOF'
SELECT s.cid,
  (SELECT count(*) FROM share_record r WHERE r.client_id = s.cid AND r.kind = 1),
  (SELECT count(*) FROM webhook_delivery d WHERE d.delivery_id = s.id AND d.client_id = s.cid),
  (SELECT count(*) FROM audit_event a WHERE a.client_id = s.cid
      AND a.endpoint = 'custodian.store' AND a.result = 200),
  (SELECT count(*) FROM audit_event a WHERE a.client_id = s.cid
      AND a.endpoint = 'custodian.store' AND a.result <> 200),
  coalesce((SELECT string_agg(version::text, ',') FROM share_record r
      WHERE r.client_id = s.cid AND r.kind = 1), '-')
FROM fk_sent s ORDER BY s.cid;
EOF
    } >"$2.sql"
    # psql reads the COPY data from the same stream as the commands.
    PSQL_OPTIONS='-c default_transaction_read_only=off' \
        psql_as sharekeep_owner sharekeep "$(<"$2.sql")" >"$2" 2>"$2.err"
}

FAULT_SENT=0 FAULT_ACKED=0 FAULT_FOUND=0 FAULT_LOST=0 FAULT_REFUSED=0
FAULT_AMBIGUOUS=0 FAULT_UNEXPECTED=0 FAULT_REDELIVERED=0 FAULT_REDELIVER_OK=0
FAULT_SLOWEST="" FAULT_RECOVERED="" FAULT_PROBES=""

# faults_verify: everything in the header comment; sets the FAULT_* counts.
# Call with the load stopped and the database reachable at PG_SOCK/PG_PORT.
faults_verify() {
    local all=$LOAD_DIR/all.txt d=$LOAD_DIR n
    [ -s "$all" ] || { not_ok "$FAULT_NAME: the load sent no request"; return; }
    FAULT_SENT=$(wc -l <"$all")
    FAULT_SLOWEST=$(slowest)
    FAULT_ACKED=$(awk '$3 == 200' "$all" | wc -l)
    FAULT_REFUSED=$(awk '$3 == 503' "$all" | wc -l)

    # -- statuses
    FAULT_UNEXPECTED=$(awk -v ok="$ALLOWED_STATUSES" 'index(ok, " " $3 " ") == 0' "$all" | wc -l)
    assert_eq 0 "$FAULT_UNEXPECTED" "$FAULT_NAME: every answer is one of$ALLOWED_STATUSES(no 500, no 502, no timeout)"
    [ "$FAULT_UNEXPECTED" -eq 0 ] ||
        awk -v ok="$ALLOWED_STATUSES" 'index(ok, " " $3 " ") == 0 { print "#   " $1 " got " $3 }' "$all" | head -n 10
    n=$(awk '$3 == 503 && $4 == "ra="' "$all" | wc -l)
    assert_eq 0 "$n" "$FAULT_NAME: every 503 carries Retry-After"
    n=$(awk '$3 == 200 && $5 != "c=1"' "$all" | wc -l)
    assert_eq 0 "$n" "$FAULT_NAME: every first-attempt 200 is {\"ok\":true,...,\"created\":true}"

    # -- database, before any redelivery
    _db_rows "$all" "$d/db1"
    check "$FAULT_NAME: database rows read back ($(head -c 200 "$d/db1.err"))" test ! -s "$d/db1.err"
    # join: cid status r d a200 aother versions
    awk 'NR == FNR { split($0, f, "|"); r[f[1]] = f[2] " " f[3] " " f[4] " " f[5] " " f[6]; next }
         { print $1, $3, ($1 in r ? r[$1] : "? ? ? ? ?") }' "$d/db1" "$all" >"$d/join1"
    # acknowledged: exactly one row of each kind, version 1
    awk '$2 == 200 && !($3 == 1 && $4 == 1 && $5 == 1 && $7 == "1")' "$d/join1" >"$d/acked-bad"
    # nothing half-written: the three rows exist together or not at all
    awk '!(($3 == 0 && $4 == 0 && $5 == 0) || ($3 == 1 && $4 == 1 && $5 == 1))' "$d/join1" >"$d/half"
    assert_eq 0 "$(wc -l <"$d/half")" "$FAULT_NAME: no request left a partial write (share_record, webhook_delivery and audit 200 rows together or not at all)"
    head -n 5 "$d/half" | sed 's/^/#   half-written: /'
    # refused but committed: allowed only where the answer could be lost
    # after COMMIT (connection cut); never where the database refused.
    FAULT_AMBIGUOUS=$(awk '$2 != 200 && $3 > 0' "$d/join1" | wc -l)
    awk 'NR == FNR { clean[$1] = 1; next } ("msg_" $1) in clean && $3 > 0' \
        "$CLEAN_ONLY_FILE" "$d/join1" >"$d/unclean"
    assert_eq 0 "$(wc -l <"$d/unclean")" "$FAULT_NAME: requests the database refused left no row at all"
    head -n 5 "$d/unclean" | sed 's/^/#   refused but stored: /'

    # -- fetch every acknowledged share, byte for byte
    awk '$3 == 200 { print $1, $8 }' "$all" >"$d/acked"
    _parallel _fetch_worker "$d/acked" "$d/fetch1" 4
    awk '$2 != 200 || $3 == "0"' "$d/fetch1" >"$d/fetch-bad"
    n=$(awk '$3 == "j"' "$d/fetch1" | wc -l)
    [ "$n" -eq 0 ] || log "$n fetches matched only after JSON decoding (escaping differs from the store body)"
    # lost = acknowledged shares not in the database as one whole record or
    # not served back exactly
    cat "$d/acked-bad" "$d/fetch-bad" | awk '{ print $1 }' | sort -u >"$d/lost"
    FAULT_LOST=$(wc -l <"$d/lost")
    FAULT_FOUND=$((FAULT_ACKED - FAULT_LOST))
    assert_eq "$FAULT_ACKED" "$(awk '$2 == 200 && $3 == "1"' "$d/fetch1" | wc -l)" \
        "$FAULT_NAME: all $FAULT_ACKED acknowledged shares fetch back byte for byte"
    assert_eq 0 "$FAULT_LOST" "$FAULT_NAME: no acknowledged share lost"
    if [ "$FAULT_LOST" -gt 0 ]; then
        head -n 10 "$d/lost" | while read -r c; do
            echo "#   lost $c: db=$(awk -v c="$c" '$1 == c { print $3, $4, $5, $7 }' "$d/join1") fetch=$(awk -v c="$c" '$1 == c { print $2, $3 }' "$d/fetch1")"
        done
    fi

    # -- Portal redelivers what was not acknowledged: same id, same body
    awk '$3 != 200 { print $1, $2, $8 }' "$all" >"$d/redo"
    FAULT_REDELIVERED=$(wc -l <"$d/redo")
    if [ "$FAULT_REDELIVERED" -gt 0 ]; then
        _parallel _redeliver_worker "$d/redo" "$d/redo.out" 4
        FAULT_REDELIVER_OK=$(awk '$2 == 200' "$d/redo.out" | wc -l)
        assert_eq "$FAULT_REDELIVERED" "$FAULT_REDELIVER_OK" \
            "$FAULT_NAME: all $FAULT_REDELIVERED unacknowledged requests succeed when redelivered"
        # created=false exactly for those whose first attempt had committed
        awk 'NR == FNR { had[$1] = ($3 > 0) ? 0 : 1; next }
             $2 == 200 && ($1 in had) && $3 != had[$1]' "$d/join1" "$d/redo.out" >"$d/redo-bad"
        assert_eq 0 "$(wc -l <"$d/redo-bad")" \
            "$FAULT_NAME: a redelivery says created=false exactly when the first attempt had committed"
        head -n 5 "$d/redo-bad" | sed 's/^/#   /'
        awk 'NR == FNR { tok[$1] = $3; next } $2 == 200 { print $1, tok[$1] }' "$d/redo" "$d/redo.out" >"$d/redo-fetch"
        _parallel _fetch_worker "$d/redo-fetch" "$d/fetch2" 4
        assert_eq "$(wc -l <"$d/redo-fetch")" "$(awk '$2 == 200 && $3 != "0"' "$d/fetch2" | wc -l)" \
            "$FAULT_NAME: every redelivered share fetches back exactly"
    fi

    # -- in the end: every request sent is exactly one version, exactly once
    _db_rows "$all" "$d/db2"
    n=$(awk -F'|' '!($2 == 1 && $3 == 1 && $4 >= 1 && $6 == "1")' "$d/db2" | wc -l)
    assert_eq 0 "$n" "$FAULT_NAME: after redelivery all $FAULT_SENT shares are stored exactly once (one version, one delivery, an audit 200 row)"
    awk -F'|' '!($2 == 1 && $3 == 1 && $4 >= 1 && $6 == "1")' "$d/db2" | head -n 5 | sed 's/^/#   /'
}

# faults_report [EXTRA]: the count line.
faults_report() {
    [ -n "$FAULT_SLOWEST" ] || FAULT_SLOWEST=$(slowest)
    echo "$FAULT_NAME: sent=$FAULT_SENT acked=$FAULT_ACKED found=$FAULT_FOUND lost=$FAULT_LOST" \
        "refused=$FAULT_REFUSED ambiguous=$FAULT_AMBIGUOUS unexpected=$FAULT_UNEXPECTED" \
        "redelivered=$FAULT_REDELIVER_OK/$FAULT_REDELIVERED slowest=${FAULT_SLOWEST}s" \
        "${FAULT_DEADLINE:+deadline=${FAULT_DEADLINE}s }${FAULT_RECOVERED:+recovered=${FAULT_RECOVERED}s }${FAULT_PROBES:+probes=$FAULT_PROBES }${1:-}" |
        sed 's/ *$//'
}

# ---- answer times ------------------------------------------------------------
# _answer_times: "seconds wall name status t0" for every store the load
# recorded and every probe; seconds is curl's time_total (h=), wall is
# t1 - t0 (curl's start-up included).
_answer_times() {
    cat "$LOAD_DIR"/L*.log "$LOAD_DIR"/probe.log 2>/dev/null |
        awk '{ h = $NF; sub(/^h=/, "", h)
               if ($1 ~ /^fk-/) print h + 0, $7 - $6, $1, $3, $6
               else print h + 0, $6 - $5, $1, $2, $5 }'
}

# slowest: the longest answer time in seconds (X.XX: curl's time_total) of
# any store the load recorded and of any probe, "0.00" when there is none.
slowest() { _answer_times | awk '$1 > m { m = $1 } END { printf "%.2f\n", m }'; }

# expect_answered_within SECONDS: every store (and probe) was answered
# within SECONDS of being sent (curl's time_total); shows the slowest
# offenders with their wall times and sharekeep's own slowest.
expect_answered_within() {
    local bound=$1 n
    n=$(_answer_times | awk -v b="$bound" '$1 > b { n++ } END { print n + 0 }')
    if [ "$n" -eq 0 ]; then
        ok "every request answered within ${bound}s (slowest $(slowest)s)"
    else
        not_ok "$n requests took longer than ${bound}s (slowest $(slowest)s)"
        _answer_times | sort -k1,1gr | awk -v b="$bound" '$1 > b' | head -n 10 |
            awk '{ printf "#   %s status %s took %.2fs (wall %.2fs, sent at %s)\n", $3, $4, $1, $2, $5 }'
        echo "#   sharekeep's own slowest (its log's dur_ms, from when a worker took the request): $(sk_slowest_ms) ms"
    fi
}

# sk_slowest_ms: the longest dur_ms in sharekeep's request log lines.
sk_slowest_ms() {
    grep -o 'msg="request" .*dur_ms=[0-9.]*' "$SK_LOG" 2>/dev/null |
        awk '{ sub(/.*dur_ms=/, ""); if ($1 + 0 > m) m = $1 + 0 } END { print m + 0 }'
}

# wait_recovered MARK [LIMIT]: wait (up to LIMIT seconds, default 20) for
# the first store that STARTED at or after MARK to be answered 200; sets
# FAULT_RECOVERED to the seconds from MARK to that answer (X.XX), or to
# "none".  True when one came.  Requests already in flight at MARK do not
# count: they show that the old connections survived, not that new
# requests are served.
wait_recovered() {
    local t limit=$(( EPOCHSECONDS + ${2:-20} )) r
    t=$(mark_time "$1")
    [ -n "$t" ] || { FAULT_RECOVERED=none; return 1; }
    while :; do
        r=$(cat "$LOAD_DIR"/L*.log 2>/dev/null |
            awk -v t="$t" '$3 == 200 && $6 >= t && (m == "" || $7 < m) { m = $7 }
                           END { if (m != "") printf "%.2f\n", m - t }')
        if [ -n "$r" ]; then FAULT_RECOVERED=$r; return 0; fi
        [ "$EPOCHSECONDS" -lt "$limit" ] || { FAULT_RECOVERED=none; return 1; }
        sleep 0.1
    done
}

# expect_nginx_waits_longer SECONDS: every fastcgi_read_timeout of the
# nginx config the harness runs is longer than SECONDS (nginx's default,
# 60 s, where none is set), so that every answer the load records is
# sharekeep's own and never nginx's 504.
expect_nginx_waits_longer() {
    local f=${SK_NGINX_INCLUDE:-$SHAREKEEP_SRCDIR/conf/nginx/sharekeep.conf} min
    min=$(awk '$1 == "fastcgi_read_timeout" {
                   v = $2; sub(/;$/, "", v); n = v + 0
                   if (v ~ /ms$/) n /= 1000; else if (v ~ /m$/) n *= 60
                   if (m == "" || n < m) m = n }
               END { print (m == "" ? 60 : m) }' "$f" "$T/nginx/nginx.conf")
    check "nginx's fastcgi_read_timeout (${min}s) is longer than ${1}s: the answers are sharekeep's, not nginx's" \
        awk -v a="$min" -v b="$1" 'BEGIN { exit !(a > b) }'
}

# sk_answered ROUTE: the request lines sharekeep has logged for ROUTE
# (custodian.store, custodian.fetch, health): one per answer it gave.
sk_answered() {
    grep -c "msg=\"request\" method=[A-Z]* route=$1 " "$SK_LOG" 2>/dev/null || true
}

# expect_own_answers: every store the load sent -- and every probe -- was
# answered by sharekeep itself: its request log has a line for each.
# nginx answers 503 + Retry-After for a 502 or 504 as well (conf/nginx's
# error_page), so the status alone no longer tells a worker that died or
# nginx's fastcgi_read_timeout from sharekeep's own refusal.  Call after
# load_stop (and probe_stop), before faults_verify sends more.
expect_own_answers() {
    local want n i hz fe
    want=$(load_count)
    for i in $(seq 1 20); do
        n=$(sk_answered custodian.store)
        [ "$n" -ge "$want" ] && break
        sleep 0.1
    done
    assert_eq "$want" "$n" "every store was answered by sharekeep itself ($n request log lines for $want stores; none is nginx's 503 for a 502/504)"
    [ -s "$LOAD_DIR/probe.log" ] || return 0
    hz=$(awk '$1 == "healthz"' "$LOAD_DIR/probe.log" | wc -l)
    fe=$(awk '$1 == "fetch"' "$LOAD_DIR/probe.log" | wc -l)
    assert_eq "$hz $fe" "$(( $(sk_answered health) - PROBE_BASE_HEALTH )) $(( $(sk_answered custodian.fetch) - PROBE_BASE_FETCH ))" \
        "every probe was answered by sharekeep itself (healthz, fetch)"
}

# ---- probes: fetches and healthz while the fault lasts -----------------------
# probe_start [PAUSE]: one background loop, alternating GET /healthz and a
# signed POST /webhook/backup/fetch of a share the load has already had
# acknowledged, PAUSE seconds (default 0.2) apart, until probe_stop (or
# load_stop).  Lines in $LOAD_DIR/probe.log (not part of all.txt):
#   kind status ra=RETRY_AFTER m=MATCH t0 t1 h=SECONDS
# MATCH is 1 when a 200's body is exactly the expected one, 0 otherwise;
# SECONDS is curl's time_total, as for the load.
probe_start() {
    local pause=${1:-0.2} line
    line=$(cat "$LOAD_DIR"/L*.log 2>/dev/null | awk '$3 == 200 { print $1, $8; exit }')
    [ -n "$line" ] || die "probe_start: no store acknowledged yet"
    rm -f "$LOAD_DIR/probe-stop"
    PROBE_BASE_HEALTH=$(sk_answered health)
    PROBE_BASE_FETCH=$(sk_answered custodian.fetch)
    # shellcheck disable=SC2086
    _probe_loop $line "$pause" >"$LOAD_DIR/probe.log" 2>"$LOAD_DIR/probe.err" </dev/null &
    PROBE_PID=$!
    log "probe: healthz and fetch of ${line%% *} every ${pause}s"
}

_probe_loop() {
    local cid=$1 tok=$2 pause=$3 i=0 kind out st ra t0 t1 m h
    _fk_share "$cid" "$tok"
    while [ ! -e "$LOAD_DIR/stop" ] && [ ! -e "$LOAD_DIR/probe-stop" ]; do
        i=$((i + 1))
        : >"$LOAD_DIR/probe.resp"
        if ((i % 2)); then
            kind=healthz
            t0=$EPOCHREALTIME
            out=$(curl -sS -o "$LOAD_DIR/probe.resp" -w '%{http_code}|%header{retry-after}|%{time_total}' --max-time 40 \
                "http://127.0.0.1:$NGINX_PORT/healthz" 2>/dev/null || true)
        else
            kind=fetch
            fk_sign "msg_p${LOAD_RUN}_$i" '{"clientId":"'"$cid"'"}'
            t0=$EPOCHREALTIME
            out=$(fk_post /webhook/backup/fetch "msg_p${LOAD_RUN}_$i" '{"clientId":"'"$cid"'"}' "$LOAD_DIR/probe.resp")
        fi
        t1=$EPOCHREALTIME
        st=${out%%|*}
        ra=${out#*|}
        h=${ra##*|}
        ra=${ra%%|*}
        [ -n "$st" ] || st=000
        [ -n "$h" ] || h=0
        m=-
        if [ "$st" = 200 ]; then
            m=0
            if [ "$kind" = fetch ]; then
                [ "$(<"$LOAD_DIR/probe.resp")" == "$FK_EXPECT" ] && m=1
            else
                [ "$(<"$LOAD_DIR/probe.resp")" == '{"status":"ok"}' ] && m=1
            fi
        fi
        echo "$kind $st ra=$ra m=$m $t0 $t1 h=$h"
        sleep "$pause"
    done
}

probe_stop() {
    [ -n "$PROBE_PID" ] || return 0
    : >"$LOAD_DIR/probe-stop"
    wait "$PROBE_PID" 2>/dev/null
    PROBE_PID=""
}

_probe_kill() {
    [ -n "$PROBE_PID" ] || return 0
    local c
    [ -n "$LOAD_DIR" ] && : >"$LOAD_DIR/probe-stop" 2>/dev/null
    for c in $(children_of "$PROBE_PID"); do kill -TERM "$c" 2>/dev/null; done
    kill -TERM "$PROBE_PID" 2>/dev/null
    wait "$PROBE_PID" 2>/dev/null
    PROBE_PID=""
}

# probe_check: every probe answer is 200 or 503, every 503 carries
# Retry-After, every 200 is exactly the expected body; sets FAULT_PROBES
# ("healthz=OK/N,fetch=OK/N": 200s of all).
probe_check() {
    local f=$LOAD_DIR/probe.log n
    [ -s "$f" ] || { not_ok "the probe recorded nothing"; return; }
    n=$(awk '$2 != 200 && $2 != 503' "$f" | wc -l)
    assert_eq 0 "$n" "probes: every healthz and fetch answer is 200 or 503"
    awk '$2 != 200 && $2 != 503 { print "#   " $1 " got " $2 }' "$f" | head -n 5
    n=$(awk '$2 == 503 && $3 == "ra="' "$f" | wc -l)
    assert_eq 0 "$n" "probes: every 503 carries Retry-After"
    n=$(awk '$2 == 200 && $4 != "m=1"' "$f" | wc -l)
    assert_eq 0 "$n" "probes: every 200 is exactly the expected body (the share, byte for byte; {\"status\":\"ok\"})"
    FAULT_PROBES=$(awk '{ t[$1]++; if ($2 == 200) o[$1]++ }
        END { printf "healthz=%d/%d,fetch=%d/%d", o["healthz"], t["healthz"], o["fetch"], t["fetch"] }' "$f")
}

# probe_window FROM TO KIND: "OK/N" 200s of the KIND probes sent in the window.
probe_window() {
    local from to
    from=$(_mark_value "$1")
    to=$(_mark_value "$2")
    awk -v f="$from" -v t="$to" -v k="$3" '$1 == k && $5 >= f && $6 <= t { n++; if ($2 == 200) o++ }
        END { printf "%d/%d\n", o, n }' "$LOAD_DIR/probe.log"
}

# ---- frozen processes ----------------------------------------------------------
# freeze_cluster DATA NAME: SIGSTOP every process of the PostgreSQL cluster
# in DATA -- the postmaster (postmaster.pid) first, so that it forks no new
# backend, then each of its children (backends, checkpointer, walwriter,
# WAL sender/receiver, ...), listed twice; returns once all are stopped.
# The pids go to $T/frozen.NAME; thaw_cluster NAME sends them SIGCONT (at
# exit too, so that a failed test can still stop the cluster).
freeze_cluster() {
    local data=$1 f=$T/frozen.$2 pm p i st
    pm=$(head -n 1 "$data/postmaster.pid" 2>/dev/null)
    if [ -z "$pm" ] || ! alive "$pm"; then die "freeze_cluster: no postmaster for $data"; fi
    : >"$f"
    on_cleanup "thaw_cluster $2"
    kill -STOP "$pm" || die "freeze_cluster: kill -STOP $pm failed"
    echo "$pm" >>"$f"
    for _ in 1 2; do
        for p in $(children_of "$pm"); do
            grep -qx "$p" "$f" && continue
            kill -STOP "$p" 2>/dev/null && echo "$p" >>"$f"
        done
    done
    # stopped means state T in /proc/PID/stat
    for p in $(<"$f"); do
        for i in $(seq 1 50); do
            st=$(cat "/proc/$p/stat" 2>/dev/null) || break
            st=${st##*) }
            [ "${st%% *}" = T ] && break
            sleep 0.02
        done
    done
    log "froze $(wc -l <"$f") processes of $data (postmaster $pm)"
}

thaw_cluster() {
    local f=$T/frozen.$1
    [ -s "$f" ] || return 0
    # shellcheck disable=SC2046
    kill -CONT $(<"$f") 2>/dev/null
    : >"$f"
}

# ---- service helpers ---------------------------------------------------------
# wait_healthy [SECONDS]: /healthz 200 four times in a row (several workers
# answered), within SECONDS (default 20).
wait_healthy() {
    local limit=$(( EPOCHSECONDS + ${1:-20} )) streak=0
    while [ "$EPOCHSECONDS" -lt "$limit" ]; do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$NGINX_PORT/healthz")" = 200 ]; then
            streak=$((streak + 1))
            [ "$streak" -ge 4 ] && return 0
        else
            streak=0
            sleep 0.2
        fi
    done
    return 1
}

# sk_log_count REGEX: matching lines in sharekeep's log.
sk_log_count() { grep -cE "$1" "$SK_LOG" 2>/dev/null || true; }

# pg_super SQL: run SQL as the superuser in database sharekeep.
pg_super() { psql_as postgres sharekeep "$1"; }

# ---- primary + streaming standby ---------------------------------------------
# pair_setup [sync|async] [KEY=VALUE ...]: the primary is lib.sh's cluster ($T/pg, PG1_PORT);
# the standby ($T/pg2, PG2_PORT, same socket dir) is a pg_basebackup -R of it
# streaming with application_name sk_standby.  sharekeep's config gets the
# multi-host conninfo (both ports, target_session_attrs=read-write); the
# schema is migrated; sharekeep and nginx are NOT started.  KEY=VALUE
# pairs are more config keys (e.g. request_timeout=3).
#
# With "sync" (the default) the primary -- only the primary, via ALTER
# SYSTEM after the base backup -- gets synchronous_standby_names =
# 'sk_standby' and synchronous_commit = on: a COMMIT returns only once the
# standby has flushed it.  The promoted standby must not inherit the
# setting: with no standby of its own it would wait forever on every commit.
PG1_DIR="" PG2_DIR="" PG1_PORT="" PG2_PORT="" PG2_UP=0

pair_setup() {
    local mode=${1:-sync} i state=""
    PG1_DIR=$T/pg
    PG2_DIR=$T/pg2
    on_cleanup standby_stop
    on_cleanup '[ "$FAILED" -gt 0 ] && _dump "$T/pg2.log" 40'
    pg_start
    PG1_PORT=$PG_PORT
    PG2_PORT=$(free_port) || die "no free port"
    sk_keygen
    sk_write_config workers=4 \
        "database=host=$PG_SOCK,$PG_SOCK port=$PG1_PORT,$PG2_PORT dbname=sharekeep user=sharekeep target_session_attrs=read-write connect_timeout=3" \
        "${@:2}"
    sk_migrate

    mkdir -p "$PG2_DIR"
    : >"$T/pg2.log"
    is_root && chown postgres: "$PG2_DIR" "$T/pg2.log"
    chmod 0700 "$PG2_DIR"
    as_pg "$PG_BINDIR/pg_basebackup" -D "$PG2_DIR" -R -X stream -c fast --no-sync \
        -d "host=$PG_SOCK port=$PG1_PORT user=postgres application_name=sk_standby" \
        >"$T/basebackup.log" 2>&1 || { cat "$T/basebackup.log"; die "pg_basebackup failed"; }
    grep -q "application_name=sk_standby" "$PG2_DIR/postgresql.auto.conf" ||
        echo "primary_conninfo = 'host=$PG_SOCK port=$PG1_PORT user=postgres application_name=sk_standby'" |
        as_pg tee -a "$PG2_DIR/postgresql.auto.conf" >/dev/null
    printf '# standby of %s (the later setting wins)\nport = %s\nhot_standby = on\n' \
        "$PG1_DIR" "$PG2_PORT" | as_pg tee -a "$PG2_DIR/postgresql.conf" >/dev/null
    standby_start

    if [ "$mode" = sync ]; then
        pg_super "ALTER SYSTEM SET synchronous_standby_names = 'sk_standby';
                  ALTER SYSTEM SET synchronous_commit = 'on';
                  SELECT pg_reload_conf();" >/dev/null || die "enabling synchronous replication failed"
    fi
    for i in $(seq 1 100); do
        state=$(pg_super "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'sk_standby'")
        [ "$state" = "$mode" ] && break
        sleep 0.1
    done
    assert_eq "$mode" "$state" "the standby streams ($mode, pg_stat_replication.sync_state)"
    assert_eq t "$(PG_PORT=$PG2_PORT pg_super 'SELECT pg_is_in_recovery()')" "the standby is in recovery (read-only)"
}

standby_start() {
    pg_up "$PG2_DIR" "$T/pg2.log" || die "standby did not start"
    PG2_UP=1
}

standby_stop() {
    [ "$PG2_UP" = 1 ] || return 0
    pg_down "$PG2_DIR"
    PG2_UP=0
}

# primary_crash: pg_ctl stop -m immediate on the primary (no checkpoint,
# no goodbye to clients).
primary_crash() {
    pg_down "$PG1_DIR" immediate || die "stopping the primary failed"
    PG_UP=0
}

# promote: the standby becomes the primary; the test's SQL goes there.
promote() {
    pg_ctl_as "$PG2_DIR" -w -t 60 promote >/dev/null || die "pg_ctl promote failed"
    PG_PORT=$PG2_PORT
    assert_eq f "$(pg_super 'SELECT pg_is_in_recovery()')" "the standby is now a primary"
}
