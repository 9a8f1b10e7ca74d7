#!/bin/bash
# INBOX and Sent are recreated with the same mail under a new
# UIDVALIDITY (INBOX by dropping Dovecot's UID list, Sent by delete +
# create + append over IMAP). The next sync says so in the log, stores
# no message twice (one without a Message-ID included), records the
# new locations and cursor, and queues no new jobs; mail that arrives
# afterwards is synced under the new UIDVALIDITY. The same holds for a
# running daemon that sees INBOX change under it.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/faults.sh"

USER=sales@example.com
PASS=secret
start_servers
CFG=$TEST_TMP/inboxd.conf
inboxd_config "$CFG" "batch_size = 2"

# i3 has no Message-ID.
mail_write "$TEST_TMP/i1" "Ann <ann@a.example>" $USER "Order 1" "Mon, 06 Nov 2023 09:00:00 +0000" uv-1@a.example
mail_write "$TEST_TMP/i2" "Ben <ben@b.example>" $USER "Order 2" "Mon, 06 Nov 2023 09:10:00 +0000" uv-2@b.example
mail_write "$TEST_TMP/i3" "Cy <cy@c.example>" $USER "No id at all" "Mon, 06 Nov 2023 09:20:00 +0000" -
mail_write "$TEST_TMP/i4" "Di <di@d.example>" $USER "Order 4" "Mon, 06 Nov 2023 09:30:00 +0000" uv-4@d.example
mail_write "$TEST_TMP/i5" "Ed <ed@e.example>" $USER "Order 5" "Mon, 06 Nov 2023 09:40:00 +0000" uv-5@e.example
mail_write "$TEST_TMP/s1" "Sales <$USER>" "ann@a.example" "Re: Order 1" "Mon, 06 Nov 2023 10:00:00 +0000" uv-s1@example.com
mail_write "$TEST_TMP/s2" "Sales <$USER>" "ben@b.example" "Re: Order 2" "Mon, 06 Nov 2023 10:10:00 +0000" uv-s2@example.com
mail_write "$TEST_TMP/n1" "Fay <fay@f.example>" $USER "After the change" "Tue, 07 Nov 2023 09:00:00 +0000" uv-new@f.example
mail_append $USER $PASS INBOX "$TEST_TMP"/i[1-5]
mail_append $USER $PASS Sent "$TEST_TMP"/s[12]

state()
{
	sql "SELECT uidvalidity || ' ' || last_uid FROM sync_state
	    WHERE mailbox = '$1'"
}

locs()
{
	# The UID=Message-ID pairs of one mailbox and UIDVALIDITY.
	sql "SELECT string_agg(l.uid || '=' || m.rfc_message_id, ' ' ORDER BY l.uid)
	    FROM message_locations l JOIN conversation_messages m ON m.id = l.message_id
	    WHERE l.mailbox = '$1' AND l.uidvalidity = $2"
}

totals()
{
	sql "SELECT (SELECT count(*) FROM conversation_messages) || ' messages, ' ||
	    (SELECT count(*) FROM conversations) || ' conversations, ' ||
	    (SELECT count(*) FROM jobs) || ' jobs, ' ||
	    (SELECT count(*) FROM events WHERE type = 'message.received') || ' received'"
}

# First sync ------------------------------------------------------------------

IV1=$(imap_uidvalidity $USER $PASS INBOX)
SV1=$(imap_uidvalidity $USER $PASS Sent)
ok "first sync" inboxd_once "$CFG"
is "$(sql "SELECT count(*) FROM conversation_messages")" 7 "7 messages stored"
is "$(state INBOX)" "$IV1 5" "INBOX cursor: UIDVALIDITY $IV1, UID 5"
is "$(state Sent)" "$SV1 2" "Sent cursor: UIDVALIDITY $SV1, UID 2"
NOID=$(sql "SELECT rfc_message_id FROM conversation_messages WHERE subject = 'No id at all'")
isnt "$NOID" "" "the message without Message-ID has a synthetic id"
OLD_INBOX=$(locs INBOX "$IV1")
is "$OLD_INBOX" "1=uv-1@a.example 2=uv-2@b.example 3=$NOID 4=uv-4@d.example 5=uv-5@e.example" \
    "INBOX locations under the first UIDVALIDITY"
before=$(totals)
ids_before=$(sql "SELECT string_agg(id::text || rfc_message_id, ',' ORDER BY rfc_message_id)
    FROM conversation_messages")

# Recreate both mailboxes -----------------------------------------------------------

IV2=$(imap_recreate_mailbox $USER $PASS INBOX) || bail_out "INBOX not recreated"
SV2=$(imap_recreate_mailbox $USER $PASS Sent) || bail_out "Sent not recreated"
isnt "$IV2" "$IV1" "INBOX has a new UIDVALIDITY ($IV1 -> $IV2)"
isnt "$SV2" "$SV1" "Sent has a new UIDVALIDITY ($SV1 -> $SV2)"
is "$(imap_count $USER $PASS INBOX)" 5 "INBOX still holds 5 messages"
is "$(imap_count $USER $PASS Sent)" 2 "Sent still holds 2 messages"

ok "sync after the change" inboxd_once "$CFG"
is "$(totals)" "$before" "no new messages, conversations, jobs or events"
is "$(sql "SELECT string_agg(id::text || rfc_message_id, ',' ORDER BY rfc_message_id)
    FROM conversation_messages")" "$ids_before" "the same message rows, same ids"
is "$(sql "SELECT count(*) - count(DISTINCT rfc_message_id) FROM conversation_messages")" 0 \
    "no Message-ID twice"
new_inbox=$(locs INBOX "$IV2")
is "$(echo "$new_inbox" | tr ' ' '\n' | cut -d= -f2 | sort | tr '\n' ' ')" \
    "$(echo "$OLD_INBOX" | tr ' ' '\n' | cut -d= -f2 | sort | tr '\n' ' ')" \
    "INBOX: every message has a location under the new UIDVALIDITY"
is "$(sql "SELECT count(*) FROM message_locations WHERE mailbox = 'INBOX' AND uidvalidity = $IV2")" 5 \
    "INBOX: 5 locations under $IV2"
is "$(sql "SELECT count(*) FROM message_locations WHERE mailbox = 'Sent' AND uidvalidity = $SV2")" 2 \
    "Sent: 2 locations under $SV2"
is "$(sql "SELECT count(*) FROM message_locations
    WHERE (mailbox = 'INBOX' AND uidvalidity <> $IV2)
       OR (mailbox = 'Sent' AND uidvalidity <> $SV2)")" 0 \
    "the locations of the old generations are gone"
is "$(state INBOX)" "$IV2 5" "INBOX cursor moved to the new UIDVALIDITY"
is "$(state Sent)" "$SV2 2" "Sent cursor moved to the new UIDVALIDITY"
like "$(grep -i 'uidvalidity' "$INBOXD_OUT" | grep 'mailbox=INBOX')" \
    "UIDVALIDITY changed from $IV1 to $IV2" "the log says INBOX's UIDVALIDITY changed"
like "$(grep -i 'uidvalidity' "$INBOXD_OUT" | grep 'mailbox=Sent')" \
    "UIDVALIDITY changed from $SV1 to $SV2" "the log says Sent's UIDVALIDITY changed"
is "$(sql "SELECT direction FROM conversation_messages WHERE rfc_message_id = 'uv-s1@example.com'")" \
    outbound "Sent mail is still outbound"

ok "a third sync" inboxd_once "$CFG"
is "$(totals)" "$before" "a third sync changes nothing"

# New mail under the new UIDVALIDITY ------------------------------------------------

mail_append $USER $PASS INBOX "$TEST_TMP/n1"
ok "sync of new mail" inboxd_once "$CFG"
is "$(sql "SELECT count(*) FROM conversation_messages")" 8 "the new message is stored"
is "$(state INBOX)" "$IV2 6" "INBOX cursor at UID 6"
is "$(locs INBOX "$IV2" | tr ' ' '\n' | grep '^6=')" "6=uv-new@f.example" \
    "the new message's location"
is "$(sql "SELECT count(*) FROM jobs j JOIN conversation_messages m ON m.id = j.message_id
    WHERE m.rfc_message_id = 'uv-new@f.example' AND j.kind = 'embed_message'")" 1 \
    "one embed job for the new message"

# A running daemon sees the change -------------------------------------------------

inboxd_config "$CFG" "batch_size = 2" "poll_interval = 2s"
inboxd_start --config "$CFG"
before=$(totals)
_cursor_is()
{
	[ "$(state INBOX)" = "$1" ]
}
ok "the daemon is up to date" wait_for 20 _cursor_is "$IV2 6"
IV3=$(recreate_inbox_busy $USER $PASS) || bail_out "INBOX not recreated"
isnt "$IV3" "$IV2" "INBOX has a new UIDVALIDITY again ($IV2 -> $IV3)"
ok "the daemon moves its cursor to $IV3" wait_for 30 _cursor_is "$IV3 6"
is "$(totals)" "$before" "no new messages, conversations, jobs or events"
is "$(sql "SELECT count(*) FROM message_locations WHERE mailbox = 'INBOX' AND uidvalidity = $IV3")" 6 \
    "INBOX: 6 locations under $IV3"
like "$(grep 'mailbox=INBOX' "$INBOXD_LOG" | grep -i uidvalidity)" \
    "UIDVALIDITY changed from $IV2 to $IV3" "the daemon's log says so"
ok "the daemon is running" alive "$INBOXD_PID"
inboxd_stop
is "$?" 0 "SIGTERM: exit status 0"

done_testing
