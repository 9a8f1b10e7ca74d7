#!/bin/bash
# Bad input fails clearly and never crashes: wrong password, unreachable
# IMAP server, missing database, bad config lines, missing or exposed
# secret files, and mail that does not parse (stored with what could be
# read).

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"

start_servers
USER=sales@example.com
PASS=secret
# A failure must be reported promptly, not retried until killed.
INBOXD_TEST_TIMEOUT=60

# The last run failed the way a program should: a non-zero status, no
# time-out, no signal, no sanitizer report.
failed_cleanly()
{
	local what=$1
	if [ "$INBOXD_RC" -eq 0 ]; then
		fail "$what: exits non-zero"
		diag "  got exit status 0; output: $(cat "$INBOXD_OUT")"
	elif [ "$INBOXD_RC" -eq 124 ] || [ "$INBOXD_RC" -eq 137 ]; then
		fail "$what: exits non-zero within ${INBOXD_TEST_TIMEOUT}s"
		diag "  timed out; output: $(tail -n 5 "$INBOXD_OUT")"
	elif [ "$INBOXD_RC" -gt 128 ]; then
		fail "$what: exits non-zero without crashing"
		diag "  killed by signal $((INBOXD_RC - 128)); output: $(tail -n 20 "$INBOXD_OUT")"
	else
		pass "$what: exits non-zero ($INBOXD_RC)"
	fi
	no_sanitizer_report "$what"
}

no_sanitizer_report()
{
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:|Segmentation fault' "$INBOXD_OUT"; then
		fail "$1: no sanitizer report"
		diag "$(grep -E -A 15 'Sanitizer|runtime error:' "$INBOXD_OUT" | head -n 30)"
	else
		pass "$1: no sanitizer report"
	fi
}

# Error lines of stderr (not info, warning or debug ones, after the time
# a line may begin with) matching both regexes, case-insensitively.
err_lines()
{
	grep -vE '^([0-9T:.Z-]+ )?(inboxd: )?(info|warning|debug): |^<[4-7]>' "$INBOXD_OUT" |
	    grep -iE "$1" | grep -iE "$2" || :
}

# config_refused NAME WHAT GROUP LINE: --check-config of $BAD, which has
# LINE in GROUP, fails cleanly and names file:line, group and key.
config_refused()
{
	local name=$1 what=$2 group=$3 bad=$4 line
	line=$(grep -n "^$bad\$" "$BAD" | cut -d: -f1)
	inboxd_run "$name" --config "$BAD" --check-config
	failed_cleanly "$what"
	like "$(cat "$INBOXD_OUT")" "$BAD:$line: \[$group\] ${bad%% *}" \
	    "error names file:line, group and key"
}

# Configuration errors ------------------------------------------------------------

CFG=$TEST_TMP/good.conf
inboxd_config "$CFG"
inboxd_run check-good --config "$CFG" --check-config
is "$INBOXD_RC" 0 "--check-config accepts the test configuration"

BAD=$TEST_TMP/unknown-key.conf
inboxd_config "$BAD" "colour = blue"
config_refused unknown-key "unknown account key" "account sales" "colour = blue"

BAD=$TEST_TMP/unknown-daemon-key.conf
{
	config_daemon "verbosity = 3"
	config_imap sales "$USER" "$PASS"
} >"$BAD"
config_refused unknown-daemon-key "unknown [daemon] key" daemon "verbosity = 3"

BAD=$TEST_TMP/bad-value.conf
inboxd_config "$BAD" "poll_interval = soon"
config_refused bad-value "bad value" "account sales" "poll_interval = soon"

# What used to pass --check-config and failed later, or silently.
BAD=$TEST_TMP/metrics-port.conf
{
	config_daemon "metrics_listen = 21470"
	config_imap sales "$USER" "$PASS"
} >"$BAD"
config_refused metrics-port "metrics_listen without an address" daemon \
    "metrics_listen = 21470"

BAD=$TEST_TMP/duplicate-key.conf
inboxd_config "$BAD" "poll_interval = 5m" "batch_size = 10" "poll_interval = 7m"
inboxd_run duplicate-key --config "$BAD" --check-config
failed_cleanly "a key given twice"
like "$(cat "$INBOXD_OUT")" "$BAD:$(grep -n '^poll_interval = 7m$' "$BAD" | cut -d: -f1): \[account sales\] poll_interval: given again" \
    "error names the second line"

BAD=$TEST_TMP/token-url.conf
inboxd_config "$BAD" "token_url = file:///etc/passwd"
config_refused token-url "token_url of file://" "account sales" \
    "token_url = file:///etc/passwd"

BAD=$TEST_TMP/inline-password.conf
INBOXD_TEST_CONNINFO="$INBOXD_TEST_CONNINFO password=hunter2" inboxd_config "$BAD"
chmod 0644 "$BAD"
config_refused inline-password "a password in a world-readable config" \
    database "conninfo = .*password=hunter2"

# Every error at once, one line each.
BAD=$TEST_TMP/many-errors.conf
{
	config_daemon "metrics_listen = 21470" "verbosity = 3"
	config_imap sales "$USER" "$PASS" "colour = blue" "poll_interval = soon"
} >"$BAD"
inboxd_run many-errors --config "$BAD" --check-config
failed_cleanly "a file with four errors"
is "$(grep -c "$BAD:[0-9]*: \[" "$INBOXD_OUT")" 4 "--check-config reports all four"
for key in metrics_listen verbosity colour poll_interval; do
	like "$(cat "$INBOXD_OUT")" "$BAD:$(grep -n "^$key = " "$BAD" | cut -d: -f1): \[[a-z ]*\] $key: " \
	    "the error about $key names its line"
done

inboxd_run missing-config --config "$TEST_TMP/no-such.conf" --check-config
failed_cleanly "missing config file"
like "$(cat "$INBOXD_OUT")" "no-such.conf" "error names the missing file"

BAD=$TEST_TMP/missing-secret.conf
inboxd_config "$BAD" "password_file = $TEST_TMP/secrets/absent"
inboxd_run missing-secret-check --config "$BAD" --check-config
failed_cleanly "missing password file (--check-config)"
like "$(cat "$INBOXD_OUT")" "secrets/absent" "error names the password file"
inboxd_run missing-secret-once --config "$BAD" --once
failed_cleanly "missing password file (--once)"
like "$(cat "$INBOXD_OUT")" "account sales.*password_file|password_file.*secrets/absent" \
    "error names the account's password_file"

BAD=$TEST_TMP/exposed-secret.conf
printf '%s\n' "$PASS" >"$TEST_TMP/exposed"
chmod 0644 "$TEST_TMP/exposed"
inboxd_config "$BAD" "password_file = $TEST_TMP/exposed"
inboxd_run exposed-secret --config "$BAD" --check-config
failed_cleanly "world-readable password file"
like "$(cat "$INBOXD_OUT")" "readable by others" "error says the file is readable by others"

# Servers that say no ---------------------------------------------------------------

# A message in INBOX, so that a run that got through would have work.
mail_write "$TEST_TMP/x.eml" a@b.example sales@example.com x - x@b.example -- x
mail_append "$USER" "$PASS" INBOX "$TEST_TMP/x.eml"

CFG=$TEST_TMP/wrong-password.conf
inboxd_config "$CFG" \
    "password_file = $(config_secret wrong not-the-password)"
inboxd_run wrong-password --config "$CFG" --once
failed_cleanly "wrong password"
lines=$(err_lines 'sales' 'auth|login|password|credential')
if [ -n "$lines" ]; then
	n=$(printf '%s\n' "$lines" | wc -l)
else
	n=0
fi
is "$n" 1 "one error line names the account and the failed login"
[ "$n" -eq 1 ] || diag "stderr was:" "$(cat "$INBOXD_OUT")"

CFG=$TEST_TMP/closed-port.conf
closed_port=$(free_port)
inboxd_config "$CFG" "port = $closed_port"
inboxd_run closed-port --config "$CFG" --once
failed_cleanly "IMAP port closed"
like "$(err_lines 'sales' 'connect|refused|unreachable|127\.0\.0\.1')" '.' \
    "an error line names the account and the connection failure"

CFG=$TEST_TMP/no-database.conf
INBOXD_TEST_CONNINFO="host=127.0.0.1 port=$PGPORT dbname=nosuchdb user=inboxd connect_timeout=5" \
    inboxd_config "$CFG"
inboxd_run no-database --config "$CFG" --once
failed_cleanly "database does not exist"
like "$(cat "$INBOXD_OUT")" 'nosuchdb' "the error names the missing database"

CFG=$TEST_TMP/db-down.conf
db_port=$(free_port)
INBOXD_TEST_CONNINFO="host=127.0.0.1 port=$db_port dbname=inboxd user=inboxd connect_timeout=5" \
    inboxd_config "$CFG"
inboxd_run db-down --config "$CFG" --once
failed_cleanly "no PostgreSQL listening"
like "$(cat "$INBOXD_OUT")" "$db_port|connect|refused" "the error says the database is unreachable"

# Mail that does not parse ---------------------------------------------------------

# Broken MIME: an unterminated quoted display name, a bad encoded word,
# raw 8-bit bytes in the Subject, an invalid Date, NULs and invalid UTF-8
# in a quoted-printable part, an unknown charset, a base64 part that is
# not base64, and no closing boundary.
printf '%s\n' \
    'From: "Broken <sender@broken.example' \
    'To: sales@example.com' \
    $'Subject: =?utf-8?B?!!!?= broken \xff\xfe subject' \
    'Date: not a date at all' \
    'Message-ID: <garbage-1@broken.example>' \
    'MIME-Version: 1.0' \
    'Content-Type: multipart/mixed; boundary="XYZ"' \
    '' \
    '--XYZ' \
    'Content-Type: text/plain; charset=utf-8' \
    'Content-Transfer-Encoding: quoted-printable' \
    '' \
    'Readable part=00 with NUL=00bytes and =C3=28 invalid UTF-8.' \
    '--XYZ' \
    'Content-Type: text/plain; charset=x-no-such-charset' \
    'Content-Transfer-Encoding: base64' \
    '' \
    '!!!! not base64 at all #### ====' \
    '--XYZ' \
    'Content-Type: application/octet-stream; name="blob.bin"' \
    'Content-Disposition: attachment; filename="blob.bin"' \
    'Content-Transfer-Encoding: base64' \
    '' \
    'AAECAwQFBgcICQ' >"$TEST_TMP/garbage-1.eml"

# No headers at all: 4 KiB of fixed pseudo-random bytes, NULs included.
"$PYTHON3" -c 'import random, sys
r = random.Random(4242)
sys.stdout.buffer.write(bytes(r.randrange(256) for _ in range(4096)))' \
    >"$TEST_TMP/garbage-2.eml"

# And a normal message after them: the batch must go on.
mail_write "$TEST_TMP/fine.eml" "Carol <carol@fine.example>" sales@example.com \
    "A normal message" "Wed, 08 Nov 2023 12:00:00 +0000" fine-1@fine.example -- \
    "This one is fine."

# Start from an empty mailbox and database for this part.
CFG=$TEST_TMP/garbage.conf
inboxd_config "$CFG"
inboxd_run clean-first --config "$CFG" --once
is "$INBOXD_RC" 0 "a normal pass exits 0"
base=$(sql "SELECT count(*) FROM conversation_messages")

mail_append "$USER" "$PASS" INBOX "$TEST_TMP/garbage-1.eml" \
    "$TEST_TMP/garbage-2.eml" "$TEST_TMP/fine.eml"
inboxd_run garbage --config "$CFG" --once
is "$INBOXD_RC" 0 "inboxd --once exits 0 with unparsable mail in the mailbox"
no_sanitizer_report "unparsable mail"
is "$(sql "SELECT count(*) FROM conversation_messages")" "$((base + 3))" \
    "every unparsable message is stored"
is "$(sql "SELECT count(*) FROM conversation_messages
    WHERE rfc_message_id = 'garbage-1@broken.example'")" 1 "broken MIME message stored"
g1=$(sql "SELECT content FROM conversation_messages
    WHERE rfc_message_id = 'garbage-1@broken.example'")
like "$g1" 'Readable part' "what could be read is in content"
like "$g1" 'bytes and' "text after the NUL bytes is kept"
is "$(sql "SELECT count(*) FROM conversation_messages
    WHERE rfc_message_id = 'garbage-1@broken.example'
    AND (content LIKE '%' || chr(65533) || '%')")" 1 \
    "invalid UTF-8 became U+FFFD"
like "$(sql "SELECT subject FROM conversation_messages
    WHERE rfc_message_id = 'garbage-1@broken.example'")" 'broken.*subject' \
    "the subject with raw 8-bit bytes is kept, repaired"
is "$(sql "SELECT count(*) FROM conversation_messages m
    JOIN message_locations l ON l.message_id = m.id
    WHERE l.mailbox = 'INBOX' AND m.rfc_message_id NOT IN
    ('garbage-1@broken.example', 'fine-1@fine.example', 'x@b.example')
    AND m.rfc_message_id <> ''")" 1 \
    "the headerless message is stored under a synthetic Message-ID"
like "$(sql "SELECT content FROM conversation_messages
    WHERE rfc_message_id = 'fine-1@fine.example'")" 'This one is fine' \
    "the normal message after them is stored"
is "$(sql "SELECT coalesce(last_error, '-') FROM sync_state WHERE mailbox = 'INBOX'")" \
    - "no sync error recorded"

inboxd_run garbage-again --config "$CFG" --once
is "$INBOXD_RC" 0 "a second pass exits 0"
is "$(sql "SELECT count(*) FROM conversation_messages")" "$((base + 3))" \
    "a second pass stores no duplicates (synthetic ids are stable)"

done_testing
