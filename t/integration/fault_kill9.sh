#!/bin/bash
# kill -9 at random moments of a large initial sync (2,000 generated
# messages of 2-60 KB, batch_size 50): after the restarts every message
# is stored exactly once, with one location, one job of each kind and a
# cursor at the last UID; at every kill the cursor covers only stored mail.
# The seed is printed; FAULT_SEED=N repeats a run.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/faults.sh"

TOTAL=2000
KILLS=5

fault_seed
start_servers
gen_inbox "$TOTAL" k9
is "$(imap_count sales@example.com secret INBOX)" "$TOTAL" "$TOTAL messages in INBOX"

CFG=$TEST_TMP/inboxd.conf
inboxd_config "$CFG" "batch_size = 50" "poll_interval = 2s"

# The first kill lands at a random time after start (migrations, login,
# listing or the first batch); the later ones once a random number of
# rows is stored, plus a random delay, so that they hit any step of a
# batch: fetch, parse, the transaction, the commit.
targets=
for ((i = 1; i < KILLS; i++)); do
	rand_between 50 $((TOTAL - 150))
	targets="$targets $REPLY"
done
# shellcheck disable=SC2086
set -- $(printf '%s\n' $targets | sort -n)
mid_sync=0
for ((k = 1; k <= KILLS; k++)); do
	inboxd_start --config "$CFG"
	if [ "$k" -eq 1 ]; then
		rand_between 100 1500
		delay=$REPLY
		sleep_ms "$delay"
		what="${delay} ms after start"
	else
		target=$1
		shift
		wait_rows sales "$target" 60 ||
		    diag "kill $k: $target rows not reached in 60 s"
		rand_between 0 400
		delay=$REPLY
		sleep_ms "$delay"
		what="$delay ms after row $target"
	fi
	if ! alive "$INBOXD_PID"; then
		fail "kill $k: the daemon was running"
		diag "$(tail -n 20 "$INBOXD_LOG")"
		break
	fi
	kill9 "$INBOXD_PID"
	if [ "$(sql "SELECT to_regclass('sync_state') IS NOT NULL")" != t ]; then
		note "kill -9 #$k at $what: before the schema was complete"
		mid_sync=$((mid_sync + 1))
		skip "after kill $k: nothing stored yet" 3
		continue
	fi
	rows=$(acct_rows sales)
	note "kill -9 #$k at $what: $rows rows, cursor $(acct_cursor sales)"
	[ "$rows" -lt "$TOTAL" ] && mid_sync=$((mid_sync + 1))
	is "$(sql "SELECT count(*) - count(DISTINCT rfc_message_id) FROM conversation_messages")" \
	    0 "after kill $k: no Message-ID stored twice"
	is "$(sql "SELECT count(*) FROM message_locations")" "$rows" \
	    "after kill $k: one location per stored message"
	ok "after kill $k: the cursor covers only stored mail" \
	    check_cursor_covered sales INBOX
done
note "$mid_sync of $KILLS kills landed before the sync was complete"
ok "at least 3 kills landed mid-sync" test "$mid_sync" -ge 3

# The last run goes to the end.
inboxd_start --config "$CFG"
t0=$(now_ms)
ok "the sync completes after the kills" wait_rows sales "$TOTAL" 60
wait_for 10 test "$(acct_cursor sales)" = "$TOTAL" || :
note "last run stored the rest in $(( $(now_ms) - t0 )) ms"
ok "the daemon is still running" alive "$INBOXD_PID"
inboxd_stop
is "$?" 0 "SIGTERM: exit status 0"

assert_exactly_once sales INBOX "$TOTAL"
assert_conversations sales "$THREADS"
is "$(sql "SELECT count(*) FROM (SELECT kind, message_id, dedup_key FROM jobs
    GROUP BY 1, 2, 3 HAVING count(*) > 1) d")" 0 "no duplicate jobs at all"
is "$(sql "SELECT count(*) FROM (SELECT type, message_id FROM events
    WHERE type = 'message.received' GROUP BY 1, 2 HAVING count(*) > 1) d")" 0 \
    "no message.received event twice"

# One more pass finds nothing to do.
before=$(sql "SELECT (SELECT count(*) FROM conversation_messages) || '/' ||
    (SELECT count(*) FROM jobs) || '/' || (SELECT count(*) FROM events)")
ok "a final --once pass exits 0" inboxd_once "$CFG"
is "$(sql "SELECT (SELECT count(*) FROM conversation_messages) || '/' ||
    (SELECT count(*) FROM jobs) || '/' || (SELECT count(*) FROM events)")" \
    "$before" "the final pass adds no rows, jobs or events"

done_testing
