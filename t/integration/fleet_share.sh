#!/bin/bash
# Several daemons, one database, the accounts shared fairly: 200 IMAP
# accounts (bench/fleet_standin.py, two messages each, poll interval
# 300 s so that nothing below depends on polling) and instances a, b, c
# started together. Each holds ceil(200/3) = 67 accounts +-10 % within
# 60 s; instance d joins and gets its share (50 +-10 %) within 60 s;
# d killed with SIGKILL: its accounts are held again within 30 s; c
# paused with SIGSTOP past its lease: its accounts are held by the
# others within 30 s and the mail that comes meanwhile is stored by
# them, once; c resumed gets its share back and stores nothing twice;
# held_by then names the session that holds each account; a SIGTERM
# during start-up exits 0 within 5 s; a clean exit deletes the
# instance's row, and the accounts of an instance that stops are held
# by the others within 30 s; two daemons under one instance name are
# warned. /metrics serves the count held, inboxctl
# status the instances.
#
# Who holds what is read from the advisory locks themselves (pg_locks,
# class 1768843876: HOLD_CLASS in src/store_int.h), joined to the
# sessions inboxd_instances names.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/ops.sh"

INBOXD_TEST_TIMEOUT=30
N=200
MSGS=2
ulimit -n "$(ulimit -Hn)" 2>/dev/null || :

pg_start || bail_out "PostgreSQL did not start"
"$PYTHON3" "$top_srcdir/bench/fleet_standin.py" --users "$N" --msgs "$MSGS" \
    --port-file "$TEST_TMP/imap.port" \
    --control-port-file "$TEST_TMP/control.port" --lifetime 900 \
    </dev/null >"$TEST_TMP/standin.log" 2>&1 &
_harness_pids="$_harness_pids $!"
wait_for 20 test -s "$TEST_TMP/imap.port" ||
    bail_out "the stand-in did not start: $(cat "$TEST_TMP/standin.log")"
wait_for 5 test -s "$TEST_TMP/control.port" || bail_out "no control port"
IMAP_PORT=$(cat "$TEST_TMP/imap.port")
CTL_PORT=$(cat "$TEST_TMP/control.port")
METRICS_PORT=$(free_port)
secret=$(config_secret fleet secret)

# config NAME [LINE...]: the same N accounts for every instance.
config()
{
	local name=$1 i
	shift
	{
		config_daemon "instance_name = $name" "$@"
		for ((i = 1; i <= N; i++)); do
			printf '\n[account u%d]\ntype = imap\nhost = 127.0.0.1\n' "$i"
			printf 'port = %s\ntls = none\nusername = u%d@fleet.example\n' \
			    "$IMAP_PORT" "$i"
			printf 'password_file = %s\npoll_interval = 300s\n' "$secret"
		done
	} >"$TEST_TMP/$name.conf"
}
for inst in a b c d e; do
	config $inst
done
config a "metrics_listen = 127.0.0.1:$METRICS_PORT"

declare -A PID LOG
start()
{
	inboxd_start --config "$TEST_TMP/$1.conf"
	PID[$1]=$INBOXD_PID
	LOG[$1]=$INBOXD_LOG
}

LOCKS="pg_locks WHERE locktype = 'advisory' AND classid = 1768843876
    AND objsubid = 2 AND granted"

# "name=count ..." for every instance row: the accounts its session holds.
holds()
{
	sql "SELECT coalesce(string_agg(i.name || '=' || coalesce(h.n, 0), ' '
	    ORDER BY i.name), '')
	    FROM inboxd_instances i LEFT JOIN (SELECT pid, count(*) AS n
	    FROM $LOCKS GROUP BY pid) h ON h.pid = i.backend_pid" 2>/dev/null
}

held_total()
{
	sql "SELECT count(*) FROM $LOCKS"
}

# fair K: K instances, each holding ceil(N/K) +-10 %, all N held.
fair()
{
	local k=$1 t lo hi kv n count=0 sum=0
	t=$(((N + k - 1) / k))
	lo=$((t - t / 10))
	hi=$((t + t / 10))
	for kv in $(holds); do
		n=${kv#*=}
		count=$((count + 1))
		sum=$((sum + n))
		[ "$n" -ge "$lo" ] && [ "$n" -le "$hi" ] || return 1
	done
	[ "$count" -eq "$k" ] && [ "$sum" -eq "$N" ]
}

# all_held_by_others FILE PID: the accounts whose ids FILE lists are all
# held, by sessions other than PID.
all_held_by_others()
{
	[ "$(sql "SELECT count(*) FROM $LOCKS AND pid <> $2
	    AND objid::int IN ($(paste -sd, "$1"))")" -eq "$(wc -l <"$1")" ]
}

stored()
{
	sql "SELECT count(*) FROM conversation_messages"
}

no_duplicates()
{
	is "$(sql "SELECT count(*) - count(DISTINCT (account_id, rfc_message_id))
	    FROM conversation_messages")" 0 "$1: no message stored twice"
	is "$(sql "SELECT count(*) - count(DISTINCT (account_id, mailbox, uidvalidity, uid))
	    FROM message_locations")" 0 "$1: no location stored twice"
}

# append ID: a new message in the INBOX of the account whose id is ID.
append()
{
	"$PYTHON3" - "$CTL_PORT" "$(sql "SELECT name FROM mail_accounts WHERE id = $1")" <<-'PY'
	import socket, sys
	s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 10)
	s.sendall(b"APPEND %s\nQUIT\n" % sys.argv[2].encode())
	line = s.makefile().readline()
	if not line.startswith("OK"):
	    sys.exit("APPEND: " + line)
	PY
}

backend_pid()
{
	sql "SELECT backend_pid FROM inboxd_instances WHERE name = '$1'"
}

elapsed()
{
	awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

# Three instances start together ---------------------------------------------------------

t0=$(date +%s.%N)
start a
start b
start c
ok "a, b and c each hold 67 accounts +-10 % within 60 s" wait_for 60 fair 3
note "shares after $(elapsed "$t0") s: $(holds)"
is "$(ops_wait_sql "SELECT count(*) FROM conversation_messages" $((N * MSGS)) 60)" \
    $((N * MSGS)) "every account's mail is stored"
no_duplicates "three instances"

metric_held()
{
	http_get "http://127.0.0.1:$METRICS_PORT/metrics" "$TEST_TMP/m" >/dev/null &&
	    prom_value "$TEST_TMP/m" inboxd_accounts_held
}
metric_matches()
{
	[ "$(metric_held)" = "$(sql "SELECT count(*) FROM $LOCKS
	    AND pid = $(backend_pid a)")" ]
}
ok "/metrics: inboxd_accounts_held is the count instance a holds" \
    wait_for 10 metric_matches
note "a's inboxd_accounts_held: $(metric_held)"
is "$(prom_value "$TEST_TMP/m" inboxd_instances_live) $(prom_value "$TEST_TMP/m" inboxd_accounts_share)" \
    "3 67" "/metrics: 3 live instances, a share of 67"

out=$(run_inboxctl --config "$TEST_TMP/a.conf" status)
like "$(echo "$out" | grep -A4 '^instance ')" \
    "instance +live +heartbeat +held.*"$'\n'"a +yes +[0-9]+s +[0-9]+" \
    "inboxctl status lists the instances, live, with what each holds"
like "$(echo "$out" | grep '^u1 ')" "^u1 +imap +[abc] " \
    "and the holder of each account"

# A fourth instance joins -------------------------------------------------------------------

t0=$(date +%s.%N)
start d
ok "d joins: a, b, c and d each hold 50 accounts +-10 % within 60 s" \
    wait_for 60 fair 4
note "shares after $(elapsed "$t0") s: $(holds)"
ok "the others logged the hand-over" \
    grep -q 'handed over' "${LOG[a]}" "${LOG[b]}" "${LOG[c]}"

# SIGKILL ------------------------------------------------------------------------------------

pid_d=$(backend_pid d)
sql "SELECT objid FROM $LOCKS AND pid = $pid_d" >"$TEST_TMP/d.ids"
t0=$(date +%s.%N)
kill -KILL "${PID[d]}"
wait "${PID[d]}" 2>/dev/null
ok "SIGKILL to d: its $(wc -l <"$TEST_TMP/d.ids") accounts are held again within 30 s" \
    wait_for 30 all_held_by_others "$TEST_TMP/d.ids" "$pid_d"
note "held again after $(elapsed "$t0") s: $(holds)"
k=$(head -n 1 "$TEST_TMP/d.ids")
before=$(stored)
append "$k" || bail_out "APPEND failed"
is "$(ops_wait_sql "SELECT count(*) FROM conversation_messages" $((before + 1)) 10)" \
    $((before + 1)) "new mail of one of d's accounts is stored by its new holder"
ok "a, b and c share the accounts again within 60 s" wait_for 60 fair 3

# SIGSTOP past the lease ---------------------------------------------------------------------

pid_c=$(backend_pid c)
sql "SELECT objid FROM $LOCKS AND pid = $pid_c" >"$TEST_TMP/c.ids"
# New mail first, so that c may be caught in the middle of storing it:
# a batch it commits after it resumes must fail the fencing check.
before=$(stored)
for k in $(head -n 3 "$TEST_TMP/c.ids"); do
	append "$k" || bail_out "APPEND failed"
done
t0=$(date +%s.%N)
kill -STOP "${PID[c]}"
ok "SIGSTOP to c: its $(wc -l <"$TEST_TMP/c.ids") accounts are held by the others within 30 s" \
    wait_for 30 all_held_by_others "$TEST_TMP/c.ids" "$pid_c"
note "held again after $(elapsed "$t0") s: $(holds)"
is "$(sql "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid_c")" 0 \
    "c's database session was ended"
ok "an instance logged c's death" \
    grep -q 'instance c is dead .*its session was ended' "${LOG[a]}" "${LOG[b]}"
is "$(ops_wait_sql "SELECT count(*) FROM conversation_messages" $((before + 3)) 15)" \
    $((before + 3)) "the mail that came as c stopped is stored"
kill -CONT "${PID[c]}"
t0=$(date +%s.%N)
ok "c, resumed, is an instance again and gets its share within 60 s" \
    wait_for 60 fair 3
note "shares after $(elapsed "$t0") s: $(holds)"
ok "c noticed it had lost its accounts" \
    grep -qE 'no longer held by this instance|held by another instance' "${LOG[c]}"
ok "c is running" ops_running "${PID[c]}"
before=$(stored)
for k in $(head -n 3 "$TEST_TMP/c.ids"); do
	append "$k" || bail_out "APPEND failed"
done
is "$(ops_wait_sql "SELECT count(*) FROM conversation_messages" $((before + 3)) 15)" \
    $((before + 3)) "new mail of c's old accounts is stored once more"
sleep 1
is "$(stored)" $((before + 3)) "and nothing else"
no_duplicates "after SIGSTOP and SIGCONT"
is "$(ops_wait_sql "SELECT count(*) FROM (SELECT objid, pid FROM $LOCKS) l
    JOIN mail_accounts m ON m.id = l.objid::int
    JOIN inboxd_instances i ON i.backend_pid = l.pid
    WHERE m.held_by IS DISTINCT FROM i.name" 0 10)" 0 \
    "held_by names the instance whose session holds each account"

# SIGTERM ------------------------------------------------------------------------------------

start e
# From the start of its main, not of its process (a sanitizer build
# takes a while to get there on a busy machine).
wait_for 10 catches_sigterm "${PID[e]}" || diag "e has no SIGTERM handler yet"
sleep 0.3
t0=$(date +%s.%N)
kill -TERM "${PID[e]}"
ok "SIGTERM during e's start-up: it exits within 5 s" \
    wait_for 5 eval '! kill -0 "${PID[e]}" 2>/dev/null'
rc=0
wait "${PID[e]}" 2>/dev/null || rc=$?
is "$rc" 0 "with status 0"
note "exit after $(elapsed "$t0") s"
is "$(awk '/signal 15/ { s = 1 } s && /standing by|taken over/' "${LOG[e]}" | wc -l)" 0 \
    "no account starts again after the signal (the database accounts read then)"

pid_b=$(backend_pid b)
sql "SELECT objid FROM $LOCKS AND pid = $pid_b" >"$TEST_TMP/b.ids"
rc=0
inboxd_stop "${PID[b]}" || rc=$?
is "$rc" 0 "b stops with status 0"
t0=$(date +%s.%N)
is "$(sql "SELECT count(*) FROM inboxd_instances WHERE name IN ('b', 'e')")" 0 \
    "instances that stop cleanly delete their rows"
ok "b's accounts are held by a and c within 30 s" \
    wait_for 30 all_held_by_others "$TEST_TMP/b.ids" "$pid_b"
note "held again after $(elapsed "$t0") s: $(holds)"
ok "a and c share the accounts b left within 60 s" wait_for 60 fair 2
no_duplicates "at the end"

# A second daemon under a's name is told about ------------------------------------------

sed 's/^instance_name = e$/instance_name = a/' "$TEST_TMP/e.conf" >"$TEST_TMP/twin.conf"
start twin
ok "a daemon that uses a running instance's name is warned, or that one is" \
    wait_for 15 grep -q 'another running daemon uses the instance name a:' \
    "${LOG[twin]}" "${LOG[a]}"
rc=0
inboxd_stop "${PID[twin]}" || rc=$?
is "$rc" 0 "it stops with status 0"

for inst in a c; do
	rc=0
	inboxd_stop "${PID[$inst]}" || rc=$?
	is "$rc" 0 "$inst stops with status 0"
done
is "$(cat "$TEST_TMP"/inboxd.*.log | grep -cE 'AddressSanitizer|runtime error:|LeakSanitizer')" \
    0 "no sanitizer report"

done_testing
