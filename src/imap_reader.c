/*
 * The IMAP response reader. A response is a line; a line that ends in
 * "{n}" (or "{n+}", "~{n}") announces a literal of n bytes, after
 * which the same response goes on with another line. The reader keeps
 * the text of the lines, each literal apart, and nothing else.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_reader.h"
#include "imap_resp.h"
#include "util.h"

/* Literals one response may announce: a FETCH of ours has one or two. */
#define MAX_LITERALS 64
/* The largest literal given its whole room when it is announced. */
#define RESERVE_MAX (4 * 1024 * 1024)
/* The largest literal size believed: no mail system passes messages of
 * a gigabyte; more is a lie, not a message, and would stream for ever. */
#define MAX_LITERAL_SIZE ((uint64_t)1 << 30)

struct imap_reader {
	size_t max_line;
	size_t max_literal;
	imap_response_fn *fn;
	void *arg;
	struct buf line; /* the response's text so far */
	size_t seg; /* where the line being read starts in it */
	struct imap_literal lits[MAX_LITERALS];
	size_t n_lits;
	uint64_t remaining; /* bytes of the current literal still to come */
	bool in_literal;
	bool failed;
	char error[128];
};

struct imap_reader *
imap_reader_new(
    size_t max_line, size_t max_literal, imap_response_fn *fn, void *arg)
{
	struct imap_reader *r = xcalloc(1, sizeof(*r));

	r->max_line = max_line;
	r->max_literal = max_literal;
	r->fn = fn;
	r->arg = arg;
	buf_init(&r->line);
	return r;
}

static void
clear_response(struct imap_reader *r)
{
	for (size_t i = 0; i < r->n_lits; i++)
		buf_free(&r->lits[i].data);
	memset(r->lits, 0, r->n_lits * sizeof(r->lits[0]));
	r->n_lits = 0;
	buf_reset(&r->line);
	r->seg = 0;
}

void
imap_reader_free(struct imap_reader *r)
{
	if (r == NULL)
		return;
	clear_response(r);
	buf_free(&r->line);
	free(r);
}

const char *
imap_reader_error(const struct imap_reader *r)
{
	return r->error;
}

size_t
imap_reader_pending(const struct imap_reader *r)
{
	size_t n = r->line.len;

	for (size_t i = 0; i < r->n_lits; i++)
		n += r->lits[i].data.len;
	return n;
}

static int
fail(struct imap_reader *r, const char *why)
{
	r->failed = true;
	snprintf(r->error, sizeof(r->error), "%s", why);
	return -1;
}

/*
 * The literal size the line just read ends with, "{n}", "{n+}" or
 * "~{n}": 1 and *size, 0 when it announces none, -1 when the number is
 * not one.
 */
static int
literal_at_end(const char *s, size_t len, uint64_t *size)
{
	size_t i;
	uint64_t v = 0;

	if (len < 3 || s[len - 1] != '}')
		return 0;
	i = len - 1;
	if (s[i - 1] == '+')
		i--;
	size_t digits_end = i;
	while (i > 0 && isdigit((unsigned char)s[i - 1]))
		i--;
	if (i == 0 || s[i - 1] != '{' || i == digits_end)
		return 0; /* "{}" is text, not a literal */
	if (digits_end - i > 13)
		return -1;
	for (size_t k = i; k < digits_end; k++)
		v = v * 10 + (uint64_t)(s[k] - '0');
	if (v > MAX_LITERAL_SIZE)
		return -1;
	*size = v;
	return 1;
}

static void
describe(struct imap_reader *r, struct imap_response *resp)
{
	char *sp;

	memset(resp, 0, sizeof(*resp));
	resp->line = r->line.data ? r->line.data : (char *)"";
	resp->len = r->line.len;
	resp->lits = r->lits;
	resp->n_lits = r->n_lits;
	if (resp->len >= 1 && resp->line[0] == '*')
		resp->kind = IMAP_UNTAGGED;
	else if (resp->len >= 1 && resp->line[0] == '+')
		resp->kind = IMAP_CONTINUE;
	else {
		resp->kind = IMAP_TAGGED;
		resp->tag = resp->line;
		sp = memchr(resp->line, ' ', resp->len);
		resp->tag_len = sp ? (size_t)(sp - resp->line) : resp->len;
		resp->text = sp ? sp + 1 : resp->line + resp->len;
	}
}

/* A line is in: it announces a literal or ends the response. Returns
 * -1 on error, 0 to go on, 1 when the callback asked to stop. */
static int
line_done(struct imap_reader *r)
{
	struct imap_response resp;
	uint64_t size;
	bool go_on;
	int lit;

	if (r->line.len > r->seg && r->line.data[r->line.len - 1] == '\r')
		r->line.data[--r->line.len] = '\0';
	lit =
	    literal_at_end(r->line.data + r->seg, r->line.len - r->seg, &size);
	if (lit == -1)
		return fail(r, "a literal of an impossible size");
	if (lit == 1) {
		if (r->n_lits == MAX_LITERALS)
			return fail(r, "too many literals in one response");
		buf_init(&r->lits[r->n_lits].data);
		/* A literal of a usual size gets its room at once: one
		 * allocation, no copies as it grows. A larger one (which
		 * may be a lie) grows as its bytes come. */
		if (size <= RESERVE_MAX && size <= r->max_literal)
			buf_reserve_exact(
			    &r->lits[r->n_lits].data, (size_t)size);
		r->lits[r->n_lits].size = size;
		r->n_lits++;
		r->remaining = size;
		r->in_literal = size > 0;
		r->seg = r->line.len;
		return 0;
	}
	describe(r, &resp);
	go_on = r->fn(&resp, r->arg);
	clear_response(r);
	return go_on ? 0 : 1;
}

/* Whether n more bytes of data make the line longer than max_line; a
 * CR they end with may end the line and is not counted. */
static bool
line_too_long(const struct imap_reader *r, const char *data, size_t n)
{
	size_t len = r->line.len + n;
	char last = n > 0 ? data[n - 1] : len > 0 ? r->line.data[len - 1] : 0;

	return len - (last == '\r') > r->max_line;
}

/* Takes up to len bytes of the current literal; returns how many. */
static size_t
literal_bytes(struct imap_reader *r, const char *data, size_t len)
{
	struct imap_literal *l = &r->lits[r->n_lits - 1];
	size_t n = len < r->remaining ? len : (size_t)r->remaining;
	size_t room =
	    l->data.len < r->max_literal ? r->max_literal - l->data.len : 0;

	if (room > 0)
		buf_append(&l->data, data, n < room ? n : room);
	if (n > room)
		l->truncated = true;
	r->remaining -= n;
	if (r->remaining == 0) {
		r->in_literal = false;
		r->seg = r->line.len;
	}
	return n;
}

int
imap_reader_feed(struct imap_reader *r, const char *data, size_t len)
{
	const char *end = data + len;

	if (r->failed)
		return -1;
	while (data < end) {
		const char *nl;
		size_t n;
		int rc;

		if (r->in_literal) {
			data += literal_bytes(r, data, (size_t)(end - data));
			continue;
		}
		nl = memchr(data, '\n', (size_t)(end - data));
		n = nl ? (size_t)(nl - data) : (size_t)(end - data);
		if (line_too_long(r, data, n))
			return fail(r, "a response line too long");
		buf_append(&r->line, data, n);
		data += n;
		if (nl == NULL)
			break;
		data++;
		if ((rc = line_done(r)) != 0)
			return rc == -1 ? -1 : 0;
	}
	return 0;
}

/* FETCH --------------------------------------------------------------------- */

struct cursor {
	const char *p, *end;
	struct imap_response *r;
	size_t lit; /* the next literal of r */
};

static void
skip_spaces(struct cursor *c)
{
	while (c->p < c->end && *c->p == ' ')
		c->p++;
}

/* An atom, which for FETCH item names includes a "[section]<n>". */
static bool
atom(struct cursor *c, const char **s, size_t *n)
{
	const char *start = c->p;
	int depth = 0;

	while (c->p < c->end) {
		char ch = *c->p;

		if (ch == '[')
			depth++;
		else if (ch == ']' && depth > 0)
			depth--;
		else if (depth == 0 &&
		    (ch == ' ' || ch == '(' || ch == ')' || ch == '"' ||
			ch == '{' || (unsigned char)ch < 0x20))
			break;
		c->p++;
	}
	*s = start;
	*n = (size_t)(c->p - start);
	return *n > 0 && depth == 0;
}

static bool
number(struct cursor *c, uint64_t *v)
{
	bool any = false;

	*v = 0;
	while (c->p < c->end && isdigit((unsigned char)*c->p)) {
		unsigned d = (unsigned)(*c->p - '0');

		if (*v > (UINT64_MAX - d) / 10)
			return false;
		*v = *v * 10 + d;
		c->p++;
		any = true;
	}
	return any;
}

/* A quoted string; its unescaped contents go to out when not NULL. */
static bool
quoted(struct cursor *c, struct buf *out)
{
	if (c->p == c->end || *c->p != '"')
		return false;
	for (c->p++; c->p < c->end; c->p++) {
		if (*c->p == '"') {
			c->p++;
			return true;
		}
		if (*c->p == '\\' && c->p + 1 < c->end)
			c->p++;
		if (out)
			buf_append(out, c->p, 1);
	}
	return false;
}

/* A "{n}" marker: the next literal of the response. */
static struct imap_literal *
literal(struct cursor *c)
{
	const char *close;

	if (c->p < c->end && *c->p == '~')
		c->p++;
	if (c->p == c->end || *c->p != '{')
		return NULL;
	close = memchr(c->p, '}', (size_t)(c->end - c->p));
	if (close == NULL || c->lit >= c->r->n_lits)
		return NULL;
	c->p = close + 1;
	return &c->r->lits[c->lit++];
}

/* Any value: skipped, parenthesised lists in full. */
static bool
skip_value(struct cursor *c, int depth)
{
	const char *s;
	size_t n;

	if (depth > 32 || c->p == c->end)
		return false;
	switch (*c->p) {
	case '"':
		return quoted(c, NULL);
	case '{':
	case '~':
		return literal(c) != NULL;
	case '(':
		c->p++;
		for (;;) {
			skip_spaces(c);
			if (c->p == c->end)
				return false;
			if (*c->p == ')') {
				c->p++;
				return true;
			}
			if (!skip_value(c, depth + 1))
				return false;
		}
	default:
		return atom(c, &s, &n);
	}
}

static bool
item_is(const char *s, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(s, name, n) == 0;
}

/* FLAGS (...): the list as written, checked to be flags only. */
static bool
flags_value(struct cursor *c, struct imap_fetch *f)
{
	const char *start, *close;

	if (c->p == c->end || *c->p != '(')
		return false;
	start = ++c->p;
	close = memchr(start, ')', (size_t)(c->end - start));
	if (close == NULL)
		return false;
	for (const char *q = start; q < close; q++)
		if ((unsigned char)*q < 0x20 || *q == '(' || *q == '"' ||
		    *q == '{' || *q == 0x7f)
			return false;
	free(f->flags);
	f->flags = xstrndup(start, (size_t)(close - start));
	f->has_flags = true;
	c->p = close + 1;
	return true;
}

/* A body sent quoted is owned by f; a second BODY[] replaces it. */
static void
drop_quoted_body(struct imap_fetch *f)
{
	if (f->quoted_body == NULL)
		return;
	buf_free(&f->quoted_body->data);
	free(f->quoted_body);
	f->quoted_body = NULL;
}

static bool
body_value(struct cursor *c, struct imap_fetch *f)
{
	const char *s;
	size_t n;

	if (c->p < c->end && *c->p == '"') {
		/* A body sent as a quoted string: kept like a literal. */
		struct imap_literal *l = xcalloc(1, sizeof(*l));

		buf_init(&l->data);
		if (!quoted(c, &l->data)) {
			buf_free(&l->data);
			free(l);
			return false;
		}
		l->size = l->data.len;
		drop_quoted_body(f);
		f->quoted_body = l;
		f->body = l;
		return true;
	}
	if (c->p < c->end && (*c->p == '{' || *c->p == '~'))
		return (f->body = literal(c)) != NULL;
	if (!atom(c, &s, &n) || !item_is(s, n, "NIL"))
		return false;
	f->body_nil = true;
	return true;
}

/* X-GM-MSGID and X-GM-THRID: a 64-bit number, nothing glued to it. */
static bool
gm_id_value(struct cursor *c, uint64_t *v, bool *has)
{
	if (!number(c, v) || *v == 0 ||
	    (c->p < c->end && *c->p != ' ' && *c->p != ')'))
		return false;
	*has = true;
	return true;
}

static void
free_labels(char **labels)
{
	for (char **l = labels; l && *l; l++)
		free(*l);
	free(labels);
}

/* A label as Gmail writes it unquoted: "\Inbox", "Work", "[Gmail]/x". */
static bool
label_atom(struct cursor *c, struct buf *out)
{
	const char *start = c->p;

	while (c->p < c->end && *c->p != ' ' && *c->p != '(' && *c->p != ')' &&
	    *c->p != '"' && *c->p != '{')
		c->p++;
	buf_append(out, start, (size_t)(c->p - start));
	return c->p > start;
}

/*
 * One label of X-GM-LABELS, an atom, a quoted string or a literal, its
 * text unquoted into out. A label is a name: an empty one, one with a
 * control character, or a literal cut short is refused.
 */
static bool
gm_label(struct cursor *c, struct buf *out)
{
	struct imap_literal *l;
	bool ok;

	if (c->p < c->end && *c->p == '"')
		ok = quoted(c, out);
	else if (c->p < c->end &&
	    (*c->p == '{' ||
		(*c->p == '~' && c->p + 1 < c->end && c->p[1] == '{'))) {
		ok = (l = literal(c)) != NULL && !l->truncated;
		if (ok)
			buf_append(out, l->data.data, l->data.len);
	} else
		ok = label_atom(c, out);
	if (!ok || out->len == 0)
		return false;
	for (size_t i = 0; i < out->len; i++)
		if ((unsigned char)out->data[i] < 0x20 || out->data[i] == 0x7f)
			return false;
	/* Labels are apart: "(a"b")" is not two of them. */
	return c->p < c->end && (*c->p == ' ' || *c->p == ')');
}

/* X-GM-LABELS (...): NULL-terminated, possibly empty; or NULL. */
static char **
gm_label_list(struct cursor *c)
{
	char **labels = xcalloc(1, sizeof(char *));
	size_t n = 0;
	struct buf b;

	if (c->p == c->end || *c->p++ != '(') {
		free(labels);
		return NULL;
	}
	for (;;) {
		skip_spaces(c);
		if (c->p < c->end && *c->p == ')') {
			c->p++;
			return labels;
		}
		buf_init(&b);
		if (!gm_label(c, &b)) {
			buf_free(&b);
			free_labels(labels);
			return NULL;
		}
		labels = xreallocarray(labels, n + 2, sizeof(char *));
		labels[n++] = buf_steal(&b);
		labels[n] = NULL;
	}
}

static bool
gm_labels_value(struct cursor *c, struct imap_fetch *f)
{
	char **labels = gm_label_list(c);

	if (labels == NULL)
		return false;
	free_labels(f->gm_labels);
	f->gm_labels = labels;
	return true;
}

static bool
item(struct cursor *c, struct imap_fetch *f)
{
	const char *name;
	size_t n;
	uint64_t v;
	struct buf date;
	bool ok;

	if (!atom(c, &name, &n))
		return false;
	skip_spaces(c);
	if (item_is(name, n, "UID")) {
		if (!number(c, &v) || v == 0 || v > UINT32_MAX)
			return false;
		f->uid = (uint32_t)v;
		return true;
	}
	if (item_is(name, n, "RFC822.SIZE")) {
		if (!number(c, &f->size))
			return false;
		f->has_size = true;
		return true;
	}
	if (item_is(name, n, "FLAGS"))
		return flags_value(c, f);
	if (item_is(name, n, "INTERNALDATE")) {
		buf_init(&date);
		ok = quoted(c, &date);
		if (ok && date.data) {
			int64_t t = imap_parse_date(date.data);

			f->internal_date = t > 0 ? t : 0;
		}
		buf_free(&date);
		return ok;
	}
	if (item_is(name, n, "MODSEQ")) {
		if (c->p == c->end || *c->p++ != '(')
			return false;
		skip_spaces(c);
		if (!number(c, &f->modseq))
			return false;
		skip_spaces(c);
		return c->p < c->end && *c->p++ == ')';
	}
	if (item_is(name, n, "X-GM-MSGID"))
		return gm_id_value(c, &f->gm_msgid, &f->has_gm_msgid);
	if (item_is(name, n, "X-GM-THRID"))
		return gm_id_value(c, &f->gm_thrid, &f->has_gm_thrid);
	if (item_is(name, n, "X-GM-LABELS"))
		return gm_labels_value(c, f);
	/* BODY[] and BODY[]<0>, as BODY.PEEK[] is answered. */
	if (n >= 6 && strncasecmp(name, "BODY[]", 6) == 0 &&
	    (n == 6 || name[6] == '<'))
		return body_value(c, f);
	return skip_value(c, 0);
}

int
imap_fetch_parse(struct imap_response *r, struct imap_fetch *f)
{
	struct cursor c = {r->line, r->line + r->len, r, 0};
	const char *s;
	size_t n;
	uint64_t seq;

	memset(f, 0, sizeof(*f));
	if (r->kind != IMAP_UNTAGGED || r->len < 2 || r->line[1] != ' ')
		return 0;
	c.p += 2;
	if (!number(&c, &seq))
		return 0;
	if (c.p == c.end || *c.p++ != ' ' || !atom(&c, &s, &n) ||
	    !item_is(s, n, "FETCH"))
		return 0;
	if (seq == 0 || seq > UINT32_MAX)
		return -1;
	f->seq = (uint32_t)seq;
	skip_spaces(&c);
	if (c.p == c.end || *c.p++ != '(')
		return -1;
	for (;;) {
		skip_spaces(&c);
		if (c.p == c.end)
			return -1;
		if (*c.p == ')') {
			c.p++;
			break;
		}
		if (!item(&c, f))
			return -1;
	}
	skip_spaces(&c);
	return c.p == c.end ? 1 : -1;
}

void
imap_fetch_clear(struct imap_fetch *f)
{
	free(f->flags);
	f->flags = NULL;
	free_labels(f->gm_labels);
	f->gm_labels = NULL;
	drop_quoted_body(f);
	f->body = NULL;
}

/* Other responses --------------------------------------------------------- */

enum imap_count
imap_count_parse(const struct imap_response *r, uint32_t *n)
{
	struct cursor c = {r->line, r->line + r->len, NULL, 0};
	const char *s;
	size_t k;
	uint64_t v;

	if (r->kind != IMAP_UNTAGGED || r->len < 2 || r->line[1] != ' ')
		return IMAP_COUNT_NONE;
	c.p += 2;
	if (!number(&c, &v) || v > UINT32_MAX || c.p == c.end ||
	    *c.p++ != ' ' || !atom(&c, &s, &k))
		return IMAP_COUNT_NONE;
	/* Exactly, as imap_parse_status reads EXISTS: nothing after. */
	if (c.p != c.end)
		return IMAP_COUNT_NONE;
	*n = (uint32_t)v;
	if (item_is(s, k, "EXISTS"))
		return IMAP_EXISTS;
	if (item_is(s, k, "EXPUNGE"))
		return IMAP_EXPUNGE;
	if (item_is(s, k, "RECENT"))
		return IMAP_RECENT;
	return IMAP_COUNT_NONE;
}

char
imap_tagged_status(const struct imap_response *r)
{
	const char *t = r->text;
	size_t left;

	if (r->kind != IMAP_TAGGED || t == NULL)
		return 0;
	left = (size_t)(r->line + r->len - t);
	if (left >= 2 && strncasecmp(t, "OK", 2) == 0 &&
	    (left == 2 || t[2] == ' '))
		return 'O';
	if (left >= 2 && strncasecmp(t, "NO", 2) == 0 &&
	    (left == 2 || t[2] == ' '))
		return 'N';
	if (left >= 3 && strncasecmp(t, "BAD", 3) == 0 &&
	    (left == 3 || t[3] == ' '))
		return 'B';
	return 0;
}

bool
imap_is_bye(const struct imap_response *r)
{
	return r->kind == IMAP_UNTAGGED && r->len >= 5 &&
	    strncasecmp(r->line, "* BYE", 5) == 0 &&
	    (r->len == 5 || r->line[5] == ' ');
}
