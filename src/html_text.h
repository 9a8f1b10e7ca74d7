/*
 * HTML to the plain text a reader would take from it. Pure; see the
 * top of html_text.c for what is kept and doc/html.md for why it is
 * written here and not taken from an HTML library.
 */
#ifndef INBOXD_HTML_TEXT_H
#define INBOXD_HTML_TEXT_H

#include <stddef.h>

/*
 * Readable plain text from the HTML html[0..len), which must be UTF-8:
 * hidden content dropped, links as "text <url>", lists, quotes,
 * paragraphs and table rows kept as lines, entities decoded. The
 * result is malloc'd, valid UTF-8 and trimmed; work and output are
 * linear in len whatever the markup.
 */
char *html_text(const char *html, size_t len);

#endif
