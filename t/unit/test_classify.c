/*
 * Unit tests for automated mail detection: every signal, and the human
 * mail that must not trip them. The messages in t/data/automated are
 * named CLASS_what.eml and must be classified CLASS; those in
 * t/data/human are traps that must stay human.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "mail.h"
#include "mime.h"
#include "tap.h"
#include "util.h"

/* A mail built on the stack: up to four headers, no bodies. */
struct fake {
	struct mail m;
	struct mail_header h[4];
	struct mail_attachment a[1];
};

static struct mail *
fake_mail(struct fake *f, const char *from, const char *subject,
    const char *content_type)
{
	memset(f, 0, sizeof(*f));
	f->m.message_id = "id@example.org";
	f->m.from_email = (char *)from;
	f->m.subject = (char *)subject;
	f->m.content_type =
	    (char *)(content_type ? content_type : "text/plain");
	f->m.headers = f->h;
	return &f->m;
}

static struct mail *
fake_header(struct fake *f, const char *name, const char *value)
{
	f->h[f->m.n_headers].name = (char *)name;
	f->h[f->m.n_headers].value = (char *)value;
	f->m.n_headers++;
	return &f->m;
}

static const char *
classify_header(const char *name, const char *value)
{
	struct fake f;

	fake_mail(&f, "ann@example.org", "Quote for March", NULL);
	fake_header(&f, "From", "Ann <ann@example.org>");
	if (name != NULL)
		fake_header(&f, name, value);
	return classify_automated(&f.m);
}

static const char *
classify_from(const char *from)
{
	struct fake f;

	return classify_automated(fake_mail(&f, from, "Hello", NULL));
}

static const char *
classify_subject(const char *subject)
{
	struct fake f;

	return classify_automated(
	    fake_mail(&f, "ann@example.org", subject, NULL));
}

static void
test_headers(void)
{
	is_str(classify_header(NULL, NULL), NULL, "plain human mail");
	is_str(classify_header("Auto-Submitted", "auto-replied"),
	    "auto-reply: Auto-Submitted: auto-replied",
	    "Auto-Submitted: auto-replied");
	is_str(classify_header("auto-submitted", "Auto-Generated"),
	    "notification: Auto-Submitted: auto-generated",
	    "header name and value case-insensitive");
	is_str(classify_header(
		   "Auto-Submitted", "auto-replied; owner-email=\"a@b\""),
	    "auto-reply: Auto-Submitted: auto-replied",
	    "Auto-Submitted with parameters");
	is_str(classify_header("Auto-Submitted", "no"), NULL,
	    "Auto-Submitted: no is human");
	is_str(classify_header("Auto-Submitted", " No "), NULL,
	    "Auto-Submitted: No, spaced, is human");
	is_str(classify_header("Auto-Submitted", "no (sent by a person)"), NULL,
	    "Auto-Submitted: no with comment is human");
	is_str(classify_header("Auto-Submitted", ""), NULL,
	    "empty Auto-Submitted says nothing");
	is_str(classify_header("X-Autoreply", "yes"),
	    "auto-reply: X-Autoreply or kin header", "X-Autoreply");
	is_str(classify_header("X-Autorespond", "Thanks"),
	    "auto-reply: X-Autoreply or kin header", "X-Autorespond");
	is_str(classify_header("X-Autoresponse", "1"),
	    "auto-reply: X-Autoreply or kin header", "X-Autoresponse");
	is_str(classify_header("Precedence", "bulk"), "bulk: Precedence: bulk",
	    "Precedence: bulk");
	is_str(classify_header("Precedence", "Junk"), "bulk: Precedence: bulk",
	    "Precedence: Junk");
	is_str(classify_header("Precedence", " list"), "list: Precedence: list",
	    "Precedence: list");
	is_str(classify_header("Precedence", "auto_reply"),
	    "auto-reply: Precedence: auto_reply", "Precedence: auto_reply");
	is_str(classify_header("Precedence", "first-class"), NULL,
	    "Precedence: first-class is human");
	is_str(classify_header("Precedence", "bulky"), NULL,
	    "Precedence: only whole words");
	is_str(classify_header("List-Id", "<notmuch.notmuchmail.org>"),
	    "list: mailing list header (List-Id and kin)", "List-Id");
	is_str(classify_header("List-Unsubscribe", "<mailto:u@example.org>"),
	    "bulk: List-Unsubscribe", "List-Unsubscribe");
	is_str(classify_header("List-Archive", "<https://example.org/>"), NULL,
	    "List-Archive alone is not a signal");
	is_str(classify_header("X-Auto-Response-Suppress", "OOF"), NULL,
	    "X-Auto-Response-Suppress is not a signal");
	is_str(classify_header("X-MS-Exchange-Inbox-Rules-Loop", "a@b"), NULL,
	    "X-MS-Exchange-Inbox-Rules-Loop is not a signal");
}

static void
test_order_and_no_override(void)
{
	struct fake f;

	fake_mail(&f, "noreply@example.org", "Automatic reply: Quote", NULL);
	fake_header(&f, "Auto-Submitted", "auto-replied");
	fake_header(&f, "Precedence", "bulk");
	is_str(classify_automated(&f.m),
	    "auto-reply: Auto-Submitted: auto-replied",
	    "first signal in order names the reason");

	fake_mail(&f, "ann@example.org", "Quote", NULL);
	fake_header(&f, "Auto-Submitted", "no");
	fake_header(&f, "List-Id", "<sales.example.org>");
	is_str(classify_automated(&f.m),
	    "list: mailing list header (List-Id and kin)",
	    "Auto-Submitted: no does not hide other signals");
	is_str(classify_automated(NULL), NULL, "NULL mail");
	ok(classify_header("Precedence", "bulk") ==
		classify_header("Precedence", "junk"),
	    "reason is one static string per signal");
}

static void
test_reports(void)
{
	struct fake f;

	fake_mail(
	    &f, "ann@example.org", "Undelivered Mail", "multipart/report");
	is_str(classify_automated(&f.m), "bounce: multipart/report",
	    "multipart/report");
	fake_mail(&f, "ann@example.org", "Delivery", "multipart/mixed");
	f.a[0].content_type = "message/delivery-status";
	f.m.attachments = f.a;
	f.m.n_attachments = 1;
	is_str(classify_automated(&f.m), "bounce: message/delivery-status part",
	    "delivery-status part");
	fake_mail(&f, "ann@example.org", "Report", "multipart/mixed");
	f.a[0].content_type = "application/pdf";
	f.m.attachments = f.a;
	f.m.n_attachments = 1;
	is_str(classify_automated(&f.m), NULL, "ordinary attachment is human");
}

static void
test_senders(void)
{
	is_str(classify_from("MAILER-DAEMON@mx.example.org"),
	    "bounce: MAILER-DAEMON sender", "MAILER-DAEMON");
	is_str(classify_from("postmaster@example.org"),
	    "bounce: postmaster sender", "postmaster");
	is_str(classify_from("no-reply@example.org"),
	    "notification: no-reply sender", "no-reply");
	is_str(classify_from("NoReply@example.org"),
	    "notification: no-reply sender", "NoReply");
	is_str(classify_from("do-not-reply@example.org"),
	    "notification: no-reply sender", "do-not-reply");
	is_str(classify_from("donotreply@example.org"),
	    "notification: no-reply sender", "donotreply");
	is_str(classify_from("noreply+bounces@example.org"),
	    "notification: no-reply sender", "noreply+tag");
	is_str(classify_from("no-reply-aws@amazon.com"),
	    "notification: no-reply sender", "no-reply-suffix");
	is_str(classify_from("www-data@web1.example.org"),
	    "notification: system account sender", "www-data");
	is_str(classify_from("cron@host.example.org"),
	    "notification: system account sender", "cron");
	is_str(classify_from("no.reply@example.org"),
	    "notification: no-reply sender", "no.reply");
	is_str(classify_from("shop-noreply@example.org"),
	    "notification: no-reply sender", "shop-noreply");
	is_str(classify_from("post_master@example.org"),
	    "bounce: postmaster sender", "post_master");
	is_str(classify_from("info@example.org"), NULL, "info@ is human");
	is_str(classify_from("support@example.org"), NULL, "support@ is human");
	is_str(classify_from("root@localhost"), NULL, "root@ alone is human");
	is_str(classify_from("rdg_systems@example.org"), NULL,
	    "a team's address is human");
	is_str(classify_from("mailerman@example.org"), NULL,
	    "mailerman is one word");
	is_str(classify_from("sarah.jenkins@example.org"), NULL,
	    "a surname that names software is human");
	is_str(classify_from("norman-mailer@example.org"), NULL,
	    "a surname that names a system account is human");
	is_str(classify_from("jenkins+ci@example.org"),
	    "notification: system account sender", "jenkins+tag");
	is_str(classify_from("noreply@example.org"),
	    "notification: no-reply sender", "noreply");
	is_str(classify_from("noreplying@example.org"), NULL,
	    "longer word is human");
	is_str(classify_from("postmasters-fan@example.org"), NULL,
	    "postmasters-fan is human");
	is_str(classify_from("ann@noreply.example.org"), NULL,
	    "domain does not count");
	is_str(classify_from("bob@example.org"), NULL, "ordinary sender");
	is_str(classify_from(NULL), NULL, "no sender");
	is_str(classify_from("not-an-address"), NULL, "no @");
}

static void
test_out_of_office(void)
{
	static const char *const oof[] = {
	    "Out of Office: Quote for March",
	    "OUT OF OFFICE",
	    "Out of Office AutoReply: Quote",
	    "Automatic reply: Quote for March",
	    "Auto-Reply: Quote",
	    "AutoReply: Quote",
	    "[Auto-Reply] Quote",
	    "Abwesenheitsnotiz: Angebot",
	    "Automatische Antwort: Angebot",
	    "Absence : devis",
	    "Réponse automatique : devis",
	    "RÉPONSE AUTOMATIQUE: devis",
	    "Respuesta automática: presupuesto",
	    "Fuera de la oficina: presupuesto",
	    "Quote for March (Out of office)",
	    "  Automatic reply:Quote",
	    "[support.example.org #4711] AutoReply: Chairs",
	    "Automatyczna odpowiedź: Oferta",
	    "Automatická odpověď: Nabídka",
	    "Automatisch antwoord: Offerte",
	    "Automatiskt svar: Offert",
	    "Automaattinen vastaus: Tarjous",
	    "Risposta automatica: Preventivo",
	    "Resposta automática: Orçamento",
	    "Automatikus válasz: Ajánlat",
	    "Otomatik yanıt: Teklif",
	    "Автоматический ответ: Предложение",
	    "自动回复: 报价",
	    "Αυτόματη απάντηση: Προσφορά",
	    "자동 회신: 견적",
	    "Răspuns automat: Ofertă",
	};
	static const char *const human[] = {
	    "Re: our out of office policy",
	    "Out of office until Monday, call me",
	    "Absence next week",
	    "Question about autoreply settings",
	    "Re: Automatic reply: Quote",
	    "Quote (draft)",
	    "Question about autoreply: how do I set it?",
	    "Sales out of office: who covers December",
	    "",
	};
	size_t i, found = 0;

	for (i = 0; i < nitems(oof); i++)
		if (is_str(classify_subject(oof[i]),
			"auto-reply: out-of-office subject", "OOF: %s", oof[i]))
			found++;
	is_int(found, nitems(oof), "every out-of-office subject found");
	for (i = 0; i < nitems(human); i++)
		is_str(
		    classify_subject(human[i]), NULL, "human: '%s'", human[i]);
	is_str(classify_subject(NULL), NULL, "no subject");
	is_str(classify_subject("Out of office: \xff"),
	    "auto-reply: out-of-office subject",
	    "invalid UTF-8 subject still matched on ASCII");
}

/* The class of a reason: "bounce" of "bounce: null sender". */
static char *
reason_class(const char *reason)
{
	if (reason == NULL)
		return NULL;
	return xstrndup(reason, strcspn(reason, ":"));
}

static char *
classify_fixture(const char *path, const char **reason)
{
	static const struct mime_opts opts = {.fallback_date = 1700000000};
	size_t len;
	char *data = file_read_all(path, &len);
	struct mail *m;
	char *cls;

	*reason = NULL;
	if (data == NULL)
		return xstrdup("(unreadable)");
	m = mime_parse(data, len, false, &opts);
	free(data);
	*reason = classify_automated(m);
	cls = reason_class(*reason);
	mail_free(m);
	return cls;
}

/* Each fixture of a folder; returns how many there were. */
static size_t
test_fixture_dir(const char *top, const char *sub, bool human)
{
	char *dir = xasprintf("%s/t/data/%s", top, sub), *path, *cls, *want;
	struct dirent **ents;
	const char *reason;
	int n, i;
	size_t count = 0;

	n = scandir(dir, &ents, NULL, alphasort);
	for (i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		size_t len = strlen(name);

		if (len < 5 || strcmp(name + len - 4, ".eml") != 0) {
			free(ents[i]);
			continue;
		}
		path = xasprintf("%s/%s", dir, name);
		cls = classify_fixture(path, &reason);
		want = human ? NULL : xstrndup(name, strcspn(name, "_"));
		is_str(cls, want, "%s/%s (%s)", sub, name,
		    reason ? reason : "human");
		free(want);
		free(cls);
		free(path);
		free(ents[i]);
		count++;
	}
	if (n >= 0)
		free(ents);
	free(dir);
	return count;
}

static void
test_fixtures(void)
{
	const char *top = getenv("top_srcdir");

	if (top == NULL)
		top = "..";
	mime_init();
	ok(test_fixture_dir(top, "automated", false) >= 20,
	    "automated fixtures: one per class and more");
	ok(test_fixture_dir(top, "human", true) >= 10,
	    "human fixtures: the traps");
	mime_shutdown();
}

int
main(void)
{
	test_headers();
	test_order_and_no_override();
	test_reports();
	test_senders();
	test_out_of_office();
	test_fixtures();
	return tap_done();
}
