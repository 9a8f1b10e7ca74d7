/*
 * Body text as mime.c assembles and stores it, and the charset a body
 * is decoded from: helpers that need no GMime, unit-tested through
 * mime_parse() and on their own.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "body.h"
#include "text.h"
#include "util.h"

/* Cuts b back to len bytes. */
void
body_cut(struct buf *b, size_t len)
{
	if (b->data == NULL || len >= b->len)
		return;
	b->len = len;
	b->data[len] = '\0';
}

/* Separates body units in text: one blank line between them. */
void
body_start_unit(struct buf *b)
{
	if (b->len == 0)
		return;
	if (b->data[b->len - 1] != '\n')
		buf_append(b, "\n", 1);
	buf_append(b, "\n", 1);
}

bool
body_is_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			return false;
	return true;
}

/* Text as stored: no trailing whitespace, no leading blank lines;
 * NULL when nothing is left. */
char *
body_finish(struct buf *b)
{
	size_t start = 0;

	while (b->len > 0 &&
	    (b->data[b->len - 1] == ' ' || b->data[b->len - 1] == '\t' ||
		b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r'))
		b->len--;
	while (start < b->len &&
	    (b->data[start] == '\n' || b->data[start] == '\r'))
		start++;
	if (b->len == start) {
		buf_free(b);
		return NULL;
	}
	if (start > 0)
		memmove(b->data, b->data + start, b->len - start);
	b->len -= start;
	b->data[b->len] = '\0';
	return buf_steal(b);
}

/* Where GMime saw no message: raw text is kept if it reads as text. */
bool
body_looks_like_text(const char *data, size_t len)
{
	size_t n = len < 4096 ? len : 4096, control = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)data[i];

		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r' &&
			c != '\f') ||
		    c == 0x7f)
			control++;
	}
	return control * 10 < n;
}

/* Turns CRLF into LF in place, as the decoding filters do for parts. */
void
body_crlf_to_lf(struct buf *b)
{
	size_t j = 0;

	for (size_t i = 0; i < b->len; i++)
		if (!(b->data[i] == '\r' && i + 1 < b->len &&
			b->data[i + 1] == '\n'))
			b->data[j++] = b->data[i];
	body_cut(b, j);
}

/* Charset names compared without case and punctuation: "ISO_8859-1",
 * "iso-8859-1" and "iso8859_1" are one name. */
static void
charset_key(const char *name, char *key, size_t size)
{
	size_t n = 0;

	for (; *name && n + 1 < size; name++) {
		char c = *name;

		if (c == '-' || c == '_' || c == ' ' || c == '.' || c == ':')
			continue;
		key[n++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
	}
	key[n] = '\0';
}

static bool
key_in(const char *key, const char *const *names)
{
	for (; *names; names++)
		if (strcmp(key, *names) == 0)
			return true;
	return false;
}

/*
 * Picks the charset to convert a text body from, or NULL when its bytes
 * are to be taken as UTF-8:
 *   - missing, unknown, US-ASCII or UTF-8 labels: the bytes are UTF-8
 *     unless nothing in them is (then windows-1252);
 *   - ISO-8859-1 is read as windows-1252, its superset, except that a
 *     body that is valid UTF-8 stays UTF-8 (a frequent mislabel);
 *   - any other charset iconv knows is converted from.
 */
const char *
body_charset(const char *declared, const char *data, size_t len)
{
	static const char *const utf8[] = {
	    "utf8", "unicode11utf8", "xunicode20utf8", NULL};
	static const char *const ascii[] = {
	    "usascii", "ascii", "ansix341968", "iso646us", "us", "646", NULL};
	static const char *const latin1[] = {"iso88591", "latin1", "l1",
	    "iso885911987", "cp819", "ibm819", "windows1252", "cp1252",
	    "xcp1252", "windowscp1252", NULL};
	static const char *const meaningless[] = {"", "unknown", "xunknown",
	    "unknown8bit", "default", "xuserdefined", "none", "charset", NULL};
	enum text_utf8_kind kind = text_utf8_kind(data, len);
	char key[64];

	if (declared != NULL)
		charset_key(declared, key, sizeof(key));
	if (declared == NULL || key_in(key, utf8) || key_in(key, ascii) ||
	    key_in(key, meaningless))
		return kind == TEXT_UTF8_INVALID ? "windows-1252" : NULL;
	if (key_in(key, latin1))
		return kind == TEXT_UTF8_ASCII || kind == TEXT_UTF8_VALID
		    ? NULL
		    : "windows-1252";
	/* If iconv does not know it either, append_unlabelled() decides. */
	return declared;
}
