#!/bin/bash
# Every way a request can be wrong gets the right status, a JSON error body
# {"error":{"code","message"}}, and stores nothing.
# sharekeep runs with max_body = 4096 here so that its own 413 (bodies
# between 4 KiB and nginx's 64 KiB) and nginx's 413 (over 64 KiB) are both seen.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"

sk_init
sk_setup max_body=4096

good=$(json clientId err-1 share '{"share":"x"}')

# -- 404: paths that reach sharekeep but name nothing -------------------------
for p in /webhook/ /webhook/nope /webhook/backup/fetch/more /webhook/backupx \
    /portal/clients/ /portal/clients/abc /portal/clients/abc/backup/more \
    /portal/clients/abc/backups; do
    req POST "$p" "$good"
    assert_error 404 "POST $p"
done
req GET /portal/clients/abc/other
assert_error 404 "GET /portal/clients/abc/other"

# -- 405: known path, wrong method, with Allow ---------------------------------
req GET /webhook/backup
assert_error 405 "GET on the store webhook"
assert_header Allow 'POST' "405 for the store webhook names POST"
req PUT /webhook/backup "$good"
assert_error 405 "PUT on the store webhook"
req GET /webhook/backup/fetch
assert_error 405 "GET on the fetch webhook"
assert_header Allow 'POST' "405 for the fetch webhook names POST"
req DELETE /portal/clients/abc/backup
assert_error 405 "DELETE on a client share"
assert_header Allow '^(.*[ ,])?GET([ ,].*)?$' "405 for a client share names GET"
assert_header Allow '^(.*[ ,])?POST([ ,].*)?$' "405 for a client share names POST"
req POST /healthz "{}"
assert_error 405 "POST on /healthz"
assert_header Allow 'GET' "405 for /healthz names GET"

# -- 415: not JSON ----------------------------------------------------------
REQ_CT=text/plain req POST /webhook/backup "$good"
assert_error 415 "text/plain body"
REQ_CT= req POST /webhook/backup "$good"
assert_error 415 "no Content-Type"
REQ_CT=application/x-www-form-urlencoded req POST /webhook/backup "$good"
assert_error 415 "form-encoded body"
REQ_CT=application/jsonp req POST /portal/clients/err-1/backup "$(json backupShare x)"
assert_error 415 "application/jsonp is not JSON"
REQ_CT='application/json; charset=utf-8' req POST /webhook/backup/fetch "$(json clientId err-nobody)"
assert_error 404 "application/json with a charset parameter is accepted (then: unknown client)"

# -- 413: too large ---------------------------------------------------------
over=$(json clientId err-1 share "$(rand_token 5000)")
req POST /webhook/backup "$over"
assert_error 413 "5 KB body over sharekeep's max_body (4096)"
assert_jq '.error.code == "payload_too_large"' "413 from sharekeep has code payload_too_large"
req POST /portal/clients/err-1/backup "$(json backupShare "$(rand_token 5000)")"
assert_error 413 "5 KB client share over max_body"
# chunked: no Content-Length from the client; nginx buffers it and passes one
req POST /webhook/backup "$over" -H 'Transfer-Encoding: chunked'
assert_error 413 "chunked body over max_body"
head -c 70000 /dev/zero | tr '\0' a >"$T/huge"
req_file POST /webhook/backup "$T/huge"
assert_error 413 "70 KB body over nginx's client_max_body_size"

# -- 400: malformed JSON ----------------------------------------------------
for b in '{' '{"clientId":"err-1",}' 'not json' '{"clientId":"err-1","share":"x"} trailing' \
    '{"clientId":"err-1","share":"x"' "'single'" ''; do
    req POST /webhook/backup "$b"
    assert_error 400 "malformed JSON: '$b'"
done
req POST /portal/clients/err-1/backup '{"backupShare":'
assert_error 400 "malformed JSON on the client endpoint"

# -- 422: well-formed JSON, wrong content -----------------------------------
long=$(rand_token 129)
for b in \
    '{"share":"x"}' \
    '{"clientId":"err-1"}' \
    '{"clientId":123,"share":"x"}' \
    '{"clientId":"err-1","share":5}' \
    '{"clientId":"err-1","share":null}' \
    '{"clientId":"err-1","share":{"a":1}}' \
    '{"clientId":["err-1"],"share":"x"}' \
    '{"clientId":"","share":"x"}' \
    '{"clientId":"a b","share":"x"}' \
    '{"clientId":"a/b","share":"x"}' \
    '{"clientId":"../x","share":"x"}' \
    '{"clientId":"ü","share":"x"}' \
    "{\"clientId\":\"$long\",\"share\":\"x\"}" \
    '[]' '"just a string"' '42'; do
    req POST /webhook/backup "$b"
    assert_error 422 "store with ${b:0:60}"
done
for b in '{}' '{"clientId":7}' '{"clientId":"a b"}' "{\"clientId\":\"$long\"}"; do
    req POST /webhook/backup/fetch "$b"
    assert_error 422 "fetch with ${b:0:60}"
done
# An invalid clientId in the path is a 422.  The request is authentic: it
# carries a valid token whose "sub" is the clientId sharekeep routes on,
# so the token check (which runs first) passes and the clientId's own check
# answers.  Behind nginx sharekeep routes on the decoded path nginx matched
# (DOCUMENT_URI), so the id of /portal/clients/a%20b/backup is "a b": the
# token is for the decoded id (REQ_AUTH=0: req() would send one for the raw
# segment).
for id in "$long" 'a%20b' '%C3%BC' 'a.b' 'a+b' '%61%2Eb'; do
    dec=$(printf '%b' "${id//%/\\x}")
    hdr="Authorization: Bearer $(client_token "$dec")"
    REQ_AUTH=0 req POST "/portal/clients/$id/backup" "$(json backupShare x)" -H "$hdr"
    assert_error 422 "client store with clientId '${id:0:40}'"
    assert_json .error.code invalid_client_id "client store with clientId '${id:0:40}': code invalid_client_id"
    REQ_AUTH=0 req GET "/portal/clients/$id/backup" -- -H "$hdr"
    assert_error 422 "client get with clientId '${id:0:40}'"
    assert_json .error.code invalid_client_id "client get with clientId '${id:0:40}': code invalid_client_id"
done
# ... and a token for the raw segment "a%20b" is another client's: 403
req POST "/portal/clients/a%20b/backup" "$(json backupShare x)"
assert_error 403 "client store at a%20b with a token for the raw 'a%20b': the route's id is 'a b'"
assert_json .error.code forbidden "a token for the raw segment: code forbidden"
# An encoded '/' in the id is a '/' in the routed path:
# /portal/clients/a%2Fb/backup is /portal/clients/a/b/backup, no route (404),
# whatever token comes with it.
for id in 'a%2Fb' 'a%2fb'; do
    REQ_AUTH=0 req POST "/portal/clients/$id/backup" "$(json backupShare x)" \
        -H "Authorization: Bearer $(client_token "a/b")"
    assert_error 404 "client store with clientId '$id': routed as /portal/clients/a/b/backup"
    assert_json .error.code not_found "client store with clientId '$id': code not_found"
    req GET "/portal/clients/$id/backup"
    assert_error 404 "client get with clientId '$id': routed as /portal/clients/a/b/backup"
    assert_json .error.code not_found "client get with clientId '$id': code not_found"
done
for b in '{}' '{"backupShare":1}' '{"backupShare":null}' '{"backupShare":["x"]}' '{"share":"x"}' \
    '{"cipherText":1}' '{"cipherText":null}' '{"cipherText":""}' '{"backupShare":"x","cipherText":"y"}' \
    '{"backupShare":"x","cipherText":"x"}' '{"backupMethod":"PASSWORD"}' '{"backupMethod":"","backupShare":"x"}' \
    '{"backupMethod":7,"cipherText":"x"}'; do
    req POST /portal/clients/err-1/backup "$b"
    assert_error 422 "client store with $b"
done
for b in '{"clientId":"err-1","share":"x","backupMethod":5}' '{"clientId":"err-1","share":"x","backupMethod":""}' \
    '{"clientId":"err-1","share":"x","backupMethod":{"m":"GDRIVE"}}' \
    "{\"clientId\":\"err-1\",\"share\":\"x\",\"backupMethod\":\"$(rand_token 65)\"}" \
    '{"clientId":"err-1","share":"x","backupMethod":"GD\u0000RIVE"}' \
    "{\"clientId\":\"err-1\",\"share\":\"x\",\"backupSharePairId\":\"$long\"}" \
    '{"clientId":"err-1","share":"x","backupSharePairId":1}'; do
    req POST /webhook/backup "$b"
    assert_error 422 "store with ${b:0:70}"
    assert_json .error.code invalid_field "store with ${b:0:50}: code invalid_field"
done
# the client share's query string: only backupMethod, once, well encoded
for q in '?x=1' '?backupMethod=A&backupMethod=B' '?backupMethod=%zz' '?backupMethod=%4' '?backupMethod=%G1'; do
    req GET "/portal/clients/err-1/backup$q"
    assert_error 400 "client get with query '$q'"
done
for q in '?backupMethod=' "?backupMethod=$(rand_token 65)" '?backupMethod=%0A'; do
    req GET "/portal/clients/err-1/backup$q"
    assert_error 422 "client get with query '${q:0:40}'"
done

# -- none of that stored anything ----------------------------------------------
assert_eq 0 "$(rows)" "no error stored a row"

# -- and a good request still works (chunked, through nginx's buffering) -------
req POST /webhook/backup "$good" -H 'Transfer-Encoding: chunked'
assert_status 200 "a chunked store within limits succeeds"
assert_eq 1 "$(rows)" "exactly that one row is stored"
req POST /webhook/backup/fetch "$(json clientId err-1)"
assert_status 200 "and it can be fetched"
assert_eq '{"backupShares":["{\"share\":\"x\"}"],"backupShare":"{\"share\":\"x\"}"}' "$BODY" \
    "the fetch answers {\"backupShares\":[s],\"backupShare\":s} exactly"
