/*
 * The insides of reply_text(), shared by reply_text.c (the pass over
 * the lines), reply_text_lines.c (lines and byte helpers),
 * reply_text_quote.c (what introduces quoted history) and
 * reply_text_sig.c (signatures). Nothing outside them includes it.
 */
#ifndef INBOXD_REPLY_TEXT_INT_H
#define INBOXD_REPLY_TEXT_INT_H

#include <stdbool.h>
#include <stddef.h>

/* How many lines an attribution may be wrapped over, and how long its
 * joined text may be. */
#define HEADER_LINES 4
#define HEADER_MAX 400

struct line {
	const char *s; /* without line end and trailing blanks */
	size_t len;
	const char *body; /* after the quote markers */
	size_t blen;
	unsigned depth; /* number of ">" markers */
	bool drop;
};

struct separator {
	const char *text; /* lower case, without the decoration */
	bool forward;
	bool colon; /* a separator by its words alone, without dashes */
};

enum hkey {
	HK_NONE,
	HK_FROM,
	HK_DATE,
	HK_TO,
	HK_CC,
	HK_SUBJECT,
	HK_REPLY_TO,
};

/* reply_text_lines.c */
int reply_lower(int c);
bool reply_is_space(int c);
bool reply_is_digit(int c);
bool reply_in_set(int c, const char *set);
bool reply_is_alpha(int c);
bool reply_same_ci(const char *a, const char *b, size_t n);
bool reply_starts_ci(const char *s, size_t n, const char *word);
bool reply_ends_ci(const char *s, size_t n, const char *word);
bool reply_contains_ci(const char *s, size_t n, const char *word);
bool reply_has_byte(const char *s, size_t n, char c);
size_t reply_count_digits(const char *s, size_t n);
void reply_trim(const char **s, size_t *n);
size_t reply_strip_rules(const char **s, size_t *n);
bool reply_is_blank(const struct line *l);
size_t reply_count_words(const char *s, size_t n);
struct line *reply_split_lines(const char *text, size_t len, size_t *n_out);

/* reply_text_quote.c */
bool reply_is_attribution(const char *t, size_t n);
size_t reply_inline_attribution(const struct line *l);
bool reply_attribution_at(
    const struct line *v, size_t n, size_t i, size_t *last);
bool reply_is_bare_attribution(const struct line *l);
const struct separator *reply_separator_of(const struct line *l);
enum hkey reply_header_key(const struct line *l, const char **value);
bool reply_is_rule(const struct line *l);
bool reply_header_block_at(const struct line *v, size_t n, size_t i);

/* reply_text_sig.c */
bool reply_is_device_line(const struct line *v, size_t n, size_t i);
bool reply_is_signature_line(const struct line *v, size_t i);
bool reply_is_dash_name(const struct line *v, size_t n, size_t i);
bool reply_is_fence(const struct line *l);

#endif
