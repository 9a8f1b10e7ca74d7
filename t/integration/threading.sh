#!/bin/bash
# Threading and reply status that are right whatever order mail arrives in:
#   (a) a reply stored before its parent joins the parent's conversation
#   (b) a message whose References name two conversations merges them;
#       the older survives, an event says so, rows and jobs follow it
#   (c) an auto-reply to a waiting conversation leaves it waiting, is
#       marked automated and queues no suggest_reply job
#   (d) thread_by_subject joins "Re: Quote" to "Quote" from the same
#       counterparty, and only when enabled
#   (e) older mail arriving late never turns the status back
#   (f) a message without Message-ID is stored once, from two folders and
#       when fetched again
#   (g) generated threads delivered in shuffled order, over several
#       passes, end in the same conversations and statuses as in date
#       order

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/faults.sh"

SALES=sales@example.com
QUOTES=quotes@example.com
DATED=dated@example.com
SHUFFLED=shuffled@example.com
PASS=secret
start_servers "$SALES:$PASS" "$QUOTES:$PASS" "$DATED:$PASS" "$SHUFFLED:$PASS"
CFG=$TEST_TMP/inboxd.conf
{
	config_daemon
	config_imap sales "$SALES" "$PASS" "thread_by_subject = false"
	config_imap quotes "$QUOTES" "$PASS" "thread_by_subject = true" \
	    "subject_window = 14"
	# (g): both see the generated mail as sales@example.com's.
	config_imap dated "$DATED" "$PASS" "addresses = $SALES" "batch_size = 7"
	config_imap shuffled "$SHUFFLED" "$PASS" "addresses = $SALES" \
	    "batch_size = 7"
} >"$CFG"

# mkmail NAME FROM TO SUBJECT DATE MESSAGE-ID|- [HEADER...]: the message
# $TEST_TMP/NAME.eml.
mkmail()
{
	local name=$1
	shift
	mail_write "$TEST_TMP/$name.eml" "$@"
}

# put USER FOLDER NAME...: APPENDs the messages mkmail wrote.
put()
{
	local user=$1 folder=$2 name
	shift 2
	for name in "$@"; do
		mail_append "$user" "$PASS" "$folder" "$TEST_TMP/$name.eml"
	done
}

# m ACCOUNT MESSAGE-ID COLUMN: one column of a stored message.
m()
{
	sql "SELECT $3 FROM conversation_messages
	    WHERE $(_acct_where "$1") AND rfc_message_id = '$2'"
}

conv_of()
{
	m "$1" "$2" conversation_id
}

c()
{
	sql "SELECT $2 FROM conversations WHERE id = '$1'"
}

jobs_of()
{
	# jobs_of ACCOUNT MESSAGE-ID KIND: how many
	sql "SELECT count(*) FROM jobs j JOIN conversation_messages x ON x.id = j.message_id
	    WHERE x.$(_acct_where "$1") AND x.rfc_message_id = '$2' AND j.kind = '$3'"
}

epoch()
{
	date -d "$1" +%s
}

# (a) a reply before its parent ------------------------------------------------------

mkmail a-parent "Gina <gina@g.example>" $SALES "Trial licence" \
    "Mon, 06 Nov 2023 09:00:00 +0000" a-parent@g.example
mkmail a-reply "Sales <$SALES>" "gina@g.example" "Re: Trial licence" \
    "Mon, 06 Nov 2023 10:00:00 +0000" a-reply@example.com \
    "In-Reply-To: <a-parent@g.example>" "References: <a-parent@g.example>"
put $SALES Sent a-reply
ok "(a) pass with the reply only" inboxd_once "$CFG"
A=$(conv_of sales a-reply@example.com)
isnt "$A" "" "(a) the reply is stored"
put $SALES INBOX a-parent
ok "(a) pass with the parent" inboxd_once "$CFG"
is "$(conv_of sales a-parent@g.example)" "$A" "(a) the parent joins the reply's conversation"
is "$(sql "SELECT count(DISTINCT conversation_id) FROM conversation_messages
    WHERE rfc_message_id IN ('a-parent@g.example', 'a-reply@example.com')")" 1 \
    "(a) one conversation"
is "$(c "$A" status)" waiting "(a) waiting: our reply is the latest human message"
is "$(c "$A" "extract(epoch FROM last_message_at)::bigint")" \
    "$(epoch '2023-11-06 10:00 UTC')" "(a) last_message_at is the reply's"
is "$(sql "SELECT count(*) FROM thread_ids WHERE message_id = 'a-parent@g.example'
    AND message_row_id IS NOT NULL AND conversation_id = '$A'")" 1 \
    "(a) the parent's id is no longer a ghost"

# Two children of a parent never seen, in separate passes.
mkmail a-kid1 "Gina <gina@g.example>" $SALES "Re: Lost thread" \
    "Mon, 06 Nov 2023 11:00:00 +0000" a-kid1@g.example \
    "In-Reply-To: <a-ghost@g.example>" "References: <a-ghost@g.example>"
mkmail a-kid2 "Gus <gus@g.example>" $SALES "Re: Lost thread" \
    "Mon, 06 Nov 2023 11:30:00 +0000" a-kid2@g.example \
    "In-Reply-To: <a-ghost@g.example>" "References: <a-ghost@g.example>"
put $SALES INBOX a-kid1
ok "(a) pass with the first child of an unseen parent" inboxd_once "$CFG"
put $SALES INBOX a-kid2
ok "(a) pass with the second child" inboxd_once "$CFG"
is "$(conv_of sales a-kid2@g.example)" "$(conv_of sales a-kid1@g.example)" \
    "(a) two children of one unseen parent share a conversation"

# (b) two threads merged by a later message ------------------------------------------

mkmail b-x1 "Hank <hank@h.example>" $SALES "Project X" \
    "Tue, 07 Nov 2023 09:00:00 +0000" b-x1@h.example
mkmail b-x2 "Sales <$SALES>" "hank@h.example" "Re: Project X" \
    "Tue, 07 Nov 2023 10:00:00 +0000" b-x2@example.com \
    "In-Reply-To: <b-x1@h.example>" "References: <b-x1@h.example>"
mkmail b-y1 "Ivy <ivy@i.example>" $SALES "Project Y" \
    "Wed, 08 Nov 2023 09:00:00 +0000" b-y1@i.example
mkmail b-m "Hank <hank@h.example>" $SALES "Re: Projects X and Y" \
    "Thu, 09 Nov 2023 09:00:00 +0000" b-m@h.example \
    "In-Reply-To: <b-y1@i.example>" \
    "References: <b-x1@h.example> <b-y1@i.example>"
put $SALES INBOX b-x1
put $SALES Sent b-x2
ok "(b) pass with thread X" inboxd_once "$CFG"
put $SALES INBOX b-y1
ok "(b) pass with thread Y" inboxd_once "$CFG"
CX=$(conv_of sales b-x1@h.example)
CY=$(conv_of sales b-y1@i.example)
is "$(conv_of sales b-x2@example.com)" "$CX" "(b) X's reply is in X"
isnt "$CY" "$CX" "(b) X and Y are two conversations before the merge"
y1_jobs=$(sql "SELECT count(*) FROM jobs j JOIN conversation_messages x
    ON x.id = j.message_id WHERE x.rfc_message_id = 'b-y1@i.example'")
isnt "$y1_jobs" 0 "(b) Y's message has jobs"
put $SALES INBOX b-m
ok "(b) pass with the message naming both" inboxd_once "$CFG"
for id in b-x1@h.example b-x2@example.com b-y1@i.example b-m@h.example; do
	is "$(conv_of sales "$id")" "$CX" "(b) $id is in the survivor (the older, X)"
done
is "$(sql "SELECT count(*) FROM conversations WHERE id = '$CY'")" 0 \
    "(b) Y's conversation is gone"
is "$(sql "SELECT count(*) FROM events WHERE type = 'conversation.merged'
    AND payload::text LIKE '%$CX%' AND payload::text LIKE '%$CY%'")" 1 \
    "(b) one conversation.merged event naming both ids"
is "$(sql "SELECT count(*) FROM jobs WHERE payload::text LIKE '%$CY%'")" 0 \
    "(b) no job payload names Y any more"
# Y's embedding job follows its message into the survivor; its reply
# suggestion is withdrawn, since b-m is now the newest human message.
is "$(sql "SELECT count(*) FROM jobs j JOIN conversation_messages x ON x.id = j.message_id
    WHERE x.rfc_message_id = 'b-y1@i.example' AND j.kind = 'embed_message'
    AND j.payload->>'conversation_id' = '$CX'")" 1 \
    "(b) Y's embed_message job points at the survivor"
is "$(sql "SELECT count(*) FROM jobs j JOIN conversation_messages x ON x.id = j.message_id
    WHERE x.rfc_message_id = 'b-y1@i.example' AND j.kind = 'suggest_reply'")" 0 \
    "(b) the suggestion for Y's superseded message is withdrawn"
is "$(sql "SELECT count(*) FROM jobs j JOIN conversation_messages x ON x.id = j.message_id
    WHERE x.rfc_message_id = 'b-m@h.example' AND j.kind = 'suggest_reply'
    AND j.payload->>'conversation_id' = '$CX'")" 1 \
    "(b) one suggestion, for the newest inbound message, in the survivor"
is "$(sql "SELECT count(*) FROM thread_ids WHERE conversation_id = '$CY'")" 0 \
    "(b) no thread id points at Y"
is "$(sql "SELECT count(*) FROM thread_ids WHERE conversation_id = '$CX'
    AND message_id IN ('b-x1@h.example', 'b-x2@example.com', 'b-y1@i.example', 'b-m@h.example')")" 4 \
    "(b) the four ids point at X"
is "$(c "$CX" status)" needs_reply "(b) the merged conversation needs a reply (latest is Hank's)"
is "$(c "$CX" "extract(epoch FROM last_message_at)::bigint")" \
    "$(epoch '2023-11-09 09:00 UTC')" "(b) last_message_at is the merging message's"

# (c) an out-of-office reply to a waiting conversation --------------------------------

mkmail c-1 "Jill <jill@j.example>" $SALES "Renewal" \
    "Fri, 10 Nov 2023 09:00:00 +0000" c-1@j.example
mkmail c-2 "Sales <$SALES>" "jill@j.example" "Re: Renewal" \
    "Fri, 10 Nov 2023 10:00:00 +0000" c-2@example.com \
    "In-Reply-To: <c-1@j.example>" "References: <c-1@j.example>"
mkmail c-ooo "Jill <jill@j.example>" $SALES "Automatic reply: Re: Renewal" \
    "Fri, 10 Nov 2023 10:00:05 +0000" c-ooo@j.example \
    "In-Reply-To: <c-2@example.com>" \
    "References: <c-1@j.example> <c-2@example.com>" \
    "Auto-Submitted: auto-replied"
put $SALES INBOX c-1
put $SALES Sent c-2
ok "(c) pass with the conversation" inboxd_once "$CFG"
C=$(conv_of sales c-1@j.example)
is "$(c "$C" status)" waiting "(c) waiting before the auto-reply"
put $SALES INBOX c-ooo
ok "(c) pass with the auto-reply" inboxd_once "$CFG"
is "$(conv_of sales c-ooo@j.example)" "$C" "(c) the auto-reply joins the conversation"
is "$(c "$C" status)" waiting "(c) still waiting after the auto-reply"
is "$(m sales c-ooo@j.example is_automated)" t "(c) stored with is_automated = true"
like "$(m sales c-ooo@j.example "coalesce(automated_reason, '')")" '.+' \
    "(c) automated_reason is set"
is "$(jobs_of sales c-ooo@j.example suggest_reply)" 0 "(c) no suggest_reply job"
is "$(jobs_of sales c-ooo@j.example embed_message)" 1 "(c) an embed_message job"

# (d) subject threading -------------------------------------------------------------

for acct in sales quotes; do
	to=$SALES
	[ $acct = quotes ] && to=$QUOTES
	mkmail d-q1-$acct "Kim <kim@k.example>" "$to" "Quote" \
	    "Mon, 13 Nov 2023 09:00:00 +0000" d-q1@k.example
	mkmail d-q2-$acct "Kim <kim@k.example>" "$to" "Re: Quote" \
	    "Tue, 14 Nov 2023 09:00:00 +0000" d-q2@k.example
	mkmail d-q3-$acct "Lee <lee@l.example>" "$to" "Re: Quote" \
	    "Tue, 14 Nov 2023 10:00:00 +0000" d-q3@l.example
done
put $SALES INBOX d-q1-sales
put $QUOTES INBOX d-q1-quotes
ok "(d) pass with \"Quote\"" inboxd_once "$CFG"
put $SALES INBOX d-q2-sales d-q3-sales
put $QUOTES INBOX d-q2-quotes d-q3-quotes
ok "(d) pass with the two \"Re: Quote\"" inboxd_once "$CFG"
is "$(m quotes d-q2@k.example "count(*)")" 1 "(d) quotes stored \"Re: Quote\""
is "$(conv_of quotes d-q2@k.example)" "$(conv_of quotes d-q1@k.example)" \
    "(d) thread_by_subject = true: same subject and counterparty join"
isnt "$(conv_of quotes d-q3@l.example)" "$(conv_of quotes d-q1@k.example)" \
    "(d) thread_by_subject = true: another counterparty does not join"
isnt "$(conv_of sales d-q2@k.example)" "$(conv_of sales d-q1@k.example)" \
    "(d) thread_by_subject = false: no join by subject"
is "$(sql "SELECT count(DISTINCT account_id) FROM conversations
    WHERE id IN (SELECT conversation_id FROM conversation_messages
    WHERE rfc_message_id = 'd-q1@k.example')")" 2 \
    "(d) the accounts keep their own conversations"

# (e) older mail arriving late --------------------------------------------------------

mkmail e-1 "Max <max@m.example>" $SALES "Shipping" \
    "Wed, 15 Nov 2023 09:00:00 +0000" e-1@m.example
mkmail e-3 "Sales <$SALES>" "max@m.example" "Re: Shipping" \
    "Wed, 15 Nov 2023 12:00:00 +0000" e-3@example.com \
    "In-Reply-To: <e-1@m.example>" "References: <e-1@m.example>"
mkmail e-2 "Max <max@m.example>" $SALES "Re: Shipping" \
    "Wed, 15 Nov 2023 11:00:00 +0000" e-2@m.example \
    "In-Reply-To: <e-1@m.example>" "References: <e-1@m.example>"
mkmail e-4 "Max <max@m.example>" $SALES "Re: Shipping" \
    "Wed, 15 Nov 2023 13:00:00 +0000" e-4@m.example \
    "In-Reply-To: <e-3@example.com>" "References: <e-1@m.example> <e-3@example.com>"
put $SALES INBOX e-1
put $SALES Sent e-3
ok "(e) pass with the enquiry and our reply" inboxd_once "$CFG"
E=$(conv_of sales e-1@m.example)
is "$(c "$E" status)" waiting "(e) waiting after our reply"
put $SALES INBOX e-2
ok "(e) pass with an older inbound message" inboxd_once "$CFG"
is "$(conv_of sales e-2@m.example)" "$E" "(e) the older message joins"
is "$(c "$E" status)" waiting "(e) still waiting: the older inbound message does not count"
is "$(c "$E" "extract(epoch FROM last_message_at)::bigint")" \
    "$(epoch '2023-11-15 12:00 UTC')" "(e) last_message_at stays our reply's"
is "$(jobs_of sales e-2@m.example suggest_reply)" 0 \
    "(e) no suggest_reply job for the older message"
put $SALES INBOX e-4
ok "(e) pass with a newer inbound message" inboxd_once "$CFG"
is "$(c "$E" status)" needs_reply "(e) a newer inbound message makes it needs_reply"
is "$(jobs_of sales e-4@m.example suggest_reply)" 1 "(e) and queues a suggest_reply job"

# (f) no Message-ID ----------------------------------------------------------------

mkmail f-1 "Ned <ned@n.example>" $SALES "No message id" \
    "Thu, 16 Nov 2023 09:00:00 +0000" -
mkmail f-2 "Ned <ned@n.example>" $SALES "Another without id" \
    "Thu, 16 Nov 2023 09:30:00 +0000" -
put $SALES INBOX f-1 f-2
put $SALES Sent f-1
ok "(f) pass with messages without Message-ID" inboxd_once "$CFG"
ok "(f) a second pass" inboxd_once "$CFG"
is "$(sql "SELECT count(*) FROM conversation_messages WHERE subject = 'No message id'")" 1 \
    "(f) stored once from INBOX and Sent"
F1=$(sql "SELECT id FROM conversation_messages WHERE subject = 'No message id'")
is "$(sql "SELECT string_agg(mailbox, ' ' ORDER BY mailbox) FROM message_locations
    WHERE message_id = '$F1'")" "INBOX Sent" "(f) both copies recorded as locations"
like "$(sql "SELECT coalesce(rfc_message_id, '') FROM conversation_messages WHERE id = '$F1'")" \
    '.+' "(f) it has a synthetic Message-ID"
is "$(sql "SELECT count(DISTINCT rfc_message_id) FROM conversation_messages
    WHERE subject IN ('No message id', 'Another without id')")" 2 \
    "(f) another message without Message-ID gets another id"
is "$(jobs_of sales "$(sql "SELECT rfc_message_id FROM conversation_messages WHERE id = '$F1'")" embed_message)" \
    1 "(f) one embed_message job"

# Every message fetched again: a lost cursor adds nothing.
before=$(sql_totals)
sql "UPDATE sync_state SET last_uid = 0" >/dev/null
ok "(f) a pass that fetches everything again" inboxd_once "$CFG"
like "$(cat "$INBOXD_OUT")" 'already known' "(f) the log reports known messages"
is "$(sql_totals)" "$before" "(f) nothing is added when every message is fetched again"
is "$(sql "SELECT count(*) FROM conversation_messages WHERE subject = 'No message id'")" 1 \
    "(f) still once"

# (g) shuffled arrival order ------------------------------------------------------

fault_seed
G=120
gen_mail "$TEST_TMP/g-dated" "$G" "$FAULT_SEED" g 80 || bail_out "gen_mail failed"
gen_mail "$TEST_TMP/g-all" "$G" "$FAULT_SEED" g 80 || bail_out "gen_mail failed"
maildir_deliver $DATED INBOX "$TEST_TMP/g-dated" || bail_out "delivery failed"
# The same files in a random order (Fisher-Yates on $RANDOM, in this
# shell so that the seed repeats it), in three parts, one pass each.
files=("$TEST_TMP/g-all"/*.eml)
for ((i = ${#files[@]} - 1; i > 0; i--)); do
	rand_between 0 "$i"
	tmp=${files[i]}
	files[i]=${files[REPLY]}
	files[REPLY]=$tmp
done
for ((i = 0; i < ${#files[@]}; i++)); do
	part=$((i * 3 / G))
	mkdir -p "$TEST_TMP/g-part$part"
	mv "${files[i]}" "$TEST_TMP/g-part$part/$(printf '%05d' "$i").eml"
done
for part in 0 1 2; do
	maildir_deliver $SHUFFLED INBOX "$TEST_TMP/g-part$part" ||
	    bail_out "delivery failed"
	ok "(g) pass $((part + 1)) of the shuffled delivery" inboxd_once "$CFG"
done

# Each conversation as its sorted Message-IDs, status and last message.
partition()
{
	sql "SELECT string_agg(p, E'\\n' ORDER BY p) FROM (
	    SELECT string_agg(x.rfc_message_id, ',' ORDER BY x.rfc_message_id)
	    || ' ' || c.status || ' ' || extract(epoch FROM c.last_message_at)::bigint AS p
	    FROM conversation_messages x JOIN conversations c ON c.id = x.conversation_id
	    WHERE x.$(_acct_where "$1") GROUP BY c.id, c.status, c.last_message_at) t"
}
is "$(acct_rows dated)" "$G" "(g) date order: $G messages"
is "$(acct_rows shuffled)" "$G" "(g) shuffled: $G messages"
is "$(sql "SELECT count(*) FROM conversations WHERE $(_acct_where dated)")" \
    "$(cat "$TEST_TMP/g-all/threads")" "(g) date order: one conversation per thread"
dated=$(partition dated)
shuffled=$(partition shuffled)
if [ "$dated" = "$shuffled" ]; then
	pass "(g) shuffled order gives the same conversations and statuses"
else
	fail "(g) shuffled order gives the same conversations and statuses"
	diag "$(diff <(echo "$dated") <(echo "$shuffled") | head -n 20)"
fi
note "(g) merges while shuffled: $(sql "SELECT count(*) FROM events
    WHERE type = 'conversation.merged' AND account = 'shuffled'")"

# Overall ---------------------------------------------------------------------------

is "$(sql "SELECT count(*) FROM conversations c WHERE NOT EXISTS
    (SELECT 1 FROM conversation_messages x WHERE x.conversation_id = c.id)")" 0 \
    "no conversation without messages"
is "$(sql "SELECT count(*) FROM (SELECT kind, message_id FROM jobs
    GROUP BY 1, 2 HAVING count(*) > 1) d")" 0 "no duplicate jobs"

done_testing
