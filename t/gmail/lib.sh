# Helpers for the Gmail tests (bash); source after t/lib/harness.sh.
#
#	standin_start [ARGS...]        the Google stand-in (t/gmail/standin.py)
#	                               serving $GMAIL_MAILDIR; exports
#	                               STANDIN_PORT and STANDIN_URL
#	standin_stop
#	standin_admin METHOD PATH [JSON]
#	                               an admin request; prints the answer
#	standin_add FILE [LABELS] [THREAD-KEY]
#	                               add a message while running; prints its id
#	standin_stat EXPR              a value from /admin/stats, as Python
#	                               sees it: d["by_kind"]["get"], ...
#	standin_requests EXPR          Python over the request log "log"
#	standin_log_py CODE            the same, a script that prints
#	now_ms                         wall clock in milliseconds
#	eml FILE FROM TO SUBJECT MSGID DATE [HEADER...]
#	                               write a small message
#	gmail_config FILE [LINE...]    config with one Gmail account on the
#	                               stand-in, named $GMAIL_ACCOUNT (default
#	                               g); extra lines for its group
#	gmail_once [ARGS...]           inboxd --config $GMAIL_CFG --once; stderr
#	                               is kept in $GMAIL_ERR (and shown on failure)

GMAIL_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GMAIL_MAILDIR=$TEST_TMP/maildir
GMAIL_CFG=$TEST_TMP/inboxd.conf
GMAIL_ERR=
mkdir -p "$GMAIL_MAILDIR/INBOX" "$GMAIL_MAILDIR/SENT"
_standin_pid=
_gmail_runs=0

standin_start()
{
	local portfile=$TEST_TMP/standin.port i
	rm -f "$portfile"
	"$PYTHON3" "$GMAIL_LIB_DIR/standin.py" --maildir "$GMAIL_MAILDIR" \
	    --port-file "$portfile" --lifetime $((INBOXD_TEST_TIMEOUT * 10)) \
	    "$@" 2>>"$TEST_TMP/standin.log" &
	_standin_pid=$!
	# The harness stops it on exit, whatever happens.
	_harness_pids="$_harness_pids $_standin_pid"
	for ((i = 0; i < 100; i++)); do
		[ -s "$portfile" ] && break
		kill -0 "$_standin_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ ! -s "$portfile" ]; then
		diag "$(cat "$TEST_TMP/standin.log")"
		return 1
	fi
	STANDIN_PORT=$(cat "$portfile")
	STANDIN_URL=http://127.0.0.1:$STANDIN_PORT
	export STANDIN_PORT STANDIN_URL
}

standin_stop()
{
	[ -n "$_standin_pid" ] || return 0
	kill -TERM "$_standin_pid" 2>/dev/null || :
	_harness_wait_gone "$_standin_pid" 50 ||
	    kill -KILL "$_standin_pid" 2>/dev/null || :
	wait "$_standin_pid" 2>/dev/null || :
	_standin_pid=
}

standin_admin()
{
	curl -sS --max-time 10 -X "$1" ${3:+--data-binary "$3"} \
	    "$STANDIN_URL/admin/$2"
}

standin_add()
{
	local file=$1 labels=${2:-INBOX} thread=${3:-}
	curl -sS --max-time 10 -X POST --data-binary "@$file" \
	    -H "X-Test-Labels: $labels" ${thread:+-H "X-Test-Thread: $thread"} \
	    "$STANDIN_URL/admin/messages" |
	    "$PYTHON3" -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}

standin_stat()
{
	standin_admin GET stats | "$PYTHON3" -c 'import json, sys
d = json.load(sys.stdin)
try:
    print('"$1"')
except (KeyError, IndexError):
    print(0)'
}

standin_requests()
{
	standin_admin GET requests | "$PYTHON3" -c 'import json, sys
log = json.load(sys.stdin)
print('"$1"')'
}

standin_log_py()
{
	standin_admin GET requests | "$PYTHON3" -c 'import json, sys
log = json.load(sys.stdin)
'"$1"
}

now_ms()
{
	date +%s%3N
}

eml()
{
	local file=$1 from=$2 to=$3 subject=$4 msgid=$5 date=$6
	shift 6
	{
		echo "From: $from"
		echo "To: $to"
		echo "Subject: $subject"
		echo "Date: $date"
		echo "Message-ID: <$msgid>"
		for h in "$@"; do
			echo "$h"
		done
		echo "MIME-Version: 1.0"
		echo "Content-Type: text/plain; charset=utf-8"
		echo
		echo "Body of $subject ($msgid)."
	} >"$file"
}

gmail_config()
{
	local file=$1 line dir=$TEST_TMP/secrets
	shift
	mkdir -p "$dir"
	chmod 0700 "$dir"
	printf 'standin-secret\n' >"$dir/client-secret"
	printf '%s\n' "${GMAIL_REFRESH_TOKEN:-standin-refresh}" \
	    >"$dir/refresh-token"
	chmod 0600 "$dir/client-secret" "$dir/refresh-token"
	{
		echo "[database]"
		echo "conninfo = ${INBOXD_TEST_CONNINFO:?pg_start first}"
		echo
		echo "[daemon]"
		echo "log_level = ${INBOXD_TEST_LOG_LEVEL:-info}"
		echo "metrics_listen = off"
		echo
		echo "[account ${GMAIL_ACCOUNT:-g}]"
		echo "type = gmail"
		echo "username = me@example.com"
		echo "addresses = me@example.com"
		echo "token_url = $STANDIN_URL/token"
		echo "api_base = $STANDIN_URL"
		if [ -z "${GMAIL_NO_CLIENT:-}" ]; then
			echo "client_id = standin-client"
			echo "client_secret_file = $dir/client-secret"
			echo "refresh_token_file = $dir/refresh-token"
		fi
		for line in "$@"; do
			echo "$line"
		done
	} >"$file"
}

gmail_once()
{
	local rc=0
	_gmail_runs=$((_gmail_runs + 1))
	GMAIL_ERR=$TEST_TMP/inboxd.once-$_gmail_runs.log
	run_inboxd --config "$GMAIL_CFG" --once "$@" >/dev/null \
	    2>"$GMAIL_ERR" || rc=$?
	if [ "$rc" -ne 0 ]; then
		diag "inboxd --once exited $rc:"
		diag "$(tail -n 15 "$GMAIL_ERR")"
	fi
	return "$rc"
}
