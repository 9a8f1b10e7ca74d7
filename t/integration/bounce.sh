#!/bin/bash
# Bounces land where they belong. A notice that one of our messages
# could not be delivered joins that message's conversation as automated
# mail, records the failed recipient and the diagnostic, makes the
# conversation active with the reason, and writes a message.bounced
# event; the outcome is the same when the notice is stored before the
# message it returned. A delay notice joins too and changes nothing.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"

USER=sales@example.com
DSN=$top_srcdir/t/data/dsn
start_servers
CFG=$TEST_TMP/inboxd.conf
inboxd_config "$CFG"

ctl()
{
	run_inboxctl --config "$CFG" "$@"
}

mbox()
{
	local out=$1 f
	shift
	for f in "$@"; do
		echo "From someone@example.com Mon Nov  6 09:00:00 2023"
		cat "$f"
		echo
	done >"$out"
}

conv_of()
{
	sql "SELECT conversation_id FROM conversation_messages
	    WHERE rfc_message_id = '$1'"
}

status_of()
{
	sql "SELECT status || ' / ' || coalesce(status_reason, '-')
	    FROM conversations WHERE id = '$1'"
}

ok "migrations applied" ctl migrate

# A message the app sent through its ESP and recorded, waiting.
C1=11111111-1111-4111-8111-111111111111
sql "INSERT INTO conversations (id, subject, status, last_message_at)
    VALUES ('$C1', 'Your offer', 'waiting', '2023-11-07 10:00+00');
    INSERT INTO conversation_messages (conversation_id, direction, content,
        sent_at, sender_email, recipient_email, rfc_message_id)
    VALUES ('$C1', 'outbound', 'Here is the offer', '2023-11-07 10:00+00',
        '$USER', 'Nobody@B.Example', '<out-1@example.com>')" >/dev/null

# Our own message, stored by the daemon, then a delay notice about it.
mail_write "$TEST_TMP/out2" "Sales <$USER>" slow@c.example "Your offer" \
    "Wed, 08 Nov 2023 06:00:00 +0000" out-2@example.com
mbox "$TEST_TMP/a.mbox" "$TEST_TMP/out2" "$DSN/failed.eml" "$DSN/delayed.eml"
ok "import of our message, a failure and a delay" \
    ctl import --account sales "$TEST_TMP/a.mbox"

# The failure ----------------------------------------------------------------

B1=$(sql "SELECT id FROM conversation_messages
    WHERE rfc_message_id = '20231107100005.4F1A2B3C@mx.example.com'")
is "$(conv_of 20231107100005.4F1A2B3C@mx.example.com)" $C1 \
    "the failure joins the conversation of the message it returned"
is "$(sql "SELECT is_automated || ' ' || bounce_kind || ' ' ||
    array_to_string(bounce_recipients, ',') || ' ' || bounce_status
    FROM conversation_messages WHERE id = '$B1'")" \
    "true failed Nobody@b.example 5.1.1" \
    "it is automated, with the failed recipient and the status"
is "$(sql "SELECT bounce_diagnostic FROM conversation_messages
    WHERE id = '$B1'")" \
    "550 5.1.1 <nobody@b.example>: Recipient address rejected: User unknown in virtual mailbox table" \
    "and the diagnostic"
is "$(status_of $C1)" \
    "active / delivery to Nobody@b.example failed: 550 5.1.1 <nobody@b.example>: Recipient address rejected: User unknown in virtual mailbox table" \
    "the conversation is active, and says why"
is "$(sql "SELECT payload->>'recipients' || ' ' || (payload->>'status') || ' ' ||
    (payload->>'original_message_id')
    FROM events WHERE type = 'message.bounced' AND message_id = '$B1'
    AND conversation_id = '$C1'")" \
    '["Nobody@b.example"] 5.1.1 out-1@example.com' \
    "a message.bounced event names the recipient and the original"
is "$(sql "SELECT payload->>'new' FROM events
    WHERE type = 'conversation.status_changed' AND conversation_id = '$C1'")" \
    active "and the status change has its event"
is "$(sql "SELECT count(*) FROM jobs WHERE kind = 'suggest_reply'")" 0 \
    "no reply is suggested for a bounce"

# The delay ------------------------------------------------------------------

C2=$(conv_of out-2@example.com)
is "$(conv_of delay-1@mx.example.com)" "$C2" \
    "the delay notice joins the conversation of our message"
is "$(sql "SELECT bounce_kind || ' ' || array_to_string(bounce_recipients, ',')
    FROM conversation_messages WHERE rfc_message_id = 'delay-1@mx.example.com'")" \
    "delayed slow@c.example" "it is recorded as a delay"
is "$(status_of "$C2")" "waiting / latest human message is outbound" \
    "and changes nothing: the conversation still waits"
is "$(sql "SELECT count(*) FROM events WHERE type = 'message.bounced'")" 1 \
    "a delay writes no message.bounced event"

# A later delay notice joins the failed conversation: nothing changes.
sed -e 's/out-2@example.com/out-1@example.com/' \
    -e 's/delay-1@mx.example.com/delay-2@mx.example.com/' \
    -e 's/Wed, 08 Nov 2023 10:00:00/Wed, 08 Nov 2023 11:00:00/' \
    "$DSN/delayed.eml" >"$TEST_TMP/delay2"
mbox "$TEST_TMP/b.mbox" "$TEST_TMP/delay2"
ok "import of a delay about the failed message" \
    ctl import --account sales "$TEST_TMP/b.mbox"
is "$(conv_of delay-2@mx.example.com)" $C1 "it joins"
like "$(status_of $C1)" "^active / delivery to Nobody@b.example failed: 550" \
    "and the failure's status and reason stay"

# A text bounce stored before the message it returned -------------------------

mbox "$TEST_TMP/c.mbox" "$DSN/qmail.eml"
ok "import of qmail's notice alone" ctl import --account sales "$TEST_TMP/c.mbox"
C4=$(conv_of qmail-1@mail.e.example)
is "$(status_of "$C4")" \
    "active / delivery to Who@e.example failed: Sorry, no mailbox here by that name. (#5.1.1)" \
    "a text notice names the recipient and the reason"
mail_write "$TEST_TMP/out4" "Sales <$USER>" who@e.example "Your offer" \
    "Fri, 10 Nov 2023 09:59:00 +0000" out-4@example.com
mbox "$TEST_TMP/d.mbox" "$TEST_TMP/out4"
ok "import of the message it returned" ctl import --account sales "$TEST_TMP/d.mbox"
is "$(conv_of out-4@example.com)" "$C4" "the message joins the notice's conversation"
is "$(status_of "$C4")" \
    "active / delivery to Who@e.example failed: Sorry, no mailbox here by that name. (#5.1.1)" \
    "and the conversation stays active: the notice is newer than our message"

# A reply after the failure: a person wrote, the person counts.
mail_write "$TEST_TMP/r1" "Nobody <nobody@b.example>" $USER "Re: Your offer" \
    "Thu, 09 Nov 2023 08:00:00 +0000" r-1@b.example \
    "In-Reply-To: <out-1@example.com>"
mbox "$TEST_TMP/e.mbox" "$TEST_TMP/r1"
ok "import of a reply after all" ctl import --account sales "$TEST_TMP/e.mbox"
is "$(status_of $C1)" "needs_reply / latest human message is inbound" \
    "a human reply newer than the failure needs a reply"

ok "the same imports again" ctl import --account sales "$TEST_TMP/a.mbox"
is "$(sql "SELECT count(*) FROM events WHERE type = 'message.bounced'")" 2 \
    "nothing bounced twice"

done_testing
