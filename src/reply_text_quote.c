/*
 * The new text of a message: what introduces quoted history. An
 * attribution ("On <date>, <name> wrote:", in many languages and
 * wrapped over lines), a separator ("-----Original Message-----") or
 * an Outlook-style block of From/Sent/To/Subject lines.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "reply_text_int.h"
#include "util.h"

/* How many places of a line are tried as the start of an attribution
 * that shares the line with text. */
#define INLINE_TRIES 8
/* How far below its first line an Outlook-style header block is read. */
#define BLOCK_LINES 10

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
	if (n > 0 && reply_is_digit((unsigned char)t[0]))
		return true;
	for (size_t k = 0; k < nitems(opening_words); k++)
		if (reply_starts_ci(t, n, opening_words[k]))
			return true;
	return false;
}

/* Strips a trailing colon (ASCII or full width); false when none. */
static bool
strip_colon(const char **s, size_t *n)
{
	reply_trim(s, n);
	if (*n >= 1 && (*s)[*n - 1] == ':') {
		(*n)--;
	} else if (*n >= 3 && memcmp(*s + *n - 3, "\xef\xbc\x9a", 3) == 0) {
		(*n) -= 3;
	} else {
		return false;
	}
	reply_trim(s, n);
	return true;
}

static bool
ends_with_verb(const char *s, size_t n)
{
	for (size_t i = 0; i < nitems(tail_verbs); i++) {
		size_t vl = strlen(tail_verbs[i]);

		if (!reply_ends_ci(s, n, tail_verbs[i]))
			continue;
		/* A whole word: "rewrote:" is no attribution. */
		if (n == vl || !reply_is_alpha((unsigned char)s[n - vl - 1]))
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
		if (reply_is_digit((unsigned char)t[i])) {
			if (++run == 4)
				return true;
			continue;
		}
		if (run > 0 && (t[i] == ':' || t[i] == '.') && i + 2 < n &&
		    reply_is_digit((unsigned char)t[i + 1]) &&
		    reply_is_digit((unsigned char)t[i + 2]))
			return true;
		run = 0;
	}
	return false;
}

/* Whether t is an attribution, all its lines joined by one blank. */
bool
reply_is_attribution(const char *t, size_t n)
{
	bool colon, dashed, evidence;
	const char *lt;

	reply_trim(&t, &n);
	if (n == 0 || n > HEADER_MAX)
		return false;
	dashed = reply_strip_rules(&t, &n) >= 2;
	if (n == 0)
		return false;
	colon = strip_colon(&t, &n);
	evidence = reply_has_byte(t, n, '@') || dashed || has_date(t, n);
	if (ends_with_verb(t, n) && evidence &&
	    (colon || dashed ||
		(reply_starts_ci(t, n, "on ") && reply_ends_ci(t, n, "wrote"))))
		return true;
	if (!colon)
		goto dated_address;
	for (size_t i = 0; i < nitems(inner_verbs); i++)
		if (reply_contains_ci(t, n, inner_verbs[i]) &&
		    (reply_has_byte(t, n, '@') || reply_ends_ci(t, n, "uhr") ||
			opens_text(t, n)))
			return true;
	/* Gmail and others without a verb: a date, then "Name <addr>:". */
	if (n > 0 && t[n - 1] == '>' && reply_has_byte(t, n, '@') &&
	    reply_count_digits(t, n) >= 2) {
		lt = memchr(t, '<', n);
		if (lt != NULL && reply_count_digits(t, (size_t)(lt - t)) >= 2)
			return true;
	}
	return false;

dated_address:
	/* "2011/4/7 Name <addr>" and "2016-03-03 17:21 GMT+01:00 Name". */
	if (n >= 8 && reply_is_digit((unsigned char)t[0]) &&
	    reply_is_digit((unsigned char)t[3]) &&
	    (t[4] == '-' || t[4] == '/')) {
		if (t[n - 1] == '>' && reply_has_byte(t, n, '@'))
			return true;
		if (reply_contains_ci(t, n, " gmt"))
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

	reply_trim(&t, &n);
	if (n == 0)
		return false;
	return reply_in_set(t[n - 1], ":>-=_*") ||
	    reply_ends_ci(t, n, "wrote") ||
	    (n >= 3 && memcmp(t + n - 3, "\xef\xbc\x9a", 3) == 0);
}

static bool
starts_with_digit(const struct line *l)
{
	const char *t = l->s;
	size_t n = l->len;

	reply_trim(&t, &n);
	return n > 0 && reply_is_digit((unsigned char)t[0]);
}

/* "reply On <date>, <addr> wrote:": text and attribution on one line.
 * Returns where the attribution starts, or 0. Only the first few
 * "On"s of the line's last HEADER_MAX bytes are tried. */
size_t
reply_inline_attribution(const struct line *l)
{
	size_t k = l->len > HEADER_MAX ? l->len - HEADER_MAX : 1, tried = 0;

	if (!may_end_attribution(l))
		return 0;
	for (; k + 3 <= l->len && tried < INLINE_TRIES; k++) {
		if (!reply_same_ci(l->s + k, "on ", 3) ||
		    (l->s[k - 1] != ' ' && l->s[k - 1] != '-'))
			continue;
		tried++;
		if (reply_is_attribution(l->s + k, l->len - k))
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
		if (reply_is_blank(&v[k]))
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
	return n <= HEADER_MAX && reply_is_attribution(buf, n);
}

/* Whether line l looks like the first line of an attribution rather
 * than the end of the sender's text: an opening word or a date, and
 * not the wrapped rest of an address. */
static bool
opens_attribution(const struct line *l)
{
	const char *t = l->s, *sp;
	size_t n = l->len;

	reply_trim(&t, &n);
	sp = memchr(t, ' ', n);
	if (n == 0 || *t == '<' ||
	    reply_has_byte(t, sp == NULL ? n : (size_t)(sp - t), '@'))
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

	reply_trim(&t, &n);
	sp = memchr(t, ' ', n);
	return n == 0 || *t == '<' ||
	    reply_has_byte(t, sp == NULL ? n : (size_t)(sp - t), '@');
}

/* Whether an attribution starts at unquoted line i; *last is its last
 * line. An attribution wrapped over lines may hold one blank line, and
 * its later lines may carry a stray ">" (a wrapped "<addr>"). It
 * starts at i only when no shorter tail of it is one by itself, unless
 * line i opens like an attribution and the tail does not: the line of
 * text above "On ..." is not part of it, "<addr> wrote:" under it is. */
bool
reply_attribution_at(const struct line *v, size_t n, size_t i, size_t *last)
{
	size_t j = i, lines = 0, blanks = 0;
	bool tail_wins;

	if (reply_is_blank(&v[i]) || v[i].depth > 0)
		return false;
	tail_wins = !opens_attribution(&v[i]);
	if (tail_wins && reply_inline_attribution(&v[i]) > 0)
		return false; /* text, then "On ... wrote:" on its line */
	for (j = i; j < n && lines < HEADER_LINES; j++) {
		/* A quoted line ends it, unless it is a stray marker before
		 * the last word ("> wrote:"). */
		if (v[j].depth > 0 && v[j].blen > 10)
			break;
		if (reply_is_blank(&v[j])) {
			if (++blanks > 1)
				break;
			continue;
		}
		lines++;
		if (!attribution_span(v, i, j))
			continue;
		for (size_t s = i + 1; s <= j; s++)
			if (!reply_is_blank(&v[s]) &&
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
bool
reply_is_bare_attribution(const struct line *l)
{
	const char *t = l->s;
	size_t n = l->len;

	return n <= 100 && strip_colon(&t, &n) && ends_with_verb(t, n);
}

/* Separators ------------------------------------------------------------ */

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
const struct separator *
reply_separator_of(const struct line *l)
{
	const char *t = l->s;
	size_t n = l->len, dashes;

	if (n > 80)
		return NULL;
	dashes = reply_strip_rules(&t, &n);
	for (size_t i = 0; i < nitems(separators); i++) {
		const struct separator *sp = &separators[i];

		if (strlen(sp->text) == n && reply_same_ci(t, sp->text, n) &&
		    (dashes >= 2 || sp->colon))
			return sp;
	}
	return NULL;
}

/* Header blocks --------------------------------------------------------- */

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
enum hkey
reply_header_key(const struct line *l, const char **value)
{
	const char *s = l->s, *e = l->s + l->len, *k, *ke;
	size_t kn;

	while (s < e && (reply_is_space((unsigned char)*s) || *s == '*'))
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
	while (
	    ke > k && (reply_is_space((unsigned char)ke[-1]) || ke[-1] == '*'))
		ke--;
	kn = (size_t)(ke - k);
	s += *s == ':' ? 1 : 3;
	while (s < e && (*s == '*' || reply_is_space((unsigned char)*s)))
		s++;
	*value = s;
	for (size_t i = 0; i < nitems(header_words); i++)
		if (strlen(header_words[i].word) == kn &&
		    reply_same_ci(k, header_words[i].word, kn))
			return header_words[i].key;
	return HK_NONE;
}

/* A line of rule characters only, at least three of them. */
bool
reply_is_rule(const struct line *l)
{
	size_t marks = 0;

	for (size_t i = 0; i < l->len; i++) {
		if (reply_in_set(l->s[i], "-_=*"))
			marks++;
		else if (!reply_is_space((unsigned char)l->s[i]))
			return false;
	}
	return marks >= 3;
}

/* Whether an Outlook-style header block starts at line i: a From or
 * Date line with at least one other header line below it (blank and
 * wrapped lines may come between), or a lone From line with an
 * address. */
bool
reply_header_block_at(const struct line *v, size_t n, size_t i)
{
	const char *value;
	enum hkey first = reply_header_key(&v[i], &value);
	unsigned seen;
	size_t blanks = 0, others = 0;

	if (first != HK_FROM && first != HK_DATE)
		return false;
	seen = 1u << first;
	for (size_t j = i + 1; j < n && j <= i + BLOCK_LINES; j++) {
		const char *vj;
		enum hkey k;

		if (reply_is_blank(&v[j])) {
			if (++blanks > 2)
				break;
			continue;
		}
		blanks = 0;
		if ((k = reply_header_key(&v[j], &vj)) != HK_NONE &&
		    k != first) {
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
	    reply_has_byte(value, (size_t)(v[i].s + v[i].len - value), '@');
}
