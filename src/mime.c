/*
 * The GMime layer, with mime_header.c (the top-level headers): raw
 * RFC 5322 bytes in, struct mail out. Nothing else includes GMime.
 *
 * GMime reads the caller's bytes in place: a GMimeStreamMem that does
 * not own its GByteArray, whose data and len point at the caller's
 * buffer. The stream only ever reads, the parser keeps substreams of it
 * instead of copies of the parts, and everything is released before
 * mime_parse() returns, so nothing outlives the caller's memory.
 *
 * The MIME tree is walked here rather than left to GMime's body guess:
 *   - text is every inline text/plain body in document order, joined by
 *     blank lines; an HTML body that has no plain alternative adds its
 *     html_text() rendering at its place, so a message without any
 *     text/plain part gets its text from the HTML;
 *   - html is every inline text/html body in document order;
 *   - a forwarded message (message/rfc822) is walked too: its bodies
 *     follow the outer ones, its text after a "Forwarded message" line
 *     with its From, Date and Subject;
 *   - multipart/signed contributes its signed content only;
 *   - every other leaf, and text parts marked or named as attachments,
 *     are attachments: metadata and decoded size, never their bytes.
 * Text bodies are converted to UTF-8 from their declared charset, with
 * line ends normalized to LF; see body_charset() for the guesses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "body.h"
#include "header_words.h"
#include "html_text.h"
#include "mail.h"
#include "mime.h"
#include "mime_header.h"
#include "msgid.h"
#include "text.h"
#include "util.h"

/* Our own nesting limit, forwarded messages included, on top of
 * GMime's. Deeper parts are skipped and reported. */
#define MIME_MAX_DEPTH 32

/* Charset conversion is fed in chunks: GMime's filter sizes its output
 * buffer from the input it is given, so small pieces keep memory flat. */
#define CONVERT_CHUNK 16384

#define PROBLEM_TRUNCATED "message larger than max_message_size; body truncated"

/* What a walk collects from a subtree. Attachments are always kept. */
enum want {
	WANT_PLAIN = 1 << 0, /* text/plain bodies into text */
	WANT_HTML = 1 << 1, /* text/html bodies into html */
	WANT_HTML_AS_TEXT = 1 << 2, /* text/html bodies, rendered, into text */
	WANT_ALL = WANT_PLAIN | WANT_HTML | WANT_HTML_AS_TEXT,
};

struct parse {
	struct mail *m;
	GMimeParserOptions *options;
	struct buf text;
	struct buf html;
	struct buf problems;
	size_t att_cap;
	unsigned warnings; /* bit per GMimeParserWarning seen */
	bool too_deep;
};

static bool mime_ready;
static GMimeParserOptions *base_options;

void
mime_init(void)
{
	static const char *fallback[] = {"utf-8", "windows-1252", NULL};

	if (mime_ready)
		return;
	g_mime_init();
	base_options = g_mime_parser_options_new();
	g_mime_parser_options_set_address_compliance_mode(
	    base_options, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_parameter_compliance_mode(
	    base_options, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_rfc2047_compliance_mode(
	    base_options, GMIME_RFC_COMPLIANCE_LOOSE);
	/* Bounces come from bare "MAILER-DAEMON"; keep such senders. */
	g_mime_parser_options_set_allow_addresses_without_domain(
	    base_options, TRUE);
	/* Raw 8-bit header bytes: UTF-8 when they are, else windows-1252. */
	g_mime_parser_options_set_fallback_charsets(base_options, fallback);
	mime_ready = true;
}

void
mime_shutdown(void)
{
	if (!mime_ready)
		return;
	g_mime_parser_options_free(base_options);
	base_options = NULL;
	g_mime_shutdown();
	mime_ready = false;
}

/*
 * Small helpers
 */

static void
add_problem(struct parse *p, const char *what)
{
	if (p->problems.len > 0)
		buf_appends(&p->problems, "; ");
	buf_appends(&p->problems, what);
}

static void
on_parser_warning(
    gint64 offset, GMimeParserWarning code, const gchar *item, gpointer arg)
{
	struct parse *p = arg;

	if ((unsigned)code < 32)
		p->warnings |= 1u << code;
}

/* Turns the parser warnings that mean lost or misread content into
 * parse_problem text; everyday sloppiness is not reported. */
static void
report_warnings(struct parse *p)
{
	static const struct {
		GMimeParserWarning code;
		const char *what;
	} serious[] = {
	    {GMIME_WARN_MALFORMED_MULTIPART, "multipart without parts"},
	    {GMIME_WARN_TRUNCATED_MESSAGE, "message ends early"},
	    {GMIME_WARN_MALFORMED_MESSAGE, "malformed message"},
	    {GMIME_CRIT_INVALID_HEADER_NAME, "invalid header name"},
	    {GMIME_CRIT_CONFLICTING_HEADER, "conflicting headers"},
	    {GMIME_CRIT_CONFLICTING_PARAMETER, "conflicting parameters"},
	    {GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY,
		"multipart without boundary"},
	    {GMIME_CRIT_NESTING_OVERFLOW, "MIME nesting too deep"},
	    {GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT,
		"part without headers or content"},
	};

	for (size_t i = 0; i < nitems(serious); i++)
		if ((unsigned)serious[i].code < 32 &&
		    (p->warnings & (1u << serious[i].code)))
			add_problem(p, serious[i].what);
	if (p->too_deep)
		add_problem(p, "parts nested deeper than 32 levels skipped");
}

/*
 * Decoding part content
 */

/* The part's content with its transfer encoding undone and CRLF turned
 * into LF, in a GByteArray the caller frees. */
static GByteArray *
decoded_content(GMimePart *part)
{
	GMimeDataWrapper *content;
	GMimeStream *raw, *mem, *filtered;
	GMimeFilter *filter;
	GByteArray *arr;
	gint64 hint = 0;

	content = g_mime_part_get_content(part);
	if (content != NULL &&
	    (raw = g_mime_data_wrapper_get_stream(content)) != NULL)
		hint = g_mime_stream_length(raw);
	/* Decoded text is at most about as long as its encoded form. */
	arr = g_byte_array_sized_new(
	    hint > 0 && hint < (1 << 30) ? (guint)hint : 0);
	if (content == NULL)
		return arr;
	mem = g_mime_stream_mem_new_with_byte_array(arr);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	filtered = g_mime_stream_filter_new(mem);
	filter = g_mime_filter_dos2unix_new(FALSE);
	g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered), filter);
	g_object_unref(filter);
	g_mime_data_wrapper_write_to_stream(content, filtered);
	g_mime_stream_flush(filtered);
	g_object_unref(filtered);
	g_object_unref(mem);
	return arr;
}

/* Size of the decoded content, counted without keeping it. */
static size_t
decoded_size(GMimePart *part)
{
	GMimeDataWrapper *content;
	GMimeStream *null;
	gint64 len;
	size_t n;

	if ((content = g_mime_part_get_content(part)) == NULL)
		return 0;
	switch (g_mime_data_wrapper_get_encoding(content)) {
	case GMIME_CONTENT_ENCODING_DEFAULT:
	case GMIME_CONTENT_ENCODING_7BIT:
	case GMIME_CONTENT_ENCODING_8BIT:
	case GMIME_CONTENT_ENCODING_BINARY:
		/* Identity encodings: the stored bytes are the content. */
		len = g_mime_stream_length(
		    g_mime_data_wrapper_get_stream(content));
		return len > 0 ? (size_t)len : 0;
	default:
		break;
	}
	null = g_mime_stream_null_new();
	g_mime_data_wrapper_write_to_stream(content, null);
	n = GMIME_STREAM_NULL(null)->written;
	g_object_unref(null);
	return n;
}

/* Appends data converted from charset to UTF-8; false when iconv does
 * not know the charset. */
static bool
append_converted(
    struct buf *out, const guint8 *data, size_t len, const char *charset)
{
	GMimeFilter *filter;
	GMimeStream *mem, *filtered;
	GByteArray *arr;

	if ((filter = g_mime_filter_charset_new(charset, "utf-8")) == NULL)
		return false;
	arr = g_byte_array_sized_new(
	    len < (1 << 29) ? (guint)(len + len / 2) : 0);
	mem = g_mime_stream_mem_new_with_byte_array(arr);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	filtered = g_mime_stream_filter_new(mem);
	g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered), filter);
	g_object_unref(filter);
	for (size_t off = 0; off < len; off += CONVERT_CHUNK) {
		size_t n =
		    len - off < CONVERT_CHUNK ? len - off : CONVERT_CHUNK;

		g_mime_stream_write(filtered, (const char *)data + off, n);
	}
	g_mime_stream_flush(filtered);
	g_object_unref(filtered);
	g_object_unref(mem);
	text_sanitize_append(out, (const char *)arr->data, arr->len);
	g_byte_array_free(arr, TRUE);
	return true;
}

/* Appends bytes of no known charset: UTF-8 unless nothing in them is,
 * then windows-1252. */
static void
append_unlabelled(struct buf *out, const guint8 *data, size_t len)
{
	if (text_utf8_kind((const char *)data, len) != TEXT_UTF8_INVALID ||
	    !append_converted(out, data, len, "windows-1252"))
		text_sanitize_append(out, (const char *)data, len);
}

/* Appends the part's text, in UTF-8, to out. Never fails: unknown
 * charsets and broken bytes degrade to U+FFFD, never to nothing. */
static void
append_part_text(GMimePart *part, struct buf *out)
{
	GByteArray *raw = decoded_content(part);
	const char *declared, *charset;

	declared = g_mime_object_get_content_type_parameter(
	    GMIME_OBJECT(part), "charset");
	charset = body_charset(declared, (const char *)raw->data, raw->len);
	if (charset == NULL)
		text_sanitize_append(out, (const char *)raw->data, raw->len);
	else if (!append_converted(out, raw->data, raw->len, charset))
		append_unlabelled(out, raw->data, raw->len);
	g_byte_array_free(raw, TRUE);
}

/*
 * Attachments
 */

static struct mail_attachment *
new_attachment(struct parse *p, GMimeObject *obj)
{
	struct mail *m = p->m;
	struct mail_attachment *a;
	GMimeContentType *ct;
	const char *cid;
	char *type = NULL;

	if (m->n_attachments == p->att_cap) {
		p->att_cap = p->att_cap ? p->att_cap * 2 : 4;
		m->attachments = xreallocarray(
		    m->attachments, p->att_cap, sizeof(*m->attachments));
	}
	a = &m->attachments[m->n_attachments++];
	memset(a, 0, sizeof(*a));
	if ((ct = g_mime_object_get_content_type(obj)) != NULL)
		type = g_mime_content_type_get_mime_type(ct);
	a->content_type =
	    text_clean_lower_dup(type ? type : "application/octet-stream");
	g_free(type);
	a->disposition =
	    text_clean_lower_dup(g_mime_object_get_disposition(obj));
	if ((cid = g_mime_object_get_content_id(obj)) != NULL && *cid != '\0')
		a->content_id = text_clean_owned(msgid_parse_one(cid));
	return a;
}

static void
add_part_attachment(struct parse *p, GMimePart *part)
{
	struct mail_attachment *a = new_attachment(p, GMIME_OBJECT(part));

	a->filename = text_clean_dup(g_mime_part_get_filename(part));
	a->size = decoded_size(part);
}

static void
add_message_attachment(struct parse *p, GMimeMessagePart *mpart)
{
	GMimeObject *obj = GMIME_OBJECT(mpart);
	GMimeMessage *inner = g_mime_message_part_get_message(mpart);
	struct mail_attachment *a = new_attachment(p, obj);
	const char *name;
	GMimeStream *null;

	name = g_mime_object_get_content_disposition_parameter(obj, "filename");
	if (name == NULL)
		name = g_mime_object_get_content_type_parameter(obj, "name");
	a->filename = text_clean_dup(name);
	if (inner != NULL) {
		null = g_mime_stream_null_new();
		g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, null);
		a->size = GMIME_STREAM_NULL(null)->written;
		g_object_unref(null);
	}
}

/*
 * Walking the tree
 */

static void walk(struct parse *p, GMimeObject *obj, int depth, unsigned want);

static bool
is_disposition(GMimeObject *obj, const char *what)
{
	const char *d = g_mime_object_get_disposition(obj);

	return d != NULL && g_ascii_strcasecmp(d, what) == 0;
}

static bool
is_text_type(GMimeObject *obj, const char *subtype)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);

	return ct != NULL && g_mime_content_type_is_type(ct, "text", subtype);
}

/* A text/plain or text/html leaf that is a body, not an attachment:
 * not marked attachment, and not named unless marked inline. */
static bool
is_body_part(GMimeObject *obj, const char *subtype)
{
	if (!GMIME_IS_PART(obj) || !is_text_type(obj, subtype))
		return false;
	if (is_disposition(obj, "attachment"))
		return false;
	return g_mime_part_get_filename(GMIME_PART(obj)) == NULL ||
	    is_disposition(obj, "inline");
}

static bool
is_type(GMimeObject *obj, const char *type, const char *subtype)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);

	return ct != NULL && g_mime_content_type_is_type(ct, type, subtype);
}

/* The text of a part, for a field of the mail that is still NULL. */
static void
keep_part_text(GMimePart *part, char **field)
{
	struct buf b;

	if (*field != NULL)
		return;
	buf_init(&b);
	append_part_text(part, &b);
	*field = buf_steal(&b);
}

/*
 * The parts of a delivery status notification (RFC 3464, RFC 6522)
 * that bounce.c reads: the status fields, and the returned message's
 * headers when only they came back. They stay attachments as well.
 */
static void
keep_report_part(struct parse *p, GMimePart *part)
{
	GMimeObject *obj = GMIME_OBJECT(part);

	if (is_type(obj, "message", "delivery-status") ||
	    is_type(obj, "message", "global-delivery-status"))
		keep_part_text(part, &p->m->dsn_fields);
	else if (is_type(obj, "text", "rfc822-headers") ||
	    is_type(obj, "message", "global-headers"))
		keep_part_text(part, &p->m->returned_headers);
}

static void
walk_leaf(struct parse *p, GMimePart *part, unsigned want)
{
	GMimeObject *obj = GMIME_OBJECT(part);
	struct buf html;
	char *rendered;

	keep_report_part(p, part);

	if (is_body_part(obj, "plain")) {
		if (want & WANT_PLAIN) {
			body_start_unit(&p->text);
			append_part_text(part, &p->text);
		}
		return;
	}
	if (!is_body_part(obj, "html")) {
		add_part_attachment(p, part);
		return;
	}
	if (!(want & (WANT_HTML | WANT_HTML_AS_TEXT)))
		return;
	buf_init(&html);
	append_part_text(part, &html);
	if (want & WANT_HTML_AS_TEXT) {
		rendered = html_text(html.data ? html.data : "", html.len);
		if (*rendered != '\0') {
			body_start_unit(&p->text);
			buf_appends(&p->text, rendered);
		}
		free(rendered);
	}
	if ((want & WANT_HTML) && html.len > 0) {
		if (p->html.len > 0)
			buf_append(&p->html, "\n", 1);
		buf_append(&p->html, html.data, html.len);
	}
	buf_free(&html);
}

/*
 * multipart/alternative: the first text/plain child feeds text, the
 * last HTML-or-multipart child feeds html (and text when there is no
 * plain child, or a blank one). Other children only contribute
 * attachments.
 */
static void
walk_alternative(struct parse *p, GMimeMultipart *mp, int depth, unsigned want)
{
	int n = g_mime_multipart_get_count(mp), plain = -1, rich = -1;

	for (int i = 0; i < n; i++) {
		GMimeObject *child = g_mime_multipart_get_part(mp, i);

		if (plain < 0 && is_body_part(child, "plain"))
			plain = i;
		else if (is_body_part(child, "html") ||
		    GMIME_IS_MULTIPART(child))
			rich = i;
	}
	if (plain < 0 && rich < 0) {
		for (int i = 0; i < n; i++)
			walk(p, g_mime_multipart_get_part(mp, i), depth + 1,
			    want);
		return;
	}
	for (int i = 0; i < n; i++) {
		GMimeObject *child = g_mime_multipart_get_part(mp, i);

		if (i == plain) {
			size_t before = p->text.len;

			walk(p, child, depth + 1, want & WANT_PLAIN);
			/* A blank plain part stands for nothing: let the
			 * HTML speak instead. */
			if (p->text.data == NULL ||
			    body_is_blank(
				p->text.data + before, p->text.len - before)) {
				body_cut(&p->text, before);
				plain = -1;
			}
		} else if (i == rich)
			walk(p, child, depth + 1,
			    plain < 0 ? want : want & WANT_HTML);
		else
			walk(p, child, depth + 1, 0);
	}
}

static void
walk_multipart(struct parse *p, GMimeMultipart *mp, int depth, unsigned want)
{
	GMimeContentType *ct = g_mime_object_get_content_type(GMIME_OBJECT(mp));
	int n = g_mime_multipart_get_count(mp);

	if (GMIME_IS_MULTIPART_SIGNED(mp)) {
		/* The signature is not content; the signed part is. */
		if (n > 0)
			walk(p, g_mime_multipart_get_part(mp, 0), depth + 1,
			    want);
		return;
	}
	if (ct != NULL &&
	    g_mime_content_type_is_type(ct, "multipart", "alternative")) {
		walk_alternative(p, mp, depth, want);
		return;
	}
	for (int i = 0; i < n; i++)
		walk(p, g_mime_multipart_get_part(mp, i), depth + 1, want);
}

/* Appends "Name: value" for the forwarded message's header, if set. */
static void
append_forward_header(struct buf *b, GMimeMessage *msg, const char *name)
{
	const char *v = g_mime_object_get_header(GMIME_OBJECT(msg), name);

	if (v == NULL || *v == '\0')
		return;
	buf_appends(b, name);
	buf_appends(b, ": ");
	text_sanitize_append(b, v, strlen(v));
	buf_append(b, "\n", 1);
}

/* The header block of the first attached message: in a bounce, the
 * returned message's, with the Message-ID that says which it was. */
static void
keep_returned_headers(struct parse *p, GMimeMessage *inner)
{
	struct buf b;
	char *h;

	if (p->m->returned_headers != NULL)
		return;
	h = g_mime_object_get_headers(GMIME_OBJECT(inner), NULL);
	if (h == NULL)
		return;
	buf_init(&b);
	text_sanitize_append(&b, h, strlen(h));
	p->m->returned_headers = buf_steal(&b);
	g_free(h);
}

static void
walk_message_part(
    struct parse *p, GMimeMessagePart *mpart, int depth, unsigned want)
{
	GMimeMessage *inner = g_mime_message_part_get_message(mpart);
	size_t before, after;

	if (is_disposition(GMIME_OBJECT(mpart), "attachment"))
		add_message_attachment(p, mpart);
	if (inner == NULL)
		return;
	keep_returned_headers(p, inner);
	before = p->text.len;
	if (want & (WANT_PLAIN | WANT_HTML_AS_TEXT)) {
		body_start_unit(&p->text);
		buf_appends(
		    &p->text, "---------- Forwarded message ----------\n");
		append_forward_header(&p->text, inner, "From");
		append_forward_header(&p->text, inner, "Date");
		append_forward_header(&p->text, inner, "Subject");
	}
	after = p->text.len;
	walk(p, g_mime_message_get_mime_part(inner), depth + 1, want);
	/* A forward without text leaves no dangling header block. */
	if (p->text.len == after)
		body_cut(&p->text, before);
}

static void
walk(struct parse *p, GMimeObject *obj, int depth, unsigned want)
{
	if (obj == NULL)
		return;
	if (depth > MIME_MAX_DEPTH) {
		p->too_deep = true;
		return;
	}
	if (GMIME_IS_MULTIPART(obj))
		walk_multipart(p, GMIME_MULTIPART(obj), depth, want);
	else if (GMIME_IS_MESSAGE_PART(obj))
		walk_message_part(p, GMIME_MESSAGE_PART(obj), depth, want);
	else if (GMIME_IS_PART(obj))
		walk_leaf(p, GMIME_PART(obj), want);
}

/*
 * The whole message
 */

static void
fill_from_message(struct parse *p, GMimeMessage *msg)
{
	mime_read_headers(p->m, msg, p->options);
	walk(p, g_mime_message_get_mime_part(msg), 0, WANT_ALL);
}

static void
fill_from_raw(struct parse *p, const char *data, size_t len)
{
	add_problem(p, "not a MIME message; kept as raw text");
	p->m->content_type = xstrdup("text/plain");
	if (body_looks_like_text(data, len)) {
		text_sanitize_append(&p->text, data, len);
		body_crlf_to_lf(&p->text);
	}
}

/* Offset of the blank line that ends the header block, or len. */
static size_t
header_block_end(const char *data, size_t len)
{
	const char *p = data, *end = data + len;

	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		p++;
		if (p < end && *p == '\n')
			return (size_t)(p - data);
		if (p + 1 < end && p[0] == '\r' && p[1] == '\n')
			return (size_t)(p - data);
	}
	return len;
}

/* How much of the input to hand to GMime: all of it, or the headers
 * and max_size bytes when a limit applies. */
static size_t
parse_length(const char *data, size_t len, size_t max_size, bool *cut)
{
	size_t keep = max_size, hdr;

	*cut = false;
	if (max_size == 0 || len <= max_size)
		return len > G_MAXUINT ? G_MAXUINT : len;
	*cut = true;
	/* Headers are kept whole even when they alone exceed the limit. */
	if ((hdr = header_block_end(data, len)) > keep)
		keep = hdr;
	return keep > G_MAXUINT ? G_MAXUINT : keep;
}

/*
 * The stream GMime parses: the caller's bytes, read in place. When the
 * header block holds words GMime would decode wrongly, a repaired copy
 * of the block (header_words.c) goes first, then the rest, in place.
 */
static GMimeStream *
message_stream(GByteArray *arr)
{
	GMimeStream *mem, *head, *rest, *cat;
	size_t hdr, fixed_len;
	char *fixed;

	mem = g_mime_stream_mem_new();
	g_mime_stream_mem_set_byte_array(GMIME_STREAM_MEM(mem), arr);
	if (arr->len == 0)
		return mem;
	hdr = header_block_end((const char *)arr->data, arr->len);
	fixed = header_words_repair((const char *)arr->data, hdr, &fixed_len);
	if (fixed == NULL)
		return mem;
	head = g_mime_stream_mem_new_with_buffer(fixed, fixed_len);
	free(fixed);
	/* The substream shares the caller's bytes; it copies nothing. */
	rest = g_mime_stream_substream(mem, (gint64)hdr, (gint64)arr->len);
	cat = g_mime_stream_cat_new();
	g_mime_stream_cat_add_source(GMIME_STREAM_CAT(cat), head);
	g_mime_stream_cat_add_source(GMIME_STREAM_CAT(cat), rest);
	g_object_unref(head);
	g_object_unref(rest);
	g_object_unref(mem);
	return cat;
}

static GMimeMessage *
parse_stream(struct parse *p, GByteArray *arr)
{
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *msg;

	stream = message_stream(arr);
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	msg = g_mime_parser_construct_message(parser, p->options);
	g_object_unref(parser);
	g_object_unref(stream);
	return msg;
}

static void
set_synthetic_id(struct mail *m, const char *data, size_t len)
{
	const char *body = data;
	size_t body_len = len;

	if (m->text != NULL) {
		body = m->text;
		body_len = strlen(m->text);
	} else if (m->html != NULL) {
		body = m->html;
		body_len = strlen(m->html);
	}
	m->message_id = msgid_synthetic(mail_header(m, "From"),
	    mail_header(m, "Date"), m->subject, body, body_len);
	m->message_id_synthetic = true;
}

struct mail *
mime_parse(
    const char *data, size_t len, bool truncated, const struct mime_opts *opts)
{
	static const struct mime_opts no_opts;
	struct parse p;
	GByteArray arr;
	GMimeMessage *msg;
	size_t plen;
	bool cut;

	mime_init();
	if (opts == NULL)
		opts = &no_opts;
	if (data == NULL)
		len = 0;
	memset(&p, 0, sizeof(p));
	p.m = xcalloc(1, sizeof(*p.m));
	p.m->size_bytes = len;
	p.m->sent_at = opts->fallback_date;
	/* A cut message is stored with the size it has, not what is left. */
	if (truncated && opts->full_size > len)
		p.m->size_bytes = opts->full_size;
	plen = parse_length(data, len, opts->max_message_size, &cut);
	if (truncated || cut) {
		p.m->truncated = true;
		add_problem(&p, PROBLEM_TRUNCATED);
	}

	p.options = g_mime_parser_options_clone(base_options);
	g_mime_parser_options_set_warning_callback(
	    p.options, on_parser_warning, &p);
	/* The stream reads the caller's bytes; it never writes to them. */
	arr.data = (guint8 *)(uintptr_t)data;
	arr.len = (guint)plen;
	if ((msg = parse_stream(&p, &arr)) != NULL) {
		fill_from_message(&p, msg);
		/* Headers and addresses point into the options: unref first. */
		g_object_unref(msg);
	} else
		fill_from_raw(&p, data, plen);
	g_mime_parser_options_free(p.options);

	p.m->text = body_finish(&p.text);
	p.m->html = p.html.len > 0 ? buf_steal(&p.html) : NULL;
	buf_free(&p.html);
	if (p.m->message_id == NULL)
		set_synthetic_id(p.m, data, plen);
	report_warnings(&p);
	p.m->parse_problem = p.problems.len > 0 ? buf_steal(&p.problems) : NULL;
	buf_free(&p.problems);
	return p.m;
}
