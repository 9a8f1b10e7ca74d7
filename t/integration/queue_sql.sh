#!/bin/bash
# The job queue's SQL API (sql/002_jobs_api.sql) against a real
# PostgreSQL: concurrent consumers, lease expiry and fencing, backoff,
# dead jobs and retry, deduplication, retention, and NOTIFY.

. "${top_srcdir:-$(dirname "$0")/../..}/t/lib/harness.sh"

# Several statements, one transaction, the last one's result.
sql_last()
{
	psql -XAtq -v ON_ERROR_STOP=1 -v SHOW_ALL_RESULTS=off -c "$1"
}

pg_start
sql_migrate

# NOTIFY ---------------------------------------------------------------------
#
# First, while nothing else runs, so that every notification is ours.

listen_start inboxd_jobs
t0=$(sql "SELECT due_until FROM inboxd.maintain('1 day', now())")

psql -XAtq -v ON_ERROR_STOP=1 >/dev/null <<-'EOF'
	BEGIN;
	SELECT inboxd.enqueue('n1', '{}') FROM generate_series(1, 5);
	COMMIT;
	SELECT inboxd.enqueue('n2', '{}');
	-- Delayed: announced when due, not now.
	SELECT inboxd.enqueue('n3', '{}', p_run_at => now() + interval '1 second');
	EOF
is "$(listen_wait inboxd_jobs 2)" 2 "one notification per enqueue transaction"
is "$(listen_payloads inboxd_jobs | tr '\n' ' ')" "n1 n2 " \
    "payloads name the kind"

# An n1 job fails with a one-second retry delay.
job=$(sql "SELECT id || ' ' || attempts FROM inboxd.claim('n1', 'wn', 1)")
is "$(sql "SELECT inboxd.fail(${job% *}, ${job#* }, 'try later', '1 second')")" \
    failed "fail with an explicit delay"
sleep 1.2
due=$(sql "SELECT due_kinds, due_until FROM inboxd.maintain('1 day', '$t0')")
is "${due%%|*}" "{n1,n3}" "maintain finds the kinds that came due"
is "$(listen_wait inboxd_jobs 3)" 3 "one notification for the due jobs"
is "$(listen_payloads inboxd_jobs | tail -n 1)" "n1,n3" \
    "its payload lists the kinds"
sql "SELECT 1 FROM inboxd.maintain('1 day', '${due#*|}')" >/dev/null
is "$(listen_wait inboxd_jobs 3 1)" 3 "the next sweep does not repeat it"
is "$(sql_last "SELECT inboxd.enqueue('n2', '{}', p_dedup_key => 'k');
	SELECT inboxd.enqueue('n2', '{}', p_dedup_key => 'k') IS NULL")" t \
    "a duplicate enqueue returns NULL"
listen_stop

# Concurrency ----------------------------------------------------------------
#
# Four consumers drain 10,000 jobs in batches of 50. Every claim is
# logged; each job must be claimed and completed exactly once.

psql_q "CREATE TABLE claims (job_id bigint, worker text, attempt int,
    completed boolean)"
is "$(sql "SELECT count(inboxd.enqueue('conc', jsonb_build_object('n', g)))
	FROM generate_series(1, 10000) g")" 10000 "10,000 jobs enqueued"

consumer()
{
	local w=$1 got empty=0 i
	for ((i = 0; i < 1000 && empty < 3; i++)); do
		got=$(psql -XAtq -v ON_ERROR_STOP=1 -v w="$w" <<-'EOF'
			CREATE TEMP TABLE c AS
			    SELECT id, attempts FROM inboxd.claim('conc', :'w', 50);
			INSERT INTO claims (job_id, worker, attempt, completed)
			    SELECT id, :'w', attempts, inboxd.complete(id, attempts)
			    FROM c;
			SELECT count(*) FROM c;
			EOF
		) || return 1
		if [ "$got" -eq 0 ]; then
			empty=$((empty + 1))
			sleep 0.05
		else
			empty=0
		fi
	done
}

start=$(date +%s.%N)
pids=
for w in 1 2 3 4; do
	consumer "w$w" &
	pids="$pids $!"
done
rc=0
for p in $pids; do
	wait "$p" || rc=$?
done
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
note "4 consumers drained 10,000 jobs in ${secs} s"
is "$rc" 0 "consumers exited cleanly"
is "$(sql "SELECT count(*) FROM claims")" 10000 "10,000 claims"
is "$(sql "SELECT count(*) FROM (SELECT job_id FROM claims
	GROUP BY job_id HAVING count(*) > 1) twice")" 0 "no job claimed twice"
is "$(sql "SELECT count(*) FROM jobs j WHERE kind = 'conc'
	AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.job_id = j.id)")" 0 \
    "no job left unclaimed"
is "$(sql "SELECT count(*) FROM claims WHERE completed AND attempt = 1")" \
    10000 "every complete() applied, first attempt"
is "$(sql "SELECT state, count(*) FROM jobs WHERE kind = 'conc'
	GROUP BY state")" "succeeded|10000" "all 10,000 succeeded"
is "$(sql "SELECT count(DISTINCT worker) FROM claims")" 4 \
    "all four consumers took part"

# Lease expiry and fencing -----------------------------------------------------

id=$(sql "SELECT inboxd.enqueue('lease', '{}')")
is "$(sql "SELECT attempts FROM inboxd.claim('lease', 'slow', 1)")" 1 \
    "slow worker claims, attempt 1"
psql_q "UPDATE jobs SET lease_seconds = 1 WHERE id = $id"
is "$(sql "SELECT inboxd.heartbeat($id, 1)")" t "heartbeat while leased"
sleep 1.2
is "$(sql "SELECT requeued || ' ' || dead FROM inboxd.maintain('1 day', now())")" \
    "1 0" "maintain requeues the expired lease"
is "$(sql "SELECT state || ' ' || last_error FROM jobs WHERE id = $id")" \
    "failed lease expired" "the job is failed, due again"
is "$(sql "SELECT inboxd.heartbeat($id, 1)")" f \
    "the slow worker's heartbeat is refused"
is "$(sql "SELECT id || ' ' || attempts || ' ' || locked_by
	FROM inboxd.claim('lease', 'fast', 5)")" "$id 2 fast" \
    "another worker claims it, attempt 2"
is "$(sql "SELECT inboxd.complete($id, 1, '{\"by\": \"slow\"}')")" f \
    "the slow worker's late complete is refused"
is "$(sql "SELECT inboxd.fail($id, 1, 'late') IS NULL")" t \
    "so is its late fail"
is "$(sql "SELECT inboxd.complete($id, 2, '{\"by\": \"fast\"}')")" t \
    "the fast worker's complete applies"
is "$(sql "SELECT inboxd.complete($id, 2)")" f "a second complete does not"
is "$(sql "SELECT state || ' ' || attempts || ' ' || (result->>'by') || ' '
	|| jsonb_array_length(errors) || ' ' || (locked_by IS NULL)
	FROM jobs WHERE id = $id")" "succeeded 2 fast 1 true" \
    "succeeded once, with the fast worker's result"

id=$(sql "SELECT inboxd.enqueue('lease', '{}', p_max_attempts => 1)")
sql "SELECT 1 FROM inboxd.claim('lease', 'w', 1)" >/dev/null
psql_q "UPDATE jobs SET lease_seconds = 1 WHERE id = $id"
sleep 1.2
is "$(sql "SELECT requeued || ' ' || dead FROM inboxd.maintain('1 day', now())")" \
    "0 1" "an expired lease on the last attempt is dead"
is "$(sql "SELECT state || ' ' || (finished_at IS NOT NULL) FROM jobs
	WHERE id = $id")" "dead true" "dead, with finished_at"

# Backoff, dead, retry ---------------------------------------------------------

id=$(sql "SELECT inboxd.enqueue('bo', '{}', p_max_attempts => 3)")

# Fails the job's current attempt and prints the delay to run_at in
# seconds; updated_at is the failing transaction's now().
fail_delay()
{
	sql_last "SELECT inboxd.fail($id, $1, 'boom $1');
	    SELECT extract(epoch FROM run_at - updated_at) FROM jobs WHERE id = $id"
}
make_due()
{
	psql_q "UPDATE jobs SET run_at = now() WHERE id = $id"
}

is "$(sql "SELECT attempts FROM inboxd.claim('bo', 'w', 1)")" 1 "attempt 1"
d=$(fail_delay 1)
ok "attempt 1 retries in [1, 2) s (got $d)" \
    awk -v d="$d" 'BEGIN { exit !(d >= 1 && d < 2) }'
is "$(sql "SELECT count(*) FROM inboxd.claim('bo', 'w', 1)")" 0 \
    "not claimable before run_at"
make_due
is "$(sql "SELECT attempts FROM inboxd.claim('bo', 'w', 1)")" 2 "attempt 2"
d=$(fail_delay 2)
ok "attempt 2 retries in [2, 4) s (got $d)" \
    awk -v d="$d" 'BEGIN { exit !(d >= 2 && d < 4) }'
make_due
is "$(sql "SELECT attempts FROM inboxd.claim('bo', 'w', 1)")" 3 "attempt 3"
is "$(sql "SELECT inboxd.fail($id, 3, 'boom 3')")" dead \
    "the last attempt's failure is dead"
is "$(sql "SELECT jsonb_array_length(errors) || ' ' || last_error || ' '
	|| (errors->2->>'attempt') || ' ' || (finished_at IS NOT NULL)
	FROM jobs WHERE id = $id")" "3 boom 3 3 true" "every error is recorded"
is "$(sql "SELECT count(*) FROM inboxd.claim('bo', 'w', 1)")" 0 \
    "a dead job is not claimed"
is "$(sql "SELECT inboxd.retry($id)")" t "retry revives it"
is "$(sql "SELECT state || ' ' || attempts || ' ' || max_attempts
	FROM jobs WHERE id = $id")" "queued 3 6" \
    "queued, attempts kept, three more allowed"
is "$(sql "SELECT attempts FROM inboxd.claim('bo', 'w', 1)")" 4 "attempt 4"
is "$(sql "SELECT inboxd.retry($id)")" f "a running job is not retried"
is "$(sql "SELECT inboxd.complete($id, 4)")" t "and completes"

# Jitter: jobs failing together do not come back together.
sql "SELECT count(inboxd.enqueue('jit', '{}')) FROM generate_series(1, 200)" \
    >/dev/null
is "$(sql "SELECT count(*) FROM (SELECT inboxd.fail(id, attempts, 'x')
	FROM inboxd.claim('jit', 'w', 200)) f WHERE fail = 'failed'")" 200 \
    "200 jobs failed at attempt 1"
is "$(sql "SELECT count(*) FILTER (WHERE d >= 1 AND d < 2) || ' '
	|| (count(DISTINCT d) > 150)
	FROM (SELECT extract(epoch FROM run_at - updated_at) AS d FROM jobs
	      WHERE kind = 'jit') x")" "200 true" "all within [1, 2) s, spread out"
is "$(sql "SELECT extract(epoch FROM inboxd.backoff(40)) <= 3600")" t \
    "backoff is capped at an hour"

# retry_dead: only dead jobs, of the kind asked for.
psql_q "UPDATE jobs SET state = 'dead', finished_at = now() WHERE kind = 'jit'"
sql "SELECT inboxd.enqueue('other', '{}', p_max_attempts => 1)" >/dev/null
job=$(sql "SELECT id || ' ' || attempts FROM inboxd.claim('other', 'w', 1)")
sql "SELECT inboxd.fail(${job% *}, ${job#* }, 'x')" >/dev/null
is "$(sql "SELECT inboxd.retry_dead('jit')")" 200 "retry_dead of one kind"
is "$(sql "SELECT state, count(*) FROM jobs WHERE kind IN ('jit', 'other')
	GROUP BY state ORDER BY state" | tr '\n' ' ')" "dead|1 queued|200 " \
    "the other kind stays dead"
is "$(sql "SELECT inboxd.retry_dead()")" 2 \
    "retry_dead of every kind (with the lease test's dead job)"

# Deduplication ----------------------------------------------------------------

mid=$(sql "SELECT gen_random_uuid()")
first=$(sql "SELECT inboxd.enqueue('dd', '{}', '$mid')")
isnt "$first" "" "enqueue for a message"
is "$(sql "SELECT inboxd.enqueue('dd', '{}', '$mid')")" "" \
    "the same kind and message again: NULL"
isnt "$(sql "SELECT inboxd.enqueue('dd2', '{}', '$mid')")" "" \
    "another kind for the message is a new job"
is "$(sql_last "SELECT inboxd.enqueue('dd', '{}', NULL, 'order-1');
	SELECT inboxd.enqueue('dd', '{}', NULL, 'order-1')")" "" \
    "a dedup key without a message deduplicates too"
is "$(sql "SELECT count(inboxd.enqueue('dd', '{}')) FROM generate_series(1, 3)")" \
    3 "jobs without message or key are never duplicates"
sql "SELECT inboxd.complete(id, attempts) FROM inboxd.claim('dd', 'w', 100)" \
    >/dev/null
isnt "$(sql "SELECT inboxd.enqueue('dd', '{}', '$mid')")" "" \
    "once the job succeeded, the message may be queued again"
nok "a kind with a comma is refused" \
    psql_q "SELECT inboxd.enqueue('a,b', '{}')" 2>/dev/null

# A dead job whose live copy was queued since cannot come back.
id=$(sql "SELECT inboxd.enqueue('dd3', '{}', '$mid', p_max_attempts => 1)")
sql "SELECT inboxd.fail(id, attempts, 'x') FROM inboxd.claim('dd3', 'w', 1)" \
    >/dev/null
sql "SELECT inboxd.enqueue('dd3', '{}', '$mid')" >/dev/null
is "$(sql "SELECT inboxd.retry($id)")" f "retry refuses to duplicate a live job"
is "$(sql "SELECT inboxd.retry_dead('dd3')")" 0 "so does retry_dead"

# Retention ------------------------------------------------------------------------

psql_q "UPDATE jobs SET finished_at = now() - interval '2 days'
	WHERE state = 'succeeded'"
n=$(sql "SELECT count(*) FROM jobs WHERE state = 'succeeded'")
is "$(sql "SELECT deleted FROM inboxd.maintain('1 day', now())")" 10000 \
    "at most 10,000 finished jobs deleted per sweep"
is "$(sql "SELECT deleted FROM inboxd.maintain('1 day', now())")" \
    $((n - 10000)) "the next sweep deletes the rest"
is "$(sql "SELECT count(*) FROM jobs WHERE state = 'succeeded'")" 0 \
    "no old finished job left"
is "$(sql "SELECT count(*) FROM jobs WHERE state = 'dead'")" 1 \
    "dead jobs are kept"

done_testing
