/*
 * The set of held accounts: membership after additions and removals in
 * any order, against a plain array of flags, and ids at the ends of
 * the range of int.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "idset.h"
#include "tap.h"

#define RANGE 1000

static bool
sorted(const struct idset *set)
{
	for (size_t i = 1; i < set->n; i++)
		if (set->v[i - 1] >= set->v[i])
			return false;
	return true;
}

/* Random additions and removals, checked against flags after each. */
static void
test_against_flags(void)
{
	struct idset set = {0};
	bool flag[RANGE] = {0};
	size_t want = 0, wrong = 0;

	srand(7);
	for (int step = 0; step < 20000; step++) {
		int id = rand() % RANGE;

		if (rand() % 3 == 0) {
			idset_del(&set, id);
			want -= flag[id];
			flag[id] = false;
		} else {
			idset_add(&set, id);
			want += !flag[id];
			flag[id] = true;
		}
		if (idset_has(&set, id) != flag[id] || set.n != want)
			wrong++;
	}
	is_int(wrong, 0, "20,000 random steps: membership and size as flags");
	for (int id = 0; id < RANGE; id++)
		if (idset_has(&set, id) != flag[id])
			wrong++;
	is_int(wrong, 0, "every id of the range agrees at the end");
	ok(sorted(&set), "the ids are kept sorted, each once");
	idset_clear(&set);
	is_int(set.n, 0, "cleared: empty");
	ok(!idset_has(&set, 3), "cleared: has nothing");
}

/* The ids in order, comma-separated. */
static const char *
show(const struct idset *set)
{
	static char out[256];
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < set->n && len < sizeof(out); i++)
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%d",
		    i > 0 ? "," : "", set->v[i]);
	return out;
}

static void
test_edges(void)
{
	struct idset set = {0};

	ok(!idset_has(&set, 0), "an empty set has nothing");
	idset_del(&set, 5);
	is_int(set.n, 0, "removing from an empty set does nothing");
	idset_add(&set, INT_MAX);
	idset_add(&set, INT_MIN);
	idset_add(&set, 0);
	idset_add(&set, INT_MAX);
	is_int(set.n, 3, "an id added twice is there once");
	is_str(show(&set), "-2147483648,0,2147483647", "in order");
	ok(idset_has(&set, INT_MIN) && idset_has(&set, INT_MAX) &&
		idset_has(&set, 0),
	    "the ends of int are held");
	ok(!idset_has(&set, 1) && !idset_has(&set, INT_MAX - 1),
	    "their neighbours are not");
	idset_del(&set, INT_MIN);
	ok(!idset_has(&set, INT_MIN) && idset_has(&set, 0),
	    "the first removed, the rest kept");
	idset_del(&set, INT_MAX);
	ok(!idset_has(&set, INT_MAX) && set.n == 1, "the last removed");
	idset_clear(&set);
}

int
main(void)
{
	test_against_flags();
	test_edges();
	return tap_done();
}
