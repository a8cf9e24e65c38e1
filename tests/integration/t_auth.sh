#!/bin/bash
# Authentication: Portal's webhook calls carry Standard Webhooks signatures
# (webhook-id, webhook-timestamp, webhook-signature); the client share
# endpoints need a Bearer JWT whose "sub" is the clientId.  Anything else
# is refused with a JSON error, stores nothing and reveals no share.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"

sk_init
sk_setup

tok=$(rand_token 64)
share='{"share":"'$tok'"}'
body=$(json clientId auth-1 share "$share")

# webhook_req PATH BODY ID TS SIG: a webhook call with exactly these signature headers
webhook_req() {
    local path=$1 b=$2 id=$3 ts=$4 sig=$5
    REQ_AUTH=0 req POST "$path" "$b" -H "webhook-id: $id" -H "webhook-timestamp: $ts" \
        -H "webhook-signature: $sig"
}
sign_body() { # sign_body ID TS BODY [KEY_HEX]
    printf '%s' "$3" >"$T/sign.body"
    echo "v1,$(webhook_sign "$1" "$2" "$T/sign.body" "${4:-}")"
}

# -- webhook ------------------------------------------------------------------
req POST /webhook/backup "$body"
assert_status 200 "a correctly signed store"

REQ_AUTH=0 req POST /webhook/backup "$(json clientId auth-2 share x)"
assert_error 401 "store without signature headers"

REQ_AUTH=0 req POST /webhook/backup/fetch "$(json clientId auth-1)"
assert_error 401 "fetch without signature headers"
not_revealed "unsigned fetch" "$tok"

now=$(date +%s)
other_key=$(head -c 32 /dev/urandom | od -An -tx1 -v | tr -d ' \n')
fetch_body=$(json clientId auth-1)

webhook_req /webhook/backup/fetch "$fetch_body" msg_wrongkey "$now" "$(sign_body msg_wrongkey "$now" "$fetch_body" "$other_key")"
assert_error 401 "fetch signed with another key"
not_revealed "fetch signed with another key" "$tok"

webhook_req /webhook/backup "$(json clientId auth-2 share tampered)" msg_tamper "$now" \
    "$(sign_body msg_tamper "$now" "$(json clientId auth-2 share original)")"
assert_error 401 "store whose body differs from the signed one"

old=$((now - 3600))
webhook_req /webhook/backup/fetch "$fetch_body" msg_stale "$old" "$(sign_body msg_stale "$old" "$fetch_body")"
assert_error 401 "fetch with a timestamp an hour old"
not_revealed "stale fetch" "$tok"

future=$((now + 3600))
webhook_req /webhook/backup/fetch "$fetch_body" msg_future "$future" "$(sign_body msg_future "$future" "$fetch_body")"
assert_error 401 "fetch with a timestamp an hour ahead"

webhook_req /webhook/backup/fetch "$fetch_body" msg_garbage "$now" "v1,not-base64!!"
assert_error 401 "a signature that is not base64"
not_revealed "garbage signature" "$tok"

# replays: same webhook-id with the same body is a retry, with another body a conflict
id=msg_replay_$(rand_token 8)
s3='{"share":"'$(rand_token 32)'"}'
b3=$(json clientId auth-3 share "$s3")
webhook_req /webhook/backup "$b3" "$id" "$now" "$(sign_body "$id" "$now" "$b3")"
assert_status 200 "first delivery of $id"
webhook_req /webhook/backup "$b3" "$id" "$now" "$(sign_body "$id" "$now" "$b3")"
assert_status 200 "the same delivery again (a retry)"
b4=$(json clientId auth-3 share '{"share":"something else"}')
webhook_req /webhook/backup "$b4" "$id" "$now" "$(sign_body "$id" "$now" "$b4")"
assert_error 409 "the same webhook-id with another body"
assert_eq 1 "$(rows "client_id = 'auth-3'")" "retry and conflicting replay added no version"

assert_eq 0 "$(rows "client_id = 'auth-2'")" "no refused webhook call stored anything"

# -- client endpoints (JWT) -----------------------------------------------------
req POST /portal/clients/auth-c1/backup "$(json backupShare "$share")"
assert_status 200 "client store with a valid token"
req GET /portal/clients/auth-c1/backup
assert_status 200 "client get with a valid token"
assert_client_got "$share" "client get returns the share"

REQ_AUTH=0 req GET /portal/clients/auth-c1/backup
assert_error 401 "client get without a token"
not_revealed "client get without a token" "$tok"

REQ_AUTH=0 req GET /portal/clients/auth-c1/backup -- -H "Authorization: Bearer $(client_token auth-other)"
assert_error 403 "client get with another client's (valid) token"
not_revealed "client get with another client's token" "$tok"

REQ_AUTH=0 req POST /portal/clients/auth-c2/backup "$(json backupShare x)" -H "Authorization: Bearer $(client_token auth-other)"
assert_error 403 "client store with another client's (valid) token"
assert_eq 0 "$(rows "client_id = 'auth-c2'")" "the refused client store stored nothing"

now=$(date +%s)
expired=$(jwt_hs256 "{\"sub\":\"auth-c1\",\"iat\":$((now - 7200)),\"exp\":$((now - 3600))}")
REQ_AUTH=0 req GET /portal/clients/auth-c1/backup -- -H "Authorization: Bearer $expired"
assert_error 401 "client get with an expired token"
not_revealed "expired token" "$tok"

forged=$(jwt_hs256 "{\"sub\":\"auth-c1\",\"exp\":$((now + 300))}" "$(rand_token 48)")
REQ_AUTH=0 req GET /portal/clients/auth-c1/backup -- -H "Authorization: Bearer $forged"
assert_error 401 "client get with a token signed by another secret"
not_revealed "forged token" "$tok"

none_tok=$(printf '%s' '{"alg":"none","typ":"JWT"}' | b64url).$(printf '{"sub":"auth-c1","exp":%s}' "$((now + 300))" | b64url).
REQ_AUTH=0 req GET /portal/clients/auth-c1/backup -- -H "Authorization: Bearer $none_tok"
assert_error 401 'client get with an alg "none" token'
not_revealed "alg none" "$tok"

REQ_AUTH=0 req POST /portal/clients/auth-c2/backup "$(json backupShare x)"
assert_error 401 "client store without a token"
assert_eq 0 "$(rows "client_id = 'auth-c2'")" "no refused client call stored anything"

whsec=$(tail -n1 "$SK_WEBHOOK_SECRETS" | cut -c7-30)
require "the webhook secret file ends in whsec_<key>" test "${#whsec}" -eq 24
for f in "$SK_LOG" "$T/nginx/access.log"; do
    assert_absent "the JWT secret is not in ${f##*/}" "$SK_JWT_SECRET" "$f"
    assert_absent "the webhook key is not in ${f##*/}" "$whsec" "$f"
done
