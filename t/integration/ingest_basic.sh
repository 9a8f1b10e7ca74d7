#!/bin/bash
# The walking skeleton: mail APPENDed to a real Dovecot goes through
# `inboxd --once` into PostgreSQL as messages, conversations with the
# right status, jobs, events, a sync cursor and one NOTIFY per channel;
# a second pass adds nothing; a reply joins its conversation.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"

start_servers
CFG=$TEST_TMP/inboxd.conf
inboxd_config "$CFG"
USER=sales@example.com
PASS=secret

# The mail ---------------------------------------------------------------------

mail_write "$TEST_TMP/1-enquiry.eml" "Alice Example <Alice@Customer.Example>" \
    "Sales <sales@example.com>" "Pricing for 50 seats" \
    "Mon, 06 Nov 2023 09:00:00 +0000" enquiry-1@customer.example -- \
    "Hello, could you send me your pricing for 50 seats?" "" "Alice"

mail_write "$TEST_TMP/2-reply.eml" "Sales Team <sales@example.com>" \
    "Alice Example <alice@customer.example>" "Re: Pricing for 50 seats" \
    "Mon, 06 Nov 2023 10:00:00 +0000" reply-1@example.com \
    "In-Reply-To: <enquiry-1@customer.example>" \
    "References: <enquiry-1@customer.example>" -- \
    "Hi Alice, 50 seats come to 10 EUR per seat and month." "" "Sales"

mail_write "$TEST_TMP/3-unrelated.eml" "Bob <bob@other.example>" \
    sales@example.com "Partnership proposal" \
    "Mon, 06 Nov 2023 11:00:00 +0000" partner-1@other.example -- \
    "Dear team, we would like to discuss a partnership."

mail_write "$TEST_TMP/4-followup.eml" "Alice Example <alice@customer.example>" \
    "Sales <sales@example.com>" "Re: Pricing for 50 seats" \
    "Tue, 07 Nov 2023 08:30:00 +0000" followup-1@customer.example \
    "In-Reply-To: <reply-1@example.com>" \
    "References: <enquiry-1@customer.example> <reply-1@example.com>" -- \
    "Thanks! Could we get a discount for a two-year contract?"

mail_append "$USER" "$PASS" INBOX "$TEST_TMP/1-enquiry.eml" \
    "$TEST_TMP/2-reply.eml" "$TEST_TMP/3-unrelated.eml"
is "$(imap_count "$USER" "$PASS" INBOX)" 3 "three messages in INBOX"
UIDVALIDITY=$(imap_uidvalidity "$USER" "$PASS" INBOX) || bail_out "no UIDVALIDITY"

# Helpers -------------------------------------------------------------------

# One column of the message with this Message-ID (stored without <>).
msg()
{
	sql "SELECT $2 FROM conversation_messages WHERE rfc_message_id = '$1'"
}

conv_of()
{
	msg "$1" conversation_id
}

# First pass -------------------------------------------------------------------

listen_start inboxd_jobs inboxd_events
ok "inboxd --once exits 0 (applying migrations itself)" inboxd_once "$CFG"

is "$(sql "SELECT count(*) FROM conversation_messages")" 3 "3 message rows"
is "$(sql "SELECT count(*) FROM conversations")" 2 "2 conversations"

for id in enquiry-1@customer.example reply-1@example.com \
    partner-1@other.example; do
	is "$(msg "$id" "count(*)")" 1 "message $id stored once, id without <>"
done

is "$(msg enquiry-1@customer.example "direction || ' ' || sender_email || ' -> ' || recipient_email")" \
    "inbound Alice@customer.example -> sales@example.com" \
    "enquiry: inbound, sender and recipient (domain lower-cased)"
is "$(msg reply-1@example.com "direction || ' ' || sender_email || ' -> ' || recipient_email")" \
    "outbound sales@example.com -> alice@customer.example" \
    "our reply: outbound because From is the account's address"
is "$(msg partner-1@other.example "direction || ' ' || sender_email || ' -> ' || recipient_email")" \
    "inbound bob@other.example -> sales@example.com" \
    "unrelated: inbound"

like "$(msg enquiry-1@customer.example content)" \
    'Hello, could you send me your pricing for 50 seats\?' "enquiry content"
like "$(msg reply-1@example.com content)" \
    '50 seats come to 10 EUR per seat and month' "reply content"
like "$(msg partner-1@other.example content)" \
    'we would like to discuss a partnership' "unrelated content"
is "$(sql "SELECT count(*) FROM conversation_messages
    WHERE position(E'\r' IN content) > 0")" 0 "no CR left in content"
is "$(msg enquiry-1@customer.example "subject")" "Pricing for 50 seats" "subject"
is "$(msg reply-1@example.com "in_reply_to || ' ' || array_to_string(reference_ids, ',')")" \
    "enquiry-1@customer.example enquiry-1@customer.example" \
    "in_reply_to and reference_ids of the reply"
is "$(msg enquiry-1@customer.example "extract(epoch FROM sent_at)::bigint")" \
    "$(date -d '2023-11-06 09:00:00 UTC' +%s)" "sent_at from the Date header"
is "$(msg enquiry-1@customer.example "headers @> '[{\"name\": \"Subject\", \"value\": \"Pricing for 50 seats\"}]'")" \
    t "headers JSON holds the Subject header"
is "$(msg enquiry-1@customer.example "jsonb_array_length(attachments)")" 0 \
    "no attachments"
is "$(msg reply-1@example.com "mailbox || ' ' || uidvalidity || ' ' || imap_uid")" \
    "INBOX $UIDVALIDITY 2" "mailbox, UIDVALIDITY and UID recorded"
is "$(sql "SELECT string_agg(l.uid || '=' || m.rfc_message_id, ' ' ORDER BY l.uid)
    FROM message_locations l JOIN conversation_messages m ON m.id = l.message_id
    WHERE l.mailbox = 'INBOX' AND l.uidvalidity = $UIDVALIDITY")" \
    "1=enquiry-1@customer.example 2=reply-1@example.com 3=partner-1@other.example" \
    "message_locations: one per UID"

ALICE=$(conv_of enquiry-1@customer.example)
BOB=$(conv_of partner-1@other.example)
is "$(conv_of reply-1@example.com)" "$ALICE" "the reply joins the enquiry's conversation"
isnt "$BOB" "$ALICE" "the unrelated message has its own conversation"

conv()
{
	sql "SELECT $2 FROM conversations WHERE id = '$1'"
}
is "$(conv "$ALICE" status)" waiting \
    "alice's conversation is waiting: our reply is the latest human message"
is "$(conv "$BOB" status)" needs_reply "bob's conversation needs a reply"
isnt "$(conv "$ALICE" "coalesce(status_reason, '')")" "" "status_reason is set"
is "$(conv "$ALICE" "extract(epoch FROM last_message_at)::bigint")" \
    "$(date -d '2023-11-06 10:00:00 UTC' +%s)" "alice's last_message_at is our reply's"
is "$(conv "$BOB" "extract(epoch FROM last_message_at)::bigint")" \
    "$(date -d '2023-11-06 11:00:00 UTC' +%s)" "bob's last_message_at"
is "$(sql "SELECT l.email FROM conversations c JOIN leads l ON l.id = c.lead_id
    WHERE c.id = '$ALICE'")" Alice@customer.example "alice's conversation has her lead"
is "$(sql "SELECT count(*) FROM leads WHERE lower(email) IN
    ('alice@customer.example', 'bob@other.example')")" 2 "one lead per counterparty"
is "$(sql "SELECT count(DISTINCT a.name) FROM conversations c
    JOIN mail_accounts a ON a.id = c.account_id")" 1 "conversations carry the account"

is "$(sql "SELECT count(*) FROM jobs WHERE kind = 'embed_message'")" 3 \
    "3 embed_message jobs"
is "$(sql "SELECT count(DISTINCT message_id) FROM jobs WHERE kind = 'embed_message'")" 3 \
    "one embed_message job per message"
is "$(sql "SELECT count(*) FROM jobs WHERE kind = 'suggest_reply'")" 1 \
    "1 suggest_reply job"
is "$(sql "SELECT m.rfc_message_id FROM jobs j
    JOIN conversation_messages m ON m.id = j.message_id
    WHERE j.kind = 'suggest_reply'")" partner-1@other.example \
    "the suggest_reply job is for bob's message"
is "$(sql "SELECT count(*) FROM jobs WHERE state <> 'queued'")" 0 "jobs are queued"

is "$(sql "SELECT count(*) FROM events WHERE type = 'message.received'")" 3 \
    "3 message.received events"
is "$(sql "SELECT count(*) FROM events WHERE type = 'conversation.created'")" 2 \
    "2 conversation.created events"
is "$(sql "SELECT count(*) FROM events e WHERE type = 'message.received'
    AND NOT EXISTS (SELECT 1 FROM conversation_messages m
    WHERE m.id = e.message_id AND m.conversation_id = e.conversation_id)")" 0 \
    "message.received events point at their message and conversation"

is "$(sql "SELECT s.uidvalidity || ' ' || s.last_uid || ' ' ||
    (s.last_success_at IS NOT NULL) || ' ' || coalesce(s.last_error, '-')
    FROM sync_state s JOIN mail_accounts a ON a.id = s.account_id
    WHERE a.name = 'sales' AND s.mailbox = 'INBOX'")" \
    "$UIDVALIDITY 3 true -" "sync_state cursor for INBOX"

is "$(listen_wait inboxd_jobs 1)" 1 "one inboxd_jobs notification for the batch"
is "$(listen_count inboxd_events)" 1 "one inboxd_events notification for the batch"
payload=$(listen_payloads inboxd_jobs)
like "$payload" 'embed_message' "inboxd_jobs payload names embed_message"
like "$payload" 'suggest_reply' "inboxd_jobs payload names suggest_reply"
max_event=$(sql "SELECT coalesce(max(id), 0) FROM events")
like "$(listen_payloads inboxd_events)" "(^|[^0-9])$max_event([^0-9]|\$)" \
    "inboxd_events payload covers the last event id ($max_event)"

# Second pass: nothing new ---------------------------------------------------------

before=$(sql_totals)
events_before=$max_event
ok "second inboxd --once exits 0" inboxd_once "$CFG"
is "$(sql_totals)" "$before" "second pass adds no rows"
is "$(sql "SELECT count(*) FROM events WHERE id > $events_before")" 0 \
    "second pass writes no events"
is "$(listen_wait inboxd_jobs 2 2)" 1 "second pass sends no inboxd_jobs notification"
is "$(listen_count inboxd_events)" 1 "second pass sends no inboxd_events notification"
is "$(sql "SELECT last_uid FROM sync_state WHERE mailbox = 'INBOX'")" 3 \
    "cursor unchanged"

# Third pass: alice answers ---------------------------------------------------------

mail_append "$USER" "$PASS" INBOX "$TEST_TMP/4-followup.eml"
ok "third inboxd --once exits 0" inboxd_once "$CFG"
is "$(sql "SELECT count(*) FROM conversation_messages")" 4 "4 message rows"
is "$(sql "SELECT count(*) FROM conversations")" 2 "still 2 conversations"
is "$(conv_of followup-1@customer.example)" "$ALICE" \
    "alice's follow-up joins her conversation"
is "$(msg followup-1@customer.example direction)" inbound "follow-up is inbound"
is "$(conv "$ALICE" status)" needs_reply "alice's conversation now needs a reply"
is "$(conv "$BOB" status)" needs_reply "bob's conversation is unchanged"
is "$(conv "$ALICE" "extract(epoch FROM last_message_at)::bigint")" \
    "$(date -d '2023-11-07 08:30:00 UTC' +%s)" "alice's last_message_at moves on"
is "$(sql "SELECT count(*) FROM jobs WHERE kind = 'suggest_reply'")" 2 \
    "one new suggest_reply job"
is "$(sql "SELECT m.rfc_message_id FROM jobs j
    JOIN conversation_messages m ON m.id = j.message_id
    WHERE j.kind = 'suggest_reply' ORDER BY j.id DESC LIMIT 1")" \
    followup-1@customer.example "the new suggest_reply job is for the follow-up"
is "$(sql "SELECT count(*) FROM jobs WHERE kind = 'embed_message'")" 4 \
    "one new embed_message job"
is "$(sql "SELECT count(*) FROM events WHERE id > $events_before
    AND type = 'conversation.status_changed' AND conversation_id = '$ALICE'")" 1 \
    "a conversation.status_changed event for alice's conversation"
is "$(sql "SELECT count(*) FROM events WHERE id > $events_before
    AND type = 'message.received'")" 1 "one new message.received event"
is "$(listen_wait inboxd_jobs 2)" 2 "one more inboxd_jobs notification"
is "$(listen_count inboxd_events)" 2 "one more inboxd_events notification"
is "$(sql "SELECT last_uid FROM sync_state WHERE mailbox = 'INBOX'")" 4 \
    "cursor moves to UID 4"

# The admin CLI sees the same database -----------------------------------------------

out=$(run_inboxctl --config "$CFG" conversations 2>&1) && rc=0 || rc=$?
is "$rc" 0 "inboxctl conversations exits 0"
like "$out" 'needs_reply' "inboxctl conversations shows the statuses"
out=$(run_inboxctl --config "$CFG" status 2>&1) && rc=0 || rc=$?
is "$rc" 0 "inboxctl status exits 0"
like "$out" 'sales' "inboxctl status names the account"

done_testing
