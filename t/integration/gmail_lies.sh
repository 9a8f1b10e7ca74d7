#!/bin/bash
# Gmail answers that lie, against t/gmail/standin.py: a messages.get
# whose raw is missing, empty, not a string or not base64url is not
# stored, fails the pass naming the message, and keeps the cursor, so
# the next pass fetches it; a historyId that is garbage, too long or
# lower than the stored cursor is refused, and the cursor kept; a
# garbage cursor stored before is left behind by catching up by date.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/gmail/lib.sh"

pg_start || bail_out "PostgreSQL did not start"
gmail_questions 3
standin_start || bail_out "the stand-in did not start"
gmail_config "$GMAIL_CFG"

count_msgs()
{
	sql "SELECT count(*) FROM conversation_messages m
	    JOIN mail_accounts a ON a.id = m.account_id WHERE a.name = 'g'"
}

doubles()
{
	sql "SELECT count(*) FROM (SELECT 1 FROM conversation_messages
	    GROUP BY account_id, rfc_message_id HAVING count(*) > 1) d"
}

# of_g COLUMN: a column of account g's Gmail sync state.
of_g()
{
	sql "SELECT coalesce(s.$1, '-') FROM sync_state s JOIN mail_accounts a
	    ON a.id = s.account_id WHERE a.name = 'g' AND s.mailbox = 'gmail'"
}

cursor()
{
	of_g history_id
}

last_error()
{
	of_g last_error
}

N=0
# add_mail COUNT: new inbound mail; the ids in $IDS.
add_mail()
{
	local i
	IDS=
	for ((i = 0; i < $1; i++)); do
		N=$((N + 1))
		mail_write "$TEST_TMP/n$N.eml" "New $N <n$N@later.example>" \
		    me@example.com "New $N" "$(date -R)" "n$N@later.example"
		IDS="$IDS${IDS:+|}$(standin_add "$TEST_TMP/n$N.eml" INBOX)" ||
		    bail_out "cannot add mail"
	done
}

ok "first sync exits 0" inboxd_once "$GMAIL_CFG"
is "$(count_msgs)" 3 "3 messages"

# Raw messages that are not ------------------------------------------------------

# bad_raw FAULT WHY: two new messages whose raw the stand-in spoils.
bad_raw()
{
	local fault=$1 why=$2 before cursor_before gets_before
	add_mail 2
	before=$(count_msgs)
	cursor_before=$(cursor)
	standin_admin POST faults "{\"$fault\": 2}" >/dev/null
	inboxd_run "$fault" --config "$GMAIL_CFG" --once
	is "$INBOXD_RC" 1 "$fault: the pass fails: exit 1"
	like "$(cat "$INBOXD_OUT")" \
	    "account=g: sync failed: messages.get ($IDS): $why; not stored \(2 messages refused\)" \
	    "$fault: the error names the message and the problem"
	like "$(last_error)" "messages.get ($IDS): $why" \
	    "$fault: the error is recorded"
	is "$(count_msgs)" "$before" "$fault: neither message is stored"
	is "$(cursor)" "$cursor_before" "$fault: the cursor is kept"
	gets_before=$(standin_by_kind get)
	ok "$fault: the next pass exits 0" inboxd_once "$GMAIL_CFG"
	is "$(($(standin_by_kind get) - gets_before))" 2 \
	    "$fault: it fetches both messages again"
	is "$(count_msgs)" $((before + 2)) "$fault: and stores both"
	is "$(doubles)" 0 "$fault: each once"
	is "$(sql "SELECT count(*) FROM conversation_messages
	    WHERE coalesce(content, '') = ''")" 0 \
	    "$fault: no message stored empty"
	is "$(cursor)" "$(standin_stat 'd["historyId"]')" \
	    "$fault: the cursor is current again"
}

bad_raw raw_missing "the answer has no raw message"
bad_raw raw_empty "raw is empty"
bad_raw raw_not_string "raw is not a string"
bad_raw raw_not_base64url "raw is not valid base64url"

# One refused among good ones: the good ones are stored, the cursor is not moved.
add_mail 3
before=$(count_msgs)
cursor_before=$(cursor)
standin_admin POST faults '{"raw_not_base64url": 1}' >/dev/null
inboxd_run one-bad --config "$GMAIL_CFG" --once
is "$INBOXD_RC" 1 "one message of three refused: exit 1"
like "$(cat "$INBOXD_OUT")" \
    "account=g: sync failed: messages.get ($IDS): raw is not valid base64url; not stored$" \
    "the error names it"
is "$(count_msgs)" $((before + 2)) "the other two are stored"
is "$(cursor)" "$cursor_before" "the cursor is kept"
ok "the next pass exits 0" inboxd_once "$GMAIL_CFG"
is "$(count_msgs)" $((before + 3)) "and stores the third"
is "$(doubles)" 0 "none twice"

# historyIds that are not -----------------------------------------------------------

# bad_history LIE WHAT WHY: history.list answering a lying historyId.
bad_history()
{
	local lie=$1 what=$2 why=$3 before cursor_before
	add_mail 1
	before=$(count_msgs)
	cursor_before=$(cursor)
	standin_admin POST faults "{\"history_id\": $lie}" >/dev/null
	inboxd_run "history-$lie" --config "$GMAIL_CFG" --once
	is "$INBOXD_RC" 1 "history.list answering $what: exit 1"
	like "$(cat "$INBOXD_OUT")" "account=g: sync failed: history.list: $why" \
	    "$what: the error says so"
	is "$(cursor)" "$cursor_before" "$what: the cursor is kept"
	is "$(count_msgs)" "$before" "$what: nothing stored"
	standin_admin POST faults '{"history_id": 0}' >/dev/null
	ok "$what: with the truth again the pass exits 0" inboxd_once "$GMAIL_CFG"
	is "$(count_msgs)" $((before + 1)) "$what: and stores the message"
	is "$(cursor)" "$(standin_stat 'd["historyId"]')" \
	    "$what: the cursor is current"
}

bad_history 1 "a garbage historyId" \
    'the historyId "12abc" is not a decimal number of at most 20 digits; the cursor is kept'
bad_history 3 "a historyId of 21 digits" \
    'the historyId "1{21}" is not a decimal number of at most 20 digits'
bad_history 2 "a historyId lower than the cursor" \
    "the historyId [0-9]+ is lower than the stored cursor [0-9]+; the cursor is kept"

# A first sync whose profile lies: nothing is stored, no cursor.
standin_admin POST faults '{"history_id": 1}' >/dev/null
GMAIL_ACCOUNT=p gmail_config "$GMAIL_CFG"
inboxd_run profile --config "$GMAIL_CFG" --once
is "$INBOXD_RC" 1 "users.getProfile answering a garbage historyId: exit 1"
like "$(cat "$INBOXD_OUT")" \
    'account=p: sync failed: users.getProfile: the historyId "12abc" is not a decimal number' \
    "the error says so"
is "$(sql "SELECT count(*) FROM sync_state s JOIN mail_accounts a
    ON a.id = s.account_id WHERE a.name = 'p' AND s.history_id IS NOT NULL")" 0 \
    "no cursor stored"
standin_admin POST faults '{"history_id": 0}' >/dev/null
ok "with the truth again the first sync exits 0" inboxd_once "$GMAIL_CFG"
GMAIL_ACCOUNT=g gmail_config "$GMAIL_CFG"

# A garbage cursor stored by an older inboxd is left behind.
sql "UPDATE sync_state SET history_id = '12abc' FROM mail_accounts a
    WHERE a.id = sync_state.account_id AND a.name = 'g' AND mailbox = 'gmail'" \
    >/dev/null
add_mail 1
before=$(count_msgs)
ok "a pass from a garbage stored cursor exits 0" inboxd_once "$GMAIL_CFG"
like "$(cat "$INBOXD_OUT")" \
    'account=g: the stored cursor "12abc" is not a historyId; catching up by date' \
    "it says so"
is "$(count_msgs)" $((before + 1)) "the new message is stored"
is "$(doubles)" 0 "none twice"
is "$(cursor)" "$(standin_stat 'd["historyId"]')" "the cursor is a historyId again"

# A gzip bomb -------------------------------------------------------------------

# An answer of about 100 KB that inflates to 100 MB is cut while it
# streams and refused; the daemon's memory stays far below the bomb.
add_mail 1
before=$(count_msgs)
cursor_before=$(cursor)
standin_admin POST faults '{"gzip_bomb": 1}' >/dev/null
INBOXD_OUT=$TEST_TMP/inboxd.bomb.log
INBOXD_RC=0
"$PYTHON3" -c 'import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:], stdin=subprocess.DEVNULL,
    stdout=open(sys.argv[1] + ".log", "w"), stderr=subprocess.STDOUT)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)' "$TEST_TMP/bomb" timeout --kill-after=10 60 \
    "$top_builddir/inboxd" --config "$GMAIL_CFG" --once >"$TEST_TMP/bomb.kb" ||
    INBOXD_RC=$?
is "$INBOXD_RC" 1 "a gzip bomb: the pass fails: exit 1"
like "$(cat "$TEST_TMP/bomb.log")" "the answer is larger than 72 MB" \
    "a gzip bomb: the error says the answer is too large"
peak=$(cat "$TEST_TMP/bomb.kb")
note "a gzip bomb: peak RSS $peak KB"
# Under AddressSanitizer memory is no measure: it keeps freed blocks in
# quarantine and shadows every byte. (grep reads all of ldd's output:
# with pipefail, "grep -q" quitting early could fail the pipeline.)
if [ "$(ldd "$top_builddir/inboxd" 2>/dev/null | grep -c libasan)" -gt 0 ]; then
	skip "a gzip bomb: memory (an AddressSanitizer build)"
else
	ok "a gzip bomb: memory stays under 160 MB" \
	    test "$peak" -lt $((160 * 1024))
fi
is "$(count_msgs)" "$before" "a gzip bomb: nothing is stored"
is "$(cursor)" "$cursor_before" "a gzip bomb: the cursor is kept"
ok "a gzip bomb: the next pass exits 0" inboxd_once "$GMAIL_CFG"
is "$(count_msgs)" $((before + 1)) "a gzip bomb: the message is stored then"

done_testing
