#!/bin/bash
# inboxctl import: an mbox file and a Maildir backfill an account
# through the same pipeline as synced mail. A message the account holds
# already is not stored twice, so an import can be run again; a bad
# path or account is a clear error; the import refuses to write while
# a daemon holds the account.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/ops.sh"

USER=sales@example.com
start_servers
CFG=$TEST_TMP/inboxd.conf
inboxd_config "$CFG"

ctl()
{
	run_inboxctl --config "$CFG" "$@"
}

totals()
{
	sql "SELECT (SELECT count(*) FROM conversation_messages) || ' messages, ' ||
	    (SELECT count(*) FROM conversations) || ' conversations, ' ||
	    (SELECT count(*) FROM jobs) || ' jobs'"
}

# An mbox of three messages: an enquiry, our reply to it (quoting the
# enquiry under an attribution, with a signature), and an unrelated
# enquiry whose body has a line starting with "From ", which mbox
# writers escape as ">From ".
mail_write "$TEST_TMP/m1" "Ann <ann@a.example>" $USER "Chairs" \
    "Mon, 06 Nov 2023 09:00:00 +0000" im-1@a.example
mail_write "$TEST_TMP/m2" "Sales <$USER>" ann@a.example "Re: Chairs" \
    "Mon, 06 Nov 2023 10:00:00 +0000" im-2@example.com \
    "In-Reply-To: <im-1@a.example>" -- \
    "Hello Ann," "" "Yes, forty in oak." "" "-- " "Sales team" "" \
    "On Mon, 6 Nov 2023 at 09:00, Ann <ann@a.example> wrote:" \
    "> Do you have chairs?"
mail_write "$TEST_TMP/m3" "Ben <ben@b.example>" $USER "Tables" \
    "Mon, 06 Nov 2023 11:00:00 +0000" im-3@b.example -- \
    "Hello," ">From the catalogue: the oak table." "Ben"
for i in 1 2 3; do
	echo "From someone@example.com Mon Nov  6 09:00:00 2023"
	cat "$TEST_TMP/m$i"
	echo
done >"$TEST_TMP/old.mbox"

# mbox --------------------------------------------------------------------------

ok "import of an mbox file" ctl import --account sales "$TEST_TMP/old.mbox"
is "$(totals)" "3 messages, 2 conversations, 4 jobs" \
    "3 messages in 2 conversations; embed 3, suggest 1 (our reply answered the other)"
is "$(sql "SELECT direction FROM conversation_messages
    WHERE rfc_message_id = 'im-2@example.com'")" outbound \
    "our own message is outbound (from one of the account's addresses)"
is "$(sql "SELECT c.status FROM conversations c
    JOIN conversation_messages m ON m.conversation_id = c.id
    WHERE m.rfc_message_id = 'im-1@a.example'")" waiting \
    "the answered conversation waits for the customer"
like "$(sql "SELECT content FROM conversation_messages
    WHERE rfc_message_id = 'im-3@b.example'")" "From the catalogue" \
    "a body line starting with From does not split the message"
is "$(sql "SELECT reply_text FROM conversation_messages
    WHERE rfc_message_id = 'im-2@example.com'")" "Hello Ann,

Yes, forty in oak." \
    "reply_text: what the reply adds, without the signature and the quote"
like "$(sql "SELECT content FROM conversation_messages
    WHERE rfc_message_id = 'im-2@example.com'")" "Do you have chairs" \
    "content keeps the whole text, quote included"
is "$(sql "SELECT reply_text FROM conversation_messages
    WHERE rfc_message_id = 'im-3@b.example'")" "Hello,
From the catalogue: the oak table.
Ben" \
    "reply_text of a message without a quote is its text"
is "$(sql "SELECT count(*) FROM conversation_messages WHERE mailbox = 'import'")" 3 \
    "each message is recorded as imported"

is "$(sql "SELECT coalesce(held_by, '-') FROM mail_accounts WHERE name = 'sales'")" - \
    "an import that ended gives the account back (held_by is cleared)"

ok "the same import again" ctl import --account sales "$TEST_TMP/old.mbox"
is "$(totals)" "3 messages, 2 conversations, 4 jobs" "nothing stored twice"

# Maildir ----------------------------------------------------------------------

mkdir -p "$TEST_TMP/md/cur" "$TEST_TMP/md/new" "$TEST_TMP/md/tmp"
mail_write "$TEST_TMP/md/cur/1700000000.1.host:2,S" "Ann <ann@a.example>" $USER \
    "Re: Chairs" "Tue, 07 Nov 2023 09:00:00 +0000" im-4@a.example \
    "In-Reply-To: <im-2@example.com>"
cp "$TEST_TMP/m3" "$TEST_TMP/md/new/1700000001.2.host"
ok "import of a Maildir" ctl import --account sales "$TEST_TMP/md"
is "$(totals)" "4 messages, 2 conversations, 6 jobs" \
    "one new message, embedded and suggested (the copy of an imported one is known)"
is "$(sql "SELECT c.status FROM conversations c
    JOIN conversation_messages m ON m.conversation_id = c.id
    WHERE m.rfc_message_id = 'im-4@a.example'")" needs_reply \
    "the customer's answer joins the conversation and needs a reply"

# Errors ------------------------------------------------------------------------

rc=0; err=$(ctl import --account sales "$TEST_TMP/none.mbox" 2>&1) || rc=$?
is "$rc" 1 "a missing path: exit status 1"
like "$err" "none.mbox" "and the error names the path"
rc=0; err=$(ctl import --account nobody "$TEST_TMP/old.mbox" 2>&1) || rc=$?
isnt "$rc" 0 "an unknown account fails"
like "$err" "nobody" "and the error names it"
rc=0; err=$(ctl import "$TEST_TMP/old.mbox" 2>&1) || rc=$?
isnt "$rc" 0 "no --account: a usage error"
is "$(totals)" "4 messages, 2 conversations, 6 jobs" "failed imports stored nothing"

# A daemon holds the account ---------------------------------------------------------

inboxd_start --config "$CFG" --foreground
ok "the daemon holds the account" \
    ops_wait_sql "SELECT count(*) FROM mail_accounts
        WHERE held_by IS NOT NULL AND held_by NOT LIKE 'inboxctl-import:%'" 1 20
rc=0; err=$(ctl import --account sales "$TEST_TMP/md" 2>&1) || rc=$?
isnt "$rc" 0 "an import while a daemon holds the account fails"
like "$err" "held|holds" "and says the account is held"
rc=0; inboxd_stop || rc=$?
is "$rc" 0 "the daemon stops"

done_testing
