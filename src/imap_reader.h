/*
 * What an IMAP server sends, read as it streams in: bytes are cut into
 * whole responses (a line, and the literals it announces with "{n}"),
 * each handed over the moment its last byte is in. Memory is bounded:
 * a line longer than max_line is an error, and a literal keeps at most
 * max_literal bytes while the rest streams past, counted. Pure: no
 * sockets, no event loop; unit-tested and fuzzed.
 */
#ifndef INBOXD_IMAP_READER_H
#define INBOXD_IMAP_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct imap_literal {
	struct buf
	    data; /* at most max_literal bytes; the callee may steal it */
	uint64_t size; /* as announced by the server */
	bool truncated; /* data holds only the first max_literal bytes */
};

enum imap_kind {
	IMAP_UNTAGGED, /* "* ..." */
	IMAP_CONTINUE, /* "+ ..." */
	IMAP_TAGGED, /* "tag OK|NO|BAD ..." */
};

/*
 * One response. line holds its text without the final CRLF; each
 * literal is announced in it by its "{n}" and follows in lits, in
 * order. For IMAP_TAGGED, tag and text point into line: the tag, and
 * what follows it ("OK done").
 */
struct imap_response {
	enum imap_kind kind;
	char *line;
	size_t len;
	struct imap_literal *lits;
	size_t n_lits;
	const char *tag;
	size_t tag_len;
	const char *text;
};

/* Returns false to stop reading: the rest of the data is left unread
 * and imap_reader_feed returns at once. */
typedef bool imap_response_fn(struct imap_response *r, void *arg);

struct imap_reader;

struct imap_reader *imap_reader_new(
    size_t max_line, size_t max_literal, imap_response_fn *fn, void *arg);
void imap_reader_free(struct imap_reader *r);

/*
 * Reads len bytes. Returns 0, or -1 when the server broke the protocol
 * (a line too long, a literal size that cannot be); imap_reader_error
 * then says how, and the reader is spent.
 */
int imap_reader_feed(struct imap_reader *r, const char *data, size_t len);
const char *imap_reader_error(const struct imap_reader *r);

/* Bytes buffered of a response not yet complete. */
size_t imap_reader_pending(const struct imap_reader *r);

/* A FETCH response, as far as inboxd asks for one. */
struct imap_fetch {
	uint32_t seq;
	uint32_t uid; /* 0 when absent */
	bool has_flags;
	char *flags; /* "\Seen \Flagged $Label" (malloc'd), when has_flags */
	uint64_t size; /* RFC822.SIZE, when has_size */
	bool has_size;
	int64_t internal_date; /* seconds; 0 when absent or unreadable */
	uint64_t modseq; /* MODSEQ, 0 when absent */
	struct imap_literal *body; /* BODY[] as a literal, or NULL */
	bool body_nil; /* BODY[] was NIL */
	struct imap_literal *quoted_body; /* owns a body sent quoted */
	/* Gmail's X-GM-EXT-1 items, when the server sent them. */
	bool has_gm_msgid;
	uint64_t gm_msgid; /* X-GM-MSGID */
	bool has_gm_thrid;
	uint64_t gm_thrid; /* X-GM-THRID */
	char **gm_labels; /* X-GM-LABELS unquoted, NULL-terminated
			   * (malloc'd); NULL when absent */
};

/*
 * Reads "* n FETCH (...)" of r into f. Returns 1 when it is a FETCH
 * response that was understood, 0 when it is not a FETCH response, -1
 * when it is one but malformed. f->flags and f->gm_labels must be freed
 * with imap_fetch_clear, also after -1.
 */
int imap_fetch_parse(struct imap_response *r, struct imap_fetch *f);
void imap_fetch_clear(struct imap_fetch *f);

/*
 * "* n EXISTS", "* n EXPUNGE", "* n RECENT": the number and which
 * word, or 0 when r is none of them.
 */
enum imap_count { IMAP_COUNT_NONE, IMAP_EXISTS, IMAP_EXPUNGE, IMAP_RECENT };
enum imap_count imap_count_parse(const struct imap_response *r, uint32_t *n);

/* The status of a tagged response: 'O'k, 'N'o, 'B'ad, or 0 if neither. */
char imap_tagged_status(const struct imap_response *r);

/* True when r is "* BYE ...". */
bool imap_is_bye(const struct imap_response *r);

#endif
