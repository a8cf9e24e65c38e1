# shellcheck shell=bash
# tests/integration/lib.sh: shared harness for the integration tests.
#
# Each tests/integration/t_*.sh sources this file, starts what it needs
# (PostgreSQL, sharekeep, nginx) inside one private temporary directory,
# talks to sharekeep through real nginx with curl, and asserts on the HTTP
# status, the JSON body and the database row.
#
# Run by `make check` with SHAREKEEP_BIN, SHAREKEEP_SRCDIR and PG_BINDIR set
# and cwd = the build directory.  By hand, from the build directory:
#     bash tests/integration/t_custodian.sh
# (or from anywhere with SHAREKEEP_BIN=/path/to/sharekeep
#  SHAREKEEP_SRCDIR=/path/to/repo).  SK_KEEP_TMP=1 keeps the temp dir.
#
# Exit status follows automake's harness: 0 pass, 1 a check failed,
# 77 skipped (no PostgreSQL/nginx/curl/jq, or no way to run postgres),
# 99 hard error (setup failed).  The last line printed is always
# "N passed, N failed".

if [ -z "${BASH_VERSION:-}" ]; then
    echo "lib.sh needs bash" >&2
    exit 99
fi

set -u
set -o pipefail

# ---- inputs ----------------------------------------------------------------
SHAREKEEP_BIN=${SHAREKEEP_BIN:-./sharekeep}
SHAREKEEP_SRCDIR=${SHAREKEEP_SRCDIR:-.}
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
case $SHAREKEEP_BIN in /*) ;; *) SHAREKEEP_BIN=$PWD/$SHAREKEEP_BIN ;; esac
SHAREKEEP_SRCDIR=$(cd "$SHAREKEEP_SRCDIR" 2>/dev/null && pwd) || {
    echo "SHAREKEEP_SRCDIR does not exist" >&2
    exit 99
}
SK_TEST_NAME=$(basename "${0%.sh}")
# processes, ports, PostgreSQL, nginx's config head, tokens: shared with
# the benchmark and scripts/dev-up
# shellcheck source=../../scripts/lib/common.sh
. "$SHAREKEEP_SRCDIR/scripts/lib/common.sh" || exit 99

# ---- state -------------------------------------------------------------------
T=""                 # private temp dir
PG_PORT=""           # PostgreSQL port (names the socket; TCP is off)
PG_SOCK=""           # PostgreSQL unix socket dir
PG_UP=0
SK_PID=""            # sharekeep master pid
SK_PORT=""           # sharekeep FastCGI TCP port (SK_TRANSPORT=tcp)
SK_SOCK=""           # sharekeep FastCGI unix socket (SK_TRANSPORT=unix)
SK_TRANSPORT=${SK_TRANSPORT:-tcp}
SK_CONF=""
SK_LOG=""
NGINX_PID=""
NGINX_PORT=""
STATUS=""            # last response: HTTP status
BODY=""              # last response: body
RESP_BODY=""         # last response: body file (exact bytes)
RESP_HEADERS=""      # last response: header file
PASSED=0
FAILED=0
CHECKS=0
SKIP_REASON=""
_SOCK_BEFORE=""
_AUTH_ARGS=()
# Authentication (webhook secrets, client JWTs) is always on: sharekeep
# refuses to serve without webhook secrets.  req() authenticates every
# request to /webhook/ and sends a Bearer JWT for the client id in every
# /portal/clients/{id}/ path, unless REQ_AUTH=0.  How webhooks authenticate
# is SK_WEBHOOK_MODE (set it before sk_write_config):
#   standard  webhook_auth = standard-webhooks: req() signs each call
#             (webhook-id, webhook-timestamp, webhook-signature), as the
#             tests written before Portal's shared-secret mode expect;
#   shared    webhook_auth = shared-secret, as Portal calls today: req()
#             sends "$SK_WEBHOOK_SECRET_HEADER: $SK_WEBHOOK_SECRET".
SK_AUTH=1
SK_WEBHOOK_MODE=${SK_WEBHOOK_MODE:-standard}
SK_WEBHOOK_SECRETS=""     # file the config names (the current mode's), 0600
SK_WEBHOOK_SIGNING_FILE="" # file: whsec_<base64>, 0600 (standard)
SK_WEBHOOK_KEY_HEX=""     # the decoded key, for signing
SK_WEBHOOK_SHARED_FILE="" # file: the plain shared secret, 0600 (shared)
SK_WEBHOOK_SECRET=""      # the plain shared secret (43 characters)
SK_WEBHOOK_SECRET_HEADER=${SK_WEBHOOK_SECRET_HEADER:-X-Webhook-Secret}
SK_JWT_SECRET_FILE=""     # file: HS256 secret, 0600
# Where sk_keygen puts the KEK: "file" (the key file) or "pkcs11" (a
# SoftHSM2 token served by p11-kit server to p11-kit-client.so, so the key
# lives in another process as with a network HSM; lib_token.sh). With
# pkcs11, sk_write_config names the token too.
SK_KEK_BACKEND=${SK_KEK_BACKEND:-file}
SK_JWT_SECRET=""

# sharekeep reads SHAREKEEP_<KEY> overrides from its environment; the
# variables automake hands us (SHAREKEEP_BIN, SHAREKEEP_SRCDIR) and anything
# the caller exported must not leak into the server we start.
unset GATEWAY_INTERFACE
export SHAREKEEP_BIN SHAREKEEP_SRCDIR PG_BINDIR

# ---- small helpers --------------------------------------------------------
log() { printf '# %s\n' "$*"; }
die() {
    printf 'ERROR: %s\n' "$*" >&2
    printf 'ERROR: %s\n' "$*"
    exit 99
}
skip() {
    SKIP_REASON=$*
    exit 77
}

# sharekeep runs with every SHAREKEEP_* variable of ours removed; the
# overrides a test wants are passed as NAME=value arguments:
#   sk_run [SHAREKEEP_X=y ...] -- ARGS...
# _sk_envargs fills SK_ENVARGS with the matching `env` arguments.
_sk_envargs() {
    sk_env_unset
    SK_ENVARGS=("${SK_ENV_UNSET[@]}")
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
        SK_ENVARGS+=("$1")
        shift
    done
}

sk_run() {
    _sk_envargs "$@"
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do shift; done
    [ "${1:-}" = "--" ] && shift
    env "${SK_ENVARGS[@]}" "$SHAREKEEP_BIN" "$@"
}

# ---- temp dir and cleanup ------------------------------------------------
sk_tmpdir() {
    local base=${TMPDIR:-/tmp}
    # unix socket paths are limited to ~107 bytes
    [ ${#base} -le 40 ] || base=/tmp
    T=$(mktemp -d "$base/skit.XXXXXX") || die "mktemp failed"
    # the postgres user must be able to reach its data and socket dirs
    chmod 0755 "$T"
    mkdir -p "$T/sk" "$T/nginx"
    SK_CONF=$T/sk/sharekeep.conf
    SK_LOG=$T/sharekeep.log
    RESP_BODY=$T/resp.body
    RESP_HEADERS=$T/resp.headers
    : >"$SK_LOG"
}

_dump() {
    local f=$1 n=${2:-80}
    [ -s "$f" ] || return 0
    echo "---- last $n lines of ${f#"$T"/} ----"
    tail -n "$n" "$f"
}

_cleanup() {
    local rc=$1
    trap - EXIT INT TERM HUP
    set +e
    [ -n "$_WATCHDOG_PID" ] && kill "$_WATCHDOG_PID" 2>/dev/null
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] || [ "$FAILED" -gt 0 ]; then
        if [ -n "$T" ]; then
            echo "==== logs from $SK_TEST_NAME ($T) ===="
            _dump "$SK_LOG" 100
            _dump "$T/nginx/error.log" 40
            _dump "$T/nginx/access.log" 40
            _dump "$T/pg.log" 40
        fi
    fi
    [ -n "$NGINX_PID" ] && nginx_stop >/dev/null 2>&1
    [ -n "$SK_PID" ] && sk_stop >/dev/null 2>&1
    [ "$PG_UP" = 1 ] && pg_stop >/dev/null 2>&1
    if [ -n "$T" ] && [ -d "$T" ]; then
        if [ "${SK_KEEP_TMP:-0}" = 1 ]; then
            echo "# kept $T"
        else
            rm -rf "$T"
        fi
    fi
    if [ "$rc" -eq 77 ]; then
        echo "SKIP: $SK_TEST_NAME: ${SKIP_REASON:-skipped}"
        echo "$PASSED passed, $FAILED failed, 1 skipped"
        exit 77
    fi
    if [ "$rc" -ne 0 ] && [ "$FAILED" -eq 0 ]; then
        # died outside an assertion (setup error, set -u, ...)
        echo "$PASSED passed, $FAILED failed"
        echo "$SK_TEST_NAME: aborted with status $rc"
        exit "$([ "$rc" -eq 1 ] && echo 99 || echo "$rc")"
    fi
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] || exit 1
    exit 0
}

# ---- prerequisites -------------------------------------------------------
sk_require() {
    local b
    for b in initdb pg_ctl postgres psql; do
        [ -x "$PG_BINDIR/$b" ] || skip "PostgreSQL server binaries not found in $PG_BINDIR (install postgresql)"
    done
    [ -x "$NGINX_BIN" ] || skip "nginx not found (install nginx-light)"
    have curl || skip "curl not found"
    have jq || skip "jq not found"
    if is_root; then
        have runuser || skip "running as root but runuser is missing: cannot start postgres"
        id postgres >/dev/null 2>&1 || skip "running as root but there is no postgres user to run the server as"
    fi
    [ -x "$SHAREKEEP_BIN" ] || die "sharekeep binary not found at $SHAREKEEP_BIN (build first, or set SHAREKEEP_BIN)"
    [ -d "$SHAREKEEP_SRCDIR/sql" ] || die "no sql/ dir under SHAREKEEP_SRCDIR=$SHAREKEEP_SRCDIR"
}

# Call first in every test: checks prerequisites, makes the temp dir and
# installs the cleanup trap.
sk_init() {
    trap '_cleanup $?' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    sk_require
    sk_tmpdir
    _watchdog
    log "$SK_TEST_NAME: temp dir $T, binary $SHAREKEEP_BIN"
}

# A test that hangs is stopped after SK_TEST_TIMEOUT seconds (default 300):
# SIGTERM to this script and to what it is waiting for (bash runs a trap
# only once the foreground command returns), then the cleanup trap prints
# the logs and stops everything.
_WATCHDOG_PID=""
_watchdog() {
    local limit=${SK_TEST_TIMEOUT:-300} me=$$
    # The subshell drops the test's EXIT trap before exec, so a test that
    # ends (or skips) at once cannot run the cleanup twice.
    ( trap - EXIT INT TERM HUP
      exec bash -c 'sleep "$1" & s=$!; trap "kill $s 2>/dev/null; exit 0" TERM; wait $s || exit 0
             echo "TIMEOUT: $3 ran longer than $1s" >&2
             kill -TERM "$2"
             for p in $(ps -o pid= --ppid "$2"); do
                 [ "$p" = "$$" ] || kill -TERM "$p" 2>/dev/null
             done' \
        _ "$limit" "$me" "$SK_TEST_NAME" ) </dev/null &
    _WATCHDOG_PID=$!
}

# ---- PostgreSQL ----------------------------------------------------------
# pg_start: the first call makes the cluster ($T/pg, common.sh's pg_init)
# and the roles and database "sharekeep" (pg_sharekeep_db); later calls
# restart the same cluster (same socket and port).
pg_start() {
    local pgdata=$T/pg
    if [ -z "$PG_PORT" ]; then
        # TCP is off (listen_addresses=''); the port only names the socket
        # file inside our private socket dir, so any number works.
        PG_PORT=$(free_port) || die "no free port"
        PG_SOCK=$T/pgsock
    fi
    if [ -s "$pgdata/PG_VERSION" ]; then
        pg_up "$pgdata" "$T/pg.log" || die "pg_ctl start failed"
        PG_UP=1
        return 0
    fi
    pg_init "$pgdata" "$PG_SOCK" "$PG_PORT" "$T/pg.log" "sharekeep integration test cluster" \
        "fsync = on" "max_connections = 40" "shared_buffers = 16MB" \
        "log_min_messages = warning" "log_connections = off" || die "initdb failed"
    pg_up "$pgdata" "$T/pg.log" || die "pg_ctl start failed"
    PG_UP=1
    pg_sharekeep_db || die "creating roles/database failed"
}

pg_stop() {
    [ "$PG_UP" = 1 ] || return 0
    pg_down "$T/pg"
    PG_UP=0
}

# pg_psql SQL [name=value ...]: common.sh's psql_as in database sharekeep
# as its owner, which sees every table whatever the runtime grants are.
pg_psql() {
    local sql=$1
    shift
    psql_as sharekeep_owner sharekeep "$sql" "$@"
}

# ---- sharekeep -----------------------------------------------------------
sk_keygen() {
    local f=${1:-$T/sk/keyring}
    if [ "$SK_KEK_BACKEND" = pkcs11 ]; then
        sk_token_up
        sk_run "${SK_TOKEN_ENV[@]}" -- keygen --backend pkcs11 "$f" >>"$SK_LOG" 2>&1 ||
            die "sharekeep keygen --backend pkcs11 $f failed"
    else
        sk_run -- keygen "$f" >>"$SK_LOG" 2>&1 || die "sharekeep keygen $f failed"
    fi
    [ -f "$f" ] || die "sharekeep keygen did not create $f"
}

# sk_token_up: once per test, a SoftHSM2 token and a p11-kit server for it
# (lib_token.sh); SK_TOKEN_ENV / SK_TOKEN_CFG are the settings naming it,
# as SHAREKEEP_* overrides and as config lines.
SK_TOKEN_ENV=()
SK_TOKEN_CFG=()
sk_token_up() {
    [ ${#SK_TOKEN_CFG[@]} -eq 0 ] || return 0
    declare -F token_init >/dev/null ||
        . "$SHAREKEEP_SRCDIR/tests/integration/lib_token.sh"
    token_init
    token_server_start
    SK_TOKEN_CFG=("pkcs11_module=$TOKEN_MODULE_CLIENT" "pkcs11_uri=$TOKEN_URI"
                  "pkcs11_pin_file=$TOKEN_PIN_FILE")
    SK_TOKEN_ENV=("SHAREKEEP_PKCS11_MODULE=$TOKEN_MODULE_CLIENT" "SHAREKEEP_PKCS11_URI=$TOKEN_URI"
                  "SHAREKEEP_PKCS11_PIN_FILE=$TOKEN_PIN_FILE")
}

# Creates the webhook secrets (a Standard Webhooks signing key and a plain
# shared secret, each in its own file) and the JWT secret, once per test.
# SK_WEBHOOK_SECRETS names the file of the current SK_WEBHOOK_MODE.
_sk_auth_files() {
    if [ -z "$SK_WEBHOOK_SIGNING_FILE" ]; then
        SK_WEBHOOK_SIGNING_FILE=$T/sk/webhook-secrets
        SK_WEBHOOK_SHARED_FILE=$T/sk/webhook-shared-secret
        SK_JWT_SECRET_FILE=$T/sk/jwt-secret
        local raw
        raw=$(head -c 32 /dev/urandom | base64 -w0)
        SK_WEBHOOK_KEY_HEX=$(printf '%s' "$raw" | base64 -d | od -An -tx1 -v | tr -d ' \n')
        SK_WEBHOOK_SECRET=$(rand_token 43)
        SK_JWT_SECRET=$(rand_token 48)
        (umask 077
         printf '# test webhook secret\nwhsec_%s\n' "$raw" >"$SK_WEBHOOK_SIGNING_FILE"
         printf '# test shared webhook secret (X-Webhook-Secret)\n%s\n' "$SK_WEBHOOK_SECRET" >"$SK_WEBHOOK_SHARED_FILE"
         printf '%s\n' "$SK_JWT_SECRET" >"$SK_JWT_SECRET_FILE")
    fi
    case $SK_WEBHOOK_MODE in
        standard) SK_WEBHOOK_SECRETS=$SK_WEBHOOK_SIGNING_FILE ;;
        shared) SK_WEBHOOK_SECRETS=$SK_WEBHOOK_SHARED_FILE ;;
        *) die "SK_WEBHOOK_MODE must be standard or shared, not '$SK_WEBHOOK_MODE'" ;;
    esac
}

# ---- signing (used by req when SK_AUTH=1) -----------------------------------
# webhook_sign ID TIMESTAMP FILE [KEY_HEX]: the v1 signature of FILE's bytes.
webhook_sign() {
    local id=$1 ts=$2 file=$3 key=${4:-$SK_WEBHOOK_KEY_HEX}
    { printf '%s.%s.' "$id" "$ts"; cat "$file"; } |
        openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary | base64 -w0
}

# client_token CLIENT_ID [TTL_SECONDS]: a valid token for that client.
client_token() {
    local now exp
    now=$(date +%s)
    exp=$((now + ${2:-300}))
    jwt_hs256 "$(jq -nc --arg s "$1" --argjson i "$now" --argjson e "$exp" '{sub:$s,iat:$i,exp:$e}')"
}

# Fills _AUTH_ARGS with the curl headers that authenticate PATH + FILE.
_auth_args() {
    local path=$1 file=$2 id ts rest
    _AUTH_ARGS=()
    [ "$SK_AUTH" = 1 ] && [ "${REQ_AUTH:-1}" = 1 ] || return 0
    case $path in
        /webhook/*)
            if [ "$SK_WEBHOOK_MODE" = shared ]; then
                _AUTH_ARGS=(-H "$SK_WEBHOOK_SECRET_HEADER: $SK_WEBHOOK_SECRET")
                return 0
            fi
            # REQ_WEBHOOK_ID: the id to sign with (a redelivery reuses one)
            id=${REQ_WEBHOOK_ID:-msg_$(rand_token 24)}
            ts=$(date +%s)
            [ -n "$file" ] || { file=$T/empty.body; : >"$file"; }
            _AUTH_ARGS=(-H "webhook-id: $id" -H "webhook-timestamp: $ts"
                -H "webhook-signature: v1,$(webhook_sign "$id" "$ts" "$file")")
            ;;
        /portal/clients/*)
            rest=${path#/portal/clients/}
            id=${rest%%/*}
            id=${id%%\?*}
            _AUTH_ARGS=(-H "Authorization: Bearer $(client_token "$id")")
            ;;
    esac
}

# sk_write_config [key=value ...]: write $SK_CONF with test defaults; the
# arguments replace or add keys.  webhook_auth is always written (the
# default, shared-secret, would otherwise depend on sharekeep's build):
# standard-webhooks or shared-secret as SK_WEBHOOK_MODE says.
sk_write_config() {
    local listen
    if [ "$SK_TRANSPORT" = unix ]; then
        SK_SOCK=$T/sk/sharekeep.sock
        listen=unix:$SK_SOCK
    else
        [ -n "$SK_PORT" ] || SK_PORT=$(free_port) || die "no free port"
        listen=127.0.0.1:$SK_PORT
    fi
    _sk_auth_files
    local -A cfg=(
        [listen]=$listen
        [workers]=2
        [database]=$(pg_conninfo)
        [keyring]=$T/sk/keyring
        [webhooks_root]=/webhook
        [max_body]=65536
        [sql_dir]=$SHAREKEEP_SRCDIR/sql
        [socket_mode]=0660
    )
    if [ "$SK_AUTH" = 1 ]; then
        if [ "$SK_WEBHOOK_MODE" = shared ]; then
            cfg[webhook_auth]=shared-secret
            [ "${SK_WEBHOOK_SECRET_HEADER,,}" = x-webhook-secret ] ||
                cfg[webhook_secret_header]=$SK_WEBHOOK_SECRET_HEADER
        else
            cfg[webhook_auth]=standard-webhooks
        fi
        cfg[webhook_secrets]=$SK_WEBHOOK_SECRETS
        cfg[client_auth]=jwt
        cfg[jwt_hs256_secret]=$SK_JWT_SECRET_FILE
    fi
    local kv
    for kv in "${SK_TOKEN_CFG[@]}" "$@"; do cfg[${kv%%=*}]=${kv#*=}; done
    {
        echo "# written by $SK_TEST_NAME"
        for kv in listen workers database keyring webhooks_root max_body sql_dir socket_mode; do
            echo "$kv = ${cfg[$kv]}"
            unset "cfg[$kv]"
        done
        for kv in "${!cfg[@]}"; do echo "$kv = ${cfg[$kv]}"; done
    } >"$SK_CONF"
}

# sk_migrate [ARGS...]: `sharekeep migrate` as the database owner (the
# config's `database` overridden with SHAREKEEP_DATABASE, as an operator
# would), then give the login role "sharekeep" the runtime role.  Returns
# migrate's status; ARGS go before `migrate` (default: -c $SK_CONF).
sk_migrate_raw() {
    local -a args=("$@")
    [ ${#args[@]} -gt 0 ] || args=(-c "$SK_CONF")
    sk_migrate_owner "$SHAREKEEP_BIN" "${args[@]}" >>"$SK_LOG" 2>&1
}

sk_migrate() {
    sk_migrate_raw "$@" || die "sharekeep migrate failed"
}

# Waits until sharekeep's FastCGI socket accepts connections.
_sk_listening() {
    if [ "$SK_TRANSPORT" = unix ]; then
        unix_listening "$SK_SOCK" "$_SOCK_BEFORE"
    else
        port_listening "$SK_PORT"
    fi
}
_sk_wait_ready() { wait_for "$SK_PID" 100 _sk_listening; }

# sk_start [NAME=value ...]: start `sharekeep serve` in the background; the
# optional NAME=value pairs are put in its environment (SHAREKEEP_* overrides).
sk_start() {
    [ -z "$SK_PID" ] || die "sk_start: sharekeep already running ($SK_PID)"
    [ -f "$SK_CONF" ] || die "sk_start: no config (call sk_write_config)"
    echo "---- sharekeep serve $(date +%T) ----" >>"$SK_LOG"
    _SOCK_BEFORE=$( [ -n "$SK_SOCK" ] && stat -c %i "$SK_SOCK" 2>/dev/null)
    _sk_envargs "$@"
    # env execs sharekeep, so $! is sharekeep's own pid
    env "${SK_ENVARGS[@]}" "$SHAREKEEP_BIN" -c "$SK_CONF" serve </dev/null >>"$SK_LOG" 2>&1 &
    SK_PID=$!
    if ! _sk_wait_ready; then
        tail -n 30 "$SK_LOG"
        die "sharekeep did not start listening (${SK_PORT:+port $SK_PORT}${SK_SOCK:+socket $SK_SOCK})"
    fi
}

# sk_stop: SIGTERM, wait up to 10s for the master to exit. Returns 0 when it
# exited by itself with status 0 and left no worker behind, 1 otherwise (it
# is then killed).
sk_stop() {
    [ -n "$SK_PID" ] || return 0
    local pid=$SK_PID rc=0 st w workers
    workers=$(children_of "$pid")
    stop_grace "$pid" TERM 100 || echo "# sharekeep did not exit within 10s of SIGTERM; killed it"
    wait "$pid"
    st=$?
    SK_PID=""
    if [ "$st" -ne 0 ]; then
        echo "# sharekeep exited with status $st after SIGTERM"
        rc=1
    fi
    for w in $workers; do
        if ! wait_gone "$w" 50; then
            echo "# sharekeep worker $w outlived its master"
            kill -KILL "$w" 2>/dev/null
            rc=1
        fi
    done
    return $rc
}

sk_restart() {
    sk_stop || return 1
    sk_start "$@"
}

# sk_setup: pg + keyring + config + migrate + sharekeep + nginx, the usual
# start of a test.  Extra key=value args go to sk_write_config.
sk_setup() {
    pg_start
    sk_keygen
    sk_write_config "$@"
    sk_migrate
    sk_start
    nginx_start
}

# ---- nginx ---------------------------------------------------------------
# A test may change what nginx serves (read when nginx_start writes the
# config): SK_NGINX_INCLUDE is the file included in the server block
# (default: the shipped conf/nginx/sharekeep.conf), SK_NGINX_HTTP_EXTRA is
# extra text for the http block (maps, rate limit zones, more servers).
SK_NGINX_INCLUDE=${SK_NGINX_INCLUDE:-}
SK_NGINX_HTTP_EXTRA=${SK_NGINX_HTTP_EXTRA:-}

_nginx_write_conf() {
    local n=$T/nginx upstream
    mkdir -p "$n/tmp"
    [ -f /etc/nginx/fastcgi_params ] || die "/etc/nginx/fastcgi_params missing (install nginx-light)"
    cp /etc/nginx/fastcgi_params "$n/fastcgi_params"
    if [ "$SK_TRANSPORT" = unix ]; then
        upstream="unix:$SK_SOCK"
    else
        upstream="127.0.0.1:$SK_PORT"
    fi
    {
        nginx_conf_head "$n" 1 128 notice
        cat <<EOF

    upstream sharekeep { server $upstream; }
$SK_NGINX_HTTP_EXTRA
    server {
        listen 127.0.0.1:$NGINX_PORT;
        server_name localhost;
        include ${SK_NGINX_INCLUDE:-$SHAREKEEP_SRCDIR/conf/nginx/sharekeep.conf};
    }
}
EOF
    } >"$n/nginx.conf"
}

_nginx_ready() { port_listening "$NGINX_PORT" && [ -s "$T/nginx/nginx.pid" ]; }
# ---- conf/nginx/example-site.conf, run for real --------------------------------
# example_site_dir DIR: a scratch dir for the example site: tmp/, a
# throwaway certificate for the names the site uses, fastcgi_params.
example_site_dir() {
    local d=$1
    mkdir -p "$d/tmp"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=backup.example.com -keyout "$d/key.pem" -out "$d/cert.pem" >>"$SK_LOG" 2>&1 ||
        die "openssl req (self-signed certificate) failed"
    cp /etc/nginx/fastcgi_params "$d/fastcgi_params"
}

# example_site_copy DIR OUT [P80 P443 SK_PORT]: example-site.conf with its
# certificate paths pointed at DIR's; with ports, also listening on those
# loopback ports only and passing to sharekeep on 127.0.0.1:SK_PORT.
example_site_copy() {
    local d=$1 out=$2
    local -a live=()
    if [ $# -ge 5 ]; then
        live=(-e "s|^\([[:space:]]*\)listen 80;|\1listen 127.0.0.1:$3;|"
            -e "s|^\([[:space:]]*\)listen 443 ssl http2;|\1listen 127.0.0.1:$4 ssl http2;|"
            -e '/listen \[::\]/d'
            -e "s|server unix:/run/sharekeep/sharekeep.sock;|server 127.0.0.1:$5;|")
    fi
    sed -e "s|/etc/ssl/certs/backup.example.com.pem|$d/cert.pem|" \
        -e "s|/etc/ssl/private/backup.example.com.key|$d/key.pem|" "${live[@]}" \
        "$SHAREKEEP_SRCDIR/conf/nginx/example-site.conf" >"$out"
}

# example_site_wrapper DIR SITEFILE: DIR/nginx.conf around SITEFILE (which
# goes in the http context).
example_site_wrapper() {
    { nginx_conf_head "$1" 1 64 notice; printf '    include %s;\n}\n' "$2"; } >"$1/nginx.conf"
}

nginx_start() {
    [ -z "$NGINX_PID" ] || die "nginx_start: nginx already running"
    local n=$T/nginx try
    for try in 1 2 3; do
        NGINX_PORT=$(free_port) || die "no free port"
        _nginx_write_conf
        "$NGINX_BIN" -t -q -e "$n/error.log" -p "$n/" -c "$n/nginx.conf" >"$n/test.out" 2>&1 ||
            { cat "$n/test.out"; die "nginx -t rejected the generated config"; }
        "$NGINX_BIN" -e "$n/error.log" -p "$n/" -c "$n/nginx.conf" </dev/null >>"$n/stdout.log" 2>&1 &
        NGINX_PID=$!
        wait_for "$NGINX_PID" 100 _nginx_ready && return 0
        # lost a race for the port? try another one
        kill -TERM "$NGINX_PID" 2>/dev/null
        wait "$NGINX_PID" 2>/dev/null
        NGINX_PID=""
        grep -q 'Address already in use' "$n/error.log" 2>/dev/null || break
    done
    tail -n 20 "$n/error.log"
    die "nginx did not start"
}

nginx_stop() { stop_child NGINX_PID QUIT 50; }

# ---- HTTP ------------------------------------------------------------------
# json KEY VALUE [KEY VALUE ...]: a JSON object of string fields, e.g.
#   json clientId abc share "$s"
json() {
    local -a args=()
    while [ $# -ge 2 ]; do
        args+=(--arg "$1" "$2")
        shift 2
    done
    jq -nc "${args[@]}" '$ARGS.named'
}

# req_file METHOD PATH FILE|"" [curl args...]: send FILE as the body.
# Content-Type is $REQ_CT (default application/json; REQ_CT= sends none).
# Sets STATUS, BODY, RESP_BODY (file), RESP_HEADERS (file).
req_file() {
    local method=$1 path=$2 file=$3
    shift 3
    local -a args=(-sS -o "$RESP_BODY" -D "$RESP_HEADERS" -w '%{http_code}'
        -X "$method" -H 'Expect:' --max-time 30)
    if [ -n "$file" ]; then
        args+=(--data-binary "@$file")
        if [ -n "${REQ_CT-application/json}" ]; then
            args+=(-H "Content-Type: ${REQ_CT-application/json}")
        else
            args+=(-H "Content-Type:")
        fi
    elif [ -n "${REQ_CT:-}" ]; then
        args+=(-H "Content-Type: $REQ_CT")
    fi
    _auth_args "$path" "$file"
    args+=("${_AUTH_ARGS[@]}")
    : >"$RESP_BODY"
    : >"$RESP_HEADERS"
    STATUS=$(curl "${args[@]}" "$@" "http://127.0.0.1:$NGINX_PORT$path") || STATUS=000
    BODY=$(cat "$RESP_BODY")
}

# req METHOD PATH [BODY [curl args...]]: sends BODY ("" is an empty body).
# BODY "--" sends no body, for extra curl args on a GET:
#   req GET /portal/clients/x/backup -- -H 'Authorization: Bearer ...'
req() {
    local method=$1 path=$2
    shift 2
    if [ "${1:-}" = "--" ]; then
        shift
        req_file "$method" "$path" "" "$@"
    elif [ $# -gt 0 ]; then
        printf '%s' "$1" >"$T/req.body"
        shift
        req_file "$method" "$path" "$T/req.body" "$@"
    else
        req_file "$method" "$path" ""
    fi
}

# header NAME: value of response header NAME (case-insensitive), no CR.
header() {
    tr -d '\r' <"$RESP_HEADERS" | awk -v n="$(echo "$1" | tr 'A-Z' 'a-z')" '
        BEGIN { FS = ":" }
        /^HTTP\// { v = "" ; next }
        { k = tolower($1) }
        k == n { sub(/^[^:]*:[ \t]*/, ""); v = $0 }
        END { print v }'
}

# ---- assertions ------------------------------------------------------------
ok() {
    CHECKS=$((CHECKS + 1))
    PASSED=$((PASSED + 1))
    echo "ok $CHECKS - $*"
}

not_ok() {
    CHECKS=$((CHECKS + 1))
    FAILED=$((FAILED + 1))
    echo "not ok $CHECKS - $*"
}

_show_response() {
    echo "#   last response: HTTP $STATUS"
    sed 's/^/#     /' "$RESP_HEADERS" | tr -d '\r' | head -n 15
    echo "#     body: $(head -c 400 "$RESP_BODY")"
}

# check DESC COMMAND...: passes when COMMAND succeeds.
check() {
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

assert_eq() {
    local expected=$1 actual=$2 desc=${3:-values equal}
    if [ "$expected" == "$actual" ]; then
        ok "$desc"
    else
        not_ok "$desc"
        echo "#   expected: $(printf '%s' "$expected" | head -c 300)"
        echo "#   actual:   $(printf '%s' "$actual" | head -c 300)"
    fi
}

assert_status() {
    local expected=$1 desc=${2:-status}
    if [ "$STATUS" = "$expected" ]; then
        ok "$desc: HTTP $expected"
    else
        not_ok "$desc: expected HTTP $expected, got $STATUS"
        _show_response
    fi
}

# assert_json EXPR EXPECTED [DESC]: the jq EXPR applied to the last body is
# the string EXPECTED, byte for byte.
assert_json() {
    local expr=$1 expected=$2 desc=${3:-"$1"}
    if [ -s "$RESP_BODY" ] && jq -e --arg v "$expected" "($expr) == \$v" "$RESP_BODY" >/dev/null 2>&1; then
        ok "$desc"
    else
        not_ok "$desc: $expr != expected"
        echo "#   expected: $(printf '%s' "$expected" | head -c 200)"
        echo "#   actual:   $(jq -c "$expr" "$RESP_BODY" 2>&1 | head -c 200)"
        _show_response
    fi
}

# assert_jq EXPR [DESC]: the jq EXPR on the last body is true.
assert_jq() {
    local expr=$1 desc=${2:-"$1"}
    if [ -s "$RESP_BODY" ] && jq -e "$expr" "$RESP_BODY" >/dev/null 2>&1; then
        ok "$desc"
    else
        not_ok "$desc: jq '$expr' is not true"
        _show_response
    fi
}

# fetch_body SHARE...: the exact answer of POST {root}/backup/fetch serving
# these shares, newest first: {"backupShares":[...],"backupShare":first}
# (sharekeep escapes strings as jq -c does, except DEL, \b and \f, which
# the tests' shares do not hold).
fetch_body() { jq -cn '{backupShares: $ARGS.positional, backupShare: $ARGS.positional[0]}' --args "$@"; }

# stored_body VERSION CREATED: the exact answer of a store.
stored_body() { printf '{"ok":true,"version":%s,"created":%s}' "$1" "$2"; }

# versions_of CLIENT KIND: that client's versions of that kind, "1,2,...".
versions_of() {
    pg_psql "SELECT string_agg(version::text, ',' ORDER BY version) FROM share_record
             WHERE client_id = :'c' AND kind = $2" "c=$1" 2>&1
}

# assert_body EXPECTED DESC: the last response body is EXPECTED, byte for byte.
assert_body() {
    local expected=$1 desc=$2
    printf '%s' "$expected" >"$T/expected.body"
    if cmp -s "$T/expected.body" "$RESP_BODY"; then
        ok "$desc (exact bytes)"
    else
        not_ok "$desc: body differs from the expected bytes"
        echo "#   expected ($(wc -c <"$T/expected.body") bytes): $(head -c 300 "$T/expected.body")"
        echo "#   actual   ($(wc -c <"$RESP_BODY") bytes): $(head -c 300 "$RESP_BODY")"
        cmp "$T/expected.body" "$RESP_BODY" 2>&1 | sed 's/^/#   /'
    fi
}

# assert_stored VERSION CREATED DESC: the last response is that store
# answer, byte for byte.
assert_stored() { assert_body "$(stored_body "$1" "$2")" "$3"; }

# assert_fetched SHARE DESC: the last response is a fetch that served SHARE
# alone: status 200, body {"backupShares":[SHARE],"backupShare":SHARE}.
assert_fetched() {
    assert_status 200 "$2"
    assert_body "$(fetch_body "$1")" "$2"
}

# assert_client_got SHARE DESC: the last response is GET
# /portal/clients/{id}/backup (no query) of a client whose only method is
# the legacy UNKNOWN one: status 200, body exactly
# {"backupMethod":"UNKNOWN","backupShare":S,"cipherText":S,"backupMethods":["UNKNOWN"]}.
assert_client_got() {
    assert_status 200 "$2"
    assert_body "$(jq -cn --arg s "$1" '{backupMethod: "UNKNOWN", backupShare: $s, cipherText: $s, backupMethods: ["UNKNOWN"]}')" "$2"
}

# assert_header NAME REGEX [DESC]
assert_header() {
    local name=$1 re=$2 desc=${3:-"header $1"} v
    v=$(header "$name")
    if [[ $v =~ $re ]]; then
        ok "$desc ($name: $v)"
    else
        not_ok "$desc: $name '$v' does not match /$re/"
        _show_response
    fi
}

# assert_error STATUS [DESC]: the last response has that status and the
# JSON error shape {"error":{"code":"...","message":"..."}}.
assert_error() {
    local st=$1 desc=${2:-error}
    assert_status "$st" "$desc"
    assert_header Content-Type '^application/json' "$desc: JSON content type"
    assert_jq '(.error.code | type == "string" and length > 0) and (.error.message | type == "string" and length > 0)' \
        "$desc: body is {\"error\":{\"code\",\"message\"}}"
}

# assert_empty DESC TEXT: passes when TEXT is empty, else shows it.
assert_empty() {
    if [ -z "$2" ]; then
        ok "$1"
    else
        not_ok "$1"
        printf '%s\n' "$2" | head -n 5 | sed 's/^/#   /'
    fi
}

# assert_absent DESC TEXT FILE...: no FILE holds TEXT (a fixed string).
# Every FILE must exist: a log that was never written proves nothing.
assert_absent() {
    local desc=$1 text=$2 f
    shift 2
    for f in "$@"; do
        [ -f "$f" ] || { not_ok "$desc: there is no $f to look in"; return; }
    done
    if grep -qF -- "$text" "$@"; then
        not_ok "$desc"
        grep -lF -- "$text" "$@" | sed 's/^/#   found in /'
    else
        ok "$desc"
    fi
}

# not_revealed DESC TEXT: the last response body does not hold TEXT.
not_revealed() { assert_absent "$1: the response reveals no share" "$2" "$RESP_BODY"; }

# assert_refused DESC STATUS ERE [NAME=value ...] -- ARGS...: sharekeep ARGS
# (with those SHAREKEEP_* overrides, stdin closed) exits with exactly
# STATUS within 10 s, saying on stderr something that matches ERE.  A
# crash (a signal), a hang or any other status fails.
assert_refused() {
    local desc=$1 want=$2 re=$3 st
    shift 3
    _sk_envargs "$@"
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do shift; done
    shift
    timeout 10 env "${SK_ENVARGS[@]}" "$SHAREKEEP_BIN" "$@" </dev/null >"$T/refused.out" 2>"$T/refused.err"
    st=$?
    cat "$T/refused.out" "$T/refused.err" >>"$SK_LOG"
    if [ "$st" -eq "$want" ] && grep -Eq -- "$re" "$T/refused.err"; then
        ok "$desc (exit $st: $(grep -Eo -- "$re" "$T/refused.err" | head -n1))"
    else
        not_ok "$desc: expected exit $want and stderr matching /$re/, got exit $st"
        echo "#   stderr: $(head -c 300 "$T/refused.err")"
    fi
}

# require DESC CMD...: a step of the test's own setup that later checks
# rely on (a file it rewrote, a value it generated); dies when CMD fails.
# Not counted as a check: it tests the test, not sharekeep.
require() {
    local desc=$1
    shift
    "$@" || die "setup: $desc"
}

# assert_sql SQL EXPECTED [DESC] [name=value ...]: SQL's output is EXPECTED.
assert_sql() {
    local sql=$1 expected=$2 desc=${3:-"$1"} out
    shift 3 2>/dev/null || shift $#
    out=$(pg_psql "$sql" "$@" 2>&1)
    assert_eq "$expected" "$out" "$desc"
}

# rows [WHERE]: number of share_record rows (optionally filtered).
rows() {
    pg_psql "SELECT count(*) FROM share_record${1:+ WHERE $1}" 2>&1
}

# assert_sealed CLIENT_ID KIND SHARE [DESC]: every row of that client/kind
# holds a sealed blob that starts with "SKSR" and does not contain the
# share's bytes.
assert_sealed() {
    local cid=$1 kind=$2 share=$3 desc=${4:-sealed at rest}
    assert_sql "SELECT count(*) > 0 AND bool_and(substring(envelope from 1 for 4) = '\\x534b5352'::bytea) FROM share_record WHERE client_id = :'cid' AND kind = $kind" \
        t "$desc: rows for $cid start with SKSR" "cid=$cid"
    assert_sql "SELECT bool_and(position(convert_to(:'share', 'UTF8') in envelope || payload) = 0) FROM share_record WHERE client_id = :'cid' AND kind = $kind" \
        t "$desc: no row for $cid contains the plaintext share" "cid=$cid" "share=$share"
}
