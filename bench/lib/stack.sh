# shellcheck shell=bash
# bench/lib/stack.sh: start and stop what the benchmark measures, all in one
# private temp dir, all on loopback: PostgreSQL (unix socket only), sharekeep
# (FastCGI on a unix socket) behind nginx, the Express peer, and nginx's
# `return 200` server.  Sourced by bench/run and bench/profile, which set
# ROOT (repo) and BENCH (bench/) first.
#
# Everything started here is recorded by pid and stopped by stack_stop
# (installed as an EXIT trap by stack_init), even when the caller fails.
# Processes, ports, PostgreSQL and nginx's config head come from
# scripts/lib/common.sh, as for the tests and scripts/dev-up.

# shellcheck source=../../scripts/lib/common.sh
. "$ROOT/scripts/lib/common.sh"
SHAREKEEP_BIN=${SHAREKEEP_BIN:-$ROOT/sharekeep}

T=""            # temp dir
PG_PORT="" PG_SOCK="" PG_UP=0
SK_PID="" SK_SOCK="" SK_CONF="" SK_LOG="" SK_SECRETS="" SK_SHARED_SECRET=""
NGINX_PID="" NGINX_PORT="" LIMIT_PORT="" EXPRESS_NGINX_PORT=""
EXPRESS_PID="" EXPRESS_PORT=""

say() { printf '%s\n' "$*" >&2; }
die() {
    printf 'bench: ERROR: %s\n' "$*" >&2
    exit 1
}

# started PID TENTHS LOG WHAT CMD...: wait_for PID TENTHS CMD...; when it
# fails, show the end of LOG and die: WHAT did not start.
started() {
    local pid=$1 n=$2 log=$3 what=$4
    shift 4
    wait_for "$pid" "$n" "$@" && return 0
    tail -n 20 "$log" >&2
    die "$what did not start"
}

# ---- temp dir + cleanup --------------------------------------------------
stack_init() {
    trap 'stack_stop' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    local base=${TMPDIR:-/tmp}
    [ ${#base} -le 40 ] || base=/tmp
    T=$(mktemp -d "$base/skbench.XXXXXX") || die "mktemp failed"
    chmod 0755 "$T"
    mkdir -p "$T/sk" "$T/nginx/tmp" "$T/express" "$T/req" "$T/pgb"
}

stack_stop() {
    local rc=$?
    trap - EXIT INT TERM HUP
    set +e
    [ -n "${STACK_ON_STOP:-}" ] && "$STACK_ON_STOP"
    express_stop
    nginx_stop
    sk_stop
    pg_stop
    if [ -n "$T" ] && [ -d "$T" ]; then
        # kept for its logs after a failure; not after Ctrl-C / SIGTERM
        if [ "${BENCH_KEEP:-0}" = 1 ] || { [ "$rc" -ne 0 ] && [ "$rc" -ne 130 ] &&
            [ "$rc" -ne 143 ] && [ "$rc" -ne 129 ]; }; then
            say "bench: kept $T (logs: sk/sharekeep.log nginx/error.log pg.log express/express.log)"
        else
            rm -rf "$T"
        fi
    fi
    exit "$rc"
}

# ---- PostgreSQL ------------------------------------------------------------
pg_start() {
    PG_PORT=$(free_port) || die "no free port"
    PG_SOCK=$T/pgsock
    # Durability as in production: every COMMIT waits for its WAL flush.
    pg_init "$T/pg" "$PG_SOCK" "$PG_PORT" "$T/pg.log" "sharekeep benchmark cluster" \
        "fsync = on" "synchronous_commit = on" "full_page_writes = on" "max_connections = 200" \
        "shared_buffers = 128MB" "log_min_messages = warning" "log_connections = off" ||
        die "initdb failed"
    pg_up "$T/pg" "$T/pg.log" || die "pg_ctl start failed"
    PG_UP=1
    pg_sharekeep_db || die "creating sharekeep's roles failed"
    psql_as postgres postgres "
        CREATE ROLE bench LOGIN;
        CREATE DATABASE bench_express OWNER bench;
        CREATE DATABASE bench_pgbench OWNER bench;" >/dev/null || die "creating the peers' roles failed"
}

pg_stop() {
    [ "$PG_UP" = 1 ] || return 0
    pg_down "$T/pg" 2>/dev/null || true
    PG_UP=0
}

# ---- sharekeep ---------------------------------------------------------------
# sk_prepare: keyring, webhook + JWT secrets, migrated schema.  Two webhook
# secrets: SK_SECRETS (whsec_, Standard Webhooks signing) and
# SK_SHARED_SECRET (Portal's X-Webhook-Secret, also the Express peer's).
sk_prepare() {
    SK_CONF=$T/sk/sharekeep.conf
    SK_LOG=$T/sk/sharekeep.log
    SK_SOCK=$T/sk/sharekeep.sock
    SK_SECRETS=$T/sk/webhook-secrets
    SK_SHARED_SECRET=$T/sk/webhook-secret
    : >"$SK_LOG"
    [ -x "$SHAREKEEP_BIN" ] || die "no sharekeep binary at $SHAREKEEP_BIN (run bash scripts/test --build-only)"
    sk_env "$SHAREKEEP_BIN" keygen "$T/sk/keyring" >>"$SK_LOG" 2>&1 ||
        die "sharekeep keygen failed"
    (umask 077
     printf 'whsec_%s\n' "$(head -c 32 /dev/urandom | base64 -w0)" >"$SK_SECRETS"
     printf '%s\n' "$(rand_token 48)" >"$SK_SHARED_SECRET"
     rand_token 48 >"$T/sk/jwt-secret")
    sk_write_config "${SK_WORKERS:-4}"
    sk_migrate_owner "$SHAREKEEP_BIN" -c "$SK_CONF" >>"$SK_LOG" 2>&1 || {
        tail -n 20 "$SK_LOG" >&2
        die "sharekeep migrate failed"
    }
}

# SK_KEYRING (default $T/sk/keyring) names the key file; SK_SQL (default
# $ROOT/sql) the migrations' directory; SK_EXTRA_CONF, if
# set, is appended (bench/token: the pkcs11_* settings of a token keyring).
# SK_WEBHOOK_AUTH: standard-webhooks (default; signed requests, SK_SECRETS)
# or shared-secret (Portal's X-Webhook-Secret, SK_SHARED_SECRET; bench/run).
sk_write_config() {
    cat >"$SK_CONF" <<EOF
# written by bench/run
listen = unix:$SK_SOCK
socket_mode = 0660
workers = $1
database = $(pg_conninfo sharekeep)
keyring = ${SK_KEYRING:-$T/sk/keyring}
webhooks_root = /webhook
max_body = 65536
sql_dir = ${SK_SQL:-$ROOT/sql}
log_level = info
webhook_auth = ${SK_WEBHOOK_AUTH:-standard-webhooks}
webhook_secrets = $( [ "${SK_WEBHOOK_AUTH:-}" = shared-secret ] && echo "$SK_SHARED_SECRET" || echo "$SK_SECRETS")
webhook_secret_header = X-Webhook-Secret
# pre-signed requests are replayed for the whole run
webhook_tolerance = 3600
client_auth = jwt
jwt_hs256_secret = $T/sk/jwt-secret
${SK_EXTRA_CONF:-}
EOF
}

# sk_start WORKERS [WRAPPER...]: serve in the background (WRAPPER, e.g.
# valgrind, goes in front of the binary).
# _sk_ready WORKERS: listening, with all its workers forked.
_sk_ready() {
    unix_listening "$SK_SOCK" && [ "$(children_of "$SK_PID" | wc -l)" -ge "$1" ]
}

sk_start() {
    local workers=$1
    shift
    sk_write_config "$workers"
    echo "---- serve workers=$workers $(date +%T) ----" >>"$SK_LOG"
    # env itself, not sk_env (a function, which would fork): $! is sharekeep's pid
    sk_env_unset
    env "${SK_ENV_UNSET[@]}" "$@" "$SHAREKEEP_BIN" -c "$SK_CONF" serve </dev/null >>"$SK_LOG" 2>&1 &
    SK_PID=$!
    started "$SK_PID" 300 "$SK_LOG" sharekeep _sk_ready "$workers"
    sleep 0.2   # workers connect to PostgreSQL up front
}

sk_stop() { stop_child SK_PID TERM 100; }

# ---- nginx -----------------------------------------------------------------
_nginx_ready() {
    port_listening "$NGINX_PORT" && port_listening "$LIMIT_PORT" &&
        { [ -z "$EXPRESS_NGINX_PORT" ] || port_listening "$EXPRESS_NGINX_PORT"; }
}

# _nginx_express_server: with the Express peer started (EXPRESS_PORT), a
# third server in front of it as it would be deployed (TLS would terminate
# here): the same body limits and in-memory buffering as sharekeep's
# locations, kept-alive upstream connections (HTTP/1.1, closed by nginx
# before node's 5 s keepAliveTimeout), the usual forwarded headers.
_nginx_express_server() {
    [ -n "$EXPRESS_PORT" ] || return 0
    cat <<EOF

    upstream express_peer {
        server 127.0.0.1:$EXPRESS_PORT;
        keepalive 32;
        keepalive_timeout 4s;
    }

    # The Express peer behind nginx (target express-nginx).
    server {
        listen 127.0.0.1:$EXPRESS_NGINX_PORT;
        server_name localhost;
        location ^~ /webhook/ {
            proxy_pass http://express_peer;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            client_max_body_size 64k;
            client_body_buffer_size 64k;
            proxy_request_buffering on;
            proxy_buffer_size 16k;
            proxy_buffers 8 16k;
            proxy_max_temp_file_size 0;
            proxy_read_timeout 10s;
        }
    }
EOF
}

nginx_start() {
    local n=$T/nginx
    NGINX_PORT=$(free_port) || die "no free port"
    LIMIT_PORT=$(free_port) || die "no free port"
    if [ -n "$EXPRESS_PORT" ]; then EXPRESS_NGINX_PORT=$(free_port) || die "no free port"; fi
    cp /etc/nginx/fastcgi_params "$n/fastcgi_params"
    {
        nginx_conf_head "$n" auto 4096 warn
        cat <<EOF

    upstream sharekeep { server unix:$SK_SOCK; }

    # sharekeep as it ships: conf/nginx/sharekeep.conf, unchanged.
    server {
        listen 127.0.0.1:$NGINX_PORT;
        server_name localhost;
        include $ROOT/conf/nginx/sharekeep.conf;
    }

    # Limit A, the HTTP ceiling: same nginx, same body limits, no backend.
    server {
        listen 127.0.0.1:$LIMIT_PORT;
        server_name localhost;
        client_max_body_size 64k;
        client_body_buffer_size 64k;
        location / { return 200; }
    }
EOF
        _nginx_express_server
        echo "}"
    } >"$n/nginx.conf"
    "$NGINX_BIN" -t -q -e "$n/error.log" -p "$n/" -c "$n/nginx.conf" >"$n/test.out" 2>&1 ||
        { cat "$n/test.out" >&2; die "nginx -t rejected the config"; }
    "$NGINX_BIN" -e "$n/error.log" -p "$n/" -c "$n/nginx.conf" </dev/null >>"$n/stdout.log" 2>&1 &
    NGINX_PID=$!
    started "$NGINX_PID" 100 "$n/error.log" nginx _nginx_ready
}

nginx_stop() { stop_child NGINX_PID QUIT 50; }

# ---- Express peer ------------------------------------------------------------
express_deps() {
    local d=$BENCH/peers/express
    if [ ! -d "$d/node_modules/express" ] || [ ! -d "$d/node_modules/pg" ] ||
        [ "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; then
        say "bench: npm ci (bench/peers/express)"
        (cd "$d" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || die "npm ci failed"
    fi
}

_express_ready() { grep -q 'express peer:' "$T/express/express.log" 2>/dev/null; }

express_start() {
    EXPRESS_PORT=$(free_port) || die "no free port"
    PGHOST=$PG_SOCK PGPORT=$PG_PORT PGDATABASE=bench_express PGUSER=bench SETUP_SCHEMA=1 \
        PORT=$EXPRESS_PORT HOST=127.0.0.1 NODE_ENV=production WEBHOOK_SECRET_FILE=$SK_SHARED_SECRET \
        node "$BENCH/peers/express/server.js" </dev/null >"$T/express/express.log" 2>&1 &
    EXPRESS_PID=$!
    started "$EXPRESS_PID" 150 "$T/express/express.log" "express peer" _express_ready
}

express_stop() {
    [ -n "$EXPRESS_PID" ] || return 0
    local kids k
    kids=$(children_of "$EXPRESS_PID")
    stop_child EXPRESS_PID TERM 50
    for k in $kids; do
        if alive "$k"; then kill -KILL "$k" 2>/dev/null; fi
    done
}

# ---- memory ------------------------------------------------------------------
# tree_pids PID: PID and its direct children (sharekeep workers, node workers).
tree_pids() { echo "$1"; children_of "$1"; }

# hwm_reset PID...: peak RSS (VmHWM) back to the current RSS (clear_refs 5).
hwm_reset() {
    local p
    for p in "$@"; do echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true; done
}

# hwm_kb PID: VmHWM in kB (0 when gone).
hwm_kb() { awk '/^VmHWM:/ { print $2; f = 1 } END { if (!f) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# ---- background load -----------------------------------------------------------
# cpu_busy_pct SECONDS: percent of all CPU time that was busy (not idle or
# iowait) over SECONDS, machine-wide.  Sampled while our own stack is idle,
# it measures what else runs on the machine.
cpu_busy_pct() {
    local a b
    a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    sleep "$1"
    b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    echo "$a $b" | awk '{ busy = $3 - $1; idle = $4 - $2; t = busy + idle;
        printf "%d\n", (t > 0) ? 100 * busy / t + 0.5 : 0 }'
}

# ---- CPU accounting --------------------------------------------------------------
# cpu_ticks PID...: utime+stime of those processes, in clock ticks.
cpu_ticks() {
    local p sum=0 f
    for p in "$@"; do
        f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        f=${f##*) }
        # shellcheck disable=SC2086
        set -- $f
        sum=$((sum + ${12} + ${13}))
    done
    echo "$sum"
}
# cpu_snap PID...: "pid:ticks" for each live process.
cpu_snap() {
    local p f
    for p in "$@"; do
        f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        f=${f##*) }
        # shellcheck disable=SC2086
        set -- $f
        printf '%s:%s ' "$p" $((${12} + ${13}))
    done
}
# cpu_delta "SNAPSHOT" PID...: ticks the listed (live) processes used since
# SNAPSHOT (a process born since counts whole; one that exited is lost).
cpu_delta() {
    local snap=" $1" sum=0 p now before
    shift
    for p in "$@"; do
        now=$(cpu_snap "$p")
        [ -n "$now" ] || continue
        now=${now% }
        now=${now#*:}
        before=0
        case $snap in *" $p:"*) before=${snap#*" $p:"}; before=${before%% *} ;; esac
        sum=$((sum + now - before))
    done
    echo "$sum"
}
# PostgreSQL's postmaster and every backend/auxiliary process of our cluster.
pg_pids() {
    local pm
    pm=$(head -n1 "$T/pg/postmaster.pid" 2>/dev/null) || return 0
    echo "$pm"
    children_of "$pm"
}
# pg_cpu_ticks: user + system CPU of our cluster so far, in clock ticks:
# the postmaster's own and its reaped children's (cutime, cstime: backends
# that exited, e.g. pgbench's) plus each live child's, once nothing is
# left to reap. The difference of two readings is what PostgreSQL spent in
# between, exited backends included (bench/scale/run has the same).
pg_cpu_ticks() {
    local pm p f own reaped again last=-1 sum quiet=0 tries=0
    pm=$(head -n1 "$T/pg/postmaster.pid" 2>/dev/null) || { echo 0; return; }
    while :; do
        f=$(cat "/proc/$pm/stat" 2>/dev/null) || { echo 0; return; }
        f=${f##*) }
        # shellcheck disable=SC2086
        set -- $f
        own=$((${12} + ${13})) reaped=$((${14} + ${15})) sum=0
        for p in $(children_of "$pm"); do
            f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
            f=${f##*) }
            # shellcheck disable=SC2086
            set -- $f
            sum=$((sum + ${12} + ${13}))
        done
        f=$(cat "/proc/$pm/stat" 2>/dev/null) || { echo 0; return; }
        f=${f##*) }
        # shellcheck disable=SC2086
        set -- $f
        again=$((${14} + ${15}))
        # A backend that has exited but is not reaped yet is in neither sum
        # (10-60 ms here): read until the reaped CPU stays the same 100 ms.
        if [ "$again" = "$reaped" ] && [ "$again" = "$last" ]; then
            quiet=$((quiet + 1))
        else
            quiet=0
        fi
        last=$again
        if [ "$quiet" -ge 5 ] || [ "$tries" -ge 250 ]; then break; fi
        tries=$((tries + 1))
        sleep 0.02
    done
    echo $((own + reaped + sum))
}
# pg_lsn: the cluster's current WAL insert position.
pg_lsn() { psql_as postgres postgres "SELECT pg_current_wal_lsn()"; }
