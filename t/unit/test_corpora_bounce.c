/*
 * The bounce reader against real notifications: the labelled corpus
 * in ../shared/corpora/automated (LABELS.tsv: file, label, kind, ...),
 * or INBOXD_CLASSIFY_CORPUS. Skips when there is none. For most
 * failure notices it must name a failed recipient, and a delay notice
 * must never read as a failure, except where its own report says
 * "Action: failed" (sendmail's "Cannot send message for 5 days" is the
 * labelled delay that gave up), which the reader believes.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bounce.h"
#include "corpora.h"
#include "mail.h"
#include "mime.h"
#include "tap.h"
#include "util.h"

/* Shares of the corpus the reader must get right; measured, with a
 * margin. */
#define MIN_FAILED_WITH_RECIPIENT 0.75
#define MIN_FAILED_WITH_ID 0.60

static const struct mime_opts opts = {1 << 24, 0, 0};

static bool
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *
find_corpus(void)
{
	const char *env = getenv("INBOXD_CLASSIFY_CORPUS");

	if (env != NULL && *env != '\0')
		return is_dir(env) ? xstrdup(env) : NULL;
	return corpora_find("automated");
}

struct counts {
	size_t failed, failed_as_failed, failed_rcpt, failed_id;
	size_t delays, delays_as_delay, delays_as_failed;
};

/* Whether the report's fields say a recipient failed. */
static bool
report_says_failed(const struct mail *m)
{
	char *f, *c;
	bool found;

	if (m->dsn_fields == NULL)
		return false;
	f = xstrdup(m->dsn_fields);
	for (c = f; *c != '\0'; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	found = strstr(f, "action: failed") != NULL;
	free(f);
	return found;
}

static void
read_one(const char *dir, const char *file, const char *kind, struct counts *c)
{
	char *path = xasprintf("%s/%s", dir, file), *data;
	bool delay = strcmp(kind, "bounce-delay") == 0;
	struct bounce b;
	struct mail *m;
	size_t len;

	data = file_read_all(path, &len);
	free(path);
	if (data == NULL)
		return;
	m = mime_parse(data, len, false, &opts);
	free(data);
	bounce_read(m, &b);
	if (delay) {
		c->delays++;
		c->delays_as_delay += b.kind == BOUNCE_DELAYED;
		c->delays_as_failed +=
		    b.kind == BOUNCE_FAILED && !report_says_failed(m);
		if (b.kind != BOUNCE_DELAYED)
			printf("# delay read as %d: %s\n", (int)b.kind, file);
	} else {
		c->failed++;
		c->failed_as_failed += b.kind == BOUNCE_FAILED;
		c->failed_rcpt += b.kind == BOUNCE_FAILED && b.n_recipients > 0;
		c->failed_id += b.original_id != NULL;
		if (b.kind != BOUNCE_FAILED || b.n_recipients == 0)
			printf("# failure read as %d, %zu recipients: %s\n",
			    (int)b.kind, b.n_recipients, file);
	}
	bounce_clear(&b);
	mail_free(m);
}

static void
read_labels(const char *dir, char *labels, struct counts *c)
{
	char *line, *save = NULL;

	for (line = strtok_r(labels, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[3], *p = line;
		size_t n = 0;

		while (n < 3) {
			f[n++] = p;
			if ((p = strchr(p, '\t')) == NULL)
				break;
			*p++ = '\0';
		}
		if (n == 3 && p != NULL && (p = strchr(f[2], '\t')) != NULL)
			*p = '\0';
		if (n < 3 || strncmp(f[2], "bounce", 6) != 0)
			continue;
		read_one(dir, f[0], f[2], c);
	}
}

int
main(void)
{
	struct counts c = {0};
	char *dir, *path, *labels;
	size_t len;

	if ((dir = find_corpus()) == NULL)
		tap_skip_all("no labelled automated-mail corpus");
	path = xasprintf("%s/LABELS.tsv", dir);
	labels = file_read_all(path, &len);
	free(path);
	if (labels == NULL)
		tap_skip_all("no LABELS.tsv in %s", dir);
	mime_init();
	read_labels(dir, labels, &c);
	printf("# failures: %zu, read as failures %zu, with a recipient %zu,"
	       " with the original id %zu\n",
	    c.failed, c.failed_as_failed, c.failed_rcpt, c.failed_id);
	printf("# delays: %zu, read as delays %zu, as failures %zu\n", c.delays,
	    c.delays_as_delay, c.delays_as_failed);
	ok(c.failed > 0, "the corpus holds failure notices");
	ok((double)c.failed_rcpt >=
		MIN_FAILED_WITH_RECIPIENT * (double)c.failed,
	    "a failed recipient for %zu of %zu failures (at least %.2f)",
	    c.failed_rcpt, c.failed, MIN_FAILED_WITH_RECIPIENT);
	ok((double)c.failed_id >= MIN_FAILED_WITH_ID * (double)c.failed,
	    "the original Message-ID for %zu of %zu failures (at least %.2f)",
	    c.failed_id, c.failed, MIN_FAILED_WITH_ID);
	is_int(c.delays_as_failed, 0, "no delay notice read as a failure");
	ok(c.delays_as_delay + 1 >= c.delays,
	    "delay notices read as delays: %zu of %zu", c.delays_as_delay,
	    c.delays);
	(void)tap_is_str; /* counts are compared, not strings */
	free(labels);
	mime_shutdown();
	free(dir);
	return tap_done();
}
