#!/bin/bash
# The command line and the ways sharekeep can be run: --version, keygen,
# migrate (idempotent), SHAREKEEP_* overrides, keyring permission checks,
# SIGHUP, one-shot CGI, and an inherited FastCGI socket (spawn-fcgi).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"

sk_init

# -- --version ------------------------------------------------------------
version=$(sed -n 's/^AC_INIT(\[sharekeep\], *\[\([^]]*\)\].*/\1/p' "$SHAREKEEP_SRCDIR/configure.ac")
out=$(sk_run -- --version 2>&1)
assert_eq 0 "$?" "--version exits 0"
check "--version prints the version ($version)" grep -qF -- "$version" <<<"$out"

# -- keygen -----------------------------------------------------------------
sk_run -- keygen "$T/sk/k1" >/dev/null 2>&1
assert_eq 0 "$?" "keygen FILE exits 0"
assert_eq 600 "$(stat -c %a "$T/sk/k1" 2>&1)" "the keyring is created with mode 0600"
assert_eq "$(id -u)" "$(stat -c %u "$T/sk/k1" 2>&1)" "the keyring is owned by the user who ran keygen"
sum1=$(sha256sum <"$T/sk/k1")
assert_refused "keygen refuses to overwrite an existing keyring" 1 'already exists; refusing to overwrite' \
    -- keygen "$T/sk/k1"
assert_eq "$sum1" "$(sha256sum <"$T/sk/k1")" "and leaves it unchanged"
sk_run -- keygen "$T/sk/k2" >/dev/null 2>&1
assert_eq 0 "$?" "keygen of a second keyring exits 0"
check "two keygens make different keys" test -s "$T/sk/k2" -a "$(sha256sum <"$T/sk/k2")" != "$sum1"

# -- migrate ------------------------------------------------------------------
pg_start
cp "$T/sk/k1" "$T/sk/keyring"
sk_write_config
sk_migrate_raw
assert_eq 0 "$?" "migrate on an empty database"
assert_eq 1 "$(pg_psql "SELECT count(*) FROM information_schema.tables WHERE table_name = 'share_record'")" \
    "migrate created share_record"
sk_start
nginx_start
s1='{"share":"'$(rand_token 48)'"}'
req POST /webhook/backup "$(json clientId cli-1 share "$s1")"
assert_status 200 "store after migrate"

# config path from SHAREKEEP_CONFIG instead of -c
sk_run SHAREKEEP_CONFIG="$SK_CONF" SHAREKEEP_DATABASE="$(pg_conninfo sharekeep_owner)" -- migrate >>"$SK_LOG" 2>&1
assert_eq 0 "$?" "migrate again (config from SHAREKEEP_CONFIG) is a no-op that succeeds"
assert_eq 1 "$(rows)" "a second migrate keeps the data"
req POST /webhook/backup/fetch "$(json clientId cli-1)"
assert_fetched "$s1" "fetch after the second migrate"

# -- SIGHUP keeps serving ------------------------------------------------------
kill -HUP "$SK_PID"
sleep 0.5
check "sharekeep survives SIGHUP" alive "$SK_PID"
req POST /webhook/backup/fetch "$(json clientId cli-1)"
assert_status 200 "serving after SIGHUP"
assert_fetched "$s1" "same data after SIGHUP"

# -- SHAREKEEP_<KEY> overrides the config file -------------------------------
sk_stop
nginx_stop
SK_PORT=$(free_port)
sk_start SHAREKEEP_LISTEN="127.0.0.1:$SK_PORT"
check "SHAREKEEP_LISTEN moved the listener to port $SK_PORT" port_listening "$SK_PORT"
nginx_start
req POST /webhook/backup/fetch "$(json clientId cli-1)"
assert_status 200 "serving on the overridden port"
sk_stop
nginx_stop

# -- keyring permissions are enforced ------------------------------------------
# refuses DESC ERE NAME=value...: serve exits 1 within 10 s, saying why
refuses() {
    local desc=$1 re=$2
    shift 2
    assert_refused "$desc" 1 "$re" "$@" SHAREKEEP_LISTEN="127.0.0.1:$(free_port)" -- -c "$SK_CONF" serve
}
cp "$T/sk/k1" "$T/sk/k644" && chmod 0644 "$T/sk/k644"
refuses "serve refuses a keyring readable by others" "keyring .*/k644: mode 0644 is too open" \
    SHAREKEEP_KEYRING="$T/sk/k644"
if is_root; then
    cp "$T/sk/k1" "$T/sk/knobody" && chmod 0600 "$T/sk/knobody" && chown nobody "$T/sk/knobody"
    refuses "serve refuses a keyring owned by another user" "keyring .*/knobody: owned by user nobody \(uid [0-9]+\), not by root \(uid 0\) that runs sharekeep: run it as nobody" \
        SHAREKEEP_KEYRING="$T/sk/knobody"
fi
refuses "serve refuses a missing keyring" "keyring .*/nonexistent: cannot open" SHAREKEEP_KEYRING="$T/sk/nonexistent"

# -- the wrong user: told which user to run as, never to chown ----------------
# The keyring belongs to "daemon", standing in for the service's user
# (sharekeep on an installed system). Root and nobody (an unrelated user)
# are told to run the command as daemon; chowning the file to them, as the
# old hint said, would lock the service out. 1 after printing it.
wrong_user() { # wrong_user AS DESC ERE ARGS...: as user AS (root: us), exit 1, stderr /ERE/, no chown
    local as=$1 desc=$2 re=$3 st
    shift 3
    _sk_envargs SHAREKEEP_KEYRING="$T/sk/kdaemon"
    if [ "$as" = root ]; then
        timeout 10 env "${SK_ENVARGS[@]}" "$SHAREKEEP_BIN" -c "$SK_CONF" "$@" </dev/null >/dev/null 2>"$T/wrong.err"
    else
        timeout 10 runuser -u "$as" -- env "${SK_ENVARGS[@]}" "$SHAREKEEP_BIN" -c "$SK_CONF" "$@" \
            </dev/null >/dev/null 2>"$T/wrong.err"
    fi
    st=$?
    cat "$T/wrong.err" >>"$SK_LOG"
    if [ "$st" -eq 1 ] && grep -Eq -- "$re" "$T/wrong.err" && ! grep -q chown "$T/wrong.err"; then
        ok "$desc"
    else
        not_ok "$desc: expected exit 1, stderr matching /$re/ and no chown; got exit $st"
        echo "#   stderr: $(head -c 400 "$T/wrong.err")"
    fi
}
if is_root && id daemon >/dev/null 2>&1; then
    cp "$T/sk/k1" "$T/sk/kdaemon" && chmod 0600 "$T/sk/kdaemon" && chown daemon "$T/sk/kdaemon"
    rm -f "$T/sk/kdaemon.lock"
    uid=$(id -u daemon)
    for cmd in rotate "retire 1" status rewrap verify import; do
        # shellcheck disable=SC2086 # the command's words
        wrong_user root "$cmd as root on daemon's keyring: run it as daemon, with the command typed" \
            "keyring .*/kdaemon: owned by user daemon \\(uid $uid\\), not by root \\(uid 0\\) that runs this command: run it as daemon, e.g. runuser -u daemon -- $SHAREKEEP_BIN -c $SK_CONF $cmd\$" \
            $cmd
    done
    wrong_user root "check as root: the service's files belong to daemon, run it as daemon" \
        "owned by user daemon \\(uid $uid\\), not by root \\(uid 0\\) that runs sharekeep: run it as daemon, e.g. runuser -u daemon -- .* check\$" \
        check
    check "rotate as root leaves no root-owned lock file beside daemon's keyring" \
        test ! -e "$T/sk/kdaemon.lock"
    if runuser -u nobody -- test -x "$SHAREKEEP_BIN" -a -r "$SK_CONF"; then
        for cmd in rotate "retire 1" status; do
            # shellcheck disable=SC2086
            wrong_user nobody "$cmd as nobody: may not open daemon's keyring, told to run it as daemon" \
                "kdaemon: cannot open: Permission denied; owned by user daemon \\(uid $uid\\), not by user nobody \\([^)]*\\) that runs this command: run it as daemon, e.g. runuser -u daemon -- .* $cmd\$" \
                $cmd
        done
    else
        log "nobody cannot run $SHAREKEEP_BIN or read $SK_CONF: the checks as nobody are skipped"
    fi
    # A root-owned lock file (left by a rotate as root before this check):
    # the key file's owner is told to have it chowned to the service's user.
    if runuser -u daemon -- test -x "$SHAREKEEP_BIN" -a -r "$SK_CONF"; then
        : >"$T/sk/kdaemon.lock" && chmod 0600 "$T/sk/kdaemon.lock"
        _sk_envargs SHAREKEEP_KEYRING="$T/sk/kdaemon"
        out=$(runuser -u daemon -- env "${SK_ENVARGS[@]}" "$SHAREKEEP_BIN" -c "$SK_CONF" rotate 2>&1 >/dev/null)
        check "rotate as daemon with root's lock file: it is root's, chown it to daemon" \
            grep -q "lock file .*kdaemon.lock: Permission denied; owned by root (uid 0), not by user daemon (uid $uid) that runs this command: .*chown daemon .*kdaemon.lock" <<<"$out"
        rm -f "$T/sk/kdaemon.lock"
    fi
    out=$(sk_run -- keygen "$T/sk/kroot" 2>&1 >/dev/null)
    check "keygen as root says the new files are root's and to whom to give them" \
        grep -q "kroot and .*kroot.lock belong to root, .* chown " <<<"$out"
    rm -f "$T/sk/kroot" "$T/sk/kroot.lock"
fi

# -- one-shot CGI -------------------------------------------------------------
cgi() { # cgi METHOD URI [BODYFILE]: run one CGI request, split the response
    local method=$1 uri=$2 file=${3:-/dev/null} len=0
    [ -n "${3:-}" ] && len=$(stat -c %s "$3")
    _sk_envargs
    # authentication headers become HTTP_* variables, as a web server passes them
    _auth_args "$uri" "${3:-}"
    local -a hdrs=()
    local h name
    for h in "${_AUTH_ARGS[@]}"; do
        [ "$h" = -H ] && continue
        name=${h%%:*}
        name=${name^^}
        hdrs+=("HTTP_${name//-/_}=${h#*: }")
    done
    env "${SK_ENVARGS[@]}" "${hdrs[@]}" SHAREKEEP_CONFIG="$SK_CONF" GATEWAY_INTERFACE=CGI/1.1 \
        REQUEST_METHOD="$method" REQUEST_URI="$uri" SCRIPT_NAME="$uri" QUERY_STRING= \
        SERVER_PROTOCOL=HTTP/1.1 CONTENT_TYPE=application/json CONTENT_LENGTH="$len" \
        timeout 10 "$SHAREKEEP_BIN" serve <"$file" >"$T/cgi.out" 2>>"$SK_LOG"
    CGI_RC=$?
    tr -d '\r' <"$T/cgi.out" | sed '/^$/q' >"$RESP_HEADERS"
    tr -d '\r' <"$T/cgi.out" | sed '1,/^$/d' >"$RESP_BODY"
    STATUS=$(sed -n 's/^Status: *\([0-9][0-9][0-9]\).*/\1/Ip' "$RESP_HEADERS")
    STATUS=${STATUS:-200}
}
cgi GET /healthz
assert_eq 0 "$CGI_RC" "CGI request exits 0"
assert_status 200 "CGI healthz"
assert_json .status ok "CGI healthz body"
s2='{"share":"'$(rand_token 48)'"}'
json clientId cli-cgi share "$s2" >"$T/cgi.in"
cgi POST /webhook/backup "$T/cgi.in"
assert_status 200 "CGI store"
json clientId cli-cgi >"$T/cgi.in"
cgi POST /webhook/backup/fetch "$T/cgi.in"
assert_status 200 "CGI fetch"
assert_fetched "$s2" "CGI fetch returns the share"
cgi GET /nope
assert_status 404 "CGI unknown path"

# -- inherited FastCGI socket on fd 0 (spawn-fcgi) ---------------------------
if have spawn-fcgi; then
    SK_PORT=$(free_port)
    _sk_envargs
    # the config still says another port: fd 0 must win
    env "${SK_ENVARGS[@]}" spawn-fcgi -n -a 127.0.0.1 -p "$SK_PORT" -- \
        "$SHAREKEEP_BIN" -c "$SK_CONF" serve >>"$SK_LOG" 2>&1 &
    SK_PID=$!
    _sk_wait_ready || not_ok "sharekeep under spawn-fcgi did not come up"
    nginx_start
    req POST /webhook/backup/fetch "$(json clientId cli-cgi)"
    assert_status 200 "fetch through a spawn-fcgi socket"
    assert_fetched "$s2" "spawn-fcgi: the share"
    if sk_stop; then ok "spawn-fcgi: SIGTERM stops it cleanly"; else not_ok "spawn-fcgi: SIGTERM stops it cleanly"; fi
else
    log "spawn-fcgi not installed: inherited-socket check skipped"
fi
