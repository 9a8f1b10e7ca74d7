#!/bin/bash
# Gmail under trouble, against t/gmail/standin.py: history that has
# expired (404) while mail kept arriving is caught up by date, every
# message stored exactly once; access revoked mid-sync (401) costs one
# token refresh; 500s are retried; a 429 storm is waited out as
# Retry-After says, and nothing is lost; the quota is kept (no 429 when
# quota_units matches the server), and exceeding it is survived; other
# errors fail the pass clearly and keep the cursor, as does a listing
# whose nextPageToken never ends.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/gmail/lib.sh"

pg_start || bail_out "PostgreSQL did not start"

M=$GMAIL_MAILDIR
gmail_questions 10
for i in 1 2; do
	mail_write "$M/SENT/r$i.eml" "Me <me@example.com>" "s0$i@customer.example" \
	    "Re: Question 0$i" "Mon, 06 Nov 2023 10:0$i:00 +0000" \
	    "r$i@example.com" \
	    "In-Reply-To: <q0$i@customer.example>"
done

standin_start || bail_out "the stand-in did not start"
gmail_config "$GMAIL_CFG"

count_msgs()
{
	sql "SELECT count(*) FROM conversation_messages"
}

doubles()
{
	sql "SELECT count(*) FROM (SELECT rfc_message_id FROM conversation_messages
	    GROUP BY rfc_message_id HAVING count(*) > 1) d"
}

cursor()
{
	sql "SELECT coalesce(history_id, '-') FROM sync_state WHERE mailbox = 'gmail'"
}

N=0
# add_mail COUNT [DATE]: new inbound mail, arriving now.
add_mail()
{
	local i
	for ((i = 0; i < $1; i++)); do
		N=$((N + 1))
		mail_write "$TEST_TMP/n$N.eml" "New $N <n$N@later.example>" me@example.com \
		    "New $N" "${2:-$(date -R)}" "n$N@later.example"
		standin_add "$TEST_TMP/n$N.eml" INBOX >/dev/null ||
		    bail_out "cannot add mail"
	done
}

ok "first sync exits 0" inboxd_once "$GMAIL_CFG"
is "$(count_msgs)" 12 "12 messages"

# History expired while away -------------------------------------------------------

add_mail 2
# Delivered late: its Date is older than the newest mail stored, but
# Gmail received it now.
add_mail 1 "Mon, 06 Nov 2023 08:00:00 +0000"
standin_admin POST expire-history >/dev/null
add_mail 1
gets_before=$(standin_by_kind get)
ok "pass with expired history exits 0" inboxd_once "$GMAIL_CFG"
is "$(standin_by_status 404)" 1 "history.list answered 404 once"
like "$(cat "$INBOXD_OUT")" "account=g: history since [0-9]+ is no longer available" \
    "the expiry is logged, naming the account"
like "$(cat "$INBOXD_OUT")" "account=g: catching up on mail since 2023-11-05 10:02:00 UTC" \
    "the catch-up starts a day before the newest stored message"
is "$(count_msgs)" 16 "the four messages that came meanwhile are stored"
is "$(doubles)" 0 "every message exactly once"
is "$(($(standin_by_kind get) - gets_before))" 4 \
    "only the new ones are fetched; relisted ones are known"
is "$(cursor)" "$(standin_stat 'd["historyId"]')" "the cursor is current again"
add_mail 1
ok "the next pass exits 0" inboxd_once "$GMAIL_CFG"
is "$(standin_by_status 404)" 1 "... reading history again, without a 404"
is "$(count_msgs)" 17 "... and finds the new message"

# Access revoked mid-sync ------------------------------------------------------------

add_mail 12
tokens_before=$(standin_by_kind token)
standin_admin POST faults '{"revoke_after": 4}' >/dev/null
ok "pass with access revoked mid-sync exits 0" inboxd_once "$GMAIL_CFG"
isnt "$(standin_by_status 401)" 0 "the stand-in refused the old token"
is "$(($(standin_by_kind token) - tokens_before))" 2 \
    "two tokens: the pass's first, and one refresh for every refused request"
is "$(count_msgs)" 29 "every message stored"
is "$(doubles)" 0 "none twice"

add_mail 4
# After history.list, while messages are fetched concurrently.
standin_admin POST faults '{"after": 1, "fail_401": 2}' >/dev/null
ok "pass with two 401s exits 0" inboxd_once "$GMAIL_CFG"
is "$(count_msgs)" 33 "every message stored"

# 500s ----------------------------------------------------------------------------

add_mail 5
standin_admin POST faults '{"after": 1, "fail_500": 4}' >/dev/null
ok "pass with four 500s exits 0" inboxd_once "$GMAIL_CFG"
is "$(standin_by_status 500)" 4 "four 500s answered"
is "$(count_msgs)" 38 "every message stored"
like "$(cat "$INBOXD_OUT")" "account=g: messages.get: HTTP 500: Internal error encountered. \(reason backendError\); again in" \
    "the retry is logged with Google's message"

# A 429 storm with Retry-After ---------------------------------------------------------

add_mail 15
standin_admin POST faults '{"after": 1, "fail_429": 12, "retry_after": 2}' >/dev/null
start=$(now_ms)
ok "pass through a 429 storm exits 0" inboxd_once "$GMAIL_CFG"
took=$(($(now_ms) - start))
is "$(standin_by_status 429)" 12 "twelve 429s answered"
is "$(count_msgs)" 53 "no mail lost"
is "$(doubles)" 0 "none twice"
# Requests answered just after the first 429 (within 0.5 s) were already on their
# way; after that, nothing until Retry-After has passed.
is "$(standin_log_py 't0 = [e["t"] for e in log if e["status"] == 429][0]
print(len([e for e in log if e["kind"] != "token" and t0 + 0.5 < e["t"] < t0 + 1.8]))')" \
    0 "no request between the first 429 and Retry-After (2 s)"
ok "the pass took at least two Retry-After periods (${took} ms)" \
    test "$took" -ge 3500
like "$(cat "$INBOXD_OUT")" "account=g: messages.get rate-limited \(HTTP 429\); pausing 2000 ms" \
    "the pause is logged"

# 403 rate limit, and the quota -------------------------------------------------------

add_mail 3
standin_admin POST faults '{"after": 1, "fail_403_rate": 2}' >/dev/null
ok "pass through 403 userRateLimitExceeded exits 0" inboxd_once "$GMAIL_CFG"
is "$(count_msgs)" 56 "every message stored"

standin_admin POST reset >/dev/null
standin_admin POST faults '{"quota": 50}' >/dev/null
gmail_config "$GMAIL_CFG" "quota_units = 50"
add_mail 20
start=$(now_ms)
ok "pass under an enforced quota of 50 units/s exits 0" inboxd_once "$GMAIL_CFG"
took=$(($(now_ms) - start))
is "$(standin_by_status 429)" 0 "quota_units = 50 keeps inside it: no 429"
is "$(count_msgs)" 76 "every message stored"
ok "100 units at 50/s take over a second (${took} ms)" \
    test "$took" -ge 1200

standin_admin POST reset >/dev/null
gmail_config "$GMAIL_CFG" "quota_units = 1000"
add_mail 30
ok "pass claiming more quota than the server gives exits 0" inboxd_once "$GMAIL_CFG"
isnt "$(standin_by_status 429)" 0 "the server answered 429 rateLimitExceeded"
is "$(count_msgs)" 106 "every message stored anyway"
is "$(doubles)" 0 "none twice"

# SIGTERM in the middle of a slow pass -------------------------------------------------

standin_admin POST reset >/dev/null
standin_admin POST faults '{"quota": 50}' >/dev/null
gmail_config "$GMAIL_CFG" "quota_units = 50" "batch_size = 10"
add_mail 40
before=$(count_msgs)
inboxd_start --config "$GMAIL_CFG" --foreground
more_than()
{
	[ "$(count_msgs)" -gt "$1" ]
}
wait_for 20 more_than "$before" || :
inboxd_stop
is "$?" 0 "SIGTERM during a pass: the daemon exits 0"
mid=$(count_msgs)
ok "it stopped part way ($((mid - before)) of 40 stored)" \
    test "$mid" -gt "$before" -a "$mid" -lt $((before + 40))
ok "the pass after the restart exits 0" inboxd_once "$GMAIL_CFG"
is "$(count_msgs)" $((before + 40)) "every message stored"
is "$(doubles)" 0 "none twice"
is "$(standin_log_py 'import collections
c = collections.Counter(e["path"] for e in log if e["kind"] == "get")
print(sum(1 for n in c.values() if n > 1))')" 0 \
    "no message fetched twice: requests in flight were stored before exiting"
standin_admin POST faults '{"quota": 0}' >/dev/null
gmail_config "$GMAIL_CFG"

# Other errors fail the pass, clearly ----------------------------------------------------

add_mail 1
before=$(count_msgs)
cursor_before=$(cursor)
standin_admin POST faults '{"fail_403": 1}' >/dev/null
inboxd_run 403 --config "$GMAIL_CFG" --once
is "$INBOXD_RC" 1 "a 403 (insufficientPermissions) fails the pass: exit 1"
like "$(cat "$INBOXD_OUT")" \
    "account=g: sync failed: history.list: HTTP 403: Request had insufficient authentication scopes. \(reason insufficientPermissions\)" \
    "the error names the account, the method, the status and Google's message"
is "$(cursor)" "$cursor_before" "the cursor is kept"
is "$(count_msgs)" "$before" "nothing stored"
ok "the next pass exits 0" inboxd_once "$GMAIL_CFG"
is "$(count_msgs)" $((before + 1)) "and stores the message"

# Listings that never end ------------------------------------------------------------

add_mail 1
before=$(count_msgs)
cursor_before=$(cursor)
standin_admin POST faults '{"endless_pages": 2}' >/dev/null
inboxd_run same-token --config "$GMAIL_CFG" --once
is "$INBOXD_RC" 1 "history.list answering the same nextPageToken again: exit 1"
like "$(cat "$INBOXD_OUT")" \
    "account=g: sync failed: history.list: the server answered the same nextPageToken twice" \
    "the error says so"
is "$(cursor)" "$cursor_before" "the cursor is kept"
is "$(count_msgs)" "$before" "nothing stored"

standin_admin POST faults '{"endless_pages": 1}' >/dev/null
GMAIL_ACCOUNT=e gmail_config "$GMAIL_CFG"
lists_before=$(standin_by_kind list)
inboxd_run endless --config "$GMAIL_CFG" --once
is "$INBOXD_RC" 1 "a first sync whose messages.list pages never end: exit 1"
like "$(cat "$INBOXD_OUT")" \
    "account=e: sync failed: messages.list: still a nextPageToken after 10 pages; giving up the pass" \
    "the error says so: the profile's messagesTotal fits in one page, plus 10 of slack"
is "$(($(standin_by_kind list) - lists_before))" 10 "ten pages asked for, no more"
standin_admin POST faults '{"endless_pages": 0}' >/dev/null
ok "with honest pages the first sync exits 0" inboxd_once "$GMAIL_CFG"
GMAIL_ACCOUNT=g gmail_config "$GMAIL_CFG"
ok "the first account's pass exits 0 again" inboxd_once "$GMAIL_CFG"
rows_of()
{
	sql "SELECT count(*) FROM conversation_messages m
	    JOIN mail_accounts a ON a.id = m.account_id WHERE a.name = '$1'"
}
is "$(rows_of g)" $((before + 1)) "the first account stores the new message"
is "$(rows_of e)" "$(rows_of g)" "the second account stores every message too"

done_testing
