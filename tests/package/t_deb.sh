#!/bin/bash
# tests/package/t_deb.sh: the Debian package, built, installed, used,
# removed and purged on this machine, as an operator would.
#
#   bash tests/package/t_deb.sh                  build the .deb from a copy of this tree
#   bash tests/package/t_deb.sh PATH/sharekeep_V_ARCH.deb    test that .deb instead
#
#  1. Build: `dpkg-buildpackage -us -uc -b` in a copy of the tree (what git
#     tracks plus untracked files it does not ignore: a fresh clone of the
#     working tree), then `lintian --fail-on error,warning` on the .deb.
#  2. Install with `apt-get install -y --no-install-recommends ./sharekeep_*.deb`;
#     every file is where debian/ promises, the units match conf/systemd's
#     but for the packaged paths and conditions, are not enabled, and
#     nothing runs; the user, /etc/sharekeep and its conffile have their
#     owner and mode.
#  3. Configure, as README.Debian says: a scratch PostgreSQL (as postgres,
#     unix socket only, in a directory under /run, where the service's
#     PrivateTmp= cannot hide it; peer authentication, as on a Debian
#     host); the keyring made (and rotated) by the installed binary as the
#     sharekeep user; a webhook secret and a JWT secret; sharekeep.conf
#     edited to name them and the database; `sharekeep migrate` run as the
#     owner role; an upgrade over the configured package keeps all that.
#  4. Serve: through the systemd units when systemd is PID 1, else under
#     spawn-fcgi as the sharekeep user on /run/sharekeep/sharekeep.sock;
#     nginx (a private nginx.conf, loopback only, workers as www-data)
#     includes the installed snippets; a custodian backup + fetch
#     (X-Webhook-Secret) and a client store + fetch (HS256 JWT) go through
#     it to the installed binary.
#  5. `apt-get remove`: the program goes, config, keyring and secrets stay.
#     `apt-get purge`: what is left on the file system, compared with a
#     listing taken before the install, is exactly the operator's files in
#     /etc/sharekeep (keyring, its lock, the secrets); the database and
#     the sharekeep user stay too.
#
# Then it cleans up: stops nginx, sharekeep and PostgreSQL, removes the
# leftover keyring and secrets it made, the sharekeep user if it made it,
# and its temp dirs. Root only (77 otherwise); refuses (99) to run where
# sharekeep is already installed or /etc/sharekeep exists. Prints ok /
# not ok lines and "N passed, N failed"; exit 0, 1 (a check failed), 77
# or 99. SK_KEEP_TMP=1 keeps the temp dir.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export SHAREKEEP_SRCDIR=$SRC
export SHAREKEEP_BIN=/usr/bin/sharekeep
SK_TEST_TIMEOUT=${SK_TEST_TIMEOUT:-900}
# shellcheck source=../integration/lib.sh
. "$SRC/tests/integration/lib.sh"

DEB_ARG=${1:-}
ETC=/etc/sharekeep
CONF=$ETC/sharekeep.conf
RUNDIR=/run/sharekeep
SOCKET=$RUNDIR/sharekeep.sock
SHARE=/usr/share/sharekeep

# What this run did, for the cleanup.
INSTALLED=0          # we installed the package (purge it on the way out)
MADE_USER=0          # the sharekeep user did not exist before
MADE_ETC=0           # /etc/sharekeep is ours to empty
MADE_RUNDIR=0        # /run/sharekeep did not exist before
STARTED_UNITS=0      # systemd mode: we started sharekeep.socket
PG_RUN=""            # PostgreSQL's socket dir under /run
USE_SYSTEMD=0
[ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ] && USE_SYSTEMD=1

_deb_cleanup() {
    local rc=$1
    trap - EXIT INT TERM HUP
    set +e
    [ -n "$NGINX_PID" ] && nginx_stop >/dev/null 2>&1
    [ -n "$SK_PID" ] && sk_stop >/dev/null 2>&1
    if [ "$STARTED_UNITS" = 1 ]; then
        systemctl stop sharekeep.socket sharekeep.service >/dev/null 2>&1
    fi
    if [ "$INSTALLED" = 1 ] && dpkg-query -W -f='${Status}' sharekeep 2>/dev/null | grep -qv not-installed; then
        echo "# cleanup: purging the sharekeep package"
        apt_quiet purge -y sharekeep >/dev/null 2>&1 || dpkg --purge sharekeep >/dev/null 2>&1
    fi
    if [ "$MADE_RUNDIR" = 1 ] && [ -d "$RUNDIR" ]; then
        [ -S "$SOCKET" ] && rm -f "$SOCKET"      # spawn-fcgi's, if it was stopped here
        rmdir "$RUNDIR" 2>/dev/null
    fi
    if [ "$MADE_ETC" = 1 ] && [ -d "$ETC" ]; then
        rm -f "$ETC/keyring" "$ETC/keyring.lock" "$ETC/webhook-secrets" "$ETC/jwt-hs256.secret"
        rmdir "$ETC" 2>/dev/null || echo "# cleanup: $ETC still holds: $(ls -A "$ETC" | tr '\n' ' ')"
    fi
    if [ "$MADE_USER" = 1 ] && getent passwd sharekeep >/dev/null; then
        deluser --system --quiet sharekeep >/dev/null 2>&1
        getent group sharekeep >/dev/null && delgroup --system --quiet sharekeep >/dev/null 2>&1
    fi
    [ "$PG_UP" = 1 ] && pg_stop >/dev/null 2>&1
    [ -n "$PG_RUN" ] && rm -rf "$PG_RUN"
    _cleanup "$rc"
}

# installed_running: the processes of the installed binary (or of its
# deleted inode, after a remove) and those of the sharekeep user, one a line.
# Other sharekeep binaries on the machine (a build tree's) do not count.
installed_running() {
    local p exe
    for p in $(ps -e -o pid= 2>/dev/null); do
        exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
        case $exe in
            /usr/bin/sharekeep | "/usr/bin/sharekeep (deleted)") ps -o pid=,user=,args= -p "$p" ;;
            *) [ "$(stat -c %U "/proc/$p" 2>/dev/null)" = sharekeep ] && ps -o pid=,user=,args= -p "$p" ;;
        esac
    done
    return 0
}

apt_quiet() { DEBIAN_FRONTEND=noninteractive apt-get -q -o Dpkg::Use-Pty=0 "$@"; }

# ---- 0. prerequisites ----------------------------------------------------------
is_root || { echo "SKIP: t_deb: installs a package: run as root"; echo "0 passed, 0 failed, 1 skipped"; exit 77; }
trap '_deb_cleanup $?' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
for b in apt-get dpkg dpkg-query dpkg-statoverride runuser curl jq openssl; do
    have "$b" || skip "$b not found"
done
for b in initdb pg_ctl postgres psql; do
    [ -x "$PG_BINDIR/$b" ] || skip "PostgreSQL server binaries not found in $PG_BINDIR (install postgresql)"
done
[ -x "$NGINX_BIN" ] || skip "nginx not found (install nginx-light)"
[ -f /etc/nginx/fastcgi_params ] || skip "/etc/nginx/fastcgi_params missing (install nginx-light)"
id postgres >/dev/null 2>&1 || skip "no postgres user to run the server as"
id www-data >/dev/null 2>&1 || skip "no www-data user (base-passwd)"
[ "$USE_SYSTEMD" = 1 ] || have spawn-fcgi || skip "systemd is not PID 1 and spawn-fcgi is not installed"
if [ -z "$DEB_ARG" ]; then
    have dpkg-buildpackage || skip "dpkg-buildpackage not found (install dpkg-dev)"
    have dh || skip "dh not found (install debhelper)"
    have lintian || skip "lintian not found (install lintian)"
fi
if dpkg-query -W -f='${Status}' sharekeep 2>/dev/null | grep -qv not-installed; then
    die "a sharekeep package is already installed here; this test installs and purges it: purge it first"
fi
[ ! -e "$ETC" ] || die "$ETC exists; this test must own it: move it away first"

sk_tmpdir
_watchdog
log "t_deb: temp dir $T, source $SRC, $([ "$USE_SYSTEMD" = 1 ] && echo "systemd units" || echo "spawn-fcgi (systemd is not PID 1)")"

# ---- 1. build --------------------------------------------------------------------
if [ -n "$DEB_ARG" ]; then
    [ -f "$DEB_ARG" ] || die "no such .deb: $DEB_ARG"
    DEB=$(cd "$(dirname "$DEB_ARG")" && pwd)/$(basename "$DEB_ARG")
    log "testing the given package $DEB"
else
    B=$T/build
    mkdir -p "$B/src"
    # A fresh clone of the working tree: tracked and untracked-but-not-ignored
    # files (no build products, no .git).
    if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$SRC" && git ls-files -z --cached --others --exclude-standard |
            while IFS= read -r -d '' f; do
                if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
            done | tar --null -T - -cf - | tar -xf - -C "$B/src") || die "copying the tree failed"
    else
        (cd "$SRC" && tar --exclude=.git -cf - .) | tar -xf - -C "$B/src" || die "copying the tree failed"
    fi
    log "dpkg-buildpackage -us -uc -b in $B/src (log: build.log)"
    t0=$(date +%s)
    if (cd "$B/src" && env -u SHAREKEEP_BIN -u SHAREKEEP_SRCDIR dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1; then
        ok "dpkg-buildpackage -us -uc -b builds the package ($(($(date +%s) - t0)) s)"
    else
        not_ok "dpkg-buildpackage -us -uc -b failed"
        tail -n 40 "$T/build.log" | sed 's/^/#   /'
        exit 1
    fi
    DEB=$(ls "$B"/sharekeep_*.deb 2>/dev/null | head -n 1)
    [ -n "$DEB" ] || die "dpkg-buildpackage wrote no sharekeep_*.deb into $B"
    if lintian --fail-on error,warning "$DEB" >"$T/lintian.out" 2>&1; then
        ok "lintian --fail-on error,warning: no error, no warning"
    else
        not_ok "lintian --fail-on error,warning"
        grep -v 'root privileges' "$T/lintian.out" | sed 's/^/#   /' | head -n 30
    fi
    chmod 0755 "$T" "$B"     # apt's _apt user reads the .deb from there
fi
VERSION=$(dpkg-deb -f "$DEB" Version)

# ---- what the file system holds, to compare with after the purge ----------------------
# Everything under these roots but the package manager's own bookkeeping,
# caches, logs and this test's directories.
fs_list() {
    local -a roots=(/etc /usr /var /opt /srv) r
    for r in /lib /lib64 /bin /sbin; do [ -L "$r" ] || [ ! -d "$r" ] || roots+=("$r"); done
    find "${roots[@]}" -xdev \
        \( -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/cache -o -path /var/log \
           -o -path /var/tmp -o -path /var/lib/postgresql -o -path /var/backups -o -path "$SRC" \) -prune \
        -o -print 2>/dev/null | LC_ALL=C sort
}
fs_list >"$T/fs.before"
getent passwd sharekeep >/dev/null || MADE_USER=1
[ -e "$RUNDIR" ] || MADE_RUNDIR=1

# ---- 2. install ---------------------------------------------------------------------
# --no-install-recommends: what the package recommends (a web server,
# postgresql-client) is here already on a machine that runs this test, and
# must not be pulled in if not, or the comparison after the purge would
# find its files.
log "apt-get install -y --no-install-recommends ./$(basename "$DEB")"
if (cd "$(dirname "$DEB")" && apt_quiet install -y --no-install-recommends "./$(basename "$DEB")") >"$T/install.log" 2>&1; then
    ok "apt-get install ./$(basename "$DEB") ($VERSION)"
else
    not_ok "apt-get install ./$(basename "$DEB") failed"
    tail -n 30 "$T/install.log" | sed 's/^/#   /'
    exit 1
fi
INSTALLED=1
MADE_ETC=1
assert_eq "install ok installed" "$(dpkg-query -W -f='${Status}' sharekeep)" "dpkg: sharekeep is installed"

# Files where debian/ promises them.
missing=""
for f in /usr/bin/sharekeep /usr/share/man/man8/sharekeep.8.gz /usr/share/man/man8/sharekeep-serve.8.gz \
    /usr/share/man/man8/sharekeep-keygen.8.gz /usr/share/man/man8/sharekeep-migrate.8.gz \
    "$CONF" "$SHARE/nginx/sharekeep.conf" "$SHARE/nginx/sharekeep-errors.conf" "$SHARE/nginx/example-site.conf" \
    "$SHARE/apache/sharekeep-proxy-fcgi.conf" "$SHARE/apache/sharekeep-fcgid.conf" "$SHARE/apache/sharekeep-cgi.conf" \
    /lib/systemd/system/sharekeep.service /lib/systemd/system/sharekeep.socket /usr/lib/tmpfiles.d/sharekeep.conf \
    /usr/share/doc/sharekeep/openapi.yaml /usr/share/doc/sharekeep/README.Debian.gz /usr/share/doc/sharekeep/copyright \
    /usr/share/doc/sharekeep/examples/sharekeep.conf.example; do
    [ -f "$f" ] || missing+=" $f"
done
assert_empty "every promised file is installed" "$missing"
missing=""
for f in "$SRC"/doc/man/*.8; do
    [ -f "/usr/share/man/man8/$(basename "$f").gz" ] || missing+=" man:$(basename "$f")"
done
assert_empty "every man page of doc/man is installed" "$missing"
assert_eq "$(cd "$SRC/sql" && ls -1 [0-9][0-9][0-9]_*.sql)" "$(cd "$SHARE/sql" && ls -1)" \
    "$SHARE/sql holds exactly the tree's migrations"
check "docs/openapi.yaml is installed as it is in the tree" cmp -s "$SRC/docs/openapi.yaml" /usr/share/doc/sharekeep/openapi.yaml
for f in sharekeep.conf sharekeep-errors.conf example-site.conf; do
    check "nginx/$f is installed unchanged" cmp -s "$SRC/conf/nginx/$f" "$SHARE/nginx/$f"
done
check "apache/sharekeep-proxy-fcgi.conf is installed unchanged" \
    cmp -s "$SRC/conf/apache/sharekeep-proxy-fcgi.conf" "$SHARE/apache/sharekeep-proxy-fcgi.conf"
assert_empty "no Apache directive names /usr/local (the CGI and fcgid recipes point at /usr/bin)" \
    "$(grep -n /usr/local "$SHARE"/apache/*.conf | grep -v '^[^:]*:[0-9]*:[[:space:]]*#')"
check "the CGI recipe runs /usr/bin/sharekeep" grep -q '^ScriptAliasMatch .*"/usr/bin/sharekeep"$' "$SHARE/apache/sharekeep-cgi.conf"
check "the fcgid recipe runs /usr/bin/sharekeep" grep -q 'FcgidWrapper "/usr/bin/sharekeep -c /etc/sharekeep/sharekeep.conf serve"' "$SHARE/apache/sharekeep-fcgid.conf"
check "$CONF is a conffile" sh -c "dpkg-query -W -f='\${Conffiles}\n' sharekeep | grep -q '^ $CONF '"
check "the conffile names the webhook secret file the units wait for" \
    grep -qx 'webhook_secrets = /etc/sharekeep/webhook-secrets' "$CONF"
assert_empty "the conffile is the example but for the sql_dir comment" \
    "$(diff <(sed -e 's|/usr/local/share/|/usr/share/|g' "$SRC/conf/sharekeep.conf.example") "$CONF")"
check "the binary's default config is $CONF" sh -c "env -i /usr/bin/sharekeep --help 2>&1 | grep -qF '$CONF'"

# The account and the permissions.
IFS=: read -r _ _ SK_UID _ _ SK_HOME SK_SHELL <<<"$(getent passwd sharekeep)"
check "sharekeep is a system user (uid $SK_UID)" test "$SK_UID" -gt 0 -a "$SK_UID" -lt 1000
assert_eq "sharekeep /nonexistent /usr/sbin/nologin" "$(id -gn sharekeep) $SK_HOME $SK_SHELL" \
    "its group is sharekeep, no home, no login shell"
check "no home directory was made" test ! -e /nonexistent
assert_eq "root sharekeep 1770" "$(stat -c '%U %G %a' "$ETC")" "$ETC is root:sharekeep 1770"
assert_eq "root sharekeep 640" "$(stat -c '%U %G %a' "$CONF")" "$CONF is root:sharekeep 0640"
assert_eq "root sharekeep 1770 $ETC" "$(dpkg-statoverride --list "$ETC")" "$ETC's mode is a dpkg-statoverride"
assert_eq "root sharekeep 640 $CONF" "$(dpkg-statoverride --list "$CONF")" "$CONF's mode is a dpkg-statoverride"
check "other users cannot read $CONF" sh -c "! runuser -u nobody -- cat '$CONF' >/dev/null 2>&1"
check "the sharekeep user cannot remove root's $CONF (sticky directory)" \
    sh -c "! runuser -u sharekeep -- mv '$CONF' '$ETC/moved' 2>/dev/null && test -f '$CONF'"
if have systemd-tmpfiles; then
    assert_eq "root root 711" "$(stat -c '%U %G %a' "$RUNDIR" 2>&1)" "tmpfiles.d made $RUNDIR, root:root 0711"
fi

# The units: installed, not enabled, conf/systemd's but for the packaged bits.
# (The service has no [Install] target of its own, only Also=sharekeep.socket:
# "indirect" is systemctl's word for that when it is not enabled.)
assert_eq disabled "$(systemctl is-enabled sharekeep.socket 2>&1)" "sharekeep.socket is not enabled"
st=$(systemctl is-enabled sharekeep.service 2>&1)
check "sharekeep.service is not enabled ($st)" test "$st" = disabled -o "$st" = indirect
assert_empty "no .wants/ link points at a sharekeep unit" \
    "$(find /etc/systemd /lib/systemd /usr/lib/systemd -path '*.wants/*' -name 'sharekeep*' 2>/dev/null)"
unit_body() { sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' -e '/^Documentation=/d' "$@"; }
for u in sharekeep.socket sharekeep.service; do
    assert_empty "$u: conf/systemd's unit with /usr/bin and the two conditions, nothing else" \
        "$(diff <(unit_body "$SRC/conf/systemd/$u" | sed 's|/usr/local/bin/sharekeep|/usr/bin/sharekeep|g') \
                <(unit_body "/lib/systemd/system/$u" | grep -vx 'ConditionPathExists=/etc/sharekeep/\(keyring\|webhook-secrets\)'))"
done
check "sharekeep.service runs /usr/bin/sharekeep -c $CONF serve" \
    grep -qx "ExecStart=/usr/bin/sharekeep -c $CONF serve" /lib/systemd/system/sharekeep.service
if have systemd-analyze; then
    systemd-analyze verify --man=no /lib/systemd/system/sharekeep.socket /lib/systemd/system/sharekeep.service \
        >"$T/verify.out" 2>&1
    if [ $? -eq 0 ] && ! grep -q sharekeep "$T/verify.out"; then
        ok "systemd-analyze verify: the installed units load without a warning"
    else
        not_ok "systemd-analyze verify of the installed units"
        sed 's/^/#   /' "$T/verify.out" | head -n 20
    fi
fi
for m in $(sed -n 's/^Documentation=//p' /lib/systemd/system/sharekeep.service /lib/systemd/system/sharekeep.socket |
           tr ' ' '\n' | sort -u); do
    # man:NAME(SECTION) -> /usr/share/man/manSECTION/NAME.SECTION.gz
    page=${m#man:}
    name=${page%%(*}
    sec=${page#*(}
    sec=${sec%)}
    check "Documentation=$m is installed" test -f "/usr/share/man/man$sec/$name.$sec.gz"
done
# ConditionPathExists=: false now (no keyring, no secret), so neither unit
# would start; systemd-analyze condition evaluates them without systemd.
conditions_hold() { systemd-analyze condition "$@" >>"$T/conditions.out" 2>&1; }
CONDS=()
while IFS= read -r c; do CONDS+=("$c"); done < <(grep '^ConditionPathExists=' /lib/systemd/system/sharekeep.socket)
if have systemd-analyze && systemd-analyze condition 'ConditionPathExists=/' >/dev/null 2>&1; then
    check "before the keyring exists, the socket's conditions fail (it would not start)" \
        sh -c "! systemd-analyze condition ${CONDS[*]} >/dev/null 2>&1"
    check "the service has the same conditions as the socket" \
        test "$(grep '^ConditionPathExists=' /lib/systemd/system/sharekeep.service)" = "$(printf '%s\n' "${CONDS[@]}")"
fi
if [ "$USE_SYSTEMD" = 1 ]; then
    systemctl start sharekeep.socket >/dev/null 2>&1
    assert_eq inactive "$(systemctl show -p ActiveState --value sharekeep.socket)" \
        "systemd: starting the socket before the keyring exists does nothing"
    assert_eq no "$(systemctl show -p ConditionResult --value sharekeep.socket)" \
        "systemd: the socket was skipped on its ConditionPathExists="
fi
assert_empty "nothing of sharekeep runs after the install" "$(installed_running)"
check "there is no socket at $SOCKET" test ! -e "$SOCKET"
assert_refused "sharekeep check, before the operator's steps, refuses and says why" 1 'keyring|webhook|jwt' -- -c "$CONF" check

# ---- 3. configure, as README.Debian says -------------------------------------------------
# PostgreSQL: unix socket only, in a directory under /run (the service's
# PrivateTmp= would hide one under /tmp).
PG_PORT=$(free_port) || die "no free port"
PG_RUN=$(mktemp -d /run/skdeb-pg.XXXXXX) || die "mktemp under /run failed"
chmod 0755 "$PG_RUN"
PG_SOCK=$PG_RUN
pg_start
# Peer authentication, as on a Debian host, so that README.Debian's
# commands are the ones tested: the Unix user sharekeep logs in as the
# role sharekeep, postgres as postgres; root (this test's own queries) as
# postgres or the owner, through a map.
printf 'local all all peer map=skdeb\n' | as_pg tee "$T/pg/pg_hba.conf" >/dev/null
printf 'skdeb postgres postgres\nskdeb sharekeep sharekeep\nskdeb root postgres\nskdeb root sharekeep_owner\n' |
    as_pg tee "$T/pg/pg_ident.conf" >/dev/null
pg_ctl_as "$T/pg" reload >/dev/null || die "pg_ctl reload failed"
sleep 0.5
require "peer authentication maps root to sharekeep_owner" pg_psql "SELECT 1" >/dev/null

SECRET=$(rand_token 43)
JWT=$(rand_token 48)
runuser -u sharekeep -- /usr/bin/sharekeep keygen "$ETC/keyring" >>"$SK_LOG" 2>&1
assert_eq "sharekeep sharekeep 600" "$(stat -c '%U %G %a' "$ETC/keyring" 2>&1)" \
    "keygen as the sharekeep user makes $ETC/keyring, 0600"
printf '%s\n' "$SECRET" | runuser -u sharekeep -- sh -c "umask 077; cat > $ETC/webhook-secrets"
printf '%s\n' "$JWT" | runuser -u sharekeep -- sh -c "umask 077; cat > $ETC/jwt-hs256.secret"
assert_eq "sharekeep 600 sharekeep 600" "$(stat -c '%U %a' "$ETC/webhook-secrets" "$ETC/jwt-hs256.secret" | tr '\n' ' ' | sed 's/ $//')" \
    "the webhook and JWT secrets are the sharekeep user's, 0600"
# The conffile's database line, with this cluster's socket dir and port.
require "edit $CONF" sed -i \
    -e "s|^database = host=/run/postgresql dbname=sharekeep user=sharekeep\$|database = host=$PG_SOCK port=$PG_PORT dbname=sharekeep user=sharekeep|" \
    -e "s|^jwt_hs256_secret =.*|jwt_hs256_secret = $ETC/jwt-hs256.secret|" "$CONF"
require "the config names the test database" grep -q "^database = host=$PG_SOCK " "$CONF"

# migrate as the owner role: the postgres Unix user (peer), SET ROLE
# sharekeep_owner through the conninfo (README.Debian's command, with this
# cluster's socket). postgres cannot read $ETC, so migrate runs on the
# binary's built-in defaults: its sql_dir must be /usr/share/sharekeep/sql.
if sk_env SHAREKEEP_DATABASE="host=$PG_SOCK port=$PG_PORT dbname=sharekeep options='-c role=sharekeep_owner'" \
        runuser -u postgres -- /usr/bin/sharekeep migrate >"$T/migrate.out" 2>&1; then
    ok "sharekeep migrate (installed binary, owner role, built-in sql_dir)"
else
    not_ok "sharekeep migrate failed"
    sed 's/^/#   /' "$T/migrate.out" | head -n 20
fi
cat "$T/migrate.out" >>"$SK_LOG"
assert_sql "SELECT tableowner FROM pg_tables WHERE tablename = 'share_record'" sharekeep_owner \
    "the tables belong to sharekeep_owner"
assert_sql "SELECT count(*) FROM schema_migration" "$(ls "$SRC"/sql/[0-9][0-9][0-9]_*.sql | wc -l)" \
    "every shipped migration is applied"
pg_grant_runtime || die "GRANT sharekeep_runtime TO sharekeep failed"

if runuser -u sharekeep -- /usr/bin/sharekeep check >"$T/check.out" 2>&1; then
    ok "sharekeep check as the sharekeep user (default config path): $(head -n 1 "$T/check.out")"
else
    not_ok "sharekeep check as the sharekeep user: $(head -c 300 "$T/check.out")"
fi
# rotate replaces the keyring through a temp file renamed over it: the
# sharekeep user may do that in /etc/sharekeep (group-writable, sticky) to
# its own files.
if runuser -u sharekeep -- /usr/bin/sharekeep rotate >"$T/rotate.out" 2>&1; then
    ok "sharekeep rotate as the sharekeep user: $(head -n 1 "$T/rotate.out")"
else
    not_ok "sharekeep rotate as the sharekeep user: $(head -c 300 "$T/rotate.out")"
fi
assert_eq "sharekeep sharekeep 600" "$(stat -c '%U %G %a' "$ETC/keyring" 2>&1)" "the rotated keyring is still the sharekeep user's, 0600"
assert_eq "jwt-hs256.secret keyring keyring.lock sharekeep.conf webhook-secrets" "$(ls -A "$ETC" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')" \
    "$ETC holds the conffile and the operator's files, no temp file"

if [ ${#CONDS[@]} -gt 0 ] && have systemd-analyze && systemd-analyze condition 'ConditionPathExists=/' >/dev/null 2>&1; then
    check "with the keyring and the secret made, the socket's conditions hold" \
        conditions_hold "${CONDS[@]}"
fi

# An upgrade (the same package again: preinst upgrade, postinst configure
# with the old version) keeps the edited conffile, the modes, and starts
# nothing.
CONF_SUM=$(sha256sum <"$CONF")
if DEBIAN_FRONTEND=noninteractive dpkg --force-confold -i "$DEB" >"$T/upgrade.log" 2>&1; then
    ok "dpkg -i over the installed package (an upgrade)"
else
    not_ok "dpkg -i over the installed package (an upgrade)"
    tail -n 20 "$T/upgrade.log" | sed 's/^/#   /'
fi
assert_eq "$CONF_SUM" "$(sha256sum <"$CONF")" "the upgrade keeps the edited $CONF"
assert_eq "root sharekeep 1770 / root sharekeep 640" \
    "$(stat -c '%U %G %a' "$ETC") / $(stat -c '%U %G %a' "$CONF")" "the upgrade keeps the modes"
assert_empty "the upgrade starts nothing" "$(installed_running)"

# ---- 4. serve through nginx ---------------------------------------------------------------
if [ "$USE_SYSTEMD" = 1 ]; then
    systemctl daemon-reload
    STARTED_UNITS=1
    if systemctl start sharekeep.socket; then
        ok "systemctl start sharekeep.socket"
    else
        not_ok "systemctl start sharekeep.socket"
        systemctl status --no-pager sharekeep.socket 2>&1 | sed 's/^/#   /' | head -n 20
    fi
    wait_for "" 100 test -S "$SOCKET" || die "systemd made no $SOCKET"
    assert_eq "sharekeep www-data 660" "$(stat -c '%U %G %a' "$SOCKET")" "the socket is sharekeep:www-data 0660"
else
    [ -d "$RUNDIR" ] || install -d -m 0711 "$RUNDIR"
    echo "---- spawn-fcgi $(date +%T) ----" >>"$SK_LOG"
    sk_env_unset
    env "${SK_ENV_UNSET[@]}" spawn-fcgi -n -s "$SOCKET" -M 0660 -U www-data -G www-data \
        -u sharekeep -g sharekeep -- /usr/bin/sharekeep -c "$CONF" serve </dev/null >>"$SK_LOG" 2>&1 &
    SK_PID=$!
    wait_for "$SK_PID" 100 unix_listening "$SOCKET" || die "sharekeep under spawn-fcgi did not come up"
    ok "spawn-fcgi runs the installed sharekeep on $SOCKET"
    assert_eq sharekeep "$(stat -c %U "/proc/$SK_PID")" "sharekeep runs as the sharekeep user"
    assert_eq "www-data www-data 660" "$(stat -c '%U %G %a' "$SOCKET")" "the socket is www-data's, 0660"
fi

# nginx: loopback only, workers as www-data (they reach the socket through
# its group, as on a real host), the installed snippets included from
# where the package put them.
NG=$T/nginx
mkdir -p "$NG/tmp"
chown www-data: "$NG/tmp"
cp /etc/nginx/fastcgi_params "$NG/fastcgi_params"
NGINX_PORT=$(free_port) || die "no free port"
cat >"$NG/nginx.conf" <<EOF
user www-data;
daemon off;
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/error.log notice;
events { worker_connections 64; }
http {
    access_log $NG/access.log;
    client_body_temp_path $NG/tmp/body;
    fastcgi_temp_path $NG/tmp/fastcgi;
    proxy_temp_path $NG/tmp/proxy;
    scgi_temp_path $NG/tmp/scgi;
    uwsgi_temp_path $NG/tmp/uwsgi;
    default_type application/octet-stream;
    upstream sharekeep { server unix:$SOCKET; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        server_name localhost;
        include $SHARE/nginx/sharekeep.conf;
        include $SHARE/nginx/sharekeep-errors.conf;
    }
}
EOF
"$NGINX_BIN" -t -q -e "$NG/error.log" -p "$NG/" -c "$NG/nginx.conf" >"$NG/test.out" 2>&1 ||
    { sed 's/^/#   /' "$NG/test.out"; die "nginx -t rejected the config with the installed snippets"; }
"$NGINX_BIN" -e "$NG/error.log" -p "$NG/" -c "$NG/nginx.conf" </dev/null >>"$NG/stdout.log" 2>&1 &
NGINX_PID=$!
wait_for "$NGINX_PID" 100 _nginx_ready || die "nginx did not start"

# The installed example site loads too (its certificate paths and ports
# pointed at scratch ones).
ES=$T/site
mkdir -p "$ES/tmp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=backup.example.com \
    -keyout "$ES/key.pem" -out "$ES/cert.pem" >>"$SK_LOG" 2>&1 || die "openssl req failed"
cp /etc/nginx/fastcgi_params "$ES/fastcgi_params"
sed -e "s|/etc/ssl/certs/backup.example.com.pem|$ES/cert.pem|" -e "s|/etc/ssl/private/backup.example.com.key|$ES/key.pem|" \
    -e "s|^\([[:space:]]*\)listen 80;|\1listen 127.0.0.1:$(free_port);|" \
    -e "s|^\([[:space:]]*\)listen 443 ssl http2;|\1listen 127.0.0.1:$(free_port) ssl http2;|" -e '/listen \[::\]/d' \
    "$SHARE/nginx/example-site.conf" >"$ES/site.conf"
{ nginx_conf_head "$ES" 1 64 notice; printf '    include %s;\n}\n' "$ES/site.conf"; } >"$ES/nginx.conf"
if "$NGINX_BIN" -t -q -e "$ES/error.log" -p "$ES/" -c "$ES/nginx.conf" >"$ES/test.out" 2>&1; then
    ok "nginx -t accepts the installed example-site.conf"
else
    not_ok "nginx -t rejects the installed example-site.conf"
    sed 's/^/#   /' "$ES/test.out" | head -n 10
fi

# The contract, through nginx, against the installed binary.
# lib.sh's req() authenticates with these.
# shellcheck disable=SC2034
SK_WEBHOOK_MODE=shared
# shellcheck disable=SC2034
SK_WEBHOOK_SECRET=$SECRET
# shellcheck disable=SC2034
SK_JWT_SECRET=$JWT
req GET /healthz
assert_status 200 "healthz through nginx"
assert_json .status ok "healthz: database reachable"

CID=deb-cust-$(rand_token 8)
S1="custodian-share-$(rand_token 40)"
req POST /webhook/backup "$(json clientId "$CID" share "$S1" backupMethod PASSWORD-SECP256K1)"
assert_status 200 "custodian backup (X-Webhook-Secret)"
assert_stored 1 true "custodian backup"
req POST /webhook/backup/fetch "$(json clientId "$CID")"
assert_fetched "$S1" "custodian fetch serves the share back"
REQ_AUTH=0 req POST /webhook/backup/fetch "$(json clientId "$CID")" -H "X-Webhook-Secret: not-$SECRET"
assert_error 401 "custodian fetch with a wrong secret"
not_revealed "custodian fetch with a wrong secret" "$S1"

CLI=deb-cli-$(rand_token 8)
S2="client-ciphertext-$(rand_token 40)"
req POST "/portal/clients/$CLI/backup" "$(json backupMethod PASSWORD-ED25519 cipherText "$S2")"
assert_status 200 "client share store (HS256 JWT)"
assert_stored 1 true "client share store"
req GET "/portal/clients/$CLI/backup?backupMethod=PASSWORD-ED25519"
assert_status 200 "client share fetch"
assert_body "$(jq -cn --arg s "$S2" '{backupMethod: "PASSWORD-ED25519", backupShare: $s, cipherText: $s}')" \
    "client share fetch serves the share back"
REQ_AUTH=0 req GET "/portal/clients/$CLI/backup?backupMethod=PASSWORD-ED25519" -- \
    -H "Authorization: Bearer $(client_token "$CID")"
assert_error 403 "client fetch with another client's token"
assert_sealed "$CID" 1 "$S1" "custodian share"
assert_sealed "$CLI" 2 "$S2" "client share"
ROWS=$(rows)
assert_eq 2 "$ROWS" "the database holds the two shares"

nginx_stop
if [ "$USE_SYSTEMD" = 0 ]; then
    # The operator stops what they started; systemd's units the prerm stops.
    if sk_stop; then ok "SIGTERM stops sharekeep cleanly"; else not_ok "SIGTERM stops sharekeep cleanly"; fi
    # spawn-fcgi made the socket file, and nothing removes it when the
    # program stops: the operator does, as for any spawn-fcgi program.
    rm -f "$SOCKET"
fi

# ---- 5. remove, then purge -------------------------------------------------------------------
KEEP=(keyring keyring.lock webhook-secrets jwt-hs256.secret)
sums() { (cd "$ETC" && sha256sum "${KEEP[@]}") 2>&1; }
SUMS=$(sums)

if apt_quiet remove -y sharekeep >"$T/remove.log" 2>&1; then
    ok "apt-get remove -y sharekeep"
else
    not_ok "apt-get remove -y sharekeep"
    tail -n 20 "$T/remove.log" | sed 's/^/#   /'
fi
assert_eq "deinstall ok config-files" "$(dpkg-query -W -f='${Status}' sharekeep 2>&1)" "dpkg: only the config files are left"
gone=""
for f in /usr/bin/sharekeep "$SHARE" /lib/systemd/system/sharekeep.service /lib/systemd/system/sharekeep.socket \
    /usr/lib/tmpfiles.d/sharekeep.conf /usr/share/doc/sharekeep /usr/share/man/man8/sharekeep.8.gz; do
    [ ! -e "$f" ] || gone+=" $f"
done
assert_empty "remove takes the program, its data, units and docs" "$gone"
check "remove keeps $CONF" test -f "$CONF"
assert_eq "$SUMS" "$(sums)" "remove keeps the keyring, its lock and the secrets, unchanged"
assert_empty "nothing of sharekeep runs after remove" "$(installed_running)"
check "remove leaves no $RUNDIR behind" test ! -e "$RUNDIR"

if apt_quiet purge -y sharekeep >"$T/purge.log" 2>&1; then
    ok "apt-get purge -y sharekeep"
else
    not_ok "apt-get purge -y sharekeep"
    tail -n 20 "$T/purge.log" | sed 's/^/#   /'
fi
INSTALLED=0
st=$(dpkg-query -W -f='${Status}' sharekeep 2>/dev/null)
check "dpkg no longer has sharekeep (status: ${st:-none})" test -z "$st" -o "${st##* }" = not-installed
check "purge removes the conffile" test ! -e "$CONF"
assert_eq "$(printf '%s\n' "${KEEP[@]}" | LC_ALL=C sort)" "$(ls -A "$ETC" 2>&1 | LC_ALL=C sort)" \
    "purge leaves exactly the operator's files in $ETC"
assert_eq "$SUMS" "$(sums)" "purge keeps the keyring, its lock and the secrets, unchanged"
assert_eq "root sharekeep 1770" "$(stat -c '%U %G %a' "$ETC" 2>&1)" "$ETC keeps protecting them (root:sharekeep 1770)"
assert_empty "purge removes the package's dpkg-statoverride entries" \
    "$(dpkg-statoverride --list 2>/dev/null | grep ' /etc/sharekeep')"
check "the sharekeep user and group stay (they own the keyring)" sh -c 'getent passwd sharekeep >/dev/null && getent group sharekeep >/dev/null'
assert_eq "$ROWS" "$(rows)" "the database keeps its shares"

# Everything else is as before the install: the only new paths are /etc/sharekeep
# and the operator's files in it; no path that was there is gone.
fs_list >"$T/fs.after"
expected=$(printf '%s\n' "$ETC" "${KEEP[@]/#/$ETC/}" | LC_ALL=C sort)
assert_eq "$expected" "$(LC_ALL=C comm -13 "$T/fs.before" "$T/fs.after")" \
    "after purge the file system holds nothing new but $ETC and the operator's files"
assert_empty "after purge no path that was there before is gone" "$(LC_ALL=C comm -23 "$T/fs.before" "$T/fs.after")"

# The leftovers were checked: the cleanup removes them (and the user, if
# this test made it).
