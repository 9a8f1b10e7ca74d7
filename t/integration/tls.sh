#!/bin/bash
# IMAP over TLS, as almost every real account is: STARTTLS and implicit
# TLS against a Dovecot with a certificate of a test CA, the certificate
# checked (refused without the CA, accepted with ca_file, unchecked only
# with tls_verify = false; the daemon logs each refused handshake once,
# and as no lost IDLE connection), large messages fetched in pipelined chunks
# through TLS records, and IDLE over TLS delivering new mail at once.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/faults.sh"

command -v openssl >/dev/null || skip_all "openssl is not installed"

USER=sales@example.com
PASS=secret
TLS=$TEST_TMP/tls
mkdir -p "$TLS"
(
	cd "$TLS" || exit 1
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
	    -subj "/CN=inboxd test CA" -keyout ca.key -out ca.pem &&
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
	    -keyout server.key -out server.csr &&
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext &&
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
	    -CAcreateserial -days 2 -extfile san.ext -out server.pem
) >"$TEST_TMP/openssl.log" 2>&1 ||
    bail_out "cannot make the test certificates: $(cat "$TEST_TMP/openssl.log")"
chmod 0644 "$TLS"/*.pem
chmod 0755 "$TLS"

pg_start || bail_out "PostgreSQL did not start"
DOVECOT_IMAPS_PORT=$(free_port)
DOVECOT_EXTRA="ssl = yes
ssl_cert = <$TLS/server.pem
ssl_key = <$TLS/server.key"
export DOVECOT_IMAPS_PORT DOVECOT_EXTRA
dovecot_start || bail_out "Dovecot did not start"

N=40
for i in $(seq 1 $N); do
	# 200 KB each: a chunk of the pipelined fetch spans many TLS records.
	mail_write "$TEST_TMP/m$i.eml" "Ann <ann$i@a.example>" $USER \
	    "Large $i" "Mon, 06 Nov 2023 09:00:00 +0000" "tls-$i@a.example" \
	    -- "$(head -c 150000 /dev/urandom | base64 -w 76)"
done
mail_append $USER $PASS INBOX "$TEST_TMP"/m*.eml

# cfg NAME [LINE...]: an account over TLS, in $TEST_TMP/NAME.conf.
cfg()
{
	local name=$1
	shift
	{
		config_daemon
		config_imap "$name" $USER $PASS "$@"
	} >"$TEST_TMP/$name.conf"
	echo "$TEST_TMP/$name.conf"
}

# sizes_ok ACCOUNT: every stored message has the size of its file (with
# CRLF line ends, as IMAP serves it).
sizes_ok()
{
	local i want bad=0 got
	for i in $(seq 1 $N); do
		want=$(($(wc -c <"$TEST_TMP/m$i.eml") + $(wc -l <"$TEST_TMP/m$i.eml")))
		got=$(sql "SELECT size_bytes FROM conversation_messages m
		    JOIN mail_accounts a ON a.id = m.account_id
		    WHERE a.name = '$1' AND rfc_message_id = 'tls-$i@a.example'")
		[ "$got" = "$want" ] || bad=$((bad + 1))
	done
	[ "$bad" = 0 ]
}

c=$(cfg untrusted "tls = starttls")
inboxd_run untrusted --config "$c" --once
is "$INBOXD_RC" 1 "a certificate of an unknown CA: the pass fails"
like "$(cat "$INBOXD_OUT")" "account=untrusted: .*(certificate|SSL)" \
    "the error names the account and the certificate"
is "$(acct_rows untrusted)" 0 "nothing is stored from an unchecked server"

# The daemon retrying it: one line per failed pass naming the
# certificate, and no lost IDLE connection, as none was ever made.
c=$(cfg untrusted_d "tls = starttls" "poll_interval = 1s")
inboxd_start --config "$c"
_failed_twice()
{
	[ "$(grep -c 'account=untrusted_d: sync failed: ' "$INBOXD_LOG")" -ge 2 ]
}
ok "the daemon: its passes fail on the certificate" wait_for 30 _failed_twice
rc=0
inboxd_stop || rc=$?
is "$rc" 0 "the daemon stops cleanly"
failed=$(grep -c 'account=untrusted_d: sync failed: ' "$INBOXD_LOG")
is "$(grep -c 'account=untrusted_d: IDLE connection lost' "$INBOXD_LOG")" 0 \
    "a handshake that failed is no lost IDLE connection"
is "$(grep -Eic 'account=untrusted_d: .*(certificate|SSL)' "$INBOXD_LOG")" "$failed" \
    "each failed pass names the certificate once ($failed passes)"

c=$(cfg starttls "tls = starttls" "ca_file = $TLS/ca.pem")
ok "STARTTLS with the test CA: the pass exits 0" inboxd_once "$c"
is "$(acct_rows starttls)" $N "STARTTLS: all $N messages stored"
ok "STARTTLS: every message whole (size as served)" sizes_ok starttls

c=$(cfg implicit "tls = implicit" "port = $DOVECOT_IMAPS_PORT" \
    "ca_file = $TLS/ca.pem")
ok "implicit TLS with the test CA: the pass exits 0" inboxd_once "$c"
is "$(acct_rows implicit)" $N "implicit TLS: all $N messages stored"
ok "implicit TLS: every message whole" sizes_ok implicit

c=$(cfg noverify "tls = implicit" "port = $DOVECOT_IMAPS_PORT" \
    "tls_verify = false")
ok "tls_verify = false: the pass exits 0" inboxd_once "$c"
is "$(acct_rows noverify)" $N "tls_verify = false: all stored"

# IDLE over TLS: new mail is announced and fetched at once.
c=$(cfg push "tls = implicit" "port = $DOVECOT_IMAPS_PORT" \
    "ca_file = $TLS/ca.pem" "poll_interval = 300s")
inboxd_start --config "$c"
ok "IDLE over TLS: the first pass stores the mail" wait_rows push $N 60
_idle_on()
{
	grep -q 'account=push: watching INBOX with IDLE' "$INBOXD_LOG"
}
ok "IDLE over TLS: INBOX is watched" wait_for 20 _idle_on
mail_write "$TEST_TMP/new.eml" "Bo <bo@b.example>" $USER "Fresh" \
    "Mon, 06 Nov 2023 10:00:00 +0000" "tls-new@b.example"
mail_append $USER $PASS INBOX "$TEST_TMP/new.eml"
ok "IDLE over TLS: the new message is stored within 10 s" \
    wait_rows push $((N + 1)) 10
rc=0
inboxd_stop || rc=$?
is "$rc" 0 "IDLE over TLS: the daemon stops cleanly"

done_testing
