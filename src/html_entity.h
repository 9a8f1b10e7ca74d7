/*
 * HTML character references (&amp; &#39; &#x27; &copy) decoded as
 * browsers do. Pure; used by html_text.c.
 */
#ifndef INBOXD_HTML_ENTITY_H
#define INBOXD_HTML_ENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Decodes the character reference at s[0] == '&' (s[0..len) is what is
 * left of the input). Returns the bytes it takes and sets *cp, or 0
 * when it is no reference (the '&' is then ordinary text).
 *
 * Named references need their ';', except the legacy ones that HTML
 * still reads without it (&amp &lt &nbsp &copy ...); in an attribute
 * value (in_attr) such a name followed by a letter, digit or '=' is
 * left alone, as in a URL's query. Numeric references that name no
 * character (0, surrogates, beyond U+10FFFF) give U+FFFD; 0x80-0x9F
 * are read as windows-1252.
 */
size_t html_entity_decode(
    const char *s, size_t len, bool in_attr, uint32_t *cp);

#endif
