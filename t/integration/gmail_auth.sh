#!/bin/bash
# Gmail access tokens, against t/gmail/standin.py: a bad refresh token
# fails clearly, naming the account and no secret, with a non-zero exit;
# a token endpoint failing for a moment is retried; short-lived tokens
# are refreshed before they expire (no 401); a service account signs its
# JWT assertion (RS256) and acts for its subject, and a wrong subject or
# a key file others can read fail clearly; an absurd expires_in is
# clamped.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/gmail/lib.sh"

pg_start || bail_out "PostgreSQL did not start"

gmail_questions 30

count_msgs()
{
	sql "SELECT count(*) FROM conversation_messages m
	    JOIN mail_accounts a ON a.id = m.account_id WHERE a.name = '$1'"
}

# Refresh tokens ----------------------------------------------------------------

standin_start --expires-in 2 || bail_out "the stand-in did not start"

GMAIL_ACCOUNT=revoked GMAIL_REFRESH_TOKEN=1//0e-not-the-right-token \
    gmail_config "$GMAIL_CFG"
inboxd_run bad-token --config "$GMAIL_CFG" --once
is "$INBOXD_RC" 1 "a refused refresh token: inboxd --once exits 1"
like "$(cat "$INBOXD_OUT")" "account=revoked: sync failed: .*refused the refresh token for me@example.com \(HTTP 400: invalid_grant: Token has been expired or revoked.\)" \
    "the error names the account and says why"
nok "no secret in the log" grep -q -e 1//0e-not-the-right-token -e standin-secret \
    -e ya29 "$INBOXD_OUT"
is "$(standin_by_kind token)" 1 "a refusal is not retried"
is "$(standin_by_kind get)" 0 "no API request without a token"

standin_admin POST faults '{"token_500": 2}' >/dev/null
GMAIL_ACCOUNT=flaky gmail_config "$GMAIL_CFG" "initial_sync = all"
ok "the token endpoint failing twice: the pass still works" inboxd_once "$GMAIL_CFG"
like "$(cat "$INBOXD_OUT")" "account=flaky: the token endpoint .* answered HTTP 500 \(internal_failure: Backend Error\); asking again in" \
    "the retry is logged"
is "$(count_msgs flaky)" 30 "30 messages stored"

# Tokens live 2 s here; at 50 units/s the pass takes longer than that.
standin_admin POST reset >/dev/null
standin_admin POST faults '{"quota": 50}' >/dev/null
GMAIL_ACCOUNT=slow gmail_config "$GMAIL_CFG" "quota_units = 50"
start=$(now_ms)
ok "a pass longer than a token's life exits 0" inboxd_once "$GMAIL_CFG"
took=$(($(now_ms) - start))
ok "the pass outlived a token (${took} ms)" test "$took" -ge 2000
is "$(count_msgs slow)" 30 "30 messages stored"
is "$(standin_by_status 401)" 0 "no request was refused: tokens were renewed before expiry"
ok "more than one token was used ($(standin_by_kind token))" \
    test "$(standin_by_kind token)" -ge 2
is "$(standin_by_status 429)" 0 "and the quota was kept"
standin_admin POST faults '{"quota": 0}' >/dev/null

# Service accounts ---------------------------------------------------------------

if ! command -v openssl >/dev/null; then
	skip "no openssl command to make a key" 9
	done_testing
fi
standin_stop
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$TEST_TMP/sa-key.pem" 2>/dev/null || bail_out "openssl genpkey failed"
openssl pkey -in "$TEST_TMP/sa-key.pem" -pubout -out "$TEST_TMP/sa-pub.pem" ||
    bail_out "openssl pkey failed"
standin_start --service-account-key "$TEST_TMP/sa-pub.pem" \
    --service-account-email inboxd@standin.iam.gserviceaccount.com ||
    bail_out "the stand-in did not start"
KEY=$TEST_TMP/secrets/service-account.json
"$PYTHON3" - "$TEST_TMP/sa-key.pem" "$KEY" "$STANDIN_URL/token" <<'EOF'
import json, sys
pem = open(sys.argv[1]).read()
json.dump({"type": "service_account", "project_id": "standin",
           "private_key_id": "0123456789abcdef", "private_key": pem,
           "client_email": "inboxd@standin.iam.gserviceaccount.com",
           "client_id": "100000000000000000001", "token_uri": sys.argv[3]},
          open(sys.argv[2], "w"), indent=2)
EOF
chmod 0600 "$KEY"

GMAIL_ACCOUNT=delegated GMAIL_NO_CLIENT=1 gmail_config "$GMAIL_CFG" \
    "service_account_file = $KEY" "subject = me@example.com"
ok "a service account with domain-wide delegation syncs" inboxd_once "$GMAIL_CFG"
is "$(count_msgs delegated)" 30 "30 messages stored"
is "$(standin_requests '[e["status"] for e in log if e["kind"] == "token"]')" \
    "[200]" "one JWT grant, accepted (signature, issuer, audience, subject)"

GMAIL_ACCOUNT=stranger GMAIL_NO_CLIENT=1 gmail_config "$GMAIL_CFG" \
    "service_account_file = $KEY" "subject = someone@else.example"
inboxd_run wrong-subject --config "$GMAIL_CFG" --once
is "$INBOXD_RC" 1 "a subject the service account may not act for: exit 1"
like "$(cat "$INBOXD_OUT")" "account=stranger: sync failed: .*refused the service account's assertion for someone@else.example \(HTTP 401: unauthorized_client: " \
    "the error names the account and Google's reason"
nok "no key material in the log" grep -q -e "PRIVATE KEY" -e "eyJ" "$INBOXD_OUT"

chmod 0644 "$KEY"
GMAIL_ACCOUNT=exposed GMAIL_NO_CLIENT=1 gmail_config "$GMAIL_CFG" \
    "service_account_file = $KEY"
inboxd_run exposed-key --config "$GMAIL_CFG" --once
is "$INBOXD_RC" 1 "a key file others can read: exit 1"
like "$(cat "$INBOXD_OUT")" "account=exposed: sync failed: .*service account key .* is readable by others" \
    "the error says so"
chmod 0600 "$KEY"

# A key named through a symbolic link, or a FIFO, is refused at once (a
# FIFO would block the daemon on its read).
ln -s "$KEY" "$TEST_TMP/key-link.json"
GMAIL_ACCOUNT=linked GMAIL_NO_CLIENT=1 gmail_config "$GMAIL_CFG" \
    "service_account_file = $TEST_TMP/key-link.json"
inboxd_run linked-key --config "$GMAIL_CFG" --once
is "$INBOXD_RC" 1 "a key file named through a symbolic link: exit 1"
like "$(cat "$INBOXD_OUT")" "account=linked: sync failed: .*service account key .*is a symbolic link" \
    "the error says so"
mkfifo -m 0600 "$TEST_TMP/key-fifo.json"
GMAIL_ACCOUNT=piped GMAIL_NO_CLIENT=1 gmail_config "$GMAIL_CFG" \
    "service_account_file = $TEST_TMP/key-fifo.json"
inboxd_run fifo-key --config "$GMAIL_CFG" --once
is "$INBOXD_RC" 1 "a FIFO as key file: exit 1, without waiting on it"
like "$(cat "$INBOXD_OUT")" "account=piped: sync failed: .*service account key .*is not a regular file" \
    "the error says so"

# A token endpoint that lies about the lifetime ------------------------------------

standin_stop
standin_start --expires-in 9223372036854775807 ||
    bail_out "the stand-in did not start"
GMAIL_ACCOUNT=forever gmail_config "$GMAIL_CFG"
ok "expires_in = 2^63-1: the pass exits 0" inboxd_once "$GMAIL_CFG"
is "$(count_msgs forever)" 30 "30 messages stored"
is "$(standin_by_kind token)" 1 "one token, used for the whole pass"
nok "no arithmetic overflow reported" grep -q "runtime error" "$INBOXD_OUT"

done_testing
