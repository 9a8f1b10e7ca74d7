# A throwaway Dovecot 2.3 IMAP server for the integration tests (bash).
#
#	dovecot_start [user[:password]...]   start; default user sales@example.com
#	                                     with password "secret"; exports
#	                                     IMAP_PORT, IMAP_HOST, DOVECOT_DIR
#	                                     DOVECOT_NO_SENT=1: no Sent folder
#	                                     DOVECOT_EXTRA: lines added to
#	                                     dovecot.conf
#	                                     DOVECOT_IMAPS_PORT: a port for
#	                                     implicit TLS (needs ssl settings
#	                                     in DOVECOT_EXTRA)
#	                                     DOVECOT_RAWLOG=1: every IMAP
#	                                     session's traffic after login in
#	                                     $DOVECOT_DIR/rawlog (*.in: what
#	                                     the client sent; default off)
#	dovecot_stop                         stop it (by its master pid)
#	dovecot_restart                      stop and start again, same port and mail
#	imap_append USER PASSWORD FOLDER FILE [--date D] [--flags F]
#	                                     APPEND over IMAP; prints the new UID
#	imap_uidvalidity USER PASSWORD FOLDER
#	imap_count USER PASSWORD FOLDER      number of messages
#	imap_recreate_mailbox USER PASSWORD FOLDER
#	                                     same mail under a new UIDVALIDITY
#	dovecot_pid                          the running master's pid
#	maildir_deliver USER FOLDER DIR      move every DIR/*.eml straight into
#	                                     Maildir/cur (bulk loads; served in
#	                                     file-name order)
#	maildir_path USER [FOLDER]           the Maildir directory of a folder
#
# Everything lives in "$TEST_TMP/dovecot" (config, sockets, state, log) and
# "$TEST_TMP/mail/USER" (the users' homes). The server listens on 127.0.0.1
# only, on a free high port, without TLS. Mail is owned by uid/gid 65534 so
# that it works when the tests run as root. Needs TEST_TMP set.

DOVECOT_BIN=${DOVECOT_BIN:-/usr/sbin/dovecot}
DOVECOT_UID=${DOVECOT_UID:-65534}
DOVECOT_GID=${DOVECOT_GID:-65534}
_dovecot_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_dovecot_python=${PYTHON3:-/usr/bin/python3}
_dovecot_pid=

# Returns 0 once something accepts connections on 127.0.0.1:$1.
_dovecot_port_open()
{
	"$_dovecot_python" -c 'import socket, sys
s = socket.socket()
s.settimeout(1)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
    banner = s.recv(100)
except OSError:
    sys.exit(1)
sys.exit(0 if banner.startswith(b"* OK") else 1)' "$1"
}

_dovecot_write_config()
{
	local dir=$DOVECOT_DIR sent='mailbox Sent {
    special_use = \Sent
    auto = subscribe
  }'
	[ "${DOVECOT_NO_SENT:-}" = 1 ] && sent=
	if [ "${DOVECOT_RAWLOG:-}" = 1 ]; then
		mkdir -p "$dir/rawlog"
		chown "$DOVECOT_UID:$DOVECOT_GID" "$dir/rawlog"
		chmod 0755 "$dir/rawlog"
	fi
	cat >"$dir/dovecot.conf" <<EOF
# Written by t/lib/dovecot.sh for one test run.
instance_name = inboxd-test-$$
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
info_log_path = $dir/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
first_valid_uid = $DOVECOT_UID
last_valid_uid = 0
first_valid_gid = 1
mail_location = maildir:~/Maildir
mail_plugins =
default_login_user = dovenull
default_internal_user = dovecot
# Tests open many short sessions from one address.
mail_max_userip_connections = 100

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $dir/users
}

namespace inbox {
  inbox = yes
  separator = /
  $sent
}

${DOVECOT_EXTRA:-}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = ${DOVECOT_IMAPS_PORT:-0}
  }
}
service anvil {
  chroot =
}
EOF
	if [ "${DOVECOT_RAWLOG:-}" = 1 ]; then
		cat >>"$dir/dovecot.conf" <<EOF

# DOVECOT_RAWLOG=1: the traffic of each session, after login.
protocol imap {
  rawlog_dir = $dir/rawlog
}
EOF
	fi
}

_dovecot_add_user()
{
	local spec=$1 user password home
	user=${spec%%:*}
	password=secret
	case $spec in *:*) password=${spec#*:} ;; esac
	home=$TEST_TMP/mail/$user
	mkdir -p "$home"
	chown "$DOVECOT_UID:$DOVECOT_GID" "$home"
	printf '%s:{PLAIN}%s:%s:%s::%s::\n' "$user" "$password" \
	    "$DOVECOT_UID" "$DOVECOT_GID" "$home" >>"$DOVECOT_DIR/users"
}

# Starts the master and waits (at most 20 s) for the IMAP greeting.
_dovecot_launch()
{
	local i
	# The master keeps the descriptors it was given: never the caller's
	# stdout, which may be a pipe that someone reads to the end.
	if ! "$DOVECOT_BIN" -c "$DOVECOT_DIR/dovecot.conf" </dev/null \
	    >>"$DOVECOT_DIR/dovecot.out" 2>&1; then
		echo "dovecot_start: dovecot did not start; log:" >&2
		cat "$DOVECOT_DIR/dovecot.log" >&2 2>/dev/null || :
		return 1
	fi
	for ((i = 0; i < 200; i++)); do
		if [ -s "$DOVECOT_DIR/run/master.pid" ] &&
		    _dovecot_port_open "$IMAP_PORT"; then
			_dovecot_pid=$(cat "$DOVECOT_DIR/run/master.pid")
			return 0
		fi
		sleep 0.1
	done
	echo "dovecot_start: no IMAP greeting on 127.0.0.1:$IMAP_PORT after 20 s; log:" >&2
	cat "$DOVECOT_DIR/dovecot.log" >&2 2>/dev/null || :
	dovecot_stop
	return 1
}

dovecot_start()
{
	local spec try
	: "${TEST_TMP:?dovecot_start needs TEST_TMP}"
	DOVECOT_DIR=$TEST_TMP/dovecot
	mkdir -p "$DOVECOT_DIR/run" "$DOVECOT_DIR/state" "$TEST_TMP/mail"
	# The mail processes run as 65534 and must reach the homes below.
	chmod 0755 "$TEST_TMP" "$TEST_TMP/mail" "$DOVECOT_DIR"
	: >"$DOVECOT_DIR/users"
	chmod 0644 "$DOVECOT_DIR/users"
	if [ $# -eq 0 ]; then
		set -- sales@example.com:secret
	fi
	for spec in "$@"; do
		_dovecot_add_user "$spec"
	done
	# A port taken between picking and binding makes the start fail;
	# pick again, a bounded number of times.
	for try in 1 2 3; do
		IMAP_PORT=$(free_port)
		IMAP_HOST=127.0.0.1
		export IMAP_PORT IMAP_HOST DOVECOT_DIR
		_dovecot_write_config
		if _dovecot_launch; then
			return 0
		fi
		[ "$try" -lt 3 ] && echo "dovecot_start: retrying" >&2
	done
	return 1
}

# The master's pid, from its pid file when it is still our master: a
# restart in a subshell ($(imap_recreate_mailbox ...)) changes it.
_dovecot_master_pid()
{
	local pid
	[ -n "${DOVECOT_DIR:-}" ] || return 1
	pid=$(cat "$DOVECOT_DIR/run/master.pid" 2>/dev/null) || pid=$_dovecot_pid
	[ -n "$pid" ] || return 1
	grep -qF "$DOVECOT_DIR/dovecot.conf" "/proc/$pid/cmdline" 2>/dev/null ||
	    return 1
	echo "$pid"
}

dovecot_stop()
{
	local i pid
	pid=$(_dovecot_master_pid) || {
		_dovecot_pid=
		return 0
	}
	_dovecot_pid=
	kill -TERM "$pid" 2>/dev/null || return 0
	# The master stops its children and removes master.pid; wait for it
	# (at most 10 s), then insist.
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "dovecot_stop: master $pid still running after 10 s; killing it" >&2
	kill -KILL "$pid" 2>/dev/null || :
}

dovecot_restart()
{
	: "${DOVECOT_DIR:?dovecot_restart needs a started Dovecot}"
	dovecot_stop
	_dovecot_launch
}

dovecot_running()
{
	_dovecot_master_pid >/dev/null
}

imap_py()
{
	"$_dovecot_python" "$_dovecot_lib/imap.py" --port "$IMAP_PORT" "$@"
}

imap_append()
{
	imap_py append "$@"
}

imap_uidvalidity()
{
	imap_py uidvalidity "$@"
}

imap_create()
{
	imap_py create "$@"
}

imap_count()
{
	imap_py count "$@"
}

imap_recreate_mailbox()
{
	local user=$1 password=$2 folder=$3
	if [ "$folder" = INBOX ]; then
		_dovecot_recreate_inbox "$user" "$password"
	else
		imap_py recreate "$user" "$password" "$folder"
	fi
}

# The IMAP session processes of our master (they run as 65534).
_dovecot_sessions()
{
	local master
	master=$(_dovecot_master_pid) || return 0
	ps -o pid=,comm= --ppid "$master" | awk '$2 == "imap" { print $1 }'
}

# INBOX cannot be deleted over IMAP. Drop its UID list and indexes
# instead: Dovecot then numbers the same files anew under a new
# UIDVALIDITY (a timestamp, so wait for the clock to move on). Open
# sessions keep the old list in memory and could write it back, so they
# are ended first, as a server-side rebuild would; clients that
# reconnect at once may need a second round. The master keeps running,
# so its pid stays valid for the caller (this often runs in $(...)).
_dovecot_recreate_inbox()
{
	local user=$1 password=$2 before after md round pids
	before=$(imap_uidvalidity "$user" "$password" INBOX) || return 1
	md=$(maildir_path "$user")
	for round in 1 2 3 4 5; do
		pids=$(_dovecot_sessions)
		# shellcheck disable=SC2086
		[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
		rm -f "$md/dovecot-uidlist" "$md"/dovecot.index* \
		    "$md/dovecot.list.index"*
		sleep 1.1
		after=$(imap_uidvalidity "$user" "$password" INBOX) || return 1
		if [ "$after" != "$before" ]; then
			echo "$after"
			return 0
		fi
	done
	echo "imap_recreate_mailbox: UIDVALIDITY of INBOX still $after" >&2
	return 1
}

# The master's pid, for callers that need it after a restart in a
# subshell.
dovecot_pid()
{
	_dovecot_master_pid
}

maildir_path()
{
	local user=$1 folder=${2:-INBOX}
	if [ "$folder" = INBOX ]; then
		echo "$TEST_TMP/mail/$user/Maildir"
	else
		echo "$TEST_TMP/mail/$user/Maildir/.${folder//\//.}"
	fi
}

# Bulk delivery without IMAP, in one process: thousands of messages in a
# second rather than a minute. The names sort in delivery order, so the
# UIDs Dovecot assigns follow the file names. The files are moved, not
# copied.
maildir_deliver()
{
	local user=$1 folder=$2 dir=$3 md
	md=$(maildir_path "$user" "$folder")
	mkdir -p "$md/cur" "$md/new" "$md/tmp"
	"$_dovecot_python" - "$dir" "$md" "$$" <<'PY' || return 1
import os, shutil, sys
src, md, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
n = sum(len(os.listdir(os.path.join(md, d))) for d in ("cur", "new"))
for name in sorted(f for f in os.listdir(src) if f.endswith(".eml")):
    n += 1
    tmp = os.path.join(md, "tmp", str(n))
    try:
        os.rename(os.path.join(src, name), tmp)
    except OSError:
        shutil.copyfile(os.path.join(src, name), tmp)
    size = os.path.getsize(tmp)
    os.rename(tmp, os.path.join(md, "cur",
              "1000000000.M%08dP%d.inboxd-test,S=%d:2," % (n, pid, size)))
PY
	chown -R "$DOVECOT_UID:$DOVECOT_GID" "$TEST_TMP/mail/$user"
}
