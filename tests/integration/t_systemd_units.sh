#!/bin/bash
# conf/systemd/sharekeep.socket + sharekeep.service, tested without a
# running systemd (tests run in containers where it is not PID 1):
#
#  1. `systemd-analyze verify` accepts both units without a warning, and
#     `systemd-analyze security --offline` rates the service's sandbox.
#  2. The units agree with the code: TimeoutStopSec outlasts sharekeep's
#     stop grace (src/server.c), ExecReload sends SIGHUP, KillSignal is
#     SIGTERM, ExecStartPre runs `check`, ExecStart runs `serve`.
#  3. Socket activation, emulated: systemd-socket-activate makes the socket
#     (as the .socket unit would: its directory mode, owner, group, mode)
#     and starts the unit's own ExecStart command line, as an unprivileged
#     user and with only the unit's Environment=, on the first connection;
#     sharekeep finds the socket on fd 3 (LISTEN_FDS/LISTEN_PID) and nginx
#     serves through it.  ExecStartPre and ExecReload run as written;
#     SIGTERM stops it cleanly and leaves systemd's socket in place.
#  4. With strace: every system call sharekeep makes while serving (under
#     3) is allowed by the unit's SystemCallFilter, its sockets are of the
#     RestrictAddressFamilies families, it never asks for writable+
#     executable memory (MemoryDenyWriteExecute) and opens no file for
#     writing (ProtectSystem=strict).
#
# Skips (77) when systemd-analyze or systemd-socket-activate is missing
# (Debian package systemd); part 4 is skipped without strace.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"

sk_init
SD_ANALYZE=$(command -v systemd-analyze) || skip "systemd-analyze not found (Debian package systemd)"
SD_ACTIVATE=$(command -v systemd-socket-activate) || skip "systemd-socket-activate not found (Debian package systemd)"
SETPRIV=$(command -v setpriv) || skip "setpriv not found (Debian package util-linux)"

UNITS=$SHAREKEEP_SRCDIR/conf/systemd

# unit_get FILE KEY: the values of KEY= in FILE, one a line (comments and
# other keys skipped).
unit_get() {
    awk -v k="$2" '
        /^[ \t]*[#;]/ { next }
        { line = $0; sub(/^[ \t]+/, "", line) }
        index(line, k "=") == 1 { print substr(line, length(k) + 2) }' "$1"
}

# ---- setup -------------------------------------------------------------------
pg_start
sk_keygen
SK_TRANSPORT=unix
sk_write_config
SK_SOCK=""
sk_migrate
install -d -m 0755 "$T/bin"
install -m 0755 "$SHAREKEEP_BIN" "$T/bin/sharekeep"
chmod 0644 "$SK_CONF"

# The units with this test's binary and config, as they would be installed.
install -d -m 0755 "$T/units"
for u in sharekeep.socket sharekeep.service; do
    sed -e "s|/usr/local/bin/sharekeep|$T/bin/sharekeep|g" \
        -e "s|/etc/sharekeep/sharekeep.conf|$SK_CONF|g" "$UNITS/$u" >"$T/units/$u"
done
SVC=$T/units/sharekeep.service
SOCK_UNIT=$T/units/sharekeep.socket
check "the service's ExecStart points at the installed binary" \
    grep -q "^ExecStart=$T/bin/sharekeep " "$SVC"

# ---- 1. systemd-analyze ---------------------------------------------------
"$SD_ANALYZE" verify --man=no "$SOCK_UNIT" "$SVC" >"$T/verify.out" 2>&1
rc=$?
# verify exits 0 on unknown keys or bad values too; it only warns.
if [ "$rc" -eq 0 ] && ! grep -q 'sharekeep' "$T/verify.out"; then
    ok "systemd-analyze verify: both units load without a warning"
else
    not_ok "systemd-analyze verify (exit $rc)"
    sed 's/^/#   /' "$T/verify.out" | head -n 20
fi

"$SD_ANALYZE" security --offline=true --no-pager "$SVC" >"$T/security.out" 2>&1
if grep -q 'Overall exposure level' "$T/security.out"; then
    exposure=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$T/security.out")
    if awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'; then
        ok "systemd-analyze security: exposure $exposure (at most 2.0)"
    else
        not_ok "systemd-analyze security: exposure $exposure, more than 2.0"
        grep '✗' "$T/security.out" | sed 's/^/#   /'
    fi
else
    log "systemd-analyze security --offline not supported here: exposure not rated"
fi

# ---- 2. the units agree with the code ------------------------------------------
grace=$(sed -n 's/^#define STOP_GRACE_SECONDS *\([0-9][0-9]*\).*/\1/p' "$SHAREKEEP_SRCDIR/src/server.c")
stop=$(unit_get "$SVC" TimeoutStopSec)
if [ -n "$grace" ] && [ -n "$stop" ] && [ "${stop%s}" -gt "$grace" ]; then
    ok "TimeoutStopSec=$stop outlasts sharekeep's stop grace of ${grace}s"
else
    not_ok "TimeoutStopSec ($stop) must be longer than STOP_GRACE_SECONDS ($grace) in src/server.c"
fi
assert_eq SIGTERM "$(unit_get "$SVC" KillSignal)" "KillSignal=SIGTERM (sharekeep's graceful stop)"
assert_eq mixed "$(unit_get "$SVC" KillMode)" "KillMode=mixed: only the master gets SIGTERM"
assert_eq '/bin/kill -HUP $MAINPID' "$(unit_get "$SVC" ExecReload)" "ExecReload sends SIGHUP (reload)"
assert_eq 'sharekeep.socket' "$(unit_get "$SVC" Requires)" "the service requires its socket"
read -ra EXEC_PRE <<<"$(unit_get "$SVC" ExecStartPre)"
read -ra EXEC_START <<<"$(unit_get "$SVC" ExecStart)"
assert_eq check "${EXEC_PRE[${#EXEC_PRE[@]}-1]}" "ExecStartPre runs 'sharekeep check'"
assert_eq serve "${EXEC_START[${#EXEC_START[@]}-1]}" "ExecStart runs 'sharekeep serve'"
UNIT_ENV=$(unit_get "$SVC" Environment)
assert_eq "SHAREKEEP_CONFIG=$SK_CONF" "$UNIT_ENV" "Environment= names the config"
LISTEN=$(unit_get "$SOCK_UNIT" ListenStream)
assert_eq /run/sharekeep/sharekeep.sock "$LISTEN" "the socket unit listens where the recipes point"
check "conf/nginx/example-site.conf points at the same socket" \
    grep -q "server unix:$LISTEN;" "$SHAREKEEP_SRCDIR/conf/nginx/example-site.conf"
check "conf/apache/sharekeep-proxy-fcgi.conf points at the same socket" \
    grep -q "unix:$LISTEN|fcgi://" "$SHAREKEEP_SRCDIR/conf/apache/sharekeep-proxy-fcgi.conf"

# ---- 3. socket activation, emulated --------------------------------------------
SOCK_MODE=$(unit_get "$SOCK_UNIT" SocketMode)
DIR_MODE=$(unit_get "$SOCK_UNIT" DirectoryMode)
SOCK_GROUP=$(unit_get "$SOCK_UNIT" SocketGroup)
# The unit's User=sharekeep does not exist here: nobody stands in for it.
if is_root; then RUN_USER=nobody; else RUN_USER=$(id -un); fi
RUN_GROUP=$(id -gn "$RUN_USER")
is_root && id "$SOCK_GROUP" >/dev/null 2>&1 || SOCK_GROUP=$RUN_GROUP
for f in "$T/sk/keyring" "$SK_WEBHOOK_SECRETS" "$SK_JWT_SECRET_FILE"; do
    chmod 0600 "$f"
    is_root && chown "$RUN_USER:$RUN_GROUP" "$f"
done
as_unit_user=("$SETPRIV")
if is_root; then
    as_unit_user+=(--reuid="$RUN_USER" --regid="$RUN_GROUP" --clear-groups)
fi
as_unit_user+=(--no-new-privs --)     # NoNewPrivileges=yes
clean_env=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$UNIT_ENV")

# ExecStartPre, as the service user with the unit's environment only
"${clean_env[@]}" "${as_unit_user[@]}" "${EXEC_PRE[@]}" >"$T/pre.out" 2>&1
assert_eq 0 "$?" "ExecStartPre ($RUN_USER): sharekeep check passes"
check "ExecStartPre reports the keyring" grep -q 'keyring and auth files OK' "$T/pre.out"

# The socket the .socket unit would make: /run/sharekeep -> $T/run/sharekeep
install -d -m "$DIR_MODE" "$T/run/sharekeep"
SK_SOCK=$T/run/sharekeep/sharekeep.sock

STRACE=""
if have strace && strace -f -qq -o /dev/null -- true 2>/dev/null; then
    STRACE=$(command -v strace)
else
    log "strace missing or not permitted: the system call check is skipped"
fi
trace=()
# -D: strace runs as a detached grandchild, so sharekeep keeps the pid that
# LISTEN_PID names.
[ -n "$STRACE" ] && trace=("$STRACE" -D -f -qq -s 64 -o "$T/strace.out" --)

echo "---- systemd-socket-activate $(date +%T) ----" >>"$SK_LOG"
_SOCK_BEFORE=""
"${clean_env[@]}" "$SD_ACTIVATE" -l "$SK_SOCK" -E "$UNIT_ENV" -- \
    "${trace[@]}" "${as_unit_user[@]}" "${EXEC_START[@]}" </dev/null >>"$SK_LOG" 2>&1 &
SK_PID=$!
for i in $(seq 1 100); do [ -S "$SK_SOCK" ] && break; sleep 0.1; done
[ -S "$SK_SOCK" ] || die "systemd-socket-activate did not create $SK_SOCK"
# SocketUser/SocketGroup/SocketMode
if is_root; then chown "$RUN_USER:$SOCK_GROUP" "$SK_SOCK"; fi
chmod "$SOCK_MODE" "$SK_SOCK"
require "socket $SOCK_MODE in a directory $DIR_MODE, as the socket unit makes them" \
    test "${SOCK_MODE#0} ${DIR_MODE#0}" = "$(stat -c %a "$SK_SOCK") $(stat -c %a "$T/run/sharekeep")"

# Only the socket's group may connect (with python3 at hand to try).
connect_as() { # connect_as USER: exit 0 when USER can connect to $SK_SOCK
    "$SETPRIV" --reuid="$1" --regid="$(id -g "$1")" --init-groups -- \
        "$PY3" -c 'import socket,sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except PermissionError:
    sys.exit(13)
s.close()' "$SK_SOCK"
}
# (the system python3: another user cannot reach one under /root)
PY3=/usr/bin/python3
if is_root && [ -x "$PY3" ] && [ "$SOCK_GROUP" != "$RUN_GROUP" ] && id daemon >/dev/null 2>&1; then
    web_user=$(getent group "$SOCK_GROUP" | cut -d: -f4 | cut -d, -f1)
    [ -n "$web_user" ] || web_user=$SOCK_GROUP
    connect_as "$web_user"
    assert_eq 0 "$?" "$web_user (group $SOCK_GROUP) may connect: the first connection starts sharekeep"
    connect_as daemon
    assert_eq 13 "$?" "another user (daemon) may not connect"
fi

nginx_start
req GET /healthz
assert_status 200 "healthz through nginx and the activated socket"
check "sharekeep took the inherited socket" grep -q 'listen=inherited' "$SK_LOG"
assert_eq "$T/bin/sharekeep" "$(readlink "/proc/$SK_PID/exe")" "LISTEN_PID's process is sharekeep itself"
assert_eq "$RUN_USER" "$(stat -c %U "/proc/$SK_PID")" "it runs as $RUN_USER"
nnp=$(awk '/^NoNewPrivs:/ { print $2 }' "/proc/$SK_PID/status")
assert_eq 1 "$nnp" "with no_new_privs set"
env_ok=1
tr '\0' '\n' <"/proc/$SK_PID/environ" | grep -q '^LISTEN_FDS=1$' || env_ok=0
tr '\0' '\n' <"/proc/$SK_PID/environ" | grep -q "^LISTEN_PID=$SK_PID\$" || env_ok=0
check "its environment has LISTEN_FDS=1 and LISTEN_PID=its own pid" test "$env_ok" = 1
check "/proc/$SK_PID/fd/3 is the listening socket" test -S "/proc/$SK_PID/fd/3" -o -n "$(readlink "/proc/$SK_PID/fd/3" | grep '^socket:')"

share="activated-$(rand_token 40)"
req POST /webhook/backup "$(json clientId sd-1 share "$share")"
assert_status 200 "signed store through the activated socket"
req POST /webhook/backup/fetch "$(json clientId sd-1)"
assert_fetched "$share" "fetch returns it"
req POST /portal/clients/sd-1/backup "$(json backupShare "$share-c")"
assert_status 200 "client store with a Bearer token"
req GET /portal/clients/sd-1/backup
assert_client_got "$share-c" "client fetch"
req POST /webhook/nope "$(json clientId sd-1)"
assert_status 404 "unknown path: sharekeep's 404"
REQ_AUTH=0 req POST /webhook/backup/fetch "$(json clientId sd-1)"
assert_status 401 "unsigned webhook"

# ExecReload as written, $MAINPID being sharekeep's pid
read -ra EXEC_RELOAD <<<"$(unit_get "$SVC" ExecReload | sed "s/\$MAINPID/$SK_PID/")"
"${EXEC_RELOAD[@]}"
assert_eq 0 "$?" "ExecReload: $(unit_get "$SVC" ExecReload)"
for i in $(seq 1 50); do grep -q 'msg="reloaded"' "$SK_LOG" && break; sleep 0.1; done
check "sharekeep reloaded" grep -q 'msg="reloaded"' "$SK_LOG"
req POST /webhook/backup/fetch "$(json clientId sd-1)"
assert_fetched "$share" "serving after the reload, on the same socket"

# KillSignal=SIGTERM: clean exit, and systemd's socket stays for the next start
nginx_stop
if sk_stop; then ok "SIGTERM: sharekeep exits 0 and leaves no worker"; else not_ok "SIGTERM: clean stop"; fi
check "the inherited socket file is left to systemd" test -S "$SK_SOCK"

# ---- 4. the sandbox, against what sharekeep really did ------------------------
if [ -n "$STRACE" ]; then
    for i in $(seq 1 50); do [ -s "$T/strace.out" ] && break; sleep 0.1; done
    # everything after sharekeep's own execve (before it: setpriv)
    awk -v bin="$T/bin/sharekeep" '
        seen { print; next }
        index($0, "execve(\"" bin "\"") && / = 0$/ { seen = 1 }' "$T/strace.out" >"$T/strace.sk"
    check "strace saw sharekeep serve (and its workers)" test -s "$T/strace.sk"
    sed -nE 's/^[0-9]+ +([a-z_0-9]+)\(.*/\1/p' "$T/strace.sk" | sort -u >"$T/syscalls.used"
    log "sharekeep used $(wc -l <"$T/syscalls.used") distinct system calls"

    # SystemCallFilter=: the allow list, minus the deny list (~...), each
    # group expanded as systemd-analyze syscall-filter lists it.
    "$SD_ANALYZE" syscall-filter --no-pager >"$T/groups.txt" 2>/dev/null
    allow=$(unit_get "$SVC" SystemCallFilter | grep -v '^~' | tr '\n' ' ')
    deny=$(unit_get "$SVC" SystemCallFilter | sed -n 's/^~//p' | tr '\n' ' ')
    expand() { # expand "@grp name ...": the system calls, one a line
        awk -v want="$1" '
            /^@/ { g = $1; next }
            /^    [@a-z0-9_]/ { m[g] = m[g] " " $1 }
            function add(x,   n, a, i) {
                if (x in done) return
                done[x] = 1
                if (substr(x, 1, 1) != "@") { print x; return }
                n = split(m[x], a, " ")
                for (i = 1; i <= n; i++) add(a[i])
            }
            END { n = split(want, w, " "); for (i = 1; i <= n; i++) add(w[i]) }' "$T/groups.txt" | sort -u
    }
    expand "$allow" >"$T/syscalls.allow"
    expand "$deny" >"$T/syscalls.deny"
    comm -23 "$T/syscalls.allow" "$T/syscalls.deny" >"$T/syscalls.ok"
    check "the filter allows a sensible set ($(wc -l <"$T/syscalls.ok") calls)" test "$(wc -l <"$T/syscalls.ok")" -gt 100
    blocked=$(comm -23 "$T/syscalls.used" "$T/syscalls.ok" | tr '\n' ' ')
    if [ -z "$blocked" ]; then
        ok "SystemCallFilter=$allow ~$deny allows every call sharekeep made"
    else
        not_ok "SystemCallFilter would block: $blocked"
        for s in $blocked; do grep -m2 -E "^[0-9]+ +$s\(" "$T/strace.sk" | sed 's/^/#   /'; done
    fi

    families=$(sed -nE 's/^[0-9]+ +socket\((AF_[A-Z0-9]+).*/\1/p' "$T/strace.sk" | sort -u | tr '\n' ' ')
    allowed_fam=" $(unit_get "$SVC" RestrictAddressFamilies) "
    bad=""
    for f in $families; do
        case $allowed_fam in *" $f "*) ;; *) bad="$bad $f" ;; esac
    done
    assert_empty "RestrictAddressFamilies covers the sockets sharekeep made (${families:-none})" "$bad"

    wx=$(grep -E '^[0-9]+ +(mmap|mprotect|pkey_mprotect)\(' "$T/strace.sk" |
        grep -E 'PROT_WRITE\|PROT_EXEC|PROT_EXEC\|PROT_WRITE|^[0-9]+ +(pkey_)?mprotect\([^)]*PROT_EXEC' | head -n 3)
    assert_empty "MemoryDenyWriteExecute: no writable+executable or re-protected executable memory" "$wx"

    writes=$(grep -E '^[0-9]+ +(open|openat|creat)\(' "$T/strace.sk" |
        grep -E 'O_WRONLY|O_RDWR|O_CREAT|creat\(' | grep -v ' = -1 ' |
        grep -vE '"/dev/(null|u?random|tty)"' | head -n 3)
    assert_empty "ProtectSystem=strict: sharekeep opened no file for writing" "$writes"
fi
