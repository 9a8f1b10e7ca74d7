# Common set-up of the integration tests (bash). Source it first:
#
#	. "${top_srcdir:-$(dirname "$0")/../..}/t/lib/harness.sh"
#
# It sets -u (not -e: a failed assertion returns non-zero and the test
# goes on; set-up steps that must work end in "|| bail_out"), makes
# TEST_TMP, brings in tap.sh, pg.sh, dovecot.sh and mail.sh,
# and on exit stops every server and daemon the test started and removes
# TEST_TMP (kept when INBOXD_KEEP_TMP=1, or shown when a test failed and
# INBOXD_KEEP_TMP=failed).
#
#	inboxd_config FILE [LINE...]        config for the test servers: account
#	                                    "sales" on the test Dovecot, tls none;
#	                                    LINEs go to its [account sales] group
#	config_daemon [LINE...]             [database] for the test PostgreSQL
#	                                    and [daemon], LINEs added to [daemon];
#	                                    on stdout
#	config_imap NAME USER PASSWORD [LINE...]
#	                                    an [account NAME] group for the test
#	                                    Dovecot, the password in a secret
#	                                    file; on stdout. In both, a LINE
#	                                    that sets a key replaces its default
#	config_secret NAME VALUE            a 0600 secret file; prints its path
#	run_inboxd ARGS...                  the daemon, in the foreground, with a
#	                                    time limit; returns its exit status
#	run_inboxctl ARGS...                the admin CLI, the same way
#	inboxd_run NAME ARGS...             run_inboxd, output in INBOXD_OUT
#	                                    (inboxd.NAME.log), status in INBOXD_RC
#	inboxd_once CONFIG [ARGS...]        one pass, --config CONFIG --once,
#	                                    through inboxd_run; a failure is shown
#	inboxd_start ARGS...                the daemon in the background; sets
#	                                    INBOXD_PID, log in INBOXD_LOG
#	inboxd_stop [PID]                   SIGTERM, wait (bounded), exit status
#	listen_start CHANNEL...             record notifications to LISTEN_OUT
#	listen_count CHANNEL                notifications received so far
#	listen_wait CHANNEL N [SECONDS]     wait until N have arrived
#	listen_payloads CHANNEL             their payloads, one a line
#	listen_stop
#	sql "SELECT ..."                    the unaligned result, as inboxd
#	sql_migrate                         apply sql/NNN_*.sql as inboxd would
#	sql_totals                          the rows ingestion writes, counted
#	wait_for SECONDS CMD...             retry CMD every 0.1 s until it succeeds
#	start_servers [dovecot users...]    pg_start + dovecot_start
#
# make check exports top_srcdir and top_builddir; run by hand from the
# build directory, they default to this file's ../.. and the current
# directory.

set -u
set -o pipefail

if [ -z "${top_srcdir:-}" ]; then
	top_srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fi
top_builddir=${top_builddir:-$(pwd)}
export top_srcdir top_builddir

# The Debian interpreter: it has python3-psycopg, whatever else is on PATH.
PYTHON3=${PYTHON3:-/usr/bin/python3}
export PYTHON3
INBOXD_TEST_TIMEOUT=${INBOXD_TEST_TIMEOUT:-60}
export INBOXD_SQL_DIR="$top_srcdir/sql"
# A user's settings must not leak into a test.
unset PGSERVICEFILE PGPASSFILE PGSSLMODE 2>/dev/null || :

. "$top_srcdir/t/lib/tap.sh"
. "$top_srcdir/t/lib/pg.sh"
. "$top_srcdir/t/lib/dovecot.sh"
. "$top_srcdir/t/lib/mail.sh"

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/inboxd-test.XXXXXX")
export TEST_TMP

_harness_pids=
_harness_listen_pid=
_harness_inboxd_n=0
_harness_once_n=0

_harness_cleanup()
{
	local rc=$? pid
	set +e
	for pid in $_harness_pids; do
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null
			_harness_wait_gone "$pid" 50 || kill -KILL "$pid" 2>/dev/null
		fi
	done
	listen_stop
	dovecot_stop
	pg_stop
	if [ "${_tap_failed:-0}" -ne 0 ] || [ "$rc" -ne 0 ]; then
		_harness_show_logs
	fi
	if [ "${INBOXD_KEEP_TMP:-}" = 1 ] ||
	    { [ "${INBOXD_KEEP_TMP:-}" = failed ] &&
	    { [ "${_tap_failed:-0}" -ne 0 ] || [ "$rc" -ne 0 ]; }; }; then
		diag "kept $TEST_TMP"
	else
		rm -rf "$TEST_TMP"
	fi
	exit "$rc"
}
trap _harness_cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# The last lines of every server and daemon log, to explain a failure.
_harness_show_logs()
{
	local f
	for f in "$TEST_TMP"/inboxd.*.log "$TEST_TMP/dovecot/dovecot.log" \
	    "$TEST_TMP/pg/log"; do
		[ -s "$f" ] || continue
		# A sanitizer's report is shown from its first line: its
		# stack traces come before the shadow bytes at its end.
		if grep -q '^==[0-9]*==ERROR: ' "$f"; then
			diag "--- sanitizer report in ${f#"$TEST_TMP"/} ---"
			diag "$(sed -n '/^==[0-9]*==ERROR: /,$p' "$f" | head -n 80)"
			continue
		fi
		diag "--- last lines of ${f#"$TEST_TMP"/} ---"
		diag "$(tail -n 30 "$f")"
	done
}

# Returns 0 once process $1 has exited, polling at most $2 times 0.1 s.
_harness_wait_gone()
{
	local i
	for ((i = 0; i < $2; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

wait_for()
{
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

start_servers()
{
	pg_start || bail_out "PostgreSQL did not start"
	dovecot_start "$@" || bail_out "Dovecot did not start"
}

# Configuration ----------------------------------------------------------------

# _config_lines DEFAULT... -- LINE...: the DEFAULTs ("key = value") whose
# key no LINE sets, then the LINEs.
_config_lines()
{
	local -a defaults=()
	local def line given
	while [ "$1" != -- ]; do
		defaults+=("$1")
		shift
	done
	shift
	for def in "${defaults[@]}"; do
		given=
		for line in "$@"; do
			[ "$(_config_key "$line")" = "$(_config_key "$def")" ] &&
			    given=1
		done
		[ -n "$given" ] || echo "$def"
	done
	[ $# -eq 0 ] || printf '%s\n' "$@"
}

_config_key()
{
	local key=${1%%=*}
	echo "${key%"${key##*[! ]}"}"
}

# config_daemon [LINE...]: [database] for the test PostgreSQL (the
# caller may set INBOXD_TEST_CONNINFO for another) and [daemon] with
# log_level $INBOXD_TEST_LOG_LEVEL (default info) and metrics off.
config_daemon()
{
	echo "[database]"
	echo "conninfo = ${INBOXD_TEST_CONNINFO:?pg_start first}"
	echo
	echo "[daemon]"
	_config_lines "log_level = ${INBOXD_TEST_LOG_LEVEL:-info}" \
	    "metrics_listen = off" -- "$@"
}

# config_secret NAME VALUE: VALUE in $TEST_TMP/secrets/NAME, mode 0600,
# in a 0700 directory, as inboxd wants them. Prints the path.
config_secret()
{
	local dir=$TEST_TMP/secrets
	mkdir -p "$dir"
	chmod 0700 "$dir"
	printf '%s\n' "$2" >"$dir/$1"
	chmod 0600 "$dir/$1"
	echo "$dir/$1"
}

# config_imap NAME USER PASSWORD [LINE...]: an [account NAME] group,
# after a blank line, for USER on the test Dovecot ($IMAP_PORT, no TLS),
# PASSWORD in the secret file NAME. USER is also the account's address.
# A LINE that sets port, password_file, addresses... replaces the
# default; with password_file given no secret is written.
config_imap()
{
	local name=$1 user=$2 password=$3 line port= secret=
	shift 3
	for line in "$@"; do
		case $(_config_key "$line") in
		port) port=given ;;
		password_file) secret=given ;;
		esac
	done
	[ -n "$port" ] || port=${IMAP_PORT:?dovecot_start first}
	[ -n "$secret" ] || secret=$(config_secret "$name" "$password")
	echo
	echo "[account $name]"
	_config_lines "type = imap" "host = 127.0.0.1" "port = $port" "tls = none" \
	    "username = $user" "password_file = $secret" "addresses = $user" \
	    -- "$@"
}

# inboxd_config FILE [LINE...]: the usual test configuration, account
# "sales" (sales@example.com, password "secret") with LINEs in its group.
inboxd_config()
{
	local file=$1
	shift
	{
		config_daemon
		config_imap sales sales@example.com secret "$@"
	} >"$file"
}

# Running the programs -----------------------------------------------------------

_harness_require()
{
	if [ ! -x "$1" ]; then
		bail_out "$1 is not built (run make first)"
	fi
}

run_inboxd()
{
	_harness_require "$top_builddir/inboxd"
	timeout --kill-after=10 "$INBOXD_TEST_TIMEOUT" \
	    "$top_builddir/inboxd" "$@" </dev/null
}

# inboxd_run NAME ARGS...: run_inboxd ARGS with stdout and stderr in
# INBOXD_OUT ($TEST_TMP/inboxd.NAME.log) and the exit status in
# INBOXD_RC, which it returns.
inboxd_run()
{
	local name=$1
	shift
	INBOXD_OUT=$TEST_TMP/inboxd.$name.log
	INBOXD_RC=0
	run_inboxd "$@" >"$INBOXD_OUT" 2>&1 || INBOXD_RC=$?
	return "$INBOXD_RC"
}

# inboxd_once CONFIG [ARGS...]: one pass, inboxd --config CONFIG --once
# ARGS, through inboxd_run (logs inboxd.once-1.log, once-2...). A
# non-zero status is shown with the last lines of the output.
inboxd_once()
{
	local config=$1
	shift
	_harness_once_n=$((_harness_once_n + 1))
	if ! inboxd_run "once-$_harness_once_n" --config "$config" --once "$@"; then
		diag "inboxd --once exited $INBOXD_RC:"
		diag "$(tail -n 20 "$INBOXD_OUT")"
	fi
	return "$INBOXD_RC"
}

run_inboxctl()
{
	_harness_require "$top_builddir/inboxctl"
	timeout --kill-after=10 "$INBOXD_TEST_TIMEOUT" \
	    "$top_builddir/inboxctl" "$@" </dev/null
}

# Starts the daemon in the background; its stdout and stderr go to
# INBOXD_LOG. The pid is stopped on exit if the test does not.
inboxd_start()
{
	_harness_require "$top_builddir/inboxd"
	_harness_inboxd_n=$((_harness_inboxd_n + 1))
	INBOXD_LOG=$TEST_TMP/inboxd.$_harness_inboxd_n.log
	"$top_builddir/inboxd" "$@" </dev/null >"$INBOXD_LOG" 2>&1 &
	INBOXD_PID=$!
	_harness_pids="$_harness_pids $INBOXD_PID"
}

# True once process PID has a handler for SIGTERM (inboxd installs one
# first thing in main; before that the signal's default action applies).
catches_sigterm()
{
	local mask
	mask=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null)
	[ -n "$mask" ] && (( (16#$mask >> 14) & 1 ))
}

# Sends SIGTERM and returns the daemon's exit status; 124 when it did not
# stop within INBOXD_TEST_TIMEOUT seconds (it is then killed).
inboxd_stop()
{
	local pid=${1:-${INBOXD_PID:-}} rc=0
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || :
	if ! _harness_wait_gone "$pid" $((INBOXD_TEST_TIMEOUT * 10)); then
		kill -KILL "$pid" 2>/dev/null || :
		wait "$pid" 2>/dev/null || :
		return 124
	fi
	wait "$pid" 2>/dev/null || rc=$?
	return "$rc"
}

# Notifications ----------------------------------------------------------------

listen_start()
{
	LISTEN_OUT=$TEST_TMP/notifications
	: >"$LISTEN_OUT"
	rm -f "$LISTEN_OUT.ready"
	"$PYTHON3" "$top_srcdir/t/lib/listen.py" "$INBOXD_TEST_CONNINFO" \
	    "$LISTEN_OUT" $((INBOXD_TEST_TIMEOUT * 5)) "$@" </dev/null >/dev/null \
	    2>"$TEST_TMP/listen.err" &
	_harness_listen_pid=$!
	if ! wait_for 20 test -e "$LISTEN_OUT.ready"; then
		diag "$(cat "$TEST_TMP/listen.err")"
		bail_out "the notification listener did not start"
	fi
}

listen_stop()
{
	local pid=$_harness_listen_pid
	[ -n "$pid" ] || return 0
	_harness_listen_pid=
	kill -TERM "$pid" 2>/dev/null || :
	_harness_wait_gone "$pid" 50 || kill -KILL "$pid" 2>/dev/null || :
	wait "$pid" 2>/dev/null || :
}

listen_count()
{
	local n
	n=$(grep -c "^$1	" "$LISTEN_OUT" 2>/dev/null) || :
	echo "${n:-0}"
}

# The payloads received on a channel, one a line.
listen_payloads()
{
	grep "^$1	" "$LISTEN_OUT" 2>/dev/null | cut -f 2 || :
}

_listen_reached()
{
	[ "$(listen_count "$1")" -ge "$2" ]
}

# Waits until N notifications arrived on CHANNEL, then a little longer so
# that extra ones would be seen too. Prints the count.
listen_wait()
{
	local ch=$1 n=$2 secs=${3:-10}
	wait_for "$secs" _listen_reached "$ch" "$n" || :
	sleep 0.5
	listen_count "$ch"
}

# The IMAP stand-in ----------------------------------------------------------

# imap_standin_start PORTFILE LOG [ARGS...]: t/lib/imap_standin.py in the
# background, its errors in $TEST_TMP/standin.err; sets STANDIN_PORT.
# The harness stops it on exit.
imap_standin_start()
{
	local portfile=$1 log=$2
	shift 2
	"$PYTHON3" "$top_srcdir/t/lib/imap_standin.py" --port-file "$portfile" \
	    --log "$log" --lifetime $((INBOXD_TEST_TIMEOUT * 5)) "$@" \
	    </dev/null >/dev/null 2>>"$TEST_TMP/standin.err" &
	_harness_pids="$_harness_pids $!"
	wait_for 10 test -s "$portfile" || return 1
	STANDIN_PORT=$(cat "$portfile")
}

# SQL ------------------------------------------------------------------------

# One value (first column of the first row), or the whole unaligned result.
sql()
{
	psql_q "$1"
}

# Applies every sql/NNN_*.sql in order, each in one transaction, as the
# daemon does at start; bails out at the first that fails.
sql_migrate()
{
	local f
	for f in "$top_srcdir"/sql/[0-9]*.sql; do
		if ! psql -X -q -v ON_ERROR_STOP=1 -1 -f "$f" \
		    >"$TEST_TMP/migrate.log" 2>&1; then
			diag "$(cat "$TEST_TMP/migrate.log")"
			bail_out "$f does not apply"
		fi
	done
}

# The rows of every table a pass writes, counted on one line, to show
# that a pass added nothing.
sql_totals()
{
	sql "SELECT (SELECT count(*) FROM conversation_messages) || ' messages, ' ||
	    (SELECT count(*) FROM conversations) || ' conversations, ' ||
	    (SELECT count(*) FROM jobs) || ' jobs, ' ||
	    (SELECT count(*) FROM events) || ' events, ' ||
	    (SELECT count(*) FROM message_locations) || ' locations'"
}
