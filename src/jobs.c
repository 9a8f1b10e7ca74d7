/*
 * Queue maintenance: sweep -> swept -> (gauges) counted -> sleep.
 * Each sweep passes the previous one's end, so every delayed retry that
 * comes due is announced exactly once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "db.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "util.h"

static struct {
	struct store *store;
	struct event *timer;
	int retention;
	int interval;
	char *due_since; /* timestamptz text from the last sweep */
	int64_t started_ms;
	bool busy;
} J;

static void
arm(void)
{
	timer_add_ms(J.timer, (int64_t)J.interval * 1000);
}

static void
counted(bool ok, const char *error, const struct db_res *r, void *arg)
{
	J.busy = false;
	if (!ok) {
		log_warnx("jobs: cannot count the queue: %s", error);
		return;
	}
	metrics_jobs_clear();
	for (int i = 0; i < db_ntuples(r); i++) {
		metrics_jobs_set(db_value(r, i, 0), db_value(r, i, 1),
		    atol(db_value(r, i, 2)));
		if (db_value(r, i, 3) != NULL)
			metrics_job_oldest(
			    db_value(r, i, 0), atol(db_value(r, i, 3)));
	}
}

static void
swept(bool ok, const char *error, const struct db_res *r, void *arg)
{
	metrics_db_rtt((double)(mono_msec() - J.started_ms) / 1000.0);
	metrics_db_up(ok);
	if (!ok) {
		J.busy = false;
		metrics_error("database");
		log_warnx("jobs: maintenance failed: %s", error);
		return;
	}
	if (db_ntuples(r) == 1) {
		const char *requeued = db_value(r, 0, 0);
		const char *dead = db_value(r, 0, 1);
		const char *deleted = db_value(r, 0, 2);
		const char *until = db_value(r, 0, 4);

		if (atoi(requeued) || atoi(dead) || atoi(deleted))
			log_info(
			    "jobs: %s leases expired and requeued, %s dead, "
			    "%s finished jobs deleted",
			    requeued, dead, deleted);
		if (until != NULL) {
			free(J.due_since);
			J.due_since = xstrdup(until);
		}
	}
	store_exec(J.store,
	    "SELECT kind, state, count(*), "
	    "  extract(epoch FROM now() - min(run_at) "
	    "    FILTER (WHERE state = 'queued' AND run_at <= now()))::bigint "
	    "FROM jobs GROUP BY kind, state ORDER BY kind, state",
	    0, NULL, counted, NULL);
}

static void
sweep(evutil_socket_t fd, short what, void *arg)
{
	char secs[32];
	const char *params[2] = {secs, J.due_since};

	arm();
	if (J.busy)
		return;
	J.busy = true;
	snprintf(secs, sizeof(secs), "%d seconds", J.retention);
	J.started_ms = mono_msec();
	store_exec(J.store,
	    "SELECT requeued, dead, deleted, due_kinds, "
	    "due_until FROM inboxd.maintain($1::interval, "
	    "coalesce($2::timestamptz, now()))",
	    2, params, swept, NULL);
}

void
jobs_setup(struct event_base *base, struct store *s, int retention_secs,
    int interval_secs)
{
	J.store = s;
	J.retention = retention_secs;
	J.interval = interval_secs > 0 ? interval_secs : 30;
	J.timer = evtimer_new(base, sweep, NULL);
	timer_add_ms(J.timer, 0);
}

void
jobs_teardown(void)
{
	if (J.timer)
		event_free(J.timer);
	free(J.due_since);
	memset(&J, 0, sizeof(J));
}
