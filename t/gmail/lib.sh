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
#	standin_by_status CODE         requests answered with HTTP CODE
#	standin_by_kind KIND           requests of a kind: token, get, list...
#	now_ms                         wall clock in milliseconds
#	gmail_questions COUNT          COUNT questions from as many senders in
#	                               the stand-in's INBOX (01.eml...)
#	config_gmail NAME [LINE...]    an [account NAME] group for the
#	                               stand-in, as config_imap does for
#	                               Dovecot; on stdout
#	gmail_config FILE [LINE...]    config with one Gmail account on the
#	                               stand-in, named $GMAIL_ACCOUNT (default
#	                               g); extra lines for its group
#
# A pass is inboxd_once "$GMAIL_CFG" (harness.sh).

GMAIL_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GMAIL_MAILDIR=$TEST_TMP/maildir
GMAIL_CFG=$TEST_TMP/inboxd.conf
mkdir -p "$GMAIL_MAILDIR/INBOX" "$GMAIL_MAILDIR/SENT"
_standin_pid=

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

standin_by_status()
{
	standin_stat "d['by_status'].get('$1', 0)"
}

standin_by_kind()
{
	standin_stat "d['by_kind'].get('$1', 0)"
}

now_ms()
{
	date +%s%3N
}

# Questions K = 01, 02...: "Sender K <sK@customer.example>" asks
# "Question K" (Message-ID qK@customer.example) at 09:K on 6 Nov 2023.
gmail_questions()
{
	local i
	for i in $(seq -w 1 "$1"); do
		mail_write "$GMAIL_MAILDIR/INBOX/$i.eml" \
		    "Sender $i <s$i@customer.example>" me@example.com \
		    "Question $i" "Mon, 06 Nov 2023 09:$i:00 +0000" \
		    "q$i@customer.example"
	done
}

# config_gmail NAME [LINE...]: the account on the stand-in, with the
# refresh token $GMAIL_REFRESH_TOKEN (default standin-refresh) in a
# secret file, or no client at all when GMAIL_NO_CLIENT is set (the
# LINEs then name a service account).
config_gmail()
{
	local name=$1 client=()
	shift
	if [ -z "${GMAIL_NO_CLIENT:-}" ]; then
		client=("client_id = standin-client"
		    "client_secret_file = $(config_secret client-secret standin-secret)"
		    "refresh_token_file = $(config_secret refresh-token \
		    "${GMAIL_REFRESH_TOKEN:-standin-refresh}")")
	fi
	echo
	echo "[account $name]"
	_config_lines "type = gmail" "username = me@example.com" \
	    "addresses = me@example.com" "token_url = $STANDIN_URL/token" \
	    "api_base = $STANDIN_URL" "${client[@]}" -- "$@"
}

gmail_config()
{
	local file=$1
	shift
	{
		config_daemon
		config_gmail "${GMAIL_ACCOUNT:-g}" "$@"
	} >"$file"
}
