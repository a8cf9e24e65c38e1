#!/bin/bash
# /healthz, and what happens while PostgreSQL (or sharekeep) is down:
# 503 + Retry-After, nothing half-stored, and recovery without a restart.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"

sk_init
sk_setup
pid_before=$SK_PID

req GET /healthz
assert_status 200 "healthz with the database up"
assert_json .status ok "healthz says {\"status\":\"ok\"}"
assert_header Content-Type '^application/json' "healthz answers JSON"

share1='{"share":"'$(rand_token 64)'"}'
req POST /webhook/backup "$(json clientId health-1 share "$share1")"
assert_status 200 "store with the database up"

# -- PostgreSQL goes away -----------------------------------------------------
pg_stop
log "PostgreSQL stopped"

req GET /healthz
assert_error 503 "healthz with the database down"
assert_header Retry-After '^[0-9]+$' "healthz 503 carries Retry-After"

req POST /webhook/backup "$(json clientId health-2 share '{"share":"during-outage"}')"
assert_error 503 "store with the database down"
assert_header Retry-After '^[0-9]+$' "store 503 carries Retry-After"

req POST /webhook/backup/fetch "$(json clientId health-1)"
assert_error 503 "fetch with the database down (not a 404)"
assert_header Retry-After '^[0-9]+$' "fetch 503 carries Retry-After"

req GET /portal/clients/health-1/backup
assert_error 503 "client get with the database down"

# bad input is still judged without the database
req POST /webhook/backup '{'
assert_error 400 "malformed JSON is still a 400 while the database is down"

check "sharekeep is still running while the database is down" alive "$SK_PID"

# -- PostgreSQL comes back ---------------------------------------------------
pg_start
log "PostgreSQL started again"

# Each prefork worker notices its broken connection on its next request;
# give them a few seconds to come back, then demand steady success.
recovered=0
streak=0
for i in $(seq 1 75); do
    req GET /healthz
    if [ "$STATUS" = 200 ]; then
        streak=$((streak + 1))
        [ $streak -ge 4 ] && { recovered=1; break; }
    else
        streak=0
        sleep 0.2
    fi
done
assert_eq 1 "$recovered" "healthz is 200 again within 15s of the database restart"
assert_eq "$pid_before" "$SK_PID" "without restarting sharekeep"
check "the same sharekeep process is still running" alive "$pid_before"

for i in 1 2 3 4; do
    req POST /webhook/backup/fetch "$(json clientId health-1)"
    assert_status 200 "fetch $i after recovery"
    assert_fetched "$share1" "fetch $i after recovery returns the share stored before the outage"
done

assert_eq 0 "$(rows "client_id = 'health-2'")" "the store attempted during the outage left no row"
share2='{"share":"'$(rand_token 64)'"}'
req POST /webhook/backup "$(json clientId health-2 share "$share2")"
assert_status 200 "store after recovery"
assert_eq 1 "$(rows "client_id = 'health-2'")" "and it is one row"

# -- sharekeep goes away: nginx answers in the same JSON shape ----------------
sk_stop
req GET /healthz
assert_error 503 "healthz through nginx with sharekeep stopped"
assert_header Retry-After '^[0-9]+$' "nginx's 503 carries Retry-After"
req POST /webhook/backup "$(json clientId health-3 share x)"
assert_error 503 "store through nginx with sharekeep stopped"

sk_start
req GET /healthz
assert_status 200 "healthz after sharekeep is started again"
