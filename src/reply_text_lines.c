/*
 * The new text of a message: the body cut into lines with their quote
 * markers read, and the byte and word helpers every rule uses (ASCII
 * case folding, spaces including the Unicode ones mail clients write,
 * trimming). Kept apart from the rules so that they read as rules.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "reply_text_int.h"
#include "util.h"

/* Bytes and words ------------------------------------------------------- */

int
reply_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

bool
reply_is_space(int c)
{
	return c == ' ' || c == '\t';
}

bool
reply_is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* Whether c is one of set; never for NUL, which strchr() would find. */
bool
reply_in_set(int c, const char *set)
{
	return c != '\0' && strchr(set, c) != NULL;
}

bool
reply_is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Case-insensitive (ASCII letters) comparison of n bytes. */
bool
reply_same_ci(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (reply_lower((unsigned char)a[i]) !=
		    reply_lower((unsigned char)b[i]))
			return false;
	return true;
}

bool
reply_starts_ci(const char *s, size_t n, const char *word)
{
	size_t wl = strlen(word);

	return n >= wl && reply_same_ci(s, word, wl);
}

bool
reply_ends_ci(const char *s, size_t n, const char *word)
{
	size_t wl = strlen(word);

	return n >= wl && reply_same_ci(s + n - wl, word, wl);
}

bool
reply_contains_ci(const char *s, size_t n, const char *word)
{
	size_t wl = strlen(word);

	for (size_t i = 0; i + wl <= n; i++)
		if (reply_same_ci(s + i, word, wl))
			return true;
	return false;
}

bool
reply_has_byte(const char *s, size_t n, char c)
{
	return n > 0 && memchr(s, c, n) != NULL;
}

size_t
reply_count_digits(const char *s, size_t n)
{
	size_t d = 0;

	for (size_t i = 0; i < n; i++)
		d += reply_is_digit((unsigned char)s[i]);
	return d;
}

/* The length of the (no-break, narrow no-break) space at s, or 0. */
static size_t
space_at(const char *s, size_t n)
{
	if (n >= 1 && reply_is_space((unsigned char)s[0]))
		return 1;
	if (n >= 2 && memcmp(s, "\xc2\xa0", 2) == 0)
		return 2;
	if (n >= 3 && memcmp(s, "\xe2\x80\xaf", 3) == 0)
		return 3;
	return 0;
}

static size_t
space_before(const char *s, size_t n)
{
	if (n >= 1 && reply_is_space((unsigned char)s[n - 1]))
		return 1;
	if (n >= 2 && memcmp(s + n - 2, "\xc2\xa0", 2) == 0)
		return 2;
	if (n >= 3 && memcmp(s + n - 3, "\xe2\x80\xaf", 3) == 0)
		return 3;
	return 0;
}

void
reply_trim(const char **s, size_t *n)
{
	size_t k;

	while ((k = space_at(*s, *n)) > 0) {
		*s += k;
		*n -= k;
	}
	while ((k = space_before(*s, *n)) > 0)
		*n -= k;
}

/* Strips the decoration around a separator or an attribution: dashes,
 * underscores, equal signs, asterisks and blanks; returns how many
 * dashes and equal signs it took. */
size_t
reply_strip_rules(const char **s, size_t *n)
{
	size_t taken = 0;

	while (*n > 0 && reply_in_set(**s, " \t-_=*")) {
		taken += **s == '-' || **s == '=';
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && reply_in_set((*s)[*n - 1], " \t-_=*")) {
		taken += (*s)[*n - 1] == '-' || (*s)[*n - 1] == '=';
		(*n)--;
	}
	return taken;
}

bool
reply_is_blank(const struct line *l)
{
	return l->len == 0;
}

size_t
reply_count_words(const char *s, size_t n)
{
	size_t w = 0;
	bool in = false;

	for (size_t i = 0; i < n; i++) {
		bool sp = reply_is_space((unsigned char)s[i]);

		if (!sp && !in)
			w++;
		in = !sp;
	}
	return w;
}

/* Lines ----------------------------------------------------------------- */

/* The quote markers of l: ">" possibly separated by blanks, after at
 * most three leading blanks. */
static void
read_markers(struct line *l)
{
	size_t i = 0, lead = 0;

	while (lead < l->len && lead < 3 && l->s[lead] == ' ')
		lead++;
	l->depth = 0;
	i = lead;
	for (;;) {
		size_t j = i;

		while (j < l->len && j - i < 2 && l->s[j] == ' ')
			j++;
		if (j < l->len && l->s[j] == '>') {
			l->depth++;
			i = j + 1;
			continue;
		}
		break;
	}
	if (l->depth == 0)
		i = 0;
	else if (i < l->len && l->s[i] == ' ')
		i++;
	l->body = l->s + i;
	l->blen = l->len - i;
}

struct line *
reply_split_lines(const char *text, size_t len, size_t *n_out)
{
	size_t n = 1, k = 0, start = 0;
	struct line *v;

	for (size_t i = 0; i < len; i++)
		n += text[i] == '\n';
	v = xcalloc(n, sizeof(*v));
	for (size_t i = 0; i <= len; i++) {
		size_t e;

		if (i < len && text[i] != '\n')
			continue;
		e = i;
		while (e > start &&
		    (text[e - 1] == '\r' ||
			reply_is_space((unsigned char)text[e - 1])))
			e--;
		v[k].s = text + start;
		v[k].len = e - start;
		read_markers(&v[k]);
		k++;
		start = i + 1;
	}
	*n_out = k;
	return v;
}
