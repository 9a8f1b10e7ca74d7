/*
 * Body text as it is assembled and stored, and the charset a body is
 * decoded from. Pure functions: mime.c feeds them what GMime decoded.
 */
#ifndef INBOXD_BODY_H
#define INBOXD_BODY_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

/* Separates body units in b: one blank line between them. */
void body_start_unit(struct buf *b);

/* Cuts b back to len bytes (nothing when it is not longer). */
void body_cut(struct buf *b, size_t len);

/* True when s[0..len) is only spaces, tabs and line ends. */
bool body_is_blank(const char *s, size_t len);

/* Turns CRLF into LF in place. */
void body_crlf_to_lf(struct buf *b);

/* The text as stored (malloc'd, b emptied): no trailing whitespace, no
 * leading blank lines; NULL when nothing is left. */
char *body_finish(struct buf *b);

/* True when bytes that are no MIME message still read as text: few
 * control characters in the first 4 KiB. */
bool body_looks_like_text(const char *data, size_t len);

/*
 * The charset to convert a text body from, given its declared label
 * (or NULL) and its bytes; NULL when the bytes are to be taken as
 * UTF-8. Returns declared itself or a static name.
 */
const char *body_charset(const char *declared, const char *data, size_t len);

#endif
