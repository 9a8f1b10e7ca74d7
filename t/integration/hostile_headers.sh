#!/bin/bash
# Mail that lies in its headers or is too big, stored right: a message
# cut at max_message_size keeps its real size_bytes; encoded words with
# CR/LF, NUL or UTF-16 land as a clean one-line subject.

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/t/lib/harness.sh"

start_servers
USER=sales@example.com
PASS=secret
CFG=$TEST_TMP/inboxd.conf
{
	config_daemon "max_message_size = 64K"
	config_imap sales "$USER" "$PASS"
} >"$CFG"

msg()
{
	sql "SELECT $2 FROM conversation_messages WHERE rfc_message_id = '$1'"
}

# About 200 KB of body, four times the limit.
mail_write "$TEST_TMP/big.eml" "Big <big@client.example>" "$USER" \
    "A big one" "Mon, 06 Nov 2023 09:00:00 +0000" big-1@client.example -- \
    $(for i in $(seq 1 8000); do echo "line-$i-of-the-body......"; done)
# APPEND sends CRLF line ends: the server's size counts them.
BIG_SIZE=$(($(wc -c <"$TEST_TMP/big.eml") + $(wc -l <"$TEST_TMP/big.eml")))

mail_write "$TEST_TMP/words.eml" \
    "=?utf-8?q?Eve=0D=0ABcc=3A_x?= <eve@client.example>" "$USER" \
    "=?utf-8?q?one=0D=0Atwo=00three?= and =?utf-16?b?AGEAYgBj?=" \
    "Mon, 06 Nov 2023 10:00:00 +0000" words-1@client.example

mail_append "$USER" "$PASS" INBOX "$TEST_TMP/big.eml" "$TEST_TMP/words.eml"
ok "inboxd --once exits 0" inboxd_once "$CFG"

is "$(msg big-1@client.example truncated)" t "big: stored truncated"
is "$(msg big-1@client.example size_bytes)" "$BIG_SIZE" \
    "big: size_bytes is the whole message's size"
ok "big: content cut below the limit" \
    test "$(msg big-1@client.example "length(content)")" -lt 65536

is "$(msg words-1@client.example subject)" "one twothree and abc" \
    "encoded CR/LF, NUL and UTF-16 in the subject: one clean line"
is "$(msg words-1@client.example sender_email)" eve@client.example \
    "encoded CR/LF in the sender's name: the address kept"
is "$(msg words-1@client.example size_bytes)" \
    "$(($(wc -c <"$TEST_TMP/words.eml") + $(wc -l <"$TEST_TMP/words.eml")))" \
    "a message not cut: size_bytes is its size"

done_testing
