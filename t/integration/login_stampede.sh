#!/bin/bash
# Many accounts on one server start together without a stampede: at
# most 16 logins to one server are in progress at once (the rest wait
# their turn), every account still syncs, and SIGTERM ends them all at
# once, also while they start (no session then goes into IDLE). The stand-in answers each login 300 ms late and records the most
# logins it had in progress at the same time.

INBOXD_TEST_TIMEOUT=${INBOXD_TEST_TIMEOUT:-120}
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/faults.sh"

A=40
N=3
LOG=$TEST_TMP/standin.commands

pg_start || bail_out "PostgreSQL did not start"
mkdir -p "$TEST_TMP/mail"
for i in $(seq 1 $N); do
	mail_write "$TEST_TMP/mail/$i.eml" "Pat $i <pat$i@p.example>" \
	    sales@example.com "Hello $i" "Mon, 06 Nov 2023 09:0$i:00 +0000" \
	    "stampede-$i@p.example"
done
imap_standin_start "$TEST_TMP/standin.port" "$LOG" \
    --maildir "$TEST_TMP/mail" --login-delay-ms 300 ||
    bail_out "the stand-in did not start: $(cat "$TEST_TMP/standin.err")"
PORT=$STANDIN_PORT

CFG=$TEST_TMP/inboxd.conf
{
	config_daemon
	for a in $(seq 1 $A); do
		config_imap "a$a" sales@example.com secret "port = $PORT" \
		    "idle = false" "poll_interval = 300s"
	done
} >"$CFG"

_all_synced()
{
	[ "$(sql "SELECT count(*) FROM conversation_messages")" -ge $((A * N)) ]
}
t0=$(now_ms)
inboxd_start --config "$CFG"
ok "all $A accounts sync" wait_for 60 _all_synced
note "$A accounts synced in $(( $(now_ms) - t0 )) ms"
is "$(sql "SELECT count(DISTINCT account_id) FROM conversation_messages")" $A \
    "every account has its mail"
peak=$(cat "$LOG.peak" 2>/dev/null || echo 0)
note "the most logins in progress at once: $peak"
ok "at most 16 logins at once to one server ($peak)" test "$peak" -le 16
ok "logins do overlap ($peak at once)" test "$peak" -ge 2
t0=$(now_ms)
rc=0
inboxd_stop || rc=$?
is "$rc" 0 "SIGTERM: exit status 0"
ok "SIGTERM: the daemon exits within 5 s" test $(( $(now_ms) - t0 )) -lt 5000

# SIGTERM while the accounts start, with IDLE on: a pass that the stop
# ends does not go on to wait in IDLE.
{
	config_daemon
	for a in $(seq 1 $A); do
		config_imap "a$a" sales@example.com secret "port = $PORT" \
		    "idle = true" "poll_interval = 300s"
	done
} >"$CFG"
inboxd_start --config "$CFG"
sleep 1
t0=$(now_ms)
rc=0
inboxd_stop || rc=$?
is "$rc" 0 "SIGTERM during start-up: exit status 0"
ok "SIGTERM during start-up: the daemon exits within 5 s" \
    test $(( $(now_ms) - t0 )) -lt 5000
after=$(sed -n '/signal 15/,$p' "$INBOXD_LOG" | grep -c 'watching INBOX with IDLE') || :
is "$after" 0 "SIGTERM during start-up: no session goes into IDLE after it"
after=$(sed -n '/signal 15/,$p' "$INBOXD_LOG" | grep -c ': starting (imap') || :
is "$after" 0 "SIGTERM during start-up: no account starts after it"
after=$(sed -n '/signal 15/,$p' "$INBOXD_LOG" | grep -c 'tls = none') || :
is "$after" 0 "SIGTERM during start-up: no connection is opened after it"

done_testing
