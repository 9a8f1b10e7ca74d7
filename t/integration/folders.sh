#!/bin/bash
# Which folders hold our own mail. Only the Sent folder does: found by
# its \Sent special use or a usual name, or named by sent_folder. A
# further folder of the account's "folders" list holds mail people sent
# us, also when the server has no Sent folder; its mail must never be
# stored as our own replies (that would hide the person's message from
# needs_reply).

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"

USER=sales@example.com
PASS=secret
DOVECOT_NO_SENT=1 start_servers
imap_create $USER $PASS Support
imap_create $USER $PASS "Copies"

mail_write "$TEST_TMP/in" "Ann <ann@a.example>" $USER "Chairs" \
    "Mon, 06 Nov 2023 09:00:00 +0000" fo-in@a.example
mail_write "$TEST_TMP/support" "Ben <ben@b.example>" $USER "Broken chair" \
    "Mon, 06 Nov 2023 09:10:00 +0000" fo-support@b.example
mail_write "$TEST_TMP/sent" "Sales <$USER>" "cy@c.example" "Your order" \
    "Mon, 06 Nov 2023 09:20:00 +0000" fo-sent@example.com
mail_append $USER $PASS INBOX "$TEST_TMP/in"
mail_append $USER $PASS Support "$TEST_TMP/support"
mail_append $USER $PASS Copies "$TEST_TMP/sent"

# direction MESSAGE-ID: how the message was stored.
direction()
{
	sql "SELECT direction FROM conversation_messages
	    WHERE rfc_message_id = '$1'"
}

# status MESSAGE-ID: its conversation's status.
status()
{
	sql "SELECT c.status FROM conversations c
	    JOIN conversation_messages m ON m.conversation_id = c.id
	    WHERE m.rfc_message_id = '$1'"
}

# No Sent folder on the server, none configured -----------------------------

CFG=$TEST_TMP/nosent.conf
inboxd_config "$CFG" "folders = Support"
ok "a pass without a Sent folder" inboxd_once "$CFG"
like "$(cat "$INBOXD_OUT")" "no Sent folder found; set sent_folder" \
    "the log says that no Sent folder was found"
is "$(direction fo-in@a.example)" inbound "INBOX mail is inbound"
is "$(direction fo-support@b.example)" inbound \
    "mail of a further folder is inbound, not our own"
is "$(status fo-support@b.example)" needs_reply \
    "and its conversation needs a reply"
is "$(direction fo-sent@example.com)" "" "an unlisted folder is not synced"
is "$(sql "SELECT string_agg(mailbox, ',' ORDER BY mailbox) FROM sync_state")" \
    "INBOX,Support" "a cursor for INBOX and Support"

# sent_folder names it ------------------------------------------------------

sql "TRUNCATE conversation_messages, conversations, leads, jobs, events,
    sync_state, message_locations, thread_ids CASCADE" >/dev/null
CFG=$TEST_TMP/sent.conf
inboxd_config "$CFG" "folders = Support" "sent_folder = Copies"
ok "a pass with sent_folder set" inboxd_once "$CFG"
is "$(direction fo-sent@example.com)" outbound \
    "the named Sent folder's mail is our own"
is "$(direction fo-support@b.example)" inbound \
    "the further folder's mail is still inbound"
is "$(status fo-support@b.example)" needs_reply \
    "and still needs a reply"
is "$(sql "SELECT string_agg(mailbox, ',' ORDER BY mailbox) FROM sync_state")" \
    "Copies,INBOX,Support" "a cursor for each of the three folders"

done_testing
