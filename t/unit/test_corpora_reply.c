/*
 * Reply extraction on other projects' cases: every folder of
 * ../shared/corpora/replies holds a body (input.txt) or a whole message
 * (input.eml, parsed with mime_parse() as the daemon parses it) and what
 * its sender newly wrote: expected.txt compared exactly, or
 * expected.contains / expected.excludes, one substring a line. Both
 * sides are compared after CRLF -> LF, trailing blanks dropped on each
 * line and leading and trailing blank lines dropped, as the corpus says.
 *
 * The sources disagree on some conventions (tags inline, forward,
 * policy, signature-kept, mime-quirk): every case counts, the score is
 * printed per tag, and at least 95 % must pass. Without the corpus the
 * test skips. REPLY_CASE=name runs one case and prints its output.
 */
#include "config.h"
#include "corpora.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mail.h"
#include "mime.h"
#include "reply_text.h"
#include "tap.h"
#include "util.h"

#define MAX_TAGS 64

struct tag_score {
	char *name;
	unsigned pass;
	unsigned total;
};

static struct tag_score tags[MAX_TAGS];
static size_t n_tags;

/* The tags that mark where the sources' conventions differ. */
static const char *const convention_tags[] = {
    "inline", "forward", "policy", "signature-kept", "mime-quirk"};

static bool
has_convention_tag(const char *list)
{
	size_t n = strlen(list);

	for (size_t i = 0; i < nitems(convention_tags); i++) {
		size_t tl = strlen(convention_tags[i]);

		for (const char *p = list; p + tl <= list + n; p++)
			if (memcmp(p, convention_tags[i], tl) == 0 &&
			    (p == list || p[-1] == ',') &&
			    (p[tl] == ',' || p[tl] == '\0'))
				return true;
	}
	return false;
}

static void
count_tag(const char *name, size_t len, bool pass)
{
	size_t i;

	for (i = 0; i < n_tags; i++)
		if (strlen(tags[i].name) == len &&
		    memcmp(tags[i].name, name, len) == 0)
			break;
	if (i == n_tags) {
		if (n_tags == MAX_TAGS)
			return;
		tags[n_tags++].name = xstrndup(name, len);
	}
	tags[i].total++;
	tags[i].pass += pass;
}

static void
count_tags(const char *list, bool pass)
{
	const char *p = list, *e;

	while (*p != '\0') {
		e = strchr(p, ',');
		if (e == NULL)
			e = p + strlen(p);
		if (e > p)
			count_tag(p, (size_t)(e - p), pass);
		p = *e == ',' ? e + 1 : e;
	}
}

/* The comparable form of a text: LF line ends, no trailing blanks, no
 * leading or trailing blank lines. malloc'd. */
static char *
normalize(const char *s)
{
	struct buf b;
	const char *p = s == NULL ? "" : s;
	size_t keep;

	buf_init(&b);
	buf_appends(&b, "");
	while (*p != '\0') {
		const char *e = strchr(p, '\n');
		size_t n = e == NULL ? strlen(p) : (size_t)(e - p);

		while (n > 0 &&
		    (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0 && b.len == 0) {
			p = e == NULL ? p + strlen(p) : e + 1;
			continue;
		}
		buf_append(&b, p, n);
		buf_append(&b, "\n", 1);
		p = e == NULL ? p + strlen(p) : e + 1;
	}
	keep = b.len;
	while (keep > 0 && b.data[keep - 1] == '\n')
		keep--;
	b.data[keep] = '\0';
	b.len = keep;
	return buf_steal(&b);
}

static char *
read_case_file(const char *dir, const char *name, size_t *len)
{
	char *path = xasprintf("%s/%s", dir, name);
	char *data = file_read_all(path, len);

	free(path);
	return data;
}

/* The body a case gives reply_text(): the file itself, or the text the
 * daemon would store for the message. */
static char *
case_body(const char *dir)
{
	static const struct mime_opts opts = {64 * 1024 * 1024, 0, 0};
	size_t len, start;
	char *data, *text = NULL;
	struct mail *m;

	if ((data = read_case_file(dir, "input.txt", &len)) != NULL)
		return data;
	if ((data = read_case_file(dir, "input.eml", &len)) == NULL)
		return NULL;
	/* Some sources' files start with a blank line before the header,
	 * which their parsers skip; a mailbox never hands out such a
	 * message. */
	start = 0;
	while (start < len && (data[start] == '\n' || data[start] == '\r'))
		start++;
	m = mime_parse(data + start, len - start, false, &opts);
	if (m->text != NULL)
		text = xstrdup(m->text);
	mail_free(m);
	free(data);
	return text != NULL ? text : xstrdup("");
}

/* Whether every line of list is (want) or is not (!want) in got. */
static bool
check_lines(const char *got, const char *list, bool want, char **why)
{
	char *norm = normalize(list), *p = norm, *e;
	bool pass = true;

	while (pass && *p != '\0') {
		e = strchr(p, '\n');
		if (e != NULL)
			*e = '\0';
		if (*p != '\0' && (strstr(got, p) != NULL) != want) {
			pass = false;
			*why =
			    xasprintf("%s '%s'", want ? "lacks" : "holds", p);
		}
		p = e == NULL ? p + strlen(p) : e + 1;
	}
	free(norm);
	return pass;
}

/* Prints s as TAP diagnostics, at most max lines. */
static void
diag_text(const char *label, const char *s, int max)
{
	const char *p = s;
	int n = 0;

	printf("#   %s:\n", label);
	while (*p != '\0' && n < max) {
		const char *e = strchr(p, '\n');
		int len = e == NULL ? (int)strlen(p) : (int)(e - p);

		printf("#     | %.*s\n", len, p);
		n++;
		p = e == NULL ? p + len : e + 1;
	}
	if (*p != '\0')
		printf("#     | ...\n");
}

static bool
run_case(const char *root, const char *name, const char *tag_list, bool verbose)
{
	char *dir = xasprintf("%s/replies/%s", root, name);
	char *body = case_body(dir), *got, *got_norm, *why = NULL;
	char *exact, *contains, *excludes, *want = NULL;
	size_t len;
	bool pass = true;

	if (body == NULL) {
		printf("# %s: no input\n", name);
		free(dir);
		return false;
	}
	got = reply_text(body, strlen(body));
	got_norm = normalize(got);
	exact = read_case_file(dir, "expected.txt", &len);
	contains = read_case_file(dir, "expected.contains", &len);
	excludes = read_case_file(dir, "expected.excludes", &len);
	if (exact != NULL) {
		want = normalize(exact);
		if (strcmp(got_norm, want) != 0) {
			pass = false;
			why = xstrdup("differs");
		}
	}
	if (pass && contains != NULL)
		pass = check_lines(got_norm, contains, true, &why);
	if (pass && excludes != NULL)
		pass = check_lines(got_norm, excludes, false, &why);
	if (!pass || verbose) {
		printf(
		    "# %s [%s]: %s\n", name, tag_list, pass ? "passes" : why);
		diag_text("got", got_norm, verbose ? 1000 : 12);
		if (!pass && want != NULL)
			diag_text("want", want, verbose ? 1000 : 12);
	}
	free(want);
	free(why);
	free(exact);
	free(contains);
	free(excludes);
	free(got);
	free(got_norm);
	free(body);
	free(dir);
	return pass;
}

static char *
corpora_root(void)
{
	char *replies = corpora_find("replies");

	if (replies == NULL)
		return NULL;
	free(replies);
	return corpora_find(NULL);
}

int
main(void)
{
	const char *only = getenv("REPLY_CASE");
	char *root, *index, *p, *path;
	unsigned pass = 0, total = 0, plain_pass = 0, plain_total = 0;

	(void)tap_is_str; /* cases are compared after normalizing */
	(void)tap_is_int;
	if ((root = corpora_root()) == NULL)
		tap_skip_all("no corpus folder (../shared/corpora/replies)");
	path = xasprintf("%s/replies/INDEX.tsv", root);
	index = file_read_all(path, NULL);
	free(path);
	if (index == NULL)
		tap_skip_all("no replies/INDEX.tsv");
	mime_init();
	/* Columns: case, source, paths, licence, language, client,
	 * expectation, note, tags. The first line names them. */
	p = strchr(index, '\n');
	p = p == NULL ? index + strlen(index) : p + 1;
	while (*p != '\0') {
		char *e = strchr(p, '\n'), *cols[9];
		size_t nc = 0;
		bool ok_case;

		if (e != NULL)
			*e = '\0';
		cols[nc++] = p;
		for (char *c = p; *c != '\0' && nc < 9; c++)
			if (*c == '\t') {
				*c = '\0';
				cols[nc++] = c + 1;
			}
		p = e == NULL ? p + strlen(p) : e + 1;
		if (nc < 9 || cols[0][0] == '\0')
			continue;
		if (only != NULL && strcmp(only, cols[0]) != 0)
			continue;
		ok_case = run_case(root, cols[0], cols[8], only != NULL);
		total++;
		pass += ok_case;
		if (!has_convention_tag(cols[8])) {
			plain_total++;
			plain_pass += ok_case;
		}
		count_tags(cols[8], ok_case);
		count_tag(cols[6], strlen(cols[6]), ok_case);
	}
	for (size_t i = 0; i < n_tags; i++) {
		printf("# %-22s %3u / %3u\n", tags[i].name, tags[i].pass,
		    tags[i].total);
		free(tags[i].name);
	}
	printf("# replies: %u / %u cases pass (%.1f %%); %u / %u of those "
	       "without a convention tag\n",
	    pass, total, total ? 100.0 * pass / total : 0.0, plain_pass,
	    plain_total);
	if (only == NULL)
		ok(total >= 290, "the corpus has its cases (%u)", total);
	ok(total > 0 && pass * 100 >= total * 95,
	    "at least 95 %% of the cases pass (%u of %u)", pass, total);
	mime_shutdown();
	free(index);
	free(root);
	return tap_done();
}
