/*
 * Seeded randomness for the threading tests: a run prints its seed and
 * THREAD_SEED=N replays it. Include it in exactly one translation unit
 * per test program.
 */
#ifndef INBOXD_TESTUTIL_H
#define INBOXD_TESTUTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "thread.h"

static uint64_t rng_state;

/* xorshift64: small, fast and the same on every platform. */
static inline uint64_t
rng_next(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* A number in [0, n), or 0 when n is 0. */
static inline size_t
rng_below(size_t n)
{
	return n ? (size_t)(rng_next() % n) : 0;
}

/* The seed of this run: THREAD_SEED when set, else one from the clock.
 * Never 0, from which xorshift would not move. */
static inline uint64_t
rng_seed(void)
{
	const char *env;
	uint64_t seed;

	env = getenv("THREAD_SEED");
	seed = env != NULL ? strtoull(env, NULL, 10)
			   : (uint64_t)time(NULL) * 2654435761u + 1;
	return seed != 0 ? seed : 1;
}

/* Fisher-Yates on the messages of a batch. */
static inline void
shuffle(struct thr_msg *m, size_t n)
{
	struct thr_msg t;
	size_t i, j;

	for (i = n; i > 1; i--) {
		j = rng_below(i);
		t = m[i - 1];
		m[i - 1] = m[j];
		m[j] = t;
	}
}

#endif
