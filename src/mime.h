/*
 * The only GMime user: raw RFC 5322 bytes in, struct mail out.
 */
#ifndef INBOXD_MIME_H
#define INBOXD_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "mail.h"

struct mime_opts {
	size_t max_message_size; /* bodies beyond this are truncated */
	int64_t fallback_date; /* used when Date is missing or bad
	                            (INTERNALDATE, else ingestion time) */
	size_t full_size; /* the size before the fetcher cut it, or 0 */
};

void mime_init(void);
void mime_shutdown(void);

/*
 * Parses len bytes at data. Never fails: a message that does not parse
 * yields a mail holding what could be read, with parse_problem set.
 * The caller keeps ownership of data. When truncated is true the data
 * was cut at max_message_size by the fetcher and the mail is flagged.
 */
struct mail *mime_parse(
    const char *data, size_t len, bool truncated, const struct mime_opts *opts);

#endif
