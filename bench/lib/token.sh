# shellcheck shell=bash
# bench/lib/token.sh: a throw-away SoftHSM2 token for the benchmarks of the
# PKCS#11 KEK backend, used directly (libsofthsm2.so, in the process that
# wraps) or through a `p11-kit server` (p11-kit-client.so: the key lives in
# another process, as with a network HSM).  The bench counterpart of
# tests/integration/lib_token.sh, without the test harness: it needs only
# scripts/lib/common.sh (wait_for, stop_child, children_of, stop_grace,
# rand_token) and say/die from the caller (bench/lib/stack.sh has them).
#
#   bt_init DIR          token "skbench" in DIR/tokens, PINs random; exports
#                        SOFTHSM2_CONF; sets BT_URI, BT_PIN_FILE,
#                        BT_MODULE_DIRECT, BT_MODULE_CLIENT
#   bt_server_start      p11-kit server on DIR/p11-kit.sock; exports
#                        P11_KIT_SERVER_ADDRESS; BT_SERVER_PID is the listener
#   bt_server_pids       the listener and its p11-kit-remote children (one per
#                        connected client process), for CPU accounting
#   bt_server_stop       stops the listener and its children (call it from
#                        the caller's EXIT trap: nothing else stops them)
#
# Everything runs as the caller (root in the benchmarks): SoftHSM2 used
# directly only shows the token to the uid that owns its files, and
# sharekeep's workers run as the caller too.

BT_DIR="" BT_URI="" BT_PIN_FILE="" BT_SERVER_PID="" BT_SERVER_SOCK=""
BT_LABEL=skbench

_bt_find() {
    local f
    for f in "$@"; do
        if [ -f "$f" ]; then
            printf '%s' "$f"
            return 0
        fi
    done
}
BT_MODULE_DIRECT=${BT_MODULE_DIRECT:-$(_bt_find /usr/lib/softhsm/libsofthsm2.so \
    /usr/lib/"$(uname -m)"-linux-gnu/softhsm/libsofthsm2.so /usr/lib64/pkcs11/libsofthsm2.so)}
BT_MODULE_CLIENT=${BT_MODULE_CLIENT:-$(_bt_find \
    "$(pkg-config --variable=p11_module_path p11-kit-1 2>/dev/null || echo /nonexistent)/p11-kit-client.so" \
    /usr/lib/"$(uname -m)"-linux-gnu/pkcs11/p11-kit-client.so /usr/lib64/pkcs11/p11-kit-client.so)}

# bt_deps: the Debian packages the token benchmarks need but lack (softhsm2,
# p11-kit, p11-kit-modules), one a line.
bt_deps() {
    have softhsm2-util && [ -n "$BT_MODULE_DIRECT" ] || echo softhsm2
    have p11-kit || echo p11-kit
    [ -n "$BT_MODULE_CLIENT" ] || echo p11-kit-modules
}

bt_init() {
    BT_DIR=$1
    [ -n "$BT_MODULE_DIRECT" ] || die "libsofthsm2.so not found (apt-get install softhsm2)"
    BT_URI="pkcs11:token=$BT_LABEL"
    BT_PIN_FILE=$BT_DIR/token.pin
    mkdir -p "$BT_DIR/tokens" || die "mkdir $BT_DIR/tokens failed"
    chmod 0700 "$BT_DIR/tokens"
    printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
        "$BT_DIR" >"$BT_DIR/softhsm2.conf"
    SOFTHSM2_CONF=$BT_DIR/softhsm2.conf
    export SOFTHSM2_CONF
    local pin
    pin=$(rand_token 16)
    (umask 077 && printf '%s' "$pin" >"$BT_PIN_FILE") || die "writing $BT_PIN_FILE failed"
    softhsm2-util --init-token --free --label "$BT_LABEL" --pin "$pin" \
        --so-pin "$(rand_token 16)" >"$BT_DIR/init.log" 2>&1 || {
        cat "$BT_DIR/init.log" >&2
        die "softhsm2-util --init-token failed"
    }
}

_bt_server_up() { grep -q '^P11_KIT_SERVER_PID=' "$BT_DIR/server.env" 2>/dev/null; }

bt_server_start() {
    [ -n "$BT_DIR" ] || die "bt_server_start: bt_init first"
    [ -n "$BT_MODULE_CLIENT" ] || die "p11-kit-client.so not found (apt-get install p11-kit-modules)"
    BT_SERVER_SOCK=$BT_DIR/p11-kit.sock
    [ ${#BT_SERVER_SOCK} -lt 100 ] || die "socket path too long: $BT_SERVER_SOCK"
    rm -f "$BT_SERVER_SOCK" "$BT_DIR/server.env"
    # -f: stay in the foreground, so $! is the listener; it prints
    # P11_KIT_SERVER_ADDRESS/PID once the socket listens.
    p11-kit server -f -n "$BT_SERVER_SOCK" --provider "$BT_MODULE_DIRECT" "$BT_URI" \
        </dev/null >"$BT_DIR/server.env" 2>>"$BT_DIR/server.log" &
    BT_SERVER_PID=$!
    if ! wait_for "$BT_SERVER_PID" 100 _bt_server_up; then
        tail -n 20 "$BT_DIR/server.log" >&2
        stop_child BT_SERVER_PID TERM 20
        die "p11-kit server did not start"
    fi
    P11_KIT_SERVER_ADDRESS=unix:path=$BT_SERVER_SOCK
    export P11_KIT_SERVER_ADDRESS
}

bt_server_pids() {
    [ -n "$BT_SERVER_PID" ] || return 0
    echo "$BT_SERVER_PID"
    children_of "$BT_SERVER_PID"
}

bt_server_stop() {
    [ -n "$BT_SERVER_PID" ] || return 0
    local kids k
    # read before the listener goes: its children are reparented then
    kids=$(children_of "$BT_SERVER_PID")
    stop_child BT_SERVER_PID TERM 30
    for k in $kids; do stop_grace "$k" TERM 30 || true; done
    rm -f "$BT_SERVER_SOCK"
}
