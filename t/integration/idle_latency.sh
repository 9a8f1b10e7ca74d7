#!/bin/bash
# New mail reaches LISTEN inboxd_jobs through IMAP IDLE: with a 300 s
# poll interval only IDLE can explain an arrival within seconds. Three
# APPENDs, each timed from just before the APPEND to the NOTIFY; the
# latencies are printed. Then the server goes away for a few seconds:
# IDLE comes back by itself and pushes again.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/faults.sh"

USER=sales@example.com
PASS=secret
ROUNDS=3
BOUND_MS=5000

start_servers
CFG=$TEST_TMP/inboxd.conf
inboxd_config "$CFG" "idle = true" "poll_interval = 300s"

# msg N: message N of the test in $TEST_TMP/mN.eml.
msg()
{
	mail_write "$TEST_TMP/m$1.eml" "Pat <pat$1@p.example>" "$USER" \
	    "Push test $1" "Mon, 06 Nov 2023 09:0$1:00 +0000" "idle-$1@p.example" \
	    -- "Message $1 for the IDLE test."
}
# One message before the start, so that the initial pass has work to do
# and its end is visible.
msg 0
mail_append $USER $PASS INBOX "$TEST_TMP/m0.eml"

inboxd_start --config "$CFG"
ok "the initial pass stores the first message" wait_rows sales 1 30
_idle_on()
{
	grep -q 'account=sales: watching INBOX with IDLE' "$INBOXD_LOG"
}
ok "the log says INBOX is watched with IDLE" wait_for 20 _idle_on
# The initial pass must be over, so that a poll or a follow-up pass
# cannot explain what comes next.
sleep 2
listen_start inboxd_jobs

_notified()
{
	[ "$(listen_count inboxd_jobs)" -ge "$1" ]
}

latencies=
# append_and_time N: APPENDs message N and waits for notification N.
append_and_time()
{
	local i=$1 t0 t1 got=-1
	msg "$i"
	t0=$(now_ms)
	mail_append $USER $PASS INBOX "$TEST_TMP/m$i.eml"
	t1=$(now_ms)
	while [ $(( $(now_ms) - t0 )) -lt $((BOUND_MS * 3)) ]; do
		if _notified "$i"; then
			got=$(( $(now_ms) - t0 ))
			break
		fi
		sleep 0.02
	done
	if [ "$got" -lt 0 ]; then
		fail "APPEND $i: NOTIFY inboxd_jobs within $BOUND_MS ms"
		diag "no notification after $((BOUND_MS * 3)) ms"
	else
		diag "APPEND $i: NOTIFY after $got ms ($((t1 - t0)) ms of it the APPEND itself)"
		ok "APPEND $i: NOTIFY inboxd_jobs within $BOUND_MS ms ($got ms)" \
		    test "$got" -le "$BOUND_MS"
		latencies="$latencies $got"
	fi
	is "$(sql "SELECT count(*) FROM conversation_messages WHERE rfc_message_id = 'idle-$i@p.example'")" \
	    1 "message $i is stored"
}

for ((i = 1; i <= ROUNDS; i++)); do
	append_and_time "$i"
	sleep 1
done
diag "latencies (ms):$latencies (poll_interval 300 s)"

# The server restarts; IDLE must come back without a poll.
watching=$(log_count "$INBOXD_LOG" 'account=sales: watching INBOX with IDLE')
dovecot_stop_all
sleep 3
_dovecot_launch || bail_out "Dovecot did not start again"
t_back=$(now_ms)
_idle_again()
{
	[ "$(log_count "$INBOXD_LOG" 'account=sales: watching INBOX with IDLE')" -gt "$watching" ]
}
ok "IDLE is back within 20 s of the server's return" wait_for 20 _idle_again
diag "IDLE back $(( $(now_ms) - t_back )) ms after the server"
append_and_time $((ROUNDS + 1))
diag "latencies (ms), the last after the restart:$latencies"
is "$(listen_count inboxd_jobs)" $((ROUNDS + 1)) "one notification per message"
like "$(listen_payloads inboxd_jobs | head -n 1)" 'embed_message' \
    "the payload names embed_message"
ok "the daemon is running" alive "$INBOXD_PID"
inboxd_stop
is "$?" 0 "SIGTERM: exit status 0"

done_testing
