#!/bin/bash
# The authentication modes t_auth.sh does not cover, each through real
# nginx: webhook_auth = shared-secret (rotation, custom header),
# client_auth = trusted-header (nginx strips the header; the auth_request
# pattern; trusted_peers), webhook_tolerance, jwt_audience / jwt_issuer,
# ES256 keys; start-up refusals for missing or too open secret files; and
# conf/nginx/example-site.conf (nginx -t, then TLS, allow-list, body size
# and rate limit live).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"

sk_init
have openssl || skip "openssl not found"
SNIPPET=$SHAREKEEP_SRCDIR/conf/nginx/sharekeep.conf
SITE=$SHAREKEEP_SRCDIR/conf/nginx/example-site.conf

# reconfigure [key=value ...]: restart sharekeep with the test defaults
# plus these keys (nginx keeps running: same upstream port).
reconfigure() {
    sk_stop || not_ok "sharekeep did not stop cleanly before a restart"
    sk_write_config "$@"
    sk_start
}
# nginx_with INCLUDE [HTTP_EXTRA]: restart nginx serving INCLUDE ("" = the
# shipped snippet) with HTTP_EXTRA in its http block.
nginx_with() {
    nginx_stop
    SK_NGINX_INCLUDE=$1
    SK_NGINX_HTTP_EXTRA=${2:-}
    nginx_start
}
# from_sharekeep DESC / from_nginx DESC: the last response was sharekeep's
# (its X-Request-Id is in one of sharekeep's request log lines), or nginx's
# own (an X-Request-Id sharekeep never logged: nginx's own JSON errors carry
# nginx's $request_id, its HTML pages none).
_sk_logged() { [ -n "$1" ] && wait_for "" 20 grep -qE "msg=\"request\" .*request_id=$1( |\$)" "$SK_LOG"; }
from_sharekeep() {
    check "$1: answered by sharekeep, not by nginx" _sk_logged "$(header X-Request-Id)"
}
from_nginx() {
    check "$1: refused by nginx, not sharekeep" bash -c '! grep -qF "request_id=$1" "$2" || [ -z "$1" ]' _ \
        "$(header X-Request-Id)" "$SK_LOG"
}
hex2bin() {
    if have xxd; then xxd -r -p; else perl -e 'local $/; my $h = <STDIN>; $h =~ s/\s//g; print pack("H*", $h)'; fi
}
now() { date +%s; }

# ======================================================================
# webhook_auth = shared-secret
# ======================================================================
sec1=$(rand_token 40)
sec2=$(rand_token 40)
sec3=$(rand_token 40)
SHARED=$T/sk/shared-secrets
(umask 077; printf '# shared webhook secret\n%s\n' "$sec1" >"$SHARED")
pg_start
sk_keygen
sk_write_config webhook_auth=shared-secret webhook_secrets="$SHARED"
sk_migrate
sk_start
nginx_start

tok=$(rand_token 64)
share='{"share":"'$tok'"}'
# spost PATH BODY [curl args...]: a webhook POST without signature headers
spost() { local p=$1 b=$2; shift 2; REQ_AUTH=0 req POST "$p" "$b" "$@"; }

spost /webhook/backup "$(json clientId sh-1 share "$share")" -H "X-Webhook-Secret: $sec1"
assert_status 200 "shared-secret: store with the right secret"
spost /webhook/backup/fetch "$(json clientId sh-1)" -H "X-Webhook-Secret: $sec1"
assert_status 200 "shared-secret: fetch with the right secret"
assert_fetched "$share" "shared-secret: fetch returns the share"

b2=$(json clientId sh-2 share "$share")
# refused_store DESC [curl args...]: a store with these headers gets 401
refused_store() {
    local desc=$1
    shift
    spost /webhook/backup "$b2" "$@"
    assert_error 401 "shared-secret: $desc"
}
refused_store "store without the header"
refused_store "store with a wrong secret" -H "X-Webhook-Secret: $sec2"
refused_store "store with a prefix of the secret" -H "X-Webhook-Secret: ${sec1:0:20}"
refused_store "store with the secret plus one character" -H "X-Webhook-Secret: ${sec1}x"
refused_store "store with an empty header" -H "X-Webhook-Secret:"
refused_store "the secret in another header" -H "Authorization: Bearer $sec1"
req POST /webhook/backup "$b2"
assert_error 401 "shared-secret: a Standard Webhooks signature is not accepted in this mode"
spost /webhook/backup/fetch "$(json clientId sh-1)" -H "X-Webhook-Secret: $sec2"
assert_error 401 "shared-secret: fetch with a wrong secret"
not_revealed "shared-secret: fetch with a wrong secret" "$tok"
assert_eq 0 "$(rows "client_id = 'sh-2'")" "shared-secret: no refused call stored anything"

# rotation: old and new secret listed, both work; then the old one is dropped
(umask 077; printf '# rotating\n%s\n\n%s\n' "$sec1" "$sec2" >"$SHARED")
reconfigure webhook_auth=shared-secret webhook_secrets="$SHARED"
spost /webhook/backup "$(json clientId sh-3 share a-share-one)" -H "X-Webhook-Secret: $sec1"
assert_status 200 "rotation: the old secret still works"
spost /webhook/backup "$(json clientId sh-3 share a-share-two)" -H "X-Webhook-Secret: $sec2"
assert_status 200 "rotation: the new secret works"
spost /webhook/backup "$(json clientId sh-3 share a-share-three)" -H "X-Webhook-Secret: $sec3"
assert_error 401 "rotation: a third, unlisted secret does not"
assert_eq 2 "$(rows "client_id = 'sh-3'")" "rotation: two versions stored"
(umask 077; printf '%s\n' "$sec2" >"$SHARED")
reconfigure webhook_auth=shared-secret webhook_secrets="$SHARED"
spost /webhook/backup/fetch "$(json clientId sh-3)" -H "X-Webhook-Secret: $sec1"
assert_error 401 "rotation done: the old secret is refused"
spost /webhook/backup/fetch "$(json clientId sh-3)" -H "X-Webhook-Secret: $sec2"
assert_status 200 "rotation done: the new secret works"
assert_eq '{"backupShares":["a-share-two"],"backupShare":"a-share-two"}' "$BODY" "rotation done: newest share"

# webhook_secret_header names the header
reconfigure webhook_auth=shared-secret webhook_secrets="$SHARED" webhook_secret_header=X-Portal-Token
spost /webhook/backup/fetch "$(json clientId sh-3)" -H "X-Portal-Token: $sec2"
assert_status 200 "webhook_secret_header = X-Portal-Token: the secret in X-Portal-Token"
spost /webhook/backup/fetch "$(json clientId sh-3)" -H "X-Webhook-Secret: $sec2"
assert_error 401 "webhook_secret_header = X-Portal-Token: X-Webhook-Secret is no longer read"

# a config without webhook_auth: shared-secret with X-Webhook-Secret is the
# default (what Portal sends), Standard Webhooks signatures are not accepted
reconfigure webhook_secrets="$SHARED"
sed -i '/^webhook_auth *=/d' "$SK_CONF"
require "the config names no webhook_auth" bash -c "! grep -q '^webhook_auth' '$SK_CONF'"
out=$(sk_run -- -c "$SK_CONF" check 2>&1)
assert_eq 0 "$?" "check accepts a config without webhook_auth ($(head -c 100 <<<"$out"))"
sk_stop || not_ok "sharekeep did not stop cleanly before a restart"
sk_start
spost /webhook/backup "$(json clientId sh-4 share default-mode-share)" -H "X-Webhook-Secret: $sec2"
assert_status 200 "default webhook_auth: a store with X-Webhook-Secret"
spost /webhook/backup/fetch "$(json clientId sh-4)" -H "x-webhook-secret: $sec2"
assert_eq '{"backupShares":["default-mode-share"],"backupShare":"default-mode-share"}' "$BODY" \
    "default webhook_auth: fetch with the header in lower case"
spost /webhook/backup/fetch "$(json clientId sh-4)" -H "X-Webhook-Secret: $sec1"
assert_error 401 "default webhook_auth: a wrong secret is refused"
whsec_raw=$(head -c 32 /dev/urandom | base64 -w0)
(umask 077; printf 'whsec_%s\n' "$whsec_raw" >"$T/sk/whsec-only")
sk_stop || not_ok "sharekeep did not stop cleanly before a restart"
sk_write_config webhook_secrets="$T/sk/whsec-only"
sed -i '/^webhook_auth *=/d' "$SK_CONF"
sk_start
key_hex=$(printf '%s' "$whsec_raw" | base64 -d | od -An -tx1 -v | tr -d ' \n')
ts=$(date +%s)
b5=$(json clientId sh-5 share signed-share)
printf '%s' "$b5" >"$T/sign5.body"
spost /webhook/backup "$b5" -H "webhook-id: msg_default_1" -H "webhook-timestamp: $ts" \
    -H "webhook-signature: v1,$(webhook_sign msg_default_1 "$ts" "$T/sign5.body" "$key_hex")"
assert_error 401 "default webhook_auth: a valid Standard Webhooks signature is not a credential"
assert_eq 0 "$(rows "client_id = 'sh-5'")" "default webhook_auth: the signed store stored nothing"

# ======================================================================
# client_auth = trusted-header
# ======================================================================
reconfigure client_auth=trusted-header trusted_peers=127.0.0.1
tshare='{"backup":"'$(rand_token 48)'"}'
TH=(-H "X-Sharekeep-Client: th-1")

# -- the shipped snippet: nginx replaces the header with an empty one ---------
REQ_AUTH=0 req GET /portal/clients/th-1/backup -- "${TH[@]}" -H "X-Request-Id: th-inject-get"
assert_error 401 "snippet: a client-sent X-Sharekeep-Client is dropped by nginx"
from_sharekeep "snippet: the injected header"
assert_sql "SELECT result FROM audit_event WHERE claimed_request_id = 'th-inject-get' AND client_id IS NULL" 401 \
    "snippet: sharekeep saw the request and refused it (audit row)"
REQ_AUTH=0 req POST /portal/clients/th-1/backup "$(json backupShare "$tshare")" "${TH[@]}"
assert_error 401 "snippet: a store with an injected header is refused"
REQ_AUTH=0 req GET /portal/clients/th-1/backup -- -H "Authorization: Bearer $(client_token th-1)"
assert_error 401 "trusted-header mode: a valid JWT is not a credential"
assert_eq 0 "$(rows "client_id = 'th-1'")" "snippet: nothing stored"

# -- auth_request: nginx asks an auth service and sets the header itself ------
# The auth service is a second server in the same nginx: a Bearer token it
# knows maps to a clientId, "tok-anon" passes without naming anyone.
AUTH_PORT=$(free_port) || die "no free port"
n=$(grep -c '^[[:space:]]*fastcgi_param HTTP_X_SHAREKEEP_CLIENT "";' "$SNIPPET")
nloc=$(grep -c '^location [=^~ ]*/' "$SNIPPET")
assert_eq "$nloc" "$n" "the snippet sends HTTP_X_SHAREKEEP_CLIENT empty in every location ($nloc)"
INC_AR=$T/nginx/sharekeep-auth-request.conf
# The README's recipe: in the client location only, the blank header becomes
# the one the auth service vouches for.
awk '/^location \^~ \/portal\/clients\/ \{/ { c = 1 }
     c && /^[[:space:]]*fastcgi_param HTTP_X_SHAREKEEP_CLIENT "";/ {
         ind = $0; sub(/[^[:space:]].*/, "", ind)
         print ind "auth_request /_sharekeep_auth;"
         print ind "auth_request_set $sharekeep_client $upstream_http_x_authenticated_client;"
         print ind "fastcgi_param HTTP_X_SHAREKEEP_CLIENT $sharekeep_client;"
         next }
     c && /^}/ { c = 0 }
     { print }' "$SNIPPET" >"$INC_AR"
cat >>"$INC_AR" <<EOF

location = /_sharekeep_auth {
    internal;
    proxy_pass http://127.0.0.1:$AUTH_PORT/verify;
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
    proxy_set_header X-Original-URI \$request_uri;
}
EOF
AUTH_SERVER=$(cat <<EOF
    map \$http_authorization \$test_auth_client {
        default "";
        "Bearer tok-th1" th-1;
        "Bearer tok-th2" th-2;
    }
    server {
        listen 127.0.0.1:$AUTH_PORT;
        access_log off;
        location = /verify {
            if (\$http_authorization = "Bearer tok-anon") { return 204; }
            if (\$test_auth_client = "") { return 401; }
            add_header X-Authenticated-Client \$test_auth_client always;
            return 204;
        }
    }
EOF
)
nginx_with "$INC_AR" "$AUTH_SERVER"

REQ_AUTH=0 req POST /portal/clients/th-1/backup "$(json backupShare "$tshare")" -H "Authorization: Bearer tok-th1"
assert_status 200 "auth_request: store for the client the auth service vouches for"
REQ_AUTH=0 req GET /portal/clients/th-1/backup -- -H "Authorization: Bearer tok-th1"
assert_status 200 "auth_request: fetch"
assert_client_got "$tshare" "auth_request: fetch returns the share"

REQ_AUTH=0 req GET /portal/clients/th-1/backup -- -H "Authorization: Bearer tok-th2"
assert_error 403 "auth_request: authenticated as th-2, asking for th-1"
from_sharekeep "auth_request: another client's id"
not_revealed "auth_request: another client's id" "$tshare"
REQ_AUTH=0 req GET /portal/clients/th-1/backup -- -H "Authorization: Bearer tok-th2" "${TH[@]}"
assert_error 403 "auth_request: th-2 injecting X-Sharekeep-Client: th-1 is still th-2"
not_revealed "auth_request: injected header" "$tshare"
REQ_AUTH=0 req POST /portal/clients/th-2/backup "$(json backupShare x)" -H "Authorization: Bearer tok-th1" \
    -H "X-Sharekeep-Client: th-2"
assert_error 403 "auth_request: th-1 storing for th-2 with an injected header"

REQ_AUTH=0 req GET /portal/clients/th-1/backup -- "${TH[@]}"
assert_status 401 "auth_request: no credential, injected header: nginx's auth_request refuses"
from_nginx "auth_request: ... before the request reaches sharekeep"
not_revealed "auth_request: no credential" "$tshare"
REQ_AUTH=0 req GET /portal/clients/th-1/backup -- -H "Authorization: Bearer tok-anon" "${TH[@]}"
assert_error 401 "auth_request: the service vouches for nobody: header empty, sharekeep refuses"
from_sharekeep "auth_request: empty header"
not_revealed "auth_request: empty header" "$tshare"
assert_eq 0 "$(rows "client_id = 'th-2'")" "auth_request: nothing stored for th-2"

# -- control: without the param, whatever the client sends is believed --------
INC_OPEN=$T/nginx/sharekeep-no-strip.conf
grep -v '^[[:space:]]*fastcgi_param HTTP_X_SHAREKEEP_CLIENT "";' "$SNIPPET" >"$INC_OPEN"
nginx_with "$INC_OPEN"
REQ_AUTH=0 req GET /portal/clients/th-1/backup -- "${TH[@]}"
assert_status 200 "control: nginx without the stripping param lets an injected header through"

# -- trusted_peers: the header counts only from the peers listed --------------
nginx_with "$INC_AR" "$AUTH_SERVER"
reconfigure client_auth=trusted-header trusted_peers=192.0.2.1
REQ_AUTH=0 req GET /portal/clients/th-1/backup -- -H "Authorization: Bearer tok-th1"
assert_error 401 "trusted_peers = 192.0.2.1: the header from nginx (127.0.0.1) is not believed"
from_sharekeep "trusted_peers = 192.0.2.1"
not_revealed "untrusted peer" "$tshare"
check "trusted_peers: sharekeep logs the untrusted peer" grep -q 'trusted header from an untrusted peer.*peer=127.0.0.1' "$SK_LOG"
reconfigure client_auth=trusted-header "trusted_peers=192.0.2.1, 127.0.0.1"
REQ_AUTH=0 req GET /portal/clients/th-1/backup -- -H "Authorization: Bearer tok-th1"
assert_status 200 "trusted_peers = \"192.0.2.1, 127.0.0.1\": believed again"
nginx_with ""

# ======================================================================
# webhook_tolerance
# ======================================================================
# webhook_post PATH BODY TS: signed Standard Webhooks call with timestamp TS
webhook_post() {
    local p=$1 b=$2 ts=$3 id
    id=msg_$(rand_token 16)
    printf '%s' "$b" >"$T/tol.body"
    REQ_AUTH=0 req POST "$p" "$b" -H "webhook-id: $id" -H "webhook-timestamp: $ts" \
        -H "webhook-signature: v1,$(webhook_sign "$id" "$ts" "$T/tol.body")"
}
reconfigure
webhook_post /webhook/backup "$(json clientId tol-1 share s-old-default)" $(($(now) - 10))
assert_status 200 "default tolerance (300 s): a signature 10 s old is accepted"
reconfigure webhook_tolerance=5
webhook_post /webhook/backup "$(json clientId tol-2 share s-old)" $(($(now) - 10))
assert_error 401 "webhook_tolerance = 5: a signature 10 s old is refused"
webhook_post /webhook/backup "$(json clientId tol-2 share s-ahead)" $(($(now) + 10))
assert_error 401 "webhook_tolerance = 5: a signature 10 s ahead is refused"
assert_eq 0 "$(rows "client_id = 'tol-2'")" "webhook_tolerance: stale calls stored nothing"
webhook_post /webhook/backup "$(json clientId tol-2 share s-fresh)" "$(now)"
assert_status 200 "webhook_tolerance = 5: a fresh signature is accepted"

# ======================================================================
# JWT: audience and issuer
# ======================================================================
AUD=sharekeep-test
ISS=https://issuer.example
reconfigure jwt_audience=$AUD jwt_issuer=$ISS
# claims SUB [jq assignments]: a payload valid for 5 minutes
claims() {
    local sub=$1 t
    t=$(now)
    jq -nc --arg s "$sub" --argjson i "$t" --argjson e $((t + 300)) \
        --arg aud "$AUD" --arg iss "$ISS" "{sub:\$s,iat:\$i,exp:\$e} ${2:-}"
}
jget() { REQ_AUTH=0 req GET /portal/clients/jw-1/backup -- -H "Authorization: Bearer $1"; }
jshare='{"backup":"'$(rand_token 48)'"}'

REQ_AUTH=0 req POST /portal/clients/jw-1/backup "$(json backupShare "$jshare")" \
    -H "Authorization: Bearer $(jwt_hs256 "$(claims jw-1 '| .aud = $aud | .iss = $iss')")"
assert_status 200 "aud+iss: store with the right audience and issuer"
jget "$(jwt_hs256 "$(claims jw-1 '| .aud = $aud | .iss = $iss')")"
assert_status 200 "aud+iss: fetch with the right audience and issuer"
assert_client_got "$jshare" "aud+iss: the share"
jget "$(jwt_hs256 "$(claims jw-1 '| .aud = ["other", $aud] | .iss = $iss')")"
assert_status 200 "aud+iss: an aud array holding the audience"
jget "$(jwt_hs256 "$(claims jw-1 '| .iss = $iss')")"
assert_error 401 "aud+iss: a token without aud"
not_revealed "aud+iss: no aud" "$jshare"
jget "$(jwt_hs256 "$(claims jw-1 '| .aud = "other" | .iss = $iss')")"
assert_error 401 "aud+iss: a token for another audience"
jget "$(jwt_hs256 "$(claims jw-1 '| .aud = ["other", "more"] | .iss = $iss')")"
assert_error 401 "aud+iss: an aud array without the audience"
jget "$(jwt_hs256 "$(claims jw-1 '| .aud = $aud')")"
assert_error 401 "aud+iss: a token without iss"
jget "$(jwt_hs256 "$(claims jw-1 '| .aud = $aud | .iss = "https://evil.example"')")"
assert_error 401 "aud+iss: a token from another issuer"
not_revealed "aud+iss: other issuer" "$jshare"

# ======================================================================
# JWT: ES256
# ======================================================================
ES_KEY=$T/sk/es256.key
ES_PUB=$T/sk/es256.pem
ES_OTHER=$T/sk/es256-other.key
(umask 077
 openssl ecparam -name prime256v1 -genkey -noout -out "$ES_KEY" 2>>"$SK_LOG" &&
 openssl ec -in "$ES_KEY" -pubout -out "$ES_PUB" 2>>"$SK_LOG" &&
 openssl ecparam -name prime256v1 -genkey -noout -out "$ES_OTHER" 2>>"$SK_LOG") ||
    die "generating EC keys failed"
chmod 0644 "$ES_PUB"

# jwt_es256 PAYLOAD KEY [HEADER]: a compact ES256 JWT.  OpenSSL signs in DER
# (SEQUENCE of two INTEGERs); JWS wants R || S, 32 bytes each (RFC 7518 3.4).
jwt_es256() {
    local payload=$1 key=$2 header=${3:-'{"alg":"ES256","typ":"JWT"}'} si r s
    local -a ints
    si=$(printf '%s' "$header" | b64url).$(printf '%s' "$payload" | b64url)
    printf '%s' "$si" | openssl dgst -sha256 -sign "$key" -out "$T/es.der" || return 1
    mapfile -t ints < <(openssl asn1parse -inform DER -in "$T/es.der" | sed -n 's/.*prim: *INTEGER *://p')
    [ ${#ints[@]} -eq 2 ] || { echo "jwt_es256: unexpected DER signature" >&2; return 1; }
    r=${ints[0]} s=${ints[1]}
    while [ ${#r} -gt 64 ] && [ "${r:0:2}" = 00 ]; do r=${r:2}; done
    while [ ${#s} -gt 64 ] && [ "${s:0:2}" = 00 ]; do s=${s:2}; done
    r=$(printf '%64s' "$r" | tr ' ' 0)
    s=$(printf '%64s' "$s" | tr ' ' 0)
    printf '%s.%s' "$si" "$(printf '%s%s' "$r" "$s" | hex2bin | b64url)"
}
es_claims() { local t; t=$(now); printf '{"sub":"%s","iat":%s,"exp":%s}' "$1" "$t" $((t + ${2:-300})); }

reconfigure jwt_hs256_secret= jwt_es256_public_key="$ES_PUB"
eshare='{"backup":"'$(rand_token 48)'"}'
REQ_AUTH=0 req POST /portal/clients/es-1/backup "$(json backupShare "$eshare")" \
    -H "Authorization: Bearer $(jwt_es256 "$(es_claims es-1)" "$ES_KEY")"
assert_status 200 "ES256 only: store with an ES256 token"
eget() { REQ_AUTH=0 req GET /portal/clients/es-1/backup -- -H "Authorization: Bearer $1"; }
eget "$(jwt_es256 "$(es_claims es-1)" "$ES_KEY")"
assert_status 200 "ES256 only: fetch with an ES256 token"
assert_client_got "$eshare" "ES256 only: the share"
eget "$(jwt_hs256 "$(es_claims es-1)")"
assert_error 401 "ES256 only: an HS256 token (signed with the old HS256 secret)"
not_revealed "ES256 only: HS256 token" "$eshare"
eget "$(jwt_hs256 "$(es_claims es-1)" "$(cat "$ES_PUB")")"
assert_error 401 "ES256 only: an HS256 token keyed with the public key (alg confusion)"
eget "$(jwt_es256 "$(es_claims es-1)" "$ES_OTHER")"
assert_error 401 "ES256 only: an ES256 token signed by another key"
not_revealed "ES256 only: other key" "$eshare"
eget "$(jwt_es256 "$(es_claims es-1)" "$ES_KEY" '{"alg":"HS256","typ":"JWT"}')"
assert_error 401 "ES256 only: an ES256 signature under alg HS256"
eget "$(jwt_es256 "$(es_claims es-1 -3600)" "$ES_KEY")"
assert_error 401 "ES256 only: an expired ES256 token"
eget "$(jwt_es256 "$(es_claims es-other)" "$ES_KEY")"
assert_error 403 "ES256 only: a good ES256 token for another client"

reconfigure jwt_es256_public_key="$ES_PUB"
eget "$(jwt_es256 "$(es_claims es-1)" "$ES_KEY")"
assert_status 200 "both keys: ES256 token"
eget "$(jwt_hs256 "$(es_claims es-1)")"
assert_status 200 "both keys: HS256 token"

# ======================================================================
# start-up refusals
# ======================================================================
reconfigure
# cmd_fails DESC ERE [NAME=value ...] -- ARGS...: sharekeep ARGS, with those
# SHAREKEEP_* overrides, exits 1 (within 10 s) saying on stderr something
# that matches ERE.
cmd_fails() {
    local desc=$1 re=$2
    shift 2
    assert_refused "$desc" 1 "$re" "$@"
}

out=$(sk_run -- -c "$SK_CONF" check 2>&1)
assert_eq 0 "$?" "check accepts the test config ($out)"
other=127.0.0.1:$(free_port)
cmd_fails "check refuses to start without webhook_secrets" 'webhook_secrets' \
    SHAREKEEP_WEBHOOK_SECRETS= -- -c "$SK_CONF" check
cmd_fails "serve refuses to start without webhook_secrets" 'webhook_secrets' \
    SHAREKEEP_WEBHOOK_SECRETS= SHAREKEEP_LISTEN="$other" -- -c "$SK_CONF" serve
cp "$SK_WEBHOOK_SECRETS" "$T/sk/secrets-0644"
chmod 0644 "$T/sk/secrets-0644"
cmd_fails "check refuses a webhook secrets file of mode 0644" 'mode 0?644' \
    SHAREKEEP_WEBHOOK_SECRETS="$T/sk/secrets-0644" -- -c "$SK_CONF" check
cmd_fails "serve refuses a webhook secrets file of mode 0644" 'mode 0?644' \
    SHAREKEEP_WEBHOOK_SECRETS="$T/sk/secrets-0644" SHAREKEEP_LISTEN="$other" -- -c "$SK_CONF" serve
cp "$SK_JWT_SECRET_FILE" "$T/sk/jwt-0640"
chmod 0640 "$T/sk/jwt-0640"
cmd_fails "check refuses a JWT secret file of mode 0640" 'mode 0?640' \
    SHAREKEEP_JWT_HS256_SECRET="$T/sk/jwt-0640" -- -c "$SK_CONF" check
(umask 077; printf 'short-secret\n' >"$T/sk/shared-short")
cmd_fails "check refuses a shared secret under 16 bytes" 'shared secret is 12 bytes' \
    SHAREKEEP_WEBHOOK_AUTH=shared-secret SHAREKEEP_WEBHOOK_SECRETS="$T/sk/shared-short" -- -c "$SK_CONF" check
cmd_fails "check refuses client_auth = jwt without a key" 'jwt_hs256_secret or' \
    SHAREKEEP_JWT_HS256_SECRET= -- -c "$SK_CONF" check
cp "$ES_PUB" "$T/sk/es-0666.pem"
chmod 0666 "$T/sk/es-0666.pem"
cmd_fails "check refuses an ES256 key file others can write" 'o-w' \
    SHAREKEEP_JWT_ES256_PUBLIC_KEY="$T/sk/es-0666.pem" -- -c "$SK_CONF" check
cmd_fails "check refuses an unknown webhook_auth" 'webhook_auth' \
    SHAREKEEP_WEBHOOK_AUTH=hmac -- -c "$SK_CONF" check
check "the running sharekeep was not disturbed" alive "$SK_PID"

# ======================================================================
# conf/nginx/example-site.conf
# ======================================================================
# -- its locations keep the snippet's settings --------------------------------
# block FILE HEADER: the directive lines of the location block opened by the
# line HEADER (trimmed, no comments).
block() {
    awk -v h="$2" '
        { line = $0; sub(/#.*/, "", line); gsub(/^[ \t]+|[ \t]+$/, "", line) }
        !inb && line == h { inb = 1; next }
        inb && line == "}" { exit }
        inb && line != "" { print line }' "$1"
}
for loc in 'location ^~ /webhook/ {' 'location ^~ /portal/clients/ {' 'location = /healthz {'; do
    missing=$(comm -23 <(block "$SNIPPET" "$loc" | sort -u) <(block "$SITE" "$loc" | sort -u))
    if [ -n "$(block "$SNIPPET" "$loc")" ] && [ -z "$missing" ]; then
        ok "example-site.conf '$loc' has every directive of the snippet's"
    else
        not_ok "example-site.conf '$loc' lacks: $(tr '\n' ' ' <<<"$missing")"
    fi
done
for d in 'limit_req_zone ' 'limit_req zone=sharekeep_webhook' 'limit_req zone=sharekeep_client' \
    'limit_req_status 429;' 'ssl_protocols       TLSv1.2 TLSv1.3;' 'Strict-Transport-Security' \
    'fastcgi_param HTTP_X_SHAREKEEP_CLIENT "";' '# auth_request     /_sharekeep_auth;' \
    '#allow 35.203.150.117;' '#allow 104.155.171.139;' '#allow 35.185.20.23;' '#deny  all;' \
    '# set_real_ip_from ' '# real_ip_header '; do
    check "example-site.conf has: $d" grep -qF -- "$d" "$SITE"
done
# Portal's allow-list is ready but off by default: none of it is active
check "example-site.conf: Portal's allow-list is commented out (off by default)" \
    bash -c "! grep -qE '^[[:space:]]*(allow (35\.203\.150\.117|104\.155\.171\.139|35\.185\.20\.23)|deny  all);' '$SITE'"
check "example-site.conf: the real-IP settings are commented out" \
    bash -c "! grep -qE '^[[:space:]]*(set_real_ip_from|real_ip_header|real_ip_recursive)' '$SITE'"

# -- nginx -t with a throwaway certificate ----------------------------------------
S=$T/site
example_site_dir "$S"
# site_wrapper SITEFILE: an nginx.conf around SITEFILE (in the http context)
site_wrapper() { example_site_wrapper "$S" "$1"; }
example_site_copy "$S" "$S/site-t.conf"
site_wrapper "$S/site-t.conf"
if "$NGINX_BIN" -t -q -p "$S/" -c "$S/nginx.conf" >"$S/t.out" 2>&1; then
    ok "nginx -t accepts example-site.conf (certificate paths replaced)"
else
    not_ok "nginx -t rejects example-site.conf"
    sed 's/^/#   /' "$S/t.out" | head -n 20
fi

# -- live: the same file on loopback ports, upstream = our sharekeep -----------
P80=$(free_port) && P443=$(free_port) || die "no free port"
example_site_copy "$S" "$S/site-open.conf" "$P80" "$P443" "$SK_PORT"
require "live copy: listen ports and upstream rewritten" \
    test "$(grep -cE "127.0.0.1:($P80|$P443|$SK_PORT)" "$S/site-open.conf")" -eq 3
# the allow-list switched on as its comment says (the '#' removed from its
# four lines), with 127.0.0.2 standing in for one of Portal's addresses
sed -e 's|^\([[:space:]]*\)#\(allow 35\.203\.150\.117;\)|\1\2|' \
    -e 's|^\([[:space:]]*\)#\(allow 104\.155\.171\.139;\)|\1\2|' \
    -e 's|^\([[:space:]]*\)#\(allow 35\.185\.20\.23;\)|\1\2|' \
    -e 's|^\([[:space:]]*\)#\(deny  all;\)|\1allow 127.0.0.2;  # test: stands in for a Portal address\n\1\2|' \
    "$S/site-open.conf" >"$S/site-live.conf"
require "live copy: the allow-list enabled (Portal's three addresses, 127.0.0.2, deny all)" \
    test "$(grep -cE '^[[:space:]]*(allow (35\.203\.150\.117|104\.155\.171\.139|35\.185\.20\.23|127\.0\.0\.2)|deny  all);' "$S/site-live.conf")" -eq 5
# start_site FILE: the example site from FILE
start_site() {
    site_wrapper "$1"
    "$NGINX_BIN" -t -q -p "$S/" -c "$S/nginx.conf" >"$S/t.out" 2>&1 || { cat "$S/t.out"; die "nginx -t rejects ${1##*/}"; }
    "$NGINX_BIN" -p "$S/" -c "$S/nginx.conf" </dev/null >>"$S/stdout.log" 2>&1 &
    SITE_PID=$!
    wait_for "$SITE_PID" 100 port_listening "$P443" || { cat "$S/error.log"; die "example site did not start"; }
}
stop_site() { stop_child SITE_PID QUIT 50; }

U=https://127.0.0.1:$P443
# sreq METHOD URL [curl args...]: like req, against the example site
sreq() {
    local m=$1 u=$2
    shift 2
    : >"$RESP_BODY"
    : >"$RESP_HEADERS"
    STATUS=$(curl -k -sS -o "$RESP_BODY" -D "$RESP_HEADERS" -w '%{http_code}' -X "$m" -H 'Expect:' \
        --max-time 20 "$@" "$u") || STATUS=000
    BODY=$(cat "$RESP_BODY")
}
# site_store FILE [curl args...]: POST FILE to the example site's store
# webhook, authenticated as req() would (REQ_AUTH=0: not).
site_store() {
    local f=$1
    shift
    _auth_args /webhook/backup "$f"
    sreq POST "$U/webhook/backup" -H 'Content-Type: application/json' --data-binary "@$f" "${_AUTH_ARGS[@]}" "$@"
}
# as shipped (allow-list off): any address reaches sharekeep, which checks
# the webhook credential itself
start_site "$S/site-open.conf"
wb0=$(json clientId site-0 share '{"share":"no-allow-list"}')
printf '%s' "$wb0" >"$T/site0.body"
site_store "$T/site0.body"
assert_status 200 "example site as shipped: a webhook from any address reaches sharekeep"
from_sharekeep "example site as shipped"
REQ_AUTH=0 site_store "$T/site0.body"
assert_error 401 "example site as shipped: without the webhook credential, sharekeep refuses"
assert_eq 1 "$(rows "client_id = 'site-0'")" "example site as shipped: one row stored"
stop_site

start_site "$S/site-live.conf"
sreq GET "$U/healthz"
assert_status 200 "example site: /healthz over TLS"
assert_header Strict-Transport-Security 'max-age=[0-9]+' "example site: HSTS"
sreq GET "$U/healthz" --tls-max 1.2
assert_status 200 "example site: TLS 1.2"
sreq GET "$U/healthz" --tlsv1.3
assert_status 200 "example site: TLS 1.3"
sreq GET "http://127.0.0.1:$P80/webhook/backup"
assert_status 301 "example site: plain HTTP redirects"
assert_header Location '^https://' "example site: ... to https"
sreq GET "$U/nothing-here"
assert_error 404 "example site: other paths get a JSON 404"

wb=$(json clientId site-1 share '{"share":"from-the-example-site"}')
printf '%s' "$wb" >"$T/site.body"
site_store "$T/site.body"
assert_error 403 "example site: the webhook from an address not on the allow-list"
from_nginx "example site: the webhook from an address not on the allow-list"
site_store "$T/site.body" --interface 127.0.0.2
assert_status 200 "example site: the webhook from an allowed address is stored"
assert_eq 1 "$(rows "client_id = 'site-1'")" "example site: one row stored through the example site"

head -c 70000 /dev/zero | tr '\0' a >"$T/big.body"
sreq POST "$U/portal/clients/site-2/backup" -H 'Content-Type: application/json' --data-binary "@$T/big.body" \
    -H "Authorization: Bearer $(client_token site-2)"
assert_error 413 "example site: a 70 KB client body is refused by nginx"

# 40 requests on one connection: burst 20 passes, then 429 with Retry-After
# (response headers in -w need curl 7.84)
curl_ver=$(curl --version | awk 'NR == 1 { print $2 }')
if [ "$(printf '%s\n' 7.84.0 "$curl_ver" | sort -V | head -n1)" = 7.84.0 ]; then
    wfmt='%{http_code} %header{retry-after} %header{strict-transport-security}\n'
    want429='^429 1 max-age'
    what429="429 with Retry-After: 1 and HSTS"
else
    wfmt='%{http_code} \n'
    want429='^429 '
    what429="429 (curl $curl_ver cannot show the headers)"
fi
codes=$(curl -k -s -o "$S/rl_#1.body" -w "$wfmt" "$U/portal/clients/rl-[1-40]/backup" 2>&1)
n401=$(grep -c '^401 ' <<<"$codes")
n429=$(grep -c "$want429" <<<"$codes")
check "example site: rate limit lets the burst through ($n401 x 401 from sharekeep)" test "$n401" -ge 20
check "example site: then answers $what429 ($n429 of 40)" test "$n429" -ge 5
check "example site: only 401 and 429 ($(cut -d' ' -f1 <<<"$codes" | sort | uniq -c | tr -s ' \n' ' '))" \
    test "$((n401 + n429))" -eq 40
i429=$(grep -n '^429 ' <<<"$codes" | head -n1 | cut -d: -f1)
jq_true() { jq -e "$1" "$2" >/dev/null 2>&1; }
check "example site: the 429 body is JSON in sharekeep's error shape" \
    jq_true '.error.code == "rate_limited" and (.error.message | length > 0)' "$S/rl_${i429:-0}.body"
stop_site
