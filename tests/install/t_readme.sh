#!/bin/bash
# tests/install/t_readme.sh: follow README.md's Install section and its key
# rotation to the letter, as a new operator on a fresh Debian 12 host would.
#
# Every fenced block that README.md marks with an `<!-- install-test -->`
# line is taken out of the README and run, in the README's order, as it is
# written (`bash -e -o pipefail`, one shell per block, from a root shell
# with a fresh root's PATH, in a copy of this source tree). The README and
# this test cannot drift apart: a command that fails fails the test, and
# the test has no install steps of its own.
#
# Markers:  <!-- install-test -->                   run in the scratch host
#           <!-- install-test: host -->             run on this machine (the
#                                                   package installs; apt needs
#                                                   the network)
#           <!-- install-test: stdin=portal-secret -->
#                                                   the block reads what the
#                                                   operator pastes: Portal's
#                                                   dashboard secret, a plain
#                                                   string, is fed on stdin
#           <!-- install-test: nginx-own-server --> the ```nginx recipe for an
#                                                   existing server block: put
#                                                   where its comments say
#                                                   and checked with nginx -t
#
# The scratch host: private mount, network and pid namespaces (unshare), so
# the README's literal paths are used and nothing of this machine changes.
# /etc is a copy of this machine's without sharekeep, nginx's sharekeep
# site or any PostgreSQL cluster; /usr/local, /var/lib/postgresql, /var/log
# and /run are empty; the network is a loopback of its own, so nginx's
# 80/443 and PostgreSQL's 5432 are reachable from nowhere else. When the
# namespace's first process exits, every process started in it goes too.
#
# After the Install blocks the test plays Portal through nginx (HTTPS, the
# plain secret in X-Webhook-Secret, 6 KB shares) and checks what Install
# promised (file owners and modes, the pidfile, the log); then it runs the
# rotation block and checks that every record moved and still fetches back
# byte for byte; then the own-server-block recipe.
#
# Run as root: bash tests/install/t_readme.sh (SK_KEEP_TMP=1 keeps the
# scratch directory). Last line: "N passed, N failed"; exit 0, 1 (a check
# failed) or 99 (could not run).
set -uo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
README=$SRC/README.md
# the inner run (in the namespaces) goes on counting from the outer one
PASSED=${SK_README_PASSED:-0}
FAILED=${SK_README_FAILED:-0}
CHECKS=${SK_README_CHECKS:-0}

ok() { CHECKS=$((CHECKS + 1)); PASSED=$((PASSED + 1)); echo "ok $CHECKS - $*"; }
not_ok() { CHECKS=$((CHECKS + 1)); FAILED=$((FAILED + 1)); echo "not ok $CHECKS - $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
assert_eq() {
    if [ "$1" == "$2" ]; then ok "$3"; else
        not_ok "$3"
        echo "#   expected: $(printf '%s' "$1" | head -c 300)"
        echo "#   actual:   $(printf '%s' "$2" | head -c 300)"
    fi
}
finish() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && exit 0
    exit 1
}
die() { echo "t_readme: $*" >&2; echo "$PASSED passed, $FAILED failed"; exit 99; }

# run_block FILE OPTS LOG: one README block, as written.
run_block() {
    local file=$1 opts=$2 log=$3 rc input=/dev/null
    case $opts in *stdin=portal-secret*) input=$S/portal-secret ;; esac
    (cd "$S/src" && env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root USER=root LOGNAME=root SHELL=/bin/bash LANG=C.UTF-8 TERM=dumb \
        bash -e -o pipefail -x "$file" <"$input" >"$log" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ]; then
        ok "README block $(basename "$file" .sh) ($opts): $(grep -v '^#' "$file" | head -n 1 | cut -c1-70)"
    else
        not_ok "README block $(basename "$file" .sh) exited $rc"
        sed 's/^/#   | /' "$file"
        tail -n 40 "$log" | sed 's/^/#   > /'
    fi
    return "$rc"
}

# ============================================================================
# Outside: extract the blocks, run the host ones, enter the namespaces.
# ============================================================================
if [ "${1:-}" != --inside ]; then
    [ "$(id -u)" = 0 ] || die "must run as root (it installs packages and uses namespaces)"
    for b in unshare awk curl jq openssl tar; do
        command -v "$b" >/dev/null || die "$b not found"
    done
    unshare --mount --net --pid --fork --mount-proc true 2>/dev/null ||
        die "unshare --mount --net --pid cannot run here (needs CAP_SYS_ADMIN)"

    S=$(mktemp -d /tmp/sk-readme.XXXXXX) || die "mktemp"
    chmod 0755 "$S"
    cleanup() {
        if [ "${SK_KEEP_TMP:-0}" = 1 ]; then echo "# kept $S"; else rm -rf "$S"; fi
    }
    trap cleanup EXIT

    # The marked blocks, numbered in README order, each with its options.
    mkdir -p "$S/blocks" "$S/logs"
    awk -v dir="$S/blocks" '
        /^<!-- install-test(: [^>]*)? -->$/ {
            opts = $0; sub(/^<!-- install-test:? ?/, "", opts); sub(/ ?-->$/, "", opts)
            if (opts == "") opts = "run"
            want = 1; next
        }
        want && /^```/ {
            n++; f = sprintf("%s/%02d.sh", dir, n)
            printf "%s\n", opts > (f ".opts"); close(f ".opts")
            printf "" > f
            want = 0; inblock = 1; next
        }
        inblock && /^```/ { inblock = 0; close(f); next }
        inblock { print > f; next }
        want && NF { print "t_readme: a marker at line " NR " is not followed by a fenced block" > "/dev/stderr"; exit 2 }
    ' "$README" || die "could not extract README blocks"
    nblocks=$(find "$S/blocks" -name '*.sh' | wc -l)
    # Install (packages, build, database, mapping, keyring, two secrets,
    # nginx site, certificate, nginx start, own server block, spawn-fcgi,
    # try it) and the rotation: a marker lost in an edit shows up here.
    if [ "$nblocks" -ge 13 ]; then
        ok "README.md has $nblocks install-test blocks"
    else
        not_ok "README.md has $nblocks install-test blocks, expected at least 13"
        finish
    fi

    # Portal's secret as its dashboard shows it: a plain string, no prefix.
    openssl rand -hex 32 >"$S/portal-secret"

    # The source tree as a checkout has it (no build outputs).
    mkdir -p "$S/src"
    if git -C "$SRC" rev-parse --git-dir >/dev/null 2>&1; then
        (cd "$SRC" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -xf - -C "$S/src" ||
            die "could not copy the source tree"
    else
        cp -a "$SRC/." "$S/src/" || die "could not copy the source tree"
    fi

    # The host blocks (packages) run on this machine. As scripts/deps does,
    # no service is started by the install (Debian's postgresql and nginx
    # would otherwise start theirs on 5432 and 80).
    made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    host_rc=0
    for f in "$S"/blocks/*.sh; do
        opts=$(cat "$f.opts")
        case $opts in host*) ;; *) continue ;; esac
        run_block "$f" "$opts" "$S/logs/$(basename "$f" .sh).log" || host_rc=1
    done
    [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ "$host_rc" = 0 ] || finish

    unshare --mount --net --pid --fork --mount-proc -- \
        env SK_README_PASSED="$PASSED" SK_README_FAILED="$FAILED" SK_README_CHECKS="$CHECKS" \
        bash "$0" --inside "$S"
    rc=$?
    # the inner run printed its own counts, these included
    exit "$rc"
fi

# ============================================================================
# Inside the namespaces: a scratch host with this machine's packages.
# ============================================================================
S=$2
mount --make-rprivate / || die "mount --make-rprivate"
ip link set lo up || die "loopback"

cp -a /etc "$S/etc" || die "copy /etc"
rm -rf "$S/etc/sharekeep" "$S/etc/postgresql"/* "$S/etc/nginx/sites-enabled/sharekeep" \
    "$S/etc/nginx/sites-available/sharekeep" "$S/etc/nginx/conf.d/sharekeep-upstream.conf" \
    "$S/etc/ssl/certs/backup.example.com.pem" "$S/etc/ssl/private/backup.example.com.key"
mount --bind "$S/etc" /etc || die "bind /etc"
mkdir -p "$S/usr-local" "$S/var-lib-postgresql" "$S/var-log/nginx" "$S/var-log/postgresql"
chown postgres:postgres "$S/var-lib-postgresql"
chown root:adm "$S/var-log/nginx"
chown root:postgres "$S/var-log/postgresql" && chmod 1775 "$S/var-log/postgresql"
mount --bind "$S/usr-local" /usr/local || die "bind /usr/local"
mount --bind "$S/var-lib-postgresql" /var/lib/postgresql || die "bind /var/lib/postgresql"
mount --bind "$S/var-log" /var/log || die "bind /var/log"
mount -t tmpfs -o mode=0755 tmpfs /run || die "tmpfs /run"

# ---- the Install section and the rotation, block by block -------------------
rotation=""
ownserver=""
for f in "$S"/blocks/*.sh; do
    opts=$(cat "$f.opts")
    case $opts in
        host*) continue ;;
        nginx-own-server*) ownserver=$f; continue ;;
    esac
    if grep -q 'sharekeep rotate' "$f"; then rotation=$f; continue; fi
    run_block "$f" "$opts" "$S/logs/$(basename "$f" .sh).log" || finish
done
[ -n "$rotation" ] || { not_ok "no marked block runs sharekeep rotate"; finish; }
[ -n "$ownserver" ] || { not_ok "no marked nginx recipe for an existing server block"; finish; }

# ---- what Install promised ----------------------------------------------------
assert_eq "root sharekeep 1770" "$(stat -c '%U %G %a' /etc/sharekeep)" "/etc/sharekeep: root:sharekeep 1770"
assert_eq "root sharekeep 640" "$(stat -c '%U %G %a' /etc/sharekeep/sharekeep.conf)" "the config: root:sharekeep 0640"
for f in keyring webhook-secrets jwt-hs256.secret; do
    assert_eq "sharekeep 600" "$(stat -c '%U %a' "/etc/sharekeep/$f")" "/etc/sharekeep/$f: the user sharekeep's, 0600"
done
assert_eq "$(cat "$S/portal-secret")" "$(cat /etc/sharekeep/webhook-secrets)" "the pasted Portal secret is the file, as pasted"
pid=$(cat /run/sharekeep/sharekeep.pid 2>/dev/null)
assert_eq "sharekeep sharekeep" "$(stat -c %U "/proc/${pid:-0}" 2>&1) $(cat "/proc/${pid:-0}/comm" 2>&1)" \
    "the pidfile names sharekeep's master, running as the user sharekeep"
assert_eq "www-data www-data 660" "$(stat -c '%U %G %a' /run/sharekeep/sharekeep.sock)" \
    "the socket: www-data's, 0660"

# Portal's calls through nginx, HTTPS, the plain secret in X-Webhook-Secret.
SECRET=$(cat "$S/portal-secret")
BASE=https://backup.example.com
CURL=(curl -sk --resolve backup.example.com:443:127.0.0.1 -o "$S/body" -w '%{http_code}')
portal() { # portal PATH JSON-FILE: prints the status, body in $S/body
    "${CURL[@]}" "$BASE/webhook/$1" -H "X-Webhook-Secret: $SECRET" \
        -H 'Content-Type: application/json' --data-binary "@$2"
}
# A 6,000-character share, as Portal's SDK sends one (JSON text).
share_json() { # share_json FILE TAG
    printf '{"version":1,"tag":"%s","p":"%s"}' "$2" "$(openssl rand -hex 2970 | tr -d '\n')" >"$1"
}
share_json "$S/share1" a
share_json "$S/share2" b
jq -n --rawfile s "$S/share1" '{clientId:"readme-client", share:$s, backupMethod:"PASSWORD-SECP256K1"}' >"$S/store1.json"
jq -n --rawfile s "$S/share2" '{clientId:"readme-client", share:$s, backupMethod:"GDRIVE-ED25519"}' >"$S/store2.json"
printf '{"clientId":"readme-client"}' >"$S/fetch.json"

fetch_matches() { # both shares back, byte for byte
    [ "$(portal backup/fetch "$S/fetch.json")" = 200 ] || return 1
    jq -j '.backupShares | map(select(. == $a)) | length' --rawfile a "$S/share1" "$S/body" | grep -qx 1 &&
        jq -j '.backupShares | map(select(. == $b)) | length' --rawfile b "$S/share2" "$S/body" | grep -qx 1 &&
        [ "$(jq '.backupShares | length' "$S/body")" = 2 ]
}

assert_eq 200 "$("${CURL[@]}" "$BASE/healthz")" "healthz through nginx (HTTPS)"
assert_eq 200 "$(portal backup "$S/store1.json")" "custodian backup with Portal's plain X-Webhook-Secret"
assert_eq 200 "$(portal backup "$S/store2.json")" "a second backup method"
check "fetch: both shares back, byte for byte" fetch_matches
SECRET_SAVED=$SECRET SECRET=wrong-secret-of-sixteen-chars
assert_eq 401 "$(portal backup "$S/store1.json")" "a wrong secret: 401"
SECRET=$SECRET_SAVED
check "sharekeep's log (spawn-fcgi -n, start-stop-daemon --output) has its request lines" \
    grep -q 'route=' /var/log/sharekeep/sharekeep.log
check "the log holds neither a share nor the secret" \
    sh -c '! grep -qF -e "$(cut -c 30-90 "$1")" -e "$2" /var/log/sharekeep/sharekeep.log' _ "$S/share1" "$SECRET"

# ---- the rotation, as the README lists it ---------------------------------------
run_block "$rotation" run "$S/logs/rotation.log"
check "every line of the rotation list ran (rotate, reload, rewrap, status, verify, retire, reload)" \
    test "$(grep -c '^+ ' "$S/logs/rotation.log")" -ge 7
keks=$(runuser -u postgres -- psql -d sharekeep -Atc "SELECT string_agg(DISTINCT kek_id::text, ',') FROM share_record")
assert_eq 2 "$keks" "after the rewrap every record is under KEK 2"
check "KEK 1 is retired in the key file" grep -qE '^kek 1 retired' /etc/sharekeep/keyring
check "after rotation and reloads, fetch still returns both shares byte for byte" fetch_matches
share_json "$S/share3" c
jq -n --rawfile s "$S/share3" '{clientId:"readme-client-2", share:$s, backupMethod:"PASSWORD-SECP256K1"}' >"$S/store3.json"
assert_eq 200 "$(portal backup "$S/store3.json")" "a backup after the rotation"
keks=$(runuser -u postgres -- psql -d sharekeep -Atc "SELECT string_agg(DISTINCT kek_id::text, ',') FROM share_record")
assert_eq 2 "$keks" "... sealed under the new KEK"

# ---- an admin command from the root shell, without runuser ------------------------
# The habit the README warns about: refused, naming the user to run as and
# the command to type, and nothing of the service's changed.
for cmd in status rotate; do
    (cd / && env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        sharekeep "$cmd" >"$S/logs/root-$cmd.log" 2>&1)
    rc=$?
    check "sharekeep $cmd as root is refused (exit $rc) and says: runuser -u sharekeep -- sharekeep $cmd" \
        sh -c '[ "$1" -ne 0 ] && grep -qF "run it as sharekeep, e.g. runuser -u sharekeep -- sharekeep $2" "$3" &&
               ! grep -q chown "$3"' _ "$rc" "$cmd" "$S/logs/root-$cmd.log"
done
assert_eq "sharekeep 600 sharekeep" \
    "$(stat -c '%U %a' /etc/sharekeep/keyring) $(stat -c %U /etc/sharekeep/keyring.lock 2>&1)" \
    "... and the keyring and its lock file are still the user sharekeep's"
check "... and KEK 2 is still the newest in the key file" sh -c '! grep -q "^kek 3" /etc/sharekeep/keyring'

# ---- the recipe for a server block of your own ------------------------------------
# Its comments say where each part goes: the lines before "# in your TLS
# server" into the file its first comment names, the rest into a server
# block (here a plain one on 127.0.0.1:8081, in place of the example site).
conf_d=$(sed -n '1s/^# *\(\/etc\/nginx\/[^ ]*\).*/\1/p' "$ownserver")
if [ -n "$conf_d" ]; then
    awk '/^# in your TLS server/ { exit } { print }' "$ownserver" >"$conf_d"
    {
        echo 'server {'
        echo '    listen 127.0.0.1:8081;'
        echo '    server_name own.example;'
        awk 'p { print "    " $0 } /^# in your TLS server/ { p = 1 }' "$ownserver"
        echo '}'
    } >/etc/nginx/sites-enabled/own-server
    rm -f /etc/nginx/sites-enabled/sharekeep
    if nginx -t >"$S/logs/own-server.log" 2>&1 && nginx -s reload >>"$S/logs/own-server.log" 2>&1; then
        ok "nginx -t and reload with the upstream in $conf_d and the snippet in a server block"
        sleep 1
        BASE=http://own.example:8081
        CURL=(curl -s --resolve own.example:8081:127.0.0.1 -o "$S/body" -w '%{http_code}')
        check "fetch through that server block: both shares byte for byte" fetch_matches
    else
        not_ok "nginx -t with the upstream in $conf_d and the snippet in a server block"
        sed 's/^/#   /' "$S/logs/own-server.log"
    fi
else
    not_ok "the nginx recipe's first comment names no file under /etc/nginx"
fi

finish
