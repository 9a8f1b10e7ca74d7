#!/bin/bash
# The inboxd benchmark: initial IMAP sync throughput, or new-mail latency.
#
#	bench/run.sh [--count 11000] [--connections 4] [--seed 1] [--avg-kb 40]
#	             [--unseen-pct 7]
#	             [--batch-size N] [--pg durable|fast]
#	             [--profile none|perf|callgrind] [--src DIR]
#	bench/run.sh --latency [--count 100] [--poll-interval 60] [--jitter 0.5]
#	             [--pg ...]
#
# Throughput mode builds inboxd with -O2 into bench/build (out of tree),
# generates the corpus (cached in bench/build/corpus), starts a private
# PostgreSQL 15 and Dovecot on 127.0.0.1 through t/lib, puts the corpus
# into the Dovecot user's Maildir, runs "inboxd --once" under
# /usr/bin/time -v and prints throughput, peak RSS, the CPU time of
# inboxd, PostgreSQL and Dovecot, and correctness checks (rows,
# conversations, jobs, and a second --once that must add nothing). Then
# mbsync (isync, installed when missing) pulls the same mailbox into a
# Maildir, and both wall times and their ratio are printed. It exits
# non-zero when a check fails.
#
# Latency mode runs the daemon (not --once) and APPENDs messages one at a
# time over IMAP, a random pause of up to --jitter seconds apart,
# measuring from the APPEND to the NOTIFY on inboxd_jobs. The poll
# interval stays at the daemon's default (60 s), so that a latency under
# a second can only come from IDLE push.
#
# --pg durable (the default, and the headline) is a PostgreSQL set up as a
# production server would be: fsync, synchronous_commit and
# full_page_writes on, shared_buffers 256MB, max_wal_size 4GB. --pg fast
# is the test suite's throwaway setting (fsync, synchronous_commit and
# full_page_writes off), for comparison.
#
# --src DIR builds inboxd from another source tree (a patched copy, to
# measure a change before it lands) into bench/build/src-NAME.
#
# Everything is bounded: the sync gets INBOXD_BENCH_TIMEOUT seconds
# (default 900), and every server started here is stopped on exit.

set -u
set -o pipefail

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src_dir=$(cd "$bench_dir/.." && pwd)
build_dir=$bench_dir/build
inboxd_src=$src_dir

mode=throughput
count=
connections=4
seed=1
avg_kb=40
unseen_pct=7
batch_size=
pg_profile=durable
profile=none
poll_interval=60
jitter=0.5
timeout_s=${INBOXD_BENCH_TIMEOUT:-900}

usage()
{
	sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^#//'
	exit "${1:-2}"
}

while [ $# -gt 0 ]; do
	case $1 in
	--count) count=$2; shift 2 ;;
	--connections) connections=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	--avg-kb) avg_kb=$2; shift 2 ;;
	--unseen-pct) unseen_pct=$2; shift 2 ;;
	--batch-size) batch_size=$2; shift 2 ;;
	--pg) pg_profile=$2; shift 2 ;;
	--profile) profile=$2; shift 2 ;;
	--latency) mode=latency; shift ;;
	--src) inboxd_src=$(cd "$2" && pwd) || exit 2; shift 2 ;;
	--poll-interval) poll_interval=$2; shift 2 ;;
	--jitter) jitter=$2; shift 2 ;;
	-h | --help) usage 0 ;;
	*) echo "run.sh: unknown argument: $1" >&2; usage ;;
	esac
done
if [ -z "$count" ]; then
	if [ "$mode" = latency ]; then count=100; else count=11000; fi
fi
case $pg_profile in durable | fast) ;; *) usage ;; esac
case $profile in none | perf | callgrind) ;; *) usage ;; esac

say()
{
	printf '%s\n' "$*"
}

# Build -------------------------------------------------------------------------

# The daemon is built here; bench/build itself when it is this tree's.
bin_dir=$build_dir
if [ "$inboxd_src" != "$src_dir" ]; then
	bin_dir=$build_dir/src-$(basename "$inboxd_src")
fi

build()
{
	mkdir -p "$bin_dir"
	if [ ! -f "$bin_dir/Makefile" ]; then
		echo "building inboxd (-O2 -g) from $inboxd_src in $bin_dir" >&2
		(cd "$bin_dir" && CFLAGS="-O2 -g" "$inboxd_src/configure" \
		    >configure.log 2>&1) || {
			tail -n 20 "$bin_dir/configure.log" >&2
			return 1
		}
	fi
	(cd "$bin_dir" && make -j2 inboxd inboxctl >make.log 2>&1) || {
		tail -n 30 "$bin_dir/make.log" >&2
		return 1
	}
}

# Corpus ------------------------------------------------------------------------

# Prints the directory of the cached corpus, generating it when missing.
corpus()
{
	local n=$1 s=$2 dir
	dir=$build_dir/corpus/n$n-s$s-kb$avg_kb
	[ "$unseen_pct" = 7 ] || dir=$dir-u$unseen_pct
	if [ ! -f "$dir/manifest.json" ]; then
		rm -rf "$dir.tmp"
		mkdir -p "$build_dir/corpus"
		echo "generating $n messages (seed $s) into $dir" >&2
		"${PYTHON3:-/usr/bin/python3}" "$bench_dir/gen_corpus.py" \
		    --count "$n" --seed "$s" --avg-kb "$avg_kb" \
		    --unseen-pct "$unseen_pct" \
		    --out "$dir.tmp" >/dev/null || return 1
		mv "$dir.tmp" "$dir"
	fi
	echo "$dir"
}

manifest()
{
	"${PYTHON3:-/usr/bin/python3}" -c 'import json, sys
print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1/manifest.json" "$2"
}

build || exit 1
corpus_dir=$(corpus "$count" "$seed") || exit 1

# Servers -------------------------------------------------------------------------

export top_builddir=$bin_dir
# shellcheck source=../t/lib/harness.sh
. "$src_dir/t/lib/harness.sh"
export INBOXD_SQL_DIR=$inboxd_src/sql

pg_tune()
{
	local s
	if [ "$pg_profile" = durable ]; then
		s="fsync=on synchronous_commit=on full_page_writes=on"
	else
		s="fsync=off synchronous_commit=off full_page_writes=off"
	fi
	s="$s shared_buffers=256MB max_wal_size=4GB checkpoint_timeout=15min"
	if [ "$profile" != none ]; then
		s="$s shared_preload_libraries=pg_stat_statements"
		s="$s track_io_timing=on log_connections=on"
	fi
	for kv in $s; do
		psql_su "ALTER SYSTEM SET ${kv%%=*} = '${kv#*=}'" || return 1
	done
	pg_restart || return 1
	if [ "$profile" != none ]; then
		psql_su "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" ||
		    return 1
	fi
}

pg_start || bail_out "PostgreSQL did not start"
pg_tune || bail_out "PostgreSQL settings failed"
dovecot_start || bail_out "Dovecot did not start"

user=sales@example.com
password=secret
conf=$TEST_TMP/inboxd.conf
extra=("connections = $connections")
[ -n "$batch_size" ] && extra+=("batch_size = $batch_size")
[ "$mode" = latency ] && extra+=("poll_interval = $poll_interval")
inboxd_config "$conf" "${extra[@]}"
run_inboxctl --config "$conf" migrate >"$TEST_TMP/migrate.log" 2>&1 ||
    bail_out "inboxctl migrate failed: $(cat "$TEST_TMP/migrate.log")"

# CPU seconds (user + system, children reaped included) of a process and
# everything below it, from /proc.
tree_cpu()
{
	"$PYTHON3" - "$1" <<-'EOF'
	import os, sys
	root = int(sys.argv[1])
	hz = os.sysconf("SC_CLK_TCK")
	kids, cpu = {}, {}
	for p in os.listdir("/proc"):
	    if not p.isdigit():
	        continue
	    try:
	        f = open("/proc/%s/stat" % p).read()
	    except OSError:
	        continue
	    rest = f[f.rindex(")") + 2:].split()
	    kids.setdefault(int(rest[1]), []).append(int(p))
	    cpu[int(p)] = sum(int(x) for x in rest[11:15])
	total, todo = 0, [root]
	while todo:
	    p = todo.pop()
	    total += cpu.get(p, 0)
	    todo += kids.get(p, [])
	print("%.2f" % (total / hz))
	EOF
}

pg_pid()
{
	head -n 1 "$TEST_TMP/pg/data/postmaster.pid"
}

dovecot_pid()
{
	cat "$DOVECOT_DIR/run/master.pid"
}

# "a b" -> a - b, with two decimals.
minus()
{
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'
}

div()
{
	awk -v a="$1" -v b="$2" -v f="${3:-%.1f}" \
	    'BEGIN { if (b > 0) printf f, a / b; else printf "n/a" }'
}

sql1()
{
	psql_q "$1"
}

# Latency mode ----------------------------------------------------------------------

if [ "$mode" = latency ]; then
	inboxd_start --config "$conf"
	say "inboxd pid $INBOXD_PID, poll_interval $poll_interval s, log $INBOXD_LOG"
	files=("$corpus_dir"/cur/*)
	"$PYTHON3" "$bench_dir/latency.py" --conninfo "$INBOXD_TEST_CONNINFO" \
	    --port "$IMAP_PORT" --user "$user" --password "$password" \
	    --timeout $((poll_interval + 30)) --jitter "$jitter" \
	    --seed "$seed" --out "$build_dir/latency-last.txt" "${files[@]}"
	rc=$?
	inboxd_stop || { say "inboxd did not stop cleanly"; rc=1; }
	if grep -qi 'idle' "$INBOXD_LOG"; then
		say "daemon log mentions IDLE:"
		grep -i 'idle' "$INBOXD_LOG" | head -n 3
	fi
	exit "$rc"
fi

# Throughput mode ---------------------------------------------------------------------

md=$(maildir_path "$user")
mkdir -p "$md/cur" "$md/new" "$md/tmp"
cp -a "$corpus_dir/cur/." "$md/cur/" || bail_out "copy of the corpus failed"
chown -R 65534:65534 "$TEST_TMP/mail/$user"
n_expected=$(manifest "$corpus_dir" count)
bytes=$(manifest "$corpus_dir" bytes)
threads_expected=$(manifest "$corpus_dir" threads)

# A real server has its index already: build it before the clock starts.
t0=$(date +%s.%N)
n_imap=$(imap_count "$user" "$password" INBOX) || bail_out "IMAP SELECT failed"
t1=$(date +%s.%N)
[ "$n_imap" = "$n_expected" ] ||
    bail_out "Dovecot sees $n_imap messages, the corpus has $n_expected"
index_s=$(minus "$t1" "$t0")

cpu_pg0=$(tree_cpu "$(pg_pid)")
cpu_dc0=$(tree_cpu "$(dovecot_pid)")

prof_dir=$build_dir/profile-$profile
wrap=()
case $profile in
perf)
	rm -rf "$prof_dir" && mkdir -p "$prof_dir"
	psql_su "SELECT pg_stat_statements_reset()" >/dev/null
	perf record -a -F 499 -o "$prof_dir/perf.data" \
	    >"$prof_dir/perf-record.log" 2>&1 &
	perf_pid=$!
	sleep 1
	;;
callgrind)
	rm -rf "$prof_dir" && mkdir -p "$prof_dir"
	psql_su "SELECT pg_stat_statements_reset()" >/dev/null
	wrap=(valgrind --tool=callgrind --callgrind-out-file="$prof_dir/callgrind.out")
	;;
esac

# The processes below PID, one a line, deepest last.
descendants()
{
	local p
	for p in $(ps -o pid= --ppid "$1"); do
		echo "$p"
		descendants "$p"
	done
}

log1=$TEST_TMP/inboxd.once1.log
timing=$TEST_TMP/time1.txt
load_before=$(cut -d ' ' -f 1-3 /proc/loadavg)
pg_log_mark=$(wc -l <"$TEST_TMP/pg/log")
timeout --kill-after=10 "$timeout_s" /usr/bin/time -v -o "$timing" \
    "${wrap[@]}" "$bin_dir/inboxd" --config "$conf" --once \
    </dev/null >"$log1" 2>&1 &
run_pid=$!
sleep 0.2
inboxd_pids=$(descendants "$run_pid" | tr '\n' ' ')
wait "$run_pid"
rc1=$?
load_after=$(cut -d ' ' -f 1-3 /proc/loadavg)

if [ "$profile" = perf ]; then
	kill -INT "$perf_pid"
	wait "$perf_pid"
fi
cpu_pg=$(minus "$(tree_cpu "$(pg_pid)")" "$cpu_pg0")
cpu_dc=$(minus "$(tree_cpu "$(dovecot_pid)")" "$cpu_dc0")

field()
{
	sed -n "s/^[[:space:]]*$1: //p" "$timing"
}
wall=$(field 'Elapsed (wall clock) time (h:mm:ss or m:ss)' |
    awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
rss_kb=$(field 'Maximum resident set size (kbytes)')
user_s=$(field 'User time (seconds)')
sys_s=$(field 'System time (seconds)')

mb=$(div "$bytes" 1048576)
rows=$(sql1 "SELECT count(*) FROM conversation_messages")
# Throughput counts what was stored, not what was offered.
stored_mb=$(awk -v b="$bytes" -v r="$rows" -v n="$n_expected" \
    'BEGIN { printf "%.1f", b * r / n / 1048576 }')
convs=$(sql1 "SELECT count(*) FROM conversations")
embeds=$(sql1 "SELECT count(*) FROM jobs WHERE kind = 'embed_message'")
suggests=$(sql1 "SELECT count(*) FROM jobs WHERE kind = 'suggest_reply'")
events=$(sql1 "SELECT count(*) FROM events")
automated=$(sql1 "SELECT count(*) FROM conversation_messages WHERE is_automated")
outbound=$(sql1 "SELECT count(*) FROM conversation_messages WHERE direction = 'outbound'")
cursor=$(sql1 "SELECT string_agg(mailbox || ' ' || last_uid, ', ' ORDER BY mailbox) FROM sync_state")
db_mb=$(div "$(sql1 "SELECT pg_database_size(current_database())")" 1048576 %.0f)

# A second pass must find nothing new.
log2=$TEST_TMP/inboxd.once2.log
t0=$(date +%s.%N)
timeout --kill-after=10 120 "$bin_dir/inboxd" --config "$conf" --once \
    </dev/null >"$log2" 2>&1
rc2=$?
t1=$(date +%s.%N)
again_s=$(minus "$t1" "$t0")
rows2=$(sql1 "SELECT count(*) FROM conversation_messages")
convs2=$(sql1 "SELECT count(*) FROM conversations")
jobs2=$(sql1 "SELECT count(*) FROM jobs")
jobs1=$((embeds + suggests))
events2=$(sql1 "SELECT count(*) FROM events")

cpu_total=$(awk -v a="$user_s" -v b="$sys_s" -v c="$cpu_pg" -v d="$cpu_dc" \
    'BEGIN { printf "%.2f", a + b + c + d }')

# mbsync pulls the same mailbox into a Maildir, in the same run: the
# reference wall time (issue: inboxd at most 0.65 of it).
mbsync_run()
{
	local dir=$TEST_TMP/mbsync rc=$TEST_TMP/mbsyncrc cpu0
	command -v mbsync >/dev/null ||
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q isync \
		>/dev/null 2>&1 || return 1
	mkdir -p "$dir"
	cat >"$rc" <<-EOF
	IMAPAccount bench
	Host 127.0.0.1
	Port $IMAP_PORT
	User $user
	Pass $password
	SSLType None
	AuthMechs PLAIN

	IMAPStore far
	Account bench

	MaildirStore near
	Path $dir/
	Inbox $dir/INBOX

	Channel bench
	Far :far:
	Near :near:
	Patterns INBOX
	Sync Pull
	Create Near
	SyncState *
	EOF
	cpu0=$(tree_cpu "$(dovecot_pid)")
	timeout --kill-after=10 "$timeout_s" /usr/bin/time -v \
	    -o "$TEST_TMP/time-mbsync.txt" mbsync -c "$rc" -q bench \
	    >"$TEST_TMP/mbsync.log" 2>&1 || return 1
	mb_cpu_dc=$(minus "$(tree_cpu "$(dovecot_pid)")" "$cpu0")
	mb_files=$(find "$dir/INBOX" -type f -path '*/cur/*' -o -type f \
	    -path '*/new/*' | wc -l)
}
mb_wall=n/a mb_user=n/a mb_sys=n/a mb_cpu_dc=n/a mb_files=0
if mbsync_run; then
	timing_saved=$timing
	timing=$TEST_TMP/time-mbsync.txt
	mb_wall=$(field 'Elapsed (wall clock) time (h:mm:ss or m:ss)' |
	    awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
	mb_user=$(field 'User time (seconds)')
	mb_sys=$(field 'System time (seconds)')
	timing=$timing_saved
else
	note "mbsync failed: $(tail -n 3 "$TEST_TMP/mbsync.log" 2>/dev/null)"
fi

report=$build_dir/last-run.txt
{
	say "inboxd initial IMAP sync benchmark"
	say "  machine          $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	say "  corpus           $n_expected messages, $mb MB, seed $seed, avg $(manifest "$corpus_dir" avg_kb) KB, $threads_expected threads, $(manifest "$corpus_dir" unseen 2>/dev/null || echo '?') unseen"
	say "  settings         connections=$connections${batch_size:+ batch_size=$batch_size} pg=$pg_profile profile=$profile"
	say "  inboxd           $bin_dir/inboxd (source $inboxd_src, $(cd "$inboxd_src" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$inboxd_src" && git diff --quiet HEAD -- src sql 2>/dev/null || echo ' + local changes'))"
	say "  dovecot index    ${index_s} s (built before timing)"
	say "  load average     $load_before before, $load_after after (other work on the machine shows here)"
	say ""
	say "  messages         $rows"
	say "  MB               $stored_mb"
	say "  wall seconds     $wall"
	say "  messages/s       $(div "$rows" "$wall" %.0f)"
	say "  MB/s             $(div "$stored_mb" "$wall")"
	say "  peak RSS (MB)    $(div "$rss_kb" 1024)"
	say "  CPU inboxd       ${user_s} s user + ${sys_s} s sys"
	say "  CPU postgres     ${cpu_pg} s"
	say "  CPU dovecot      ${cpu_dc} s"
	say "  CPU total        ${cpu_total} s ($(div "$cpu_total" "$wall" %.2f) cores busy on average)"
	say "  database size    $db_mb MB"
	say "  second --once    ${again_s} s"
	say ""
	say "  mbsync wall      ${mb_wall} s ($mb_files messages to a Maildir; CPU ${mb_user} s user + ${mb_sys} s sys, dovecot ${mb_cpu_dc} s)"
	say "  inboxd / mbsync  $(div "$wall" "$mb_wall" %.2f) of mbsync's wall time"
	say "  cursor           last UID: $cursor"
	say ""
	say "  rows: $rows inbound/outbound/automated: $((rows - outbound))/$outbound/$automated; jobs embed/suggest: $embeds/$suggests; events: $events"
} | tee "$report"

# Checks, as TAP.
is "$rc1" 0 "inboxd --once exits 0"
is "$rows" "$n_expected" "conversation_messages holds every message once"
is "$convs" "$threads_expected" "conversations match the Message-ID graph's components"
is "$embeds" "$n_expected" "one embed_message job per message"
is "$rc2" 0 "second inboxd --once exits 0"
is "$rows2/$convs2/$jobs2/$events2" "$rows/$convs/$jobs1/$events" \
    "second --once adds no rows, conversations, jobs or events"
if [ "$rc1" -ne 0 ]; then
	diag "$(tail -n 20 "$log1")"
fi
grep -c ' error\| warning' "$log1" | { read -r n; note "log lines at warning or error: $n"; }

# Profiles.
case $profile in
perf)
	# Only this benchmark's processes: the machine may be shared. The
	# backends and IMAP sessions have exited; their pids are in the logs.
	pg_pids=$( { descendants "$(pg_pid)"; pg_pid
	    tail -n +"$pg_log_mark" "$TEST_TMP/pg/log" |
	    sed -n 's/.*\[\([0-9]*\)\].*connection received.*/\1/p'; } |
	    sort -u | tr '\n' ',')
	dc_pids=$( { descendants "$(dovecot_pid)"; dovecot_pid
	    sed -n 's/.*mpid=\([0-9]*\).*/\1/p' "$DOVECOT_DIR/dovecot.log"; } |
	    sort -u | tr '\n' ',')
	"$PYTHON3" "$bench_dir/perf_split.py" "$prof_dir/perf.data" \
	    inboxd="$(echo $inboxd_pids | tr ' ' ',')" postgres="$pg_pids" \
	    dovecot="$dc_pids" >"$prof_dir/split.txt" 2>&1
	;;
callgrind)
	callgrind_annotate --inclusive=yes "$prof_dir/callgrind.out" \
	    >"$prof_dir/inclusive.txt" 2>/dev/null
	callgrind_annotate "$prof_dir/callgrind.out" \
	    >"$prof_dir/self.txt" 2>/dev/null
	;;
esac
if [ "$profile" != none ]; then
	psql_su "SELECT round(total_exec_time::numeric, 1) AS ms, calls, rows,
	    round((100 * total_exec_time / sum(total_exec_time) OVER ())::numeric, 1) AS pct,
	    left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS query
	    FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 25" \
	    >"$prof_dir/pg_stat_statements.txt"
	note "profile written to $prof_dir"
fi
done_testing
