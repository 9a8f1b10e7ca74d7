/*
 * HTML character references. The table holds the entities mail uses;
 * those marked legacy are the Latin-1 set (and the upper-case AMP, COPY,
 * GT, LT, QUOT, REG) that HTML reads without a ';' for the sake of old
 * pages. Everything is linear: a reference is read once, digits and
 * all.
 */
#include <string.h>

#include "html_entity.h"
#include "util.h"

#define REPLACEMENT 0xfffd

struct entity {
	const char *name;
	uint32_t cp;
	bool legacy; /* also read without ';' */
};

/* Sorted by strcmp() for bsearch(). A no-break space becomes a plain
 * space: the text is for reading and searching, not for layout. */
static const struct entity entities[] = {{"AElig", 0x00c6, true},
    {"AMP", 0x0026, true}, {"Aacute", 0x00c1, true}, {"Acirc", 0x00c2, true},
    {"Agrave", 0x00c0, true}, {"Aring", 0x00c5, true}, {"Atilde", 0x00c3, true},
    {"Auml", 0x00c4, true}, {"COPY", 0x00a9, true}, {"Ccedil", 0x00c7, true},
    {"Dagger", 0x2021, false}, {"ETH", 0x00d0, true}, {"Eacute", 0x00c9, true},
    {"Ecirc", 0x00ca, true}, {"Egrave", 0x00c8, true}, {"Euml", 0x00cb, true},
    {"GT", 0x003e, true}, {"Iacute", 0x00cd, true}, {"Icirc", 0x00ce, true},
    {"Igrave", 0x00cc, true}, {"Iuml", 0x00cf, true}, {"LT", 0x003c, true},
    {"Ntilde", 0x00d1, true}, {"OElig", 0x0152, false},
    {"Oacute", 0x00d3, true}, {"Ocirc", 0x00d4, true}, {"Ograve", 0x00d2, true},
    {"Oslash", 0x00d8, true}, {"Otilde", 0x00d5, true}, {"Ouml", 0x00d6, true},
    {"Prime", 0x2033, false}, {"QUOT", 0x0022, true}, {"REG", 0x00ae, true},
    {"Scaron", 0x0160, false}, {"THORN", 0x00de, true},
    {"Uacute", 0x00da, true}, {"Ucirc", 0x00db, true}, {"Ugrave", 0x00d9, true},
    {"Uuml", 0x00dc, true}, {"Yacute", 0x00dd, true}, {"Yuml", 0x0178, false},
    {"aacute", 0x00e1, true}, {"acirc", 0x00e2, true}, {"acute", 0x00b4, true},
    {"aelig", 0x00e6, true}, {"agrave", 0x00e0, true}, {"amp", 0x0026, true},
    {"apos", 0x0027, false}, {"aring", 0x00e5, true}, {"asymp", 0x2248, false},
    {"atilde", 0x00e3, true}, {"auml", 0x00e4, true}, {"bdquo", 0x201e, false},
    {"brvbar", 0x00a6, true}, {"bull", 0x2022, false}, {"ccedil", 0x00e7, true},
    {"cedil", 0x00b8, true}, {"cent", 0x00a2, true}, {"check", 0x2713, false},
    {"circ", 0x02c6, false}, {"copy", 0x00a9, true}, {"curren", 0x00a4, true},
    {"dagger", 0x2020, false}, {"darr", 0x2193, false}, {"deg", 0x00b0, true},
    {"divide", 0x00f7, true}, {"eacute", 0x00e9, true}, {"ecirc", 0x00ea, true},
    {"egrave", 0x00e8, true}, {"emsp", 0x2003, false}, {"ensp", 0x2002, false},
    {"eth", 0x00f0, true}, {"euml", 0x00eb, true}, {"euro", 0x20ac, false},
    {"fnof", 0x0192, false}, {"frac12", 0x00bd, true}, {"frac14", 0x00bc, true},
    {"frac34", 0x00be, true}, {"ge", 0x2265, false}, {"gt", 0x003e, true},
    {"harr", 0x2194, false}, {"hellip", 0x2026, false},
    {"iacute", 0x00ed, true}, {"icirc", 0x00ee, true}, {"iexcl", 0x00a1, true},
    {"igrave", 0x00ec, true}, {"infin", 0x221e, false},
    {"iquest", 0x00bf, true}, {"iuml", 0x00ef, true}, {"laquo", 0x00ab, true},
    {"larr", 0x2190, false}, {"ldquo", 0x201c, false}, {"le", 0x2264, false},
    {"lrm", 0x200e, false}, {"lsaquo", 0x2039, false}, {"lsquo", 0x2018, false},
    {"lt", 0x003c, true}, {"macr", 0x00af, true}, {"mdash", 0x2014, false},
    {"micro", 0x00b5, true}, {"middot", 0x00b7, true}, {"minus", 0x2212, false},
    {"nbsp", 0x0020, true}, {"ndash", 0x2013, false}, {"ne", 0x2260, false},
    {"not", 0x00ac, true}, {"ntilde", 0x00f1, true}, {"oacute", 0x00f3, true},
    {"ocirc", 0x00f4, true}, {"oelig", 0x0153, false}, {"ograve", 0x00f2, true},
    {"ordf", 0x00aa, true}, {"ordm", 0x00ba, true}, {"oslash", 0x00f8, true},
    {"otilde", 0x00f5, true}, {"ouml", 0x00f6, true}, {"para", 0x00b6, true},
    {"permil", 0x2030, false}, {"plusmn", 0x00b1, true},
    {"pound", 0x00a3, true}, {"prime", 0x2032, false}, {"quot", 0x0022, true},
    {"raquo", 0x00bb, true}, {"rarr", 0x2192, false}, {"rdquo", 0x201d, false},
    {"reg", 0x00ae, true}, {"rlm", 0x200f, false}, {"rsaquo", 0x203a, false},
    {"rsquo", 0x2019, false}, {"sbquo", 0x201a, false},
    {"scaron", 0x0161, false}, {"sect", 0x00a7, true}, {"shy", 0x00ad, true},
    {"sup1", 0x00b9, true}, {"sup2", 0x00b2, true}, {"sup3", 0x00b3, true},
    {"szlig", 0x00df, true}, {"thinsp", 0x2009, false}, {"thorn", 0x00fe, true},
    {"tilde", 0x02dc, false}, {"times", 0x00d7, true}, {"trade", 0x2122, false},
    {"uacute", 0x00fa, true}, {"uarr", 0x2191, false}, {"ucirc", 0x00fb, true},
    {"ugrave", 0x00f9, true}, {"uml", 0x00a8, true}, {"uuml", 0x00fc, true},
    {"yacute", 0x00fd, true}, {"yen", 0x00a5, true}, {"yuml", 0x00ff, true},
    {"zwj", 0x200d, false}, {"zwnj", 0x200c, false}};

/* Names are looked at up to this length, more than the longest above. */
#define NAME_MAX_LEN 8

/* HTML maps numeric references in the C1 range to windows-1252. */
static const uint16_t c1_to_cp1252[32] = {0x20ac, 0x0081, 0x201a, 0x0192,
    0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152,
    0x008d, 0x017d, 0x008f, 0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e,
    0x0178};

static bool
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static int
digit_value(char c, bool hex)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (!hex)
		return -1;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* &#...; and &#x...; from s[0] == '&', s[1] == '#'. */
static size_t
decode_numeric(const char *s, size_t len, uint32_t *cp)
{
	bool hex = len > 2 && (s[2] == 'x' || s[2] == 'X');
	size_t i = hex ? 3 : 2, first = i;
	uint32_t v = 0;
	int d;

	/* Every digit is read, but the value stops growing once it is out
	 * of range, so a thousand digits cannot overflow it. */
	for (; i < len && (d = digit_value(s[i], hex)) >= 0; i++)
		if (v <= 0x10ffff)
			v = v * (hex ? 16 : 10) + (uint32_t)d;
	if (i == first)
		return 0;
	if (i < len && s[i] == ';')
		i++;
	if (v >= 0x80 && v <= 0x9f)
		v = c1_to_cp1252[v - 0x80];
	else if (v == 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		v = REPLACEMENT;
	*cp = v;
	return i;
}

static const struct entity *
lookup(const char *s, size_t n)
{
	char name[NAME_MAX_LEN + 1];
	size_t lo = 0, hi = nitems(entities);

	memcpy(name, s, n);
	name[n] = '\0';
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(name, entities[mid].name);

		if (c == 0)
			return &entities[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

size_t
html_entity_decode(const char *s, size_t len, bool in_attr, uint32_t *cp)
{
	const struct entity *e;
	size_t n;

	if (len > 1 && s[1] == '#')
		return decode_numeric(s, len, cp);
	for (n = 0; n < NAME_MAX_LEN && 1 + n < len && is_alnum(s[1 + n]); n++)
		;
	if (1 + n < len && s[1 + n] == ';' && n > 0 &&
	    (e = lookup(s + 1, n)) != NULL) {
		*cp = e->cp;
		return n + 2;
	}
	/* Without ';' only a legacy name counts, the longest that is a
	 * prefix of what follows (&notit reads as U+00AC "it"). */
	for (; n > 0; n--) {
		if ((e = lookup(s + 1, n)) == NULL || !e->legacy)
			continue;
		if (in_attr && 1 + n < len &&
		    (is_alnum(s[1 + n]) || s[1 + n] == '='))
			return 0;
		*cp = e->cp;
		return n + 1;
	}
	return 0;
}
