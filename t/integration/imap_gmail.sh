#!/bin/bash
# Gmail over IMAP is Gmail too. Against a stand-in that plays Gmail
# (X-GM-EXT-1, "[Gmail]/All Mail" marked \All, "[Gmail]/Sent Mail"
# marked \Sent, a label's folder), the IMAP driver:
#  - asks for X-GM-MSGID, X-GM-THRID and X-GM-LABELS with each body, and
#    stores the ids as the Gmail API driver stores the same message's
#    (the API's ids are the IMAP numbers in lower-case hex);
#  - threads by Gmail's thread id, also a reply without References or
#    In-Reply-To under another subject, as the API driver does;
#  - stores a message found in several folders (INBOX, Sent Mail, All
#    Mail, a label's folder) once, with one Gmail location, matched by
#    its Gmail id even when its Message-ID no longer matches;
#  - stores as outbound what Sent Mail holds (Gmail leaves the \Sent
#    label out there) and what INBOX holds labelled \Sent;
#  - syncs INBOX and Sent Mail only, unless folders names more;
#  - sends no X-GM item to a server without X-GM-EXT-1;
#  - never sends STORE, COPY, MOVE, EXPUNGE, SELECT, APPEND or a body
#    fetch without PEEK, and runs without a sanitizer report.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/gmail/lib.sh"

USER=me@example.com
ALIAS=alias@example.net
GM=$TEST_TMP/gm
mkdir -p "$GM"

pg_start || bail_out "PostgreSQL did not start"

# One conversation with Ann: her question, our answer (sent from an
# alias the account does not list, with another subject and no
# References), her follow-up (no References either); a note we sent
# ourselves, in INBOX and Sent Mail; Bob's message, a thread of its own.
mail_write "$GM/q1.eml" "Ann <ann@customer.example>" $USER \
    "Pricing for 50 seats" "Mon, 06 Nov 2023 09:00:00 +0000" q1@customer.example
mail_write "$GM/r1.eml" "Me <$ALIAS>" ann@customer.example \
    "Our offer" "Mon, 06 Nov 2023 10:00:00 +0000" r1@example.net
mail_write "$GM/q2.eml" "Ann <ann@customer.example>" $USER \
    "One more question" "Mon, 06 Nov 2023 11:00:00 +0000" q2@customer.example
mail_write "$GM/note.eml" "Me <$ALIAS>" $USER \
    "Note to self" "Mon, 06 Nov 2023 12:00:00 +0000" note@example.net
mail_write "$GM/b1.eml" "Bob <bob@other.example>" $USER \
    "Partnership" "Mon, 06 Nov 2023 13:00:00 +0000" b1@other.example

# field MESSAGE-ID COLUMN [ACCOUNT]: a column of the account's row.
field()
{
	sql "SELECT $2 FROM conversation_messages
	    WHERE rfc_message_id = '$1' AND account_id =
	    (SELECT id FROM mail_accounts WHERE name = '${3:-gi}')"
}

acct_rows_of()
{
	sql "SELECT count(*) FROM conversation_messages WHERE account_id =
	    (SELECT id FROM mail_accounts WHERE name = '$1')"
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

# The Gmail API's ids for the same messages ----------------------------------

# The API stand-in numbers messages itself; its ids are what the IMAP
# stand-in then serves, as numbers, so that both drivers see one mailbox.
for m in q1 r1 q2; do
	dir=INBOX
	[ $m = r1 ] && dir=SENT
	{ echo "X-Test-Thread: ann"; cat "$GM/$m.eml"; } >"$GMAIL_MAILDIR/$dir/$m.eml"
done
standin_start || bail_out "the Gmail API stand-in did not start"
gmail_config "$GMAIL_CFG"
ok "a pass of the Gmail API driver" inboxd_once "$GMAIL_CFG"
no_sanitizer_report "the Gmail API pass" "$INBOXD_OUT"
API_Q1=$(field q1@customer.example gmail_message_id g)
API_T1=$(field q1@customer.example gmail_thread_id g)
API_R1=$(field r1@example.net gmail_message_id g)
like "$API_Q1" '^[0-9a-f]+$' "the API driver stored a hex message id"
standin_stop

# The Gmail IMAP stand-in ------------------------------------------------------

# Ids of messages the API never saw: note and Bob's message.
T1=$((16#$API_T1))
"$PYTHON3" - "$GM" "$((16#$API_Q1))" "$((16#$API_R1))" "$T1" \
    >"$GM/gmail.json" <<'EOF'
import json, sys
d, q1, r1, t1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(json.dumps([
    {"eml": d + "/q1.eml", "msgid": q1, "thrid": t1,
     "labels": ["\\Inbox", "Work", "\\Important"]},
    {"eml": d + "/r1.eml", "msgid": r1, "thrid": t1, "labels": ["\\Sent"]},
    {"eml": d + "/q2.eml", "msgid": q1 + 7, "thrid": t1,
     "labels": ["\\Inbox", "My \"quoted\" label"]},
    {"eml": d + "/note.eml", "msgid": 18446744073709551615,
     "thrid": 18446744073709551615, "labels": ["\\Inbox", "\\Sent"]},
    {"eml": d + "/b1.eml", "msgid": 1234567890123, "thrid": 1234567890123,
     "labels": ["\\Inbox"]},
]))
EOF
SLOG=$TEST_TMP/gmail-imap.commands
CTL=$TEST_TMP/gmail-imap.control
imap_standin_start "$TEST_TMP/gmail-imap.port" "$SLOG" --gmail "$GM/gmail.json" \
    --control "$CTL" ||
    bail_out "the IMAP stand-in did not start: $(cat "$TEST_TMP/standin.err")"
GPORT=$STANDIN_PORT

# gi: INBOX and Sent Mail, as for any server.
CFG=$TEST_TMP/gi.conf
{
	config_daemon
	config_imap gi $USER secret "port = $GPORT"
} >"$CFG"
ok "a pass over Gmail's IMAP" inboxd_once "$CFG"
no_sanitizer_report "the Gmail IMAP pass" "$INBOXD_OUT"

like "$(grep 'UID FETCH' "$SLOG" | grep 'BODY.PEEK\[\]' | head -n 1)" \
    'X-GM-MSGID X-GM-THRID X-GM-LABELS' \
    "the body FETCH asks for Gmail's ids and labels"
is "$(sql "SELECT string_agg(mailbox, ',' ORDER BY mailbox) FROM sync_state
    WHERE account_id = (SELECT id FROM mail_accounts WHERE name = 'gi')")" \
    "INBOX,[Gmail]/Sent Mail" "INBOX and Sent Mail are synced, not All Mail"
is "$(field q1@customer.example gmail_message_id)" "$API_Q1" \
    "the message id is the Gmail API's"
is "$(field q1@customer.example gmail_thread_id)" "$API_T1" \
    "the thread id is the Gmail API's"
is "$(field r1@example.net gmail_message_id)" "$API_R1" \
    "the Sent Mail message's id is the Gmail API's"
is "$(field note@example.net gmail_message_id)" ffffffffffffffff \
    "the largest id, in hex"
is "$(field b1@other.example gmail_thread_id)" "$(printf %x 1234567890123)" \
    "an id under 16 hex digits, without leading zeros"
is "$(field q1@customer.example "array_to_string(gmail_labels, '|')")" \
    "Work|IMPORTANT" "labels: system ones named as the API names them"
is "$(field q2@customer.example "array_to_string(gmail_labels, '|')")" \
    'My "quoted" label' "labels: a quoted one unquoted"

is "$(field r1@example.net direction)" outbound \
    "Sent Mail's message is outbound, though Gmail leaves out \\Sent there"
is "$(field note@example.net direction)" outbound \
    "a message in INBOX labelled \\Sent is outbound"
is "$(field q1@customer.example direction)" inbound "Ann's question is inbound"
is "$(sql "SELECT count(*) FROM conversation_messages
    WHERE rfc_message_id = 'note@example.net'")" 1 \
    "a message in INBOX and Sent Mail is one row"
is "$(sql "SELECT count(*) FROM message_locations l
    JOIN conversation_messages m ON m.id = l.message_id
    WHERE m.rfc_message_id = 'note@example.net'")" 2 \
    "with both copies' locations"
is "$(sql "SELECT count(*) FROM gmail_locations g
    JOIN conversation_messages m ON m.id = g.message_id
    WHERE m.rfc_message_id = 'note@example.net'")" 1 \
    "and one Gmail location"

is "$(sql "SELECT count(DISTINCT conversation_id) FROM conversation_messages
    WHERE rfc_message_id IN ('q1@customer.example', 'r1@example.net',
    'q2@customer.example') AND account_id =
    (SELECT id FROM mail_accounts WHERE name = 'gi')")" 1 \
    "Ann's three messages are one conversation, by X-GM-THRID alone"
is "$(sql "SELECT c.gmail_thread_id FROM conversations c
    JOIN conversation_messages m ON m.conversation_id = c.id
    WHERE m.rfc_message_id = 'r1@example.net' AND c.account_id =
    (SELECT id FROM mail_accounts WHERE name = 'gi')")" "$API_T1" \
    "the conversation carries Gmail's thread id"
isnt "$(field b1@other.example conversation_id)" \
    "$(field q1@customer.example conversation_id)" \
    "Bob's thread is another conversation"
is "$(sql "SELECT (SELECT c.status FROM conversations c
    WHERE c.id = m.conversation_id) FROM conversation_messages m
    WHERE m.rfc_message_id = 'q1@customer.example' AND m.account_id =
    (SELECT id FROM mail_accounts WHERE name = 'gi')")" needs_reply \
    "Ann's last word waits for a reply"
is "$(acct_rows_of gi)" 5 "five messages, five rows"

ok "a second pass" inboxd_once "$CFG"
is "$(acct_rows_of gi)" 5 "the second pass stores nothing again"

# gall: All Mail and a label's folder as well ----------------------------------

CFG=$TEST_TMP/gall.conf
{
	config_daemon
	config_imap gall $USER secret "port = $GPORT" \
	    "folders = [Gmail]/All Mail, Work"
} >"$CFG"
ok "a pass that syncs All Mail and Work too" inboxd_once "$CFG"
no_sanitizer_report "the All Mail pass" "$INBOXD_OUT"
is "$(acct_rows_of gall)" 5 "every message is one row, All Mail or not"
is "$(sql "SELECT count(*) FROM message_locations l
    JOIN conversation_messages m ON m.id = l.message_id
    WHERE m.rfc_message_id = 'q1@customer.example' AND m.account_id =
    (SELECT id FROM mail_accounts WHERE name = 'gall')")" 3 \
    "Ann's question is located in INBOX, All Mail and Work"
is "$(sql "SELECT count(*) FROM gmail_locations g
    WHERE g.account_id = (SELECT id FROM mail_accounts WHERE name = 'gall')")" \
    5 "one Gmail location per message"
is "$(field r1@example.net direction gall)" outbound \
    "Sent Mail's message is outbound though All Mail has it too"

# A copy is matched by its Gmail id alone: gi's row of Ann's question
# gets another Message-ID and content hash (as an application might
# have rewritten it), then gi syncs Work, which holds the question too.
sql "UPDATE conversation_messages SET rfc_message_id = 'rewritten@app.example',
    content_hash = 'other' WHERE rfc_message_id = 'q1@customer.example'
    AND account_id = (SELECT id FROM mail_accounts WHERE name = 'gi')" \
    >/dev/null
CFG=$TEST_TMP/gi-work.conf
{
	config_daemon
	config_imap gi $USER secret "port = $GPORT" "folders = Work"
} >"$CFG"
ok "a pass that adds Work" inboxd_once "$CFG"
is "$(acct_rows_of gi)" 5 "Work's copy of the question is no new row"
is "$(sql "SELECT string_agg(l.mailbox, ',' ORDER BY l.mailbox)
    FROM message_locations l JOIN conversation_messages m
    ON m.id = l.message_id WHERE m.rfc_message_id = 'rewritten@app.example'")" \
    "INBOX,Work" "it is located in Work too, on the row its Gmail id names"

# A garbled X-GM item is refused: the message is not stored, the pass
# says why, and once the server answers well every message is stored.
printf '{"gm_garbled_uid": 1}\n' >"$CTL"
CFG=$TEST_TMP/gx.conf
{
	config_daemon
	config_imap gx $USER secret "port = $GPORT"
} >"$CFG"
inboxd_once "$CFG" >/dev/null 2>&1
isnt "$INBOXD_RC" 0 "a pass against a garbled X-GM-THRID fails"
no_sanitizer_report "the garbled pass" "$INBOXD_OUT"
like "$(cat "$INBOXD_OUT")" "account=gx mailbox=INBOX: a FETCH answer was not understood" \
    "the log says which answer was not understood"
is "$(acct_rows_of gx)" 0 "nothing of the batch is stored"
printf '{}\n' >"$CTL"
ok "a pass once the server answers well" inboxd_once "$CFG"
is "$(acct_rows_of gx)" 5 "then every message is stored"

# A server without X-GM-EXT-1 --------------------------------------------------

PLOG=$TEST_TMP/plain-imap.commands
mkdir -p "$TEST_TMP/plain"
cp "$GM/q1.eml" "$GM/b1.eml" "$TEST_TMP/plain/"
imap_standin_start "$TEST_TMP/plain-imap.port" "$PLOG" \
    --maildir "$TEST_TMP/plain" ||
    bail_out "the IMAP stand-in did not start: $(cat "$TEST_TMP/standin.err")"
CFG=$TEST_TMP/plain.conf
{
	config_daemon
	config_imap plain $USER secret "port = $STANDIN_PORT"
} >"$CFG"
ok "a pass over a server without X-GM-EXT-1" inboxd_once "$CFG"
no_sanitizer_report "the plain pass" "$INBOXD_OUT"
is "$(acct_rows_of plain)" 2 "its mail is stored"
ok "its body FETCH was sent" grep -q 'UID FETCH .*BODY.PEEK\[\]' "$PLOG"
is "$(grep -c 'X-GM' "$PLOG")" 0 "no command names an X-GM item"
is "$(field q1@customer.example "coalesce(gmail_message_id, 'none')" plain)" \
    none "no Gmail id is stored"

# Never a change ---------------------------------------------------------------

for log in "$SLOG" "$PLOG"; do
	is "$(cut -d' ' -f3- "$log" |
	    grep -ciE '^(UID )?(STORE|COPY|MOVE|EXPUNGE|SELECT|APPEND)\b')" 0 \
	    "$(basename "$log"): no STORE, COPY, MOVE, EXPUNGE, SELECT, APPEND"
	is "$(grep -c 'BODY\[' "$log")" 0 \
	    "$(basename "$log"): every body fetch is BODY.PEEK"
done

done_testing
