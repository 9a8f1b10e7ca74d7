#include <stdlib.h>
#include <string.h>

#include "idset.h"
#include "util.h"

/* The index of id, or where it would go. */
static size_t
find(const struct idset *set, int id)
{
	size_t lo = 0, hi = set->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (set->v[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool
idset_has(const struct idset *set, int id)
{
	size_t i = find(set, id);

	return i < set->n && set->v[i] == id;
}

void
idset_add(struct idset *set, int id)
{
	size_t i = find(set, id);

	if (i < set->n && set->v[i] == id)
		return;
	if (set->n == set->cap) {
		set->cap = set->cap ? set->cap * 2 : 16;
		set->v = xreallocarray(set->v, set->cap, sizeof(*set->v));
	}
	memmove(&set->v[i + 1], &set->v[i], (set->n - i) * sizeof(*set->v));
	set->v[i] = id;
	set->n++;
}

void
idset_del(struct idset *set, int id)
{
	size_t i = find(set, id);

	if (i == set->n || set->v[i] != id)
		return;
	memmove(&set->v[i], &set->v[i + 1], (set->n - i - 1) * sizeof(*set->v));
	set->n--;
}

void
idset_clear(struct idset *set)
{
	free(set->v);
	memset(set, 0, sizeof(*set));
}
