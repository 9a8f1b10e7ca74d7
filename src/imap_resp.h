/*
 * Parsers for the IMAP responses inboxd reads through libcurl: EXAMINE,
 * LIST, UID FETCH of metadata, CAPABILITY. Pure functions over text,
 * unit-tested and fuzzed.
 */
#ifndef INBOXD_IMAP_RESP_H
#define INBOXD_IMAP_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct imap_status {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t exists;
	uint64_t highestmodseq; /* 0 when not offered */
	bool exists_seen; /* a well-formed "* n EXISTS" line was there */
	bool garbled; /* an EXISTS or UIDNEXT line could not be read */
};

struct imap_msginfo {
	uint32_t uid;
	uint32_t size;
	int64_t internal_date; /* seconds; 0 when absent */
	bool seen;
};

/* Fills st from the untagged lines of an EXAMINE/SELECT answer;
 * returns 0 when UIDVALIDITY was found, -1 otherwise. A caller that
 * relies on EXISTS and UIDNEXT checks exists_seen and garbled too. */
int imap_parse_status(const char *text, size_t len, struct imap_status *st);

/* Parses "* n FETCH (UID .. FLAGS (..) RFC822.SIZE .. INTERNALDATE "..")"
 * lines; returns the number of entries (malloc'd array in *out). */
size_t imap_parse_fetch(
    const char *text, size_t len, struct imap_msginfo **out);

/*
 * UIDs of "* SEARCH n n n" lines (malloc'd array in *out, count in *n).
 * Returns -1, with *out NULL and *n 0, when no SEARCH line was there or
 * one held anything but UIDs of 1 .. 2^32-1: an answer read in part
 * must not pass for the whole.
 */
int imap_parse_search(const char *text, size_t len, uint32_t **out, size_t *n);

/*
 * The UIDs of a sequence set ("41,43:116"), those not above max, in
 * the order written (malloc'd array in *out, count in *n). Returns -1,
 * with *out NULL and *n 0, when the set is not one, or names more than
 * limit UIDs.
 */
int imap_parse_uid_set(const char *s, size_t len, uint32_t max, size_t limit,
    uint32_t **out, size_t *n);

/* Orders UIDs (uint32_t) for qsort and bsearch. */
int imap_uid_cmp(const void *a, const void *b);

/* The name of the mailbox LIST (or XLIST) marks \Sent, or NULL
 * (malloc'd). Without SPECIAL-USE answers, a usual name ("Sent", "Sent
 * Items", "Gesendet", "Envoy&AOk-s", ..., also below INBOX as in
 * "INBOX.Sent") is accepted. A line with a control or 8-bit byte (a
 * bare CR, a NUL, a name in raw UTF-8) or an empty name is skipped. */
char *imap_parse_list_sent(const char *text, size_t len);

/* True when a CAPABILITY answer lists cap (case-insensitive). */
bool imap_has_capability(const char *text, size_t len, const char *cap);

/* "22-Nov-2026 13:25:44 +0000" to seconds since the epoch; -1 if bad. */
int64_t imap_parse_date(const char *s);

/* An IMAP quoted string for name (malloc'd), e.g. "Sent Items". */
char *imap_quote(const char *name);

#endif
