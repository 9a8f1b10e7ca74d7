/*
 * html_text(), html_entity_decode() and html_style_hides(): links,
 * hidden content, lists, quotes, blocks, tables, entities, malformed
 * markup, and hostile input that must stay linear.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "html_entity.h"
#include "html_style.h"
#include "html_text.h"
#include "tap.h"
#include "text.h"
#include "util.h"

static void
check(const char *html, const char *want, const char *what)
{
	char *got = html_text(html, strlen(html));

	is_str(got, want, "%s", what);
	free(got);
}

static void
test_links(void)
{
	check("See <a href=\"https://example.com/x\">our site</a>.",
	    "See our site <https://example.com/x>.", "link: target kept");
	check("<a href='https://example.com/a?b=1&amp;c=2'>go</a>",
	    "go <https://example.com/a?b=1&c=2>", "link: target decoded");
	check("<a href=\"https://example.com/a?x=1&copy=2\">go</a>",
	    "go <https://example.com/a?x=1&copy=2>",
	    "link: legacy name before '=' in a target is not decoded");
	check("<a href=\"https://example.com/\">https://example.com/</a>",
	    "https://example.com/", "link: text is the target");
	check("<a href=\"https://www.example.com/\">www.example.com</a>",
	    "www.example.com", "link: text is the target without scheme");
	check("<a href=\"mailto:bob@example.com\">bob@example.com</a>",
	    "bob@example.com", "link: mailto equal to the text");
	check("<a href=\"mailto:bob@example.com\">Bob</a>",
	    "Bob <mailto:bob@example.com>", "link: mailto with a name");
	check("<a href=\"javascript:void(0)\">menu</a>", "menu",
	    "link: javascript dropped");
	check("<a href=\"JavaScript:x()\">menu</a>", "menu",
	    "link: javascript in any case");
	check("<a href=\"\">empty</a> <a>none</a> <a href=\"#top\">top</a>",
	    "empty none top", "link: empty, absent and in-page targets");
	check("<a href=\"https://e.com/i\"><img src=\"x.png\"></a>", "",
	    "link: image without text adds nothing");
	check("<a href=\"https://e.com/1\">one<a href=\"https://e.com/2\">two",
	    "one <https://e.com/1>two <https://e.com/2>",
	    "link: an unclosed link is closed by the next");
	check("<a href=\"https://e.com/x\">cut off",
	    "cut off <https://e.com/x>", "link: unclosed at the end");
	check("<div style=\"display:none\"><a href=\"https://e.com/h\">h</a>"
	      "</div>ok",
	    "ok", "link: hidden link has no target");
	check("<a href=\"x>y\">link</a>", "link <x>y>",
	    "link: quoted > in the target");
	check("<a href=\"https://e.com/a\n\tb\">go</a>",
	    "go <https://e.com/ab>", "link: line ends in a target dropped");
	check("<pre>a    <a href=\"https://e.com/\">\nx</a></pre>",
	    "a\nx <https://e.com/>",
	    "link: starting after blanks a line end strips");
}

static void
test_hidden(void)
{
	check("<div style=\"display:none\">PREHEADER</div>Visible", "Visible",
	    "hidden: display:none");
	check("<span style=\"DISPLAY : None !important\">x</span>Visible",
	    "Visible", "hidden: display none, any case, !important");
	check("<p style=\"color:red;visibility:hidden\">x</p>Visible",
	    "Visible", "hidden: visibility:hidden");
	check("<div style=\"max-height:0px;overflow:hidden;mso-hide:all\">x"
	      "</div>Visible",
	    "Visible", "hidden: max-height:0 with overflow:hidden");
	check("<div style=\"opacity:0\">x</div>Visible", "Visible",
	    "hidden: opacity:0");
	check("<div style=\"opacity:0.5\">half</div>", "half",
	    "hidden: opacity:0.5 is visible");
	check("<div style=\"max-height:0\">shown</div>", "shown",
	    "hidden: max-height:0 alone overflows, visible");
	check("<div style=\"display:block\">shown</div>", "shown",
	    "hidden: display:block is visible");
	check("<p hidden>x</p>Visible", "Visible", "hidden: hidden attribute");
	check("<p HIDDEN=\"hidden\">x</p>Visible", "Visible",
	    "hidden: hidden attribute with a value");
	check("<template><p>x</p></template>Visible", "Visible",
	    "hidden: template");
	check("<html><head><title>T</title><style>p{}</style>"
	      "<script>var a = '<p>s</p>';</script><meta charset=utf-8>"
	      "</head><body>Visible</body></html>",
	    "Visible", "hidden: head, title, style, script");
	check("a <!-- <p>comment</p> --> b", "a b", "hidden: comment");
	check("<div style=\"display:none\"><div>inner</div><p>more</p></div>"
	      "Visible",
	    "Visible", "hidden: nested content");
	check("<div style=\"display:none\"><b>unclosed</div>Visible", "Visible",
	    "hidden: unclosed inline inside is closed with it");
	check("<p style=\"display:none\">x<div>shown</div>", "shown",
	    "hidden: a block closes the hidden paragraph");
	check("<td style=\"display:none\">x</td>", "",
	    "hidden: stray hidden cell");
}

static void
test_style(void)
{
	static const struct {
		const char *css;
		bool hides;
	} styles[] = {{"display:none", true}, {"DISPLAY : NONE", true},
	    {"color:red; display: none !important;", true},
	    {"display:nonex", false}, {"display:block", false},
	    {"visibility:collapse", true}, {"opacity: .0", true},
	    {"opacity:0.05", false}, {"opacity:0%", true},
	    {"overflow:hidden;max-height:0px", true},
	    {"height:0;overflow:hidden", true}, {"max-height:0px", false},
	    {"overflow:hidden", false}, {"max-height:0;overflow:auto", false},
	    {"", false}, {";;:;", false}, {"display", false}};

	for (size_t i = 0; i < nitems(styles); i++)
		ok(html_style_hides(styles[i].css, strlen(styles[i].css)) ==
			styles[i].hides,
		    "style \"%s\" %s", styles[i].css,
		    styles[i].hides ? "hides" : "shows");
}

static void
test_lists_quotes(void)
{
	check("<ul><li>one<li>two</ul>", "- one\n- two",
	    "list: unordered, unclosed items");
	check("<ol><li>first</li><li>second</li></ol>", "1. first\n2. second",
	    "list: ordered");
	check("<ol start=\"7\"><li>a<li>b</ol>", "7. a\n8. b",
	    "list: ordered with start");
	check("<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>",
	    "- a\n  - b\n- c", "list: nested");
	check("<p>Before</p><ul><li><p>para item</p></li></ul><p>After</p>",
	    "Before\n\n- para item\n\nAfter", "list: item holding a paragraph");
	check("<li>stray</li>", "- stray", "list: item without a list");
	check("<p>Intro</p><blockquote>quoted<br>two</blockquote>after",
	    "Intro\n\n> quoted\n> two\n\nafter", "quote: each line marked");
	check("<blockquote>a<blockquote>b</blockquote>c</blockquote>",
	    "> a\n>\n> > b\n>\n> c", "quote: nested");
	check("<blockquote><p>p1</p><p>p2</p></blockquote>", "> p1\n>\n> p2",
	    "quote: blank line inside stays quoted");
	check("<blockquote><ul><li>x</li></ul></blockquote>", "> - x",
	    "quote: list inside");
	check("<blockquote>never closed", "> never closed", "quote: unclosed");
}

static void
test_blocks(void)
{
	check("<p>Hello <b>world</b></p>", "Hello world", "inline tags");
	check("a<br>b<BR/>c</br>d", "a\nb\nc\nd", "br, and </br> as browsers");
	check("a<br><br>b", "a\n\nb", "two br: a blank line");
	check("<p>one</p><p>two</p>", "one\n\ntwo", "paragraphs");
	check("<p>one<p>two", "one\n\ntwo", "paragraphs left open");
	check("<div>a</div>\n\n\n<div>b</div>", "a\nb", "divs");
	check("<p>a</p><p></p><p></p><br><br><br><p>b</p>", "a\n\nb",
	    "blank lines collapse to one");
	check("<h1>Title</h1>Text<h2>Sub</h2>More",
	    "Title\n\nText\n\nSub\n\nMore", "headings");
	check("a<hr>b", "a\n\nb", "hr");
	check("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td>"
	      "</tr></table>",
	    "a | b\nc | d", "table rows and cells");
	check("<table><tr><th>Item<th>Price<tr><td>Tea<td>3</table>",
	    "Item | Price\nTea | 3", "table with unclosed cells and rows");
	check("<table><tr><td><p>block</p></td><td>next</td></tr></table>",
	    "block\n\nnext", "a cell on its own line is not separated");
	check("<table><tr><td></td><td>only</td></tr></table>", "only",
	    "empty cell adds no separator");
	check("  lots   of\n\twhite  space  ", "lots of white space",
	    "whitespace collapses");
	check("<pre>a  b\n  c</pre>", "a  b\n  c", "pre keeps spacing");
	check("<title>t</title>ok", "ok", "title dropped");
	check("<!DOCTYPE html><html>x</html>", "x", "doctype dropped");
	check("<?xml version=\"1.0\"?>x", "x", "processing instruction");
	check("<o:p>Outlook</o:p> text", "Outlook text", "prefixed tags");
	check("", "", "empty");
}

static void
test_entities(void)
{
	check("a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#x27;",
	    "a & b <c> \"d\" 'e'", "entities: basic and numeric");
	check("AT&amp;T &copy 2024 &lt;x&gt &AMP; &REG",
	    "AT&T \xc2\xa9 2024 <x> & \xc2\xae",
	    "entities: legacy ones without ';'");
	check("&notit; &ampx &eacuteclair",
	    "\xc2\xacit; &x \xc3\xa9"
	    "clair",
	    "entities: longest legacy prefix, as browsers");
	check("&hellip &euro &mdash", "&hellip &euro &mdash",
	    "entities: non-legacy names need ';'");
	check("&hellip;&euro;&mdash;", "\xe2\x80\xa6\xe2\x82\xac\xe2\x80\x94",
	    "entities: with ';'");
	check("&#0;&#xD800;&#x110000;&#99999999999999999999;",
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
	    "entities: invalid code points become U+FFFD");
	check("&#150;&#x80;", "\xe2\x80\x93\xe2\x82\xac",
	    "entities: C1 range read as windows-1252");
	check("&#65&#x42;", "AB", "entities: numeric without ';'");
	check("&bogus; & &; &#; &#x;", "&bogus; & &; &#; &#x;",
	    "entities: unknown ones kept");
	check("x&nbsp;y &nbsp; z", "x y z", "entities: nbsp is a space");
	check("\xc2\xa0x\xc2\xa0\xc2\xa0y\xc2\xa0", "x y",
	    "a no-break space character is a space too");
	check("<pre>a\xc2\xa0 b</pre>", "a  b", "and kept in pre");
}

/* Names from both ends and the middle of the sorted table: one out of
 * order there would not be found. */
static void
test_entity_table(void)
{
	static const struct {
		const char *ref;
		uint32_t cp;
	} refs[] = {{"&AElig;", 0xc6}, {"&AMP;", '&'}, {"&Aacute;", 0xc1},
	    {"&COPY;", 0xa9}, {"&Ccedil;", 0xc7}, {"&Dagger;", 0x2021},
	    {"&ETH;", 0xd0}, {"&GT;", '>'}, {"&LT;", '<'}, {"&OElig;", 0x152},
	    {"&Oacute;", 0xd3}, {"&QUOT;", '"'}, {"&REG;", 0xae},
	    {"&Yuml;", 0x178}, {"&aacute;", 0xe1}, {"&frac34;", 0xbe},
	    {"&ge;", 0x2265}, {"&gt;", '>'}, {"&mdash;", 0x2014},
	    {"&not;", 0xac}, {"&ntilde;", 0xf1}, {"&yuml;", 0xff},
	    {"&zwj;", 0x200d}, {"&zwnj;", 0x200c}};

	for (size_t i = 0; i < nitems(refs); i++) {
		uint32_t cp = 0;
		size_t n = strlen(refs[i].ref);

		ok(html_entity_decode(refs[i].ref, n, false, &cp) == n &&
			cp == refs[i].cp,
		    "table: %s", refs[i].ref);
	}
}

static void
test_entity_decode(void)
{
	uint32_t cp = 0;

	is_int((long long)html_entity_decode("&amp;", 5, false, &cp), 5,
	    "decode: &amp; takes 5 bytes");
	is_int(cp, '&', "decode: &amp; is '&'");
	is_int((long long)html_entity_decode("&amp=", 5, true, &cp), 0,
	    "decode: in an attribute, &amp= is text");
	is_int((long long)html_entity_decode("&amp=", 5, false, &cp), 4,
	    "decode: in text, &amp= is '&' and '='");
	is_int((long long)html_entity_decode("&amp;", 4, false, &cp), 4,
	    "decode: only len bytes are read");
	is_int((long long)html_entity_decode("&", 1, false, &cp), 0,
	    "decode: a lone '&'");
	is_int((long long)html_entity_decode("&#x1F600;", 9, false, &cp), 9,
	    "decode: astral code point");
	is_int(cp, 0x1f600, "decode: U+1F600");
}

static void
test_malformed(void)
{
	check("a < b and c > d", "a < b and c > d", "bare < is text");
	check("text <unclosed tag", "text", "unclosed tag at the end");
	check("x<!-- unclosed comment", "x", "unclosed comment");
	check("<script>never closed", "", "unclosed script");
	check("<img src=\"a.png\" alt='it\"s'>ok", "ok", "quotes mixed");
	check("<a title=\"unclosed>z", "z", "unmatched quote is a character");
	check("<table><p>in table<tr><td>cell<div>unclosed</table>after",
	    "in table\ncell\nunclosed\n\nafter", "misplaced and unclosed");
	check("<b><i>bold</b>italic</i> end", "bolditalic end",
	    "misnested inline tags");
	check("</div></p></span>text</li>", "text", "stray end tags");
	check("<div>a</span>b</div>c", "ab\nc", "end tag of nothing open");
	check("<p>a\0b</p>", "a", "NUL ends the string");
	{
		char *got = html_text("a\0b", 3);

		is_str(got, "ab", "NUL bytes dropped");
		free(got);
	}
	{
		char *got = html_text("caf\xe9 <b>\xff</b>", 9);

		ok(text_is_clean(got, strlen(got)),
		    "invalid UTF-8 in: valid UTF-8 out");
		free(got);
	}
}

/* Builds count copies of unit between head and tail. */
static char *
repeat(const char *head, const char *unit, size_t count, const char *tail)
{
	struct buf b;

	buf_init(&b);
	buf_appends(&b, head);
	for (size_t i = 0; i < count; i++)
		buf_appends(&b, unit);
	buf_appends(&b, tail);
	return buf_steal(&b);
}

static double
seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Hostile markup: deep, unclosed, huge. Each finishes at once with the
 * text that follows it, and the output stays near the input's size.
 * The time allowed is generous, for sanitizers on a busy machine: work
 * quadratic in 100,000 repeats would take minutes. */
static void
test_hostile(void)
{
	static const struct {
		const char *head, *unit, *tail, *want_tail;
	} cases[] = {
	    {"", "<div>", "DEEP", "DEEP"},
	    {"", "<b>", "TAIL", "TAIL"},
	    {"<table>", "<tr><td><table>", "CELL", "CELL"},
	    {"<p>", "<b><i></b></i>", "MIS", "MIS"},
	    {"", "<blockquote>", "Q<br>Q<br>Q", "Q"},
	    {"", "<ul><li>", "ITEM", "ITEM"},
	    {"", "<div style=\"display:none\">", "H</div>", ""},
	    {"", "</div>", "STRAY", "STRAY"},
	    {"", "<a href=\"https://e.com/\">x", "</a>END", "END"},
	    {"<a title=\"", "x", "\">ATTR", "ATTR"},
	    {"", "&#", "", "#"},
	    {"", "<a \"", "", ""},
	    {"", "<a='", "", ""},
	    {"", "<!--", "", ""},
	    {"", "<script>", "", ""},
	};
	size_t count = 100000;

	for (size_t k = 0; k < nitems(cases); k++) {
		char *in = repeat(
			 cases[k].head, cases[k].unit, count, cases[k].tail),
		     *out;
		size_t len = strlen(in), olen, wl = strlen(cases[k].want_tail);
		struct timespec t0;
		double took;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		out = html_text(in, len);
		took = seconds_since(&t0);
		olen = strlen(out);
		ok(text_is_clean(out, olen) && olen <= 8 * len + 64 &&
			olen >= wl &&
			memcmp(out + olen - wl, cases[k].want_tail, wl) == 0,
		    "hostile: %zu x \"%s\" ends with \"%s\" (%zu bytes in, "
		    "%zu out)",
		    count, cases[k].unit, cases[k].want_tail, len, olen);
		ok(took < 5.0, "hostile: %zu x \"%s\" in %.3f s", count,
		    cases[k].unit, took);
		free(out);
		free(in);
	}
}

int
main(void)
{
	test_links();
	test_hidden();
	test_style();
	test_lists_quotes();
	test_blocks();
	test_entities();
	test_entity_table();
	test_entity_decode();
	test_malformed();
	test_hostile();
	return tap_done();
}
