#!/bin/bash
# Gmail's labels mirrored from history.list (against t/gmail/standin.py),
# without listing the mailbox again: labels added and removed become
# the Gmail copy's flags with a message.flags_changed event (one per
# message and pass, whatever the order of the records; a label added
# and then removed is gone); a message deleted, or left without INBOX
# and SENT, loses its copy with a message.removed event, its row
# staying; with mirror_archive, a conversation none of whose messages
# is left in INBOX is archived, without it not; a message added and
# deleted since the cursor is never fetched; changes to messages not
# stored are passed over. A pass that fails before its changes commit,
# or a daemon killed then, keeps the cursor, and the next pass applies
# them once; the same history read twice changes nothing.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/gmail/lib.sh"
. "$top_srcdir/t/lib/ops.sh"

pg_start || bail_out "PostgreSQL did not start"

# The mailbox -------------------------------------------------------------------

M=$GMAIL_MAILDIR
# A file outside the label directories has the labels of its header.
mail_write "$M/01.eml" "Ann <ann@a.example>" me@example.com \
    "Question" "Mon, 06 Nov 2023 09:00:00 +0000" ann-1@a.example \
    "X-Test-Labels: INBOX, UNREAD"
mail_write "$M/INBOX/02.eml" "Bob <bob@b.example>" me@example.com \
    "Offer" "Mon, 06 Nov 2023 10:00:00 +0000" bob-1@b.example \
    "X-Test-Thread: bob"
mail_write "$M/INBOX/03.eml" "Bob <bob@b.example>" me@example.com \
    "Offer, again" "Mon, 06 Nov 2023 11:00:00 +0000" bob-2@b.example \
    "X-Test-Thread: bob"
mail_write "$M/INBOX/04.eml" "Carol <carol@c.example>" me@example.com \
    "Spam, really" "Mon, 06 Nov 2023 12:00:00 +0000" carol-1@c.example
mail_write "$M/INBOX/05.eml" "Hank <hank@h.example>" me@example.com \
    "Hello" "Mon, 06 Nov 2023 13:00:00 +0000" hank-1@h.example
# Neither INBOX nor SENT: never stored.
mkdir -p "$M/Archive"
mail_write "$M/Archive/06.eml" "Gina <gina@g.example>" me@example.com \
    "Old" "Mon, 06 Nov 2023 14:00:00 +0000" gina-1@g.example

standin_start || bail_out "the stand-in did not start"
gmail_config "$GMAIL_CFG" "mirror_archive = true"

msg()
{
	sql "SELECT $2 FROM conversation_messages WHERE rfc_message_id = '$1'"
}
# The Gmail id of a message, as stored.
gid()
{
	msg "$1" gmail_message_id
}
# The stored flags of its Gmail copy, or "gone".
flags()
{
	sql "SELECT coalesce((SELECT array_to_string(g.flags, ' ')
	    FROM gmail_locations g JOIN conversation_messages m
	      ON m.id = g.message_id
	    WHERE m.rfc_message_id = '$1'), 'gone')"
}
events()
{
	sql "SELECT count(*) FROM events WHERE type = '$1'"
}
# The payload member KEY of the last event of TYPE about a message.
last_event()
{
	sql "SELECT e.payload->>'$3' FROM events e
	    JOIN conversation_messages m ON m.id = e.message_id
	    WHERE e.type = '$1' AND m.rfc_message_id = '$2'
	    ORDER BY e.id DESC LIMIT 1"
}
status_of()
{
	sql "SELECT c.status FROM conversations c
	    JOIN conversation_messages m ON m.conversation_id = c.id
	    WHERE m.rfc_message_id = '$1'"
}
cursor()
{
	sql "SELECT history_id FROM sync_state WHERE mailbox = 'gmail'"
}
labels()
{
	standin_admin POST labels "{\"id\": \"$1\", \"add\": [$2], \"remove\": [$3]}" \
	    >/dev/null || bail_out "the stand-in did not change labels"
}
delete()
{
	standin_admin POST delete "{\"id\": \"$1\"}" >/dev/null ||
	    bail_out "the stand-in did not delete"
}

# First sync ---------------------------------------------------------------------

ok "first sync exits 0" inboxd_once "$GMAIL_CFG"
is "$(sql "SELECT count(*) FROM conversation_messages")" 5 "five messages stored"
is "$(flags ann-1@a.example)" "INBOX UNREAD" \
    "a Gmail copy's flags are its labels, sorted"
is "$(flags bob-1@b.example)" INBOX "bob's first message is in INBOX"
is "$(events message.flags_changed)" 0 "no flags_changed event yet"
ANN=$(gid ann-1@a.example)
BOB1=$(gid bob-1@b.example)
BOB2=$(gid bob-2@b.example)
CAROL=$(gid carol-1@c.example)
HANK=$(gid hank-1@h.example)
# The stand-in numbers the messages it loads in the order of their files.
GINA=$(printf '%016x' $((0x$ANN + 5)))
cursor1=$(cursor)
standin_admin POST reset >/dev/null

# Labels changed, messages deleted -------------------------------------------------

# Ann's message read and starred; a label added and taken away again.
labels "$ANN" '"STARRED", "Label_9"' '"UNREAD", "Label_9"'
# Bob archives his first message: the conversation keeps the second in
# INBOX.
labels "$BOB1" "" '"INBOX"'
# Carol's message is deleted for good.
delete "$CAROL"
# A message arrives and is deleted before the next pass.
mail_write "$TEST_TMP/erin.eml" "Erin <erin@e.example>" me@example.com \
    "Gone soon" "Tue, 07 Nov 2023 08:00:00 +0000" erin-1@e.example
ERIN=$(standin_add "$TEST_TMP/erin.eml" INBOX) || bail_out "cannot add mail"
delete "$ERIN"
# A message arrives and is starred at once.
mail_write "$TEST_TMP/frank.eml" "Frank <frank@f.example>" me@example.com \
    "New" "Tue, 07 Nov 2023 09:00:00 +0000" frank-1@f.example
FRANK=$(standin_add "$TEST_TMP/frank.eml" INBOX) || bail_out "cannot add mail"
labels "$FRANK" '"STARRED"' ""
# A message that is not stored gets a label.
labels "$GINA" '"STARRED"' ""

ok "the pass after the changes exits 0" inboxd_once "$GMAIL_CFG"
is "$(standin_by_kind list)" 0 "no messages.list: the history tells all"
is "$(standin_by_kind profile)" 0 "no users.getProfile"
is "$(standin_by_kind get)" 1 "one messages.get: frank's message only"
like "$(standin_requests '[e["path"] for e in log if e["kind"] == "history"][0]')" \
    'historyTypes=messageAdded&historyTypes=labelAdded&historyTypes=labelRemoved&historyTypes=messageDeleted' \
    "history.list asks for the four kinds of records"
is "$(flags ann-1@a.example)" "INBOX STARRED" \
    "ann's labels: UNREAD removed, STARRED added, Label_9 added then removed"
is "$(msg ann-1@a.example "array_to_string(gmail_labels, ' ')")" \
    "INBOX STARRED" "... and the message row's gmail_labels follow"
is "$(events message.flags_changed)" 1 "one message.flags_changed event"
is "$(last_event message.flags_changed ann-1@a.example flags)" \
    '["INBOX", "STARRED"]' "... with the new set"
is "$(last_event message.flags_changed ann-1@a.example previous_flags)" \
    '["INBOX", "UNREAD"]' "... and the one before"
is "$(last_event message.flags_changed ann-1@a.example gmail_message_id)" \
    "$ANN" "... and the Gmail id"
is "$(flags bob-1@b.example)" gone "bob's archived message: its copy is gone"
is "$(msg bob-1@b.example "count(*)")" 1 "... its row stays"
is "$(last_event message.removed bob-1@b.example deleted)" false \
    "... with a message.removed event: not deleted, out of INBOX"
is "$(status_of bob-2@b.example)" needs_reply \
    "bob's conversation still has a message in INBOX: not archived"
is "$(flags carol-1@c.example)" gone "carol's deleted message: its copy is gone"
is "$(msg carol-1@c.example "count(*)")" 1 "... its row stays"
is "$(last_event message.removed carol-1@c.example deleted)" true \
    "... with a message.removed event that says deleted"
is "$(last_event message.removed carol-1@c.example mailbox)" gmail \
    "... in the mailbox gmail"
is "$(status_of carol-1@c.example)" archived \
    "carol's conversation, left without INBOX, is archived"
is "$(events message.removed)" 2 "two message.removed events"
is "$(msg erin-1@e.example "count(*)")" 0 \
    "a message added and deleted since the cursor is not stored"
is "$(flags frank-1@f.example)" "INBOX STARRED" \
    "frank's new message is stored with its labels"
is "$(last_event message.flags_changed frank-1@f.example flags)" "" \
    "... and no flags_changed event: it was fetched as it is"
is "$(msg gina-1@g.example "count(*)")" 0 \
    "a message not stored that got a label is passed over"
is "$(cursor)" "$(standin_stat 'd["historyId"]')" \
    "the cursor moves to the history's end"

# mirror_archive --------------------------------------------------------------------

labels "$BOB2" '"IMPORTANT"' '"INBOX"'
ok "archiving bob's second message: the pass exits 0" inboxd_once "$GMAIL_CFG"
is "$(status_of bob-2@b.example)" archived \
    "no message of bob's left in INBOX: the conversation is archived"
is "$(sql "SELECT payload->>'reason' FROM events
    WHERE type = 'conversation.status_changed' ORDER BY id DESC LIMIT 1")" \
    "no message left in INBOX" "... with a status_changed event"

gmail_config "$GMAIL_CFG" "mirror_archive = false"
labels "$HANK" "" '"INBOX"'
ok "without mirror_archive: the pass exits 0" inboxd_once "$GMAIL_CFG"
is "$(flags hank-1@h.example)" gone "hank's message leaves INBOX"
is "$(status_of hank-1@h.example)" needs_reply \
    "without mirror_archive the conversation is not archived"

# A pass that fails before its changes commit -----------------------------------------

standin_admin POST reset >/dev/null
gets0=$(standin_by_kind get)
flags_events=$(events message.flags_changed)
cursor3=$(cursor)
# The changes' transaction fails as a crash before COMMIT would leave
# it: nothing of it is kept.
sql "CREATE FUNCTION test_fail() RETURNS trigger LANGUAGE plpgsql AS
    \$\$BEGIN RAISE EXCEPTION 'test: the transaction dies'; END\$\$;
    CREATE TRIGGER test_fail BEFORE INSERT ON events FOR EACH ROW
    WHEN (NEW.type = 'message.flags_changed') EXECUTE FUNCTION test_fail()" \
    >/dev/null
labels "$ANN" "" '"STARRED"'
mail_write "$TEST_TMP/ivy.eml" "Ivy <ivy@i.example>" me@example.com \
    "Later" "Wed, 08 Nov 2023 09:00:00 +0000" ivy-1@i.example
standin_add "$TEST_TMP/ivy.eml" INBOX >/dev/null || bail_out "cannot add mail"
nok "a pass whose changes fail exits non-zero" inboxd_once "$GMAIL_CFG"
like "$(cat "$INBOXD_OUT")" "cannot apply Gmail label changes: .*test: the transaction dies" \
    "the log says why"
is "$(cursor)" "$cursor3" "the cursor stays"
is "$(flags ann-1@a.example)" "INBOX STARRED" "ann's labels stay as they were"
is "$(events message.flags_changed)" "$flags_events" "no event"
is "$(msg ivy-1@i.example "count(*)")" 1 "the new message of the span is stored"
sql "DROP TRIGGER test_fail ON events; DROP FUNCTION test_fail()" >/dev/null
ok "the pass after it exits 0" inboxd_once "$GMAIL_CFG"
is "$(flags ann-1@a.example)" INBOX "ann's STARRED is removed now"
is "$(events message.flags_changed)" $((flags_events + 1)) "one event for it"
is "$(msg ivy-1@i.example "count(*)")" 1 "the new message is stored once"
is "$(standin_by_kind get)" $((gets0 + 1)) "... and fetched once"
is "$(cursor)" "$(standin_stat 'd["historyId"]')" "the cursor moves"

# A daemon killed before its changes commit ------------------------------------------

flags_events=$(events message.flags_changed)
cursor4=$(cursor)
labels "$ANN" '"IMPORTANT"' ""
mail_write "$TEST_TMP/jay.eml" "Jay <jay@j.example>" me@example.com \
    "Even later" "Thu, 09 Nov 2023 09:00:00 +0000" jay-1@j.example
standin_add "$TEST_TMP/jay.eml" INBOX >/dev/null || bail_out "cannot add mail"
# Another client holds ann's copy: the changes' transaction waits for
# it, and the daemon is killed while it waits.
ops_txn_start "SELECT 1 FROM gmail_locations WHERE gmail_message_id = '$ANN'
    FOR UPDATE"
inboxd_start --config "$GMAIL_CFG" --once
changes_wait()
{
	[ "$(sql "SELECT count(*) FROM pg_stat_activity
	    WHERE wait_event_type = 'Lock'
	      AND query LIKE '%apply_gmail_changes%'")" -ge 1 ]
}
ok "the changes' transaction waits for the other client" wait_for 20 changes_wait
kill -KILL "$INBOXD_PID"
wait "$INBOXD_PID" 2>/dev/null
ops_txn_commit || bail_out "the other client's transaction failed"
changes_gone()
{
	[ "$(sql "SELECT count(*) FROM pg_stat_activity
	    WHERE query LIKE '%apply_gmail_changes%'
	      AND pid <> pg_backend_pid()")" -eq 0 ]
}
wait_for 20 changes_gone || diag "the killed daemon's session lingers"
is "$(cursor)" "$cursor4" "killed before COMMIT: the cursor stays"
is "$(flags ann-1@a.example)" INBOX "... ann's labels too"
is "$(events message.flags_changed)" "$flags_events" "... and no event is kept"
is "$(msg jay-1@j.example "count(*)")" 1 "the batch before it is stored"
ok "the pass after the restart exits 0" inboxd_once "$GMAIL_CFG"
is "$(flags ann-1@a.example)" "IMPORTANT INBOX" "ann's new label is stored"
is "$(events message.flags_changed)" $((flags_events + 1)) "with one event"
is "$(msg jay-1@j.example "count(*)")" 1 "jay's message is stored once"
is "$(cursor)" "$(standin_stat 'd["historyId"]')" "the cursor moves"

# The same history twice -----------------------------------------------------------

total=$(sql "SELECT count(*) FROM events")
before=$(sql "SELECT string_agg(gmail_message_id || '=' ||
    array_to_string(flags, ' '), ',' ORDER BY gmail_message_id)
    FROM gmail_locations")
sql "UPDATE sync_state SET history_id = '$cursor1' WHERE mailbox = 'gmail'" >/dev/null
ok "reading the history again from the first cursor exits 0" \
    inboxd_once "$GMAIL_CFG"
is "$(sql "SELECT count(*) FROM events")" "$total" "no event twice"
is "$(sql "SELECT string_agg(gmail_message_id || '=' ||
    array_to_string(flags, ' '), ',' ORDER BY gmail_message_id)
    FROM gmail_locations")" "$before" "every copy's labels as they were"
is "$(msg erin-1@e.example "count(*)")" 0 "erin's deleted message is still not stored"
is "$(standin_by_kind list)" 0 "still no messages.list"

# Back in INBOX, out to the trash ------------------------------------------------

received=$(events message.received)
labels "$BOB1" '"INBOX"' ""
labels "$FRANK" '"TRASH"' ""
ok "bob's first message back in INBOX, frank's in the trash: exits 0" \
    inboxd_once "$GMAIL_CFG"
is "$(flags bob-1@b.example)" "INBOX" "bob's first message has its copy again"
is "$(msg bob-1@b.example "count(*)")" 1 "... on its one row"
is "$(events message.received)" "$received" "... without a message.received"
is "$(flags frank-1@f.example)" gone "frank's message in the trash: its copy is gone"
is "$(last_event message.removed frank-1@f.example previous_flags)" \
    '["INBOX", "STARRED"]' "... the event holds the labels it had before"

# Bad input to the function --------------------------------------------------------

like "$(sql "SELECT inboxd.apply_gmail_changes(
    (SELECT id FROM mail_accounts WHERE name = 'g'),
    '[{\"id\": \"x\", \"add\": [\"A\"], \"deleted\": true}]')" 2>&1)" \
    "bad change" "a change that both adds and deletes is refused"
like "$(sql "SELECT inboxd.apply_gmail_changes(
    (SELECT id FROM mail_accounts WHERE name = 'g'), '{\"id\": \"x\"}')" 2>&1)" \
    "must be a JSON array" "changes that are not an array are refused"
like "$(sql "SELECT inboxd.apply_gmail_changes(
    (SELECT id FROM mail_accounts WHERE name = 'g'),
    '[{\"id\": \"\", \"remove\": [\"A\"]}]')" 2>&1)" \
    "bad change" "an empty id is refused"
is "$(sql "SELECT inboxd.apply_gmail_changes(
    (SELECT id FROM mail_accounts WHERE name = 'g'),
    '[{\"id\": \"$GINA\", \"add\": [\"INBOX\"]},
      {\"id\": \"$CAROL\", \"deleted\": true}]')")" 0 \
    "messages not stored, or no longer: no event"

# The pass that failed on purpose exited non-zero: a sanitizer's report
# in it would have gone unseen.
nok "no sanitizer report in any pass" \
    grep -l -e '^==[0-9]*==ERROR: ' -e 'runtime error: ' "$TEST_TMP"/inboxd.*.log

done_testing
