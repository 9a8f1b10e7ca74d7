/*
 * Gmail over IMAP (X-GM-EXT-1): what its FETCH items say, in the form
 * the Gmail API driver stores. Gmail's message and thread ids are
 * 64-bit numbers; the API writes them in lower-case hex, IMAP in
 * decimal: both drivers store the hex form, so that one message has one
 * id whichever way it came. System labels get the API's names
 * ("\Sent" is "SENT"); others keep their IMAP names. Pure.
 */
#ifndef INBOXD_IMAP_GMAIL_H
#define INBOXD_IMAP_GMAIL_H

#include <stdbool.h>

struct imap_fetch;
struct ingest_meta;

/* The FETCH items asked for when the server offers X-GM-EXT-1. */
#define IMAP_GMAIL_ITEMS "X-GM-MSGID X-GM-THRID X-GM-LABELS"

/* Storage for what imap_gmail_meta points meta at. */
struct imap_gmail_ids {
	char msgid[17];
	char thrid[17];
	const char **labels; /* malloc'd; free with imap_gmail_ids_clear */
};

/*
 * Fills meta's Gmail fields from f, with storage in ids, which must
 * outlive meta's use; a message labelled \Sent is outbound. Fields f
 * lacks stay as they were.
 */
void imap_gmail_meta(const struct imap_fetch *f, struct ingest_meta *meta,
    struct imap_gmail_ids *ids);
void imap_gmail_ids_clear(struct imap_gmail_ids *ids);

#endif
