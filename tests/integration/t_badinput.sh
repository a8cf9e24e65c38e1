#!/bin/bash
# Hostile and broken input through the real nginx: truncated and mislabelled
# bodies, chunked streams, NUL bytes, deep nesting, huge numbers, duplicate
# keys, invalid UTF-8, overlong headers and paths, path traversal and
# encoded slashes in clientId, every other method.  Each request is validly
# signed / authorized where that is needed to get past authentication, so
# it is the input check that answers.  Whoever answers, the test asserts
# what the client really gets: sharekeep's answers are its JSON errors (the
# README's table); nginx's own refusals before it picks a location (400,
# 404, 405, 414, 501) are HTML, since the harness includes only the snippet
# (sharekeep-errors.conf makes them JSON: t_nginx_errors.sh), those in
# sharekeep's locations (a broken chunked body) are JSON in sharekeep's
# shape, and a body that never completes gets no answer at all (nginx logs
# 408).
# No refused request may store anything: share_record's row count is
# checked after every group.  t_errors.sh has the basic 400/404/405/413/415/422
# cases; this file does not repeat them.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# nginx gives up on a client that stops sending its body after
# client_body_timeout (default 60s); 2s keeps the truncated-body checks short.
SK_NGINX_HTTP_EXTRA="    client_body_timeout 2s;"
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"

sk_init
sk_setup

expect_rows=0
rows_unchanged() {
    assert_eq "$expect_rows" "$(rows)" "${1:-nothing was stored}"
}

# ---- helpers ------------------------------------------------------------------
# Signature / token headers for PATH and the exact body bytes in FILE, for
# requests whose body curl does not send as-is (forged lengths, raw HTTP).
AUTH_H=()
auth_for() {
    local path=$1 file=$2 id ts cid
    AUTH_H=()
    case $path in
        /webhook/*)
            id=msg_$(rand_token 24)
            ts=$(date +%s)
            AUTH_H=("webhook-id: $id" "webhook-timestamp: $ts"
                "webhook-signature: v1,$(webhook_sign "$id" "$ts" "$file")")
            ;;
        /portal/clients/*)
            cid=${path#/portal/clients/}
            cid=${cid%%/*}
            AUTH_H=("Authorization: Bearer $(client_token "$cid")")
            ;;
    esac
}

# curl_h: AUTH_H as curl arguments.
curl_h() {
    CURL_H=()
    local h
    for h in "${AUTH_H[@]}"; do CURL_H+=(-H "$h"); done
}

# raw_http FILE [SECONDS]: write FILE's bytes to nginx on a fresh connection
# and read the answer until nginx closes it (or SECONDS pass).  Sets STATUS
# (000 when nothing came back), RESP_HEADERS and RESP_BODY like req.
raw_http() {
    local file=$1 wait=${2:-10} resp=$T/raw.resp
    : >"$resp"
    : >"$RESP_HEADERS"
    : >"$RESP_BODY"
    STATUS=000
    if ! exec 3<>"/dev/tcp/127.0.0.1/$NGINX_PORT"; then
        BODY=""
        return 0
    fi
    cat "$file" >&3 2>/dev/null
    timeout "$wait" cat <&3 >"$resp" 2>/dev/null
    exec 3<&- 3>&-
    if [ -s "$resp" ]; then
        STATUS=$(head -n1 "$resp" | awk '{ print $2 }')
        # headers up to the first empty line, body after it
        awk 'BEGIN { RS = "\r\n" } h == 0 { print; if ($0 == "") h = 1 }' "$resp" >"$RESP_HEADERS"
        awk 'BEGIN { RS = "\r\n\r\n"; ORS = "" } NR == 1 { next } { if (NR > 2) printf "\r\n\r\n"; print }' \
            "$resp" >"$RESP_BODY"
    fi
    BODY=$(cat "$RESP_BODY")
}

# raw_request METHOD TARGET BODYFILE [HEADER...]: an HTTP/1.1 request with
# Connection: close and the given headers (no Content-Length unless given).
raw_request() {
    local method=$1 target=$2 body=$3 h
    shift 3
    {
        printf '%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n' "$method" "$target"
        for h in "$@"; do printf '%s\r\n' "$h"; done
        printf '\r\n'
        [ -z "$body" ] || cat "$body"
    } >"$T/raw.req"
    raw_http "$T/raw.req" "${RAW_WAIT:-10}"
}

# nginx_dropped STATUS DESC: nginx closed the connection without an answer
# (what it does when client_body_timeout expires) and logged STATUS for it.
nginx_dropped() {
    local st=$1 desc=$2 last
    assert_eq 000 "$STATUS" "$desc: the client gets no answer, the connection is closed"
    last=$(tail -n1 "$T/nginx/access.log" | awk -F'"' '{ print $3 }' | awk '{ print $1 }')
    assert_eq "$st" "$last" "$desc: nginx logged $st"
}

# nginx_refusal STATUS DESC: nginx itself answered (its HTML page, not JSON).
nginx_refusal() {
    local st=$1 desc=$2
    assert_status "$st" "$desc"
    if grep -qi '^content-type: *application/json' "$RESP_HEADERS"; then
        not_ok "$desc: answered by nginx, not sharekeep (got JSON)"
        _show_response
    else
        ok "$desc: answered by nginx"
    fi
}

# nginx_json_refusal STATUS CODE DESC: nginx itself answered, in one of
# sharekeep's locations: its JSON error (error_page), with an X-Request-Id
# of nginx's own (sharekeep's request count is checked by the caller).
nginx_json_refusal() {
    local st=$1 code=$2 desc=$3
    assert_error "$st" "$desc"
    assert_json .error.code "$code" "$desc: code $code"
    assert_header X-Request-Id '^[0-9a-f]{32}$' "$desc: nginx's own X-Request-Id"
}

# fill N: N filler characters (rand_token is too slow for kilobytes).
fill() { head -c "$1" /dev/zero | tr '\0' x; }

# Requests sharekeep logged so far (one "request" log line each).
sk_requests() { grep -c 'msg="request" ' "$SK_LOG" | tr -d ' '; }
# (a count that stays 0 whatever happens would prove nothing)
req GET /healthz
require "sharekeep logs each request it answers" test "$(sk_requests)" -gt 0

# ============================================================================
# 1. Truncated bodies: Content-Length larger than what is sent.  nginx waits
#    for the rest, gives up after client_body_timeout, logs 408 and closes
#    the connection without an answer; the request is never passed on, so
#    sharekeep only ever sees complete bodies.
# ============================================================================
body=$(json clientId bi-trunc share "truncated share")
printf '%s' "$body" >"$T/trunc.json"
before=$(sk_requests)
req_file POST /webhook/backup "$T/trunc.json" -H "Content-Length: $((${#body} + 40))"
nginx_dropped 408 "body shorter than Content-Length (client stalls)"
printf '%s' "$(json backupShare "truncated client share")" >"$T/trunc2.json"
req_file POST /portal/clients/bi-trunc/backup "$T/trunc2.json" -H "Content-Length: 100"
nginx_dropped 408 "client route: body shorter than Content-Length"
# the same by hand: half a signed body, then silence
auth_for /webhook/backup "$T/trunc.json"
head -c 20 "$T/trunc.json" >"$T/half.json"
raw_request POST /webhook/backup "$T/half.json" "Content-Type: application/json" \
    "Content-Length: ${#body}" "${AUTH_H[@]}"
nginx_dropped 408 "half a signed body, then silence"
# half the body, then the client hangs up: nobody is left to answer
auth_for /webhook/backup "$T/trunc.json"
head -c 20 "$T/trunc.json" >"$T/half.json"
{
    printf 'POST /webhook/backup HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n'
    printf 'Content-Length: %s\r\n' "${#body}"
    printf '%s\r\n' "${AUTH_H[@]}"
    printf '\r\n'
    cat "$T/half.json"
} >"$T/hangup.req"
if exec 3<>"/dev/tcp/127.0.0.1/$NGINX_PORT"; then
    cat "$T/hangup.req" >&3
    exec 3<&- 3>&-
fi
sleep 0.5
assert_eq "$before" "$(sk_requests)" "no truncated request reached sharekeep"
rows_unchanged "no truncated body stored anything"

# sharekeep's own check, for gateways that do not buffer (plain CGI): a
# CONTENT_LENGTH it cannot read in full is a 400, not a short body.
printf '%s' "$body" >"$T/cgi.json"
auth_for /webhook/backup "$T/cgi.json"
cgi_out=$(sk_run SHAREKEEP_CONFIG="$SK_CONF" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=POST \
    REQUEST_URI=/webhook/backup CONTENT_TYPE=application/json \
    CONTENT_LENGTH=$((${#body} + 10)) "HTTP_WEBHOOK_ID=${AUTH_H[0]#*: }" \
    "HTTP_WEBHOOK_TIMESTAMP=${AUTH_H[1]#*: }" "HTTP_WEBHOOK_SIGNATURE=${AUTH_H[2]#*: }" \
    -- <"$T/cgi.json" 2>>"$SK_LOG" | tr -d '\r')
check "CGI: CONTENT_LENGTH past the end of the body is 400" \
    grep -q '^Status: 400' <<<"$cgi_out"
printf '%s\n' "$cgi_out" | sed -n '/^$/,$p' | sed 1d >"$RESP_BODY"
assert_jq '.error.code == "bad_request" and (.error.message | test("shorter"))' \
    "CGI: the error says the body was short"
rows_unchanged "CGI: the short body stored nothing"

# ============================================================================
# 2. Content-Length smaller than the body: the request is the first N bytes
#    (signed as such); the rest is a second, garbage request on the
#    connection that nginx refuses on its own.
# ============================================================================
printf '%s' "$(json clientId bi-short share "more than ten bytes")" >"$T/long.json"
head -c 10 "$T/long.json" >"$T/first10.json"
auth_for /webhook/backup "$T/first10.json"
curl_h
REQ_AUTH=0 req_file POST /webhook/backup "$T/long.json" "${CURL_H[@]}" -H "Content-Length: 10"
assert_error 400 "Content-Length 10 of a longer body: sharekeep reads 10 bytes of JSON"
assert_jq '.error.code == "malformed_json"' "the 10-byte prefix is malformed JSON"
# not a number, negative, two different values: nginx refuses the request
for cl in 12a -1 '1 2' 0x10 99999999999999999999999; do
    raw_request POST /webhook/backup "$T/long.json" "Content-Type: application/json" \
        "Content-Length: $cl"
    nginx_refusal 400 "Content-Length: $cl"
done
raw_request POST /webhook/backup "$T/long.json" "Content-Type: application/json" \
    "Content-Length: 10" "Content-Length: 20"
nginx_refusal 400 "two Content-Length headers"
raw_request POST /webhook/backup "$T/long.json" "Content-Type: application/json" \
    "Content-Length: 10" "Transfer-Encoding: chunked"
nginx_refusal 400 "Content-Length and Transfer-Encoding together (request smuggling)"
rows_unchanged "no mislabelled body stored anything"

# ============================================================================
# 3. Chunked bodies.  nginx (fastcgi_request_buffering on) de-chunks the
#    body and passes CONTENT_LENGTH, so a valid chunked request works
#    (t_errors.sh has the webhook store; here the client route and a
#    chunked fetch), and a broken chunk stream never reaches sharekeep.
# ============================================================================
cshare="chunked client share $(rand_token 40)"
req POST /portal/clients/bi-chunk/backup "$(json backupShare "$cshare")" \
    -H 'Transfer-Encoding: chunked'
assert_status 200 "client store with a chunked body"
expect_rows=$((expect_rows + 1))
req GET /portal/clients/bi-chunk/backup
assert_client_got "$cshare" "the chunked client share reads back exactly"
req POST /webhook/backup/fetch "$(json clientId bi-nobody)" -H 'Transfer-Encoding: chunked'
assert_error 404 "chunked fetch reaches sharekeep (unknown client: 404)"
# hand-made chunk streams
fetch=$(json clientId bi-nobody)
printf '%s' "$fetch" >"$T/fetch.json"
auth_for /webhook/backup/fetch "$T/fetch.json"
printf '%x\r\n%s\r\n0\r\n\r\n' "${#fetch}" "$fetch" >"$T/chunks.ok"
raw_request POST /webhook/backup/fetch "$T/chunks.ok" "Content-Type: application/json" \
    "Transfer-Encoding: chunked" "${AUTH_H[@]}"
assert_error 404 "a well-formed hand-made chunk stream reaches sharekeep"
before=$(sk_requests)
printf 'ZZ\r\n%s\r\n0\r\n\r\n' "$fetch" >"$T/chunks.bad"
raw_request POST /webhook/backup/fetch "$T/chunks.bad" "Content-Type: application/json" \
    "Transfer-Encoding: chunked" "${AUTH_H[@]}"
nginx_json_refusal 400 bad_request "chunk size that is not hex"
printf '%x\r\n%s\r\n0\r\n\r\n' $((${#fetch} + 2)) "$fetch" >"$T/chunks.long"
raw_request POST /webhook/backup/fetch "$T/chunks.long" "Content-Type: application/json" \
    "Transfer-Encoding: chunked" "${AUTH_H[@]}"
nginx_json_refusal 400 bad_request "chunk longer than announced runs into the next chunk line"
printf '%x\r\n%s' "${#fetch}" "$fetch" >"$T/chunks.cut"
RAW_WAIT=6 raw_request POST /webhook/backup/fetch "$T/chunks.cut" \
    "Content-Type: application/json" "Transfer-Encoding: chunked" "${AUTH_H[@]}"
nginx_dropped 408 "chunk stream without its last chunk"
raw_request POST /webhook/backup/fetch "$T/chunks.ok" "Content-Type: application/json" \
    "Transfer-Encoding: gzip, chunked" "${AUTH_H[@]}"
nginx_refusal 501 "a transfer coding other than chunked"
assert_eq "$before" "$(sk_requests)" "no broken chunk stream reached sharekeep"
rows_unchanged "chunked: only the one valid store added a row"

# ============================================================================
# 4. NUL bytes.  A raw NUL is a control character: malformed JSON, whether
#    inside a string or after the value.  \u0000 is valid JSON: inside a
#    share it is stored and comes back byte-exact (escaped again as
#    \u0000); inside a clientId it makes the id invalid (422), it never
#    shortens it.
# ============================================================================
printf '{"clientId":"bi-nul","share":"a\0b"}' >"$T/nul1.json"
req_file POST /webhook/backup "$T/nul1.json"
assert_error 400 "raw NUL inside the share string"
printf '{"clientId":"bi-nul","share":"ab"}\0' >"$T/nul2.json"
req_file POST /webhook/backup "$T/nul2.json"
assert_error 400 "raw NUL after the JSON object"
printf '\0{"clientId":"bi-nul","share":"ab"}' >"$T/nul3.json"
req_file POST /webhook/backup "$T/nul3.json"
assert_error 400 "raw NUL before the JSON object"
printf '{"backupShare":"x\0y"}' >"$T/nul4.json"
req_file POST /portal/clients/bi-nul/backup "$T/nul4.json"
assert_error 400 "raw NUL in a client share"
rows_unchanged "raw NULs stored nothing"

req POST /webhook/backup '{"clientId":"bi-nul","share":"a\u0000b\u0000"}'
assert_status 200 "\\u0000 inside a custodian share is accepted"
expect_rows=$((expect_rows + 1))
req POST /webhook/backup/fetch "$(json clientId bi-nul)"
assert_status 200 "fetch the share with NULs"
assert_eq '{"backupShares":["a\u0000b\u0000"],"backupShare":"a\u0000b\u0000"}' "$BODY" "the share comes back byte-exact (NULs as \\u0000)"
req POST /portal/clients/bi-nul/backup '{"backupShare":"\u0000"}'
assert_status 200 "a client share that is one NUL byte"
expect_rows=$((expect_rows + 1))
req GET /portal/clients/bi-nul/backup
assert_eq '{"backupMethod":"UNKNOWN","backupShare":"\u0000","cipherText":"\u0000","backupMethods":["UNKNOWN"]}' "$BODY" "the one-NUL client share comes back byte-exact"
assert_sql "SELECT length(envelope) + length(payload) FROM share_record WHERE client_id = 'bi-nul' AND kind = 2" \
    149 "it was sealed as one byte (148-byte record overhead + 1)"
req POST /webhook/backup '{"clientId":"bi-nu\u0000l","share":"x"}'
assert_error 422 "\\u0000 inside clientId is an invalid id"
req POST /webhook/backup/fetch '{"clientId":"bi-nul\u0000"}'
assert_error 422 "\\u0000 at the end of clientId does not name client bi-nul"
assert_eq 0 "$(rows "client_id IN ('bi-nu', 'bi-nul\\\\u0000')")" "no row under a shortened id"
req POST /webhook/backup '{"clientId\u0000x":"bi-nulkey","share":"x"}'
# json-c keeps keys as C strings: the key would be read as "clientId".
assert_error 400 "\\u0000 inside an object key is refused, not cut short"
rows_unchanged "\\u0000: only the accepted shares were stored"

# ============================================================================
# 5. Nesting: a request body may nest 4 deep (src/bounds.h JSON_DEPTH_MAX);
#    deeper is malformed (400), however deep, without exhausting the stack.
# ============================================================================
req POST /webhook/backup '{"clientId":"bi-deep","share":"x","a":{"b":{"c":{}}}}'
assert_status 200 "nesting 4 deep is accepted"
expect_rows=$((expect_rows + 1))
req POST /webhook/backup '{"clientId":"bi-deep","share":"y","a":{"b":{"c":{"d":{}}}}}'
assert_error 400 "nesting 5 deep"
req POST /webhook/backup '{"clientId":"bi-deep","share":"y","a":[[[[]]]]}'
assert_error 400 "arrays 5 deep"
deep=$(printf '%*s' 30000 '' | tr ' ' '[')
req POST /webhook/backup "{\"clientId\":\"bi-deep\",\"share\":\"y\",\"a\":$deep"
assert_error 400 "30000 open brackets"
deep=$(printf '%*s' 12000 '' | sed 's/ /{"a":/g')
req POST /portal/clients/bi-deep/backup "{\"backupShare\":\"y\",\"x\":$deep"
assert_error 400 "12000 nested objects on the client route"
rows_unchanged "nesting: only the 4-deep body was stored"

# ============================================================================
# 6. Numbers: huge ones parse (they are valid JSON) but are not strings
#    (422); what RFC 8259 does not allow is malformed (400).
# ============================================================================
huge=$(printf '%*s' 60000 '' | tr ' ' '9')
req POST /webhook/backup "{\"clientId\":\"bi-num\",\"share\":$huge}"
assert_error 422 "a 60000-digit number as the share"
req POST /webhook/backup '{"clientId":1e999999,"share":"x"}'
assert_error 422 "1e999999 as the clientId"
req POST /webhook/backup '{"clientId":-1e-999999,"share":"x"}'
assert_error 422 "-1e-999999 as the clientId"
req POST /portal/clients/bi-num/backup '{"backupShare":18446744073709551616}'
assert_error 422 "2^64 as the client share"
for n in 01 1. .5 +1 -  0x10 1e NaN Infinity -Infinity 1_000; do
    req POST /webhook/backup "{\"clientId\":\"bi-num\",\"share\":\"x\",\"n\":$n}"
    assert_error 400 "not a JSON number: $n"
done
rows_unchanged "numbers stored nothing"

# ============================================================================
# 7. Duplicate keys: refused (400) however they are spelled, because a
#    signature checker upstream and sharekeep could each read another one.
# ============================================================================
for b in \
    '{"clientId":"bi-dup","clientId":"bi-dup2","share":"x"}' \
    '{"clientId":"bi-dup","share":"x","share":"y"}' \
    '{"clientId":"bi-dup","share":"x","share":"x"}' \
    '{"clientId":"bi-dup","client\u0049d":"bi-dup2","share":"x"}' \
    '{"clientId":"bi-dup","\u0073hare":"y","share":"x"}'; do
    req POST /webhook/backup "$b"
    assert_error 400 "duplicate key: $b"
    assert_jq '.error.message | test("duplicate")' "the error names the duplicate keys"
done
req POST /webhook/backup/fetch '{"clientId":"bi-dup","clientId":"bi-chunk"}'
assert_error 400 "duplicate clientId on fetch"
req POST /portal/clients/bi-dup/backup '{"backupShare":"a","backupShare":"b"}'
assert_error 400 "duplicate backupShare"
rows_unchanged "duplicate keys stored nothing"

# ============================================================================
# 8. Invalid UTF-8 (RFC 3629), raw or as escapes: 400.  A valid 4-byte
#    sequence is stored and comes back byte-exact.
# ============================================================================
bad_utf8() {   # DESC BYTES(printf format)
    # shellcheck disable=SC2059  # $2 holds printf escapes on purpose
    printf "{\"clientId\":\"bi-utf\",\"share\":\"a$2b\"}" >"$T/utf.json"
    req_file POST /webhook/backup "$T/utf.json"
    assert_error 400 "invalid UTF-8 in the share: $1"
}
bad_utf8 "0xff" '\xff'
bad_utf8 "lone continuation byte" '\x80'
bad_utf8 "overlong '/' (C0 AF)" '\xc0\xaf'
bad_utf8 "overlong NUL (C0 80)" '\xc0\x80'
bad_utf8 "overlong 3-byte (E0 80 AF)" '\xe0\x80\xaf'
bad_utf8 "UTF-16 surrogate as UTF-8 (ED A0 80)" '\xed\xa0\x80'
bad_utf8 "above U+10FFFF (F4 90 80 80)" '\xf4\x90\x80\x80'
bad_utf8 "5-byte form (F8 88 80 80 80)" '\xf8\x88\x80\x80\x80'
bad_utf8 "truncated 3-byte sequence" '\xe2\x82'
bad_utf8 "Latin-1 e-acute" '\xe9'
printf '{"clientId":"bi-utf","sh\xffare":"x"}' >"$T/utf.json"
req_file POST /webhook/backup "$T/utf.json"
assert_error 400 "invalid UTF-8 in a key"
printf '{"backupShare":"\xc3"}' >"$T/utf.json"
req_file POST /portal/clients/bi-utf/backup "$T/utf.json"
assert_error 400 "truncated 2-byte sequence at the end of a client share"
for esc in '\ud800' '\udfff' '\ud800\u0041' '\ud83d' '\ude00\ud83d' '\u12' '\uZZZZ' '\x41' '\a'; do
    req POST /webhook/backup "{\"clientId\":\"bi-utf\",\"share\":\"$esc\"}"
    assert_error 400 "bad escape: $esc"
done
rows_unchanged "invalid UTF-8 stored nothing"
emoji=$(printf 'key \xf0\x9f\x94\x90 \xe2\x82\xac \xc3\xa9 \xef\xbf\xbf end')
req POST /webhook/backup "$(json clientId bi-utf share "$emoji")"
assert_status 200 "valid 2-, 3- and 4-byte UTF-8 (and U+FFFF) is accepted"
expect_rows=$((expect_rows + 1))
req POST /webhook/backup/fetch "$(json clientId bi-utf)"
assert_fetched "$emoji" "and comes back byte-exact"
req POST /webhook/backup '{"clientId":"bi-utf2","share":"\ud83d\udd10"}'
assert_status 200 "a surrogate pair escape is accepted"
expect_rows=$((expect_rows + 1))
req POST /webhook/backup/fetch "$(json clientId bi-utf2)"
assert_eq "$(printf '{"backupShares":["\xf0\x9f\x94\x90"],"backupShare":"\xf0\x9f\x94\x90"}')" "$BODY" "and is stored as its 4-byte UTF-8"
# json-c 0.16 would decode this pair (U+1DA00) to U+FFFD: refused rather
# than stored altered.
req POST /webhook/backup '{"clientId":"bi-utf3","share":"\ud836\ude00"}'
assert_error 400 "\\ud836\\ude00 (a pair json-c cannot decode) is refused, not stored altered"
rows_unchanged "UTF-8: only the valid shares were stored"

# ============================================================================
# 9. Overlong headers, request lines and paths.  nginx's
#    large_client_header_buffers (4 x 8k) bound a header line and the request
#    line; sharekeep bounds the path (1024 bytes: 404) and echoes only a
#    plain X-Request-Id of at most 64 characters.
# ============================================================================
before=$(sk_requests)
req POST /webhook/backup/fetch "$(json clientId bi-nobody)" -H "X-Filler: $(fill 65536)"
nginx_refusal 400 "a 64 KiB header"
req POST /webhook/backup/fetch "$(json clientId bi-nobody)" -H "X-Filler: $(fill 9000)"
nginx_refusal 400 "a 9000-byte header"
filler=()
for i in 1 2 3 4 5; do filler+=(-H "X-Filler-$i: $(fill 7900)"); done
req POST /webhook/backup/fetch "$(json clientId bi-nobody)" "${filler[@]}"
nginx_refusal 400 "five 7.9 KiB headers (40 KiB of headers)"
req GET "/portal/clients/$(fill 9000)/backup"
nginx_refusal 414 "a 9000-byte request line"
assert_eq "$before" "$(sk_requests)" "no overlong header reached sharekeep"
req POST /webhook/backup/fetch "$(json clientId bi-nobody)" -H "X-Filler: $(fill 7000)"
assert_error 404 "a 7000-byte header is passed on (unknown client: 404)"
req POST "/webhook/$(fill 1100)" "$(json clientId bi-nobody)"
assert_error 404 "a 1100-byte path under /webhook/"
req GET "/portal/clients/$(fill 1100)/backup"
assert_error 404 "a 1100-byte path under /portal/clients/ (over sharekeep's 1024)"
rid=$(rand_token 65)
req GET /healthz -- -H "X-Request-Id: $rid"
assert_status 200 "health with a 65-character X-Request-Id"
check "a request id over 64 characters is replaced, not echoed" \
    test "$(header X-Request-Id)" != "$rid"
req GET /healthz -- -H 'X-Request-Id: abc<script>"'
check "a request id with markup is replaced, not echoed" \
    bash -c "! grep -qi 'script' '$RESP_HEADERS'"
rid=$(rand_token 64)
req GET /healthz -- -H "X-Request-Id: $rid"
assert_header X-Request-Id "^$rid\$" "a plain 64-character request id is echoed"
rows_unchanged "overlong input stored nothing"

# ============================================================================
# 10. Path traversal and encoded slashes in clientId.  nginx decodes and
#     normalizes the URI (%XX decoded, "//" merged, "." and ".." resolved)
#     to pick a location, and passes that path as DOCUMENT_URI; sharekeep
#     routes on the same path, so the route that answers is the one whose
#     nginx location (and what it blanks) applied.  A traversal lands on
#     another route, never on another client without that client's token.
#     Depending on the normalized path the client gets nginx's 404 (no
#     sharekeep location), nginx's 400 (%00) or sharekeep's answer for the
#     route it names.  (t_errors.sh has a%2Fb, a%20b, a.b, ...)
# ============================================================================
trav() {   # METHOD PATH EXPECTED(404|422|403|nginx404|nginx400) DESC [TOKEN_ID]
    local method=$1 path=$2 want=$3 desc=$4 tok=${5-}
    local -a h=()
    [ -z "$tok" ] || h=(-H "Authorization: Bearer $(client_token "$tok")")
    if [ "$method" = POST ]; then
        REQ_AUTH=${tok:+0} req POST "$path" "$(json backupShare x clientId bi-trav share x)" --path-as-is "${h[@]}"
    else
        REQ_AUTH=${tok:+0} req GET "$path" -- --path-as-is "${h[@]}"
    fi
    case $want in
        nginx404) nginx_refusal 404 "$desc" ;;
        nginx400) nginx_refusal 400 "$desc" ;;
        200) assert_status 200 "$desc" ;;
        *) assert_error "$want" "$desc" ;;
    esac
}
trav POST '/portal/clients/..%2Fx/backup' nginx404 "..%2F: nginx normalizes to /portal/x/backup"
trav GET '/portal/clients/..%2Fx/backup' nginx404 "GET ..%2F"
trav POST '/portal/clients/%2e%2e/backup' nginx404 "%2e%2e: nginx normalizes to /portal/backup"
trav POST '/portal/clients/%2E%2E%2Fbi-chunk/backup' nginx404 "%2E%2E%2F (upper case)"
# decoded once, as nginx does: the id is "..%2Fx" (a token for it gets past
# authentication, then the id itself is invalid)
trav POST '/portal/clients/..%252Fx/backup' 422 "double-encoded ..%252F is the one invalid id '..%2Fx'" '..%2Fx'
assert_json .error.code invalid_client_id "..%252F: code invalid_client_id"
trav GET '/portal/clients/%252e%252e/backup' 422 "double-encoded %252e%252e is the invalid id '%2e%2e'" '%2e%2e'
assert_json .error.code invalid_client_id "%252e%252e: code invalid_client_id"
# "." segments are resolved: /portal/clients/backup names nothing
trav POST '/portal/clients/%2e/backup' 404 "%2e is '.': routed as /portal/clients/backup"
assert_json .error.code not_found "%2e: code not_found"
trav POST '/portal/clients/./backup' 404 "./ (not normalized by curl): routed as /portal/clients/backup"
assert_json .error.code not_found "./: code not_found"
# ".." climbs to another client's route: bi-chunk's own token is no use there
trav GET '/portal/clients/bi-chunk%2F..%2Fbi-nul/backup' 403 \
    "bi-chunk%2F..%2Fbi-nul is bi-nul's route: bi-chunk's token is refused" bi-chunk
assert_json .error.code forbidden "bi-chunk%2F..%2Fbi-nul: code forbidden"
trav GET '/portal/clients/bi-chunk/../bi-nul/backup' 403 \
    "bi-chunk/../bi-nul is bi-nul's route: bi-chunk's token is refused" bi-chunk
assert_json .error.code forbidden "bi-chunk/../bi-nul: code forbidden"
not_revealed "bi-chunk/../bi-nul" '\u0000'
trav GET '/portal/clients/bi-chunk%00/backup' nginx400 "%00 in the path: nginx refuses it"
# spellings of bi-chunk's own route are its route (with its token: its share)
trav GET '/portal/clients/bi-chunk%2fbackup' 200 "%2f instead of the last slash is bi-chunk's route" bi-chunk
assert_client_got "$cshare" "%2fbackup: bi-chunk's share"
trav GET '//portal/clients/bi-chunk/backup' 200 "doubled leading slash is merged: bi-chunk's route" bi-chunk
assert_client_got "$cshare" "//portal: bi-chunk's share"
trav GET '/portal/clients/bi-chunk//backup' 200 "doubled slash before backup is merged: bi-chunk's route" bi-chunk
assert_client_got "$cshare" "bi-chunk//backup: bi-chunk's share"
trav GET '/portal/clients/bi-chunk/%62ackup' 200 "%62ackup (encoded 'b') is bi-chunk's route" bi-chunk
assert_client_got "$cshare" "%62ackup: bi-chunk's share"
trav GET '/portal/clients//backup' 404 "empty clientId (merged: /portal/clients/backup)"
trav GET '/portal/clients/bi-chunk/backup/' 404 "trailing slash"
trav GET '/portal/clients/bi-chunk/backup;x=1' 404 "path parameter"
trav GET '/PORTAL/clients/bi-chunk/backup' nginx404 "upper-case prefix: no nginx location"
rows_unchanged "traversal attempts on the client prefix stored nothing"
# Spellings of /webhook/backup are the store webhook (req() signs them: the
# store is accepted, as a custodian share, kind 1).
wstore() {   # PATH CLIENT_ID DESC
    req POST "$1" "$(json clientId "$2" share x)" --path-as-is
    assert_status 200 "$3 is the store webhook"
    assert_stored 1 true "$3: the store webhook stored it"
    assert_eq 1 "$(rows "client_id = '$2' AND kind = 1")" "$3: one custodian share for $2"
    expect_rows=$((expect_rows + 1))
}
wstore '/webhook/../webhook/backup' bi-trav-w1 "/webhook/../webhook/backup"
wstore '/webhook/./backup' bi-trav-w2 "/webhook/./backup"
wstore '/webhook/%62ackup' bi-trav-w3 "/webhook/%62ackup"
# /webhook%2Fbackup: nginx decodes it to /webhook/backup (its webhook
# location), and that is the route; signed by hand (req() signs only paths
# that start with /webhook/)
printf '%s' "$(json clientId bi-trav-w4 share x)" >"$T/w4.json"
auth_for /webhook/backup "$T/w4.json"
curl_h
REQ_AUTH=0 req_file POST '/webhook%2Fbackup' "$T/w4.json" "${CURL_H[@]}" --path-as-is
assert_status 200 "/webhook%2Fbackup is the store webhook"
assert_stored 1 true "/webhook%2Fbackup: the store webhook stored it"
assert_eq 1 "$(rows "client_id = 'bi-trav-w4' AND kind = 1")" "/webhook%2Fbackup: one custodian share"
expect_rows=$((expect_rows + 1))
# /webhook/backup%2Ffetch is the fetch webhook
req POST '/webhook/backup%2Ffetch' "$(json clientId bi-trav-w1)" --path-as-is
assert_status 200 "/webhook/backup%2Ffetch is the fetch webhook"
assert_fetched x "/webhook/backup%2Ffetch: bi-trav-w1's share"
# a trailing ".." leaves /webhook/backup/, which names nothing
trav POST '/webhook/backup/fetch/..' 404 "/webhook/backup/fetch/.. is /webhook/backup/"
assert_json .error.code not_found "/webhook/backup/fetch/..: code not_found"
# climbing out of the client prefix lands on the store webhook, which wants
# its signature (a Bearer token is nothing there): 401, nothing stored
trav POST '/portal/clients/../../webhook/backup' 401 "../../webhook/backup from the client prefix is the store webhook" bi-trav
check "../../webhook/backup: a webhook 401 (no Bearer challenge)" \
    bash -c "! grep -qi '^www-authenticate:' '$RESP_HEADERS'"
rows_unchanged "traversal attempts stored only the webhook spellings' shares"

# ============================================================================
# 11. Methods.  sharekeep answers every other method on its paths with a JSON
#     405 and Allow (t_errors.sh: GET/PUT on the store webhook, GET on fetch,
#     DELETE on a client share, POST on /healthz).  nginx answers TRACE
#     itself; HEAD on the client route answers like GET, elsewhere it gets
#     sharekeep's 405; either way without a body.
# ============================================================================
for path in /webhook/backup /webhook/backup/fetch /portal/clients/bi-meth/backup; do
    case $path in /portal/*) allow='^GET, HEAD, POST$' ;; *) allow='^POST$' ;; esac
    for m in PUT DELETE PATCH OPTIONS PROPFIND FOO SHAREKEEP; do
        case "$m $path" in "PUT /webhook/backup" | "DELETE /portal/"*) continue ;; esac
        req "$m" "$path" "$(json clientId bi-meth share x backupShare x)"
        assert_error 405 "$m $path"
        assert_header Allow "$allow" "$m $path: Allow"
    done
    req HEAD "$path" -- -I
    case $path in
        /portal/*)   # HEAD answers like GET (nothing stored: 404), without a body
            assert_status 404 "HEAD $path answers like GET"
            assert_header Content-Type '^application/json' "HEAD $path: GET's content type"
            ;;
        *)
            assert_status 405 "HEAD $path"
            assert_header Allow "$allow" "HEAD $path: Allow"
            ;;
    esac
    check "HEAD $path: no body" bash -c "! grep -q '\"error\"' '$RESP_BODY'"
    req TRACE "$path"
    nginx_refusal 405 "TRACE $path"
done
raw_request OPTIONS '*' ""
nginx_refusal 400 "OPTIONS * (no path)"
raw_request get /webhook/backup ""
nginx_refusal 400 "a lower-case method"
raw_request 'PO ST' /webhook/backup ""
nginx_refusal 400 "a method with a space"
rows_unchanged "other methods stored nothing"

# ---- finally --------------------------------------------------------------
assert_eq "$expect_rows" "$(rows)" "share_record holds exactly the accepted shares"
check "sharekeep never answered 500" bash -c "! grep -q 'status=500' '$SK_LOG'"
check "nginx never spooled a body to disk" \
    bash -c "! grep -q 'buffered to a temporary file' '$T/nginx/error.log'"
check "every sharekeep worker is still the one that started (no crash)" \
    bash -c "! grep -q 'worker exited' '$SK_LOG'"
