/*
 * Every file of the shared real-mail corpora through mime_parse(): no
 * crash, and every stored string clean UTF-8. One TAP line per folder;
 * the names of failing files are printed. A few files are also checked
 * against what a human reads in them. Skips when the corpora are absent
 * (a Debian source build has no ../shared).
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "corpora.h"
#include "mail.h"
#include "mime.h"
#include "text.h"
#include "tap.h"
#include "util.h"

static const struct mime_opts opts = {
    .max_message_size = 0,
    .fallback_date = 1700000000,
};

static size_t files_parsed, files_failed;

static bool
clean(const char *s)
{
	return s == NULL || text_is_clean(s, strlen(s));
}

/* The first unclean field's name, or NULL when all are clean. */
static const char *
unclean_field(const struct mail *m)
{
	char *json;
	bool good;

	if (m->message_id == NULL || !clean(m->message_id))
		return "message_id";
	if (!clean(m->in_reply_to))
		return "in_reply_to";
	for (size_t i = 0; i < m->n_references; i++)
		if (m->references[i] == NULL || !clean(m->references[i]))
			return "references";
	if (!clean(m->subject))
		return "subject";
	if (!clean(m->from_email) || !clean(m->from_name))
		return "from";
	if (!clean(m->to_email) || !clean(m->to_list) || !clean(m->cc_list))
		return "to/cc";
	if (!clean(m->text))
		return "text";
	if (!clean(m->html))
		return "html";
	if (m->content_type == NULL || !clean(m->content_type))
		return "content_type";
	if (!clean(m->parse_problem))
		return "parse_problem";
	for (size_t i = 0; i < m->n_headers; i++)
		if (m->headers[i].name == NULL || m->headers[i].value == NULL ||
		    !clean(m->headers[i].name) || !clean(m->headers[i].value))
			return "header";
	for (size_t i = 0; i < m->n_attachments; i++) {
		const struct mail_attachment *a = &m->attachments[i];

		if (!clean(a->filename) || a->content_type == NULL ||
		    !clean(a->content_type) || !clean(a->disposition) ||
		    !clean(a->content_id))
			return "attachment";
	}
	json = mail_headers_json(m);
	good = json != NULL && clean(json);
	free(json);
	if (!good)
		return "headers json";
	json = mail_attachments_json(m);
	good = json != NULL && clean(json);
	free(json);
	if (!good)
		return "attachments json";
	return NULL;
}

/* Parses one file; false (and a diagnostic) when it fails the check. */
static bool
check_file(const char *path)
{
	struct mail *m;
	const char *bad;
	size_t len;
	char *data;

	if ((data = file_read_all(path, &len)) == NULL) {
		printf("# cannot read %s\n", path);
		return false;
	}
	m = mime_parse(data, len, false, &opts);
	bad = unclean_field(m);
	if (bad != NULL)
		printf("# %s: %s is not clean UTF-8\n", path, bad);
	mail_free(m);
	free(data);
	return bad == NULL;
}

static int
by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Checks the regular files of dir, reports them on one TAP line, then
 * descends into its subfolders, in name order. */
static void
walk_dir(const char *dir, int depth)
{
	struct dirent **ents;
	struct stat st;
	size_t nfiles = 0, nbad = 0;
	int n;

	if (depth > 16 || (n = scandir(dir, &ents, NULL, by_name)) < 0)
		return;
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < n; i++) {
			const char *name = ents[i]->d_name;
			char *path;

			if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
				continue;
			path = xasprintf("%s/%s", dir, name);
			if (lstat(path, &st) == 0) {
				if (pass == 0 && S_ISREG(st.st_mode)) {
					nfiles++;
					if (!check_file(path))
						nbad++;
				} else if (pass == 1 && S_ISDIR(st.st_mode))
					walk_dir(path, depth + 1);
			}
			free(path);
		}
		if (pass == 0 && nfiles > 0)
			ok(nbad == 0, "%s: %zu files, %zu failures", dir,
			    nfiles, nbad);
	}
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	files_parsed += nfiles;
	files_failed += nbad;
}

static struct mail *
parse_path(const char *path)
{
	size_t len;
	char *data = file_read_all(path, &len);
	struct mail *m;

	if (data == NULL) {
		printf("# cannot read %s\n", path);
		return mime_parse("", 0, false, &opts);
	}
	m = mime_parse(data, len, false, &opts);
	free(data);
	return m;
}

/* Files whose decoded text a human has read and written down here. */
static void
check_samples(const char *corpora)
{
	char *dir, *path;
	struct mail *m;

	dir = xasprintf("%s/mime-torture/mikel-mail/spec/fixtures/emails/"
			"multi_charset",
	    corpora);

	path = xasprintf("%s/japanese_iso_2022.eml", dir);
	m = parse_path(path);
	is_str(m->text,
	    "\xe3\x81\x99\xe3\x81\xbf\xe3\x81\xbe\xe3\x81\x9b"
	    "\xe3\x82\x93\xe3\x80\x82",
	    "iso-2022-jp body reads sumimasen");
	is_str(m->subject,
	    "\xe3\x81\xbe\xe3\x81\xbf\xe3\x82\x80\xe3\x82\x81"
	    "\xe3\x82\x82",
	    "UTF-8 B subject reads mamimumemo");
	mail_free(m);
	free(path);

	path = xasprintf("%s/japanese_shift_jis.eml", dir);
	m = parse_path(path);
	is_str(m->text,
	    "\xe3\x81\x82\xe3\x81\x84\xe3\x81\x86\xe3\x81\x88\xe3\x81\x8a\n\n"
	    "\xe3\x81\x93\xe3\x81\xae\xe3\x83\xa1\xe3\x83\xbc\xe3\x83\xab\xe3"
	    "\x81\xaf\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88\xe7\x94\xa8\xe3\x81"
	    "\xae\xe3\x83\xa1\xe3\x83\xbc\xe3\x83\xab\xe3\x81\xa7\xe3\x81\x99"
	    "\xe3\x80\x82\n\n"
	    "\xe4\xbb\x8a\xe5\xbe\x8c\xe3\x81\xa8\xe3\x82\x82\xe3\x82\x88\xe3"
	    "\x82\x8d\xe3\x81\x97\xe3\x81\x8f\xe3\x81\x8a\xe9\xa1\x98\xe3\x81"
	    "\x84\xe7\x94\xb3\xe3\x81\x97\xe4\xb8\x8a\xe3\x81\x92\xe3\x81\xbe"
	    "\xe3\x81\x99\xef\xbc\x81",
	    "Shift_JIS body reads as written");
	mail_free(m);
	free(path);

	path = xasprintf("%s/ks_c_5601-1987.eml", dir);
	m = parse_path(path);
	is_str(m->text, "\xec\x8a\xa4\xed\x8b\xb0\xed\x95\xb4",
	    "ks_c_5601-1987 body reads in Hangul");
	mail_free(m);
	free(path);

	path = xasprintf("%s/japanese_attachment_long_name.eml", dir);
	m = parse_path(path);
	ok(m->n_attachments == 1 && m->attachments[0].filename != NULL &&
		strcmp(m->attachments[0].filename,
		    "\xe3\x81\x8b\xe3\x81\x8d\xe3\x81\x8f\xe3\x81\x91\xe3\x81"
		    "\x93"
		    "\xe3\x81\x8b\xe3\x81\x8d\xe3\x81\x8f\xe3\x81\x91\xe3\x81"
		    "\x93"
		    "\xe3\x81\x8b\xe3\x81\x8d\xe3\x81\x8f\xe3\x81\x91\xe3\x81"
		    "\x93"
		    "\xe3\x81\x8b\xe3\x81\x8d\xe3\x81\x8f\xe3\x81\x91\xe3\x81"
		    "\x93"
		    "\xe3\x81\x8b\xe3\x81\x8d\xe3\x81\x8f\xe3\x81\x91\xe3\x81"
		    "\x93"
		    ".txt") == 0,
	    "RFC 2231 continued UTF-8 filename reads kakikukeko x5");
	mail_free(m);
	free(path);

	path = xasprintf("%s/japanese.eml", dir);
	m = parse_path(path);
	is_str(m->text,
	    "\xe3\x81\x8b\xe3\x81\x8d\xe3\x81\x8f\xe3\x81\x88"
	    "\xe3\x81\x93\n\n-- \nhttp://lindsaar.net/\nRails, RSpec and Life "
	    "blog....",
	    "base64 UTF-8 body");
	is_str(m->to_email, "raasdnil@gmail.com", "encoded To name, address");
	mail_free(m);
	free(path);
	free(dir);
}

/* The corpora folder, beside the source tree. */
static char *
find_corpora(void)
{
	return corpora_find(NULL);
}

int
main(void)
{
	static const char *const sets[] = {"mime-torture", "notmuch"};
	char *corpora, *dir;

	if ((corpora = find_corpora()) == NULL)
		tap_skip_all("no shared corpora beside the source tree");
	mime_init();
	for (size_t i = 0; i < nitems(sets); i++) {
		dir = xasprintf("%s/%s", corpora, sets[i]);
		walk_dir(dir, 0);
		free(dir);
	}
	printf(
	    "# parsed %zu files, %zu failures\n", files_parsed, files_failed);
	ok(files_parsed > 0, "corpora hold files");
	is_int(files_failed, 0, "no corpus file failed");
	check_samples(corpora);
	free(corpora);
	mime_shutdown();
	return tap_done();
}
