/*
 * Text clean-up that does not need GMime: UTF-8 repair, hex and base64
 * decoding. Pure functions, unit-tested on their own (HTML to text is
 * html_text.h).
 */
#ifndef INBOXD_TEXT_H
#define INBOXD_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* A copy of s[0..len) that is valid UTF-8 without NUL bytes: invalid
 * sequences become U+FFFD, NULs are dropped. */
char *text_sanitize(const char *s, size_t len);

/* True when s[0..len) is valid UTF-8 and holds no NUL byte. */
bool text_is_clean(const char *s, size_t len);

/* Appends the code point cp as UTF-8; U+0000, surrogates and values
 * beyond U+10FFFF become U+FFFD. */
void text_append_codepoint(struct buf *b, uint32_t cp);

/* Appends what text_sanitize would return to b, without the copy. */
void text_sanitize_append(struct buf *b, const char *s, size_t len);

/* A clean malloc'd copy of the C string s, or NULL for NULL. */
char *text_clean_dup(const char *s);

/* Like text_clean_dup(), lower-cased (for MIME types and dispositions). */
char *text_clean_lower_dup(const char *s);

/* Makes an owned string clean, reusing it when it already is; frees
 * it otherwise. NULL stays NULL. */
char *text_clean_owned(char *s);

/* Like text_clean_dup(), for a field that is one line (a subject, a
 * name, an address, an id): a run of white space holding CR, LF or TAB
 * becomes one space and other C0 control characters are dropped. */
char *text_clean_line_dup(const char *s);

/* text_clean_line_dup() for an owned string, which it frees. */
char *text_clean_line_owned(char *s);

/* Length of the well-formed UTF-8 sequence at s (at most left bytes),
 * or 0 when there is none; then *skip is the length of the ill-formed
 * part that one U+FFFD replaces. */
size_t text_utf8_seq_len(const unsigned char *s, size_t left, size_t *skip);

/* How a byte string fares as UTF-8; used to guess a missing or wrong
 * charset. NUL bytes count as ASCII. */
enum text_utf8_kind {
	TEXT_UTF8_ASCII, /* 7-bit only */
	TEXT_UTF8_VALID, /* valid, with multi-byte sequences */
	TEXT_UTF8_MIXED, /* valid multi-byte sequences and invalid bytes */
	TEXT_UTF8_INVALID, /* invalid bytes, no valid multi-byte sequence */
};
enum text_utf8_kind text_utf8_kind(const char *s, size_t len);

/*
 * Decodes len hex digits of either case into out, which needs len / 2
 * bytes. Returns the decoded length, or -1 when len is odd or a byte
 * is not a hex digit.
 */
long text_hex_decode(const char *in, size_t len, void *out);

/* How text_base64_decode() reads its input. */
#define TEXT_B64_URL 0x01 /* '-' and '_', not '+' and '/' (RFC 4648 5) */
#define TEXT_B64_LAX 0x02 /* skip what is not a digit, as MIME does */

/*
 * Decodes base64 into out, which needs len * 3 / 4 bytes and may be in
 * (decoding in place), or NULL to check only. Unless TEXT_B64_LAX, the
 * input is digits of the one alphabet, then at most two '=' that fill
 * the last group of four; the last group may not be one digit, the
 * bits of its last digit below its last byte are zero, and nothing
 * else (no white space) is allowed. Returns the decoded length,
 * or -1 when the input is not such base64.
 */
long text_base64_decode(const char *in, size_t len, void *out, int flags);

#endif
