/*
 * The new text of a message: its body without quoted history and
 * signature (reply_text.h says what counts as which). The body is cut
 * into lines once; every rule looks at a line and at most a few lines
 * after it, with joined text bounded in length, so the whole is linear
 * in the input and needs no regular expression.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reply_text.h"
#include "text.h"
#include "util.h"

/* How many lines an attribution may be wrapped over, and how long its
 * joined text may be. */
#define HEADER_LINES 4
#define HEADER_MAX 400
/* How many places of a line are tried as the start of an attribution
 * that shares the line with text. */
#define INLINE_TRIES 8
/* How far below its first line an Outlook-style header block is read. */
#define BLOCK_LINES 10
/* A "Sent from my ..." line has at most this many words. */
#define DEVICE_WORDS 8
/* How often a message that is only a forward or an attribution is
 * unwrapped to find text above a deeper one. */
#define UNWRAP_MAX 4

struct line {
	const char *s; /* without line end and trailing blanks */
	size_t len;
	const char *body; /* after the quote markers */
	size_t blen;
	unsigned depth; /* number of ">" markers */
	bool drop;
};

/* Why the text ends where it does. */
enum cut_kind {
	CUT_NONE,
	CUT_ATTRIBUTION, /* "On ... wrote:" over unquoted text */
	CUT_FORWARD, /* a forwarded message begins */
	CUT_HISTORY, /* header block, "Original Message", signature */
};

/* Bytes and words ------------------------------------------------------- */

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static bool
is_space(int c)
{
	return c == ' ' || c == '\t';
}

static bool
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* Whether c is one of set; never for NUL, which strchr() would find. */
static bool
in_set(int c, const char *set)
{
	return c != '\0' && strchr(set, c) != NULL;
}

static bool
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Case-insensitive (ASCII letters) comparison of n bytes. */
static bool
same_ci(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	return true;
}

static bool
starts_ci(const char *s, size_t n, const char *word)
{
	size_t wl = strlen(word);

	return n >= wl && same_ci(s, word, wl);
}

static bool
ends_ci(const char *s, size_t n, const char *word)
{
	size_t wl = strlen(word);

	return n >= wl && same_ci(s + n - wl, word, wl);
}

static bool
contains_ci(const char *s, size_t n, const char *word)
{
	size_t wl = strlen(word);

	for (size_t i = 0; i + wl <= n; i++)
		if (same_ci(s + i, word, wl))
			return true;
	return false;
}

static bool
has_byte(const char *s, size_t n, char c)
{
	return n > 0 && memchr(s, c, n) != NULL;
}

static size_t
count_digits(const char *s, size_t n)
{
	size_t d = 0;

	for (size_t i = 0; i < n; i++)
		d += is_digit((unsigned char)s[i]);
	return d;
}

/* The length of the (no-break, narrow no-break) space at s, or 0. */
static size_t
space_at(const char *s, size_t n)
{
	if (n >= 1 && is_space((unsigned char)s[0]))
		return 1;
	if (n >= 2 && memcmp(s, "\xc2\xa0", 2) == 0)
		return 2;
	if (n >= 3 && memcmp(s, "\xe2\x80\xaf", 3) == 0)
		return 3;
	return 0;
}

static size_t
space_before(const char *s, size_t n)
{
	if (n >= 1 && is_space((unsigned char)s[n - 1]))
		return 1;
	if (n >= 2 && memcmp(s + n - 2, "\xc2\xa0", 2) == 0)
		return 2;
	if (n >= 3 && memcmp(s + n - 3, "\xe2\x80\xaf", 3) == 0)
		return 3;
	return 0;
}

static void
trim(const char **s, size_t *n)
{
	size_t k;

	while ((k = space_at(*s, *n)) > 0) {
		*s += k;
		*n -= k;
	}
	while ((k = space_before(*s, *n)) > 0)
		*n -= k;
}

/* Strips the decoration around a separator or an attribution: dashes,
 * underscores, equal signs, asterisks and blanks; returns how many
 * dashes and equal signs it took. */
static size_t
strip_rules(const char **s, size_t *n)
{
	size_t taken = 0;

	while (*n > 0 && in_set(**s, " \t-_=*")) {
		taken += **s == '-' || **s == '=';
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && in_set((*s)[*n - 1], " \t-_=*")) {
		taken += (*s)[*n - 1] == '-' || (*s)[*n - 1] == '=';
		(*n)--;
	}
	return taken;
}

static bool
is_blank(const struct line *l)
{
	return l->len == 0;
}

static size_t
count_words(const char *s, size_t n)
{
	size_t w = 0;
	bool in = false;

	for (size_t i = 0; i < n; i++) {
		bool sp = is_space((unsigned char)s[i]);

		if (!sp && !in)
			w++;
		in = !sp;
	}
	return w;
}

/* Lines ----------------------------------------------------------------- */

/* The quote markers of l: ">" possibly separated by blanks, after at
 * most three leading blanks. */
static void
read_markers(struct line *l)
{
	size_t i = 0, lead = 0;

	while (lead < l->len && lead < 3 && l->s[lead] == ' ')
		lead++;
	l->depth = 0;
	i = lead;
	for (;;) {
		size_t j = i;

		while (j < l->len && j - i < 2 && l->s[j] == ' ')
			j++;
		if (j < l->len && l->s[j] == '>') {
			l->depth++;
			i = j + 1;
			continue;
		}
		break;
	}
	if (l->depth == 0)
		i = 0;
	else if (i < l->len && l->s[i] == ' ')
		i++;
	l->body = l->s + i;
	l->blen = l->len - i;
}

static struct line *
split_lines(const char *text, size_t len, size_t *n_out)
{
	size_t n = 1, k = 0, start = 0;
	struct line *v;

	for (size_t i = 0; i < len; i++)
		n += text[i] == '\n';
	v = xcalloc(n, sizeof(*v));
	for (size_t i = 0; i <= len; i++) {
		size_t e;

		if (i < len && text[i] != '\n')
			continue;
		e = i;
		while (e > start &&
		    (text[e - 1] == '\r' ||
			is_space((unsigned char)text[e - 1])))
			e--;
		v[k].s = text + start;
		v[k].len = e - start;
		read_markers(&v[k]);
		k++;
		start = i + 1;
	}
	*n_out = k;
	return v;
}

/* Attributions ---------------------------------------------------------- */

/* Verbs an attribution ends with, before its colon. */
static const char *const tail_verbs[] = {
    "wrote", "writes", "sent", "schrieb",
    "a \xc3\xa9"
    "crit", /* a écrit */
    "a ecrit", "escribi\xc3\xb3", /* escribió */
    "escribio", "ha scritto", "ha escrit", "schreef", "het volgende",
    "geschreven", "escreveu", "skrev", "napisa\xc5\x82", /* napisał */
    "napisa\xc5\x82(a)",
    "napisa\xc5\x82"
    "a",
    "pisze",
    "\xd0\xbd\xd0\xb0\xd0\xbf\xd0\xb8\xd1\x81\xd0\xb0\xd0\xbb", /* написал */
    "\xd0\xbd\xd0\xb0\xd0\xbf\xd0\xb8\xd1\x81\xd0\xb0\xd0\xbb\xd0\xb0",
    "\xd0\xbd\xd0\xb0\xd0\xbf\xd0\xb8\xd1\x81\xd0\xb0\xd0\xb2", /* написав */
    "\xd0\xbf\xd0\xb8\xd1\x88\xd0\xb5", /* пише */
    "kirjoitti", "\xc3\xadrta", /* írta */
    "\xc4\x91\xc3\xa3 vi\xe1\xba\xbft", /* đã viết */
    "\xe5\x86\x99\xe9\x81\x93", /* 写道 */
    "\xe5\xaf\xab\xe9\x81\x93", /* 寫道 */
    "\xec\x9e\x91\xec\x84\xb1", /* 작성 */
    "\xe3\x81\xae\xe3\x83\xa1\xe3\x83\x83\xe3\x82\xbb\xe3\x83\xbc\xe3\x82"
    "\xb8", /* のメッセージ */
    "yazd\xc4\xb1", /* yazdı */
};

/* Verbs that stand inside an attribution whose address or time of day
 * comes after them ("Den ... skrev Name <addr>:", "Name schrieb am
 * ... Uhr:"). */
static const char *const inner_verbs[] = {
    " skrev ",
    " schrieb ",
    " napisa\xc5\x82 ",
    " kirjoitti ",
};

/* Words an attribution's first line starts with, lower case. */
static const char *const opening_words[] = {
    "on ", "le ", "am ", "el ", "il ", "in data ", "em ", "op ", "den ",
    "p\xc3\xa5 ", "w dniu ", "dnia ", "v\xc3\xa0o ", "-",
    "\xe5\x9c\xa8", /* 在 */
};

static bool
opens_text(const char *t, size_t n)
{
	if (n > 0 && is_digit((unsigned char)t[0]))
		return true;
	for (size_t k = 0; k < nitems(opening_words); k++)
		if (starts_ci(t, n, opening_words[k]))
			return true;
	return false;
}

/* Strips a trailing colon (ASCII or full width); false when none. */
static bool
strip_colon(const char **s, size_t *n)
{
	trim(s, n);
	if (*n >= 1 && (*s)[*n - 1] == ':') {
		(*n)--;
	} else if (*n >= 3 && memcmp(*s + *n - 3, "\xef\xbc\x9a", 3) == 0) {
		(*n) -= 3;
	} else {
		return false;
	}
	trim(s, n);
	return true;
}

static bool
ends_with_verb(const char *s, size_t n)
{
	for (size_t i = 0; i < nitems(tail_verbs); i++) {
		size_t vl = strlen(tail_verbs[i]);

		if (!ends_ci(s, n, tail_verbs[i]))
			continue;
		/* A whole word: "rewrote:" is no attribution. */
		if (n == vl || !is_alpha((unsigned char)s[n - vl - 1]))
			return true;
	}
	return false;
}

/* Whether t holds a year (four digits) or a time of day ("9:14",
 * "17.50"): what tells "On Monday, 3 March 2026, Ann wrote:" from
 * "the 2 files you sent:". */
static bool
has_date(const char *t, size_t n)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		if (is_digit((unsigned char)t[i])) {
			if (++run == 4)
				return true;
			continue;
		}
		if (run > 0 && (t[i] == ':' || t[i] == '.') && i + 2 < n &&
		    is_digit((unsigned char)t[i + 1]) &&
		    is_digit((unsigned char)t[i + 2]))
			return true;
		run = 0;
	}
	return false;
}

/* Whether t is an attribution, all its lines joined by one blank. */
static bool
is_attribution(const char *t, size_t n)
{
	bool colon, dashed, evidence;
	const char *lt;

	trim(&t, &n);
	if (n == 0 || n > HEADER_MAX)
		return false;
	dashed = strip_rules(&t, &n) >= 2;
	if (n == 0)
		return false;
	colon = strip_colon(&t, &n);
	evidence = has_byte(t, n, '@') || dashed || has_date(t, n);
	if (ends_with_verb(t, n) && evidence &&
	    (colon || dashed ||
		(starts_ci(t, n, "on ") && ends_ci(t, n, "wrote"))))
		return true;
	if (!colon)
		goto dated_address;
	for (size_t i = 0; i < nitems(inner_verbs); i++)
		if (contains_ci(t, n, inner_verbs[i]) &&
		    (has_byte(t, n, '@') || ends_ci(t, n, "uhr") ||
			opens_text(t, n)))
			return true;
	/* Gmail and others without a verb: a date, then "Name <addr>:". */
	if (n > 0 && t[n - 1] == '>' && has_byte(t, n, '@') &&
	    count_digits(t, n) >= 2) {
		lt = memchr(t, '<', n);
		if (lt != NULL && count_digits(t, (size_t)(lt - t)) >= 2)
			return true;
	}
	return false;

dated_address:
	/* "2011/4/7 Name <addr>" and "2016-03-03 17:21 GMT+01:00 Name". */
	if (n >= 8 && is_digit((unsigned char)t[0]) &&
	    is_digit((unsigned char)t[3]) && (t[4] == '-' || t[4] == '/')) {
		if (t[n - 1] == '>' && has_byte(t, n, '@'))
			return true;
		if (contains_ci(t, n, " gmt"))
			return true;
	}
	return false;
}

/* Whether l ends the way an attribution may: a colon, an address's
 * ">", a rule, or "wrote". A cheap test that spares most lines of
 * text the whole one. */
static bool
may_end_attribution(const struct line *l)
{
	const char *t = l->s;
	size_t n = l->len;

	trim(&t, &n);
	if (n == 0)
		return false;
	return in_set(t[n - 1], ":>-=_*") || ends_ci(t, n, "wrote") ||
	    (n >= 3 && memcmp(t + n - 3, "\xef\xbc\x9a", 3) == 0);
}

static bool
starts_with_digit(const struct line *l)
{
	const char *t = l->s;
	size_t n = l->len;

	trim(&t, &n);
	return n > 0 && is_digit((unsigned char)t[0]);
}

/* "reply On <date>, <addr> wrote:": text and attribution on one line.
 * Returns where the attribution starts, or 0. Only the first few
 * "On"s of the line's last HEADER_MAX bytes are tried. */
static size_t
inline_attribution(const struct line *l)
{
	size_t k = l->len > HEADER_MAX ? l->len - HEADER_MAX : 1, tried = 0;

	if (!may_end_attribution(l))
		return 0;
	for (; k + 3 <= l->len && tried < INLINE_TRIES; k++) {
		if (!same_ci(l->s + k, "on ", 3) ||
		    (l->s[k - 1] != ' ' && l->s[k - 1] != '-'))
			continue;
		tried++;
		if (is_attribution(l->s + k, l->len - k))
			return k;
	}
	return 0;
}

/* Joins lines [i, j] into out (at most HEADER_MAX bytes plus one);
 * returns the length, or HEADER_MAX + 1 when it is too long. */
static size_t
join_lines(const struct line *v, size_t i, size_t j, char *out)
{
	size_t n = 0;

	for (size_t k = i; k <= j; k++) {
		if (is_blank(&v[k]))
			continue;
		if (n > 0)
			out[n++] = ' ';
		if (n + v[k].len > HEADER_MAX)
			return HEADER_MAX + 1;
		memcpy(out + n, v[k].s, v[k].len);
		n += v[k].len;
	}
	return n;
}

static bool
attribution_span(const struct line *v, size_t i, size_t j)
{
	char buf[HEADER_MAX + 2];
	size_t n;

	if (!may_end_attribution(&v[j]) && !starts_with_digit(&v[i]))
		return false;
	n = join_lines(v, i, j, buf);
	return n <= HEADER_MAX && is_attribution(buf, n);
}

/* Whether line l looks like the first line of an attribution rather
 * than the end of the sender's text: an opening word or a date, and
 * not the wrapped rest of an address. */
static bool
opens_attribution(const struct line *l)
{
	const char *t = l->s, *sp;
	size_t n = l->len;

	trim(&t, &n);
	sp = memchr(t, ' ', n);
	if (n == 0 || *t == '<' ||
	    has_byte(t, sp == NULL ? n : (size_t)(sp - t), '@'))
		return false;
	return opens_text(t, n);
}

/* Whether an attribution's first line may be the rest of an address
 * wrapped from the line above ("addr> wrote:"). */
static bool
is_fragment(const struct line *l)
{
	const char *t = l->s, *sp;
	size_t n = l->len;

	trim(&t, &n);
	sp = memchr(t, ' ', n);
	return n == 0 || *t == '<' ||
	    has_byte(t, sp == NULL ? n : (size_t)(sp - t), '@');
}

/* Whether an attribution starts at unquoted line i; *last is its last
 * line. An attribution wrapped over lines may hold one blank line, and
 * its later lines may carry a stray ">" (a wrapped "<addr>"). It
 * starts at i only when no shorter tail of it is one by itself, unless
 * line i opens like an attribution and the tail does not: the line of
 * text above "On ..." is not part of it, "<addr> wrote:" under it is. */
static bool
attribution_at(const struct line *v, size_t n, size_t i, size_t *last)
{
	size_t j = i, lines = 0, blanks = 0;
	bool tail_wins;

	if (is_blank(&v[i]) || v[i].depth > 0)
		return false;
	tail_wins = !opens_attribution(&v[i]);
	if (tail_wins && inline_attribution(&v[i]) > 0)
		return false; /* text, then "On ... wrote:" on its line */
	for (j = i; j < n && lines < HEADER_LINES; j++) {
		/* A quoted line ends it, unless it is a stray marker before
		 * the last word ("> wrote:"). */
		if (v[j].depth > 0 && v[j].blen > 10)
			break;
		if (is_blank(&v[j])) {
			if (++blanks > 1)
				break;
			continue;
		}
		lines++;
		if (!attribution_span(v, i, j))
			continue;
		for (size_t s = i + 1; s <= j; s++)
			if (!is_blank(&v[s]) &&
			    (opens_attribution(&v[s]) ||
				(tail_wins && !is_fragment(&v[s]))) &&
			    attribution_span(v, s, j))
				return false;
		*last = j;
		return true;
	}
	return false;
}

/* "Name wrote:" with nothing to date it: an attribution only right
 * above a quote. */
static bool
is_bare_attribution(const struct line *l)
{
	const char *t = l->s;
	size_t n = l->len;

	return n <= 100 && strip_colon(&t, &n) && ends_with_verb(t, n);
}

/* Separators ------------------------------------------------------------ */

struct separator {
	const char *text; /* lower case, without the decoration */
	bool forward;
	bool colon; /* a separator by its words alone, without dashes */
};

static const struct separator separators[] = {
    {"original message", false, false},
    {"reply message", false, false},
    {"original", false, false},
    {"urspr\xc3\xbcngliche nachricht", false, false},
    {"antwort nachricht", false, false},
    {"oprindelig meddelelse", false, false},
    {"oprindelig besked", false, false},
    {"opprinnelig melding", false, false},
    {"ursprungligt meddelande", false, false},
    {"message d'origine", false, false},
    {"message original", false, false},
    {"mensaje original", false, false},
    {"mensagem original", false, false},
    {"messaggio originale", false, false},
    {"oorspronkelijk bericht", false, false},
    {"origineel bericht", false, false},
    {"alkuper\xc3\xa4inen viesti", false, false},
    {"wiadomo\xc5\x9b\xc4\x87 oryginalna", false, false},
    {"\xd0\xb8\xd1\x81\xd1\x85\xd0\xbe\xd0\xb4\xd0\xbd\xd0\xbe\xd0\xb5 "
     "\xd1\x81\xd0\xbe\xd0\xbe\xd0\xb1\xd1\x89\xd0\xb5\xd0\xbd\xd0\xb8\xd0\xb5",
	false, false}, /* исходное сообщение */
    {"forwarded message", true, false},
    {"forward message", true, false},
    {"message transf\xc3\xa9r\xc3\xa9", true, false},
    {"weitergeleitete nachricht", true, false},
    {"doorgestuurd bericht", true, false},
    {"vidarebefordrat meddelande", true, false},
    {"videresendt meddelelse", true, false},
    {"videresendt melding", true, false},
    {"mensaje reenviado", true, false},
    {"mensagem encaminhada", true, false},
    {"messaggio inoltrato", true, false},
    {"forwarded message:", true, true},
    {"begin forwarded message:", true, true},
    {"d\xc3\xa9"
     "but du message r\xc3\xa9"
     "exp\xc3\xa9"
     "di\xc3\xa9 :",
	true, true},
    {"d\xc3\xa9"
     "but du message r\xc3\xa9"
     "exp\xc3\xa9"
     "di\xc3\xa9:",
	true, true},
    {"anfang der weitergeleiteten nachricht:", true, true},
    {"inizio messaggio inoltrato:", true, true},
    /* Discourse's notifications, under a rule. */
    {"previous replies", false, true},
    {"previous discussion", false, true},
    {"begin doorgestuurd bericht:", true, true},
};

/* The separator line l is, or NULL. */
static const struct separator *
separator_of(const struct line *l)
{
	const char *t = l->s;
	size_t n = l->len, dashes;

	if (n > 80)
		return NULL;
	dashes = strip_rules(&t, &n);
	for (size_t i = 0; i < nitems(separators); i++) {
		const struct separator *sp = &separators[i];

		if (strlen(sp->text) == n && same_ci(t, sp->text, n) &&
		    (dashes >= 2 || sp->colon))
			return sp;
	}
	return NULL;
}

/* Header blocks --------------------------------------------------------- */

enum hkey {
	HK_NONE,
	HK_FROM,
	HK_DATE,
	HK_TO,
	HK_CC,
	HK_SUBJECT,
	HK_REPLY_TO,
};

struct header_word {
	const char *word; /* lower case */
	enum hkey key;
};

static const struct header_word header_words[] = {
    {"from", HK_FROM},
    {"von", HK_FROM},
    {"de", HK_FROM},
    {"van", HK_FROM},
    {"da", HK_FROM},
    {"fra", HK_FROM},
    {"fr\xc3\xa5n", HK_FROM}, /* från */
    {"od", HK_FROM},
    {"\xd0\xbe\xd1\x82", HK_FROM}, /* от */
    {"\xd0\xb2\xd1\x96\xd0\xb4", HK_FROM}, /* від */
    {"\xe5\x8f\x91\xe4\xbb\xb6\xe4\xba\xba", HK_FROM}, /* 发件人 */
    {"\xe5\xaf\x84\xe4\xbb\xb6\xe8\x80\x85", HK_FROM}, /* 寄件者 */
    {"l\xc3\xa4hett\xc3\xa4j\xc3\xa4", HK_FROM}, /* lähettäjä */
    {"felad\xc3\xb3", HK_FROM}, /* feladó */
    {"kimden", HK_FROM},
    {"exp\xc3\xa9"
     "diteur",
	HK_FROM},
    {"remitente", HK_FROM},
    {"sent", HK_DATE},
    {"date", HK_DATE},
    {"datum", HK_DATE},
    {"dato", HK_DATE},
    {"data", HK_DATE},
    {"fecha", HK_DATE},
    {"gesendet", HK_DATE},
    {"envoy\xc3\xa9", HK_DATE}, /* envoyé */
    {"envoy\xc3\xa9 le", HK_DATE},
    {"enviado", HK_DATE},
    {"enviado el", HK_DATE},
    {"enviada", HK_DATE},
    {"inviato", HK_DATE},
    {"verzonden", HK_DATE},
    {"sendt", HK_DATE},
    {"skickat", HK_DATE},
    {"wys\xc5\x82"
     "ano",
	HK_DATE}, /* wysłano */
    {"\xd0\xbe\xd1\x82\xd0\xbf\xd1\x80\xd0\xb0\xd0\xb2\xd0\xbb\xd0\xb5\xd0\xbd"
     "\xd0\xbe",
	HK_DATE}, /* отправлено */
    {"\xe5\x8f\x91\xe9\x80\x81\xe6\x97\xb6\xe9\x97\xb4",
	HK_DATE}, /* 发送时间 */
    {"\xe6\x97\xa5\xe6\x9c\x9f", HK_DATE}, /* 日期 */
    {"message du", HK_DATE},
    {"p\xc3\xa4iv\xc3\xa4m\xc3\xa4\xc3\xa4r\xc3\xa4", HK_DATE},
    {"l\xc3\xa4hetetty", HK_DATE},
    {"to", HK_TO},
    {"an", HK_TO},
    {"\xc3\xa0", HK_TO}, /* à */
    {"\xc3\x80", HK_TO}, /* À */
    {"a", HK_TO},
    {"para", HK_TO},
    {"aan", HK_TO},
    {"til", HK_TO},
    {"till", HK_TO},
    {"do", HK_TO},
    {"pour", HK_TO},
    {"\xd0\xba\xd0\xbe\xd0\xbc\xd1\x83", HK_TO}, /* кому */
    {"\xe6\x94\xb6\xe4\xbb\xb6\xe4\xba\xba", HK_TO}, /* 收件人 */
    {"c\xc3\xadmzett", HK_TO},
    {"vastaanottaja", HK_TO},
    {"cc", HK_CC},
    {"kopie", HK_CC},
    {"kopia", HK_CC},
    {"copie \xc3\xa0", HK_CC},
    {"\xd0\xba\xd0\xbe\xd0\xbf\xd0\xb8\xd1\x8f", HK_CC}, /* копия */
    {"subject", HK_SUBJECT},
    {"betreff", HK_SUBJECT},
    {"objet", HK_SUBJECT},
    {"sujet", HK_SUBJECT},
    {"asunto", HK_SUBJECT},
    {"assunto", HK_SUBJECT},
    {"oggetto", HK_SUBJECT},
    {"onderwerp", HK_SUBJECT},
    {"emne", HK_SUBJECT},
    {"\xc3\xa4mne", HK_SUBJECT}, /* ämne */
    {"\xc3\x84mne", HK_SUBJECT}, /* Ämne */
    {"temat", HK_SUBJECT},
    {"\xd1\x82\xd0\xb5\xd0\xbc\xd0\xb0", HK_SUBJECT}, /* тема */
    {"\xd0\xa2\xd0\xb5\xd0\xbc\xd0\xb0", HK_SUBJECT}, /* Тема */
    {"\xe4\xb8\xbb\xe9\xa2\x98", HK_SUBJECT}, /* 主题 */
    {"aihe", HK_SUBJECT},
    {"t\xc3\xa1rgy", HK_SUBJECT},
    {"konu", HK_SUBJECT},
    {"reply-to", HK_REPLY_TO},
    {"risposta", HK_REPLY_TO},
};

/* The header name line l starts with ("From:", "*Von:*", "De :"), and
 * where its value starts. */
static enum hkey
header_key(const struct line *l, const char **value)
{
	const char *s = l->s, *e = l->s + l->len, *k, *ke;
	size_t kn;

	while (s < e && (is_space((unsigned char)*s) || *s == '*'))
		s++;
	k = s;
	while (s < e && *s != ':' && s - k < 24) {
		if (e - s >= 3 && memcmp(s, "\xef\xbc\x9a", 3) == 0)
			break;
		s++;
	}
	if (s >= e || s - k >= 24)
		return HK_NONE;
	ke = s;
	while (ke > k && (is_space((unsigned char)ke[-1]) || ke[-1] == '*'))
		ke--;
	kn = (size_t)(ke - k);
	s += *s == ':' ? 1 : 3;
	while (s < e && (*s == '*' || is_space((unsigned char)*s)))
		s++;
	*value = s;
	for (size_t i = 0; i < nitems(header_words); i++)
		if (strlen(header_words[i].word) == kn &&
		    same_ci(k, header_words[i].word, kn))
			return header_words[i].key;
	return HK_NONE;
}

/* A line of rule characters only, at least three of them. */
static bool
is_rule(const struct line *l)
{
	size_t marks = 0;

	for (size_t i = 0; i < l->len; i++) {
		if (in_set(l->s[i], "-_=*"))
			marks++;
		else if (!is_space((unsigned char)l->s[i]))
			return false;
	}
	return marks >= 3;
}

/* Whether an Outlook-style header block starts at line i: a From or
 * Date line with at least one other header line below it (blank and
 * wrapped lines may come between), or a lone From line with an
 * address. */
static bool
header_block_at(const struct line *v, size_t n, size_t i)
{
	const char *value;
	enum hkey first = header_key(&v[i], &value);
	unsigned seen;
	size_t blanks = 0, others = 0;

	if (first != HK_FROM && first != HK_DATE)
		return false;
	seen = 1u << first;
	for (size_t j = i + 1; j < n && j <= i + BLOCK_LINES; j++) {
		const char *vj;
		enum hkey k;

		if (is_blank(&v[j])) {
			if (++blanks > 2)
				break;
			continue;
		}
		blanks = 0;
		if ((k = header_key(&v[j], &vj)) != HK_NONE && k != first) {
			seen |= 1u << k;
			others = 0;
			continue;
		}
		if (k == HK_NONE && ++others > 2)
			break;
	}
	if ((seen & ~(1u << first)) != 0)
		return true;
	return first == HK_FROM &&
	    has_byte(value, (size_t)(v[i].s + v[i].len - value), '@');
}

/* Signatures ------------------------------------------------------------ */

/* How "Sent from my iPhone" and its kind begin, lower case. */
static const char *const device_lines[] = {
    "sent from my ", "sent from mail for ", "sent from yahoo",
    "sent from outlook", "sent from windows mail", "sent from mailbox",
    "sent from samsung", "sent from typeapp", "sent from blackberry",
    "sent from iphone", "sent from ipad", "sent from android",
    "sent from gmail", "sent from aol", "sent from protonmail",
    "sent from [mail]", "sent via ", "sent with ", "get outlook for ",
    "envoy\xc3\xa9 de mon ", "envoy\xc3\xa9 depuis ",
    "envoy\xc3\xa9 \xc3\xa0 partir de ", "envoy\xc3\xa9 avec ", "gesendet von ",
    "gesendet mit ", "von meinem ", "verzonden met ", "verzonden vanaf ",
    "verstuurd vanaf ", "sendt fra ", "skickat fr\xc3\xa5n ", "enviado desde ",
    "enviado do ", "enviado de ", "inviato da ",
    "wys\xc5\x82"
    "ane z ",
    "\xd0\xbe\xd1\x82\xd0\xbf\xd1\x80\xd0\xb0\xd0\xb2\xd0\xbb\xd0\xb5\xd0\xbd"
    "\xd0\xbe \xd1\x81 ", /* отправлено с */
    "\xe5\xbe\x9e\xe6\x88\x91\xe7\x9a\x84", /* 從我的 */
    "\xe5\x8f\x91\xe8\x87\xaa\xe6\x88\x91\xe7\x9a\x84", /* 发自我的 */
};

/* A device or app signature: one of the lines above, short, standing
 * apart from the paragraph around it. */
static bool
is_device_line(const struct line *v, size_t n, size_t i)
{
	const char *t = v[i].s;
	size_t len = v[i].len;

	trim(&t, &len);
	while (len > 0 && (*t == '(' || *t == '<')) {
		t++;
		len--;
	}
	if (count_words(t, len) > DEVICE_WORDS)
		return false;
	if (!(i == 0 || is_blank(&v[i - 1]) || i + 1 == n ||
		is_blank(&v[i + 1])))
		return false;
	for (size_t k = 0; k < nitems(device_lines); k++)
		if (starts_ci(t, len, device_lines[k]))
			return true;
	return false;
}

/* "--" alone, a line of underscores, Gmail's tracking mark, or a
 * "-Name" sign-off line under a blank line. */
static bool
is_signature_line(const struct line *v, size_t i)
{
	const struct line *l = &v[i];
	size_t u = 0;

	if (l->len == 2 && memcmp(l->s, "--", 2) == 0)
		return true;
	if (l->len == 3 && memcmp(l->s, "\xe1\x90\xa7", 3) == 0) /* ᐧ */
		return true;
	for (size_t k = 0; k < l->len; k++) {
		if (l->s[k] == '_')
			u++;
		else if (!is_space((unsigned char)l->s[k]))
			return false;
	}
	if (u >= 5)
		return true;
	return false;
}

/* "-Ann Smith" alone between blank lines: a sign-off, not a list
 * item ("-milk" over "-eggs"). */
static bool
is_dash_name(const struct line *v, size_t n, size_t i)
{
	const struct line *l = &v[i];

	return (i == 0 || is_blank(&v[i - 1])) &&
	    (i + 1 == n || is_blank(&v[i + 1])) && l->len >= 2 &&
	    l->len <= 40 && l->s[0] == '-' &&
	    is_alpha((unsigned char)l->s[1]) && count_words(l->s, l->len) <= 3;
}

/* A fence of a Markdown code block, inside which nothing is cut. */
static bool
is_fence(const struct line *l)
{
	const char *t = l->s;
	size_t n = l->len;

	trim(&t, &n);
	return n >= 3 && memcmp(t, "```", 3) == 0;
}

/* The pass ---------------------------------------------------------------- */

/* The end of the ">" block starting at quoted line i: quoted lines,
 * blank lines followed by more quoted lines, and a lone unquoted line
 * wedged between quoted ones (a link the sender's client wrapped). */
static size_t
block_end(const struct line *v, size_t n, size_t i)
{
	size_t j = i;

	while (j < n) {
		size_t k;

		if (v[j].depth > 0) {
			j++;
			continue;
		}
		if (!is_blank(&v[j])) {
			if (j > i && v[j - 1].depth > 0 && j + 1 < n &&
			    v[j + 1].depth > 0)
				j++;
			else
				break;
			continue;
		}
		for (k = j; k < n && is_blank(&v[k]); k++)
			;
		if (k < n && v[k].depth > 0)
			j = k;
		else
			break;
	}
	return j;
}

/* Whether the first non-blank line of the block [i, e) is an
 * attribution, read without its markers. */
static bool
block_attributed(const struct line *v, size_t i, size_t e)
{
	char buf[HEADER_MAX + 2];
	size_t n = 0, lines = 0;

	for (size_t k = i; k < e && lines < HEADER_LINES; k++) {
		if (v[k].blen == 0)
			continue;
		if (n > 0)
			buf[n++] = ' ';
		if (n + v[k].blen > HEADER_MAX)
			return false;
		memcpy(buf + n, v[k].body, v[k].blen);
		n += v[k].blen;
		lines++;
		if (is_attribution(buf, n) ||
		    separator_of(&(struct line){.s = buf, .len = n}) != NULL)
			return true;
	}
	return false;
}

struct block {
	size_t start; /* its attribution, or its first quoted line */
	size_t end;
	bool attributed;
};

struct pass {
	struct block *blocks;
	size_t n_blocks;
	size_t cut; /* the first line not written by the sender */
	size_t resume; /* where text resumes after a forward or attribution */
	enum cut_kind kind;
};

static void
add_block(struct pass *p, size_t start, size_t end, bool attributed)
{
	p->blocks[p->n_blocks].start = start;
	p->blocks[p->n_blocks].end = end;
	p->blocks[p->n_blocks].attributed = attributed;
	p->n_blocks++;
}

/* Where history that starts at line i starts with its rule: the rule
 * line right above it, or above one blank line, belongs to it. */
static size_t
rule_above(const struct line *v, size_t from, size_t i)
{
	if (i > from && is_rule(&v[i - 1]))
		return i - 1;
	if (i > from + 1 && is_blank(&v[i - 1]) && is_rule(&v[i - 2]))
		return i - 2;
	return i;
}

/* Skips a forwarded message's header lines after its separator. */
static size_t
skip_forward_headers(const struct line *v, size_t n, size_t i)
{
	const char *value;
	bool headers = false;

	while (i < n && is_blank(&v[i]))
		i++;
	for (; i < n; i++) {
		if (is_blank(&v[i])) {
			if (headers)
				break;
			continue;
		}
		if (header_key(&v[i], &value) != HK_NONE)
			headers = true;
		else if (!headers)
			break;
	}
	return i;
}

/* Finds the blocks and the cut in lines [from, n). */
static void
scan(struct line *v, size_t n, size_t from, struct pass *p)
{
	bool code = false;
	size_t i = from, last;

	p->n_blocks = 0;
	p->cut = n;
	p->resume = n;
	p->kind = CUT_NONE;
	while (i < n) {
		const struct separator *sp;

		if (is_fence(&v[i]))
			code = !code;
		if (code || is_blank(&v[i])) {
			i++;
			continue;
		}
		if (v[i].depth > 0) {
			size_t e = block_end(v, n, i);

			add_block(p, i, e, block_attributed(v, i, e));
			i = e;
			continue;
		}
		if ((sp = separator_of(&v[i])) != NULL) {
			p->cut = rule_above(v, from, i);
			p->kind = sp->forward ? CUT_FORWARD : CUT_HISTORY;
			p->resume = skip_forward_headers(v, n, i + 1);
			return;
		}
		if (attribution_at(v, n, i, &last)) {
			size_t k = last + 1;

			while (k < n && is_blank(&v[k]))
				k++;
			if (k < n && v[k].depth > 0) {
				size_t e = block_end(v, n, k);

				add_block(p, i, e, true);
				i = e;
				continue;
			}
			p->cut = i;
			p->kind = CUT_ATTRIBUTION;
			p->resume = last + 1;
			return;
		}
		if (i + 1 < n && v[i + 1].depth > 0) {
			size_t e = block_end(v, n, i + 1), k;

			if ((k = inline_attribution(&v[i])) > 0) {
				/* The line keeps its text before "On". */
				while (k > 0 &&
				    (v[i].s[k - 1] == ' ' ||
					v[i].s[k - 1] == '-'))
					k--;
				v[i].len = k;
				add_block(p, i + 1, e, true);
				i = e;
				continue;
			}
			if (is_bare_attribution(&v[i])) {
				add_block(p, i, e, true);
				i = e;
				continue;
			}
		}
		if (header_block_at(v, n, i)) {
			p->cut = rule_above(v, from, i);
			p->kind = CUT_HISTORY;
			return;
		}
		if (is_signature_line(v, i) || is_device_line(v, n, i) ||
		    is_dash_name(v, n, i)) {
			p->cut = i;
			p->kind = CUT_HISTORY;
			return;
		}
		i++;
	}
}

/* Marks what the sender did not write among lines [from, p->cut). */
static void
mark(struct line *v, size_t from, const struct pass *p)
{
	size_t first_text = SIZE_MAX, last_text = 0, b = 0;
	bool any_text = false;

	/* The sender's own lines: neither blank nor in a block. Blocks
	 * are in line order and do not overlap. */
	for (size_t k = from; k < p->cut; k++) {
		if (b < p->n_blocks && k == p->blocks[b].start) {
			k = p->blocks[b++].end - 1;
			continue;
		}
		if (is_blank(&v[k]))
			continue;
		if (first_text == SIZE_MAX)
			first_text = k;
		last_text = k;
		any_text = true;
	}
	for (b = 0; b < p->n_blocks; b++) {
		const struct block *bl = &p->blocks[b];
		bool text_after = any_text && last_text >= bl->end;
		bool text_before = any_text && first_text < bl->start;

		/* An unattributed block between new paragraphs is what an
		 * inline answer answers; one at the end is history, unless
		 * it is all there is. */
		if (!bl->attributed && (text_after || !text_before))
			continue;
		for (size_t k = bl->start; k < bl->end; k++)
			v[k].drop = true;
		for (size_t k = bl->end; k < p->cut && is_blank(&v[k]); k++)
			v[k].drop = true;
	}
}

static bool
has_text(const struct line *v, size_t from, size_t to)
{
	for (size_t k = from; k < to; k++)
		if (!v[k].drop && !is_blank(&v[k]))
			return true;
	return false;
}

static char *
assemble(const struct line *v, size_t from, size_t to)
{
	struct buf b;
	size_t first = from, last = to;

	while (first < to && (v[first].drop || is_blank(&v[first])))
		first++;
	while (last > first && (v[last - 1].drop || is_blank(&v[last - 1])))
		last--;
	if (first >= last)
		return NULL;
	buf_init(&b);
	for (size_t k = first; k < last; k++) {
		if (v[k].drop)
			continue;
		text_sanitize_append(&b, v[k].s, v[k].len);
		if (k + 1 < last)
			buf_append(&b, "\n", 1);
	}
	return buf_steal(&b);
}

char *
reply_text(const char *body, size_t len)
{
	struct line *v;
	struct pass p;
	size_t n, from = 0;
	char *out = NULL;

	if (body == NULL || len == 0)
		return NULL;
	v = split_lines(body, len, &n);
	p.blocks = xcalloc(n, sizeof(*p.blocks));
	for (int round = 0; round <= UNWRAP_MAX; round++) {
		scan(v, n, from, &p);
		mark(v, from, &p);
		if (has_text(v, from, p.cut) ||
		    (p.kind != CUT_FORWARD && p.kind != CUT_ATTRIBUTION) ||
		    round == UNWRAP_MAX) {
			out = assemble(v, from, p.cut);
			break;
		}
		/* Nothing written above a forward or an attribution: the
		 * message is that, and its text is what follows. */
		from = p.resume;
	}
	free(p.blocks);
	free(v);
	return out;
}
