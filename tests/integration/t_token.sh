#!/bin/bash
# The PKCS#11 KEK backend as an operator meets it, under nginx, with the
# token in another process (a SoftHSM2 token behind `p11-kit server`, reached
# through p11-kit-client.so, as a network HSM would be):
#   1. a deployment on a key file moves into the token with two commands
#      (rotate, rewrap) while Portal keeps storing; verify opens everything;
#      the old file KEK is retired; and it moves back out the same way;
#   2. rotate inside the token under load, then verify;
#   3. the token going away is 503 with Retry-After, and service comes back
#      by itself when the token does (no restart); a token that stops
#      answering (its p11-kit server side SIGSTOPped) is 503 by the request
#      deadline, and the stuck worker is replaced by one that connects anew;
#   4. start is refused, with a message naming the key, for a KEK the token
#      does not hold and for an extractable one;
#   5. a scan of a worker's whole memory finds no byte of the KEK (a known,
#      non-extractable key imported for that purpose), while the same scan
#      finds a key file KEK in a worker of the file backend.
# (The whole Portal contract on the token backend is t_portal_token.sh.)
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
SK_WEBHOOK_MODE=shared
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib_token.sh"

sk_init
have python3 || skip "python3 not found"
IMPORT=${P11_IMPORT_KEY:-tests/tools/p11_import_key}
[ -x "$IMPORT" ] || die "no $IMPORT (make check builds it)"
sk_token_up       # the token and its p11-kit server; SK_TOKEN_CFG names them
TOKEN_CFG=("${SK_TOKEN_CFG[@]}")
SK_TOKEN_CFG=()   # ... but start on a key file, as an existing deployment

# A short deadline, so that the stopped-token case is quick to see.
DEADLINE=3
sk_setup request_timeout=$DEADLINE
ADMIN_DB=$(pg_conninfo sharekeep_owner)
admin() { sk_run SHAREKEEP_ADMIN_DATABASE="$ADMIN_DB" -- -c "$SK_CONF" "$@"; }
show() { sed 's/^/#   /' <<<"$out"; }
store() { req POST /webhook/backup "$(json clientId "$1" share "$2" backupMethod "${3:-GDRIVE}")"; }
fetch() { req POST /webhook/backup/fetch "$(json clientId "$1")"; }
# scheme_counts: "scheme:count ..." over every record (byte 10 of the envelope).
scheme_counts() {
    pg_psql "SELECT string_agg(s || ':' || n, ' ' ORDER BY s) FROM
             (SELECT get_byte(envelope, 10) AS s, count(*) AS n FROM share_record GROUP BY 1) x"
}

declare -A SHARE=()
# put N PREFIX: N stores, each remembered for the final byte-exact check.
put() {
    local i cid
    for i in $(seq 1 "$1"); do
        cid=$2-$i
        SHARE[$cid]='{"share":"'$(rand_token 40)'","n":'$i'}'
        store "$cid" "${SHARE[$cid]}"
        [ "$STATUS" = 200 ] || echo "# store $cid: HTTP $STATUS $BODY"
    done
}
# all_fetch_back DESC: every remembered share comes back byte for byte.
all_fetch_back() {
    local cid bad=0
    for cid in "${!SHARE[@]}"; do
        fetch "$cid"
        [ "$STATUS" = 200 ] && [ "$BODY" = "$(fetch_body "${SHARE[$cid]}")" ] || bad=$((bad + 1))
    done
    assert_eq 0 "$bad" "$1: all ${#SHARE[@]} shares fetch back byte for byte"
}

# ---- 1. file -> token, with Portal storing meanwhile ---------------------------
put 20 before
assert_eq "0:20" "$(scheme_counts)" "the key file KEK wrapped the first 20 (scheme 0)"
sk_write_config request_timeout=$DEADLINE "${TOKEN_CFG[@]}"   # the operator adds the token settings
kill -HUP "$SK_PID"
sleep 0.5
load=$T/load.txt
: >"$load"
(
    for i in $(seq 1 60); do
        share='{"share":"'$(rand_token 40)'"}'
        store "during-$i" "$share"
        printf '%s during-%s %s\n' "$STATUS" "$i" "$share" >>"$load"
    done
) &
loader=$!
sleep 0.2
out=$(admin rotate 2>&1)
show
check "rotate with a token configured makes KEK 2 inside the token" \
    grep -q "KEK 2 is now active .*generated inside the PKCS#11 token" <<<"$out"
check "the key file lists KEK 2 as a token KEK, with no key bytes" \
    grep -qx "kek 2 active pkcs11" "$T/sk/keyring"
kill -HUP "$SK_PID"
sleep 0.5
out=$(admin rewrap 2>&1)
show
check "rewrap moves the records into the token" grep -q "rewrap: done" <<<"$out"
wait "$loader"
assert_eq 60 "$(grep -c '^200 ' "$load")" "every store during the move got 200"
while read -r st cid share; do SHARE[$cid]=$share; done <"$load"
admin rewrap >/dev/null 2>&1   # what reached a worker before the reload
assert_eq 0 "$(rows "kek_id <> 2")" "no record is left on the key file KEK"
assert_eq "1:80" "$(scheme_counts)" \
    "every record is wrapped by the token (scheme 1: RFC 5649 from the token's ECB)"
out=$(admin verify 2>&1)
check "verify opens all 80 records with the token" grep -q "verify: 80 records, 80 opened, 0 failed" <<<"$out"
out=$(admin retire 1 2>&1)
check "the file KEK retires once nothing uses it" grep -q "KEK 1 is retired" <<<"$out"
kill -HUP "$SK_PID"
sleep 0.5
out=$(admin status 2>&1)
show
check "status: KEK 2 active in the token with every record" \
    grep -q "KEK 2: active, 80 records, in the PKCS#11 token" <<<"$out"
check "status: KEK 1 retired in the key file" grep -q "KEK 1: retired, 0 records, in the key file" <<<"$out"
all_fetch_back "after the move into the token"

# ---- 2. rotate inside the token under load -------------------------------------
: >"$load"
(
    for i in $(seq 1 60); do
        share='{"share":"'$(rand_token 40)'"}'
        store "rot-$i" "$share"
        printf '%s rot-%s %s\n' "$STATUS" "$i" "$share" >>"$load"
    done
) &
loader=$!
sleep 0.2
out=$(admin rotate 2>&1)
check "rotate in the token makes KEK 3" grep -q "KEK 3 is now active" <<<"$out"
kill -HUP "$SK_PID"
sleep 0.5
out=$(admin rewrap --batch 9 2>&1)
check "rewrap from token KEK 2 to token KEK 3 finishes" grep -q "rewrap: done" <<<"$out"
wait "$loader"
assert_eq 60 "$(grep -c '^200 ' "$load")" "every store during the token rotation got 200"
while read -r st cid share; do SHARE[$cid]=$share; done <"$load"
admin rewrap >/dev/null 2>&1
assert_eq 0 "$(rows "kek_id <> 3")" "every record is on token KEK 3"
out=$(admin verify 2>&1)
check "verify opens all 140 after the token rotation" \
    grep -q "verify: 140 records, 140 opened, 0 failed" <<<"$out"
out=$(admin retire 2 2>&1)
check "the old token KEK retires once nothing uses it" grep -q "KEK 2 is retired" <<<"$out"
kill -HUP "$SK_PID"
sleep 0.5
all_fetch_back "after the token rotation"

# The same token reached the other way: SoftHSM2 loaded into the workers
# (C_WrapKey with CKM_AES_KEY_WRAP_PAD) opens what p11-kit's client wrapped
# from ECB, and what it wraps opens through the client again: both compute
# RFC 5649, as the known-answer test showed each of them.
sed -i "s|^pkcs11_module = .*|pkcs11_module = $TOKEN_MODULE_DIRECT|" "$SK_CONF"
kill -HUP "$SK_PID"
sleep 0.7
all_fetch_back "through the module loaded directly"
put 6 direct
assert_eq "1:146" "$(scheme_counts)" "records wrapped directly are scheme 1 too"
sed -i "s|^pkcs11_module = .*|pkcs11_module = $TOKEN_MODULE_CLIENT|" "$SK_CONF"
kill -HUP "$SK_PID"
sleep 0.7
all_fetch_back "through p11-kit's client again"

# ---- 3. the token goes away and comes back ---------------------------------------
token_server_stop all
store gone-1 '{"share":"while the token is away"}'
assert_status 503 "a store while the token is unreachable is 503"
check "... with Retry-After" test -n "$(header Retry-After)"
assert_eq 0 "$(rows "client_id = 'gone-1'")" "... and stores nothing"
fetch before-1
assert_status 503 "a fetch while the token is unreachable is 503, not an unopenable record"
check "no record was reported damaged while the token was away" \
    bash -c "! grep -q 'stored record did not open' '$SK_LOG'"
req GET /healthz
assert_status 503 "/healthz says 503 while the token is unreachable (a balancer takes the host out)"
token_server_start
req GET /healthz
assert_status 200 "... and 200 once it is back"
store gone-1 '{"share":"while the token is away"}'
assert_status 200 "the first store after the token is back is 200 (no restart)"
SHARE[gone-1]='{"share":"while the token is away"}'
fetch before-1
assert_status 200 "... and so is a fetch"
all_fetch_back "after the token came back"

# A token that stops answering without closing its connection: every
# p11-kit-remote (one per connected worker) is stopped. Each worker's next
# request waits for the token only until its deadline, answers 503, and the
# worker leaves; its replacement connects afresh (a new p11-kit-remote)
# and serves.
stopped=$(token_server_children)
[ -n "$stopped" ] || die "no p11-kit-remote to stop"
for c in $stopped; do kill -STOP "$c"; done
slow=0
n503=0
first200=""
for i in $(seq 1 8); do
    t0=$EPOCHREALTIME
    store "stuck-$i" '{"share":"while the token is stuck"}'
    ms=$(( (${EPOCHREALTIME/./} - ${t0/./}) / 1000 ))
    [ "$ms" -le $((DEADLINE * 1000 + 500)) ] || slow=$((slow + 1))
    echo "# store stuck-$i: HTTP $STATUS in $ms ms"
    if [ "$STATUS" = 200 ]; then
        SHARE[stuck-$i]='{"share":"while the token is stuck"}'
        first200=${first200:-$i}
    elif [ "$STATUS" = 503 ]; then
        n503=$((n503 + 1))
    fi
done
assert_eq 0 "$slow" "with the token stuck, every answer came within the deadline + 0.5 s"
check "the stuck token cost at most one 503 per worker ($n503)" test "$n503" -ge 1 -a "$n503" -le 2
check "then stores are 200 again, from fresh workers, the old token side still stopped"     test -n "$first200"
check "the stuck workers left and were replaced" grep -q "worker leaves: its token connection is stuck" "$SK_LOG"
for c in $stopped; do kill -CONT "$c" 2>/dev/null; done
all_fetch_back "after the stuck token"

# ---- 4. keys the token does not hold, or would let go ------------------------------
check_with() { sk_run -- -c "$1" check 2>&1; }
cp "$SK_CONF" "$T/check.conf"
sed -i "s|^keyring = .*|keyring = $T/sk/keyring-missing|" "$T/check.conf"
(umask 077 && printf 'kek 99 active pkcs11\n' >"$T/sk/keyring-missing")
out=$(check_with "$T/check.conf")
rc=$?
show
check "a KEK the token does not hold stops the start" test "$rc" -ne 0
check "... naming the label looked for" grep -q "no secret key labelled 'sharekeep-kek-99'" <<<"$out"
XKEY=$(head -c 32 /dev/urandom | od -An -tx1 -v | tr -d ' \n')
"$IMPORT" "$TOKEN_MODULE_CLIENT" "$TOKEN_LABEL" "$TOKEN_PIN_FILE" sharekeep-kek-50 00000032 "$XKEY" \
    --extractable >/dev/null || die "import of the extractable key failed"
sed -i "s|^keyring = .*|keyring = $T/sk/keyring-extractable|" "$T/check.conf"
(umask 077 && printf 'kek 50 active pkcs11\n' >"$T/sk/keyring-extractable")
out=$(check_with "$T/check.conf")
rc=$?
show
check "an extractable KEK stops the start" test "$rc" -ne 0
check "... saying it can leave the token" grep -q "sharekeep-kek-50.*can leave the token" <<<"$out"
check "the PIN is in no message" bash -c '! grep -qF -- "$1" <<<"$2"' _ "$TOKEN_PIN" "$out"

# ---- 5. the worker's memory holds no KEK byte -----------------------------------------
# scan_mem PID HEX: how many times the bytes HEX occur anywhere in PID's
# readable memory (every mapping of /proc/PID/maps, read through
# /proc/PID/mem: also what a core dump would leave out).
scan_mem() {
    python3 - "$1" "$2" <<'PY'
import re, sys
pid, needle = sys.argv[1], bytes.fromhex(sys.argv[2])
hits = 0
with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
    for line in maps:
        addr, perms = line.split()[:2]
        if perms[0] != "r" or "[vsyscall]" in line or "[vvar]" in line:
            continue
        lo, hi = (int(x, 16) for x in addr.split("-"))
        # Larger than any heap here: a sanitizer's shadow memory, mostly
        # never touched; reading it would take terabytes.
        if hi - lo > 1 << 30:
            continue
        tail = b""
        for at in range(lo, hi, 1 << 24):
            try:
                mem.seek(at)
                chunk = tail + mem.read(min(1 << 24, hi - at))
            except (OSError, ValueError, OverflowError):
                tail = b""
                continue
            hits += chunk.count(needle)
            # the next chunk starts with this one's last len - 1 bytes, so a
            # needle across the boundary is found (and, shorter than the
            # needle, they cannot hold one already counted)
            tail = chunk[-(len(needle) - 1):]
print(hits)
PY
}
KKEY=$(head -c 32 /dev/urandom | od -An -tx1 -v | tr -d ' \n')
"$IMPORT" "$TOKEN_MODULE_CLIENT" "$TOKEN_LABEL" "$TOKEN_PIN_FILE" sharekeep-kek-60 0000003c "$KKEY" \
    >/dev/null || die "import of the known key failed"
(umask 077 && printf 'kek 60 active pkcs11\n' >"$T/sk/keyring-known")
sed -i "s|^keyring = .*|keyring = $T/sk/keyring-known|" "$SK_CONF"
kill -HUP "$SK_PID"
sleep 0.7
for i in 1 2 3 4; do store "scan-$i" '{"share":"scan"}'; fetch "scan-$i"; done
assert_status 200 "stores and fetches work with the imported KEK"
assert_eq 4 "$(rows "kek_id = 60")" "... which sealed the four new records"
found=0
workers=$(children_of "$SK_PID")
for w in $workers; do found=$((found + $(scan_mem "$w" "$KKEY"))); done
assert_eq 0 "$found" "no worker's memory holds the token KEK ($(wc -w <<<"$workers") workers scanned)"
assert_eq 0 "$(scan_mem "$SK_PID" "$KKEY")" "... nor the master's"
# The control: the same scan finds a key file KEK in a file-backend worker.
sk_stop || true
sk_write_config
sk_keygen "$T/sk/keyring-file"
sed -i "s|^keyring = .*|keyring = $T/sk/keyring-file|" "$SK_CONF"
sk_start
fkey=$(awk '$1 == "kek" { print $4; exit }' "$T/sk/keyring-file" | base64 -d | od -An -tx1 -v | tr -d ' \n')
store scan-file '{"share":"scan"}'
assert_status 200 "a store on the file backend"
found=0
for w in $(children_of "$SK_PID"); do found=$((found + $(scan_mem "$w" "$fkey"))); done
check "the scan does find a key file KEK in a file-backend worker (the control)" test "$found" -gt 0
