/*
 * UTF-8 repair, and hex and base64 decoding. Everything here is
 * linear in the input: mail bodies are large and some are hostile.
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
	if (n + pad != len || n % 4 == 1 || pad > 2 ||
	    (pad != 0 && len % 4 != 0))
		return false;
	/* The bits of the last digit below its last byte are zero in what
	 * an encoder writes; others would decode two inputs alike. */
	if (n % 4 != 0) {
		int v = base64_value(in[n - 1], flags);

		return (v & (n % 4 == 2 ? 0x0f : 0x03)) == 0;
	}
	return true;
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
