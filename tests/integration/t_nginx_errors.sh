#!/bin/bash
# nginx's own errors in sharekeep's error shape (issue 12 item 7).  Whatever
# nginx refuses by itself (a malformed request line or header, a bad Host or
# Content-Length, headers or a request line too long, a transfer coding it
# does not implement, TRACE, an unknown path, a body over
# client_max_body_size, a broken chunked body, sharekeep not running) is
# answered like sharekeep's own errors: the status, Content-Type
# application/json, {"error":{"code":...,"message":...}} with the code
# sharekeep uses for that status, Cache-Control: no-store,
# X-Content-Type-Options: nosniff and an X-Request-Id, each header once.
#
# Run against what ships: conf/nginx/sharekeep.conf with
# conf/nginx/sharekeep-errors.conf in one server block (scripts/dev-up's
# layout) over plain HTTP, and conf/nginx/example-site.conf over TLS (plus
# HSTS, and 497: plain HTTP on its HTTPS port).  Requests nginx must refuse
# before it picks a location are written raw (bash's /dev/tcp, openssl
# s_client), so that no client library tidies them up.  None of them may
# reach sharekeep.  nginx never answers 411 (1.22 and later: Transfer-Encoding
# on HTTP/1.0 is a 400, checked here in its place).  The configs' static
# checks: every location that reaches sharekeep blanks the trusted client
# header, no error location reaches sharekeep, every error_page target
# exists, every JSON body parses and uses sharekeep's code for its status.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"

sk_init
have openssl || skip "openssl not found"
sk_setup
SNIPPET=$SHAREKEEP_SRCDIR/conf/nginx/sharekeep.conf
ERRORS=$SHAREKEEP_SRCDIR/conf/nginx/sharekeep-errors.conf
SITE=$SHAREKEEP_SRCDIR/conf/nginx/example-site.conf

# the code sharekeep (and so nginx, for the same status) says
declare -A CODE=([400]=bad_request [403]=forbidden [404]=not_found [405]=method_not_allowed
    [413]=payload_too_large [414]=uri_too_long [429]=rate_limited [500]=internal
    [501]=not_implemented [503]=unavailable)

# ---- the configs, statically ----------------------------------------------------
# blocks FILE: one line per location block: "HEADER<TAB>directive; directive; ..."
# (comments dropped; nested braces are not used in these files)
blocks() {
    awk '{ line = $0; sub(/#.*/, "", line); gsub(/^[ \t]+|[ \t]+$/, "", line) }
         line ~ /^location .*\{$/ { inb = 1; hdr = line; body = ""; next }
         inb && line == "}" { print hdr "\t" body; inb = 0; next }
         inb && line != "" { body = body " " line }' "$1"
}
for f in "$SNIPPET" "$ERRORS" "$SITE"; do
    name=${f##*/}
    nfc=0
    bad=""
    while IFS=$'\t' read -r hdr body; do
        case $body in
            *"fastcgi_pass "*)
                nfc=$((nfc + 1))
                case $body in *'fastcgi_param HTTP_X_SHAREKEEP_CLIENT "";'*) ;; *) bad+="[$hdr] " ;; esac ;;
        esac
    done < <(blocks "$f")
    if [ -z "$bad" ]; then
        ok "$name: every location that reaches sharekeep ($nfc) blanks X-Sharekeep-Client"
    else
        not_ok "$name: locations reaching sharekeep without the blank trusted header: $bad"
    fi
    # every error location: no fastcgi_pass, a JSON body with sharekeep's
    # code for its status, and sharekeep's headers
    bad=""
    nerr=0
    while IFS=$'\t' read -r hdr body; do
        case $body in *"return "[0-9][0-9][0-9]" '"*) ;; *) continue ;; esac
        nerr=$((nerr + 1))
        st=$(sed -E "s/.*return ([0-9]{3}) '.*/\1/" <<<"$body")
        js=$(sed -E "s/.*return [0-9]{3} '([^']*)'.*/\1/" <<<"$body")
        jq -e --arg c "${CODE[$st]:-?}" '.error.code == $c and (.error.message | type == "string" and length > 0)
            and (keys == ["error"]) and (.error | keys == ["code", "message"])' <<<"${js%\\n}" >/dev/null 2>&1 ||
            bad+="[$hdr: body $js] "
        case $body in *"fastcgi_pass"*) bad+="[$hdr reaches sharekeep] " ;; esac
        for h in 'default_type application/json;' 'add_header Cache-Control no-store always;' \
            'add_header X-Content-Type-Options nosniff always;' 'add_header X-Request-Id $request_id always;'; do
            case $body in *"$h"*) ;; *) bad+="[$hdr lacks $h] " ;; esac
        done
        if [ "$f" = "$SITE" ]; then
            case $body in *"add_header Strict-Transport-Security "*) ;; *) bad+="[$hdr lacks HSTS] " ;; esac
        fi
        case $st in
            429) case $body in *"add_header Retry-After 1 always;"*) ;; *) bad+="[$hdr lacks Retry-After] " ;; esac ;;
            503) case $body in *"add_header Retry-After 5 always;"*) ;; *) bad+="[$hdr lacks Retry-After] " ;; esac ;;
        esac
    done < <(blocks "$f")
    if [ -z "$bad" ] && [ "$nerr" -gt 0 ]; then
        ok "$name: its $nerr error locations answer sharekeep's JSON shape, code and headers, and never reach sharekeep"
    else
        not_ok "$name: error locations: $bad"
    fi
done
# every error_page target is defined where it is used
targets() { grep -Eo '^[[:space:]]*error_page [^;]*;' "$@" | awk '{ print $NF }' | tr -d ';' | sort -u; }
defined() { cat "$@" | sed 's/#.*//' | grep -Eo 'location (= )?[@/][^ ]*' | awk '{ print $NF }' | sort -u; }
missing=$(comm -23 <(targets "$SNIPPET" "$ERRORS") <(defined "$SNIPPET" "$ERRORS"))
assert_empty "sharekeep.conf + sharekeep-errors.conf: every error_page target is defined" "$missing"
missing=$(comm -23 <(targets "$SNIPPET") <(defined "$SNIPPET"))
assert_empty "sharekeep.conf alone: every error_page target is its own" "$missing"
missing=$(comm -23 <(targets "$SITE") <(defined "$SITE"))
assert_empty "example-site.conf: every error_page target is defined" "$missing"
# the statuses the two configs answer for at server level are the same
# (the example site adds 497, plain HTTP on its HTTPS port)
srv_codes() {
    awk '/^[[:space:]]*location /{ inl = 1 } inl && /^[[:space:]]*}/ { inl = 0; next }
         !inl && /^[[:space:]]*error_page / { for (i = 2; i < NF; i++) if ($i ~ /^[0-9]+$/) print $i }' "$1" | sort -u | tr '\n' ' '
}
assert_eq "$(srv_codes "$ERRORS")497 " "$(srv_codes "$SITE" | sed 's/497 //')497 " \
    "example-site.conf's server-level error_page lines cover sharekeep-errors.conf's, plus 497"
# the same status and code mean the same sharekeep code in its sources
for st in 400 404 405 413 500 503; do
    check "sharekeep itself answers $st with code ${CODE[$st]}" \
        grep -rqE "http_error\([^,]+, *$st, *\"${CODE[$st]}\"" "$SHAREKEEP_SRCDIR/src"
done

# ---- helpers ---------------------------------------------------------------------
# Requests sharekeep logged so far (one "request" log line each).
sk_requests() { grep -c 'msg="request" ' "$SK_LOG" | tr -d ' '; }
fill() { head -c "$1" /dev/zero | tr '\0' x; }

# _split FILE: STATUS, RESP_HEADERS, RESP_BODY and BODY from a raw answer.
_split() {
    local resp=$1
    : >"$RESP_HEADERS"
    : >"$RESP_BODY"
    STATUS=000
    if [ -s "$resp" ]; then
        STATUS=$(head -n1 "$resp" | awk '{ print $2 }')
        awk 'BEGIN { RS = "\r\n" } h == 0 { print; if ($0 == "") h = 1 }' "$resp" >"$RESP_HEADERS"
        awk 'BEGIN { RS = "\r\n\r\n"; ORS = "" } NR == 1 { next } { if (NR > 2) printf "\r\n\r\n"; print }' \
            "$resp" >"$RESP_BODY"
    fi
    BODY=$(cat "$RESP_BODY")
}

# TARGET is "http" (the snippet's nginx, plain HTTP) or "tls" (the example
# site); raw_send FILE writes FILE's bytes to it on a fresh connection and
# reads until nginx closes the connection.
TARGET=http
raw_send() {
    local file=$1 resp=$T/raw.resp
    : >"$resp"
    if [ "$TARGET" = tls ]; then
        timeout 10 openssl s_client -quiet -ign_eof -connect "127.0.0.1:$P443" \
            -servername backup.example.com <"$file" >"$resp" 2>/dev/null
    elif exec 3<>"/dev/tcp/127.0.0.1/$NGINX_PORT"; then
        cat "$file" >&3 2>/dev/null
        timeout 10 cat <&3 >"$resp" 2>/dev/null
        exec 3<&- 3>&-
    fi
    _split "$resp"
}

# raw FORMAT [ARGS...]: printf FORMAT ARGS into a request and raw_send it.
raw() {
    # shellcheck disable=SC2059
    printf "$@" >"$T/raw.req"
    raw_send "$T/raw.req"
}

# creq ARGS... PATH: curl (HTTP/1.1) with ARGS for PATH at the current target.
creq() {
    local -a a=("$@") tls=()
    local path=${a[-1]} base=http://127.0.0.1:$NGINX_PORT
    unset 'a[-1]'
    if [ "$TARGET" = tls ]; then
        base=https://127.0.0.1:$P443
        tls=(-k)
    fi
    : >"$RESP_BODY"
    : >"$RESP_HEADERS"
    STATUS=$(curl -sS --http1.1 "${tls[@]}" -o "$RESP_BODY" -D "$RESP_HEADERS" -w '%{http_code}' \
        -H 'Expect:' --max-time 20 "${a[@]}" "$base$path") || STATUS=000
    BODY=$(cat "$RESP_BODY")
}

# nginx_json STATUS DESC: the last answer is nginx's own, in sharekeep's
# shape: STATUS, application/json, {"error":{"code","message"}} with
# sharekeep's code for STATUS, Cache-Control: no-store,
# X-Content-Type-Options: nosniff, a fresh X-Request-Id, each header once
# (and HSTS on the example site; Retry-After for 503).
nginx_json() {
    local st=$1 desc="$TARGET: $2" h n dup=""
    assert_status "$st" "$desc"
    assert_header Content-Type '^application/json$' "$desc: JSON content type"
    if [ -s "$RESP_BODY" ] && jq -e --arg c "${CODE[$st]}" '.error.code == $c
            and (.error.message | type == "string" and length > 0)
            and (keys == ["error"]) and (.error | keys == ["code", "message"])' "$RESP_BODY" >/dev/null 2>&1; then
        ok "$desc: body is {\"error\":{\"code\":\"${CODE[$st]}\",\"message\":\"$(jq -r .error.message "$RESP_BODY")\"}}"
    else
        not_ok "$desc: body is not {\"error\":{\"code\":\"${CODE[$st]}\",\"message\":...}}"
        _show_response
    fi
    assert_header Cache-Control '^no-store$' "$desc: Cache-Control"
    assert_header X-Content-Type-Options '^nosniff$' "$desc: X-Content-Type-Options"
    assert_header X-Request-Id '^[0-9a-f]{32}$' "$desc: X-Request-Id"
    [ "$st" != 503 ] || assert_header Retry-After '^[0-9]+$' "$desc: Retry-After"
    [ "$TARGET" != tls ] || assert_header Strict-Transport-Security '^max-age=[0-9]+$' "$desc: HSTS"
    for h in content-type content-length cache-control x-content-type-options x-request-id; do
        n=$(tr -d '\r' <"$RESP_HEADERS" | grep -ci "^$h:")
        [ "$n" -eq 1 ] || dup+="$h x $n "
    done
    assert_empty "$desc: each of sharekeep's headers exactly once" "$dup"
}

# sharekeep_once DESC: the last answer was sharekeep's own (X-Request-Id
# ours) and carries each of its headers once (nginx adds none of them).
sharekeep_once() {
    local h n dup=""
    for h in content-type cache-control x-content-type-options x-request-id; do
        n=$(tr -d '\r' <"$RESP_HEADERS" | grep -ci "^$h:")
        [ "$n" -eq 1 ] || dup+="$h x $n "
    done
    assert_empty "$TARGET: $1: each of sharekeep's headers exactly once" "$dup"
}

# refusals: the requests nginx refuses by itself, at the current TARGET;
# none may reach sharekeep.
refusals() {
    local before body
    before=$(sk_requests)
    # -- before nginx picks a location: only the server block's error_page
    raw 'GET /healthz HTTP/1.1 junk\r\nHost: localhost\r\n\r\n'
    nginx_json 400 "a malformed request line (no URI yet)"
    raw 'get /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n'
    nginx_json 400 "a lower-case method"
    raw 'GET /../../etc/passwd HTTP/1.1\r\nHost: localhost\r\n\r\n'
    nginx_json 400 "a path above the root"
    raw 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n'
    nginx_json 400 "a header name with a space"
    raw 'GET /healthz HTTP/1.1\r\n\r\n'
    nginx_json 400 "HTTP/1.1 without Host"
    raw 'GET /healthz HTTP/1.1\r\nHost: a/b\r\n\r\n'
    nginx_json 400 "an invalid Host"
    raw 'POST /webhook/backup HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1x\r\n\r\n'
    nginx_json 400 "a Content-Length that is not a number"
    raw 'POST /webhook/backup HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}'
    nginx_json 400 "two Content-Length headers"
    raw 'POST /webhook/backup HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\nTransfer-Encoding: chunked\r\n\r\n'
    nginx_json 400 "Content-Length (over the body limit) with Transfer-Encoding: still 400, not 413"
    raw 'POST /webhook/backup HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n'
    nginx_json 400 "Transfer-Encoding on HTTP/1.0 (nginx's answer where 411 could be)"
    raw 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Big: %s\r\n\r\n' "$(fill 9000)"
    nginx_json 400 "a 9000-byte header (nginx's 494)"
    raw 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s\r\n' \
        "$(for i in 1 2 3 4 5; do printf 'X-Fill-%s: %s\r\n' "$i" "$(fill 7900)"; done)"
    nginx_json 400 "five 7.9 KiB headers (494)"
    raw 'GET /healthz?%s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$(fill 9000)"
    nginx_json 414 "a 9000-byte request line (no URI yet)"
    raw 'POST /webhook/backup HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n'
    nginx_json 501 "Transfer-Encoding: gzip"
    raw 'POST /webhook/backup HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n'
    nginx_json 501 "Transfer-Encoding: gzip, chunked"
    raw 'TRACE /webhook/backup HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'
    nginx_json 405 "TRACE"
    raw 'CONNECT /webhook/backup HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'
    nginx_json 405 "CONNECT"
    # -- the rest of the server block
    creq /nothing-here
    nginx_json 404 "a path no location serves"
    if [ "$TARGET" = tls ]; then
        creq -X POST --data-binary "@$T/2k.body" /nothing-here
        nginx_json 413 "a 2 KB body to a path no location serves (the site's 1k)"
        creq -X DELETE /nothing-here
        nginx_json 404 "DELETE on a path no location serves"
    else
        creq -X POST --data-binary "@$T/huge.body" /nothing-here
        nginx_json 413 "a 1.1 MB body to a path no location serves (nginx's default 1m)"
        creq -X DELETE /nothing-here
        nginx_json 405 "DELETE on a path no location serves (nginx's static handler)"
    fi
    creq /_sharekeep_error/400
    nginx_json 404 "the internal error URI, asked for by a client"
    # -- in sharekeep's locations: their own error_page lines
    creq -X POST -H 'Content-Type: application/json' --data-binary "@$T/big.body" /webhook/backup
    nginx_json 413 "a 70 KB webhook body"
    creq -X POST -H 'Content-Type: application/json' --data-binary "@$T/big.body" /portal/clients/ne-1/backup
    nginx_json 413 "a 70 KB client body"
    creq -X POST -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
        --data-binary "@$T/big.body" /webhook/backup/fetch
    nginx_json 413 "a 70 KB chunked body"
    creq -X POST --data-binary "@$T/2k.body" /healthz
    nginx_json 413 "a 2 KB body to /healthz (1k)"
    body='{"clientId":"ne-nobody"}'
    raw 'POST /webhook/backup/fetch HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nZZ\r\n%s\r\n0\r\n\r\n' "$body"
    nginx_json 400 "a chunk size that is not hex"
    raw 'POST /portal/clients/ne-1/backup HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n%x\r\n%s\r\n0\r\n\r\n' \
        $((${#body} + 2)) "$body"
    nginx_json 400 "a chunk longer than announced"
    assert_eq "$before" "$(sk_requests)" "$TARGET: none of nginx's refusals reached sharekeep"
}
head -c 70000 /dev/zero | tr '\0' a >"$T/big.body"
head -c 2048 /dev/zero | tr '\0' a >"$T/2k.body"
head -c 1150000 /dev/zero | tr '\0' a >"$T/huge.body"

# ---- conf/nginx/sharekeep.conf + sharekeep-errors.conf (scripts/dev-up's server block)
INC=$T/nginx/dev-server.conf
printf 'include %s;\ninclude %s;\n' "$SNIPPET" "$ERRORS" >"$INC"
nginx_stop
SK_NGINX_INCLUDE=$INC
nginx_start
ok "nginx -t accepts sharekeep.conf + sharekeep-errors.conf in one server block"
TARGET=http

# sharekeep's own answers are still its own, untouched
REQ_AUTH=0 req POST /webhook/backup "$(json clientId ne-1 share x)" -H 'X-Request-Id: ne-own-401'
assert_error 401 "http: sharekeep's own 401 passes through"
assert_header X-Request-Id '^ne-own-401$' "http: ... with the caller's X-Request-Id: sharekeep's, not nginx's"
sharekeep_once "sharekeep's 401"
req POST /webhook/backup "$(json clientId ne-1 share "$(fill 100)")"
assert_stored 1 true "http: a store through this config works"
req GET /healthz
assert_status 200 "http: /healthz"
sharekeep_once "sharekeep's 200"

refusals

# ---- conf/nginx/example-site.conf over TLS -------------------------------------------
S=$T/site
example_site_dir "$S"
example_site_copy "$S" "$S/site-t.conf"
example_site_wrapper "$S" "$S/site-t.conf"
if "$NGINX_BIN" -t -q -p "$S/" -c "$S/nginx.conf" >"$S/t.out" 2>&1; then
    ok "nginx -t accepts example-site.conf (certificate paths replaced)"
else
    not_ok "nginx -t rejects example-site.conf"
    sed 's/^/#   /' "$S/t.out" | head -n 20
fi
P80=$(free_port) && P443=$(free_port) || die "no free port"
example_site_copy "$S" "$S/site.conf" "$P80" "$P443" "$SK_PORT"
example_site_wrapper "$S" "$S/site.conf"
"$NGINX_BIN" -p "$S/" -c "$S/nginx.conf" </dev/null >>"$S/stdout.log" 2>&1 &
SITE_PID=$!
wait_for "$SITE_PID" 100 port_listening "$P443" || { cat "$S/error.log"; die "example site did not start"; }
stop_site() { stop_child SITE_PID QUIT 50; }
trap 'rc=$?; stop_site; _cleanup $rc' EXIT
TARGET=tls

creq -H 'X-Request-Id: ne-own-404' -H 'Content-Type: application/json' -d '{"clientId":"ne-1"}' \
    -H "X-Webhook-Secret: wrong" /webhook/nothing
assert_error 404 "tls: sharekeep's own 404 for an unknown webhook path passes through"
assert_header X-Request-Id '^ne-own-404$' "tls: ... with the caller's X-Request-Id: sharekeep's, not nginx's"
sharekeep_once "sharekeep's 404"
assert_header Strict-Transport-Security '^max-age=[0-9]+$' "tls: sharekeep's answers get HSTS from the server block"
creq /healthz
assert_status 200 "tls: /healthz"
sharekeep_once "sharekeep's 200"

refusals

# plain HTTP on the HTTPS port: nginx's 497
: >"$RESP_BODY"
: >"$RESP_HEADERS"
STATUS=$(curl -sS -o "$RESP_BODY" -D "$RESP_HEADERS" -w '%{http_code}' --max-time 10 \
    "http://127.0.0.1:$P443/healthz") || STATUS=000
nginx_json 400 "plain HTTP sent to the HTTPS port (nginx's 497)"

# ---- sharekeep stopped: 502 from nginx, answered as a JSON 503 -----------------------
sk_stop
for TARGET in http tls; do
    creq /healthz
    nginx_json 503 "/healthz, sharekeep stopped"
    creq -X POST -H 'Content-Type: application/json' -d "$(json clientId ne-1 share y)" /webhook/backup
    nginx_json 503 "a webhook store, sharekeep stopped"
    creq -H "Authorization: Bearer $(client_token ne-1)" /portal/clients/ne-1/backup
    nginx_json 503 "a client fetch, sharekeep stopped"
done
TARGET=http
creq /metrics
nginx_json 503 "/metrics, sharekeep stopped"
sk_start
TARGET=http
creq /healthz
assert_status 200 "sharekeep started again: /healthz answers 200"
stop_site
