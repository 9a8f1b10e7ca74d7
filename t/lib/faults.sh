# Helpers for the fault-injection and threading integration tests (bash).
# Source it after t/lib/harness.sh:
#
#	fault_seed                         pick the random seed (FAULT_SEED or a
#	                                   fresh one), print it, seed $RANDOM
#	rand_between LO HI                 REPLY = an integer in [LO, HI] from
#	                                   $RANDOM (no subshell: a subshell
#	                                   reseeds $RANDOM, and a seed would
#	                                   not repeat a run)
#	gen_mail DIR COUNT SEED [TAG [REPLY%]]
#	                                   write COUNT generated messages
#	                                   DIR/00001.eml ... (2-60 KB, threads,
#	                                   some multipart and attachments;
#	                                   REPLY% of them replies, default 35);
#	                                   DIR/threads holds the thread count
#	gen_inbox COUNT TAG                gen_mail COUNT messages (seed
#	                                   FAULT_SEED) into sales's INBOX;
#	                                   sets THREADS
#	kill9 PID                          SIGKILL and reap
#	alive PID                          the process is still running
#	now_ms                             wall clock in milliseconds
#	sleep_ms MS                        sleep MS milliseconds
#	acct_rows ACCOUNT                  message rows of an account
#	acct_cursor ACCOUNT [MAILBOX]      sync_state.last_uid (0 when none)
#	wait_rows ACCOUNT N SECS           wait until ACCOUNT has >= N rows
#	check_cursor_covered ACCOUNT MAILBOX
#	                                   every UID up to the cursor is stored
#	assert_exactly_once ACCOUNT MAILBOX N
#	                                   TAP points: N rows, N distinct
#	                                   Message-IDs, N locations, no
#	                                   duplicate jobs or events, cursor at
#	                                   the max UID
#	dovecot2_start USER[:PW]...        a second Dovecot in $TEST_TMP/dc2;
#	                                   exports IMAP2_PORT, DOVECOT2_PID
#	dovecot2_stop / dovecot2_relaunch  stop it and its sessions (by pid) /
#	                                   start it again on the same port and
#	                                   mail
#	dovecot_stop_all                   dovecot_stop, and its open sessions
#	maildir2_deliver USER FOLDER DIR   maildir_deliver into the second
#	                                   Dovecot
#	imap2_py ARGS...                   imap.py against the second Dovecot
#	assert_conversations ACCOUNT N     N conversations, none empty
#	log_count FILE REGEX               lines of FILE matching REGEX
#	recreate_inbox_busy USER PASSWORD  imap_recreate_mailbox INBOX with
#	                                   clients connected
#	pg_durable_commits                 synchronous_commit = on, for crashes

fault_seed()
{
	FAULT_SEED=${FAULT_SEED:-$(( $(date +%s%N) % 1000000 ))}
	RANDOM=$FAULT_SEED
	note "seed $FAULT_SEED (rerun with FAULT_SEED=$FAULT_SEED)"
}

rand_between()
{
	REPLY=$(( $1 + RANDOM % ($2 - $1 + 1) ))
}

now_ms()
{
	echo $(( $(date +%s%N) / 1000000 ))
}

gen_mail()
{
	local dir=$1 count=$2 seed=$3 tag=${4:-gen} replies=${5:-35}
	mkdir -p "$dir"
	"$PYTHON3" - "$dir" "$count" "$seed" "$tag" "$replies" <<'PY'
import base64
import email.utils
import os
import random
import sys

out, count, seed, tag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
reply_rate = int(sys.argv[5]) / 100
rnd = random.Random(seed)
WORDS = ("quote order invoice seats licence renewal meeting price discount "
         "delivery contract support question answer thanks regards team "
         "project schedule budget proposal review update tomorrow week "
         "please could would shipment warehouse pallet").split()
base_time = 1700000000
threads = []          # [subject, customer, [message ids]]


# Text is cut from one long random stream: fast, and different per message.
STREAM = []
n = 0
while n < 300 * 1024:
    line = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(6, 14)))
    STREAM.append(line)
    n += len(line) + 1
STREAM = "\n".join(STREAM)


def text(size):
    size = max(200, min(size, len(STREAM) - 1))
    start = rnd.randrange(0, len(STREAM) - size)
    start = STREAM.index("\n", start) + 1 if "\n" in STREAM[start:start + 200] else start
    return STREAM[start:start + size].rsplit("\n", 1)[0] + "\n"


for i in range(1, count + 1):
    mid = "%s-%05d.%d@mail.test" % (tag, i, seed)
    if threads and rnd.random() < reply_rate:
        th = rnd.choice(threads[-40:])
        subject = "Re: " + th[0]
        # Some mailers keep the whole chain, others only the parent.
        refs = th[2][-10:] if rnd.random() < 0.6 else th[2][-1:]
    else:
        n = len(threads) + 1
        th = ["Topic %d of %s" % (n, tag), "customer%d@c%d.example" % (n, n % 97), []]
        threads.append(th)
        subject, refs = th[0], []
    outbound = bool(refs) and rnd.random() < 0.5
    frm = "Sales <sales@example.com>" if outbound else th[1]
    to = th[1] if outbound else "sales@example.com"
    th[2].append("<%s>" % mid)
    date = email.utils.formatdate(base_time + i * 60, usegmt=True)
    size = rnd.randint(2048, 60 * 1024)
    head = ["From: " + frm, "To: " + to, "Subject: " + subject,
            "Date: " + date, "Message-ID: <%s>" % mid]
    if refs:
        head += ["In-Reply-To: " + refs[-1], "References: " + " ".join(refs)]
    head.append("MIME-Version: 1.0")
    kind = rnd.random()
    if kind < 0.6:
        body = text(size - 400)
        msg = head + ["Content-Type: text/plain; charset=utf-8", "", body]
    elif kind < 0.85:
        plain = text((size - 600) // 2)
        html = "<html><body><p>" + text((size - 600) // 2 - 40) + "</p></body></html>\n"
        msg = head + ['Content-Type: multipart/alternative; boundary="alt%d"' % i, "",
                      "--alt%d" % i, "Content-Type: text/plain; charset=utf-8", "", plain,
                      "--alt%d" % i, "Content-Type: text/html; charset=utf-8", "", html,
                      "--alt%d--" % i, ""]
    else:
        plain = text(600)
        blob = base64.encodebytes(rnd.randbytes(max(512, (size - 1500) * 3 // 4))).decode()
        msg = head + ['Content-Type: multipart/mixed; boundary="mix%d"' % i, "",
                      "--mix%d" % i, "Content-Type: text/plain; charset=utf-8", "", plain,
                      "--mix%d" % i,
                      'Content-Type: application/octet-stream; name="data%d.bin"' % i,
                      'Content-Disposition: attachment; filename="data%d.bin"' % i,
                      "Content-Transfer-Encoding: base64", "", blob,
                      "--mix%d--" % i, ""]
    with open(os.path.join(out, "%05d.eml" % i), "w") as f:
        f.write("\n".join(msg))
with open(os.path.join(out, "threads"), "w") as f:
    f.write("%d\n" % len(threads))
PY
}

# The large mailbox of the fault tests: COUNT generated messages (gen_mail
# with tag TAG) in INBOX of sales@example.com. THREADS is their thread
# count.
gen_inbox()
{
	gen_mail "$TEST_TMP/gen" "$1" "$FAULT_SEED" "$2" || bail_out "gen_mail failed"
	THREADS=$(cat "$TEST_TMP/gen/threads")
	maildir_deliver sales@example.com INBOX "$TEST_TMP/gen" ||
	    bail_out "delivery failed"
}

alive()
{
	kill -0 "$1" 2>/dev/null
}

kill9()
{
	kill -KILL "$1" 2>/dev/null || :
	wait "$1" 2>/dev/null || :
}

_acct_where()
{
	echo "account_id = (SELECT id FROM mail_accounts WHERE name = '$1')"
}

acct_rows()
{
	sql "SELECT count(*) FROM conversation_messages WHERE $(_acct_where "$1")"
}

acct_cursor()
{
	sql "SELECT coalesce((SELECT last_uid FROM sync_state
	    WHERE $(_acct_where "$1") AND mailbox = '${2:-INBOX}'), 0)"
}

_rows_reached()
{
	local n
	n=$(acct_rows "$1" 2>/dev/null) || return 1
	[ "${n:-0}" -ge "$2" ]
}

wait_rows()
{
	wait_for "$3" _rows_reached "$1" "$2"
}

# The cursor may lag behind what is stored, never run ahead of it: with
# UIDs 1..N in a fresh mailbox, every UID up to last_uid has a location.
check_cursor_covered()
{
	local acct=$1 mbox=$2 cur covered
	cur=$(acct_cursor "$acct" "$mbox")
	covered=$(sql "SELECT count(DISTINCT uid) FROM message_locations
	    WHERE $(_acct_where "$acct") AND mailbox = '$mbox' AND uid <= $cur
	    AND uidvalidity = (SELECT uidvalidity FROM sync_state
	    WHERE $(_acct_where "$acct") AND mailbox = '$mbox')")
	[ "${cur:-0}" -eq 0 ] && covered=0
	if [ "$covered" != "$cur" ]; then
		diag "cursor $cur but only $covered UIDs up to it are stored"
		return 1
	fi
	return 0
}

assert_exactly_once()
{
	local acct=$1 mbox=$2 n=$3 w
	w=$(_acct_where "$acct")
	is "$(sql "SELECT count(*) FROM conversation_messages WHERE $w")" "$n" \
	    "$acct: $n message rows"
	is "$(sql "SELECT count(DISTINCT rfc_message_id) FROM conversation_messages WHERE $w")" \
	    "$n" "$acct: $n distinct Message-IDs"
	is "$(sql "SELECT count(*) FROM message_locations WHERE $w AND mailbox = '$mbox'")" \
	    "$n" "$acct: $n message_locations"
	is "$(sql "SELECT count(*) FROM (SELECT l.message_id FROM message_locations l
	    WHERE l.$w GROUP BY l.message_id HAVING count(*) > 1) d")" 0 \
	    "$acct: no message has two locations"
	is "$(sql "SELECT count(*) FROM (SELECT kind, message_id FROM jobs j
	    JOIN conversation_messages m ON m.id = j.message_id WHERE m.$w
	    GROUP BY kind, message_id HAVING count(*) > 1) d")" 0 \
	    "$acct: no duplicate jobs per (kind, message_id)"
	is "$(sql "SELECT count(*) FROM jobs j JOIN conversation_messages m
	    ON m.id = j.message_id WHERE m.$w AND j.kind = 'embed_message'")" "$n" \
	    "$acct: one embed_message job per message"
	is "$(sql "SELECT count(*) FROM events e JOIN conversation_messages m
	    ON m.id = e.message_id WHERE m.$w AND e.type = 'message.received'")" "$n" \
	    "$acct: one message.received event per message"
	is "$(sql "SELECT count(*) FROM jobs WHERE message_id IS NOT NULL
	    AND message_id NOT IN (SELECT id FROM conversation_messages)")" 0 \
	    "no job points at a missing message"
	is "$(acct_cursor "$acct" "$mbox")" \
	    "$(sql "SELECT coalesce(max(uid), 0) FROM message_locations WHERE $w AND mailbox = '$mbox'")" \
	    "$acct: cursor equals the max UID stored"
	is "$(acct_cursor "$acct" "$mbox")" "$n" "$acct: cursor at UID $n"
}

# A second Dovecot -------------------------------------------------------------
#
# t/lib/dovecot.sh keeps one server in globals under $TEST_TMP; the second
# one runs the same code in a subshell that sees another TEST_TMP.

DC2_TMP=
DOVECOT2_PID=

dovecot2_start()
{
	DC2_TMP=$TEST_TMP/dc2
	mkdir -p "$DC2_TMP"
	chmod 0755 "$DC2_TMP"
	(
		TEST_TMP=$DC2_TMP
		# Its own instance name, so that its processes can be told
		# from the first server's.
		eval "_dovecot_write_config_1()
		$(declare -f _dovecot_write_config | tail -n +2)"
		_dovecot_write_config()
		{
			_dovecot_write_config_1
			sed -i 's/^instance_name = .*/&-2/' "$DOVECOT_DIR/dovecot.conf"
		}
		dovecot_start "$@" || exit 1
		echo "$IMAP_PORT" >"$DC2_TMP/port"
	) || return 1
	IMAP2_PORT=$(cat "$DC2_TMP/port")
	DOVECOT2_PID=$(cat "$DC2_TMP/dovecot/run/master.pid")
	export IMAP2_PORT
}

# Dovecot's master exits on SIGTERM, but the processes it started (the
# IMAP sessions, log, stats) live on for a while, and the sessions go on
# serving their clients: a server that is "stopped" must not be. Ends
# the master, then every process of its instance; the instance name
# (from its config) holds the test's pid, so it names nothing else.
_dovecot_kill_tree()
{
	local master=$1 conf=$2 instance pids i
	instance=$(sed -n 's/^instance_name = //p' "$conf")
	kill -TERM "$master" 2>/dev/null || :
	for ((i = 0; i < 100; i++)); do
		kill -0 "$master" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$master" 2>/dev/null || :
	[ -n "$instance" ] || return 0
	for ((i = 0; i < 30; i++)); do
		pids=$(pgrep -f "^dovecot-$instance/") || return 0
		# shellcheck disable=SC2086
		if [ "$i" -lt 20 ]; then
			kill -TERM $pids 2>/dev/null || :
		else
			kill -KILL $pids 2>/dev/null || :
		fi
		sleep 0.1
	done
}

# dovecot_stop, and the sessions too.
dovecot_stop_all()
{
	local pid=$_dovecot_pid
	[ -n "$pid" ] || return 0
	_dovecot_kill_tree "$pid" "$DOVECOT_DIR/dovecot.conf"
	dovecot_stop
}

dovecot2_stop()
{
	local pid=$DOVECOT2_PID
	[ -n "$pid" ] || return 0
	DOVECOT2_PID=
	_dovecot_kill_tree "$pid" "$DC2_TMP/dovecot/dovecot.conf"
}

dovecot2_relaunch()
{
	(
		TEST_TMP=$DC2_TMP
		DOVECOT_DIR=$DC2_TMP/dovecot
		IMAP_PORT=$IMAP2_PORT
		_dovecot_launch
	) || return 1
	DOVECOT2_PID=$(cat "$DC2_TMP/dovecot/run/master.pid")
}

maildir2_deliver()
{
	(TEST_TMP=$DC2_TMP; maildir_deliver "$@")
}

imap2_py()
{
	(IMAP_PORT=$IMAP2_PORT; imap_py "$@")
}

# The harness's exit trap stops the first Dovecot; the second one is
# stopped here first.
_faults_cleanup()
{
	local rc=$?
	dovecot2_stop
	(exit "$rc")
	_harness_cleanup
}
trap _faults_cleanup EXIT

# TAP points: the account has N conversations and none is empty.
assert_conversations()
{
	local acct=$1 n=$2 w
	w=$(_acct_where "$acct")
	is "$(sql "SELECT count(*) FROM conversations WHERE $w")" "$n" \
	    "$acct: $n conversations (one per generated thread)"
	is "$(sql "SELECT count(*) FROM conversations c WHERE c.$w AND NOT EXISTS
	    (SELECT 1 FROM conversation_messages m WHERE m.conversation_id = c.id)")" 0 \
	    "$acct: no conversation without messages"
}

# The number of lines of FILE matching the extended regex RE.
log_count()
{
	local n
	n=$(grep -cE -- "$2" "$1" 2>/dev/null) || :
	echo "${n:-0}"
}

sleep_ms()
{
	sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
}

# imap_recreate_mailbox for INBOX while clients are connected: the IMAP
# processes of open sessions outlive the master and would write the old
# UID list back; they are stopped too before it is dropped.
recreate_inbox_busy()
{
	local user=$1 password=$2 before after md
	before=$(imap_uidvalidity "$user" "$password" INBOX) || return 1
	md=$(maildir_path "$user")
	dovecot_stop_all
	rm -f "$md/dovecot-uidlist" "$md"/dovecot.index* "$md/dovecot.list.index"*
	sleep 1.1
	_dovecot_launch || return 1
	after=$(imap_uidvalidity "$user" "$password" INBOX) || return 1
	if [ "$after" = "$before" ]; then
		echo "recreate_inbox_busy: UIDVALIDITY of INBOX still $after" >&2
		return 1
	fi
	echo "$after"
}

# The test cluster runs with synchronous_commit = off: a commit is
# acknowledged before its WAL is written, and a crash of the server
# loses it by design. A test that crashes the server needs commits that
# survive, as in production. (fsync = off stays: the kernel keeps what
# was written when only the server dies.)
pg_durable_commits()
{
	psql_su "ALTER SYSTEM SET synchronous_commit = on" >/dev/null &&
	    psql_su "SELECT pg_reload_conf()" >/dev/null
}
