#!/bin/bash
# The admin CLI against a real PostgreSQL: migrate, status, jobs, jobs
# retry, events, conversations, and its exit statuses.

. "${top_srcdir:-$(dirname "$0")/../..}/t/lib/harness.sh"

pg_start
conf=$TEST_TMP/inboxd.conf
# No IMAP server is needed: inboxctl only reads the configuration.
inboxd_config "$conf" "port = 143"

ctl()
{
	run_inboxctl --config "$conf" "$@"
}

# Usage and errors -----------------------------------------------------------

out=$(ctl help)
is "$?" 0 "help exits 0"
like "$out" "jobs retry ID" "help lists the commands"
rc=0; ctl frobnicate 2>/dev/null || rc=$?
is "$rc" 2 "an unknown command is a usage error"
rc=0; run_inboxctl status 2>/dev/null || rc=$?
is "$rc" 2 "a missing --config is a usage error"
rc=0; ctl jobs --state bogus 2>/dev/null || rc=$?
is "$rc" 2 "a bad --state is a usage error"
rc=0; ctl events --limit x 2>/dev/null || rc=$?
is "$rc" 2 "a bad --limit is a usage error"
rc=0; ctl jobs retry 2>/dev/null || rc=$?
is "$rc" 2 "jobs retry without an id is a usage error"

rc=0; err=$(ctl conversations --status bogus 2>&1) || rc=$?
is "$rc" 2 "a bad conversations --status is a usage error"
like "$err" "needs_reply" "and names the statuses there are"

# The documents name only commands that exist.
help=$(ctl help)
for cmd in $(sed -n 's/.*inboxctl --config [^ ]* \([a-z-]*\).*/\1/p' \
    "$top_srcdir/debian/README.Debian" | sort -u); do
	is "$(printf '%s\n' "$help" | grep -cE "^  $cmd( |\$)")" 1 \
	    "README.Debian: inboxctl $cmd exists"
done

# Errors and log lines name inboxctl, not the daemon.
badkey=$TEST_TMP/badkey.conf
{ cat "$conf"; echo "colour = blue"; echo "idle = sometimes"; } >"$badkey"
rc=0; err=$(run_inboxctl --config "$badkey" status 2>&1) || rc=$?
is "$rc" 1 "a bad configuration exits 1"
like "$err" "^inboxctl: $badkey:[0-9]+: \[account sales\] colour: unknown key
inboxctl: $badkey:[0-9]+: \[account sales\] idle: " \
    "every configuration error, one line each, as inboxctl"

bad=$TEST_TMP/bad.conf
sed "s/port=$PGPORT/port=1/" "$conf" >"$bad"
rc=0; err=$(run_inboxctl --config "$bad" status 2>&1) || rc=$?
is "$rc" 1 "an unreachable database exits 1"
like "$err" "cannot connect" "and says why"
rc=0; err=$(ctl status 2>&1) || rc=$?
is "$rc" 1 "a database error (no schema yet) exits 1"
like "$err" "mail_accounts" "with the server's message"

# migrate ----------------------------------------------------------------------

n=$(ls "$top_srcdir"/sql/[0-9]*.sql | wc -l)
out=$(ctl migrate 2>"$TEST_TMP/migrate.err")
is "$out" "applied $n migrations" "migrate applies every file"
is "$(grep -c '^inboxctl: info: ' "$TEST_TMP/migrate.err")" "$n" \
    "migrate logs each file as inboxctl"
is "$(grep -c '^inboxd' "$TEST_TMP/migrate.err")" 0 "and never as inboxd"
is "$(ctl migrate 2>/dev/null)" "applied 0 migrations" "and nothing twice"
is "$(sql "SELECT count(*) FROM pg_proc
	WHERE pronamespace = 'inboxd'::regnamespace AND proname = 'claim'")" 1 \
    "the queue API is installed"

# Fixture: an account with two mailboxes, three messages, a conversation.
psql_q "
INSERT INTO mail_accounts (name, type, source)
VALUES ('sales', 'imap', 'config'), ('idle', 'gmail', 'config');
INSERT INTO sync_state (account_id, mailbox, uidvalidity, last_uid,
                        last_success_at, last_error)
SELECT id, 'INBOX', 1700000000, 42, timestamptz '2026-01-02 03:04:05+00', NULL
FROM mail_accounts WHERE name = 'sales'
UNION ALL
SELECT id, 'Sent', 1700000001, 7, NULL, E'login failed:\nbad password'
FROM mail_accounts WHERE name = 'sales'
UNION ALL
SELECT id, 'Archive', 1700000002, 9, now() - interval '5 hours', NULL
FROM mail_accounts WHERE name = 'sales';
INSERT INTO leads (email) VALUES ('ann@example.org');
INSERT INTO conversations (id, lead_id, subject, status, status_reason,
                           last_message_at, account_id)
SELECT '00000000-0000-4000-8000-000000000001', l.id, 'Quote for 40 chairs',
       'needs_reply', 'latest human message is inbound',
       now() - interval '2 hours', a.id
FROM leads l, mail_accounts a WHERE a.name = 'sales';
INSERT INTO conversation_messages (conversation_id, direction, sent_at,
                                   account_id)
SELECT '00000000-0000-4000-8000-000000000001', 'inbound', now() - x, a.id
FROM mail_accounts a, unnest(ARRAY[interval '2 hours', interval '3 hours',
                                   interval '-1 day']) x
WHERE a.name = 'sales';
UPDATE mail_accounts SET held_by = 'host-a:4242', held_since = now()
WHERE name = 'sales';
-- The newest message was found in Sent, the others in INBOX; one of
-- them also under an older UIDVALIDITY, which does not count.
INSERT INTO message_locations (account_id, mailbox, uidvalidity, uid,
                               message_id)
SELECT account_id, CASE WHEN n = 1 THEN 'Sent' ELSE 'INBOX' END,
       CASE WHEN n = 1 THEN 1700000001 ELSE 1700000000 END, n, id
FROM (SELECT *, row_number() OVER (ORDER BY sent_at DESC) AS n
      FROM conversation_messages) cm
UNION ALL
(SELECT account_id, 'INBOX', 1600000000, 1, id
 FROM conversation_messages ORDER BY sent_at LIMIT 1);
"

# status -----------------------------------------------------------------------

out=$(ctl status)
is "$?" 0 "status exits 0"
is "$(echo "$out" | head -n 1 | tr -s ' ')" \
    "account type holder mailbox uidvalidity last_uid messages since_sync last_success last_error" \
    "status header, with the holder the man page promises"
like "$(echo "$out" | grep '^sales .* INBOX ')" \
    "^sales +imap +host-a:4242 +INBOX +1700000000 +42 +2 +[0-9]+(d[0-9]{2}h|h[0-9]{2}m|m[0-9]{2}s|s) +2026-01-02T03:04:05Z +-$" \
    "INBOX row: holder, cursor, its own count, time since its last sync, when that was"
like "$(echo "$out" | grep '^sales .* Archive ')" \
    "^sales +imap +host-a:4242 +Archive +1700000002 +9 +[0-9]+ +5h00m +[0-9-]+T[0-9:]+Z +-$" \
    "Archive row: synced 5 hours ago, whatever its messages' dates"
like "$(echo "$out" | grep '^sales .* Sent ')" \
    " 7 +1 +- +- +login failed: bad password$" \
    "Sent row: its own count, never synced, the error on one line"
like "$(echo "$out" | grep '^idle ')" "^idle +gmail +- +- +- +- +0 +- +- +-$" \
    "an account never synced, held by nobody"

# status: runs with a backlog ----------------------------------------------------

is "$(echo "$out" | grep -c '^account  *mailbox  *done ')" 0 \
    "no progress table while no run has a backlog"

# INBOX's first sync has stored 1,000 of 5,000 messages (20 MB) in
# 100 s, under a daemon's hold; Archive's run has finished; an import
# of a 1 GB mbox stopped at a quarter, holding no lock.
psql_q "
UPDATE sync_state SET backlog_started_at = updated_at - interval '100 s',
    backlog_total = 5000, backlog_done = 1000, backlog_bytes = 20000000
WHERE mailbox = 'INBOX';
UPDATE sync_state SET backlog_started_at = updated_at - interval '10 s',
    backlog_total = 9, backlog_done = 9, backlog_bytes = 9000
WHERE mailbox = 'Archive';
INSERT INTO sync_state (account_id, mailbox, last_uid, updated_at,
    backlog_started_at, backlog_done, backlog_bytes, backlog_bytes_total)
SELECT id, 'import', 0, now(), now() - interval '50 s', 10000, 250000000,
    1000000000
FROM mail_accounts WHERE name = 'sales';
"
out=$(ctl status)
progress=$(echo "$out" | sed -n '/^account  *mailbox  *done /,/^$/p')
is "$(echo "$progress" | head -n 1 | tr -s ' ')" \
    "account mailbox done total pct mb mb_total per_s mb_per_s eta state" \
    "a progress table follows the folders when a run has a backlog"
like "$(echo "$progress" | grep '^sales  *INBOX ')" \
    "^sales +INBOX +1000 +5000 +20 +20.0 +- +10 +0.2 +6m40s +running$" \
    "a first sync: done of total, share, MB, rates, time left, running"
like "$(echo "$progress" | grep '^sales  *import ')" \
    "^sales +import +10000 +- +25 +250.0 +1000.0 +200 +5.0 +- +stopped$" \
    "an import cut short: share by bytes, no time left, stopped"
is "$(echo "$progress" | grep -c '^sales  *Archive ')" 0 \
    "a finished run is not shown"
psql_q "UPDATE mail_accounts SET held_by = NULL WHERE name = 'sales'"
like "$(ctl status | grep '^sales  *INBOX  *1000 ')" " - +stopped$" \
    "a backlog nobody works on: stopped, no time left"
psql_q "UPDATE mail_accounts SET held_by = 'host-a:4242' WHERE name = 'sales'"

# jobs -------------------------------------------------------------------------

psql_q "
SELECT inboxd.enqueue('embed_message', '{}') FROM generate_series(1, 3);
SELECT inboxd.enqueue('suggest_reply', '{}', p_max_attempts => 1);
UPDATE jobs SET run_at = now() - interval '10 minutes'
WHERE kind = 'embed_message';
" >/dev/null
sql "SELECT inboxd.complete(id, attempts)
	FROM inboxd.claim('embed_message', 'w', 1)" >/dev/null
dead=$(sql "SELECT id FROM inboxd.claim('suggest_reply', 'w', 1)")
sql "SELECT inboxd.fail($dead, 1, 'model unavailable')" >/dev/null

# The jobs were made due ten minutes before; on a loaded machine a few
# seconds pass before inboxctl reads the age.
out=$(ctl jobs)
like "$(echo "$out" | tr -s ' ')" "^kind state jobs due oldest
embed_message queued 2 2 10m[0-5][0-9]s
embed_message succeeded 1 0 -
suggest_reply dead 1 0 -$" "jobs: counts by kind and state, oldest due age"
like "$(ctl jobs --kind suggest_reply)" "^kind.*
suggest_reply +dead +1 +0 +-$" "jobs --kind"
is "$(ctl jobs --state succeeded | tail -n +2 | awk '{print $1, $3}')" \
    "embed_message 1" "jobs --state"

is "$(ctl jobs retry "$dead")" "job $dead queued" "jobs retry ID"
is "$(sql "SELECT state FROM jobs WHERE id = $dead")" queued "it is queued"
rc=0; err=$(ctl jobs retry "$dead" 2>&1) || rc=$?
is "$rc" 1 "retrying a queued job fails"
like "$err" "is queued; only failed or dead" "and says why"
rc=0; err=$(ctl jobs retry 999999 2>&1) || rc=$?
like "$rc $err" "^1 .*no job 999999" "retrying a missing job fails"

sql "SELECT inboxd.fail(id, attempts, 'again')
	FROM inboxd.claim('suggest_reply', 'w', 1)" >/dev/null
psql_q "UPDATE jobs SET state = 'dead' WHERE kind = 'embed_message'
	AND state = 'queued'"
is "$(sql "SELECT state || ' ' || attempts FROM jobs WHERE id = $dead")" \
    "dead 2" "the retried job got one more attempt, and used it"
is "$(ctl jobs retry --dead --kind suggest_reply)" "retried 1 dead job(s)" \
    "retry --dead --kind: that kind only"
is "$(ctl jobs --state dead | tail -n +2 | awk '{print $1, $3}')" \
    "embed_message 2" "the other kind is still dead"
is "$(ctl jobs retry --dead)" "retried 2 dead job(s)" "retry --dead: all"
is "$(sql "SELECT count(*) FROM jobs WHERE state = 'dead'")" 0 "none left"

# events -----------------------------------------------------------------------

psql_q "INSERT INTO events (type, conversation_id, account, payload)
SELECT 'message.received', '00000000-0000-4000-8000-000000000001', 'sales',
       jsonb_build_object('n', g, 'note', E'two\nlines')
FROM generate_series(1, 5) g"
out=$(ctl events --since 2 --limit 2)
is "$(echo "$out" | wc -l)" 3 "events --since --limit: header and 2 rows"
like "$(echo "$out" | sed -n 2p)" \
    '^3 +message.received +00000000-0000-4000-8000-000000000001 +- +sales +[0-9-]+T[0-9:]+Z +\{"n": 3, "note": "two\\nlines"\}$' \
    "an event is one line, payload last"
is "$(ctl events | tail -n +2 | awk '{print $1}' | tr '\n' ' ')" \
    "1 2 3 4 5 " "events defaults to everything from the start"

# conversations ----------------------------------------------------------------

out=$(ctl conversations --limit 5)
like "$(echo "$out" | sed -n 2p)" \
    '^00000000-0000-4000-8000-000000000001 +needs_reply +3 +[0-9-]+T[0-9:]+Z +ann@example.org +latest human message is inbound +Quote for 40 chairs$' \
    "conversations: status, count, lead, reason, subject"
is "$(ctl conversations --status waiting | wc -l)" 1 \
    "conversations --status filters"

done_testing
