#!/bin/bash
# The Debian package, the way an administrator meets it: built with
# dpkg-buildpackage from a clean copy of the tree, checked with lintian,
# installed with apt-get; its files, modes and system user; its shipped
# configuration and one with an account pass --check-config; the installed
# daemon, run as the inboxd user with the migrations from
# /usr/share/inboxd/sql, ingests from the test Dovecot into the test
# PostgreSQL; apt-get purge removes it all.
#
# It installs and removes a system package, so it runs only as root with
# INBOXD_TEST_DEB=1 (CI sets it); otherwise it is skipped.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/ops.sh"

if [ "$(id -u)" -ne 0 ]; then
	skip_all "installs a system package: needs root (and INBOXD_TEST_DEB=1)"
fi
if [ "${INBOXD_TEST_DEB:-}" != 1 ]; then
	skip_all "installs and purges the inboxd system package: set INBOXD_TEST_DEB=1 to run it"
fi
# dpkg-buildpackage sets it for debian/rules: never build a package from
# inside a package build.
if [ -n "${DEB_RULES_REQUIRES_ROOT:-}" ]; then
	skip_all "running inside a package build"
fi
for tool in dpkg-buildpackage lintian apt-get dpkg-query runuser flock; do
	command -v "$tool" >/dev/null || bail_out "$tool is not installed"
done

export DEBIAN_FRONTEND=noninteractive
# Wait for another apt or dpkg run rather than fail at once.
APT=(apt-get -y -q -o DPkg::Lock::Timeout=300)
INBOXD_TEST_TIMEOUT=60
DEB_DIR=$TEST_TMP/deb
SRC=$DEB_DIR/inboxd
mkdir -p "$SRC"
chmod 0755 "$TEST_TMP" "$DEB_DIR"
USER=sales@example.com
PASS=secret
SECRET=/etc/inboxd/secrets/test-sales

INSTALLED=
purge_package()
{
	rm -f "$SECRET"
	[ -n "$INSTALLED" ] || return 0
	INSTALLED=
	timeout 400 "${APT[@]}" purge inboxd >"$DEB_DIR/purge.log" 2>&1 ||
	    dpkg --purge inboxd >>"$DEB_DIR/purge.log" 2>&1
}
# A test that stops half-way must not leave the package behind.
ops_on_exit purge_package

# A clean copy of the tree ----------------------------------------------------------

if git -C "$top_srcdir" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# Tracked files and new ones not ignored: what a checkout builds from.
	git -C "$top_srcdir" ls-files -z --cached --others --exclude-standard |
	    (cd "$top_srcdir" && xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
	    tar -C "$top_srcdir" --null -T - -cf - | tar -C "$SRC" -xf - ||
	    bail_out "copying the tree failed"
	how="git ls-files"
else
	rsync -a --exclude='/build*/' --exclude='/autom4te.cache/' \
	    --exclude='*.o' --exclude='*.deb' --exclude='/debian/inboxd/' \
	    --exclude='/debian/.debhelper/' --exclude='/debian/files' \
	    --exclude='/debian/debhelper-build-stamp' --exclude='/debian/*.substvars' \
	    --exclude='/debian/*.debhelper*' --exclude='/config.status' \
	    --exclude='/config.log' --exclude='Makefile' "$top_srcdir/" "$SRC/" ||
	    bail_out "copying the tree failed"
	how="rsync"
fi
ok "the copy ($how) has debian/control and configure.ac" \
    test -f "$SRC/debian/control" -a -f "$SRC/configure.ac"
nok "the copy has no object files or build directories" \
    test -n "$(find "$SRC" \( -name '*.o' -o -name config.status \) -print -quit)"

# Build ----------------------------------------------------------------------------------

note "dpkg-buildpackage -us -uc -b (log: $DEB_DIR/build.log)"
# A clean environment: the build runs "make check" itself, which must not
# inherit this run's make variables (MAKEFLAGS may carry TESTS=...) or
# INBOXD_TEST_DEB, or it would run this test again, inside the build.
rc=0
(cd "$SRC" && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="${HOME:-/root}" \
    LC_ALL=C.UTF-8 DEB_BUILD_OPTIONS="parallel=${JOBS:-2}" \
    timeout 1200 dpkg-buildpackage -us -uc -b) >"$DEB_DIR/build.log" 2>&1 || rc=$?
is "$rc" 0 "dpkg-buildpackage -us -uc -b exits 0"
if [ "$rc" -ne 0 ]; then
	diag "$(tail -n 40 "$DEB_DIR/build.log")"
	bail_out "the package did not build"
fi
DEB=$(ls "$DEB_DIR"/inboxd_*.deb 2>/dev/null | grep -v dbgsym | head -n 1)
ok "a binary package was built ($(basename "${DEB:-none}"))" test -n "$DEB" -a -f "$DEB"
[ -n "$DEB" ] || bail_out "no inboxd_*.deb"

# lintian -----------------------------------------------------------------------------

rc=0
lintian --tag-display-limit 0 --info --pedantic --show-overrides "$DEB" \
    >"$DEB_DIR/lintian.log" 2>&1 || rc=$?
note "$(lintian --version): $(grep -c '^[EWIPXO]: ' "$DEB_DIR/lintian.log") tags (overridden ones included)"
while IFS= read -r line; do
	note "  $line"
done < <(grep '^[EWIPXO]: ' "$DEB_DIR/lintian.log")
errors=$(grep '^E: ' "$DEB_DIR/lintian.log") || :
is "$errors" "" "lintian reports no errors"
ok "lintian ran (no internal failure)" \
    test "$(grep -c '^internal error\|^Lintian .* failed' "$DEB_DIR/lintian.log")" -eq 0

# Install ---------------------------------------------------------------------------------

start_servers "$USER:$PASS"
mail_deliver "$USER" "$PASS" 3 deb

# One run of this test at a time on a machine, from here to the purge:
# two would install and purge the same package under each other.
exec {lock_fd}>/var/lock/inboxd-deb-package-test.lock
flock -w 900 "$lock_fd" || bail_out "another run of this test holds the lock since 15 minutes"
state=$(dpkg-query -W -f='${db:Status-Status}' inboxd 2>/dev/null) || state=
if [ -n "$state" ] && [ "$state" != not-installed ]; then
	bail_out "the inboxd package is on this machine already ($state); purge it first (apt-get purge inboxd)"
fi

INSTALLED=1
rc=0
(cd "$DEB_DIR" && timeout 600 "${APT[@]}" install "./$(basename "$DEB")") \
    >"$DEB_DIR/install.log" 2>&1 || rc=$?
is "$rc" 0 "apt-get install -y ./$(basename "$DEB") exits 0"
[ "$rc" -eq 0 ] || diag "$(tail -n 30 "$DEB_DIR/install.log")"
is "$(dpkg-query -W -f='${Status}' inboxd 2>/dev/null)" "install ok installed" \
    "dpkg says the package is installed"

# file_is PATH MODE OWNER:GROUP
file_is()
{
	is "$(stat -c '%a %U:%G' "$1" 2>&1)" "$2 $3" "$1 is $2 $3"
}

ok "/usr/sbin/inboxd is an executable" test -f /usr/sbin/inboxd -a -x /usr/sbin/inboxd
ok "/usr/bin/inboxctl is an executable" test -f /usr/bin/inboxctl -a -x /usr/bin/inboxctl
want_sql=$(cd "$top_srcdir/sql" && ls *.sql | sort | tr '\n' ' ')
got_sql=$(cd /usr/share/inboxd/sql 2>/dev/null && ls *.sql | sort | tr '\n' ' ')
is "$got_sql" "$want_sql" "/usr/share/inboxd/sql has the migrations of the tree"
file_is /etc/inboxd/inboxd.conf 640 root:inboxd
file_is /etc/inboxd/secrets 750 root:inboxd
like "$(dpkg-query -W -f='${Conffiles}' inboxd)" '/etc/inboxd/inboxd\.conf [0-9a-f]{32}' \
    "/etc/inboxd/inboxd.conf is a conffile"
for man in man8/inboxd.8.gz man5/inboxd.conf.5.gz man1/inboxctl.1.gz; do
	ok "man page /usr/share/man/$man" test -s "/usr/share/man/$man"
	if [ -s "/usr/share/man/$man" ] && command -v man >/dev/null; then
		ok "man page $man renders without warnings" \
		    test -z "$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
		    man --warnings -l "/usr/share/man/$man" 2>&1 >/dev/null)"
	fi
done
# The guide for the applications that read the database, and its workers.
ok "doc/consumers.md is in /usr/share/doc/inboxd" \
    test -s /usr/share/doc/inboxd/consumers.md -o \
    -s /usr/share/doc/inboxd/consumers.md.gz
for ex in worker.py worker.js; do
	ok "doc/examples/$ex is in /usr/share/doc/inboxd/examples" \
	    test -s "/usr/share/doc/inboxd/examples/$ex" -o \
	    -s "/usr/share/doc/inboxd/examples/$ex.gz"
done
unit=
for d in /lib/systemd/system /usr/lib/systemd/system; do
	[ -f "$d/inboxd.service" ] && unit=$d/inboxd.service && break
done
ok "the unit file is installed (${unit:-none})" test -n "$unit"
if [ -n "$unit" ]; then
	like "$(grep '^ExecStart=' "$unit")" '^ExecStart=/usr/sbin/inboxd --config /etc/inboxd/inboxd.conf' \
	    "the unit starts /usr/sbin/inboxd with /etc/inboxd/inboxd.conf"
	is "$(sed -n 's/^Type=//p' "$unit")" notify "the unit is Type=notify"
	is "$(sed -n 's/^User=//p' "$unit")" inboxd "the unit runs as inboxd"
	like "$(grep '^ExecReload=' "$unit")" 'HUP' "ExecReload sends SIGHUP"
	if command -v systemd-analyze >/dev/null; then
		out=$(timeout 60 systemd-analyze verify "$unit" 2>&1) && rc=0 || rc=$?
		is "$rc:$out" "0:" "systemd-analyze verify finds nothing wrong with the unit"
	fi
fi
nok "the service is not enabled on installation" \
    test -e /etc/systemd/system/multi-user.target.wants/inboxd.service

# The system user ------------------------------------------------------------------------

pw=$(getent passwd inboxd) || pw=
ok "the inboxd user exists ($pw)" test -n "$pw"
IFS=: read -r _ _ uid gid _ home shell <<<"$pw"
ok "inboxd is a system user (uid ${uid:-?} < 1000)" test "${uid:-1000}" -lt 1000
is "$home" /var/lib/inboxd "its home is /var/lib/inboxd"
like "$shell" '/(nologin|false)$' "it has no login shell"
gr=$(getent group inboxd) || gr=
ok "the inboxd group exists ($gr)" test -n "$gr"
is "$(id -gn inboxd 2>&1)" inboxd "the user's primary group is inboxd"

# --check-config on the shipped file and on one with an account -----------------------------

out=$(/usr/sbin/inboxd --config /etc/inboxd/inboxd.conf --check-config 2>&1) && rc=0 || rc=$?
is "$rc" 0 "inboxd --config /etc/inboxd/inboxd.conf --check-config exits 0"
like "$out" 'configuration OK, 0 accounts' "the shipped file has no account"
out=$(runuser -u inboxd -- /usr/sbin/inboxd --config /etc/inboxd/inboxd.conf \
    --check-config 2>&1) && rc=0 || rc=$?
is "$rc" 0 "the inboxd user can check the shipped file too"
[ "$rc" -eq 0 ] || diag "$out"

install -m 0640 -o root -g inboxd /dev/null "$SECRET"
printf '%s\n' "$PASS" >"$SECRET"
CONF=$DEB_DIR/inboxd.conf
cp /etc/inboxd/inboxd.conf "$CONF"
config_imap sales "$USER" "$PASS" "password_file = $SECRET" >>"$CONF"
chown root:inboxd "$CONF"
chmod 0640 "$CONF"
out=$(/usr/sbin/inboxd --config "$CONF" --check-config 2>&1) && rc=0 || rc=$?
is "$rc" 0 "the shipped file with an account appended passes --check-config"
like "$out" 'configuration OK, 1 account' "and has one account"
[ "$rc" -eq 0 ] || diag "$out"

# Point it at the test database and run the installed daemon as inboxd.
sed -i "s|^conninfo = .*|conninfo = $INBOXD_TEST_CONNINFO|" "$CONF"
out=$(runuser -u inboxd -- /usr/sbin/inboxd --config "$CONF" --check-config 2>&1) &&
    rc=0 || rc=$?
is "$rc" 0 "--check-config as inboxd (reading the 0640 root:inboxd secret) exits 0"
[ "$rc" -eq 0 ] || diag "$out"

rc=0
runuser -u inboxd -- env -u INBOXD_SQL_DIR timeout --kill-after=10 60 \
    /usr/sbin/inboxd --config "$CONF" --once </dev/null >"$TEST_TMP/inboxd.deb.log" 2>&1 ||
    rc=$?
is "$rc" 0 "the installed inboxd --once, as inboxd, exits 0"
[ "$rc" -eq 0 ] || diag "$(tail -n 20 "$TEST_TMP/inboxd.deb.log")"
n_sql=$(ls "$top_srcdir"/sql/*.sql | wc -l)
is "$(sql "SELECT count(*) FROM schema_migrations")" "$n_sql" \
    "the $n_sql migrations of /usr/share/inboxd/sql were applied (INBOXD_SQL_DIR unset)"
is "$(sql "SELECT count(*) FROM conversation_messages")" 3 "the 3 messages are stored"
is "$(sql "SELECT count(*) FROM jobs WHERE kind = 'embed_message'")" 3 \
    "with their embed_message jobs"
is "$(sql "SELECT name FROM mail_accounts")" sales "for account sales"
out=$(runuser -u inboxd -- env -u INBOXD_SQL_DIR /usr/bin/inboxctl --config "$CONF" status 2>&1) &&
    rc=0 || rc=$?
is "$rc" 0 "the installed inboxctl status, as inboxd, exits 0"
like "$out" sales "and shows the account"

# Purge ----------------------------------------------------------------------------------------

rm -f "$SECRET"
INSTALLED=
rc=0
timeout 400 "${APT[@]}" purge inboxd >"$DEB_DIR/purge.log" 2>&1 || rc=$?
is "$rc" 0 "apt-get purge -y inboxd exits 0"
[ "$rc" -eq 0 ] || diag "$(tail -n 20 "$DEB_DIR/purge.log")"
like "$(dpkg-query -W -f='${Status}' inboxd 2>&1)" 'not-installed|no packages found' \
    "dpkg says the package is gone"
for f in /usr/sbin/inboxd /usr/bin/inboxctl /usr/share/inboxd /etc/inboxd \
    /usr/share/man/man8/inboxd.8.gz /usr/share/man/man5/inboxd.conf.5.gz \
    /usr/share/man/man1/inboxctl.1.gz /lib/systemd/system/inboxd.service \
    /usr/lib/systemd/system/inboxd.service /usr/share/doc/inboxd /var/lib/inboxd; do
	nok "$f is gone" test -e "$f"
done
is "$(dpkg-statoverride --list /etc/inboxd/inboxd.conf 2>&1)" "" \
    "no statoverride left for /etc/inboxd/inboxd.conf"
is "$(dpkg-statoverride --list /etc/inboxd/secrets 2>&1)" "" \
    "no statoverride left for /etc/inboxd/secrets"
if getent passwd inboxd >/dev/null; then
	note "the inboxd user stays after the purge (as debian/inboxd.postrm says)"
fi

done_testing
