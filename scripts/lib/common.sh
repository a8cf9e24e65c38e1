# shellcheck shell=bash
# scripts/lib/common.sh: what the tests, the benchmark and the development
# stack share.  Sourced by tests/integration/lib.sh (and through it by the
# fault tests), bench/lib/stack.sh, scripts/dev-up, scripts/dev-down and
# scripts/deps.
#
#   processes   alive, children_of, wait_for, wait_gone, stop_grace, stop_child
#   ports       port_in_use, port_listening, unix_listening, free_port
#   PostgreSQL  as_pg, pg_init, pg_up, pg_down, pg_ctl_as, psql_as,
#               pg_conninfo, pg_sharekeep_db, pg_grant_runtime
#   sharekeep   sk_env_unset, sk_env, sk_migrate_owner
#   nginx       nginx_conf_head
#   secrets     rand_token, b64url, jwt_hs256
#   packages    apt_install
#
# Nothing here exits or prints on stdout unasked: a function returns a
# status, says on stderr what went wrong, and the caller decides whether
# that is fatal.  Everything works under `set -euo pipefail` (bench/run,
# scripts/dev-up) and without it (the tests).

if [ -z "${BASH_VERSION:-}" ]; then
    echo "scripts/lib/common.sh needs bash" >&2
    return 1 2>/dev/null || exit 1
fi

PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}

have() { command -v "$1" >/dev/null 2>&1; }
is_root() { [ "$(id -u)" -eq 0 ]; }

# ---- processes ----------------------------------------------------------------
# alive PID: true while PID exists and is not a zombie.
alive() {
    local stat
    [ -n "${1:-}" ] || return 1
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != "Z" ]
}

# children_of PID: its child pids (sharekeep's prefork workers, nginx's,
# node's), one a line, without forking once per process in /proc.
children_of() {
    local f
    if [ -r "/proc/$1/task/$1/children" ]; then
        for f in /proc/"$1"/task/*/children; do
            tr ' ' '\n' 2>/dev/null <"$f" || true
        done | sed '/^$/d' || true
    else
        ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' ' || true
    fi
    return 0
}

# wait_for PID TENTHS CMD...: poll CMD every 0.1 s, up to TENTHS times.
# True once CMD succeeds; false when time runs out or PID (unless "") dies.
wait_for() {
    local pid=$1 n=$2 i
    shift 2
    for ((i = 0; i < n; i++)); do
        if [ -n "$pid" ] && ! alive "$pid"; then return 1; fi
        if "$@"; then return 0; fi
        sleep 0.1
    done
    return 1
}

# wait_gone PID TENTHS: true once PID has exited, within TENTHS * 0.1 s.
wait_gone() {
    local i
    for ((i = 0; i < $2; i++)); do
        alive "$1" || return 0
        sleep 0.1
    done
    ! alive "$1"
}

# stop_grace PID SIGNAL TENTHS: send SIGNAL, give PID TENTHS * 0.1 s to
# exit, then SIGKILL it.  True when it exited by itself (or was not
# running), false when it had to be killed.  The caller reaps its own
# children with `wait`.
stop_grace() {
    local pid=$1
    alive "$pid" || return 0
    kill "-$2" "$pid" 2>/dev/null
    wait_gone "$pid" "$3" && return 0
    kill -KILL "$pid" 2>/dev/null
    wait_gone "$pid" 20
    return 1
}

# stop_child VAR SIGNAL TENTHS: stop_grace the child of this shell whose
# pid is in variable VAR (nothing when VAR is empty), reap it and empty
# VAR.  Always true.
stop_child() {
    local pid=${!1}
    [ -n "$pid" ] || return 0
    stop_grace "$pid" "$2" "$3" || true
    wait "$pid" 2>/dev/null || true
    printf -v "$1" '%s' ""
}

# ---- ports --------------------------------------------------------------------
# port_in_use PORT: something has TCP port PORT open on this machine (any
# state); port_listening PORT: something listens on it.
port_in_use() {
    if have ss; then
        [ -n "$(ss -Htan "( sport = :$1 )" 2>/dev/null)" ]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

port_listening() {
    if have ss; then
        [ -n "$(ss -Hltn "( sport = :$1 )" 2>/dev/null)" ]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

# unix_listening PATH [INODE]: a process listens on unix socket PATH.
# Without ss, a socket file whose inode is not INODE (the file found
# before the server started) has to do.
unix_listening() {
    if have ss; then
        ss -Hlx 2>/dev/null | awk -v p="$1" '$5 == p { f = 1 } END { exit !f }'
    else
        [ -S "$1" ] && [ "$(stat -c %i "$1" 2>/dev/null)" != "${2:-}" ]
    fi
}

# free_port: a random free TCP port in 20000-39999, never one this shell
# handed out before.
_USED_PORTS=" "
free_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 20000))
        case $_USED_PORTS in *" $p "*) continue ;; esac
        if ! port_in_use "$p"; then
            _USED_PORTS="$_USED_PORTS$p "
            echo "$p"
            return 0
        fi
    done
    echo "no free TCP port found" >&2
    return 1
}

# ---- PostgreSQL -----------------------------------------------------------------
# as_pg CMD...: run a PostgreSQL server binary as the postgres user when we
# are root (postgres refuses to run as root), as ourselves otherwise.
as_pg() {
    if is_root; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# pg_ctl_as DATA ARGS...: pg_ctl on the cluster in DATA.
pg_ctl_as() {
    local data=$1
    shift
    as_pg "$PG_BINDIR/pg_ctl" -D "$data" "$@"
}

# pg_init DATA SOCKDIR PORT LOG TITLE [SETTING...]: a new cluster in DATA
# with trust authentication, on its unix socket in SOCKDIR only (TCP is
# off: PORT only names the socket file), LOG made for its server log and
# owned by whoever runs it.  postgresql.conf gets "# TITLE", those three
# settings and each SETTING line.  initdb's output is initdb.log beside LOG.
pg_init() {
    local data=$1 sock=$2 port=$3 log=$4 title=$5 ilog=${4%/*}/initdb.log
    shift 5
    mkdir -p "$data" "$sock" || return 1
    : >"$log"
    if is_root; then
        chown postgres: "$data" "$sock" "$log" || return 1
    fi
    chmod 0700 "$data"
    if ! as_pg test -w "$data"; then
        echo "the postgres user cannot write to $data (is a parent directory private?)" >&2
        return 1
    fi
    if ! as_pg "$PG_BINDIR/initdb" -D "$data" --auth=trust -U postgres -E UTF8 --no-locale \
        --no-sync >"$ilog" 2>&1; then
        cat "$ilog" >&2
        echo "initdb failed" >&2
        return 1
    fi
    {
        printf '# %s\n' "$title"
        printf "listen_addresses = ''\nport = %s\nunix_socket_directories = '%s'\n" "$port" "$sock"
        [ $# -eq 0 ] || printf '%s\n' "$@"
    } | as_pg tee -a "$data/postgresql.conf" >/dev/null
}

# pg_up DATA LOG: start the cluster in DATA, logging to LOG; waits up to
# 60 s for it to accept connections.
pg_up() {
    pg_ctl_as "$1" -l "$2" -w -t 60 start >/dev/null && return 0
    tail -n 20 "$2" >&2
    echo "pg_ctl start failed" >&2
    return 1
}

# pg_down DATA [MODE]: stop it (MODE fast by default: backends are ended).
pg_down() {
    pg_ctl_as "$1" -m "${2:-fast}" -w -t 60 stop >/dev/null
}

# psql_as USER DB SQL [name=value ...]: run SQL on the cluster at
# PG_SOCK/PG_PORT, print unaligned tuples, stop at the first error.  The
# name=value pairs become psql variables: :'name' in SQL is a safely quoted
# literal (psql only interpolates SQL read from a file or stdin, which is
# why the SQL goes through stdin; so does any COPY data in it).
# PSQL_OPTIONS adds server settings (-c name=value) for the session.
psql_as() {
    local user=$1 db=$2 sql=$3 kv
    shift 3
    local -a vars=()
    for kv in "$@"; do vars+=(-v "$kv"); done
    printf '%s\n' "$sql" |
        PGCONNECT_TIMEOUT=5 PGOPTIONS="-c client_min_messages=warning ${PSQL_OPTIONS:-}" \
            "$PG_BINDIR/psql" -X -A -t -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" \
            -U "$user" -d "$db" "${vars[@]}" -f -
}

# pg_conninfo [ROLE] [DB]: libpq conninfo for PG_SOCK/PG_PORT; ROLE
# defaults to sharekeep (what serve logs in as), DB to sharekeep.
pg_conninfo() {
    echo "host=$PG_SOCK port=$PG_PORT dbname=${2:-sharekeep} user=${1:-sharekeep} connect_timeout=3"
}

# pg_sharekeep_db: the roles and database sharekeep's migrations expect,
# made where missing.  The owner "sharekeep_owner" runs the migrations,
# which create the NOLOGIN roles sharekeep_runtime and sharekeep_admin (so
# it needs CREATEROLE); `serve` logs in as "sharekeep", which
# pg_grant_runtime makes a member of sharekeep_runtime after migrating.
pg_sharekeep_db() {
    psql_as postgres postgres "DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sharekeep_owner') THEN
        CREATE ROLE sharekeep_owner LOGIN CREATEROLE;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sharekeep') THEN
        CREATE ROLE sharekeep LOGIN;
    END IF;
END \$\$;
SELECT 'CREATE DATABASE sharekeep OWNER sharekeep_owner'
    WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'sharekeep') \\gexec
ALTER DATABASE sharekeep OWNER TO sharekeep_owner;" >/dev/null
}

# pg_grant_runtime: the login role "sharekeep" gets the runtime role, once
# a migration has made it.
pg_grant_runtime() {
    psql_as sharekeep_owner sharekeep "DO \$\$ BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'sharekeep_runtime') THEN
        GRANT sharekeep_runtime TO sharekeep;
    END IF;
END \$\$;" >/dev/null
}

# ---- sharekeep --------------------------------------------------------------------
# sharekeep reads SHAREKEEP_<KEY> overrides from its environment; none of
# this shell's may reach it by accident.  sk_env_unset fills SK_ENV_UNSET
# with the `env -u NAME` arguments that drop them; sk_env [NAME=value ...]
# CMD... runs CMD without them (the NAME=value pairs put back what the
# caller means).  In the background, use env "${SK_ENV_UNSET[@]}" CMD &
# instead: sk_env is a function, so $! would be a subshell's pid, not CMD's.
sk_env_unset() {
    local v
    SK_ENV_UNSET=()
    for v in $(compgen -e); do
        case $v in SHAREKEEP_*) SK_ENV_UNSET+=(-u "$v") ;; esac
    done
}

sk_env() {
    sk_env_unset
    env "${SK_ENV_UNSET[@]}" "$@"
}

# sk_migrate_owner BIN ARGS...: `BIN ARGS... migrate` as the database owner
# (the config's database overridden with SHAREKEEP_DATABASE, as an operator
# would), then pg_grant_runtime.  Output goes where the caller's goes.
sk_migrate_owner() {
    sk_env SHAREKEEP_DATABASE="$(pg_conninfo sharekeep_owner)" "$@" migrate && pg_grant_runtime
}

# ---- nginx ----------------------------------------------------------------------------
# nginx_conf_head DIR WORKERS CONNECTIONS LOGLEVEL [daemon]: the top of an
# nginx.conf that keeps its pid, logs and temp files in DIR (DIR/tmp must
# exist), up to and including the opening of the http block; the caller
# writes the servers and the closing "}".  In the foreground unless the
# fifth word is "daemon".
nginx_conf_head() {
    local d=$1
    # The master runs as us; as root, workers would drop to "nobody" and
    # could neither use DIR nor reach sharekeep's 0660 socket.  Everything
    # listens on loopback only.
    if is_root; then echo "user root;"; fi
    [ "${5:-}" = daemon ] || echo "daemon off;"
    cat <<EOF
worker_processes $2;
pid $d/nginx.pid;
error_log $d/error.log $4;
events { worker_connections $3; }
http {
    access_log $d/access.log;
    client_body_temp_path $d/tmp/body;
    fastcgi_temp_path $d/tmp/fastcgi;
    proxy_temp_path $d/tmp/proxy;
    scgi_temp_path $d/tmp/scgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    default_type application/octet-stream;
EOF
}

# ---- secrets and tokens -------------------------------------------------------------
# rand_token N: N random characters from [A-Za-z0-9].
rand_token() {
    local s=""
    while [ ${#s} -lt "$1" ]; do
        s+=$(head -c 256 /dev/urandom | tr -dc 'A-Za-z0-9')
    done
    printf '%s' "${s:0:$1}"
}

# b64url: stdin in unpadded base64url.
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }

# jwt_hs256 PAYLOAD_JSON [SECRET] [HEADER_JSON]: a compact HS256 JWT;
# SECRET defaults to SK_JWT_SECRET (the integration tests' secret).
jwt_hs256() {
    local payload=$1 secret=${2:-${SK_JWT_SECRET:-}} header=${3:-'{"alg":"HS256","typ":"JWT"}'} si sig
    si=$(printf '%s' "$header" | b64url).$(printf '%s' "$payload" | b64url)
    sig=$(printf '%s' "$si" | openssl dgst -sha256 -mac HMAC -macopt "key:$secret" -binary | b64url)
    printf '%s.%s' "$si" "$sig"
}

# ---- Debian packages --------------------------------------------------------------------
# apt_install PKG...: apt-get install them (as root), retried once after a
# fresh update.  Installing postgresql or nginx would normally start their
# system services (a cluster on port 5432, nginx on port 80), which nothing
# of sharekeep uses: a policy-rc.d (the Debian mechanism invoke-rc.d
# honours) blocks service starts for the install's duration; an existing
# policy-rc.d is left alone.
apt_install() {
    local policy=/usr/sbin/policy-rc.d made=0 rc=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# written by sharekeep during apt-get install\nexit 101\n' >"$policy"
        chmod 0755 "$policy"
        made=1
    fi
    _apt_get -q update && _apt_get -q install -y --no-install-recommends "$@" || {
        echo "apt-get install failed; retrying once after a fresh update" >&2
        sleep 5
        _apt_get -q update && _apt_get -q install -y --no-install-recommends "$@"
    } || rc=1
    if [ "$made" = 1 ]; then rm -f "$policy"; fi
    return "$rc"
}

_apt_get() {
    DEBIAN_FRONTEND=noninteractive apt-get -o Dpkg::Use-Pty=0 -o Acquire::Retries=3 "$@"
}
