/*
 * libFuzzer target for the IMAP response parsers of imap_resp.h: any
 * answer must parse without a crash, a leak, a read past its length or
 * a sanitizer report, and what the parsers return must keep their
 * promises (no UID 0, names without CR or LF, quoting that LIST reads
 * back). See README.md for running it with the seed corpus.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_resp.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_status(const char *text, size_t len)
{
	struct imap_status st;

	if (imap_parse_status(text, len, &st) == 0 && st.uidvalidity == 0)
		abort();
}

static void
check_fetch(const char *text, size_t len)
{
	struct imap_msginfo *mi = NULL;
	size_t n = imap_parse_fetch(text, len, &mi);

	if ((n == 0) != (mi == NULL))
		abort();
	for (size_t i = 0; i < n; i++)
		if (mi[i].uid == 0 || mi[i].internal_date < 0)
			abort();
	free(mi);
}

static void
check_search(const char *text, size_t len)
{
	uint32_t *uids = NULL;
	size_t n = 0;
	int rc = imap_parse_search(text, len, &uids, &n);

	if ((n == 0) != (uids == NULL) || (rc == -1 && n != 0))
		abort();
	for (size_t i = 0; i < n; i++)
		if (uids[i] == 0)
			abort();
	free(uids);
}

static void
check_list(const char *text, size_t len)
{
	char *name = imap_parse_list_sent(text, len);

	if (name != NULL && strpbrk(name, "\r\n") != NULL)
		abort();
	free(name);
}

static void
check_capabilities(const char *text, size_t len)
{
	static const char *const caps[] = {
	    "IDLE", "IMAP4rev1", "AUTH=XOAUTH2", "CONDSTORE", "I"};

	for (size_t i = 0; i < nitems(caps); i++)
		(void)imap_has_capability(text, len, caps[i]);
}

/*
 * The first line of the input, up to a NUL and 255 bytes, read as a
 * date and as a mailbox name: quoting it and reading it back from a
 * LIST line gives the name without its CR and LF.
 */
static void
check_date_and_quote(const char *text, size_t len)
{
	char name[256], *quoted, *line, *got;
	size_t n = 0;

	for (size_t i = 0; i < len && n < sizeof(name) - 1; i++) {
		if (text[i] == '\0')
			break;
		if (text[i] != '\r' && text[i] != '\n')
			name[n++] = text[i];
	}
	name[n] = '\0';
	(void)imap_parse_date(name);
	quoted = imap_quote(name);
	line = xasprintf("* LIST (\\Sent) \"/\" %s", quoted);
	got = imap_parse_list_sent(line, strlen(line));
	if (got == NULL || strcmp(got, name) != 0)
		abort();
	free(got);
	free(line);
	free(quoted);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;

	check_status(text, size);
	check_fetch(text, size);
	check_search(text, size);
	check_list(text, size);
	check_capabilities(text, size);
	check_date_and_quote(text, size);
	return 0;
}
