#!/bin/bash
# Accounts as data: with a configuration file that has no [account]
# group, the daemon starts and waits; accounts an app inserts with SQL
# (and secrets it sets with inboxd.set_account_secret()) sync within a
# few seconds, without a restart or SIGHUP; two added in one transaction
# both run; a row the daemon cannot use (an unknown settings key, a
# missing secret) is marked failing with what to fix while the good row
# beside it syncs; a changed row restarts its account; a disabled row
# stops (new mail is no longer stored) and runs again when enabled; a
# deleted row stops; the daemon shows each account's state; events say
# accounts were added and removed; pg_dump holds none of the secrets;
# a refused password gives auth_failed and no retry until the secret
# changes; inboxctl keygen, rekey, account and purge work; an account
# added after a PostgreSQL restart runs (LISTEN renewed); after a
# restart the daemon runs the database accounts again; kill -9 while an
# account is being added loses and doubles nothing.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/ops.sh"

INBOXD_TEST_TIMEOUT=60
POLL=2
# Distinctive passwords, so that a match in a dump can only be a leak.
PW_A="Alpha-$$-$(date +%N)-Quokka5"
PW_B="Beta-$$-$(date +%N)-Heron8"
PW_C="Gamma-$$-$(date +%N)-Lynx2"
PW_D="Delta-$$-$(date +%N)-Ibis4"
PW_X="Bad-$$-$(date +%N)-Newt6"
A=alpha@example.com B=beta@example.com C=gamma@example.com
D=delta@example.com X=bad@example.com E=eta@example.com PW_E="Eta-$$-Kite9"

start_servers "$A:$PW_A" "$B:$PW_B" "$C:$PW_C" "$D:$PW_D" "$X:$PW_X" "$E:$PW_E"
CFG=$TEST_TMP/inboxd.conf
config_daemon "secrets_dir = $TEST_TMP/keys" >"$CFG"
ctl() { run_inboxctl --config "$CFG" "$@"; }

stored()
{
	sql "SELECT count(*) FROM conversation_messages m
	    JOIN mail_accounts a ON a.id = m.account_id WHERE a.name = '$1'"
}
stored_is() { [ "$(stored "$1")" = "$2" ]; }
state_is() { [ "$(sql "SELECT state FROM mail_accounts WHERE name = '$1'")" = "$2" ]; }

# account_sql NAME USER PASSWORD [SETTINGS]: the statements an app runs.
account_sql()
{
	local settings=${4:-'{}'}
	cat <<EOF
INSERT INTO mail_accounts (name, type, host, port, tls, username, addresses,
    poll_interval, settings)
VALUES ('$1', 'imap', '127.0.0.1', $IMAP_PORT, 'none', '$2', ARRAY['$2'],
    '${POLL}s', '$settings');
SELECT inboxd.set_account_secret('$1', 'password', '$3');
EOF
}

# The key ---------------------------------------------------------------------------

ctl migrate >/dev/null || bail_out "inboxctl migrate failed"
out=$(psql -X -q -c "INSERT INTO mail_accounts (name, type, host) VALUES ('nokey', 'imap', 'h');
    SELECT inboxd.set_account_secret('nokey', 'password', 'y')" 2>&1)
like "$out" "no account key yet" "set_account_secret refuses before inboxctl keygen"
sql "DELETE FROM mail_accounts WHERE name = 'nokey'" >/dev/null
out=$(ctl keygen --bits 2048 2>&1)
like "$out" "account key written to $TEST_TMP/keys/accounts.key" "inboxctl keygen writes the key"
is "$(stat -c %a "$TEST_TMP/keys/accounts.key")" 600 "the private key file is mode 0600"
is "$(sql "SELECT count(*) FROM inboxd.account_key")" 1 "the public key is in the database"
rc=0; out=$(ctl keygen 2>&1) || rc=$?
ok "keygen refuses to replace a key without --force ($out)" test "$rc" -ne 0

# Start without accounts ---------------------------------------------------------------

inboxd_start --config "$CFG" --foreground
PID=$INBOXD_PID LOG=$INBOXD_LOG
ok "a configuration without [account] groups starts" \
    ops_wait_log "$LOG" 'started: 0 accounts' 10

# An account added with SQL ------------------------------------------------------------

mail_deliver "$A" "$PW_A" 2 alpha
t0=$(date +%s.%N)
psql -X -q -1 -c "$(account_sql alpha "$A" "$PW_A")" >/dev/null ||
    bail_out "the app's insert failed"
ok "an account inserted with SQL syncs within 5 s" wait_for 5 stored_is alpha 2
t1=$(date +%s.%N)
note "alpha synced $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s after its insert"
ok "its state is idle" wait_for 3 state_is alpha idle
is "$(sql "SELECT last_success_at IS NOT NULL AND held_by IS NOT NULL
    FROM mail_accounts WHERE name = 'alpha'")" t "last_success_at and held_by are written"
mail_deliver "$A" "$PW_A" 1 alpha-more
ok "new mail of the database account is stored" wait_for $((POLL * 3)) stored_is alpha 3

# Two accounts in one transaction ------------------------------------------------------

mail_deliver "$B" "$PW_B" 1 beta
psql -X -q -1 -c "$(account_sql beta "$B" "$PW_B"; account_sql gamma "$C" "$PW_C")" \
    >/dev/null || bail_out "the two-account insert failed"
ok "two accounts added in one transaction: the first syncs" wait_for 5 stored_is beta 1
ok "and the second runs" wait_for 5 state_is gamma idle

# A bad row beside a good one ------------------------------------------------------------

mail_deliver "$D" "$PW_D" 2 delta
psql -X -q -1 -c "$(account_sql bad "$X" "$PW_X" '{"no_such_key": "1", "idle": "false"}'
    account_sql delta "$D" "$PW_D")
    INSERT INTO mail_accounts (name, type, host, username)
    VALUES ('nosecret', 'imap', '127.0.0.1', 'n@example.com');" >/dev/null ||
    bail_out "the bad and good insert failed"
ok "the good row beside a bad one syncs" wait_for 5 stored_is delta 2
ok "the bad row is failing" wait_for 5 state_is bad failing
like "$(sql "SELECT last_error FROM mail_accounts WHERE name = 'bad'")" \
    'settings.no_such_key: unknown key' "its last_error names the unknown key"
ok "a row without its secret is failing" wait_for 5 state_is nosecret failing
like "$(sql "SELECT last_error FROM mail_accounts WHERE name = 'nosecret'")" \
    "missing secret: password \\(SELECT inboxd.set_account_secret\\('nosecret'" \
    "its last_error says how to set the secret"
is "$(stored alpha)" 3 "the other accounts are undisturbed"
sql "UPDATE mail_accounts SET settings = '{\"idle\": \"false\"}' WHERE name = 'bad'" >/dev/null
ok "the bad row, fixed, runs" wait_for 5 state_is bad idle
account_events() {
	sql "SELECT string_agg(type, ' ' ORDER BY id) FROM events WHERE account = '$1'"
}
is "$(account_events bad)" "account.added account.failed account.recovered" \
    "events account.failed and account.recovered"

# Credentials refused ------------------------------------------------------------------------

psql -X -q -1 -c "$(account_sql wrongpw "$X" "not-$PW_X")" >/dev/null ||
    bail_out "the wrong-password insert failed"
ok "a refused password puts the account in auth_failed" wait_for 5 state_is wrongpw auth_failed
like "$(sql "SELECT last_error FROM mail_accounts WHERE name = 'wrongpw'")" \
    "login failed for user $X" "its last_error is the server's refusal"
ok "and it stops retrying" ops_wait_log "$LOG" \
    'account=wrongpw: credentials refused; not retrying until its secret or settings change' 3
sql "SELECT inboxd.set_account_secret('wrongpw', 'password', '$PW_X')" >/dev/null
ok "a new secret restarts it, and it syncs" wait_for 5 state_is wrongpw idle
is "$(account_events wrongpw)" "account.added account.auth_failed account.recovered" \
    "events account.auth_failed and account.recovered"
sql "DELETE FROM mail_accounts WHERE name = 'wrongpw'" >/dev/null

# A changed row restarts -------------------------------------------------------------------

sql "UPDATE mail_accounts SET poll_interval = '3s' WHERE name = 'beta'" >/dev/null
ok "a changed row restarts its account" \
    ops_wait_log "$LOG" 'account=beta: configuration changed; restarting' 3
mail_deliver "$B" "$PW_B" 1 beta-more
ok "and it syncs with its new settings" wait_for 8 stored_is beta 2

# Disabled, enabled ----------------------------------------------------------------------------

dlog=$TEST_TMP/dovecot/dovecot.log
closed() { grep -c "imap($A).*Disconnected" "$dlog"; }
closed_before=$(closed)
sql "UPDATE mail_accounts SET enabled = false WHERE name = 'alpha'" >/dev/null
ok "a disabled row stops its account" \
    ops_wait_log "$LOG" 'account=alpha: removed from the configuration; stopping' 3
ok "and closes its connection to the server" \
    wait_for 3 test "$(closed)" -gt "$closed_before"
ok "its state is disabled" wait_for 3 state_is alpha disabled
is "$(sql "SELECT coalesce(held_by, '-') FROM mail_accounts WHERE name = 'alpha'")" - \
    "its hold is given up"
mail_deliver "$A" "$PW_A" 1 alpha-disabled
sleep $((POLL * 2))
is "$(stored alpha)" 3 "mail of a disabled account is not stored"
sql "UPDATE mail_accounts SET enabled = true WHERE name = 'alpha'" >/dev/null
ok "enabled again, it syncs what came meanwhile" wait_for 5 stored_is alpha 4

# Deleted -----------------------------------------------------------------------------------------

sql "DELETE FROM mail_accounts WHERE name = 'gamma'" >/dev/null
ok "a deleted row stops its account" \
    ops_wait_log "$LOG" 'account=gamma: removed from the configuration; stopping' 3
is "$(sql "SELECT string_agg(type || ':' || account, ' ' ORDER BY id) FROM events
    WHERE type LIKE 'account.%' AND account IN ('alpha', 'gamma')")" \
    "account.added:alpha account.added:gamma account.removed:gamma" \
    "events account.added and account.removed"

# inboxctl account ------------------------------------------------------------------------------------

# gamma's mailbox is empty: an account whose mail is stored cannot be
# removed (its messages keep their account).
out=$(ctl account add epsilon --type imap --host 127.0.0.1 --port "$IMAP_PORT" \
    --tls none --username "$C" --poll-interval 2s 2>&1)
like "$out" "account epsilon added" "inboxctl account add"
out=$(printf '%s\n' "$PW_C" | "$top_builddir/inboxctl" --config "$CFG" \
    account set-secret epsilon password 2>&1)
like "$out" "account epsilon: password set" "inboxctl account set-secret reads stdin"
ok "the account added with inboxctl runs" wait_for 5 state_is epsilon idle
like "$(ctl account list)" "epsilon +imap +database +yes +idle" "inboxctl account list"
like "$(ctl account show epsilon)" "secrets +password" "inboxctl account show names the secrets, not their values"
like "$(ctl account disable epsilon)" "account epsilon disabled" "inboxctl account disable"
ok "and it stops" wait_for 3 state_is epsilon disabled
like "$(ctl account remove epsilon)" "account epsilon removed" "inboxctl account remove"

# Purge ----------------------------------------------------------------------------------------------

out=$(ctl account purge delta 2>&1)
like "$out" "account delta purged: deleted [0-9]+ jobs, [0-9]+ events, 2 messages, 2 conversations, [0-9]+ sync states, 1 secrets, 1 accounts" \
    "inboxctl account purge deletes the account and its rows, and says what"
is "$(sql "SELECT (SELECT count(*) FROM mail_accounts WHERE name = 'delta') +
    (SELECT count(*) FROM events WHERE account = 'delta') +
    (SELECT count(*) FROM conversation_messages m WHERE m.rfc_message_id LIKE 'delta-%')")" 0 \
    "nothing of it is left"
ok "and the daemon stops it" \
    ops_wait_log "$LOG" 'account=delta: removed from the configuration; stopping' 3
rc=0; ctl account purge delta >/dev/null 2>&1 || rc=$?
is "$rc" 1 "purging it again: no such account"
mail_deliver "$D" "$PW_D" 1 delta-again
psql -X -q -1 -c "$(account_sql delta "$D" "$PW_D")" >/dev/null ||
    bail_out "adding delta again failed"
ok "added again, it syncs its mailbox from the start" wait_for 8 stored_is delta 3

# Secrets: rekey, pg_dump --------------------------------------------------------------------------

before=$(sql "SELECT ciphertext FROM account_secrets s JOIN mail_accounts a
    ON a.id = s.account_id WHERE a.name = 'alpha'")
out=$(ctl rekey --bits 2048 2>&1)
like "$out" "account key replaced" "inboxctl rekey"
isnt "$(sql "SELECT ciphertext FROM account_secrets s JOIN mail_accounts a
    ON a.id = s.account_id WHERE a.name = 'alpha'")" "$before" "the secrets are encrypted anew"
mail_deliver "$A" "$PW_A" 1 alpha-rekeyed
ok "the accounts run on with the new key" wait_for 8 stored_is alpha 5

"$PG_BIN/pg_dump" --no-owner >"$TEST_TMP/dump.sql" 2>"$TEST_TMP/dump.err" ||
    bail_out "pg_dump failed: $(cat "$TEST_TMP/dump.err")"
ok "pg_dump holds the secrets table" grep -q 'account_secrets' "$TEST_TMP/dump.sql"
for pw in "$PW_A" "$PW_B" "$PW_C" "$PW_D" "$PW_X"; do
	printf '%s\n%s\n' "$pw" "$(printf '%s' "$pw" | base64 -w 0)" >"$TEST_TMP/forms"
	hits=$(grep -F -c -f "$TEST_TMP/forms" "$TEST_TMP/dump.sql") || :
	is "$hits" 0 "pg_dump holds no ${pw%%-*} password, plain or base64"
done
hits=$(grep -F -c -f <(printf '%s\n' "$PW_A" "$PW_B" "$PW_C" "$PW_D" "$PW_X") "$LOG") || :
is "$hits" 0 "the daemon's log holds no password"

# PostgreSQL restarts ---------------------------------------------------------------------------------------

pg_restart || bail_out "PostgreSQL did not restart"
ok "the daemon reconnects" ops_wait_log "$LOG" 'database: connection restored' 20
mail_deliver "$C" "$PW_C" 1 gamma-after-pg
psql -X -q -1 -c "$(account_sql zeta "$C" "$PW_C")" >/dev/null ||
    bail_out "the insert after the restart failed"
ok "an account added after a PostgreSQL restart syncs (LISTEN renewed)" \
    wait_for 5 stored_is zeta 1
sql "UPDATE mail_accounts SET enabled = false WHERE name = 'zeta'" >/dev/null
ok "and is disabled again" wait_for 5 state_is zeta disabled

# An account added while the daemon is still reconnecting: its NOTIFY
# reaches no listener, so the daemon reads the accounts again once it
# listens again.
pg_stop
sleep 2
pg_start || bail_out "PostgreSQL did not start again"
psql -X -q -1 -c "$(account_sql theta "$C" "$PW_C")" >/dev/null ||
    bail_out "the insert before the reconnect failed"
ok "an account added before the daemon reconnected syncs (read again)" \
    wait_for 10 stored_is theta 1
sql "UPDATE mail_accounts SET enabled = false WHERE name = 'theta'" >/dev/null
ok "and is disabled again" wait_for 5 state_is theta disabled

# Restart -------------------------------------------------------------------------------------------------

rc=0
inboxd_stop "$PID" || rc=$?
is "$rc" 0 "SIGTERM: exit status 0"
mail_deliver "$D" "$PW_D" 1 delta-restart
inboxd_start --config "$CFG" --foreground
PID=$INBOXD_PID LOG=$INBOXD_LOG
ok "after a restart the database accounts run again" wait_for 10 stored_is delta 4
ok "the start counts them" ops_wait_log "$LOG" 'started: 4 accounts' 5

# kill -9 while an account is being added ------------------------------------------------------------

mail_deliver "$E" "$PW_E" 30 eta
psql -X -q -1 -c "$(account_sql eta "$E" "$PW_E")" >/dev/null ||
    bail_out "the eta insert failed"
sleep 0.1
kill -KILL "$PID"
wait "$PID" 2>/dev/null
note "eta had $(stored eta) messages stored at kill -9"
inboxd_start --config "$CFG" --foreground
PID=$INBOXD_PID LOG=$INBOXD_LOG
ok "after kill -9 during its first sync, the new account is synced" \
    wait_for 15 stored_is eta 30
is "$(sql "SELECT count(*) - count(DISTINCT rfc_message_id) FROM conversation_messages m
    JOIN mail_accounts a ON a.id = m.account_id WHERE a.name = 'eta'")" 0 \
    "each message once"
rc=0
inboxd_stop "$PID" || rc=$?
is "$rc" 0 "SIGTERM: exit status 0"
is "$(ops_log_count "$LOG" 'AddressSanitizer|runtime error:|LeakSanitizer')" 0 \
    "no sanitizer report"

done_testing
