#!/bin/bash
# Database accounts of type gmail, against t/gmail/standin.py: an app
# inserts the account with its OAuth client id in settings and hands
# over the client secret and refresh token with set_account_secret();
# the daemon syncs it without a restart. A refresh token the provider
# refuses (invalid_grant) puts the account in auth_failed with the
# provider's message, writes account.auth_failed, and is not retried;
# a new token brings it back (account.recovered). The OAuth client
# given once in the file's [gmail] group serves a row that names none.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/ops.sh"
. "$top_srcdir/t/gmail/lib.sh"

INBOXD_TEST_TIMEOUT=40
pg_start || bail_out "PostgreSQL did not start"
gmail_questions 3
standin_start || bail_out "the stand-in did not start"

CFG=$TEST_TMP/accounts.conf
{
	config_daemon "secrets_dir = $TEST_TMP/keys"
	echo
	echo "[gmail]"
	echo "client_id = standin-client"
	echo "client_secret_file = $(config_secret client-secret standin-secret)"
} >"$CFG"
run_inboxctl --config "$CFG" keygen --bits 2048 >/dev/null ||
    bail_out "inboxctl keygen failed"

stored()
{
	sql "SELECT count(*) FROM conversation_messages m
	    JOIN mail_accounts a ON a.id = m.account_id WHERE a.name = '$1'"
}
stored_is() { [ "$(stored "$1")" = "$2" ]; }
state_is() { [ "$(sql "SELECT state FROM mail_accounts WHERE name = '$1'")" = "$2" ]; }

# gmail_sql NAME REFRESH_TOKEN: what an app runs after the consent.
gmail_sql()
{
	cat <<SQL
INSERT INTO mail_accounts (name, type, username, addresses, poll_interval, settings)
VALUES ('$1', 'gmail', 'me@example.com', ARRAY['me@example.com'], '2s',
    jsonb_build_object('client_id', 'standin-client',
        'token_url', '$STANDIN_URL/token', 'api_base', '$STANDIN_URL'));
SELECT inboxd.set_account_secret('$1', 'client_secret', 'standin-secret');
SELECT inboxd.set_account_secret('$1', 'refresh_token', '$2');
SQL
}

inboxd_start --config "$CFG" --foreground
PID=$INBOXD_PID LOG=$INBOXD_LOG
ok "the daemon starts without accounts" ops_wait_log "$LOG" 'started: 0 accounts' 10

psql -X -q -1 -c "$(gmail_sql g1 standin-refresh)" >/dev/null ||
    bail_out "the app's insert failed"
ok "a Gmail account inserted with SQL syncs" wait_for 8 stored_is g1 3
ok "its state is idle" wait_for 3 state_is g1 idle

psql -X -q -1 -c "$(gmail_sql g2 1//0e-revoked-token)" >/dev/null ||
    bail_out "the second insert failed"
ok "a refused refresh token: auth_failed" wait_for 8 state_is g2 auth_failed
like "$(sql "SELECT last_error FROM mail_accounts WHERE name = 'g2'")" \
    "invalid_grant: Token has been expired or revoked" \
    "last_error is the provider's message"
is "$(sql "SELECT count(*) FROM events WHERE type = 'account.auth_failed' AND account = 'g2'")" 1 \
    "account.auth_failed is written once"
tokens=$(standin_by_kind token)
sleep 5
is "$(standin_by_kind token)" "$tokens" "the refused token is not tried again"
is "$(sql "SELECT state FROM mail_accounts WHERE name = 'g1'")" idle \
    "the other Gmail account is undisturbed"
sql "SELECT inboxd.set_account_secret('g2', 'refresh_token', 'standin-refresh')" >/dev/null
ok "a new refresh token brings it back" wait_for 8 stored_is g2 3
ok "idle again" wait_for 3 state_is g2 idle
is "$(sql "SELECT string_agg(type, ' ' ORDER BY id) FROM events
    WHERE account = 'g2' AND type LIKE 'account.%'")" \
    "account.added account.auth_failed account.recovered" "the account's events"
# The app's OAuth client given once in [gmail]: the row names only its
# refresh token.
psql -X -q -1 -c "INSERT INTO mail_accounts (name, type, username, poll_interval, settings)
    VALUES ('g3', 'gmail', 'me@example.com', '2s',
        jsonb_build_object('token_url', '$STANDIN_URL/token', 'api_base', '$STANDIN_URL'));
    SELECT inboxd.set_account_secret('g3', 'refresh_token', 'standin-refresh');" >/dev/null ||
    bail_out "the third insert failed"
ok "a row without a client uses the [gmail] client_id and client_secret_file" \
    wait_for 8 stored_is g3 3
nok "no secret in the daemon's log" grep -q -e 1//0e-revoked-token -e standin-secret "$LOG"

rc=0
inboxd_stop "$PID" || rc=$?
is "$rc" 0 "SIGTERM: exit status 0"
done_testing
