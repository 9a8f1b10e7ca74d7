#!/bin/bash
# A hand-over in the middle of a first sync: instance a starts alone on
# 12 accounts of 400 messages each (bench/fleet_standin.py, batches of
# 20, one FETCH in flight), and b joins while a is still syncing. a hands
# half the accounts over at a batch boundary: b holds 6 within 60 s, the
# pass a cuts stores the batch in flight and nothing after it, b goes on
# from the cursor committed with that batch. Every message is stored
# once, no batch finds a message stored already, and for each account
# the batches a stored all come before those b stored (never a, b, a).

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/ops.sh"

INBOXD_TEST_TIMEOUT=30
N=12
MSGS=400

pg_start || bail_out "PostgreSQL did not start"
"$PYTHON3" "$top_srcdir/bench/fleet_standin.py" --users "$N" --msgs "$MSGS" \
    --port-file "$TEST_TMP/imap.port" --lifetime 600 \
    </dev/null >"$TEST_TMP/standin.log" 2>&1 &
_harness_pids="$_harness_pids $!"
wait_for 20 test -s "$TEST_TMP/imap.port" ||
    bail_out "the stand-in did not start: $(cat "$TEST_TMP/standin.log")"
IMAP_PORT=$(cat "$TEST_TMP/imap.port")
secret=$(config_secret fleet secret)

for inst in a b; do
	{
		config_daemon "instance_name = $inst"
		for ((i = 1; i <= N; i++)); do
			printf '\n[account u%d]\ntype = imap\nhost = 127.0.0.1\n' "$i"
			printf 'port = %s\ntls = none\nusername = u%d@fleet.example\n' \
			    "$IMAP_PORT" "$i"
			printf 'password_file = %s\npoll_interval = 300s\n' "$secret"
			printf 'batch_size = 20\nconnections = 1\n'
		done
	} >"$TEST_TMP/$inst.conf"
done

stored()
{
	sql "SELECT count(*) FROM conversation_messages" 2>/dev/null || echo 0
}

LOCKS="pg_locks WHERE locktype = 'advisory' AND classid = 1768843876
    AND objsubid = 2 AND granted"
held_by_b()
{
	sql "SELECT count(*) FROM $LOCKS AND pid = (SELECT backend_pid
	    FROM inboxd_instances WHERE name = 'b')" 2>/dev/null
}
b_has_share()
{
	[ "$(held_by_b)" = $((N / 2)) ]
}
some_stored()
{
	[ "$(stored)" -ge 200 ]
}

inboxd_start --config "$TEST_TMP/a.conf"
PID_a=$INBOXD_PID LOG_a=$INBOXD_LOG
wait_for 30 some_stored || bail_out "a stored nothing"
inboxd_start --config "$TEST_TMP/b.conf"
PID_b=$INBOXD_PID LOG_b=$INBOXD_LOG
joined_at=$(stored)
note "b joins with $joined_at of $((N * MSGS)) messages stored"
ok "b holds its share, $((N / 2)) accounts, within 60 s" wait_for 60 b_has_share
ok "a handed accounts over" grep -q 'handed over' "$LOG_a"
is "$(ops_wait_sql "SELECT count(*) FROM conversation_messages" $((N * MSGS)) 120)" \
    $((N * MSGS)) "every message is stored"
is "$(sql "SELECT count(*) - count(DISTINCT (account_id, rfc_message_id))
    FROM conversation_messages")" 0 "none twice"
is "$(sql "SELECT count(*) FROM sync_state
    WHERE mailbox = 'INBOX' AND last_uid = $MSGS")" "$N" \
    "every account's cursor is at its last message"

# "stored N new, K already known" lines: no batch found its mail stored.
known=$(cat "$LOG_a" "$LOG_b" | sed -n 's/.*: stored [0-9]* new, \([0-9]*\) already known.*/\1/p' |
    awk '{ s += $1 } END { print s + 0 }')
is "$known" 0 "no batch was fetched twice"

# For each account, the holders of its batches in time order: a run of
# a's, then a run of b's, or one of them only.
order=$( { sed -n 's/^\([^ ]*\) .*account=\(u[0-9]*\) mailbox=INBOX: stored .*/\1 \2 a/p' "$LOG_a"
	sed -n 's/^\([^ ]*\) .*account=\(u[0-9]*\) mailbox=INBOX: stored .*/\1 \2 b/p' "$LOG_b"; } |
    sort | awk '{ if (last[$2] != $3) { seq[$2] = seq[$2] $3; last[$2] = $3 } }
	END { for (k in seq) print k, seq[k] }' | sort -V)
bad=$(echo "$order" | awk '$2 != "a" && $2 != "b" && $2 != "ab"')
is "$bad" "" "each account is synced by a, then by b, never by both in turn"
ok "some accounts went from a to b mid-sync" test "$(echo "$order" | grep -c ' ab$')" -ge 1
note "$(echo "$order" | tr '\n' ' ')"

for pid in "$PID_a" "$PID_b"; do
	rc=0
	inboxd_stop "$pid" || rc=$?
	is "$rc" 0 "stops with status 0"
done
is "$(cat "$LOG_a" "$LOG_b" | grep -cE 'AddressSanitizer|runtime error:|LeakSanitizer')" \
    0 "no sanitizer report"

done_testing
