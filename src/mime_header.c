/*
 * The GMime layer's second half: the top-level headers of a parsed
 * message into struct mail (headers in order, sender and recipients,
 * Message-ID and references, date, content type). mime.c walks the
 * body; only the two of them include GMime.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "mail.h"
#include "mime_header.h"
#include "msgid.h"
#include "text.h"
#include "util.h"

static void
add_header(struct mail *m, GMimeHeader *h)
{
	const char *name = g_mime_header_get_name(h);
	const char *value = g_mime_header_get_value(h);

	m->headers[m->n_headers].name = text_clean_dup(name ? name : "");
	m->headers[m->n_headers].value = text_clean_dup(value ? value : "");
	m->n_headers++;
}

/* GMime files the top-level Content-* headers under the body part; the
 * two lists are merged back into message order by stream offset. */
static void
collect_headers(struct mail *m, GMimeMessage *msg)
{
	GMimeObject *body = g_mime_message_get_mime_part(msg);
	GMimeHeaderList *a, *b;
	int na, nb, i = 0, j = 0;

	a = g_mime_object_get_header_list(GMIME_OBJECT(msg));
	b = body ? g_mime_object_get_header_list(body) : NULL;
	na = a ? g_mime_header_list_get_count(a) : 0;
	nb = b ? g_mime_header_list_get_count(b) : 0;
	if (na + nb == 0)
		return;
	m->headers =
	    xreallocarray(NULL, (size_t)(na + nb), sizeof(*m->headers));
	while (i < na || j < nb) {
		GMimeHeader *ha =
		    i < na ? g_mime_header_list_get_header_at(a, i) : NULL;
		GMimeHeader *hb =
		    j < nb ? g_mime_header_list_get_header_at(b, j) : NULL;

		if (hb == NULL ||
		    (ha != NULL &&
			g_mime_header_get_offset(ha) <=
			    g_mime_header_get_offset(hb))) {
			add_header(m, ha);
			i++;
		} else {
			add_header(m, hb);
			j++;
		}
	}
}

/* RFC 5321 allows 254 bytes; anything far longer is not an address and
 * would only strain the indexes it lands in. */
#define MAX_ADDRESS_LEN 320

/* An address as stored: trimmed, without angle brackets, the domain in
 * lower case (the local part is case-sensitive); NULL when empty or
 * absurdly long. */
static char *
normalize_address(const char *addr)
{
	char *s, *start, *at;
	size_t len;

	if (addr == NULL)
		return NULL;
	s = str_trim(text_clean_line_dup(addr));
	start = s;
	if (*start == '<')
		start++;
	len = strlen(start);
	if (len > 0 && start[len - 1] == '>')
		start[--len] = '\0';
	memmove(s, start, len + 1);
	str_trim(s);
	if (*s == '\0' || strlen(s) > MAX_ADDRESS_LEN) {
		free(s);
		return NULL;
	}
	if ((at = strrchr(s, '@')) != NULL)
		str_lower(at + 1);
	return s;
}

static bool
has_address(InternetAddressMailbox *mb)
{
	const char *addr = internet_address_mailbox_get_addr(mb);

	return addr != NULL && *addr != '\0';
}

static InternetAddressList *
group_members(InternetAddress *ia)
{
	return internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia));
}

/* The first mailbox with an address, groups flattened; else the first
 * mailbox at all (for its display name); else NULL. */
static InternetAddressMailbox *
first_mailbox(InternetAddressList *list, int depth)
{
	InternetAddressMailbox *fallback = NULL, *mb;
	int n = list ? internet_address_list_length(list) : 0;

	for (int i = 0; i < n && depth < 4; i++) {
		InternetAddress *ia =
		    internet_address_list_get_address(list, i);

		if (INTERNET_ADDRESS_IS_GROUP(ia))
			mb = first_mailbox(group_members(ia), depth + 1);
		else if (INTERNET_ADDRESS_IS_MAILBOX(ia))
			mb = INTERNET_ADDRESS_MAILBOX(ia);
		else
			mb = NULL;
		if (mb != NULL && has_address(mb))
			return mb;
		if (fallback == NULL)
			fallback = mb;
	}
	return fallback;
}

/* Appends every normalized address of the list to b, ", "-separated. */
static void
join_addresses(struct buf *b, InternetAddressList *list, int depth)
{
	int n = list ? internet_address_list_length(list) : 0;

	for (int i = 0; i < n && depth < 4; i++) {
		InternetAddress *ia =
		    internet_address_list_get_address(list, i);
		char *addr;

		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			join_addresses(b, group_members(ia), depth + 1);
			continue;
		}
		if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
			continue;
		addr = normalize_address(internet_address_mailbox_get_addr(
		    INTERNET_ADDRESS_MAILBOX(ia)));
		if (addr == NULL)
			continue;
		if (b->len > 0)
			buf_appends(b, ", ");
		buf_appends(b, addr);
		free(addr);
	}
}

static char *
address_list_text(InternetAddressList *list)
{
	struct buf b;

	buf_init(&b);
	join_addresses(&b, list, 0);
	return b.len > 0 ? buf_steal(&b) : NULL;
}

static void
set_sender(struct mail *m, GMimeMessage *msg, GMimeParserOptions *options)
{
	InternetAddressMailbox *mb;
	InternetAddressList *rp = NULL;
	const char *name, *v;

	mb = first_mailbox(g_mime_message_get_from(msg), 0);
	if (mb == NULL)
		mb = first_mailbox(g_mime_message_get_sender(msg), 0);
	if (mb == NULL &&
	    (v = g_mime_object_get_header(GMIME_OBJECT(msg), "Return-Path")) !=
		NULL &&
	    (rp = internet_address_list_parse(options, v)) != NULL)
		mb = first_mailbox(rp, 0);
	if (mb != NULL) {
		m->from_email =
		    normalize_address(internet_address_mailbox_get_addr(mb));
		name = internet_address_get_name(INTERNET_ADDRESS(mb));
		if (name != NULL && *name != '\0')
			m->from_name = str_trim(text_clean_line_dup(name));
		if (m->from_name != NULL && *m->from_name == '\0') {
			free(m->from_name);
			m->from_name = NULL;
		}
	}
	if (rp != NULL)
		g_object_unref(rp);
}

static void
set_recipients(struct mail *m, GMimeMessage *msg)
{
	InternetAddressList *to = g_mime_message_get_to(msg);
	InternetAddressMailbox *mb = first_mailbox(to, 0);

	if (mb != NULL)
		m->to_email =
		    normalize_address(internet_address_mailbox_get_addr(mb));
	m->to_list = address_list_text(to);
	m->cc_list = address_list_text(g_mime_message_get_cc(msg));
}

/* The raw (still folded) value: ids are not encoded words. */
static const char *
raw_header(GMimeMessage *msg, const char *name)
{
	GMimeHeaderList *list =
	    g_mime_object_get_header_list(GMIME_OBJECT(msg));
	GMimeHeader *h;
	const char *v;

	if (list == NULL ||
	    (h = g_mime_header_list_get_header(list, name)) == NULL)
		return NULL;
	if ((v = g_mime_header_get_raw_value(h)) == NULL)
		v = g_mime_header_get_value(h);
	return v;
}

/* Parses an id list and makes every id clean. */
static size_t
clean_id_list(const char *value, char ***ids)
{
	size_t n = msgid_parse_list(value, ids);

	for (size_t i = 0; i < n; i++)
		(*ids)[i] = text_clean_line_owned((*ids)[i]);
	return n;
}

static void
set_ids(struct mail *m, GMimeMessage *msg)
{
	char **refs, **irt, **all = NULL;
	size_t nrefs, nirt, n = 0, k = 0;

	m->message_id = text_clean_line_owned(
	    msgid_parse_one(raw_header(msg, "Message-ID")));
	nrefs = clean_id_list(raw_header(msg, "References"), &refs);
	nirt = clean_id_list(raw_header(msg, "In-Reply-To"), &irt);
	for (size_t i = 0; i < nirt && m->in_reply_to == NULL; i++)
		if (m->message_id == NULL || strcmp(irt[i], m->message_id) != 0)
			m->in_reply_to = xstrdup(irt[i]);
	n = msgid_list_merge(&all, n, refs, nrefs);
	n = msgid_list_merge(&all, n, irt, nirt);
	/* A message is not its own ancestor. */
	for (size_t i = 0; i < n; i++) {
		if (m->message_id != NULL && strcmp(all[i], m->message_id) == 0)
			free(all[i]);
		else
			all[k++] = all[i];
	}
	if (k == 0) {
		free(all);
		all = NULL;
	}
	m->references = all;
	m->n_references = k;
}

/* True when the n bytes at p are digits; their value in *v. */
static bool
digits_value(const char *p, size_t n, int *v)
{
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!g_ascii_isdigit(p[i]))
			return false;
		*v = *v * 10 + (p[i] - '0');
	}
	return n > 0;
}

/* "h:mm", "hh:mm" or "hh:mm:ss", each field in its range. */
static bool
time_possible(const char *p, size_t n)
{
	const char *colon = memchr(p, ':', n);
	size_t hl = colon ? (size_t)(colon - p) : n;
	int hh, mm, ss = 0;

	if (colon == NULL || hl > 2 || !digits_value(p, hl, &hh))
		return false;
	p += hl + 1;
	n -= hl + 1;
	if (n != 2 && n != 5)
		return false;
	if (!digits_value(p, 2, &mm) ||
	    (n == 5 && (p[2] != ':' || !digits_value(p + 3, 2, &ss))))
		return false;
	return hh <= 23 && mm <= 59 && ss <= 60;
}

/* "+hhmm" or "-hhmm": less than a day, minutes below 60. */
static bool
zone_possible(const char *p, size_t n)
{
	int hh, mm;

	return n == 5 && digits_value(p + 1, 2, &hh) &&
	    digits_value(p + 3, 2, &mm) && hh <= 23 && mm <= 59;
}

/*
 * GMime reads "-1:00:00" as midnight and a zone of "+9999" or "+2400"
 * as UTC; the date would be stored wrong rather than not at all. So the
 * time and the zone of the header are checked first: every word with a
 * colon must be a possible time, every word that starts with a sign a
 * possible zone. A comment ends the check. (GMime itself refuses days
 * the month does not have, as 31 February.)
 */
static bool
date_fields_possible(const char *v)
{
	const char *p = v, *end = v + strcspn(v, "(");

	while (p < end) {
		size_t n;

		p += strspn(p, " \t\r\n,");
		n = strcspn(p, " \t\r\n,(");
		if (p + n > end)
			n = (size_t)(end - p);
		if (n == 0)
			break;
		if (*p == '+' || *p == '-') {
			if (!zone_possible(p, n))
				return false;
		} else if (memchr(p, ':', n) != NULL && !time_possible(p, n))
			return false;
		p += n;
	}
	return true;
}

/* False when a Date header holds an impossible time or zone. */
static bool
dates_possible(GMimeMessage *msg)
{
	GMimeHeaderList *list =
	    g_mime_object_get_header_list(GMIME_OBJECT(msg));
	int n = g_mime_header_list_get_count(list);

	for (int i = 0; i < n; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(list, i);
		const char *name = g_mime_header_get_name(h);
		const char *value = g_mime_header_get_value(h);
		bool is_date = g_ascii_strcasecmp(name, "Date") == 0;

		if (is_date && value != NULL && !date_fields_possible(value))
			return false;
	}
	return true;
}

/* An impossible Date is no Date: the message then takes the server's
 * arrival date, as undated mail does. */
static void
set_date(struct mail *m, GMimeMessage *msg)
{
	GDateTime *dt = g_mime_message_get_date(msg);

	if (dt != NULL && dates_possible(msg)) {
		m->sent_at = g_date_time_to_unix(dt);
		m->date_valid = true;
	}
}

static void
set_content_type(struct mail *m, GMimeMessage *msg)
{
	GMimeObject *body = g_mime_message_get_mime_part(msg);
	GMimeContentType *ct;
	char *type;

	if (body == NULL ||
	    (ct = g_mime_object_get_content_type(body)) == NULL) {
		m->content_type = xstrdup("text/plain");
		return;
	}
	type = g_mime_content_type_get_mime_type(ct);
	m->content_type = text_clean_lower_dup(type ? type : "text/plain");
	g_free(type);
}

void
mime_read_headers(
    struct mail *m, GMimeMessage *msg, GMimeParserOptions *options)
{
	collect_headers(m, msg);
	m->subject = text_clean_line_dup(g_mime_message_get_subject(msg));
	set_sender(m, msg, options);
	set_recipients(m, msg);
	set_ids(m, msg);
	set_date(m, msg);
	set_content_type(m, msg);
}
