/*
 * The IMAP response reader: answers of Dovecot, Cyrus, Courier and
 * Gmail cut into the same responses whether they arrive whole, byte by
 * byte or in chunks of any size; literals of every shape; the bounds
 * on lines, literals and their number; then the FETCH, EXISTS and
 * tagged status readers, and UID sets.
 *
 * Every chunk is copied into a heap block of exactly its length, with
 * no terminating NUL, so that reading past it shows up under the
 * sanitizers and valgrind.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_reader.h"
#include "imap_resp.h"
#include "tap.h"
#include "testutil.h"
#include "util.h"

/* A stream written with its length, for those holding a NUL. */
#define STREAM(s) (s), sizeof(s) - 1

/* Chunk sizes for read_split: the whole stream, or random ones. */
#define WHOLE SIZE_MAX
#define RANDOM 0

#define MAX_LINE 4096
#define MAX_LITERAL 4096

/* A copy of s without its NUL: reading past the end is an error. */
static char *
exact_copy(const char *s, size_t len)
{
	char *p = xmalloc(len > 0 ? len : 1);

	memcpy(p, s, len);
	return p;
}

/* Bytes as text: CR, LF and other controls escaped, to compare. */
static void
append_escaped(struct buf *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r')
			buf_appends(b, "\\r");
		else if (c == '\n')
			buf_appends(b, "\\n");
		else if (c < 0x20 || c >= 0x7f)
			buf_printf(b, "\\x%02x", c);
		else
			buf_append(b, &s[i], 1);
	}
}

/* What a reader handed over: one line of text per response. */
struct transcript {
	struct buf out;
	int calls;
	int stop_after; /* the callback says stop after this many; 0: never */
	bool steal; /* the callback takes the literals' data */
	size_t max_literal;
	bool overfull; /* a literal kept more than max_literal bytes */
};

static void
transcript_init(struct transcript *t, size_t max_literal)
{
	memset(t, 0, sizeof(*t));
	buf_init(&t->out);
	t->max_literal = max_literal;
}

static const char *
kind_name(enum imap_kind k)
{
	return k == IMAP_UNTAGGED ? "U" : k == IMAP_CONTINUE ? "C" : "T";
}

static bool
record(struct imap_response *r, void *arg)
{
	struct transcript *t = arg;

	buf_printf(&t->out, "%s ", kind_name(r->kind));
	append_escaped(&t->out, r->line, r->len);
	if (r->kind == IMAP_TAGGED)
		buf_printf(
		    &t->out, " <%.*s|%s>", (int)r->tag_len, r->tag, r->text);
	for (size_t i = 0; i < r->n_lits; i++) {
		struct imap_literal *l = &r->lits[i];

		buf_printf(&t->out, " [%llu%s:", (unsigned long long)l->size,
		    l->truncated ? "!" : "");
		append_escaped(&t->out, l->data.data, l->data.len);
		buf_appends(&t->out, "]");
		if (l->data.len > t->max_literal)
			t->overfull = true;
		if (t->steal)
			free(buf_steal(&l->data));
	}
	buf_appends(&t->out, "\n");
	t->calls++;
	return t->stop_after == 0 || t->calls < t->stop_after;
}

/* Feeds len bytes of s to r in chunks of chunk bytes (or random sizes
 * of 1 to 17); returns -1 at the first feed that fails. */
static int
feed_chunks(struct imap_reader *r, const char *s, size_t len, size_t chunk)
{
	size_t off = 0;

	while (off < len) {
		size_t n = chunk == RANDOM ? 1 + rng_below(17) : chunk;
		char *p;
		int rc;

		if (n > len - off)
			n = len - off;
		p = exact_copy(s + off, n);
		rc = imap_reader_feed(r, p, n);
		free(p);
		if (rc == -1)
			return -1;
		off += n;
	}
	return 0;
}

/* The transcript of s read in chunks, its error last (malloc'd). */
static char *
read_split(const char *s, size_t len, size_t chunk, size_t max_line,
    size_t max_literal)
{
	struct transcript t;
	struct imap_reader *r;

	transcript_init(&t, max_literal);
	r = imap_reader_new(max_line, max_literal, record, &t);
	if (feed_chunks(r, s, len, chunk) == -1)
		buf_printf(&t.out, "! %s\n", imap_reader_error(r));
	if (t.overfull)
		buf_appends(&t.out, "! a literal kept too much\n");
	imap_reader_free(r);
	return buf_steal(&t.out);
}

/* The transcript of s fed as s[0, at) and s[at, len) (malloc'd). */
static char *
read_two(const char *s, size_t len, size_t at)
{
	struct transcript t;
	struct imap_reader *r;

	transcript_init(&t, MAX_LITERAL);
	r = imap_reader_new(MAX_LINE, MAX_LITERAL, record, &t);
	if (feed_chunks(r, s, at, WHOLE) == -1 ||
	    feed_chunks(r, s + at, len - at, WHOLE) == -1)
		buf_printf(&t.out, "! %s\n", imap_reader_error(r));
	imap_reader_free(r);
	return buf_steal(&t.out);
}

/* Server answers --------------------------------------------------------- */

static const char dovecot[] =
    "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
    "LITERAL+ AUTH=PLAIN] Dovecot ready.\r\n"
    "a1 OK [CAPABILITY IMAP4rev1 IDLE CONDSTORE QRESYNC] Logged in\r\n"
    "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
    "* 3 EXISTS\r\n"
    "* 0 RECENT\r\n"
    "* OK [UIDVALIDITY 1700000000] UIDs valid\r\n"
    "* OK [UIDNEXT 44] Predicted next UID\r\n"
    "a2 OK [READ-ONLY] Examine completed (0.001 + 0.000 secs).\r\n"
    "* 1 FETCH (UID 41 RFC822.SIZE 28 FLAGS (\\Seen) INTERNALDATE "
    "\"06-Nov-2023 09:00:00 +0000\" BODY[] {28}\r\n"
    "Subject: hi\r\n\r\nHello there\r\n"
    ")\r\n"
    "a3 OK Fetch completed (0.001 + 0.000 secs).\r\n"
    "+ idling\r\n"
    "* 4 EXISTS\r\n"
    "* BYE Logging out\r\n"
    "a4 OK Logout completed (0.001 + 0.000 secs).\r\n";

static const char dovecot_want[] =
    "U * OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
    "LITERAL+ AUTH=PLAIN] Dovecot ready.\n"
    "T a1 OK [CAPABILITY IMAP4rev1 IDLE CONDSTORE QRESYNC] Logged in "
    "<a1|OK [CAPABILITY IMAP4rev1 IDLE CONDSTORE QRESYNC] Logged in>\n"
    "U * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\n"
    "U * 3 EXISTS\n"
    "U * 0 RECENT\n"
    "U * OK [UIDVALIDITY 1700000000] UIDs valid\n"
    "U * OK [UIDNEXT 44] Predicted next UID\n"
    "T a2 OK [READ-ONLY] Examine completed (0.001 + 0.000 secs). "
    "<a2|OK [READ-ONLY] Examine completed (0.001 + 0.000 secs).>\n"
    "U * 1 FETCH (UID 41 RFC822.SIZE 28 FLAGS (\\Seen) INTERNALDATE "
    "\"06-Nov-2023 09:00:00 +0000\" BODY[] {28}) "
    "[28:Subject: hi\\r\\n\\r\\nHello there\\r\\n]\n"
    "T a3 OK Fetch completed (0.001 + 0.000 secs). "
    "<a3|OK Fetch completed (0.001 + 0.000 secs).>\n"
    "C + idling\n"
    "U * 4 EXISTS\n"
    "U * BYE Logging out\n"
    "T a4 OK Logout completed (0.001 + 0.000 secs). "
    "<a4|OK Logout completed (0.001 + 0.000 secs).>\n";

static const char cyrus[] =
    "* OK [CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE AUTH=PLAIN SASL-IR] "
    "mail.example.org Cyrus IMAP 3.8.1 server ready\r\n"
    "* 4 FETCH (FLAGS (\\Flagged \\Seen) UID 4)\r\n"
    "* 2 EXPUNGE\r\n"
    "* VANISHED (EARLIER) 41,43:116\r\n"
    "* 12 FETCH (UID 40 MODSEQ (777) FLAGS (\\Seen $Label) RFC822.SIZE 3 "
    "INTERNALDATE \"06-Nov-2023 09:00:00 +0000\" BODY[] {3}\r\n"
    "abc)\r\n"
    "a5 OK Completed (0.000 sec)\r\n";

static const char cyrus_want[] =
    "U * OK [CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE AUTH=PLAIN SASL-IR] "
    "mail.example.org Cyrus IMAP 3.8.1 server ready\n"
    "U * 4 FETCH (FLAGS (\\Flagged \\Seen) UID 4)\n"
    "U * 2 EXPUNGE\n"
    "U * VANISHED (EARLIER) 41,43:116\n"
    "U * 12 FETCH (UID 40 MODSEQ (777) FLAGS (\\Seen $Label) RFC822.SIZE 3 "
    "INTERNALDATE \"06-Nov-2023 09:00:00 +0000\" BODY[] {3}) [3:abc]\n"
    "T a5 OK Completed (0.000 sec) <a5|OK Completed (0.000 sec)>\n";

static const char courier[] =
    "* OK [CAPABILITY IMAP4rev1 UIDPLUS CHILDREN NAMESPACE "
    "THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE ACL "
    "ACL2=UNION] Courier-IMAP ready. Copyright 1998-2018 Double "
    "Precision, Inc.  See COPYING for distribution information.\r\n"
    "a1 OK LOGIN Ok.\r\n"
    "* 1 FETCH (UID 7 BODY[] {0}\r\n"
    ")\r\n"
    "* 2 FETCH (UID 8 BODY[] {27}\r\n"
    "From: a@example.org\r\n\r\nhi\r\n"
    ")\r\n"
    "a2 OK FETCH completed.\r\n"
    "a3 NO Error in IMAP command received by server.\r\n"
    "* BYE Courier-IMAP server shutting down\r\n";

static const char courier_want[] =
    "U * OK [CAPABILITY IMAP4rev1 UIDPLUS CHILDREN NAMESPACE "
    "THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE ACL "
    "ACL2=UNION] Courier-IMAP ready. Copyright 1998-2018 Double "
    "Precision, Inc.  See COPYING for distribution information.\n"
    "T a1 OK LOGIN Ok. <a1|OK LOGIN Ok.>\n"
    "U * 1 FETCH (UID 7 BODY[] {0}) [0:]\n"
    "U * 2 FETCH (UID 8 BODY[] {27}) "
    "[27:From: a@example.org\\r\\n\\r\\nhi\\r\\n]\n"
    "T a2 OK FETCH completed. <a2|OK FETCH completed.>\n"
    "T a3 NO Error in IMAP command received by server. "
    "<a3|NO Error in IMAP command received by server.>\n"
    "U * BYE Courier-IMAP server shutting down\n";

static const char gmail[] =
    "* OK Gimap ready for requests from 203.0.113.5 a1mb123456\r\n"
    "* 1 FETCH (X-GM-THRID 1781234567890123456 X-GM-MSGID "
    "1781234567890123457 X-GM-LABELS (\\Important \"\\\\Inbox\" Work) "
    "UID 101 MODSEQ (4242) BODY[] {22}\r\n"
    "Subject: Gmail\r\n\r\nok\r\n"
    ")\r\n"
    "a3 OK Success\r\n";

static const char gmail_want[] =
    "U * OK Gimap ready for requests from 203.0.113.5 a1mb123456\n"
    "U * 1 FETCH (X-GM-THRID 1781234567890123456 X-GM-MSGID "
    "1781234567890123457 X-GM-LABELS (\\Important \"\\\\Inbox\" Work) "
    "UID 101 MODSEQ (4242) BODY[] {22}) [22:Subject: Gmail\\r\\n\\r\\nok\\r\\n]\n"
    "T a3 OK Success <a3|OK Success>\n";

/* Literals of every shape, one response each. */
static const char literals[] =
    "* 1 FETCH (UID 1 BODY[] {0}\r\n)\r\n"
    "* 2 FETCH (UID 2 BODY[] {5+}\r\nhello)\r\n"
    "* 3 FETCH (UID 3 BINARY[] ~{4}\r\n\0\1\r\n)\r\n"
    "* 4 FETCH (UID 4 BODY[HEADER] {14}\r\nSubject: x\r\n\r\n"
    " BODY[TEXT] {4}\r\nbody)\r\n"
    "* 5 FETCH (UID 5 BODY[] {21}\r\n\r\n* 1 FETCH (UID 9)\r\n)\r\n"
    "* 6 FETCH (UID 6 BODY[] {2}\r\n\r\n)\r\n";

static const char literals_want[] =
    "U * 1 FETCH (UID 1 BODY[] {0}) [0:]\n"
    "U * 2 FETCH (UID 2 BODY[] {5+}) [5:hello]\n"
    "U * 3 FETCH (UID 3 BINARY[] ~{4}) [4:\\x00\\x01\\r\\n]\n"
    "U * 4 FETCH (UID 4 BODY[HEADER] {14} BODY[TEXT] {4}) "
    "[14:Subject: x\\r\\n\\r\\n] [4:body]\n"
    "U * 5 FETCH (UID 5 BODY[] {21}) [21:\\r\\n* 1 FETCH (UID 9)\\r\\n]\n"
    "U * 6 FETCH (UID 6 BODY[] {2}) [2:\\r\\n]\n";

struct sample {
	const char *name;
	const char *s;
	size_t len;
	const char *want;
};

static const struct sample samples[] = {
    {"Dovecot", STREAM(dovecot), dovecot_want},
    {"Cyrus", STREAM(cyrus), cyrus_want},
    {"Courier", STREAM(courier), courier_want},
    {"Gmail", STREAM(gmail), gmail_want},
    {"literals", STREAM(literals), literals_want},
};

/* Splitting ---------------------------------------------------------------- */

static void
test_whole(void)
{
	for (size_t i = 0; i < nitems(samples); i++) {
		const struct sample *sm = &samples[i];
		char *got =
		    read_split(sm->s, sm->len, WHOLE, MAX_LINE, MAX_LITERAL);

		is_str(got, sm->want, "%s: read whole", sm->name);
		free(got);
	}
}

static void
test_byte_by_byte(void)
{
	for (size_t i = 0; i < nitems(samples); i++) {
		const struct sample *sm = &samples[i];
		char *got =
		    read_split(sm->s, sm->len, 1, MAX_LINE, MAX_LITERAL);

		is_str(got, sm->want, "%s: read byte by byte", sm->name);
		free(got);
	}
}

/* Seeded, so that a failure comes back on the next run. */
static void
test_random_chunks(void)
{
	rng_state = 20231106;
	for (size_t i = 0; i < nitems(samples); i++) {
		const struct sample *sm = &samples[i];
		int differ = 0;

		for (int round = 0; round < 50; round++) {
			char *got = read_split(
			    sm->s, sm->len, RANDOM, MAX_LINE, MAX_LITERAL);

			if (strcmp(got, sm->want) != 0)
				differ++;
			free(got);
		}
		is_int(differ, 0, "%s: 50 reads in random chunks", sm->name);
	}
}

/* Every place a stream can be cut in two, a literal's first and last
 * byte and its "}\r" among them. */
static void
test_every_cut(void)
{
	for (size_t i = 0; i < nitems(samples); i++) {
		const struct sample *sm = &samples[i];
		int differ = 0;

		for (size_t at = 0; at <= sm->len; at++) {
			char *got = read_two(sm->s, sm->len, at);

			if (strcmp(got, sm->want) != 0)
				differ++;
			free(got);
		}
		is_int(differ, 0, "%s: cut in two anywhere", sm->name);
	}
}

/* A literal that ends exactly where a chunk does: nothing is handed
 * over until the line after it is in. */
static void
test_literal_at_chunk_end(void)
{
	static const char head[] = "* 2 FETCH (UID 2 BODY[] {5}\r\n";
	struct transcript t;
	struct imap_reader *r;

	transcript_init(&t, MAX_LITERAL);
	r = imap_reader_new(MAX_LINE, MAX_LITERAL, record, &t);
	is_int(feed_chunks(r, STREAM(head), WHOLE), 0, "chunk end: header");
	is_int(imap_reader_pending(r), strlen("* 2 FETCH (UID 2 BODY[] {5}"),
	    "chunk end: the header is pending");
	is_int(feed_chunks(r, STREAM("hel\r\n"), WHOLE), 0,
	    "chunk end: the literal's first bytes");
	is_int(feed_chunks(r, STREAM(")\r"), WHOLE), 0,
	    "chunk end: its last bytes and the line after, but its LF");
	is_int(t.calls, 0, "chunk end: no response before the LF");
	is_int(feed_chunks(r, STREAM("\n"), WHOLE), 0, "chunk end: the LF");
	is_str(t.out.data, "U * 2 FETCH (UID 2 BODY[] {5}) [5:hel\\r\\n]\n",
	    "chunk end: one response");
	is_int(imap_reader_pending(r), 0, "chunk end: nothing pending after");
	imap_reader_free(r);
	buf_free(&t.out);
}

/* The callee may take a literal's data; the reader must not free it. */
static void
test_stolen_literals(void)
{
	struct transcript t;
	struct imap_reader *r;

	transcript_init(&t, MAX_LITERAL);
	t.steal = true;
	r = imap_reader_new(MAX_LINE, MAX_LITERAL, record, &t);
	is_int(feed_chunks(r, STREAM(literals), 3), 0, "steal: read");
	is_str(t.out.data, literals_want, "steal: the same responses");
	imap_reader_free(r);
	buf_free(&t.out);
}

/* Bounds ------------------------------------------------------------------ */

static void
test_truncated_literal(void)
{
	static const char s[] =
	    "* 1 FETCH (UID 1 BODY[] {10}\r\n0123456789)\r\n"
	    "* 2 FETCH (UID 2 BODY[] {4}\r\nabcd)\r\n"
	    "* 3 FETCH (UID 3 BODY[] {0}\r\n)\r\n";
	static const char want[] =
	    "U * 1 FETCH (UID 1 BODY[] {10}) [10!:0123]\n"
	    "U * 2 FETCH (UID 2 BODY[] {4}) [4:abcd]\n"
	    "U * 3 FETCH (UID 3 BODY[] {0}) [0:]\n";
	static const char head[] = "* 1 FETCH (UID 1 BODY[] {10}\r\n0123456789";
	char *got;
	struct transcript t;
	struct imap_reader *r;

	got = read_split(STREAM(s), WHOLE, MAX_LINE, 4);
	is_str(got, want, "max_literal 4: whole");
	free(got);
	got = read_split(STREAM(s), 1, MAX_LINE, 4);
	is_str(got, want, "max_literal 4: byte by byte");
	free(got);
	got = read_split(STREAM(s), 1, MAX_LINE, 0);
	is_str(got,
	    "U * 1 FETCH (UID 1 BODY[] {10}) [10!:]\n"
	    "U * 2 FETCH (UID 2 BODY[] {4}) [4!:]\n"
	    "U * 3 FETCH (UID 3 BODY[] {0}) [0:]\n",
	    "max_literal 0: sizes kept, no data");
	free(got);

	transcript_init(&t, 4);
	r = imap_reader_new(MAX_LINE, 4, record, &t);
	feed_chunks(r, STREAM(head), 1);
	is_int(imap_reader_pending(r),
	    strlen("* 1 FETCH (UID 1 BODY[] {10}") + 4,
	    "max_literal 4: 4 bytes of the literal kept, not 10");
	imap_reader_free(r);
	buf_free(&t.out);
}

/* A literal announced as 2^30 bytes streams past; one byte more is a
 * lie, and so are 17 digits. */
static void
test_literal_sizes(void)
{
	static const char largest[] = "* 1 FETCH (BODY[] {1073741824}\r\n";
	struct transcript t;
	struct imap_reader *r;
	char *got;

	transcript_init(&t, 16);
	r = imap_reader_new(MAX_LINE, 16, record, &t);
	is_int(feed_chunks(r, STREAM(largest), WHOLE), 0,
	    "literal of 2^30 bytes: taken");
	is_int(feed_chunks(r, STREAM("0123456789abcdefghij"), 7), 0,
	    "literal of 2^30 bytes: its first bytes");
	is_int(imap_reader_pending(r),
	    strlen("* 1 FETCH (BODY[] {1073741824}") + 16,
	    "literal of 2^30 bytes: 16 kept");
	imap_reader_free(r);
	buf_free(&t.out);

	got = read_split(
	    STREAM("* 1 FETCH (BODY[] {1073741825}\r\n"), 1, MAX_LINE, 16);
	is_str(got, "! a literal of an impossible size\n",
	    "literal of 2^30 + 1 bytes");
	free(got);
	got = read_split(STREAM("* 1 FETCH (BODY[] {99999999999999999}\r\n"
				"* 2 EXISTS\r\n"),
	    WHOLE, MAX_LINE, 16);
	is_str(
	    got, "! a literal of an impossible size\n", "literal of 17 digits");
	free(got);
	got = read_split(STREAM("* 1 FETCH (BODY[] {99999999999999999999999}"
				"\r\n"),
	    3, MAX_LINE, 16);
	is_str(got, "! a literal of an impossible size\n",
	    "literal size over 2^64");
	free(got);
	/* Braces without a number are text: a server may end a line so. */
	got = read_split(STREAM("* OK note {}\r\n* OK {+}\r\n* 3 EXISTS\r\n"),
	    1, MAX_LINE, 16);
	is_str(got, "U * OK note {}\nU * OK {+}\nU * 3 EXISTS\n",
	    "\"{}\" and \"{+}\" at a line's end are no literals");
	free(got);
}

static void
test_long_line(void)
{
	struct transcript t;
	struct imap_reader *r;
	char *got;

	got = read_split(STREAM("* OK exactly 16!\r\n* 3 EXISTS\r\n"), WHOLE,
	    16, MAX_LITERAL);
	is_str(got, "U * OK exactly 16!\nU * 3 EXISTS\n",
	    "max_line 16: a line of 16 whole");
	free(got);
	got = read_split(
	    STREAM("* OK exactly 16!\r\n* 3 EXISTS\r\n"), 1, 16, MAX_LITERAL);
	is_str(got, "U * OK exactly 16!\nU * 3 EXISTS\n",
	    "max_line 16: a line of 16 byte by byte");
	free(got);
	got = read_split(
	    STREAM("* OK exactly 16!\n* 3 EXISTS\n"), 1, 16, MAX_LITERAL);
	is_str(got, "U * OK exactly 16!\nU * 3 EXISTS\n",
	    "max_line 16: a line of 16 ended by LF alone");
	free(got);

	transcript_init(&t, MAX_LITERAL);
	r = imap_reader_new(16, MAX_LITERAL, record, &t);
	is_int(feed_chunks(
		   r, STREAM("* 3 EXISTS\r\n* OK seventeen 17\r\n"), WHOLE),
	    -1, "max_line 16: a line of 17 fails");
	is_str(imap_reader_error(r), "a response line too long",
	    "max_line 16: the error says why");
	is_str(t.out.data, "U * 3 EXISTS\n",
	    "max_line 16: the responses before it were handed over");
	is_int(feed_chunks(r, STREAM("* 4 EXISTS\r\n"), WHOLE), -1,
	    "max_line 16: the reader stays failed");
	is_int(t.calls, 1, "max_line 16: nothing more handed over");
	imap_reader_free(r);
	buf_free(&t.out);

	got = read_split(STREAM("* OK exactly 16!\rx\r\n"), 1, 16, MAX_LITERAL);
	is_str(got, "! a response line too long\n",
	    "max_line 16: a CR inside the line counts");
	free(got);
	got = read_split(STREAM("* OK seventeen 17"), 1, 16, MAX_LITERAL);
	is_str(got, "! a response line too long\n",
	    "max_line 16: 17 bytes without a line end fail too");
	free(got);
	got = read_split(
	    STREAM("* 1 FETCH (X {0}\r\n Y {0}\r\n)\r\n"), 1, 20, MAX_LITERAL);
	is_str(got, "! a response line too long\n",
	    "max_line 20: the lines of one response count together");
	free(got);
}

/* "* 1 FETCH (X {1}" and n times " {1}" + "x", then ")". */
static char *
many_literals(size_t n, size_t *len)
{
	struct buf b;

	buf_init(&b);
	buf_appends(&b, "* 1 FETCH (X");
	for (size_t i = 0; i < n; i++)
		buf_appends(&b, " {1}\r\nx");
	buf_appends(&b, ")\r\n");
	*len = b.len;
	return buf_steal(&b);
}

static void
test_literal_count(void)
{
	size_t len;
	char *s, *got;
	struct transcript t;
	struct imap_reader *r;

	s = many_literals(64, &len);
	transcript_init(&t, MAX_LITERAL);
	r = imap_reader_new(MAX_LINE, MAX_LITERAL, record, &t);
	is_int(feed_chunks(r, s, len, 5), 0, "64 literals: read");
	is_int(t.calls, 1, "64 literals: one response");
	imap_reader_free(r);
	buf_free(&t.out);
	free(s);

	s = many_literals(65, &len);
	got = read_split(s, len, 5, MAX_LINE, MAX_LITERAL);
	is_str(got, "! too many literals in one response\n", "65 literals");
	free(got);
	free(s);
}

static void
test_stop(void)
{
	struct transcript t;
	struct imap_reader *r;

	transcript_init(&t, MAX_LITERAL);
	t.stop_after = 2;
	r = imap_reader_new(MAX_LINE, MAX_LITERAL, record, &t);
	is_int(feed_chunks(r, STREAM(literals), WHOLE), 0,
	    "stop: the feed returns 0");
	is_int(t.calls, 2, "stop: nothing after the callback said stop");
	is_int(imap_reader_pending(r), 0, "stop: nothing kept of the rest");
	is_str(t.out.data,
	    "U * 1 FETCH (UID 1 BODY[] {0}) [0:]\n"
	    "U * 2 FETCH (UID 2 BODY[] {5+}) [5:hello]\n",
	    "stop: the first two responses");
	imap_reader_free(r);
	buf_free(&t.out);
}

/* FETCH ------------------------------------------------------------------- */

struct fetch_result {
	struct buf out;
	int calls;
};

static void
describe_fetch(struct buf *b, int rc, const struct imap_fetch *f)
{
	buf_printf(b, "%d", rc);
	if (rc != 1)
		return;
	buf_printf(b, ": seq %u uid %u", f->seq, f->uid);
	if (f->has_flags)
		buf_printf(b, " flags (%s)", f->flags);
	if (f->has_size)
		buf_printf(b, " size %llu", (unsigned long long)f->size);
	if (f->internal_date)
		buf_printf(b, " date %lld", (long long)f->internal_date);
	if (f->modseq)
		buf_printf(b, " modseq %llu", (unsigned long long)f->modseq);
	if (f->has_gm_msgid)
		buf_printf(b, " gmsg %llu", (unsigned long long)f->gm_msgid);
	if (f->has_gm_thrid)
		buf_printf(b, " gthr %llu", (unsigned long long)f->gm_thrid);
	if (f->gm_labels) {
		buf_appends(b, " labels <");
		for (char **l = f->gm_labels; *l; l++)
			buf_printf(b, "%s%s", l > f->gm_labels ? "|" : "", *l);
		buf_appends(b, ">");
	}
	if (f->body_nil)
		buf_appends(b, " body NIL");
	if (f->body) {
		buf_printf(b,
		    " body [%llu%s:", (unsigned long long)f->body->size,
		    f->body->truncated ? "!" : "");
		append_escaped(b, f->body->data.data, f->body->data.len);
		buf_appends(b, "]");
	}
}

static bool
parse_fetch(struct imap_response *r, void *arg)
{
	struct fetch_result *fr = arg;
	struct imap_fetch f;
	int rc = imap_fetch_parse(r, &f);

	if (fr->calls++ > 0)
		buf_appends(&fr->out, "; ");
	describe_fetch(&fr->out, rc, &f);
	imap_fetch_clear(&f);
	return true;
}

/* What imap_fetch_parse makes of the responses of s (malloc'd). */
static char *
fetch_of(const char *s, size_t len, size_t max_literal)
{
	struct fetch_result fr;
	struct imap_reader *r;

	buf_init(&fr.out);
	fr.calls = 0;
	r = imap_reader_new(MAX_LINE, max_literal, parse_fetch, &fr);
	if (feed_chunks(r, s, len, 1) == -1)
		buf_printf(&fr.out, "! %s", imap_reader_error(r));
	imap_reader_free(r);
	return buf_steal(&fr.out);
}

static void
check_fetch(const char *s, const char *want, const char *what)
{
	char *got = fetch_of(s, strlen(s), MAX_LITERAL);

	is_str(got, want, "fetch: %s", what);
	free(got);
}

static void
test_fetch(void)
{
	char *got;

	check_fetch("* 12 FETCH (UID 40 FLAGS (\\Seen $Label) RFC822.SIZE 3 "
		    "INTERNALDATE \"06-Nov-2023 09:00:00 +0000\" BODY[] {3}\r\n"
		    "abc)\r\n",
	    "1: seq 12 uid 40 flags (\\Seen $Label) size 3 date 1699261200 "
	    "body [3:abc]",
	    "all items");
	check_fetch("* 12 FETCH (BODY[] {3}\r\nabc INTERNALDATE "
		    "\"06-Nov-2023 09:00:00 +0000\" RFC822.SIZE 3 "
		    "FLAGS (\\Seen $Label) UID 40)\r\n",
	    "1: seq 12 uid 40 flags (\\Seen $Label) size 3 date 1699261200 "
	    "body [3:abc]",
	    "all items, the body first");
	check_fetch("* 12 fetch (uid 40 flags (\\seen) rfc822.size 3 "
		    "body[] {3}\r\nabc)\r\n",
	    "1: seq 12 uid 40 flags (\\seen) size 3 body [3:abc]",
	    "lower case");
	check_fetch("* 5 FETCH (UID 9 MODSEQ (12345678901))\r\n",
	    "1: seq 5 uid 9 modseq 12345678901", "MODSEQ");
	check_fetch("* 5 FETCH (UID 9 MODSEQ 7)\r\n", "-1",
	    "MODSEQ without parentheses");
	check_fetch("* 5 FETCH (UID 9 BODY[]<0> {2}\r\nhi)\r\n",
	    "1: seq 5 uid 9 body [2:hi]", "BODY[]<0>");
	check_fetch("* 5 FETCH (UID 9 BODY[] NIL)\r\n",
	    "1: seq 5 uid 9 body NIL", "BODY[] NIL");
	check_fetch("* 5 FETCH (UID 9 BODY[] \"a \\\"b\\\" c\\\\\")\r\n",
	    "1: seq 5 uid 9 body [8:a \"b\" c\\]", "a quoted body");
	check_fetch("* 5 FETCH (UID 9 BODY[] \"\")\r\n",
	    "1: seq 5 uid 9 body [0:]", "an empty quoted body");
	check_fetch("* 4 FETCH (FLAGS (\\Flagged \\Seen) UID 4)\r\n",
	    "1: seq 4 uid 4 flags (\\Flagged \\Seen)",
	    "Cyrus's unsolicited flags");
	check_fetch("* 4 FETCH (FLAGS ())\r\n", "1: seq 4 uid 0 flags ()",
	    "no flags and no UID");
	check_fetch(
	    "* 7 FETCH (UID 70 BODYSTRUCTURE (\"text\" \"plain\" "
	    "(\"charset\" \"utf-8\") NIL NIL \"7bit\" 12 1 NIL NIL NIL "
	    "NIL) ENVELOPE (\"Mon, 6 Nov 2023 09:00:00 +0000\" "
	    "\"hi (there)\" ((\"A\" NIL \"a\" \"example.org\")) NIL NIL "
	    "NIL NIL NIL NIL \"<x@y>\") X-GM-LABELS (\\Inbox \"a b\") "
	    "X-GM-THRID 1781234567890123456 RFC822.SIZE 12)\r\n",
	    "1: seq 7 uid 70 size 12 gthr 1781234567890123456 "
	    "labels <\\Inbox|a b>",
	    "unknown items with nested lists, Gmail's among them");
	check_fetch("* 8 FETCH (UID 80 BODY[HEADER.FIELDS (SUBJECT)] {14}\r\n"
		    "Subject: x\r\n\r\n BODY[] {2}\r\nhi)\r\n",
	    "1: seq 8 uid 80 body [2:hi]",
	    "a header literal skipped, the body the second literal");
	check_fetch("* 8 FETCH (UID 80 BODY[] \"a\" BODY[] \"b\")\r\n",
	    "1: seq 8 uid 80 body [1:b]", "two quoted bodies: the last one");
	check_fetch("* 8 FETCH (UID 80 FLAGS (\\Seen) FLAGS (\\Draft))\r\n",
	    "1: seq 8 uid 80 flags (\\Draft)", "two FLAGS: the last one");
	check_fetch("* 8 FETCH (UID 80 INTERNALDATE \"yesterday\")\r\n",
	    "1: seq 8 uid 80", "an unreadable date is none");
	check_fetch("* 8 FETCH (UID 80 INTERNALDATE \"\")\r\n",
	    "1: seq 8 uid 80", "an empty date is none");

	got = fetch_of(
	    STREAM("* 5 FETCH (UID 9 BODY[] ~{3}\r\na\0b)\r\n"), MAX_LITERAL);
	is_str(got, "1: seq 5 uid 9 body [3:a\\x00b]",
	    "fetch: a binary body, NUL and all");
	free(got);
	got = fetch_of(STREAM("* 9 FETCH (UID 90 BODY[] {10}\r\n0123456789)"
			      "\r\n"),
	    4);
	is_str(got, "1: seq 9 uid 90 body [10!:0123]",
	    "fetch: a truncated body keeps its size");
	free(got);
}

static void
test_fetch_malformed(void)
{
	check_fetch("* 1 FETCH (UID 0)\r\n", "-1", "UID 0");
	check_fetch("* 1 FETCH (UID 4294967296)\r\n", "-1", "UID 2^32");
	check_fetch("* 1 FETCH (UID 4294967295)\r\n", "1: seq 1 uid 4294967295",
	    "UID 2^32 - 1");
	check_fetch("* 1 FETCH (UID)\r\n", "-1", "UID without a number");
	check_fetch("* 1 FETCH (UID 1\r\n", "-1", "missing \")\"");
	check_fetch("* 1 FETCH UID 1)\r\n", "-1", "missing \"(\"");
	check_fetch("* 1 FETCH (UID 1) x\r\n", "-1", "garbage after \")\"");
	check_fetch("* 1 FETCH (UID 1))\r\n", "-1", "\")\" twice");
	check_fetch("* 1 FETCH (FLAGS (\\Seen \"x\") UID 1)\r\n", "-1",
	    "FLAGS with a quote");
	check_fetch(
	    "* 1 FETCH (FLAGS (\\Seen UID 1\r\n", "-1", "FLAGS not closed");
	check_fetch("* 1 FETCH (FLAGS \\Seen UID 1)\r\n", "-1",
	    "FLAGS without parentheses");
	check_fetch("* 1 FETCH (UID 1 FLAGS (\\Seen) UID 0)\r\n", "-1",
	    "flags read, then a bad UID: nothing leaks");
	check_fetch("* 0 FETCH (UID 1)\r\n", "-1", "message number 0");
	check_fetch(
	    "* 4294967296 FETCH (UID 1)\r\n", "-1", "message number 2^32");
	check_fetch("* 1 FETCH (RFC822.SIZE 99999999999999999999999)\r\n", "-1",
	    "a size over 2^64");
	check_fetch("* 1 FETCH (UID 1 BODY[] {3} X)\r\n", "-1",
	    "a literal marker inside the line, with no literal");
	check_fetch("* 1 FETCH (UID 1 BODY[] FOO)\r\n", "-1",
	    "BODY[] neither literal, string nor NIL");
	check_fetch("* 1 FETCH (UID 1 BODY[] \"abc)\r\n", "-1",
	    "a quoted body not closed");
	check_fetch("* 1 FETCH (UID 1 X-FOO \"abc)\r\n", "-1",
	    "an unknown item's string not closed");
	check_fetch("* 1 FETCH (UID 1 X-FOO (a (b c))\r\n", "-1",
	    "an unknown item's list not closed");
	check_fetch("* 1 FETCH (UID 1 X-FOO ((((((((((((((((((((((((((((((((("
		    "((((1)))))))))))))))))))))))))))))))))))))\r\n",
	    "-1", "an unknown item nested too deep");
	check_fetch("* 1 FETCH (UID 1 X-FOO (((1))))\r\n", "1: seq 1 uid 1",
	    "an unknown item nested a little");
}

/* Gmail's X-GM-EXT-1 items, as its FETCH answers carry them. */
static void
test_fetch_gmail(void)
{
	char *got;

	check_fetch("* 3 FETCH (X-GM-THRID 1278455344230334865 X-GM-MSGID "
		    "1278455344230334866 X-GM-LABELS (\\Inbox \\Sent "
		    "Work \"My label\") UID 30 BODY[] {2}\r\nhi)\r\n",
	    "1: seq 3 uid 30 gmsg 1278455344230334866 gthr "
	    "1278455344230334865 labels <\\Inbox|\\Sent|Work|My label> "
	    "body [2:hi]",
	    "Gmail: ids and labels with the body");
	check_fetch("* 3 FETCH (UID 30 X-GM-MSGID 18446744073709551615 "
		    "X-GM-THRID 1)\r\n",
	    "1: seq 3 uid 30 gmsg 18446744073709551615 gthr 1",
	    "Gmail: the largest and the smallest id");
	check_fetch("* 3 FETCH (UID 30 X-GM-LABELS (\"\\\\Inbox\" "
		    "\"\\\\Sent\" Work \"My label\"))\r\n",
	    "1: seq 3 uid 30 labels <\\Inbox|\\Sent|Work|My label>",
	    "Gmail: system labels quoted, their backslash escaped");
	check_fetch("* 3 FETCH (UID 30 X-GM-LABELS ())\r\n",
	    "1: seq 3 uid 30 labels <>", "Gmail: no labels");
	check_fetch("* 3 FETCH (UID 30 X-GM-LABELS ( \"a \\\"quoted\\\" "
		    "one\" \"back\\\\slash\" [Gmail]/Starred ))\r\n",
	    "1: seq 3 uid 30 labels <a \"quoted\" one|back\\slash|"
	    "[Gmail]/Starred>",
	    "Gmail: quotes and backslashes escaped in labels");
	check_fetch("* 3 FETCH (UID 30 X-GM-LABELS (\"&AOk-t&AOk-\" {5}\r\n"
		    "a)b c))\r\n",
	    "1: seq 3 uid 30 labels <&AOk-t&AOk-|a)b c>",
	    "Gmail: a label sent as a literal");
	check_fetch("* 3 FETCH (UID 30 X-GM-LABELS (a) X-GM-LABELS (b))\r\n",
	    "1: seq 3 uid 30 labels <b>", "Gmail: two label lists: the last");
	check_fetch("* 3 fetch (uid 30 x-gm-msgid 5 x-gm-labels (\\inbox))"
		    "\r\n",
	    "1: seq 3 uid 30 gmsg 5 labels <\\inbox>", "Gmail: lower case");

	got = fetch_of(STREAM("* 3 FETCH (UID 30 X-GM-LABELS ({7}\r\n"
			      "long one))\r\n"),
	    4);
	is_str(got, "-1", "fetch: Gmail: a label cut short is refused");
	free(got);
}

static void
test_fetch_gmail_malformed(void)
{
	check_fetch("* 1 FETCH (UID 1 X-GM-MSGID 18446744073709551616)\r\n",
	    "-1", "Gmail: a message id of 2^64");
	check_fetch("* 1 FETCH (UID 1 X-GM-THRID "
		    "99999999999999999999999999)\r\n",
	    "-1", "Gmail: a thread id far over 2^64");
	check_fetch(
	    "* 1 FETCH (UID 1 X-GM-MSGID 0)\r\n", "-1", "Gmail: message id 0");
	check_fetch("* 1 FETCH (UID 1 X-GM-MSGID -5)\r\n", "-1",
	    "Gmail: a negative message id");
	check_fetch("* 1 FETCH (UID 1 X-GM-MSGID 12ab)\r\n", "-1",
	    "Gmail: a message id with letters glued on");
	check_fetch("* 1 FETCH (UID 1 X-GM-THRID 0x1f)\r\n", "-1",
	    "Gmail: a thread id in hex");
	check_fetch("* 1 FETCH (UID 1 X-GM-THRID \"12\")\r\n", "-1",
	    "Gmail: a quoted thread id");
	check_fetch("* 1 FETCH (UID 1 X-GM-MSGID)\r\n", "-1",
	    "Gmail: a message id without a number");
	check_fetch("* 1 FETCH (UID 1 X-GM-THRID NIL)\r\n", "-1",
	    "Gmail: thread id NIL");
	check_fetch(
	    "* 1 FETCH (UID 1 X-GM-LABELS NIL)\r\n", "-1", "Gmail: labels NIL");
	check_fetch("* 1 FETCH (UID 1 X-GM-LABELS \\Inbox)\r\n", "-1",
	    "Gmail: labels without parentheses");
	check_fetch("* 1 FETCH (UID 1 X-GM-LABELS (\\Inbox Work)\r\n", "-1",
	    "Gmail: labels not closed");
	check_fetch("* 1 FETCH (UID 1 X-GM-LABELS (\"Work)\r\n", "-1",
	    "Gmail: a quoted label not closed");
	check_fetch("* 1 FETCH (UID 1 X-GM-LABELS (\"\"))\r\n", "-1",
	    "Gmail: an empty label");
	check_fetch("* 1 FETCH (UID 1 X-GM-LABELS (a\"b\"))\r\n", "-1",
	    "Gmail: two labels glued together");
	check_fetch("* 1 FETCH (UID 1 X-GM-LABELS ((a)))\r\n", "-1",
	    "Gmail: a nested list among the labels");
	check_fetch("* 1 FETCH (UID 1 X-GM-LABELS (\"a\tb\"))\r\n", "-1",
	    "Gmail: a label with a tab");
	check_fetch("* 1 FETCH (UID 1 X-GM-LABELS (Work) X-GM-MSGID x)\r\n",
	    "-1", "Gmail: labels read, then a bad id: nothing leaks");
	check_fetch("* 1 FETCH (UID 1 X-GM-LABELS ({3}))\r\n", "-1",
	    "Gmail: a label literal marker with no literal");
}

static void
test_not_fetch(void)
{
	check_fetch("* 3 EXISTS\r\n", "0", "EXISTS");
	check_fetch("* OK [UIDNEXT 44] Predicted next UID\r\n", "0", "OK");
	check_fetch("* 3 FETCHED (UID 1)\r\n", "0", "FETCHED");
	check_fetch("a1 OK FETCH completed\r\n", "0", "tagged");
	check_fetch("+ FETCH\r\n", "0", "continuation");
	check_fetch("*\r\n", "0", "a lone star");
	check_fetch("\r\n", "0", "an empty line");
	check_fetch("* 99999999999999999999999 FETCH (UID 1)\r\n", "0",
	    "a message number over 2^64 is not read as one");
}

/* Other responses --------------------------------------------------------- */

/* imap_count_parse of the one response in s, as "EXISTS 3" or "NONE". */
struct count_result {
	enum imap_count k;
	uint32_t n;
	char status;
	bool bye;
};

static bool
parse_others(struct imap_response *r, void *arg)
{
	struct count_result *cr = arg;

	cr->n = 0;
	cr->k = imap_count_parse(r, &cr->n);
	cr->status = imap_tagged_status(r);
	cr->bye = imap_is_bye(r);
	return true;
}

static struct count_result
others_of(const char *s)
{
	struct count_result cr = {IMAP_COUNT_NONE, 0, 0, false};
	struct imap_reader *r =
	    imap_reader_new(MAX_LINE, MAX_LITERAL, parse_others, &cr);

	feed_chunks(r, s, strlen(s), WHOLE);
	imap_reader_free(r);
	return cr;
}

static void
check_count(const char *s, enum imap_count k, uint32_t n, const char *what)
{
	struct count_result cr = others_of(s);

	is_int(cr.k, k, "count: %s", what);
	if (k != IMAP_COUNT_NONE)
		is_int(cr.n, n, "count: %s, the number", what);
}

static void
test_count(void)
{
	check_count("* 3 EXISTS\r\n", IMAP_EXISTS, 3, "EXISTS");
	check_count("* 2 EXPUNGE\r\n", IMAP_EXPUNGE, 2, "EXPUNGE");
	check_count("* 0 RECENT\r\n", IMAP_RECENT, 0, "RECENT 0");
	check_count("* 4294967295 exists\r\n", IMAP_EXISTS, 4294967295u,
	    "exists, lower case, 2^32 - 1");
	check_count("* 7 Expunge\r\n", IMAP_EXPUNGE, 7, "Expunge");
	check_count(
	    "* 3 EXISTS \r\n", IMAP_COUNT_NONE, 0, "a space after EXISTS");
	check_count(
	    "* 3  EXISTS\r\n", IMAP_COUNT_NONE, 0, "two spaces before EXISTS");
	check_count(
	    "* 4294967296 EXISTS\r\n", IMAP_COUNT_NONE, 0, "2^32 EXISTS");
	check_count("* 99999999999999999999999 EXISTS\r\n", IMAP_COUNT_NONE, 0,
	    "over 2^64 EXISTS");
	check_count("* -1 EXISTS\r\n", IMAP_COUNT_NONE, 0, "-1 EXISTS");
	check_count("* EXISTS\r\n", IMAP_COUNT_NONE, 0, "no number");
	check_count("* 3 EXISTSX\r\n", IMAP_COUNT_NONE, 0, "EXISTSX");
	check_count("* 3 EXISTS x\r\n", IMAP_COUNT_NONE, 0, "EXISTS x");
	check_count("* 3\r\n", IMAP_COUNT_NONE, 0, "a number alone");
	check_count("* 3 FETCH (UID 1)\r\n", IMAP_COUNT_NONE, 0, "FETCH");
	check_count("a1 3 EXISTS\r\n", IMAP_COUNT_NONE, 0, "tagged");
	check_count("3 EXISTS\r\n", IMAP_COUNT_NONE, 0, "no star");
}

static void
check_status(const char *s, char want, const char *what)
{
	struct count_result cr = others_of(s);

	is_int(cr.status, want, "tagged status: %s", what);
}

static void
test_tagged_status(void)
{
	check_status("a1 OK done\r\n", 'O', "OK");
	check_status("a1 OK\r\n", 'O', "OK alone");
	check_status("a1 ok [READ-ONLY] done\r\n", 'O', "ok");
	check_status("a2 NO [TRYCREATE] no such mailbox\r\n", 'N', "NO");
	check_status("a2 NO\r\n", 'N', "NO alone");
	check_status("a3 BAD Error in IMAP command\r\n", 'B', "BAD");
	check_status("a3 bad\r\n", 'B', "bad alone");
	check_status("a1 OKAY\r\n", 0, "OKAY");
	check_status("a1 NOPE\r\n", 0, "NOPE");
	check_status("a1 BADLY\r\n", 0, "BADLY");
	check_status("a1 PREAUTH\r\n", 0, "PREAUTH");
	check_status("a1 BYE\r\n", 0, "BYE");
	check_status("a1\r\n", 0, "a tag alone");
	check_status("a1 \r\n", 0, "a tag and a space");
	check_status("\r\n", 0, "an empty line");
	check_status("* OK ready\r\n", 0, "untagged OK");
	check_status("+ OK\r\n", 0, "continuation");
}

static void
check_bye(const char *s, bool want, const char *what)
{
	struct count_result cr = others_of(s);

	ok(cr.bye == want, "BYE: %s", what);
}

static void
test_bye(void)
{
	check_bye("* BYE Logging out\r\n", true, "Dovecot");
	check_bye(
	    "* BYE Courier-IMAP server shutting down\r\n", true, "Courier");
	check_bye("* BYE\r\n", true, "BYE alone");
	check_bye("* bye autologout; idle for too long\r\n", true, "bye");
	check_bye("* BYEBYE\r\n", false, "BYEBYE");
	check_bye("* OK BYE\r\n", false, "OK BYE");
	check_bye("a1 BYE\r\n", false, "tagged");
	check_bye("* BY\r\n", false, "BY");
}

/* UID sets ---------------------------------------------------------------- */

/* The UIDs of a set as "n n n", or "(refused)" (malloc'd). */
static char *
uid_set_of(const char *s, uint32_t max, size_t limit)
{
	size_t len = strlen(s);
	char *p = exact_copy(s, len);
	uint32_t *uids = NULL;
	size_t n = 7;
	int rc = imap_parse_uid_set(p, len, max, limit, &uids, &n);
	struct buf b;

	buf_init(&b);
	if (rc == -1)
		buf_appends(&b, "(refused)");
	if (rc == -1 && (uids != NULL || n != 0))
		buf_appends(&b, " (but an array returned)");
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s%u", i ? " " : "", uids[i]);
	free(uids);
	free(p);
	return buf_steal(&b);
}

static void
check_uid_set(const char *s, uint32_t max, size_t limit, const char *want,
    const char *what)
{
	char *got = uid_set_of(s, max, limit);

	is_str(got, want, "uid set: %s", what);
	free(got);
}

static void
test_uid_set(void)
{
	check_uid_set("1", UINT32_MAX, 100, "1", "one UID");
	check_uid_set("1:3,7", UINT32_MAX, 100, "1 2 3 7", "a range and one");
	check_uid_set("5:2", UINT32_MAX, 100, "2 3 4 5", "a range reversed");
	check_uid_set(
	    "7,1:3", UINT32_MAX, 100, "7 1 2 3", "in the order written");
	check_uid_set("41,43:46", 44, 100, "41 43 44", "cut at max");
	check_uid_set("41,43:46", 40, 100, "", "all above max");
	check_uid_set(
	    "1:4294967295", 3, 10, "1 2 3", "the widest range cut at max");
	check_uid_set("4294967294:4294967295", UINT32_MAX, 10,
	    "4294967294 4294967295", "the last UIDs");
	check_uid_set("1:4", UINT32_MAX, 4, "1 2 3 4", "limit reached");
	check_uid_set("1:5", UINT32_MAX, 4, "(refused)", "limit exceeded");
	check_uid_set("1:3,2:3", UINT32_MAX, 4, "(refused)",
	    "limit exceeded over two ranges");
	check_uid_set(
	    "1:10", 4, 4, "1 2 3 4", "UIDs above max count not to limit");
	check_uid_set("1,,2", UINT32_MAX, 100, "(refused)", "two commas");
	check_uid_set("a", UINT32_MAX, 100, "(refused)", "a letter");
	check_uid_set("1:", UINT32_MAX, 100, "(refused)", "an open range");
	check_uid_set(":3", UINT32_MAX, 100, "(refused)", "no start");
	check_uid_set("0", UINT32_MAX, 100, "(refused)", "UID 0");
	check_uid_set("0:3", UINT32_MAX, 100, "(refused)", "from UID 0");
	check_uid_set("3:0", UINT32_MAX, 100, "(refused)", "to UID 0");
	check_uid_set("4294967296", UINT32_MAX, 100, "(refused)", "2^32");
	check_uid_set(
	    "1:4294967296", UINT32_MAX, 100, "(refused)", "a range to 2^32");
	check_uid_set("99999999999999999999999", UINT32_MAX, 100, "(refused)",
	    "over 2^64");
	check_uid_set("", UINT32_MAX, 100, "(refused)", "empty");
	check_uid_set("1,", UINT32_MAX, 100, "(refused)", "a comma last");
	check_uid_set(",1", UINT32_MAX, 100, "(refused)", "a comma first");
	check_uid_set("1 2", UINT32_MAX, 100, "(refused)", "a space");
	check_uid_set(" 1", UINT32_MAX, 100, "(refused)", "a space first");
	check_uid_set("1:*", UINT32_MAX, 100, "(refused)", "a star");
	check_uid_set("1:2:3", UINT32_MAX, 100, "(refused)", "two colons");
}

int
main(void)
{
	test_whole();
	test_byte_by_byte();
	test_random_chunks();
	test_every_cut();
	test_literal_at_chunk_end();
	test_stolen_literals();
	test_truncated_literal();
	test_literal_sizes();
	test_long_line();
	test_literal_count();
	test_stop();
	test_fetch();
	test_fetch_malformed();
	test_fetch_gmail();
	test_fetch_gmail_malformed();
	test_not_fetch();
	test_count();
	test_tagged_status();
	test_bye();
	test_uid_set();
	return tap_done();
}
