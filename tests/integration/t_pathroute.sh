#!/bin/bash
# Decoded path = routed path (issue 12 item 6).  nginx picks its location,
# and so what it blanks or sets (the trusted client header), by the decoded,
# normalised path it passes as DOCUMENT_URI; sharekeep routes on that same
# path.  So /portal/clients/..%2F..%2Fwebhook/backup, which nginx serves from
# its /webhook/ location, is sharekeep's store webhook too: a forged
# X-Sharekeep-Client in client_auth = trusted-header mode is never read by a
# client route, nothing is stored, and the audit row names custodian.store.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"

sk_init
sk_setup client_auth=trusted-header trusted_peers=127.0.0.1
SNIPPET=$SHAREKEEP_SRCDIR/conf/nginx/sharekeep.conf
EVIL=/portal/clients/..%2F..%2Fwebhook/backup

# forged LABEL: the issue's request, with a forged header and no webhook
# secret; it must be the store webhook's 401 and store nothing.
forged() {
    local label=$1 rid=pr-$1-$(rand_token 8)
    REQ_AUTH=0 req POST "$EVIL" "$(json clientId pr-victim share forged backupShare forged)" \
        --path-as-is -H "X-Sharekeep-Client: pr-victim" -H "X-Request-Id: $rid"
    assert_error 401 "$label: $EVIL with a forged X-Sharekeep-Client is refused"
    assert_json .error.code unauthenticated "$label: code unauthenticated"
    check "$label: the webhook's 401 (no Bearer challenge of the client route)" \
        bash -c "! grep -qi '^www-authenticate:' '$RESP_HEADERS'"
    check "$label: answered by sharekeep, not by nginx" test -n "$(header X-Request-Id)"
    assert_eq 0 "$(rows)" "$label: no share stored"
    assert_sql "SELECT endpoint || '|' || result || '|' || coalesce(client_id, 'NULL') FROM audit_event WHERE claimed_request_id = :'rid'" \
        "custodian.store|401|NULL" "$label: one audit row, endpoint custodian.store, 401, no client" "rid=$rid"
    REQ_AUTH=0 req GET "$EVIL" -- --path-as-is -H "X-Sharekeep-Client: pr-victim"
    assert_error 405 "$label: GET $EVIL is the store webhook's 405, not a client fetch"
    assert_header Allow '^POST$' "$label: GET $EVIL: the store webhook's Allow"
}

# -- the shipped snippet (every location blanks the header) --------------------
forged snippet

# -- a snippet that blanks the header only for /portal/clients/ (the mistake
# issue 12 names): the forged header reaches sharekeep in the webhook
# location, where no route reads it
INC=$T/nginx/sharekeep-client-only.conf
awk '/^location \^~ \/webhook\/ \{/ { w = 1 }
     w && /^[[:space:]]*fastcgi_param HTTP_X_SHAREKEEP_CLIENT "";/ { next }
     w && /^}/ { w = 0 }
     { print }' "$SNIPPET" >"$INC"
require "the variant snippet blanks the header in one location fewer" \
    test "$(grep -c 'HTTP_X_SHAREKEEP_CLIENT "";' "$INC")" -eq $(($(grep -c 'HTTP_X_SHAREKEEP_CLIENT "";' "$SNIPPET") - 1))
nginx_stop
SK_NGINX_INCLUDE=$INC
nginx_start
forged client-only-blanking
