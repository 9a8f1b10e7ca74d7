# A throwaway Courier-IMAP 5.0 server for the integration tests (bash),
# run from Debian's packages unpacked into the test's own directory:
# courier-imap conflicts with the installed dovecot-imapd, so it is never
# installed.
#
#	courier_start [user:password...]   start authdaemond + couriertcpd on
#	                                   a free 127.0.0.1 port; default user
#	                                   sales, password secret; each user
#	                                   has a Maildir with INBOX.Sent.
#	                                   Exports COURIER_PORT, COURIER_DIR.
#	                                   Returns 2 when the packages cannot
#	                                   be had. COURIER_ENHANCEDIDLE=1:
#	                                   IDLE told at once through FAM
#	                                   (gamin); COURIER_IDLE_TIMEOUT:
#	                                   IMAP_IDLE_TIMEOUT (60)
#	courier_stop                       stop it (couriertcpd, authdaemond
#	                                   and the namespace holder, by pid)
#	courier_maildir USER [FOLDER]      a folder's Maildir ("INBOX",
#	                                   "INBOX.Sent", ...)
#	courier_deliver USER FOLDER FILE... put each FILE into the folder's
#	                                   Maildir/new, unread, in order
#	courier_py ARGS...                 t/lib/imap.py against this server
#	courier_protocol_log USER          what USER's imapd sessions read and
#	                                   wrote so far (IMAPDEBUGFILE: the
#	                                   commands as tokens, "READ: ATOM:
#	                                   LIST", the responses as sent)
#	courier_protocol_log_clear USER    empty it
#
# Courier's authentication library has its paths compiled in:
# /etc/courier/authdaemonrc, /etc/courier/userdb.dat, the socket
# /run/courier/authdaemon/socket and its modules under /usr/lib. The
# server therefore runs in a mount namespace of its own (unshare -m, as
# root) where read-only overlays lay the test's etc/ and the unpacked
# packages over /etc and /usr, and a private tmpfs covers /run. Nothing
# outside the namespace sees them. Without root the server cannot start
# and courier_start returns 2.
#
# Everything lives in "$TEST_TMP/courier": root/ (the packages), etc/
# (authdaemonrc, userdb), launch.sh, courier.log (stderr of both
# daemons), and mail/USER/Maildir. Mail is owned by nobody:nogroup.
# imapd traces every session after login into Maildir/imaptrace
# (IMAPDEBUGFILE), which must exist beforehand; the login itself, done
# by imaplogin, is not in it.

# debs_unpack and debs_libpath are in cyrus.sh.
if ! declare -F debs_unpack >/dev/null; then
	# shellcheck source=t/lib/cyrus.sh
	. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cyrus.sh"
fi

COURIER_PACKAGES="courier-imap courier-base courier-authlib
	courier-authlib-userdb libcourier-unicode4 libidn12 libltdl7 libgamin0 gamin"
COURIER_UID=${COURIER_UID:-65534}
COURIER_GID=${COURIER_GID:-65534}
_courier_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_courier_python=${PYTHON3:-/usr/bin/python3}
_courier_pid=

courier_py()
{
	"$_courier_python" "$_courier_lib/imap.py" --port "$COURIER_PORT" "$@"
}

courier_maildir()
{
	local user=$1 folder=${2:-INBOX}
	if [ "$folder" = INBOX ]; then
		echo "$COURIER_DIR/mail/$user/Maildir"
	else
		echo "$COURIER_DIR/mail/$user/Maildir/.${folder#INBOX.}"
	fi
}

courier_protocol_log()
{
	cat "$(courier_maildir "$1")/imaptrace" 2>/dev/null || :
}

courier_protocol_log_clear()
{
	local f
	f=$(courier_maildir "$1")/imaptrace
	[ -e "$f" ] && : >"$f"
}

_courier_make_maildir()
{
	mkdir -p "$1/cur" "$1/new" "$1/tmp"
}

courier_deliver()
{
	local user=$1 folder=$2 md f n
	shift 2
	md=$(courier_maildir "$user" "$folder")
	_courier_make_maildir "$md"
	for f in "$@"; do
		_courier_seq=$((${_courier_seq:-0} + 1))
		# Unique, sorting in delivery order; written in tmp/, then
		# renamed, as a delivery agent does.
		n=$(printf '%d.M%06dP%d.inboxd-test' "$(date +%s)" "$_courier_seq" "$$")
		sed 's/\r$//' "$f" >"$md/tmp/$n" || return 1
		chown "$COURIER_UID:$COURIER_GID" "$md/tmp/$n"
		mv "$md/tmp/$n" "$md/new/$n" || return 1
	done
}

_courier_add_user()
{
	local user=$1 password=$2 home hash
	home=$COURIER_DIR/mail/$user
	_courier_make_maildir "$home/Maildir"
	_courier_make_maildir "$home/Maildir/.Sent"
	# A Maildir++ folder is marked by this file.
	: >"$home/Maildir/.Sent/maildirfolder"
	: >"$home/Maildir/imaptrace"
	chown -R "$COURIER_UID:$COURIER_GID" "$home"
	hash=$(openssl passwd -6 "$password") || return 1
	printf '%s\tuid=%s|gid=%s|home=%s|mail=%s|systempw=%s\n' "$user" \
	    "$COURIER_UID" "$COURIER_GID" "$home" "$home/Maildir" "$hash" \
	    >>"$COURIER_DIR/etc/courier/userdb"
}

_courier_port_open()
{
	"$_courier_python" -c 'import socket, sys
s = socket.socket()
s.settimeout(1)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
    banner = s.recv(200)
except OSError:
    sys.exit(1)
sys.exit(0 if banner.startswith(b"* OK") else 1)' "$1"
}

# The script that runs inside the namespace: mounts, the user database,
# authdaemond in the background, couriertcpd in the foreground (its pid
# is the script's own, thanks to exec).
_courier_write_config()
{
	local d=$COURIER_DIR
	cat >"$d/etc/courier/authdaemonrc" <<EOF
# Written by t/lib/courier.sh for one test run.
authmodulelist="authuserdb"
authmodulelistorig="authuserdb"
daemons=2
authdaemonvar=/run/courier/authdaemon
DEBUG_LOGIN=0
DEFAULTOPTIONS=""
LOGGEROPTS=""
EOF
	cat >"$d/launch.sh" <<EOF
#!/bin/bash
# Written by t/lib/courier.sh for one test run; runs in its own mount
# namespace.
set -e
mount -t overlay inboxd-test-courier -o "lowerdir=$d/root/usr:/usr" /usr
mount -t overlay inboxd-test-courier -o "lowerdir=$d/etc:$d/root/etc:/etc" /etc
mount -t tmpfs -o mode=0755 inboxd-test-courier /run
mkdir -p /run/courier/authdaemon
/usr/sbin/makeuserdb -f "$d/etc/courier/userdb"
/usr/lib/courier/courier-authlib/authdaemond &
echo \$! >"$d/authdaemond.pid"
for i in \$(seq 100); do
	[ -S /run/courier/authdaemon/socket ] && break
	sleep 0.1
done
umask 022
exec /usr/bin/env -i PATH=/usr/bin:/bin \\
    IMAP_CAPABILITY="IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE" \\
    IMAP_KEYWORDS=1 IMAP_ACL=1 IMAP_IDLE_TIMEOUT=${COURIER_IDLE_TIMEOUT:-60} \\
    IMAP_ENHANCEDIDLE=${COURIER_ENHANCEDIDLE:-0} IMAP_TLS_REQUIRED=0 IMAP_USELOCKS=1 \\
    IMAP_EMPTYTRASH= IMAP_MOVE_EXPUNGE_TO_TRASH=0 IMAP_CHECK_ALL_FOLDERS=0 \\
    IMAP_MAILBOX_SANITY_CHECK=1 IMAP_UMASK=022 IMAPDSTART=YES \\
    IMAPDEBUGFILE=imaptrace MAILDIRPATH=Maildir GAM_CLIENT_ID=inboxd-test-$$ \\
    /usr/sbin/couriertcpd -address=127.0.0.1 -maxprocs=40 -maxperip=40 \\
    -nodnslookup -noidentlookup "$COURIER_PORT" \\
    /usr/lib/courier/courier/imaplogin /usr/bin/imapd Maildir
EOF
	chmod 0755 "$d/launch.sh"
}

_courier_launch()
{
	local i
	unshare -m --propagation private "$COURIER_DIR/launch.sh" \
	    </dev/null >>"$COURIER_DIR/courier.log" 2>&1 &
	_courier_pid=$!
	for ((i = 0; i < 300; i++)); do
		if ! kill -0 "$_courier_pid" 2>/dev/null; then
			echo "courier_start: the server exited; log:" >&2
			cat "$COURIER_DIR/courier.log" >&2
			_courier_pid=
			_courier_stop_authdaemond
			return 1
		fi
		_courier_port_open "$COURIER_PORT" && return 0
		sleep 0.1
	done
	echo "courier_start: no IMAP greeting on 127.0.0.1:$COURIER_PORT after 30 s; log:" >&2
	cat "$COURIER_DIR/courier.log" >&2
	courier_stop
	return 1
}

courier_start()
{
	local spec user password try d
	: "${TEST_TMP:?courier_start needs TEST_TMP}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "courier_start: needs root (mount namespace)" >&2
		return 2
	fi
	COURIER_DIR=$TEST_TMP/courier
	d=$COURIER_DIR
	mkdir -p "$d/etc/courier" "$d/mail"
	# shellcheck disable=SC2086
	debs_unpack "$d/root" $COURIER_PACKAGES || return 2
	chmod 0755 "$TEST_TMP" "$d" "$d/mail"
	[ $# -gt 0 ] || set -- sales:secret
	: >"$d/etc/courier/userdb"
	chmod 0600 "$d/etc/courier/userdb"
	for spec in "$@"; do
		user=${spec%%:*}
		password=secret
		case $spec in *:*) password=${spec#*:} ;; esac
		_courier_add_user "$user" "$password" || return 1
	done
	for try in 1 2 3; do
		COURIER_PORT=$(free_port)
		export COURIER_PORT COURIER_DIR
		_courier_write_config
		_courier_launch && return 0
		[ "$try" -lt 3 ] && echo "courier_start: retrying" >&2
	done
	return 1
}

_courier_stop_pid()
{
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || :
}

_courier_stop_authdaemond()
{
	local pid
	pid=$(cat "$COURIER_DIR/authdaemond.pid" 2>/dev/null) || return 0
	rm -f "$COURIER_DIR/authdaemond.pid"
	# Only when it is still the authdaemond we started.
	grep -q authdaemond "/proc/$pid/cmdline" 2>/dev/null || return 0
	_courier_stop_pid "$pid"
}

# The processes in the server's mount namespace (inode NS), but PID.
_courier_ns_pids()
{
	local ns=$1 except=$2 p
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ "$p" = "$except" ] && continue
		[ "$(readlink "/proc/$p/ns/mnt" 2>/dev/null)" = "$ns" ] && echo "$p"
	done
}

courier_stop()
{
	local pid=$_courier_pid ns p
	[ -n "$pid" ] || return 0
	_courier_pid=
	ns=$(readlink "/proc/$pid/ns/mnt" 2>/dev/null) || ns=
	# couriertcpd (the launcher's pid after exec); then what is left in
	# its namespace: imapd sessions, authdaemond, and the gam_server
	# that the imapd sessions started, which would linger otherwise.
	_courier_stop_pid "$pid"
	wait "$pid" 2>/dev/null || :
	_courier_stop_authdaemond
	if [ -n "$ns" ] && [ "$ns" != "$(readlink /proc/$$/ns/mnt)" ]; then
		for p in $(_courier_ns_pids "$ns" $$); do
			_courier_stop_pid "$p"
		done
	fi
}
