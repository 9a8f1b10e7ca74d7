/*
 * html_text() over every HTML body of the shared real-mail corpora,
 * checked for what must hold of any rendering: valid UTF-8, no markup
 * of known tags left, no text of display:none elements (cutting one out
 * of the page changes nothing), and the target of every plain link
 * present. One TAP line per check; the files that fail are printed.
 * Skips when the corpora are absent (a Debian source build has no
 * ../shared).
 */
#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "corpora.h"
#include "html_text.h"
#include "mail.h"
#include "mime.h"
#include "tap.h"
#include "text.h"
#include "util.h"

static const struct mime_opts opts = {
    .max_message_size = 0,
    .fallback_date = 1700000000,
};

struct tally {
	size_t bodies, bytes, links, hidden;
	size_t hidden_elements;
	size_t unclean, markup, shown_hidden, removal_changed, lost_links;
};

static struct tally tally;

/* Tags whose markup in the text would mean the converter missed it. */
static const char *const known_tags[] = {"a", "b", "body", "br", "div", "font",
    "head", "html", "img", "li", "meta", "ol", "p", "span", "style", "script",
    "table", "td", "th", "title", "tr", "ul"};

static bool
is_name_end(char c)
{
	return c == ' ' || c == '>' || c == '/' || c == '\t' || c == '\n';
}

/* The first "<tag" or "</tag" of a known tag in text, or NULL. */
static const char *
markup_left(const char *text)
{
	for (const char *p = strchr(text, '<'); p; p = strchr(p + 1, '<')) {
		const char *q = p[1] == '/' ? p + 2 : p + 1;

		for (size_t i = 0; i < nitems(known_tags); i++) {
			size_t n = strlen(known_tags[i]);

			if (strncasecmp(q, known_tags[i], n) == 0 &&
			    is_name_end(q[n]))
				return p;
		}
	}
	return NULL;
}

static void
trim_run(const char **s, size_t *n)
{
	while (*n > 0 && isspace((unsigned char)**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && isspace((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

static size_t
count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Whether s[0..n) holds plain words: no markup, entity or line end,
 * long enough to be told apart. */
static bool
plain_words(const char *s, size_t n)
{
	if (n < 8)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '&' || s[i] == '<' || s[i] == '>' || s[i] == '\n' ||
		    s[i] == '\r' || s[i] == '\t' ||
		    (s[i] == ' ' && s[i + 1] == ' '))
			return false;
	return true;
}

/* Where the tag at lt, at '<', names a style that says display:none
 * with or without spaces; NULL when it does not. */
static const char *
hiding_style(const char *lt, const char *gt)
{
	for (const char *p = strcasestr(lt, "display"); p != NULL && p < gt;
	     p = strcasestr(p + 1, "display")) {
		const char *v = p + 7;

		while (*v == ' ')
			v++;
		if (*v++ != ':')
			continue;
		while (*v == ' ')
			v++;
		if (strncasecmp(v, "none", 4) == 0)
			return p;
	}
	return NULL;
}

/* Checks one run of text from a hidden element: when it is plain words
 * that the HTML holds once, the text must not show it. */
static void
check_hidden_run(const char *html, const char *text, const char *run, size_t n,
    const char *path)
{
	char *words;

	trim_run(&run, &n);
	if (!plain_words(run, n))
		return;
	words = xstrndup(run, n);
	if (count_of(html, words) == 1) {
		tally.hidden++;
		if (strstr(text, words) != NULL) {
			printf("# %s: hidden \"%s\" shown\n", path, words);
			tally.shown_hidden++;
		}
	}
	free(words);
}

/* Cutting the hidden element html[from..to) out of the page must leave
 * the text as it was. */
static void
check_removal(const char *html, const char *text, const char *from,
    const char *to, const char *path)
{
	char *cut = xasprintf("%.*s%s", (int)(from - html), html, to);
	char *again = html_text(cut, strlen(cut));

	tally.hidden_elements++;
	if (strcmp(again, text) != 0) {
		printf("# %s: cutting the hidden %.30s changes the text\n",
		    path, from);
		tally.removal_changed++;
	}
	free(again);
	free(cut);
}

/*
 * The text inside each element whose style attribute says display:none,
 * up to its end tag (same-name elements inside counted).
 */
static void
check_hidden(const char *html, const char *text, const char *path)
{
	const char *lt = html;

	while ((lt = strchr(lt, '<')) != NULL) {
		const char *gt = strchr(lt, '>'), *p;
		char name[16];
		size_t n = 0;
		int depth = 1;

		if (gt == NULL)
			return;
		for (p = lt + 1;
		     n < sizeof(name) - 1 && isalnum((unsigned char)*p); p++)
			name[n++] = (char)tolower((unsigned char)*p);
		name[n] = '\0';
		lt++;
		if (n == 0 || strcmp(name, "style") == 0 ||
		    strcmp(name, "img") == 0 || strcmp(name, "br") == 0 ||
		    strcmp(name, "meta") == 0 || hiding_style(lt, gt) == NULL)
			continue;
		for (p = gt + 1; depth > 0 && *p != '\0';) {
			const char *next = strchr(p, '<');

			if (next == NULL)
				break;
			check_hidden_run(
			    html, text, p, (size_t)(next - p), path);
			if (next[1] == '/' &&
			    strncasecmp(next + 2, name, n) == 0 &&
			    !isalnum((unsigned char)next[2 + n]))
				depth--;
			else if (strncasecmp(next + 1, name, n) == 0 &&
			    !isalnum((unsigned char)next[1 + n]))
				depth++;
			p = strchr(next, '>');
			p = p ? p + 1 : next + 1;
		}
		if (depth == 0)
			check_removal(html, text, lt - 1, p, path);
	}
}

/* Whether the link text is the address itself, with or without its
 * scheme and final '/': then no target is added. */
static bool
text_is_address(const char *text, size_t tn, const char *href, size_t hn)
{
	static const char *const schemes[] = {"http://", "https://"};

	for (size_t i = 0; i < nitems(schemes); i++) {
		size_t k = strlen(schemes[i]);

		if (tn >= k && strncasecmp(text, schemes[i], k) == 0) {
			text += k;
			tn -= k;
		}
		if (hn >= k && strncasecmp(href, schemes[i], k) == 0) {
			href += k;
			hn -= k;
		}
	}
	if (tn > 0 && text[tn - 1] == '/')
		tn--;
	if (hn > 0 && href[hn - 1] == '/')
		hn--;
	return tn == hn && strncasecmp(text, href, tn) == 0;
}

/*
 * Every <a href="http..."> whose content is plain words other than the
 * address: "<href>" must be in the text. Targets with references or
 * quotes in them are left out, as is a page that may hide anything
 * (the link may be inside).
 */
static void
check_links(const char *html, const char *text, const char *path)
{
	const char *p = html;

	if (hiding_style(html, html + strlen(html)) != NULL)
		return;
	while ((p = strcasestr(p, "<a ")) != NULL) {
		const char *h = strcasestr(p, "href=\""), *q, *gt, *end, *t;
		size_t hn, tn;
		char *want;

		p += 3;
		gt = strchr(p, '>');
		if (h == NULL || gt == NULL || h > gt ||
		    strncasecmp(h + 6, "http", 4) != 0)
			continue;
		q = strchr(h + 6, '"');
		end = strchr(gt + 1, '<');
		if (q == NULL || q > gt || end == NULL ||
		    strncasecmp(end, "</a>", 4) != 0)
			continue;
		h += 6;
		hn = (size_t)(q - h);
		t = gt + 1;
		tn = (size_t)(end - t);
		trim_run(&h, &hn);
		trim_run(&t, &tn);
		if (!plain_words(t, tn) || memchr(h, '&', hn) != NULL ||
		    text_is_address(t, tn, h, hn))
			continue;
		want = xasprintf("<%.*s>", (int)hn, h);
		tally.links++;
		if (strstr(text, want) == NULL) {
			printf("# %s: link target %s missing\n", path, want);
			tally.lost_links++;
		}
		free(want);
	}
}

static void
check_html(const char *html, const char *path)
{
	char *text = html_text(html, strlen(html));
	const char *left;

	tally.bodies++;
	tally.bytes += strlen(html);
	if (!text_is_clean(text, strlen(text))) {
		printf("# %s: text is not clean UTF-8\n", path);
		tally.unclean++;
	}
	/* Markup the HTML wrote as text (&lt;p&gt;) may come back. */
	if ((left = markup_left(text)) != NULL &&
	    strstr(html, "&lt;") == NULL) {
		printf("# %s: markup left: %.20s\n", path, left);
		tally.markup++;
	}
	check_hidden(html, text, path);
	check_links(html, text, path);
	free(text);
}

static void
check_file(const char *path)
{
	struct mail *m;
	size_t len;
	char *data;

	if ((data = file_read_all(path, &len)) == NULL) {
		printf("# cannot read %s\n", path);
		return;
	}
	m = mime_parse(data, len, false, &opts);
	if (m->html != NULL && *m->html != '\0')
		check_html(m->html, path);
	mail_free(m);
	free(data);
}

static int
by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void
walk_dir(const char *dir, int depth)
{
	struct dirent **ents;
	struct stat st;
	int n;

	if (depth > 16 || (n = scandir(dir, &ents, NULL, by_name)) < 0)
		return;
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		char *path;

		if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
			path = xasprintf("%s/%s", dir, name);
			if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
				check_file(path);
			else if (S_ISDIR(st.st_mode))
				walk_dir(path, depth + 1);
			free(path);
		}
		free(ents[i]);
	}
	free(ents);
}

/* One body whose text a human has read and written down here: a quoted
 * Gmail reply, its quote marked and its address link kept. */
static void
check_sample(const char *corpora)
{
	char *path = xasprintf("%s/replies/talon-gmail/input.eml", corpora);
	size_t len;
	char *data = file_read_all(path, &len), *text;
	struct mail *m;

	m = mime_parse(data ? data : "", data ? len : 0, false, &opts);
	text = html_text(m->html ? m->html : "", m->html ? strlen(m->html) : 0);
	is_str(text,
	    "Hello\n\n"
	    "On Mon, Apr 2, 2012 at 6:26 PM, Megan One <xxx@gmail.com> wrote:"
	    "\n\n> Hi",
	    "talon-gmail: the reply and its marked quote");
	free(text);
	mail_free(m);
	free(data);
	free(path);
}

int
main(void)
{
	char *corpora = corpora_find(NULL);

	if (corpora == NULL)
		tap_skip_all("no ../shared/corpora beside the source tree");
	mime_init();
	walk_dir(corpora, 0);
	check_sample(corpora);
	free(corpora);
	mime_shutdown();
	ok(tally.bodies > 0, "%zu HTML bodies, %zu bytes", tally.bodies,
	    tally.bytes);
	is_int((long long)tally.unclean, 0, "every text is clean UTF-8");
	is_int((long long)tally.markup, 0, "no markup of known tags left");
	is_int((long long)tally.shown_hidden, 0,
	    "no text of display:none elements (%zu checked)", tally.hidden);
	is_int((long long)tally.removal_changed, 0,
	    "cutting a display:none element out changes no text (%zu cut)",
	    tally.hidden_elements);
	is_int((long long)tally.lost_links, 0,
	    "every plain link's target present (%zu checked)", tally.links);
	ok(tally.links > 0, "the corpora hold links to check");
	return tap_done();
}
