#!/bin/bash
# inboxctl import: an mbox file and a Maildir backfill an account
# through the same pipeline as synced mail. A message the account holds
# already is not stored twice, so an import can be run again; a bad
# path or account is a clear error. The import runs beside a daemon
# syncing the same account: a message both store is stored once, the
# daemon keeps its hold and its cursors; a second import of the account
# is refused. The import shows its progress on stderr and in sync_state.

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
    "the import does not write held_by"
is "$(sql "SELECT backlog_done || ' ' || coalesce(backlog_total::text, '-') || ' ' ||
    backlog_bytes || ' ' || backlog_bytes_total FROM sync_state WHERE mailbox = 'import'")" \
    "3 - $(stat -c %s "$TEST_TMP/old.mbox") $(stat -c %s "$TEST_TMP/old.mbox")" \
    "the import's progress: 3 messages read, the whole file"

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

is "$(sql "SELECT backlog_done || ' of ' || backlog_total FROM sync_state
    WHERE mailbox = 'import'")" "2 of 2" \
    "a Maildir's progress: files read of those listed"

# On a terminal the progress line is rewritten in place: it starts with
# a carriage return.
"$PYTHON3" - "$top_builddir/inboxctl" --config "$CFG" import --account sales \
    "$TEST_TMP/md" >"$TEST_TMP/tty.out" <<'PY'
import os, subprocess, sys

master, slave = os.openpty()
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=slave,
                     stderr=slave)
os.close(slave)
out = b""
while True:
    try:
        chunk = os.read(master, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
sys.stdout.buffer.write(out)
sys.exit(p.wait())
PY
is "$?" 0 "an import with stderr on a terminal"
like "$(cat "$TEST_TMP/tty.out")" $'\rimport into sales: 2 of 2 messages, ' \
    "there the progress line starts with a carriage return"

# Another import of the account runs ------------------------------------------------

# A session that holds the import lock under an import's name, as a
# running import does.
ID=$(sql "SELECT id FROM mail_accounts WHERE name = 'sales'")
ops_txn_start "SET application_name = 'inboxctl-import:4242';
    SELECT pg_advisory_lock(1768843877, $ID)"
rc=0; err=$(ctl import --account sales "$TEST_TMP/md" 2>&1) || rc=$?
is "$rc" 1 "an import while another import of the account runs: exit status 1"
like "$err" "an import into sales is running already \(pid 4242\)" \
    "and the error says so, with the other's pid"
ok "the other import's session ends" ops_txn_commit
ok "once it has ended, an import runs" ctl import --account sales "$TEST_TMP/md"

# The account's write lock: a transaction that writes the account's
# mail waits for the one that holds it to end.
mkdir -p "$TEST_TMP/md2/cur" "$TEST_TMP/md2/new"
mail_write "$TEST_TMP/md2/new/1700000002.3.host" "Cy <cy@c.example>" $USER \
    "Stools" "Wed, 08 Nov 2023 09:00:00 +0000" im-5@c.example
ops_txn_start "SELECT pg_advisory_xact_lock(1768843878, $ID)"
ctl import --account sales "$TEST_TMP/md2" 2>/dev/null &
IMPORT_PID=$!
sleep 2
ok "while a transaction holds the account's write lock, the import waits" \
    kill -0 "$IMPORT_PID"
is "$(sql "SELECT count(*) FROM conversation_messages
    WHERE rfc_message_id = 'im-5@c.example'")" 0 "and has stored nothing"
ok "the transaction ends" ops_txn_commit
rc=0; wait "$IMPORT_PID" || rc=$?
is "$rc" 0 "then the import goes on"
is "$(sql "SELECT count(*) FROM conversation_messages
    WHERE rfc_message_id = 'im-5@c.example'")" 1 "and stores its message"

# A deadlock: a session locks the conversation an imported reply joins,
# then waits for the account's write lock, which the import's
# transaction holds while it waits for that conversation. The import,
# which waited first, finds the deadlock and loses; it stores the batch
# again once the session has ended.
mkdir -p "$TEST_TMP/md3/cur" "$TEST_TMP/md3/new"
mail_write "$TEST_TMP/md3/new/1700000003.4.host" "Ann <ann@a.example>" $USER \
    "Re: Chairs" "Thu, 09 Nov 2023 09:00:00 +0000" im-6@a.example \
    "In-Reply-To: <im-1@a.example>"
CONV=$(sql "SELECT conversation_id FROM conversation_messages
    WHERE rfc_message_id = 'im-1@a.example'")
rm -f "$TEST_TMP/dl.ready" "$TEST_TMP/dl.go"
"$PYTHON3" - "$INBOXD_TEST_CONNINFO" "$CONV" "$ID" "$TEST_TMP/dl" \
    2>"$TEST_TMP/dl.err" <<'PY' &
import os, sys, time
import psycopg

conninfo, conv, account, base = sys.argv[1:5]
with psycopg.connect(conninfo) as conn:
    conn.execute("SELECT 1 FROM conversations WHERE id = %s FOR UPDATE",
                 (conv,))
    open(base + ".ready", "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(base + ".go") and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        conn.execute("SELECT pg_advisory_xact_lock(1768843878, %s)",
                     (int(account),))
        result = "locked"
        conn.commit()
    except psycopg.errors.DeadlockDetected:
        result = "deadlock"
        conn.rollback()
    with open(base + ".out", "w") as f:
        f.write(result)
PY
DL_PID=$!
_harness_pids="$_harness_pids $DL_PID"
wait_for 10 test -e "$TEST_TMP/dl.ready" || bail_out "the locking session did not start"
ctl import --account sales "$TEST_TMP/md3" 2>"$TEST_TMP/md3.err" &
IMPORT_PID=$!
ok "the import waits for the conversation the session locked" \
    ops_wait_sql "SELECT count(*) FROM pg_stat_activity
        WHERE application_name LIKE 'inboxctl-import:%'
        AND wait_event_type = 'Lock'" 1 20
touch "$TEST_TMP/dl.go"
wait "$DL_PID" || diag "$(cat "$TEST_TMP/dl.err")"
is "$(cat "$TEST_TMP/dl.out")" locked \
    "the session gets the write lock: the import lost the deadlock"
rc=0; wait "$IMPORT_PID" || rc=$?
is "$rc" 0 "the import succeeds all the same"
like "$(cat "$TEST_TMP/md3.err")" "lost a deadlock .*storing it again" \
    "having stored its batch again"
is "$(sql "SELECT count(*) FROM conversation_messages m
    WHERE m.rfc_message_id = 'im-6@a.example' AND m.conversation_id = '$CONV'")" 1 \
    "the reply is stored once, in its conversation"

# Beside the daemon ----------------------------------------------------------------

# 5,000 small messages (11 MB), each a conversation of its own; the
# first and the last ten are also delivered to INBOX while the import
# runs, with the same Message-ID and content: the last ten first, so
# that the daemon stores them before the import reaches them, then the
# first ten, which the import has stored already.
"$PYTHON3" - "$TEST_TMP" $USER <<'PY'
import sys
tmp, user = sys.argv[1:3]
def message(k):
    return (f"From: Client {k} <c{k}@bulk.example>\n"
            f"To: {user}\n"
            f"Subject: Order {k} of the backfill\n"
            f"Date: Tue, 07 Nov 2023 12:00:00 +0000\n"
            f"Message-ID: <bulk-{k}@bulk.example>\n"
            "MIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\n"
            "\n"
            f"Hello, order {k}: forty chairs in oak.\n"
            + "Our terms and the delivery dates, as agreed. " * 40 + "\n")
with open(f"{tmp}/big.mbox", "w") as f:
    for k in range(1, 5001):
        f.write("From someone@example.com Tue Nov  7 12:00:00 2023\n")
        f.write(message(k) + "\n")
for k in list(range(1, 11)) + list(range(4991, 5001)):
    with open(f"{tmp}/shared-{k}.eml", "w") as f:
        f.write(message(k))
PY

inboxd_start --config "$CFG" --foreground
ok "the daemon holds the account" \
    ops_wait_sql "SELECT count(*) FROM mail_accounts
        WHERE held_by IS NOT NULL" 1 20
ok "the daemon has synced INBOX" \
    ops_wait_sql "SELECT count(*) FROM sync_state WHERE mailbox = 'INBOX'" 1 20
HOLDER=$(sql "SELECT held_by FROM mail_accounts WHERE name = 'sales'")
UIDVALIDITY=$(imap_uidvalidity $USER secret INBOX)

# The progress table's import row, while an mbox import runs: its
# messages done, no message total, the file's MB.
status_shows_import()
{
	local head='account +mailbox +done +total +pct +mb +mb_total +per_s'
	local row='sales +import +[0-9]+ +- +[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9]+'
	local re="$head +mb_per_s +eta +state.*$row +[0-9.]+ +[0-9smhd]+ +running"
	[[ "$(ctl status)" =~ $re ]]
}

ctl import --account sales "$TEST_TMP/big.mbox" 2>"$TEST_TMP/big.err" &
IMPORT_PID=$!
ok "the import takes its lock beside the daemon's hold" \
    ops_wait_sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
        AND classid = 1768843877 AND objid = $ID AND granted" 1 20
rc=0; err=$(ctl import --account sales "$TEST_TMP/md" 2>&1) || rc=$?
is "$rc" 1 "a second import while the first runs: exit status 1"
like "$err" "an import into sales is running already \(pid [0-9]+\)" \
    "and the error names the running one's pid"
ok "status shows the running import's progress" \
    wait_for 20 status_shows_import

for k in 4991 4992 4993 4994 4995 4996 4997 4998 4999 5000 1 2 3 4 5 6 7 8 9 10; do
	mail_append $USER secret INBOX "$TEST_TMP/shared-$k.eml"
done
mail_deliver $USER secret 5 live

rc=0; wait "$IMPORT_PID" || rc=$?
is "$rc" 0 "the import beside the daemon succeeds"
ok "the daemon has stored what was delivered" \
    ops_wait_sql "SELECT last_uid FROM sync_state WHERE mailbox = 'INBOX'
        AND uidvalidity = $UIDVALIDITY" 25 30
ok "and a copy of each in INBOX" \
    ops_wait_sql "SELECT count(*) FROM message_locations
        WHERE mailbox = 'INBOX' AND uidvalidity = $UIDVALIDITY" 25 30

is "$(sql "SELECT count(*) FROM conversation_messages
    WHERE rfc_message_id LIKE 'bulk-%' OR rfc_message_id LIKE 'live-%'")" 5005 \
    "5,000 imported and 5 delivered messages, the 20 in both once"
is "$(sql "SELECT count(*) FROM (SELECT rfc_message_id FROM conversation_messages
    GROUP BY rfc_message_id HAVING count(*) > 1) d")" 0 \
    "no Message-ID stored twice"
is "$(sql "SELECT count(*) FROM conversations WHERE subject LIKE 'Order % of the backfill'")" 5000 \
    "one conversation per imported message, none doubled"
is "$(sql "SELECT count(*) FROM conversations c WHERE NOT EXISTS
    (SELECT 1 FROM conversation_messages m WHERE m.conversation_id = c.id)")" 0 \
    "no conversation left without messages"
is "$(sql "SELECT count(*) FROM message_locations l
    JOIN conversation_messages m ON m.id = l.message_id
    WHERE l.mailbox = 'INBOX' AND m.rfc_message_id LIKE 'bulk-%'")" 20 \
    "each message in both has its INBOX copy"
is "$(sql "SELECT uidvalidity || ' ' || last_uid || ' ' ||
    (backlog_total <= 25 AND backlog_done = backlog_total
     AND backlog_bytes > 0 AND backlog_bytes_total IS NULL)
    FROM sync_state WHERE mailbox = 'INBOX'")" "$UIDVALIDITY 25 true" \
    "the daemon's INBOX cursor and progress are its own: its last run done"
is "$(sql "SELECT held_by FROM mail_accounts WHERE name = 'sales'")" "$HOLDER" \
    "the daemon kept its hold"
is "$(sql "SELECT backlog_done || ' ' || backlog_bytes || ' ' || backlog_bytes_total
    FROM sync_state WHERE mailbox = 'import'")" \
    "5000 $(stat -c %s "$TEST_TMP/big.mbox") $(stat -c %s "$TEST_TMP/big.mbox")" \
    "sync_state's import row: 5,000 messages read, the whole file"
like "$(tail -n 1 "$TEST_TMP/big.err")" \
    "^import into sales: 5,000 messages, 10\.[0-9] MB of 10\.[0-9] MB \(100 %\), [0-9,]+ messages/s, [0-9.]+ [kM]B/s$" \
    "the last line on stderr: messages, MB of the file's, share, rates"
like "$(grep '^import into sales: ' "$TEST_TMP/big.err" | head -n 1)" \
    "^import into sales: [0-9,]+ messages, [0-9.]+ MB of 10\.[0-9] MB \([0-9]+ %\), [0-9,]+ messages/s, [0-9.]+ [kM]B/s, ETA [0-9]+ (s|min [0-9]+ s)$" \
    "a line every 2 s as it goes, with the time left"
is "$(grep -c $'\r' "$TEST_TMP/big.err")" 0 \
    "stderr not a terminal: one line each time, none rewritten"
is "$(grep -c '^import into sales: ' "$TEST_TMP/big.err")" \
    "$(($(wc -l <"$TEST_TMP/big.err") - $(grep -c ': info: ' "$TEST_TMP/big.err")))" \
    "every other line is the progress line"
like "$(grep -o '[0-9]* already known' "$TEST_TMP/big.err" | grep -v '^0 ')" \
    "[0-9]+ already known" \
    "the daemon stored some shared messages before the import reached them"
like "$(grep -o '[0-9]* already known' "$INBOXD_LOG" | grep -v '^0 ')" \
    "[0-9]+ already known" \
    "and the import stored others before the daemon"
ops_txn_start "SELECT pg_advisory_xact_lock(1768843878, $ID)"
mail_deliver $USER secret 1 locked
sleep 2
is "$(sql "SELECT count(*) FROM conversation_messages
    WHERE rfc_message_id LIKE 'locked-%'")" 0 \
    "the daemon's batches wait for the account's write lock too"
ok "the transaction ends" ops_txn_commit
ok "then the daemon stores the message" \
    ops_wait_sql "SELECT count(*) FROM conversation_messages
        WHERE rfc_message_id LIKE 'locked-%'" 1 20

is "$(grep -v 'tls = none' "$INBOXD_LOG" | grep -ciE 'error|warn|not stored|rolled back')" 0 \
    "the daemon logged no error"
rc=0; inboxd_stop || rc=$?
is "$rc" 0 "the daemon stops"

done_testing
