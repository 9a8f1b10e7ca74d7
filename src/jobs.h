/*
 * The daemon's side of the job queue: on a timer it requeues jobs whose
 * lease expired, deletes finished jobs after the retention period,
 * announces delayed retries that came due (inboxd.maintain() in SQL),
 * and refreshes the queue gauges.
 */
#ifndef INBOXD_JOBS_H
#define INBOXD_JOBS_H

struct event_base;
struct store;

void jobs_setup(struct event_base *base, struct store *s, int retention_secs,
    int interval_secs);
void jobs_teardown(void);

#endif
