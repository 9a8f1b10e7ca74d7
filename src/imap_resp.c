/*
 * IMAP response parsing. Lines arrive as libcurl hands them over:
 * untagged responses separated by CRLF. Every parser survives junk,
 * truncation and missing fields, and none reads past len; what decides
 * how far the sync cursor moves (SEARCH, EXISTS, UIDNEXT) is refused
 * or flagged when it cannot be read whole, never guessed.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_resp.h"
#include "util.h"

/* Calls fn for each line of text (without CRLF). */
static void
each_line(const char *text, size_t len,
    void (*fn)(const char *line, size_t n, void *arg), void *arg)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (n > 0 && p[n - 1] == '\r')
			n--;
		fn(p, n, arg);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

/* Finds needle in line[0..n), case-insensitively. */
static const char *
find_ci(const char *line, size_t n, const char *needle)
{
	size_t k = strlen(needle);

	for (size_t i = 0; i + k <= n; i++)
		if (strncasecmp(line + i, needle, k) == 0)
			return line + i;
	return NULL;
}

/*
 * The decimal number at p, after spaces. *ok is false when there is no
 * digit or the number does not fit 64 bits: a number that wrapped
 * around would pass for a small, valid UID.
 */
static uint64_t
number_at(const char *p, const char *end, bool *ok)
{
	uint64_t v = 0;
	bool digits = false, overflow = false;

	while (p < end && *p == ' ')
		p++;
	for (; p < end && isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			overflow = true;
		else
			v = v * 10 + d;
		digits = true;
	}
	*ok = digits && !overflow;
	return v;
}

/* True when line is "* n EXISTS" in any shape, well-formed or not: its
 * first or second word after "* " is EXISTS. */
static bool
exists_shaped(const char *line, size_t n)
{
	const char *end = line + n, *p = line + 2, *sp;

	if (n < 2 || line[1] != ' ')
		return false;
	for (int word = 0; word < 2 && p < end; word++) {
		sp = memchr(p, ' ', (size_t)(end - p));
		if ((sp ? sp : end) - p == 6 &&
		    strncasecmp(p, "EXISTS", 6) == 0)
			return true;
		if (sp == NULL)
			break;
		p = sp + 1;
	}
	return false;
}

/* "* n EXISTS" exactly; anything else of that shape garbles the answer. */
static void
exists_line(const char *line, size_t n, struct imap_status *st)
{
	const char *end = line + n, *p = line + 2, *digits = p;
	bool ok;
	uint64_t v;

	while (p < end && isdigit((unsigned char)*p))
		p++;
	v = number_at(digits, p, &ok);
	if (p == digits || !ok || v > UINT32_MAX || end - p != 7 ||
	    strncasecmp(p, " EXISTS", 7) != 0) {
		st->garbled = true;
		return;
	}
	st->exists = (uint32_t)v;
	st->exists_seen = true;
}

static void
status_line(const char *line, size_t n, void *arg)
{
	struct imap_status *st = arg;
	const char *end = line + n, *p;
	bool ok;
	uint64_t v;

	if (n < 2 || line[0] != '*')
		return;
	if ((p = find_ci(line, n, "[UIDVALIDITY ")) != NULL) {
		v = number_at(p + 13, end, &ok);
		if (ok && v <= UINT32_MAX)
			st->uidvalidity = (uint32_t)v;
	} else if ((p = find_ci(line, n, "[UIDNEXT ")) != NULL) {
		v = number_at(p + 9, end, &ok);
		if (ok && v <= UINT32_MAX)
			st->uidnext = (uint32_t)v;
		else
			st->garbled = true;
	} else if ((p = find_ci(line, n, "[HIGHESTMODSEQ ")) != NULL) {
		v = number_at(p + 15, end, &ok);
		if (ok)
			st->highestmodseq = v;
	} else if (exists_shaped(line, n))
		exists_line(line, n, st);
}

int
imap_parse_status(const char *text, size_t len, struct imap_status *st)
{
	memset(st, 0, sizeof(*st));
	each_line(text, len, status_line, st);
	return st->uidvalidity ? 0 : -1;
}

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* 28 to 31: 31 February is no day. */
static int
days_in_month(int y, int mon)
{
	static const int days[] = {
	    31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return days[mon - 1] + (mon == 2 && leap);
}

int64_t
imap_parse_date(const char *s)
{
	int d, y, hh, mm, ss, zone, mon = -1;
	char mname[4], sign;

	if (sscanf(s, " %2d-%3s-%4d %2d:%2d:%2d %c%4d", &d, mname, &y, &hh, &mm,
		&ss, &sign, &zone) != 8)
		return -1;
	for (int i = 0; i < 12; i++)
		if (strcasecmp(mname, months[i]) == 0)
			mon = i + 1;
	/* %2d also reads "-1": the time fields are checked from zero up.
	 * A zone of a day or more is no zone. */
	if (mon < 0 || d < 1 || d > days_in_month(y, mon) || hh < 0 ||
	    hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60 ||
	    (sign != '+' && sign != '-') || zone < 0 || zone / 100 > 23 ||
	    zone % 100 > 59)
		return -1;
	int64_t t = days_from_civil(y, (unsigned)mon, (unsigned)d) * 86400 +
	    hh * 3600 + mm * 60 + ss;
	int64_t off = (zone / 100) * 3600 + (zone % 100) * 60;

	return sign == '+' ? t - off : t + off;
}

struct fetch_acc {
	struct imap_msginfo *v;
	size_t n, cap;
};

static void
fetch_line(const char *line, size_t n, void *arg)
{
	struct fetch_acc *acc = arg;
	const char *end = line + n, *p, *q;
	struct imap_msginfo mi;
	bool ok;
	uint64_t v;

	if (n < 2 || line[0] != '*' || find_ci(line, n, " FETCH (") == NULL)
		return;
	memset(&mi, 0, sizeof(mi));
	if ((p = find_ci(line, n, "UID ")) == NULL)
		return;
	v = number_at(p + 4, end, &ok);
	if (!ok || v == 0 || v > UINT32_MAX)
		return;
	mi.uid = (uint32_t)v;
	if ((p = find_ci(line, n, "RFC822.SIZE ")) != NULL) {
		v = number_at(p + 12, end, &ok);
		if (ok && v <= UINT32_MAX)
			mi.size = (uint32_t)v;
	}
	if ((p = find_ci(line, n, "FLAGS (")) != NULL &&
	    (q = memchr(p, ')', (size_t)(end - p))) != NULL)
		mi.seen = find_ci(p, (size_t)(q - p), "\\Seen") != NULL;
	if ((p = find_ci(line, n, "INTERNALDATE \"")) != NULL &&
	    (q = memchr(p + 14, '"', (size_t)(end - p - 14))) != NULL) {
		char *date = xstrndup(p + 14, (size_t)(q - p - 14));
		int64_t t = imap_parse_date(date);

		mi.internal_date = t > 0 ? t : 0;
		free(date);
	}
	if (acc->n == acc->cap) {
		acc->cap = acc->cap ? acc->cap * 2 : 256;
		acc->v = xreallocarray(acc->v, acc->cap, sizeof(*acc->v));
	}
	acc->v[acc->n++] = mi;
}

size_t
imap_parse_fetch(const char *text, size_t len, struct imap_msginfo **out)
{
	struct fetch_acc acc = {NULL, 0, 0};

	each_line(text, len, fetch_line, &acc);
	*out = acc.v;
	return acc.n;
}

struct search_acc {
	uint32_t *v;
	size_t n, cap;
	bool seen; /* a SEARCH line was there */
	bool garbled; /* one held something else than UIDs */
};

static void
search_add(struct search_acc *acc, uint32_t uid)
{
	if (acc->n == acc->cap) {
		acc->cap = acc->cap ? acc->cap * 2 : 1024;
		acc->v = xreallocarray(acc->v, acc->cap, sizeof(*acc->v));
	}
	acc->v[acc->n++] = uid;
}

/*
 * "* SEARCH" followed by UIDs, each 1 .. 2^32-1 after one or more
 * spaces; a CONDSTORE "(MODSEQ n)" may end it. Anything else garbles
 * the whole answer: a list read only in part would pass for the truth.
 */
static void
search_line(const char *line, size_t n, void *arg)
{
	struct search_acc *acc = arg;
	const char *p = line + 8, *end = line + n;

	if (n < 8 || strncasecmp(line, "* SEARCH", 8) != 0 ||
	    (n > 8 && line[8] != ' '))
		return;
	acc->seen = true;
	while (p < end) {
		bool ok;
		uint64_t v;

		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		if (end - p >= 8 && strncasecmp(p, "(MODSEQ ", 8) == 0 &&
		    end[-1] == ')')
			break;
		if (!isdigit((unsigned char)*p)) {
			acc->garbled = true;
			return;
		}
		v = number_at(p, end, &ok);
		while (p < end && isdigit((unsigned char)*p))
			p++;
		if (!ok || v == 0 || v > UINT32_MAX || (p < end && *p != ' ')) {
			acc->garbled = true;
			return;
		}
		search_add(acc, (uint32_t)v);
	}
}

int
imap_parse_search(const char *text, size_t len, uint32_t **out, size_t *n)
{
	struct search_acc acc = {NULL, 0, 0, false, false};

	each_line(text, len, search_line, &acc);
	if (!acc.seen || acc.garbled) {
		free(acc.v);
		*out = NULL;
		*n = 0;
		return -1;
	}
	*out = acc.v;
	*n = acc.n;
	return 0;
}

/* One "n" or "n:m" of a set; the rest of the set is after *p. */
static bool
set_range(const char **p, const char *end, uint64_t *lo, uint64_t *hi)
{
	const char *q = *p;
	bool ok;

	if (q == end || !isdigit((unsigned char)*q))
		return false;
	*lo = number_at(q, end, &ok);
	while (q < end && isdigit((unsigned char)*q))
		q++;
	if (!ok || *lo == 0 || *lo > UINT32_MAX)
		return false;
	*hi = *lo;
	if (q < end && *q == ':') {
		q++;
		if (q == end || !isdigit((unsigned char)*q))
			return false;
		*hi = number_at(q, end, &ok);
		while (q < end && isdigit((unsigned char)*q))
			q++;
		if (!ok || *hi == 0 || *hi > UINT32_MAX)
			return false;
		if (*hi < *lo) {
			uint64_t t = *lo;

			*lo = *hi;
			*hi = t;
		}
	}
	*p = q;
	return true;
}

int
imap_parse_uid_set(const char *s, size_t len, uint32_t max, size_t limit,
    uint32_t **out, size_t *n)
{
	const char *p = s, *end = s + len;
	struct search_acc acc = {NULL, 0, 0, true, false};
	uint64_t lo, hi;

	*out = NULL;
	*n = 0;
	for (;;) {
		if (!set_range(&p, end, &lo, &hi))
			goto bad;
		for (uint64_t u = lo; u <= hi && u <= max; u++) {
			if (acc.n == limit)
				goto bad;
			search_add(&acc, (uint32_t)u);
		}
		if (p == end)
			break;
		if (*p++ != ',')
			goto bad;
	}
	*out = acc.v;
	*n = acc.n;
	return 0;
bad:
	free(acc.v);
	return -1;
}

int
imap_uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

struct list_acc {
	char *special;
	char *conventional;
};

/* Where the quoted string or NIL at p ends, or NULL: the hierarchy
 * delimiter of a LIST line. */
static const char *
skip_delimiter(const char *p, const char *end)
{
	if (end - p >= 3 && strncasecmp(p, "NIL", 3) == 0)
		return p + 3;
	if (p == end || *p != '"')
		return NULL;
	for (p++; p < end; p++) {
		if (*p == '\\' && p + 1 < end)
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

/* The quoted string at p, unescaped (malloc'd); NULL unless its
 * closing quote is the last byte before end. CR and LF cannot be
 * quoted. */
static char *
quoted_name(const char *p, const char *end)
{
	struct buf b;

	buf_init(&b);
	for (p++; p < end && *p != '"'; p++) {
		if (*p == '\\' && p + 1 < end)
			p++;
		if (*p == '\r' || *p == '\n')
			break;
		buf_append(&b, p, 1);
	}
	if (p + 1 != end || *p != '"') {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

/*
 * The mailbox name of a LIST line, read after the attributes and the
 * delimiter: a quoted string or an atom (malloc'd), else NULL. A name
 * sent as a literal ("{4}") is on the next line, which a parser of
 * single lines does not see; it is no name rather than a wrong one.
 */
static char *
list_name(const char *line, size_t n)
{
	const char *end = line + n, *p;

	if ((p = memchr(line, ')', n)) == NULL || ++p == end || *p != ' ')
		return NULL;
	if ((p = skip_delimiter(p + 1, end)) == NULL || p == end || *p != ' ')
		return NULL;
	if (++p == end)
		return NULL;
	if (*p == '"')
		return quoted_name(p, end);
	/* An atom has no specials and no control characters (a line that
	 * ended in CR CR LF keeps one CR). */
	for (const char *q = p; q < end; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f ||
		    strchr(" \"(){}\\", *q) != NULL)
			return NULL;
	return xstrndup(p, (size_t)(end - p));
}

/*
 * The usual names of a Sent folder, in English and in the languages of
 * common mail clients and servers, as IMAP spells them (modified UTF-7,
 * RFC 3501 5.1.3), at the top or below INBOX ("INBOX.Sent").
 */
static bool
conventional_sent(const char *name)
{
	static const char *const names[] = {"Sent", "Sent Items",
	    "Sent Messages", "Sent Mail", "[Gmail]/Sent Mail",
	    "[Google Mail]/Sent Mail", "Gesendet", "Gesendete Objekte",
	    "Gesendete Elemente", "Envoy&AOk-s", "Messages envoy&AOk-s",
	    "&AMk-l&AOk-ments envoy&AOk-s", "Enviados", "Enviadas",
	    "Elementos enviados", "Itens Enviados", "Posta inviata", "Inviati",
	    "Inviata", "Verzonden", "Verzonden items", "Skickat",
	    "Skickade objekt", "Sendt", "Sendte elementer", "Sendte",
	    "Wys&AUI-ane", "Odeslan&AOE- po&AWE-ta", "L&AOQ-hetetyt",
	    "Elk&APw-ld&APY-tt elemek", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-",
	    "&kAFP4W4IMH8-", "&XfJT0ZAB-"};

	if (strncasecmp(name, "INBOX", 5) == 0 &&
	    (name[5] == '.' || name[5] == '/') && name[6] != '\0')
		name += 6;
	for (size_t i = 0; i < nitems(names); i++)
		if (strcasecmp(name, names[i]) == 0)
			return true;
	return false;
}

/*
 * True when a LIST line holds only printable 7-bit bytes. Names are
 * modified UTF-7 (RFC 3501 5.1.3) and quoted strings take neither CR,
 * LF nor NUL: a line with a control or 8-bit byte anywhere (a bare CR
 * inside it, a name in raw UTF-8 or Latin-1) is one the server garbled,
 * and a name read from it could not be opened.
 */
static bool
list_line_clean(const char *line, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 ||
		    (unsigned char)line[i] >= 0x7f)
			return false;
	return true;
}

static void
list_line(const char *line, size_t n, void *arg)
{
	struct list_acc *acc = arg;
	const char *attrs_end;
	char *name;

	/* XLIST, the older Gmail form, marks Sent the same way. */
	if ((n < 8 || strncasecmp(line, "* LIST (", 8) != 0) &&
	    (n < 9 || strncasecmp(line, "* XLIST (", 9) != 0))
		return;
	if (!list_line_clean(line, n))
		return;
	if ((attrs_end = memchr(line, ')', n)) == NULL)
		return;
	if ((name = list_name(line, n)) == NULL)
		return;
	/* No folder is named "": EXAMINE "" would fail every pass. */
	if (*name == '\0') {
		free(name);
		return;
	}
	if (find_ci(line, (size_t)(attrs_end - line), "\\Sent") != NULL &&
	    acc->special == NULL) {
		acc->special = name;
		return;
	}
	if (acc->conventional == NULL && conventional_sent(name)) {
		acc->conventional = name;
		return;
	}
	free(name);
}

char *
imap_parse_list_sent(const char *text, size_t len)
{
	struct list_acc acc = {NULL, NULL};

	each_line(text, len, list_line, &acc);
	if (acc.special) {
		free(acc.conventional);
		return acc.special;
	}
	return acc.conventional;
}

bool
imap_has_capability(const char *text, size_t len, const char *cap)
{
	size_t k = strlen(cap);
	const char *p = text, *end = text + len;

	while ((p = find_ci(p, (size_t)(end - p), cap)) != NULL) {
		bool start = p == text || p[-1] == ' ';
		bool stop = p + k == end || p[k] == ' ' || p[k] == '\r' ||
		    p[k] == '\n' || p[k] == ']';

		if (start && stop)
			return true;
		p += k;
	}
	return false;
}

char *
imap_quote(const char *name)
{
	struct buf b;

	buf_init(&b);
	buf_append(&b, "\"", 1);
	for (const char *p = name; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_append(&b, "\\", 1);
		if (*p == '\r' || *p == '\n')
			continue;
		buf_append(&b, p, 1);
	}
	buf_append(&b, "\"", 1);
	return buf_steal(&b);
}
