#!/bin/bash
# The app's client backup share: POST/GET /portal/clients/{clientId}/backup.
# These bodies carry no backupMethod (the seed guide's form): all of a
# client's shares are one identity, UNKNOWN.  Per-method storage and the
# UNKNOWN fallback are in t_portal.sh.
# This test talks to sharekeep over a unix socket (the production layout);
# the others use loopback TCP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
SK_TRANSPORT=unix
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"

sk_init
sk_setup

put() { req POST "/portal/clients/$1/backup" "$(json backupShare "$2")"; }
get() { req GET "/portal/clients/$1/backup"; }

tok1=$(rand_token 120)
tok2=$(rand_token 120)
b1="enc:v1:$tok1"
b2="enc:v1:$tok2"

# -- store and fetch ----------------------------------------------------------
put client-1 "$b1"
assert_status 200 "store a client backup share"
assert_stored 1 true "store answers {\"ok\":true,\"version\":1,\"created\":true}"
assert_eq "2|1|UNKNOWN|" "$(pg_psql "SELECT kind, version, backup_method, pair_id FROM share_record WHERE client_id = 'client-1'")" \
    "one row: kind 2 (client), version 1, backupMethod UNKNOWN, no pair id"

get client-1
assert_status 200 "get the client backup share"
assert_header Content-Type '^application/json' "get answers JSON"
assert_json .backupShare "$b1" "get returns the exact string stored"
assert_client_got "$b1" "get answers {backupMethod, backupShare, cipherText, backupMethods} exactly"

# -- idempotent retry, new version --------------------------------------------
put client-1 "$b1"
assert_status 200 "identical retry"
assert_stored 1 false "identical retry answers version 1, created false"
assert_eq 1 "$(rows "client_id = 'client-1'")" "identical retry adds no version"

put client-1 "$b2"
assert_status 200 "store a new client share"
assert_stored 2 true "a new share is version 2"
assert_eq "1,2" "$(versions_of client-1 2)" \
    "new share is version 2, version 1 is still there"
get client-1
assert_client_got "$b2" "get returns the newest share"

# A, B, then A again: A is no longer the newest, so it is version 3
put client-1 "$b1"
assert_status 200 "the older share A again after B"
assert_stored 3 true "A after B is version 3, created true"
assert_eq "1,2,3" "$(versions_of client-1 2)" \
    "versions 1, 2 and 3 are all kept"
get client-1
assert_client_got "$b1" "get returns A, the newest (version 3)"
put client-1 "$b1"
assert_stored 3 false "A once more is an identical retry of version 3"
# the cipherText form of the same bytes is the same share
req POST /portal/clients/client-1/backup "$(json cipherText "$b1")"
assert_stored 3 false "the same bytes as {\"cipherText\"} are an identical retry too"
assert_eq 3 "$(rows "client_id = 'client-1'")" "the retries add no version"

# -- unusual shares -----------------------------------------------------------
uni='ünïcødé ✓ 🔐 "quoted" \ back\slash'$'\n''second line'
put client-uni "$uni"
assert_status 200 "store a unicode client share"
get client-uni
assert_client_got "$uni" "unicode client share comes back byte for byte"

big=$(head -c 46080 /dev/urandom | base64 -w0)
put client-big "$big"
assert_status 200 "store a 60 KiB client share"
get client-big
assert_client_got "$big" "60 KiB client share comes back byte for byte"

# the query string is parsed strictly: backupMethod is its only parameter
req GET "/portal/clients/client-1/backup?x=1"
assert_error 400 "get with an unknown query parameter"
assert_json .error.code invalid_query "unknown query parameter: code invalid_query"
not_revealed "the 400" "$tok1"
req GET "/portal/clients/client-1/backup?backupMethod=GDRIVE"
assert_status 200 "get with ?backupMethod=GDRIVE (none stored: the UNKNOWN share)"
jq -cn --arg s "$b1" '{backupMethod: "UNKNOWN", backupShare: $s, cipherText: $s}' | tr -d '\n' >"$T/expected.body"
check "?backupMethod=GDRIVE answers the legacy share exactly, without backupMethods" cmp -s "$T/expected.body" "$RESP_BODY"

# -- unknown client, other kind -----------------------------------------------
get client-nobody
assert_error 404 "get for an unknown client"

req POST /webhook/backup/fetch "$(json clientId client-1)"
assert_error 404 "a client share is not served by the custodian fetch"

# -- at rest --------------------------------------------------------------
assert_sealed client-1 2 "$b1" "version 1"
assert_sealed client-1 2 "$b2" "version 2"
assert_sealed client-uni 2 "$uni" "unicode share"
assert_sealed client-big 2 "$big" "60 KiB share"
assert_eq 0 "$(rows "kind <> 2")" "the portal endpoint only writes client (kind 2) rows"

# nginx (conf/nginx/sharekeep.conf) must keep bodies and responses, i.e.
# plaintext shares, in memory: it warns when it spools either to disk
check "nginx never buffered a body or response to a temp file" \
    bash -c "! grep -q 'buffered to a temporary file' '$T/nginx/error.log'"

# -- restart ----------------------------------------------------------------
if sk_stop; then ok "sharekeep stops cleanly on SIGTERM"; else not_ok "sharekeep stops cleanly on SIGTERM"; fi
if unix_listening "$SK_SOCK" "$_SOCK_BEFORE"; then
    not_ok "something still listens on the unix socket after stop"
else
    ok "nothing listens on the unix socket after stop"
fi
sk_start
get client-1
assert_status 200 "get after restart"
assert_client_got "$b1" "newest share (version 3) after restart"

for s in "$tok1" "$tok2" "${big:0:64}"; do
    assert_absent "share ${s:0:8}... is in no log" "$s" "$SK_LOG" "$T/nginx/access.log" "$T/nginx/error.log"
done
