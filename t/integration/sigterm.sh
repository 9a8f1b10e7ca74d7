#!/bin/bash
# SIGTERM in the middle of a large sync (1,500 generated messages,
# batch_size 50): the daemon finishes the batch in flight and exits 0;
# the database then holds whole batches only, with the cursor at the last
# UID stored; a restart stores the rest, nothing twice.
# The seed is printed; FAULT_SEED=N repeats a run.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/faults.sh"

TOTAL=1500
BATCH=50

fault_seed
start_servers
gen_inbox "$TOTAL" term

CFG=$TEST_TMP/inboxd.conf
inboxd_config "$CFG" "batch_size = $BATCH" "poll_interval = 2s"
inboxd_start --config "$CFG"
PID=$INBOXD_PID

rand_between 1 $((TOTAL / 2))
at=$REPLY
ok "$at rows stored before SIGTERM" wait_rows sales "$at" 60
rand_between 0 300
extra=$REPLY
sleep_ms "$extra"
t0=$(now_ms)
inboxd_stop "$PID"
rc=$?
took=$(( $(now_ms) - t0 ))
rows=$(acct_rows sales)
note "SIGTERM $extra ms after row $at: exit $rc after $took ms, $rows rows stored"
is "$rc" 0 "exit status 0 after SIGTERM"
ok "it exits within 30 s ($took ms)" test "$took" -le 30000
like "$(grep 'signal 15' "$INBOXD_LOG")" 'finishing the batch in flight' \
    "the log says it finishes the batch in flight"
ok "the sync was still running at SIGTERM ($rows of $TOTAL rows)" \
    test "$rows" -lt "$TOTAL"

# Whole batches only: the mailbox's UIDs are 1..TOTAL, fetched in order.
if [ $((rows % BATCH)) -eq 0 ] || [ "$rows" -eq "$TOTAL" ]; then
	pass "whole batches only: $rows rows is a multiple of $BATCH"
else
	fail "whole batches only: $rows rows is a multiple of $BATCH"
	diag "$((rows % BATCH)) rows of a partial batch"
fi
cursor=$(acct_cursor sales)
is "$cursor" "$(sql "SELECT coalesce(max(uid), 0) FROM message_locations")" \
    "the cursor equals the max UID stored"
is "$(sql "SELECT count(*) FROM message_locations WHERE uid <= $cursor")" "$cursor" \
    "every UID up to the cursor is stored"
is "$rows" "$cursor" "as many rows as the cursor says"
is "$(sql "SELECT count(*) FROM jobs WHERE kind = 'embed_message'")" "$rows" \
    "one embed_message job per stored row"
sleep 1
is "$(acct_rows sales)" "$rows" "nothing is written after the exit"

# A restart finishes the rest.
ok "a restart (--once) finishes the sync" inboxd_once "$CFG"
assert_exactly_once sales INBOX "$TOTAL"
assert_conversations sales "$THREADS"

# SIGTERM to a daemon with nothing to do: exit 0 at once.
inboxd_start --config "$CFG"
_idle_now()
{
	grep -q 'watching INBOX with IDLE' "$INBOXD_LOG"
}
wait_for 20 _idle_now || :
sleep 1
t0=$(now_ms)
inboxd_stop
rc=$?
took=$(( $(now_ms) - t0 ))
is "$rc" 0 "an idle daemon exits 0 on SIGTERM"
ok "and does so within 5 s ($took ms)" test "$took" -le 5000
is "$(acct_rows sales)" "$TOTAL" "still $TOTAL rows"

# SIGTERM before the loop runs: the daemon waits on the migrations'
# advisory lock (held here by another session), and the signal ends it
# with status 0 and a line that says so.
psql -XAtq -c "SELECT pg_advisory_lock(7305511062374101); SELECT pg_sleep(60)" \
    >/dev/null 2>&1 &
holder=$!
_lock_held()
{
	[ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
	    AND granted")" -ge 1 ]
}
ok "another session holds the migrations' lock" wait_for 10 _lock_held
inboxd_start --config "$CFG"
_lock_waited()
{
	[ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
	    AND NOT granted")" -ge 1 ]
}
ok "the daemon waits for it in its start-up" wait_for 20 _lock_waited
t0=$(now_ms)
inboxd_stop
rc=$?
took=$(( $(now_ms) - t0 ))
is "$rc" 0 "SIGTERM during start-up: exit status 0"
ok "at once ($took ms)" test "$took" -le 5000
like "$(cat "$INBOXD_LOG")" 'stopped by a signal before start-up finished' \
    "the log says it stopped before start-up finished"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null || :

done_testing
