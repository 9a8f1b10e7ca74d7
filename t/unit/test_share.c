/*
 * Fair shares: the target of each instance, and rendezvous preferences
 * that split 200 accounts evenly enough and move few of them when an
 * instance joins or leaves.
 */
#include <stdio.h>
#include <string.h>

#include "share.h"
#include "tap.h"

#define N_ACCOUNTS 200

static void
test_target(void)
{
	is_int(share_target(200, 3), 67, "200 accounts, 3 instances: 67 each");
	is_int(share_target(200, 4), 50, "200 accounts, 4 instances: 50 each");
	is_int(share_target(1, 2), 1, "1 account, 2 instances: 1");
	is_int(share_target(0, 3), 0, "no accounts: 0");
	is_int(share_target(7, 0), 7, "no instance known: all of them");
}

/* How many of accounts 1..N_ACCOUNTS each of names prefers. */
static void
count_owners(const char *const *names, size_t n, size_t *count)
{
	memset(count, 0, n * sizeof(*count));
	for (int id = 1; id <= N_ACCOUNTS; id++)
		count[share_owner(names, n, id)]++;
}

static void
test_spread(void)
{
	const char *const names[] = {"a", "b", "c", "host-1:4242"};
	size_t count[4], lo = N_ACCOUNTS, hi = 0;

	count_owners(names, 4, count);
	for (size_t i = 0; i < 4; i++) {
		if (count[i] < lo)
			lo = count[i];
		if (count[i] > hi)
			hi = count[i];
	}
	/* 50 each on average; the preference need not be exact (the
	 * targets are), only not lopsided. */
	ok(lo >= 30 && hi <= 70,
	    "4 instances prefer 30..70 of 200 accounts "
	    "each (%zu..%zu)",
	    lo, hi);
}

static void
test_stable(void)
{
	const char *const three[] = {"a", "b", "c"};
	const char *const four[] = {"a", "b", "c", "d"};
	size_t moved_elsewhere = 0, moved_to_d = 0;

	for (int id = 1; id <= N_ACCOUNTS; id++) {
		size_t before = share_owner(three, 3, id);
		size_t after = share_owner(four, 4, id);

		if (after == 3)
			moved_to_d++;
		else if (after != before)
			moved_elsewhere++;
	}
	is_int(moved_elsewhere, 0,
	    "a joining instance takes preferences only for itself");
	ok(moved_to_d >= 30 && moved_to_d <= 70,
	    "and about a quarter of them (%zu)", moved_to_d);
}

static void
test_deterministic(void)
{
	const char *const ab[] = {"a", "b"};
	const char *const ba[] = {"b", "a"};
	int same = 1;

	for (int id = 1; id <= N_ACCOUNTS; id++)
		if (strcmp(ab[share_owner(ab, 2, id)],
			ba[share_owner(ba, 2, id)]) != 0)
			same = 0;
	ok(same, "the preference does not depend on the order of the names");
	ok(share_score("mail-1", 7) != share_score("mail-2", 7),
	    "names one character apart score differently");
	is_int(share_owner(NULL, 0, 5), 0, "no names: index 0");
	is_str(ab[share_owner(ab, 1, 5)], "a", "one name: that one");
}

int
main(void)
{
	test_target();
	test_spread();
	test_stable();
	test_deterministic();
	return tap_done();
}
