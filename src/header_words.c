/*
 * Encoded words GMime would decode wrongly, rewritten in the raw header
 * block before it parses it:
 *   - A NUL ends a C string, so GMime cuts a header value at a raw one
 *     and makes one in an encoded word a "?"; Postgres text cannot hold
 *     it either. It is dropped, raw or encoded, and so is C0 80, the NUL
 *     of "modified UTF-8": as raw header bytes it is not UTF-8, and the
 *     windows-1252 fallback for such bytes would store it as "A-grave,
 *     euro sign".
 *   - UTF-16 without a byte order mark is big-endian (RFC 2781), and a
 *     mark says which it is; GMime reads unmarked UTF-16 as
 *     little-endian. Such words are decoded here and written again as
 *     UTF-8, a run of adjacent ones at once, since only the first word
 *     carries the mark and a character may straddle two words.
 * Every other word is left alone for GMime to decode.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "header_words.h"
#include "text.h"
#include "util.h"

/* Longer charset names than this are not charset names. */
#define MAX_CHARSET_LEN 64

/* An encoded word: =?charset?encoding?payload?= */
struct word {
	const char *charset;
	size_t charset_len; /* without an RFC 2231 "*language" */
	size_t label_len; /* with it */
	char encoding; /* 'B' or 'Q' */
	const char *payload;
	size_t payload_len;
	size_t len; /* of the whole word */
};

enum charset_kind {
	CHARSET_OTHER, /* NUL is the byte 0 */
	CHARSET_UTF8,
	CHARSET_UTF16, /* big-endian unless marked */
	CHARSET_UTF16LE,
	CHARSET_UTF16BE,
	CHARSET_WIDE, /* UTF-32, UCS-2, UCS-4: 0 bytes are in characters */
};

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Parses the encoded word at s. When its payload runs into white space
 * or the end without "?=", *stop is where that scan ended: no word
 * starting before it can end either, which keeps hostile input linear.
 */
static bool
parse_word(const char *s, size_t len, struct word *w, size_t *stop)
{
	const char *star;
	size_t i = 2, j;

	*stop = 0;
	if (len < 8 || s[0] != '=' || s[1] != '?')
		return false;
	while (i < len && i < 2 + MAX_CHARSET_LEN && s[i] != '?' &&
	    !is_space(s[i]))
		i++;
	if (i == 2 || i + 3 >= len || s[i] != '?' || s[i + 2] != '?')
		return false;
	w->charset = s + 2;
	w->label_len = i - 2;
	star = memchr(w->charset, '*', w->label_len);
	w->charset_len = star ? (size_t)(star - w->charset) : w->label_len;
	w->encoding = (char)(s[i + 1] & ~0x20);
	if (w->encoding != 'B' && w->encoding != 'Q')
		return false;
	w->payload = s + i + 3;
	for (j = i + 3; j + 1 < len && !(s[j] == '?' && s[j + 1] == '='); j++) {
		if (is_space(s[j]) || s[j] == '\0') {
			*stop = j;
			return false;
		}
	}
	if (j + 1 >= len) {
		*stop = len;
		return false;
	}
	w->payload_len = j - (i + 3);
	w->len = j + 2;
	return true;
}

static bool
charset_is(const struct word *w, const char *name)
{
	return w->charset_len == strlen(name) &&
	    strncasecmp(w->charset, name, w->charset_len) == 0;
}

static bool
charset_starts(const struct word *w, const char *prefix)
{
	return w->charset_len >= strlen(prefix) &&
	    strncasecmp(w->charset, prefix, strlen(prefix)) == 0;
}

static enum charset_kind
charset_kind(const struct word *w)
{
	if (charset_is(w, "utf-8") || charset_is(w, "utf8"))
		return CHARSET_UTF8;
	if (charset_is(w, "utf-16") || charset_is(w, "utf16"))
		return CHARSET_UTF16;
	if (charset_is(w, "utf-16le") || charset_is(w, "utf16le"))
		return CHARSET_UTF16LE;
	if (charset_is(w, "utf-16be") || charset_is(w, "utf16be"))
		return CHARSET_UTF16BE;
	if (charset_starts(w, "ucs") || charset_starts(w, "utf-32") ||
	    charset_starts(w, "utf32"))
		return CHARSET_WIDE;
	return CHARSET_OTHER;
}

/* Appends a Q-encoded payload to out: '_' is a space, "=XX" a byte. */
static void
decode_q(struct buf *out, const char *s, size_t n)
{
	unsigned char byte;
	char c;

	for (size_t i = 0; i < n; i++) {
		c = s[i] == '_' ? ' ' : s[i];
		if (c == '=' && i + 2 < n &&
		    text_hex_decode(s + i + 1, 2, &byte) == 1) {
			c = (char)byte;
			i += 2;
		}
		buf_append(out, &c, 1);
	}
}

/* Appends the word's payload, its encoding undone, to out. Bytes that
 * cannot be part of the encoding are skipped, as decoders do. */
static void
decode_word(struct buf *out, const struct word *w)
{
	if (w->encoding == 'Q') {
		decode_q(out, w->payload, w->payload_len);
		return;
	}
	buf_reserve(out, w->payload_len / 4 * 3 + 3);
	out->len += (size_t)text_base64_decode(
	    w->payload, w->payload_len, out->data + out->len, TEXT_B64_LAX);
	out->data[out->len] = '\0';
}

static void
append_base64(struct buf *out, const unsigned char *s, size_t n)
{
	static const char digits[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		char q[4];

		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		q[0] = digits[(v >> 18) & 63];
		q[1] = digits[(v >> 12) & 63];
		q[2] = i + 1 < n ? digits[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? digits[v & 63] : '=';
		buf_append(out, q, 4);
	}
}

/* Writes bytes as one B-encoded word in the charset label; an empty
 * word is left out. */
static void
append_word(struct buf *out, const char *label, size_t label_len,
    const struct buf *bytes)
{
	if (bytes->len == 0)
		return;
	buf_appends(out, "=?");
	buf_append(out, label, label_len);
	buf_appends(out, "?B?");
	append_base64(out, (const unsigned char *)bytes->data, bytes->len);
	buf_appends(out, "?=");
}

static uint32_t
utf16_unit(const unsigned char *s, bool big)
{
	return big ? (uint32_t)s[0] << 8 | s[1] : (uint32_t)s[1] << 8 | s[0];
}

/* Appends UTF-16 as UTF-8, without U+0000; broken surrogates and an odd
 * last byte become U+FFFD. */
static void
append_utf16(struct buf *out, const unsigned char *s, size_t n, bool big)
{
	size_t i = 0;
	uint32_t u, lo;

	if (n >= 2 && s[0] == 0xfe && s[1] == 0xff) {
		big = true;
		i = 2;
	} else if (n >= 2 && s[0] == 0xff && s[1] == 0xfe) {
		big = false;
		i = 2;
	}
	for (; i + 1 < n; i += 2) {
		u = utf16_unit(s + i, big);
		if (u >= 0xd800 && u <= 0xdbff && i + 3 < n &&
		    (lo = utf16_unit(s + i + 2, big)) >= 0xdc00 &&
		    lo <= 0xdfff) {
			u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
			i += 2;
		}
		if (u != 0)
			text_append_codepoint(out, u);
	}
	if (i < n)
		text_append_codepoint(out, 0xfffd);
}

/* Offset past the white space at s[i], a line break counting only when
 * it folds the header (the next line starts with white space). */
static size_t
skip_folding_space(const char *s, size_t i, size_t len)
{
	while (i < len) {
		if (s[i] == ' ' || s[i] == '\t')
			i++;
		else if (s[i] == '\r' && i + 2 < len && s[i + 1] == '\n' &&
		    (s[i + 2] == ' ' || s[i + 2] == '\t'))
			i += 3;
		else if (s[i] == '\n' && i + 1 < len &&
		    (s[i + 1] == ' ' || s[i + 1] == '\t'))
			i += 2;
		else
			break;
	}
	return i;
}

/* Rewrites the run of UTF-16 words in one charset that starts at s as
 * one UTF-8 word; returns the bytes it replaces. */
static size_t
repair_utf16_run(struct buf *out, const char *s, size_t len,
    const struct word *first, bool big)
{
	struct buf bytes, text;
	struct word w = *first;
	size_t i = 0, j, stop;

	buf_init(&bytes);
	buf_init(&text);
	for (;;) {
		decode_word(&bytes, &w);
		i += w.len;
		j = skip_folding_space(s, i, len);
		if (!parse_word(s + j, len - j, &w, &stop) ||
		    w.label_len != first->label_len ||
		    strncasecmp(w.charset, first->charset, w.label_len) != 0)
			break;
		i = j;
	}
	append_utf16(&text, (const unsigned char *)bytes.data, bytes.len, big);
	append_word(out, "UTF-8", 5, &text);
	buf_free(&bytes);
	buf_free(&text);
	return i;
}

/* Drops the NULs from b; C0 80 too when it is UTF-8. True if any. */
static bool
drop_nuls(struct buf *b, bool utf8)
{
	size_t o = 0;

	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] == '\0')
			continue;
		if (utf8 && (unsigned char)b->data[i] == 0xc0 &&
		    i + 1 < b->len && (unsigned char)b->data[i + 1] == 0x80) {
			i++;
			continue;
		}
		b->data[o++] = b->data[i];
	}
	if (o == b->len)
		return false;
	b->len = o;
	return true;
}

/* Appends the repaired form of the word at s to out and returns the
 * bytes it replaces, or 0 when the word is fine as it is. */
static size_t
repair_word(struct buf *out, const char *s, size_t len, const struct word *w)
{
	struct buf bytes;
	size_t n = 0;

	switch (charset_kind(w)) {
	case CHARSET_UTF16:
	case CHARSET_UTF16BE:
		return repair_utf16_run(out, s, len, w, true);
	case CHARSET_UTF16LE:
		return repair_utf16_run(out, s, len, w, false);
	case CHARSET_WIDE:
		return 0;
	case CHARSET_UTF8:
	case CHARSET_OTHER:
		break;
	}
	buf_init(&bytes);
	decode_word(&bytes, w);
	if (drop_nuls(&bytes, charset_kind(w) == CHARSET_UTF8)) {
		append_word(out, w->charset, w->label_len, &bytes);
		n = w->len;
	}
	buf_free(&bytes);
	return n;
}

static bool
is_raw_nul(const char *s, size_t i, size_t len)
{
	return s[i] == '\0' ||
	    ((unsigned char)s[i] == 0xc0 && i + 1 < len &&
		(unsigned char)s[i + 1] == 0x80);
}

char *
header_words_repair(const char *s, size_t len, size_t *out_len)
{
	struct buf out, rep;
	struct word w;
	size_t i = 0, start = 0, no_end = 0, stop, n;
	bool changed = false;

	buf_init(&out);
	buf_init(&rep);
	while (i < len) {
		if (is_raw_nul(s, i, len)) {
			buf_append(&out, s + start, i - start);
			i += s[i] == '\0' ? 1 : 2;
			start = i;
			changed = true;
			continue;
		}
		if (s[i] != '=' || i < no_end) {
			i++;
			continue;
		}
		if (!parse_word(s + i, len - i, &w, &stop)) {
			no_end = i + stop;
			i++;
			continue;
		}
		buf_reset(&rep);
		if ((n = repair_word(&rep, s + i, len - i, &w)) == 0) {
			i += w.len;
			continue;
		}
		buf_append(&out, s + start, i - start);
		buf_append(&out, rep.data ? rep.data : "", rep.len);
		i += n;
		start = i;
		changed = true;
	}
	buf_free(&rep);
	if (!changed) {
		buf_free(&out);
		return NULL;
	}
	buf_append(&out, s + start, len - start);
	*out_len = out.len;
	return buf_steal(&out);
}
