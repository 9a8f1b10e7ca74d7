/*
 * Automated mail detection on real mail that no one wrote for inboxd:
 * the labelled corpus in ../shared/corpora/automated (LABELS.tsv: file,
 * label human|automated, kind, ...). Prints the confusion table per kind
 * as TAP diagnostics, with the name of every file classified wrongly,
 * and holds the line: recall on automated mail at least 0.98, and not
 * one human message marked automated. INBOXD_CLASSIFY_CORPUS names
 * another folder of the same layout. Skips when there is none (a Debian
 * source build has no ../shared); the files are read where they are and
 * never copied into the project.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "classify.h"
#include "corpora.h"
#include "mail.h"
#include "mime.h"
#include "tap.h"
#include "util.h"

#define MIN_RECALL 0.98

static const struct mime_opts opts = {
    .max_message_size = 0,
    .fallback_date = 1700000000,
};

/* One row of the table: a kind and what became of its messages. */
struct kind_row {
	char *kind;
	bool human;
	size_t n, automated;
};

static struct kind_row rows[64];
static size_t n_rows;

static struct kind_row *
row_for(const char *kind, bool human)
{
	size_t i;

	for (i = 0; i < n_rows; i++)
		if (strcmp(rows[i].kind, kind) == 0 && rows[i].human == human)
			return &rows[i];
	if (n_rows == nitems(rows))
		return &rows[n_rows - 1];
	rows[n_rows].kind = xstrdup(kind);
	rows[n_rows].human = human;
	return &rows[n_rows++];
}

static bool
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The corpus folder: the environment's, else the one beside the source
 * tree. */
static char *
find_corpus(void)
{
	const char *env = getenv("INBOXD_CLASSIFY_CORPUS");

	if (env != NULL && *env != '\0')
		return is_dir(env) ? xstrdup(env) : NULL;
	return corpora_find("automated");
}

/* The reason for one file, or NULL; *readable false when it is missing. */
static char *
classify_file(const char *path, bool *readable)
{
	size_t len;
	char *data = file_read_all(path, &len);
	struct mail *m;
	const char *why;
	char *reason;

	*readable = data != NULL;
	if (data == NULL)
		return NULL;
	m = mime_parse(data, len, false, &opts);
	free(data);
	why = classify_automated(m);
	reason = why != NULL ? xstrdup(why) : NULL;
	mail_free(m);
	return reason;
}

/* Splits a TSV line in place; returns the number of fields found. */
static size_t
split_tabs(char *line, char **fields, size_t max)
{
	size_t n = 0;

	while (n < max) {
		fields[n++] = line;
		if ((line = strchr(line, '\t')) == NULL)
			break;
		*line++ = '\0';
	}
	return n;
}

static void
run_labels(const char *dir, char *labels)
{
	char *line, *save = NULL, *f[4], *path, *reason;
	struct kind_row *r;
	bool human, readable;

	for (line = strtok_r(labels, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		line[strcspn(line, "\r")] = '\0';
		if (split_tabs(line, f, nitems(f)) < 3 ||
		    strcmp(f[0], "file") == 0)
			continue;
		human = strcmp(f[1], "human") == 0;
		if (!human && strcmp(f[1], "automated") != 0)
			continue;
		path = xasprintf("%s/%s", dir, f[0]);
		reason = classify_file(path, &readable);
		free(path);
		if (!readable) {
			printf("# cannot read %s\n", f[0]);
			continue;
		}
		r = row_for(f[2], human);
		r->n++;
		if (reason != NULL)
			r->automated++;
		if (human && reason != NULL)
			printf("# FALSE POSITIVE %s (%s): %s\n", f[0], f[2],
			    reason);
		else if (!human && reason == NULL)
			printf("# missed %s (%s)\n", f[0], f[2]);
		free(reason);
	}
}

static void
print_table(size_t *auto_n, size_t *auto_hit, size_t *human_n, size_t *human_fp)
{
	size_t i;

	*auto_n = *auto_hit = *human_n = *human_fp = 0;
	printf("# %-22s %-9s %5s %9s %6s\n", "kind", "label", "n", "automated",
	    "human");
	for (i = 0; i < n_rows; i++) {
		printf("# %-22s %-9s %5zu %9zu %6zu\n", rows[i].kind,
		    rows[i].human ? "human" : "automated", rows[i].n,
		    rows[i].automated, rows[i].n - rows[i].automated);
		if (rows[i].human) {
			*human_n += rows[i].n;
			*human_fp += rows[i].automated;
		} else {
			*auto_n += rows[i].n;
			*auto_hit += rows[i].automated;
		}
	}
	printf("# %-22s %-9s %5zu %9zu %6zu\n", "all", "automated", *auto_n,
	    *auto_hit, *auto_n - *auto_hit);
	printf("# %-22s %-9s %5zu %9zu %6zu\n", "all", "human", *human_n,
	    *human_fp, *human_n - *human_fp);
}

int
main(void)
{
	char *dir, *path, *labels;
	size_t len, auto_n, auto_hit, human_n, human_fp, i;

	if ((dir = find_corpus()) == NULL)
		tap_skip_all("no labelled automated-mail corpus");
	path = xasprintf("%s/LABELS.tsv", dir);
	labels = file_read_all(path, &len);
	free(path);
	if (labels == NULL)
		tap_skip_all("no LABELS.tsv in %s", dir);
	mime_init();
	run_labels(dir, labels);
	free(labels);
	print_table(&auto_n, &auto_hit, &human_n, &human_fp);
	ok(auto_n > 0 && human_n > 0, "corpus holds both labels");
	ok(auto_n > 0 && (double)auto_hit >= MIN_RECALL * (double)auto_n,
	    "automated recall %zu/%zu at least %.2f", auto_hit, auto_n,
	    MIN_RECALL);
	is_int(
	    human_fp, 0, "no human message marked automated (of %zu)", human_n);
	(void)tap_is_str; /* the table is compared as counts */
	for (i = 0; i < n_rows; i++)
		free(rows[i].kind);
	mime_shutdown();
	free(dir);
	return tap_done();
}
