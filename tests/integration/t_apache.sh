#!/bin/bash
# sharekeep behind a real Apache httpd, with the shipped recipes:
#
#  1. conf/apache/sharekeep-cgi.conf, prefork + mod_cgi: sharekeep runs as
#     a plain CGI program, one process per request, as Apache's User
#     (www-data; an unprivileged user that owns the keyring and secret
#     files, mode 0600).  The whole contract: signed webhook store, exact
#     fetch, idempotent retry, replay 409, new version, 404, client share
#     with a Bearer JWT (needs CGIPassAuth), 401/403/405/413 (sharekeep's
#     and Apache's own)/415/422/400, sealed rows, nothing secret in logs.
#  2. the same file under event + mod_cgid.
#  3. client_auth = trusted-header through CGI: a client's own
#     X-Sharekeep-Client never arrives (RequestHeader unset ... early).
#  4. conf/apache/sharekeep-fcgid.conf: mod_fcgid starts and stops
#     sharekeep FastCGI processes itself (as Apache's user).
#  5. conf/apache/sharekeep-proxy-fcgi.conf: mod_proxy_fcgi in front of
#     `sharekeep serve` started by spawn-fcgi as nobody on a unix socket
#     (socket owned by Apache's group, 0660): spawn-fcgi as an
#     unprivileged user.
#
# Skips (77) when apache2 is not installed (Debian package apache2); parts
# 2, 4 and 5 are skipped when mod_cgid, mod_fcgid (libapache2-mod-fcgid) or
# spawn-fcgi are missing.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"

APACHE_BIN=${APACHE_BIN:-$(command -v apache2 || echo /usr/sbin/apache2)}
APACHE_MODDIR=${APACHE_MODDIR:-/usr/lib/apache2/modules}

sk_init
[ -x "$APACHE_BIN" ] || skip "apache2 not found (install the Debian package apache2)"
for m in mpm_prefork cgi alias env mime headers authz_core; do
    [ -f "$APACHE_MODDIR/mod_$m.so" ] || skip "Apache module mod_$m.so not in $APACHE_MODDIR"
done

# Apache refuses to serve as root: as root its children (and so the CGI
# program) run as www-data, or nobody; otherwise as us.
if is_root; then
    if id www-data >/dev/null 2>&1; then AP_USER=www-data; else AP_USER=nobody; fi
else
    AP_USER=$(id -un)
fi
AP_GROUP=$(id -gn "$AP_USER")

AP_DIR=$T/apache
AP_PID=""
AP_PORT=""
AP_VHOST_EXTRA=""     # extra text for the test's <VirtualHost>
AP_SERVER_EXTRA=""    # extra server-wide text
mkdir -p "$AP_DIR/logs" "$AP_DIR/run" "$AP_DIR/htdocs"
AP_LOG=$AP_DIR/logs/error.log
AP_BUILTIN=" $("$APACHE_BIN" -l 2>/dev/null | tr -s ' \t\n' '   ') "

# ---- Apache ------------------------------------------------------------------
# ap_start SNIPPET MODULE...: Apache on a free loopback port, the given
# modules loaded (mpm_prefork, cgi, proxy_fcgi, ...), SNIPPET included in
# the <VirtualHost> as a site would.  Requests go there through req().
ap_start() {
    local snippet=$1 m try i
    shift
    [ -z "$AP_PID" ] || die "ap_start: Apache already running"
    for try in 1 2 3; do
        AP_PORT=$(free_port) || die "no free port"
        {
            cat <<EOF
# written by $SK_TEST_NAME
ServerRoot "$AP_DIR"
ServerName localhost
Listen 127.0.0.1:$AP_PORT
PidFile "$AP_DIR/run/httpd.pid"
DefaultRuntimeDir "$AP_DIR/run"
ErrorLog "$AP_LOG"
LogLevel info
EOF
            if is_root; then
                echo "User $AP_USER"
                echo "Group $AP_GROUP"
            fi
            for m in "$@" log_config; do
                # some modules are built in (apache2 -l)
                case $AP_BUILTIN in *" mod_$m.c "*) continue ;; esac
                echo "LoadModule ${m}_module \"$APACHE_MODDIR/mod_$m.so\""
            done
            cat <<EOF
TypesConfig /etc/mime.types
$AP_SERVER_EXTRA
LogFormat "%h \"%r\" %>s %b" sk
CustomLog "$AP_DIR/logs/access.log" sk
StartServers 1
Timeout 10
# as Debian's apache2.conf: nothing on the filesystem is served unless a
# recipe grants it
<Directory />
    Options FollowSymLinks
    AllowOverride None
    Require all denied
</Directory>
<VirtualHost 127.0.0.1:$AP_PORT>
    ServerName localhost
    DocumentRoot "$AP_DIR/htdocs"
    Include "$snippet"
$AP_VHOST_EXTRA
</VirtualHost>
EOF
        } >"$AP_DIR/httpd.conf"
        "$APACHE_BIN" -t -f "$AP_DIR/httpd.conf" >"$AP_DIR/configtest.out" 2>&1 ||
            { cat "$AP_DIR/configtest.out"; die "apache2 -t rejected the generated config"; }
        rm -f "$AP_DIR/run/httpd.pid"
        echo "---- apache2 $* $(date +%T) ----" >>"$AP_LOG"
        # Its own session: on the way out Apache signals its whole process
        # group, which would otherwise be ours (and make's).
        setsid "$APACHE_BIN" -f "$AP_DIR/httpd.conf" -DFOREGROUND </dev/null >>"$AP_DIR/logs/stdout.log" 2>&1 &
        AP_PID=$!
        if wait_for "$AP_PID" 100 _ap_ready; then
            # req() and friends talk to 127.0.0.1:$NGINX_PORT; nginx is
            # never started in this test.
            NGINX_PORT=$AP_PORT
            return 0
        fi
        ap_stop
        grep -q 'Address already in use' "$AP_LOG" "$AP_DIR/logs/stdout.log" 2>/dev/null || break
    done
    tail -n 20 "$AP_LOG" "$AP_DIR/logs/stdout.log"
    die "apache2 did not start"
}

_ap_ready() { port_listening "$AP_PORT" && [ -s "$AP_DIR/run/httpd.pid" ]; }

ap_stop() { stop_child AP_PID TERM 100; }

_ap_cleanup() {
    local rc=$1
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] || [ "$FAILED" -gt 0 ]; then
        _dump "$AP_LOG" 60
        _dump "$AP_DIR/logs/access.log" 40
        _dump "$AP_DIR/logs/stdout.log" 20
    fi
    ap_stop >/dev/null 2>&1
    _cleanup "$rc"
}
trap '_ap_cleanup $?' EXIT

# ap_recipe SRC DEST [sed expressions...]: the shipped recipe with its
# paths replaced; dies when an expression changes nothing (the recipe and
# this test have drifted apart).
ap_recipe() {
    local src=$1 dest=$2 e
    shift 2
    cp "$src" "$dest"
    for e in "$@"; do
        local before
        before=$(sha256sum <"$dest")
        sed -i -e "$e" "$dest"
        [ "$before" != "$(sha256sum <"$dest")" ] || die "ap_recipe: '$e' matched nothing in $src"
    done
}

# signed_post PATH BODY ID [KEY_HEX]: a webhook POST signed for delivery ID.
signed_post() {
    local path=$1 b=$2 id=$3 key=${4:-} ts
    ts=$(date +%s)
    printf '%s' "$b" >"$T/signed.body"
    REQ_AUTH=0 req POST "$path" "$b" -H "webhook-id: $id" -H "webhook-timestamp: $ts" \
        -H "webhook-signature: v1,$(webhook_sign "$id" "$ts" "$T/signed.body" "$key")"
}

# through_apache LABEL CID SHARE [curl args...]: what every Apache mode
# must do: a signed store of SHARE for CID (its first version) and its
# fetch; the client share of ap-cli-1 ($c1, stored through CGI) with a
# Bearer token (CGIPassAuth On), and a 401 without one (the curl args
# go with that request).
through_apache() {
    local label=$1 cid=$2 share=$3
    shift 3
    signed_post /webhook/backup "$(json clientId "$cid" share "$share")" "msg_apache_$cid"
    assert_status 200 "$label: signed store"
    assert_stored 1 true "$label: store answer"
    req POST /webhook/backup/fetch "$(json clientId "$cid")"
    assert_fetched "$share" "$label: fetch returns the share exactly"
    req GET /portal/clients/ap-cli-1/backup
    assert_status 200 "$label: client fetch with a Bearer token (CGIPassAuth On)"
    assert_client_got "$c1" "$label: client share"
    REQ_AUTH=0 req GET /portal/clients/ap-cli-1/backup -- "$@"
    assert_error 401 "$label: no token"
}

# own_secrets USER GROUP FILE...: the files sharekeep insists on, as it
# insists: owned by the user it runs as, mode 0600.
own_secrets() {
    local u=$1 g=$2
    shift 2
    chmod 0600 "$@"
    if is_root; then chown "$u:$g" "$@"; fi
}

# ---- setup: PostgreSQL, keyring, config, the "installed" binary -------------
pg_start
sk_keygen
# max_body below Apache's LimitRequestBody (65536 in the recipe), so that
# both 413s can be seen: sharekeep's own and Apache's.
sk_write_config max_body=4096
sk_migrate
# A copy of the binary where Apache's user may run it (the build tree may
# sit under a home directory it cannot enter), as `make install` would.
install -d -m 0755 "$T/bin"
install -m 0755 "$SHAREKEEP_BIN" "$T/bin/sharekeep"
chmod 0644 "$SK_CONF"
own_secrets "$AP_USER" "$AP_GROUP" "$T/sk/keyring" "$SK_WEBHOOK_SECRETS" "$SK_JWT_SECRET_FILE"
log "Apache user $AP_USER:$AP_GROUP owns the keyring and secrets (0600)"

ap_recipe "$SHAREKEEP_SRCDIR/conf/apache/sharekeep-cgi.conf" "$AP_DIR/sharekeep-cgi.conf" \
    "s|\"/usr/local/bin/sharekeep\"|\"$T/bin/sharekeep\"|" \
    "s|<Directory \"/usr/local/bin\">|<Directory \"$T/bin\">|" \
    "s|\"/etc/sharekeep/sharekeep.conf\"|\"$SK_CONF\"|"

# ---- 1. CGI: prefork + mod_cgi ---------------------------------------------
log "---- prefork + mod_cgi, conf/apache/sharekeep-cgi.conf ----"
ap_start "$AP_DIR/sharekeep-cgi.conf" mpm_prefork authz_core authz_host alias env mime headers setenvif cgi

req GET /healthz
assert_status 200 "healthz through Apache CGI"
assert_json .status ok "healthz body"
assert_header Cache-Control '^no-store$' "healthz: Cache-Control"
assert_header X-Request-Id '^[0-9a-f]{32}$' "healthz: a fresh X-Request-Id"
req GET '/healthz?probe=1' -- -H 'X-Request-Id: apache-probe.1'
assert_status 200 "healthz with a query string (sharekeep routes on the path of REQUEST_URI)"
assert_header X-Request-Id '^apache-probe\.1$' "the caller's X-Request-Id is echoed"

# It runs as Apache's user: the keyring check (owner == euid) passed above;
# a keyring owned by someone else makes the CGI refuse to serve.
require "the keyring belongs to Apache's user $AP_USER" test "$(stat -c %U "$T/sk/keyring")" = "$AP_USER"
if is_root && [ "$AP_USER" != root ]; then
    chown root "$T/sk/keyring"
    req GET /healthz
    assert_error 503 "a keyring not owned by Apache's user: the CGI refuses"
    check "the refusal is logged to Apache's error log" \
        grep -q 'sharekeep: keyring .*keyring' "$AP_LOG"
    chown "$AP_USER" "$T/sk/keyring"
    req GET /healthz
    assert_status 200 "keyring owned by $AP_USER again: serving"
fi

# -- custodian webhook ------------------------------------------------------
s1=$(printf 'cgi-share %s "quoted" back\\slash \xc3\xa9 \xe2\x98\x83 /slash' "$(rand_token 32)")
b1=$(json clientId ap-cust-1 share "$s1")
signed_post /webhook/backup "$b1" msg_apache_1
assert_status 200 "signed custodian store"
assert_jq '.ok == true and .version == 1 and .created == true' "store answer {ok, version 1, created}"
assert_eq 1 "$(rows "client_id = 'ap-cust-1'")" "one row committed"

signed_post /webhook/backup "$b1" msg_apache_1
assert_status 200 "retried delivery (same webhook-id, same body)"
assert_jq '.version == 1 and .created == false' "retry: same version, nothing created"
signed_post /webhook/backup "$b1" msg_apache_2
assert_status 200 "same share under a new delivery id"
assert_jq '.version == 1 and .created == false' "identical share: no new version"
assert_eq 1 "$(rows "client_id = 'ap-cust-1'")" "still one row"
signed_post /webhook/backup "$(json clientId ap-cust-1 share other)" msg_apache_1
assert_error 409 "a delivery id reused with another body"

req POST /webhook/backup/fetch "$(json clientId ap-cust-1)"
assert_status 200 "fetch"
assert_fetched "$s1" "fetch returns the share exactly"

s2="second-$(rand_token 40)"
req POST /webhook/backup "$(json clientId ap-cust-1 share "$s2")"
assert_status 200 "a new share"
assert_jq '.version == 2 and .created == true' "new share: version 2"
req POST /webhook/backup/fetch "$(json clientId ap-cust-1)"
assert_fetched "$s2" "fetch returns the newest"

req POST /webhook/backup/fetch "$(json clientId ap-nobody)"
assert_error 404 "fetch for an unknown client"

# chunked request body: no CONTENT_LENGTH, sharekeep reads to EOF
s3="chunked-$(rand_token 24)"
req POST /webhook/backup "$(json clientId ap-chunk share "$s3")" -H 'Transfer-Encoding: chunked'
assert_status 200 "a chunked request body"
req POST /webhook/backup/fetch "$(json clientId ap-chunk)"
assert_fetched "$s3" "the chunked share reads back"

# -- refusals ----------------------------------------------------------------
REQ_AUTH=0 req POST /webhook/backup "$(json clientId ap-cust-1 share unsigned)"
assert_error 401 "unsigned webhook"
signed_post /webhook/backup "$(json clientId ap-cust-1 share forged)" msg_apache_3 \
    "$(head -c 32 /dev/urandom | od -An -tx1 -v | tr -d ' \n')"
assert_error 401 "webhook signed with another key"
assert_eq 2 "$(rows "client_id = 'ap-cust-1'")" "refused webhooks stored nothing"

req GET /webhook/backup
assert_error 405 "GET on the store route"
assert_header Allow '^POST$' "405 names the allowed method"
req DELETE /portal/clients/ap-cli-1/backup
assert_error 405 "DELETE on the client route"
assert_header Allow '^GET, HEAD, POST$' "405 on the client route: Allow"

head -c 6000 /dev/zero | tr '\0' x >"$T/pad"
req POST /webhook/backup "$(json clientId ap-big share "$(cat "$T/pad")")"
assert_error 413 "a body over sharekeep's max_body (4096) but under LimitRequestBody"
assert_header X-Request-Id '.' "that 413 is sharekeep's own"
head -c 70000 /dev/zero | tr '\0' x >"$T/pad"
req POST /webhook/backup "$(json clientId ap-big share "$(cat "$T/pad")")"
assert_error 413 "a body over the recipe's LimitRequestBody: Apache answers, in sharekeep's error shape"
assert_json .error.code payload_too_large "Apache's 413 has sharekeep's error code"
assert_eq 0 "$(rows "client_id = 'ap-big'")" "nothing stored for oversized bodies"

REQ_CT=text/plain req POST /webhook/backup "$(json clientId ap-cust-1 share x)"
assert_error 415 "text/plain body"
req POST /webhook/backup "$(json clientId ap-cust-1)"
assert_error 422 "missing share"
req POST /webhook/backup "$(json clientId 'bad id!' share x)"
assert_error 422 "invalid clientId"
assert_json .error.code invalid_client_id "422 code"
req POST /webhook/backup '{"clientId":'
assert_error 400 "malformed JSON"
req POST /webhook/nope "$(json clientId ap-cust-1)"
assert_error 404 "unknown path under /webhook/: sharekeep's JSON 404"
req GET /portal/clients/ap-cli-1/other
assert_error 404 "unknown path under /portal/clients/"

# -- client share: Bearer JWT through CGIPassAuth ----------------------------
c1="client-$(rand_token 40)"
req POST /portal/clients/ap-cli-1/backup "$(json backupShare "$c1")"
assert_status 200 "client store with a Bearer token (CGIPassAuth On)"
assert_jq '.ok == true and .version == 1 and .created == true' "client store answer"
req GET /portal/clients/ap-cli-1/backup
assert_status 200 "client fetch with a Bearer token"
assert_client_got "$c1" "client fetch returns the share exactly"
REQ_AUTH=0 req GET /portal/clients/ap-cli-1/backup
assert_error 401 "client fetch without a token"
assert_header WWW-Authenticate '^Bearer' "401 asks for a Bearer token"
REQ_AUTH=0 req GET /portal/clients/ap-cli-1/backup -- -H "Authorization: Bearer $(client_token ap-cli-2)"
assert_error 403 "a token for another client"
req GET /portal/clients/ap-cli-9/backup
assert_error 404 "client fetch, nothing stored"

# -- at rest and in the logs --------------------------------------------------
assert_sealed ap-cust-1 1 "$s1" "custodian v1"
assert_sealed ap-cust-1 1 "$s2" "custodian v2"
assert_sealed ap-cli-1 2 "$c1" "client share"
check "sharekeep's log lines reach Apache's error log" grep -q 'msg="request"' "$AP_LOG"
for secret in "$s2" "$c1" "$s3"; do
    assert_absent "no share in Apache's logs (${secret:0:8}...)" "$secret" "$AP_LOG" "$AP_DIR/logs/access.log"
done

# ---- 2. CGI: event + mod_cgid --------------------------------------------------
# Under mod_cgid the CGI program's stdin is a connected unix socket (the cgid
# daemon hands the client connection over), not a pipe: sharekeep must still
# see that it runs as CGI, and not take fd 0 for a FastCGI listening socket
# (spawn-fcgi's, which is a listening one).
ap_stop
if [ -f "$APACHE_MODDIR/mod_cgid.so" ] && [ -f "$APACHE_MODDIR/mod_mpm_event.so" ]; then
    log "---- event + mod_cgid, conf/apache/sharekeep-cgi.conf ----"
    ap_start "$AP_DIR/sharekeep-cgi.conf" mpm_event authz_core authz_host alias env mime headers setenvif cgid
    req GET /healthz
    assert_status 200 "mod_cgid: healthz"
    if [ "$STATUS" = 200 ]; then
        s4="cgid-$(rand_token 32)"
        req POST /webhook/backup "$(json clientId ap-cgid share "$s4")"
        assert_status 200 "mod_cgid: signed store"
        req POST /webhook/backup/fetch "$(json clientId ap-cgid)"
        assert_fetched "$s4" "mod_cgid: fetch"
        req GET /portal/clients/ap-cli-1/backup
        assert_client_got "$c1" "mod_cgid: client fetch with a Bearer token"
        REQ_AUTH=0 req POST /webhook/backup/fetch "$(json clientId ap-cgid)"
        assert_error 401 "mod_cgid: unsigned fetch"
    else
        not_ok "mod_cgid: sharekeep did not answer as a CGI program (its stdin is a connected socket); rest of the mod_cgid run skipped"
    fi
    ap_stop
else
    log "mod_cgid or mpm_event missing: the mod_cgid run is skipped"
fi

# ---- 3. client_auth = trusted-header through CGI --------------------------------
# Stand-in for a real authentication module: X-Test-Login plays the
# identity it establishes, and Apache sets the trusted header from it,
# after the recipe's `RequestHeader unset X-Sharekeep-Client early`.
log "---- trusted header through CGI ----"
AP_VHOST_EXTRA='    SetEnv SHAREKEEP_CLIENT_AUTH trusted-header
    SetEnv SHAREKEEP_TRUSTED_PEERS cgi
    <Location "/portal/clients/">
        SetEnvIf X-Test-Login "^([A-Za-z0-9_-]+)$" SK_TEST_LOGIN=$1
        RequestHeader set X-Sharekeep-Client "%{SK_TEST_LOGIN}e" env=SK_TEST_LOGIN
    </Location>'
ap_start "$AP_DIR/sharekeep-cgi.conf" mpm_prefork authz_core authz_host alias env mime headers setenvif cgi
t1="trusted-$(rand_token 32)"
REQ_AUTH=0 req POST /portal/clients/ap-th-1/backup "$(json backupShare "$t1")" -H 'X-Test-Login: ap-th-1'
assert_status 200 "trusted header set by Apache after authentication"
REQ_AUTH=0 req GET /portal/clients/ap-th-1/backup -- -H 'X-Test-Login: ap-th-1'
assert_client_got "$t1" "trusted header: fetch"
REQ_AUTH=0 req GET /portal/clients/ap-th-1/backup -- -H 'X-Test-Login: ap-th-2'
assert_error 403 "trusted header for another client"
REQ_AUTH=0 req GET /portal/clients/ap-th-1/backup -- -H 'X-Sharekeep-Client: ap-th-1'
assert_error 401 "a client's own X-Sharekeep-Client is removed"
REQ_AUTH=0 req GET /portal/clients/ap-th-1/backup -- -H 'X_Sharekeep_Client: ap-th-1'
assert_error 401 "X_Sharekeep_Client (underscores) does not reach sharekeep"
REQ_AUTH=0 req GET /portal/clients/ap-th-1/backup -- -H 'X-Sharekeep-Client: ap-th-1' -H 'X-Test-Login: ap-th-2'
assert_error 403 "a client's header does not override the authenticated one"
ap_stop
AP_VHOST_EXTRA=""

# ---- 4. mod_fcgid: Apache starts sharekeep FastCGI processes itself -------------
if [ -f "$APACHE_MODDIR/mod_fcgid.so" ]; then
    log "---- mod_fcgid, conf/apache/sharekeep-fcgid.conf ----"
    install -d -m 0755 "$AP_DIR/fcgid"
    is_root && chown "$AP_USER:$AP_GROUP" "$AP_DIR/fcgid"
    ap_recipe "$SHAREKEEP_SRCDIR/conf/apache/sharekeep-fcgid.conf" "$AP_DIR/sharekeep-fcgid.conf" \
        "s|\"/usr/local/bin/sharekeep\"|\"$T/bin/sharekeep\"|" \
        "s|\"/usr/local/bin/sharekeep -c /etc/sharekeep/sharekeep.conf serve\"|\"$T/bin/sharekeep -c $SK_CONF serve\"|" \
        "s|<Directory \"/usr/local/bin\">|<Directory \"$T/bin\">|"
    # mod_fcgid's own state, server-wide (Debian's lives in /var/lib/apache2/fcgid)
    AP_SERVER_EXTRA="FcgidIPCDir \"$AP_DIR/fcgid\"
FcgidProcessTableFile \"$AP_DIR/fcgid/shm\""
    ap_start "$AP_DIR/sharekeep-fcgid.conf" mpm_event authz_core authz_host alias env mime headers setenvif rewrite fcgid
    AP_SERVER_EXTRA=""
    req GET /healthz
    assert_status 200 "mod_fcgid: healthz"
    through_apache mod_fcgid ap-fcgid "fcgid-$(rand_token 32)"
    head -c 70000 /dev/zero | tr '\0' x >"$T/pad"
    req POST /webhook/backup "$(json clientId ap-big share "$(cat "$T/pad")")"
    assert_error 413 "mod_fcgid: a body over 64k: JSON 413 from Apache"
    check "mod_fcgid: ... before sharekeep saw it" test -z "$(header X-Request-Id)"
    head -c 6000 /dev/zero | tr '\0' x >"$T/pad"
    req POST /webhook/backup "$(json clientId ap-big share "$(cat "$T/pad")")"
    assert_error 413 "mod_fcgid: a body over sharekeep's max_body: its own 413"
    check "mod_fcgid: ... from sharekeep" test -n "$(header X-Request-Id)"
    head -c 6000 /dev/zero | tr '\0' x >"$T/pad"
    req POST /webhook/backup "$(json clientId ap-big share "$(cat "$T/pad")")" -H 'Transfer-Encoding: chunked'
    assert_error 413 "mod_fcgid: a chunked body over max_body: sharekeep's 413"
    fc_pids=$(pgrep -f "^$T/bin/sharekeep -c $SK_CONF serve" | tr '\n' ' ')
    fc_users=$(for p in $fc_pids; do stat -c %U "/proc/$p"; done | sort -u | tr '\n' ' ')
    assert_eq "$AP_USER " "$fc_users" "mod_fcgid: its sharekeep processes run as $AP_USER"
    check "mod_fcgid: sharekeep took mod_fcgid's socket" grep -q 'listen=inherited' "$AP_LOG"
    ap_stop
    sleep 0.5
    left=$(pgrep -f "^$T/bin/sharekeep -c $SK_CONF serve" | tr '\n' ' ')
    assert_eq "" "$left" "mod_fcgid: no sharekeep process outlives Apache"
else
    log "mod_fcgid not installed (libapache2-mod-fcgid): the mod_fcgid run is skipped"
fi

# ---- 5. mod_proxy_fcgi -> sharekeep serve (spawn-fcgi, unprivileged) ----------
if ! have spawn-fcgi; then
    log "spawn-fcgi not installed: the mod_proxy_fcgi run is skipped"
elif [ ! -f "$APACHE_MODDIR/mod_proxy_fcgi.so" ]; then
    log "mod_proxy_fcgi missing: the mod_proxy_fcgi run is skipped"
else
    log "---- mod_proxy_fcgi, conf/apache/sharekeep-proxy-fcgi.conf ----"
    # sharekeep's own user: nobody here (a dedicated "sharekeep" user in
    # production), with its own copies of the key files; the socket
    # belongs to Apache's group so that Apache can connect, and to no one
    # else.
    if is_root; then FC_USER=nobody; else FC_USER=$(id -un); fi
    FC_GROUP=$(id -gn "$FC_USER")
    install -d -m 0755 "$T/fcgi" "$T/fcgi/run"
    cp "$T/sk/keyring" "$T/fcgi/keyring"
    cp "$SK_WEBHOOK_SECRETS" "$T/fcgi/webhook-secrets"
    cp "$SK_JWT_SECRET_FILE" "$T/fcgi/jwt-secret"
    own_secrets "$FC_USER" "$FC_GROUP" "$T/fcgi/keyring" "$T/fcgi/webhook-secrets" "$T/fcgi/jwt-secret"
    { cat "$SK_CONF"
      echo "keyring = $T/fcgi/keyring"
      echo "webhook_secrets = $T/fcgi/webhook-secrets"
      echo "jwt_hs256_secret = $T/fcgi/jwt-secret"
      echo "max_body = 65536"; } >"$T/fcgi/sharekeep.conf"
    chmod 0644 "$T/fcgi/sharekeep.conf"
    SK_TRANSPORT=unix
    SK_SOCK=$T/fcgi/run/sharekeep.sock
    _SOCK_BEFORE=""
    spawn_args=(-n -s "$SK_SOCK" -M 0660)
    if is_root; then
        spawn_args+=(-u "$FC_USER" -g "$FC_GROUP" -U "$AP_USER" -G "$AP_GROUP")
    fi
    _sk_envargs
    echo "---- spawn-fcgi $(date +%T) ----" >>"$SK_LOG"
    env "${SK_ENVARGS[@]}" spawn-fcgi "${spawn_args[@]}" -- \
        "$T/bin/sharekeep" -c "$T/fcgi/sharekeep.conf" serve >>"$SK_LOG" 2>&1 &
    SK_PID=$!
    _sk_wait_ready || die "sharekeep under spawn-fcgi did not come up"
    assert_eq "$FC_USER" "$(stat -c %U "/proc/$SK_PID")" "spawn-fcgi: sharekeep runs as $FC_USER"
    sleep 0.3
    owners=$(for w in $(children_of "$SK_PID"); do stat -c %U "/proc/$w"; done | sort | uniq -c | tr -s ' \n' ' ')
    # sharekeep.conf: workers = 2
    assert_eq " 2 $FC_USER " "$owners" "spawn-fcgi: its 2 workers run as $FC_USER too"
    assert_eq "660 $AP_USER $AP_GROUP" "$(stat -c '%a %U %G' "$SK_SOCK")" \
        "spawn-fcgi: the socket is 0660, Apache's user and group"

    ap_recipe "$SHAREKEEP_SRCDIR/conf/apache/sharekeep-proxy-fcgi.conf" "$AP_DIR/sharekeep-proxy-fcgi.conf" \
        "s|unix:/run/sharekeep/sharekeep.sock|unix:$SK_SOCK|g"
    ap_start "$AP_DIR/sharekeep-proxy-fcgi.conf" mpm_event authz_core authz_host alias env mime headers setenvif proxy proxy_fcgi

    req GET /healthz
    assert_status 200 "proxy_fcgi: healthz"
    assert_json .status ok "proxy_fcgi: healthz body"
    s5="proxied-$(rand_token 32)"
    through_apache proxy_fcgi ap-fcgi "$s5" -H 'X-Sharekeep-Client: ap-cli-1'
    req POST /webhook/backup/fetch "$(json clientId ap-cust-1)"
    assert_fetched "$s2" "proxy_fcgi: a share stored through CGI reads back (same keyring, same database)"
    req GET /webhook/backup/fetch
    assert_error 405 "proxy_fcgi: GET on fetch"
    req POST /webhook/nope "$(json clientId ap-fcgi)"
    assert_error 404 "proxy_fcgi: unknown path, sharekeep's JSON 404"
    head -c 70000 /dev/zero | tr '\0' x >"$T/pad"
    req POST /webhook/backup "$(json clientId ap-big share "$(cat "$T/pad")")"
    assert_error 413 "proxy_fcgi: over LimitRequestBody, JSON 413 from Apache"
    req GET /metrics
    assert_status 200 "proxy_fcgi: /metrics from 127.0.0.1"
    check "proxy_fcgi: /metrics counts the proxied store" \
        grep -q 'sharekeep_requests_total{route="custodian.store",status="200"}' "$RESP_BODY"
    assert_sealed ap-fcgi 1 "$s5" "proxy_fcgi store"
    ap_stop
    if sk_stop; then ok "spawn-fcgi: SIGTERM stops sharekeep cleanly"; else not_ok "spawn-fcgi: SIGTERM stops sharekeep cleanly"; fi
fi
