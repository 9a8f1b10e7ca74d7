#!/bin/bash
# Replies to what an application sent thread onto the application's
# rows. An app that sends through an ESP records the outbound message
# itself, with the Message-ID it gave (written as it pleases: with or
# without brackets, any case of the domain, spaces around) or with
# Postmark's id only. A reply naming that message joins the app's
# conversation, whose status follows; a local part in another case is
# another id.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"

USER=sales@example.com
start_servers
CFG=$TEST_TMP/inboxd.conf
inboxd_config "$CFG"

ctl()
{
	run_inboxctl --config "$CFG" "$@"
}

ok "migrations applied" ctl migrate

PM=0d526848-0422-4d08-95c9-33c1ab388046

# What the app wrote: one conversation per message it sent, waiting for
# the customer.
app_row()
{
	local conv=$1 column=$2 value=$3
	sql "INSERT INTO conversations (id, subject, status, last_message_at)
	    VALUES ('$conv', 'Offer', 'waiting', '2023-11-06 09:00+00');
	    INSERT INTO conversation_messages (conversation_id, direction,
	        content, sent_at, sender_email, recipient_email, $column)
	    VALUES ('$conv', 'outbound', 'Our offer', '2023-11-06 09:00+00',
	        '$USER', 'ann@a.example', '$value')" >/dev/null
}
C1=11111111-1111-4111-8111-111111111111
C2=22222222-2222-4222-8222-222222222222
C3=33333333-3333-4333-8333-333333333333
app_row $C1 rfc_message_id '<app-1@crm.example>'
app_row $C2 postmark_message_id $PM

# An app's own role, without rights on the schema inboxd, writes and
# reads its rows: the expression indexes of version 10 do not get in
# its way.
psql_su "CREATE ROLE crm_app NOLOGIN;
    GRANT SELECT, INSERT ON conversations, conversation_messages TO crm_app" \
    >/dev/null
rc=0; out=$(psql_su "SET ROLE crm_app;
    INSERT INTO conversations (id, subject, status, last_message_at)
    VALUES ('$C3', 'Offer', 'waiting', '2023-11-06 09:00+00');
    INSERT INTO conversation_messages (conversation_id, direction,
        content, sent_at, sender_email, recipient_email, rfc_message_id,
        postmark_message_id)
    VALUES ('$C3', 'outbound', 'Our offer', '2023-11-06 09:00+00',
        '$USER', 'ann@a.example', ' app-3@CRM.Example ', NULL);
    SELECT count(*) FROM conversation_messages
    WHERE rfc_message_id = ' app-3@CRM.Example '" 2>&1) || rc=$?
is "$rc $out" "0 1" "an app role without rights on inboxd writes and reads its rows"

mail_write "$TEST_TMP/m1" "Ann <ann@a.example>" $USER "Re: Offer" \
    "Mon, 06 Nov 2023 10:00:00 +0000" r-1@a.example \
    "In-Reply-To: <app-1@CRM.example>"
mail_write "$TEST_TMP/m2" "Ann <ann@a.example>" $USER "Re: Offer" \
    "Mon, 06 Nov 2023 10:01:00 +0000" r-2@a.example \
    "In-Reply-To: <$PM@mtasv.net>" "References: <$PM@mtasv.net>"
mail_write "$TEST_TMP/m3" "Ann <ann@a.example>" $USER "Re: Offer" \
    "Mon, 06 Nov 2023 10:02:00 +0000" r-3@a.example \
    "References: <app-3@crm.example>"
mail_write "$TEST_TMP/m4" "Ann <ann@a.example>" $USER "Re: Offer" \
    "Mon, 06 Nov 2023 10:03:00 +0000" r-4@a.example \
    "In-Reply-To: <APP-1@crm.example>"
for i in 1 2 3 4; do
	echo "From someone@example.com Mon Nov  6 09:00:00 2023"
	cat "$TEST_TMP/m$i"
	echo
done >"$TEST_TMP/replies.mbox"
ok "import of the replies" ctl import --account sales "$TEST_TMP/replies.mbox"

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

is "$(conv_of r-1@a.example)" $C1 \
    "a reply to <app-1@CRM.example> joins the row written <app-1@crm.example>"
is "$(status_of $C1)" "needs_reply / latest human message is inbound" \
    "and the app's conversation needs a reply"
is "$(conv_of r-2@a.example)" $C2 \
    "a reply to <UUID@mtasv.net> joins the row with postmark_message_id UUID"
is "$(status_of $C2)" "needs_reply / latest human message is inbound" \
    "and that conversation needs a reply too"
is "$(conv_of r-3@a.example)" $C3 \
    "References find a row written with spaces and an upper-case domain"
isnt "$(conv_of r-4@a.example)" $C1 \
    "a local part in another case is another id: a conversation of its own"
is "$(sql "SELECT rfc_message_id FROM conversation_messages
    WHERE conversation_id = '$C1' AND direction = 'outbound'")" \
    "<app-1@crm.example>" "what the app wrote stays as written"
is "$(sql "SELECT rfc_message_id FROM conversation_messages
    WHERE rfc_message_id ILIKE 'r-1@%'")" r-1@a.example \
    "the daemon writes ids in their normalized form"
is "$(sql "SELECT count(*) FROM jobs WHERE kind = 'suggest_reply'")" 4 \
    "each reply queues a suggestion"
like "$(sql "EXPLAIN SELECT id FROM conversation_messages
    WHERE inboxd.msgid_norm(rfc_message_id) = 'x@y'")" \
    "ix_messages_rfc_message_id_norm" \
    "the normalized lookup has an index"

# The SQL rule is the parser's (src/msgid.c).
is "$(sql "SELECT inboxd.msgid_norm(' <App-1@CRM.Example> ')")" \
    App-1@crm.example "msgid_norm: brackets and spaces off, domain folded"
is "$(sql "SELECT inboxd.msgid_norm('a@b@MiXeD.Org') || ' ' ||
    inboxd.msgid_norm('<NoDomain>') || ' ' ||
    coalesce(inboxd.msgid_norm(' <> '), 'NULL')")" \
    "a@b@mixed.org NoDomain NULL" "msgid_norm: last @, no domain, empty"
is "$(sql "SELECT inboxd.postmark_msgid(' 0D526848-0422-4D08-95C9-33C1AB388046 ')
    || ' ' || inboxd.postmark_msgid('<$PM@MTASV.NET>')")" \
    "$PM@mtasv.net $PM@mtasv.net" \
    "postmark_msgid: a bare UUID in any case, or a whole id"

# Ids the daemon stored before version 10 in thread_ids, in two
# spellings of one id, or one spelling beside the normalized form: the
# migration's rewrite keeps one row of each id, normalized.
sql "INSERT INTO thread_ids (account_id, message_id, conversation_id)
    SELECT a.id, v.k, '$C1' FROM mail_accounts a,
    (VALUES ('old-1@Old.Example'), ('old-1@OLD.example'),
        ('old-2@Old.Example'), ('old-2@old.example'), ('Old-3@X.Org')) v(k)
    WHERE a.name = 'sales'" >/dev/null
rc=0; sed -n '/^DELETE FROM thread_ids/,$p' "$top_srcdir/sql/010_msgid_lookup.sql" \
    >"$TEST_TMP/rewrite.sql"
psql -XAtq -v ON_ERROR_STOP=1 -1 -f "$TEST_TMP/rewrite.sql" >/dev/null || rc=$?
is "$rc" 0 "the migration's rewrite of thread_ids runs"
is "$(sql "SELECT string_agg(message_id, ' ' ORDER BY message_id COLLATE \"C\")
    FROM thread_ids WHERE lower(message_id) LIKE '%old%'")" \
    "Old-3@x.org old-1@old.example old-2@old.example" \
    "one row per id, normalized, local parts as they were"

ok "the same import again" ctl import --account sales "$TEST_TMP/replies.mbox"
is "$(sql "SELECT count(*) FROM conversation_messages")" 7 \
    "nothing stored twice"

done_testing
