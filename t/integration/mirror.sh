#!/bin/bash
# The mailbox's state, mirrored: flags set or cleared in the user's own
# client, a message expunged, a message moved to another folder. With
# CONDSTORE and QRESYNC (Dovecot offers both) each arrives as a change
# of message_locations with its event; mirror_archive archives a
# conversation none of whose messages is left in INBOX, and a person's
# new message opens it again. inboxd itself changes no flag. A server
# without CONDSTORE is synced as before, its flags as first seen.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"

USER=sales@example.com
PASS=secret
start_servers
imap_create $USER $PASS Archive

for i in 1 2 3 4; do
	mail_write "$TEST_TMP/m$i" "Ann <ann$i@a.example>" $USER "Question $i" \
	    "Mon, 06 Nov 2023 09:0$i:00 +0000" "mi-$i@a.example"
done
imap_py append $USER $PASS INBOX "$TEST_TMP/m1" >/dev/null
imap_py append $USER $PASS INBOX "$TEST_TMP/m2" --flags '\Seen' >/dev/null
imap_py append $USER $PASS INBOX "$TEST_TMP/m3" --flags '\Flagged $Urgent' >/dev/null
imap_py append $USER $PASS INBOX "$TEST_TMP/m4" >/dev/null

CFG=$TEST_TMP/inboxd.conf
inboxd_config "$CFG" "mirror_archive = true" "folders = Archive"

# flags UID: the stored flags of INBOX's copy UID, sorted.
flags()
{
	sql "SELECT array_to_string(ARRAY(SELECT unnest(flags) ORDER BY 1), ' ')
	    FROM message_locations WHERE mailbox = 'INBOX' AND uid = $1"
}
events()
{
	sql "SELECT count(*) FROM events WHERE type = '$1'"
}
status_of()
{
	sql "SELECT c.status FROM conversations c
	    JOIN conversation_messages m ON m.conversation_id = c.id
	    WHERE m.rfc_message_id = '$1'"
}
server_flags()
{
	imap_py flags $USER $PASS "${1:-INBOX}"
}

before=$(server_flags)
ok "first pass exits 0" inboxd_once "$CFG"
is "$(sql "SELECT count(*) FROM message_locations WHERE mailbox = 'INBOX'")" 4 \
    "four INBOX copies"
is "$(flags 1)" "" "an unread message has no flags"
is "$(flags 2)" '\Seen' "a read message is stored \\Seen"
is "$(flags 3)" '$Urgent \Flagged' "flags and keywords are stored"
is "$(server_flags)" "$before" "the pass changed no flag on the server"
ok "HIGHESTMODSEQ is kept for INBOX" \
    test "$(sql "SELECT coalesce(highest_modseq, 0) FROM sync_state
	WHERE mailbox = 'INBOX'")" -gt 0

# The user reads message 1 and unflags message 3 in their own client.
imap_py store $USER $PASS INBOX 1 add '\Seen'
imap_py store $USER $PASS INBOX 3 remove '\Flagged'
before=$(server_flags)
ok "second pass exits 0" inboxd_once "$CFG"
is "$(flags 1)" '\Seen' "message 1 is read now"
is "$(flags 3)" '$Urgent' "message 3 lost its \\Flagged"
is "$(events message.flags_changed)" 2 "two message.flags_changed events"
is "$(server_flags)" "$before" "the pass changed no flag on the server"
ok "a third pass without changes exits 0" inboxd_once "$CFG"
is "$(events message.flags_changed)" 2 "no change, no event"

# Message 4 is deleted, message 2 moved to Archive.
imap_py expunge $USER $PASS INBOX 4
imap_py move $USER $PASS INBOX 2 Archive
ok "pass after the expunge and the move exits 0" inboxd_once "$CFG"
is "$(sql "SELECT count(*) FROM message_locations WHERE mailbox = 'INBOX'")" 2 \
    "two INBOX copies left"
is "$(events message.removed)" 2 "two message.removed events"
is "$(sql "SELECT count(*) FROM message_locations WHERE mailbox = 'Archive'")" 1 \
    "the moved message has its Archive copy"
is "$(sql "SELECT count(*) FROM conversation_messages")" 4 \
    "no message row is deleted or stored twice"
is "$(status_of mi-2@a.example)" archived \
    "the conversation moved out of INBOX is archived"
is "$(status_of mi-4@a.example)" archived \
    "the conversation of the deleted message is archived"
is "$(status_of mi-1@a.example)" needs_reply \
    "a conversation still in INBOX keeps its status"

# Ann writes again about question 2: the conversation opens again.
mail_write "$TEST_TMP/m5" "Ann <ann2@a.example>" $USER "Re: Question 2" \
    "Mon, 06 Nov 2023 10:00:00 +0000" "mi-5@a.example" \
    "In-Reply-To: <mi-2@a.example>"
imap_py append $USER $PASS INBOX "$TEST_TMP/m5" >/dev/null
ok "pass after the reply exits 0" inboxd_once "$CFG"
is "$(status_of mi-5@a.example)" needs_reply \
    "a person's new message opens the archived conversation again"

# A server without CONDSTORE: synced as before, flags as first seen.
dovecot_stop
DOVECOT_EXTRA='imap_capability = IMAP4rev1 LITERAL+ SASL-IR ENABLE IDLE UIDPLUS SPECIAL-USE LIST-EXTENDED' \
    dovecot_start plain@example.com:secret || bail_out "Dovecot did not start"
mail_write "$TEST_TMP/p1" "Cy <cy@c.example>" plain@example.com "Plain" \
    "Mon, 06 Nov 2023 09:00:00 +0000" "pl-1@c.example"
imap_py append plain@example.com secret INBOX "$TEST_TMP/p1" --flags '\Seen' >/dev/null
{
	config_daemon
	config_imap plain plain@example.com secret
} >"$TEST_TMP/plain.conf"
ok "without CONDSTORE the pass exits 0" inboxd_once "$TEST_TMP/plain.conf"
is "$(sql "SELECT array_to_string(flags, ' ') FROM message_locations l
    JOIN mail_accounts a ON a.id = l.account_id WHERE a.name = 'plain'")" '\Seen' \
    "without CONDSTORE the flags are those of the fetch"
imap_py store plain@example.com secret INBOX 1 remove '\Seen'
ok "without CONDSTORE a second pass exits 0" inboxd_once "$TEST_TMP/plain.conf"
is "$(imap_py flags plain@example.com secret INBOX)" "1 " \
    "without CONDSTORE the server's flags are left alone"

done_testing
