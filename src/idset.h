/*
 * A set of integer ids, kept sorted: membership in O(log n), and
 * insertion or removal by moving the tail, which for the thousands of
 * accounts one daemon holds is a few kilobytes. Pure.
 */
#ifndef INBOXD_IDSET_H
#define INBOXD_IDSET_H

#include <stdbool.h>
#include <stddef.h>

struct idset {
	int *v;
	size_t n, cap;
};

bool idset_has(const struct idset *set, int id);
/* Adding an id the set has, or removing one it lacks, does nothing. */
void idset_add(struct idset *set, int id);
void idset_del(struct idset *set, int id);
/* Empties the set and frees its storage. */
void idset_clear(struct idset *set);

#endif
