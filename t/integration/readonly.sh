#!/bin/bash
# inboxd reads mail and changes nothing on the server: against the real
# Dovecot (Maildir), a sampler lists the Maildir every 20 ms while the
# daemon syncs and records every flag any message ever had:
#  - a --once pass over 400 unread messages (and a few that were \Seen,
#    \Flagged or \Answered before) stores them all, and no unread
#    message is ever \Seen, not even for a moment; the others keep
#    exactly the flags they had, nothing added, nothing removed;
#  - kill -9 of the daemon in mid-sync leaves no message \Seen, and a
#    full sync afterwards stores all 400 exactly once;
#  - Dovecot's raw log of the daemon's sessions holds no STORE, SELECT,
#    EXPUNGE, COPY, MOVE or APPEND, and no body fetch without PEEK.

INBOXD_TEST_TIMEOUT=${INBOXD_TEST_TIMEOUT:-120}
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/faults.sh"

N=400
ONCE=sales@example.com
KILL=kill@example.com
# Messages of the first mailbox that hold flags before the sync, by
# position among the delivered files: the Maildir info letters.
PRESET=(S F FS RS S F DS FRS)

fault_seed
DOVECOT_RAWLOG=1 start_servers "$ONCE:secret" "$KILL:secret"
RAWLOG=$DOVECOT_DIR/rawlog

# deliver USER TAG EXTRA: N unread generated messages (and EXTRA more)
# straight into USER's Maildir; the first EXTRA files then get the
# PRESET flags, before Dovecot has seen any of them.
deliver()
{
	local user=$1 tag=$2 extra=$3 md i
	local -a files
	rm -rf "$TEST_TMP/gen"
	gen_mail "$TEST_TMP/gen" $((N + extra)) "$FAULT_SEED" "$tag" ||
	    bail_out "gen_mail failed"
	maildir_deliver "$user" INBOX "$TEST_TMP/gen" || bail_out "delivery failed"
	md=$(maildir_path "$user")
	# The names sort in delivery order.
	files=("$md"/cur/*)
	for ((i = 0; i < extra; i++)); do
		mv "${files[i]}" "${files[i]}${PRESET[i]}"
	done
}

# The flags of every message of a Maildir, "KEY FLAGS" a line, sorted;
# KEY is the file name up to its first "," or ":", which Dovecot never
# changes.
maildir_flags()
{
	"$PYTHON3" - "$(maildir_path "$1")" <<'PY'
import os, sys
md = sys.argv[1]
out = []
for sub in ("new", "cur"):
    for name in os.listdir(os.path.join(md, sub)):
        key = name.split(",")[0].split(":")[0]
        info = name.split(":2,", 1)[1] if ":2," in name else ""
        out.append("%s %s" % (key, "".join(c for c in info if c.isalpha())))
print("\n".join(sorted(out)))
PY
}

# sampler_start USER OUT: lists USER's Maildir every 20 ms until stopped
# and writes each (message, flags) pair it sees, once, to OUT, at once.
# SAMPLER_PID; OUT.scans gets the number of listings on SIGTERM.
sampler_start()
{
	"$PYTHON3" - "$(maildir_path "$1")" "$2" <<'PY' &
import os, signal, sys, time
md, out = sys.argv[1], sys.argv[2]
seen = set()
scans = 0
def stop(*_):
    with open(out + ".scans", "w") as f:
        f.write("%d\n" % scans)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
with open(out, "w") as f:
    while True:
        for sub in ("new", "cur"):
            try:
                names = os.listdir(os.path.join(md, sub))
            except OSError:
                continue
            for name in names:
                key = name.split(",")[0].split(":")[0]
                info = name.split(":2,", 1)[1] if ":2," in name else ""
                pair = (key, "".join(c for c in info if c.isalpha()))
                if pair not in seen:
                    seen.add(pair)
                    f.write("%s %s\n" % pair)
                    f.flush()
        scans += 1
        if scans == 1:
            open(out + ".ready", "w").close()
        time.sleep(0.02)
PY
	SAMPLER_PID=$!
	_harness_pids="$_harness_pids $SAMPLER_PID"
	wait_for 10 test -e "$2.ready" || bail_out "the Maildir sampler did not start"
}

sampler_stop()
{
	kill -TERM "$SAMPLER_PID" 2>/dev/null || :
	wait "$SAMPLER_PID" 2>/dev/null || :
}

# flag_changes BEFORE SAMPLES [seen]: the sampled (message, flags)
# pairs that differ from the message's flags in BEFORE (maildir_flags
# output); with "seen", only those that are \Seen where the message was
# not before.
flag_changes()
{
	awk -v only="${3:-}" 'NR == FNR { want[$1] = $2; next }
	    !($1 in want) || want[$1] == $2 { next }
	    only == "seen" && (want[$1] ~ /S/ || $2 !~ /S/) { next }
	    { print }' "$1" "$2"
}

# never_changed WHAT BEFORE SAMPLES: TAP points: the sampler ran, no
# unread message was ever \Seen, no message ever had other flags than
# before.
never_changed()
{
	local what=$1 changes
	ok "$what: the sampler listed the Maildir many times" \
	    test "$(cat "$3.scans" 2>/dev/null || echo 0)" -ge 10
	changes=$(flag_changes "$2" "$3" seen)
	is "$(grep -c . <<<"$changes" || :)" 0 \
	    "$what: no unread message was ever \\Seen"
	[ -z "$changes" ] || diag "message, flags: $(head -n 5 <<<"$changes")"
	changes=$(flag_changes "$2" "$3")
	is "$(grep -c . <<<"$changes" || :)" 0 \
	    "$what: no message ever had a flag added or removed"
	[ -z "$changes" ] || diag "message, flags: $(head -n 5 <<<"$changes")"
}

# One pass, sampled -------------------------------------------------------------

deliver "$ONCE" ro ${#PRESET[@]}
TOTAL=$((N + ${#PRESET[@]}))
maildir_flags "$ONCE" >"$TEST_TMP/once.before"
is "$(grep -c ' $' "$TEST_TMP/once.before")" "$N" "$N unread messages in the Maildir"
is "$(grep -c ' [A-Z]' "$TEST_TMP/once.before")" "${#PRESET[@]}" \
    "${#PRESET[@]} messages with flags set before the sync"
rm -f "$RAWLOG"/*

CFG=$TEST_TMP/once.conf
{
	config_daemon
	config_imap once "$ONCE" secret "batch_size = 50"
} >"$CFG"
sampler_start "$ONCE" "$TEST_TMP/once.samples"
ok "inboxd --once exits 0" inboxd_once "$CFG"
sleep 0.2
sampler_stop
never_changed "--once" "$TEST_TMP/once.before" "$TEST_TMP/once.samples"
maildir_flags "$ONCE" >"$TEST_TMP/once.after"
is "$(diff "$TEST_TMP/once.before" "$TEST_TMP/once.after" | grep -c '^[<>]' || :)" 0 \
    "--once: every message has the flags it had before"
ok "--once: \\Seen, \\Flagged and \\Answered set before are all still set" \
    test "$(grep -c ' [A-Z]' "$TEST_TMP/once.after")" -eq "${#PRESET[@]}"
is "$(acct_rows once)" "$TOTAL" "--once: all $TOTAL messages are stored"
is "$(sql "SELECT count(DISTINCT rfc_message_id) FROM conversation_messages
    WHERE $(_acct_where once)")" "$TOTAL" "--once: $TOTAL distinct Message-IDs"

# kill -9 in mid-sync -------------------------------------------------------------

deliver "$KILL" k9 0
maildir_flags "$KILL" >"$TEST_TMP/kill.before"
is "$(grep -c ' $' "$TEST_TMP/kill.before")" "$N" "$N unread messages in the second Maildir"
KCFG=$TEST_TMP/kill.conf
{
	config_daemon
	config_imap k9 "$KILL" secret "batch_size = 20" "poll_interval = 300s"
} >"$KCFG"
sampler_start "$KILL" "$TEST_TMP/kill.samples"
inboxd_start --config "$KCFG"
# A fast sync stores 400 messages in well under a second: watch closely.
rand_between 10 60
target=$REPLY
for ((i = 0; i < 3000; i++)); do
	_rows_reached k9 "$target" && break
	sleep 0.02
done
ok "the daemon was running at the kill" alive "$INBOXD_PID"
kill9 "$INBOXD_PID"
rows=$(acct_rows k9)
note "kill -9 after $target rows: $rows rows stored, cursor $(acct_cursor k9)"
ok "the kill landed in mid-sync (some but not all rows stored)" \
    test "$rows" -gt 0 -a "$rows" -lt "$N"
ok "after the kill the cursor covers only stored mail" \
    check_cursor_covered k9 INBOX
sleep 0.3
maildir_flags "$KILL" >"$TEST_TMP/kill.after"
is "$(grep -c ' .*S' "$TEST_TMP/kill.after" || :)" 0 \
    "after the kill no message is \\Seen"
ok "the full sync after the kill exits 0" inboxd_once "$KCFG"
sleep 0.2
sampler_stop
never_changed "kill -9, then a full sync" "$TEST_TMP/kill.before" \
    "$TEST_TMP/kill.samples"
is "$(acct_rows k9)" "$N" "after the kill: all $N messages stored"
is "$(sql "SELECT count(DISTINCT rfc_message_id) FROM conversation_messages
    WHERE $(_acct_where k9)")" "$N" "after the kill: $N distinct Message-IDs"
is "$(sql "SELECT count(*) FROM message_locations WHERE $(_acct_where k9)")" "$N" \
    "after the kill: $N locations"
is "$(acct_cursor k9)" "$N" "after the kill: the cursor is at UID $N"

# What the server was asked -----------------------------------------------------

# Every line a client sent after login, without the rawlog's time stamp.
cat "$RAWLOG"/*.in 2>/dev/null | sed -E 's/^[0-9]+\.[0-9]+ //' \
    >"$TEST_TMP/commands"
if ! grep -qiE '^[^ ]+ (EXAMINE|UID FETCH|FETCH)' "$TEST_TMP/commands"; then
	skip "Dovecot's raw log holds no command of the daemon" 3
else
	bad=$(grep -iE '^[^ ]+ (UID )?(STORE|SELECT|EXPUNGE|COPY|MOVE|APPEND)( |$)' \
	    "$TEST_TMP/commands")
	is "$(grep -c . <<<"$bad" || :)" 0 \
	    "the server got no STORE, SELECT, EXPUNGE, COPY, MOVE or APPEND"
	[ -z "$bad" ] || diag "$(sort <<<"$bad" | uniq -c | sort -rn | head -n 10)"
	bad=$(grep -iE '^[^ ]+ (UID )?FETCH ' "$TEST_TMP/commands" |
	    grep -iE 'BODY\[|RFC822( |\)|$)' )
	is "$(grep -c . <<<"$bad" || :)" 0 "every body fetch is BODY.PEEK[]"
	[ -z "$bad" ] || diag "$(head -n 5 <<<"$bad")"
	ok "the daemon opened INBOX with EXAMINE" \
	    grep -qiE '^[^ ]+ EXAMINE "?INBOX"?' "$TEST_TMP/commands"
fi

done_testing
