/*
 * Encoded words (RFC 2047) that GMime would decode wrongly, rewritten
 * in the raw header block before it parses them. Pure; no GMime.
 */
#ifndef INBOXD_HEADER_WORDS_H
#define INBOXD_HEADER_WORDS_H

#include <stddef.h>

/*
 * A copy of the header block block[0..len) with its NUL bytes (raw,
 * as C0 80, or inside encoded words) dropped and its UTF-16 encoded
 * words rewritten as UTF-8 ones; NULL when nothing needed that. The
 * copy is malloc'd, its length in *out_len.
 */
char *header_words_repair(const char *block, size_t len, size_t *out_len);

#endif
