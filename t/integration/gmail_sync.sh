#!/bin/bash
# A Gmail account through the Gmail API (against t/gmail/standin.py):
# the first sync lists INBOX and SENT and fetches every message once,
# with its Gmail ids and labels, and records the profile's historyId;
# the SENT label makes a message outbound (the conversation waits); a
# thread id joins messages that share no References; later passes read
# history.list from the cursor, fetch only what is new (added or newly
# labelled INBOX), and store a second copy of a Message-ID once;
# initial_sync limits the first sync by date.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/gmail/lib.sh"

pg_start || bail_out "PostgreSQL did not start"

# The mailbox -------------------------------------------------------------------

M=$GMAIL_MAILDIR
mail_write "$M/INBOX/01.eml" "Alice <alice@customer.example>" me@example.com \
    "Pricing for 50 seats" "Mon, 06 Nov 2023 09:00:00 +0000" \
    enquiry-1@customer.example
# Sent from an alias that is not in "addresses": only the label says it
# is ours.
mail_write "$M/SENT/02.eml" "Me <alias@example.net>" alice@customer.example \
    "Re: Pricing for 50 seats" "Mon, 06 Nov 2023 10:00:00 +0000" \
    reply-1@example.net \
    "In-Reply-To: <enquiry-1@customer.example>" \
    "References: <enquiry-1@customer.example>"
# Bob's two messages share a Gmail thread but no References.
mail_write "$M/INBOX/03.eml" "Bob <bob@other.example>" me@example.com \
    "Partnership" "Mon, 06 Nov 2023 11:00:00 +0000" \
    partner-1@other.example "X-Test-Thread: bob"
mail_write "$M/INBOX/04.eml" "Bob <bob@other.example>" me@example.com \
    "One more thing" "Mon, 06 Nov 2023 12:00:00 +0000" \
    partner-2@other.example "X-Test-Thread: bob"
# Neither INBOX nor SENT: not synced.
mkdir -p "$M/Archive"
mail_write "$M/Archive/05.eml" "Carol <carol@third.example>" me@example.com \
    "Archived" "Mon, 06 Nov 2023 13:00:00 +0000" archived-1@third.example
# Recent mail, for initial_sync.
mail_write "$M/INBOX/06.eml" "Dave <dave@recent.example>" me@example.com \
    "Recent" "$(date -R -d '2 days ago')" recent-1@recent.example \
    "X-Test-Internal-Date: $(date +%s -d '2 days ago')"

standin_start || bail_out "the stand-in did not start"
gmail_config "$GMAIL_CFG" "batch_size = 2"

msg()
{
	sql "SELECT $2 FROM conversation_messages m
	    JOIN mail_accounts a ON a.id = m.account_id
	    WHERE a.name = '${3:-g}' AND m.rfc_message_id = '$1'"
}

count_msgs()
{
	sql "SELECT count(*) FROM conversation_messages m
	    JOIN mail_accounts a ON a.id = m.account_id WHERE a.name = '${1:-g}'"
}

cursor()
{
	sql "SELECT coalesce(s.history_id, '-') FROM sync_state s
	    JOIN mail_accounts a ON a.id = s.account_id
	    WHERE a.name = 'g' AND s.mailbox = 'gmail'"
}

gets()
{
	standin_by_kind get
}

# First sync ---------------------------------------------------------------------

ok "first sync: inboxd --once exits 0" inboxd_once "$GMAIL_CFG"
is "$(count_msgs)" 5 "five messages: INBOX and SENT, not the archived one"
is "$(gets)" 5 "each fetched once with messages.get"
is "$(standin_stat 'd["by_kind"]["profile"]')" 1 "one users.getProfile"
is "$(standin_stat 'd["by_kind"]["token"]')" 1 "one access token, cached"
is "$(standin_requests '[e["path"] for e in log if e["kind"] == "list"][0]')" \
    "/gmail/v1/users/me/messages?maxResults=500&q=in%3Ainbox%20OR%20in%3Asent" \
    "messages.list asks for INBOX or SENT"
is "$(standin_requests '[e["kind"] for e in log if e["kind"] != "token"][0]')" \
    profile "the profile (and its historyId) is read before listing"
is "$(cursor)" "$(standin_stat 'd["historyId"]')" \
    "the cursor is the profile's historyId"
is "$(grep -c 'mailbox=gmail: stored' "$INBOXD_OUT")" 3 \
    "batch_size = 2: three transactions"
is "$(sql "SELECT count(*) FROM conversation_messages
    WHERE gmail_message_id ~ '^[0-9a-f]{16}$' AND gmail_thread_id IS NOT NULL")" \
    5 "every row has its Gmail message and thread id"
is "$(sql "SELECT count(*) FROM gmail_locations")" 5 "one gmail_locations row each"
is "$(msg reply-1@example.net "direction || ' ' || array_to_string(gmail_labels, ',')")" \
    "outbound SENT" "the SENT label makes the reply outbound, labels kept"
is "$(msg enquiry-1@customer.example "direction || ' ' || array_to_string(gmail_labels, ',')")" \
    "inbound INBOX" "the enquiry is inbound"
ALICE=$(msg enquiry-1@customer.example conversation_id)
is "$(msg reply-1@example.net conversation_id)" "$ALICE" "the reply joins the enquiry"
is "$(sql "SELECT status FROM conversations WHERE id = '$ALICE'")" waiting \
    "alice's conversation waits for her"
BOB=$(msg partner-1@other.example conversation_id)
is "$(msg partner-2@other.example conversation_id)" "$BOB" \
    "the Gmail thread id joins bob's messages without References"
is "$(msg partner-2@other.example gmail_thread_id)" \
    "$(msg partner-1@other.example gmail_message_id)" \
    "the thread id is Gmail's threadId"
isnt "$BOB" "$ALICE" "bob has his own conversation"
is "$(sql "SELECT status FROM conversations WHERE id = '$BOB'")" needs_reply \
    "bob's conversation needs a reply"
is "$(msg archived-1@third.example "count(*)")" 0 "the archived message is not stored"
like "$(msg recent-1@recent.example "extract(epoch FROM sent_at)::bigint")" \
    '^[0-9]+$' "the recent message is stored"

# Nothing new ---------------------------------------------------------------------

cursor1=$(cursor)
ok "second pass exits 0" inboxd_once "$GMAIL_CFG"
is "$(count_msgs)" 5 "no new rows"
is "$(gets)" 5 "nothing fetched again"
is "$(standin_stat 'd["by_kind"]["history"]')" 1 "one history.list"
is "$(standin_stat 'd["by_kind"]["list"]')" 1 "no second messages.list"
like "$(standin_requests '[e["path"] for e in log if e["kind"] == "history"][0]')" \
    "startHistoryId=$cursor1&" "history.list starts at the stored cursor"
is "$(cursor)" "$cursor1" "the cursor stays"

# New mail ---------------------------------------------------------------------------

mail_write "$TEST_TMP/new1.eml" "Alice <alice@customer.example>" me@example.com \
    "Re: Pricing for 50 seats" "Tue, 07 Nov 2023 08:30:00 +0000" \
    followup-1@customer.example \
    "In-Reply-To: <reply-1@example.net>" \
    "References: <enquiry-1@customer.example> <reply-1@example.net>"
standin_add "$TEST_TMP/new1.eml" INBOX >/dev/null || bail_out "cannot add mail"
# A draft is neither in INBOX nor SENT.
mail_write "$TEST_TMP/draft.eml" "Me <me@example.com>" alice@customer.example \
    "Draft" "Tue, 07 Nov 2023 09:00:00 +0000" draft-1@example.com
standin_add "$TEST_TMP/draft.eml" DRAFT >/dev/null || bail_out "cannot add mail"
# Archived first, moved to the inbox later: a labelAdded record.
mail_write "$TEST_TMP/moved.eml" "Erin <erin@fifth.example>" me@example.com \
    "Moved" "Tue, 07 Nov 2023 10:00:00 +0000" moved-1@fifth.example
moved=$(standin_add "$TEST_TMP/moved.eml" Archive) || bail_out "cannot add mail"
standin_admin POST labels "{\"id\": \"$moved\", \"add\": [\"INBOX\"]}" >/dev/null
# The same Message-ID again under another Gmail id.
standin_add "$M/INBOX/03.eml" INBOX >/dev/null || bail_out "cannot add mail"

ok "pass after new mail exits 0" inboxd_once "$GMAIL_CFG"
is "$(count_msgs)" 7 "the follow-up and the moved message are new rows"
is "$(gets)" 8 "three messages.get: the follow-up, the moved one, the copy"
is "$(msg draft-1@example.com "count(*)")" 0 "the draft is not stored"
is "$(msg moved-1@fifth.example "array_to_string(gmail_labels, ',')")" \
    "Archive,INBOX" "the message labelled INBOX later is stored"
is "$(msg partner-1@other.example "count(*)")" 1 \
    "a second Gmail copy of a Message-ID is stored once"
is "$(sql "SELECT count(*) FROM gmail_locations")" 8 \
    "... and both of its Gmail ids point at it"
is "$(msg followup-1@customer.example conversation_id)" "$ALICE" \
    "alice's follow-up joins her conversation"
is "$(sql "SELECT status FROM conversations WHERE id = '$ALICE'")" needs_reply \
    "alice's conversation needs a reply again"
is "$(cursor)" "$(standin_stat 'd["historyId"]')" \
    "the cursor moves to the new historyId"

ok "one more pass exits 0" inboxd_once "$GMAIL_CFG"
is "$(gets)" 8 "the copy is not fetched again: its id is known"

# initial_sync ---------------------------------------------------------------------

config_gmail h "initial_sync = 7" >>"$GMAIL_CFG"
ok "a second account with initial_sync = 7 syncs" inboxd_once "$GMAIL_CFG"
is "$(count_msgs h)" 1 "initial_sync = 7: only the recent message"
is "$(msg recent-1@recent.example "count(*)" h)" 1 "... which is dave's"
like "$(standin_requests '[e["path"] for e in log if e["kind"] == "list"][-1]')" \
    'q=after%3A[0-9]+%20%28in%3Ainbox%20OR%20in%3Asent%29' \
    "the listing asks for after:EPOCH"

done_testing
