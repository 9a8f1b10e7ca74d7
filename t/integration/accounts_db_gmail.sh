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
# A service account key (domain-wide delegation) the stand-in trusts.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$TEST_TMP/sa-key.pem" 2>/dev/null || bail_out "openssl genpkey failed"
openssl pkey -in "$TEST_TMP/sa-key.pem" -pubout -out "$TEST_TMP/sa-pub.pem" ||
    bail_out "openssl pkey failed"
standin_start --service-account-key "$TEST_TMP/sa-pub.pem" \
    --service-account-email inboxd@standin.iam.gserviceaccount.com ||
    bail_out "the stand-in did not start"

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

# A service account key handed over as a secret: the row names the
# mailbox it acts for (settings "subject") and needs no client.
KEY_JSON=$("$PYTHON3" - "$TEST_TMP/sa-key.pem" "$STANDIN_URL/token" <<'EOF'
import json, sys
print(json.dumps({"type": "service_account",
                  "private_key": open(sys.argv[1]).read(),
                  "client_email": "inboxd@standin.iam.gserviceaccount.com",
                  "token_uri": sys.argv[2]}))
EOF
)
sa_sql()
{
	cat <<SQL
INSERT INTO mail_accounts (name, type, username, poll_interval, settings)
VALUES ('$1', 'gmail', 'me@example.com', '2s',
    jsonb_build_object('subject', '$2',
        'token_url', '$STANDIN_URL/token', 'api_base', '$STANDIN_URL'));
SELECT inboxd.set_account_secret('$1', 'service_account', \$k\$$3\$k\$);
SQL
}
psql -X -q -1 -c "$(sa_sql g4 me@example.com "$KEY_JSON")" >/dev/null ||
    bail_out "the service account insert failed"
ok "a service account key set with set_account_secret syncs" wait_for 8 stored_is g4 3
psql -X -q -1 -c "$(sa_sql g5 someone@else.example "$KEY_JSON")" >/dev/null ||
    bail_out "the second service account insert failed"
ok "a subject the key may not act for: auth_failed" wait_for 8 state_is g5 auth_failed
like "$(sql "SELECT last_error FROM mail_accounts WHERE name = 'g5'")" \
    "service account's assertion for someone@else.example" "last_error says why"
psql -X -q -1 -c "$(sa_sql g6 me@example.com '{"type": "service_account"}')" >/dev/null ||
    bail_out "the third service account insert failed"
ok "a key without private_key: failing" wait_for 8 state_is g6 failing
like "$(sql "SELECT last_error FROM mail_accounts WHERE name = 'g6'")" \
    "lacks client_email or private_key" "last_error says what the key lacks"
is "$(sql "SELECT state FROM mail_accounts WHERE name = 'g1'")" idle \
    "the other accounts are undisturbed"
nok "no secret in the daemon's log" grep -q -e 1//0e-revoked-token -e standin-secret \
    -e "PRIVATE KEY" "$LOG"

rc=0
inboxd_stop "$PID" || rc=$?
is "$rc" 0 "SIGTERM: exit status 0"
done_testing
