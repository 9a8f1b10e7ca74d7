#!/bin/bash
# Servers that lie, stall or flood: nothing lost, nothing wrong stored,
# nothing crashes. A stand-in IMAP server (t/lib/imap_standin.py) plays
# one hostile behaviour at a time, each against its own account:
#  - SEARCH answers the driver cannot understand (none at all, a "-3"
#    among the UIDs, a UID outside the range asked for) store nothing
#    and leave the cursor where it was; once the server behaves, every
#    message is stored;
#  - an EXISTS line with a trailing space is not believed, yet a server
#    that only ever sends such lines gets its mail, with --once and with
#    IDLE;
#  - a message fetch answered without the message (OK, NO, BAD) stores
#    nothing of its batch until the server sends it; one that a fresh
#    SEARCH no longer lists is passed over;
#  - a server without UIDNEXT and 4,000 messages: every one is stored,
#    listed in bounded ranges;
#  - a session facing a server without IDLE logs in once and stays
#    quiet; one facing NO to IDLE or to EXAMINE logs the answer and keeps
#    its session, and the daemon neither crashes nor reports to a
#    sanitizer;
#  - odd but truthful servers are synced in full with exit status 0:
#    unsolicited FETCH/EXISTS/RECENT before every tagged answer (Cyrus),
#    LIST lines that mark \Sent on names that cannot be opened (skipped),
#    LIST with RETURN (...) answered BAD (Courier, imap4d), GSSAPI
#    offered first and refused (the account sets sasl_mechanism = PLAIN),
#    UID SEARCH answered empty across an expunge gap (imap4d);
#  - a literal announced 100 bytes longer than sent, a literal that stops
#    halfway and a 10 MB line in the answer to EXAMINE end the pass in
#    time with status 1 and an error naming the account, in bounded
#    memory, storing no spliced or cut message;
#  - in every case the cursor never passes a message that is not stored,
#    a pass against a sound server then stores each message exactly
#    once, and no case ever made the daemon send STORE, SELECT, EXPUNGE,
#    COPY, MOVE, APPEND or a body fetch without PEEK.

INBOXD_TEST_TIMEOUT=${INBOXD_TEST_TIMEOUT:-120}
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/faults.sh"

USER=sales@example.com
N=5
CTL=$TEST_TMP/standin.control
SLOG=$TEST_TMP/standin.commands

pg_start || bail_out "PostgreSQL did not start"

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
imap_standin_start "$TEST_TMP/standin.port" "$SLOG" --maildir "$TEST_TMP/mail" \
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

# EXISTS with a trailing space is not read as a count, but a server that
# only ever sends it still gets its mail: the folder is listed.
what="EXISTS always with a trailing space"
c=$(cfg space "$PORT")
hostile '{"exists_space": true}'
for pass in 1 2; do
	once "$what, pass $pass" "$c"
	is "$INBOXD_RC" 0 "$what, pass $pass: exit status 0"
	is "$(acct_rows space)" $N "$what, pass $pass: all stored"
	is "$(acct_cursor space)" $N "$what, pass $pass: cursor $N"
	ok "$what, pass $pass: the odd answer is logged" \
	    grep -q 'account=space mailbox=INBOX: the answer to EXAMINE was not understood' \
	    "$INBOXD_OUT"
done
hostile '{}'
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

# Servers that answer in ways the driver must survive --------------------------
#
# Each switch of the stand-in against its own account: the pass ends in
# time with status 0 (a server that is odd but truthful) or 1 (one whose
# answer cannot be trusted: the documented failure of --once), without a
# sanitizer report; what is stored is exactly messages of the server, the
# cursor never passes a message that is not stored, and a pass against a
# sound server then stores every message exactly once.

# The size of each message as the stand-in serves it (CRLF line ends),
# as SQL rows (Message-ID, size).
sizes=
for i in $(seq 1 $N); do
	f=$TEST_TMP/mail/$i.eml
	sizes="$sizes${sizes:+, }('hostile-$i@p.example', $(($(wc -c <"$f") + $(wc -l <"$f"))))"
done

# wrong_rows ACCOUNT: stored rows that are not exactly one message of the
# stand-in: an unknown Message-ID, a body that is not the message's own
# or holds IMAP protocol text (two messages spliced), or another size.
wrong_rows()
{
	sql "SELECT count(*) FROM conversation_messages m
	    LEFT JOIN (VALUES $sizes) AS s(id, size) ON s.id = m.rfc_message_id
	    WHERE m.$(_acct_where "$1") AND (s.id IS NULL
	    OR position('Body of \"' || m.subject || '\".' IN m.content) = 0
	    OR m.content ~ '(FETCH \(|BODY\[|RFC822\.SIZE|INTERNALDATE| OK )'
	    OR m.content ~ 'Hostile [0-9]+.*Hostile [0-9]+'
	    OR m.size_bytes IS DISTINCT FROM s.size)"
}

# acct_uids ACCOUNT: the UIDs stored, "1 2 4"
acct_uids()
{
	sql "SELECT coalesce(string_agg(uid::text, ' ' ORDER BY uid), '')
	    FROM message_locations WHERE $(_acct_where "$1") AND mailbox = 'INBOX'"
}

# cursor_sound WHAT ACCOUNT [GONE...]: the cursor is at or below the
# highest UID stored, and every UID up to it that the server holds (all
# but GONE) is stored.
cursor_sound()
{
	local what=$1 acct=$2 cur top stored want u
	shift 2
	cur=$(acct_cursor "$acct")
	top=$(sql "SELECT coalesce(max(uid), 0) FROM message_locations
	    WHERE $(_acct_where "$acct") AND mailbox = 'INBOX'")
	ok "$what: the cursor ($cur) is at or below the last stored UID ($top)" \
	    test "$cur" -le "$top"
	stored=$(sql "SELECT count(DISTINCT uid) FROM message_locations
	    WHERE $(_acct_where "$acct") AND mailbox = 'INBOX' AND uid <= $cur")
	want=0
	for ((u = 1; u <= cur; u++)); do
		[[ " $* " == *" $u "* ]] || want=$((want + 1))
	done
	is "$stored" "$want" "$what: every UID up to the cursor is stored"
}

# exactly_once WHAT ACCOUNT COUNT: COUNT rows, COUNT Message-IDs, COUNT
# locations, none of them wrong.
exactly_once()
{
	local w
	w=$(_acct_where "$2")
	is "$(acct_rows "$2")" "$3" "$1: $3 messages stored"
	is "$(sql "SELECT count(DISTINCT rfc_message_id) FROM conversation_messages
	    WHERE $w")" "$3" "$1: $3 distinct Message-IDs"
	is "$(sql "SELECT count(*) FROM message_locations WHERE $w")" "$3" \
	    "$1: $3 locations"
	is "$(wrong_rows "$2")" 0 "$1: every row is one whole message"
}

# status WHAT RC: the pass ended with RC.
status()
{
	is "$INBOXD_RC" "$2" "$1: exit status $2"
}

# error_named WHAT ACCOUNT: the pass logged an error naming the account,
# and sync_state holds it.
error_named()
{
	ok "$1: an error names account $2" \
	    grep -qE "error: account=$2[: ]" "$INBOXD_OUT"
	ok "$1: the error is recorded" test -n "$(sql "SELECT last_error
	    FROM sync_state WHERE $(_acct_where "$2") AND mailbox = 'INBOX'")"
}

# then_sound WHAT ACCOUNT CONFIG [COUNT [SWITCHES]]: a pass against a
# server that behaves (SWITCHES, default none) stores every message
# (COUNT, default N) exactly once.
then_sound()
{
	local what="$1, then a sound server" switches='{}'
	[ $# -lt 5 ] || switches=$5
	hostile "$switches"
	once "$what" "$3"
	status "$what" 0
	exactly_once "$what" "$2" "${4:-$N}"
	is "$(acct_cursor "$2")" $N "$what: the cursor is at UID $N"
}

# from_line: the next line of the stand-in's command log.
from_line()
{
	echo $(($(wc -l <"$SLOG") + 1))
}

# Unsolicited FETCH, EXISTS and RECENT before every tagged answer, as
# Cyrus reports the changes of other sessions: nothing to fail for.
c=$(cfg unsol "$PORT")
hostile '{"unsolicited": true}'
once "unsolicited answers" "$c"
status "unsolicited answers" 0
exactly_once "unsolicited answers" unsol $N
is "$(acct_cursor unsol)" $N "unsolicited answers: the cursor is at UID $N"
then_sound "unsolicited answers" unsol "$c"

# A literal announced 100 bytes longer than sent: the client swallows the
# start of the next answer. It must not store that splice.
for kind in literal_long stall; do
	case $kind in
	literal_long) what="UID 3's literal 100 bytes short" ;;
	stall) what="UID 3's literal stops halfway" ;;
	esac
	# io_timeout: a silent server is given up on after 5 s, not 60.
	c=$(cfg "$kind" "$PORT" "batch_size = 10" "io_timeout = 5s")
	hostile "{\"${kind}_uid\": 3}"
	t0=$(now_ms)
	once "$what" "$c"
	note "$what: the pass took $(( $(now_ms) - t0 )) ms"
	status "$what" 1
	error_named "$what" "$kind"
	is "$(wrong_rows "$kind")" 0 "$what: no row is spliced or cut"
	nok "$what: UID 3 is not stored" grep -qw 3 <<<"$(acct_uids "$kind")"
	is "$(acct_rows "$kind")" "$(wc -w <<<"$(acct_uids "$kind")")" \
	    "$what: one row per UID stored"
	cursor_sound "$what" "$kind"
	then_sound "$what" "$kind" "$c"
done

# The connection reset in the middle of a literal, as when a server is
# killed with the client's commands unread: libcurl's words for the
# failed read name the cause, and nothing is written where it must not.
what="UID 3's literal cut by a reset"
c=$(cfg reset "$PORT" "batch_size = 10")
hostile '{"reset_uid": 3}'
once "$what" "$c"
status "$what" 1
error_named "$what" reset
like "$(grep 'error: account=reset' "$INBOXD_OUT" | head -n 1)" \
    'Connection reset by peer' "$what: the error says the connection was reset"
nok "$what: UID 3 is not stored" grep -qw 3 <<<"$(acct_uids reset)"
cursor_sound "$what" reset
no_sanitizer_report "$what" "$INBOXD_OUT"
then_sound "$what" reset "$c"

# SIGTERM while a literal stalls: the daemon gives the batch in flight
# a grace of 3 s, then leaves it for next time and exits.
what="SIGTERM while UID 3's literal stalls"
hostile '{"stall_uid": 3}'
first=$(from_line)
_stalled()
{
	tail -n +"$first" "$SLOG" | grep -q 'UID FETCH .*BODY.PEEK'
}
inboxd_start --config "$(cfg sigstall "$PORT" "batch_size = 10" "idle = false")"
ok "$what: the daemon fetches the batch" wait_for 30 _stalled
sleep 1
t0=$(now_ms)
rc=0
inboxd_stop || rc=$?
took=$(( $(now_ms) - t0 ))
note "$what: the daemon exited $took ms after SIGTERM, status $rc"
is "$rc" 0 "$what: exit status 0"
ok "$what: it exits within 10 s" test "$took" -lt 10000
ok "$what: it says the batch is left for next time" \
    grep -q 'did not finish within 3 s of the stop' "$INBOXD_LOG"
is "$(wrong_rows sigstall)" 0 "$what: no row is spliced or cut"
no_sanitizer_report "$what" "$INBOXD_LOG"
hostile '{}'

# An untagged line of 10 MB in the answer to EXAMINE: refused with a
# clear error, in bounded memory.
peak_kb()
{
	"$PYTHON3" -c 'import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:], stdin=subprocess.DEVNULL)
with open(sys.argv[1], "w") as f:
    f.write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)' "$@"
}

# measured_once WHAT CONFIG: once, and PEAK_KB = the pass' peak RSS.
measured_once()
{
	local what=$1
	_harness_once_n=$((_harness_once_n + 1))
	INBOXD_OUT=$TEST_TMP/inboxd.once-$_harness_once_n.log
	INBOXD_RC=0
	peak_kb "$TEST_TMP/peak" timeout --kill-after=10 "$INBOXD_TEST_TIMEOUT" \
	    "$top_builddir/inboxd" --config "$2" --once >"$INBOXD_OUT" 2>&1 ||
	    INBOXD_RC=$?
	PEAK_KB=$(cat "$TEST_TMP/peak" 2>/dev/null || echo 0)
	if [ "$INBOXD_RC" -ge 124 ]; then
		fail "$what: the pass ends without crashing"
		diag "exit status $INBOXD_RC: $(tail -n 20 "$INBOXD_OUT")"
	else
		pass "$what: the pass ends without crashing ($INBOXD_RC)"
	fi
	no_sanitizer_report "$what" "$INBOXD_OUT"
}

what="a 10 MB line in the answer to EXAMINE"
c=$(cfg longline "$PORT")
hostile '{}'
measured_once "a sound server (for its memory)" "$(cfg sound "$PORT")"
sound_kb=$PEAK_KB
hostile '{"long_line": true}'
measured_once "$what" "$c"
note "$what: peak RSS $PEAK_KB KB, $sound_kb KB against a sound server"
status "$what" 1
error_named "$what" longline
is "$(acct_rows longline)" 0 "$what: nothing is stored"
is "$(acct_cursor longline)" 0 "$what: the cursor has not moved"
ok "$what: memory stays bounded (peak under 6 MB above a sound pass)" \
    test "$PEAK_KB" -lt $((sound_kb + 6 * 1024))
then_sound "$what" longline "$c"

# LIST with RETURN (...) answered BAD, as Courier and imap4d do: a
# plain LIST finds the folders.
what="no LIST-EXTENDED"
c=$(cfg nolist "$PORT")
hostile '{"no_list_extended": true}'
from=$(from_line)
once "$what" "$c"
status "$what" 0
exactly_once "$what" nolist $N
is "$(acct_cursor nolist)" $N "$what: the cursor is at UID $N"
ok "$what: a plain LIST is sent" \
    grep -qE '^[0-9]+ [^ ]+ LIST "" "?\*"?$' <(tail -n +"$from" "$SLOG")
then_sound "$what" nolist "$c"

# LIST marks \Sent on names that cannot be opened (raw UTF-8, "", a
# NUL, a bare CR inside the line): each line is skipped, INBOX is synced
# and no other folder is opened.
what="LIST with garbled \\Sent lines"
c=$(cfg garbled "$PORT")
hostile '{"garbled_list": true}'
from=$(from_line)
once "$what" "$c"
status "$what" 0
exactly_once "$what" garbled $N
is "$(tail -n +"$from" "$SLOG" | grep -E '^[0-9]+ [^ ]+ (EXAMINE|SELECT) ' |
    grep -cvE ' (EXAMINE|SELECT) "?INBOX"?$' || :)" 0 \
    "$what: no folder but INBOX is opened"
then_sound "$what" garbled "$c"

# GSSAPI offered first and refused; the account asks for PLAIN.
what="AUTH=GSSAPI offered first"
c=$(cfg gss "$PORT" "sasl_mechanism = PLAIN")
hostile '{"gssapi_first": true}'
from=$(from_line)
once "$what" "$c"
status "$what" 0
ok "$what: the daemon logs in with PLAIN" \
    grep -qE '^[0-9]+ [^ ]+ AUTHENTICATE PLAIN' <(tail -n +"$from" "$SLOG")
exactly_once "$what" gss $N
then_sound "$what" gss "$c"

# UID SEARCH across an expunge gap answered empty, as imap4d does: the
# messages that are there are still found, and the cursor passes none.
what="UID SEARCH empty across the expunged UID 3"
c=$(cfg gaps "$PORT")
hostile '{"search_gaps": true, "expunged": [3]}'
once "$what" "$c"
status "$what" 0
exactly_once "$what" gaps $((N - 1))
cursor_sound "$what" gaps 3
then_sound "$what" gaps "$c" $((N - 1)) '{"expunged": [3]}'
hostile '{}'

# No UIDNEXT, 4,000 messages -------------------------------------------------
BIG=4000
imap_standin_start "$TEST_TMP/standin2.port" "$TEST_TMP/standin2.commands" \
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

watch spaceidle '{"exists_space": true}'
ok "EXISTS with a trailing space, IDLE: the pass stores the mail" \
    wait_rows spaceidle $N 30
sleep 2
ok "EXISTS with a trailing space, IDLE: the daemon is running" \
    alive "$INBOXD_PID"
is "$(acct_cursor spaceidle)" $N \
    "EXISTS with a trailing space, IDLE: cursor $N"
stopped "EXISTS with a trailing space, IDLE"
no_sanitizer_report "EXISTS with a trailing space, IDLE" "$INBOXD_LOG"
hostile '{}'

# Read-only, whatever the server does ----------------------------------------

# Every command of every case, from both stand-ins' logs.
cat "$SLOG" "$TEST_TMP/standin2.commands" >"$TEST_TMP/all.commands"
bad=$(grep -iE '^[0-9]+ [^ ]+ (UID )?(STORE|SELECT|EXPUNGE|COPY|MOVE|APPEND)( |$)' \
    "$TEST_TMP/all.commands")
is "$(grep -c . <<<"$bad" || :)" 0 \
    "no STORE, SELECT, EXPUNGE, COPY, MOVE or APPEND was sent"
[ -z "$bad" ] || diag "$(cut -d' ' -f3- <<<"$bad" | cut -c1-40 | sort | uniq -c |
    sort -rn | head -n 8)"
bad=$(grep -iE '^[0-9]+ [^ ]+ (UID )?FETCH ' "$TEST_TMP/all.commands" |
    grep -iE 'BODY\[|RFC822( |\)|$)')
is "$(grep -c . <<<"$bad" || :)" 0 "every body fetch was BODY.PEEK[]"
[ -z "$bad" ] || diag "$(head -n 5 <<<"$bad")"

done_testing
