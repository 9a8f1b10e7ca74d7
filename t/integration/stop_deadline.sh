#!/bin/bash
# A stop does not wait for a long queue: 2 s after SIGTERM the batches
# still waiting for the database are let go, their cursors unmoved. The
# daemon exits 0 without calling any account failed, the database
# holds whole batches with cursors that cover exactly them, and the
# next start stores the rest, nothing twice.
#
# Many accounts of one message per batch, and a trigger that makes every
# cursor write take 0.3 s: the store falls far behind the fetches, as a
# daemon of thousands of accounts does in its first syncs.

INBOXD_TEST_TIMEOUT=${INBOXD_TEST_TIMEOUT:-180}
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/ops.sh"
. "$top_srcdir/t/lib/faults.sh"

A=12
N=4
TOTAL=$((A * N))

pg_start || bail_out "PostgreSQL did not start"
mkdir -p "$TEST_TMP/mail"
for i in $(seq 1 $N); do
	mail_write "$TEST_TMP/mail/$i.eml" "Pat $i <pat$i@p.example>" \
	    sales@example.com "Hello $i" "Mon, 06 Nov 2023 09:0$i:00 +0000" \
	    "stop-$i@p.example"
done
imap_standin_start "$TEST_TMP/standin.port" "$TEST_TMP/standin.commands" \
    --maildir "$TEST_TMP/mail" ||
    bail_out "the stand-in did not start: $(cat "$TEST_TMP/standin.err")"
CFG=$TEST_TMP/inboxd.conf
{
	config_daemon
	for a in $(seq 1 $A); do
		config_imap "a$a" sales@example.com secret "port = $STANDIN_PORT" \
		    "idle = false" "poll_interval = 300s" "batch_size = 1"
	done
} >"$CFG"

stored_total() { sql "SELECT count(*) FROM conversation_messages"; }
stored_is() { [ "$(stored_total)" = "$1" ]; }
stored_some() { [ "$(stored_total)" -ge 1 ]; }
# Accounts whose cursor is not the highest UID of their stored copies.
cursors_off()
{
	sql "SELECT count(*) FROM mail_accounts a
	    LEFT JOIN sync_state s ON s.account_id = a.id AND s.mailbox = 'INBOX'
	    WHERE coalesce(s.last_uid, 0) <> coalesce((SELECT max(l.uid)
	        FROM message_locations l WHERE l.account_id = a.id), 0)"
}

run_inboxctl --config "$CFG" migrate >/dev/null || bail_out "inboxctl migrate failed"
psql_su "CREATE FUNCTION slow_cursor() RETURNS trigger LANGUAGE plpgsql AS
    \$\$BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END\$\$;
    CREATE TRIGGER slow_cursor BEFORE INSERT OR UPDATE ON sync_state
    FOR EACH ROW EXECUTE FUNCTION slow_cursor();" >/dev/null ||
    bail_out "cannot create the trigger"

# The store needs TOTAL x 0.3 s = 14 s for everything; SIGTERM comes
# once the first rows are in, with most batches still queued.
inboxd_start --config "$CFG"
ok "the first batches are stored" wait_for 60 stored_some
t0=$(now_ms)
rc=0
inboxd_stop || rc=$?
took=$(( $(now_ms) - t0 ))
rows=$(stored_total)
note "SIGTERM: exit $rc after $took ms, $rows of $TOTAL rows stored"
is "$rc" 0 "exit status 0"
# The deadline is 2 s; the transaction in flight then ends (a group of
# at most 32 batches) before the exit. The bound leaves room for a
# loaded machine; the figure is in the note above.
ok "it exits within 15 s, not after the whole queue" test "$took" -lt 15000
ok "the stop did not wait for the whole queue ($rows of $TOTAL rows stored)" \
    test "$rows" -lt "$TOTAL"
like "$(grep 'batches not stored at the stop' "$INBOXD_LOG")" \
    'fetched again at the next start' \
    "the log says how many batches were let go, and that they come again"
is "$(cursors_off)" 0 "every cursor covers exactly the copies stored"
is "$(sql "SELECT count(*) FROM mail_accounts
    WHERE state IN ('failing', 'auth_failed') OR last_error IS NOT NULL")" 0 \
    "no account is called failed for what the stop let go"
is "$(sql "SELECT count(*) FROM sync_state WHERE last_error IS NOT NULL")" 0 \
    "no folder has an error recorded"
is "$(ops_log_count "$INBOXD_LOG" 'sync failed|batch not stored')" 0 \
    "the log calls nothing failed"
sleep 1
is "$(stored_total)" "$rows" "nothing is written after the exit"

# The next start stores the rest, each message once.
psql_su "DROP TRIGGER slow_cursor ON sync_state" >/dev/null
inboxd_start --config "$CFG"
ok "the next start stores the rest" wait_for 90 stored_is "$TOTAL"
is "$(sql "SELECT count(DISTINCT account_id) || ' ' || min(c) || ' ' || max(c)
    FROM (SELECT account_id, count(*) c FROM conversation_messages
          GROUP BY account_id) x")" "$A $N $N" \
    "each account has its $N messages, none twice"
is "$(cursors_off)" 0 "every cursor is at its last message"
rc=0
inboxd_stop || rc=$?
is "$rc" 0 "an idle daemon stops with status 0"
is "$(ops_log_count "$INBOXD_LOG" 'AddressSanitizer|runtime error:|LeakSanitizer')" 0 \
    "no sanitizer report"

done_testing
