/*
 * Automated mail detection (SPEC 4).
 *
 * Signals are checked in the order the reasons are listed in classify.h
 * and the first one found names the reason. Each rule errs towards
 * "human": a human message taken for an automated one would never show
 * up as needing a reply, which is worse than an auto-reply that does.
 * For that reason two headers are deliberately not signals:
 * X-Auto-Response-Suppress (senders put it on ordinary mail to ask that
 * nobody auto-replies to it) and X-MS-Exchange-Inbox-Rules-Loop (set on
 * mail an inbox rule forwarded, which is often human mail).
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include <glib.h>

#include "classify.h"
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

/* RFC 3834: any value but "no" marks mail sent by a program. An empty
 * value says nothing, so it is not taken as a signal. */
static bool
auto_submitted(const struct mail *m)
{
	const char *v = mail_header(m, "Auto-Submitted");
	char tok[32];

	if (v == NULL)
		return false;
	header_token(v, tok, sizeof(tok));
	return tok[0] != '\0' && strcmp(tok, "no") != 0;
}

static bool
precedence_bulk(const struct mail *m)
{
	static const char *const kinds[] = {
	    "bulk",
	    "junk",
	    "list",
	    "auto_reply",
	    "auto-reply",
	};
	const char *v = mail_header(m, "Precedence");
	char tok[32];
	size_t i;

	if (v == NULL)
		return false;
	header_token(v, tok, sizeof(tok));
	for (i = 0; i < nitems(kinds); i++)
		if (strcmp(tok, kinds[i]) == 0)
			return true;
	return false;
}

static bool
is_report_type(const char *type)
{
	return type != NULL &&
	    (g_ascii_strcasecmp(type, "multipart/report") == 0 ||
		g_ascii_strcasecmp(type, "message/delivery-status") == 0 ||
		g_ascii_strcasecmp(type, "message/global-delivery-status") ==
		    0);
}

/* Bounces and receipts are multipart/report (RFC 6522); a delivery
 * status part may also show up among the attachments. */
static bool
delivery_report(const struct mail *m)
{
	size_t i;

	if (is_report_type(m->content_type))
		return true;
	for (i = 0; i < m->n_attachments; i++)
		if (is_report_type(m->attachments[i].content_type))
			return true;
	return false;
}

/*
 * Senders no human writes from: the local part is one of these names,
 * alone or followed by a separator ("noreply+bounces", "no-reply-aws").
 */
static bool
system_sender(const struct mail *m)
{
	static const char *const names[] = {
	    "mailer-daemon",
	    "postmaster",
	    "no-reply",
	    "noreply",
	    "do-not-reply",
	    "donotreply",
	    "no_reply",
	    "do_not_reply",
	};
	const char *at, *local = m->from_email;
	size_t i, n, len;

	if (local == NULL || (at = strrchr(local, '@')) == NULL)
		return false;
	len = (size_t)(at - local);
	for (i = 0; i < nitems(names); i++) {
		n = strlen(names[i]);
		if (len < n || g_ascii_strncasecmp(local, names[i], n) != 0)
			continue;
		if (len == n || strchr("+-._", local[n]) != NULL)
			return true;
	}
	return false;
}

/*
 * Out-of-office replies name themselves at the start of the subject
 * ("Automatic reply: Quote", "[Auto-Reply] Quote", "Out of Office") or,
 * with some servers, in parentheses at its end ("Quote (Out of office)").
 * A phrase elsewhere in the subject is ignored: "Re: our out of office
 * policy" is a human writing.
 */
static const char *const oof_phrases[] = {
    "out of office autoreply",
    "out of office",
    "out-of-office",
    "automatic reply",
    "auto-reply",
    "autoreply",
    "auto reply",
    "auto-response",
    "autoresponse",
    "abwesenheitsnotiz",
    "automatische antwort",
    "absence",
    "réponse automatique",
    "respuesta automática",
    "fuera de la oficina",
    "risposta automatica",
};

/* Whether s starts with phrase and the phrase ends there: at the end of
 * the subject, before a colon, or before close when it is not 0. */
static bool
oof_prefix(const char *s, const char *phrase, char close)
{
	size_t n = strlen(phrase);

	if (strncmp(s, phrase, n) != 0)
		return false;
	s += n;
	while (*s == ' ' || *s == '\t')
		s++;
	if (close != '\0')
		return *s == close;
	return *s == '\0' || *s == ':';
}

static bool
oof_subject_match(const char *s)
{
	const char *open;
	size_t i, len;

	while (*s == ' ' || *s == '\t')
		s++;
	for (i = 0; i < nitems(oof_phrases); i++) {
		if (oof_prefix(s, oof_phrases[i], '\0') ||
		    (*s == '[' && oof_prefix(s + 1, oof_phrases[i], ']')))
			return true;
	}
	len = strlen(s);
	if (len == 0 || s[len - 1] != ')' || (open = strrchr(s, '(')) == NULL)
		return false;
	for (i = 0; i < nitems(oof_phrases); i++)
		if (oof_prefix(open + 1, oof_phrases[i], ')'))
			return true;
	return false;
}

static bool
out_of_office(const struct mail *m)
{
	char *folded;
	bool found;

	if (m->subject == NULL)
		return false;
	/* Subjects are UTF-8 by contract; fold ASCII only if one is not. */
	if (!g_utf8_validate(m->subject, -1, NULL))
		folded = g_ascii_strdown(m->subject, -1);
	else
		folded = g_utf8_casefold(m->subject, -1);
	found = oof_subject_match(folded);
	g_free(folded);
	return found;
}

const char *
classify_automated(const struct mail *m)
{
	if (m == NULL)
		return NULL;
	if (auto_submitted(m))
		return "auto-submitted";
	if (mail_header(m, "X-Autoreply") != NULL)
		return "x-autoreply";
	if (mail_header(m, "X-Autorespond") != NULL ||
	    mail_header(m, "X-Autoresponse") != NULL)
		return "x-autorespond";
	if (precedence_bulk(m))
		return "precedence";
	if (mail_header(m, "List-Id") != NULL ||
	    mail_header(m, "List-Unsubscribe") != NULL)
		return "list-id";
	if (delivery_report(m))
		return "delivery-report";
	if (system_sender(m))
		return "system-sender";
	if (out_of_office(m))
		return "out-of-office";
	return NULL;
}
