#!/bin/bash
# Portal's custodian webhook: POST {webhooks_root}/backup stores the share
# sealed, POST {webhooks_root}/backup/fetch returns it byte for byte as
# {"backupShares":[...],"backupShare":"..."}.  These bodies carry no
# backupMethod (the legacy form): every share of a client is one identity
# (UNKNOWN, no pair id), so the fetch answers its newest version.
# t_portal.sh plays Portal's multi-backup sequence.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"

sk_init
sk_setup

store() { req POST /webhook/backup "$(json clientId "$1" share "$2")"; }
fetch() { req POST /webhook/backup/fetch "$(json clientId "$1")"; }

# Portal sends the share as a JSON.stringified string.
tok1=$(rand_token 96)
tok2=$(rand_token 96)
s1='{"share":"'$tok1'","backupMethod":"GDRIVE"}'
s2='{"share":"'$tok2'","backupMethod":"ICLOUD"}'

# -- store and fetch ----------------------------------------------------------
store cust-1 "$s1"
assert_status 200 "store a share"
assert_stored 1 true "store answers {\"ok\":true,\"version\":1,\"created\":true}"
assert_eq 1 "$(rows "client_id = 'cust-1'")" "one row after the first store"
assert_eq "1|1|UNKNOWN|" "$(pg_psql "SELECT kind, version, backup_method, pair_id FROM share_record WHERE client_id = 'cust-1'")" \
    "first row is kind 1 (custodian), version 1, backupMethod UNKNOWN, no pair id"

fetch cust-1
assert_status 200 "fetch the stored share"
assert_header Content-Type '^application/json' "fetch answers JSON"
assert_fetched "$s1" "fetch returns the exact string stored"
assert_json .backupShare "$s1" "backupShare is the stored share"
assert_jq '(.backupShares | length) == 1 and .backupShares[0] == .backupShare and (has("share") | not)' \
    "backupShares holds it alone; no \"share\" key"

# -- idempotent retry -------------------------------------------------------
store cust-1 "$s1"
assert_status 200 "identical retry"
assert_stored 1 false "identical retry answers version 1, created false"
assert_eq 1 "$(rows "client_id = 'cust-1'")" "identical retry adds no version"

# -- a new share is a new version; the old one stays ------------------------
store cust-1 "$s2"
assert_status 200 "store a new share for the same client"
assert_stored 2 true "a new share answers version 2, created true"
assert_eq "1,2" "$(versions_of cust-1 1)" \
    "new share is version 2, version 1 is still there"
fetch cust-1
assert_status 200 "fetch after a new version"
assert_fetched "$s2" "fetch returns the newest share (and only it: same identity)"

store cust-1 "$s2"
assert_status 200 "retry of the newest share"
assert_stored 2 false "retry of the newest share answers version 2, created false"
assert_eq 2 "$(rows "client_id = 'cust-1'")" "retry of the newest share adds no version"

# A, B, then A again: A is no longer the newest, so it is a new version (3)
# that is served from now on -- never "already stored" hiding B's successor.
store cust-1 "$s1"
assert_status 200 "the older share A again after B"
assert_stored 3 true "A after B is version 3, created true"
assert_eq "1,2,3" "$(versions_of cust-1 1)" \
    "versions 1, 2 and 3 are all kept"
fetch cust-1
assert_fetched "$s1" "fetch returns A, the newest (version 3)"
store cust-1 "$s1"
assert_stored 3 false "A once more is now an identical retry of version 3"
assert_eq 3 "$(rows "client_id = 'cust-1'")" "the retry of version 3 adds no version"

# -- unusual shares -----------------------------------------------------------
uni='{"share":"héllo wörld ✓ 🔑 日本語","note":"tab\there \"quoted\" back\\slash\nnewline"}'
store cust-unicode "$uni"
assert_status 200 "store a share with non-ASCII, escapes and control characters"
fetch cust-unicode
assert_status 200 "fetch the unicode share"
assert_fetched "$uni" "unicode share comes back byte for byte"

# 60 KiB: the body (share + JSON framing) stays under max_body = 64 KiB
big=$(head -c 46080 /dev/urandom | base64 -w0)
require "a 60 KiB share" test "${#big}" -eq 61440
store cust-big "$big"
assert_status 200 "store a 60 KiB share"
fetch cust-big
assert_status 200 "fetch the 60 KiB share"
assert_fetched "$big" "60 KiB share comes back byte for byte"

# clientId edge: the longest allowed (128) and every allowed character class
long_id=$(rand_token 124)_-Zz
require "a 128-character clientId" test "${#long_id}" -eq 128
store "$long_id" "$s1"
assert_status 200 "a 128-character clientId is accepted"
fetch "$long_id"
assert_fetched "$s1" "fetch with the 128-character clientId"

# -- unknown client -----------------------------------------------------------
fetch cust-nobody
assert_error 404 "fetch for an unknown client"
assert_eq 0 "$(rows "client_id = 'cust-nobody'")" "a fetch creates no row"

# -- at rest: sealed, never the plaintext -------------------------------------
assert_sealed cust-1 1 "$s1" "version 1"
assert_sealed cust-1 1 "$s2" "version 2"
assert_sql "SELECT count(*) FROM share_record WHERE substring(envelope from 5 for 1) <> '\\x02'::bytea" 0 \
    "every new record is of record format version 2 (byte 4 = 02)"
assert_sealed cust-unicode 1 "$uni" "unicode share"
assert_sealed cust-big 1 "$big" "60 KiB share"
assert_eq 0 "$(rows "kind <> 1")" "the webhook only writes custodian (kind 1) rows"
assert_eq 0 "$(pg_psql "SELECT count(*) FROM (SELECT envelope FROM share_record GROUP BY envelope HAVING count(*) > 1) d")" \
    "no two rows hold the same sealed bytes (fresh data key / nonce per seal)"

# -- the custodian share is not readable through the client (portal) API -----
req GET /portal/clients/cust-1/backup
assert_error 404 "the custodian share is not served as a client share"

# nginx (conf/nginx/sharekeep.conf) must keep bodies and responses, i.e.
# plaintext shares, in memory: it warns when it spools either to disk
check "nginx never buffered a body or response to a temp file" \
    bash -c "! grep -q 'buffered to a temporary file' '$T/nginx/error.log'"

# -- survives a restart (keyring reloaded from disk) --------------------------
if sk_stop; then ok "sharekeep stops cleanly on SIGTERM"; else not_ok "sharekeep stops cleanly on SIGTERM"; fi
sk_start
fetch cust-1
assert_status 200 "fetch after restart"
assert_fetched "$s1" "newest share (version 3) after restart"
fetch cust-big
assert_fetched "$big" "60 KiB share after restart"

# -- logs never hold a share ------------------------------------------------
for s in "$tok1" "$tok2" "${big:0:64}"; do
    assert_absent "share ${s:0:8}... is in no log" "$s" "$SK_LOG" "$T/nginx/access.log" "$T/nginx/error.log"
done
