/*
 * UTF-8 repair, hex and base64 decoding, and HTML to plain text.
 * Everything here is linear in the input: mail bodies are large and
 * some are hostile.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "util.h"

/*
 * UTF-8
 */

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

/*
 * Length of the well-formed UTF-8 sequence starting at s (Unicode
 * table 3-7), or 0 when there is none; then *skip is the length of the
 * maximal ill-formed subpart, which becomes one U+FFFD.
 */
size_t
text_utf8_seq_len(const unsigned char *s, size_t left, size_t *skip)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 1;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		*skip = 1;
		return 0;
	}
	for (i = 1; i <= need; i++) {
		if (i >= left || s[i] < lo || s[i] > hi) {
			*skip = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return need + 1;
}

/* Bytes of printable-or-control ASCII (no NUL, no high bit) at s. */
static size_t
ascii_run(const unsigned char *s, size_t len)
{
	size_t i = 0;

	/* Eight bytes at a time: no high bit set and no zero byte. */
	while (i + 8 <= len) {
		uint64_t w;

		memcpy(&w, s + i, sizeof(w));
		if ((w & 0x8080808080808080ULL) != 0 ||
		    ((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL))
			break;
		i += 8;
	}
	while (i < len && s[i] != 0 && s[i] < 0x80)
		i++;
	return i;
}

bool
text_is_clean(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, n, skip;

	while (i < len) {
		i += ascii_run(s + i, len - i);
		if (i >= len)
			break;
		if (s[i] == 0)
			return false;
		if ((n = text_utf8_seq_len(s + i, len - i, &skip)) == 0)
			return false;
		i += n;
	}
	return true;
}

void
text_sanitize_append(struct buf *b, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, start = 0, n, skip;

	if (text_is_clean(str, len)) {
		buf_append(b, str, len);
		return;
	}
	buf_reserve(b, len + 16);
	while (i < len) {
		i += ascii_run(s + i, len - i);
		if (i >= len)
			break;
		if (s[i] != 0 &&
		    (n = text_utf8_seq_len(s + i, len - i, &skip)) != 0) {
			i += n;
			continue;
		}
		/* Flush the clean run, then repair or drop this byte. */
		buf_append(b, str + start, i - start);
		if (s[i] == 0)
			i++;
		else {
			buf_append(b, replacement, 3);
			i += skip;
		}
		start = i;
	}
	buf_append(b, str + start, len - start);
}

char *
text_sanitize(const char *s, size_t len)
{
	struct buf b;

	if (text_is_clean(s, len))
		return xstrndup(s, len);
	buf_init(&b);
	text_sanitize_append(&b, s, len);
	return buf_steal(&b);
}

enum text_utf8_kind
text_utf8_kind(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	bool multi = false, invalid = false;
	size_t i = 0, n, skip;

	while (i < len) {
		while (i < len && s[i] < 0x80)
			i++;
		if (i >= len)
			break;
		if ((n = text_utf8_seq_len(s + i, len - i, &skip)) != 0) {
			multi = true;
			i += n;
		} else {
			invalid = true;
			i += skip;
		}
	}
	if (invalid)
		return multi ? TEXT_UTF8_MIXED : TEXT_UTF8_INVALID;
	return multi ? TEXT_UTF8_VALID : TEXT_UTF8_ASCII;
}

void
text_append_codepoint(struct buf *b, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
		buf_append(b, replacement, 3);
		return;
	}
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_append(b, u, n);
}

/*
 * Hex and base64
 */

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long
text_hex_decode(const char *in, size_t len, void *out)
{
	unsigned char *o = out;
	int hi, lo;

	if (len % 2 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 2) {
		if ((hi = hex_value(in[i])) < 0 ||
		    (lo = hex_value(in[i + 1])) < 0)
			return -1;
		o[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	return (long)(len / 2);
}

static int
base64_value(unsigned char c, int flags)
{
	bool url = (flags & TEXT_B64_URL) != 0;

	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/*
 * Whether in[0..len) is well-formed: digits, then as many '=' as fill
 * the last group of four (at most two). A group of one digit holds no
 * byte, so no encoder writes one.
 */
static bool
base64_well_formed(const char *in, size_t len, int flags)
{
	size_t n, pad;

	for (n = 0; n < len && base64_value(in[n], flags) >= 0; n++)
		;
	for (pad = 0; n + pad < len && in[n + pad] == '='; pad++)
		;
	return n + pad == len && n % 4 != 1 && pad <= 2 &&
	    (pad == 0 || len % 4 == 0);
}

long
text_base64_decode(const char *in, size_t len, void *out, int flags)
{
	unsigned char *o = out;
	unsigned long acc = 0;
	size_t n = 0;
	int bits = 0, v;

	if (!(flags & TEXT_B64_LAX) && !base64_well_formed(in, len, flags))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if ((v = base64_value(in[i], flags)) < 0)
			continue;
		acc = (acc << 6 | (unsigned long)v) & 0xffffff;
		if ((bits += 6) >= 8) {
			bits -= 8;
			/* Writing never overtakes reading: 3 out per 4 in. */
			if (o != NULL)
				o[n] = (unsigned char)(acc >> bits);
			n++;
		}
	}
	return (long)n;
}

/*
 * HTML entities
 */

struct entity {
	const char *name;
	uint32_t cp;
};

/* Sorted by strcmp() for bsearch(). A no-break space becomes a plain
 * space: the text is for reading and searching, not for layout. */
static const struct entity entities[] = {{"AElig", 0x00c6}, {"Aacute", 0x00c1},
    {"Acirc", 0x00c2}, {"Agrave", 0x00c0}, {"Aring", 0x00c5},
    {"Atilde", 0x00c3}, {"Auml", 0x00c4}, {"Ccedil", 0x00c7},
    {"Dagger", 0x2021}, {"ETH", 0x00d0}, {"Eacute", 0x00c9}, {"Ecirc", 0x00ca},
    {"Egrave", 0x00c8}, {"Euml", 0x00cb}, {"Iacute", 0x00cd}, {"Icirc", 0x00ce},
    {"Igrave", 0x00cc}, {"Iuml", 0x00cf}, {"Ntilde", 0x00d1}, {"OElig", 0x0152},
    {"Oacute", 0x00d3}, {"Ocirc", 0x00d4}, {"Ograve", 0x00d2},
    {"Oslash", 0x00d8}, {"Otilde", 0x00d5}, {"Ouml", 0x00d6}, {"Prime", 0x2033},
    {"Scaron", 0x0160}, {"THORN", 0x00de}, {"Uacute", 0x00da},
    {"Ucirc", 0x00db}, {"Ugrave", 0x00d9}, {"Uuml", 0x00dc}, {"Yacute", 0x00dd},
    {"Yuml", 0x0178}, {"aacute", 0x00e1}, {"acirc", 0x00e2}, {"acute", 0x00b4},
    {"aelig", 0x00e6}, {"agrave", 0x00e0}, {"amp", 0x0026}, {"apos", 0x0027},
    {"aring", 0x00e5}, {"asymp", 0x2248}, {"atilde", 0x00e3}, {"auml", 0x00e4},
    {"bdquo", 0x201e}, {"brvbar", 0x00a6}, {"bull", 0x2022}, {"ccedil", 0x00e7},
    {"cedil", 0x00b8}, {"cent", 0x00a2}, {"check", 0x2713}, {"circ", 0x02c6},
    {"copy", 0x00a9}, {"curren", 0x00a4}, {"dagger", 0x2020}, {"darr", 0x2193},
    {"deg", 0x00b0}, {"divide", 0x00f7}, {"eacute", 0x00e9}, {"ecirc", 0x00ea},
    {"egrave", 0x00e8}, {"emsp", 0x2003}, {"ensp", 0x2002}, {"eth", 0x00f0},
    {"euml", 0x00eb}, {"euro", 0x20ac}, {"fnof", 0x0192}, {"frac12", 0x00bd},
    {"frac14", 0x00bc}, {"frac34", 0x00be}, {"ge", 0x2265}, {"gt", 0x003e},
    {"harr", 0x2194}, {"hellip", 0x2026}, {"iacute", 0x00ed}, {"icirc", 0x00ee},
    {"iexcl", 0x00a1}, {"igrave", 0x00ec}, {"infin", 0x221e},
    {"iquest", 0x00bf}, {"iuml", 0x00ef}, {"laquo", 0x00ab}, {"larr", 0x2190},
    {"ldquo", 0x201c}, {"le", 0x2264}, {"lrm", 0x200e}, {"lsaquo", 0x2039},
    {"lsquo", 0x2018}, {"lt", 0x003c}, {"macr", 0x00af}, {"mdash", 0x2014},
    {"micro", 0x00b5}, {"middot", 0x00b7}, {"minus", 0x2212}, {"nbsp", 0x0020},
    {"ndash", 0x2013}, {"ne", 0x2260}, {"not", 0x00ac}, {"ntilde", 0x00f1},
    {"oacute", 0x00f3}, {"ocirc", 0x00f4}, {"oelig", 0x0153},
    {"ograve", 0x00f2}, {"ordf", 0x00aa}, {"ordm", 0x00ba}, {"oslash", 0x00f8},
    {"otilde", 0x00f5}, {"ouml", 0x00f6}, {"para", 0x00b6}, {"permil", 0x2030},
    {"plusmn", 0x00b1}, {"pound", 0x00a3}, {"prime", 0x2032}, {"quot", 0x0022},
    {"raquo", 0x00bb}, {"rarr", 0x2192}, {"rdquo", 0x201d}, {"reg", 0x00ae},
    {"rlm", 0x200f}, {"rsaquo", 0x203a}, {"rsquo", 0x2019}, {"sbquo", 0x201a},
    {"scaron", 0x0161}, {"sect", 0x00a7}, {"shy", 0x00ad}, {"sup1", 0x00b9},
    {"sup2", 0x00b2}, {"sup3", 0x00b3}, {"szlig", 0x00df}, {"thinsp", 0x2009},
    {"thorn", 0x00fe}, {"tilde", 0x02dc}, {"times", 0x00d7}, {"trade", 0x2122},
    {"uacute", 0x00fa}, {"uarr", 0x2191}, {"ucirc", 0x00fb}, {"ugrave", 0x00f9},
    {"uml", 0x00a8}, {"uuml", 0x00fc}, {"yacute", 0x00fd}, {"yen", 0x00a5},
    {"yuml", 0x00ff}, {"zwj", 0x200d}, {"zwnj", 0x200c}};

/* HTML maps numeric references in the C1 range to windows-1252. */
static const uint16_t c1_to_cp1252[32] = {0x20ac, 0x0081, 0x201a, 0x0192,
    0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152,
    0x008d, 0x017d, 0x008f, 0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e,
    0x0178};

static int
entity_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct entity *)elem)->name);
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

/*
 * Decodes the character reference at s[0] == '&'. Returns the bytes
 * consumed and sets *cp, or 0 when this is not a reference we know
 * (the '&' is then ordinary text).
 */
static size_t
decode_entity(const char *s, size_t len, uint32_t *cp)
{
	char name[16];
	const struct entity *e;
	uint32_t v = 0;
	size_t i = 1, n;
	bool hex;

	if (len > 2 && s[1] == '#') {
		hex = s[2] == 'x' || s[2] == 'X';
		i = hex ? 3 : 2;
		n = i;
		for (; i < len; i++) {
			int d = hex ? hex_value(s[i])
				    : (is_digit(s[i]) ? s[i] - '0' : -1);

			if (d < 0)
				break;
			if (v <= 0x10ffff)
				v = v * (hex ? 16 : 10) + (uint32_t)d;
		}
		if (i == n)
			return 0;
		if (i < len && s[i] == ';')
			i++;
		if (v >= 0x80 && v <= 0x9f)
			v = c1_to_cp1252[v - 0x80];
		*cp = v;
		return i;
	}
	while (i < len && i - 1 < sizeof(name) - 1 &&
	    (is_alpha(s[i]) || is_digit(s[i])))
		i++;
	if (i == 1 || i >= len || s[i] != ';')
		return 0;
	memcpy(name, s + 1, i - 1);
	name[i - 1] = '\0';
	e = bsearch(
	    name, entities, nitems(entities), sizeof(entities[0]), entity_cmp);
	if (e == NULL)
		return 0;
	*cp = e->cp;
	return i + 1;
}

/*
 * HTML to text
 */

struct html_out {
	struct buf b;
	int newlines; /* newlines at the end of b */
	bool space; /* whitespace seen since the last text */
	int pre; /* inside <pre>: keep whitespace */
	/* A failed search for a closing quote fails for the rest of the
	 * input too; remembering it keeps hostile markup linear. */
	bool no_dquote, no_squote;
};

static void
out_text(struct html_out *o, const char *s, size_t n)
{
	if (n == 0)
		return;
	if (o->space && o->newlines == 0 && o->b.len > 0)
		buf_append(&o->b, " ", 1);
	o->space = false;
	buf_append(&o->b, s, n);
	o->newlines = 0;
}

/* Ends the line; n == 2 leaves a blank line, never more. */
static void
out_break(struct html_out *o, int n)
{
	o->space = false;
	while (o->b.len > 0 &&
	    (o->b.data[o->b.len - 1] == ' ' || o->b.data[o->b.len - 1] == '\t'))
		o->b.len--;
	if (o->b.len == 0)
		return;
	o->b.data[o->b.len] = '\0';
	/* Stripping may have uncovered newlines written before. */
	o->newlines = 0;
	while (o->newlines < 2 && (size_t)o->newlines < o->b.len &&
	    o->b.data[o->b.len - 1 - (size_t)o->newlines] == '\n')
		o->newlines++;
	while (o->newlines < n) {
		buf_append(&o->b, "\n", 1);
		o->newlines++;
	}
}

static bool
is_html_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static void
out_whitespace(struct html_out *o, char c)
{
	if (!o->pre) {
		o->space = true;
		return;
	}
	if (c == '\n') {
		if (o->newlines < 2 && o->b.len > 0) {
			buf_append(&o->b, "\n", 1);
			o->newlines++;
		}
	} else if (c != '\r')
		out_text(o, &c, 1);
}

enum tag_kind {
	TAG_INLINE,
	TAG_LINE, /* ends a line */
	TAG_PARAGRAPH, /* leaves a blank line */
	TAG_CELL, /* separates table cells */
	TAG_SKIP, /* content is not text: script, style, title */
	TAG_PRE,
};

struct tag {
	const char *name;
	enum tag_kind kind;
};

/* Sorted by strcmp() for bsearch(); every other tag is inline. */
static const struct tag tags[] = {
    {"address", TAG_PARAGRAPH},
    {"article", TAG_LINE},
    {"aside", TAG_LINE},
    {"blockquote", TAG_PARAGRAPH},
    {"br", TAG_LINE},
    {"caption", TAG_LINE},
    {"center", TAG_LINE},
    {"dd", TAG_LINE},
    {"div", TAG_LINE},
    {"dl", TAG_PARAGRAPH},
    {"dt", TAG_LINE},
    {"fieldset", TAG_PARAGRAPH},
    {"figure", TAG_PARAGRAPH},
    {"footer", TAG_LINE},
    {"form", TAG_LINE},
    {"h1", TAG_PARAGRAPH},
    {"h2", TAG_PARAGRAPH},
    {"h3", TAG_PARAGRAPH},
    {"h4", TAG_PARAGRAPH},
    {"h5", TAG_PARAGRAPH},
    {"h6", TAG_PARAGRAPH},
    {"header", TAG_LINE},
    {"hr", TAG_PARAGRAPH},
    {"li", TAG_LINE},
    {"main", TAG_LINE},
    {"nav", TAG_LINE},
    {"ol", TAG_PARAGRAPH},
    {"p", TAG_PARAGRAPH},
    {"pre", TAG_PRE},
    {"script", TAG_SKIP},
    {"section", TAG_LINE},
    {"style", TAG_SKIP},
    {"table", TAG_PARAGRAPH},
    {"td", TAG_CELL},
    {"th", TAG_CELL},
    {"title", TAG_SKIP},
    {"tr", TAG_LINE},
    {"ul", TAG_PARAGRAPH},
};

static int
tag_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct tag *)elem)->name);
}

static enum tag_kind
tag_kind(const char *name)
{
	const struct tag *t;

	t = bsearch(name, tags, nitems(tags), sizeof(tags[0]), tag_cmp);
	return t ? t->kind : TAG_INLINE;
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
 * s[i], honouring quoted attribute values; len when it never closes. */
static size_t
tag_end(struct html_out *o, const char *s, size_t i, size_t len)
{
	while (i < len) {
		char c = s[i];

		if (c == '>')
			return i + 1;
		if ((c == '"' && !o->no_dquote) ||
		    (c == '\'' && !o->no_squote)) {
			size_t close = find_char(s, i + 1, len, c);

			if (close < len) {
				i = close + 1;
				continue;
			}
			/* An unmatched quote is just a character. */
			if (c == '"')
				o->no_dquote = true;
			else
				o->no_squote = true;
		}
		i++;
	}
	return len;
}

/* True when s[0..n) equals the lower-case name, ignoring ASCII case. */
static bool
ascii_iprefix(const char *s, const char *name, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		if (c != name[i])
			return false;
	}
	return true;
}

/* Offset past "</name...>" from s[i], case-insensitive; len if absent. */
static size_t
skip_element(
    struct html_out *o, const char *s, size_t i, size_t len, const char *name)
{
	size_t n = strlen(name);

	while ((i = find_char(s, i, len, '<')) < len) {
		if (i + 2 + n <= len && s[i + 1] == '/' &&
		    ascii_iprefix(s + i + 2, name, n) &&
		    (i + 2 + n == len || !is_alpha(s[i + 2 + n])))
			return tag_end(o, s, i + 2 + n, len);
		i++;
	}
	return len;
}

/* Offset past the comment or declaration that starts at s[i] == '<'. */
static size_t
skip_markup_declaration(const char *s, size_t i, size_t len)
{
	const char *p;

	if (len - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
		for (i += 4; i + 3 <= len; i++) {
			p = memchr(s + i, '-', len - i);
			if (p == NULL)
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

/* Handles the tag at s[i] == '<'; returns the offset after it. */
static size_t
handle_tag(struct html_out *o, const char *s, size_t i, size_t len)
{
	char name[16];
	size_t j = i + 1, n = 0;
	bool closing = false;
	enum tag_kind kind;

	if (j < len && (s[j] == '!' || s[j] == '?'))
		return skip_markup_declaration(s, i, len);
	if (j < len && s[j] == '/') {
		closing = true;
		j++;
	}
	if (j >= len || !is_alpha(s[j])) {
		out_text(o, "<", 1);
		return i + 1;
	}
	while (j < len &&
	    (is_alpha(s[j]) || is_digit(s[j]) || s[j] == '-' || s[j] == ':')) {
		if (n < sizeof(name) - 1) {
			char c = s[j];

			name[n++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
		}
		j++;
	}
	name[n] = '\0';
	kind = tag_kind(name);
	j = tag_end(o, s, j, len);
	switch (kind) {
	case TAG_INLINE:
		break;
	case TAG_LINE:
		out_break(o, 1);
		break;
	case TAG_PARAGRAPH:
		out_break(o, 2);
		break;
	case TAG_CELL:
		if (closing)
			o->space = true;
		break;
	case TAG_PRE:
		out_break(o, 2);
		if (closing && o->pre > 0)
			o->pre--;
		else if (!closing)
			o->pre++;
		break;
	case TAG_SKIP:
		if (!closing)
			j = skip_element(o, s, j, len, name);
		break;
	}
	return j;
}

/* Trims whitespace at both ends of b in place. */
static void
trim_buf(struct buf *b)
{
	size_t start = 0;

	while (b->len > 0 && is_html_space(b->data[b->len - 1]))
		b->len--;
	while (start < b->len && is_html_space(b->data[start]))
		start++;
	if (b->data == NULL)
		return;
	memmove(b->data, b->data + start, b->len - start);
	b->len -= start;
	b->data[b->len] = '\0';
}

char *
text_from_html(const char *s, size_t len)
{
	struct html_out o;
	size_t i = 0, run;
	uint32_t cp;

	memset(&o, 0, sizeof(o));
	buf_init(&o.b);
	buf_reserve(&o.b, len / 2);
	while (i < len) {
		char c = s[i];

		if (c == '<') {
			i = handle_tag(&o, s, i, len);
			continue;
		}
		if (c == '&') {
			size_t n = decode_entity(s + i, len - i, &cp);

			if (n == 0) {
				out_text(&o, "&", 1);
				i++;
				continue;
			}
			if (o.space && o.newlines == 0 && o.b.len > 0)
				buf_append(&o.b, " ", 1);
			o.space = false;
			o.newlines = 0;
			text_append_codepoint(&o.b, cp);
			i += n;
			continue;
		}
		if (is_html_space(c)) {
			out_whitespace(&o, c);
			i++;
			continue;
		}
		for (run = i; run < len && s[run] != '<' && s[run] != '&' &&
		     !is_html_space(s[run]) && s[run] != '\0';
		     run++)
			;
		if (run == i) {
			i++; /* a NUL byte: not text */
			continue;
		}
		out_text(&o, s + i, run - i);
		i = run;
	}
	trim_buf(&o.b);
	return buf_steal(&o.b);
}

char *
text_clean_dup(const char *s)
{
	return s ? text_sanitize(s, strlen(s)) : NULL;
}

char *
text_clean_lower_dup(const char *s)
{
	return s ? str_lower(text_clean_dup(s)) : NULL;
}

char *
text_clean_owned(char *s)
{
	char *t;

	if (s == NULL || text_is_clean(s, strlen(s)))
		return s;
	t = text_sanitize(s, strlen(s));
	free(s);
	return t;
}

static bool
is_line_break(char c)
{
	return c == '\r' || c == '\n' || c == '\t';
}

/* Makes the clean string s one line, in place: encoded words can carry
 * CR and LF into fields that are shown and matched as one line. */
static char *
flatten_line(char *s)
{
	size_t i = 0, o = 0;

	while (s[i] != '\0') {
		unsigned char c = (unsigned char)s[i];

		if (is_line_break(s[i])) {
			while (o > 0 && s[o - 1] == ' ')
				o--;
			s[o++] = ' ';
			while (s[i] == ' ' || is_line_break(s[i]))
				i++;
			continue;
		}
		if (c >= 0x20)
			s[o++] = s[i];
		i++;
	}
	s[o] = '\0';
	return s;
}

char *
text_clean_line_dup(const char *s)
{
	return s ? flatten_line(text_clean_dup(s)) : NULL;
}

char *
text_clean_line_owned(char *s)
{
	s = text_clean_owned(s);
	return s ? flatten_line(s) : NULL;
}
