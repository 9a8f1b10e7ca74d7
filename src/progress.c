/*
 * The progress line of inboxctl import (progress.h). Sizes are decimal
 * (1 MB = 1,000,000 bytes), as inboxctl status shows them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "progress.h"
#include "util.h"

/* A count with thousands separators: 12,345. */
static void
count_text(struct buf *o, int64_t n)
{
	char digits[24];
	int len = snprintf(digits, sizeof(digits), "%lld", (long long)n);

	for (int i = 0; i < len; i++) {
		if (i > 0 && digits[i - 1] != '-' && (len - i) % 3 == 0)
			buf_appends(o, ",");
		buf_append(o, &digits[i], 1);
	}
}

/* A size in the unit that keeps it short: 512 B, 12.3 kB, 2.1 GB. */
static void
size_text(struct buf *o, double bytes)
{
	if (bytes < 1e3)
		buf_printf(o, "%.0f B", bytes);
	else if (bytes < 1e6)
		buf_printf(o, "%.1f kB", bytes / 1e3);
	else if (bytes < 1e9)
		buf_printf(o, "%.1f MB", bytes / 1e6);
	else
		buf_printf(o, "%.1f GB", bytes / 1e9);
}

/* A duration the way one says it: 12 s, 4 min 12 s, 2 h 05 min. */
static void
duration_text(struct buf *o, int64_t s)
{
	if (s < 60)
		buf_printf(o, "%lld s", (long long)s);
	else if (s < 3600)
		buf_printf(o, "%lld min %lld s", (long long)(s / 60),
		    (long long)(s % 60));
	else
		buf_printf(o, "%lld h %02lld min", (long long)(s / 3600),
		    (long long)(s % 3600 / 60));
}

/* Done and total in the unit the share is measured in: bytes when
 * their total is known, else messages; false when neither is. */
static bool
share_of(const struct progress *p, int64_t *done, int64_t *total)
{
	if (p->bytes_total > 0) {
		*done = p->bytes;
		*total = p->bytes_total;
		return true;
	}
	if (p->messages_total > 0) {
		*done = p->messages;
		*total = p->messages_total;
		return true;
	}
	return false;
}

int
progress_percent(const struct progress *p)
{
	int64_t done, total;

	if (!share_of(p, &done, &total))
		return -1;
	return done >= total ? 100 : (int)(done * 100 / total);
}

char *
progress_format(const struct progress *p)
{
	struct buf o;
	double secs = (double)p->elapsed_ms / 1000;
	int64_t done = 0, total = 0;
	bool share = share_of(p, &done, &total);

	buf_init(&o);
	count_text(&o, p->messages);
	if (p->messages_total > 0) {
		buf_appends(&o, " of ");
		count_text(&o, p->messages_total);
	}
	buf_appends(&o,
	    p->messages == 1 && p->messages_total == 0 ? " message, "
						       : " messages, ");
	size_text(&o, (double)p->bytes);
	if (p->bytes_total > 0) {
		buf_appends(&o, " of ");
		size_text(&o, (double)p->bytes_total);
	}
	if (share)
		buf_printf(&o, " (%d %%)", progress_percent(p));
	buf_appends(&o, ", ");
	count_text(&o, secs > 0 ? llround((double)p->messages / secs) : 0);
	buf_appends(&o, " messages/s, ");
	size_text(&o, secs > 0 ? (double)p->bytes / secs : 0.0);
	buf_appends(&o, "/s");
	/* The time left at the rate so far, in the share's unit. */
	if (share && done > 0 && done < total && secs > 0) {
		buf_appends(&o, ", ETA ");
		duration_text(&o,
		    (int64_t)((double)(total - done) * secs / (double)done));
	}
	return buf_steal(&o);
}
