#!/bin/bash
# A Message-ID that a different message reuses no longer hides a
# message (the first copy used to win):
#   (a) a customer's message and our answer, whose copy is in INBOX
#       (Cc to ourselves, other Received headers, other blanks) and in
#       Sent: two rows, our answer once, the conversation waiting
#   (b) another message under the customer's Message-ID, delivered
#       twice: one row of its own in the same conversation, which now
#       needs a reply; the log says so; the first message is untouched
#   (c) INBOX and Sent recreated under new UIDVALIDITYs: the re-sync
#       stores nothing new, and every copy's new location points at the
#       row of its own content
#   (d) a row stored before content hashes (none in content_hash) is
#       taken for any message with its Message-ID, as before

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"

USER=sales@example.com
PASS=secret
ID=order-7@b.example
start_servers
CFG=$TEST_TMP/inboxd.conf
inboxd_config "$CFG"

mail_write "$TEST_TMP/m1" "Bob <bob@b.example>" $USER "Order 7" \
    "Mon, 06 Nov 2023 09:00:00 +0000" $ID \
    -- "Please send 10 boxes to our usual address."
mail_write "$TEST_TMP/r1-sent" "Sales <$USER>" "bob@b.example" "Re: Order 7" \
    "Mon, 06 Nov 2023 10:00:00 +0000" reply-7@example.com \
    "In-Reply-To: <$ID>" "References: <$ID>" "Cc: $USER" \
    -- "Hello Bob," "they ship today."
mail_write "$TEST_TMP/r1-inbox" "Sales <$USER>" "bob@b.example" "Re: Order 7" \
    "Mon, 06 Nov 2023 10:00:00 +0000" reply-7@example.com \
    "In-Reply-To: <$ID>" "References: <$ID>" "Cc: $USER" \
    "Received: from mx.example.com by imap.example.com; Mon, 06 Nov 2023 10:00:02 +0000" \
    "Received: from laptop by mx.example.com; Mon, 06 Nov 2023 10:00:01 +0000" \
    -- "Hello Bob,  " "they ship today.  " ""
mail_write "$TEST_TMP/i1" "Bob <bob@b.example>" $USER "Order 7" \
    "Tue, 07 Nov 2023 08:00:00 +0000" $ID \
    -- "Our bank details changed: pay to IBAN XX00 0000 0000."
mail_write "$TEST_TMP/i1-again" "Bob <bob@b.example>" $USER "Order 7" \
    "Tue, 07 Nov 2023 08:00:00 +0000" $ID \
    "Received: from relay2.example.net by mx.example.com; Tue, 07 Nov 2023 08:05:00 +0000" \
    -- "Our bank details changed: pay to IBAN XX00 0000 0000."

# rows ID: the stored rows with this Message-ID.
rows()
{
	sql "SELECT count(*) FROM conversation_messages WHERE rfc_message_id = '$1'"
}

# conv: the conversations the rows of the test's two ids are in.
convs()
{
	sql "SELECT count(DISTINCT conversation_id) FROM conversation_messages
	    WHERE rfc_message_id IN ('$ID', 'reply-7@example.com')"
}

# row_of PATTERN: the row whose content matches.
row_of()
{
	sql "SELECT id FROM conversation_messages WHERE content LIKE '$1'"
}

# locs MAILBOX UIDVALIDITY: the rows its copies point at, sorted.
locs()
{
	sql "SELECT string_agg(message_id::text, ' ' ORDER BY message_id::text)
	    FROM message_locations WHERE mailbox = '$1' AND uidvalidity = $2"
}

status()
{
	sql "SELECT status || ': ' || status_reason FROM conversations
	    WHERE id = (SELECT conversation_id FROM conversation_messages
	                WHERE rfc_message_id = 'reply-7@example.com')"
}

totals()
{
	sql "SELECT (SELECT count(*) FROM conversation_messages) || ' messages, ' ||
	    (SELECT count(*) FROM conversations) || ' conversations, ' ||
	    (SELECT count(*) FROM jobs) || ' jobs, ' ||
	    (SELECT count(*) FROM events WHERE type = 'message.received') || ' received'"
}

# (a) the message and our answer, twice ----------------------------------------

mail_append $USER $PASS INBOX "$TEST_TMP/m1" "$TEST_TMP/r1-inbox"
mail_append $USER $PASS Sent "$TEST_TMP/r1-sent"
ok "(a) first sync" inboxd_once "$CFG"
is "$(sql "SELECT count(*) FROM conversation_messages")" 2 \
    "(a) two messages stored"
is "$(rows reply-7@example.com)" 1 \
    "(a) our answer is one row, from INBOX and Sent"
is "$(sql "SELECT count(DISTINCT l.message_id) || ' rows, ' || count(*) || ' copies'
    FROM message_locations l JOIN conversation_messages m ON m.id = l.message_id
    WHERE m.rfc_message_id = 'reply-7@example.com'")" "1 rows, 2 copies" \
    "(a) both copies of our answer point at its row"
is "$(convs)" 1 "(a) one conversation"
is "$(status)" "waiting: latest human message is outbound" \
    "(a) the conversation waits for the customer"
is "$(sql "SELECT count(*) FROM conversation_messages WHERE content_hash IS NULL")" 0 \
    "(a) every row has a content hash"
REAL=$(row_of 'Please send 10 boxes%')
isnt "$REAL" "" "(a) the customer's message is stored"
REAL_BEFORE=$(sql "SELECT content || sent_at || conversation_id FROM conversation_messages
    WHERE id = '$REAL'")

# (b) another message under the customer's Message-ID ---------------------------

mail_append $USER $PASS INBOX "$TEST_TMP/i1" "$TEST_TMP/i1-again"
ok "(b) sync of the message reusing the id" inboxd_once "$CFG"
is "$(rows $ID)" 2 "(b) two rows with the reused Message-ID"
is "$(sql "SELECT count(*) FROM conversation_messages")" 3 \
    "(b) its second delivery is no third row"
OTHER=$(row_of 'Our bank details changed%')
isnt "$OTHER" "" "(b) the other message is stored"
isnt "$OTHER" "$REAL" "(b) in a row of its own"
is "$(sql "SELECT content || sent_at || conversation_id FROM conversation_messages
    WHERE id = '$REAL'")" "$REAL_BEFORE" "(b) the first message is untouched"
is "$(convs)" 1 "(b) both are in the one conversation of the id"
is "$(sql "SELECT count(DISTINCT content_hash) FROM conversation_messages
    WHERE rfc_message_id = '$ID'")" 2 "(b) their content hashes differ"
is "$(status)" "needs_reply: latest human message is inbound" \
    "(b) the newer inbound message needs a reply"
is "$(sql "SELECT count(*) FROM jobs WHERE kind = 'suggest_reply'
    AND message_id = '$OTHER'")" 1 "(b) a reply is suggested for it"
is "$(sql "SELECT count(*) FROM message_locations WHERE message_id = '$OTHER'")" 2 \
    "(b) both its deliveries point at its row"
is "$(sql "SELECT count(*) FROM message_locations WHERE message_id = '$REAL'")" 1 \
    "(b) the first message keeps its one copy"
like "$(grep -F "<$ID>" "$INBOXD_OUT")" \
    "already names a message with other content; stored as message $OTHER" \
    "(b) the log says the id was reused"
is "$(grep -cF "<$ID> already names" "$INBOXD_OUT")" 1 \
    "(b) once, not for the second delivery"
is "$(sql "SELECT count(*) FROM thread_ids WHERE message_id = '$ID'")" 1 \
    "(b) the id is one node of the thread graph"

# (c) a re-sync under new UIDVALIDITYs ------------------------------------------

before=$(totals)
IV1=$(imap_uidvalidity $USER $PASS INBOX)
SV1=$(imap_uidvalidity $USER $PASS Sent)
inbox_rows=$(locs INBOX "$IV1")
sent_rows=$(locs Sent "$SV1")
IV2=$(imap_recreate_mailbox $USER $PASS INBOX) || bail_out "INBOX not recreated"
SV2=$(imap_recreate_mailbox $USER $PASS Sent) || bail_out "Sent not recreated"
isnt "$IV2" "$IV1" "(c) INBOX has a new UIDVALIDITY"
isnt "$SV2" "$SV1" "(c) Sent has a new UIDVALIDITY"
ok "(c) sync after the change" inboxd_once "$CFG"
is "$(totals)" "$before" "(c) no new messages, conversations, jobs or events"
is "$(locs INBOX "$IV2")" "$inbox_rows" \
    "(c) INBOX's copies point at the same rows as before"
is "$(locs Sent "$SV2")" "$sent_rows" \
    "(c) Sent's copy points at the same row as before"
is "$(status)" "needs_reply: latest human message is inbound" \
    "(c) the status stays"

# (d) a row without a content hash ---------------------------------------------

sql "UPDATE conversation_messages SET content_hash = NULL WHERE id = '$REAL'" >/dev/null
mail_write "$TEST_TMP/m1-edited" "Bob <bob@b.example>" $USER "Order 7" \
    "Mon, 06 Nov 2023 09:00:00 +0000" $ID \
    -- "Please send 12 boxes to our usual address."
mail_append $USER $PASS INBOX "$TEST_TMP/m1-edited"
before=$(totals)
ok "(d) sync with a row stored before content hashes" inboxd_once "$CFG"
is "$(totals)" "$before" "(d) no new row: the row without a hash is its copy"
is "$(sql "SELECT count(*) FROM message_locations WHERE message_id = '$REAL'")" 2 \
    "(d) the new copy points at that row"

done_testing
