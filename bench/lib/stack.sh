# shellcheck shell=bash
# bench/lib/stack.sh: start and stop what the benchmark measures, all in one
# private temp dir, all on loopback: PostgreSQL (unix socket only), sharekeep
# (FastCGI on a unix socket) behind nginx, the Express peer, and nginx's
# `return 200` server.  Sourced by bench/run and bench/profile, which set
# ROOT (repo) and BENCH (bench/) first.
#
# Everything started here is recorded by pid and stopped by stack_stop
# (installed as an EXIT trap by stack_init), even when the caller fails.

PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
SHAREKEEP_BIN=${SHAREKEEP_BIN:-$ROOT/sharekeep}

T=""            # temp dir
PG_PORT="" PG_SOCK="" PG_UP=0
SK_PID="" SK_SOCK="" SK_CONF="" SK_LOG="" SK_SECRETS=""
NGINX_PID="" NGINX_PORT="" LIMIT_PORT=""
EXPRESS_PID="" EXPRESS_PORT=""
_USED_PORTS=" "

say() { printf '%s\n' "$*" >&2; }
die() {
    printf 'bench: ERROR: %s\n' "$*" >&2
    exit 1
}
is_root() { [ "$(id -u)" -eq 0 ]; }
as_pg() {
    if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

alive() {
    local stat
    [ -n "${1:-}" ] || return 1
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != "Z" ]
}

children_of() { ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' ' || true; }

port_in_use() { [ -n "$(ss -Htan "( sport = :$1 )" 2>/dev/null)" ]; }
port_listening() { [ -n "$(ss -Hltn "( sport = :$1 )" 2>/dev/null)" ]; }

free_port() {
    local p _
    for _ in $(seq 1 200); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 20000))
        case $_USED_PORTS in *" $p "*) continue ;; esac
        if ! port_in_use "$p"; then
            _USED_PORTS="$_USED_PORTS$p "
            echo "$p"
            return 0
        fi
    done
    return 1
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
    local pgdata=$T/pg
    PG_PORT=$(free_port) || die "no free port"
    PG_SOCK=$T/pgsock
    mkdir -p "$pgdata" "$PG_SOCK"
    : >"$T/pg.log"
    if is_root; then chown postgres: "$pgdata" "$PG_SOCK" "$T/pg.log"; fi
    chmod 0700 "$pgdata"
    as_pg "$PG_BINDIR/initdb" -D "$pgdata" --auth=trust -U postgres -E UTF8 --no-locale \
        --no-sync >"$T/initdb.log" 2>&1 || { cat "$T/initdb.log" >&2; die "initdb failed"; }
    # Durability as in production: every COMMIT waits for its WAL flush.
    as_pg tee -a "$pgdata/postgresql.conf" >/dev/null <<EOF
# sharekeep benchmark cluster
listen_addresses = ''
port = $PG_PORT
unix_socket_directories = '$PG_SOCK'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 200
shared_buffers = 128MB
log_min_messages = warning
log_connections = off
EOF
    as_pg "$PG_BINDIR/pg_ctl" -D "$pgdata" -l "$T/pg.log" -w -t 60 start >/dev/null ||
        { tail -n 20 "$T/pg.log" >&2; die "pg_ctl start failed"; }
    PG_UP=1
    psql_as postgres postgres "
        CREATE ROLE sharekeep_owner LOGIN CREATEROLE;
        CREATE ROLE sharekeep LOGIN;
        CREATE ROLE bench LOGIN;
        CREATE DATABASE sharekeep OWNER sharekeep_owner;
        CREATE DATABASE bench_express OWNER bench;
        CREATE DATABASE bench_pgbench OWNER bench;" >/dev/null || die "creating roles failed"
}

pg_stop() {
    [ "$PG_UP" = 1 ] || return 0
    as_pg "$PG_BINDIR/pg_ctl" -D "$T/pg" -m fast -w -t 60 stop >/dev/null 2>&1
    PG_UP=0
}

# psql_as USER DB SQL: unaligned tuples only.
psql_as() {
    printf '%s\n' "$3" | PGOPTIONS='-c client_min_messages=warning' "$PG_BINDIR/psql" -X -A -t -q \
        -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -U "$1" -d "$2" -f -
}

pg_conninfo() {
    echo "host=$PG_SOCK port=$PG_PORT dbname=${2:-sharekeep} user=${1:-sharekeep}"
}

# ---- sharekeep ---------------------------------------------------------------
# sk_prepare: keyring, webhook + JWT secrets, migrated schema.
sk_prepare() {
    SK_CONF=$T/sk/sharekeep.conf
    SK_LOG=$T/sk/sharekeep.log
    SK_SOCK=$T/sk/sharekeep.sock
    SK_SECRETS=$T/sk/webhook-secrets
    : >"$SK_LOG"
    [ -x "$SHAREKEEP_BIN" ] || die "no sharekeep binary at $SHAREKEEP_BIN (run bash scripts/test --build-only)"
    env -u SHAREKEEP_CONFIG "$SHAREKEEP_BIN" keygen "$T/sk/keyring" >>"$SK_LOG" 2>&1 ||
        die "sharekeep keygen failed"
    (umask 077
     printf 'whsec_%s\n' "$(head -c 32 /dev/urandom | base64 -w0)" >"$SK_SECRETS"
     head -c 48 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9' >"$T/sk/jwt-secret")
    sk_write_config "${SK_WORKERS:-4}"
    env -u SHAREKEEP_CONFIG SHAREKEEP_DATABASE="$(pg_conninfo sharekeep_owner)" \
        "$SHAREKEEP_BIN" -c "$SK_CONF" migrate >>"$SK_LOG" 2>&1 || {
        tail -n 20 "$SK_LOG" >&2
        die "sharekeep migrate failed"
    }
    psql_as sharekeep_owner sharekeep "GRANT sharekeep_runtime TO sharekeep;" >/dev/null ||
        die "grant failed"
}

sk_write_config() {
    cat >"$SK_CONF" <<EOF
# written by bench/run
listen = unix:$SK_SOCK
socket_mode = 0660
workers = $1
database = $(pg_conninfo sharekeep)
keyring = $T/sk/keyring
webhooks_root = /webhook
max_body = 65536
sql_dir = $ROOT/sql
log_level = info
webhook_auth = standard-webhooks
webhook_secrets = $SK_SECRETS
# pre-signed requests are replayed for the whole run
webhook_tolerance = 3600
client_auth = jwt
jwt_hs256_secret = $T/sk/jwt-secret
EOF
}

# sk_start WORKERS [WRAPPER...]: serve in the background (WRAPPER, e.g.
# valgrind, goes in front of the binary).
sk_start() {
    local workers=$1 _
    shift
    sk_write_config "$workers"
    echo "---- serve workers=$workers $(date +%T) ----" >>"$SK_LOG"
    env -u SHAREKEEP_CONFIG "$@" "$SHAREKEEP_BIN" -c "$SK_CONF" serve </dev/null >>"$SK_LOG" 2>&1 &
    SK_PID=$!
    for _ in $(seq 1 300); do
        alive "$SK_PID" || break
        if ss -Hlx 2>/dev/null | awk -v p="$SK_SOCK" '$5 == p { f = 1 } END { exit !f }' &&
            [ "$(children_of "$SK_PID" | wc -l)" -ge "$workers" ]; then
            sleep 0.2   # workers connect to PostgreSQL up front
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 "$SK_LOG" >&2
    die "sharekeep did not start"
}

sk_stop() {
    [ -n "$SK_PID" ] || return 0
    local _
    kill -TERM "$SK_PID" 2>/dev/null
    for _ in $(seq 1 100); do alive "$SK_PID" || break; sleep 0.1; done
    alive "$SK_PID" && kill -KILL "$SK_PID" 2>/dev/null
    wait "$SK_PID" 2>/dev/null
    SK_PID=""
}

# ---- nginx -----------------------------------------------------------------
nginx_start() {
    local n=$T/nginx _
    NGINX_PORT=$(free_port) || die "no free port"
    LIMIT_PORT=$(free_port) || die "no free port"
    cp /etc/nginx/fastcgi_params "$n/fastcgi_params"
    {
        is_root && echo "user root;"
        cat <<EOF
worker_processes auto;
daemon off;
pid $n/nginx.pid;
error_log $n/error.log warn;
events { worker_connections 4096; }
http {
    access_log $n/access.log;
    client_body_temp_path $n/tmp/body;
    fastcgi_temp_path $n/tmp/fastcgi;
    proxy_temp_path $n/tmp/proxy;
    scgi_temp_path $n/tmp/scgi;
    uwsgi_temp_path $n/tmp/uwsgi;
    default_type application/octet-stream;

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
}
EOF
    } >"$n/nginx.conf"
    "$NGINX_BIN" -t -q -e "$n/error.log" -p "$n/" -c "$n/nginx.conf" >"$n/test.out" 2>&1 ||
        { cat "$n/test.out" >&2; die "nginx -t rejected the config"; }
    "$NGINX_BIN" -e "$n/error.log" -p "$n/" -c "$n/nginx.conf" </dev/null >>"$n/stdout.log" 2>&1 &
    NGINX_PID=$!
    for _ in $(seq 1 100); do
        alive "$NGINX_PID" || break
        if port_listening "$NGINX_PORT" && port_listening "$LIMIT_PORT"; then return 0; fi
        sleep 0.1
    done
    tail -n 20 "$n/error.log" >&2
    die "nginx did not start"
}

nginx_stop() {
    [ -n "$NGINX_PID" ] || return 0
    local _
    kill -QUIT "$NGINX_PID" 2>/dev/null
    for _ in $(seq 1 50); do alive "$NGINX_PID" || break; sleep 0.1; done
    alive "$NGINX_PID" && kill -KILL "$NGINX_PID" 2>/dev/null
    wait "$NGINX_PID" 2>/dev/null
    NGINX_PID=""
}

# ---- Express peer ------------------------------------------------------------
express_deps() {
    local d=$BENCH/peers/express
    if [ ! -d "$d/node_modules/express" ] || [ ! -d "$d/node_modules/pg" ] ||
        [ "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; then
        say "bench: npm ci (bench/peers/express)"
        (cd "$d" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || die "npm ci failed"
    fi
}

express_start() {
    local _
    EXPRESS_PORT=$(free_port) || die "no free port"
    PGHOST=$PG_SOCK PGPORT=$PG_PORT PGDATABASE=bench_express PGUSER=bench SETUP_SCHEMA=1 \
        PORT=$EXPRESS_PORT HOST=127.0.0.1 NODE_ENV=production \
        node "$BENCH/peers/express/server.js" </dev/null >"$T/express/express.log" 2>&1 &
    EXPRESS_PID=$!
    for _ in $(seq 1 150); do
        alive "$EXPRESS_PID" || break
        if grep -q 'express peer:' "$T/express/express.log" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    cat "$T/express/express.log" >&2
    die "express peer did not start"
}

express_stop() {
    [ -n "$EXPRESS_PID" ] || return 0
    local kids k _
    kids=$(children_of "$EXPRESS_PID")
    kill -TERM "$EXPRESS_PID" 2>/dev/null
    for _ in $(seq 1 50); do alive "$EXPRESS_PID" || break; sleep 0.1; done
    alive "$EXPRESS_PID" && kill -KILL "$EXPRESS_PID" 2>/dev/null
    for k in $kids; do alive "$k" && kill -KILL "$k" 2>/dev/null; done
    wait "$EXPRESS_PID" 2>/dev/null
    EXPRESS_PID=""
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
