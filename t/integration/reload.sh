#!/bin/bash
# SIGHUP reloads the configuration of a running daemon: an account added
# to the file is synced without a restart; a file that does not load is
# refused with file:line, group and key, and the running configuration
# stays in force (a FIFO as secret file at once); an account removed from the file stops while the others
# go on. systemd hears READY=1 at start, RELOADING=1 then READY=1 around
# each reload, a STATUS= line, WATCHDOG=1 often enough, and STOPPING=1 at
# SIGTERM; SIGTERM exits 0. READY=1 waits for the database connection,
# so the first status says it is connected; log lines outside the
# journal begin with the time; --version prints the version.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/ops.sh"

INBOXD_TEST_TIMEOUT=30
SALES=sales@example.com
SALES_PW=secret
SUPPORT=support@example.com
SUPPORT_PW=support-pw-7
POLL=2

start_servers "$SALES:$SALES_PW" "$SUPPORT:$SUPPORT_PW"
notify_start
CFG=$TEST_TMP/inboxd.conf

# write_config ACCOUNT...: the whole file, replaced at once as a
# configuration manager would do it.
write_config()
{
	local name
	{
		config_daemon
		for name in "$@"; do
			case $name in
			sales) config_imap sales "$SALES" "$SALES_PW" \
			    "poll_interval = ${POLL}s" ;;
			support) config_imap support "$SUPPORT" "$SUPPORT_PW" \
			    "poll_interval = ${POLL}s" ;;
			esac
		done
	} >"$CFG.new" && mv "$CFG.new" "$CFG"
}

stored()
{
	sql "SELECT count(*) FROM conversation_messages m
	    JOIN mail_accounts a ON a.id = m.account_id WHERE a.name = '$1'"
}

# The line number of the N-th datagram matching REGEX (0: none).
notify_index()
{
	local n
	n=$(grep -nE -- "$1" "$NOTIFY_OUT" | sed -n "${2}p" | cut -d: -f1)
	echo "${n:-0}"
}

# --version ---------------------------------------------------------------------

rc=0; out=$(run_inboxd --version 2>&1) || rc=$?
is "$rc" 0 "--version exits 0"
like "$out" '^inboxd [0-9]+\.[0-9]+\.[0-9]+$' "--version prints the name and version ($out)"

# Start with one account -----------------------------------------------------

mail_deliver "$SALES" "$SALES_PW" 2 sales-a
write_config sales
# As systemd does with WatchdogSec=2: the daemon must ping within 2 s.
NOTIFY_SOCKET=$NOTIFY_PATH WATCHDOG_USEC=2000000 \
    inboxd_start --config "$CFG" --foreground
PID=$INBOXD_PID
LOG=$INBOXD_LOG
STARTED=$(date +%s)

is "$(notify_wait '^READY=1$' 1 20)" 1 "READY=1 at start"
is "$(sed -n 1p "$NOTIFY_OUT")" "READY=1" "READY=1 is the first notification"
ok "a STATUS= follows READY=1" test "$(notify_wait '^STATUS=' 1 10)" -ge 1
like "$(grep -m 1 '^STATUS=' "$NOTIFY_OUT")" 'database connected$' \
    "the first STATUS= says the database is connected"
ok "the first status line is logged" ops_wait_log "$LOG" 'info: status: ' 5
like "$(grep -m 1 'info: status: ' "$LOG")" 'database connected$' \
    "the first status line logged says the database is connected"
like "$(head -n 1 "$LOG")" \
    '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z inboxd: info: ' \
    "outside the journal, a log line begins with the UTC time"
is "$(ops_wait_sql "SELECT count(*) FROM conversation_messages" 2 20)" 2 \
    "the first account's 2 messages are stored"
is "$(stored sales)" 2 "they belong to account sales"

# Add a second account --------------------------------------------------------

mail_deliver "$SUPPORT" "$SUPPORT_PW" 3 support-a
is "$(sql "SELECT count(*) FROM mail_accounts WHERE name = 'support'")" 0 \
    "account support is not known before the reload"
write_config sales support
kill -HUP "$PID"
got=$(ops_wait_sql "SELECT count(*) FROM conversation_messages m
    JOIN mail_accounts a ON a.id = m.account_id WHERE a.name = 'support'" 3 20)
is "$got" 3 "after SIGHUP the new account's 3 messages are stored"
ok "the daemon was not restarted (same pid $PID)" ops_running "$PID"
is "$(ops_log_count "$LOG" 'inboxd .* started')" 1 "one start line in the log"
ok "log: configuration reloaded with 2 accounts" \
    ops_wait_log "$LOG" 'configuration reloaded: 2 accounts' 5
is "$(ops_log_count "$LOG" 'account=sales: (removed|configuration changed)')" 0 \
    "the unchanged account was left alone"
is "$(notify_wait '^READY=1$' 2)" 2 "READY=1 again after the reload"
is "$(notify_count '^RELOADING=1(\\n|$)')" 1 "one RELOADING=1"
like "$(grep -m 1 '^RELOADING=1' "$NOTIFY_OUT")" '\\nMONOTONIC_USEC=[0-9]+' \
    "RELOADING=1 carries MONOTONIC_USEC, as systemd asks"
r=$(notify_index '^RELOADING=1(\\n|$)' 1)
y=$(notify_index '^READY=1$' 2)
ok "RELOADING=1 (datagram $r) comes before the second READY=1 (datagram $y)" \
    test "$r" -gt 1 -a "$r" -lt "$y"
is "$(stored sales)" 2 "the first account has its 2 messages still"

# A broken file keeps the running configuration ---------------------------------

cp "$CFG" "$CFG.good"
sed 's/^\[daemon\]$/[daemon]\nbogus_key = 1/' "$CFG.good" >"$CFG.new"
mv "$CFG.new" "$CFG"
line=$(grep -n '^bogus_key = 1$' "$CFG" | cut -d: -f1)
kill -HUP "$PID"
ok "log: the bad file is refused" \
    ops_wait_log "$LOG" 'keeping the running configuration' 10
got=$(grep -F 'keeping the running configuration' "$LOG" | head -n 1)
like "$got" "$CFG:$line: \[daemon\] bogus_key: unknown key" \
    "the refusal names file:line ($line), group and key"
is "$(notify_wait '^READY=1$' 3)" 3 "READY=1 after the refused reload"
is "$(notify_count '^RELOADING=1(\\n|$)')" 2 "RELOADING=1 for the refused reload"
sleep 1
ok "the daemon still runs" ops_running "$PID"
is "$(ops_log_count "$LOG" 'configuration reloaded')" 1 \
    "no 'configuration reloaded' line for the bad file"
mail_deliver "$SALES" "$SALES_PW" 1 sales-b
mail_deliver "$SUPPORT" "$SUPPORT_PW" 1 support-b
got=$(ops_wait_sql "SELECT count(*) FROM conversation_messages" 7 20)
is "$got" 7 "both accounts of the running configuration still sync"
is "$(stored sales) $(stored support)" "3 4" "3 messages for sales, 4 for support"

# Remove the first account --------------------------------------------------------

write_config support
kill -HUP "$PID"
ok "log: account sales stops" \
    ops_wait_log "$LOG" 'account=sales: removed from the configuration; stopping' 10
ok "log: configuration reloaded with 1 account" \
    ops_wait_log "$LOG" 'configuration reloaded: 1 accounts?' 10
is "$(notify_wait '^READY=1$' 4)" 4 "READY=1 after the third reload"
is "$(notify_count '^RELOADING=1(\\n|$)')" 3 "three RELOADING=1 in all"
mail_deliver "$SALES" "$SALES_PW" 1 sales-c
mail_deliver "$SUPPORT" "$SUPPORT_PW" 1 support-c
got=$(ops_wait_sql "SELECT count(*) FROM conversation_messages m
    JOIN mail_accounts a ON a.id = m.account_id WHERE a.name = 'support'" 5 20)
is "$got" 5 "the remaining account goes on syncing"
# Two more poll intervals in which a still running sales would sync.
sleep $((POLL * 2 + 1))
is "$(stored sales)" 3 "the removed account syncs no more"
is "$(ops_log_count "$LOG" 'account=sales mailbox=INBOX: 1 new messages?')" 1 \
    "sales logged new mail once (before its removal), not after"
ok "the daemon still runs after the removal" ops_running "$PID"

# A key read at start only keeps its running value ------------------------------

{
	config_daemon "job_retention = 2d"
	config_imap support "$SUPPORT" "$SUPPORT_PW" "poll_interval = ${POLL}s"
} >"$CFG.new" && mv "$CFG.new" "$CFG"
kill -HUP "$PID"
ok "log: a changed start-only key is named as needing a restart" \
    ops_wait_log "$LOG" '\[daemon\] job_retention changed; restart inboxd to use it' 10
is "$(ops_log_count "$LOG" 'account=support: (removed|configuration changed)')" 0 \
    "the unchanged account is left alone by that reload"

# STATUS= comes with READY=1 (at start and after each reload) and then
# periodically; the latest describes the running configuration ----------------

ok "STATUS= lines reached systemd" \
    test "$(notify_wait '^STATUS=' 1 10)" -ge 1
status=$(grep '^STATUS=' "$NOTIFY_OUT" | tail -n 1)
like "$status" '^STATUS=1 accounts? \(1 ok, 0 failing\), [0-9]+ messages' \
    "the latest STATUS= describes the running configuration (1 account, ok)"
ok "the status line is logged too" ops_wait_log "$LOG" 'info: status: ' 2

# A FIFO as secret file is refused at once, not waited on -------------------------
#
# Reading it used to block the whole daemon until a writer came: one
# comes after 15 s, so that the old behaviour fails here (and starves
# the watchdog below) rather than hanging the test.

fifo=$TEST_TMP/secret-fifo
mkfifo -m 0600 "$fifo"
(sleep 15 && : >"$fifo") &
writer=$!
{
	config_daemon "job_retention = 2d"
	config_imap support "$SUPPORT" "$SUPPORT_PW" "poll_interval = ${POLL}s" \
	    "password_file = $fifo"
} >"$CFG.new" && mv "$CFG.new" "$CFG"
kill -HUP "$PID"
ok "a FIFO as password_file: the reload is refused within 5 s" \
    ops_wait_log "$LOG" "password_file: $fifo is not a regular file; keeping the running configuration" 5
ok "the daemon still runs" ops_running "$PID"
kill "$writer" 2>/dev/null
wait "$writer" 2>/dev/null

# The watchdog was fed all along, reloads included ----------------------------------

t_ready=$(awk '$2 == "READY=1" { print $1; exit }' "$NOTIFY_OUT.times")
t_now=$(ops_monotonic)
# Half of WATCHDOG_USEC between pings: at least one per 2 s since READY.
want=$(awk -v a="$t_ready" -v b="$t_now" 'BEGIN { n = int((b - a) / 2); print (n < 2 ? 2 : n) }')
ok "WATCHDOG=1 was sent ($(notify_count '^WATCHDOG=1$') times, at least $want)" \
    test "$(notify_count '^WATCHDOG=1$')" -ge "$want"
gap=$(notify_max_gap '^WATCHDOG=1$' "$t_ready" "$t_now")
ok "with WATCHDOG_USEC=2000000, never more than 2 s without WATCHDOG=1 (longest gap $gap s)" \
    awk -v g="$gap" 'BEGIN { exit !(g < 2.0) }'

# SIGTERM ---------------------------------------------------------------------------

rc=0
inboxd_stop "$PID" || rc=$?
is "$rc" 0 "SIGTERM: exit status 0"
is "$(notify_wait '^STOPPING=1$' 1 5)" 1 "STOPPING=1 at SIGTERM"
is "$(ops_log_count "$LOG" 'AddressSanitizer|runtime error:|LeakSanitizer')" 0 \
    "no sanitizer report"
note "notifications: $(tr '\n' ' ' <"$NOTIFY_OUT")"

done_testing
