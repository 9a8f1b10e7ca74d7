/*
 * How far a long run has got, as one line for a person: messages,
 * bytes, share done, rates and time left. Pure: the caller measures,
 * this only words it.
 */
#ifndef INBOXD_PROGRESS_H
#define INBOXD_PROGRESS_H

#include <stdint.h>

struct progress {
	int64_t messages; /* done */
	int64_t messages_total; /* 0: unknown */
	int64_t bytes; /* done */
	int64_t bytes_total; /* 0: unknown */
	int64_t elapsed_ms; /* since the run started */
};

/* The share done, 0 to 100, by bytes when their total is known, else
 * by messages; -1 when neither total is known. */
int progress_percent(const struct progress *p);

/*
 * "12,345 messages, 512.3 MB of 2.1 GB (24 %), 820 messages/s,
 * 1.6 MB/s, ETA 4 min 12 s" (malloc'd). The share and the time left
 * are by bytes when their total is known, else by messages, and left
 * out when neither total is known; the time left also when nothing
 * has been done yet or nothing is left.
 */
char *progress_format(const struct progress *p);

#endif
