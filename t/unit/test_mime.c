/*
 * mime_parse() on the messages in t/data and on messages built here:
 * charsets, encoded words, the MIME tree, addresses, ids, dates, size
 * limits and hostile input. Also the text.c helpers it relies on.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "header_words.h"
#include "mail.h"
#include "mime.h"
#include "text.h"
#include "tap.h"
#include "util.h"

#define FALLBACK_DATE 1700000000

static const struct mime_opts opts = {
    .max_message_size = 0,
    .fallback_date = FALLBACK_DATE,
};

static char datadir[4096];

/* $top_srcdir/t/data, else the data folder beside this source file. */
static void
find_datadir(void)
{
	const char *top = getenv("top_srcdir");
	const char *slash;

	if (top != NULL && *top != '\0') {
		snprintf(datadir, sizeof(datadir), "%s/t/data", top);
		return;
	}
	slash = strrchr(__FILE__, '/');
	if (slash == NULL)
		snprintf(datadir, sizeof(datadir), "../data");
	else
		snprintf(datadir, sizeof(datadir), "%.*s/../data",
		    (int)(slash - __FILE__), __FILE__);
}

static char *
load(const char *name, size_t *len)
{
	char path[4200];
	char *data;

	snprintf(path, sizeof(path), "%s/%s", datadir, name);
	if ((data = file_read_all(path, len)) == NULL) {
		printf("# cannot read %s\n", path);
		*len = 0;
		return xstrdup("");
	}
	return data;
}

static bool
clean(const char *s)
{
	return s == NULL || text_is_clean(s, strlen(s));
}

/* Every string of the mail is valid UTF-8 without NUL. */
static bool
mail_is_clean(const struct mail *m)
{
	bool good = m->message_id != NULL && clean(m->message_id) &&
	    clean(m->in_reply_to) && clean(m->subject) &&
	    clean(m->from_email) && clean(m->from_name) && clean(m->to_email) &&
	    clean(m->to_list) && clean(m->cc_list) && clean(m->text) &&
	    clean(m->html) && clean(m->content_type) && clean(m->parse_problem);
	char *json;

	for (size_t i = 0; i < m->n_references; i++)
		good =
		    good && m->references[i] != NULL && clean(m->references[i]);
	for (size_t i = 0; i < m->n_headers; i++)
		good = good && clean(m->headers[i].name) &&
		    clean(m->headers[i].value);
	for (size_t i = 0; i < m->n_attachments; i++)
		good = good && clean(m->attachments[i].filename) &&
		    clean(m->attachments[i].content_type) &&
		    clean(m->attachments[i].disposition) &&
		    clean(m->attachments[i].content_id);
	json = mail_headers_json(m);
	good = good && clean(json);
	free(json);
	json = mail_attachments_json(m);
	good = good && clean(json);
	free(json);
	return good;
}

static struct mail *
parse_file(const char *name)
{
	struct mail *m;
	size_t len;
	char *data = load(name, &len);

	m = mime_parse(data, len, false, &opts);
	free(data);
	ok(mail_is_clean(m), "%s: every string is clean UTF-8", name);
	return m;
}

/*
 * text.c
 */

static void
check_sanitize(const char *in, size_t len, const char *want, const char *what)
{
	char *got = text_sanitize(in, len);

	is_str(got, want, "sanitize: %s", what);
	ok(text_is_clean(got, strlen(got)), "sanitize: %s: result is clean",
	    what);
	free(got);
}

static void
test_sanitize(void)
{
	check_sanitize("plain", 5, "plain", "ASCII unchanged");
	check_sanitize("caf\xc3\xa9", 5, "caf\xc3\xa9", "UTF-8 unchanged");
	check_sanitize("a\0b", 3, "ab", "NUL dropped");
	check_sanitize("a\xff"
		       "b",
	    3,
	    "a\xef\xbf\xbd"
	    "b",
	    "stray byte");
	check_sanitize("\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd", "overlong");
	check_sanitize("\xed\xa0\x80", 3,
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "surrogate");
	check_sanitize("x\xe2\x82", 3, "x\xef\xbf\xbd",
	    "truncated sequence is one U+FFFD");
	check_sanitize("\xf4\x90\x80\x80", 4,
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
	    "beyond U+10FFFF");
	check_sanitize("\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80", "emoji kept");
	check_sanitize("", 0, "", "empty");

	ok(text_is_clean("abc", 3), "clean: ASCII");
	ok(!text_is_clean("a\0c", 3), "clean: NUL is not clean");
	ok(!text_is_clean("\xc3", 1), "clean: truncated is not clean");
	ok(!text_is_clean("12345678\xff", 9), "clean: bad byte after 8 ASCII");
	ok(text_is_clean("", 0), "clean: empty");

	is_int(text_utf8_kind("abc", 3), TEXT_UTF8_ASCII, "kind: ASCII");
	is_int(text_utf8_kind("\xc3\xa9", 2), TEXT_UTF8_VALID, "kind: UTF-8");
	is_int(
	    text_utf8_kind("\xe9t\xe9", 3), TEXT_UTF8_INVALID, "kind: Latin-1");
	is_int(
	    text_utf8_kind("\xc3\xa9\xe9", 3), TEXT_UTF8_MIXED, "kind: mixed");
}

/* Decodes s with flags: the bytes, or "(refused)" when it fails. */
static const char *
b64(const char *s, int flags)
{
	static char out[256];
	long n = text_base64_decode(s, strlen(s), out, flags);

	if (n < 0)
		return "(refused)";
	out[n] = '\0';
	return out;
}

static void
test_base64(void)
{
	char s[] = "SGVsbG8sIHdvcmxkIQ==";

	is_str(b64("", 0), "", "base64: empty");
	is_str(b64("Zg==", 0), "f", "base64: two pads");
	is_str(b64("Zm8=", 0), "fo", "base64: one pad");
	is_str(b64("Zm9v", 0), "foo", "base64: a whole group");
	is_str(b64("Zm9vYg", 0), "foob", "base64: unpadded");
	is_str(b64("Zm9vYmE", 0), "fooba", "base64: unpadded, three digits");
	is_str(b64("Pz8-", TEXT_B64_URL), "?\?>", "base64url: '-'");
	is_str(b64("P_8_", TEXT_B64_URL), "?\xff?", "base64url: '_'");
	is_str(b64("Pz8+", 0), "?\?>", "base64: '+'");
	is_str(b64("P/8/", 0), "?\xff?", "base64: '/'");
	is_str(b64("Pz8+", TEXT_B64_URL), "(refused)",
	    "base64url: '+' is refused");
	is_str(b64("P/8/", TEXT_B64_URL), "(refused)",
	    "base64url: '/' is refused");
	is_str(b64("Pz8-", 0), "(refused)", "base64: '-' is refused");
	is_str(b64("Zm9v!", 0), "(refused)", "base64: a bad character");
	is_str(b64("Zm9v\r\nYmE=", 0), "(refused)", "base64: a line break");
	is_str(b64("Zm9v YmE=", 0), "(refused)", "base64: a space");
	is_str(b64("Zm9vY", 0), "(refused)", "base64: a group of one digit");
	is_str(b64("Z", 0), "(refused)", "base64: one digit");
	is_str(b64("=", 0), "(refused)", "base64: padding alone");
	is_str(b64("Zg=", 0), "(refused)", "base64: padding short of four");
	is_str(b64("Zm9v=", 0), "(refused)", "base64: padding after a group");
	is_str(b64("Zg===", 0), "(refused)", "base64: three pads");
	is_str(b64("Zg==Zg==", 0), "(refused)", "base64: padding inside");
	is_str(b64("Zm9=v", 0), "(refused)", "base64: a digit after padding");
	is_str(b64("Zh==", 0), "(refused)",
	    "base64: bits left over after the last byte (2 digits)");
	is_str(b64("Zm9=", 0), "(refused)",
	    "base64: bits left over after the last byte (3 digits)");
	is_str(b64("Zg==", 0), "f", "base64: no bits left over");
	is_str(b64("Zh==", TEXT_B64_LAX), "f",
	    "base64 lax: bits left over are ignored");
	is_int(text_base64_decode("Zm9vYmE", 7, NULL, 0), 5,
	    "base64: checking only, without out");
	is_int(text_base64_decode("Zm9vY", 5, NULL, 0), -1,
	    "base64: checking only refuses as well");
	is_int(text_base64_decode("Zm9vYmFy", 5, NULL, 0), -1,
	    "base64: only len bytes are read");
	is_str(b64("Zm9v\r\nYmE=", TEXT_B64_LAX), "fooba",
	    "base64 lax: line breaks and padding skipped");
	is_str(b64("Z!m=9*v", TEXT_B64_LAX), "foo",
	    "base64 lax: any other byte skipped");
	is_str(b64("Zm9vY", TEXT_B64_LAX), "foo",
	    "base64 lax: a lone last digit is dropped");
	is_str(b64("-_", TEXT_B64_LAX), "",
	    "base64 lax: the other alphabet is skipped");
	is_int(text_base64_decode(s, strlen(s), s, 0), 13,
	    "base64: in place, length");
	ok(memcmp(s, "Hello, world!", 13) == 0, "base64: in place, bytes");
}

/* Decodes s as hex: the bytes, or "(refused)" when it fails. */
static const char *
hex(const char *s)
{
	static char out[128];
	long n = text_hex_decode(s, strlen(s), out);

	if (n < 0)
		return "(refused)";
	out[n] = '\0';
	return out;
}

static void
test_hex(void)
{
	is_str(hex(""), "", "hex: empty");
	is_str(hex("666f6F"), "foo", "hex: either case");
	is_str(hex("00ff7f"), "\0", "hex: a NUL byte");
	is_str(hex("c3A9"), "\xc3\xa9", "hex: high bytes");
	is_str(hex("6"), "(refused)", "hex: one digit");
	is_str(hex("666"), "(refused)", "hex: odd length");
	is_str(hex("6g"), "(refused)", "hex: not a digit");
	is_str(hex("g6"), "(refused)", "hex: not a digit first");
	is_str(hex("0x66"), "(refused)", "hex: no prefix");
	is_str(hex(" 66"), "(refused)", "hex: no white space");
	is_int(text_hex_decode("66zz", 2, (char[2]){0}), 1,
	    "hex: only len bytes are read");
}

/*
 * Fixtures
 */

static void
test_plain(void)
{
	struct mail *m = parse_file("plain.eml");
	char *json;
	json_t *arr;

	is_str(m->message_id, "plain-1@example.org", "plain: message id");
	ok(!m->message_id_synthetic, "plain: id not synthetic");
	is_str(m->in_reply_to, "parent-1@example.com", "plain: in-reply-to");
	is_int(m->n_references, 2, "plain: two references");
	if (m->n_references == 2) {
		is_str(m->references[0], "root-1@example.com", "plain: ref 0");
		is_str(
		    m->references[1], "parent-1@example.com", "plain: ref 1");
	}
	is_str(m->subject, "Quarterly numbers, folded over two lines",
	    "plain: folded subject unfolded");
	is_str(m->from_email, "Alice.Example@example.org",
	    "plain: from, domain lower-cased, local part kept");
	is_str(m->from_name, "Alice Example", "plain: from name");
	is_str(m->to_email, "bob@example.com", "plain: to");
	is_str(
	    m->to_list, "bob@example.com, carol@example.com", "plain: to list");
	is_str(m->cc_list, "dave@example.net", "plain: cc list");
	is_int(m->sent_at, 1717408800, "plain: date with zone");
	ok(m->date_valid, "plain: date valid");
	is_str(m->content_type, "text/plain", "plain: content type");
	is_str(m->text,
	    "Hi Bob,\n\nthe numbers are attached. Gr\xc3\xbc\xc3\x9f"
	    "e, Alice",
	    "plain: text, CRLF made LF");
	ok(m->html == NULL, "plain: no html");
	is_int(m->size_bytes, 718, "plain: size");
	ok(m->parse_problem == NULL, "plain: no problem");
	ok(!m->truncated, "plain: not truncated");

	is_int(m->n_headers, 15, "plain: every header, Content-* included");
	if (m->n_headers == 15) {
		is_str(
		    m->headers[0].name, "Return-Path", "plain: header 0 name");
		is_str(m->headers[1].name, "Received", "plain: header 1");
		is_str(m->headers[2].name, "Received",
		    "plain: repeated header kept");
		ok(strstr(m->headers[2].value, "client.example.org") != NULL,
		    "plain: repeated headers in order");
		is_str(m->headers[12].name, "Content-Type",
		    "plain: Content-Type in place");
		is_str(m->headers[14].value, "one\ttwo",
		    "plain: folded value unfolded");
	}
	is_str(mail_header(m, "SUBJECT"), m->subject,
	    "plain: header lookup ignores case");
	ok(mail_header(m, "X-Missing") == NULL, "plain: missing header");

	json = mail_headers_json(m);
	ok(strncmp(json,
	       "[{\"name\":\"Return-Path\",\"value\":"
	       "\"<alice@example.org>\"},{\"name\":\"Received\"",
	       69) == 0,
	    "plain: headers JSON");
	arr = json_loads(json, 0, NULL);
	ok(json_is_array(arr) && json_array_size(arr) == 15,
	    "plain: headers JSON parses back");
	json_decref(arr);
	free(json);
	json = mail_attachments_json(m);
	is_str(json, "[]", "plain: no attachments JSON");
	free(json);
	mail_free(m);
}

static void
test_alternative(void)
{
	struct mail *m = parse_file("alternative.eml");

	is_str(m->text, "Plain version of the order.", "alternative: text");
	is_str(m->html,
	    "<html><body><p>HTML version of the <b>order</b>.</p></body>"
	    "</html>",
	    "alternative: html");
	is_str(m->content_type, "multipart/alternative",
	    "alternative: content type");
	is_int(m->n_attachments, 0, "alternative: no attachments");
	mail_free(m);
}

static void
test_html_only(void)
{
	struct mail *m = parse_file("html-only.eml");

	is_str(m->text,
	    "Weekly news\n\n"
	    "Fish & chips <3 caf\xc3\xa9 \xe2\x82\xac"
	    "5 \xe2\x98\xba "
	    "\xc2\xa9 2024\n\n"
	    "- One\n- Two\n\n"
	    "Line\nbreak\n\n"
	    "End &unknown; &",
	    "html only: text derived from html");
	ok(m->html != NULL && strstr(m->html, "<h1>Weekly   news</h1>"),
	    "html only: html kept, quoted-printable decoded");
	is_str(m->from_name, "News", "html only: from name");
	mail_free(m);
}

static void
test_blank_plain(void)
{
	struct mail *m = parse_file("blank-plain.eml");

	is_str(m->text, "Only the HTML says it.",
	    "blank plain alternative: text from the html");
	is_str(m->html, "<p>Only the HTML says it.</p>",
	    "blank plain alternative: html");
	mail_free(m);
}

static void
test_named_text(void)
{
	struct mail *m = parse_file("named-text.eml");

	is_str(m->text, "Body.\n\nInline named text.",
	    "named text: inline named part is body");
	is_int(m->n_attachments, 1, "named text: one attachment");
	if (m->n_attachments == 1) {
		is_str(m->attachments[0].filename, "log.txt",
		    "named text: named part without disposition is a file");
		ok(m->attachments[0].disposition == NULL,
		    "named text: no disposition");
		is_int(m->attachments[0].size, 21, "named text: size");
	}
	mail_free(m);
}

static void
test_bounce(void)
{
	struct mail *m = parse_file("bounce.eml");

	is_str(m->content_type, "multipart/report", "bounce: content type");
	is_str(m->from_email, "MAILER-DAEMON", "bounce: sender without domain");
	is_str(m->from_name, "Mail Delivery System", "bounce: sender name");
	is_str(m->text,
	    "Your message could not be delivered.\n\n"
	    "---------- Forwarded message ----------\n"
	    "From: alice@example.org\n"
	    "Subject: Hello\n\n"
	    "Original text.",
	    "bounce: notice, then the returned message");
	is_int(m->n_attachments, 2, "bounce: status and message");
	if (m->n_attachments == 2) {
		is_str(m->attachments[0].content_type,
		    "message/delivery-status", "bounce: status part");
		is_str(m->attachments[1].content_type, "message/rfc822",
		    "bounce: returned message listed");
		is_str(m->attachments[1].disposition, "attachment",
		    "bounce: returned message disposition");
		is_int(m->attachments[1].size, 110,
		    "bounce: returned message size");
	}
	mail_free(m);
}

/* An HTML-only newsletter: the text drops its hidden preheader and
 * keeps the link target, the numbered list and the table's rows. */
static void
test_html_preheader(void)
{
	struct mail *m = parse_file("html-preheader.eml");

	is_str(m->text,
	    "Your order has shipped\n\n"
	    "Hello Bob,\n\n"
	    "Your parcel is on its way. Track your parcel "
	    "<https://shop.example.org/track?id=42&src=mail> or write to "
	    "help@shop.example.org.\n\n"
	    "1. Tea, 250 g\n2. Cups, 2\n\n"
	    "Item | Price\nTea | \xe2\x82\xac"
	    "7\n\n"
	    "Unsubscribe \xc2\xa9 2024 Shop",
	    "html preheader: hidden text dropped, link, list and rows kept");
	mail_free(m);
}

static void
test_related(void)
{
	struct mail *m = parse_file("related.eml");

	is_str(m->text, "Logo below", "related: text from the html");
	is_int(m->n_attachments, 2, "related: image and calendar");
	if (m->n_attachments == 2) {
		is_str(m->attachments[0].content_type, "image/gif",
		    "related: image type");
		is_str(m->attachments[0].content_id, "img1@x",
		    "related: content id without brackets");
		is_int(m->attachments[0].size, 14, "related: image size");
		is_str(m->attachments[1].content_type, "text/calendar",
		    "related: calendar alternative is an attachment");
	}
	mail_free(m);
}

static void
test_charsets(void)
{
	struct mail *m;

	m = parse_file("latin1.eml");
	is_str(m->text, "Caf\xc3\xa9 cr\xc3\xa8me for 5\xe2\x82\xac.",
	    "iso-8859-1 read as windows-1252");
	is_str(m->subject, "Caf\xc3\xa9 cr\xc3\xa8me", "iso-8859-1 Q subject");
	is_str(m->from_name, "Fran\xc3\xa7ois Dupr\xc3\xa9",
	    "iso-8859-1 Q display name");
	mail_free(m);

	m = parse_file("cp1252.eml");
	is_str(m->text,
	    "\xe2\x80\x9cQuoted\xe2\x80\x9d \xe2\x80\x93 costs "
	    "\xe2\x82\xac 10\xe2\x80\xa6",
	    "windows-1252 body");
	mail_free(m);

	m = parse_file("ascii-utf8.eml");
	is_str(m->text, "na\xc3\xafve caf\xc3\xa9 \xe2\x80\x94 ok",
	    "us-ascii label on UTF-8 bytes");
	mail_free(m);

	m = parse_file("unknown-charset.eml");
	is_str(m->text,
	    "Gr\xc3\xbc\xc3\x9f"
	    "e in UTF-8\n\n"
	    "Gr\xc3\xbc\xc3\x9f"
	    "e in Latin-1",
	    "x-foo: UTF-8 when valid, else windows-1252");
	mail_free(m);
}

static void
test_rfc2047(void)
{
	struct mail *m = parse_file("rfc2047.eml");

	is_str(m->subject,
	    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x86"
	    "\xe3\x82\xb9\xe3\x83\x88",
	    "iso-2022-jp B subject");
	is_str(m->text, m->subject, "iso-2022-jp body");
	is_str(m->from_name, "J\xc3\xbcrgen M\xc3\xbcller", "UTF-8 Q name");
	is_str(mail_header(m, "X-Base64"),
	    "\xc3\x9cn\xc3\xaf"
	    "c\xc3\xb6"
	    "d\xc3\xa9 B",
	    "UTF-8 B header");
	is_str(mail_header(m, "X-Mixed"), "plain caf\xc3\xa9 na\xc3\xafve end",
	    "mixed encoded words");
	is_str(mail_header(m, "To"),
	    "\xe5\xa4\xaa\xe9\x83\x8e <taro@example.jp>",
	    "encoded display name in header value");
	mail_free(m);
}

static void
test_attachments(void)
{
	struct mail *m = parse_file("attachment.eml");
	struct mail_attachment *a = m->attachments;
	char *json;

	is_str(m->text, "See the files.", "attachments: body only");
	is_int(m->n_attachments, 5, "attachments: five");
	if (m->n_attachments != 5) {
		mail_free(m);
		return;
	}
	is_str(a[0].filename, "report.pdf", "pdf: filename");
	is_str(a[0].content_type, "application/pdf", "pdf: type");
	is_str(a[0].disposition, "attachment", "pdf: disposition");
	ok(a[0].content_id == NULL, "pdf: no content id");
	is_int(a[0].size, 1028, "pdf: decoded base64 size");
	ok(a[1].filename == NULL, "image: no filename");
	is_str(a[1].disposition, "inline", "image: inline");
	is_str(a[1].content_id, "logo@example.org", "image: content id");
	is_int(a[1].size, 8, "image: size");
	is_str(a[2].filename, "notes.txt", "text attachment: filename");
	is_str(a[2].content_type, "text/plain", "text attachment: type");
	is_int(a[2].size, 44, "text attachment: size");
	is_str(a[3].filename, "data.csv", "csv: name parameter");
	ok(a[3].disposition == NULL, "csv: no disposition");
	is_str(a[4].filename,
	    "\xe2\x82\xac rates \xc3\xbc"
	    "ber.bin",
	    "RFC 2231 continued filename");
	is_int(a[4].size, 4, "quoted-printable size");
	json = mail_attachments_json(m);
	is_str(json,
	    "[{\"filename\":\"report.pdf\",\"content_type\":\"application/"
	    "pdf\","
	    "\"size\":1028,\"disposition\":\"attachment\",\"content_id\":null},"
	    "{\"filename\":null,\"content_type\":\"image/png\",\"size\":8,"
	    "\"disposition\":\"inline\",\"content_id\":\"logo@example.org\"},"
	    "{\"filename\":\"notes.txt\",\"content_type\":\"text/plain\","
	    "\"size\":44,\"disposition\":\"attachment\",\"content_id\":null},"
	    "{\"filename\":\"data.csv\",\"content_type\":\"text/csv\","
	    "\"size\":7,\"disposition\":null,\"content_id\":null},"
	    "{\"filename\":\"\xe2\x82\xac rates \xc3\xbc"
	    "ber.bin\","
	    "\"content_type\":\"application/octet-stream\",\"size\":4,"
	    "\"disposition\":\"attachment\",\"content_id\":null}]",
	    "attachments JSON");
	free(json);
	mail_free(m);
}

static void
test_forward_and_signed(void)
{
	struct mail *m;

	m = parse_file("forward.eml");
	is_str(m->text,
	    "See below.\n\n"
	    "---------- Forwarded message ----------\n"
	    "From: Alice <alice@example.org>\n"
	    "Date: Fri, 7 Jun 2024 09:00:00 +0000\n"
	    "Subject: Lunch\n\n"
	    "Lunch at noon?",
	    "forward: outer text, then the forwarded one");
	is_str(
	    m->html, "<p>Lunch at <b>noon</b>?</p>", "forward: forwarded html");
	is_str(m->message_id, "fwd-1@example.org", "forward: outer message id");
	is_str(m->subject, "Fwd: Lunch", "forward: outer subject");
	mail_free(m);

	m = parse_file("signed.eml");
	is_str(m->text, "This text is signed.", "signed: signed content");
	is_int(m->n_attachments, 0, "signed: signature is not an attachment");
	is_str(m->content_type, "multipart/signed", "signed: content type");
	mail_free(m);
}

static void
test_bad_bytes(void)
{
	struct mail *m;

	m = parse_file("nul.eml");
	is_str(m->text, "beforeafter", "NUL removed from the body");
	mail_free(m);

	m = parse_file("bad-header.eml");
	is_str(m->subject,
	    "Gr\xc3\xbc\xc3\x9f"
	    "e aus K\xc3\xb6ln",
	    "raw UTF-8 subject");
	is_str(mail_header(m, "X-Latin1"), "caf\xc3\xa9 cr\xc3\xa8me",
	    "raw Latin-1 header via the fallback charset");
	is_str(mail_header(m, "X-Broken"), "ok \xc3\x83( \xc3\xbf end",
	    "invalid UTF-8 header decoded as windows-1252");
	mail_free(m);
}

static void
test_synthetic_id(void)
{
	struct mail *a, *b, *c;
	size_t len;
	char *data = load("no-msgid.eml", &len), *p;

	a = mime_parse(data, len, false, &opts);
	b = mime_parse(data, len, false, &opts);
	ok(a->message_id_synthetic, "no Message-ID: synthetic");
	ok(strncmp(a->message_id, "synthetic-", 10) == 0,
	    "synthetic id format: %s", a->message_id);
	is_str(a->message_id, b->message_id, "synthetic id stable");
	if ((p = strstr(data, "without")) != NULL)
		memcpy(p, "lacking", 7);
	c = mime_parse(data, len, false, &opts);
	ok(strcmp(a->message_id, c->message_id) != 0,
	    "synthetic id differs for a different body");
	mail_free(a);
	mail_free(b);
	mail_free(c);
	free(data);
}

static void
test_dates(void)
{
	struct mail *m;

	m = parse_file("no-date.eml");
	is_int(m->sent_at, FALLBACK_DATE, "no Date: fallback used");
	ok(!m->date_valid, "no Date: not valid");
	mail_free(m);

	m = parse_file("bad-date.eml");
	is_int(m->sent_at, FALLBACK_DATE, "bad Date: fallback used");
	ok(!m->date_valid, "bad Date: not valid");
	mail_free(m);
}

/* A message with the given Date header(s): want is its time, or -1
 * for a date taken as none (the fallback, not valid). */
static void
check_date_header(const char *headers, long long want, const char *what)
{
	char *data;
	struct mail *m;

	if (asprintf(&data, "%sSubject: dated\n\nx\n", headers) < 0)
		abort();
	m = mime_parse(data, strlen(data), false, &opts);
	if (want < 0) {
		is_int(m->sent_at, FALLBACK_DATE, "%s: fallback used", what);
		ok(!m->date_valid, "%s: not valid", what);
	} else {
		is_int(m->sent_at, want, "%s: %lld", what, want);
		ok(m->date_valid, "%s: valid", what);
	}
	mail_free(m);
	free(data);
}

static void
test_impossible_dates(void)
{
	static const struct {
		const char *date;
		long long want;
	} cases[] = {
	    {"Fri, 7 Jun 2024 09:00:00 +0000", 1717750800LL},
	    {"Fri, 7 Jun 2024 11:30:00 +0230", 1717750800LL},
	    {"Fri, 7 Jun 2024 04:00:00 -0500 (CDT)", 1717750800LL},
	    {"Fri, 7 Jun 2024 9:00:00 +0000", 1717750800LL},
	    {"Fri, 7 Jun 2024 09:00 +0000", 1717750800LL},
	    {"7 Jun 2024 09:00:00 GMT", 1717750800LL},
	    {"Thu, 29 Feb 2024 00:00:00 +0000", 1709164800LL},
	    {"Fri, 7 Jun 2024 09:00:00 +0000 (+9999 is a comment)",
		1717750800LL},
	    {"Fri, 7 Jun 2024 -1:00:00 +0000", -1},
	    {"Fri, 7 Jun 2024 -09:00:00 +0000", -1},
	    {"Fri, 7 Jun 2024 09:-5:00 +0000", -1},
	    {"Fri, 7 Jun 2024 09:00:-1 +0000", -1},
	    {"Fri, 7 Jun 2024 24:00:00 +0000", -1},
	    {"Fri, 7 Jun 2024 09:60:00 +0000", -1},
	    {"Fri, 7 Jun 2024 09:00:61 +0000", -1},
	    {"Fri, 7 Jun 2024 123:00:00 +0000", -1},
	    {"Sat, 31 Feb 2024 09:00:00 +0000", -1},
	    {"Fri, 30 Feb 2024 09:00:00 +0000", -1},
	    {"Thu, 29 Feb 2023 09:00:00 +0000", -1},
	    {"Fri, 31 Jun 2024 09:00:00 +0000", -1},
	    {"Fri, 0 Jun 2024 09:00:00 +0000", -1},
	    {"Fri, 32 Jun 2024 09:00:00 +0000", -1},
	    {"Fri, 7 Jun 2024 09:00:00 +9999", -1},
	    {"Fri, 7 Jun 2024 09:00:00 -9999", -1},
	    {"Fri, 7 Jun 2024 09:00:00 +2400", -1},
	    {"Fri, 7 Jun 2024 09:00:00 +0060", -1},
	    {"Fri, 7 Jun 2024 09:00:00 +099", -1},
	    {"Fri, 7 Jun 2024 09:00:00 +00000", -1},
	    {"Fri, 7 Jun 2024 09:00:00 +0x10", -1},
	};
	char *h;

	for (size_t i = 0; i < nitems(cases); i++) {
		if (asprintf(&h, "Date: %s\n", cases[i].date) < 0)
			abort();
		check_date_header(h, cases[i].want, cases[i].date);
		free(h);
	}
	check_date_header("Date: Fri, 7 Jun 2024 09:00:00 +0000\n"
			  "Date: Fri, 7 Jun 2024 -1:00:00 +0000\n",
	    -1, "two Date headers, one impossible");
}

static void
test_addresses(void)
{
	struct mail *m;
	const char *rp = "Return-Path: <Bounce@Example.COM>\n"
			 "Subject: only a return path\n\nx\n";

	m = parse_file("group-to.eml");
	is_str(m->to_email, "a@example.com", "group: first member");
	is_str(m->to_list, "a@example.com, b@example.com, c@example.org",
	    "group: flattened");
	ok(m->cc_list == NULL, "group: empty group gives no cc");
	mail_free(m);

	m = parse_file("broken-addr.eml");
	is_str(m->from_email, "john@example.com", "broken from: address");
	is_str(m->from_name, "Broken Name", "broken from: name");
	is_str(m->to_list, "a@example.com, b@example.com, bad, y@example.com",
	    "broken to: what could be read");
	ok(m->cc_list == NULL, "broken cc: nothing");
	mail_free(m);

	m = parse_file("sender-only.eml");
	is_str(m->from_email, "bot@lists.example.org", "no From: Sender used");
	is_str(m->from_name, "List Bot", "no From: Sender name");
	mail_free(m);

	m = mime_parse(rp, strlen(rp), false, &opts);
	is_str(m->from_email, "Bounce@example.com",
	    "no From or Sender: Return-Path");
	ok(m->from_name == NULL, "Return-Path: no name");
	mail_free(m);
}

static void
test_references(void)
{
	struct mail *m = parse_file("self-ref.eml");

	is_str(m->message_id, "self@example.org", "self-ref: id");
	is_str(m->in_reply_to, "parent@example.org",
	    "self-ref: in-reply-to skips own id");
	is_int(m->n_references, 2, "self-ref: own id removed, deduplicated");
	if (m->n_references == 2) {
		is_str(m->references[0], "root@example.org", "self-ref: ref 0");
		is_str(
		    m->references[1], "parent@example.org", "self-ref: ref 1");
	}
	mail_free(m);
}

static void
test_broken_structure(void)
{
	struct mail *m;

	m = parse_file("broken-boundary.eml");
	is_str(m->text, "First part, never closed.\n\nSecond part.",
	    "broken boundary: both parts kept");
	ok(m->parse_problem != NULL, "broken boundary: problem reported: %s",
	    m->parse_problem ? m->parse_problem : "");
	mail_free(m);

	m = parse_file("only-headers.eml");
	is_str(m->subject, "Only headers", "only headers: subject");
	ok(m->text == NULL, "only headers: no text");
	is_str(m->message_id, "oh-1@example.org", "only headers: id");
	mail_free(m);
}

/*
 * Messages built at run time
 */

static struct mail *
parse_built(const char *what, const char *data, size_t len, bool truncated,
    const struct mime_opts *o)
{
	struct mail *m = mime_parse(data, len, truncated, o);

	ok(m != NULL && mail_is_clean(m), "%s: parsed, every string clean",
	    what);
	return m;
}

static void
test_size_limit(void)
{
	struct mime_opts small = {
	    .max_message_size = 10000, .fallback_date = FALLBACK_DATE};
	struct mail *m;
	struct buf b;

	buf_init(&b);
	buf_appends(&b,
	    "Message-ID: <big@example.org>\r\n"
	    "Subject: Big one\r\n"
	    "From: big@example.org\r\n"
	    "Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
	    "--XX\r\nContent-Type: text/plain\r\n\r\n");
	for (int i = 0; i < 20000; i++)
		buf_printf(&b, "line %05d of the body\r\n", i);
	buf_appends(&b, "--XX--\r\n");

	m = parse_built("over the limit", b.data, b.len, false, &small);
	ok(m->truncated, "over the limit: truncated flag");
	ok(m->parse_problem != NULL &&
		strncmp(m->parse_problem,
		    "message larger than max_message_size; body truncated",
		    52) == 0,
	    "over the limit: problem says why");
	is_str(m->subject, "Big one", "over the limit: headers kept");
	is_str(m->message_id, "big@example.org", "over the limit: id kept");
	ok(m->text != NULL && strncmp(m->text, "line 00000 of", 13) == 0 &&
		strlen(m->text) < 10000,
	    "over the limit: body cut");
	is_int(m->size_bytes, b.len, "over the limit: size is the input size");
	mail_free(m);

	m = parse_built(
	    "fetcher-truncated", "Subject: s\n\nbody\n", 17, true, &opts);
	ok(m->truncated, "fetcher-truncated: flagged");
	is_str(m->parse_problem,
	    "message larger than max_message_size; body truncated",
	    "fetcher-truncated: problem");
	mail_free(m);

	/* The fetcher kept 17 of 50000 bytes: the row says 50000. */
	small.max_message_size = 17;
	small.full_size = 50000;
	m = parse_built(
	    "cut by the fetcher", "Subject: s\n\nbody\n", 17, true, &small);
	is_int(m->size_bytes, 50000, "cut by the fetcher: the whole size");
	mail_free(m);
	m = parse_built(
	    "whole, size claimed", "Subject: s\n\nbody\n", 17, false, &small);
	is_int(m->size_bytes, 17, "whole, size claimed: the bytes at hand");
	mail_free(m);
	small.full_size = 3;
	m = parse_built(
	    "cut, size too small", "Subject: s\n\nbody\n", 17, true, &small);
	is_int(m->size_bytes, 17, "cut, size too small: never less than kept");
	mail_free(m);
	buf_free(&b);
}

/* Single-line fields hold no line breaks or control characters, even
 * when encoded words carry them in. */
static void
test_single_line_fields(void)
{
	static const char msg[] =
	    "Subject: =?utf-8?q?one=0D=0Atwo=09three=01four_=0D=0A_five?=\r\n"
	    "From: =?utf-8?q?Eve=0D=0ABcc=3A_x?= <eve@example.org>\r\n"
	    "To: =?utf-8?q?T=0Ao?= <to@example.org>\r\n"
	    "Message-ID: <line@example.org>\r\n\r\nbody\r\n";
	struct mail *m;
	char *s;

	s = text_clean_line_dup("a\r\n\tb \n c\x01\x1f"
				"d\x7f"
				"e");
	is_str(s,
	    "a b c"
	    "d\x7f"
	    "e",
	    "line: breaks to one space, C0 dropped");
	free(s);
	s = text_clean_line_dup("x\0y");
	is_str(s, "x", "line: stops at the C string end");
	free(s);
	ok(text_clean_line_dup(NULL) == NULL, "line: NULL stays NULL");

	m = parse_built("encoded CR/LF", msg, sizeof(msg) - 1, false, &opts);
	is_str(m->subject, "one two threefour five",
	    "encoded CR/LF: subject on one line");
	is_str(m->from_name, "Eve Bcc: x", "encoded CR/LF: From name");
	is_str(m->from_email, "eve@example.org", "encoded CR/LF: From address");
	is_str(m->to_list, "to@example.org", "encoded CR/LF: To list");
	is_str(m->message_id, "line@example.org", "encoded CR/LF: id");
	mail_free(m);
}

/* Parses "Subject: <subject>" over a short body and checks what is
 * stored of the subject; the body must come through untouched. */
static void
check_subject(
    const char *subject, size_t len, const char *want, const char *what)
{
	struct buf b;
	struct mail *m;

	buf_init(&b);
	buf_appends(&b, "Message-ID: <s@example.org>\r\nSubject: ");
	buf_append(&b, subject, len);
	buf_appends(&b, "\r\nFrom: a@example.org\r\n\r\nbody\r\n");
	m = parse_built(what, b.data, b.len, false, &opts);
	is_str(m->subject, want, "%s: subject", what);
	is_str(mail_header(m, "Subject"), want, "%s: Subject header", what);
	is_str(m->text, "body", "%s: body untouched", what);
	mail_free(m);
	buf_free(&b);
}

#define CHECK_SUBJECT(s, want, what) check_subject(s, sizeof(s) - 1, want, what)

/* A NUL in a header is dropped: raw, encoded, or written as C0 80 (the
 * windows-1252 fallback made that "A-grave, euro sign"). */
static void
test_header_nul(void)
{
	static const char msg[] = "Subject: plain\r\nFrom: =?utf-8?q?Ev=00e?= "
				  "<eve@example.org>\r\n\r\nbody\r\n";
	struct mail *m;
	size_t len;

	CHECK_SUBJECT("=?utf-8?q?a=00b?=", "ab", "NUL in a Q word");
	CHECK_SUBJECT("=?utf-8?b?YQBi?=", "ab", "NUL in a B word");
	CHECK_SUBJECT("a\0b", "ab", "raw NUL");
	CHECK_SUBJECT("a\xc0\x80"
		      "b",
	    "ab", "raw C0 80");
	CHECK_SUBJECT("=?utf-8?q?a=C0=80b?=", "ab", "C0 80 in a word");
	CHECK_SUBJECT(
	    "=?iso-8859-1?q?a=00b=E9?=", "ab\xc3\xa9", "NUL in a Latin-1 word");
	CHECK_SUBJECT("x =?utf-8?q?=00?= y", "x  y", "a word of only NUL");
	CHECK_SUBJECT("caf\xe9 \x80", "caf\xc3\xa9 \xe2\x82\xac",
	    "windows-1252 fallback still applies");

	m = parse_built("NUL in a name", msg, sizeof(msg) - 1, false, &opts);
	is_str(m->from_name, "Eve", "NUL in a name: dropped");
	mail_free(m);

	ok(header_words_repair("Subject: =?utf-8?q?fine?=\r\n", 27, &len) ==
		NULL,
	    "a clean header block is not copied");
}

/* UTF-16 words: big-endian without a byte order mark (RFC 2781), else
 * as the mark says; a run of words is one text. */
static void
test_utf16_words(void)
{
	CHECK_SUBJECT("=?utf-16?b?AGEAYgBj?=", "abc", "UTF-16, no mark");
	CHECK_SUBJECT("=?UTF-16?B?/v8AYQBiAGM=?=", "abc", "UTF-16, BE mark");
	CHECK_SUBJECT("=?utf-16?b?//5hAGIAYwA=?=", "abc", "UTF-16, LE mark");
	CHECK_SUBJECT("=?utf-16le?b?YQBiAGMA?=", "abc", "UTF-16LE");
	CHECK_SUBJECT("=?utf-16be?b?AGEAYgBj?=", "abc", "UTF-16BE");
	CHECK_SUBJECT("=?utf-16?q?=00a=00b?=", "ab", "UTF-16, Q");
	CHECK_SUBJECT("Re: =?utf-16?b?AOkAdA==?= end", "Re: \xc3\xa9t end",
	    "UTF-16 between words");
	CHECK_SUBJECT("=?utf-16?b?//5hAA==?= =?utf-16?b?YgA=?=", "ab",
	    "the mark of the first word holds for the run");
	CHECK_SUBJECT("=?utf-16?b?AA==?=\r\n =?utf-16?b?6Q==?=", "\xc3\xa9",
	    "a character split over a folded line");
	CHECK_SUBJECT(
	    "=?utf-16?b?2D3eAA==?=", "\xf0\x9f\x98\x80", "surrogate pair");
	CHECK_SUBJECT("=?utf-16?b?2D0AYQ==?=",
	    "\xef\xbf\xbd"
	    "a",
	    "lone surrogate");
	CHECK_SUBJECT("=?utf-16?b?AGEAAABi?=", "ab", "U+0000 dropped");
}

static void
test_hostile_input(void)
{
	struct mail *m;
	struct buf b;
	uint32_t x = 12345;
	char *garbage;
	const size_t glen = 65536;
	static const char nul_header[] =
	    "Subject: a\0b\r\nFrom: x\0@y\r\nMessage-ID: "
	    "<n\0ul@x>\r\n\r\nbo\0dy";

	m = parse_built("empty input", "", 0, false, &opts);
	ok(m->message_id_synthetic && m->text == NULL && m->n_headers == 0,
	    "empty input: synthetic id, nothing else");
	mail_free(m);
	m = parse_built("NULL input", NULL, 0, false, &opts);
	mail_free(m);
	m = parse_built("NULL opts", "Subject: x\n\ny", 13, false, NULL);
	is_str(m->text, "y", "NULL opts: parsed");
	mail_free(m);

	garbage = xmalloc(glen);
	for (size_t i = 0; i < glen; i++) {
		x = x * 1103515245 + 12345;
		garbage[i] = (char)(x >> 16);
	}
	m = parse_built("binary garbage", garbage, glen, false, &opts);
	ok(m->message_id_synthetic, "binary garbage: synthetic id");
	mail_free(m);
	free(garbage);

	m = parse_built("no header block", "just some text\r\nand more\r\n", 26,
	    false, &opts);
	is_str(m->text, "just some text\nand more",
	    "no header block: raw text kept, CRLF made LF");
	ok(m->parse_problem != NULL, "no header block: problem reported");
	mail_free(m);

	m = parse_built("NUL bytes in headers", nul_header,
	    sizeof(nul_header) - 1, false, &opts);
	mail_free(m);

	/* Multiparts nested far deeper than anyone writes them. */
	buf_init(&b);
	buf_appends(&b, "Subject: deep\n");
	for (int i = 0; i < 500; i++)
		buf_printf(&b,
		    "Content-Type: multipart/mixed; boundary=b%d\n\n"
		    "--b%d\n",
		    i, i);
	buf_appends(&b, "Content-Type: text/plain\n\ninnermost\n");
	m = parse_built("500 nested multiparts", b.data, b.len, false, &opts);
	ok(m->parse_problem != NULL, "500 nested multiparts: reported: %s",
	    m->parse_problem ? m->parse_problem : "");
	mail_free(m);

	buf_reset(&b);
	buf_appends(&b, "Subject: forwards\n");
	for (int i = 0; i < 300; i++)
		buf_appends(&b,
		    "Content-Type: message/rfc822\n\n"
		    "Subject: inner\n");
	buf_appends(&b, "\ninnermost\n");
	m = parse_built("300 nested forwards", b.data, b.len, false, &opts);
	mail_free(m);

	/* A 1 MB header line. */
	buf_reset(&b);
	buf_appends(&b, "Subject: ");
	for (int i = 0; i < 100000; i++)
		buf_appends(&b, "long word ");
	buf_appends(&b, "\n\nbody\n");
	m = parse_built("1 MB header line", b.data, b.len, false, &opts);
	ok(m->subject != NULL && strlen(m->subject) > 999000,
	    "1 MB header line: subject kept");
	mail_free(m);

	/* An "address" no mail system would accept. */
	buf_reset(&b);
	buf_appends(&b, "From: <");
	for (int i = 0; i < 1000; i++)
		buf_appends(&b, "a");
	buf_appends(&b, "@example.org>\nTo: ok@example.org\n\nbody\n");
	m = parse_built("1000-byte address", b.data, b.len, false, &opts);
	ok(m->from_email == NULL, "1000-byte address: not stored");
	is_str(m->to_email, "ok@example.org", "1000-byte address: others kept");
	mail_free(m);

	/* Many parts: linear, every one listed. */
	buf_reset(&b);
	buf_appends(&b,
	    "Subject: parts\nContent-Type: multipart/mixed; "
	    "boundary=P\n\n");
	for (int i = 0; i < 3000; i++)
		buf_printf(&b, "--P\nContent-Type: image/png\n\n%d\n", i);
	buf_appends(&b, "--P--\n");
	m = parse_built("3000 parts", b.data, b.len, false, &opts);
	is_int(m->n_attachments, 3000, "3000 parts: all listed");
	mail_free(m);

	/* Boundaries that never come, in several styles. */
	buf_reset(&b);
	buf_appends(&b,
	    "Content-Type: multipart/alternative; boundary=\"\"\n\n"
	    "--\n--\n----\n");
	m = parse_built("empty boundary", b.data, b.len, false, &opts);
	mail_free(m);
	buf_reset(&b);
	buf_appends(
	    &b, "Content-Type: multipart/mixed\n\nno boundary at all\n");
	m = parse_built(
	    "multipart without boundary", b.data, b.len, false, &opts);
	mail_free(m);
	buf_free(&b);
}

int
main(void)
{
	find_datadir();
	mime_init();

	test_sanitize();
	test_base64();
	test_hex();
	test_plain();
	test_alternative();
	test_html_only();
	test_html_preheader();
	test_related();
	test_blank_plain();
	test_named_text();
	test_bounce();
	test_charsets();
	test_rfc2047();
	test_attachments();
	test_forward_and_signed();
	test_bad_bytes();
	test_synthetic_id();
	test_dates();
	test_impossible_dates();
	test_addresses();
	test_references();
	test_broken_structure();
	test_size_limit();
	test_hostile_input();
	test_single_line_fields();
	test_header_nul();
	test_utf16_words();

	mime_shutdown();
	return tap_done();
}
