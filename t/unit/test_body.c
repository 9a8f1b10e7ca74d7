/*
 * Body text helpers: units joined by one blank line, CRLF to LF, the
 * stored form of a body, raw text told from binary, and the charset a
 * body is decoded from.
 */
#include <stdlib.h>
#include <string.h>

#include "body.h"
#include "tap.h"
#include "util.h"

static void
check_finish(const char *in, const char *want, const char *what)
{
	struct buf b;
	char *got;

	buf_init(&b);
	buf_appends(&b, in);
	got = body_finish(&b);
	is_str(got, want, "finish: %s", what);
	ok(b.data == NULL, "finish: %s: the buffer is emptied", what);
	free(got);
}

static void
test_units(void)
{
	struct buf b;

	buf_init(&b);
	body_start_unit(&b);
	ok(b.len == 0, "unit: nothing before the first unit");
	buf_appends(&b, "one");
	body_start_unit(&b);
	buf_appends(&b, "two\n");
	body_start_unit(&b);
	buf_appends(&b, "three");
	is_str(b.data, "one\n\ntwo\n\nthree", "unit: one blank line between");
	body_cut(&b, 3);
	is_str(b.data, "one", "cut: back to 3 bytes");
	body_cut(&b, 10);
	is_str(b.data, "one", "cut: a longer length changes nothing");
	buf_reset(&b);
	buf_appends(&b, "a\r\nb\rc\r\n\r\n");
	body_crlf_to_lf(&b);
	is_str(b.data, "a\nb\rc\n\n", "crlf: CRLF to LF, a lone CR stays");
	is_int(b.len, 7, "crlf: length follows");
	buf_free(&b);
	ok(body_is_blank(" \t\r\n", 4), "blank: whitespace only");
	ok(body_is_blank("", 0), "blank: empty");
	ok(!body_is_blank(" x ", 3), "blank: not with a letter");
}

static void
test_finish(void)
{
	check_finish("\n\r\nHello\n  world \t\n\n", "Hello\n  world",
	    "leading blank lines and trailing space go");
	check_finish("  indented", "  indented", "leading spaces stay");
	check_finish(" \n\t\n", NULL, "whitespace only is no text");
	check_finish("", NULL, "empty is no text");
}

static void
test_looks_like_text(void)
{
	static const char binary[] = "\x01\x02\x03\x04text\x05\x06";

	ok(body_looks_like_text("Dear all,\r\n\tthanks.\f", 20),
	    "text: tabs, line ends and form feeds are text");
	ok(!body_looks_like_text(binary, sizeof(binary) - 1),
	    "text: mostly control bytes is not");
	ok(!body_looks_like_text("", 0), "text: nothing is not text");
}

static void
test_charset(void)
{
	static const char latin1[] = "caf\xe9";
	static const char utf8[] = "caf\xc3\xa9";

	ok(body_charset(NULL, "plain", 5) == NULL, "charset: none, ASCII");
	is_str(body_charset(NULL, latin1, 4), "windows-1252",
	    "charset: none, not UTF-8");
	ok(body_charset("UTF-8", utf8, 5) == NULL, "charset: UTF-8 label");
	is_str(body_charset("utf8", latin1, 4), "windows-1252",
	    "charset: UTF-8 label on Latin-1 bytes");
	ok(body_charset("us-ascii", utf8, 5) == NULL,
	    "charset: US-ASCII label on UTF-8 bytes");
	ok(body_charset("ISO_8859-1", utf8, 5) == NULL,
	    "charset: Latin-1 label on valid UTF-8 stays UTF-8");
	is_str(body_charset("iso8859_1", latin1, 4), "windows-1252",
	    "charset: Latin-1 is read as windows-1252");
	is_str(body_charset("KOI8-R", latin1, 4), "KOI8-R",
	    "charset: another label is converted from");
	ok(body_charset("x-unknown", utf8, 5) == NULL,
	    "charset: meaningless label");
}

int
main(void)
{
	test_units();
	test_finish();
	test_looks_like_text();
	test_charset();
	return tap_done();
}
