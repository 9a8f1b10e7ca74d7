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
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "classify.h"
#include "util.h"

/* How much of a body the bounce rule reads: the report is at the top. */
#define BODY_SCAN 4096
/* How close after "unsubscribe" its link must start. */
#define LINK_NEAR 32

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

static bool
has_header(const struct mail *m, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (mail_header(m, names[i]) != NULL)
			return true;
	return false;
}

/*
 * Folded forms of a text for matching: utf8 is case-folded UTF-8 (for
 * phrases in non-Latin scripts), ascii the same transliterated to
 * lower-case ASCII ("Réponse" -> "reponse", "Ārpus" -> "arpus").
 */
struct folded {
	char *utf8;
	char *ascii;
};

static void
fold(struct folded *f, const char *s, size_t max)
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

static void
fold_free(struct folded *f)
{
	g_free(f->utf8);
	g_free(f->ascii);
}

static bool
is_word_char(char c)
{
	return g_ascii_isalnum(c);
}

static bool
is_ascii_text(const char *s)
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
		if ((p == hay || !is_word_char(p[-1])) &&
		    (p + n == end || !is_word_char(p[n])))
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
	if (is_ascii_text(phrase))
		return has_words(f->ascii, strlen(f->ascii), phrase);
	return strstr(f->utf8, phrase) != NULL;
}

static bool
folded_has_any(const struct folded *f, const char *const *phrases, size_t n)
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

	if (has_header(m, names, nitems(names)))
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

/* ---- Subjects ----------------------------------------------------- */

/*
 * Whether a subject is a reply or forward: "Re:", "AW:", "Fwd:",
 * "RE[2]:", in the languages mail clients speak. A person's reply to an
 * auto-reply carries the auto-reply's subject behind this.
 */
static bool
reply_prefixed(const char *ascii)
{
	static const char *const marks[] = {
	    "re",
	    "aw",
	    "sv",
	    "vs",
	    "fw",
	    "fwd",
	    "wg",
	    "tr",
	    "rv",
	    "res",
	    "enc",
	    "antw",
	    "odp",
	    "vl",
	    "r",
	    "rif",
	    "i",
	    "doorst",
	    "ynt",
	};
	size_t i, n;
	const char *p;

	while (*ascii == ' ' || *ascii == '\t' || *ascii == '[')
		ascii++;
	for (i = 0; i < nitems(marks); i++) {
		n = strlen(marks[i]);
		if (strncmp(ascii, marks[i], n) != 0)
			continue;
		p = ascii + n;
		if (*p == '[' || *p == '(') /* "RE[2]:" */
			while (*p != '\0' && *p != ']' && *p != ')')
				p++;
		if (*p == ']' || *p == ')')
			p++;
		while (*p == ' ')
			p++;
		if (*p == ':')
			return true;
	}
	return false;
}

/*
 * Out-of-office and autoresponder subject phrases. Exchange and its
 * kin write "<phrase>: <original subject>", others "[<phrase>] ...",
 * "<original> (<phrase>)" or the phrase alone. Latin-script phrases are
 * written transliterated and lower-case, the others case-folded.
 * A phrase must be the whole lead ("Absence: devis"), except that one
 * saying "automatic" may end a longer one (Latvian Exchange: "Ārpus
 * biroja atrašanās automātiskā atbilde: ...").
 */
static const char *const oof_phrases[] = {
    /* English */
    "out of office",
    "out-of-office",
    "out of the office",
    "out of office autoreply",
    "out of office reply",
    "automatic reply",
    "automatic response",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto response",
    "auto-response",
    "autoresponse",
    "vacation reply",
    /* German */
    "abwesenheitsnotiz",
    "automatische antwort",
    "abwesenheit",
    "automatische abwesenheitsnotiz",
    /* French */
    "reponse automatique",
    "absence",
    "absent du bureau",
    "message d'absence",
    "reponse d'absence",
    /* Spanish */
    "respuesta automatica",
    "fuera de la oficina",
    "fuera de oficina",
    "respuesta de ausencia",
    /* Italian */
    "risposta automatica",
    "fuori ufficio",
    "fuori sede",
    /* Portuguese */
    "resposta automatica",
    "ausencia",
    "fora do escritorio",
    "ausente do escritorio",
    /* Dutch */
    "automatisch antwoord",
    "afwezigheid",
    "automatisch bericht",
    "niet aanwezig",
    /* Swedish, Danish, Norwegian */
    "autosvar",
    "automatiskt svar",
    "automatisk svar",
    "franvaro",
    "fravaer",
    "ikke pa kontoret",
    "ikke til stede",
    /* Finnish, Estonian */
    "automaattinen vastaus",
    "poissa toimistolta",
    "automaatvastus",
    "automaatne vastus",
    /* Polish, Czech, Slovak */
    "automatyczna odpowiedz",
    "poza biurem",
    "nieobecnosc",
    "automaticka odpoved",
    "mimo kancelar",
    "nepritomnost",
    "mimo kancelarie",
    /* Hungarian, Romanian, Turkish */
    "automatikus valasz",
    "hazon kivul",
    "irodan kivul",
    "raspuns automat",
    "absent de la birou",
    "otomatik yanit",
    "otomatik yanıt",
    "otomatik cevap",
    "ofis disinda",
    /* Latvian, Lithuanian, Slovenian, Croatian, Serbian, Bosnian */
    "automatiska atbilde",
    "arpus biroja",
    "automatinis atsakymas",
    "ne biure",
    "samodejni odgovor",
    "odsotnost",
    "automatski odgovor",
    "odsutnost",
    /* Indonesian, Malay, Vietnamese */
    "balasan otomatis",
    "di luar kantor",
    "balasan automatik",
    "tra loi tu dong",
    /* Russian, Ukrainian, Bulgarian */
    "автоматический ответ",
    "автоответ",
    "вне офиса",
    "нет на месте",
    "автоматична відповідь",
    "автовідповідь",
    "автоматичен отговор",
    /* Greek */
    "αυτόματη απάντηση",
    "εκτός γραφείου",
    /* Hebrew, Arabic, Persian */
    "תשובה אוטומטית",
    "מחוץ למשרד",
    "رد تلقائي",
    "خارج المكتب",
    "پاسخ خودکار",
    /* Chinese, Japanese, Korean, Thai */
    "自动回复",
    "自動回覆",
    "自動回复",
    "自动答复",
    "不在办公室",
    "自動応答",
    "自動返信",
    "不在通知",
    "外出中",
    "자동 응답",
    "자동응답",
    "자동 회신",
    "부재중",
    "ตอบกลับอัตโนมัติ",
};

static bool
closes_lead(const char *phrase)
{
	if (!is_ascii_text(phrase))
		return true;
	return strchr(phrase, ' ') != NULL &&
	    (strstr(phrase, "auto") != NULL ||
		strstr(phrase, "otomat") != NULL ||
		strstr(phrase, "samodejni") != NULL ||
		strstr(phrase, "tu dong") != NULL);
}

/* Whether a lead (the subject text before its first colon, or inside
 * its leading brackets, or its trailing parentheses) is an OOF phrase. */
static bool
oof_lead(const char *lead, size_t len)
{
	size_t i, n;
	const char *phrase;

	while (len > 0 && (lead[len - 1] == ' ' || lead[len - 1] == '\t'))
		len--;
	while (len > 0 && (*lead == ' ' || *lead == '\t')) {
		lead++;
		len--;
	}
	for (i = 0; i < nitems(oof_phrases); i++) {
		phrase = oof_phrases[i];
		n = strlen(phrase);
		if (n > len)
			continue;
		if (n == len && memcmp(lead, phrase, n) == 0)
			return true;
		/* A phrase that says "automatic" may close a longer lead;
		 * "Team out of office: rota" is a person's. */
		if (n < len && closes_lead(phrase) &&
		    memcmp(lead + len - n, phrase, n) == 0 &&
		    (!is_ascii_text(phrase) ||
			!is_word_char(lead[len - n - 1])))
			return true;
	}
	return false;
}

/* The colon that ends a subject's lead: ASCII or full-width. */
static const char *
lead_end(const char *s)
{
	const char *colon = strchr(s, ':');
	const char *wide = strstr(s, "\xef\xbc\x9a"); /* U+FF1A */

	if (wide != NULL && (colon == NULL || wide < colon))
		return wide;
	return colon;
}

static bool
oof_subject_in(const char *s)
{
	const char *end, *open;
	size_t len;

	while (*s == ' ' || *s == '\t')
		s++;
	if ((end = lead_end(s)) != NULL && oof_lead(s, (size_t)(end - s)))
		return true;
	if (*s == '[' && (end = strchr(s, ']')) != NULL) {
		if (oof_lead(s + 1, (size_t)(end - s - 1)))
			return true;
		/* A ticket system's tag before the lead: "[#33575] AutoReply:" */
		s = end + 1;
		while (*s == ' ' || *s == '\t')
			s++;
		if ((end = lead_end(s)) != NULL &&
		    oof_lead(s, (size_t)(end - s)))
			return true;
	}
	len = strlen(s);
	if (len > 0 && oof_lead(s, len))
		return true;
	if (len > 0 && s[len - 1] == ')' && (open = strrchr(s, '(')) != NULL &&
	    oof_lead(open + 1, (size_t)(s + len - 1 - open - 1)))
		return true;
	return false;
}

static const char *
out_of_office(const struct mail *m, const struct folded *subject)
{
	(void)m;
	if (subject == NULL || reply_prefixed(subject->ascii))
		return NULL;
	if (oof_subject_in(subject->ascii) || oof_subject_in(subject->utf8))
		return "auto-reply: out-of-office subject";
	return NULL;
}

/*
 * Challenge-response systems hold mail until the sender proves to be a
 * person; their requests say so at the start of the subject.
 */
static const char *
challenge(const struct mail *m, const struct folded *subject)
{
	static const char *const phrases[] = {
	    "please confirm your message",
	    "please confirm your e-mail",
	    "please confirm your email",
	    "confirm your message",
	    "your message is awaiting verification",
	    "verify your email to deliver",
	    "sender verification",
	    "challenge-response",
	    "spam protection confirmation",
	};
	size_t i;

	if (mail_header(m, "X-Challenge") != NULL ||
	    mail_header(m, "X-Boxbe-Pin") != NULL)
		return "challenge: challenge-response header";
	if (subject == NULL || reply_prefixed(subject->ascii))
		return NULL;
	for (i = 0; i < nitems(phrases); i++)
		if (strncmp(subject->ascii, phrases[i], strlen(phrases[i])) ==
		    0)
			return "challenge: challenge-response subject";
	return NULL;
}

/* ---- Senders ------------------------------------------------------ */

/*
 * Names no person writes from, compact (separators dropped). A local
 * part matches when a run of its words ("no", "reply" in "no.reply";
 * "ebay", "noreply" in "ebay-noreply") spells one of them; "noreplying"
 * is one word and does not.
 */
static const struct {
	const char *name;
	const char *reason;
} sender_names[] = {
    {"mailerdaemon", "bounce: MAILER-DAEMON sender"},
    {"postmaster", "bounce: postmaster sender"},
    {"noreply", "notification: no-reply sender"},
    {"donotreply", "notification: no-reply sender"},
    {"dontreply", "notification: no-reply sender"},
    {"noreplies", "notification: no-reply sender"},
    {"noanswer", "notification: no-reply sender"},
    {"noresponse", "notification: no-reply sender"},
    {"donotrespond", "notification: no-reply sender"},
    {"nepasrepondre", "notification: no-reply sender"},
    {"noresponder", "notification: no-reply sender"},
    {"naoresponda", "notification: no-reply sender"},
    {"nonrispondere", "notification: no-reply sender"},
    {"nichtantworten", "notification: no-reply sender"},
    {"keineantwort", "notification: no-reply sender"},
    {"nietbeantwoorden", "notification: no-reply sender"},
    {"notification", "notification: notification sender"},
    {"notifications", "notification: notification sender"},
    {"notify", "notification: notification sender"},
    {"notifier", "notification: notification sender"},
    {"alert", "notification: alert sender"},
    {"alerts", "notification: alert sender"},
    {"automailer", "notification: mailer sender"},
    {"autoconfirm", "notification: auto-confirm sender"},
    {"autoresponder", "auto-reply: autoresponder sender"},
    {"autoreply", "auto-reply: autoresponder sender"},
    {"newsletter", "bulk: newsletter sender"},
    {"newsletters", "bulk: newsletter sender"},
    {"receipt", "notification: receipt sender"},
    {"receipts", "notification: receipt sender"},
    {"bounce", "bounce: bounce address sender"},
    {"bounces", "bounce: bounce address sender"},
};

/*
 * System accounts and the default senders of monitoring, build and
 * publishing software. Some are also surnames ("Sarah Jenkins",
 * "Norman Mailer"), so these count only as the whole local part, before
 * any "+tag".
 */
static const char *const system_accounts[] = {
    "daemon",
    "cron",
    "mailer",
    "www-data",
    "nagios",
    "icinga",
    "zabbix",
    "jenkins",
    "wordpress",
};

static bool
is_sep(char c)
{
	return c == '.' || c == '-' || c == '_' || c == '+' || c == '=';
}

/* The reason for a local part local[0..len), or NULL. */
static const char *
local_part_reason(const char *local, size_t len)
{
	char compact[128];
	size_t starts[64], n_starts = 0, n = 0, i, j, k, w;

	/* compact holds the letters and digits; starts where words begin. */
	for (i = 0; i < len && n + 1 < sizeof(compact); i++) {
		if (is_sep(local[i]))
			continue;
		if ((i == 0 || is_sep(local[i - 1])) &&
		    n_starts < nitems(starts))
			starts[n_starts++] = n;
		compact[n++] = g_ascii_tolower(local[i]);
	}
	compact[n] = '\0';
	for (i = 0; i < n_starts; i++) {
		for (k = 0; k < nitems(sender_names); k++) {
			w = strlen(sender_names[k].name);
			if (starts[i] + w > n ||
			    memcmp(compact + starts[i], sender_names[k].name,
				w) != 0)
				continue;
			/* The run must end where a word ends. */
			if (starts[i] + w == n)
				return sender_names[k].reason;
			for (j = i + 1; j < n_starts; j++)
				if (starts[j] == starts[i] + w)
					return sender_names[k].reason;
		}
	}
	return NULL;
}

static bool
system_account(const char *local, size_t len)
{
	const char *plus = memchr(local, '+', len);
	size_t i;

	if (plus != NULL)
		len = (size_t)(plus - local);
	for (i = 0; i < nitems(system_accounts); i++)
		if (strlen(system_accounts[i]) == len &&
		    g_ascii_strncasecmp(local, system_accounts[i], len) == 0)
			return true;
	return false;
}

static const char *
address_reason(const char *addr)
{
	const char *at;

	if (addr == NULL || (at = strrchr(addr, '@')) == NULL)
		return NULL;
	if (system_account(addr, (size_t)(at - addr)))
		return "notification: system account sender";
	/* Fax and SMS gateways write numbers in marked-up local parts
	 * ("#FAX#*49..."); a person's address has no '#'. */
	if (memchr(addr, '#', (size_t)(at - addr)) != NULL)
		return "notification: gateway sender";
	return local_part_reason(addr, (size_t)(at - addr));
}

/* The display names mail servers sign their reports with. */
static const char *
display_name_reason(const char *name)
{
	static const char *const bounce_names[] = {
	    "mailer-daemon",
	    "mailer daemon",
	    "mail delivery system",
	    "mail delivery subsystem",
	    "mail delivery service",
	    "postmaster",
	};
	static const char *const noreply_names[] = {
	    "no-reply",
	    "noreply",
	    "no reply",
	    "do not reply",
	    "do-not-reply",
	    "donotreply",
	};
	struct folded f;
	const char *why = NULL;

	if (name == NULL)
		return NULL;
	fold(&f, name, 256);
	if (folded_has_any(&f, bounce_names, nitems(bounce_names)))
		why = "bounce: mail system display name";
	else if (folded_has_any(&f, noreply_names, nitems(noreply_names)))
		why = "notification: no-reply display name";
	fold_free(&f);
	return why;
}

/* The raw address in From: or Return-Path: is "<>", the null sender. */
static bool
null_address(const char *v)
{
	const char *open;

	if (v == NULL || (open = strchr(v, '<')) == NULL)
		return false;
	open++;
	while (*open == ' ')
		open++;
	return *open == '>';
}

static const char *
sender(const struct mail *m)
{
	const char *why;

	if (null_address(mail_header(m, "Return-Path")))
		return "bounce: null sender (Return-Path: <>)";
	if (m->from_email == NULL && null_address(mail_header(m, "From")))
		return "bounce: null sender (From: <>)";
	if ((why = address_reason(m->from_email)) != NULL)
		return why;
	if ((why = display_name_reason(m->from_name)) != NULL)
		return why;
	return NULL;
}

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
		if (!is_ascii_text(bounce_bodies[i]))
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

	if (!reply_prefixed(subject->ascii) &&
	    folded_has_any(subject, bounce_subjects, nitems(bounce_subjects)))
		return true;
	if ((tail = strrchr(subject->ascii, ':')) == NULL)
		return false;
	t.ascii = (char *)tail + 1;
	t.utf8 = (char *)"";
	found = folded_has_any(&t, bounce_subjects, nitems(bounce_subjects)) &&
	    strlen(tail + 1) < 40;
	return found;
}

static const char *
bounce_text(const struct mail *m, const struct folded *subject)
{
	const char *body = m->text != NULL ? m->text : m->html;
	struct folded b;
	bool found;

	if (subject == NULL || body == NULL || !bounce_subject(subject))
		return NULL;
	fold(&b, body, BODY_SCAN);
	found = folded_has_any(&b, bounce_bodies, nitems(bounce_bodies)) &&
	    (has_smtp_code(b.ascii) || address_after_phrase(b.ascii));
	fold_free(&b);
	return found ? "bounce: bounce subject and body" : NULL;
}

/* ---- Lists and bulk mail ------------------------------------------ */

static const char *
list_headers(const struct mail *m)
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

	if (has_header(m, list, nitems(list)))
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
static const char *
bulk_headers(const struct mail *m)
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

	if (has_header(m, names, nitems(names)))
		return "bulk: campaign header";
	if ((v = mail_header(m, "X-Mailer")) == NULL)
		return NULL;
	fold(&f, v, 256);
	found = folded_has_any(&f, mailers, nitems(mailers));
	fold_free(&f);
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

	if (has_header(m, names, nitems(names)))
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
		why = local_part_reason(rp, (size_t)(at - rp));
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

static const char *
bulk_body(const struct mail *m, const struct folded *subject)
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
	    (subject != NULL && reply_prefixed(subject->ascii)) ||
	    !esp_marked(m))
		return NULL;
	fold(&b, body, 256 * 1024);
	found = false;
	for (size_t i = 0; !found && i < nitems(unsubscribe); i++)
		found = phrase_in_link(
		    is_ascii_text(unsubscribe[i]) ? b.ascii : b.utf8,
		    unsubscribe[i], body == m->html);
	fold_free(&b);
	return found
	    ? "bulk: unsubscribe link, sent through a bulk mail service"
	    : NULL;
}

/* Issue trackers, build servers and code hosts sign their
 * notifications with headers of their own. */
static const char *
tracker_headers(const struct mail *m)
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

	if (has_header(m, names, nitems(names)))
		return "notification: issue tracker or build server header";
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
	    (why = list_headers(m)) != NULL || (why = precedence(m)) != NULL)
		return why;
	if (m->subject != NULL) {
		fold(&subject, m->subject, 1024);
		s = &subject;
	}
	if ((why = out_of_office(m, s)) == NULL &&
	    (why = challenge(m, s)) == NULL && (why = sender(m)) == NULL &&
	    (why = bounce_text(m, s)) == NULL &&
	    (why = bulk_headers(m)) == NULL &&
	    (why = tracker_headers(m)) == NULL &&
	    (why = bulk_body(m, s)) == NULL && (why = calendar(m)) == NULL)
		why = system_report(m, s);
	if (s != NULL)
		fold_free(s);
	return why;
}
