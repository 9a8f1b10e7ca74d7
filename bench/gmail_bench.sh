#!/bin/bash
# Gmail initial sync at the quota limit: inboxd --once against the
# Google stand-in (t/gmail/standin.py) enforcing QUOTA units per second
# per user, with quota_units = QUOTA in the account, and answering a
# share SPURIOUS of the requests with a spurious 429 (Retry-After: 1) as
# Google does. Each message costs 5 units (messages.get), so 250 units/s
# allow at most 50 messages/s.
#
#	bench/gmail_bench.sh
#	MESSAGES=2000 QUOTA=250 SPURIOUS=0 top_builddir=/tmp/build bench/gmail_bench.sh
#	ACCOUNTS=100 MESSAGES=50 PROJECT_QUOTA=1000 bench/gmail_bench.sh
#	SAVE=/tmp/run1 bench/gmail_bench.sh    # keeps the request log
#
# With ACCOUNTS > 1 every account is another user of the stand-in with
# the same mailbox, all in one daemon under [gmail] project_quota =
# PROJECT_QUOTA, which the stand-in enforces across the users.
#
# Prints the wall-clock rate of the whole pass, the sustained rate of
# messages.get (first to last), the units spent per second (over the
# pass, and the most in any one second, per user and for the project),
# and the 429s the server answered: spurious ones, and requests beyond a
# quota (the target: at least 45 messages/s per account, none beyond).
# Exits non-zero when a message is missing or doubled, or a request went
# beyond a quota.

set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir/build}
MESSAGES=${MESSAGES:-1000}
QUOTA=${QUOTA:-250}
SPURIOUS=${SPURIOUS:-0.02}
ACCOUNTS=${ACCOUNTS:-1}
PROJECT_QUOTA=${PROJECT_QUOTA:-20000}
PYTHON3=${PYTHON3:-/usr/bin/python3}
export INBOXD_SQL_DIR=$top_srcdir/sql

if [ ! -x "$top_builddir/inboxd" ]; then
	echo "gmail_bench: $top_builddir/inboxd is not built (set top_builddir)" >&2
	exit 2
fi

. "$top_srcdir/t/lib/pg.sh"

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/inboxd-bench.XXXXXX")
STANDIN_PID=
cleanup()
{
	[ -n "$STANDIN_PID" ] && kill "$STANDIN_PID" 2>/dev/null
	pg_stop
	rm -rf "$TEST_TMP"
}
trap cleanup EXIT
chmod 0755 "$TEST_TMP"

# The mailbox: mostly inbound, a tenth sent, threads of a few messages,
# bodies of 1 to 8 KB.
"$PYTHON3" - "$TEST_TMP/maildir" "$MESSAGES" <<'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
random.seed(42)
for label in ("INBOX", "SENT"):
    os.makedirs(os.path.join(root, label), exist_ok=True)
words = ("pricing seats contract renewal invoice meeting question thanks "
         "proposal discount support onboarding timeline").split()
for i in range(n):
    sent = i % 10 == 9
    thread = i // 4
    frm = "me@example.com" if sent else "c%d@customer.example" % thread
    to = "c%d@customer.example" % thread if sent else "me@example.com"
    refs = "" if i % 4 == 0 else "In-Reply-To: <m%d@bench.example>\n" % (i - 1)
    body = "\n".join(" ".join(random.choice(words) for _ in range(12))
                     for _ in range(random.randint(10, 80)))
    day, minute = divmod(i, 1440)
    with open(os.path.join(root, "SENT" if sent else "INBOX",
                           "%06d.eml" % i), "w") as f:
        f.write("From: %s\nTo: %s\nSubject: Thread %d\n"
                "Date: Mon, %02d Oct 2023 %02d:%02d:00 +0000\n"
                "Message-ID: <m%d@bench.example>\n%s"
                "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
                "\n%s\n" % (frm, to, thread, 1 + day % 28, minute // 60,
                            minute % 60, i, refs, body))
EOF

pg_start >/dev/null || exit 1

"$PYTHON3" "$top_srcdir/t/gmail/standin.py" --maildir "$TEST_TMP/maildir" \
    --port-file "$TEST_TMP/port" --quota "$QUOTA" --lifetime 900 \
    --spurious-429 "$SPURIOUS" --spurious-retry-after 1 \
    --project-quota "$PROJECT_QUOTA" 2>"$TEST_TMP/standin.log" &
STANDIN_PID=$!
for _ in $(seq 100); do
	[ -s "$TEST_TMP/port" ] && break
	sleep 0.1
done
PORT=$(cat "$TEST_TMP/port") || exit 1
URL=http://127.0.0.1:$PORT

mkdir -m 0700 "$TEST_TMP/secrets"
printf 'standin-secret\n' >"$TEST_TMP/secrets/client-secret"
cat >"$TEST_TMP/inboxd.conf" <<EOF
[database]
conninfo = $INBOXD_TEST_CONNINFO

[daemon]
log_level = warning
metrics_listen = off

[gmail]
project_quota = $PROJECT_QUOTA
EOF
# One user of the stand-in per account: the refresh token names it.
for i in $(seq 1 "$ACCOUNTS"); do
	user=me@example.com
	token=standin-refresh
	if [ "$ACCOUNTS" -gt 1 ]; then
		user=b$i@example.com
		token=standin-refresh+$user
	fi
	printf '%s\n' "$token" >"$TEST_TMP/secrets/refresh-$i"
	cat >>"$TEST_TMP/inboxd.conf" <<EOF

[account bench$i]
type = gmail
username = $user
addresses = me@example.com
token_url = $URL/token
api_base = $URL
client_id = standin-client
client_secret_file = $TEST_TMP/secrets/client-secret
refresh_token_file = $TEST_TMP/secrets/refresh-$i
quota_units = $QUOTA
EOF
done
chmod 0600 "$TEST_TMP/secrets"/*

# Migrations first, so that the timed pass is the sync alone.
"$top_builddir/inboxctl" --config "$TEST_TMP/inboxd.conf" migrate \
    >/dev/null 2>&1 || :

start=$(date +%s%N)
"$top_builddir/inboxd" --config "$TEST_TMP/inboxd.conf" --once \
    2>"$TEST_TMP/inboxd.log"
rc=$?
end=$(date +%s%N)
if [ "$rc" -ne 0 ]; then
	echo "gmail_bench: inboxd --once exited $rc" >&2
	tail -n 20 "$TEST_TMP/inboxd.log" >&2
	exit 1
fi

stored=$(psql -XAtq -c "SELECT count(DISTINCT (account_id, rfc_message_id))
    || ' ' || count(*) FROM conversation_messages")
curl -sS "$URL/admin/requests" >"$TEST_TMP/requests.json"
curl -sS "$URL/admin/stats" >"$TEST_TMP/stats.json"
# SAVE=DIR keeps the stand-in's request log and the daemon's log.
[ -n "${SAVE:-}" ] && cp "$TEST_TMP/requests.json" "$TEST_TMP/inboxd.log" "$SAVE/"
"$PYTHON3" - "$TEST_TMP/requests.json" "$TEST_TMP/stats.json" "$MESSAGES" \
    "$ACCOUNTS" "$QUOTA" "$PROJECT_QUOTA" "$SPURIOUS" \
    "$(((end - start) / 1000000))" "$stored" <<'EOF'
import collections, json, sys
log = json.load(open(sys.argv[1]))
stats = json.load(open(sys.argv[2]))
n, accounts, quota, project = map(int, sys.argv[3:7])
spurious = float(sys.argv[7])
ms = int(sys.argv[8])
distinct, rows = map(int, sys.argv[9].split())
total = n * accounts
gets = [e["t"] for e in log if e["kind"] == "get" and e["status"] == 200]
limited = sum(1 for e in log if e["status"] == 429)
units = sum(e["units"] for e in log)
span = gets[-1] - gets[0] if len(gets) > 1 else 0


def most_in_a_second(entries):
    """The most units spent in any one second (sliding)."""
    ts = sorted((e["t"], e["units"]) for e in entries if e["units"])
    best = lo = acc = 0
    for t, u in ts:
        acc += u
        while ts[lo][0] <= t - 1.0:
            acc -= ts[lo][1]
            lo += 1
        best = max(best, acc)
    return best


by_user = collections.defaultdict(list)
for e in log:
    if e["user"]:
        by_user[e["user"]].append(e)
user_peak = max(most_in_a_second(v) for v in by_user.values())
print("gmail initial sync: %d account(s) x %d messages, quota %d units/s "
      "per user, project %d, %.0f%% spurious 429s"
      % (accounts, n, quota, project, spurious * 100))
print("  whole pass:        %.1f s, %.1f messages/s (%.1f per account)"
      % (ms / 1000, total * 1000 / ms, total * 1000 / ms / accounts))
if span:
    print("  messages.get:      %.1f messages/s sustained (first to last), "
          "%.1f per account" % ((len(gets) - 1) / span,
                                (len(gets) - 1) / span / accounts))
print("  quota units:       %d spent, %.0f units/s over the pass"
      % (units, units * 1000 / ms))
print("  most in 1 s:       %d units for one user, %d for the project"
      % (user_peak, most_in_a_second(log)))
print("  429 answers:       %d (%d spurious, %d beyond a quota)"
      % (limited, stats["spurious_429"], stats["over_quota"]))
print("  rows stored:       %d (%d distinct)" % (rows, distinct))
sys.exit(0 if rows == total and distinct == total and
         stats["over_quota"] == 0 else 1)
EOF
