/*
 * A parsed message: what mime.c extracts from raw bytes and what the
 * rest of the pipeline (classify, thread, store) consumes. Every string
 * is valid UTF-8 without NUL bytes; every pointer is owned by the mail.
 */
#ifndef INBOXD_MAIL_H
#define INBOXD_MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mail_header {
	char *name; /* as written, e.g. "Received" */
	char *value; /* unfolded, RFC 2047 decoded, UTF-8 */
};

struct mail_attachment {
	char *filename; /* RFC 2231 / 2047 decoded, or NULL */
	char *content_type; /* "application/pdf" */
	char *disposition; /* "attachment", "inline" or NULL */
	char *content_id; /* without angle brackets, or NULL */
	size_t size; /* decoded size in bytes */
};

struct mail {
	/* Identity and threading evidence, ids without angle brackets. */
	char *message_id; /* never NULL: synthetic when absent */
	bool message_id_synthetic; /* true when derived from content */
	char *in_reply_to; /* first id of In-Reply-To, or NULL */
	char **references; /* References ids then In-Reply-To ids:
	                              deduplicated, own id removed */
	size_t n_references;

	char *subject; /* decoded, or NULL */
	char *
	    from_email; /* normalized addr-spec (domain lower-cased), or NULL */
	char *from_name; /* display name, or NULL */
	char *to_email; /* first To address, normalized, or NULL */
	char *to_list; /* all To addresses, ", "-separated, or NULL */
	char *cc_list; /* all Cc addresses, ", "-separated, or NULL */

	int64_t sent_at; /* seconds since the epoch */
	bool date_valid; /* false when sent_at came from a fallback */

	char *text; /* text/plain body (or derived from HTML), or NULL */
	char *html; /* text/html body, or NULL */

	struct mail_header *headers; /* top-level headers, in order */
	size_t n_headers;
	struct mail_attachment *attachments;
	size_t n_attachments;

	/* What a delivery status notification carries, for bounce.h: the
	 * text of the first message/delivery-status part (RFC 3464), and
	 * the header block of the first returned message (a
	 * text/rfc822-headers part, or the headers of a message/rfc822
	 * part), or NULL. */
	char *dsn_fields;
	char *returned_headers;

	char *content_type; /* top-level "type/subtype", lower case */
	bool truncated; /* larger than max_message_size */
	size_t size_bytes; /* size of the raw message as fetched */
	char *parse_problem; /* what went wrong while parsing, or NULL */
};

void mail_free(struct mail *m);

/* First header with this name (case-insensitive), or NULL. */
const char *mail_header(const struct mail *m, const char *name);

/* JSON texts for the headers and attachments JSONB columns (malloc'd):
 * headers: [{"name": "...", "value": "..."}, ...] in message order;
 * attachments: [{"filename", "content_type", "size", "disposition",
 * "content_id"}, ...]. */
char *mail_headers_json(const struct mail *m);
char *mail_attachments_json(const struct mail *m);

#endif
