#!/bin/bash
# The mirror of a folder's state, at the SQL level: mail ingested from
# Dovecot by `inboxd --once`, then inboxd.apply_location_changes()
# called as the IMAP driver's host does:
#   (a) a copy's new flag set updates its location, writes one
#       message.flags_changed event and one NOTIFY; the same set again,
#       in another order or with \Recent, writes nothing
#   (b) a vanished UID deletes its location (the message stays) with a
#       message.removed event; unknown UIDs are ignored
#   (c) with mirror_archive, a conversation left without a copy in INBOX
#       becomes archived (conversation.status_changed); one with a copy
#       left, or without mirror_archive, keeps its status
#   (d) a person's reply to an archived conversation reopens it
#       (needs_reply, a suggest_reply job)
#   (e) bad input is refused with a clear error and changes nothing
#   (f) the same through the host's ops (host.c, store_changes.c), as
#       the IMAP driver calls them: the changes and the cursor in one
#       transaction, fenced by the account's hold; the stored UIDs

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"

start_servers
CFG=$TEST_TMP/inboxd.conf
inboxd_config "$CFG"
USER=sales@example.com
PASS=secret

# The mail ---------------------------------------------------------------------

# UID 1 and 2: alice's thread; UID 3: bob's; UID 4: carol's.
mail_write "$TEST_TMP/1.eml" "Alice <alice@customer.example>" "$USER" \
    "Pricing" "Mon, 06 Nov 2023 09:00:00 +0000" a1@customer.example -- \
    "Could you send me your pricing?"
mail_write "$TEST_TMP/2.eml" "Alice <alice@customer.example>" "$USER" \
    "Re: Pricing" "Mon, 06 Nov 2023 09:30:00 +0000" a2@customer.example \
    "In-Reply-To: <a1@customer.example>" \
    "References: <a1@customer.example>" -- "And for 50 seats?"
mail_write "$TEST_TMP/3.eml" "Bob <bob@other.example>" "$USER" \
    "Partnership" "Mon, 06 Nov 2023 11:00:00 +0000" b1@other.example -- \
    "Shall we talk?"
mail_write "$TEST_TMP/4.eml" "Carol <carol@third.example>" "$USER" \
    "Invoice" "Mon, 06 Nov 2023 12:00:00 +0000" c1@third.example -- \
    "Where is my invoice?"
mail_append "$USER" "$PASS" INBOX "$TEST_TMP/1.eml" "$TEST_TMP/2.eml" \
    "$TEST_TMP/3.eml" "$TEST_TMP/4.eml"
V=$(imap_uidvalidity "$USER" "$PASS" INBOX) || bail_out "no UIDVALIDITY"

ok "inboxd --once exits 0" inboxd_once "$CFG"
is "$(sql "SELECT count(*) FROM message_locations WHERE flags = '{}'")" 4 \
    "four locations, flags unknown to this driver: an empty set"

ACCOUNT=$(sql "SELECT id FROM mail_accounts WHERE name = 'sales'")
conv_of()
{
	sql "SELECT conversation_id FROM conversation_messages
	    WHERE rfc_message_id = '$1'"
}
row_of()
{
	sql "SELECT id FROM conversation_messages WHERE rfc_message_id = '$1'"
}
status_of()
{
	sql "SELECT status FROM conversations WHERE id = '$1'"
}
flags_of()
{
	sql "SELECT array_to_string(flags, ' ') FROM message_locations
	    WHERE mailbox = 'INBOX' AND uidvalidity = $V AND uid = $1"
}
last_event()
{
	sql "SELECT coalesce(max(id), 0) FROM events"
}
# A literal, or NULL.
literal()
{
	if [ "$1" = NULL ]; then
		echo NULL
	else
		echo "'$1'"
	fi
}
# apply CHANGES REMOVED [MIRROR_ARCHIVE [MAILBOX]]: the function's
# result, or its error; NULL for an SQL NULL.
apply()
{
	sql "SELECT inboxd.apply_location_changes($ACCOUNT, '${4:-INBOX}', $V,
	    $(literal "$1"), $(literal "$2"), ${3:-false})" 2>&1
}
ALICE=$(conv_of a1@customer.example)
BOB=$(conv_of b1@other.example)
CAROL=$(conv_of c1@third.example)
is "$(conv_of a2@customer.example)" "$ALICE" "alice's two messages share a conversation"
is "$(status_of "$ALICE") $(status_of "$BOB") $(status_of "$CAROL")" \
    "needs_reply needs_reply needs_reply" "three conversations need a reply"

listen_start inboxd_events

# (a) Flags --------------------------------------------------------------------

before=$(last_event)
is "$(apply '[{"uid": 1, "flags": ["\\Seen", "\\Flagged", "\\Recent"]}]' '{}')" 1 \
    "a new flag set: one event"
is "$(flags_of 1)" '\Flagged \Seen' "the location holds the set, sorted, without \\Recent"
is "$(flags_of 2)" "" "the other copies keep theirs"
is "$(sql "SELECT type || ' ' || message_id || ' ' || conversation_id || ' ' ||
    account FROM events WHERE id > $before")" \
    "message.flags_changed $(row_of a1@customer.example) $ALICE sales" \
    "message.flags_changed names the message, its conversation and the account"
is "$(sql "SELECT payload->>'mailbox' || ' ' || (payload->>'uidvalidity') || ' ' ||
    (payload->>'uid') || ' ' || (payload->'flags')::text || ' ' ||
    (payload->'previous_flags')::text FROM events WHERE id > $before")" \
    "INBOX $V 1 [\"\\\\Flagged\", \"\\\\Seen\"] []" \
    "its payload: mailbox, uidvalidity, uid, flags and previous flags"
is "$(listen_wait inboxd_events 1)" 1 "one inboxd_events notification"
is "$(listen_payloads inboxd_events)" "$((before + 1))-$((before + 1))" \
    "its payload is the event's id range"

before=$(last_event)
is "$(apply '[{"uid": 1, "flags": ["\\Recent", "\\SEEN", "\\Flagged", "\\Seen"]}]' '{}')" 0 \
    "the same set again, in another order and case: no event"
is "$(last_event)" "$before" "no event written"
is "$(listen_wait inboxd_events 2 2)" 1 "no notification"

is "$(apply '[{"uid": 2, "flags": ["$Label1"]}, {"uid": 2, "flags": ["\\Answered"]},
    {"uid": 99, "flags": ["\\Seen"]}]' '{}')" 1 \
    "a UID listed twice counts once; an unknown UID is ignored"
is "$(flags_of 2)" '\Answered' "the last entry for a UID wins"
is "$(sql "SELECT payload->'previous_flags' FROM events
    WHERE id = $(last_event)")" "[]" "the previous set was empty"
is "$(listen_wait inboxd_events 2)" 2 "one more notification"

before=$(last_event)
is "$(apply '[{"uid": 1, "flags": []}]' NULL)" 1 "all flags cleared: one event"
is "$(flags_of 1)" "" "the location's set is empty"
is "$(sql "SELECT (payload->'flags')::text || ' ' || (payload->'previous_flags')::text
    FROM events WHERE id > $before")" '[] ["\\Flagged", "\\Seen"]' \
    "the event shows the empty set and the one before"

# (b) Removed UIDs -------------------------------------------------------------

before=$(last_event)
is "$(apply '[]' '{3, 77}')" 1 "bob's copy vanished, an unknown UID too: one event"
is "$(sql "SELECT count(*) FROM message_locations WHERE uid = 3")" 0 \
    "its location is gone"
is "$(sql "SELECT count(*) FROM conversation_messages
    WHERE rfc_message_id = 'b1@other.example'")" 1 "the message row stays"
is "$(sql "SELECT type || ' ' || message_id || ' ' || conversation_id || ' ' ||
    (payload->>'mailbox') || ' ' || (payload->>'uid') FROM events WHERE id > $before")" \
    "message.removed $(row_of b1@other.example) $BOB INBOX 3" \
    "message.removed names the message, its conversation, mailbox and uid"
is "$(status_of "$BOB")" needs_reply \
    "without mirror_archive bob's conversation keeps its status"
is "$(apply NULL '{3}')" 0 "removing it again: nothing to do"
is "$(apply 'null' NULL)" 0 "a JSON null and an SQL NULL: nothing to do"

# (c) mirror_archive -------------------------------------------------------------

is "$(apply '[]' '{4}' true Archive)" 0 \
    "mirror_archive on another folder: carol's INBOX copy is not touched"
is "$(sql "SELECT count(*) FROM message_locations WHERE uid = 4")" 1 \
    "carol's location is still there"

before=$(last_event)
is "$(apply '[]' '{1}' true)" 1 \
    "alice's first message leaves INBOX: removed, the second still there"
is "$(status_of "$ALICE")" needs_reply "her conversation keeps its status"

before=$(last_event)
is "$(apply '[]' '{2}' true)" 2 \
    "her last copy leaves INBOX: removed and archived"
is "$(status_of "$ALICE")" archived "her conversation is archived"
is "$(sql "SELECT status_reason FROM conversations WHERE id = '$ALICE'")" \
    "no message left in INBOX" "status_reason says why"
is "$(sql "SELECT string_agg(type, ' ' ORDER BY id) FROM events WHERE id > $before")" \
    "message.removed conversation.status_changed" "events in order"
is "$(sql "SELECT conversation_id || ' ' || (payload->>'old') || ' ' ||
    (payload->>'new') || ' ' || (payload->>'reason') FROM events
    WHERE id > $before AND type = 'conversation.status_changed'")" \
    "$ALICE needs_reply archived no message left in INBOX" \
    "conversation.status_changed as the ingest writes it: old, new, reason"
n=$(listen_count inboxd_events)
is "$(listen_wait inboxd_events $((n)) 2)" "$n" "notifications so far: $n"
like "$(listen_payloads inboxd_events | tail -n 1)" "^$((before + 1))-$((before + 2))\$" \
    "one notification for both events, the id range"

# (d) A person's reply reopens ---------------------------------------------------

mail_write "$TEST_TMP/5.eml" "Alice <alice@customer.example>" "$USER" \
    "Re: Pricing" "Tue, 07 Nov 2023 08:00:00 +0000" a3@customer.example \
    "In-Reply-To: <a2@customer.example>" \
    "References: <a1@customer.example> <a2@customer.example>" -- \
    "Any news on the pricing?"
mail_append "$USER" "$PASS" INBOX "$TEST_TMP/5.eml"
before=$(last_event)
ok "inboxd --once stores her reply" inboxd_once "$CFG"
is "$(conv_of a3@customer.example)" "$ALICE" "the reply joins her conversation"
is "$(status_of "$ALICE")" needs_reply "the archived conversation is open again"
is "$(sql "SELECT (payload->>'old') || ' ' || (payload->>'new') FROM events
    WHERE id > $before AND type = 'conversation.status_changed'")" \
    "archived needs_reply" "a status change from archived to needs_reply"
is "$(sql "SELECT count(*) FROM jobs j JOIN conversation_messages m
    ON m.id = j.message_id WHERE j.kind = 'suggest_reply'
    AND m.rfc_message_id = 'a3@customer.example'")" 1 \
    "a suggest_reply job for the reply"
is "$(flags_of 5)" "" "the new copy's location is there"

# (e) Bad input ------------------------------------------------------------------

before=$(last_event)
totals=$(sql_totals)
like "$(apply '{"uid": 4, "flags": []}' '{}')" \
    'changes must be a JSON array, not object' "changes not an array: refused"
like "$(apply '[{"uid": -1, "flags": ["\\Seen"]}]' '{}')" \
    'bad change .*uid.*1\.\.4294967295' "a negative uid: refused"
like "$(apply '[{"uid": 4, "flags": ["\\Seen"]}, {"uid": 1.5, "flags": []}]' '{}')" \
    'bad change' "a fractional uid among good changes: refused"
like "$(apply '[{"uid": 4, "flags": "\\Seen"}]' '{}')" \
    'bad change' "flags not an array: refused"
like "$(apply '[{"uid": 4, "flags": [1]}]' '{}')" \
    'bad change' "a flag not a string: refused"
like "$(apply '[{"uid": 4, "flags": ["\\Seen"]}]' '{4, -2}')" \
    'bad removed uid -2' "a negative removed uid, with a good change: refused"
like "$(sql "SELECT inboxd.apply_location_changes(9999, 'INBOX', $V, '[]', '{}', false)" 2>&1)" \
    'no account 9999' "an unknown account: refused"
is "$(flags_of 4)" "" "nothing changed: carol's flags"
is "$(sql "SELECT count(*) FROM message_locations WHERE uid = 4")" 1 \
    "nothing changed: carol's location"
is "$(last_event)" "$before" "nothing changed: no event"
is "$(sql_totals)" "$totals" "nothing changed: no row"

# (f) Through the host ---------------------------------------------------------

HOST_OPS=$top_builddir/t/helper/host_ops
[ -x "$HOST_OPS" ] || bail_out "$HOST_OPS is not built"
CFG2=$TEST_TMP/mirror.conf
inboxd_config "$CFG2" "mirror_archive = true"
host_ops()
{
	timeout 30 "$HOST_OPS" "$CFG2" sales "$@" 2>>"$TEST_TMP/host_ops.err"
}

like "$(host_ops cursor INBOX)" "^$V 5 [0-9]+\$" "the cursor: UIDVALIDITY and last UID"
is "$(host_ops known INBOX "$V")" "4 5" "the stored UIDs, ascending"
is "$(host_ops known INBOX 12345)" "" "none for another generation"

before=$(last_event)
n=$(listen_count inboxd_events)
is "$(host_ops apply INBOX "$V" 4242 '4=\Seen $Important \Recent' -5 -6)" ok \
    "apply_changes: carol's flags, alice's reply gone"
is "$(flags_of 4)" '$Important \Seen' "carol's flags, split as sent, without \\Recent"
is "$(host_ops known INBOX "$V")" 4 "alice's copy is gone"
is "$(status_of "$ALICE")" archived "mirror_archive from the account's configuration"
is "$(sql "SELECT string_agg(type, ' ' ORDER BY id) FROM events WHERE id > $before")" \
    "message.flags_changed message.removed conversation.status_changed" \
    "three events"
is "$(listen_wait inboxd_events $((n + 1)))" $((n + 1)) "one notification"
like "$(host_ops cursor INBOX)" "^$V 5 4242\$" \
    "the cursor takes the HIGHESTMODSEQ and keeps its last UID"

is "$(host_ops apply INBOX "$V" 4243 '4=\Seen $Important')" ok \
    "the same flags again"
is "$(last_event)" "$((before + 3))" "no event"
like "$(host_ops cursor INBOX)" "^$V 5 4243\$" "the cursor moves all the same"

like "$(host_ops apply INBOX 0 9999 '4=\Answered')" \
    '^failed: .*uidvalidity' "a refused change: failed, with the reason"
like "$(host_ops cursor INBOX)" "^$V 5 4243\$" \
    "the cursor of a failed transaction is not stored"
is "$(flags_of 4)" '$Important \Seen' "nor the flags"

# Another holder of the account (the daemon's hold, store_int.h): the
# transaction is refused.
HOLD="locktype = 'advisory' AND classid = 1768843876 AND objid = $ACCOUNT
    AND objsubid = 2 AND granted"
held()
{
	[ "$(sql "SELECT count(*) FROM pg_locks WHERE $HOLD")" -ge 1 ]
}
psql -XAtq -c "SELECT pg_advisory_lock(1768843876, $ACCOUNT), pg_sleep(60)" \
    >/dev/null 2>&1 &
locker=$!
wait_for 10 held || bail_out "the account's hold was not taken"
like "$(host_ops apply INBOX "$V" 5000 '4=\Answered')" \
    'failed: the account is held by another instance' \
    "a host whose account another instance holds writes nothing"
is "$(flags_of 4)" '$Important \Seen' "the flags stay"
like "$(host_ops cursor INBOX)" "^$V 5 4243\$" "the cursor stays"
sql "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE $HOLD" >/dev/null
wait "$locker" 2>/dev/null
is "$(host_ops apply INBOX "$V" 5000 '4=\Answered')" ok \
    "once the hold is free, the host takes it and writes"
is "$(flags_of 4)" '\Answered' "the flags change"
like "$(host_ops cursor INBOX)" "^$V 5 5000\$" "and the cursor"

done_testing
