#!/bin/bash
# /metrics and /healthz on [daemon] metrics_listen: the Prometheus text
# format (every sample "name{labels} value", HELP and TYPE for every
# family), the ingested-messages counter equal to what was stored, the job
# gauges equal to the jobs table, inboxd_db_up; /healthz a JSON body,
# "ok" while the database is up and every account syncs, 503 naming
# what is wrong while the database is down or an account cannot log in,
# not for an account another instance took over; HEAD and a query string on /metrics; 404 for other paths. The lag is
# the delay between the server receiving mail and its storing, whatever
# the message's Date says; an account that never synced still has a
# last-success sample (0). inboxd(8) lists every family served, with its
# type. With promtool installed, it accepts /metrics and doc/alerts.yml.
# A metrics port another program holds leaves the daemon running, and
# its log says why metrics are off.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/ops.sh"

INBOXD_TEST_TIMEOUT=30
USER=sales@example.com
PASS=secret
LEASE_CHECK=1

ARCHIVE=archive@example.com
start_servers "$USER:$PASS" "$ARCHIVE:$PASS"
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
CFG=$TEST_TMP/inboxd.conf
{
	# The job gauges are refreshed with each queue check.
	config_daemon "metrics_listen = 127.0.0.1:$PORT" \
	    "job_lease_check = ${LEASE_CHECK}s"
	config_imap sales "$USER" "$PASS" "poll_interval = 2s"
} >"$CFG"

# deliver N: N new messages for sales, each from another client.
deliver()
{
	mail_deliver "$USER" "$PASS" "$1" metrics
}

M=$TEST_TMP/metrics.txt
scrape()
{
	http_get "$BASE/metrics" "$M"
}

# The job gauges as served, and as the jobs table has them, sorted alike.
served_jobs()
{
	grep '^inboxd_jobs{' "$M" | sort
}

table_jobs()
{
	sql "SELECT 'inboxd_jobs{kind=\"' || kind || '\",state=\"' || state || '\"} ' || count(*)
	    FROM jobs GROUP BY kind, state" | sort
}

_gauges_match()
{
	[ "$(scrape)" = 200 ] && [ "$(served_jobs)" = "$(table_jobs)" ]
}

ingested()
{
	prom_value "$M" 'inboxd_messages_ingested_total{account="sales"}'
}

_ingested_is()
{
	[ "$(scrape)" = 200 ] && [ "$(ingested)" = "$1" ]
}

# health FILE KEY: a top-level member of the /healthz JSON body.
health()
{
	"$PYTHON3" -c 'import json, sys
print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2" 2>/dev/null ||
	    echo "(not JSON)"
}

# unhealthy FILE: the accounts /healthz names as not healthy, sorted.
unhealthy()
{
	"$PYTHON3" -c 'import json, sys
print(" ".join(sorted(a["account"] for a in json.load(open(sys.argv[1]))["accounts"]
    if not a["healthy"])))' "$1" 2>/dev/null || echo "(not JSON)"
}

_archive_ingested()
{
	[ "$(scrape)" = 200 ] &&
	    [ "$(prom_value "$M" 'inboxd_messages_ingested_total{account="archive"}')" = 1 ]
}

_broken_named()
{
	[ "$(http_get "$BASE/healthz" "$TEST_TMP/healthz")" = 503 ] &&
	    [ "$(unhealthy "$TEST_TMP/healthz")" = broken ]
}

_broken_state_is()
{
	[ "$(scrape)" = 200 ] &&
	    [ "$(prom_value "$M" "inboxd_account_state{account=\"broken\",state=\"$1\"}")" = 1 ]
}

_healthz_is()
{
	[ "$(http_get "$BASE/healthz" "$TEST_TMP/healthz")" = "$1" ]
}

# deliver_old_dated: one message for the archive account whose Date is
# years old, received now.
deliver_old_dated()
{
	mail_write "$TEST_TMP/old.eml" "Archive <archive@client.example>" "$ARCHIVE" \
	    "old news" "Mon, 01 Jan 2024 10:00:00 +0000" old-1@client.example
	mail_append "$ARCHIVE" "$PASS" INBOX "$TEST_TMP/old.eml"
}

# First pass --------------------------------------------------------------------------

deliver 5
STARTED=$(date +%s)
inboxd_start --config "$CFG" --foreground
PID=$INBOXD_PID
LOG=$INBOXD_LOG
ok "log: metrics address" ops_wait_log "$LOG" "metrics on http://127.0.0.1:$PORT/metrics" 10
is "$(ops_wait_sql "SELECT count(*) FROM conversation_messages" 5 20)" 5 \
    "5 messages stored"
wait_for 10 _gauges_match

is "$(scrape)" 200 "GET /metrics: 200"
like "$(grep -i '^content-type:' "$M.h" | tr -d '\r')" \
    '^[Cc]ontent-[Tt]ype: text/plain; version=0\.0\.4' \
    "Content-Type is the Prometheus text format 0.0.4"
problems=$(prom_check "$M")
is "$problems" "" "every sample is 'name{labels} value' with HELP and TYPE before it"
[ -n "$problems" ] && diag "$(cat "$M")"
for family in inboxd_messages_ingested_total:counter inboxd_bytes_ingested_total:counter \
    inboxd_sync_passes_total:counter inboxd_sync_failures_total:counter \
    inboxd_errors_total:counter inboxd_jobs:gauge inboxd_db_up:gauge \
    inboxd_sync_lag_seconds:gauge; do
	is "$(grep -c "^# TYPE ${family%%:*} ${family#*:}\$" "$M")" 1 \
	    "TYPE ${family%%:*} ${family#*:}"
	is "$(grep -c "^# HELP ${family%%:*} " "$M")" 1 "HELP ${family%%:*}"
done

if command -v promtool >/dev/null 2>&1; then
	lint=$(promtool check metrics <"$M" 2>&1) && rc=0 || rc=$?
	is "$rc" 0 "promtool check metrics accepts /metrics"
	[ "$rc" = 0 ] || diag "$lint"
	rules=$(promtool check rules "$top_srcdir/doc/alerts.yml" 2>&1) && rc=0 || rc=$?
	is "$rc" 0 "promtool check rules accepts doc/alerts.yml"
	[ "$rc" = 0 ] || diag "$rules"
else
	skip "promtool is not installed (Debian: prometheus)" 2
fi
# Every family served is in inboxd(8)'s list, with its type.
undocumented=$(grep '^# TYPE ' "$M" | while read -r _ _ name type; do
	grep -q "^\\.BR $name \" ($type[;)]" "$top_srcdir/doc/inboxd.8" ||
	    echo "$name $type"
done)
is "$undocumented" "" "inboxd(8) lists every metric served, with its type"
for family in inboxd_account_state:gauge inboxd_build_info:gauge \
    inboxd_last_sync_success_timestamp_seconds:gauge \
    inboxd_job_oldest_queued_age_seconds:gauge \
    inboxd_batch_store_duration_seconds:histogram \
    inboxd_batch_fetch_duration_seconds:histogram \
    inboxd_fetch_to_notify_seconds:histogram \
    process_cpu_seconds_total:counter process_resident_memory_bytes:gauge \
    process_open_fds:gauge process_start_time_seconds:gauge; do
	is "$(grep -c "^# TYPE ${family%%:*} ${family#*:}\$" "$M")" 1 \
	    "TYPE ${family%%:*} ${family#*:}"
done
is "$(grep -c '^inboxd_account_state{account="sales",state="\(connected\|syncing\)"} 1$' "$M")" 1 \
    "inboxd_account_state: sales is connected (watching with IDLE), or syncing"
is "$(grep -c '^inboxd_account_state{account="sales",.*} 1$' "$M")" 1 \
    "inboxd_account_state: in one state only"
is "$(prom_value "$M" 'inboxd_account_state{account="sales",state="failing"}')" 0 \
    "inboxd_account_state: sales is not failing"
like "$(grep '^inboxd_build_info{' "$M")" '^inboxd_build_info\{version="[0-9.]+"\} 1$' \
    "inboxd_build_info names the version"
stores=$(prom_value "$M" inboxd_batch_store_duration_seconds_count)
ok "inboxd_batch_store_duration_seconds counts the stored batches ($stores)" \
    test "${stores%%.*}" -ge 1 2>/dev/null
is "$(prom_value "$M" 'inboxd_batch_store_duration_seconds_bucket{le="+Inf"}')" "$stores" \
    "its +Inf bucket holds every batch"
is "$(prom_value "$M" inboxd_batch_fetch_duration_seconds_count)" "$stores" \
    "inboxd_batch_fetch_duration_seconds counts the same batches"
is "$(prom_value "$M" inboxd_batches_stored_total)" "$stores" \
    "inboxd_batches_stored_total counts them too"
imap_requests=$(prom_value "$M" 'inboxd_transfers_total{protocol="imap"}')
ok "inboxd_transfers_total{protocol=\"imap\"} counts IMAP commands ($imap_requests)" \
    test "${imap_requests%%.*}" -ge 5 2>/dev/null
bytes=$(prom_value "$M" 'inboxd_bytes_ingested_total{account="sales"}')
imap_in=$(prom_value "$M" 'inboxd_received_bytes_total{protocol="imap"}')
ok "inboxd_received_bytes_total{protocol=\"imap\"} is at least the mail ($imap_in >= $bytes)" \
    test "${imap_in%%.*}" -ge "${bytes%%.*}" 2>/dev/null
rss=$(prom_value "$M" process_resident_memory_bytes)
ok "process_resident_memory_bytes is positive ($rss)" test "${rss%%.*}" -gt 0 2>/dev/null
oldest=$(prom_value "$M" 'inboxd_job_oldest_queued_age_seconds{kind="embed_message"}')
ok "inboxd_job_oldest_queued_age_seconds{kind=\"embed_message\"} is an age ($oldest)" \
    test "${oldest%%.*}" -ge 0 -a "${oldest%%.*}" -lt 600 2>/dev/null

is "$(ingested)" 5 'inboxd_messages_ingested_total{account="sales"} is 5'
bytes=$(prom_value "$M" 'inboxd_bytes_ingested_total{account="sales"}')
ok "inboxd_bytes_ingested_total{account=\"sales\"} is positive ($bytes)" \
    test "${bytes%%.*}" -gt 0 2>/dev/null
passes=$(prom_value "$M" 'inboxd_sync_passes_total{account="sales"}')
ok "inboxd_sync_passes_total{account=\"sales\"} is at least 1 ($passes)" \
    test "${passes%%.*}" -ge 1 2>/dev/null
is "$(prom_value "$M" 'inboxd_sync_failures_total{account="sales"}')" 0 \
    "no failed sync pass"
lag=$(prom_value "$M" 'inboxd_sync_lag_seconds{account="sales"}')
ok "inboxd_sync_lag_seconds{account=\"sales\"} is a small number ($lag)" \
    test "${lag%%.*}" -ge 0 -a "${lag%%.*}" -lt 600 2>/dev/null
is "$(prom_value "$M" inboxd_db_up)" 1 "inboxd_db_up 1"
is "$(served_jobs)" "$(table_jobs)" "inboxd_jobs gauges equal the jobs table"
ok "the jobs table is not empty" test -n "$(table_jobs)"

is "$(http_get "$BASE/healthz" "$TEST_TMP/healthz")" 200 "GET /healthz: 200"
is "$(health "$TEST_TMP/healthz" status)" ok "/healthz says ok"
is "$(health "$TEST_TMP/healthz" database)" up "/healthz: the database is up"
is "$(unhealthy "$TEST_TMP/healthz")" "" "/healthz: no account is unhealthy"
like "$(grep -i '^content-type:' "$TEST_TMP/healthz.h" | tr -d '\r')" \
    'application/json' "/healthz is JSON"
code=$(curl -s -I -o /dev/null -w '%{http_code}' --max-time 10 --noproxy '*' \
    "$BASE/metrics") || :
is "$code" 200 "HEAD /metrics: 200"
is "$(http_get "$BASE/metrics?x=1" "$TEST_TMP/query")" 200 "/metrics?x=1: 200"
is "$(grep -c '^inboxd_db_up ' "$TEST_TMP/query")" 1 "/metrics?x=1 is the metrics"
last=$(prom_value "$M" 'inboxd_last_sync_success_timestamp_seconds{account="sales"}')
ok "inboxd_last_sync_success_timestamp_seconds{account=\"sales\"} is since the start ($last)" \
    test "${last%%.*}" -ge "$STARTED" -a "${last%%.*}" -le "$(date +%s)" 2>/dev/null
is "$(http_get "$BASE/no-such-page" "$TEST_TMP/404")" 404 "an unknown path: 404"
is "$(http_get "$BASE/metricsx" "$TEST_TMP/404")" 404 "/metricsx: 404"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --noproxy '*' \
    -X POST --data x "$BASE/metrics") || :
like "$code" '^(405|501)$' "POST /metrics is refused ($code)"

# More mail, and a job finished by a worker -------------------------------------------

deliver 2
is "$(ops_wait_sql "SELECT count(*) FROM conversation_messages" 7 20)" 7 \
    "7 messages stored"
wait_for 10 _ingested_is 7
is "$(ingested)" 7 "the counter follows: 7"
sql "UPDATE jobs SET state = 'succeeded' WHERE id = (SELECT min(id) FROM jobs)" >/dev/null
wait_for 10 _gauges_match
is "$(served_jobs)" "$(table_jobs)" "the gauges follow the jobs table"
is "$(grep -c '^inboxd_jobs{.*state="succeeded"} 1$' "$M")" 1 \
    "the finished job is counted as succeeded"

# The database goes away and comes back ------------------------------------------------

pg_stop
# The queue check runs every ${LEASE_CHECK}s: a few of them must notice.
wait_for 8 _healthz_is 503
is "$(http_get "$BASE/healthz" "$TEST_TMP/healthz")" 503 "database down: /healthz 503"
is "$(health "$TEST_TMP/healthz" database)" down "and says the database is down"
is "$(scrape)" 200 "database down: /metrics is still served"
is "$(prom_value "$M" inboxd_db_up)" 0 "database down: inboxd_db_up 0"
db_errors=$(prom_value "$M" 'inboxd_errors_total{kind="database"}')
ok "database down: inboxd_errors_total{kind=\"database\"} counts it ($db_errors)" \
    test "${db_errors%%.*}" -ge 1 2>/dev/null
pg_start || bail_out "PostgreSQL did not start again"
deliver 1
# The daemon reconnects with a back-off of at most 30 s.
is "$(ops_wait_sql "SELECT count(*) FROM conversation_messages" 8 45)" 8 \
    "database back: the daemon reconnects and stores new mail"
wait_for 5 _healthz_is 200
is "$(http_get "$BASE/healthz" "$TEST_TMP/healthz")" 200 "database back: /healthz 200"
is "$(health "$TEST_TMP/healthz" status)" ok "database back: /healthz says ok"
scrape >/dev/null
is "$(prom_value "$M" inboxd_db_up)" 1 "database back: inboxd_db_up 1"
wait_for 10 _ingested_is 8
is "$(ingested)" 8 "the counter went on across the outage: 8"

# Stop ---------------------------------------------------------------------------------------

rc=0
inboxd_stop "$PID" || rc=$?
is "$rc" 0 "SIGTERM: exit status 0"
is "$(http_get "$BASE/healthz" "$TEST_TMP/healthz")" 000 "the port is closed after exit"

# An account that cannot log in, one whose mail is old-dated --------------------------------------------------------

CFG2=$TEST_TMP/inboxd-broken.conf
{
	config_daemon "metrics_listen = 127.0.0.1:$PORT"
	config_imap sales "$USER" "$PASS" "poll_interval = 2s"
	config_imap broken "$USER" wrong-password "poll_interval = 1s"
	config_imap archive "$ARCHIVE" "$PASS" "poll_interval = 2s"
} >"$CFG2"
deliver_old_dated
inboxd_start --config "$CFG2" --foreground
PID=$INBOXD_PID
# Dovecot delays a failed login by seconds, more for each one in a row
# from an address: the first failed pass may take a while. (A 503 also
# comes at start, before the database connection is up.)
wait_for 60 _broken_named
is "$(http_get "$BASE/healthz" "$TEST_TMP/healthz")" 503 \
    "an account cannot log in: /healthz 503"
is "$(health "$TEST_TMP/healthz" status)" unhealthy "and says unhealthy"
is "$(health "$TEST_TMP/healthz" database)" up "with the database up"
is "$(unhealthy "$TEST_TMP/healthz")" broken "and names the account that cannot log in"
is "$(scrape)" 200 "GET /metrics: 200"
is "$(prom_value "$M" 'inboxd_last_sync_success_timestamp_seconds{account="broken"}')" 0 \
    "an account that never synced has a last-success sample: 0"
failures=$(prom_value "$M" 'inboxd_sync_failures_total{account="broken"}')
ok "its failed passes are counted ($failures)" test "${failures%%.*}" -ge 1 2>/dev/null
auth_errors=$(prom_value "$M" 'inboxd_errors_total{kind="auth"}')
ok "inboxd_errors_total{kind=\"auth\"} counts them ($auth_errors)" \
    test "${auth_errors%%.*}" -ge 1 2>/dev/null
problems=$(prom_check "$M")
is "$problems" "" "the text format holds with a failing account"
is "$(prom_value "$M" 'inboxd_account_state{account="broken",state="idle"}')" 0 \
    "inboxd_account_state: the account that cannot log in is not idle"
broken_state=$(grep '^inboxd_account_state{account="broken",state="\(auth_failed\|syncing\)"} 1$' "$M" | wc -l)
is "$broken_state" 1 "it is auth_failed (its login was refused), or syncing again"
# Between its retries, which wait seconds for Dovecot's answer.
ok "between passes, it is auth_failed" wait_for 20 _broken_state_is auth_failed
is "$(prom_value "$M" 'inboxd_account_state{account="broken",state="failing"}')" 0 \
    "a refused login is auth_failed, not failing"
is "$(ops_wait_sql "SELECT count(*) FROM conversation_messages WHERE rfc_message_id = 'old-1@client.example'" 1 20)" 1 \
    "the old-dated message is stored"
wait_for 10 _archive_ingested
lag=$(prom_value "$M" 'inboxd_sync_lag_seconds{account="archive"}')
ok "an old Date makes no lag: inboxd_sync_lag_seconds{account=\"archive\"} is small ($lag)" \
    test "${lag%%.*}" -ge 0 -a "${lag%%.*}" -lt 600 2>/dev/null
rc=0
inboxd_stop "$PID" || rc=$?
is "$rc" 0 "SIGTERM: exit status 0"

LOG=$INBOXD_LOG
is "$(ops_log_count "$LOG" 'account=broken: IDLE connection lost')" 0 \
    "a login that never worked is no lost IDLE connection"
failed=$(ops_log_count "$LOG" 'account=broken: sync failed: ')
ok "the wrong password made failed passes ($failed)" test "$failed" -ge 1
idle_lines=$(ops_log_count "$LOG" 'account=broken: IDLE')
ok "the IDLE watcher adds at most one line of its own ($idle_lines)" \
    test "$idle_lines" -le 1
is "$(ops_log_count "$LOG" 'account=broken.*(denied|[Aa]uthenticat|[Ll]ogin)')" \
    "$((failed + idle_lines))" "each failure of the wrong password is logged once"
is "$(ops_log_count "$LOG" 'account=broken: sync works again')" 0 \
    "stopping before a pass is no successful pass"

# An address other hosts can reach --------------------------------------------------------

# The endpoint has no authentication: 0.0.0.0 is allowed, but
# --check-config and the start both say so.
PORT3=$(free_port)
CFG3=$TEST_TMP/inboxd-exposed.conf
{
	config_daemon "metrics_listen = 0.0.0.0:$PORT3"
	config_imap sales "$USER" "$PASS" "poll_interval = 2s"
} >"$CFG3"
inboxd_run exposed-check --config "$CFG3" --check-config
is "$INBOXD_RC" 0 "metrics_listen = 0.0.0.0: --check-config accepts it"
like "$(cat "$INBOXD_OUT")" \
    "warning: $CFG3:[0-9]+: \\[daemon\\] metrics_listen: 0\\.0\\.0\\.0:$PORT3 is reachable from other hosts.*no authentication" \
    "--check-config warns, naming file:line and key"
inboxd_start --config "$CFG3" --foreground
PID=$INBOXD_PID
wait_for 20 _ops_log_has "$INBOXD_LOG" "metrics on http://0\\.0\\.0\\.0:$PORT3/metrics"
is "$(ops_log_count "$INBOXD_LOG" "warning: metrics on http://0\\.0\\.0\\.0:$PORT3/metrics, reachable from other hosts and without authentication")" 1 \
    "the start warns that the endpoint is open to other hosts"
code=$(http_get "http://127.0.0.1:$PORT3/healthz" "$TEST_TMP/healthz")
ok "and serves it all the same (HTTP $code)" test "$code" != 000
rc=0
inboxd_stop "$PID" || rc=$?
is "$rc" 0 "SIGTERM: exit status 0"

# A port already taken -------------------------------------------------------------------------

# The daemon goes on without metrics, and says why.
PORT5=$(free_port)
"$PYTHON3" -c 'import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
open(sys.argv[2], "w").close()
time.sleep(30)' "$PORT5" "$TEST_TMP/taken" &
TAKER=$!
_harness_pids="${_harness_pids:-} $TAKER"
wait_for 10 test -e "$TEST_TMP/taken"
CFG5=$TEST_TMP/inboxd-taken.conf
{
	config_daemon "metrics_listen = 127.0.0.1:$PORT5"
	config_imap sales "$USER" "$PASS" "poll_interval = 2s"
} >"$CFG5"
inboxd_start --config "$CFG5" --foreground
PID=$INBOXD_PID
ok "a port in use: the log says metrics are off, and why" \
    ops_wait_log "$INBOXD_LOG" "cannot listen on 127\\.0\\.0\\.1:$PORT5; metrics are off: .*in use" 20
ok "and the daemon runs on" kill -0 "$PID"
rc=0
inboxd_stop "$PID" || rc=$?
is "$rc" 0 "SIGTERM: exit status 0"
kill "$TAKER" 2>/dev/null || :
wait "$TAKER" 2>/dev/null || :

# An account another instance took over --------------------------------------------------

# The daemon's database session, and with it its hold of the account, is
# cut; a session standing in for another instance is waiting for the
# hold and gets it. The daemon then stands by: the account is the other
# instance's to sync, and the daemon's health does not depend on it.
CFG4=$TEST_TMP/inboxd-standby.conf
{
	config_daemon "metrics_listen = 127.0.0.1:$PORT" "job_lease_check = 1s"
	config_imap sales "$USER" "$PASS" "poll_interval = 1s"
} >"$CFG4"
inboxd_start --config "$CFG4" --foreground
PID=$INBOXD_PID
LOG=$INBOXD_LOG
wait_for 20 _healthz_is 200
is "$(http_get "$BASE/healthz" "$TEST_TMP/healthz")" 200 "the holder of sales: /healthz 200"
ACC_ID=$(sql "SELECT id FROM mail_accounts WHERE name = 'sales'")
"$PYTHON3" -c '
import os, sys, time
import psycopg

conninfo, acc, ready, go = sys.argv[1:5]
with psycopg.connect(conninfo, autocommit=True) as conn:
    conn.execute("SELECT pg_advisory_lock(1768843876, %s)", (int(acc),))
    open(ready, "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.05)
' "$INBOXD_TEST_CONNINFO" "$ACC_ID" "$TEST_TMP/other.ready" "$TEST_TMP/other.go" \
    2>"$TEST_TMP/other.err" &
OTHER=$!
_harness_pids="${_harness_pids:-} $OTHER"
_lock_waiter()
{
	[ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
	    AND classid = 1768843876 AND objid = $ACC_ID AND NOT granted")" = 1 ]
}
ok "the other instance waits for the hold" wait_for 10 _lock_waiter
sql "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'
    AND classid = 1768843876 AND objid = $ACC_ID AND granted" >/dev/null
ok "the other instance has the hold" wait_for 10 test -e "$TEST_TMP/other.ready"
ok "the daemon stands by" \
    ops_wait_log "$LOG" 'account=sales: held by another instance; standing by' 30
# Past the three poll intervals /healthz allows between successful passes.
sleep 4
is "$(http_get "$BASE/healthz" "$TEST_TMP/healthz")" 200 \
    "an account another instance holds: /healthz 200"
is "$(unhealthy "$TEST_TMP/healthz")" "" "and no account is named unhealthy"
is "$("$PYTHON3" -c 'import json, sys
print(json.load(open(sys.argv[1]))["accounts"][0]["state"])' "$TEST_TMP/healthz" 2>/dev/null)" \
    standing_by "/healthz says sales is standing by"
touch "$TEST_TMP/other.go"
wait "$OTHER" 2>/dev/null || :
rc=0
inboxd_stop "$PID" || rc=$?
is "$rc" 0 "SIGTERM: exit status 0"

done_testing
