/*
 * Fast JSON string escaping: copy runs of plain bytes at once, escape
 * only quote, backslash and control characters.
 */
#include <stdio.h>
#include <string.h>

#include "jsonw.h"

static const char hex[] = "0123456789abcdef";

static bool
needs_escape(unsigned char c)
{
	return c < 0x20 || c == '"' || c == '\\';
}

void
jsonw_str(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *run;

	if (s == NULL) {
		buf_append(b, "null", 4);
		return;
	}
	buf_reserve(b, strlen(s) + 2);
	buf_append(b, "\"", 1);
	for (;;) {
		run = p;
		while (*p != '\0' && !needs_escape(*p))
			p++;
		if (p > run)
			buf_append(b, run, (size_t)(p - run));
		if (*p == '\0')
			break;
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
jsonw_key(struct buf *b, const char *key, bool first)
{
	if (!first)
		buf_append(b, ",", 1);
	jsonw_str(b, key);
	buf_append(b, ":", 1);
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
jsonw_raw(struct buf *b, const char *json)
{
	if (json == NULL)
		buf_append(b, "null", 4);
	else
		buf_appends(b, json);
}
