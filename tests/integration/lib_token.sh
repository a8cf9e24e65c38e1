# shellcheck shell=bash
# tests/integration/lib_token.sh: a throw-away SoftHSM2 token for the tests
# of the PKCS#11 KEK backend, used directly (libsofthsm2.so) or through a
# p11-kit server (p11-kit-client.so), on top of tests/integration/lib.sh.
#
#   . "$SHAREKEEP_SRCDIR/tests/integration/lib.sh"
#   . "$SHAREKEEP_SRCDIR/tests/integration/lib_token.sh"
#   sk_init
#   token_init                 # token "sharekeep" in $T/token, SOFTHSM2_CONF exported
#   token_give nobody          # optional: the token files belong to nobody
#   token_server_start         # optional: p11-kit server, P11_KIT_SERVER_ADDRESS exported
#   ... "$TOKEN_MODULE_CLIENT" / "$TOKEN_URI" / "$TOKEN_PIN_FILE" ...
#   token_server_restart       # same socket path, so clients can reconnect
#
# After token_init:
#   TOKEN_LABEL          the token label (default sharekeep)
#   TOKEN_URI            pkcs11:token=LABEL
#   TOKEN_PIN_FILE       $T/token.pin, the user PIN and nothing else (no
#                        newline), mode 0600
#   TOKEN_PIN            the user PIN itself (random, 16 characters)
#   TOKEN_SO_PIN         the SO PIN (random)
#   TOKEN_MODULE_DIRECT  the SoftHSM2 module (needs SOFTHSM2_CONF)
#   TOKEN_MODULE_CLIENT  p11-kit-client.so (needs P11_KIT_SERVER_ADDRESS;
#                        "" when not installed)
#   SOFTHSM2_CONF        $T/token/softhsm2.conf, exported
# After token_server_start:
#   TOKEN_SERVER_SOCK    $T/token/p11-kit.sock
#   TOKEN_SERVER_PID     the server (the listener; each client connection
#                        is served by a p11-kit-remote child of it)
#   P11_KIT_SERVER_ADDRESS  unix:path=$TOKEN_SERVER_SOCK, exported
#
# Users.  The token files are 0600/0700, owned by whoever created them:
# SoftHSM2 used directly only works for that uid (another user sees just
# the empty "free" slot, no error).  token_give USER hands the files (and
# the PIN file) to USER, for a test whose sharekeep workers run as USER and
# load libsofthsm2.so themselves; after that, only USER (or root) may use
# the module directly -- objects created by root later would be root-owned
# 0600 files USER cannot read.  Through the server, only the server touches
# the token files; p11-kit creates its socket 0711 (connect(2) needs write
# permission, so nobody but its owner could connect) and its -u/-g options
# would admit exactly one uid (not even root besides it), so
# token_server_start chmods the socket to TOKEN_SOCKET_MODE (default 0666:
# any local user may connect and still needs the PIN; this is a test
# token in a private dir).  $T is 0755 (lib.sh), $T/token 0755.
#
# Behaviour worth knowing (p11-kit 0.24.1, SoftHSM 2.6.1):
#   - p11-kit's RPC drops mechanisms it cannot marshal: CKM_AES_KEY_WRAP,
#     CKM_AES_KEY_WRAP_PAD, CKM_AES_GCM, CKM_AES_CBC* are not listed through
#     the server and return CKR_MECHANISM_INVALID; CKM_AES_ECB works.
#   - a client whose server side died gets SIGPIPE on its next call
#     (ignore it), then CKR_DEVICE_ERROR, then CKR_SESSION_HANDLE_INVALID;
#     C_Finalize + C_Initialize after token_server_restart recovers.  A
#     stopped (SIGSTOP) server side makes calls block: no RPC timeout.
#   - killing only the listener leaves the p11-kit-remote children, so
#     connected clients keep working; token_server_stop kills both
#     (token_server_stop listener: only the listener).

[ -n "${BASH_VERSION:-}" ] || { echo "lib_token.sh needs bash" >&2; exit 99; }
declare -F sk_init >/dev/null || {
    echo "lib_token.sh: source tests/integration/lib.sh first" >&2
    exit 99
}

TOKEN_LABEL=""
TOKEN_URI=""
TOKEN_DIR=""
TOKEN_PIN_FILE=""
TOKEN_PIN=""
TOKEN_SO_PIN=""
TOKEN_SERVER_SOCK=""
TOKEN_SERVER_PID=""
TOKEN_SERVER_LOG=""
TOKEN_SOCKET_MODE=${TOKEN_SOCKET_MODE:-0666}

# _token_find VAR CANDIDATE...: the first existing file, unless VAR is set.
_token_find() {
    local var=$1 f
    shift
    [ -n "${!var:-}" ] && return 0
    for f in "$@"; do
        if [ -f "$f" ]; then
            printf -v "$var" '%s' "$f"
            return 0
        fi
    done
    printf -v "$var" '%s' ""
}

_p11_moddir=$(pkg-config --variable=p11_module_path p11-kit-1 2>/dev/null || true)
_token_find TOKEN_MODULE_DIRECT \
    /usr/lib/softhsm/libsofthsm2.so \
    /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
    /usr/lib/"$(uname -m)"-linux-gnu/softhsm/libsofthsm2.so \
    /usr/lib64/pkcs11/libsofthsm2.so /usr/lib/pkcs11/libsofthsm2.so \
    /usr/local/lib/softhsm/libsofthsm2.so
_token_find TOKEN_MODULE_CLIENT \
    ${_p11_moddir:+"$_p11_moddir/p11-kit-client.so"} \
    /usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so \
    /usr/lib/"$(uname -m)"-linux-gnu/pkcs11/p11-kit-client.so \
    /usr/lib64/pkcs11/p11-kit-client.so /usr/lib/pkcs11/p11-kit-client.so
unset _p11_moddir

# token_init [LABEL]: a fresh token LABEL (default sharekeep) in
# $T/token/tokens, with random user and SO PINs; skips (77) when SoftHSM2
# is not installed.
token_init() {
    if [ -z "$T" ] || [ ! -d "$T" ]; then die "token_init: call sk_init first (no \$T)"; fi
    have softhsm2-util || skip "softhsm2-util not found (install softhsm2)"
    [ -n "$TOKEN_MODULE_DIRECT" ] || skip "libsofthsm2.so not found (install softhsm2)"
    TOKEN_LABEL=${1:-sharekeep}
    [ ${#TOKEN_LABEL} -le 32 ] || die "token_init: label longer than 32 bytes"
    TOKEN_URI="pkcs11:token=$TOKEN_LABEL"
    TOKEN_DIR=$T/token
    TOKEN_PIN_FILE=$T/token.pin
    TOKEN_SERVER_LOG=$TOKEN_DIR/server.log
    rm -rf "$TOKEN_DIR"
    mkdir -p "$TOKEN_DIR/tokens" || die "mkdir $TOKEN_DIR failed"
    chmod 0755 "$TOKEN_DIR"
    chmod 0700 "$TOKEN_DIR/tokens"
    {
        echo "# written by $SK_TEST_NAME (lib_token.sh)"
        echo "directories.tokendir = $TOKEN_DIR/tokens"
        echo "objectstore.backend = file"
        echo "log.level = ERROR"
        echo "slots.removable = false"
    } >"$TOKEN_DIR/softhsm2.conf" || die "writing softhsm2.conf failed"
    chmod 0644 "$TOKEN_DIR/softhsm2.conf"
    SOFTHSM2_CONF=$TOKEN_DIR/softhsm2.conf
    export SOFTHSM2_CONF
    TOKEN_PIN=$(rand_token 16)
    TOKEN_SO_PIN=$(rand_token 16)
    (umask 077 && printf '%s' "$TOKEN_PIN" >"$TOKEN_PIN_FILE") || die "writing $TOKEN_PIN_FILE failed"
    softhsm2-util --init-token --free --label "$TOKEN_LABEL" \
        --pin "$TOKEN_PIN" --so-pin "$TOKEN_SO_PIN" >"$TOKEN_DIR/init.log" 2>&1 || {
        cat "$TOKEN_DIR/init.log" >&2
        die "softhsm2-util --init-token failed"
    }
    log "token $TOKEN_LABEL in $TOKEN_DIR/tokens (SOFTHSM2_CONF=$SOFTHSM2_CONF)"
}

# token_give USER: the token files and the PIN file now belong to USER
# (root only; a no-op when USER is us), so that a process running as USER
# can load TOKEN_MODULE_DIRECT.  Call before anything else writes objects,
# or again after root wrote some.
token_give() {
    local user=$1
    [ -n "$TOKEN_DIR" ] || die "token_give: token_init first"
    [ "$(id -un)" = "$user" ] && return 0
    is_root || die "token_give $user: only root can hand files to another user"
    id "$user" >/dev/null 2>&1 || die "token_give: no user $user"
    chown -R "$user:" "$TOKEN_DIR/tokens" "$TOKEN_PIN_FILE" || die "chown to $user failed"
}

# token_server_start: a p11-kit server for TOKEN_URI on TOKEN_SERVER_SOCK,
# in the background; exports P11_KIT_SERVER_ADDRESS.  Skips (77) without
# p11-kit or p11-kit-client.so.  The server (and what it spawned) is
# stopped at exit.
token_server_start() {
    [ -n "$TOKEN_DIR" ] || die "token_server_start: token_init first"
    [ -z "$TOKEN_SERVER_PID" ] || die "token_server_start: a server is running (pid $TOKEN_SERVER_PID)"
    have p11-kit || skip "p11-kit not found (install p11-kit)"
    [ -n "$TOKEN_MODULE_CLIENT" ] || skip "p11-kit-client.so not found (install p11-kit-modules)"
    TOKEN_SERVER_SOCK=$TOKEN_DIR/p11-kit.sock
    [ ${#TOKEN_SERVER_SOCK} -lt 100 ] || die "socket path too long: $TOKEN_SERVER_SOCK"
    rm -f "$TOKEN_SERVER_SOCK"
    echo "---- p11-kit server start $(date +%T)" >>"$TOKEN_SERVER_LOG"
    # -f: the pid we get is the listener's (without it, p11-kit forks and
    # the parent exits); it prints P11_KIT_SERVER_ADDRESS/PID once the
    # socket listens.
    p11-kit server -f -n "$TOKEN_SERVER_SOCK" --provider "$TOKEN_MODULE_DIRECT" "$TOKEN_URI" \
        </dev/null >"$TOKEN_DIR/server.env" 2>>"$TOKEN_SERVER_LOG" &
    TOKEN_SERVER_PID=$!
    if ! wait_for "$TOKEN_SERVER_PID" 100 grep -q '^P11_KIT_SERVER_PID=' "$TOKEN_DIR/server.env"; then
        _dump "$TOKEN_SERVER_LOG" 20
        stop_child TOKEN_SERVER_PID TERM 20
        die "p11-kit server did not start"
    fi
    chmod "$TOKEN_SOCKET_MODE" "$TOKEN_SERVER_SOCK" || die "chmod $TOKEN_SERVER_SOCK failed"
    P11_KIT_SERVER_ADDRESS=unix:path=$TOKEN_SERVER_SOCK
    export P11_KIT_SERVER_ADDRESS
    log "p11-kit server pid $TOKEN_SERVER_PID on $TOKEN_SERVER_SOCK"
}

# token_server_stop [all|listener]: stop the server and the p11-kit-remote
# children serving connected clients (their next call fails), or with
# "listener" only the listener (connected clients keep working, new ones
# cannot connect).  Leaves P11_KIT_SERVER_ADDRESS set.
token_server_stop() {
    [ -n "$TOKEN_SERVER_PID" ] || return 0
    local kids="" k
    # Read before the listener goes: its children are reparented then.
    [ "${1:-}" = listener ] || kids=$(children_of "$TOKEN_SERVER_PID")
    stop_child TOKEN_SERVER_PID TERM 30
    for k in $kids; do
        stop_grace "$k" TERM 30 || true
    done
    rm -f "$TOKEN_SERVER_SOCK"
    echo "---- p11-kit server stopped $(date +%T)" >>"$TOKEN_SERVER_LOG"
}

# token_server_restart: stop (listener and children), start again on the
# same socket path.
token_server_restart() {
    token_server_stop all
    token_server_start
}

# token_server_children: the pids of the p11-kit-remote processes, one per
# connected client, one a line.
token_server_children() {
    [ -n "$TOKEN_SERVER_PID" ] || return 0
    children_of "$TOKEN_SERVER_PID"
}

# ---- cleanup -------------------------------------------------------------------
# lib.sh's _cleanup (run by its EXIT trap, or lib_faults.sh's) is wrapped
# once: the server goes first (while $T exists), its log is shown when the
# test failed.
if ! declare -F _token_orig_cleanup >/dev/null; then
    eval "_token_orig_cleanup() $(declare -f _cleanup | tail -n +2)"
    _cleanup() {
        local rc=$1
        trap - EXIT INT TERM HUP
        if { [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; } || [ "${FAILED:-0}" -gt 0 ]; then
            [ -n "$TOKEN_SERVER_LOG" ] && _dump "$TOKEN_SERVER_LOG" 40
        fi
        token_server_stop all >/dev/null 2>&1
        _token_orig_cleanup "$rc"
    }
fi
