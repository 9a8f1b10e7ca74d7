/*
 * Reading a delivery status notification: which message of ours it is
 * about, who could not be reached and why. Pure: it reads a parsed
 * mail (mail.h) and does no I/O.
 *
 * A standard report (RFC 3464 in an RFC 6522 multipart/report) says it
 * all in its message/delivery-status part: per recipient an Action
 * (failed, delayed, delivered, ...), a Status (RFC 3463) and often a
 * Diagnostic-Code; the returned message, whole (message/rfc822) or its
 * headers (text/rfc822-headers), gives the original Message-ID. Older
 * and simpler mailers (qmail, Exim, many others) write it as text, with
 * the original quoted below; their recipients and reasons are read
 * from the layout those texts share.
 */
#ifndef INBOXD_BOUNCE_H
#define INBOXD_BOUNCE_H

#include <stddef.h>

struct mail;

enum bounce_kind {
	BOUNCE_NONE = 0, /* not a notification of failure or delay */
	BOUNCE_FAILED, /* delivery failed for good */
	BOUNCE_DELAYED, /* still being tried: a warning only */
};

struct bounce {
	enum bounce_kind kind;
	char **recipients; /* the failed (for a delay: delayed)
	                              addresses, domain in lower case */
	size_t n_recipients;
	char *status; /* RFC 3463 code of the first, "5.1.1", or NULL */
	char *diagnostic; /* why, on one line, or NULL */
	char *original_id; /* Message-ID of the returned message,
	                              normalized (msgid.h), or NULL */
};

/* Fills b (kind BOUNCE_NONE when m is no such notification); free its
 * strings with bounce_clear(). */
void bounce_read(const struct mail *m, struct bounce *b);
void bounce_clear(struct bounce *b);

/* The longest diagnostic kept, in bytes. */
#define BOUNCE_DIAGNOSTIC_MAX 400

#endif
