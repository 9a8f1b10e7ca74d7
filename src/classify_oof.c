/*
 * Automated mail detection: the subjects autoresponders write ("Out of
 * office", "Automatic reply" in many languages) and those of
 * challenge-response filters, and whether a subject is a person's reply
 * or forward. The phrase lists are long, so they live apart from the
 * decision in classify.c.
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "classify_int.h"
#include "util.h"
/* ---- Subjects ----------------------------------------------------- */

/*
 * Whether a subject is a reply or forward: "Re:", "AW:", "Fwd:",
 * "RE[2]:", in the languages mail clients speak. A person's reply to an
 * auto-reply carries the auto-reply's subject behind this.
 */
bool
classify_reply_prefixed(const char *ascii)
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
	if (!classify_is_ascii_text(phrase))
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
		    (!classify_is_ascii_text(phrase) ||
			!classify_is_word_char(lead[len - n - 1])))
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

const char *
classify_out_of_office(const struct mail *m, const struct folded *subject)
{
	(void)m;
	if (subject == NULL || classify_reply_prefixed(subject->ascii))
		return NULL;
	if (oof_subject_in(subject->ascii) || oof_subject_in(subject->utf8))
		return "auto-reply: out-of-office subject";
	return NULL;
}

/*
 * Challenge-response systems hold mail until the sender proves to be a
 * person; their requests say so at the start of the subject.
 */
const char *
classify_challenge(const struct mail *m, const struct folded *subject)
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
	if (subject == NULL || classify_reply_prefixed(subject->ascii))
		return NULL;
	for (i = 0; i < nitems(phrases); i++)
		if (strncmp(subject->ascii, phrases[i], strlen(phrases[i])) ==
		    0)
			return "challenge: challenge-response subject";
	return NULL;
}
