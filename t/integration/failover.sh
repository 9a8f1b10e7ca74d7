#!/bin/bash
# Two daemons (instance_name a and b) on one database and one account:
# exactly one holds the account and ingests, the other stands by; a daemon
# whose account another instance is registering at the same moment uses
# that row. When the
# holder is killed with SIGKILL, the other takes over within a few poll
# intervals and stores the new mail once; an instance that comes back
# stands by; a holder that stops cleanly, or whose configuration no longer
# has the account after a reload, hands the account over too. Nothing is
# stored twice.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/ops.sh"

INBOXD_TEST_TIMEOUT=30
USER=sales@example.com
PASS=secret
POLL=2
# "A few poll intervals": the bound on a take-over after a crash.
TAKEOVER_MAX=$((POLL * 4))

RACE_USER=race@example.com
start_servers "$USER:$PASS" "$RACE_USER:$PASS"

for inst in a b; do
	{
		config_daemon "instance_name = $inst"
		config_imap sales "$USER" "$PASS" "poll_interval = ${POLL}s"
	} >"$TEST_TMP/$inst.conf"
done

# deliver N: N new messages for sales.
deliver()
{
	mail_deliver "$USER" "$PASS" "$1" failover
}

held_by()
{
	sql "SELECT coalesce(held_by, '(null)') FROM mail_accounts WHERE name = 'sales'"
}

# Every stored message, location and job exactly once.
no_duplicates()
{
	local want=$1
	is "$(sql "SELECT count(*) || ' rows, ' || count(DISTINCT rfc_message_id) || ' ids'
	    FROM conversation_messages")" "$want rows, $want ids" \
	    "$want messages, each stored once"
	is "$(sql "SELECT count(*) || ' ' || count(DISTINCT (mailbox, uidvalidity, uid))
	    FROM message_locations")" "$want $want" "one location per UID"
	is "$(sql "SELECT count(*) || ' ' || count(DISTINCT message_id) FROM jobs
	    WHERE kind = 'embed_message'")" "$want $want" "one embed_message job per message"
	is "$(sql "SELECT count(*) FROM events WHERE type = 'message.received'")" \
	    "$want" "one message.received event per message"
}

ingest_lines()
{
	ops_log_count "$1" 'account=sales mailbox=[^ ]*: ([0-9]+ new messages|stored )'
}

# Both start at once ---------------------------------------------------------------

deliver 3
inboxd_start --config "$TEST_TMP/a.conf" --foreground
PID_a=$INBOXD_PID LOG_a=$INBOXD_LOG
inboxd_start --config "$TEST_TMP/b.conf" --foreground
PID_b=$INBOXD_PID LOG_b=$INBOXD_LOG

is "$(ops_wait_sql "SELECT count(*) FROM conversation_messages" 3 20)" 3 \
    "the 3 messages are stored"
# Two daemons that start together on a new database both register the
# account: neither may give it up.
is "$(ops_log_count "$LOG_a" 'cannot register|database: account sales:') $(ops_log_count "$LOG_b" 'cannot register|database: account sales:')" \
    "0 0" "both instances registered the account (no 'cannot register' in a's or b's log)"
holder=$(held_by)
case $holder in
a) other=b ;;
b) other=a ;;
*)
	fail "mail_accounts.held_by names instance a or b"
	diag "  got: '$holder'"
	bail_out "no holder"
	;;
esac
pass "mail_accounts.held_by names instance $holder"
if [ "$holder" = a ]; then
	PID_H=$PID_a LOG_H=$LOG_a PID_O=$PID_b LOG_O=$LOG_b
else
	PID_H=$PID_b LOG_H=$LOG_b PID_O=$PID_a LOG_O=$LOG_a
fi

ok "instance $other logs that it stands by" \
    ops_wait_log "$LOG_O" 'account=sales: held by another instance; standing by' \
    $((POLL * 3))
is "$(ops_log_count "$LOG_H" 'standing by')" 0 "instance $holder does not stand by"
sleep $((POLL + 1))
is "$(held_by)" "$holder" "held_by still names $holder after a poll interval"
ok "instance $holder logged the ingestion" test "$(ingest_lines "$LOG_H")" -ge 1
is "$(ingest_lines "$LOG_O")" 0 "instance $other ingested nothing"
no_duplicates 3

# Another instance registers an account at the same moment ------------------------
# The row another instance is inserting, not yet committed: the daemon's
# own registration has to wait for it, then use it.

ops_txn_start "INSERT INTO mail_accounts (name, type) VALUES ('race', 'imap')"
{
	config_daemon "instance_name = c"
	config_imap race "$RACE_USER" "$PASS" "poll_interval = ${POLL}s"
} >"$TEST_TMP/c.conf"
inboxd_start --config "$TEST_TMP/c.conf" --foreground
PID_c=$INBOXD_PID LOG_c=$INBOXD_LOG
lock_waiters()
{
	[ "$(sql "SELECT count(*) FROM pg_stat_activity
	    WHERE wait_event_type = 'Lock' AND query LIKE '%mail_accounts%'")" -ge 1 ]
}
ok "instance c's registration of account race waits for the other insert" \
    wait_for 10 lock_waiters
ops_txn_commit || bail_out "the concurrent insert failed"
is "$(ops_wait_sql "SELECT coalesce(held_by, '-') || ' ' || (s.last_success_at IS NOT NULL)
    FROM mail_accounts a JOIN sync_state s ON s.account_id = a.id
    WHERE a.name = 'race' AND s.mailbox = 'INBOX'" "c true" 10)" "c true" \
    "instance c uses the row the other instance inserted, holds account race and syncs it"
is "$(ops_log_count "$LOG_c" 'cannot register|database: account race:')" 0 \
    "instance c does not give the account up"
[ "$(ops_log_count "$LOG_c" 'cannot register')" -eq 0 ] || diag "$(cat "$LOG_c")"
rc=0
inboxd_stop "$PID_c" || rc=$?
is "$rc" 0 "instance c stops with status 0"

# The holder dies ----------------------------------------------------------------------

kill -KILL "$PID_H"
wait "$PID_H" 2>/dev/null
t0=$(date +%s.%N)
deliver 1
got=$(ops_wait_sql "SELECT held_by || ' ' || (SELECT count(*) FROM conversation_messages)
    FROM mail_accounts WHERE name = 'sales'" "$other 4" "$TAKEOVER_MAX")
t1=$(date +%s.%N)
is "$got" "$other 4" \
    "within $TAKEOVER_MAX s of SIGKILL to $holder, $other holds the account and stored the new mail"
note "take-over after $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
if [ "$got" != "$other 4" ]; then
	diag "instance $other did not take over; what follows depends on it: stopping here"
	done_testing
fi
ok "instance $other logs the take-over" \
    ops_wait_log "$LOG_O" 'account=sales: taken over by this instance' 2
ok "instance $other ingested the new mail" test "$(ingest_lines "$LOG_O")" -ge 1
sleep 1
no_duplicates 4

deliver 1
is "$(ops_wait_sql "SELECT count(*) FROM conversation_messages" 5 $((POLL * 3)))" 5 \
    "the new holder goes on ingesting"

# The dead instance comes back: it must not take the account back -----------------

inboxd_start --config "$TEST_TMP/$holder.conf" --foreground
PID_R=$INBOXD_PID LOG_R=$INBOXD_LOG
ok "the restarted instance $holder stands by" \
    ops_wait_log "$LOG_R" 'account=sales: held by another instance; standing by' \
    $((POLL * 3))
deliver 1
is "$(ops_wait_sql "SELECT count(*) FROM conversation_messages" 6 $((POLL * 3)))" 6 \
    "the next message is stored"
sleep $((POLL + 1))
is "$(held_by)" "$other" "held_by still names $other"
is "$(ingest_lines "$LOG_R")" 0 "the restarted instance ingested nothing"
no_duplicates 6

# A clean stop hands the account over as well ------------------------------------------

rc=0
inboxd_stop "$PID_O" || rc=$?
is "$rc" 0 "instance $other stops with status 0 on SIGTERM"
deliver 1
is "$(ops_wait_sql "SELECT held_by || ' ' || (SELECT count(*) FROM conversation_messages)
    FROM mail_accounts WHERE name = 'sales'" "$holder 7" "$TAKEOVER_MAX")" "$holder 7" \
    "the restarted $holder takes over and stores the next message"
no_duplicates 7

# An account removed from the holder's configuration is released -------------------

inboxd_start --config "$TEST_TMP/$other.conf" --foreground
PID_O2=$INBOXD_PID LOG_O2=$INBOXD_LOG
ok "instance $other, started again, stands by" \
    ops_wait_log "$LOG_O2" 'account=sales: held by another instance; standing by' \
    $((POLL * 3))
config_daemon "instance_name = $holder" >"$TEST_TMP/$holder.conf.new"
mv "$TEST_TMP/$holder.conf.new" "$TEST_TMP/$holder.conf"
kill -HUP "$PID_R"
ok "instance $holder stops the removed account" \
    ops_wait_log "$LOG_R" 'account=sales: removed from the configuration' 10
deliver 1
got=$(ops_wait_sql "SELECT held_by || ' ' || (SELECT count(*) FROM conversation_messages)
    FROM mail_accounts WHERE name = 'sales'" "$other 8" "$TAKEOVER_MAX")
is "$got" "$other 8" \
    "$other takes over the account $holder no longer has, and stores the next message"
ok "instance $holder is still running" ops_running "$PID_R"
if [ "$got" = "$other 8" ]; then
	no_duplicates 8
else
	skip "the message was not stored" 4
fi

rc=0
inboxd_stop "$PID_R" || rc=$?
is "$rc" 0 "instance $holder stops with status 0 on SIGTERM"
rc=0
inboxd_stop "$PID_O2" || rc=$?
is "$rc" 0 "instance $other stops with status 0 on SIGTERM"
is "$(cat "$LOG_a" "$LOG_b" "$LOG_c" "$LOG_R" "$LOG_O2" | grep -cE 'AddressSanitizer|runtime error:|LeakSanitizer')" \
    0 "no sanitizer report"

done_testing
