# Helpers of the operations tests (reload, fail-over, metrics, secrets,
# the Debian package). Source it after harness.sh:
#
#	ops_wait_log FILE REGEX [SECONDS]    wait until a line of FILE matches
#	ops_log_count FILE REGEX             lines of FILE that match
#	ops_wait_sql SQL WANT [SECONDS]      wait until SQL's value is WANT;
#	                                     prints the last value seen
#	ops_running PID                      the process is alive (not a zombie)
#	ops_on_exit CMD                      run CMD on exit, before the
#	                                     harness's own clean-up
#	ops_txn_start SQL                    run SQL in a transaction that stays
#	                                     open (another client's, mid-way)
#	ops_txn_commit                       commit it; waits for the end
#
#	notify_start                         a fake systemd notification socket:
#	                                     sets NOTIFY_PATH (give it to the
#	                                     daemon as NOTIFY_SOCKET) and
#	                                     NOTIFY_OUT (one datagram a line,
#	                                     newlines written as \n)
#	notify_count REGEX                   datagrams that match
#	notify_wait REGEX N [SECONDS]        wait until N match; prints the count
#	notify_max_gap REGEX [FROM] [TO]     longest time between matching ones
#	ops_monotonic                        now, on the clock notify_max_gap uses
#	notify_stop
#
#	http_get URL OUT                     GET with curl; prints the status
#	                                     code, body in OUT, headers in OUT.h
#	prom_check FILE                      checks the Prometheus text format;
#	                                     prints one line per problem
#	prom_value FILE SERIES               the value of the sample SERIES
#	                                     (name{labels} exactly as served)
#
# Every process started here is stopped on exit by the harness.

_ops_notify_pid=

ops_log_count()
{
	local n
	n=$(grep -cE -- "$2" "$1" 2>/dev/null) || :
	echo "${n:-0}"
}

_ops_log_has()
{
	grep -qE -- "$2" "$1" 2>/dev/null
}

ops_wait_log()
{
	wait_for "${3:-10}" _ops_log_has "$1" "$2"
}

_ops_sql_is()
{
	_ops_sql_last=$(psql_q "$1" 2>/dev/null) || _ops_sql_last="(query failed)"
	[ "$_ops_sql_last" = "$2" ]
}

ops_wait_sql()
{
	_ops_sql_last=
	wait_for "${3:-10}" _ops_sql_is "$1" "$2" >/dev/null || :
	echo "$_ops_sql_last"
}

ops_running()
{
	local state
	state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[ -n "$state" ] && [[ $state != Z* ]]
}

ops_on_exit()
{
	local cmd=$1 prev
	prev=$(trap -p EXIT)
	# "trap -- 'COMMAND' EXIT": take COMMAND out of it.
	eval "set -- $prev"
	# The harness's clean-up reads the exit status from $?: keep it.
	trap "_ops_rc=\$?; $cmd; (exit \$_ops_rc); ${3:-:}" EXIT
}

_ops_txn_pid=

ops_txn_start()
{
	rm -f "$TEST_TMP/txn.ready" "$TEST_TMP/txn.go"
	"$PYTHON3" -c '
import os, sys, time
import psycopg

conninfo, sql, ready, go = sys.argv[1:5]
with psycopg.connect(conninfo) as conn:
    conn.execute(sql)
    open(ready, "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.05)
    conn.commit()
' "$INBOXD_TEST_CONNINFO" "$1" "$TEST_TMP/txn.ready" "$TEST_TMP/txn.go" \
	    2>"$TEST_TMP/txn.err" &
	_ops_txn_pid=$!
	_harness_pids="${_harness_pids:-} $_ops_txn_pid"
	if ! wait_for 10 test -e "$TEST_TMP/txn.ready"; then
		diag "$(cat "$TEST_TMP/txn.err")"
		bail_out "the open transaction did not start"
	fi
}

ops_txn_commit()
{
	local rc=0
	touch "$TEST_TMP/txn.go"
	wait "$_ops_txn_pid" 2>/dev/null || rc=$?
	[ "$rc" -eq 0 ] || diag "the open transaction ended with $rc: $(cat "$TEST_TMP/txn.err")"
	return "$rc"
}

# Notifications from the daemon to "systemd" ------------------------------

notify_start()
{
	NOTIFY_PATH=$TEST_TMP/notify.sock
	NOTIFY_OUT=$TEST_TMP/notify.out
	rm -f "$NOTIFY_PATH" "$NOTIFY_OUT.ready"
	: >"$NOTIFY_OUT"
	: >"$NOTIFY_OUT.times"
	"$PYTHON3" -c '
import os, signal, socket, sys, time

path, out, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
signal.signal(signal.SIGALRM, lambda *_: sys.exit(0))
signal.alarm(limit)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
# The daemon may run as another user.
os.chmod(path, 0o666)
with open(out, "a", encoding="utf-8") as f, \
        open(out + ".times", "a", encoding="utf-8") as t:
    open(out + ".ready", "w").close()
    while True:
        data = s.recv(65536).decode("utf-8", "replace")
        line = data.replace("\\", "\\\\").replace("\n", "\\n")
        t.write("%.3f %s\n" % (time.monotonic(), line))
        t.flush()
        f.write(line + "\n")
        f.flush()
' "$NOTIFY_PATH" "$NOTIFY_OUT" 600 2>"$TEST_TMP/notify.err" &
	_ops_notify_pid=$!
	# The harness stops it on exit with the daemons.
	_harness_pids="${_harness_pids:-} $_ops_notify_pid"
	if ! wait_for 10 test -e "$NOTIFY_OUT.ready"; then
		diag "$(cat "$TEST_TMP/notify.err")"
		bail_out "the notification socket did not start"
	fi
	export NOTIFY_PATH NOTIFY_OUT
}

notify_count()
{
	local n
	n=$(grep -cE -- "$1" "$NOTIFY_OUT" 2>/dev/null) || :
	echo "${n:-0}"
}

_notify_reached()
{
	[ "$(notify_count "$1")" -ge "$2" ]
}

notify_wait()
{
	wait_for "${3:-10}" _notify_reached "$1" "$2" || :
	notify_count "$1"
}

# The longest time in seconds between two datagrams that match REGEX,
# and before the first and after the last one when FROM / TO (monotonic
# seconds, as python's time.monotonic) are given.
notify_max_gap()
{
	"$PYTHON3" - "$NOTIFY_OUT.times" "$1" "${2:-}" "${3:-}" <<'EOF'
import re, sys
path, regex, start, end = sys.argv[1:5]
times = []
with open(path, encoding="utf-8") as f:
    for line in f:
        t, _, msg = line.rstrip("\n").partition(" ")
        if re.search(regex, msg):
            times.append(float(t))
if start:
    times.insert(0, float(start))
if end:
    times.append(float(end))
gaps = [b - a for a, b in zip(times, times[1:])]
print("%.1f" % max(gaps) if gaps else "inf")
EOF
}

# Monotonic seconds, comparable with notify_max_gap's.
ops_monotonic()
{
	"$PYTHON3" -c 'import time; print("%.3f" % time.monotonic())'
}

notify_stop()
{
	local pid=$_ops_notify_pid
	[ -n "$pid" ] || return 0
	_ops_notify_pid=
	kill -TERM "$pid" 2>/dev/null || :
	wait "$pid" 2>/dev/null || :
}

# HTTP and the Prometheus text format ---------------------------------------

http_get()
{
	local code
	code=$(curl -s -o "$2" -D "$2.h" -w '%{http_code}' --max-time 10 \
	    --noproxy '*' "$1") || :
	echo "${code:-000}"
}

prom_check()
{
	"$PYTHON3" - "$1" <<'EOF'
import re, sys

# name{label="value",...} value   (the value: a float, +Inf, -Inf or NaN)
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(\{(%s(,%s)*)?\})? (\S+)( -?\d+)?$"
                    % (NAME, LABEL, LABEL))
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}

problems = []
helps, types, families, seen = {}, {}, [], set()
types_of = {}
with open(sys.argv[1], encoding="utf-8") as f:
    text = f.read()
if not text.endswith("\n"):
    problems.append("the text does not end with a newline")
for n, line in enumerate(text.splitlines(), 1):
    if line.startswith("#"):
        parts = line.split(None, 3)
        if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
            name = parts[2]
            if parts[1] == "HELP":
                if name in helps:
                    problems.append("line %d: second HELP for %s" % (n, name))
                helps[name] = n
            else:
                if name in types:
                    problems.append("line %d: second TYPE for %s" % (n, name))
                if len(parts) < 4 or parts[3] not in TYPES:
                    problems.append("line %d: bad TYPE: %s" % (n, line))
                types[name] = n
                types_of[name] = parts[3] if len(parts) >= 4 else None
        continue
    if line.strip() == "":
        problems.append("line %d: empty line" % n)
        continue
    m = SAMPLE.match(line)
    if not m:
        problems.append("line %d: not name{labels} value: %r" % (n, line))
        continue
    name, value = m.group(1), m.group(5)
    try:
        float(value)
    except ValueError:
        problems.append("line %d: value is not a number: %r" % (n, line))
    series = line.rsplit(" ", 1)[0]
    if series in seen:
        problems.append("line %d: duplicate sample %s" % (n, series))
    seen.add(series)
    # A histogram's or summary's samples carry a suffix on its name.
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and types_of.get(base) in ("histogram", "summary"):
            if suffix == "_bucket" and 'le="' not in line:
                problems.append("line %d: a bucket without le: %r" % (n, line))
            name = base
            break
    if name not in types:
        problems.append("line %d: %s has no TYPE before it" % (n, name))
    if name not in helps:
        problems.append("line %d: %s has no HELP before it" % (n, name))
    families.append(name)
for name in types:
    if name not in helps:
        problems.append("%s has a TYPE but no HELP" % name)
for p in problems:
    print(p)
EOF
}

prom_value()
{
	awk -v s="$2" 'substr($0, 1, 1) != "#" {
		v = $NF; sub(/ [^ ]*$/, "")
		if ($0 == s) { print v; found = 1; exit }
	} END { if (!found) print "(absent)" }' "$1"
}
