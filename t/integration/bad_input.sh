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

# Runs inboxd with ARGS, keeping stderr in $ERR and the status in $RC.
ERR=
RC=
run_case()
{
	local name=$1
	shift
	ERR=$TEST_TMP/inboxd.$name.log
	RC=0
	run_inboxd "$@" >/dev/null 2>"$ERR" || RC=$?
}

# The last run failed the way a program should: a non-zero status, no
# time-out, no signal, no sanitizer report.
failed_cleanly()
{
	local what=$1
	if [ "$RC" -eq 0 ]; then
		fail "$what: exits non-zero"
		diag "  got exit status 0; stderr: $(cat "$ERR")"
	elif [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
		fail "$what: exits non-zero within ${INBOXD_TEST_TIMEOUT}s"
		diag "  timed out; stderr: $(tail -n 5 "$ERR")"
	elif [ "$RC" -gt 128 ]; then
		fail "$what: exits non-zero without crashing"
		diag "  killed by signal $((RC - 128)); stderr: $(tail -n 20 "$ERR")"
	else
		pass "$what: exits non-zero ($RC)"
	fi
	no_sanitizer_report "$what"
}

no_sanitizer_report()
{
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:|Segmentation fault' "$ERR"; then
		fail "$1: no sanitizer report"
		diag "$(grep -E -A 15 'Sanitizer|runtime error:' "$ERR" | head -n 30)"
	else
		pass "$1: no sanitizer report"
	fi
}

# Error lines of stderr (not info, warning or debug ones) matching both
# regexes, case-insensitively.
err_lines()
{
	grep -vE '^(inboxd: )?(info|warning|debug): |^<[4-7]>' "$ERR" |
	    grep -iE "$1" | grep -iE "$2" || :
}

# Configuration errors ------------------------------------------------------------

CFG=$TEST_TMP/good.conf
inboxd_config "$CFG"
run_case check-good --config "$CFG" --check-config
is "$RC" 0 "--check-config accepts the test configuration"

BAD=$TEST_TMP/unknown-key.conf
inboxd_config "$BAD" "colour = blue"
line=$(grep -n '^colour = blue' "$BAD" | cut -d: -f1)
run_case unknown-key --config "$BAD" --check-config
failed_cleanly "unknown account key"
like "$(cat "$ERR")" "$BAD:$line: \[account sales\] colour" \
    "error names file:line, group and key"

BAD=$TEST_TMP/unknown-daemon-key.conf
inboxd_config "$BAD"
sed -i 's/^\[daemon\]$/[daemon]\nverbosity = 3/' "$BAD"
line=$(grep -n '^verbosity = 3' "$BAD" | cut -d: -f1)
run_case unknown-daemon-key --config "$BAD" --check-config
failed_cleanly "unknown [daemon] key"
like "$(cat "$ERR")" "$BAD:$line: \[daemon\] verbosity" \
    "error names file:line, group and key"

BAD=$TEST_TMP/bad-value.conf
inboxd_config "$BAD" "poll_interval = soon"
line=$(grep -n '^poll_interval = soon' "$BAD" | cut -d: -f1)
run_case bad-value --config "$BAD" --check-config
failed_cleanly "bad value"
like "$(cat "$ERR")" "$BAD:$line: \[account sales\] poll_interval" \
    "error names file:line, group and key"

run_case missing-config --config "$TEST_TMP/no-such.conf" --check-config
failed_cleanly "missing config file"
like "$(cat "$ERR")" "no-such.conf" "error names the missing file"

BAD=$TEST_TMP/missing-secret.conf
inboxd_config "$BAD"
sed -i "s|^password_file = .*|password_file = $TEST_TMP/secrets/absent|" "$BAD"
run_case missing-secret-check --config "$BAD" --check-config
failed_cleanly "missing password file (--check-config)"
like "$(cat "$ERR")" "secrets/absent" "error names the password file"
run_case missing-secret-once --config "$BAD" --once
failed_cleanly "missing password file (--once)"
like "$(cat "$ERR")" "account sales.*password_file|password_file.*secrets/absent" \
    "error names the account's password_file"

BAD=$TEST_TMP/exposed-secret.conf
inboxd_config "$BAD"
cp "$TEST_TMP/secrets/sales" "$TEST_TMP/exposed"
chmod 0644 "$TEST_TMP/exposed"
sed -i "s|^password_file = .*|password_file = $TEST_TMP/exposed|" "$BAD"
run_case exposed-secret --config "$BAD" --check-config
failed_cleanly "world-readable password file"
like "$(cat "$ERR")" "readable by others" "error says the file is readable by others"

# Servers that say no ---------------------------------------------------------------

# A message in INBOX, so that a run that got through would have work.
printf 'From: a@b.example\nTo: sales@example.com\nSubject: x\nMessage-ID: <x@b.example>\n\nx\n' \
    >"$TEST_TMP/x.eml"
imap_append "$USER" "$PASS" INBOX "$TEST_TMP/x.eml" >/dev/null ||
    bail_out "APPEND failed"

CFG=$TEST_TMP/wrong-password.conf
INBOXD_TEST_PASSWORD=not-the-password inboxd_config "$CFG"
run_case wrong-password --config "$CFG" --once
failed_cleanly "wrong password"
lines=$(err_lines 'sales' 'auth|login|password|credential')
if [ -n "$lines" ]; then
	n=$(printf '%s\n' "$lines" | wc -l)
else
	n=0
fi
is "$n" 1 "one error line names the account and the failed login"
[ "$n" -eq 1 ] || diag "stderr was:" "$(cat "$ERR")"

CFG=$TEST_TMP/closed-port.conf
closed_port=$(_dovecot_free_port)
INBOXD_TEST_PORT=$closed_port inboxd_config "$CFG"
run_case closed-port --config "$CFG" --once
failed_cleanly "IMAP port closed"
like "$(err_lines 'sales' 'connect|refused|unreachable|127\.0\.0\.1')" '.' \
    "an error line names the account and the connection failure"

CFG=$TEST_TMP/no-database.conf
INBOXD_TEST_CONNINFO="host=127.0.0.1 port=$PGPORT dbname=nosuchdb user=inboxd connect_timeout=5" \
    inboxd_config "$CFG"
run_case no-database --config "$CFG" --once
failed_cleanly "database does not exist"
like "$(cat "$ERR")" 'nosuchdb' "the error names the missing database"

CFG=$TEST_TMP/db-down.conf
db_port=$(_dovecot_free_port)
INBOXD_TEST_CONNINFO="host=127.0.0.1 port=$db_port dbname=inboxd user=inboxd connect_timeout=5" \
    inboxd_config "$CFG"
run_case db-down --config "$CFG" --once
failed_cleanly "no PostgreSQL listening"
like "$(cat "$ERR")" "$db_port|connect|refused" "the error says the database is unreachable"

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
printf '%s\n' \
    'From: Carol <carol@fine.example>' \
    'To: sales@example.com' \
    'Subject: A normal message' \
    'Date: Wed, 08 Nov 2023 12:00:00 +0000' \
    'Message-ID: <fine-1@fine.example>' \
    '' \
    'This one is fine.' >"$TEST_TMP/fine.eml"

# Start from an empty mailbox and database for this part.
CFG=$TEST_TMP/garbage.conf
inboxd_config "$CFG"
run_case clean-first --config "$CFG" --once
is "$RC" 0 "a normal pass exits 0"
base=$(sql "SELECT count(*) FROM conversation_messages")

for f in garbage-1 garbage-2 fine; do
	imap_append "$USER" "$PASS" INBOX "$TEST_TMP/$f.eml" >/dev/null ||
	    bail_out "APPEND $f failed"
done
run_case garbage --config "$CFG" --once
is "$RC" 0 "inboxd --once exits 0 with unparsable mail in the mailbox"
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

run_case garbage-again --config "$CFG" --once
is "$RC" 0 "a second pass exits 0"
is "$(sql "SELECT count(*) FROM conversation_messages")" "$((base + 3))" \
    "a second pass stores no duplicates (synthetic ids are stable)"

done_testing
