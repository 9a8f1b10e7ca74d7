/*
 * HTML to plain text, in one pass over the markup with a bounded stack
 * of open elements. What a reader sees is kept, laid out as text:
 *   - links as "text <url>" when the target says more than the text
 *     (not for javascript:, in-page "#..." or empty targets, nor when
 *     the text is the address itself, with or without its scheme);
 *   - list items as "- item" or "1. item", indented when nested;
 *     block quotes with "> " on each line, "> > " when nested;
 *   - headings and paragraphs apart by a blank line, <br> a line end,
 *     table rows as lines with their cells split by " | ";
 *   - entities decoded as browsers do (html_entity.c).
 * What a reader does not see is dropped: script, style and title (their
 * content is not even markup), comments, <template>, elements with the
 * hidden attribute, and elements a style hides (display:none,
 * visibility:hidden, opacity:0, or max-height:0 or height:0 with
 * overflow:hidden: the tricks of "preheader" text; html_style.c). Text
 * a browser would show from an unclosed <head> is kept, as a browser
 * does.
 *
 * Malformed markup is read the way browsers mostly read it: unknown end
 * tags are ignored, an end tag closes the elements left open inside
 * it, and <p>, <li>, <td>, <tr> and <a> close their open predecessor.
 * The work is linear in the input whatever the markup: the stack holds
 * MAX_DEPTH elements (deeper ones count and keep their line breaks
 * only), every search of it is bounded by that depth, a failed search
 * for a closing quote is remembered, and what is printed per line for
 * nesting is bounded by MAX_SHOWN.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "html_entity.h"
#include "html_style.h"
#include "html_text.h"
#include "text.h"
#include "util.h"

#define MAX_DEPTH 128 /* open elements tracked */
#define MAX_SHOWN 8 /* quote markers and list indents printed */
#define MAX_HREF 2048 /* longer link targets are not printed */
#define NAME_LEN 16 /* tag names are compared on their first 15 bytes */
#define LINK_NOT_STARTED SIZE_MAX

enum tag_kind {
	TAG_INLINE,
	TAG_LINE, /* on lines of its own */
	TAG_PARAGRAPH, /* apart by blank lines */
	TAG_BREAK, /* br: one line end */
	TAG_RULE, /* hr */
	TAG_LIST, /* ul, ol */
	TAG_ITEM, /* li */
	TAG_QUOTE, /* blockquote */
	TAG_TABLE,
	TAG_ROW, /* tr */
	TAG_CELL, /* td, th */
	TAG_LINK, /* a */
	TAG_PRE,
	TAG_RAW, /* script, style, title: content is no markup, dropped */
	TAG_TEMPLATE, /* content is markup, never shown */
};

#define TAG_VOID 0x01 /* never has content or an end tag */
#define TAG_BLOCK 0x02 /* closes an open <p> */

struct tag {
	const char *name;
	enum tag_kind kind;
	unsigned flags;
};

/* Sorted by strcmp() for bsearch(); other tags are inline. */
static const struct tag tags[] = {
    {"a", TAG_LINK, 0},
    {"address", TAG_PARAGRAPH, TAG_BLOCK},
    {"area", TAG_INLINE, TAG_VOID},
    {"article", TAG_LINE, TAG_BLOCK},
    {"aside", TAG_LINE, TAG_BLOCK},
    {"base", TAG_INLINE, TAG_VOID},
    {"blockquote", TAG_QUOTE, TAG_BLOCK},
    {"br", TAG_BREAK, TAG_VOID},
    {"caption", TAG_LINE, 0},
    {"center", TAG_LINE, TAG_BLOCK},
    {"col", TAG_INLINE, TAG_VOID},
    {"dd", TAG_LINE, TAG_BLOCK},
    {"div", TAG_LINE, TAG_BLOCK},
    {"dl", TAG_PARAGRAPH, TAG_BLOCK},
    {"dt", TAG_LINE, TAG_BLOCK},
    {"embed", TAG_INLINE, TAG_VOID},
    {"fieldset", TAG_PARAGRAPH, TAG_BLOCK},
    {"figcaption", TAG_LINE, TAG_BLOCK},
    {"figure", TAG_PARAGRAPH, TAG_BLOCK},
    {"footer", TAG_LINE, TAG_BLOCK},
    {"form", TAG_LINE, TAG_BLOCK},
    {"h1", TAG_PARAGRAPH, TAG_BLOCK},
    {"h2", TAG_PARAGRAPH, TAG_BLOCK},
    {"h3", TAG_PARAGRAPH, TAG_BLOCK},
    {"h4", TAG_PARAGRAPH, TAG_BLOCK},
    {"h5", TAG_PARAGRAPH, TAG_BLOCK},
    {"h6", TAG_PARAGRAPH, TAG_BLOCK},
    {"header", TAG_LINE, TAG_BLOCK},
    {"hr", TAG_RULE, TAG_VOID | TAG_BLOCK},
    {"img", TAG_INLINE, TAG_VOID},
    {"input", TAG_INLINE, TAG_VOID},
    {"li", TAG_ITEM, TAG_BLOCK},
    {"link", TAG_INLINE, TAG_VOID},
    {"main", TAG_LINE, TAG_BLOCK},
    {"meta", TAG_INLINE, TAG_VOID},
    {"nav", TAG_LINE, TAG_BLOCK},
    {"ol", TAG_LIST, TAG_BLOCK},
    {"p", TAG_PARAGRAPH, TAG_BLOCK},
    {"param", TAG_INLINE, TAG_VOID},
    {"pre", TAG_PRE, TAG_BLOCK},
    {"script", TAG_RAW, 0},
    {"section", TAG_LINE, TAG_BLOCK},
    {"source", TAG_INLINE, TAG_VOID},
    {"style", TAG_RAW, 0},
    {"table", TAG_TABLE, TAG_BLOCK},
    {"td", TAG_CELL, 0},
    {"template", TAG_TEMPLATE, 0},
    {"th", TAG_CELL, 0},
    {"title", TAG_RAW, 0},
    {"tr", TAG_ROW, 0},
    {"track", TAG_INLINE, TAG_VOID},
    {"ul", TAG_LIST, TAG_BLOCK},
    {"wbr", TAG_INLINE, TAG_VOID},
};

static const struct tag inline_tag = {"", TAG_INLINE, 0};

/* An element on the stack. */
struct open {
	char name[NAME_LEN];
	enum tag_kind kind;
	bool hidden; /* hides its content */
	bool ordered; /* an <ol> */
	unsigned long items; /* list items so far, or the <ol>'s start - 1 */
};

/* The attributes that matter here, as spans of the input. */
struct attrs {
	const char *href, *style, *start;
	size_t href_len, style_len, start_len;
	bool hidden;
};

struct html {
	const char *s;
	size_t len;
	struct buf out;

	struct open stack[MAX_DEPTH];
	size_t depth;
	size_t overflow; /* open elements beyond MAX_DEPTH */
	int hidden; /* open elements hiding their content */
	int quotes; /* open block quotes */
	int lists; /* open lists */
	int pre; /* open <pre>: white space kept */
	int paragraphs; /* open <p> */

	/* Layout owed, written before the next text. */
	int breaks; /* line ends: 0, 1 or 2 (a blank line) */
	int break_quotes; /* fewest open quotes while breaks were owed */
	bool space;
	bool cell; /* a new table cell: " | " unless at a line start */
	char marker[32]; /* a list item's "-" or "12." */

	/* The open link whose target is printed after its text. */
	bool link;
	struct buf href;
	size_t link_start; /* where its text starts in out, once it has */

	/* A failed search for a closing quote fails for the rest of the
	 * input too; remembering it keeps hostile markup linear. */
	bool no_dquote, no_squote;
};

/*
 * Characters
 */

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char
lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* Whether two tag names (NUL-terminated, at most NAME_LEN bytes) are
 * the same. Written out rather than strcmp(): the stack is searched
 * by name for every end tag, and this stays cheap under sanitizers. */
static bool
same_name(const char *a, const char *b)
{
	size_t i;

	for (i = 0; i < NAME_LEN && a[i] == b[i] && a[i] != '\0'; i++)
		;
	return i == NAME_LEN || a[i] == b[i];
}

/* True when s[0..n) equals the lower-case word, ignoring ASCII case. */
static bool
equals_word(const char *s, size_t n, const char *word)
{
	size_t i;

	for (i = 0; i < n && word[i] != '\0'; i++)
		if (lower(s[i]) != word[i])
			return false;
	return i == n && word[i] == '\0';
}

/* True when s[0..n) starts with the lower-case prefix, ignoring case. */
static bool
has_prefix(const char *s, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);

	return n >= k && equals_word(s, k, prefix);
}

static void
trim_span(const char **s, size_t *n)
{
	while (*n > 0 && is_space(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && is_space((*s)[*n - 1]))
		(*n)--;
}

/*
 * Output: text goes out through flush_layout(), which writes the line
 * ends, quote markers, list marker or separator owed before it. Nothing
 * is written while a hidden element is open.
 */

static void
strip_trailing_blanks(struct buf *b)
{
	while (b->len > 0 &&
	    (b->data[b->len - 1] == ' ' || b->data[b->len - 1] == '\t'))
		b->len--;
	if (b->data != NULL)
		b->data[b->len] = '\0';
}

static void
write_quote_markers(struct html *h, int n)
{
	for (int i = 0; i < n && i < MAX_SHOWN; i++)
		buf_append(&h->out, "> ", 2);
}

static void
flush_layout(struct html *h)
{
	bool line_start = h->out.len == 0;

	if (h->breaks > 0 && h->out.len > 0) {
		strip_trailing_blanks(&h->out);
		buf_append(&h->out, "\n", 1);
		if (h->breaks > 1) {
			/* A blank line inside a quote stays quoted. */
			write_quote_markers(h,
			    h->break_quotes < h->quotes ? h->break_quotes
							: h->quotes);
			strip_trailing_blanks(&h->out);
			buf_append(&h->out, "\n", 1);
		}
		line_start = true;
	}
	if (line_start)
		write_quote_markers(h, h->quotes);
	if (h->marker[0] != '\0') {
		buf_appends(&h->out, h->marker);
		buf_append(&h->out, " ", 1);
		h->marker[0] = '\0';
	} else if (!line_start && h->cell)
		buf_append(&h->out, " | ", 3);
	else if (!line_start && h->space)
		buf_append(&h->out, " ", 1);
	h->breaks = 0;
	h->space = false;
	h->cell = false;
	/* The link's text starts here, after the layout owed before it. */
	if (h->link && h->link_start == LINK_NOT_STARTED)
		h->link_start = h->out.len;
}

static void
out_text(struct html *h, const char *s, size_t n)
{
	if (n == 0 || h->hidden > 0)
		return;
	flush_layout(h);
	buf_append(&h->out, s, n);
}

static void
out_codepoint(struct html *h, uint32_t cp)
{
	if (h->hidden > 0)
		return;
	/* &nbsp; reads as a space (see html_entity.c). */
	if (cp == ' ') {
		h->space = true;
		return;
	}
	flush_layout(h);
	text_append_codepoint(&h->out, cp);
}

/* Owes n line ends (2: a blank line) before the next text. */
static void
out_break(struct html *h, int n)
{
	if (h->hidden > 0)
		return;
	if (h->breaks == 0 || h->quotes < h->break_quotes)
		h->break_quotes = h->quotes;
	if (n > h->breaks)
		h->breaks = n;
	h->space = false;
	h->cell = false;
}

/* A <br>, or a line end inside <pre>: each one counts, up to a blank
 * line. */
static void
out_line_end(struct html *h)
{
	if (h->hidden > 0)
		return;
	out_break(h, h->breaks < 2 ? h->breaks + 1 : 2);
}

static void
out_whitespace(struct html *h, char c)
{
	if (h->hidden > 0)
		return;
	if (!h->pre)
		h->space = true;
	else if (c == '\n')
		out_line_end(h);
	else if (c != '\r')
		out_text(h, &c, 1);
}

/*
 * Links
 */

/* s[0..n) without a leading http:// or https:// and a trailing '/'. */
static void
strip_scheme(const char **s, size_t *n)
{
	static const char *const schemes[] = {"http://", "https://"};

	for (size_t i = 0; i < nitems(schemes); i++)
		if (has_prefix(*s, *n, schemes[i])) {
			*s += strlen(schemes[i]);
			*n -= strlen(schemes[i]);
			break;
		}
	if (*n > 0 && (*s)[*n - 1] == '/')
		(*n)--;
}

/* Whether the link text already says where the link goes. */
static bool
text_names_target(const char *text, size_t tn, const char *href, size_t hn)
{
	if (has_prefix(href, hn, "mailto:")) {
		href += 7;
		hn -= 7;
	} else {
		strip_scheme(&text, &tn);
		strip_scheme(&href, &hn);
	}
	if (tn != hn)
		return false;
	for (size_t i = 0; i < tn; i++)
		if (lower(text[i]) != lower(href[i]))
			return false;
	return true;
}

static bool
target_is_useful(const char *href, size_t n)
{
	return n > 0 && href[0] != '#' && !has_prefix(href, n, "javascript:");
}

/* Appends the attribute value s[0..n) to b with its references
 * decoded and without the tabs and line ends a URL drops; false (and
 * b emptied) when it grows beyond max bytes. */
static bool
decode_attr(struct buf *b, const char *s, size_t n, size_t max)
{
	uint32_t cp;
	size_t i = 0, k;

	buf_reset(b);
	while (i < n) {
		if (b->len > max) {
			buf_reset(b);
			return false;
		}
		if (s[i] == '&' &&
		    (k = html_entity_decode(s + i, n - i, true, &cp)) > 0) {
			text_append_codepoint(b, cp);
			i += k;
			continue;
		}
		if (s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			buf_append(b, s + i, 1);
		i++;
	}
	return true;
}

static void
link_open(struct html *h, const struct attrs *a)
{
	const char *href = a->href;
	size_t n = a->href_len;

	h->link = false;
	if (h->hidden > 0 || href == NULL)
		return;
	trim_span(&href, &n);
	if (!decode_attr(&h->href, href, n, MAX_HREF))
		return;
	if (!target_is_useful(h->href.data, h->href.len))
		return;
	h->link = true;
	h->link_start = LINK_NOT_STARTED;
}

static void
link_close(struct html *h)
{
	const char *text;
	size_t n;

	if (!h->link)
		return;
	h->link = false;
	/* A link without text has not started; blanks of a <pre> inside
	 * it may have been stripped at a line end since. */
	if (h->link_start >= h->out.len)
		return;
	text = h->out.data + h->link_start;
	n = h->out.len - h->link_start;
	trim_span(&text, &n);
	/* An image link without alt text has no text to add the target
	 * to; newsletters are full of them. */
	if (n == 0 || text_names_target(text, n, h->href.data, h->href.len))
		return;
	h->space = true;
	out_text(h, "<", 1);
	out_text(h, h->href.data, h->href.len);
	out_text(h, ">", 1);
}

/*
 * Tags
 */

static int
tag_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct tag *)elem)->name);
}

static const struct tag *
tag_find(const char *name)
{
	const struct tag *t;

	t = bsearch(name, tags, nitems(tags), sizeof(tags[0]), tag_cmp);
	return t ? t : &inline_tag;
}

/* Offset of the first c in s[from..len), or len. */
static size_t
find_char(const char *s, size_t from, size_t len, char c)
{
	const char *p;

	if (from >= len)
		return len;
	p = memchr(s + from, c, len - from);
	return p ? (size_t)(p - s) : len;
}

/* Offset just past the '>' closing the tag whose attributes start at
 * i, honouring quoted attribute values; len when it never closes. */
static size_t
tag_end(struct html *h, size_t i)
{
	while (i < h->len) {
		char c = h->s[i];

		if (c == '>')
			return i + 1;
		if ((c == '"' && !h->no_dquote) ||
		    (c == '\'' && !h->no_squote)) {
			size_t close = find_char(h->s, i + 1, h->len, c);

			if (close < h->len) {
				i = close + 1;
				continue;
			}
			/* An unmatched quote is just a character. */
			if (c == '"')
				h->no_dquote = true;
			else
				h->no_squote = true;
		}
		i++;
	}
	return h->len;
}

static void
attr_keep(
    struct attrs *a, const char *name, size_t nn, const char *v, size_t vn)
{
	if (equals_word(name, nn, "href")) {
		a->href = v;
		a->href_len = vn;
	} else if (equals_word(name, nn, "style")) {
		a->style = v;
		a->style_len = vn;
	} else if (equals_word(name, nn, "start")) {
		a->start = v;
		a->start_len = vn;
	} else if (equals_word(name, nn, "hidden"))
		a->hidden = true;
}

/* Reads the attributes in s[i..end), end being past the tag's '>'. */
static void
attrs_read(const struct html *h, size_t i, size_t end, struct attrs *a)
{
	const char *s = h->s;

	memset(a, 0, sizeof(*a));
	if (end > i && s[end - 1] == '>')
		end--;
	while (i < end) {
		size_t name = i, nn, v, vn = 0;

		if (is_space(s[i]) || s[i] == '/') {
			i++;
			continue;
		}
		while (i < end && !is_space(s[i]) && s[i] != '=' && s[i] != '/')
			i++;
		nn = i - name;
		while (i < end && is_space(s[i]))
			i++;
		v = i;
		if (i < end && s[i] == '=') {
			for (i++; i < end && is_space(s[i]); i++)
				;
			if (i < end && (s[i] == '"' || s[i] == '\'')) {
				size_t close = find_char(s, i + 1, end, s[i]);

				v = i + 1;
				vn = close - v;
				i = close < end ? close + 1 : end;
			} else {
				for (v = i; i < end && !is_space(s[i]); i++)
					;
				vn = i - v;
			}
		}
		attr_keep(a, s + name, nn, s + v, vn);
	}
}

/* The <ol start> attribute as the count of items before the first. */
static unsigned long
list_start(const struct attrs *a)
{
	unsigned long v = 0;
	size_t i;

	if (a->start == NULL)
		return 0;
	for (i = 0; i < a->start_len && i < 9 && is_digit(a->start[i]); i++)
		v = v * 10 + (unsigned long)(a->start[i] - '0');
	return i > 0 && v > 0 ? v - 1 : 0;
}

/*
 * The stack of open elements
 */

/* Undoes what opening e did. */
static void
pop_one(struct html *h)
{
	struct open *e = &h->stack[--h->depth];

	if (e->kind == TAG_QUOTE)
		h->quotes--;
	else if (e->kind == TAG_LIST)
		h->lists--;
	else if (e->kind == TAG_PRE)
		h->pre--;
	if (same_name(e->name, "p"))
		h->paragraphs--;
	if (e->hidden) {
		h->hidden--;
		return;
	}
	switch (e->kind) {
	case TAG_LINE:
	case TAG_ITEM:
	case TAG_ROW:
		out_break(h, 1);
		break;
	case TAG_PARAGRAPH:
	case TAG_QUOTE:
	case TAG_TABLE:
	case TAG_PRE:
		out_break(h, 2);
		break;
	case TAG_LIST:
		out_break(h, h->lists > 0 ? 1 : 2);
		break;
	case TAG_LINK:
		link_close(h);
		break;
	default:
		break;
	}
}

/* Closes the elements from the top down to and with stack[k]. */
static void
pop_to(struct html *h, size_t k)
{
	while (h->depth > k)
		pop_one(h);
}

static bool
stops_search(enum tag_kind kind, const enum tag_kind *stop, size_t nstop)
{
	for (size_t i = 0; i < nstop; i++)
		if (kind == stop[i])
			return true;
	return false;
}

/* Closes the topmost open element of the given kind (and what is open
 * inside it), unless an element of a kind in stop comes first. */
static void
close_open(
    struct html *h, enum tag_kind kind, const enum tag_kind *stop, size_t n)
{
	for (size_t k = h->depth; k-- > 0;) {
		if (h->stack[k].kind == kind) {
			pop_to(h, k);
			return;
		}
		if (stops_search(h->stack[k].kind, stop, n))
			return;
	}
}

/* Where the search for an open element to close stops: a paragraph,
 * item, cell or row is not closed from inside a table, cell or list
 * of its own. */
static const enum tag_kind p_stops[] = {TAG_TABLE, TAG_CELL, TAG_TEMPLATE};
static const enum tag_kind item_stops[] = {
    TAG_LIST, TAG_TABLE, TAG_CELL, TAG_QUOTE, TAG_TEMPLATE};
static const enum tag_kind cell_stops[] = {TAG_ROW, TAG_TABLE, TAG_TEMPLATE};
static const enum tag_kind row_stops[] = {TAG_TABLE, TAG_TEMPLATE};

/* Closes an open <p>, as a block starting inside it does. */
static void
close_paragraph(struct html *h)
{
	if (h->paragraphs == 0)
		return;
	for (size_t k = h->depth; k-- > 0;) {
		if (same_name(h->stack[k].name, "p")) {
			pop_to(h, k);
			return;
		}
		if (stops_search(h->stack[k].kind, p_stops, nitems(p_stops)))
			return;
	}
}

/* What a start tag closes first: an open <p> before a block, an open
 * list item, cell, row or link before a new one. */
static void
close_implied(struct html *h, const struct tag *t)
{
	if (t->flags & TAG_BLOCK)
		close_paragraph(h);
	if (t->kind == TAG_ITEM)
		close_open(h, TAG_ITEM, item_stops, nitems(item_stops));
	else if (t->kind == TAG_CELL)
		close_open(h, TAG_CELL, cell_stops, nitems(cell_stops));
	else if (t->kind == TAG_ROW)
		close_open(h, TAG_ROW, row_stops, nitems(row_stops));
	else if (t->kind == TAG_LINK)
		close_open(h, TAG_LINK, NULL, 0);
}

/* The innermost open list, or NULL. */
static struct open *
innermost_list(struct html *h)
{
	for (size_t k = h->depth; k-- > 0;)
		if (h->stack[k].kind == TAG_LIST)
			return &h->stack[k];
	return NULL;
}

static void
item_open(struct html *h)
{
	struct open *list = innermost_list(h);
	int indent = h->lists > MAX_SHOWN ? MAX_SHOWN : h->lists;
	size_t n = 0;

	out_break(h, 1);
	if (h->hidden > 0)
		return;
	for (int i = 1; i < indent; i++) {
		h->marker[n++] = ' ';
		h->marker[n++] = ' ';
	}
	if (list != NULL && list->ordered)
		snprintf(h->marker + n, sizeof(h->marker) - n, "%lu.",
		    ++list->items);
	else
		snprintf(h->marker + n, sizeof(h->marker) - n, "-");
}

/* What opening an element of kind t does to the layout. */
static void
open_effects(struct html *h, const struct tag *t, const struct attrs *a)
{
	switch (t->kind) {
	case TAG_LINE:
	case TAG_ROW:
		out_break(h, 1);
		break;
	case TAG_PARAGRAPH:
	case TAG_TABLE:
	case TAG_PRE:
		out_break(h, 2);
		break;
	case TAG_LIST:
		out_break(h, h->lists > 1 ? 1 : 2);
		break;
	case TAG_ITEM:
		item_open(h);
		break;
	case TAG_CELL:
		if (h->hidden == 0)
			h->cell = true;
		break;
	case TAG_LINK:
		link_open(h, a);
		break;
	default:
		break;
	}
}

static void
push(struct html *h, const struct tag *t, const char *name,
    const struct attrs *a, bool hidden)
{
	struct open *e;

	if (h->depth == nitems(h->stack)) {
		/* Too deep to track: keep its line breaks only. */
		h->overflow++;
		if (t->kind == TAG_LINE || t->kind == TAG_PARAGRAPH)
			out_break(h, t->kind == TAG_LINE ? 1 : 2);
		return;
	}
	e = &h->stack[h->depth++];
	memcpy(e->name, name, NAME_LEN);
	e->kind = t->kind;
	e->hidden = hidden;
	e->ordered = t->kind == TAG_LIST && same_name(name, "ol");
	e->items = e->ordered ? list_start(a) : 0;
	/* The blank line before a quote belongs to the outer level. */
	if (t->kind == TAG_QUOTE && !hidden)
		out_break(h, 2);
	if (t->kind == TAG_QUOTE)
		h->quotes++;
	else if (t->kind == TAG_LIST)
		h->lists++;
	else if (t->kind == TAG_PRE)
		h->pre++;
	if (same_name(name, "p"))
		h->paragraphs++;
	if (hidden)
		h->hidden++;
	else
		open_effects(h, t, a);
}

/* Offset past "</name...>" from i, case-insensitive; len if absent. */
static size_t
skip_raw_text(struct html *h, size_t i, const char *name)
{
	size_t n = strlen(name);

	while ((i = find_char(h->s, i, h->len, '<')) < h->len) {
		if (i + 2 + n <= h->len && h->s[i + 1] == '/' &&
		    has_prefix(h->s + i + 2, n, name) &&
		    (i + 2 + n == h->len || !is_alpha(h->s[i + 2 + n])))
			return tag_end(h, i + 2 + n);
		i++;
	}
	return h->len;
}

static size_t
start_tag(struct html *h, const char *name, size_t attrs_at)
{
	const struct tag *t = tag_find(name);
	size_t end = tag_end(h, attrs_at);
	struct attrs a;
	bool hidden;

	if (t->kind == TAG_RAW)
		return skip_raw_text(h, end, name);
	close_implied(h, t);
	if (t->kind == TAG_BREAK) {
		out_line_end(h);
		return end;
	}
	attrs_read(h, attrs_at, end, &a);
	hidden = a.hidden || t->kind == TAG_TEMPLATE ||
	    (a.style != NULL && html_style_hides(a.style, a.style_len));
	if (t->flags & TAG_VOID) {
		if (t->kind == TAG_RULE && !hidden)
			out_break(h, 2);
		return end;
	}
	push(h, t, name, &a, hidden);
	return end;
}

static size_t
end_tag(struct html *h, const char *name, size_t attrs_at)
{
	const struct tag *t = tag_find(name);
	size_t end = tag_end(h, attrs_at);

	/* Browsers read </br> as <br>. */
	if (t->kind == TAG_BREAK) {
		out_line_end(h);
		return end;
	}
	if (h->overflow > 0) {
		h->overflow--;
		return end;
	}
	for (size_t k = h->depth; k-- > 0;)
		if (same_name(h->stack[k].name, name)) {
			pop_to(h, k);
			return end;
		}
	/* A stray end tag still ends its line or paragraph. */
	if (t->kind == TAG_LINE || t->kind == TAG_PARAGRAPH)
		out_break(h, t->kind == TAG_LINE ? 1 : 2);
	return end;
}

/* Offset past the comment or declaration that starts at i, at '<'. */
static size_t
skip_markup_declaration(const struct html *h, size_t i)
{
	const char *s = h->s, *p;
	size_t len = h->len;

	if (len - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
		for (i += 4; i + 3 <= len; i++) {
			if ((p = memchr(s + i, '-', len - i)) == NULL)
				break;
			i = (size_t)(p - s);
			if (i + 3 <= len && memcmp(s + i, "-->", 3) == 0)
				return i + 3;
		}
		return len;
	}
	i = find_char(s, i, len, '>');
	return i < len ? i + 1 : len;
}

/* Handles the markup at i, at '<'; returns the offset after it. */
static size_t
markup(struct html *h, size_t i)
{
	char name[NAME_LEN];
	size_t j = i + 1, n = 0;
	bool closing = false;

	if (j < h->len && (h->s[j] == '!' || h->s[j] == '?'))
		return skip_markup_declaration(h, i);
	if (j < h->len && h->s[j] == '/') {
		closing = true;
		j++;
	}
	if (j >= h->len || !is_alpha(h->s[j])) {
		out_text(h, "<", 1);
		return i + 1;
	}
	while (j < h->len && !is_space(h->s[j]) && h->s[j] != '/' &&
	    h->s[j] != '>') {
		if (n < sizeof(name) - 1)
			name[n++] = lower(h->s[j]);
		j++;
	}
	memset(name + n, 0, sizeof(name) - n);
	return closing ? end_tag(h, name, j) : start_tag(h, name, j);
}

/*
 * Text
 */

static size_t
character_reference(struct html *h, size_t i)
{
	uint32_t cp;
	size_t n = html_entity_decode(h->s + i, h->len - i, false, &cp);

	if (n == 0) {
		out_text(h, "&", 1);
		return i + 1;
	}
	out_codepoint(h, cp);
	return i + n;
}

/* Whether a no-break space, U+00A0 in UTF-8, is at i: it reads as a
 * space, as &nbsp; does. */
static bool
is_nbsp(const struct html *h, size_t i)
{
	return h->s[i] == '\xc2' && i + 1 < h->len && h->s[i + 1] == '\xa0';
}

/* Offset past the run of plain text at i. */
static size_t
text_run(struct html *h, size_t i)
{
	size_t run = i;

	while (run < h->len && h->s[run] != '<' && h->s[run] != '&' &&
	    !is_space(h->s[run]) && h->s[run] != '\0' && !is_nbsp(h, run))
		run++;
	if (run == i)
		return i + 1; /* a NUL byte: not text */
	out_text(h, h->s + i, run - i);
	return run;
}

char *
html_text(const char *s, size_t len)
{
	struct html *h = xmalloc(sizeof(*h));
	size_t i = 0;
	char *out;

	memset(h, 0, sizeof(*h));
	h->s = s;
	h->len = len;
	buf_init(&h->out);
	buf_init(&h->href);
	buf_reserve(&h->out, len / 2);
	while (i < len) {
		char c = s[i];

		if (c == '<')
			i = markup(h, i);
		else if (c == '&')
			i = character_reference(h, i);
		else if (is_space(c)) {
			out_whitespace(h, c);
			i++;
		} else if (is_nbsp(h, i)) {
			out_whitespace(h, ' ');
			i += 2;
		} else
			i = text_run(h, i);
	}
	/* What ends with the input: an open link still shows its target. */
	pop_to(h, 0);
	strip_trailing_blanks(&h->out);
	buf_free(&h->href);
	out = text_clean_owned(buf_steal(&h->out));
	free(h);
	return out;
}
