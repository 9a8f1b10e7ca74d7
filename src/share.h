/*
 * The fair share of accounts among the daemons on one database (see
 * doc/accounts.md, "Several daemons"). Pure: how many accounts each
 * live instance should hold, and which of them it prefers.
 *
 * Each instance prefers the accounts whose rendezvous score (a hash of
 * the instance's name and the account's id) is highest for it among the
 * live instances. Every instance computes the same preferences from the
 * same list of names, an instance that joins or leaves changes only the
 * preferences of about 1/K of the accounts, and nobody has to agree on
 * anything but the list of live instances.
 */
#ifndef INBOXD_SHARE_H
#define INBOXD_SHARE_H

#include <stddef.h>
#include <stdint.h>

/* Every instance writes its heartbeat this often. */
#define SHARE_HEARTBEAT_MS 3000
/* An instance whose heartbeat is older than this is dead: its row is
 * removed and its database session ended, which frees its accounts.
 * Four heartbeats: a daemon busy parsing is not taken for dead, and a
 * dead one's accounts are free within 12 + 3 s. */
#define SHARE_LEASE_S 12

/* The most accounts one of n instances should hold: ceil(accounts / n)
 * (all of them when n is 0). */
size_t share_target(size_t accounts, size_t instances);

/* The rendezvous score of an account for an instance. */
uint64_t share_score(const char *instance, int account_id);

/* The index (in names) of the instance that prefers the account, the
 * highest score winning, ties to the smaller name; 0 when n is 0. */
size_t share_owner(const char *const *names, size_t n, int account_id);

#endif
