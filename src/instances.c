/*
 * The instance heartbeat (instances.h). Every SHARE_HEARTBEAT_MS:
 *   beat -> beaten (dead instances logged) -> view -> viewed (fn)
 * on a database connection of its own, so that a daemon busy storing
 * mail (a group of batches can be one long transaction) is never taken
 * for dead. The row names the accounts' connection, whose session
 * holds the accounts: while that connection is down there is no
 * heartbeat (its holds are gone anyway). A heartbeat that has not
 * answered yet (the database is away) is not sent again: the next one
 * goes once it answers. After a dead instance's session was
 * ended, or while the accounts say the share is moving, the next
 * heartbeat comes after a second, so that free accounts are seen and
 * taken soon.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "instances.h"
#include "log.h"
#include "share.h"
#include "store.h"
#include "util.h"

#define SOON_MS 1000
#define LEAVE_WAIT_MS 1000

static struct {
	struct event_base *base;
	struct store *store; /* the accounts' connection */
	struct store *hb; /* the heartbeat's */
	int pid; /* the accounts' session, at the last heartbeat */
	char *name;
	instances_view_fn *fn;
	void *arg;
	struct event *timer;
	bool in_flight;
	bool leaving;
	bool twin_told; /* another daemon uses this name: said once */
	unsigned long seq;
	unsigned next_ms;
	void (*left)(void *arg);
	void *left_arg;
	struct event *leave_timer;
} I;

static void beat(evutil_socket_t fd, short what, void *arg);

static int
cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
viewed(bool ok, const char *error, const struct db_res *res, void *arg)
{
	struct instances_view v;
	unsigned long seq = (unsigned long)(uintptr_t)arg;
	int n = ok ? db_ntuples(res) : 0;
	const char **names = xcalloc((size_t)n + 1, sizeof(char *));
	int *mine = xcalloc((size_t)n + 1, sizeof(int));
	int *others = xcalloc((size_t)n + 1, sizeof(int));

	memset(&v, 0, sizeof(v));
	I.in_flight = false;
	if (!ok)
		log_warnx("database: cannot read the instances: %s", error);
	for (int i = 0; i < n; i++) {
		const char *kind = db_value(res, i, 0);
		const char *value = db_value(res, i, 1);

		if (kind == NULL || value == NULL)
			continue;
		if (kind[0] == 'i')
			names[v.n_names++] = value;
		else if (kind[0] == 'm')
			mine[v.n_mine++] = atoi(value);
		else
			others[v.n_others++] = atoi(value);
	}
	qsort(names, v.n_names, sizeof(*names), cmp_str);
	qsort(mine, v.n_mine, sizeof(*mine), cmp_int);
	qsort(others, v.n_others, sizeof(*others), cmp_int);
	v.seq = seq;
	v.names = names;
	v.mine = mine;
	v.others = others;
	if (ok && !I.leaving && I.fn(&v, I.arg))
		I.next_ms = SOON_MS;
	free(names);
	free(mine);
	free(others);
	if (!I.leaving)
		timer_add_ms(I.timer, I.next_ms);
}

static void
beaten(bool ok, const char *error, const struct db_res *res, void *arg)
{
	I.next_ms = SHARE_HEARTBEAT_MS;
	if (!ok) {
		log_warnx("database: instance heartbeat failed: %s", error);
		I.in_flight = false;
		if (!I.leaving)
			timer_add_ms(I.timer, I.next_ms);
		return;
	}
	for (int i = 0; i < db_ntuples(res); i++) {
		const char *how = db_value(res, i, 1);

		if (strcmp(how, "twin") == 0) {
			if (!I.twin_told)
				log_warnx("another running daemon uses the "
					  "instance name %s: give each its own "
					  "instance_name, or they cannot share "
					  "the accounts fairly",
				    I.name);
			I.twin_told = true;
			continue;
		}

		log_info("instance %s is dead (no heartbeat for %d s, or no "
			 "database session): %s",
		    db_value(res, i, 0), SHARE_LEASE_S,
		    strcmp(how, "ended") == 0 ? "its session was ended, "
						"its accounts are free"
			: strcmp(how, "gone") == 0
			? "its accounts are free"
			: "its session belongs to another role and cannot be "
			  "ended here; its accounts stay held until it ends");
		if (strcmp(how, "ended") == 0)
			I.next_ms = SOON_MS;
	}
	if (I.leaving) {
		I.in_flight = false;
		return;
	}
	I.seq++;
	store_instance_view(
	    I.hb, I.pid, SHARE_LEASE_S, viewed, (void *)(uintptr_t)I.seq);
}

static void
beat(evutil_socket_t fd, short what, void *arg)
{
	if (I.in_flight || I.leaving)
		return;
	if ((I.pid = store_backend_pid(I.store)) == 0) {
		/* Soon after the start, sooner. */
		timer_add_ms(I.timer, I.seq == 0 ? 100 : SOON_MS);
		return;
	}
	I.in_flight = true;
	store_instance_beat(I.hb, I.name, I.pid, SHARE_LEASE_S, beaten, NULL);
}

void
instances_setup(struct event_base *base, struct store *store,
    const char *conninfo, const char *name, instances_view_fn *fn, void *arg)
{
	I.base = base;
	I.store = store;
	I.hb = store_new(base, conninfo);
	store_start(I.hb, NULL, NULL);
	I.name = xstrdup(name);
	I.fn = fn;
	I.arg = arg;
	I.next_ms = SHARE_HEARTBEAT_MS;
	I.timer = evtimer_new(base, beat, NULL);
	beat(-1, 0, NULL);
}

unsigned long
instances_seq(void)
{
	return I.seq;
}

static void
left(void)
{
	void (*done)(void *) = I.left;

	I.left = NULL;
	if (I.leave_timer != NULL)
		evtimer_del(I.leave_timer);
	if (done != NULL)
		done(I.left_arg);
}

static void
row_deleted(bool ok, const char *error, const struct db_res *res, void *arg)
{
	if (!ok)
		log_warnx(
		    "database: cannot delete this instance's row: %s", error);
	left();
}

static void
leave_waited(evutil_socket_t fd, short what, void *arg)
{
	left();
}

void
instances_leave(void (*done)(void *arg), void *arg)
{
	if (I.store == NULL || I.leaving) {
		done(arg);
		return;
	}
	I.leaving = true;
	evtimer_del(I.timer);
	if (!store_connected(I.hb)) {
		done(arg);
		return;
	}
	I.left = done;
	I.left_arg = arg;
	I.leave_timer = evtimer_new(I.base, leave_waited, NULL);
	timer_add_ms(I.leave_timer, LEAVE_WAIT_MS);
	store_instance_leave(I.hb, I.name, row_deleted, NULL);
}

void
instances_teardown(void)
{
	if (I.timer != NULL)
		event_free(I.timer);
	if (I.leave_timer != NULL)
		event_free(I.leave_timer);
	store_free(I.hb);
	free(I.name);
	memset(&I, 0, sizeof(I));
}
