#!/bin/bash
# Gmail push through Cloud Pub/Sub, against t/gmail/standin.py: with a
# 10-minute poll interval, new mail is stored and NOTIFY'd within
# seconds of its Pub/Sub message (only push can explain that), which is
# acknowledged after its rows were committed; users.watch names the
# topic and INBOX and SENT, and is renewed when it expires soon; a
# notice for a mailbox this daemon does not run is handed back
# (modifyAckDeadline 0), never acknowledged, and one that is no Gmail
# notice is dropped; while the database refuses the mail, the notice is
# not acknowledged and comes again; a failing subscription (404) is
# logged once, mail still arrives by polling, and push comes back by
# itself; an account with push = false is not watched, and its notices
# are handed back. No sanitizer report.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/gmail/lib.sh"

INBOXD_TEST_TIMEOUT=60
BOUND_MS=5000
SUB=projects/standin-project/subscriptions/inboxd
TOPIC=projects/standin-project/topics/gmail

if ! command -v openssl >/dev/null; then
	skip_all "no openssl command to make a service account key"
fi
pg_start || bail_out "PostgreSQL did not start"

# The subscriber's service account.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$TEST_TMP/sa-key.pem" 2>/dev/null || bail_out "openssl genpkey failed"
openssl pkey -in "$TEST_TMP/sa-key.pem" -pubout -out "$TEST_TMP/sa-pub.pem" ||
    bail_out "openssl pkey failed"

gmail_questions 2
standin_start --service-account-key "$TEST_TMP/sa-pub.pem" \
    --service-account-email pusher@standin.iam.gserviceaccount.com \
    --pubsub-topic "$TOPIC" --pubsub-subscription "$SUB" \
    --ack-deadline 3 || bail_out "the stand-in did not start"
mkdir -p "$TEST_TMP/secrets" && chmod 0700 "$TEST_TMP/secrets"
KEY=$TEST_TMP/secrets/pubsub.json
"$PYTHON3" - "$TEST_TMP/sa-key.pem" "$KEY" <<'EOF'
import json, sys
json.dump({"type": "service_account", "project_id": "standin-project",
           "private_key": open(sys.argv[1]).read(),
           "client_email": "pusher@standin.iam.gserviceaccount.com"},
          open(sys.argv[2], "w"), indent=2)
EOF
chmod 0600 "$KEY"

PORT=$(free_port)
# push_config POLL [LINE...]: the account g with push, polling every POLL.
push_config()
{
	local poll=$1
	shift
	{
		config_daemon "metrics_listen = 127.0.0.1:$PORT"
		echo
		echo "[gmail]"
		echo "pubsub_topic = $TOPIC"
		echo "pubsub_subscription = $SUB"
		echo "pubsub_service_account_file = $KEY"
		echo "pubsub_token_url = $STANDIN_URL/token"
		echo "pubsub_api_base = $STANDIN_URL"
		config_gmail g "poll_interval = $poll" "$@"
	} >"$GMAIL_CFG"
}

# Before the daemon's migrations there is no table: 0 rows.
rows()
{
	sql "SELECT count(*) FROM conversation_messages" 2>/dev/null || echo 0
}

_rows_are()
{
	[ "$(rows)" -eq "$1" ]
}

log_has()
{
	grep -qE -- "$1" "$INBOXD_LOG"
}

log_n()
{
	local n
	n=$(grep -cE -- "$1" "$INBOXD_LOG" 2>/dev/null) || :
	echo "${n:-0}"
}

# pubsub EXPR: Python over the stand-in's topic "d" (GET /admin/pubsub).
pubsub()
{
	standin_admin GET pubsub | "$PYTHON3" -c 'import json, sys
d = json.load(sys.stdin)
m = d["messages"]
print('"$1"')'
}

_pubsub_true()
{
	[ "$(pubsub "$1")" = True ]
}

metric()
{
	curl -sS --max-time 5 "http://127.0.0.1:$PORT/metrics" |
	    sed -n "s/^$1 //p"
}

# new_mail N: a new message N for the mailbox; prints its Gmail id.
new_mail()
{
	mail_write "$TEST_TMP/new$1.eml" "Pat $1 <pat$1@p.example>" \
	    me@example.com "Push $1" "Mon, 06 Nov 2023 11:0$1:00 +0000" \
	    "push-$1@p.example" -- "Message $1 of the push test."
	standin_add "$TEST_TMP/new$1.eml"
}

stored()
{
	sql "SELECT count(*) FROM conversation_messages
	    WHERE rfc_message_id = 'push-$1@p.example'"
}

_stored()
{
	[ "$(stored "$1")" -eq 1 ]
}

# The daemon, with push ------------------------------------------------------

push_config 10m
inboxd_start --config "$GMAIL_CFG"
ok "the first pass stores the mailbox" wait_for 30 _rows_are 2 ||
    bail_out "the daemon did not sync"
ok "the log says push is on" wait_for 10 log_has \
    "account=g: push on, through $TOPIC"
is "$(pubsub 'd["watches"]["me@example.com"]["topic"]')" "$TOPIC" \
    "users.watch named the topic"
is "$(pubsub '",".join(d["watches"]["me@example.com"]["labelIds"])')" \
    "INBOX,SENT" "and INBOX and SENT"
is "$(pubsub 'd["watches"]["me@example.com"]["labelFilterBehavior"]')" \
    include "with labelFilterBehavior include"
is "$(standin_requests 'sum(e["units"] for e in log if e["kind"] == "watch")')" \
    100 "users.watch cost 100 quota units"
ok "the pull works" wait_for 10 log_has "gmail push: $SUB is pulled"
is "$(metric inboxd_gmail_push_up)" 1 "inboxd_gmail_push_up 1"
# The first pass is over: nothing but push can bring mail in now.
sleep 1
listen_start inboxd_jobs

# The latency runs from the stand-in publishing the notice (its clock
# is this host's) to the test seeing the NOTIFY.
latencies=
for i in 1 2 3; do
	n0=$(listen_count inboxd_jobs)
	t0=$(now_ms)
	new_mail "$i" >/dev/null
	seen=-1
	while [ $(($(now_ms) - t0)) -lt $((BOUND_MS * 3)) ]; do
		if [ "$(listen_count inboxd_jobs)" -gt "$n0" ]; then
			seen=$(now_ms)
			break
		fi
		sleep 0.02
	done
	got=-1
	[ "$seen" -lt 0 ] || got=$((seen - $(pubsub "m[$((i - 1))][\"published\"]")))
	ok "mail $i: NOTIFY within $BOUND_MS ms of its Pub/Sub message ($got ms)" \
	    test "$got" -ge 0 -a "$got" -le "$BOUND_MS"
	is "$(stored "$i")" 1 "mail $i is stored"
	latencies="$latencies $got"
	sleep 0.5
done
diag "push latencies (ms), message published to NOTIFY:$latencies (poll_interval 600 s)"

_all_acked()
{
	_pubsub_true 'len(m) == 3 and all(x["acked"] for x in m)'
}
ok "the three notices are acknowledged" wait_for 10 _all_acked
# Each notice was acknowledged after the transaction with its message.
for i in 1 2 3; do
	stored_ms=$(sql "SELECT floor(extract(epoch FROM created_at) * 1000)::bigint
	    FROM conversation_messages WHERE rfc_message_id = 'push-$i@p.example'")
	acked_ms=$(pubsub "m[$((i - 1))][\"acked\"]")
	ok "notice $i: acknowledged after its rows ($((acked_ms - stored_ms)) ms)" \
	    test "$acked_ms" -ge "$stored_ms"
done
is "$(pubsub 'sum(x["handed_back"] for x in m)')" 0 "none was handed back"
is "$(metric inboxd_gmail_push_acked_total)" 3 "inboxd_gmail_push_acked_total 3"
# metrics.sh runs without push: the push families are checked here.
undocumented=
for family in $(curl -sS --max-time 5 "http://127.0.0.1:$PORT/metrics" |
    sed -n 's/^# TYPE \(inboxd_gmail_push[a-z_]*\) \([a-z]*\)$/\1:\2/p'); do
	grep -q "^\\.BR ${family%%:*} \" (${family#*:}[;)]" \
	    "$top_srcdir/doc/inboxd.8" || undocumented="$undocumented $family"
done
is "$undocumented" "" "inboxd(8) lists the push metrics, with their types"
ok "three push families are served" test "$(curl -sS --max-time 5 \
    "http://127.0.0.1:$PORT/metrics" | grep -c '^# TYPE inboxd_gmail_push')" -eq 3

# Notices for others, and garbage ---------------------------------------------

standin_admin POST publish \
    '{"json": {"emailAddress": "stranger@else.example", "historyId": 5}}' \
    >/dev/null
_handed_back()
{
	_pubsub_true 'm[3]["handed_back"] >= 1'
}
ok "a notice for a mailbox not run here is handed back" wait_for 10 _handed_back
sleep 1
is "$(pubsub 'm[3]["acked"]')" None "and never acknowledged"
ok "Pub/Sub offers it again" test "$(pubsub 'm[3]["deliveries"]')" -ge 2

standin_admin POST publish '{"data": "bm90IGpzb24="}' >/dev/null
_dropped()
{
	_pubsub_true 'm[4]["acked"] is not None'
}
ok "a message that is no Gmail notice is acknowledged (dropped)" \
    wait_for 10 _dropped
ok "the log says why" log_has "gmail push: a message of $SUB is no Gmail notice: the data is not JSON"

# The address is compared in any case; a pass with nothing new commits
# its cursor, and the notice is acknowledged.
standin_admin POST publish \
    '{"json": {"emailAddress": "ME@Example.COM", "historyId": 99999}}' >/dev/null
_upper_acked()
{
	_pubsub_true 'm[5]["acked"] is not None'
}
ok "a notice naming the address in capitals is acknowledged" \
    wait_for 10 _upper_acked

# The database refuses the mail -------------------------------------------------

psql_su "CREATE FUNCTION refuse_push() RETURNS trigger LANGUAGE plpgsql AS
    \$\$BEGIN IF NEW.rfc_message_id = 'push-4@p.example' THEN
        RAISE EXCEPTION 'refused for the push test'; END IF;
        RETURN NEW; END\$\$;
    CREATE TRIGGER refuse_push BEFORE INSERT ON conversation_messages
    FOR EACH ROW EXECUTE FUNCTION refuse_push();" >/dev/null ||
    bail_out "cannot create the refusing trigger"
new_mail 4 >/dev/null
_redelivered()
{
	_pubsub_true 'm[6]["deliveries"] >= 2'
}
ok "while the database refuses the mail, the notice comes again" \
    wait_for 15 _redelivered
ok "the log says the pass failed" log_has "account=g: sync failed: .*refused for the push test"
is "$(pubsub 'm[6]["acked"]')" None "and it is not acknowledged"
is "$(stored 4)" 0 "nothing of mail 4 is stored"
psql_su "DROP TRIGGER refuse_push ON conversation_messages" >/dev/null
ok "once the database takes it, mail 4 is stored" wait_for 20 _stored 4
_m6_acked()
{
	_pubsub_true 'm[6]["acked"] is not None'
}
ok "and its notice acknowledged" wait_for 15 _m6_acked

rc=0
inboxd_stop || rc=$?
is "$rc" 0 "SIGTERM: exit status 0"

# users.watch renewed ---------------------------------------------------------

standin_admin POST pubsub '{"watch_ttl_ms": 10000}' >/dev/null
inboxd_start --config "$GMAIL_CFG"
ok "started again, push is on" wait_for 20 log_has "account=g: push on"
w0=$(pubsub 'd["watches"]["me@example.com"]["count"]')
lapsed0=$(pubsub 'd["watches"]["me@example.com"]["lapsed"]')
_renewed_twice()
{
	[ "$(pubsub 'd["watches"]["me@example.com"]["count"]')" -ge $((w0 + 2)) ]
}
t0=$(now_ms)
ok "a watch expiring in 10 s is renewed, again and again" wait_for 40 _renewed_twice
diag "two renewals took $(( $(now_ms) - t0 )) ms (due every 5 s)"
is "$(pubsub 'd["watches"]["me@example.com"]["lapsed"]')" "$lapsed0" \
    "each renewal came before the watch it renewed expired"
rc=0
inboxd_stop || rc=$?
is "$rc" 0 "SIGTERM: exit status 0"
standin_admin POST pubsub '{"watch_ttl_ms": 604800000}' >/dev/null

# The subscription fails ---------------------------------------------------------

standin_admin POST pubsub '{"pull_status": 404}' >/dev/null
push_config 2s
inboxd_start --config "$GMAIL_CFG"
_failing()
{
	log_has "gmail push: $SUB pull: HTTP 404: .*; mail still arrives by polling"
}
ok "a subscription gone (404): the log says so" wait_for 20 _failing
new_mail 5 >/dev/null
ok "mail still arrives, by polling" wait_for 15 _stored 5
_pulls_failed()
{
	[ "$(standin_requests 'sum(1 for e in log
	    if e["kind"] == "pubsub_pull" and e["status"] == 404)')" -ge "$1" ]
}
ok "the pull is tried again, and again" wait_for 20 _pulls_failed 3
is "$(log_n "gmail push: $SUB pull: HTTP 404")" 1 \
    "the failure is logged once, not once a try"
is "$(metric inboxd_gmail_push_up)" 0 "inboxd_gmail_push_up 0"
standin_admin POST pubsub '{"pull_status": 0}' >/dev/null
ok "the subscription back, the log says so" wait_for 90 log_has \
    "gmail push: $SUB works again"
_m7_acked()
{
	_pubsub_true 'm[7]["acked"] is not None'
}
ok "the notice of mail 5 is then acknowledged" wait_for 15 _m7_acked
is "$(metric inboxd_gmail_push_up)" 1 "inboxd_gmail_push_up 1 again"
rc=0
inboxd_stop || rc=$?
is "$rc" 0 "SIGTERM: exit status 0"

# An account with push turned off ---------------------------------------------

w0=$(pubsub 'd["watches"]["me@example.com"]["count"]')
push_config 10m "push = false"
inboxd_start --config "$GMAIL_CFG"
ok "push = false: the pull runs all the same" wait_for 20 log_has \
    "gmail push: $SUB is pulled"
standin_admin POST publish \
    '{"json": {"emailAddress": "me@example.com", "historyId": 5}}' >/dev/null
_off_handed_back()
{
	_pubsub_true 'm[-1]["handed_back"] >= 1'
}
ok "push = false: a notice for the account is handed back" \
    wait_for 10 _off_handed_back
is "$(pubsub 'd["watches"]["me@example.com"]["count"]')" "$w0" \
    "push = false: no users.watch"
is "$(log_n 'account=g: push on')" 0 "push = false: the log says nothing of push"
rc=0
inboxd_stop || rc=$?
is "$rc" 0 "SIGTERM: exit status 0"

n=0
for f in "$TEST_TMP"/inboxd.*.log; do
	c=$(grep -cE 'AddressSanitizer|runtime error:|LeakSanitizer' "$f") || :
	n=$((n + ${c:-0}))
done
is "$n" 0 "no sanitizer report"

done_testing
