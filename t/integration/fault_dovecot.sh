#!/bin/bash
# Two accounts on two Dovecot servers. The server of "support" stops in
# the middle of its initial sync, and more mail lands in its Maildir
# while it is down: "sales" goes on ingesting, "support" fails, says so,
# and retries with a growing delay; when its server is back it recovers
# and finishes. Both end with every message stored exactly once.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/faults.sh"

SALES_N=800
SUPPORT_N=1500
LATE_N=20

fault_seed
start_servers
dovecot2_start support@example.com:secret || bail_out "second Dovecot did not start"
note "sales on 127.0.0.1:$IMAP_PORT, support on 127.0.0.1:$IMAP2_PORT"

gen_mail "$TEST_TMP/gen-sales" "$SALES_N" "$FAULT_SEED" sales || bail_out "gen_mail failed"
gen_mail "$TEST_TMP/gen-support" "$SUPPORT_N" "$((FAULT_SEED + 1))" support ||
    bail_out "gen_mail failed"
maildir_deliver sales@example.com INBOX "$TEST_TMP/gen-sales" ||
    bail_out "delivery failed"
maildir2_deliver support@example.com INBOX "$TEST_TMP/gen-support" ||
    bail_out "delivery failed"
is "$(imap_count sales@example.com secret INBOX)" "$SALES_N" "sales: $SALES_N messages"
is "$(imap2_py count support@example.com secret INBOX)" "$SUPPORT_N" \
    "support: $SUPPORT_N messages"

# A longer poll interval for support, so that its retry delays can grow
# (the backoff is capped by the poll interval).
CFG=$TEST_TMP/inboxd.conf
inboxd_config "$CFG" "batch_size = 25" "poll_interval = 2s"
config_imap support support@example.com secret "port = $IMAP2_PORT" \
    "batch_size = 25" "poll_interval = 20s" >>"$CFG"
inboxd_start --config "$CFG"
PID=$INBOXD_PID

rand_between 25 150
stop_at=$REPLY
ok "support stores $stop_at rows" wait_rows support "$stop_at" 60
dovecot2_stop
t_stop=$(now_ms)
note "support's Dovecot stopped at $(acct_rows support) support rows, $(acct_rows sales) sales rows"

# A batch fetched just before the stop may still commit; after that,
# support stands still.
sleep 1
support_down=$(acct_rows support)
sales_down=$(acct_rows sales)
if [ "$support_down" -ge "$SUPPORT_N" ]; then
	diag "support had finished its initial sync before the stop"
fi
# Mail keeps arriving at the stopped server's Maildir.
gen_mail "$TEST_TMP/gen-late" "$LATE_N" "$((FAULT_SEED + 2))" late ||
    bail_out "gen_mail failed"
maildir2_deliver support@example.com INBOX "$TEST_TMP/gen-late" ||
    bail_out "delivery failed"
SUPPORT_N=$((SUPPORT_N + LATE_N))

# Sales keeps going while support is failing: its initial sync goes on,
# and new mail is picked up.
mail_write "$TEST_TMP/new.eml" "Nora <nora@new.example>" sales@example.com \
    "Arrived during the outage" "Wed, 15 Nov 2023 10:00:00 +0000" \
    during-outage@new.example -- \
    "This one arrives while the other server is down."
mail_append sales@example.com secret INBOX "$TEST_TMP/new.eml"
ok "sales completes its sync while support is down" \
    wait_rows sales $((SALES_N + 1)) 60
if [ "$sales_down" -ge "$SALES_N" ]; then
	diag "sales had finished its initial sync before the stop ($sales_down rows)"
fi
is "$(acct_rows support)" "$support_down" "support stored nothing while down"

# Three failed passes show the backoff.
_support_failed_3()
{
	[ "$(log_count "$INBOXD_LOG" 'account=support: retrying in')" -ge 3 ]
}
ok "support retried at least 3 times" wait_for 40 _support_failed_3
ok "the daemon is running" alive "$PID"
like "$(grep 'account=support: sync failed' "$INBOXD_LOG" | head -n 1)" \
    'account=support: sync failed: .+' "the log names support's failure"
is "$(log_count "$INBOXD_LOG" 'account=sales: sync failed')" 0 \
    "sales did not fail"
delays=$(sed -n 's/.*account=support: retrying in \([0-9]*\) ms.*/\1/p' \
    "$INBOXD_LOG" | tr '\n' ' ')
note "support's retry delays (ms): $delays"
set -- $delays
ok "the delay grows: third retry ($3 ms) later than the first ($1 ms)" \
    test "$3" -gt "$1"
like "$(sql "SELECT coalesce(s.last_error, '') FROM sync_state s JOIN mail_accounts a
    ON a.id = s.account_id WHERE a.name = 'support' AND s.mailbox = 'INBOX'")" \
    '.+' "sync_state records support's last error"

ok "support's Dovecot starts again" dovecot2_relaunch
note "support's server was down for $(( $(now_ms) - t_stop )) ms"
ok "support finishes after its server returns" wait_rows support "$SUPPORT_N" 60
wait_for 10 test "$(acct_cursor support)" = "$SUPPORT_N" || :
_support_works()
{
	grep -q 'account=support: sync works again' "$INBOXD_LOG"
}
ok "the log says support's sync works again" wait_for 20 _support_works
ok "the daemon never exited" alive "$PID"
inboxd_stop "$PID"
is "$?" 0 "SIGTERM: exit status 0"

assert_exactly_once sales INBOX $((SALES_N + 1))
assert_exactly_once support INBOX "$SUPPORT_N"
assert_conversations support $(($(cat "$TEST_TMP/gen-support/threads") +
    $(cat "$TEST_TMP/gen-late/threads")))
is "$(sql "SELECT count(*) FROM conversation_messages m JOIN mail_accounts a
    ON a.id = m.account_id WHERE a.name = 'sales' AND rfc_message_id LIKE 'support-%'")" 0 \
    "no support mail under sales"

done_testing
