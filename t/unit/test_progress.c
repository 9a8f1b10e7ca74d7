/*
 * The progress line of inboxctl import: counts and sizes, the share
 * and time left by bytes or by messages, unknown totals, no rate yet,
 * hours, and the end of a run.
 */
#include <stdlib.h>
#include <string.h>

#include "progress.h"
#include "tap.h"

static void
check(const struct progress *p, const char *want, const char *what)
{
	char *got = progress_format(p);

	is_str(got, want, "%s", what);
	ok(strchr(got, '\n') == NULL && strchr(got, '\r') == NULL,
	    "%s: one line, which a terminal can rewrite", what);
	free(got);
}

int
main(void)
{
	/* 512.3 MB of 2.1 GB in 15 s: 24 %, 823 messages/s, 34.2 MB/s. */
	check(&(struct progress){12345, 0, 512300000, 2100000000, 15000},
	    "12,345 messages, 512.3 MB of 2.1 GB (24 %), 823 messages/s, "
	    "34.2 MB/s, ETA 46 s",
	    "an mbox: share and time left by bytes");
	check(&(struct progress){12345, 0, 512300000, 2100000000, 300000},
	    "12,345 messages, 512.3 MB of 2.1 GB (24 %), 41 messages/s, "
	    "1.7 MB/s, ETA 15 min 29 s",
	    "minutes and seconds left");
	check(&(struct progress){1000, 50000, 4000000, 0, 60000},
	    "1,000 of 50,000 messages, 4.0 MB (2 %), 17 messages/s, "
	    "66.7 kB/s, ETA 49 min 0 s",
	    "a Maildir: share and time left by messages");
	check(&(struct progress){1000, 500000, 4000000, 0, 60000},
	    "1,000 of 500,000 messages, 4.0 MB (0 %), 17 messages/s, "
	    "66.7 kB/s, ETA 8 h 19 min",
	    "hours left");
	check(&(struct progress){1234567, 0, 800, 0, 1000},
	    "1,234,567 messages, 800 B, 1,234,567 messages/s, 800 B/s",
	    "no total known: no share, no time left");
	check(&(struct progress){0, 0, 0, 2100000000, 0},
	    "0 messages, 0 B of 2.1 GB (0 %), 0 messages/s, 0 B/s",
	    "nothing done yet, no time passed: zero rate, no time left");
	check(&(struct progress){0, 0, 0, 2100000000, 5000},
	    "0 messages, 0 B of 2.1 GB (0 %), 0 messages/s, 0 B/s",
	    "nothing done in 5 s: zero rate, no time left");
	check(&(struct progress){1, 0, 3000, 0, 4000},
	    "1 message, 3.0 kB, 0 messages/s, 750 B/s", "one message");
	check(&(struct progress){3000, 3000, 9200000, 0, 4000},
	    "3,000 of 3,000 messages, 9.2 MB (100 %), 750 messages/s, "
	    "2.3 MB/s",
	    "the end of a run: 100 %, nothing left");
	check(&(struct progress){3000, 0, 9100000, 9000000, 5000},
	    "3,000 messages, 9.1 MB of 9.0 MB (100 %), 600 messages/s, "
	    "1.8 MB/s",
	    "more than the total: never past 100 %");
	is_int(progress_percent(&(struct progress){5, 10, 10, 0, 1}), 50,
	    "percent by messages");
	is_int(progress_percent(&(struct progress){5, 10, 999, 1000, 1}), 99,
	    "percent by bytes when both totals are known, rounded down");
	is_int(progress_percent(&(struct progress){5, 0, 10, 0, 1}), -1,
	    "no percent without a total");
	is_int(progress_percent(&(struct progress){0, 0, 0, 0, 0}), -1,
	    "nothing at all: no percent");
	return tap_done();
}
