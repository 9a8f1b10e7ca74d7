#!/bin/bash
# PostgreSQL goes away during a large sync (1,500 generated messages):
# once a clean fast restart, once a crash (SIGKILL of the postmaster)
# with the server down for a few seconds. The daemon keeps running,
# reconnects, finishes, and stores every message exactly once.
# The seed is printed; FAULT_SEED=N repeats a run.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/faults.sh"

TOTAL=1500
DOWN_MS=3000

fault_seed
start_servers
gen_inbox "$TOTAL" pgr
pg_durable_commits || bail_out "cannot turn synchronous_commit on"
is "$(sql "SHOW synchronous_commit")" on "acknowledged commits survive a crash"
is "$(imap_count sales@example.com secret INBOX)" "$TOTAL" "$TOTAL messages in INBOX"

CFG=$TEST_TMP/inboxd.conf
inboxd_config "$CFG" "batch_size = 50" "poll_interval = 2s"
inboxd_start --config "$CFG"
PID=$INBOXD_PID

rand_between 100 500
first=$REPLY
rand_between 700 1200
second=$REPLY

# 1: a fast restart.
ok "$first rows stored before the first restart" wait_rows sales "$first" 60
rows=$(acct_rows sales)
note "restarting PostgreSQL at $rows rows"
ok "pg_restart" pg_restart
sleep 1
ok "the daemon survives the restart" alive "$PID"

# 2: a crash, then down for a while; the daemon must wait, not exit.
ok "$second rows stored before the crash" wait_rows sales "$second" 60
rows2=$(acct_rows sales)
note "killing PostgreSQL at $rows2 rows; down for $DOWN_MS ms"
ok "pg_kill9" pg_kill9
sleep_ms "$DOWN_MS"
ok "the daemon is still running while PostgreSQL is down" alive "$PID"
ok "PostgreSQL starts again (crash recovery)" pg_start
if [ "$rows" -ge "$TOTAL" ] || [ "$rows2" -ge "$TOTAL" ]; then
	diag "the sync ended before a restart ($rows, $rows2 rows of $TOTAL)"
fi

ok "the sync completes after the outages" wait_rows sales "$TOTAL" 60
wait_for 10 test "$(acct_cursor sales)" = "$TOTAL" || :
ok "the daemon never exited" alive "$PID"

# The sync may be over before the daemon's next reconnect attempt
# (its back-off after the crash reaches seconds): the second restore is
# waited for.
_restored_twice()
{
	[ "$(log_count "$INBOXD_LOG" 'database: connection restored')" -ge 2 ]
}
wait_for 40 _restored_twice || :
lost=$(log_count "$INBOXD_LOG" 'database: .*reconnecting')
restored=$(log_count "$INBOXD_LOG" 'database: connection restored')
ok "the log says the database connection was lost ($lost times)" test "$lost" -ge 2
ok "the log says the connection was restored ($restored times)" test "$restored" -ge 2

inboxd_stop "$PID"
is "$?" 0 "SIGTERM: exit status 0"

assert_exactly_once sales INBOX "$TOTAL"
assert_conversations sales "$THREADS"
is "$(sql "SELECT count(*) FROM (SELECT kind, message_id, dedup_key FROM jobs
    GROUP BY 1, 2, 3 HAVING count(*) > 1) d")" 0 "no duplicate jobs at all"

done_testing
