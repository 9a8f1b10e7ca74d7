/*
 * Fair shares and rendezvous preferences (share.h).
 */
#include <string.h>

#include "share.h"

size_t
share_target(size_t accounts, size_t instances)
{
	if (instances == 0)
		return accounts;
	return (accounts + instances - 1) / instances;
}

/* FNV-1a over the name, its NUL and the id's bytes, then SplitMix64's
 * finaliser: FNV alone spreads names that differ in one character
 * ("mail-1", "mail-2") too little. */
uint64_t
share_score(const char *instance, int account_id)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint32_t id = (uint32_t)account_id;
	size_t len = strlen(instance);

	for (size_t i = 0; i <= len; i++) {
		h ^= (unsigned char)instance[i];
		h *= 0x100000001b3ULL;
	}
	for (int i = 0; i < 4; i++) {
		h ^= (id >> (8 * i)) & 0xff;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

size_t
share_owner(const char *const *names, size_t n, int account_id)
{
	size_t best = 0;
	uint64_t best_score = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t sc = share_score(names[i], account_id);

		if (i == 0 || sc > best_score ||
		    (sc == best_score && strcmp(names[i], names[best]) < 0)) {
			best = i;
			best_score = sc;
		}
	}
	return best;
}
