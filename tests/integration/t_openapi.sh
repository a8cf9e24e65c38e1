#!/bin/bash
# docs/openapi.yaml against the running service (nginx -> sharekeep serve).
#
#  - The spec is well-formed for what it claims: OpenAPI 3.0.x, version =
#    configure.ac's, every $ref resolves, unique operationIds, quoted
#    status codes, path parameters declared, x-allow = the path's methods,
#    security schemes defined, every schema valid JSON Schema (draft 4)
#    once OpenAPI's nullable is translated, and only keywords the checker
#    validates.
#  - Each documented operation gets real requests, valid and invalid
#    (X-Webhook-Secret and signed webhooks, Bearer JWTs, bad bodies,
#    replays, several backupMethods and pair ids, the client share per
#    method and its query string, tampered records, the fetch bounds, the
#    database stopped, metrics from a refused address): each
#    answer's status must be one the spec lists for the operation (and the
#    one the case expects), its body must validate against the documented
#    schema for its status and Content-Type, and its documented headers
#    must be there and match.
#  - Request schemas agree with sharekeep: every body sharekeep accepts
#    validates against the operation's request schema, every body it
#    refuses with 422 does not (and the same for the path's clientId, and
#    for the query string against the operation's query parameters: every
#    query sharekeep accepts validates, every one it refuses with 400 or
#    422 does not).
#  - Every request answered 2xx meets one of the operation's security
#    requirements; against a config that leaves webhook_auth at its
#    default (the "shared" phase: X-Webhook-Secret, what Portal sends), it
#    meets the first one: the spec lists the default first.
#  - Every route sharekeep answers (probed: paths x methods) is in the
#    spec; a documented path with another method gets 405 with Allow = the
#    path's x-allow.
#  - Every status the spec documents is seen, except a short list that no
#    black-box request can cause (listed below, with the reason).
#  - Finally, the same checks run against deliberately broken copies of
#    the spec, and each must fail: the check can tell.
#
# The checker is tests/integration/openapi_check.py; it validates with
# jsonschema.  Needs python3 with PyYAML and jsonschema (Debian packages
# python3-yaml and python3-jsonschema, in scripts/deps); skips (77) without.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"

sk_init
SPEC=$SHAREKEEP_SRCDIR/docs/openapi.yaml
[ -f "$SPEC" ] || die "no $SPEC"
# Debian's python3 first: scripts/deps installs its yaml and jsonschema.
PY=""
for p in /usr/bin/python3 python3; do
    if "$p" -c 'import yaml, jsonschema' >/dev/null 2>&1; then PY=$p; break; fi
done
[ -n "$PY" ] || skip "needs python3 with PyYAML and jsonschema (Debian packages python3-yaml, python3-jsonschema)"

# ---- the checker: tests/integration/openapi_check.py ------------------------------
CHECKER=$SHAREKEEP_SRCDIR/tests/integration/openapi_check.py
[ -f "$CHECKER" ] || die "no $CHECKER"

# oa_run ARGS...: run the checker, turn its ok/not ok lines into ours.
oa_run() {
    local line rc n=0
    "$PY" "$CHECKER" "$@" >"$T/oa.out" 2>&1
    rc=$?
    while IFS= read -r line; do
        case $line in
            "ok - "*) ok "${line#ok - }"; n=$((n + 1)) ;;
            "not ok - "*) not_ok "${line#not ok - }"; n=$((n + 1)) ;;
            *) printf '%s\n' "$line" ;;
        esac
    done <"$T/oa.out"
    [ "$rc" -le 1 ] || not_ok "the checker exited with status $rc"
    [ "$n" -gt 0 ] || not_ok "the checker reported no check in phase $2"
}

# ---- the service: nginx (the shipped snippet, plus /metrics and every other
# path sent to sharekeep so that its whole router can be probed) ----------------
pg_start
sk_keygen
# max_body below nginx's 64k so that the 413 is sharekeep's own.  The up
# phase signs its webhooks itself (Standard Webhooks: replays, stale
# timestamps); the shared phase below uses the harness's shared secret.
SK_WEBHOOK_MODE=standard
sk_write_config max_body=4096
sk_migrate
sk_start
{
    echo "include $SHAREKEEP_SRCDIR/conf/nginx/sharekeep.conf;"
    # /metrics: the shipped snippet's own location when it has one
    if ! grep -q '^location = /metrics' "$SHAREKEEP_SRCDIR/conf/nginx/sharekeep.conf"; then
        printf 'location = /metrics {\n    fastcgi_pass sharekeep;\n    include fastcgi_params;\n    fastcgi_param HTTP_PROXY "";\n}\n'
    fi
    cat <<EOF
location / {
    fastcgi_pass sharekeep;
    include fastcgi_params;
    fastcgi_param HTTP_PROXY "";
    client_max_body_size 64k;
}
EOF
} >"$T/nginx/site.conf"
SK_NGINX_INCLUDE=$T/nginx/site.conf
nginx_start

export OA_PORT=$NGINX_PORT OA_WH_KEY_HEX=$SK_WEBHOOK_KEY_HEX OA_JWT_SECRET=$SK_JWT_SECRET OA_MAX_BODY=4096
OA_VERSION=$(sed -n 's/^AC_INIT(\[sharekeep\], *\[\([^]]*\)\].*/\1/p' "$SHAREKEEP_SRCDIR/configure.ac")
OA_PSQL=$(jq -nc --arg psql "$PG_BINDIR/psql" --arg h "$PG_SOCK" --arg p "$PG_PORT" \
    '[$psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", $h, "-p", $p, "-U", "sharekeep_owner", "-d", "sharekeep", "-c"]')
export OA_VERSION OA_PSQL
OBS=$T/observed.json

log "---- database up ----"
oa_run "$SPEC" up "$OBS"

# ---- webhook_auth left at its default (X-Webhook-Secret, what Portal sends),
# the fetch bounded low enough to see the bounds ---------------------------------
log "---- webhook_auth at its default: shared secret; fetch_max_shares 3, fetch_max_bytes 1k, max_versions 3 ----"
sk_stop || not_ok "sharekeep did not stop cleanly"
cp "$SK_CONF" "$T/sharekeep.conf.standard"
# the harness's shared-secret mode, then webhook_auth removed: the default
SK_WEBHOOK_MODE=shared SK_WEBHOOK_SECRET_HEADER=X-Webhook-Secret
sk_write_config max_body=4096
SK_WEBHOOK_MODE=standard
sed -i '/^webhook_auth *=/d; /^webhook_secret_header *=/d' "$SK_CONF"
cp "$SK_CONF" "$T/sharekeep.conf.default"
OA_WH_SHARED=$SK_WEBHOOK_SECRET
export OA_WH_SHARED
SHARED_ENV=(SHAREKEEP_FETCH_MAX_SHARES=3 SHAREKEEP_FETCH_MAX_BYTES=1k SHAREKEEP_MAX_VERSIONS=3)
sk_start "${SHARED_ENV[@]}"
oa_run "$SPEC" shared "$OBS"
sk_stop || not_ok "sharekeep did not stop cleanly"
cp "$T/sharekeep.conf.standard" "$SK_CONF"

log "---- database down, metrics_allow without us ----"
pg_stop
sk_start SHAREKEEP_METRICS_ALLOW=192.0.2.1
oa_run "$SPEC" down "$OBS"

log "---- coverage ----"
oa_run "$SPEC" coverage "$OBS"

# ---- the check can tell: broken copies of the spec must fail ------------------------
log "---- broken specs ----"
if [ "$FAILED" -gt 0 ]; then
    log "the real spec failed: broken copies would prove nothing; skipped"
    exit 1
fi
sk_stop || not_ok "sharekeep did not stop cleanly"
pg_start
sk_start
# each broken copy runs the up phase; one that passes it runs the shared
# phase too (against the default config), and must fail one of them
MUTS=$("$PY" "$CHECKER" "$SPEC" list-mutations "$OBS")
n=$(wc -w <<<"$MUTS")
check "the checker has its 32 broken specs ($n)" test "$n" -ge 32
declare -A MUT_RC MUT_OUT
for m in $MUTS; do
    MUT_OUT[$m]=$("$PY" "$CHECKER" "$SPEC" up "$T/mut.json" --mutate "$m" 2>&1)
    MUT_RC[$m]=$?
done
sk_stop || not_ok "sharekeep did not stop cleanly"
cp "$T/sharekeep.conf.default" "$SK_CONF"
sk_start "${SHARED_ENV[@]}"
for m in $MUTS; do
    if [ "${MUT_RC[$m]}" -eq 0 ]; then
        MUT_OUT[$m]=$("$PY" "$CHECKER" "$SPEC" shared "$T/mut.json" --mutate "$m" 2>&1)
        MUT_RC[$m]=$?
    fi
    out=${MUT_OUT[$m]}
    rc=${MUT_RC[$m]}
    if [ "$rc" -eq 1 ]; then
        ok "a spec with '$m' fails the check (${out:0:150})"
    else
        not_ok "a spec with '$m' should fail the check (exit $rc): ${out:0:300}"
    fi
done
