#!/bin/bash
# Gmail at the quota, against t/gmail/standin.py enforcing 250 units/s
# per user and answering 2% of requests with a spurious 429
# (Retry-After: 1), as Google does: the first sync of 600 messages
# keeps up the pace (a lone 429 delays only its own request), stores
# every message exactly once and sends no request beyond the quota. Then
# 20 accounts of one OAuth project sync at once under a project quota
# of 500 units/s that the stand-in enforces across them: none goes
# beyond it, and every account gets all its mail.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/gmail/lib.sh"

pg_start || bail_out "PostgreSQL did not start"

# mailbox COUNT: COUNT short inbound messages in $GMAIL_MAILDIR/INBOX.
mailbox()
{
	rm -rf "$GMAIL_MAILDIR/INBOX"
	mkdir -p "$GMAIL_MAILDIR/INBOX"
	"$PYTHON3" - "$GMAIL_MAILDIR/INBOX" "$1" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    day, minute = divmod(i, 1440)
    with open(os.path.join(root, "%04d.eml" % i), "w") as f:
        f.write("From: Customer %d <c%d@customer.example>\n"
                "To: me@example.com\nSubject: Question %d\n"
                "Date: Mon, %02d Oct 2023 %02d:%02d:00 +0000\n"
                "Message-ID: <q%d@customer.example>\n\n"
                "How much for %d seats?\n"
                % (i, i, i, 1 + day, minute // 60, minute % 60, i, i))
EOF
}

# rows [ACCOUNT]: messages stored, of one account or of all.
rows()
{
	sql "SELECT count(*) FROM conversation_messages m
	    JOIN mail_accounts a ON a.id = m.account_id
	    WHERE '${1:-}' = '' OR a.name = '${1:-}'"
}

doubles()
{
	sql "SELECT count(*) FROM (SELECT 1 FROM conversation_messages
	    GROUP BY account_id, rfc_message_id HAVING count(*) > 1) d"
}

# One account, 2% spurious 429s ---------------------------------------------------

mailbox 600
standin_start --quota 250 --spurious-429 0.02 --spurious-retry-after 1 \
    --seed 7 || bail_out "the stand-in did not start"
gmail_config "$GMAIL_CFG" "quota_units = 250"
INBOXD_TEST_TIMEOUT=120 inboxd_once "$GMAIL_CFG"
is "$INBOXD_RC" 0 "first sync of 600 messages with 2% spurious 429s exits 0"
is "$(rows)" 600 "600 messages stored"
is "$(doubles)" 0 "none twice"
is "$(standin_log_py 'import collections
c = collections.Counter(e["path"] for e in log
                        if e["kind"] == "get" and e["status"] == 200)
print(len(c), max(c.values()))')" "600 1" "each fetched once with success"
spurious=$(standin_stat 'd["spurious_429"]')
ok "the stand-in answered spurious 429s ($spurious)" test "$spurious" -ge 5
is "$(standin_stat 'd["over_quota"]')" 0 "no request beyond the quota"
rate=$(standin_log_py 'g = [e["t"] for e in log
     if e["kind"] == "get" and e["status"] == 200]
print(int((len(g) - 1) / (g[-1] - g[0])))')
# 50 messages/s is the quota's ceiling; pausing the whole account for
# each 429 gave 26.
ok "messages.get keeps up at least 40/s with the 429s ($rate/s)" \
    test "$rate" -ge 40
is "$(standin_log_py 'ts = sorted(e["t"] for e in log if e["status"] == 429)
t = ts[len(ts) // 2]
print(sum(1 for e in log if e["kind"] == "get" and e["status"] == 200
          and t + 0.1 < e["t"] < t + 0.9) > 0)')" True \
    "other requests go on in the second after a lone 429"
nok "a lone 429 never pauses the account" grep -q pausing "$INBOXD_OUT"

# A batch does not wait for a retry -------------------------------------------------

standin_stop
mailbox 30
standin_start --quota 250 --project-quota 500 ||
    bail_out "the stand-in did not start"
GMAIL_ACCOUNT=d gmail_config "$GMAIL_CFG" "quota_units = 250" "batch_size = 10"
# The profile, the listing and nine of the first batch's ten requests
# pass; the tenth waits three seconds.
standin_admin POST faults '{"after": 11, "fail_429": 1, "retry_after": 3}' \
    >/dev/null
ok "a pass in batches of 10 with one 429 (Retry-After: 3) exits 0" \
    inboxd_once "$GMAIL_CFG"
is "$(rows d)" 30 "all 30 messages stored"
is "$(doubles)" 0 "none twice"
is "$(standin_by_status 429)" 1 "one 429 answered"
during=$(standin_log_py 't = [e["t"] for e in log if e["status"] == 429][0]
print(sum(1 for e in log if e["kind"] == "get" and e["status"] == 200
          and t < e["t"] < t + 2.5))')
# The first batch's other nine may all be answered by then; the next
# batches hold 21 more.
ok "the next batches are fetched during its Retry-After ($during of 21)" \
    test "$during" -ge 15
like "$(cat "$INBOXD_OUT")" \
    "account=d: 1 messages wait to be tried again; they go with the next batch" \
    "the message waiting goes with the next batch"

# Twenty accounts, one project ------------------------------------------------------

standin_admin POST reset >/dev/null
before=$(rows)
{
	config_daemon
	echo
	echo "[gmail]"
	echo "project_quota = 500"
	for i in $(seq -w 1 20); do
		config_gmail "p$i" "quota_units = 250" \
		    "refresh_token_file = $(config_secret "refresh-p$i" \
		    "standin-refresh+p$i@example.com")"
	done
} >"$GMAIL_CFG"
start=$(now_ms)
INBOXD_TEST_TIMEOUT=120 inboxd_once "$GMAIL_CFG"
is "$INBOXD_RC" 0 "twenty accounts syncing at once exit 0"
took=$(($(now_ms) - start))
is "$(standin_stat 'd["users"]')" 20 "the stand-in saw twenty users"
is "$(rows p01)" 30 "the first account has its 30 messages"
is "$(rows p20)" 30 "... and the last one too"
is "$(sql "SELECT count(DISTINCT account_id) FROM conversation_messages m
    JOIN mail_accounts a ON a.id = m.account_id WHERE a.name LIKE 'p%'")" 20 \
    "every account stored mail"
is "$(($(rows) - before))" 600 "600 more rows in all"
is "$(doubles)" 0 "none twice"
is "$(standin_stat 'd["over_quota"]')" 0 \
    "no request beyond the project quota, nor a user's"
# 600 messages.get at 5 units under 500 units/s take six seconds at
# least, less the project bucket's half second of burst.
ok "the project's quota set the pace (${took} ms)" test "$took" -ge 5000
is "$(standin_log_py 'import collections
first = collections.OrderedDict()
for e in log:
    if e["kind"] == "get":
        first.setdefault(e["user"], e["t"])
ts = sorted(e["t"] for e in log if e["kind"] == "get")
print(max(first.values()) < ts[0] + (ts[-1] - ts[0]) / 2)')" True \
    "the accounts take turns: each has fetched in the first half"

done_testing
