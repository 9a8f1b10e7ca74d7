#!/bin/bash
# The consumer examples of doc/consumers.md (doc/examples/worker.py and
# worker.js) work the queue of a real PostgreSQL: they are woken by
# NOTIFY, complete every job once, and retry a failed attempt when the
# daemon's sweep (inboxd.maintain, run here in its place) announces it.
#
# Needs python3-psycopg (Debian) for the Python worker and node with the
# "pg" package from npm for the Node one; each part is skipped, with the
# reason, when its client library cannot be had. Last, the GRANTs the
# document gives are run as the roles they are given to.

. "${top_srcdir:-$(dirname "$0")/../..}/t/lib/harness.sh"

JOBS=30
FAILING=3
examples=$top_srcdir/doc/examples

pg_start
sql_migrate

# Stands in for the daemon: one maintain() sweep every 0.3 s, each from
# where the previous one ended, until killed or the server goes away
# (at most a minute).
sweeper()
{
	local since i
	since=$(sql "SELECT now()")
	for ((i = 0; i < 200; i++)); do
		since=$(sql "SELECT due_until FROM inboxd.maintain('1 day', '$since')") ||
		    return
		sleep 0.3
	done
}

# check_worker LABEL KIND CMD...: starts the worker on an empty queue
# with a 30 s poll, so that only NOTIFY can wake it in time; queues the
# jobs; waits for it to finish them all.
check_worker()
{
	local label=$1 kind=$2 start rc=0 secs pid
	shift 2

	"$@" "$kind" --name "$label-1" --poll 30 --max-jobs "$JOBS" \
	    >"$TEST_TMP/$label.out" 2>"$TEST_TMP/$label.err" &
	pid=$!
	sleep 0.5
	start=$(date +%s.%N)
	sql "SELECT count(inboxd.enqueue('$kind',
		jsonb_build_object('n', g, 'simulate_error', g <= $FAILING)))
	    FROM generate_series(1, $JOBS) g" >/dev/null
	# The worker must be done long before its 30 s poll would wake it.
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$pid" 2>/dev/null && diag "$label worker still running; killed"
	wait "$pid" || rc=$?
	secs=$(awk -v a="$start" -v b="$(date +%s.%N)" \
	    'BEGIN { printf "%.1f", b - a }')
	note "$label worker: $JOBS jobs in $secs s"
	is "$rc" 0 "$label: the worker exits 0"
	[ "$rc" -eq 0 ] || diag "$(cat "$TEST_TMP/$label.err")"
	is "$(cat "$TEST_TMP/$label.out")" "worker $label-1: $JOBS jobs done" \
	    "$label: it reports $JOBS jobs done"
	is "$(sql "SELECT state, count(*) FROM jobs WHERE kind = '$kind'
		GROUP BY state")" "succeeded|$JOBS" "$label: every job succeeded"
	is "$(sql "SELECT attempts, count(*) FROM jobs WHERE kind = '$kind'
		GROUP BY attempts ORDER BY attempts" | tr '\n' ' ')" \
	    "1|$((JOBS - FAILING)) 2|$FAILING " \
	    "$label: the failing jobs were retried once, the others ran once"
	is "$(sql "SELECT count(*) FROM jobs WHERE kind = '$kind'
		AND errors->0->>'error' LIKE '%simulated failure'
		AND result->>'worker' = '$label-1'
		AND (result->'echo'->>'n')::int <= $FAILING")" "$FAILING" \
	    "$label: their error is recorded, then the result"
	is "$(sql "SELECT count(*) FROM jobs WHERE kind = '$kind'
		AND result->'echo' = payload")" "$JOBS" \
	    "$label: each result echoes its payload"
}

sweeper &
sweeper_pid=$!

# Python ---------------------------------------------------------------------

if "$PYTHON3" -c 'import psycopg' 2>/dev/null; then
	check_worker py py_demo "$PYTHON3" "$examples/worker.py"
else
	skip "python3-psycopg is not installed (apt-get install python3-psycopg)" 6
fi

# Node ---------------------------------------------------------------------------
#
# "pg" is installed once per build tree, like the PostgreSQL template.

node_pg_dir()
{
	local dir=$top_builddir/t/tmp/node-pg
	mkdir -p "$dir"
	(
		flock 9
		[ -f "$dir/node_modules/pg/package.json" ] && exit 0
		cd "$dir" && echo '{"private": true}' >package.json &&
		    timeout 120 npm install --no-save --no-audit --no-fund \
		    --loglevel=error pg >"$TEST_TMP/npm.log" 2>&1
	) 9>"$dir.lock" || return 1
	echo "$dir/node_modules"
}

if ! command -v node >/dev/null; then
	skip "node is not installed" 6
elif ! modules=$(node_pg_dir); then
	diag "$(tail -n 5 "$TEST_TMP/npm.log" 2>/dev/null)"
	skip "npm could not install pg" 6
else
	check_worker js js_demo env NODE_PATH="$modules" node \
	    "$examples/worker.js"
fi

kill "$sweeper_pid" 2>/dev/null

# Permissions --------------------------------------------------------------------
#
# The GRANTs of doc/consumers.md, run as given, are enough for what each
# role there is said to do.

# as ROLE SQL: runs SQL with the rights of ROLE; prints the result.
as()
{
	psql_su "SET ROLE $1; $2" 2>&1
}

grants=$(sed -n '/^### Permissions/,/^## /p' "$top_srcdir/doc/consumers.md" |
    grep '^GRANT ')
for role in ai_worker web_app queue_admin; do
	psql_su "CREATE ROLE $role NOLOGIN" >/dev/null
done
rc=0; out=$(psql_su "$grants" 2>&1) || rc=$?
is "$rc" 0 "the GRANTs of doc/consumers.md apply"
[ "$rc" -eq 0 ] || diag "$out"

is "$(as ai_worker "SELECT inboxd.enqueue('grants', '{}') IS NOT NULL")" t \
    "ai_worker: queues a job"
is "$(as ai_worker "SELECT inboxd.heartbeat(id, attempts)
	AND inboxd.complete(id, attempts, '{}') FROM inboxd.claim('grants', 'w', 1)")" \
    t "ai_worker: claims, heartbeats and completes it"
sql "SELECT inboxd.enqueue('grants', '{}')" >/dev/null
is "$(as ai_worker "SELECT inboxd.fail(id, attempts, 'no')
	FROM inboxd.claim('grants', 'w', 1)")" failed "ai_worker: fails one"
is "$(as ai_worker "SELECT count(*) FROM conversation_messages m
	JOIN conversations c ON c.id = m.conversation_id
	LEFT JOIN leads l ON l.id = c.lead_id")" 0 \
    "ai_worker: reads the messages, conversations and leads its jobs name"
is "$(as web_app "SELECT count(*) FROM events e
	LEFT JOIN conversations c ON c.id = e.conversation_id
	LEFT JOIN conversation_messages m ON m.id = e.message_id")" 0 \
    "web_app: reads the event feed and what it names"
finished=$(sql "SELECT count(*) FROM jobs WHERE state = 'succeeded'")
is "$(as queue_admin "SELECT deleted FROM inboxd.maintain('0 seconds', NULL)")" \
    "$finished" "queue_admin: runs inboxd.maintain(), which deletes the finished jobs"

done_testing
