/*
 * Whether an element's style attribute hides it: the CSS declarations
 * that leave its content unseen, as mail uses them for "preheader" text
 * (display:none, visibility:hidden, opacity:0, a zero height with
 * overflow:hidden). Pure; used by html_text.c.
 */
#include <stdbool.h>
#include <string.h>

#include "html_style.h"

static bool
is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* True when s[0..n) is the lower-case word, ignoring ASCII case. */
static bool
is_word(const char *s, size_t n, const char *word)
{
	size_t i;

	for (i = 0; i < n && word[i] != '\0'; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		if (c != word[i])
			return false;
	}
	return i == n && word[i] == '\0';
}

static void
trim(const char **s, size_t *n)
{
	while (*n > 0 && is_blank(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && is_blank((*s)[*n - 1]))
		(*n)--;
}

/* Whether the CSS value s[0..n) is a zero: "0", "0px", ".0", "0%". */
static bool
css_is_zero(const char *s, size_t n)
{
	size_t i = 0;
	bool digit = false;

	for (; i < n && (s[i] == '0' || s[i] == '.'); i++)
		digit = digit || s[i] == '0';
	for (; i < n && (is_letter(s[i]) || s[i] == '%'); i++)
		;
	return digit && i == n;
}

struct css_hide {
	bool hidden; /* display:none, visibility:hidden, opacity:0 */
	bool no_height; /* max-height:0 or height:0 */
	bool clipped; /* overflow:hidden */
};

/* Reads one declaration "prop: value [!important]" into *c. */
static void
css_declaration(const char *s, size_t n, struct css_hide *c)
{
	const char *colon = memchr(s, ':', n), *v;
	size_t pn, vn;

	if (colon == NULL)
		return;
	pn = (size_t)(colon - s);
	v = colon + 1;
	vn = n - pn - 1;
	trim(&s, &pn);
	trim(&v, &vn);
	if (vn >= 10 && is_word(v + vn - 10, 10, "!important"))
		vn -= 10;
	trim(&v, &vn);
	if ((is_word(s, pn, "display") && is_word(v, vn, "none")) ||
	    (is_word(s, pn, "visibility") &&
		(is_word(v, vn, "hidden") || is_word(v, vn, "collapse"))) ||
	    (is_word(s, pn, "opacity") && css_is_zero(v, vn)))
		c->hidden = true;
	else if ((is_word(s, pn, "max-height") || is_word(s, pn, "height")) &&
	    css_is_zero(v, vn))
		c->no_height = true;
	else if (is_word(s, pn, "overflow") && is_word(v, vn, "hidden"))
		c->clipped = true;
}

bool
html_style_hides(const char *s, size_t n)
{
	struct css_hide c = {false, false, false};
	const char *semi;

	while (n > 0) {
		size_t d = (semi = memchr(s, ';', n)) ? (size_t)(semi - s) : n;

		css_declaration(s, d, &c);
		s += d < n ? d + 1 : d;
		n -= d < n ? d + 1 : d;
	}
	return c.hidden || (c.no_height && c.clipped);
}
