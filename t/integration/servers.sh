#!/bin/bash
# The core IMAP sync against three servers: Dovecot (installed), Cyrus
# IMAP and Courier-IMAP (Debian's packages, unpacked into the test's
# directory; see t/lib/cyrus.sh and t/lib/courier.sh). Each server gets
# the same cases, one function each, taking the server's host, port,
# user, password and Sent folder:
#
#	case_server_ready    the user logs in, INBOX and the Sent folder exist
#	case_first_pass      15 unread in INBOX, 3 in Sent; one pass with
#	                     default settings stores 15 inbound and 3
#	                     outbound, and leaves every message unread
#	case_flags_meanwhile another client keeps INBOX selected and flips
#	                     \Flagged on message 4 during the next pass (the
#	                     server then sends unsolicited FETCH FLAGS);
#	                     the pass still succeeds
#	case_no_duplicates   after 2 more messages 17 are stored, none twice;
#	                     a message expunged by another client in the
#	                     middle of the UID range, then one more message:
#	                     the new one is stored, nothing stored moves
#	case_named_sent      with sent_folder set, no LIST RETURN
#	                     (SPECIAL-USE) is sent (read from the server's
#	                     protocol log: Cyrus and Courier; the test
#	                     Dovecot has none)
#	case_sasl_plain      sasl_mechanism = PLAIN (Cyrus only)
#
# INBOXD_TEST_SERVERS picks the servers (default "dovecot cyrus courier").
# When the packages cannot be downloaded, the whole test is skipped.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"
. "$top_srcdir/t/lib/cyrus.sh"
. "$top_srcdir/t/lib/courier.sh"

SERVERS=${INBOXD_TEST_SERVERS:-dovecot cyrus courier}
# A pass that hangs against a server must not take the suite's minute.
INBOXD_TEST_TIMEOUT=${INBOXD_SERVERS_TIMEOUT:-20}
ADDRESS=sales@example.com

# The packages, before any output: no network means a clean skip.
need=
case " $SERVERS " in *" cyrus "*) need="$need $CYRUS_PACKAGES" ;; esac
case " $SERVERS " in *" courier "*) need="$need $COURIER_PACKAGES" ;; esac
if [ -n "$need" ]; then
	# shellcheck disable=SC2086
	_debs_fetch "$(_debs_cache)" $need 2>"$TEST_TMP/fetch.err" ||
	    skip_all "cannot download the server packages ($(tail -n 1 "$TEST_TMP/fetch.err"))"
fi

pg_start || bail_out "PostgreSQL did not start"
# shellcheck disable=SC2317 # called from the EXIT trap
_servers_cleanup()
{
	local f
	cyrus_stop
	courier_stop
	[ "${_tap_failed:-0}" -ne 0 ] || return 0
	for f in "${CYRUS_DIR:-/nonexistent}/master.log" \
	    "${COURIER_DIR:-/nonexistent}/courier.log"; do
		[ -s "$f" ] || continue
		diag "--- last lines of ${f#"$TEST_TMP"/} ---"
		diag "$(tail -n 30 "$f")"
	done
}
# harness.sh's EXIT trap stops Dovecot and PostgreSQL; the other two
# are stopped first.
# shellcheck disable=SC2317 # called from the EXIT trap
_servers_exit()
{
	local rc=$?
	_servers_cleanup
	(exit "$rc")
	_harness_cleanup
}
trap _servers_exit EXIT

# An IMAP client for the checks, on the standard library: never SELECTs
# where it only looks (EXAMINE), never sets \Seen.
cat >"$TEST_TMP/client.py" <<'PY'
import imaplib, os, re, sys, time

host, port, user, password, cmd = sys.argv[1:6]
args = sys.argv[6:]
c = imaplib.IMAP4(host, int(port), timeout=30)
typ, data = c.login(user, password)

def ok(res, what):
    if res[0] != "OK":
        sys.exit("client.py %s: %s: %r" % (cmd, what, res))
    return res[1]

def q(folder):
    return '"' + folder + '"'

if cmd == "append":
    folder = args[0]
    for name in args[1:]:
        raw = open(name, "rb").read()
        raw = re.sub(rb"\r?\n", b"\r\n", raw)
        ok(c.append(q(folder), None, None, raw), "APPEND " + name)
elif cmd == "folders":
    for line in ok(c.list('""', "*"), "LIST"):
        print(line.decode())
elif cmd == "flags":
    # "TOTAL SEEN FLAGGED": how many messages, how many \Seen, the
    # sequence numbers of the \Flagged ones.
    n = int(ok(c.select(q(args[0]), readonly=True), "EXAMINE")[0])
    seen, flagged = 0, []
    if n:
        for item in ok(c.fetch("1:*", "(FLAGS)"), "FETCH"):
            m = re.match(rb"(\d+) \(FLAGS \(([^)]*)\)", item)
            if not m:
                continue
            flags = m.group(2).split()
            seen += b"\\Seen" in flags
            if b"\\Flagged" in flags:
                flagged.append(m.group(1).decode())
    print(n, seen, ",".join(flagged) or "-")
elif cmd == "uids":
    n = int(ok(c.select(q(args[0]), readonly=True), "EXAMINE")[0])
    print(" ".join(ok(c.uid("SEARCH", "ALL"), "UID SEARCH")[0].decode().split()))
elif cmd == "flipper":
    # Holds FOLDER selected and flips \Flagged on message SEQ until
    # STOPFILE exists; READYFILE once it started. Ends with it set.
    folder, seq, ready, stop = args
    ok(c.select(q(folder)), "SELECT")
    on = False
    flips = 0
    deadline = time.time() + 120
    while not os.path.exists(stop) and time.time() < deadline:
        on = not on
        ok(c.store(seq, "+FLAGS" if on else "-FLAGS", "(\\Flagged)"), "STORE")
        flips += 1
        if flips == 1:
            open(ready, "w").close()
        time.sleep(0.02)
    ok(c.store(seq, "+FLAGS", "(\\Flagged)"), "STORE")
    c.noop()
    print(flips)
elif cmd == "expunge":
    folder, uid = args
    ok(c.select(q(folder)), "SELECT")
    ok(c.uid("STORE", uid, "+FLAGS.SILENT", "(\\Deleted)"), "UID STORE")
    ok(c.expunge(), "EXPUNGE")
else:
    sys.exit("client.py: unknown command " + cmd)
c.logout()
PY

client()
{
	"$PYTHON3" "$TEST_TMP/client.py" "$@"
}

# The server being tested --------------------------------------------------------
#
# SRV names it (and the account); srv_deliver USER PASSWORD FOLDER FILE...
# puts mail into a folder; srv_protocol_log USER prints what the server
# logged of the sessions, or nothing when SRV_NO_LOG says why it cannot.

SRV=
SRV_NO_LOG=

srv_deliver()
{
	case $SRV in
	courier) courier_deliver "$1" "$3" "${@:4}" ;;
	*) client "$SRV_HOST" "$SRV_PORT" "$1" "$2" append "$3" "${@:4}" ;;
	esac
}

srv_protocol_log()
{
	case $SRV in
	cyrus) cyrus_protocol_log "$1" ;;
	courier) courier_protocol_log "$1" ;;
	esac
}

srv_protocol_log_clear()
{
	case $SRV in
	cyrus) rm -f "$CYRUS_DIR/conf/log/$1"/* ;;
	courier) courier_protocol_log_clear "$1" ;;
	esac
}

# Reads a protocol log on stdin. log_has_commands: it holds commands of
# the client; log_list_return: a LIST command had RETURN options. Cyrus
# logs the client's lines as sent ("<time<A003 LIST ..."), Courier one
# token a line ("READ: ATOM: LIST").
# shellcheck disable=SC2317 # run through ok
log_has_commands()
{
	case $SRV in
	courier) grep -qE '^READ: ATOM: [A-Z]+$' ;;
	*) grep -qE '^<[0-9]+<[^ ]+ [A-Z]+' ;;
	esac
}

# shellcheck disable=SC2317 # run through nok
log_list_return()
{
	case $SRV in
	courier)
		awk '/^READ: ATOM: LIST$/ { n = 5; next }
		    n > 0 && /^READ: ATOM: RETURN$/ { found = 1 }
		    /^READ: EOL$/ { n = 0 }
		    n > 0 { n-- }
		    END { exit !found }'
		;;
	*) grep -qiE 'LIST .*RETURN \(' ;;
	esac
}

# srv_config FILE HOST PORT USER PASSWORD [LINE...]: daemon settings and
# the account $SRV for this server.
srv_config()
{
	local file=$1 host=$2 port=$3 user=$4 password=$5
	shift 5
	{
		config_daemon
		config_imap "$SRV" "$user" "$password" "host = $host" \
		    "port = $port" "addresses = $ADDRESS" "$@"
	} >"$file"
}

# One value for this server's account.
acct_sql()
{
	sql "SELECT $1 FROM conversation_messages m
	    JOIN mail_accounts a ON a.id = m.account_id
	    WHERE a.name = '$SRV' ${2:+AND $2}"
}

# Writes COUNT messages into $TEST_TMP/mail-$SRV-KIND/, KIND "in" (from
# clients to us) or "out" (ours, to clients); Message-IDs
# <SRV-KIND-K@...>, K counting on from FIRST.
make_mail()
{
	local kind=$1 first=$2 count=$3 k dir=$TEST_TMP/mail-$SRV-$1
	rm -rf "$dir"
	mkdir -p "$dir"
	for ((k = first; k < first + count; k++)); do
		if [ "$kind" = in ]; then
			mail_write "$dir/$(printf %04d "$k").eml" \
			    "Client $k <client$k@client.example>" "Sales <$ADDRESS>" \
			    "Question $k" "Mon, 06 Nov 2023 09:$(printf %02d $((k % 60))):00 +0000" \
			    "$SRV-in-$k@client.example"
		else
			mail_write "$dir/$(printf %04d "$k").eml" "Sales <$ADDRESS>" \
			    "Client $k <client$k@client.example>" "Offer $k" \
			    "Mon, 06 Nov 2023 10:$(printf %02d $((k % 60))):00 +0000" \
			    "$SRV-out-$k@example.com"
		fi
	done
	echo "$dir"
}

# The cases ----------------------------------------------------------------------

case_server_ready()
{
	local host=$1 port=$2 user=$3 password=$4 sent=$5 folders
	folders=$(client "$host" "$port" "$user" "$password" folders 2>&1)
	ok "$SRV: $user logs in and has an INBOX" \
	    grep -qE '[ "]INBOX"?$' <<<"$folders"
	grep -qE "[ \"]$sent\"?\$" <<<"$folders" || diag "LIST: $folders"
	ok "$SRV: and a $sent folder" grep -qE "[ \"]$sent\"?\$" <<<"$folders"
	if [ "$SRV" = courier ]; then
		skip "$SRV: Courier has no special use"
	else
		ok "$SRV: $sent is marked \\Sent" \
		    grep -qE "\\\\Sent.* \"?$sent\"?\$" <<<"$folders"
	fi
}

case_first_pass()
{
	local host=$1 port=$2 user=$3 password=$4 sent=$5 dir cfg
	dir=$(make_mail in 1 15)
	srv_deliver "$user" "$password" INBOX "$dir"/*.eml ||
	    fail "$SRV: deliver 15 messages to INBOX"
	dir=$(make_mail out 1 3)
	srv_deliver "$user" "$password" "$sent" "$dir"/*.eml ||
	    fail "$SRV: deliver 3 messages to $sent"
	is "$(client "$host" "$port" "$user" "$password" flags INBOX)" "15 0 -" \
	    "$SRV: 15 unread messages in INBOX before the pass"
	is "$(client "$host" "$port" "$user" "$password" flags "$sent")" "3 0 -" \
	    "$SRV: 3 unread messages in $sent before the pass"

	cfg=$TEST_TMP/$SRV.conf
	srv_config "$cfg" "$host" "$port" "$user" "$password"
	ok "$SRV: first pass, default settings (no sent_folder)" inboxd_once "$cfg"
	is "$(acct_sql "count(*)" "direction = 'inbound'")" 15 \
	    "$SRV: 15 inbound messages stored"
	is "$(acct_sql "count(*)" "direction = 'outbound'")" 3 \
	    "$SRV: 3 outbound messages stored"
	is "$(acct_sql "count(*)" "direction = 'outbound' AND mailbox = '$sent'
	    AND rfc_message_id LIKE '$SRV-out-%'")" 3 \
	    "$SRV: the outbound ones are the $sent folder's"
	is "$(client "$host" "$port" "$user" "$password" flags INBOX)" "15 0 -" \
	    "$SRV: INBOX still all unread after the pass"
	is "$(client "$host" "$port" "$user" "$password" flags "$sent")" "3 0 -" \
	    "$SRV: $sent still all unread after the pass"
}

case_flags_meanwhile()
{
	local host=$1 port=$2 user=$3 password=$4 sent=$5 dir pid flips flags
	local ready=$TEST_TMP/$SRV.flipper.ready stop=$TEST_TMP/$SRV.flipper.stop
	dir=$(make_mail in 16 2)
	srv_deliver "$user" "$password" INBOX "$dir"/*.eml ||
	    fail "$SRV: deliver 2 more messages"
	rm -f "$ready" "$stop"
	client "$host" "$port" "$user" "$password" flipper INBOX 4 "$ready" "$stop" \
	    >"$TEST_TMP/$SRV.flipper.out" 2>&1 &
	pid=$!
	_harness_pids="$_harness_pids $pid"
	wait_for 10 test -e "$ready" ||
	    diag "the flag flipper did not start: $(cat "$TEST_TMP/$SRV.flipper.out")"
	ok "$SRV: a pass while another client flips \\Flagged on message 4" \
	    inboxd_once "$TEST_TMP/$SRV.conf"
	: >"$stop"
	wait "$pid"
	flips=$(tail -n 1 "$TEST_TMP/$SRV.flipper.out")
	like "$flips" '^[0-9]+$' "$SRV: the other client changed flags ($flips times)"
	flags=$(client "$host" "$port" "$user" "$password" flags INBOX)
	is "${flags% *}" "17 0" "$SRV: INBOX: 17 messages, all still unread"
	is "${flags##* }" 4 "$SRV: message 4 left flagged by the other client"
	if [ "$SRV" = cyrus ]; then
		# Shown, not tested: the timing decides whether the pass's
		# session saw the change.
		if grep -l 'UID FETCH' "$CYRUS_DIR/conf/log/$user"/* 2>/dev/null |
		    xargs -r grep -L 'STORE' | xargs -r grep -q '\* 4 FETCH (FLAGS'; then
			note "$SRV: the pass's session received unsolicited FETCH FLAGS"
		else
			note "$SRV: the pass's session saw no unsolicited FETCH FLAGS"
		fi
	fi
}

case_no_duplicates()
{
	local host=$1 port=$2 user=$3 password=$4 sent=$5 dir uids mid before after
	local stored
	is "$(acct_sql "count(*)" "direction = 'inbound'")" 17 \
	    "$SRV: 17 inbound messages after the second pass"
	is "$(acct_sql "count(*) - count(DISTINCT rfc_message_id)")" 0 \
	    "$SRV: none stored twice"
	is "$(sql "SELECT count(*) FROM (SELECT l.mailbox, l.uid FROM message_locations l
	    JOIN mail_accounts a ON a.id = l.account_id WHERE a.name = '$SRV'
	    GROUP BY 1, 2 HAVING count(*) > 1) d")" 0 \
	    "$SRV: one location per UID"

	# Another client expunges a message in the middle of the UID range.
	uids=$(client "$host" "$port" "$user" "$password" uids INBOX)
	mid=$(echo "$uids" | awk '{ print $9 }')
	stored=$(acct_sql "string_agg(quote_literal(rfc_message_id), ',')")
	before=$(acct_sql "string_agg(rfc_message_id || ' ' || direction || ' ' ||
	    mailbox || ' ' || imap_uid || ' ' || conversation_id, ',' ORDER BY rfc_message_id)")
	client "$host" "$port" "$user" "$password" expunge INBOX "$mid" ||
	    fail "$SRV: expunge UID $mid"
	is "$(client "$host" "$port" "$user" "$password" flags INBOX | cut -d' ' -f1)" \
	    16 "$SRV: another client expunged UID $mid, 16 left"
	dir=$(make_mail in 18 1)
	srv_deliver "$user" "$password" INBOX "$dir"/*.eml ||
	    fail "$SRV: deliver one more message"
	ok "$SRV: third pass after the expunge" inboxd_once "$TEST_TMP/$SRV.conf"
	is "$(acct_sql "count(*)" "rfc_message_id = '$SRV-in-18@client.example'
	    AND direction = 'inbound' AND mailbox = 'INBOX'")" 1 \
	    "$SRV: the new message is stored, inbound, once"
	after=$(acct_sql "string_agg(rfc_message_id || ' ' || direction || ' ' ||
	    mailbox || ' ' || imap_uid || ' ' || conversation_id, ',' ORDER BY rfc_message_id)" \
	    "rfc_message_id IN (${stored:-NULL})")
	is "$after" "$before" \
	    "$SRV: the messages stored before keep direction, folder, UID and conversation"
	is "$(acct_sql "count(*)")" 21 "$SRV: 21 messages in all (18 inbound, 3 outbound)"
	is "$(client "$host" "$port" "$user" "$password" flags INBOX)" "17 0 4" \
	    "$SRV: INBOX still all unread after the third pass, 4 still flagged"
}

case_named_sent()
{
	local host=$1 port=$2 user=$3 password=$4 sent=$5 cfg log
	if [ -n "$SRV_NO_LOG" ]; then
		skip "$SRV: $SRV_NO_LOG" 2
		return 0
	fi
	cfg=$TEST_TMP/$SRV.named.conf
	srv_config "$cfg" "$host" "$port" "$user" "$password" "sent_folder = $sent"
	srv_protocol_log_clear "$user"
	ok "$SRV: a pass with sent_folder = $sent" inboxd_once "$cfg"
	log=$(srv_protocol_log "$user")
	ok "$SRV: the protocol log recorded the pass's commands" \
	    log_has_commands <<<"$log"
	nok "$SRV: no LIST RETURN (SPECIAL-USE) with sent_folder set" \
	    log_list_return <<<"$log"
}

case_sasl_plain()
{
	local host=$1 port=$2 user=$3 password=$4 sent=$5 cfg dir
	cfg=$TEST_TMP/$SRV.plain.conf
	srv_config "$cfg" "$host" "$port" "$user" "$password" \
	    "sasl_mechanism = PLAIN"
	dir=$(make_mail in 19 1)
	srv_deliver "$user" "$password" INBOX "$dir"/*.eml ||
	    fail "$SRV: deliver one more message"
	ok "$SRV: a pass with sasl_mechanism = PLAIN" inboxd_once "$cfg"
	is "$(acct_sql "count(*)" "rfc_message_id = '$SRV-in-19@client.example'")" 1 \
	    "$SRV: AUTHENTICATE PLAIN: the new message is stored"
}

run_cases()
{
	case_server_ready "$@"
	case_first_pass "$@"
	case_flags_meanwhile "$@"
	case_no_duplicates "$@"
	case_named_sent "$@"
	[ "$SRV" = cyrus ] && case_sasl_plain "$@"
	return 0
}

# started NAME SECONDS RC: the server is up, and in time.
started()
{
	if [ "$3" -ne 0 ]; then
		fail "$1 starts"
		return 1
	fi
	ok "$1 is up in $2 s (< 30 s)" test "$2" -lt 30
}

# The servers --------------------------------------------------------------------

for SRV in $SERVERS; do
	t0=$SECONDS
	rc=0
	case $SRV in
	dovecot)
		dovecot_start "$ADDRESS:secret" || rc=$?
		started Dovecot $((SECONDS - t0)) "$rc" || continue
		SRV_HOST=$IMAP_HOST SRV_PORT=$IMAP_PORT
		SRV_NO_LOG="the test Dovecot keeps no protocol log (no rawlog)"
		run_cases "$SRV_HOST" "$SRV_PORT" "$ADDRESS" secret Sent
		dovecot_stop
		;;
	cyrus)
		cyrus_start sales:secret || rc=$?
		started Cyrus $((SECONDS - t0)) "$rc" || continue
		SRV_HOST=127.0.0.1 SRV_PORT=$CYRUS_PORT SRV_NO_LOG=
		run_cases "$SRV_HOST" "$SRV_PORT" sales secret Sent
		cyrus_stop
		;;
	courier)
		if [ "$(id -u)" -ne 0 ]; then
			skip "Courier needs root (a mount namespace of its own)"
			continue
		fi
		courier_start sales:secret || rc=$?
		started Courier $((SECONDS - t0)) "$rc" || continue
		SRV_HOST=127.0.0.1 SRV_PORT=$COURIER_PORT
		SRV_NO_LOG=
		run_cases "$SRV_HOST" "$SRV_PORT" sales secret INBOX.Sent
		courier_stop
		;;
	*)
		bail_out "unknown server $SRV"
		;;
	esac
done

done_testing
