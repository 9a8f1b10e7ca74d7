/*
 * This daemon among the others on the same database (sql/008_instances.sql,
 * doc/accounts.md "Several daemons"): a row in inboxd_instances with a
 * heartbeat every SHARE_HEARTBEAT_MS, the rows (and sessions) of dead
 * instances removed, and after each heartbeat a view of who is live and
 * which accounts are held, for the accounts to share themselves by.
 */
#ifndef INBOXD_INSTANCES_H
#define INBOXD_INSTANCES_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct store;

struct instances_view {
	/* The number of this view: views are asked for in this order,
	 * and a hold that ended before a view was asked for is in it. */
	unsigned long seq;
	const char *const *names; /* live instances, this one included */
	size_t n_names;
	const int *mine; /* accounts this daemon's session holds, ascending */
	size_t n_mine;
	const int *others; /* accounts other sessions hold, ascending */
	size_t n_others;
};

/* v and what it points to are valid during the call only. Returns
 * true while the share is moving (free accounts being taken): the next
 * heartbeat then comes after a second, not SHARE_HEARTBEAT_MS. */
typedef bool instances_view_fn(const struct instances_view *v, void *arg);

/* Registers this instance as name once store (the accounts'
 * connection) is up, then heartbeats on a connection of its own to
 * conninfo; fn gets every view. */
void instances_setup(struct event_base *base, struct store *store,
    const char *conninfo, const char *name, instances_view_fn *fn, void *arg);
/* The number of the latest view asked for (0: none yet). */
unsigned long instances_seq(void);
/* Stops the heartbeat and deletes this instance's row (a clean exit);
 * calls done when it is deleted, or after a second at most. */
void instances_leave(void (*done)(void *arg), void *arg);
void instances_teardown(void);

#endif
