#!/bin/bash
# Throughput of the job queue's SQL API (sql/002_jobs_api.sql) on a
# throwaway PostgreSQL, driven by pgbench:
#
#   1. enqueue: inboxd.enqueue() from 4 clients, 1 or 10 jobs per
#      transaction
#   2. drain: 4 consumers claim a batch, then complete it (two
#      transactions, as a real worker does), batch 1 and batch 10
#   3. end to end: 2 producers enqueueing (10 per transaction) and 4
#      consumers draining (batch 10) at once
#
#	bench/queue_bench.sh [durable|fast]
#	DURATION=20 CONSUMERS=8 PRODUCERS=1 bench/queue_bench.sh fast
#
# durable (the default) runs PostgreSQL as production would: fsync,
# synchronous_commit and full_page_writes on, so every claim and every
# complete waits for its commit to reach the disk. fast is the test
# suite's throwaway setting (all three off): the SQL's cost alone.
# Prints one line a figure.

set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
DURATION=${DURATION:-10}
CONSUMERS=${CONSUMERS:-4}
PRODUCERS=${PRODUCERS:-2}
PGBENCH=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}

. "$top_srcdir/t/lib/pg.sh"

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/inboxd-bench.XXXXXX")
trap 'pg_stop; rm -rf "$TEST_TMP"' EXIT
cd "$TEST_TMP" || exit 1

MODE=${1:-durable}
case $MODE in
durable | fast) ;;
*)
	echo "usage: queue_bench.sh [durable|fast]" >&2
	exit 2
	;;
esac

pg_start || exit 1
if [ "$MODE" = durable ]; then
	psql_su "ALTER SYSTEM SET fsync = on" &&
	    psql_su "ALTER SYSTEM SET synchronous_commit = on" &&
	    psql_su "ALTER SYSTEM SET full_page_writes = on" &&
	    psql_su "ALTER SYSTEM SET shared_buffers = '256MB'" &&
	    pg_restart || exit 1
fi
for f in "$top_srcdir"/sql/[0-9]*.sql; do
	psql -X -q -v ON_ERROR_STOP=1 -1 -f "$f" >/dev/null 2>&1 || {
		echo "queue_bench: $f does not apply" >&2
		exit 1
	}
done

q()
{
	psql -XAtq -v ON_ERROR_STOP=1 -c "$1"
}

# Scripts ---------------------------------------------------------------------

# enqueue-N.sql: N jobs per transaction (the daemon queues a batch of
# mail's jobs in one transaction).
for n in 1 10; do
	cat >"enqueue-$n.sql" <<-EOF
		SELECT inboxd.enqueue('bench', '{"message": "0b6c3cb4"}')
		FROM generate_series(1, $n);
		EOF
done

# claim-N.sql: one transaction claims, the next completes what it got.
# (Prepared mode passes :ids and :atts as parameters.)
for n in 1 10; do
	cat >"claim-$n.sql" <<-EOF
		SELECT coalesce(array_agg(id), '{}') AS ids,
		       coalesce(array_agg(attempts), '{}') AS atts
		FROM inboxd.claim('bench', 'w' || :client_id, $n) \gset
		SELECT count(*) FILTER (WHERE inboxd.complete(i, a, '{"ok": true}'))
		FROM unnest(:ids::bigint[], :atts::int[]) AS t(i, a);
		EOF
done

# Runs pgbench for DURATION seconds; extra arguments go to pgbench.
bench()
{
	"$PGBENCH" -n -M prepared -T "$DURATION" "$@" >"$TEST_TMP/pgbench.out" 2>&1 || {
		cat "$TEST_TMP/pgbench.out" >&2
		exit 1
	}
}

per_sec()
{
	awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'
}

reset_jobs()
{
	q "TRUNCATE jobs" && q "VACUUM ANALYZE jobs"
}

# Enough queued jobs that the consumers never run dry.
prefill()
{
	q "INSERT INTO jobs (kind, payload)
	   SELECT 'bench', '{\"n\": 1}' FROM generate_series(1, $1)" &&
	    q "VACUUM ANALYZE jobs"
}

succeeded()
{
	q "SELECT count(*) FROM jobs WHERE state = 'succeeded'"
}

echo "queue_bench: PostgreSQL 15 ($MODE), $(nproc) CPUs, ${DURATION} s per run"

# 1. Enqueue
for batch in 1 10; do
	reset_jobs
	bench -c 4 -j 2 -f "enqueue-$batch.sql"
	n=$(q "SELECT count(*) FROM jobs")
	echo "enqueue, $batch per transaction, 4 clients:" \
	    "$(per_sec "$n" "$DURATION") jobs/s"
done

# 2. Drain
for batch in 1 10; do
	reset_jobs
	prefill 400000
	bench -c "$CONSUMERS" -j 2 -f "claim-$batch.sql"
	n=$(succeeded)
	echo "claim+complete, batch $batch, $CONSUMERS consumers:" \
	    "$(per_sec "$n" "$DURATION") jobs/s"
done

# 3. End to end: the producer and the consumers run at the same time.
reset_jobs
"$PGBENCH" -n -M prepared -T "$DURATION" -c "$PRODUCERS" -f enqueue-10.sql \
    >producer.out 2>&1 &
producer=$!
bench -c "$CONSUMERS" -j 2 -f claim-10.sql
wait "$producer"
enq=$(q "SELECT count(*) FROM jobs")
n=$(succeeded)
echo "end to end, $PRODUCERS producers + $CONSUMERS consumers (batch 10):" \
    "$(per_sec "$enq" "$DURATION") enqueued/s," \
    "$(per_sec "$n" "$DURATION") completed/s," \
    "$(q "SELECT count(*) FROM jobs WHERE state <> 'succeeded'") left"
