/*
 * Automated mail detection: bounces that carry no report structure,
 * known by a bounce subject together with the body of a bounce (a
 * failure phrase with an address close behind it, or an SMTP status
 * code).
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include <glib.h>

#include "classify_int.h"
#include "util.h"
/* How much of a body the bounce rule reads: the report is at the top. */
#define BODY_SCAN 4096

/* ---- Bounces without a report structure ----------------------------- */

static const char *const bounce_subjects[] = {
    "undeliverable",
    "undelivered",
    "undeliverable mail",
    "delivery status notification",
    "delivery failure",
    "delivery failed",
    "delivery has failed",
    "delivery notification",
    "delivery problem",
    "delivery report",
    "delivery delayed",
    "delayed mail",
    "mail delivery failed",
    "mail delivery failure",
    "returned mail",
    "mail returned",
    "returned to sender",
    "failure notice",
    "non remis",
    "nondeliverable",
    "non-deliverable",
    "not delivered",
    "could not be delivered",
    "message not delivered",
    "mail system error",
    "warning: could not send",
    "unzustellbar",
    "nicht zustellbar",
    "nicht zugestellt",
    "zustellung fehlgeschlagen",
    "onbestelbaar",
    "niet bezorgd",
    "non recapitabile",
    "mancato recapito",
    "no se puede entregar",
    "no entregado",
    "non distribuable",
    "impossible de remettre",
    "echec de la remise",
    "non delivre",
    "nao e possivel entregar",
    "nao entregue",
    "olevererbart",
    "kan ikke leveres",
    "ikke leveret",
    "nie mozna dostarczyc",
    "niedostarczalne",
    "nedorucitelne",
    "nedorucitelna",
    "nedoruceno",
    "kezbesithetetlen",
    "toimittamaton",
    "ei voitu toimittaa",
    "teslim edilemedi",
    "iletilemedi",
    "nu a putut fi livrat",
    "недоставлен",
    "не доставлено",
    "невозможно доставить",
    "не может быть доставлено",
    "無法投遞",
    "无法投递",
    "退信",
    "配信不能",
    "配送不能",
    "配信エラー",
    "전달되지 않음",
    "배달 실패",
};

static const char *const bounce_bodies[] = {
    "could not be delivered",
    "couldn't be delivered",
    "could not deliver",
    "was not delivered",
    "wasn't delivered",
    "has not been delivered",
    "not yet been delivered",
    "delivery has failed",
    "delivery failed",
    "delivery to the following",
    "failed recipient",
    "permanent error",
    "permanent failure",
    "user unknown",
    "unknown user",
    "no such user",
    "mailbox unavailable",
    "mailbox not found",
    "mailbox is full",
    "recipient address rejected",
    "undeliverable",
    "unable to deliver",
    "requested action not taken",
    "remote host said",
    "smtp error",
    "delivery attempts will continue",
    "n'a pas pu etre",
    "konnte nicht zugestellt",
    "nicht zugestellt werden",
    "no pudo ser entregado",
    "no se pudo entregar",
    "non e stato possibile",
    "kon niet worden bezorgd",
    "nao pode ser entregue",
    "nie mogla zostac dostarczona",
    "не может быть доставлено",
    "не доставлено",
};

/* Whether s starts with what ends a status code: "550 ", "550-", "550]". */
static bool
code_ends(const char *s)
{
	return *s == '\0' || *s == ' ' || *s == '-' || *s == ']' || *s == '.' ||
	    *s == ',' || *s == '\n' || *s == '\r';
}

static bool
server_reply_rest(const char *s)
{
	const char *eol = strchr(s, '\n');
	size_t n = eol != NULL ? (size_t)(eol - s) : strlen(s);

	while (*s == ' ')
		s++;
	return ((*s == '2' || *s == '4' || *s == '5') && s[1] == '.') ||
	    memchr(s, '<', n) != NULL || memchr(s, '@', n) != NULL;
}

/*
 * An SMTP reply code where a mail server writes one (at the start of a
 * line, or after "said:", "code", "error", "smtp;"): "550 5.1.1 <x@y>",
 * "Remote host said: 550 unknown user", "[SMTP Error Code 550]"; or an
 * enhanced status code, "5.1.1". A person's "we need 450 chairs" is
 * neither.
 */
static bool
has_smtp_code(const char *text)
{
	static const char *const before[] = {
	    "said: ",
	    "said:",
	    "code ",
	    "error ",
	    "error: ",
	    "smtp; ",
	    "smtp;",
	};
	const char *s, *line;
	size_t i, n;
	bool led;

	for (s = text; *s != '\0'; s++) {
		if ((*s != '4' && *s != '5') ||
		    (s > text && g_ascii_isdigit(s[-1])))
			continue;
		if (s[1] == '.' && g_ascii_isdigit(s[2]) && s[3] == '.' &&
		    g_ascii_isdigit(s[4]) &&
		    code_ends(s + 5 + g_ascii_isdigit(s[5])))
			return true;
		if (!g_ascii_isdigit(s[1]) || !g_ascii_isdigit(s[2]) ||
		    !code_ends(s + 3))
			continue;
		for (line = s;
		     line > text && (line[-1] == ' ' || line[-1] == '\t');)
			line--;
		/* At the start of a line, a server's reply goes on as one:
		 * "550-5.7.26 ...", "550 5.1.1 ...", "550 <x@y> ...". */
		led = (line == text || line[-1] == '\n') &&
		    (s[3] == '-' || server_reply_rest(s + 3));
		for (i = 0; !led && i < nitems(before); i++) {
			n = strlen(before[i]);
			led = (size_t)(s - text) >= n &&
			    strncmp(s - n, before[i], n) == 0;
		}
		if (led)
			return true;
	}
	return false;
}

/* Whether a sentence ends in [p, end): a signature's address after
 * "... could not be delivered on Monday. Regards, Mo" is no bounce's. */
static bool
sentence_ends(const char *p, const char *end)
{
	for (; p + 1 < end; p++)
		if ((*p == '.' || *p == '!' || *p == '?') &&
		    (p[1] == ' ' || p[1] == '\n' || p[1] == '\r'))
			return true;
	return false;
}

/* Whether an address follows a bounce phrase closely: "could not be
 * delivered to the following recipients: ann@example.org". */
static bool
address_after_phrase(const char *text)
{
	const char *p, *at;
	size_t i;

	for (i = 0; i < nitems(bounce_bodies); i++) {
		if (!classify_is_ascii_text(bounce_bodies[i]))
			continue;
		for (p = strstr(text, bounce_bodies[i]); p != NULL;
		     p = strstr(p + 1, bounce_bodies[i])) {
			at = strchr(p, '@');
			if (at != NULL && at - p <= 100 &&
			    !sentence_ends(p, at))
				return true;
		}
	}
	return false;
}

/* The subject names a bounce: at its start (not as a reply), or as the
 * last part after a colon ("Your message ... : non remis"). */
static bool
bounce_subject(const struct folded *subject)
{
	const char *tail;
	struct folded t;
	bool found;

	if (!classify_reply_prefixed(subject->ascii) &&
	    classify_folded_has_any(
		subject, bounce_subjects, nitems(bounce_subjects)))
		return true;
	if ((tail = strrchr(subject->ascii, ':')) == NULL)
		return false;
	t.ascii = (char *)tail + 1;
	t.utf8 = (char *)"";
	found = classify_folded_has_any(
		    &t, bounce_subjects, nitems(bounce_subjects)) &&
	    strlen(tail + 1) < 40;
	return found;
}

const char *
classify_bounce_text(const struct mail *m, const struct folded *subject)
{
	const char *body = m->text != NULL ? m->text : m->html;
	struct folded b;
	bool found;

	if (subject == NULL || body == NULL || !bounce_subject(subject))
		return NULL;
	classify_fold(&b, body, BODY_SCAN);
	found =
	    classify_folded_has_any(&b, bounce_bodies, nitems(bounce_bodies)) &&
	    (has_smtp_code(b.ascii) || address_after_phrase(b.ascii));
	classify_fold_free(&b);
	return found ? "bounce: bounce subject and body" : NULL;
}
