#!/bin/bash
# Servers that lie, stall or flood: nothing lost, nothing wrong stored,
# nothing crashes. A stand-in IMAP server (t/lib/imap_standin.py) plays
# one hostile behaviour at a time, each against its own account:
#  - SEARCH answers the driver cannot understand (none at all, a "-3"
#    among the UIDs, a UID outside the range asked for) and an EXISTS
#    line with a trailing space store nothing and leave the cursor where
#    it was; once the server behaves, every message is stored;
#  - a message fetch answered without the message (OK, NO, BAD) stores
#    nothing of its batch until the server sends it; one that a fresh
#    SEARCH no longer lists is passed over;
#  - a server without UIDNEXT and 4,000 messages: every one is stored,
#    listed in bounded ranges;
#  - a session facing a server without IDLE logs in once and stays
#    quiet; one facing NO to IDLE or to EXAMINE logs the answer and keeps
#    its session, and the daemon neither crashes nor reports to a
#    sanitizer.

INBOXD_TEST_TIMEOUT=${INBOXD_TEST_TIMEOUT:-120}
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/faults.sh"

USER=sales@example.com
N=5
CTL=$TEST_TMP/standin.control
SLOG=$TEST_TMP/standin.commands

pg_start || bail_out "PostgreSQL did not start"

# standin_start PORTFILE LOG [ARGS...]: the stand-in in the background;
# sets STANDIN_PORT. The harness stops it on exit.
standin_start()
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

# hostile JSON: the stand-in's switches from its next command on.
hostile()
{
	printf '%s\n' "$1" >"$CTL.tmp" && mv "$CTL.tmp" "$CTL"
}

# cfg NAME PORT [LINE...]: the configuration of account NAME on the
# stand-in at PORT, in $TEST_TMP/NAME.conf; prints its path.
cfg()
{
	local name=$1 port=$2
	shift 2
	{
		config_daemon
		config_imap "$name" "$USER" secret "port = $port" "$@"
	} >"$TEST_TMP/$name.conf"
	echo "$TEST_TMP/$name.conf"
}

# once WHAT CONFIG: one pass; it may fail, never crash.
once()
{
	inboxd_once "$2" >/dev/null 2>&1
	if [ "$INBOXD_RC" -ge 124 ]; then
		fail "$1: the pass ends without crashing"
		diag "exit status $INBOXD_RC: $(tail -n 20 "$INBOXD_OUT")"
	else
		pass "$1: the pass ends without crashing ($INBOXD_RC)"
	fi
	no_sanitizer_report "$1" "$INBOXD_OUT"
}

no_sanitizer_report()
{
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$2"; then
		fail "$1: no sanitizer report"
		diag "$(grep -E -A 15 'Sanitizer|runtime error:' "$2" | head -n 30)"
	else
		pass "$1: no sanitizer report"
	fi
}

mkdir -p "$TEST_TMP/mail"
for i in $(seq 1 $N); do
	mail_write "$TEST_TMP/mail/$i.eml" "Pat $i <pat$i@p.example>" "$USER" \
	    "Hostile $i" "Mon, 06 Nov 2023 09:0$i:00 +0000" "hostile-$i@p.example"
done
standin_start "$TEST_TMP/standin.port" "$SLOG" --maildir "$TEST_TMP/mail" \
    --control "$CTL" ||
    bail_out "the IMAP stand-in did not start: $(cat "$TEST_TMP/standin.err")"
PORT=$STANDIN_PORT

# A lie, then the truth: ACCOUNT first meets SWITCHES, then a server
# that behaves.
lie_then_truth()
{
	local acct=$1 switches=$2 what=$3 c
	c=$(cfg "$acct" "$PORT")
	hostile "$switches"
	once "$what" "$c"
	is "$(acct_rows "$acct")" 0 "$what: nothing is stored"
	is "$(acct_cursor "$acct")" 0 "$what: the cursor has not moved"
	ok "$what: the error is recorded" test -n "$(sql "SELECT last_error
	    FROM sync_state WHERE $(_acct_where "$acct") AND mailbox = 'INBOX'")"
	hostile '{}'
	once "$what, then a sound server" "$c"
	is "$(acct_rows "$acct")" $N "$what, then a sound server: all stored"
	is "$(acct_cursor "$acct")" $N "$what, then a sound server: cursor $N"
}

lie_then_truth empty '{"search_empty": true}' "SEARCH without its answer"
lie_then_truth garbage '{"search_garbage": true}' 'SEARCH with "-3"'
lie_then_truth space '{"exists_space": true}' "EXISTS with a trailing space"
lie_then_truth far '{"search_extra_uid": 4000000000}' \
    "SEARCH with UID 4000000000"

# A message answered without its body is not taken for expunged unless a
# fresh SEARCH agrees.
for answer in OK NO BAD; do
	lie_then_truth "fetch$answer" \
	    "{\"fetch_fail_uid\": 3, \"fetch_answer\": \"$answer\"}" \
	    "UID FETCH 3 answered with a bare $answer"
done
c=$(cfg vanish "$PORT")
hostile '{"vanish_uid": 3}'
once "UID 3 expunged before its fetch" "$c"
is "$(acct_rows vanish)" $((N - 1)) "expunged UID 3: the others are stored"
is "$(acct_cursor vanish)" $N "expunged UID 3: the cursor passes it"
hostile '{}'

# No UIDNEXT, 4,000 messages -------------------------------------------------
BIG=4000
standin_start "$TEST_TMP/standin2.port" "$TEST_TMP/standin2.commands" \
    --generate $BIG --no-uidnext ||
    bail_out "the second stand-in did not start: $(cat "$TEST_TMP/standin.err")"
PORT2=$STANDIN_PORT
once "no UIDNEXT, $BIG messages" "$(cfg big "$PORT2" "batch_size = 500")"
is "$(acct_rows big)" $BIG "no UIDNEXT: all $BIG messages are stored"
is "$(acct_cursor big)" $BIG "no UIDNEXT: the cursor is at the last UID"
ok "no UIDNEXT: SEARCH asks for bounded ranges" \
    test "$(grep -cE 'UID SEARCH UID [0-9]+:[0-9]+' "$TEST_TMP/standin2.commands")" -ge $((BIG / 2000))

# IDLE ------------------------------------------------------------------------

# Commands of inboxd's own session from line $1 on that match $2: the
# session tags its commands x1, x2...; libcurl's login tags are letters
# and digits.
session_commands()
{
	tail -n +"$1" "$SLOG" | grep -cE "^[0-9]+ x[0-9]+ $2" || :
}

# watch ACCOUNT SWITCHES: the daemon with IDLE on ACCOUNT while the
# stand-in plays SWITCHES.
watch()
{
	local acct=$1
	hostile "$2"
	WATCH_FROM=$(($(wc -l <"$SLOG") + 1))
	inboxd_start --config "$(cfg "$acct" "$PORT" "idle = true" \
	    "poll_interval = 300s")"
}

# stopped WHAT: the daemon ends on SIGTERM with status 0.
stopped()
{
	local rc=0
	inboxd_stop || rc=$?
	is "$rc" 0 "$1: the daemon stops cleanly"
}

watch noidle '{"no_idle": true}'
ok "no IDLE: the pass stores the mail" wait_rows noidle $N 30
sleep 5
ok "no IDLE: the daemon is running" alive "$INBOXD_PID"
is "$(session_commands "$WATCH_FROM" CAPABILITY)" 1 \
    "no IDLE: one session, logged in once"
is "$(session_commands "$WATCH_FROM" IDLE)" 0 "no IDLE: IDLE is never sent"
is "$(log_count "$INBOXD_LOG" 'IDLE connection lost')" 0 \
    "no IDLE: no connection is reported lost"
ok "no IDLE: the log says new mail waits for the next poll" \
    grep -q 'does not offer IDLE' "$INBOXD_LOG"
stopped "no IDLE"
no_sanitizer_report "no IDLE" "$INBOXD_LOG"

watch idleno '{"idle_no": true}'
ok "NO to IDLE: the pass stores the mail" wait_rows idleno $N 30
sleep 4
ok "NO to IDLE: the daemon is running" alive "$INBOXD_PID"
ok "NO to IDLE: the refusal is logged" \
    grep -q 'the server refused IDLE (NO no IDLE for you)' "$INBOXD_LOG"
is "$(session_commands "$WATCH_FROM" IDLE)" 1 \
    "NO to IDLE: IDLE is asked for once, not again and again"
is "$(session_commands "$WATCH_FROM" CAPABILITY)" 1 \
    "NO to IDLE: the session stays, no new login"
stopped "NO to IDLE"
no_sanitizer_report "NO to IDLE" "$INBOXD_LOG"

watch exno '{"examine_no": true}'
sleep 5
ok "NO to EXAMINE: the daemon is running" alive "$INBOXD_PID"
is "$(acct_rows exno)" 0 "NO to EXAMINE: nothing is stored"
ok "NO to EXAMINE: the log names the folder and the answer" \
    grep -q 'cannot open folder INBOX: NO cannot open the folder' \
    "$INBOXD_LOG"
is "$(session_commands "$WATCH_FROM" IDLE)" 0 \
    "NO to EXAMINE: no IDLE without an open INBOX"
stopped "NO to EXAMINE"
no_sanitizer_report "NO to EXAMINE" "$INBOXD_LOG"

done_testing
