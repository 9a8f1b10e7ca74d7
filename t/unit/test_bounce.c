/*
 * Reading delivery status notifications: a standard report that
 * failed, a delay, a report with only the returned headers, qmail's and
 * Exim's texts (t/data/dsn), and mail that is no notification.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounce.h"
#include "mail.h"
#include "mime.h"
#include "tap.h"
#include "util.h"

static const char *top;

static struct mail *
parse_fixture(const char *name)
{
	static const struct mime_opts opts = {1 << 24, 0, 0};
	char *path = xasprintf("%s/t/data/dsn/%s", top, name), *data;
	struct mail *m;
	size_t len;

	data = file_read_all(path, &len);
	if (data == NULL) {
		printf("Bail out! cannot read %s\n", path);
		exit(1);
	}
	m = mime_parse(data, len, false, &opts);
	free(data);
	free(path);
	return m;
}

static struct bounce
read_fixture(const char *name)
{
	struct mail *m = parse_fixture(name);
	struct bounce b;

	bounce_read(m, &b);
	mail_free(m);
	return b;
}

static void
test_failed(void)
{
	struct bounce b = read_fixture("failed.eml");

	is_int(b.kind, BOUNCE_FAILED, "report: failed");
	is_int(b.n_recipients, 1, "report: one recipient");
	is_str(b.n_recipients ? b.recipients[0] : NULL, "Nobody@b.example",
	    "report: Final-Recipient, type taken off, domain folded");
	is_str(b.status, "5.1.1", "report: status");
	is_str(b.diagnostic,
	    "550 5.1.1 <nobody@b.example>: Recipient address rejected: User "
	    "unknown in virtual mailbox table",
	    "report: Diagnostic-Code unfolded, type taken off");
	is_str(b.original_id, "out-1@example.com",
	    "report: Message-ID of the returned message/rfc822, normalized");
	bounce_clear(&b);
}

static void
test_delayed(void)
{
	struct bounce b = read_fixture("delayed.eml");

	is_int(b.kind, BOUNCE_DELAYED, "delay: delayed");
	is_str(b.n_recipients ? b.recipients[0] : NULL, "slow@c.example",
	    "delay: the delayed recipient");
	is_str(b.status, "4.4.7", "delay: status");
	is_str(b.original_id, "out-2@example.com",
	    "delay: folded Message-ID of text/rfc822-headers");
	bounce_clear(&b);
}

static void
test_headers_only(void)
{
	struct bounce b = read_fixture("headers-only.eml");

	is_int(b.kind, BOUNCE_FAILED, "headers only: failed");
	is_str(b.n_recipients ? b.recipients[0] : NULL, "gone@d.example",
	    "headers only: recipient with an upper-case type");
	is_str(b.status, "5.2.1", "headers only: status");
	is_str(b.diagnostic, "(reason: 550 Mailbox unavailable)",
	    "headers only: without Diagnostic-Code, the text's reason");
	is_str(b.original_id, "out-3@example.com",
	    "headers only: Message-Id of text/rfc822-headers");
	bounce_clear(&b);
}

static void
test_qmail(void)
{
	struct bounce b = read_fixture("qmail.eml");

	is_int(b.kind, BOUNCE_FAILED, "qmail: failed");
	is_int(b.n_recipients, 1, "qmail: one recipient");
	is_str(b.n_recipients ? b.recipients[0] : NULL, "Who@e.example",
	    "qmail: <address>: line");
	is_str(b.diagnostic, "Sorry, no mailbox here by that name. (#5.1.1)",
	    "qmail: the lines under the address");
	is_str(b.original_id, "out-4@example.com",
	    "qmail: Message-ID of the copy below the line");
	bounce_clear(&b);
}

static void
test_exim_delay(void)
{
	struct bounce b = read_fixture("exim-delay.eml");

	is_int(b.kind, BOUNCE_DELAYED, "exim: a delay warning");
	is_str(b.n_recipients ? b.recipients[0] : NULL, "late@f.example",
	    "exim: the indented address");
	ok(b.diagnostic != NULL &&
		strstr(b.diagnostic, "451 4.7.1 Greylisted") != NULL,
	    "exim: the delay reason under it: %s",
	    b.diagnostic ? b.diagnostic : "(none)");
	is_str(b.original_id, NULL, "exim: no copy, no original id");
	bounce_clear(&b);
}

static void
test_not_a_bounce(void)
{
	struct mail m;
	struct bounce b;

	memset(&m, 0, sizeof(m));
	m.message_id = "x@y";
	m.subject = "Lunch on Friday?";
	m.text = "Hi Ann,\n\nlunch on Friday?\n\nann@a.example\n";
	bounce_read(&m, &b);
	is_int(b.kind, BOUNCE_NONE, "a person's mail is no notification");
	is_int(b.n_recipients, 0, "and names no failed recipient");
	bounce_clear(&b);

	m.dsn_fields = "Reporting-MTA: dns; mx.example.com\n\n"
		       "Final-Recipient: rfc822; ok@a.example\n"
		       "Action: delivered\nStatus: 2.0.0\n";
	m.text = "Your message was delivered.\n";
	m.subject = "Delivery Status Notification (Success)";
	bounce_read(&m, &b);
	is_int(b.kind, BOUNCE_NONE, "a success report is neither");
	bounce_clear(&b);
	bounce_read(NULL, &b);
	is_int(b.kind, BOUNCE_NONE, "NULL mail");
}

int
main(void)
{
	top = getenv("top_srcdir");
	if (top == NULL)
		top = "..";
	mime_init();
	test_failed();
	test_delayed();
	test_headers_only();
	test_qmail();
	test_exim_delay();
	test_not_a_bounce();
	mime_shutdown();
	return tap_done();
}
