/*
 * Delivery status notifications, read. The report's own fields are
 * trusted first (RFC 3464); the text is read only when there are none,
 * or when they name no recipient. Everything is ASCII matching on
 * UTF-8 text: the fields and the phrases that matter are ASCII.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bounce.h"
#include "mail.h"
#include "msgid.h"
#include "util.h"

/* At most this many recipients are kept from one notification. */
#define MAX_RECIPIENTS 32

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Whether s starts with prefix, ignoring ASCII case. */
static bool
starts_with_ci(const char *s, const char *prefix)
{
	for (; *prefix != '\0'; s++, prefix++)
		if (lower(*s) != lower(*prefix))
			return false;
	return true;
}

/* Whether s[0..len) holds word, ignoring ASCII case. */
static bool
contains_ci(const char *s, size_t len, const char *word)
{
	size_t wl = strlen(word);

	for (size_t i = 0; i + wl <= len; i++)
		if (lower(s[i]) == lower(word[0]) &&
		    starts_with_ci(s + i, word))
			return true;
	return false;
}

static bool
contains_any_ci(const char *s, size_t len, const char *const *words)
{
	for (; *words != NULL; words++)
		if (contains_ci(s, len, *words))
			return true;
	return false;
}

/* A copy of s[0..len) on one line: runs of white space become one
 * space, the ends are trimmed, and it is cut at max bytes (at a UTF-8
 * character boundary). NULL when nothing is left. */
static char *
one_line(const char *s, size_t len, size_t max)
{
	char *out = xmalloc(len + 1);
	size_t n = 0;
	bool space = false;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			space = n > 0;
			continue;
		}
		if (space)
			out[n++] = ' ';
		space = false;
		out[n++] = c;
	}
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)out[n] & 0xc0) == 0x80)
			n--;
	}
	out[n] = '\0';
	if (n == 0) {
		free(out);
		return NULL;
	}
	return out;
}

static void
add_recipient(struct bounce *b, const char *addr, size_t len)
{
	char *a;

	if (b->n_recipients == MAX_RECIPIENTS)
		return;
	a = xstrndup(addr, len);
	msgid_fold_domain(a);
	for (size_t i = 0; i < b->n_recipients; i++) {
		if (str_iequal(b->recipients[i], a)) {
			free(a);
			return;
		}
	}
	b->recipients = xreallocarray(
	    b->recipients, b->n_recipients + 1, sizeof(*b->recipients));
	b->recipients[b->n_recipients++] = a;
}

static bool
is_addr_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr(".-_+=%!#$&'*/?^`{|}~", c) != NULL);
}

/*
 * Whether s[0..len) is one address and nothing else, give or take
 * angle brackets, quotes and a trailing colon: "<ann@a.example>:"
 * (qmail), "  ann@a.example" (Exim). Sets the address's span.
 */
static bool
lone_address(const char *s, size_t len, const char **addr, size_t *alen)
{
	size_t i = 0, j = len, at = 0, dot = 0;

	while (i < j && (is_blank(s[i]) || s[i] == '<' || s[i] == '"'))
		i++;
	while (j > i &&
	    (is_blank(s[j - 1]) || s[j - 1] == '>' || s[j - 1] == ':' ||
		s[j - 1] == '"' || s[j - 1] == ','))
		j--;
	if (i == j)
		return false;
	for (size_t k = i; k < j; k++) {
		if (s[k] == '@') {
			if (at != 0 || k == i)
				return false;
			at = k;
		} else if (!is_addr_char(s[k]))
			return false;
		else if (at != 0 && s[k] == '.')
			dot = k;
	}
	if (at == 0 || dot == 0 || dot + 1 == j)
		return false;
	*addr = s + i;
	*alen = j - i;
	return true;
}

/*
 * Whether s[0..len) names one address in the ways notices list them
 * besides a bare address: as a bullet ("* a@b.example"), after a
 * display name ("\"Ann\" <a@b.example>"), or after a label that says
 * it is the recipient ("Undeliverable Address: a@b.example").
 */
static bool
listed_address(const char *s, size_t len, const char **addr, size_t *alen)
{
	static const char *const labels[] = {
	    "address", "recipient", "user", NULL};
	const char *q, *colon;

	if (len > 2 && (s[0] == '*' || s[0] == '-') && s[1] == ' ')
		return lone_address(s + 2, len - 2, addr, alen);
	if (len > 2 && s[0] == '"' && (q = memchr(s + 1, '"', len - 1)) != NULL)
		return lone_address(
		    q + 1, len - (size_t)(q + 1 - s), addr, alen);
	colon = memchr(s, ':', len);
	if (colon == NULL || colon - s > 40 ||
	    memchr(s, '@', (size_t)(colon - s)))
		return false;
	if (!contains_any_ci(s, (size_t)(colon - s), labels) ||
	    contains_ci(s, (size_t)(colon - s), "from"))
		return false;
	return lone_address(
	    colon + 1, len - (size_t)(colon + 1 - s), addr, alen);
}

/*
 * Whether s[0..len) starts with an address followed by its reason:
 * "<a@b.example>: Name service error ..." (Postfix),
 * "a@b.example [User unknown]", "a@b.example (550 ...)". Sets the
 * address's span and *rest to what follows it, trimmed.
 */
static bool
leading_address(const char *s, size_t len, const char **addr, size_t *alen,
    const char **rest, size_t *rlen)
{
	size_t i = 0, k;

	if (i < len && s[i] == '<')
		i++;
	for (k = i; k < len && (is_addr_char(s[k]) || s[k] == '@'); k++)
		;
	if (k == i || !lone_address(s + i, k - i, addr, alen))
		return false;
	if (k < len && s[k] == '>')
		k++;
	if (k < len && s[k] != ':' && s[k] != ' ' && s[k] != '\t' &&
	    s[k] != ',' && s[k] != ';')
		return false;
	while (k < len &&
	    (s[k] == ':' || is_blank(s[k]) || s[k] == ',' || s[k] == ';'))
		k++;
	*rest = s + k;
	*rlen = len - k;
	return true;
}

/* ---- The report's fields (RFC 3464) ---------------------------------- */

/* One recipient's fields, pointing into the unfolded report. */
struct rcpt {
	const char *addr; /* Final-Recipient */
	size_t addr_len;
	const char *orig; /* Original-Recipient */
	size_t orig_len;
	const char *action;
	size_t action_len;
	const char *status;
	size_t status_len;
	const char *diag;
	size_t diag_len;
};

/* The value of "type; value" (Final-Recipient: rfc822; a@b, and
 * Diagnostic-Code: smtp; 550 ...), or the whole when there is no type. */
static void
typed_value(const char **v, size_t *len)
{
	const char *semi = memchr(*v, ';', *len);

	if (semi == NULL)
		return;
	*len -= (size_t)(semi + 1 - *v);
	*v = semi + 1;
	while (*len > 0 && is_blank(**v)) {
		(*v)++;
		(*len)--;
	}
}

static void
trim(const char **v, size_t *len)
{
	while (*len > 0 && is_blank(**v)) {
		(*v)++;
		(*len)--;
	}
	while (*len > 0 && (is_blank((*v)[*len - 1]) || (*v)[*len - 1] == '\n'))
		(*len)--;
}

static void
rcpt_field(
    struct rcpt *r, const char *name, size_t nlen, const char *v, size_t vlen)
{
	trim(&v, &vlen);
	if (nlen == 15 && starts_with_ci(name, "final-recipient")) {
		typed_value(&v, &vlen);
		r->addr = v;
		r->addr_len = vlen;
	} else if (nlen == 18 && starts_with_ci(name, "original-recipient")) {
		typed_value(&v, &vlen);
		r->orig = v;
		r->orig_len = vlen;
	} else if (nlen == 6 && starts_with_ci(name, "action")) {
		r->action = v;
		r->action_len = vlen;
	} else if (nlen == 6 && starts_with_ci(name, "status")) {
		r->status = v;
		r->status_len = vlen;
	} else if (nlen == 15 && starts_with_ci(name, "diagnostic-code")) {
		typed_value(&v, &vlen);
		r->diag = v;
		r->diag_len = vlen;
	}
}

/* What one recipient's fields say happened. */
static enum bounce_kind
rcpt_kind(const struct rcpt *r)
{
	if (r->action != NULL) {
		if (starts_with_ci(r->action, "failed"))
			return BOUNCE_FAILED;
		if (starts_with_ci(r->action, "delayed"))
			return BOUNCE_DELAYED;
		return BOUNCE_NONE;
	}
	if (r->status != NULL && r->status_len > 0) {
		if (r->status[0] == '5')
			return BOUNCE_FAILED;
		if (r->status[0] == '4')
			return BOUNCE_DELAYED;
	}
	return BOUNCE_NONE;
}

/* The first status code in s: "5.1.1" of "5.1.1 (bad destination)". */
static char *
status_code(const char *s, size_t len)
{
	size_t n = 0;

	while (n < len && ((s[n] >= '0' && s[n] <= '9') || s[n] == '.'))
		n++;
	return n > 0 ? xstrndup(s, n) : NULL;
}

/* Takes the recipients of kind k, and the status and diagnostic of the
 * first of them. */
static void
take_rcpts(
    struct bounce *b, const struct rcpt *rs, size_t n, enum bounce_kind k)
{
	b->kind = k;
	for (size_t i = 0; i < n; i++) {
		const char *a;
		size_t alen;

		if (rcpt_kind(&rs[i]) != k)
			continue;
		/* A Final-Recipient may be an internal name ("user@host");
		 * the address the sender wrote is then the one to name. */
		if (rs[i].addr != NULL &&
		    lone_address(rs[i].addr, rs[i].addr_len, &a, &alen))
			add_recipient(b, a, alen);
		else if (rs[i].orig != NULL &&
		    lone_address(rs[i].orig, rs[i].orig_len, &a, &alen))
			add_recipient(b, a, alen);
		if (b->status == NULL && rs[i].status != NULL)
			b->status = status_code(rs[i].status, rs[i].status_len);
		if (b->diagnostic == NULL && rs[i].diag != NULL)
			b->diagnostic = one_line(
			    rs[i].diag, rs[i].diag_len, BOUNCE_DIAGNOSTIC_MAX);
	}
}

/*
 * Reads the report: field lines, folded lines continuing them, blank
 * lines between the per-message block and each recipient's block.
 * Returns false when no recipient block says failed or delayed.
 */
static bool
read_report(const char *s, struct bounce *b)
{
	struct rcpt rs[MAX_RECIPIENTS], cur;
	size_t n = 0;
	const char *name = NULL, *value = NULL;
	size_t nlen = 0;
	bool failed = false, delayed = false, in_rcpt = false;

	memset(&cur, 0, sizeof(cur));
	for (const char *line = s; line != NULL && *line != '\0';) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		const char *next = eol ? eol + 1 : NULL;
		bool folded = len > 0 && is_blank(line[0]);
		const char *colon;

		if (name != NULL && !folded) {
			rcpt_field(
			    &cur, name, nlen, value, (size_t)(line - value));
			if (cur.addr != NULL || cur.orig != NULL ||
			    cur.action != NULL)
				in_rcpt = true;
			name = NULL;
		}
		trim(&line, &len);
		if (len == 0 && !folded) {
			if (in_rcpt && n < MAX_RECIPIENTS)
				rs[n++] = cur;
			memset(&cur, 0, sizeof(cur));
			in_rcpt = false;
		} else if (!folded &&
		    (colon = memchr(line, ':', len)) != NULL) {
			name = line;
			nlen = (size_t)(colon - line);
			value = colon + 1;
		}
		line = next;
	}
	if (name != NULL)
		rcpt_field(&cur, name, nlen, value, strlen(value));
	if ((cur.addr != NULL || cur.orig != NULL || cur.action != NULL) &&
	    n < MAX_RECIPIENTS)
		rs[n++] = cur;
	for (size_t i = 0; i < n; i++) {
		failed |= rcpt_kind(&rs[i]) == BOUNCE_FAILED;
		delayed |= rcpt_kind(&rs[i]) == BOUNCE_DELAYED;
	}
	if (failed)
		take_rcpts(b, rs, n, BOUNCE_FAILED);
	else if (delayed)
		take_rcpts(b, rs, n, BOUNCE_DELAYED);
	return failed || delayed;
}

/* ---- Notifications in words ------------------------------------------ */

static const char *const delay_phrases[] = {
    "has not yet been delivered",
    "not yet been delivered",
    "delivery has been delayed",
    "delivery is delayed",
    "delivery delayed",
    "message delayed",
    "delivery attempts will continue",
    "will continue to try",
    "will retry",
    "still trying",
    "delay reason",
    "could not send message for past",
    "this is a warning message only",
    "delivery status notification (delay)",
    NULL,
};

static const char *const failure_phrases[] = {
    "could not be delivered",
    "couldn't be delivered",
    "wasn't able to deliver",
    "was not able to deliver",
    "unable to deliver",
    "undeliverable",
    "undelivered",
    "delivery failed",
    "delivery has failed",
    "delivery to the following",
    "permanent error",
    "permanent fatal error",
    "failed permanently",
    "address(es) failed",
    "addresses failed",
    "user unknown",
    "unknown user",
    "does not exist",
    "mailbox unavailable",
    "returned mail",
    "mail delivery failed",
    "not delivered",
    NULL,
};

/* Where the quoted original starts, so that its addresses are not taken
 * for failed recipients: a separator naming the copy, or its first
 * header lines. */
static bool
starts_original(const char *line, size_t len)
{
	static const char *const separators[] = {
	    "below this line is a copy",
	    "copy of the message",
	    "original message",
	    "returned message",
	    "message headers follow",
	    "undelivered message",
	    NULL,
	};

	if (starts_with_ci(line, "received:") ||
	    starts_with_ci(line, "return-path:") ||
	    starts_with_ci(line, "message-id:"))
		return true;
	return len > 3 &&
	    (line[0] == '-' || line[0] == '=' || line[0] == '_') &&
	    contains_any_ci(line, len, separators);
}

/* The first line with an SMTP reply or status code in it. */
static bool
has_smtp_code(const char *s, size_t len)
{
	for (size_t i = 0; i + 3 < len; i++) {
		bool start = i == 0 || s[i - 1] == ' ' || s[i - 1] == '(' ||
		    s[i - 1] == ':' || s[i - 1] == '#' || s[i - 1] == '<';

		if (!start || (s[i] != '4' && s[i] != '5'))
			continue;
		if (s[i + 1] == '.' && s[i + 2] >= '0' && s[i + 2] <= '9')
			return true;
		if (s[i + 1] >= '0' && s[i + 1] <= '9' && s[i + 2] >= '0' &&
		    s[i + 2] <= '9' && (s[i + 3] == ' ' || s[i + 3] == '-'))
			return true;
	}
	return false;
}

/*
 * The layout most text bounces share: each failed address alone on a
 * line ("<a@b>:" in qmail, indented in Exim, sendmail, Postfix), the
 * reason on the lines under it up to a blank line.
 */
static void
read_text(const char *text, struct bounce *b)
{
	const char *code_line = NULL, *phrase_line = NULL;
	size_t code_len = 0, phrase_len = 0;
	struct buf diag;
	bool in_diag = false, diag_done = false;

	buf_init(&diag);
	for (const char *line = text; line != NULL && *line != '\0';) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		const char *t = line, *a, *rest;
		size_t tlen = len, alen, rlen;

		line = eol ? eol + 1 : NULL;
		trim(&t, &tlen);
		if (starts_original(t, tlen))
			break;
		if (tlen == 0) {
			if (in_diag)
				diag_done = true;
			in_diag = false;
			continue;
		}
		if (lone_address(t, tlen, &a, &alen)) {
			add_recipient(b, a, alen);
			in_diag = !diag_done;
			continue;
		}
		if (listed_address(t, tlen, &a, &alen)) {
			add_recipient(b, a, alen);
			in_diag = !diag_done;
			continue;
		}
		if (starts_with_ci(t, "final-recipient:")) {
			const char *v = t + 16;
			size_t vlen = tlen - 16;

			typed_value(&v, &vlen);
			if (lone_address(v, vlen, &a, &alen))
				add_recipient(b, a, alen);
			continue;
		}
		if (leading_address(t, tlen, &a, &alen, &rest, &rlen)) {
			add_recipient(b, a, alen);
			if (!diag_done && diag.len == 0 && rlen > 0)
				buf_append(&diag, rest, rlen);
			in_diag = !diag_done;
			continue;
		}
		if (in_diag) {
			if (diag.len > 0)
				buf_append(&diag, " ", 1);
			buf_append(&diag, t, tlen);
			continue;
		}
		if (code_line == NULL && has_smtp_code(t, tlen)) {
			code_line = t;
			code_len = tlen;
		}
		if (phrase_line == NULL &&
		    contains_any_ci(t, tlen, failure_phrases)) {
			phrase_line = t;
			phrase_len = tlen;
		}
	}
	if (diag.len > 0)
		b->diagnostic =
		    one_line(diag.data, diag.len, BOUNCE_DIAGNOSTIC_MAX);
	else if (code_line != NULL)
		b->diagnostic =
		    one_line(code_line, code_len, BOUNCE_DIAGNOSTIC_MAX);
	else if (phrase_line != NULL)
		b->diagnostic =
		    one_line(phrase_line, phrase_len, BOUNCE_DIAGNOSTIC_MAX);
	buf_free(&diag);
}

static const char *const failure_subjects[] = {
    "failure",
    "failed",
    "undeliver",
    "returned mail",
    "not delivered",
    "could not be delivered",
    "rejected",
    NULL,
};

/* The subject says it first ("Delivery failure notification" whose text
 * mentions that attempts continue is a failure); the text otherwise. */
static enum bounce_kind
text_kind(const struct mail *m)
{
	const char *subj = m->subject ? m->subject : "";
	size_t tlen = m->text ? strlen(m->text) : 0;
	size_t slen = strlen(subj);

	if (contains_any_ci(subj, slen, delay_phrases) ||
	    contains_ci(subj, slen, "delayed"))
		return BOUNCE_DELAYED;
	if (contains_any_ci(subj, slen, failure_subjects))
		return BOUNCE_FAILED;
	if (m->text && contains_any_ci(m->text, tlen, delay_phrases))
		return BOUNCE_DELAYED;
	if ((m->text && contains_any_ci(m->text, tlen, failure_phrases)) ||
	    contains_any_ci(subj, slen, failure_phrases))
		return BOUNCE_FAILED;
	return BOUNCE_NONE;
}

/* ---- The original Message-ID ------------------------------------------ */

/*
 * The id on the first "Message-ID:" line of s, quoted ("> ") or
 * indented as text bounces copy the original, with a folded
 * continuation when the id moved to the next line.
 */
static char *
find_message_id(const char *s)
{
	for (const char *line = s; line != NULL && *line != '\0';) {
		const char *eol = strchr(line, '\n');
		const char *t = line;
		char *value, *id;
		size_t len;

		line = eol ? eol + 1 : NULL;
		while (*t == '>' || is_blank(*t))
			t++;
		if (!starts_with_ci(t, "message-id:"))
			continue;
		t += strlen("message-id:");
		len = eol ? (size_t)(eol - t) : strlen(t);
		if (line != NULL && is_blank(*line)) {
			const char *e2 = strchr(line, '\n');

			len += 1 + (e2 ? (size_t)(e2 - line) : strlen(line));
		}
		value = xstrndup(t, len);
		id = msgid_parse_one(value);
		free(value);
		if (id != NULL)
			return id;
	}
	return NULL;
}

static char *
original_id(const struct mail *m)
{
	char *id = NULL;

	if (m->returned_headers != NULL)
		id = find_message_id(m->returned_headers);
	if (id == NULL && m->text != NULL)
		id = find_message_id(m->text);
	if (id == NULL && m->in_reply_to != NULL)
		id = xstrdup(m->in_reply_to);
	return id;
}

/* ---- The whole ---------------------------------------------------------- */

void
bounce_read(const struct mail *m, struct bounce *b)
{
	memset(b, 0, sizeof(*b));
	if (m == NULL)
		return;
	if (m->dsn_fields == NULL || !read_report(m->dsn_fields, b)) {
		bounce_clear(b);
		if ((b->kind = text_kind(m)) == BOUNCE_NONE)
			return;
		if (m->text != NULL)
			read_text(m->text, b);
	} else if (b->diagnostic == NULL && b->n_recipients > 0 &&
	    m->text != NULL) {
		/* No Diagnostic-Code: the text may give the reason. */
		struct bounce t;

		memset(&t, 0, sizeof(t));
		read_text(m->text, &t);
		b->diagnostic = t.diagnostic;
		t.diagnostic = NULL;
		bounce_clear(&t);
	} else if (b->n_recipients == 0 && m->text != NULL) {
		/* A report without usable recipients: the text may name
		 * them. */
		enum bounce_kind k = b->kind;
		char *status = b->status, *diag = b->diagnostic;

		b->status = b->diagnostic = NULL;
		read_text(m->text, b);
		b->kind = k;
		if (diag != NULL) {
			free(b->diagnostic);
			b->diagnostic = diag;
		}
		b->status = status;
	}
	b->original_id = original_id(m);
}

void
bounce_clear(struct bounce *b)
{
	for (size_t i = 0; i < b->n_recipients; i++)
		free(b->recipients[i]);
	free(b->recipients);
	free(b->status);
	free(b->diagnostic);
	free(b->original_id);
	memset(b, 0, sizeof(*b));
}
