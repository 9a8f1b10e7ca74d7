#!/bin/bash
# The fleet benchmark: one daemon, N small IMAP accounts (issue 15).
#
#	bench/fleet.sh N MSGS [--server standin|dovecot] [--pg durable|fast]
#	               [--sync-timeout S] [--appends 100] [--seed 1]
#
# Builds inboxd -O2 into bench/build as run.sh does, starts a private
# PostgreSQL 15 through t/lib (durable by default, as run.sh's), and the
# IMAP server: bench/fleet_standin.py (the default; one asyncio process,
# users u1..uN@fleet.example, MSGS messages of 2-4 KB each) or Dovecot
# (N up to ~1,000: a process per session; mail written as Maildir files).
# One config holds N accounts (poll_interval 300 s, idle on); inboxd
# runs as a daemon. Measured:
#
#   - time until all N x MSGS messages are stored (row count every 0.5 s)
#   - inboxd's VmRSS and VmHWM then, and RSS per account
#   - database transactions during the first syncs (xact_commit delta)
#   - the stand-in's peak of logins in progress at once
#   - inboxd's CPU over 20 s once the first syncs are done (idle CPU)
#   - APPEND -> NOTIFY on inboxd_jobs for --appends messages to random
#     accounts (bench/fleet_latency.py): p50/p90/p99/max
#   - SIGTERM -> exit: time and status, with every session open
#   - a second run on an empty database: SIGTERM --stop-at seconds (3)
#     into the first syncs; the batches the stop let go (from the log)
#
# Checks are TAP; the report is also written to
# bench/build/fleet-N-MSGS-SERVER.txt, the daemon logs are kept in
# bench/build/fleet-logs/. Everything is bounded in time: the first syncs
# get --sync-timeout seconds (default 300 + N/10), a SIGTERM 30 s, and
# every process started here is stopped by its pid on exit.

set -u
set -o pipefail

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src_dir=$(cd "$bench_dir/.." && pwd)
build_dir=$bench_dir/build

usage()
{
	sed -n '2,5p' "${BASH_SOURCE[0]}" | sed 's/^#//'
	exit "${1:-2}"
}

[ $# -ge 2 ] || usage
n_acc=$1
msgs=$2
shift 2
case $n_acc$msgs in *[!0-9]*) usage ;; esac
server=standin
pg_profile=durable
sync_timeout=
appends=100
seed=1
stop_wait=30
stop_at=3
while [ $# -gt 0 ]; do
	case $1 in
	--server) server=$2; shift 2 ;;
	--pg) pg_profile=$2; shift 2 ;;
	--sync-timeout) sync_timeout=$2; shift 2 ;;
	--appends) appends=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	--stop-at) stop_at=$2; shift 2 ;;
	-h | --help) usage 0 ;;
	*) echo "fleet.sh: unknown argument: $1" >&2; usage ;;
	esac
done
case $server in standin | dovecot) ;; *) usage ;; esac
case $pg_profile in durable | fast) ;; *) usage ;; esac
[ -n "$sync_timeout" ] || sync_timeout=$((300 + n_acc / 10))

# Every account is a socket in inboxd, and every session one in the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || :

say()
{
	printf '%s\n' "$*"
}

# Build, as run.sh -------------------------------------------------------------

mkdir -p "$build_dir"
if [ ! -f "$build_dir/Makefile" ]; then
	echo "building inboxd (-O2 -g) in $build_dir" >&2
	(cd "$build_dir" && CFLAGS="-O2 -g" "$src_dir/configure" \
	    >configure.log 2>&1) || { tail -n 20 "$build_dir/configure.log" >&2; exit 1; }
fi
(cd "$build_dir" && make -j2 inboxd inboxctl >make.log 2>&1) ||
    { tail -n 30 "$build_dir/make.log" >&2; exit 1; }

export top_builddir=$build_dir
# shellcheck source=../t/lib/harness.sh
. "$src_dir/t/lib/harness.sh"
export INBOXD_SQL_DIR=$src_dir/sql
INBOXD_TEST_TIMEOUT=120

# PostgreSQL ----------------------------------------------------------------------

pg_start || bail_out "PostgreSQL did not start"
if [ "$pg_profile" = durable ]; then
	s="fsync=on synchronous_commit=on full_page_writes=on"
else
	s="fsync=off synchronous_commit=off full_page_writes=off"
fi
s="$s shared_buffers=256MB max_wal_size=4GB checkpoint_timeout=15min"
s="$s max_connections=300"
for kv in $s; do
	psql_su "ALTER SYSTEM SET ${kv%%=*} = '${kv#*=}'" ||
	    bail_out "PostgreSQL setting $kv failed"
done
pg_restart || bail_out "PostgreSQL did not restart"

# The IMAP server -------------------------------------------------------------------

password=secret
standin_pid=
ctl_port=
stats_file=$TEST_TMP/standin.stats
case $server in
standin)
	"$PYTHON3" "$bench_dir/fleet_standin.py" --users "$n_acc" \
	    --msgs "$msgs" --port-file "$TEST_TMP/imap.port" \
	    --control-port-file "$TEST_TMP/control.port" \
	    --stats "$stats_file" --lifetime $((sync_timeout + 1200)) \
	    </dev/null >"$TEST_TMP/standin.log" 2>&1 &
	standin_pid=$!
	_harness_pids="$_harness_pids $standin_pid"
	wait_for 20 test -s "$TEST_TMP/imap.port" ||
	    bail_out "the stand-in did not start: $(cat "$TEST_TMP/standin.log")"
	IMAP_PORT=$(cat "$TEST_TMP/imap.port")
	ctl_port=$(cat "$TEST_TMP/control.port")
	server_desc="bench/fleet_standin.py (asyncio, one process)"
	;;
dovecot)
	users=()
	for ((i = 1; i <= n_acc; i++)); do
		users+=("u$i@fleet.example:$password")
	done
	# One process per session (client_limit 1, as recommended), so the
	# limits go above N; all sessions come from 127.0.0.1.
	DOVECOT_EXTRA="mail_max_userip_connections = $((n_acc + 100))
default_process_limit = $((n_acc + 200))
default_client_limit = $((2 * n_acc + 1000))
default_vsz_limit = 0
service imap {
  process_limit = $((n_acc + 200))
}
service imap-login {
  process_limit = 64
  client_limit = $((n_acc + 200))
  service_count = 0
}
service anvil {
  client_limit = $((2 * n_acc + 1000))
}
service auth {
  client_limit = $((2 * n_acc + 1000))
}"
	export DOVECOT_EXTRA
	dovecot_start "${users[@]}" || bail_out "Dovecot did not start"
	# The messages, written straight into each user's Maildir/cur.
	"$PYTHON3" - "$TEST_TMP/mail" "$n_acc" "$msgs" "$bench_dir" <<-'PY' ||
	import os, sys
	sys.path.insert(0, sys.argv[4])
	import fleet_standin as fs
	top, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
	for i in range(1, n + 1):
	    md = os.path.join(top, "u%d@fleet.example" % i, "Maildir")
	    for d in ("cur", "new", "tmp"):
	        os.makedirs(os.path.join(md, d), exist_ok=True)
	    for uid in range(1, m + 1):
	        raw = fs.message(i, uid)
	        name = "1000000000.M%08dP1.fleet,S=%d:2,%s" % (
	            uid, len(raw), "S" if uid % 3 else "")
	        with open(os.path.join(md, "cur", name), "wb") as f:
	            f.write(raw)
	PY
	    bail_out "Maildir delivery failed"
	chown -R "$DOVECOT_UID:$DOVECOT_GID" "$TEST_TMP/mail"
	server_desc="Dovecot $(dovecot --version 2>/dev/null | cut -d ' ' -f 1) (a process per session)"
	;;
esac
server_pid()
{
	if [ "$server" = standin ]; then echo "$standin_pid"; else dovecot_pid; fi
}

# The stand-in's counters, as "key value" for the keys asked.
standin_stat()
{
	[ -n "$ctl_port" ] || { echo n/a; return; }
	"$PYTHON3" - "$ctl_port" "$@" <<-'PY'
	import json, socket, sys
	s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 10)
	s.sendall(b"STATS\nQUIT\n")
	d = json.loads(s.makefile().readline())
	print(" ".join(str(d.get(k, "n/a")) for k in sys.argv[2:]))
	PY
}

# Dovecot's open IMAP sessions (its imap processes).
dovecot_sessions()
{
	ps -o comm= --ppid "$(dovecot_pid)" | grep -c '^imap$'
}

open_sessions()
{
	if [ "$server" = standin ]; then standin_stat open; else dovecot_sessions; fi
}

# Configuration and schema ------------------------------------------------------------

secret=$(config_secret fleet "$password")
conf=$TEST_TMP/inboxd.conf
# One group from config_imap, repeated for u1..uN by awk: a shell loop
# over config_imap forks too much for 10,000 accounts.
group=$(config_imap "u@N@" "u@N@@fleet.example" "$password" \
    "port = $IMAP_PORT" "password_file = $secret" \
    "poll_interval = 300" "idle = true")
{
	config_daemon
	awk -v n="$n_acc" -v g="$group" \
	    'BEGIN { for (i = 1; i <= n; i++) { s = g; gsub(/@N@/, i, s); print s } }'
} >"$conf"
run_inboxctl --config "$conf" migrate >"$TEST_TMP/migrate.log" 2>&1 ||
    bail_out "inboxctl migrate failed: $(tail -n 5 "$TEST_TMP/migrate.log")"

# Helpers ------------------------------------------------------------------------------

queries=0
sql1()
{
	queries=$((queries + 1))
	psql_q "$1"
}

xacts()
{
	psql_su "SELECT xact_commit FROM pg_stat_database WHERE datname = 'inboxd'"
}

cpu_ticks()
{
	awk '{ s = $0; sub(/.*\) /, "", s); split(s, f, " ");
	    print f[12] + f[13] }' "/proc/$1/stat"
}

status_kb()
{
	sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"
}

now()
{
	date +%s.%N
}

minus()
{
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'
}

div()
{
	awk -v a="$1" -v b="$2" -v f="${3:-%.1f}" \
	    'BEGIN { if (b > 0) printf f, a / b; else printf "n/a" }'
}

# SIGTERM to $1 and wait at most $stop_wait s; sets stop_s and stop_rc
# ("killed" when SIGKILL was needed).
term_and_wait()
{
	local pid=$1 t0 i
	t0=$(now)
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < stop_wait * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		stop_s=">$stop_wait"
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		stop_rc=killed
	else
		stop_s=$(minus "$(now)" "$t0")
		wait "$pid" 2>/dev/null
		stop_rc=$?
	fi
}

logs_dir=$build_dir/fleet-logs
mkdir -p "$logs_dir"
tag=$n_acc-$msgs-$server
expected=$((n_acc * msgs))

# Run 1: the first syncs, idle, push, SIGTERM --------------------------------------------

load_before=$(cut -d ' ' -f 1-3 /proc/loadavg)
x0=$(xacts)
inboxd_start --config "$conf"
pid=$INBOXD_PID
t0=$(now)
rows=0
sync_s=
deadline=$(awk -v t="$t0" -v s="$sync_timeout" 'BEGIN { printf "%d", t + s }')
progress=$TEST_TMP/progress
while :; do
	rows=$(sql1 "SELECT count(*) FROM conversation_messages") || rows=0
	t=$(now)
	printf '%s %s\n' "$(minus "$t" "$t0")" "$rows" >>"$progress"
	if [ "$rows" -ge "$expected" ]; then
		sync_s=$(minus "$t" "$t0")
		break
	fi
	kill -0 "$pid" 2>/dev/null || break
	[ "${t%.*}" -lt "$deadline" ] || break
	sleep 0.5
done
alive_after_sync=no
kill -0 "$pid" 2>/dev/null && alive_after_sync=yes
load_sync=$(cut -d ' ' -f 1-3 /proc/loadavg)
sleep 1.5                       # backends report their counters when idle
x1=$(xacts)
xact_delta=$((x1 - x0 - queries))
synced=$(sql1 "SELECT count(*) FROM (SELECT account_id
    FROM conversation_messages GROUP BY account_id
    HAVING count(*) >= $msgs) s")
login_peak=n/a
[ "$server" = standin ] && login_peak=$(standin_stat in_login_peak)

# Then until every session is in IDLE (the stand-in counts them), at
# most 120 s, so that the idle CPU below is that of a fleet at rest.
all_idle_s=n/a
if [ "$server" = standin ] && [ "$alive_after_sync" = yes ]; then
	for ((i = 0; i < 240; i++)); do
		if [ "$(standin_stat idling)" -ge "$n_acc" ]; then
			all_idle_s=$(minus "$(now)" "$t0")
			break
		fi
		sleep 0.5
	done
fi

rss_kb=n/a hwm_kb=n/a idle_cpu=n/a
if [ "$alive_after_sync" = yes ]; then
	rss_kb=$(status_kb "$pid" VmRSS)
	hwm_kb=$(status_kb "$pid" VmHWM)
	threads=$(sed -n 's/^Threads:[[:space:]]*//p' "/proc/$pid/status")
	fds=$(ls "/proc/$pid/fd" | wc -l)
	c0=$(cpu_ticks "$pid")
	sleep 20
	c1=$(cpu_ticks "$pid")
	idle_cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$(getconf CLK_TCK)" \
	    'BEGIN { printf "%.2f", 100 * (b - a) / hz / 20 }')
	rss_idle_kb=$(status_kb "$pid" VmRSS)
fi
sessions_open=$(open_sessions)
idling=n/a
[ "$server" = standin ] && idling=$(standin_stat idling)

lat_line="RESULT added=0 notified=0 missing=0 p50=nan p90=nan p99=nan max=nan"
if [ "$alive_after_sync" = yes ] && [ "$appends" -gt 0 ]; then
	if [ "$server" = standin ]; then
		lat_src=(--control-port "$ctl_port")
	else
		lat_src=(--imap-port "$IMAP_PORT" --password "$password")
	fi
	timeout --kill-after=10 600 "$PYTHON3" "$bench_dir/fleet_latency.py" \
	    --conninfo "$INBOXD_TEST_CONNINFO" --users "$n_acc" \
	    "${lat_src[@]}" --count "$appends" --timeout 30 --budget 300 \
	    --seed "$seed" --out "$TEST_TMP/latency.txt" \
	    >"$TEST_TMP/latency.out" 2>&1
	lat_line=$(grep '^RESULT' "$TEST_TMP/latency.out" || echo "$lat_line")
fi
lat()
{
	printf '%s\n' "$lat_line" | tr ' ' '\n' | sed -n "s/^$1=//p"
}
rows_after_push=$(sql1 "SELECT count(*) FROM conversation_messages")
dups=$(sql1 "SELECT count(*) - count(DISTINCT (account_id, rfc_message_id))
    FROM conversation_messages")

sessions_at_term=$(open_sessions)
stop_s=n/a stop_rc=n/a
if kill -0 "$pid" 2>/dev/null; then
	term_and_wait "$pid"
else
	wait "$pid" 2>/dev/null
	stop_rc="exited before SIGTERM ($?)"
fi
stop1_s=$stop_s stop1_rc=$stop_rc
sleep 1
sessions_after_term=$(open_sessions)
cp "$INBOXD_LOG" "$logs_dir/inboxd-$tag-run1.log"
cp "$progress" "$logs_dir/progress-$tag.txt"
log1=$INBOXD_LOG
stats1=n/a
[ "$server" = standin ] && stats1=$(standin_stat sessions logins \
    login_failures open_peak in_login_peak idle_peak commands pushes)

# Run 2: SIGTERM --stop-at s into the first syncs, on an empty database ------------------

psql -XAtq -v ON_ERROR_STOP=1 -U postgres -d postgres \
    -c "DROP DATABASE inboxd WITH (FORCE)" \
    -c "CREATE DATABASE inboxd OWNER inboxd" >/dev/null ||
    bail_out "could not empty the database"
run_inboxctl --config "$conf" migrate >"$TEST_TMP/migrate2.log" 2>&1 ||
    bail_out "inboxctl migrate failed: $(tail -n 5 "$TEST_TMP/migrate2.log")"
inboxd_start --config "$conf"
pid2=$INBOXD_PID
sleep "$stop_at"
rows_at_term2=$(psql_q "SELECT count(*) FROM conversation_messages")
sessions_at_term2=$(open_sessions)
stop2_s=n/a stop2_rc=n/a
if kill -0 "$pid2" 2>/dev/null; then
	term_and_wait "$pid2"
	stop2_s=$stop_s stop2_rc=$stop_rc
fi
cp "$INBOXD_LOG" "$logs_dir/inboxd-$tag-run2.log"
log2=$INBOXD_LOG
let_go=$(sed -n 's/.*database: \([0-9]*\) batches not stored at the stop.*/\1/p' "$log2" |
    awk '{ n += $1 } END { print n + 0 }')
rows_after2=$(psql_q "SELECT count(*) FROM conversation_messages")
# A cursor beyond what is stored would lose mail: after the stop, every
# account's cursor is the highest UID it has stored (0 when none).
cursors_off2=$(psql_q "SELECT count(*) FROM mail_accounts a
    LEFT JOIN sync_state s ON s.account_id = a.id AND s.mailbox = 'INBOX'
    WHERE coalesce(s.last_uid, 0) <> coalesce((SELECT max(l.uid)
        FROM message_locations l WHERE l.account_id = a.id), 0)")
load_after=$(cut -d ' ' -f 1-3 /proc/loadavg)

# Lines at warning or error, but the expected "tls = none" warning.
errors()
{
	grep ' error: \| warning: \|FATAL\|CRIT' "$1" 2>/dev/null |
	    grep -vc 'tls = none: the password'
}

# The most frequent of those lines, the account name and time stamp
# taken out, with their counts.
error_kinds()
{
	grep ' error: \| warning: \|FATAL\|CRIT' "$1" 2>/dev/null |
	    grep -v 'tls = none: the password' | cut -d ' ' -f 2- |
	    sed 's/account=u[0-9]*/account=uK/g; s/[0-9][0-9]*/N/g' |
	    sort | uniq -c | sort -rn | head -n 8
}

# Report ---------------------------------------------------------------------------------

report=$build_dir/fleet-$tag.txt
{
	say "inboxd fleet benchmark: $n_acc accounts x $msgs messages"
	say "  machine          $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo)"
	say "  inboxd           $build_dir/inboxd (last change to src/: $(cd "$src_dir" && git log -1 --format=%h -- src sql 2>/dev/null || echo '?'))"
	say "  IMAP server      $server_desc"
	say "  PostgreSQL       $pg_profile"
	say "  load average     $load_before before, $load_sync at the end of the first syncs, $load_after at the end"
	say ""
	say "  first syncs      ${sync_s:-not done within $sync_timeout s} s ($rows of $expected messages stored; $synced of $n_acc accounts complete)"
	if [ "$server" = standin ]; then
		say "  all in IDLE      ${all_idle_s} s after the start (every session in IDLE, stand-in's count; idle CPU is measured after it)"
	fi
	say "  transactions     $xact_delta committed during the first syncs ($(div "$xact_delta" "$n_acc") per account)"
	[ "$server" = standin ] &&
	    say "  logins at once   $login_peak at most in progress (stand-in's count)"
	say "  RSS              VmRSS $(div "$rss_kb" 1024) MB, VmHWM $(div "$hwm_kb" 1024) MB after the first syncs; $(div "$rss_kb" "$n_acc") KB per account; VmRSS $(div "${rss_idle_kb:-0}" 1024) MB after 20 s idle"
	say "  process          ${threads:-?} threads, ${fds:-?} open descriptors"
	say "  idle CPU         $idle_cpu % of one core over 20 s$([ "$server" = standin ] && echo " once all were in IDLE" || echo " after the first syncs")"
	say "  sessions         $sessions_open open after the first syncs$([ "$server" = standin ] && echo ", $idling in IDLE")"
	say "  APPEND->NOTIFY   $(lat notified) of $(lat added) notified, $(lat missing) missing: p50 $(lat p50) s, p90 $(lat p90) s, p99 $(lat p99) s, max $(lat max) s"
	say "  SIGTERM          exit after $stop1_s s, status $stop1_rc ($sessions_at_term sessions open at SIGTERM, $sessions_after_term 1 s after)"
	say "  SIGTERM at $stop_at s   exit after $stop2_s s, status $stop2_rc ($sessions_at_term2 sessions open, $rows_at_term2 messages stored at SIGTERM, $rows_after2 at the exit; $let_go batches let go)"
	[ "$server" = standin ] && say "  stand-in         sessions logins failures open_peak login_peak idle_peak commands pushes: $stats1"
	say "  log lines        warning/error (but tls = none): run 1 $(errors "$log1"), run 2 $(errors "$log2") (logs in $logs_dir)"
	error_kinds "$log1" | sed 's/^/    run 1: /'
	error_kinds "$log2" | sed 's/^/    run 2: /'
	say "  after SIGTERM    run 1: $(sed -n '/signal 15/,$p' "$log1" | sed 1d | wc -l) log lines; run 2: $(sed -n '/signal 15/,$p' "$log2" | sed 1d | wc -l) log lines, $(sed -n '/signal 15/,$p' "$log2" | grep -c 'watching INBOX with IDLE') of them \"watching INBOX with IDLE\""
} | tee "$report"

# Checks, as TAP.
is "${sync_s:+done}" done "every first sync done within $sync_timeout s"
is "$synced" "$n_acc" "every account holds its $msgs messages"
is "$rows_after_push" "$((expected + $(lat added)))" \
    "every message stored (the appended ones included)"
is "$dups" 0 "no message stored twice"
is "$(lat missing)" 0 "every appended message notified within 30 s"
is "$stop1_rc" 0 "SIGTERM after the first syncs: exit 0"
is "$stop2_rc" 0 "SIGTERM $stop_at s into the first syncs: exit 0"
ok "SIGTERM $stop_at s into the first syncs: exit within 5 s ($stop2_s s)" \
    awk -v s="$stop2_s" 'BEGIN { exit !(s ~ /^[0-9.]+$/ && s + 0 <= 5) }'
is "$cursors_off2" 0 "after that stop, every cursor covers exactly what is stored"
if [ "$alive_after_sync" != yes ]; then
	diag "inboxd was not running after the first syncs; last lines:"
	diag "$(tail -n 20 "$log1")"
fi
done_testing
