/*
 * Automated mail detection (SPEC 4).
 *
 * The rules look at what a program leaves on the mail it sends, never at
 * who the sender is: report structures (RFC 3462/6522 multipart/report
 * and its machine-readable parts), the headers of RFC 3834 and of the
 * vendors that predate it, list and bulk headers (RFC 2369/2919, RFC
 * 8058), the forms of address no person writes from (MAILER-DAEMON,
 * no-reply and kin), the null envelope sender, and the subjects that
 * mail servers and autoresponders write, in many languages.
 *
 * The rules are tried in the order below and the first one that holds
 * names the reason, "class: evidence" (classes in classify.h). Each
 * errs towards "human": a person's message taken for an automated one
 * never shows up as needing a reply, which is worse than an auto-reply
 * that does. So:
 *  - a subject pattern alone is trusted only where it is what a program
 *    writes at the start of a subject ("Automatic reply: ...");
 *    a reply or forward ("Re: Automatic reply: ...") is a person's;
 *  - a bounce subject needs the body of a bounce too (a failure phrase
 *    with an address close behind it, or an SMTP status code);
 *  - role addresses people answer from (info@, support@, sales@) and
 *    the mere use of a mail service provider are not signals;
 *  - X-Auto-Response-Suppress (senders put it on ordinary mail to ask
 *    that nobody auto-replies to it) and X-MS-Exchange-Inbox-Rules-Loop
 *    (set on mail an inbox rule forwarded, often human mail) are not
 *    signals either.
 * Mail from a mailing list is list traffic even when a person wrote it
 * (List-Id on a reply in a list discussion): it is addressed to the
 * list, and the list, not the account, is expected to answer it.
 *
 * This file holds the decision, the rules read off a message's
 * structure and headers, and the text matching the other rules share.
 * The rules with long word lists have files of their own:
 * classify_oof.c (auto-reply and challenge subjects), classify_sender.c
 * (addresses and display names), classify_bounce.c (bounces without a
 * report) and classify_bulk.c (lists, bulk mail and trackers).
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "classify.h"
#include "classify_int.h"
#include "util.h"

/* The first token of a header value, lower-cased, in buf: "auto-replied"
 * from " Auto-Replied; owner-email=...". */
static const char *
header_token(const char *value, char *buf, size_t size)
{
	size_t n = 0;

	while (*value == ' ' || *value == '\t')
		value++;
	while (*value != '\0' && *value != ';' && *value != ' ' &&
	    *value != '\t' && *value != '(' && n + 1 < size)
		buf[n++] = g_ascii_tolower(*value++);
	buf[n] = '\0';
	return buf;
}

bool
classify_has_header(const struct mail *m, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (mail_header(m, names[i]) != NULL)
			return true;
	return false;
}

void
classify_fold(struct folded *f, const char *s, size_t max)
{
	char *cut;
	size_t len = strlen(s);

	if (len > max) {
		/* Back up to a character boundary before cutting. */
		while (len > max ||
		    (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80))
			len--;
	}
	cut = g_strndup(s, len);
	if (!g_utf8_validate(cut, -1, NULL)) {
		f->utf8 = g_ascii_strdown(cut, -1);
		f->ascii = g_ascii_strdown(cut, -1);
	} else {
		f->utf8 = g_utf8_casefold(cut, -1);
		f->ascii = g_str_to_ascii(f->utf8, "C");
		str_lower(f->ascii);
	}
	g_free(cut);
}

void
classify_fold_free(struct folded *f)
{
	g_free(f->utf8);
	g_free(f->ascii);
}

bool
classify_is_word_char(char c)
{
	return g_ascii_isalnum(c);
}

bool
classify_is_ascii_text(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* Whether phrase occurs in hay[0..len) as whole words. */
static bool
has_words(const char *hay, size_t len, const char *phrase)
{
	size_t n = strlen(phrase);
	const char *p = hay, *end = hay + len;

	while (p + n <= end && (p = g_strstr_len(p, end - p, phrase)) != NULL) {
		if ((p == hay || !classify_is_word_char(p[-1])) &&
		    (p + n == end || !classify_is_word_char(p[n])))
			return true;
		p++;
	}
	return false;
}

/* A phrase found in a folded text: ASCII phrases as whole words of the
 * transliterated text, the others as they are in the folded UTF-8. */
static bool
folded_has(const struct folded *f, const char *phrase)
{
	if (classify_is_ascii_text(phrase))
		return has_words(f->ascii, strlen(f->ascii), phrase);
	return strstr(f->utf8, phrase) != NULL;
}

bool
classify_folded_has_any(
    const struct folded *f, const char *const *phrases, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (folded_has(f, phrases[i]))
			return true;
	return false;
}

/* ---- Report structures -------------------------------------------- */

static bool
type_is(const char *type, const char *want)
{
	return type != NULL && g_ascii_strcasecmp(type, want) == 0;
}

static bool
has_part(const struct mail *m, const char *type)
{
	size_t i;

	if (type_is(m->content_type, type))
		return true;
	for (i = 0; i < m->n_attachments; i++)
		if (type_is(m->attachments[i].content_type, type))
			return true;
	return false;
}

/*
 * DMARC aggregate reports (RFC 7489 7.2.1.1) carry one XML file, often
 * compressed, named receiver!policy-domain!begin!end[!id].ext.
 */
static bool
dmarc_aggregate_name(const char *name)
{
	const char *p;
	int bangs = 0;

	if (name == NULL)
		return false;
	for (p = name; *p != '\0'; p++)
		if (*p == '!')
			bangs++;
	return bangs >= 3 &&
	    (strstr(name, ".xml") != NULL || strstr(name, ".zip") != NULL);
}

static const char *
report_structure(const struct mail *m)
{
	size_t i;

	if (has_part(m, "message/delivery-status") ||
	    has_part(m, "message/global-delivery-status"))
		return "bounce: message/delivery-status part";
	if (has_part(m, "message/disposition-notification") ||
	    has_part(m, "message/global-disposition-notification"))
		return "read-receipt: message/disposition-notification part";
	if (has_part(m, "message/feedback-report"))
		return "report: message/feedback-report part (ARF)";
	if (has_part(m, "application/tlsrpt+gzip") ||
	    has_part(m, "application/tlsrpt+json") ||
	    mail_header(m, "TLS-Report-Domain") != NULL)
		return "report: TLS-RPT report";
	for (i = 0; i < m->n_attachments; i++)
		if (dmarc_aggregate_name(m->attachments[i].filename))
			return "report: DMARC aggregate report attachment";
	if (type_is(m->content_type, "multipart/report"))
		return "bounce: multipart/report";
	return NULL;
}

/* ---- Autoresponder headers ---------------------------------------- */

/* RFC 3834: any value but "no" marks mail sent by a program. An empty
 * value says nothing, so it is not taken as a signal. */
static const char *
auto_submitted(const struct mail *m)
{
	const char *v = mail_header(m, "Auto-Submitted");
	char tok[32];

	if (v == NULL)
		return NULL;
	header_token(v, tok, sizeof(tok));
	if (tok[0] == '\0' || strcmp(tok, "no") == 0)
		return NULL;
	if (strcmp(tok, "auto-replied") == 0)
		return "auto-reply: Auto-Submitted: auto-replied";
	if (strcmp(tok, "auto-notified") == 0)
		return "notification: Auto-Submitted: auto-notified";
	return "notification: Auto-Submitted: auto-generated";
}

static const char *
vendor_autoreply(const struct mail *m)
{
	static const char *const names[] = {
	    "X-Autoreply",
	    "X-Autorespond",
	    "X-Autoresponse",
	    "X-Autoresponder",
	    "X-Auto-Reply",
	    "X-Auto-Response",
	    "X-AutoReply-From",
	    "X-Mail-Autoreply",
	    "X-Vacation",
	    "X-FC-MachineGenerated",
	};
	const char *v;

	if (classify_has_header(m, names, nitems(names)))
		return "auto-reply: X-Autoreply or kin header";
	if ((v = mail_header(m, "X-Autogenerated")) != NULL &&
	    g_ascii_strncasecmp(v, "reply", 5) == 0)
		return "auto-reply: X-Autogenerated: Reply";
	if ((v = mail_header(m, "X-POST-MessageClass")) != NULL &&
	    strstr(v, "utoresponder") != NULL)
		return "auto-reply: X-POST-MessageClass autoresponder";
	return NULL;
}

/* Precedence (RFC 2076, and its X- twin): bulk, junk, list and
 * auto_reply are set by programs only. */
static const char *
precedence(const struct mail *m)
{
	static const char *const hdrs[] = {"Precedence", "X-Precedence"};
	const char *v;
	char tok[32];
	size_t i;

	for (i = 0; i < nitems(hdrs); i++) {
		if ((v = mail_header(m, hdrs[i])) == NULL)
			continue;
		header_token(v, tok, sizeof(tok));
		if (strcmp(tok, "auto_reply") == 0 ||
		    strcmp(tok, "auto-reply") == 0)
			return "auto-reply: Precedence: auto_reply";
		if (strcmp(tok, "list") == 0)
			return "list: Precedence: list";
		if (strcmp(tok, "bulk") == 0 || strcmp(tok, "junk") == 0)
			return "bulk: Precedence: bulk";
	}
	return NULL;
}

/* ---- Calendars and system reports --------------------------------- */

/*
 * A calendar service's invitation carries its iCalendar object as an
 * alternative body (iMIP, RFC 6047), not as a named file a person
 * attached ("party.ics").
 */
static const char *
calendar(const struct mail *m)
{
	size_t i;
	const struct mail_attachment *a;

	if (type_is(m->content_type, "text/calendar"))
		return "calendar: iMIP text/calendar body";
	for (i = 0; i < m->n_attachments; i++) {
		a = &m->attachments[i];
		if (type_is(a->content_type, "text/calendar") &&
		    (a->filename == NULL ||
			!type_is(a->disposition, "attachment")))
			return "calendar: iMIP text/calendar body";
	}
	return NULL;
}

static const char *
system_report(const struct mail *m, const struct folded *subject)
{
	static const char *const reports[] = {
	    "cron <",
	    "logwatch for",
	    "anacron job",
	    "[nagios]",
	    "** problem",
	    "** recovery",
	    "security run output",
	    "daily run output",
	    "weekly run output",
	    "monthly run output",
	    "[fail2ban]",
	    "unattended-upgrades result",
	    "[reboot required]",
	    "*** security information for",
	    "smart error",
	    "degradedarray event",
	    "fail event on",
	    "rkhunter",
	    "apticron",
	};
	size_t i;

	if (mail_header(m, "X-Cron-Env") != NULL)
		return "notification: cron report (X-Cron-Env)";
	if (subject == NULL)
		return NULL;
	for (i = 0; i < nitems(reports); i++)
		if (strncmp(subject->ascii, reports[i], strlen(reports[i])) ==
		    0)
			return "notification: system report subject";
	return NULL;
}

const char *
classify_automated(const struct mail *m)
{
	struct folded subject, *s = NULL;
	const char *why;

	if (m == NULL)
		return NULL;
	if ((why = report_structure(m)) != NULL ||
	    (why = auto_submitted(m)) != NULL ||
	    (why = vendor_autoreply(m)) != NULL ||
	    (why = classify_list_headers(m)) != NULL ||
	    (why = precedence(m)) != NULL)
		return why;
	if (m->subject != NULL) {
		classify_fold(&subject, m->subject, 1024);
		s = &subject;
	}
	if ((why = classify_out_of_office(m, s)) == NULL &&
	    (why = classify_challenge(m, s)) == NULL &&
	    (why = classify_sender(m)) == NULL &&
	    (why = classify_bounce_text(m, s)) == NULL &&
	    (why = classify_bulk_headers(m)) == NULL &&
	    (why = classify_tracker_headers(m)) == NULL &&
	    (why = classify_bulk_body(m, s)) == NULL &&
	    (why = calendar(m)) == NULL)
		why = system_report(m, s);
	if (s != NULL)
		classify_fold_free(s);
	return why;
}
