#!/bin/bash
# Portal's real sequence, as Portal calls today (doc: issue 10 and
# ../shared/reference/portal-contract.md): webhook_auth = shared-secret, the
# header X-Webhook-Secret on every call, a backup per method and per curve
# each followed at once by the validation fetch, multi-backup fetch answers
# {"backupShares":[...],"backupShare":"..."}, legacy backups without
# backupMethod, a legacy client upgrading to multi-backup, and the client
# (encrypted user) share per method with the UNKNOWN fallback.
#
# Every answer is compared byte for byte with what sharekeep must send; the
# database rows (client_id, kind, backup_method, pair_id, version) are
# checked after each step.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
SK_WEBHOOK_MODE=shared
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"

sk_init
sk_setup

# ---- helpers -------------------------------------------------------------------
PROBES=()   # pieces of every share sent: none may ever appear in a log

hexrand() { head -c $(( ($1 + 1) / 2 )) /dev/urandom | od -An -tx1 -v | tr -d ' \n' | head -c "$1"; }

# new_share VAR PAIR_ID CURVE [HEXLEN]: VAR = a custodian share as Portal's
# SDK JSON.stringifies it (an object holding its backupSharePairId and a few
# KB of key material).  Remembers a probe of it for the log checks.
new_share() {
    local var=$1 pair=$2 curve=$3 n=${4:-3000} sh
    sh=$(hexrand "$n")
    PROBES+=("${sh:$((n / 3)):32}")
    printf -v "$var" '%s' "$(jq -nc --arg p "$pair" --arg c "$curve" --arg sh "$sh" --arg x "$(hexrand 64)" \
        --arg y "$(hexrand 64)" --arg ss "$(hexrand 64)" --arg sp "$(rand_token 25)" \
        '{backupSharePairId: $p, share: $sh, curve: $c, signingSharePairId: $sp,
          pubkey: {X: $x, Y: $y}, ssid: $ss, bks: {"1": {X: $x, Rank: 0}}, version: "v3"}')"
}

# body_json KEY VALUE ... [--raw KEY JSON ...]: a JSON object; "--raw KEY JSON"
# puts JSON as is (numbers, null, objects).
body_json() {
    local -a args=()
    local f='{}'
    while [ $# -gt 0 ]; do
        if [ "$1" = --raw ]; then
            args+=(--argjson "$2" "$3")
            f="$f + {\"$2\": \$$2}"
            shift 3
        else
            args+=(--arg "$1" "$2")
            f="$f + {\"$1\": \$$1}"
            shift 2
        fi
    done
    jq -nc "${args[@]}" "$f"
}

# backup CID SHARE [METHOD [PAIR]]: Portal's POST {root}/backup; METHOD "-"
# (or none) leaves backupMethod out, PAIR adds a top-level backupSharePairId.
backup() {
    local cid=$1 share=$2 method=${3:--} pair=${4:-}
    local -a kv=(clientId "$cid" share "$share")
    [ "$method" = - ] || kv+=(backupMethod "$method")
    [ -z "$pair" ] || kv+=(backupSharePairId "$pair")
    req POST /webhook/backup "$(body_json "${kv[@]}")" "${EXTRA_CURL[@]}"
}
EXTRA_CURL=()
fetch() { req POST /webhook/backup/fetch "$(json clientId "$1")" "${EXTRA_CURL[@]}"; }

# assert_fetch CID DESC SHARE...: fetch answers 200 with exactly these shares.
assert_fetch() {
    local cid=$1 desc=$2
    shift 2
    fetch "$cid"
    assert_status 200 "$desc: fetch"
    assert_body "$(fetch_body "$@")" "$desc: fetch answers the $# newest share(s), newest first"
}

# db_rows CID: "kind|backup_method|pair_id|version ; ..." in insertion order.
db_rows() {
    pg_psql "SELECT coalesce(string_agg(kind || '|' || backup_method || '|' || pair_id || '|' || version, ' ; ' ORDER BY id), 'none')
             FROM share_record WHERE client_id = :'cid'" "cid=$1" 2>&1
}
identities() {
    pg_psql "SELECT count(*) FROM (SELECT DISTINCT kind, backup_method, pair_id FROM share_record WHERE client_id = :'cid') i" "cid=$1" 2>&1
}

metric() {  # metric NAME: its value in a fresh scrape, or 0
    local b
    b=$(curl -s --max-time 10 "http://127.0.0.1:$NGINX_PORT/metrics")
    awk -v m="$1" '$1 == m { print $2; found = 1 } END { if (!found) print 0 }' <<<"$b"
}

# AUDIT FIELDS of the request with X-Request-Id $1.
audit_of() {
    pg_psql "SELECT coalesce(string_agg(endpoint || '|' || coalesce(client_id, 'NULL') || '|' || result || '|'
               || coalesce(version::text, 'NULL') || '|' || coalesce(backup_method, 'NULL') || '|'
               || coalesce(served::text, 'NULL'), ' ; '), 'no row')
             FROM audit_event WHERE request_id = :'rid'" "rid=$1" 2>&1
}

# ============================================================================
# 1. X-Webhook-Secret: the only credential, in any letter case
# ============================================================================
SEC=$SK_WEBHOOK_SECRET
require "the test secret is 43 characters, as Portal's" test "${#SEC}" -eq 43
new_share s0 "pair-auth-$(rand_token 8)" SECP256K1
REQ_AUTH=0 req POST /webhook/backup "$(body_json clientId portal-auth share "$s0" backupMethod PASSWORD-SECP256K1)"
assert_error 401 "backup without X-Webhook-Secret"
REQ_AUTH=0 req POST /webhook/backup "$(body_json clientId portal-auth share "$s0" backupMethod PASSWORD-SECP256K1)" \
    -H "X-Webhook-Secret: $(rand_token 43)"
assert_error 401 "backup with a wrong secret"
REQ_AUTH=0 req POST /webhook/backup "$(body_json clientId portal-auth share "$s0" backupMethod PASSWORD-SECP256K1)" \
    -H "X-Webhook-Secret: ${SEC:0:42}"
assert_error 401 "backup with the secret less its last character"
assert_eq none "$(db_rows portal-auth)" "refused backups stored nothing"

REQ_AUTH=0 req POST /webhook/backup "$(body_json clientId portal-auth share "$s0" backupMethod PASSWORD-SECP256K1)" \
    -H "X-WEBHOOK-SECRET: $SEC"
assert_status 200 "backup with the header spelled X-WEBHOOK-SECRET (Portal's alert docs)"
assert_body "$(stored_body 1 true)" "backup answer"
REQ_AUTH=0 req POST /webhook/backup/fetch "$(json clientId portal-auth)" -H "x-webhook-secret: $SEC"
assert_status 200 "fetch with the header spelled x-webhook-secret"
assert_body "$(fetch_body "$s0")" "fetch answer"
REQ_AUTH=0 req POST /webhook/backup/fetch "$(json clientId portal-auth)"
assert_error 401 "fetch without X-Webhook-Secret"
not_revealed "fetch without X-Webhook-Secret" "${s0:40:60}"
REQ_AUTH=0 req POST /webhook/backup/fetch "$(json clientId portal-auth)" -H "X-Webhook-Secret: $(rand_token 43)"
assert_error 401 "fetch with a wrong secret"
not_revealed "fetch with a wrong secret" "${s0:40:60}"
REQ_AUTH=0 req POST /webhook/backup/fetch "$(json clientId portal-auth)" -H "Authorization: Bearer $SEC"
assert_error 401 "the secret in another header is not a credential"
REQ_AUTH=0 req POST /webhook/backup/fetch "$(json clientId portal-auth)" -H "X-Webhook-Secret: $SEC$SEC"
assert_error 401 "the secret twice over"
assert_eq "1|PASSWORD-SECP256K1|$(jq -r .backupSharePairId <<<"$s0")|1" "$(db_rows portal-auth)" \
    "one row: custodian, PASSWORD-SECP256K1, the share's own pair id, version 1"

# ============================================================================
# 2. One user, two methods x two curves, each backup followed by the
#    validation fetch Portal makes at once.
# ============================================================================
CID=portal-u1
methods=(PASSWORD-SECP256K1 PASSWORD-ED25519 GDRIVE-SECP256K1 GDRIVE-ED25519)
declare -a S P
seen=()
expect_rows=""
for i in 0 1 2 3; do
    m=${methods[$i]}
    P[$i]=cm$(rand_token 23 | tr 'A-Z' 'a-z')
    new_share "S[$i]" "${P[$i]}" "${m#*-}"
    backup "$CID" "${S[$i]}" "$m"
    assert_status 200 "backup $((i + 1)): $m"
    assert_body "$(stored_body 1 true)" "backup $((i + 1)): first version of $m"
    seen=("${S[$i]}" "${seen[@]}")
    assert_fetch "$CID" "validation fetch after backup $((i + 1)) ($m)" "${seen[@]}"
    expect_rows+="${expect_rows:+ ; }1|$m|${P[$i]}|1"
    assert_eq "$expect_rows" "$(db_rows "$CID")" "rows after backup $((i + 1)): one per identity, pair id read from the share"
done
assert_header Content-Type '^application/json' "the fetch answers JSON"
require "every share is a few KB ($(for s in "${S[@]}"; do printf '%s ' "${#s}"; done)bytes)" \
    bash -c 'for n; do [ "$n" -ge 3000 ] || exit 1; done' _ "${#S[0]}" "${#S[1]}" "${#S[2]}" "${#S[3]}"
jq -e --arg a "${S[3]}" --arg b "${S[2]}" --arg c "${S[1]}" --arg d "${S[0]}" \
    '. == {backupShares: [$a, $b, $c, $d], backupShare: $a} and (keys == ["backupShare", "backupShares"])' \
    "$RESP_BODY" >/dev/null
check "decoded, the fetch is exactly {backupShares: [4 shares], backupShare: newest}" test $? -eq 0

# audit of a fetch that served several shares: no single method, served = 4
rid=portal-$(rand_token 12)
fetch_rid() { req POST /webhook/backup/fetch "$(json clientId "$1")" -H "X-Request-Id: $rid"; }
fetch_rid "$CID"
assert_status 200 "fetch with an X-Request-Id"
assert_sql "SELECT count(*) || '|' || string_agg(endpoint || '|' || client_id || '|' || result || '|' || coalesce(backup_method, 'NULL') || '|' || coalesce(served::text, 'NULL'), '')
            FROM audit_event WHERE request_id = :'rid'" "1|custodian.fetch|$CID|200|NULL|4" \
    "audit: one custodian.fetch row, backup_method NULL (several served), served 4" "rid=$rid"

# -- a re-backup of one method: a new version of that identity ----------------------
S1B=$(jq -c --arg sh "$(hexrand 3000)" '.share = $sh' <<<"${S[0]}")
PROBES+=("$(jq -r .share <<<"$S1B" | cut -c 100-147)")
backup "$CID" "$S1B" PASSWORD-SECP256K1
assert_status 200 "re-backup of PASSWORD-SECP256K1 (same pair id, new key material)"
assert_body "$(stored_body 2 true)" "re-backup is version 2 of that identity"
assert_fetch "$CID" "validation fetch after the re-backup" "$S1B" "${S[3]}" "${S[2]}" "${S[1]}"
assert_eq "$expect_rows ; 1|PASSWORD-SECP256K1|${P[0]}|2" "$(db_rows "$CID")" \
    "the old version stays in the database, the new one is version 2"
assert_eq 4 "$(identities "$CID")" "still four identities"

# -- an identical retry adds nothing --------------------------------------------------
backup "$CID" "$S1B" PASSWORD-SECP256K1
assert_status 200 "identical retry of the re-backup"
assert_body "$(stored_body 2 false)" "identical retry: version 2, created false"
backup "$CID" "${S[2]}" GDRIVE-SECP256K1
assert_status 200 "identical retry of an older identity's newest share"
assert_body "$(stored_body 1 false)" "identical retry of GDRIVE-SECP256K1: version 1, created false"
assert_eq 5 "$(rows "client_id = '$CID'")" "retries added no row"
assert_fetch "$CID" "fetch after the retries (order unchanged)" "$S1B" "${S[3]}" "${S[2]}" "${S[1]}"

# ============================================================================
# 3. backupSharePairId: top level first, else inside the share
# ============================================================================
CID=portal-pair
new_share sa inner-a SECP256K1 1000
backup "$CID" "$sa" PASSWORD-SECP256K1 top-a
assert_status 200 "backup with a top-level backupSharePairId (and another one inside the share)"
new_share sb inner-b SECP256K1 1000
backup "$CID" "$sb" PASSWORD-SECP256K1
assert_status 200 "backup whose pair id is only inside the share"
assert_body "$(stored_body 1 true)" "another pair id under the same method is a new identity (version 1)"
sc="opaque-$(rand_token 200)"
PROBES+=("${sc:7:48}")
backup "$CID" "$sc" PASSWORD-SECP256K1
assert_status 200 "backup of a share that is not JSON"
new_share sd inner-d SECP256K1 1000
req POST /webhook/backup "$(body_json clientId "$CID" share "$sd" backupMethod PASSWORD-SECP256K1 --raw backupSharePairId null)"
assert_status 200 "a top-level backupSharePairId null counts as absent"
assert_eq "1|PASSWORD-SECP256K1|top-a|1 ; 1|PASSWORD-SECP256K1|inner-b|1 ; 1|PASSWORD-SECP256K1||1 ; 1|PASSWORD-SECP256K1|inner-d|1" \
    "$(db_rows "$CID")" "pair ids: top-level wins, else the share's, else none (''); four identities"
assert_fetch "$CID" "two (here four) pair ids under one method are all served" "$sd" "$sc" "$sb" "$sa"
new_share sa2 inner-a SECP256K1 1000
backup "$CID" "$sa2" PASSWORD-SECP256K1 top-a
assert_body "$(stored_body 2 true)" "a new share under top-level pair id top-a is version 2 of that identity"
assert_fetch "$CID" "the new top-a share replaces the old one in the answer" "$sa2" "$sd" "$sc" "$sb"

# what inside the share is not a pair id
CID=portal-pairedge
edge_shares=(
    '{"backupSharePairId":"","share":"e1"}'
    '{"backupSharePairId":null,"share":"e2"}'
    '{"backupSharePairId":5,"share":"e3"}'
    '{"backupSharePairId":{"id":"x"},"share":"e4"}'
    '["backupSharePairId","e5"]'
    '{"nested":{"backupSharePairId":"e6"}}'
    '"backupSharePairId"'
    '{"backupSharePairId":"e8" trailing garbage'
)
for s in "${edge_shares[@]}"; do
    backup "$CID" "$s" CUSTOM
    assert_status 200 "share ${s:0:50}: stored"
done
assert_eq "$(for v in 1 2 3 4 5 6 7 8; do printf '%s1|CUSTOM||%s' "$([ "$v" = 1 ] || echo ' ; ')" "$v"; done)" \
    "$(db_rows "$CID")" "none of those is a pair id: one identity (CUSTOM, none), versions 1-8"
deep='{"backupSharePairId":"deep-1","a":'$(printf '%*s' 100 '' | tr ' ' '[')$(printf '%*s' 100 '' | tr ' ' ']')'}'
backup "$CID" "$deep" DEEP
assert_status 200 "a share nested 100 deep is stored (its parse for a pair id does not fail the backup)"
assert_fetch "$CID" "it comes back byte for byte" "$deep" "${edge_shares[7]}"
p128=$(rand_token 128)
backup "$CID" '{"backupShare\u0050airId":"esc-1","share":"e9"}' ESC
assert_status 200 "a share whose member name is escaped"
backup "$CID" "{\"backupSharePairId\":\"$p128\"}" INNER128
assert_status 200 "a 128-character pair id inside the share"
backup "$CID" "top-128-$(rand_token 20)" TOP128 "$p128"
assert_status 200 "a 128-character top-level pair id"
assert_sql "SELECT string_agg(backup_method || '=' || pair_id, ' ' ORDER BY id) FROM share_record WHERE client_id = :'cid' AND backup_method IN ('ESC', 'INNER128', 'TOP128')" \
    "ESC=esc-1 INNER128=$p128 TOP128=$p128" "escaped member name decoded; 128-character pair ids kept whole" "cid=$CID"

# ============================================================================
# 4. Legacy backups (no backupMethod) and a legacy client that upgrades
# ============================================================================
CID=portal-legacy
l1='{"share":"'$(hexrand 2000)'","backupSharePairId":null}'
PROBES+=("${l1:200:48}")
backup "$CID" "$l1"
assert_status 200 "legacy backup without backupMethod"
assert_body "$(stored_body 1 true)" "legacy backup answer"
assert_fetch "$CID" "legacy fetch" "$l1"
assert_jq '.backupShare == .backupShares[0] and (.backupShares | length) == 1' \
    "a legacy SDK finds backupShare, a new one backupShares"
l2='{"share":"'$(hexrand 2000)'"}'
PROBES+=("${l2:200:48}")
req POST /webhook/backup "$(body_json clientId "$CID" share "$l2" --raw backupMethod null)"
assert_status 200 "legacy backup with backupMethod null"
assert_body "$(stored_body 2 true)" "backupMethod null is UNKNOWN: version 2 of the legacy identity"
backup "$CID" "$l2" UNKNOWN
assert_body "$(stored_body 2 false)" "backupMethod \"UNKNOWN\" is the same identity: identical retry"
assert_fetch "$CID" "legacy fetch after a second legacy backup" "$l2"
assert_eq "1|UNKNOWN||1 ; 1|UNKNOWN||2" "$(db_rows "$CID")" "legacy rows: UNKNOWN, no pair id, versions 1 and 2"

CID=portal-upgrade
u0='{"share":"'$(hexrand 2000)'"}'
PROBES+=("${u0:200:48}")
backup "$CID" "$u0"
assert_status 200 "upgrade: the legacy backup"
assert_fetch "$CID" "upgrade: legacy validation fetch" "$u0"
pu1=cm$(rand_token 23)
new_share u1 "$pu1" SECP256K1
backup "$CID" "$u1" PASSWORD-SECP256K1
assert_body "$(stored_body 1 true)" "upgrade: the first multi-backup share"
assert_fetch "$CID" "upgrade: the legacy share is still served beside the new one" "$u1" "$u0"
pu2=cm$(rand_token 23)
new_share u2 "$pu2" ED25519
backup "$CID" "$u2" PASSWORD-ED25519
assert_fetch "$CID" "upgrade: after the second curve" "$u2" "$u1" "$u0"
assert_eq "1|UNKNOWN||1 ; 1|PASSWORD-SECP256K1|$pu1|1 ; 1|PASSWORD-ED25519|$pu2|1" "$(db_rows "$CID")" \
    "upgrade: rows UNKNOWN + the two new identities"

# ============================================================================
# 5. Bad identities: 422, nothing stored
# ============================================================================
CID=portal-bad
new_share good_share pair-bad SECP256K1 200
m65=$(rand_token 65)
bad422() {  # bad422 DESC BODY
    req POST /webhook/backup "$2"
    assert_error 422 "$1"
    assert_json .error.code invalid_field "$1: code invalid_field"
}
bad422 "backupMethod a number" "$(body_json clientId $CID share "$good_share" --raw backupMethod 5)"
bad422 "backupMethod an object" "$(body_json clientId $CID share "$good_share" --raw backupMethod '{"a":"PASSWORD"}')"
bad422 "backupMethod an array" "$(body_json clientId $CID share "$good_share" --raw backupMethod '["PASSWORD"]')"
bad422 "backupMethod true" "$(body_json clientId $CID share "$good_share" --raw backupMethod true)"
bad422 "backupMethod \"\"" "$(body_json clientId $CID share "$good_share" backupMethod "")"
bad422 "backupMethod of 65 characters" "$(body_json clientId $CID share "$good_share" backupMethod "$m65")"
bad422 "backupMethod with a control character (\\u0001)" '{"clientId":"'$CID'","share":"x","backupMethod":"PASS\u0001WORD"}'
bad422 "backupMethod with a tab" '{"clientId":"'$CID'","share":"x","backupMethod":"PASS\tWORD"}'
bad422 "backupMethod with DEL (\\u007f)" '{"clientId":"'$CID'","share":"x","backupMethod":"PASSWORD\u007f"}'
bad422 "backupMethod not ASCII" "$(body_json clientId $CID share "$good_share" backupMethod "PASSWORDé")"
bad422 "top-level backupSharePairId of 129 characters" \
    "$(body_json clientId $CID share "$good_share" backupMethod PASSWORD backupSharePairId "$(rand_token 129)")"
bad422 "top-level backupSharePairId \"\"" "$(body_json clientId $CID share "$good_share" backupMethod PASSWORD backupSharePairId "")"
bad422 "top-level backupSharePairId a number" "$(body_json clientId $CID share "$good_share" backupMethod PASSWORD --raw backupSharePairId 7)"
bad422 "top-level backupSharePairId with a control character" \
    '{"clientId":"'$CID'","share":"x","backupMethod":"PASSWORD","backupSharePairId":"a\u0002b"}'
bad422 "backupSharePairId of 129 characters inside the share" \
    "$(body_json clientId $CID share "{\"backupSharePairId\":\"$(rand_token 129)\",\"share\":\"x\"}" backupMethod PASSWORD)"
bad422 "backupSharePairId with a control character inside the share" \
    "$(body_json clientId $CID share '{"backupSharePairId":"a\u0001b","share":"x"}' backupMethod PASSWORD)"
assert_eq none "$(db_rows "$CID")" "no bad identity stored anything"

# ============================================================================
# 6. What is accepted: absent/null method, 64 characters, any printable
#    ASCII, extra fields
# ============================================================================
CID=portal-ok
m64=CUSTOM-$(rand_token 57)
mpunct=' !"#$%&'"'"'()*+,-./09:;<=>?@AZ[\]^_`az{|}~'
new_share k1 ok-1 SECP256K1 300
new_share k2 ok-2 SECP256K1 300
new_share k3 ok-3 SECP256K1 300
backup "$CID" "$k1" "$m64"
assert_status 200 "a 64-character backupMethod"
backup "$CID" "$k2" "$mpunct"
assert_status 200 "a backupMethod of every kind of printable ASCII (space, quotes, backslash)"
req POST /webhook/backup "$(jq -nc --arg c "$CID" --arg s "$k3" \
    '{clientId: $c, share: $s, backupMethod: "PASSKEY-SECP256K1", futureField: 1, nested: {a: [1, "x"]}, backupShares: ["not me"], share2: "x"}')"
assert_status 200 "unknown extra fields in the body are ignored"
assert_body "$(stored_body 1 true)" "extra fields: stored as version 1"
assert_sql "SELECT string_agg(backup_method, '|' ORDER BY id) FROM share_record WHERE client_id = :'cid'" \
    "$m64|$mpunct|PASSKEY-SECP256K1" "the methods are stored exactly as given" "cid=$CID"
assert_fetch "$CID" "accepted methods" "$k3" "$k2" "$k1"

# ============================================================================
# 7. Webhook-Id means nothing in shared-secret mode
# ============================================================================
CID=portal-wid
wid=msg_$(rand_token 296)
assert_eq 300 "${#wid}" "built a 300-byte Webhook-Id"
new_share w1 wid-1 SECP256K1 300
new_share w2 wid-1 SECP256K1 300
EXTRA_CURL=(-H "Webhook-Id: $wid")
backup "$CID" "$w1" PASSWORD-SECP256K1
assert_status 200 "a 300-byte Webhook-Id is ignored"
assert_body "$(stored_body 1 true)" "stored as version 1"
backup "$CID" "$w2" PASSWORD-SECP256K1
assert_status 200 "the same Webhook-Id with another body is no replay in this mode"
assert_body "$(stored_body 2 true)" "stored as version 2"
EXTRA_CURL=(-H "Webhook-Id: a b/c;d" -H "Webhook-Timestamp: 1" -H "Webhook-Signature: v1,garbage")
fetch "$CID"
assert_status 200 "a malformed Webhook-Id and stale signature headers are ignored"
assert_body "$(fetch_body "$w2")" "fetch with ignored headers"
EXTRA_CURL=()
assert_sql "SELECT count(*) FROM webhook_delivery" 0 "shared-secret mode records no delivery ids"

# ============================================================================
# 8. The client (encrypted user) share, per method
# ============================================================================
CID=portal-c1
cput() { req POST "/portal/clients/$1/backup" "$2"; }
cget() { req GET "/portal/clients/$1/backup$2"; }
cbody() { jq -cn --arg m "$1" --arg s "$2" '{backupMethod: $m, backupShare: $s, cipherText: $s}'; }
cbody_all() {
    local m=$1 s=$2
    shift 2
    jq -cn --arg m "$m" --arg s "$s" '{backupMethod: $m, backupShare: $s, cipherText: $s, backupMethods: $ARGS.positional}' --args "$@"
}
cp1="U2FsdGVkX1$(rand_token 160)"
ck1="U2FsdGVkX1$(rand_token 160)"
cl="legacy-$(rand_token 160)"
cp2="U2FsdGVkX1$(rand_token 160)"
PROBES+=("${cp1:20:48}" "${ck1:20:48}" "${cl:20:48}" "${cp2:20:48}")

cget "$CID" "?backupMethod=PASSWORD"
assert_error 404 "client share: nothing stored yet"
cput "$CID" "$(body_json backupMethod PASSWORD cipherText "$cp1")"
assert_status 200 "store the PASSWORD ciphertext as {backupMethod, cipherText}"
assert_body "$(stored_body 1 true)" "PASSWORD: version 1"
cput "$CID" "$(body_json backupMethod PASSKEY backupShare "$ck1")"
assert_status 200 "store the PASSKEY ciphertext as {backupMethod, backupShare}"
assert_body "$(stored_body 1 true)" "PASSKEY: version 1 of its own identity"
cget "$CID" "?backupMethod=PASSWORD"
assert_status 200 "recover PASSWORD"
assert_body "$(cbody PASSWORD "$cp1")" "?backupMethod=PASSWORD answers PASSWORD's ciphertext"
cget "$CID" "?backupMethod=PASSKEY"
assert_body "$(cbody PASSKEY "$ck1")" "?backupMethod=PASSKEY answers PASSKEY's ciphertext"
cget "$CID" "?backupMethod=GDRIVE"
assert_error 404 "?backupMethod=GDRIVE with no GDRIVE and no legacy share"
not_revealed "GDRIVE 404" "$cp1"
cget "$CID" ""
assert_status 200 "no backupMethod: the newest share of any method"
assert_body "$(cbody_all PASSKEY "$ck1" PASSKEY PASSWORD)" "no query: PASSKEY (newest) and the list of methods"

cput "$CID" "$(body_json backupShare "$cl")"
assert_status 200 "a legacy client share (no backupMethod)"
assert_body "$(stored_body 1 true)" "legacy client share: version 1 of UNKNOWN"
rid=portal-$(rand_token 12)
req GET "/portal/clients/$CID/backup?backupMethod=GDRIVE" -- -H "X-Request-Id: $rid"
assert_status 200 "?backupMethod=GDRIVE falls back to the legacy share"
assert_body "$(cbody UNKNOWN "$cl")" "the fallback says backupMethod UNKNOWN"
assert_eq "client.fetch|$CID|200|1|UNKNOWN|1" "$(audit_of "$rid")" "audit: the fallback served one share, UNKNOWN version 1"
cget "$CID" "?backupMethod=PASSWORD"
assert_body "$(cbody PASSWORD "$cp1")" "a method with its own share never falls back"
cget "$CID" "?backupMethod=UNKNOWN"
assert_body "$(cbody UNKNOWN "$cl")" "?backupMethod=UNKNOWN asks for the legacy share itself"
cput "$CID" "$(body_json backupMethod PASSWORD cipherText "$cp2")"
assert_body "$(stored_body 2 true)" "a new PASSWORD ciphertext is version 2 of PASSWORD"
cget "$CID" "?backupMethod=PASSWORD"
assert_body "$(cbody PASSWORD "$cp2")" "PASSWORD: the newest version"
cget "$CID" ""
assert_body "$(cbody_all PASSWORD "$cp2" PASSWORD UNKNOWN PASSKEY)" "no query: PASSWORD now, methods newest first"
cget "$CID" "?"
assert_body "$(cbody_all PASSWORD "$cp2" PASSWORD UNKNOWN PASSKEY)" "an empty query string is no parameter"
cput "$CID" "$(body_json backupMethod PASSWORD backupShare "$cp2")"
assert_body "$(stored_body 2 false)" "the same ciphertext in the other field form is an identical retry"
assert_eq "2|PASSWORD||1 ; 2|PASSKEY||1 ; 2|UNKNOWN||1 ; 2|PASSWORD||2" "$(db_rows "$CID")" \
    "client rows: kind 2, per method, no pair id"

# store: exactly one of backupShare / cipherText, a valid method
crows=$(rows "client_id = '$CID'")
for b in \
    "$(body_json backupMethod PASSWORD backupShare x cipherText y)" \
    "$(body_json backupMethod PASSWORD backupShare x cipherText x)" \
    "$(body_json backupMethod PASSWORD)" \
    '{}' \
    "$(body_json backupMethod PASSWORD --raw cipherText 5)" \
    "$(body_json backupMethod PASSWORD cipherText "")" \
    "$(body_json backupMethod PASSWORD --raw cipherText null)" \
    "$(body_json backupMethod "" cipherText x)" \
    "$(body_json backupMethod "$m65" cipherText x)" \
    "$(body_json --raw backupMethod 1 cipherText x)" \
    '{"backupMethod":"PASS\u0001WORD","cipherText":"x"}'; do
    cput "$CID" "$b"
    assert_error 422 "client store ${b:0:70}"
done
assert_eq "$crows" "$(rows "client_id = '$CID'")" "no refused client store added a row"

# the query string, parsed strictly
q400() {
    cget "$CID" "$1"
    assert_error 400 "query '$1'"
    assert_json .error.code invalid_query "query '$1': code invalid_query"
    not_revealed "query '$1'" "$cp2"
}
q400 "?foo=1"
q400 "?backupMethod=PASSWORD&foo=1"
q400 "?backupMethod=PASSWORD&backupMethod=PASSKEY"
q400 "?backupMethod=PASSWORD&backupMethod=PASSWORD"
q400 "?backupMethod=%zz"
q400 "?backupMethod=PASS%4"
q400 "?backupMethod=%"
q400 "?backupmethod=PASSWORD"
cget "$CID" "?backupMethod=PASS%4BEY"
assert_body "$(cbody PASSKEY "$ck1")" "?backupMethod=PASS%4BEY decodes to PASSKEY"
cget "$CID" "?backupMethod=PASS%4bEY"
assert_body "$(cbody PASSKEY "$ck1")" "lower-case hex decodes too"
cget "$CID" "?backupMethod=PASS+KEY"
assert_body "$(cbody UNKNOWN "$cl")" "'+' is a space: 'PASS KEY' has no share, the legacy one is served"
cget "$CID" "?backupMethod="
assert_error 422 "?backupMethod= (empty)"
assert_json .error.code invalid_field "?backupMethod=: code invalid_field"
cget "$CID" "?backupMethod=$m65"
assert_error 422 "?backupMethod= 65 characters"
cget "$CID" "?backupMethod=PASS%01WORD"
assert_error 422 "?backupMethod= with a control character after decoding"

# ============================================================================
# 9. The fetch is bounded: count and bytes, newest always served
# ============================================================================
CID=portal-many
M=()
for i in 1 2 3 4 5; do
    M[$i]="m$i-$(rand_token 397)"
    PROBES+=("${M[$i]:4:48}")
    backup "$CID" "${M[$i]}" "METHOD-$i"
    assert_status 200 "bound: backup $i of 5 (400 bytes)"
done
assert_fetch "$CID" "bound: the defaults serve all five" "${M[5]}" "${M[4]}" "${M[3]}" "${M[2]}" "${M[1]}"
sk_stop || not_ok "sharekeep did not stop cleanly"
mark=$(wc -l <"$SK_LOG")
sk_start SHAREKEEP_FETCH_MAX_SHARES=3
trunc0=$(metric sharekeep_fetch_truncated_total)
assert_fetch "$CID" "fetch_max_shares = 3" "${M[5]}" "${M[4]}" "${M[3]}"
# warned SINCE N DESC: a warn line after line SINCE of the log says N
# identities were dropped
warned() {
    check "$3" bash -c "tail -n +$1 '$SK_LOG' | grep 'level=warn' | grep -qE 'dropped=$2( |\$)'"
}
warned "$mark" 2 "a warn line says 2 shares were dropped"
log "$(tail -n +"$mark" "$SK_LOG" | grep 'level=warn' | grep 'dropped=' | head -n 1)"
assert_eq "$((trunc0 + 1))" "$(metric sharekeep_fetch_truncated_total)" "sharekeep_fetch_truncated_total counts it"
assert_fetch portal-auth "fetch_max_shares = 3: a client with one share is unaffected" "$s0"
sk_stop || not_ok "sharekeep did not stop cleanly"
mark=$(wc -l <"$SK_LOG")
sk_start SHAREKEEP_FETCH_MAX_BYTES=1024
assert_fetch "$CID" "fetch_max_bytes = 1024: two 400-byte shares fit, three do not" "${M[5]}" "${M[4]}"
warned "$mark" 3 "a warn line says 3 shares were dropped"
m6="m6-$(rand_token 1997)"
PROBES+=("${m6:4:48}")
backup "$CID" "$m6" METHOD-6
assert_status 200 "bound: a 2000-byte share, larger than fetch_max_bytes"
assert_fetch "$CID" "fetch_max_bytes = 1024: the newest share is served even when it alone is over" "$m6"
warned "$mark" 5 "a warn line says the 5 older shares were dropped"
check "the bound's log lines hold no share" bash -c "! tail -n +$mark '$SK_LOG' | grep -qF -- '${m6:4:48}'"
sk_stop || not_ok "sharekeep did not stop cleanly"
sk_start
assert_fetch "$CID" "back to the defaults: all six" "$m6" "${M[5]}" "${M[4]}" "${M[3]}" "${M[2]}" "${M[1]}"

# ============================================================================
# 10. The seal binds the identity: a record whose backupMethod or pair id is
#     changed in the database does not open, and the others still do
# ============================================================================
CID=portal-tamper
new_share ta tamper-a SECP256K1 600
new_share tb tamper-b SECP256K1 600
new_share tc tamper-c SECP256K1 600
backup "$CID" "$ta" PASSWORD-SECP256K1
backup "$CID" "$tb" GDRIVE-SECP256K1
backup "$CID" "$tc" ICLOUD-SECP256K1
assert_fetch "$CID" "tamper: before" "$tc" "$tb" "$ta"
out=$(pg_psql "UPDATE share_record SET backup_method = 'PASSKEY-SECP256K1' WHERE client_id = '$CID' AND backup_method = 'GDRIVE-SECP256K1'" 2>&1)
check "even the owner cannot UPDATE backup_method (append-only trigger: $(head -c 120 <<<"$out"))" grep -q 'append-only' <<<"$out"
out=$(pg_psql "UPDATE share_record SET pair_id = 'other' WHERE client_id = '$CID'" 2>&1)
check "even the owner cannot UPDATE pair_id (append-only trigger)" grep -q 'append-only' <<<"$out"
# tamper SQL_SET WHERE: the owner disables the trigger, rewrites, re-enables
tamper() {
    pg_psql "BEGIN;
        ALTER TABLE share_record DISABLE TRIGGER share_record_append_only;
        UPDATE share_record SET $1 WHERE $2;
        ALTER TABLE share_record ENABLE TRIGGER share_record_append_only;
        COMMIT;" >/dev/null 2>"$T/tamper.err" || { cat "$T/tamper.err"; die "tampering failed"; }
}
unopen0=$(metric sharekeep_records_unopenable_total)
mark=$(wc -l <"$SK_LOG")
tamper "backup_method = 'PASSKEY-SECP256K1'" "client_id = '$CID' AND backup_method = 'GDRIVE-SECP256K1'"
assert_eq "1|PASSWORD-SECP256K1|tamper-a|1 ; 1|PASSKEY-SECP256K1|tamper-b|1 ; 1|ICLOUD-SECP256K1|tamper-c|1" \
    "$(db_rows "$CID")" "tamper: the row now claims PASSKEY-SECP256K1"
rid=portal-$(rand_token 12)
fetch_rid "$CID"
assert_status 200 "tamper: the fetch still answers"
assert_body "$(fetch_body "$tc" "$ta")" "tamper: the other shares are served, the tampered one is not"
not_revealed "tamper" "$(jq -r .share <<<"$tb" | cut -c 1-64)"
assert_eq "$((unopen0 + 1))" "$(metric sharekeep_records_unopenable_total)" "tamper: sharekeep_records_unopenable_total counts it"
check "tamper: the incident is logged (warn or error)" \
    bash -c "tail -n +$mark '$SK_LOG' | grep -E 'level=(warn|error)' | grep -qiE 'not open|unopenable'"
assert_sql "SELECT count(*) || '|' || max(result) || '|' || coalesce(max(served)::text, 'NULL') || '|' || coalesce(max(unopened)::text, 'NULL') FROM audit_event WHERE request_id = :'rid'" \
    "1|200|2|1" "tamper: one audit row, 200, served 2, the incident counted (unopened 1)" "rid=$rid"

CID=portal-tamper2
new_share tx tamper-x ED25519 600
new_share ty tamper-y ED25519 600
backup "$CID" "$tx" PASSWORD-ED25519
backup "$CID" "$ty" PASSWORD-ED25519
assert_fetch "$CID" "tamper pair id: before" "$ty" "$tx"
tamper "pair_id = 'tamper-z'" "client_id = '$CID' AND pair_id = 'tamper-x'"
assert_fetch "$CID" "tamper pair id: the record with a changed pair id is not served" "$ty"

CID=portal-tamper-only
new_share tz tamper-only SECP256K1 600
backup "$CID" "$tz" GDRIVE-SECP256K1
assert_fetch "$CID" "tamper only share: before" "$tz"
tamper "backup_method = 'UNKNOWN'" "client_id = '$CID'"
rid=portal-$(rand_token 12)
fetch_rid "$CID"
assert_error 500 "tamper: a client whose only share does not open gets 500"
not_revealed "tamper only share" "$(jq -r .share <<<"$tz" | cut -c 1-64)"
assert_sql "SELECT count(*) || '|' || max(result) || '|' || coalesce(max(unopened)::text, 'NULL') FROM audit_event WHERE request_id = :'rid'" \
    "1|500|1" "tamper only share: one audit row, 500, unopened 1" "rid=$rid"

# ============================================================================
# 11. Nothing secret anywhere it should not be
# ============================================================================
assert_sealed portal-u1 1 "${S[0]}" "custodian share"
assert_sealed portal-c1 2 "$cp1" "client share"
logs=("$SK_LOG" "$T/nginx/access.log" "$T/nginx/error.log")
leaks=0
for p in "${PROBES[@]}"; do
    [ ${#p} -ge 24 ] || continue
    if grep -qF -- "$p" "${logs[@]}" 2>/dev/null; then
        leaks=$((leaks + 1))
        echo "#   share piece ${p:0:8}... found in a log"
    fi
done
assert_eq 0 "$leaks" "no share (${#PROBES[@]} probed) appears in sharekeep's or nginx's logs"
check "the webhook secret appears in no log" bash -c '! grep -qF -- "$1" "${@:2}"' _ "$SEC" "${logs[@]}"
assert_sql "SELECT count(*) FROM audit_event a WHERE strpos(a::text, :'s') > 0" 0 \
    "the webhook secret is in no audit row" "s=$SEC"
check "nginx never buffered a body or response to a temp file" \
    bash -c "! grep -q 'buffered to a temporary file' '$T/nginx/error.log'"
if [ "$SK_KEK_BACKEND" = pkcs11 ]; then
    # Through p11-kit's client the token has no key-wrap mechanism, so every
    # data key was wrapped with RFC 5649 built from the token's AES-ECB:
    # wrap scheme 1 at byte 10 (get_byte counts from 0).
    assert_sql "SELECT count(*) FILTER (WHERE get_byte(envelope, 10) <> 1) || '|' || (count(*) > 0)
                FROM share_record" "0|true" "every record was wrapped by the token (scheme 1)"
    out=$(sk_run SHAREKEEP_ADMIN_DATABASE="$(pg_conninfo sharekeep_owner)" -- -c "$SK_CONF" status 2>&1)
    check "status says the active KEK is in the token" grep -q "active, .* in the PKCS#11 token" <<<"$out"
fi
