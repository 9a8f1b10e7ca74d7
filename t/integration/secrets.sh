#!/bin/bash
# Secrets: the IMAP password never appears in what inboxd or inboxctl
# print, at log_level = debug, with the right password and with a wrong
# one, through a reload and a stop; nor in the database. A password_file
# that others may read is refused with a message that names the mode to
# set; 0600 and 0640 are accepted; a missing or empty file is a clear
# error.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/ops.sh"

INBOXD_TEST_TIMEOUT=30
USER=sales@example.com
# Distinctive, so that a match can only be a leak.
PW="Pw-$$-$(date +%N)-Zebra7Quill"
WRONG="Wrong-$$-$(date +%N)-Otter3Fig"
export INBOXD_TEST_LOG_LEVEL=debug

start_servers "$USER:$PW"
for i in 1 2; do
	ops_mail "$TEST_TMP/m.eml" "secret-$i@client.example" "Hello $i"
	imap_append "$USER" "$PW" INBOX "$TEST_TMP/m.eml" >/dev/null ||
	    bail_out "APPEND $i failed"
done

# config FILE PASSWORD_FILE: one account, log_level debug.
config()
{
	{
		ops_daemon_groups
		echo
		echo "[account sales]"
		echo "type = imap"
		echo "host = 127.0.0.1"
		echo "port = $IMAP_PORT"
		echo "tls = none"
		echo "username = $USER"
		echo "password_file = $2"
		echo "poll_interval = 2s"
	} >"$1"
}

# The forms a password takes on the wire or in a dump: as is, and the
# base64 of SASL PLAIN (with and without an authorization id).
leak_forms()
{
	printf '%s\n' "$1"
	printf '\0%s\0%s' "$USER" "$1" | base64 -w 0
	echo
	printf '%s\0%s\0%s' "$USER" "$USER" "$1" | base64 -w 0
	echo
	printf '%s' "$1" | base64 -w 0
	echo
}

# no_leak WHAT FILE PASSWORD: FILE holds none of the forms of PASSWORD.
no_leak()
{
	local hits
	hits=$(leak_forms "$3" | grep -F -n -f - "$2" | head -n 5) || :
	is "$hits" "" "$1: the password is not in the output"
}

# run NAME ARGS...: inboxd with stdout and stderr in $OUT, status in $RC.
OUT=
RC=
run()
{
	local name=$1
	shift
	OUT=$TEST_TMP/inboxd.$name.log
	RC=0
	run_inboxd "$@" >"$OUT" 2>&1 || RC=$?
}

# Nothing printed, right password --------------------------------------------------------

SECRET=$(ops_secret sales "$PW")
CFG=$TEST_TMP/good.conf
config "$CFG" "$SECRET"

run check --config "$CFG" --check-config
is "$RC" 0 "--check-config accepts the configuration"
no_leak "--check-config" "$OUT" "$PW"

run once --config "$CFG" --once
is "$RC" 0 "--once with the right password exits 0"
is "$(sql "SELECT count(*) FROM conversation_messages")" 2 "the 2 messages are stored"
ok "log_level = debug is in force (debug lines were written)" \
    test "$(ops_log_count "$OUT" '^inboxd: debug: ')" -gt 0
no_leak "--once at debug level" "$OUT" "$PW"

out=$TEST_TMP/inboxctl.log
rc=0
run_inboxctl --config "$CFG" status >"$out" 2>&1 || rc=$?
is "$rc" 0 "inboxctl status exits 0"
no_leak "inboxctl status" "$out" "$PW"

# The daemon through a reload and a stop.
inboxd_start --config "$CFG" --foreground
ops_wait_log "$INBOXD_LOG" 'watching INBOX|stored|nothing new' 15 ||
    diag "the daemon did not report a pass within 15 s"
kill -HUP "$INBOXD_PID"
ops_wait_log "$INBOXD_LOG" 'configuration reloaded' 10 || diag "no reload line"
rc=0
inboxd_stop || rc=$?
is "$rc" 0 "the daemon stops with status 0"
no_leak "the daemon at debug level, reload and stop" "$INBOXD_LOG" "$PW"

dump=$TEST_TMP/dump.sql
"$PG_BIN/pg_dump" --no-owner -d inboxd >"$dump" 2>"$TEST_TMP/pg_dump.err" ||
    bail_out "pg_dump failed: $(cat "$TEST_TMP/pg_dump.err")"
no_leak "pg_dump of the database" "$dump" "$PW"

# Wrong password ---------------------------------------------------------------------------

WRONG_SECRET=$(ops_secret wrong "$WRONG")
BAD=$TEST_TMP/wrong.conf
config "$BAD" "$WRONG_SECRET"
run wrong --config "$BAD" --once
isnt "$RC" 0 "--once with a wrong password exits non-zero"
ok "and says the login failed" \
    test "$(ops_log_count "$OUT" 'error: .*(login|auth|denied|credential)')" -gt 0
no_leak "--once with a wrong password (the wrong one)" "$OUT" "$WRONG"
no_leak "--once with a wrong password (the right one)" "$OUT" "$PW"

# Modes of the password file --------------------------------------------------------------

for mode in 0644 0604; do
	f=$TEST_TMP/secrets/mode-$mode
	printf '%s\n' "$PW" >"$f"
	chmod "$mode" "$f"
	C=$TEST_TMP/mode-$mode.conf
	config "$C" "$f"
	line=$(grep -n '^password_file = ' "$C" | cut -d: -f1)
	run "check-$mode" --config "$C" --check-config
	isnt "$RC" 0 "password_file mode $mode: --check-config exits non-zero"
	err=$(grep -v ': debug: ' "$OUT")
	like "$err" "$C:$line: \[account sales\] password_file: " \
	    "mode $mode: the message names file:line, group and key"
	like "$err" "$f" "mode $mode: the message names the password file"
	like "$err" "readable by others" "mode $mode: the message says why"
	like "$err" "(chmod|mode) 0?6[04]0" "mode $mode: the message names the mode to set"
	run "once-$mode" --config "$C" --once
	isnt "$RC" 0 "password_file mode $mode: --once exits non-zero"
	like "$(cat "$OUT")" "readable by others" "mode $mode: --once says why"
	no_leak "mode $mode" "$OUT" "$PW"
done

for mode in 0600 0640; do
	f=$TEST_TMP/secrets/mode-$mode
	printf '%s\n' "$PW" >"$f"
	chmod "$mode" "$f"
	C=$TEST_TMP/mode-$mode.conf
	config "$C" "$f"
	run "check-$mode" --config "$C" --check-config
	is "$RC" 0 "password_file mode $mode: --check-config accepts it"
	[ "$RC" -eq 0 ] || diag "$(cat "$OUT")"
	run "once-$mode" --config "$C" --once
	is "$RC" 0 "password_file mode $mode: --once exits 0"
	[ "$RC" -eq 0 ] || diag "$(tail -n 5 "$OUT")"
	no_leak "mode $mode" "$OUT" "$PW"
done

# Missing and empty files --------------------------------------------------------------------

missing=$TEST_TMP/secrets/no-such-file
C=$TEST_TMP/missing.conf
config "$C" "$missing"
line=$(grep -n '^password_file = ' "$C" | cut -d: -f1)
run missing-check --config "$C" --check-config
isnt "$RC" 0 "a missing password file: --check-config exits non-zero"
like "$(cat "$OUT")" "$C:$line: \[account sales\] password_file: .*$missing.*No such file or directory" \
    "the message names file:line, the key, the missing file and why"
run missing-once --config "$C" --once
isnt "$RC" 0 "a missing password file: --once exits non-zero"
like "$(cat "$OUT")" "$missing.*No such file or directory" "--once says the same"

empty=$TEST_TMP/secrets/empty
: >"$empty"
chmod 0600 "$empty"
C=$TEST_TMP/empty.conf
config "$C" "$empty"
run empty-check --config "$C" --check-config
isnt "$RC" 0 "an empty password file: --check-config exits non-zero"
like "$(cat "$OUT")" "password_file: .*$empty.*empty" "the message says the file is empty"

is "$(cat "$TEST_TMP"/inboxd.*.log | grep -cE 'AddressSanitizer|runtime error:|LeakSanitizer')" \
    0 "no sanitizer report"

done_testing
