/*
 * What the writer of a message wrote, separately: its plain text body
 * without the quoted history and without the signature. A pure
 * function of the text, so every rule is unit-tested on its own
 * (t/unit/test_reply_text.c) and scored on other projects' cases
 * (t/unit/test_corpora_reply.c).
 *
 * Quoted history is an attribution line ("On <date>, <name> wrote:" and
 * its equivalents in other clients and languages, also wrapped over a
 * few lines) with the ">" block under it, a ">" block at the end, an
 * Outlook-style header block (From:/Sent:/To:/Subject: and their
 * translations), an "Original Message" separator, and everything below
 * the first of these that is not a ">" block. A ">" block between two
 * paragraphs of new text, with no attribution, is kept: it is what an
 * inline answer answers. A signature starts at a "--" line, a line of
 * underscores, or a "Sent from my ..." style line.
 *
 * A forward keeps the text written above the forwarded message; a
 * message that is nothing but a forward (or nothing but an attribution
 * and the text under it) gives that text.
 *
 * Linear in the input; the output is valid UTF-8 without NUL bytes.
 */
#ifndef INBOXD_REPLY_TEXT_H
#define INBOXD_REPLY_TEXT_H

#include <stddef.h>

/* The new text of body[0..len), malloc'd, or NULL when none is left. */
char *reply_text(const char *body, size_t len);

#endif
