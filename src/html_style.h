/*
 * Whether a style attribute hides its element. Pure; see html_style.c.
 */
#ifndef INBOXD_HTML_STYLE_H
#define INBOXD_HTML_STYLE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * True when the declarations of the style attribute s[0..n) (value as
 * written, references not decoded) hide the element: display:none,
 * visibility:hidden or collapse, opacity:0, or max-height:0 or height:0
 * together with overflow:hidden. Any case, with or without !important.
 */
bool html_style_hides(const char *s, size_t n);

#endif
