# A throwaway Cyrus IMAP 3.6 server for the integration tests (bash),
# run from Debian's packages unpacked into the test's own directory:
# cyrus-imapd conflicts with the installed dovecot-imapd, so it is never
# installed.
#
#	debs_unpack DEST PKG...         download PKG .debs into the cache
#	                                (once; reused across runs) and
#	                                unpack them all under DEST; returns
#	                                1 when a package cannot be had
#	cyrus_start [user:password...]  start master + imapd + lmtpd + idled
#	                                on a free 127.0.0.1 port; default
#	                                user sales, password secret; each
#	                                user gets INBOX and a "Sent" folder
#	                                with the \Sent special use. Exports
#	                                CYRUS_PORT and CYRUS_DIR. Returns 2
#	                                when the packages cannot be had.
#	                                CYRUS_IDLED=0: without idled;
#	                                CYRUS_IDLEPOLL: imapidlepoll (60)
#	cyrus_stop                      stop it (by the master's pid)
#	cyrus_protocol_log USER         every line USER's sessions sent and
#	                                received so far (Cyrus "telemetry":
#	                                configdirectory/log/USER)
#	cyrus_py ARGS...                t/lib/imap.py against this server
#
# Everything lives in "$TEST_TMP/cyrus": root/ (the unpacked packages),
# conf/ (configdirectory), spool/, sasldb2, imapd.conf, cyrus.conf and
# master.log. Logins are checked against the sasldb file, written with
# the unpacked saslpasswd2; plain-text LOGIN and AUTHENTICATE PLAIN are
# allowed without TLS. The processes drop to nobody:nogroup when the
# tests run as root. Mail is delivered with APPEND (cyrus_py append).
# Cyrus logs to syslog only, which the tests do not read; the master's
# own stderr goes to master.log.

INBOXD_DEB_CACHE=${INBOXD_DEB_CACHE:-/var/cache/inboxd-test/debs}
CYRUS_PACKAGES="cyrus-common cyrus-imapd sasl2-bin libical3 libxapian30"
CYRUS_ADMIN=cyrusadmin
_cyrus_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_cyrus_python=${PYTHON3:-/usr/bin/python3}
_cyrus_pid=

# The cache directory: the shared one when it can be written, else one
# under the build tree.
_debs_cache()
{
	if mkdir -p "$INBOXD_DEB_CACHE" 2>/dev/null && [ -w "$INBOXD_DEB_CACHE" ]; then
		echo "$INBOXD_DEB_CACHE"
	else
		mkdir -p "${top_builddir:-/tmp}/t/tmp/debs" && echo "${top_builddir:-/tmp}/t/tmp/debs"
	fi
}

# Downloads into the cache those of PKG... not there yet. One
# "apt-get update" is tried when a download fails (a fresh machine may
# have no package lists).
_debs_fetch()
{
	local cache=$1 pkg missing=() updated=
	shift
	for pkg in "$@"; do
		compgen -G "$cache/${pkg}_*.deb" >/dev/null || missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	while :; do
		if (cd "$cache" && timeout 120 apt-get download -q \
		    -o APT::Sandbox::User=root "${missing[@]}") \
		    >"$cache/download.log" 2>&1; then
			return 0
		fi
		if [ -n "$updated" ] || [ "$(id -u)" -ne 0 ]; then
			break
		fi
		updated=1
		timeout 300 apt-get update -q >>"$cache/download.log" 2>&1 || break
	done
	echo "debs_unpack: apt-get download ${missing[*]} failed:" >&2
	tail -n 5 "$cache/download.log" >&2
	return 1
}

debs_unpack()
{
	local dest=$1 cache pkg deb
	shift
	cache=$(_debs_cache) || return 1
	_debs_fetch "$cache" "$@" || return 1
	mkdir -p "$dest"
	for pkg in "$@"; do
		# The newest cached version of the package.
		deb=$(compgen -G "$cache/${pkg}_*.deb" | sort -V | tail -n 1)
		dpkg-deb -x "$deb" "$dest" || return 1
	done
}

# The unpacked tree's library directories, for LD_LIBRARY_PATH.
debs_libpath()
{
	local root=$1
	echo "$root/usr/lib/x86_64-linux-gnu:$root/usr/lib:$root/lib/x86_64-linux-gnu"
}

_cyrus_port_open()
{
	"$_cyrus_python" -c 'import socket, sys
s = socket.socket()
s.settimeout(1)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
    banner = s.recv(200)
except OSError:
    sys.exit(1)
sys.exit(0 if banner.startswith(b"* OK") else 1)' "$1"
}

cyrus_py()
{
	"$_cyrus_python" "$_cyrus_lib/imap.py" --port "$CYRUS_PORT" "$@"
}

_cyrus_write_config()
{
	local d=$CYRUS_DIR bin=$CYRUS_DIR/root/usr/lib/cyrus/bin user='' group='' idled=''
	# idled tells IDLEing sessions of new mail at once; without it they
	# look every imapidlepoll seconds.
	[ "${CYRUS_IDLED:-1}" = 1 ] &&
	    idled="  idled cmd=\"$bin/idled -C $d/imapd.conf\""
	if [ "$(id -u)" -eq 0 ]; then
		user="cyrus_user: nobody"
		group="cyrus_group: nogroup"
	else
		user="cyrus_user: $(id -un)"
		group="cyrus_group: $(id -gn)"
	fi
	cat >"$d/imapd.conf" <<EOF
# Written by t/lib/cyrus.sh for one test run.
$user
$group
configdirectory: $d/conf
# Also the SASL realm of the users in sasldb2.
servername: $CYRUS_REALM
partition-default: $d/spool
admins: $CYRUS_ADMIN
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: $d/sasldb2
sasl_mech_list: PLAIN LOGIN
virtdomains: off
altnamespace: yes
unixhierarchysep: yes
syslog_prefix: inboxd-test-cyrus
idlesocket: $d/conf/socket/idle
notifysocket: $d/conf/socket/notify
lmtpsocket: $d/conf/socket/lmtp
mboxname_lockpath: $d/conf/lock
# Tests open many short sessions.
maxlogins_per_user: 0
imapidlepoll: ${CYRUS_IDLEPOLL:-60}
EOF
	cat >"$d/cyrus.conf" <<EOF
# Written by t/lib/cyrus.sh for one test run.
START {
  recover cmd="$bin/ctl_cyrusdb -C $d/imapd.conf -r"
}
SERVICES {
  imap cmd="$bin/imapd -C $d/imapd.conf" listen="127.0.0.1:$CYRUS_PORT" prefork=0
  lmtpunix cmd="$bin/lmtpd -C $d/imapd.conf" listen="$d/conf/socket/lmtp" prefork=0
}
EVENTS {
}
DAEMON {
$idled
}
EOF
}

# saslpasswd2 from the unpacked sasl2-bin; the sasldb plugin itself is
# the installed libsasl2-modules-db.
_cyrus_add_user()
{
	local user=$1 password=$2
	printf '%s' "$password" |
	    LD_LIBRARY_PATH=$(debs_libpath "$CYRUS_DIR/root") \
	    "$CYRUS_DIR/root/usr/sbin/saslpasswd2" -f "$CYRUS_DIR/sasldb2" \
	    -u "$CYRUS_REALM" -p -c "$user"
}

_cyrus_owner()
{
	if [ "$(id -u)" -eq 0 ]; then
		echo nobody:nogroup
	else
		echo "$(id -un):$(id -gn)"
	fi
}

# Admin work over IMAP: create each user's INBOX, then, as the user,
# a Sent folder marked \Sent (CREATE-SPECIAL-USE, RFC 6154).
_cyrus_make_mailboxes()
{
	"$_cyrus_python" - "$CYRUS_PORT" "$CYRUS_ADMIN" "$CYRUS_ADMIN_PASSWORD" \
	    "$@" <<'PY'
import imaplib, sys
port, admin, apw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
users = [s.split(":", 1) for s in sys.argv[4:]]

def ok(res, what):
    if res[0] != "OK":
        sys.exit("cyrus: %s: %r" % (what, res))

c = imaplib.IMAP4("127.0.0.1", port, timeout=30)
ok(c.login(admin, apw), "admin login")
for user, _ in users:
    ok(c.create("user/" + user), "CREATE user/" + user)
c.logout()
for user, pw in users:
    c = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    ok(c.login(user, pw), "login " + user)
    ok(c._simple_command("CREATE", "Sent", "(USE (\\Sent))"), "CREATE Sent")
    ok(c.subscribe("Sent"), "SUBSCRIBE Sent")
    c.logout()
PY
}

# Starts the master and waits (at most 30 s) for the IMAP greeting.
_cyrus_launch()
{
	local i root=$CYRUS_DIR/root
	LD_LIBRARY_PATH=$(debs_libpath "$root") \
	    "$root/usr/lib/cyrus/bin/master" -C "$CYRUS_DIR/imapd.conf" \
	    -M "$CYRUS_DIR/cyrus.conf" -p "$CYRUS_DIR/master.pid" -D \
	    </dev/null >>"$CYRUS_DIR/master.log" 2>&1 &
	_cyrus_pid=$!
	for ((i = 0; i < 300; i++)); do
		if ! kill -0 "$_cyrus_pid" 2>/dev/null; then
			echo "cyrus_start: master exited; log:" >&2
			cat "$CYRUS_DIR/master.log" >&2
			_cyrus_pid=
			return 1
		fi
		_cyrus_port_open "$CYRUS_PORT" && return 0
		sleep 0.1
	done
	echo "cyrus_start: no IMAP greeting on 127.0.0.1:$CYRUS_PORT after 30 s; log:" >&2
	cat "$CYRUS_DIR/master.log" >&2
	cyrus_stop
	return 1
}

cyrus_start()
{
	local spec user password try d
	: "${TEST_TMP:?cyrus_start needs TEST_TMP}"
	CYRUS_DIR=$TEST_TMP/cyrus
	d=$CYRUS_DIR
	mkdir -p "$d"
	# shellcheck disable=SC2086
	debs_unpack "$d/root" $CYRUS_PACKAGES || return 2
	[ $# -gt 0 ] || set -- sales:secret
	CYRUS_REALM=inboxd-test
	CYRUS_ADMIN_PASSWORD=admin-$$
	rm -f "$d/sasldb2"
	_cyrus_add_user "$CYRUS_ADMIN" "$CYRUS_ADMIN_PASSWORD" || return 1
	for spec in "$@"; do
		user=${spec%%:*}
		password=secret
		case $spec in *:*) password=${spec#*:} ;; esac
		_cyrus_add_user "$user" "$password" || return 1
		# The telemetry directory: imapd then logs every session of
		# this user, both directions, into a file per process.
		mkdir -p "$d/conf/log/$user"
	done
	mkdir -p "$d/conf/socket" "$d/conf/lock" "$d/conf/proc" "$d/conf/db" \
	    "$d/spool"
	chmod 0755 "$TEST_TMP" "$d"
	chown -R "$(_cyrus_owner)" "$d/conf" "$d/spool" "$d/sasldb2"
	for try in 1 2 3; do
		CYRUS_PORT=$(free_port)
		export CYRUS_PORT CYRUS_DIR
		_cyrus_write_config
		if _cyrus_launch; then
			_cyrus_make_mailboxes "$@" || {
				cyrus_stop
				return 1
			}
			return 0
		fi
		[ "$try" -lt 3 ] && echo "cyrus_start: retrying" >&2
	done
	return 1
}

cyrus_stop()
{
	local pid=$_cyrus_pid i
	[ -n "$pid" ] || return 0
	_cyrus_pid=
	kill -TERM "$pid" 2>/dev/null || return 0
	# The master stops its children itself.
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "cyrus_stop: master $pid still running after 10 s; killing it" >&2
		kill -KILL "$pid" 2>/dev/null || :
	fi
	wait "$pid" 2>/dev/null || :
}

cyrus_protocol_log()
{
	cat "$CYRUS_DIR/conf/log/$1"/* 2>/dev/null || :
}
