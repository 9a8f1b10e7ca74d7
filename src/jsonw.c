/*
 * Fast JSON string escaping: copy runs of plain bytes at once, escape
 * only quote, backslash and control characters, and check multi-byte
 * sequences as they pass.
 */
#include <stdio.h>
#include <string.h>

#include "jsonw.h"
#include "text.h"

static const char hex[] = "0123456789abcdef";

static bool
plain(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/*
 * Copies the UTF-8 sequence at p, or writes U+FFFD for an ill-formed
 * one: the database rejects a whole batch over one bad byte, so a
 * string that broke the promise of valid UTF-8 must not reach it as it
 * is. Returns the bytes consumed. A NUL ends any sequence, so this
 * never reads past the string.
 */
static size_t
utf8_copy(struct buf *b, const unsigned char *p)
{
	size_t n, skip = 1;

	if ((n = text_utf8_seq_len(p, 4, &skip)) != 0) {
		buf_append(b, p, n);
		return n;
	}
	buf_append(b, "\xef\xbf\xbd", 3);
	return skip;
}

/* A value never ends in '[', '{' or ':', so the last byte tells whether
 * the next element is the first of its container. */
void
jsonw_sep(struct buf *b)
{
	char last;

	if (b->len == 0)
		return;
	last = b->data[b->len - 1];
	if (last != '[' && last != '{' && last != ':')
		buf_append(b, ",", 1);
}

void
jsonw_str(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *run;

	if (s == NULL) {
		jsonw_null(b);
		return;
	}
	buf_reserve(b, strlen(s) + 2);
	buf_append(b, "\"", 1);
	for (;;) {
		run = p;
		while (plain(*p))
			p++;
		if (p > run)
			buf_append(b, run, (size_t)(p - run));
		if (*p == '\0')
			break;
		if (*p >= 0x80) {
			p += utf8_copy(b, p);
			continue;
		}
		switch (*p) {
		case '"':
			buf_append(b, "\\\"", 2);
			break;
		case '\\':
			buf_append(b, "\\\\", 2);
			break;
		case '\n':
			buf_append(b, "\\n", 2);
			break;
		case '\r':
			buf_append(b, "\\r", 2);
			break;
		case '\t':
			buf_append(b, "\\t", 2);
			break;
		default: {
			char u[6] = {
			    '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};

			buf_append(b, u, sizeof(u));
			break;
		}
		}
		p++;
	}
	buf_append(b, "\"", 1);
}

void
jsonw_int(struct buf *b, int64_t v)
{
	buf_printf(b, "%lld", (long long)v);
}

void
jsonw_bool(struct buf *b, bool v)
{
	if (v)
		buf_append(b, "true", 4);
	else
		buf_append(b, "false", 5);
}

void
jsonw_null(struct buf *b)
{
	buf_append(b, "null", 4);
}

void
jsonw_raw(struct buf *b, const char *json)
{
	if (json == NULL)
		jsonw_null(b);
	else
		buf_appends(b, json);
}

void
jsonw_strv(struct buf *b, const char *const *v, size_t n)
{
	buf_append(b, "[", 1);
	for (size_t i = 0; i < n; i++) {
		jsonw_sep(b);
		jsonw_str(b, v[i]);
	}
	buf_append(b, "]", 1);
}

void
jsonw_strz(struct buf *b, const char *const *v)
{
	size_t n = 0;

	if (v == NULL) {
		jsonw_null(b);
		return;
	}
	while (v[n] != NULL)
		n++;
	jsonw_strv(b, v, n);
}

void
jsonw_key(struct buf *b, const char *key)
{
	jsonw_sep(b);
	jsonw_str(b, key);
	buf_append(b, ":", 1);
}

void
jsonw_kstr(struct buf *b, const char *key, const char *s)
{
	jsonw_key(b, key);
	jsonw_str(b, s);
}

void
jsonw_kint(struct buf *b, const char *key, int64_t v)
{
	jsonw_key(b, key);
	jsonw_int(b, v);
}

void
jsonw_kbool(struct buf *b, const char *key, bool v)
{
	jsonw_key(b, key);
	jsonw_bool(b, v);
}
