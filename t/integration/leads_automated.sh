#!/bin/bash
# Leads are for people. A sender who has only ever sent automated mail
# (an out-of-office reply, a receipt from a no-reply address) gets no
# lead, and neither do its conversations: they do not need a reply and
# queue no suggestion. The first human message from that sender creates
# the lead and links the conversation to it. A lead that existed before
# is never changed.

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

leads_of()
{
	sql "SELECT count(*) FROM leads WHERE lower(email) = lower('$1')"
}

conv_of()
{
	sql "SELECT $2 FROM conversations c
	    JOIN conversation_messages m ON m.conversation_id = c.id
	    WHERE m.rfc_message_id = '$1'"
}

suggestions_for()
{
	sql "SELECT count(*) FROM jobs j JOIN conversation_messages m
	    ON m.id::text = j.payload->>'message_id'
	    WHERE j.kind = 'suggest_reply' AND m.rfc_message_id = '$1'"
}

ok "migrations apply" ctl migrate
sql "INSERT INTO leads (email, name, created_at)
    VALUES ('Cara@c.example', 'Cara from the fair', '2020-01-02 03:04:05+00')"
before=$(sql "SELECT id || '|' || email || '|' || name || '|' || created_at
    FROM leads WHERE email = 'Cara@c.example'")

# Automated mail only -----------------------------------------------------------

# Dan's out-of-office answer to our offer, a shop's receipt from a
# no-reply address, and an auto-reply from Cara, who is a lead already.
mail_write "$TEST_TMP/a1" "Dan <dan@d.example>" $USER \
    "Automatic reply: Chairs" "Mon, 06 Nov 2023 09:00:00 +0000" la-1@d.example \
    "Auto-Submitted: auto-replied" -- \
    "I am away until Monday."
mail_write "$TEST_TMP/a2" "Shop <no-reply@shop.example>" $USER \
    "Your receipt" "Mon, 06 Nov 2023 09:10:00 +0000" la-2@shop.example -- \
    "Thank you for your order."
mail_write "$TEST_TMP/a3" "Cara <cara@c.example>" $USER \
    "Out of Office: Tables" "Mon, 06 Nov 2023 09:20:00 +0000" la-3@c.example \
    "X-Autoreply: yes" -- \
    "Back on Friday."
mbox "$TEST_TMP/auto.mbox" "$TEST_TMP/a1" "$TEST_TMP/a2" "$TEST_TMP/a3"

ok "import of automated mail" ctl import --account sales "$TEST_TMP/auto.mbox"
is "$(sql "SELECT count(*) FROM conversation_messages WHERE is_automated")" 3 \
    "all three are marked automated"
is "$(leads_of dan@d.example)" 0 "an out-of-office sender is no lead"
is "$(leads_of no-reply@shop.example)" 0 "a no-reply sender is no lead"
is "$(sql "SELECT count(*) FROM leads")" 1 "no lead was created"
for id in la-1@d.example la-2@shop.example la-3@c.example; do
	is "$(conv_of $id "coalesce(c.lead_id::text, '-')")" - \
	    "$id: its conversation has no lead"
	isnt "$(conv_of $id c.status)" needs_reply \
	    "$id: its conversation does not need a reply"
	is "$(suggestions_for $id)" 0 "$id: no reply suggestion queued"
done

# Then the people write ----------------------------------------------------------

# Dan follows up in the conversation of his auto-reply; Cara writes
# anew (her address in other case); the shop sends another receipt.
mail_write "$TEST_TMP/h1" "Dan <dan@d.example>" $USER \
    "Re: Chairs" "Tue, 07 Nov 2023 09:00:00 +0000" la-4@d.example \
    "In-Reply-To: <la-1@d.example>" -- \
    "Back now. Six chairs, please."
mail_write "$TEST_TMP/h2" "Cara <CARA@c.example>" $USER \
    "Tables for the fair" "Tue, 07 Nov 2023 10:00:00 +0000" la-5@c.example -- \
    "Could you quote two tables?"
mail_write "$TEST_TMP/a4" "Shop <no-reply@shop.example>" $USER \
    "Your receipt" "Tue, 07 Nov 2023 11:00:00 +0000" la-6@shop.example -- \
    "Thank you for your order."
mbox "$TEST_TMP/human.mbox" "$TEST_TMP/h1" "$TEST_TMP/h2" "$TEST_TMP/a4"

ok "import of human mail" ctl import --account sales "$TEST_TMP/human.mbox"
is "$(leads_of dan@d.example)" 1 "Dan's first human message makes him a lead"
is "$(conv_of la-4@d.example c.id)" \
    "$(conv_of la-1@d.example c.id)" \
    "his message joins the conversation of his auto-reply"
is "$(conv_of la-1@d.example "coalesce(c.lead_id::text, '-')")" \
    "$(sql "SELECT id FROM leads WHERE email = 'dan@d.example'")" \
    "that conversation now has his lead"
is "$(conv_of la-1@d.example c.status)" needs_reply \
    "and needs a reply"
is "$(suggestions_for la-4@d.example)" 1 "a suggestion is queued for it"
is "$(leads_of cara@c.example)" 1 "Cara keeps her one lead"
is "$(conv_of la-5@c.example "coalesce(c.lead_id::text, '-')")" \
    "$(sql "SELECT id FROM leads WHERE email = 'Cara@c.example'")" \
    "her new conversation has her existing lead"
is "$(conv_of la-3@c.example "coalesce(c.lead_id::text, '-')")" - \
    "her auto-reply's conversation still has none"
is "$(sql "SELECT id || '|' || email || '|' || name || '|' || created_at
    FROM leads WHERE email = 'Cara@c.example'")" "$before" \
    "the existing lead row is unchanged"
is "$(leads_of no-reply@shop.example)" 0 "the no-reply sender is still no lead"
is "$(sql "SELECT count(*) FROM leads")" 2 "one lead was created in all"

done_testing
