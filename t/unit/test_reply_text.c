/*
 * reply_text(): each rule on small bodies written for this test, the
 * languages it knows, the traps (text that only looks like history),
 * and inputs it must survive: empty, binary, huge.
 */
#include <stdlib.h>
#include <string.h>

#include "reply_text.h"
#include "tap.h"
#include "text.h"
#include "util.h"

static void
check(const char *body, const char *want, const char *what)
{
	char *got = reply_text(body, strlen(body));

	is_str(got, want, "%s", what);
	free(got);
}

static void
test_plain(void)
{
	check("Thanks, see you on Monday.\n", "Thanks, see you on Monday.",
	    "no quote: the whole text");
	check("\n\n  Hi Ana,\n\nDone.\n\n\n", "  Hi Ana,\n\nDone.",
	    "blank lines around are dropped, indentation kept");
	check("Line one\r\nLine two\r\n", "Line one\nLine two",
	    "CRLF becomes LF");
	check("", NULL, "empty body");
	check("\n \n\t\n", NULL, "blank body");
	ok(reply_text(NULL, 0) == NULL, "NULL body");
}

static void
test_attributions(void)
{
	check("Sounds good.\n\nOn Tue, Mar 3, 2026 at 9:14 AM, Ana Ruiz "
	      "<ana@example.com> wrote:\n> Shall we meet?\n> Ana\n",
	    "Sounds good.", "Gmail attribution and its quote");
	check("Sounds good.\n\nOn Tue, Mar 3, 2026 at 9:14 AM, Ana Ruiz <\n"
	      "ana@example.com> wrote:\n\n> Shall we meet?\n",
	    "Sounds good.", "attribution wrapped inside the address");
	check("Sounds good.\nOn 3 Mar 2026, at 09:14, Ana Ruiz "
	      "<ana@example.com>\nwrote:\n\n> Shall we meet?\n",
	    "Sounds good.", "wrote: on its own line, no blank line above");
	check("Yes.\n\nOn Tue, Mar 3, 2026 at 9:14 AM Ana Ruiz wrote:\n\n"
	      "Shall we meet?\nAna\n",
	    "Yes.", "attribution over an unquoted original");
	check("Yes.\n\n---- On Tue, 03 Mar 2026 09:14:00 +0100 Ana wrote "
	      "----\n\nShall we meet?\n",
	    "Yes.", "dashed attribution without a colon");
	check("Yes.\n\n> On 3 Mar 2026, at 09:14, Ana <ana@example.com> "
	      "wrote:\n>\n> Shall we meet?\n",
	    "Yes.", "attribution inside the quote (Apple Mail)");
	check("Yes.\n\n2026-03-03 9:14 GMT+01:00 Ana Ruiz "
	      "<ana@example.com>:\n\n> Shall we meet?\n",
	    "Yes.", "Gmail attribution without a verb");
	check("Yes. On 3 Mar 2026, at 09:14, ana@example.com wrote:\n"
	      "> Shall we meet?\n",
	    "Yes.", "text and attribution on one line");
	check("Yes.\n\nAna Ruiz wrote:\n> Shall we meet?\n", "Yes.",
	    "undated \"Name wrote:\" right above a quote");
}

static void
test_languages(void)
{
	static const char *const heads[] = {
	    "Am 03.03.2026 um 09:14 schrieb Ana Ruiz <ana@example.com>:",
	    "Le 3 mars 2026 \xc3\xa0 09:14, Ana Ruiz <ana@example.com> a "
	    "\xc3\xa9"
	    "crit :",
	    "El 3 mar 2026, a las 9:14, Ana Ruiz <ana@example.com> "
	    "escribi\xc3\xb3:",
	    "Op 3 mrt. 2026 om 09:14 schreef Ana Ruiz <ana@example.com>:",
	    "Il giorno 3 mar 2026, alle ore 09:14, Ana Ruiz "
	    "<ana@example.com> ha scritto:",
	    "Em 3 de mar. de 2026 \xc3\xa0s 09:14, Ana Ruiz "
	    "<ana@example.com> escreveu:",
	    "Den 3. mar. 2026 kl. 09.14 skrev Ana Ruiz <ana@example.com>:",
	    "tir. 3. mar. 2026 kl. 09:14 skrev Ana Ruiz <ana@example.com>:",
	    "W dniu 3.03.2026 o 09:14, Ana Ruiz <ana@example.com> "
	    "napisa\xc5\x82:",
	    "3 \xd0\xbc\xd0\xb0\xd1\x80\xd1\x82\xd0\xb0 2026 \xd0\xb3., "
	    "Ana Ruiz <ana@example.com> "
	    "\xd0\xbd\xd0\xb0\xd0\xbf\xd0\xb8\xd1\x81\xd0\xb0\xd0\xbb:",
	    "2026\xe5\xb9\xb4"
	    "3\xe6\x9c\x88"
	    "3\xe6\x97\xa5 9:14 Ana Ruiz "
	    "<ana@example.com>:",
	    "\xe5\x9c\xa8 2026\xe5\xb9\xb4"
	    "3\xe6\x9c\x88"
	    "3\xe6\x97\xa5\xef"
	    "\xbc\x8c"
	    "Ana Ruiz <ana@example.com> \xe5\x86\x99\xe9\x81\x93"
	    "\xef\xbc\x9a",
	    "pe 3. maaliskuuta 2026 klo 9.14 Ana Ruiz <ana@example.com> "
	    "kirjoitti:",
	};

	for (size_t i = 0; i < nitems(heads); i++) {
		char *body = xasprintf("Danke.\n\n%s\n\n> Alt.\n", heads[i]);

		check(body, "Danke.", heads[i]);
		free(body);
	}
}

static void
test_header_blocks(void)
{
	check("Done.\n\n________________________________\nFrom: Ana Ruiz "
	      "<ana@example.com>\nSent: Tuesday, March 3, 2026 9:14 AM\n"
	      "To: Bo <bo@example.com>\nSubject: Plan\n\nShall we meet?\n",
	    "Done.", "Outlook block under a rule");
	check("Done.\n\n*From:* Ana Ruiz [mailto:ana@example.com]\n*Sent:* "
	      "Tuesday\n*To:* Bo\n*Subject:* Plan\n\nOld\n",
	    "Done.", "bold block without a rule");
	check("Erledigt.\n\nVon: Ana Ruiz\nGesendet: Dienstag, 3. M\xc3\xa4rz "
	      "2026 09:14\nAn: Bo\nBetreff: Plan\n\nAlt\n",
	    "Erledigt.", "German block");
	check("Fait.\n\nDe : Ana Ruiz\nEnvoy\xc3\xa9 : mardi 3 mars 2026\n"
	      "\xc3\x80 : Bo\nObjet : Plan\n\nAncien\n",
	    "Fait.", "French block with blanks before the colons");
	check("Klart.\nFr\xc3\xa5n: Ana Ruiz\nSkickat: den 3 mars 2026\nTill: "
	      "Bo\n\xc3\x84mne: Plan\n\nGammalt\n",
	    "Klart.", "Swedish block right under the text");
	check("Done.\n\n-----Original Message-----\nFrom: Ana\n\nOld\n",
	    "Done.", "Original Message separator");
	check("Erledigt.\n\n-----Urspr\xc3\xbcngliche Nachricht-----\nOld\n",
	    "Erledigt.", "German separator");
	check("Please bring:\n\nDate: Friday 6 March\nTime: 10:00\n"
	      "Place: Room 4\n",
	    "Please bring:\n\nDate: Friday 6 March\nTime: 10:00\n"
	    "Place: Room 4",
	    "Date and Time lines of an invitation are no header block");
}

static void
test_quotes(void)
{
	check("I agree.\n\n> old text\n> more old text\n", "I agree.",
	    "a quote at the end goes");
	check("> your question\n\nMy answer.\n",
	    "> your question\n\nMy answer.",
	    "a quote with no attribution above an answer stays");
	check("First.\n\n> point one\n\nAnswer one.\n\n> point two\n",
	    "First.\n\n> point one\n\nAnswer one.",
	    "inline answer: the quote between answers stays, the last goes");
	check("> only a quote\n", "> only a quote",
	    "a message that is only a quote keeps it");
	check("Note that\nx > 3 holds\nfor every x.\n",
	    "Note that\nx > 3 holds\nfor every x.",
	    "a > inside a line is no quote");
	check("Hi.\n\nOn the other hand, Bob wrote: nothing.\n\nBye.\n",
	    "Hi.\n\nOn the other hand, Bob wrote: nothing.\n\nBye.",
	    "\"wrote:\" inside the sender's own sentence");
	check("Here are the 2 files you sent:\n\nreport.pdf\nplan.pdf\n",
	    "Here are the 2 files you sent:\n\nreport.pdf\nplan.pdf",
	    "\"you sent:\" with a number but no date is text");
	check("Hi.\n\nSomething wrote:\nnothing else\n",
	    "Hi.\n\nSomething wrote:\nnothing else",
	    "undated \"wrote:\" not above a quote is text");
	check("On Monday we ship.\nOn Tuesday we rest.\n",
	    "On Monday we ship.\nOn Tuesday we rest.",
	    "lines starting with On are text");
}

static void
test_signatures(void)
{
	check("Thanks\n\n-- \nAna Ruiz\nACME\n", "Thanks", "-- delimiter");
	check("Thanks\n--\nAna\n", "Thanks", "-- without a blank");
	check("Thanks\n\nSent from my iPhone\n", "Thanks", "device line");
	check("Thanks\n\nEnvoy\xc3\xa9 de mon iPhone\n", "Thanks",
	    "French device line");
	check("Thanks\n\nSent from my desk, which is much nicer than my "
	      "phone ever was.\n",
	    "Thanks\n\nSent from my desk, which is much nicer than my "
	    "phone ever was.",
	    "a sentence starting with Sent from my is text");
	check("Thanks\n\n-Ann\n\n\n____\nlist footer\n", "Thanks",
	    "-Name sign-off");
	check("Buy:\n\n-milk\n-eggs\n", "Buy:\n\n-milk\n-eggs",
	    "-item list lines are no sign-off");
	check("Steps:\n-- first\n-- second\n", "Steps:\n-- first\n-- second",
	    "-- list items are no delimiter");
	check("Totals\n----------\n12\n", "Totals\n----------\n12",
	    "a dashed rule inside the text stays");
	check("Code:\n```\n--\n```\nend\n", "Code:\n```\n--\n```\nend",
	    "nothing is cut inside a code fence");
}

static void
test_forwards(void)
{
	check("FYI, see below.\n\n---------- Forwarded message ---------\n"
	      "From: Ana <ana@example.com>\nDate: Tue, Mar 3, 2026\n"
	      "Subject: Plan\nTo: Bo\n\nThe plan.\n",
	    "FYI, see below.", "text above a forward");
	check("---------- Forwarded message ---------\nFrom: Ana "
	      "<ana@example.com>\nDate: Tue, Mar 3, 2026\nSubject: Plan\n"
	      "To: Bo\n\nThe plan.\n",
	    "The plan.", "a bare forward gives the forwarded text");
	check("Voir ci-dessous.\n\nD\xc3\xa9"
	      "but du message r\xc3\xa9"
	      "exp\xc3\xa9"
	      "di\xc3\xa9 :\n\nDe: Ana\n\nTexte\n",
	    "Voir ci-dessous.", "Apple Mail forward in French");
	check("On 3 Mar 2026 09:14, \"Ana\" <ana@example.com> wrote:\n\n"
	      "The plan.\n",
	    "The plan.", "an attribution with nothing above it");
}

static void
test_hostile(void)
{
	struct buf b;
	char *got;
	static const char bad[] = "ok \xff\xfe text\n\n> q\n";
	size_t n;

	got = reply_text(bad, sizeof(bad) - 1);
	ok(got != NULL && text_is_clean(got, strlen(got)),
	    "invalid UTF-8 comes out valid");
	free(got);

	/* Many lines of attribution-like and quote-like text: the work is
	 * linear, and the quote at the end goes. */
	buf_init(&b);
	for (int i = 0; i < 20000; i++)
		buf_appends(&b, "On 3 Mar 2026 Ana <a@b.c> and then\n");
	buf_appends(&b, "End.\n");
	for (int i = 0; i < 20000; i++)
		buf_appends(&b, "> > > quoted line\n");
	got = reply_text(b.data, b.len);
	n = got != NULL ? strlen(got) : 0;
	ok(n > 0 && strcmp(got + n - 4, "End.") == 0,
	    "huge body: the text up to the quote");
	free(got);
	buf_free(&b);

	/* Many inline answers: each block is weighed once. */
	buf_init(&b);
	for (int i = 0; i < 50000; i++)
		buf_appends(&b, "> question\n\nanswer\n\n");
	got = reply_text(b.data, b.len);
	n = got != NULL ? strlen(got) : 0;
	ok(n > 0 && strncmp(got, "> question\n\nanswer", 18) == 0 &&
		strcmp(got + n - 6, "answer") == 0,
	    "many inline answers are all kept");
	free(got);
	buf_free(&b);

	buf_init(&b);
	for (int i = 0; i < 200000; i++)
		buf_appends(&b, "On wrote: -- > ");
	got = reply_text(b.data, b.len);
	ok(got != NULL, "one huge line survives");
	free(got);
	buf_free(&b);

	got = reply_text("a\0b\n", 4);
	ok(got != NULL && strcmp(got, "ab") == 0, "NUL bytes are dropped");
	free(got);
}

int
main(void)
{
	(void)tap_is_int;
	test_plain();
	test_attributions();
	test_languages();
	test_header_blocks();
	test_quotes();
	test_signatures();
	test_forwards();
	test_hostile();
	return tap_done();
}
