#!/bin/bash
# Secrets: the IMAP password never appears in what inboxd or inboxctl
# print, at log_level = debug, with the right password and with a wrong
# one, through a reload and a stop; nor in the database. A password_file
# that others may read is refused with a message that names the mode to
# set; 0600 and 0640 are accepted; a missing or empty file is a clear
# error, and so is a secret of two lines, a world-writable file, a
# symbolic link or a FIFO (at once). A database passfile that libpq would
# ignore is refused by --check-config.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/ops.sh"

INBOXD_TEST_TIMEOUT=30
USER=sales@example.com
# Distinctive, so that a match can only be a leak.
PW="Pw-$$-$(date +%N)-Zebra7Quill"
WRONG="Wrong-$$-$(date +%N)-Otter3Fig"
export INBOXD_TEST_LOG_LEVEL=debug

start_servers "$USER:$PW"
mail_deliver "$USER" "$PW" 2 secret

# config FILE PASSWORD_FILE: one account, log_level debug.
config()
{
	{
		config_daemon
		config_imap sales "$USER" - "password_file = $2" \
		    "poll_interval = 2s"
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

# Nothing printed, right password --------------------------------------------------------

SECRET=$(config_secret sales "$PW")
CFG=$TEST_TMP/good.conf
config "$CFG" "$SECRET"

inboxd_run check --config "$CFG" --check-config
is "$INBOXD_RC" 0 "--check-config accepts the configuration"
no_leak "--check-config" "$INBOXD_OUT" "$PW"

inboxd_run once --config "$CFG" --once
is "$INBOXD_RC" 0 "--once with the right password exits 0"
is "$(sql "SELECT count(*) FROM conversation_messages")" 2 "the 2 messages are stored"
ok "log_level = debug is in force (debug lines were written)" \
    test "$(ops_log_count "$INBOXD_OUT" '^([0-9T:.Z-]+ )?inboxd: debug: ')" -gt 0
no_leak "--once at debug level" "$INBOXD_OUT" "$PW"

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

WRONG_SECRET=$(config_secret wrong "$WRONG")
BAD=$TEST_TMP/wrong.conf
config "$BAD" "$WRONG_SECRET"
inboxd_run wrong --config "$BAD" --once
isnt "$INBOXD_RC" 0 "--once with a wrong password exits non-zero"
ok "and says the login failed" \
    test "$(ops_log_count "$INBOXD_OUT" 'error: .*(login|auth|denied|credential)')" -gt 0
no_leak "--once with a wrong password (the wrong one)" "$INBOXD_OUT" "$WRONG"
no_leak "--once with a wrong password (the right one)" "$INBOXD_OUT" "$PW"

# Modes of the password file --------------------------------------------------------------

# mode_config MODE: the password in file $f of that mode, and the
# configuration $C that names it.
mode_config()
{
	f=$TEST_TMP/secrets/mode-$1
	printf '%s\n' "$PW" >"$f"
	chmod "$1" "$f"
	C=$TEST_TMP/mode-$1.conf
	config "$C" "$f"
}

for mode in 0644 0604; do
	mode_config "$mode"
	line=$(grep -n '^password_file = ' "$C" | cut -d: -f1)
	inboxd_run "check-$mode" --config "$C" --check-config
	isnt "$INBOXD_RC" 0 "password_file mode $mode: --check-config exits non-zero"
	err=$(grep -v ': debug: ' "$INBOXD_OUT")
	like "$err" "$C:$line: \[account sales\] password_file: " \
	    "mode $mode: the message names file:line, group and key"
	like "$err" "$f" "mode $mode: the message names the password file"
	like "$err" "readable by others" "mode $mode: the message says why"
	like "$err" "(chmod|mode) 0?6[04]0" "mode $mode: the message names the mode to set"
	inboxd_run "once-$mode" --config "$C" --once
	isnt "$INBOXD_RC" 0 "password_file mode $mode: --once exits non-zero"
	like "$(cat "$INBOXD_OUT")" "readable by others" "mode $mode: --once says why"
	no_leak "mode $mode" "$INBOXD_OUT" "$PW"
done

for mode in 0600 0640; do
	mode_config "$mode"
	inboxd_run "check-$mode" --config "$C" --check-config
	is "$INBOXD_RC" 0 "password_file mode $mode: --check-config accepts it"
	[ "$INBOXD_RC" -eq 0 ] || diag "$(cat "$INBOXD_OUT")"
	inboxd_run "once-$mode" --config "$C" --once
	is "$INBOXD_RC" 0 "password_file mode $mode: --once exits 0"
	[ "$INBOXD_RC" -eq 0 ] || diag "$(tail -n 5 "$INBOXD_OUT")"
	no_leak "mode $mode" "$INBOXD_OUT" "$PW"
done

# Missing and empty files --------------------------------------------------------------------

missing=$TEST_TMP/secrets/no-such-file
C=$TEST_TMP/missing.conf
config "$C" "$missing"
line=$(grep -n '^password_file = ' "$C" | cut -d: -f1)
inboxd_run missing-check --config "$C" --check-config
isnt "$INBOXD_RC" 0 "a missing password file: --check-config exits non-zero"
like "$(cat "$INBOXD_OUT")" "$C:$line: \[account sales\] password_file: .*$missing.*No such file or directory" \
    "the message names file:line, the key, the missing file and why"
inboxd_run missing-once --config "$C" --once
isnt "$INBOXD_RC" 0 "a missing password file: --once exits non-zero"
like "$(cat "$INBOXD_OUT")" "$missing.*No such file or directory" "--once says the same"

empty=$TEST_TMP/secrets/empty
: >"$empty"
chmod 0600 "$empty"
C=$TEST_TMP/empty.conf
config "$C" "$empty"
inboxd_run empty-check --config "$C" --check-config
isnt "$INBOXD_RC" 0 "an empty password file: --check-config exits non-zero"
like "$(cat "$INBOXD_OUT")" "password_file: .*$empty.*empty" "the message says the file is empty"

# Secret files that are not what they seem ---------------------------------------------------

# refused NAME PASSWORD_FILE PATTERN: --check-config refuses the file,
# on the password_file line, saying PATTERN; the output does not leak.
refused()
{
	local line
	C=$TEST_TMP/$1.conf
	config "$C" "$2"
	line=$(grep -n '^password_file = ' "$C" | cut -d: -f1)
	inboxd_run "$1-check" --config "$C" --check-config
	isnt "$INBOXD_RC" 0 "$1: --check-config exits non-zero"
	like "$(cat "$INBOXD_OUT")" "$C:$line: \[account sales\] password_file: .*$3" \
	    "$1: the message names file:line and says why"
	no_leak "$1" "$INBOXD_OUT" "$PW"
}

lines=$TEST_TMP/secrets/two-lines
printf '%s\nsecond line\n' "$PW" >"$lines"
chmod 0600 "$lines"
refused two-lines "$lines" "more than one line"

writable=$TEST_TMP/secrets/writable
printf '%s\n' "$PW" >"$writable"
chmod 0602 "$writable"
refused world-writable "$writable" "writable by others"

ln -s /etc/shadow "$TEST_TMP/secrets/shadow"
refused symlink "$TEST_TMP/secrets/shadow" "symbolic link"

# Reading a FIFO used to wait for a writer: one comes after 15 s, so
# that the old behaviour fails this test rather than hanging it.
fifo=$TEST_TMP/secrets/fifo
mkfifo -m 0600 "$fifo"
(sleep 15 && : >"$fifo") &
writer=$!
start=$SECONDS
refused fifo "$fifo" "not a regular file"
ok "fifo: refused at once ($((SECONDS - start)) s), without waiting for a writer" \
    test $((SECONDS - start)) -lt 10
kill "$writer" 2>/dev/null
wait "$writer" 2>/dev/null

# The database's passfile ------------------------------------------------------------------

# A role that must give a password over TCP, as on a remote server.
psql_su "CREATE ROLE pw_user LOGIN PASSWORD '$PW' IN ROLE inboxd" >/dev/null
sed -i '1i host all pw_user 127.0.0.1/32 scram-sha-256' "$TEST_TMP/pg/data/pg_hba.conf"
psql_su "SELECT pg_reload_conf()" >/dev/null
sleep 1
pgpass=$TEST_TMP/secrets/pgpass
printf '*:*:*:pw_user:%s\n' "$PW" >"$pgpass"
pw_conninfo="host=127.0.0.1 port=$PGPORT dbname=inboxd user=pw_user passfile=$pgpass"

# The set-up inboxd.conf(5) used to give, mode 0640: libpq ignores the
# file and the connection fails.
chmod 0640 "$pgpass"
like "$(psql -XAt -d "$pw_conninfo" -c 'SELECT 1' 2>&1 </dev/null)" \
    "no password supplied" "passfile mode 0640: libpq ignores it"
# The documented one, mode 0600 and owned by the user that connects.
chmod 0600 "$pgpass"
is "$(psql -XAt -d "$pw_conninfo" -c 'SELECT current_user' 2>&1 </dev/null)" \
    pw_user "passfile mode 0600: libpq reads it and connects"
C=$TEST_TMP/pw-user.conf
INBOXD_TEST_CONNINFO="$pw_conninfo" config "$C" "$SECRET"
rc=0; out=$(run_inboxctl --config "$C" status 2>&1) || rc=$?
is "$rc" 0 "passfile mode 0600: inboxctl connects with the password"
[ "$rc" -eq 0 ] || diag "$out"
no_leak "inboxctl status with a passfile" <(echo "$out") "$PW"

# libpq ignores a passfile its group may read: --check-config says so.
chmod 0640 "$pgpass"
C=$TEST_TMP/passfile.conf
INBOXD_TEST_CONNINFO="$INBOXD_TEST_CONNINFO passfile=$pgpass" config "$C" "$SECRET"
inboxd_run passfile-0640 --config "$C" --check-config
isnt "$INBOXD_RC" 0 "passfile mode 0640: --check-config exits non-zero"
like "$(cat "$INBOXD_OUT")" "\[database\] conninfo: libpq ignores passfile $pgpass.*chmod 0600" \
    "passfile mode 0640: the message says libpq ignores it and what to do"
chmod 0600 "$pgpass"
inboxd_run passfile-0600 --config "$C" --check-config
is "$INBOXD_RC" 0 "passfile mode 0600: --check-config accepts it"
[ "$INBOXD_RC" -eq 0 ] || diag "$(cat "$INBOXD_OUT")"

is "$(cat "$TEST_TMP"/inboxd.*.log | grep -cE 'AddressSanitizer|runtime error:|LeakSanitizer')" \
    0 "no sanitizer report"

done_testing
