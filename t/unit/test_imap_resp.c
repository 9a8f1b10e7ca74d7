/*
 * IMAP response parsers: EXAMINE status, UID FETCH metadata, SEARCH,
 * LIST (the Sent folder), CAPABILITY, INTERNALDATE and quoting. Well
 * formed answers, then truncated lines, bad and oversized numbers,
 * trailing junk, empty answers, literals and unsolicited responses.
 *
 * Every input is copied into a heap block of exactly its length, with
 * no terminating NUL, so that a parser reading past len shows up under
 * the sanitizers and valgrind.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_resp.h"
#include "tap.h"
#include "util.h"

/* A copy of s without its NUL: reading past the end is an error. */
static char *
exact_copy(const char *s, size_t len)
{
	char *p = xmalloc(len > 0 ? len : 1);

	memcpy(p, s, len);
	return p;
}

/* Parses text as an EXAMINE answer; returns the parser's result. */
static int
status_of(const char *text, struct imap_status *st)
{
	size_t len = strlen(text);
	char *p = exact_copy(text, len);
	int rc = imap_parse_status(p, len, st);

	free(p);
	return rc;
}

/* The UIDs of a SEARCH answer as "n n n" ("" for none), malloc'd. */
static char *
search_of_len(const char *text, size_t len)
{
	char *p = exact_copy(text, len);
	uint32_t *uids = NULL;
	size_t n = 0;
	int rc = imap_parse_search(p, len, &uids, &n);
	struct buf b;

	buf_init(&b);
	if (rc == -1)
		buf_appends(&b, "(refused)");
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s%u", i ? " " : "", uids[i]);
	if ((n == 0) != (uids == NULL))
		buf_appends(&b, " (array and count disagree)");
	free(uids);
	free(p);
	return buf_steal(&b);
}

static void
check_search(const char *text, const char *want, const char *what)
{
	char *got = search_of_len(text, strlen(text));

	is_str(got, want, "search: %s", what);
	free(got);
}

/* The entries of a FETCH answer as "uid/size/date/seen ...", malloc'd. */
static char *
fetch_of_len(const char *text, size_t len)
{
	char *p = exact_copy(text, len);
	struct imap_msginfo *mi = NULL;
	size_t n = imap_parse_fetch(p, len, &mi);
	struct buf b;

	buf_init(&b);
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s%u/%u/%lld/%s", i ? " " : "", mi[i].uid,
		    mi[i].size, (long long)mi[i].internal_date,
		    mi[i].seen ? "seen" : "new");
	if ((n == 0) != (mi == NULL))
		buf_appends(&b, " (array and count disagree)");
	free(mi);
	free(p);
	return buf_steal(&b);
}

static void
check_fetch(const char *text, const char *want, const char *what)
{
	char *got = fetch_of_len(text, strlen(text));

	is_str(got, want, "fetch: %s", what);
	free(got);
}

static void
check_sent(const char *text, const char *want, const char *what)
{
	size_t len = strlen(text);
	char *p = exact_copy(text, len);
	char *got = imap_parse_list_sent(p, len);

	is_str(got, want, "list: %s", what);
	free(got);
	free(p);
}

/* check_sent for text with NUL bytes: len bytes of text. */
static void
check_sent_len(const char *text, size_t len, const char *want, const char *what)
{
	char *p = exact_copy(text, len);
	char *got = imap_parse_list_sent(p, len);

	is_str(got, want, "list: %s", what);
	free(got);
	free(p);
}

static void
check_cap(const char *text, const char *cap, bool want, const char *what)
{
	size_t len = strlen(text);
	char *p = exact_copy(text, len);

	ok(imap_has_capability(p, len, cap) == want, "capability: %s", what);
	free(p);
}

static void
check_date(const char *s, long long want, const char *what)
{
	is_int(imap_parse_date(s), want, "date: %s", what);
}

static void
check_quote(const char *name, const char *want, const char *what)
{
	char *got = imap_quote(name);

	is_str(got, want, "quote: %s", what);
	free(got);
}

static void
test_status(void)
{
	struct imap_status st;

	is_int(status_of("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen)\r\n"
			 "* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n"
			 "* 172 EXISTS\r\n"
			 "* 1 RECENT\r\n"
			 "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"
			 "* OK [UIDNEXT 4392] Predicted next UID\r\n"
			 "* OK [HIGHESTMODSEQ 715194045007] Highest\r\n"
			 "a1 OK [READ-ONLY] EXAMINE completed\r\n",
		   &st),
	    0, "status: a full EXAMINE answer is accepted");
	is_int(st.uidvalidity, 3857529045u, "status: UIDVALIDITY");
	is_int(st.uidnext, 4392, "status: UIDNEXT");
	is_int(st.exists, 172, "status: EXISTS");
	ok(st.exists_seen && !st.garbled,
	    "status: a full answer is understood");
	is_int(st.highestmodseq, 715194045007LL, "status: HIGHESTMODSEQ");

	is_int(status_of("* 3 EXISTS\n* OK [UIDVALIDITY 7]\n", &st), 0,
	    "status: bare LF line ends");
	is_int(st.exists, 3, "status: EXISTS with LF");
	is_int(st.highestmodseq, 0, "status: no HIGHESTMODSEQ offered: 0");
	is_int(status_of("* ok [uidvalidity 9] x\r\n* 0 exists\r\n", &st), 0,
	    "status: keywords in lower case");
	is_int(st.uidvalidity, 9, "status: lower-case UIDVALIDITY");

	is_int(status_of("", &st), -1, "status: empty answer is refused");
	is_int(status_of("* 5 EXISTS\r\n* OK [UIDNEXT 6]\r\n", &st), -1,
	    "status: no UIDVALIDITY is refused");
	is_int(st.exists, 5, "status: EXISTS kept without UIDVALIDITY");
	is_int(status_of("* OK [UIDVALIDITY 0]\r\n", &st), -1,
	    "status: UIDVALIDITY 0 is no UIDVALIDITY");
	is_int(status_of("* OK [UIDVALIDITY 4294967296]\r\n", &st), -1,
	    "status: UIDVALIDITY above 2^32-1 is refused");
	is_int(status_of("* OK [UIDVALIDITY 4294967295]\r\n", &st), 0,
	    "status: UIDVALIDITY of 2^32-1 is accepted");
	is_int(st.uidvalidity, 4294967295u, "status: 2^32-1 read exactly");
	is_int(status_of("* OK [UIDVALIDITY -1]\r\n", &st), -1,
	    "status: negative UIDVALIDITY is refused");
	is_int(status_of("* OK [UIDVALIDITY ]\r\n", &st), -1,
	    "status: UIDVALIDITY without a number is refused");
	is_int(status_of("* OK [UIDVALIDITY", &st), -1,
	    "status: line truncated before the number");
	is_int(status_of("* OK [UIDVALIDITY 18446744073709551617]\r\n", &st),
	    -1, "status: a number beyond 64 bits does not wrap around");
	is_int(status_of("a1 OK [UIDVALIDITY 5] tagged\r\n", &st), -1,
	    "status: a tagged line is not an untagged response");

	status_of("* OK [UIDVALIDITY 1]\r\n* 4294967296 EXISTS\r\n", &st);
	is_int(st.exists, 0, "status: EXISTS above 2^32-1 is ignored");
	ok(st.garbled && !st.exists_seen,
	    "status: EXISTS above 2^32-1 garbles the answer");
	status_of("* OK [UIDVALIDITY 1]\r\n* -5 EXISTS\r\n", &st);
	is_int(st.exists, 0, "status: negative EXISTS is ignored");
	ok(st.garbled, "status: negative EXISTS garbles the answer");
	status_of("* OK [UIDVALIDITY 1]\r\n* EXISTS\r\n", &st);
	is_int(st.exists, 0, "status: EXISTS without a number is ignored");
	ok(st.garbled, "status: EXISTS without a number garbles the answer");
	status_of("* OK [UIDVALIDITY 1]\r\n* 8 EXISTS and more\r\n", &st);
	is_int(st.exists, 0, "status: EXISTS followed by words is ignored");
	ok(st.garbled, "status: EXISTS followed by words garbles the answer");
	status_of("* OK [UIDVALIDITY 1]\r\n* 8 EXISTS \r\n", &st);
	is_int(st.exists, 0,
	    "status: EXISTS with a trailing space is not read (strict)");
	ok(st.garbled && !st.exists_seen,
	    "status: EXISTS with a trailing space garbles the answer");
	status_of(
	    "* OK [UIDVALIDITY 1]\r\n* OK [UIDNEXT 99999999999]\r\n", &st);
	is_int(st.uidnext, 0, "status: UIDNEXT above 2^32-1 is ignored");
	ok(st.garbled, "status: UIDNEXT above 2^32-1 garbles the answer");
	status_of("* OK [UIDVALIDITY 1]\r\n"
		  "* OK [HIGHESTMODSEQ 18446744073709551615]\r\n",
	    &st);
	ok(st.highestmodseq == UINT64_MAX, "status: HIGHESTMODSEQ of 2^64-1");
	status_of("* OK [UIDVALIDITY 1]\r\n"
		  "* OK [HIGHESTMODSEQ 18446744073709551616]\r\n",
	    &st);
	is_int(st.highestmodseq, 0,
	    "status: HIGHESTMODSEQ beyond 64 bits is ignored, not wrapped");

	/* Unsolicited responses may come between the lines of interest. */
	is_int(status_of("* 2 EXPUNGE\r\n* 3 FETCH (FLAGS (\\Seen))\r\n"
			 "* OK [ALERT] disk nearly full\r\n"
			 "* OK [UIDVALIDITY 42]\r\n* 10 EXISTS\r\n",
		   &st),
	    0, "status: unsolicited responses around it");
	is_int(st.uidvalidity, 42, "status: UIDVALIDITY among them");
	is_int(st.exists, 10, "status: EXISTS among them");
	ok(st.exists_seen && !st.garbled,
	    "status: unsolicited responses do not garble the answer");
	status_of("* OK [UIDVALIDITY 1]\r\n", &st);
	ok(!st.exists_seen, "status: an answer without EXISTS says so");
}

static void
test_status_bounds(void)
{
	static const char text[] = "* OK [UIDVALIDITY 123456]\r\n";
	struct imap_status st;
	char *p = exact_copy(text, sizeof(text) - 1);

	/* The number is cut by len: only the bytes inside count. */
	is_int(imap_parse_status(p, 21, &st), 0, "status: cut at len");
	is_int(st.uidvalidity, 123, "status: only digits before len read");
	is_int(imap_parse_status(p, 0, &st), -1, "status: len 0");
	free(p);
}

static void
test_fetch(void)
{
	check_fetch("* 1 FETCH (UID 101 RFC822.SIZE 2048 FLAGS (\\Seen) "
		    "INTERNALDATE \"22-Nov-2026 13:25:44 +0000\")\r\n"
		    "* 2 FETCH (UID 102 RFC822.SIZE 10 FLAGS () "
		    "INTERNALDATE \"22-Nov-2026 14:25:44 +0100\")\r\n"
		    "a5 OK FETCH completed\r\n",
	    "101/2048/1795353944/seen 102/10/1795353944/new",
	    "two messages, every field");
	check_fetch("* 7 FETCH (FLAGS (\\Answered \\seen) UID 9)\r\n",
	    "9/0/0/seen", "fields in another order, \\seen in lower case");
	check_fetch("* 7 FETCH (UID 9 FLAGS (\\Seen)\r\n", "9/0/0/seen",
	    "missing closing parenthesis of the response");
	check_fetch("* 7 FETCH (UID 9 FLAGS (\\Seen", "9/0/0/new",
	    "FLAGS list cut before its end: not seen");
	check_fetch("* 7 FETCH (UID 9 FLAGS (\\Flagged) X (\\Seen))\r\n",
	    "9/0/0/new", "\\Seen outside the FLAGS list does not count");
	check_fetch("", "", "empty answer");
	check_fetch("a5 OK FETCH completed\r\n", "", "tagged line only");
	check_fetch("* 1 FETCH (FLAGS (\\Seen))\r\n", "",
	    "unsolicited FETCH without UID is skipped");
	check_fetch("* 1 FETCH (UID 0)\r\n", "", "UID 0 is skipped");
	check_fetch("* 1 FETCH (UID -4)\r\n", "", "negative UID is skipped");
	check_fetch("* 1 FETCH (UID )\r\n", "", "UID without number");
	check_fetch("* 1 FETCH (UID", "", "cut after UID");
	check_fetch("* 1 FETCH (UID 4294967296)\r\n", "",
	    "UID above 2^32-1 is skipped");
	check_fetch("* 1 FETCH (UID 4294967295)\r\n", "4294967295/0/0/new",
	    "UID of 2^32-1 is kept");
	check_fetch("* 1 FETCH (UID 18446744073709551617)\r\n", "",
	    "UID beyond 64 bits is skipped, not wrapped to 1");
	check_fetch("* 1 FETCH (UID 99999999999999999999999)\r\n", "",
	    "UID of 23 digits is skipped");
	check_fetch("* 1 FETCH (UID 5 RFC822.SIZE 4294967296)\r\n", "5/0/0/new",
	    "size above 2^32-1 is left 0");
	check_fetch("* 1 FETCH (UID 5 RFC822.SIZE x)\r\n", "5/0/0/new",
	    "size that is no number is left 0");
	check_fetch("* 1 FETCH (UID 5 INTERNALDATE \"bogus\")\r\n", "5/0/0/new",
	    "bad INTERNALDATE is left 0");
	check_fetch("* 1 FETCH (UID 5 INTERNALDATE \"22-Nov-2026 13:25",
	    "5/0/0/new", "INTERNALDATE without closing quote is left 0");
	check_fetch("* 1 FETCH (UID 5 INTERNALDATE \"01-Jan-1970 00:00:00 "
		    "+0100\")\r\n",
	    "5/0/0/new", "INTERNALDATE before the epoch is left 0");
	check_fetch("* 1 EXPUNGE\r\n* 3 EXISTS\r\n"
		    "* 2 FETCH (UID 8 FLAGS ())\r\n* 1 RECENT\r\n",
	    "8/0/0/new", "unsolicited EXPUNGE, EXISTS, RECENT are skipped");
	check_fetch("* SEARCH 1 2\r\n* 1 FETCHED (UID 3)\r\n", "",
	    "lines that are not FETCH responses are skipped");
}

static void
test_search(void)
{
	check_search("* SEARCH 2 84 882\r\na3 OK SEARCH completed\r\n",
	    "2 84 882", "three UIDs");
	check_search("* SEARCH\r\na3 OK SEARCH completed\r\n", "",
	    "empty SEARCH answer");
	check_search("* SEARCH \r\n", "", "empty SEARCH with a space");
	check_search("", "(refused)", "empty text: no SEARCH line is refused");
	check_search("a3 OK SEARCH completed\r\n", "(refused)",
	    "tagged line only is refused");
	check_search("* search 5 6\r\n", "5 6", "lower-case SEARCH");
	check_search(
	    "* SEARCH 1\r\n* SEARCH 2 3\r\n", "1 2 3", "two SEARCH lines");
	check_search("* SEARCH 1  2\r\n", "1 2", "two spaces between UIDs");
	check_search("* SEARCH 4\n", "4", "bare LF");
	check_search("* SEARCH 7", "7", "no line end");
	check_search(
	    "* SEARCH 0 3\r\n", "(refused)", "UID 0 refuses the answer");
	check_search(
	    "* SEARCH 4294967295\r\n", "4294967295", "UID of 2^32-1 is kept");
	check_search("* SEARCH 4294967296 5\r\n", "(refused)",
	    "UID above 2^32-1 refuses the answer");
	check_search("* SEARCH 18446744073709551617\r\n", "(refused)",
	    "UID beyond 64 bits refuses the answer, not wrapped to 1");
	check_search("* SEARCH 184467440737095516170 6\r\n", "(refused)",
	    "UID of 21 digits refuses the answer");
	check_search("* 3 EXISTS\r\n* SEARCH 9\r\n* 1 EXPUNGE\r\n", "9",
	    "unsolicited responses around SEARCH");
	check_search("* SEARCH 2 5 (MODSEQ 917162500)\r\n", "2 5",
	    "CONDSTORE MODSEQ is not a UID");
	check_search("* ESEARCH (TAG \"a1\") UID ALL 1:3\r\n", "(refused)",
	    "ESEARCH is not SEARCH");
	check_search(
	    "* SEARCHING 5\r\n", "(refused)", "SEARCHING is not SEARCH");

	/* Garbage: an answer read in part never passes for the whole. */
	check_search("* SEARCH 1 2 -3\r\n", "(refused)",
	    "a negative number refuses the answer (strict)");
	check_search("* SEARCH 1 2 -3 4 5\r\n", "(refused)",
	    "a negative number amid the list refuses the answer");
	check_search("* SEARCH 1 2x 3\r\n", "(refused)",
	    "a number with letters refuses the answer");
	check_search("* SEARCH 1\r\n* SEARCH 2 -3\r\n", "(refused)",
	    "a garbled second SEARCH line refuses the whole answer");
	check_search("* SEARCH\r\n", "", "a bare SEARCH line: no UIDs");
	check_search("* SEARCH x\r\n", "(refused)", "no number at all");
}

/* What render makes of the first len bytes of text. */
static void
check_len(char *(*render)(const char *, size_t), const char *text, size_t len,
    const char *want, const char *what)
{
	char *got = render(text, len);

	is_str(got, want, "%s", what);
	free(got);
}

static void
test_bounds(void)
{
	static const char fetch[] = "* 1 FETCH (UID 12345 RFC822.SIZE 99)\r\n";
	static const char search[] = "* SEARCH 12345 6";

	check_len(
	    fetch_of_len, fetch, 17, "12/0/0/new", "fetch: UID cut at len");
	check_len(fetch_of_len, fetch, 0, "", "fetch: len 0");
	check_len(search_of_len, search, 11, "12", "search: UID cut at len");
	check_len(search_of_len, search, 7, "(refused)",
	    "search: keyword cut at len");
}

/* More entries than the parsers' first allocations hold. */
static void
test_many(void)
{
	struct buf in, want;

	buf_init(&in);
	buf_init(&want);
	for (unsigned i = 1; i <= 1000; i++) {
		buf_printf(
		    &in, "* %u FETCH (UID %u RFC822.SIZE %u)\r\n", i, i * 2, i);
		buf_printf(&want, "%s%u/%u/0/new", i > 1 ? " " : "", i * 2, i);
	}
	check_len(fetch_of_len, in.data, in.len, want.data,
	    "fetch: 1000 entries, in order, with their sizes");
	buf_reset(&in);
	buf_reset(&want);
	buf_appends(&in, "* SEARCH");
	for (unsigned i = 1; i <= 5000; i++) {
		buf_printf(&in, " %u", i);
		buf_printf(&want, "%s%u", i > 1 ? " " : "", i);
	}
	buf_appends(&in, "\r\n");
	check_len(search_of_len, in.data, in.len, want.data,
	    "search: 5000 UIDs, in order");
	buf_free(&in);
	buf_free(&want);
}

static void
test_list(void)
{
	check_sent("* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
		   "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\r\n"
		   "a2 OK LIST completed\r\n",
	    "Sent Items", "SPECIAL-USE \\Sent, quoted name");
	check_sent("* LIST (\\Sent) \".\" Gesendet\r\n", "Gesendet",
	    "\\Sent with an atom name");
	check_sent("* LIST (\\HasNoChildren) \"/\" Sent\r\n"
		   "* LIST (\\Sent) \"/\" \"Outbox Copies\"\r\n",
	    "Outbox Copies", "\\Sent wins over a conventional name before it");
	check_sent("* LIST (\\HasNoChildren) \"/\" \"Sent Messages\"\r\n",
	    "Sent Messages", "conventional name without SPECIAL-USE");
	check_sent("* LIST () \"/\" \"[Gmail]/Sent Mail\"\r\n",
	    "[Gmail]/Sent Mail", "Gmail's name");
	check_sent("* LIST () \".\" inbox.sent\r\n", "inbox.sent",
	    "conventional names in any case");
	check_sent("* LIST (\\Sent) \"/\" \"My \\\"Sent\\\" \\\\ box\"\r\n",
	    "My \"Sent\" \\ box", "escaped quote and backslash");
	check_sent(
	    "* LIST (\\HasNoChildren) \"/\" INBOX\r\n", NULL, "no sent folder");
	check_sent("", NULL, "empty answer");
	check_sent("* LIST (\\Sent \"/\" Sent", NULL,
	    "attributes without closing parenthesis: the line is skipped");
	check_sent("* LIST (\\Sent) \"/\" \"Sent", NULL,
	    "quoted name cut before its closing quote");
	check_sent("* LIST (\\Sent) \"/\" \"\"\r\n", NULL, "empty quoted name");
	check_sent("* LIST (\\Sent) \"/\" ", NULL, "name missing");
	check_sent("* LIST (\\Sent) \"/\"", NULL,
	    "name missing: the delimiter is no name");
	check_sent("* LIST (\\Sent) NIL Sent\r\n", "Sent", "NIL delimiter");
	check_sent("* LIST (\\Sent) \"/\" Sent Items\r\n", NULL,
	    "unquoted name with a space");
	check_sent("* LIST (\\Sent)", NULL, "cut after the attributes");
	check_sent("* LSUB (\\Sent) \"/\" Sent\r\n", NULL, "LSUB is not LIST");
	check_sent("* LIST (\\Sentinel) \"/\" Archive\r\n", "Archive",
	    "\\Sentinel is taken for \\Sent (lenient)");
	check_sent("* STATUS Sent (MESSAGES 3)\r\n"
		   "* LIST (\\Sent) \"/\" Sent\r\n",
	    "Sent", "unsolicited STATUS before LIST");
	/* Found by fuzz_imap_resp: a line that ends in CR CR LF keeps a CR
	 * at its end, which went into the name. */
	check_sent("* LIST (\\Sent) \"/\" Sent\r\r\n", NULL,
	    "atom name with a CR is no name");
	check_sent("* LIST (\\Sent) \"/\" \"Se\rnt\"\r\n", NULL,
	    "quoted name with a CR is no name");
	check_sent("* LIST (\\Sent) \"/\" \"Se\\\rnt\"\r\n", NULL,
	    "quoted name with an escaped CR is no name");
	check_sent("* LIST (\\Sent) \"/\" Se\x7fnt\r\n", NULL,
	    "atom name with DEL is no name");
	/* A bare CR, a NUL or 8-bit bytes garble the line they are in: it
	 * is skipped, and the lines after it are still read. */
	check_sent("* LIST (\\Sent) \"/\" \"\"\r\n"
		   "* LIST (\\Sent) \"/\" Sent\r\n",
	    "Sent", "an empty name is skipped, the next \\Sent line is read");
	check_sent("* LIST () \"/\" \"\"\r\n* LIST () \"/\" Sent\r\n", "Sent",
	    "an empty name without \\Sent is skipped");
	check_sent("* LIST (\\Sent) \"/\" Sent\r* LIST () \"/\" Junk\r\n", NULL,
	    "a bare CR joins two lines into one garbled line");
	check_sent("* LIST (\\Sent) \"/\" \"Sent\r* LIST () \"/\" Junk\"\r\n"
		   "* LIST (\\Sent) \"/\" \"Sent Items\"\r\n",
	    "Sent Items", "a bare CR inside quotes: the next line is read");
	check_sent("* LIST (\\Sent\r) \"/\" Sent\r\n", NULL,
	    "a bare CR among the attributes");
	check_sent("* LIST (\\Sent) \"\r\" Sent\r\n", NULL,
	    "a bare CR as the delimiter");
	check_sent("* LIST (\\Sent) \"/\" \"Gel\xc3\xb6scht\"\r\n", NULL,
	    "a quoted name in raw UTF-8 is no name");
	check_sent("* LIST (\\Sent) \"/\" Envoy\xe9s\r\n", NULL,
	    "an atom name in Latin-1 is no name");
	check_sent("* LIST () \"/\" \"Envoy\xc3\xa9s\"\r\n"
		   "* LIST () \"/\" \"Sent\xff\"\r\n"
		   "* LIST (\\HasNoChildren) \"/\" \"Sent Items\"\r\n",
	    "Sent Items", "8-bit lines are skipped, the next one is read");
	check_sent("* LIST (\\Sent) \"/\" \"\xc3\xa9\"\r\n"
		   "* LIST (\\Sent) \"/\" Outbox\r\n",
	    "Outbox", "a \\Sent name in UTF-8 does not hide the next \\Sent");
	check_sent("* LIST (\\Sent) \"/\" \"Se\\\xe9nt\"\r\n", NULL,
	    "an escaped 8-bit byte is no name");
	check_sent("* LIST (\\Sent) \"/\" Se\tnt\r\n", NULL,
	    "a tab in an atom name is no name");
	{
		static const char nul[] = "* LIST (\\Sent) \"/\" \"Se\0nt\"\r\n"
					  "* LIST (\\Sent) \"/\" Se\0nt\r\n"
					  "* LIST () \"/\" Sent\r\n";

		check_sent_len(nul, sizeof(nul) - 1, "Sent",
		    "a NUL in a name: the line is skipped, not the name cut");
	}
	/* A name sent as a literal is on the next line: "{4}" is no name. */
	check_sent("* LIST (\\Sent) \"/\" {4}\r\nSent\r\n"
		   "* LIST () \"/\" \"Sent Items\"\r\n",
	    "Sent Items", "literal name: not taken as \"{4}\"");

	/* Servers without LIST-EXTENDED: XLIST, or names in use. */
	check_sent(
	    "* XLIST (\\HasNoChildren \\Sent) \"/\" \"[Gmail]/Sent\"\r\n",
	    "[Gmail]/Sent", "XLIST marks \\Sent");
	check_sent("* LIST (\\HasNoChildren) \".\" \"INBOX.Sent\"\r\n"
		   "* LIST (\\HasNoChildren) \".\" \"INBOX\"\r\n",
	    "INBOX.Sent", "Courier's INBOX.Sent");
	check_sent("* LIST () \".\" \"INBOX.Gesendete Objekte\"\r\n",
	    "INBOX.Gesendete Objekte", "a German name below INBOX");
	check_sent("* LIST () \"/\" \"Envoy&AOk-s\"\r\n", "Envoy&AOk-s",
	    "a French name in modified UTF-7");
	check_sent("* LIST () \"/\" \"INBOX.\"\r\n* LIST () \"/\" INBOX\r\n",
	    NULL, "INBOX. alone is no Sent folder");
	check_sent("* LIST () \"/\" \"Sent Stuff\"\r\n", NULL,
	    "a name that only starts like one is not taken");
}

static void
test_capability(void)
{
	static const char caps[] =
	    "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID IDLE "
	    "AUTH=PLAIN AUTH=XOAUTH2 UIDPLUS\r\na0 OK done\r\n";
	static const char banner[] =
	    "* OK [CAPABILITY IMAP4rev1 IDLE STARTTLS] Dovecot ready.\r\n";

	check_cap(caps, "IDLE", true, "IDLE in a CAPABILITY line");
	check_cap(caps, "idle", true, "names are case-insensitive");
	check_cap(caps, "IMAP4rev1", true, "first name");
	check_cap(caps, "UIDPLUS", true, "last name before CRLF");
	check_cap(caps, "AUTH=XOAUTH2", true, "AUTH= name");
	check_cap(caps, "AUTH=XOAUTH", false, "prefix of a name");
	check_cap(caps, "XOAUTH2", false, "suffix of a name");
	check_cap(caps, "CONDSTORE", false, "absent name");
	check_cap(caps, "ID", true, "short name that is also a prefix");
	check_cap(banner, "STARTTLS", true, "in a response code, before ]");
	check_cap(banner, "IDLE", true, "in a response code");
	check_cap("", "IDLE", false, "empty answer");
	check_cap("IDLE", "IDLE", true, "the whole text");
	check_cap("* CAPABILITY IDL", "IDLE", false, "cut before the end");
}

static void
test_capability_bounds(void)
{
	static const char text[] = "* CAPABILITY IDLE";
	char *p = exact_copy(text, sizeof(text) - 1);

	ok(!imap_has_capability(p, 15, "IDLE"), "capability: cut at len");
	ok(imap_has_capability(p, 17, "IDLE"), "capability: up to len");
	free(p);
}

static void
test_date(void)
{
	check_date("22-Nov-2026 13:25:44 +0000", 1795353944LL, "UTC");
	check_date("22-Nov-2026 14:25:44 +0100", 1795353944LL, "east of UTC");
	check_date("22-Nov-2026 08:25:44 -0500", 1795353944LL, "west of UTC");
	check_date(" 1-Jan-1970 00:00:00 +0000", 0, "day with a leading space");
	check_date("01-jan-1970 00:00:00 +0000", 0, "month in lower case");
	check_date("31-Dec-1999 23:00:00 +0000", 946681200LL, "end of 1999");
	check_date("29-Feb-2024 24:00:00 +0000", -1, "hour 24");
	check_date("01-Mar-2024 00:00:00 +0000", 1709251200LL, "leap year");
	check_date("", -1, "empty");
	check_date("22-Nov-2026", -1, "date only");
	check_date("22-Nov-2026 13:25:44", -1, "no zone");
	check_date("22-Xyz-2026 13:25:44 +0000", -1, "unknown month");
	check_date("32-Nov-2026 13:25:44 +0000", -1, "day 32");
	check_date("00-Nov-2026 13:25:44 +0000", -1, "day 0");
	check_date("22-Nov-2026 13:60:44 +0000", -1, "minute 60");
	check_date("22-Nov-2026 13:25:61 +0000", -1, "second 61");
	check_date("22-Nov-2026 13:25:44 *0000", -1, "no zone sign");
	check_date("22-Nov-2026 -1:25:44 +0000", -1, "negative hour");
	check_date("22-Nov-2026 13:-5:44 +0000", -1, "negative minute");
	check_date("22-Nov-2026 13:25:-4 +0000", -1, "negative second");
	check_date("22-Nov-2026 13:25:44 +0060", -1, "zone minute 60");
	check_date("22-Nov-2026 13:25:44 +-500", -1, "zone with two signs");
	check_date(
	    "29-Feb-2024 13:25:44 +0000", 1709213144LL, "29 February 2024");
	check_date(
	    "29-Feb-2000 00:00:00 +0000", 951782400LL, "29 February 2000");
	check_date("31-Feb-2024 13:25:44 +0000", -1, "31 February");
	check_date("30-Feb-2024 13:25:44 +0000", -1, "30 February");
	check_date("29-Feb-2023 13:25:44 +0000", -1, "29 February 2023");
	check_date("29-Feb-2100 13:25:44 +0000", -1, "29 February 2100");
	check_date("31-Apr-2026 13:25:44 +0000", -1, "31 April");
	check_date("31-Jun-2026 13:25:44 +0000", -1, "31 June");
	check_date("31-Sep-2026 13:25:44 +0000", -1, "31 September");
	check_date("31-Nov-2026 13:25:44 +0000", -1, "31 November");
	check_date("31-Dec-2026 13:25:44 +0000", 1798723544LL, "31 December");
	check_date("22-Nov-2026 13:25:44 +9999", -1, "zone +9999");
	check_date("22-Nov-2026 13:25:44 -9959", -1, "zone -9959");
	check_date("22-Nov-2026 13:25:44 +2400", -1, "zone of a day");
	check_date("22-Nov-2026 13:25:44 +2359", 1795267604LL, "zone +2359");
}

static void
test_quote(void)
{
	check_quote("Sent Items", "\"Sent Items\"", "space");
	check_quote("", "\"\"", "empty name");
	check_quote("a\"b\\c", "\"a\\\"b\\\\c\"", "quote and backslash");
	check_quote("x\r\ny", "\"xy\"", "CR and LF are dropped");
}

int
main(void)
{
	test_status();
	test_status_bounds();
	test_fetch();
	test_search();
	test_bounds();
	test_many();
	test_list();
	test_capability();
	test_capability_bounds();
	test_date();
	test_quote();
	return tap_done();
}
