/*
 * Automated mail detection: mailing lists and bulk mail, by their
 * headers (RFC 2369/2919, the mass mailers' own), by the marks of an
 * email service provider, by an unsubscribe link in the body, and the
 * notifications of issue trackers and build servers.
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include <glib.h>

#include "classify_int.h"
#include "util.h"
/* How close after "unsubscribe" its link must start. */
#define LINK_NEAR 32

/* ---- Lists and bulk mail ------------------------------------------ */

const char *
classify_list_headers(const struct mail *m)
{
	static const char *const list[] = {
	    "List-Id",
	    "List-Post",
	    "List-Help",
	    "List-Subscribe",
	    "List-Owner",
	    "Mailing-List",
	    "X-Mailing-List",
	    "X-ML-Name",
	    "X-MLServer",
	    "X-List-Administrivia",
	};

	if (classify_has_header(m, list, nitems(list)))
		return "list: mailing list header (List-Id and kin)";
	if (mail_header(m, "List-Unsubscribe") != NULL)
		return "bulk: List-Unsubscribe";
	return NULL;
}

/*
 * Headers that bulk-mail software puts on campaigns. Transport headers
 * of mail service providers (X-SG-EID, X-SES-Outgoing, X-Mailgun-*)
 * are not among them: people's mail goes through those services too.
 */
const char *
classify_bulk_headers(const struct mail *m)
{
	static const char *const names[] = {
	    "X-Campaign",
	    "X-Campaign-Id",
	    "X-CampaignID",
	    "X-Mailchimp-Campaign",
	    "X-MC-User",
	    "X-CSA-Complaints",
	    "X-Newsletter",
	    "X-Newsletter-Id",
	    "X-rpcampaign",
	    "X-Listmember",
	    "X-Mailer-RecptId",
	    "X-EMV-CampagneId",
	    "X-MarketoID",
	    "X-Mailjet-Campaign",
	    "X-Sendinblue-Campaign",
	    "List-Unsubscribe-Post",
	};
	static const char *const mailers[] = {
	    "mailchimp",
	    "phplist",
	    "sendinblue",
	    "brevo",
	    "mailerlite",
	    "mailjet",
	    "campaign monitor",
	    "constant contact",
	    "getresponse",
	    "sendpulse",
	    "klaviyo",
	    "acumbamail",
	    "newsletter",
	    "mass mailer",
	    "bulk mailer",
	};
	const char *v;
	struct folded f;
	bool found;

	if (classify_has_header(m, names, nitems(names)))
		return "bulk: campaign header";
	if ((v = mail_header(m, "X-Mailer")) == NULL)
		return NULL;
	classify_fold(&f, v, 256);
	found = classify_folded_has_any(&f, mailers, nitems(mailers));
	classify_fold_free(&f);
	return found ? "bulk: bulk mailer (X-Mailer)" : NULL;
}

/* The registered part of a domain, roughly: its last two labels. */
static const char *
organisation(const char *domain)
{
	const char *p = domain + strlen(domain);
	int dots = 0;

	while (p > domain) {
		if (p[-1] == '.' && ++dots == 2)
			break;
		p--;
	}
	return p;
}

static bool
same_organisation(const char *domain, const char *from)
{
	const char *at;
	size_t n;

	if (from == NULL || (at = strrchr(from, '@')) == NULL)
		return true;
	n = strcspn(domain, "> \t");
	domain = g_strndup(domain, n);
	n = g_ascii_strcasecmp(organisation(domain), organisation(at + 1));
	g_free((char *)domain);
	return n == 0;
}

/*
 * Mail a service provider carried for a bulk sender: its feedback and
 * bounce-handling marks (Feedback-ID, a VERP bounce address, bounces
 * handled by another organisation). People use these services too, so
 * the mark counts only together with an unsubscribe link in a message
 * that answers nothing.
 */
static bool
esp_marked(const struct mail *m)
{
	static const char *const names[] = {
	    "Feedback-ID",
	    "X-SG-EID",
	    "X-SES-Outgoing",
	    "X-Mailgun-Sid",
	    "X-PM-Message-Id",
	    "X-MSFBL",
	    "X-SMTPAPI",
	    "X-Report-Abuse",
	    "X-Complaints-To",
	    "Errors-To",
	};
	const char *rp = mail_header(m, "Return-Path");
	const char *at, *why = NULL;

	if (classify_has_header(m, names, nitems(names)))
		return true;
	if (rp == NULL || (at = strchr(rp, '@')) == NULL)
		return false;
	while (*rp == ' ' || *rp == '<')
		rp++;
	/* A forwarder's rewritten address (SRS) says nothing. */
	if (g_ascii_strncasecmp(rp, "srs0", 4) == 0 ||
	    g_ascii_strncasecmp(rp, "srs1", 4) == 0)
		return false;
	if (rp < at)
		why = classify_local_part_reason(rp, (size_t)(at - rp));
	if (why != NULL && strncmp(why, "bounce", 6) == 0)
		return true;
	/* A bounce domain ("...@bounce.example.com"), or bounces handled
	 * by another organisation than the sender's. */
	return g_ascii_strncasecmp(at + 1, "bounce.", 7) == 0 ||
	    g_ascii_strncasecmp(at + 1, "bounces.", 8) == 0 ||
	    !same_organisation(at + 1, m->from_email);
}

/* Whether p, in an HTML text starting at hay, is inside an anchor. */
static bool
in_anchor(const char *hay, const char *p)
{
	const char *q;

	for (q = p; q > hay && p - q < 4096; q--) {
		if (q[-1] != '<')
			continue;
		if (q[0] == '/' && q[1] == 'a' && !g_ascii_isalnum(q[2]))
			return false;
		if (q[0] == 'a' && !g_ascii_isalnum(q[1]))
			return true;
	}
	return false;
}

/* Whether the line of p, in a plain text starting at hay, has a URL. */
static bool
on_url_line(const char *hay, const char *p)
{
	const char *start = p, *end, *url;

	while (start > hay && start[-1] != '\n')
		start--;
	end = strchr(p, '\n');
	url = strstr(start, "http");
	return url != NULL && (end == NULL || url < end);
}

/* Whether a link starts just after p ("unsubscribe <a href=...>"). */
static bool
link_follows(const char *p)
{
	const char *url = strstr(p, "http"), *a = strstr(p, "<a");

	return (url != NULL && url - p <= LINK_NEAR) ||
	    (a != NULL && a - p <= LINK_NEAR);
}

/*
 * Whether a phrase of the folded body stands in a link: inside an HTML
 * anchor, on a line with a URL in plain text, or just before a link
 * ("To unsubscribe, click here <http://...>"). A person who writes
 * "please unsubscribe me" writes no link around it.
 */
static bool
phrase_in_link(const char *hay, const char *phrase, bool html)
{
	const char *p = hay;
	size_t n = strlen(phrase);

	while ((p = strstr(p, phrase)) != NULL) {
		if (html ? in_anchor(hay, p) : on_url_line(hay, p))
			return true;
		if (link_follows(p + n))
			return true;
		p += n;
	}
	return false;
}

const char *
classify_bulk_body(const struct mail *m, const struct folded *subject)
{
	static const char *const unsubscribe[] = {
	    "unsubscribe",
	    "opt out",
	    "opt-out",
	    "abmelden",
	    "abbestellen",
	    "desinscrire",
	    "desinscription",
	    "desabonner",
	    "darse de baja",
	    "cancelar suscripcion",
	    "disiscriviti",
	    "annulla l'iscrizione",
	    "cancelar inscricao",
	    "descadastrar",
	    "afmelden",
	    "uitschrijven",
	    "avregistrera",
	    "avsluta prenumeration",
	    "afmeld",
	    "wypisz",
	    "odhlasit",
	    "отписаться",
	    "退订",
	    "取消订阅",
	    "配信停止",
	    "수신거부",
	};
	const char *body = m->html != NULL ? m->html : m->text;
	struct folded b;
	bool found;

	if (body == NULL || m->in_reply_to != NULL || m->n_references > 0 ||
	    (subject != NULL && classify_reply_prefixed(subject->ascii)) ||
	    !esp_marked(m))
		return NULL;
	classify_fold(&b, body, 256 * 1024);
	found = false;
	for (size_t i = 0; !found && i < nitems(unsubscribe); i++)
		found = phrase_in_link(
		    classify_is_ascii_text(unsubscribe[i]) ? b.ascii : b.utf8,
		    unsubscribe[i], body == m->html);
	classify_fold_free(&b);
	return found
	    ? "bulk: unsubscribe link, sent through a bulk mail service"
	    : NULL;
}

/* Issue trackers, build servers and code hosts sign their
 * notifications with headers of their own. */
const char *
classify_tracker_headers(const struct mail *m)
{
	static const char *const names[] = {
	    "X-Redmine-Project",
	    "X-Redmine-Host",
	    "X-Trac-Project",
	    "X-Bugzilla-Reason",
	    "X-Bugzilla-Type",
	    "X-JIRA-FingerPrint",
	    "X-GitLab-Project",
	    "X-GitHub-Reason",
	    "X-Jenkins-Job",
	    "X-Phabricator-Sent-This-Message",
	    "X-Launchpad-Notification-Type",
	    "X-Gerrit-MessageType",
	    "X-Mantis",
	};

	if (classify_has_header(m, names, nitems(names)))
		return "notification: issue tracker or build server header";
	return NULL;
}
