/*
 * When Gmail push renews a watch (gmail_push_renew_in): a week's watch
 * a day before it ends, a short one after half its life, and never in
 * a tight loop.
 */
#include <stdint.h>
#include <stdio.h>

#include "gmail_push.h"
#include "tap.h"

#define SEC 1000LL
#define DAY (86400 * SEC)

int
main(void)
{
	char ms[32];

	is_int((int)(gmail_push_renew_in(7 * DAY) / SEC), 6 * 86400,
	    "a week's watch: renewed with a day left");
	snprintf(
	    ms, sizeof(ms), "%lld", (long long)gmail_push_renew_in(2 * DAY));
	is_str(ms, "86400000", "two days: renewed with a day left");
	ok(gmail_push_renew_in(2 * DAY - 2) == DAY - 1,
	    "under two days: after half its life");
	is_int((int)gmail_push_renew_in(4 * SEC), 2000, "4 s: after 2 s");
	ok(gmail_push_renew_in(1500) == SEC, "1.5 s: after a second, not less");
	ok(gmail_push_renew_in(0) == SEC, "expired: after a second");
	ok(gmail_push_renew_in(-DAY) == SEC, "long expired: after a second");
	return tap_done();
}
